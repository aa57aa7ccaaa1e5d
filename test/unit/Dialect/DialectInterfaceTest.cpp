//===- DialectInterfaceTest.cpp - SOAP op interface, checked by hand ------===//
//
// For every compute op: its parallelizable dimensions (name, tag, size, result
// axis), forward and backward FLOPs, parameter count and bytes, against
// numbers computed by hand in the comments. The conventions are those of
// docs/dialect.md: a multiply-add is 2 FLOPs; per-element constants for the
// pointwise, normalization and softmax math.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <ostream>
#include <set>
#include <string>

using namespace mlir;
using soap::DimTag;
using soap::ParallelDim;
using soap::ParallelizableOpInterface;

namespace soap {
/// Lets GoogleTest print dimensions when a comparison fails.
void PrintTo(const ParallelDim &d, std::ostream *os) {
  *os << "{" << d.name << ", " << toString(d.tag) << ", " << d.size << ", "
      << d.resultAxis << "}";
}
} // namespace soap

namespace {

using Dims = std::vector<ParallelDim>;

constexpr DimTag S = DimTag::Sample, A = DimTag::Attribute,
                 P = DimTag::Parameter, R = DimTag::Reduction;

class DialectInterfaceTest : public ::testing::Test {
protected:
  DialectInterfaceTest() {
    DialectRegistry registry;
    soap::registerSoapDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// Parses (and verifies) `ir` and returns its first op named `opName`, or
  /// null after reporting a test failure with the parser's diagnostics.
  ParallelizableOpInterface parse(StringRef ir, StringRef opName) {
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    module = parseSourceString<ModuleOp>(ir, &ctx);
    if (!module) {
      ADD_FAILURE() << "cannot parse:\n" << ir.str() << "\n" << diagnostics;
      return {};
    }
    Operation *found = nullptr;
    module->walk([&](Operation *op) {
      if (!found && op->getName().getStringRef() == opName)
        found = op;
    });
    if (!found) {
      ADD_FAILURE() << "no " << opName.str() << " in:\n" << ir.str();
      return {};
    }
    auto iface = dyn_cast<ParallelizableOpInterface>(found);
    if (!iface)
      ADD_FAILURE() << opName.str() << " lacks ParallelizableOpInterface";
    return iface;
  }

  static Dims dims(ParallelizableOpInterface op) {
    auto d = op.getParallelDims();
    return Dims(d.begin(), d.end());
  }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
};

//===----------------------------------------------------------------------===//
// Dense layers
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, LinearWithBias) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<32x784xf32>, %w: tensor<784x256xf32>, %b: tensor<256xf32>) {
      %0 = soap.linear %x, %w, %b : (tensor<32x784xf32>, tensor<784x256xf32>, tensor<256xf32>) -> tensor<32x256xf32>
      return
    })mlir", "soap.linear");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 32, 0},
                           {"out", P, 256, 1},
                           {"in", R, 784, -1}}));
  // 2·32·784·256 + 32·256 (bias) = 12845056 + 8192
  EXPECT_EQ(op.getForwardFlops(), 12853248);
  // dX = dY·Wᵀ and dW = Xᵀ·dY: 4·32·784·256, plus the bias column sums 32·256
  EXPECT_EQ(op.getBackwardFlops(), 25698304);
  // 784·256 + 256
  EXPECT_EQ(op.getParameterCount(), 200960);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{1, 2}));
  // (32·784 + 784·256 + 256) · 4 bytes = 226048 · 4
  EXPECT_EQ(op.getBytesRead(), 904192);
  // 32·256 · 4
  EXPECT_EQ(op.getBytesWritten(), 32768);
}

TEST_F(DialectInterfaceTest, LinearLeadingDimsNoBias) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x16x784xf32>, %w: tensor<784x256xf32>) {
      %0 = soap.linear %x, %w : (tensor<8x16x784xf32>, tensor<784x256xf32>) -> tensor<8x16x256xf32>
      return
    })mlir", "soap.linear");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"d1", A, 16, 1},
                           {"out", P, 256, 2},
                           {"in", R, 784, -1}}));
  // m = 8·16 = 128 rows: 2·128·784·256
  EXPECT_EQ(op.getForwardFlops(), 51380224);
  // 4·128·784·256
  EXPECT_EQ(op.getBackwardFlops(), 102760448);
  // 784·256, no bias
  EXPECT_EQ(op.getParameterCount(), 200704);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{1}));
}

TEST_F(DialectInterfaceTest, LinearEmptyRowsHasNoFlops) {
  // A zero-sized batch is legal; its costs are zero (and nothing divides by
  // a zero size).
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<0x4xf32>, %w: tensor<4x0xf32>) {
      %0 = soap.linear %x, %w : (tensor<0x4xf32>, tensor<4x0xf32>) -> tensor<0x0xf32>
      return
    })mlir", "soap.linear");
  ASSERT_TRUE(op);
  EXPECT_EQ(op.getForwardFlops(), 0);
  EXPECT_EQ(op.getBackwardFlops(), 0);
}

TEST_F(DialectInterfaceTest, BatchedMatmul) {
  auto op = parse(R"mlir(
    func.func @f(%q: tensor<8x12x128x64xf32>, %k: tensor<8x12x64x128xf32>) {
      %0 = soap.matmul %q, %k : (tensor<8x12x128x64xf32>, tensor<8x12x64x128xf32>) -> tensor<8x12x128x128xf32>
      return
    })mlir", "soap.matmul");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"d1", A, 12, 1},
                           {"m", A, 128, 2},
                           {"n", A, 128, 3},
                           {"k", R, 64, -1}}));
  // 2·(8·12·128·128)·64 = 2·1572864·64
  EXPECT_EQ(op.getForwardFlops(), 201326592);
  // Two products of the same size for the two operand gradients.
  EXPECT_EQ(op.getBackwardFlops(), 402653184);
  EXPECT_EQ(op.getParameterCount(), 0);
  // Each operand is 8·12·128·64 = 786432 floats: 2·786432·4
  EXPECT_EQ(op.getBytesRead(), 6291456);
  // 8·12·128·128 · 4
  EXPECT_EQ(op.getBytesWritten(), 6291456);
}

