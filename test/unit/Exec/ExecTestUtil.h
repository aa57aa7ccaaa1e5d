//===- ExecTestUtil.h - plans of zoo models, run by the runtime -*- C++ -*-===//
#ifndef SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H
#define SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H

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

} // namespace soap::test

#endif // SOAP_TEST_UNIT_EXEC_EXECTESTUTIL_H
