//===- CpuDenseConvTest.cpp - linear, matmul, conv2d, pool2d --------------===//

#include "CpuKernelTestUtil.h"

#include <cmath>
#include <limits>
#include <ostream>
#include <thread>

using namespace soap::cpu;
using namespace soap::cpu::test;

namespace {

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

TEST(CpuLinear, ForwardMatchesReference) {
  int64_t b = 2, s = 3, k = 5, n = 4;
  Vec x = random(b * s * k, 1), w = random(k * n, 2), bias = random(n, 3);
  for (bool withBias : {true, false}) {
    Vec y(b * s * n);
    linear::forward(cview(x, {b, s, k}), cview(w, {k, n}),
                    withBias ? cview(bias, {n}) : ConstFloatView(),
                    view(y, {b, s, n}));
    Vec ref(b * s * n);
    for (int64_t r = 0; r < b * s; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double acc = withBias ? bias[j] : 0.0;
        for (int64_t i = 0; i < k; ++i)
          acc += double(x[r * k + i]) * w[i * n + j];
        ref[r * n + j] = static_cast<float>(acc);
      }
    EXPECT_TRUE(allClose(y, ref));
  }
}

TEST(CpuLinear, BackwardMatchesFiniteDifferences) {
  int64_t m = 6, k = 5, n = 4;
  Vec x = random(m * k, 4), w = random(k * n, 5), b = random(n, 6);
  Vec proj = random(m * n, 7);
  auto loss = [&] {
    Vec y(m * n);
    linear::forward(cview(x, {2, 3, k}), cview(w, {k, n}), cview(b, {n}),
                    view(y, {2, 3, n}));
    return dot(y, proj);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  linear::backward(cview(x, {2, 3, k}), cview(w, {k, n}), cview(proj, {2, 3, n}),
                   view(dx, {2, 3, k}), view(dw, {k, n}), view(db, {n}));
  EXPECT_TRUE(gradientMatches(x, dx, loss));
  EXPECT_TRUE(gradientMatches(w, dw, loss));
  EXPECT_TRUE(gradientMatches(b, db, loss));
}

TEST(CpuLinear, BackwardAccumulates) {
  int64_t m = 3, k = 2, n = 2;
  Vec x = random(m * k, 8), w = random(k * n, 9), dy = random(m * n, 10);
  Vec dx1(m * k), dw1(k * n), db1(n);
  linear::backward(cview(x, {m, k}), cview(w, {k, n}), cview(dy, {m, n}),
                   view(dx1, {m, k}), view(dw1, {k, n}), view(db1, {n}));
  Vec dx2(m * k, 1.0f), dw2(k * n, 1.0f), db2(n, 1.0f);
  linear::backward(cview(x, {m, k}), cview(w, {k, n}), cview(dy, {m, n}),
                   view(dx2, {m, k}), view(dw2, {k, n}), view(db2, {n}));
  for (float &v : dx1) v += 1.0f;
  for (float &v : dw1) v += 1.0f;
  for (float &v : db1) v += 1.0f;
  EXPECT_TRUE(allClose(dx2, dx1));
  EXPECT_TRUE(allClose(dw2, dw1));
  EXPECT_TRUE(allClose(db2, db1));
}

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

/// Plain broadcast batched product.
Vec referenceMatmul(const Vec &a, const std::vector<int64_t> &as, const Vec &b,
                    const std::vector<int64_t> &bs, std::vector<int64_t> &ys) {
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  size_t rank = std::max(as.size(), bs.size());
  std::vector<int64_t> ab(rank - 2, 1), bb(rank - 2, 1), yb(rank - 2);
  for (size_t i = 0; i < as.size() - 2; ++i)
    ab[rank - as.size() + i] = as[i];
  for (size_t i = 0; i < bs.size() - 2; ++i)
    bb[rank - bs.size() + i] = bs[i];
  int64_t count = 1;
  for (size_t i = 0; i < rank - 2; ++i) {
    yb[i] = std::max(ab[i], bb[i]);
    count *= yb[i];
  }
  ys = yb;
  ys.push_back(m);
  ys.push_back(n);
  Vec y(count * m * n);
  for (int64_t c = 0; c < count; ++c) {
    // Batch multi-index of c, then each operand's matrix index.
    int64_t rem = c, ai = 0, bi = 0, sa = 1, sb = 1;
    for (int i = static_cast<int>(rank) - 3; i >= 0; --i) {
      int64_t idx = rem % yb[i];
      rem /= yb[i];
      ai += (ab[i] == 1 ? 0 : idx) * sa;
      bi += (bb[i] == 1 ? 0 : idx) * sb;
      sa *= ab[i];
      sb *= bb[i];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t t = 0; t < k; ++t)
          acc += double(a[ai * m * k + i * k + t]) * b[bi * k * n + t * n + j];
        y[c * m * n + i * n + j] = static_cast<float>(acc);
      }
  }
  return y;
}

struct MatmulCase {
  std::vector<int64_t> a, b;
};

class CpuMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(CpuMatmul, ForwardAndBackward) {
  const MatmulCase &c = GetParam();
  Shape as(c.a), bs(c.b);
  Vec a = random(as.numel(), 11), b = random(bs.numel(), 12);
  std::vector<int64_t> ysv;
  Vec ref = referenceMatmul(a, c.a, b, c.b, ysv);
  Shape ys(ysv);
  Vec y(ys.numel());
  matmul::forward(cview(a, as), cview(b, bs), view(y, ys));
  EXPECT_TRUE(allClose(y, ref));

