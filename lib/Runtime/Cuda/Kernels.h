//===- Kernels.h - Soap's own CUDA kernels ----------------------*- C++ -*-===//
//
// Private to SoapCudaRuntime. The CUDA counterparts of the CPU kernels
// (docs/kernels.md) that are not GEMMs: the same conventions (forward
// overwrites, backward accumulates into non-null gradients, contiguous
// row-major fp32 data, sums in double). Every function only launches on
// `stream` and returns the launch status.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_RUNTIME_CUDA_KERNELS_H
#define SOAP_LIB_RUNTIME_CUDA_KERNELS_H

#include <cuda_runtime.h>

#include <cstdint>

namespace soap::cuda::k {

constexpr int kMaxRank = 8;

/// A shape of rank <= kMaxRank, passed by value to kernels.
struct Dims {
  int rank = 0;
  int64_t d[kMaxRank] = {};
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i)
      n *= d[i];
    return n;
  }
};

/// Unary ops, in the order of soap::cpu::unary::Kind's names.
enum class Unary { Relu, Gelu, Sigmoid, Tanh, Exp, Log, Neg, Sqrt, Erf };
enum class Binary { Add, Sub, Mul, Div };

cudaError_t fill(float *p, int64_t n, float value, cudaStream_t s);
cudaError_t fillF64(double *p, int64_t n, double value, cudaStream_t s);
cudaError_t fillI64(int64_t *p, int64_t n, int64_t value, cudaStream_t s);
cudaError_t fillI32(int32_t *p, int64_t n, int32_t value, cudaStream_t s);
/// y = x (copy) or y += x (accumulate).
cudaError_t copy(const float *x, float *y, int64_t n, bool accumulate,
                 cudaStream_t s);
/// bf16 copies for the GEMMs (round to nearest even).
cudaError_t toBf16(const float *x, void *y, int64_t n, cudaStream_t s);

cudaError_t unaryForward(Unary kind, const float *x, float *y, int64_t n,
                         cudaStream_t s);
/// dx += f'(x) * dy.
cudaError_t unaryBackward(Unary kind, const float *x, const float *dy,
                          float *dx, int64_t n, cudaStream_t s);

/// y = a op b with NumPy broadcasting (a, b right-aligned to y's rank).
cudaError_t binaryForward(Binary kind, const float *a, Dims as, const float *b,
                          Dims bs, float *y, Dims ys, cudaStream_t s);
/// da += sum over a's broadcast axes of dy * d(a op b)/da (double), likewise
/// db; either may be null.
cudaError_t binaryBackward(Binary kind, const float *a, Dims as, const float *b,
                           Dims bs, const float *dy, Dims ys, float *da,
                           float *db, cudaStream_t s);

/// y[r, :] = bias (rows of length n).
cudaError_t broadcastRows(const float *bias, float *y, int64_t rows, int64_t n,
                          cudaStream_t s);
/// db[j] += sum over rows of dy[r, j] (double).
cudaError_t columnSums(const float *dy, float *db, int64_t rows, int64_t n,
                       cudaStream_t s);

/// Softmax along the middle axis of [outer, len, inner].
cudaError_t softmaxForward(const float *x, float *y, int64_t outer, int64_t len,
                           int64_t inner, cudaStream_t s);
/// dx += y * (dy - sum(dy * y)), y recomputed from x.
cudaError_t softmaxBackward(const float *x, const float *dy, float *dx,
                            int64_t outer, int64_t len, int64_t inner,
                            cudaStream_t s);

/// Attention probabilities in place: each row r of z [rows, t] (query i =
/// r mod s) becomes softmax over its first `limit` entries (limit = t, or
/// clamp(queryOffset + i + 1, 0, t) when causal) and 0 after them.
cudaError_t maskedSoftmaxRows(float *z, int64_t rows, int64_t s, int64_t t,
                              bool causal, int64_t queryOffset,
                              cudaStream_t st);
/// In place per row: d = p * (d - sum(d * p)) (the softmax backward).
cudaError_t softmaxRowsBackward(const float *p, float *d, int64_t rows,
                                int64_t t, cudaStream_t st);

/// Layer norm over rows of length cols; scale / bias may be null.
/// `stats` (2 * rows floats of scratch) receives mean and rstd per row.
cudaError_t layerNormForward(const float *x, const float *scale,
                             const float *bias, float *y, float *stats,
                             int64_t rows, int64_t cols, double eps,
                             cudaStream_t s);
