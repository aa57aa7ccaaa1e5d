//===- Importer.h - the ONNX graph walker -----------------------*- C++ -*-===//
//
// Private to lib/Import/Onnx. The Importer walks the (shape-inferred) ONNX
// graph in order and hands each node to the converter of its op type
// (OnnxOps.cpp). A converter reads its inputs as Vals (known elements and/or
// a runtime MLIR value), folds when it can, and otherwise builds soap ops.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_IMPORT_ONNX_IMPORTER_H
#define SOAP_LIB_IMPORT_ONNX_IMPORTER_H

#include "ConstTensor.h"

#include "soap/Import/Onnx.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <functional>
#include <memory>

namespace onnx {
class AttributeProto;
class GraphProto;
class ModelProto;
class NodeProto;
class TensorProto;
class TypeProto;
} // namespace onnx

namespace soap::onnx_import {

/// What a trainable weight is for: picks its default initializer when the
/// initializer values are dropped (docs/onnx.md).
/// Buffer: a non-trainable tensor (running statistics), a soap.constant.
enum class WeightRole {
  Generic,
  Matrix,
  ConvKernel,
  Embedding,
  Scale,
  Bias,
  Buffer
};

/// An ONNX value during import: its dtype and shape, and its runtime MLIR
/// value and/or its elements known at import time. An initializer is decoded
/// only when its elements are needed.
struct Val {
  int32_t dtype = kUndefined;
  llvm::SmallVector<int64_t, 4> shape;
  mlir::Value value;
  std::shared_ptr<const ConstTensor> constant;
  const onnx::TensorProto *initializer = nullptr;

  bool isKnown() const { return constant || initializer; }
};

/// The double nearest to the shortest decimal that round-trips `value` as
/// a float (ONNX's float attributes: 1e-5f reads 1e-5).
double shortestDouble(double value);

class Importer;
/// Converts the importer's current node.
using Converter = mlir::LogicalResult (*)(Importer &);
/// The converter of every supported op type (default domain).
const llvm::StringMap<Converter> &getConverters();
/// Op types that fold only (all their inputs known at import time).
bool isFoldOnlyOpType(llvm::StringRef opType);

/// Rewrites on the built function: GELU written with Erf becomes soap.gelu,
/// and a bias added to a bias-less soap.linear moves into it.
void runImportPatterns(mlir::func::FuncOp func);

class Importer {
public:
  Importer(mlir::MLIRContext *context, const OnnxImportOptions &options,
           llvm::StringRef bufferName, llvm::StringRef baseDir);

  /// Builds the function for the model's graph into `module`.
  mlir::LogicalResult importGraph(const onnx::ModelProto &model,
                                  mlir::ModuleOp module);

  //===--------------------------------------------------------------------===//
  // The current node, for converters
  //===--------------------------------------------------------------------===//

  const onnx::NodeProto &node() const { return *current; }
  llvm::StringRef opType() const;
  int64_t opset() const { return opsetVersion; }
  mlir::MLIRContext *getContext() const { return context; }
  mlir::OpBuilder &getBuilder() { return builder; }
  mlir::Location loc() const { return currentLoc; }
  /// Whether initializer values are kept (OnnxImportOptions).
  bool keepValues() const { return options.keepWeightValues; }

  /// "node 'NAME' (OPTYPE, opset N): " — the prefix of every node error.
  mlir::InFlightDiagnostic nodeError();
  /// A documented limitation (getOnnxLimitations()): the error carries
  /// "[limitation: ID]".
  mlir::LogicalResult limitation(llvm::StringRef id, const llvm::Twine &message);

  // Attributes.
  const onnx::AttributeProto *attr(llvm::StringRef name) const;
  bool hasAttr(llvm::StringRef name) const { return attr(name) != nullptr; }
  int64_t attrInt(llvm::StringRef name, int64_t defaultValue) const;
  double attrFloat(llvm::StringRef name, double defaultValue) const;
  std::string attrString(llvm::StringRef name,
                         llvm::StringRef defaultValue) const;
  llvm::SmallVector<int64_t> attrInts(llvm::StringRef name) const;

  // Inputs: `i` counts all inputs, optional ones included.
  int numInputs() const;
  /// Whether optional input i is given (present and named).
  bool hasInput(int i) const;
  Val &input(int i);
  llvm::ArrayRef<int64_t> inputShape(int i) { return input(i).shape; }
  int32_t inputDType(int i) { return input(i).dtype; }
  /// Input i's elements, decoding an initializer; null if unknown at import
  /// time. Emits an error (and returns failure) if decoding fails.
  mlir::FailureOr<const ConstTensor *> knownInput(int i);
  /// Whether input i's elements are known and may be folded: trainable
  /// initializers (float tensors) are not folded, they become weights.
  bool isFoldable(int i);
  /// Decodes a tensor attribute or bound value (external data relative to
  /// the model's folder); reports failures against the node.
  mlir::FailureOr<ConstTensor> decode(const onnx::TensorProto &proto);
  /// Input i's elements as integers; a "dynamic-operand" limitation if they
  /// are unknown at import time. `what` names the operand in the message.
  mlir::FailureOr<llvm::SmallVector<int64_t>> requireKnownInts(int i,
                                                               llvm::StringRef what);
  /// Input i as a runtime value (materializing known elements as a
  /// soap.constant, or an initializer as a soap.weight).
  mlir::FailureOr<mlir::Value> valueOf(int i,
                                       WeightRole role = WeightRole::Generic);
  /// Checks that input i is a float tensor soap computes with.
  mlir::LogicalResult requireFloat(int i);
  /// Checks that input i has an element type soap tensors hold (floats,
  /// INT32, INT64): data movement of other types is a "dtype" limitation.
  mlir::LogicalResult requireSoapDType(int i);
  /// Whether input i is an initializer read by this node only, so that its
  /// weight can be stored in another layout (transposed, reshaped, ...).
  bool isPrivateInitializer(int i) const;

