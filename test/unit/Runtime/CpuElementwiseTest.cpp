//===- CpuElementwiseTest.cpp - unary, binary, cast, softmax, dropout -----===//

#include "CpuKernelTestUtil.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace soap::cpu;
using namespace soap::cpu::test;

namespace {

//===----------------------------------------------------------------------===//
// unary
//===----------------------------------------------------------------------===//

double referenceUnary(unary::Kind k, double x) {
  switch (k) {
  case unary::Kind::Relu:
    return x > 0 ? x : 0;
  case unary::Kind::Gelu:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case unary::Kind::Sigmoid:
    return 1.0 / (1.0 + std::exp(-x));
  case unary::Kind::Tanh:
    return std::tanh(x);
  case unary::Kind::Exp:
    return std::exp(x);
  case unary::Kind::Log:
    return std::log(x);
  case unary::Kind::Neg:
    return -x;
  case unary::Kind::Sqrt:
    return std::sqrt(x);
  case unary::Kind::Erf:
    return std::erf(x);
  }
  return 0;
}

class CpuUnary : public ::testing::TestWithParam<unary::Kind> {};

TEST_P(CpuUnary, ForwardAndBackward) {
  unary::Kind k = GetParam();
  bool positive = k == unary::Kind::Log || k == unary::Kind::Sqrt;
  Shape s{3, 7};
  Vec x = random(s.numel(), 41, positive ? 0.5f : -2.0f, 2.0f);
  if (k == unary::Kind::Relu) // keep finite differences off the kink
    for (float &v : x)
      v = v >= 0 ? v + 0.1f : v - 0.1f;
  Vec y(s.numel()), ref(s.numel());
  unary::forward(k, cview(x, s), view(y, s));
  for (size_t i = 0; i < x.size(); ++i)
    ref[i] = static_cast<float>(referenceUnary(k, x[i]));
  EXPECT_TRUE(allClose(y, ref, 1e-6, 1e-6));

  Vec proj = random(s.numel(), 42);
  auto loss = [&] {
    Vec out(s.numel());
    unary::forward(k, cview(x, s), view(out, s));
    return dot(out, proj);
  };
  Vec dx(x.size());
  unary::backward(k, cview(x, s), cview(proj, s), view(dx, s));
  EXPECT_TRUE(gradientMatches(x, dx, loss, 1e-3));
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, CpuUnary,
    ::testing::Values(unary::Kind::Relu, unary::Kind::Gelu,
                      unary::Kind::Sigmoid, unary::Kind::Tanh,
                      unary::Kind::Exp, unary::Kind::Log, unary::Kind::Neg,
                      unary::Kind::Sqrt, unary::Kind::Erf));

TEST(CpuUnary, AccuracyOverWideRanges) {
  // The kernels use their own vectorizable exp, tanh, erf: sweep them
  // against double libm.
  struct Tol {
    unary::Kind kind;
    double lo, hi, atol, rtol;
  };
  for (Tol t : {Tol{unary::Kind::Exp, -100, 88, 3e-45, 2.5e-7},
                Tol{unary::Kind::Tanh, -12, 12, 1e-7, 3e-7},
                Tol{unary::Kind::Sigmoid, -30, 30, 1e-7, 4e-7},
                Tol{unary::Kind::Erf, -6, 6, 2e-7, 1e-6},
                Tol{unary::Kind::Gelu, -10, 10, 3e-7, 1e-6}}) {
    int bad = 0;
    for (int i = 0; i <= 200000; ++i) {
      float x = static_cast<float>(t.lo + (t.hi - t.lo) * i / 200000.0);
      double ref = referenceUnary(t.kind, x);
      double got = unary::apply(t.kind, x);
      if (!(std::fabs(got - ref) <= t.atol + t.rtol * std::fabs(ref)) && bad++ < 3)
        ADD_FAILURE() << "kind " << int(t.kind) << " x " << x << " got " << got
                      << " expected " << ref;
    }
    EXPECT_EQ(bad, 0) << "kind " << int(t.kind);
  }
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(unary::apply(unary::Kind::Exp, -inf), 0.0f);
  EXPECT_EQ(unary::apply(unary::Kind::Exp, 100.0f), inf);
  EXPECT_TRUE(std::isnan(unary::apply(unary::Kind::Exp, NAN)));
  EXPECT_EQ(unary::apply(unary::Kind::Tanh, inf), 1.0f);
  EXPECT_EQ(unary::apply(unary::Kind::Tanh, -inf), -1.0f);
  EXPECT_EQ(unary::apply(unary::Kind::Sigmoid, -inf), 0.0f);
  EXPECT_EQ(unary::apply(unary::Kind::Erf, 0.0f), 0.0f);
  EXPECT_FLOAT_EQ(unary::apply(unary::Kind::Tanh, 1e-4f), 1e-4f);
  EXPECT_FLOAT_EQ(unary::apply(unary::Kind::Erf, 1e-4f), 1.1283791e-4f);
}

TEST(CpuUnary, InPlaceAndLarge) {
  // Large enough to be split over threads; y aliases x.
  Shape s{1 << 17};
  Vec x = random(s.numel(), 43, -3.0f, 3.0f), ref(s.numel());
  for (size_t i = 0; i < x.size(); ++i)
    ref[i] = static_cast<float>(referenceUnary(unary::Kind::Gelu, x[i]));
  unary::forward(unary::Kind::Gelu, cview(x, s), view(x, s));
  EXPECT_TRUE(allClose(x, ref, 1e-6, 1e-6));
}

//===----------------------------------------------------------------------===//
// binary
//===----------------------------------------------------------------------===//

struct BinaryCase {
  binary::Kind kind;
  std::vector<int64_t> a, b;
};

/// Plain NumPy broadcasting with index arithmetic.
Vec referenceBinary(binary::Kind k, const Vec &a, const std::vector<int64_t> &as,
                    const Vec &b, const std::vector<int64_t> &bs,
                    std::vector<int64_t> &ys) {
  size_t rank = std::max(as.size(), bs.size());
  std::vector<int64_t> ap(rank, 1), bp(rank, 1);
  std::copy(as.begin(), as.end(), ap.begin() + (rank - as.size()));
  std::copy(bs.begin(), bs.end(), bp.begin() + (rank - bs.size()));
  ys.assign(rank, 1);
  int64_t n = 1;
  for (size_t i = 0; i < rank; ++i) {
    ys[i] = std::max(ap[i], bp[i]);
    n *= ys[i];
  }
  std::vector<int64_t> sa = stridesOf(ap), sb = stridesOf(bp);
  Vec y(n);
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, ia = 0, ib = 0;
    for (int i = static_cast<int>(rank) - 1; i >= 0; --i) {
      int64_t idx = rem % ys[i];
      rem /= ys[i];
      ia += (ap[i] == 1 ? 0 : idx) * sa[i];
      ib += (bp[i] == 1 ? 0 : idx) * sb[i];
    }
    double va = a[ia], vb = b[ib];
    double r = k == binary::Kind::Add   ? va + vb
               : k == binary::Kind::Sub ? va - vb
               : k == binary::Kind::Mul ? va * vb
               : k == binary::Kind::Div ? va / vb
                                        : std::pow(va, vb);
    y[e] = static_cast<float>(r);
  }
  return y;
}

