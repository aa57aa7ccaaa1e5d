//===- SoapOps.cpp - soap ops: shape inference, SOAP dims, costs ----------===//
//
// Every compute op checks its operands and attributes in inferReturnTypes:
// the verifier (InferTypeOpInterface) and the parser both call it, so one
// function is the single source of truth for an op's shape rule. Operand types
// are not yet verified when the parser calls it, hence the defensive casts.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace soap;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

int64_t soap::detail::numElements(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || !t.hasStaticShape())
    return 0;
  return t.getNumElements();
}

int64_t soap::detail::elementBytes(Type type) {
  Type elt = type;
  if (auto t = dyn_cast<ShapedType>(type))
    elt = t.getElementType();
  if (!elt.isIntOrFloat())
    return 0;
  return (elt.getIntOrFloatBitWidth() + 7) / 8;
}

int64_t soap::detail::sumTensorBytes(ValueRange values) {
  int64_t n = 0;
  for (Value v : values)
    n += detail::numElements(v.getType()) * detail::elementBytes(v.getType());
  return n;
}

static int64_t numel(Value v) { return soap::detail::numElements(v.getType()); }
static int64_t product(ArrayRef<int64_t> xs) {
  int64_t p = 1;
  for (int64_t x : xs)
    p *= x;
  return p;
}
static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

namespace {
/// Emits "'soap.<op>' op <message>" at the op's location, when it has one
/// (inference also runs from builders, where errors are not reported).
struct Checker {
  std::optional<Location> loc;
  StringRef opName;

  template <typename... Args>
  LogicalResult error(Args &&...args) const {
    return emitOptionalError(loc, "'", opName, "' op ",
                             std::forward<Args>(args)...);
  }

  /// The operand's type as a statically shaped ranked tensor, or an error.
  FailureOr<RankedTensorType> tensor(Value v, StringRef what) const {
    auto t = v ? dyn_cast<RankedTensorType>(v.getType()) : RankedTensorType();
    if (!t || !t.hasStaticShape()) {
      (void)error(what, " must be a statically shaped tensor");
      return failure();
    }
    return t;
  }

  FailureOr<RankedTensorType> tensorOfRank(Value v, StringRef what,
                                           int64_t rank) const {
    auto t = tensor(v, what);
    if (failed(t))
      return failure();
    if (t->getRank() != rank) {
      (void)error(what, " must have rank ", rank, ", got ", t->getRank());
      return failure();
    }
    return t;
  }

  LogicalResult sameElementType(RankedTensorType a, RankedTensorType b,
                                StringRef what) const {
    if (a.getElementType() != b.getElementType())
      return error(what, " element type ", b.getElementType(),
                   " differs from the input's ", a.getElementType());
    return success();
  }

  /// Fails, with MLIR's usual message, when a required attribute is missing
  /// (possible only while the parser infers types, before verification).
  LogicalResult require(Attribute attr, StringRef name) const {
    if (attr)
      return success();
    return error("requires attribute '", name, "'");
  }

  /// Normalizes a possibly negative axis into [0, rank).
  FailureOr<int64_t> axis(int64_t axis, int64_t rank, StringRef what) const {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
      (void)error(what, " ", axis, " is out of range for rank ", rank);
      return failure();
    }
    return a;
  }
};
} // namespace

template <typename OpTy>
static Checker checker(std::optional<Location> loc) {
  return Checker{loc, OpTy::getOperationName()};
}

/// Makes `adaptor` see every inherent attribute, with the ODS defaults filled
/// in. When the custom parser infers result types the op does not exist yet:
/// its attributes are still in the dictionary, its properties are empty and
/// default-valued attributes are unset. (On a created op this changes
/// nothing.) Required attributes may still be missing: `Checker::require`.
template <typename OpTy>
static LogicalResult completeAdaptor(MLIRContext *ctx,
                                     std::optional<Location> loc,
                                     typename OpTy::Adaptor &adaptor) {
  typename OpTy::Properties props = adaptor.getProperties();
  if (DictionaryAttr attrs = adaptor.getAttributes())
    if (failed(OpTy::setPropertiesFromAttr(props, attrs, [&] {
          return mlir::emitError(loc.value_or(UnknownLoc::get(ctx)));
        })))
      return failure();
  OpTy::populateDefaultProperties(OperationName(OpTy::getOperationName(), ctx),
                                  props);
  adaptor = typename OpTy::Adaptor(adaptor.getOperands(),
                                   adaptor.getAttributes(), props);
  return success();
}

/// The dims of result axes [0, count): axis 0 is the sample dimension "batch",
/// the others attributes "d<i>". Axes listed in `skip` are left out.
static void addDataDims(SmallVectorImpl<ParallelDim> &dims,
                        ArrayRef<int64_t> shape, int64_t count,
                        ArrayRef<int64_t> skip = {}) {
  for (int64_t i = 0; i < count; ++i) {
    if (llvm::is_contained(skip, i))
      continue;
    if (i == 0)
      dims.push_back({"batch", DimTag::Sample, shape[0], 0});
    else
      dims.push_back({"d" + std::to_string(i), DimTag::Attribute, shape[i], i});
  }
}

/// Only the sample dimension, when `keepsBatch` says the op preserves axis 0.
static SmallVector<ParallelDim> batchOnly(Value result, bool keepsBatch) {
  SmallVector<ParallelDim> dims;
  auto shape = shapeOf(result);
  if (keepsBatch && !shape.empty())
    dims.push_back({"batch", DimTag::Sample, shape[0], 0});
  return dims;
}

//===----------------------------------------------------------------------===//
// WeightOp, ConstantOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty name");
  if (getValue()) {
    auto valueType = cast<ShapedType>(getValue()->getType());
    if (valueType != getType())
      return emitOpError("value type ")
             << valueType << " does not match the result type " << getType();
    if (getInit() != InitKind::value)
      return emitOpError("has a value, so its initializer must be 'value'");
  } else if (getInit() == InitKind::value) {
    return emitOpError("initializer 'value' needs a 'value' attribute");
  }
  if (auto scaleAttr = getScale()) {
    double scale = scaleAttr->convertToDouble();
    if (!(getInit() == InitKind::normal || getInit() == InitKind::uniform ||
          getInit() == InitKind::constant))
      return emitOpError("'scale' applies only to the normal, uniform and "
                         "constant initializers");
    if (getInit() != InitKind::constant && !(scale > 0.0))
      return emitOpError("'scale' must be positive, got ") << scale;
  }
  // Weight names are the keys of checkpoints and strategies: unique per
  // function. Only earlier siblings are checked, so each clash is reported
  // once, at the second definition.
  for (Operation *prev = getOperation()->getPrevNode(); prev;
       prev = prev->getPrevNode())
    if (auto other = dyn_cast<WeightOp>(prev))
      if (other.getName() == getName())
        return emitOpError("name '")
               << getName() << "' is already used by the weight at "
               << other.getLoc();
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult
LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                           Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<LinearOp>(loc);
  auto x = c.tensor(adaptor.getInput(), "input");
  auto w = c.tensorOfRank(adaptor.getWeight(), "weight", 2);
  if (failed(x) || failed(w))
    return failure();
  if (x->getRank() < 1)
    return c.error("input must have rank >= 1");
  if (failed(c.sameElementType(*x, *w, "weight")))
    return failure();
  int64_t k = x->getShape().back(), n = w->getDimSize(1);
  if (w->getDimSize(0) != k)
    return c.error("weight rows (", w->getDimSize(0),
                   ") do not match the input's last dimension (", k, ")");
  if (Value bias = adaptor.getBias()) {
    auto b = c.tensorOfRank(bias, "bias", 1);
    if (failed(b) || failed(c.sameElementType(*x, *b, "bias")))
      return failure();
    if (b->getDimSize(0) != n)
      return c.error("bias size (", b->getDimSize(0),
                     ") does not match the weight's columns (", n, ")");
  }
  SmallVector<int64_t> shape(x->getShape());
  shape.back() = n;
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

