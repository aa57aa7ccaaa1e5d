//===- Dense.h - soap.linear and soap.matmul on CPU -------------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h (forward overwrites, backward
// accumulates, null gradients are skipped).
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_DENSE_H
#define SOAP_RUNTIME_CPU_DENSE_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

/// soap.linear: y[..., N] = x[..., K] . w[K, N] + b[N]. One GEMM with all
/// leading axes folded into M. Column-parallel shards pass their [K, N/p]
/// weight and [N/p] bias; row-parallel shards pass [K/p, N] and their x
/// columns, and only one of them passes the bias (the outputs are partial
/// sums).
namespace linear {
void forward(ConstFloatView x, ConstFloatView w, ConstFloatView b, FloatView y);
/// dx += dy . w^T, dw += x^T . dy, db += sum of dy over the leading axes.
void backward(ConstFloatView x, ConstFloatView w, ConstFloatView dy,
              FloatView dx, FloatView dw, FloatView db);
} // namespace linear

/// soap.matmul: y[..., M, N] = a[..., M, K] . b[..., K, N], batch axes
/// broadcast by NumPy's rules (the operands may have different ranks >= 2).
/// A rank-2 (or fully broadcast) rhs folds the batch into one GEMM.
namespace matmul {
void forward(ConstFloatView a, ConstFloatView b, FloatView y);
/// da += dy . b^T and db += a^T . dy, summed over the axes the operand was
/// broadcast along.
void backward(ConstFloatView a, ConstFloatView b, ConstFloatView dy,
              FloatView da, FloatView db);
} // namespace matmul

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_DENSE_H
