//===- Importer.cpp - the ONNX graph walker -------------------------------===//
#include "Importer.h"

#include "soap/Dialect/Soap/SoapOps.h"

#include "onnx/onnx_pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace soap;
using namespace soap::onnx_import;

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + (d < 0 ? std::string("?") : std::to_string(d));
  return s + "]";
}

/// The ONNX dtype of an MLIR element type (kUndefined if none).
static int32_t mlirToDtype(Type type) {
  if (auto t = dyn_cast<ShapedType>(type))
    type = t.getElementType();
  if (type.isF32()) return kFloat;
  if (type.isF64()) return kDouble;
  if (type.isF16()) return kFloat16;
  if (type.isBF16()) return kBfloat16;
  if (type.isInteger(1)) return kBool;
  if (auto i = dyn_cast<IntegerType>(type)) {
    bool u = i.isUnsigned();
    switch (i.getWidth()) {
    case 8: return u ? kUint8 : kInt8;
    case 16: return u ? kUint16 : kInt16;
    case 32: return u ? kUint32 : kInt32;
    case 64: return u ? kUint64 : kInt64;
    default: break;
    }
  }
  return kUndefined;
}

Importer::Importer(MLIRContext *context, const OnnxImportOptions &options,
                   StringRef bufferName, StringRef baseDir)
    : context(context), options(options), bufferName(bufferName.str()),
      baseDir(baseDir.str()), builder(context), weightBuilder(context),
      currentLoc(UnknownLoc::get(context)) {}

StringRef Importer::opType() const { return current->op_type(); }

InFlightDiagnostic Importer::nodeError() {
  if (!current)
    return emitError(currentLoc);
  return emitError(currentLoc) << "node '" << currentName << "' ("
                               << current->op_type() << ", opset "
                               << opsetVersion << "): ";
}

