//===- Device.h - CUDA devices (no CUDA headers) ----------------*- C++ -*-===//
//
// The CUDA backend's entry points that code outside the backend may call.
// Plain C++: including it needs no CUDA toolkit; linking it needs the
// SoapCudaRuntime library, which exists only where the toolkit was found.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CUDA_DEVICE_H
#define SOAP_RUNTIME_CUDA_DEVICE_H

#include <cstdint>
#include <string>
#include <vector>

namespace soap::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int64_t memoryBytes = 0;
  int computeMajor = 0, computeMinor = 0;
  int multiprocessors = 0;
};

/// The visible CUDA devices. Empty, with `error` set, when there is no
/// device or no driver (the normal case on build and CI machines).
std::vector<DeviceInfo> listDevices(std::string *error = nullptr);

/// Runs Soap's elementwise kernel (relu forward and backward) and a cuBLAS
/// SGEMM on `device` and compares them with a CPU reference. Returns an
/// empty string on success, else what went wrong.
std::string selfTest(int device);

} // namespace soap::cuda

#endif // SOAP_RUNTIME_CUDA_DEVICE_H
