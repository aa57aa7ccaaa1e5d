//===- Kernels.cu - Soap's own CUDA kernels -------------------------------===//
//
// Grid-stride loops for elementwise work; one warp per line for softmax,
// layer norm and cross-entropy; one thread per output element for every
// reduction that must be deterministic (bias gradients, broadcast
// gradients, embedding gradients): each sums its terms in a fixed order, in
// double, like the CPU kernels.
//
//===----------------------------------------------------------------------===//
#include "Kernels.h"

#include <cuda_bf16.h>

namespace soap::cuda::k {
namespace {

constexpr unsigned kBlock = 256;

unsigned gridFor(int64_t n) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1)
                                              : 65535);
}
/// Blocks of kBlock threads with one warp per line.
unsigned warpGridFor(int64_t lines) {
  int64_t warps = kBlock / 32;
  return gridFor((lines + warps - 1) / warps * kBlock);
}

#define SOAP_GRID_LOOP(i, n)                                                   \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n);   \
       i += int64_t(blockDim.x) * gridDim.x)

/// The global warp index and the lane.
__device__ inline int64_t warpId() {
  return (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
}
__device__ inline int64_t warpCount() {
  return int64_t(gridDim.x) * blockDim.x / 32;
}
__device__ inline int lane() { return threadIdx.x & 31; }

__device__ inline double warpSum(double v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// A warp's max and sum of exp(x - max) over x[l * stride], l < len (every
/// lane gets both).
__device__ inline void lineMaxSum(const float *x, int64_t len, int64_t stride,
                                  float &m, double &sum) {
  m = -INFINITY;
  for (int64_t l = lane(); l < len; l += 32)
    m = fmaxf(m, x[l * stride]);
  m = warpMax(m);
  sum = 0;
  for (int64_t l = lane(); l < len; l += 32)
    sum += exp(double(x[l * stride]) - m);
  sum = warpSum(sum);
}

template <class T> __global__ void fillKernel(T *p, int64_t n, T v) {
  SOAP_GRID_LOOP(i, n) p[i] = v;
}

__global__ void copyKernel(const float *x, float *y, int64_t n, bool acc) {
  SOAP_GRID_LOOP(i, n) y[i] = acc ? y[i] + x[i] : x[i];
}

__global__ void bf16Kernel(const float *x, __nv_bfloat16 *y, int64_t n) {
  SOAP_GRID_LOOP(i, n) y[i] = __float2bfloat16_rn(x[i]);
}

__device__ inline float unaryValue(Unary k, float x) {
  switch (k) {
  case Unary::Relu:
    return x > 0.f ? x : 0.f;
  case Unary::Gelu:
    return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
  case Unary::Sigmoid:
    return 1.f / (1.f + expf(-x));
  case Unary::Tanh:
    return tanhf(x);
  case Unary::Exp:
    return expf(x);
  case Unary::Log:
    return logf(x);
  case Unary::Neg:
    return -x;
  case Unary::Sqrt:
    return sqrtf(x);
  case Unary::Erf:
    return erff(x);
  }
  return 0.f;
}

__device__ inline float unaryDerivative(Unary k, float x) {
  switch (k) {
  case Unary::Relu:
    return x > 0.f ? 1.f : 0.f;
  case Unary::Gelu: {
    float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
    return cdf + x * pdf;
  }
  case Unary::Sigmoid: {
    float s = 1.f / (1.f + expf(-x));
    return s * (1.f - s);
  }
  case Unary::Tanh: {
    float t = tanhf(x);
    return 1.f - t * t;
  }
  case Unary::Exp:
    return expf(x);
  case Unary::Log:
    return 1.f / x;
  case Unary::Neg:
    return -1.f;
  case Unary::Sqrt:
    return 0.5f / sqrtf(x);
  case Unary::Erf:
    return 1.12837916709551257f * expf(-x * x);
  }
  return 0.f;
}

__global__ void unaryForwardKernel(Unary k, const float *x, float *y,
                                   int64_t n) {
  SOAP_GRID_LOOP(i, n) y[i] = unaryValue(k, x[i]);
}
__global__ void unaryBackwardKernel(Unary k, const float *x, const float *dy,
                                    float *dx, int64_t n) {
  SOAP_GRID_LOOP(i, n) dx[i] += unaryDerivative(k, x[i]) * dy[i];
}

/// An operand's strides along y's axes (0 where it is broadcast).
struct Bcast {
  int rank = 0;
  int64_t ydims[kMaxRank] = {};
  int64_t a[kMaxRank] = {};
  int64_t b[kMaxRank] = {};
};

Bcast makeBcast(Dims as, Dims bs, Dims ys) {
  Bcast c;
  c.rank = ys.rank;
  for (int i = 0; i < ys.rank; ++i)
    c.ydims[i] = ys.d[i];
  auto strides = [&](Dims s, int64_t *out) {
    int64_t stride = 1;
    for (int i = ys.rank - 1; i >= 0; --i) {
      int j = i - (ys.rank - s.rank);
      int64_t extent = j >= 0 ? s.d[j] : 1;
      out[i] = extent == 1 ? 0 : stride;
      stride *= extent;
    }
  };
  strides(as, c.a);
  strides(bs, c.b);
  return c;
}

__device__ inline float binaryValue(Binary k, float a, float b) {
  switch (k) {
  case Binary::Add:
    return a + b;
  case Binary::Sub:
    return a - b;
  case Binary::Mul:
    return a * b;
  case Binary::Div:
    return a / b;
  }
  return 0.f;
}

__global__ void binaryForwardKernel(Binary k, const float *a, const float *b,
                                    float *y, Bcast c, int64_t n) {
  SOAP_GRID_LOOP(i, n) {
    int64_t rest = i, ai = 0, bi = 0;
    for (int d = c.rank - 1; d >= 0; --d) {
      int64_t x = rest % c.ydims[d];
      rest /= c.ydims[d];
      ai += x * c.a[d];
      bi += x * c.b[d];
    }
    y[i] = binaryValue(k, a[ai], b[bi]);
  }
}

/// One thread per element of the operand (`which` 0: a, 1: b): sums the
/// contributions of the y elements it was broadcast to, in row-major order.
__global__ void binaryBackwardKernel(Binary k, const float *a, const float *b,
                                     const float *dy, float *dst, Bcast c,
                                     int which, int64_t count) {
  const int64_t *mine = which == 0 ? c.a : c.b;
  SOAP_GRID_LOOP(e, count) {
    // The operand's coordinates along y's non-broadcast axes (row-major in
    // the operand), then every combination of the broadcast axes.
    int64_t coord[kMaxRank];
    int64_t rest = e;
    int64_t bcastCount = 1;
    for (int d = c.rank - 1; d >= 0; --d) {
      if (mine[d] != 0) {
        coord[d] = rest % c.ydims[d];
        rest /= c.ydims[d];
      } else {
        coord[d] = 0;
        bcastCount *= c.ydims[d];
      }
    }
    double sum = 0;
    for (int64_t r = 0; r < bcastCount; ++r) {
      int64_t rr = r, yi = 0, ai = 0, bi = 0, ystride = 1;
      int64_t full[kMaxRank];
      for (int d = c.rank - 1; d >= 0; --d) {
        if (mine[d] == 0) {
          full[d] = rr % c.ydims[d];
          rr /= c.ydims[d];
        } else {
          full[d] = coord[d];
        }
      }
      for (int d = c.rank - 1; d >= 0; --d) {
        yi += full[d] * ystride;
        ystride *= c.ydims[d];
        ai += full[d] * c.a[d];
        bi += full[d] * c.b[d];
      }
      float g = dy[yi], av = a ? a[ai] : 0.f, bv = b ? b[bi] : 0.f;
      float t;
      switch (k) {
      case Binary::Add:
        t = g;
        break;
      case Binary::Sub:
        t = which == 0 ? g : -g;
        break;
      case Binary::Mul:
        t = which == 0 ? g * bv : g * av;
        break;
      default: // Div
        t = which == 0 ? g / bv : -g * av / (bv * bv);
        break;
      }
      sum += t;
    }
    dst[e] += static_cast<float>(sum);
  }
}

__global__ void broadcastRowsKernel(const float *bias, float *y, int64_t rows,
                                    int64_t n) {
  SOAP_GRID_LOOP(i, rows * n) y[i] = bias[i % n];
}

__global__ void columnSumsKernel(const float *dy, float *db, int64_t rows,
                                 int64_t n) {
  SOAP_GRID_LOOP(j, n) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r)
      sum += dy[r * n + j];
    db[j] += static_cast<float>(sum);
  }
}