class CpuBinary : public ::testing::TestWithParam<BinaryCase> {};

TEST_P(CpuBinary, ForwardAndBackward) {
  const BinaryCase &c = GetParam();
  Shape as(c.a), bs(c.b);
  Vec a = random(as.numel(), 51), b = random(bs.numel(), 52);
  if (c.kind == binary::Kind::Div) // keep the divisor away from zero
    for (float &v : b)
      v = v >= 0 ? v + 0.5f : v - 0.5f;
  if (c.kind == binary::Kind::Pow) // a positive base (log a is real)
    for (float &v : a)
      v = std::fabs(v) + 0.5f;
  std::vector<int64_t> ysv;
  Vec ref = referenceBinary(c.kind, a, c.a, b, c.b, ysv);
  Shape ys(ysv);
  Vec y(ys.numel());
  binary::forward(c.kind, cview(a, as), cview(b, bs), view(y, ys));
  EXPECT_TRUE(allClose(y, ref, 1e-6, 1e-6));

  Vec proj = random(ys.numel(), 53);
  auto loss = [&] {
    Vec out(ys.numel());
    binary::forward(c.kind, cview(a, as), cview(b, bs), view(out, ys));
    return dot(out, proj);
  };
  Vec da(a.size()), db(b.size());
  binary::backward(c.kind, cview(a, as), cview(b, bs), cview(proj, ys),
                   view(da, as), view(db, bs));
  EXPECT_TRUE(gradientMatches(a, da, loss));
  EXPECT_TRUE(gradientMatches(b, db, loss));
}

