//===- SearchOptimalTest.cpp - the search against exhaustive enumeration --===//
//
// On graphs small enough to enumerate every strategy of the config space,
// the search (DP start + MCMC on the simulator) must find the optimum's
// predicted step time, and it is never worse than a baseline.
//
//===----------------------------------------------------------------------===//
#include "../Simulator/TestGraphs.h"

#include "soap/Driver/Compile.h"
#include "soap/Search/ConfigSpace.h"

#include <gtest/gtest.h>

#include <limits>

using namespace soap;
using namespace soap::test;

namespace {
/// x[64, 256] -> linear 256x512 -> relu -> linear 512x128 -> tanh.
OpGraph tinyMlp() {
  GraphBuilder b("tiny");
  Value x = b.input("x", {64, 256});
  Value w1 = b.weight("fc1.w", {256, 512});
  Value w2 = b.weight("fc2.w", {512, 128});
  Value h = b.linear("fc1", x, w1);
  Value a = b.unary("relu", "relu", h);
  Value y = b.linear("fc2", a, w2);
  Value t = b.unary("tanh", "tanh", y);
  b.output(t);
  return b.g;
}

/// The best step time over every strategy of the search's config space.
double exhaustiveOptimum(const OpGraph &g, const CostModel &cost,
                         int64_t *evaluated) {
  ConfigSpaceOptions so;
  so.nodes = cost.machine().nodes;
  so.devicesPerNode = cost.machine().devicesPerNode;
  so.maxConfigsPerOp = 256; // as compile() does
  auto space = enumerateConfigSpace(g, so);
  Simulator sim(g, cost);
  Strategy s;
  s.configs.resize(g.ops.size());
  std::vector<size_t> idx(g.ops.size(), 0);
  double best = std::numeric_limits<double>::infinity();
  *evaluated = 0;
  while (true) {
    for (size_t i = 0; i < idx.size(); ++i)
      s.configs[i] = space[i][idx[i]];
    auto r = sim.simulate(s);
    EXPECT_TRUE(r.ok());
    if (r.ok() && r->fitsMemory)
      best = std::min(best, r->stepTime);
    ++*evaluated;
    size_t i = 0;
    for (; i < idx.size(); ++i) {
      if (++idx[i] < space[i].size())
        break;
      idx[i] = 0;
    }
    if (i == idx.size())
      return best;
  }
}
} // namespace

TEST(SearchOptimal, FindsTheExhaustiveOptimumOnFourDevices) {
  // One P100 node (4 GPUs, NVLink) and two K80 nodes of 2 (PCIe + IB).
  struct Case {
    const char *preset;
    MachineOverrides shape;
  } cases[] = {{"p100", {1, {}}}, {"k80", {2, 2}}};
  int beatsDataParallel = 0;
  for (const Case &c : cases) {
    const char *preset = c.preset;
    auto m = MachineModel::loadPreset(preset, c.shape);
    ASSERT_TRUE(m.ok()) << m.error();
    CostModel cost(*m);
    OpGraph g = tinyMlp();
    ASSERT_EQ(g.validate(), "");
    int64_t evaluated = 0;
    double optimum = exhaustiveOptimum(g, cost, &evaluated);
    EXPECT_GE(evaluated, 5000) << "the space should not be trivial";

    CompileOptions o;
    o.seed = 5;
    o.threads = 2;
    o.iterationsPerChain = 20000;
    o.budgetSeconds = 0;
    auto r = compile(g, cost, o);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_NEAR(r->sim.stepTime, optimum, 1e-12 + 1e-9 * optimum) << preset;
    for (const BaselineResult &b : r->baselines) {
      EXPECT_LE(r->sim.stepTime, b.sim.stepTime * (1 + 1e-12)) << b.name;
      if (b.name == "data-parallel" && r->sim.stepTime < b.sim.stepTime * 0.999)
        ++beatsDataParallel;
    }
  }
  // The optimum is not a baseline, so finding it takes a search.
  EXPECT_GE(beatsDataParallel, 1);
}
