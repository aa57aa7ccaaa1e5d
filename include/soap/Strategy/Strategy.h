//===- Strategy.h - the strategy file (design section 6) --------*- C++ -*-===//
//
// A strategy as it is written down: one parallel config per op, keyed by the
// op's stable name, with the model's and the machine's fingerprints, the
// predicted metrics, the baselines' predictions and the search's metadata.
// Plain C++ (no MLIR); errors are returned as messages, never thrown.
// Format: docs/strategy-format.md; schema: strategies/strategy.schema.json.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_STRATEGY_STRATEGY_H
#define SOAP_STRATEGY_STRATEGY_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soap {

class OpGraph;

/// The current format version. Version 2 adds pipeline stages, ZeRO,
/// offload and recomputation (issue 8); a file that uses none of them is
/// written as version 1, which older readers accept. Readers accept 1 and 2
/// and refuse version-2 fields in a version-1 file.
inline constexpr int kStrategyFormatVersion = 2;
inline constexpr int kStrategyFormatVersionPlain = 1;

/// The parallel config of one op, by dimension name. Dimensions not listed
/// have degree 1. The machine view places shard (i_d for each listed d) on
/// device `start + sum_d i_d * strides[d]`.
struct OpConfig {
  std::string op;   ///< stable op name
  std::string kind; ///< op kind ("linear", ...), checked against the model
  std::map<std::string, int64_t> degrees;
  int64_t start = 0;
  std::map<std::string, int64_t> strides;
  /// Its results are not kept for the backward pass but recomputed there
  /// (version 2).
  bool recompute = false;

  /// Devices the op uses: the product of its degrees.
  int64_t numDevices() const;
  /// Every device the op's shards occupy, in the op's dimension order
  /// (`dimOrder`, the op's parallel dims; unlisted names come last).
  std::vector<int64_t> deviceIds(const std::vector<std::string> &dimOrder) const;
  bool operator==(const OpConfig &o) const {
    return op == o.op && kind == o.kind && degrees == o.degrees &&
           start == o.start && strides == o.strides && recompute == o.recompute;
  }
};

struct StrategyMetrics {
  double stepTimeSeconds = 0;
  std::vector<int64_t> peakMemoryBytes; ///< per device
  int64_t communicationBytes = 0;
  double mfu = 0; ///< model FLOPs utilization, 0..1
};

struct SearchInfo {
  std::string algorithm;
  uint64_t seed = 0;
  double budgetSeconds = 0;
  int64_t iterations = 0;
  double wallTimeSeconds = 0;
};

/// One pipeline stage: the ops from `firstOp` to `lastOp` (names, inclusive,
/// in the model's op order) on the devices [firstDevice, firstDevice +
/// numDevices).
struct PipelineStageSpec {
  std::string firstOp;
  std::string lastOp;
  int64_t firstDevice = 0;
  int64_t numDevices = 1;
  bool operator==(const PipelineStageSpec &o) const {
    return firstOp == o.firstOp && lastOp == o.lastOp &&
           firstDevice == o.firstDevice && numDevices == o.numDevices;
  }
};

struct PipelineSpec {
  std::string schedule = "1f1b"; ///< "gpipe" or "1f1b"
  int64_t microBatches = 1;
  std::vector<PipelineStageSpec> stages;
  bool operator==(const PipelineSpec &o) const {
    return schedule == o.schedule && microBatches == o.microBatches &&
           stages == o.stages;
  }
};

struct StrategyFile {
  /// As read; writeStrategyJson writes the lowest version that holds the
  /// strategy (1 unless it uses a version-2 field).
  int version = kStrategyFormatVersionPlain;
  std::string modelName;
  std::string modelFingerprint; ///< OpGraph::fingerprintHex()
  std::string machineName;
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  std::string machineFingerprint;
  std::vector<OpConfig> ops;
  /// Version 2: pipeline parallelism (absent: none), ZeRO stage 0..3 over
  /// each weight's data-parallel group, optimizer state in host memory.
  std::optional<PipelineSpec> pipeline;
  int zeroStage = 0;
  bool offloadOptimizer = false;
  std::optional<StrategyMetrics> predicted;
  /// Baseline name ("data-parallel", "megatron", ...) -> predicted step time.
  std::map<std::string, double> baselineStepTimeSeconds;
  std::optional<SearchInfo> search;

  int64_t numDevices() const { return nodes * devicesPerNode; }
  /// Names of the version-2 features it uses ("pipeline parallelism",
  /// "ZeRO stage 1", "optimizer offload", "activation recomputation"); empty
  /// for a plain SOAP strategy.
  std::vector<std::string> trainingFeatures() const;
  /// The entry of an op, or nullptr.
  const OpConfig *find(std::string_view op) const;
};

/// Serializes to the JSON text of the format (2-space indented).
std::string writeStrategyJson(const StrategyFile &strategy);

/// Parses and checks the structure (fields, types, version). On failure
/// returns false and sets `error` to a message naming the offending field.
bool parseStrategyJson(std::string_view text, StrategyFile &out,
                       std::string &error);

/// Checks a strategy against the model and the machine it is used with:
/// fingerprints, an entry per op and no unknown op, kinds, dimension names,
/// degrees dividing the dimensions, views inside the machine and free of
/// overlaps; pipeline stages naming ops of the model, contiguous in its op
/// order and covering it, on disjoint sub-meshes inside the machine that
/// hold their ops' views. Returns every problem found (empty: valid). `machineFingerprint`
/// empty skips the machine fingerprint check.
std::vector<std::string> validateStrategy(const StrategyFile &strategy,
                                          const OpGraph &graph,
                                          int64_t nodes, int64_t devicesPerNode,
                                          const std::string &machineFingerprint);

} // namespace soap

#endif // SOAP_STRATEGY_STRATEGY_H