SmallVector<ParallelDim> LinearOp::getParallelDims() {
  SmallVector<ParallelDim> dims;
  auto shape = shapeOf(getResult());
  int64_t rank = shape.size();
  addDataDims(dims, shape, rank - 1);
  dims.push_back({"out", DimTag::Parameter, shape.back(), rank - 1});
  dims.push_back({"in", DimTag::Reduction, shapeOf(getWeight())[0], -1});
  return dims;
}

/// Rows of a linear layer: the product of the input's leading dimensions.
static int64_t linearRows(LinearOp op) {
  return product(shapeOf(op.getInput()).drop_back());
}

int64_t LinearOp::getForwardFlops() {
  int64_t k = shapeOf(getWeight())[0], n = shapeOf(getWeight())[1];
  int64_t m = linearRows(*this);
  return 2 * m * k * n + (getBias() ? m * n : 0);
}

int64_t LinearOp::getBackwardFlops() {
  // dX = dY . W^T and dW = X^T . dY, plus the bias gradient (a column sum).
  int64_t k = shapeOf(getWeight())[0], n = shapeOf(getWeight())[1];
  int64_t m = linearRows(*this);
  return 4 * m * k * n + (getBias() ? m * n : 0);
}

SmallVector<unsigned> LinearOp::getParameterOperandIndices() {
  if (getBias())
    return {1, 2};
  return {1};
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult
MatmulOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                           Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<MatmulOp>(loc);
  auto a = c.tensor(adaptor.getLhs(), "lhs");
  auto b = c.tensor(adaptor.getRhs(), "rhs");
  if (failed(a) || failed(b))
    return failure();
  if (a->getRank() < 2 || b->getRank() < 2)
    return c.error("operands must have rank >= 2, got ", a->getRank(), " and ",
                   b->getRank());
  if (failed(c.sameElementType(*a, *b, "rhs")))
    return failure();
  int64_t k = a->getShape().back();
  if (b->getShape()[b->getRank() - 2] != k)
    return c.error("contraction sizes differ: lhs has K = ", k, ", rhs has ",
                   b->getShape()[b->getRank() - 2]);
  SmallVector<int64_t> batch;
  if (!OpTrait::util::getBroadcastedShape(a->getShape().drop_back(2),
                                          b->getShape().drop_back(2), batch))
    return c.error("batch dimensions ", a->getShape().drop_back(2), " and ",
                   b->getShape().drop_back(2), " do not broadcast");
  batch.push_back(a->getShape()[a->getRank() - 2]);
  batch.push_back(b->getShape().back());
  results.push_back(RankedTensorType::get(batch, a->getElementType()));
  return success();
}

SmallVector<ParallelDim> MatmulOp::getParallelDims() {
  SmallVector<ParallelDim> dims;
  auto shape = shapeOf(getResult());
  int64_t rank = shape.size();
  addDataDims(dims, shape, rank - 2);
  dims.push_back({"m", DimTag::Attribute, shape[rank - 2], rank - 2});
  dims.push_back({"n", DimTag::Attribute, shape[rank - 1], rank - 1});
  dims.push_back({"k", DimTag::Reduction, shapeOf(getLhs()).back(), -1});
  return dims;
}

int64_t MatmulOp::getForwardFlops() {
  return 2 * numel(getResult()) * shapeOf(getLhs()).back();
}

//===----------------------------------------------------------------------===//
// Conv2dOp, Pool2dOp
//===----------------------------------------------------------------------===//

/// Output size of a convolution or pooling window along one axis (0 when
/// the window does not fit), or an error when the padded input or the dilated
/// kernel overflows 64 bits. The sizes are non-negative, the stride positive.
static FailureOr<int64_t> windowOutput(const Checker &c, int64_t in,
                                       int64_t padBefore, int64_t padAfter,
                                       int64_t kernel, int64_t stride,
                                       int64_t dilation) {
  int64_t span = 0, padded = 0;
  if (llvm::MulOverflow(dilation, kernel - 1, span) ||
      llvm::AddOverflow(span, int64_t(1), span) ||
      llvm::AddOverflow(in, padBefore, padded) ||
      llvm::AddOverflow(padded, padAfter, padded)) {
    (void)c.error("padding, kernel and dilation overflow 64-bit sizes");
    return failure();
  }
  if (padded < span)
    return 0;
  return (padded - span) / stride + 1;
}

static LogicalResult checkWindowAttrs(const Checker &c, ArrayRef<int64_t> kernel,
                                      ArrayRef<int64_t> strides,
                                      ArrayRef<int64_t> padding,
                                      ArrayRef<int64_t> dilations) {
  if (kernel.size() != 2 || llvm::any_of(kernel, [](int64_t k) { return k < 1; }))
    return c.error("kernel must be two positive sizes, got [", kernel, "]");
  if (strides.size() != 2 || llvm::any_of(strides, [](int64_t s) { return s < 1; }))
    return c.error("strides must be two positive values, got [", strides, "]");
  if (dilations.size() != 2 ||
      llvm::any_of(dilations, [](int64_t d) { return d < 1; }))
    return c.error("dilations must be two positive values, got [", dilations,
                   "]");
  if (padding.size() != 4 || llvm::any_of(padding, [](int64_t p) { return p < 0; }))
    return c.error("padding must be four non-negative values [top, left, "
                   "bottom, right], got [", padding, "]");
  return success();
}

