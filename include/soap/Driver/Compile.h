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
#include "soap/Search/Pipeline.h"
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
  /// to the devices of a node; for a GPT of Megatron-LM's published table,
  /// its published degree).
  int64_t tensorParallel = 0;
  /// Megatron's pipeline depth and micro-batch count (0: published, or
  /// none; micro-batches: the fastest micro-batch size that fits).
  int64_t pipelineParallel = 0;
  int64_t microBatches = 0;
  /// Search pipeline stages, micro-batches, ZeRO, offload and activation
  /// recomputation too (issue 8).
  bool trainingFeatures = true;
  /// The result will be lowered to a plan: only strategies the planner
  /// takes may win (planRefusal: e.g. no micro-batches through batch norm).
  bool forLowering = false;
  /// When the result does not fit in device memory, look for the smallest
  /// machine (preset and node count) it would fit on.
  bool explainFit = true;
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
  /// Its degrees and options when they were chosen ("tp 8", or a pipeline
  /// choice: "tp 8, pp 4, 64 micro-batches (1f1b), recompute").
  std::string choice;
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
  /// Why the plain SOAP search (DP and chains) did not run, if it did not.
  std::string plainSearchSkipped;
  /// With forLowering: the faster candidates dropped because the planner
  /// refuses them, with its reason.
  std::vector<std::string> notLowerable;
  /// Search statistics (search only).
  std::optional<McmcResult> search;
  /// The inter-op (pipeline and memory options) search, when it ran, and
  /// the choice of the result when it came from it or from a baseline with
  /// a pipeline ("tp 8, pp 4, 32 micro-batches (1f1b), recompute").
  std::optional<PipelineSearchResult> pipelineSearch;
  std::string pipelineChoice;
  /// When the result does not fit: the smallest machine it would fit on
  /// (or that none of the presets up to 4,096 devices does).
  std::string fitAdvice;
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

/// The smallest machine, over the presets (GPU ones) and node counts up to
/// 4,096 devices, on which the graph fits in device memory with the most
/// memory-saving options (pipeline stages, ZeRO 3, offload, recompute):
/// "dgx-h100 x 4 nodes (32 devices): tp 8, pp 4, ...", or why none.
std::string smallestFittingMachine(const OpGraph &graph,
                                   const MachineModel &current,
                                   double budgetSeconds);

/// A short human-readable summary (step time, speedups, memory, MFU, search).
std::string summarize(const OpGraph &graph, const MachineModel &machine,
                      const CompileResult &result);

} // namespace soap

#endif // SOAP_DRIVER_COMPILE_H
