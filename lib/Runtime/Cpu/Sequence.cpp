//===- Sequence.cpp - embedding, attention and LSTM -----------------------===//

#include "soap/Runtime/Cpu/Sequence.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Cpu/Dense.h"
#include "Internal.h"
#include "Math.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// embedding
//===----------------------------------------------------------------------===//

void embedding::forward(IndexView indices, ConstFloatView table, FloatView y,
                        int64_t rowOffset) {
  int64_t v = table.dim(0), d = table.dim(1), n = indices.numel();
  parallelRange(n, std::max<int64_t>(1, kGrain / d), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t r = indices[i] - rowOffset;
      float *dst = y.data + i * d;
      if (r >= 0 && r < v)
        std::memcpy(dst, table.data + r * d, d * sizeof(float));
      else
        std::memset(dst, 0, d * sizeof(float));
    }
  });
}

void embedding::backward(IndexView indices, ConstFloatView dy,
                         FloatView dTable, int64_t rowOffset) {
  if (!dTable)
    return;
  int64_t v = dTable.dim(0), d = dTable.dim(1), n = indices.numel();
  // Split over columns: no two threads touch the same element, and every row
  // adds its contributions in index order.
  parallelRange(d, std::max<int64_t>(16, kGrain / std::max<int64_t>(n, 1)),
                [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = indices[i] - rowOffset;
      if (r < 0 || r >= v)
        continue;
      float *dst = dTable.data + r * d;
      const float *src = dy.data + i * d;
      for (int64_t c = c0; c < c1; ++c)
        dst[c] += src[c];
    }
  });
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

namespace {
struct AttnDims {
  int64_t b, s, t, p, eo, heads, hd;
  float scale;
  AttnDims(const ConstFloatView &q, const ConstFloatView &k,
           const ConstFloatView &wq, const ConstFloatView &wo,
           const attention::Params &prm)
      : b(q.dim(0)), s(q.dim(1)), t(k.dim(1)), p(wq.dim(1)), eo(wo.dim(1)),
        heads(prm.numHeads) {
    hd = p / heads;
    scale = static_cast<float>(1.0 / std::sqrt(double(hd)));
  }
};

/// row[0..limit) = softmax(row[0..limit)), row[limit..t) = 0.
SOAP_NOINLINE void maskedSoftmaxRow(float *row, int64_t limit, int64_t t) {
  if (limit == 0) {
    std::fill(row, row + t, 0.0f);
    return;
  }
  float mx = maxLanes(row, limit);
  for (int64_t j = 0; j < limit; ++j)
    row[j] = vexp(row[j] - mx);
  float inv = static_cast<float>(1.0 / sumLanes(row, limit));
  for (int64_t j = 0; j < limit; ++j)
    row[j] *= inv;
  for (int64_t j = limit; j < t; ++j)
    row[j] = 0.0f;
}

/// The attention probabilities of batch b, head h into pm [S, T].
void attentionProbs(const AttnDims &d, const attention::Params &prm,
                    const float *q, const float *k, int64_t b, int64_t h,
                    float *pm) {
  gemm(false, true, d.s, d.t, d.hd, d.scale, q + b * d.s * d.p + h * d.hd, d.p,
       k + b * d.t * d.p + h * d.hd, d.p, 0.0f, pm, d.t);
  for (int64_t i = 0; i < d.s; ++i) {
    int64_t limit = d.t;
    if (prm.causal)
      limit = std::clamp<int64_t>(prm.queryOffset + i + 1, 0, d.t);
    maskedSoftmaxRow(pm + i * d.t, limit, d.t);
  }
}

/// out [B*L, P] = in . w + b.
void project(ConstFloatView in, ConstFloatView w, ConstFloatView bias,
             float *out) {
  int64_t rows = in.numel() / w.dim(0);
  linear::forward(in, w, bias, FloatView(out, {rows, w.dim(1)}));
}

/// O[b, :, h] = probs . V[b, :, h] for one (b, h).
void attendValues(const AttnDims &d, const float *pm, const float *v, int64_t b,
                  int64_t h, float *o) {
  gemm(false, false, d.s, d.hd, d.t, 1.0f, pm, d.t,
       v + b * d.t * d.p + h * d.hd, d.p, 0.0f, o + b * d.s * d.p + h * d.hd,
       d.p);
}
} // namespace

