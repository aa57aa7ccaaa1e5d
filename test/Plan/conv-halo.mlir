// RUN: soap-opt %s --soap-materialize-parallel-ops --soap-lower-to-plan="output=- format=text" -o %t.mlir | FileCheck %s
// RUN: FileCheck %s --check-prefix=IR < %t.mlir

// Two 3x3 convolutions split over the height on 2 devices: each shard reads
// one row of its neighbour's rows (the halo), received before the kernel,
// and sends back that row's gradient (accumulated) after the backward. The
// kernels get the padding of their own edges only.

// IR-LABEL: func.func @convh
// IR: %[[C1:.*]] = soap.conv2d {{.*}}soap.name = "conv1"
// IR: %[[R1:.*]] = soap.relu %[[C1]]
// IR: %[[H:.*]] = soap.repartition %[[R1]] dim 2 degree 1 {halo = array<i64: 2, 1, 1, 3>}
// IR: soap.conv2d %[[H]], {{.*}}soap.name = "conv2"

// CHECK-LABEL: rank 0:
// The first conv's shard loads image rows 0..4 (its 4 rows and one halo row).
// CHECK: buffer {{[0-9]+}} images input f32 [2, 3, 5, 8] of images [2, 3, 8, 8] at [0, 0, 0, 0]
// CHECK: buffer {{[0-9]+}} conv2.in0 activation f32 [2, 4, 5, 8] of relu1:0 [2, 4, 8, 8] at [0, 0, 0, 0]
// CHECK: fwd conv1: conv2d shard 0 (images, conv1.weight) -> (conv1:0) {{{.*}}padding = [1, 1, 0, 1]{{.*}}}
// CHECK: fwd relu1: relu shard 0 (conv1:0) -> (relu1:0)
// CHECK-NEXT: fwd conv2: copy relu1:0[0:2, 0:4, 0:4, 0:8] -> conv2.in0[0:2, 0:4, 0:4, 0:8]  [transfer]
// CHECK-NEXT: fwd conv2: recv conv2.in0[0:2, 0:4, 4:5, 0:8] = rank 1 tag 0  [transfer]
// CHECK-NEXT: fwd conv2: send relu1:0[0:2, 0:4, 3:4, 0:8] to rank 1 tag 0  [transfer]
// CHECK-NEXT: fwd conv2: conv2d shard 0 (conv2.in0, conv2.weight) -> (conv2:0) {{{.*}}padding = [1, 1, 0, 1]{{.*}}}
// CHECK: bwd conv2: conv2d shard 0 (conv2.in0, conv2.weight, grad:conv2:0) -> (grad:conv2.in0, grad:conv2.weight)
// CHECK-NEXT: bwd conv2: copy grad:conv2.in0[0:2, 0:4, 0:4, 0:8] +-> grad:relu1:0[0:2, 0:4, 0:4, 0:8]  [gradient-transfer]
// CHECK-NEXT: bwd conv2: recv grad:relu1:0[0:2, 0:4, 3:4, 0:8] += rank 1 tag 3  [gradient-transfer]
// CHECK-NEXT: bwd conv2: send grad:conv2.in0[0:2, 0:4, 4:5, 0:8] to rank 1 tag 3  [gradient-transfer]
// CHECK-NEXT: bwd conv2: all_reduce comm 0 [0, 1] grad:conv2.weight  [gradient-sync]

// CHECK-LABEL: rank 1:
// CHECK: buffer {{[0-9]+}} images input f32 [2, 3, 5, 8] of images [2, 3, 8, 8] at [0, 0, 3, 0]
// CHECK: fwd conv1: conv2d shard 1 (images, conv1.weight) -> (conv1:0) {{{.*}}padding = [0, 1, 1, 1]{{.*}}}
// CHECK: fwd conv2: send relu1:0[0:2, 0:4, 4:5, 0:8] to rank 0 tag 0  [transfer]
// CHECK-NEXT: fwd conv2: recv conv2.in0[0:2, 0:4, 3:4, 0:8] = rank 0 tag 0  [transfer]
// CHECK-NEXT: fwd conv2: copy relu1:0[0:2, 0:4, 4:8, 0:8] -> conv2.in0[0:2, 0:4, 4:8, 0:8]  [transfer]
// CHECK-NEXT: fwd conv2: conv2d shard 1 (conv2.in0, conv2.weight) -> (conv2:0) {{{.*}}padding = [0, 1, 1, 1]{{.*}}}

func.func @convh(%x: tensor<2x3x8x8xf32> {soap.name = "images"}, %labels: tensor<2xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w1 = soap.weight "conv1.weight" kaiming_normal : tensor<4x3x3x3xf32>
  %w2 = soap.weight "conv2.weight" kaiming_normal : tensor<4x4x3x3xf32>
  %wf = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<256x10xf32>
  %c1 = soap.conv2d %x, %w1 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv1", soap.parallel = #soap.parallel<{h = 2}>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
  %r1 = soap.relu %c1 {soap.name = "relu1", soap.parallel = #soap.parallel<{d2 = 2}>} : tensor<2x4x8x8xf32>
  %c2 = soap.conv2d %r1, %w2 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv2", soap.parallel = #soap.parallel<{h = 2}>} : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  %f = soap.flatten %c2 {soap.name = "flatten", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x4x8x8xf32>) -> tensor<2x256xf32>
  %y = soap.linear %f, %wf {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x256xf32>, tensor<256x10xf32>) -> tensor<2x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x10xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
