//===- ExecTestUtil.h - plans of zoo models, run by the runtime -*- C++ -*-===//
#ifndef SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H
#define SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H

#include "soap/Driver/Compile.h"
#include "soap/Graph/OpGraph.h"
#include "soap/Plan/Planner.h"
#include "soap/Runtime/Session.h"

#include "mlir/IR/MLIRContext.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace soap::test {

/// A zoo model's op graph and the plan options (initializers, constants).
struct Model {
  std::string error;
  OpGraph graph;
  PlanOptions options;
};

/// Builds zoo model `name` with `options` (SGD with momentum, lr 0.1).
Model zooModel(mlir::MLIRContext &context, const std::string &name,
               const std::vector<std::pair<const char *, const char *>> &options);
/// The model of a soap IR file (relative to the source tree).
Model fileModel(mlir::MLIRContext &context, const std::string &path);

/// What a run of some steps produced.
struct RunResult {
  std::string error;
  std::vector<double> losses;
  std::map<std::string, std::vector<float>> weights;
};

/// Runs `plan` for `steps` steps (ranks as threads) and gathers the weights.
RunResult runSession(const Plan &plan, int steps,
                     runtime::SessionOptions options = {});

/// The strategy soapc's search (plain SOAP, fixed seed and length) finds on
/// a node of `ranks` P100s made 1000x slower, so that the tests' tiny models
/// are worth splitting. Inline: only the binaries that call it link the
/// driver.
inline Expected<Strategy> searchedStrategy(const OpGraph &graph,
                                           int64_t ranks) {
  auto machine = MachineModel::loadPreset("p100", {1, ranks});
  if (!machine.ok())
    return Error{machine.error()};
  for (double *v : {&machine->device.peakF64, &machine->device.peakF32,
                    &machine->device.peakTf32, &machine->device.peakF16,
                    &machine->device.peakBf16,
                    &machine->device.memoryBandwidth})
    *v /= 1000;
  if (std::string e = machine->finalize(); !e.empty())
    return Error{e};
  CostModel cost(*machine);
  CompileOptions co;
  co.seed = 1;
  co.threads = 1;
  co.iterationsPerChain = 300;
  co.budgetSeconds = 0;
  co.trainingFeatures = false; // plain SOAP configs (the options: own tests)
  auto searched = compile(graph, cost, co);
  if (!searched.ok())
    return Error{searched.error()};
  return searched->strategy;
}

/// max |a - b| / max |b| over a tensor (0 for two zero tensors).
double relativeError(const std::vector<float> &a, const std::vector<float> &b);
/// max |a - b| and max |b| over a tensor.
std::pair<double, double> errorAndScale(const std::vector<float> &a,
                                        const std::vector<float> &b);

/// Weights agree when max |a - b| <= kRelative * max |b| + kAbsolute. The
/// absolute floor is for tensors whose exact gradient is zero (a conv bias
/// followed by batch norm: the normalization cancels it), which hold only
/// rounding noise (~1e-9) where any relative comparison is meaningless.
constexpr double kRelative = 1e-5;
constexpr double kAbsolute = 1e-7;

/// EXPECTs every weight of `ref` to agree (as above) with `got`'s; returns
/// the worst max |a - b| / max |b| over the tensors with max |b| > 1e-4.
double expectWeightsAgree(const std::map<std::string, std::vector<float>> &got,
                          const std::map<std::string, std::vector<float>> &ref);

} // namespace soap::test

#endif // SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H
