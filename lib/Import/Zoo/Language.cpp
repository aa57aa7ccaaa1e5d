//===- Language.cpp - RNNTC, RNNLM, NMT, BERT, GPT, MoE -------------------===//
//
// The sequence models. Token inputs are i64 [batch, seq]; every model ends
// in a softmax cross-entropy against i64 labels.
//
//===----------------------------------------------------------------------===//
#include "ModelBuilder.h"

#include <cmath>

using namespace mlir;
using namespace soap;
using namespace soap::zoo;
using namespace soap::zoo::detail;

namespace {
/// Reports `key` unless it is positive.
void checkPositive(ModelBuilder &b, StringRef key, int64_t value) {
  if (value < 1)
    b.fail(key + " must be positive, got " + Twine(value));
}

/// PyTorch's nn.Embedding initializer, N(0, 1).
Init embeddingInit() { return Init::normal(1.0); }
} // namespace

//===----------------------------------------------------------------------===//
// FlexFlow's recurrent benchmarks
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> soap::zoo::buildRnnTc(MLIRContext &ctx,
                                            const RnnTcOptions &o) {
  return runBuilder(ctx, "rnntc", o.dtype, [&](ModelBuilder &b) {
    for (auto [key, v] : {std::pair<StringRef, int64_t>{"batch", o.batch},
                          {"seq", o.seq}, {"vocab", o.vocab},
                          {"embed", o.embed}, {"hidden", o.hidden},
                          {"layers", o.layers}, {"classes", o.numClasses}})
      checkPositive(b, key, v);
    Value ids = b.indexInput("tokens", {o.batch, o.seq});
    Value labels = b.indexInput("labels", {o.batch});
    Value table = b.weight("embedding.weight", {o.vocab, o.embed},
                           embeddingInit());
    Value x = b.lookup(ids, table, "embedding");
    x = b.lstmStack(x, o.layers, o.hidden, "rnn");
    // Classify from the hidden state of the last step.
    x = b.slice(x, {0, o.seq - 1, 0}, {o.batch, o.seq, o.hidden}, "last_step");
    x = b.reshape(x, {o.batch, o.hidden}, "last_step.reshape");
    x = b.linear(x, o.numClasses, "fc", Init::fanIn(o.hidden));
    return b.crossEntropy(x, labels, "loss");
  });
}

OwningOpRef<ModuleOp> soap::zoo::buildRnnLm(MLIRContext &ctx,
                                            const RnnLmOptions &o) {
  // PyTorch's word_language_model names: encoder, rnn, decoder.
  return runBuilder(ctx, "rnnlm", o.dtype, [&](ModelBuilder &b) {
    for (auto [key, v] : {std::pair<StringRef, int64_t>{"batch", o.batch},
                          {"seq", o.seq}, {"vocab", o.vocab},
                          {"embed", o.embed}, {"hidden", o.hidden},
                          {"layers", o.layers}})
      checkPositive(b, key, v);
    Value ids = b.indexInput("tokens", {o.batch, o.seq});
    Value labels = b.indexInput("labels", {o.batch, o.seq});
    Value table = b.weight("encoder.weight", {o.vocab, o.embed},
                           Init::uniform(0.1));
    Value x = b.lookup(ids, table, "encoder");
    x = b.lstmStack(x, o.layers, o.hidden, "rnn");
    x = b.linear(x, o.vocab, "decoder", Init::uniform(0.1));
    return b.crossEntropy(x, labels, "loss");
  });
}

