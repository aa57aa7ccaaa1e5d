//===- Kernels.h - the CPU kernel library, all of it ------------*- C++ -*-===//
//
// Forward and backward kernels for every soap op, and the optimizers, over
// fp32 views (soap/Runtime/Cpu/Tensor.h). docs/kernels.md is the manual.
//
// Conventions, the same for every op (namespace soap::cpu::<op>):
//  - `forward` OVERWRITES its outputs.
//  - `backward` ACCUMULATES into every gradient it is given (dx += ...), so
//    that fan-out sums and several shards' contributions add up; the caller
//    zeroes gradient buffers once per step. A null gradient view is skipped.
//  - `backward` receives the forward's inputs (not its outputs); ops that can
//    reuse forward intermediates take an optional `saved` buffer.
//  - Views are contiguous unless a kernel says otherwise; outputs do not
//    alias inputs unless a kernel says otherwise.
//  - Shapes are the shard's own shapes. Where the math depends on the global
//    tensor (dropout's element indices, loss means, batch-norm statistics,
//    vocabulary and expert shards, causal query offsets) the kernel takes the
//    global facts as explicit arguments; with the defaults, shard == whole.
//  - Preconditions on shapes are the verified soap op's (the plan comes from
//    verified IR); they are asserted in debug builds only.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_KERNELS_H
#define SOAP_RUNTIME_CPU_KERNELS_H

#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Cpu/Cast.h"
#include "soap/Runtime/Cpu/Conv.h"
#include "soap/Runtime/Cpu/Dense.h"
#include "soap/Runtime/Cpu/Elementwise.h"
#include "soap/Runtime/Cpu/Layout.h"
#include "soap/Runtime/Cpu/Loss.h"
#include "soap/Runtime/Cpu/Moe.h"
#include "soap/Runtime/Cpu/Norm.h"
#include "soap/Runtime/Cpu/Optimizer.h"
#include "soap/Runtime/Cpu/Reduce.h"
#include "soap/Runtime/Cpu/Sequence.h"
#include "soap/Runtime/Cpu/Tensor.h"

#endif // SOAP_RUNTIME_CPU_KERNELS_H