// Softmax: one warp per line (outer, inner), elements at stride `inner`.
__global__ void softmaxForwardKernel(const float *x, float *y, int64_t outer,
                                     int64_t len, int64_t inner) {
  for (int64_t w = warpId(); w < outer * inner; w += warpCount()) {
    int64_t base = (w / inner) * len * inner + w % inner;
    float m;
    double sum;
    lineMaxSum(x + base, len, inner, m, sum);
    for (int64_t l = lane(); l < len; l += 32)
      y[base + l * inner] =
          static_cast<float>(exp(double(x[base + l * inner]) - m) / sum);
  }
}

__global__ void softmaxBackwardKernel(const float *x, const float *dy,
                                      float *dx, int64_t outer, int64_t len,
                                      int64_t inner) {
  for (int64_t w = warpId(); w < outer * inner; w += warpCount()) {
    int64_t base = (w / inner) * len * inner + w % inner;
    float m;
    double sum, dot = 0;
    lineMaxSum(x + base, len, inner, m, sum);
    for (int64_t l = lane(); l < len; l += 32) {
      int64_t at = base + l * inner;
      dot += double(dy[at]) * (exp(double(x[at]) - m) / sum);
    }
    dot = warpSum(dot);
    for (int64_t l = lane(); l < len; l += 32) {
      int64_t at = base + l * inner;
      double yv = exp(double(x[at]) - m) / sum;
      dx[at] += static_cast<float>(yv * (double(dy[at]) - dot));
    }
  }
}

__global__ void maskedSoftmaxRowsKernel(float *z, int64_t rows, int64_t s,
                                        int64_t t, bool causal, int64_t off) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    float *row = z + r * t;
    int64_t limit = t;
    if (causal) {
      limit = off + r % s + 1;
      limit = limit < 0 ? 0 : (limit > t ? t : limit);
    }
    float m = -INFINITY;
    double sum = 0;
    if (limit > 0)
      lineMaxSum(row, limit, 1, m, sum);
    for (int64_t j = lane(); j < t; j += 32)
      row[j] = j < limit ? static_cast<float>(exp(double(row[j]) - m) / sum)
                         : 0.0f;
  }
}

__global__ void softmaxRowsBackwardKernel(const float *p, float *d,
                                          int64_t rows, int64_t t) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    const float *pr = p + r * t;
    float *dr = d + r * t;
    double dot = 0;
    for (int64_t j = lane(); j < t; j += 32)
      dot += double(dr[j]) * pr[j];
    dot = warpSum(dot);
    for (int64_t j = lane(); j < t; j += 32)
      dr[j] = static_cast<float>(pr[j] * (double(dr[j]) - dot));
  }
}

// Layer norm: one warp per row; two passes in double.
__global__ void layerNormStatsKernel(const float *x, float *stats, int64_t rows,
                                     int64_t cols, double eps) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    const float *row = x + r * cols;
    double sum = 0;
    for (int64_t j = lane(); j < cols; j += 32)
      sum += row[j];
    double mean = warpSum(sum) / double(cols);
    double sq = 0;
    for (int64_t j = lane(); j < cols; j += 32) {
      double d = row[j] - mean;
      sq += d * d;
    }
    double var = warpSum(sq) / double(cols);
    if (lane() == 0) {
      stats[2 * r] = static_cast<float>(mean);
      stats[2 * r + 1] = static_cast<float>(1.0 / sqrt(var + eps));
    }
  }
}

__global__ void layerNormApplyKernel(const float *x, const float *scale,
                                     const float *bias, float *y,
                                     const float *stats, int64_t rows,
                                     int64_t cols) {
  SOAP_GRID_LOOP(i, rows * cols) {
    int64_t r = i / cols, j = i % cols;
    float v = (x[i] - stats[2 * r]) * stats[2 * r + 1];
    if (scale)
      v *= scale[j];
    if (bias)
      v += bias[j];
    y[i] = v;
  }
}