OwningOpRef<ModuleOp> soap::zoo::buildNmt(MLIRContext &ctx,
                                          const NmtOptions &o) {
  return runBuilder(ctx, "nmt", o.dtype, [&](ModelBuilder &b) {
    for (auto [key, v] : {std::pair<StringRef, int64_t>{"batch", o.batch},
                          {"seq", o.seq}, {"src-vocab", o.srcVocab},
                          {"tgt-vocab", o.tgtVocab}, {"embed", o.embed},
                          {"hidden", o.hidden}, {"layers", o.layers}})
      checkPositive(b, key, v);
    Value src = b.indexInput("src_tokens", {o.batch, o.seq});
    Value tgt = b.indexInput("tgt_tokens", {o.batch, o.seq});
    Value labels = b.indexInput("labels", {o.batch, o.seq});
    Value memory;
    {
      ModelBuilder::Scope scope(b, "encoder");
      Value table = b.weight("embedding.weight", {o.srcVocab, o.embed},
                             Init::uniform(0.1));
      memory = b.lstmStack(b.lookup(src, table, "embedding"), o.layers,
                           o.hidden, "rnn");
    }
    Value h;
    {
      ModelBuilder::Scope scope(b, "decoder");
      Value table = b.weight("embedding.weight", {o.tgtVocab, o.embed},
                             Init::uniform(0.1));
      h = b.lstmStack(b.lookup(tgt, table, "embedding"), o.layers, o.hidden,
                      "rnn");
    }
    {
      // Luong's global attention with the dot score:
      // a = softmax(h . memory^T), c = a . memory, h~ = tanh(W_c [c; h]).
      ModelBuilder::Scope scope(b, "attention");
      Value keys = b.transpose(memory, {0, 2, 1}, "memory_t");
      Value scores = b.create<MatmulOp>("scores", h, keys).getResult();
      Value probs = b.create<SoftmaxOp>("softmax", scores,
                                        b.getBuilder().getI64IntegerAttr(-1))
                        .getResult();
      Value context = b.create<MatmulOp>("context", probs, memory).getResult();
      Value joint = b.concat({context, h}, 2, "concat");
      h = b.linear(joint, o.hidden, "combine", Init::fanIn(2 * o.hidden),
                   /*bias=*/false);
      h = b.tanh(h, "tanh");
    }
    Value logits = b.linear(h, o.tgtVocab, "generator", Init::fanIn(o.hidden));
    return b.crossEntropy(logits, labels, "loss");
  });
}

//===----------------------------------------------------------------------===//
// Transformers
//===----------------------------------------------------------------------===//

namespace {
/// The options BERT, GPT and the MoE transformer share, checked once.
void checkTransformer(ModelBuilder &b, int64_t layers, int64_t hidden,
                      int64_t heads, int64_t ffnHidden, int64_t seq,
                      int64_t vocab, int64_t batch, double dropout) {
  for (auto [key, v] : {std::pair<StringRef, int64_t>{"layers", layers},
                        {"hidden", hidden}, {"heads", heads}, {"seq", seq},
                        {"vocab", vocab}, {"batch", batch}})
    checkPositive(b, key, v);
  if (ffnHidden < 0)
    b.fail("ffn-hidden must be positive (or 0 for 4 * hidden), got " +
           Twine(ffnHidden));
  if (hidden % heads != 0)
    b.fail("heads (" + Twine(heads) + ") must divide hidden (" +
           Twine(hidden) + ")");
  if (!(dropout >= 0.0 && dropout < 1.0))
    b.fail("dropout must be in [0, 1), got " + formatNumber(dropout));
}

/// Tied output layer: logits = x . table^T (+ bias), as a linear op whose
/// weight is the transposed embedding table.
Value tiedLogits(ModelBuilder &b, Value x, Value table, Value bias,
                 const Twine &name) {
  std::string base = name.str();
  Value weight = b.transpose(table, {1, 0}, base + ".tied_weight");
  return b.create<LinearOp>(base, x, weight, bias).getResult();
}

/// GPT's decoder stack ("transformer.*") and tied LM head; `experts` > 0
/// makes every `moeEvery`-th feed-forward block a mixture of experts.
Value gptBody(ModelBuilder &b, int64_t layers, int64_t hidden, int64_t heads,
              int64_t ffnHidden, int64_t seq, int64_t vocab, int64_t batch,
              double dropout, int64_t experts, int64_t topK, int64_t moeEvery,
              double capacityFactor) {
  Value ids = b.indexInput("input_ids", {batch, seq});
  Value labels = b.indexInput("labels", {batch, seq});
  Value wte;
  Value x;
  {
    ModelBuilder::Scope scope(b, "transformer");
    wte = b.weight("wte.weight", {vocab, hidden}, Init::normal(0.02));
    Value wpe = b.weight("wpe.weight", {seq, hidden}, Init::normal(0.02));
    x = b.add(b.lookup(ids, wte, "wte"), wpe, "add_wpe");
    x = b.dropout(x, dropout, "drop");

    TransformerLayerSpec spec;
    spec.heads = heads;
    spec.ffnHidden = ffnHidden ? ffnHidden : 4 * hidden;
    spec.causal = true;
    spec.preNorm = true;
    spec.dropout = dropout;
    spec.normEps = 1e-5;
    spec.initStd = 0.02;
    // GPT-2 / Megatron-LM: residual projections scaled by 1/sqrt(2 layers).
    spec.outputInitStd = 0.02 / std::sqrt(2.0 * static_cast<double>(layers));
    spec.names = TransformerNames::gpt();
    spec.topK = topK;
    spec.capacityFactor = capacityFactor;
    for (int64_t i = 0; i < layers; ++i) {
      ModelBuilder::Scope layer(b, "h." + Twine(i));
      bool moe = experts > 0 && i % moeEvery == moeEvery - 1;
      spec.experts = moe ? experts : 0;
      x = b.transformerLayer(x, spec);
    }
    x = b.layerNorm(x, "ln_f", 1e-5);
  }
  Value logits = tiedLogits(b, x, wte, Value(), "lm_head");
  return b.crossEntropy(logits, labels, "loss");
}
} // namespace