TEST_F(DialectInterfaceTest, Matmul2dHalf) {
  auto op = parse(R"mlir(
    func.func @f(%a: tensor<16x32xf16>, %b: tensor<32x8xf16>) {
      %0 = soap.matmul %a, %b : (tensor<16x32xf16>, tensor<32x8xf16>) -> tensor<16x8xf16>
      return
    })mlir", "soap.matmul");
  ASSERT_TRUE(op);
  // No batch axis: rank 2.
  EXPECT_EQ(dims(op), (Dims{{"m", A, 16, 0}, {"n", A, 8, 1}, {"k", R, 32, -1}}));
  // 2·16·8·32
  EXPECT_EQ(op.getForwardFlops(), 8192);
  // (16·32 + 32·8) · 2 bytes (f16)
  EXPECT_EQ(op.getBytesRead(), 1536);
  // 16·8 · 2
  EXPECT_EQ(op.getBytesWritten(), 256);
}

//===----------------------------------------------------------------------===//
// Convolutional layers
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, Conv2dStridedPaddedWithBias) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x3x224x224xf32>, %w: tensor<64x3x7x7xf32>, %b: tensor<64xf32>) {
      %0 = soap.conv2d %x, %w, %b {strides = array<i64: 2, 2>, padding = array<i64: 3, 3, 3, 3>}
          : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<8x64x112x112xf32>
      return
    })mlir", "soap.conv2d");
  ASSERT_TRUE(op);
  // OH = (224 + 3 + 3 - 7) / 2 + 1 = 112
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"cout", P, 64, 1},
                           {"h", A, 112, 2},
                           {"w", A, 112, 3},
                           {"cin", R, 3, -1}}));
  // outputs 8·64·112·112 = 6422528, each 3·7·7 = 147 MACs:
  // 2·6422528·147 + 6422528 (bias) = 1888223232 + 6422528
  EXPECT_EQ(op.getForwardFlops(), 1894645760);
  // data and filter gradients 4·6422528·147 = 3776446464, + 6422528 (bias)
  EXPECT_EQ(op.getBackwardFlops(), 3782868992);
  // 64·3·7·7 + 64
  EXPECT_EQ(op.getParameterCount(), 9472);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{1, 2}));
  // (8·3·224·224 + 9408 + 64) · 4 = (1204224 + 9472) · 4
  EXPECT_EQ(op.getBytesRead(), 4854784);
  // 6422528 · 4
  EXPECT_EQ(op.getBytesWritten(), 25690112);
}

TEST_F(DialectInterfaceTest, Conv2dGroupedDilated) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<2x32x16x16xf32>, %w: tensor<64x8x3x3xf32>) {
      %0 = soap.conv2d %x, %w {dilations = array<i64: 2, 2>, groups = 4 : i64}
          : (tensor<2x32x16x16xf32>, tensor<64x8x3x3xf32>) -> tensor<2x64x12x12xf32>
      return
    })mlir", "soap.conv2d");
  ASSERT_TRUE(op);
  // groups > 1: no `cin` reduction dimension. OH = 16 - 2·(3 - 1) = 12
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 2, 0},
                           {"cout", P, 64, 1},
                           {"h", A, 12, 2},
                           {"w", A, 12, 3}}));
  // outputs 2·64·12·12 = 18432, each (32/4)·3·3 = 72 MACs: 2·18432·72
  EXPECT_EQ(op.getForwardFlops(), 2654208);
  EXPECT_EQ(op.getBackwardFlops(), 2 * 2654208);
  // 64·8·3·3
  EXPECT_EQ(op.getParameterCount(), 4608);
}

TEST_F(DialectInterfaceTest, MaxPool) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x64x112x112xf32>) {
      %0 = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
          : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
      return
    })mlir", "soap.pool2d");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"c", A, 64, 1},
                           {"h", A, 56, 2},
                           {"w", A, 56, 3}}));
  // outputs 8·64·56·56 = 1605632, a 3·3 window each
  EXPECT_EQ(op.getForwardFlops(), 14450688);
  // the gradient goes to the argmax: one add per output
  EXPECT_EQ(op.getBackwardFlops(), 1605632);
  EXPECT_EQ(op.getParameterCount(), 0);
  // 8·64·112·112 · 4
  EXPECT_EQ(op.getBytesRead(), 25690112);
  // 1605632 · 4
  EXPECT_EQ(op.getBytesWritten(), 6422528);
}

TEST_F(DialectInterfaceTest, AvgPool) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x64x112x112xf32>) {
      %0 = soap.pool2d avg %x {kernel = array<i64: 2, 2>} : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
      return
    })mlir", "soap.pool2d");
  ASSERT_TRUE(op);
  // 1605632 outputs · 2·2 window
  EXPECT_EQ(op.getForwardFlops(), 6422528);
  // the gradient is spread over the window: as many FLOPs as forward
  EXPECT_EQ(op.getBackwardFlops(), 6422528);
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, BatchNorm4d) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x64x56x56xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) {
      %0 = soap.batch_norm %x, %g, %b : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
      return
    })mlir", "soap.batch_norm");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"c", P, 64, 1},
                           {"h", A, 56, 2},
                           {"w", A, 56, 3}}));
  // 8·64·56·56 = 1605632 elements, 8 FLOPs each forward, 12 backward
  EXPECT_EQ(op.getForwardFlops(), 12845056);
  EXPECT_EQ(op.getBackwardFlops(), 19267584);
  // scale and bias: 2·64
  EXPECT_EQ(op.getParameterCount(), 128);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{1, 2}));
  // (1605632 + 128) · 4
  EXPECT_EQ(op.getBytesRead(), 6423040);
}

