// soap-calibrate times the shard kernels of a tiny model on this CPU: one
// kernel per distinct shard shape of the candidate configs (degrees 1 and 2
// of each dim here), GEMMs through OpenBLAS, the rest as streaming kernels.
// RUN: soap-calibrate --device cpu --model %s --repeats 1 --warmup 0 --sweep=false --max-devices 2 -o %t.json --emit-machine %t.machine.json 2>%t.log
// RUN: FileCheck %s --input-file %t.json
// RUN: FileCheck %s --check-prefix=LOG --input-file %t.log
// RUN: FileCheck %s --check-prefix=MACHINE --input-file %t.machine.json

// CHECK: "format": "soap-profile"
// CHECK: "type": "cpu-core"
// CHECK: "kind": "cpu"
// CHECK: "repeats": 1
// CHECK-NEXT: "warmup": 0
// CHECK-NEXT: "statistic": "median"
// CHECK: "kernels": [
// Linear: batch split, out split, whole, in split (in key order).
// CHECK: "kind": "linear"
// CHECK: "shapes": "f32[4x16],f32[16x4]->f32[4x4]"
// CHECK: "method": "gemm"
// CHECK: "forward_s":
// CHECK: "forward_samples_s": [
// CHECK: "backward_s":
// CHECK: "shapes": "f32[8x16],f32[16x2]->f32[8x2]"
// CHECK: "shapes": "f32[8x16],f32[16x4]->f32[8x4]"
// CHECK: "shapes": "f32[8x8],f32[8x4]->f32[8x4]"
// CHECK: "kind": "mse_loss"
// CHECK: "method": "stream"
// CHECK: "kind": "relu"
// CHECK: "gemm": [
// CHECK: "bandwidth": [

// LOG: soap-calibrate: 9 shard kernels of 3 ops on
// LOG: fc f32[8x16],f32[16x4]->f32[8x4]: forward {{.*}} us, backward {{.*}} us (gemm)
// LOG: soap-calibrate: 9 kernels; best GEMM

// MACHINE: "name": "cpu-host"
// MACHINE: "peak_flops": {
// MACHINE: "measured by soap-calibrate on

func.func @tiny(%x: tensor<8x16xf32>, %t: tensor<8x4xf32>) -> tensor<f32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x4xf32>
  %y = soap.linear %x, %w {soap.name = "fc"} : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  %r = soap.relu %y {soap.name = "relu"} : tensor<8x4xf32>
  %l = soap.mse_loss %r, %t {soap.name = "loss"} : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
