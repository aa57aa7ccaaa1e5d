// RUN: soap-opt %s | soap-opt | FileCheck %s
// RUN: soap-opt %s --mlir-print-op-generic | soap-opt | FileCheck %s

// Parse/print round trip of every soap op, with optional operands and
// attributes both present and absent. Default-valued attributes are not
// printed.

//===----------------------------------------------------------------------===//
// Model structure
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @weights
func.func @weights() -> (tensor<784x256xf32>, tensor<256xf32>, tensor<2x2xf32>,
                         tensor<4xf32>, tensor<3x3xbf16>) {
  // CHECK: soap.weight "fc1.weight" normal {scale = 2.000000e-02 : f64} : tensor<784x256xf32>
  %w = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<784x256xf32>
  // CHECK: soap.weight "fc1.bias" zeros : tensor<256xf32>
  %b = soap.weight "fc1.bias" zeros : tensor<256xf32>
  // CHECK: soap.weight "imported" value {value = dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %v = soap.weight "imported" value {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  // CHECK: soap.weight "gamma" constant {scale = 5.000000e-01 : f64} : tensor<4xf32>
  %g = soap.weight "gamma" constant {scale = 0.5 : f64} : tensor<4xf32>
  // CHECK: soap.weight "conv" kaiming_normal : tensor<3x3xbf16>
  %k = soap.weight "conv" kaiming_normal : tensor<3x3xbf16>
  return %w, %b, %v, %g, %k : tensor<784x256xf32>, tensor<256xf32>, tensor<2x2xf32>, tensor<4xf32>, tensor<3x3xbf16>
}

// CHECK-LABEL: func.func @other_initializers
func.func @other_initializers() -> (tensor<4xf32>, tensor<4xf32>, tensor<4x4xf64>, tensor<4xf16>) {
  // CHECK: soap.weight "a" ones : tensor<4xf32>
  %a = soap.weight "a" ones : tensor<4xf32>
  // CHECK: soap.weight "b" uniform {scale = 1.000000e-01 : f64} : tensor<4xf32>
  %b = soap.weight "b" uniform {scale = 0.1 : f64} : tensor<4xf32>
  // CHECK: soap.weight "c" xavier_uniform : tensor<4x4xf64>
  %c = soap.weight "c" xavier_uniform : tensor<4x4xf64>
  // CHECK: soap.weight "d" normal : tensor<4xf16>
  %d = soap.weight "d" normal : tensor<4xf16>
  return %a, %b, %c, %d : tensor<4xf32>, tensor<4xf32>, tensor<4x4xf64>, tensor<4xf16>
}

// CHECK-LABEL: func.func @constants
func.func @constants() -> (tensor<f32>, tensor<2xi64>) {
  // CHECK: soap.constant dense<1.250000e-01> : tensor<f32>
  %s = soap.constant dense<0.125> : tensor<f32>
  // CHECK: soap.constant dense<[1, 2]> : tensor<2xi64>
  %i = soap.constant dense<[1, 2]> : tensor<2xi64>
  return %s, %i : tensor<f32>, tensor<2xi64>
}

//===----------------------------------------------------------------------===//
// Dense layers
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<32x784xf32>, %[[W:.*]]: tensor<784x256xf32>, %[[B:.*]]: tensor<256xf32>, %[[S:.*]]: tensor<8x16x784xf32>)
func.func @linear(%x: tensor<32x784xf32>, %w: tensor<784x256xf32>,
                  %b: tensor<256xf32>, %s: tensor<8x16x784xf32>)
    -> (tensor<32x256xf32>, tensor<32x256xf32>, tensor<8x16x256xf32>) {
  // CHECK: soap.linear %[[X]], %[[W]], %[[B]] : (tensor<32x784xf32>, tensor<784x256xf32>, tensor<256xf32>) -> tensor<32x256xf32>
  %0 = soap.linear %x, %w, %b : (tensor<32x784xf32>, tensor<784x256xf32>, tensor<256xf32>) -> tensor<32x256xf32>
  // CHECK: soap.linear %[[X]], %[[W]] : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  %1 = soap.linear %x, %w : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  // Any number of leading dimensions.
  // CHECK: soap.linear %[[S]], %[[W]] : (tensor<8x16x784xf32>, tensor<784x256xf32>) -> tensor<8x16x256xf32>
  %2 = soap.linear %s, %w : (tensor<8x16x784xf32>, tensor<784x256xf32>) -> tensor<8x16x256xf32>
  return %0, %1, %2 : tensor<32x256xf32>, tensor<32x256xf32>, tensor<8x16x256xf32>
}

