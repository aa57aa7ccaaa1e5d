//===- Sequence.h - embedding, attention and LSTM on CPU --------*- C++ -*-===//
//
// Conventions: soap/Runtime/Cpu/Kernels.h.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CPU_SEQUENCE_H
#define SOAP_RUNTIME_CPU_SEQUENCE_H

#include "soap/Runtime/Cpu/Tensor.h"

namespace soap::cpu {

/// soap.embedding: y[..., D] = table[indices[...]]. A vocabulary shard holds
/// rows [rowOffset, rowOffset + V) of the global table: indices outside it
/// give zero rows (forward) and no gradient (backward), so the shards'
/// outputs sum to the whole lookup (Megatron's vocabulary parallelism). A
/// `dim` shard passes its [V, D/p] columns and needs nothing else.
namespace embedding {
void forward(IndexView indices, ConstFloatView table, FloatView y,
             int64_t rowOffset = 0);
/// dTable[indices[i] - rowOffset] += dy[i] for the indices in the shard.
void backward(IndexView indices, ConstFloatView dy, FloatView dTable,
              int64_t rowOffset = 0);
} // namespace embedding

/// soap.attention: q [B, S, E], k [B, T, Ek], v [B, T, Ev]; projections
/// wq [E, P], wk [Ek, P], wv [Ev, P], wo [P, Eo]; optional biases bq, bk, bv
/// [P] and bo [Eo]; y [B, S, Eo]. P = numHeads * headDim and the scores are
/// scaled by 1 / sqrt(headDim).
///
/// Shards: a head shard (Megatron) passes its column slices of wq, wk, wv
/// (and biases), its row slice of wo, its local head count, and the bias bo
/// on one shard only: its y is a partial sum. A sequence (query) shard passes
/// its query rows and the global position of the first one as queryOffset,
/// which the causal mask uses (position i sees keys j <= i).
namespace attention {
struct Params {
  /// Heads in this shard's projections.
  int64_t numHeads = 1;
  bool causal = false;
  /// Global position of the shard's first query row (causal masking only).
  int64_t queryOffset = 0;
};
/// Floats of the optional `saved` buffer: the projected Q, K, V and the
/// attention output before wo ([B, S, P], [B, T, P], [B, T, P], [B, S, P]).
int64_t savedSize(int64_t batch, int64_t s, int64_t t, int64_t p);
/// `saved` (nullable) receives the intermediates for backward.
void forward(ConstFloatView q, ConstFloatView k, ConstFloatView v,
             ConstFloatView wq, ConstFloatView wk, ConstFloatView wv,
             ConstFloatView wo, ConstFloatView bq, ConstFloatView bk,
             ConstFloatView bv, ConstFloatView bo, FloatView y,
             const Params &p, float *saved = nullptr);
/// Gradients of every input and parameter. `saved` (nullable) is forward's;
/// without it the projections and attention are recomputed. dq, dk and dv
/// may be the same buffer (self-attention: q = k = v), since they
/// accumulate one after the other.
struct Grads {
  FloatView dq, dk, dv, dwq, dwk, dwv, dwo, dbq, dbk, dbv, dbo;
};
void backward(ConstFloatView q, ConstFloatView k, ConstFloatView v,
              ConstFloatView wq, ConstFloatView wk, ConstFloatView wv,
              ConstFloatView wo, ConstFloatView bq, ConstFloatView bk,
              ConstFloatView bv, ConstFloatView dy, const Grads &g,
              const Params &p, const float *saved = nullptr);
} // namespace attention

/// soap.lstm: x [B, T, I], wIh [I, 4H], wHh [H, 4H], optional bias [4H],
/// gates ordered i, f, g, o; zero initial state; y [B, T, H] holds every
/// step's hidden state. One GEMM for all input projections, one per step for
/// the recurrence; backward is BPTT with one GEMM per step and one for each
/// weight.
namespace lstm {
/// Floats of the optional `saved` buffer: activated gates [B, T, 4H], cell
/// states [B, T, H] and hidden states [B, T, H].
int64_t savedSize(int64_t batch, int64_t t, int64_t hidden);
void forward(ConstFloatView x, ConstFloatView wIh, ConstFloatView wHh,
             ConstFloatView bias, FloatView y, float *saved = nullptr);
/// `saved` (nullable) is forward's; without it the forward is recomputed.
void backward(ConstFloatView x, ConstFloatView wIh, ConstFloatView wHh,
              ConstFloatView bias, ConstFloatView dy, FloatView dx,
              FloatView dwIh, FloatView dwHh, FloatView dBias,
              const float *saved = nullptr);
} // namespace lstm

} // namespace soap::cpu

#endif // SOAP_RUNTIME_CPU_SEQUENCE_H
