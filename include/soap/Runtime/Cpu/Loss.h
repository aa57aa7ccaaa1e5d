//===- Loss.h - soap.softmax_cross_entropy and soap.mse_loss ----*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h. Both losses are means over the
// GLOBAL tensor: a batch shard divides its partial sum by the global count
// (`globalCount`, 0 = the shard's own count), so the shards' losses and
// gradients add up to the single-device ones. Sums accumulate in double.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_LOSS_H
#define SOAP_RUNTIME_CPU_LOSS_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

/// logits [..., C], labels [...] (class indices).
///
/// The plain form (mean over positions): labels outside [0, C) contribute no
/// loss and no gradient (but still count in the mean).
///
/// The general form (soap.softmax_cross_entropy's `weight`, `ignore_index`
/// and `reduction`): position i's loss is w_i * nll_i with nll_i =
/// logsumexp(z_i) - z_i[label_i] (0 for a label outside [0, C)) and w_i =
/// weight[label_i] (1 without class weights); w_i = 0 where label_i ==
/// ignore_index, and for a label outside [0, C) when there are class
/// weights. `mean` divides the sum by sum(w_i), or, with neither class
/// weights nor ignore_index, by globalCount (0 = the position count); `sum`
/// is the sum; `none` the per-position losses.
namespace softmax_cross_entropy {
enum class Reduction { Mean, Sum, None };
struct Options {
  Reduction reduction = Reduction::Mean;
  bool hasIgnoreIndex = false;
  int64_t ignoreIndex = 0;
  /// The plain mean's divisor over the global tensor (0 = the shard's own
  /// position count).
  int64_t globalCount = 0;
};
/// Returns sum over positions of (logsumexp(z) - z[label]) / globalCount.
float forward(ConstFloatView logits, IndexView labels, int64_t globalCount = 0);
/// dLogits += dLoss * (softmax(z) - onehot(label)) / globalCount.
void backward(ConstFloatView logits, IndexView labels, float dLoss,
              FloatView dLogits, int64_t globalCount = 0);
/// The general form: `weight` is [C] or null; `loss` has one element (mean,
/// sum) or the labels' shape (none). All views contiguous.
void forward(ConstFloatView logits, IndexView labels, ConstFloatView weight,
             const Options &options, FloatView loss);
/// dLoss is shaped like the loss. dLogits += g_i w_i (softmax(z_i) -
/// onehot(label_i)) with g_i the gradient reaching position i's loss;
/// dWeight[c] += the derivative with respect to weight[c] (for `mean`, of
/// the quotient). Either output may be null.
void backward(ConstFloatView logits, IndexView labels, ConstFloatView weight,
              const Options &options, ConstFloatView dLoss, FloatView dLogits,
              FloatView dWeight);
} // namespace softmax_cross_entropy

/// prediction and target of the same shape.
namespace mse_loss {
/// Returns sum of (p - t)^2 / globalCount.
float forward(ConstFloatView prediction, ConstFloatView target,
              int64_t globalCount = 0);
/// dPrediction += 2 (p - t) dLoss / globalCount; dTarget gets the negation.
void backward(ConstFloatView prediction, ConstFloatView target, float dLoss,
              FloatView dPrediction, FloatView dTarget,
              int64_t globalCount = 0);
} // namespace mse_loss

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_LOSS_H
