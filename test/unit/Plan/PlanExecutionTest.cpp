//===- PlanExecutionTest.cpp - plans compute the single-device step -------===//
//
// The semantic check of the lowering: a model's plan on several ranks, under
// data parallelism, the baselines and random strategies, run with the CPU
// kernels by a sequential interpreter (PlanInterpreter.h), gives the loss and
// the weight updates of the same model's plan on one rank. This exercises
// what the structural invariants cannot see: halo padding, biases added
// once per partial sum, statistics and losses over the global batch,
// gradient accumulation of values used several times, tied weights,
// vocabulary- and expert-parallel partial sums.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Graph/Extract.h"
#include "soap/Import/Zoo.h"
#include "soap/Plan/Planner.h"
#include "soap/Search/Baselines.h"
#include "soap/Transforms/PlanLowering.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "soap/Runtime/Cpu/Blas.h"

#include "PlanInterpreter.h"
#include "PlanTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace soap;
using namespace soap::test;

namespace {

class PlanExecutionTest : public ::testing::Test {
protected:
  PlanExecutionTest()
      : handler(&context, [this](mlir::Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return mlir::success();
        }) {
    context.loadDialect<SoapDialect, mlir::func::FuncDialect>();
    // One thread: the ranks run one after the other anyway, and idle
    // OpenMP teams spin on a busy machine.
    soap::cpu::setNumThreads(1);
  }

  /// The graph and the plan options (initializers, constants) of a model,
  /// and the strategy its soap.parallel attributes give (if all ops have
  /// one).
  bool load(mlir::ModuleOp module, OpGraph &graph, PlanOptions &options,
            Strategy *own = nullptr) {
    mlir::FailureOr<OpGraph> g = extractOpGraph(module);
    if (mlir::failed(g))
      return false;
    graph = *g;
    bool configured = true;
    module.walk([&](ParallelizableOpInterface op) {
      configured &= bool(op->getAttr(SoapDialect::kParallelAttrName));
    });
    if (own && configured) {
      mlir::FailureOr<ParallelModel> m = extractParallelModel(module);
      if (mlir::failed(m))
        return false;
      *own = m->strategy;
      ownRanks = m->minRanks;
    }
    // collectPlanInputs needs configs; attach the single-device ones.
    module.walk([&](ParallelizableOpInterface op) {
      op->setAttr(SoapDialect::kParallelAttrName,
                  ParallelAttr::get(op->getContext(), {}, {}, 0, {}));
    });
    mlir::FailureOr<ParallelModel> m = extractParallelModel(module);
    if (mlir::failed(m))
      return false;
    collectPlanInputs(*m, options);
    options.optimizer.lr = 0.1;
    options.optimizer.momentum = 0.9;
    return true;
  }

  /// The first op (in order) whose result differs between the runs.
  static std::string firstDifference(const OpGraph &g, const PlanRun &a,
                                     const PlanRun &b) {
    for (const OpNode &op : g.ops)
      for (size_t r = 0; r < op.results.size(); ++r) {
        std::string name = op.name + ":" + std::to_string(r);
        auto x = a.results.find(name), y = b.results.find(name);
        if (x == a.results.end() || y == b.results.end() ||
            x->second.size() != y->second.size())
          continue;
        double scale = 0, worst = 0;
        for (size_t i = 0; i < x->second.size(); ++i) {
          scale = std::max(scale, std::abs(double(x->second[i])));
          worst = std::max(worst, std::abs(double(x->second[i]) - y->second[i]));
        }
        if (worst > 1e-4 * scale + 1e-6)
          return name + " (" + op.kind + ", off by " + std::to_string(worst) +
                 " of " + std::to_string(scale) + ")";
      }
    return "none";
  }