__global__ void layerNormInputGradKernel(const float *x, const float *scale,
                                         const float *dy, float *dx,
                                         const float *stats, int64_t rows,
                                         int64_t cols) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    const float *xr = x + r * cols, *dyr = dy + r * cols;
    float mean = stats[2 * r], rstd = stats[2 * r + 1];
    double sg = 0, sgx = 0;
    for (int64_t j = lane(); j < cols; j += 32) {
      double g = double(dyr[j]) * (scale ? scale[j] : 1.f);
      double xhat = double(xr[j] - mean) * rstd;
      sg += g;
      sgx += g * xhat;
    }
    sg = warpSum(sg) / double(cols);
    sgx = warpSum(sgx) / double(cols);
    for (int64_t j = lane(); j < cols; j += 32) {
      double g = double(dyr[j]) * (scale ? scale[j] : 1.f);
      double xhat = double(xr[j] - mean) * rstd;
      dx[r * cols + j] += static_cast<float>(rstd * (g - sg - xhat * sgx));
    }
  }
}

__global__ void layerNormParamGradKernel(const float *x, const float *dy,
                                         float *dscale, float *dbias,
                                         const float *stats, int64_t rows,
                                         int64_t cols) {
  SOAP_GRID_LOOP(j, cols) {
    double ss = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double g = dy[r * cols + j];
      ss += g * (double(x[r * cols + j] - stats[2 * r]) * stats[2 * r + 1]);
      sb += g;
    }
    if (dscale)
      dscale[j] += static_cast<float>(ss);
    if (dbias)
      dbias[j] += static_cast<float>(sb);
  }
}

__device__ inline int64_t indexAt(const void *p, bool is64, int64_t i) {
  return is64 ? static_cast<const int64_t *>(p)[i]
              : static_cast<const int32_t *>(p)[i];
}

__global__ void embeddingForwardKernel(const void *ids, bool ids64, int64_t n,
                                       const float *table, int64_t vocab,
                                       int64_t dim, int64_t off, float *y) {
  SOAP_GRID_LOOP(i, n * dim) {
    int64_t row = indexAt(ids, ids64, i / dim) - off;
    y[i] = row >= 0 && row < vocab ? table[row * dim + i % dim] : 0.f;
  }
}

/// One thread per (table row, column)... would need the token list per row;
/// one thread per column visits the tokens in order instead (deterministic).
__global__ void embeddingBackwardKernel(const void *ids, bool ids64, int64_t n,
                                        const float *dy, int64_t vocab,
                                        int64_t dim, int64_t off,
                                        float *dtable) {
  SOAP_GRID_LOOP(j, dim) {
    for (int64_t t = 0; t < n; ++t) {
      int64_t row = indexAt(ids, ids64, t) - off;
      if (row >= 0 && row < vocab)
        dtable[row * dim + j] += dy[t * dim + j];
    }
  }
}

/// Per row: logsumexp(z) - z[label] (0 outside [0, C)), in double.
__global__ void crossEntropyRowsKernel(const float *logits, const void *labels,
                                       bool labels64, int64_t rows,
                                       int64_t classes, double *nll) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    const float *z = logits + r * classes;
    float m;
    double sum;
    lineMaxSum(z, classes, 1, m, sum);
    if (lane() == 0) {
      int64_t label = indexAt(labels, labels64, r);
      // The CPU rounds each position's loss to f32 before summing.
      nll[r] = label < 0 || label >= classes
                   ? 0.0
                   : double(static_cast<float>(m + log(sum) - double(z[label])));
    }
  }
}

/// out[0] = sum of v[0..n) / divisor (one block; fixed order per thread,
/// then a fixed tree).
/// The sum of every thread's `s` over one block of kBlock threads, in a
/// fixed tree (valid in thread 0).
__device__ double blockSum(double s) {
  __shared__ double part[kBlock];
  part[threadIdx.x] = s;
  __syncthreads();
  for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w)
      part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  return part[0];
}

__global__ void sumKernel(const double *v, int64_t n, double divisor,
                          float *out) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    s += v[i];
  s = blockSum(s);
  if (threadIdx.x == 0)
    out[0] = static_cast<float>(s / divisor);
}

__global__ void crossEntropyBackwardKernel(const float *logits,
                                           const void *labels, bool labels64,
                                           int64_t rows, int64_t classes,
                                           double divisor, const float *dLoss,
                                           float *dx) {
  for (int64_t r = warpId(); r < rows; r += warpCount()) {
    int64_t label = indexAt(labels, labels64, r);
    if (label < 0 || label >= classes)
      continue;
    const float *z = logits + r * classes;
    float m;
    double sum;
    lineMaxSum(z, classes, 1, m, sum);
    float k = static_cast<float>(double(dLoss[0]) / divisor);
    for (int64_t j = lane(); j < classes; j += 32) {
      float p = static_cast<float>(exp(double(z[j]) - m) / sum);
      dx[r * classes + j] += k * p - (j == label ? k : 0.f);
    }
  }
}

__global__ void squaredDiffKernel(const float *p, const float *t, int64_t n,
                                  double *out) {
  // One block: each thread a fixed stride, then a fixed tree.
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    double d = double(p[i]) - t[i];
    s += d * d;
  }
  s = blockSum(s);
  if (threadIdx.x == 0)
    out[0] = s;
}

__global__ void mseBackwardKernel(const float *p, const float *t, int64_t n,
                                  double divisor, const float *dLoss, float *dp,
                                  float *dt) {
  float scale = static_cast<float>(2.0 * double(dLoss[0]) / divisor);
  SOAP_GRID_LOOP(i, n) {
    float g = scale * (p[i] - t[i]);
    if (dp)
      dp[i] += g;
    if (dt)
      dt[i] -= g;
  }
}

struct Perm {
  int rank = 0;
  int64_t ydims[kMaxRank] = {};
  int64_t xstride[kMaxRank] = {}; ///< x's stride along y's axis i
};

__global__ void permuteKernel(const float *x, float *y, Perm p, int64_t n,
                              bool acc) {
  SOAP_GRID_LOOP(i, n) {
    int64_t rest = i, xi = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      xi += (rest % p.ydims[d]) * p.xstride[d];
      rest /= p.ydims[d];
    }
    y[i] = acc ? y[i] + x[xi] : x[xi];
  }
}

__global__ void boxCopyKernel(const float *src, float *dst, Box b, int64_t n,
                              bool acc) {
  SOAP_GRID_LOOP(i, n) {
    int64_t rest = i, si = b.srcBase, di = b.dstBase;
    for (int d = b.rank - 1; d >= 0; --d) {
      int64_t c = rest % b.shape[d];
      rest /= b.shape[d];
      si += c * b.srcStride[d];
      di += c * b.dstStride[d];
    }
    dst[di] = acc ? dst[di] + src[si] : src[si];
  }
}

