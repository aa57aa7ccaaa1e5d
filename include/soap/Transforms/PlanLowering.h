//===- PlanLowering.h - a model with its #soap.parallel configs -*- C++ -*-===//
//
// What soap-materialize-parallel-ops, soap-verify-parallel-ops and
// soap-lower-to-plan share: the model function's op graph with one parallel
// config per op (from the ops' `soap.parallel` attributes), and the sharding
// of every SSA value derived from the simulator's sharding rules.
//
// Sharding of a value (TensorSharding, soap/Plan/Planner.h): how many pieces
// along each axis (with the halo window of a conv/pool input), how many
// partial sums and how many replicas. Function arguments, weights and
// constants are logical, unsharded values; a compute op's result is sharded
// as its config and rule say; each parallel op transforms the sharding of
// its operand (docs/lowering.md):
//
//   soap.repartition dim a degree k   pieces along a times k
//   soap.repartition dim a degree 1 {halo = array<i64: n, stride, pad, span>}
//                                     n overlapping pieces along a: the
//                                     input windows (of a conv or pool) of an
//                                     even n-way split of the output; from
//                                     the whole axis, or a halo exchange
//                                     between n plain pieces
//   soap.combine dim a degree k       pieces along a divided by k
//   soap.replicate degree k           replicas times k
//   soap.reduce degree k              partial sums divided by k
//   soap.all_reduce degree k          partial sums divided by k, replicas
//                                     times k
//
// A compute op's operand must have exactly the sharding its config needs,
// and a returned value must not be a partial sum.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_TRANSFORMS_PLANLOWERING_H
#define SOAP_TRANSFORMS_PLANLOWERING_H

#include "soap/Dialect/Soap/SoapFunctionAttrs.h"
#include "soap/Graph/OpGraph.h"
#include "soap/Plan/Planner.h"
#include "soap/Simulator/Strategy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace soap {

/// The name of the discardable attribute of a halo repartition.
inline constexpr const char *kHaloAttrName = "halo";

/// A model function with a parallel config on every compute op.
struct ParallelModel {
  mlir::func::FuncOp func;
  OpGraph graph;
  /// The compute op of each graph op (same index).
  std::vector<mlir::Operation *> ops;
  /// Per graph op, from its `soap.parallel`; the pipeline from the
  /// function's `soap.pipeline`.
  Strategy strategy;
  /// 1 + the largest device any config uses.
  int64_t minRanks = 1;
  /// Per graph op: its sharding rule and its grid (on minRanks ranks).
  std::vector<OpShardingRule> rules;
  std::vector<ShardGrid> grids;
};

/// Extracts the model function of `module` (the only one, or `entry`);
/// parallel ops are looked through (they do not change values). Every
/// compute op must carry `soap.parallel`; a missing or unusable one is an
/// error located at the op.
mlir::FailureOr<ParallelModel> extractParallelModel(mlir::ModuleOp module,
                                                    llvm::StringRef entry = "");

/// The weight initializers and constant operand values the planner needs.
void collectPlanInputs(const ParallelModel &model, PlanOptions &options);

/// True for soap.repartition, combine, replicate, reduce and all_reduce.
bool isParallelOp(mlir::Operation *op);

/// The sharding of a logical, unsharded value of this type.
TensorSharding unsharded(mlir::Type type);

/// The sharding a parallel op produces from its operand's, or a message
/// saying why it cannot apply.
mlir::FailureOr<TensorSharding> applyParallelOp(mlir::Operation *op,
                                                const TensorSharding &in,
                                                std::string &problem);

/// Checks that every value's sharding is explicit and consistent (see the
/// file comment); diagnostics are located at the offending op.
mlir::LogicalResult verifyParallelOps(const ParallelModel &model);

} // namespace soap

#endif // SOAP_TRANSFORMS_PLANLOWERING_H
