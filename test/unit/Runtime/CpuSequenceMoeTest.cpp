//===- CpuSequenceMoeTest.cpp - embedding, attention, lstm, MoE -----------===//

#include "CpuKernelTestUtil.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace soap::cpu;
using namespace soap::cpu::test;

namespace {

//===----------------------------------------------------------------------===//
// embedding
//===----------------------------------------------------------------------===//

TEST(CpuEmbedding, ForwardAndBackward) {
  int64_t v = 6, d = 3;
  Vec table = random(v * d, 131);
  std::vector<int64_t> idx{5, 0, 2, 2, 1, 5};
  std::vector<int32_t> idx32(idx.begin(), idx.end());
  Shape is{2, 3}, ys{2, 3, d};
  Vec y(ys.numel()), y32(ys.numel());
  embedding::forward(IndexView(idx.data(), is), cview(table, {v, d}), view(y, ys));
  embedding::forward(IndexView(idx32.data(), is), cview(table, {v, d}),
                     view(y32, ys));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < d; ++j)
      EXPECT_EQ(y[i * d + j], table[idx[i] * d + j]);
  EXPECT_EQ(y, y32);
  // Repeated indices accumulate.
  Vec dy = random(ys.numel(), 132), dt(v * d, 0.0f), ref(v * d, 0.0f);
  embedding::backward(IndexView(idx.data(), is), cview(dy, ys), view(dt, {v, d}));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < d; ++j)
      ref[idx[i] * d + j] += dy[i * d + j];
  EXPECT_TRUE(allClose(dt, ref, 1e-6, 1e-6));
}

