//===- ExecSemanticsTest.cpp - every strategy trains like one device ------===//
//
// The runtime's semantic check (issue 7): a model's plan on 2 and 4 ranks
// (threads), under data parallelism, the Megatron baseline, the strategy
// soapc's search finds and random strategies, trained for a few steps from the same seeded weights and
// batches, gives the losses and the weights of the single-device plan within
// 1e-5 relative (fp32; weights compared as max |a - b| / max |b| per
// tensor, after gathering their shards). The same for pipelines (issue 8):
// 2 and 4 stages of 1 or 2 devices (data-parallel or Megatron inside),
// 1, 2 and 4 micro-batches, GPipe and 1F1B, and micro-batches without
// stages (gradient accumulation).
//
//===----------------------------------------------------------------------===//
#include "ExecTestUtil.h"

#include "../Plan/PlanTestUtil.h"

#include "soap/Driver/Compile.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Search/Baselines.h"
#include "soap/Simulator/Pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace soap;
using namespace soap::test;

namespace {

constexpr int kSteps = 3;
constexpr double kTolerance = 1e-5;

class ExecSemanticsTest : public ::testing::Test {
protected:
  ExecSemanticsTest() { soap::cpu::setNumThreads(1); }

  /// Trains `strategy` on `ranks` ranks and compares with the reference.
  void compare(const Model &m, const RunResult &ref, const Strategy &strategy,
               int64_t ranks, const std::string &what) {
    SCOPED_TRACE(what);
    Expected<Plan> plan = buildPlan(m.graph, strategy, ranks, m.options);
    ASSERT_TRUE(plan) << plan.error();
    RunResult r = runSession(*plan, steps, session);
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.losses.size(), ref.losses.size());
    double worstLoss = 0, worstWeight = 0;
    std::string worstName;
    for (size_t s = 0; s < r.losses.size(); ++s) {
      double rel = std::abs(r.losses[s] - ref.losses[s]) /
                   std::max(1e-30, std::abs(ref.losses[s]));
      worstLoss = std::max(worstLoss, rel);
      EXPECT_LE(rel, lossTolerance) << "loss of step " << s + 1 << ": "
                                 << r.losses[s] << " vs " << ref.losses[s];
    }
    ASSERT_EQ(r.weights.size(), ref.weights.size());
    double worstNoise = 0;
    for (const auto &[name, w] : ref.weights) {
      std::vector<float> a = r.weights[name], b = w;
      if (updateTolerance > 0) // compare the updates w - w0
        for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
          a[i] -= start.weights[name][i];
          b[i] -= start.weights[name][i];
        }
      auto [err, scale] = errorAndScale(a, b);
      double tol = updateTolerance > 0 ? updateTolerance : kRelative;
      EXPECT_LE(err, tol * scale + kAbsolute)
          << (updateTolerance > 0 ? "update of " : "weight ") << name
          << " (largest element " << scale << ")";
      if (scale < 1e-4) {
        worstNoise = std::max(worstNoise, err); // a zero-gradient tensor
        continue;
      }
      if (err / scale > worstWeight) {
        worstWeight = err / scale;
        worstName = name;
      }
    }
    char noise[64] = "";
    if (worstNoise > 0)
      std::snprintf(noise, sizeof noise, "  zero-gradient tensors abs %.1e",
                    worstNoise);
    std::printf("[semantics] %-16s %-14s ranks %lld  loss rel %.2e  %s "
                "rel %.2e (%s)%s\n",
                model.c_str(), what.c_str(), static_cast<long long>(ranks),
                worstLoss, updateTolerance > 0 ? "updates" : "weights",
                worstWeight, worstName.c_str(), noise);
    std::fflush(stdout);
  }

  /// Data parallel and Megatron on 2 and 4 ranks, `seeds` random strategies
  /// on 2 and 4.
  /// The single-device run of `steps` steps; sets `start`.
  RunResult reference(const Model &m) {
    Expected<Plan> one =
        buildPlan(m.graph, singleDeviceStrategy(m.graph), 1, m.options);
    if (!one)
      return RunResult{"single device: " + one.error(), {}, {}};
    start = runSession(*one, 0, session);
    return runSession(*one, steps, session);
  }

  void compareAll(const Model &m, int seeds) {
    ASSERT_EQ(m.error, "") << m.error;
    RunResult ref = reference(m);
    ASSERT_EQ(ref.error, "");
    ASSERT_EQ(start.error, "");
    for (double l : ref.losses)
      ASSERT_TRUE(std::isfinite(l));
    // Training moves the weights: the comparison is not vacuous.
    double moved = 0;
    for (const auto &[name, w] : ref.weights)
      moved = std::max(moved, relativeError(start.weights[name], w));
    EXPECT_GT(moved, 1e-4);

    for (int64_t ranks : {2, 4}) {
      compare(m, ref, dataParallelStrategy(m.graph, ranks), ranks,
              "data-parallel");
      BaselineOptions bo;
      bo.nodes = 1;
      bo.devicesPerNode = ranks;
      Expected<Strategy> megatron = makeBaseline("megatron", m.graph, bo);
      if (megatron)
        compare(m, ref, *megatron, ranks, "megatron");
      // soapc's search on a node of `ranks` (slow) P100s.
      Expected<Strategy> searched = searchedStrategy(m.graph, ranks);
      ASSERT_TRUE(searched) << searched.error();
      int split = 0;
      for (const ParallelConfig &c : searched->configs)
        split += c.numDevices() > 1;
      if (searchSplits)
        EXPECT_GT(split, 0) << "the searched strategy should split some op";
      compare(m, ref, *searched, ranks, "searched");
      for (int seed = 1; seed <= seeds; ++seed) {
        std::mt19937 rng(1000 * ranks + seed);
        compare(m, ref, randomStrategy(m.graph, ranks, rng), ranks,
                "random " + std::to_string(seed));
      }
    }
  }

  /// Pipelines of `m`'s ops: `stages` stages of `perStage` devices each,
  /// every op placed by `inner`'s config (a strategy on `perStage` devices)
  /// on its stage's devices.
  static Strategy pipelined(const OpGraph &g, const Strategy &inner,
                            int stages, int64_t perStage, int64_t micro,
                            PipelineSchedule schedule) {
    const int n = static_cast<int>(g.ops.size());
    // Cuts at layer boundaries (one tensor crosses) nearest to equal
    // numbers of ops.
    std::vector<int> cuts = layerBoundaries(g);
    Strategy s = inner;
    int first = 0;
    for (int st = 0; st < stages; ++st) {
      int last = n - 1;
      if (st + 1 < stages) {
        int want = n * (st + 1) / stages, best = -1;
        for (int c : cuts)
          if (c > first && (best < 0 || std::abs(c - want) < std::abs(best - want)))
            best = c;
        last = (best > first ? best : std::max(first + 1, want)) - 1;
      }
      s.training.stages.push_back({first, last, st * perStage, perStage});
      for (int i = first; i <= last; ++i)
        s.configs[i].start += st * perStage;
      first = last + 1;
    }
    s.training.microBatches = micro;
    s.training.schedule = schedule;
    return s;
  }

  /// The pipelines above (micro-batches 1, 2, 4; GPipe and 1F1B) on 2
  /// stages of 1 device, 2 stages of 2 (data-parallel and Megatron inside)
  /// and 4 of 1; micro-batches without stages on 1 and 2 devices.
  void comparePipelines(const Model &m, std::vector<int64_t> micros) {
    ASSERT_EQ(m.error, "") << m.error;
    RunResult ref = reference(m);
    ASSERT_EQ(ref.error, "");
    ASSERT_EQ(start.error, "");
    const Strategy single = singleDeviceStrategy(m.graph);
    BaselineOptions bo;
    bo.nodes = 1;
    bo.devicesPerNode = 2;
    Expected<Strategy> megatron = makeBaseline("megatron", m.graph, bo);
    for (int64_t micro : micros)
      for (PipelineSchedule sched :
           {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB}) {
        std::string tag = std::string(toString(sched)) + " m" +
                          std::to_string(micro);
        compare(m, ref, pipelined(m.graph, single, 2, 1, micro, sched), 2,
                "2x1 " + tag);
        compare(m, ref,
                pipelined(m.graph, dataParallelStrategy(m.graph, 2), 2, 2,
                          micro, sched),
                4, "2x2 dp " + tag);
        if (megatron)
          compare(m, ref, pipelined(m.graph, *megatron, 2, 2, micro, sched), 4,
                  "2x2 megatron " + tag);
        if (static_cast<int>(m.graph.ops.size()) >= 8)
          compare(m, ref, pipelined(m.graph, single, 4, 1, micro, sched), 4,
                  "4x1 " + tag);
        if (micro == 1)
          continue;
        // Gradient accumulation: one stage.
        Strategy acc = dataParallelStrategy(m.graph, 2);
        acc.training.microBatches = micro;
        acc.training.schedule = sched;
        compare(m, ref, acc, 2, "dp accumulate " + tag);
      }
  }

  void zoo(const char *name,
           std::vector<std::pair<const char *, const char *>> opts, int seeds) {
    model = name;
    SCOPED_TRACE(name);
    compareAll(zooModel(context, name, opts), seeds);
  }

  std::string model;
  /// The run's options (its seed).
  runtime::SessionOptions session;
  int steps = kSteps;
  /// The search finds a strategy that splits some op (the LSTM models' stay
  /// on one device on this machine; their random strategies split).
  bool searchSplits = true;
  /// > 0: compare the weight updates (w - w0) within this relative
  /// tolerance instead of the weights within kRelative.
  double updateTolerance = 0;
  /// The losses' relative tolerance.
  double lossTolerance = kTolerance;
  /// The initial weights.
  RunResult start;
  mlir::MLIRContext context;
};

