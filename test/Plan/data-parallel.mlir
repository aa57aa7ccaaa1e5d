// RUN: soap-opt %s --soap-lower-to-plan="output=- format=text" -o /dev/null | FileCheck %s

// Data parallelism over 4 devices: every rank loads its quarter of the batch,
// holds a replica of the weights, all-reduces the weight gradients over the
// 4 replicas and updates its replica; the loss (a partial sum of each
// shard's samples, divided by the global count) is all-reduced.

func.func @mlp(%x: tensor<8x16xf32> {soap.name = "x"}, %labels: tensor<8xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x10xf32>
  %b = soap.weight "fc.bias" zeros : tensor<10xf32>
  %y = soap.linear %x, %w, %b {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 4}>} : (tensor<8x16xf32>, tensor<16x10xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 4}>} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK: plan mlp ({{[0-9a-f]+}}): 4 ranks, sgd lr 0.01
// CHECK-NEXT: input x f32 [8, 16]
// CHECK-NEXT: label labels i64 [8] range 10
// CHECK-NEXT: weight fc.weight f32 [16, 10] normal 0.02
// CHECK-NEXT: weight fc.bias f32 [10] zeros 0
// CHECK-NEXT: comm 0 [0, 1, 2, 3]
// CHECK-NOT: comm 1

// CHECK-LABEL: rank 2:
// CHECK: buffer 0 fc.weight weight f32 [16, 10] of fc.weight [16, 10] at [0, 0]
// CHECK: buffer {{[0-9]+}} x input f32 [2, 16] of x [8, 16] at [4, 0]
// CHECK: buffer {{[0-9]+}} labels label i64 [2] of labels [8] at [4]
// CHECK-NEXT: buffer {{[0-9]+}} loss:0 activation f32 [] of loss:0 [] at []
// CHECK: fwd fc: linear shard 2 (x, fc.weight, fc.bias) -> (fc:0) flops 660
// CHECK-NEXT: fwd loss: softmax_cross_entropy shard 2 (fc:0, labels) -> (loss:0) {global_count = 8} flops 120
// CHECK-NEXT: fwd loss: all_reduce comm 0 [0, 1, 2, 3] loss:0  [partial-sum]
// CHECK-NEXT: bwd loss: fill grad:loss:0 = 1  [backward]
// CHECK-NEXT: bwd loss: softmax_cross_entropy shard 2 (fc:0, labels, grad:loss:0) -> (grad:fc:0, -)
// CHECK-NEXT: bwd fc: linear shard 2 (x, fc.weight, fc.bias, grad:fc:0) -> (-, grad:fc.weight, grad:fc.bias)
// CHECK-NEXT: bwd fc: all_reduce comm 0 [0, 1, 2, 3] grad:fc.weight  [gradient-sync]
// CHECK-NEXT: bwd fc: all_reduce comm 0 [0, 1, 2, 3] grad:fc.bias  [gradient-sync]
// CHECK-NEXT: update fc: sgd shard 2 (fc.weight, grad:fc.weight, momentum:fc.weight) -> (fc.weight, momentum:fc.weight)
// CHECK-NEXT: update fc: sgd shard 2 (fc.bias, grad:fc.bias, momentum:fc.bias) -> (fc.bias, momentum:fc.bias)
// No point-to-point transfer: the layouts agree.
// CHECK-NOT: {{send|recv|copy}}
