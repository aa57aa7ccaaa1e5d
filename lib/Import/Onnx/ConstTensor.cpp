//===- ConstTensor.cpp - tensors known at import time ---------------------===//
#include "ConstTensor.h"

#include "onnx/onnx_pb.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace soap::onnx_import;

int64_t soap::onnx_import::dtypeSize(int32_t dtype) {
  switch (dtype) {
  case kUint8:
  case kInt8:
  case kBool:
    return 1;
  case kUint16:
  case kInt16:
  case kFloat16:
  case kBfloat16:
    return 2;
  case kFloat:
  case kInt32:
  case kUint32:
    return 4;
  case kInt64:
  case kUint64:
  case kDouble:
  case kComplex64:
    return 8;
  case kComplex128:
    return 16;
  default:
    return 0;
  }
}

llvm::StringRef soap::onnx_import::dtypeName(int32_t dtype) {
  switch (dtype) {
  case kFloat: return "FLOAT";
  case kUint8: return "UINT8";
  case kInt8: return "INT8";
  case kUint16: return "UINT16";
  case kInt16: return "INT16";
  case kInt32: return "INT32";
  case kInt64: return "INT64";
  case kString: return "STRING";
  case kBool: return "BOOL";
  case kFloat16: return "FLOAT16";
  case kDouble: return "DOUBLE";
  case kUint32: return "UINT32";
  case kUint64: return "UINT64";
  case kComplex64: return "COMPLEX64";
  case kComplex128: return "COMPLEX128";
  case kBfloat16: return "BFLOAT16";
  default: return "UNDEFINED";
  }
}

bool soap::onnx_import::isFloatDType(int32_t dtype) {
  return dtype == kFloat || dtype == kDouble || dtype == kFloat16 ||
         dtype == kBfloat16;
}

bool soap::onnx_import::isIntegerDType(int32_t dtype) {
  switch (dtype) {
  case kUint8:
  case kInt8:
  case kUint16:
  case kInt16:
  case kInt32:
  case kInt64:
  case kUint32:
  case kUint64:
  case kBool:
    return true;
  default:
    return false;
  }
}

Type soap::onnx_import::dtypeToMlir(int32_t dtype, MLIRContext *context) {
  Builder b(context);
  switch (dtype) {
  case kFloat: return b.getF32Type();
  case kDouble: return b.getF64Type();
  case kFloat16: return b.getF16Type();
  case kBfloat16: return b.getBF16Type();
  case kBool: return b.getI1Type();
  case kInt8: return b.getIntegerType(8);
  case kInt16: return b.getIntegerType(16);
  case kInt32: return b.getI32Type();
  case kInt64: return b.getI64Type();
  case kUint8: return b.getIntegerType(8, /*isSigned=*/false);
  case kUint16: return b.getIntegerType(16, /*isSigned=*/false);
  case kUint32: return b.getIntegerType(32, /*isSigned=*/false);
  case kUint64: return b.getIntegerType(64, /*isSigned=*/false);
  default: return Type();
  }
}

bool soap::onnx_import::isSoapDType(int32_t dtype) {
  return isFloatDType(dtype) || dtype == kInt32 || dtype == kInt64 ||
         dtype == kBool;
}

