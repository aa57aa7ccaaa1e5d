//===- Conv.cpp - soap.conv2d (im2col + GEMM) and soap.pool2d -------------===//

#include "soap/Runtime/Cpu/Conv.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "Internal.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace soap::cpu {
using namespace detail;

namespace {

/// The geometry of one convolution call.
struct ConvGeometry {
  int64_t n, c, h, w;   // input
  int64_t o, kh, kw;    // weight
  int64_t oh, ow;       // output
  int64_t groups, cg, og;
  int64_t k;            // GEMM depth: cg * kh * kw
  int64_t p;            // output pixels per image
  const conv2d::Params *params;

  ConvGeometry(const ConstFloatView &x, const ConstFloatView &wt,
               const conv2d::Params &prm)
      : n(x.dim(0)), c(x.dim(1)), h(x.dim(2)), w(x.dim(3)), o(wt.dim(0)),
        kh(wt.dim(2)), kw(wt.dim(3)), groups(prm.groups), params(&prm) {
    cg = c / groups;
    og = o / groups;
    k = cg * kh * kw;
    oh = conv2d::outputSize(h, prm.padding[0], prm.padding[2], kh,
                            prm.strides[0], prm.dilations[0]);
    ow = conv2d::outputSize(w, prm.padding[1], prm.padding[3], kw,
                            prm.strides[1], prm.dilations[1]);
    p = oh * ow;
  }

  /// An unpadded 1x1 convolution with unit strides is a plain GEMM on x.
  bool direct() const {
    const conv2d::Params &q = *params;
    return kh == 1 && kw == 1 && q.strides[0] == 1 && q.strides[1] == 1 &&
           q.padding[0] == 0 && q.padding[1] == 0 && q.padding[2] == 0 &&
           q.padding[3] == 0;
  }

  /// One input channel per group and few outputs per group (depthwise
  /// convolutions): a GEMM of depth KH * KW and height og is all overhead,
  /// so these run as direct loops. (A single-channel input with many
  /// outputs, an MNIST stem, still gets a GEMM of useful height.)
  bool depthwise() const { return cg == 1 && og < 8; }

  /// Kernel column j: the output columns [lo, hi) whose input column
  /// x * sw + iw0 is inside the image.
  struct Columns {
    int64_t iw0, lo, hi;
  };
  Columns columns(int64_t j) const {
    const conv2d::Params &q = *params;
    int64_t sw = q.strides[1];
    Columns t;
    t.iw0 = -q.padding[1] + j * q.dilations[1];
    t.lo = t.iw0 >= 0 ? 0 : std::min(ow, (-t.iw0 + sw - 1) / sw);
    t.hi = w - t.iw0 <= 0 ? 0 : std::min(ow, (w - t.iw0 + sw - 1) / sw);
    t.hi = std::max(t.hi, t.lo);
    return t;
  }
  /// The input row read by output row y through kernel row i (may be
  /// outside the image: padding).
  int64_t inputRow(int64_t y, int64_t i) const {
    const conv2d::Params &q = *params;
    return y * q.strides[0] - q.padding[0] + i * q.dilations[0];
  }

  /// Calls f(i, j, yy, ih, cols) for every kernel tap and output row whose
  /// tap reads inside the image.
  template <class F> void forTaps(F &&f) const {
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        Columns cols = columns(j);
        if (cols.lo >= cols.hi)
          continue;
        for (int64_t yy = 0; yy < oh; ++yy) {
          int64_t ih = inputRow(yy, i);
          if (ih >= 0 && ih < h)
            f(i, j, yy, ih, cols);
        }
      }
  }

