//===- CostModelTest.cpp - alpha-beta closed forms, roofline, profiles ----===//
#include "TestGraphs.h"

#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/ShardingRules.h"
#include "soap/Simulator/Simulator.h"

#include <gtest/gtest.h>

using namespace soap;
using soap::test::GraphBuilder;

static std::vector<int64_t> iota(int64_t from, int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(from + i);
  return v;
}

TEST(SimulatorCollectives, RingAllReduceClosedForm) {
  auto m = MachineModel::loadPreset("dgx-a100");
  ASSERT_TRUE(m.ok());
  CostModel cost(*m);
  const double n = 256e6, alpha = 3e-6, B = 300e9 * 0.8;
  for (int64_t p : {2, 4, 8}) {
    CommCost c;
    ASSERT_TRUE(cost.collectiveWith(Collective::AllReduce, CollectiveAlgorithm::Ring,
                                    {iota(0, p)}, n, c));
    double expect = 2 * (p - 1) * alpha + 2.0 * (p - 1) / p * n / B;
    EXPECT_NEAR(c.time, expect, 1e-12 * expect) << "p=" << p;
    // Every GPU's port sends and receives 2(p-1)/p * n.
    ASSERT_EQ(c.resources.size(), static_cast<size_t>(2 * p));
    for (double b : c.bytes)
      EXPECT_NEAR(b, 2.0 * (p - 1) / p * n, 1e-6);
    EXPECT_EQ(c.devices.size(), static_cast<size_t>(p));
    EXPECT_NEAR(c.payload, p * 2.0 * (p - 1) / p * n, 1e-3);
  }
}

TEST(SimulatorCollectives, GatherScatterAndTree) {
  auto m = test::roundMachine(1, 8);
  CostModel cost(m);
  const double n = 8e6, alpha = 1e-6, B = 1e9;
  CommCost c;
  ASSERT_TRUE(cost.collectiveWith(Collective::AllGather, CollectiveAlgorithm::Ring,
                                  {iota(0, 8)}, n, c));
  EXPECT_NEAR(c.time, 7 * alpha + 7.0 / 8 * n / B, 1e-12);
  ASSERT_TRUE(cost.collectiveWith(Collective::ReduceScatter, CollectiveAlgorithm::Ring,
                                  {iota(0, 8)}, n, c));
  EXPECT_NEAR(c.time, 7 * alpha + 7.0 / 8 * n / B, 1e-12);
  // Binomial tree: 3 levels up, 3 down, a full message per level.
  ASSERT_TRUE(cost.collectiveWith(Collective::AllReduce, CollectiveAlgorithm::Tree,
                                  {iota(0, 8)}, n, c));
  EXPECT_NEAR(c.time, 2 * 3 * (alpha + n / B), 1e-12);
  EXPECT_FALSE(cost.collectiveWith(Collective::AllGather, CollectiveAlgorithm::Tree,
                                   {iota(0, 8)}, n, c));
  // Auto picks the tree for tiny messages (latency) and the ring for big.
  cost.collective(Collective::AllReduce, {iota(0, 8)}, 8, c);
  EXPECT_NEAR(c.time, 6 * (alpha + 8 / B), 1e-15);
  cost.collective(Collective::AllReduce, {iota(0, 8)}, n, c);
  EXPECT_NEAR(c.time, 14 * alpha + 14.0 / 8 * n / B, 1e-12);
  // All-to-all: p - 1 steps, each member sends n/p to every other.
  ASSERT_TRUE(cost.collectiveWith(Collective::AllToAll, CollectiveAlgorithm::Ring,
                                  {iota(0, 4)}, n, c));
  EXPECT_NEAR(c.time, 3 * alpha + 3 * (n / 4) / B, 1e-12);
}

