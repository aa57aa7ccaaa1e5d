//===- ModelBuilder.h - building blocks of the zoo's models -----*- C++ -*-===//
//
// Private to lib/Import/Zoo. `ModelBuilder` builds one model function: its
// inputs, its named weights and its named ops, with PyTorch-module-like
// helpers (linear, conv-bn-relu, LSTM stack, transformer layer) so that the
// models read like their reference implementations and share one naming
// scheme.
//
// Naming: every helper takes the module name relative to the current scope
// (`ModelBuilder::Scope`); its weights are "<scope>.<name>.weight" and
// "<scope>.<name>.bias", and the op's `soap.name` is "<scope>.<name>".
//
// Errors: the helpers check each op's shapes with the op's own type
// inference before creating it. A failure has been reported as a diagnostic
// (at a NameLoc carrying the op's name) when `BuildError` is thrown; the
// public build functions catch it (see `runBuilder`) and return null, so no
// exception leaves the zoo.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_IMPORT_ZOO_MODELBUILDER_H
#define SOAP_LIB_IMPORT_ZOO_MODELBUILDER_H

#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Import/Zoo.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"

#include <optional>
#include <string>

namespace soap::zoo::detail {

/// Thrown after an error has been emitted; caught by `runBuilder`.
struct BuildError {};

/// A weight initializer: a soap::InitKind and its optional scale.
struct Init {
  InitKind kind;
  std::optional<double> scale;

  static Init zeros() { return {InitKind::zeros, std::nullopt}; }
  static Init ones() { return {InitKind::ones, std::nullopt}; }
  static Init normal(double stddev) { return {InitKind::normal, stddev}; }
  static Init uniform(double bound) { return {InitKind::uniform, bound}; }
  static Init kaiming() { return {InitKind::kaiming_normal, std::nullopt}; }
  static Init xavier() { return {InitKind::xavier_uniform, std::nullopt}; }
  /// PyTorch's default for nn.Linear, nn.Conv2d and nn.LSTM weights:
  /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static Init fanIn(int64_t fanIn);
};

/// A 2-D convolution's hyper-parameters.
struct ConvSpec {
  int64_t out;
  int64_t kh, kw;
  int64_t sh = 1, sw = 1;
  int64_t ph = 0, pw = 0; ///< symmetric padding (top = bottom, left = right)
  int64_t groups = 1;
  bool bias = false;

  /// A k x k convolution with the given stride and padding.
  static ConvSpec square(int64_t out, int64_t k, int64_t stride = 1,
                         int64_t pad = 0) {
    return {out, k, k, stride, stride, pad, pad};
  }
};

/// Op names of one transformer layer, relative to the layer's scope; the
/// weights of a named linear map are "<name>.weight" and "<name>.bias".
struct TransformerNames {
  std::string attention;           ///< the soap.attention op
  std::string query, key, value;   ///< its projections' weights
  std::string attnOut;             ///< its output projection's weights
  std::string attnDropout, attnAdd, attnNorm;
  std::string ffnIn, ffnAct, ffnOut, ffnDropout, ffnAdd, ffnNorm;
  std::string moe; ///< a mixture-of-experts block replacing ffnIn..ffnOut

  /// HuggingFace BERT ("attention.self.query", "intermediate.dense", ...).
  static TransformerNames bert();
  /// GPT-2 style, with separate q/k/v projections ("ln_1", "attn.q_proj",
  /// "mlp.fc_in", ...).
  static TransformerNames gpt();
};

/// One transformer layer: multi-head self-attention and a feed-forward block
/// (or a mixture of experts), each with dropout and a residual connection,
/// with layer norm before (pre-LN, GPT-2) or after (post-LN, BERT) them.
struct TransformerLayerSpec {
  int64_t heads;
  int64_t ffnHidden;
  bool causal = false;
  bool preNorm = true;
  double dropout = 0.1;
  double normEps = 1e-5;
  double initStd = 0.02;
  /// Stddev of the output projections (attention output, second MLP
  /// layer); GPT-2 and Megatron-LM scale it by 1/sqrt(2 * layers).
  double outputInitStd = 0.02;
  TransformerNames names;
  /// > 0: the feed-forward block is a mixture of this many experts.
  int64_t experts = 0;
  int64_t topK = 2;
  double capacityFactor = 1.0;
};

/// Builds one model: a module holding one func.func named after the model.
class ModelBuilder {
public:
  ModelBuilder(mlir::MLIRContext &context, llvm::StringRef funcName,
               DType dtype);

  mlir::MLIRContext *getContext() { return context; }
  mlir::OpBuilder &getBuilder() { return builder; }
  /// The activations' and weights' element type.
  mlir::Type floatType() const { return elementType; }
  mlir::RankedTensorType floatTensor(llvm::ArrayRef<int64_t> shape) const;

  /// Reports an error (e.g. about the options) and throws BuildError.
  [[noreturn]] void fail(const llvm::Twine &message);

