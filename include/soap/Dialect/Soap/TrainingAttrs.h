//===- TrainingAttrs.h - the strategy's training options in the IR -*- C++ -*-===//
//
// A strategy's options beyond one config per op (issue 8) ride on the IR
// between soap-apply-strategy and soap-lower-to-plan as discardable
// attributes, verified by the soap dialect:
//
//   func.func @model(...) attributes {soap.training = {zero_stage = 2 : i64,
//                                                      offload_optimizer}}
//   %y = soap.linear ... {soap.parallel = ..., soap.recompute}
//
// Pipeline stages are not carried: the lowering does not execute them.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_DIALECT_SOAP_TRAININGATTRS_H
#define SOAP_DIALECT_SOAP_TRAININGATTRS_H

#include "llvm/ADT/StringRef.h"

namespace soap {

/// On a compute op (unit): its results are recomputed in the backward pass.
inline constexpr llvm::StringLiteral kRecomputeAttrName = "soap.recompute";
/// On the model function: a dictionary with `zero_stage` (integer 0..3) and
/// `offload_optimizer` (unit).
inline constexpr llvm::StringLiteral kTrainingAttrName = "soap.training";
inline constexpr llvm::StringLiteral kZeroStageKey = "zero_stage";
inline constexpr llvm::StringLiteral kOffloadOptimizerKey = "offload_optimizer";

} // namespace soap

#endif // SOAP_DIALECT_SOAP_TRAININGATTRS_H
