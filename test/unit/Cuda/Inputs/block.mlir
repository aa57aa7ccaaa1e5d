// A small transformer-like block with only the ops the CUDA backend runs
// (test/unit/Cuda/CudaTrainTest.cpp): embedding, layer_norm, a token-mixing
// matmul with softmax gating, residual adds, an MLP (linear + gelu +
// linear), the output projection and softmax cross-entropy.
//
// Batch 4, sequence 16, hidden 32, MLP 128, vocabulary 64.

func.func @block(%tokens: tensor<4x16xi64>, %targets: tensor<4x16xi64>) -> tensor<f32> {
  %wte = soap.weight "wte" normal {scale = 0.02 : f64} : tensor<64x32xf32>
  %x0 = soap.embedding %tokens, %wte {soap.name = "embed"}
      : (tensor<4x16xi64>, tensor<64x32xf32>) -> tensor<4x16x32xf32>

  %g1 = soap.weight "ln1.weight" ones : tensor<32xf32>
  %b1 = soap.weight "ln1.bias" zeros : tensor<32xf32>
  %a0 = soap.layer_norm %x0, %g1, %b1 {soap.name = "ln1"}
      : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
  %wm = soap.weight "mix.weight" normal {scale = 0.2 : f64} : tensor<32x32xf32>
  %a1 = soap.matmul %a0, %wm {soap.name = "mix"}
      : (tensor<4x16x32xf32>, tensor<32x32xf32>) -> tensor<4x16x32xf32>
  %a2 = soap.softmax %a1 {axis = -1 : i64, soap.name = "gate"} : tensor<4x16x32xf32>
  %a3 = soap.mul %a0, %a2 {soap.name = "gated"}
      : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
  %x1 = soap.add %x0, %a3 {soap.name = "residual1"}
      : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>

  %g2 = soap.weight "ln2.weight" ones : tensor<32xf32>
  %b2 = soap.weight "ln2.bias" zeros : tensor<32xf32>
  %m0 = soap.layer_norm %x1, %g2, %b2 {soap.name = "ln2"}
      : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
  %w1 = soap.weight "fc1.weight" normal {scale = 0.1 : f64} : tensor<32x128xf32>
  %c1 = soap.weight "fc1.bias" zeros : tensor<128xf32>
  %m1 = soap.linear %m0, %w1, %c1 {soap.name = "fc1"}
      : (tensor<4x16x32xf32>, tensor<32x128xf32>, tensor<128xf32>) -> tensor<4x16x128xf32>
  %m2 = soap.gelu %m1 {soap.name = "gelu"} : tensor<4x16x128xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.1 : f64} : tensor<128x32xf32>
  %c2 = soap.weight "fc2.bias" zeros : tensor<32xf32>
  %m3 = soap.linear %m2, %w2, %c2 {soap.name = "fc2"}
      : (tensor<4x16x128xf32>, tensor<128x32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
  %x2 = soap.add %x1, %m3 {soap.name = "residual2"}
      : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>

  %wh = soap.weight "head.weight" normal {scale = 0.1 : f64} : tensor<32x64xf32>
  %logits = soap.linear %x2, %wh {soap.name = "head"}
      : (tensor<4x16x32xf32>, tensor<32x64xf32>) -> tensor<4x16x64xf32>
  %loss = soap.softmax_cross_entropy %logits, %targets {soap.name = "loss"}
      : (tensor<4x16x64xf32>, tensor<4x16xi64>) -> tensor<f32>
  return %loss : tensor<f32>
}