LogicalResult Importer::limitation(StringRef id, const Twine &message) {
  assert(llvm::any_of(getOnnxLimitations(),
                      [&](const OnnxLimitation &l) { return l.id == id; }) &&
         "undocumented limitation id");
  return nodeError() << message << " [limitation: " << id << "]";
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

const onnx::AttributeProto *Importer::attr(StringRef name) const {
  for (const auto &a : current->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::attrInt(StringRef name, int64_t defaultValue) const {
  const auto *a = attr(name);
  return a ? a->i() : defaultValue;
}

/// The double nearest to the shortest decimal that round-trips `value` as a
/// float: ONNX stores float attributes, and 1e-5f should read 1e-5.
double soap::onnx_import::shortestDouble(double value) {
  float f = static_cast<float>(value);
  for (int digits = 6; digits <= 9; ++digits) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, double(f));
    double parsed = std::strtod(buffer, nullptr);
    if (static_cast<float>(parsed) == f)
      return parsed;
  }
  return f;
}

double Importer::attrFloat(StringRef name, double defaultValue) const {
  const auto *a = attr(name);
  return a ? shortestDouble(a->f()) : defaultValue;
}

std::string Importer::attrString(StringRef name,
                                 StringRef defaultValue) const {
  const auto *a = attr(name);
  return a ? a->s() : defaultValue.str();
}

SmallVector<int64_t> Importer::attrInts(StringRef name) const {
  SmallVector<int64_t> out;
  if (const auto *a = attr(name))
    out.assign(a->ints().begin(), a->ints().end());
  return out;
}

//===----------------------------------------------------------------------===//
// Inputs and outputs
//===----------------------------------------------------------------------===//

int Importer::numInputs() const { return current->input_size(); }

bool Importer::hasInput(int i) const {
  return i < current->input_size() && !current->input(i).empty();
}

Val &Importer::input(int i) {
  assert(hasInput(i) && "reading an absent input");
  return values.find(current->input(i))->second;
}

FailureOr<const ConstTensor *> Importer::knownInput(int i) {
  Val &v = input(i);
  if (v.constant)
    return v.constant.get();
  if (!v.initializer)
    return static_cast<const ConstTensor *>(nullptr);
  auto decoded = decodeTensor(*v.initializer, baseDir);
  if (!decoded) {
    nodeError() << llvm::toString(decoded.takeError());
    return failure();
  }
  v.constant = std::make_shared<const ConstTensor>(std::move(*decoded));
  return v.constant.get();
}

bool Importer::isFoldable(int i) {
  if (!hasInput(i))
    return false;
  const Val &v = input(i);
  if (!v.isKnown())
    return false;
  return !(v.initializer && isFloatDType(v.dtype) && shapeNumElements(v.shape) > 1);
}

FailureOr<ConstTensor> Importer::decode(const onnx::TensorProto &proto) {
  auto decoded = decodeTensor(proto, baseDir);
  if (!decoded)
    return nodeError() << llvm::toString(decoded.takeError());
  return std::move(*decoded);
}

FailureOr<SmallVector<int64_t>> Importer::requireKnownInts(int i,
                                                           StringRef what) {
  auto known = knownInput(i);
  if (failed(known))
    return failure();
  if (!*known) {
    (void)limitation("dynamic-operand",
                     "the " + what + " (input '" + current->input(i) +
                         "') must be known at import time (an initializer, a "
                         "Constant or foldable shape arithmetic)");
    return failure();
  }
  if (!(*known)->isInteger()) {
    nodeError() << "the " << what << " must be integers, got "
                << dtypeName((*known)->dtype);
    return failure();
  }
  return (*known)->toInts();
}

FailureOr<Value> Importer::valueOf(int i, WeightRole role) {
  return materialize(current->input(i), input(i), role);
}

LogicalResult Importer::requireFloat(int i) {
  int32_t dtype = inputDType(i);
  if (isFloatDType(dtype))
    return success();
  if (isIntegerDType(dtype) && dtype != kBool)
    return limitation("integer-compute",
                      "input '" + current->input(i) + "' is " +
                          dtypeName(dtype) +
                          ": soap computes on floating-point tensors only");
  return limitation("dtype", "input '" + current->input(i) + "' is " +
                                 dtypeName(dtype) +
                                 ", an element type soap does not support");
}

LogicalResult Importer::requireSoapDType(int i) {
  int32_t dtype = inputDType(i);
  if (isSoapDType(dtype))
    return success();
  return limitation("dtype", "input '" + current->input(i) + "' is " +
                                 dtypeName(dtype) +
                                 "; soap tensors hold floats, INT32, INT64 "
                                 "and BOOL");
}

bool Importer::isPrivateInitializer(int i) const {
  if (!hasInput(i))
    return false;
  const std::string &name = current->input(i);
  auto it = values.find(name);
  if (it == values.end() || !it->second.initializer || it->second.value ||
      it->second.initializer->name() != name)
    return false;
  // Read once, by this node, and not a graph output.
  auto r = readers.find(name);
  return r != readers.end() && r->second == 1 && !graphOutputs.contains(name);
}

int Importer::numOutputs() const { return current->output_size(); }

bool Importer::outputUsed(int i) const {
  if (i >= current->output_size() || current->output(i).empty())
    return false;
  auto r = readers.find(current->output(i));
  return r != readers.end() && r->second > 0;
}

LogicalResult Importer::checkInferredShape(StringRef name,
                                           ArrayRef<int64_t> shape,
                                           int32_t dtype) {
  auto it = inferredTypes.find(name);
  if (it == inferredTypes.end() || !it->second->has_tensor_type())
    return success();
  const auto &tt = it->second->tensor_type();
  if (tt.elem_type() != kUndefined && tt.elem_type() != dtype)
    return nodeError() << "inconsistent types: soap computes output '" << name
                       << "' as " << dtypeName(dtype)
                       << ", ONNX type inference gives "
                       << dtypeName(tt.elem_type());
  if (!tt.has_shape())
    return success();
  bool mismatch = tt.shape().dim_size() != static_cast<int>(shape.size());
  SmallVector<int64_t> onnxShape;
  for (int d = 0; d < tt.shape().dim_size(); ++d) {
    const auto &dim = tt.shape().dim(d);
    int64_t size = dim.has_dim_value() ? dim.dim_value() : -1;
    onnxShape.push_back(size);
    if (!mismatch && size >= 0 && size != shape[d])
      mismatch = true;
  }
  if (mismatch)
    return nodeError() << "inconsistent shapes: soap computes output '" << name
                       << "' with shape " << shapeString(shape)
                       << ", ONNX shape inference gives "
                       << shapeString(onnxShape);
  return success();
}

LogicalResult Importer::setOutput(int i, Value value) {
  if (i >= current->output_size() || current->output(i).empty())
    return success();
  auto type = cast<RankedTensorType>(value.getType());
  Val v;
  v.dtype = mlirToDtype(type);
  v.shape.assign(type.getShape().begin(), type.getShape().end());
  v.value = value;
  if (failed(checkInferredShape(current->output(i), v.shape, v.dtype)))
    return failure();
  values[current->output(i)] = std::move(v);
  return success();
}

LogicalResult Importer::setOutput(int i, ConstTensor tensor) {
  if (i >= current->output_size() || current->output(i).empty())
    return success();
  Val v;
  v.dtype = tensor.dtype;
  v.shape = tensor.shape;
  if (failed(checkInferredShape(current->output(i), v.shape, v.dtype)))
    return failure();
  v.constant = std::make_shared<const ConstTensor>(std::move(tensor));
  values[current->output(i)] = std::move(v);
  return success();
}

LogicalResult Importer::forwardInput(int i, int j) {
  if (i >= current->output_size() || current->output(i).empty())
    return success();
  Val v = input(j);
  // An initializer read through Identity stays the same weight (weights are
  // named and cached by the initializer's name).
  if (failed(checkInferredShape(current->output(i), v.shape, v.dtype)))
    return failure();
  values[current->output(i)] = v;
  return success();
}

LogicalResult Importer::requireUnusedOutputsFrom(int first, StringRef what) {
  for (int i = first; i < current->output_size(); ++i)
    if (outputUsed(i))
      return limitation("optional-output",
                        "output #" + Twine(i) + " ('" + current->output(i) +
                            "', " + what + ") is used, and soap does not " +
                            "compute it");
  return success();
}

//===----------------------------------------------------------------------===//
// Building
//===----------------------------------------------------------------------===//

std::string Importer::uniqueOpName(StringRef base) {
  std::string name = base.str();
  for (int k = 1; opNames.contains(name); ++k)
    name = (base + "_" + Twine(k)).str();
  opNames.insert(name);
  return name;
}

FailureOr<Operation *> Importer::createOp(StringRef name, ValueRange operands,
                                          ArrayRef<NamedAttribute> attributes,
                                          unsigned numResults, StringRef role) {
  OperationState state(currentLoc, name);
  state.addOperands(operands);
  state.addAttributes(attributes);
  state.addTypes(SmallVector<Type>(numResults, NoneType::get(context)));
  Operation *op = builder.create(state);
  if (auto infer = dyn_cast<InferTypeOpInterface>(op)) {
    SmallVector<Type> types;
    std::string message;
    LogicalResult inferred = failure();
    {
      // Capture the op's own explanation, to report it against the node.
      ScopedDiagnosticHandler capture(context, [&](Diagnostic &diag) {
        if (message.empty())
          message = diag.str();
        return success();
      });
      inferred = infer.inferReturnTypes(
          context, currentLoc, op->getOperands(), op->getRawDictionaryAttrs(),
          op->getPropertiesStorage(), op->getRegions(), types);
    }
    if (failed(inferred) || types.size() != numResults) {
      op->erase();
      return nodeError() << "inconsistent shapes for " << name << ": "
                         << (message.empty() ? "type inference failed"
                                             : message);
    }
    for (auto [result, type] : llvm::zip(op->getResults(), types))
      result.setType(type);
  }
  std::string opName = role.empty() ? currentName : currentName + "/" + role.str();
  op->setAttr(SoapDialect::kNameAttrName,
              builder.getStringAttr(uniqueOpName(opName)));
  return op;
}

FailureOr<Value> Importer::reshape(Value value, ArrayRef<int64_t> shape,
                                   StringRef role) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  if (type.getNumElements() != shapeNumElements(shape))
    return nodeError() << "cannot reshape " << shapeString(type.getShape())
                       << " to " << shapeString(shape);
  OperationState state(currentLoc, ReshapeOp::getOperationName());
  state.addOperands(value);
  state.addTypes(RankedTensorType::get(shape, type.getElementType()));
  Operation *op = builder.create(state);
  op->setAttr(SoapDialect::kNameAttrName,
              builder.getStringAttr(uniqueOpName(
                  role.empty() ? currentName : currentName + "/" + role.str())));
  return op->getResult(0);
}

