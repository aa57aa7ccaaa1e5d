//===- LoadModel.h - soap IR from a model file -------------------*- C++ -*-===//
#ifndef SOAP_DRIVER_LOADMODEL_H
#define SOAP_DRIVER_LOADMODEL_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <optional>

namespace soap {

struct LoadModelOptions {
  /// Binds a dynamic batch dimension of an ONNX model.
  std::optional<int64_t> batch;
};

/// Reads a model: `.onnx` through the ONNX importer, anything else as soap
/// IR (text or bytecode). The result is verified. Errors are diagnostics on
/// the context (file:line:col for IR, node names for ONNX).
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
loadModel(mlir::MLIRContext &context, llvm::StringRef path,
          const LoadModelOptions &options = {});

} // namespace soap

#endif // SOAP_DRIVER_LOADMODEL_H