TEST(SimulatorCollectives, ConcurrentGroupsShareLinks) {
  // Two nodes of two devices, one NIC each: two all-reduces across nodes at
  // once ({0, 2} and {1, 3}) share both NICs, so each takes the bandwidth
  // term twice as long as one alone.
  auto m = test::roundMachine(2, 2, /*nics=*/1);
  CostModel cost(m);
  const double n = 1e6, alpha = 1e-6, B = 1e9;
  CommCost one, two;
  ASSERT_TRUE(cost.collectiveWith(Collective::AllReduce, CollectiveAlgorithm::Ring,
                                  {{0, 2}}, n, one));
  EXPECT_NEAR(one.time, 2 * alpha + n / B, 1e-12);
  ASSERT_TRUE(cost.collectiveWith(Collective::AllReduce, CollectiveAlgorithm::Ring,
                                  {{0, 2}, {1, 3}}, n, two));
  EXPECT_NEAR(two.time, 2 * alpha + 2 * n / B, 1e-12);
  // With a NIC per device there is no sharing.
  auto m2 = test::roundMachine(2, 2, /*nics=*/2);
  CostModel cost2(m2);
  ASSERT_TRUE(cost2.collectiveWith(Collective::AllReduce, CollectiveAlgorithm::Ring,
                                   {{0, 2}, {1, 3}}, n, two));
  EXPECT_NEAR(two.time, one.time, 1e-15);
}

TEST(SimulatorCollectives, Hierarchical) {
  // 2 nodes x 4 devices, 4 NICs per node: reduce-scatter in each node, an
  // all-reduce of the quarter slices across nodes on 4 rings (one NIC
  // each), all-gather in each node.
  auto m = test::roundMachine(2, 4, /*nics=*/4);
  CostModel cost(m);
  const double n = 4e6, alpha = 1e-6, B = 1e9;
  CommCost c;
  ASSERT_TRUE(cost.collectiveWith(Collective::AllReduce,
                                  CollectiveAlgorithm::Hierarchical, {iota(0, 8)}, n, c));
  double intra = 3 * alpha + 3.0 / 4 * n / B;
  double inter = 2 * alpha + 2 * 0.5 * (n / 4) / B;
  EXPECT_NEAR(c.time, 2 * intra + inter, 1e-12);
  // Not applicable inside one node.
  EXPECT_FALSE(cost.collectiveWith(Collective::AllReduce,
                                   CollectiveAlgorithm::Hierarchical, {iota(0, 4)}, n, c));
}

TEST(SimulatorTransfers, ContentionOnOneLink) {
  auto m = test::roundMachine(1, 4);
  CostModel cost(m);
  const double n = 1e6, alpha = 1e-6, B = 1e9;
  CommCost one, two, apart;
  cost.transfers({{0, 1, n}}, one);
  EXPECT_NEAR(one.time, alpha + n / B, 1e-15);
  // Two flows out of device 0 share its port: twice the bandwidth term.
  cost.transfers({{0, 1, n}, {0, 2, n}}, two);
  EXPECT_NEAR(two.time, alpha + 2 * n / B, 1e-15);
  // Disjoint ports: concurrent.
  cost.transfers({{0, 1, n}, {2, 3, n}}, apart);
  EXPECT_NEAR(apart.time, one.time, 1e-15);
  // A NIC shared by two GPUs' flows to another node.
  auto m2 = test::roundMachine(2, 2, /*nics=*/1);
  CostModel cost2(m2);
  CommCost nic;
  cost2.transfers({{0, 2, n}, {1, 3, n}}, nic);
  EXPECT_NEAR(nic.time, alpha + 2 * n / B, 1e-15);
  EXPECT_EQ(nic.payload, 2 * n);
}

TEST(SimulatorRoofline, ComputeAndMemoryBound) {
  std::string json = test::roundMachineJson(1, 1);
  json.replace(json.find(R"("gemm_efficiency": 1)"), 20, R"("gemm_efficiency": 0.5)");
  auto m = MachineModel::parse(json, "m");
  ASSERT_TRUE(m.ok()) << m.error();
  CostModel cost(*m);
  // 1e9 FLOPs at 1e12 * 0.5, 1e6 bytes at 1e9: compute-bound, 2 ms.
  EXPECT_DOUBLE_EQ(cost.roofline(1e9, 1e6, DType::F32, true), 2e-3);
  // Memory-bound: 1e9 bytes at 1e9 B/s.
  EXPECT_DOUBLE_EQ(cost.roofline(1e3, 1e9, DType::F32, true), 1.0);
  // Non-GEMM kernels run at full peak (no GEMM efficiency).
  EXPECT_DOUBLE_EQ(cost.roofline(1e9, 0, DType::F32, false), 1e-3);
  EXPECT_EQ(cost.roofline(0, 0, DType::F32, false), 0);
}