int64_t attention::savedSize(int64_t batch, int64_t s, int64_t t, int64_t p) {
  return batch * (2 * s + 2 * t) * p;
}

void attention::forward(ConstFloatView q, ConstFloatView k, ConstFloatView v,
                        ConstFloatView wq, ConstFloatView wk, ConstFloatView wv,
                        ConstFloatView wo, ConstFloatView bq, ConstFloatView bk,
                        ConstFloatView bv, ConstFloatView bo, FloatView y,
                        const Params &prm, float *saved) {
  AttnDims d(q, k, wq, wo, prm);
  ScratchFrame frame;
  float *buf = saved ? saved : frame.floats(savedSize(d.b, d.s, d.t, d.p));
  float *pq = buf, *pk = pq + d.b * d.s * d.p, *pv = pk + d.b * d.t * d.p,
        *po = pv + d.b * d.t * d.p;
  project(q, wq, bq, pq);
  project(k, wk, bk, pk);
  project(v, wv, bv, pv);
  float *pm = frame.floats(d.s * d.t);
  for (int64_t b = 0; b < d.b; ++b)
    for (int64_t h = 0; h < d.heads; ++h) {
      attentionProbs(d, prm, pq, pk, b, h, pm);
      attendValues(d, pm, pv, b, h, po);
    }
  linear::forward(ConstFloatView(po, {d.b * d.s, d.p}), wo, bo,
                  y.reshape({d.b * d.s, d.eo}));
}

void attention::backward(ConstFloatView q, ConstFloatView k, ConstFloatView v,
                         ConstFloatView wq, ConstFloatView wk,
                         ConstFloatView wv, ConstFloatView wo,
                         ConstFloatView bq, ConstFloatView bk,
                         ConstFloatView bv, ConstFloatView dy, const Grads &g,
                         const Params &prm, const float *saved) {
  AttnDims d(q, k, wq, wo, prm);
  ScratchFrame frame;
  const float *pq, *pk, *pv;
  float *po;
  if (saved) {
    pq = saved;
    pk = pq + d.b * d.s * d.p;
    pv = pk + d.b * d.t * d.p;
    po = const_cast<float *>(pv + d.b * d.t * d.p); // read only below
  } else {
    float *buf = frame.floats(savedSize(d.b, d.s, d.t, d.p));
    float *mq = buf, *mk = mq + d.b * d.s * d.p, *mv = mk + d.b * d.t * d.p;
    project(q, wq, bq, mq);
    project(k, wk, bk, mk);
    project(v, wv, bv, mv);
    pq = mq;
    pk = mk;
    pv = mv;
    po = mv + d.b * d.t * d.p; // filled in the head loop
  }
  int64_t bs = d.b * d.s, bt = d.b * d.t;
  // Output projection.
  float *dO = frame.floats(bs * d.p);
  gemm(false, true, bs, d.p, d.eo, 1.0f, dy.data, d.eo, wo.data, d.eo, 0.0f,
       dO, d.p);
  float *dQ = frame.floats(bs * d.p), *dK = frame.floats(bt * d.p),
        *dV = frame.floats(bt * d.p);
  float *pm = frame.floats(d.s * d.t), *dS = frame.floats(d.s * d.t);
  for (int64_t b = 0; b < d.b; ++b)
    for (int64_t h = 0; h < d.heads; ++h) {
      int64_t qo = b * d.s * d.p + h * d.hd, ko = b * d.t * d.p + h * d.hd;
      attentionProbs(d, prm, pq, pk, b, h, pm);
      if (!saved)
        attendValues(d, pm, pv, b, h, po);
      // dP = dO . V^T; dV = P^T . dO.
      gemm(false, true, d.s, d.t, d.hd, 1.0f, dO + qo, d.p, pv + ko, d.p, 0.0f,
           dS, d.t);
      gemm(true, false, d.t, d.hd, d.s, 1.0f, pm, d.t, dO + qo, d.p, 0.0f,
           dV + ko, d.p);
      // Softmax backward: dZ = P * (dP - rowsum(dP * P)).
      for (int64_t i = 0; i < d.s; ++i) {
        float *r = dS + i * d.t;
        const float *pr = pm + i * d.t;
        float fd = static_cast<float>(dotLanes(r, pr, d.t));
        for (int64_t j = 0; j < d.t; ++j)
          r[j] = pr[j] * (r[j] - fd);
      }
      // Z = scale * Q K^T.
      gemm(false, false, d.s, d.hd, d.t, d.scale, dS, d.t, pk + ko, d.p, 0.0f,
           dQ + qo, d.p);
      gemm(true, false, d.t, d.hd, d.s, d.scale, dS, d.t, pq + qo, d.p, 0.0f,
           dK + ko, d.p);
    }
  if (g.dwo)
    gemm(true, false, d.p, d.eo, bs, 1.0f, po, d.p, dy.data, d.eo, 1.0f,
         g.dwo.data, d.eo);
  if (g.dbo)
    columnSums(dy.data, bs, d.eo, g.dbo.data);
  // Input projections, one after the other (dq, dk, dv may alias).
  linear::backward(q, wq, ConstFloatView(dQ, {bs, d.p}), g.dq, g.dwq, g.dbq);
  linear::backward(k, wk, ConstFloatView(dK, {bt, d.p}), g.dk, g.dwk, g.dbk);
  linear::backward(v, wv, ConstFloatView(dV, {bt, d.p}), g.dv, g.dwv, g.dbv);
}

