//===- SoapOps.td - soap dialect operations ----------------*- tablegen -*-===//
//
// Ops on logical (unsharded), statically shaped tensors. Compute ops implement
// ParallelizableOpInterface; their result types are inferred from operands and
// attributes, and inference is where shapes are checked.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_DIALECT_SOAP_SOAPOPS_TD
#define SOAP_DIALECT_SOAP_SOAPOPS_TD

include "soap/Dialect/Soap/SoapBase.td"
include "soap/Dialect/Soap/SoapInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

/// A compute op: pure, with inferred result types and the SOAP interface.
/// `overrides` names the interface methods with a default that the op replaces.
class Soap_ComputeOp<string mnemonic, list<string> overrides = [],
                     list<Trait> traits = []>
    : Soap_Op<mnemonic, !listconcat([Pure, InferTypeOpAdaptor,
        DeclareOpInterfaceMethods<Soap_ParallelizableOpInterface, overrides>],
        traits)> {
  let assemblyFormat =
      "operands attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Model structure
//===----------------------------------------------------------------------===//

def Soap_WeightOp : Soap_Op<"weight"> {
  let summary = "A named trainable parameter";
  let description = [{
    Declares one trainable weight of the model: its stable name (unique in the
    function), its shape and dtype (the result type), and its initializer.
    `scale` is the standard deviation (`normal`), the bound (`uniform`) or the
    value (`constant`); `value` holds the initial values where they are known
    (weights imported from ONNX use `init = value`).

    ```mlir
    %w = soap.weight "fc1.weight" normal {scale = 0.02 : f64} : tensor<784x256xf32>
    %b = soap.weight "fc1.bias" zeros : tensor<256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, Soap_InitKind:$init,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<ElementsAttr>:$value);
  let results = (outs Soap_FloatTensor:$result);
  let assemblyFormat = "$name $init attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Soap_ConstantOp : Soap_Op<"constant", [ConstantLike, Pure,
    AllTypesMatch<["value", "result"]>]> {
  let summary = "A constant, non-trainable tensor";
  let description = [{
    ```mlir
    %scale = soap.constant dense<0.125> : tensor<f32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Soap_AnyTensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Dense layers
//===----------------------------------------------------------------------===//

def Soap_LinearOp : Soap_ComputeOp<"linear",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "Fully connected layer: x . W + b over the last dimension";
  let description = [{
    `input` is `[..., K]` (any number of leading dimensions), `weight` is
    `[K, N]` and the optional `bias` is `[N]`; the result is `[..., N]`.

    Dimensions: `batch` (sample, leading axis 0), `d<i>` (attribute, the other
    leading axes), `out` (parameter, N: column parallel) and `in` (reduction,
    K: row parallel, yields partial sums).

    ```mlir
    %y = soap.linear %x, %w, %b : (tensor<32x784xf32>, tensor<784x256xf32>,
                                  tensor<256xf32>) -> tensor<32x256xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$weight,
                       Optional<Soap_FloatTensor>:$bias);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_MatmulOp : Soap_ComputeOp<"matmul"> {
  let summary = "Batched matrix product with broadcast batch dimensions";
  let description = [{
    `lhs` is `[..., M, K]` and `rhs` is `[..., K, N]`; the batch dimensions
    broadcast (NumPy rules) and the result is `[..., M, N]`. Both operands
    have rank 2 or more.

    Dimensions: `batch` (sample, result axis 0 when rank > 2), `d<i>`
    (attribute, other batch axes), `m` and `n` (attribute), `k` (reduction).

    ```mlir
    %s = soap.matmul %q, %kt : (tensor<8x12x128x64xf32>, tensor<8x12x64x128xf32>)
                               -> tensor<8x12x128x128xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$lhs, Soap_FloatTensor:$rhs);
  let results = (outs Soap_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Convolutional layers
//===----------------------------------------------------------------------===//

def Soap_Conv2dOp : Soap_ComputeOp<"conv2d",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "2-D convolution (NCHW), with stride, padding, dilation and groups";
  let description = [{
    `input` is `[N, C, H, W]`, `weight` is `[O, C / groups, KH, KW]` and the
    optional `bias` is `[O]`. `padding` is `[top, left, bottom, right]`. The
    output is `[N, O, OH, OW]` with
    `OH = (H + top + bottom - dilation_h * (KH - 1) - 1) / stride_h + 1`.

    Dimensions: `batch` (sample), `cout` (parameter, O), `h` and `w`
    (attribute: halo exchange), `cin` (reduction, C; only when groups = 1).

    ```mlir
    %y = soap.conv2d %x, %w {strides = array<i64: 2, 2>,
                             padding = array<i64: 3, 3, 3, 3>}
        : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<8x64x112x112xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$weight,
                       Optional<Soap_FloatTensor>:$bias,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$padding,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_Pool2dOp : Soap_ComputeOp<"pool2d", ["getBackwardFlops"]> {
  let summary = "2-D max or average pooling (NCHW)";
  let description = [{
    `kernel` is `[KH, KW]`, `strides` defaults to the kernel, `padding` is
    `[top, left, bottom, right]`, `dilations` (1, 1 when absent) spaces the
    window's taps as for a convolution: a window spans `(K - 1) * d + 1`
    input rows (columns); each padding must be smaller than that span.
    Average pooling divides by the number of unpadded taps unless
    `count_include_pad` is set (then by `KH * KW`). Global pooling is a
    kernel equal to the spatial size.

    Dimensions: `batch` (sample), `c`, `h`, `w` (attribute).

    ```mlir
    %y = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>,
                             padding = array<i64: 1, 1, 1, 1>}
        : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
    ```
  }];
  let arguments = (ins Soap_PoolKind:$kind, Soap_FloatTensor:$input,
                       DenseI64ArrayAttr:$kernel,
                       OptionalAttr<DenseI64ArrayAttr>:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$padding,
                       UnitAttr:$count_include_pad,
                       OptionalAttr<DenseI64ArrayAttr>:$dilations);
  let results = (outs Soap_FloatTensor:$result);
  let assemblyFormat =
      "$kind $input attr-dict `:` type($input) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

def Soap_BatchNormOp : Soap_ComputeOp<"batch_norm",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "Batch normalization over all axes but the channel axis 1";
  let description = [{
    Training-mode batch normalization: the batch statistics normalize `input`
    (`[N, C, ...]`, rank >= 2), then `scale` and `bias` (`[C]`) apply. The
    runtime keeps running statistics with `momentum` (PyTorch's convention:
    `running = (1 - momentum) * running + momentum * batch`). A strategy that
    splits the batch synchronizes the statistics across the split.

    Dimensions: `batch` (sample), `c` (parameter), `h`, `w` or `d<i>`
    (attribute).

    ```mlir
    %y = soap.batch_norm %x, %g, %b {epsilon = 1.0e-05 : f64}
        : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<8x64x56x56xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$scale,
                       Soap_FloatTensor:$bias,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon,
                       DefaultValuedAttr<F64Attr, "0.1">:$momentum);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_LayerNormOp : Soap_ComputeOp<"layer_norm",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "Layer normalization over the axes from `axis` to the last";
  let description = [{
    Normalizes `input` over `input.shape[axis:]` (by default the last axis),
    then applies `scale` and the optional `bias`, both of shape
    `input.shape[axis:]`.

    Dimensions: `batch` (sample) and `d<i>` (attribute) for the axes before
    `axis`.

    ```mlir
    %y = soap.layer_norm %x, %g, %b : (tensor<8x128x768xf32>, tensor<768xf32>,
                                      tensor<768xf32>) -> tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$scale,
                       Optional<Soap_FloatTensor>:$bias,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs Soap_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Embeddings, attention, recurrence
//===----------------------------------------------------------------------===//

def Soap_EmbeddingOp : Soap_ComputeOp<"embedding",
    ["getBackwardFlops", "getBytesRead", "getParameterOperandIndices"]> {
  let summary = "Table lookup: rows of `table` selected by integer `indices`";
  let description = [{
    `indices` is any integer tensor `[...]`, `table` is `[V, D]`; the result is
    `[..., D]`.

    Dimensions: `batch` (sample), `d<i>` (attribute), `dim` (parameter, D:
    column split of the table) and `vocab` (reduction, V: each shard holds
    some rows and contributes zeros for the others, Megatron's vocabulary
    parallelism). Bytes read are the indices and the selected rows, not the
    whole table.

    ```mlir
    %e = soap.embedding %ids, %table : (tensor<8x128xi64>, tensor<30522x768xf32>)
                                       -> tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Soap_IndexTensor:$indices, Soap_FloatTensor:$table);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_AttentionOp : Soap_ComputeOp<"attention",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "Multi-head attention with its input and output projections";
  let description = [{
    `query` is `[B, S, E]`, `key` and `value` are `[B, T, Ek]` and `[B, T, Ev]`.
    The projections are `wq : [E, E]`, `wk : [Ek, E]`, `wv : [Ev, E]` and
    `wo : [E, E]`; `biases` is empty or the four biases `[E]` of q, k, v, o.
    `num_heads` divides E. With `causal`, position i attends to positions
    <= i only (S = T). The result is `[B, S, E]`.

    Dimensions: `batch` (sample), `seq` (attribute, S) and `heads` (parameter:
    Megatron's head-parallel attention). Splitting the heads splits the
    columns of `wq`, `wk`, `wv` and the rows of `wo`, so every shard holds a
    partial sum of the whole result: `heads` has no result axis.

    ```mlir
    %y = soap.attention %x, %x, %x, %wq, %wk, %wv, %wo {num_heads = 12 : i64}
        : (tensor<8x128x768xf32>, tensor<8x128x768xf32>, tensor<8x128x768xf32>,
           tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
           tensor<768x768xf32>) -> tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$query, Soap_FloatTensor:$key,
                       Soap_FloatTensor:$value, Soap_FloatTensor:$wq,
                       Soap_FloatTensor:$wk, Soap_FloatTensor:$wv,
                       Soap_FloatTensor:$wo,
                       Variadic<Soap_FloatTensor>:$biases,
                       I64Attr:$num_heads, UnitAttr:$causal);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_LstmOp : Soap_ComputeOp<"lstm", ["getParameterOperandIndices"]> {
  let summary = "One LSTM layer unrolled over the sequence";
  let description = [{
    `input` is `[B, T, I]` (T is the unrolled length), `w_ih` is `[I, 4H]`,
    `w_hh` is `[H, 4H]` and the optional `bias` is `[4H]`; gates are ordered
    input, forget, cell, output (PyTorch's order). The initial state is zero;
    the result is the hidden state of every step, `[B, T, H]`.

    Dimensions: `batch` (sample) and `hidden` (parameter: each shard computes
    a slice of the gates, and the hidden state is gathered every step).

    ```mlir
    %h = soap.lstm %x, %wih, %whh, %b : (tensor<64x40x1024xf32>, tensor<1024x4096xf32>,
                                         tensor<1024x4096xf32>, tensor<4096xf32>)
                                        -> tensor<64x40x1024xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$w_ih,
                       Soap_FloatTensor:$w_hh, Optional<Soap_FloatTensor>:$bias);
  let results = (outs Soap_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Unary elementwise op with `flops` FLOPs per element forward.
class Soap_UnaryOp<string mnemonic, string math, int flops>
    : Soap_ComputeOp<mnemonic, ["getBackwardFlops"]> {
  let summary = "Elementwise " # math;
  let description = [{
    Elementwise }] # math # [{ of a float tensor; the result has the operand's
    type. Dimensions: `batch` (sample, axis 0) and `d<i>` (attribute).

    ```mlir
    %y = soap.}] # mnemonic # [{ %x : tensor<8x256xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input);
  let results = (outs Soap_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = [{
    /// Forward FLOPs per element (a cost-model constant).
    static constexpr int64_t kFlopsPerElement = }] # flops # [{;
  }];
}

def Soap_ReluOp : Soap_UnaryOp<"relu", "max(x, 0)", 1>;
def Soap_GeluOp : Soap_UnaryOp<"gelu", "x * Phi(x) (exact, erf form)", 8>;
def Soap_SigmoidOp : Soap_UnaryOp<"sigmoid", "1 / (1 + exp(-x))", 4>;
def Soap_TanhOp : Soap_UnaryOp<"tanh", "tanh(x)", 4>;
def Soap_ExpOp : Soap_UnaryOp<"exp", "exp(x)", 1>;
def Soap_LogOp : Soap_UnaryOp<"log", "natural logarithm", 1>;
def Soap_NegOp : Soap_UnaryOp<"neg", "negation", 1>;
def Soap_SqrtOp : Soap_UnaryOp<"sqrt", "square root", 1>;
def Soap_ErfOp : Soap_UnaryOp<"erf", "error function", 4>;

class Soap_BinaryOp<string mnemonic, string math>
    : Soap_ComputeOp<mnemonic, ["getBackwardFlops"]> {
  let summary = "Elementwise " # math # " with NumPy broadcasting";
  let description = [{
    Elementwise }] # math # [{ of two float tensors of the same element type;
    their shapes broadcast by NumPy's rules. Dimensions: `batch` (sample, axis
    0 of the result) and `d<i>` (attribute).

    ```mlir
    %y = soap.}] # mnemonic # [{ %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$lhs, Soap_FloatTensor:$rhs);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_AddOp : Soap_BinaryOp<"add", "sum">;
def Soap_SubOp : Soap_BinaryOp<"sub", "difference">;
def Soap_MulOp : Soap_BinaryOp<"mul", "product">;
def Soap_DivOp : Soap_BinaryOp<"div", "quotient">;
def Soap_PowOp : Soap_BinaryOp<"pow", "power (lhs raised to rhs)">;

/// An elementwise comparison: a boolean result, no gradient.
class Soap_CompareOp<string mnemonic, string math>
    : Soap_ComputeOp<mnemonic, ["getBackwardFlops"]> {
  let summary = "Elementwise " # math # " with NumPy broadcasting";
  let description = [{
    Elementwise }] # math # [{ of two tensors of the same element type
    (floats or integers); their shapes broadcast by NumPy's rules and the
    result is a tensor of booleans (`i1`). Comparisons pass no gradient. NaN
    compares unequal to everything (IEEE). Dimensions: `batch` (sample, axis
    0 of the result) and `d<i>` (attribute).

    ```mlir
    %m = soap.}] # mnemonic # [{ %a, %b : (tensor<8x256xf32>, tensor<256xf32>) -> tensor<8x256xi1>
    ```
  }];
  let arguments = (ins Soap_NumberTensor:$lhs, Soap_NumberTensor:$rhs);
  let results = (outs Soap_BoolTensor:$result);
}

def Soap_EqualOp : Soap_CompareOp<"equal", "equality (lhs == rhs)">;
def Soap_LessOp : Soap_CompareOp<"less", "lhs < rhs">;
def Soap_LessEqualOp : Soap_CompareOp<"less_equal", "lhs <= rhs">;
def Soap_GreaterOp : Soap_CompareOp<"greater", "lhs > rhs">;
def Soap_GreaterEqualOp : Soap_CompareOp<"greater_equal", "lhs >= rhs">;

/// An elementwise logical op on booleans.
class Soap_LogicalOp<string mnemonic, string math>
    : Soap_ComputeOp<mnemonic, ["getBackwardFlops"]> {
  let summary = "Elementwise logical " # math # " with NumPy broadcasting";
  let description = [{
    Elementwise logical }] # math # [{ of two boolean (`i1`) tensors whose
    shapes broadcast by NumPy's rules. Dimensions: `batch` (sample, axis 0 of
    the result) and `d<i>` (attribute).

    ```mlir
    %m = soap.}] # mnemonic # [{ %a, %b : (tensor<8x256xi1>, tensor<256xi1>) -> tensor<8x256xi1>
    ```
  }];
  let arguments = (ins Soap_BoolTensor:$lhs, Soap_BoolTensor:$rhs);
  let results = (outs Soap_BoolTensor:$result);
}

def Soap_AndOp : Soap_LogicalOp<"and", "and">;
def Soap_OrOp : Soap_LogicalOp<"or", "or">;
def Soap_XorOp : Soap_LogicalOp<"xor", "exclusive or">;

def Soap_NotOp : Soap_ComputeOp<"not", ["getBackwardFlops"]> {
  let summary = "Elementwise logical negation";
  let description = [{
    The negation of a boolean (`i1`) tensor. Dimensions: `batch` (sample,
    axis 0) and `d<i>` (attribute).

    ```mlir
    %n = soap.not %m : tensor<8x256xi1>
    ```
  }];
  let arguments = (ins Soap_BoolTensor:$input);
  let results = (outs Soap_BoolTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Soap_CastOp : Soap_Op<"cast", [Pure,
    DeclareOpInterfaceMethods<Soap_ParallelizableOpInterface,
                              ["getBackwardFlops"]>]> {
  let summary = "Elementwise conversion to another element type";
  let description = [{
    Converts each element of `input` to the result's element type (any two
    of f32, f16, bf16, f64, i32, i64, i1); the shapes are the same. Floats
    round to the nearest (ties to even); a float becomes an integer by
    truncation toward zero (NumPy's `astype`, ONNX's Cast); a number becomes
    a boolean by comparison with zero (NaN is true), a boolean a number 0 or
    1. The gradient of a cast
    between float types is the result's gradient cast back; casts from or to
    an integer type pass no gradient. Dimensions: `batch` (sample, axis 0) and
    `d<i>` (attribute), as for the elementwise ops.

    ```mlir
    %h = soap.cast %x : tensor<8x256xf32> to tensor<8x256xf16>
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input);
  let results = (outs Soap_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
}

def Soap_SoftmaxOp : Soap_ComputeOp<"softmax", ["getBackwardFlops"]> {
  let summary = "Softmax along one axis";
  let description = [{
    Dimensions: `batch` (sample) and `d<i>` (attribute) for every axis but
    `axis` (by default the last).

    ```mlir
    %p = soap.softmax %s {axis = -1 : i64} : tensor<8x12x128x128xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Soap_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Soap_DropoutOp : Soap_ComputeOp<"dropout", ["getBackwardFlops"]> {
  let summary = "Inverted dropout with a seeded mask";
  let description = [{
    Zeroes each element with probability `ratio` and scales the rest by
    `1 / (1 - ratio)`. The mask is a function of `seed`, the step and the
    element's global index, so a sharded run draws the same mask as one
    device. Dimensions: `batch` (sample) and `d<i>` (attribute).

    ```mlir
    %y = soap.dropout %x {ratio = 1.0e-01 : f64} : tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, F64Attr:$ratio,
                       DefaultValuedAttr<I64Attr, "0">:$seed);
  let results = (outs Soap_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Soap_DropoutMaskOp : Soap_ComputeOp<"dropout_mask",
    ["getBackwardFlops", "getBytesRead"]> {
  let summary = "The keep mask that soap.dropout draws";
  let description = [{
    The boolean mask (`i1`, true = kept) that a `soap.dropout` of the same
    input shape, `ratio` and `seed` draws: a function of the seed, the step
    and the element's global index, so a sharded run draws the same mask as
    one device. Only the input's shape is read. ONNX's Dropout with its mask
    output imports as this mask and the product
    `x * cast(mask) * (1 / (1 - ratio))`, so that the output and the mask
    agree. No gradient. Dimensions: `batch` (sample) and `d<i>` (attribute).

    ```mlir
    %m = soap.dropout_mask %x {ratio = 5.0e-01 : f64} : tensor<8x128xf32> -> tensor<8x128xi1>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, F64Attr:$ratio,
                       DefaultValuedAttr<I64Attr, "0">:$seed);
  let results = (outs Soap_BoolTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

/// Data-movement ops: no FLOPs. Views (reshape, flatten) move no bytes either.
class Soap_ShapeOp<string mnemonic, list<string> overrides = []>
    : Soap_ComputeOp<mnemonic, !listconcat(["getBackwardFlops"], overrides)>;

def Soap_ReshapeOp : Soap_Op<"reshape", [Pure,
    DeclareOpInterfaceMethods<Soap_ParallelizableOpInterface,
        ["getBackwardFlops", "getBytesRead", "getBytesWritten"]>]> {
  let summary = "Reshape to the result type (same element count)";
  let description = [{
    A view: the row-major element order is unchanged. Dimensions: `batch`
    (sample) when the result keeps axis 0 of the operand.

    ```mlir
    %y = soap.reshape %x : tensor<8x128x768xf32> -> tensor<8x128x12x64xf32>
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input);
  let results = (outs Soap_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Soap_FlattenOp : Soap_ShapeOp<"flatten", ["getBytesRead", "getBytesWritten"]> {
  let summary = "Flatten to 2-D around `axis`";
  let description = [{
    `[d0, ..., dn]` becomes `[d0 * ... * d(axis-1), d(axis) * ... * dn]`
    (ONNX's Flatten). A view. Dimensions: `batch` (sample) when axis >= 1.

    ```mlir
    %y = soap.flatten %x : (tensor<8x256x6x6xf32>) -> tensor<8x9216xf32>
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input,
                       DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs Soap_AnyTensor:$result);
}

def Soap_TransposeOp : Soap_ShapeOp<"transpose"> {
  let summary = "Permute the axes";
  let description = [{
    Result axis i is operand axis `permutation[i]`. Dimensions: `batch`
    (sample) when `permutation[0] = 0`.

    ```mlir
    %y = soap.transpose %x {permutation = array<i64: 0, 2, 1, 3>}
        : (tensor<8x128x12x64xf32>) -> tensor<8x12x128x64xf32>
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Soap_AnyTensor:$result);
}

def Soap_ConcatOp : Soap_ShapeOp<"concat"> {
  let summary = "Concatenate along one axis";
  let description = [{
    All inputs have the same rank, element type and sizes except along
    `axis`. Dimensions: `batch` (sample) when `axis != 0`.

    ```mlir
    %y = soap.concat %a, %b {axis = 1 : i64}
        : (tensor<8x64x28x28xf32>, tensor<8x32x28x28xf32>) -> tensor<8x96x28x28xf32>
    ```
  }];
  let arguments = (ins Variadic<Soap_AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs Soap_AnyTensor:$result);
}

def Soap_SplitOp : Soap_ShapeOp<"split"> {
  let summary = "Split along one axis into pieces of the given sizes";
  let description = [{
    `sizes` add up to the size of `axis`. Dimensions: `batch` (sample) when
    `axis != 0`.

    ```mlir
    %q, %k, %v = soap.split %qkv {axis = 2 : i64, sizes = array<i64: 768, 768, 768>}
        : (tensor<8x128x2304xf32>) -> (tensor<8x128x768xf32>, tensor<8x128x768xf32>,
                                       tensor<8x128x768xf32>)
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input, I64Attr:$axis,
                       DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<Soap_AnyTensor>:$results);
}

def Soap_SliceOp : Soap_ShapeOp<"slice"> {
  let summary = "Strided slice with one start, end and step per axis";
  let description = [{
    Along every axis the result holds the elements `start, start + step,
    ...` before `end` (`steps` defaults to all ones). A positive step needs
    `0 <= start <= end <= size` and gives `ceil((end - start) / step)`
    elements; a negative step walks backwards (NumPy's `x[start:end:step]`)
    and needs `-1 <= end <= start < size` (`end = -1` reaches element 0),
    giving `ceil((start - end) / -step)` elements; a step is never 0.
    Dimensions: `batch` (sample) when axis 0 is whole and in order.

    ```mlir
    %y = soap.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 8, 128>}
        : (tensor<8x256xf32>) -> tensor<8x128xf32>
    %r = soap.slice %x {starts = array<i64: 0, 255>, ends = array<i64: 8, -1>,
                        steps = array<i64: 1, -2>}
        : (tensor<8x256xf32>) -> tensor<8x128xf32>
    ```
  }];
  let arguments = (ins Soap_AnyTensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$ends,
                       OptionalAttr<DenseI64ArrayAttr>:$steps);
  let results = (outs Soap_AnyTensor:$result);
}

class Soap_ReductionOp<string mnemonic, string math>
    : Soap_ComputeOp<mnemonic, ["getBackwardFlops"]> {
  let summary = "Reduce (" # math # ") over the given axes";
  let description = [{
    Reduces `input` with }] # math # [{ over `axes` (distinct, in range);
    `keep_dims` keeps them as size-1 axes. Dimensions: `batch` (sample) when
    axis 0 is not reduced.

    ```mlir
    %y = soap.}] # mnemonic # [{ %x {axes = array<i64: 2, 3>}
        : (tensor<8x2048x7x7xf32>) -> tensor<8x2048xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, DenseI64ArrayAttr:$axes,
                       UnitAttr:$keep_dims);
  let results = (outs Soap_FloatTensor:$result);
}

def Soap_ReduceSumOp : Soap_ReductionOp<"reduce_sum", "sum">;
def Soap_ReduceMeanOp : Soap_ReductionOp<"reduce_mean", "mean">;
def Soap_ReduceMaxOp : Soap_ReductionOp<"reduce_max", "max">;

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

def Soap_TopKGateOp : Soap_ComputeOp<"topk_gate", ["getBackwardFlops"]> {
  let summary = "Top-k gating of a mixture of experts";
  let description = [{
    `logits` is `[T, E]` (tokens x experts). The gate takes the softmax over
    experts and keeps the `k` largest probabilities of each token, renormalized
    to sum to one: `weights : [T, k]` and the experts' `indices : [T, k]`
    (i64), largest first.

    Dimensions: `batch` (sample, tokens).

    ```mlir
    %w, %i = soap.topk_gate %logits {k = 2 : i64}
        : (tensor<1024x8xf32>) -> (tensor<1024x2xf32>, tensor<1024x2xi64>)
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$logits, I64Attr:$k);
  let results = (outs Soap_FloatTensor:$weights, Soap_IndexTensor:$indices);
}

def Soap_ExpertsOp : Soap_ComputeOp<"experts",
    ["getBackwardFlops", "getParameterOperandIndices"]> {
  let summary = "A layer of expert MLPs, with token dispatch and combine";
  let description = [{
    `input` is `[T, D]`; `gate_weights` and `gate_indices` (`[T, k]`, from
    `soap.topk_gate`) route each token to k of the E experts. Expert e computes
    `act(x . w1[e]) . w2[e]` with `w1 : [E, D, F]` and `w2 : [E, F, D]`; the
    result `[T, D]` sums the experts' outputs weighted by the gate. Each expert
    takes at most `min(T, ceil(capacity_factor * T * k / E))` tokens (GShard's
    capacity); the overflow is dropped.

    Dimensions: `batch` (sample, tokens) and `expert` (parameter: expert
    parallelism, an all-to-all dispatch and combine).

    ```mlir
    %y = soap.experts %x, %w, %i, %w1, %w2 {capacity_factor = 1.25 : f64}
        : (tensor<1024x512xf32>, tensor<1024x2xf32>, tensor<1024x2xi64>,
           tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<1024x512xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$input, Soap_FloatTensor:$gate_weights,
                       Soap_IndexTensor:$gate_indices, Soap_FloatTensor:$w1,
                       Soap_FloatTensor:$w2,
                       DefaultValuedAttr<F64Attr, "1.0">:$capacity_factor,
                       DefaultValuedAttr<Soap_Activation,
                                         "::soap::Activation::relu">:$activation);
  let results = (outs Soap_FloatTensor:$result);
  let extraClassDeclaration = [{
    /// Tokens each expert takes at most.
    int64_t getCapacity();
  }];
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

def Soap_SoftmaxCrossEntropyOp : Soap_ComputeOp<"softmax_cross_entropy",
    ["getBackwardFlops"]> {
  let summary = "Softmax cross-entropy of logits against class labels";
  let description = [{
    `logits` is `[..., C]` and `labels` is the integer tensor `[...]` of class
    indices. Position i's loss is `w_i * (logsumexp(z_i) - z_i[label_i])`,
    where `w_i` is `weight[label_i]` with the optional class weights `weight`
    (`[C]`, the logits' element type) and 1 without. A position whose label
    is `ignore_index` has `w_i = 0`; a label outside `[0, C)` that is not
    `ignore_index` contributes no loss (and weight 0 when `weight` is given).

    `reduction` (ONNX's and PyTorch's): `mean` (when absent) is the sum of
    the losses divided by the sum of the `w_i` (by the position count when
    there is neither `weight` nor `ignore_index`), `sum` their sum (both
    rank 0), `none` the per-position losses, shaped like `labels`.

    Dimensions: `batch` (sample: a split batch sums partial losses, or
    splits the `none` result), except for `mean` with `weight` or
    `ignore_index`, whose divisor depends on every shard's labels: that
    form is not split.

    ```mlir
    %l = soap.softmax_cross_entropy %logits, %labels
        : (tensor<32x1000xf32>, tensor<32xi64>) -> tensor<f32>
    %n = soap.softmax_cross_entropy %logits, %labels, %w
        {ignore_index = -1 : i64, reduction = "none"}
        : (tensor<32x10xf32>, tensor<32xi64>, tensor<10xf32>) -> tensor<32xf32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$logits, Soap_IndexTensor:$labels,
                       Optional<Soap_FloatTensor>:$weight,
                       OptionalAttr<StrAttr>:$reduction,
                       OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs Soap_FloatTensor:$result);
  let extraClassDeclaration = [{
    /// `reduction`, "mean" when absent.
    ::llvm::StringRef getReductionKind() {
      return getReduction().value_or("mean");
    }
    /// Whether the mean divides by a data-dependent sum of weights (class
    /// weights or ignore_index) rather than by the position count.
    bool hasWeightedMean();
  }];
}

def Soap_MseLossOp : Soap_ComputeOp<"mse_loss", ["getBackwardFlops"]> {
  let summary = "Mean squared error";
  let description = [{
    `prediction` and `target` have the same type; the result is the mean of
    the squared differences, rank 0. Dimensions: `batch` (sample).

    ```mlir
    %l = soap.mse_loss %y, %t : (tensor<32x1xf32>, tensor<32x1xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Soap_FloatTensor:$prediction, Soap_FloatTensor:$target);
  let results = (outs Soap_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Parallel ops (inserted by lowering; FlexFlow/Unity's parallel operators)
//===----------------------------------------------------------------------===//
//
// They act on the sharding of a value, not on its logical contents: the
// result type is the operand type. `degree` is the number of shards (or
// replicas) the op creates or removes.

class Soap_DimParallelOp<string mnemonic, string what>
    : Soap_Op<mnemonic, [Pure, SameOperandsAndResultType]> {
  let summary = what;
  let arguments = (ins Soap_AnyTensor:$input, I64Attr:$dim, I64Attr:$degree);
  let results = (outs Soap_AnyTensor:$result);
  let assemblyFormat =
      "$input `dim` $dim `degree` $degree attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Soap_RepartitionOp : Soap_DimParallelOp<"repartition",
    "Split a tensor's dimension into `degree` shards"> {
  let description = [{
    Each shard of the input is cut along `dim` into `degree` parts (degree
    divides the dimension); the parts go to `degree` times as many devices.

    ```mlir
    %y = soap.repartition %x dim 0 degree 4 : tensor<32x256xf32>
    ```
  }];
}

def Soap_CombineOp : Soap_DimParallelOp<"combine",
    "Gather `degree` shards of a dimension back together"> {
  let description = [{
    The inverse of `soap.repartition`: the shards along `dim` are gathered
    (an all-gather, or a gather to fewer devices).

    ```mlir
    %y = soap.combine %x dim 1 degree 2 : tensor<32x256xf32>
    ```
  }];
}

class Soap_ReplicaParallelOp<string mnemonic, string what>
    : Soap_Op<mnemonic, [Pure, SameOperandsAndResultType]> {
  let summary = what;
  let arguments = (ins Soap_AnyTensor:$input, I64Attr:$degree);
  let results = (outs Soap_AnyTensor:$result);
  let assemblyFormat = "$input `degree` $degree attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Soap_ReplicateOp : Soap_ReplicaParallelOp<"replicate",
    "Copy a tensor to `degree` replicas"> {
  let description = [{
    Broadcasts every shard to `degree` devices. Its backward is a `reduce`.

    ```mlir
    %y = soap.replicate %w degree 4 : tensor<256x256xf32>
    ```
  }];
}

def Soap_ReduceOp : Soap_ReplicaParallelOp<"reduce",
    "Sum `degree` partial tensors into one"> {
  let description = [{
    The `degree` replicas hold partial sums (from a split reduction
    dimension); the result is their sum on one replica set (a reduce or a
    reduce-scatter).

    ```mlir
    %y = soap.reduce %partial degree 2 : tensor<32x256xf32>
    ```
  }];
}

def Soap_AllReduceOp : Soap_ReplicaParallelOp<"all_reduce",
    "Sum `degree` partial tensors, leaving the sum on every replica"> {
  let description = [{
    `reduce` followed by `replicate`, fused: what synchronizes the gradients
    of replicated weights and the output of row-parallel layers.

    ```mlir
    %y = soap.all_reduce %partial degree 8 : tensor<1024x1024xf32>
    ```
  }];
}

#endif // SOAP_DIALECT_SOAP_SOAPOPS_TD
