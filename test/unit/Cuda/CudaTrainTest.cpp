//===- CudaTrainTest.cpp - training steps on the GPU vs the CPU -----------===//
//
// test/unit/Cuda/Inputs/block.mlir (embedding, layer norm, matmul, softmax,
// mul, add, linear, gelu, cross-entropy) trained 3 steps on the CPU backend
// (one rank) and on the CUDA backend (one rank; 2 ranks data-parallel,
// Megatron and random strategies as threads: on one GPU their collectives
// go through the host transport, with a GPU per rank through NCCL):
//
//  - f32: losses within 1e-5 relative, every weight within 1e-5 * max|w| +
//    1e-7 (the bounds of test/unit/Exec/ExecSemanticsTest.cpp);
//  - bf16 (GEMM operands rounded to bf16, f32 accumulation, f32 master
//    weights and optimizer states): losses within 2e-2 relative, weights
//    within 1e-2 * max|w| (an update is lr * a gradient with ~1e-2 relative
//    error, small next to the weights).
//
// Also: docs/examples/transformer_block.mlir (attention) on 1 rank and on 2
// Megatron ranks, 2 steps, and the DLRM, GPT and BERT zoo models on 1 and 2
// data-parallel ranks, the CNN example (conv2d, batch norm, pooling) on 1
// and 2 ranks, same bounds; a plan with an op that has no CUDA
// kernel is refused at load time, naming the op; a checkpoint written by the CUDA backend resumes; 2 MPI
// processes with a GPU each (NCCL bootstrapped over MPI) train like one
// CPU device (skipped without mpirun or with fewer than 2 GPUs).
//
// Every test is skipped (reported as skipped) without a CUDA device.
//
//===----------------------------------------------------------------------===//
#include "../Exec/ExecTestUtil.h"
#include "../Plan/PlanTestUtil.h"

#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Cuda/Device.h"
#include "soap/Runtime/Data.h"
#include "soap/Search/Baselines.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

using namespace soap;
using namespace soap::test;

namespace {

class CudaTrainTest : public ::testing::Test {
protected:
  void SetUp() override {
    soap::cpu::setNumThreads(1);
    std::string why;
    devices = static_cast<int>(soap::cuda::listDevices(&why).size());
    if (devices == 0)
      GTEST_SKIP() << "no CUDA device: " << why;
    model = fileModel(context, "test/unit/Cuda/Inputs/block.mlir");
    ASSERT_EQ(model.error, "");
  }

  Plan plan(const Strategy &s, int64_t ranks, const Model &m) {
    Expected<Plan> p = buildPlan(m.graph, s, ranks, m.options);
    EXPECT_TRUE(p) << p.error();
    return p ? *p : Plan();
  }
  Plan single(const Model &m) {
    return plan(singleDeviceStrategy(m.graph), 1, m);
  }
  Plan megatron(const Model &m, int64_t ranks) {
    BaselineOptions bo;
    bo.devicesPerNode = ranks;
    Expected<Strategy> s = makeBaseline("megatron", m.graph, bo);
    EXPECT_TRUE(s) << s.error();
    return s ? plan(*s, ranks, m) : Plan();
  }

  static runtime::SessionOptions cuda(const std::string &precision = "f32") {
    runtime::SessionOptions o;
    o.backend = "cuda";
    o.run.precision = precision;
    o.run.seed = 3;
    return o;
  }
  static runtime::SessionOptions cpu() {
    runtime::SessionOptions o;
    o.run.seed = 3;
    return o;
  }

  /// `got` against `want`: losses within lossTol relative, weights within
  /// weightTol * max|w| + floor.
  static void compare(const RunResult &got, const RunResult &want,
                      const char *what, double lossTol = 1e-5,
                      double weightTol = kRelative, double floor = kAbsolute) {
    ASSERT_EQ(got.error, "");
    ASSERT_EQ(want.error, "");
    ASSERT_EQ(got.losses.size(), want.losses.size());
    double worstLoss = 0, worstWeight = 0;
    for (size_t s = 0; s < want.losses.size(); ++s) {
      double rel = std::abs(got.losses[s] - want.losses[s]) /
                   std::abs(want.losses[s]);
      worstLoss = std::max(worstLoss, rel);
      EXPECT_LE(rel, lossTol) << "step " << s + 1 << ": " << got.losses[s]
                              << " vs " << want.losses[s];
    }
    ASSERT_EQ(got.weights.size(), want.weights.size());
    for (const auto &[name, w] : want.weights) {
      auto it = got.weights.find(name);
      ASSERT_NE(it, got.weights.end()) << name;
      auto [err, scale] = errorAndScale(it->second, w);
      EXPECT_LE(err, weightTol * scale + floor) << name;
      if (scale > 1e-4)
        worstWeight = std::max(worstWeight, err / scale);
    }
    std::printf("[cuda] %-40s loss rel %.2e, weights rel %.2e\n", what,
                worstLoss, worstWeight);
  }

