//===- Patterns.cpp - rewrites on the imported function -------------------===//
//
// Exporters spell some soap ops as several ONNX nodes:
// - GELU as x * 0.5 * (1 + Erf(x / sqrt(2))) (or with x * (1/sqrt(2)), and
//   the three factors multiplied in any order) becomes soap.gelu, named
//   after the Erf node;
// - a linear layer with a bias as MatMul(x, W) + b (PyTorch's nn.Linear on
//   inputs of rank > 2) becomes one soap.linear with the bias, named after
//   the MatMul node;
// - layer normalization written out (before opset 17, LayerNormalization
//   did not exist): mean = ReduceMean(x), d = x - mean, var =
//   ReduceMean(d * d) (Pow(d, 2) imports as d * d), y = d / Sqrt(var + eps)
//   * gamma + beta, over the trailing axes, with gamma and beta weights,
//   becomes soap.layer_norm, named after the first ReduceMean node.
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

/// Whether `axes` are the trailing axes from `first` of a tensor of `rank`.
static bool trailingAxes(ArrayRef<int64_t> axes, int64_t rank, int64_t &first) {
  if (axes.empty())
    return false;
  first = rank - static_cast<int64_t>(axes.size());
  for (auto [i, a] : llvm::enumerate(axes))
    if ((a < 0 ? a + rank : a) != first + static_cast<int64_t>(i))
      return false;
  return first >= 0;
}

/// A weight (or constant) shaped like the normalized axes.
static bool isParam(Value v, ArrayRef<int64_t> normalized, Type element) {
  if (!v.getDefiningOp<WeightOp>())
    return false;
  auto type = cast<RankedTensorType>(v.getType());
  return type.getShape() == normalized && type.getElementType() == element;
}

static void fuseLayerNorm(func::FuncOp func) {
  SmallVector<ReduceMeanOp> means;
  func.walk([&](ReduceMeanOp op) { means.push_back(op); });
  OpBuilder builder(func.getContext());
  for (ReduceMeanOp mean : means) {
    if (!mean.getKeepDims())
      continue;
    Value x = mean.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t axis;
    if (!trailingAxes(mean.getAxes(), xType.getRank(), axis))
      continue;
    auto sub = singleUser<SubOp>(mean.getResult());
    if (!sub || sub.getLhs() != x || sub.getRhs() != mean.getResult())
      continue;
    Value d = sub.getResult();
    // d feeds exactly d * d and d / std.
    MulOp square;
    DivOp divide;
    bool ok = true;
    for (Operation *user : d.getUsers()) {
      auto m = dyn_cast<MulOp>(user);
      auto q = dyn_cast<DivOp>(user);
      if (m && m.getLhs() == d && m.getRhs() == d && (!square || square == m)) {
        square = m;
      } else if (q && q.getLhs() == d && (!divide || divide == q)) {
        divide = q;
      } else {
        ok = false;
      }
    }
    if (!ok || !square || !divide)
      continue;
    auto var = singleUser<ReduceMeanOp>(square.getResult());
    if (!var || !var.getKeepDims() || var.getAxes() != mean.getAxes())
      continue;
    auto shift = singleUser<AddOp>(var.getResult());
    if (!shift)
      continue;
    auto epsilon = constantScalar(otherOperand(shift, var.getResult()));
    if (!epsilon || !(*epsilon > 0.0))
      continue;
    auto root = singleUser<SqrtOp>(shift.getResult());
    if (!root || divide.getRhs() != root.getResult() ||
        !root.getResult().hasOneUse())
      continue;
    auto normalized = xType.getShape().drop_front(axis);
    Type element = xType.getElementType();
    auto scaled = singleUser<MulOp>(divide.getResult());
    if (!scaled)
      continue;
    Value gamma = otherOperand(scaled, divide.getResult());
    if (!isParam(gamma, normalized, element))
      continue;
    Operation *last = scaled;
    Value beta;
    if (auto shifted = singleUser<AddOp>(scaled.getResult())) {
      Value b = otherOperand(shifted, scaled.getResult());
      if (isParam(b, normalized, element)) {
        beta = b;
        last = shifted;
      }
    }
    if (last->getResult(0).getType() != xType)
      continue;
    builder.setInsertionPoint(last);
    SmallVector<Value> operands = {x, gamma};
    if (beta)
      operands.push_back(beta);
    OperationState state(mean.getLoc(), LayerNormOp::getOperationName());
    state.addOperands(operands);
    state.addAttribute("axis", builder.getI64IntegerAttr(axis));
    state.addAttribute("epsilon", builder.getF64FloatAttr(
                                      onnx_import::shortestDouble(*epsilon)));
    state.addTypes(xType);
    Operation *ln = builder.create(state);
    if (auto name = mean->getAttr(SoapDialect::kNameAttrName))
      ln->setAttr(SoapDialect::kNameAttrName, name);
    last->getResult(0).replaceAllUsesWith(ln->getResult(0));
  }
}

void soap::onnx_import::runImportPatterns(func::FuncOp func) {
  fuseGelu(func);
  fuseLinearBias(func);
  fuseLayerNorm(func);
}