std::vector<BinaryCase> binaryCases() {
  std::vector<BinaryCase> cases;
  for (binary::Kind k : {binary::Kind::Add, binary::Kind::Sub,
                         binary::Kind::Mul, binary::Kind::Div,
                         binary::Kind::Pow}) {
    cases.push_back({k, {2, 3, 4}, {2, 3, 4}}); // same shape
    cases.push_back({k, {2, 3, 4}, {4}});       // bias-like
    cases.push_back({k, {2, 3, 4}, {3, 1}});    // middle axis
    cases.push_back({k, {1, 4}, {3, 1}});       // both broadcast
    cases.push_back({k, {2, 1, 3}, {}});        // rank-0 rhs
    cases.push_back({k, {3}, {2, 2, 3}});       // lhs broadcast
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Broadcast, CpuBinary, ::testing::ValuesIn(binaryCases()));

TEST(CpuBinary, StridedOperand) {
  // a is a transposed view: y = a^T + b.
  Vec a = random(12, 54), b = random(12, 55), y(12);
  ConstFloatView at = cview(a, {3, 4}).permute({1, 0});
  binary::forward(binary::Kind::Add, at, cview(b, {4, 3}), view(y, {4, 3}));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      EXPECT_FLOAT_EQ(y[i * 3 + j], a[j * 4 + i] + b[i * 3 + j]);
}

TEST(CpuBinary, LargeBroadcastMatchesSmallPath) {
  // [64, 32, 16] * [32, 1]: split over threads.
  std::vector<int64_t> as{64, 32, 16}, bs{32, 1};
  Vec a = random(64 * 32 * 16, 56), b = random(32, 57);
  std::vector<int64_t> ysv;
  Vec ref = referenceBinary(binary::Kind::Mul, a, as, b, bs, ysv);
  Vec y(ref.size());
  binary::forward(binary::Kind::Mul, cview(a, Shape(as)), cview(b, Shape(bs)),
                  view(y, Shape(ysv)));
  EXPECT_TRUE(allClose(y, ref, 0, 0));
  // db = sum over the broadcast axes of dy * a.
  Vec dy = random(ref.size(), 58), db(32), dbRef(32);
  binary::backward(binary::Kind::Mul, cview(a, Shape(as)), cview(b, Shape(bs)),
                   cview(dy, Shape(ysv)), FloatView(), view(db, Shape(bs)));
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 32; ++j)
      for (int64_t k = 0; k < 16; ++k) {
        int64_t e = (i * 32 + j) * 16 + k;
        dbRef[j] += static_cast<float>(double(dy[e]) * a[e]);
      }
  EXPECT_TRUE(allClose(db, dbRef, 1e-4, 1e-4));
}

//===----------------------------------------------------------------------===//
// softmax
//===----------------------------------------------------------------------===//

