//===- Tensor.h - plain tensor views for the CPU kernels --------*- C++ -*-===//
//
// The CPU kernel library (docs/kernels.md) works on borrowed memory: a view is
// a pointer, a shape and element strides. Views never own or allocate; the
// runtime owns every buffer. No MLIR, no LLVM: the runtime, tests and
// benchmarks include this header alone.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_TENSOR_H
#define SOAP_RUNTIME_CPU_TENSOR_H

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

namespace soap::cpu {

/// The highest rank a view can have.
constexpr int kMaxRank = 8;

/// A read-only list of integers (shapes, axes, permutations); a C++17 stand-in
/// for std::span that binds to vectors, arrays and braced lists. It borrows:
/// a braced list lives until the end of the full expression, which is enough
/// for a function argument.
class IntList {
public:
  IntList() = default;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  IntList(std::initializer_list<int64_t> l) : data_(l.begin()), size_(l.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  IntList(const std::vector<int64_t> &v) : data_(v.data()), size_(v.size()) {}
  IntList(const int64_t *data, size_t size) : data_(data), size_(size) {}

  const int64_t *begin() const { return data_; }
  const int64_t *end() const { return data_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return data_[i]; }

private:
  const int64_t *data_ = nullptr;
  size_t size_ = 0;
};

/// A tensor shape of rank 0 to kMaxRank (rank 0 is a scalar, one element).
struct Shape {
  int rank = 0;
  int64_t dims[kMaxRank] = {};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : Shape(IntList(d)) {}
  Shape(IntList d);

  int64_t operator[](int i) const { return dims[i]; }
  int64_t &operator[](int i) { return dims[i]; }
  /// Number of elements (1 for rank 0).
  int64_t numel() const;
  /// Product of dims[begin, end).
  int64_t product(int begin, int end) const;
  /// The shape without the last axis ([..., K] -> [...]).
  Shape dropBack() const;
  /// The shape with one more axis of size `d` at the back.
  Shape append(int64_t d) const;
  std::vector<int64_t> vec() const { return {dims, dims + rank}; }
  /// "[2x3x4]".
  std::string str() const;
  bool operator==(const Shape &o) const;
  bool operator!=(const Shape &o) const { return !(*this == o); }
};

/// Row-major (C order) element strides of a shape.
void contiguousStrides(const Shape &shape, int64_t *strides);

/// NumPy broadcast of two shapes; false when they do not broadcast.
bool broadcastShapes(const Shape &a, const Shape &b, Shape &result);

/// A strided view of `T` elements (T = float or const float). Element
/// (i0, ..., in) lives at data[i0 * strides[0] + ... + in * strides[n]].
/// A default-constructed view is null: kernels read a null gradient view as
/// "not wanted" and skip computing it.
template <class T> struct TensorView {
  T *data = nullptr;
  Shape shape;
  int64_t strides[kMaxRank] = {};

  TensorView() = default;
  /// A contiguous row-major view.
  TensorView(T *data, Shape shape) : data(data), shape(shape) {
    contiguousStrides(shape, strides);
  }
  TensorView(T *data, Shape shape, const int64_t *elementStrides)
      : data(data), shape(shape) {
    for (int i = 0; i < shape.rank; ++i)
      strides[i] = elementStrides[i];
  }
  /// float views convert to const float views.
  template <class U, class = std::enable_if_t<
                         std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  TensorView(const TensorView<U> &o) : data(o.data), shape(o.shape) {
    for (int i = 0; i < shape.rank; ++i)
      strides[i] = o.strides[i];
  }

  explicit operator bool() const { return data != nullptr; }
  int rank() const { return shape.rank; }
  int64_t dim(int i) const { return shape.dims[i]; }
  int64_t numel() const { return shape.numel(); }

  /// True when the strides are the row-major strides of the shape (size-1
  /// axes may have any stride).
  bool isContiguous() const {
    int64_t expect = 1;
    for (int i = shape.rank - 1; i >= 0; --i) {
      if (shape.dims[i] != 1 && strides[i] != expect)
        return false;
      expect *= shape.dims[i];
    }
    return true;
  }

  /// Result axis i is axis perm[i] (soap.transpose). No data moves.
  TensorView permute(IntList perm) const {
    TensorView r = *this;
    for (size_t i = 0; i < perm.size(); ++i) {
      r.shape.dims[i] = shape.dims[perm[i]];
      r.strides[i] = strides[perm[i]];
    }
    return r;
  }

  /// Elements start, start + step, ... before end on every axis
  /// (soap.slice; empty `steps` means ones). A negative step walks
  /// backwards, down to end + 1 (end may be -1).
  TensorView slice(IntList starts, IntList ends, IntList steps = {}) const {
    TensorView r = *this;
    for (int i = 0; i < shape.rank; ++i) {
      int64_t step = steps.empty() ? 1 : steps[i];
      r.data += starts[i] * strides[i];
      r.shape.dims[i] = step > 0 ? (ends[i] - starts[i] + step - 1) / step
                                 : (starts[i] - ends[i] - step - 1) / -step;
      r.strides[i] = strides[i] * step;
    }
    return r;
  }

  /// The range [begin, end) of one axis.
  TensorView narrow(int axis, int64_t begin, int64_t end) const {
    TensorView r = *this;
    r.data += begin * strides[axis];
    r.shape.dims[axis] = end - begin;
    return r;
  }

  /// The same elements under another shape; the view must be contiguous.
  TensorView reshape(Shape s) const { return TensorView(data, s); }
};

using FloatView = TensorView<float>;
using ConstFloatView = TensorView<const float>;

/// A contiguous view of integer indices, int64 or int32 (soap's index
/// tensors), read as int64.
struct IndexView {
  const void *data = nullptr;
  bool is64 = true;
  Shape shape;

  IndexView() = default;
  IndexView(const int64_t *d, Shape s) : data(d), is64(true), shape(s) {}
  IndexView(const int32_t *d, Shape s) : data(d), is64(false), shape(s) {}

  int64_t numel() const { return shape.numel(); }
  int64_t operator[](int64_t i) const {
    return is64 ? static_cast<const int64_t *>(data)[i]
                : static_cast<const int32_t *>(data)[i];
  }
};

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_TENSOR_H
