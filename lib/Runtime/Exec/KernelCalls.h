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
#include "soap/Runtime/Backend.h"

#include <cstdint>
#include <functional>
#include <string>

namespace soap::runtime {

/// Binds `task` (a Kernel task) over the rank's buffers (`buffer(id)`;
/// id -1 gives a null BufferRef). "" on success, else why the task has no
/// CPU kernel.
std::string bindKernel(const PlanTask &task,
                       const std::function<BufferRef(int)> &buffer,
                       const KernelSettings &settings, Thunk &out);

} // namespace soap::runtime

#endif // SOAP_LIB_RUNTIME_EXEC_KERNELCALLS_H
