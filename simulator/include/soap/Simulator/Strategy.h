//===- Strategy.h - parallel configs as plain values ------------*- C++ -*-===//
//
// The simulator's (and the search's) form of a strategy: one ParallelConfig
// per op index, each the plain equivalent of `#soap.parallel<{batch = 4,
// out = 2}, start = 8, strides = [1, 8]>`. Value types only, cheap to copy
// and compare; the strategy file layer (soap/Strategy/Strategy.h) keys the
// same information by op name for the JSON file.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_STRATEGY_H
#define SOAP_SIMULATOR_STRATEGY_H

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace soap {

class OpGraph;
struct OpNode;

/// The parallel config of one op: a degree per listed dimension and a machine
/// view. Dimensions not listed have degree 1. The shard with coordinates
/// (i_1, ..., i_k), one per listed dimension in listing order, runs on device
/// `start + sum_j i_j * strides[j]`; devices are numbered
/// `node * devicesPerNode + device`. Empty `strides` means the contiguous
/// row-major block in listing order (the last listed dimension has stride 1),
/// as for #soap.parallel.
struct ParallelConfig {
  std::vector<std::pair<std::string, int64_t>> degrees;
  int64_t start = 0;
  std::vector<int64_t> strides;

  /// Number of shards (devices): the product of the degrees.
  int64_t numDevices() const;
  /// Degree of the named dimension (1 when not listed).
  int64_t degree(std::string_view dim) const;
  /// `strides`, or the contiguous row-major strides when it is empty.
  std::vector<int64_t> effectiveStrides() const;
  /// The device of every shard, in row-major shard order over the listing.
  std::vector<int64_t> deviceIds() const;
  /// `{batch = 4, out = 2}, start = 8, strides = [1, 8]` (the attribute's
  /// syntax without the `#soap.parallel<...>` wrapper).
  std::string str() const;

  bool operator==(const ParallelConfig &o) const {
    return degrees == o.degrees && start == o.start && strides == o.strides;
  }
  bool operator!=(const ParallelConfig &o) const { return !(*this == o); }
};

/// The order in which a pipeline stage runs its micro-batches' forward and
/// backward passes: GPipe (every forward, then every backward) or 1F1B
/// (PipeDream-flush / Megatron-LM: after p - s - 1 warm-up forwards, stage s
/// alternates one forward and one backward).
enum class PipelineSchedule { GPipe, OneFOneB };
/// "gpipe", "1f1b".
const char *toString(PipelineSchedule s);

/// A pipeline stage: the ops [firstOp, lastOp] (indices into OpGraph::ops,
/// contiguous in the graph's order) on the devices
/// [firstDevice, firstDevice + numDevices), its sub-mesh. Every op of the
/// stage is placed inside the sub-mesh by its own config.
struct PipelineStage {
  int firstOp = 0;
  int lastOp = 0;
  int64_t firstDevice = 0;
  int64_t numDevices = 1;
  bool operator==(const PipelineStage &o) const {
    return firstOp == o.firstOp && lastOp == o.lastOp &&
           firstDevice == o.firstDevice && numDevices == o.numDevices;
  }
};

/// What a strategy chooses beyond one parallel config per op (issue 8):
/// pipeline stages with a micro-batch count and a schedule, ZeRO-style
/// sharding of the optimizer state (stage 1), gradients (2) and weights (3)
/// over each weight's data-parallel group (the devices holding replicas of
/// its shard), host offload of the optimizer state, and activation
/// recomputation per op. The default is none of them: plain SOAP.
struct TrainingConfig {
  /// Empty: no pipeline (the whole graph is one stage).
  std::vector<PipelineStage> stages;
  /// Micro-batches per step (>= 1). Without stages, gradient accumulation.
  int64_t microBatches = 1;
  PipelineSchedule schedule = PipelineSchedule::OneFOneB;
  /// 0 (none) .. 3.
  int zeroStage = 0;
  /// Optimizer state lives in host memory; the update runs on the host.
  bool offloadOptimizer = false;
  /// Per op (empty: none): its results are not kept for the backward pass
  /// but recomputed (one more forward of the op in its backward).
  std::vector<char> recompute;

  bool pipelined() const { return stages.size() > 1 || microBatches > 1; }
  bool anyRecompute() const;
  /// Anything beyond plain SOAP.
  bool active() const {
    return pipelined() || zeroStage != 0 || offloadOptimizer || anyRecompute();
  }
  bool operator==(const TrainingConfig &o) const {
    return stages == o.stages && microBatches == o.microBatches &&
           schedule == o.schedule && zeroStage == o.zeroStage &&
           offloadOptimizer == o.offloadOptimizer && recompute == o.recompute;
  }
};

/// One config per op, indexed like OpGraph::ops, plus the training options.
struct Strategy {
  std::vector<ParallelConfig> configs;
  TrainingConfig training = {};
};

/// Row-major contiguous strides for the given degrees.
std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &degrees);

/// A config built from name-keyed degrees and strides (the strategy file's
/// form), listed in the op's dimension order so that the default view is
/// the file format's "contiguous in the op's dimension order". Names that are
/// not dims of the op are listed last, in name order (validation reports
/// them). Strides given for some listed dims but not others: the missing
/// ones get the contiguous stride.
ParallelConfig makeConfig(const OpNode &op,
                          const std::map<std::string, int64_t> &degrees,
                          int64_t start = 0,
                          const std::map<std::string, int64_t> &strides = {});

/// Every op on one device.
Strategy singleDeviceStrategy(const OpGraph &graph, int64_t device = 0);

/// Data parallelism over devices [0, numDevices): every op with a sample
/// dimension splits it by the largest divisor of its size that is at most
/// numDevices, on the first devices; ops without one run unsplit on device 0.
/// A baseline, not a search result.
Strategy dataParallelStrategy(const OpGraph &graph, int64_t numDevices);

} // namespace soap

#endif // SOAP_SIMULATOR_STRATEGY_H