TEST(CpuSoftmax, ForwardAndBackwardOnEveryAxis) {
  std::vector<int64_t> dims{2, 3, 4};
  Shape s(dims);
  for (int64_t axis : {-1, 0, 1, 2}) {
    Vec x = random(s.numel(), 61, -3.0f, 3.0f), y(s.numel()), ref(s.numel());
    softmax::forward(cview(x, s), axis, view(y, s));
    int ax = axis < 0 ? axis + 3 : static_cast<int>(axis);
    std::vector<int64_t> st = stridesOf(dims);
    for (int64_t e = 0; e < s.numel(); ++e) {
      int64_t pos = (e / st[ax]) % dims[ax];
      int64_t base = e - pos * st[ax];
      double mx = -1e30, sum = 0;
      for (int64_t j = 0; j < dims[ax]; ++j)
        mx = std::max(mx, double(x[base + j * st[ax]]));
      for (int64_t j = 0; j < dims[ax]; ++j)
        sum += std::exp(x[base + j * st[ax]] - mx);
      ref[e] = static_cast<float>(std::exp(x[e] - mx) / sum);
    }
    EXPECT_TRUE(allClose(y, ref, 1e-6, 1e-5)) << "axis " << axis;

    Vec proj = random(s.numel(), 62);
    auto loss = [&] {
      Vec out(s.numel());
      softmax::forward(cview(x, s), axis, view(out, s));
      return dot(out, proj);
    };
    Vec dx(x.size());
    softmax::backward(cview(x, s), cview(proj, s), axis, view(dx, s));
    EXPECT_TRUE(gradientMatches(x, dx, loss, 1e-2, 1e-3)) << "axis " << axis;
  }
}

//===----------------------------------------------------------------------===//
// dropout
//===----------------------------------------------------------------------===//

TEST(CpuDropout, KeepsTheExpectedFractionAndScales) {
  Shape s{1000, 100};
  Vec x(s.numel(), 1.0f), y(s.numel());
  double ratio = 0.3;
  dropout::forward(cview(x, s), view(y, s), ratio, 7, 1,
                   dropout::GlobalIndex::whole(s));
  int64_t kept = 0;
  for (float v : y) {
    if (v != 0.0f) {
      ++kept;
      EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 / 0.7));
    }
  }
  // 100000 Bernoulli(0.7) draws: the standard deviation is 145.
  EXPECT_NEAR(double(kept), 70000.0, 1000.0);
}

