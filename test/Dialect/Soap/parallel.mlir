// RUN: soap-opt %s | soap-opt | FileCheck %s
// RUN: soap-opt %s --mlir-print-op-generic | soap-opt | FileCheck %s

// #soap.parallel round trip: the printer leaves out what the parser would
// assume (start = 0 and the contiguous row-major strides).

// CHECK-LABEL: func.func @defaults_omitted
func.func @defaults_omitted(%x: tensor<32x784xf32>, %w: tensor<784x256xf32>)
    -> (tensor<32x256xf32>, tensor<32x256xf32>, tensor<32x256xf32>) {
  // CHECK: soap.linear {{.*}} {soap.parallel = #soap.parallel<{batch = 4, out = 2}>}
  %0 = soap.linear %x, %w {soap.parallel = #soap.parallel<{batch = 4, out = 2}>}
      : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  // Written out, start = 0 and contiguous strides [2, 1] print the same.
  // CHECK: soap.linear {{.*}} {soap.parallel = #soap.parallel<{batch = 4, out = 2}>}
  %1 = soap.linear %x, %w {soap.parallel = #soap.parallel<{batch = 4, out = 2}, start = 0, strides = [2, 1]>}
      : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  // Strides alone, contiguous too.
  // CHECK: soap.linear {{.*}} {soap.parallel = #soap.parallel<{in = 8}>}
  %2 = soap.linear %x, %w {soap.parallel = #soap.parallel<{in = 8}, strides = [1]>}
      : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
  return %0, %1, %2 : tensor<32x256xf32>, tensor<32x256xf32>, tensor<32x256xf32>
}

// CHECK-LABEL: func.func @views
func.func @views(%x: tensor<32x256xf32>) -> (tensor<32x256xf32>, tensor<32x256xf32>,
                                            tensor<32x256xf32>, tensor<32x256xf32>) {
  // A start device only.
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{batch = 8}, start = 8>}
  %0 = soap.relu %x {soap.parallel = #soap.parallel<{batch = 8}, start = 8>} : tensor<32x256xf32>
  // Non-contiguous strides: the column split across nodes of 8.
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{batch = 4, d1 = 2}, start = 8, strides = [1, 8]>}
  %1 = soap.relu %0 {soap.parallel = #soap.parallel<{batch = 4, d1 = 2}, start = 8, strides = [1, 8]>} : tensor<32x256xf32>
  // Every other device.
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{batch = 4}, strides = [2]>}
  %2 = soap.relu %1 {soap.parallel = #soap.parallel<{batch = 4}, strides = [2]>} : tensor<32x256xf32>
  // Degree 1 and no dimension at all: one device.
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{batch = 1}, start = 3>}
  %3 = soap.relu %2 {soap.parallel = #soap.parallel<{batch = 1}, start = 3>} : tensor<32x256xf32>
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{}>}
  %4 = soap.relu %3 {soap.parallel = #soap.parallel<{}>} : tensor<32x256xf32>
  return %1, %2, %3, %4 : tensor<32x256xf32>, tensor<32x256xf32>, tensor<32x256xf32>, tensor<32x256xf32>
}

// CHECK-LABEL: func.func @quoted_names
func.func @quoted_names(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
  // Dimension names that are keywords print bare, others quoted; both parse.
  // CHECK: soap.relu {{.*}} {soap.parallel = #soap.parallel<{batch = 2, d1 = 2}>}
  %0 = soap.relu %x {soap.parallel = #soap.parallel<{"batch" = 2, d1 = 2}>} : tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// Outside an op's soap.parallel, the attribute checks only itself.
// CHECK-LABEL: func.func @standalone
// CHECK-SAME: attributes {view = #soap.parallel<{"my dim" = 2, x.y = 3}, start = 1, strides = [1, 2]>}
func.func @standalone() attributes {view = #soap.parallel<{"my dim" = 2, "x.y" = 3}, start = 1, strides = [1, 2]>} {
  return
}

// CHECK-LABEL: func.func @on_every_kind
func.func @on_every_kind(%img: tensor<8x3x32x32xf32>, %w: tensor<16x3x3x3xf32>,
                         %g: tensor<16xf32>, %b: tensor<16xf32>,
                         %seq: tensor<8x128x64xf32>, %wa: tensor<64x64xf32>)
    -> (tensor<8x16x30x30xf32>, tensor<8x128x64xf32>) {
  // CHECK: soap.conv2d {{.*}} {soap.name = "conv1", soap.parallel = #soap.parallel<{batch = 2, cout = 2, h = 3, cin = 3}>}
  %0 = soap.conv2d %img, %w {soap.name = "conv1", soap.parallel = #soap.parallel<{batch = 2, cout = 2, h = 3, cin = 3}>}
      : (tensor<8x3x32x32xf32>, tensor<16x3x3x3xf32>) -> tensor<8x16x30x30xf32>
  // CHECK: soap.batch_norm {{.*}} {soap.parallel = #soap.parallel<{c = 4, w = 2}>}
  %1 = soap.batch_norm %0, %g, %b {soap.parallel = #soap.parallel<{c = 4, w = 2}>}
      : (tensor<8x16x30x30xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<8x16x30x30xf32>
  // CHECK: soap.attention {{.*}} {num_heads = 8 : i64, soap.parallel = #soap.parallel<{batch = 2, seq = 2, heads = 4}>}
  %2 = soap.attention %seq, %seq, %seq, %wa, %wa, %wa, %wa {num_heads = 8 : i64, soap.parallel = #soap.parallel<{batch = 2, seq = 2, heads = 4}>}
      : (tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>) -> tensor<8x128x64xf32>
  return %1, %2 : tensor<8x16x30x30xf32>, tensor<8x128x64xf32>
}

// An attribute alias keeps its value through the round trip.
#dp4 = #soap.parallel<{batch = 4}, start = 4>
// CHECK-LABEL: func.func @alias
func.func @alias(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
  // CHECK: soap.gelu {{.*}} {soap.parallel = #soap.parallel<{batch = 4}, start = 4>}
  %0 = soap.gelu %x {soap.parallel = #dp4} : tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}