  Vec proj = random(ys.numel(), 13);
  auto loss = [&] {
    Vec out(ys.numel());
    matmul::forward(cview(a, as), cview(b, bs), view(out, ys));
    return dot(out, proj);
  };
  Vec da(a.size()), db(b.size());
  matmul::backward(cview(a, as), cview(b, bs), cview(proj, ys), view(da, as),
                   view(db, bs));
  EXPECT_TRUE(gradientMatches(a, da, loss));
  EXPECT_TRUE(gradientMatches(b, db, loss));
}

INSTANTIATE_TEST_SUITE_P(
    Broadcast, CpuMatmul,
    ::testing::Values(MatmulCase{{3, 4}, {4, 2}},            // plain
                      MatmulCase{{2, 3, 4, 5}, {5, 2}},      // rhs folds
                      MatmulCase{{3, 2, 4}, {2, 1, 4, 3}},   // both broadcast
                      MatmulCase{{2, 3}, {3, 3, 2}},         // lhs broadcast
                      MatmulCase{{2, 1, 2, 3}, {1, 3, 3, 2}} // size-1 axes
                      ));

//===----------------------------------------------------------------------===//
// conv2d
//===----------------------------------------------------------------------===//

struct ConvCase {
  int64_t n, c, h, w, o, kh, kw;
  conv2d::Params p;
  bool bias;
};

Vec referenceConv(const ConvCase &c, const Vec &x, const Vec &w, const Vec &b,
                  int64_t oh, int64_t ow) {
  int64_t cg = c.c / c.p.groups, og = c.o / c.p.groups;
  Vec y(c.n * c.o * oh * ow);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t o = 0; o < c.o; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = c.bias ? b[o] : 0.0;
          int64_t g = o / og;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t u = 0; u < c.kh; ++u)
              for (int64_t v = 0; v < c.kw; ++v) {
                int64_t ih = i * c.p.strides[0] - c.p.padding[0] + u * c.p.dilations[0];
                int64_t iw = j * c.p.strides[1] - c.p.padding[1] + v * c.p.dilations[1];
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w)
                  continue;
                acc += double(x[((n * c.c + g * cg + ci) * c.h + ih) * c.w + iw]) *
                       w[((o * cg + ci) * c.kh + u) * c.kw + v];
              }
          y[((n * c.o + o) * oh + i) * ow + j] = static_cast<float>(acc);
        }
  return y;
}

void PrintTo(const ConvCase &c, std::ostream *os) {
  *os << "x [" << c.n << "x" << c.c << "x" << c.h << "x" << c.w << "] w [" << c.o
      << "x" << c.c / c.p.groups << "x" << c.kh << "x" << c.kw << "] stride "
      << c.p.strides[0] << "," << c.p.strides[1] << " dilation "
      << c.p.dilations[0] << " groups " << c.p.groups;
}