TEST(CpuEmbedding, VocabShardPartialsSumToTheWhole) {
  int64_t v = 8, d = 4;
  Vec table = random(v * d, 133);
  std::vector<int64_t> idx{7, 0, 3, 4, 4, 1, 6};
  Shape is{7}, ys{7, d};
  Vec whole(ys.numel()), dWhole(v * d, 0.0f), dy = random(ys.numel(), 134);
  embedding::forward(IndexView(idx.data(), is), cview(table, {v, d}),
                     view(whole, ys));
  embedding::backward(IndexView(idx.data(), is), cview(dy, ys), view(dWhole, {v, d}));
  Vec sum(ys.numel(), 0.0f), dShards(v * d, 0.0f);
  for (int64_t r = 0; r < 2; ++r) {
    int64_t offset = r * v / 2;
    Vec part(ys.numel());
    embedding::forward(IndexView(idx.data(), is),
                       ConstFloatView(table.data() + offset * d, {v / 2, d}),
                       view(part, ys), offset);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += part[i];
    embedding::backward(IndexView(idx.data(), is), cview(dy, ys),
                        FloatView(dShards.data() + offset * d, {v / 2, d}), offset);
  }
  EXPECT_EQ(sum, whole);
  EXPECT_TRUE(allClose(dShards, dWhole, 0, 0));
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

/// All tensors of one attention call.
struct Attn {
  int64_t b, s, t, e, ek, ev, heads;
  bool causal, biases;
  int64_t queryOffset = 0;
  Vec q, k, v, wq, wk, wv, wo, bq, bk, bv, bo;

  Attn(int64_t b, int64_t s, int64_t t, int64_t e, int64_t ek, int64_t ev,
       int64_t heads, bool causal, bool biases, unsigned seed)
      : b(b), s(s), t(t), e(e), ek(ek), ev(ev), heads(heads), causal(causal),
        biases(biases) {
    q = random(b * s * e, seed);
    k = random(b * t * ek, seed + 1);
    v = random(b * t * ev, seed + 2);
    wq = random(e * e, seed + 3);
    wk = random(ek * e, seed + 4);
    wv = random(ev * e, seed + 5);
    wo = random(e * e, seed + 6);
    bq = random(e, seed + 7);
    bk = random(e, seed + 8);
    bv = random(e, seed + 9);
    bo = random(e, seed + 10);
  }
  attention::Params params() const {
    attention::Params p;
    p.numHeads = heads;
    p.causal = causal;
    p.queryOffset = queryOffset;
    return p;
  }
  ConstFloatView opt(const Vec &x, Shape s) const {
    return biases ? cview(x, s) : ConstFloatView();
  }
  Shape ys() const { return {b, s, e}; }
  void forward(Vec &y, float *saved = nullptr) const {
    attention::forward(cview(q, {b, s, e}), cview(k, {b, t, ek}),
                       cview(v, {b, t, ev}), cview(wq, {e, e}), cview(wk, {ek, e}),
                       cview(wv, {ev, e}), cview(wo, {e, e}), opt(bq, {e}),
                       opt(bk, {e}), opt(bv, {e}), opt(bo, {e}), view(y, ys()),
                       params(), saved);
  }
  /// Gradients of everything for dy.
  struct G {
    Vec dq, dk, dv, dwq, dwk, dwv, dwo, dbq, dbk, dbv, dbo;
  };
  G backward(const Vec &dy, const float *saved = nullptr) const {
    G g{Vec(q.size()),  Vec(k.size()),  Vec(v.size()),  Vec(wq.size()),
        Vec(wk.size()), Vec(wv.size()), Vec(wo.size()), Vec(e),
        Vec(e),         Vec(e),         Vec(e)};
    attention::Grads gv;
    gv.dq = view(g.dq, {b, s, e});
    gv.dk = view(g.dk, {b, t, ek});
    gv.dv = view(g.dv, {b, t, ev});
    gv.dwq = view(g.dwq, {e, e});
    gv.dwk = view(g.dwk, {ek, e});
    gv.dwv = view(g.dwv, {ev, e});
    gv.dwo = view(g.dwo, {e, e});
    if (biases) {
      gv.dbq = view(g.dbq, {e});
      gv.dbk = view(g.dbk, {e});
      gv.dbv = view(g.dbv, {e});
      gv.dbo = view(g.dbo, {e});
    }
    attention::backward(cview(q, {b, s, e}), cview(k, {b, t, ek}),
                        cview(v, {b, t, ev}), cview(wq, {e, e}), cview(wk, {ek, e}),
                        cview(wv, {ev, e}), cview(wo, {e, e}), opt(bq, {e}),
                        opt(bk, {e}), opt(bv, {e}), cview(dy, ys()), gv, params(),
                        saved);
    return g;
  }
};

/// Plain multi-head attention in double.
Vec referenceAttention(const Attn &a) {
  int64_t p = a.e, hd = p / a.heads;
  auto project = [&](const Vec &in, int64_t rows, int64_t cols, const Vec &w,
                     const Vec &bias) {
    std::vector<double> out(rows * p);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < p; ++j) {
        double acc = a.biases ? bias[j] : 0.0;
        for (int64_t i = 0; i < cols; ++i)
          acc += double(in[r * cols + i]) * w[i * p + j];
        out[r * p + j] = acc;
      }
    return out;
  };
  std::vector<double> Q = project(a.q, a.b * a.s, a.e, a.wq, a.bq),
                      K = project(a.k, a.b * a.t, a.ek, a.wk, a.bk),
                      V = project(a.v, a.b * a.t, a.ev, a.wv, a.bv);
  std::vector<double> O(a.b * a.s * p, 0.0);
  for (int64_t b = 0; b < a.b; ++b)
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i = 0; i < a.s; ++i) {
        std::vector<double> sc(a.t);
        double mx = -1e300;
        int64_t limit = a.causal ? std::min(a.t, a.queryOffset + i + 1) : a.t;
        for (int64_t j = 0; j < limit; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < hd; ++d)
            acc += Q[(b * a.s + i) * p + h * hd + d] * K[(b * a.t + j) * p + h * hd + d];
          sc[j] = acc / std::sqrt(double(hd));
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < limit; ++j)
          sum += (sc[j] = std::exp(sc[j] - mx));
        for (int64_t j = 0; j < limit; ++j)
          for (int64_t d = 0; d < hd; ++d)
            O[(b * a.s + i) * p + h * hd + d] +=
                sc[j] / sum * V[(b * a.t + j) * p + h * hd + d];
      }
  Vec y(a.b * a.s * a.e);
  for (int64_t r = 0; r < a.b * a.s; ++r)
    for (int64_t o = 0; o < a.e; ++o) {
      double acc = a.biases ? a.bo[o] : 0.0;
      for (int64_t j = 0; j < p; ++j)
        acc += O[r * p + j] * a.wo[j * a.e + o];
      y[r * a.e + o] = static_cast<float>(acc);
    }
  return y;
}

