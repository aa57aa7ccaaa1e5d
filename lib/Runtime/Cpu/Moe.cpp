//===- Moe.cpp - soap.topk_gate and soap.experts --------------------------===//

#include "soap/Runtime/Cpu/Moe.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Cpu/Elementwise.h"
#include "Internal.h"

#include <cmath>
#include <cstring>

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// topk_gate
//===----------------------------------------------------------------------===//

namespace {
/// The renormalized weights of the selected logits of one token.
void selectedWeights(const float *z, const int64_t *idx, int64_t k, float *w) {
  float mx = z[idx[0]];
  for (int64_t j = 1; j < k; ++j)
    mx = std::max(mx, z[idx[j]]);
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    w[j] = std::exp(z[idx[j]] - mx);
    sum += w[j];
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < k; ++j)
    w[j] *= inv;
}
} // namespace

void topk_gate::forward(ConstFloatView logits, int64_t k, FloatView weights,
                        int64_t *indices) {
  int64_t t = logits.dim(0), e = logits.dim(1);
  parallelRange(t, std::max<int64_t>(1, kGrain / (e * k)), [&](int64_t t0, int64_t t1) {
    std::vector<char> taken(e);
    for (int64_t r = t0; r < t1; ++r) {
      const float *z = logits.data + r * e;
      int64_t *idx = indices + r * k;
      std::fill(taken.begin(), taken.end(), 0);
      for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t c = 0; c < e; ++c)
          if (!taken[c] && (best < 0 || z[c] > z[best]))
            best = c;
        taken[best] = 1;
        idx[j] = best;
      }
      selectedWeights(z, idx, k, weights.data + r * k);
    }
  });
}

void topk_gate::backward(ConstFloatView logits, const int64_t *indices,
                         ConstFloatView dWeights, FloatView dLogits) {
  if (!dLogits)
    return;
  int64_t t = logits.dim(0), e = logits.dim(1), k = dWeights.dim(1);
  parallelRange(t, std::max<int64_t>(1, kGrain / (e * k)), [&](int64_t t0, int64_t t1) {
    std::vector<float> w(k);
    for (int64_t r = t0; r < t1; ++r) {
      const int64_t *idx = indices + r * k;
      const float *dw = dWeights.data + r * k;
      selectedWeights(logits.data + r * e, idx, k, w.data());
      double dot = 0.0;
      for (int64_t j = 0; j < k; ++j)
        dot += double(dw[j]) * w[j];
      for (int64_t j = 0; j < k; ++j)
        dLogits.data[r * e + idx[j]] += w[j] * (dw[j] - static_cast<float>(dot));
    }
  });
}

//===----------------------------------------------------------------------===//
// experts
//===----------------------------------------------------------------------===//

int64_t experts::capacity(int64_t tokens, int64_t k, int64_t numExperts,
                          double capacityFactor) {
  // The dialect's ExpertsOp::getCapacity: at most the token count (top-k
  // sends a token to an expert once), which also bounds huge factors.
  double cap = capacityFactor * double(tokens * k) / double(numExperts);
  if (!(cap < double(tokens)))
    return tokens;
  return static_cast<int64_t>(std::ceil(cap));
}

void experts::countAssignments(IndexView gateIndices, int64_t numExperts,
                               int64_t *counts) {
  std::fill(counts, counts + numExperts, 0);
  for (int64_t i = 0, n = gateIndices.numel(); i < n; ++i) {
    int64_t e = gateIndices[i];
    if (e >= 0 && e < numExperts)
      ++counts[e];
  }
}

namespace {
/// The kept slots (t * k + j) of each local expert, in token order.
struct Dispatch {
  std::vector<std::vector<int64_t>> slots;
  Dispatch(IndexView idx, int64_t localExperts, const experts::Params &p)
      : slots(localExperts) {
    std::vector<int64_t> used(localExperts, 0);
    if (p.priorCounts)
      used.assign(p.priorCounts, p.priorCounts + localExperts);
    for (int64_t s = 0, n = idx.numel(); s < n; ++s) {
      int64_t e = idx[s] - p.expertOffset;
      if (e < 0 || e >= localExperts || used[e] >= p.capacity)
        continue;
      ++used[e];
      slots[e].push_back(s);
    }
  }
};

unary::Kind activationKind(experts::Activation a) {
  return a == experts::Activation::Relu ? unary::Kind::Relu : unary::Kind::Gelu;
}

/// One expert's forward on its gathered tokens: xe [n, D] -> h [n, F]
/// (pre-activation), a [n, F], out [n, D].
void expertForward(const float *xe, int64_t n, int64_t dm, int64_t f,
                   const float *w1, const float *w2, unary::Kind act, float *h,
                   float *a, float *out) {
  gemm(false, false, n, f, dm, 1.0f, xe, dm, w1, f, 0.0f, h, f);
  unary::forward(act, ConstFloatView(h, {n * f}), FloatView(a, {n * f}));
  gemm(false, false, n, dm, f, 1.0f, a, f, w2, dm, 0.0f, out, dm);
}
} // namespace

