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

/// The current format version; readers accept exactly this one.
inline constexpr int kStrategyFormatVersion = 1;

/// The parallel config of one op, by dimension name. Dimensions not listed
/// have degree 1. The machine view places shard (i_d for each listed d) on
/// device `start + sum_d i_d * strides[d]`.
struct OpConfig {
  std::string op;   ///< stable op name
  std::string kind; ///< op kind ("linear", ...), checked against the model
  std::map<std::string, int64_t> degrees;
  int64_t start = 0;
  std::map<std::string, int64_t> strides;

  /// Devices the op uses: the product of its degrees.
  int64_t numDevices() const;
  /// Every device the op's shards occupy, in the op's dimension order
  /// (`dimOrder`, the op's parallel dims; unlisted names come last).
  std::vector<int64_t> deviceIds(const std::vector<std::string> &dimOrder) const;
  bool operator==(const OpConfig &o) const {
    return op == o.op && kind == o.kind && degrees == o.degrees &&
           start == o.start && strides == o.strides;
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

struct StrategyFile {
  int version = kStrategyFormatVersion;
  std::string modelName;
  std::string modelFingerprint; ///< OpGraph::fingerprintHex()
  std::string machineName;
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  std::string machineFingerprint;
  std::vector<OpConfig> ops;
  std::optional<StrategyMetrics> predicted;
  /// Baseline name ("data-parallel", "megatron", ...) -> predicted step time.
  std::map<std::string, double> baselineStepTimeSeconds;
  std::optional<SearchInfo> search;

  int64_t numDevices() const { return nodes * devicesPerNode; }
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
/// overlaps. Returns every problem found (empty: valid). `machineFingerprint`
/// empty skips the machine fingerprint check.
std::vector<std::string> validateStrategy(const StrategyFile &strategy,
                                          const OpGraph &graph,
                                          int64_t nodes, int64_t devicesPerNode,
                                          const std::string &machineFingerprint);

} // namespace soap

#endif // SOAP_STRATEGY_STRATEGY_H