FailureOr<Value> Importer::transpose(Value value, ArrayRef<int64_t> perm,
                                     StringRef role) {
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(perm))
    identity &= static_cast<int64_t>(i) == p;
  if (identity)
    return value;
  return create<TransposeOp>({value}, {i64ArrayAttr("permutation", perm)},
                             role);
}

FailureOr<Value> Importer::constant(const ConstTensor &tensor) {
  if (!isSoapDType(tensor.dtype))
    return limitation("dtype", "a constant of element type " +
                                   dtypeName(tensor.dtype) +
                                   " would be needed at run time; soap "
                                   "tensors hold floats, INT32, INT64 and BOOL");
  auto type =
      RankedTensorType::get(tensor.shape, dtypeToMlir(tensor.dtype, context));
  return ConstantOp::create(builder, currentLoc, type, tensor.toAttr(type))
      .getResult();
}

Value Importer::scalarConstant(Value like, double value) {
  auto type = cast<RankedTensorType>(like.getType());
  auto scalarType = RankedTensorType::get({}, type.getElementType());
  ConstTensor t = ConstTensor::fromDoubles(mlirToDtype(type), {}, {value});
  return ConstantOp::create(builder, currentLoc, scalarType,
                            t.toAttr(scalarType))
      .getResult();
}

