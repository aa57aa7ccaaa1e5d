//===- PlanFormatTest.cpp - the plan's JSON and its validation ------------===//
#include "soap/Plan/Plan.h"

#include <gtest/gtest.h>

using namespace soap;

namespace {

/// Two ranks: rank 0 computes and sends half of a tensor to rank 1, both
/// all-reduce a gradient.
Plan tinyPlan() {
  Plan p;
  p.modelName = "tiny";
  p.modelFingerprint = "0123456789abcdef";
  p.numRanks = 2;
  p.communicators.push_back({0, {0, 1}});
  p.weights.push_back({"w", DType::F32, {4, 4}, "normal", 0.02, {}});
  p.inputs.push_back({"x", DType::F32, {2, 4}, BufferRole::Input, 0});
  for (int r = 0; r < 2; ++r) {
    RankPlan rp;
    rp.rank = r;
    PlanBuffer a;
    a.id = 0;
    a.name = "a";
    a.role = BufferRole::Activation;
    a.shape = {2, 4};
    a.tensor = "op:0";
    a.globalShape = {2, 4};
    a.offset = {0, 0};
    rp.buffers.push_back(a);
    PlanBuffer gbuf = a;
    gbuf.id = 1;
    gbuf.name = "grad";
    gbuf.role = BufferRole::Gradient;
    rp.buffers.push_back(gbuf);
    p.ranks.push_back(rp);
  }
  PlanTask k;
  k.type = TaskType::Kernel;
  k.op = "op";
  k.kind = "relu";
  k.shard = 0;
  k.inputs = {0};
  k.outputs = {0};
  k.attrs["axis"] = PlanAttr::ofInt(-1);
  k.attrs["ratio"] = PlanAttr::ofFloat(0.5);
  k.attrs["padding"] = PlanAttr::ofInts({1, 0, 1, 0});
  k.attrs["causal"] = PlanAttr::ofBool(true);
  k.attrs["kind"] = PlanAttr::ofString("max");
  k.flops = 8;
  p.ranks[0].tasks.push_back(k);
  PlanTask s;
  s.type = TaskType::Send;
  s.op = "op";
  s.peer = 1;
  s.tag = 0;
  s.buffer = 0;
  s.region = {{1, 0}, {1, 4}};
  p.ranks[0].tasks.push_back(s);
  PlanTask r = s;
  r.type = TaskType::Recv;
  r.peer = 0;
  r.accumulate = true;
  p.ranks[1].tasks.push_back(r);
  PlanTask c;
  c.type = TaskType::Collective;
  c.phase = Phase::Backward;
  c.op = "op";
  c.collective = CollectiveKind::AllReduce;
  c.comm = 0;
  c.buffer = 1;
  p.ranks[0].tasks.push_back(c);
  p.ranks[1].tasks.push_back(c);
  return p;
}

TEST(PlanFormat, RoundTrip) {
  Plan p = tinyPlan();
  EXPECT_TRUE(validatePlan(p).empty()) << validatePlan(p).front();
  std::string text = writePlanJson(p, 2);
  Plan q;
  std::string error;
  ASSERT_TRUE(parsePlanJson(text, q, error)) << error;
  EXPECT_EQ(writePlanJson(q, 2), text);
  EXPECT_EQ(q.ranks[0].tasks[0].attrs["padding"], PlanAttr::ofInts({1, 0, 1, 0}));
  EXPECT_EQ(q.ranks[0].tasks[0].attrs["ratio"], PlanAttr::ofFloat(0.5));
  EXPECT_EQ(q.ranks[1].tasks[0].accumulate, true);
  EXPECT_EQ(totalFlops(q).forward, 8);
}

TEST(PlanFormat, ErrorsNameTheJsonPath) {
  std::string text = writePlanJson(tinyPlan());
  struct Case {
    std::string from, to, want;
  };
  const Case cases[] = {
      {"\"version\":1", "\"version\":7", "$.version: unsupported plan format version 7"},
      {"\"peer\":1", "\"peer\":\"one\"", "$.ranks[0].tasks[1].peer: must be an integer"},
      {"\"role\":\"gradient\"", "\"role\":\"grad\"", "$.ranks[0].buffers[1].role: unknown value 'grad'"},
      {"\"kind\":\"sgd\"", "\"kind\":\"lamb\"", "$.optimizer.kind: unknown optimizer 'lamb'"},
      {"\"type\":\"send\"", "\"type\":\"teleport\"", "$.ranks[0].tasks[1].type: unknown value 'teleport'"},
      {"\"num_ranks\":2,", "", "$.num_ranks: is missing"},
  };
  for (const Case &c : cases) {
    std::string t = text;
    size_t at = t.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    t.replace(at, c.from.size(), c.to);
    Plan q;
    std::string error;
    EXPECT_FALSE(parsePlanJson(t, q, error));
    EXPECT_EQ(error.rfind(c.want, 0), 0u) << error;
  }
  Plan q;
  std::string error;
  EXPECT_FALSE(parsePlanJson("{", q, error));
  EXPECT_NE(error.find("not valid JSON"), std::string::npos);
}

TEST(PlanFormat, VersionTwoFieldsRoundTripAndAreRefusedInVersionOne) {
  Plan p = tinyPlan();
  EXPECT_NE(writePlanJson(p).find("\"version\":1"), std::string::npos);
  // A ZeRO part of 3 rows of which 1 holds the tensor, in host memory, and
  // a host update.
  PlanBuffer part;
  part.id = 2;
  part.name = "adam_m:w";
  part.role = BufferRole::OptimizerState;
  part.shape = {3, 4};
  part.tensor = "w";
  part.globalShape = {4, 4};
  part.offset = {3, 0};
  part.part = PlanPart{1, 2, 1};
  part.host = true;
  p.ranks[0].buffers.push_back(part);
  p.ranks[0].tasks[0].host = true;
  EXPECT_TRUE(validatePlan(p).empty()) << validatePlan(p).front();
  EXPECT_EQ(part.tensorShape(), (std::vector<int64_t>{1, 4}));
  std::string text = writePlanJson(p);
  EXPECT_NE(text.find("\"version\":2"), std::string::npos);
  EXPECT_NE(text.find("\"part\":{\"index\":1,\"count\":2,\"rows\":1}"),
            std::string::npos)
      << text;
  Plan q;
  std::string error;
  ASSERT_TRUE(parsePlanJson(text, q, error)) << error;
  ASSERT_TRUE(q.ranks[0].buffers[2].part);
  EXPECT_EQ(*q.ranks[0].buffers[2].part, (PlanPart{1, 2, 1}));
  EXPECT_TRUE(q.ranks[0].buffers[2].host);
  EXPECT_TRUE(q.ranks[0].tasks[0].host);
  EXPECT_EQ(writePlanJson(q), text);

  std::string v1 = text;
  v1.replace(v1.find("\"version\":2"), 11, "\"version\":1");
  EXPECT_FALSE(parsePlanJson(v1, q, error));
  EXPECT_EQ(error, "$.ranks[0].buffers[2].part: is a version-2 field in a "
                   "version-1 plan");

  // Rows beyond the buffer are refused.
  p.ranks[0].buffers[2].part->rows = 4;
  auto problems = validatePlan(p);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("$.ranks[0].buffers[2].part: index 1 of 2 with 4 "
                             "rows does not fit"),
            std::string::npos)
      << problems[0];
}