class CpuAttention : public ::testing::TestWithParam<int> {
protected:
  Attn make() const {
    switch (GetParam()) {
    case 0: // cross attention, different key/value widths, biases
      return Attn(2, 3, 4, 4, 3, 5, 2, false, true, 140);
    case 1: // causal self-attention shapes, three heads, no biases
      return Attn(1, 4, 4, 6, 6, 6, 3, true, false, 150);
    default: // causal with biases, one head
      return Attn(2, 3, 3, 2, 2, 2, 1, true, true, 160);
    }
  }
};

TEST_P(CpuAttention, ForwardMatchesReference) {
  Attn a = make();
  Vec y(a.ys().numel());
  a.forward(y);
  EXPECT_TRUE(allClose(y, referenceAttention(a), 1e-5, 1e-4));
}

TEST_P(CpuAttention, BackwardMatchesFiniteDifferences) {
  Attn a = make();
  Vec proj = random(a.ys().numel(), 170);
  auto loss = [&] {
    Vec y(a.ys().numel());
    a.forward(y);
    return dot(y, proj);
  };
  Attn::G g = a.backward(proj);
  EXPECT_TRUE(gradientMatches(a.q, g.dq, loss));
  EXPECT_TRUE(gradientMatches(a.k, g.dk, loss));
  EXPECT_TRUE(gradientMatches(a.v, g.dv, loss));
  EXPECT_TRUE(gradientMatches(a.wq, g.dwq, loss));
  EXPECT_TRUE(gradientMatches(a.wk, g.dwk, loss));
  EXPECT_TRUE(gradientMatches(a.wv, g.dwv, loss));
  EXPECT_TRUE(gradientMatches(a.wo, g.dwo, loss));
  if (a.biases) {
    EXPECT_TRUE(gradientMatches(a.bq, g.dbq, loss));
    EXPECT_TRUE(gradientMatches(a.bk, g.dbk, loss));
    EXPECT_TRUE(gradientMatches(a.bv, g.dbv, loss));
    EXPECT_TRUE(gradientMatches(a.bo, g.dbo, loss));
  }
}

