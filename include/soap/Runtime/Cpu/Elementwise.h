//===- Elementwise.h - unary, binary, softmax, dropout on CPU ---*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h. Elementwise ops split their work
// over OpenMP threads in fixed chunks; every element is computed the same way
// whatever the thread count.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_ELEMENTWISE_H
#define SOAP_RUNTIME_CPU_ELEMENTWISE_H

#include "soap/Runtime/Cpu/Tensor.h"

#include <cstdint>

namespace soap::cpu {

/// soap.relu, gelu (exact erf form), sigmoid, tanh, exp, log, neg, sqrt,
/// erf. y may alias x. The relu gradient at 0 is 0 (PyTorch).
namespace unary {
enum class Kind { Relu, Gelu, Sigmoid, Tanh, Exp, Log, Neg, Sqrt, Erf };
void forward(Kind kind, ConstFloatView x, FloatView y);
/// dx += f'(x) * dy.
void backward(Kind kind, ConstFloatView x, ConstFloatView dy, FloatView dx);
/// f(x) for one value (the reference the vector loops follow).
float apply(Kind kind, float x);
/// f'(x) for one value.
float derivative(Kind kind, float x);
} // namespace unary

/// soap.add, sub, mul, div, pow with NumPy broadcasting: y has the broadcast
/// shape of a and b. Any of the three views may be strided. pow is std::pow
/// (a negative base with a non-integer exponent is NaN); its exponent
/// gradient dy a^b log(a) is 0 where a = 0 (PyTorch's convention).
namespace binary {
enum class Kind { Add, Sub, Mul, Div, Pow };
void forward(Kind kind, ConstFloatView a, ConstFloatView b, FloatView y);
/// da += reduce(dy * dy/da) over the axes a was broadcast along (in double),
/// likewise db.
void backward(Kind kind, ConstFloatView a, ConstFloatView b, ConstFloatView dy,
              FloatView da, FloatView db);
} // namespace binary

/// soap.equal, less, less_equal, greater, greater_equal (operands of one
/// element type: float, int32 or int64) and soap.and, or, xor (booleans)
/// with NumPy broadcasting: y has the broadcast shape of a and b and holds
/// booleans, one byte each (0 or 1). Booleans are read as byte != 0. NaN
/// compares unequal (IEEE). There is no backward: the results carry no
/// gradient.
namespace predicate {
enum class Kind { Equal, Less, LessEqual, Greater, GreaterEqual, And, Or, Xor };
void forward(Kind kind, TensorView<const float> a, TensorView<const float> b,
             TensorView<uint8_t> y);
void forward(Kind kind, TensorView<const int32_t> a,
             TensorView<const int32_t> b, TensorView<uint8_t> y);
void forward(Kind kind, TensorView<const int64_t> a,
             TensorView<const int64_t> b, TensorView<uint8_t> y);
void forward(Kind kind, TensorView<const uint8_t> a,
             TensorView<const uint8_t> b, TensorView<uint8_t> y);
/// soap.not: y = !x (y may alias x).
void logicalNot(TensorView<const uint8_t> x, TensorView<uint8_t> y);
} // namespace predicate

/// soap.softmax along `axis` (negative counts from the back).
namespace softmax {
void forward(ConstFloatView x, int64_t axis, FloatView y);
/// dx += y * (dy - sum(dy * y)) along the axis, with y recomputed from x.
void backward(ConstFloatView x, ConstFloatView dy, int64_t axis, FloatView dx);
} // namespace softmax

/// soap.dropout (inverted: kept elements are scaled by 1 / (1 - ratio)).
///
/// The mask is a pure function of (seed, step, global element index): element
/// g of the whole tensor is kept iff keepUniform(stream(seed, step), g) >=
/// ratio. `stream` and `keepUniform` are splitmix64 (Steele et al.): the
/// g-th output of the splitmix64 generator seeded with
/// mix64(mix64(seed) ^ step); its top 24 bits give a float in [0, 1). A shard
/// passes where it lies in the whole tensor (GlobalIndex), so any sharding
/// draws the same mask as one device; the CUDA backend implements the same
/// function. Ops with the same seed draw the same mask: the runtime folds a
/// per-op salt into the seed where that matters.
namespace dropout {
/// A shard's place in the logical tensor: the global shape and the global
/// coordinates of the shard's first element (a box of the global tensor).
struct GlobalIndex {
  Shape global;
  int64_t offsets[kMaxRank] = {};
  /// The shard is the whole tensor.
  static GlobalIndex whole(const Shape &shape);
};
/// splitmix64's finalizer.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
/// The random stream of one (seed, step).
inline uint64_t stream(int64_t seed, int64_t step) {
  return mix64(mix64(static_cast<uint64_t>(seed) + 0x9E3779B97F4A7C15ull) ^
               static_cast<uint64_t>(step));
}
/// The uniform number in [0, 1) of global element `index` (24 bits).
inline float keepUniform(uint64_t stream, uint64_t index) {
  uint64_t bits = mix64(stream + (index + 1) * 0x9E3779B97F4A7C15ull);
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}
/// y = x * mask / (1 - ratio); ratio 1 zeroes y.
void forward(ConstFloatView x, FloatView y, double ratio, int64_t seed,
             int64_t step, const GlobalIndex &where);
/// dx += dy * mask / (1 - ratio), the same mask as forward.
void backward(ConstFloatView dy, FloatView dx, double ratio, int64_t seed,
              int64_t step, const GlobalIndex &where);
/// soap.dropout_mask: mask[i] = 1 where forward keeps element i, else 0.
void mask(TensorView<uint8_t> mask, double ratio, int64_t seed, int64_t step,
          const GlobalIndex &where);
} // namespace dropout

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_ELEMENTWISE_H
