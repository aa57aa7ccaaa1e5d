// RUN: not soap-calibrate --device tpu --model %s 2>&1 | FileCheck %s --check-prefix=DEVICE
// RUN: not soap-calibrate --device cpu --model %t.missing.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not soap-calibrate --device cpu --model %s --machine dgx-z900 2>&1 | FileCheck %s --check-prefix=PRESET
// RUN: not soap-calibrate --device cpu --model %s --repeats 0 2>&1 | FileCheck %s --check-prefix=REPEATS

// DEVICE: soap-calibrate: error: --device must be cpu or cuda, got 'tpu'
// MISSING: soap-calibrate: error: cannot read the model
// PRESET: soap-calibrate: error: unknown machine preset 'dgx-z900'
// REPEATS: soap-calibrate: error: --repeats must be at least 1

func.func @tiny(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %r = soap.relu %x {soap.name = "relu"} : tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
