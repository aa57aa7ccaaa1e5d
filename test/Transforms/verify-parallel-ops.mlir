// RUN: soap-opt %s -split-input-file -verify-diagnostics --soap-verify-parallel-ops
// RUN: not soap-opt %s -split-input-file --soap-materialize-parallel-ops -o /dev/null 2>&1 | FileCheck %s --check-prefix=MAT

// MAT: verify-parallel-ops.mlir:[[# @LINE + 15]]:8: error: 'soap.relu' op has no 'soap.parallel' config (op 'a')

// Consistent: a batch split materialized by hand.
func.func @ok(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = soap.repartition %x dim 0 degree 2 : tensor<4x8xf32>
  %a = soap.relu %p {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  %c = soap.combine %a dim 0 degree 2 : tensor<4x8xf32>
  %b = soap.relu %c {soap.name = "b", soap.parallel = #soap.parallel<{}>} : tensor<4x8xf32>
  return %b : tensor<4x8xf32>
}

// -----

func.func @missing_config(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'soap.relu' op has no 'soap.parallel' config (op 'a'); run soap-apply-strategy first, or attach one}}
  %a = soap.relu %x {soap.name = "a"} : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

func.func @not_materialized(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = soap.repartition %x dim 0 degree 2 : tensor<4x8xf32>
  %a = soap.relu %p {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  // expected-error @+1 {{'soap.relu' op operand #0 is sharded [2, 1] but the op's config #soap.parallel<{d1 = 2}> needs [1, 2]}}
  %b = soap.relu %a {soap.name = "b", soap.parallel = #soap.parallel<{d1 = 2}>} : tensor<4x8xf32>
  return %b : tensor<4x8xf32>
}

// -----

func.func @bad_combine(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = soap.repartition %x dim 0 degree 2 : tensor<4x8xf32>
  %a = soap.relu %p {soap.name = "a", soap.parallel = #soap.parallel<{batch = 2}>} : tensor<4x8xf32>
  // expected-error @+1 {{'soap.combine' op combines 4 shards of axis 0, which is split in 2}}
  %c = soap.combine %a dim 0 degree 4 : tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}

// -----

func.func @bad_reduce(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'soap.reduce' op sums 2 partial tensors, but its operand is a sum of 1}}
  %r = soap.reduce %x degree 2 : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

func.func @bad_halo(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'soap.repartition' op its halo must be [pieces, stride, pad, span] with pieces, stride, span >= 1 and pad >= 0}}
  %r = soap.repartition %x dim 1 degree 1 {halo = array<i64: 2, 0, 1, 3>} : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

func.func @halo_over_other_pieces(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = soap.repartition %x dim 1 degree 4 : tensor<4x8xf32>
  // expected-error @+1 {{'soap.repartition' op gives axis 1 2 windowed pieces, but its operand has 4 pieces along it (1 or as many plain ones are needed)}}
  %r = soap.repartition %p dim 1 degree 1 {halo = array<i64: 2, 1, 1, 3>} : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

func.func @partial_returned(%x: tensor<4x8xf32>, %w: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %xs = soap.repartition %x dim 1 degree 2 : tensor<4x8xf32>
  %ws = soap.repartition %w dim 0 degree 2 : tensor<8x2xf32>
  %y = soap.linear %xs, %ws {soap.name = "fc", soap.parallel = #soap.parallel<{in = 2}>} : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  // expected-error @+1 {{'func.return' op returns a partial sum (operand #0, sharded [1, 1] partial 2); reduce it first (soap.all_reduce)}}
  return %y : tensor<4x2xf32>
}

