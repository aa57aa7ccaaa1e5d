//===- Math.h - branch-free float math the compiler vectorizes --*- C++ -*-===//
//
// libm's expf, erff and tanhf are scalar calls, which keeps every loop that
// uses them (GELU, softmax, sigmoid, LSTM gates, cross-entropy) at one element
// per call. These versions are straight-line arithmetic with selects, so the
// loops around them vectorize. Accuracy (checked in the tests against double
// libm): exp within 2 ulp, tanh and sigmoid within 3e-7 relative, erf within
// 2e-7 absolute and 1e-6 relative (Abramowitz & Stegun 7.1.26, as PyTorch's
// vectorized erf, with a Taylor series near 0).
//
// Internal to the CPU kernels; every kernel (and unary::apply) uses these, so
// forward, backward and the scalar reference agree.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_RUNTIME_CPU_MATH_H
#define SOAP_LIB_RUNTIME_CPU_MATH_H

#include <cstdint>
#include <cstring>
#include <limits>

namespace soap::cpu::detail {

inline float fromBits(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

/// floor(v) for |v| < 2^31, without libm (SSE2 has no floor instruction).
inline int32_t floorToInt(float v) {
  int32_t i = static_cast<int32_t>(v); // truncates toward zero
  return i - (v < static_cast<float>(i) ? 1 : 0);
}

/// e^x (Cephes' expf polynomial after x = n ln2 + r, |r| <= ln2 / 2; 2^n is
/// applied in two halves so that n may reach the denormal range).
inline float vexp(float x) {
  const float maxArg = 88.72283905206835f, minArg = -103.97208f;
  float xc = x > maxArg ? maxArg : (x < minArg ? minArg : x);
  int32_t n = floorToInt(xc * 1.44269504088896341f + 0.5f);
  float fn = static_cast<float>(n);
  float r = xc - fn * 0.693359375f - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t n1 = n >> 1, n2 = n - n1;
  float y = p * fromBits((n1 + 127) << 23) * fromBits((n2 + 127) << 23);
  y = x > maxArg ? std::numeric_limits<float>::infinity() : y;
  y = x < minArg ? 0.0f : y;
  return x != x ? x : y; // NaN stays NaN
}

/// tanh(x): Cephes' odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above.
inline float vtanh(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z -
                   5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                 3.33332819422e-1f) * z * x + x;
  float big = 1.0f - 2.0f / (vexp(2.0f * ax) + 1.0f);
  big = x < 0.0f ? -big : big;
  return ax < 0.625f ? small : big;
}

/// 1 / (1 + e^-x).
inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

/// erf(x): a Taylor series below 0.5 (relative accuracy near 0), A&S 7.1.26
/// above (absolute error 1.5e-7).
inline float verf(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = x * x;
  // 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
  float series = x * (1.12837916709551257f +
                      z * (-0.37612638903183752f +
                           z * (0.11283791670955126f +
                                z * (-0.02686617064513125f +
                                     z * (0.00522397762544218f +
                                          z * -0.00085483270234508f)))));
  float t = 1.0f / (1.0f + 0.3275911f * ax);
  float poly = t * (0.254829592f +
                    t * (-0.284496736f +
                         t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  float big = 1.0f - poly * vexp(-z);
  big = x < 0.0f ? -big : big;
  return ax < 0.5f ? series : big;
}

/// Sum of p[0..n) in double with eight independent lanes (vectorizes, and
/// the order is fixed: the result does not depend on threads).
inline double sumLanes(const float *p, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] += p[i + l];
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
             ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i)
    s += p[i];
  return s;
}

/// max of p[0..n) (n >= 1), eight lanes (max is exact in any order).
inline float maxLanes(const float *p, int64_t n) {
  float acc[8];
  for (int l = 0; l < 8; ++l)
    acc[l] = p[0];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] = p[i + l] > acc[l] ? p[i + l] : acc[l];
  float m = acc[0];
  for (int l = 1; l < 8; ++l)
    m = acc[l] > m ? acc[l] : m;
  for (; i < n; ++i)
    m = p[i] > m ? p[i] : m;
  return m;
}

/// Sum of a[i] * b[i] in double, eight lanes.
inline double dotLanes(const float *a, const float *b, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] += double(a[i + l]) * b[i + l];
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
             ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i)
    s += double(a[i]) * b[i];
  return s;
}

/// Sum of a[i] * (b[i] - shift) in double, eight lanes.
inline double dotShiftLanes(const float *a, const float *b, int64_t n,
                            double shift) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] += double(a[i + l]) * (b[i + l] - shift);
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
             ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i)
    s += double(a[i]) * (b[i] - shift);
  return s;
}

/// Sum of (p[i] - shift)^2 in double, eight lanes.
inline double sumSqDevLanes(const float *p, int64_t n, double shift) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      double d = p[i + l] - shift;
      acc[l] += d * d;
    }
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
             ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) {
    double d = p[i] - shift;
    s += d * d;
  }
  return s;
}

} // namespace soap::cpu::detail

#endif // SOAP_LIB_RUNTIME_CPU_MATH_H