int64_t soap::onnx_import::shapeNumElements(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// Element access
//===----------------------------------------------------------------------===//

template <typename T>
static T readAt(const std::vector<char> &data, int64_t i) {
  T v;
  std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T>
static void writeAt(std::vector<char> &data, int64_t i, T v) {
  std::memcpy(data.data() + i * sizeof(T), &v, sizeof(T));
}

static double halfToDouble(uint16_t bits, const llvm::fltSemantics &sem) {
  llvm::APFloat f(sem, llvm::APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

static uint16_t doubleToHalf(double v, const llvm::fltSemantics &sem) {
  llvm::APFloat f(v);
  bool lost;
  f.convert(sem, llvm::APFloat::rmNearestTiesToEven, &lost);
  return static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
}

double ConstTensor::getDouble(int64_t i) const {
  if (splat)
    i = 0;
  switch (dtype) {
  case kFloat: return readAt<float>(data, i);
  case kDouble: return readAt<double>(data, i);
  case kFloat16:
    return halfToDouble(readAt<uint16_t>(data, i), llvm::APFloat::IEEEhalf());
  case kBfloat16:
    return halfToDouble(readAt<uint16_t>(data, i), llvm::APFloat::BFloat());
  case kUint64: return static_cast<double>(readAt<uint64_t>(data, i));
  default: return static_cast<double>(getInt(i));
  }
}

int64_t ConstTensor::getInt(int64_t i) const {
  if (splat)
    i = 0;
  switch (dtype) {
  case kBool:
  case kUint8: return readAt<uint8_t>(data, i);
  case kInt8: return readAt<int8_t>(data, i);
  case kUint16: return readAt<uint16_t>(data, i);
  case kInt16: return readAt<int16_t>(data, i);
  case kInt32: return readAt<int32_t>(data, i);
  case kUint32: return readAt<uint32_t>(data, i);
  case kInt64: return readAt<int64_t>(data, i);
  case kUint64: return static_cast<int64_t>(readAt<uint64_t>(data, i));
  default: {
    double d = getDouble(i);
    if (!std::isfinite(d))
      return 0;
    return static_cast<int64_t>(std::trunc(d));
  }
  }
}

std::vector<double> ConstTensor::toDoubles() const {
  std::vector<double> out(numElements());
  for (int64_t i = 0, e = out.size(); i < e; ++i)
    out[i] = getDouble(i);
  return out;
}

llvm::SmallVector<int64_t> ConstTensor::toInts() const {
  llvm::SmallVector<int64_t> out(numElements());
  for (int64_t i = 0, e = out.size(); i < e; ++i)
    out[i] = getInt(i);
  return out;
}

/// Stores `v` (a double, or an integer when `isInt`) as element i.
static void storeElement(ConstTensor &t, int64_t i, double d, int64_t v,
                         bool isInt) {
  switch (t.dtype) {
  case kFloat: writeAt<float>(t.data, i, isInt ? float(v) : float(d)); return;
  case kDouble: writeAt<double>(t.data, i, isInt ? double(v) : d); return;
  case kFloat16:
    writeAt<uint16_t>(t.data, i,
                      doubleToHalf(isInt ? double(v) : d,
                                   llvm::APFloat::IEEEhalf()));
    return;
  case kBfloat16:
    writeAt<uint16_t>(
        t.data, i,
        doubleToHalf(isInt ? double(v) : d, llvm::APFloat::BFloat()));
    return;
  default:
    break;
  }
  if (!isInt)
    v = std::isfinite(d) ? static_cast<int64_t>(std::trunc(d)) : 0;
  switch (t.dtype) {
  case kBool: writeAt<uint8_t>(t.data, i, v != 0); return;
  case kUint8: writeAt<uint8_t>(t.data, i, uint8_t(v)); return;
  case kInt8: writeAt<int8_t>(t.data, i, int8_t(v)); return;
  case kUint16: writeAt<uint16_t>(t.data, i, uint16_t(v)); return;
  case kInt16: writeAt<int16_t>(t.data, i, int16_t(v)); return;
  case kInt32: writeAt<int32_t>(t.data, i, int32_t(v)); return;
  case kUint32: writeAt<uint32_t>(t.data, i, uint32_t(v)); return;
  case kInt64: writeAt<int64_t>(t.data, i, v); return;
  case kUint64: writeAt<uint64_t>(t.data, i, uint64_t(v)); return;
  default: return;
  }
}

ConstTensor ConstTensor::fromInts(int32_t dtype, llvm::ArrayRef<int64_t> shape,
                                  llvm::ArrayRef<int64_t> values) {
  ConstTensor t;
  t.dtype = dtype;
  t.shape.assign(shape.begin(), shape.end());
  t.data.assign(values.size() * dtypeSize(dtype), 0);
  for (auto [i, v] : llvm::enumerate(values))
    storeElement(t, i, 0.0, v, /*isInt=*/true);
  return t;
}

ConstTensor ConstTensor::fromDoubles(int32_t dtype,
                                     llvm::ArrayRef<int64_t> shape,
                                     llvm::ArrayRef<double> values) {
  ConstTensor t;
  t.dtype = dtype;
  t.shape.assign(shape.begin(), shape.end());
  t.data.assign(values.size() * dtypeSize(dtype), 0);
  for (auto [i, v] : llvm::enumerate(values))
    storeElement(t, i, v, 0, /*isInt=*/false);
  return t;
}

ConstTensor ConstTensor::splatOf(int32_t dtype, llvm::ArrayRef<int64_t> shape,
                                 double value) {
  ConstTensor t = fromDoubles(dtype, {}, {value});
  t.shape.assign(shape.begin(), shape.end());
  t.splat = true;
  return t;
}

ConstTensor ConstTensor::expanded() const {
  if (!splat)
    return *this;
  ConstTensor t;
  t.dtype = dtype;
  t.shape = shape;
  int64_t size = dtypeSize(dtype), n = numElements();
  t.data.resize(n * size);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(t.data.data() + i * size, data.data(), size);
  return t;
}

ConstTensor ConstTensor::castTo(int32_t newDType) const {
  ConstTensor t;
  t.dtype = newDType;
  t.shape = shape;
  t.splat = splat;
  int64_t n = splat ? 1 : numElements();
  t.data.assign(n * dtypeSize(newDType), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (isFloat())
      storeElement(t, i, getDouble(i), 0, /*isInt=*/false);
    else
      storeElement(t, i, 0.0, getInt(i), /*isInt=*/true);
  }
  return t;
}

ConstTensor ConstTensor::reshaped(llvm::ArrayRef<int64_t> newShape) const {
  ConstTensor t = *this;
  t.shape.assign(newShape.begin(), newShape.end());
  return t;
}

llvm::SmallVector<int64_t>
soap::onnx_import::rowMajorStrides(llvm::ArrayRef<int64_t> shape) {
  llvm::SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

ConstTensor ConstTensor::transposed(llvm::ArrayRef<int64_t> perm) const {
  if (splat) {
    ConstTensor t = *this;
    t.shape.clear();
    for (int64_t p : perm)
      t.shape.push_back(shape[p]);
    return t;
  }
  ConstTensor t;
  t.dtype = dtype;
  for (int64_t p : perm)
    t.shape.push_back(shape[p]);
  int64_t size = dtypeSize(dtype), n = numElements();
  t.data.resize(n * size);
  auto inStrides = rowMajorStrides(shape);
  auto outStrides = rowMajorStrides(t.shape);
  int64_t rank = perm.size();
  for (int64_t o = 0; o < n; ++o) {
    int64_t rem = o, in = 0;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t idx = rem / outStrides[d];
      rem %= outStrides[d];
      in += idx * inStrides[perm[d]];
    }
    std::memcpy(t.data.data() + o * size, data.data() + in * size, size);
  }
  return t;
}

DenseElementsAttr ConstTensor::toAttr(RankedTensorType type) const {
  Type elt = type.getElementType();
  if (splat) {
    if (auto ft = dyn_cast<FloatType>(elt)) {
      llvm::APFloat f(getDouble(0));
      bool lost;
      f.convert(ft.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
      return DenseElementsAttr::get(type, llvm::ArrayRef<llvm::APFloat>(f));
    }
    if (elt.isInteger(1))
      return DenseElementsAttr::get(type, getInt(0) != 0);
    llvm::APInt v(elt.getIntOrFloatBitWidth(), getInt(0), /*isSigned=*/true,
                  /*implicitTrunc=*/true);
    return DenseElementsAttr::get(type, llvm::ArrayRef<llvm::APInt>(v));
  }
  if (dtype == kBool) {
    llvm::SmallVector<bool> bits;
    for (int64_t i = 0, e = numElements(); i < e; ++i)
      bits.push_back(getInt(i) != 0);
    return DenseElementsAttr::get(type, llvm::ArrayRef<bool>(bits));
  }
  return DenseElementsAttr::getFromRawBuffer(
      type, llvm::ArrayRef<char>(data.data(), data.size()));
}

//===----------------------------------------------------------------------===//
// Decoding TensorProto
//===----------------------------------------------------------------------===//

static llvm::Error tensorError(const onnx::TensorProto &proto,
                               const llvm::Twine &message) {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      "tensor '" + llvm::Twine(proto.name()) + "': " + message);
}

llvm::Expected<ConstTensor>
soap::onnx_import::decodeTensor(const onnx::TensorProto &proto,
                                llvm::StringRef baseDir) {
  ConstTensor t;
  t.dtype = proto.data_type();
  for (int64_t d : proto.dims()) {
    if (d < 0)
      return tensorError(proto, "has a negative dimension");
    t.shape.push_back(d);
  }
  int64_t size = dtypeSize(t.dtype);
  if (t.dtype == kString || size == 0 || t.dtype == kComplex64 ||
      t.dtype == kComplex128)
    return tensorError(proto, "element type " + dtypeName(t.dtype) +
                                  " is not supported");
  if (proto.has_segment())
    return tensorError(proto, "segmented tensors are not supported");
  int64_t n = t.numElements();
  t.data.assign(n * size, 0);

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &entry : proto.external_data()) {
      if (entry.key() == "location")
        location = entry.value();
      else if (entry.key() == "offset")
        offset = std::stoll(entry.value());
      else if (entry.key() == "length")
        length = std::stoll(entry.value());
    }
    if (location.empty())
      return tensorError(proto, "external data without a location");
    llvm::SmallString<256> path(baseDir);
    llvm::sys::path::append(path, location);
    auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
    if (!file)
      return tensorError(proto, "cannot read external data '" + path +
                                    "': " + file.getError().message());
    if (length < 0)
      length = n * size;
    if (length != n * size || offset < 0 ||
        static_cast<uint64_t>(offset + length) > (*file)->getBufferSize())
      return tensorError(proto, "external data '" + path +
                                    "' does not hold the tensor's " +
                                    llvm::Twine(n * size) + " bytes");
    std::memcpy(t.data.data(), (*file)->getBufferStart() + offset, length);
    return t;
  }

  if (proto.has_raw_data()) {
    const std::string &raw = proto.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * size)
      return tensorError(proto, "raw_data has " + llvm::Twine(raw.size()) +
                                    " bytes, the shape needs " +
                                    llvm::Twine(n * size));
    std::memcpy(t.data.data(), raw.data(), raw.size());
    return t;
  }

  auto checkCount = [&](int64_t count) -> llvm::Error {
    if (count != n)
      return tensorError(proto, "has " + llvm::Twine(count) +
                                    " values, its shape needs " +
                                    llvm::Twine(n));
    return llvm::Error::success();
  };
  switch (t.dtype) {
  case kFloat:
    if (auto err = checkCount(proto.float_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i)
      writeAt<float>(t.data, i, proto.float_data(i));
    break;
  case kDouble:
    if (auto err = checkCount(proto.double_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i)
      writeAt<double>(t.data, i, proto.double_data(i));
    break;
  case kInt64:
    if (auto err = checkCount(proto.int64_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i)
      writeAt<int64_t>(t.data, i, proto.int64_data(i));
    break;
  case kUint32:
  case kUint64:
    if (auto err = checkCount(proto.uint64_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i) {
      if (t.dtype == kUint32)
        writeAt<uint32_t>(t.data, i, uint32_t(proto.uint64_data(i)));
      else
        writeAt<uint64_t>(t.data, i, proto.uint64_data(i));
    }
    break;
  case kFloat16:
  case kBfloat16:
    // Stored as their bit patterns in int32_data.
    if (auto err = checkCount(proto.int32_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i)
      writeAt<uint16_t>(t.data, i, uint16_t(proto.int32_data(i)));
    break;
  default:
    // INT32, INT16, INT8, UINT16, UINT8, BOOL: int32_data.
    if (auto err = checkCount(proto.int32_data_size()))
      return std::move(err);
    for (int64_t i = 0; i < n; ++i)
      storeElement(t, i, 0.0, proto.int32_data(i), /*isInt=*/true);
    break;
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Broadcasting
//===----------------------------------------------------------------------===//

int64_t soap::onnx_import::broadcastSourceIndex(
    int64_t outIndex, llvm::ArrayRef<int64_t> outShape,
    llvm::ArrayRef<int64_t> inShape) {
  int64_t offset = outShape.size() - inShape.size();
  int64_t in = 0, inStride = 1;
  int64_t rem = outIndex;
  // Walk axes from the last: the digit of outIndex on axis d.
  for (int64_t d = static_cast<int64_t>(outShape.size()) - 1; d >= 0; --d) {
    int64_t digit = rem % outShape[d];
    rem /= outShape[d];
    int64_t id = d - offset;
    if (id < 0)
      break;
    if (inShape[id] != 1)
      in += digit * inStride;
    inStride *= inShape[id];
  }
  return in;
}

bool soap::onnx_import::broadcastShapes(llvm::ArrayRef<int64_t> a,
                                        llvm::ArrayRef<int64_t> b,
                                        llvm::SmallVectorImpl<int64_t> &result) {
  size_t rank = std::max(a.size(), b.size());
  result.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return false;
    result[i] = da == 1 ? db : da;
  }
  return true;
}
