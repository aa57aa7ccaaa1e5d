// RUN: soap-opt %s -split-input-file -verify-diagnostics --soap-lower-to-plan="output=%t.json"

// What the plan lowering refuses of a pipeline, located at the op (or at
// the function for a malformed soap.pipeline).

// Batch norm normalizes by the batch's statistics: micro-batches would
// change them.
func.func @bn(%x: tensor<4x2x3x3xf32>) -> tensor<4x2x3x3xf32>
    attributes {soap.pipeline = {micro_batches = 2 : i64, schedule = "1f1b", stages = []}} {
  %g = soap.weight "bn.weight" ones : tensor<2xf32>
  %b = soap.weight "bn.bias" zeros : tensor<2xf32>
  // expected-error @+1 {{'soap.batch_norm' op cannot be lowered to a plan: op 'bn' (batch_norm): with 2 micro-batches batch norm would normalize each micro-batch by its own statistics, not the batch's (use micro_batches 1)}}
  %y = soap.batch_norm %x, %g, %b {soap.name = "bn", soap.parallel = #soap.parallel<{}>} : (tensor<4x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2x3x3xf32>
  return %y : tensor<4x2x3x3xf32>
}

// -----

// 4 samples split in 2 by the config do not make 4 micro-batches.
func.func @indivisible(%x: tensor<4x8xf32>) -> tensor<4x8xf32>
    attributes {soap.pipeline = {micro_batches = 4 : i64, schedule = "gpipe", stages = []}} {
  // expected-error @+1 {{'soap.relu' op cannot be lowered to a plan: op 'a' (relu): its sample dim 'batch' (4) does not divide into 4 micro-batches x degree 2}}
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

// An op of stage 1 placed on stage 0's device.
func.func @outside(%x: tensor<4x8xf32>) -> tensor<4x8xf32>
    attributes {soap.pipeline = {micro_batches = 2 : i64, schedule = "gpipe",
                stages = [{first = "a", last = "a", start = 0 : i64, count = 1 : i64},
                          {first = "b", last = "b", start = 1 : i64, count = 1 : i64}]}} {
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{}>} : tensor<4x8xf32>
  // expected-error @+1 {{'soap.relu' op cannot be lowered to a plan: op 'b' of pipeline stage 1 runs on device 0, outside the stage's devices 1..1}}
  %b = soap.relu %a {soap.name = "b", soap.parallel = #soap.parallel<{}>} : tensor<4x8xf32>
  return %b : tensor<4x8xf32>
}

// -----

// A reshape that folds the batch into another axis reads its operand
// whole: the micro-batches of its producer cannot feed it.
func.func @fold(%x: tensor<4x2x8xf32>) -> tensor<8x8xf32>
    attributes {soap.pipeline = {micro_batches = 2 : i64, schedule = "gpipe", stages = []}} {
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{}>} : tensor<4x2x8xf32>
  // expected-error @+1 {{'soap.reshape' op cannot be lowered to a plan: op 'r' (reshape) reads 'a:0' whole, but its producer's micro-batches give it split along axis 0: the two ops' sample dims do not agree, so the tensor cannot be cut into 2 micro-batches}}
  %r = soap.reshape %a {soap.name = "r", soap.parallel = #soap.parallel<{}>} : tensor<4x2x8xf32> -> tensor<8x8xf32>
  return %r : tensor<8x8xf32>
}

// -----

// expected-error @+1 {{'soap.pipeline': unknown schedule 'zigzag' (gpipe, 1f1b)}}
func.func @schedule(%x: tensor<4x8xf32>) -> tensor<4x8xf32>
    attributes {soap.pipeline = {micro_batches = 2 : i64, schedule = "zigzag", stages = []}} {
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{}>} : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

// expected-error @+1 {{'soap.pipeline': stage op 'nope' is not an op of the model}}
func.func @unknown(%x: tensor<4x8xf32>) -> tensor<4x8xf32>
    attributes {soap.pipeline = {micro_batches = 1 : i64, schedule = "gpipe",
                stages = [{first = "a", last = "nope", start = 0 : i64, count = 1 : i64}]}} {
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{}>} : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}
