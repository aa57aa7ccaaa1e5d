// soap-calibrate times the shard kernels of a tiny model on this CPU: one
// kernel per distinct shard shape of the candidate configs (degrees 1 and 2
// of each dim here). --kernels proxy: GEMMs through OpenBLAS, the rest as
// streaming kernels; the default (runtime): the runtime's own kernels, plus
// the optimizer update of every weighted shard for SGD, momentum and Adam
// (with ",concurrent=2" where two shards update at once on a host with two
// or more cores). The machine it writes runs its tasks in order.
// RUN: soap-calibrate --device cpu --kernels proxy --model %s --repeats 1 --warmup 0 --sweep=false --max-devices 2 -o %t.json --emit-machine %t.machine.json 2>%t.log
// RUN: FileCheck %s --input-file %t.json
// RUN: FileCheck %s --check-prefix=LOG --input-file %t.log
// RUN: FileCheck %s --check-prefix=MACHINE --input-file %t.machine.json
// RUN: soap-calibrate --device cpu --model %s --repeats 2 --warmup 1 --sweep=false --max-devices 2 --nodes 1 -o %t.rt.json --emit-machine %t.rt.machine.json 2>%t.rt.log
// RUN: FileCheck %s --check-prefix=RT --input-file %t.rt.json
// RUN: FileCheck %s --check-prefix=RTLOG --input-file %t.rt.log
// RUN: FileCheck %s --check-prefix=RTMACHINE --input-file %t.rt.machine.json
// RUN: not soap-calibrate --device cuda --kernels runtime --model %s 2>&1 | FileCheck %s --check-prefix=RTCUDA
// RUN: not soap-calibrate --kernels fast --model %s 2>&1 | FileCheck %s --check-prefix=BADKIND

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

// RT: "kind": "linear"
// RT: "shapes": "f32[4x16],f32[16x4]->f32[4x4]"
// RT: "method": "soap runtime kernels"
// RT: "forward_samples_s": [
// RT-NEXT: {{[0-9.e-]+}},
// RT-NEXT: {{[0-9.e-]+}}
// RT: "kind": "mse_loss"
// RT: "method": "soap runtime kernels"
// RT: "kind": "relu"
// RT: "method": "soap runtime kernels"
// Updates (kind "update", after relu in key order): adam, momentum, sgd.
// RT: "kind": "update",
// RT-NEXT: "attributes": "optimizer=adam
// RT: "attributes": "optimizer=momentum",
// RT-NEXT: "shapes": "f32[16x4]->f32[16x4]",
// RT: "method": "soap runtime kernels",
// RT: "forward_s":
// RT: "attributes": "optimizer=sgd
// The runtime's all-reduce, 4 KiB to 32 MiB over 2 ranks (and more where
// the host has the cores).
// RT: "all_reduce": [
// RT-NEXT: {
// RT-NEXT: "devices": 2,
// RT-NEXT: "bytes": 4096,
// RT: "bytes": 33554432,

// RTLOG: soap-calibrate: 9 shard kernels of 3 ops on
// RTLOG: fc f32[8x16],f32[16x4]->f32[8x4]: forward {{.*}} us, backward {{.*}} us (soap runtime kernels)
// RTLOG-NEXT: fc update (optimizer=sgd) f32[16x4]->f32[16x4]: {{[0-9.e+-]+}} us
// RTLOG-NEXT: fc update (optimizer=momentum) f32[16x4]->f32[16x4]: {{[0-9.e+-]+}} us
// RTLOG-NEXT: fc update (optimizer=adam) f32[16x4]->f32[16x4]: {{[0-9.e+-]+}} us
// RTLOG: all-reduce over 2 ranks: 64 KiB {{[0-9.e+-]+}} us, 1 MiB {{[0-9.e+-]+}} us, 16 MiB {{[0-9.e+-]+}} us
// RTLOG: soap-calibrate: {{18|21}} kernels;

// RTMACHINE: "name": "shared-memory"
// RTMACHINE: "source": "set by soap-calibrate (--kernels runtime) so that all-reduces over {{[0-9]+}} devices of 64 KiB and 1 MiB take what the runtime's thread collective measured here
// RTMACHINE: "communication_occupies_devices": true,
// RTMACHINE-NEXT: "in_order_execution": true

// RTCUDA: error: --kernels runtime times the CPU runtime's kernels; use --kernels proxy with --device cuda
// BADKIND: error: --kernels must be runtime or proxy, got 'fast'

// MACHINE: "name": "cpu-host"
// MACHINE: "peak_flops": {
// MACHINE: "measured by soap-calibrate on
// MACHINE: "in_order_execution": true

func.func @tiny(%x: tensor<8x16xf32>, %t: tensor<8x4xf32>) -> tensor<f32> {
  %w = soap.weight "fc.weight" normal {scale = 0.02 : f64} : tensor<16x4xf32>
  %y = soap.linear %x, %w {soap.name = "fc"} : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  %r = soap.relu %y {soap.name = "relu"} : tensor<8x4xf32>
  %l = soap.mse_loss %r, %t {soap.name = "loss"} : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
