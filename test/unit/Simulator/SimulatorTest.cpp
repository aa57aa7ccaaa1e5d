//===- SimulatorTest.cpp - task graph, timeline, memory, delta, oracle ----===//
#include "TestGraphs.h"

#include "soap/Simulator/Evaluator.h"
#include "soap/Simulator/Simulator.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <random>

using namespace soap;
using soap::test::GraphBuilder;
using soap::test::Value;

using soap::test::cfg;

static double sumKind(const std::vector<TaskInfo> &tasks, TaskKind k,
                      bool bytes = false) {
  double s = 0;
  for (const TaskInfo &t : tasks)
    if (t.kind == k)
      s += bytes ? t.bytes : t.end - t.start;
  return s;
}

static int countKind(const std::vector<TaskInfo> &tasks, TaskKind k) {
  int n = 0;
  for (const TaskInfo &t : tasks)
    n += t.kind == k;
  return n;
}

//===----------------------------------------------------------------------===//
// Hand-computed timelines and memory
//===----------------------------------------------------------------------===//

TEST(Simulator, TwoOpsTwoDevicesWithTransfer) {
  // relu1 on device 0 feeds relu2 on device 1. 1 GB/s memory and links,
  // 1 us latency, no kernel overhead; 1000 floats = 4000 bytes.
  GraphBuilder b;
  Value x = b.input("x", {1000});
  Value r1 = b.unary("relu1", "relu", x);
  Value r2 = b.unary("relu2", "relu", r1);
  b.output(r2);
  auto m = test::roundMachine(1, 2);
  CostModel cost(m);
  Simulator sim(b.g, cost);
  Strategy s{{cfg({}, 0), cfg({}, 1)}};
  auto r = sim.simulate(s);
  ASSERT_TRUE(r.ok()) << r.error();
  // forward 8 us (read 4000 + write 4000 bytes), transfer 1 + 4 us,
  // forward 8 us, backward 16 us, gradient transfer 5 us, backward 16 us.
  EXPECT_NEAR(r->stepTime, 58e-6, 1e-15);
  auto tasks = sim.tasks();
  ASSERT_EQ(tasks.size(), 6u);
  EXPECT_EQ(tasks[0].name, "forward relu1");
  EXPECT_NEAR(tasks[0].end, 8e-6, 1e-15);
  const TaskInfo *xfer = nullptr;
  for (const TaskInfo &t : tasks)
    if (t.kind == TaskKind::Transfer)
      xfer = &t;
  ASSERT_NE(xfer, nullptr);
  EXPECT_EQ(xfer->name, "transfer relu1->relu2");
  EXPECT_NEAR(xfer->start, 8e-6, 1e-15);
  EXPECT_NEAR(xfer->end, 13e-6, 1e-15);
  EXPECT_EQ(xfer->bytes, 4000);
  EXPECT_NEAR(r->computeTime[0], 24e-6, 1e-15);
  EXPECT_NEAR(r->computeTime[1], 24e-6, 1e-15);
  EXPECT_NEAR(r->commTime[0], 10e-6, 1e-15);
  EXPECT_NEAR(r->idleTime[0], 34e-6, 1e-15);
  EXPECT_EQ(r->commBytes, 8000);
  // Each direction of each port carried the 4000 bytes once.
  double linkTotal = 0;
  for (double v : r->linkBytes)
    linkTotal += v;
  EXPECT_EQ(linkTotal, 16000);
  // Memory: device 0 holds x and relu1's result; device 1 relu2's result
  // and its received copy of relu1's; each backward needs 8000 bytes.
  EXPECT_EQ(r->memory[0].activations, 8000);
  EXPECT_EQ(r->memory[1].activations, 8000);
  EXPECT_EQ(r->memory[0].workspace, 8000);
  EXPECT_EQ(r->peakMemory[1], 16000);
  EXPECT_EQ(r->memory[0].weights, 0);
  EXPECT_TRUE(r->fitsMemory);
}

TEST(Simulator, DisjointDevicesRunConcurrently) {
  GraphBuilder b;
  Value x = b.input("x", {1000});
  Value a = b.unary("a", "relu", x);
  Value c = b.unary("c", "relu", x);
  b.output(a);
  b.output(c);
  auto m = test::roundMachine(1, 2);
  CostModel cost(m);
  Simulator sim(b.g, cost);
  auto together = sim.simulate(Strategy{{cfg({}, 0), cfg({}, 0)}});
  auto apart = sim.simulate(Strategy{{cfg({}, 0), cfg({}, 1)}});
  ASSERT_TRUE(together.ok() && apart.ok());
  EXPECT_NEAR(together->stepTime, 48e-6, 1e-15); // 2 x (8 + 16) on one device
  EXPECT_NEAR(apart->stepTime, 24e-6, 1e-15);
}