  /// The image models' --width-divisor: every convolution's output channels
  /// (and the classifiers' hidden widths, through `narrow`) are divided by
  /// it, for small configurations of the published architectures (tests).
  void setWidthDivisor(int64_t divisor);
  /// `width` / the width divisor; fails when it does not divide evenly.
  int64_t narrow(int64_t width, const llvm::Twine &what);

  //===--------------------------------------------------------------------===//
  // Names
  //===--------------------------------------------------------------------===//

  /// While alive, names are relative to "<outer scope>.<name>".
  class Scope {
  public:
    Scope(ModelBuilder &b, const llvm::Twine &name);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

  private:
    ModelBuilder &b;
    size_t previousLength;
  };

  /// "<scope>.<leaf>" (or just leaf at the top).
  std::string qualify(const llvm::Twine &leaf) const;

  //===--------------------------------------------------------------------===//
  // Inputs and weights
  //===--------------------------------------------------------------------===//

  /// A float input (function argument) called `name`.
  mlir::Value input(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);
  /// An i64 input (token ids, class labels) called `name`.
  mlir::Value indexInput(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);
  /// A trainable weight "<scope>.<name>".
  mlir::Value weight(const llvm::Twine &name, llvm::ArrayRef<int64_t> shape,
                     Init init);

  //===--------------------------------------------------------------------===//
  // Ops
  //===--------------------------------------------------------------------===//

  /// Creates an op with inferred result types and `soap.name` "<scope>.<name>"
  /// (made unique with a suffix if needed). `args` are those of the op's
  /// ODS builder after the result types. The shapes are checked first: an
  /// op whose type inference fails is reported at its name and throws.
  template <typename OpTy, typename... Args>
  OpTy create(const llvm::Twine &name, Args &&...args) {
    mlir::Location loc = nameLoc(name);
    mlir::OperationState state(loc, OpTy::getOperationName());
    // The TypeRange builder adds no inferred types; the placeholder count
    // only has to satisfy its assertion on single-result ops.
    mlir::Type placeholder = builder.getNoneType();
    OpTy::build(builder, state, mlir::TypeRange(placeholder),
                std::forward<Args>(args)...);
    llvm::SmallVector<mlir::Type, 2> types;
    if (mlir::failed(OpTy::inferReturnTypes(
            context, loc, state.operands,
            state.attributes.getDictionary(context), state.getRawProperties(),
            state.regions, types)))
      throw BuildError();
    state.types.assign(types.begin(), types.end());
    return finishOp<OpTy>(builder.create(state), loc);
  }

  /// A multi-result op (split, topk_gate): as create, with `numResults`
  /// placeholder types for the builder's assertion.
  template <typename OpTy, typename... Args>
  OpTy createN(unsigned numResults, const llvm::Twine &name, Args &&...args) {
    mlir::Location loc = nameLoc(name);
    mlir::OperationState state(loc, OpTy::getOperationName());
    llvm::SmallVector<mlir::Type, 4> placeholders(numResults,
                                                  builder.getNoneType());
    OpTy::build(builder, state, mlir::TypeRange(placeholders),
                std::forward<Args>(args)...);
    llvm::SmallVector<mlir::Type, 4> types;
    if (mlir::failed(OpTy::inferReturnTypes(
            context, loc, state.operands,
            state.attributes.getDictionary(context), state.getRawProperties(),
            state.regions, types)))
      throw BuildError();
    state.types.assign(types.begin(), types.end());
    return finishOp<OpTy>(builder.create(state), loc);
  }

  //===--------------------------------------------------------------------===//
  // Layers (PyTorch modules). `name` is relative to the scope.
  //===--------------------------------------------------------------------===//

