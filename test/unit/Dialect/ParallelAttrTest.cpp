//===- ParallelAttrTest.cpp - #soap.parallel ------------------------------===//
#include "soap/Dialect/Soap/SoapAttributes.h"
#include "soap/InitAll.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
class ParallelAttrTest : public ::testing::Test {
protected:
  ParallelAttrTest() {
    DialectRegistry registry;
    soap::registerSoapDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }
  soap::ParallelAttr parse(StringRef text) {
    return dyn_cast_or_null<soap::ParallelAttr>(parseAttribute(text, &ctx));
  }
  MLIRContext ctx;
};
} // namespace

TEST_F(ParallelAttrTest, ContiguousViewByDefault) {
  auto attr = parse("#soap.parallel<{batch = 4, out = 2}>");
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr.getNumDevices(), 8);
  EXPECT_EQ(attr.getDegree("batch"), 4);
  EXPECT_EQ(attr.getDegree("out"), 2);
  EXPECT_EQ(attr.getDegree("cin"), 1);
  EXPECT_EQ(attr.getStart(), 0);
  EXPECT_EQ(attr.getStrides(), ArrayRef<int64_t>({2, 1}));
  EXPECT_EQ(attr.getDeviceIds(),
            SmallVector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(ParallelAttrTest, StridedViewPlacesShards) {
  // Column split across nodes of 8 devices, batch split within a node.
  auto attr = parse("#soap.parallel<{batch = 4, out = 2}, start = 8, "
                    "strides = [1, 8]>");
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr.getDeviceIds(),
            SmallVector<int64_t>({8, 16, 9, 17, 10, 18, 11, 19}));
}

TEST_F(ParallelAttrTest, OverlappingViewIsRejected) {
  ctx.getDiagEngine().registerHandler([](Diagnostic &) { return success(); });
  EXPECT_FALSE(parse("#soap.parallel<{batch = 4}, strides = [0]>"));
  EXPECT_FALSE(parse("#soap.parallel<{batch = 2, out = 2}, strides = [1, 1]>"));
  EXPECT_FALSE(parse("#soap.parallel<{batch = 0}>"));
  EXPECT_FALSE(parse("#soap.parallel<{batch = 2, batch = 2}>"));
}