LogicalResult
Conv2dOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                           Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<Conv2dOp>(loc);
  if (failed(completeAdaptor<Conv2dOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensorOfRank(adaptor.getInput(), "input", 4);
  auto w = c.tensorOfRank(adaptor.getWeight(), "weight", 4);
  if (failed(x) || failed(w) || failed(c.sameElementType(*x, *w, "weight")))
    return failure();
  int64_t groups = static_cast<int64_t>(adaptor.getGroups());
  auto strides = adaptor.getStrides(), padding = adaptor.getPadding(),
       dilations = adaptor.getDilations();
  auto ws = w->getShape();
  if (failed(checkWindowAttrs(c, ws.drop_front(2), strides, padding, dilations)))
    return failure();
  int64_t n = x->getDimSize(0), cin = x->getDimSize(1), cout = ws[0];
  if (groups < 1)
    return c.error("groups must be positive, got ", groups);
  if (cin % groups != 0 || cout % groups != 0)
    return c.error("groups (", groups, ") must divide the input channels (",
                   cin, ") and the output channels (", cout, ")");
  if (ws[1] * groups != cin)
    return c.error("weight has ", ws[1], " input channels per group, expected ",
                   cin / groups, " (", cin, " channels in ", groups,
                   " groups)");
  if (Value bias = adaptor.getBias()) {
    auto b = c.tensorOfRank(bias, "bias", 1);
    if (failed(b) || failed(c.sameElementType(*x, *b, "bias")))
      return failure();
    if (b->getDimSize(0) != cout)
      return c.error("bias size (", b->getDimSize(0),
                     ") does not match the output channels (", cout, ")");
  }
  auto oh = windowOutput(c, x->getDimSize(2), padding[0], padding[2], ws[2],
                         strides[0], dilations[0]);
  auto ow = windowOutput(c, x->getDimSize(3), padding[1], padding[3], ws[3],
                         strides[1], dilations[1]);
  if (failed(oh) || failed(ow))
    return failure();
  if (*oh < 1 || *ow < 1)
    return c.error("the kernel does not fit the padded input (output would be ",
                   *oh, "x", *ow, ")");
  results.push_back(
      RankedTensorType::get({n, cout, *oh, *ow}, x->getElementType()));
  return success();
}

SmallVector<ParallelDim> Conv2dOp::getParallelDims() {
  auto s = shapeOf(getResult());
  SmallVector<ParallelDim> dims = {{"batch", DimTag::Sample, s[0], 0},
                                   {"cout", DimTag::Parameter, s[1], 1},
                                   {"h", DimTag::Attribute, s[2], 2},
                                   {"w", DimTag::Attribute, s[3], 3}};
  if (getGroups() == 1)
    dims.push_back({"cin", DimTag::Reduction, shapeOf(getInput())[1], -1});
  return dims;
}

/// Multiply-adds of the convolution itself (without the bias).
static int64_t convMacs(Conv2dOp op) {
  auto ws = shapeOf(op.getWeight());
  return numel(op.getResult()) * ws[1] * ws[2] * ws[3];
}

int64_t Conv2dOp::getForwardFlops() {
  return 2 * convMacs(*this) + (getBias() ? numel(getResult()) : 0);
}

int64_t Conv2dOp::getBackwardFlops() {
  // Data gradient and filter gradient, each as costly as the forward product.
  return 4 * convMacs(*this) + (getBias() ? numel(getResult()) : 0);
}

SmallVector<unsigned> Conv2dOp::getParameterOperandIndices() {
  if (getBias())
    return {1, 2};
  return {1};
}

LogicalResult
Pool2dOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                           Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<Pool2dOp>(loc);
  if (failed(completeAdaptor<Pool2dOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensorOfRank(adaptor.getInput(), "input", 4);
  if (failed(x) || failed(c.require(adaptor.getKernelAttr(), "kernel")))
    return failure();
  ArrayRef<int64_t> kernel = adaptor.getKernel();
  ArrayRef<int64_t> strides = kernel;
  if (auto s = adaptor.getStrides())
    strides = *s;
  ArrayRef<int64_t> padding = adaptor.getPadding();
  // Absent dilations are ones (an optional attribute, so that a pool without
  // them keeps the kernel attributes, and the fingerprints, it had before).
  static const int64_t kOnes[] = {1, 1};
  ArrayRef<int64_t> dilations = kOnes;
  if (auto d = adaptor.getDilations())
    dilations = *d;
  if (failed(checkWindowAttrs(c, kernel, strides, padding, dilations)))
    return failure();
  // A window must hold at least one input element.
  int64_t spanH = (kernel[0] - 1) * dilations[0] + 1,
          spanW = (kernel[1] - 1) * dilations[1] + 1;
  if (padding[0] >= spanH || padding[2] >= spanH || padding[1] >= spanW ||
      padding[3] >= spanW)
    return c.error("padding must be smaller than the kernel's span [", spanH,
                   ", ", spanW, "]");
  auto oh = windowOutput(c, x->getDimSize(2), padding[0], padding[2],
                         kernel[0], strides[0], dilations[0]);
  auto ow = windowOutput(c, x->getDimSize(3), padding[1], padding[3],
                         kernel[1], strides[1], dilations[1]);
  if (failed(oh) || failed(ow))
    return failure();
  if (*oh < 1 || *ow < 1)
    return c.error("the kernel does not fit the padded input");
  results.push_back(RankedTensorType::get(
      {x->getDimSize(0), x->getDimSize(1), *oh, *ow}, x->getElementType()));
  return success();
}

SmallVector<ParallelDim> Pool2dOp::getParallelDims() {
  auto s = shapeOf(getResult());
  return {{"batch", DimTag::Sample, s[0], 0},
          {"c", DimTag::Attribute, s[1], 1},
          {"h", DimTag::Attribute, s[2], 2},
          {"w", DimTag::Attribute, s[3], 3}};
}

int64_t Pool2dOp::getForwardFlops() {
  return numel(getResult()) * product(getKernel());
}

int64_t Pool2dOp::getBackwardFlops() {
  // Average pooling spreads each gradient over the window; max pooling routes
  // it to the argmax (one add per output).
  if (getKind() == PoolKind::avg)
    return getForwardFlops();
  return numel(getResult());
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

LogicalResult
BatchNormOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                              Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<BatchNormOp>(loc);
  if (failed(completeAdaptor<BatchNormOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  auto g = c.tensorOfRank(adaptor.getScale(), "scale", 1);
  auto b = c.tensorOfRank(adaptor.getBias(), "bias", 1);
  if (failed(x) || failed(g) || failed(b))
    return failure();
  if (x->getRank() < 2)
    return c.error("input must have rank >= 2 ([N, C, ...]), got ",
                   x->getRank());
  if (failed(c.sameElementType(*x, *g, "scale")) ||
      failed(c.sameElementType(*x, *b, "bias")))
    return failure();
  int64_t ch = x->getDimSize(1);
  if (g->getDimSize(0) != ch || b->getDimSize(0) != ch)
    return c.error("scale and bias must have the channel count ", ch);
  double eps = adaptor.getEpsilon().convertToDouble();
  double momentum = adaptor.getMomentum().convertToDouble();
  if (!(eps > 0.0))
    return c.error("epsilon must be positive");
  if (!(momentum >= 0.0 && momentum <= 1.0))
    return c.error("momentum must be in [0, 1], got ", momentum);
  results.push_back(*x);
  return success();
}

SmallVector<ParallelDim> BatchNormOp::getParallelDims() {
  auto s = shapeOf(getResult());
  SmallVector<ParallelDim> dims = {{"batch", DimTag::Sample, s[0], 0},
                                   {"c", DimTag::Parameter, s[1], 1}};
  static const char *spatial[] = {"h", "w"};
  for (int64_t i = 2, e = s.size(); i < e; ++i)
    dims.push_back({e == 4 ? spatial[i - 2] : "d" + std::to_string(i),
                    DimTag::Attribute, s[i], i});
  return dims;
}

// Normalization costs per element: mean (1), variance (3: sub, square, add),
// normalize (2), scale and shift (2); backward about 1.5x that.
static constexpr int64_t kNormFwdPerElt = 8, kNormBwdPerElt = 12;

int64_t BatchNormOp::getForwardFlops() {
  return kNormFwdPerElt * numel(getResult());
}
int64_t BatchNormOp::getBackwardFlops() {
  return kNormBwdPerElt * numel(getResult());
}
SmallVector<unsigned> BatchNormOp::getParameterOperandIndices() {
  return {1, 2};
}

LogicalResult
LayerNormOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                              Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<LayerNormOp>(loc);
  if (failed(completeAdaptor<LayerNormOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  auto g = c.tensor(adaptor.getScale(), "scale");
  if (failed(x) || failed(g))
    return failure();
  auto axis = c.axis(static_cast<int64_t>(adaptor.getAxis()), x->getRank(),
                     "axis");
  if (failed(axis))
    return failure();
  auto normalized = x->getShape().drop_front(*axis);
  if (g->getShape() != normalized ||
      failed(c.sameElementType(*x, *g, "scale")))
    return c.error("scale must have the normalized shape [", normalized,
                   "] and the input's element type, got ", Type(*g));
  if (Value bias = adaptor.getBias()) {
    auto b = c.tensor(bias, "bias");
    if (failed(b))
      return failure();
    if (b->getShape() != normalized ||
        b->getElementType() != x->getElementType())
      return c.error("bias must have the normalized shape [", normalized,
                     "] and the input's element type, got ", Type(*b));
  }
  if (!(adaptor.getEpsilon().convertToDouble() > 0.0))
    return c.error("epsilon must be positive");
  results.push_back(*x);
  return success();
}

SmallVector<ParallelDim> LayerNormOp::getParallelDims() {
  SmallVector<ParallelDim> dims;
  auto s = shapeOf(getResult());
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0)
    axis += s.size();
  addDataDims(dims, s, axis);
  return dims;
}

int64_t LayerNormOp::getForwardFlops() {
  return kNormFwdPerElt * numel(getResult());
}
int64_t LayerNormOp::getBackwardFlops() {
  return kNormBwdPerElt * numel(getResult());
}
SmallVector<unsigned> LayerNormOp::getParameterOperandIndices() {
  if (getBias())
    return {1, 2};
  return {1};
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult
EmbeddingOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                              Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<EmbeddingOp>(loc);
  auto ids = c.tensor(adaptor.getIndices(), "indices");
  auto table = c.tensorOfRank(adaptor.getTable(), "table", 2);
  if (failed(ids) || failed(table))
    return failure();
  if (!ids->getElementType().isInteger())
    return c.error("indices must be integers, got ", ids->getElementType());
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  results.push_back(RankedTensorType::get(shape, table->getElementType()));
  return success();
}

SmallVector<ParallelDim> EmbeddingOp::getParallelDims() {
  SmallVector<ParallelDim> dims;
  auto s = shapeOf(getResult());
  int64_t rank = s.size();
  addDataDims(dims, s, rank - 1);
  dims.push_back({"dim", DimTag::Parameter, s.back(), rank - 1});
  dims.push_back({"vocab", DimTag::Reduction, shapeOf(getTable())[0], -1});
  return dims;
}

// A gather moves bytes and computes nothing; its gradient is a scatter-add.
int64_t EmbeddingOp::getForwardFlops() { return 0; }
// It reads the indices and the rows they select, not the whole table.
int64_t EmbeddingOp::getBytesRead() {
  return detail::sumTensorBytes(getIndices()) +
         numel(getResult()) * detail::elementBytes(getTable().getType());
}
int64_t EmbeddingOp::getBackwardFlops() { return numel(getResult()); }
SmallVector<unsigned> EmbeddingOp::getParameterOperandIndices() { return {1}; }

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult
AttentionOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                              Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<AttentionOp>(loc);
  if (failed(completeAdaptor<AttentionOp>(ctx, loc, adaptor)))
    return failure();
  auto q = c.tensorOfRank(adaptor.getQuery(), "query", 3);
  auto k = c.tensorOfRank(adaptor.getKey(), "key", 3);
  auto v = c.tensorOfRank(adaptor.getValue(), "value", 3);
  if (failed(q) || failed(k) || failed(v))
    return failure();
  int64_t b = q->getDimSize(0), s = q->getDimSize(1), e = q->getDimSize(2);
  int64_t t = k->getDimSize(1);
  if (k->getDimSize(0) != b || v->getDimSize(0) != b)
    return c.error("query, key and value must have the same batch size");
  if (v->getDimSize(1) != t)
    return c.error("key and value must have the same length, got ", t, " and ",
                   v->getDimSize(1));
  struct Proj {
    Value value;
    const char *name;
    int64_t rows;
  } projs[] = {{adaptor.getWq(), "wq", e},
               {adaptor.getWk(), "wk", k->getDimSize(2)},
               {adaptor.getWv(), "wv", v->getDimSize(2)},
               {adaptor.getWo(), "wo", e}};
  for (auto &p : projs) {
    auto w = c.tensorOfRank(p.value, p.name, 2);
    if (failed(w))
      return failure();
    if (w->getDimSize(0) != p.rows || w->getDimSize(1) != e ||
        w->getElementType() != q->getElementType())
      return c.error(p.name, " must be ",
                     RankedTensorType::get({p.rows, e}, q->getElementType()),
                     ", got ", Type(*w));
  }
  auto biases = adaptor.getBiases();
  if (!biases.empty()) {
    if (biases.size() != 4)
      return c.error("takes no biases or the four biases of q, k, v and o, "
                     "got ", biases.size());
    for (Value bias : biases) {
      auto bt = c.tensorOfRank(bias, "bias", 1);
      if (failed(bt))
        return failure();
      if (bt->getDimSize(0) != e || bt->getElementType() != q->getElementType())
        return c.error("biases must be ",
                       RankedTensorType::get({e}, q->getElementType()),
                       ", got ", Type(*bt));
    }
  }
  if (failed(c.require(adaptor.getNumHeadsAttr(), "num_heads")))
    return failure();
  int64_t heads = static_cast<int64_t>(adaptor.getNumHeads());
  if (heads < 1 || e % heads != 0)
    return c.error("num_heads (", heads, ") must divide the embedding size (",
                   e, ")");
  if (adaptor.getCausal() && s != t)
    return c.error("causal attention needs equal query and key lengths, got ",
                   s, " and ", t);
  results.push_back(*q);
  return success();
}

SmallVector<ParallelDim> AttentionOp::getParallelDims() {
  auto s = shapeOf(getResult());
  // Splitting the heads splits the columns of wq, wk, wv and the rows of wo:
  // every shard computes a partial sum of the whole result, hence no axis.
  return {{"batch", DimTag::Sample, s[0], 0},
          {"seq", DimTag::Attribute, s[1], 1},
          {"heads", DimTag::Parameter, static_cast<int64_t>(getNumHeads()),
           -1}};
}

namespace {
/// The pieces of an attention op's cost.
struct AttentionCost {
  int64_t projectionMacs; // q, k, v and output projections
  int64_t scoreMacs;      // Q.K^T and P.V
  int64_t softmaxElems;   // B * heads * S * T
  int64_t biasElems;
};
} // namespace

static AttentionCost attentionCost(AttentionOp op) {
  auto q = shapeOf(op.getQuery()), k = shapeOf(op.getKey()),
       v = shapeOf(op.getValue());
  int64_t b = q[0], s = q[1], e = q[2], t = k[1];
  int64_t heads = static_cast<int64_t>(op.getNumHeads());
  AttentionCost cost;
  cost.projectionMacs = b * s * e * e + b * t * k[2] * e + b * t * v[2] * e +
                        b * s * e * e;
  cost.scoreMacs = 2 * b * s * t * e;
  cost.softmaxElems = b * heads * s * t;
  cost.biasElems = op.getBiases().empty() ? 0 : b * (2 * s + 2 * t) * e;
  return cost;
}

// Softmax: 5 FLOPs per score (max, sub, exp, sum, div) plus the 1/sqrt(d)
// scaling; its backward: 4 per score.
int64_t AttentionOp::getForwardFlops() {
  auto c = attentionCost(*this);
  return 2 * (c.projectionMacs + c.scoreMacs) + 6 * c.softmaxElems + c.biasElems;
}

int64_t AttentionOp::getBackwardFlops() {
  auto c = attentionCost(*this);
  return 4 * (c.projectionMacs + c.scoreMacs) + 5 * c.softmaxElems +
         c.biasElems;
}

SmallVector<unsigned> AttentionOp::getParameterOperandIndices() {
  SmallVector<unsigned> idx = {3, 4, 5, 6};
  for (unsigned i = 0, e = getBiases().size(); i < e; ++i)
    idx.push_back(7 + i);
  return idx;
}

//===----------------------------------------------------------------------===//
// LstmOp
//===----------------------------------------------------------------------===//

LogicalResult
LstmOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                         Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<LstmOp>(loc);
  auto x = c.tensorOfRank(adaptor.getInput(), "input", 3);
  auto wih = c.tensorOfRank(adaptor.getWIh(), "w_ih", 2);
  auto whh = c.tensorOfRank(adaptor.getWHh(), "w_hh", 2);
  if (failed(x) || failed(wih) || failed(whh))
    return failure();
  int64_t h = whh->getDimSize(0);
  Type elt = x->getElementType();
  if (whh->getDimSize(1) != 4 * h || whh->getElementType() != elt)
    return c.error("w_hh must be [H, 4H] of the input's element type, got ",
                   Type(*whh));
  if (wih->getDimSize(0) != x->getDimSize(2) || wih->getDimSize(1) != 4 * h ||
      wih->getElementType() != elt)
    return c.error("w_ih must be ",
                   RankedTensorType::get({x->getDimSize(2), 4 * h}, elt),
                   ", got ", Type(*wih));
  if (Value bias = adaptor.getBias()) {
    auto b = c.tensorOfRank(bias, "bias", 1);
    if (failed(b))
      return failure();
    if (b->getDimSize(0) != 4 * h || b->getElementType() != elt)
      return c.error("bias must be ", RankedTensorType::get({4 * h}, elt),
                     ", got ", Type(*b));
  }
  results.push_back(RankedTensorType::get(
      {x->getDimSize(0), x->getDimSize(1), h}, elt));
  return success();
}

SmallVector<ParallelDim> LstmOp::getParallelDims() {
  auto s = shapeOf(getResult());
  return {{"batch", DimTag::Sample, s[0], 0},
          {"hidden", DimTag::Parameter, s[2], 2}};
}

int64_t LstmOp::getForwardFlops() {
  auto s = shapeOf(getResult());
  int64_t b = s[0], t = s[1], h = s[2], in = shapeOf(getInput())[2];
  // Per step: the gate products, the bias, and the cell's pointwise math
  // (3 sigmoids and 2 tanh at 4 FLOPs, 3 products and 1 sum).
  int64_t perStep = 2 * b * (in + h) * 4 * h + (getBias() ? 4 * b * h : 0) +
                    24 * b * h;
  return t * perStep;
}

SmallVector<unsigned> LstmOp::getParameterOperandIndices() {
  if (getBias())
    return {1, 2, 3};
  return {1, 2};
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

static LogicalResult inferUnary(const Checker &c, Value input,
                                SmallVectorImpl<Type> &results) {
  auto x = c.tensor(input, "input");
  if (failed(x))
    return failure();
  results.push_back(*x);
  return success();
}

static SmallVector<ParallelDim> elementwiseDims(Value result) {
  SmallVector<ParallelDim> dims;
  auto s = shapeOf(result);
  addDataDims(dims, s, s.size());
  return dims;
}

// Unary ops: the backward multiplies the upstream gradient by the derivative,
// which costs about as much as the forward function, plus the product.
#define SOAP_UNARY_OP(OP)                                                      \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferUnary(checker<OP>(loc), adaptor.getInput(), results);          \
  }                                                                            \
  SmallVector<ParallelDim> OP::getParallelDims() {                             \
    return elementwiseDims(getResult());                                       \
  }                                                                            \
  int64_t OP::getForwardFlops() {                                              \
    return kFlopsPerElement * numel(getResult());                              \
  }                                                                            \
  int64_t OP::getBackwardFlops() {                                             \
    return (kFlopsPerElement + 1) * numel(getResult());                        \
  }
SOAP_UNARY_OP(ReluOp)
SOAP_UNARY_OP(GeluOp)
SOAP_UNARY_OP(SigmoidOp)
SOAP_UNARY_OP(TanhOp)
SOAP_UNARY_OP(ExpOp)
SOAP_UNARY_OP(LogOp)
SOAP_UNARY_OP(NegOp)
SOAP_UNARY_OP(SqrtOp)
SOAP_UNARY_OP(ErfOp)
#undef SOAP_UNARY_OP

static LogicalResult inferBinary(const Checker &c, Value lhs, Value rhs,
                                 SmallVectorImpl<Type> &results) {
  auto a = c.tensor(lhs, "lhs");
  auto b = c.tensor(rhs, "rhs");
  if (failed(a) || failed(b) || failed(c.sameElementType(*a, *b, "rhs")))
    return failure();
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(a->getShape(), b->getShape(), shape))
    return c.error("shapes [", a->getShape(), "] and [", b->getShape(),
                   "] do not broadcast");
  results.push_back(RankedTensorType::get(shape, a->getElementType()));
  return success();
}

/// FLOPs per result element. Forward: 1, pow 3 (exp(b log a)). Backward:
/// add/sub pass the gradient through (the count covers the sum over
/// broadcast axes); mul needs a product per operand; div a quotient and, for
/// the divisor, three more; pow b a^(b-1) dy and a^b log(a) dy.
#define SOAP_BINARY_OP(OP, FWD, BWD)                                           \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferBinary(checker<OP>(loc), adaptor.getLhs(), adaptor.getRhs(),   \
                       results);                                               \
  }                                                                            \
  SmallVector<ParallelDim> OP::getParallelDims() {                             \
    return elementwiseDims(getResult());                                       \
  }                                                                            \
  int64_t OP::getForwardFlops() { return FWD * numel(getResult()); }           \
  int64_t OP::getBackwardFlops() { return BWD * numel(getResult()); }