  /// y = sum over the taps (i, j) of w[o, 0, i, j] * x shifted by the tap;
  /// bias excluded.
  void depthwiseForward(const float *x, const float *wt, float *y) const {
    int64_t sw = params->strides[1];
    parallelRange(n * o, std::max<int64_t>(1, kGrain / (kh * kw * p)),
                  [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t img = r / o, oc = r % o;
        const float *src = x + (img * c + oc / og) * h * w;
        float *dst = y + r * p;
        std::memset(dst, 0, p * sizeof(float));
        forTaps([&](int64_t i, int64_t j, int64_t yy, int64_t ih, Columns t) {
          float wv = wt[(oc * kh + i) * kw + j];
          const float *s = src + ih * w + t.iw0;
          float *d = dst + yy * ow;
          if (sw == 1)
            for (int64_t xx = t.lo; xx < t.hi; ++xx)
              d[xx] += wv * s[xx];
          else
            for (int64_t xx = t.lo; xx < t.hi; ++xx)
              d[xx] += wv * s[xx * sw];
        });
      }
    });
  }

  void depthwiseBackward(const float *x, const float *wt, const float *dy,
                         float *dx, float *dw) const {
    int64_t sw = params->strides[1];
    if (dx) // parallel over input planes: each gathers its og outputs
      parallelRange(n * c, std::max<int64_t>(1, kGrain / (og * kh * kw * p)),
                    [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          int64_t img = r / c, ci = r % c;
          float *dst = dx + r * h * w;
          for (int64_t oc = ci * og; oc < (ci + 1) * og; ++oc) {
            const float *g = dy + (img * o + oc) * p;
            forTaps([&](int64_t i, int64_t j, int64_t yy, int64_t ih, Columns t) {
              float wv = wt[(oc * kh + i) * kw + j];
              float *d = dst + ih * w + t.iw0;
              const float *s = g + yy * ow;
              if (sw == 1)
                for (int64_t xx = t.lo; xx < t.hi; ++xx)
                  d[xx] += wv * s[xx];
              else
                for (int64_t xx = t.lo; xx < t.hi; ++xx)
                  d[xx * sw] += wv * s[xx];
            });
          }
        }
      });
    if (dw) // parallel over output channels, images in order
      parallelRange(o, std::max<int64_t>(1, kGrain / (n * kh * kw * p)),
                    [&](int64_t o0, int64_t o1) {
        std::vector<double> acc(kh * kw);
        for (int64_t oc = o0; oc < o1; ++oc) {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t img = 0; img < n; ++img) {
            const float *src = x + (img * c + oc / og) * h * w;
            const float *g = dy + (img * o + oc) * p;
            forTaps([&](int64_t i, int64_t j, int64_t yy, int64_t ih, Columns t) {
              const float *s = src + ih * w + t.iw0;
              const float *gr = g + yy * ow;
              float part = 0.0f;
              for (int64_t xx = t.lo; xx < t.hi; ++xx)
                part += gr[xx] * s[xx * sw];
              acc[i * kw + j] += part;
            });
          }
          for (int64_t t = 0; t < kh * kw; ++t)
            dw[oc * kh * kw + t] += static_cast<float>(acc[t]);
        }
      });
  }

  /// Images per GEMM: enough columns to keep the GEMM efficient when the
  /// output is small (late layers), within a 32 MB column buffer.
  int64_t imagesPerBlock() const {
    int64_t nb = std::max<int64_t>(1, (1024 + p - 1) / p);
    int64_t byBudget = std::max<int64_t>(1, (int64_t(8) << 20) / std::max<int64_t>(k * p, 1));
    return std::min({nb, byBudget, n});
  }

  /// col[r * ld + q] for row r = (ci * kh + i) * kw + j and pixel q of one
  /// image's channel group starting at `img`.
  void im2col(const float *img, float *col, int64_t ld) const {
    const conv2d::Params &q = *params;
    int64_t sh = q.strides[0], sw = q.strides[1], pt = q.padding[0],
            pl = q.padding[1], dh = q.dilations[0], dw = q.dilations[1];
    // Sequential on purpose: a copy costs a few percent of the GEMM that
    // follows, and a parallel region per image costs a barrier each.
    {
      for (int64_t r = 0; r < k; ++r) {
        int64_t ci = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
        const float *src = img + ci * h * w;
        float *dst = col + r * ld;
        for (int64_t y = 0; y < oh; ++y) {
          float *d = dst + y * ow;
          int64_t ih = y * sh - pt + i * dh;
          if (ih < 0 || ih >= h) {
            std::memset(d, 0, ow * sizeof(float));
            continue;
          }
          const float *s = src + ih * w;
          int64_t iw0 = -pl + j * dw;
          if (sw == 1) {
            int64_t lo = std::clamp<int64_t>(-iw0, 0, ow);
            int64_t hi = std::clamp<int64_t>(w - iw0, lo, ow);
            std::memset(d, 0, lo * sizeof(float));
            std::memcpy(d + lo, s + iw0 + lo, (hi - lo) * sizeof(float));
            std::memset(d + hi, 0, (ow - hi) * sizeof(float));
          } else {
            int64_t lo = iw0 >= 0 ? 0 : std::min(ow, (-iw0 + sw - 1) / sw);
            int64_t hi = w - iw0 <= 0 ? 0 : (w - iw0 + sw - 1) / sw;
            hi = std::clamp<int64_t>(hi, lo, ow);
            std::memset(d, 0, lo * sizeof(float));
            for (int64_t x = lo; x < hi; ++x)
              d[x] = s[x * sw + iw0];
            std::memset(d + hi, 0, (ow - hi) * sizeof(float));
          }
        }
      }
    }
  }

  /// The adjoint of im2col: img[...] += col[...] (sequential, like im2col).
  void col2im(const float *col, int64_t ld, float *img) const {
    const conv2d::Params &q = *params;
    int64_t sh = q.strides[0], sw = q.strides[1], pt = q.padding[0],
            pl = q.padding[1], dh = q.dilations[0], dw = q.dilations[1];
    {
      for (int64_t ci = 0; ci < cg; ++ci) {
        float *dst = img + ci * h * w;
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const float *src = col + ((ci * kh + i) * kw + j) * ld;
            int64_t iw0 = -pl + j * dw;
            for (int64_t y = 0; y < oh; ++y) {
              int64_t ih = y * sh - pt + i * dh;
              if (ih < 0 || ih >= h)
                continue;
              float *d = dst + ih * w;
              const float *s = src + y * ow;
              // The output columns whose input column is inside the image.
              int64_t lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
              int64_t hi = w - iw0 <= 0 ? 0 : (w - iw0 + sw - 1) / sw;
              hi = std::min(hi, ow);
              if (sw == 1) {
                float *dd = d + iw0;
                for (int64_t x = lo; x < hi; ++x)
                  dd[x] += s[x];
              } else {
                for (int64_t x = lo; x < hi; ++x)
                  d[x * sw + iw0] += s[x];
              }
            }
          }
      }
    }
  }
};

} // namespace

