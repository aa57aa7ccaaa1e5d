//===- Layout.cpp - data movement: copies and accumulates over views ------===//

#include "soap/Runtime/Cpu/Layout.h"
#include "Internal.h"

#include <cstring>

namespace soap::cpu {
using namespace detail;

namespace {
template <class T> void copyElements(TensorView<const T> src, TensorView<T> dst) {
  assert(src.shape.numel() == dst.shape.numel());
  Layout<2> l(dst.shape, {dst.strides, src.strides});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    T *d = dst.data + off[0];
    const T *s = src.data + off[1];
    if (in[0] == 1 && in[1] == 1) {
      std::memcpy(d, s, len * sizeof(T));
      return;
    }
    for (int64_t i = 0; i < len; ++i)
      d[i * in[0]] = s[i * in[1]];
  });
}
} // namespace

void copy(ConstFloatView src, FloatView dst) { copyElements(src, dst); }
void copy(TensorView<const uint8_t> src, TensorView<uint8_t> dst) {
  copyElements(src, dst);
}
void copy(TensorView<const int32_t> src, TensorView<int32_t> dst) {
  copyElements(src, dst);
}
void copy(TensorView<const int64_t> src, TensorView<int64_t> dst) {
  copyElements(src, dst);
}

void accumulate(ConstFloatView src, FloatView dst, float alpha) {
  Layout<2> l(dst.shape, {dst.strides, src.strides});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    float *d = dst.data + off[0];
    const float *s = src.data + off[1];
    if (in[0] == 1 && in[1] == 1) {
      for (int64_t i = 0; i < len; ++i)
        d[i] += alpha * s[i];
      return;
    }
    for (int64_t i = 0; i < len; ++i)
      d[i * in[0]] += alpha * s[i * in[1]];
  });
}

void zero(FloatView dst) {
  int64_t none[kMaxRank] = {};
  Layout<2> l(dst.shape, {dst.strides, none});
  l.forRowsParallel([&](const int64_t *off, int64_t len, const int64_t *in) {
    float *d = dst.data + off[0];
    if (in[0] == 1) {
      std::memset(d, 0, len * sizeof(float));
      return;
    }
    for (int64_t i = 0; i < len; ++i)
      d[i * in[0]] = 0.0f;
  });
}

void reshape::forward(ConstFloatView x, FloatView y) {
  assert(x.isContiguous() && y.isContiguous() && x.numel() == y.numel());
  if (x.data != y.data)
    copy(x.reshape(y.shape), y);
}

void reshape::backward(ConstFloatView dy, FloatView dx) {
  if (dx)
    accumulate(dy.reshape(dx.shape), dx);
}

void transpose::forward(ConstFloatView x, IntList perm, FloatView y) {
  copy(x.permute(perm), y);
}

void transpose::backward(ConstFloatView dy, IntList perm, FloatView dx) {
  // dx viewed through perm has dy's shape.
  if (dx)
    accumulate(dy, dx.permute(perm));
}

void concat::forward(const std::vector<ConstFloatView> &xs, int64_t axis,
                     FloatView y) {
  int ax = normAxis(axis, y.rank());
  int64_t at = 0;
  for (const ConstFloatView &x : xs) {
    int64_t n = x.dim(ax);
    copy(x, y.narrow(ax, at, at + n));
    at += n;
  }
}

void concat::backward(ConstFloatView dy, int64_t axis,
                      const std::vector<FloatView> &dxs) {
  int ax = normAxis(axis, dy.rank());
  int64_t at = 0;
  for (const FloatView &dx : dxs) {
    int64_t n = dx.dim(ax);
    if (dx)
      accumulate(dy.narrow(ax, at, at + n), dx);
    at += n;
  }
}

void split::forward(ConstFloatView x, int64_t axis,
                    const std::vector<FloatView> &ys) {
  int ax = normAxis(axis, x.rank());
  int64_t at = 0;
  for (const FloatView &y : ys) {
    int64_t n = y.dim(ax);
    copy(x.narrow(ax, at, at + n), y);
    at += n;
  }
}

void split::backward(const std::vector<ConstFloatView> &dys, int64_t axis,
                     FloatView dx) {
  if (!dx)
    return;
  int ax = normAxis(axis, dx.rank());
  int64_t at = 0;
  for (const ConstFloatView &dy : dys) {
    int64_t n = dy.dim(ax);
    if (dy)
      accumulate(dy, dx.narrow(ax, at, at + n));
    at += n;
  }
}

void slice::forward(ConstFloatView x, IntList starts, IntList ends,
                    IntList steps, FloatView y) {
  copy(x.slice(starts, ends, steps), y);
}

void slice::backward(ConstFloatView dy, IntList starts, IntList ends,
                     IntList steps, FloatView dx) {
  if (dx)
    accumulate(dy, dx.slice(starts, ends, steps));
}

} // namespace soap::cpu