  int devices = 0;
  mlir::MLIRContext context;
  Model model;
};

TEST_F(CudaTrainTest, OneDeviceSgdMatchesCpu) {
  Plan p = single(model);
  compare(runSession(p, 3, cuda()), runSession(p, 3, cpu()), "1 rank, SGD");
}

TEST_F(CudaTrainTest, OneDeviceAdamMatchesCpu) {
  Model m = model;
  m.options.optimizer.kind = OptimizerSettings::Kind::Adam;
  m.options.optimizer.lr = 1e-3;
  m.options.optimizer.weightDecay = 0.01;
  m.options.optimizer.decoupled = true;
  Plan p = single(m);
  compare(runSession(p, 3, cuda()), runSession(p, 3, cpu()), "1 rank, AdamW");
}

TEST_F(CudaTrainTest, StrategiesOnTwoRanksMatchOneCpuDevice) {
  RunResult ref = runSession(single(model), 3, cpu());
  ASSERT_EQ(ref.error, "");
  compare(runSession(plan(dataParallelStrategy(model.graph, 2), 2, model), 3,
                     cuda()),
          ref, "2 ranks, data parallel");
  compare(runSession(megatron(model, 2), 3, cuda()), ref, "2 ranks, megatron");
  for (int seed = 1; seed <= 3; ++seed) {
    std::mt19937 rng(900 + seed);
    Plan p = plan(randomStrategy(model.graph, 2, rng), 2, model);
    compare(runSession(p, 3, cuda()), ref,
            ("2 ranks, random " + std::to_string(seed)).c_str());
  }
}

TEST_F(CudaTrainTest, TransformerBlockMatchesCpu) {
  // docs/examples/transformer_block.mlir: causal multi-head attention, layer
  // norms, GELU MLP, cross-entropy over a 1000-word vocabulary.
  mlir::MLIRContext ctx;
  Model tb = fileModel(ctx, "docs/examples/transformer_block.mlir");
  ASSERT_EQ(tb.error, "");
  RunResult ref = runSession(single(tb), 2, cpu());
  compare(runSession(single(tb), 2, cuda()), ref,
          "transformer block, 1 rank");
  compare(runSession(megatron(tb, 2), 2, cuda()), ref,
          "transformer block, 2 ranks megatron");
}

TEST_F(CudaTrainTest, ZooModelsMatchCpu) {
  // DLRM (embeddings, MLPs, concat, batched matmul interaction, slice,
  // sigmoid, MSE), GPT (dropout, attention) and BERT: one GPU rank and 2
  // data-parallel GPU ranks against one CPU device.
  struct Zoo {
    const char *name;
    std::vector<std::pair<const char *, const char *>> options;
  };
  for (const Zoo &z : std::vector<Zoo>{
           {"dlrm",
            {{"batch", "8"}, {"bottom-mlp", "13-16-8"}, {"top-mlp", "16-1"},
             {"emb-dim", "8"}, {"table-sizes", "10-20-30"}}},
           {"gpt",
            {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
             {"vocab", "64"}, {"batch", "4"}}},
           {"bert-base",
            {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
             {"vocab", "64"}, {"max-positions", "16"}, {"batch", "4"}}}}) {
    SCOPED_TRACE(z.name);
    mlir::MLIRContext ctx;
    Model m = zooModel(ctx, z.name, z.options);
    ASSERT_EQ(m.error, "");
    RunResult ref = runSession(single(m), 3, cpu());
    compare(runSession(single(m), 3, cuda()), ref,
            (std::string(z.name) + ", 1 rank").c_str());
    compare(runSession(plan(dataParallelStrategy(m.graph, 2), 2, m), 3, cuda()),
            ref, (std::string(z.name) + ", 2 ranks data parallel").c_str());
  }
}

TEST_F(CudaTrainTest, Bf16StaysCloseToF32) {
  Plan p = single(model);
  compare(runSession(p, 3, cuda("bf16")), runSession(p, 3, cpu()),
          "1 rank, bf16 GEMMs", 2e-2, 1e-2, 1e-5);
}

TEST_F(CudaTrainTest, CnnMatchesCpu) {
  // docs/examples/cnn.mlir: conv2d, batch norm (phased statistics), relu,
  // max pooling, flatten, linear, cross-entropy; 1 rank and 2 data-parallel
  // ranks (batch-norm statistics all-reduced) against one CPU device.
  mlir::MLIRContext ctx;
  Model cnn = fileModel(ctx, "docs/examples/cnn.mlir");
  ASSERT_EQ(cnn.error, "");
  RunResult ref = runSession(single(cnn), 3, cpu());
  compare(runSession(single(cnn), 3, cuda()), ref, "cnn, 1 rank");
  compare(runSession(plan(dataParallelStrategy(cnn.graph, 2), 2, cnn), 3,
                     cuda()),
          ref, "cnn, 2 ranks data parallel");
}

TEST_F(CudaTrainTest, OpWithoutCudaKernelIsRefusedAtLoad) {
  mlir::MLIRContext ctx;
  Model rnn = zooModel(ctx, "rnntc",
                       {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"},
                        {"embed", "8"}, {"hidden", "8"}, {"layers", "1"}});
  ASSERT_EQ(rnn.error, "");
  RunResult r = runSession(single(rnn), 1, cuda());
  EXPECT_NE(r.error.find("no CUDA kernel for 'lstm'"), std::string::npos)
      << r.error;
}

TEST_F(CudaTrainTest, CheckpointOfTheGpuResumes) {
  char tmpl[] = "/tmp/soap-cuda-ckpt-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Plan p = plan(dataParallelStrategy(model.graph, 2), 2, model);
  RunResult whole = runSession(p, 3, cuda());
  runtime::SessionOptions o = cuda();
  o.checkpointDir = dir;
  o.checkpointEvery = 2;
  RunResult first = runSession(p, 2, o);
  ASSERT_EQ(first.error, "");
  o.resume = true;
  RunResult rest = runSession(p, 3, o);
  ASSERT_EQ(rest.error, "");
  ASSERT_EQ(rest.losses.size(), 1u);
  first.losses.push_back(rest.losses[0]);
  first.weights = rest.weights;
  // Same kernels, same order: equal up to cuBLAS's own reproducibility.
  compare(first, whole, "resume after 2 steps", 1e-6, 1e-6, 1e-8);
  std::system(("rm -rf " + dir).c_str());
}

TEST_F(CudaTrainTest, MpiProcessesWithNcclMatchOneCpuDevice) {
  if (devices < 2)
    GTEST_SKIP() << "needs 2 GPUs (one per MPI process), found " << devices;
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun is not installed";
  char tmpl[] = "/tmp/soap-cuda-mpi-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  RunResult ref = runSession(single(model), 3, cpu());
  Plan p = plan(dataParallelStrategy(model.graph, 2), 2, model);
  std::string path = dir + "/dp.json";
  ASSERT_EQ(writePlanFile(path, p), "");
  std::string cmd =
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "mpirun -np 2 " +
      std::string(SOAP_RUN) + " " + path +
      " --backend cuda --seed 3 --timeout 60 --print-loss --steps 3 "
      "--dump-weights " +
      dir + "/w > " + dir + "/out 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(dir + "/out");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_EQ(rc, 0) << ss.str();
  RunResult r;
  std::string line;
  std::istringstream lines(ss.str());
  while (std::getline(lines, line)) {
    long long s;
    double loss;
    if (std::sscanf(line.c_str(), "step %lld loss %lf", &s, &loss) == 2)
      r.losses.push_back(loss);
  }
  for (const PlanWeight &w : p.weights) {
    runtime::NpyArray a;
    ASSERT_EQ(a.open(dir + "/w/" + w.name + ".npy"), "");
    std::vector<float> &v = r.weights[w.name];
    for (int64_t i = 0; i < a.numElements(); ++i)
      v.push_back(static_cast<float>(a.at(i)));
  }
  compare(r, ref, "2 MPI processes, NCCL, data parallel");
  std::system(("rm -rf " + dir).c_str());
}

} // namespace
