// RUN: soap-opt %s -split-input-file --soap-materialize-parallel-ops | FileCheck %s
// The pass is idempotent and its result verifies.
// RUN: soap-opt %s -split-input-file --soap-materialize-parallel-ops --soap-materialize-parallel-ops --soap-verify-parallel-ops | FileCheck %s

// Data parallelism: inputs cut along the batch, weights replicated, the
// loss's partial sums all-reduced before it is returned.
func.func @data_parallel(%x: tensor<8x16xf32>, %labels: tensor<8xi64>) -> tensor<f32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x10xf32>
  %b = soap.weight "fc.bias" zeros : tensor<10xf32>
  %y = soap.linear %x, %w, %b {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 4}>} : (tensor<8x16xf32>, tensor<16x10xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 4}>} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @data_parallel
// CHECK-SAME: (%[[X:.*]]: tensor<8x16xf32>, %[[L:.*]]: tensor<8xi64>)
// CHECK: %[[W:.*]] = soap.weight "fc.weight"
// CHECK: %[[B:.*]] = soap.weight "fc.bias"
// CHECK: %[[XS:.*]] = soap.repartition %[[X]] dim 0 degree 4 : tensor<8x16xf32>
// CHECK: %[[WR:.*]] = soap.replicate %[[W]] degree 4 : tensor<16x10xf32>
// CHECK: %[[BR:.*]] = soap.replicate %[[B]] degree 4 : tensor<10xf32>
// CHECK: %[[Y:.*]] = soap.linear %[[XS]], %[[WR]], %[[BR]]
// CHECK: %[[LS:.*]] = soap.repartition %[[L]] dim 0 degree 4 : tensor<8xi64>
// CHECK: %[[LOSS:.*]] = soap.softmax_cross_entropy %[[Y]], %[[LS]]
// CHECK: %[[SUM:.*]] = soap.all_reduce %[[LOSS]] degree 4 : tensor<f32>
// CHECK: return %[[SUM]]

// -----

// Column-parallel linear (out = 2) whose consumer needs the whole rows: the
// two column blocks are combined.
func.func @column_parallel(%x: tensor<8x16xf32>) -> tensor<8x32xf32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x32xf32>
  %y = soap.linear %x, %w {soap.name = "fc", soap.parallel = #soap.parallel<{out = 2}>} : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  %s = soap.softmax %y {soap.name = "softmax", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<8x32xf32>
  return %s : tensor<8x32xf32>
}

// CHECK-LABEL: func.func @column_parallel
// CHECK-SAME: (%[[X:.*]]: tensor<8x16xf32>)
// CHECK: %[[W:.*]] = soap.weight
// CHECK: %[[XR:.*]] = soap.replicate %[[X]] degree 2
// CHECK: %[[WS:.*]] = soap.repartition %[[W]] dim 1 degree 2 : tensor<16x32xf32>
// CHECK: %[[Y:.*]] = soap.linear %[[XR]], %[[WS]]
// CHECK: %[[G:.*]] = soap.combine %[[Y]] dim 1 degree 2 : tensor<8x32xf32>
// CHECK: %[[C:.*]] = soap.repartition %[[G]] dim 0 degree 2 : tensor<8x32xf32>
// CHECK: soap.softmax %[[C]]

// -----

