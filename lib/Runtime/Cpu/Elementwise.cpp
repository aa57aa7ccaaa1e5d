//===- Elementwise.cpp - unary, binary, softmax and dropout ---------------===//

#include "soap/Runtime/Cpu/Elementwise.h"
#include "Internal.h"
#include "Math.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// unary
//===----------------------------------------------------------------------===//

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kTwoOverSqrtPi = 1.12837916709551257390f;

/// f(x) of one kind, branch-free where it matters (detail/Math.h), so that
/// the loops below vectorize.
template <unary::Kind K> inline float value(float x) {
  using unary::Kind;
  if constexpr (K == Kind::Relu)
    return x > 0.0f ? x : 0.0f;
  else if constexpr (K == Kind::Gelu)
    return 0.5f * x * (1.0f + verf(x * kInvSqrt2));
  else if constexpr (K == Kind::Sigmoid)
    return vsigmoid(x);
  else if constexpr (K == Kind::Tanh)
    return vtanh(x);
  else if constexpr (K == Kind::Exp)
    return vexp(x);
  else if constexpr (K == Kind::Log)
    return std::log(x);
  else if constexpr (K == Kind::Neg)
    return -x;
  else if constexpr (K == Kind::Sqrt)
    return std::sqrt(x);
  else
    return verf(x);
}

/// f'(x) of one kind.
template <unary::Kind K> inline float slope(float x) {
  using unary::Kind;
  if constexpr (K == Kind::Relu)
    return x > 0.0f ? 1.0f : 0.0f;
  else if constexpr (K == Kind::Gelu)
    return 0.5f * (1.0f + verf(x * kInvSqrt2)) +
           x * kInvSqrt2Pi * vexp(-0.5f * x * x);
  else if constexpr (K == Kind::Sigmoid) {
    float s = vsigmoid(x);
    return s * (1.0f - s);
  } else if constexpr (K == Kind::Tanh) {
    float t = vtanh(x);
    return 1.0f - t * t;
  } else if constexpr (K == Kind::Exp)
    return vexp(x);
  else if constexpr (K == Kind::Log)
    return 1.0f / x;
  else if constexpr (K == Kind::Neg)
    return -1.0f;
  else if constexpr (K == Kind::Sqrt)
    return 0.5f / std::sqrt(x);
  else
    return kTwoOverSqrtPi * vexp(-x * x);
}

// The loops are functions of their own (not inlined into the dispatch), so
// that each is vectorized on its own terms.
template <unary::Kind K>
SOAP_NOINLINE void valueLoop(const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    y[i] = value<K>(x[i]);
}

template <unary::Kind K>
SOAP_NOINLINE void slopeLoop(const float *x, const float *dy, float *dx,
                             int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] += dy[i] * slope<K>(x[i]);
}

template <unary::Kind K> void mapValue(const float *x, float *y, int64_t n) {
  parallelRange(n, kGrain,
                [&](int64_t b, int64_t e) { valueLoop<K>(x, y, b, e); });
}

template <unary::Kind K>
void mapSlope(const float *x, const float *dy, float *dx, int64_t n) {
  parallelRange(n, kGrain,
                [&](int64_t b, int64_t e) { slopeLoop<K>(x, dy, dx, b, e); });
}

/// Calls f(std::integral_constant<Kind, K>) for the runtime kind K.
template <class F> void dispatch(unary::Kind kind, F &&f) {
  using unary::Kind;
  switch (kind) {
  case Kind::Relu:
    return f(std::integral_constant<Kind, Kind::Relu>());
  case Kind::Gelu:
    return f(std::integral_constant<Kind, Kind::Gelu>());
  case Kind::Sigmoid:
    return f(std::integral_constant<Kind, Kind::Sigmoid>());
  case Kind::Tanh:
    return f(std::integral_constant<Kind, Kind::Tanh>());
  case Kind::Exp:
    return f(std::integral_constant<Kind, Kind::Exp>());
  case Kind::Log:
    return f(std::integral_constant<Kind, Kind::Log>());
  case Kind::Neg:
    return f(std::integral_constant<Kind, Kind::Neg>());
  case Kind::Sqrt:
    return f(std::integral_constant<Kind, Kind::Sqrt>());
  case Kind::Erf:
    return f(std::integral_constant<Kind, Kind::Erf>());
  }
}
} // namespace

