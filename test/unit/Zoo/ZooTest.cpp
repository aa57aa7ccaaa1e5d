//===- ZooTest.cpp - the model zoo against published figures --------------===//
//
// Parameter counts are the sum of the soap.weight element counts; FLOPs are
// ModelStats::forwardFlops (the sum of getForwardFlops over the ops with the
// SOAP interface, a multiply-add = 2 FLOPs) and ModelStats::macs (the
// multiply-adds of the contractions only: conv2d, linear, matmul,
// attention, lstm, experts).
//
// Published figures and what they count:
//  - torchvision's model table (pytorch.org/vision/stable/models.html): the
//    parameter count (exact, from the state_dict) and "GFLOPS", which are
//    really GMACs of the convolutions and linear layers of one image in
//    eval mode. Compared with `macs / batch`.
//  - BERT (Devlin et al. 2019): 110 M and 340 M, rounded; the exact count is
//    computed here from the architecture.
//  - Megatron-LM (Narayanan et al. 2021): P = 12 l h^2 (1 + 13 / (12 h) +
//    (V + s) / (12 l h)) and F = 96 B s l h^2 (1 + s / (6 h) + V / (16 l h))
//    per iteration with activation recomputation, i.e. 24 B s l h^2
//    (1 + s / (6 h)) + 2 B s h V for one forward pass.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Import/Zoo.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/StringSet.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

using namespace mlir;
using namespace soap;
using namespace soap::zoo;

namespace {

/// |actual / expected - 1| <= tolerance.
::testing::AssertionResult within(double actual, double expected,
                                  double tolerance) {
  double rel = std::abs(actual / expected - 1.0);
  if (rel <= tolerance)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << actual << " differs from " << expected << " by " << rel * 100
         << " % (tolerance " << tolerance * 100 << " %)";
}

class ZooTest : public ::testing::Test {
protected:
  ZooTest()
      : handler(&context, [this](Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return success();
        }) {}

  ModelStats stats(const OwningOpRef<ModuleOp> &module) {
    EXPECT_TRUE(module) << diagnostics;
    if (!module)
      return {};
    return computeStats(*module);
  }

  /// The weight called `name`, or null.
  WeightOp findWeight(ModuleOp module, StringRef name) {
    WeightOp found;
    module.walk([&](WeightOp w) {
      if (w.getName() == name)
        found = w;
    });
    return found;
  }

  MLIRContext context;
  ScopedDiagnosticHandler handler;
  std::string diagnostics;
};

//===----------------------------------------------------------------------===//
// Every model: builds, verifies, is well named
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, EveryModelBuildsAndVerifies) {
  ASSERT_GE(listModels().size(), 16u);
  for (const ModelInfo &info : listModels()) {
    SCOPED_TRACE(info.name);
    OwningOpRef<ModuleOp> module = buildModel(context, info.name);
    ASSERT_TRUE(module) << diagnostics;
    EXPECT_TRUE(succeeded(verify(*module))) << diagnostics;

    auto funcs = llvm::to_vector(module->getOps<func::FuncOp>());
    ASSERT_EQ(funcs.size(), 1u);
    func::FuncOp func = funcs.front();
    // Returns the scalar loss.
    ASSERT_EQ(func.getNumResults(), 1u);
    auto lossType = dyn_cast<RankedTensorType>(func.getResultTypes()[0]);
    ASSERT_TRUE(lossType);
    EXPECT_EQ(lossType.getRank(), 0);
    // Every input is named.
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      EXPECT_TRUE(func.getArgAttrOfType<StringAttr>(
          i, SoapDialect::kNameAttrName));
    // Every compute op has a unique stable name; weight names are unique.
    llvm::StringSet<> opNames, weightNames;
    func.walk([&](Operation *op) {
      if (auto w = dyn_cast<WeightOp>(op)) {
        EXPECT_TRUE(weightNames.insert(w.getName()).second) << w.getName().str();
        return;
      }
      if (!isa<ParallelizableOpInterface>(op))
        return;
      auto name = op->getAttrOfType<StringAttr>(SoapDialect::kNameAttrName);
      ASSERT_TRUE(name) << op->getName().getStringRef().str();
      EXPECT_TRUE(opNames.insert(name.getValue()).second)
          << name.getValue().str();
    });
    ModelStats s = computeStats(*module);
    EXPECT_GT(s.parameters, 0);
    EXPECT_GT(s.forwardFlops, 0);
    EXPECT_GT(s.macs, 0);

    // The printed IR parses back to the same statistics (what soap-opt and
    // soapc read).
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
    OwningOpRef<ModuleOp> reparsed =
        parseSourceString<ModuleOp>(text, ParserConfig(&context));
    ASSERT_TRUE(reparsed) << diagnostics;
    ModelStats t = computeStats(*reparsed);
    EXPECT_EQ(t.parameters, s.parameters);
    EXPECT_EQ(t.forwardFlops, s.forwardFlops);
  }
}