SOAP_BINARY_OP(AddOp, 1, 1)
SOAP_BINARY_OP(SubOp, 1, 1)
SOAP_BINARY_OP(MulOp, 1, 2)
SOAP_BINARY_OP(DivOp, 1, 4)
SOAP_BINARY_OP(PowOp, 3, 6)
#undef SOAP_BINARY_OP

/// A comparison's or logical op's result: the broadcast shape, booleans.
static LogicalResult inferPredicate(const Checker &c, Value lhs, Value rhs,
                                    SmallVectorImpl<Type> &results) {
  SmallVector<Type> numbers;
  if (failed(inferBinary(c, lhs, rhs, numbers)))
    return failure();
  auto t = cast<RankedTensorType>(numbers[0]);
  results.push_back(
      RankedTensorType::get(t.getShape(), IntegerType::get(t.getContext(), 1)));
  return success();
}

// Comparisons and logical ops: one operation per element, no gradient.
#define SOAP_PREDICATE_OP(OP)                                                  \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferPredicate(checker<OP>(loc), adaptor.getLhs(),                  \
                          adaptor.getRhs(), results);                          \
  }                                                                            \
  SmallVector<ParallelDim> OP::getParallelDims() {                             \
    return elementwiseDims(getResult());                                       \
  }                                                                            \
  int64_t OP::getForwardFlops() { return numel(getResult()); }                 \
  int64_t OP::getBackwardFlops() { return 0; }