TEST_F(DialectInterfaceTest, BatchNormOtherRanks) {
  auto op2 = parse(R"mlir(
    func.func @f(%x: tensor<8x64xf32>, %g: tensor<64xf32>) {
      %0 = soap.batch_norm %x, %g, %g : (tensor<8x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
      return
    })mlir", "soap.batch_norm");
  ASSERT_TRUE(op2);
  EXPECT_EQ(dims(op2), (Dims{{"batch", S, 8, 0}, {"c", P, 64, 1}}));
  // 8·64 elements · 8
  EXPECT_EQ(op2.getForwardFlops(), 4096);

  auto op3 = parse(R"mlir(
    func.func @f(%x: tensor<8x64x10xf32>, %g: tensor<64xf32>) {
      %0 = soap.batch_norm %x, %g, %g : (tensor<8x64x10xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x10xf32>
      return
    })mlir", "soap.batch_norm");
  ASSERT_TRUE(op3);
  // Not 4-D: the other axes are d<i>, not h and w.
  EXPECT_EQ(dims(op3), (Dims{{"batch", S, 8, 0}, {"c", P, 64, 1},
                            {"d2", A, 10, 2}}));
}

TEST_F(DialectInterfaceTest, LayerNormLastAxis) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>, %g: tensor<768xf32>, %b: tensor<768xf32>) {
      %0 = soap.layer_norm %x, %g, %b : (tensor<8x128x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<8x128x768xf32>
      return
    })mlir", "soap.layer_norm");
  ASSERT_TRUE(op);
  // The normalized axis cannot be split.
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}, {"d1", A, 128, 1}}));
  // 8·128·768 = 786432 elements: 8 each forward, 12 backward
  EXPECT_EQ(op.getForwardFlops(), 6291456);
  EXPECT_EQ(op.getBackwardFlops(), 9437184);
  // 2·768
  EXPECT_EQ(op.getParameterCount(), 1536);
}

TEST_F(DialectInterfaceTest, LayerNormTwoAxesNoBias) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>, %g: tensor<128x768xf32>) {
      %0 = soap.layer_norm %x, %g {axis = 1 : i64} : (tensor<8x128x768xf32>, tensor<128x768xf32>) -> tensor<8x128x768xf32>
      return
    })mlir", "soap.layer_norm");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  // 128·768
  EXPECT_EQ(op.getParameterCount(), 98304);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{1}));
}

//===----------------------------------------------------------------------===//
// Embeddings, attention, recurrence
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, Embedding) {
  auto op = parse(R"mlir(
    func.func @f(%ids: tensor<8x128xi64>, %t: tensor<30522x768xf32>) {
      %0 = soap.embedding %ids, %t : (tensor<8x128xi64>, tensor<30522x768xf32>) -> tensor<8x128x768xf32>
      return
    })mlir", "soap.embedding");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"d1", A, 128, 1},
                           {"dim", P, 768, 2},
                           {"vocab", R, 30522, -1}}));
  // a gather computes nothing
  EXPECT_EQ(op.getForwardFlops(), 0);
  // the gradient is a scatter-add: one add per output element 8·128·768
  EXPECT_EQ(op.getBackwardFlops(), 786432);
  // 30522·768
  EXPECT_EQ(op.getParameterCount(), 23440896);
  // the indices 8·128·8 bytes and the selected rows 786432·4, not the table
  EXPECT_EQ(op.getBytesRead(), 8192 + 3145728);
  EXPECT_EQ(op.getBytesWritten(), 3145728);
}

TEST_F(DialectInterfaceTest, SelfAttention) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>, %w: tensor<768x768xf32>) {
      %0 = soap.attention %x, %x, %x, %w, %w, %w, %w {num_heads = 12 : i64}
          : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
             tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
             tensor<768x768xf32>) -> tensor<8x128x768xf32>
      return
    })mlir", "soap.attention");
  ASSERT_TRUE(op);
  // Heads split the result into partial sums (row-parallel wo): no axis.
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"seq", A, 128, 1},
                           {"heads", P, 12, -1}}));
  // B = 8, S = T = 128, E = 768, 12 heads.
  // projections q, k, v, o: 4·(8·128·768·768) = 4·603979776 = 2415919104 MACs
  // scores Q·Kᵀ and P·V: 2·(8·128·128·768) = 201326592 MACs
  // softmax over 8·12·128·128 = 1572864 scores, 6 FLOPs each (with scaling)
  // 2·(2415919104 + 201326592) + 6·1572864 = 5234491392 + 9437184
  EXPECT_EQ(op.getForwardFlops(), 5243928576);
  // 4·2617245696 + 5·1572864 = 10468982784 + 7864320
  EXPECT_EQ(op.getBackwardFlops(), 10476847104);
  // 4·768·768
  EXPECT_EQ(op.getParameterCount(), 2359296);
  EXPECT_EQ(op.getParameterOperandIndices(),
            (SmallVector<unsigned>{3, 4, 5, 6}));
}

TEST_F(DialectInterfaceTest, AttentionWithBiases) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>, %w: tensor<768x768xf32>, %b: tensor<768xf32>) {
      %0 = soap.attention %x, %x, %x, %w, %w, %w, %w, %b, %b, %b, %b {num_heads = 12 : i64, causal}
          : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
             tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
             tensor<768x768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32>,
             tensor<768xf32>) -> tensor<8x128x768xf32>
      return
    })mlir", "soap.attention");
  ASSERT_TRUE(op);
  // bias adds: q and o over S, k and v over T: 8·(2·128 + 2·128)·768 = 3145728
  EXPECT_EQ(op.getForwardFlops(), 5243928576 + 3145728);
  EXPECT_EQ(op.getBackwardFlops(), 10476847104 + 3145728);
  // 4·768·768 + 4·768
  EXPECT_EQ(op.getParameterCount(), 2362368);
  EXPECT_EQ(op.getParameterOperandIndices(),
            (SmallVector<unsigned>{3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST_F(DialectInterfaceTest, CrossAttention) {
  auto op = parse(R"mlir(
    func.func @f(%q: tensor<2x4x8xf32>, %kv: tensor<2x6x5xf32>, %w: tensor<8x8xf32>, %wkv: tensor<5x8xf32>) {
      %0 = soap.attention %q, %kv, %kv, %w, %wkv, %wkv, %w {num_heads = 2 : i64}
          : (tensor<2x4x8xf32>, tensor<2x6x5xf32>, tensor<2x6x5xf32>, tensor<8x8xf32>,
             tensor<5x8xf32>, tensor<5x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
      return
    })mlir", "soap.attention");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 2, 0},
                           {"seq", A, 4, 1},
                           {"heads", P, 2, -1}}));
  // B = 2, S = 4, T = 6, E = 8, Ek = Ev = 5, 2 heads.
  // projections: q 2·4·8·8 = 512, k 2·6·5·8 = 480, v 480, o 512 -> 1984 MACs
  // scores: 2·(2·4·6·8) = 768 MACs; softmax: 2·2·4·6 = 96 scores
  // 2·(1984 + 768) + 6·96 = 5504 + 576
  EXPECT_EQ(op.getForwardFlops(), 6080);
  // 4·2752 + 5·96
  EXPECT_EQ(op.getBackwardFlops(), 11488);
  // 8·8 + 5·8 + 5·8 + 8·8
  EXPECT_EQ(op.getParameterCount(), 208);
}

TEST_F(DialectInterfaceTest, Lstm) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<64x40x256xf32>, %wih: tensor<256x512xf32>, %whh: tensor<128x512xf32>, %b: tensor<512xf32>) {
      %0 = soap.lstm %x, %wih, %whh, %b : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>, tensor<512xf32>) -> tensor<64x40x128xf32>
      return
    })mlir", "soap.lstm");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 64, 0}, {"hidden", P, 128, 2}}));
  // B = 64, T = 40, I = 256, H = 128. Per step:
  //   gates 2·64·(256 + 128)·(4·128) = 25165824
  //   bias  4·64·128                 = 32768
  //   cell  24·64·128                = 196608  (3 sigmoids, 2 tanh, 4 more)
  // 40 steps · 25395200
  EXPECT_EQ(op.getForwardFlops(), 1015808000);
  EXPECT_EQ(op.getBackwardFlops(), 2 * 1015808000LL);
  // 256·512 + 128·512 + 512
  EXPECT_EQ(op.getParameterCount(), 197120);
  EXPECT_EQ(op.getParameterOperandIndices(),
            (SmallVector<unsigned>{1, 2, 3}));
}

