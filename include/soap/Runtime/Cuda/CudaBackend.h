//===- CudaBackend.h - a rank's kernels on a GPU ----------------*- C++ -*-===//
//
// The CUDA implementation of soap::runtime::Backend (Backend.h): a device
// copy of every buffer of the rank; linear / matmul on cuBLAS; Soap's own
// kernels for the elementwise ops, softmax, layer norm, embedding, the
// losses, dropout, transpose, reshape and the optimizer updates; NCCL for
// the plan's collectives when every rank of a node has its own GPU (else
// the executor stages them through the host transport). A task whose op has
// no CUDA kernel is refused at load time, naming the op (docs/runtime.md).
//
// Plain C++: including it needs no CUDA headers; linking it needs
// SoapCudaRuntime, which exists only where the toolkit was found.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CUDA_CUDABACKEND_H
#define SOAP_RUNTIME_CUDA_CUDABACKEND_H

#include "soap/Runtime/Backend.h"

#include <functional>
#include <memory>
#include <string>

namespace soap::cuda {

struct CudaBackendOptions {
  int rank = 0;
  /// The device; -1: the node-local rank (OMPI_COMM_WORLD_LOCAL_RANK,
  /// MPI_LOCALRANKID, SLURM_LOCALID; else `rank`) modulo the device count.
  int device = -1;
  /// "f32", or "bf16": GEMM operands are rounded to bf16 copies and
  /// multiplied with f32 accumulation (CUBLAS_COMPUTE_32F); everything
  /// else, and all stored state (weights, gradients, optimizer states), is
  /// f32.
  std::string precision = "f32";
  /// Use NCCL for the collectives when possible (SOAP_CUDA_NCCL=0 in the
  /// environment turns it off too).
  bool nccl = true;
};

/// A CUDA backend for one rank; null, with `error` set, when there is no
/// usable device. `host` gives the rank's host buffers (allocate() gets
/// them too; the lookup serves kernels that read attributes of buffers).
std::unique_ptr<runtime::Backend>
makeCudaBackend(const CudaBackendOptions &options,
                std::function<runtime::BufferRef(int)> host,
                std::string &error);

/// True when this build has NCCL (the CUDA backend's collectives).
bool haveNccl();

} // namespace soap::cuda

#endif // SOAP_RUNTIME_CUDA_CUDABACKEND_H