SOAP_PREDICATE_OP(EqualOp)
SOAP_PREDICATE_OP(LessOp)
SOAP_PREDICATE_OP(LessEqualOp)
SOAP_PREDICATE_OP(GreaterOp)
SOAP_PREDICATE_OP(GreaterEqualOp)
SOAP_PREDICATE_OP(AndOp)
SOAP_PREDICATE_OP(OrOp)
SOAP_PREDICATE_OP(XorOp)
#undef SOAP_PREDICATE_OP

LogicalResult NotOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  return inferUnary(checker<NotOp>(loc), adaptor.getInput(), results);
}
SmallVector<ParallelDim> NotOp::getParallelDims() {
  return elementwiseDims(getResult());
}
int64_t NotOp::getForwardFlops() { return numel(getResult()); }
int64_t NotOp::getBackwardFlops() { return 0; }

LogicalResult CastOp::verify() {
  auto in = getInput().getType(), out = getResult().getType();
  if (in.getShape() != out.getShape())
    return emitOpError("result shape [")
           << out.getShape() << "] differs from the input's ["
           << in.getShape() << "]";
  return success();
}
SmallVector<ParallelDim> CastOp::getParallelDims() {
  return elementwiseDims(getResult());
}
// One conversion per element; backward converts the gradient back (none
// when either side is an integer type).
int64_t CastOp::getForwardFlops() { return numel(getResult()); }
int64_t CastOp::getBackwardFlops() {
  bool floats = isa<FloatType>(getInput().getType().getElementType()) &&
                isa<FloatType>(getResult().getType().getElementType());
  return floats ? numel(getResult()) : 0;
}

LogicalResult
SoftmaxOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<SoftmaxOp>(loc);
  if (failed(completeAdaptor<SoftmaxOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x) ||
      failed(c.axis(static_cast<int64_t>(adaptor.getAxis()), x->getRank(),
                    "axis")))
    return failure();
  results.push_back(*x);
  return success();
}