float unary::apply(Kind kind, float x) {
  float r = x;
  dispatch(kind, [&](auto k) { r = value<decltype(k)::value>(x); });
  return r;
}

float unary::derivative(Kind kind, float x) {
  float r = 1.0f;
  dispatch(kind, [&](auto k) { r = slope<decltype(k)::value>(x); });
  return r;
}

void unary::forward(Kind kind, ConstFloatView x, FloatView y) {
  assert(x.isContiguous() && y.isContiguous());
  dispatch(kind, [&](auto k) {
    mapValue<decltype(k)::value>(x.data, y.data, x.numel());
  });
}

void unary::backward(Kind kind, ConstFloatView x, ConstFloatView dy,
                     FloatView dx) {
  if (!dx)
    return;
  assert(x.isContiguous() && dy.isContiguous() && dx.isContiguous());
  dispatch(kind, [&](auto k) {
    mapSlope<decltype(k)::value>(x.data, dy.data, dx.data, x.numel());
  });
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
  else if constexpr (K == binary::Kind::Div)
    return a / b;
  else
    return std::pow(a, b);
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

/// d(a op b)/da (WrtA) or /db, times dy.
template <binary::Kind K, bool WrtA>
inline float partial(float a, float b, float dy) {
  if constexpr (K == binary::Kind::Add)
    return dy;
  else if constexpr (K == binary::Kind::Sub)
    return WrtA ? dy : -dy;
  else if constexpr (K == binary::Kind::Mul)
    return WrtA ? dy * b : dy * a;
  else if constexpr (K == binary::Kind::Div)
    return WrtA ? dy / b : -dy * a / (b * b);
  else if constexpr (WrtA)
    return b == 0.0f ? 0.0f : dy * b * std::pow(a, b - 1.0f);
  else
    return a == 0.0f ? 0.0f : dy * std::pow(a, b) * std::log(a);
}

/// Accumulates the gradient of one operand (`self`, wrtA says which).
template <binary::Kind K, bool WrtA>
void binaryGrad(ConstFloatView a, ConstFloatView b, ConstFloatView dy,
                FloatView d) {
  const Shape &ys = dy.shape;
  int64_t sa[kMaxRank], sb[kMaxRank];
  broadcastStrides(a, ys, sa);
  broadcastStrides(b, ys, sb);
  const ConstFloatView &self = WrtA ? a : b;
  if (self.numel() == dy.numel()) {
    // No broadcast: every output element has its own gradient element.
    int64_t sd[kMaxRank];
    broadcastStrides(d, ys, sd);
    Layout<4> l(ys, {sd, dy.strides, sa, sb});
    l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
      float *pd = d.data + off[0];
      const float *pg = dy.data + off[1], *pa = a.data + off[2],
                  *pb = b.data + off[3];
      if (in[0] == 1 && in[1] == 1 && in[2] == 1 && in[3] == 1) {
        for (int64_t i = 0; i < len; ++i)
          pd[i] += partial<K, WrtA>(pa[i], pb[i], pg[i]);
        return;
      }
      for (int64_t i = 0; i < len; ++i)
        pd[i * in[0]] +=
            partial<K, WrtA>(pa[i * in[2]], pb[i * in[3]], pg[i * in[1]]);
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
    double *pacc = acc + off[0];
    const float *pg = dy.data + off[1], *pa = a.data + off[2],
                *pb = b.data + off[3];
    if (in[0] == 1 && in[1] == 1 && in[2] == 1 && in[3] == 1) {
      for (int64_t i = 0; i < len; ++i)
        pacc[i] += partial<K, WrtA>(pa[i], pb[i], pg[i]);
      return;
    }
    for (int64_t i = 0; i < len; ++i)
      pacc[i * in[0]] +=
          partial<K, WrtA>(pa[i * in[2]], pb[i * in[3]], pg[i * in[1]]);
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
  case Kind::Pow:
    return binaryForward<Kind::Pow>(a, b, y);
  }
}

void binary::backward(Kind kind, ConstFloatView a, ConstFloatView b,
                      ConstFloatView dy, FloatView da, FloatView db) {
  auto both = [&](auto k) {
    constexpr Kind K = decltype(k)::value;
    if (da)
      binaryGrad<K, true>(a, b, dy, da);
    if (db)
      binaryGrad<K, false>(a, b, dy, db);
  };
  switch (kind) {
  case Kind::Add:
    return both(std::integral_constant<Kind, Kind::Add>());
  case Kind::Sub:
    return both(std::integral_constant<Kind, Kind::Sub>());
  case Kind::Mul:
    return both(std::integral_constant<Kind, Kind::Mul>());
  case Kind::Div:
    return both(std::integral_constant<Kind, Kind::Div>());
  case Kind::Pow:
    return both(std::integral_constant<Kind, Kind::Pow>());
  }
}

//===----------------------------------------------------------------------===//
// predicates (comparisons and logical ops)
//===----------------------------------------------------------------------===//

namespace {
template <predicate::Kind K, class T> inline uint8_t test(T a, T b) {
  using predicate::Kind;
  if constexpr (K == Kind::Equal)
    return a == b;
  else if constexpr (K == Kind::Less)
    return a < b;
  else if constexpr (K == Kind::LessEqual)
    return a <= b;
  else if constexpr (K == Kind::Greater)
    return a > b;
  else if constexpr (K == Kind::GreaterEqual)
    return a >= b;
  else if constexpr (K == Kind::And)
    return (a != 0) & (b != 0);
  else if constexpr (K == Kind::Or)
    return (a != 0) | (b != 0);
  else
    return (a != 0) ^ (b != 0);
}

template <predicate::Kind K, class T>
void predicateForward(TensorView<const T> a, TensorView<const T> b,
                      TensorView<uint8_t> y) {
  int64_t sa[kMaxRank], sb[kMaxRank];
  broadcastStrides(a, y.shape, sa);
  broadcastStrides(b, y.shape, sb);
  Layout<3> l(y.shape, {y.strides, sa, sb});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    uint8_t *py = y.data + off[0];
    const T *pa = a.data + off[1], *pb = b.data + off[2];
    for (int64_t i = 0; i < len; ++i)
      py[i * in[0]] = test<K>(pa[i * in[1]], pb[i * in[2]]);
  });
}

