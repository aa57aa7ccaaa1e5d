//===- OnnxImportTest.cpp - ONNX models built with the protobuf API -------===//
//
// Small multi-op models (a CNN block, a transformer block with a dynamic
// batch, GELU variants, LSTM and Gemm weights) built with the ONNX C++
// protobuf API, imported with soap::importOnnx, and checked op by op.
//
//===----------------------------------------------------------------------===//
#include "OnnxTestUtils.h"

#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Import/Onnx.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/STLExtras.h"

#include "gtest/gtest.h"

#include <set>

using namespace mlir;
using namespace soap;
using namespace soap::test;

namespace {

using B = OnnxModelBuilder;

func::FuncOp onlyFunc(ModuleOp module) {
  auto funcs = llvm::to_vector(module.getOps<func::FuncOp>());
  return funcs.size() == 1 ? funcs[0] : func::FuncOp();
}

/// The op names of the function body, weights and constants left out.
std::vector<std::string> computeOps(func::FuncOp func) {
  std::vector<std::string> names;
  for (Operation &op : func.getBody().front())
    if (!isa<WeightOp, ConstantOp, func::ReturnOp>(op))
      names.push_back(op.getName().getStringRef().str());
  return names;
}

std::vector<int64_t> shapeOf(Value v) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  return {shape.begin(), shape.end()};
}

template <typename OpTy>
OpTy firstOp(func::FuncOp func) {
  OpTy found;
  func.walk([&](OpTy op) {
    if (!found)
      found = op;
  });
  return found;
}

WeightOp weightNamed(func::FuncOp func, llvm::StringRef name) {
  WeightOp found;
  func.walk([&](WeightOp op) {
    if (op.getName() == name)
      found = op;
  });
  return found;
}

std::string soapName(Operation *op) {
  auto name = op->getAttrOfType<StringAttr>(SoapDialect::kNameAttrName);
  return name ? name.getValue().str() : "";
}

float weightElement(WeightOp w, llvm::ArrayRef<uint64_t> index) {
  auto dense = cast<DenseElementsAttr>(*w.getValue());
  return dense.getValues<float>()[index];
}

//===----------------------------------------------------------------------===//
// A CNN block: Conv-BN-Relu-MaxPool-Flatten-Gemm, dynamic batch
//===----------------------------------------------------------------------===//

std::string cnnBlock() {
  B b(13, "cnn");
  b.input("image", {"N", 3, 8, 8});
  auto &conv = b.node("Conv", {"image", "conv.w", "conv.b"}, {"c"}, "conv1");
  B::setInts(conv, "pads", {1, 1, 1, 1});
  B::setInts(conv, "strides", {1, 1});
  b.node("BatchNormalization", {"c", "bn.scale", "bn.bias", "bn.mean", "bn.var"},
         {"n"}, "bn1");
  b.node("Relu", {"n"}, {"r"}, "relu1");
  auto &pool = b.node("MaxPool", {"r"}, {"p"}, "pool1");
  B::setInts(pool, "kernel_shape", {2, 2});
  B::setInts(pool, "strides", {2, 2});
  b.node("Flatten", {"p"}, {"f"}, "flatten");
  auto &gemm = b.node("Gemm", {"f", "fc.w", "fc.b"}, {"logits"}, "fc");
  B::setInt(gemm, "transB", 1);
  b.initializer("conv.w", {6, 3, 3, 3});
  b.initializer("conv.b", {6});
  b.initializer("bn.scale", {6});
  b.initializer("bn.bias", {6});
  b.initializer("bn.mean", {6});
  b.initializer("bn.var", {6}, {1, 1, 1, 1, 1, 1});
  b.initializer("fc.w", {10, 96});
  b.initializer("fc.b", {10});
  b.output("logits");
  return b.bytes();
}

