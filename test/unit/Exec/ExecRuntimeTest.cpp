//===- ExecRuntimeTest.cpp - transports, checkpoints, faults, data --------===//
#include "ExecTestUtil.h"

#include "soap/Runtime/Checkpoint.h"
#include "soap/Runtime/Collectives.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Data.h"
#include "soap/Runtime/soap_c.h"
#include "soap/Search/Baselines.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <unistd.h>

extern "C" int soapCApiSmoke(const char *planPath, int steps, double *lastLoss,
                             char *error, int errorSize);

using namespace soap;
using namespace soap::runtime;
using namespace soap::test;

namespace {

/// A fresh temporary directory (removed by the caller's TearDown).
std::string tempDir() {
  char tmpl[] = "/tmp/soap-exec-XXXXXX";
  const char *d = mkdtemp(tmpl);
  return d ? d : "/tmp";
}

//===----------------------------------------------------------------------===//
// Collectives over the threads transport
//===----------------------------------------------------------------------===//

/// Runs f(rank, transport) on n threads and returns their errors.
std::vector<std::string>
onThreads(int n, const std::function<std::string(int, Transport &)> &f) {
  std::vector<std::unique_ptr<Transport>> ts = makeThreadTransports(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { errors[r] = f(r, *ts[r]); });
  for (std::thread &t : threads)
    t.join();
  return errors;
}

TEST(ExecCollectives, AllReduceSumsInMemberOrder) {
  const int n = 3;
  const int64_t count = 10; // not a multiple of n: uneven chunks
  std::vector<int> ranks = {0, 1, 2};
  std::vector<std::vector<float>> data(n);
  for (int r = 0; r < n; ++r)
    for (int64_t i = 0; i < count; ++i)
      data[r].push_back(static_cast<float>(1e-3 * (i + 1) + 1e3 * r + 0.1 * r));
  std::vector<std::vector<float>> in = data;
  auto errors = onThreads(n, [&](int r, Transport &t) {
    CollectiveCall c{&t, &ranks, r, 7};
    return allReduce(c, DType::F32, data[r].data(), count);
  });
  for (const std::string &e : errors)
    EXPECT_EQ(e, "");
  for (int64_t i = 0; i < count; ++i) {
    double sum = 0;
    for (int r = 0; r < n; ++r)
      sum += in[r][i];
    for (int r = 0; r < n; ++r)
      EXPECT_EQ(data[r][i], static_cast<float>(sum)) << "rank " << r << " " << i;
  }
}

TEST(ExecCollectives, GatherScatterBroadcastAllToAll) {
  const int n = 4;
  std::vector<int> ranks = {3, 1, 0, 2}; // communicator order != rank order
  auto errors = onThreads(n, [&](int r, Transport &t) -> std::string {
    int idx = 0;
    while (ranks[idx] != r)
      ++idx;
    CollectiveCall c{&t, &ranks, idx, 1};
    // all_gather: member j contributes {j, j}.
    std::vector<int64_t> mine = {idx, idx}, all(2 * n);
    std::string e = allGather(c, DType::I64, mine.data(), all.data(), 2);
    if (!e.empty())
      return e;
    for (int j = 0; j < n; ++j)
      if (all[2 * j] != j || all[2 * j + 1] != j)
        return "all_gather wrong";
    // reduce_scatter: piece k of member j is 10 * j + k.
    std::vector<double> src(n), dst(1);
    for (int k = 0; k < n; ++k)
      src[k] = 10.0 * idx + k;
    c.tag = 2;
    e = reduceScatter(c, DType::F64, src.data(), dst.data(), 1);
    if (!e.empty())
      return e;
    if (dst[0] != 10.0 * (0 + 1 + 2 + 3) + n * idx)
      return "reduce_scatter wrong";
    // broadcast from member 2.
    std::vector<float> b = {idx == 2 ? 5.f : 0.f};
    c.tag = 3;
    e = broadcast(c, DType::F32, b.data(), 1, 2);
    if (!e.empty() || b[0] != 5.f)
      return e.empty() ? "broadcast wrong" : e;
    // all_to_all: member j sends 100 * j + k to member k.
    std::vector<int32_t> s(n), d(n);
    for (int k = 0; k < n; ++k)
      s[k] = 100 * idx + k;
    c.tag = 4;
    e = allToAll(c, DType::I32, s.data(), d.data(), 1);
    if (!e.empty())
      return e;
    for (int j = 0; j < n; ++j)
      if (d[j] != 100 * j + idx)
        return "all_to_all wrong";
    c.tag = 5;
    return barrier(c);
  });
  for (const std::string &e : errors)
    EXPECT_EQ(e, "");
}

TEST(ExecCollectives, ManyCallsOnOverlappingGroups) {
  // Races between early senders and early receivers: thousands of calls of
  // varying sizes (empty chunks included) on two groups that share ranks.
  const int n = 4;
  std::vector<int> all = {0, 1, 2, 3}, pair = {2, 1};
  auto errors = onThreads(n, [&](int r, Transport &t) -> std::string {
    for (int i = 0; i < 2000; ++i) {
      int64_t count = 1 + (i * 7) % 37;
      std::vector<float> x(count, static_cast<float>(r + 1));
      CollectiveCall c{&t, &all, r, 0};
      std::string e = allReduce(c, DType::F32, x.data(), count);
      if (!e.empty())
        return e;
      for (float v : x)
        if (v != 10.f)
          return "wrong sum at call " + std::to_string(i);
      if (r == 1 || r == 2) {
        std::vector<double> y(count % 5, r);
        CollectiveCall p{&t, &pair, r == 2 ? 0 : 1, 1};
        e = allReduce(p, DType::F64, y.data(), count % 5);
        if (!e.empty())
          return e;
        for (double v : y)
          if (v != 3.0)
            return "wrong pair sum at call " + std::to_string(i);
      }
    }
    return "";
  });
  for (const std::string &e : errors)
    EXPECT_EQ(e, "");
}

TEST(ExecCollectives, DeadPeerTimesOut) {
  std::vector<int> ranks = {0, 1};
  auto start = std::chrono::steady_clock::now();
  auto errors = onThreads(2, [&](int r, Transport &t) -> std::string {
    if (r == 1)
      return ""; // never joins
    CollectiveCall c{&t, &ranks, 0, 0};
    c.timeoutSeconds = 0.3;
    float x = 1;
    return allReduce(c, DType::F32, &x, 1);
  });
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_NE(errors[0].find("timed out after 0.3 s"), std::string::npos)
      << errors[0];
  EXPECT_LT(seconds, 5);
}

//===----------------------------------------------------------------------===//
// Sessions on a small model
//===----------------------------------------------------------------------===//

class ExecSessionTest : public ::testing::Test {
protected:
  ExecSessionTest() {
    soap::cpu::setNumThreads(1);
    model = fileModel(context, "docs/examples/cnn.mlir");
  }
  ~ExecSessionTest() override {
    for (const std::string &d : dirs)
      std::system(("rm -rf " + d).c_str());
  }
  std::string dir() {
    dirs.push_back(tempDir());
    return dirs.back();
  }
  Plan plan(const Strategy &s, int64_t ranks) {
    Expected<Plan> p = buildPlan(model.graph, s, ranks, model.options);
    EXPECT_TRUE(p) << p.error();
    return p ? *p : Plan();
  }
  Plan dataParallel(int64_t ranks) {
    return plan(dataParallelStrategy(model.graph, ranks), ranks);
  }
  Plan megatron(int64_t ranks) {
    BaselineOptions bo;
    bo.devicesPerNode = ranks;
    Expected<Strategy> s = makeBaseline("megatron", model.graph, bo);
    EXPECT_TRUE(s) << s.error();
    return plan(*s, ranks);
  }

