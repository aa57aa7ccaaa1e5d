//===- Cast.cpp - soap.cast: element type conversion ----------------------===//

#include "soap/Runtime/Cpu/Cast.h"
#include "Internal.h"

#include <cmath>
#include <limits>

namespace soap::cpu {
using namespace detail;

namespace {
/// Encodes v in a 16-bit binary format with `mant` fraction bits and
/// exponent bias `bias` (IEEE layout: sign, exponent, fraction; the all-ones
/// exponent is infinity and NaN), rounding to nearest even from the exact
/// double, so that f64 -> f16 rounds once.
uint16_t encode16(double v, int mant, int bias) {
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  uint16_t inf = static_cast<uint16_t>((2 * bias + 1) << mant);
  if (std::isnan(v))
    return sign | inf | static_cast<uint16_t>(1 << (mant - 1));
  double a = std::fabs(v);
  if (std::isinf(a))
    return sign | inf;
  if (a == 0.0)
    return sign;
  int ex = 0;
  (void)std::frexp(a, &ex); // a = f * 2^ex, f in [0.5, 1)
  int e = ex - 1;
  if (e < 1 - bias) {
    // Subnormal: a multiple of 2^(1 - bias - mant); 2^mant of them is the
    // smallest normal, whose encoding is that same integer.
    double m = std::nearbyint(std::ldexp(a, bias - 1 + mant));
    return sign | static_cast<uint16_t>(m);
  }
  double m = std::nearbyint((std::ldexp(a, -e) - 1.0) * double(1 << mant));
  if (m == double(1 << mant)) {
    m = 0.0;
    ++e;
  }
  if (e > bias)
    return sign | inf;
  return sign | static_cast<uint16_t>(((e + bias) << mant) | static_cast<int>(m));
}

double decode16(uint16_t bits, int mant, int bias) {
  int exponent = (bits >> mant) & (2 * bias + 1);
  int m = bits & ((1 << mant) - 1);
  double a;
  if (exponent == 2 * bias + 1)
    a = m ? std::numeric_limits<double>::quiet_NaN()
          : std::numeric_limits<double>::infinity();
  else if (exponent == 0)
    a = std::ldexp(double(m), 1 - bias - mant);
  else
    a = std::ldexp(1.0 + std::ldexp(double(m), -mant), exponent - bias);
  return (bits & 0x8000) ? -a : a;
}

double load(const void *p, cast::Type t, int64_t i) {
  switch (t) {
  case cast::Type::F32:
    return static_cast<const float *>(p)[i];
  case cast::Type::F16:
    return cast::fromHalf(static_cast<const uint16_t *>(p)[i]);
  case cast::Type::BF16:
    return cast::fromBFloat16(static_cast<const uint16_t *>(p)[i]);
  case cast::Type::F64:
    return static_cast<const double *>(p)[i];
  case cast::Type::I32:
    return static_cast<const int32_t *>(p)[i];
  case cast::Type::I64:
    return static_cast<double>(static_cast<const int64_t *>(p)[i]);
  case cast::Type::I1:
    return static_cast<const uint8_t *>(p)[i] != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

/// To an integer type, truncating; NaN and out-of-range values give 0
/// (defined behaviour; NumPy leaves it unspecified).
template <class I> I truncateTo(double v) {
  double t = std::trunc(v);
  if (!(t >= double(std::numeric_limits<I>::min()) &&
        t < -double(std::numeric_limits<I>::min())))
    return 0;
  return static_cast<I>(t);
}

void store(void *p, cast::Type t, int64_t i, double v) {
  switch (t) {
  case cast::Type::F32:
    static_cast<float *>(p)[i] = static_cast<float>(v);
    return;
  case cast::Type::F16:
    static_cast<uint16_t *>(p)[i] = cast::toHalf(v);
    return;
  case cast::Type::BF16:
    static_cast<uint16_t *>(p)[i] = cast::toBFloat16(v);
    return;
  case cast::Type::F64:
    static_cast<double *>(p)[i] = v;
    return;
  case cast::Type::I32:
    static_cast<int32_t *>(p)[i] = truncateTo<int32_t>(v);
    return;
  case cast::Type::I64:
    static_cast<int64_t *>(p)[i] = truncateTo<int64_t>(v);
    return;
  case cast::Type::I1:
    static_cast<uint8_t *>(p)[i] = v != 0.0;
    return;
  }
}
} // namespace

bool cast::isFloat(Type t) {
  return t == Type::F32 || t == Type::F16 || t == Type::BF16 || t == Type::F64;
}

uint16_t cast::toHalf(double v) { return encode16(v, 10, 15); }
uint16_t cast::toBFloat16(double v) { return encode16(v, 7, 127); }
double cast::fromHalf(uint16_t bits) { return decode16(bits, 10, 15); }
double cast::fromBFloat16(uint16_t bits) { return decode16(bits, 7, 127); }

void cast::forward(const void *x, Type xType, void *y, Type yType, int64_t n) {
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      store(y, yType, i, load(x, xType, i));
  });
}

void cast::backward(const void *dy, Type yType, void *dx, Type xType,
                    int64_t n) {
  if (!dx || !isFloat(xType) || !isFloat(yType))
    return;
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      store(dx, xType, i, load(dx, xType, i) + load(dy, yType, i));
  });
}

} // namespace soap::cpu
