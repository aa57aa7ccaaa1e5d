//===- PipelineSearchTest.cpp - stages, inter-op search, memory limits ----===//
#include "../Simulator/TestGraphs.h"

#include "soap/Search/ConfigSpace.h"
#include "soap/Search/Pipeline.h"
#include "soap/Simulator/Pipeline.h"

#include <gtest/gtest.h>

using namespace soap;
using soap::test::GraphBuilder;
using soap::test::Value;

static OpGraph mlp(int layers, int64_t batch = 64, int64_t width = 512) {
  return test::mlpChain(layers, batch, width);
}

TEST(PipelineSearch, BalancedStagesMinimizeTheLargest) {
  OpGraph g = mlp(4); // 9 ops, a boundary between every two
  std::vector<double> w(g.ops.size(), 1.0);
  auto two = balancedStages(g, w, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].first, 0);
  EXPECT_EQ(two[1].second, 8);
  EXPECT_EQ(two[0].second + 1, two[1].first);
  EXPECT_LE(std::abs((two[0].second + 1) - (8 - two[0].second)), 1);
  // A heavy first op gets a stage of its own: uneven stages.
  w[0] = 100;
  auto heavy = balancedStages(g, w, 2);
  ASSERT_EQ(heavy.size(), 2u);
  EXPECT_EQ(heavy[0], (std::pair<int, int>{0, 0}));
  EXPECT_EQ(heavy[1], (std::pair<int, int>{1, 8}));
  // More stages than boundaries allow: none.
  EXPECT_TRUE(balancedStages(g, w, 10).empty());
  EXPECT_EQ(balancedStages(g, w, 9).size(), 9u);
}

TEST(PipelineSearch, StrategiesOfChoicesAreValid) {
  OpGraph g = mlp(4);
  auto machine = test::roundMachine(2, 4);
  CostModel cost(machine);
  Simulator sim(g, cost);
  PipelineChoice c;
  c.tensorParallel = 2;
  c.pipelineParallel = 2;
  c.microBatches = 4;
  c.recompute = true;
  c.zeroStage = 1;
  Expected<Strategy> s = pipelineStrategy(sim, c, 2, 4);
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_EQ(s->training.stages.size(), 2u);
  EXPECT_EQ(s->training.stages[0].firstDevice, 0);
  EXPECT_EQ(s->training.stages[1].firstDevice, 4);
  EXPECT_EQ(s->training.stages[1].numDevices, 4);
  EXPECT_EQ(checkTrainingConfig(g, s->training, 8), "");
  auto r = sim.simulate(*s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->stages.size(), 2u);
  EXPECT_EQ(c.str(), "tp 2, pp 2, 4 micro-batches (1f1b), recompute, ZeRO 1");
  c.pipelineParallel = 3;
  EXPECT_FALSE(pipelineStrategy(sim, c, 2, 4).ok());
  EXPECT_FALSE(megatronPublishedDegrees(g).has_value());
}

TEST(PipelineSearch, FindsAFittingStrategyWhenPlainOnesDoNot) {
  OpGraph g = mlp(8, 64, 1024);
  // Each layer's weight is 4 MiB (f32): 8 layers with Adam need 128 MiB
  // on one device. Devices of 40 MiB.
  auto machine = test::roundMachine(1, 4, 1, "device", 40 << 20);
  CostModel cost(machine);
  Simulator sim(g, cost);
  auto dp = sim.simulate(dataParallelStrategy(g, 4));
  ASSERT_TRUE(dp.ok());
  EXPECT_FALSE(dp->fitsMemory);
  auto objective = [&](const SimResult &r) {
    return r.fitsMemory ? r.stepTime : 1e3 + r.maxPeakMemory();
  };
  PipelineSearchOptions o;
  o.nodes = 1;
  o.devicesPerNode = 4;
  PipelineSearchResult res = searchPipelines(sim, o, objective);
  ASSERT_TRUE(res.best.has_value());
  EXPECT_TRUE(res.best->sim.fitsMemory) << res.best->choice.str();
  EXPECT_GT(res.evaluated, res.simulations);
  // The recorded result is the strategy's own simulation.
  Simulator fresh(g, cost);
  auto again = fresh.simulate(res.best->strategy);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_DOUBLE_EQ(again->stepTime, res.best->sim.stepTime);
  EXPECT_EQ(again->peakMemory, res.best->sim.peakMemory);
  // Data parallel without ZeRO, offload and recomputation, and with one
  // stage only, nothing fits.
  o.tensorParallel = {1};
  o.zeroStages = {0};
  o.allowOffload = false;
  o.allowRecompute = false;
  o.pipelineParallel = {1};
  o.microBatchSizes = {16};
  PipelineSearchResult plain = searchPipelines(sim, o, objective);
  ASSERT_TRUE(plain.best.has_value());
  EXPECT_FALSE(plain.best->sim.fitsMemory);
}

TEST(ConfigSpace, CapKeepsTheFullEnumerationsFirstConfigs) {
  OpGraph g = mlp(3, 64, 512);
  ConfigSpaceOptions o;
  o.nodes = 4;
  o.devicesPerNode = 4;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    o.maxConfigsPerOp = 0;
    std::vector<ParallelConfig> all = enumerateConfigs(g.ops[i], o, int(i));
    for (size_t cap : {1, 7, 20, 64}) {
      o.maxConfigsPerOp = cap;
      std::vector<ParallelConfig> capped = enumerateConfigs(g.ops[i], o, int(i));
      ASSERT_EQ(capped.size(), std::min(cap, all.size()));
      for (size_t k = 0; k < capped.size(); ++k)
        EXPECT_EQ(capped[k], all[k]) << g.ops[i].name << " cap " << cap;
    }
  }
  // Alike ops share their lists; the lists are each op's own.
  o.maxConfigsPerOp = 32;
  auto space = enumerateConfigSpace(g, o);
  for (size_t i = 0; i < g.ops.size(); ++i)
    EXPECT_EQ(space[i], enumerateConfigs(g.ops[i], o, int(i)));
}
