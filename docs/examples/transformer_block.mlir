// One pre-norm transformer block (GPT-2 style, small) with its token
// embedding and a language-model loss, one training step: embedding,
// layer_norm, multi-head causal attention, residual add, layer_norm, MLP
// (linear + gelu + linear), residual add, final layer_norm, output
// projection and softmax cross-entropy against the next tokens.
//
// Batch 8, sequence 128, hidden 256, 4 heads, MLP 1024, vocabulary 1000.
//
//   soap-opt docs/examples/transformer_block.mlir

func.func @transformer_block(%tokens: tensor<8x128xi64>, %targets: tensor<8x128xi64>) -> tensor<f32> {
  %wte = soap.weight "wte" normal {scale = 0.02 : f64} : tensor<1000x256xf32>
  %x0 = soap.embedding %tokens, %wte {soap.name = "embed"}
      : (tensor<8x128xi64>, tensor<1000x256xf32>) -> tensor<8x128x256xf32>

  // Attention sublayer: x1 = x0 + attention(layer_norm(x0)).
  %g1 = soap.weight "block.ln1.weight" ones : tensor<256xf32>
  %b1 = soap.weight "block.ln1.bias" zeros : tensor<256xf32>
  %a0 = soap.layer_norm %x0, %g1, %b1 {soap.name = "block.ln1"}
      : (tensor<8x128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
  %wq = soap.weight "block.attn.wq" normal {scale = 0.02 : f64} : tensor<256x256xf32>
  %wk = soap.weight "block.attn.wk" normal {scale = 0.02 : f64} : tensor<256x256xf32>
  %wv = soap.weight "block.attn.wv" normal {scale = 0.02 : f64} : tensor<256x256xf32>
  %wo = soap.weight "block.attn.wo" normal {scale = 0.02 : f64} : tensor<256x256xf32>
  %bq = soap.weight "block.attn.bq" zeros : tensor<256xf32>
  %bk = soap.weight "block.attn.bk" zeros : tensor<256xf32>
  %bv = soap.weight "block.attn.bv" zeros : tensor<256xf32>
  %bo = soap.weight "block.attn.bo" zeros : tensor<256xf32>
  %att = soap.attention %a0, %a0, %a0, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
      {num_heads = 4 : i64, causal, soap.name = "block.attn"}
      : (tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>,
         tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>,
         tensor<256x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<256xf32>,
         tensor<256xf32>) -> tensor<8x128x256xf32>
  %x1 = soap.add %x0, %att {soap.name = "block.residual1"}
      : (tensor<8x128x256xf32>, tensor<8x128x256xf32>) -> tensor<8x128x256xf32>

  // MLP sublayer: x2 = x1 + fc2(gelu(fc1(layer_norm(x1)))).
  %g2 = soap.weight "block.ln2.weight" ones : tensor<256xf32>
  %b2 = soap.weight "block.ln2.bias" zeros : tensor<256xf32>
  %m0 = soap.layer_norm %x1, %g2, %b2 {soap.name = "block.ln2"}
      : (tensor<8x128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
  %w1 = soap.weight "block.mlp.fc1.weight" normal {scale = 0.02 : f64} : tensor<256x1024xf32>
  %c1 = soap.weight "block.mlp.fc1.bias" zeros : tensor<1024xf32>
  %m1 = soap.linear %m0, %w1, %c1 {soap.name = "block.mlp.fc1"}
      : (tensor<8x128x256xf32>, tensor<256x1024xf32>, tensor<1024xf32>) -> tensor<8x128x1024xf32>
  %m2 = soap.gelu %m1 {soap.name = "block.mlp.gelu"} : tensor<8x128x1024xf32>
  %w2 = soap.weight "block.mlp.fc2.weight" normal {scale = 0.02 : f64} : tensor<1024x256xf32>
  %c2 = soap.weight "block.mlp.fc2.bias" zeros : tensor<256xf32>
  %m3 = soap.linear %m2, %w2, %c2 {soap.name = "block.mlp.fc2"}
      : (tensor<8x128x1024xf32>, tensor<1024x256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
  %x2 = soap.add %x1, %m3 {soap.name = "block.residual2"}
      : (tensor<8x128x256xf32>, tensor<8x128x256xf32>) -> tensor<8x128x256xf32>

  // Head: final layer norm, projection to the vocabulary, next-token loss.
  %gf = soap.weight "ln_f.weight" ones : tensor<256xf32>
  %bf = soap.weight "ln_f.bias" zeros : tensor<256xf32>
  %y = soap.layer_norm %x2, %gf, %bf {soap.name = "ln_f"}
      : (tensor<8x128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
  %wh = soap.weight "lm_head.weight" normal {scale = 0.02 : f64} : tensor<256x1000xf32>
  %logits = soap.linear %y, %wh {soap.name = "lm_head"}
      : (tensor<8x128x256xf32>, tensor<256x1000xf32>) -> tensor<8x128x1000xf32>
  %loss = soap.softmax_cross_entropy %logits, %targets {soap.name = "loss"}
      : (tensor<8x128x1000xf32>, tensor<8x128xi64>) -> tensor<f32>
  return %loss : tensor<f32>
}
