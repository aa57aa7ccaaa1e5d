//===- Patterns.cpp - rewrites on the imported function -------------------===//
//
// Exporters spell some soap ops as several ONNX nodes:
// - GELU as x * 0.5 * (1 + Erf(x / sqrt(2))) (or with x * (1/sqrt(2)), and
//   the three factors multiplied in any order) becomes soap.gelu, named
//   after the Erf node;
// - a linear layer with a bias as MatMul(x, W) + b (PyTorch's nn.Linear on
//   inputs of rank > 2) becomes one soap.linear with the bias, named after
//   the MatMul node.
// The replaced ops are left dead and erased by the importer.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "soap/Dialect/Soap/SoapOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace soap;

/// The value of a soap.constant holding a single number (any shape).
static std::optional<double> constantScalar(Value v) {
  auto c = v.getDefiningOp<ConstantOp>();
  if (!c)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!dense || !isa<FloatType>(dense.getElementType()))
    return std::nullopt;
  if (!dense.isSplat() && dense.getNumElements() != 1)
    return std::nullopt;
  return (*dense.getValues<APFloat>().begin()).convertToDouble() ;
}

static bool isConstant(Value v, double expected) {
  auto value = constantScalar(v);
  return value && std::abs(*value - expected) <= 1e-3 * std::abs(expected);
}

/// The other operand of a binary op, given one of them.
template <typename OpTy>
static Value otherOperand(OpTy op, Value known) {
  if (op.getLhs() == known)
    return op.getRhs();
  if (op.getRhs() == known)
    return op.getLhs();
  return Value();
}

/// The single user of `v`, if it is an `OpTy`.
template <typename OpTy>
static OpTy singleUser(Value v) {
  if (!v.hasOneUse())
    return OpTy();
  return dyn_cast<OpTy>(*v.getUsers().begin());
}

/// Matches the erf-form GELU around `erf`; returns its final product.
static Operation *matchGelu(ErfOp erf, Value &x) {
  Value arg = erf.getInput();
  if (auto div = arg.getDefiningOp<DivOp>()) {
    if (!isConstant(div.getRhs(), std::sqrt(2.0)))
      return nullptr;
    x = div.getLhs();
  } else if (auto mul = arg.getDefiningOp<MulOp>()) {
    if (isConstant(mul.getRhs(), std::sqrt(0.5)))
      x = mul.getLhs();
    else if (isConstant(mul.getLhs(), std::sqrt(0.5)))
      x = mul.getRhs();
    else
      return nullptr;
  } else {
    return nullptr;
  }
  auto plus = singleUser<AddOp>(erf.getResult());
  if (!plus || !isConstant(otherOperand(plus, erf.getResult()), 1.0))
    return nullptr;
  auto m1 = singleUser<MulOp>(plus.getResult());
  if (!m1)
    return nullptr;
  Value o1 = otherOperand(m1, plus.getResult());
  Operation *root = nullptr;
  if (o1 == x || isConstant(o1, 0.5)) {
    // (x * p) * 0.5 or (0.5 * p) * x.
    auto m2 = singleUser<MulOp>(m1.getResult());
    if (!m2)
      return nullptr;
    Value o2 = otherOperand(m2, m1.getResult());
    if ((o1 == x && isConstant(o2, 0.5)) || (o1 != x && o2 == x))
      root = m2;
  } else if (auto half = o1.getDefiningOp<MulOp>()) {
    // (x * 0.5) * p.
    if (half.getResult().hasOneUse() &&
        ((half.getLhs() == x && isConstant(half.getRhs(), 0.5)) ||
         (half.getRhs() == x && isConstant(half.getLhs(), 0.5))))
      root = m1;
  }
  if (!root || root->getResult(0).getType() != x.getType())
    return nullptr;
  return root;
}

static void fuseGelu(func::FuncOp func) {
  SmallVector<ErfOp> erfs;
  func.walk([&](ErfOp erf) { erfs.push_back(erf); });
  OpBuilder builder(func.getContext());
  for (ErfOp erf : erfs) {
    Value x;
    Operation *root = matchGelu(erf, x);
    if (!root)
      continue;
    builder.setInsertionPoint(root);
    auto gelu = GeluOp::create(builder, erf.getLoc(), x);
    if (auto name = erf->getAttr(SoapDialect::kNameAttrName))
      gelu->setAttr(SoapDialect::kNameAttrName, name);
    root->getResult(0).replaceAllUsesWith(gelu.getResult());
  }
}

static void fuseLinearBias(func::FuncOp func) {
  SmallVector<AddOp> adds;
  func.walk([&](AddOp add) { adds.push_back(add); });
  OpBuilder builder(func.getContext());
  for (AddOp add : adds) {
    for (Value operand : {add.getLhs(), add.getRhs()}) {
      auto linear = operand.getDefiningOp<LinearOp>();
      if (!linear || linear.getBias() || !linear.getResult().hasOneUse())
        continue;
      Value bias = otherOperand(add, operand);
      auto weight = bias.getDefiningOp<WeightOp>();
      auto resultType = linear.getResult().getType();
      auto biasType = cast<RankedTensorType>(bias.getType());
      if (!weight || biasType.getRank() != 1 ||
          biasType.getDimSize(0) != resultType.getShape().back() ||
          biasType.getElementType() != resultType.getElementType() ||
          add.getResult().getType() != resultType)
        continue;
      builder.setInsertionPoint(add);
      auto fused = LinearOp::create(builder, linear.getLoc(), linear.getInput(),
                                    linear.getWeight(), bias);
      if (auto name = linear->getAttr(SoapDialect::kNameAttrName))
        fused->setAttr(SoapDialect::kNameAttrName, name);
      add.getResult().replaceAllUsesWith(fused.getResult());
      break;
    }
  }
}

void soap::onnx_import::runImportPatterns(func::FuncOp func) {
  fuseGelu(func);
  fuseLinearBias(func);
}
