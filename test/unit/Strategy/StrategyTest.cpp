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
  EXPECT_FALSE(parseStrategyJson(R"({"format": "soap-strategy", "version": 3})",
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

//===----------------------------------------------------------------------===//
// Version 2: pipeline, ZeRO, offload, recompute (issue 8)
//===----------------------------------------------------------------------===//

namespace {
/// fc on devices 0-1, act on devices 2-3: two pipeline stages.
StrategyFile pipelined(const OpGraph &g) {
  StrategyFile s = dataParallel(g, 2);
  s.ops[1].start = 2;
  PipelineSpec p;
  p.schedule = "1f1b";
  p.microBatches = 4;
  p.stages = {{"fc", "fc", 0, 2}, {"act", "act", 2, 2}};
  s.pipeline = p;
  s.zeroStage = 2;
  s.offloadOptimizer = true;
  s.ops[1].recompute = true;
  return s;
}
} // namespace

TEST(Strategy, PlainStrategiesStayVersionOne) {
  std::string text = writeStrategyJson(dataParallel(twoOps(), 4));
  EXPECT_NE(text.find("\"version\": 1"), std::string::npos);
  EXPECT_EQ(text.find("pipeline"), std::string::npos);
  EXPECT_EQ(text.find("recompute"), std::string::npos);
  EXPECT_TRUE(dataParallel(twoOps(), 4).trainingFeatures().empty());
}

TEST(Strategy, VersionTwoRoundTrips) {
  OpGraph g = twoOps();
  StrategyFile s = pipelined(g);
  std::string text = writeStrategyJson(s);
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos) << text;
  EXPECT_NE(text.find("\"micro_batches\": 4"), std::string::npos) << text;
  StrategyFile back;
  std::string error;
  ASSERT_TRUE(parseStrategyJson(text, back, error)) << error;
  EXPECT_EQ(back.version, 2);
  ASSERT_TRUE(back.pipeline);
  EXPECT_EQ(*back.pipeline, *s.pipeline);
  EXPECT_EQ(back.zeroStage, 2);
  EXPECT_TRUE(back.offloadOptimizer);
  EXPECT_FALSE(back.ops[0].recompute);
  EXPECT_TRUE(back.ops[1].recompute);
  EXPECT_EQ(writeStrategyJson(back), text);
  EXPECT_TRUE(validateStrategy(back, g, 1, 4, "m0").empty());
  EXPECT_EQ(back.trainingFeatures(),
            (std::vector<std::string>{"pipeline parallelism", "ZeRO stage 2",
                                      "optimizer offload",
                                      "activation recomputation"}));
}

TEST(Strategy, VersionTwoParseErrorsNameTheField) {
  OpGraph g = twoOps();
  std::string good = writeStrategyJson(pipelined(g));
  auto fails = [&](std::string text, const std::string &expected) {
    StrategyFile s;
    std::string error;
    EXPECT_FALSE(parseStrategyJson(text, s, error)) << expected;
    EXPECT_EQ(error, expected);
  };
  auto edit = [&](const std::string &from, const std::string &to) {
    std::string t = good;
    size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos)
      t.replace(at, from.size(), to);
    return t;
  };
  fails(edit("\"version\": 2", "\"version\": 1"),
        "$.ops[1].recompute: needs format version 2 (the file says version 1)");
  fails(edit("\"schedule\": \"1f1b\"", "\"schedule\": \"pipedream\""),
        "$.pipeline.schedule: must be \"gpipe\" or \"1f1b\", got \"pipedream\"");
  fails(edit("\"micro_batches\": 4", "\"micro_batches\": 0"),
        "$.pipeline.micro_batches: must be >= 1");
  fails(edit("\"count\": 2", "\"size\": 2"),
        "$.pipeline.stages[0].devices.count: is missing");
  fails(edit("\"zero_stage\": 2", "\"zero_stage\": 5"),
        "$.zero_stage: must be 0, 1, 2 or 3");
  fails(edit("\"offload_optimizer\": true", "\"offload_optimizer\": 1"),
        "$.offload_optimizer: must be true or false");
  fails(edit("\"recompute\": true", "\"recompute\": \"yes\""),
        "$.ops[1].recompute: must be true or false");
  // A version-1 file with a pipeline (but no recompute flags).
  StrategyFile noRecompute = pipelined(g);
  noRecompute.ops[1].recompute = false;
  std::string t = writeStrategyJson(noRecompute);
  t.replace(t.find("\"version\": 2"), 12, "\"version\": 1");
  fails(t, "$.pipeline: needs format version 2 (the file says version 1)");
}

TEST(Strategy, PipelineValidation) {
  OpGraph g = twoOps();
  StrategyFile s = pipelined(g);
  s.pipeline->stages[1].firstOp = "nope";
  EXPECT_TRUE(contains(validateStrategy(s, g, 1, 4, "m0"),
                       "pipeline stage 1 names op 'nope', which is not in the "
                       "model"));
  s = pipelined(g);
  s.pipeline->stages = {{"fc", "fc", 0, 2}};
  EXPECT_TRUE(contains(validateStrategy(s, g, 1, 4, "m0"),
                       "the last stage must end at the model's last op 'act'"));
  s = pipelined(g);
  s.pipeline->stages = {{"act", "act", 2, 2}, {"fc", "fc", 0, 2}};
  EXPECT_TRUE(contains(validateStrategy(s, g, 1, 4, "m0"),
                       "pipeline stage 0 starts at op 'act'"));
  s = pipelined(g);
  s.pipeline->stages[1].firstDevice = 1;
  auto problems = validateStrategy(s, g, 1, 4, "m0");
  EXPECT_TRUE(contains(problems, "pipeline stage 1's devices overlap those of "
                                 "stage 0"));
  s = pipelined(g);
  s.ops[1].start = 0;
  EXPECT_TRUE(contains(validateStrategy(s, g, 1, 4, "m0"),
                       "op 'act' of pipeline stage 1 runs on device 0, outside "
                       "the stage's devices 2..3"));
  s = pipelined(g);
  s.pipeline->stages[1].numDevices = 4;
  EXPECT_TRUE(contains(validateStrategy(s, g, 1, 4, "m0"),
                       "pipeline stage 1's devices 2..5 are not inside the "
                       "machine's 0..3"));
}