TEST(Simulator, MemoryByHand) {
  // fc: [8, 16] x [16, 4] with Adam.
  GraphBuilder b;
  Value x = b.input("x", {8, 16});
  Value w = b.weight("w", {16, 4});
  Value y = b.linear("fc", x, w);
  b.output(y);
  auto m = test::roundMachine(1, 2);
  CostModel adam(m);
  Simulator sim(b.g, adam);
  auto one = sim.simulate(Strategy{{cfg({})}});
  ASSERT_TRUE(one.ok()) << one.error();
  const MemoryUsage &mu = one->memory[0];
  EXPECT_EQ(mu.weights, 16 * 4 * 4);
  EXPECT_EQ(mu.gradients, 256);
  EXPECT_EQ(mu.optimizerState, 512); // Adam: two moments
  EXPECT_EQ(mu.activations, 8 * 16 * 4 + 8 * 4 * 4);
  EXPECT_EQ(mu.workspace, 640);
  EXPECT_EQ(one->peakMemory[0], 2304);
  EXPECT_EQ(one->peakMemory[1], 0);

  auto dp = sim.simulate(Strategy{{cfg({{"batch", 2}})}});
  ASSERT_TRUE(dp.ok());
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(dp->memory[d].weights, 256);
    EXPECT_EQ(dp->memory[d].activations, 4 * 16 * 4 + 4 * 4 * 4);
    EXPECT_EQ(dp->peakMemory[d], 256 * 4 + 2 * 320);
  }
  // Column-parallel: each device holds half of W.
  auto tp = sim.simulate(Strategy{{cfg({{"out", 2}})}});
  ASSERT_TRUE(tp.ok());
  EXPECT_EQ(tp->memory[1].weights, 128);

  CostModel sgd(m, nullptr, CostOptions{false, Optimizer::SGD});
  Simulator sim2(b.g, sgd);
  auto plain = sim2.simulate(Strategy{{cfg({})}});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->memory[0].optimizerState, 0);
  EXPECT_EQ(plain->peakMemory[0], 2304 - 512);

  // Over capacity: a 2000-byte device.
  auto small = test::roundMachine(1, 2, 1, "device", 2000);
  CostModel tiny(small);
  Simulator sim3(b.g, tiny);
  auto over = sim3.simulate(Strategy{{cfg({})}});
  ASSERT_TRUE(over.ok());
  EXPECT_FALSE(over->fitsMemory);
  auto fits = sim3.simulate(Strategy{{cfg({{"batch", 2}})}});
  EXPECT_TRUE(fits->fitsMemory);
}

/// batch x 1024 -> 4096 -> 1024, relu, mean squared error.
static OpGraph mlp(int64_t batch) {
  GraphBuilder b("mlp");
  Value x = b.input("x", {batch, 1024});
  Value t = b.input("target", {batch, 1024});
  Value w1 = b.weight("fc1.w", {1024, 4096});
  Value w2 = b.weight("fc2.w", {4096, 1024});
  Value h = b.linear("fc1", x, w1);
  Value a = b.unary("relu", "relu", h);
  Value y = b.linear("fc2", a, w2);
  Value l = b.mseLoss("loss", y, t);
  b.output(l);
  return b.g;
}

