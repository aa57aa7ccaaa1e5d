//===- ElementwiseKernels.h - Soap's own CUDA kernels -----------*- C++ -*-===//
#ifndef SOAP_LIB_RUNTIME_CUDA_ELEMENTWISEKERNELS_H
#define SOAP_LIB_RUNTIME_CUDA_ELEMENTWISEKERNELS_H

#include <cuda_runtime.h>
#include <cstdint>

namespace soap::cuda {

/// y = max(x, 0) over n elements.
cudaError_t reluForward(const float *x, float *y, int64_t n,
                        cudaStream_t stream);
/// dx = dy * (x > 0) over n elements.
cudaError_t reluBackward(const float *x, const float *dy, float *dx, int64_t n,
                         cudaStream_t stream);

} // namespace soap::cuda

#endif // SOAP_LIB_RUNTIME_CUDA_ELEMENTWISEKERNELS_H
