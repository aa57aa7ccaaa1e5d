//===- Loss.cpp - softmax_cross_entropy and mse_loss ----------------------===//

#include "soap/Runtime/Cpu/Loss.h"
#include "Internal.h"
#include "Math.h"

#include <cmath>
#include <limits>

namespace soap::cpu {
using namespace detail;

namespace {
/// Sum of term(i) over [0, n): fixed blocks of `block` terms, each summed in
/// order in double, then the blocks in order. The blocks do not depend on
/// the thread count, so neither does the result.
template <class F> double blockedSum(int64_t n, int64_t block, F &&term) {
  block = std::max<int64_t>(block, 1);
  int64_t blocks = (n + block - 1) / block;
  std::vector<double> partial(blocks, 0.0);
  parallelRange(blocks, 2, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0.0;
      for (int64_t i = b * block, e = std::min(n, (b + 1) * block); i < e; ++i)
        s += term(i);
      partial[b] = s;
    }
  });
  double total = 0.0;
  for (double p : partial)
    total += p;
  return total;
}
} // namespace

namespace {
/// exps[j] = exp(z[j] - max z); returns the log-sum-exp of z.
SOAP_NOINLINE double logSumExp(const float *z, int64_t c, float *exps) {
  float mx = maxLanes(z, c);
  for (int64_t j = 0; j < c; ++j)
    exps[j] = vexp(z[j] - mx);
  return std::log(sumLanes(exps, c)) + mx;
}
} // namespace

float softmax_cross_entropy::forward(ConstFloatView logits, IndexView labels,
                                     int64_t globalCount) {
  int64_t c = logits.dim(logits.rank() - 1), rows = logits.numel() / c;
  // Per-row losses first (vectorized rows, in parallel), then a fixed-order
  // sum.
  ScratchFrame frame;
  float *lossPerRow = frame.floats(rows);
  parallelRange(rows, std::max<int64_t>(1, kGrain / c), [&](int64_t r0, int64_t r1) {
    std::vector<float> exps(c);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t label = labels[r];
      const float *z = logits.data + r * c;
      lossPerRow[r] = label < 0 || label >= c
                          ? 0.0f
                          : static_cast<float>(logSumExp(z, c, exps.data()) -
                                               z[label]);
    }
  });
  double sum = blockedSum(rows, 4096, [&](int64_t r) { return double(lossPerRow[r]); });
  return static_cast<float>(sum / double(globalCount > 0 ? globalCount : rows));
}

void softmax_cross_entropy::backward(ConstFloatView logits, IndexView labels,
                                     float dLoss, FloatView dLogits,
                                     int64_t globalCount) {
  if (!dLogits)
    return;
  int64_t c = logits.dim(logits.rank() - 1), rows = logits.numel() / c;
  float scale = static_cast<float>(double(dLoss) /
                                   double(globalCount > 0 ? globalCount : rows));
  parallelRange(rows, std::max<int64_t>(1, kGrain / c), [&](int64_t r0, int64_t r1) {
    std::vector<float> exps(c);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t label = labels[r];
      if (label < 0 || label >= c)
        continue;
      const float *z = logits.data + r * c;
      float *d = dLogits.data + r * c;
      double lse = logSumExp(z, c, exps.data());
      float k = scale * static_cast<float>(std::exp(double(maxLanes(z, c)) - lse));
      for (int64_t j = 0; j < c; ++j)
        d[j] += k * exps[j];
      d[label] -= scale;
    }
  });
}

float mse_loss::forward(ConstFloatView prediction, ConstFloatView target,
                        int64_t globalCount) {
  int64_t n = prediction.numel();
  double sum = blockedSum(n, kGrain, [&](int64_t i) {
    double d = double(prediction.data[i]) - target.data[i];
    return d * d;
  });
  return static_cast<float>(sum / double(globalCount > 0 ? globalCount : n));
}

void mse_loss::backward(ConstFloatView prediction, ConstFloatView target,
                        float dLoss, FloatView dPrediction, FloatView dTarget,
                        int64_t globalCount) {
  int64_t n = prediction.numel();
  float scale = static_cast<float>(2.0 * double(dLoss) /
                                   double(globalCount > 0 ? globalCount : n));
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float g = scale * (prediction.data[i] - target.data[i]);
      if (dPrediction)
        dPrediction.data[i] += g;
      if (dTarget)
        dTarget.data[i] -= g;
    }
  });
}

} // namespace soap::cpu