TEST(OnnxImport, CnnBlock) {
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 4;
  auto result = importWithDiagnostics(context, cnnBlock(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  ASSERT_TRUE(func);
  EXPECT_EQ(func.getName(), "cnn");
  EXPECT_EQ(computeOps(func),
            (std::vector<std::string>{"soap.conv2d", "soap.batch_norm",
                                      "soap.relu", "soap.pool2d",
                                      "soap.flatten", "soap.linear"}));
  // The batch is bound everywhere.
  EXPECT_EQ(shapeOf(func.getArgument(0)), (std::vector<int64_t>{4, 3, 8, 8}));
  auto conv = firstOp<Conv2dOp>(func);
  EXPECT_EQ(shapeOf(conv.getResult()), (std::vector<int64_t>{4, 6, 8, 8}));
  EXPECT_EQ(conv.getPadding(), (llvm::ArrayRef<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(soapName(conv), "conv1");
  auto pool = firstOp<Pool2dOp>(func);
  EXPECT_EQ(pool.getKind(), PoolKind::max);
  EXPECT_EQ(shapeOf(pool.getResult()), (std::vector<int64_t>{4, 6, 4, 4}));
  auto bn = firstOp<BatchNormOp>(func);
  EXPECT_DOUBLE_EQ(bn.getMomentum().convertToDouble(), 0.1);
  EXPECT_TRUE(bn->hasAttr("onnx.running_var"));
  EXPECT_EQ(bn.getScale().getDefiningOp<WeightOp>().getName(), "bn.scale");
  // Gemm with transB: the [10, 96] initializer is stored as [96, 10].
  auto linear = firstOp<LinearOp>(func);
  EXPECT_EQ(soapName(linear), "fc");
  EXPECT_EQ(shapeOf(linear.getResult()), (std::vector<int64_t>{4, 10}));
  auto w = linear.getWeight().getDefiningOp<WeightOp>();
  ASSERT_TRUE(w);
  EXPECT_EQ(w.getName(), "fc.w");
  EXPECT_EQ(shapeOf(w.getResult()), (std::vector<int64_t>{96, 10}));
  // ONNX element [n = 2, k = 5] (index 2 * 96 + 5) is soap's [k = 5, n = 2].
  EXPECT_FLOAT_EQ(weightElement(w, {5, 2}), 0.01f * (2 * 96 + 5));
  ASSERT_TRUE(linear.getBias());
  EXPECT_EQ(linear.getBias().getDefiningOp<WeightOp>().getName(), "fc.b");
  // BN's running statistics are not weights.
  EXPECT_FALSE(weightNamed(func, "bn.mean"));
}

TEST(OnnxImport, CnnBlockWithoutWeightValues) {
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 2;
  options.keepWeightValues = false;
  auto result = importWithDiagnostics(context, cnnBlock(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  func.walk([](WeightOp w) { EXPECT_FALSE(w.getValue()) << w.getName().str(); });
  EXPECT_EQ(weightNamed(func, "conv.w").getInit(), InitKind::kaiming_normal);
  EXPECT_EQ(weightNamed(func, "conv.b").getInit(), InitKind::zeros);
  EXPECT_EQ(weightNamed(func, "bn.scale").getInit(), InitKind::ones);
  EXPECT_EQ(weightNamed(func, "fc.w").getInit(), InitKind::xavier_uniform);
  EXPECT_FALSE(firstOp<BatchNormOp>(func)->hasAttr("onnx.running_mean"));
}

TEST(OnnxImport, DynamicBatchNeedsBinding) {
  MLIRContext context;
  auto result = importWithDiagnostics(context, cnnBlock());
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.diagnostics.find("graph input 'image' has a dynamic "
                                    "dimension (axis 0, 'N')"),
            std::string::npos)
      << result.diagnostics;
}

//===----------------------------------------------------------------------===//
// A transformer block: attention (MatMul/Add/Softmax) and LayerNormalization,
// with the head split computed by shape arithmetic on a dynamic batch
//===----------------------------------------------------------------------===//

/// x [batch, 8, 16] -> LN(x + attention(x)), 2 heads of 8.
std::string transformerBlock() {
  B b(17, "block");
  b.input("x", {"batch", 8, 16});
  for (const char *p : {"q", "k", "v", "o"}) {
    std::string w = std::string(p) + ".w", bias = std::string(p) + ".b";
    b.initializer(w, {16, 16});
    b.initializer(bias, {16});
    if (std::string(p) == "o")
      continue;
    b.node("MatMul", {"x", w}, {std::string(p) + "0"}, std::string(p) + "_proj");
    b.node("Add", {std::string(p) + "0", bias}, {std::string(p) + "1"},
           std::string(p) + "_bias");
  }
  // The head split shape [batch, 8, 2, 8] from Shape/Gather/Unsqueeze/Concat.
  b.node("Shape", {"x"}, {"xs"}, "shape");
  b.intInitializer("zero", {}, {0});
  b.node("Gather", {"xs", "zero"}, {"bdim"}, "gather_batch");
  b.intInitializer("axes0", {1}, {0});
  b.node("Unsqueeze", {"bdim", "axes0"}, {"bdim1"}, "unsqueeze_batch");
  b.intInitializer("rest", {3}, {8, 2, 8});
  auto &cat = b.node("Concat", {"bdim1", "rest"}, {"heads_shape"}, "concat");
  B::setInt(cat, "axis", 0);
  for (const char *p : {"q", "k", "v"}) {
    std::string in = std::string(p) + "1";
    b.node("Reshape", {in, "heads_shape"}, {std::string(p) + "h"},
           std::string(p) + "_heads");
    auto &t = b.node("Transpose", {std::string(p) + "h"}, {std::string(p) + "t"},
                     std::string(p) + "_transpose");
    B::setInts(t, "perm", std::string(p) == "k" ? std::vector<int64_t>{0, 2, 3, 1}
                                                : std::vector<int64_t>{0, 2, 1, 3});
  }
  b.node("MatMul", {"qt", "kt"}, {"scores"}, "scores");
  b.scalarConstant("scale", 2.8284271f);
  b.node("Div", {"scores", "scale"}, {"scaled"}, "scale_scores");
  auto &sm = b.node("Softmax", {"scaled"}, {"probs"}, "softmax");
  B::setInt(sm, "axis", -1);
  b.node("MatMul", {"probs", "vt"}, {"ctx"}, "context");
  auto &ct = b.node("Transpose", {"ctx"}, {"ctx_t"}, "context_transpose");
  B::setInts(ct, "perm", {0, 2, 1, 3});
  b.intInitializer("merged", {3}, {0, 8, 16});
  b.node("Reshape", {"ctx_t", "merged"}, {"ctx_m"}, "merge_heads");
  b.node("MatMul", {"ctx_m", "o.w"}, {"o0"}, "o_proj");
  b.node("Add", {"o0", "o.b"}, {"o1"}, "o_bias");
  b.node("Add", {"x", "o1"}, {"res"}, "residual");
  b.initializer("ln.w", {16});
  b.initializer("ln.b", {16});
  auto &ln = b.node("LayerNormalization", {"res", "ln.w", "ln.b"}, {"y"}, "ln");
  B::setInt(ln, "axis", -1);
  B::setFloat(ln, "epsilon", 1e-5f);
  b.output("y");
  return b.bytes();
}

TEST(OnnxImport, TransformerBlockWithDynamicBatch) {
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 2;
  auto result = importWithDiagnostics(context, transformerBlock(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(shapeOf(func.getArgument(0)), (std::vector<int64_t>{2, 8, 16}));
  EXPECT_EQ(shapeOf(func.getResultTypes().size() == 1
                        ? func.getBody().front().getTerminator()->getOperand(0)
                        : Value()),
            (std::vector<int64_t>{2, 8, 16}));
  // The shape arithmetic folded: no Shape/Gather/Concat leftovers.
  std::multiset<std::string> ops;
  for (const std::string &name : computeOps(func))
    ops.insert(name);
  EXPECT_EQ(ops.count("soap.linear"), 4u); // q, k, v, o with fused biases
  EXPECT_EQ(ops.count("soap.matmul"), 2u); // scores and context
  EXPECT_EQ(ops.count("soap.softmax"), 1u);
  EXPECT_EQ(ops.count("soap.layer_norm"), 1u);
  EXPECT_EQ(ops.count("soap.reshape"), 4u);
  EXPECT_EQ(ops.count("soap.concat"), 0u);
  EXPECT_EQ(ops.count("soap.embedding"), 0u);
  func.walk([&](LinearOp linear) {
    EXPECT_TRUE(linear.getBias()) << soapName(linear);
    EXPECT_EQ(shapeOf(linear.getResult()), (std::vector<int64_t>{2, 8, 16}));
  });
  // Every value has the bound batch.
  func.walk([&](Operation *op) {
    if (isa<WeightOp, ConstantOp>(op))
      return;
    for (Value r : op->getResults())
      EXPECT_EQ(shapeOf(r)[0], 2) << soapName(op);
  });
  bool sawScores = false;
  func.walk([&](MatmulOp mm) {
    if (soapName(mm) != "scores")
      return;
    sawScores = true;
    EXPECT_EQ(shapeOf(mm.getResult()), (std::vector<int64_t>{2, 2, 8, 8}));
  });
  EXPECT_TRUE(sawScores);
  auto ln = firstOp<LayerNormOp>(func);
  EXPECT_EQ(ln.getAxis(), 2);
  EXPECT_EQ(ln.getScale().getDefiningOp<WeightOp>().getName(), "ln.w");
  EXPECT_EQ(firstOp<SoftmaxOp>(func).getAxis(), 3);
}

TEST(OnnxImport, TransformerBlockOtherBatch) {
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 32;
  auto result = importWithDiagnostics(context, transformerBlock(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(shapeOf(func.getArgument(0)), (std::vector<int64_t>{32, 8, 16}));
}

//===----------------------------------------------------------------------===//
// GELU
//===----------------------------------------------------------------------===//

/// GELU in one of the exporters' spellings: `order` 0 is (x * p) * 0.5, 1 is
/// (x * 0.5) * p, 2 is (0.5 * p) * x; `mulBy` uses x * (1/sqrt(2)).
std::string geluModel(int order, bool mulBy, float half = 0.5f) {
  B b(13, "gelu");
  b.input("x", {2, 5});
  b.scalarConstant("s", mulBy ? 0.70710678f : 1.4142135f);
  b.scalarConstant("one", 1.0f);
  b.scalarConstant("half", half);
  b.node(mulBy ? "Mul" : "Div", {"x", "s"}, {"d"}, "scale");
  b.node("Erf", {"d"}, {"e"}, "erf");
  b.node("Add", {"one", "e"}, {"p"}, "plus_one");
  if (order == 0) {
    b.node("Mul", {"x", "p"}, {"m"}, "m1");
    b.node("Mul", {"m", "half"}, {"y"}, "m2");
  } else if (order == 1) {
    b.node("Mul", {"x", "half"}, {"m"}, "m1");
    b.node("Mul", {"m", "p"}, {"y"}, "m2");
  } else {
    b.node("Mul", {"half", "p"}, {"m"}, "m1");
    b.node("Mul", {"m", "x"}, {"y"}, "m2");
  }
  b.output("y");
  return b.bytes();
}

TEST(OnnxImport, GeluSpellingsBecomeSoapGelu) {
  for (int order = 0; order < 3; ++order)
    for (bool mulBy : {false, true}) {
      MLIRContext context;
      auto result = importWithDiagnostics(context, geluModel(order, mulBy));
      ASSERT_TRUE(result.ok()) << result.diagnostics;
      auto func = onlyFunc(*result.module);
      EXPECT_EQ(computeOps(func), (std::vector<std::string>{"soap.gelu"}))
          << "order " << order << ", mulBy " << mulBy;
      EXPECT_EQ(soapName(firstOp<GeluOp>(func)), "erf");
      int constants = 0;
      func.walk([&](ConstantOp) { ++constants; });
      EXPECT_EQ(constants, 0);
    }
}

TEST(OnnxImport, NotQuiteGeluStaysAsWritten) {
  MLIRContext context;
  auto result = importWithDiagnostics(context, geluModel(0, false, 0.6f));
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto ops = computeOps(onlyFunc(*result.module));
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "soap.gelu"), 0);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "soap.erf"), 1);
}

/// LayerNorm as exporters before opset 17 write it, over the last axis.
std::string decomposedLayerNorm(float exponent = 2.0f) {
  B b(13, "ln");
  b.input("x", {"batch", 4, 8});
  b.initializer("gamma", {8});
  b.initializer("beta", {8});
  b.scalarConstant("two", exponent);
  b.scalarConstant("eps", 1e-5f);
  auto &m1 = b.node("ReduceMean", {"x"}, {"mean"}, "/ln/ReduceMean");
  B::setInts(m1, "axes", {-1});
  b.node("Sub", {"x", "mean"}, {"d"}, "/ln/Sub");
  b.node("Pow", {"d", "two"}, {"sq"}, "/ln/Pow");
  auto &m2 = b.node("ReduceMean", {"sq"}, {"var"}, "/ln/ReduceMean_1");
  B::setInts(m2, "axes", {-1});
  b.node("Add", {"var", "eps"}, {"ve"}, "/ln/Add");
  b.node("Sqrt", {"ve"}, {"std"}, "/ln/Sqrt");
  b.node("Div", {"d", "std"}, {"n"}, "/ln/Div");
  b.node("Mul", {"n", "gamma"}, {"s"}, "/ln/Mul");
  b.node("Add", {"s", "beta"}, {"y"}, "/ln/Add_1");
  b.output("y");
  return b.bytes();
}

TEST(OnnxImport, DecomposedLayerNormBecomesSoapLayerNorm) {
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 3;
  auto result = importWithDiagnostics(context, decomposedLayerNorm(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(computeOps(func), (std::vector<std::string>{"soap.layer_norm"}));
  auto ln = firstOp<LayerNormOp>(func);
  EXPECT_EQ(ln.getAxis(), 2);
  EXPECT_DOUBLE_EQ(ln.getEpsilon().convertToDouble(), 1e-5);
  EXPECT_EQ(soapName(ln), "/ln/ReduceMean");
  EXPECT_EQ(ln.getScale().getDefiningOp<WeightOp>().getName(), "gamma");
  EXPECT_EQ(ln.getBias().getDefiningOp<WeightOp>().getName(), "beta");
}

TEST(OnnxImport, NotQuiteLayerNormStaysAsWritten) {
  // Cubes instead of squares: not a variance.
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 3;
  auto result =
      importWithDiagnostics(context, decomposedLayerNorm(3.0f), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto ops = computeOps(onlyFunc(*result.module));
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "soap.layer_norm"), 0);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "soap.reduce_mean"), 2);
}

TEST(OnnxImport, CausalMaskWhereIsArithmetic) {
  // Where(lower-triangular mask, scores, -1e4): GPT-2's causal masking.
  B b(13, "mask");
  b.input("scores", {"batch", 4, 4});
  auto &mask = b.node("Constant", {}, {"mask"}, "mask");
  auto *a = mask.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::BOOL);
  a->mutable_t()->add_dims(4);
  a->mutable_t()->add_dims(4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      a->mutable_t()->add_int32_data(j <= i);
  b.scalarConstant("masked", -1e4f);
  b.node("Where", {"mask", "scores", "masked"}, {"y"}, "causal");
  b.output("y");
  MLIRContext context;
  OnnxImportOptions options;
  options.batchSize = 2;
  auto result = importWithDiagnostics(context, b.bytes(), options);
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(computeOps(func), (std::vector<std::string>{"soap.mul", "soap.mul",
                                                        "soap.add"}));
  auto add = firstOp<AddOp>(func);
  EXPECT_EQ(soapName(add), "causal");
  EXPECT_EQ(shapeOf(add.getResult()), (std::vector<int64_t>{2, 4, 4}));
}

TEST(OnnxImport, ComparisonsAndLogicalOpsOnRuntimeTensors) {
  // (x > y) or not (x <= 0.5), xor (x == y); every op on runtime values.
  B b(16, "bools");
  b.input("x", {2, 3});
  b.input("y", {3});
  b.scalarConstant("half", 0.5f);
  b.node("Greater", {"x", "y"}, {"gt"}, "gt");
  b.node("LessOrEqual", {"x", "half"}, {"le"}, "le");
  b.node("Not", {"le"}, {"nle"}, "nle");
  b.node("Or", {"gt", "nle"}, {"any"}, "any");
  b.node("Equal", {"x", "y"}, {"eq"}, "eq");
  b.node("Xor", {"any", "eq"}, {"z"}, "z");
  b.node("Equal", {"z", "gt"}, {"same"}, "same"); // booleans: not(xor)
  b.output("same", onnx::TensorProto::BOOL);
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(computeOps(func),
            (std::vector<std::string>{"soap.greater", "soap.less_equal",
                                      "soap.not", "soap.or", "soap.equal",
                                      "soap.xor", "soap.xor", "soap.not"}));
  auto gt = firstOp<GreaterOp>(func);
  EXPECT_EQ(soapName(gt), "gt");
  EXPECT_EQ(shapeOf(gt.getResult()), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(gt.getResult().getType().getElementType().isInteger(1));
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  EXPECT_TRUE(cast<RankedTensorType>(ret.getOperand(0).getType())
                  .getElementType()
                  .isInteger(1));
}

TEST(OnnxImport, KnownComparisonsFoldToBooleanConstants) {
  // Less of two known INT64 tensors folds; the BOOL result is a constant.
  B b(13, "fold");
  b.intInitializer("a", {3}, {1, 5, 3});
  b.intInitializer("c", {3}, {2, 5, 1});
  b.node("Less", {"a", "c"}, {"lt"}, "lt");
  b.output("lt", onnx::TensorProto::BOOL);
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_TRUE(computeOps(func).empty());
  auto c = firstOp<ConstantOp>(func);
  ASSERT_TRUE(c);
  auto values = cast<DenseElementsAttr>(c.getValue()).getValues<bool>();
  EXPECT_EQ(std::vector<bool>(values.begin(), values.end()),
            (std::vector<bool>{true, false, false}));
}

TEST(OnnxImport, LogicalOpsRefuseNumbers) {
  B b(13, "and");
  b.input("x", {2});
  b.input("y", {2});
  b.node("And", {"x", "y"}, {"z"}, "both");
  b.output("z", onnx::TensorProto::BOOL);
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.diagnostics.find("node 'both' (And, opset 13): input 'x' "
                                    "is FLOAT; expected BOOL"),
            std::string::npos)
      << result.diagnostics;
}

TEST(OnnxImport, DropoutMaskIsTheMaskTheOutputApplies) {
  // Dropout(x, ratio 0.25) with its mask: soap.dropout_mask, and the output
  // x * cast(mask) * 4/3 computed from that same mask.
  B b(13, "dropmask");
  b.input("x", {4, 5});
  b.scalarConstant("r", 0.25f);
  auto &d = b.node("Dropout", {"x", "r"}, {"y", "mask"}, "drop");
  B::setInt(d, "seed", 5);
  b.output("y");
  b.output("mask", onnx::TensorProto::BOOL);
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  EXPECT_EQ(computeOps(func),
            (std::vector<std::string>{"soap.dropout_mask", "soap.cast",
                                      "soap.mul", "soap.mul"}));
  auto mask = firstOp<DropoutMaskOp>(func);
  EXPECT_EQ(mask.getRatio().convertToDouble(), 0.25);
  EXPECT_EQ(mask.getSeed(), 5);
  EXPECT_EQ(soapName(mask), "drop/mask");
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  EXPECT_EQ(ret.getOperand(1), mask.getResult());
  // Without the mask output: soap.dropout, as before.
  B plain(13, "drop");
  plain.input("x", {4, 5});
  plain.node("Dropout", {"x"}, {"y"}, "drop");
  plain.output("y");
  auto again = importWithDiagnostics(context, plain.bytes());
  ASSERT_TRUE(again.ok()) << again.diagnostics;
  EXPECT_EQ(computeOps(onlyFunc(*again.module)),
            (std::vector<std::string>{"soap.dropout"}));
}

//===----------------------------------------------------------------------===//
// LSTM and Gemm weights
//===----------------------------------------------------------------------===//

TEST(OnnxImport, LstmWeightsInSoapGateOrder) {
  const int64_t hidden = 2, in = 3, seq = 4, batch = 5;
  B b(14, "lstm");
  b.input("X", {seq, batch, in});
  std::vector<float> w, r, bias;
  for (int64_t i = 0; i < 4 * hidden * in; ++i)
    w.push_back(float(i));
  for (int64_t i = 0; i < 4 * hidden * hidden; ++i)
    r.push_back(float(1000 + i));
  for (int64_t i = 0; i < 8 * hidden; ++i)
    bias.push_back(float(i));
  b.initializer("W", {1, 4 * hidden, in}, w);
  b.initializer("R", {1, 4 * hidden, hidden}, r);
  b.initializer("B", {1, 8 * hidden}, bias);
  auto &lstm = b.node("LSTM", {"X", "W", "R", "B"}, {"Y", "Y_h"}, "lstm");
  B::setInt(lstm, "hidden_size", hidden);
  b.output("Y");
  b.output("Y_h");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  auto op = firstOp<LstmOp>(func);
  ASSERT_TRUE(op);
  EXPECT_EQ(shapeOf(op.getResult()), (std::vector<int64_t>{batch, seq, hidden}));
  auto wih = op.getWIh().getDefiningOp<WeightOp>();
  auto bsum = op.getBias().getDefiningOp<WeightOp>();
  ASSERT_TRUE(wih && bsum);
  EXPECT_EQ(wih.getName(), "W");
  EXPECT_EQ(shapeOf(wih.getResult()), (std::vector<int64_t>{in, 4 * hidden}));
  // soap gate g (i, f, c, o) is ONNX gate (i, o, f, c)[onnxGate[g]].
  const int64_t onnxGate[4] = {0, 2, 3, 1};
  for (int64_t g = 0; g < 4; ++g)
    for (int64_t h = 0; h < hidden; ++h) {
      for (int64_t i = 0; i < in; ++i)
        EXPECT_FLOAT_EQ(weightElement(wih, {uint64_t(i), uint64_t(g * hidden + h)}),
                        w[(onnxGate[g] * hidden + h) * in + i]);
      int64_t k = onnxGate[g] * hidden + h;
      EXPECT_FLOAT_EQ(weightElement(bsum, {uint64_t(g * hidden + h)}),
                      bias[k] + bias[4 * hidden + k]);
    }
  auto results = func.getBody().front().getTerminator()->getOperands();
  EXPECT_EQ(shapeOf(results[0]), (std::vector<int64_t>{seq, 1, batch, hidden}));
  EXPECT_EQ(shapeOf(results[1]), (std::vector<int64_t>{1, batch, hidden}));
}

TEST(OnnxImport, TiedGemmWeightStaysOneWeight) {
  // One [4, 6] initializer read by a transB Gemm and by a plain MatMul.
  B b(13, "tied");
  b.input("x", {2, 6});
  b.input("z", {2, 4});
  b.initializer("shared", {4, 6});
  auto &g = b.node("Gemm", {"x", "shared"}, {"y"}, "gemm");
  B::setInt(g, "transB", 1);
  b.node("MatMul", {"z", "shared"}, {"u"}, "matmul");
  b.output("y");
  b.output("u");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  int weights = 0;
  func.walk([&](WeightOp w) {
    ++weights;
    EXPECT_EQ(shapeOf(w.getResult()), (std::vector<int64_t>{4, 6}));
  });
  EXPECT_EQ(weights, 1);
  EXPECT_EQ(computeOps(func),
            (std::vector<std::string>{"soap.transpose", "soap.linear",
                                      "soap.linear"}));
}

//===----------------------------------------------------------------------===//
// Errors through the API
//===----------------------------------------------------------------------===//

TEST(OnnxImport, MalformedBytesAreDiagnosedNotThrown) {
  std::string good = cnnBlock();
  for (const std::string &bytes :
       {good.substr(0, good.size() / 2), std::string("\x08\x07garbage\xff\xff"),
        std::string("plain text, no protobuf")}) {
    MLIRContext context;
    ImportResult result;
    EXPECT_NO_THROW(result = importWithDiagnostics(context, bytes));
    EXPECT_FALSE(result.ok());
    EXPECT_NE(result.diagnostics.find("ONNX model"), std::string::npos)
        << result.diagnostics;
  }
}

TEST(OnnxImport, UnsupportedOpNamesNodeOpTypeOpsetAndSupportedOps) {
  B b(15, "bad");
  b.input("x", {3});
  b.node("Softplus", {"x"}, {"y"}, "smooth");
  b.output("y");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.diagnostics.find("node 'smooth' (Softplus, opset 15): op "
                                    "type 'Softplus' is not supported"),
            std::string::npos)
      << result.diagnostics;
  EXPECT_NE(result.diagnostics.find("supported op types: Add, And, AveragePool"),
            std::string::npos);
}

TEST(OnnxImport, InconsistentShapesNameTheNode) {
  B b(13, "bad");
  b.input("a", {2, 3});
  b.input("b", {2, 4});
  auto &join = b.node("Concat", {"a", "b"}, {"y"}, "join");
  B::setInt(join, "axis", 0);
  b.output("y");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.diagnostics.find("node 'join' (Concat, opset 13): "
                                    "inconsistent shapes"),
            std::string::npos)
      << result.diagnostics;
}

TEST(OnnxImport, UnsupportedElementTypesAreLimitations) {
  // A runtime UINT8 tensor: data movement is a dtype limitation, arithmetic
  // an integer-compute one; neither reaches the verifier.
  for (const char *op : {"Transpose", "Relu"}) {
    B b(13, "u8");
    b.input("x", {2, 3}, onnx::TensorProto::UINT8);
    b.node(op, {"x"}, {"y"}, "n");
    b.output("y", onnx::TensorProto::UINT8);
    MLIRContext context;
    auto result = importWithDiagnostics(context, b.bytes());
    ASSERT_FALSE(result.ok());
    std::string expected = std::string(op) == "Relu"
                               ? "[limitation: integer-compute]"
                               : "[limitation: dtype]";
    EXPECT_NE(result.diagnostics.find(expected), std::string::npos)
        << result.diagnostics;
    EXPECT_EQ(result.diagnostics.find("internal error"), std::string::npos);
  }
}

TEST(OnnxImport, ZeroSizeSplitPiecesAreEmptyConstants) {
  // Split [2, 0, 4] of a runtime [6]: soap.split makes the two non-empty
  // pieces; the empty one has no elements to compute.
  B b(13, "split0");
  b.input("x", {6});
  b.intInitializer("sizes", {3}, {2, 0, 4});
  auto &n = b.node("Split", {"x", "sizes"}, {"a", "e", "c"}, "split");
  B::setInt(n, "axis", 0);
  b.output("a");
  b.output("e");
  b.output("c");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  auto func = onlyFunc(*result.module);
  SplitOp split;
  func.walk([&](SplitOp op) { split = op; });
  ASSERT_TRUE(split);
  EXPECT_EQ(split.getSizes(), (ArrayRef<int64_t>{2, 4}));
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  EXPECT_EQ(ret.getOperand(0), split.getResult(0));
  EXPECT_EQ(ret.getOperand(2), split.getResult(1));
  auto empty = ret.getOperand(1).getDefiningOp<ConstantOp>();
  ASSERT_TRUE(empty);
  EXPECT_EQ(cast<RankedTensorType>(empty.getType()).getShape(),
            (ArrayRef<int64_t>{0}));
}

TEST(OnnxImport, OldOpsetIsConverted) {
  B b(6, "old");
  b.input("x", {2, 3});
  b.node("Relu", {"x"}, {"r"}, "relu");
  auto &sm = b.node("Softmax", {"r"}, {"y"}, "softmax");
  B::setInt(sm, "axis", 1);
  b.output("y");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_TRUE(result.ok()) << result.diagnostics;
  EXPECT_EQ(computeOps(onlyFunc(*result.module)),
            (std::vector<std::string>{"soap.relu", "soap.softmax"}));
}

TEST(OnnxImport, TooNewOpsetIsRejected) {
  B b(18, "new");
  b.input("x", {2});
  b.node("Relu", {"x"}, {"y"}, "relu");
  b.output("y");
  MLIRContext context;
  auto result = importWithDiagnostics(context, b.bytes());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.diagnostics.find("[limitation: opset]"), std::string::npos)
      << result.diagnostics;
}

TEST(OnnxImport, SupportedOpTypesAndLimitations) {
  auto ops = getSupportedOnnxOpTypes();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  for (llvm::StringRef op : {"Gemm", "MatMul", "Conv", "MaxPool", "AveragePool",
                             "GlobalAveragePool", "BatchNormalization",
                             "LayerNormalization", "Relu", "Erf", "Sigmoid",
                             "Tanh", "Add", "Sub", "Mul", "Div", "Softmax",
                             "Gather", "Reshape", "Flatten", "Transpose",
                             "Concat", "Split", "Slice", "ReduceMean",
                             "ReduceSum", "Dropout", "LSTM", "Constant",
                             "Shape", "ConstantOfShape", "Identity", "Cast",
                             "Unsqueeze", "Equal", "Less", "LessOrEqual",
                             "Greater", "GreaterOrEqual", "Not", "And", "Or",
                             "Xor"})
    EXPECT_TRUE(llvm::is_contained(ops, op)) << op.str();
  std::set<std::string> ids;
  for (const OnnxLimitation &l : getOnnxLimitations()) {
    EXPECT_TRUE(ids.insert(l.id.str()).second) << l.id.str();
    EXPECT_FALSE(l.description.empty());
  }
}

} // namespace