TEST(PlanFormat, ValidationFindsUnmatchedAndDeadlocks) {
  {
    Plan p = tinyPlan();
    p.ranks[1].tasks.erase(p.ranks[1].tasks.begin()); // the receive
    auto problems = validatePlan(p);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems[0].find("has no matching receive"), std::string::npos)
        << problems[0];
  }
  {
    Plan p = tinyPlan();
    p.ranks[1].tasks[0].region.shape = {2, 4};
    p.ranks[1].tasks[0].region.offset = {0, 0};
    auto problems = validatePlan(p);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems[0].find("sends 4 f32 elements but the receive"),
              std::string::npos)
        << problems[0];
  }
  {
    // Rank 1 all-reduces before it receives; rank 0 sends before it
    // all-reduces: a deadlock with blocking communication.
    Plan p = tinyPlan();
    std::swap(p.ranks[1].tasks[0], p.ranks[1].tasks[1]);
    auto problems = validatePlan(p);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0], "$.ranks[0].tasks[1]: deadlock: rank 0 waits "
                           "forever in this send to rank 1 (tag 0)");
    EXPECT_EQ(problems[1], "$.ranks[1].tasks[0]: deadlock: rank 1 waits "
                           "forever in this collective on communicator 0");
  }
  {
    Plan p = tinyPlan();
    p.ranks[0].tasks[1].region = {{1, 0}, {2, 4}};
    auto problems = validatePlan(p);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems[0].find("$.ranks[0].tasks[1].region: region at [1, 0] "
                               "of shape [2, 4] is outside buffer 'a'"),
              std::string::npos)
        << problems[0];
  }
  {
    Plan p = tinyPlan();
    p.communicators[0].ranks = {0};
    auto problems = validatePlan(p);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems[0].find("rank 1 is not in communicator 0"),
              std::string::npos)
        << problems[0];
  }
}

} // namespace