TEST(Simulator, DataParallelMlp) {
  OpGraph g = mlp(256);
  // Compute-bound: memory so fast that kernels are FLOP-limited.
  std::string json = test::roundMachineJson(1, 8);
  json.replace(json.find("\"memory_bandwidth_bytes_per_s\": 1e9"), 35,
               "\"memory_bandwidth_bytes_per_s\": 1e15");
  auto m = MachineModel::parse(json, "fast");
  ASSERT_TRUE(m.ok()) << m.error();
  CostModel cost(*m);
  Simulator sim(g, cost);
  auto single = sim.simulate(singleDeviceStrategy(g));
  ASSERT_TRUE(single.ok()) << single.error();
  auto singleTasks = sim.tasks();
  auto dp2 = sim.simulate(dataParallelStrategy(g, 2));
  ASSERT_TRUE(dp2.ok()) << dp2.error();
  auto dpTasks = sim.tasks();

  // Compute halves on each device.
  double fwd1 = 0, fwd2 = 0;
  for (const TaskInfo &t : singleTasks)
    if (t.name == "forward fc1")
      fwd1 = t.end - t.start;
  for (const TaskInfo &t : dpTasks)
    if (t.name == "forward fc1")
      fwd2 = t.end - t.start;
  EXPECT_NEAR(fwd1, 2.0 * 256 * 1024 * 4096 / 1e12, 1e-15);
  EXPECT_NEAR(fwd2, fwd1 / 2, 1e-15);
  // Forward and backward kernels halve; the optimizer step does not (each
  // device updates the whole replicated weight).
  auto kernels = [](const std::vector<TaskInfo> &tasks) {
    return sumKind(tasks, TaskKind::Forward) + sumKind(tasks, TaskKind::Backward);
  };
  EXPECT_NEAR(kernels(dpTasks), kernels(singleTasks) / 2, 1e-9 * kernels(singleTasks));
  EXPECT_NEAR(sumKind(dpTasks, TaskKind::Update), sumKind(singleTasks, TaskKind::Update),
              1e-15);
  EXPECT_EQ(single->commBytes, 0);
  EXPECT_EQ(countKind(singleTasks, TaskKind::GradientSync), 0);

  // The gradient all-reduce appears: one per linear layer, each moving
  // 2 (p - 1) / p of the weight per device (ring, p = 2).
  EXPECT_EQ(countKind(dpTasks, TaskKind::GradientSync), 2);
  double w = 1024.0 * 4096 * 4;
  EXPECT_NEAR(sumKind(dpTasks, TaskKind::GradientSync, true), 2 * 2 * w, 1);
  double ar = 2 * 1e-6 + w / 1e9; // 2(p-1) alpha + 2(p-1)/p n / B
  for (const TaskInfo &t : dpTasks)
    if (t.kind == TaskKind::GradientSync)
      EXPECT_NEAR(t.end - t.start, ar, 1e-12);
  // No resharding between data-parallel layers.
  EXPECT_EQ(countKind(dpTasks, TaskKind::Transfer), 0);
  // The all-reduce of fc2 overlaps fc1's backward: the step is shorter than
  // compute plus both all-reduces.
  EXPECT_LT(dp2->stepTime, dp2->computeTime[0] + 2 * ar);
  EXPECT_GT(dp2->stepTime, dp2->computeTime[0]);
  EXPECT_GT(dp2->mfu, 0);
  EXPECT_LT(dp2->mfu, 1);
  EXPECT_DOUBLE_EQ(dp2->modelFlops, single->modelFlops);
}

TEST(Simulator, CommunicationOccupyingDevicesDoesNotOverlap) {
  // On CPU cores the all-reduce is the cores' own work: it cannot hide
  // behind the next layer's backward, so the step is compute plus both.
  OpGraph g = mlp(256);
  std::string json = test::roundMachineJson(1, 2);
  json.replace(json.rfind('}'), 1, R"(, "communication_occupies_devices": true})");
  auto m = MachineModel::parse(json, "cpu-like");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_TRUE(m->communicationOccupiesDevices);
  CostModel cost(*m);
  Simulator sim(g, cost);
  auto r = sim.simulate(dataParallelStrategy(g, 2));
  ASSERT_TRUE(r.ok()) << r.error();
  double sync = sumKind(sim.tasks(), TaskKind::GradientSync);
  EXPECT_GT(sync, 0);
  EXPECT_NEAR(r->stepTime, r->computeTime[0] + sync, 1e-12);
  // The same machine without the flag overlaps them.
  auto overlapped = test::roundMachine(1, 2);
  CostModel cost2(overlapped);
  Simulator sim2(g, cost2);
  auto r2 = sim2.simulate(dataParallelStrategy(g, 2));
  EXPECT_LT(r2->stepTime, r->stepTime);
}

static MachineModel inOrderMachine(int devices, bool occupies) {
  std::string json = test::roundMachineJson(1, devices);
  json.replace(json.rfind('}'), 1,
               std::string(R"(, "in_order_execution": true)") +
                   (occupies ? R"(, "communication_occupies_devices": true})"
                             : "}"));
  auto m = MachineModel::parse(json, "in-order");
  if (!m)
    throw std::runtime_error(m.error());
  return m.take();
}