TEST_F(ExecSemanticsTest, Cnn) {
  model = "cnn";
  // Seed 0 puts two inputs of one max-pooling window of pool2 within
  // rounding of each other: any change of summation order (every strategy
  // but data parallelism) routes that window's gradient to the other
  // element, a legitimate difference of ~1e-3 in conv2.weight (DISABLED_Bisect
  // shows it for every config that touches conv2's inputs; seeds 1-3 agree
  // within 2e-6). Seed 1 keeps the comparison about the runtime.
  session.run.seed = 1;
  compareAll(fileModel(context, "docs/examples/cnn.mlir"), 3);
}

TEST_F(ExecSemanticsTest, Mlp) {
  // DLRM: bottom and top MLPs, embedding tables, feature interaction.
  zoo("dlrm",
      {{"batch", "8"}, {"bottom-mlp", "13-16-8"}, {"top-mlp", "16-1"},
       {"emb-dim", "8"}, {"table-sizes", "10-20-30"}},
      3);
}

TEST_F(ExecSemanticsTest, BooleanMasks) {
  // Comparisons, logical ops, a dropout mask and a boolean constant mask the
  // hidden layer: i1 buffers resharded between strategies, no backward
  // through the masks, the same dropout mask on every sharding.
  model = "masked_mlp";
  compareAll(fileModel(context, "test/unit/Exec/Inputs/masked_mlp.mlir"), 3);
}

