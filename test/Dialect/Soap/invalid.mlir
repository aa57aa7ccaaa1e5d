// RUN: soap-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the soap dialect. Compute ops check their shapes
// while inferring their result types: on an op that has its result types
// written out (the verifier's path), a failed inference also reports "failed
// to infer returned types"; on an op whose syntax omits the result type, the
// parser infers it and reports only the cause.

//===----------------------------------------------------------------------===//
// Shared operand checks
//===----------------------------------------------------------------------===//

func.func @dynamic_shape(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'soap.relu' op input must be a statically shaped tensor}}
  %0 = soap.relu %x : tensor<?x4xf32>
  return
}

// -----

func.func @unranked(%x: tensor<*xf32>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %0 = soap.softmax %x : tensor<*xf32>
  return
}

// -----

func.func @wrong_rank(%x: tensor<3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op input must have rank 4, got 3}}
  %0 = soap.conv2d %x, %w : (tensor<3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @element_type_mismatch(%x: tensor<2x4xf32>, %w: tensor<4x3xf16>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.linear' op weight element type 'f16' differs from the input's 'f32'}}
  %0 = soap.linear %x, %w : (tensor<2x4xf32>, tensor<4x3xf16>) -> tensor<2x3xf32>
  return
}

// -----

func.func @inferred_type_mismatch(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.linear' op inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<2x5xf32>'}}
  %0 = soap.linear %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @missing_required_attribute(%x: tensor<4xf32>) {
  // The parser infers the type before the verifier sees the op.
  // expected-error @+1 {{'soap.dropout' op requires attribute 'ratio'}}
  %0 = soap.dropout %x : tensor<4xf32>
  return
}

// -----

func.func @axis_out_of_range(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'soap.softmax' op axis 2 is out of range for rank 2}}
  %0 = soap.softmax %x {axis = 2 : i64} : tensor<4x8xf32>
  return
}

// -----

func.func @softmax_rank0(%x: tensor<f32>) {
  // expected-error @+1 {{'soap.softmax' op axis -1 is out of range for rank 0}}
  %0 = soap.softmax %x : tensor<f32>
  return
}

// -----

func.func @integer_operand(%x: tensor<4xi32>) {
  // expected-error @+1 {{'soap.relu' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type or 64-bit float values, but got 'tensor<4xi32>'}}
  %0 = soap.relu %x : tensor<4xi32>
  return
}

//===----------------------------------------------------------------------===//
// soap.weight
//===----------------------------------------------------------------------===//

// -----

func.func @weight_empty_name() {
  // expected-error @+1 {{'soap.weight' op needs a non-empty name}}
  %0 = soap.weight "" zeros : tensor<4xf32>
  return
}

// -----

func.func @weight_value_type() {
  // expected-error @+1 {{'soap.weight' op value type 'tensor<2xf32>' does not match the result type 'tensor<4xf32>'}}
  %0 = soap.weight "w" value {value = dense<1.0> : tensor<2xf32>} : tensor<4xf32>
  return
}

// -----

func.func @weight_value_needs_value_init() {
  // expected-error @+1 {{'soap.weight' op has a value, so its initializer must be 'value'}}
  %0 = soap.weight "w" zeros {value = dense<1.0> : tensor<4xf32>} : tensor<4xf32>
  return
}

// -----

func.func @weight_value_init_needs_value() {
  // expected-error @+1 {{'soap.weight' op initializer 'value' needs a 'value' attribute}}
  %0 = soap.weight "w" value : tensor<4xf32>
  return
}

// -----