  /// x . W + b over the last axis; W is [in, out] ("<name>.weight"), the
  /// bias is zero-initialized ("<name>.bias").
  mlir::Value linear(mlir::Value x, int64_t out, const llvm::Twine &name,
                     Init init, bool bias = true);
  mlir::Value conv2d(mlir::Value x, const ConvSpec &spec,
                     const llvm::Twine &name, Init init = Init::kaiming());
  /// Batch norm with weight = 1 and bias = 0.
  mlir::Value batchNorm(mlir::Value x, const llvm::Twine &name,
                        double eps = 1e-5);
  /// Layer norm over the last axis with weight = 1 and bias = 0.
  mlir::Value layerNorm(mlir::Value x, const llvm::Twine &name, double eps);
  mlir::Value relu(mlir::Value x, const llvm::Twine &name);
  mlir::Value gelu(mlir::Value x, const llvm::Twine &name);
  mlir::Value tanh(mlir::Value x, const llvm::Twine &name);
  mlir::Value sigmoid(mlir::Value x, const llvm::Twine &name);
  mlir::Value add(mlir::Value a, mlir::Value b, const llvm::Twine &name);
  /// Dropout with a fresh seed per op; the identity when `ratio` is 0.
  mlir::Value dropout(mlir::Value x, double ratio, const llvm::Twine &name);
  mlir::Value maxPool(mlir::Value x, int64_t kernel, int64_t stride,
                      int64_t pad, const llvm::Twine &name);
  mlir::Value avgPool(mlir::Value x, int64_t kernel, int64_t stride,
                      int64_t pad, bool countIncludePad,
                      const llvm::Twine &name);
  /// Average pooling over the whole spatial extent: [N, C, 1, 1].
  mlir::Value globalAvgPool(mlir::Value x, const llvm::Twine &name);
  /// PyTorch's AdaptiveAvgPool2d to side `out`, where it is a plain pooling
  /// (the side a multiple of `out`); other sides are reported.
  mlir::Value adaptiveAvgPool(mlir::Value x, int64_t out,
                              const llvm::Twine &name);
  mlir::Value flatten(mlir::Value x, const llvm::Twine &name);
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape,
                      const llvm::Twine &name);
  mlir::Value transpose(mlir::Value x, llvm::ArrayRef<int64_t> permutation,
                        const llvm::Twine &name);
  mlir::Value concat(mlir::ValueRange xs, int64_t axis,
                     const llvm::Twine &name);
  mlir::Value slice(mlir::Value x, llvm::ArrayRef<int64_t> starts,
                    llvm::ArrayRef<int64_t> ends, const llvm::Twine &name);
  /// Rows of `table` selected by `ids` (op "<name>").
  mlir::Value lookup(mlir::Value ids, mlir::Value table,
                     const llvm::Twine &name);
  mlir::Value crossEntropy(mlir::Value logits, mlir::Value labels,
                           const llvm::Twine &name);

  //===--------------------------------------------------------------------===//
  // Blocks
  //===--------------------------------------------------------------------===//

  /// Convolution without bias, batch norm and ReLU, named as its parts
  /// ("<convName>", "<bnName>", "<reluName>"): torchvision's BasicConv2d and
  /// the stem of ResNet.
  mlir::Value convBnRelu(mlir::Value x, const ConvSpec &spec,
                         const llvm::Twine &convName,
                         const llvm::Twine &bnName,
                         const llvm::Twine &reluName, double eps = 1e-5);

  /// `layers` LSTM layers of `hidden` units over x : [B, T, I], as
  /// nn.LSTM(batch_first=True) called `name`: weights
  /// "<name>.weight_ih_l<i>" [I, 4H], "<name>.weight_hh_l<i>" [H, 4H],
  /// "<name>.bias_l<i>" [4H], ops "<name>.l<i>". Returns [B, T, H].
  mlir::Value lstmStack(mlir::Value x, int64_t layers, int64_t hidden,
                        const llvm::Twine &name);

  /// One transformer layer over x : [B, S, E] in the current scope.
  mlir::Value transformerLayer(mlir::Value x, const TransformerLayerSpec &spec);

  /// Ends the function with `return loss`, verifies the module and returns
  /// it (null if verification fails; the errors have been reported).
  mlir::OwningOpRef<mlir::ModuleOp> finish(mlir::Value loss);

private:
  mlir::Location nameLoc(const llvm::Twine &name);
  std::string uniqueName(const llvm::Twine &name);

  template <typename OpTy>
  OpTy finishOp(mlir::Operation *op, mlir::Location loc) {
    op->setAttr(SoapDialect::kNameAttrName,
                mlir::cast<mlir::NameLoc>(loc).getName());
    return mlir::cast<OpTy>(op);
  }

  mlir::Value mixtureOfExperts(mlir::Value x, const TransformerLayerSpec &spec);

  mlir::MLIRContext *context;
  mlir::OpBuilder builder;
  mlir::Type elementType;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::func::FuncOp func;
  llvm::SmallVector<std::string> inputNames;
  std::string prefix;
  llvm::StringSet<> opNames;
  llvm::StringSet<> weightNames;
  int64_t nextSeed = 1;
  int64_t widthDivisor = 1;
};

/// Runs `body(ModelBuilder &) -> Value loss` and returns the finished module,
/// or null when it reported an error.
template <typename Fn>
mlir::OwningOpRef<mlir::ModuleOp> runBuilder(mlir::MLIRContext &context,
                                             llvm::StringRef funcName,
                                             DType dtype, Fn &&body) {
  try {
    ModelBuilder b(context, funcName, dtype);
    mlir::Value loss = body(b);
    return b.finish(loss);
  } catch (const BuildError &) {
    return nullptr;
  }
}

/// `value` as text ("0.1", "1.25") for messages.
std::string formatNumber(double value);

/// Shape of a ranked tensor value.
llvm::ArrayRef<int64_t> shapeOf(mlir::Value v);

} // namespace soap::zoo::detail

#endif // SOAP_LIB_IMPORT_ZOO_MODELBUILDER_H