TEST_F(ExecSemanticsTest, MaxPoolIndicesAreGlobalOnEveryShard) {
  // A forward plan on 1 rank, and on 4 with the indices split along batch
  // and channels (2 x 2), along channels only, and under data parallelism:
  // every shard numbers the elements of the whole input.
  Model m = fileModel(context, "test/unit/Exec/Inputs/pool_indices.mlir");
  ASSERT_EQ(m.error, "");
  m.options.forwardOnly = true;
  auto outputs = [&](const Strategy &strategy, int64_t ranks) {
    std::map<std::string, std::vector<double>> byOp;
    Expected<Plan> plan = buildPlan(m.graph, strategy, ranks, m.options);
    EXPECT_TRUE(plan) << plan.error();
    if (!plan)
      return byOp;
    runtime::SessionOptions so;
    so.launch = "threads";
    std::string error;
    auto s = runtime::Session::create(*plan, so, error);
    EXPECT_TRUE(s) << error;
    if (!s)
      return byOp;
    EXPECT_EQ(s->step(nullptr), "");
    std::vector<runtime::OutputTensor> outs;
    EXPECT_EQ(s->gatherOutputs(outs), "");
    for (const runtime::OutputTensor &o : outs)
      byOp[o.op] = o.values;
    return byOp;
  };
  auto one = outputs(singleDeviceStrategy(m.graph), 1);
  ASSERT_EQ(one["indices"].size(), 4u * 6 * 4 * 4);
  // Each index lies in its own (n, c) plane of 7 x 7 elements.
  for (size_t k = 0; k < one["indices"].size(); ++k)
    ASSERT_EQ(static_cast<int64_t>(one["indices"][k]) / 49,
              static_cast<int64_t>(k / 16))
        << k;
  Strategy both = singleDeviceStrategy(m.graph);
  both.configs[1] = ParallelConfig{{{"batch", 2}, {"c", 2}}, 0, {}};
  Strategy channels = singleDeviceStrategy(m.graph);
  channels.configs[1] = ParallelConfig{{{"c", 2}}, 2, {}};
  for (const Strategy &s :
       {both, channels, dataParallelStrategy(m.graph, 4)}) {
    auto split = outputs(s, 4);
    EXPECT_EQ(split["indices"], one["indices"]);
    EXPECT_EQ(split["pool"], one["pool"]);
  }
}

