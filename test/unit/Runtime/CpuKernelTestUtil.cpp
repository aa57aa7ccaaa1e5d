//===- CpuKernelTestUtil.cpp ----------------------------------------------===//

#include "CpuKernelTestUtil.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace soap::cpu::test {

Vec random(int64_t n, unsigned seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Vec v(n);
  for (float &x : v)
    x = d(gen);
  return v;
}

Vec distinct(int64_t n, unsigned seed, float gap) {
  Vec v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = (static_cast<float>(i) - n / 2) * gap;
  std::mt19937 gen(seed);
  std::shuffle(v.begin(), v.end(), gen);
  return v;
}

double dot(const Vec &a, const Vec &b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

::testing::AssertionResult allClose(const Vec &actual, const Vec &expected,
                                    double atol, double rtol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < actual.size(); ++i) {
    double diff = std::fabs(double(actual[i]) - expected[i]);
    if (!(diff <= atol + rtol * std::fabs(expected[i]))) {
      if (bad++ < 5)
        os << "\n  [" << i << "] actual " << actual[i] << " expected "
           << expected[i];
    }
  }
  if (bad)
    return ::testing::AssertionFailure()
           << bad << " of " << actual.size() << " elements differ:" << os.str();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult gradientMatches(Vec &x, const Vec &analytic,
                                           const std::function<double()> &loss,
                                           double h, double atol, double rtol) {
  if (x.size() != analytic.size())
    return ::testing::AssertionFailure() << "gradient size differs";
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < x.size(); ++i) {
    float saved = x[i];
    x[i] = saved + static_cast<float>(h);
    double up = loss();
    x[i] = saved - static_cast<float>(h);
    double down = loss();
    x[i] = saved;
    double fd = (up - down) / (2.0 * h);
    double diff = std::fabs(fd - analytic[i]);
    if (!(diff <= atol + rtol * std::fabs(fd))) {
      if (bad++ < 5)
        os << "\n  [" << i << "] finite difference " << fd << " analytic "
           << analytic[i];
    }
  }
  if (bad)
    return ::testing::AssertionFailure()
           << bad << " of " << x.size() << " gradient entries differ:"
           << os.str();
  return ::testing::AssertionSuccess();
}

std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

} // namespace soap::cpu::test
