//===- Optimizer.h - SGD and Adam/AdamW over flat fp32 buffers --*- C++ -*-===//
//
// PyTorch's update rules (torch.optim.SGD, Adam, AdamW, single-tensor path),
// one call per parameter buffer (or shard of one: the rules are elementwise,
// so a sharded parameter updates exactly like the whole). The scalar factors
// are computed in double and applied in float, as PyTorch does.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_OPTIMIZER_H
#define SOAP_RUNTIME_CPU_OPTIMIZER_H

#include <cstdint>

namespace soap::cpu {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weightDecay = 0.0;
  bool nesterov = false;
};

/// g = grad + weightDecay * param; with momentum, buf = g on the first step
/// and buf = momentum * buf + (1 - dampening) * g after, g = buf (or
/// g + momentum * buf with nesterov); param -= lr * g. `momentumBuffer` may
/// be null when momentum is 0.
void sgdStep(float *param, const float *grad, float *momentumBuffer, int64_t n,
             const SgdOptions &o, bool firstStep);

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 0.0;
  /// AdamW: decay the parameter (param *= 1 - lr * weightDecay) instead of
  /// adding weightDecay * param to the gradient.
  bool decoupled = false;
};

/// m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
/// param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
/// `step` counts from 1; m and v start at zero.
void adamStep(float *param, const float *grad, float *m, float *v, int64_t n,
              int64_t step, const AdamOptions &o);

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_OPTIMIZER_H