/// The offset of row-major index i of `shape` under `stride`.
__device__ inline int64_t offsetOf(int rank, const int64_t *shape,
                                   const int64_t *stride, int64_t i) {
  int64_t at = 0;
  for (int d = rank - 1; d >= 0; --d) {
    at += (i % shape[d]) * stride[d];
    i /= shape[d];
  }
  return at;
}
/// x's offset of output o's group start, and of element g of a group.
__device__ inline int64_t keptOffset(const Reduction &r, int64_t o) {
  return offsetOf(r.kept, r.keptShape, r.keptStride, o);
}
__device__ inline int64_t groupOffset(const Reduction &r, int64_t g) {
  return offsetOf(r.reduced, r.redShape, r.redStride, g);
}
/// The group element (in row-major order) holding the first maximum.
__device__ inline int64_t firstMax(const float *x, const Reduction &r,
                                   int64_t base) {
  int64_t best = 0;
  float m = x[base];
  for (int64_t g = 1; g < r.group; ++g) {
    float v = x[base + groupOffset(r, g)];
    if (v > m) {
      m = v;
      best = g;
    }
  }
  return best;
}

__global__ void reduceForwardKernel(Reduce kind, const float *x, float *y,
                                    Reduction r) {
  SOAP_GRID_LOOP(o, r.outputs) {
    int64_t base = keptOffset(r, o);
    if (kind == Reduce::Max) {
      y[o] = r.group > 0 ? x[base + groupOffset(r, firstMax(x, r, base))]
                         : -INFINITY;
      continue;
    }
    double sum = 0;
    for (int64_t g = 0; g < r.group; ++g)
      sum += x[base + groupOffset(r, g)];
    y[o] = static_cast<float>(kind == Reduce::Mean ? sum * (1.0 / r.divisor)
                                                   : sum);
  }
}

/// One thread per output: its gradient goes to its group's elements (no
/// two outputs share an element).
__global__ void reduceBackwardKernel(Reduce kind, const float *x,
                                     const float *dy, float *dx, Reduction r) {
  SOAP_GRID_LOOP(o, r.outputs) {
    int64_t base = keptOffset(r, o);
    if (kind == Reduce::Max) {
      if (r.group > 0)
        dx[base + groupOffset(r, firstMax(x, r, base))] += dy[o];
      continue;
    }
    float g = kind == Reduce::Mean
                  ? dy[o] * static_cast<float>(1.0 / r.divisor)
                  : dy[o];
    for (int64_t e = 0; e < r.group; ++e)
      dx[base + groupOffset(r, e)] += g;
  }
}

/// The taps start + i * d (i < k) inside [0, size) (soap::cpu's Taps).
struct Taps {
  int64_t first, end, count;
  __device__ Taps(int64_t start, int64_t k, int64_t d, int64_t size) {
    int64_t skip = start < 0 ? (-start + d - 1) / d : 0;
    int64_t last = start >= size ? -1 : min(k - 1, (size - 1 - start) / d);
    count = max(int64_t(0), last - skip + 1);
    first = start + skip * d;
    end = first + count * d;
  }
};

__global__ void pool2dForwardKernel(bool isMax, const float *x, float *y,
                                    int64_t planes, Window g, bool inclPad) {
  SOAP_GRID_LOOP(i, planes * g.oh * g.ow) {
    int64_t pl = i / (g.oh * g.ow), o = i % (g.oh * g.ow);
    int64_t oy = o / g.ow, ox = o % g.ow;
    Taps th(oy * g.sh - g.padTop, g.kh, g.dh, g.h);
    Taps tw(ox * g.sw - g.padLeft, g.kw, g.dw, g.w);
    const float *src = x + pl * g.h * g.w;
    if (isMax) {
      float best = -INFINITY;
      for (int64_t a = th.first; a < th.end; a += g.dh)
        for (int64_t b = tw.first; b < tw.end; b += g.dw)
          best = fmaxf(best, src[a * g.w + b]);
      y[i] = best;
    } else {
      float sum = 0.0f;
      for (int64_t a = th.first; a < th.end; a += g.dh)
        for (int64_t b = tw.first; b < tw.end; b += g.dw)
          sum += src[a * g.w + b];
      int64_t div = inclPad ? g.kh * g.kw : th.count * tw.count;
      y[i] = sum / static_cast<float>(div);
    }
  }
}

__global__ void pool2dBackwardKernel(bool isMax, const float *x,
                                     const float *dy, float *dx,
                                     int64_t planes, Window g, bool inclPad) {
  SOAP_GRID_LOOP(pl, planes) {
    const float *src = x + pl * g.h * g.w;
    const float *grad = dy + pl * g.oh * g.ow;
    float *dst = dx + pl * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        Taps th(oy * g.sh - g.padTop, g.kh, g.dh, g.h);
        Taps tw(ox * g.sw - g.padLeft, g.kw, g.dw, g.w);
        if (th.count == 0 || tw.count == 0)
          continue;
        float gv = grad[oy * g.ow + ox];
        if (isMax) {
          int64_t arg = th.first * g.w + tw.first;
          float best = src[arg];
          for (int64_t a = th.first; a < th.end; a += g.dh)
            for (int64_t b = tw.first; b < tw.end; b += g.dw)
              if (src[a * g.w + b] > best) {
                best = src[a * g.w + b];
                arg = a * g.w + b;
              }
          dst[arg] += gv;
        } else {
          int64_t div = inclPad ? g.kh * g.kw : th.count * tw.count;
          float v = gv / static_cast<float>(div);
          for (int64_t a = th.first; a < th.end; a += g.dh)
            for (int64_t b = tw.first; b < tw.end; b += g.dw)
              dst[a * g.w + b] += v;
        }
      }
  }
}