TEST_F(ZooTest, LookupByNameAndAlias) {
  for (const char *name : {"alexnet", "inception-v3", "resnet101", "rnntc",
                           "rnnlm", "nmt", "resnet50", "vgg16", "wide-resnet",
                           "bert-base", "bert-large", "gpt",
                           "moe-transformer", "dlrm"})
    EXPECT_TRUE(lookupModel(name)) << name;
  EXPECT_EQ(lookupModel("Inception_V3"), lookupModel("inception-v3"));
  EXPECT_EQ(lookupModel("moe"), lookupModel("moe-transformer"));
  EXPECT_EQ(lookupModel("wide_resnet50_2"), lookupModel("wide-resnet"));
  EXPECT_FALSE(lookupModel("resnet51"));
}

TEST_F(ZooTest, OptionsAsText) {
  OwningOpRef<ModuleOp> module =
      buildModel(context, "gpt",
                 {{"layers", "2"}, {"hidden", "64"}, {"heads", "4"},
                  {"seq", "16"}, {"vocab", "100"}, {"batch", "2"},
                  {"dtype", "bf16"}, {"dropout", "0"}});
  ASSERT_TRUE(module) << diagnostics;
  WeightOp wte = findWeight(*module, "transformer.wte.weight");
  ASSERT_TRUE(wte);
  EXPECT_EQ(wte.getType().getShape(), (ArrayRef<int64_t>{100, 64}));
  EXPECT_TRUE(wte.getType().getElementType().isBF16());
  bool hasDropout = false;
  module->walk([&](DropoutOp) { hasDropout = true; });
  EXPECT_FALSE(hasDropout);

  // Integer lists, dlrm's notation or commas.
  module = buildModel(context, "dlrm",
                      {{"bottom-mlp", "13-64-8"}, {"emb-dim", "8"},
                       {"top-mlp", "16,1"}, {"table-sizes", "10-20-30"}});
  ASSERT_TRUE(module) << diagnostics;
  EXPECT_TRUE(findWeight(*module, "emb_l.2.weight"));
  EXPECT_FALSE(findWeight(*module, "emb_l.3.weight"));

  // Flags: empty text means true.
  module = buildModel(context, "inception-v3", {{"aux-logits", ""}});
  ASSERT_TRUE(module) << diagnostics;
  EXPECT_TRUE(findWeight(*module, "AuxLogits.fc.weight"));
}

//===----------------------------------------------------------------------===//
// Errors: a diagnostic and no module
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, BadOptionsAreDiagnosed) {
  struct Case {
    const char *model;
    llvm::StringMap<std::string> options;
    const char *message;
  } cases[] = {
      {"resnet51", {}, "unknown model 'resnet51'"},
      {"gpt", {{"heads", "5"}}, "heads (5) must divide hidden (768)"},
      {"bert-base", {{"hidden", "100"}}, "heads (12) must divide hidden (100)"},
      {"resnet50", {{"heads", "8"}}, "model 'resnet50' has no option 'heads'"},
      {"gpt", {{"layers", "many"}}, "expects an integer, got 'many'"},
      {"gpt", {{"dtype", "f8"}}, "expects f32, bf16 or f16"},
      {"gpt", {{"layers", "0"}}, "layers must be positive"},
      {"vgg", {{"depth", "12"}}, "depth must be 11, 13, 16 or 19"},
      {"resnet", {{"depth", "51"}}, "depth must be 18, 34, 50, 101 or 152"},
      {"resnet", {{"depth", "18"}, {"groups", "32"}}, "basic blocks"},
      {"alexnet", {{"image-size", "32"}}, "image-size must be at least 63"},
      {"alexnet", {{"image-size", "100"}}, "pools a 2x2 feature map to 6x6"},
      {"inception-v3", {{"image-size", "200"}, {"aux-logits", "true"}},
       "auxiliary classifier needs a 17x17"},
      {"bert-base", {{"seq", "1024"}}, "must not exceed max-positions"},
      {"bert-base", {{"head", "qa"}}, "head must be 'pretraining' or"},
      {"moe", {{"top-k", "9"}}, "top-k must be in [1, experts = 8]"},
      {"dlrm", {{"emb-dim", "32"}}, "emb-dim (32) must equal"},
      {"dlrm", {{"top-mlp", "512-2"}}, "top-mlp must end with width 1"},
      {"gpt", {{"dropout", "1.5"}}, "dropout must be in [0, 1), got 1.5"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.model);
    diagnostics.clear();
    OwningOpRef<ModuleOp> module = buildModel(context, c.model, c.options);
    EXPECT_FALSE(module);
    EXPECT_NE(diagnostics.find(c.message), std::string::npos) << diagnostics;
  }
}