//===----------------------------------------------------------------------===//
// lstm
//===----------------------------------------------------------------------===//

namespace {
struct LstmDims {
  int64_t b, t, i, h;
  LstmDims(const ConstFloatView &x, const ConstFloatView &wHh)
      : b(x.dim(0)), t(x.dim(1)), i(x.dim(2)), h(wHh.dim(0)) {}
};

/// One cell update: activates the gates g[4H] in place and writes c and h
/// (cp: the previous cell state, null at the first step).
SOAP_NOINLINE void lstmCell(float *g, const float *cp, float *c, float *hh,
                            int64_t h) {
  for (int64_t j = 0; j < h; ++j) {
    float gi = vsigmoid(g[j]), gf = vsigmoid(g[h + j]),
          gg = vtanh(g[2 * h + j]), go = vsigmoid(g[3 * h + j]);
    g[j] = gi;
    g[h + j] = gf;
    g[2 * h + j] = gg;
    g[3 * h + j] = go;
    float cv = gi * gg + (cp ? gf * cp[j] : 0.0f);
    c[j] = cv;
    hh[j] = go * vtanh(cv);
  }
}

/// One cell's backward: gate gradients dg[4H] (pre-activation) from dy + the
/// recurrent dh (dhn) and the carried dc (dcn, updated in place).
SOAP_NOINLINE void lstmCellBackward(const float *g, const float *c,
                                    const float *cp, const float *gy,
                                    const float *dhn, float *dcn, float *dg,
                                    int64_t h) {
  for (int64_t j = 0; j < h; ++j) {
    float gi = g[j], gf = g[h + j], gg = g[2 * h + j], go = g[3 * h + j];
    float tc = vtanh(c[j]);
    float dh = gy[j] + dhn[j];
    float dc = dh * go * (1.0f - tc * tc) + dcn[j];
    float cprev = cp ? cp[j] : 0.0f;
    dg[j] = dc * gg * gi * (1.0f - gi);
    dg[h + j] = dc * cprev * gf * (1.0f - gf);
    dg[2 * h + j] = dc * gi * (1.0f - gg * gg);
    dg[3 * h + j] = dh * tc * go * (1.0f - go);
    dcn[j] = dc * gf;
  }
}

/// Runs the recurrence: gates [B, T, 4H] (activated), cells and hidden
/// [B, T, H].
void lstmRun(const LstmDims &d, ConstFloatView x, ConstFloatView wIh,
             ConstFloatView wHh, ConstFloatView bias, float *gates,
             float *cells, float *hidden) {
  int64_t g4 = 4 * d.h;
  project(x, wIh, bias, gates);
  for (int64_t t = 0; t < d.t; ++t) {
    if (t > 0)
      gemm(false, false, d.b, g4, d.h, 1.0f, hidden + (t - 1) * d.h, d.t * d.h,
           wHh.data, g4, 1.0f, gates + t * g4, d.t * g4);
    parallelRange(d.b, std::max<int64_t>(1, kGrain / (8 * d.h)),
                  [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t row = b * d.t + t;
        lstmCell(gates + row * g4, t > 0 ? cells + (row - 1) * d.h : nullptr,
                 cells + row * d.h, hidden + row * d.h, d.h);
      }
    });
  }
}
} // namespace