  mlir::MLIRContext context;
  Model model;
  std::vector<std::string> dirs;
};

TEST_F(ExecSessionTest, InitialWeightsDoNotDependOnTheStrategy) {
  ASSERT_EQ(model.error, "");
  RunResult one = runSession(plan(singleDeviceStrategy(model.graph), 1), 0);
  RunResult four = runSession(megatron(4), 0);
  ASSERT_EQ(one.error, "");
  ASSERT_EQ(four.error, "");
  ASSERT_FALSE(one.weights.empty());
  for (const auto &[name, w] : one.weights)
    EXPECT_EQ(four.weights[name], w) << name; // bit for bit
  // And a different seed gives different weights.
  SessionOptions o;
  o.run.seed = 5;
  RunResult other = runSession(dataParallel(2), 0, o);
  bool differs = false;
  for (const auto &[name, w] : one.weights)
    differs |= other.weights[name] != w;
  EXPECT_TRUE(differs);
}

TEST_F(ExecSessionTest, ResumeEqualsAnUninterruptedRun) {
  ASSERT_EQ(model.error, "");
  for (const char *optimizer : {"sgd", "adam"}) {
    SCOPED_TRACE(optimizer);
    if (std::string(optimizer) == "adam") {
      model.options.optimizer.kind = OptimizerSettings::Kind::Adam;
      model.options.optimizer.lr = 0.01;
    }
    Plan p = megatron(4);
    RunResult whole = runSession(p, 5);
    ASSERT_EQ(whole.error, "");

    std::string d = dir();
    SessionOptions o;
    o.checkpointDir = d;
    {
      std::string e;
      auto s = Session::create(p, o, e);
      ASSERT_TRUE(s) << e;
      for (int i = 0; i < 2; ++i) {
        double loss;
        ASSERT_EQ(s->step(&loss), "");
        EXPECT_EQ(loss, whole.losses[i]);
      }
      ASSERT_EQ(s->checkpoint(), "");
    }
    int64_t step = 0;
    ASSERT_EQ(latestCheckpointStep(d, step), "");
    EXPECT_EQ(step, 2);
    o.resume = true;
    RunResult resumed = runSession(p, 5, o);
    ASSERT_EQ(resumed.error, "");
    ASSERT_EQ(resumed.losses.size(), 3u);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(resumed.losses[i], whole.losses[i + 2]) << "step " << i + 3;
    for (const auto &[name, w] : whole.weights)
      EXPECT_EQ(resumed.weights[name], w) << name; // bit for bit
  }
}

TEST_F(ExecSessionTest, ResumeIntoAnotherStrategy) {
  ASSERT_EQ(model.error, "");
  // Saved by 2 data-parallel ranks, resumed by 4 Megatron ranks.
  Plan dp = dataParallel(2), mt = megatron(4);
  RunResult whole = runSession(dp, 4);
  ASSERT_EQ(whole.error, "");
  std::string d = dir();
  SessionOptions o;
  o.checkpointDir = d;
  o.checkpointEvery = 2;
  RunResult first = runSession(dp, 2, o);
  ASSERT_EQ(first.error, "");
  o.resume = true;
  o.checkpointEvery = 0;
  RunResult resumed = runSession(mt, 4, o);
  ASSERT_EQ(resumed.error, "");
  ASSERT_EQ(resumed.losses.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(resumed.losses[i], whole.losses[i + 2],
                1e-5 * std::abs(whole.losses[i + 2]));
  expectWeightsAgree(resumed.weights, whole.weights);
}

TEST_F(ExecSessionTest, IncompleteCheckpointIsIgnored) {
  ASSERT_EQ(model.error, "");
  Plan p = dataParallel(2);
  std::string d = dir();
  SessionOptions o;
  o.checkpointDir = d;
  o.checkpointEvery = 1;
  ASSERT_EQ(runSession(p, 2, o).error, "");
  // A crash while saving step 3: shard files without a manifest.
  std::system(("mkdir -p " + d + "/step-00000003 && cp " + d +
               "/step-00000002/rank-00000.bin " + d + "/step-00000003/")
                  .c_str());
  int64_t step = 0;
  ASSERT_EQ(latestCheckpointStep(d, step), "");
  EXPECT_EQ(step, 2);
  // Only the newest two are kept.
  EXPECT_NE(access((d + "/step-00000002/manifest.json").c_str(), F_OK), -1);
  EXPECT_NE(access((d + "/step-00000001/manifest.json").c_str(), F_OK), -1);
  ASSERT_EQ(runSession(p, 4, o).error, "");
  EXPECT_EQ(access((d + "/step-00000001").c_str(), F_OK), -1);
  // A damaged shard is refused.
  {
    std::fstream f(d + "/step-00000004/rank-00000.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-8, std::ios::end);
    f.write("xxxx", 4);
  }
  o.resume = true;
  RunResult r = runSession(p, 5, o);
  EXPECT_NE(r.error.find("damaged"), std::string::npos) << r.error;
  // No checkpoint at all.
  SessionOptions none;
  none.checkpointDir = dir();
  none.resume = true;
  r = runSession(p, 1, none);
  EXPECT_NE(r.error.find("no checkpoint"), std::string::npos) << r.error;
}

TEST_F(ExecSessionTest, KilledRankEndsEveryRankInBoundedTime) {
  ASSERT_EQ(model.error, "");
  Plan p = megatron(4);
  using Kind = FaultInjection::Kind;
  for (Kind kind : {Kind::Exit, Kind::Hang, Kind::Error}) {
    SessionOptions o;
    o.run.timeoutSeconds = 2;
    o.run.fault.kind = kind;
    o.run.fault.rank = 1;
    o.run.fault.step = 2;
    auto start = std::chrono::steady_clock::now();
    RunResult r = runSession(p, 4, o);
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    EXPECT_EQ(r.losses.size(), 1u); // step 1 ran, step 2 failed
    EXPECT_NE(r.error, "");
    if (kind == Kind::Error)
      EXPECT_NE(r.error.find("injected error"), std::string::npos) << r.error;
    else
      EXPECT_NE(r.error.find("timed out after 2 s"), std::string::npos) << r.error;
    EXPECT_LT(seconds, 20) << r.error;
  }
}

TEST_F(ExecSessionTest, NpyInputs) {
  ASSERT_EQ(model.error, "");
  // The model's inputs as files: two batches, used in turn.
  std::string d = dir();
  std::map<std::string, std::string> files;
  for (const PlanInput &in : dataParallel(2).inputs) {
    int64_t n = 1;
    for (int64_t s : in.shape)
      n *= s;
    std::vector<int64_t> shape = {2};
    shape.insert(shape.end(), in.shape.begin(), in.shape.end());
    std::vector<float> values(2 * n);
    for (int64_t i = 0; i < 2 * n; ++i)
      values[i] = in.range > 0 ? static_cast<float>((i * 7) % in.range)
                               : std::sin(0.1f * i);
    std::string path = d + "/" + in.name + ".npy";
    ASSERT_EQ(writeNpy(path, shape, values), "");
    files[in.name] = path;
  }
  SessionOptions o;
  o.run.inputFiles = files;
  RunResult one = runSession(plan(singleDeviceStrategy(model.graph), 1), 3, o);
  RunResult two = runSession(dataParallel(2), 3, o);
  RunResult four = runSession(megatron(4), 3, o);
  ASSERT_EQ(one.error, "");
  ASSERT_EQ(two.error, "");
  ASSERT_EQ(four.error, "");
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(two.losses[i], one.losses[i], 1e-5 * std::abs(one.losses[i]));
    EXPECT_NEAR(four.losses[i], one.losses[i], 1e-5 * std::abs(one.losses[i]));
  }
  // Step 3 reads batch 1 again, after the weights moved: not step 1's loss.
  EXPECT_NE(one.losses[2], one.losses[0]);
  // Different from the synthetic batches.
  RunResult synthetic = runSession(dataParallel(2), 1);
  EXPECT_NE(synthetic.losses[0], two.losses[0]);

  // Errors: a wrong shape, an unknown input, a missing file.
  SessionOptions bad;
  bad.run.inputFiles[files.begin()->first] = d + "/missing.npy";
  EXPECT_NE(runSession(dataParallel(2), 1, bad).error.find("cannot open"),
            std::string::npos);
  bad.run.inputFiles.clear();
  bad.run.inputFiles["nope"] = files.begin()->second;
  EXPECT_NE(runSession(dataParallel(2), 1, bad).error.find("no input"),
            std::string::npos);
  ASSERT_EQ(writeNpy(d + "/wrong.npy", {3}, {1, 2, 3}), "");
  bad.run.inputFiles.clear();
  bad.run.inputFiles[files.begin()->first] = d + "/wrong.npy";
  EXPECT_NE(runSession(dataParallel(2), 1, bad).error.find("shape must be"),
            std::string::npos);
}

TEST_F(ExecSessionTest, Errors) {
  ASSERT_EQ(model.error, "");
  Plan p = dataParallel(2);
  SessionOptions o;
  o.ranksAsThreads = 3;
  std::string e;
  EXPECT_FALSE(Session::create(p, o, e));
  EXPECT_NE(e.find("does not match"), std::string::npos) << e;
  o = SessionOptions();
  o.backend = "cuda";
  EXPECT_FALSE(Session::create(p, o, e));
  EXPECT_NE(e.find("--backend cuda"), std::string::npos) << e;
  // An invalid plan is refused with the validator's words.
  Plan broken = p;
  for (PlanTask &t : broken.ranks[0].tasks)
    if (t.type == TaskType::Kernel && !t.inputs.empty()) {
      t.inputs[0] = 12345;
      break;
    }
  EXPECT_FALSE(Session::create(broken, SessionOptions(), e));
  EXPECT_NE(e.find("not executable"), std::string::npos) << e;
}

TEST_F(ExecSessionTest, CApi) {
  ASSERT_EQ(model.error, "");
  std::string d = dir();
  std::string path = d + "/plan.json";
  Plan p = megatron(4);
  ASSERT_EQ(writePlanFile(path, p), "");
  RunResult ref = runSession(p, 3);
  ASSERT_EQ(ref.error, "");
  double last = 0;
  char error[256] = {};
  ASSERT_EQ(soapCApiSmoke(path.c_str(), 3, &last, error, sizeof error), 0)
      << error;
  EXPECT_EQ(last, ref.losses[2]);
  // Errors come back as codes and messages.
  soap_session *s = nullptr;
  EXPECT_EQ(soap_session_create((d + "/missing.json").c_str(), nullptr, &s),
            SOAP_ERROR_PLAN);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(soap_last_error()), "");
  EXPECT_EQ(soap_session_step(nullptr, nullptr), SOAP_ERROR_ARGUMENT);
  // Weights through the C API equal the gathered ones.
  soap_options o;
  soap_options_init(&o);
  ASSERT_EQ(soap_session_create(path.c_str(), &o, &s), SOAP_OK)
      << soap_last_error();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(soap_session_step(s, nullptr), SOAP_OK) << soap_last_error();
  const std::string name = ref.weights.begin()->first;
  std::vector<float> w(soap_session_weight_size(s, name.c_str()));
  ASSERT_EQ(soap_session_get_weight(s, name.c_str(), w.data(),
                                    static_cast<int64_t>(w.size())),
            SOAP_OK);
  EXPECT_EQ(w, ref.weights.begin()->second);
  EXPECT_EQ(soap_session_get_weight(s, name.c_str(), w.data(), 1),
            SOAP_ERROR_ARGUMENT);
  soap_session_destroy(s);
}

} // namespace