TEST_F(ExecSemanticsTest, Gpt) {
  zoo("gpt",
      {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
       {"vocab", "64"}, {"batch", "4"}},
      3);
}

TEST_F(ExecSemanticsTest, Lstm) {
  searchSplits = false;
  zoo("rnntc",
      {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"}, {"embed", "8"},
       {"hidden", "8"}, {"layers", "2"}},
      2);
}

TEST_F(ExecSemanticsTest, MixtureOfExperts) {
  zoo("moe-transformer",
      {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
       {"vocab", "64"}, {"batch", "4"}, {"experts", "4"}},
      2);
}

TEST_F(ExecSemanticsTest, Bert) {
  zoo("bert-base",
      {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
       {"vocab", "64"}, {"max-positions", "16"}, {"batch", "4"}},
      2);
}

TEST_F(ExecSemanticsTest, Rnnlm) {
  searchSplits = false;
  zoo("rnnlm",
      {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"}, {"embed", "8"},
       {"hidden", "8"}, {"layers", "2"}},
      1);
}

// Not here: AlexNet and VGG (their classifiers expect 224-pixel images:
// too slow for this test), Inception-v3 (max-pooling windows of ReLU
// outputs near zero: reassociation flips which element wins, so updates
// differ by a few percent; test/unit/Plan/PlanExecutionTest.cpp checks it
// in L2).
TEST_F(ExecSemanticsTest, Nmt) {
  searchSplits = false;
  zoo("nmt",
      {{"batch", "4"}, {"seq", "3"}, {"src-vocab", "50"}, {"tgt-vocab", "40"},
       {"embed", "8"}, {"hidden", "8"}, {"layers", "1"}},
      1);
}

TEST_F(ExecSemanticsTest, ResNet) {
  // A deep batch-norm network on 4 samples: the gradient of a batch-norm
  // bias is a sum over the batch with heavy cancellation, and data
  // parallelism rounds each rank's partial sum to f32 before the
  // all-reduce (as any f32 runtime does), so those updates agree to ~1e-4 of
  // their size, not 1e-5, and steps with lr 0.1 amplify it. One step, the
  // updates compared within 1e-3 (the loss still within 1e-5).
  steps = 1;
  updateTolerance = 1e-3;
  zoo("resnet",
      {{"depth", "18"}, {"batch", "4"}, {"image-size", "32"}, {"classes", "10"}},
      1);
}

// FlexFlow's image benchmarks and the other torchvision classifiers, in
// small configurations of the same architectures (--width-divisor 16: every
// layer's channels and hidden widths divided by 16).
TEST_F(ExecSemanticsTest, AlexNet) {
  // 224x224 is the smallest input whose features pool to 6x6.
  zoo("alexnet", {{"batch", "4"}, {"image-size", "224"}, {"classes", "10"},
                  {"width-divisor", "16"}},
      1);
}

TEST_F(ExecSemanticsTest, Vgg) {
  zoo("vgg", {{"depth", "11"}, {"batch", "4"}, {"image-size", "224"},
              {"classes", "10"}, {"width-divisor", "16"}},
      1);
}

// Batch norm: as for ResNet, one step with the updates compared within
// 1e-3 (measured: within 1e-4).
TEST_F(ExecSemanticsTest, InceptionV3) {
  steps = 1;
  updateTolerance = 1e-3;
  zoo("inception-v3", {{"batch", "4"}, {"image-size", "139"}, {"classes", "10"},
                       {"width-divisor", "16"}},
      1);
}

