//===- Blas.h - GEMM and threading of the CPU kernels -----------*- C++ -*-===//
//
// Every matrix product of the CPU kernels goes through gemm() (OpenBLAS's
// cblas_sgemm). The kernels use ONE pool of threads, OpenMP's: OpenBLAS is
// set to one thread on first use and gemm() splits large products over the
// OpenMP team itself (two pools on the same cores starve each other: libgomp
// workers spin after every parallel region). Without OpenMP, OpenBLAS's own
// threads are used instead. A process that hosts several ranks (as threads,
// or as MPI processes on few cores) calls setNumThreads(1) in each rank.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_BLAS_H
#define SOAP_RUNTIME_CPU_BLAS_H

#include <cstdint>

namespace soap::cpu {

/// Sets the threads the kernels called from this thread use: the OpenMP team
/// size of the calling thread (OpenMP's nthreads is per thread, so each rank
/// thread calls this for itself). n < 1 means 1.
void setNumThreads(int n);

/// The threads a kernel called from this thread uses.
int numThreads();

/// The threads OpenBLAS itself uses (1 when the kernels use OpenMP).
int blasNumThreads();

/// Row-major C = alpha * op(A) . op(B) + beta * C, with op(A) [m, k] and
/// op(B) [k, n]; lda, ldb, ldc are the row strides of A, B and C as stored
/// (A is [m, k] unless transA, then [k, m]). beta = 0 ignores C's contents.
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
          float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
          float beta, float *c, int64_t ldc);

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_BLAS_H
