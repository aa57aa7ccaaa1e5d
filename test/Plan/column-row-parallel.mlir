// RUN: soap-opt %s --soap-materialize-parallel-ops --soap-lower-to-plan="output=- format=text" -o /dev/null | FileCheck %s

// A column-parallel linear (out = 2) feeding a row-parallel one (in = 2),
// Megatron's MLP: the column blocks are exactly the row-parallel layer's
// input blocks (no transfer), the row-parallel output is a partial sum that
// is all-reduced before the loss, and only the first `in` shard adds fc2's
// bias (its gradient is all-reduced over the two replicas).

func.func @mlp(%x: tensor<4x8xf32> {soap.name = "x"}, %labels: tensor<4xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<8x16xf32>
  %b1 = soap.weight "fc1.bias" zeros : tensor<16xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<16x4xf32>
  %b2 = soap.weight "fc2.bias" zeros : tensor<4xf32>
  %h = soap.linear %x, %w1, %b1 {soap.name = "fc1", soap.parallel = #soap.parallel<{out = 2}>} : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %r = soap.relu %h {soap.name = "relu", soap.parallel = #soap.parallel<{d1 = 2}>} : tensor<4x16xf32>
  %y = soap.linear %r, %w2, %b2 {soap.name = "fc2", soap.parallel = #soap.parallel<{in = 2}>} : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{}>} : (tensor<4x4xf32>, tensor<4xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: rank 0:
// CHECK: buffer {{[0-9]+}} fc1.weight weight f32 [8, 8] of fc1.weight [8, 16] at [0, 0]
// CHECK: buffer {{[0-9]+}} fc2.weight weight f32 [8, 4] of fc2.weight [16, 4] at [0, 0]
// CHECK: buffer {{[0-9]+}} fc2.bias weight f32 [4] of fc2.bias [4] at [0]
// CHECK: fwd fc1: linear shard 0 (x, fc1.weight, fc1.bias) -> (fc1:0)
// CHECK-NEXT: fwd relu: relu shard 0 (fc1:0) -> (relu:0)
// CHECK-NEXT: fwd fc2: linear shard 0 (relu:0, fc2.weight, fc2.bias) -> (fc2:0)
// CHECK-NEXT: fwd fc2: all_reduce comm 0 [0, 1] fc2:0  [partial-sum]
// CHECK-NEXT: fwd loss: softmax_cross_entropy shard 0 (fc2:0, labels) -> (loss:0)
// CHECK: bwd fc2: linear shard 0 (relu:0, fc2.weight, fc2.bias, grad:fc2:0) -> (grad:relu:0, grad:fc2.weight, grad:fc2.bias)
// CHECK-NEXT: bwd fc2: all_reduce comm 0 [0, 1] grad:fc2.bias  [gradient-sync]
// The column-parallel layer's input gradient is a sum over the column blocks.
// CHECK: bwd fc1: linear shard 0 (x, fc1.weight, fc1.bias, grad:fc1:0) -> (-, grad:fc1.weight, grad:fc1.bias)
// CHECK-NOT: all_reduce
// CHECK: update fc1

// CHECK-LABEL: rank 1:
// CHECK: buffer {{[0-9]+}} fc1.weight weight f32 [8, 8] of fc1.weight [8, 16] at [0, 8]
// CHECK: fwd fc2: linear shard 1 (relu:0, fc2.weight, -) -> (fc2:0)
// CHECK-NEXT: fwd fc2: all_reduce comm 0 [0, 1] fc2:0  [partial-sum]
// The loss runs on device 0 alone: rank 1 sends nothing forward.
// CHECK-NOT: fwd loss
// CHECK: bwd fc2: linear shard 1 (relu:0, fc2.weight, -, grad:fc2:0) -> (grad:relu:0, grad:fc2.weight, -)
