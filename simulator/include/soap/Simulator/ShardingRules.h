//===- ShardingRules.h - how an op's tensors split under a config -*- C++ -*-===//
//
// The SOAP dims of an op say how its *result* splits (OpNode::dims). The
// simulator also needs the operands' layouts: which operand axis each dim
// splits, which operands a dim leaves whole (replicated on the dim's shards)
// and which results become partial sums. This file holds that rule per op
// kind, with a generic default (same-rank operands split like the result,
// broadcast operands right-aligned), and the tile ("box") arithmetic that the
// task graph, the cost keys and the evaluator share.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_SHARDINGRULES_H
#define SOAP_SIMULATOR_SHARDINGRULES_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/MachineModel.h"
#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <string>
#include <vector>

namespace soap {

/// Role of an op dim for one tensor: a tensor axis (>= 0) it splits, or:
inline constexpr int kReplicated = -1; ///< every shard along the dim holds it whole
inline constexpr int kPartial = -2;    ///< shards along the dim hold partial sums

/// A sliding window along one operand axis (convolution and pooling inputs):
/// output interval [lo, hi) reads input [lo*stride - pad, (hi-1)*stride -
/// pad + span), clipped to the axis. span == 0: no window.
struct AxisWindow {
  int64_t stride = 1;
  int64_t pad = 0;
  int64_t span = 0;
};

/// The layout of one tensor (operand or result) of an op.
struct TensorRule {
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  /// Per op dim: the axis it splits, kReplicated or kPartial.
  std::vector<int> axisOfDim;
  /// Per tensor axis (empty: no windows).
  std::vector<AxisWindow> windows;

  int64_t elementBytes() const { return byteWidth(dtype); }
};

struct OpShardingRule {
  std::vector<TensorRule> operands;
  std::vector<TensorRule> results;
  /// Per-step communication inside the op: an LSTM split along `hidden`
  /// gathers the hidden state every time step (`recurrentSteps` times).
  int recurrentDim = -1;
  int64_t recurrentSteps = 0;
  /// Collectives inside the op (besides the LSTM's): batch norm split along
  /// anything but its channels all-reduces its [2, C] f64 sums forward and
  /// backward; experts split along the batch all-gather every token shard's
  /// per-expert counts (int64) in the forward, as the runtime does.
  struct InnerCollective {
    Collective kind;
    /// One shard's contribution (an all-gather moves it times the group).
    TensorRule tensor;
    /// Per op dim: the collective spans the shards along it.
    std::vector<char> over;
    bool backward = false;
  };
  std::vector<InnerCollective> collectives;
  /// Kernel class for the roofline: true for products (linear, matmul,
  /// conv2d, attention, lstm, experts), false for memory-bound ops.
  bool isGemm = false;
};

/// The rule of an op, from its kind, shapes and attributes.
OpShardingRule shardingRule(const OpNode &op);

/// A config in the op's own dim order: degree and device stride per dim of
/// the op (1 and 0 for dims not split), the device of every shard and the
/// shards' coordinates. Shards are numbered row-major over the op's dims.
struct ResolvedConfig {
  std::vector<int64_t> degree;
  std::vector<int64_t> stride;
  int64_t start = 0;
  int64_t shards = 1;
  std::vector<int64_t> devices; ///< per shard
  std::vector<int64_t> coords;  ///< shards x dims
};

/// Resolves and checks a config on devices [0, numDevices) (the simulator's
/// machine, the planner's ranks: `devicesAre` says which in the error, e.g.
/// "the machine's 8 devices"); returns "" or the problem, naming the op.
std::string resolveConfig(const OpNode &op, const ParallelConfig &config,
                          int64_t numDevices, ResolvedConfig &out,
                          const std::string &devicesAre = "");

/// Why the plan's kernels cannot run `op` split with these degrees (one per
/// op dim), or "" when they can. The planner refuses such configs and the
/// search does not offer them, so that every searched strategy lowers.
std::string unsupportedSplit(const OpNode &op, const std::vector<int64_t> &degree);

/// Half-open interval of one axis held by shard coordinate `i` of a dim of
/// `dimSize` split `degree` ways (equal parts, floor boundaries), through
/// the axis window when there is one, clipped to [0, axisSize).
void axisInterval(int64_t dimSize, int64_t degree, int64_t i,
                  const AxisWindow &window, int64_t axisSize, int64_t &lo,
                  int64_t &hi);

/// The box (lo, hi per axis) of a tensor held by the shard with the given
/// coordinate per op dim, under per-dim degrees. `dims` gives the sizes.
void tensorBox(const TensorRule &rule, const std::vector<ParallelDim> &dims,
               const std::vector<int64_t> &degree,
               const std::vector<int64_t> &coord, std::vector<int64_t> &lo,
               std::vector<int64_t> &hi);

/// The largest shard of a tensor (per axis the longest interval): the shape
/// that cost keys and memory accounting use.
std::vector<int64_t> shardShape(const TensorRule &rule,
                                const std::vector<ParallelDim> &dims,
                                const std::vector<int64_t> &degree);

/// Integer attribute `name` of a canonical attribute string
/// ("groups=1,strides=array<i64: 2, 2>"), or `dflt`.
int64_t attributeInt(const std::string &attributes, const std::string &name,
                     int64_t dflt);
/// Integer array attribute, or `dflt`.
std::vector<int64_t> attributeInts(const std::string &attributes,
                                   const std::string &name,
                                   std::vector<int64_t> dflt);

} // namespace soap

#endif // SOAP_SIMULATOR_SHARDINGRULES_H
