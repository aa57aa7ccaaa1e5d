//===- Device.cpp - CUDA device queries and self-test ---------------------===//
#include "soap/Runtime/Cuda/Device.h"
#include "ElementwiseKernels.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <memory>
#include <random>

namespace soap::cuda {

std::vector<DeviceInfo> listDevices(std::string *error) {
  std::vector<DeviceInfo> devices;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (error)
      *error = std::string("no CUDA device: ") + cudaGetErrorString(status);
    return devices;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess)
      continue;
    devices.push_back({i, prop.name, static_cast<int64_t>(prop.totalGlobalMem),
                       prop.major, prop.minor, prop.multiProcessorCount});
  }
  if (devices.empty() && error)
    *error = "no CUDA device";
  return devices;
}

namespace {
/// Device memory freed on scope exit.
struct DeviceBuffer {
  float *ptr = nullptr;
  explicit DeviceBuffer(size_t n) {
    if (cudaMalloc(&ptr, n * sizeof(float)) != cudaSuccess)
      ptr = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr); }
};

std::string check(cudaError_t status, const char *what) {
  if (status == cudaSuccess)
    return "";
  return std::string(what) + ": " + cudaGetErrorString(status);
}
} // namespace

std::string selfTest(int device) {
  if (auto err = check(cudaSetDevice(device), "cudaSetDevice"); !err.empty())
    return err;
  constexpr int m = 64, n = 48, k = 32;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> a(m * k), b(k * n), dy(m * n);
  for (float &v : a)
    v = dist(rng);
  for (float &v : b)
    v = dist(rng);
  for (float &v : dy)
    v = dist(rng);

  DeviceBuffer da(a.size()), db(b.size()), dc(m * n), dr(m * n), ddy(m * n),
      ddx(m * n);
  if (!da.ptr || !db.ptr || !dc.ptr || !dr.ptr || !ddy.ptr || !ddx.ptr)
    return "cudaMalloc failed";
  cudaMemcpy(da.ptr, a.data(), a.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db.ptr, b.data(), b.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(ddy.ptr, dy.data(), dy.size() * 4, cudaMemcpyHostToDevice);

  // Row-major C = A.B is column-major C^T = B^T.A^T.
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS)
    return "cublasCreate failed";
  std::unique_ptr<cublasContext, decltype(&cublasDestroy)> guard(handle,
                                                                 cublasDestroy);
  const float one = 1.f, zero = 0.f;
  if (cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, db.ptr, n,
                  da.ptr, k, &zero, dc.ptr, n) != CUBLAS_STATUS_SUCCESS)
    return "cublasSgemm failed";
  if (auto err = check(reluForward(dc.ptr, dr.ptr, m * n, nullptr), "relu");
      !err.empty())
    return err;
  if (auto err = check(reluBackward(dc.ptr, ddy.ptr, ddx.ptr, m * n, nullptr),
                       "relu backward");
      !err.empty())
    return err;
  std::vector<float> r(m * n), dx(m * n);
  if (auto err = check(cudaMemcpy(r.data(), dr.ptr, r.size() * 4,
                                  cudaMemcpyDeviceToHost),
                       "copy back");
      !err.empty())
    return err;
  cudaMemcpy(dx.data(), ddx.ptr, dx.size() * 4, cudaMemcpyDeviceToHost);

  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double c = 0;
      for (int p = 0; p < k; ++p)
        c += double(a[i * k + p]) * b[p * n + j];
      double relu = c > 0 ? c : 0;
      double grad = c > 0 ? dy[i * n + j] : 0;
      if (std::fabs(relu - r[i * n + j]) > 1e-4 * (1 + std::fabs(relu)))
        return "relu(A.B) mismatch at (" + std::to_string(i) + ", " +
               std::to_string(j) + ")";
      // Near zero, the sign of c may differ between the CPU and cuBLAS.
      if (std::fabs(c) > 1e-4 && std::fabs(grad - dx[i * n + j]) > 1e-6)
        return "relu backward mismatch at (" + std::to_string(i) + ", " +
               std::to_string(j) + ")";
    }
  return "";
}

} // namespace soap::cuda
