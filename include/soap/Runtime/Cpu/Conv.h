//===- Conv.h - soap.conv2d and soap.pool2d on CPU --------------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h. NCHW layout throughout.
//
// Spatial (h, w) shards: the runtime passes the shard's input rows including
// the halo it exchanged, and the padding that applies at the shard's edges
// (zero where a neighbour supplied the halo); the kernels see an ordinary,
// smaller convolution.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_CONV_H
#define SOAP_RUNTIME_CPU_CONV_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

/// soap.conv2d: x [N, C, H, W], w [O, C/groups, KH, KW], optional b [O],
/// y [N, O, OH, OW]. im2col + one GEMM per group and block of images (a
/// direct GEMM for unpadded 1x1 convolutions with unit stride).
namespace conv2d {
struct Params {
  int64_t strides[2] = {1, 1};
  /// top, left, bottom, right.
  int64_t padding[4] = {0, 0, 0, 0};
  int64_t dilations[2] = {1, 1};
  int64_t groups = 1;
};
/// The output size along one axis (soap.conv2d's formula).
int64_t outputSize(int64_t in, int64_t padBefore, int64_t padAfter,
                   int64_t kernel, int64_t stride, int64_t dilation);
void forward(ConstFloatView x, ConstFloatView w, ConstFloatView b, FloatView y,
             const Params &p);
/// dx += conv^T(dy, w), dw += corr(x, dy), db += sum of dy over N, OH, OW.
void backward(ConstFloatView x, ConstFloatView w, ConstFloatView dy,
              FloatView dx, FloatView dw, FloatView db, const Params &p);
} // namespace conv2d

/// soap.pool2d: x [N, C, H, W] -> y [N, C, OH, OW]. Max pooling ignores the
/// padding; its gradient goes to the first maximal element of each window
/// (row-major order), like PyTorch. Average pooling divides by the unpadded
/// tap count, or by KH * KW with countIncludePad.
namespace pool2d {
enum class Kind { Max, Avg };
struct Params {
  Kind kind = Kind::Max;
  int64_t kernel[2] = {1, 1};
  /// Defaults to the kernel in soap.pool2d; spell it out here.
  int64_t strides[2] = {1, 1};
  /// top, left, bottom, right; each below the kernel's span.
  int64_t padding[4] = {0, 0, 0, 0};
  /// Spacing of the window's taps (span (K - 1) * d + 1).
  int64_t dilations[2] = {1, 1};
  bool countIncludePad = false;
};
void forward(ConstFloatView x, FloatView y, const Params &p);
/// dx += the gradient of y w.r.t. x applied to dy.
void backward(ConstFloatView x, ConstFloatView dy, FloatView dx,
              const Params &p);
/// soap.max_pool_indices (p.kind is ignored: max): y = the flat index, in
/// the whole input, of each window's first maximal element (the element
/// backward routes the gradient to). x is a shard [n, c, H, W] of an input
/// with `channels` channels and whole spatial axes; its first plane is
/// (batchOffset, channelOffset) of the whole. Row-major indices are
/// ((n * C + c) * H + h) * W + w, column-major ((n * C + c) * W + w) * H + h.
void argmax(ConstFloatView x, TensorView<int64_t> y, const Params &p,
            int64_t channels, int64_t batchOffset, int64_t channelOffset,
            bool columnMajor);
} // namespace pool2d

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_CONV_H
