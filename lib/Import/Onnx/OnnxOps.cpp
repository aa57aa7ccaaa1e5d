//===- OnnxOps.cpp - one converter per ONNX op type -----------------------===//
//
// Each converter handles every opset from 7 to 17 of its op type (older
// models are converted to opset 7 first). It folds when its inputs are known
// at import time (constants and shape arithmetic), and otherwise builds soap
// ops, or reports a documented limitation (getOnnxLimitations()).
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "soap/Dialect/Soap/SoapOps.h"

#include "onnx/onnx_pb.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace soap;
using namespace soap::onnx_import;

using Im = Importer;

static int64_t normalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

/// The axis attribute (or value) normalized into [0, rank), or an error.
static FailureOr<int64_t> checkedAxis(Im &im, int64_t axis, int64_t rank,
                                      bool allowRank = false) {
  int64_t a = normalizeAxis(axis, rank);
  if (a < 0 || a > rank || (a == rank && !allowRank))
    return im.nodeError() << "axis " << axis << " is out of range for rank "
                          << rank;
  return a;
}

static SmallVector<int64_t> iota(int64_t from, int64_t to) {
  SmallVector<int64_t> out;
  for (int64_t i = from; i < to; ++i)
    out.push_back(i);
  return out;
}

/// All present inputs, known and foldable; `out` gets them (null for absent
/// optional inputs). False when one of them is not foldable.
static FailureOr<bool> foldableInputs(Im &im,
                                      SmallVectorImpl<const ConstTensor *> &out) {
  for (int i = 0; i < im.numInputs(); ++i) {
    if (!im.hasInput(i)) {
      out.push_back(nullptr);
      continue;
    }
    if (!im.isFoldable(i))
      return false;
    auto known = im.knownInput(i);
    if (failed(known))
      return failure();
    out.push_back(*known);
  }
  return true;
}

/// Checks that known operands broadcast together (NumPy rules).
static LogicalResult checkBroadcast(Im &im, ArrayRef<const ConstTensor *> ins) {
  SmallVector<int64_t> shape;
  for (const ConstTensor *t : ins) {
    SmallVector<int64_t> next;
    if (!broadcastShapes(shape, t->shape, next))
      return im.nodeError() << "inconsistent shapes: the operands do not "
                               "broadcast together";
    shape = next;
  }
  return success();
}

/// Elementwise map of one or more tensors with NumPy broadcasting (checked
/// by checkBroadcast).
static ConstTensor foldElementwise(
    ArrayRef<const ConstTensor *> ins, int32_t outDType,
    const std::function<double(ArrayRef<double>)> &f,
    const std::function<int64_t(ArrayRef<int64_t>)> &fi) {
  SmallVector<int64_t> shape;
  for (const ConstTensor *t : ins) {
    SmallVector<int64_t> next;
    broadcastShapes(shape, t->shape, next);
    shape = next;
  }
  bool allSplat = llvm::all_of(ins, [](const ConstTensor *t) { return t->splat; });
  bool useInts = fi && llvm::all_of(ins, [](const ConstTensor *t) {
                   return t->isInteger();
                 });
  int64_t n = allSplat ? 1 : shapeNumElements(shape);
  std::vector<double> doubles;
  SmallVector<int64_t> ints;
  SmallVector<double, 4> dargs(ins.size());
  SmallVector<int64_t, 4> iargs(ins.size());
  for (int64_t o = 0; o < n; ++o) {
    for (auto [k, t] : llvm::enumerate(ins)) {
      int64_t idx = t->splat ? 0 : broadcastSourceIndex(o, shape, t->shape);
      if (useInts)
        iargs[k] = t->getInt(idx);
      else
        dargs[k] = t->getDouble(idx);
    }
    if (useInts)
      ints.push_back(fi(iargs));
    else
      doubles.push_back(f(dargs));
  }
  ConstTensor out =
      useInts ? ConstTensor::fromInts(outDType, {n}, ints)
              : ConstTensor::fromDoubles(outDType, {n}, doubles);
  out.shape.assign(shape.begin(), shape.end());
  out.splat = allSplat && shapeNumElements(shape) != 1;
  return out;
}

/// Strided slice of a known tensor: result element at index (i_0, ...) is
/// element (starts[d] + i_d * steps[d]) of the input.
static ConstTensor sliceConst(const ConstTensor &in, ArrayRef<int64_t> starts,
                              ArrayRef<int64_t> steps,
                              ArrayRef<int64_t> outShape) {
  ConstTensor src = in.expanded();
  ConstTensor out;
  out.dtype = in.dtype;
  out.shape.assign(outShape.begin(), outShape.end());
  int64_t size = dtypeSize(in.dtype), n = shapeNumElements(outShape);
  out.data.resize(n * size);
  auto inStrides = rowMajorStrides(in.shape);
  auto outStrides = rowMajorStrides(outShape);
  for (int64_t o = 0; o < n; ++o) {
    int64_t rem = o, idx = 0;
    for (size_t d = 0; d < outShape.size(); ++d) {
      int64_t i = rem / outStrides[d];
      rem %= outStrides[d];
      idx += (starts[d] + i * steps[d]) * inStrides[d];
    }
    std::memcpy(out.data.data() + o * size, src.data.data() + idx * size, size);
  }
  return out;
}

/// Concatenation of known tensors along `axis`.
static ConstTensor concatConst(ArrayRef<const ConstTensor *> ins, int64_t axis) {
  ConstTensor out;
  out.dtype = ins[0]->dtype;
  out.shape = ins[0]->shape;
  out.shape[axis] = 0;
  for (const ConstTensor *t : ins)
    out.shape[axis] += t->shape[axis];
  int64_t size = dtypeSize(out.dtype);
  int64_t outer = shapeNumElements(ArrayRef<int64_t>(out.shape).take_front(axis));
  for (int64_t o = 0; o < outer; ++o)
    for (const ConstTensor *t : ins) {
      ConstTensor e = t->expanded();
      int64_t inner =
          shapeNumElements(ArrayRef<int64_t>(t->shape).drop_front(axis)) * size;
      out.data.insert(out.data.end(), e.data.begin() + o * inner,
                      e.data.begin() + (o + 1) * inner);
    }
  return out;
}

//===----------------------------------------------------------------------===//
// Constants and shape arithmetic
//===----------------------------------------------------------------------===//

static LogicalResult convertConstant(Im &im) {
  if (const auto *a = im.attr("value")) {
    auto t = im.decode(a->t());
    if (failed(t))
      return failure();
    return im.setOutput(0, std::move(*t));
  }
  if (const auto *a = im.attr("value_float"))
    return im.setOutput(0, ConstTensor::fromDoubles(kFloat, {}, {a->f()}));
  if (const auto *a = im.attr("value_floats")) {
    SmallVector<double> v(a->floats().begin(), a->floats().end());
    return im.setOutput(
        0, ConstTensor::fromDoubles(kFloat, {int64_t(v.size())}, v));
  }
  if (const auto *a = im.attr("value_int"))
    return im.setOutput(0, ConstTensor::fromInts(kInt64, {}, {a->i()}));
  if (const auto *a = im.attr("value_ints")) {
    SmallVector<int64_t> v(a->ints().begin(), a->ints().end());
    return im.setOutput(0,
                        ConstTensor::fromInts(kInt64, {int64_t(v.size())}, v));
  }
  if (im.hasAttr("sparse_value") || im.hasAttr("value_string") ||
      im.hasAttr("value_strings"))
    return im.limitation("dtype", "sparse and string constants are not "
                                  "supported");
  return im.nodeError() << "has no value attribute";
}

static LogicalResult convertIdentity(Im &im) { return im.forwardInput(0, 0); }

static LogicalResult convertShape(Im &im) {
  ArrayRef<int64_t> shape = im.inputShape(0);
  int64_t rank = shape.size();
  int64_t start = im.attrInt("start", 0), end = im.attrInt("end", rank);
  auto clampAxis = [&](int64_t a) {
    a = a < 0 ? a + rank : a;
    return std::clamp<int64_t>(a, 0, rank);
  };
  start = clampAxis(start);
  end = std::max(clampAxis(end), start);
  SmallVector<int64_t> dims(shape.begin() + start, shape.begin() + end);
  return im.setOutput(
      0, ConstTensor::fromInts(kInt64, {int64_t(dims.size())}, dims));
}

static LogicalResult convertSize(Im &im) {
  return im.setOutput(0, ConstTensor::fromInts(
                             kInt64, {}, {shapeNumElements(im.inputShape(0))}));
}

static LogicalResult convertConstantOfShape(Im &im) {
  auto shape = im.requireKnownInts(0, "shape");
  if (failed(shape))
    return failure();
  int32_t dtype = kFloat;
  double value = 0.0;
  if (const auto *a = im.attr("value")) {
    auto t = im.decode(a->t());
    if (failed(t))
      return failure();
    if (t->numElements() != 1)
      return im.nodeError() << "'value' must hold one element";
    dtype = t->dtype;
    value = t->getDouble(0);
  }
  for (int64_t d : *shape)
    if (d < 0)
      return im.nodeError() << "the shape has a negative dimension " << d;
  return im.setOutput(0, ConstTensor::splatOf(dtype, *shape, value));
}

/// soap.cast of `value` to the soap dtype `to` (its result type is the
/// value's shape with the new element type).
static FailureOr<Value> castValue(Im &im, Value value, int32_t to,
                                  StringRef role) {
  auto type = RankedTensorType::get(
      cast<RankedTensorType>(value.getType()).getShape(),
      dtypeToMlir(to, im.getContext()));
  auto op = im.createOp(CastOp::getOperationName(), {value}, {}, 1, role);
  if (failed(op))
    return failure();
  (*op)->getResult(0).setType(type);
  return (*op)->getResult(0);
}

static LogicalResult castTo(Im &im, int32_t to) {
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    if (dtypeSize(to) == 0)
      return im.limitation("dtype", "cast to " + dtypeName(to) +
                                        " is not supported");
    return im.setOutput(0, (*known)->castTo(to));
  }
  if (im.inputDType(0) == to)
    return im.forwardInput(0, 0);
  int32_t from = im.inputDType(0);
  if (!isSoapDType(from) || !isSoapDType(to))
    return im.limitation("dtype", "casts a runtime tensor from " +
                                      dtypeName(from) + " to " +
                                      dtypeName(to) + "; soap tensors hold " +
                                      "FLOAT, FLOAT16, BFLOAT16, DOUBLE, " +
                                      "INT32, INT64 and BOOL");
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = castValue(im, *x, to, "");
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertCast(Im &im) {
  return castTo(im, static_cast<int32_t>(im.attrInt("to", kUndefined)));
}

static LogicalResult convertCastLike(Im &im) {
  return castTo(im, im.inputDType(1));
}

/// Ops that soap folds at import only.
static LogicalResult foldOnly(Im &im, int32_t outDType,
                              const std::function<double(ArrayRef<double>)> &f,
                              const std::function<int64_t(ArrayRef<int64_t>)> &fi) {
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (!*all)
    return im.limitation("fold-only", im.opType() +
                                          " is folded at import time only, "
                                          "and an input is a runtime value");
  if (failed(checkBroadcast(im, ins)))
    return failure();
  return im.setOutput(0, foldElementwise(ins, outDType, f, fi));
}

