//===- Planner.h - OpGraph + Strategy -> per-device plan --------*- C++ -*-===//
//
// The lowering's solver (design section 2, "LowerToPlan"): a pure function
// of the op graph, one parallel config per op and the number of ranks. It
// knows nothing of MLIR; the soap-lower-to-plan pass extracts the graph and
// the configs and calls it.
//
// Every layout comes from the simulator's sharding rules
// (soap/Simulator/ShardingRules.h): which box of each tensor a shard reads
// and writes, which dims leave an operand replicated and which make a result
// a partial sum. The plan follows the simulator's task graph slot by slot
// (forward-comm, forward, partial-sum; backward-comm, backward,
// gradient-sync, update per op; a transfer and a gradient transfer per
// edge), so that the prediction and the execution describe one program.
// docs/lowering.md explains the choices; docs/plan-format.md the result.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_PLAN_PLANNER_H
#define SOAP_PLAN_PLANNER_H

#include "soap/Graph/OpGraph.h"
#include "soap/Plan/Plan.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/ShardingRules.h"
#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace soap {

//===----------------------------------------------------------------------===//
// Configs resolved against an op, and the sharding of its tensors
//===----------------------------------------------------------------------===//

/// A parallel config in the op's own dimension order: per op dim its degree
/// and device stride (1 and 0 when not split); shards numbered row-major
/// over the op's dims (the simulator's numbering).
struct ShardGrid {
  std::vector<int64_t> degree;
  std::vector<int64_t> stride;
  int64_t start = 0;
  /// Per shard: its device (rank) and its coordinate per op dim.
  std::vector<int64_t> devices;
  std::vector<std::vector<int64_t>> coords;

  int64_t numShards() const { return static_cast<int64_t>(devices.size()); }
};

/// Resolves `config` for `op` on `numRanks` ranks; the error names the op
/// and the problem (unknown dim, degree not dividing, a shard outside the
/// ranks or two shards on one rank).
Expected<ShardGrid> resolveShardGrid(const OpNode &op,
                                     const ParallelConfig &config,
                                     int64_t numRanks);

/// How one tensor of an op is distributed under a config, without the
/// placement: per tensor axis the number of pieces (and the window that
/// makes neighbouring pieces overlap, a halo), how many shards hold partial
/// sums of each piece (a split reduction dim) and how many hold copies of
/// it (a split dim that leaves the tensor whole). axes x partial x replicas
/// = the op's shards. This is what soap-materialize-parallel-ops makes
/// explicit and checks.
struct TensorSharding {
  std::vector<int64_t> axisDegree;
  /// Per axis; span 0 = no window (or the axis is not split).
  std::vector<AxisWindow> windows;
  int64_t partial = 1;
  int64_t replicas = 1;

  bool operator==(const TensorSharding &o) const;
  bool operator!=(const TensorSharding &o) const { return !(*this == o); }
  /// "[4, 1, 2{halo 1/0/3}] partial 2 replicas 2"-style text.
  std::string str() const;
};

/// The sharding of a tensor with layout `rule` under the op's grid.
TensorSharding tensorSharding(const TensorRule &rule, const ShardGrid &grid);

//===----------------------------------------------------------------------===//
// The planner
//===----------------------------------------------------------------------===//

struct PlanOptions {
  OptimizerSettings optimizer;
  /// Ranks per node: a piece held by several replicas is fetched from the
  /// same rank, else from the same node, else from any (the simulator's
  /// choice). 0: all ranks on one node.
  int64_t devicesPerNode = 0;
  /// Initializers by weight name (shape and dtype come from the graph);
  /// weights not listed get "normal" with scale 0.02.
  std::map<std::string, PlanWeight> weightInits;
  /// Values of constant operands by (op name, operand index). A constant
  /// operand without a value is an error.
  std::map<std::pair<std::string, int>, PlanConstant> constants;
  /// A forward-only plan (Plan::forwardOnly): the forward pass, its
  /// transfers and partial sums, and the outputs; no gradients, optimizer
  /// states, backward or update tasks.
  bool forwardOnly = false;
};

/// Builds the plan of one training step. `strategy.configs[i]` is op i's
/// config; every shard must lie on a rank in [0, numRanks). With
/// `strategy.training`'s pipeline stages and micro-batches (GPipe or 1F1B;
/// micro-batches alone: gradient accumulation) the step runs as the
/// schedule's units, with the full-batch step's numerics
/// (docs/lowering.md, "Pipelines and micro-batches"). Its ZeRO stage,
/// optimizer offload and recompute flags are lowered too (docs/lowering.md,
/// "ZeRO, offload and recomputation"), with pipelines or without (ZeRO and
/// offload act in each stage's flush; a recomputed run is re-run per
/// micro-batch). On failure the message names the op, and `failedOp`
/// (when given) receives its index (-1 when the problem is not one op's).
Expected<Plan> buildPlan(const OpGraph &graph, const Strategy &strategy,
                         int64_t numRanks, const PlanOptions &options = {},
                         int *failedOp = nullptr);

/// Why buildPlan would refuse `strategy` before building anything: its
/// configs' grids, the kernels' unsupported splits, its training options
/// and pipeline (stage devices, micro-batches the ops can take, the
/// combinations the lowering does not execute). "" when none of those
/// applies. Cheap (no buffers or tasks): the search uses it to offer only
/// strategies that lower. `failedOp` as for buildPlan.
std::string planRefusal(const OpGraph &graph, const Strategy &strategy,
                        int64_t numRanks, int *failedOp = nullptr);

/// Extra kernel FLOPs a config asks for on purpose, over the op's FLOPs:
/// the compute it replicates. Today: attention split along `seq` recomputes
/// the key and value projections in every query shard. {forward, backward}.
std::pair<int64_t, int64_t> replicatedFlops(const OpNode &op,
                                            const ShardGrid &grid);

} // namespace soap

#endif // SOAP_PLAN_PLANNER_H
