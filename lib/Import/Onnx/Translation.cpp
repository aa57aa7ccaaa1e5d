//===- Translation.cpp - the --import-onnx translation --------------------===//
#include "soap/Import/Onnx.h"

#include "soap/Dialect/Soap/SoapDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Tools/mlir-translate/Translation.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

/// Splits "NAME=VALUE"; false if there is no '=' or a side is empty.
static bool splitBinding(llvm::StringRef binding, llvm::StringRef &name,
                         llvm::StringRef &value) {
  std::tie(name, value) = binding.split('=');
  return !name.empty() && !value.empty() && binding.contains('=');
}

void soap::registerOnnxTranslation() {
  static bool registered = false;
  if (registered)
    return;
  registered = true;

  static llvm::cl::OptionCategory category("ONNX import options");
  static llvm::cl::opt<int64_t> batch(
      "batch",
      llvm::cl::desc("Size of a dynamic batch dimension (axis 0 of the graph "
                     "inputs)"),
      llvm::cl::init(0), llvm::cl::cat(category));
  static llvm::cl::list<std::string> dims(
      "dim", llvm::cl::desc("NAME=SIZE: the size of a symbolic dimension"),
      llvm::cl::cat(category));
  static llvm::cl::opt<bool> dropValues(
      "drop-weight-values",
      llvm::cl::desc("Do not keep the initializers' values on the weights "
                     "(shapes only, for the search)"),
      llvm::cl::init(false), llvm::cl::cat(category));
  static llvm::cl::list<std::string> binds(
      "bind-input",
      llvm::cl::desc("NAME=FILE.pb: bind a graph input to the serialized "
                     "TensorProto in FILE (its shape operands then fold)"),
      llvm::cl::cat(category));

  static TranslateToMLIRRegistration importOnnx(
      "import-onnx", "Import an ONNX model (a serialized ModelProto)",
      [](const std::shared_ptr<llvm::SourceMgr> &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr->getMemoryBuffer(sourceMgr->getMainFileID());
        llvm::StringRef path = buffer->getBufferIdentifier();
        Location loc = FileLineColLoc::get(context, path, 0, 0);
        OnnxImportOptions options;
        if (batch > 0)
          options.batchSize = batch;
        else if (batch < 0) {
          emitError(loc) << "--batch must be positive";
          return nullptr;
        }
        options.keepWeightValues = !dropValues;
        for (const std::string &d : dims) {
          llvm::StringRef name, value;
          int64_t size;
          if (!splitBinding(d, name, value) || value.getAsInteger(10, size) ||
              size <= 0) {
            emitError(loc) << "--dim expects NAME=SIZE with SIZE > 0, got '"
                           << d << "'";
            return nullptr;
          }
          options.dimSizes[name] = size;
        }
        for (const std::string &b : binds) {
          llvm::StringRef name, file;
          if (!splitBinding(b, name, file)) {
            emitError(loc) << "--bind-input expects NAME=FILE, got '" << b
                           << "'";
            return nullptr;
          }
          auto contents = llvm::MemoryBuffer::getFile(file, /*IsText=*/false);
          if (!contents) {
            emitError(loc) << "cannot read '" << file
                           << "': " << contents.getError().message();
            return nullptr;
          }
          options.boundInputs[name] = (*contents)->getBuffer().str();
        }
        auto module = soap::importOnnx(buffer->getBuffer(), context, options,
                                       path,
                                       llvm::sys::path::parent_path(path));
        if (failed(module))
          return nullptr;
        return OwningOpRef<Operation *>(module->release());
      },
      [](DialectRegistry &registry) {
        registry.insert<SoapDialect, func::FuncDialect>();
      });
}