TEST_F(DialectInterfaceTest, LstmNoBias) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<64x40x256xf32>, %wih: tensor<256x512xf32>, %whh: tensor<128x512xf32>) {
      %0 = soap.lstm %x, %wih, %whh : (tensor<64x40x256xf32>, tensor<256x512xf32>, tensor<128x512xf32>) -> tensor<64x40x128xf32>
      return
    })mlir", "soap.lstm");
  ASSERT_TRUE(op);
  // 40·(25165824 + 196608)
  EXPECT_EQ(op.getForwardFlops(), 1014497280);
  // 256·512 + 128·512
  EXPECT_EQ(op.getParameterCount(), 196608);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

struct UnaryCase {
  const char *name;
  int64_t flopsPerElement;
};

TEST_F(DialectInterfaceTest, UnaryOps) {
  // Forward FLOPs per element; backward is one more (the product with the
  // upstream gradient).
  const UnaryCase cases[] = {{"relu", 1}, {"gelu", 8}, {"sigmoid", 4},
                             {"tanh", 4}, {"exp", 1},  {"log", 1},
                             {"neg", 1},  {"sqrt", 1}, {"erf", 4}};
  for (const UnaryCase &c : cases) {
    SCOPED_TRACE(c.name);
    std::string ir = std::string(R"mlir(
      func.func @f(%x: tensor<8x256xf32>) {
        %0 = soap.)mlir") + c.name + R"mlir( %x : tensor<8x256xf32>
        return
      })mlir";
    auto op = parse(ir, std::string("soap.") + c.name);
    ASSERT_TRUE(op);
    EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}, {"d1", A, 256, 1}}));
    // 8·256 = 2048 elements
    EXPECT_EQ(op.getForwardFlops(), c.flopsPerElement * 2048);
    EXPECT_EQ(op.getBackwardFlops(), (c.flopsPerElement + 1) * 2048);
    EXPECT_EQ(op.getParameterCount(), 0);
    EXPECT_EQ(op.getBytesRead(), 2048 * 4);
    EXPECT_EQ(op.getBytesWritten(), 2048 * 4);
  }
}

TEST_F(DialectInterfaceTest, UnaryRank0HasNoDims) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<f64>) {
      %0 = soap.exp %x : tensor<f64>
      return
    })mlir", "soap.exp");
  ASSERT_TRUE(op);
  EXPECT_TRUE(dims(op).empty());
  EXPECT_EQ(op.getForwardFlops(), 1);
  EXPECT_EQ(op.getBytesRead(), 8);
}

struct BinaryCase {
  const char *name;
  int64_t forwardPerElement, backwardPerElement;
};

TEST_F(DialectInterfaceTest, BinaryOpsBroadcast) {
  // One FLOP per result element forward (pow: exp(b log a), 3). Backward:
  // add and sub pass the gradient (1, with the sum over the broadcast axis),
  // mul needs a product per operand (2), div a quotient and three more for
  // the divisor (4), pow b a^(b-1) dy and a^b log(a) dy (6).
  const BinaryCase cases[] = {
      {"add", 1, 1}, {"sub", 1, 1}, {"mul", 1, 2}, {"div", 1, 4}, {"pow", 3, 6}};
  for (const BinaryCase &c : cases) {
    SCOPED_TRACE(c.name);
    std::string ir = std::string(R"mlir(
      func.func @f(%a: tensor<8x256xf32>, %b: tensor<256xf32>) {
        %0 = soap.)mlir") + c.name + R"mlir( %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xf32>
        return
      })mlir";
    auto op = parse(ir, std::string("soap.") + c.name);
    ASSERT_TRUE(op);
    EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}, {"d1", A, 256, 1}}));
    EXPECT_EQ(op.getForwardFlops(), c.forwardPerElement * 2048);
    EXPECT_EQ(op.getBackwardFlops(), c.backwardPerElement * 2048);
    // (8·256 + 256) · 4
    EXPECT_EQ(op.getBytesRead(), 9216);
    EXPECT_EQ(op.getBytesWritten(), 8192);
  }
}

TEST_F(DialectInterfaceTest, Cast) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.cast %x : tensor<8x256xf32> to tensor<8x256xf16>
      return
    })mlir", "soap.cast");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}, {"d1", A, 256, 1}}));
  // one conversion per element, and one back for the gradient
  EXPECT_EQ(op.getForwardFlops(), 2048);
  EXPECT_EQ(op.getBackwardFlops(), 2048);
  // 2048 · 4 read, 2048 · 2 written
  EXPECT_EQ(op.getBytesRead(), 8192);
  EXPECT_EQ(op.getBytesWritten(), 4096);

  auto toInt = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.cast %x : tensor<8x256xf32> to tensor<8x256xi64>
      return
    })mlir", "soap.cast");
  ASSERT_TRUE(toInt);
  // no gradient crosses an integer type
  EXPECT_EQ(toInt.getBackwardFlops(), 0);
  EXPECT_EQ(toInt.getBytesWritten(), 16384);
}

