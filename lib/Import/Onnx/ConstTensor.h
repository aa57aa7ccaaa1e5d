//===- ConstTensor.h - tensors known at import time -------------*- C++ -*-===//
//
// The ONNX importer folds constants and shape arithmetic (Shape, Gather,
// Concat, Cast, ...) on ConstTensor values: a dtype (ONNX's enum), a shape and
// the elements as little-endian bytes (ONNX's raw_data layout), or a single
// element for a splat. Private to lib/Import/Onnx.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_IMPORT_ONNX_CONSTTENSOR_H
#define SOAP_LIB_IMPORT_ONNX_CONSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onnx {
class TensorProto;
} // namespace onnx

namespace soap::onnx_import {

/// ONNX's TensorProto.DataType values the importer names.
enum OnnxDType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBfloat16 = 16,
};

/// Bytes per element (0 for strings and unknown types).
int64_t dtypeSize(int32_t dtype);
/// ONNX's name of a dtype ("FLOAT", "INT64", ...).
llvm::StringRef dtypeName(int32_t dtype);
bool isFloatDType(int32_t dtype);
/// Integer types and bool.
bool isIntegerDType(int32_t dtype);
/// The MLIR element type of a dtype, or null (strings, complex).
mlir::Type dtypeToMlir(int32_t dtype, mlir::MLIRContext *context);
/// Soap's tensors hold f32, f16, bf16, f64 (compute), i32, i64 (indices)
/// and booleans (i1: comparisons, masks).
bool isSoapDType(int32_t dtype);

int64_t shapeNumElements(llvm::ArrayRef<int64_t> shape);

/// A tensor whose elements are known at import time.
struct ConstTensor {
  int32_t dtype = kUndefined;
  llvm::SmallVector<int64_t, 4> shape;
  /// Little-endian elements (bool and 8-bit types: one byte each); a single
  /// element when `splat`.
  std::vector<char> data;
  bool splat = false;

  int64_t numElements() const { return shapeNumElements(shape); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  bool isFloat() const { return isFloatDType(dtype); }
  bool isInteger() const { return isIntegerDType(dtype); }

  /// Element i as a double / an integer (converting either way).
  double getDouble(int64_t i) const;
  int64_t getInt(int64_t i) const;
  std::vector<double> toDoubles() const;
  llvm::SmallVector<int64_t> toInts() const;

  static ConstTensor fromInts(int32_t dtype, llvm::ArrayRef<int64_t> shape,
                              llvm::ArrayRef<int64_t> values);
  static ConstTensor fromDoubles(int32_t dtype, llvm::ArrayRef<int64_t> shape,
                                 llvm::ArrayRef<double> values);
  static ConstTensor splatOf(int32_t dtype, llvm::ArrayRef<int64_t> shape,
                             double value);
  /// A splat tensor expanded to all its elements.
  ConstTensor expanded() const;
  /// The same elements converted to `dtype` (ONNX Cast semantics for numbers).
  ConstTensor castTo(int32_t newDType) const;
  /// The same elements under another shape of the same element count.
  ConstTensor reshaped(llvm::ArrayRef<int64_t> newShape) const;
  /// Axes permuted: result axis i is axis perm[i].
  ConstTensor transposed(llvm::ArrayRef<int64_t> perm) const;
  /// The elements as an MLIR attribute of the given tensor type.
  mlir::DenseElementsAttr toAttr(mlir::RankedTensorType type) const;
};

/// Decodes a TensorProto (typed fields, raw_data or external data relative to
/// `baseDir`). Returns an error message on failure.
llvm::Expected<ConstTensor> decodeTensor(const onnx::TensorProto &proto,
                                         llvm::StringRef baseDir);

/// Index helpers for broadcasting: the strides of a row-major shape, and the
/// element of `inShape` (right-aligned broadcast) read for result element
/// `outIndex` of `outShape`.
llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape);
int64_t broadcastSourceIndex(int64_t outIndex, llvm::ArrayRef<int64_t> outShape,
                             llvm::ArrayRef<int64_t> inShape);
/// NumPy broadcast of two shapes; false if they do not broadcast.
bool broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b,
                     llvm::SmallVectorImpl<int64_t> &result);

} // namespace soap::onnx_import

#endif // SOAP_LIB_IMPORT_ONNX_CONSTTENSOR_H
