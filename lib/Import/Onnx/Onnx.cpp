//===- Onnx.cpp - soap IR from ONNX models --------------------------------===//
//
// The entry points of include/soap/Import/Onnx.h: parse and check the model
// with libonnx, bring old opsets to 7, bind dynamic dimensions, run ONNX shape
// inference, walk the graph (Importer.cpp), rewrite (Patterns.cpp), verify.
// libonnx and protobuf report errors with exceptions: they are caught here and
// become diagnostics.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "soap/Dialect/Soap/SoapDialect.h"
#include "soap/Import/Onnx.h"

#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"
#include "onnx/version_converter/convert.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <exception>

using namespace mlir;
using namespace soap;
using namespace soap::onnx_import;

ArrayRef<OnnxLimitation> soap::getOnnxLimitations() {
  static const OnnxLimitation limitations[] = {
      {"dtype", "a runtime tensor (or a constant needed at run time) of an "
                "element type soap does not hold: 8- and 16-bit and "
                "unsigned integers, STRING, complex; sequences, maps, "
                "optionals and sparse tensors"},
      {"integer-compute", "arithmetic, activations, reductions, pooling or "
                          "products on integer runtime tensors (soap computes "
                          "on floats; integers are indices only)"},
      {"dynamic-operand", "an operand soap needs at import time (a shape, "
                          "axes, sizes, starts/ends, a dropout ratio, ...) "
                          "is a runtime value"},
      {"dynamic-shape", "a graph input without a shape, or with a dynamic "
                        "dimension that no --batch/--dim binding fixes"},
      {"fold-only", "an op that soap folds at import time only (Where, "
                    "Range) has runtime inputs"},
      {"spatial-rank", "Conv with 3 or more spatial dimensions, MaxPool or "
                       "AveragePool with 4 or more (soap has 2-D windows; 1-D "
                       "ones are mapped onto them, 3-D pooling is two 2-D "
                       "poolings)"},
      {"pool-padding", "pooling whose padding reaches the kernel's span, or "
                       "ceil_mode with count_include_pad"},
      {"optional-output", "an optional output that soap does not compute is "
                          "used: BatchNormalization's saved statistics "
                          "(before opset 14), MaxPool's indices, LSTM's "
                          "Y_c, LayerNormalization's "
                          "statistics of a non-FLOAT input"},
      {"empty-tensor", "an op would compute a zero-size tensor from a "
                       "runtime one (a Gather of no index)"},
      {"lstm-variant", "LSTM with direction reverse or bidirectional, "
                       "peepholes, sequence_lens shorter than the sequence, "
                       "non-zero initial states, non-default activations, "
                       "clip or input_forget"},
      {"gather-variant", "Gather with runtime indices that is not an "
                         "embedding (axis 0 of a 2-D float table), or with "
                         "more than 64 known indices on a runtime tensor"},
      {"batch-norm-spatial", "BatchNormalization with spatial = 0 (opsets 7 "
                             "and 8)"},
      {"layer-norm-scale", "LayerNormalization whose scale or bias is not "
                           "shaped like the normalized axes (a reshape of "
                           "the same element count is fine)"},
      {"opset", "a model whose default-domain opset is outside 7-17 and "
                "that ONNX's version converter cannot bring to 7"},
  };
  return limitations;
}

ArrayRef<StringRef> soap::getSupportedOnnxOpTypes() {
  static const SmallVector<StringRef> types = [] {
    SmallVector<StringRef> out;
    for (const auto &entry : getConverters())
      out.push_back(entry.getKey());
    llvm::sort(out);
    return out;
  }();
  return types;
}