OwningOpRef<ModuleOp> soap::zoo::buildBert(MLIRContext &ctx,
                                           const BertOptions &o) {
  return runBuilder(ctx, "bert", o.dtype, [&](ModelBuilder &b) {
    checkTransformer(b, o.layers, o.hidden, o.heads, o.ffnHidden, o.seq,
                     o.vocab, o.batch, o.dropout);
    checkPositive(b, "max-positions", o.maxPositions);
    checkPositive(b, "type-vocab", o.typeVocab);
    if (o.seq > o.maxPositions)
      b.fail("seq (" + Twine(o.seq) + ") must not exceed max-positions (" +
             Twine(o.maxPositions) + ")");
    bool pretraining = o.head == "pretraining";
    if (!pretraining && o.head != "classification")
      b.fail("head must be 'pretraining' or 'classification', got '" + o.head +
             "'");
    if (!pretraining)
      checkPositive(b, "classes", o.numClasses);
    const double eps = 1e-12, std = 0.02;

    Value ids = b.indexInput("input_ids", {o.batch, o.seq});
    Value types = b.indexInput("token_type_ids", {o.batch, o.seq});
    Value mlmLabels, sentenceLabels;
    if (pretraining) {
      mlmLabels = b.indexInput("mlm_labels", {o.batch, o.seq});
      sentenceLabels = b.indexInput("next_sentence_labels", {o.batch});
    } else {
      sentenceLabels = b.indexInput("labels", {o.batch});
    }

    Value wordTable, x;
    {
      ModelBuilder::Scope scope(b, "bert.embeddings");
      wordTable = b.weight("word_embeddings.weight", {o.vocab, o.hidden},
                           Init::normal(std));
      Value positions = b.weight("position_embeddings.weight",
                                 {o.maxPositions, o.hidden}, Init::normal(std));
      Value typeTable = b.weight("token_type_embeddings.weight",
                                 {o.typeVocab, o.hidden}, Init::normal(std));
      // Position ids are 0..seq-1: the first seq rows of the table.
      if (o.seq < o.maxPositions)
        positions = b.slice(positions, {0, 0}, {o.seq, o.hidden},
                            "position_embeddings");
      x = b.lookup(ids, wordTable, "word_embeddings");
      x = b.add(x, positions, "add_position_embeddings");
      x = b.add(x, b.lookup(types, typeTable, "token_type_embeddings"),
                "add_token_type_embeddings");
      x = b.layerNorm(x, "LayerNorm", eps);
      x = b.dropout(x, o.dropout, "dropout");
    }

    TransformerLayerSpec spec;
    spec.heads = o.heads;
    spec.ffnHidden = o.ffnHidden ? o.ffnHidden : 4 * o.hidden;
    spec.preNorm = false;
    spec.dropout = o.dropout;
    spec.normEps = eps;
    spec.initStd = spec.outputInitStd = std;
    spec.names = TransformerNames::bert();
    for (int64_t i = 0; i < o.layers; ++i) {
      ModelBuilder::Scope layer(b, "bert.encoder.layer." + Twine(i));
      x = b.transformerLayer(x, spec);
    }

    // The pooler: tanh(W . first token).
    Value pooled;
    {
      ModelBuilder::Scope scope(b, "bert.pooler");
      pooled = b.slice(x, {0, 0, 0}, {o.batch, 1, o.hidden}, "first_token");
      pooled = b.reshape(pooled, {o.batch, o.hidden}, "first_token.reshape");
      pooled = b.linear(pooled, o.hidden, "dense", Init::normal(std));
      pooled = b.tanh(pooled, "activation");
    }

    if (!pretraining) {
      pooled = b.dropout(pooled, o.dropout, "dropout");
      Value logits = b.linear(pooled, o.numClasses, "classifier",
                              Init::normal(std));
      return b.crossEntropy(logits, sentenceLabels, "loss");
    }

    // Masked LM over every position (the runtime's labels mark the masked
    // ones), with the decoder tied to the word embeddings.
    Value mlmLoss;
    {
      ModelBuilder::Scope scope(b, "cls.predictions");
      Value h = b.linear(x, o.hidden, "transform.dense", Init::normal(std));
      h = b.gelu(h, "transform.gelu");
      h = b.layerNorm(h, "transform.LayerNorm", eps);
      Value bias = b.weight("bias", {o.vocab}, Init::zeros());
      Value logits = tiedLogits(b, h, wordTable, bias, "decoder");
      mlmLoss = b.crossEntropy(logits, mlmLabels, "loss");
    }
    Value nspLogits =
        b.linear(pooled, 2, "cls.seq_relationship", Init::normal(std));
    Value nspLoss =
        b.crossEntropy(nspLogits, sentenceLabels, "cls.seq_relationship.loss");
    return b.add(mlmLoss, nspLoss, "loss");
  });
}

