//===- CudaBench.cpp - cuBLAS kernels on a CUDA device --------------------===//
//
// Built where the CUDA toolkit is found (SOAP_HAVE_CUDA); it uses the runtime
// and cuBLAS host APIs only, so no device code is compiled. Without a device
// makeCudaBench fails with "no CUDA device: ...".
//
//===----------------------------------------------------------------------===//
#include "soap/Simulator/Calibrate.h"

#ifdef SOAP_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>
#endif

namespace soap {

#ifdef SOAP_HAVE_CUDA
namespace {

class CudaBench final : public KernelBench {
public:
  CudaBench(int device, cublasHandle_t handle, std::string name)
      : device(device), handle(handle), name(std::move(name)) {
    cudaEventCreate(&begin);
    cudaEventCreate(&end);
  }
  ~CudaBench() override {
    for (void *p : {a, b, c})
      if (p)
        cudaFree(p);
    cudaEventDestroy(begin);
    cudaEventDestroy(end);
    cublasDestroy(handle);
  }
  std::string kind() const override { return "cuda"; }
  std::string description() const override {
    return name + ", " + library();
  }
  std::string library() const override {
    int v = 0;
    cublasGetVersion(handle, &v);
    return "cuBLAS " + std::to_string(v);
  }
  bool supports(DType t) const override {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16 ||
           t == DType::F64;
  }

  double gemm(int64_t m, int64_t n, int64_t k, DType t) override {
    size_t w = byteWidth(t);
    grow(a, aBytes, m * k * w);
    grow(b, bBytes, k * n * w);
    grow(c, cBytes, m * n * w);
    cudaDataType_t type = t == DType::F64    ? CUDA_R_64F
                          : t == DType::F16  ? CUDA_R_16F
                          : t == DType::BF16 ? CUDA_R_16BF
                                             : CUDA_R_32F;
    cublasComputeType_t compute =
        t == DType::F64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
    double oneD = 1, zeroD = 0;
    float oneF = 1, zeroF = 0;
    const void *alpha = t == DType::F64 ? static_cast<const void *>(&oneD)
                                        : static_cast<const void *>(&oneF);
    const void *beta = t == DType::F64 ? static_cast<const void *>(&zeroD)
                                       : static_cast<const void *>(&zeroF);
    // Row-major C = A.B is column-major C^T = B^T.A^T.
    cudaEventRecord(begin);
    cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n),
                 static_cast<int>(m), static_cast<int>(k), alpha, b, type,
                 static_cast<int>(n), a, type, static_cast<int>(k), beta, c,
                 type, static_cast<int>(n), compute, CUBLAS_GEMM_DEFAULT);
    return elapsed();
  }

  double im2col(int64_t ch, int64_t h, int64_t w, int64_t kh, int64_t kw,
                int64_t sh, int64_t sw, int64_t ph, int64_t pw) override {
    // No device code here: the column buffer's traffic as a device copy.
    int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
    if (oh <= 0 || ow <= 0)
      return 0;
    return stream(2 * ch * kh * kw * oh * ow * 4);
  }

  double stream(int64_t bytes) override {
    size_t half = static_cast<size_t>(std::max<int64_t>(bytes / 2, 4));
    grow(a, aBytes, half);
    grow(c, cBytes, half);
    cudaEventRecord(begin);
    cudaMemcpyAsync(c, a, half, cudaMemcpyDeviceToDevice);
    return elapsed();
  }

private:
  void grow(void *&p, size_t &have, size_t want) {
    if (want <= have)
      return;
    if (p)
      cudaFree(p);
    cudaMalloc(&p, want);
    cudaMemset(p, 0, want);
    have = want;
  }
  double elapsed() {
    cudaEventRecord(end);
    cudaEventSynchronize(end);
    float ms = 0;
    cudaEventElapsedTime(&ms, begin, end);
    return ms * 1e-3;
  }

  int device;
  cublasHandle_t handle;
  std::string name;
  cudaEvent_t begin{}, end{};
  void *a = nullptr, *b = nullptr, *c = nullptr;
  size_t aBytes = 0, bBytes = 0, cBytes = 0;
};

} // namespace

Expected<std::unique_ptr<KernelBench>> makeCudaBench(int device) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    return Error{std::string("no CUDA device: ") + cudaGetErrorString(err)};
  if (count == 0)
    return Error{"no CUDA device: the CUDA runtime found none"};
  if (device < 0 || device >= count)
    return Error{"no CUDA device " + std::to_string(device) + " (there are " +
                 std::to_string(count) + ")"};
  if ((err = cudaSetDevice(device)) != cudaSuccess)
    return Error{std::string("cannot use CUDA device: ") + cudaGetErrorString(err)};
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS)
    return Error{"cannot create a cuBLAS handle"};
  return std::unique_ptr<KernelBench>(new CudaBench(device, handle, prop.name));
}

#else

Expected<std::unique_ptr<KernelBench>> makeCudaBench(int) {
  return Error{"this soap-calibrate was built without the CUDA toolkit: "
               "--device cuda is not available"};
}

#endif

} // namespace soap