// CHECK-LABEL: func.func @matmul
func.func @matmul(%q: tensor<8x12x128x64xf32>, %k: tensor<8x12x64x128xf32>,
                  %a: tensor<16x32xf16>, %b: tensor<32x8xf16>,
                  %c: tensor<4x1x5x6xf32>, %d: tensor<3x6x7xf32>)
    -> (tensor<8x12x128x128xf32>, tensor<16x8xf16>, tensor<4x3x5x7xf32>) {
  // CHECK: soap.matmul %{{.*}}, %{{.*}} : (tensor<8x12x128x64xf32>, tensor<8x12x64x128xf32>) -> tensor<8x12x128x128xf32>
  %0 = soap.matmul %q, %k : (tensor<8x12x128x64xf32>, tensor<8x12x64x128xf32>) -> tensor<8x12x128x128xf32>
  // CHECK: soap.matmul %{{.*}}, %{{.*}} : (tensor<16x32xf16>, tensor<32x8xf16>) -> tensor<16x8xf16>
  %1 = soap.matmul %a, %b : (tensor<16x32xf16>, tensor<32x8xf16>) -> tensor<16x8xf16>
  // Broadcast batch dimensions.
  // CHECK: soap.matmul %{{.*}}, %{{.*}} : (tensor<4x1x5x6xf32>, tensor<3x6x7xf32>) -> tensor<4x3x5x7xf32>
  %2 = soap.matmul %c, %d : (tensor<4x1x5x6xf32>, tensor<3x6x7xf32>) -> tensor<4x3x5x7xf32>
  return %0, %1, %2 : tensor<8x12x128x128xf32>, tensor<16x8xf16>, tensor<4x3x5x7xf32>
}

//===----------------------------------------------------------------------===//
// Convolutional layers
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @conv2d
func.func @conv2d(%x: tensor<8x3x224x224xf32>, %w: tensor<64x3x7x7xf32>,
                  %b: tensor<64xf32>, %y: tensor<2x32x16x16xf32>,
                  %dw: tensor<32x1x3x3xf32>, %gw: tensor<64x8x3x3xf32>)
    -> (tensor<8x64x112x112xf32>, tensor<8x64x218x218xf32>,
        tensor<2x32x16x16xf32>, tensor<2x64x12x12xf32>) {
  // CHECK: soap.conv2d %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 3, 3, 3, 3>, strides = array<i64: 2, 2>} : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<8x64x112x112xf32>
  %0 = soap.conv2d %x, %w, %b {strides = array<i64: 2, 2>, padding = array<i64: 3, 3, 3, 3>}
      : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<8x64x112x112xf32>
  // All defaults: stride 1, no padding, dilation 1, one group.
  // CHECK: soap.conv2d %{{.*}}, %{{.*}} : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<8x64x218x218xf32>
  %1 = soap.conv2d %x, %w : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<8x64x218x218xf32>
  // Depthwise: groups = channels.
  // CHECK: soap.conv2d %{{.*}}, %{{.*}} {groups = 32 : i64, padding = array<i64: 1, 1, 1, 1>} : (tensor<2x32x16x16xf32>, tensor<32x1x3x3xf32>) -> tensor<2x32x16x16xf32>
  %2 = soap.conv2d %y, %dw {groups = 32 : i64, padding = array<i64: 1, 1, 1, 1>}
      : (tensor<2x32x16x16xf32>, tensor<32x1x3x3xf32>) -> tensor<2x32x16x16xf32>
  // Grouped and dilated: 16 - 2 * (3 - 1) = 12.
  // CHECK: soap.conv2d %{{.*}}, %{{.*}} {dilations = array<i64: 2, 2>, groups = 4 : i64} : (tensor<2x32x16x16xf32>, tensor<64x8x3x3xf32>) -> tensor<2x64x12x12xf32>
  %3 = soap.conv2d %y, %gw {dilations = array<i64: 2, 2>, groups = 4 : i64}
      : (tensor<2x32x16x16xf32>, tensor<64x8x3x3xf32>) -> tensor<2x64x12x12xf32>
  return %0, %1, %2, %3 : tensor<8x64x112x112xf32>, tensor<8x64x218x218xf32>, tensor<2x32x16x16xf32>, tensor<2x64x12x12xf32>
}

