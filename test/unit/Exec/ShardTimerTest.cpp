//===- ShardTimerTest.cpp - op shards timed with the runtime's kernels ----===//
//
// soap-calibrate's default CPU method (soap/Runtime/ShardTimer.h): every op
// of several zoo models, whole and split along each of its dims, becomes a
// one-rank plan holding exactly rank 0's shard kernels (no transfers), the
// session runs it, and the ProfileDB it fills has the keys the cost model
// looks up, attention, lstm and experts included. No timing is asserted
// beyond "something ran" (timing goals live in bench/).
//
//===----------------------------------------------------------------------===//
#include "ExecTestUtil.h"

#include "soap/Runtime/ShardTimer.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/ShardingRules.h"

#include <gtest/gtest.h>

#include <set>

using namespace soap;
using namespace soap::test;

namespace {

bool isView(const OpNode &op) {
  return op.forwardFlops == 0 && op.backwardFlops == 0 && op.bytesRead == 0 &&
         op.bytesWritten == 0;
}

std::vector<Model> models(mlir::MLIRContext &context) {
  std::vector<Model> out;
  out.push_back(zooModel(context, "gpt",
                         {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"},
                          {"seq", "8"}, {"vocab", "64"}, {"batch", "4"}}));
  out.push_back(zooModel(context, "moe-transformer",
                         {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"},
                          {"seq", "8"}, {"vocab", "64"}, {"batch", "4"},
                          {"experts", "4"}}));
  out.push_back(zooModel(context, "rnntc",
                         {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"},
                          {"embed", "8"}, {"hidden", "8"}, {"layers", "1"}}));
  out.push_back(fileModel(context, "docs/examples/cnn.mlir"));
  return out;
}

TEST(ShardTimer, RankZerosKernelsAloneForEveryOpAndSplit) {
  mlir::MLIRContext context;
  int plans = 0;
  std::set<std::string> kinds;
  for (const Model &m : models(context)) {
    ASSERT_EQ(m.error, "");
    for (const OpNode &op : m.graph.ops) {
      if (isView(op))
        continue;
      OpShardingRule rule = shardingRule(op);
      // Whole, then each dim split in two where it divides.
      std::vector<std::vector<int64_t>> degrees = {
          std::vector<int64_t>(op.dims.size(), 1)};
      for (size_t d = 0; d < op.dims.size(); ++d)
        if (op.dims[d].size % 2 == 0) {
          std::vector<int64_t> deg(op.dims.size(), 1);
          deg[d] = 2;
          if (unsupportedSplit(op, deg).empty())
            degrees.push_back(deg);
        }
      for (const std::vector<int64_t> &deg : degrees) {
        SCOPED_TRACE(op.name + " (" + op.kind + ") degrees " +
                     std::to_string(deg.size()));
        Plan plan;
        std::string error;
        ASSERT_TRUE(runtime::buildShardPlan(op, deg, plan, error)) << error;
        ASSERT_EQ(plan.ranks.size(), 1u);
        EXPECT_TRUE(plan.communicators.empty());
        int forward = 0;
        for (const PlanTask &t : plan.ranks[0].tasks) {
          EXPECT_TRUE(t.type != TaskType::Send && t.type != TaskType::Recv &&
                      t.type != TaskType::Collective)
              << toString(t.type);
          if (t.type != TaskType::Kernel || t.op != op.name ||
              t.phase != Phase::Forward)
            continue;
          ++forward;
          // The kernel's first output is the shard of the op's result.
          ASSERT_FALSE(t.outputs.empty());
          const PlanBuffer *b = plan.ranks[0].findBuffer(t.outputs[0]);
          ASSERT_NE(b, nullptr);
          if (t.part.empty() || t.part == "normalize")
            EXPECT_EQ(b->shape, shardShape(rule.results[0], op.dims, deg));
        }
        EXPECT_GE(forward, 1);
        kinds.insert(op.kind);
        ++plans;
      }
    }
  }
  for (const char *k : {"attention", "lstm", "experts", "conv2d", "batch_norm",
                        "embedding", "layer_norm", "softmax_cross_entropy"})
    EXPECT_TRUE(kinds.count(k)) << k;
  EXPECT_GE(plans, 60);
}

TEST(ShardTimer, CalibrateCoversEveryKindWithTheCostModelsKeys) {
  mlir::MLIRContext context;
  auto machine = MachineModel::loadPreset("cpu-host", {1, 2});
  ASSERT_TRUE(machine.ok()) << machine.error();
  auto bench = makeCpuBench(1);
  ASSERT_TRUE(bench.ok()) << bench.error();
  runtime::RuntimeShardTimer timer(1);
  auto pricing = [&](Optimizer opt) {
    return CostModel(*machine, nullptr, CostOptions{false, opt});
  };
  int updates = 0, concurrent = 0;
  for (const Model &m : models(context)) {
    ASSERT_EQ(m.error, "");
    SCOPED_TRACE(m.graph.modelName);
    CalibrationOptions o;
    o.repeats = 2;
    o.warmup = 1;
    o.sweep = false;
    o.timer = &timer;
    auto db = calibrate(m.graph, *machine, **bench, o);
    ASSERT_TRUE(db.ok()) << db.error();
    // Every non-view op, whole and split, is found under the key the cost
    // model asks for (calibrate() also checks each key it writes).
    CostModel cost(*machine, &*db);
    std::vector<CalibrationJob> jobs = planCalibration(m.graph, *machine, 0, true);
    for (const OpNode &op : m.graph.ops) {
      if (isView(op))
        continue;
      std::vector<int64_t> whole(op.dims.size(), 1);
      const KernelMeasurement *km =
          db->find(cost.kernelKey(op, shardingRule(op), whole));
      ASSERT_NE(km, nullptr) << op.name;
      EXPECT_EQ(km->method, "soap runtime kernels");
      EXPECT_EQ(km->forwardSamples.size(), 2u);
      EXPECT_GT(km->forward, 0) << op.name;
      if (op.backwardFlops > 0)
        EXPECT_GT(km->backward, 0) << op.name;
      EXPECT_TRUE(cost.kernelTime(op, shardingRule(op), whole).measured);
      // Its weights' update, per optimizer, whole and (where the op splits)
      // on both devices at once.
      bool weighted = false;
      for (const Operand &o : op.operands)
        weighted |= o.source == OperandSource::Weight;
      if (!weighted || op.backwardFlops <= 0)
        continue;
      for (Optimizer opt : {Optimizer::SGD, Optimizer::Momentum, Optimizer::Adam}) {
        CostModel priced(*machine, &*db, CostOptions{false, opt});
        const KernelMeasurement *u =
            db->find(priced.updateKey(op, shardingRule(op), whole));
        ASSERT_NE(u, nullptr) << op.name << " " << toString(opt);
        EXPECT_EQ(u->kind, "update");
        EXPECT_EQ(u->forwardSamples.size(), 2u);
        EXPECT_GT(u->forward, 0) << op.name;
        EXPECT_EQ(priced.opUpdateTime(op, shardingRule(op), whole), u->forward);
        ++updates;
      }
      for (const CalibrationJob &job : jobs) {
        if (&m.graph.ops[job.op] != &op || job.degree == whole)
          continue;
        std::string key =
            pricing(Optimizer::Adam).updateKey(op, shardingRule(op), job.degree);
        EXPECT_NE(key.find(",concurrent=2|"), std::string::npos) << key;
        EXPECT_NE(db->find(key), nullptr) << key;
        ++concurrent;
      }
    }
  }
  EXPECT_GT(updates, 30);
  EXPECT_GT(concurrent, 10);
}

} // namespace