TEST(SimulatorRoofline, KernelTimeOfShards) {
  auto m = test::roundMachine(1, 4);
  CostModel cost(m);
  GraphBuilder b;
  auto x = b.input("x", {64, 256});
  auto w = b.weight("w", {256, 512});
  auto y = b.linear("fc", x, w);
  (void)y;
  const OpNode &op = b.g.ops[0];
  OpShardingRule rule = shardingRule(op);
  auto whole = cost.kernelTime(op, rule, {1, 1, 1});
  auto half = cost.kernelTime(op, rule, {2, 1, 1});
  // Memory-bound here (1 GB/s): bytes = x + w + y shards.
  double bytesWhole = (64 * 256 + 256 * 512 + 64 * 512) * 4.0;
  double bytesHalf = (32 * 256 + 256 * 512 + 32 * 512) * 4.0;
  EXPECT_DOUBLE_EQ(whole.forward, bytesWhole / 1e9);
  EXPECT_DOUBLE_EQ(half.forward, bytesHalf / 1e9);
  EXPECT_DOUBLE_EQ(whole.backward, 2 * bytesWhole / 1e9);
  EXPECT_FALSE(whole.measured);
  EXPECT_EQ(cost.kernelKey(op, rule, {2, 1, 2}),
            "linear||f32[32x128],f32[128x512]->f32[32x512]|f32|round");
}

TEST(SimulatorProfileDB, LookupAndRoundTrip) {
  auto m = test::roundMachine(1, 2);
  GraphBuilder b;
  auto x = b.input("x", {64, 256});
  auto w = b.weight("w", {256, 512});
  b.linear("fc", x, w);
  const OpNode &op = b.g.ops[0];
  OpShardingRule rule = shardingRule(op);

  ProfileDB db;
  db.deviceType = "round";
  KernelMeasurement km;
  km.kind = "linear";
  km.shapes = "f32[32x256],f32[256x512]->f32[32x512]";
  km.deviceType = "round";
  km.forward = 1.5e-3;
  km.backward = 4e-3;
  km.forwardSamples = {1.4e-3, 1.5e-3, 1.6e-3};
  db.add(km);
  db.gemm.push_back({32, 512, 256, DType::F32, 1e-3, {1e-3}});
  db.bandwidth.push_back({500000, 1e-3, {1e-3}});

  auto text = db.toJson();
  auto back = ProfileDB::parse(text, "p.json");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->size(), 1u);
  EXPECT_EQ(back->gemm.size(), 1u);

  CostModel cost(m, &*back);
  auto t = cost.kernelTime(op, rule, {2, 1, 1});
  EXPECT_TRUE(t.measured);
  EXPECT_DOUBLE_EQ(t.forward, 1.5e-3);
  EXPECT_DOUBLE_EQ(t.backward, 4e-3);
  // Another shard shape is not in the profile: the roofline, with the
  // efficiency fitted from the one GEMM sample: 2*32*512*256 FLOPs in 1 ms
  // on a 1 TFLOP/s device.
  auto u = cost.kernelTime(op, rule, {1, 1, 1});
  EXPECT_FALSE(u.measured);
  double eff = 2.0 * 32 * 512 * 256 / 1e-3 / 1e12;
  EXPECT_NEAR(cost.gemmEfficiency(1e3), eff, 1e-12);
  EXPECT_NEAR(cost.memoryEfficiency(1e9), 0.5, 1e-12);

  auto bad = ProfileDB::parse(R"({"format": "soap-profile", "version": 1,
     "device": {"type": "x"}, "kernels": [{"kind": "relu"}]})", "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "p.json: $.kernels[0]: missing field 'attributes'");
}