// CHECK-LABEL: func.func @pool2d
func.func @pool2d(%x: tensor<8x64x112x112xf32>, %g: tensor<8x2048x7x7xf32>)
    -> (tensor<8x64x56x56xf32>, tensor<8x64x56x56xf32>, tensor<8x2048x1x1xf32>,
        tensor<8x64x56x56xf32>) {
  // CHECK: soap.pool2d max %{{.*}} {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  %0 = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>,
                           padding = array<i64: 1, 1, 1, 1>}
      : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  // Strides default to the kernel.
  // CHECK: soap.pool2d max %{{.*}} {dilations = array<i64: 2, 2>, kernel = array<i64: 3, 3>, padding = array<i64: 2, 2, 2, 2>, strides = array<i64: 1, 1>} : tensor<8x64x112x112xf32> -> tensor<8x64x112x112xf32>
  %dil = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, dilations = array<i64: 2, 2>,
                             padding = array<i64: 2, 2, 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x112x112xf32>
  // CHECK: soap.pool2d avg %{{.*}} {kernel = array<i64: 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  %1 = soap.pool2d avg %x {kernel = array<i64: 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  // Global average pooling.
  // CHECK: soap.pool2d avg %{{.*}} {kernel = array<i64: 7, 7>} : tensor<8x2048x7x7xf32> -> tensor<8x2048x1x1xf32>
  %2 = soap.pool2d avg %g {kernel = array<i64: 7, 7>} : tensor<8x2048x7x7xf32> -> tensor<8x2048x1x1xf32>
  // CHECK: soap.pool2d avg %{{.*}} {count_include_pad, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  %3 = soap.pool2d avg %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>,
                           padding = array<i64: 1, 1, 1, 1>, count_include_pad}
      : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
  return %0, %1, %2, %3 : tensor<8x64x56x56xf32>, tensor<8x64x56x56xf32>, tensor<8x2048x1x1xf32>, tensor<8x64x56x56xf32>
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @batch_norm
func.func @batch_norm(%x: tensor<8x64x56x56xf32>, %g: tensor<64xf32>,
                      %b: tensor<64xf32>, %v: tensor<8x64xf32>)
    -> (tensor<8x64x56x56xf32>, tensor<8x64x56x56xf32>, tensor<8x64xf32>) {
  // CHECK: soap.batch_norm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
  %0 = soap.batch_norm %x, %g, %b : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
  // CHECK: soap.batch_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-03 : f64, momentum = 0.000000e+00 : f64} : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
  %1 = soap.batch_norm %x, %g, %b {epsilon = 1.0e-03 : f64, momentum = 0.0 : f64}
      : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
  // Rank 2 (after a linear layer).
  // CHECK: soap.batch_norm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %2 = soap.batch_norm %v, %g, %b : (tensor<8x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  return %0, %1, %2 : tensor<8x64x56x56xf32>, tensor<8x64x56x56xf32>, tensor<8x64xf32>
}

// CHECK-LABEL: func.func @layer_norm
func.func @layer_norm(%x: tensor<8x128x768xf32>, %g: tensor<768xf32>,
                      %b: tensor<768xf32>, %g2: tensor<128x768xf32>)
    -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>) {
  // CHECK: soap.layer_norm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x128x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
  %0 = soap.layer_norm %x, %g, %b : (tensor<8x128x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
  // Without bias (RMSNorm-style scale only).
  // CHECK: soap.layer_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<8x128x768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
  %1 = soap.layer_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<8x128x768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
  // Normalize the last two axes.
  // CHECK: soap.layer_norm %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<8x128x768xf32>, tensor<128x768xf32>) -> tensor<8x128x768xf32>
  %2 = soap.layer_norm %x, %g2 {axis = 1 : i64} : (tensor<8x128x768xf32>, tensor<128x768xf32>) -> tensor<8x128x768xf32>
  return %0, %1, %2 : tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>
}

//===----------------------------------------------------------------------===//
// Embeddings, attention, recurrence
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @embedding
func.func @embedding(%ids: tensor<8x128xi64>, %table: tensor<30522x768xf32>,
                     %flat: tensor<64xi32>) -> (tensor<8x128x768xf32>, tensor<64x768xf32>) {
  // CHECK: soap.embedding %{{.*}}, %{{.*}} : (tensor<8x128xi64>, tensor<30522x768xf32>) -> tensor<8x128x768xf32>
  %0 = soap.embedding %ids, %table : (tensor<8x128xi64>, tensor<30522x768xf32>) -> tensor<8x128x768xf32>
  // CHECK: soap.embedding %{{.*}}, %{{.*}} : (tensor<64xi32>, tensor<30522x768xf32>) -> tensor<64x768xf32>
  %1 = soap.embedding %flat, %table : (tensor<64xi32>, tensor<30522x768xf32>) -> tensor<64x768xf32>
  return %0, %1 : tensor<8x128x768xf32>, tensor<64x768xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%x: tensor<8x128x768xf32>, %w: tensor<768x768xf32>,
                     %b: tensor<768xf32>, %mem: tensor<8x64x512xf32>,
                     %wkv: tensor<512x768xf32>)
    -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>) {
  // Self-attention, no biases.
  // CHECK: soap.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 12 : i64} : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>) -> tensor<8x128x768xf32>
  %0 = soap.attention %x, %x, %x, %w, %w, %w, %w {num_heads = 12 : i64}
      : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
         tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
         tensor<768x768xf32>) -> tensor<8x128x768xf32>
  // Causal, with the four biases.
  // CHECK: soap.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 12 : i64} : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
  %1 = soap.attention %x, %x, %x, %w, %w, %w, %w, %b, %b, %b, %b {num_heads = 12 : i64, causal}
      : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
         tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
         tensor<768x768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32>,
         tensor<768xf32>) -> tensor<8x128x768xf32>
  // Cross-attention over a memory of another length and width.
  // CHECK: soap.attention {{.*}} {num_heads = 8 : i64} : (tensor<8x128x768xf32>, tensor<8x64x512xf32>, tensor<8x64x512xf32>, tensor<768x768xf32>, tensor<512x768xf32>, tensor<512x768xf32>, tensor<768x768xf32>) -> tensor<8x128x768xf32>
  %2 = soap.attention %x, %mem, %mem, %w, %wkv, %wkv, %w {num_heads = 8 : i64}
      : (tensor<8x128x768xf32>, tensor<8x64x512xf32>, tensor<8x64x512xf32>,
         tensor<768x768xf32>, tensor<512x768xf32>, tensor<512x768xf32>,
         tensor<768x768xf32>) -> tensor<8x128x768xf32>
  return %0, %1, %2 : tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>
}