  /// Runs `strategy` on `ranks` ranks and compares it with one rank.
  void compare(const OpGraph &g, const PlanOptions &options,
               const Strategy &strategy, int64_t ranks,
               const std::string &what) {
    SCOPED_TRACE(what);
    if (reference.first != g.fingerprint()) {
      // The single-rank run, once per model.
      Expected<Plan> one = buildPlan(g, singleDeviceStrategy(g), 1, options);
      ASSERT_TRUE(one) << one.error();
      reference = {g.fingerprint(), {runPlan(*one, 0), runPlan(*one, 1)}};
    }
    const PlanRun &init = reference.second.first, &a = reference.second.second;
    Expected<Plan> many = buildPlan(g, strategy, ranks, options);
    ASSERT_TRUE(many) << many.error();
    PlanRun b = runPlan(*many, 1);
    ASSERT_EQ(a.error, "");
    ASSERT_EQ(b.error, "");
    ASSERT_EQ(a.losses.size(), 1u);
    ASSERT_EQ(b.losses.size(), 1u);
    EXPECT_TRUE(std::isfinite(a.losses[0]));
    EXPECT_NEAR(b.losses[0], a.losses[0], 1e-4 * std::abs(a.losses[0]) + 1e-6)
        << "loss; first op whose result differs: " << firstDifference(g, a, b);
    for (const auto &[name, w0] : init.weights) {
      const std::vector<float> &w1 = a.weights.at(name),
                               &wn = b.weights.at(name);
      ASSERT_EQ(w1.size(), w0.size()) << name;
      ASSERT_EQ(wn.size(), w0.size()) << name;
      double scale = 0, norm = 0, diff = 0;
      for (size_t i = 0; i < w0.size(); ++i) {
        double u = double(w1[i]) - w0[i];
        scale = std::max(scale, std::abs(u));
        norm += u * u;
      }
      double worst = 0;
      size_t at = 0;
      for (size_t i = 0; i < w0.size(); ++i) {
        double d = std::abs((double(wn[i]) - w0[i]) - (double(w1[i]) - w0[i]));
        diff += d * d;
        if (d > worst) {
          worst = d;
          at = i;
        }
      }
      if (smooth)
        EXPECT_LE(worst, 2e-3 * scale + 2e-7)
            << name << ": update differs at element " << at << " ("
            << double(wn[at]) - w0[at] << " vs " << double(w1[at]) - w0[at]
            << ", largest update " << scale << ")";
      else
        EXPECT_LE(std::sqrt(diff), 5e-2 * std::sqrt(norm) + 2e-7)
            << name << ": update differs by " << std::sqrt(diff)
            << " (L2) of " << std::sqrt(norm) << "; largest at element " << at;
    }
  }

  /// Data parallel on 2 and 4 ranks, the baselines on 4, random strategies
  /// on 2 and 4; `light` (larger models): data parallel and `seeds` random
  /// strategies on 4 ranks only.
  void compareAll(const OpGraph &g, const PlanOptions &options, int seeds,
                  bool light = false) {
    for (int64_t ranks : {2, 4})
      if (!light || ranks == 4)
        compare(g, options, dataParallelStrategy(g, ranks), ranks,
                "data-parallel on " + std::to_string(ranks));
    BaselineOptions bo;
    bo.nodes = 2;
    bo.devicesPerNode = 2;
    for (const std::string &name : baselineNames()) {
      Expected<Strategy> s = makeBaseline(name, g, bo);
      if (s && name != "data-parallel" && !light)
        compare(g, options, *s, 4, name);
    }
    // SOAP_PLAN_EXEC_SEEDS=N runs N random strategies per model (a soak).
    if (const char *env = std::getenv("SOAP_PLAN_EXEC_SEEDS"))
      seeds = std::max(seeds, std::atoi(env));
    for (int seed = 1; seed <= seeds; ++seed) {
      std::mt19937 rng(1000 + seed);
      for (int64_t ranks : {2, 4})
        if (!light || ranks == 4)
          compare(g, options, randomStrategy(g, ranks, rng), ranks,
                  "random seed " + std::to_string(seed) + " on " +
                      std::to_string(ranks));
    }
  }

  void zooModel(const char *name,
                std::vector<std::pair<const char *, const char *>> opts,
                int seeds, bool light = false) {
    SCOPED_TRACE(name);
    llvm::StringMap<std::string> options;
    for (auto [k, v] : opts)
      options[k] = v;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        zoo::buildModel(context, name, options);
    ASSERT_TRUE(module) << diagnostics;
    OpGraph g;
    PlanOptions po;
    ASSERT_TRUE(load(*module, g, po)) << diagnostics;
    compareAll(g, po, seeds, light);
  }

