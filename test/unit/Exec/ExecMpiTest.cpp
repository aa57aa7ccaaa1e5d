//===- ExecMpiTest.cpp - random strategies on MPI ranks -------------------===//
//
// Random strategies of GPT and the CNN on 2 and 4 MPI processes (`mpirun
// --oversubscribe soap-run`), and a GPT pipeline (2 stages of 2 processes,
// 4 micro-batches, 1F1B), train like one device: the losses within 1e-5
// and the weights (soap-run --dump-weights) within 1e-5 * max|w| + 1e-7.
// Skipped where mpirun is not installed.
//
//===----------------------------------------------------------------------===//
#include "ExecTestUtil.h"

#include "../Plan/PlanTestUtil.h"

#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Data.h"
#include "soap/Search/Baselines.h"
#include "soap/Simulator/Pipeline.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace soap;
using namespace soap::test;

namespace {

class ExecMpiTest : public ::testing::Test {
protected:
  ExecMpiTest() { soap::cpu::setNumThreads(1); }
  ~ExecMpiTest() override {
    if (!dir.empty())
      std::system(("rm -rf " + dir).c_str());
  }

  void SetUp() override {
    if (std::system("command -v mpirun > /dev/null 2>&1") != 0)
      GTEST_SKIP() << "mpirun is not installed";
    char tmpl[] = "/tmp/soap-exec-mpi-XXXXXX";
    dir = mkdtemp(tmpl);
  }

  /// Runs `plan` on its ranks as MPI processes for `steps` steps.
  RunResult mpiRun(const Plan &plan, int steps, const std::string &name,
                   const std::string &extra) {
    RunResult r;
    std::string path = dir + "/" + name + ".json", weights = dir + "/" + name;
    r.error = writePlanFile(path, plan);
    if (!r.error.empty())
      return r;
    std::string cmd =
        "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
        "mpirun --oversubscribe -np " +
        std::to_string(plan.numRanks) + " " + SOAP_RUN + " " + path +
        " --timeout 30 --print-loss --steps " + std::to_string(steps) +
        " --dump-weights " + weights + " " + extra + " > " + weights +
        ".out 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(weights + ".out");
      std::stringstream ss;
      ss << in.rdbuf();
      r.error = "mpirun failed: " + ss.str();
      return r;
    }
    std::ifstream in(weights + ".out");
    std::string line;
    while (std::getline(in, line)) {
      long long s;
      double loss;
      if (std::sscanf(line.c_str(), "step %lld loss %lf", &s, &loss) == 2)
        r.losses.push_back(loss);
    }
    for (const PlanWeight &w : plan.weights) {
      runtime::NpyArray a;
      r.error = a.open(weights + "/" + w.name + ".npy");
      if (!r.error.empty())
        return r;
      std::vector<float> &v = r.weights[w.name];
      for (int64_t i = 0; i < a.numElements(); ++i)
        v.push_back(static_cast<float>(a.at(i)));
    }
    return r;
  }

  /// `strategy` on `ranks` MPI processes against `ref` (one device).
  void checkOne(const std::string &model, const Model &m, const RunResult &ref,
                runtime::SessionOptions session, const Strategy &strategy,
                int64_t ranks, const std::string &what) {
    SCOPED_TRACE(what + " on " + std::to_string(ranks));
    Expected<Plan> p = buildPlan(m.graph, strategy, ranks, m.options);
    ASSERT_TRUE(p) << p.error();
    std::string name;
    for (char c : what + std::to_string(ranks))
      name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    RunResult r =
        mpiRun(*p, 3, name, "--seed " + std::to_string(session.run.seed));
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.losses.size(), 3u);
    double worstLoss = 0, worstWeight = 0;
    for (size_t s = 0; s < 3; ++s) {
      double rel = std::abs(r.losses[s] - ref.losses[s]) /
                   std::abs(ref.losses[s]);
      worstLoss = std::max(worstLoss, rel);
      EXPECT_LE(rel, 1e-5) << "step " << s + 1;
    }
    worstWeight =
        std::max(worstWeight, expectWeightsAgree(r.weights, ref.weights));
    std::printf("[mpi] %-5s %s on %lld MPI ranks: loss rel %.2e, "
                "weights rel %.2e\n",
                model.c_str(), what.c_str(), static_cast<long long>(ranks),
                worstLoss, worstWeight);
  }

  RunResult reference(const Model &m, runtime::SessionOptions session) {
    Expected<Plan> one =
        buildPlan(m.graph, singleDeviceStrategy(m.graph), 1, m.options);
    EXPECT_TRUE(one) << one.error();
    return one ? runSession(*one, 3, session) : RunResult{"no plan", {}, {}};
  }

  void check(const std::string &model, const Model &m,
             runtime::SessionOptions session) {
    ASSERT_EQ(m.error, "");
    RunResult ref = reference(m, session);
    ASSERT_EQ(ref.error, "");
    for (int64_t ranks : {2, 4})
      for (int seed = 1; seed <= 2; ++seed) {
        std::mt19937 rng(7000 * ranks + seed);
        checkOne(model, m, ref, session, randomStrategy(m.graph, ranks, rng),
                 ranks, "random " + std::to_string(seed));
      }
  }

  std::string dir;
  mlir::MLIRContext context;
};

