// RUN: soap-opt %s -split-input-file -verify-diagnostics --soap-lower-to-plan="output=%t.json ranks=2"
// RUN: not soap-opt %s -split-input-file --soap-lower-to-plan 2>&1 | FileCheck %s --check-prefix=NOOUT
// RUN: not soap-opt %s -split-input-file "--soap-lower-to-plan=output=%t.json optimizer=lamb" 2>&1 | FileCheck %s --check-prefix=OPT

// NOOUT: error: soap-lower-to-plan needs output=FILE ('-' for stdout)
// OPT: error: unknown optimizer 'lamb' (sgd, adam, adamw)

// A compute op without a config.
func.func @missing(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  // expected-error @+1 {{'soap.relu' op has no 'soap.parallel' config (op 'b'); run soap-apply-strategy first, or attach one}}
  %b = soap.relu %a {soap.name = "b"} : tensor<4x8xf32>
  return %b : tensor<4x8xf32>
}

// -----

// A config the plan's kernels cannot run: an LSTM split along its hidden
// units needs the hidden state gathered at every step.
func.func @lstm_hidden(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %wih = soap.weight "w_ih" normal {scale = 0.1 : f64} : tensor<4x16xf32>
  %whh = soap.weight "w_hh" normal {scale = 0.1 : f64} : tensor<4x16xf32>
  // expected-error @+1 {{'soap.lstm' op cannot be lowered to a plan: op 'lstm' (lstm): splitting 'hidden' needs the hidden state gathered every time step}}
  %h = soap.lstm %x, %wih, %whh {soap.name = "lstm", soap.parallel = #soap.parallel<{hidden = 2}>} : (tensor<2x3x4xf32>, tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<2x3x4xf32>
  return %h : tensor<2x3x4xf32>
}

// -----

// Materialized parallel ops that do not give the consumer its layout.
func.func @inconsistent(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = soap.repartition %x dim 1 degree 2 : tensor<4x8xf32>
  // expected-error @+1 {{'soap.relu' op operand #0 is sharded [1, 2] but the op's config #soap.parallel<{batch = 2}> needs [2, 1]; soap-materialize-parallel-ops inserts the parallel ops that convert it}}
  %a = soap.relu %p {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

// More ranks needed than given.
// expected-error @+1 {{the configs use 4 devices, but ranks=2}}
module {
  func.func @too_few(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %a = soap.relu %x {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}, start = 2>} : tensor<4x8xf32>
    return %a : tensor<4x8xf32>
  }
}