//===----------------------------------------------------------------------===//
// CNNs against torchvision
//===----------------------------------------------------------------------===//

struct CnnFigures {
  const char *model;
  llvm::StringMap<std::string> options;
  int64_t torchvisionParams;  // exact, torchvision's state_dict
  double publishedParams;     // rounded, as in the papers / model table
  double publishedGMacs;      // torchvision's "GFLOPS" (multiply-adds)
};

TEST_F(ZooTest, CnnsMatchTorchvision) {
  CnnFigures figures[] = {
      {"resnet50", {}, 25557032, 25.6e6, 4.09},
      {"resnet101", {}, 44549160, 44.5e6, 7.80},
      {"vgg16", {}, 138357544, 138.4e6, 15.47},
      // torchvision's AlexNet: the single-GPU variant of "One weird trick"
      // (64-192-384-256-256 filters), not the two-tower original.
      {"alexnet", {}, 61100840, 61.1e6, 0.71},
      // Without the auxiliary classifier: 23.8 M; torchvision's 27.2 M
      // counts it (checked below).
      {"inception-v3", {}, 23834568, 23.8e6, 5.71},
      {"wide-resnet", {}, 68883240, 68.9e6, 11.40},
  };
  for (const CnnFigures &f : figures) {
    SCOPED_TRACE(f.model);
    OwningOpRef<ModuleOp> module = buildModel(context, f.model, f.options);
    ModelStats s = stats(module);
    ASSERT_TRUE(module);
    func::FuncOp func = *module->getOps<func::FuncOp>().begin();
    int64_t batch =
        cast<RankedTensorType>(func.getArgumentTypes()[0]).getDimSize(0);
    EXPECT_EQ(s.parameters, f.torchvisionParams);
    EXPECT_TRUE(within(double(s.parameters), f.publishedParams, 0.01));
    // The published GMACs count convolutions and linear layers only: that
    // is ModelStats::macs here.
    EXPECT_TRUE(within(double(s.macs) / double(batch), f.publishedGMacs * 1e9,
                       0.01));
  }

  // Inception-v3 with its auxiliary classifier: torchvision's 27,161,264.
  OwningOpRef<ModuleOp> aux =
      buildModel(context, "inception-v3", {{"aux-logits", "true"}});
  EXPECT_EQ(stats(aux).parameters, 27161264);
  EXPECT_TRUE(within(double(stats(aux).parameters), 27.2e6, 0.01));
}

TEST_F(ZooTest, ResNet50PerImage) {
  // 4.1 G multiply-adds per 224x224 image (He et al. 2016 report 3.8 G for
  // v1 with the stride in the 1x1; torchvision's v1.5 has it in the 3x3:
  // 4.09 G). One image, so FLOPs / 2 is per image directly.
  ResNetOptions o;
  o.batch = 1;
  OwningOpRef<ModuleOp> module = buildResNet(context, o);
  ModelStats s = stats(module);
  EXPECT_EQ(s.parameters, 25557032);
  EXPECT_TRUE(within(double(s.macs), 4.1e9, 0.01));
  // All ops, batch norm, ReLU, pooling and the residual adds included, are
  // within 3 % of the contractions alone.
  EXPECT_TRUE(within(double(s.forwardFlops) / 2.0, 4.1e9, 0.03));
}

TEST_F(ZooTest, TorchvisionNames) {
  OwningOpRef<ModuleOp> resnet = buildModel(context, "resnet50");
  ASSERT_TRUE(resnet);
  for (const char *name :
       {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight",
        "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
        "layer4.2.bn3.weight", "fc.weight", "fc.bias"})
    EXPECT_TRUE(findWeight(*resnet, name)) << name;
  WeightOp conv = findWeight(*resnet, "layer3.0.conv2.weight");
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv.getInit(), InitKind::kaiming_normal);
  EXPECT_EQ(conv.getType().getShape(), (ArrayRef<int64_t>{256, 256, 3, 3}));
  EXPECT_EQ(findWeight(*resnet, "fc.bias").getInit(), InitKind::zeros);
}

