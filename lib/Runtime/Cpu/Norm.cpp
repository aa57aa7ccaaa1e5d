//===- Norm.cpp - soap.batch_norm (phased) and soap.layer_norm ------------===//

#include "soap/Runtime/Cpu/Norm.h"
#include "Internal.h"
#include "Math.h"

#include <cmath>

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// batch_norm: x is [N, C, S] with S the product of the trailing axes.
//===----------------------------------------------------------------------===//

namespace {
struct BnGeometry {
  int64_t n, c, s;
  explicit BnGeometry(const ConstFloatView &x)
      : n(x.dim(0)), c(x.dim(1)), s(x.shape.product(2, x.rank())) {}
  int64_t perChannel() const { return n * s; }
};
} // namespace

void batch_norm::localSums(ConstFloatView x, double *sum, double *sumSq) {
  BnGeometry g(x);
  parallelRange(g.c, std::max<int64_t>(1, kGrain / g.perChannel()),
                [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double a = 0.0, b = 0.0;
      for (int64_t n = 0; n < g.n; ++n) {
        const float *p = x.data + (n * g.c + c) * g.s;
        a += sumLanes(p, g.s);
        b += dotLanes(p, p, g.s);
      }
      sum[c] = a;
      sumSq[c] = b;
    }
  });
}

void batch_norm::finalizeStats(const double *sum, const double *sumSq,
                               int64_t count, int64_t channels, double epsilon,
                               float *mean, float *var, float *invStd) {
  for (int64_t c = 0; c < channels; ++c) {
    double m = sum[c] / static_cast<double>(count);
    double v = std::max(0.0, sumSq[c] / static_cast<double>(count) - m * m);
    if (mean)
      mean[c] = static_cast<float>(m);
    if (var)
      var[c] = static_cast<float>(v);
    if (invStd)
      invStd[c] = static_cast<float>(1.0 / std::sqrt(v + epsilon));
  }
}

void batch_norm::normalize(ConstFloatView x, const float *mean,
                           const float *invStd, ConstFloatView scale,
                           ConstFloatView bias, FloatView y) {
  BnGeometry g(x);
  parallelRange(g.n * g.c, std::max<int64_t>(1, kGrain / g.s),
                [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t c = r % g.c;
      float a = invStd[c] * scale.data[c];
      float b = bias.data[c] - mean[c] * a;
      const float *src = x.data + r * g.s;
      float *dst = y.data + r * g.s;
      for (int64_t i = 0; i < g.s; ++i)
        dst[i] = src[i] * a + b;
    }
  });
}

void batch_norm::updateRunningStats(const float *mean, const float *var,
                                    int64_t count, int64_t channels,
                                    double momentum, float *runningMean,
                                    float *runningVar) {
  double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
  for (int64_t c = 0; c < channels; ++c) {
    runningMean[c] = static_cast<float>((1.0 - momentum) * runningMean[c] +
                                        momentum * mean[c]);
    runningVar[c] = static_cast<float>((1.0 - momentum) * runningVar[c] +
                                       momentum * var[c] * unbias);
  }
}

void batch_norm::forward(ConstFloatView x, ConstFloatView scale,
                         ConstFloatView bias, double epsilon, FloatView y,
                         float *mean, float *invStd) {
  BnGeometry g(x);
  ScratchFrame frame;
  double *sum = frame.doubleZeros(g.c), *sumSq = frame.doubleZeros(g.c);
  float *m = mean ? mean : frame.floats(g.c);
  float *is = invStd ? invStd : frame.floats(g.c);
  localSums(x, sum, sumSq);
  finalizeStats(sum, sumSq, g.perChannel(), g.c, epsilon, m, nullptr, is);
  normalize(x, m, is, scale, bias, y);
}

void batch_norm::backwardLocalSums(ConstFloatView x, ConstFloatView dy,
                                   const float *mean, const float *invStd,
                                   double *sumDy, double *sumDyXhat) {
  BnGeometry g(x);
  parallelRange(g.c, std::max<int64_t>(1, kGrain / g.perChannel()),
                [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double a = 0.0, b = 0.0;
      double m = mean[c];
      for (int64_t n = 0; n < g.n; ++n) {
        const float *px = x.data + (n * g.c + c) * g.s;
        const float *pd = dy.data + (n * g.c + c) * g.s;
        a += sumLanes(pd, g.s);
        b += dotShiftLanes(pd, px, g.s, m);
      }
      sumDy[c] = a;
      sumDyXhat[c] = b * invStd[c];
    }
  });
}

void batch_norm::backwardParams(const double *sumDy, const double *sumDyXhat,
                                int64_t channels, FloatView dScale,
                                FloatView dBias) {
  for (int64_t c = 0; c < channels; ++c) {
    if (dScale)
      dScale.data[c] += static_cast<float>(sumDyXhat[c]);
    if (dBias)
      dBias.data[c] += static_cast<float>(sumDy[c]);
  }
}