/// Reports every op type of the graph that soap does not import, once each,
/// naming its first node.
static LogicalResult checkOpTypes(MLIRContext *context, StringRef bufferName,
                                  const onnx::ModelProto &model) {
  int64_t opset = 0;
  for (const auto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset = entry.version();
  const auto &converters = getConverters();
  const onnx::GraphProto &graph = model.graph();
  llvm::StringSet<> reported;
  bool ok = true;
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto &node = graph.node(i);
    bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
    if (defaultDomain && converters.count(node.op_type()))
      continue;
    if (!reported.insert(node.domain() + ":" + node.op_type()).second)
      continue;
    ok = false;
    std::string name = node.name().empty()
                           ? node.op_type() + "_" + std::to_string(i)
                           : node.name();
    Location loc = NameLoc::get(StringAttr::get(context, name),
                                FileLineColLoc::get(context, bufferName, 0, 0));
    auto diag = emitError(loc) << "node '" << name << "' (" << node.op_type();
    if (!defaultDomain)
      diag << ", domain '" << node.domain() << "'";
    diag << ", opset " << opset << "): op type '" << node.op_type()
         << "' is not supported by soap's ONNX importer; supported op types: "
         << llvm::join(getSupportedOnnxOpTypes(), ", ");
  }
  return success(ok);
}

namespace {
/// Parses, checks and prepares a model for the Importer.
class ModelLoader {
public:
  ModelLoader(MLIRContext *context, const OnnxImportOptions &options,
              StringRef bufferName)
      : context(context), options(options), bufferName(bufferName.str()),
        loc(FileLineColLoc::get(context, bufferName, 0, 0)) {}

  LogicalResult load(StringRef bytes, onnx::ModelProto &model);

private:
  LogicalResult checkOpset(onnx::ModelProto &model);
  void bindDimensions(onnx::ModelProto &model);
  LogicalResult inferShapes(onnx::ModelProto &model);
  /// The node a libonnx inference message names: its location and the
  /// importer's "node 'NAME' (OP, opset N): " prefix (empty if none).
  std::pair<Location, std::string>
  describeInferenceError(const onnx::ModelProto &model, StringRef message);

  MLIRContext *context;
  const OnnxImportOptions &options;
  std::string bufferName;
  Location loc;
};
} // namespace

LogicalResult ModelLoader::load(StringRef bytes, onnx::ModelProto &model) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    return emitError(loc) << "the file is larger than 2 GiB: protobuf cannot "
                             "parse it; store the weights as ONNX external "
                             "data";
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return emitError(loc)
           << "cannot parse the file as an ONNX model: it is truncated or is "
              "not a serialized onnx.ModelProto (protobuf)";
  if (model.ir_version() <= 0 || !model.has_graph())
    return emitError(loc)
           << "the file is not an ONNX model: "
           << (model.ir_version() <= 0 ? "it has no ir_version"
                                       : "it has no graph")
           << " (is it a serialized onnx.ModelProto?)";
  if (failed(checkOpset(model)) ||
      failed(checkOpTypes(context, bufferName, model)))
    return failure();
  // Graph inputs and outputs must be tensors, and inputs need shapes (before
  // the checker and shape inference, whose messages do not name them).
  llvm::StringSet<> initializers;
  for (const auto &init : model.graph().initializer())
    initializers.insert(init.name());
  for (const auto *list : {&model.graph().input(), &model.graph().output()})
    for (const auto &vi : *list) {
      if (!vi.type().has_tensor_type())
        return emitError(loc) << "graph input or output '" << vi.name()
                              << "' is not a tensor (sequences, maps and "
                                 "optionals are not supported) "
                                 "[limitation: dtype]";
      if (list == &model.graph().input() && !initializers.contains(vi.name()) &&
          !options.boundInputs.count(vi.name()) &&
          !vi.type().tensor_type().has_shape())
        return emitError(loc) << "graph input '" << vi.name()
                              << "' has no shape; soap needs static shapes "
                                 "[limitation: dynamic-shape]";
    }
  // The checker wants shapes on the graph outputs; shape inference gives
  // them to outputs declared with an element type only.
  if (llvm::any_of(model.graph().output(), [](const onnx::ValueInfoProto &vi) {
        return !vi.type().tensor_type().has_shape();
      })) {
    try {
      onnx::shape_inference::InferShapes(model);
    } catch (const std::exception &) {
      // Reported by the checker or by the strict inference below.
    }
    // An output still without a shape: a node before it did not type; strict
    // inference names it.
    if (llvm::any_of(model.graph().output(),
                     [](const onnx::ValueInfoProto &vi) {
                       return !vi.type().tensor_type().has_shape();
                     })) {
      try {
        onnx::ModelProto copy = model;
        onnx::ShapeInferenceOptions strict(true, 1, true);
        onnx::shape_inference::InferShapes(
            copy, onnx::OpSchemaRegistry::Instance(), strict);
      } catch (const std::exception &e) {
        std::string what = StringRef(e.what()).trim().str();
        auto [where, prefix] = describeInferenceError(model, what);
        return emitError(where) << prefix << "inconsistent shapes: ONNX "
                                << "shape inference failed (" << what << ")";
      }
    }
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    return emitError(loc) << "the file is not a valid ONNX model: "
                          << StringRef(e.what()).trim();
  }
  bindDimensions(model);
  return inferShapes(model);
}

