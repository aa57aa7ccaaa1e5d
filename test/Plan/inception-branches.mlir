// RUN: soap-opt %s --soap-materialize-parallel-ops --soap-lower-to-plan="output=- format=text" -o /dev/null | FileCheck %s

// An Inception-like block whose three branches run on different devices
// (the O of SOAP): a 1x1 convolution on device 0, a 3x3 convolution on
// device 1, a 3x3 max pool on device 2; the concatenation and the rest on
// device 0.
func.func @inception(%x: tensor<2x4x8x8xf32> {soap.name = "images"}, %labels: tensor<2xi64> {soap.name = "labels"}) -> tensor<f32> {
  %wa = soap.weight "branch1x1.weight" kaiming_normal : tensor<4x4x1x1xf32>
  %wb = soap.weight "branch3x3.weight" kaiming_normal : tensor<4x4x3x3xf32>
  %wf = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<12x10xf32>
  %a = soap.conv2d %x, %wa {soap.name = "branch1x1", soap.parallel = #soap.parallel<{}>} : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x8x8xf32>
  %b = soap.conv2d %x, %wb {padding = array<i64: 1, 1, 1, 1>, soap.name = "branch3x3", soap.parallel = #soap.parallel<{}, start = 1>} : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  %c = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, soap.name = "branch_pool", soap.parallel = #soap.parallel<{}, start = 2>} : tensor<2x4x8x8xf32> -> tensor<2x4x8x8xf32>
  %cat = soap.concat %a, %b, %c {axis = 1 : i64, soap.name = "concat", soap.parallel = #soap.parallel<{}>} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x12x8x8xf32>
  %p = soap.reduce_mean %cat {axes = array<i64: 2, 3>, soap.name = "avgpool", soap.parallel = #soap.parallel<{}>} : (tensor<2x12x8x8xf32>) -> tensor<2x12xf32>
  %y = soap.linear %p, %wf {soap.name = "fc", soap.parallel = #soap.parallel<{}>} : (tensor<2x12xf32>, tensor<12x10xf32>) -> tensor<2x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{}>} : (tensor<2x10xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK: plan inception ({{[0-9a-f]+}}): 3 ranks
// No collective: every op runs on one device.
// CHECK-NOT: comm 0
// CHECK-LABEL: rank 0:
// CHECK: fwd branch1x1: conv2d shard 0 (images, branch1x1.weight) -> (branch1x1:0)
// CHECK-NEXT: fwd concat: recv concat.in1[0:2, 0:4, 0:8, 0:8] = rank 1 tag 0  [transfer]
// CHECK-NEXT: fwd concat: recv concat.in2[0:2, 0:4, 0:8, 0:8] = rank 2 tag 0  [transfer]
// CHECK-NEXT: fwd concat: concat shard 0 (branch1x1:0, concat.in1, concat.in2) -> (concat:0) {axis = 1}
// CHECK: bwd concat: concat shard 0 (branch1x1:0, concat.in1, concat.in2, grad:concat:0) -> (grad:branch1x1:0, grad:concat.in1, grad:concat.in2)
// CHECK-NEXT: bwd concat: send grad:concat.in1[0:2, 0:4, 0:8, 0:8] to rank 1 tag 0  [gradient-transfer]
// CHECK-NEXT: bwd concat: send grad:concat.in2[0:2, 0:4, 0:8, 0:8] to rank 2 tag 0  [gradient-transfer]
// CHECK-NEXT: bwd branch1x1: conv2d shard 0

// CHECK-LABEL: rank 1:
// CHECK-NEXT: buffer 0 branch3x3.weight weight
// CHECK: fwd branch3x3: conv2d shard 0 (images, branch3x3.weight) -> (branch3x3:0) {{{.*}}padding = [1, 1, 1, 1]
// CHECK-NEXT: fwd concat: send branch3x3:0[0:2, 0:4, 0:8, 0:8] to rank 0 tag 0  [transfer]
// CHECK-NEXT: bwd concat: recv grad:branch3x3:0[0:2, 0:4, 0:8, 0:8] += rank 0 tag 0  [gradient-transfer]
// CHECK-NEXT: bwd branch3x3: conv2d shard 0 (images, branch3x3.weight, grad:branch3x3:0) -> (-, grad:branch3x3.weight)
// CHECK-NEXT: update branch3x3: sgd

// CHECK-LABEL: rank 2:
// CHECK-NOT: weight
// CHECK: fwd branch_pool: pool2d shard 0 (images) -> (branch_pool:0) {count_include_pad = false, kernel = [3, 3], kind = max, padding = [1, 1, 1, 1], strides = [1, 1]}
// CHECK-NEXT: fwd concat: send branch_pool:0[0:2, 0:4, 0:8, 0:8] to rank 0 tag 0  [transfer]
// CHECK-NEXT: bwd concat: recv grad:branch_pool:0[0:2, 0:4, 0:8, 0:8] += rank 0 tag 0  [gradient-transfer]