TEST_F(DialectInterfaceTest, SoftmaxAxes) {
  auto last = parse(R"mlir(
    func.func @f(%x: tensor<8x12x128x128xf32>) {
      %0 = soap.softmax %x : tensor<8x12x128x128xf32>
      return
    })mlir", "soap.softmax");
  ASSERT_TRUE(last);
  // every axis but the softmax axis (the last)
  EXPECT_EQ(dims(last), (Dims{{"batch", S, 8, 0},
                             {"d1", A, 12, 1},
                             {"d2", A, 128, 2}}));
  // 8·12·128·128 = 1572864 elements: max, sub, exp, sum, div = 5 each
  EXPECT_EQ(last.getForwardFlops(), 7864320);
  // 4 each backward
  EXPECT_EQ(last.getBackwardFlops(), 6291456);

  auto axis1 = parse(R"mlir(
    func.func @f(%x: tensor<8x12x128x128xf32>) {
      %0 = soap.softmax %x {axis = 1 : i64} : tensor<8x12x128x128xf32>
      return
    })mlir", "soap.softmax");
  ASSERT_TRUE(axis1);
  EXPECT_EQ(dims(axis1), (Dims{{"batch", S, 8, 0},
                              {"d2", A, 128, 2},
                              {"d3", A, 128, 3}}));
}

TEST_F(DialectInterfaceTest, Dropout) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>) {
      %0 = soap.dropout %x {ratio = 0.1 : f64} : tensor<8x128x768xf32>
      return
    })mlir", "soap.dropout");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"d1", A, 128, 1},
                           {"d2", A, 768, 2}}));
  // mask and scaled product: 2 per element of 786432; backward applies the mask
  EXPECT_EQ(op.getForwardFlops(), 1572864);
  EXPECT_EQ(op.getBackwardFlops(), 786432);
}

TEST_F(DialectInterfaceTest, ComparisonsAndLogicalOps) {
  // One operation per result element; booleans carry no gradient. The
  // comparisons read f32 [8, 256] and [256], the logical ops booleans
  // [8, 256] and [8, 1] (one byte each); every result is 2048 booleans.
  struct Case {
    const char *name, *lhs, *rhs;
    int64_t bytesRead;
  };
  const Case cases[] = {
      {"equal", "8x256xf32", "256xf32", (2048 + 256) * 4},
      {"less", "8x256xf32", "256xf32", (2048 + 256) * 4},
      {"less_equal", "8x256xf32", "256xf32", (2048 + 256) * 4},
      {"greater", "8x256xf32", "256xf32", (2048 + 256) * 4},
      {"greater_equal", "8x256xf32", "256xf32", (2048 + 256) * 4},
      {"and", "8x256xi1", "8x1xi1", 2048 + 8},
      {"or", "8x256xi1", "8x1xi1", 2048 + 8},
      {"xor", "8x256xi1", "8x1xi1", 2048 + 8}};
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    std::string types = std::string("(tensor<") + c.lhs + ">, tensor<" +
                        c.rhs + ">) -> tensor<8x256xi1>";
    std::string ir = std::string("func.func @f(%a: tensor<") + c.lhs +
                     ">, %b: tensor<" + c.rhs + ">) {\n  %0 = soap." + c.name +
                     " %a, %b : " + types + "\n  return\n}";
    auto op = parse(ir, std::string("soap.") + c.name);
    ASSERT_TRUE(op);
    EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}, {"d1", A, 256, 1}}));
    EXPECT_EQ(op.getForwardFlops(), 2048);
    EXPECT_EQ(op.getBackwardFlops(), 0);
    EXPECT_EQ(op.getBytesRead(), c.bytesRead);
    EXPECT_EQ(op.getBytesWritten(), 2048);
  }
  auto notOp = parse(R"mlir(
    func.func @f(%a: tensor<8x256xi1>) {
      %0 = soap.not %a : tensor<8x256xi1>
      return
    })mlir", "soap.not");
  ASSERT_TRUE(notOp);
  EXPECT_EQ(dims(notOp), (Dims{{"batch", S, 8, 0}, {"d1", A, 256, 1}}));
  EXPECT_EQ(notOp.getForwardFlops(), 2048);
  EXPECT_EQ(notOp.getBackwardFlops(), 0);
  EXPECT_EQ(notOp.getBytesRead(), 2048);
}

TEST_F(DialectInterfaceTest, DropoutMask) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>) {
      %0 = soap.dropout_mask %x {ratio = 0.1 : f64} : tensor<8x128x768xf32> -> tensor<8x128x768xi1>
      return
    })mlir", "soap.dropout_mask");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0},
                           {"d1", A, 128, 1},
                           {"d2", A, 768, 2}}));
  // one draw per element of 786432; the input's values are not read; one
  // byte per boolean written; no gradient
  EXPECT_EQ(op.getForwardFlops(), 786432);
  EXPECT_EQ(op.getBackwardFlops(), 0);
  EXPECT_EQ(op.getBytesRead(), 0);
  EXPECT_EQ(op.getBytesWritten(), 786432);
}

//===----------------------------------------------------------------------===//
// Shape manipulation: no FLOPs; views move no bytes
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, Reshape) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x768xf32>) {
      %0 = soap.reshape %x : tensor<8x128x768xf32> -> tensor<8x128x12x64xf32>
      return
    })mlir", "soap.reshape");
  ASSERT_TRUE(op);
  // axis 0 kept whole
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  EXPECT_EQ(op.getBackwardFlops(), 0);
  EXPECT_EQ(op.getBytesRead(), 0);
  EXPECT_EQ(op.getBytesWritten(), 0);

  auto merged = parse(R"mlir(
    func.func @f(%x: tensor<4x4xi64>) {
      %0 = soap.reshape %x : tensor<4x4xi64> -> tensor<16xi64>
      return
    })mlir", "soap.reshape");
  ASSERT_TRUE(merged);
  EXPECT_TRUE(dims(merged).empty());
}

