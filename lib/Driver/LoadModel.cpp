//===- LoadModel.cpp - soap IR from a model file --------------------------===//
#include "soap/Driver/LoadModel.h"
#include "soap/Import/Onnx.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace soap {

FailureOr<OwningOpRef<ModuleOp>> loadModel(MLIRContext &context,
                                           llvm::StringRef path,
                                           const LoadModelOptions &options) {
  if (path.ends_with_insensitive(".onnx")) {
    OnnxImportOptions onnx;
    onnx.batchSize = options.batch;
    // The search needs shapes only; the weights' values stay in the file.
    onnx.keepWeightValues = false;
    return importOnnxFile(path, &context, onnx);
  }
  if (options.batch)
    return emitError(UnknownLoc::get(&context))
           << "--batch applies to ONNX models; '" << path
           << "' is soap IR, whose shapes are fixed (re-emit it with the "
              "wanted batch, e.g. soap-zoo --batch)";
  llvm::SourceMgr sources;
  ParserConfig config(&context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(path, sources, config);
  if (!module) // the parser has reported why (unreadable file, syntax)
    return failure();
  if (failed(verify(*module)))
    return failure();
  return module;
}

} // namespace soap