TEST(CpuDropout, MaskDependsOnSeedAndStepOnly) {
  Shape s{50, 40};
  Vec x = random(s.numel(), 71), a(s.numel()), b(s.numel()), c(s.numel()),
      d(s.numel());
  auto g = dropout::GlobalIndex::whole(s);
  dropout::forward(cview(x, s), view(a, s), 0.5, 3, 10, g);
  dropout::forward(cview(x, s), view(b, s), 0.5, 3, 10, g);
  dropout::forward(cview(x, s), view(c, s), 0.5, 3, 11, g);
  dropout::forward(cview(x, s), view(d, s), 0.5, 4, 10, g);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

TEST(CpuDropout, ShardMaskIsTheSliceOfTheWholeMask) {
  Shape whole{4, 6, 10};
  Vec x = random(whole.numel(), 72), y(whole.numel());
  dropout::forward(cview(x, whole), view(y, whole), 0.4, 9, 2,
                   dropout::GlobalIndex::whole(whole));
  // Shard: rows 1..3 of axis 0, columns 3..6 of axis 1, all of axis 2.
  Shape shard{2, 3, 10};
  dropout::GlobalIndex where;
  where.global = whole;
  where.offsets[0] = 1;
  where.offsets[1] = 3;
  Vec xs(shard.numel()), ys(shard.numel()), expect(shard.numel());
  copy(cview(x, whole).slice({1, 3, 0}, {3, 6, 10}), view(xs, shard));
  copy(cview(y, whole).slice({1, 3, 0}, {3, 6, 10}), view(expect, shard));
  dropout::forward(cview(xs, shard), view(ys, shard), 0.4, 9, 2, where);
  EXPECT_EQ(ys, expect);
  // Backward draws the same mask: dx = dy * mask / (1 - ratio).
  Vec dy(shard.numel(), 1.0f), dx(shard.numel());
  dropout::backward(cview(dy, shard), view(dx, shard), 0.4, 9, 2, where);
  float keep = static_cast<float>(1.0 / (1.0 - 0.4));
  for (size_t i = 0; i < dx.size(); ++i)
    EXPECT_EQ(dx[i], expect[i] != 0.0f ? keep : 0.0f) << i;
}

TEST(CpuDropout, RatioZeroIsIdentityAndOneIsZero) {
  Shape s{5, 5};
  Vec x = random(s.numel(), 73), y(s.numel());
  dropout::forward(cview(x, s), view(y, s), 0.0, 1, 1,
                   dropout::GlobalIndex::whole(s));
  EXPECT_EQ(y, x);
  dropout::forward(cview(x, s), view(y, s), 1.0, 1, 1,
                   dropout::GlobalIndex::whole(s));
  EXPECT_EQ(y, Vec(s.numel(), 0.0f));
}

TEST(CpuDropout, HashIsStable) {
  // mix64 is splitmix64's finalizer: the generator seeded with 0 first
  // returns 0xE220A8397B1DCDAF.
  EXPECT_EQ(dropout::mix64(0x9E3779B97F4A7C15ull), 0xE220A8397B1DCDAFull);
  // The mask function is a contract with the CUDA backend and with saved
  // runs: pin its values.
  uint64_t st = dropout::stream(1234, 5);
  EXPECT_EQ(st, 0xD26B678DAB6ED74Bull);
  EXPECT_FLOAT_EQ(dropout::keepUniform(st, 0), 0.239845097f);
  EXPECT_FLOAT_EQ(dropout::keepUniform(st, 1), 0.990434229f);
  EXPECT_FLOAT_EQ(dropout::keepUniform(st, 2), 0.310005248f);
  EXPECT_FLOAT_EQ(dropout::keepUniform(st, 3), 0.965697527f);
}

//===----------------------------------------------------------------------===//
// cast
//===----------------------------------------------------------------------===//

TEST(CpuDropout, MaskIsTheMaskForwardApplies) {
  // The whole tensor and a shard of it: the mask marks exactly the elements
  // that dropout::forward keeps.
  Shape whole{6, 8, 5};
  Vec x(whole.numel(), 1.0f), y(whole.numel());
  auto g = dropout::GlobalIndex::whole(whole);
  dropout::forward(cview(x, whole), view(y, whole), 0.5, 11, 4, g);
  std::vector<uint8_t> mask(whole.numel(), 7);
  dropout::mask(TensorView<uint8_t>(mask.data(), whole), 0.5, 11, 4, g);
  int64_t kept = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_EQ(mask[i], y[i] != 0.0f ? 1 : 0) << i;
    kept += mask[i];
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, whole.numel());
  Shape shard{3, 4, 5};
  dropout::GlobalIndex where;
  where.global = whole;
  where.offsets[0] = 3;
  where.offsets[1] = 4;
  std::vector<uint8_t> part(shard.numel());
  dropout::mask(TensorView<uint8_t>(part.data(), shard), 0.5, 11, 4, where);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 5; ++k)
        ASSERT_EQ(part[(i * 4 + j) * 5 + k],
                  mask[((i + 3) * 8 + j + 4) * 5 + k]);
  // Ratio 0 keeps everything.
  dropout::mask(TensorView<uint8_t>(mask.data(), whole), 0.0, 11, 4, g);
  for (uint8_t m : mask)
    ASSERT_EQ(m, 1);
}