/// OpTy of the node's inputs `inputs` as output 0. Known inputs become
/// constants (not weights: these ops have no parameters).
template <typename OpTy>
static LogicalResult opOfInputs(Im &im, ArrayRef<int> inputs) {
  SmallVector<Value> operands;
  for (int i : inputs) {
    auto v = im.valueOf(i, WeightRole::Buffer);
    if (failed(v))
      return failure();
    operands.push_back(*v);
  }
  auto y = im.create<OpTy>(operands);
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

/// A comparison or logical op: folded when every input is known, else
/// `OpTy` on the runtime values (a boolean result). `operandsBool`: the
/// operands must be booleans (And, Or, Xor), else numbers of one soap type.
template <typename OpTy>
static LogicalResult predicate(Im &im, bool operandsBool,
                               bool (*f)(double, double)) {
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (*all) {
    if (failed(checkBroadcast(im, ins)))
      return failure();
    return im.setOutput(
        0, foldElementwise(
               ins, kBool,
               [f](ArrayRef<double> a) { return double(f(a[0], a[1])); },
               [f](ArrayRef<int64_t> a) {
                 return int64_t(f(double(a[0]), double(a[1])));
               }));
  }
  for (int i : {0, 1}) {
    if (operandsBool != (im.inputDType(i) == kBool))
      return im.nodeError() << "input '" << im.node().input(i) << "' is "
                            << dtypeName(im.inputDType(i)) << "; expected "
                            << (operandsBool ? "BOOL" : "numbers");
    if (failed(im.requireSoapDType(i)))
      return failure();
  }
  if (im.inputDType(0) != im.inputDType(1))
    return im.nodeError() << "operand element types differ ("
                          << dtypeName(im.inputDType(0)) << " and "
                          << dtypeName(im.inputDType(1)) << ")";
  return opOfInputs<OpTy>(im, {0, 1});
}

static bool equalF(double a, double b) { return a == b; }
static bool lessF(double a, double b) { return a < b; }
static bool lessEqualF(double a, double b) { return a <= b; }
static bool greaterF(double a, double b) { return a > b; }
static bool greaterEqualF(double a, double b) { return a >= b; }
static bool andF(double a, double b) { return a != 0 && b != 0; }
static bool orF(double a, double b) { return a != 0 || b != 0; }
static bool xorF(double a, double b) { return (a != 0) != (b != 0); }

static LogicalResult convertEqual(Im &im) {
  // Equal of booleans (opset 11+) is Not(Xor).
  if (im.inputDType(0) == kBool && !(im.isFoldable(0) && im.isFoldable(1))) {
    auto a = im.valueOf(0, WeightRole::Buffer);
    auto b = im.valueOf(1, WeightRole::Buffer);
    if (failed(a) || failed(b))
      return failure();
    auto x = im.create<XorOp>({*a, *b}, {}, "differ");
    if (failed(x))
      return failure();
    auto y = im.create<NotOp>({*x});
    if (failed(y))
      return failure();
    return im.setOutput(0, *y);
  }
  return predicate<EqualOp>(im, false, equalF);
}
static LogicalResult convertLess(Im &im) {
  return predicate<LessOp>(im, false, lessF);
}
static LogicalResult convertLessOrEqual(Im &im) {
  return predicate<LessEqualOp>(im, false, lessEqualF);
}
static LogicalResult convertGreater(Im &im) {
  return predicate<GreaterOp>(im, false, greaterF);
}
static LogicalResult convertGreaterOrEqual(Im &im) {
  return predicate<GreaterEqualOp>(im, false, greaterEqualF);
}
static LogicalResult convertAnd(Im &im) {
  return predicate<AndOp>(im, true, andF);
}
static LogicalResult convertOr(Im &im) { return predicate<OrOp>(im, true, orF); }
static LogicalResult convertXor(Im &im) {
  return predicate<XorOp>(im, true, xorF);
}
static LogicalResult convertNot(Im &im) {
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(
        0, foldElementwise(
               {*known}, kBool,
               [](ArrayRef<double> a) { return double(a[0] == 0); },
               [](ArrayRef<int64_t> a) { return int64_t(a[0] == 0); }));
  }
  if (im.inputDType(0) != kBool)
    return im.nodeError() << "input '" << im.node().input(0) << "' is "
                          << dtypeName(im.inputDType(0)) << "; expected BOOL";
  return opOfInputs<NotOp>(im, {0});
}

/// Where with a known condition and float branches, one of them at run
/// time: x * c + y * (1 - c), exact for finite values (a known branch must be
/// finite). Masks (causal attention) are written this way.
static LogicalResult selectWithKnownCondition(Im &im) {
  auto cond = im.knownInput(0);
  if (failed(cond))
    return failure();
  SmallVector<int64_t> shape;
  SmallVector<int64_t> xy;
  if (!broadcastShapes(im.inputShape(1), im.inputShape(2), xy) ||
      !broadcastShapes((*cond)->shape, xy, shape))
    return im.nodeError() << "inconsistent shapes: the condition and the "
                             "branches do not broadcast together";
  std::vector<double> c = (*cond)->toDoubles();
  bool allTrue = llvm::all_of(c, [](double v) { return v != 0.0; });
  bool allFalse = llvm::all_of(c, [](double v) { return v == 0.0; });
  for (int i : {1, 2})
    if ((i == 1 ? allTrue : allFalse) && im.inputShape(i) == ArrayRef(shape))
      return im.forwardInput(0, i);
  for (int i : {1, 2}) {
    if (!im.isFoldable(i))
      continue;
    auto known = im.knownInput(i);
    if (failed(known))
      return failure();
    for (double v : (*known)->toDoubles())
      if (!std::isfinite(v))
        return im.limitation("fold-only",
                             "Where selects a non-finite known value against "
                             "a runtime tensor");
  }
  auto x = im.valueOf(1);
  auto y = im.valueOf(2);
  if (failed(x) || failed(y))
    return failure();
  std::vector<double> notC(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    c[i] = c[i] != 0.0 ? 1.0 : 0.0;
    notC[i] = 1.0 - c[i];
  }
  int32_t dtype = im.inputDType(1);
  auto cv = im.constant(ConstTensor::fromDoubles(dtype, (*cond)->shape, c));
  auto nv = im.constant(ConstTensor::fromDoubles(dtype, (*cond)->shape, notC));
  if (failed(cv) || failed(nv))
    return failure();
  auto a = im.create<MulOp>({*x, *cv}, {}, "select_true");
  auto b = im.create<MulOp>({*y, *nv}, {}, "select_false");
  if (failed(a) || failed(b))
    return failure();
  auto sum = im.create<AddOp>({*a, *b});
  if (failed(sum))
    return failure();
  return im.setOutput(0, *sum);
}

static LogicalResult convertWhere(Im &im) {
  int32_t dtype = im.inputDType(1);
  bool ints = isIntegerDType(dtype);
  if (im.isFoldable(0) && isFloatDType(dtype) &&
      im.inputDType(2) == dtype && (!im.isFoldable(1) || !im.isFoldable(2)))
    return selectWithKnownCondition(im);
  return foldOnly(
      im, dtype, [](ArrayRef<double> a) { return a[0] != 0 ? a[1] : a[2]; },
      ints ? std::function<int64_t(ArrayRef<int64_t>)>(
                 [](ArrayRef<int64_t> a) { return a[0] != 0 ? a[1] : a[2]; })
           : nullptr);
}

static LogicalResult convertRange(Im &im) {
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (!*all)
    return im.limitation("fold-only", "Range is folded at import time only, "
                                      "and an input is a runtime value");
  int32_t dtype = ins[0]->dtype;
  if (ins[0]->isInteger()) {
    int64_t start = ins[0]->getInt(0), limit = ins[1]->getInt(0),
            delta = ins[2]->getInt(0);
    if (delta == 0)
      return im.nodeError() << "delta is 0";
    double count = std::ceil((double(limit) - double(start)) / double(delta));
    if (count > double(1 << 26))
      return im.nodeError() << "the range has " << count
                            << " elements, too many to fold";
    SmallVector<int64_t> v;
    for (int64_t x = start; delta > 0 ? x < limit : x > limit; x += delta)
      v.push_back(x);
    return im.setOutput(0, ConstTensor::fromInts(dtype, {int64_t(v.size())}, v));
  }
  double start = ins[0]->getDouble(0), limit = ins[1]->getDouble(0),
         delta = ins[2]->getDouble(0);
  if (delta == 0)
    return im.nodeError() << "delta is 0";
  double count = std::ceil((limit - start) / delta);
  if (!std::isfinite(count) || count > double(1 << 26))
    return im.nodeError() << "the range is too long to fold";
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(start + i * delta);
  return im.setOutput(0, ConstTensor::fromDoubles(dtype, {n}, v));
}

static LogicalResult convertExpand(Im &im) {
  auto target = im.requireKnownInts(1, "shape");
  if (failed(target))
    return failure();
  SmallVector<int64_t> shape;
  if (!broadcastShapes(im.inputShape(0), *target, shape))
    return im.nodeError() << "the input does not broadcast to the shape";
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    const ConstTensor *in = *known;
    ConstTensor out;
    if (in->splat) {
      out = *in;
      out.shape.assign(shape.begin(), shape.end());
    } else {
      // Element o of the result reads its broadcast source.
      out.dtype = in->dtype;
      out.shape.assign(shape.begin(), shape.end());
      int64_t size = dtypeSize(in->dtype), n = shapeNumElements(shape);
      out.data.resize(n * size);
      for (int64_t o = 0; o < n; ++o)
        std::memcpy(out.data.data() + o * size,
                    in->data.data() +
                        broadcastSourceIndex(o, shape, in->shape) * size,
                    size);
    }
    return im.setOutput(0, std::move(out));
  }
  if (failed(im.requireFloat(0)))
    return failure();
  // soap has no broadcast op: x + zeros(shape) broadcasts exactly.
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  if (ArrayRef<int64_t>(shape) == im.inputShape(0))
    return im.setOutput(0, *x);
  auto zeros = im.constant(
      ConstTensor::splatOf(im.inputDType(0), shape, 0.0));
  if (failed(zeros))
    return failure();
  auto y = im.create<AddOp>({*x, *zeros});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

//===----------------------------------------------------------------------===//
// Views and data movement
//===----------------------------------------------------------------------===//