// Some fifty batch-norm layers of 4 to 128 channels: one step, the updates
// within 1e-3, and the forward losses within 1e-4 (the searched strategy's
// differ by 1.0e-5 to 1.1e-5: each layer's rounding, renormalized by the
// next batch norm). Random strategies are left out: on 4 ranks (128x128)
// seed 1's moves layer3.5.conv2's update by 5.0e-2 of its size. It is one
// discrete event, not accumulated rounding: applying the strategy's configs
// op by op (DISABLED_Bisect, SOAP_BISECT_PREFIX=1 SOAP_BISECT_STEPS=1), the
// error is 8.7e-5 up to layer1.0.bn3, jumps to exactly 5.03e-2 with
// layer1.0.downsample.0's 4-way input-channel split (another summation
// order of its 4 channels) and stays at that value through the remaining
// 160 ops: a ReLU input crossing zero downstream.
TEST_F(ExecSemanticsTest, WideResNet) {
  steps = 1;
  updateTolerance = 1e-3;
  lossTolerance = 1e-4;
  zoo("wide-resnet", {{"batch", "4"}, {"image-size", "64"}, {"classes", "10"},
                      {"width-divisor", "16"}},
      0);
}

TEST_F(ExecSemanticsTest, PipelineGpt) {
  model = "gpt";
  // Dropout on (its mask is a function of global indices, so every
  // micro-batch draws the single-device mask's slice).
  comparePipelines(zooModel(context, "gpt",
                            {{"layers", "4"}, {"hidden", "16"}, {"heads", "4"},
                             {"seq", "8"}, {"vocab", "64"}, {"batch", "8"},
                             {"dropout", "0.1"}}),
                   {1, 2, 4});
}

TEST_F(ExecSemanticsTest, PipelineBert) {
  // Its loss is the sum of two losses (masked LM and next sentence): each
  // micro-batch adds its parts, and the sum of the sums is the step's.
  model = "bert";
  comparePipelines(zooModel(context, "bert-base",
                            {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"},
                             {"seq", "8"}, {"vocab", "64"},
                             {"max-positions", "16"}, {"batch", "8"}}),
                   {1, 2, 4});
}

TEST_F(ExecSemanticsTest, PipelineMlp) {
  model = "mlp";
  comparePipelines(fileModel(context, "test/unit/Exec/mlp.mlir"), {1, 2, 4});
}

TEST_F(ExecSemanticsTest, PipelineWithMemoryOptions) {
  // Pipelines together with ZeRO 1-3, optimizer offload and recomputation
  // (what the search picks at scale): 2 stages of 2 devices, data-parallel
  // and Megatron inside, 2 and 4 micro-batches, both schedules.
  for (const char *name : {"gpt", "mlp"}) {
    model = name;
    SCOPED_TRACE(name);
    Model m = model == "gpt"
                  ? zooModel(context, "gpt",
                             {{"layers", "4"}, {"hidden", "16"}, {"heads", "4"},
                              {"seq", "8"}, {"vocab", "64"}, {"batch", "8"},
                              {"dropout", "0.1"}})
                  : fileModel(context, "test/unit/Exec/mlp.mlir");
    ASSERT_EQ(m.error, "") << m.error;
    RunResult ref = reference(m);
    ASSERT_EQ(ref.error, "");
    BaselineOptions bo;
    bo.nodes = 1;
    bo.devicesPerNode = 2;
    Expected<Strategy> megatron = makeBaseline("megatron", m.graph, bo);
    ASSERT_TRUE(megatron) << megatron.error();
    const std::vector<char> layers = recomputeLayers(m.graph);
    for (int64_t micro : {2, 4})
      for (PipelineSchedule sched :
           {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB})
        for (int option = 0; option < 5; ++option) {
          const bool dp = (option + micro) % 2 == 0;
          Strategy s = pipelined(
              m.graph, dp ? dataParallelStrategy(m.graph, 2) : *megatron, 2, 2,
              micro, sched);
          std::string tag = std::string(dp ? "dp " : "megatron ") +
                            toString(sched) + " m" + std::to_string(micro);
          if (option == 0) {
            s.training.zeroStage = 1;
            tag += " zero1";
          } else if (option == 1) {
            s.training.zeroStage = 2;
            s.training.offloadOptimizer = true;
            tag += " zero2 offload";
          } else if (option == 2) {
            s.training.zeroStage = 3;
            tag += " zero3";
          } else if (option == 3) {
            s.training.recompute = layers;
            tag += " recompute";
          } else {
            s.training.zeroStage = 1;
            s.training.recompute = layers;
            tag += " zero1 recompute";
          }
          // The plan realizes the options: ZeRO parts, recomputation tasks.
          Expected<Plan> plan = buildPlan(m.graph, s, 4, m.options);
          ASSERT_TRUE(plan) << tag << ": " << plan.error();
          bool parts = false, recomputed = false;
          for (const RankPlan &r : plan->ranks) {
            for (const PlanBuffer &b : r.buffers)
              parts |= b.part.has_value();
            for (const PlanTask &t : r.tasks)
              recomputed |= t.stage == "recompute";
          }
          EXPECT_EQ(parts, s.training.zeroStage > 0) << tag;
          EXPECT_EQ(recomputed, s.training.anyRecompute()) << tag;
          compare(m, ref, s, 4, tag);
        }
  }
}

