//===- Onnx.h - soap IR from ONNX models ------------------------*- C++ -*-===//
//
// The ONNX importer: reads an ONNX ModelProto (through libonnx, with its
// checker and shape inference), folds the constant and shape arithmetic that
// exporters emit, and builds a module holding one func.func of soap ops. See
// docs/onnx.md for the op mapping and its limitations.
//
// Errors are MLIR diagnostics (emitted on the context's diagnostic engine) and
// a failure result; no exception leaves this API.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_IMPORT_ONNX_H
#define SOAP_IMPORT_ONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace soap {

/// How to import an ONNX model.
struct OnnxImportOptions {
  /// The size of a dynamic batch dimension: axis 0 of every graph input whose
  /// axis 0 is symbolic (a dim_param) or unknown. Symbolic dimensions with the
  /// same name elsewhere get the same size. Without it, a dynamic batch
  /// dimension is an error.
  std::optional<int64_t> batchSize;
  /// Sizes of other symbolic dimensions, by dim_param name (e.g. "seq").
  llvm::StringMap<int64_t> dimSizes;
  /// Keep the initializers' values on the weights (`init = value`). Without
  /// them the weights get a default initializer (docs/onnx.md) and the module
  /// stays small: the search needs only shapes.
  bool keepWeightValues = true;
  /// Graph inputs bound to known values: name -> a serialized
  /// onnx.TensorProto (the format of the backend tests' input_N.pb files).
  /// A bound input is a constant, not a function argument, so shape operands
  /// (Reshape's shape, Slice's starts, ...) fed by it fold at import.
  llvm::StringMap<std::string> boundInputs;
  /// Name of the func.func; by default the graph's name, or "main".
  std::string functionName;
};

/// Imports the ONNX model in `bytes` (a serialized ModelProto). `bufferName`
/// names it in diagnostics; external tensor data is looked up relative to
/// `baseDir`. Returns a verified module, or failure after emitting errors.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importOnnx(llvm::StringRef bytes, mlir::MLIRContext *context,
           const OnnxImportOptions &options = {},
           llvm::StringRef bufferName = "<onnx>", llvm::StringRef baseDir = "");

/// Imports the ONNX model in the file at `path`.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importOnnxFile(llvm::StringRef path, mlir::MLIRContext *context,
               const OnnxImportOptions &options = {});

/// The ONNX op types (default domain) the importer handles, sorted. Some of
/// them only in part: see onnxLimitations().
llvm::ArrayRef<llvm::StringRef> getSupportedOnnxOpTypes();

/// One documented limitation of the importer: a case of a supported op type
/// (an attribute value, a dtype, a dynamic operand) that soap does not
/// express. Its diagnostic contains "[limitation: <id>]".
struct OnnxLimitation {
  llvm::StringRef id;
  llvm::StringRef description;
};

/// Every limitation the importer may report (docs/onnx.md lists them too).
llvm::ArrayRef<OnnxLimitation> getOnnxLimitations();

/// The ONNX opsets (default domain) the importer accepts; older models are
/// first converted to opset kMinOnnxOpset with ONNX's version converter.
constexpr int64_t kMinOnnxOpset = 7;
constexpr int64_t kMaxOnnxOpset = 17;

/// Registers the `--import-onnx` translation (soap-translate). Its options are
/// --batch, --dim NAME=SIZE, --drop-weight-values and --bind-input NAME=FILE.
void registerOnnxTranslation();

} // namespace soap

#endif // SOAP_IMPORT_ONNX_H
