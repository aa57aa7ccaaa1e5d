//===- PipelineTest.cpp - schedules, ZeRO, offload, recompute -------------===//
//
// Closed forms: p uniform stages of forward f and backward b per micro-batch
// take (m + p - 1)(f + b) under GPipe and 1F1B (bubble (p - 1) / m); 1F1B
// stage s holds min(m, p - s) micro-batches; ZeRO divides by the
// data-parallel group; offload empties the device's optimizer state;
// recompute drops results and adds their forward to the backward.
//
//===----------------------------------------------------------------------===//
#include "TestGraphs.h"

#include "soap/Simulator/Pipeline.h"
#include "soap/Simulator/Simulator.h"

#include <gtest/gtest.h>

#include <random>

using namespace soap;
using soap::test::GraphBuilder;
using soap::test::Value;

using soap::test::cfg;

TEST(Pipeline, UniformStagesMatchClosedForm) {
  for (PipelineSchedule sched :
       {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB})
    for (int p : {1, 2, 4, 8})
      for (int64_t m : {1, 2, 4, 8, 32}) {
        const double f = 1.0, b = 2.0;
        std::vector<StageTimes> st(p, StageTimes{f, b, 0, 0});
        ScheduleResult r = simulateSchedule(st, m, sched);
        SCOPED_TRACE(std::string(toString(sched)) + " p=" + std::to_string(p) +
                     " m=" + std::to_string(m));
        EXPECT_NEAR(r.time, (m + p - 1) * (f + b), 1e-9);
        EXPECT_NEAR(r.bubbleFraction, double(p - 1) / double(m), 1e-9);
        ASSERT_EQ(r.stageEnd.size(), size_t(p));
        // Stage 0 ends last: its last backward waits for every other stage.
        EXPECT_NEAR(r.stageEnd[0], r.time, 1e-9);
      }
}

TEST(Pipeline, SendsDelayTheReceiver) {
  // One micro-batch through two stages: F0, send, F1, B1, send back, B0.
  std::vector<StageTimes> st = {{1, 2, 0.5, 0}, {3, 4, 0, 0.25}};
  for (PipelineSchedule sched :
       {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB}) {
    ScheduleResult r = simulateSchedule(st, 1, sched);
    EXPECT_NEAR(r.time, 1 + 0.5 + 3 + 4 + 0.25 + 2, 1e-12);
    EXPECT_NEAR(r.stageEnd[1], 1 + 0.5 + 3 + 4, 1e-12);
  }
  // The slowest stage bounds the steady state: m micro-batches take at
  // least m * (3 + 4).
  ScheduleResult r = simulateSchedule(st, 16, PipelineSchedule::OneFOneB);
  EXPECT_GE(r.time, 16 * 7.0);
  EXPECT_LE(r.time, 16 * 7.0 + 1 + 0.5 + 2 + 0.25 + 1e-9);
}

TEST(Pipeline, InFlightMicroBatches) {
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(inFlightMicroBatches(s, 4, 8, PipelineSchedule::OneFOneB), 4 - s);
    EXPECT_EQ(inFlightMicroBatches(s, 4, 8, PipelineSchedule::GPipe), 8);
    EXPECT_EQ(inFlightMicroBatches(s, 4, 2, PipelineSchedule::OneFOneB),
              std::min(2, 4 - s));
  }
}

static OpGraph mlp(int layers, int64_t batch = 64, int64_t width = 256) {
  return test::mlpChain(layers, batch, width);
}

TEST(Pipeline, LayerBoundariesAndRecomputeFlags) {
  OpGraph g = mlp(3);
  // ops: fc0 relu0 fc1 relu1 fc2 relu2 loss: one tensor crosses every cut.
  std::vector<int> cuts = layerBoundaries(g);
  EXPECT_EQ(cuts, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  std::vector<char> flags = recomputeLayers(g);
  ASSERT_EQ(flags.size(), g.ops.size());
  // Layers of one op each keep their only op's result: nothing recomputed.
  for (char f : flags)
    EXPECT_EQ(f, 0);
}

TEST(Pipeline, ChecksTheTrainingConfig) {
  OpGraph g = mlp(2); // 5 ops
  TrainingConfig t;
  t.stages = {{0, 1, 0, 2}, {3, 4, 2, 2}};
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("stage 1 starts at op 3"),
            std::string::npos);
  t.stages = {{0, 1, 0, 2}, {2, 3, 2, 2}};
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("must end at the last op"),
            std::string::npos);
  t.stages = {{0, 1, 0, 2}, {2, 4, 1, 2}};
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("overlap"), std::string::npos);
  t.stages = {{0, 1, 0, 2}, {2, 4, 2, 4}};
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("inside the machine"),
            std::string::npos);
  t.stages = {{0, 1, 0, 2}, {2, 4, 2, 2}};
  EXPECT_EQ(checkTrainingConfig(g, t, 4), "");
  t.zeroStage = 4;
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("zero_stage"), std::string::npos);
  t.zeroStage = 0;
  t.microBatches = 0;
  EXPECT_NE(checkTrainingConfig(g, t, 4).find("micro_batches"),
            std::string::npos);
}

