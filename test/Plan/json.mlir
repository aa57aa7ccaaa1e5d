// RUN: soap-opt %s --soap-lower-to-plan="output=%t.json indent=1 optimizer=adamw lr=0.001 weight-decay=0.01" -o /dev/null
// RUN: FileCheck %s < %t.json

// The JSON form: header, optimizer, weights with their initializers (values
// where the model has them), inputs, constants, outputs, communicators and
// per-rank buffers and tasks (docs/plan-format.md).

func.func @scaled(%x: tensor<4x2xf32> {soap.name = "x"}, %t: tensor<4x2xf32> {soap.name = "target"}) -> tensor<f32> {
  %w = soap.weight "w" value {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %half = soap.constant dense<0.5> : tensor<f32>
  %y = soap.linear %x, %w {soap.name = "fc", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %s = soap.mul %y, %half {soap.name = "scale", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<4x2xf32>, tensor<f32>) -> tensor<4x2xf32>
  %l = soap.mse_loss %s, %t {soap.name = "loss", soap.parallel = #soap.parallel<{batch = 2}>} : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK:      "format": "soap-plan",
// CHECK-NEXT: "version": 1,
// CHECK-NEXT: "model": {
// CHECK-NEXT:  "name": "scaled",
// CHECK-NEXT:  "fingerprint": "{{[0-9a-f]+}}"
// CHECK:      "num_ranks": 2,
// CHECK-NEXT: "optimizer": {
// CHECK-NEXT:  "kind": "adam",
// CHECK-NEXT:  "lr": 0.001,
// CHECK-NEXT:  "weight_decay": 0.01,
// CHECK-NEXT:  "beta1": 0.9,
// CHECK-NEXT:  "beta2": 0.999,
// CHECK-NEXT:  "eps": 1e-08,
// CHECK-NEXT:  "decoupled": true
// CHECK:      "weights": [
// CHECK:        "name": "w",
// CHECK:        "init": "value",
// CHECK:        "values": [
// CHECK-NEXT:    1.0,
// CHECK-NEXT:    2.0,
// CHECK-NEXT:    3.0,
// CHECK-NEXT:    4.0
// CHECK:      "inputs": [
// CHECK:        "name": "x",
// CHECK:        "role": "input"
// CHECK:        "name": "target",
// CHECK:        "role": "label"
// CHECK:      "constants": [
// CHECK:        "name": "scale.const1",
// CHECK-NEXT:   "dtype": "f32",
// CHECK-NEXT:   "shape": [],
// CHECK-NEXT:   "values": [
// CHECK-NEXT:    0.5
// CHECK:      "outputs": [
// CHECK:        "op": "loss",
// CHECK-NEXT:   "result": 0,
// CHECK-NEXT:   "holders": [
// CHECK:      "communicators": [
// CHECK-NEXT:  {
// CHECK-NEXT:   "id": 0,
// CHECK-NEXT:   "ranks": [
// CHECK-NEXT:    0,
// CHECK-NEXT:    1
// CHECK:      "ranks": [
// CHECK-NEXT:  {
// CHECK-NEXT:   "rank": 0,
// CHECK-NEXT:   "buffers": [
// CHECK:          "name": "adam_m:w",
// CHECK-NEXT:     "role": "optimizer-state",
// CHECK:          "name": "adam_v:w",
// CHECK:          "name": "scale.const1",
// CHECK-NEXT:     "role": "constant",
// CHECK:        "tasks": [
// CHECK:          "type": "kernel",
// CHECK-NEXT:     "phase": "fwd",
// CHECK-NEXT:     "op": "fc",
// CHECK-NEXT:     "stage": "forward",
// CHECK-NEXT:     "kind": "linear",
// CHECK-NEXT:     "shard": 0,
// CHECK-NEXT:     "inputs": [
// CHECK:          "kind": "mse_loss",
// CHECK:          "attrs": {
// CHECK-NEXT:      "global_count": 8
// CHECK:          "type": "collective",
// CHECK-NEXT:     "phase": "fwd",
// CHECK-NEXT:     "op": "loss",
// CHECK-NEXT:     "stage": "partial-sum",
// CHECK-NEXT:     "transfer": {{[0-9]+}},
// CHECK-NEXT:     "collective": "all_reduce",
// CHECK-NEXT:     "comm": 0,
// CHECK:          "type": "fill",
// CHECK:          "phase": "update",
// CHECK-NEXT:     "op": "fc",
// CHECK-NEXT:     "stage": "update",
// CHECK-NEXT:     "kind": "adam",