SmallVector<ParallelDim> SoftmaxOp::getParallelDims() {
  SmallVector<ParallelDim> dims;
  auto s = shapeOf(getResult());
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0)
    axis += s.size();
  addDataDims(dims, s, s.size(), {axis});
  return dims;
}

int64_t SoftmaxOp::getForwardFlops() { return 5 * numel(getResult()); }
int64_t SoftmaxOp::getBackwardFlops() { return 4 * numel(getResult()); }

/// A dropout ratio must be a probability below 1.
static LogicalResult checkDropoutRatio(const Checker &c, FloatAttr ratioAttr) {
  if (failed(c.require(ratioAttr, "ratio")))
    return failure();
  double ratio = ratioAttr.getValueAsDouble();
  if (!(ratio >= 0.0 && ratio < 1.0))
    return c.error("ratio must be in [0, 1), got ", ratio);
  return success();
}

LogicalResult
DropoutOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<DropoutOp>(loc);
  if (failed(completeAdaptor<DropoutOp>(ctx, loc, adaptor)))
    return failure();
  if (failed(checkDropoutRatio(c, adaptor.getRatioAttr())))
    return failure();
  return inferUnary(c, adaptor.getInput(), results);
}

SmallVector<ParallelDim> DropoutOp::getParallelDims() {
  return elementwiseDims(getResult());
}
// Mask generation and the scaled product; backward applies the mask.
int64_t DropoutOp::getForwardFlops() { return 2 * numel(getResult()); }
int64_t DropoutOp::getBackwardFlops() { return numel(getResult()); }

LogicalResult DropoutMaskOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto c = checker<DropoutMaskOp>(loc);
  if (failed(completeAdaptor<DropoutMaskOp>(ctx, loc, adaptor)) ||
      failed(checkDropoutRatio(c, adaptor.getRatioAttr())))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x))
    return failure();
  results.push_back(RankedTensorType::get(x->getShape(),
                                          IntegerType::get(ctx, 1)));
  return success();
}

SmallVector<ParallelDim> DropoutMaskOp::getParallelDims() {
  return elementwiseDims(getResult());
}
// Mask generation only: the input's values are not read.
int64_t DropoutMaskOp::getForwardFlops() { return numel(getResult()); }
int64_t DropoutMaskOp::getBackwardFlops() { return 0; }
int64_t DropoutMaskOp::getBytesRead() { return 0; }

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType(), out = getResult().getType();
  if (in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ")
           << in << " (" << in.getNumElements() << " elements) to " << out
           << " (" << out.getNumElements() << " elements)";
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type from ")
           << in.getElementType() << " to " << out.getElementType();
  return success();
}

SmallVector<ParallelDim> ReshapeOp::getParallelDims() {
  auto in = shapeOf(getInput()), out = shapeOf(getResult());
  return batchOnly(getResult(), !in.empty() && !out.empty() && in[0] == out[0]);
}
int64_t ReshapeOp::getForwardFlops() { return 0; }
int64_t ReshapeOp::getBackwardFlops() { return 0; }
int64_t ReshapeOp::getBytesRead() { return 0; }
int64_t ReshapeOp::getBytesWritten() { return 0; }

LogicalResult
FlattenOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<FlattenOp>(loc);
  if (failed(completeAdaptor<FlattenOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x))
    return failure();
  int64_t axis = static_cast<int64_t>(adaptor.getAxis());
  int64_t rank = x->getRank();
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return c.error("axis ", static_cast<int64_t>(adaptor.getAxis()),
                   " is out of range [", -rank, ", ", rank, "]");
  auto shape = x->getShape();
  results.push_back(RankedTensorType::get(
      {product(shape.take_front(axis)), product(shape.drop_front(axis))},
      x->getElementType()));
  return success();
}

SmallVector<ParallelDim> FlattenOp::getParallelDims() {
  int64_t axis = static_cast<int64_t>(getAxis());
  auto in = shapeOf(getInput()), out = shapeOf(getResult());
  if (axis < 0)
    axis += in.size();
  // The batch splits the input's axis 0 as the result's only where they
  // are the same axis (the axes before `axis` besides the first are 1).
  return batchOnly(getResult(),
                   axis >= 1 && !in.empty() && !out.empty() && in[0] == out[0]);
}
int64_t FlattenOp::getForwardFlops() { return 0; }
int64_t FlattenOp::getBackwardFlops() { return 0; }
int64_t FlattenOp::getBytesRead() { return 0; }
int64_t FlattenOp::getBytesWritten() { return 0; }

LogicalResult
TransposeOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                              Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<TransposeOp>(loc);
  if (failed(completeAdaptor<TransposeOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x))
    return failure();
  if (failed(c.require(adaptor.getPermutationAttr(), "permutation")))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  int64_t rank = x->getRank();
  if (static_cast<int64_t>(perm.size()) != rank)
    return c.error("permutation has ", perm.size(), " entries for rank ", rank);
  llvm::SmallSet<int64_t, 8> seen;
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || !seen.insert(p).second)
      return c.error("[", perm, "] is not a permutation of 0..", rank - 1);
    shape.push_back(x->getDimSize(p));
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

SmallVector<ParallelDim> TransposeOp::getParallelDims() {
  auto perm = getPermutation();
  return batchOnly(getResult(), !perm.empty() && perm[0] == 0);
}
int64_t TransposeOp::getForwardFlops() { return 0; }
int64_t TransposeOp::getBackwardFlops() { return 0; }

LogicalResult
ConcatOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                           Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<ConcatOp>(loc);
  if (failed(completeAdaptor<ConcatOp>(ctx, loc, adaptor)))
    return failure();
  auto inputs = adaptor.getInputs();
  if (failed(c.require(adaptor.getAxisAttr(), "axis")))
    return failure();
  if (inputs.empty())
    return c.error("needs at least one input");
  auto first = c.tensor(inputs[0], "input");
  if (failed(first))
    return failure();
  auto axis = c.axis(static_cast<int64_t>(adaptor.getAxis()),
                     first->getRank(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  shape[*axis] = 0;
  for (auto [i, v] : llvm::enumerate(inputs)) {
    auto t = c.tensor(v, "input");
    if (failed(t))
      return failure();
    if (t->getRank() != first->getRank() ||
        t->getElementType() != first->getElementType())
      return c.error("input #", i, " (", Type(*t),
                     ") differs in rank or element type from input #0 (",
                     Type(*first), ")");
    for (int64_t d = 0, e = t->getRank(); d < e; ++d)
      if (d != *axis && t->getDimSize(d) != first->getDimSize(d))
        return c.error("input #", i, " has size ", t->getDimSize(d),
                       " on axis ", d, ", input #0 has ", first->getDimSize(d));
    shape[*axis] += t->getDimSize(*axis);
  }
  results.push_back(RankedTensorType::get(shape, first->getElementType()));
  return success();
}

SmallVector<ParallelDim> ConcatOp::getParallelDims() {
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0)
    axis += shapeOf(getResult()).size();
  return batchOnly(getResult(), axis != 0);
}
int64_t ConcatOp::getForwardFlops() { return 0; }
int64_t ConcatOp::getBackwardFlops() { return 0; }

LogicalResult
SplitOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                          Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<SplitOp>(loc);
  if (failed(completeAdaptor<SplitOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x) || failed(c.require(adaptor.getAxisAttr(), "axis")) ||
      failed(c.require(adaptor.getSizesAttr(), "sizes")))
    return failure();
  auto axis = c.axis(static_cast<int64_t>(adaptor.getAxis()), x->getRank(),
                     "axis");
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> sizes = adaptor.getSizes();
  if (sizes.empty() || llvm::any_of(sizes, [](int64_t s) { return s < 1; }))
    return c.error("sizes must be one or more positive values, got [", sizes,
                   "]");
  int64_t total = 0;
  for (int64_t s : sizes)
    if (llvm::AddOverflow(total, s, total))
      return c.error("sizes overflow 64 bits, got [", sizes, "]");
  if (total != x->getDimSize(*axis))
    return c.error("sizes add up to ", total, " but axis ", *axis, " has ",
                   x->getDimSize(*axis));
  for (int64_t s : sizes) {
    SmallVector<int64_t> shape(x->getShape());
    shape[*axis] = s;
    results.push_back(RankedTensorType::get(shape, x->getElementType()));
  }
  return success();
}

