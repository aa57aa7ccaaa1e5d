//===- Layout.h - reshape, transpose, concat, split, slice ------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h. Data movement only; every kernel
// here is a strided copy (forward) or a strided accumulate (backward), so
// views may be strided.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_LAYOUT_H
#define SOAP_RUNTIME_CPU_LAYOUT_H

#include "soap/Runtime/Cpu/Tensor.h"

#include <vector>

namespace soap::cpu {

/// dst = src, element by element; same shapes, any strides.
void copy(ConstFloatView src, FloatView dst);
/// The same for the other element types soap moves (booleans as one byte,
/// int32 and int64 indices): the forward of every data-movement op is this
/// copy through the views (permute, slice, narrow, reshape) of Tensor.h.
void copy(TensorView<const uint8_t> src, TensorView<uint8_t> dst);
void copy(TensorView<const int32_t> src, TensorView<int32_t> dst);
void copy(TensorView<const int64_t> src, TensorView<int64_t> dst);
/// dst += alpha * src, element by element; same shapes, any strides.
void accumulate(ConstFloatView src, FloatView dst, float alpha = 1.0f);
/// Zeroes a view (gradient buffers before a step).
void zero(FloatView dst);

/// soap.reshape and soap.flatten are views: the runtime can alias the
/// buffers. When it does not, forward copies the elements in row-major order
/// (same count, contiguous) and backward adds dy into dx (same order).
namespace reshape {
void forward(ConstFloatView x, FloatView y);
void backward(ConstFloatView dy, FloatView dx);
} // namespace reshape

/// soap.transpose: y axis i = x axis perm[i].
namespace transpose {
void forward(ConstFloatView x, IntList perm, FloatView y);
void backward(ConstFloatView dy, IntList perm, FloatView dx);
} // namespace transpose

/// soap.concat along `axis` (negative counts from the back).
namespace concat {
void forward(const std::vector<ConstFloatView> &xs, int64_t axis, FloatView y);
/// dxs[i] += its slice of dy. A null entry (data nullptr) still gives its
/// shape, so that the slices after it are found; it is skipped.
void backward(ConstFloatView dy, int64_t axis,
              const std::vector<FloatView> &dxs);
} // namespace concat

/// soap.split along `axis` into the ys' sizes.
namespace split {
void forward(ConstFloatView x, int64_t axis, const std::vector<FloatView> &ys);
/// dx += each dys[i] in its place. A null entry (an unused piece: data
/// nullptr, shape set) is skipped.
void backward(const std::vector<ConstFloatView> &dys, int64_t axis,
              FloatView dx);
} // namespace split

/// soap.slice: steps empty means ones.
namespace slice {
void forward(ConstFloatView x, IntList starts, IntList ends, IntList steps,
             FloatView y);
/// dx[slice] += dy; the rest of dx is untouched.
void backward(ConstFloatView dy, IntList starts, IntList ends, IntList steps,
              FloatView dx);
} // namespace slice

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_LAYOUT_H
