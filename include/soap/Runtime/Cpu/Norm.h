//===- Norm.h - soap.batch_norm and soap.layer_norm on CPU ------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h.
//
// Batch norm is split into phases so that a runtime whose batch (or spatial
// axes) are sharded can all-reduce the statistics in between:
//
//   forward:   localSums -> [all-reduce sum, sumSq, count] -> finalizeStats
//              -> normalize  (+ updateRunningStats, once per step)
//   backward:  backwardLocalSums -> backwardParams (LOCAL sums: the usual
//              gradient all-reduce of the replicated scale/bias adds them up)
//              -> [all-reduce sumDy, sumDyXhat] -> backwardInput (GLOBAL sums
//              and count)
//
// With one shard, forward() and backward() run the phases back to back.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_NORM_H
#define SOAP_RUNTIME_CPU_NORM_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

/// soap.batch_norm, training mode: x [N, C, ...] (rank >= 2), scale and bias
/// [C]; statistics over every axis but 1; biased variance normalizes,
/// unbiased variance enters the running variance (PyTorch).
namespace batch_norm {
/// Per channel, the shard's sum and sum of squares of x, in double
/// (overwrites sum[C], sumSq[C]). The shard's count is numel(x) / C.
void localSums(ConstFloatView x, double *sum, double *sumSq);
/// mean = sum / count, var = sumSq / count - mean^2 (biased),
/// invStd = 1 / sqrt(var + eps); any of the outputs may be null.
void finalizeStats(const double *sum, const double *sumSq, int64_t count,
                   int64_t channels, double epsilon, float *mean, float *var,
                   float *invStd);
/// y = (x - mean) * invStd * scale + bias.
void normalize(ConstFloatView x, const float *mean, const float *invStd,
               ConstFloatView scale, ConstFloatView bias, FloatView y);
/// running = (1 - momentum) * running + momentum * batch, with the batch
/// variance made unbiased (var * count / (count - 1)); count is global.
void updateRunningStats(const float *mean, const float *var, int64_t count,
                        int64_t channels, double momentum, float *runningMean,
                        float *runningVar);
/// One shard == the whole batch: localSums, finalizeStats, normalize. Writes
/// the batch mean and invStd [C] (for backward) when not null.
void forward(ConstFloatView x, ConstFloatView scale, ConstFloatView bias,
             double epsilon, FloatView y, float *mean, float *invStd);

/// Per channel, the shard's sum of dy and of dy * xhat, in double
/// (overwrites), with xhat = (x - mean) * invStd from the global statistics.
void backwardLocalSums(ConstFloatView x, ConstFloatView dy, const float *mean,
                       const float *invStd, double *sumDy, double *sumDyXhat);
/// dScale += sumDyXhat, dBias += sumDy (pass the LOCAL sums).
void backwardParams(const double *sumDy, const double *sumDyXhat,
                    int64_t channels, FloatView dScale, FloatView dBias);
/// dx += scale * invStd * (dy - sumDy / count - xhat * sumDyXhat / count),
/// with the GLOBAL sums and count.
void backwardInput(ConstFloatView x, ConstFloatView dy, const float *mean,
                   const float *invStd, ConstFloatView scale,
                   const double *sumDy, const double *sumDyXhat, int64_t count,
                   FloatView dx);
/// One shard == the whole batch; recomputes the statistics from x.
void backward(ConstFloatView x, ConstFloatView scale, ConstFloatView dy,
              double epsilon, FloatView dx, FloatView dScale, FloatView dBias);
} // namespace batch_norm

/// soap.layer_norm over the axes [axis, rank): scale and the optional bias
/// have shape x.shape[axis:]. Rows are independent, so batch shards need
/// nothing global.
namespace layer_norm {
/// axis may be negative (from the back). mean and rstd (one per row) are
/// written when not null.
void forward(ConstFloatView x, ConstFloatView scale, ConstFloatView bias,
             int64_t axis, double epsilon, FloatView y, float *mean = nullptr,
             float *rstd = nullptr);
/// Recomputes the row statistics from x.
void backward(ConstFloatView x, ConstFloatView scale, ConstFloatView dy,
              int64_t axis, double epsilon, FloatView dx, FloatView dScale,
              FloatView dBias);
} // namespace layer_norm

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_NORM_H
