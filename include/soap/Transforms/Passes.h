//===- Passes.h - Soap's passes ---------------------------------*- C++ -*-===//
#ifndef SOAP_TRANSFORMS_PASSES_H
#define SOAP_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace soap {
struct StrategyFile;
} // namespace soap

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace soap {

#define GEN_PASS_DECL
#include "soap/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "soap/Transforms/Passes.h.inc"

/// Attaches `soap.parallel` to every compute op of `func` from `strategy`
/// (already checked against the model with validateStrategy). Ops are
/// matched by stable name; dims are listed in the op's order.
mlir::LogicalResult applyStrategy(mlir::func::FuncOp func,
                                  const StrategyFile &strategy);

} // namespace soap

#endif // SOAP_TRANSFORMS_PASSES_H
