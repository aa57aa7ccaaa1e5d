//===- CpuOptimizerTest.cpp - SGD and Adam/AdamW against hand values ------===//
//
// The expected numbers follow PyTorch's update rules by hand (two steps,
// gradients 1 then 2 for SGD, 0.5 then -1 for Adam, parameter 1).
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTestUtil.h"

using namespace soap::cpu;

namespace {

float sgdTwoSteps(const SgdOptions &o) {
  float p = 1.0f, buf = 0.0f, g1 = 1.0f, g2 = 2.0f;
  sgdStep(&p, &g1, &buf, 1, o, true);
  sgdStep(&p, &g2, &buf, 1, o, false);
  return p;
}

TEST(CpuSgd, PlainStep) {
  float p = 1.0f, g = 0.5f;
  SgdOptions o;
  o.lr = 0.1;
  sgdStep(&p, &g, nullptr, 1, o, true);
  EXPECT_FLOAT_EQ(p, 0.95f);
}

TEST(CpuSgd, Momentum) {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  // buf = 1, p = 0.9; buf = 0.9 + 2 = 2.9, p = 0.9 - 0.29.
  EXPECT_FLOAT_EQ(sgdTwoSteps(o), 0.61f);
}

TEST(CpuSgd, MomentumDampeningWeightDecay) {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.dampening = 0.1;
  o.weightDecay = 0.01;
  // d = 1.01, buf = 1.01 (no dampening on the first step), p = 0.899;
  // d = 2.00899, buf = 0.909 + 0.9 * 2.00899 = 2.717091, p = 0.6272909.
  EXPECT_NEAR(sgdTwoSteps(o), 0.6272909, 1e-6);
}

TEST(CpuSgd, Nesterov) {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  // buf = 1, d = 1.9, p = 0.81; buf = 2.9, d = 2 + 2.61 = 4.61, p = 0.349.
  EXPECT_NEAR(sgdTwoSteps(o), 0.349, 1e-6);
}

float adamTwoSteps(const AdamOptions &o, float &afterFirst) {
  float p = 1.0f, m = 0.0f, v = 0.0f, g1 = 0.5f, g2 = -1.0f;
  adamStep(&p, &g1, &m, &v, 1, 1, o);
  afterFirst = p;
  adamStep(&p, &g2, &m, &v, 1, 2, o);
  return p;
}

TEST(CpuAdam, BiasCorrectedSteps) {
  AdamOptions o;
  o.lr = 0.1;
  float first;
  // Step 1 moves by lr (bias correction makes m / sqrt(v) = sign(g)).
  // Step 2: m = -0.055, v = 0.00124975, step size 0.1 / 0.19,
  // denominator sqrt(v / 0.001999) + eps.
  float second = adamTwoSteps(o, first);
  EXPECT_NEAR(first, 0.9, 1e-6);
  EXPECT_NEAR(second, 0.93661035, 1e-6);
}

TEST(CpuAdam, L2WeightDecay) {
  AdamOptions o;
  o.lr = 0.1;
  o.weightDecay = 0.1;
  float first;
  float second = adamTwoSteps(o, first); // g += 0.1 * p before the moments
  EXPECT_NEAR(first, 0.9, 1e-6);
  EXPECT_NEAR(second, 0.92526352, 1e-6);
}

TEST(CpuAdam, DecoupledWeightDecay) {
  AdamOptions o;
  o.lr = 0.1;
  o.weightDecay = 0.1;
  o.decoupled = true;
  float first;
  float second = adamTwoSteps(o, first); // p *= 1 - lr * wd, then Adam
  EXPECT_NEAR(first, 0.89, 1e-6);
  EXPECT_NEAR(second, 0.91771035, 1e-6);
}

TEST(CpuAdam, ShardedBufferUpdatesLikeTheWhole) {
  std::vector<float> p = soap::cpu::test::random(1000, 1), g =
      soap::cpu::test::random(1000, 2);
  std::vector<float> p2 = p, m(1000), v(1000), m2(1000), v2(1000);
  AdamOptions o;
  adamStep(p.data(), g.data(), m.data(), v.data(), 1000, 1, o);
  adamStep(p2.data(), g.data(), m2.data(), v2.data(), 400, 1, o);
  adamStep(p2.data() + 400, g.data() + 400, m2.data() + 400, v2.data() + 400,
           600, 1, o);
  EXPECT_EQ(p, p2);
}

} // namespace
