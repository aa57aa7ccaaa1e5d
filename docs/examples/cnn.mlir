// A small CNN for 32x32 RGB images (CIFAR-10 sized), one training step:
// two blocks of conv2d + batch_norm + relu + max pooling, a classifier, and
// the loss. The function's arguments are the data and the labels; the
// weights are named soap.weight ops; every compute op has a stable
// soap.name, the key of strategies and plans.
//
//   soap-opt docs/examples/cnn.mlir

func.func @cnn(%images: tensor<32x3x32x32xf32>, %labels: tensor<32xi64>) -> tensor<f32> {
  // Block 1: 3 -> 16 channels, 32x32 -> 16x16.
  %w1 = soap.weight "conv1.weight" kaiming_normal : tensor<16x3x3x3xf32>
  %b1 = soap.weight "conv1.bias" zeros : tensor<16xf32>
  %g1 = soap.weight "bn1.weight" ones : tensor<16xf32>
  %h1 = soap.weight "bn1.bias" zeros : tensor<16xf32>
  %c1 = soap.conv2d %images, %w1, %b1 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv1"}
      : (tensor<32x3x32x32xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<32x16x32x32xf32>
  %n1 = soap.batch_norm %c1, %g1, %h1 {soap.name = "bn1"}
      : (tensor<32x16x32x32xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<32x16x32x32xf32>
  %r1 = soap.relu %n1 {soap.name = "relu1"} : tensor<32x16x32x32xf32>
  %p1 = soap.pool2d max %r1 {kernel = array<i64: 2, 2>, soap.name = "pool1"}
      : tensor<32x16x32x32xf32> -> tensor<32x16x16x16xf32>

  // Block 2: 16 -> 32 channels, 16x16 -> 8x8.
  %w2 = soap.weight "conv2.weight" kaiming_normal : tensor<32x16x3x3xf32>
  %b2 = soap.weight "conv2.bias" zeros : tensor<32xf32>
  %g2 = soap.weight "bn2.weight" ones : tensor<32xf32>
  %h2 = soap.weight "bn2.bias" zeros : tensor<32xf32>
  %c2 = soap.conv2d %p1, %w2, %b2 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv2"}
      : (tensor<32x16x16x16xf32>, tensor<32x16x3x3xf32>, tensor<32xf32>) -> tensor<32x32x16x16xf32>
  %n2 = soap.batch_norm %c2, %g2, %h2 {soap.name = "bn2"}
      : (tensor<32x32x16x16xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<32x32x16x16xf32>
  %r2 = soap.relu %n2 {soap.name = "relu2"} : tensor<32x32x16x16xf32>
  %p2 = soap.pool2d max %r2 {kernel = array<i64: 2, 2>, soap.name = "pool2"}
      : tensor<32x32x16x16xf32> -> tensor<32x32x8x8xf32>

  // Classifier: 32 * 8 * 8 = 2048 features -> 10 classes.
  %f = soap.flatten %p2 {soap.name = "flatten"} : (tensor<32x32x8x8xf32>) -> tensor<32x2048xf32>
  %wf = soap.weight "fc.weight" xavier_uniform : tensor<2048x10xf32>
  %bf = soap.weight "fc.bias" zeros : tensor<10xf32>
  %logits = soap.linear %f, %wf, %bf {soap.name = "fc"}
      : (tensor<32x2048xf32>, tensor<2048x10xf32>, tensor<10xf32>) -> tensor<32x10xf32>
  %loss = soap.softmax_cross_entropy %logits, %labels {soap.name = "loss"}
      : (tensor<32x10xf32>, tensor<32xi64>) -> tensor<f32>
  return %loss : tensor<f32>
}
