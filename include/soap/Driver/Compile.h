//===- Compile.h - what soapc does, as a library ----------------*- C++ -*-===//
//
// Model graph + machine -> evaluated baselines, the searched (or given)
// strategy, its simulation and its strategy file. Plain C++ over the graph,
// the simulator and the search (no MLIR): `soapc` and the C API call it.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_DRIVER_COMPILE_H
#define SOAP_DRIVER_COMPILE_H

#include "soap/Graph/OpGraph.h"
#include "soap/Search/Mcmc.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/MachineModel.h"
#include "soap/Simulator/Simulator.h"
#include "soap/Simulator/Strategy.h"
#include "soap/Strategy/Strategy.h"

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace soap {

struct CompileOptions {
  /// Evaluate this strategy file instead of searching (or, with `refine`,
  /// start the search from it).
  std::optional<StrategyFile> strategy;
  bool refine = false;
  /// Evaluate this baseline instead of searching.
  std::string baseline;
  /// Megatron's tensor-parallel degree (0: the fastest of 1, 2, 4, ... up
  /// to the devices of a node).
  int64_t tensorParallel = 0;
  /// Search budget in seconds (a cap: the iteration count ends the search
  /// first unless the model is large or the machine slow).
  double budgetSeconds = 60;
  uint64_t seed = 1;
  /// Proposals per chain (0: by the model's size).
  int64_t iterationsPerChain = 0;
  /// Chains (threads); 0: every core.
  int threads = 0;
  /// Called while searching (from one thread).
  std::function<void(const McmcProgress &)> progress;
};

struct BaselineResult {
  std::string name;
  Strategy strategy;
  SimResult sim;
};

struct CompileResult {
  Strategy strategy;
  SimResult sim;
  /// How the strategy came about: "search", "baseline:<name>", "file".
  std::string origin;
  /// The baselines that apply, simulated on the same machine.
  std::vector<BaselineResult> baselines;
  /// The baseline the result is best compared with (megatron, owt, ...).
  std::string expertBaseline;
  /// The additive DP's strategy and its simulated time (search only).
  std::optional<double> dpStepTime;
  bool dpExact = false;
  /// The DP ran out of its share of the budget and was not used.
  bool dpSkipped = false;
  /// Search statistics (search only).
  std::optional<McmcResult> search;
  double wallSeconds = 0;

  const BaselineResult *findBaseline(const std::string &name) const;
};

/// Runs the pipeline. Errors (an invalid strategy file, an unknown
/// baseline, a model that fits no config) come back as messages.
Expected<CompileResult> compile(const OpGraph &graph, const CostModel &cost,
                                const CompileOptions &options);

/// The strategy file of a result (fingerprints, metrics, baselines, search
/// metadata).
StrategyFile makeStrategyFile(const OpGraph &graph, const MachineModel &machine,
                              const CompileResult &result,
                              const CompileOptions &options);

/// The configs of a strategy file, by op index (the file must be valid for
/// the graph: see validateStrategy).
Strategy strategyFromFile(const OpGraph &graph, const StrategyFile &file);

/// A short human-readable summary (step time, speedups, memory, MFU, search).
std::string summarize(const OpGraph &graph, const MachineModel &machine,
                      const CompileResult &result);

} // namespace soap

#endif // SOAP_DRIVER_COMPILE_H