// CHECK-LABEL: func.func @lstm
func.func @lstm(%x: tensor<64x40x256xf32>, %wih: tensor<256x512xf32>,
                %whh: tensor<128x512xf32>, %b: tensor<512xf32>)
    -> (tensor<64x40x128xf32>, tensor<64x40x128xf32>) {
  // CHECK: soap.lstm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>, tensor<512xf32>) -> tensor<64x40x128xf32>
  %0 = soap.lstm %x, %wih, %whh, %b : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>, tensor<512xf32>) -> tensor<64x40x128xf32>
  // CHECK: soap.lstm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>) -> tensor<64x40x128xf32>
  %1 = soap.lstm %x, %wih, %whh : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>) -> tensor<64x40x128xf32>
  return %0, %1 : tensor<64x40x128xf32>, tensor<64x40x128xf32>
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @unary
// CHECK-SAME: (%[[X:.*]]: tensor<8x256xf32>, %[[H:.*]]: tensor<4xf16>, %[[S:.*]]: tensor<f64>)
func.func @unary(%x: tensor<8x256xf32>, %h: tensor<4xf16>, %s: tensor<f64>)
    -> (tensor<8x256xf32>, tensor<4xf16>, tensor<f64>) {
  // CHECK: %[[R:.*]] = soap.relu %[[X]] : tensor<8x256xf32>
  %0 = soap.relu %x : tensor<8x256xf32>
  // CHECK: %[[G:.*]] = soap.gelu %[[R]] : tensor<8x256xf32>
  %1 = soap.gelu %0 : tensor<8x256xf32>
  // CHECK: soap.sigmoid %[[G]] : tensor<8x256xf32>
  %2 = soap.sigmoid %1 : tensor<8x256xf32>
  // CHECK: soap.tanh %{{.*}} : tensor<8x256xf32>
  %3 = soap.tanh %2 : tensor<8x256xf32>
  // CHECK: soap.exp %{{.*}} : tensor<8x256xf32>
  %4 = soap.exp %3 : tensor<8x256xf32>
  // CHECK: soap.log %{{.*}} : tensor<8x256xf32>
  %5 = soap.log %4 : tensor<8x256xf32>
  // CHECK: soap.neg %{{.*}} : tensor<8x256xf32>
  %6 = soap.neg %5 : tensor<8x256xf32>
  // CHECK: soap.sqrt %[[H]] : tensor<4xf16>
  %7 = soap.sqrt %h : tensor<4xf16>
  // Rank 0 is a valid elementwise operand.
  // CHECK: soap.erf %[[S]] : tensor<f64>
  %8 = soap.erf %s : tensor<f64>
  return %6, %7, %8 : tensor<8x256xf32>, tensor<4xf16>, tensor<f64>
}

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<8x256xf32>, %b: tensor<256xf32>,
                  %c: tensor<8x1xf32>, %s: tensor<f32>)
    -> (tensor<8x256xf32>, tensor<8x256xf32>, tensor<8x256xf32>, tensor<8x256xf32>) {
  // CHECK: soap.add %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  %0 = soap.add %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  // CHECK: soap.sub %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<8x1xf32>) -> tensor<8x256xf32>
  %1 = soap.sub %0, %c : (tensor<8x256xf32>, tensor<8x1xf32>) -> tensor<8x256xf32>
  // CHECK: soap.mul %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<f32>) -> tensor<8x256xf32>
  %2 = soap.mul %1, %s : (tensor<8x256xf32>, tensor<f32>) -> tensor<8x256xf32>
  // Both operands broadcast.
  // CHECK: soap.div %{{.*}}, %{{.*}} : (tensor<8x1xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  %3 = soap.div %c, %b : (tensor<8x1xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  // CHECK: soap.pow %{{.*}}, %{{.*}} : (tensor<8x1xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  %pow = soap.pow %c, %b : (tensor<8x1xf32>, tensor<256xf32>) -> tensor<8x256xf32>
  // CHECK: soap.cast %{{.*}} : tensor<8x256xf32> to tensor<8x256xf16>
  %half = soap.cast %pow : tensor<8x256xf32> to tensor<8x256xf16>
  // CHECK: soap.cast %{{.*}} : tensor<8x256xf16> to tensor<8x256xi64>
  %int = soap.cast %half : tensor<8x256xf16> to tensor<8x256xi64>
  // CHECK: soap.cast %{{.*}} : tensor<8x256xi64> to tensor<8x256xbf16>
  %bf = soap.cast %int : tensor<8x256xi64> to tensor<8x256xbf16>
  return %0, %1, %2, %3 : tensor<8x256xf32>, tensor<8x256xf32>, tensor<8x256xf32>, tensor<8x256xf32>
}