//===----------------------------------------------------------------------===//
// BERT
//===----------------------------------------------------------------------===//

/// BERT's parameters from its architecture (HuggingFace BertForPreTraining;
/// the MLM decoder weight is tied to the word embeddings).
int64_t bertParams(int64_t l, int64_t h, int64_t v, int64_t positions,
                   int64_t types, bool pretrainingHeads) {
  int64_t f = 4 * h;
  int64_t embeddings = (v + positions + types) * h + 2 * h;
  int64_t layer = 4 * (h * h + h)       // q, k, v, output projections
                  + (h * f + f) + (f * h + h) // feed-forward
                  + 2 * 2 * h;                // two layer norms
  int64_t pooler = h * h + h;
  int64_t model = embeddings + l * layer + pooler; // BertModel
  if (!pretrainingHeads)
    return model;
  int64_t mlm = (h * h + h) + 2 * h + v; // transform, its norm, decoder bias
  int64_t nsp = 2 * h + 2;
  return model + mlm + nsp;
}

TEST_F(ZooTest, BertMatchesArchitectureAndPublished) {
  // BertModel alone: HuggingFace's bert-base-uncased has 109,482,240.
  EXPECT_EQ(bertParams(12, 768, 30522, 512, 2, false), 109482240);
  EXPECT_EQ(bertParams(24, 1024, 30522, 512, 2, false), 335141888);

  OwningOpRef<ModuleOp> base = buildModel(context, "bert-base");
  int64_t baseParams = stats(base).parameters;
  EXPECT_EQ(baseParams, bertParams(12, 768, 30522, 512, 2, true));
  EXPECT_TRUE(within(double(baseParams), 110e6, 0.01));

  OwningOpRef<ModuleOp> large = buildModel(context, "bert-large");
  int64_t largeParams = stats(large).parameters;
  EXPECT_EQ(largeParams, bertParams(24, 1024, 30522, 512, 2, true));
  // The paper's "340M" is rounded: the architecture has 335.1 M (336.2 M
  // with the pre-training heads), 1.1 % below it.
  EXPECT_TRUE(within(double(largeParams), 340e6, 0.015));

  // The classification head instead: BertModel + a [h, classes] classifier.
  OwningOpRef<ModuleOp> cls =
      buildModel(context, "bert-base", {{"head", "classification"}});
  EXPECT_EQ(stats(cls).parameters,
            bertParams(12, 768, 30522, 512, 2, false) + 768 * 2 + 2);

  ASSERT_TRUE(base);
  for (const char *name :
       {"bert.embeddings.word_embeddings.weight",
        "bert.embeddings.LayerNorm.bias",
        "bert.encoder.layer.11.attention.self.query.weight",
        "bert.encoder.layer.0.attention.output.dense.bias",
        "bert.encoder.layer.3.intermediate.dense.weight",
        "bert.encoder.layer.3.output.LayerNorm.weight",
        "bert.pooler.dense.weight", "cls.predictions.bias",
        "cls.predictions.transform.dense.weight",
        "cls.seq_relationship.weight"})
    EXPECT_TRUE(findWeight(*base, name)) << name;
  WeightOp q = findWeight(*base, "bert.encoder.layer.0.attention.self.query.weight");
  ASSERT_TRUE(q);
  EXPECT_EQ(q.getInit(), InitKind::normal);
  EXPECT_DOUBLE_EQ(q.getScale()->convertToDouble(), 0.02);
}

//===----------------------------------------------------------------------===//
// GPT against Megatron-LM
//===----------------------------------------------------------------------===//

struct GptSize {
  const char *name;
  int64_t l, h, heads, v, s;
  double published; // the papers' parameter counts (0: none given exactly)
};

/// Megatron-LM's parameter formula.
double megatronParams(const GptSize &g) {
  double l = g.l, h = g.h, v = g.v, s = g.s;
  return 12 * l * h * h * (1 + 13 / (12 * h) + (v + s) / (12 * l * h));
}

GptOptions gptOptions(const GptSize &g, int64_t batch = 1) {
  GptOptions o;
  o.layers = g.l;
  o.hidden = g.h;
  o.heads = g.heads;
  o.vocab = g.v;
  o.seq = g.s;
  o.batch = batch;
  return o;
}