TEST(Pipeline, ZeroAndOffloadMemory) {
  OpGraph g = mlp(2);
  auto machine = test::roundMachine(1, 4);
  CostModel cost(machine); // Adam
  Simulator sim(g, cost);
  Strategy dp = dataParallelStrategy(g, 4);
  auto plain = sim.simulate(dp);
  ASSERT_TRUE(plain.ok()) << plain.error();
  const MemoryUsage base = plain->memory[0];
  ASSERT_GT(base.optimizerState, 0);
  double sync = 0, zero1 = 0;
  for (const TaskInfo &t : sim.tasks())
    if (t.kind == TaskKind::GradientSync)
      sync += t.end - t.start;
  ASSERT_GT(sync, 0);

  for (int zero = 1; zero <= 3; ++zero) {
    Strategy s = dp;
    s.training.zeroStage = zero;
    auto r = sim.simulate(s);
    ASSERT_TRUE(r.ok()) << r.error();
    const MemoryUsage &u = r->memory[0];
    SCOPED_TRACE("zero " + std::to_string(zero));
    EXPECT_EQ(u.optimizerState, base.optimizerState / 4);
    EXPECT_EQ(u.gradients, zero >= 2 ? base.gradients / 4 : base.gradients);
    EXPECT_EQ(u.weights, zero >= 3 ? base.weights / 4 : base.weights);
    EXPECT_EQ(u.activations, base.activations);
    EXPECT_LT(r->peakMemory[0], plain->peakMemory[0]);
    // ZeRO 1 and 2: every device updates a quarter of the weights; 3 also
    // all-gathers each weight before its forward and its backward (half
    // an all-reduce each: the gradient synchronization's time in all).
    if (zero < 3) {
      EXPECT_LT(r->stepTime, plain->stepTime);
      zero1 = r->stepTime;
    } else {
      EXPECT_NEAR(r->stepTime, zero1 + sync, 1e-12);
    }
  }
  Strategy off = dp;
  off.training.offloadOptimizer = true;
  auto r = sim.simulate(off);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->memory[0].optimizerState, 0);
  EXPECT_EQ(r->memory[0].weights, base.weights);
  // The update becomes host-link traffic: 2 x weights + optimizer state at
  // the default PCIe rate, instead of the device update.
  double bytes = 2.0 * base.weights + base.optimizerState;
  EXPECT_NEAR(r->stages.at(0).update, bytes / kDefaultHostLinkBandwidth, 1e-12);
}

TEST(Pipeline, RecomputeDropsActivationsAndAddsForward) {
  OpGraph g = mlp(2);
  auto machine = test::roundMachine(1, 1);
  CostModel cost(machine);
  Simulator sim(g, cost);
  Strategy one = singleDeviceStrategy(g);
  auto plain = sim.simulate(one);
  ASSERT_TRUE(plain.ok());
  Strategy rc = one;
  rc.training.recompute.assign(g.ops.size(), 0);
  rc.training.recompute[1] = 1; // relu0
  rc.training.recompute[3] = 1; // relu1
  auto r = sim.simulate(rc);
  ASSERT_TRUE(r.ok()) << r.error();
  // relu results: 64 x 256 floats each, dropped; one of them lives again
  // while it is recomputed.
  const int64_t relu = 64 * 256 * 4;
  EXPECT_EQ(r->memory[0].activations, plain->memory[0].activations - 2 * relu);
  EXPECT_EQ(r->memory[0].workspace, plain->memory[0].workspace + relu);
  // Their forwards run again in the backward.
  double relus = 0;
  for (const TaskInfo &t : sim.tasks())
    if (t.kind == TaskKind::Forward && (t.op == 1 || t.op == 3))
      relus += t.end - t.start;
  EXPECT_GT(relus, 0);
  EXPECT_NEAR(r->stepTime, plain->stepTime + relus, 1e-12);
}