  void example(const char *file, int seeds, bool light = false) {
    SCOPED_TRACE(file);
    std::string path = std::string(SOAP_SOURCE_DIR) + "/" + file;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceFile<mlir::ModuleOp>(path, &context);
    ASSERT_TRUE(module) << diagnostics;
    OpGraph g;
    PlanOptions po;
    Strategy own;
    ASSERT_TRUE(load(*module, g, po, &own)) << diagnostics;
    if (!own.configs.empty())
      compare(g, po, own, ownRanks, "the file's own configs");
    compareAll(g, po, seeds, light);
  }

  int64_t ownRanks = 1;
  /// The last model's single-rank runs: (fingerprint, (initial, one step)).
  std::pair<uint64_t, std::pair<PlanRun, PlanRun>> reference{0, {}};
  /// False for models whose gradients are not smooth in the rounding of
  /// their forward pass: many max-pools over relu outputs (a near-tie that
  /// rounds the other way routes a window's gradient elsewhere). Their
  /// updates are compared in L2 norm (5 %), not element by element. For
  /// Inception-v3 at 107 pixels, perturbing only the rounding of its first
  /// quarter of ops (a reduction split there) moves the gradient of
  /// Mixed_6d's 7x7 branch by 2 %, with every single op's config alone
  /// below 0.1 %: sensitivity, not a plan error (which shows in the op's own
  /// weights).
  bool smooth = true;
  mlir::MLIRContext context;
  mlir::ScopedDiagnosticHandler handler;
  std::string diagnostics;
};

TEST_F(PlanExecutionTest, ExampleCnn) {
  example("docs/examples/cnn.mlir", 3);
}

TEST_F(PlanExecutionTest, ExampleTransformerBlock) {
  example("docs/examples/transformer_block.mlir", 2, /*light=*/true);
}

TEST_F(PlanExecutionTest, LoweringTestModels) {
  for (const char *f : {"test/Plan/conv-halo.mlir", "test/Plan/megatron-block.mlir",
                        "test/Plan/inception-branches.mlir",
                        "test/Plan/column-row-parallel.mlir"})
    example(f, 2);
}

TEST_F(PlanExecutionTest, Gpt) {
  zooModel("gpt",
           {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
            {"vocab", "64"}, {"batch", "4"}},
           3);
}

TEST_F(PlanExecutionTest, Bert) {
  zooModel("bert-base",
           {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
            {"vocab", "64"}, {"max-positions", "16"}, {"batch", "4"}},
           2);
}

TEST_F(PlanExecutionTest, MixtureOfExperts) {
  zooModel("moe-transformer",
           {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
            {"vocab", "64"}, {"batch", "4"}, {"experts", "4"}},
           3);
}

TEST_F(PlanExecutionTest, Dlrm) {
  zooModel("dlrm",
           {{"batch", "8"}, {"bottom-mlp", "13-16-8"}, {"top-mlp", "16-1"},
            {"emb-dim", "8"}, {"table-sizes", "10-20-30"}},
           3);
}

TEST_F(PlanExecutionTest, Rnn) {
  zooModel("rnntc",
           {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"}, {"embed", "8"},
            {"hidden", "8"}, {"layers", "2"}},
           2);
  zooModel("nmt",
           {{"batch", "4"}, {"seq", "3"}, {"src-vocab", "50"},
            {"tgt-vocab", "40"}, {"embed", "8"}, {"hidden", "8"},
            {"layers", "1"}},
           2);
}

TEST_F(PlanExecutionTest, Inception) {
  smooth = false;
  zooModel("inception-v3",
           {{"batch", "2"}, {"image-size", "107"}, {"classes", "10"}}, 1,
           /*light=*/true);
}

TEST_F(PlanExecutionTest, ResNet) {
  zooModel("resnet",
           {{"depth", "18"}, {"batch", "4"}, {"image-size", "32"},
            {"classes", "10"}},
           1, /*light=*/true);
}

} // namespace