NamedAttribute Importer::namedAttr(StringRef name, Attribute value) {
  return builder.getNamedAttr(name, value);
}
NamedAttribute Importer::i64Attr(StringRef name, int64_t value) {
  return namedAttr(name, builder.getI64IntegerAttr(value));
}
NamedAttribute Importer::f64Attr(StringRef name, double value) {
  return namedAttr(name, builder.getF64FloatAttr(value));
}
NamedAttribute Importer::i64ArrayAttr(StringRef name, ArrayRef<int64_t> values) {
  return namedAttr(name, builder.getDenseI64ArrayAttr(values));
}

//===----------------------------------------------------------------------===//
// Weights and constants
//===----------------------------------------------------------------------===//

FailureOr<Value> Importer::weightOp(StringRef name, RankedTensorType type,
                                    WeightRole role, const ConstTensor *value) {
  Location loc = NameLoc::get(builder.getStringAttr(name),
                              FileLineColLoc::get(context, bufferName, 0, 0));
  if (value)
    return WeightOp::create(weightBuilder, loc, type, name, InitKind::value,
                            FloatAttr(), value->toAttr(type))
        .getResult();
  InitKind kind = InitKind::normal;
  FloatAttr scale;
  switch (role) {
  case WeightRole::Scale:
    kind = InitKind::ones;
    break;
  case WeightRole::Bias:
    kind = InitKind::zeros;
    break;
  case WeightRole::Matrix:
    kind = InitKind::xavier_uniform;
    break;
  case WeightRole::ConvKernel:
    kind = InitKind::kaiming_normal;
    break;
  case WeightRole::Embedding:
    scale = builder.getF64FloatAttr(1.0);
    break;
  case WeightRole::Generic:
  case WeightRole::Buffer:
    scale = builder.getF64FloatAttr(0.02);
    break;
  }
  return WeightOp::create(weightBuilder, loc, type, name, kind, scale,
                          ElementsAttr())
      .getResult();
}

FailureOr<Value> Importer::materialize(StringRef name, Val &val,
                                       WeightRole role) {
  if (val.value)
    return val.value;
  // A float initializer is a trainable weight when an op takes it as a
  // parameter, or when it is a tensor (not a scalar) read as data.
  bool weight = val.initializer && isFloatDType(val.dtype) &&
                role != WeightRole::Buffer &&
                (role != WeightRole::Generic ||
                 (!val.shape.empty() && shapeNumElements(val.shape) > 1));
  if (weight) {
    name = val.initializer->name();
    if (Value w = weights.lookup(name))
      return val.value = w;
    auto type = RankedTensorType::get(val.shape, dtypeToMlir(val.dtype, context));
    const ConstTensor *data = nullptr;
    if (options.keepWeightValues) {
      if (!val.constant) {
        auto decoded = decodeTensor(*val.initializer, baseDir);
        if (!decoded)
          return emitError(currentLoc) << llvm::toString(decoded.takeError());
        val.constant = std::make_shared<const ConstTensor>(std::move(*decoded));
      }
      data = val.constant.get();
    }
    auto w = weightOp(name, type, role, data);
    if (failed(w))
      return failure();
    weights[name] = *w;
    return val.value = *w;
  }
  if (Value c = constants.lookup(name))
    return val.value = c;
  if (!val.constant) {
    if (!val.initializer)
      return emitError(currentLoc) << "value '" << name << "' is undefined";
    auto decoded = decodeTensor(*val.initializer, baseDir);
    if (!decoded)
      return emitError(currentLoc) << llvm::toString(decoded.takeError());
    val.constant = std::make_shared<const ConstTensor>(std::move(*decoded));
  }
  auto c = constant(*val.constant);
  if (failed(c))
    return failure();
  constants[name] = *c;
  return val.value = *c;
}

