//===- Zoo.h - the built-in model zoo ---------------------------*- C++ -*-===//
//
// Soap's model zoo: the standard benchmark models of the field (FlexFlow's
// six, torchvision's CNNs, BERT, GPT, DLRM, a mixture of experts), emitted
// directly as soap IR for one training step.
//
// Every model is one `func.func` named after the model in a new module. Its
// arguments are the inputs (data, then labels; each carries a `soap.name` arg
// attribute), its trainable weights are `soap.weight` ops named like the keys
// of the PyTorch reference's state_dict ("layer1.0.conv1.weight"), every
// compute op carries its stable name as `soap.name` ("layer1.0.conv1"), and it
// returns the scalar loss. Two deliberate differences from PyTorch, dictated
// by the soap ops: linear weights are [in, out] (PyTorch's are [out, in]),
// and an LSTM layer has one bias [4H] where PyTorch keeps two equal-shaped
// ones (bias_ih + bias_hh), so an LSTM layer has 4H parameters fewer.
//
// Errors are diagnostics: a build function that is given invalid options
// emits an error on the context (at an unknown location, or at the op whose
// shapes do not work out, named by its `soap.name`) and returns null.
//
// docs/zoo.md lists every model with its options, defaults and the published
// figures it reproduces.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_IMPORT_ZOO_H
#define SOAP_IMPORT_ZOO_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace soap::zoo {

/// Floating-point type of activations and weights (labels and token ids are
/// always i64).
enum class DType { f32, bf16, f16 };

//===----------------------------------------------------------------------===//
// Options, one struct per model family. The defaults are the published
// configurations; docs/zoo.md says where each comes from.
//===----------------------------------------------------------------------===//

/// torchvision's AlexNet (the one-GPU variant of "One weird trick", 61.1 M
/// parameters at 1000 classes).
struct AlexNetOptions {
  int64_t batch = 256;
  int64_t imageSize = 224;
  int64_t numClasses = 1000;
  double dropout = 0.5;
  /// Divides every layer's channels and hidden widths (1: the published
  /// model; larger: a small configuration of the same architecture).
  int64_t widthDivisor = 1;
  DType dtype = DType::f32;
};

/// torchvision's VGG (configurations A, B, D, E = depth 11, 13, 16, 19).
struct VggOptions {
  int64_t depth = 16;
  int64_t batch = 64;
  int64_t imageSize = 224;
  int64_t numClasses = 1000;
  bool batchNorm = false;
  double dropout = 0.5;
  /// Divides every layer's channels and hidden widths (1: the published
  /// model; larger: a small configuration of the same architecture).
  int64_t widthDivisor = 1;
  DType dtype = DType::f32;
};

/// torchvision's ResNet v1.5 (stride in the 3x3 convolution); ResNeXt with
/// `groups` > 1 and Wide-ResNet with `widthPerGroup` = 128.
struct ResNetOptions {
  int64_t depth = 50; ///< 18, 34 (basic blocks), 50, 101, 152 (bottlenecks)
  int64_t batch = 64;
  int64_t imageSize = 224;
  int64_t numClasses = 1000;
  int64_t groups = 1;
  int64_t widthPerGroup = 64;
  /// Divides every layer's channels and hidden widths (1: the published
  /// model; larger: a small configuration of the same architecture).
  int64_t widthDivisor = 1;
  DType dtype = DType::f32;
};

/// torchvision's Inception-v3 (299x299 input; the auxiliary classifier is
/// optional and weighs its loss 0.4).
struct InceptionV3Options {
  int64_t batch = 64;
  int64_t imageSize = 299;
  int64_t numClasses = 1000;
  bool auxLogits = false;
  double dropout = 0.5;
  /// Divides every layer's channels and hidden widths (1: the published
  /// model; larger: a small configuration of the same architecture).
  int64_t widthDivisor = 1;
  DType dtype = DType::f32;
};

/// FlexFlow's RNNTC: embedding, a stack of LSTMs unrolled `seq` steps, and a
/// classifier on the last hidden state.
struct RnnTcOptions {
  int64_t batch = 64;
  int64_t seq = 40;
  int64_t vocab = 20480;
  int64_t embed = 1024;
  int64_t hidden = 1024;
  int64_t layers = 4;
  int64_t numClasses = 2;
  DType dtype = DType::f32;
};

