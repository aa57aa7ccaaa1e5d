// An MLP whose hidden activations are masked by booleans computed in the
// step: comparisons, logical ops, a dropout mask and a boolean constant. The
// masks carry no gradient; the gradient reaches fc1 through the product.
// (ExecSemanticsTest.BooleanMasks trains it on 1, 2 and 4 ranks.)
func.func @masked_mlp(%x: tensor<16x32xf32>, %target: tensor<16x8xf32>) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" xavier_uniform : tensor<32x64xf32>
  %b1 = soap.weight "fc1.bias" uniform {scale = 0.1 : f64} : tensor<64xf32>
  %h = soap.linear %x, %w1, %b1 {soap.name = "fc1"}
      : (tensor<16x32xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %zero = soap.constant dense<0.0> : tensor<f32>
  %half = soap.constant dense<0.5> : tensor<64xf32>
  %pos = soap.greater %h, %zero {soap.name = "positive"}
      : (tensor<16x64xf32>, tensor<f32>) -> tensor<16x64xi1>
  %small = soap.less_equal %h, %half {soap.name = "small"}
      : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xi1>
  %band = soap.and %pos, %small {soap.name = "band"}
      : (tensor<16x64xi1>, tensor<16x64xi1>) -> tensor<16x64xi1>
  %drop = soap.dropout_mask %h {ratio = 0.25 : f64, seed = 7 : i64, soap.name = "drop"}
      : tensor<16x64xf32> -> tensor<16x64xi1>
  %kept = soap.and %band, %drop {soap.name = "kept"}
      : (tensor<16x64xi1>, tensor<16x64xi1>) -> tensor<16x64xi1>
  %big = soap.greater_equal %h, %half {soap.name = "big"}
      : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xi1>
  %even = soap.constant dense<[true, false]> : tensor<2xi1>
  %evens = soap.reshape %even : tensor<2xi1> -> tensor<1x2xi1>
  %cols = soap.concat %evens, %evens, %evens, %evens, %evens, %evens, %evens, %evens,
      %evens, %evens, %evens, %evens, %evens, %evens, %evens, %evens,
      %evens, %evens, %evens, %evens, %evens, %evens, %evens, %evens,
      %evens, %evens, %evens, %evens, %evens, %evens, %evens, %evens {axis = 1 : i64, soap.name = "cols"}
      : (tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>,
         tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>, tensor<1x2xi1>) -> tensor<1x64xi1>
  %bigEven = soap.xor %big, %cols {soap.name = "big_even"}
      : (tensor<16x64xi1>, tensor<1x64xi1>) -> tensor<16x64xi1>
  %any = soap.or %kept, %bigEven {soap.name = "any"}
      : (tensor<16x64xi1>, tensor<16x64xi1>) -> tensor<16x64xi1>
  %same = soap.equal %h, %h {soap.name = "same"}
      : (tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xi1>
  %notSame = soap.not %same {soap.name = "not_same"} : tensor<16x64xi1>
  %mask = soap.xor %any, %notSame {soap.name = "mask"}
      : (tensor<16x64xi1>, tensor<16x64xi1>) -> tensor<16x64xi1>
  %k = soap.cast %mask {soap.name = "mask_f32"} : tensor<16x64xi1> to tensor<16x64xf32>
  %y = soap.mul %h, %k {soap.name = "masked"}
      : (tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
  %w2 = soap.weight "fc2.weight" xavier_uniform : tensor<64x8xf32>
  %z = soap.linear %y, %w2 {soap.name = "fc2"}
      : (tensor<16x64xf32>, tensor<64x8xf32>) -> tensor<16x8xf32>
  %loss = soap.mse_loss %z, %target {soap.name = "loss"}
      : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}
