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

namespace {
using softmax_cross_entropy::Options;
using softmax_cross_entropy::Reduction;

/// Position r's label weight w_r (see Loss.h).
float labelWeight(int64_t label, int64_t c, ConstFloatView weight,
                  const Options &o) {
  if (o.hasIgnoreIndex && label == o.ignoreIndex)
    return 0.0f;
  if (label < 0 || label >= c)
    return weight ? 0.0f : 1.0f;
  return weight ? weight.data[label] : 1.0f;
}

/// Per-position nll (0 for a label outside [0, C)) and weight, and the
/// mean's divisor.
struct PositionLosses {
  int64_t rows = 0, classes = 0;
  float *nll = nullptr, *w = nullptr;
  double divisor = 1.0;

  PositionLosses(ScratchFrame &frame, ConstFloatView logits, IndexView labels,
                 ConstFloatView weight, const Options &o) {
    classes = logits.dim(logits.rank() - 1);
    rows = logits.numel() / classes;
    nll = frame.floats(rows);
    w = frame.floats(rows);
    int64_t c = classes;
    parallelRange(rows, std::max<int64_t>(1, kGrain / c),
                  [&](int64_t r0, int64_t r1) {
                    std::vector<float> exps(c);
                    for (int64_t r = r0; r < r1; ++r) {
                      int64_t label = labels[r];
                      const float *z = logits.data + r * c;
                      w[r] = labelWeight(label, c, weight, o);
                      nll[r] = label < 0 || label >= c || w[r] == 0.0f
                                   ? 0.0f
                                   : static_cast<float>(
                                         logSumExp(z, c, exps.data()) -
                                         z[label]);
                    }
                  });
    if (o.reduction != Reduction::Mean)
      divisor = 1.0;
    else if (weight || o.hasIgnoreIndex)
      divisor = blockedSum(rows, 4096, [&](int64_t r) { return double(w[r]); });
    else
      divisor = double(o.globalCount > 0 ? o.globalCount : rows);
  }
  /// Sum of w_r * nll_r, in a fixed order.
  double weightedSum() const {
    return blockedSum(rows, 4096,
                      [&](int64_t r) { return double(w[r]) * double(nll[r]); });
  }
};
} // namespace

void softmax_cross_entropy::forward(ConstFloatView logits, IndexView labels,
                                    ConstFloatView weight, const Options &o,
                                    FloatView loss) {
  ScratchFrame frame;
  PositionLosses p(frame, logits, labels, weight, o);
  if (o.reduction == Reduction::None) {
    for (int64_t r = 0; r < p.rows; ++r)
      loss.data[r] = p.w[r] * p.nll[r];
    return;
  }
  loss.data[0] = static_cast<float>(p.weightedSum() / p.divisor);
}

void softmax_cross_entropy::backward(ConstFloatView logits, IndexView labels,
                                     ConstFloatView weight, const Options &o,
                                     ConstFloatView dLoss, FloatView dLogits,
                                     FloatView dWeight) {
  if (!dLogits && !(dWeight && weight))
    return;
  ScratchFrame frame;
  PositionLosses p(frame, logits, labels, weight, o);
  int64_t c = p.classes;
  bool none = o.reduction == Reduction::None;
  double scale = none ? 1.0 : double(dLoss.data[0]) / p.divisor;
  auto grad = [&](int64_t r) {
    return none ? double(dLoss.data[r]) : scale;
  };
  if (dLogits)
    parallelRange(p.rows, std::max<int64_t>(1, kGrain / c),
                  [&](int64_t r0, int64_t r1) {
                    std::vector<float> exps(c);
                    for (int64_t r = r0; r < r1; ++r) {
                      int64_t label = labels[r];
                      if (label < 0 || label >= c || p.w[r] == 0.0f)
                        continue;
                      const float *z = logits.data + r * c;
                      float *d = dLogits.data + r * c;
                      double lse = logSumExp(z, c, exps.data());
                      float k = static_cast<float>(grad(r) * p.w[r]);
                      float s = k * static_cast<float>(std::exp(
                                        double(maxLanes(z, c)) - lse));
                      for (int64_t j = 0; j < c; ++j)
                        d[j] += s * exps[j];
                      d[label] -= k;
                    }
                  });
  if (!dWeight || !weight)
    return;
  // d(sum w_r nll_r / D)/dw_c = sum over rows labelled c of
  // (nll_r - loss) / D for the mean (D = sum w_r), g_r nll_r otherwise.
  double mean = o.reduction == Reduction::Mean ? p.weightedSum() / p.divisor
                                               : 0.0;
  std::vector<double> acc(c, 0.0);
  for (int64_t r = 0; r < p.rows; ++r) {
    int64_t label = labels[r];
    if (label < 0 || label >= c || (o.hasIgnoreIndex && label == o.ignoreIndex))
      continue;
    acc[label] += grad(r) * (double(p.nll[r]) - mean);
  }
  for (int64_t j = 0; j < c; ++j)
    dWeight.data[j] += static_cast<float>(acc[j]);
}

float softmax_cross_entropy::forward(ConstFloatView logits, IndexView labels,
                                     int64_t globalCount) {
  Options o;
  o.globalCount = globalCount;
  float loss = 0.0f;
  forward(logits, labels, {}, o, FloatView(&loss, Shape{}));
  return loss;
}

void softmax_cross_entropy::backward(ConstFloatView logits, IndexView labels,
                                     float dLoss, FloatView dLogits,
                                     int64_t globalCount) {
  Options o;
  o.globalCount = globalCount;
  backward(logits, labels, {}, o, ConstFloatView(&dLoss, Shape{}), dLogits, {});
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