TEST(Simulator, InOrderCommunicationAddsUp) {
  // A rank's thread runs the all-reduce itself, between its backward
  // kernels: even where the links are not the devices' (no
  // communication_occupies_devices), nothing overlaps, and a data-parallel
  // step is every kernel, all-reduce and update of a device end to end.
  OpGraph g = mlp(256);
  for (bool occupies : {false, true}) {
    MachineModel m = inOrderMachine(2, occupies);
    CostModel cost(m);
    Simulator sim(g, cost);
    auto r = sim.simulate(dataParallelStrategy(g, 2));
    ASSERT_TRUE(r.ok()) << r.error();
    auto tasks = sim.tasks();
    double sync = sumKind(tasks, TaskKind::GradientSync);
    EXPECT_GT(sync, 0);
    EXPECT_EQ(countKind(tasks, TaskKind::GradientSync), 2);
    EXPECT_NEAR(r->stepTime, r->computeTime[0] + sync, 1e-12) << occupies;
    EXPECT_NEAR(r->computeTime[0],
                sumKind(tasks, TaskKind::Forward) + sumKind(tasks, TaskKind::Backward) +
                    sumKind(tasks, TaskKind::Update),
                1e-12);
    // In the plan's order: fc2's synchronization and update come before
    // fc1's backward starts.
    const TaskInfo *syncFc2 = nullptr, *bwdFc1 = nullptr, *updFc2 = nullptr;
    for (const TaskInfo &t : tasks) {
      if (t.name == "gradient-sync fc2")
        syncFc2 = &t;
      if (t.name == "update fc2")
        updFc2 = &t;
      if (t.name == "backward fc1")
        bwdFc1 = &t;
    }
    ASSERT_TRUE(syncFc2 && bwdFc1 && updFc2);
    EXPECT_LE(syncFc2->end, updFc2->start + 1e-15);
    EXPECT_LE(updFc2->end, bwdFc1->start + 1e-15);
  }
  // The ready-first machine overlaps fc2's all-reduce with fc1's backward.
  auto overlapped = test::roundMachine(1, 2);
  CostModel cost(overlapped);
  Simulator sim(g, cost);
  auto r = sim.simulate(dataParallelStrategy(g, 2));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_LT(r->stepTime,
            r->computeTime[0] + sumKind(sim.tasks(), TaskKind::GradientSync) - 1e-9);
}

TEST(Simulator, InOrderDevicesWaitForTheirNextTask) {
  // Plan order: big (device 1), then use (device 0, needs big's result),
  // then side (device 0, needs only x). A ready-first device 0 runs side
  // while big computes; an in-order one runs use first, so side waits.
  GraphBuilder b;
  Value x = b.input("x", {1000});
  Value y = b.input("y", {100000});
  Value big = b.unary("big", "relu", y);
  Value use = b.unary("use", "relu", b.binary("pick", "add", big, big));
  Value side = b.unary("side", "relu", x);
  b.output(use);
  b.output(side);
  Strategy s = singleDeviceStrategy(b.g);
  for (size_t i = 0; i < b.g.ops.size(); ++i)
    s.configs[i] = cfg({}, b.g.ops[i].name == "big" ? 1 : 0);
  auto start = [&](const MachineModel &m, const std::string &name) {
    CostModel cost(m);
    Simulator sim(b.g, cost);
    auto r = sim.simulate(s);
    EXPECT_TRUE(r.ok()) << r.error();
    for (const TaskInfo &t : sim.tasks())
      if (t.name == name)
        return std::make_pair(t.start, r->stepTime);
    ADD_FAILURE() << "no task " << name;
    return std::make_pair(-1.0, 0.0);
  };
  auto ready = start(test::roundMachine(1, 2), "forward side");
  EXPECT_EQ(ready.first, 0);
  auto inOrder = start(inOrderMachine(2, false), "forward side");
  auto use0 = start(inOrderMachine(2, false), "forward use");
  EXPECT_GT(use0.first, 0); // after big and its transfer
  EXPECT_GT(inOrder.first, use0.first);
  EXPECT_GT(inOrder.second, ready.second);
}

TEST(Simulator, DataParallelOnDgxA100) {
  OpGraph g = mlp(1024);
  auto m = MachineModel::loadPreset("dgx-a100");
  ASSERT_TRUE(m.ok());
  CostModel cost(*m);
  Simulator sim(g, cost);
  auto one = sim.simulate(singleDeviceStrategy(g));
  auto eight = sim.simulate(dataParallelStrategy(g, 8));
  ASSERT_TRUE(one.ok() && eight.ok());
  EXPECT_LT(eight->stepTime, one->stepTime);
  EXPECT_GT(eight->commBytes, 0);
  EXPECT_LT(eight->maxPeakMemory(), one->maxPeakMemory());
}

TEST(Simulator, RowParallelPartialSums) {
  // fc2 split along its contraction: its output is a partial sum that is
  // all-reduced before the loss; fc1 column-parallel feeds it with no
  // transfer (Megatron's MLP).
  OpGraph g = mlp(64);
  auto m = test::roundMachine(1, 2);
  CostModel cost(m);
  Simulator sim(g, cost);
  Strategy s = singleDeviceStrategy(g);
  s.configs[0] = cfg({{"out", 2}});
  s.configs[1] = cfg({{"d1", 2}});
  s.configs[2] = cfg({{"in", 2}});
  auto r = sim.simulate(s);
  ASSERT_TRUE(r.ok()) << r.error();
  auto tasks = sim.tasks();
  EXPECT_EQ(countKind(tasks, TaskKind::PartialSum), 1);
  for (const TaskInfo &t : tasks) {
    if (t.kind == TaskKind::Transfer)
      EXPECT_NE(t.name, "transfer fc1->relu") << "column to column: local";
  }
  // fc1's input is whole on both devices: its gradient is summed across them.
  bool sawGradSum = false;
  for (const TaskInfo &t : tasks)
    if (t.kind == TaskKind::GradientTransfer && t.name == "gradient-transfer relu->fc2")
      sawGradSum = true;
  EXPECT_FALSE(sawGradSum); // relu and fc2 agree: no transfer
  EXPECT_EQ(countKind(tasks, TaskKind::GradientSync), 0); // no replicated weight
}