TEST_F(DialectInterfaceTest, Flatten) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x256x6x6xf32>) {
      %0 = soap.flatten %x : (tensor<8x256x6x6xf32>) -> tensor<8x9216xf32>
      return
    })mlir", "soap.flatten");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  EXPECT_EQ(op.getBytesRead(), 0);
  EXPECT_EQ(op.getBytesWritten(), 0);

  auto all = parse(R"mlir(
    func.func @f(%x: tensor<8x256x6x6xf32>) {
      %0 = soap.flatten %x {axis = 0 : i64} : (tensor<8x256x6x6xf32>) -> tensor<1x73728xf32>
      return
    })mlir", "soap.flatten");
  ASSERT_TRUE(all);
  EXPECT_TRUE(dims(all).empty());

  // axis 2 merges the batch with the next axis: the result's axis 0 is not
  // the input's, so a split of it is no box of the input (ONNX's
  // test_flatten_axis2 on 4 ranks read the wrong rows). No batch dim.
  auto merged = parse(R"mlir(
    func.func @f(%x: tensor<2x3x4x5xf32>) {
      %0 = soap.flatten %x {axis = 2 : i64} : (tensor<2x3x4x5xf32>) -> tensor<6x20xf32>
      return
    })mlir", "soap.flatten");
  ASSERT_TRUE(merged);
  EXPECT_TRUE(dims(merged).empty());
  // ... unless the merged axes after the first are 1.
  auto ones = parse(R"mlir(
    func.func @f(%x: tensor<2x1x4x5xf32>) {
      %0 = soap.flatten %x {axis = 2 : i64} : (tensor<2x1x4x5xf32>) -> tensor<2x20xf32>
      return
    })mlir", "soap.flatten");
  ASSERT_TRUE(ones);
  EXPECT_EQ(dims(ones), (Dims{{"batch", S, 2, 0}}));
}

TEST_F(DialectInterfaceTest, Transpose) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x12x64xf32>) {
      %0 = soap.transpose %x {permutation = array<i64: 0, 2, 1, 3>} : (tensor<8x128x12x64xf32>) -> tensor<8x12x128x64xf32>
      return
    })mlir", "soap.transpose");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  EXPECT_EQ(op.getBackwardFlops(), 0);
  // a copy: 8·128·12·64 · 4 bytes in and out
  EXPECT_EQ(op.getBytesRead(), 3145728);
  EXPECT_EQ(op.getBytesWritten(), 3145728);

  auto moved = parse(R"mlir(
    func.func @f(%x: tensor<8x4xf32>) {
      %0 = soap.transpose %x {permutation = array<i64: 1, 0>} : (tensor<8x4xf32>) -> tensor<4x8xf32>
      return
    })mlir", "soap.transpose");
  ASSERT_TRUE(moved);
  EXPECT_TRUE(dims(moved).empty());
}

TEST_F(DialectInterfaceTest, Concat) {
  auto op = parse(R"mlir(
    func.func @f(%a: tensor<8x64x28x28xf32>, %b: tensor<8x32x28x28xf32>) {
      %0 = soap.concat %a, %b {axis = 1 : i64} : (tensor<8x64x28x28xf32>, tensor<8x32x28x28xf32>) -> tensor<8x96x28x28xf32>
      return
    })mlir", "soap.concat");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  // (8·64·28·28 + 8·32·28·28) · 4 = (401408 + 200704) · 4
  EXPECT_EQ(op.getBytesRead(), 2408448);
  // 8·96·28·28 · 4
  EXPECT_EQ(op.getBytesWritten(), 2408448);

  auto batch = parse(R"mlir(
    func.func @f(%a: tensor<8x4xf32>) {
      %0 = soap.concat %a, %a {axis = -2 : i64} : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<16x4xf32>
      return
    })mlir", "soap.concat");
  ASSERT_TRUE(batch);
  // concatenating along the batch: no sample dimension
  EXPECT_TRUE(dims(batch).empty());
}

TEST_F(DialectInterfaceTest, Split) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x128x2304xf32>) {
      %0:3 = soap.split %x {axis = 2 : i64, sizes = array<i64: 768, 768, 768>}
          : (tensor<8x128x2304xf32>) -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>)
      return
    })mlir", "soap.split");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  // 8·128·2304 · 4 in, the same out over three results
  EXPECT_EQ(op.getBytesRead(), 9437184);
  EXPECT_EQ(op.getBytesWritten(), 9437184);
}

TEST_F(DialectInterfaceTest, Slice) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 8, 128>} : (tensor<8x256xf32>) -> tensor<8x128xf32>
      return
    })mlir", "soap.slice");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
  EXPECT_EQ(op.getForwardFlops(), 0);
  EXPECT_EQ(op.getBytesRead(), 8192);
  EXPECT_EQ(op.getBytesWritten(), 4096);

  auto rows = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 4, 256>} : (tensor<8x256xf32>) -> tensor<4x256xf32>
      return
    })mlir", "soap.slice");
  ASSERT_TRUE(rows);
  // axis 0 is cut: no sample dimension
  EXPECT_TRUE(dims(rows).empty());

  // Axis 0 reversed is whole, but a shard's rows come from another shard:
  // no sample dimension either; a reversed inner axis keeps it.
  auto reversed = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.slice %x {starts = array<i64: 7, 0>, ends = array<i64: -1, 256>, steps = array<i64: -1, 1>} : (tensor<8x256xf32>) -> tensor<8x256xf32>
      return
    })mlir", "soap.slice");
  ASSERT_TRUE(reversed);
  EXPECT_TRUE(dims(reversed).empty());
  auto inner = parse(R"mlir(
    func.func @f(%x: tensor<8x256xf32>) {
      %0 = soap.slice %x {starts = array<i64: 0, 255>, ends = array<i64: 8, -1>, steps = array<i64: 1, -1>} : (tensor<8x256xf32>) -> tensor<8x256xf32>
      return
    })mlir", "soap.slice");
  ASSERT_TRUE(inner);
  EXPECT_EQ(dims(inner), (Dims{{"batch", S, 8, 0}}));
}

