//===- Cast.h - soap.cast: element type conversion ---------------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h, except that these kernels take raw
// contiguous buffers with their element types: soap.cast is the one op whose
// operand and result need not be f32.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_CAST_H
#define SOAP_RUNTIME_CPU_CAST_H

#include <cstdint>

namespace soap::cpu {

namespace cast {
/// The element types soap tensors hold (I1: a boolean, one byte 0 or 1).
enum class Type { F32, F16, BF16, F64, I32, I64, I1 };
bool isFloat(Type t);

/// y[i] = x[i] converted, for n contiguous elements. To a float type: round
/// to nearest, ties to even (overflow gives infinity; NaN stays NaN). From a
/// float to an integer type: truncation toward zero (NaN and out-of-range
/// values give an unspecified integer, as in NumPy). To I1: v != 0 (NaN is
/// true, as NumPy's astype(bool)); from I1: 0 or 1.
void forward(const void *x, Type xType, void *y, Type yType, int64_t n);
/// dx[i] += dy[i] converted back to x's type; both must be float types.
void backward(const void *dy, Type yType, void *dx, Type xType, int64_t n);

/// IEEE binary16 and bfloat16 bit patterns, rounding to nearest even.
uint16_t toHalf(double v);
uint16_t toBFloat16(double v);
double fromHalf(uint16_t bits);
double fromBFloat16(uint16_t bits);
} // namespace cast

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_CAST_H