TEST(Simulator, BatchNormStatisticsAllReduced) {
  // Batch norm split along the data all-reduces its [2, C] f64 sums once
  // forward and once backward (the runtime's phases); split along the
  // channels alone it needs none.
  GraphBuilder b;
  Value x = b.input("x", {8, 16, 4, 4});
  Value y = b.batchNorm("bn", x, b.weight("bn.weight", {16}),
                        b.weight("bn.bias", {16}));
  b.output(b.unary("relu", "relu", y));
  auto m = test::roundMachine(1, 4);
  CostModel cost(m);
  Simulator sim(b.g, cost);
  struct Case {
    ParallelConfig config;
    int collectives;
  } cases[] = {{cfg({{"batch", 2}}), 2},
               {cfg({{"h", 2}, {"w", 2}}), 2},
               {cfg({{"batch", 2}, {"c", 2}}), 2},
               {cfg({{"c", 4}}), 0}};
  for (const Case &c : cases) {
    SCOPED_TRACE(c.config.str());
    Strategy s = singleDeviceStrategy(b.g);
    s.configs[0] = c.config;
    auto r = sim.simulate(s);
    ASSERT_TRUE(r.ok()) << r.error();
    auto tasks = sim.tasks();
    EXPECT_EQ(countKind(tasks, TaskKind::ForwardComm), c.collectives / 2);
    EXPECT_EQ(countKind(tasks, TaskKind::BackwardComm), c.collectives / 2);
    double comm = sumKind(tasks, TaskKind::ForwardComm) +
                  sumKind(tasks, TaskKind::BackwardComm);
    EXPECT_EQ(comm > 0, c.collectives > 0);
    // The oracle prices the same collectives: its serial sum covers them.
    Evaluation e = evaluateStrategy(b.g, s, cost);
    ASSERT_TRUE(e.valid());
    EXPECT_GE(e.serialUpperBound * (1 + 1e-12), r->stepTime);
  }
}

TEST(Simulator, InvalidConfigs) {
  OpGraph g = mlp(64);
  auto m = test::roundMachine(1, 4);
  CostModel cost(m);
  Simulator sim(g, cost);
  EXPECT_EQ(sim.checkConfig(0, cfg({{"batch", 3}})),
            "op 'fc1' (linear): degree 3 of 'batch' does not divide its size 64");
  EXPECT_EQ(sim.checkConfig(0, cfg({{"heads", 2}})),
            "op 'fc1' (linear): has no dimension 'heads' (its dimensions: batch, out, in)");
  EXPECT_EQ(sim.checkConfig(0, cfg({{"batch", 4}}, 2)),
            "op 'fc1' (linear): the view {{batch = 4}, start = 2} places a shard on "
            "device 4, outside the machine's 4 devices");
  EXPECT_EQ(sim.checkConfig(0, cfg({{"batch", 2}, {"out", 2}}, 0, {1, 1})),
            "op 'fc1' (linear): the view {{batch = 2, out = 2}, strides = [1, 1]} "
            "places two shards on device 1");
  EXPECT_EQ(sim.checkConfig(0, cfg({{"batch", 2}}, 0, {1, 2})),
            "op 'fc1' (linear): the view lists 2 strides for 1 dimensions");
  EXPECT_EQ(sim.checkConfig(0, cfg({{"batch", 2}, {"out", 2}}, 0, {1, 2})), "");
  Strategy bad = singleDeviceStrategy(g);
  bad.configs[2] = cfg({{"in", 5}});
  auto r = sim.simulate(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "op 'fc2' (linear): degree 5 of 'in' does not divide its size 4096");
  EXPECT_FALSE(sim.simulateDelta(0, cfg({})).ok()); // no state yet
}

TEST(Simulator, TraceJson) {
  OpGraph g = mlp(64);
  auto m = MachineModel::loadPreset("dgx-a100", MachineOverrides{2, {}});
  ASSERT_TRUE(m.ok());
  CostModel cost(*m);
  Simulator sim(g, cost);
  Strategy s = dataParallelStrategy(g, 16);
  auto r = sim.simulate(s);
  ASSERT_TRUE(r.ok());
  auto doc = nlohmann::json::parse(sim.traceJson());
  ASSERT_TRUE(doc.contains("traceEvents"));
  size_t expected = 0;
  for (const TaskInfo &t : sim.tasks())
    expected += isComputeKind(t.kind) ? t.resources.size()
                                      : t.devices.size() + t.resources.size();
  size_t complete = 0;
  for (const auto &e : doc["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    if (e["ph"] == "X") {
      ++complete;
      EXPECT_GE(e["dur"].get<double>(), 0);
      EXPECT_LE(e["ts"].get<double>() + e["dur"].get<double>(),
                r->stepTime * 1e6 * (1 + 1e-9));
    }
  }
  EXPECT_EQ(complete, expected);
  EXPECT_EQ(doc["otherData"]["machine"], "dgx-a100");
}