void batch_norm::backwardInput(ConstFloatView x, ConstFloatView dy,
                               const float *mean, const float *invStd,
                               ConstFloatView scale, const double *sumDy,
                               const double *sumDyXhat, int64_t count,
                               FloatView dx) {
  BnGeometry g(x);
  parallelRange(g.n * g.c, std::max<int64_t>(1, kGrain / g.s),
                [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t c = r % g.c;
      float is = invStd[c], m = mean[c];
      float k = scale.data[c] * is;
      float meanDy = static_cast<float>(sumDy[c] / double(count));
      float meanDyXhat = static_cast<float>(sumDyXhat[c] / double(count));
      const float *px = x.data + r * g.s, *pd = dy.data + r * g.s;
      float *out = dx.data + r * g.s;
      for (int64_t i = 0; i < g.s; ++i) {
        float xhat = (px[i] - m) * is;
        out[i] += k * (pd[i] - meanDy - xhat * meanDyXhat);
      }
    }
  });
}

void batch_norm::backward(ConstFloatView x, ConstFloatView scale,
                          ConstFloatView dy, double epsilon, FloatView dx,
                          FloatView dScale, FloatView dBias) {
  BnGeometry g(x);
  ScratchFrame frame;
  double *s1 = frame.doubleZeros(g.c), *s2 = frame.doubleZeros(g.c);
  float *mean = frame.floats(g.c), *invStd = frame.floats(g.c);
  localSums(x, s1, s2);
  finalizeStats(s1, s2, g.perChannel(), g.c, epsilon, mean, nullptr, invStd);
  backwardLocalSums(x, dy, mean, invStd, s1, s2);
  backwardParams(s1, s2, g.c, dScale, dBias);
  if (dx)
    backwardInput(x, dy, mean, invStd, scale, s1, s2, g.perChannel(), dx);
}

//===----------------------------------------------------------------------===//
// layer_norm: x is [R, D] with D the product of the normalized axes.
//===----------------------------------------------------------------------===//

namespace {
void rowStats(const float *p, int64_t d, double epsilon, float &mean,
              float &rstd) {
  double m = sumLanes(p, d) / double(d);
  double v = sumSqDevLanes(p, d, m);
  mean = static_cast<float>(m);
  rstd = static_cast<float>(1.0 / std::sqrt(v / double(d) + epsilon));
}
} // namespace

void layer_norm::forward(ConstFloatView x, ConstFloatView scale,
                         ConstFloatView bias, int64_t axis, double epsilon,
                         FloatView y, float *mean, float *rstd) {
  int ax = normAxis(axis, x.rank());
  int64_t rows = x.shape.product(0, ax), d = x.shape.product(ax, x.rank());
  parallelRange(rows, std::max<int64_t>(1, kGrain / d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *src = x.data + r * d;
      float *dst = y.data + r * d;
      float m, rs;
      rowStats(src, d, epsilon, m, rs);
      if (mean)
        mean[r] = m;
      if (rstd)
        rstd[r] = rs;
      for (int64_t i = 0; i < d; ++i) {
        float v = (src[i] - m) * rs * scale.data[i];
        dst[i] = bias ? v + bias.data[i] : v;
      }
    }
  });
}

void layer_norm::backward(ConstFloatView x, ConstFloatView scale,
                          ConstFloatView dy, int64_t axis, double epsilon,
                          FloatView dx, FloatView dScale, FloatView dBias) {
  int ax = normAxis(axis, x.rank());
  int64_t rows = x.shape.product(0, ax), d = x.shape.product(ax, x.rank());
  ScratchFrame frame;
  float *mean = frame.floats(rows), *rstd = frame.floats(rows);
  int64_t grain = std::max<int64_t>(1, kGrain / d);
  parallelRange(rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> gs(dx ? d : 0), xh(dx ? d : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = x.data + r * d, *pd = dy.data + r * d;
      rowStats(px, d, epsilon, mean[r], rstd[r]);
      if (!dx)
        continue;
      float m = mean[r], rs = rstd[r];
      for (int64_t i = 0; i < d; ++i) {
        gs[i] = pd[i] * scale.data[i];
        xh[i] = (px[i] - m) * rs;
      }
      float meanG = static_cast<float>(sumLanes(gs.data(), d) / double(d));
      float meanGX =
          static_cast<float>(dotLanes(gs.data(), xh.data(), d) / double(d));
      float *out = dx.data + r * d;
      for (int64_t i = 0; i < d; ++i)
        out[i] += rs * (gs[i] - meanG - xh[i] * meanGX);
    }
  });
  if (!dScale && !dBias)
    return;
  parallelRange(d, std::max<int64_t>(16, kGrain / rows), [&](int64_t c0, int64_t c1) {
    std::vector<double> gs(c1 - c0, 0.0), gb(c1 - c0, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float *px = x.data + r * d, *pd = dy.data + r * d;
      float m = mean[r], rs = rstd[r];
      for (int64_t i = c0; i < c1; ++i) {
        gs[i - c0] += double(pd[i]) * ((px[i] - m) * rs);
        gb[i - c0] += pd[i];
      }
    }
    for (int64_t i = c0; i < c1; ++i) {
      if (dScale)
        dScale.data[i] += static_cast<float>(gs[i - c0]);
      if (dBias)
        dBias.data[i] += static_cast<float>(gb[i - c0]);
    }
  });
}

} // namespace soap::cpu