int64_t conv2d::outputSize(int64_t in, int64_t padBefore, int64_t padAfter,
                           int64_t kernel, int64_t stride, int64_t dilation) {
  return (in + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride + 1;
}

void conv2d::forward(ConstFloatView x, ConstFloatView w, ConstFloatView b,
                     FloatView y, const Params &prm) {
  ConvGeometry g(x, w, prm);
  assert(x.isContiguous() && w.isContiguous() && y.isContiguous());
  assert(y.dim(0) == g.n && y.dim(1) == g.o && y.dim(2) == g.oh &&
         y.dim(3) == g.ow);
  int64_t hw = g.h * g.w;
  if (g.depthwise()) {
    g.depthwiseForward(x.data, w.data, y.data);
  } else if (g.direct()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gi = 0; gi < g.groups; ++gi)
        gemm(false, false, g.og, g.p, g.cg, 1.0f, w.data + gi * g.og * g.k, g.k,
             x.data + (n * g.c + gi * g.cg) * hw, g.p, 0.0f,
             y.data + (n * g.o + gi * g.og) * g.p, g.p);
  } else {
    ScratchFrame frame;
    int64_t nb = g.imagesPerBlock();
    float *col = frame.floats(g.k * nb * g.p);
    float *tmp = nb > 1 ? frame.floats(g.og * nb * g.p) : nullptr;
    for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
      int64_t cnt = std::min(nb, g.n - n0), ld = cnt * g.p;
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        for (int64_t i = 0; i < cnt; ++i)
          g.im2col(x.data + ((n0 + i) * g.c + gi * g.cg) * hw, col + i * g.p, ld);
        const float *wg = w.data + gi * g.og * g.k;
        if (cnt == 1) {
          gemm(false, false, g.og, g.p, g.k, 1.0f, wg, g.k, col, ld, 0.0f,
               y.data + (n0 * g.o + gi * g.og) * g.p, g.p);
          continue;
        }
        gemm(false, false, g.og, ld, g.k, 1.0f, wg, g.k, col, ld, 0.0f, tmp, ld);
        for (int64_t o = 0; o < g.og; ++o)
          for (int64_t i = 0; i < cnt; ++i)
            std::memcpy(y.data + ((n0 + i) * g.o + gi * g.og + o) * g.p,
                        tmp + o * ld + i * g.p, g.p * sizeof(float));
      }
    }
  }
  if (b) {
    parallelRange(g.n * g.o, std::max<int64_t>(1, kGrain / g.p),
                  [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float bias = b.data[r % g.o];
        float *d = y.data + r * g.p;
        for (int64_t q = 0; q < g.p; ++q)
          d[q] += bias;
      }
    });
  }
}

