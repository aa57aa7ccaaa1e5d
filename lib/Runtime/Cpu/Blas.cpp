//===- Blas.cpp - GEMM, threads and scratch memory -----------------------===//

#include "soap/Runtime/Cpu/Blas.h"
#include "Internal.h"

#include <cblas.h>

#include <climits>
#include <mutex>
#include <cstdlib>
#include <cstring>

namespace soap::cpu {

// One thread pool, not two. With OpenMP, OpenBLAS runs single-threaded and
// gemm() splits large products over the OpenMP team itself: libgomp's
// workers spin for milliseconds after each parallel region, and a second
// pool (OpenBLAS's pthreads) scheduled meanwhile on the same cores runs at a
// fraction of its speed (measured: 2-thread convolutions at 0.3x).
namespace {
std::once_flag blasConfigured;

void configureBlas() {
  std::call_once(blasConfigured, [] {
#ifdef _OPENMP
    openblas_set_num_threads(1);
#endif
  });
}

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
           float alpha, const float *a, int64_t lda, const float *b,
           int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}

/// Products below this many FLOPs stay on one thread.
constexpr double kParallelGemmFlops = double(1 << 21);
} // namespace

void setNumThreads(int n) {
  if (n < 1)
    n = 1;
  configureBlas();
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  openblas_set_num_threads(n);
#endif
}

int numThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return openblas_get_num_threads();
#endif
}

int blasNumThreads() { return openblas_get_num_threads(); }

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
          float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
          float beta, float *c, int64_t ldc) {
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) { // C = beta * C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  assert(m < INT_MAX && n < INT_MAX && k < INT_MAX && lda < INT_MAX &&
         ldb < INT_MAX && ldc < INT_MAX && "GEMM too large for 32-bit BLAS");
  configureBlas();
  int threads = detail::maxThreads();
  if (threads > 1 && 2.0 * m * n * k >= kParallelGemmFlops) {
    // Split the longer side of C into blocks (multiples of 16) per thread.
    bool splitN = n >= m;
    int64_t len = splitN ? n : m, align = 16;
    int64_t parts = std::min<int64_t>(threads, std::max<int64_t>(1, len / align));
    if (parts > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(parts) schedule(static, 1)
#endif
      for (int64_t part = 0; part < parts; ++part) {
        int64_t b0 = part == 0 ? 0 : len * part / parts / align * align;
        int64_t b1 = part + 1 == parts ? len : len * (part + 1) / parts / align * align;
        if (b1 <= b0)
          continue;
        if (splitN)
          sgemm(transA, transB, m, b1 - b0, k, alpha, a, lda,
                transB ? b + b0 * ldb : b + b0, ldb, beta, c + b0, ldc);
        else
          sgemm(transA, transB, b1 - b0, n, k, alpha,
                transA ? a + b0 : a + b0 * lda, lda, b, ldb, beta,
                c + b0 * ldc, ldc);
      }
      return;
    }
  }
  sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace detail {

namespace {
/// The calling thread's scratch chunks. Frames restore (chunk, top); chunks
/// past the current one are free. When the outermost frame closes with more
/// than one chunk, they are merged into one big enough for all of them.
struct Arena {
  struct Chunk {
    char *data;
    size_t size;
  };
  std::vector<Chunk> chunks;
  size_t current = 0;
  size_t top = 0;
  int depth = 0;

  ~Arena() {
    for (Chunk &c : chunks)
      std::free(c.data);
  }
  static Chunk allocate(size_t size) {
    size = (size + 63) / 64 * 64;
    return {static_cast<char *>(std::aligned_alloc(64, size)), size};
  }
  void coalesce() {
    if (chunks.size() <= 1)
      return;
    size_t total = 0;
    for (Chunk &c : chunks) {
      total += c.size;
      std::free(c.data);
    }
    chunks.assign(1, allocate(total));
    current = 0;
    top = 0;
  }
};
thread_local Arena arena;
} // namespace

ScratchFrame::ScratchFrame() : mark_(arena.top), chunk_(arena.current) {
  ++arena.depth;
}

ScratchFrame::~ScratchFrame() {
  arena.current = chunk_;
  arena.top = mark_;
  if (--arena.depth == 0)
    arena.coalesce();
}

void *ScratchFrame::bytes(size_t n) {
  n = (n + 63) / 64 * 64;
  if (n == 0)
    n = 64;
  Arena &a = arena;
  if (!a.chunks.empty() && a.top + n <= a.chunks[a.current].size) {
    void *p = a.chunks[a.current].data + a.top;
    a.top += n;
    return p;
  }
  // The current chunk is full: take the next free one that fits, or a new one.
  size_t next = a.chunks.empty() ? 0 : a.current + 1;
  while (next < a.chunks.size() && a.chunks[next].size < n)
    ++next;
  if (next >= a.chunks.size()) {
    size_t last = a.chunks.empty() ? 0 : a.chunks.back().size;
    a.chunks.push_back(
        Arena::allocate(std::max<size_t>({n, 2 * last, size_t(1) << 20})));
    next = a.chunks.size() - 1;
  }
  a.current = next;
  a.top = n;
  return a.chunks[next].data;
}

float *ScratchFrame::zeros(size_t n) {
  float *p = floats(n);
  std::memset(p, 0, n * sizeof(float));
  return p;
}

double *ScratchFrame::doubleZeros(size_t n) {
  double *p = static_cast<double *>(bytes(n * sizeof(double)));
  std::memset(p, 0, n * sizeof(double));
  return p;
}

void columnSums(const float *m, int64_t rows, int64_t cols, float *out,
                float alpha) {
  parallelRange(cols, std::max<int64_t>(16, kGrain / std::max<int64_t>(rows, 1)),
                [&](int64_t c0, int64_t c1) {
                  std::vector<double> acc(c1 - c0, 0.0);
                  for (int64_t i = 0; i < rows; ++i) {
                    const float *row = m + i * cols;
                    for (int64_t j = c0; j < c1; ++j)
                      acc[j - c0] += row[j];
                  }
                  for (int64_t j = c0; j < c1; ++j)
                    out[j] += alpha * static_cast<float>(acc[j - c0]);
                });
}

} // namespace detail
} // namespace soap::cpu