__global__ void im2colKernel(const float *x, float *cols, int64_t n,
                             int64_t cin, int64_t cg, int64_t group, Window g) {
  const int64_t rows = cg * g.kh * g.kw, plane = g.oh * g.ow;
  SOAP_GRID_LOOP(i, n * rows * plane) {
    int64_t img = i / (rows * plane), r = (i / plane) % rows, o = i % plane;
    int64_t c = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
    int64_t yy = (o / g.ow) * g.sh - g.padTop + ki * g.dh;
    int64_t xx = (o % g.ow) * g.sw - g.padLeft + kj * g.dw;
    cols[i] = yy >= 0 && yy < g.h && xx >= 0 && xx < g.w
                  ? x[((img * cin + group * cg + c) * g.h + yy) * g.w + xx]
                  : 0.0f;
  }
}

__global__ void col2imKernel(const float *cols, float *dx, int64_t n,
                             int64_t cin, int64_t cg, int64_t group, Window g) {
  const int64_t rows = cg * g.kh * g.kw, plane = g.oh * g.ow;
  SOAP_GRID_LOOP(i, n * cg * g.h * g.w) {
    int64_t img = i / (cg * g.h * g.w), c = (i / (g.h * g.w)) % cg;
    int64_t yy = (i / g.w) % g.h, xx = i % g.w;
    float sum = 0.0f;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      int64_t ty = yy + g.padTop - ki * g.dh;
      if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh)
        continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        int64_t tx = xx + g.padLeft - kj * g.dw;
        if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow)
          continue;
        sum += cols[(img * rows + (c * g.kh + ki) * g.kw + kj) * plane +
                    (ty / g.sh) * g.ow + tx / g.sw];
      }
    }
    dx[((img * cin + group * cg + c) * g.h + yy) * g.w + xx] += sum;
  }
}

__global__ void channelBroadcastKernel(const float *bias, float *y, int64_t n,
                                       int64_t ch, int64_t plane) {
  SOAP_GRID_LOOP(i, n * ch * plane) y[i] = bias[(i / plane) % ch];
}

__global__ void channelSumsKernel(const float *dy, float *db, int64_t n,
                                  int64_t ch, int64_t plane) {
  SOAP_GRID_LOOP(c, ch) {
    double sum = 0;
    for (int64_t img = 0; img < n; ++img)
      for (int64_t p = 0; p < plane; ++p)
        sum += dy[(img * ch + c) * plane + p];
    db[c] += static_cast<float>(sum);
  }
}

/// One warp per channel: each lane a fixed stride of the channel's n *
/// plane elements, then the warp's fixed tree.
__global__ void bnLocalSumsKernel(const float *x, double *sum, double *sumSq,
                                  int64_t n, int64_t ch, int64_t plane) {
  for (int64_t c = warpId(); c < ch; c += warpCount()) {
    double a = 0, b = 0;
    for (int64_t e = lane(); e < n * plane; e += 32) {
      double v = x[((e / plane) * ch + c) * plane + e % plane];
      a += v;
      b += v * v;
    }
    a = warpSum(a);
    b = warpSum(b);
    if (lane() == 0) {
      sum[c] = a;
      sumSq[c] = b;
    }
  }
}

__global__ void bnFinalizeKernel(const double *sum, const double *sumSq,
                                 int64_t count, int64_t ch, double eps,
                                 float *mean, float *var, float *invStd,
                                 double momentum, float *runMean,
                                 float *runVar) {
  SOAP_GRID_LOOP(c, ch) {
    double m = sum[c] / double(count);
    double v = fmax(0.0, sumSq[c] / double(count) - m * m);
    float mf = static_cast<float>(m), vf = static_cast<float>(v);
    if (mean)
      mean[c] = mf;
    if (var)
      var[c] = vf;
    if (invStd)
      invStd[c] = static_cast<float>(1.0 / sqrt(v + eps));
    if (runMean && runVar) {
      double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
      runMean[c] = static_cast<float>((1.0 - momentum) * runMean[c] +
                                      momentum * mf);
      runVar[c] = static_cast<float>((1.0 - momentum) * runVar[c] +
                                     momentum * vf * unbias);
    }
  }
}

__global__ void bnNormalizeKernel(const float *x, const float *mean,
                                  const float *invStd, const float *scale,
                                  const float *bias, float *y, int64_t n,
                                  int64_t ch, int64_t plane) {
  SOAP_GRID_LOOP(i, n * ch * plane) {
    int64_t c = (i / plane) % ch;
    float a = invStd[c] * scale[c];
    float b = bias[c] - mean[c] * a;
    y[i] = x[i] * a + b;
  }
}

__global__ void bnBackwardSumsKernel(const float *x, const float *dy,
                                     const float *mean, const float *invStd,
                                     double *sumDy, double *sumDyXhat,
                                     int64_t n, int64_t ch, int64_t plane) {
  for (int64_t c = warpId(); c < ch; c += warpCount()) {
    double a = 0, b = 0, m = mean[c];
    for (int64_t e = lane(); e < n * plane; e += 32) {
      int64_t at = ((e / plane) * ch + c) * plane + e % plane;
      a += dy[at];
      b += double(dy[at]) * (double(x[at]) - m);
    }
    a = warpSum(a);
    b = warpSum(b);
    if (lane() == 0) {
      sumDy[c] = a;
      sumDyXhat[c] = b * invStd[c];
    }
  }
}

__global__ void bnBackwardParamsKernel(const double *sumDy,
                                       const double *sumDyXhat, int64_t ch,
                                       float *dscale, float *dbias) {
  SOAP_GRID_LOOP(c, ch) {
    if (dscale)
      dscale[c] += static_cast<float>(sumDyXhat[c]);
    if (dbias)
      dbias[c] += static_cast<float>(sumDy[c]);
  }
}

__global__ void bnBackwardInputKernel(const float *x, const float *dy,
                                      const float *mean, const float *invStd,
                                      const float *scale, const double *sumDy,
                                      const double *sumDyXhat, int64_t count,
                                      float *dx, int64_t n, int64_t ch,
                                      int64_t plane) {
  SOAP_GRID_LOOP(i, n * ch * plane) {
    int64_t c = (i / plane) % ch;
    float is = invStd[c], m = mean[c];
    float k = scale[c] * is;
    float meanDy = static_cast<float>(sumDy[c] / double(count));
    float meanDyXhat = static_cast<float>(sumDyXhat[c] / double(count));
    float xhat = (x[i] - m) * is;
    dx[i] += k * (dy[i] - meanDy - xhat * meanDyXhat);
  }
}

__device__ inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Place {
  int rank = 0;
  int64_t shard[kMaxRank] = {};
  int64_t gstride[kMaxRank] = {};
  int64_t base = 0;
};

