//===- ElementwiseKernels.cu - Soap's own CUDA kernels --------------------===//
#include "ElementwiseKernels.h"

namespace soap::cuda {
namespace {
// Grid-stride loops: one launch shape serves any n.
__global__ void reluForwardKernel(const float *x, float *y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    y[i] = x[i] > 0.f ? x[i] : 0.f;
}

__global__ void reluBackwardKernel(const float *x, const float *dy, float *dx,
                                   int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    dx[i] = x[i] > 0.f ? dy[i] : 0.f;
}

unsigned gridFor(int64_t n, unsigned block) {
  int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1)
                                              : 65535);
}
} // namespace

cudaError_t reluForward(const float *x, float *y, int64_t n,
                        cudaStream_t stream) {
  constexpr unsigned kBlock = 256;
  reluForwardKernel<<<gridFor(n, kBlock), kBlock, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t reluBackward(const float *x, const float *dy, float *dx, int64_t n,
                         cudaStream_t stream) {
  constexpr unsigned kBlock = 256;
  reluBackwardKernel<<<gridFor(n, kBlock), kBlock, 0, stream>>>(x, dy, dx, n);
  return cudaGetLastError();
}

} // namespace soap::cuda
