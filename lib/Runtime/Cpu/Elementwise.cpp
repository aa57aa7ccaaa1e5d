//===- Elementwise.cpp - unary, binary, softmax and dropout ---------------===//

#include "soap/Runtime/Cpu/Elementwise.h"
#include "Internal.h"

#include <cmath>
#include <limits>

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// unary
//===----------------------------------------------------------------------===//

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kTwoOverSqrtPi = 1.12837916709551257390f;

template <class F>
void mapUnary(const float *x, float *y, int64_t n, F f) {
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      y[i] = f(x[i]);
  });
}

template <class F>
void mapGrad(const float *x, const float *dy, float *dx, int64_t n, F f) {
  parallelRange(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      dx[i] += dy[i] * f(x[i]);
  });
}
} // namespace

float unary::apply(Kind kind, float x) {
  switch (kind) {
  case Kind::Relu:
    return x > 0.0f ? x : 0.0f;
  case Kind::Gelu:
    return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  case Kind::Sigmoid:
    return 1.0f / (1.0f + std::exp(-x));
  case Kind::Tanh:
    return std::tanh(x);
  case Kind::Exp:
    return std::exp(x);
  case Kind::Log:
    return std::log(x);
  case Kind::Neg:
    return -x;
  case Kind::Sqrt:
    return std::sqrt(x);
  case Kind::Erf:
    return std::erf(x);
  }
  return x;
}

float unary::derivative(Kind kind, float x) {
  switch (kind) {
  case Kind::Relu:
    return x > 0.0f ? 1.0f : 0.0f;
  case Kind::Gelu:
    return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) +
           x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
  case Kind::Sigmoid: {
    float s = 1.0f / (1.0f + std::exp(-x));
    return s * (1.0f - s);
  }
  case Kind::Tanh: {
    float t = std::tanh(x);
    return 1.0f - t * t;
  }
  case Kind::Exp:
    return std::exp(x);
  case Kind::Log:
    return 1.0f / x;
  case Kind::Neg:
    return -1.0f;
  case Kind::Sqrt:
    return 0.5f / std::sqrt(x);
  case Kind::Erf:
    return kTwoOverSqrtPi * std::exp(-x * x);
  }
  return 1.0f;
}

void unary::forward(Kind kind, ConstFloatView x, FloatView y) {
  assert(x.isContiguous() && y.isContiguous());
  int64_t n = x.numel();
  // One loop per kind, so that each inner loop is branch-free.
  switch (kind) {
  case Kind::Relu:
    return mapUnary(x.data, y.data, n, [](float v) { return v > 0.0f ? v : 0.0f; });
  case Kind::Gelu:
    return mapUnary(x.data, y.data, n, [](float v) {
      return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2));
    });
  case Kind::Sigmoid:
    return mapUnary(x.data, y.data, n,
                    [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  case Kind::Tanh:
    return mapUnary(x.data, y.data, n, [](float v) { return std::tanh(v); });
  case Kind::Exp:
    return mapUnary(x.data, y.data, n, [](float v) { return std::exp(v); });
  case Kind::Log:
    return mapUnary(x.data, y.data, n, [](float v) { return std::log(v); });
  case Kind::Neg:
    return mapUnary(x.data, y.data, n, [](float v) { return -v; });
  case Kind::Sqrt:
    return mapUnary(x.data, y.data, n, [](float v) { return std::sqrt(v); });
  case Kind::Erf:
    return mapUnary(x.data, y.data, n, [](float v) { return std::erf(v); });
  }
}

void unary::backward(Kind kind, ConstFloatView x, ConstFloatView dy,
                     FloatView dx) {
  if (!dx)
    return;
  assert(x.isContiguous() && dy.isContiguous() && dx.isContiguous());
  int64_t n = x.numel();
  switch (kind) {
  case Kind::Relu:
    return mapGrad(x.data, dy.data, dx.data, n,
                   [](float v) { return v > 0.0f ? 1.0f : 0.0f; });
  case Kind::Neg:
    return mapGrad(x.data, dy.data, dx.data, n, [](float) { return -1.0f; });
  default:
    return mapGrad(x.data, dy.data, dx.data, n,
                   [kind](float v) { return derivative(kind, v); });
  }
}

//===----------------------------------------------------------------------===//
// binary
//===----------------------------------------------------------------------===//