OwningOpRef<ModuleOp> soap::zoo::buildGpt(MLIRContext &ctx,
                                          const GptOptions &o) {
  return runBuilder(ctx, "gpt", o.dtype, [&](ModelBuilder &b) {
    checkTransformer(b, o.layers, o.hidden, o.heads, o.ffnHidden, o.seq,
                     o.vocab, o.batch, o.dropout);
    return gptBody(b, o.layers, o.hidden, o.heads, o.ffnHidden, o.seq, o.vocab,
                   o.batch, o.dropout, 0, 0, 1, 1.0);
  });
}

OwningOpRef<ModuleOp> soap::zoo::buildMoe(MLIRContext &ctx,
                                          const MoeOptions &o) {
  return runBuilder(ctx, "moe_transformer", o.dtype, [&](ModelBuilder &b) {
    checkTransformer(b, o.layers, o.hidden, o.heads, o.ffnHidden, o.seq,
                     o.vocab, o.batch, o.dropout);
    checkPositive(b, "experts", o.experts);
    checkPositive(b, "moe-every", o.moeEvery);
    if (o.topK < 1 || o.topK > o.experts)
      b.fail("top-k must be in [1, experts = " + Twine(o.experts) + "], got " +
             Twine(o.topK));
    if (!(o.capacityFactor > 0.0))
      b.fail("capacity-factor must be positive, got " +
             formatNumber(o.capacityFactor));
    return gptBody(b, o.layers, o.hidden, o.heads, o.ffnHidden, o.seq, o.vocab,
                   o.batch, o.dropout, o.experts, o.topK, o.moeEvery,
                   o.capacityFactor);
  });
}