/// Ops 0-3 data parallel on devices 0-1, the rest on devices 2-3.
static Strategy twoStages(const OpGraph &g) {
  Strategy s;
  for (size_t i = 0; i < g.ops.size(); ++i)
    s.configs.push_back(cfg({{"batch", 2}}, i < 4 ? 0 : 2));
  return s;
}

TEST(Pipeline, StagesMicroBatchesAndMemory) {
  OpGraph g = mlp(4); // 9 ops
  auto machine = test::roundMachine(1, 4);
  CostModel cost(machine);
  Simulator sim(g, cost);
  Strategy s = twoStages(g);
  auto plain = sim.simulate(s);
  ASSERT_TRUE(plain.ok()) << plain.error();
  for (int64_t m : {1, 4, 8}) {
    for (PipelineSchedule sched :
         {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB}) {
      Strategy p = s;
      p.training.stages = {{0, 3, 0, 2}, {4, 8, 2, 2}};
      p.training.microBatches = m;
      p.training.schedule = sched;
      auto r = sim.simulate(p);
      ASSERT_TRUE(r.ok()) << r.error();
      ASSERT_EQ(r->stages.size(), 2u);
      for (int d = 0; d < 4; ++d) {
        int stage = d / 2;
        int64_t inflight = inFlightMicroBatches(stage, 2, m, sched);
        EXPECT_EQ(r->stages[stage].inFlight, inflight);
        int64_t a = plain->memory[d].activations;
        EXPECT_EQ(r->memory[d].activations,
                  a / m * inflight + (a % m) * inflight / m);
        EXPECT_EQ(r->memory[d].weights, plain->memory[d].weights);
      }
      // The step is the schedule of the stages' per micro-batch times,
      // then each stage's gradient synchronization and update.
      std::vector<StageTimes> st = {r->stages[0].perMicroBatch,
                                    r->stages[1].perMicroBatch};
      ScheduleResult sr = simulateSchedule(st, m, sched);
      double end = 0;
      for (int k = 0; k < 2; ++k)
        end = std::max(end, sr.stageEnd[k] + r->stages[k].gradientSync +
                                r->stages[k].update);
      EXPECT_NEAR(r->stepTime, end, 1e-12);
      EXPECT_NEAR(r->bubbleFraction, sr.bubbleFraction, 1e-12);
    }
  }
  // An op outside its stage's sub-mesh is refused, by simulate and by a
  // delta.
  Strategy bad = s;
  bad.training.stages = {{0, 3, 0, 2}, {4, 8, 2, 2}};
  bad.configs[5] = cfg({{"batch", 2}}, 0);
  auto r = sim.simulate(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("outside the stage"), std::string::npos) << r.error();
  Strategy good = s;
  good.training.stages = bad.training.stages;
  ASSERT_TRUE(sim.simulate(good).ok());
  EXPECT_FALSE(sim.simulateDelta(5, cfg({{"batch", 2}}, 0)).ok());
}

TEST(Pipeline, DeltaEqualsFullWithTrainingOptions) {
  OpGraph g = mlp(4);
  auto machine = test::roundMachine(1, 4);
  CostModel cost(machine);
  Simulator sim(g, cost);
  Strategy s = twoStages(g);
  s.training.stages = {{0, 3, 0, 2}, {4, 8, 2, 2}};
  s.training.microBatches = 4;
  s.training.zeroStage = 1;
  s.training.recompute.assign(g.ops.size(), 0);
  s.training.recompute[1] = 1;
  ASSERT_TRUE(sim.simulate(s).ok());
  std::mt19937 rng(7);
  const std::vector<ParallelConfig> choices = {
      cfg({{"batch", 2}}), cfg({{"batch", 1}}), cfg({{"out", 2}}),
      cfg({{"batch", 2}}, 0, {1})};
  for (int k = 0; k < 40; ++k) {
    int op = static_cast<int>(rng() % g.ops.size());
    ParallelConfig c = choices[rng() % choices.size()];
    if (!g.ops[op].findDim("out") && c.degree("out") > 1)
      continue;
    if (op >= 4)
      c.start = 2;
    auto d = sim.simulateDelta(op, c);
    ASSERT_TRUE(d.ok()) << d.error();
    Simulator fresh(g, cost);
    auto f = fresh.simulate(sim.strategy());
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(d->stepTime, f->stepTime);
    EXPECT_EQ(d->peakMemory, f->peakMemory);
  }
}