TEST_F(ExecSemanticsTest, PipelineCnn) {
  // Batch norm: stages with one micro-batch only (micro-batches would
  // normalize by each micro-batch's statistics; the planner refuses them).
  model = "cnn";
  session.run.seed = 1; // see Cnn
  Model m = fileModel(context, "docs/examples/cnn.mlir");
  comparePipelines(m, {1});
  Strategy s = pipelined(m.graph, singleDeviceStrategy(m.graph), 2, 1, 2,
                         PipelineSchedule::OneFOneB);
  Expected<Plan> plan = buildPlan(m.graph, s, 2, m.options);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("op 'bn1' (batch_norm): with 2 micro-batches "
                              "batch norm would normalize each micro-batch"),
            std::string::npos)
      << plan.error();
}

} // namespace

namespace {

/// A debugging aid: which op's config of a random strategy makes the run
/// differ from one device. SOAP_BISECT_FILE (a soap IR file, default the
/// CNN), SOAP_BISECT_RANKS (4), SOAP_BISECT_SEED (the strategy's, 1),
/// SOAP_BISECT_RUNSEED (the weights' and data's, 0), SOAP_BISECT_STEPS (3),
/// SOAP_BISECT_PREFIX (1: op i's line runs the configs of ops 0..i, to find
/// where a combination goes wrong). Errors are relative to the updates.
int envInt(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

TEST_F(ExecSemanticsTest, DISABLED_Bisect) {
  const char *file = std::getenv("SOAP_BISECT_FILE");
  Model m = fileModel(context, file ? file : "docs/examples/cnn.mlir");
  ASSERT_EQ(m.error, "");
  const int ranks = envInt("SOAP_BISECT_RANKS", 4);
  runtime::SessionOptions so;
  so.run.seed = envInt("SOAP_BISECT_RUNSEED", 0);
  Expected<Plan> one =
      buildPlan(m.graph, singleDeviceStrategy(m.graph), 1, m.options);
  ASSERT_TRUE(one) << one.error();
  const int steps = envInt("SOAP_BISECT_STEPS", kSteps);
  RunResult ref = runSession(*one, steps, so);
  RunResult w0 = runSession(*one, 0, so);
  std::mt19937 rng(1000 * ranks + envInt("SOAP_BISECT_SEED", 1));
  Strategy full = randomStrategy(m.graph, ranks, rng);
  const bool prefix = envInt("SOAP_BISECT_PREFIX", 0) != 0;
  Strategy s = singleDeviceStrategy(m.graph);
  for (size_t i = 0; i < m.graph.ops.size(); ++i) {
    if (!prefix)
      s = singleDeviceStrategy(m.graph);
    s.configs[i] = full.configs[i];
    Expected<Plan> p = buildPlan(m.graph, s, ranks, m.options);
    if (!p) {
      std::printf("op %s: %s\n", m.graph.ops[i].name.c_str(), p.error().c_str());
      continue;
    }
    RunResult r = runSession(*p, steps, so);
    double worst = 0;
    std::string at;
    for (const auto &[name, w] : ref.weights) {
      std::vector<float> a = r.weights[name], b = w;
      for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
        a[k] -= w0.weights[name][k];
        b[k] -= w0.weights[name][k];
      }
      auto [err, scale] = errorAndScale(a, b);
      if (scale > 1e-4 && err / scale > worst) {
        worst = err / scale;
        at = name;
      }
    }
    std::printf("op %-10s %-12s {%s}: worst %.2e at %s %s\n",
                m.graph.ops[i].name.c_str(), m.graph.ops[i].kind.c_str(),
                s.configs[i].str().c_str(), worst, at.c_str(), r.error.c_str());
  }
}

} // namespace
