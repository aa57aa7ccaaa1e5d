// RUN: soap-opt %s --split-input-file --soap-lower-to-plan="output=- format=text" -o /dev/null | FileCheck %s
// RUN: soap-opt %s --split-input-file --soap-lower-to-plan="output=%t.json" -o /dev/null

// Two stages (fc1, act on device 0; fc2, loss on device 1), 2 micro-batches,
// GPipe. Micro-batch j reads rows [2j, 2j+2) of x and labels; the
// activation moves to stage 1 in stage 1's forward unit; gradients flow
// back in stage 1's backward units; each stage updates its weights after
// its last backward; the loss adds up in loss:0.total.

func.func @mlp(%x: tensor<4x8xf32> {soap.name = "x"}, %labels: tensor<4xi64> {soap.name = "labels"}) -> tensor<f32>
    attributes {soap.pipeline = {micro_batches = 2 : i64, schedule = "gpipe",
                stages = [{first = "fc1", last = "act", start = 0 : i64, count = 1 : i64},
                          {first = "fc2", last = "loss", start = 1 : i64, count = 1 : i64}]}} {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<8x16xf32>
  %b1 = soap.weight "fc1.bias" zeros : tensor<16xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<16x4xf32>
  %b2 = soap.weight "fc2.bias" zeros : tensor<4xf32>
  %h = soap.linear %x, %w1, %b1 {soap.name = "fc1", soap.parallel = #soap.parallel<{}, start = 0>} : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %r = soap.relu %h {soap.name = "act", soap.parallel = #soap.parallel<{}, start = 0>} : tensor<4x16xf32>
  %y = soap.linear %r, %w2, %b2 {soap.name = "fc2", soap.parallel = #soap.parallel<{}, start = 1>} : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{}, start = 1>} : (tensor<4x4xf32>, tensor<4xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: rank 0:
// CHECK: buffer {{[0-9]+}} grad:fc1.weight gradient f32 [8, 16]
// CHECK: buffer {{[0-9]+}} x@0 input f32 [2, 8] of x [4, 8] at [0, 0]
// CHECK: buffer {{[0-9]+}} x@1 input f32 [2, 8] of x [4, 8] at [2, 0]
// CHECK: fwd fc1: linear shard 0 (x@0, fc1.weight, fc1.bias) -> (fc1:0@0) flops 544
// CHECK-NEXT: fwd act: relu shard 0 (fc1:0@0) -> (act:0@0)
// CHECK-NEXT: fwd fc2: send act:0@0[0:2, 0:16] to rank 1 tag 0  [transfer]
// CHECK-NEXT: fwd fc1: linear shard 0 (x@1, fc1.weight, fc1.bias) -> (fc1:0@1)
// CHECK-NEXT: fwd act: relu shard 0 (fc1:0@1) -> (act:0@1)
// CHECK-NEXT: fwd fc2: send act:0@1[2:4, 0:16] to rank 1 tag 1  [transfer]
// CHECK-NEXT: bwd fc2: recv grad:act:0@0[0:2, 0:16] += rank 1 tag 0  [gradient-transfer]
// CHECK-NEXT: bwd act: relu
// CHECK-NEXT: bwd fc1: linear shard 0 (x@0, fc1.weight, fc1.bias, grad:fc1:0@0) -> (-, grad:fc1.weight, grad:fc1.bias)
// CHECK-NEXT: bwd fc2: recv grad:act:0@1[2:4, 0:16] += rank 1 tag 1  [gradient-transfer]
// CHECK-NEXT: bwd act: relu
// CHECK-NEXT: bwd fc1: linear shard 0 (x@1, fc1.weight, fc1.bias, grad:fc1:0@1) -> (-, grad:fc1.weight, grad:fc1.bias)
// CHECK-NEXT: update fc1: sgd
// CHECK-LABEL: rank 1:
// CHECK: buffer {{[0-9]+}} loss:0.total activation f32 [] of loss:0 [] at []
// CHECK: fwd fc2: recv fc2.in0@0[0:2, 0:16] = rank 0 tag 0  [transfer]
// CHECK-NEXT: fwd fc2: linear
// CHECK-NEXT: fwd loss: softmax_cross_entropy shard 0 (fc2:0@0, labels@0) -> (loss:0@0) {global_count = 4}
// CHECK-NEXT: fwd loss: copy loss:0@0[] -> loss:0.total[]  [partial-sum]
// CHECK: fwd loss: copy loss:0@1[] +-> loss:0.total[]  [partial-sum]
// CHECK-NEXT: bwd loss: fill grad:loss:0@0 = 1
// CHECK: bwd fc2: send grad:fc2.in0@0[0:2, 0:16] to rank 0 tag 0
// CHECK-NEXT: bwd loss: fill grad:loss:0@1 = 1
// CHECK: bwd fc2: send grad:fc2.in0@1[2:4, 0:16] to rank 0 tag 1
// CHECK-NEXT: update fc2: sgd

// -----

// 1F1B, 4 micro-batches: stage 0 runs one warm-up forward, then alternates
// (F0 F1 B0 F2 B1 F3 B2 B3); stage 1 alternates from the start.

func.func @mlp(%x: tensor<4x8xf32> {soap.name = "x"}, %labels: tensor<4xi64> {soap.name = "labels"}) -> tensor<f32>
    attributes {soap.pipeline = {micro_batches = 4 : i64, schedule = "1f1b",
                stages = [{first = "fc1", last = "act", start = 0 : i64, count = 1 : i64},
                          {first = "fc2", last = "loss", start = 1 : i64, count = 1 : i64}]}} {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<8x16xf32>
  %b1 = soap.weight "fc1.bias" zeros : tensor<16xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<16x4xf32>
  %b2 = soap.weight "fc2.bias" zeros : tensor<4xf32>
  %h = soap.linear %x, %w1, %b1 {soap.name = "fc1", soap.parallel = #soap.parallel<{}, start = 0>} : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %r = soap.relu %h {soap.name = "act", soap.parallel = #soap.parallel<{}, start = 0>} : tensor<4x16xf32>
  %y = soap.linear %r, %w2, %b2 {soap.name = "fc2", soap.parallel = #soap.parallel<{}, start = 1>} : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{}, start = 1>} : (tensor<4x4xf32>, tensor<4xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: rank 0:
// CHECK: fwd fc1: linear shard 0 (x@0,
// CHECK: fwd fc1: linear shard 0 (x@1,
// CHECK: bwd fc1: linear shard 0 (x@0,
// CHECK: fwd fc1: linear shard 0 (x@2,
// CHECK: bwd fc1: linear shard 0 (x@1,
// CHECK: fwd fc1: linear shard 0 (x@3,
// CHECK: bwd fc1: linear shard 0 (x@2,
// CHECK: bwd fc1: linear shard 0 (x@3,
// CHECK-NEXT: update fc1
// CHECK-LABEL: rank 1:
// CHECK: fwd fc2: linear shard 0 (fc2.in0@0,
// CHECK: bwd fc2: linear shard 0 (fc2.in0@0,
// CHECK: fwd fc2: linear shard 0 (fc2.in0@1,
// CHECK: bwd fc2: linear shard 0 (fc2.in0@1,
// CHECK: fwd fc2: linear shard 0 (fc2.in0@2,
// CHECK: bwd fc2: linear shard 0 (fc2.in0@2,
// CHECK: fwd fc2: linear shard 0 (fc2.in0@3,
// CHECK: bwd fc2: linear shard 0 (fc2.in0@3,