TEST_F(ZooTest, GptMatchesMegatronFormula) {
  GptSize sizes[] = {
      // GPT-2 small (HF gpt2: 124,439,808 with tied embeddings).
      {"gpt2-small", 12, 768, 12, 50257, 1024, 124.4e6},
      // Megatron-LM (Shoeybi et al. 2019): the 8.3 B model.
      {"megatron-8.3b", 72, 3072, 32, 51200, 1024, 8.3e9},
      // Narayanan et al. 2021, Table 1 (V = 51200, s = 2048).
      {"megatron-1.7b", 24, 2304, 24, 51200, 2048, 0},
      {"megatron-18.4b", 40, 6144, 48, 51200, 2048, 18.4e9},
      {"megatron-145.6b", 80, 12288, 96, 51200, 2048, 145.6e9},
      {"megatron-1t", 128, 25600, 160, 51200, 2048, 1008.0e9},
      // GPT-3 175B (Brown et al. 2020).
      {"gpt3-175b", 96, 12288, 96, 50257, 2048, 175.0e9},
  };
  for (const GptSize &g : sizes) {
    SCOPED_TRACE(g.name);
    OwningOpRef<ModuleOp> module = buildGpt(context, gptOptions(g));
    int64_t p = stats(module).parameters;
    // Exact: the formula plus the final layer norm (2h), which it omits.
    double formula = megatronParams(g);
    EXPECT_EQ(double(p), std::round(formula) + 2.0 * g.h);
    EXPECT_TRUE(within(double(p), formula, 0.01));
    if (g.published > 0) {
      EXPECT_TRUE(within(double(p), g.published, 0.01));
    }
  }
  // 1.7 B is "1.7" in the paper's table, rounded from 1.65 B.
  EXPECT_TRUE(within(megatronParams(sizes[2]), 1.7e9, 0.03));
}

TEST_F(ZooTest, GptFlopsMatchMegatronFormula) {
  GptSize sizes[] = {{"megatron-1.7b", 24, 2304, 24, 51200, 2048, 0},
                     {"megatron-18.4b", 40, 6144, 48, 51200, 2048, 0}};
  for (const GptSize &g : sizes) {
    SCOPED_TRACE(g.name);
    const int64_t batch = 2;
    OwningOpRef<ModuleOp> module = buildGpt(context, gptOptions(g, batch));
    ModelStats s = stats(module);
    double b = batch, l = g.l, h = g.h, v = g.v, seq = g.s;
    // One forward pass: a quarter of Megatron's 96 B s l h^2 (...) for the
    // layers (4 passes with recomputation), a third of its logit term.
    double forward = 24 * b * seq * l * h * h * (1 + seq / (6 * h)) +
                     2 * b * seq * h * v;
    EXPECT_TRUE(within(double(s.macs) * 2, forward, 1e-9));
    // Every op (layer norms, GELU, softmax, dropout, residual adds): +0.4 %.
    EXPECT_TRUE(within(double(s.forwardFlops), forward, 0.01));
  }
}

TEST_F(ZooTest, GptNamesAndInit) {
  GptOptions o;
  o.layers = 4;
  OwningOpRef<ModuleOp> module = buildGpt(context, o);
  ASSERT_TRUE(module) << diagnostics;
  for (const char *name :
       {"transformer.wte.weight", "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight", "transformer.h.3.attn.q_proj.weight",
        "transformer.h.3.attn.out_proj.bias", "transformer.h.1.mlp.fc_in.weight",
        "transformer.h.1.mlp.fc_out.weight", "transformer.ln_f.bias"})
    EXPECT_TRUE(findWeight(*module, name)) << name;
  // Residual projections: 0.02 / sqrt(2 * layers).
  WeightOp out = findWeight(*module, "transformer.h.0.mlp.fc_out.weight");
  ASSERT_TRUE(out);
  EXPECT_DOUBLE_EQ(out.getScale()->convertToDouble(), 0.02 / std::sqrt(8.0));
  // Causal attention, tied LM head.
  int attentions = 0;
  module->walk([&](AttentionOp a) {
    EXPECT_TRUE(a.getCausal());
    ++attentions;
  });
  EXPECT_EQ(attentions, 4);
}