TEST_F(DialectInterfaceTest, Reductions) {
  for (const char *kind : {"reduce_sum", "reduce_mean", "reduce_max"}) {
    SCOPED_TRACE(kind);
    std::string ir = std::string(R"mlir(
      func.func @f(%x: tensor<8x2048x7x7xf32>) {
        %0 = soap.)mlir") + kind + R"mlir( %x {axes = array<i64: 2, 3>} : (tensor<8x2048x7x7xf32>) -> tensor<8x2048xf32>
        return
      })mlir";
    auto op = parse(ir, std::string("soap.") + kind);
    ASSERT_TRUE(op);
    EXPECT_EQ(dims(op), (Dims{{"batch", S, 8, 0}}));
    // one FLOP per input element 8·2048·7·7, forward and backward
    EXPECT_EQ(op.getForwardFlops(), 802816);
    EXPECT_EQ(op.getBackwardFlops(), 802816);
    EXPECT_EQ(op.getBytesWritten(), 8 * 2048 * 4);
  }
  auto overBatch = parse(R"mlir(
    func.func @f(%x: tensor<8x16xf32>) {
      %0 = soap.reduce_mean %x {axes = array<i64: -2>, keep_dims} : (tensor<8x16xf32>) -> tensor<1x16xf32>
      return
    })mlir", "soap.reduce_mean");
  ASSERT_TRUE(overBatch);
  EXPECT_TRUE(dims(overBatch).empty());
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, TopKGate) {
  auto op = parse(R"mlir(
    func.func @f(%l: tensor<1024x8xf32>) {
      %w, %i = soap.topk_gate %l {k = 2 : i64} : (tensor<1024x8xf32>) -> (tensor<1024x2xf32>, tensor<1024x2xi64>)
      return
    })mlir", "soap.topk_gate");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 1024, 0}}));
  // 1024·8 = 8192 logits: softmax 5 each, then k = 2 passes of a max
  EXPECT_EQ(op.getForwardFlops(), 5 * 8192 + 2 * 8192);
  EXPECT_EQ(op.getBackwardFlops(), 4 * 8192);
  EXPECT_EQ(op.getParameterCount(), 0);
  // weights 1024·2·4 + indices 1024·2·8
  EXPECT_EQ(op.getBytesWritten(), 8192 + 16384);
}

TEST_F(DialectInterfaceTest, Experts) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<1024x512xf32>, %w: tensor<1024x2xf32>, %i: tensor<1024x2xi64>,
                 %w1: tensor<8x512x2048xf32>, %w2: tensor<8x2048x512xf32>) {
      %0 = soap.experts %x, %w, %i, %w1, %w2 {capacity_factor = 1.25 : f64}
          : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>,
             tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
      return
    })mlir", "soap.experts");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 1024, 0}, {"expert", P, 8, -1}}));
  // T = 1024, k = 2, E = 8, D = 512, F = 2048.
  // capacity ceil(1.25·1024·2 / 8) = 320 tokens; 8·320 = 2560 slots
  EXPECT_EQ(cast<soap::ExpertsOp>(op.getOperation()).getCapacity(), 320);
  // MACs: 2560 slots · (512·2048 + 2048·512) = 5368709120
  // activation: 2560·2048 = 5242880; combine: 1024·2·512 = 1048576
  // 2·5368709120 + 5242880 + 2·1048576
  EXPECT_EQ(op.getForwardFlops(), 10744758272);
  // 4·5368709120 + 2·5242880 + 3·1048576
  EXPECT_EQ(op.getBackwardFlops(), 21488467968);
  // 2·8·512·2048
  EXPECT_EQ(op.getParameterCount(), 16777216);
  EXPECT_EQ(op.getParameterOperandIndices(), (SmallVector<unsigned>{3, 4}));
}

TEST_F(DialectInterfaceTest, ExpertsCapacityRoundsUp) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<10x4xf32>, %w: tensor<10x1xf32>, %i: tensor<10x1xi64>,
                 %w1: tensor<4x4x8xf32>, %w2: tensor<4x8x4xf32>) {
      %0 = soap.experts %x, %w, %i, %w1, %w2
          : (tensor<10x4xf32>, tensor<10x1xf32>, tensor<10x1xi64>,
             tensor<4x4x8xf32>, tensor<4x8x4xf32>) -> tensor<10x4xf32>
      return
    })mlir", "soap.experts");
  ASSERT_TRUE(op);
  // ceil(1.0·10·1 / 4) = ceil(2.5) = 3
  EXPECT_EQ(cast<soap::ExpertsOp>(op.getOperation()).getCapacity(), 3);
  // 4·3 = 12 slots: MACs 12·2·4·8 = 768, activation 12·8 = 96,
  // combine 10·1·4 = 40: 2·768 + 96 + 2·40
  EXPECT_EQ(op.getForwardFlops(), 1712);
}

TEST_F(DialectInterfaceTest, ExpertsCapacityIsAtMostTheTokens) {
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<10x4xf32>, %w: tensor<10x2xf32>, %i: tensor<10x2xi64>,
                 %w1: tensor<4x4x8xf32>, %w2: tensor<4x8x4xf32>) {
      %0 = soap.experts %x, %w, %i, %w1, %w2 {capacity_factor = 1.0e+300 : f64}
          : (tensor<10x4xf32>, tensor<10x2xf32>, tensor<10x2xi64>,
             tensor<4x4x8xf32>, tensor<4x8x4xf32>) -> tensor<10x4xf32>
      return
    })mlir", "soap.experts");
  ASSERT_TRUE(op);
  // 1e300·10·2 / 4 tokens asked, but an expert sees each of the 10 at most once
  EXPECT_EQ(cast<soap::ExpertsOp>(op.getOperation()).getCapacity(), 10);
  // 4·10 = 40 slots: MACs 40·2·4·8 = 2560, activation 40·8 = 320,
  // combine 10·2·4 = 80: 2·2560 + 320 + 2·80
  EXPECT_EQ(op.getForwardFlops(), 5600);
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, SoftmaxCrossEntropy) {
  auto op = parse(R"mlir(
    func.func @f(%l: tensor<32x1000xf32>, %y: tensor<32xi64>) {
      %0 = soap.softmax_cross_entropy %l, %y : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
      return
    })mlir", "soap.softmax_cross_entropy");
  ASSERT_TRUE(op);
  // the batch splits into partial losses: no result axis
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 32, -1}}));
  // 32·1000 logits: log-softmax 6 each; backward softmax minus one-hot, 2
  EXPECT_EQ(op.getForwardFlops(), 192000);
  EXPECT_EQ(op.getBackwardFlops(), 64000);
  // 32000·4 + 32·8
  EXPECT_EQ(op.getBytesRead(), 128256);
  EXPECT_EQ(op.getBytesWritten(), 4);

  auto single = parse(R"mlir(
    func.func @f(%l: tensor<10xf32>, %y: tensor<i64>) {
      %0 = soap.softmax_cross_entropy %l, %y : (tensor<10xf32>, tensor<i64>) -> tensor<f32>
      return
    })mlir", "soap.softmax_cross_entropy");
  ASSERT_TRUE(single);
  // one sample: no batch to split
  EXPECT_TRUE(dims(single).empty());

  // Per-position losses: the batch splits the result's axis 0; class
  // weights add a product per position.
  auto none = parse(R"mlir(
    func.func @f(%l: tensor<32x10xf32>, %y: tensor<32xi64>, %w: tensor<10xf32>) {
      %0 = soap.softmax_cross_entropy %l, %y, %w {reduction = "none"} : (tensor<32x10xf32>, tensor<32xi64>, tensor<10xf32>) -> tensor<32xf32>
      return
    })mlir", "soap.softmax_cross_entropy");
  ASSERT_TRUE(none);
  EXPECT_EQ(dims(none), (Dims{{"batch", S, 32, 0}}));
  // 320 logits · 6 + 32 weight products; backward 320 · 2 + 32
  EXPECT_EQ(none.getForwardFlops(), 1952);
  EXPECT_EQ(none.getBackwardFlops(), 672);
  // (320 + 10) · 4 + 32 · 8
  EXPECT_EQ(none.getBytesRead(), 1576);
  EXPECT_EQ(none.getBytesWritten(), 128);

  // The sum adds partial sums like the plain mean.
  auto sum = parse(R"mlir(
    func.func @f(%l: tensor<32x10xf32>, %y: tensor<32xi64>) {
      %0 = soap.softmax_cross_entropy %l, %y {ignore_index = -1 : i64, reduction = "sum"} : (tensor<32x10xf32>, tensor<32xi64>) -> tensor<f32>
      return
    })mlir", "soap.softmax_cross_entropy");
  ASSERT_TRUE(sum);
  EXPECT_EQ(dims(sum), (Dims{{"batch", S, 32, -1}}));

  // The weighted mean divides by a sum over all labels: not split.
  for (const char *attrs : {"{ignore_index = 3 : i64}", ""}) {
    std::string ir = std::string(R"mlir(
      func.func @f(%l: tensor<32x10xf32>, %y: tensor<32xi64>, %w: tensor<10xf32>) {
        %0 = soap.softmax_cross_entropy %l, %y, %w )mlir") +
                     attrs + R"mlir( : (tensor<32x10xf32>, tensor<32xi64>, tensor<10xf32>) -> tensor<f32>
        return
      })mlir";
    auto mean = parse(ir, "soap.softmax_cross_entropy");
    ASSERT_TRUE(mean);
    EXPECT_TRUE(cast<soap::SoftmaxCrossEntropyOp>(mean.getOperation()).hasWeightedMean());
    EXPECT_TRUE(dims(mean).empty());
  }
}