int64_t lstm::savedSize(int64_t batch, int64_t t, int64_t hidden) {
  return batch * t * 6 * hidden;
}

void lstm::forward(ConstFloatView x, ConstFloatView wIh, ConstFloatView wHh,
                   ConstFloatView bias, FloatView y, float *saved) {
  LstmDims d(x, wHh);
  int64_t n = d.b * d.t;
  ScratchFrame frame;
  float *gates = saved ? saved : frame.floats(n * 4 * d.h);
  float *cells = saved ? saved + n * 4 * d.h : frame.floats(n * d.h);
  lstmRun(d, x, wIh, wHh, bias, gates, cells, y.data);
  if (saved)
    std::memcpy(saved + n * 5 * d.h, y.data, n * d.h * sizeof(float));
}

void lstm::backward(ConstFloatView x, ConstFloatView wIh, ConstFloatView wHh,
                    ConstFloatView bias, ConstFloatView dy, FloatView dx,
                    FloatView dwIh, FloatView dwHh, FloatView dBias,
                    const float *saved) {
  LstmDims d(x, wHh);
  int64_t n = d.b * d.t, g4 = 4 * d.h;
  ScratchFrame frame;
  const float *gates, *cells, *hidden;
  if (saved) {
    gates = saved;
    cells = saved + n * g4;
    hidden = cells + n * d.h;
  } else {
    float *buf = frame.floats(savedSize(d.b, d.t, d.h));
    lstmRun(d, x, wIh, wHh, bias, buf, buf + n * g4, buf + n * 5 * d.h);
    gates = buf;
    cells = buf + n * g4;
    hidden = cells + n * d.h;
  }
  float *dG = frame.floats(n * g4);
  float *dhNext = frame.zeros(d.b * d.h), *dcNext = frame.zeros(d.b * d.h);
  for (int64_t t = d.t - 1; t >= 0; --t) {
    parallelRange(d.b, std::max<int64_t>(1, kGrain / (8 * d.h)),
                  [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t row = b * d.t + t;
        lstmCellBackward(gates + row * g4, cells + row * d.h,
                         t > 0 ? cells + (row - 1) * d.h : nullptr,
                         dy.data + row * d.h, dhNext + b * d.h,
                         dcNext + b * d.h, dG + row * g4, d.h);
      }
    });
    if (t > 0) // dh_{t-1} = dG_t . wHh^T
      gemm(false, true, d.b, d.h, g4, 1.0f, dG + t * g4, d.t * g4, wHh.data, g4,
           0.0f, dhNext, d.h);
  }
  ConstFloatView dGv(dG, {n, g4});
  linear::backward(x, wIh, dGv, dx, dwIh, dBias);
  if (dwHh) {
    // sum_t h_{t-1}^T dG_t as one GEMM over the hidden states shifted by one
    // step (zero before the first).
    float *prev = frame.floats(n * d.h);
    for (int64_t b = 0; b < d.b; ++b) {
      std::memset(prev + b * d.t * d.h, 0, d.h * sizeof(float));
      std::memcpy(prev + (b * d.t + 1) * d.h, hidden + b * d.t * d.h,
                  (d.t - 1) * d.h * sizeof(float));
    }
    gemm(true, false, d.h, g4, n, 1.0f, prev, d.h, dG, g4, 1.0f, dwHh.data, g4);
  }
}

} // namespace soap::cpu