LogicalResult ModelLoader::checkOpset(onnx::ModelProto &model) {
  int64_t opset = -1;
  for (const auto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset = entry.version();
  if (opset < 0) {
    // Only other domains: the op-type check names the unsupported ops.
    return success();
  }
  if (opset > kMaxOnnxOpset)
    return emitError(loc) << "the model uses opset " << opset
                          << "; soap imports opsets " << kMinOnnxOpset << " to "
                          << kMaxOnnxOpset << " [limitation: opset]";
  if (opset >= kMinOnnxOpset)
    return success();
  try {
    // The converter needs the shapes of the old model.
    onnx::shape_inference::InferShapes(model);
    model = onnx::version_conversion::ConvertVersion(model, kMinOnnxOpset);
  } catch (const std::exception &e) {
    return emitError(loc) << "the model uses opset " << opset
                          << ", and ONNX's version converter cannot bring it "
                             "to opset "
                          << kMinOnnxOpset << ": " << e.what()
                          << " [limitation: opset]";
  }
  return success();
}

/// Gives dynamic dimensions of the graph inputs their bound sizes (the batch
/// size on axis 0, --dim sizes by name), and the same symbols elsewhere.
void ModelLoader::bindDimensions(onnx::ModelProto &model) {
  onnx::GraphProto *graph = model.mutable_graph();
  llvm::StringSet<> initializers;
  for (const auto &init : graph->initializer())
    initializers.insert(init.name());
  llvm::StringMap<int64_t> symbols;
  for (const auto &[name, size] : options.dimSizes)
    symbols[name] = size;
  for (auto &in : *graph->mutable_input()) {
    if (initializers.contains(in.name()) || !in.type().has_tensor_type() ||
        !in.type().tensor_type().has_shape() ||
        options.boundInputs.count(in.name()))
      continue;
    auto *shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int d = 0; d < shape->dim_size(); ++d) {
      auto *dim = shape->mutable_dim(d);
      if (dim->has_dim_value() && dim->dim_value() >= 0)
        continue;
      std::string param = dim->has_dim_param() ? dim->dim_param() : "";
      std::optional<int64_t> size;
      if (!param.empty() && symbols.count(param))
        size = symbols.lookup(param);
      else if (d == 0 && options.batchSize)
        size = *options.batchSize;
      if (!size)
        continue;
      if (!param.empty())
        symbols[param] = *size;
      dim->set_dim_value(*size);
    }
  }
  // Outputs and intermediate values: replace bound symbols, and drop the
  // shapes shape inference will recompute.
  auto rebind = [&](onnx::ValueInfoProto &vi) {
    if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape())
      return;
    auto *shape = vi.mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int d = 0; d < shape->dim_size(); ++d) {
      auto *dim = shape->mutable_dim(d);
      if (dim->has_dim_param() && symbols.count(dim->dim_param()))
        dim->set_dim_value(symbols.lookup(dim->dim_param()));
    }
  };
  for (auto &out : *graph->mutable_output())
    rebind(out);
  for (auto &vi : *graph->mutable_value_info())
    rebind(vi);
  // Bound inputs take the shape of their values.
  for (auto &in : *graph->mutable_input()) {
    auto bound = options.boundInputs.find(in.name());
    if (bound == options.boundInputs.end())
      continue;
    onnx::TensorProto proto;
    if (!proto.ParseFromString(bound->second))
      continue; // reported by the importer
    auto *tt = in.mutable_type()->mutable_tensor_type();
    auto *shape = tt->mutable_shape();
    shape->clear_dim();
    for (int64_t d : proto.dims())
      shape->add_dim()->set_dim_value(d);
  }
}