  // Outputs.
  int numOutputs() const;
  /// Whether output i exists and something reads it (a node or the graph).
  bool outputUsed(int i) const;
  mlir::LogicalResult setOutput(int i, mlir::Value value);
  mlir::LogicalResult setOutput(int i, ConstTensor tensor);
  /// Output i is input j (Identity, Dropout at inference, ...).
  mlir::LogicalResult forwardInput(int i, int j);
  /// A limitation if any output from `first` on is used.
  mlir::LogicalResult requireUnusedOutputsFrom(int first,
                                               llvm::StringRef what);

  //===--------------------------------------------------------------------===//
  // Building soap ops
  //===--------------------------------------------------------------------===//

  /// Creates op `OpTy` with inferred result types. `role` suffixes the stable
  /// name ("NODE" for the node's main op, "NODE/ROLE" for helpers). A shape
  /// error is reported against the node.
  template <typename OpTy>
  mlir::FailureOr<mlir::Value>
  create(mlir::ValueRange operands,
         llvm::ArrayRef<mlir::NamedAttribute> attributes = {},
         llvm::StringRef role = "") {
    auto op = createOp(OpTy::getOperationName(), operands, attributes, 1, role);
    if (mlir::failed(op))
      return mlir::failure();
    return (*op)->getResult(0);
  }
  mlir::FailureOr<mlir::Operation *>
  createOp(llvm::StringRef name, mlir::ValueRange operands,
           llvm::ArrayRef<mlir::NamedAttribute> attributes, unsigned numResults,
           llvm::StringRef role);

  /// soap.reshape to `shape` (the value itself when the shape is the same).
  mlir::FailureOr<mlir::Value> reshape(mlir::Value value,
                                       llvm::ArrayRef<int64_t> shape,
                                       llvm::StringRef role);
  /// soap.transpose with the permutation (the value itself for identity).
  mlir::FailureOr<mlir::Value> transpose(mlir::Value value,
                                         llvm::ArrayRef<int64_t> perm,
                                         llvm::StringRef role);
  /// A soap.constant holding `tensor` (of a soap dtype).
  mlir::FailureOr<mlir::Value> constant(const ConstTensor &tensor);
  /// A scalar soap.constant of the element type of `like`, broadcastable to it.
  mlir::Value scalarConstant(mlir::Value like, double value);

  /// The weight of the initializer of input i, stored as `transform` of its
  /// elements with shape `shape` (the name stays the initializer's). Only for
  /// private initializers (isPrivateInitializer).
  mlir::FailureOr<mlir::Value>
  derivedWeight(int i, llvm::ArrayRef<int64_t> shape, WeightRole role,
                const std::function<ConstTensor(const ConstTensor &)> &transform);

  /// Builders of attributes.
  mlir::NamedAttribute namedAttr(llvm::StringRef name, mlir::Attribute value);
  mlir::NamedAttribute i64Attr(llvm::StringRef name, int64_t value);
  mlir::NamedAttribute f64Attr(llvm::StringRef name, double value);
  mlir::NamedAttribute i64ArrayAttr(llvm::StringRef name,
                                    llvm::ArrayRef<int64_t> values);

private:
  mlir::LogicalResult declareInputs(const onnx::GraphProto &graph,
                                    llvm::SmallVectorImpl<mlir::Type> &types,
                                    llvm::SmallVectorImpl<std::string> &names);
  mlir::LogicalResult convertNode(const onnx::NodeProto &node, int index);
  mlir::FailureOr<mlir::Value> materialize(llvm::StringRef name, Val &val,
                                           WeightRole role);
  mlir::FailureOr<mlir::Value> weightOp(llvm::StringRef name,
                                        mlir::RankedTensorType type,
                                        WeightRole role,
                                        const ConstTensor *value);
  mlir::LogicalResult checkInferredShape(llvm::StringRef name,
                                         llvm::ArrayRef<int64_t> shape,
                                         int32_t dtype);
  std::string uniqueOpName(llvm::StringRef base);

  mlir::MLIRContext *context;
  const OnnxImportOptions &options;
  std::string bufferName;
  std::string baseDir;
  mlir::OpBuilder builder;
  /// Inserts weights at the top of the function, in order of first use.
  mlir::OpBuilder weightBuilder;
  int64_t opsetVersion = 0;

  llvm::StringMap<Val> values;
  /// ONNX's inferred type of every value it could infer.
  llvm::StringMap<const onnx::TypeProto *> inferredTypes;
  /// How many node inputs (and graph outputs) read each value.
  llvm::StringMap<int> readers;
  llvm::StringSet<> graphOutputs;
  /// Materialized weights and constants, by value name.
  llvm::StringMap<mlir::Value> weights;
  llvm::StringMap<mlir::Value> constants;
  llvm::StringSet<> opNames;

  const onnx::NodeProto *current = nullptr;
  std::string currentName;
  mlir::Location currentLoc;
};

} // namespace soap::onnx_import

#endif // SOAP_LIB_IMPORT_ONNX_IMPORTER_H