//===----------------------------------------------------------------------===//
// Random graphs and strategies: delta == full, and the evaluator as oracle
//===----------------------------------------------------------------------===//

namespace {

/// A random DAG of linear, relu, add and (for CNNs) conv2d ops ending in a
/// loss.
OpGraph randomGraph(std::mt19937 &rng, bool cnn) {
  GraphBuilder b("random");
  auto pick = [&](auto &v) -> auto & {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  std::vector<Value> values;
  int n = std::uniform_int_distribution<int>(3, 9)(rng);
  if (cnn) {
    int64_t c = std::vector<int64_t>{2, 4}[rng() % 2];
    values.push_back(b.input("x", {8, c, 8, 8}));
    for (int i = 0; i < n; ++i) {
      Value &in = pick(values);
      int k = rng() % 3;
      std::string name = "op" + std::to_string(i);
      if (k == 0) {
        int64_t cout = std::vector<int64_t>{2, 4, 8}[rng() % 3];
        int64_t ks = rng() % 2 ? 3 : 1;
        Value w = b.weight(name + ".w", {cout, in.tensor.shape[1], ks, ks});
        values.push_back(b.conv2d(name, in, w, 1, ks / 2));
      } else if (k == 1) {
        values.push_back(b.unary(name, "relu", in));
      } else {
        std::vector<Value> same;
        for (const Value &v : values)
          if (v.tensor == in.tensor)
            same.push_back(v);
        values.push_back(b.binary(name, "add", in, pick(same)));
      }
    }
    Value last = values.back();
    Value t = b.input("target", last.tensor.shape);
    b.output(b.mseLoss("loss", last, t));
    return b.g;
  }
  int64_t batch = std::vector<int64_t>{8, 16}[rng() % 2];
  values.push_back(b.input("x", {batch, 16}));
  for (int i = 0; i < n; ++i) {
    Value &in = pick(values);
    int k = rng() % 3;
    std::string name = "op" + std::to_string(i);
    if (k == 0) {
      int64_t out = std::vector<int64_t>{8, 16, 32}[rng() % 3];
      Value w = b.weight(name + ".w", {in.tensor.shape[1], out});
      values.push_back(b.linear(name, in, w));
    } else if (k == 1) {
      values.push_back(b.unary(name, "relu", in));
    } else {
      std::vector<Value> same;
      for (const Value &v : values)
        if (v.tensor == in.tensor)
          same.push_back(v);
      values.push_back(b.binary(name, "add", in, pick(same)));
    }
  }
  Value last = values.back();
  Value t = b.input("target", last.tensor.shape);
  b.output(b.mseLoss("loss", last, t));
  return b.g;
}

ParallelConfig randomConfig(std::mt19937 &rng, const OpNode &op,
                            const Simulator &sim, int64_t devices) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    ParallelConfig c;
    int64_t used = 1;
    std::vector<size_t> order(op.dims.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      std::vector<int64_t> choices;
      for (int64_t d = 1; used * d <= devices; d *= 2)
        if (op.dims[i].size % d == 0)
          choices.push_back(d);
      int64_t d = choices[rng() % choices.size()];
      if (rng() % 3 == 0)
        d = 1;
      if (d > 1) {
        c.degrees.emplace_back(op.dims[i].name, d);
        used *= d;
      }
    }
    if (rng() % 2) {
      for (size_t j = 0; j < c.degrees.size(); ++j)
        c.strides.push_back(int64_t(1) << (rng() % 3));
    }
    c.start = static_cast<int64_t>(rng() % devices);
    if (sim.checkConfig(static_cast<int>(&op - &sim.graph().ops[0]), c).empty())
      return c;
  }
  return ParallelConfig{};
}

void expectSame(const SimResult &a, const SimResult &b) {
  EXPECT_EQ(a.stepTime, b.stepTime);
  EXPECT_EQ(a.computeTime, b.computeTime);
  EXPECT_EQ(a.commTime, b.commTime);
  EXPECT_EQ(a.peakMemory, b.peakMemory);
  EXPECT_EQ(a.linkBytes, b.linkBytes);
  EXPECT_EQ(a.commBytes, b.commBytes);
  EXPECT_EQ(a.tasks, b.tasks);
  EXPECT_EQ(a.mfu, b.mfu);
}

} // namespace

