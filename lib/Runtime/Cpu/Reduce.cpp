//===- Reduce.cpp - reduce_sum, reduce_mean, reduce_max -------------------===//
//
// Every output element reduces its group in the same (row-major) order on
// every path and thread count. Two traversals: when the innermost axis is
// reduced, each output walks its own group (contiguous inner loop); when it
// is kept, a row of outputs walks the groups together (contiguous rows).
//
//===----------------------------------------------------------------------===//

#include "soap/Runtime/Cpu/Reduce.h"
#include "Internal.h"
#include "Math.h"

#include <cmath>
#include <limits>

namespace soap::cpu {
using namespace detail;

namespace {

/// x's axes after merging, split into kept and reduced ones (each with its x
/// stride), outputs in row-major order of the kept axes.
struct ReducePlan {
  int nk = 0, nr = 0;
  int64_t kSize[kMaxRank], kStride[kMaxRank];
  int64_t rSize[kMaxRank], rStride[kMaxRank];
  bool lastKept = false;
  int64_t outputs = 1, perOutput = 1;

  ReducePlan(const ConstFloatView &x, IntList axes) {
    bool reduced[kMaxRank] = {};
    for (int64_t a : axes)
      reduced[normAxis(a, x.rank())] = true;
    // y strides over x's shape: 0 on reduced axes.
    int64_t ys[kMaxRank];
    int64_t s = 1;
    for (int i = x.rank() - 1; i >= 0; --i) {
      ys[i] = reduced[i] ? 0 : s;
      if (!reduced[i])
        s *= x.dim(i);
    }
    Layout<2> l(x.shape, {x.strides, ys});
    for (int i = 0; i < l.rank; ++i) {
      if (l.size[i] == 1)
        continue;
      if (l.stride[1][i] == 0) {
        rSize[nr] = l.size[i];
        rStride[nr++] = l.stride[0][i];
        perOutput *= l.size[i];
        lastKept = false;
      } else {
        kSize[nk] = l.size[i];
        kStride[nk++] = l.stride[0][i];
        outputs *= l.size[i];
        lastKept = true;
      }
    }
  }

  /// x offset of output `o` over the first `n` kept axes (o indexes them).
  int64_t keptOffset(int64_t o, int n) const {
    int64_t off = 0;
    for (int i = n - 1; i >= 0; --i) {
      off += (o % kSize[i]) * kStride[i];
      o /= kSize[i];
    }
    return off;
  }

  /// f(offset) for every element of a group, row-major, from `base`.
  template <class F> void walkGroup(int64_t base, F &&f) const {
    walkRuns(base, [&](int64_t off, int64_t len, int64_t stride) {
      for (int64_t i = 0; i < len; ++i)
        f(off + i * stride);
    });
  }