class CpuConv2d : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CpuConv2d, ForwardAndBackward) {
  const ConvCase &c = GetParam();
  int64_t oh = conv2d::outputSize(c.h, c.p.padding[0], c.p.padding[2], c.kh,
                                  c.p.strides[0], c.p.dilations[0]);
  int64_t ow = conv2d::outputSize(c.w, c.p.padding[1], c.p.padding[3], c.kw,
                                  c.p.strides[1], c.p.dilations[1]);
  Shape xs{c.n, c.c, c.h, c.w}, ws{c.o, c.c / c.p.groups, c.kh, c.kw},
      ys{c.n, c.o, oh, ow};
  Vec x = random(xs.numel(), 21), w = random(ws.numel(), 22),
      b = random(c.o, 23);
  auto bv = [&] { return c.bias ? cview(b, {c.o}) : ConstFloatView(); };
  Vec y(ys.numel());
  conv2d::forward(cview(x, xs), cview(w, ws), bv(), view(y, ys), c.p);
  EXPECT_TRUE(allClose(y, referenceConv(c, x, w, b, oh, ow), 1e-5, 1e-4));

  Vec proj = random(ys.numel(), 24);
  auto loss = [&] {
    Vec out(ys.numel());
    conv2d::forward(cview(x, xs), cview(w, ws), bv(), view(out, ys), c.p);
    return dot(out, proj);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  conv2d::backward(cview(x, xs), cview(w, ws), cview(proj, ys), view(dx, xs),
                   view(dw, ws), c.bias ? view(db, {c.o}) : FloatView(), c.p);
  EXPECT_TRUE(gradientMatches(x, dx, loss));
  EXPECT_TRUE(gradientMatches(w, dw, loss));
  if (c.bias) {
    EXPECT_TRUE(gradientMatches(b, db, loss));
  }
}

conv2d::Params convParams(std::vector<int64_t> s, std::vector<int64_t> pad,
                          std::vector<int64_t> d, int64_t groups) {
  conv2d::Params p;
  p.strides[0] = s[0];
  p.strides[1] = s[1];
  for (int i = 0; i < 4; ++i)
    p.padding[i] = pad[i];
  p.dilations[0] = d[0];
  p.dilations[1] = d[1];
  p.groups = groups;
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuConv2d,
    ::testing::Values(
        // 3x3, pad 1 (same), bias.
        ConvCase{2, 3, 5, 5, 4, 3, 3, convParams({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
        // stride 2, asymmetric padding, rectangular kernel.
        ConvCase{1, 2, 7, 6, 3, 3, 2, convParams({2, 2}, {1, 0, 2, 1}, {1, 1}, 1), true},
        // dilation 2.
        ConvCase{1, 2, 7, 7, 2, 3, 3, convParams({1, 1}, {2, 2, 2, 2}, {2, 2}, 1), false},
        // groups 2.
        ConvCase{2, 4, 5, 4, 6, 3, 3, convParams({1, 2}, {1, 1, 1, 1}, {1, 1}, 2), true},
        // depthwise.
        ConvCase{1, 3, 5, 5, 3, 3, 3, convParams({1, 1}, {1, 1, 1, 1}, {1, 1}, 3), false},
        // depthwise with a channel multiplier, stride 2, dilation 2.
        ConvCase{2, 2, 7, 6, 4, 3, 2, convParams({2, 1}, {1, 2, 0, 1}, {2, 2}, 2), true},
        // 1x1 depthwise.
        ConvCase{1, 3, 3, 4, 3, 1, 1, convParams({1, 1}, {0, 0, 0, 0}, {1, 1}, 3), true},
        // one input channel, eight outputs: im2col + GEMM, not depthwise.
        ConvCase{2, 1, 6, 6, 8, 3, 3, convParams({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
        // 1x1 unit stride: the direct GEMM path.
        ConvCase{2, 3, 4, 4, 5, 1, 1, convParams({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},
        // 1x1 with groups.
        ConvCase{2, 4, 3, 3, 2, 1, 1, convParams({1, 1}, {0, 0, 0, 0}, {1, 1}, 2), false},
        // Tiny outputs and 5 images: several images per GEMM block.
        ConvCase{5, 2, 4, 4, 3, 3, 3, convParams({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), true}));

TEST(CpuConv2d, OutputSizeFormula) {
  EXPECT_EQ(conv2d::outputSize(224, 3, 3, 7, 2, 1), 112);
  EXPECT_EQ(conv2d::outputSize(7, 2, 2, 3, 1, 2), 7);
  EXPECT_EQ(conv2d::outputSize(5, 0, 0, 5, 1, 1), 1);
}

//===----------------------------------------------------------------------===//
// pool2d
//===----------------------------------------------------------------------===//

struct PoolCase {
  int64_t n, c, h, w;
  pool2d::Params p;
};

pool2d::Params poolParams(pool2d::Kind kind, std::vector<int64_t> k,
                          std::vector<int64_t> s, std::vector<int64_t> pad,
                          bool includePad,
                          std::vector<int64_t> dilations = {1, 1}) {
  pool2d::Params p;
  p.dilations[0] = dilations[0];
  p.dilations[1] = dilations[1];
  p.kind = kind;
  p.kernel[0] = k[0];
  p.kernel[1] = k[1];
  p.strides[0] = s[0];
  p.strides[1] = s[1];
  for (int i = 0; i < 4; ++i)
    p.padding[i] = pad[i];
  p.countIncludePad = includePad;
  return p;
}

void PrintTo(const PoolCase &c, std::ostream *os) {
  *os << (c.p.kind == pool2d::Kind::Max ? "max" : "avg") << " x [" << c.n << "x"
      << c.c << "x" << c.h << "x" << c.w << "] kernel " << c.p.kernel[0] << "x"
      << c.p.kernel[1] << " dilations " << c.p.dilations[0] << "x"
      << c.p.dilations[1];
}

class CpuPool2d : public ::testing::TestWithParam<PoolCase> {};

TEST(CpuPool2d, ArgmaxIsWhereMaxPoolingRoutesTheGradient) {
  // x [2, 3, 5, 6], 3x2 windows, strides [2, 1], padding [1, 0, 1, 1],
  // dilations [1, 2]. The global index of each window's maximum, against a
  // reference loop and against where backward puts dy = 1; then a shard
  // (batch 1, channels 1..2) numbers its elements in the whole tensor.
  Shape xs{2, 3, 5, 6};
  Vec x = random(xs.numel(), 91);
  pool2d::Params p;
  p.kernel[0] = 3;
  p.kernel[1] = 2;
  p.strides[0] = 2;
  p.padding[0] = 1;
  p.padding[2] = 1;
  p.padding[3] = 1;
  p.dilations[1] = 2;
  const int64_t oh = conv2d::outputSize(5, 1, 1, 3, 2, 1),
                ow = conv2d::outputSize(6, 0, 1, 2, 1, 2);
  Shape ys{2, 3, oh, ow};
  std::vector<int64_t> idx(ys.numel(), -1), colIdx(ys.numel(), -1);
  pool2d::argmax(cview(x, xs), TensorView<int64_t>(idx.data(), ys), p, 3, 0,
                 0, false);
  pool2d::argmax(cview(x, xs), TensorView<int64_t>(colIdx.data(), ys), p, 3,
                 0, 0, true);
  Vec dy(ys.numel(), 1.0f), dx(xs.numel(), 0.0f);
  pool2d::backward(cview(x, xs), cview(dy, ys), view(dx, xs), p);
  Vec routed(xs.numel(), 0.0f);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t plane = n * 3 + c, best = -1;
          for (int64_t a = 0; a < 3; ++a)
            for (int64_t b = 0; b < 2; ++b) {
              int64_t h = i * 2 - 1 + a, w = j - 0 + 2 * b;
              if (h < 0 || h >= 5 || w < 0 || w >= 6)
                continue;
              int64_t at = (plane * 5 + h) * 6 + w;
              if (best < 0 || x[at] > x[best])
                best = at;
            }
          int64_t o = (plane * oh + i) * ow + j;
          ASSERT_EQ(idx[o], best) << o;
          int64_t h = (best / 6) % 5, w = best % 6;
          ASSERT_EQ(colIdx[o], (plane * 6 + w) * 5 + h) << o;
          routed[best] += 1.0f;
        }
  EXPECT_EQ(routed, dx);
  // The shard: batch 1, channels 1 and 2.
  Shape ss{1, 2, 5, 6}, sy{1, 2, oh, ow};
  Vec xsh(ss.numel());
  copy(cview(x, xs).slice({1, 1, 0, 0}, {2, 3, 5, 6}), view(xsh, ss));
  std::vector<int64_t> part(sy.numel());
  pool2d::argmax(cview(xsh, ss), TensorView<int64_t>(part.data(), sy), p, 3,
                 1, 1, false);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t k = 0; k < oh * ow; ++k)
      ASSERT_EQ(part[c * oh * ow + k], idx[((1 * 3) + 1 + c) * oh * ow + k]);
}

TEST(CpuPool2d, MaxGradientGoesToTheFirstMaximum) {
  Vec x{3, 3, 3, 3}, y(1), dx(4, 0.0f), dy{1.0f};
  pool2d::Params p;
  p.kernel[0] = p.kernel[1] = 2;
  p.strides[0] = p.strides[1] = 2;
  pool2d::backward(cview(x, {1, 1, 2, 2}), cview(dy, {1, 1, 1, 1}),
                   view(dx, {1, 1, 2, 2}), p);
  EXPECT_EQ(dx, (Vec{1, 0, 0, 0}));
}

TEST_P(CpuPool2d, ForwardAndBackward) {
  const PoolCase &c = GetParam();
  const pool2d::Params &p = c.p;
  int64_t oh = conv2d::outputSize(c.h, p.padding[0], p.padding[2], p.kernel[0],
                                  p.strides[0], p.dilations[0]);
  int64_t ow = conv2d::outputSize(c.w, p.padding[1], p.padding[3], p.kernel[1],
                                  p.strides[1], p.dilations[1]);
  Shape xs{c.n, c.c, c.h, c.w}, ys{c.n, c.c, oh, ow};
  Vec x = distinct(xs.numel(), 31);
  Vec y(ys.numel()), ref(ys.numel());
  pool2d::forward(cview(x, xs), view(y, ys), p);
  for (int64_t pl = 0; pl < c.n * c.c; ++pl)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
        int64_t count = 0;
        for (int64_t u = 0; u < p.kernel[0]; ++u)
          for (int64_t v = 0; v < p.kernel[1]; ++v) {
            int64_t ih = i * p.strides[0] - p.padding[0] + u * p.dilations[0];
            int64_t iw = j * p.strides[1] - p.padding[1] + v * p.dilations[1];
            if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w)
              continue;
            double val = x[(pl * c.h + ih) * c.w + iw];
            best = std::max(best, val);
            sum += val;
            ++count;
          }
        double div = p.countIncludePad ? double(p.kernel[0] * p.kernel[1]) : count;
        ref[(pl * oh + i) * ow + j] = static_cast<float>(
            p.kind == pool2d::Kind::Max ? best : sum / div);
      }
  EXPECT_TRUE(allClose(y, ref));

  Vec proj = random(ys.numel(), 32);
  auto loss = [&] {
    Vec out(ys.numel());
    pool2d::forward(cview(x, xs), view(out, ys), p);
    return dot(out, proj);
  };
  Vec dx(x.size());
  pool2d::backward(cview(x, xs), cview(proj, ys), view(dx, xs), p);
  EXPECT_TRUE(gradientMatches(x, dx, loss));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuPool2d,
    ::testing::Values(
        PoolCase{2, 2, 6, 6, poolParams(pool2d::Kind::Max, {2, 2}, {2, 2}, {0, 0, 0, 0}, false)},
        PoolCase{1, 2, 7, 6, poolParams(pool2d::Kind::Max, {3, 3}, {2, 2}, {1, 1, 1, 1}, false)},
        PoolCase{1, 2, 5, 7, poolParams(pool2d::Kind::Max, {3, 2}, {1, 2}, {2, 1, 0, 1}, false)},
        PoolCase{2, 2, 6, 6, poolParams(pool2d::Kind::Avg, {3, 3}, {2, 2}, {1, 1, 1, 1}, false)},
        PoolCase{2, 2, 6, 6, poolParams(pool2d::Kind::Avg, {3, 3}, {2, 2}, {1, 1, 1, 1}, true)},
        // Global average pooling.
        PoolCase{2, 3, 4, 4, poolParams(pool2d::Kind::Avg, {4, 4}, {4, 4}, {0, 0, 0, 0}, false)},
        // Dilated windows (ONNX's MaxPool dilations), with padding that
        // clips the taps on every side.
        PoolCase{1, 2, 4, 4, poolParams(pool2d::Kind::Max, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, {2, 2})},
        PoolCase{1, 2, 7, 8, poolParams(pool2d::Kind::Max, {3, 2}, {2, 1}, {2, 1, 3, 2}, false, {2, 3})},
        PoolCase{1, 2, 7, 8, poolParams(pool2d::Kind::Avg, {3, 2}, {2, 1}, {2, 1, 3, 2}, false, {2, 3})},
        PoolCase{1, 2, 7, 8, poolParams(pool2d::Kind::Avg, {3, 2}, {2, 1}, {2, 1, 3, 2}, true, {2, 3})}));

TEST(CpuBlas, SplitGemmMatchesReference) {
  // Large enough (> 2 MFLOP) to be split over two threads, along n (wide C)
  // and along m (tall C), with every transpose combination and beta = 1.
  int before = numThreads();
  setNumThreads(2);
  for (auto [m, n] : {std::pair<int64_t, int64_t>{40, 300}, {300, 40}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        int64_t k = 100;
        Vec a = random(m * k, 311), b = random(k * n, 312), c = random(m * n, 313);
        Vec ref = c;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double acc = 0;
            for (int64_t t = 0; t < k; ++t)
              acc += double(ta ? a[t * m + i] : a[i * k + t]) *
                     (tb ? b[j * k + t] : b[t * n + j]);
            ref[i * n + j] = static_cast<float>(2.0 * acc + ref[i * n + j]);
          }
        gemm(ta, tb, m, n, k, 2.0f, a.data(), ta ? m : k, b.data(), tb ? k : n,
             1.0f, c.data(), n);
        EXPECT_TRUE(allClose(c, ref, 1e-4, 1e-5)) << m << "x" << n << " " << ta << tb;
      }
  setNumThreads(before);
}

TEST(CpuBlas, RankThreadsRunKernelsConcurrently) {
  // Ranks hosted as threads call the kernels at the same time, each with one
  // thread; every rank must get the single-threaded answer.
  int before = numThreads();
  setNumThreads(1);
  int64_t n = 2, c = 4, h = 9, o = 6;
  Vec x = random(n * c * h * h, 301), w = random(o * c * 9, 302);
  conv2d::Params p;
  p.padding[0] = p.padding[1] = p.padding[2] = p.padding[3] = 1;
  Shape xs{n, c, h, h}, ws{o, c, 3, 3}, ys{n, o, h, h};
  Vec expect(ys.numel());
  conv2d::forward(cview(x, xs), cview(w, ws), {}, view(expect, ys), p);
  std::vector<Vec> outs(4, Vec(ys.numel()));
  std::vector<std::thread> ranks;
  for (int r = 0; r < 4; ++r)
    ranks.emplace_back([&, r] {
      setNumThreads(1);
      for (int rep = 0; rep < 20; ++rep)
        conv2d::forward(cview(x, xs), cview(w, ws), {}, view(outs[r], ys), p);
    });
  for (std::thread &t : ranks)
    t.join();
  for (const Vec &out : outs)
    EXPECT_EQ(out, expect);
  setNumThreads(before);
}

TEST(CpuBlas, ThreadsCanBeSetToOne) {
  int before = numThreads();
  setNumThreads(1);
  EXPECT_EQ(numThreads(), 1);
  EXPECT_EQ(blasNumThreads(), 1);
  setNumThreads(before);
}

} // namespace
