// The same model with a wider input: the strategy made for the 8x16 model
// is refused.
// RUN: not soap-opt %s --soap-apply-strategy=strategy=%S/Inputs/mlp.strategy.json 2>&1 | FileCheck %s
// CHECK: error: strategy '{{.*}}': the strategy is for model 'mlp' with fingerprint 710ab11e19e162fe, but this model ('mlp') has fingerprint {{[0-9a-f]+}}: it was made for a different model or shapes

func.func @mlp(%x: tensor<8x24xf32>, %labels: tensor<8xi64>) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<24x32xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<32x10xf32>
  %h = soap.linear %x, %w1 {soap.name = "fc1"} : (tensor<8x24xf32>, tensor<24x32xf32>) -> tensor<8x32xf32>
  %r = soap.relu %h : tensor<8x32xf32>
  %y = soap.linear %r, %w2 {soap.name = "fc2"} : (tensor<8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss"} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