/// FlexFlow's RNNLM: embedding, a stack of LSTMs, and a softmax over the
/// vocabulary at every step (Penn Treebank's 10k words).
struct RnnLmOptions {
  int64_t batch = 64;
  int64_t seq = 40;
  int64_t vocab = 10000;
  int64_t embed = 1024;
  int64_t hidden = 1024;
  int64_t layers = 2;
  DType dtype = DType::f32;
};

/// FlexFlow's NMT: an LSTM encoder and decoder (`layers` each), Luong
/// attention of the decoder over the encoder states, and a softmax over the
/// target vocabulary. Defaults from FlexFlow's nmt/nmt.cc.
struct NmtOptions {
  int64_t batch = 64;
  int64_t seq = 40; ///< source and target length
  int64_t srcVocab = 20480;
  int64_t tgtVocab = 20480;
  int64_t embed = 2048;
  int64_t hidden = 2048;
  int64_t layers = 2;
  DType dtype = DType::f32;
};

/// BERT (post-LN encoder), HuggingFace's parameter names.
struct BertOptions {
  int64_t layers = 12;
  int64_t hidden = 768;
  int64_t heads = 12;
  int64_t ffnHidden = 0; ///< 0: 4 * hidden
  int64_t seq = 128;
  int64_t vocab = 30522;
  int64_t maxPositions = 512;
  int64_t typeVocab = 2;
  int64_t batch = 32;
  double dropout = 0.1;
  /// "pretraining" (masked LM over every position, tied to the word
  /// embeddings, plus next-sentence prediction) or "classification"
  /// (pooler + a classifier of `numClasses`).
  std::string head = "pretraining";
  int64_t numClasses = 2;
  DType dtype = DType::f32;

  static BertOptions base() { return BertOptions(); }
  static BertOptions large() {
    BertOptions o;
    o.layers = 24;
    o.hidden = 1024;
    o.heads = 16;
    return o;
  }
};

/// GPT (pre-LN decoder, learned positions, LM head tied to the word
/// embeddings): GPT-2/3 and Megatron-LM's models. Defaults: GPT-2 small.
struct GptOptions {
  int64_t layers = 12;
  int64_t hidden = 768;
  int64_t heads = 12;
  int64_t ffnHidden = 0; ///< 0: 4 * hidden
  int64_t seq = 1024;
  int64_t vocab = 50257;
  int64_t batch = 8;
  double dropout = 0.1;
  DType dtype = DType::f32;
};

/// A GPT whose feed-forward blocks are, every `moeEvery` layers, a mixture of
/// `experts` expert MLPs with top-`topK` gating (GShard / Switch style).
struct MoeOptions {
  int64_t layers = 12;
  int64_t hidden = 768;
  int64_t heads = 12;
  int64_t ffnHidden = 0; ///< 0: 4 * hidden (dense and expert MLPs)
  int64_t seq = 1024;
  int64_t vocab = 50257;
  int64_t batch = 8;
  double dropout = 0.1;
  int64_t experts = 8;
  int64_t topK = 2;
  int64_t moeEvery = 2; ///< layers i with i % moeEvery == moeEvery - 1
  double capacityFactor = 1.25;
  DType dtype = DType::f32;
};

/// DLRM (facebookresearch/dlrm), Criteo Kaggle benchmark configuration.
struct DlrmOptions {
  int64_t batch = 128;
  /// dlrm's --arch-mlp-bot: the dense feature count, then the layer widths.
  std::vector<int64_t> bottomMlp = {13, 512, 256, 64, 16};
  /// dlrm's --arch-mlp-top: the layer widths (the input width follows from
  /// the interaction).
  std::vector<int64_t> topMlp = {512, 256, 1};
  /// dlrm's --arch-sparse-feature-size; equals the bottom MLP's output.
  int64_t embDim = 16;
  /// Rows of each embedding table (default: Criteo Kaggle's 26 features).
  std::vector<int64_t> tableSizes = {
      1460, 583,   10131227, 2202608, 305, 24,      12517, 633, 3,
      93145, 5683, 8351593,  3194,    27,  14992,   5461306, 10, 5652,
      2173, 4,     7046547,  18,      15,  286181, 105,     142572};
  /// Indices per sample and table (sum-pooled, like nn.EmbeddingBag).
  int64_t lookups = 1;
  DType dtype = DType::f32;
};

