// RUN: soap-opt %s --soap-apply-strategy=strategy=%S/Inputs/mlp.strategy.json | FileCheck %s
// RUN: not soap-opt %s --soap-apply-strategy=strategy=%S/Inputs/mlp-bad.strategy.json 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not soap-opt %s --soap-apply-strategy=strategy=%S/Inputs/missing.json 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not soap-opt %s --soap-apply-strategy 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not soap-opt %s "--soap-apply-strategy=strategy=%S/Inputs/mlp.strategy.json check-machine=1 nodes=2 devices-per-node=4" 2>&1 | FileCheck %s --check-prefix=MACHINE

// CHECK-LABEL: func.func @mlp
// Column-parallel fc1 spread over the two nodes (strides given in the file),
// row-parallel fc2 with the default contiguous view, relu placed on device 3.
// CHECK: soap.linear {{.*}} {soap.name = "fc1", soap.parallel = #soap.parallel<{batch = 2, out = 2}, strides = [1, 4]>}
// CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{}, start = 3>}
// CHECK: soap.linear {{.*}} {soap.name = "fc2", soap.parallel = #soap.parallel<{batch = 2, in = 2}>}
// CHECK: soap.softmax_cross_entropy {{.*}} {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 8}>}

// BAD-DAG: error: strategy '{{.*}}mlp-bad.strategy.json': op 'fc1': degree 3 of 'batch' does not divide its size 8
// BAD-DAG: error: strategy '{{.*}}': op 'fc2' (linear) has no dimension 'heads' (it has: batch, out, in)
// BAD-DAG: error: strategy '{{.*}}': op 'ghost' is not in the model
// BAD-DAG: error: strategy '{{.*}}': op 'loss' (softmax_cross_entropy) has no entry in the strategy
// MISSING: error: cannot read strategy file '{{.*}}missing.json'
// NOFILE: error: soap-apply-strategy needs strategy=FILE
// MACHINE: error: strategy '{{.*}}': the strategy is for a machine of 1 x 8 devices, but this machine has 2 x 4

func.func @mlp(%x: tensor<8x16xf32>, %labels: tensor<8xi64>) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<16x32xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<32x10xf32>
  %h = soap.linear %x, %w1 {soap.name = "fc1"} : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  %r = soap.relu %h : tensor<8x32xf32>
  %y = soap.linear %r, %w2 {soap.name = "fc2"} : (tensor<8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss"} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