// CHECK-LABEL: func.func @booleans
func.func @booleans(%a: tensor<8x256xf32>, %b: tensor<256xf32>,
                    %i: tensor<8x1xi64>, %j: tensor<i64>)
    -> (tensor<8x256xi1>, tensor<8x1xi1>, tensor<8x256xf32>) {
  // CHECK: soap.equal %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  %eq = soap.equal %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  // CHECK: soap.less %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  %lt = soap.less %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  // CHECK: soap.less_equal %{{.*}}, %{{.*}} : (tensor<8x1xi64>, tensor<i64>) -> tensor<8x1xi1>
  %le = soap.less_equal %i, %j : (tensor<8x1xi64>, tensor<i64>) -> tensor<8x1xi1>
  // CHECK: soap.greater %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  %gt = soap.greater %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  // CHECK: soap.greater_equal %{{.*}}, %{{.*}} : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  %ge = soap.greater_equal %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
  // CHECK: soap.and %{{.*}}, %{{.*}} : (tensor<8x256xi1>, tensor<8x256xi1>) -> tensor<8x256xi1>
  %and = soap.and %eq, %lt : (tensor<8x256xi1>, tensor<8x256xi1>) -> tensor<8x256xi1>
  // CHECK: soap.or %{{.*}}, %{{.*}} : (tensor<8x256xi1>, tensor<8x1xi1>) -> tensor<8x256xi1>
  %or = soap.or %and, %le : (tensor<8x256xi1>, tensor<8x1xi1>) -> tensor<8x256xi1>
  // CHECK: soap.xor %{{.*}}, %{{.*}} : (tensor<8x256xi1>, tensor<8x256xi1>) -> tensor<8x256xi1>
  %xor = soap.xor %or, %gt : (tensor<8x256xi1>, tensor<8x256xi1>) -> tensor<8x256xi1>
  // CHECK: soap.not %{{.*}} : tensor<8x256xi1>
  %not = soap.not %xor : tensor<8x256xi1>
  // CHECK: soap.dropout_mask %{{.*}} {ratio = 5.000000e-01 : f64, seed = 3 : i64} : tensor<8x256xf32> -> tensor<8x256xi1>
  %mask = soap.dropout_mask %a {ratio = 0.5 : f64, seed = 3 : i64} : tensor<8x256xf32> -> tensor<8x256xi1>
  // CHECK: soap.cast %{{.*}} : tensor<8x256xi1> to tensor<8x256xf32>
  %keep = soap.cast %mask : tensor<8x256xi1> to tensor<8x256xf32>
  // CHECK: soap.constant dense<[true, false]> : tensor<2xi1>
  %c = soap.constant dense<[true, false]> : tensor<2xi1>
  // CHECK: soap.reshape %{{.*}} : tensor<8x256xi1> -> tensor<2048xi1>
  %flat = soap.reshape %not : tensor<8x256xi1> -> tensor<2048xi1>
  return %ge, %le, %keep : tensor<8x256xi1>, tensor<8x1xi1>, tensor<8x256xf32>
}

// CHECK-LABEL: func.func @softmax
func.func @softmax(%x: tensor<8x12x128x128xf32>)
    -> (tensor<8x12x128x128xf32>, tensor<8x12x128x128xf32>) {
  // CHECK: soap.softmax %{{.*}} : tensor<8x12x128x128xf32>
  %0 = soap.softmax %x : tensor<8x12x128x128xf32>
  // CHECK: soap.softmax %{{.*}} {axis = 1 : i64} : tensor<8x12x128x128xf32>
  %1 = soap.softmax %x {axis = 1 : i64} : tensor<8x12x128x128xf32>
  return %0, %1 : tensor<8x12x128x128xf32>, tensor<8x12x128x128xf32>
}

