//===- CpuBench.cpp - OpenBLAS and streaming kernels on this CPU ----------===//
#include "soap/Simulator/Calibrate.h"

#include <cblas.h>

#include <chrono>
#include <fstream>
#include <random>

namespace soap {

KernelBench::~KernelBench() = default;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string cpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      size_t p = line.find(':');
      if (p != std::string::npos)
        return line.substr(line.find_first_not_of(' ', p + 1));
    }
  return "unknown CPU";
}

/// Grows a buffer to n elements of random values in [-1, 1].
template <class T> T *ensure(std::vector<T> &v, size_t n, std::mt19937 &rng) {
  if (v.size() < n) {
    size_t old = v.size();
    v.resize(n);
    std::uniform_real_distribution<float> u(-1, 1);
    for (size_t i = old; i < n; ++i)
      v[i] = static_cast<T>(u(rng));
  }
  return v.data();
}

class CpuBench final : public KernelBench {
public:
  explicit CpuBench(int threads) : threads(threads) {
    openblas_set_num_threads(threads);
  }
  std::string kind() const override { return "cpu"; }
  std::string description() const override {
    return cpuName() + ", " + library() + ", " + std::to_string(threads) +
           " thread" + (threads == 1 ? "" : "s") + " per kernel";
  }
  std::string library() const override {
    const char *cfg = openblas_get_config();
    return cfg ? cfg : "OpenBLAS";
  }
  bool supports(DType t) const override {
    return t == DType::F32 || t == DType::F64;
  }

  double gemm(int64_t m, int64_t n, int64_t k, DType t) override {
    if (t == DType::F64) {
      double *a = ensure(ad, m * k, rng), *b = ensure(bd, k * n, rng),
             *c = ensure(cd, m * n, rng);
      auto t0 = Clock::now();
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k,
                  b, n, 0.0, c, n);
      return since(t0);
    }
    float *a = ensure(af, m * k, rng), *b = ensure(bf, k * n, rng),
          *c = ensure(cf, m * n, rng);
    auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k,
                b, n, 0.0f, c, n);
    return since(t0);
  }

  double im2col(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                int64_t sh, int64_t sw, int64_t ph, int64_t pw) override {
    int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
    if (oh <= 0 || ow <= 0)
      return 0;
    const float *img = ensure(af, c * h * w, rng);
    float *col = ensure(cf, c * kh * kw * oh * ow, rng);
    auto t0 = Clock::now();
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ki = 0; ki < kh; ++ki)
        for (int64_t kj = 0; kj < kw; ++kj) {
          float *row = col + ((ci * kh + ki) * kw + kj) * oh * ow;
          for (int64_t y = 0; y < oh; ++y) {
            int64_t iy = y * sh - ph + ki;
            for (int64_t x = 0; x < ow; ++x) {
              int64_t ix = x * sw - pw + kj;
              row[y * ow + x] = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                    ? img[(ci * h + iy) * w + ix]
                                    : 0.0f;
            }
          }
        }
    double t = since(t0);
    sink += col[(c * kh * kw * oh * ow) / 2];
    return t;
  }

  double stream(int64_t bytes) override {
    int64_t n = std::max<int64_t>(1, bytes / 8); // read 4 + write 4 per element
    const float *x = ensure(bf, n, rng);
    float *y = ensure(cf, n, rng);
    auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i)
      y[i] = 1.0001f * x[i] + 0.5f;
    double t = since(t0);
    sink += y[n / 2];
    return t;
  }

private:
  int threads;
  std::mt19937 rng{1234};
  std::vector<float> af, bf, cf;
  std::vector<double> ad, bd, cd;
  volatile float sink = 0;
};

} // namespace

Expected<std::unique_ptr<KernelBench>> makeCpuBench(int threads) {
  if (threads < 1)
    return Error{"--blas-threads must be at least 1"};
  return std::unique_ptr<KernelBench>(new CpuBench(threads));
}

} // namespace soap
