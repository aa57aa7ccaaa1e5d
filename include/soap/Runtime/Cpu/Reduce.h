//===- Reduce.h - soap.reduce_sum, reduce_mean, reduce_max ------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h. keep_dims changes the result's
// shape, not its elements: y holds the kept axes' elements in row-major order
// whatever its rank. Sums accumulate in double, each output element in a
// fixed order, so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_REDUCE_H
#define SOAP_RUNTIME_CPU_REDUCE_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

namespace reduce {
enum class Kind { Sum, Mean, Max };
/// Reduces x over `axes` (distinct; negative count from the back) into y
/// (numel = product of the kept axes). A shard split along a reduced axis
/// produces a partial result: Sum adds up across shards, Mean does when
/// `globalCount` (the number of elements reduced into each output in the
/// whole tensor) is passed, Max needs a max across shards. globalCount 0
/// means the shard's own count.
void forward(Kind kind, ConstFloatView x, IntList axes, FloatView y,
             int64_t globalCount = 0);
/// dx += the gradient for dy. Max sends each output's gradient to the first
/// maximal element of its group (row-major order), found again from x.
void backward(Kind kind, ConstFloatView x, IntList axes, ConstFloatView dy,
              FloatView dx, int64_t globalCount = 0);
} // namespace reduce

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_REDUCE_H