TEST(Simulator, DeltaEqualsFull) {
  std::mt19937 rng(20261123);
  // 2 nodes x 4 P100s: pair links inside a node, one shared NIC per node.
  auto m = MachineModel::loadPreset("p100", MachineOverrides{2, {}});
  ASSERT_TRUE(m.ok());
  CostModel cost(*m), fresh(*m);
  int moves = 0, reverts = 0;
  for (int graphIdx = 0; graphIdx < 12; ++graphIdx) {
    OpGraph g = randomGraph(rng, graphIdx % 2 == 1);
    ASSERT_EQ(g.validate(), "");
    Simulator sim(g, cost);
    Strategy s;
    for (const OpNode &op : g.ops)
      s.configs.push_back(randomConfig(rng, op, sim, m->numDevices()));
    auto r = sim.simulate(s);
    ASSERT_TRUE(r.ok()) << r.error();
    int lastOp = -1;
    ParallelConfig lastOld;
    for (int step = 0; step < 200; ++step, ++moves) {
      int op = static_cast<int>(rng() % g.ops.size());
      ParallelConfig c = randomConfig(rng, g.ops[op], sim, m->numDevices());
      int kind = static_cast<int>(rng() % 6);
      if (kind == 0 && lastOp >= 0) {
        // Undo the previous move, as a search rejecting it does.
        op = lastOp;
        c = lastOld;
        ++reverts;
      } else if (kind == 1) {
        c = s.configs[op]; // no change
      }
      lastOp = op;
      lastOld = s.configs[op];
      auto delta = sim.simulateDelta(op, c);
      ASSERT_TRUE(delta.ok()) << delta.error();
      s.configs[op] = c;
      // A fresh simulator with its own caches: nothing shared.
      Simulator full(g, fresh);
      auto ref = full.simulate(s);
      ASSERT_TRUE(ref.ok()) << ref.error();
      expectSame(*delta, *ref);
      // The timeline too, task by task.
      auto a = sim.tasks(), b = full.tasks();
      ASSERT_EQ(a.size(), b.size());
      for (size_t k = 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k].name, b[k].name);
        EXPECT_EQ(a[k].start, b[k].start);
        EXPECT_EQ(a[k].end, b[k].end);
      }
      if (::testing::Test::HasFailure())
        FAIL() << "graph " << graphIdx << " move " << step << ": op " << op
               << " -> " << c.str();
    }
  }
  EXPECT_EQ(moves, 2400);
  EXPECT_GT(reverts, 200);
}

TEST(SimulatorEvaluator, AgreesWithSimulator) {
  std::mt19937 rng(7);
  // 2 nodes x 4 P100s: pair links inside a node, one shared NIC per node.
  auto m = MachineModel::loadPreset("p100", MachineOverrides{2, {}});
  ASSERT_TRUE(m.ok());
  CostModel cost(*m);
  // The random strategies exercise every kind of communication.
  std::map<TaskKind, int> seen;
  for (int trial = 0; trial < 60; ++trial) {
    OpGraph g = randomGraph(rng, trial % 2 == 1);
    Simulator sim(g, cost);
    Strategy s;
    for (const OpNode &op : g.ops)
      s.configs.push_back(randomConfig(rng, op, sim, m->numDevices()));
    auto r = sim.simulate(s);
    ASSERT_TRUE(r.ok()) << r.error();
    Evaluation ev = evaluateStrategy(g, s, cost);
    ASSERT_TRUE(ev.valid()) << ev.violations[0].message;
    // Memory, recomputed by brute force, is the simulator's to the byte.
    for (size_t d = 0; d < r->memory.size(); ++d)
      EXPECT_TRUE(ev.memory[d] == r->memory[d]) << "device " << d;
    // The transfers move what the layouts say must move.
    auto tasks = sim.tasks();
    for (const TaskInfo &t : tasks)
      ++seen[t.kind];
    double fwd = sumKind(tasks, TaskKind::Transfer, true);
    double bwd = sumKind(tasks, TaskKind::GradientTransfer, true);
    EXPECT_NEAR(fwd, ev.forwardTransferBytes, 1e-6 * (1 + fwd));
    EXPECT_NEAR(bwd, ev.gradientTransferBytes, 1e-6 * (1 + bwd));
    // No schedule beats the busiest device; ours never idles with work
    // pending, so it is at most every task in a row.
    EXPECT_GE(r->stepTime, ev.computeLowerBound * (1 - 1e-12));
    EXPECT_LE(r->stepTime, ev.serialUpperBound * (1 + 1e-12));
    if (::testing::Test::HasFailure())
      FAIL() << "trial " << trial;
  }
  for (TaskKind k : {TaskKind::Transfer, TaskKind::GradientTransfer,
                     TaskKind::PartialSum, TaskKind::GradientSync, TaskKind::Update})
    EXPECT_GT(seen[k], 10) << toString(k);
}