// CHECK-LABEL: func.func @dropout
func.func @dropout(%x: tensor<8x128x768xf32>)
    -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>) {
  // CHECK: soap.dropout %{{.*}} {ratio = 1.000000e-01 : f64} : tensor<8x128x768xf32>
  %0 = soap.dropout %x {ratio = 0.1 : f64} : tensor<8x128x768xf32>
  // CHECK: soap.dropout %{{.*}} {ratio = 5.000000e-01 : f64, seed = 42 : i64} : tensor<8x128x768xf32>
  %1 = soap.dropout %x {ratio = 0.5 : f64, seed = 42 : i64} : tensor<8x128x768xf32>
  return %0, %1 : tensor<8x128x768xf32>, tensor<8x128x768xf32>
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @reshape
func.func @reshape(%x: tensor<8x128x768xf32>, %i: tensor<4x4xi64>)
    -> (tensor<8x128x12x64xf32>, tensor<16xi64>) {
  // CHECK: soap.reshape %{{.*}} : tensor<8x128x768xf32> -> tensor<8x128x12x64xf32>
  %0 = soap.reshape %x : tensor<8x128x768xf32> -> tensor<8x128x12x64xf32>
  // CHECK: soap.reshape %{{.*}} : tensor<4x4xi64> -> tensor<16xi64>
  %1 = soap.reshape %i : tensor<4x4xi64> -> tensor<16xi64>
  return %0, %1 : tensor<8x128x12x64xf32>, tensor<16xi64>
}

// CHECK-LABEL: func.func @flatten
func.func @flatten(%x: tensor<8x256x6x6xf32>)
    -> (tensor<8x9216xf32>, tensor<2048x36xf32>, tensor<1x73728xf32>) {
  // CHECK: soap.flatten %{{.*}} : (tensor<8x256x6x6xf32>) -> tensor<8x9216xf32>
  %0 = soap.flatten %x : (tensor<8x256x6x6xf32>) -> tensor<8x9216xf32>
  // CHECK: soap.flatten %{{.*}} {axis = -2 : i64} : (tensor<8x256x6x6xf32>) -> tensor<2048x36xf32>
  %1 = soap.flatten %x {axis = -2 : i64} : (tensor<8x256x6x6xf32>) -> tensor<2048x36xf32>
  // CHECK: soap.flatten %{{.*}} {axis = 0 : i64} : (tensor<8x256x6x6xf32>) -> tensor<1x73728xf32>
  %2 = soap.flatten %x {axis = 0 : i64} : (tensor<8x256x6x6xf32>) -> tensor<1x73728xf32>
  return %0, %1, %2 : tensor<8x9216xf32>, tensor<2048x36xf32>, tensor<1x73728xf32>
}

// CHECK-LABEL: func.func @transpose
func.func @transpose(%x: tensor<8x128x12x64xf32>) -> tensor<8x12x128x64xf32> {
  // CHECK: soap.transpose %{{.*}} {permutation = array<i64: 0, 2, 1, 3>} : (tensor<8x128x12x64xf32>) -> tensor<8x12x128x64xf32>
  %0 = soap.transpose %x {permutation = array<i64: 0, 2, 1, 3>}
      : (tensor<8x128x12x64xf32>) -> tensor<8x12x128x64xf32>
  return %0 : tensor<8x12x128x64xf32>
}

// CHECK-LABEL: func.func @concat
func.func @concat(%a: tensor<8x64x28x28xf32>, %b: tensor<8x32x28x28xf32>)
    -> (tensor<8x96x28x28xf32>, tensor<8x64x28x28xf32>, tensor<16x64x28x28xf32>) {
  // CHECK: soap.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<8x64x28x28xf32>, tensor<8x32x28x28xf32>) -> tensor<8x96x28x28xf32>
  %0 = soap.concat %a, %b {axis = 1 : i64}
      : (tensor<8x64x28x28xf32>, tensor<8x32x28x28xf32>) -> tensor<8x96x28x28xf32>
  // A single input.
  // CHECK: soap.concat %{{.*}} {axis = -1 : i64} : (tensor<8x64x28x28xf32>) -> tensor<8x64x28x28xf32>
  %1 = soap.concat %a {axis = -1 : i64} : (tensor<8x64x28x28xf32>) -> tensor<8x64x28x28xf32>
  // CHECK: soap.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<8x64x28x28xf32>, tensor<8x64x28x28xf32>) -> tensor<16x64x28x28xf32>
  %2 = soap.concat %a, %a {axis = 0 : i64}
      : (tensor<8x64x28x28xf32>, tensor<8x64x28x28xf32>) -> tensor<16x64x28x28xf32>
  return %0, %1, %2 : tensor<8x96x28x28xf32>, tensor<8x64x28x28xf32>, tensor<16x64x28x28xf32>
}

// CHECK-LABEL: func.func @split
func.func @split(%qkv: tensor<8x128x2304xf32>)
    -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
        tensor<8x28x2304xf32>) {
  // CHECK: %{{.*}}:3 = soap.split %{{.*}} {axis = 2 : i64, sizes = array<i64: 768, 768, 768>} : (tensor<8x128x2304xf32>) -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>)
  %q, %k, %v = soap.split %qkv {axis = 2 : i64, sizes = array<i64: 768, 768, 768>}
      : (tensor<8x128x2304xf32>) -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>,
                                     tensor<8x128x768xf32>)
  // CHECK: %{{.*}}:2 = soap.split %{{.*}} {axis = -2 : i64, sizes = array<i64: 100, 28>} : (tensor<8x128x2304xf32>) -> (tensor<8x100x2304xf32>, tensor<8x28x2304xf32>)
  %a, %b = soap.split %qkv {axis = -2 : i64, sizes = array<i64: 100, 28>}
      : (tensor<8x128x2304xf32>) -> (tensor<8x100x2304xf32>, tensor<8x28x2304xf32>)
  return %q, %k, %v, %b : tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x28x2304xf32>
}