void conv2d::backward(ConstFloatView x, ConstFloatView w, ConstFloatView dy,
                      FloatView dx, FloatView dw, FloatView db,
                      const Params &prm) {
  ConvGeometry g(x, w, prm);
  int64_t hw = g.h * g.w;
  if (db) {
    parallelRange(g.o, std::max<int64_t>(1, kGrain / (g.n * g.p)),
                  [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0.0;
        for (int64_t n = 0; n < g.n; ++n) {
          const float *s = dy.data + (n * g.o + o) * g.p;
          for (int64_t q = 0; q < g.p; ++q)
            acc += s[q];
        }
        db.data[o] += static_cast<float>(acc);
      }
    });
  }
  if (!dx && !dw)
    return;
  if (g.depthwise()) {
    g.depthwiseBackward(x.data, w.data, dy.data, dx ? dx.data : nullptr,
                        dw ? dw.data : nullptr);
    return;
  }
  if (g.direct()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float *dyg = dy.data + (n * g.o + gi * g.og) * g.p;
        if (dw)
          gemm(false, true, g.og, g.cg, g.p, 1.0f, dyg, g.p,
               x.data + (n * g.c + gi * g.cg) * hw, g.p, 1.0f,
               dw.data + gi * g.og * g.k, g.k);
        if (dx)
          gemm(true, false, g.cg, g.p, g.og, 1.0f, w.data + gi * g.og * g.k, g.k,
               dyg, g.p, 1.0f, dx.data + (n * g.c + gi * g.cg) * hw, g.p);
      }
    return;
  }
  ScratchFrame frame;
  int64_t nb = g.imagesPerBlock();
  float *col = frame.floats(g.k * nb * g.p);
  float *tmp = nb > 1 ? frame.floats(g.og * nb * g.p) : nullptr;
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    int64_t cnt = std::min(nb, g.n - n0), ld = cnt * g.p;
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      // The block's output gradient as one [og, cnt * p] matrix.
      const float *dyg = dy.data + (n0 * g.o + gi * g.og) * g.p;
      if (cnt > 1) {
        for (int64_t o = 0; o < g.og; ++o)
          for (int64_t i = 0; i < cnt; ++i)
            std::memcpy(tmp + o * ld + i * g.p,
                        dy.data + ((n0 + i) * g.o + gi * g.og + o) * g.p,
                        g.p * sizeof(float));
        dyg = tmp;
      }
      if (dw) {
        for (int64_t i = 0; i < cnt; ++i)
          g.im2col(x.data + ((n0 + i) * g.c + gi * g.cg) * hw, col + i * g.p, ld);
        gemm(false, true, g.og, g.k, ld, 1.0f, dyg, ld, col, ld, 1.0f,
             dw.data + gi * g.og * g.k, g.k);
      }
      if (dx) {
        gemm(true, false, g.k, ld, g.og, 1.0f, w.data + gi * g.og * g.k, g.k,
             dyg, ld, 0.0f, col, ld);
        for (int64_t i = 0; i < cnt; ++i)
          g.col2im(col + i * g.p, ld, dx.data + ((n0 + i) * g.c + gi * g.cg) * hw);
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// pool2d
//===----------------------------------------------------------------------===//

namespace {
struct PoolGeometry {
  int64_t planes, h, w, oh, ow;
  PoolGeometry(const ConstFloatView &x, const pool2d::Params &p)
      : planes(x.dim(0) * x.dim(1)), h(x.dim(2)), w(x.dim(3)) {
    oh = conv2d::outputSize(h, p.padding[0], p.padding[2], p.kernel[0],
                            p.strides[0], p.dilations[0]);
    ow = conv2d::outputSize(w, p.padding[1], p.padding[3], p.kernel[1],
                            p.strides[1], p.dilations[1]);
  }
};

/// The taps start + i * d (i < k) that lie in [0, size): the first one,
/// one past the last (stepping by d), and their count.
struct Taps {
  int64_t first, end, count;
  Taps(int64_t start, int64_t k, int64_t d, int64_t size) {
    int64_t skip = start < 0 ? (-start + d - 1) / d : 0;
    int64_t last = start >= size ? -1 : std::min(k - 1, (size - 1 - start) / d);
    count = std::max<int64_t>(0, last - skip + 1);
    first = start + skip * d;
    end = first + count * d;
  }
};

/// The offset in its plane of a window's first maximal element (row-major
/// order of the taps): where max pooling routes the gradient.
inline int64_t firstMax(const float *src, int64_t width, const Taps &h,
                        const Taps &w, int64_t dh, int64_t dw) {
  int64_t arg = h.first * width + w.first;
  float best = src[arg];
  for (int64_t i = h.first; i < h.end; i += dh)
    for (int64_t j = w.first; j < w.end; j += dw)
      if (src[i * width + j] > best) {
        best = src[i * width + j];
        arg = i * width + j;
      }
  return arg;
}

/// Calls f(outIndex, h, w, divisor) for every window of a plane, with the
/// window's taps clipped to the input (h, w: Taps).
template <class F>
void forWindows(const PoolGeometry &g, const pool2d::Params &p, F &&f) {
  for (int64_t y = 0; y < g.oh; ++y) {
    Taps h(y * p.strides[0] - p.padding[0], p.kernel[0], p.dilations[0], g.h);
    for (int64_t x = 0; x < g.ow; ++x) {
      Taps w(x * p.strides[1] - p.padding[1], p.kernel[1], p.dilations[1], g.w);
      int64_t div = p.countIncludePad ? p.kernel[0] * p.kernel[1]
                                      : h.count * w.count;
      f(y * g.ow + x, h, w, div);
    }
  }
}
} // namespace

void pool2d::forward(ConstFloatView x, FloatView y, const Params &p) {
  PoolGeometry g(x, p);
  int64_t work = p.kernel[0] * p.kernel[1] * g.oh * g.ow;
  parallelRange(g.planes, std::max<int64_t>(1, kGrain / work),
                [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const float *src = x.data + pl * g.h * g.w;
      float *dst = y.data + pl * g.oh * g.ow;
      const int64_t dh = p.dilations[0], dw = p.dilations[1];
      forWindows(g, p, [&](int64_t out, const Taps &h, const Taps &w,
                           int64_t div) {
        if (p.kind == Kind::Max) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t i = h.first; i < h.end; i += dh)
            for (int64_t j = w.first; j < w.end; j += dw)
              best = std::max(best, src[i * g.w + j]);
          dst[out] = best;
        } else {
          float sum = 0.0f;
          for (int64_t i = h.first; i < h.end; i += dh)
            for (int64_t j = w.first; j < w.end; j += dw)
              sum += src[i * g.w + j];
          dst[out] = sum / static_cast<float>(div);
        }
      });
    }
  });
}

