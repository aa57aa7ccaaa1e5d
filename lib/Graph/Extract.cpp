//===- Extract.cpp - OpGraph from soap IR ---------------------------------===//
#include "soap/Graph/Extract.h"
#include "soap/Dialect/Soap/SoapOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace soap {

static std::optional<DType> toDType(Type t) {
  if (t.isF32())
    return DType::F32;
  if (t.isF16())
    return DType::F16;
  if (t.isBF16())
    return DType::BF16;
  if (t.isF64())
    return DType::F64;
  if (t.isInteger(32))
    return DType::I32;
  if (t.isInteger(64))
    return DType::I64;
  if (t.isInteger(1))
    return DType::I1;
  return std::nullopt;
}

/// The tensor type as a TensorInfo; a diagnostic at `op` when it is not a
/// statically shaped tensor of a supported element type.
static FailureOr<TensorInfo> toTensorInfo(Operation *op, Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || !t.hasStaticShape())
    return op->emitError("needs statically shaped tensors, got ") << type;
  auto dtype = toDType(t.getElementType());
  if (!dtype)
    return op->emitError("has an unsupported element type ")
           << t.getElementType();
  return TensorInfo{std::vector<int64_t>(t.getShape().begin(),
                                         t.getShape().end()),
                    *dtype};
}

std::string stableOpName(Operation *op, unsigned ordinal) {
  if (auto name = op->getAttrOfType<StringAttr>(SoapDialect::kNameAttrName))
    return name.str();
  if (auto loc = dyn_cast<NameLoc>(op->getLoc()))
    return loc.getName().str();
  return op->getName().stripDialect().str() + "_" + std::to_string(ordinal);
}

/// The attributes that shape the kernel, printed canonically (sorted by
/// name, Soap's discardable attributes left out).
static std::string kernelAttributes(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  bool first = true;
  auto print = [&](NamedAttribute attr) {
    if (attr.getName().strref().starts_with("soap."))
      return;
    os << (first ? "" : ",") << attr.getName().strref() << '=';
    attr.getValue().print(os, /*elideType=*/true);
    first = false;
  };
  SmallVector<NamedAttribute> attrs;
  if (auto props = dyn_cast_or_null<DictionaryAttr>(
          op->getPropertiesAsAttribute()))
    llvm::append_range(attrs, props.getValue());
  llvm::append_range(attrs, op->getDiscardableAttrs());
  llvm::sort(attrs, [](NamedAttribute a, NamedAttribute b) {
    return a.getName().strref() < b.getName().strref();
  });
  for (NamedAttribute a : attrs)
    print(a);
  return text;
}

