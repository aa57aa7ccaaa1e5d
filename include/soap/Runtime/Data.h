//===- Data.h - initial weights, synthetic batches, .npy files --*- C++ -*-===//
//
// Every value the runtime makes up is a pure function of a key and a global
// element index (a counter-based generator: SplitMix64 over the key and the
// index), never of a shard, a rank or an order of calls. A weight's shard on
// any strategy therefore holds exactly the elements of the same global
// tensor, and a synthetic batch is the same global batch on any number of
// ranks:
//
//   weight element g    = init(seed, weight name, g)
//   input element g     = data(seed, input name, step, g)
//
// Real data comes from NumPy `.npy` files (NpyArray): the global tensor of
// one batch, or a stack of batches (step s reads batch (s - 1) mod S), of
// which each rank reads its box.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_DATA_H
#define SOAP_RUNTIME_DATA_H

#include "soap/Plan/Plan.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace soap::runtime {

/// SplitMix64's finalizer.
uint64_t mix64(uint64_t z);
/// The key of a named stream: (seed, name, sub) hashed.
uint64_t streamKey(uint64_t seed, std::string_view name, uint64_t sub = 0);
/// Uniform in [0, 1) with 53 random bits: element `index` of stream `key`.
double uniform01(uint64_t key, uint64_t index);
/// Standard normal (Box-Muller over elements 2i and 2i + 1 of the stream).
double normal01(uint64_t key, uint64_t index);

/// Fan-in and fan-out of a weight shape, as PyTorch counts them for soap's
/// layouts: [K, N] (linear: K in, N out), [Cout, Cin/g, KH, KW] (conv),
/// [E, in, out] (experts), [N] (both N).
std::pair<int64_t, int64_t> fans(const std::vector<int64_t> &shape);

/// The initial value of every element of a weight (docs/runtime.md):
/// zeros, ones, constant (scale), normal (std scale), uniform (bound
/// scale), xavier_uniform (bound sqrt(6 / (fan_in + fan_out)), times scale
/// when given), kaiming_normal (std sqrt(2 / fan_in), times scale when
/// given), value (the plan's values).
class WeightInit {
public:
  WeightInit(const PlanWeight &weight, uint64_t seed);
  double operator()(int64_t globalIndex) const;

private:
  const PlanWeight *w;
  uint64_t key;
  enum class Kind { Zero, Constant, Normal, Uniform, Values } kind;
  double scale = 0;
};

/// Element i of a buffer of `dtype`, as a double (f16/bf16 widened, i1 0
/// or 1).
double loadElement(DType dtype, const void *data, int64_t i);
/// Stores v as element i of a buffer of `dtype`: rounded to the nearest
/// (floats), truncated toward zero (integers), v != 0 (i1, so NaN is true).
void storeElement(DType dtype, void *data, int64_t i, double v);

/// A synthetic value of an input: floats uniform in [-1, 1); integers
/// (labels, token ids) uniform in [0, range) (range 0: 2); booleans 0 or 1.
double syntheticInput(const PlanInput &input, uint64_t seed, int64_t step,
                      int64_t globalIndex);
/// The same value with the input's stream key for the step computed once
/// (syntheticInputKey): a batch costs a hash per element, not a string.
uint64_t syntheticInputKey(const PlanInput &input, uint64_t seed, int64_t step);
double syntheticInputAt(const PlanInput &input, uint64_t key, int64_t globalIndex);

/// Calls f(local offset, global offset, length) for every row (run along
/// the last axis) of the box `shape` at `offset` in a tensor of
/// `globalShape`; a rank-0 box is one row of length 1.
void forEachRow(const std::vector<int64_t> &shape,
                const std::vector<int64_t> &globalShape,
                const std::vector<int64_t> &offset,
                const std::function<void(int64_t, int64_t, int64_t)> &f);

/// Writes `value(g)` for every element of the buffer's box (dtype of the
/// buffer: f32, f64, i32 or i64).
void fillBox(const PlanBuffer &buffer, void *data,
             const std::function<double(int64_t)> &value);

/// A NumPy .npy file, memory-mapped (little-endian f4, f8, i4, i8, u1, b1;
/// C order).
class NpyArray {
public:
  ~NpyArray();
  /// Opens `path`; "" on success.
  std::string open(const std::string &path);
  const std::vector<int64_t> &shape() const { return dims; }
  /// "f4", "f8", "i4", "i8", "u1", "b1".
  const std::string &type() const { return descr; }
  int64_t numElements() const;
  /// Element i as a double.
  double at(int64_t i) const;

private:
  std::string path;
  std::vector<int64_t> dims;
  std::string descr;
  const unsigned char *base = nullptr;
  size_t mapped = 0;
  const unsigned char *data = nullptr;
};

} // namespace soap::runtime

#endif // SOAP_RUNTIME_DATA_H