void experts::forward(ConstFloatView x, ConstFloatView gateWeights,
                      IndexView gateIndices, ConstFloatView w1,
                      ConstFloatView w2, FloatView y, const Params &p) {
  int64_t dm = x.dim(1), le = w1.dim(0), f = w1.dim(2);
  int64_t k = gateWeights.dim(1);
  Dispatch disp(gateIndices, le, p);
  std::memset(y.data, 0, y.numel() * sizeof(float));
  unary::Kind act = activationKind(p.activation);
  for (int64_t e = 0; e < le; ++e) {
    const std::vector<int64_t> &slots = disp.slots[e];
    int64_t n = static_cast<int64_t>(slots.size());
    if (n == 0)
      continue;
    ScratchFrame frame;
    float *xe = frame.floats(n * dm), *h = frame.floats(n * f),
          *a = frame.floats(n * f), *out = frame.floats(n * dm);
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(xe + r * dm, x.data + (slots[r] / k) * dm, dm * sizeof(float));
    expertForward(xe, n, dm, f, w1.data + e * dm * f, w2.data + e * f * dm, act,
                  h, a, out);
    for (int64_t r = 0; r < n; ++r) {
      float wgt = gateWeights.data[slots[r]];
      float *dst = y.data + (slots[r] / k) * dm;
      for (int64_t c = 0; c < dm; ++c)
        dst[c] += wgt * out[r * dm + c];
    }
  }
}

void experts::backward(ConstFloatView x, ConstFloatView gateWeights,
                       IndexView gateIndices, ConstFloatView w1,
                       ConstFloatView w2, ConstFloatView dy, FloatView dx,
                       FloatView dGateWeights, FloatView dw1, FloatView dw2,
                       const Params &p) {
  int64_t dm = x.dim(1), le = w1.dim(0), f = w1.dim(2);
  int64_t k = gateWeights.dim(1);
  Dispatch disp(gateIndices, le, p);
  unary::Kind act = activationKind(p.activation);
  for (int64_t e = 0; e < le; ++e) {
    const std::vector<int64_t> &slots = disp.slots[e];
    int64_t n = static_cast<int64_t>(slots.size());
    if (n == 0)
      continue;
    ScratchFrame frame;
    float *xe = frame.floats(n * dm), *h = frame.floats(n * f),
          *a = frame.floats(n * f), *out = frame.floats(n * dm),
          *dOut = frame.floats(n * dm);
    const float *we1 = w1.data + e * dm * f, *we2 = w2.data + e * f * dm;
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(xe + r * dm, x.data + (slots[r] / k) * dm, dm * sizeof(float));
    expertForward(xe, n, dm, f, we1, we2, act, h, a, out);
    for (int64_t r = 0; r < n; ++r) {
      const float *g = dy.data + (slots[r] / k) * dm;
      float wgt = gateWeights.data[slots[r]];
      double dot = 0.0;
      for (int64_t c = 0; c < dm; ++c) {
        dOut[r * dm + c] = wgt * g[c];
        dot += double(out[r * dm + c]) * g[c];
      }
      if (dGateWeights)
        dGateWeights.data[slots[r]] += static_cast<float>(dot);
    }
    if (dw2)
      gemm(true, false, f, dm, n, 1.0f, a, f, dOut, dm, 1.0f,
           dw2.data + e * f * dm, dm);
    if (!dw1 && !dx)
      continue;
    // dH = (dOut . w2^T) * act'(h), into `a` (no longer needed).
    float *dA = frame.floats(n * f);
    gemm(false, true, n, f, dm, 1.0f, dOut, dm, we2, dm, 0.0f, dA, f);
    std::memset(a, 0, n * f * sizeof(float));
    unary::backward(act, ConstFloatView(h, {n * f}), ConstFloatView(dA, {n * f}),
                    FloatView(a, {n * f}));
    if (dw1)
      gemm(true, false, dm, f, n, 1.0f, xe, dm, a, f, 1.0f,
           dw1.data + e * dm * f, f);
    if (dx) {
      gemm(false, true, n, dm, f, 1.0f, a, f, we1, f, 0.0f, xe, dm);
      for (int64_t r = 0; r < n; ++r) {
        float *dst = dx.data + (slots[r] / k) * dm;
        for (int64_t c = 0; c < dm; ++c)
          dst[c] += xe[r * dm + c];
      }
    }
  }
}

} // namespace soap::cpu
