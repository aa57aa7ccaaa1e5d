//===- ExecTestUtil.cpp - plans of zoo models, run by the runtime ---------===//
#include "ExecTestUtil.h"

#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Graph/Extract.h"
#include "soap/Import/Zoo.h"
#include "soap/Transforms/PlanLowering.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>

namespace soap::test {

namespace {

Model fromModule(mlir::ModuleOp module, std::string &diagnostics) {
  Model m;
  mlir::FailureOr<OpGraph> g = extractOpGraph(module);
  if (mlir::failed(g)) {
    m.error = "extract: " + diagnostics;
    return m;
  }
  m.graph = *g;
  // collectPlanInputs needs a config on every op: the single-device one.
  module.walk([&](ParallelizableOpInterface op) {
    op->setAttr(SoapDialect::kParallelAttrName,
                ParallelAttr::get(op->getContext(), {}, {}, 0, {}));
  });
  mlir::FailureOr<ParallelModel> pm = extractParallelModel(module);
  if (mlir::failed(pm)) {
    m.error = "parallel model: " + diagnostics;
    return m;
  }
  collectPlanInputs(*pm, m.options);
  m.options.optimizer.kind = OptimizerSettings::Kind::Sgd;
  m.options.optimizer.lr = 0.1;
  m.options.optimizer.momentum = 0.9;
  return m;
}

} // namespace

Model zooModel(mlir::MLIRContext &context, const std::string &name,
               const std::vector<std::pair<const char *, const char *>> &opts) {
  context.loadDialect<SoapDialect, mlir::func::FuncDialect>();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  llvm::StringMap<std::string> options;
  for (auto [k, v] : opts)
    options[k] = v;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      zoo::buildModel(context, name, options);
  if (!module) {
    Model m;
    m.error = "zoo " + name + ": " + diagnostics;
    return m;
  }
  return fromModule(*module, diagnostics);
}

Model fileModel(mlir::MLIRContext &context, const std::string &path) {
  context.loadDialect<SoapDialect, mlir::func::FuncDialect>();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceFile<mlir::ModuleOp>(
      std::string(SOAP_SOURCE_DIR) + "/" + path, &context);
  if (!module) {
    Model m;
    m.error = path + ": " + diagnostics;
    return m;
  }
  return fromModule(*module, diagnostics);
}

RunResult runSession(const Plan &plan, int steps,
                     runtime::SessionOptions options) {
  RunResult r;
  options.launch = "threads";
  std::unique_ptr<runtime::Session> s =
      runtime::Session::create(plan, options, r.error);
  if (!s)
    return r;
  while (s->stepsDone() < steps) {
    double loss = NAN;
    r.error = s->step(&loss);
    if (!r.error.empty())
      return r;
    r.losses.push_back(loss);
  }
  r.error = s->gatherWeights(r.weights);
  return r;
}

std::pair<double, double> errorAndScale(const std::vector<float> &a,
                                        const std::vector<float> &b) {
  double scale = 0, worst = a.size() == b.size() ? 0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    scale = std::max(scale, std::abs(double(b[i])));
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  }
  return {worst, scale};
}

double expectWeightsAgree(const std::map<std::string, std::vector<float>> &got,
                          const std::map<std::string, std::vector<float>> &ref) {
  static const std::vector<float> missing;
  double worst = 0;
  for (const auto &[name, w] : ref) {
    auto it = got.find(name);
    auto [err, scale] = errorAndScale(it == got.end() ? missing : it->second, w);
    EXPECT_LE(err, kRelative * scale + kAbsolute) << "weight " << name;
    if (scale > 1e-4)
      worst = std::max(worst, err / scale);
  }
  return worst;
}

double relativeError(const std::vector<float> &a, const std::vector<float> &b) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    scale = std::max(scale, std::abs(double(b[i])));
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  }
  if (a.size() != b.size())
    return INFINITY;
  return scale > 0 ? worst / scale : worst;
}

} // namespace soap::test