TEST_F(DialectInterfaceTest, MseLoss) {
  auto op = parse(R"mlir(
    func.func @f(%p: tensor<32x1xf32>, %t: tensor<32x1xf32>) {
      %0 = soap.mse_loss %p, %t : (tensor<32x1xf32>, tensor<32x1xf32>) -> tensor<f32>
      return
    })mlir", "soap.mse_loss");
  ASSERT_TRUE(op);
  EXPECT_EQ(dims(op), (Dims{{"batch", S, 32, -1}}));
  // sub, square, sum: 3 per element; backward 2
  EXPECT_EQ(op.getForwardFlops(), 96);
  EXPECT_EQ(op.getBackwardFlops(), 64);
  EXPECT_EQ(op.getBytesRead(), 256);
  EXPECT_EQ(op.getBytesWritten(), 4);
}

//===----------------------------------------------------------------------===//
// Coverage and the parallel config verifier
//===----------------------------------------------------------------------===//

TEST_F(DialectInterfaceTest, EveryComputeOpIsCovered) {
  // The ops the tests above check. A new compute op fails this test until it
  // has hand-checked numbers here; an op losing the interface fails it too.
  const std::set<std::string> covered = {
      "soap.linear", "soap.matmul", "soap.conv2d", "soap.pool2d",
      "soap.batch_norm", "soap.layer_norm", "soap.embedding",
      "soap.attention", "soap.lstm", "soap.relu", "soap.gelu",
      "soap.sigmoid", "soap.tanh", "soap.exp", "soap.log", "soap.neg",
      "soap.sqrt", "soap.erf", "soap.add", "soap.sub", "soap.mul",
      "soap.div", "soap.pow", "soap.cast", "soap.softmax", "soap.dropout", "soap.reshape",
      "soap.flatten", "soap.transpose", "soap.concat", "soap.split",
      "soap.slice", "soap.reduce_sum", "soap.reduce_mean", "soap.reduce_max",
      "soap.topk_gate", "soap.experts", "soap.softmax_cross_entropy",
      "soap.mse_loss", "soap.equal", "soap.less", "soap.less_equal",
      "soap.greater", "soap.greater_equal", "soap.and", "soap.or", "soap.xor",
      "soap.not", "soap.dropout_mask"};
  std::set<std::string> withInterface;
  for (RegisteredOperationName name :
       ctx.getRegisteredOperationsByDialect("soap"))
    if (name.hasInterface<ParallelizableOpInterface>())
      withInterface.insert(name.getStringRef().str());
  EXPECT_EQ(withInterface, covered);
}

TEST_F(DialectInterfaceTest, ParallelConfigIsCheckedAgainstDims) {
  // Degrees that divide the dimensions verify; the op then reports its dims.
  auto op = parse(R"mlir(
    func.func @f(%x: tensor<32x784xf32>, %w: tensor<784x256xf32>) {
      %0 = soap.linear %x, %w {soap.parallel = #soap.parallel<{batch = 4, out = 2, in = 16}>}
          : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
      return
    })mlir", "soap.linear");
  ASSERT_TRUE(op);
  auto config =
      op->getAttrOfType<soap::ParallelAttr>(soap::SoapDialect::kParallelAttrName);
  ASSERT_TRUE(config);
  EXPECT_EQ(config.getNumDevices(), 128);

  // 784 is not a multiple of 3: the module does not verify.
  ctx.getDiagEngine().registerHandler([](Diagnostic &) { return success(); });
  OwningOpRef<ModuleOp> bad = parseSourceString<ModuleOp>(R"mlir(
    func.func @f(%x: tensor<32x784xf32>, %w: tensor<784x256xf32>) {
      %0 = soap.linear %x, %w {soap.parallel = #soap.parallel<{in = 3}>}
          : (tensor<32x784xf32>, tensor<784x256xf32>) -> tensor<32x256xf32>
      return
    })mlir", &ctx);
  EXPECT_FALSE(bad);
}

} // namespace