TEST_P(CpuAttention, SavedIntermediatesGiveTheSameGradients) {
  Attn a = make();
  Vec y(a.ys().numel());
  Vec saved(attention::savedSize(a.b, a.s, a.t, a.e));
  a.forward(y, saved.data());
  Vec dy = random(y.size(), 171);
  Attn::G g1 = a.backward(dy), g2 = a.backward(dy, saved.data());
  EXPECT_TRUE(allClose(g2.dq, g1.dq, 1e-6, 1e-6));
  EXPECT_TRUE(allClose(g2.dk, g1.dk, 1e-6, 1e-6));
  EXPECT_TRUE(allClose(g2.dwv, g1.dwv, 1e-6, 1e-6));
  EXPECT_TRUE(allClose(g2.dwo, g1.dwo, 1e-6, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuAttention, ::testing::Values(0, 1, 2));

TEST(CpuAttention, SelfAttentionGradientsMayShareOneBuffer) {
  Attn a(2, 3, 3, 4, 4, 4, 2, true, true, 180);
  a.k = a.q;
  a.v = a.q;
  Vec dy = random(a.ys().numel(), 181);
  Attn::G g = a.backward(dy);
  Vec sum(a.q.size());
  for (size_t i = 0; i < sum.size(); ++i)
    sum[i] = g.dq[i] + g.dk[i] + g.dv[i];
  Vec shared(a.q.size(), 0.0f);
  attention::Grads gv;
  gv.dq = gv.dk = gv.dv = view(shared, {2, 3, 4});
  attention::backward(cview(a.q, {2, 3, 4}), cview(a.q, {2, 3, 4}),
                      cview(a.q, {2, 3, 4}), cview(a.wq, {4, 4}),
                      cview(a.wk, {4, 4}), cview(a.wv, {4, 4}), cview(a.wo, {4, 4}),
                      cview(a.bq, {4}), cview(a.bk, {4}), cview(a.bv, {4}),
                      cview(dy, {2, 3, 4}), gv, a.params());
  EXPECT_TRUE(allClose(shared, sum, 1e-6, 1e-5));
}

TEST(CpuAttention, HeadShardsSumToTheWhole) {
  // Megatron: two shards of one head each; column slices of wq/wk/wv and
  // their biases, row slice of wo, bo on shard 0 only.
  Attn a(2, 3, 4, 4, 3, 5, 2, false, true, 190);
  Vec whole(a.ys().numel());
  a.forward(whole);
  Vec sum(whole.size(), 0.0f);
  int64_t e = a.e, pe = e / 2;
  for (int64_t r = 0; r < 2; ++r) {
    auto cols = [&](const Vec &w, int64_t rows) {
      Vec out(rows * pe);
      copy(cview(w, {rows, e}).narrow(1, r * pe, (r + 1) * pe), view(out, {rows, pe}));
      return out;
    };
    Vec wq = cols(a.wq, e), wk = cols(a.wk, a.ek), wv = cols(a.wv, a.ev);
    Vec bq = cols(a.bq, 1), bk = cols(a.bk, 1), bv = cols(a.bv, 1);
    Vec wo(pe * e);
    copy(cview(a.wo, {e, e}).narrow(0, r * pe, (r + 1) * pe), view(wo, {pe, e}));
    attention::Params p;
    p.numHeads = 1;
    Vec part(whole.size());
    attention::forward(cview(a.q, {a.b, a.s, e}), cview(a.k, {a.b, a.t, a.ek}),
                       cview(a.v, {a.b, a.t, a.ev}), cview(wq, {e, pe}),
                       cview(wk, {a.ek, pe}), cview(wv, {a.ev, pe}),
                       cview(wo, {pe, e}), cview(bq, {pe}), cview(bk, {pe}),
                       cview(bv, {pe}), r == 0 ? cview(a.bo, {e}) : ConstFloatView(),
                       view(part, a.ys()), p);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += part[i];
  }
  EXPECT_TRUE(allClose(sum, whole, 1e-5, 1e-5));
}

TEST(CpuAttention, CausalQueryShardUsesItsOffset) {
  Attn a(1, 6, 6, 4, 4, 4, 2, true, true, 200);
  Vec whole(a.ys().numel());
  a.forward(whole);
  // The shard holds query rows 3..6 and all keys and values.
  Attn shard = a;
  shard.s = 3;
  shard.queryOffset = 3;
  shard.q.assign(a.q.begin() + 3 * a.e, a.q.end());
  Vec part(shard.ys().numel());
  shard.forward(part);
  Vec expect(whole.begin() + 3 * a.e, whole.end());
  EXPECT_TRUE(allClose(part, expect, 1e-6, 1e-5));
}

//===----------------------------------------------------------------------===//
// lstm
//===----------------------------------------------------------------------===//

Vec referenceLstm(const Vec &x, const Vec &wih, const Vec &whh, const Vec *bias,
                  int64_t b, int64_t t, int64_t in, int64_t h) {
  Vec y(b * t * h);
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int64_t n = 0; n < b; ++n) {
    std::vector<double> hs(h, 0.0), cs(h, 0.0);
    for (int64_t s = 0; s < t; ++s) {
      std::vector<double> g(4 * h);
      for (int64_t j = 0; j < 4 * h; ++j) {
        double acc = bias ? (*bias)[j] : 0.0;
        for (int64_t i = 0; i < in; ++i)
          acc += double(x[(n * t + s) * in + i]) * wih[i * 4 * h + j];
        for (int64_t i = 0; i < h; ++i)
          acc += hs[i] * whh[i * 4 * h + j];
        g[j] = acc;
      }
      for (int64_t j = 0; j < h; ++j) {
        double ig = sig(g[j]), fg = sig(g[h + j]), gg = std::tanh(g[2 * h + j]),
               og = sig(g[3 * h + j]);
        cs[j] = fg * cs[j] + ig * gg;
        hs[j] = og * std::tanh(cs[j]);
        y[(n * t + s) * h + j] = static_cast<float>(hs[j]);
      }
    }
  }
  return y;
}

TEST(CpuLstm, ForwardAndBackward) {
  int64_t b = 2, t = 4, in = 3, h = 3;
  Vec x = random(b * t * in, 211), wih = random(in * 4 * h, 212, -0.6f, 0.6f),
      whh = random(h * 4 * h, 213, -0.6f, 0.6f), bias = random(4 * h, 214);
  Shape xs{b, t, in}, wis{in, 4 * h}, whs{h, 4 * h}, bs{4 * h}, ys{b, t, h};
  for (bool withBias : {true, false}) {
    auto bv = [&] { return withBias ? cview(bias, bs) : ConstFloatView(); };
    Vec y(ys.numel());
    lstm::forward(cview(x, xs), cview(wih, wis), cview(whh, whs), bv(), view(y, ys));
    EXPECT_TRUE(allClose(y, referenceLstm(x, wih, whh, withBias ? &bias : nullptr,
                                          b, t, in, h),
                         1e-6, 1e-5));
    Vec proj = random(ys.numel(), 215);
    auto loss = [&] {
      Vec out(ys.numel());
      lstm::forward(cview(x, xs), cview(wih, wis), cview(whh, whs), bv(),
                    view(out, ys));
      return dot(out, proj);
    };
    Vec dx(x.size()), dwi(wih.size()), dwh(whh.size()), db(bias.size());
    lstm::backward(cview(x, xs), cview(wih, wis), cview(whh, whs), bv(),
                   cview(proj, ys), view(dx, xs), view(dwi, wis), view(dwh, whs),
                   withBias ? view(db, bs) : FloatView());
    EXPECT_TRUE(gradientMatches(x, dx, loss));
    EXPECT_TRUE(gradientMatches(wih, dwi, loss));
    EXPECT_TRUE(gradientMatches(whh, dwh, loss));
    if (withBias) {
      EXPECT_TRUE(gradientMatches(bias, db, loss));
    }
    // The saved intermediates give the same gradients.
    Vec saved(lstm::savedSize(b, t, h)), y2(ys.numel());
    lstm::forward(cview(x, xs), cview(wih, wis), cview(whh, whs), bv(),
                  view(y2, ys), saved.data());
    EXPECT_EQ(y2, y);
    Vec dx2(x.size()), dwh2(whh.size());
    lstm::backward(cview(x, xs), cview(wih, wis), cview(whh, whs), bv(),
                   cview(proj, ys), view(dx2, xs), FloatView(), view(dwh2, whs),
                   FloatView(), saved.data());
    EXPECT_TRUE(allClose(dx2, dx, 1e-6, 1e-6));
    EXPECT_TRUE(allClose(dwh2, dwh, 1e-6, 1e-6));
  }
}

//===----------------------------------------------------------------------===//
// topk_gate
//===----------------------------------------------------------------------===//

TEST(CpuTopKGate, ForwardMatchesReference) {
  int64_t t = 6, e = 5, k = 2;
  Vec z = random(t * e, 221, -2.0f, 2.0f);
  Vec w(t * k);
  std::vector<int64_t> idx(t * k);
  topk_gate::forward(cview(z, {t, e}), k, view(w, {t, k}), idx.data());
  for (int64_t r = 0; r < t; ++r) {
    std::vector<int64_t> order(e);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return z[r * e + a] > z[r * e + b];
    });
    double total = 0, sel = 0;
    for (int64_t c = 0; c < e; ++c)
      total += std::exp(double(z[r * e + c]));
    for (int64_t j = 0; j < k; ++j)
      sel += std::exp(double(z[r * e + order[j]])) / total;
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(idx[r * k + j], order[j]);
      EXPECT_NEAR(w[r * k + j], std::exp(double(z[r * e + order[j]])) / total / sel,
                  1e-6);
    }
  }
}