TEST(SimulatorProfileDB, MeasuredUpdates) {
  // soap-calibrate --kernels runtime times each weighted shard's update per
  // optimizer; the cost model prices an op's update with it when its key is
  // there (the optimizer, the shards updating at once on a node, the weight
  // shards), else as a streaming kernel of 3/5/7 bytes per weight byte.
  auto m = test::roundMachine(1, 2);
  GraphBuilder b;
  auto x = b.input("x", {64, 256});
  auto w = b.weight("w", {256, 512});
  auto bias = b.weight("b", {512});
  b.linear("fc", x, w, &bias);
  const OpNode &op = b.g.ops[0];
  OpShardingRule rule = shardingRule(op);
  CostModel momentum(m, nullptr, CostOptions{false, Optimizer::Momentum});
  EXPECT_EQ(momentum.updateKey(op, rule, {1, 1, 1}),
            "update|optimizer=momentum|f32[256x512],f32[512]->f32[256x512],f32[512]|f32|round");
  // Data parallel: the same shards, updated on both devices at once.
  EXPECT_EQ(momentum.updateKey(op, rule, {2, 1, 1}),
            "update|optimizer=momentum,concurrent=2|f32[256x512],f32[512]->"
            "f32[256x512],f32[512]|f32|round");
  const double elements = 256 * 512 + 512;
  EXPECT_DOUBLE_EQ(momentum.opUpdateTime(op, rule, {1, 1, 1}), elements * 4 * 5 / 1e9);

  ProfileDB db;
  db.deviceType = "round";
  KernelMeasurement km;
  km.kind = "update";
  km.attributes = "optimizer=momentum";
  km.shapes = "f32[256x512],f32[512]->f32[256x512],f32[512]";
  km.deviceType = "round";
  km.forward = 2.5e-4;
  km.forwardSamples = {2.5e-4};
  db.add(km);
  auto back = ProfileDB::parse(db.toJson(), "p.json");
  ASSERT_TRUE(back.ok()) << back.error();
  CostModel measured(m, &*back, CostOptions{false, Optimizer::Momentum});
  EXPECT_DOUBLE_EQ(measured.opUpdateTime(op, rule, {1, 1, 1}), 2.5e-4);
  // Not measured: two devices at once, another optimizer, another shard.
  EXPECT_DOUBLE_EQ(measured.opUpdateTime(op, rule, {2, 1, 1}), elements * 4 * 5 / 1e9);
  CostModel adam(m, &*back, CostOptions{false, Optimizer::Adam});
  EXPECT_DOUBLE_EQ(adam.opUpdateTime(op, rule, {1, 1, 1}), elements * 4 * 7 / 1e9);
  // Split along `in`: a half of the weight's rows, the whole bias.
  EXPECT_DOUBLE_EQ(measured.opUpdateTime(op, rule, {1, 1, 2}),
                   (128 * 512 + 512) * 4 * 5 / 1e9);
  // No weights, no update.
  auto r = b.unary("relu", "relu", x);
  (void)r;
  const OpNode &relu = b.g.ops[1];
  EXPECT_EQ(measured.updateKey(relu, shardingRule(relu), {1, 1}), "");
  EXPECT_EQ(measured.opUpdateTime(relu, shardingRule(relu), {1, 1}), 0);
}