__global__ void dropoutKernel(const float *src, float *dst, Place pl,
                              uint64_t stream, double ratio, float keepScale,
                              int64_t n, bool acc) {
  SOAP_GRID_LOOP(i, n) {
    int64_t rest = i, g = pl.base;
    for (int d = pl.rank - 1; d >= 0; --d) {
      g += (rest % pl.shard[d]) * pl.gstride[d];
      rest /= pl.shard[d];
    }
    uint64_t bits =
        mix64(stream + (static_cast<uint64_t>(g) + 1) * 0x9E3779B97F4A7C15ull);
    float u = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
    bool keep = double(u) >= ratio;
    float v = keep ? src[i] * keepScale : 0.0f;
    dst[i] = acc ? dst[i] + v : v;
  }
}

__global__ void sgdKernel(float *p, const float *grad, float *m, int64_t n,
                          float lr, float wd, float mom, float damp,
                          bool nesterov, bool first) {
  SOAP_GRID_LOOP(i, n) {
    float g = grad[i];
    if (wd != 0.0f)
      g += wd * p[i];
    if (m) {
      float buf = first ? g : mom * m[i] + damp * g;
      m[i] = buf;
      g = nesterov ? g + mom * buf : buf;
    }
    p[i] -= lr * g;
  }
}

__global__ void adamKernel(float *p, const float *grad, float *m, float *v,
                           int64_t n, float stepSize, float bc2Sqrt, float b2,
                           float oneMinusB1, float oneMinusB2, float eps,
                           float wd, bool weightDecay, bool decoupled,
                           float decay) {
  SOAP_GRID_LOOP(i, n) {
    float g = grad[i];
    if (weightDecay) {
      if (decoupled)
        p[i] *= decay;
      else
        g += wd * p[i];
    }
    float mi = m[i] + oneMinusB1 * (g - m[i]);
    float vi = b2 * v[i] + oneMinusB2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2Sqrt + eps;
    p[i] -= stepSize * mi / denom;
  }
}

} // namespace

cudaError_t fill(float *p, int64_t n, float value, cudaStream_t s) {
  fillKernel<<<gridFor(n), kBlock, 0, s>>>(p, n, value);
  return cudaGetLastError();
}
cudaError_t fillF64(double *p, int64_t n, double value, cudaStream_t s) {
  fillKernel<<<gridFor(n), kBlock, 0, s>>>(p, n, value);
  return cudaGetLastError();
}
cudaError_t fillI64(int64_t *p, int64_t n, int64_t value, cudaStream_t s) {
  fillKernel<<<gridFor(n), kBlock, 0, s>>>(p, n, value);
  return cudaGetLastError();
}
cudaError_t fillI32(int32_t *p, int64_t n, int32_t value, cudaStream_t s) {
  fillKernel<<<gridFor(n), kBlock, 0, s>>>(p, n, value);
  return cudaGetLastError();
}

cudaError_t copy(const float *x, float *y, int64_t n, bool accumulate,
                 cudaStream_t s) {
  copyKernel<<<gridFor(n), kBlock, 0, s>>>(x, y, n, accumulate);
  return cudaGetLastError();
}

cudaError_t toBf16(const float *x, void *y, int64_t n, cudaStream_t s) {
  bf16Kernel<<<gridFor(n), kBlock, 0, s>>>(
      x, static_cast<__nv_bfloat16 *>(y), n);
  return cudaGetLastError();
}

cudaError_t unaryForward(Unary kind, const float *x, float *y, int64_t n,
                         cudaStream_t s) {
  unaryForwardKernel<<<gridFor(n), kBlock, 0, s>>>(kind, x, y, n);
  return cudaGetLastError();
}

cudaError_t unaryBackward(Unary kind, const float *x, const float *dy,
                          float *dx, int64_t n, cudaStream_t s) {
  unaryBackwardKernel<<<gridFor(n), kBlock, 0, s>>>(kind, x, dy, dx, n);
  return cudaGetLastError();
}

cudaError_t binaryForward(Binary kind, const float *a, Dims as, const float *b,
                          Dims bs, float *y, Dims ys, cudaStream_t s) {
  int64_t n = ys.numel();
  binaryForwardKernel<<<gridFor(n), kBlock, 0, s>>>(kind, a, b, y,
                                                    makeBcast(as, bs, ys), n);
  return cudaGetLastError();
}

cudaError_t binaryBackward(Binary kind, const float *a, Dims as, const float *b,
                           Dims bs, const float *dy, Dims ys, float *da,
                           float *db, cudaStream_t s) {
  Bcast c = makeBcast(as, bs, ys);
  if (da) {
    int64_t n = as.numel();
    binaryBackwardKernel<<<gridFor(n), kBlock, 0, s>>>(kind, a, b, dy, da, c,
                                                       0, n);
  }
  if (db) {
    int64_t n = bs.numel();
    binaryBackwardKernel<<<gridFor(n), kBlock, 0, s>>>(kind, a, b, dy, db, c,
                                                       1, n);
  }
  return cudaGetLastError();
}

cudaError_t broadcastRows(const float *bias, float *y, int64_t rows, int64_t n,
                          cudaStream_t s) {
  broadcastRowsKernel<<<gridFor(rows * n), kBlock, 0, s>>>(bias, y, rows, n);
  return cudaGetLastError();
}

cudaError_t columnSums(const float *dy, float *db, int64_t rows, int64_t n,
                       cudaStream_t s) {
  columnSumsKernel<<<gridFor(n), kBlock, 0, s>>>(dy, db, rows, n);
  return cudaGetLastError();
}

cudaError_t softmaxForward(const float *x, float *y, int64_t outer, int64_t len,
                           int64_t inner, cudaStream_t s) {
  softmaxForwardKernel<<<warpGridFor(outer * inner), kBlock, 0, s>>>(
      x, y, outer, len, inner);
  return cudaGetLastError();
}

cudaError_t softmaxBackward(const float *x, const float *dy, float *dx,
                            int64_t outer, int64_t len, int64_t inner,
                            cudaStream_t s) {
  softmaxBackwardKernel<<<warpGridFor(outer * inner), kBlock, 0, s>>>(
      x, dy, dx, outer, len, inner);
  return cudaGetLastError();
}