TEST(CpuTopKGate, TiesGoToTheLowerIndex) {
  Vec z{1, 3, 3, 0, /**/ 2, 2, 2, 2};
  Vec w(6);
  std::vector<int64_t> idx(6);
  topk_gate::forward(cview(z, {2, 4}), 3, view(w, {2, 3}), idx.data());
  EXPECT_EQ(idx, (std::vector<int64_t>{1, 2, 0, 0, 1, 2}));
  EXPECT_NEAR(w[3], 1.0 / 3, 1e-7);
}

TEST(CpuTopKGate, BackwardMatchesFiniteDifferences) {
  int64_t t = 4, e = 6, k = 3;
  Vec z = distinct(t * e, 222, 0.1f);
  std::vector<int64_t> idx(t * k);
  Vec w(t * k), proj = random(t * k, 223);
  topk_gate::forward(cview(z, {t, e}), k, view(w, {t, k}), idx.data());
  auto loss = [&] {
    Vec out(t * k);
    std::vector<int64_t> i2(t * k);
    topk_gate::forward(cview(z, {t, e}), k, view(out, {t, k}), i2.data());
    return dot(out, proj);
  };
  Vec dz(z.size());
  topk_gate::backward(cview(z, {t, e}), idx.data(), cview(proj, {t, k}),
                      view(dz, {t, e}));
  EXPECT_TRUE(gradientMatches(z, dz, loss));
}

