//===- ModelBuilder.cpp - building blocks of the zoo's models -------------===//
#include "ModelBuilder.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>
#include <sstream>

using namespace mlir;
using namespace soap;
using namespace soap::zoo;
using namespace soap::zoo::detail;

ArrayRef<int64_t> soap::zoo::detail::shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

std::string soap::zoo::detail::formatNumber(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

Init Init::fanIn(int64_t fanIn) {
  return uniform(1.0 / std::sqrt(static_cast<double>(fanIn)));
}

TransformerNames TransformerNames::bert() {
  TransformerNames n;
  n.attention = "attention";
  n.query = "attention.self.query";
  n.key = "attention.self.key";
  n.value = "attention.self.value";
  n.attnOut = "attention.output.dense";
  n.attnDropout = "attention.output.dropout";
  n.attnAdd = "attention.output.add";
  n.attnNorm = "attention.output.LayerNorm";
  n.ffnIn = "intermediate.dense";
  n.ffnAct = "intermediate.gelu";
  n.ffnOut = "output.dense";
  n.ffnDropout = "output.dropout";
  n.ffnAdd = "output.add";
  n.ffnNorm = "output.LayerNorm";
  n.moe = "moe";
  return n;
}

TransformerNames TransformerNames::gpt() {
  TransformerNames n;
  n.attention = "attn";
  n.query = "attn.q_proj";
  n.key = "attn.k_proj";
  n.value = "attn.v_proj";
  n.attnOut = "attn.out_proj";
  n.attnDropout = "attn.dropout";
  n.attnAdd = "attn.add";
  n.attnNorm = "ln_1";
  n.ffnIn = "mlp.fc_in";
  n.ffnAct = "mlp.gelu";
  n.ffnOut = "mlp.fc_out";
  n.ffnDropout = "mlp.dropout";
  n.ffnAdd = "mlp.add";
  n.ffnNorm = "ln_2";
  n.moe = "moe";
  return n;
}

//===----------------------------------------------------------------------===//
// ModelBuilder: function, names, inputs, weights
//===----------------------------------------------------------------------===//

static Type toElementType(MLIRContext *ctx, DType dtype) {
  switch (dtype) {
  case DType::bf16:
    return BFloat16Type::get(ctx);
  case DType::f16:
    return Float16Type::get(ctx);
  case DType::f32:
    break;
  }
  return Float32Type::get(ctx);
}

ModelBuilder::ModelBuilder(MLIRContext &ctx, StringRef funcName, DType dtype)
    : context(&ctx), builder(&ctx) {
  ctx.loadDialect<SoapDialect, func::FuncDialect>();
  elementType = toElementType(&ctx, dtype);
  Location loc = NameLoc::get(StringAttr::get(&ctx, funcName));
  module = ModuleOp::create(loc, funcName);
  builder.setInsertionPointToEnd(module->getBody());
  func = func::FuncOp::create(builder, loc, funcName,
                              builder.getFunctionType({}, {}));
  builder.setInsertionPointToStart(func.addEntryBlock());
}

RankedTensorType ModelBuilder::floatTensor(ArrayRef<int64_t> shape) const {
  return RankedTensorType::get(shape, elementType);
}

void ModelBuilder::fail(const Twine &message) {
  emitError(UnknownLoc::get(context)) << message.str();
  throw BuildError();
}

ModelBuilder::Scope::Scope(ModelBuilder &b, const Twine &name)
    : b(b), previousLength(b.prefix.size()) {
  b.prefix = b.qualify(name);
}

ModelBuilder::Scope::~Scope() { b.prefix.resize(previousLength); }

std::string ModelBuilder::qualify(const Twine &leaf) const {
  if (prefix.empty())
    return leaf.str();
  return (prefix + "." + leaf).str();
}

std::string ModelBuilder::uniqueName(const Twine &name) {
  std::string base = qualify(name);
  if (opNames.insert(base).second)
    return base;
  for (int64_t i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (opNames.insert(candidate).second)
      return candidate;
  }
}

Location ModelBuilder::nameLoc(const Twine &name) {
  return NameLoc::get(StringAttr::get(context, uniqueName(name)));
}

Value ModelBuilder::input(StringRef name, ArrayRef<int64_t> shape) {
  inputNames.push_back(name.str());
  return func.getBody().front().addArgument(
      floatTensor(shape), NameLoc::get(StringAttr::get(context, name)));
}

Value ModelBuilder::indexInput(StringRef name, ArrayRef<int64_t> shape) {
  inputNames.push_back(name.str());
  return func.getBody().front().addArgument(
      RankedTensorType::get(shape, builder.getI64Type()),
      NameLoc::get(StringAttr::get(context, name)));
}

Value ModelBuilder::weight(const Twine &name, ArrayRef<int64_t> shape,
                           Init init) {
  std::string full = qualify(name);
  if (!weightNames.insert(full).second)
    fail("internal error: two weights are called '" + full + "'");
  if (llvm::any_of(shape, [](int64_t d) { return d < 1; }))
    fail("weight '" + full + "' would have an empty shape; check the sizes");
  FloatAttr scale;
  if (init.scale)
    scale = builder.getF64FloatAttr(*init.scale);
  Location loc = NameLoc::get(StringAttr::get(context, full));
  return WeightOp::create(builder, loc, floatTensor(shape), full, init.kind,
                          scale, ElementsAttr())
      .getResult();
}

//===----------------------------------------------------------------------===//
// Layers
//===----------------------------------------------------------------------===//

Value ModelBuilder::linear(Value x, int64_t out, const Twine &name, Init init,
                           bool bias) {
  std::string base = name.str();
  int64_t in = shapeOf(x).back();
  Value w = weight(base + ".weight", {in, out}, init);
  Value b = bias ? weight(base + ".bias", {out}, Init::zeros()) : Value();
  return create<LinearOp>(base, x, w, b).getResult();
}

void ModelBuilder::setWidthDivisor(int64_t divisor) {
  if (divisor < 1)
    fail("width-divisor must be positive, got " + Twine(divisor));
  widthDivisor = divisor;
}

int64_t ModelBuilder::narrow(int64_t width, const Twine &what) {
  if (width % widthDivisor != 0)
    fail("width-divisor " + Twine(widthDivisor) + " does not divide the " +
         Twine(width) + " channels of '" + qualify(what.str()) + "'");
  return width / widthDivisor;
}

Value ModelBuilder::conv2d(Value x, const ConvSpec &wide, const Twine &name,
                           Init init) {
  std::string base = name.str();
  ConvSpec spec = wide;
  spec.out = narrow(wide.out, base);
  int64_t cin = shapeOf(x)[1];
  if (spec.groups < 1 || cin % spec.groups != 0)
    fail("convolution '" + qualify(base) + "': " + Twine(spec.groups) +
         " groups do not divide its " + Twine(cin) + " input channels");
  Value w = weight(base + ".weight",
                   {spec.out, cin / spec.groups, spec.kh, spec.kw}, init);
  Value b = spec.bias ? weight(base + ".bias", {spec.out}, Init::zeros())
                      : Value();
  int64_t strides[] = {spec.sh, spec.sw};
  int64_t padding[] = {spec.ph, spec.pw, spec.ph, spec.pw};
  int64_t dilations[] = {1, 1};
  return create<Conv2dOp>(base, x, w, b, ArrayRef<int64_t>(strides),
                          ArrayRef<int64_t>(padding),
                          ArrayRef<int64_t>(dilations),
                          static_cast<uint64_t>(spec.groups))
      .getResult();
}

Value ModelBuilder::batchNorm(Value x, const Twine &name, double eps) {
  std::string base = name.str();
  int64_t c = shapeOf(x)[1];
  Value g = weight(base + ".weight", {c}, Init::ones());
  Value b = weight(base + ".bias", {c}, Init::zeros());
  return create<BatchNormOp>(base, x, g, b, builder.getF64FloatAttr(eps),
                             builder.getF64FloatAttr(0.1))
      .getResult();
}

Value ModelBuilder::layerNorm(Value x, const Twine &name, double eps) {
  std::string base = name.str();
  int64_t c = shapeOf(x).back();
  Value g = weight(base + ".weight", {c}, Init::ones());
  Value b = weight(base + ".bias", {c}, Init::zeros());
  return create<LayerNormOp>(base, x, g, b, builder.getI64IntegerAttr(-1),
                             builder.getF64FloatAttr(eps))
      .getResult();
}

Value ModelBuilder::relu(Value x, const Twine &name) {
  return create<ReluOp>(name, x).getResult();
}
Value ModelBuilder::gelu(Value x, const Twine &name) {
  return create<GeluOp>(name, x).getResult();
}
Value ModelBuilder::tanh(Value x, const Twine &name) {
  return create<TanhOp>(name, x).getResult();
}
Value ModelBuilder::sigmoid(Value x, const Twine &name) {
  return create<SigmoidOp>(name, x).getResult();
}
Value ModelBuilder::add(Value a, Value b, const Twine &name) {
  return create<AddOp>(name, a, b).getResult();
}

Value ModelBuilder::dropout(Value x, double ratio, const Twine &name) {
  if (ratio == 0.0)
    return x;
  if (!(ratio > 0.0 && ratio < 1.0))
    fail("dropout ratio must be in [0, 1), got " + formatNumber(ratio));
  return create<DropoutOp>(name, x, builder.getF64FloatAttr(ratio),
                           builder.getI64IntegerAttr(nextSeed++))
      .getResult();
}

Value ModelBuilder::maxPool(Value x, int64_t kernel, int64_t stride,
                            int64_t pad, const Twine &name) {
  int64_t k[] = {kernel, kernel};
  int64_t p[] = {pad, pad, pad, pad};
  return create<Pool2dOp>(name, PoolKind::max, x, ArrayRef<int64_t>(k),
                          builder.getDenseI64ArrayAttr({stride, stride}),
                          ArrayRef<int64_t>(p), false,
                          /*dilations=*/DenseI64ArrayAttr())
      .getResult();
}

Value ModelBuilder::avgPool(Value x, int64_t kernel, int64_t stride,
                            int64_t pad, bool countIncludePad,
                            const Twine &name) {
  int64_t k[] = {kernel, kernel};
  int64_t p[] = {pad, pad, pad, pad};
  return create<Pool2dOp>(name, PoolKind::avg, x, ArrayRef<int64_t>(k),
                          builder.getDenseI64ArrayAttr({stride, stride}),
                          ArrayRef<int64_t>(p), countIncludePad,
                          /*dilations=*/DenseI64ArrayAttr())
      .getResult();
}

Value ModelBuilder::globalAvgPool(Value x, const Twine &name) {
  auto s = shapeOf(x);
  int64_t k[] = {s[2], s[3]};
  int64_t p[] = {0, 0, 0, 0};
  return create<Pool2dOp>(name, PoolKind::avg, x, ArrayRef<int64_t>(k),
                          DenseI64ArrayAttr(), ArrayRef<int64_t>(p), false,
                          /*dilations=*/DenseI64ArrayAttr())
      .getResult();
}

Value ModelBuilder::adaptiveAvgPool(Value x, int64_t out, const Twine &name) {
  auto s = shapeOf(x);
  if (s[2] == out && s[3] == out)
    return x; // the identity, as in PyTorch
  if (s[2] % out != 0 || s[3] % out != 0)
    fail("'" + qualify(name) + "' pools a " + Twine(s[2]) + "x" + Twine(s[3]) +
         " feature map to " + Twine(out) + "x" + Twine(out) +
         ", which Soap expresses only when the sides are multiples of " +
         Twine(out) + "; choose another --image-size");
  int64_t k[] = {s[2] / out, s[3] / out};
  int64_t p[] = {0, 0, 0, 0};
  return create<Pool2dOp>(name, PoolKind::avg, x, ArrayRef<int64_t>(k),
                          DenseI64ArrayAttr(), ArrayRef<int64_t>(p), false,
                          /*dilations=*/DenseI64ArrayAttr())
      .getResult();
}

Value ModelBuilder::flatten(Value x, const Twine &name) {
  return create<FlattenOp>(name, x, builder.getI64IntegerAttr(1)).getResult();
}

Value ModelBuilder::reshape(Value x, ArrayRef<int64_t> shape,
                            const Twine &name) {
  auto type = cast<RankedTensorType>(x.getType());
  auto result = RankedTensorType::get(shape, type.getElementType());
  if (result.getNumElements() != type.getNumElements())
    fail("internal error: reshape '" + qualify(name) +
         "' changes the element count");
  Location loc = nameLoc(name);
  return finishOp<ReshapeOp>(ReshapeOp::create(builder, loc, result, x), loc)
      .getResult();
}

Value ModelBuilder::transpose(Value x, ArrayRef<int64_t> permutation,
                              const Twine &name) {
  return create<TransposeOp>(name, x, permutation).getResult();
}

Value ModelBuilder::concat(ValueRange xs, int64_t axis, const Twine &name) {
  return create<ConcatOp>(name, xs, builder.getI64IntegerAttr(axis))
      .getResult();
}

Value ModelBuilder::slice(Value x, ArrayRef<int64_t> starts,
                          ArrayRef<int64_t> ends, const Twine &name) {
  return create<SliceOp>(name, x, starts, ends, DenseI64ArrayAttr())
      .getResult();
}

Value ModelBuilder::lookup(Value ids, Value table, const Twine &name) {
  return create<EmbeddingOp>(name, ids, table).getResult();
}

Value ModelBuilder::crossEntropy(Value logits, Value labels,
                                 const Twine &name) {
  // No class weights, mean reduction, no ignored label.
  return create<SoftmaxCrossEntropyOp>(name, logits, labels, Value(),
                                       /*reduction=*/mlir::StringAttr(),
                                       mlir::IntegerAttr())
      .getResult();
}

//===----------------------------------------------------------------------===//
// Blocks
//===----------------------------------------------------------------------===//

Value ModelBuilder::convBnRelu(Value x, const ConvSpec &spec,
                               const Twine &convName, const Twine &bnName,
                               const Twine &reluName, double eps) {
  Value y = conv2d(x, spec, convName);
  y = batchNorm(y, bnName, eps);
  return relu(y, reluName);
}

Value ModelBuilder::lstmStack(Value x, int64_t layers, int64_t hidden,
                              const Twine &name) {
  std::string base = name.str();
  Init init = Init::fanIn(hidden); // PyTorch: U(-1/sqrt(H), 1/sqrt(H))
  for (int64_t i = 0; i < layers; ++i) {
    std::string l = std::to_string(i);
    int64_t in = shapeOf(x).back();
    Value wih = weight(base + ".weight_ih_l" + l, {in, 4 * hidden}, init);
    Value whh = weight(base + ".weight_hh_l" + l, {hidden, 4 * hidden}, init);
    Value b = weight(base + ".bias_l" + l, {4 * hidden}, Init::zeros());
    x = create<LstmOp>(base + ".l" + l, x, wih, whh, b).getResult();
  }
  return x;
}

Value ModelBuilder::mixtureOfExperts(Value x, const TransformerLayerSpec &spec) {
  auto s = shapeOf(x);
  int64_t batch = s[0], seq = s[1], e = s[2];
  Scope scope(*this, spec.names.moe);
  // Experts route tokens: fold the batch and sequence axes together.
  Value tokens = reshape(x, {batch * seq, e}, "tokens");
  Value logits = linear(tokens, spec.experts, "gate",
                        Init::normal(spec.initStd), /*bias=*/false);
  auto gate = createN<TopKGateOp>(2, "topk", logits,
                                  static_cast<uint64_t>(spec.topK));
  Value w1 = weight("experts.w1", {spec.experts, e, spec.ffnHidden},
                    Init::normal(spec.initStd));
  Value w2 = weight("experts.w2", {spec.experts, spec.ffnHidden, e},
                    Init::normal(spec.outputInitStd));
  Value y = create<ExpertsOp>("experts", tokens, gate.getWeights(),
                              gate.getIndices(), w1, w2,
                              builder.getF64FloatAttr(spec.capacityFactor),
                              ActivationAttr::get(context, Activation::gelu))
                .getResult();
  return reshape(y, {batch, seq, e}, "unflatten");
}

Value ModelBuilder::transformerLayer(Value x, const TransformerLayerSpec &spec) {
  const TransformerNames &n = spec.names;
  int64_t e = shapeOf(x).back();
  if (spec.heads < 1 || e % spec.heads != 0)
    fail("heads (" + Twine(spec.heads) + ") must divide hidden (" + Twine(e) +
         ")");

  auto attention = [&](Value h) {
    Init init = Init::normal(spec.initStd);
    SmallVector<Value, 4> ws, bs;
    for (const std::string *proj : {&n.query, &n.key, &n.value, &n.attnOut}) {
      Init wInit = proj == &n.attnOut ? Init::normal(spec.outputInitStd) : init;
      ws.push_back(weight(*proj + ".weight", {e, e}, wInit));
      bs.push_back(weight(*proj + ".bias", {e}, Init::zeros()));
    }
    return create<AttentionOp>(n.attention, h, h, h, ws[0], ws[1], ws[2],
                               ws[3], ValueRange(bs),
                               static_cast<uint64_t>(spec.heads), spec.causal)
        .getResult();
  };
  auto feedForward = [&](Value h) {
    if (spec.experts > 0)
      return mixtureOfExperts(h, spec);
    Value y = linear(h, spec.ffnHidden, n.ffnIn, Init::normal(spec.initStd));
    y = gelu(y, n.ffnAct);
    return linear(y, e, n.ffnOut, Init::normal(spec.outputInitStd));
  };

  if (spec.preNorm) {
    Value a = attention(layerNorm(x, n.attnNorm, spec.normEps));
    x = add(x, dropout(a, spec.dropout, n.attnDropout), n.attnAdd);
    Value f = feedForward(layerNorm(x, n.ffnNorm, spec.normEps));
    return add(x, dropout(f, spec.dropout, n.ffnDropout), n.ffnAdd);
  }
  Value a = dropout(attention(x), spec.dropout, n.attnDropout);
  x = layerNorm(add(x, a, n.attnAdd), n.attnNorm, spec.normEps);
  Value f = dropout(feedForward(x), spec.dropout, n.ffnDropout);
  return layerNorm(add(x, f, n.ffnAdd), n.ffnNorm, spec.normEps);
}

OwningOpRef<ModuleOp> ModelBuilder::finish(Value loss) {
  func::ReturnOp::create(builder, func.getLoc(), loss);
  Block &entry = func.getBody().front();
  func.setFunctionType(builder.getFunctionType(
      TypeRange(entry.getArgumentTypes()), {loss.getType()}));
  for (auto [i, name] : llvm::enumerate(inputNames))
    func.setArgAttr(i, SoapDialect::kNameAttrName,
                    builder.getStringAttr(name));
  if (failed(verify(*module)))
    return nullptr;
  return std::move(module);
}

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

static int64_t numel(Value v) { return soap::detail::numElements(v.getType()); }

/// Multiply-adds of the contraction in `op` (0 for other ops).
static int64_t contractionMacs(Operation *op) {
  if (auto conv = dyn_cast<Conv2dOp>(op)) {
    auto w = shapeOf(conv.getWeight());
    return numel(conv.getResult()) * w[1] * w[2] * w[3];
  }
  if (auto lin = dyn_cast<LinearOp>(op))
    return numel(lin.getResult()) * shapeOf(lin.getWeight())[0];
  if (auto mm = dyn_cast<MatmulOp>(op))
    return numel(mm.getResult()) * shapeOf(mm.getLhs()).back();
  if (auto att = dyn_cast<AttentionOp>(op)) {
    auto q = shapeOf(att.getQuery()), k = shapeOf(att.getKey()),
         v = shapeOf(att.getValue());
    int64_t b = q[0], s = q[1], e = q[2], t = k[1];
    return 2 * b * s * e * e + b * t * (k[2] + v[2]) * e + 2 * b * s * t * e;
  }
  if (auto lstm = dyn_cast<LstmOp>(op)) {
    auto r = shapeOf(lstm.getResult());
    int64_t in = shapeOf(lstm.getInput())[2];
    return r[0] * r[1] * (in + r[2]) * 4 * r[2];
  }
  if (auto ex = dyn_cast<ExpertsOp>(op)) {
    auto w1 = shapeOf(ex.getW1());
    return w1[0] * ex.getCapacity() * 2 * w1[1] * w1[2];
  }
  return 0;
}

/// a += b, saturating at INT64_MAX (a GPT-3 step at batch 1536 has more
/// than 2^63 FLOPs).
static void addSaturating(int64_t &a, int64_t b) {
  int64_t sum;
  a = llvm::AddOverflow(a, b, sum) ? std::numeric_limits<int64_t>::max() : sum;
}

ModelStats soap::zoo::computeStats(ModuleOp module) {
  ModelStats stats;
  module.walk([&](Operation *op) {
    if (auto w = dyn_cast<WeightOp>(op)) {
      addSaturating(stats.parameters, soap::detail::numElements(w.getType()));
      ++stats.numWeights;
      return;
    }
    if (auto p = dyn_cast<ParallelizableOpInterface>(op)) {
      addSaturating(stats.forwardFlops, p.getForwardFlops());
      addSaturating(stats.macs, contractionMacs(op));
      ++stats.numComputeOps;
    }
  });
  return stats;
}
