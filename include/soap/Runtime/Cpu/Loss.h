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

/// logits [..., C], labels [...] (class indices). Labels outside [0, C)
/// contribute no loss and no gradient (but still count in the mean).
namespace softmax_cross_entropy {
/// Returns sum over positions of (logsumexp(z) - z[label]) / globalCount.
float forward(ConstFloatView logits, IndexView labels, int64_t globalCount = 0);
/// dLogits += dLoss * (softmax(z) - onehot(label)) / globalCount.
void backward(ConstFloatView logits, IndexView labels, float dLoss,
              FloatView dLogits, int64_t globalCount = 0);
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