/// dx += ..., dscale += sum dy * xhat, dbias += sum dy (null: skipped).
cudaError_t layerNormBackward(const float *x, const float *scale,
                              const float *dy, float *dx, float *dscale,
                              float *dbias, float *stats, int64_t rows,
                              int64_t cols, double eps, cudaStream_t s);

/// ids: n indices (int64 when ids64, else int32); table rows [off, off+V).
cudaError_t embeddingForward(const void *ids, bool ids64, int64_t n,
                             const float *table, int64_t vocab, int64_t dim,
                             int64_t rowOffset, float *y, cudaStream_t s);
/// dtable[id - off] += dy[i] (deterministic: one thread per column).
cudaError_t embeddingBackward(const void *ids, bool ids64, int64_t n,
                              const float *dy, int64_t vocab, int64_t dim,
                              int64_t rowOffset, float *dtable, cudaStream_t s);

/// loss[0] = sum over rows of (logsumexp(z) - z[label]) / divisor; labels
/// outside [0, classes) contribute 0. `scratch`: rows doubles.
cudaError_t crossEntropyForward(const float *logits, const void *labels,
                                bool labels64, int64_t rows, int64_t classes,
                                double divisor, double *scratch, float *loss,
                                cudaStream_t s);
/// dlogits += dLoss[0] / divisor * (softmax(z) - onehot(label)).
cudaError_t crossEntropyBackward(const float *logits, const void *labels,
                                 bool labels64, int64_t rows, int64_t classes,
                                 double divisor, const float *dLoss,
                                 float *dlogits, cudaStream_t s);
/// loss[0] = sum (p - t)^2 / divisor. `scratch`: 1 double.
cudaError_t mseForward(const float *p, const float *t, int64_t n,
                       double divisor, double *scratch, float *loss,
                       cudaStream_t s);
/// dp += 2 (p - t) dLoss / divisor, dt -= the same (null: skipped).
cudaError_t mseBackward(const float *p, const float *t, int64_t n,
                        double divisor, const float *dLoss, float *dp,
                        float *dt, cudaStream_t s);

/// y = x permuted (y.shape[i] = x.shape[perm[i]]); accumulate: y += ...
/// Backward of transpose is the inverse permutation with accumulate.
cudaError_t permute(const float *x, Dims xs, const int *perm, float *y,
                    bool accumulate, cudaStream_t s);

/// A box copy between two strided tensors: for every index i of `shape`,
/// dst[dstBase + i . dstStride] (+)= src[srcBase + i . srcStride] (strides
/// in elements, possibly negative). Concat, split and slice, both ways.
struct Box {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t srcStride[kMaxRank] = {};
  int64_t dstStride[kMaxRank] = {};
  int64_t srcBase = 0, dstBase = 0;
};
cudaError_t boxCopy(const float *src, float *dst, const Box &box,
                    bool accumulate, cudaStream_t s);

/// Reductions (soap::cpu::reduce): x's axes split into kept ones (the
/// output's, row-major) and reduced ones, with x's strides.
enum class Reduce { Sum, Mean, Max };
struct Reduction {
  int kept = 0, reduced = 0;
  int64_t keptShape[kMaxRank] = {}, keptStride[kMaxRank] = {};
  int64_t redShape[kMaxRank] = {}, redStride[kMaxRank] = {};
  int64_t outputs = 1, group = 1;
  /// Mean: the count each output divides by (the global one for a shard
  /// split along a reduced axis, else `group`).
  double divisor = 1;
};
/// y[o] = sum, sum / divisor or max over o's group (sums in double).
cudaError_t reduceForward(Reduce kind, const float *x, float *y,
                          const Reduction &r, cudaStream_t s);
/// dx += dy[o] (sum), dy[o] / divisor (mean), or dy[o] at the group's first
/// maximum (max, found again from x).
cudaError_t reduceBackward(Reduce kind, const float *x, const float *dy,
                           float *dx, const Reduction &r, cudaStream_t s);

/// 2-D geometry of a convolution or pooling window over NCHW planes.
struct Window {
  int64_t h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t padTop = 0, padLeft = 0;
};

/// soap::cpu::pool2d over `planes` planes: max ignores padding (gradient
/// to the window's first maximum), average divides by the unpadded tap
/// count or kh * kw (`includePad`).
cudaError_t pool2dForward(bool max, const float *x, float *y, int64_t planes,
                          const Window &g, bool includePad, cudaStream_t s);
