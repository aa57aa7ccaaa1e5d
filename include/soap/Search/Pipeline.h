//===- Pipeline.h - inter-op search: stages, micro-batches, memory -*- C++ -*-===//
//
// Issue 8's search beyond FlexFlow's space: pipeline parallelism and the
// memory-saving options, with memory a hard constraint.
//
// Alpa-style, inter-op over intra-op: for every tensor-parallel degree tp
// (powers of two within a node) and pipeline depth pp (dividing the devices
// over tp), the graph is cut at its layer boundaries (layerBoundaries(): one
// tensor crosses) into pp contiguous stages balanced by their simulated
// per-op time (a min-max partition over the boundaries, so stages may be
// uneven), each stage on a contiguous sub-mesh of devices/pp devices with
// Megatron-style configs inside (tensor parallel of degree tp inside a
// node, data parallel across); the configs are simulated once per (tp, pp)
// and every micro-batch count (micro-batch sizes 1, 2, 4, ... ), schedule,
// recomputation (none / every layer), ZeRO stage (0..3) and offload is
// priced on that timeline by Simulator::simulateTraining. A candidate that
// does not fit in device memory never beats one that does.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SEARCH_PIPELINE_H
#define SOAP_SEARCH_PIPELINE_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/Simulator.h"
#include "soap/Simulator/Strategy.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace soap {

/// One point of the inter-op space.
struct PipelineChoice {
  int64_t tensorParallel = 1;
  int64_t pipelineParallel = 1;
  int64_t microBatches = 1;
  PipelineSchedule schedule = PipelineSchedule::OneFOneB;
  bool recompute = false;
  int zeroStage = 0;
  bool offloadOptimizer = false;
  /// Stages at equal numbers of attention layers (Megatron-LM) instead of
  /// balanced simulated time.
  bool equalLayers = false;

  /// "tp 8, pp 4, 32 micro-batches (1f1b), recompute, ZeRO 1".
  std::string str() const;
};

struct PipelineSearchOptions {
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  /// Candidate degrees; empty: powers of two up to a node (tp) and every
  /// divisor of devices / tp up to the layer count (pp).
  std::vector<int64_t> tensorParallel;
  std::vector<int64_t> pipelineParallel;
  /// Micro-batch sizes (samples per data-parallel replica per micro-batch)
  /// to try.
  std::vector<int64_t> microBatchSizes = {1, 2, 4, 8, 16, 32};
  std::vector<int> zeroStages = {0, 1, 2, 3};
  bool allowOffload = true;
  bool allowRecompute = true;
  /// Wall-clock cap (0: none): candidates not reached are skipped.
  double budgetSeconds = 0;
};

struct PipelineCandidate {
  PipelineChoice choice;
  Strategy strategy;
  SimResult sim;
};

struct PipelineSearchResult {
  std::optional<PipelineCandidate> best;
  /// Candidates priced (training options included) and full simulations.
  int64_t evaluated = 0;
  int64_t simulations = 0;
  bool stoppedByBudget = false;
  double wallSeconds = 0;
};

/// The objective candidates are ranked by (lower is better); it must rank
/// every strategy that fits in memory before every one that does not.
using StrategyObjective = std::function<double(const SimResult &)>;

/// Searches the space above with `sim` (its graph and machine). Candidates
/// that the model's shapes do not allow (a degree not dividing, fewer layer
/// boundaries than stages) are skipped.
PipelineSearchResult searchPipelines(Simulator &sim,
                                     const PipelineSearchOptions &options,
                                     const StrategyObjective &objective);

/// The strategy of one choice: stages, their sub-meshes and Megatron
/// configs, micro-batches, schedule and memory options. An error when the
/// choice does not apply to the graph or the machine.
Expected<Strategy> pipelineStrategy(Simulator &sim, const PipelineChoice &choice,
                                    int64_t nodes, int64_t devicesPerNode);

/// Pipeline stages as op ranges: `stages` contiguous groups cut at
/// layerBoundaries(), minimizing the largest group's summed `weight`; an
/// empty result when there are fewer boundaries than stages - 1.
std::vector<std::pair<int, int>> balancedStages(const OpGraph &graph,
                                                const std::vector<double> &weight,
                                                int stages);

/// Samples per data-parallel replica under `strategy`: the batch over the
/// batch degree of the first op with a sample dimension (0: none).
int64_t replicaBatch(const OpGraph &graph, const Strategy &strategy);

/// Megatron-LM's published (tensor, pipeline) degrees for a GPT of this
/// depth and width (Narayanan et al., SC'21, Table 1: 1.7B .. 1T on 32 ..
/// 3,072 A100s), when the graph is one of them.
std::optional<std::pair<int64_t, int64_t>> megatronPublishedDegrees(const OpGraph &graph);

} // namespace soap

#endif // SOAP_SEARCH_PIPELINE_H