// CHECK-LABEL: func.func @slice
func.func @slice(%x: tensor<8x256xf32>) -> (tensor<8x128xf32>, tensor<4x85xf32>, tensor<8x128xf32>) {
  // CHECK: soap.slice %{{.*}} {ends = array<i64: 8, 128>, starts = array<i64: 0, 0>} : (tensor<8x256xf32>) -> tensor<8x128xf32>
  %0 = soap.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 8, 128>}
      : (tensor<8x256xf32>) -> tensor<8x128xf32>
  // ceil((8 - 0) / 2) = 4 and ceil((256 - 1) / 3) = 85.
  // CHECK: soap.slice %{{.*}} {ends = array<i64: 8, 256>, starts = array<i64: 0, 1>, steps = array<i64: 2, 3>} : (tensor<8x256xf32>) -> tensor<4x85xf32>
  %1 = soap.slice %x {starts = array<i64: 0, 1>, ends = array<i64: 8, 256>, steps = array<i64: 2, 3>}
      : (tensor<8x256xf32>) -> tensor<4x85xf32>
  // Backwards: elements 255, 253, ..., 1 (ceil((255 - -1) / 2) = 128).
  // CHECK: soap.slice %{{.*}} {ends = array<i64: 8, -1>, starts = array<i64: 0, 255>, steps = array<i64: 1, -2>} : (tensor<8x256xf32>) -> tensor<8x128xf32>
  %2 = soap.slice %x {starts = array<i64: 0, 255>, ends = array<i64: 8, -1>, steps = array<i64: 1, -2>}
      : (tensor<8x256xf32>) -> tensor<8x128xf32>
  return %0, %1, %2 : tensor<8x128xf32>, tensor<4x85xf32>, tensor<8x128xf32>
}

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<8x2048x7x7xf32>)
    -> (tensor<8x2048xf32>, tensor<8x2048x1x1xf32>, tensor<2048x7x7xf32>, tensor<f32>) {
  // CHECK: soap.reduce_mean %{{.*}} {axes = array<i64: 2, 3>} : (tensor<8x2048x7x7xf32>) -> tensor<8x2048xf32>
  %0 = soap.reduce_mean %x {axes = array<i64: 2, 3>} : (tensor<8x2048x7x7xf32>) -> tensor<8x2048xf32>
  // CHECK: soap.reduce_max %{{.*}} {axes = array<i64: -1, -2>, keep_dims} : (tensor<8x2048x7x7xf32>) -> tensor<8x2048x1x1xf32>
  %1 = soap.reduce_max %x {axes = array<i64: -1, -2>, keep_dims} : (tensor<8x2048x7x7xf32>) -> tensor<8x2048x1x1xf32>
  // CHECK: soap.reduce_sum %{{.*}} {axes = array<i64: 0>} : (tensor<8x2048x7x7xf32>) -> tensor<2048x7x7xf32>
  %2 = soap.reduce_sum %x {axes = array<i64: 0>} : (tensor<8x2048x7x7xf32>) -> tensor<2048x7x7xf32>
  // Every axis: a scalar.
  // CHECK: soap.reduce_sum %{{.*}} {axes = array<i64: 0, 1, 2, 3>} : (tensor<8x2048x7x7xf32>) -> tensor<f32>
  %3 = soap.reduce_sum %x {axes = array<i64: 0, 1, 2, 3>} : (tensor<8x2048x7x7xf32>) -> tensor<f32>
  return %0, %1, %2, %3 : tensor<8x2048xf32>, tensor<8x2048x1x1xf32>, tensor<2048x7x7xf32>, tensor<f32>
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<1024x512xf32>, %logits: tensor<1024x8xf32>,
               %w1: tensor<8x512x2048xf32>, %w2: tensor<8x2048x512xf32>)
    -> (tensor<1024x512xf32>, tensor<1024x512xf32>) {
  // CHECK: %[[W:.*]], %[[I:.*]] = soap.topk_gate %{{.*}} {k = 2 : i64} : (tensor<1024x8xf32>) -> (tensor<1024x2xf32>, tensor<1024x2xi64>)
  %w, %i = soap.topk_gate %logits {k = 2 : i64}
      : (tensor<1024x8xf32>) -> (tensor<1024x2xf32>, tensor<1024x2xi64>)
  // CHECK: soap.experts %{{.*}}, %[[W]], %[[I]], %{{.*}}, %{{.*}} : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>, tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
  %0 = soap.experts %x, %w, %i, %w1, %w2
      : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>,
         tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
  // CHECK: soap.experts {{.*}} {activation = 1 : i32, capacity_factor = 1.250000e+00 : f64} : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>, tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
  %1 = soap.experts %x, %w, %i, %w1, %w2 {capacity_factor = 1.25 : f64, activation = 1 : i32}
      : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>,
         tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
  return %0, %1 : tensor<1024x512xf32>, tensor<1024x512xf32>
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @losses
func.func @losses(%logits: tensor<32x1000xf32>, %labels: tensor<32xi64>,
                  %seq: tensor<8x128x50xf32>, %tok: tensor<8x128xi32>,
                  %cw: tensor<50xf32>,
                  %y: tensor<32x1xf32>, %t: tensor<32x1xf32>)
    -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  // CHECK: soap.softmax_cross_entropy %{{.*}}, %{{.*}} : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
  %0 = soap.softmax_cross_entropy %logits, %labels : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
  // CHECK: soap.softmax_cross_entropy %{{.*}}, %{{.*}} : (tensor<8x128x50xf32>, tensor<8x128xi32>) -> tensor<f32>
  %1 = soap.softmax_cross_entropy %seq, %tok : (tensor<8x128x50xf32>, tensor<8x128xi32>) -> tensor<f32>
  // CHECK: soap.softmax_cross_entropy %{{.*}}, %{{.*}} {reduction = "mean"} : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
  %m = soap.softmax_cross_entropy %logits, %labels {reduction = "mean"} : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
  // CHECK: soap.softmax_cross_entropy %{{.*}}, %{{.*}}, %{{.*}} {ignore_index = -1 : i64, reduction = "none"} : (tensor<8x128x50xf32>, tensor<8x128xi32>, tensor<50xf32>) -> tensor<8x128xf32>
  %n = soap.softmax_cross_entropy %seq, %tok, %cw {ignore_index = -1 : i64, reduction = "none"} : (tensor<8x128x50xf32>, tensor<8x128xi32>, tensor<50xf32>) -> tensor<8x128xf32>
  // CHECK: soap.softmax_cross_entropy %{{.*}}, %{{.*}}, %{{.*}} {reduction = "sum"} : (tensor<8x128x50xf32>, tensor<8x128xi32>, tensor<50xf32>) -> tensor<f32>
  %s = soap.softmax_cross_entropy %seq, %tok, %cw {reduction = "sum"} : (tensor<8x128x50xf32>, tensor<8x128xi32>, tensor<50xf32>) -> tensor<f32>
  // CHECK: soap.mse_loss %{{.*}}, %{{.*}} : (tensor<32x1xf32>, tensor<32x1xf32>) -> tensor<f32>
  %2 = soap.mse_loss %y, %t : (tensor<32x1xf32>, tensor<32x1xf32>) -> tensor<f32>
  return %0, %1, %2 : tensor<f32>, tensor<f32>, tensor<f32>
}

