//===- Dlrm.cpp - the deep learning recommendation model ------------------===//
//
// facebookresearch/dlrm's DLRM with its parameter names (bot_l, emb_l, top_l)
// and the "dot" interaction: the bottom MLP's output and the pooled
// embeddings are stacked [B, F, d], their pairwise dot products
// Z = T . T^T [B, F, F] are taken below the diagonal, and the top MLP reads
// [bottom output, tril(Z)]. Loss: dlrm's default, the mean squared error of
// the sigmoid output against the click label.
//
//===----------------------------------------------------------------------===//
#include "ModelBuilder.h"

#include <cmath>

using namespace mlir;
using namespace soap;
using namespace soap::zoo;
using namespace soap::zoo::detail;

namespace {
/// dlrm's MLP initializer: W ~ N(0, sqrt(2 / (in + out))).
Init mlpInit(int64_t in, int64_t out) {
  return Init::normal(std::sqrt(2.0 / static_cast<double>(in + out)));
}

/// An MLP as dlrm's nn.Sequential "<name>": Linear at even indices, the
/// activation (ReLU; `sigmoidLast` makes the last one a sigmoid) at odd ones.
Value mlp(ModelBuilder &b, Value x, ArrayRef<int64_t> widths, StringRef name,
          bool sigmoidLast) {
  for (auto [i, out] : llvm::enumerate(widths)) {
    int64_t in = shapeOf(x).back();
    x = b.linear(x, out, name + "." + Twine(2 * i), mlpInit(in, out));
    std::string act = (name + "." + Twine(2 * i + 1)).str();
    x = (sigmoidLast && i + 1 == widths.size()) ? b.sigmoid(x, act)
                                                 : b.relu(x, act);
  }
  return x;
}
} // namespace

OwningOpRef<ModuleOp> soap::zoo::buildDlrm(MLIRContext &ctx,
                                           const DlrmOptions &o) {
  return runBuilder(ctx, "dlrm", o.dtype, [&](ModelBuilder &b) {
    if (o.batch < 1)
      b.fail("batch must be positive, got " + Twine(o.batch));
    if (o.bottomMlp.size() < 2)
      b.fail("bottom-mlp needs the dense feature count and at least one "
             "layer width (e.g. 13-512-256-64-16)");
    if (o.topMlp.empty())
      b.fail("top-mlp needs at least one layer width (e.g. 512-256-1)");
    if (o.topMlp.back() != 1)
      b.fail("top-mlp must end with width 1 (the click probability), got " +
             Twine(o.topMlp.back()));
    if (o.tableSizes.empty())
      b.fail("table-sizes needs at least one embedding table");
    for (int64_t v : o.bottomMlp)
      if (v < 1)
        b.fail("bottom-mlp sizes must be positive, got " + Twine(v));
    for (int64_t v : o.topMlp)
      if (v < 1)
        b.fail("top-mlp sizes must be positive, got " + Twine(v));
    for (int64_t v : o.tableSizes)
      if (v < 1)
        b.fail("table-sizes must be positive, got " + Twine(v));
    if (o.lookups < 1)
      b.fail("lookups must be positive, got " + Twine(o.lookups));
    if (o.embDim != o.bottomMlp.back())
      b.fail("emb-dim (" + Twine(o.embDim) +
             ") must equal the bottom MLP's output width (" +
             Twine(o.bottomMlp.back()) + ") for the dot interaction");

    int64_t batch = o.batch, d = o.embDim;
    int64_t tables = static_cast<int64_t>(o.tableSizes.size());
    Value dense = b.input("dense_features", {batch, o.bottomMlp.front()});
    SmallVector<Value> sparse;
    for (int64_t i = 0; i < tables; ++i)
      sparse.push_back(b.indexInput("sparse_features." + std::to_string(i),
                                    {batch, o.lookups}));
    Value labels = b.input("labels", {batch, 1});

    Value x = mlp(b, dense, ArrayRef<int64_t>(o.bottomMlp).drop_front(),
                  "bot_l", /*sigmoidLast=*/false);

    // Embedding bags: [B, lookups] ids -> [B, lookups, d] -> sum -> [B, 1, d].
    SmallVector<Value> features;
    features.push_back(b.reshape(x, {batch, 1, d}, "interact.bottom"));
    for (int64_t i = 0; i < tables; ++i) {
      std::string bag = "emb_l." + std::to_string(i); // an nn.EmbeddingBag
      double bound = std::sqrt(1.0 / static_cast<double>(o.tableSizes[i]));
      Value table =
          b.weight(bag + ".weight", {o.tableSizes[i], d}, Init::uniform(bound));
      Value e = b.lookup(sparse[i], table, bag);
      if (o.lookups > 1)
        e = b.create<ReduceSumOp>(bag + ".sum", e, ArrayRef<int64_t>{1}, true)
                .getResult();
      features.push_back(e);
    }

    // Pairwise dot products, strictly below the diagonal, row by row.
    Value z;
    {
      ModelBuilder::Scope scope(b, "interact");
      int64_t f = tables + 1;
      Value t = b.concat(features, 1, "stack");
      Value tt = b.transpose(t, {0, 2, 1}, "stack_t");
      Value dots = b.create<MatmulOp>("dot", t, tt).getResult();
      SmallVector<Value> parts = {x};
      for (int64_t i = 1; i < f; ++i) {
        Value row = b.slice(dots, {0, i, 0}, {batch, i + 1, i},
                            "tril." + Twine(i));
        parts.push_back(b.reshape(row, {batch, i}, "tril." + Twine(i) +
                                                       ".reshape"));
      }
      z = b.concat(parts, 1, "cat");
    }

    Value p = mlp(b, z, o.topMlp, "top_l", /*sigmoidLast=*/true);
    return b.create<MseLossOp>("loss", p, labels).getResult();
  });
}