//===----------------------------------------------------------------------===//
// experts
//===----------------------------------------------------------------------===//

struct Moe {
  int64_t t = 8, d = 3, f = 4, e = 4, k = 2;
  Vec x, gw, w1, w2;
  std::vector<int64_t> idx;
  experts::Params p;

  explicit Moe(experts::Activation act, double capacityFactor) {
    x = random(t * d, 231);
    w1 = random(e * d * f, 232);
    w2 = random(e * f * d, 233);
    Vec logits = random(t * e, 234, -2.0f, 2.0f);
    gw.resize(t * k);
    idx.resize(t * k);
    topk_gate::forward(cview(logits, {t, e}), k, view(gw, {t, k}), idx.data());
    p.capacity = experts::capacity(t, k, e, capacityFactor);
    p.activation = act;
  }
  void forward(Vec &y) const {
    experts::forward(cview(x, {t, d}), cview(gw, {t, k}), IndexView(idx.data(), {t, k}),
                     cview(w1, {e, d, f}), cview(w2, {e, f, d}), view(y, {t, d}), p);
  }
};

Vec referenceExperts(const Moe &m) {
  std::vector<int64_t> used(m.e, 0);
  Vec y(m.t * m.d, 0.0f);
  for (int64_t t = 0; t < m.t; ++t)
    for (int64_t j = 0; j < m.k; ++j) {
      int64_t e = m.idx[t * m.k + j];
      if (used[e]++ >= m.p.capacity)
        continue; // dropped
      std::vector<double> a(m.f);
      for (int64_t c = 0; c < m.f; ++c) {
        double h = 0;
        for (int64_t i = 0; i < m.d; ++i)
          h += double(m.x[t * m.d + i]) * m.w1[(e * m.d + i) * m.f + c];
        a[c] = m.p.activation == experts::Activation::Relu
                   ? std::max(h, 0.0)
                   : 0.5 * h * (1 + std::erf(h / std::sqrt(2.0)));
      }
      for (int64_t o = 0; o < m.d; ++o) {
        double acc = 0;
        for (int64_t c = 0; c < m.f; ++c)
          acc += a[c] * m.w2[(e * m.f + c) * m.d + o];
        y[t * m.d + o] += static_cast<float>(m.gw[t * m.k + j] * acc);
      }
    }
  return y;
}

TEST(CpuExperts, CapacityFollowsGShard) {
  EXPECT_EQ(experts::capacity(1024, 2, 8, 1.25), 320);
  EXPECT_EQ(experts::capacity(8, 2, 4, 0.5), 2);
  EXPECT_EQ(experts::capacity(10, 1, 4, 1.0), 3);
  // At most the token count, like ExpertsOp::getCapacity.
  EXPECT_EQ(experts::capacity(4, 2, 2, 4.0), 4);
  EXPECT_EQ(experts::capacity(4, 2, 2, 1e300), 4);
}

TEST(CpuExperts, ForwardMatchesReferenceWithDrops) {
  for (auto act : {experts::Activation::Relu, experts::Activation::Gelu})
    for (double cf : {0.5, 2.0}) {
      Moe m(act, cf);
      Vec y(m.t * m.d);
      m.forward(y);
      EXPECT_TRUE(allClose(y, referenceExperts(m), 1e-5, 1e-5)) << "cf " << cf;
    }
}

