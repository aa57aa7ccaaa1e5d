//===- Extract.h - OpGraph from soap IR -------------------------*- C++ -*-===//
//
// The only bridge between MLIR and the plain C++ layers. Tools and passes
// include this header; the search and the simulator include OpGraph.h only.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_GRAPH_EXTRACT_H
#define SOAP_GRAPH_EXTRACT_H

#include "soap/Graph/OpGraph.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace soap {

/// Extracts the graph of one model function. Fails, with a diagnostic at the
/// offending op, on ops that are neither soap compute ops, weights, constants
/// nor the return, on duplicate op names, and on dynamic shapes.
mlir::FailureOr<OpGraph> extractOpGraph(mlir::func::FuncOp func);

/// The model function of a module: its only function, or the one named
/// `entry` when not empty. Fails with a diagnostic when there is none or it
/// is ambiguous.
mlir::FailureOr<mlir::func::FuncOp> modelFunction(mlir::ModuleOp module,
                                                  llvm::StringRef entry = "");

/// extractOpGraph of the module's model function (see modelFunction).
mlir::FailureOr<OpGraph> extractOpGraph(mlir::ModuleOp module,
                                        llvm::StringRef entry = "");

/// The stable name of an op: its `soap.name`, else its name location, else
/// "<kind>_<ordinal>" (ordinal: the op's index among the function's compute
/// ops, which makes the fallback stable for a given model file).
std::string stableOpName(mlir::Operation *op, unsigned ordinal);

} // namespace soap

#endif // SOAP_GRAPH_EXTRACT_H