TEST_F(ExecMpiTest, GptRandomStrategies) {
  check("gpt",
        zooModel(context, "gpt",
                 {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"},
                  {"seq", "8"}, {"vocab", "64"}, {"batch", "4"}}),
        {});
}

TEST_F(ExecMpiTest, GptZeroOffloadRecompute) {
  // Issue 8 on MPI processes: ZeRO-3 with offload and every op recomputed,
  // data-parallel on 2 ranks and Megatron-style on 4.
  Model m = zooModel(context, "gpt",
                     {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"},
                      {"seq", "8"}, {"vocab", "64"}, {"batch", "4"}});
  ASSERT_EQ(m.error, "");
  Expected<Plan> one =
      buildPlan(m.graph, singleDeviceStrategy(m.graph), 1, m.options);
  ASSERT_TRUE(one) << one.error();
  RunResult ref = runSession(*one, 3);
  ASSERT_EQ(ref.error, "");
  for (int64_t ranks : {2, 4}) {
    SCOPED_TRACE(ranks);
    BaselineOptions bo;
    bo.devicesPerNode = ranks;
    Expected<Strategy> s = ranks == 2 ? Expected<Strategy>(dataParallelStrategy(
                                            m.graph, ranks))
                                      : makeBaseline("megatron", m.graph, bo);
    ASSERT_TRUE(s) << s.error();
    s->training.zeroStage = 3;
    s->training.offloadOptimizer = true;
    s->training.recompute.assign(m.graph.ops.size(), 1);
    Expected<Plan> p = buildPlan(m.graph, *s, ranks, m.options);
    ASSERT_TRUE(p) << p.error();
    RunResult r = mpiRun(*p, 3, "zero" + std::to_string(ranks), "");
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.losses.size(), 3u);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_LE(std::abs(r.losses[i] - ref.losses[i]) / std::abs(ref.losses[i]),
                1e-5)
          << "step " << i + 1;
    expectWeightsAgree(r.weights, ref.weights);
  }
}

TEST_F(ExecMpiTest, GptPipeline) {
  // Two stages of two processes (data-parallel inside), 4 micro-batches,
  // 1F1B: stage-to-stage sends between processes.
  Model m = zooModel(context, "gpt",
                     {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"},
                      {"seq", "8"}, {"vocab", "64"}, {"batch", "8"}});
  ASSERT_EQ(m.error, "");
  RunResult ref = reference(m, {});
  ASSERT_EQ(ref.error, "");
  const int n = static_cast<int>(m.graph.ops.size());
  std::vector<int> cuts = layerBoundaries(m.graph);
  ASSERT_FALSE(cuts.empty());
  int cut = cuts[cuts.size() / 2];
  Strategy s = dataParallelStrategy(m.graph, 2);
  for (int i = cut; i < n; ++i)
    s.configs[i].start += 2;
  s.training.stages = {{0, cut - 1, 0, 2}, {cut, n - 1, 2, 2}};
  s.training.microBatches = 4;
  s.training.schedule = PipelineSchedule::OneFOneB;
  checkOne("gpt", m, ref, {}, s, 4, "pipeline 2x2 1f1b m4");
}

TEST_F(ExecMpiTest, CnnRandomStrategies) {
  // Seed 1: see ExecSemanticsTest.Cnn (seed 0 has a max-pooling near-tie).
  runtime::SessionOptions o;
  o.run.seed = 1;
  check("cnn", fileModel(context, "docs/examples/cnn.mlir"), o);
}

} // namespace