/// The reference of one predicate on two values.
template <class T> bool expectedPredicate(predicate::Kind k, T a, T b) {
  using K = predicate::Kind;
  switch (k) {
  case K::Equal:
    return a == b;
  case K::Less:
    return a < b;
  case K::LessEqual:
    return a <= b;
  case K::Greater:
    return a > b;
  case K::GreaterEqual:
    return a >= b;
  case K::And:
    return a && b;
  case K::Or:
    return a || b;
  case K::Xor:
    return bool(a) != bool(b);
  }
  return false;
}

TEST(CpuPredicate, ComparisonsBroadcastLikeNumPy) {
  using K = predicate::Kind;
  // a: [3, 1, 4], b: [5, 1]: the result is [3, 5, 4]. Values on a coarse
  // grid, so that equal pairs occur; a NaN compares unequal to everything.
  Shape sa{3, 1, 4}, sb{5, 1}, sy{3, 5, 4};
  Vec a(sa.numel()), b(sb.numel());
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<float>(int(i % 5) - 2);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<float>(int(i) - 2);
  a[5] = std::numeric_limits<float>::quiet_NaN();
  for (K k : {K::Equal, K::Less, K::LessEqual, K::Greater, K::GreaterEqual}) {
    std::vector<uint8_t> y(sy.numel(), 9);
    predicate::forward(k, cview(a, sa), cview(b, sb),
                       TensorView<uint8_t>(y.data(), sy));
    int64_t trues = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j)
        for (int64_t l = 0; l < 4; ++l) {
          uint8_t got = y[(i * 5 + j) * 4 + l];
          ASSERT_EQ(got, expectedPredicate(k, a[i * 4 + l], b[j]) ? 1 : 0)
              << int(k) << " at " << i << "," << j << "," << l;
          trues += got;
        }
    EXPECT_GT(trues, 0) << int(k);
    EXPECT_LT(trues, sy.numel()) << int(k);
  }
  // Integers: int64 (large values stay exact) and int32.
  std::vector<int64_t> la = {int64_t(1) << 53, (int64_t(1) << 53) + 1, -3};
  std::vector<int64_t> lb = {(int64_t(1) << 53) + 1};
  std::vector<uint8_t> y(3);
  predicate::forward(K::Equal, TensorView<const int64_t>(la.data(), Shape{3}),
                     TensorView<const int64_t>(lb.data(), Shape{1}),
                     TensorView<uint8_t>(y.data(), Shape{3}));
  EXPECT_EQ(y, (std::vector<uint8_t>{0, 1, 0}));
  std::vector<int32_t> ia = {1, 2, 3}, ib = {2, 2, 2};
  predicate::forward(K::GreaterEqual,
                     TensorView<const int32_t>(ia.data(), Shape{3}),
                     TensorView<const int32_t>(ib.data(), Shape{3}),
                     TensorView<uint8_t>(y.data(), Shape{3}));
  EXPECT_EQ(y, (std::vector<uint8_t>{0, 1, 1}));
}

TEST(CpuPredicate, LogicalOpsAndNot) {
  using K = predicate::Kind;
  // Every pair of truth values, with b broadcast along axis 0.
  Shape sa{2, 2}, sb{2}, sy{2, 2};
  std::vector<uint8_t> a = {0, 0, 1, 1}, b = {0, 1};
  for (K k : {K::And, K::Or, K::Xor}) {
    std::vector<uint8_t> y(4, 9);
    predicate::forward(k, TensorView<const uint8_t>(a.data(), sa),
                       TensorView<const uint8_t>(b.data(), sb),
                       TensorView<uint8_t>(y.data(), sy));
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(y[i], expectedPredicate<bool>(k, a[i], b[i % 2]) ? 1 : 0)
          << int(k) << " " << i;
  }
  std::vector<uint8_t> n(4);
  predicate::logicalNot(TensorView<const uint8_t>(a.data(), sa),
                        TensorView<uint8_t>(n.data(), sa));
  EXPECT_EQ(n, (std::vector<uint8_t>{1, 1, 0, 0}));
  // In place.
  predicate::logicalNot(TensorView<const uint8_t>(n.data(), sa),
                        TensorView<uint8_t>(n.data(), sa));
  EXPECT_EQ(n, a);
}