  /// f(offset, length, stride) for every run of the innermost reduced axis
  /// of a group, in row-major order.
  template <class F> void walkRuns(int64_t base, F &&f) const {
    if (nr == 0) {
      f(base, 1, 1);
      return;
    }
    int64_t idx[kMaxRank] = {};
    int64_t inner = rSize[nr - 1], innerStride = rStride[nr - 1];
    int64_t off = base;
    while (true) {
      f(off, inner, innerStride);
      int d = nr - 2;
      for (; d >= 0; --d) {
        off += rStride[d];
        if (++idx[d] < rSize[d])
          break;
        off -= rStride[d] * rSize[d];
        idx[d] = 0;
      }
      if (d < 0)
        return;
    }
  }
};

/// Sums (in double) or maxima of every group; `arg` (nullable) receives the
/// x offset of each maximum (first one in row-major order).
void reduceGroups(const ReducePlan &p, const float *x, bool isMax, double *out,
                  int64_t *arg) {
  if (!p.lastKept) {
    parallelRange(p.outputs, std::max<int64_t>(1, kGrain / p.perOutput),
                  [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        int64_t base = p.keptOffset(o, p.nk);
        if (isMax) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t at = base;
          p.walkGroup(base, [&](int64_t i) {
            if (x[i] > best) {
              best = x[i];
              at = i;
            }
          });
          out[o] = best;
          if (arg)
            arg[o] = at;
        } else {
          double acc = 0.0;
          p.walkRuns(base, [&](int64_t off, int64_t len, int64_t stride) {
            if (stride == 1) {
              acc += sumLanes(x + off, len);
              return;
            }
            for (int64_t i = 0; i < len; ++i)
              acc += x[off + i * stride];
          });
          out[o] = acc;
        }
      }
    });
    return;
  }
  // The innermost axis is kept: a row of `len` outputs advances together.
  int64_t len = p.kSize[p.nk - 1], stride = p.kStride[p.nk - 1];
  int64_t rows = p.outputs / len;
  parallelRange(rows, std::max<int64_t>(1, kGrain / (len * p.perOutput)),
                [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t base = p.keptOffset(r, p.nk - 1);
      double *o = out + r * len;
      int64_t *a = arg ? arg + r * len : nullptr;
      if (isMax) {
        for (int64_t i = 0; i < len; ++i) {
          o[i] = -std::numeric_limits<double>::infinity();
          if (a)
            a[i] = base + i * stride;
        }
        p.walkGroup(base, [&](int64_t g) {
          for (int64_t i = 0; i < len; ++i) {
            float v = x[g + i * stride];
            if (v > o[i]) {
              o[i] = v;
              if (a)
                a[i] = g + i * stride;
            }
          }
        });
      } else {
        for (int64_t i = 0; i < len; ++i)
          o[i] = 0.0;
        p.walkGroup(base, [&](int64_t g) {
          for (int64_t i = 0; i < len; ++i)
            o[i] += x[g + i * stride];
        });
      }
    }
  });
}
} // namespace

void reduce::forward(Kind kind, ConstFloatView x, IntList axes, FloatView y,
                     int64_t globalCount) {
  ReducePlan p(x, axes);
  assert(y.numel() == p.outputs && y.isContiguous());
  ScratchFrame frame;
  double *acc = frame.doubleZeros(p.outputs);
  reduceGroups(p, x.data, kind == Kind::Max, acc, nullptr);
  double scale = 1.0;
  if (kind == Kind::Mean)
    scale = 1.0 / double(globalCount > 0 ? globalCount : p.perOutput);
  for (int64_t o = 0; o < p.outputs; ++o)
    y.data[o] = static_cast<float>(acc[o] * scale);
}

void reduce::backward(Kind kind, ConstFloatView x, IntList axes,
                      ConstFloatView dy, FloatView dx, int64_t globalCount) {
  if (!dx)
    return;
  ReducePlan p(x, axes);
  if (kind == Kind::Max) {
    ScratchFrame frame;
    double *best = frame.doubleZeros(p.outputs);
    int64_t *arg = frame.ints(p.outputs);
    reduceGroups(p, x.data, true, best, arg);
    // x and dx share offsets (both contiguous).
    for (int64_t o = 0; o < p.outputs; ++o)
      dx.data[arg[o]] += dy.data[o];
    return;
  }
  float scale = 1.0f;
  if (kind == Kind::Mean)
    scale = static_cast<float>(1.0 / double(globalCount > 0 ? globalCount
                                                            : p.perOutput));
  // dy broadcast over x's shape: stride 0 on the reduced axes.
  bool reduced[kMaxRank] = {};
  for (int64_t a : axes)
    reduced[normAxis(a, x.rank())] = true;
  int64_t ys[kMaxRank];
  int64_t s = 1;
  for (int i = x.rank() - 1; i >= 0; --i) {
    ys[i] = reduced[i] ? 0 : s;
    if (!reduced[i])
      s *= x.dim(i);
  }
  Layout<2> l(x.shape, {dx.strides, ys});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    float *d = dx.data + off[0];
    const float *g = dy.data + off[1];
    if (in[1] == 0) {
      float v = *g * scale;
      for (int64_t i = 0; i < len; ++i)
        d[i * in[0]] += v;
    } else {
      for (int64_t i = 0; i < len; ++i)
        d[i * in[0]] += g[i * in[1]] * scale;
    }
  });
}

} // namespace soap::cpu
