//===- Registry.cpp - the zoo's models by name, options as text -----------===//
//
// Each model family declares its options once, in a `describe` function that
// hands every field of its options struct to an OptionVisitor with the
// field's command-line key and help. Two visitors use that declaration: one
// prints the defaults (listModels), one parses key=value text into the
// struct (buildModel). A registry entry is a family, a name and its default
// options; presets (resnet50, bert-large, ...) are entries of the same family
// with other defaults.
//
//===----------------------------------------------------------------------===//
#include "soap/Import/Zoo.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <functional>
#include <sstream>

using namespace mlir;
using namespace soap::zoo;

namespace {

//===----------------------------------------------------------------------===//
// Options as fields with keys
//===----------------------------------------------------------------------===//

class OptionVisitor {
public:
  virtual ~OptionVisitor() = default;
  virtual void visit(StringRef key, int64_t &value, StringRef help) = 0;
  virtual void visit(StringRef key, double &value, StringRef help) = 0;
  virtual void visit(StringRef key, bool &value, StringRef help) = 0;
  virtual void visit(StringRef key, std::string &value, StringRef help) = 0;
  virtual void visit(StringRef key, std::vector<int64_t> &value,
                     StringRef help) = 0;
  virtual void visit(StringRef key, DType &value, StringRef help) = 0;
};

constexpr const char *kDTypeHelp = "element type: f32, bf16 or f16";
constexpr const char *kWidthDivisorHelp =
    "divides every layer's channels and hidden widths (1: the published "
    "model; 16: a small configuration for tests)";
constexpr const char *kDepthHelp =
    "layers (ResNet: 18, 34, 50, 101 or 152; VGG: 11, 13, 16 or 19)";

void describe(AlexNetOptions &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("image-size", o.imageSize, "side of the square input images");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("width-divisor", o.widthDivisor, kWidthDivisorHelp);
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(VggOptions &o, OptionVisitor &v) {
  v.visit("depth", o.depth, kDepthHelp);
  v.visit("batch", o.batch, "batch size");
  v.visit("image-size", o.imageSize, "side of the square input images");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("batch-norm", o.batchNorm, "batch norm after every convolution");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("width-divisor", o.widthDivisor, kWidthDivisorHelp);
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(ResNetOptions &o, OptionVisitor &v) {
  v.visit("depth", o.depth, kDepthHelp);
  v.visit("batch", o.batch, "batch size");
  v.visit("image-size", o.imageSize, "side of the square input images");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("groups", o.groups, "groups of the 3x3 convolutions (ResNeXt)");
  v.visit("width-per-group", o.widthPerGroup,
          "bottleneck width per group (64: ResNet, 128: Wide-ResNet-x-2)");
  v.visit("width-divisor", o.widthDivisor, kWidthDivisorHelp);
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(InceptionV3Options &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("image-size", o.imageSize, "side of the square input images");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("aux-logits", o.auxLogits,
          "add the auxiliary classifier (loss = main + 0.4 * aux)");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("width-divisor", o.widthDivisor, kWidthDivisorHelp);
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(RnnTcOptions &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("seq", o.seq, "sequence length (RNNs: the steps unrolled)");
  v.visit("vocab", o.vocab, "vocabulary size");
  v.visit("embed", o.embed, "embedding size");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("layers", o.layers, "number of layers");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(RnnLmOptions &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("seq", o.seq, "sequence length (RNNs: the steps unrolled)");
  v.visit("vocab", o.vocab, "vocabulary size");
  v.visit("embed", o.embed, "embedding size");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("layers", o.layers, "number of layers");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(NmtOptions &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("seq", o.seq, "sequence length (RNNs: the steps unrolled)");
  v.visit("src-vocab", o.srcVocab, "source vocabulary size");
  v.visit("tgt-vocab", o.tgtVocab, "target vocabulary size");
  v.visit("embed", o.embed, "embedding size");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("layers", o.layers, "number of layers (NMT: of the encoder and of "
                              "the decoder each)");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(BertOptions &o, OptionVisitor &v) {
  v.visit("layers", o.layers, "number of layers");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("heads", o.heads, "attention heads (must divide hidden)");
  v.visit("ffn-hidden", o.ffnHidden,
          "feed-forward hidden size (0: 4 * hidden)");
  v.visit("seq", o.seq, "sequence length");
  v.visit("vocab", o.vocab, "vocabulary size");
  v.visit("max-positions", o.maxPositions, "rows of the position embedding");
  v.visit("type-vocab", o.typeVocab, "token types (segments)");
  v.visit("batch", o.batch, "batch size");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("head", o.head, "BERT's head: pretraining (MLM + NSP) or "
                          "classification");
  v.visit("classes", o.numClasses, "number of classes");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(GptOptions &o, OptionVisitor &v) {
  v.visit("layers", o.layers, "number of layers");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("heads", o.heads, "attention heads (must divide hidden)");
  v.visit("ffn-hidden", o.ffnHidden,
          "feed-forward hidden size (0: 4 * hidden)");
  v.visit("seq", o.seq, "sequence length");
  v.visit("vocab", o.vocab, "vocabulary size");
  v.visit("batch", o.batch, "batch size");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(MoeOptions &o, OptionVisitor &v) {
  v.visit("layers", o.layers, "number of layers");
  v.visit("hidden", o.hidden, "hidden size");
  v.visit("heads", o.heads, "attention heads (must divide hidden)");
  v.visit("ffn-hidden", o.ffnHidden,
          "feed-forward hidden size (0: 4 * hidden)");
  v.visit("seq", o.seq, "sequence length");
  v.visit("vocab", o.vocab, "vocabulary size");
  v.visit("batch", o.batch, "batch size");
  v.visit("dropout", o.dropout, "dropout ratio (0 leaves dropout out)");
  v.visit("experts", o.experts, "experts per mixture-of-experts layer");
  v.visit("top-k", o.topK, "experts each token is routed to");
  v.visit("moe-every", o.moeEvery,
          "every n-th layer's feed-forward block is a mixture of experts");
  v.visit("capacity-factor", o.capacityFactor,
          "expert capacity = factor * tokens * k / experts");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

void describe(DlrmOptions &o, OptionVisitor &v) {
  v.visit("batch", o.batch, "batch size");
  v.visit("bottom-mlp", o.bottomMlp,
          "dense features, then the bottom MLP's widths (dlrm's "
          "--arch-mlp-bot)");
  v.visit("top-mlp", o.topMlp, "the top MLP's widths (dlrm's --arch-mlp-top)");
  v.visit("emb-dim", o.embDim, "embedding size (dlrm's "
                               "--arch-sparse-feature-size)");
  v.visit("table-sizes", o.tableSizes, "rows of each embedding table");
  v.visit("lookups", o.lookups, "indices per sample and table (sum-pooled)");
  v.visit("dtype", o.dtype, kDTypeHelp);
}

//===----------------------------------------------------------------------===//
// Visitors: print defaults, parse text
//===----------------------------------------------------------------------===//

StringRef dtypeName(DType t) {
  switch (t) {
  case DType::bf16:
    return "bf16";
  case DType::f16:
    return "f16";
  case DType::f32:
    break;
  }
  return "f32";
}

/// Records every option with its value as text.
class Printer : public OptionVisitor {
public:
  explicit Printer(std::vector<ModelOption> &out) : out(out) {}

  void visit(StringRef key, int64_t &value, StringRef help) override {
    add(key, std::to_string(value), help);
  }
  void visit(StringRef key, double &value, StringRef help) override {
    std::ostringstream os;
    os << value;
    add(key, os.str(), help);
  }
  void visit(StringRef key, bool &value, StringRef help) override {
    add(key, value ? "true" : "false", help);
  }
  void visit(StringRef key, std::string &value, StringRef help) override {
    add(key, value, help);
  }
  void visit(StringRef key, std::vector<int64_t> &value,
             StringRef help) override {
    add(key, llvm::join(llvm::map_range(value,
                                        [](int64_t v) {
                                          return std::to_string(v);
                                        }),
                        "-"),
        help);
  }
  void visit(StringRef key, DType &value, StringRef help) override {
    add(key, dtypeName(value).str(), help);
  }

private:
  void add(StringRef key, std::string value, StringRef help) {
    out.push_back({key.str(), std::move(value), help.str()});
  }
  std::vector<ModelOption> &out;
};

/// Assigns the options given as text; reports values that do not parse.
class Parser : public OptionVisitor {
public:
  Parser(MLIRContext &ctx, StringRef model,
         const llvm::StringMap<std::string> &given)
      : ctx(ctx), model(model), given(given) {}

  void visit(StringRef key, int64_t &value, StringRef) override {
    if (const std::string *text = find(key))
      if (StringRef(*text).trim().getAsInteger(10, value))
        bad(key, *text, "an integer");
  }
  void visit(StringRef key, double &value, StringRef) override {
    if (const std::string *text = find(key))
      if (StringRef(*text).trim().getAsDouble(value))
        bad(key, *text, "a number");
  }
  void visit(StringRef key, bool &value, StringRef) override {
    const std::string *text = find(key);
    if (!text)
      return;
    std::string t = StringRef(*text).trim().lower();
    if (t.empty() || t == "true" || t == "1" || t == "yes" || t == "on")
      value = true;
    else if (t == "false" || t == "0" || t == "no" || t == "off")
      value = false;
    else
      bad(key, *text, "true or false");
  }
  void visit(StringRef key, std::string &value, StringRef) override {
    if (const std::string *text = find(key))
      value = *text;
  }
  void visit(StringRef key, std::vector<int64_t> &value, StringRef) override {
    const std::string *text = find(key);
    if (!text)
      return;
    StringRef t = StringRef(*text).trim();
    char separator = t.contains(',') ? ',' : '-';
    SmallVector<StringRef> parts;
    t.split(parts, separator, -1, /*KeepEmpty=*/false);
    std::vector<int64_t> parsed;
    for (StringRef part : parts) {
      int64_t v;
      if (part.trim().getAsInteger(10, v))
        return bad(key, *text, "a list of integers (e.g. 512-256-1)");
      parsed.push_back(v);
    }
    value = std::move(parsed);
  }
  void visit(StringRef key, DType &value, StringRef) override {
    const std::string *text = find(key);
    if (!text)
      return;
    std::string t = StringRef(*text).trim().lower();
    if (t == "f32" || t == "fp32" || t == "float32")
      value = DType::f32;
    else if (t == "bf16" || t == "bfloat16")
      value = DType::bf16;
    else if (t == "f16" || t == "fp16" || t == "float16")
      value = DType::f16;
    else
      bad(key, *text, "f32, bf16 or f16");
  }

  /// Reports the given keys the model does not have; fails if anything was
  /// reported.
  LogicalResult finish(ArrayRef<ModelOption> known) {
    for (const auto &entry : given) {
      if (used.contains(entry.getKey()))
        continue;
      std::string keys = llvm::join(
          llvm::map_range(known, [](const ModelOption &o) { return o.key; }),
          ", ");
      emitError(UnknownLoc::get(&ctx))
          << "model '" << model << "' has no option '" << entry.getKey()
          << "' (its options: " << keys << ")";
      failed = true;
    }
    return mlir::failure(failed);
  }

private:
  const std::string *find(StringRef key) {
    auto it = given.find(key);
    if (it == given.end())
      return nullptr;
    used.insert(key);
    return &it->second;
  }
  void bad(StringRef key, StringRef text, StringRef expected) {
    emitError(UnknownLoc::get(&ctx))
        << "option '" << key << "' of model '" << model << "' expects "
        << expected << ", got '" << text << "'";
    failed = true;
  }

  MLIRContext &ctx;
  StringRef model;
  const llvm::StringMap<std::string> &given;
  llvm::StringSet<> used;
  bool failed = false;
};

//===----------------------------------------------------------------------===//
// The registry
//===----------------------------------------------------------------------===//

struct Entry {
  ModelInfo info;
  std::function<OwningOpRef<ModuleOp>(MLIRContext &,
                                      const llvm::StringMap<std::string> &)>
      build;
};

template <typename Options>
Entry makeEntry(StringRef name, StringRef summary,
                std::vector<std::string> aliases, Options defaults,
                OwningOpRef<ModuleOp> (*build)(MLIRContext &,
                                               const Options &)) {
  Entry e;
  e.info.name = name.str();
  e.info.summary = summary.str();
  e.info.aliases = std::move(aliases);
  Options copy = defaults;
  Printer printer(e.info.options);
  describe(copy, printer);
  std::vector<ModelOption> known = e.info.options;
  std::string modelName = name.str();
  e.build = [defaults, build, known, modelName](
                MLIRContext &ctx, const llvm::StringMap<std::string> &given)
      -> OwningOpRef<ModuleOp> {
    Options options = defaults;
    Parser parser(ctx, modelName, given);
    describe(options, parser);
    if (mlir::failed(parser.finish(known)))
      return nullptr;
    return build(ctx, options);
  };
  return e;
}

const std::vector<Entry> &entries() {
  static const std::vector<Entry> all = [] {
    std::vector<Entry> v;
    // FlexFlow's six benchmarks.
    v.push_back(makeEntry(
        "alexnet",
        "AlexNet, torchvision's variant: 61.1 M parameters, 0.71 GMACs per "
        "224x224 image (FlexFlow benchmark)",
        {}, AlexNetOptions(), &buildAlexNet));
    v.push_back(makeEntry(
        "inception-v3",
        "Inception-v3, torchvision's: 23.8 M parameters (27.2 M with "
        "--aux-logits), 5.7 GMACs per 299x299 image (FlexFlow benchmark)",
        {"inception"}, InceptionV3Options(), &buildInceptionV3));
    ResNetOptions r101;
    r101.depth = 101;
    v.push_back(makeEntry("resnet101",
                          "ResNet-101 v1.5: 44.5 M parameters, 7.8 GMACs per "
                          "224x224 image (FlexFlow benchmark)",
                          {}, r101, &buildResNet));
    v.push_back(makeEntry(
        "rnntc",
        "FlexFlow's RNN text classification: embedding, 4 LSTM layers "
        "unrolled 40 steps, classifier",
        {}, RnnTcOptions(), &buildRnnTc));
    v.push_back(makeEntry("rnnlm",
                          "FlexFlow's RNN language model: embedding, 2 LSTM "
                          "layers unrolled 40 steps, softmax over 10k words",
                          {}, RnnLmOptions(), &buildRnnLm));
    v.push_back(makeEntry(
        "nmt",
        "FlexFlow's NMT: 2+2 LSTM encoder-decoder layers, Luong attention, "
        "softmax over the target vocabulary",
        {}, NmtOptions(), &buildNmt));
    // Other CNNs.
    v.push_back(makeEntry("resnet50",
                          "ResNet-50 v1.5: 25.6 M parameters, 4.1 GMACs per "
                          "224x224 image",
                          {}, ResNetOptions(), &buildResNet));
    v.push_back(makeEntry("resnet",
                          "ResNet (--depth 18/34/50/101/152), ResNeXt "
                          "(--groups, --width-per-group)",
                          {"resnext"}, ResNetOptions(), &buildResNet));
    ResNetOptions wide;
    wide.widthPerGroup = 128;
    v.push_back(makeEntry("wide-resnet",
                          "Wide-ResNet-50-2 (torchvision): 68.9 M parameters, "
                          "11.4 GMACs per 224x224 image",
                          {"wide-resnet50-2", "wrn-50-2"}, wide,
                          &buildResNet));
    v.push_back(makeEntry("vgg16",
                          "VGG-16 (configuration D): 138.4 M parameters, "
                          "15.5 GMACs per 224x224 image",
                          {}, VggOptions(), &buildVgg));
    v.push_back(makeEntry("vgg", "VGG (--depth 11/13/16/19, --batch-norm)", {},
                          VggOptions(), &buildVgg));
    // Transformers.
    v.push_back(makeEntry("bert-base",
                          "BERT-base (12 layers, 768 hidden, 12 heads): 110 M "
                          "parameters",
                          {"bert"}, BertOptions::base(), &buildBert));
    v.push_back(makeEntry("bert-large",
                          "BERT-large (24 layers, 1024 hidden, 16 heads): "
                          "340 M parameters (published, rounded; 335 M exact)",
                          {}, BertOptions::large(), &buildBert));
    v.push_back(makeEntry(
        "gpt",
        "GPT (GPT-2/3, Megatron-LM) of any size; default GPT-2 small, 124 M "
        "parameters",
        {"gpt2", "megatron"}, GptOptions(), &buildGpt));
    v.push_back(makeEntry("moe-transformer",
                          "GPT with top-k gated mixture-of-experts "
                          "feed-forward blocks every --moe-every layers",
                          {"moe"}, MoeOptions(), &buildMoe));
    // Recommendation.
    v.push_back(makeEntry("dlrm",
                          "DLRM, Criteo Kaggle configuration: 26 embedding "
                          "tables, bottom and top MLPs, dot interaction",
                          {}, DlrmOptions(), &buildDlrm));
    return v;
  }();
  return all;
}

std::string normalize(StringRef name) {
  std::string s = name.trim().lower();
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

const Entry *lookupEntry(StringRef name) {
  std::string wanted = normalize(name);
  for (const Entry &e : entries()) {
    if (normalize(e.info.name) == wanted)
      return &e;
    for (const std::string &alias : e.info.aliases)
      if (normalize(alias) == wanted)
        return &e;
  }
  return nullptr;
}

} // namespace

const std::vector<ModelInfo> &soap::zoo::listModels() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> v;
    for (const Entry &e : entries())
      v.push_back(e.info);
    return v;
  }();
  return infos;
}

const ModelInfo *soap::zoo::lookupModel(StringRef name) {
  const Entry *e = lookupEntry(name);
  return e ? &e->info : nullptr;
}

OwningOpRef<ModuleOp>
soap::zoo::buildModel(MLIRContext &context, StringRef name,
                      const llvm::StringMap<std::string> &options) {
  const Entry *e = lookupEntry(name);
  if (!e) {
    std::string known = llvm::join(
        llvm::map_range(entries(), [](const Entry &x) { return x.info.name; }),
        ", ");
    emitError(UnknownLoc::get(&context))
        << "unknown model '" << name << "' (known: " << known << ")";
    return nullptr;
  }
  return e->build(context, options);
}
