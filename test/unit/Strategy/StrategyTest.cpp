//===- StrategyTest.cpp - strategy JSON ------------------------------------===//
#include "soap/Graph/OpGraph.h"
#include "soap/Strategy/Strategy.h"

#include <gtest/gtest.h>

using namespace soap;

namespace {
/// fc (linear 8x16 -> 8x32) then relu, built by hand.
OpGraph twoOps() {
  OpGraph g;
  g.modelName = "tiny";
  g.inputs.push_back({"x", {{8, 16}, DType::F32}});
  g.weights.push_back({"fc.weight", {{16, 32}, DType::F32}, {0}});
  OpNode fc;
  fc.name = "fc";
  fc.kind = "linear";
  fc.operands = {{OperandSource::Input, {{8, 16}, DType::F32}, -1, 0, 0, false},
                 {OperandSource::Weight, {{16, 32}, DType::F32}, -1, 0, 0, true}};
  fc.results = {{{8, 32}, DType::F32}};
  fc.dims = {{"batch", DimTag::Sample, 8, 0},
             {"out", DimTag::Parameter, 32, 1},
             {"in", DimTag::Reduction, 16, -1}};
  OpNode relu;
  relu.name = "act";
  relu.kind = "relu";
  relu.operands = {{OperandSource::Op, {{8, 32}, DType::F32}, 0, 0, -1, false}};
  relu.results = {{{8, 32}, DType::F32}};
  relu.dims = {{"batch", DimTag::Sample, 8, 0},
               {"d1", DimTag::Attribute, 32, 1}};
  g.ops = {fc, relu};
  g.edges.push_back({0, 0, 1, 0, {{8, 32}, DType::F32}});
  return g;
}

StrategyFile dataParallel(const OpGraph &g, int64_t degree) {
  StrategyFile s;
  s.modelName = g.modelName;
  s.modelFingerprint = g.fingerprintHex();
  s.machineName = "test";
  s.nodes = 1;
  s.devicesPerNode = 4;
  s.machineFingerprint = "m0";
  for (const OpNode &op : g.ops)
    s.ops.push_back({op.name, op.kind, {{"batch", degree}}, 0, {{"batch", 1}}});
  return s;
}

bool contains(const std::vector<std::string> &problems, const std::string &s) {
  for (const std::string &p : problems)
    if (p.find(s) != std::string::npos)
      return true;
  return false;
}
} // namespace

TEST(Strategy, RoundTripsThroughJson) {
  OpGraph g = twoOps();
  ASSERT_EQ(g.validate(), "");
  StrategyFile s = dataParallel(g, 4);
  s.ops[0].degrees = {{"batch", 2}, {"out", 2}};
  s.ops[0].strides = {{"batch", 1}, {"out", 2}};
  s.predicted = StrategyMetrics{0.125, {100, 200, 300, 400}, 4096, 0.5};
  s.baselineStepTimeSeconds["data-parallel"] = 0.25;
  s.search = SearchInfo{"dp+mcmc", 7, 10.0, 1234, 3.5};
  std::string text = writeStrategyJson(s);
  StrategyFile back;
  std::string error;
  ASSERT_TRUE(parseStrategyJson(text, back, error)) << error;
  EXPECT_EQ(back.modelFingerprint, s.modelFingerprint);
  ASSERT_EQ(back.ops.size(), 2u);
  EXPECT_EQ(back.ops[0], s.ops[0]);
  ASSERT_TRUE(back.predicted);
  EXPECT_EQ(back.predicted->peakMemoryBytes, s.predicted->peakMemoryBytes);
  EXPECT_DOUBLE_EQ(back.baselineStepTimeSeconds["data-parallel"], 0.25);
  ASSERT_TRUE(back.search);
  EXPECT_EQ(back.search->seed, 7u);
  EXPECT_EQ(back.search->iterations, 1234);
  EXPECT_EQ(writeStrategyJson(back), text);
  EXPECT_TRUE(validateStrategy(back, g, 1, 4, "m0").empty());
}

TEST(Strategy, ParseErrorsNameTheField) {
  StrategyFile s;
  std::string error;
  EXPECT_FALSE(parseStrategyJson("{", s, error));
  EXPECT_EQ(error, "not valid JSON");
  EXPECT_FALSE(parseStrategyJson(R"({"format": "soap-strategy", "version": 2})",
                                 s, error));
  EXPECT_NE(error.find("$.version"), std::string::npos) << error;
  std::string text = writeStrategyJson(dataParallel(twoOps(), 2));
  text.replace(text.find("\"batch\": 2"), 10, "\"batch\": \"two\"");
  EXPECT_FALSE(parseStrategyJson(text, s, error));
  EXPECT_EQ(error, "$.ops[0].degrees.batch: must be an integer");
}

TEST(Strategy, ValidationFindsEveryProblem) {
  OpGraph g = twoOps();
  StrategyFile s = dataParallel(g, 4);
  s.ops[0].degrees = {{"batch", 3}};   // does not divide 8
  s.ops[1].degrees = {{"heads", 2}};   // relu has no heads
  s.ops.push_back({"ghost", "relu", {}, 0, {}});
  auto problems = validateStrategy(s, g, 1, 4, "m0");
  EXPECT_TRUE(contains(problems, "degree 3 of 'batch' does not divide its size 8"));
  EXPECT_TRUE(contains(problems, "has no dimension 'heads' (it has: batch, d1)"));
  EXPECT_TRUE(contains(problems, "op 'ghost' is not in the model"));

  StrategyFile other = dataParallel(g, 4);
  other.modelFingerprint = "0000000000000000";
  other.ops.pop_back();
  problems = validateStrategy(other, g, 2, 4, "m1");
  EXPECT_TRUE(contains(problems, "made for a different model"));
  EXPECT_TRUE(contains(problems, "machine of 1 x 4 devices"));
  EXPECT_TRUE(contains(problems, "machine fingerprint"));
  EXPECT_TRUE(contains(problems, "op 'act' (relu) has no entry"));
}

TEST(Strategy, ViewsMustFitAndNotOverlap) {
  OpGraph g = twoOps();
  StrategyFile s = dataParallel(g, 4);
  s.ops[0].start = 2; // devices 2..5 on a 4-device machine
  s.ops[1].degrees = {{"batch", 2}, {"d1", 2}};
  s.ops[1].strides = {{"batch", 1}, {"d1", 1}}; // both shards on 0 and 1
  auto problems = validateStrategy(s, g, 1, 4, "");
  EXPECT_TRUE(contains(problems, "reaches device 4"));
  EXPECT_TRUE(contains(problems, "places two shards on device 1"));
}

TEST(Strategy, DeviceIdsFollowTheOpDimOrder) {
  OpConfig c{"fc", "linear", {{"out", 2}, {"batch", 2}}, 4, {}};
  // Default: contiguous row-major in the op's order (batch, out).
  EXPECT_EQ(c.deviceIds({"batch", "out", "in"}),
            (std::vector<int64_t>{4, 5, 6, 7}));
  c.strides = {{"batch", 1}, {"out", 2}};
  EXPECT_EQ(c.deviceIds({"batch", "out", "in"}),
            (std::vector<int64_t>{4, 6, 5, 7}));
  EXPECT_EQ(c.numDevices(), 4);
}