TEST(SimulatorProfileDB, MeasuredAllReduce) {
  // soap-calibrate --kernels runtime times the runtime's all-reduce per
  // size; an all-reduce of one group alone in a node takes that curve
  // (linear between samples, the smallest's time below them, the last
  // slope above), on the links and devices the algorithm occupies.
  ProfileDB db;
  db.deviceType = "round";
  db.allReduce = {{2, 1 << 20, 200e-6, {200e-6}},
                  {2, 4096, 10e-6, {9e-6, 10e-6, 11e-6}},
                  {2, 8192, 12e-6, {12e-6}}};
  db.sortAllReduce();
  EXPECT_EQ(db.allReduce.front().bytes, 4096);
  EXPECT_DOUBLE_EQ(db.allReduceSeconds(2, 6144), 11e-6);
  EXPECT_DOUBLE_EQ(db.allReduceSeconds(2, 100), 10e-6);
  double slope = (200e-6 - 12e-6) / ((1 << 20) - 8192);
  EXPECT_NEAR(db.allReduceSeconds(2, 2 << 20), 200e-6 + slope * (1 << 20), 1e-15);
  EXPECT_EQ(db.allReduceSeconds(4, 8192), 0);
  auto back = ProfileDB::parse(db.toJson(), "p.json");
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_EQ(back->allReduce.size(), 3u);
  EXPECT_EQ(back->allReduce[2].bytes, 1 << 20);
  EXPECT_EQ(back->allReduce[0].samples.size(), 3u);
  auto bad = ProfileDB::parse(R"({"format": "soap-profile", "version": 1,
     "device": {"type": "x"}, "all_reduce": [{"devices": 1, "bytes": 8, "seconds": 1}]})",
                              "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(),
            "p.json: $.all_reduce[0]: needs at least 2 devices and a positive byte count");

  auto m = test::roundMachine(1, 4);
  CostModel plain(m);
  CostModel measured(m, &*back);
  CommCost a, b;
  plain.collective(Collective::AllReduce, {{0, 1}}, 8192, a);
  measured.collective(Collective::AllReduce, {{0, 1}}, 8192, b);
  EXPECT_DOUBLE_EQ(b.time, 12e-6);
  EXPECT_NE(a.time, b.time);
  EXPECT_EQ(a.resources, b.resources);
  EXPECT_EQ(a.devices, b.devices);
  // Two groups on one node share it, four devices were not measured, and
  // other collectives keep the alpha-beta model.
  measured.collective(Collective::AllReduce, {{0, 1}, {2, 3}}, 8192, b);
  plain.collective(Collective::AllReduce, {{0, 1}, {2, 3}}, 8192, a);
  EXPECT_DOUBLE_EQ(a.time, b.time);
  measured.collective(Collective::AllReduce, {{0, 1, 2, 3}}, 8192, b);
  plain.collective(Collective::AllReduce, {{0, 1, 2, 3}}, 8192, a);
  EXPECT_DOUBLE_EQ(a.time, b.time);
  measured.collective(Collective::AllGather, {{0, 1}}, 8192, b);
  plain.collective(Collective::AllGather, {{0, 1}}, 8192, a);
  EXPECT_DOUBLE_EQ(a.time, b.time);
  // A profile of another device type does not apply.
  ProfileDB other = *back;
  other.deviceType = "gpu";
  CostModel foreign(m, &other);
  foreign.collective(Collective::AllReduce, {{0, 1}}, 8192, b);
  plain.collective(Collective::AllReduce, {{0, 1}}, 8192, a);
  EXPECT_DOUBLE_EQ(a.time, b.time);
}

TEST(SimulatorEfficiencyCurve, InterpolatesInLogSize) {
  EfficiencyCurve c;
  c.fit({{1e6, 0.2}, {1e8, 0.6}, {1e8, 0.8}, {1e8, 0.7}});
  ASSERT_EQ(c.knots().size(), 2u);
  EXPECT_DOUBLE_EQ(c.at(1e6), 0.2);
  EXPECT_DOUBLE_EQ(c.at(1e8), 0.7); // the median
  EXPECT_NEAR(c.at(1e7), 0.45, 1e-12);
  EXPECT_DOUBLE_EQ(c.at(1e3), 0.2); // clamped
  EXPECT_DOUBLE_EQ(c.at(1e12), 0.7);
}

