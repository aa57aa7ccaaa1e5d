//===- CpuNormLossTest.cpp - batch_norm, layer_norm and the losses --------===//

#include "CpuKernelTestUtil.h"

#include <cmath>

using namespace soap::cpu;
using namespace soap::cpu::test;

namespace {

//===----------------------------------------------------------------------===//
// batch_norm
//===----------------------------------------------------------------------===//

/// Plain training-mode batch norm of x [N, C, S].
Vec referenceBatchNorm(const Vec &x, int64_t n, int64_t c, int64_t s,
                       const Vec &scale, const Vec &bias, double eps,
                       std::vector<double> *means = nullptr,
                       std::vector<double> *vars = nullptr) {
  Vec y(x.size());
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < s; ++j)
        sum += x[(i * c + ch) * s + j];
    double mean = sum / (n * s);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < s; ++j) {
        double d = x[(i * c + ch) * s + j] - mean;
        sq += d * d;
      }
    double var = sq / (n * s);
    if (means)
      means->push_back(mean);
    if (vars)
      vars->push_back(var);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < s; ++j) {
        int64_t e = (i * c + ch) * s + j;
        y[e] = static_cast<float>((x[e] - mean) / std::sqrt(var + eps) * scale[ch] +
                                  bias[ch]);
      }
  }
  return y;
}

TEST(CpuBatchNorm, ForwardAndBackward) {
  for (Shape xs : {Shape{4, 3, 5, 2}, Shape{8, 3}}) {
    int64_t n = xs[0], c = xs[1], s = xs.numel() / (n * c);
    Vec x = random(xs.numel(), 101, -2.0f, 3.0f), scale = random(c, 102),
        bias = random(c, 103), y(xs.numel());
    Vec mean(c), invStd(c);
    batch_norm::forward(cview(x, xs), cview(scale, {c}), cview(bias, {c}), 1e-5,
                        view(y, xs), mean.data(), invStd.data());
    std::vector<double> means, vars;
    EXPECT_TRUE(allClose(y, referenceBatchNorm(x, n, c, s, scale, bias, 1e-5,
                                               &means, &vars),
                         1e-5, 1e-4));
    for (int64_t ch = 0; ch < c; ++ch) {
      EXPECT_NEAR(mean[ch], means[ch], 1e-6);
      EXPECT_NEAR(invStd[ch], 1.0 / std::sqrt(vars[ch] + 1e-5), 1e-4);
    }

    Vec proj = random(xs.numel(), 104);
    auto loss = [&] {
      Vec out(xs.numel());
      batch_norm::forward(cview(x, xs), cview(scale, {c}), cview(bias, {c}),
                          1e-5, view(out, xs), nullptr, nullptr);
      return dot(out, proj);
    };
    Vec dx(x.size()), ds(c), db(c);
    batch_norm::backward(cview(x, xs), cview(scale, {c}), cview(proj, xs), 1e-5,
                         view(dx, xs), view(ds, {c}), view(db, {c}));
    EXPECT_TRUE(gradientMatches(x, dx, loss));
    EXPECT_TRUE(gradientMatches(scale, ds, loss));
    EXPECT_TRUE(gradientMatches(bias, db, loss));
  }
}

TEST(CpuBatchNorm, RunningStatisticsFollowPyTorch) {
  float mean[1] = {2.0f}, var[1] = {3.0f};
  float rm[1] = {0.0f}, rv[1] = {1.0f};
  batch_norm::updateRunningStats(mean, var, 4, 1, 0.1, rm, rv);
  EXPECT_FLOAT_EQ(rm[0], 0.2f);                         // 0.9 * 0 + 0.1 * 2
  EXPECT_FLOAT_EQ(rv[0], 0.9f + 0.1f * 3.0f * 4 / 3);   // unbiased: * 4 / 3
}