//===----------------------------------------------------------------------===//
// Parallel ops
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @parallel_ops
// CHECK-SAME: (%[[X:.*]]: tensor<32x256xf32>, %[[I:.*]]: tensor<32xi64>)
func.func @parallel_ops(%x: tensor<32x256xf32>, %i: tensor<32xi64>)
    -> (tensor<32x256xf32>, tensor<32xi64>) {
  // CHECK: %[[P:.*]] = soap.repartition %[[X]] dim 0 degree 4 : tensor<32x256xf32>
  %0 = soap.repartition %x dim 0 degree 4 : tensor<32x256xf32>
  // CHECK: %[[C:.*]] = soap.combine %[[P]] dim 1 degree 2 : tensor<32x256xf32>
  %1 = soap.combine %0 dim 1 degree 2 : tensor<32x256xf32>
  // CHECK: %[[R:.*]] = soap.replicate %[[C]] degree 4 : tensor<32x256xf32>
  %2 = soap.replicate %1 degree 4 : tensor<32x256xf32>
  // CHECK: %[[S:.*]] = soap.reduce %[[R]] degree 2 : tensor<32x256xf32>
  %3 = soap.reduce %2 degree 2 : tensor<32x256xf32>
  // CHECK: soap.all_reduce %[[S]] degree 8 : tensor<32x256xf32>
  %4 = soap.all_reduce %3 degree 8 : tensor<32x256xf32>
  // Degree 1 is the identity; integer tensors are fine.
  // CHECK: soap.repartition %[[I]] dim 0 degree 1 : tensor<32xi64>
  %5 = soap.repartition %i dim 0 degree 1 : tensor<32xi64>
  return %4, %5 : tensor<32x256xf32>, tensor<32xi64>
}

//===----------------------------------------------------------------------===//
// Discardable attributes on ops
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @named_and_parallel
func.func @named_and_parallel(%x: tensor<32x784xf32>) -> tensor<32x256xf32> {
  // CHECK: soap.weight "fc.w" normal {scale = 2.000000e-02 : f64, soap.name = "fc.w"} : tensor<784x256xf32>
  %w = soap.weight "fc.w" normal {scale = 0.02 : f64, soap.name = "fc.w"} : tensor<784x256xf32>
  // CHECK: soap.linear %{{.*}}, %{{.*}} {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 4, out = 2}>} : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  %y = soap.linear %x, %w {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 4, out = 2}>}
      : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  return %y : tensor<32x256xf32>
}

// Function arguments and results can carry names (model inputs, outputs).
// CHECK-LABEL: func.func @named_arguments
// CHECK-SAME: (%{{.*}}: tensor<8x16xf32> {soap.name = "images"}) -> (tensor<8x16xf32> {soap.name = "out"})
func.func @named_arguments(%x: tensor<8x16xf32> {soap.name = "images"}) -> (tensor<8x16xf32> {soap.name = "out"}) {
  return %x : tensor<8x16xf32>
}