cudaError_t maskedSoftmaxRows(float *z, int64_t rows, int64_t s, int64_t t,
                              bool causal, int64_t queryOffset,
                              cudaStream_t st) {
  maskedSoftmaxRowsKernel<<<warpGridFor(rows), kBlock, 0, st>>>(
      z, rows, s, t, causal, queryOffset);
  return cudaGetLastError();
}

cudaError_t softmaxRowsBackward(const float *p, float *d, int64_t rows,
                                int64_t t, cudaStream_t st) {
  softmaxRowsBackwardKernel<<<warpGridFor(rows), kBlock, 0, st>>>(p, d, rows,
                                                                  t);
  return cudaGetLastError();
}

cudaError_t layerNormForward(const float *x, const float *scale,
                             const float *bias, float *y, float *stats,
                             int64_t rows, int64_t cols, double eps,
                             cudaStream_t s) {
  layerNormStatsKernel<<<warpGridFor(rows), kBlock, 0, s>>>(x, stats, rows,
                                                            cols, eps);
  layerNormApplyKernel<<<gridFor(rows * cols), kBlock, 0, s>>>(
      x, scale, bias, y, stats, rows, cols);
  return cudaGetLastError();
}

cudaError_t layerNormBackward(const float *x, const float *scale,
                              const float *dy, float *dx, float *dscale,
                              float *dbias, float *stats, int64_t rows,
                              int64_t cols, double eps, cudaStream_t s) {
  layerNormStatsKernel<<<warpGridFor(rows), kBlock, 0, s>>>(x, stats, rows,
                                                            cols, eps);
  if (dx)
    layerNormInputGradKernel<<<warpGridFor(rows), kBlock, 0, s>>>(
        x, scale, dy, dx, stats, rows, cols);
  if (dscale || dbias)
    layerNormParamGradKernel<<<gridFor(cols), kBlock, 0, s>>>(
        x, dy, dscale, dbias, stats, rows, cols);
  return cudaGetLastError();
}

cudaError_t embeddingForward(const void *ids, bool ids64, int64_t n,
                             const float *table, int64_t vocab, int64_t dim,
                             int64_t rowOffset, float *y, cudaStream_t s) {
  embeddingForwardKernel<<<gridFor(n * dim), kBlock, 0, s>>>(
      ids, ids64, n, table, vocab, dim, rowOffset, y);
  return cudaGetLastError();
}

cudaError_t embeddingBackward(const void *ids, bool ids64, int64_t n,
                              const float *dy, int64_t vocab, int64_t dim,
                              int64_t rowOffset, float *dtable,
                              cudaStream_t s) {
  embeddingBackwardKernel<<<gridFor(dim), kBlock, 0, s>>>(
      ids, ids64, n, dy, vocab, dim, rowOffset, dtable);
  return cudaGetLastError();
}

cudaError_t crossEntropyForward(const float *logits, const void *labels,
                                bool labels64, int64_t rows, int64_t classes,
                                double divisor, double *scratch, float *loss,
                                cudaStream_t s) {
  crossEntropyRowsKernel<<<warpGridFor(rows), kBlock, 0, s>>>(
      logits, labels, labels64, rows, classes, scratch);
  sumKernel<<<1, kBlock, 0, s>>>(scratch, rows, divisor, loss);
  return cudaGetLastError();
}

cudaError_t crossEntropyBackward(const float *logits, const void *labels,
                                 bool labels64, int64_t rows, int64_t classes,
                                 double divisor, const float *dLoss,
                                 float *dlogits, cudaStream_t s) {
  crossEntropyBackwardKernel<<<warpGridFor(rows), kBlock, 0, s>>>(
      logits, labels, labels64, rows, classes, divisor, dLoss, dlogits);
  return cudaGetLastError();
}

cudaError_t mseForward(const float *p, const float *t, int64_t n,
                       double divisor, double *scratch, float *loss,
                       cudaStream_t s) {
  squaredDiffKernel<<<1, kBlock, 0, s>>>(p, t, n, scratch);
  sumKernel<<<1, kBlock, 0, s>>>(scratch, 1, divisor, loss);
  return cudaGetLastError();
}

cudaError_t mseBackward(const float *p, const float *t, int64_t n,
                        double divisor, const float *dLoss, float *dp,
                        float *dt, cudaStream_t s) {
  mseBackwardKernel<<<gridFor(n), kBlock, 0, s>>>(p, t, n, divisor, dLoss, dp,
                                                  dt);
  return cudaGetLastError();
}

cudaError_t permute(const float *x, Dims xs, const int *perm, float *y,
                    bool accumulate, cudaStream_t s) {
  Perm p;
  p.rank = xs.rank;
  int64_t xstride[kMaxRank];
  int64_t stride = 1;
  for (int d = xs.rank - 1; d >= 0; --d) {
    xstride[d] = stride;
    stride *= xs.d[d];
  }
  for (int i = 0; i < xs.rank; ++i) {
    p.ydims[i] = xs.d[perm[i]];
    p.xstride[i] = xstride[perm[i]];
  }
  int64_t n = xs.numel();
  permuteKernel<<<gridFor(n), kBlock, 0, s>>>(x, y, p, n, accumulate);
  return cudaGetLastError();
}

cudaError_t boxCopy(const float *src, float *dst, const Box &box,
                    bool accumulate, cudaStream_t s) {
  int64_t n = 1;
  for (int d = 0; d < box.rank; ++d)
    n *= box.shape[d];
  if (n == 0)
    return cudaSuccess;
  boxCopyKernel<<<gridFor(n), kBlock, 0, s>>>(src, dst, box, n, accumulate);
  return cudaGetLastError();
}

cudaError_t reduceForward(Reduce kind, const float *x, float *y,
                          const Reduction &r, cudaStream_t s) {
  reduceForwardKernel<<<gridFor(r.outputs), kBlock, 0, s>>>(kind, x, y, r);
  return cudaGetLastError();
}

cudaError_t reduceBackward(Reduce kind, const float *x, const float *dy,
                           float *dx, const Reduction &r, cudaStream_t s) {
  reduceBackwardKernel<<<gridFor(r.outputs), kBlock, 0, s>>>(kind, x, dy, dx,
                                                             r);
  return cudaGetLastError();
}

cudaError_t pool2dForward(bool max, const float *x, float *y, int64_t planes,
                          const Window &g, bool includePad, cudaStream_t s) {
  pool2dForwardKernel<<<gridFor(planes * g.oh * g.ow), kBlock, 0, s>>>(
      max, x, y, planes, g, includePad);
  return cudaGetLastError();
}