TEST(CpuBatchNorm, PhasesOverTwoBatchHalvesEqualTheWhole) {
  int64_t n = 6, c = 3, s = 4, half = n / 2;
  Shape xs{n, c, 2, 2}, hs{half, c, 2, 2};
  Vec x = random(xs.numel(), 105, -1.0f, 4.0f), scale = random(c, 106),
      bias = random(c, 107), dy = random(xs.numel(), 108);
  // The whole batch on one device.
  Vec y(xs.numel()), dx(xs.numel()), ds(c), db(c);
  batch_norm::forward(cview(x, xs), cview(scale, {c}), cview(bias, {c}), 1e-5,
                      view(y, xs), nullptr, nullptr);
  batch_norm::backward(cview(x, xs), cview(scale, {c}), cview(dy, xs), 1e-5,
                       view(dx, xs), view(ds, {c}), view(db, {c}));

  // Two shards: local sums, "all-reduce", normalize each half.
  const float *xh[2] = {x.data(), x.data() + half * c * s};
  const float *dyh[2] = {dy.data(), dy.data() + half * c * s};
  std::vector<double> sum(c, 0), sq(c, 0);
  for (int r = 0; r < 2; ++r) {
    std::vector<double> ls(c), lq(c);
    batch_norm::localSums(ConstFloatView(xh[r], hs), ls.data(), lq.data());
    for (int64_t i = 0; i < c; ++i) {
      sum[i] += ls[i];
      sq[i] += lq[i];
    }
  }
  Vec mean(c), var(c), invStd(c);
  batch_norm::finalizeStats(sum.data(), sq.data(), n * s, c, 1e-5, mean.data(),
                            var.data(), invStd.data());
  Vec yShards(xs.numel()), dxShards(xs.numel()), dsShards(c), dbShards(c);
  std::vector<double> sumDy(c, 0), sumDyXhat(c, 0);
  for (int r = 0; r < 2; ++r) {
    batch_norm::normalize(ConstFloatView(xh[r], hs), mean.data(), invStd.data(),
                          cview(scale, {c}), cview(bias, {c}),
                          FloatView(yShards.data() + r * half * c * s, hs));
    std::vector<double> a(c), b(c);
    batch_norm::backwardLocalSums(ConstFloatView(xh[r], hs),
                                  ConstFloatView(dyh[r], hs), mean.data(),
                                  invStd.data(), a.data(), b.data());
    // Parameter gradients from the LOCAL sums (replicated scale/bias: the
    // gradient all-reduce adds the shards up).
    batch_norm::backwardParams(a.data(), b.data(), c, view(dsShards, {c}),
                               view(dbShards, {c}));
    for (int64_t i = 0; i < c; ++i) {
      sumDy[i] += a[i];
      sumDyXhat[i] += b[i];
    }
  }
  for (int r = 0; r < 2; ++r)
    batch_norm::backwardInput(ConstFloatView(xh[r], hs), ConstFloatView(dyh[r], hs),
                              mean.data(), invStd.data(), cview(scale, {c}),
                              sumDy.data(), sumDyXhat.data(), n * s,
                              FloatView(dxShards.data() + r * half * c * s, hs));
  EXPECT_TRUE(allClose(yShards, y, 1e-6, 1e-5));
  EXPECT_TRUE(allClose(dxShards, dx, 1e-6, 1e-5));
  EXPECT_TRUE(allClose(dsShards, ds, 1e-6, 1e-5));
  EXPECT_TRUE(allClose(dbShards, db, 1e-6, 1e-5));
}

//===----------------------------------------------------------------------===//
// layer_norm
//===----------------------------------------------------------------------===//