template <class T>
void predicateDispatch(predicate::Kind kind, TensorView<const T> a,
                       TensorView<const T> b, TensorView<uint8_t> y) {
  using predicate::Kind;
  switch (kind) {
  case Kind::Equal:
    return predicateForward<Kind::Equal>(a, b, y);
  case Kind::Less:
    return predicateForward<Kind::Less>(a, b, y);
  case Kind::LessEqual:
    return predicateForward<Kind::LessEqual>(a, b, y);
  case Kind::Greater:
    return predicateForward<Kind::Greater>(a, b, y);
  case Kind::GreaterEqual:
    return predicateForward<Kind::GreaterEqual>(a, b, y);
  case Kind::And:
    return predicateForward<Kind::And>(a, b, y);
  case Kind::Or:
    return predicateForward<Kind::Or>(a, b, y);
  case Kind::Xor:
    return predicateForward<Kind::Xor>(a, b, y);
  }
}
} // namespace

void predicate::forward(Kind kind, TensorView<const float> a,
                        TensorView<const float> b, TensorView<uint8_t> y) {
  predicateDispatch(kind, a, b, y);
}
void predicate::forward(Kind kind, TensorView<const int32_t> a,
                        TensorView<const int32_t> b, TensorView<uint8_t> y) {
  predicateDispatch(kind, a, b, y);
}
void predicate::forward(Kind kind, TensorView<const int64_t> a,
                        TensorView<const int64_t> b, TensorView<uint8_t> y) {
  predicateDispatch(kind, a, b, y);
}
void predicate::forward(Kind kind, TensorView<const uint8_t> a,
                        TensorView<const uint8_t> b, TensorView<uint8_t> y) {
  predicateDispatch(kind, a, b, y);
}

void predicate::logicalNot(TensorView<const uint8_t> x, TensorView<uint8_t> y) {
  assert(x.isContiguous() && y.isContiguous());
  const uint8_t *px = x.data;
  uint8_t *py = y.data;
  parallelRange(x.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      py[i] = px[i] == 0;
  });
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

