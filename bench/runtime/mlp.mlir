// A 3-layer MLP for the runtime benchmark (bench/runtime): 784 -> 1024 ->
// 1024 -> 10, ReLU, softmax cross-entropy; batch 128.
func.func @mlp(%x: tensor<128x784xf32> {soap.name = "x"},
               %labels: tensor<128xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" kaiming_normal : tensor<784x1024xf32>
  %b1 = soap.weight "fc1.bias" zeros : tensor<1024xf32>
  %h1 = soap.linear %x, %w1, %b1 {soap.name = "fc1"}
      : (tensor<128x784xf32>, tensor<784x1024xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
  %r1 = soap.relu %h1 {soap.name = "relu1"} : tensor<128x1024xf32>
  %w2 = soap.weight "fc2.weight" kaiming_normal : tensor<1024x1024xf32>
  %b2 = soap.weight "fc2.bias" zeros : tensor<1024xf32>
  %h2 = soap.linear %r1, %w2, %b2 {soap.name = "fc2"}
      : (tensor<128x1024xf32>, tensor<1024x1024xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
  %r2 = soap.relu %h2 {soap.name = "relu2"} : tensor<128x1024xf32>
  %w3 = soap.weight "fc3.weight" xavier_uniform : tensor<1024x10xf32>
  %b3 = soap.weight "fc3.bias" zeros : tensor<10xf32>
  %logits = soap.linear %r2, %w3, %b3 {soap.name = "fc3"}
      : (tensor<128x1024xf32>, tensor<1024x10xf32>, tensor<10xf32>) -> tensor<128x10xf32>
  %loss = soap.softmax_cross_entropy %logits, %labels {soap.name = "loss"}
      : (tensor<128x10xf32>, tensor<128xi64>) -> tensor<f32>
  return %loss : tensor<f32>
}