SmallVector<ParallelDim> SplitOp::getParallelDims() {
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0)
    axis += shapeOf(getInput()).size();
  return batchOnly(getResult(0), axis != 0);
}
int64_t SplitOp::getForwardFlops() { return 0; }
int64_t SplitOp::getBackwardFlops() { return 0; }

LogicalResult
SliceOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                          Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<SliceOp>(loc);
  if (failed(completeAdaptor<SliceOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensor(adaptor.getInput(), "input");
  if (failed(x))
    return failure();
  if (failed(c.require(adaptor.getStartsAttr(), "starts")) ||
      failed(c.require(adaptor.getEndsAttr(), "ends")))
    return failure();
  int64_t rank = x->getRank();
  ArrayRef<int64_t> starts = adaptor.getStarts(), ends = adaptor.getEnds();
  SmallVector<int64_t> steps(rank, 1);
  if (auto s = adaptor.getSteps())
    steps.assign(s->begin(), s->end());
  if (static_cast<int64_t>(starts.size()) != rank ||
      static_cast<int64_t>(ends.size()) != rank ||
      static_cast<int64_t>(steps.size()) != rank)
    return c.error("starts, ends and steps need one entry per axis (", rank,
                   ")");
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = x->getDimSize(d);
    if (steps[d] == 0)
      return c.error("axis ", d, ": the step is 0");
    if (steps[d] > 0 &&
        !(0 <= starts[d] && starts[d] <= ends[d] && ends[d] <= size))
      return c.error("axis ", d, ": need 0 <= start (", starts[d],
                     ") <= end (", ends[d], ") <= size (", size,
                     ") for step ", steps[d]);
    if (steps[d] < 0 &&
        !(-1 <= ends[d] && ends[d] <= starts[d] && starts[d] < size))
      return c.error("axis ", d, ": need -1 <= end (", ends[d],
                     ") <= start (", starts[d], ") < size (", size,
                     ") for the negative step ", steps[d]);
    shape.push_back(steps[d] > 0
                        ? llvm::divideCeil(ends[d] - starts[d], steps[d])
                        : llvm::divideCeil(starts[d] - ends[d], -steps[d]));
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

SmallVector<ParallelDim> SliceOp::getParallelDims() {
  auto in = shapeOf(getInput()), out = shapeOf(getResult());
  // Axis 0 whole and in order (a reversed axis 0 is whole too, but its
  // rows change shards).
  bool forward = !getSteps() || getSteps()->empty() || (*getSteps())[0] > 0;
  return batchOnly(getResult(), !in.empty() && in[0] == out[0] && forward);
}
int64_t SliceOp::getForwardFlops() { return 0; }
int64_t SliceOp::getBackwardFlops() { return 0; }

static LogicalResult inferReduce(const Checker &c, Value input,
                                 DenseI64ArrayAttr axesAttr, bool keepDims,
                                 SmallVectorImpl<Type> &results) {
  auto x = c.tensor(input, "input");
  if (failed(x) || failed(c.require(axesAttr, "axes")))
    return failure();
  ArrayRef<int64_t> axes = axesAttr.asArrayRef();
  llvm::SmallSet<int64_t, 8> reduced;
  for (int64_t a : axes) {
    auto axis = c.axis(a, x->getRank(), "axis");
    if (failed(axis))
      return failure();
    if (!reduced.insert(*axis).second)
      return c.error("axis ", *axis, " is listed twice");
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0, e = x->getRank(); d < e; ++d) {
    if (!reduced.contains(d))
      shape.push_back(x->getDimSize(d));
    else if (keepDims)
      shape.push_back(1);
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

static bool reducesAxis0(ArrayRef<int64_t> axes, int64_t rank) {
  return llvm::any_of(axes, [&](int64_t a) { return a == 0 || a == -rank; });
}

#define SOAP_REDUCE_OP(OP)                                                     \
  LogicalResult OP::inferReturnTypes(MLIRContext *ctx,                        \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    if (failed(completeAdaptor<OP>(ctx, loc, adaptor)))                        \
      return failure();                                                        \
    return inferReduce(checker<OP>(loc), adaptor.getInput(),                   \
                       adaptor.getAxesAttr(), adaptor.getKeepDims(), results); \
  }                                                                            \
  SmallVector<ParallelDim> OP::getParallelDims() {                             \
    return batchOnly(getResult(),                                              \
                     !reducesAxis0(getAxes(), shapeOf(getInput()).size()));    \
  }                                                                            \
  int64_t OP::getForwardFlops() { return numel(getInput()); }                  \
  int64_t OP::getBackwardFlops() { return numel(getInput()); }
SOAP_REDUCE_OP(ReduceSumOp)
SOAP_REDUCE_OP(ReduceMeanOp)
SOAP_REDUCE_OP(ReduceMaxOp)
#undef SOAP_REDUCE_OP

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

LogicalResult
TopKGateOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                             Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<TopKGateOp>(loc);
  if (failed(completeAdaptor<TopKGateOp>(ctx, loc, adaptor)))
    return failure();
  auto logits = c.tensorOfRank(adaptor.getLogits(), "logits", 2);
  if (failed(logits) || failed(c.require(adaptor.getKAttr(), "k")))
    return failure();
  int64_t k = static_cast<int64_t>(adaptor.getK());
  int64_t experts = logits->getDimSize(1);
  if (k < 1 || k > experts)
    return c.error("k (", k, ") must be in [1, ", experts, "]");
  int64_t tokens = logits->getDimSize(0);
  results.push_back(
      RankedTensorType::get({tokens, k}, logits->getElementType()));
  results.push_back(
      RankedTensorType::get({tokens, k}, IntegerType::get(ctx, 64)));
  return success();
}

SmallVector<ParallelDim> TopKGateOp::getParallelDims() {
  return batchOnly(getWeights(), true);
}
// Softmax over the experts (5 per logit), then k passes of a max.
int64_t TopKGateOp::getForwardFlops() {
  int64_t n = numel(getLogits());
  return 5 * n + static_cast<int64_t>(getK()) * n;
}
int64_t TopKGateOp::getBackwardFlops() { return 4 * numel(getLogits()); }

LogicalResult
ExpertsOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<ExpertsOp>(loc);
  if (failed(completeAdaptor<ExpertsOp>(ctx, loc, adaptor)))
    return failure();
  auto x = c.tensorOfRank(adaptor.getInput(), "input", 2);
  auto gw = c.tensorOfRank(adaptor.getGateWeights(), "gate_weights", 2);
  auto gi = c.tensorOfRank(adaptor.getGateIndices(), "gate_indices", 2);
  auto w1 = c.tensorOfRank(adaptor.getW1(), "w1", 3);
  auto w2 = c.tensorOfRank(adaptor.getW2(), "w2", 3);
  if (failed(x) || failed(gw) || failed(gi) || failed(w1) || failed(w2))
    return failure();
  int64_t t = x->getDimSize(0), d = x->getDimSize(1);
  if (gw->getShape() != gi->getShape() || gw->getDimSize(0) != t)
    return c.error("gate_weights and gate_indices must both be [", t,
                   ", k], got ", Type(*gw), " and ", Type(*gi));
  if (!gi->getElementType().isInteger())
    return c.error("gate_indices must be integers");
  int64_t e = w1->getDimSize(0), f = w1->getDimSize(2);
  if (e < 1)
    return c.error("needs at least one expert, w1 is ", Type(*w1));
  if (w1->getDimSize(1) != d)
    return c.error("w1 must be [E, ", d, ", F], got ", Type(*w1));
  if (w2->getShape() != ArrayRef<int64_t>{e, f, d})
    return c.error("w2 must be [", e, ", ", f, ", ", d, "], got ", Type(*w2));
  Type elt = x->getElementType();
  if (gw->getElementType() != elt || w1->getElementType() != elt ||
      w2->getElementType() != elt)
    return c.error("input, gate_weights, w1 and w2 need one element type");
  if (gw->getDimSize(1) > e)
    return c.error("k (", gw->getDimSize(1), ") exceeds the experts (", e, ")");
  if (!(adaptor.getCapacityFactor().convertToDouble() > 0.0))
    return c.error("capacity_factor must be positive");
  results.push_back(*x);
  return success();
}

int64_t ExpertsOp::getCapacity() {
  int64_t t = shapeOf(getInput())[0], k = shapeOf(getGateWeights())[1];
  int64_t e = shapeOf(getW1())[0];
  double cap = getCapacityFactor().convertToDouble() * double(t * k) / double(e);
  // An expert sees each token at most once (top-k picks distinct experts),
  // so no capacity exceeds the token count; this also bounds huge factors.
  if (!(cap < double(t)))
    return t;
  return static_cast<int64_t>(std::ceil(cap));
}

SmallVector<ParallelDim> ExpertsOp::getParallelDims() {
  return {{"batch", DimTag::Sample, shapeOf(getResult())[0], 0},
          {"expert", DimTag::Parameter, shapeOf(getW1())[0], -1}};
}

namespace {
struct ExpertCost {
  int64_t macs, activation, combine;
};
} // namespace

static ExpertCost expertCost(ExpertsOp op) {
  auto w1 = shapeOf(op.getW1());
  int64_t e = w1[0], d = w1[1], f = w1[2];
  int64_t slots = e * op.getCapacity();
  int64_t combine = numel(op.getGateWeights()) * d;
  return {slots * 2 * d * f, slots * f, combine};
}

int64_t ExpertsOp::getForwardFlops() {
  auto c = expertCost(*this);
  return 2 * c.macs + c.activation + 2 * c.combine;
}
int64_t ExpertsOp::getBackwardFlops() {
  auto c = expertCost(*this);
  return 4 * c.macs + 2 * c.activation + 3 * c.combine;
}
SmallVector<unsigned> ExpertsOp::getParameterOperandIndices() { return {3, 4}; }

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxCrossEntropyOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto c = checker<SoftmaxCrossEntropyOp>(loc);
  auto logits = c.tensor(adaptor.getLogits(), "logits");
  auto labels = c.tensor(adaptor.getLabels(), "labels");
  if (failed(logits) || failed(labels))
    return failure();
  if (logits->getRank() < 1)
    return c.error("logits must have rank >= 1");
  if (labels->getShape() != logits->getShape().drop_back())
    return c.error("labels must be [", logits->getShape().drop_back(),
                   "] (the logits without the class axis), got ",
                   Type(*labels));
  if (!labels->getElementType().isInteger())
    return c.error("labels must be integer class indices");
  if (Value w = adaptor.getWeight()) {
    auto weight = c.tensor(w, "weight");
    if (failed(weight) || failed(c.sameElementType(*logits, *weight, "weight")))
      return failure();
    int64_t classes = logits->getShape().back();
    if (weight->getRank() != 1 || weight->getDimSize(0) != classes)
      return c.error("weight must be [", classes,
                     "] (one weight per class), got ", Type(*weight));
  }
  StringRef reduction = adaptor.getReduction().value_or("mean");
  if (reduction == "none")
    results.push_back(
        RankedTensorType::get(labels->getShape(), logits->getElementType()));
  else if (reduction == "mean" || reduction == "sum")
    results.push_back(RankedTensorType::get({}, logits->getElementType()));
  else
    return c.error("reduction must be \"mean\", \"sum\" or \"none\", got \"",
                   reduction, "\"");
  return success();
}

bool SoftmaxCrossEntropyOp::hasWeightedMean() {
  return getReductionKind() == "mean" && (getWeight() || getIgnoreIndex());
}

SmallVector<ParallelDim> SoftmaxCrossEntropyOp::getParallelDims() {
  auto s = shapeOf(getLogits());
  // The weighted mean divides by a sum over every shard's labels.
  if (s.size() < 2 || hasWeightedMean())
    return {};
  return {{"batch", DimTag::Sample, s[0],
           getReductionKind() == "none" ? 0 : -1}};
}
// log-softmax (6 per logit) and the pick; backward: softmax minus one-hot.
// Class weights: a product per position, forward and backward.
int64_t SoftmaxCrossEntropyOp::getForwardFlops() {
  return 6 * numel(getLogits()) + (getWeight() ? numel(getLabels()) : 0);
}
int64_t SoftmaxCrossEntropyOp::getBackwardFlops() {
  return 2 * numel(getLogits()) + (getWeight() ? numel(getLabels()) : 0);
}

LogicalResult
MseLossOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  auto c = checker<MseLossOp>(loc);
  auto p = c.tensor(adaptor.getPrediction(), "prediction");
  auto t = c.tensor(adaptor.getTarget(), "target");
  if (failed(p) || failed(t))
    return failure();
  if (*p != *t)
    return c.error("prediction ", Type(*p), " and target ", Type(*t),
                   " must have the same type");
  results.push_back(RankedTensorType::get({}, p->getElementType()));
  return success();
}