TEST(CpuCast, Booleans) {
  using T = cast::Type;
  std::vector<float> x = {0.0f, -0.0f, 2.5f, -1.0f,
                          std::numeric_limits<float>::quiet_NaN()};
  std::vector<uint8_t> b(5);
  cast::forward(x.data(), T::F32, b.data(), T::I1, 5);
  EXPECT_EQ(b, (std::vector<uint8_t>{0, 0, 1, 1, 1})); // NaN is true (NumPy)
  std::vector<int64_t> i(5);
  cast::forward(b.data(), T::I1, i.data(), T::I64, 5);
  EXPECT_EQ(i, (std::vector<int64_t>{0, 0, 1, 1, 1}));
  std::vector<float> back(5);
  cast::forward(b.data(), T::I1, back.data(), T::F32, 5);
  EXPECT_EQ(back, (std::vector<float>{0, 0, 1, 1, 1}));
  // No gradient crosses a boolean.
  std::vector<float> dx(5, 3.0f), dy(5, 1.0f);
  cast::backward(dy.data(), T::I1, dx.data(), T::F32, 5);
  EXPECT_EQ(dx, std::vector<float>(5, 3.0f));
}

TEST(CpuCast, HalfAndBFloat16RoundToNearestEven) {
  // binary16: 1, the largest finite, halfway above it (to infinity), the
  // smallest subnormal, ties below and above it (to even), a tie between
  // neighbours of 1 (to even, down and up), a negative.
  EXPECT_EQ(cast::toHalf(1.0), 0x3C00);
  EXPECT_EQ(cast::toHalf(65504.0), 0x7BFF);
  EXPECT_EQ(cast::toHalf(65519.0), 0x7BFF);
  EXPECT_EQ(cast::toHalf(65520.0), 0x7C00);
  EXPECT_EQ(cast::toHalf(std::ldexp(1.0, -24)), 0x0001);
  EXPECT_EQ(cast::toHalf(std::ldexp(1.0, -25)), 0x0000);
  EXPECT_EQ(cast::toHalf(std::ldexp(3.0, -25)), 0x0002);
  EXPECT_EQ(cast::toHalf(std::ldexp(1023.5, -24)), 0x0400); // to the smallest normal
  EXPECT_EQ(cast::toHalf(1.0 + std::ldexp(1.0, -11)), 0x3C00);
  EXPECT_EQ(cast::toHalf(1.0 + std::ldexp(3.0, -11)), 0x3C02);
  EXPECT_EQ(cast::toHalf(-2.0), 0xC000);
  EXPECT_EQ(cast::toHalf(-0.0), 0x8000);
  EXPECT_EQ(cast::toHalf(std::numeric_limits<double>::infinity()), 0x7C00);
  uint16_t nan = cast::toHalf(std::nan(""));
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // bfloat16 keeps f32's exponent and 7 fraction bits.
  EXPECT_EQ(cast::toBFloat16(1.0), 0x3F80);
  EXPECT_EQ(cast::toBFloat16(1.0 + std::ldexp(1.0, -8)), 0x3F80);
  EXPECT_EQ(cast::toBFloat16(1.0 + std::ldexp(3.0, -8)), 0x3F82);
  EXPECT_EQ(cast::toBFloat16(-3.0), 0xC040);
  EXPECT_EQ(cast::toBFloat16(3.5e38), 0x7F80); // beyond the largest finite
  EXPECT_DOUBLE_EQ(cast::fromHalf(0x3555), 0.333251953125);
  EXPECT_DOUBLE_EQ(cast::fromHalf(0x0001), std::ldexp(1.0, -24));
  EXPECT_DOUBLE_EQ(cast::fromBFloat16(0x3EAB), 0.333984375);
}

