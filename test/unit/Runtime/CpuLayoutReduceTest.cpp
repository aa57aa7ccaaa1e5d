//===- CpuLayoutReduceTest.cpp - data movement and reductions -------------===//

#include "CpuKernelTestUtil.h"

#include <cmath>
#include <limits>

using namespace soap::cpu;
using namespace soap::cpu::test;

namespace {

TEST(CpuReshape, CopiesAndAccumulates) {
  Vec x = random(24, 81), y(24);
  reshape::forward(cview(x, {2, 3, 4}), view(y, {6, 4}));
  EXPECT_EQ(y, x);
  Vec dx(24, 1.0f);
  reshape::backward(cview(y, {6, 4}), view(dx, {2, 3, 4}));
  for (size_t i = 0; i < dx.size(); ++i)
    EXPECT_FLOAT_EQ(dx[i], 1.0f + x[i]);
}

TEST(CpuTranspose, ForwardAndBackward) {
  std::vector<int64_t> dims{2, 3, 4, 5}, perm{0, 2, 3, 1};
  Shape xs(dims), ys{2, 4, 5, 3};
  Vec x = random(xs.numel(), 82), y(xs.numel());
  transpose::forward(cview(x, xs), perm, view(y, ys));
  std::vector<int64_t> st = stridesOf(dims);
  int64_t e = 0;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 5; ++c)
        for (int64_t d = 0; d < 3; ++d, ++e)
          ASSERT_EQ(y[e], x[a * st[0] + d * st[1] + b * st[2] + c * st[3]]);
  Vec proj = random(ys.numel(), 83);
  auto loss = [&] {
    Vec out(ys.numel());
    transpose::forward(cview(x, xs), perm, view(out, ys));
    return dot(out, proj);
  };
  Vec dx(x.size());
  transpose::backward(cview(proj, ys), perm, view(dx, xs));
  EXPECT_TRUE(gradientMatches(x, dx, loss));
}

TEST(CpuCopy, BooleansAndIndicesThroughViews) {
  // The data movement of non-float tensors: copies through permuted and
  // sliced views, element for element.
  Shape s{2, 3, 4};
  std::vector<uint8_t> b(s.numel());
  std::vector<int64_t> i64(s.numel());
  for (int64_t i = 0; i < s.numel(); ++i) {
    b[i] = (i * 7) % 3 == 0;
    i64[i] = (int64_t(1) << 40) + i;
  }
  // Transpose [2, 3, 4] -> [4, 2, 3].
  Shape t{4, 2, 3};
  std::vector<uint8_t> bt(s.numel(), 9);
  copy(TensorView<const uint8_t>(b.data(), s).permute({2, 0, 1}),
       TensorView<uint8_t>(bt.data(), t));
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        ASSERT_EQ(bt[(k * 2 + i) * 3 + j], b[(i * 3 + j) * 4 + k]);
  // Slice rows 1.., every other column from the back: [1, 3, 2].
  Shape r{1, 3, 2};
  std::vector<int64_t> is(r.numel());
  copy(TensorView<const int64_t>(i64.data(), s).slice({1, 0, 3}, {2, 3, -1},
                                                       {1, 1, -2}),
       TensorView<int64_t>(is.data(), r));
  for (int64_t j = 0; j < 3; ++j)
    for (int64_t k = 0; k < 2; ++k)
      ASSERT_EQ(is[j * 2 + k], i64[(1 * 3 + j) * 4 + 3 - 2 * k]);
}