/// Output 0 is input 0 reshaped to `shape`: folded, or a soap.reshape.
static LogicalResult reshapeTo(Im &im, ArrayRef<int64_t> shape) {
  if (shapeNumElements(shape) != shapeNumElements(im.inputShape(0)))
    return im.nodeError() << "cannot reshape " << im.inputShape(0).size()
                          << "-D input of "
                          << shapeNumElements(im.inputShape(0))
                          << " elements to " << shapeNumElements(shape)
                          << " elements";
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(0, (*known)->reshaped(shape));
  }
  if (failed(im.requireSoapDType(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = im.reshape(*x, shape, "");
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertReshape(Im &im) {
  SmallVector<int64_t> target;
  if (im.opset() < 5) {
    target = im.attrInts("shape");
  } else {
    auto known = im.requireKnownInts(1, "shape");
    if (failed(known))
      return failure();
    target = *known;
  }
  ArrayRef<int64_t> in = im.inputShape(0);
  bool allowZero = im.attrInt("allowzero", 0) != 0;
  SmallVector<int64_t> shape;
  int64_t inferred = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(target)) {
    if (d == 0 && !allowZero) {
      if (i >= in.size())
        return im.nodeError() << "shape entry " << i
                              << " is 0 but the input has rank " << in.size();
      d = in[i];
    }
    if (d == -1) {
      if (inferred >= 0)
        return im.nodeError() << "the shape has more than one -1";
      inferred = i;
      shape.push_back(1);
      continue;
    }
    if (d < 0)
      return im.nodeError() << "invalid shape entry " << d;
    shape.push_back(d);
    known *= d;
  }
  if (inferred >= 0) {
    int64_t total = shapeNumElements(in);
    if (known == 0 || total % known != 0)
      return im.nodeError() << "cannot infer the -1 of the shape";
    shape[inferred] = total / known;
  }
  return reshapeTo(im, shape);
}

static LogicalResult convertFlatten(Im &im) {
  ArrayRef<int64_t> in = im.inputShape(0);
  auto axis = checkedAxis(im, im.attrInt("axis", 1), in.size(), true);
  if (failed(axis))
    return failure();
  int64_t outer = shapeNumElements(in.take_front(*axis));
  int64_t inner = shapeNumElements(in.drop_front(*axis));
  if (im.isFoldable(0))
    return reshapeTo(im, {outer, inner});
  if (failed(im.requireSoapDType(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = im.create<FlattenOp>({*x}, {im.i64Attr("axis", *axis)});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

/// The axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional
/// input from 13 on.
static FailureOr<std::optional<SmallVector<int64_t>>> squeezeAxes(Im &im) {
  if (im.opset() < 13) {
    if (!im.hasAttr("axes"))
      return std::optional<SmallVector<int64_t>>();
    return std::optional<SmallVector<int64_t>>(im.attrInts("axes"));
  }
  if (!im.hasInput(1))
    return std::optional<SmallVector<int64_t>>();
  auto axes = im.requireKnownInts(1, "axes");
  if (failed(axes))
    return failure();
  return std::optional<SmallVector<int64_t>>(*axes);
}

static LogicalResult convertSqueeze(Im &im) {
  auto axes = squeezeAxes(im);
  if (failed(axes))
    return failure();
  ArrayRef<int64_t> in = im.inputShape(0);
  int64_t rank = in.size();
  SmallVector<bool> drop(rank, false);
  if (*axes) {
    for (int64_t a : **axes) {
      auto axis = checkedAxis(im, a, rank);
      if (failed(axis))
        return failure();
      if (in[*axis] != 1)
        return im.nodeError() << "cannot squeeze axis " << *axis << " of size "
                              << in[*axis];
      drop[*axis] = true;
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      drop[d] = in[d] == 1;
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[d])
      shape.push_back(in[d]);
  return reshapeTo(im, shape);
}

static LogicalResult convertUnsqueeze(Im &im) {
  auto axes = squeezeAxes(im);
  if (failed(axes))
    return failure();
  if (!*axes)
    return im.nodeError() << "needs axes";
  ArrayRef<int64_t> in = im.inputShape(0);
  int64_t outRank = in.size() + (*axes)->size();
  SmallVector<bool> inserted(outRank, false);
  for (int64_t a : **axes) {
    auto axis = checkedAxis(im, a, outRank);
    if (failed(axis))
      return failure();
    if (inserted[*axis])
      return im.nodeError() << "axis " << *axis << " is listed twice";
    inserted[*axis] = true;
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0, k = 0; d < outRank; ++d)
    shape.push_back(inserted[d] ? 1 : in[k++]);
  return reshapeTo(im, shape);
}

static LogicalResult convertTranspose(Im &im) {
  int64_t rank = im.inputShape(0).size();
  SmallVector<int64_t> perm = im.attrInts("perm");
  if (!im.hasAttr("perm"))
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  SmallVector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm) {
    valid &= p >= 0 && p < rank && !seen[std::clamp<int64_t>(p, 0, rank - 1)];
    if (valid)
      seen[p] = true;
  }
  if (!valid)
    return im.nodeError() << "perm is not a permutation of the " << rank
                          << " axes";
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(0, (*known)->transposed(perm));
  }
  if (failed(im.requireSoapDType(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = im.create<TransposeOp>({*x}, {im.i64ArrayAttr("permutation", perm)});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertConcat(Im &im) {
  if (!im.hasAttr("axis"))
    return im.nodeError() << "needs an axis";
  int64_t rank = im.inputShape(0).size();
  auto axis = checkedAxis(im, im.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (*all) {
    SmallVector<const ConstTensor *> present;
    for (const ConstTensor *t : ins)
      if (t)
        present.push_back(t);
    for (const ConstTensor *t : present) {
      bool same = t->dtype == present[0]->dtype && t->rank() == rank;
      for (int64_t d = 0; same && d < rank; ++d)
        same = d == *axis || t->shape[d] == present[0]->shape[d];
      if (!same)
        return im.nodeError() << "inconsistent shapes: the inputs differ in "
                                 "element type, rank or a size off the axis";
    }
    return im.setOutput(0, concatConst(present, *axis));
  }
  SmallVector<Value> operands;
  for (int i = 0; i < im.numInputs(); ++i) {
    if (!im.hasInput(i))
      continue;
    if (failed(im.requireSoapDType(i)))
      return failure();
    // Empty pieces add nothing.
    if (im.inputShape(i)[*axis] == 0)
      continue;
    auto v = im.valueOf(i);
    if (failed(v))
      return failure();
    operands.push_back(*v);
  }
  if (operands.size() == 1)
    return im.setOutput(0, operands[0]);
  auto y = im.create<ConcatOp>(operands, {im.i64Attr("axis", *axis)});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertSplit(Im &im) {
  ArrayRef<int64_t> in = im.inputShape(0);
  auto axis = checkedAxis(im, im.attrInt("axis", 0), in.size());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> sizes;
  if (im.opset() < 13 && im.hasAttr("split")) {
    sizes = im.attrInts("split");
  } else if (im.opset() >= 13 && im.hasInput(1)) {
    auto known = im.requireKnownInts(1, "split sizes");
    if (failed(known))
      return failure();
    sizes = *known;
  } else {
    int64_t parts = im.numOutputs();
    if (parts == 0 || in[*axis] % parts != 0)
      return im.nodeError() << "cannot split axis " << *axis << " of size "
                            << in[*axis] << " into " << parts << " equal parts";
    sizes.assign(parts, in[*axis] / parts);
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0)
      return im.nodeError() << "a split size is negative";
    total += s;
  }
  if (total != in[*axis] || static_cast<int>(sizes.size()) != im.numOutputs())
    return im.nodeError() << "the split sizes do not match the axis or the "
                             "outputs";
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    int64_t offset = 0;
    for (auto [i, s] : llvm::enumerate(sizes)) {
      SmallVector<int64_t> starts(in.size(), 0), steps(in.size(), 1),
          shape(in.begin(), in.end());
      starts[*axis] = offset;
      shape[*axis] = s;
      offset += s;
      if (failed(im.setOutput(i, sliceConst(**known, starts, steps, shape))))
        return failure();
    }
    return success();
  }
  if (failed(im.requireSoapDType(0)))
    return failure();
  // A piece of size 0 has no elements: it is known (an empty tensor), and
  // soap.split makes the others.
  SmallVector<int64_t> pieces;
  SmallVector<unsigned> outputOf;
  for (auto [i, s] : llvm::enumerate(sizes)) {
    if (s != 0) {
      pieces.push_back(s);
      outputOf.push_back(i);
      continue;
    }
    SmallVector<int64_t> shape(in.begin(), in.end());
    shape[*axis] = 0;
    if (failed(im.setOutput(
            i, ConstTensor::fromDoubles(im.inputDType(0), shape, {}))))
      return failure();
  }
  if (pieces.empty())
    return success();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  if (pieces.size() == 1)
    return im.setOutput(outputOf[0], *x);
  auto op = im.createOp(SplitOp::getOperationName(), {*x},
                        {im.i64Attr("axis", *axis),
                         im.i64ArrayAttr("sizes", pieces)},
                        pieces.size(), "");
  if (failed(op))
    return failure();
  for (auto [k, i] : llvm::enumerate(outputOf))
    if (failed(im.setOutput(i, (*op)->getResult(k))))
      return failure();
  return success();
}

static LogicalResult convertSlice(Im &im) {
  ArrayRef<int64_t> in = im.inputShape(0);
  int64_t rank = in.size();
  SmallVector<int64_t> starts, ends, axes, steps;
  if (im.opset() < 10) {
    starts = im.attrInts("starts");
    ends = im.attrInts("ends");
    axes = im.attrInts("axes");
  } else {
    auto s = im.requireKnownInts(1, "starts");
    auto e = im.requireKnownInts(2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (im.hasInput(3)) {
      auto a = im.requireKnownInts(3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (im.hasInput(4)) {
      auto st = im.requireKnownInts(4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    axes = iota(0, starts.size());
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return im.nodeError() << "starts, ends, axes and steps differ in length";
  SmallVector<int64_t> from(rank, 0), step(rank, 1), shape(in.begin(), in.end());
  SmallVector<int64_t> to(in.begin(), in.end());
  for (auto [s, e, a, st] : llvm::zip(starts, ends, axes, steps)) {
    auto axis = checkedAxis(im, a, rank);
    if (failed(axis))
      return failure();
    if (st == 0)
      return im.nodeError() << "a step is 0";
    int64_t dim = in[*axis];
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      shape[*axis] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      shape[*axis] = s > e ? (s - e - st - 1) / -st : 0;
    }
    from[*axis] = s;
    to[*axis] = st > 0 ? std::max(e, s) : std::min(e, s);
    step[*axis] = st;
  }
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(0, sliceConst(**known, from, step, shape));
  }
  if (failed(im.requireSoapDType(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  SmallVector<NamedAttribute> attrs = {im.i64ArrayAttr("starts", from),
                                       im.i64ArrayAttr("ends", to)};
  if (llvm::any_of(step, [](int64_t s) { return s != 1; }))
    attrs.push_back(im.i64ArrayAttr("steps", step));
  auto y = im.create<SliceOp>({*x}, attrs);
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertGather(Im &im) {
  ArrayRef<int64_t> data = im.inputShape(0), indices = im.inputShape(1);
  int64_t rank = data.size();
  auto axis = checkedAxis(im, im.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  if (!isIntegerDType(im.inputDType(1)) || im.inputDType(1) == kBool)
    return im.nodeError() << "indices must be integers";
  SmallVector<int64_t> shape(data.take_front(*axis));
  shape.append(indices.begin(), indices.end());
  shape.append(data.begin() + *axis + 1, data.end());

  const ConstTensor *knownIdx = nullptr;
  if (im.isFoldable(1)) {
    auto k = im.knownInput(1);
    if (failed(k))
      return failure();
    knownIdx = *k;
  }
  SmallVector<int64_t> idx;
  if (knownIdx) {
    for (int64_t i : knownIdx->toInts()) {
      if (i < -data[*axis] || i >= data[*axis])
        return im.nodeError() << "index " << i << " is out of range for axis "
                              << *axis << " of size " << data[*axis];
      idx.push_back(i < 0 ? i + data[*axis] : i);
    }
  }
  // Both known: fold.
  if (knownIdx && im.isFoldable(0)) {
    auto k = im.knownInput(0);
    if (failed(k))
      return failure();
    ConstTensor src = (*k)->expanded();
    ConstTensor out;
    out.dtype = src.dtype;
    out.shape.assign(shape.begin(), shape.end());
    int64_t size = dtypeSize(src.dtype);
    int64_t outer = shapeNumElements(data.take_front(*axis));
    int64_t inner = shapeNumElements(data.drop_front(*axis + 1)) * size;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i : idx) {
        auto begin = src.data.begin() + (o * data[*axis] + i) * inner;
        out.data.insert(out.data.end(), begin, begin + inner);
      }
    return im.setOutput(0, std::move(out));
  }
  // An embedding: rows of a 2-D float table (a weight, or any runtime table).
  Val &table = im.input(0);
  if (*axis == 0 && rank == 2 && isFloatDType(im.inputDType(0)) &&
      (table.initializer || !knownIdx)) {
    if (failed(im.requireSoapDType(1)))
      return failure();
    auto ids = im.valueOf(1);
    auto w = im.valueOf(0, WeightRole::Embedding);
    if (failed(ids) || failed(w))
      return failure();
    auto y = im.create<EmbeddingOp>({*ids, *w});
    if (failed(y))
      return failure();
    return im.setOutput(0, *y);
  }
  if (!knownIdx)
    return im.limitation("gather-variant",
                         "gathers a runtime " + Twine(rank) +
                             "-D tensor along axis " + Twine(*axis) +
                             " with runtime indices");
  // Known indices: one slice per index, concatenated.
  if (idx.size() > 64)
    return im.limitation("gather-variant",
                         "gathers " + Twine(idx.size()) +
                             " known indices of a runtime tensor (at most 64 "
                             "become slices)");
  if (failed(im.requireSoapDType(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  SmallVector<Value> pieces;
  for (auto [k, i] : llvm::enumerate(idx)) {
    SmallVector<int64_t> from(rank, 0), to(data.begin(), data.end());
    from[*axis] = i;
    to[*axis] = i + 1;
    auto piece = im.create<SliceOp>(
        {*x}, {im.i64ArrayAttr("starts", from), im.i64ArrayAttr("ends", to)},
        "slice" + std::to_string(k));
    if (failed(piece))
      return failure();
    pieces.push_back(*piece);
  }
  if (pieces.empty())
    return im.limitation("empty-tensor", "gathers no index");
  Value y = pieces[0];
  if (pieces.size() > 1) {
    auto c = im.create<ConcatOp>(pieces, {im.i64Attr("axis", *axis)});
    if (failed(c))
      return failure();
    y = *c;
  }
  auto r = im.reshape(y, shape, "reshape");
  if (failed(r))
    return failure();
  return im.setOutput(0, *r);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

template <typename OpTy>
static LogicalResult unary(Im &im, double (*f)(double)) {
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    if ((*known)->isFloat())
      return im.setOutput(
          0, foldElementwise({*known}, (*known)->dtype,
                             [f](ArrayRef<double> a) { return f(a[0]); },
                             nullptr));
  }
  if (failed(im.requireFloat(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = im.create<OpTy>({*x});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static double relu(double x) { return x > 0 ? x : 0; }
static double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
static double neg(double x) { return -x; }
static double tanhFn(double x) { return std::tanh(x); }
static double expFn(double x) { return std::exp(x); }
static double logFn(double x) { return std::log(x); }
static double sqrtFn(double x) { return std::sqrt(x); }
static double erfFn(double x) { return std::erf(x); }

static LogicalResult convertRelu(Im &im) { return unary<ReluOp>(im, relu); }
static LogicalResult convertSigmoid(Im &im) {
  return unary<SigmoidOp>(im, sigmoid);
}
static LogicalResult convertTanh(Im &im) { return unary<TanhOp>(im, tanhFn); }
static LogicalResult convertExp(Im &im) { return unary<ExpOp>(im, expFn); }
static LogicalResult convertLog(Im &im) { return unary<LogOp>(im, logFn); }
static LogicalResult convertSqrt(Im &im) { return unary<SqrtOp>(im, sqrtFn); }
static LogicalResult convertErf(Im &im) { return unary<ErfOp>(im, erfFn); }

static LogicalResult convertNeg(Im &im) {
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(
        0, foldElementwise({*known}, (*known)->dtype,
                           [](ArrayRef<double> a) { return -a[0]; },
                           [](ArrayRef<int64_t> a) { return -a[0]; }));
  }
  return unary<NegOp>(im, neg);
}

static LogicalResult convertReciprocal(Im &im) {
  if (im.isFoldable(0)) {
    auto known = im.knownInput(0);
    if (failed(known))
      return failure();
    return im.setOutput(
        0, foldElementwise({*known}, (*known)->dtype,
                           [](ArrayRef<double> a) { return 1.0 / a[0]; },
                           nullptr));
  }
  if (failed(im.requireFloat(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  auto y = im.create<DivOp>({im.scalarConstant(*x, 1.0), *x});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

/// Add, Sub, Mul, Div: folded on known inputs, else the soap op (floats).
template <typename OpTy>
static LogicalResult binary(Im &im, double (*f)(double, double),
                            int64_t (*fi)(int64_t, int64_t)) {
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (*all) {
    if (ins[0]->dtype != ins[1]->dtype)
      return im.nodeError() << "operand element types differ";
    if (failed(checkBroadcast(im, ins)))
      return failure();
    ConstTensor out = foldElementwise(
        ins, ins[0]->dtype, [f](ArrayRef<double> a) { return f(a[0], a[1]); },
        [fi](ArrayRef<int64_t> a) { return fi(a[0], a[1]); });
    return im.setOutput(0, std::move(out));
  }
  if (failed(im.requireFloat(0)) || failed(im.requireFloat(1)))
    return failure();
  if (im.inputDType(0) != im.inputDType(1))
    return im.nodeError() << "operand element types differ ("
                          << dtypeName(im.inputDType(0)) << " and "
                          << dtypeName(im.inputDType(1)) << ")";
  auto a = im.valueOf(0);
  auto b = im.valueOf(1);
  if (failed(a) || failed(b))
    return failure();
  auto y = im.create<OpTy>({*a, *b});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static double addF(double a, double b) { return a + b; }
static double subF(double a, double b) { return a - b; }
static double mulF(double a, double b) { return a * b; }
static double divF(double a, double b) { return a / b; }
static int64_t addI(int64_t a, int64_t b) { return a + b; }
static int64_t subI(int64_t a, int64_t b) { return a - b; }
static int64_t mulI(int64_t a, int64_t b) { return a * b; }
static int64_t divI(int64_t a, int64_t b) { return b == 0 ? 0 : a / b; }

static LogicalResult convertAdd(Im &im) { return binary<AddOp>(im, addF, addI); }
static LogicalResult convertSub(Im &im) { return binary<SubOp>(im, subF, subI); }
static LogicalResult convertMul(Im &im) { return binary<MulOp>(im, mulF, mulI); }
static LogicalResult convertDiv(Im &im) {
  // Integer division by zero is an error, checked on the folded operands.
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (*all && ins[1]->isInteger())
    for (int64_t v : ins[1]->toInts())
      if (v == 0)
        return im.nodeError() << "integer division by zero";
  return binary<DivOp>(im, divF, divI);
}

static LogicalResult convertSum(Im &im) {
  if (im.numInputs() == 1)
    return im.forwardInput(0, 0);
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  if (*all && failed(checkBroadcast(im, ins)))
    return failure();
  if (*all)
    return im.setOutput(
        0, foldElementwise(
               ins, ins[0]->dtype,
               [](ArrayRef<double> a) {
                 double s = 0;
                 for (double x : a)
                   s += x;
                 return s;
               },
               [](ArrayRef<int64_t> a) {
                 int64_t s = 0;
                 for (int64_t x : a)
                   s += x;
                 return s;
               }));
  for (int i = 0; i < im.numInputs(); ++i)
    if (failed(im.requireFloat(i)))
      return failure();
  auto acc = im.valueOf(0);
  if (failed(acc))
    return failure();
  Value sum = *acc;
  for (int i = 1; i < im.numInputs(); ++i) {
    auto v = im.valueOf(i);
    if (failed(v))
      return failure();
    auto s = im.create<AddOp>({sum, *v}, {},
                              i + 1 == im.numInputs() ? ""
                                                      : "add" + std::to_string(i));
    if (failed(s))
      return failure();
    sum = *s;
  }
  return im.setOutput(0, sum);
}

/// Input i as a runtime value of the number type `to`: a known tensor (of
/// any number type) becomes a constant of that type; a runtime one of
/// another soap type goes through soap.cast (named `role`).
static FailureOr<Value> numberAs(Im &im, int i, int32_t to, StringRef role) {
  if (im.isFoldable(i)) {
    auto known = im.knownInput(i);
    if (failed(known))
      return failure();
    return im.constant((*known)->castTo(to));
  }
  if (failed(im.requireSoapDType(i)))
    return failure();
  auto v = im.valueOf(i);
  if (failed(v) || im.inputDType(i) == to)
    return v;
  return castValue(im, *v, to, role);
}

static LogicalResult convertPow(Im &im) {
  SmallVector<const ConstTensor *> ins;
  auto all = foldableInputs(im, ins);
  if (failed(all))
    return failure();
  // Known inputs fold, integer bases too (the result has the base's type,
  // as numpy.power(x, y).astype(x.dtype)).
  if (*all && failed(checkBroadcast(im, ins)))
    return failure();
  if (*all)
    return im.setOutput(
        0, foldElementwise(
               ins, ins[0]->dtype,
               [](ArrayRef<double> a) { return std::pow(a[0], a[1]); },
               nullptr));
  // An integer base: computed in f32 and truncated back, as
  // numpy.power(x, y).astype(x.dtype) (exact while the values fit f32's 24
  // bits).
  int32_t base = im.inputDType(0);
  if (base == kInt32 || base == kInt64) {
    auto xf = numberAs(im, 0, kFloat, "base_float");
    auto ef = numberAs(im, 1, kFloat, "exponent");
    if (failed(xf) || failed(ef))
      return failure();
    auto p = im.create<PowOp>({*xf, *ef}, {}, "float");
    if (failed(p))
      return failure();
    auto r = castValue(im, *p, base, "");
    if (failed(r))
      return failure();
    return im.setOutput(0, *r);
  }
  if (failed(im.requireFloat(0)))
    return failure();
  std::optional<double> exponent;
  if (im.isFoldable(1)) {
    auto known = im.knownInput(1);
    if (failed(known))
      return failure();
    if ((*known)->numElements() == 1)
      exponent = (*known)->getDouble(0);
  }
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  Value y;
  auto done = [&](FailureOr<Value> v) -> LogicalResult {
    if (failed(v))
      return failure();
    // A known exponent tensor of shape [1, 1] still broadcasts the result.
    ArrayRef<int64_t> e = im.inputShape(1);
    SmallVector<int64_t> shape;
    broadcastShapes(im.inputShape(0), e, shape);
    auto r = im.reshape(*v, shape, "reshape");
    if (failed(r))
      return failure();
    return im.setOutput(0, *r);
  };
  if (exponent == 1.0)
    return done(*x);
  if (exponent == 2.0)
    return done(im.create<MulOp>({*x, *x}));
  if (exponent == 3.0) {
    auto sq = im.create<MulOp>({*x, *x}, {}, "square");
    if (failed(sq))
      return failure();
    return done(im.create<MulOp>({*sq, *x}));
  }
  if (exponent == 0.5)
    return done(im.create<SqrtOp>({*x}));
  if (exponent == -1.0)
    return done(im.create<DivOp>({im.scalarConstant(*x, 1.0), *x}));
  if (exponent == -0.5) {
    auto r = im.create<SqrtOp>({*x}, {}, "sqrt");
    if (failed(r))
      return failure();
    return done(im.create<DivOp>({im.scalarConstant(*x, 1.0), *r}));
  }
  // Any other exponent: soap.pow.
  auto e = numberAs(im, 1, im.inputDType(0), "exponent");
  if (failed(e))
    return failure();
  return done(im.create<PowOp>({*x, *e}));
}

//===----------------------------------------------------------------------===//
// Dense layers
//===----------------------------------------------------------------------===//

static LogicalResult convertMatMul(Im &im) {
  if (failed(im.requireFloat(0)) || failed(im.requireFloat(1)))
    return failure();
  ArrayRef<int64_t> as = im.inputShape(0), bs = im.inputShape(1);
  auto a = im.valueOf(0);
  if (failed(a))
    return failure();
  // x . W with a known 2-D W: a linear layer.
  if (im.input(1).isKnown() && bs.size() == 2) {
    auto w = im.valueOf(1, WeightRole::Matrix);
    if (failed(w))
      return failure();
    auto y = im.create<LinearOp>({*a, *w});
    if (failed(y))
      return failure();
    return im.setOutput(0, *y);
  }
  auto b = im.valueOf(1);
  if (failed(b))
    return failure();
  // NumPy's 1-D cases: promote to matrices, then drop the added axis.
  Value lhs = *a, rhs = *b;
  if (as.size() == 1) {
    auto r = im.reshape(lhs, {1, as[0]}, "lhs");
    if (failed(r))
      return failure();
    lhs = *r;
  }
  if (bs.size() == 1) {
    auto r = im.reshape(rhs, {bs[0], 1}, "rhs");
    if (failed(r))
      return failure();
    rhs = *r;
  }
  auto y = im.create<MatmulOp>({lhs, rhs});
  if (failed(y))
    return failure();
  SmallVector<int64_t> shape(cast<RankedTensorType>(y->getType()).getShape());
  if (bs.size() == 1)
    shape.pop_back();
  if (as.size() == 1)
    shape.erase(shape.end() - (bs.size() == 1 ? 1 : 2));
  auto r = im.reshape(*y, shape, "result");
  if (failed(r))
    return failure();
  return im.setOutput(0, *r);
}

static LogicalResult convertGemm(Im &im) {
  if (failed(im.requireFloat(0)) || failed(im.requireFloat(1)))
    return failure();
  ArrayRef<int64_t> as = im.inputShape(0), bs = im.inputShape(1);
  if (as.size() != 2 || bs.size() != 2)
    return im.nodeError() << "A and B must be matrices";
  bool transA = im.attrInt("transA", 0), transB = im.attrInt("transB", 0);
  double alpha = im.attrFloat("alpha", 1.0), beta = im.attrFloat("beta", 1.0);
  int64_t n = transB ? bs[0] : bs[1], k = transB ? bs[1] : bs[0];
  auto a = im.valueOf(0);
  if (failed(a))
    return failure();
  Value x = *a;
  if (transA) {
    auto t = im.transpose(x, {1, 0}, "transpose_a");
    if (failed(t))
      return failure();
    x = *t;
  }
  bool hasC = im.hasInput(2);
  bool biasFused = false;
  Value y;
  if (im.input(1).isKnown()) {
    // A linear layer; the weight is stored as [K, N].
    FailureOr<Value> w = failure();
    if (transB && im.isPrivateInitializer(1))
      w = im.derivedWeight(1, {k, n}, WeightRole::Matrix,
                           [](const ConstTensor &t) { return t.transposed({1, 0}); });
    else {
      w = im.valueOf(1, WeightRole::Matrix);
      if (succeeded(w) && transB)
        w = im.transpose(*w, {1, 0}, "transpose_b");
    }
    if (failed(w))
      return failure();
    SmallVector<Value> operands = {x, *w};
    if (hasC && alpha == 1.0 && beta == 1.0 && im.input(2).isKnown() &&
        isFloatDType(im.inputDType(2)) && !im.inputShape(2).empty() &&
        im.inputShape(2).size() <= 2 &&
        shapeNumElements(im.inputShape(2)) == n &&
        im.inputShape(2).back() == n) {
      FailureOr<Value> bias = failure();
      if (im.inputShape(2).size() == 1)
        bias = im.valueOf(2, WeightRole::Bias);
      else if (im.isPrivateInitializer(2))
        bias = im.derivedWeight(2, {n}, WeightRole::Bias,
                                [n](const ConstTensor &t) { return t.reshaped({n}); });
      else {
        bias = im.valueOf(2, WeightRole::Bias);
        if (succeeded(bias))
          bias = im.reshape(*bias, {n}, "bias");
      }
      if (failed(bias))
        return failure();
      operands.push_back(*bias);
      biasFused = true;
    }
    auto l = im.create<LinearOp>(operands);
    if (failed(l))
      return failure();
    y = *l;
  } else {
    auto b = im.valueOf(1);
    if (failed(b))
      return failure();
    Value rhs = *b;
    if (transB) {
      auto t = im.transpose(rhs, {1, 0}, "transpose_b");
      if (failed(t))
        return failure();
      rhs = *t;
    }
    auto m = im.create<MatmulOp>({x, rhs});
    if (failed(m))
      return failure();
    y = *m;
  }
  if (alpha != 1.0) {
    auto s = im.create<MulOp>({y, im.scalarConstant(y, alpha)}, {}, "alpha");
    if (failed(s))
      return failure();
    y = *s;
  }
  if (hasC && !biasFused) {
    if (failed(im.requireFloat(2)))
      return failure();
    auto c = im.valueOf(2, WeightRole::Bias);
    if (failed(c))
      return failure();
    Value bias = *c;
    if (beta != 1.0) {
      auto s = im.create<MulOp>({bias, im.scalarConstant(bias, beta)}, {},
                                "beta");
      if (failed(s))
        return failure();
      bias = *s;
    }
    auto sum = im.create<AddOp>({y, bias}, {}, "bias");
    if (failed(sum))
      return failure();
    y = *sum;
  }
  (void)k;
  return im.setOutput(0, y);
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

namespace {
/// A 1-D or 2-D window op, seen as 2-D: 1-D ops get a leading spatial axis
/// of size 1.
struct Window {
  SmallVector<int64_t, 2> input, kernel, strides, dilations;
  /// [top, left, bottom, right].
  SmallVector<int64_t, 4> padding;
};
} // namespace

namespace {
/// Kernel geometry per spatial axis: kernel, stride, dilation and the
/// padding before and after (auto_pad resolved).
struct WindowAxes {
  SmallVector<int64_t, 3> kernel, strides, dilations, before, after;
};
} // namespace

/// Reads strides, dilations, pads and auto_pad for a window op over
/// `spatial` (the input's spatial sizes, any number of them).
static FailureOr<WindowAxes> readWindowAxes(Im &im, ArrayRef<int64_t> spatial,
                                            ArrayRef<int64_t> kernel) {
  size_t n = spatial.size();
  SmallVector<int64_t> strides = im.attrInts("strides"),
                       dilations = im.attrInts("dilations"),
                       pads = im.attrInts("pads");
  if (strides.empty())
    strides.assign(n, 1);
  if (dilations.empty())
    dilations.assign(n, 1);
  if (pads.empty())
    pads.assign(2 * n, 0);
  if (strides.size() != n || dilations.size() != n || pads.size() != 2 * n ||
      kernel.size() != n)
    return im.nodeError() << "kernel, strides, dilations and pads do not "
                             "match the "
                          << n << " spatial dimensions";
  std::string autoPad = im.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    return im.nodeError() << "unknown auto_pad '" << autoPad << "'";
  WindowAxes a;
  for (size_t d = 0; d < n; ++d) {
    int64_t before = pads[d], after = pads[d + n];
    if (autoPad == "VALID") {
      before = after = 0;
    } else if (autoPad != "NOTSET") {
      int64_t out = (spatial[d] + strides[d] - 1) / strides[d];
      int64_t total = std::max<int64_t>(
          0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 -
                 spatial[d]);
      int64_t small = total / 2, large = total - small;
      before = autoPad == "SAME_UPPER" ? small : large;
      after = autoPad == "SAME_UPPER" ? large : small;
    }
    a.kernel.push_back(kernel[d]);
    a.strides.push_back(strides[d]);
    a.dilations.push_back(dilations[d]);
    a.before.push_back(before);
    a.after.push_back(after);
  }
  return a;
}

/// The geometry of a 1-D or 2-D window op over `spatial`, seen as 2-D.
static FailureOr<Window> readWindow(Im &im, ArrayRef<int64_t> spatial,
                                    ArrayRef<int64_t> kernel) {
  auto a = readWindowAxes(im, spatial, kernel);
  if (failed(a))
    return failure();
  Window w;
  if (spatial.size() == 1) {
    w.input = {1, spatial[0]};
    w.kernel = {1, a->kernel[0]};
    w.strides = {1, a->strides[0]};
    w.dilations = {1, a->dilations[0]};
    w.padding = {0, a->before[0], 0, a->after[0]};
  } else {
    w.input.assign(spatial.begin(), spatial.end());
    w.kernel.assign(a->kernel.begin(), a->kernel.end());
    w.strides.assign(a->strides.begin(), a->strides.end());
    w.dilations.assign(a->dilations.begin(), a->dilations.end());
    w.padding = {a->before[0], a->before[1], a->after[0], a->after[1]};
  }
  return w;
}

/// The input as NCHW: a 1-D input [N, C, L] becomes [N, C, 1, L].
static FailureOr<Value> asNchw(Im &im, int i) {
  auto x = im.valueOf(i);
  if (failed(x))
    return failure();
  ArrayRef<int64_t> s = im.inputShape(i);
  if (s.size() == 4)
    return *x;
  return im.reshape(*x, {s[0], s[1], 1, s[2]}, "to_2d");
}

/// Undoes asNchw on the result.
static LogicalResult setWindowOutput(Im &im, Value y, size_t spatialRank) {
  if (spatialRank == 2)
    return im.setOutput(0, y);
  auto s = cast<RankedTensorType>(y.getType()).getShape();
  auto r = im.reshape(y, {s[0], s[1], s[3]}, "to_1d");
  if (failed(r))
    return failure();
  return im.setOutput(0, *r);
}

static LogicalResult convertConv(Im &im) {
  if (failed(im.requireFloat(0)) || failed(im.requireFloat(1)))
    return failure();
  ArrayRef<int64_t> xs = im.inputShape(0), ws = im.inputShape(1);
  if (xs.size() != ws.size() || xs.size() < 3)
    return im.nodeError() << "X and W must have the same rank, at least 3";
  size_t spatial = xs.size() - 2;
  if (spatial > 2)
    return im.limitation("spatial-rank", Twine(spatial) +
                                             "-D convolution (soap has 2-D "
                                             "convolutions)");
  SmallVector<int64_t> kernel(ws.begin() + 2, ws.end());
  if (im.hasAttr("kernel_shape") && im.attrInts("kernel_shape") != kernel)
    return im.nodeError() << "kernel_shape does not match the weight";
  auto w = readWindow(im, xs.drop_front(2), kernel);
  if (failed(w))
    return failure();
  auto x = asNchw(im, 0);
  if (failed(x))
    return failure();
  FailureOr<Value> weight = failure();
  SmallVector<int64_t> weight2d = {ws[0], ws[1], w->kernel[0], w->kernel[1]};
  if (spatial == 2)
    weight = im.valueOf(1, WeightRole::ConvKernel);
  else if (im.isPrivateInitializer(1))
    weight = im.derivedWeight(1, weight2d, WeightRole::ConvKernel,
                              [&](const ConstTensor &t) {
                                return t.reshaped(weight2d);
                              });
  else {
    weight = im.valueOf(1, WeightRole::ConvKernel);
    if (succeeded(weight))
      weight = im.reshape(*weight, weight2d, "weight_2d");
  }
  if (failed(weight))
    return failure();
  SmallVector<Value> operands = {*x, *weight};
  if (im.hasInput(2)) {
    auto b = im.valueOf(2, WeightRole::Bias);
    if (failed(b))
      return failure();
    operands.push_back(*b);
  }
  auto y = im.create<Conv2dOp>(
      operands, {im.i64ArrayAttr("strides", w->strides),
                 im.i64ArrayAttr("padding", w->padding),
                 im.i64ArrayAttr("dilations", w->dilations),
                 im.i64Attr("groups", im.attrInt("group", 1))});
  if (failed(y))
    return failure();
  return setWindowOutput(im, *y, spatial);
}

/// MaxPool/AveragePool's geometry over the spatial axes `spatial` (any
/// number), with ceil_mode as extra padding at the end, and checked.
static FailureOr<WindowAxes> readPoolAxes(Im &im, ArrayRef<int64_t> spatial,
                                          bool countPad) {
  auto a = readWindowAxes(im, spatial, im.attrInts("kernel_shape"));
  if (failed(a))
    return failure();
  for (size_t d = 0; d < spatial.size(); ++d) {
    // A dilated window spans (k - 1) * d + 1 elements.
    int64_t s = a->strides[d], span = (a->kernel[d] - 1) * a->dilations[d] + 1,
            in = spatial[d], before = a->before[d];
    int64_t &after = a->after[d];
    if (im.attrInt("ceil_mode", 0) && in + before + after - span >= 0) {
      // Ceil mode as extra padding at the end: the last window may start
      // in the input (or the front padding), never in the end padding.
      int64_t out = (in + before + after - span + s - 1) / s + 1;
      if ((out - 1) * s >= in + before)
        --out;
      int64_t extra = (out - 1) * s + span - (in + before + after);
      if (extra > 0) {
        if (countPad)
          return im.limitation("pool-padding",
                               "ceil_mode with count_include_pad");
        after += extra;
      }
    }
    if (before >= span || after >= span)
      return im.limitation("pool-padding",
                           "the padding reaches the kernel's span");
  }
  return a;
}

/// soap.pool2d over axes 2 and 3 of x (NCHW) with the geometry of `axes`
/// [i, j] (i = -1: a window of one along H).
static FailureOr<Value> pool2d(Im &im, Value x, PoolKind kind,
                               const WindowAxes &a, int i, int j,
                               bool countPad, StringRef role) {
  auto at = [&](const SmallVector<int64_t, 3> &v, int64_t one) {
    return SmallVector<int64_t>{i < 0 ? one : v[i], v[j]};
  };
  SmallVector<int64_t> dilations = at(a.dilations, 1);
  SmallVector<int64_t> padding = {i < 0 ? 0 : a.before[i], a.before[j],
                                  i < 0 ? 0 : a.after[i], a.after[j]};
  SmallVector<NamedAttribute> attrs = {
      im.namedAttr("kind", PoolKindAttr::get(im.getContext(), kind)),
      im.i64ArrayAttr("kernel", at(a.kernel, 1)),
      im.i64ArrayAttr("strides", at(a.strides, 1)),
      im.i64ArrayAttr("padding", padding)};
  if (countPad)
    attrs.push_back(
        im.namedAttr("count_include_pad", UnitAttr::get(im.getContext())));
  if (llvm::any_of(dilations, [](int64_t d) { return d != 1; }))
    attrs.push_back(im.i64ArrayAttr("dilations", dilations));
  return im.create<Pool2dOp>({x}, attrs, role);
}

/// MaxPool and AveragePool. 1-D windows are 2-D ones of height one. A 3-D
/// window is separable: max (or mean) over the depth window of the maxima
/// (means) over the H x W windows, so it is a soap.pool2d over (D, H*W)
/// with a window of one along H*W, then one over (H, W) with the channels
/// and depths folded together. Exact, padding included: the real elements
/// of a window are a box (depths x rows x columns), so counts and maxima
/// factor (count_include_pad divides by kd * (kh * kw)).
static LogicalResult convertPool(Im &im, PoolKind kind) {
  if (failed(im.requireFloat(0)))
    return failure();
  ArrayRef<int64_t> xs = im.inputShape(0);
  if (xs.size() < 3)
    return im.nodeError() << "X must have rank 3 or more";
  size_t spatial = xs.size() - 2;
  if (spatial > 3)
    return im.limitation("spatial-rank", Twine(spatial) +
                                             "-D pooling (soap pools 1-, 2- "
                                             "and 3-D windows)");
  if (failed(im.requireUnusedOutputsFrom(1, "the argmax indices")))
    return failure();
  bool countPad = kind == PoolKind::avg && im.attrInt("count_include_pad", 0);
  auto a = readPoolAxes(im, xs.drop_front(2), countPad);
  if (failed(a))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  int64_t n = xs[0], c = xs[1];
  if (spatial == 1) {
    auto x2 = im.reshape(*x, {n, c, 1, xs[2]}, "to_2d");
    if (failed(x2))
      return failure();
    auto y = pool2d(im, *x2, kind, *a, -1, 0, countPad, "");
    if (failed(y))
      return failure();
    auto s = cast<RankedTensorType>(y->getType()).getShape();
    auto r = im.reshape(*y, {n, c, s[3]}, "to_1d");
    return failed(r) ? failure() : im.setOutput(0, *r);
  }
  if (spatial == 2) {
    auto y = pool2d(im, *x, kind, *a, 0, 1, countPad, "");
    return failed(y) ? failure() : im.setOutput(0, *y);
  }
  int64_t d = xs[2], h = xs[3], w = xs[4];
  // [N, C, D, H*W]: the depth window, one column of H*W at a time.
  WindowAxes depth;
  depth.kernel = {a->kernel[0], 1};
  depth.strides = {a->strides[0], 1};
  depth.dilations = {a->dilations[0], 1};
  depth.before = {a->before[0], 0};
  depth.after = {a->after[0], 0};
  auto flat = im.reshape(*x, {n, c, d, h * w}, "fold_hw");
  if (failed(flat))
    return failure();
  auto pd = pool2d(im, *flat, kind, depth, 0, 1, countPad, "depth");
  if (failed(pd))
    return failure();
  int64_t od = cast<RankedTensorType>(pd->getType()).getShape()[2];
  // [N, C*D', H, W]: the H x W windows of every (channel, depth).
  auto planes = im.reshape(*pd, {n, c * od, h, w}, "fold_depth");
  if (failed(planes))
    return failure();
  auto y = pool2d(im, *planes, kind, *a, 1, 2, countPad, "");
  if (failed(y))
    return failure();
  auto s = cast<RankedTensorType>(y->getType()).getShape();
  auto r = im.reshape(*y, {n, c, od, s[2], s[3]}, "to_3d");
  return failed(r) ? failure() : im.setOutput(0, *r);
}

static LogicalResult convertMaxPool(Im &im) {
  return convertPool(im, PoolKind::max);
}
static LogicalResult convertAveragePool(Im &im) {
  return convertPool(im, PoolKind::avg);
}

template <typename ReduceOpTy>
static LogicalResult globalPool(Im &im, PoolKind kind) {
  if (failed(im.requireFloat(0)))
    return failure();
  ArrayRef<int64_t> xs = im.inputShape(0);
  if (xs.size() < 3)
    return im.nodeError() << "X must have rank 3 or more";
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  FailureOr<Value> y = failure();
  if (xs.size() == 4)
    y = im.create<Pool2dOp>(
        {*x}, {im.namedAttr("kind", PoolKindAttr::get(im.getContext(), kind)),
               im.i64ArrayAttr("kernel", {xs[2], xs[3]}),
               im.i64ArrayAttr("strides", {1, 1})});
  else
    y = im.create<ReduceOpTy>(
        {*x}, {im.i64ArrayAttr("axes", iota(2, xs.size())),
               im.namedAttr("keep_dims", UnitAttr::get(im.getContext()))});
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertGlobalAveragePool(Im &im) {
  return globalPool<ReduceMeanOp>(im, PoolKind::avg);
}
static LogicalResult convertGlobalMaxPool(Im &im) {
  return globalPool<ReduceMaxOp>(im, PoolKind::max);
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

/// Mean and (population) variance of `x` over `axes`, kept as size-1 axes
/// or not.
static FailureOr<std::pair<Value, Value>>
meanAndVariance(Im &im, Value x, ArrayRef<int64_t> axes, bool keepDims,
                StringRef role) {
  Twine prefix = role;
  auto unit = im.namedAttr("keep_dims", UnitAttr::get(im.getContext()));
  auto axesAttr = im.i64ArrayAttr("axes", axes);
  auto meanKept = im.create<ReduceMeanOp>({x}, {axesAttr, unit},
                                          (prefix + "mean_kept").str());
  if (failed(meanKept))
    return failure();
  auto centered = im.create<SubOp>({x, *meanKept}, {},
                                   (prefix + "centered").str());
  if (failed(centered))
    return failure();
  auto square = im.create<MulOp>({*centered, *centered}, {},
                                 (prefix + "square").str());
  if (failed(square))
    return failure();
  SmallVector<NamedAttribute> attrs = {axesAttr};
  if (keepDims)
    attrs.push_back(unit);
  auto var = im.create<ReduceMeanOp>({*square}, attrs,
                                     (prefix + "variance").str());
  if (failed(var))
    return failure();
  if (keepDims)
    return std::make_pair(*meanKept, *var);
  auto mean = im.create<ReduceMeanOp>({x}, attrs, (prefix + "mean").str());
  if (failed(mean))
    return failure();
  return std::make_pair(*mean, *var);
}

/// BatchNormalization's training-mode outputs 1 and 2: running = input *
/// momentum + batch * (1 - momentum), in ONNX's convention (`onnxMomentum`).
static LogicalResult batchNormRunningStatistics(Im &im, Value x,
                                                double onnxMomentum) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<int64_t> axes = {0};
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d);
  auto stats = meanAndVariance(im, x, axes, /*keepDims=*/false, "batch_");
  if (failed(stats))
    return failure();
  Value batch[2] = {stats->first, stats->second};
  const char *names[2] = {"running_mean", "running_var"};
  for (int k = 0; k < 2; ++k) {
    if (!im.outputUsed(1 + k))
      continue;
    auto input = im.valueOf(3 + k, WeightRole::Buffer);
    if (failed(input))
      return failure();
    auto old = im.create<MulOp>({*input, im.scalarConstant(*input, onnxMomentum)},
                                {}, std::string(names[k]) + "_old");
    auto cur = im.create<MulOp>(
        {batch[k], im.scalarConstant(batch[k], 1.0 - onnxMomentum)}, {},
        std::string(names[k]) + "_batch");
    if (failed(old) || failed(cur))
      return failure();
    auto sum = im.create<AddOp>({*old, *cur}, {}, names[k]);
    if (failed(sum) || failed(im.setOutput(1 + k, *sum)))
      return failure();
  }
  return success();
}

static LogicalResult convertBatchNormalization(Im &im) {
  if (failed(im.requireFloat(0)))
    return failure();
  if (im.opset() < 9 && im.attrInt("spatial", 1) == 0)
    return im.limitation("batch-norm-spatial",
                         "per-activation statistics (spatial = 0)");
  // From opset 14, training mode outputs the updated running statistics;
  // earlier opsets' saved statistics are not computed.
  bool runningOutputs = im.opset() >= 14 && im.attrInt("training_mode", 0);
  if (failed(im.requireUnusedOutputsFrom(runningOutputs ? 3 : 1,
                                         "running or saved statistics")))
    return failure();
  if (im.inputShape(0).size() < 2)
    return im.nodeError() << "X must have rank 2 or more";
  auto x = im.valueOf(0);
  auto scale = im.valueOf(1, WeightRole::Scale);
  auto bias = im.valueOf(2, WeightRole::Bias);
  if (failed(x) || failed(scale) || failed(bias))
    return failure();
  // ONNX's running = momentum * running + (1 - momentum) * batch; soap keeps
  // PyTorch's convention, the complement.
  double momentum = shortestDouble(1.0 - im.attrFloat("momentum", 0.9));
  SmallVector<NamedAttribute> attrs = {
      im.f64Attr("epsilon", im.attrFloat("epsilon", 1e-5)),
      im.f64Attr("momentum", momentum)};
  // The initial running statistics: kept (as discardable attributes) with the
  // weights' values, for the runtime's evaluation mode.
  static const StringRef statNames[] = {"onnx.running_mean",
                                        "onnx.running_var"};
  for (auto [i, name] : llvm::enumerate(statNames)) {
    if (!im.keepValues() || !im.hasInput(3 + i) || !im.input(3 + i).isKnown())
      continue;
    auto known = im.knownInput(3 + i);
    if (failed(known))
      return failure();
    auto type = RankedTensorType::get(
        (*known)->shape, dtypeToMlir((*known)->dtype, im.getContext()));
    attrs.push_back(im.namedAttr(name, (*known)->toAttr(type)));
  }
  auto y = im.create<BatchNormOp>({*x, *scale, *bias}, attrs);
  if (failed(y) || failed(im.setOutput(0, *y)))
    return failure();
  if (runningOutputs && (im.outputUsed(1) || im.outputUsed(2)))
    return batchNormRunningStatistics(im, *x, 1.0 - momentum);
  return success();
}

static LogicalResult convertLayerNormalization(Im &im) {
  if (failed(im.requireFloat(0)))
    return failure();
  // Mean and InvStdDev are computed when used, in the input's type (ONNX's
  // stash_type must then be the input's).
  if (im.inputDType(0) != kFloat &&
      failed(im.requireUnusedOutputsFrom(1, "the mean or inverse deviation")))
    return failure();
  ArrayRef<int64_t> xs = im.inputShape(0);
  auto axis = checkedAxis(im, im.attrInt("axis", -1), xs.size());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> normalized(xs.begin() + *axis, xs.end());
  // Scale and bias shaped like the normalized axes (same element count:
  // reshaped; other broadcasts are a limitation).
  auto param = [&](int i, WeightRole role, StringRef what) -> FailureOr<Value> {
    ArrayRef<int64_t> s = im.inputShape(i);
    if (s == ArrayRef<int64_t>(normalized))
      return im.valueOf(i, role);
    if (shapeNumElements(s) != shapeNumElements(normalized))
      return im.limitation("layer-norm-scale",
                           what + " does not have the normalized shape");
    if (im.isPrivateInitializer(i))
      return im.derivedWeight(i, normalized, role, [&](const ConstTensor &t) {
        return t.reshaped(normalized);
      });
    auto v = im.valueOf(i, role);
    if (failed(v))
      return failure();
    return im.reshape(*v, normalized, what);
  };
  auto x = im.valueOf(0);
  auto scale = param(1, WeightRole::Scale, "scale");
  if (failed(x) || failed(scale))
    return failure();
  SmallVector<Value> operands = {*x, *scale};
  if (im.hasInput(2)) {
    auto bias = param(2, WeightRole::Bias, "bias");
    if (failed(bias))
      return failure();
    operands.push_back(*bias);
  }
  double epsilon = im.attrFloat("epsilon", 1e-5);
  auto y = im.create<LayerNormOp>(
      operands, {im.i64Attr("axis", *axis), im.f64Attr("epsilon", epsilon)});
  if (failed(y) || failed(im.setOutput(0, *y)))
    return failure();
  if (!im.outputUsed(1) && !im.outputUsed(2))
    return success();
  auto stats = meanAndVariance(im, *x, iota(*axis, xs.size()),
                               /*keepDims=*/true, "");
  if (failed(stats) || failed(im.setOutput(1, stats->first)))
    return failure();
  if (!im.outputUsed(2))
    return success();
  Value var = stats->second;
  auto shifted = im.create<AddOp>({var, im.scalarConstant(var, epsilon)}, {},
                                  "variance_epsilon");
  if (failed(shifted))
    return failure();
  auto deviation = im.create<SqrtOp>({*shifted}, {}, "std_dev");
  if (failed(deviation))
    return failure();
  auto inv = im.create<DivOp>({im.scalarConstant(var, 1.0), *deviation}, {},
                              "inv_std_dev");
  if (failed(inv))
    return failure();
  return im.setOutput(2, *inv);
}

//===----------------------------------------------------------------------===//
// Softmax, dropout, reductions
//===----------------------------------------------------------------------===//

static LogicalResult softmax(Im &im, bool log) {
  if (failed(im.requireFloat(0)))
    return failure();
  ArrayRef<int64_t> xs = im.inputShape(0);
  int64_t rank = xs.size();
  bool coerce2d = im.opset() < 13;
  auto axis = checkedAxis(im, im.attrInt("axis", coerce2d ? 1 : -1), rank);
  if (failed(axis))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  Value in = *x;
  int64_t softmaxAxis = *axis;
  // Before opset 13, softmax runs over the axes from `axis` on, flattened.
  bool reshaped = coerce2d && *axis != rank - 1;
  if (reshaped) {
    auto r = im.reshape(in, {shapeNumElements(xs.take_front(*axis)),
                             shapeNumElements(xs.drop_front(*axis))},
                        "to_2d");
    if (failed(r))
      return failure();
    in = *r;
    softmaxAxis = 1;
  }
  auto y = im.create<SoftmaxOp>({in}, {im.i64Attr("axis", softmaxAxis)},
                                log ? "softmax" : "");
  if (failed(y))
    return failure();
  Value out = *y;
  if (log) {
    auto l = im.create<LogOp>({out});
    if (failed(l))
      return failure();
    out = *l;
  }
  if (reshaped) {
    auto r = im.reshape(out, xs, "from_2d");
    if (failed(r))
      return failure();
    out = *r;
  }
  return im.setOutput(0, out);
}

static LogicalResult convertSoftmax(Im &im) { return softmax(im, false); }
static LogicalResult convertLogSoftmax(Im &im) { return softmax(im, true); }

static LogicalResult convertDropout(Im &im) {
  double ratio = 0.5;
  if (im.opset() < 12) {
    ratio = im.attrFloat("ratio", 0.5);
  } else if (im.hasInput(1)) {
    if (!im.isFoldable(1))
      return im.limitation("dynamic-operand",
                           "the ratio must be known at import time");
    auto known = im.knownInput(1);
    if (failed(known))
      return failure();
    ratio = (*known)->getDouble(0);
  }
  // training_mode (input 2) is not read: the imported model is a training
  // model, and soap.dropout is the training-time op (docs/onnx.md).
  if (!(ratio >= 0.0 && ratio < 1.0))
    return im.nodeError() << "ratio " << ratio << " is not in [0, 1)";
  if (failed(im.requireFloat(0)))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  SmallVector<NamedAttribute> attrs = {
      im.f64Attr("ratio", ratio), im.i64Attr("seed", im.attrInt("seed", 0))};
  if (!im.outputUsed(1)) {
    auto y = im.create<DropoutOp>({*x}, attrs);
    if (failed(y))
      return failure();
    return im.setOutput(0, *y);
  }
  // With the mask: the mask (soap.dropout draws the same one) and
  // y = x * cast(mask) * 1 / (1 - ratio), so that y and the mask agree.
  auto mask = im.create<DropoutMaskOp>({*x}, attrs, "mask");
  if (failed(mask))
    return failure();
  auto keep = castValue(im, *mask, im.inputDType(0), "keep");
  if (failed(keep))
    return failure();
  auto kept = im.create<MulOp>({*x, *keep}, {}, ratio != 0.0 ? "kept" : "");
  if (failed(kept))
    return failure();
  Value y = *kept;
  if (ratio != 0.0) {
    auto scaled = im.create<MulOp>(
        {*kept, im.scalarConstant(*kept, 1.0 / (1.0 - ratio))});
    if (failed(scaled))
      return failure();
    y = *scaled;
  }
  if (failed(im.setOutput(0, y)))
    return failure();
  return im.setOutput(1, *mask);
}

template <typename OpTy>
static LogicalResult reduce(Im &im, bool axesAsInput) {
  if (failed(im.requireFloat(0)))
    return failure();
  int64_t rank = im.inputShape(0).size();
  SmallVector<int64_t> axes;
  if (axesAsInput) {
    if (im.hasInput(1)) {
      auto known = im.requireKnownInts(1, "axes");
      if (failed(known))
        return failure();
      axes = *known;
    }
  } else {
    axes = im.attrInts("axes");
  }
  if (axes.empty()) {
    if (im.attrInt("noop_with_empty_axes", 0))
      return im.forwardInput(0, 0);
    axes = iota(0, rank);
  }
  for (int64_t &a : axes) {
    auto axis = checkedAxis(im, a, rank);
    if (failed(axis))
      return failure();
    a = *axis;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  SmallVector<NamedAttribute> attrs = {im.i64ArrayAttr("axes", axes)};
  if (im.attrInt("keepdims", 1))
    attrs.push_back(im.namedAttr("keep_dims", UnitAttr::get(im.getContext())));
  auto y = im.create<OpTy>({*x}, attrs);
  if (failed(y))
    return failure();
  return im.setOutput(0, *y);
}

static LogicalResult convertReduceSum(Im &im) {
  return reduce<ReduceSumOp>(im, im.opset() >= 13);
}
static LogicalResult convertReduceMean(Im &im) {
  return reduce<ReduceMeanOp>(im, false);
}
static LogicalResult convertReduceMax(Im &im) {
  return reduce<ReduceMaxOp>(im, false);
}

//===----------------------------------------------------------------------===//
// LSTM
//===----------------------------------------------------------------------===//

/// ONNX orders the gates i, o, f, c; soap (PyTorch) i, f, c (g), o.
static constexpr int64_t kGateOrder[4] = {0, 2, 3, 1};

/// Rows of a [4H, X] matrix (or a [4H] vector) in soap's gate order.
static ConstTensor reorderGates(const ConstTensor &t, int64_t hidden) {
  ConstTensor src = t.expanded();
  ConstTensor out = src;
  int64_t block = src.data.size() / 4;
  for (int g = 0; g < 4; ++g)
    std::memcpy(out.data.data() + g * block,
                src.data.data() + kGateOrder[g] * block, block);
  (void)hidden;
  return out;
}

/// An ONNX LSTM weight [1, 4H, X] as soap's [X, 4H], gates reordered.
static FailureOr<Value> lstmWeight(Im &im, int i, int64_t hidden,
                                   StringRef role) {
  ArrayRef<int64_t> s = im.inputShape(i);
  int64_t cols = s[2];
  if (im.isPrivateInitializer(i))
    return im.derivedWeight(
        i, {cols, 4 * hidden}, WeightRole::Matrix, [&](const ConstTensor &t) {
          return reorderGates(t.reshaped({4 * hidden, cols}), hidden)
              .transposed({1, 0});
        });
  auto v = im.valueOf(i, WeightRole::Matrix);
  if (failed(v))
    return failure();
  auto m = im.reshape(*v, {4 * hidden, cols}, (role + "_2d").str());
  if (failed(m))
    return failure();
  auto split = im.createOp(SplitOp::getOperationName(), {*m},
                           {im.i64Attr("axis", 0),
                            im.i64ArrayAttr("sizes", {hidden, hidden, hidden,
                                                      hidden})},
                           4, (role + "_gates").str());
  if (failed(split))
    return failure();
  SmallVector<Value> gates;
  for (int64_t g : kGateOrder)
    gates.push_back((*split)->getResult(g));
  auto c = im.create<ConcatOp>(gates, {im.i64Attr("axis", 0)},
                               (role + "_reorder").str());
  if (failed(c))
    return failure();
  return im.transpose(*c, {1, 0}, (role + "_transpose").str());
}

/// ONNX's B [1, 8H] (input and recurrent biases) as soap's [4H].
static FailureOr<Value> lstmBias(Im &im, int i, int64_t hidden) {
  if (im.isPrivateInitializer(i))
    return im.derivedWeight(i, {4 * hidden}, WeightRole::Bias,
                            [&](const ConstTensor &t) {
                              std::vector<double> v = t.toDoubles(), sum(4 * hidden);
                              for (int64_t j = 0; j < 4 * hidden; ++j)
                                sum[j] = v[j] + v[j + 4 * hidden];
                              return reorderGates(
                                  ConstTensor::fromDoubles(t.dtype, {4 * hidden},
                                                           sum),
                                  hidden);
                            });
  auto v = im.valueOf(i, WeightRole::Bias);
  if (failed(v))
    return failure();
  auto flat = im.reshape(*v, {8 * hidden}, "bias_1d");
  if (failed(flat))
    return failure();
  auto split = im.createOp(SplitOp::getOperationName(), {*flat},
                           {im.i64Attr("axis", 0),
                            im.i64ArrayAttr("sizes", {4 * hidden, 4 * hidden})},
                           2, "bias_parts");
  if (failed(split))
    return failure();
  auto sum = im.create<AddOp>({(*split)->getResult(0), (*split)->getResult(1)},
                              {}, "bias_sum");
  if (failed(sum))
    return failure();
  auto gates = im.createOp(SplitOp::getOperationName(), {*sum},
                           {im.i64Attr("axis", 0),
                            im.i64ArrayAttr("sizes", {hidden, hidden, hidden,
                                                      hidden})},
                           4, "bias_gates");
  if (failed(gates))
    return failure();
  SmallVector<Value> ordered;
  for (int64_t g : kGateOrder)
    ordered.push_back((*gates)->getResult(g));
  return im.create<ConcatOp>(ordered, {im.i64Attr("axis", 0)}, "bias_reorder");
}

/// Whether optional input i is absent, or known and all zeros.
static FailureOr<bool> absentOrZero(Im &im, int i) {
  if (!im.hasInput(i))
    return true;
  if (!im.isFoldable(i))
    return false;
  auto known = im.knownInput(i);
  if (failed(known))
    return failure();
  for (double v : (*known)->toDoubles())
    if (v != 0.0)
      return false;
  return true;
}

static LogicalResult convertLSTM(Im &im) {
  if (failed(im.requireFloat(0)) || failed(im.requireFloat(1)) ||
      failed(im.requireFloat(2)))
    return failure();
  std::string direction = im.attrString("direction", "forward");
  if (direction != "forward")
    return im.limitation("lstm-variant", "direction '" + direction + "'");
  if (im.hasInput(7))
    return im.limitation("lstm-variant", "peephole weights");
  if (im.hasAttr("clip") || im.attrInt("input_forget", 0))
    return im.limitation("lstm-variant", "clip or input_forget");
  if (const auto *acts = im.attr("activations")) {
    static const char *defaults[] = {"Sigmoid", "Tanh", "Tanh"};
    for (int k = 0; k < acts->strings_size(); ++k)
      if (StringRef(acts->strings(k)).lower() !=
          StringRef(defaults[k % 3]).lower())
        return im.limitation("lstm-variant",
                             "activation '" + acts->strings(k) + "'");
  }
  for (int i : {5, 6}) {
    auto zero = absentOrZero(im, i);
    if (failed(zero))
      return failure();
    if (!*zero)
      return im.limitation("lstm-variant", "a non-zero initial state");
  }
  bool batchFirst = im.attrInt("layout", 0) == 1;
  ArrayRef<int64_t> xs = im.inputShape(0), rs = im.inputShape(2);
  if (xs.size() != 3 || rs.size() != 3 || im.inputShape(1).size() != 3)
    return im.nodeError() << "X, W and R must have rank 3";
  int64_t seq = batchFirst ? xs[1] : xs[0], batch = batchFirst ? xs[0] : xs[1];
  int64_t hidden = im.attrInt("hidden_size", rs[2]);
  ArrayRef<int64_t> ws = im.inputShape(1);
  if (ws != ArrayRef<int64_t>{1, 4 * hidden, xs[2]} ||
      rs != ArrayRef<int64_t>{1, 4 * hidden, hidden} ||
      (im.hasInput(3) &&
       im.inputShape(3) != ArrayRef<int64_t>{1, 8 * hidden}))
    return im.nodeError() << "inconsistent shapes: W, R and B must be [1, "
                          << 4 * hidden << ", " << xs[2] << "], [1, "
                          << 4 * hidden << ", " << hidden << "] and [1, "
                          << 8 * hidden << "]";
  if (im.hasInput(4)) {
    // All sequences of full length is the plain LSTM.
    if (!im.isFoldable(4))
      return im.limitation("lstm-variant", "runtime sequence_lens");
    auto known = im.knownInput(4);
    if (failed(known))
      return failure();
    for (int64_t len : (*known)->toInts())
      if (len != seq)
        return im.limitation("lstm-variant",
                             "sequence_lens shorter than the sequence");
  }
  if (failed(im.requireUnusedOutputsFrom(2, "the last cell state Y_c")))
    return failure();
  auto x = im.valueOf(0);
  if (failed(x))
    return failure();
  Value input = *x;
  if (!batchFirst) {
    auto t = im.transpose(input, {1, 0, 2}, "input");
    if (failed(t))
      return failure();
    input = *t;
  }
  auto wih = lstmWeight(im, 1, hidden, "w_ih");
  auto whh = lstmWeight(im, 2, hidden, "w_hh");
  if (failed(wih) || failed(whh))
    return failure();
  SmallVector<Value> operands = {input, *wih, *whh};
  if (im.hasInput(3)) {
    auto b = lstmBias(im, 3, hidden);
    if (failed(b))
      return failure();
    operands.push_back(*b);
  }
  auto h = im.create<LstmOp>(operands);
  if (failed(h))
    return failure();
  // Y: [T, 1, B, H] ([B, T, 1, H] batch-first).
  if (im.outputUsed(0)) {
    Value y = *h;
    if (!batchFirst) {
      auto t = im.transpose(y, {1, 0, 2}, "y");
      if (failed(t))
        return failure();
      y = *t;
    }
    auto r = im.reshape(y,
                        batchFirst ? SmallVector<int64_t>{batch, seq, 1, hidden}
                                   : SmallVector<int64_t>{seq, 1, batch, hidden},
                        "y_4d");
    if (failed(r) || failed(im.setOutput(0, *r)))
      return failure();
  }
  // Y_h: the last step, [1, B, H] ([B, 1, H] batch-first).
  if (im.outputUsed(1)) {
    auto last = im.create<SliceOp>(
        {*h}, {im.i64ArrayAttr("starts", {0, seq - 1, 0}),
               im.i64ArrayAttr("ends", {batch, seq, hidden})},
        "y_h");
    if (failed(last))
      return failure();
    Value yh = *last;
    if (!batchFirst) {
      auto t = im.transpose(yh, {1, 0, 2}, "y_h_transpose");
      if (failed(t))
        return failure();
      yh = *t;
    }
    if (failed(im.setOutput(1, yh)))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

static LogicalResult convertSoftmaxCrossEntropyLoss(Im &im) {
  if (failed(im.requireFloat(0)))
    return failure();
  std::string reduction = im.attrString("reduction", "mean");
  if (reduction != "mean" && reduction != "sum" && reduction != "none")
    return im.nodeError() << "unknown reduction '" << reduction << "'";
  int32_t labelType = im.inputDType(1);
  if (labelType != kInt32 && labelType != kInt64)
    return im.limitation("dtype", "labels of type " + dtypeName(labelType));
  ArrayRef<int64_t> xs = im.inputShape(0);
  if (xs.size() < 2)
    return im.nodeError() << "scores must have rank 2 or more";
  auto x = im.valueOf(0);
  auto labels = im.valueOf(1);
  if (failed(x) || failed(labels))
    return failure();
  // [N, C, d1, ...] -> [N, d1, ..., C]: soap takes the classes last.
  SmallVector<int64_t> perm = {0};
  for (int64_t d = 2, e = xs.size(); d < e; ++d)
    perm.push_back(d);
  perm.push_back(1);
  auto logits = im.transpose(*x, perm, "classes_last");
  if (failed(logits))
    return failure();
  SmallVector<Value> operands = {*logits, *labels};
  if (im.hasInput(2)) {
    // Class weights are data, not trainable: a known tensor is a constant.
    if (failed(im.requireFloat(2)))
      return failure();
    auto known = im.knownInput(2);
    if (failed(known))
      return failure();
    auto w = *known ? im.constant(**known) : im.valueOf(2);
    if (failed(w))
      return failure();
    operands.push_back(*w);
  }
  SmallVector<NamedAttribute> attrs;
  if (reduction != "mean")
    attrs.push_back(im.namedAttr(
        "reduction", StringAttr::get(im.getContext(), reduction)));
  if (im.hasAttr("ignore_index"))
    attrs.push_back(im.i64Attr("ignore_index", im.attrInt("ignore_index", 0)));
  auto loss = im.create<SoftmaxCrossEntropyOp>(operands, attrs);
  if (failed(loss))
    return failure();
  if (failed(im.setOutput(0, *loss)))
    return failure();
  // Output 1: the log-probabilities, [N, C, d1, ...].
  if (!im.outputUsed(1))
    return success();
  auto probs = im.create<SoftmaxOp>({*x}, {im.i64Attr("axis", 1)}, "softmax");
  if (failed(probs))
    return failure();
  auto logProbs = im.create<LogOp>({*probs}, {}, "log_prob");
  if (failed(logProbs))
    return failure();
  return im.setOutput(1, *logProbs);
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

const llvm::StringMap<Converter> &soap::onnx_import::getConverters() {
  static const llvm::StringMap<Converter> table = {
      // Constants and shape arithmetic (folded at import).
      {"Constant", convertConstant},
      {"ConstantOfShape", convertConstantOfShape},
      {"Identity", convertIdentity},
      {"Shape", convertShape},
      {"Size", convertSize},
      {"Cast", convertCast},
      {"CastLike", convertCastLike},
      {"Where", convertWhere},
      {"Range", convertRange},
      {"Expand", convertExpand},
      // Views and data movement.
      {"Reshape", convertReshape},
      {"Flatten", convertFlatten},
      {"Squeeze", convertSqueeze},
      {"Unsqueeze", convertUnsqueeze},
      {"Transpose", convertTranspose},
      {"Concat", convertConcat},
      {"Split", convertSplit},
      {"Slice", convertSlice},
      {"Gather", convertGather},
      // Elementwise.
      {"Add", convertAdd},
      {"Sub", convertSub},
      {"Mul", convertMul},
      {"Div", convertDiv},
      {"Sum", convertSum},
      {"Pow", convertPow},
      {"Reciprocal", convertReciprocal},
      {"Relu", convertRelu},
      {"Sigmoid", convertSigmoid},
      {"Tanh", convertTanh},
      {"Exp", convertExp},
      {"Log", convertLog},
      {"Neg", convertNeg},
      {"Sqrt", convertSqrt},
      {"Erf", convertErf},
      // Comparisons and logical ops (boolean results).
      {"Equal", convertEqual},
      {"Less", convertLess},
      {"LessOrEqual", convertLessOrEqual},
      {"Greater", convertGreater},
      {"GreaterOrEqual", convertGreaterOrEqual},
      {"Not", convertNot},
      {"And", convertAnd},
      {"Or", convertOr},
      {"Xor", convertXor},
      // Layers.
      {"MatMul", convertMatMul},
      {"Gemm", convertGemm},
      {"Conv", convertConv},
      {"MaxPool", convertMaxPool},
      {"AveragePool", convertAveragePool},
      {"GlobalAveragePool", convertGlobalAveragePool},
      {"GlobalMaxPool", convertGlobalMaxPool},
      {"BatchNormalization", convertBatchNormalization},
      {"LayerNormalization", convertLayerNormalization},
      {"Softmax", convertSoftmax},
      {"LogSoftmax", convertLogSoftmax},
      {"Dropout", convertDropout},
      {"ReduceSum", convertReduceSum},
      {"ReduceMean", convertReduceMean},
      {"ReduceMax", convertReduceMax},
      {"LSTM", convertLSTM},
      {"SoftmaxCrossEntropyLoss", convertSoftmaxCrossEntropyLoss},
  };
  return table;
}

bool soap::onnx_import::isFoldOnlyOpType(StringRef opType) {
  return llvm::is_contained(
      ArrayRef<StringRef>{"Constant", "ConstantOfShape", "Shape", "Size",
                          "Where", "Range"},
      opType);
}
