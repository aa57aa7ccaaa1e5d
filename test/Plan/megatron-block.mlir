// RUN: soap-opt %s --soap-materialize-parallel-ops --soap-lower-to-plan="output=- format=text" -o /dev/null | FileCheck %s

// A transformer block in Megatron-LM's style on 2 devices: attention split
// by heads, the MLP's first linear by columns (out) and its second by rows
// (in); layer norms, residual adds and dropout split along the sequence
// (sequence parallelism).
func.func @megatron_block(%x: tensor<2x8x16xf32> {soap.name = "hidden"}) -> tensor<2x8x16xf32> {
  %g1 = soap.weight "ln1.weight" ones : tensor<16xf32>
  %b1 = soap.weight "ln1.bias" zeros : tensor<16xf32>
  %wq = soap.weight "attn.wq" normal {scale = 0.02 : f64} : tensor<16x16xf32>
  %wk = soap.weight "attn.wk" normal {scale = 0.02 : f64} : tensor<16x16xf32>
  %wv = soap.weight "attn.wv" normal {scale = 0.02 : f64} : tensor<16x16xf32>
  %wo = soap.weight "attn.wo" normal {scale = 0.02 : f64} : tensor<16x16xf32>
  %g2 = soap.weight "ln2.weight" ones : tensor<16xf32>
  %b2 = soap.weight "ln2.bias" zeros : tensor<16xf32>
  %w1 = soap.weight "mlp.fc1.weight" normal {scale = 0.02 : f64} : tensor<16x64xf32>
  %c1 = soap.weight "mlp.fc1.bias" zeros : tensor<64xf32>
  %w2 = soap.weight "mlp.fc2.weight" normal {scale = 0.02 : f64} : tensor<64x16xf32>
  %c2 = soap.weight "mlp.fc2.bias" zeros : tensor<16xf32>
  %h1 = soap.layer_norm %x, %g1, %b1 {soap.name = "ln1", soap.parallel = #soap.parallel<{d1 = 2}>} : (tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %a = soap.attention %h1, %h1, %h1, %wq, %wk, %wv, %wo {num_heads = 4 : i64, causal, soap.name = "attn", soap.parallel = #soap.parallel<{heads = 2}>} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %r1 = soap.add %x, %a {soap.name = "add1", soap.parallel = #soap.parallel<{d1 = 2}>} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %h2 = soap.layer_norm %r1, %g2, %b2 {soap.name = "ln2", soap.parallel = #soap.parallel<{d1 = 2}>} : (tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %f1 = soap.linear %h2, %w1, %c1 {soap.name = "mlp.fc1", soap.parallel = #soap.parallel<{out = 2}>} : (tensor<2x8x16xf32>, tensor<16x64xf32>, tensor<64xf32>) -> tensor<2x8x64xf32>
  %ge = soap.gelu %f1 {soap.name = "mlp.gelu", soap.parallel = #soap.parallel<{d2 = 2}>} : tensor<2x8x64xf32>
  %f2 = soap.linear %ge, %w2, %c2 {soap.name = "mlp.fc2", soap.parallel = #soap.parallel<{in = 2}>} : (tensor<2x8x64xf32>, tensor<64x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %d = soap.dropout %f2 {ratio = 0.1 : f64, soap.name = "mlp.dropout", soap.parallel = #soap.parallel<{d1 = 2}>} : tensor<2x8x16xf32>
  %r2 = soap.add %r1, %d {soap.name = "add2", soap.parallel = #soap.parallel<{d1 = 2}>} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return %r2 : tensor<2x8x16xf32>
}

// CHECK-LABEL: rank 0:
// Head-parallel attention: each rank holds half the heads (columns of wq,
// wk, wv; rows of wo) and needs the whole sequence, gathered from the
// sequence-parallel layer norm; key and value are the same tensor in the
// same layout and share one buffer.
// CHECK: buffer {{[0-9]+}} attn.wq weight f32 [16, 8] of attn.wq [16, 16] at [0, 0]
// CHECK: buffer {{[0-9]+}} attn.wo weight f32 [8, 16] of attn.wo [16, 16] at [0, 0]
// CHECK: fwd ln1: layer_norm shard 0 (hidden, ln1.weight, ln1.bias) -> (ln1:0)
// CHECK-NEXT: fwd attn: copy ln1:0[0:2, 0:4, 0:16] -> attn.in0[0:2, 0:4, 0:16]  [transfer]
// CHECK-NEXT: fwd attn: recv attn.in0[0:2, 4:8, 0:16] = rank 1 tag 0  [transfer]
// CHECK-NEXT: fwd attn: send ln1:0[0:2, 0:4, 0:16] to rank 1 tag 0  [transfer]
// CHECK: fwd attn: attention shard 0 (attn.in0, attn.in1, attn.in1, attn.wq, attn.wk, attn.wv, attn.wo) -> (attn:0, attn.saved) {causal = true, num_heads = 2, query_offset = 0}
// The heads' partial sums are added, then cut along the sequence.
// CHECK-NEXT: fwd attn: all_reduce comm 0 [0, 1] attn:0  [partial-sum]
// CHECK-NEXT: fwd add1: copy attn:0[0:2, 0:4, 0:16] -> add1.in1[0:2, 0:4, 0:16]  [transfer]
// CHECK: fwd mlp.fc1: linear shard 0 (mlp.fc1.in0, mlp.fc1.weight, mlp.fc1.bias) -> (mlp.fc1:0)
// CHECK-NEXT: fwd mlp.gelu: gelu shard 0 (mlp.fc1:0) -> (mlp.gelu:0)
// CHECK-NEXT: fwd mlp.fc2: linear shard 0 (mlp.gelu:0, mlp.fc2.weight, mlp.fc2.bias) -> (mlp.fc2:0)
// CHECK-NEXT: fwd mlp.fc2: all_reduce comm 0 [0, 1] mlp.fc2:0  [partial-sum]
// Dropout draws its mask from global element indices.
// CHECK: fwd mlp.dropout: dropout shard 0 (mlp.dropout.in0) -> (mlp.dropout:0) {global_shape = [2, 8, 16], offset = [0, 0, 0], ratio = 0.1, salt = 7, seed = 0}
// Backward: the returned value's gradient is one; the replicated inputs of
// the column-parallel layer and of the attention have their gradients
// summed over the tensor-parallel ranks; the sequence-parallel layer
// norms' weights are all-reduced.
// CHECK: bwd add2: fill grad:add2:0 = 1  [backward]
// CHECK: bwd mlp.fc1: all_reduce comm 0 [0, 1] grad:mlp.fc1.in0  [gradient-transfer]
// CHECK: bwd ln2: all_reduce comm 0 [0, 1] grad:ln2.weight  [gradient-sync]
// CHECK: bwd attn: attention shard 0 ({{.*}}attn.saved, grad:attn:0) -> (grad:attn.in0, grad:attn.in1, grad:attn.in1, grad:attn.wq, grad:attn.wk, grad:attn.wv, grad:attn.wo)
// CHECK-NEXT: bwd attn: all_reduce comm 0 [0, 1] grad:attn.in0  [gradient-transfer]
// CHECK: update attn: sgd shard 0 (attn.wq, grad:attn.wq, momentum:attn.wq)

// CHECK-LABEL: rank 1:
// CHECK: fwd attn: attention shard 1 ({{.*}}) -> (attn:0, attn.saved) {causal = true, num_heads = 2, query_offset = 0}
// CHECK: fwd mlp.dropout: dropout shard 1 (mlp.dropout.in0) -> (mlp.dropout:0) {global_shape = [2, 8, 16], offset = [0, 4, 0], ratio = 0.1, salt = 7, seed = 0}