/// buf = exp(line - max(line)) for a contiguous line; returns 1 / sum.
SOAP_NOINLINE float expLine(const float *x, int64_t len, float *buf) {
  float mx = maxLanes(x, len);
  for (int64_t i = 0; i < len; ++i)
    buf[i] = vexp(x[i] - mx);
  return static_cast<float>(1.0 / sumLanes(buf, len));
}
} // namespace

void softmax::forward(ConstFloatView x, int64_t axis, FloatView y) {
  SoftmaxLines s(x.shape, axis);
  parallelRange(s.lines(), std::max<int64_t>(1, kGrain / s.len),
                [&](int64_t l0, int64_t l1) {
    std::vector<float> buf(s.len), line(s.inner > 1 ? s.len : 0);
    for (int64_t l = l0; l < l1; ++l) {
      int64_t o = s.start(l);
      const float *src = x.data + o;
      if (s.inner > 1) { // gather the strided line
        for (int64_t i = 0; i < s.len; ++i)
          line[i] = src[i * s.inner];
        src = line.data();
      }
      float inv = expLine(src, s.len, buf.data());
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
    std::vector<float> buf(s.len), line(s.inner > 1 ? s.len : 0),
        grad(s.inner > 1 ? s.len : 0);
    for (int64_t l = l0; l < l1; ++l) {
      int64_t o = s.start(l);
      const float *src = x.data + o, *g = dy.data + o;
      if (s.inner > 1) {
        for (int64_t i = 0; i < s.len; ++i) {
          line[i] = src[i * s.inner];
          grad[i] = g[i * s.inner];
        }
        src = line.data();
        g = grad.data();
      }
      float inv = expLine(src, s.len, buf.data());
      for (int64_t i = 0; i < s.len; ++i)
        buf[i] *= inv;
      float dot = static_cast<float>(dotLanes(buf.data(), g, s.len));
      for (int64_t i = 0; i < s.len; ++i)
        dx.data[o + i * s.inner] += buf[i] * (g[i] - dot);
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
/// Calls f(dstOffset, srcOffset, keep) for every element of a shard of shape
/// `s`, keep being the mask bit of its global index.
template <class F>
void forMask(const Shape &s, const int64_t *dstStrides,
             const int64_t *srcStrides, double ratio, int64_t seed,
             int64_t step, const dropout::GlobalIndex &where, F &&f) {
  assert(where.global.rank == s.rank && "GlobalIndex rank != shard rank");
  int64_t gs[kMaxRank];
  contiguousStrides(where.global, gs);
  int64_t base = 0;
  for (int i = 0; i < s.rank; ++i)
    base += where.offsets[i] * gs[i];
  uint64_t st = dropout::stream(seed, step);
  Layout<3> l(s, {dstStrides, srcStrides, gs});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    for (int64_t i = 0; i < len; ++i) {
      uint64_t g = static_cast<uint64_t>(base + off[2] + i * in[2]);
      f(off[0] + i * in[0], off[1] + i * in[1],
        double(dropout::keepUniform(st, g)) >= ratio);
    }
  });
}

/// dst = src * mask * scale (accumulate: dst += ...), over a shard.
void applyMask(ConstFloatView src, FloatView dst, double ratio, int64_t seed,
               int64_t step, const dropout::GlobalIndex &where, bool accumulate) {
  float keepScale = ratio < 1.0 ? static_cast<float>(1.0 / (1.0 - ratio)) : 0.0f;
  forMask(src.shape, dst.strides, src.strides, ratio, seed, step, where,
          [&](int64_t d, int64_t s, bool keep) {
            float v = keep ? src.data[s] * keepScale : 0.0f;
            dst.data[d] = accumulate ? dst.data[d] + v : v;
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

void dropout::mask(TensorView<uint8_t> mask, double ratio, int64_t seed,
                   int64_t step, const GlobalIndex &where) {
  forMask(mask.shape, mask.strides, mask.strides, ratio, seed, step, where,
          [&](int64_t d, int64_t, bool keep) { mask.data[d] = keep; });
}

} // namespace soap::cpu
