// On a GPU: cuBLAS GEMMs and device copies, keyed by the machine's device
// type.
// REQUIRES: gpu, cuda-toolkit
// RUN: soap-calibrate --device cuda --machine dgx-h100 --model %s --repeats 3 --sweep=false --max-devices 2 -o %t.json --quiet
// RUN: FileCheck %s --input-file %t.json
// CHECK: "type": "H100-SXM5-80GB"
// CHECK: "kind": "cuda"
// CHECK: "kind": "linear"
// CHECK: "method": "gemm"

func.func @tiny(%x: tensor<256x1024xf32>, %t: tensor<256x1024xf32>) -> tensor<f32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<1024x1024xf32>
  %y = soap.linear %x, %w {soap.name = "fc"} : (tensor<256x1024xf32>, tensor<1024x1024xf32>) -> tensor<256x1024xf32>
  %l = soap.mse_loss %y, %t {soap.name = "loss"} : (tensor<256x1024xf32>, tensor<256x1024xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