FailureOr<Value> Importer::derivedWeight(
    int i, ArrayRef<int64_t> shape, WeightRole role,
    const std::function<ConstTensor(const ConstTensor &)> &transform) {
  assert(isPrivateInitializer(i) && "derived weights need a private initializer");
  const std::string &name = current->input(i);
  Val &val = input(i);
  auto type = RankedTensorType::get(shape, dtypeToMlir(val.dtype, context));
  std::optional<ConstTensor> data;
  if (options.keepWeightValues) {
    auto known = knownInput(i);
    if (failed(known))
      return failure();
    data = transform(**known);
  }
  auto w = weightOp(name, type, role, data ? &*data : nullptr);
  if (failed(w))
    return failure();
  weights[name] = *w;
  return *w;
}

//===----------------------------------------------------------------------===//
// The graph
//===----------------------------------------------------------------------===//

LogicalResult Importer::declareInputs(const onnx::GraphProto &graph,
                                      SmallVectorImpl<Type> &types,
                                      SmallVectorImpl<std::string> &names) {
  llvm::StringSet<> initializerNames;
  for (const auto &init : graph.initializer())
    initializerNames.insert(init.name());
  Location loc = FileLineColLoc::get(context, bufferName, 0, 0);
  for (const auto &in : graph.input()) {
    if (initializerNames.contains(in.name()))
      continue; // an initializer with a default value listed as input
    Val v;
    auto bound = options.boundInputs.find(in.name());
    if (bound != options.boundInputs.end()) {
      onnx::TensorProto proto;
      if (!proto.ParseFromString(bound->second))
        return emitError(loc) << "the value bound to input '" << in.name()
                              << "' is not a serialized onnx.TensorProto";
      if (!dtypeToMlir(proto.data_type(), context))
        return emitError(loc) << "the value bound to input '" << in.name()
                              << "' has element type "
                              << dtypeName(proto.data_type())
                              << ", which soap does not support "
                                 "[limitation: dtype]";
      if (in.type().has_tensor_type() &&
          in.type().tensor_type().elem_type() != proto.data_type())
        return emitError(loc)
               << "the value bound to input '" << in.name() << "' is "
               << dtypeName(proto.data_type()) << ", the input is "
               << dtypeName(in.type().tensor_type().elem_type());
      auto decoded = decodeTensor(proto, baseDir);
      if (!decoded)
        return emitError(loc) << "the value bound to input '" << in.name()
                              << "': " << llvm::toString(decoded.takeError());
      v.dtype = decoded->dtype;
      v.shape = decoded->shape;
      v.constant = std::make_shared<const ConstTensor>(std::move(*decoded));
    } else {
      if (!in.type().has_tensor_type())
        return emitError(loc)
               << "graph input '" << in.name()
               << "' is not a tensor (sequences, maps and optionals are not "
                  "supported) [limitation: dtype]";
      const auto &tt = in.type().tensor_type();
      v.dtype = tt.elem_type();
      if (!tt.has_shape())
        return emitError(loc) << "graph input '" << in.name()
                              << "' has no shape; soap needs static shapes "
                                 "[limitation: dynamic-shape]";
      for (int d = 0; d < tt.shape().dim_size(); ++d) {
        const auto &dim = tt.shape().dim(d);
        if (!dim.has_dim_value() || dim.dim_value() < 0) {
          auto diag = emitError(loc) << "graph input '" << in.name()
                                     << "' has a dynamic dimension (axis " << d;
          if (dim.has_dim_param())
            diag << ", '" << dim.dim_param() << "'";
          diag << "); bind it with "
               << (d == 0 ? "--batch N (OnnxImportOptions::batchSize)"
                          : "--dim NAME=SIZE (OnnxImportOptions::dimSizes)")
               << " [limitation: dynamic-shape]";
          return failure();
        }
        v.shape.push_back(dim.dim_value());
      }
    }
    Type elt = dtypeToMlir(v.dtype, context);
    if (!elt)
      return emitError(loc) << "graph input '" << in.name()
                            << "' has element type " << dtypeName(v.dtype)
                            << ", which soap does not support "
                               "[limitation: dtype]";
    types.push_back(RankedTensorType::get(v.shape, elt));
    names.push_back(in.name());
    values[in.name()] = std::move(v);
  }
  return success();
}