func.func @weight_scale_initializer() {
  // expected-error @+1 {{'soap.weight' op 'scale' applies only to the normal, uniform and constant initializers}}
  %0 = soap.weight "w" zeros {scale = 1.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @weight_scale_positive() {
  // expected-error @+1 {{'soap.weight' op 'scale' must be positive, got 0}}
  %0 = soap.weight "w" normal {scale = 0.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @weight_name_twice() {
  %0 = soap.weight "w" zeros : tensor<4xf32>
  // expected-error @+1 {{'soap.weight' op name 'w' is already used by the weight at}}
  %1 = soap.weight "w" ones : tensor<4xf32>
  return
}

// -----

func.func @weight_dynamic() {
  // expected-error @+1 {{'soap.weight' op result #0 must be statically shaped tensor}}
  %0 = soap.weight "w" zeros : tensor<?xf32>
  return
}

// -----

func.func @weight_unknown_init() {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'init' [zeros, ones, constant, normal, uniform, xavier_uniform, kaiming_normal, value]}}
  %0 = soap.weight "w" 3 : tensor<4xf32>
  return
}

//===----------------------------------------------------------------------===//
// soap.linear, soap.matmul
//===----------------------------------------------------------------------===//

// -----

func.func @linear_rank0(%x: tensor<f32>, %w: tensor<4x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.linear' op input must have rank >= 1}}
  %0 = soap.linear %x, %w : (tensor<f32>, tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_weight_rows(%x: tensor<2x4xf32>, %w: tensor<5x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.linear' op weight rows (5) do not match the input's last dimension (4)}}
  %0 = soap.linear %x, %w : (tensor<2x4xf32>, tensor<5x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.linear' op bias size (4) does not match the weight's columns (3)}}
  %0 = soap.linear %x, %w, %b : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @linear_too_many_operands(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'soap.linear' op operand group starting at #2 requires 0 or 1 element, but found 2}}
  %0 = "soap.linear"(%x, %w, %b, %b) : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<4xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.matmul' op operands must have rank >= 2, got 1 and 2}}
  %0 = soap.matmul %a, %b : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<2x4xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.matmul' op contraction sizes differ: lhs has K = 4, rhs has 5}}
  %0 = soap.matmul %a, %b : (tensor<2x4xf32>, tensor<5x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4xf32>, %b: tensor<5x4x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.matmul' op batch dimensions 2 and 5 do not broadcast}}
  %0 = soap.matmul %a, %b : (tensor<2x3x4xf32>, tensor<5x4x6xf32>) -> tensor<2x3x6xf32>
  return
}

//===----------------------------------------------------------------------===//
// soap.conv2d, soap.pool2d
//===----------------------------------------------------------------------===//

// -----

func.func @conv_strides(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op strides must be two positive values, got [0, 1]}}
  %0 = soap.conv2d %x, %w {strides = array<i64: 0, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_dilations(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op dilations must be two positive values, got [2]}}
  %0 = soap.conv2d %x, %w {dilations = array<i64: 2>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_padding(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op padding must be four non-negative values [top, left, bottom, right], got [-1, 0, 0, 0]}}
  %0 = soap.conv2d %x, %w {padding = array<i64: -1, 0, 0, 0>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_empty_kernel(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x0x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op kernel must be two positive sizes, got [0, 3]}}
  %0 = soap.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x3x0x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_groups_positive(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op groups must be positive, got 0}}
  %0 = soap.conv2d %x, %w {groups = 0 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_groups_divide(%x: tensor<1x6x8x8xf32>, %w: tensor<3x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op groups (2) must divide the input channels (6) and the output channels (3)}}
  %0 = soap.conv2d %x, %w {groups = 2 : i64} : (tensor<1x6x8x8xf32>, tensor<3x3x3x3xf32>) -> tensor<1x3x6x6xf32>
  return
}

// -----

func.func @conv_channels_per_group(%x: tensor<1x6x8x8xf32>, %w: tensor<4x6x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op weight has 6 input channels per group, expected 3 (6 channels in 2 groups)}}
  %0 = soap.conv2d %x, %w {groups = 2 : i64} : (tensor<1x6x8x8xf32>, tensor<4x6x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op bias size (3) does not match the output channels (4)}}
  %0 = soap.conv2d %x, %w, %b : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_kernel_too_large(%x: tensor<1x3x4x4xf32>, %w: tensor<4x3x5x5xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op the kernel does not fit the padded input (output would be 0x0)}}
  %0 = soap.conv2d %x, %w : (tensor<1x3x4x4xf32>, tensor<4x3x5x5xf32>) -> tensor<1x4x1x1xf32>
  return
}

// -----

func.func @conv_overflow(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.conv2d' op padding, kernel and dilation overflow 64-bit sizes}}
  %0 = soap.conv2d %x, %w {dilations = array<i64: 9223372036854775807, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @pool_kernel(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pool2d' op kernel must be two positive sizes, got [2]}}
  %0 = soap.pool2d max %x {kernel = array<i64: 2>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  return
}

// -----

func.func @pool_missing_kernel(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'soap.pool2d' op requires attribute 'kernel'}}
  %0 = soap.pool2d max %x : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  return
}

// -----

func.func @pool_padding(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pool2d' op padding must be smaller than the kernel's span [2, 2]}}
  %0 = soap.pool2d avg %x {kernel = array<i64: 2, 2>, padding = array<i64: 2, 0, 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x5x4xf32>
  return
}

// -----

// With dilations 3 the span is 4: padding 4 leaves a window of padding only.
func.func @pool_dilated_padding(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pool2d' op padding must be smaller than the kernel's span [4, 4]}}
  %0 = soap.pool2d max %x {kernel = array<i64: 2, 2>, dilations = array<i64: 3, 3>, padding = array<i64: 4, 0, 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x9x5xf32>
  return
}

// -----

