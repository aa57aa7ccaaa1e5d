//===- Backend.h - where a rank's kernels run -------------------*- C++ -*-===//
//
// A RankExecutor (Executor.h) keeps every buffer of its rank in host memory
// (weights initialized there, inputs loaded there, checkpoints read and
// written there) and runs its kernel tasks on a Backend:
//
//  - the CPU backend runs them on the host buffers themselves (the CPU
//    kernels, KernelCalls.cpp): no copies, nothing else changes;
//  - the CUDA backend (soap/Runtime/Cuda/CudaBackend.h) keeps a device copy
//    of every buffer and runs cuBLAS / Soap's own CUDA kernels on it. The
//    executor moves data between the two at the few places the host needs
//    it: inputs and zeroed gradients at the start of a step (toDevice), the
//    loss at its end, the buffers of a host transfer or host collective
//    around it, every buffer before checkpoints and gathers (toHost), every
//    buffer after a checkpoint was loaded (toDevice). Collectives the backend
//    runs itself (NCCL) need no copies.
//
// Errors are strings ("" = fine); no exception leaves a backend.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_BACKEND_H
#define SOAP_RUNTIME_BACKEND_H

#include "soap/Plan/Plan.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace soap::runtime {

class Transport;

/// A buffer of the rank: its plan entry and its memory (host or device).
struct BufferRef {
  const PlanBuffer *meta = nullptr;
  void *data = nullptr;
};

/// One task's work at step `step` (1-based).
using Thunk = std::function<void(int64_t step)>;

/// Settings that are the run's, not the plan's.
struct KernelSettings {
  OptimizerSettings optimizer;
  /// Mixed into every dropout seed (0: the plan's seeds as they are).
  uint64_t seed = 0;
};

/// What a collective of the backend needs to know about its communicator.
struct CollectiveGroup {
  const Communicator *comm = nullptr;
  int index = 0; ///< this rank is comm->ranks[index]
};

class Backend {
public:
  virtual ~Backend() = default;
  /// "cpu", "cuda".
  virtual const char *name() const = 0;
  /// True when kernels work on the host buffers themselves (no copies).
  virtual bool onHost() const = 0;
  /// Called once, after the host buffers exist: allocates the device copy
  /// of each (`host`: every buffer of the rank, with its host memory).
  virtual std::string allocate(const std::vector<BufferRef> &host) = 0;
  /// Binds a Kernel task over the backend's copies of the buffers. "" on
  /// success, else why this backend cannot run the task (at load time).
  virtual std::string bindKernel(const PlanTask &task,
                                 const KernelSettings &settings, Thunk &out) = 0;
  /// Binds a Fill task (every element of buffer `id` = value).
  virtual std::string bindFill(int id, double value, Thunk &out) = 0;
  /// Whole-buffer copies between the host buffer and the backend's copy.
  virtual std::string toDevice(int id) = 0;
  virtual std::string toHost(int id) = 0;
  /// Waits for the work queued so far; reports asynchronous errors.
  virtual std::string synchronize() = 0;

  /// Backends with their own collectives (NCCL): set up once after
  /// allocate(), every rank at the same time (it is collective over the
  /// plan's communicators; `transport` carries the bootstrap). Returns
  /// false from runsCollective() for what stays on the host transport.
  virtual std::string setupCollectives(const Plan &plan, int rank,
                                       Transport &transport,
                                       double timeoutSeconds) {
    return "";
  }
  virtual bool runsCollective(const PlanTask &task) const { return false; }
  /// Runs a collective task on the backend's buffers (runsCollective()).
  virtual std::string collective(const PlanTask &task,
                                 const CollectiveGroup &group) {
    return "this backend has no collectives";
  }
};

/// The CPU backend: the CPU kernels over the host buffers that `buffer`
/// returns (the executor's arena).
std::unique_ptr<Backend>
makeCpuBackend(std::function<BufferRef(int)> buffer);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_BACKEND_H