TEST(CpuCast, EveryFiniteBitPatternRoundTrips) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    auto bits = static_cast<uint16_t>(b);
    if ((bits & 0x7C00) != 0x7C00) {
      ASSERT_EQ(cast::toHalf(cast::fromHalf(bits)), bits) << b;
    }
    if ((bits & 0x7F80) != 0x7F80) {
      ASSERT_EQ(cast::toBFloat16(cast::fromBFloat16(bits)), bits) << b;
    }
  }
}

TEST(CpuCast, BFloat16MatchesTheBitTrick) {
  // f32 -> bf16 with round-to-nearest-even on the bits, for finite floats.
  Vec x = random(4096, 61, -1e4f, 1e4f);
  for (float f : x) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    auto expect = static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    ASSERT_EQ(cast::toBFloat16(f), expect) << f;
  }
}

TEST(CpuCast, ForwardConvertsEveryPair) {
  using T = cast::Type;
  std::vector<double> values = {-2.75, -1.0, 0.0, 0.5, 3.25, 1000.0};
  int64_t n = static_cast<int64_t>(values.size());
  std::vector<double> f64(values);
  std::vector<float> f32(n), back32(n);
  std::vector<uint16_t> f16(n), bf16(n);
  std::vector<int32_t> i32(n);
  std::vector<int64_t> i64(n);
  cast::forward(f64.data(), T::F64, f32.data(), T::F32, n);
  cast::forward(f32.data(), T::F32, f16.data(), T::F16, n);
  cast::forward(f16.data(), T::F16, bf16.data(), T::BF16, n);
  cast::forward(bf16.data(), T::BF16, i32.data(), T::I32, n);
  cast::forward(f32.data(), T::F32, i64.data(), T::I64, n);
  cast::forward(i64.data(), T::I64, back32.data(), T::F32, n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(f32[i], static_cast<float>(values[i]));
    EXPECT_EQ(cast::fromHalf(f16[i]), values[i]); // all exact in binary16
    // 1000 = 0b1111101000 needs 7 fraction bits: exact in bfloat16 too.
    EXPECT_EQ(cast::fromBFloat16(bf16[i]), values[i]);
    EXPECT_EQ(i32[i], static_cast<int32_t>(std::trunc(values[i]))); // -2.75 -> -2
    EXPECT_EQ(i64[i], static_cast<int64_t>(std::trunc(values[i])));
    EXPECT_EQ(back32[i], static_cast<float>(std::trunc(values[i])));
  }
}

TEST(CpuCast, GradientIsTheResultGradientCastBack) {
  using T = cast::Type;
  // y = cast<f64>(x); loss = sum(proj * y): d loss / dx = proj.
  Vec x = random(10, 62), proj = random(10, 63);
  auto loss = [&] {
    std::vector<double> y(x.size());
    cast::forward(x.data(), T::F32, y.data(), T::F64, 10);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i)
      s += proj[i] * y[i];
    return s;
  };
  std::vector<double> dy(proj.begin(), proj.end());
  Vec dx(10, 0.5f); // accumulates
  cast::backward(dy.data(), T::F64, dx.data(), T::F32, 10);
  for (float &g : dx)
    g -= 0.5f;
  EXPECT_TRUE(gradientMatches(x, dx, loss));
  // Into f16: the accumulated gradient is rounded to binary16.
  std::vector<uint16_t> dh(3, cast::toHalf(1.0));
  std::vector<float> g = {0.25f, -0.5f, 1e-4f};
  cast::backward(g.data(), T::F32, dh.data(), T::F16, 3);
  EXPECT_EQ(cast::fromHalf(dh[0]), 1.25);
  EXPECT_EQ(cast::fromHalf(dh[1]), 0.5);
  EXPECT_EQ(dh[2], cast::toHalf(1.0 + double(1e-4f)));
  // No gradient crosses an integer type.
  std::vector<int64_t> di(3, 7);
  cast::backward(g.data(), T::F32, di.data(), T::I64, 3);
  EXPECT_EQ(di, std::vector<int64_t>(3, 7));
}

} // namespace
