//===- CpuKernelTestUtil.h - helpers for the CPU kernel tests ---*- C++ -*-===//
//
// Random data, views over std::vector, closeness checks and the central
// finite-difference gradient check every backward kernel is tested with.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_TEST_UNIT_RUNTIME_CPUKERNELTESTUTIL_H
#define SOAP_TEST_UNIT_RUNTIME_CPUKERNELTESTUTIL_H

#include "soap/Runtime/Cpu/Kernels.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace soap::cpu::test {

using Vec = std::vector<float>;

/// n uniform values in [lo, hi), reproducible from `seed`.
Vec random(int64_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f);
/// n distinct values spaced by `gap`, shuffled (max/argmax tests: finite
/// differences never cross a tie).
Vec distinct(int64_t n, unsigned seed, float gap = 0.1f);

inline FloatView view(Vec &v, Shape s) { return FloatView(v.data(), s); }
inline ConstFloatView cview(const Vec &v, Shape s) {
  return ConstFloatView(v.data(), s);
}

/// sum of a[i] * b[i], in double.
double dot(const Vec &a, const Vec &b);

/// Every |actual - expected| <= atol + rtol * |expected|.
::testing::AssertionResult allClose(const Vec &actual, const Vec &expected,
                                    double atol = 1e-5, double rtol = 1e-5);

/// Central differences (step h) of `loss` with respect to every element of
/// `x` (perturbed in place and restored), against `analytic`: each must be
/// within atol + rtol * |fd|. `loss` runs the forward on the current data.
::testing::AssertionResult gradientMatches(Vec &x, const Vec &analytic,
                                           const std::function<double()> &loss,
                                           double h = 1e-2, double atol = 3e-3,
                                           double rtol = 1e-2);

/// Row-major strides of a shape, as a vector (for reference loops).
std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape);

} // namespace soap::cpu::test

#endif // SOAP_TEST_UNIT_RUNTIME_CPUKERNELTESTUTIL_H
