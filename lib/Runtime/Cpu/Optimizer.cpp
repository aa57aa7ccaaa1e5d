//===- Optimizer.cpp - SGD and Adam/AdamW (PyTorch's rules) ---------------===//

#include "soap/Runtime/Cpu/Optimizer.h"
#include "Internal.h"

#include <cmath>

namespace soap::cpu {
using namespace detail;

void sgdStep(float *param, const float *grad, float *momentumBuffer, int64_t n,
             const SgdOptions &o, bool firstStep) {
  float lr = static_cast<float>(o.lr), wd = static_cast<float>(o.weightDecay),
        mom = static_cast<float>(o.momentum),
        damp = static_cast<float>(1.0 - o.dampening);
  bool useMomentum = o.momentum != 0.0;
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float g = grad[i];
      if (wd != 0.0f)
        g += wd * param[i];
      if (useMomentum) {
        float buf = firstStep ? g : mom * momentumBuffer[i] + damp * g;
        momentumBuffer[i] = buf;
        g = o.nesterov ? g + mom * buf : buf;
      }
      param[i] -= lr * g;
    }
  });
}

void adamStep(float *param, const float *grad, float *m, float *v, int64_t n,
              int64_t step, const AdamOptions &o) {
  double bc1 = 1.0 - std::pow(o.beta1, double(step));
  double bc2 = 1.0 - std::pow(o.beta2, double(step));
  float stepSize = static_cast<float>(o.lr / bc1);
  float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  float b2 = static_cast<float>(o.beta2);
  float oneMinusB1 = static_cast<float>(1.0 - o.beta1);
  float oneMinusB2 = static_cast<float>(1.0 - o.beta2);
  float eps = static_cast<float>(o.eps), wd = static_cast<float>(o.weightDecay);
  float decay = static_cast<float>(1.0 - o.lr * o.weightDecay);
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float g = grad[i];
      if (o.weightDecay != 0.0) {
        if (o.decoupled)
          param[i] *= decay;
        else
          g += wd * param[i];
      }
      float mi = m[i] + oneMinusB1 * (g - m[i]); // lerp, as PyTorch
      float vi = b2 * v[i] + oneMinusB2 * g * g;
      m[i] = mi;
      v[i] = vi;
      float denom = std::sqrt(vi) / bc2Sqrt + eps;
      param[i] -= stepSize * mi / denom;
    }
  });
}

} // namespace soap::cpu