// Row-parallel linear (in = 2): the input is cut along its columns, the
// weight along its rows, and the partial sums are added before use.
func.func @row_parallel(%x: tensor<8x16xf32>) -> tensor<8x32xf32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x32xf32>
  %b = soap.weight "fc.bias" zeros : tensor<32xf32>
  %y = soap.linear %x, %w, %b {soap.name = "fc", soap.parallel = #soap.parallel<{in = 2}>} : (tensor<8x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
  %r = soap.relu %y {soap.name = "relu", soap.parallel = #soap.parallel<{d1 = 2}>} : tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// CHECK-LABEL: func.func @row_parallel
// CHECK-SAME: (%[[X:.*]]: tensor<8x16xf32>)
// CHECK: %[[W:.*]] = soap.weight "fc.weight"
// CHECK: %[[B:.*]] = soap.weight "fc.bias"
// CHECK: %[[XS:.*]] = soap.repartition %[[X]] dim 1 degree 2 : tensor<8x16xf32>
// CHECK: %[[WS:.*]] = soap.repartition %[[W]] dim 0 degree 2 : tensor<16x32xf32>
// CHECK: %[[BR:.*]] = soap.replicate %[[B]] degree 2 : tensor<32xf32>
// CHECK: %[[Y:.*]] = soap.linear %[[XS]], %[[WS]], %[[BR]]
// The partial sums are added, then cut along the relu's columns (a
// reduce-scatter).
// CHECK: %[[R:.*]] = soap.reduce %[[Y]] degree 2 : tensor<8x32xf32>
// CHECK: %[[S:.*]] = soap.repartition %[[R]] dim 1 degree 2 : tensor<8x32xf32>
// CHECK: soap.relu %[[S]]

// -----

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

// Head-parallel attention: each rank holds half the heads (columns of wq,
// wk, wv; rows of wo) and needs the whole sequence, gathered from the
// sequence-parallel layer norm; key and value are the same tensor in the
// same layout and share one buffer.
// The heads' partial sums are added, then cut along the sequence.
// Dropout draws its mask from global element indices.
// Backward: the returned value's gradient is one; the replicated inputs of
// the column-parallel layer and of the attention have their gradients
// summed over the tensor-parallel ranks; the sequence-parallel layer
// norms' weights are all-reduced.

// CHECK-LABEL: func.func @megatron_block
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>
// CHECK: %[[XS:.*]] = soap.repartition %[[X]] dim 1 degree 2
// CHECK: %[[H1:.*]] = soap.layer_norm %[[XS]]
// The sequence is gathered for the head-parallel attention, whose weights
// are cut by columns (wq, wk, wv) and rows (wo).
// CHECK: %[[G:.*]] = soap.combine %[[H1]] dim 1 degree 2
// CHECK: %[[GR:.*]] = soap.replicate %[[G]] degree 2
// CHECK: %[[WQ:.*]] = soap.repartition %{{.*}} dim 1 degree 2 : tensor<16x16xf32>
// CHECK: %[[WK:.*]] = soap.repartition %{{.*}} dim 1 degree 2 : tensor<16x16xf32>
// CHECK: %[[WV:.*]] = soap.repartition %{{.*}} dim 1 degree 2 : tensor<16x16xf32>
// CHECK: %[[WO:.*]] = soap.repartition %{{.*}} dim 0 degree 2 : tensor<16x16xf32>
// CHECK: %[[A:.*]] = soap.attention %[[GR]], %[[GR]], %[[GR]], %[[WQ]], %[[WK]], %[[WV]], %[[WO]]
// CHECK: %[[AR:.*]] = soap.reduce %[[A]] degree 2
// CHECK: %[[AS:.*]] = soap.repartition %[[AR]] dim 1 degree 2
// CHECK: %[[R1:.*]] = soap.add %[[XS]], %[[AS]]
// CHECK: soap.linear {{.*}}soap.name = "mlp.fc1"
// CHECK-NEXT: soap.gelu
// CHECK: %[[F2:.*]] = soap.linear {{.*}}soap.name = "mlp.fc2"
// CHECK: %[[F2R:.*]] = soap.reduce %[[F2]] degree 2
// CHECK: %[[F2S:.*]] = soap.repartition %[[F2R]] dim 1 degree 2
// CHECK: soap.dropout %[[F2S]]

// -----

// Two 3x3 convolutions split over the height on 2 devices: each shard reads
// one row of its neighbour's rows (the halo), received before the kernel,
// and sends back that row's gradient (accumulated) after the backward. The
// kernels get the padding of their own edges only.


// The first conv's shard loads image rows 0..4 (its 4 rows and one halo row).


func.func @convh(%x: tensor<2x3x8x8xf32> {soap.name = "images"}, %labels: tensor<2xi64> {soap.name = "labels"}) -> tensor<f32> {
  %w1 = soap.weight "conv1.weight" kaiming_normal : tensor<4x3x3x3xf32>
  %w2 = soap.weight "conv2.weight" kaiming_normal : tensor<4x4x3x3xf32>
  %wf = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<256x10xf32>
  %c1 = soap.conv2d %x, %w1 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv1", soap.parallel = #soap.parallel<{h = 2}>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
  %r1 = soap.relu %c1 {soap.name = "relu1", soap.parallel = #soap.parallel<{d2 = 2}>} : tensor<2x4x8x8xf32>
  %c2 = soap.conv2d %r1, %w2 {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv2", soap.parallel = #soap.parallel<{h = 2}>} : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  %f = soap.flatten %c2 {soap.name = "flatten", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x4x8x8xf32>) -> tensor<2x256xf32>
  %y = soap.linear %f, %wf {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x256xf32>, tensor<256x10xf32>) -> tensor<2x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<2x10xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @convh
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8x8xf32>
// The images are cut along the height into 2 windows of the 3x3 conv
// (stride 1, padding 1, span 3): each piece has a row of its neighbour's.
// CHECK: %[[XH:.*]] = soap.repartition %[[X]] dim 2 degree 1 {halo = array<i64: 2, 1, 1, 3>}
// CHECK: %[[C1:.*]] = soap.conv2d %[[XH]]
// CHECK: %[[R1:.*]] = soap.relu %[[C1]]
// Between the convs, the relu's pieces exchange their halo rows.
// CHECK: %[[RH:.*]] = soap.repartition %[[R1]] dim 2 degree 1 {halo = array<i64: 2, 1, 1, 3>}
// CHECK: %[[C2:.*]] = soap.conv2d %[[RH]]
// CHECK: %[[G:.*]] = soap.combine %[[C2]] dim 2 degree 2
// CHECK: %[[B:.*]] = soap.repartition %[[G]] dim 0 degree 2
// CHECK: soap.flatten %[[B]]

// -----

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

// No collective: every op runs on one device.

// Branches on different devices, each op unsplit: the shardings agree
// (one piece each), so nothing is inserted; placement is the plan's
// business.
// CHECK-LABEL: func.func @inception
// CHECK-NOT: soap.repartition
// CHECK-NOT: soap.combine
// CHECK-NOT: soap.replicate
// CHECK: return