//===----------------------------------------------------------------------===//
// MoE, DLRM, RNNs: exact counts from the architecture
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, MoeParameters) {
  MoeOptions o;
  o.layers = 4;
  o.hidden = 256;
  o.heads = 4;
  o.seq = 128;
  o.vocab = 1000;
  o.experts = 8;
  o.topK = 2;
  o.moeEvery = 2;
  OwningOpRef<ModuleOp> module = buildMoe(context, o);
  ModelStats s = stats(module);
  int64_t h = 256, f = 4 * h, e = 8;
  int64_t attention = 4 * (h * h + h) + 2 * 2 * h; // with both layer norms
  int64_t dense = h * f + f + f * h + h;
  int64_t moe = h * e + e * (h * f + f * h);
  int64_t expected = (1000 + 128) * h + 4 * attention + 2 * dense + 2 * moe +
                     2 * h;
  EXPECT_EQ(s.parameters, expected);
  int gates = 0, experts = 0;
  module->walk([&](TopKGateOp g) {
    EXPECT_EQ(g.getK(), 2u);
    ++gates;
  });
  module->walk([&](ExpertsOp) { ++experts; });
  EXPECT_EQ(gates, 2); // layers 1 and 3
  EXPECT_EQ(experts, 2);
  ASSERT_TRUE(module);
  EXPECT_TRUE(findWeight(*module, "transformer.h.1.moe.experts.w1"));
  EXPECT_TRUE(findWeight(*module, "transformer.h.1.moe.gate.weight"));
  EXPECT_TRUE(findWeight(*module, "transformer.h.0.mlp.fc_in.weight"));
}

TEST_F(ZooTest, DlrmParameters) {
  DlrmOptions o;
  OwningOpRef<ModuleOp> module = buildDlrm(context, o);
  ModelStats s = stats(module);
  int64_t rows = std::accumulate(o.tableSizes.begin(), o.tableSizes.end(),
                                 int64_t(0));
  EXPECT_EQ(rows, 33762577); // Criteo Kaggle
  auto mlpParams = [](std::vector<int64_t> widths) {
    int64_t n = 0;
    for (size_t i = 1; i < widths.size(); ++i)
      n += widths[i - 1] * widths[i] + widths[i];
    return n;
  };
  int64_t f = 27; // 26 tables + the bottom MLP
  int64_t interaction = 16 + f * (f - 1) / 2; // dlrm: 367
  EXPECT_EQ(s.parameters, rows * 16 + mlpParams({13, 512, 256, 64, 16}) +
                              mlpParams({interaction, 512, 256, 1}));
  int lookups = 0, dots = 0;
  module->walk([&](EmbeddingOp) { ++lookups; });
  module->walk([&](MatmulOp) { ++dots; });
  EXPECT_EQ(lookups, 26);
  EXPECT_EQ(dots, 1);
  EXPECT_TRUE(findWeight(*module, "emb_l.25.weight"));
  EXPECT_TRUE(findWeight(*module, "bot_l.6.weight"));
  EXPECT_TRUE(findWeight(*module, "top_l.4.bias"));
}

/// soap.lstm layers: [I, 4H] + [H, 4H] + [4H] each.
int64_t lstmParams(int64_t in, int64_t h, int64_t layers) {
  int64_t n = 0;
  for (int64_t i = 0; i < layers; ++i, in = h)
    n += in * 4 * h + h * 4 * h + 4 * h;
  return n;
}

TEST_F(ZooTest, RecurrentModels) {
  RnnTcOptions tc;
  ModelStats s = stats(buildRnnTc(context, tc));
  EXPECT_EQ(s.parameters, 20480 * 1024 + lstmParams(1024, 1024, 4) +
                              1024 * 2 + 2);
  // Unrolled 40 steps at batch 64: the gate products dominate.
  EXPECT_EQ(s.macs, 40 * 64 * lstmParams(1024, 1024, 4) -
                        40 * 64 * 4 * 4 * 1024 + 64 * 1024 * 2);

  RnnLmOptions lm;
  s = stats(buildRnnLm(context, lm));
  EXPECT_EQ(s.parameters, 10000 * 1024 + lstmParams(1024, 1024, 2) +
                              1024 * 10000 + 10000);

  NmtOptions nmt;
  OwningOpRef<ModuleOp> module = buildNmt(context, nmt);
  s = stats(module);
  int64_t h = 2048;
  EXPECT_EQ(s.parameters, 2 * (20480 * h + lstmParams(h, h, 2)) +
                              2 * h * h + h * 20480 + 20480);
  int lstms = 0;
  module->walk([&](LstmOp op) {
    EXPECT_EQ(op.getType().getDimSize(1), 40); // unrolled 40 steps
    EXPECT_EQ(op.getType().getDimSize(0), 64);
    ++lstms;
  });
  EXPECT_EQ(lstms, 4);
}

} // namespace
