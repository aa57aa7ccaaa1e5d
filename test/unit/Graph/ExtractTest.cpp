//===- ExtractTest.cpp - OpGraph extraction from soap IR ------------------===//
#include "soap/Graph/Extract.h"
#include "soap/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
class ExtractTest : public ::testing::Test {
protected:
  ExtractTest() {
    DialectRegistry registry;
    soap::registerSoapDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    ctx.getDiagEngine().registerHandler([this](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
  }
  FailureOr<soap::OpGraph> extract(StringRef ir) {
    module = parseSourceString<ModuleOp>(ir, &ctx);
    if (!module)
      return failure();
    return soap::extractOpGraph(*module);
  }
  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
  std::string diagnostics;
};

// A two-layer MLP whose second layer shares nothing, plus a tied weight read
// by two ops.
constexpr const char *kMlp = R"mlir(
func.func @mlp(%x: tensor<8x16xf32>, %labels: tensor<8xi64>) -> tensor<f32> {
  %w1 = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<16x32xf32>
  %b1 = soap.weight "fc1.bias" zeros : tensor<32xf32>
  %w2 = soap.weight "fc2.weight" normal {scale = 0.02 : f64} : tensor<32x10xf32>
  %h = soap.linear %x, %w1, %b1 {soap.name = "fc1"} : (tensor<8x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
  %r = soap.relu %h : tensor<8x32xf32>
  %y = soap.linear %r, %w2 {soap.name = "fc2"} : (tensor<8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  %l = soap.softmax_cross_entropy %y, %labels {soap.name = "loss"} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
)mlir";
} // namespace

TEST_F(ExtractTest, OpsEdgesWeightsAndNames) {
  auto graph = extract(kMlp);
  ASSERT_TRUE(succeeded(graph)) << diagnostics;
  EXPECT_EQ(graph->modelName, "mlp");
  ASSERT_EQ(graph->ops.size(), 4u);
  EXPECT_EQ(graph->ops[0].name, "fc1");
  // No soap.name: "<kind>_<ordinal among compute ops>".
  EXPECT_EQ(graph->ops[1].name, "relu_1");
  EXPECT_EQ(graph->ops[1].kind, "relu");
  EXPECT_EQ(graph->findOp("loss"), 3);
  EXPECT_EQ(graph->findOp("nope"), -1);

  // fc1 -> relu -> fc2 -> loss
  ASSERT_EQ(graph->edges.size(), 3u);
  EXPECT_EQ(graph->edges[0].src, 0);
  EXPECT_EQ(graph->edges[0].dst, 1);
  EXPECT_EQ(graph->edges[2].dst, 3);
  EXPECT_EQ(graph->edges[2].dstOperand, 0);
  EXPECT_EQ(graph->edges[1].tensor.shape, (std::vector<int64_t>{8, 32}));
  EXPECT_EQ(graph->outputs, std::vector<int>{3});

  ASSERT_EQ(graph->inputs.size(), 2u);
  EXPECT_EQ(graph->inputs[1].tensor.dtype, soap::DType::I64);
  ASSERT_EQ(graph->weights.size(), 3u);
  EXPECT_EQ(graph->weights[2].name, "fc2.weight");
  EXPECT_EQ(graph->weights[2].users, std::vector<int>{2});
  // 16*32 + 32 + 32*10
  EXPECT_EQ(graph->totalParameters(), 512 + 32 + 320);

  const soap::OpNode &fc1 = graph->ops[0];
  ASSERT_EQ(fc1.operands.size(), 3u);
  EXPECT_EQ(fc1.operands[0].source, soap::OperandSource::Input);
  EXPECT_FALSE(fc1.operands[0].isParameter);
  EXPECT_EQ(fc1.operands[1].source, soap::OperandSource::Weight);
  EXPECT_TRUE(fc1.operands[1].isParameter);
  EXPECT_TRUE(fc1.operands[2].isParameter);
  // 2*8*16*32 + 8*32 (bias)
  EXPECT_EQ(fc1.forwardFlops, 2 * 8 * 16 * 32 + 8 * 32);
  EXPECT_EQ(fc1.parameterCount, 16 * 32 + 32);
  ASSERT_NE(fc1.findDim("out"), nullptr);
  EXPECT_EQ(fc1.findDim("out")->tag, soap::DimTag::Parameter);
  EXPECT_EQ(fc1.findDim("in")->size, 16);
  EXPECT_EQ(fc1.findDim("in")->resultAxis, -1);
  EXPECT_EQ(graph->validate(), "");
}

TEST_F(ExtractTest, FingerprintIsStableAndShapeSensitive) {
  auto a = extract(kMlp);
  ASSERT_TRUE(succeeded(a));
  auto b = extract(kMlp);
  ASSERT_TRUE(succeeded(b));
  EXPECT_EQ(a->fingerprint(), b->fingerprint());
  EXPECT_EQ(a->fingerprintHex().size(), 16u);

  std::string wider(kMlp);
  for (size_t pos; (pos = wider.find("8x")) != std::string::npos;)
    wider.replace(pos, 2, "4x");
  for (size_t pos; (pos = wider.find("<8xi64>")) != std::string::npos;)
    wider.replace(pos, 7, "<4xi64>");
  auto c = extract(wider);
  ASSERT_TRUE(succeeded(c)) << diagnostics;
  EXPECT_NE(a->fingerprint(), c->fingerprint());
}

TEST_F(ExtractTest, DuplicateNamesAreRefused) {
  auto graph = extract(R"mlir(
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = soap.relu %x {soap.name = "act"} : tensor<4xf32>
  %b = soap.relu %a {soap.name = "act"} : tensor<4xf32>
  return %b : tensor<4xf32>
}
)mlir");
  EXPECT_TRUE(failed(graph));
  EXPECT_NE(diagnostics.find("has the name 'act', already used"),
            std::string::npos)
      << diagnostics;
}

TEST_F(ExtractTest, NonSoapOpsAreRefused) {
  auto graph = extract(R"mlir(
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = arith.addf %x, %x : tensor<4xf32>
  return %a : tensor<4xf32>
}
)mlir");
  EXPECT_TRUE(failed(graph));
  EXPECT_NE(diagnostics.find("is not a soap compute op"), std::string::npos)
      << diagnostics;
}

TEST_F(ExtractTest, SeveralFunctionsNeedAnEntry) {
  std::string two = std::string(kMlp) + R"mlir(
func.func @other(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = soap.relu %x : tensor<4xf32>
  return %a : tensor<4xf32>
}
)mlir";
  module = parseSourceString<ModuleOp>(two, &ctx);
  ASSERT_TRUE(module);
  EXPECT_TRUE(failed(soap::extractOpGraph(*module)));
  EXPECT_NE(diagnostics.find("several model functions"), std::string::npos);
  auto other = soap::extractOpGraph(*module, "other");
  ASSERT_TRUE(succeeded(other));
  EXPECT_EQ(other->ops.size(), 1u);
}

#include "soap/Graph/Dot.h"

TEST_F(ExtractTest, DotColoursOpsByStyle) {
  auto graph = extract(kMlp);
  ASSERT_TRUE(succeeded(graph));
  std::vector<soap::DotOpStyle> styles = {
      {"batch=4", "A"}, {"batch=4", "A"}, {"out=2", "B"}, {"", "A"}};
  std::string dot = soap::toDot(*graph, styles);
  EXPECT_NE(dot.find("digraph \"mlp\""), std::string::npos);
  EXPECT_NE(dot.find("op0 [label=\"fc1\\nlinear 8x32xf32\\nbatch=4\", "
                     "fillcolor=\"#8dd3c7\"]"),
            std::string::npos)
      << dot;
  // Same key, same colour; another key, another colour.
  EXPECT_NE(dot.find("op3 [label=\"loss\\nsoftmax_cross_entropy f32\", "
                     "fillcolor=\"#8dd3c7\"]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("fillcolor=\"#ffffb3\""), std::string::npos);
  EXPECT_NE(dot.find("op2 -> op3 [label=\"8x10xf32\"]"), std::string::npos);
}