TEST(CpuLayerNorm, ForwardAndBackward) {
  Shape xs{2, 3, 4};
  for (int64_t axis : {-1, 1}) {
    for (bool withBias : {true, false}) {
      int ax = axis < 0 ? 2 : 1;
      int64_t d = xs.product(ax, 3), rows = xs.numel() / d;
      Shape ps = ax == 2 ? Shape{4} : Shape{3, 4};
      Vec x = random(xs.numel(), 111, -2.0f, 2.0f), scale = random(d, 112),
          bias = random(d, 113), y(xs.numel()), ref(xs.numel());
      auto bv = [&] { return withBias ? cview(bias, ps) : ConstFloatView(); };
      layer_norm::forward(cview(x, xs), cview(scale, ps), bv(), axis, 1e-5,
                          view(y, xs));
      for (int64_t r = 0; r < rows; ++r) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < d; ++i)
          m += x[r * d + i];
        m /= d;
        for (int64_t i = 0; i < d; ++i)
          v += (x[r * d + i] - m) * (x[r * d + i] - m);
        v /= d;
        for (int64_t i = 0; i < d; ++i)
          ref[r * d + i] = static_cast<float>(
              (x[r * d + i] - m) / std::sqrt(v + 1e-5) * scale[i] +
              (withBias ? bias[i] : 0.0));
      }
      EXPECT_TRUE(allClose(y, ref, 1e-5, 1e-5));

      Vec proj = random(xs.numel(), 114);
      auto loss = [&] {
        Vec out(xs.numel());
        layer_norm::forward(cview(x, xs), cview(scale, ps), bv(), axis, 1e-5,
                            view(out, xs));
        return dot(out, proj);
      };
      Vec dx(x.size()), ds(d), db(d);
      layer_norm::backward(cview(x, xs), cview(scale, ps), cview(proj, xs), axis,
                           1e-5, view(dx, xs), view(ds, ps),
                           withBias ? view(db, ps) : FloatView());
      EXPECT_TRUE(gradientMatches(x, dx, loss));
      EXPECT_TRUE(gradientMatches(scale, ds, loss));
      if (withBias) {
        EXPECT_TRUE(gradientMatches(bias, db, loss));
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// losses
//===----------------------------------------------------------------------===//

TEST(CpuSoftmaxCrossEntropy, ForwardAndBackward) {
  int64_t c = 5;
  Shape zs{2, 3, c}, ls{2, 3};
  Vec z = random(zs.numel(), 121, -3.0f, 3.0f);
  std::vector<int64_t> labels{0, 4, 2, 2, 1, 3};
  std::vector<int32_t> labels32(labels.begin(), labels.end());
  double ref = 0;
  for (int64_t r = 0; r < 6; ++r) {
    double s = 0;
    for (int64_t j = 0; j < c; ++j)
      s += std::exp(double(z[r * c + j]));
    ref += std::log(s) - z[r * c + labels[r]];
  }
  ref /= 6;
  EXPECT_NEAR(softmax_cross_entropy::forward(cview(z, zs), IndexView(labels.data(), ls)),
              ref, 1e-6);
  EXPECT_NEAR(softmax_cross_entropy::forward(cview(z, zs),
                                             IndexView(labels32.data(), ls)),
              ref, 1e-6);

  auto loss = [&] {
    return double(softmax_cross_entropy::forward(cview(z, zs),
                                                 IndexView(labels.data(), ls)));
  };
  Vec dz(z.size());
  softmax_cross_entropy::backward(cview(z, zs), IndexView(labels.data(), ls), 1.0f,
                                  view(dz, zs));
  EXPECT_TRUE(gradientMatches(z, dz, loss, 1e-2, 2e-4));
}

TEST(CpuSoftmaxCrossEntropy, BatchShardsAddUpWithTheGlobalCount) {
  int64_t c = 4, n = 6;
  Vec z = random(n * c, 122, -2.0f, 2.0f);
  std::vector<int64_t> labels{3, 1, 0, 2, 2, 1};
  float whole = softmax_cross_entropy::forward(cview(z, {n, c}),
                                               IndexView(labels.data(), {n}));
  Vec dWhole(n * c);
  softmax_cross_entropy::backward(cview(z, {n, c}), IndexView(labels.data(), {n}),
                                  1.0f, view(dWhole, {n, c}));
  float parts = 0;
  Vec dParts(n * c);
  for (int r = 0; r < 2; ++r) {
    ConstFloatView zr(z.data() + r * 3 * c, {3, c});
    IndexView lr(labels.data() + r * 3, {3});
    parts += softmax_cross_entropy::forward(zr, lr, n);
    softmax_cross_entropy::backward(zr, lr, 1.0f,
                                    FloatView(dParts.data() + r * 3 * c, {3, c}), n);
  }
  EXPECT_NEAR(parts, whole, 1e-6);
  EXPECT_TRUE(allClose(dParts, dWhole, 1e-7, 1e-6));
}

/// ONNX's SoftmaxCrossEntropyLoss reference (onnx/backend/test/case/node/
/// softmaxcrossentropy.py), written out: per-position losses w_i * nll_i,
/// reduced.
Vec referenceWeightedLoss(const Vec &z, int64_t c,
                          const std::vector<int64_t> &labels, const Vec *weight,
                          const softmax_cross_entropy::Options &o) {
  size_t n = labels.size();
  Vec losses(n);
  double sum = 0, wsum = 0;
  for (size_t r = 0; r < n; ++r) {
    int64_t l = labels[r];
    bool ignored = o.hasIgnoreIndex && l == o.ignoreIndex;
    double w = ignored ? 0.0 : weight ? (*weight)[l] : 1.0;
    double nll = 0;
    if (!ignored) {
      double s = 0;
      for (int64_t j = 0; j < c; ++j)
        s += std::exp(double(z[r * c + j]));
      nll = std::log(s) - z[r * c + l];
    }
    losses[r] = float(w * nll);
    sum += w * nll;
    wsum += w;
  }
  using R = softmax_cross_entropy::Reduction;
  if (o.reduction == R::None)
    return losses;
  if (o.reduction == R::Sum)
    return {float(sum)};
  return {float(sum / (weight || o.hasIgnoreIndex ? wsum : double(n)))};
}

TEST(CpuSoftmaxCrossEntropy, WeightsIgnoreIndexAndReductions) {
  using R = softmax_cross_entropy::Reduction;
  int64_t c = 4;
  Shape zs{2, 3, c}, ls{2, 3}, ws{c};
  Vec z0 = random(zs.numel(), 125, -2.0f, 2.0f), w0 = random(c, 126, 0.2f, 1.5f);
  // Label 3 is the ignored one where ignore_index is set.
  std::vector<int64_t> labels{0, 3, 2, 1, 3, 2};
  for (R red : {R::Mean, R::Sum, R::None})
    for (bool hasWeight : {false, true})
      for (bool ignore : {false, true}) {
        SCOPED_TRACE(testing::Message() << "reduction " << int(red) << " weight "
                                        << hasWeight << " ignore " << ignore);
        softmax_cross_entropy::Options o;
        o.reduction = red;
        o.hasIgnoreIndex = ignore;
        o.ignoreIndex = 3;
        Vec z = z0, w = w0;
        Shape outShape = red == R::None ? ls : Shape{};
        Vec loss(outShape.numel());
        auto run = [&](Vec &out) {
          softmax_cross_entropy::forward(
              cview(z, zs), IndexView(labels.data(), ls),
              hasWeight ? cview(w, ws) : ConstFloatView(), o, view(out, outShape));
        };
        run(loss);
        Vec ref = referenceWeightedLoss(z, c, labels, hasWeight ? &w : nullptr, o);
        EXPECT_TRUE(allClose(loss, ref, 1e-6, 1e-5));

        Vec proj = random(outShape.numel(), 127, 0.5f, 1.5f);
        auto objective = [&] {
          Vec out(outShape.numel());
          run(out);
          return dot(out, proj);
        };
        Vec dz(z.size()), dw(c);
        softmax_cross_entropy::backward(
            cview(z, zs), IndexView(labels.data(), ls),
            hasWeight ? cview(w, ws) : ConstFloatView(), o, cview(proj, outShape),
            view(dz, zs), hasWeight ? view(dw, ws) : FloatView());
        EXPECT_TRUE(gradientMatches(z, dz, objective, 1e-2, 2e-4));
        if (hasWeight) {
          EXPECT_TRUE(gradientMatches(w, dw, objective, 1e-2, 2e-4));
        }
        // Ignored positions get no gradient.
        if (ignore) {
          for (int64_t r : {1, 4})
            for (int64_t j = 0; j < c; ++j)
              EXPECT_EQ(dz[r * c + j], 0.0f);
        }
      }
}

TEST(CpuMseLoss, ForwardBackwardAndShards) {
  Shape s{4, 3};
  Vec p = random(12, 123), t = random(12, 124);
  double ref = 0;
  for (int i = 0; i < 12; ++i)
    ref += (double(p[i]) - t[i]) * (double(p[i]) - t[i]);
  ref /= 12;
  EXPECT_NEAR(mse_loss::forward(cview(p, s), cview(t, s)), ref, 1e-6);
  auto loss = [&] { return double(mse_loss::forward(cview(p, s), cview(t, s))); };
  Vec dp(12), dt(12);
  mse_loss::backward(cview(p, s), cview(t, s), 1.0f, view(dp, s), view(dt, s));
  EXPECT_TRUE(gradientMatches(p, dp, loss, 1e-2, 2e-4));
  EXPECT_TRUE(gradientMatches(t, dt, loss, 1e-2, 2e-4));
  // Two batch shards of two rows each, divided by the global count.
  float parts = mse_loss::forward(ConstFloatView(p.data(), {2, 3}),
                                  ConstFloatView(t.data(), {2, 3}), 12) +
                mse_loss::forward(ConstFloatView(p.data() + 6, {2, 3}),
                                  ConstFloatView(t.data() + 6, {2, 3}), 12);
  EXPECT_NEAR(parts, ref, 1e-6);
}

} // namespace
