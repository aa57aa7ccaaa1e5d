// The bundled example models parse, verify and round-trip.
// RUN: soap-opt %soap_src_root/docs/examples/cnn.mlir | soap-opt | FileCheck %s --check-prefix=CNN
// RUN: soap-opt %soap_src_root/docs/examples/transformer_block.mlir | soap-opt | FileCheck %s --check-prefix=TF
// RUN: soap-opt %soap_src_root/docs/examples/cnn.mlir --mlir-print-op-generic | soap-opt | FileCheck %s --check-prefix=CNN
// RUN: soap-opt %soap_src_root/docs/examples/transformer_block.mlir --mlir-print-op-generic | soap-opt | FileCheck %s --check-prefix=TF

// CNN-LABEL: func.func @cnn(%{{.*}}: tensor<32x3x32x32xf32>, %{{.*}}: tensor<32xi64>) -> tensor<f32>
// CNN: %[[W1:.*]] = soap.weight "conv1.weight" kaiming_normal : tensor<16x3x3x3xf32>
// CNN: %[[C1:.*]] = soap.conv2d %{{.*}}, %[[W1]], %{{.*}} {padding = array<i64: 1, 1, 1, 1>, soap.name = "conv1"}
// CNN-SAME: -> tensor<32x16x32x32xf32>
// CNN: %[[N1:.*]] = soap.batch_norm %[[C1]], {{.*}} {soap.name = "bn1"}
// CNN: %[[R1:.*]] = soap.relu %[[N1]] {soap.name = "relu1"} : tensor<32x16x32x32xf32>
// CNN: soap.pool2d max %[[R1]] {kernel = array<i64: 2, 2>, soap.name = "pool1"} : tensor<32x16x32x32xf32> -> tensor<32x16x16x16xf32>
// CNN: soap.conv2d {{.*}}soap.name = "conv2"{{.*}} -> tensor<32x32x16x16xf32>
// CNN: soap.pool2d max {{.*}} -> tensor<32x32x8x8xf32>
// CNN: %[[F:.*]] = soap.flatten %{{.*}} {soap.name = "flatten"} : (tensor<32x32x8x8xf32>) -> tensor<32x2048xf32>
// CNN: %[[L:.*]] = soap.linear %[[F]], {{.*}} {soap.name = "fc"} {{.*}} -> tensor<32x10xf32>
// CNN: %[[LOSS:.*]] = soap.softmax_cross_entropy %[[L]], %{{.*}} {soap.name = "loss"} : (tensor<32x10xf32>, tensor<32xi64>) -> tensor<f32>
// CNN: return %[[LOSS]] : tensor<f32>

// TF-LABEL: func.func @transformer_block(%{{.*}}: tensor<8x128xi64>, %{{.*}}: tensor<8x128xi64>) -> tensor<f32>
// TF: %[[X0:.*]] = soap.embedding {{.*}} {soap.name = "embed"} : (tensor<8x128xi64>, tensor<1000x256xf32>) -> tensor<8x128x256xf32>
// TF: %[[A0:.*]] = soap.layer_norm %[[X0]], {{.*}} {soap.name = "block.ln1"}
// TF: %[[ATT:.*]] = soap.attention %[[A0]], %[[A0]], %[[A0]], {{.*}} {causal, num_heads = 4 : i64, soap.name = "block.attn"}
// TF: %[[X1:.*]] = soap.add %[[X0]], %[[ATT]] {soap.name = "block.residual1"}
// TF: soap.linear {{.*}} {soap.name = "block.mlp.fc1"} {{.*}} -> tensor<8x128x1024xf32>
// TF: soap.gelu {{.*}} {soap.name = "block.mlp.gelu"} : tensor<8x128x1024xf32>
// TF: %[[M3:.*]] = soap.linear {{.*}} {soap.name = "block.mlp.fc2"} {{.*}} -> tensor<8x128x256xf32>
// TF: soap.add %[[X1]], %[[M3]] {soap.name = "block.residual2"}
// TF: soap.softmax_cross_entropy {{.*}} {soap.name = "loss"} : (tensor<8x128x1000xf32>, tensor<8x128xi64>) -> tensor<f32>
