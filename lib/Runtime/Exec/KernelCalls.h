//===- KernelCalls.h - a plan's kernel task as a CPU kernel call -*- C++ -*-===//
//
// Private to SoapRuntime. bindKernel() turns one Kernel task of a rank's
// plan into a closure over the CPU kernels (soap/Runtime/Cpu) with every
// view, attribute and parameter resolved once, at load time; a step then
// only calls the closures. The operand conventions (which buffer is which
// input of which kernel) are the planner's (docs/plan-format.md).
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_RUNTIME_EXEC_KERNELCALLS_H
#define SOAP_LIB_RUNTIME_EXEC_KERNELCALLS_H

#include "soap/Plan/Plan.h"

#include <cstdint>
#include <functional>
#include <string>

namespace soap::runtime {

/// A buffer of the rank: its plan entry and its memory.
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

/// Binds `task` (a Kernel task) over the rank's buffers (`buffer(id)`;
/// id -1 gives a null BufferRef). "" on success, else why the task has no
/// CPU kernel.
std::string bindKernel(const PlanTask &task,
                       const std::function<BufferRef(int)> &buffer,
                       const KernelSettings &settings, Thunk &out);

} // namespace soap::runtime

#endif // SOAP_LIB_RUNTIME_EXEC_KERNELCALLS_H