SmallVector<ParallelDim> MseLossOp::getParallelDims() {
  auto s = shapeOf(getPrediction());
  if (s.empty())
    return {};
  return {{"batch", DimTag::Sample, s[0], -1}};
}
int64_t MseLossOp::getForwardFlops() { return 3 * numel(getPrediction()); }
int64_t MseLossOp::getBackwardFlops() { return 2 * numel(getPrediction()); }

//===----------------------------------------------------------------------===//
// Parallel ops
//===----------------------------------------------------------------------===//

static LogicalResult verifyDimParallel(Operation *op, RankedTensorType type,
                                       int64_t dim, int64_t degree) {
  if (degree < 1)
    return op->emitOpError("degree must be positive, got ") << degree;
  if (dim < 0 || dim >= type.getRank())
    return op->emitOpError("dim ")
           << dim << " is out of range for rank " << type.getRank();
  if (type.getDimSize(dim) % degree != 0)
    return op->emitOpError("degree ")
           << degree << " does not divide dimension " << dim << " of size "
           << type.getDimSize(dim);
  return success();
}

LogicalResult RepartitionOp::verify() {
  return verifyDimParallel(*this, getInput().getType(),
                           static_cast<int64_t>(getDim()),
                           static_cast<int64_t>(getDegree()));
}
LogicalResult CombineOp::verify() {
  return verifyDimParallel(*this, getInput().getType(),
                           static_cast<int64_t>(getDim()),
                           static_cast<int64_t>(getDegree()));
}

static LogicalResult verifyReplicaParallel(Operation *op, int64_t degree) {
  if (degree < 1)
    return op->emitOpError("degree must be positive, got ") << degree;
  return success();
}
LogicalResult ReplicateOp::verify() {
  return verifyReplicaParallel(*this, static_cast<int64_t>(getDegree()));
}
LogicalResult ReduceOp::verify() {
  return verifyReplicaParallel(*this, static_cast<int64_t>(getDegree()));
}
LogicalResult AllReduceOp::verify() {
  return verifyReplicaParallel(*this, static_cast<int64_t>(getDegree()));
}

//===----------------------------------------------------------------------===//
// Generated definitions
//===----------------------------------------------------------------------===//

#include "soap/Dialect/Soap/SoapEnums.cpp.inc"
#include "soap/Dialect/Soap/SoapInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "soap/Dialect/Soap/SoapOps.cpp.inc"
