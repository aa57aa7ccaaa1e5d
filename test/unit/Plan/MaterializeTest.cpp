//===- MaterializeTest.cpp - the passes on every zoo model ----------------===//
//
// Every zoo model with random #soap.parallel configs: soap-materialize-
// parallel-ops gives IR that soap-verify-parallel-ops accepts, that still
// extracts to the same op graph, and that soap-lower-to-plan's extraction
// turns into the same plan as the planner run on the configs directly.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Graph/Extract.h"
#include "soap/Import/Zoo.h"
#include "soap/Plan/Planner.h"
#include "soap/Transforms/Passes.h"
#include "soap/Transforms/PlanLowering.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "PlanTestUtil.h"

#include <gtest/gtest.h>

using namespace soap;
using namespace soap::test;

namespace {

class MaterializeTest : public ::testing::Test {
protected:
  MaterializeTest()
      : handler(&context, [this](mlir::Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return mlir::success();
        }) {}

  mlir::MLIRContext context;
  mlir::ScopedDiagnosticHandler handler;
  std::string diagnostics;
};

/// Attaches `strategy` as soap.parallel attributes, in op order.
void attach(mlir::ModuleOp module, const Strategy &strategy) {
  size_t i = 0;
  module.walk([&](ParallelizableOpInterface op) {
    const ParallelConfig &c = strategy.configs[i++];
    llvm::SmallVector<mlir::StringAttr> dims;
    llvm::SmallVector<int64_t> degrees;
    for (const auto &[name, degree] : c.degrees) {
      dims.push_back(mlir::StringAttr::get(op->getContext(), name));
      degrees.push_back(degree);
    }
    std::vector<int64_t> strides = c.effectiveStrides();
    op->setAttr(SoapDialect::kParallelAttrName,
                ParallelAttr::get(op->getContext(), dims, degrees, c.start,
                                  strides));
  });
}

TEST_F(MaterializeTest, ZooRandomConfigs) {
  int runs = 0;
  for (const ZooCase &c : zooCases()) {
    for (int64_t ranks : {4, 8}) {
      SCOPED_TRACE(std::string(c.model) + " on " + std::to_string(ranks) +
                   " ranks");
      llvm::StringMap<std::string> options;
      for (auto [k, v] : c.options)
        options[k] = v;
      mlir::OwningOpRef<mlir::ModuleOp> module =
          zoo::buildModel(context, c.model, options);
      ASSERT_TRUE(module) << diagnostics;
      mlir::FailureOr<OpGraph> before = extractOpGraph(*module);
      ASSERT_TRUE(mlir::succeeded(before)) << diagnostics;
      std::mt19937 rng(42 + runs);
      Strategy s = randomStrategy(*before, ranks, rng);
      attach(*module, s);
      ASSERT_TRUE(mlir::succeeded(mlir::verify(*module))) << diagnostics;

      mlir::PassManager pm(&context);
      pm.addPass(createSoapMaterializeParallelOps());
      pm.addPass(createSoapVerifyParallelOps());
      ASSERT_TRUE(mlir::succeeded(pm.run(*module))) << diagnostics;
      ASSERT_TRUE(mlir::succeeded(mlir::verify(*module))) << diagnostics;

      int parallelOps = 0;
      module->walk(
          [&](mlir::Operation *op) { parallelOps += isParallelOp(op); });
      EXPECT_GT(parallelOps, 0);

      mlir::FailureOr<ParallelModel> m = extractParallelModel(*module);
      ASSERT_TRUE(mlir::succeeded(m)) << diagnostics;
      EXPECT_EQ(m->graph.fingerprint(), before->fingerprint());
      ASSERT_EQ(m->strategy.configs.size(), s.configs.size());
      for (size_t i = 0; i < s.configs.size(); ++i)
        EXPECT_EQ(m->strategy.configs[i].deviceIds(),
                  s.configs[i].deviceIds())
            << before->ops[i].name;
      EXPECT_TRUE(mlir::succeeded(verifyParallelOps(*m))) << diagnostics;

      PlanOptions po;
      collectPlanInputs(*m, po);
      Expected<Plan> direct = buildPlan(*before, s, ranks, po);
      Expected<Plan> lowered = buildPlan(m->graph, m->strategy, ranks, po);
      ASSERT_TRUE(direct) << direct.error();
      ASSERT_TRUE(lowered) << lowered.error();
      EXPECT_EQ(writePlanJson(*direct), writePlanJson(*lowered));
      ++runs;
    }
  }
  EXPECT_EQ(runs, static_cast<int>(zooCases().size()) * 2);
}

} // namespace