//===----------------------------------------------------------------------===//
// Typed builders. Each returns a module holding one func, or null after
// emitting an error on `context` (they load the dialects they need).
//===----------------------------------------------------------------------===//

mlir::OwningOpRef<mlir::ModuleOp> buildAlexNet(mlir::MLIRContext &context,
                                               const AlexNetOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildVgg(mlir::MLIRContext &context,
                                           const VggOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildResNet(mlir::MLIRContext &context,
                                              const ResNetOptions &options);
mlir::OwningOpRef<mlir::ModuleOp>
buildInceptionV3(mlir::MLIRContext &context, const InceptionV3Options &options);
mlir::OwningOpRef<mlir::ModuleOp> buildRnnTc(mlir::MLIRContext &context,
                                             const RnnTcOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildRnnLm(mlir::MLIRContext &context,
                                             const RnnLmOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildNmt(mlir::MLIRContext &context,
                                           const NmtOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildBert(mlir::MLIRContext &context,
                                            const BertOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildGpt(mlir::MLIRContext &context,
                                           const GptOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildMoe(mlir::MLIRContext &context,
                                           const MoeOptions &options);
mlir::OwningOpRef<mlir::ModuleOp> buildDlrm(mlir::MLIRContext &context,
                                            const DlrmOptions &options);

//===----------------------------------------------------------------------===//
// The registry: models by name, options as key=value text (what soap-zoo
// and soapc use).
//===----------------------------------------------------------------------===//

/// One option of a model, as written on a command line (`--key value`).
struct ModelOption {
  std::string key;          ///< e.g. "layers", "image-size"
  std::string defaultValue; ///< the model's default, as text
  std::string help;
};

/// A model of the registry.
struct ModelInfo {
  std::string name;    ///< e.g. "resnet50", "bert-large", "gpt"
  std::string summary; ///< one line: what it is and what it matches
  std::vector<std::string> aliases; ///< other names lookupModel accepts
  std::vector<ModelOption> options;
};

/// Every model of the zoo, in a stable order.
const std::vector<ModelInfo> &listModels();

/// The model called `name` or one of its aliases (case-insensitive; '_' and
/// '-' are the same), or null.
const ModelInfo *lookupModel(llvm::StringRef name);

/// Builds the model called `name` with `options` (key -> value text; keys
/// the model does not have, and values that do not parse, are errors). An
/// integer list is written "512-256-1" or "512,256,1"; a flag is "true",
/// "false" or empty (= true); dtype is f32, bf16 or f16.
mlir::OwningOpRef<mlir::ModuleOp>
buildModel(mlir::MLIRContext &context, llvm::StringRef name,
           const llvm::StringMap<std::string> &options = {});

//===----------------------------------------------------------------------===//
// Model statistics (work on any soap module).
//===----------------------------------------------------------------------===//

struct ModelStats {
  /// Sum of the element counts of the `soap.weight` ops.
  int64_t parameters = 0;
  /// Sum of getForwardFlops() of the ops implementing
  /// ParallelizableOpInterface (a multiply-add counts as 2 FLOPs).
  int64_t forwardFlops = 0;
  /// Multiply-adds of the contractions only: conv2d, linear and matmul
  /// (without their biases), attention (its four projections and its two
  /// score products), lstm (its gate products) and experts (the expert MLPs
  /// at capacity). This is what torchvision's and fvcore's "GFLOPS" (really
  /// GMACs) and Megatron-LM's FLOP formula count.
  int64_t macs = 0;
  int64_t numWeights = 0;
  /// Ops implementing ParallelizableOpInterface.
  int64_t numComputeOps = 0;
};

/// The statistics of every function of `module`. The sums saturate at
/// INT64_MAX (the ops' own counts are int64_t: keep the batch modest when
/// counting the FLOPs of the largest models).
ModelStats computeStats(mlir::ModuleOp module);

} // namespace soap::zoo

#endif // SOAP_IMPORT_ZOO_H
