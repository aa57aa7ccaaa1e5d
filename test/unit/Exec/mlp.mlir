// A three-layer MLP for the pipeline semantics tests (ExecSemanticsTest):
// 16 samples, two hidden layers, a cross-entropy loss. Not a lit test
// (test/unit is excluded from the lit suite).
func.func @mlp(%x: tensor<16x8xf32> {soap.name = "x"}, %labels: tensor<16xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.3 : f64} : tensor<8x16xf32>
  %b1 = soap.weight "fc1.bias" normal {scale = 0.1 : f64} : tensor<16xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.3 : f64} : tensor<16x16xf32>
  %b2 = soap.weight "fc2.bias" normal {scale = 0.1 : f64} : tensor<16xf32>
  %w3 = soap.weight "fc3.weight" normal {scale = 0.3 : f64} : tensor<16x4xf32>
  %b3 = soap.weight "fc3.bias" zeros : tensor<4xf32>
  %h1 = soap.linear %x, %w1, %b1 {soap.name = "fc1"} : (tensor<16x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<16x16xf32>
  %r1 = soap.gelu %h1 {soap.name = "act1"} : tensor<16x16xf32>
  %h2 = soap.linear %r1, %w2, %b2 {soap.name = "fc2"} : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<16x16xf32>
  %r2 = soap.gelu %h2 {soap.name = "act2"} : tensor<16x16xf32>
  %y = soap.linear %r2, %w3, %b3 {soap.name = "fc3"} : (tensor<16x16xf32>, tensor<16x4xf32>, tensor<4xf32>) -> tensor<16x4xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss"} : (tensor<16x4xf32>, tensor<16xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