namespace {
template <binary::Kind K> inline float op(float a, float b) {
  if constexpr (K == binary::Kind::Add)
    return a + b;
  else if constexpr (K == binary::Kind::Sub)
    return a - b;
  else if constexpr (K == binary::Kind::Mul)
    return a * b;
  else
    return a / b;
}

template <binary::Kind K>
void binaryForward(ConstFloatView a, ConstFloatView b, FloatView y) {
  int64_t sa[kMaxRank], sb[kMaxRank];
  broadcastStrides(a, y.shape, sa);
  broadcastStrides(b, y.shape, sb);
  Layout<3> l(y.shape, {y.strides, sa, sb});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    float *py = y.data + off[0];
    const float *pa = a.data + off[1], *pb = b.data + off[2];
    if (in[0] == 1 && in[1] == 1 && in[2] == 1) {
      for (int64_t i = 0; i < len; ++i)
        py[i] = op<K>(pa[i], pb[i]);
    } else if (in[0] == 1 && in[1] == 1 && in[2] == 0) {
      float vb = *pb;
      for (int64_t i = 0; i < len; ++i)
        py[i] = op<K>(pa[i], vb);
    } else if (in[0] == 1 && in[1] == 0 && in[2] == 1) {
      float va = *pa;
      for (int64_t i = 0; i < len; ++i)
        py[i] = op<K>(va, pb[i]);
    } else {
      for (int64_t i = 0; i < len; ++i)
        py[i * in[0]] = op<K>(pa[i * in[1]], pb[i * in[2]]);
    }
  });
}

/// d(a op b)/da (wrtA) or /db, times dy.
inline float partial(binary::Kind k, bool wrtA, float a, float b, float dy) {
  switch (k) {
  case binary::Kind::Add:
    return dy;
  case binary::Kind::Sub:
    return wrtA ? dy : -dy;
  case binary::Kind::Mul:
    return wrtA ? dy * b : dy * a;
  case binary::Kind::Div:
    return wrtA ? dy / b : -dy * a / (b * b);
  }
  return dy;
}

/// Accumulates the gradient of one operand (`self`, wrtA says which).
void binaryGrad(binary::Kind kind, bool wrtA, ConstFloatView a,
                ConstFloatView b, ConstFloatView dy, FloatView d) {
  const Shape &ys = dy.shape;
  int64_t sa[kMaxRank], sb[kMaxRank];
  broadcastStrides(a, ys, sa);
  broadcastStrides(b, ys, sb);
  const ConstFloatView &self = wrtA ? a : b;
  if (self.numel() == dy.numel()) {
    // No broadcast: every output element has its own gradient element.
    int64_t sd[kMaxRank];
    broadcastStrides(d, ys, sd);
    Layout<4> l(ys, {sd, dy.strides, sa, sb});
    l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
      for (int64_t i = 0; i < len; ++i)
        d.data[off[0] + i * in[0]] +=
            partial(kind, wrtA, a.data[off[2] + i * in[2]],
                    b.data[off[3] + i * in[3]], dy.data[off[1] + i * in[1]]);
    });
    return;
  }
  // Broadcast: sum into a double buffer shaped like the operand, in order.
  ScratchFrame frame;
  double *acc = frame.doubleZeros(self.numel());
  TensorView<const float> dense(nullptr, self.shape);
  int64_t sacc[kMaxRank];
  broadcastStrides(dense, ys, sacc);
  Layout<4> l(ys, {sacc, dy.strides, sa, sb});
  l.forRows(0, l.rows(), [&](const int64_t *off, int64_t len, const int64_t *in) {
    for (int64_t i = 0; i < len; ++i)
      acc[off[0] + i * in[0]] +=
          partial(kind, wrtA, a.data[off[2] + i * in[2]],
                  b.data[off[3] + i * in[3]], dy.data[off[1] + i * in[1]]);
  });
  Layout<2> out(self.shape, {d.strides, dense.strides});
  out.forRows(0, out.rows(), [&](const int64_t *off, int64_t len, const int64_t *in) {
    for (int64_t i = 0; i < len; ++i)
      d.data[off[0] + i * in[0]] += static_cast<float>(acc[off[1] + i * in[1]]);
  });
}
} // namespace

void binary::forward(Kind kind, ConstFloatView a, ConstFloatView b,
                     FloatView y) {
  switch (kind) {
  case Kind::Add:
    return binaryForward<Kind::Add>(a, b, y);
  case Kind::Sub:
    return binaryForward<Kind::Sub>(a, b, y);
  case Kind::Mul:
    return binaryForward<Kind::Mul>(a, b, y);
  case Kind::Div:
    return binaryForward<Kind::Div>(a, b, y);
  }
}

void binary::backward(Kind kind, ConstFloatView a, ConstFloatView b,
                      ConstFloatView dy, FloatView da, FloatView db) {
  if (da)
    binaryGrad(kind, true, a, b, dy, da);
  if (db)
    binaryGrad(kind, false, a, b, dy, db);
}