TEST(CpuExperts, BackwardMatchesFiniteDifferences) {
  Moe m(experts::Activation::Gelu, 0.5);
  Vec proj = random(m.t * m.d, 235);
  auto loss = [&] {
    Vec y(m.t * m.d);
    m.forward(y);
    return dot(y, proj);
  };
  Vec dx(m.x.size()), dgw(m.gw.size()), dw1(m.w1.size()), dw2(m.w2.size());
  experts::backward(cview(m.x, {m.t, m.d}), cview(m.gw, {m.t, m.k}),
                    IndexView(m.idx.data(), {m.t, m.k}), cview(m.w1, {m.e, m.d, m.f}),
                    cview(m.w2, {m.e, m.f, m.d}), cview(proj, {m.t, m.d}),
                    view(dx, {m.t, m.d}), view(dgw, {m.t, m.k}),
                    view(dw1, {m.e, m.d, m.f}), view(dw2, {m.e, m.f, m.d}), m.p);
  EXPECT_TRUE(gradientMatches(m.x, dx, loss));
  EXPECT_TRUE(gradientMatches(m.gw, dgw, loss));
  EXPECT_TRUE(gradientMatches(m.w1, dw1, loss));
  EXPECT_TRUE(gradientMatches(m.w2, dw2, loss));
}

TEST(CpuExperts, ExpertShardsSumToTheWhole) {
  Moe m(experts::Activation::Relu, 0.5);
  Vec whole(m.t * m.d);
  m.forward(whole);
  Vec sum(whole.size(), 0.0f);
  int64_t le = m.e / 2;
  for (int64_t r = 0; r < 2; ++r) {
    experts::Params p = m.p;
    p.expertOffset = r * le;
    Vec part(whole.size());
    experts::forward(cview(m.x, {m.t, m.d}), cview(m.gw, {m.t, m.k}),
                     IndexView(m.idx.data(), {m.t, m.k}),
                     ConstFloatView(m.w1.data() + r * le * m.d * m.f, {le, m.d, m.f}),
                     ConstFloatView(m.w2.data() + r * le * m.f * m.d, {le, m.f, m.d}),
                     view(part, {m.t, m.d}), p);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += part[i];
  }
  EXPECT_TRUE(allClose(sum, whole, 1e-6, 1e-5));
}

TEST(CpuExperts, TokenShardsWithPriorCountsEqualTheWhole) {
  Moe m(experts::Activation::Relu, 0.5);
  Vec whole(m.t * m.d);
  m.forward(whole);
  int64_t half = m.t / 2;
  std::vector<int64_t> prior(m.e);
  experts::countAssignments(IndexView(m.idx.data(), {half, m.k}), m.e, prior.data());
  Vec parts(whole.size());
  for (int64_t r = 0; r < 2; ++r) {
    experts::Params p = m.p;
    std::vector<int64_t> zero(m.e, 0);
    p.priorCounts = r == 0 ? zero.data() : prior.data();
    experts::forward(ConstFloatView(m.x.data() + r * half * m.d, {half, m.d}),
                     ConstFloatView(m.gw.data() + r * half * m.k, {half, m.k}),
                     IndexView(m.idx.data() + r * half * m.k, {half, m.k}),
                     cview(m.w1, {m.e, m.d, m.f}), cview(m.w2, {m.e, m.f, m.d}),
                     FloatView(parts.data() + r * half * m.d, {half, m.d}), p);
  }
  EXPECT_TRUE(allClose(parts, whole, 0, 0));
  // Without the prior counts the second half would keep tokens the whole
  // run drops: the hook matters for this routing.
  Vec naive(half * m.d);
  experts::forward(ConstFloatView(m.x.data() + half * m.d, {half, m.d}),
                   ConstFloatView(m.gw.data() + half * m.k, {half, m.k}),
                   IndexView(m.idx.data() + half * m.k, {half, m.k}),
                   cview(m.w1, {m.e, m.d, m.f}), cview(m.w2, {m.e, m.f, m.d}),
                   view(naive, {half, m.d}), m.p);
  EXPECT_NE(naive, Vec(parts.begin() + half * m.d, parts.end()));
}

} // namespace