TEST(SimulatorEvaluator, SingleDeviceIsSerial) {
  OpGraph g = mlp(64);
  auto m = test::roundMachine(1, 2);
  CostModel cost(m);
  Simulator sim(g, cost);
  Strategy s = singleDeviceStrategy(g);
  auto r = sim.simulate(s);
  Evaluation ev = evaluateStrategy(g, s, cost);
  ASSERT_TRUE(r.ok() && ev.valid());
  EXPECT_NEAR(r->stepTime, ev.computeLowerBound, 1e-15);
  EXPECT_NEAR(r->stepTime, ev.serialUpperBound, 1e-15);
}

TEST(SimulatorEvaluator, Violations) {
  OpGraph g = mlp(64);
  auto m = test::roundMachine(1, 4, 1, "device", 1e6);
  CostModel cost(m);
  Simulator sim(g, cost);
  auto check = [&](int op, ParallelConfig c, Violation::Kind k) {
    Strategy s = singleDeviceStrategy(g);
    s.configs[op] = c;
    Evaluation ev = evaluateStrategy(g, s, cost);
    EXPECT_TRUE(ev.has(k)) << toString(k) << " for " << c.str();
    // The simulator refuses the same configs.
    EXPECT_FALSE(sim.simulate(s).ok()) << c.str();
  };
  check(0, cfg({{"batch", 3}}), Violation::Kind::DegreeNotDividing);
  check(0, cfg({{"heads", 2}}), Violation::Kind::UnknownDim);
  check(0, cfg({{"batch", 2}, {"batch", 2}}), Violation::Kind::DuplicateDim);
  check(0, cfg({{"batch", 0}}), Violation::Kind::BadDegree);
  check(0, cfg({{"batch", 2}}, 0, {1, 1}), Violation::Kind::BadStrides);
  check(0, cfg({{"batch", 4}}, 1), Violation::Kind::DeviceOutOfRange);
  check(0, cfg({{"batch", 2}, {"out", 2}}, 0, {1, 1}), Violation::Kind::DeviceReused);
  Evaluation size = evaluateStrategy(g, Strategy{}, cost);
  EXPECT_TRUE(size.has(Violation::Kind::StrategySize));
  // The MLP's weights need 32 MiB with Adam: over a 1 MB device.
  Evaluation mem = evaluateStrategy(g, singleDeviceStrategy(g), cost);
  ASSERT_TRUE(mem.has(Violation::Kind::MemoryOverCapacity));
  EXPECT_EQ(mem.violations[0].device, 0);
  auto r = sim.simulate(singleDeviceStrategy(g));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fitsMemory);
}

TEST(SimulatorAdditive, OpAndEdgeTimesSumToTheTasks) {
  // The DP's additive pieces are the simulator's own task durations: for
  // random strategies, every op's opTime plus every edge's edgeTime is the
  // sum of the durations of the simulated tasks, and asking for them leaves
  // the simulator's state alone.
  std::mt19937 rng(11);
  auto m = MachineModel::loadPreset("p100", MachineOverrides{2, {}});
  ASSERT_TRUE(m.ok());
  CostModel cost(*m);
  for (int trial = 0; trial < 30; ++trial) {
    OpGraph g = randomGraph(rng, trial % 2 == 1);
    Simulator sim(g, cost);
    Strategy s;
    for (const OpNode &op : g.ops)
      s.configs.push_back(randomConfig(rng, op, sim, m->numDevices()));
    auto r = sim.simulate(s);
    ASSERT_TRUE(r.ok()) << r.error();
    double tasks = 0;
    for (const TaskInfo &t : sim.tasks())
      tasks += t.end - t.start;
    double additive = 0;
    for (size_t i = 0; i < g.ops.size(); ++i) {
      auto t = sim.opTime(static_cast<int>(i), s.configs[i]);
      ASSERT_TRUE(t.ok()) << t.error();
      additive += *t;
    }
    for (size_t e = 0; e < g.edges.size(); ++e) {
      const Edge &edge = g.edges[e];
      auto t = sim.edgeTime(static_cast<int>(e), s.configs[edge.src],
                            s.configs[edge.dst]);
      ASSERT_TRUE(t.ok()) << t.error();
      additive += *t;
    }
    EXPECT_NEAR(additive, tasks, 1e-9 * (1 + tasks)) << "trial " << trial;
    // A delta after the queries equals a fresh full simulation.
    auto again = sim.simulateDelta(0, s.configs[0]);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->stepTime, r->stepTime);
  }
  OpGraph small = mlp(64); // the simulator keeps a reference
  Simulator sim(small, cost);
  EXPECT_FALSE(sim.opTime(99, ParallelConfig{}).ok());
  EXPECT_FALSE(sim.opTime(0, ParallelConfig{{{"nope", 2}}, 0, {}}).ok());
}