LogicalResult Importer::convertNode(const onnx::NodeProto &node, int index) {
  current = &node;
  currentName =
      node.name().empty() ? node.op_type() + "_" + std::to_string(index)
                          : node.name();
  currentLoc = NameLoc::get(builder.getStringAttr(currentName),
                            FileLineColLoc::get(context, bufferName, 0, 0));
  for (const std::string &in : node.input())
    if (!in.empty() && !values.count(in))
      return nodeError() << "input '" << in
                         << "' is not defined before the node";
  Converter convert = getConverters().lookup(node.op_type());
  if (failed(convert(*this)))
    return failure();
  for (int i = 0; i < node.output_size(); ++i)
    if (outputUsed(i) && !values.count(node.output(i)))
      return nodeError() << "internal error: output '" << node.output(i)
                         << "' was not produced";
  return success();
}

LogicalResult Importer::importGraph(const onnx::ModelProto &model,
                                    ModuleOp module) {
  const onnx::GraphProto &graph = model.graph();
  for (const auto &opset : model.opset_import())
    if (opset.domain().empty() || opset.domain() == "ai.onnx")
      opsetVersion = opset.version();

  for (const auto &vi : graph.input())
    inferredTypes[vi.name()] = &vi.type();
  for (const auto &vi : graph.value_info())
    inferredTypes[vi.name()] = &vi.type();
  for (const auto &vi : graph.output())
    inferredTypes[vi.name()] = &vi.type();
  for (const auto &node : graph.node())
    for (const std::string &in : node.input())
      if (!in.empty())
        ++readers[in];
  for (const auto &out : graph.output()) {
    ++readers[out.name()];
    graphOutputs.insert(out.name());
  }

  for (const auto &init : graph.initializer()) {
    Val v;
    v.dtype = init.data_type();
    v.shape.assign(init.dims().begin(), init.dims().end());
    v.initializer = &init;
    values[init.name()] = std::move(v);
  }
  if (graph.sparse_initializer_size() > 0)
    return emitError(FileLineColLoc::get(context, bufferName, 0, 0))
           << "sparse initializers are not supported [limitation: dtype]";

  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  if (failed(declareInputs(graph, argTypes, argNames)))
    return failure();

  std::string funcName = options.functionName;
  if (funcName.empty())
    funcName = graph.name().empty() ? "main" : graph.name();
  builder.setInsertionPointToEnd(module.getBody());
  Location funcLoc = FileLineColLoc::get(context, bufferName, 0, 0);
  auto func = func::FuncOp::create(builder, funcLoc, funcName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [arg, name] : llvm::zip(entry->getArguments(), argNames)) {
    values[name].value = arg;
    func.setArgAttr(arg.getArgNumber(), "onnx.name",
                    builder.getStringAttr(name));
  }
  builder.setInsertionPointToEnd(entry);
  weightBuilder.setInsertionPointToStart(entry);

  for (int i = 0; i < graph.node_size(); ++i)
    if (failed(convertNode(graph.node(i), i)))
      return failure();

  // The function returns the graph outputs.
  SmallVector<Value> results;
  current = nullptr;
  currentLoc = funcLoc;
  for (const auto &out : graph.output()) {
    auto it = values.find(out.name());
    if (it == values.end())
      return emitError(funcLoc)
             << "graph output '" << out.name() << "' is not produced by any "
             << "node, initializer or input";
    auto v = materialize(out.name(), it->second, WeightRole::Generic);
    if (failed(v))
      return failure();
    results.push_back(*v);
  }
  func::ReturnOp::create(builder, funcLoc, results);
  func.setFunctionType(builder.getFunctionType(
      argTypes, ValueRange(results).getTypes()));
  for (auto [i, out] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", builder.getStringAttr(out.name()));
  return success();
}