TEST(CpuConcatSplit, RoundTripOnEveryAxis) {
  for (int64_t axis : {0, 1, 2, -1}) {
    int ax = axis < 0 ? 2 : static_cast<int>(axis);
    Shape whole{4, 5, 6};
    std::vector<int64_t> sizes{1, whole[ax] - 3, 2};
    Vec x = random(whole.numel(), 84);
    std::vector<Vec> parts;
    std::vector<FloatView> outs;
    std::vector<Shape> shapes;
    for (int64_t sz : sizes) {
      Shape s = whole;
      s[ax] = sz;
      shapes.push_back(s);
      parts.emplace_back(s.numel());
    }
    for (size_t i = 0; i < parts.size(); ++i)
      outs.push_back(view(parts[i], shapes[i]));
    split::forward(cview(x, whole), axis, outs);
    // Each piece is the slice of x.
    int64_t at = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      Vec expect(shapes[i].numel());
      copy(cview(x, whole).narrow(ax, at, at + sizes[i]), view(expect, shapes[i]));
      EXPECT_EQ(parts[i], expect);
      at += sizes[i];
    }
    std::vector<ConstFloatView> ins(outs.begin(), outs.end());
    Vec back(whole.numel());
    concat::forward(ins, axis, view(back, whole));
    EXPECT_EQ(back, x) << "axis " << axis;

    // Backward: concat's gradient splits, split's gradient concatenates.
    Vec dy = random(whole.numel(), 85);
    std::vector<Vec> dparts;
    std::vector<FloatView> dviews;
    for (const Shape &s : shapes)
      dparts.emplace_back(s.numel(), 0.0f);
    for (size_t i = 0; i < dparts.size(); ++i)
      dviews.push_back(view(dparts[i], shapes[i]));
    concat::backward(cview(dy, whole), axis, dviews);
    Vec dx(whole.numel(), 0.0f);
    std::vector<ConstFloatView> dins(dviews.begin(), dviews.end());
    split::backward(dins, axis, view(dx, whole));
    EXPECT_EQ(dx, dy);
  }
}

TEST(CpuConcatSplit, UnusedPiecesAreSkipped) {
  // split into [2, 1], [2, 2], [2, 1]; the middle piece has no gradient.
  Vec d0{1, 2}, d2{3, 4}, dx(8, 0.0f);
  ConstFloatView unused(nullptr, {2, 2});
  split::backward({cview(d0, {2, 1}), unused, cview(d2, {2, 1})}, 1,
                  view(dx, {2, 4}));
  EXPECT_EQ(dx, (Vec{1, 0, 0, 3, 2, 0, 0, 4}));
}

TEST(CpuSlice, StepsForwardAndBackward) {
  Shape xs{5, 7, 4};
  Vec x = random(xs.numel(), 86);
  std::vector<int64_t> starts{1, 0, 1}, ends{5, 7, 3}, steps{2, 3, 1};
  Shape ys{2, 3, 2};
  Vec y(ys.numel());
  slice::forward(cview(x, xs), starts, ends, steps, view(y, ys));
  int64_t e = 0;
  for (int64_t a = 1; a < 5; a += 2)
    for (int64_t b = 0; b < 7; b += 3)
      for (int64_t c = 1; c < 3; ++c, ++e)
        ASSERT_EQ(y[e], x[(a * 7 + b) * 4 + c]);
  // Backward adds dy in place and leaves the rest of dx alone.
  Vec dy = random(ys.numel(), 87), dx(xs.numel(), 0.5f);
  slice::backward(cview(dy, ys), starts, ends, steps, view(dx, xs));
  e = 0;
  Vec expect(xs.numel(), 0.5f);
  for (int64_t a = 1; a < 5; a += 2)
    for (int64_t b = 0; b < 7; b += 3)
      for (int64_t c = 1; c < 3; ++c, ++e)
        expect[(a * 7 + b) * 4 + c] += dy[e];
  EXPECT_EQ(dx, expect);
}