std::pair<Location, std::string>
ModelLoader::describeInferenceError(const onnx::ModelProto &model,
                                    StringRef message) {
  // libonnx's messages read "[ShapeInferenceError] (op_type:Add, node name:
  // n): ..."; name the node the way the importer does.
  size_t opPos = message.find("op_type:"), namePos = message.find("node name: ");
  if (opPos == StringRef::npos || namePos == StringRef::npos)
    return {loc, ""};
  StringRef op = message.substr(opPos + 8).take_until(
      [](char c) { return c == ',' || c == ')'; });
  StringRef node =
      message.substr(namePos + 11).take_until([](char c) { return c == ')'; });
  int64_t opset = 0;
  for (const auto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset = entry.version();
  return {NameLoc::get(StringAttr::get(context, node), loc),
          ("node '" + node + "' (" + op + ", opset " + Twine(opset) + "): ")
              .str()};
}

LogicalResult ModelLoader::inferShapes(onnx::ModelProto &model) {
  std::string strictError;
  try {
    onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*strict_mode=*/1,
                                       /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       strict);
    return success();
  } catch (const std::exception &e) {
    strictError = e.what();
  }
  // Strict inference stops at the first node it cannot type (sometimes a
  // model that declares too old an opset for one of its nodes): say so, and
  // go on with what it infers; soap's own shape rules check every op.
  auto [where, prefix] = describeInferenceError(model, strictError);
  emitWarning(where) << prefix << "ONNX shape inference failed ("
                     << StringRef(strictError).trim()
                     << "); importing with soap's own shape checks";
  try {
    onnx::ShapeInferenceOptions lenient(/*check_type=*/false,
                                        /*strict_mode=*/0, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       lenient);
  } catch (const std::exception &e) {
    return emitError(loc) << "ONNX shape inference failed: " << e.what();
  }
  return success();
}

/// Removes ops whose results nothing reads (dead ONNX nodes, helpers left by
/// the patterns); weights stay.
static void eraseDeadOps(func::FuncOp func) {
  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) { ops.push_back(op); });
  for (Operation *op : llvm::reverse(ops))
    if (op != func && isOpTriviallyDead(op))
      op->erase();
}

FailureOr<OwningOpRef<ModuleOp>>
soap::importOnnx(StringRef bytes, MLIRContext *context,
                 const OnnxImportOptions &options, StringRef bufferName,
                 StringRef baseDir) {
  context->loadDialect<SoapDialect, func::FuncDialect>();
  Location loc = FileLineColLoc::get(context, bufferName, 0, 0);
  try {
    onnx::ModelProto model;
    ModelLoader loader(context, options, bufferName);
    if (failed(loader.load(bytes, model)))
      return failure();
    OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
    Importer importer(context, options, bufferName, baseDir);
    if (failed(importer.importGraph(model, *module)))
      return failure();
    for (auto func : module->getOps<func::FuncOp>()) {
      runImportPatterns(func);
      eraseDeadOps(func);
    }
    if (failed(verify(*module))) {
      emitError(loc) << "internal error: the imported module does not "
                        "verify";
      return failure();
    }
    return module;
  } catch (const std::exception &e) {
    return emitError(loc) << "cannot import the model: " << e.what();
  }
}

FailureOr<OwningOpRef<ModuleOp>>
soap::importOnnxFile(StringRef path, MLIRContext *context,
                     const OnnxImportOptions &options) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!file) {
    context->loadDialect<func::FuncDialect>();
    return emitError(UnknownLoc::get(context))
           << "cannot read '" << path << "': " << file.getError().message();
  }
  return importOnnx((*file)->getBuffer(), context, options, path,
                    llvm::sys::path::parent_path(path));
}