cudaError_t pool2dBackward(bool max, const float *x, const float *dy,
                           float *dx, int64_t planes, const Window &g,
                           bool includePad, cudaStream_t s) {
  pool2dBackwardKernel<<<gridFor(planes), kBlock, 0, s>>>(max, x, dy, dx,
                                                          planes, g, includePad);
  return cudaGetLastError();
}

cudaError_t im2col(const float *x, float *cols, int64_t n, int64_t cin,
                   int64_t cg, int64_t group, const Window &g, cudaStream_t s) {
  int64_t total = n * cg * g.kh * g.kw * g.oh * g.ow;
  im2colKernel<<<gridFor(total), kBlock, 0, s>>>(x, cols, n, cin, cg, group, g);
  return cudaGetLastError();
}

cudaError_t col2im(const float *cols, float *dx, int64_t n, int64_t cin,
                   int64_t cg, int64_t group, const Window &g, cudaStream_t s) {
  col2imKernel<<<gridFor(n * cg * g.h * g.w), kBlock, 0, s>>>(cols, dx, n, cin,
                                                              cg, group, g);
  return cudaGetLastError();
}

cudaError_t channelBroadcast(const float *bias, float *y, int64_t n,
                             int64_t channels, int64_t plane, cudaStream_t s) {
  channelBroadcastKernel<<<gridFor(n * channels * plane), kBlock, 0, s>>>(
      bias, y, n, channels, plane);
  return cudaGetLastError();
}

cudaError_t channelSums(const float *dy, float *db, int64_t n,
                        int64_t channels, int64_t plane, cudaStream_t s) {
  channelSumsKernel<<<gridFor(channels), kBlock, 0, s>>>(dy, db, n, channels,
                                                         plane);
  return cudaGetLastError();
}

cudaError_t bnLocalSums(const float *x, double *sum, double *sumSq, int64_t n,
                        int64_t channels, int64_t plane, cudaStream_t s) {
  bnLocalSumsKernel<<<warpGridFor(channels), kBlock, 0, s>>>(x, sum, sumSq, n,
                                                             channels, plane);
  return cudaGetLastError();
}

cudaError_t bnFinalize(const double *sum, const double *sumSq, int64_t count,
                       int64_t channels, double eps, float *mean, float *var,
                       float *invStd, double momentum, float *runMean,
                       float *runVar, cudaStream_t s) {
  bnFinalizeKernel<<<gridFor(channels), kBlock, 0, s>>>(
      sum, sumSq, count, channels, eps, mean, var, invStd, momentum, runMean,
      runVar);
  return cudaGetLastError();
}

cudaError_t bnNormalize(const float *x, const float *mean, const float *invStd,
                        const float *scale, const float *bias, float *y,
                        int64_t n, int64_t channels, int64_t plane,
                        cudaStream_t s) {
  bnNormalizeKernel<<<gridFor(n * channels * plane), kBlock, 0, s>>>(
      x, mean, invStd, scale, bias, y, n, channels, plane);
  return cudaGetLastError();
}

cudaError_t bnBackwardSums(const float *x, const float *dy, const float *mean,
                           const float *invStd, double *sumDy,
                           double *sumDyXhat, int64_t n, int64_t channels,
                           int64_t plane, cudaStream_t s) {
  bnBackwardSumsKernel<<<warpGridFor(channels), kBlock, 0, s>>>(
      x, dy, mean, invStd, sumDy, sumDyXhat, n, channels, plane);
  return cudaGetLastError();
}

cudaError_t bnBackwardParams(const double *sumDy, const double *sumDyXhat,
                             int64_t channels, float *dscale, float *dbias,
                             cudaStream_t s) {
  bnBackwardParamsKernel<<<gridFor(channels), kBlock, 0, s>>>(
      sumDy, sumDyXhat, channels, dscale, dbias);
  return cudaGetLastError();
}

cudaError_t bnBackwardInput(const float *x, const float *dy, const float *mean,
                            const float *invStd, const float *scale,
                            const double *sumDy, const double *sumDyXhat,
                            int64_t count, float *dx, int64_t n,
                            int64_t channels, int64_t plane, cudaStream_t s) {
  bnBackwardInputKernel<<<gridFor(n * channels * plane), kBlock, 0, s>>>(
      x, dy, mean, invStd, scale, sumDy, sumDyXhat, count, dx, n, channels,
      plane);
  return cudaGetLastError();
}

cudaError_t dropout(const float *src, float *dst, Dims shard, Dims global,
                    const int64_t *offsets, uint64_t stream, double ratio,
                    bool accumulate, cudaStream_t s) {
  Place pl;
  pl.rank = shard.rank;
  int64_t stride = 1;
  for (int d = global.rank - 1; d >= 0; --d) {
    pl.gstride[d] = stride;
    stride *= global.d[d];
  }
  for (int d = 0; d < shard.rank; ++d) {
    pl.shard[d] = shard.d[d];
    pl.base += offsets[d] * pl.gstride[d];
  }
  float keepScale =
      ratio < 1.0 ? static_cast<float>(1.0 / (1.0 - ratio)) : 0.0f;
  int64_t n = shard.numel();
  dropoutKernel<<<gridFor(n), kBlock, 0, s>>>(src, dst, pl, stream, ratio,
                                              keepScale, n, accumulate);
  return cudaGetLastError();
}

cudaError_t sgd(float *p, const float *g, float *m, int64_t n, float lr,
                float wd, float momentum, float damp, bool nesterov,
                bool firstStep, cudaStream_t s) {
  sgdKernel<<<gridFor(n), kBlock, 0, s>>>(p, g, m, n, lr, wd, momentum, damp,
                                          nesterov, firstStep);
  return cudaGetLastError();
}

cudaError_t adam(float *p, const float *g, float *m, float *v, int64_t n,
                 float stepSize, float bc2Sqrt, float b2, float oneMinusB1,
                 float oneMinusB2, float eps, float wd, bool weightDecay,
                 bool decoupled, float decay, cudaStream_t s) {
  adamKernel<<<gridFor(n), kBlock, 0, s>>>(p, g, m, v, n, stepSize, bc2Sqrt,
                                           b2, oneMinusB1, oneMinusB2, eps, wd,
                                           weightDecay, decoupled, decay);
  return cudaGetLastError();
}

} // namespace soap::cuda::k