func.func @pool_dilation_zero(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pool2d' op dilations must be two positive values, got [0, 1]}}
  %0 = soap.pool2d max %x {kernel = array<i64: 2, 2>, dilations = array<i64: 0, 1>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  return
}

// -----

func.func @pool_kernel_too_large(%x: tensor<1x3x2x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pool2d' op the kernel does not fit the padded input}}
  %0 = soap.pool2d max %x {kernel = array<i64: 3, 3>} : tensor<1x3x2x2xf32> -> tensor<1x3x1x1xf32>
  return
}

// -----

func.func @pool_kind(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'kind' [max, avg]}}
  %0 = soap.pool2d min %x {kernel = array<i64: 2, 2>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// soap.batch_norm, soap.layer_norm
//===----------------------------------------------------------------------===//

// -----

func.func @bn_rank(%x: tensor<8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.batch_norm' op input must have rank >= 2 ([N, C, ...]), got 1}}
  %0 = soap.batch_norm %x, %g, %g : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @bn_channels(%x: tensor<2x8x4x4xf32>, %g: tensor<8xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.batch_norm' op scale and bias must have the channel count 8}}
  %0 = soap.batch_norm %x, %g, %b : (tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @bn_epsilon(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.batch_norm' op epsilon must be positive}}
  %0 = soap.batch_norm %x, %g, %g {epsilon = 0.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @bn_momentum(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.batch_norm' op momentum must be in [0, 1], got 1.5}}
  %0 = soap.batch_norm %x, %g, %g {momentum = 1.5 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @ln_scale(%x: tensor<2x4x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.layer_norm' op scale must have the normalized shape [8] and the input's element type, got 'tensor<4xf32>'}}
  %0 = soap.layer_norm %x, %g : (tensor<2x4x8xf32>, tensor<4xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @ln_bias(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf16>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.layer_norm' op bias must have the normalized shape [8] and the input's element type, got 'tensor<8xf16>'}}
  %0 = soap.layer_norm %x, %g, %b : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf16>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @ln_epsilon(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.layer_norm' op epsilon must be positive}}
  %0 = soap.layer_norm %x, %g {epsilon = -1.0 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @ln_axis(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.layer_norm' op axis -4 is out of range for rank 3}}
  %0 = soap.layer_norm %x, %g {axis = -4 : i64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// soap.embedding, soap.attention, soap.lstm
//===----------------------------------------------------------------------===//

// -----

func.func @embedding_float_indices(%i: tensor<2x4xf32>, %t: tensor<10x8xf32>) {
  // The type constraint catches non-integer indices before inference does.
  // expected-error @+1 {{'soap.embedding' op operand #0 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<2x4xf32>'}}
  %0 = soap.embedding %i, %t : (tensor<2x4xf32>, tensor<10x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @embedding_table_rank(%i: tensor<2x4xi64>, %t: tensor<10xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.embedding' op table must have rank 2, got 1}}
  %0 = soap.embedding %i, %t : (tensor<2x4xi64>, tensor<10xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x4x8xf32>, %k: tensor<3x4x8xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op query, key and value must have the same batch size}}
  %0 = soap.attention %q, %k, %k, %w, %w, %w, %w {num_heads = 2 : i64}
      : (tensor<2x4x8xf32>, tensor<3x4x8xf32>, tensor<3x4x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_kv_length(%q: tensor<2x4x8xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x6x8xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op key and value must have the same length, got 5 and 6}}
  %0 = soap.attention %q, %k, %v, %w, %w, %w, %w {num_heads = 2 : i64}
      : (tensor<2x4x8xf32>, tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_projection(%q: tensor<2x4x8xf32>, %w: tensor<8x8xf32>, %wk: tensor<6x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op wk must be 'tensor<8x8xf32>', got 'tensor<6x8xf32>'}}
  %0 = soap.attention %q, %q, %q, %w, %wk, %w, %w {num_heads = 2 : i64}
      : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8x8xf32>,
         tensor<6x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_bias_count(%q: tensor<2x4x8xf32>, %w: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op takes no biases or the four biases of q, k, v and o, got 2}}
  %0 = soap.attention %q, %q, %q, %w, %w, %w, %w, %b, %b {num_heads = 2 : i64}
      : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8xf32>,
         tensor<8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_bias_shape(%q: tensor<2x4x8xf32>, %w: tensor<8x8xf32>, %b: tensor<8xf32>, %c: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op biases must be 'tensor<8xf32>', got 'tensor<4xf32>'}}
  %0 = soap.attention %q, %q, %q, %w, %w, %w, %w, %b, %b, %b, %c {num_heads = 2 : i64}
      : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8xf32>,
         tensor<8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<2x4x8xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op num_heads (3) must divide the embedding size (8)}}
  %0 = soap.attention %q, %q, %q, %w, %w, %w, %w {num_heads = 3 : i64}
      : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_causal(%q: tensor<2x4x8xf32>, %k: tensor<2x6x8xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.attention' op causal attention needs equal query and key lengths, got 4 and 6}}
  %0 = soap.attention %q, %k, %k, %w, %w, %w, %w {num_heads = 2 : i64, causal}
      : (tensor<2x4x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @lstm_whh(%x: tensor<2x5x4xf32>, %wih: tensor<4x12xf32>, %whh: tensor<3x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.lstm' op w_hh must be [H, 4H] of the input's element type, got 'tensor<3x8xf32>'}}
  %0 = soap.lstm %x, %wih, %whh : (tensor<2x5x4xf32>, tensor<4x12xf32>, tensor<3x8xf32>) -> tensor<2x5x3xf32>
  return
}

// -----

func.func @lstm_wih(%x: tensor<2x5x4xf32>, %wih: tensor<5x12xf32>, %whh: tensor<3x12xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.lstm' op w_ih must be 'tensor<4x12xf32>', got 'tensor<5x12xf32>'}}
  %0 = soap.lstm %x, %wih, %whh : (tensor<2x5x4xf32>, tensor<5x12xf32>, tensor<3x12xf32>) -> tensor<2x5x3xf32>
  return
}

// -----

func.func @lstm_bias(%x: tensor<2x5x4xf32>, %wih: tensor<4x12xf32>, %whh: tensor<3x12xf32>, %b: tensor<3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.lstm' op bias must be 'tensor<12xf32>', got 'tensor<3xf32>'}}
  %0 = soap.lstm %x, %wih, %whh, %b : (tensor<2x5x4xf32>, tensor<4x12xf32>, tensor<3x12xf32>, tensor<3xf32>) -> tensor<2x5x3xf32>
  return
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// -----

func.func @binary_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.add' op shapes [2, 3] and [4] do not broadcast}}
  %0 = soap.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @binary_element_type(%a: tensor<4xf32>, %b: tensor<4xf64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.mul' op rhs element type 'f64' differs from the input's 'f32'}}
  %0 = soap.mul %a, %b : (tensor<4xf32>, tensor<4xf64>) -> tensor<4xf32>
  return
}

// -----

func.func @dropout_ratio(%x: tensor<4xf32>) {
  // expected-error @+1 {{'soap.dropout' op ratio must be in [0, 1), got 1}}
  %0 = soap.dropout %x {ratio = 1.0 : f64} : tensor<4xf32>
  return
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

// -----

func.func @reshape_count(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'soap.reshape' op cannot reshape 'tensor<2x3xf32>' (6 elements) to 'tensor<7xf32>' (7 elements)}}
  %0 = soap.reshape %x : tensor<2x3xf32> -> tensor<7xf32>
  return
}

// -----

func.func @reshape_element_type(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'soap.reshape' op cannot change the element type from 'f32' to 'f16'}}
  %0 = soap.reshape %x : tensor<2x3xf32> -> tensor<6xf16>
  return
}

// -----

func.func @flatten_axis(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.flatten' op axis 3 is out of range [-2, 2]}}
  %0 = soap.flatten %x {axis = 3 : i64} : (tensor<2x3xf32>) -> tensor<6x1xf32>
  return
}

// -----

func.func @transpose_length(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.transpose' op permutation has 3 entries for rank 2}}
  %0 = soap.transpose %x {permutation = array<i64: 0, 1, 2>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @transpose_not_permutation(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.transpose' op [1, 1] is not a permutation of 0..1}}
  %0 = soap.transpose %x {permutation = array<i64: 1, 1>} : (tensor<2x3xf32>) -> tensor<3x3xf32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.concat' op needs at least one input}}
  %0 = "soap.concat"() {axis = 0 : i64} : () -> tensor<4xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<2x3xf32>, %b: tensor<2x3x1xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.concat' op input #1 ('tensor<2x3x1xf32>') differs in rank or element type from input #0 ('tensor<2x3xf32>')}}
  %0 = soap.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x3x1xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_sizes(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.concat' op input #1 has size 4 on axis 0, input #0 has 2}}
  %0 = soap.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.concat' op axis -3 is out of range for rank 2}}
  %0 = soap.concat %a {axis = -3 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @split_sizes_positive(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.split' op sizes must be one or more positive values, got [6, 0]}}
  %0:2 = soap.split %x {axis = 1 : i64, sizes = array<i64: 6, 0>} : (tensor<2x6xf32>) -> (tensor<2x6xf32>, tensor<2x0xf32>)
  return
}

// -----

func.func @split_sizes_sum(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.split' op sizes add up to 5 but axis 1 has 6}}
  %0:2 = soap.split %x {axis = 1 : i64, sizes = array<i64: 2, 3>} : (tensor<2x6xf32>) -> (tensor<2x2xf32>, tensor<2x3xf32>)
  return
}

// -----

func.func @split_sizes_overflow(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.split' op sizes overflow 64 bits, got [9223372036854775807, 9223372036854775807, 8]}}
  %0:3 = soap.split %x {axis = 1 : i64, sizes = array<i64: 9223372036854775807, 9223372036854775807, 8>} : (tensor<2x6xf32>) -> (tensor<2x6xf32>, tensor<2x6xf32>, tensor<2x6xf32>)
  return
}

// -----

func.func @slice_entries(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.slice' op starts, ends and steps need one entry per axis (2)}}
  %0 = soap.slice %x {starts = array<i64: 0>, ends = array<i64: 2>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @slice_bounds(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.slice' op axis 1: need 0 <= start (4) <= end (7) <= size (6) for step 1}}
  %0 = soap.slice %x {starts = array<i64: 0, 4>, ends = array<i64: 2, 7>} : (tensor<2x6xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @slice_step(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.slice' op axis 0: the step is 0}}
  %0 = soap.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 2, 6>, steps = array<i64: 0, 1>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  return
}

// -----

// A negative step walks from start down to end + 1: start must be an
// element, end at least -1.
func.func @slice_negative_step(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.slice' op axis 1: need -1 <= end (-1) <= start (6) < size (6) for the negative step -1}}
  %0 = soap.slice %x {starts = array<i64: 0, 6>, ends = array<i64: 2, -1>, steps = array<i64: 1, -1>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @reduce_axis_twice(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.reduce_sum' op axis 1 is listed twice}}
  %0 = soap.reduce_sum %x {axes = array<i64: 1, -1>} : (tensor<2x6xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @reduce_axis_range(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.reduce_max' op axis 2 is out of range for rank 2}}
  %0 = soap.reduce_max %x {axes = array<i64: 2>} : (tensor<2x6xf32>) -> tensor<2xf32>
  return
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

// -----

func.func @topk_k(%l: tensor<16x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.topk_gate' op k (5) must be in [1, 4]}}
  %0:2 = soap.topk_gate %l {k = 5 : i64} : (tensor<16x4xf32>) -> (tensor<16x5xf32>, tensor<16x5xi64>)
  return
}

// -----

func.func @experts_gate_shape(%x: tensor<16x8xf32>, %gw: tensor<16x2xf32>, %gi: tensor<16x1xi64>,
                              %w1: tensor<4x8x32xf32>, %w2: tensor<4x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op gate_weights and gate_indices must both be [16, k], got 'tensor<16x2xf32>' and 'tensor<16x1xi64>'}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x2xf32>, tensor<16x1xi64>, tensor<4x8x32xf32>, tensor<4x32x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_none(%x: tensor<16x8xf32>, %gw: tensor<16x2xf32>, %gi: tensor<16x2xi64>,
                        %w1: tensor<0x8x32xf32>, %w2: tensor<0x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op needs at least one expert, w1 is 'tensor<0x8x32xf32>'}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x2xf32>, tensor<16x2xi64>, tensor<0x8x32xf32>, tensor<0x32x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_w1(%x: tensor<16x8xf32>, %gw: tensor<16x2xf32>, %gi: tensor<16x2xi64>,
                      %w1: tensor<4x6x32xf32>, %w2: tensor<4x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op w1 must be [E, 8, F], got 'tensor<4x6x32xf32>'}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x2xf32>, tensor<16x2xi64>, tensor<4x6x32xf32>, tensor<4x32x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_w2(%x: tensor<16x8xf32>, %gw: tensor<16x2xf32>, %gi: tensor<16x2xi64>,
                      %w1: tensor<4x8x32xf32>, %w2: tensor<4x8x32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op w2 must be [4, 32, 8], got 'tensor<4x8x32xf32>'}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x2xf32>, tensor<16x2xi64>, tensor<4x8x32xf32>, tensor<4x8x32xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_element_type(%x: tensor<16x8xf32>, %gw: tensor<16x2xf16>, %gi: tensor<16x2xi64>,
                                %w1: tensor<4x8x32xf32>, %w2: tensor<4x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op input, gate_weights, w1 and w2 need one element type}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x2xf16>, tensor<16x2xi64>, tensor<4x8x32xf32>, tensor<4x32x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_k(%x: tensor<16x8xf32>, %gw: tensor<16x5xf32>, %gi: tensor<16x5xi64>,
                     %w1: tensor<4x8x32xf32>, %w2: tensor<4x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op k (5) exceeds the experts (4)}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2
      : (tensor<16x8xf32>, tensor<16x5xf32>, tensor<16x5xi64>, tensor<4x8x32xf32>, tensor<4x32x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @experts_capacity(%x: tensor<16x8xf32>, %gw: tensor<16x2xf32>, %gi: tensor<16x2xi64>,
                            %w1: tensor<4x8x32xf32>, %w2: tensor<4x32x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.experts' op capacity_factor must be positive}}
  %0 = soap.experts %x, %gw, %gi, %w1, %w2 {capacity_factor = 0.0 : f64}
      : (tensor<16x8xf32>, tensor<16x2xf32>, tensor<16x2xi64>, tensor<4x8x32xf32>, tensor<4x32x8xf32>) -> tensor<16x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

// -----

func.func @sce_rank0(%l: tensor<f32>, %y: tensor<i64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op logits must have rank >= 1}}
  %0 = soap.softmax_cross_entropy %l, %y : (tensor<f32>, tensor<i64>) -> tensor<f32>
  return
}

// -----

func.func @sce_labels(%l: tensor<4x10xf32>, %y: tensor<10xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op labels must be [4] (the logits without the class axis), got 'tensor<10xi64>'}}
  %0 = soap.softmax_cross_entropy %l, %y : (tensor<4x10xf32>, tensor<10xi64>) -> tensor<f32>
  return
}

// -----

func.func @sce_weight_shape(%l: tensor<4x10xf32>, %y: tensor<4xi64>, %w: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op weight must be [10] (one weight per class), got 'tensor<4xf32>'}}
  %0 = soap.softmax_cross_entropy %l, %y, %w : (tensor<4x10xf32>, tensor<4xi64>, tensor<4xf32>) -> tensor<f32>
  return
}

// -----

func.func @sce_weight_type(%l: tensor<4x10xf32>, %y: tensor<4xi64>, %w: tensor<10xf64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op weight element type 'f64' differs from the input's 'f32'}}
  %0 = soap.softmax_cross_entropy %l, %y, %w : (tensor<4x10xf32>, tensor<4xi64>, tensor<10xf64>) -> tensor<f32>
  return
}

// -----

func.func @sce_reduction(%l: tensor<4x10xf32>, %y: tensor<4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op reduction must be "mean", "sum" or "none", got "max"}}
  %0 = soap.softmax_cross_entropy %l, %y {reduction = "max"} : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
  return
}

// -----

func.func @sce_none_type(%l: tensor<4x10xf32>, %y: tensor<4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.softmax_cross_entropy' op inferred type(s) 'tensor<4xf32>' are incompatible with return type(s) of operation 'tensor<f32>'}}
  %0 = soap.softmax_cross_entropy %l, %y {reduction = "none"} : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<f32>
  return
}

// -----

func.func @cast_shape(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{'soap.cast' op result shape [3, 4] differs from the input's [4, 3]}}
  %0 = soap.cast %a : tensor<4x3xf32> to tensor<3x4xf16>
  return
}

// -----

func.func @cast_type(%a: tensor<4xf32>) {
  // expected-error @+1 {{'soap.cast' op result #0 must be statically shaped tensor of}}
  %0 = soap.cast %a : tensor<4xf32> to tensor<4xi8>
  return
}

// -----

func.func @pow_broadcast(%a: tensor<4x3xf32>, %b: tensor<2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.pow' op shapes [4, 3] and [2] do not broadcast}}
  %0 = soap.pow %a, %b : (tensor<4x3xf32>, tensor<2xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @mse_types(%p: tensor<4x1xf32>, %t: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.mse_loss' op prediction 'tensor<4x1xf32>' and target 'tensor<4xf32>' must have the same type}}
  %0 = soap.mse_loss %p, %t : (tensor<4x1xf32>, tensor<4xf32>) -> tensor<f32>
  return
}

//===----------------------------------------------------------------------===//
// Parallel ops
//===----------------------------------------------------------------------===//

// -----

func.func @repartition_degree(%x: tensor<8x4xf32>) {
  // expected-error @+1 {{'soap.repartition' op degree must be positive, got 0}}
  %0 = soap.repartition %x dim 0 degree 0 : tensor<8x4xf32>
  return
}

// -----

func.func @combine_dim(%x: tensor<8x4xf32>) {
  // expected-error @+1 {{'soap.combine' op dim 2 is out of range for rank 2}}
  %0 = soap.combine %x dim 2 degree 2 : tensor<8x4xf32>
  return
}

// -----

func.func @repartition_negative_dim(%x: tensor<8x4xf32>) {
  // expected-error @+1 {{'soap.repartition' op dim -1 is out of range for rank 2}}
  %0 = soap.repartition %x dim -1 degree 2 : tensor<8x4xf32>
  return
}

// -----

func.func @repartition_divide(%x: tensor<8x6xf32>) {
  // expected-error @+1 {{'soap.repartition' op degree 4 does not divide dimension 1 of size 6}}
  %0 = soap.repartition %x dim 1 degree 4 : tensor<8x6xf32>
  return
}

// -----

func.func @replicate_degree(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.replicate' op degree must be positive, got -2}}
  %0 = soap.replicate %x degree -2 : tensor<8xf32>
  return
}

// -----

func.func @reduce_degree(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.reduce' op degree must be positive, got 0}}
  %0 = soap.reduce %x degree 0 : tensor<8xf32>
  return
}

// -----

func.func @all_reduce_degree(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.all_reduce' op degree must be positive, got 0}}
  %0 = soap.all_reduce %x degree 0 : tensor<8xf32>
  return
}

// -----

func.func @parallel_op_type(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.replicate' op requires the same type for all operands and results}}
  %0 = "soap.replicate"(%x) {degree = 2 : i64} : (tensor<8xf32>) -> tensor<8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Dialect attributes: soap.name, soap.parallel
//===----------------------------------------------------------------------===//

// -----

func.func @name_empty(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.name' must be a non-empty string}}
  %0 = soap.relu %x {soap.name = ""} : tensor<8xf32>
  return
}

// -----

func.func @name_not_string(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.name' must be a non-empty string}}
  %0 = soap.relu %x {soap.name = 3 : i64} : tensor<8xf32>
  return
}

// -----

func.func @unknown_soap_attribute(%x: tensor<8xf32>) {
  // expected-error @+1 {{unknown soap attribute 'soap.strategy' (known: 'soap.name', 'soap.parallel', 'soap.recompute', 'soap.training', 'soap.pipeline')}}
  %0 = soap.relu %x {soap.strategy = 1 : i64} : tensor<8xf32>
  return
}

// -----

func.func @recompute_not_unit(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.recompute' must be a unit attribute}}
  %0 = soap.relu %x {soap.recompute = 1 : i64} : tensor<8xf32>
  return
}

// -----

// expected-error @+1 {{'soap.pipeline' must be a dictionary, got 2 : i64}}
func.func @pipeline_not_dictionary(%x: tensor<8xf32>) attributes {soap.pipeline = 2 : i64} {
  return
}

// -----

// expected-error @+1 {{'soap.recompute' is only allowed on soap compute ops}}
func.func @recompute_on_func() attributes {soap.recompute} {
  return
}

// -----

// expected-error @+1 {{'soap.training': zero_stage must be 0, 1, 2 or 3}}
func.func @training_zero_stage() attributes {soap.training = {zero_stage = 4 : i64}} {
  return
}

// -----

// expected-error @+1 {{'soap.training': unknown entry 'micro_batches' (zero_stage, offload_optimizer)}}
func.func @training_unknown() attributes {soap.training = {micro_batches = 4 : i64}} {
  return
}

// -----

func.func @pipeline_on_op(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.pipeline' belongs on a model function}}
  %0 = soap.relu %x {soap.pipeline = {}} : tensor<8xf32>
  return
}

// -----

func.func @parallel_not_parallel_attr(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.parallel' must be a #soap.parallel attribute, got 4 : i64}}
  %0 = soap.relu %x {soap.parallel = 4 : i64} : tensor<8xf32>
  return
}

// -----

func.func @parallel_on_non_compute_op(%x: tensor<8xf32>) {
  // expected-error @+1 {{'soap.parallel' is only allowed on soap compute ops}}
  %0 = soap.replicate %x degree 2 {soap.parallel = #soap.parallel<{batch = 2}>} : tensor<8xf32>
  return
}

// -----

// expected-error @+1 {{'soap.parallel' is only allowed on soap compute ops}}
func.func @parallel_on_func() attributes {soap.parallel = #soap.parallel<{batch = 2}>} {
  return
}

// -----

// expected-error @+1 {{'soap.name' must be a non-empty string}}
func.func @arg_name_empty(%x: tensor<8xf32> {soap.name = ""}) {
  return
}

// -----

// Arguments and results carry names, not parallel configs.
// expected-error @+1 {{unknown soap attribute 'soap.parallel' (known: 'soap.name')}}
func.func @arg_parallel(%x: tensor<8xf32> {soap.parallel = #soap.parallel<{batch = 2}>}) {
  return
}

// -----

// expected-error @+1 {{unknown soap attribute 'soap.shape' (known: 'soap.name')}}
func.func @result_unknown(%x: tensor<8xf32>) -> (tensor<8xf32> {soap.shape = 1 : i64}) {
  return %x : tensor<8xf32>
}

// -----

func.func @parallel_unknown_dim(%x: tensor<8x4xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'soap.linear' op has no parallelizable dimension 'cout' (it has: batch, out, in)}}
  %0 = soap.linear %x, %w {soap.parallel = #soap.parallel<{cout = 2}>} : (tensor<8x4xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  return
}

// -----

func.func @parallel_no_dims(%x: tensor<8xf32>, %y: tensor<8xf32>) {
  // A loss over a rank-1 tensor still has a batch; a view has none.
  // expected-error @+1 {{'soap.reshape' op has no parallelizable dimension 'batch' (it has: none)}}
  %0 = soap.reshape %x {soap.parallel = #soap.parallel<{batch = 2}>} : tensor<8xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @parallel_degree_divides(%x: tensor<6x4xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'soap.linear' op degree 4 of dimension 'batch' does not divide its size 6}}
  %0 = soap.linear %x, %w {soap.parallel = #soap.parallel<{batch = 4}>} : (tensor<6x4xf32>, tensor<4x2xf32>) -> tensor<6x2xf32>
  return
}

//===----------------------------------------------------------------------===//
// #soap.parallel on its own
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{#soap.parallel needs one degree and one stride per dimension}}
#p = #soap.parallel<{batch = 2, out = 2}, strides = [1]>

// -----

// expected-error @+1 {{#soap.parallel has an empty dimension name}}
#p = #soap.parallel<{"" = 2}>

// -----

// expected-error @+1 {{#soap.parallel lists dimension 'batch' twice}}
#p = #soap.parallel<{batch = 2, batch = 2}>

// -----

// expected-error @+1 {{#soap.parallel degree of 'batch' must be positive, got 0}}
#p = #soap.parallel<{batch = 0}>

// -----

// expected-error @+1 {{#soap.parallel stride of 'batch' must be positive, got 0}}
#p = #soap.parallel<{batch = 2}, strides = [0]>

// -----

// expected-error @+1 {{#soap.parallel uses more than 4194304 devices}}
#p = #soap.parallel<{a = 4096, b = 4096}>

// -----

// Degrees whose product overflows int64 are refused, not wrapped.
// expected-error @+1 {{#soap.parallel uses more than 4194304 devices}}
#p = #soap.parallel<{a = 4194304, b = 4611686018427387904}>

// -----

// expected-error @+1 {{#soap.parallel start device must be >= 0, got -1}}
#p = #soap.parallel<{batch = 2}, start = -1>

// -----

// expected-error @+1 {{#soap.parallel view reaches beyond device 4194303 (start 0, strides [9223372036854775807], degrees [2])}}
#p = #soap.parallel<{batch = 2}, strides = [9223372036854775807]>

// -----

// expected-error @+1 {{#soap.parallel view places two shards on device 1 (strides [1, 1] overlap for degrees [2, 2])}}
#p = #soap.parallel<{batch = 2, out = 2}, strides = [1, 1]>

// -----

// expected-error @+1 {{expected 'start' or 'strides', got 'offset'}}
#p = #soap.parallel<{batch = 2}, offset = 4>

// -----

func.func @compare_types(%a: tensor<4xf32>, %b: tensor<4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.less' op rhs element type 'i64' differs from the input's 'f32'}}
  %0 = soap.less %a, %b : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xi1>
  return
}

// -----

func.func @compare_broadcast(%a: tensor<4x3xf32>, %b: tensor<2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.equal' op shapes [4, 3] and [2] do not broadcast}}
  %0 = soap.equal %a, %b : (tensor<4x3xf32>, tensor<2xf32>) -> tensor<4x3xi1>
  return
}

// -----

func.func @compare_result(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'soap.greater' op result #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = "soap.greater"(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @compare_booleans(%a: tensor<4xi1>, %b: tensor<4xi1>) {
  // expected-error @+1 {{'soap.less_equal' op operand #0 must be statically shaped tensor of}}
  %0 = "soap.less_equal"(%a, %b) : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @logical_numbers(%a: tensor<4xf32>, %b: tensor<4xi1>) {
  // expected-error @+1 {{'soap.and' op operand #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = "soap.and"(%a, %b) : (tensor<4xf32>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @not_number(%a: tensor<4xf32>) {
  // expected-error @+1 {{'soap.not' op operand #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = "soap.not"(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dropout_mask_ratio(%x: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.dropout_mask' op ratio must be in [0, 1), got 1}}
  %0 = soap.dropout_mask %x {ratio = 1.0 : f64} : tensor<4xf32> -> tensor<4xi1>
  return
}

// -----

func.func @dropout_mask_result(%x: tensor<4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.dropout_mask' op inferred type(s) 'tensor<4xi1>' are incompatible with return type(s) of operation 'tensor<2x2xi1>'}}
  %0 = soap.dropout_mask %x {ratio = 0.5 : f64} : tensor<4xf32> -> tensor<2x2xi1>
  return
}

// -----

func.func @max_pool_indices_padding(%x: tensor<1x1x5x5xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'soap.max_pool_indices' op padding must be smaller than the kernel's span [2, 2]}}
  %0 = soap.max_pool_indices %x {kernel = array<i64: 2, 2>, padding = array<i64: 2, 0, 0, 0>}
      : tensor<1x1x5x5xf32> -> tensor<1x1x3x2xi64>
  return
}

// -----

func.func @max_pool_indices_type(%x: tensor<1x1x4x4xf32>) {
  // expected-error @+1 {{'soap.max_pool_indices' op result #0 must be statically shaped tensor of 64-bit signless integer values}}
  %0 = "soap.max_pool_indices"(%x) <{kernel = array<i64: 2, 2>}> : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xi32>
  return
}