void pool2d::argmax(ConstFloatView x, TensorView<int64_t> y, const Params &p,
                    int64_t channels, int64_t batchOffset,
                    int64_t channelOffset, bool columnMajor) {
  PoolGeometry g(x, p);
  const int64_t c = x.dim(1);
  int64_t work = p.kernel[0] * p.kernel[1] * g.oh * g.ow;
  parallelRange(g.planes, std::max<int64_t>(1, kGrain / work),
                [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const float *src = x.data + pl * g.h * g.w;
      int64_t *dst = y.data + pl * g.oh * g.ow;
      const int64_t plane =
          (batchOffset + pl / c) * channels + channelOffset + pl % c;
      const int64_t dh = p.dilations[0], dw = p.dilations[1];
      forWindows(g, p, [&](int64_t out, const Taps &h, const Taps &w,
                           int64_t) {
        int64_t arg = firstMax(src, g.w, h, w, dh, dw);
        int64_t ai = arg / g.w, aj = arg % g.w;
        dst[out] = plane * g.h * g.w + (columnMajor ? aj * g.h + ai : arg);
      });
    }
  });
}

void pool2d::backward(ConstFloatView x, ConstFloatView dy, FloatView dx,
                      const Params &p) {
  PoolGeometry g(x, p);
  int64_t work = p.kernel[0] * p.kernel[1] * g.oh * g.ow;
  parallelRange(g.planes, std::max<int64_t>(1, kGrain / work),
                [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const float *src = x.data + pl * g.h * g.w;
      const float *grad = dy.data + pl * g.oh * g.ow;
      float *dst = dx.data + pl * g.h * g.w;
      const int64_t dh = p.dilations[0], dw = p.dilations[1];
      forWindows(g, p, [&](int64_t out, const Taps &h, const Taps &w,
                           int64_t div) {
        if (h.count == 0 || w.count == 0)
          return;
        if (p.kind == Kind::Max) {
          dst[firstMax(src, g.w, h, w, dh, dw)] += grad[out];
        } else {
          float v = grad[out] / static_cast<float>(div);
          for (int64_t i = h.first; i < h.end; i += dh)
            for (int64_t j = w.first; j < w.end; j += dw)
              dst[i * g.w + j] += v;
        }
      });
    }
  });
}

} // namespace soap::cpu