/// dx += ...; one thread per plane (windows overlap), outputs in order.
cudaError_t pool2dBackward(bool max, const float *x, const float *dy,
                           float *dx, int64_t planes, const Window &g,
                           bool includePad, cudaStream_t s);

/// Convolution columns of group `group` for all n images:
/// cols[n][(c * kh + i) * kw + j][oy * ow + ox] = x[n, group * cg + c,
/// oy * sh - padTop + i * dh, ox * sw - padLeft + j * dw] (0 outside).
cudaError_t im2col(const float *x, float *cols, int64_t n, int64_t cin,
                   int64_t cg, int64_t group, const Window &g, cudaStream_t s);
/// The adjoint: dx[n, group * cg + c, y, x] += the columns' entries that
/// read it (one thread per dx element, taps in order).
cudaError_t col2im(const float *cols, float *dx, int64_t n, int64_t cin,
                   int64_t cg, int64_t group, const Window &g, cudaStream_t s);
/// y[n, c, :] = bias[c] over [n, channels, plane].
cudaError_t channelBroadcast(const float *bias, float *y, int64_t n,
                             int64_t channels, int64_t plane, cudaStream_t s);
/// db[c] += sum over n and the plane of dy[n, c, :] (double).
cudaError_t channelSums(const float *dy, float *db, int64_t n,
                        int64_t channels, int64_t plane, cudaStream_t s);

/// soap::cpu::batch_norm's phases over x [n, channels, plane]:
/// per channel sum and sum of squares (double, overwritten);
cudaError_t bnLocalSums(const float *x, double *sum, double *sumSq, int64_t n,
                        int64_t channels, int64_t plane, cudaStream_t s);
/// mean, invStd (and var, running statistics when non-null) from the sums;
cudaError_t bnFinalize(const double *sum, const double *sumSq, int64_t count,
                       int64_t channels, double eps, float *mean, float *var,
                       float *invStd, double momentum, float *runMean,
                       float *runVar, cudaStream_t s);
/// y = x * (invStd * scale) + (bias - mean * invStd * scale);
cudaError_t bnNormalize(const float *x, const float *mean, const float *invStd,
                        const float *scale, const float *bias, float *y,
                        int64_t n, int64_t channels, int64_t plane,
                        cudaStream_t s);
/// sumDy, sumDyXhat (double, overwritten);
cudaError_t bnBackwardSums(const float *x, const float *dy, const float *mean,
                           const float *invStd, double *sumDy,
                           double *sumDyXhat, int64_t n, int64_t channels,
                           int64_t plane, cudaStream_t s);
/// dscale += sumDyXhat, dbias += sumDy (either null: skipped);
cudaError_t bnBackwardParams(const double *sumDy, const double *sumDyXhat,
                             int64_t channels, float *dscale, float *dbias,
                             cudaStream_t s);
/// dx += scale invStd (dy - sumDy / count - xhat sumDyXhat / count).
cudaError_t bnBackwardInput(const float *x, const float *dy, const float *mean,
                            const float *invStd, const float *scale,
                            const double *sumDy, const double *sumDyXhat,
                            int64_t count, float *dx, int64_t n,
                            int64_t channels, int64_t plane, cudaStream_t s);

/// Dropout with the CPU's mask (docs/kernels.md): element g of the global
/// tensor is kept iff keepUniform(stream, g) >= ratio. `global` and
/// `offsets`: the shard's place; dst = src * mask * scale (or +=).
cudaError_t dropout(const float *src, float *dst, Dims shard, Dims global,
                    const int64_t *offsets, uint64_t stream, double ratio,
                    bool accumulate, cudaStream_t s);

/// PyTorch's SGD (momentum buffer = g on the first step) and Adam, with
/// the scalar factors computed on the host in double as the CPU does.
cudaError_t sgd(float *p, const float *g, float *m, int64_t n, float lr,
                float wd, float momentum, float damp, bool nesterov,
                bool firstStep, cudaStream_t s);
cudaError_t adam(float *p, const float *g, float *m, float *v, int64_t n,
                 float stepSize, float bc2Sqrt, float b2, float oneMinusB1,
                 float oneMinusB2, float eps, float wd, bool weightDecay,
                 bool decoupled, float decay, cudaStream_t s);

} // namespace soap::cuda::k

#endif // SOAP_LIB_RUNTIME_CUDA_KERNELS_H
