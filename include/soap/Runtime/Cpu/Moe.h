//===- Moe.h - soap.topk_gate and soap.experts on CPU -----------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_MOE_H
#define SOAP_RUNTIME_CPU_MOE_H

#include "soap/Runtime/Cpu/Tensor.h"

#include <cstdint>

namespace soap::cpu {

/// soap.topk_gate: logits [T, E] -> weights [T, k] and indices [T, k] (i64):
/// the k most probable experts of each token, largest first, ties to the
/// lower expert index; the weights are their softmax probabilities
/// renormalized to sum to one (= the softmax over the selected logits).
namespace topk_gate {
void forward(ConstFloatView logits, int64_t k, FloatView weights,
             int64_t *indices);
/// dLogits += the gradient through the renormalized weights (the selection
/// itself is piecewise constant); `indices` is forward's.
void backward(ConstFloatView logits, const int64_t *indices,
              ConstFloatView dWeights, FloatView dLogits);
} // namespace topk_gate

/// soap.experts: x [T, D], gate weights [T, k] and indices [T, k],
/// w1 [E, D, F], w2 [E, F, D] -> y [T, D] = sum over the token's kept slots of
/// weight * act(x . w1[e]) . w2[e].
///
/// Dispatch (GShard): the slots (t, j) are visited in token order (t, then
/// j); each expert keeps the first `capacity` slots it receives and drops the
/// rest (a dropped slot contributes zero). Each expert runs two GEMMs over
/// its gathered tokens.
///
/// Shards: an expert shard passes its w1/w2 slices [E/p, ...] and
/// expertOffset (global index of its first expert); its y sums its own
/// experts only (a partial sum). A token shard passes, per local expert, how
/// many slots earlier token shards sent to it (priorCounts: an exclusive
/// scan of countAssignments over the token shards), so capacity is applied
/// exactly as on one device; `capacity` is always the global one.
namespace experts {
enum class Activation { Relu, Gelu };
/// min(tokens, ceil(capacityFactor * tokens * k / numExperts)), soap.experts'
/// capacity (ExpertsOp::getCapacity).
int64_t capacity(int64_t tokens, int64_t k, int64_t numExperts,
                 double capacityFactor);
struct Params {
  int64_t capacity = 0;
  Activation activation = Activation::Relu;
  int64_t expertOffset = 0;
  /// Nullable; one count per local expert.
  const int64_t *priorCounts = nullptr;
};
/// counts[e] (overwritten, e < numExperts, global numbering) = slots of this
/// token shard routed to expert e, before capacity.
void countAssignments(IndexView gateIndices, int64_t numExperts,
                      int64_t *counts);
void forward(ConstFloatView x, ConstFloatView gateWeights,
             IndexView gateIndices, ConstFloatView w1, ConstFloatView w2,
             FloatView y, const Params &p);
/// dx, dGateWeights, dw1, dw2 accumulate (dropped slots get no gradient).
void backward(ConstFloatView x, ConstFloatView gateWeights,
              IndexView gateIndices, ConstFloatView w1, ConstFloatView w2,
              ConstFloatView dy, FloatView dx, FloatView dGateWeights,
              FloatView dw1, FloatView dw2, const Params &p);
} // namespace experts

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_MOE_H
