//===- Internal.h - helpers shared by the CPU kernels -----------*- C++ -*-===//
//
// Not installed: scratch memory, OpenMP loops and the strided-iteration engine
// the elementwise and data-movement kernels are written with.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_RUNTIME_CPU_INTERNAL_H
#define SOAP_LIB_RUNTIME_CPU_INTERNAL_H

#include "soap/Runtime/Cpu/Tensor.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

/// Keeps a hot loop in a function of its own: the vectorizer then sees it
/// alone, whatever it was called from.
#if defined(__GNUC__)
#define SOAP_NOINLINE __attribute__((noinline))
#else
#define SOAP_NOINLINE
#endif

namespace soap::cpu::detail {

//===----------------------------------------------------------------------===//
// Scratch memory
//===----------------------------------------------------------------------===//

/// Per-thread bump allocator for kernel temporaries. A kernel opens a frame;
/// everything it allocates is released when the frame closes. The memory is
/// kept for the thread's next kernels (no page faults per call).
class ScratchFrame {
public:
  ScratchFrame();
  ~ScratchFrame();
  ScratchFrame(const ScratchFrame &) = delete;
  ScratchFrame &operator=(const ScratchFrame &) = delete;

  /// n floats, 64-byte aligned, uninitialized.
  float *floats(size_t n) { return static_cast<float *>(bytes(n * 4)); }
  /// n floats set to zero.
  float *zeros(size_t n);
  /// n doubles set to zero.
  double *doubleZeros(size_t n);
  int64_t *ints(size_t n) { return static_cast<int64_t *>(bytes(n * 8)); }

private:
  void *bytes(size_t n);
  size_t mark_;
  size_t chunk_;
};

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

inline int maxThreads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

/// Calls f(begin, end) on contiguous chunks covering [0, n), in parallel when
/// there are at least 2 * grain items. The chunking depends only on n, grain
/// and the thread count, and f must compute each item independently of its
/// chunk, so results never depend on the thread count.
template <class F> void parallelRange(int64_t n, int64_t grain, F &&f) {
  if (n <= 0)
    return;
  int threads = maxThreads();
  int64_t chunks = std::min<int64_t>(threads, n / std::max<int64_t>(grain, 1));
  if (chunks <= 1) {
    f(int64_t(0), n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
#endif
  for (int64_t c = 0; c < chunks; ++c)
    f(n * c / chunks, n * (c + 1) / chunks);
}

/// Elements of work below which a loop stays on one thread.
constexpr int64_t kGrain = 16384;

//===----------------------------------------------------------------------===//
// Strided iteration
//===----------------------------------------------------------------------===//

/// Up to three operands iterated over one shape, after merging axes that are
/// contiguous for every operand and dropping size-1 axes. Rows are the last
/// merged axis.
template <int N> struct Layout {
  int rank = 0;
  int64_t size[kMaxRank] = {};
  int64_t stride[N][kMaxRank] = {};

  Layout(const Shape &shape, const int64_t *const (&strides)[N]) {
    for (int i = 0; i < shape.rank; ++i) {
      if (shape.dims[i] == 1)
        continue;
      if (rank > 0) {
        bool merge = true;
        for (int o = 0; o < N; ++o)
          merge &= stride[o][rank - 1] == strides[o][i] * shape.dims[i];
        if (merge) {
          size[rank - 1] *= shape.dims[i];
          for (int o = 0; o < N; ++o)
            stride[o][rank - 1] = strides[o][i];
          continue;
        }
      }
      size[rank] = shape.dims[i];
      for (int o = 0; o < N; ++o)
        stride[o][rank] = strides[o][i];
      ++rank;
    }
    if (rank == 0) { // a single element
      size[0] = 1;
      rank = 1;
    }
  }

  int64_t rowLength() const { return size[rank - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int i = 0; i + 1 < rank; ++i)
      r *= size[i];
    return r;
  }

  /// Calls f(offsets[N], rowLength, innerStrides[N]) for every row in
  /// [rowBegin, rowEnd), in order.
  template <class F> void forRows(int64_t rowBegin, int64_t rowEnd, F &&f) const {
    int64_t idx[kMaxRank] = {};
    int64_t off[N] = {};
    int64_t rem = rowBegin;
    for (int i = rank - 2; i >= 0; --i) {
      idx[i] = rem % size[i];
      rem /= size[i];
      for (int o = 0; o < N; ++o)
        off[o] += idx[i] * stride[o][i];
    }
    int64_t inner[N];
    for (int o = 0; o < N; ++o)
      inner[o] = stride[o][rank - 1];
    int64_t len = rowLength();
    for (int64_t r = rowBegin; r < rowEnd; ++r) {
      f(off, len, inner);
      for (int i = rank - 2; i >= 0; --i) {
        for (int o = 0; o < N; ++o)
          off[o] += stride[o][i];
        if (++idx[i] < size[i])
          break;
        for (int o = 0; o < N; ++o)
          off[o] -= stride[o][i] * size[i];
        idx[i] = 0;
      }
    }
  }

  /// forRows over all rows, split over threads (only valid when no two rows
  /// write the same element).
  template <class F> void forRowsParallel(F &&f) const {
    int64_t len = rowLength();
    parallelRange(rows(), std::max<int64_t>(1, kGrain / std::max<int64_t>(len, 1)),
                  [&](int64_t b, int64_t e) { forRows(b, e, f); });
  }
};

/// The strides of `v` aligned to a rank-`rank` broadcast shape: leading
/// missing axes and size-1 axes broadcast with stride 0.
template <class T>
void broadcastStrides(const TensorView<T> &v, const Shape &to, int64_t *out) {
  int lead = to.rank - v.shape.rank;
  for (int i = 0; i < to.rank; ++i) {
    int j = i - lead;
    out[i] = (j < 0 || v.shape.dims[j] == 1) ? 0 : v.strides[j];
  }
}

/// A negative axis counts from the back.
inline int normAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

/// Sum of columns: out[j] += alpha * sum_i m[i * cols + j], rows in order,
/// accumulated in double, parallel over column blocks.
void columnSums(const float *m, int64_t rows, int64_t cols, float *out,
                float alpha = 1.0f);

} // namespace soap::cpu::detail

#endif // SOAP_LIB_RUNTIME_CPU_INTERNAL_H