TEST(CpuSlice, NegativeStepsWalkBackwards) {
  // x[4:0:-2, ::-3, 2:-1:-1] of a [5, 7, 4] tensor (NumPy), i.e. ends 0,
  // -1 and -1 (before element 0).
  Shape xs{5, 7, 4};
  Vec x = random(xs.numel(), 88);
  std::vector<int64_t> starts{4, 6, 2}, ends{0, -1, -1}, steps{-2, -3, -1};
  Shape ys{2, 3, 3};
  Vec y(ys.numel());
  slice::forward(cview(x, xs), starts, ends, steps, view(y, ys));
  int64_t e = 0;
  for (int64_t a = 4; a > 0; a -= 2)
    for (int64_t b = 6; b > -1; b -= 3)
      for (int64_t c = 2; c > -1; --c, ++e)
        ASSERT_EQ(y[e], x[(a * 7 + b) * 4 + c]);
  ASSERT_EQ(e, ys.numel());
  // The gradient: central differences of sum(proj * y).
  Vec proj = random(ys.numel(), 89), dx(xs.numel());
  auto loss = [&] {
    Vec out(ys.numel());
    slice::forward(cview(x, xs), starts, ends, steps, view(out, ys));
    return dot(out, proj);
  };
  slice::backward(cview(proj, ys), starts, ends, steps, view(dx, xs));
  EXPECT_TRUE(gradientMatches(x, dx, loss));
}

//===----------------------------------------------------------------------===//
// reductions
//===----------------------------------------------------------------------===//

/// Plain reduction; also returns, for max, the argmax of each output.
Vec referenceReduce(reduce::Kind k, const Vec &x, const std::vector<int64_t> &dims,
                    const std::vector<int64_t> &axes) {
  std::vector<bool> red(dims.size());
  for (int64_t a : axes)
    red[a < 0 ? a + dims.size() : a] = true;
  std::vector<int64_t> outDims;
  for (size_t i = 0; i < dims.size(); ++i)
    if (!red[i])
      outDims.push_back(dims[i]);
  int64_t outs = 1;
  for (int64_t d : outDims)
    outs *= d;
  std::vector<double> acc(outs, k == reduce::Kind::Max ? -1e300 : 0.0);
  std::vector<int64_t> cnt(outs, 0), st = stridesOf(dims);
  for (size_t e = 0; e < x.size(); ++e) {
    int64_t o = 0;
    for (size_t i = 0; i < dims.size(); ++i)
      if (!red[i])
        o = o * dims[i] + (e / st[i]) % dims[i];
    if (k == reduce::Kind::Max)
      acc[o] = std::max(acc[o], double(x[e]));
    else
      acc[o] += x[e];
    ++cnt[o];
  }
  Vec y(outs);
  for (int64_t o = 0; o < outs; ++o)
    y[o] = static_cast<float>(k == reduce::Kind::Mean ? acc[o] / cnt[o] : acc[o]);
  return y;
}

struct ReduceCase {
  reduce::Kind kind;
  std::vector<int64_t> axes;
};

class CpuReduce : public ::testing::TestWithParam<ReduceCase> {};

TEST_P(CpuReduce, ForwardAndBackward) {
  const ReduceCase &c = GetParam();
  std::vector<int64_t> dims{3, 4, 5};
  Shape xs(dims);
  Vec x = distinct(xs.numel(), 91);
  Vec ref = referenceReduce(c.kind, x, dims, c.axes);
  Vec y(ref.size());
  // keep_dims only changes y's shape: a flat view is enough.
  Shape ys{static_cast<int64_t>(ref.size())};
  reduce::forward(c.kind, cview(x, xs), c.axes, view(y, ys));
  EXPECT_TRUE(allClose(y, ref, 1e-5, 1e-6));

  Vec proj = random(ref.size(), 92);
  auto loss = [&] {
    Vec out(ref.size());
    reduce::forward(c.kind, cview(x, xs), c.axes, view(out, ys));
    return dot(out, proj);
  };
  Vec dx(x.size());
  reduce::backward(c.kind, cview(x, xs), c.axes, cview(proj, ys), view(dx, xs));
  EXPECT_TRUE(gradientMatches(x, dx, loss));
}

std::vector<ReduceCase> reduceCases() {
  std::vector<ReduceCase> cases;
  for (reduce::Kind k : {reduce::Kind::Sum, reduce::Kind::Mean, reduce::Kind::Max})
    for (std::vector<int64_t> axes :
         std::vector<std::vector<int64_t>>{{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2},
                                           {0, 1}, {0, 1, 2}})
      cases.push_back({k, axes});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Axes, CpuReduce, ::testing::ValuesIn(reduceCases()));