//===----------------------------------------------------------------------===//
// softmax: x is [outer, L, inner]; each (outer, inner) line is independent.
//===----------------------------------------------------------------------===//

namespace {
struct SoftmaxLines {
  int64_t outer, len, inner;
  SoftmaxLines(const Shape &s, int64_t axis) {
    int ax = normAxis(axis, s.rank);
    outer = s.product(0, ax);
    len = s.dims[ax];
    inner = s.product(ax + 1, s.rank);
  }
  int64_t lines() const { return outer * inner; }
  int64_t start(int64_t line) const {
    return (line / inner) * len * inner + line % inner;
  }
};

/// buf[i] = exp(x[i * stride] - max); returns 1 / sum.
inline float expLine(const float *x, int64_t len, int64_t stride, float *buf) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < len; ++i)
    mx = std::max(mx, x[i * stride]);
  double sum = 0.0;
  for (int64_t i = 0; i < len; ++i) {
    buf[i] = std::exp(x[i * stride] - mx);
    sum += buf[i];
  }
  return static_cast<float>(1.0 / sum);
}
} // namespace

void softmax::forward(ConstFloatView x, int64_t axis, FloatView y) {
  SoftmaxLines s(x.shape, axis);
  parallelRange(s.lines(), std::max<int64_t>(1, kGrain / s.len),
                [&](int64_t l0, int64_t l1) {
    std::vector<float> buf(s.len);
    for (int64_t l = l0; l < l1; ++l) {
      int64_t o = s.start(l);
      float inv = expLine(x.data + o, s.len, s.inner, buf.data());
      for (int64_t i = 0; i < s.len; ++i)
        y.data[o + i * s.inner] = buf[i] * inv;
    }
  });
}

void softmax::backward(ConstFloatView x, ConstFloatView dy, int64_t axis,
                       FloatView dx) {
  if (!dx)
    return;
  SoftmaxLines s(x.shape, axis);
  parallelRange(s.lines(), std::max<int64_t>(1, kGrain / s.len),
                [&](int64_t l0, int64_t l1) {
    std::vector<float> buf(s.len);
    for (int64_t l = l0; l < l1; ++l) {
      int64_t o = s.start(l);
      float inv = expLine(x.data + o, s.len, s.inner, buf.data());
      double dot = 0.0;
      for (int64_t i = 0; i < s.len; ++i) {
        buf[i] *= inv;
        dot += double(buf[i]) * dy.data[o + i * s.inner];
      }
      float fdot = static_cast<float>(dot);
      for (int64_t i = 0; i < s.len; ++i)
        dx.data[o + i * s.inner] += buf[i] * (dy.data[o + i * s.inner] - fdot);
    }
  });
}

//===----------------------------------------------------------------------===//
// dropout
//===----------------------------------------------------------------------===//

dropout::GlobalIndex dropout::GlobalIndex::whole(const Shape &shape) {
  GlobalIndex g;
  g.global = shape;
  return g;
}

namespace {
/// dst = src * mask * scale (accumulate: dst += ...), over a shard.
void applyMask(ConstFloatView src, FloatView dst, double ratio, int64_t seed,
               int64_t step, const dropout::GlobalIndex &where, bool accumulate) {
  const Shape &s = src.shape;
  assert(where.global.rank == s.rank && "GlobalIndex rank != shard rank");
  int64_t gs[kMaxRank];
  contiguousStrides(where.global, gs);
  int64_t base = 0;
  for (int i = 0; i < s.rank; ++i)
    base += where.offsets[i] * gs[i];
  uint64_t st = dropout::stream(seed, step);
  float keepScale = ratio < 1.0 ? static_cast<float>(1.0 / (1.0 - ratio)) : 0.0f;
  Layout<3> l(s, {dst.strides, src.strides, gs});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    for (int64_t i = 0; i < len; ++i) {
      uint64_t g = static_cast<uint64_t>(base + off[2] + i * in[2]);
      bool keep = double(dropout::keepUniform(st, g)) >= ratio;
      float v = keep ? src.data[off[1] + i * in[1]] * keepScale : 0.0f;
      float &d = dst.data[off[0] + i * in[0]];
      d = accumulate ? d + v : v;
    }
  });
}
} // namespace

void dropout::forward(ConstFloatView x, FloatView y, double ratio, int64_t seed,
                      int64_t step, const GlobalIndex &where) {
  applyMask(x, y, ratio, seed, step, where, false);
}

void dropout::backward(ConstFloatView dy, FloatView dx, double ratio,
                       int64_t seed, int64_t step, const GlobalIndex &where) {
  if (dx)
    applyMask(dy, dx, ratio, seed, step, where, true);
}

} // namespace soap::cpu