FailureOr<OpGraph> extractOpGraph(func::FuncOp func) {
  OpGraph graph;
  graph.modelName = func.getSymName().str();
  if (func.isExternal())
    return func.emitError("model function '")
           << func.getSymName() << "' has no body";
  if (!func.getBody().hasOneBlock())
    return func.emitError("a model function must have a single block");

  // Where each SSA value comes from.
  struct Source {
    OperandSource kind;
    int index;       // op, weight or input index
    int result = 0;  // result number for ops
  };
  llvm::DenseMap<Value, Source> sources;

  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    auto tensor = toTensorInfo(func, arg.getType());
    if (failed(tensor))
      return failure();
    std::string name = "arg" + std::to_string(i);
    if (auto n = func.getArgAttrOfType<StringAttr>(i, SoapDialect::kNameAttrName))
      name = n.str();
    graph.inputs.push_back({name, *tensor});
    sources[arg] = {OperandSource::Input, static_cast<int>(i)};
  }

  llvm::StringMap<Location> names;
  unsigned ordinal = 0;
  for (Operation &op : func.getBody().front()) {
    if (auto weight = dyn_cast<WeightOp>(op)) {
      auto tensor = toTensorInfo(&op, weight.getType());
      if (failed(tensor))
        return failure();
      sources[weight.getResult()] = {OperandSource::Weight,
                                     static_cast<int>(graph.weights.size())};
      graph.weights.push_back({weight.getName().str(), *tensor, {}});
      continue;
    }
    if (auto constant = dyn_cast<ConstantOp>(op)) {
      sources[constant.getResult()] = {OperandSource::Constant, -1};
      continue;
    }
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands()) {
        auto it = sources.find(v);
        if (it != sources.end() && it->second.kind == OperandSource::Op)
          graph.outputs.push_back(it->second.index);
      }
      continue;
    }
    auto iface = dyn_cast<ParallelizableOpInterface>(op);
    if (!iface)
      return op.emitOpError("is not a soap compute op; a model function "
                            "holds soap ops, weights, constants and a return");

    OpNode node;
    node.name = stableOpName(&op, ordinal++);
    node.kind = op.getName().stripDialect().str();
    auto [it, inserted] = names.try_emplace(node.name, op.getLoc());
    if (!inserted)
      return op.emitOpError("has the name '")
             << node.name << "', already used by the op at " << it->second;
    node.attributes = kernelAttributes(&op);
    int self = static_cast<int>(graph.ops.size());

    llvm::SmallVector<unsigned> params = iface.getParameterOperandIndices();
    for (auto [j, v] : llvm::enumerate(op.getOperands())) {
      auto tensor = toTensorInfo(&op, v.getType());
      if (failed(tensor))
        return failure();
      Operand operand;
      operand.tensor = *tensor;
      operand.isParameter = llvm::is_contained(params, j);
      auto src = sources.find(v);
      if (src == sources.end())
        return op.emitOpError("operand #")
               << j << " is not defined in the model function's block";
      operand.source = src->second.kind;
      if (src->second.kind == OperandSource::Op) {
        operand.producer = src->second.index;
        operand.producerResult = src->second.result;
        graph.edges.push_back({src->second.index, src->second.result, self,
                               static_cast<int>(j), *tensor});
      } else {
        operand.index = src->second.index;
        if (src->second.kind == OperandSource::Weight) {
          auto &users = graph.weights[src->second.index].users;
          if (users.empty() || users.back() != self)
            users.push_back(self);
        }
      }
      node.operands.push_back(std::move(operand));
    }
    for (auto [r, result] : llvm::enumerate(op.getResults())) {
      auto tensor = toTensorInfo(&op, result.getType());
      if (failed(tensor))
        return failure();
      node.results.push_back(*tensor);
      sources[result] = {OperandSource::Op, self, static_cast<int>(r)};
    }
    for (const ParallelDim &d : iface.getParallelDims())
      node.dims.push_back(d);
    node.forwardFlops = iface.getForwardFlops();
    node.backwardFlops = iface.getBackwardFlops();
    node.bytesRead = iface.getBytesRead();
    node.bytesWritten = iface.getBytesWritten();
    node.parameterCount = iface.getParameterCount();
    graph.ops.push_back(std::move(node));
  }

  std::string problem = graph.validate();
  if (!problem.empty())
    return func.emitError("internal error: extracted graph is invalid: ")
           << problem;
  return graph;
}

FailureOr<func::FuncOp> modelFunction(ModuleOp module, StringRef entry) {
  func::FuncOp found;
  for (auto f : module.getOps<func::FuncOp>()) {
    if (f.isExternal())
      continue;
    if (!entry.empty()) {
      if (f.getSymName() == entry)
        found = f;
      continue;
    }
    if (found)
      return module.emitError("the module has several model functions ('")
             << found.getSymName() << "', '" << f.getSymName()
             << "'); name the one to use";
    found = f;
  }
  if (!found) {
    if (!entry.empty())
      return module.emitError("no model function named '") << entry << "'";
    return module.emitError("the module has no model function");
  }
  return found;
}

FailureOr<OpGraph> extractOpGraph(ModuleOp module, StringRef entry) {
  FailureOr<func::FuncOp> found = modelFunction(module, entry);
  if (failed(found))
    return failure();
  return extractOpGraph(*found);
}

} // namespace soap