TEST(CpuReduce, MaxGradientGoesToTheFirstMaximum) {
  // Ties: the first maximal element in row-major order takes the gradient,
  // both when the innermost axis is reduced and when it is kept.
  Vec x{1, 5, 5, /**/ 5, 2, 5};
  Vec y(2), dx(6, 0.0f), dy{1.0f, 2.0f};
  reduce::forward(reduce::Kind::Max, cview(x, {2, 3}), {1}, view(y, {2}));
  EXPECT_EQ(y, (Vec{5, 5}));
  reduce::backward(reduce::Kind::Max, cview(x, {2, 3}), {1}, cview(dy, {2}),
                   view(dx, {2, 3}));
  EXPECT_EQ(dx, (Vec{0, 1, 0, 2, 0, 0}));
  Vec y0(3), dx0(6, 0.0f), dy0{1.0f, 2.0f, 3.0f};
  reduce::backward(reduce::Kind::Max, cview(x, {2, 3}), {0}, cview(dy0, {3}),
                   view(dx0, {2, 3}));
  EXPECT_EQ(dx0, (Vec{0, 2, 3, 1, 0, 0}));
}

TEST(CpuReduce, KeepDimsShapeGivesTheSameElements) {
  Vec x = random(24, 93), a(6), b(6);
  reduce::forward(reduce::Kind::Sum, cview(x, {2, 3, 4}), {2}, view(a, {2, 3}));
  reduce::forward(reduce::Kind::Sum, cview(x, {2, 3, 4}), {2}, view(b, {2, 3, 1}));
  EXPECT_EQ(a, b);
}

TEST(CpuReduce, MeanOverShardsUsesTheGlobalCount) {
  // Reducing axis 1 of [2, 8] split into two [2, 4] shards: the partial means
  // with the global count add up to the whole mean.
  Vec x = random(16, 94), whole(2), p0(2), p1(2), xs0(8), xs1(8);
  reduce::forward(reduce::Kind::Mean, cview(x, {2, 8}), {1}, view(whole, {2}));
  copy(cview(x, {2, 8}).narrow(1, 0, 4), view(xs0, {2, 4}));
  copy(cview(x, {2, 8}).narrow(1, 4, 8), view(xs1, {2, 4}));
  reduce::forward(reduce::Kind::Mean, cview(xs0, {2, 4}), {1}, view(p0, {2}), 8);
  reduce::forward(reduce::Kind::Mean, cview(xs1, {2, 4}), {1}, view(p1, {2}), 8);
  for (int i = 0; i < 2; ++i)
    EXPECT_NEAR(p0[i] + p1[i], whole[i], 1e-6);
  Vec dy{1.0f, 2.0f}, dx0(8);
  reduce::backward(reduce::Kind::Mean, cview(xs0, {2, 4}), {1}, cview(dy, {2}),
                   view(dx0, {2, 4}), 8);
  EXPECT_FLOAT_EQ(dx0[0], 1.0f / 8);
  EXPECT_FLOAT_EQ(dx0[4], 2.0f / 8);
}

TEST(CpuReduce, ResultDoesNotDependOnThreadCount) {
  std::vector<int64_t> dims{64, 48, 40};
  Shape xs(dims);
  Vec x = random(xs.numel(), 95);
  for (std::vector<int64_t> axes : std::vector<std::vector<int64_t>>{{0}, {2}, {0, 2}}) {
    int64_t outs = 1;
    for (int i = 0; i < 3; ++i)
      if (std::find(axes.begin(), axes.end(), i) == axes.end())
        outs *= dims[i];
    Vec one(outs), two(outs);
    int before = numThreads();
    setNumThreads(1);
    reduce::forward(reduce::Kind::Sum, cview(x, xs), axes, view(one, {outs}));
    setNumThreads(2);
    reduce::forward(reduce::Kind::Sum, cview(x, xs), axes, view(two, {outs}));
    setNumThreads(before);
    EXPECT_EQ(one, two);
  }
}

} // namespace