TEST(SimulatorShardingRules, Layouts) {
  GraphBuilder b;
  auto x = b.input("x", {8, 3, 32, 32});
  auto w = b.weight("w", {16, 3, 3, 3});
  b.conv2d("conv", x, w, 1, 1);
  OpShardingRule r = shardingRule(b.g.ops[0]);
  // dims: batch, cout, h, w, cin
  EXPECT_EQ(r.operands[0].axisOfDim, (std::vector<int>{0, kReplicated, 2, 3, 1}));
  EXPECT_EQ(r.operands[1].axisOfDim, (std::vector<int>{kReplicated, 0, kReplicated,
                                                       kReplicated, 1}));
  EXPECT_EQ(r.results[0].axisOfDim, (std::vector<int>{0, 1, 2, 3, kPartial}));
  EXPECT_TRUE(r.isGemm);
  // h split in 4: interior shards read a row of halo on each side.
  std::vector<int64_t> s = shardShape(r.operands[0], b.g.ops[0].dims, {1, 1, 4, 1, 1});
  EXPECT_EQ(s, (std::vector<int64_t>{8, 3, 10, 32}));
  EXPECT_EQ(attributeInts(b.g.ops[0].attributes, "strides", {}),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(attributeInt("groups=2,num_heads=12", "num_heads", 0), 12);
  EXPECT_EQ(attributeInt("groups=2", "heads", 7), 7);
}

TEST(CostModel, FlopsBeyondInt64AreUnwrapped) {
  // GPT-1T's MLP: [3072, 2048, 25600] x [25600, 102400]: 2mkn = 3.3e19,
  // beyond int64; the graph holds it wrapped modulo 2^64.
  OpNode op;
  op.kind = "linear";
  op.operands = {{OperandSource::Op, {{3072, 2048, 25600}, DType::BF16}},
                 {OperandSource::Weight, {{25600, 102400}, DType::BF16}}};
  op.results = {{{3072, 2048, 102400}, DType::BF16}};
  const uint64_t m = 3072ull * 2048, k = 25600, n = 102400;
  const double exact = 2.0 * double(m) * double(k) * double(n);
  op.forwardFlops = static_cast<int64_t>(2 * m * k * n); // wraps
  op.backwardFlops = static_cast<int64_t>(4 * m * k * n);
  EXPECT_DOUBLE_EQ(opForwardFlops(op), exact);
  EXPECT_DOUBLE_EQ(opBackwardFlops(op), 2 * exact);
  // Small ones are taken as they are.
  op.operands[0].tensor.shape = {4, 8};
  op.operands[1].tensor.shape = {8, 16};
  op.forwardFlops = 2 * 4 * 8 * 16 + 7;
  EXPECT_EQ(opForwardFlops(op), 2 * 4 * 8 * 16 + 7);
}

TEST(CostModel, BooleanResultsArePricedForwardOnly) {
  // relu(x) > y: a comparison reads two f32 tensors and writes one byte per
  // element; no gradient flows through a boolean result, so neither op runs
  // a backward pass. 1 GB/s memory, no kernel overhead.
  GraphBuilder b;
  auto x = b.input("x", {1000});
  auto y = b.input("y", {1000});
  auto r = b.unary("relu", "relu", x);
  auto gt = b.binary("gt", "greater", r, y);
  b.output(gt);
  OpNode &cmp = b.g.ops[1];
  cmp.results[0].dtype = DType::I1;
  cmp.bytesWritten = cmp.results[0].bytes();
  cmp.backwardFlops = 0;
  EXPECT_EQ(cmp.results[0].bytes(), 1000);
  EXPECT_EQ(b.g.backwardOps(), (std::vector<char>{0, 0}));
  EXPECT_EQ(b.g.validate(), "");

  auto m = test::roundMachine(1, 1);
  CostModel cost(m);
  OpShardingRule rule = shardingRule(cmp);
  auto kt = cost.kernelTime(cmp, rule, {1});
  EXPECT_DOUBLE_EQ(kt.forward, (4000 + 4000 + 1000) / 1e9);
  EXPECT_EQ(cost.kernelKey(cmp, rule, {1}),
            "greater||f32[1000],f32[1000]->i1[1000]|i1|round");

  // The step: relu's forward (8 us) and the comparison's (9 us), nothing
  // else.
  Simulator sim(b.g, cost);
  auto res = sim.simulate(Strategy{{test::cfg({}), test::cfg({})}});
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_NEAR(res->stepTime, 17e-6, 1e-15);

  // A float path to the output keeps its backward: relu(x) * y.
  GraphBuilder f;
  auto fx = f.input("x", {1000});
  auto fy = f.input("y", {1000});
  auto fr = f.unary("relu", "relu", fx);
  f.output(f.binary("mul", "mul", fr, fy));
  EXPECT_EQ(f.g.backwardOps(), (std::vector<char>{1, 1}));
}
