// Without a GPU, --device cuda fails clearly (whether or not the toolkit was
// found at build time).
// UNSUPPORTED: gpu
// RUN: not soap-calibrate --device cuda --model %s 2>&1 | FileCheck %s
// CHECK: soap-calibrate: error: {{no CUDA device|this soap-calibrate was built without the CUDA toolkit}}

func.func @tiny(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %r = soap.relu %x {soap.name = "relu"} : tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
