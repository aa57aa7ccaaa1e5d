//===- Dense.cpp - soap.linear and soap.matmul ----------------------------===//

#include "soap/Runtime/Cpu/Dense.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "Internal.h"

namespace soap::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

void linear::forward(ConstFloatView x, ConstFloatView w, ConstFloatView b,
                     FloatView y) {
  int64_t k = w.dim(0), n = w.dim(1), m = x.numel() / k;
  assert(x.isContiguous() && y.isContiguous() && y.numel() == m * n);
  if (b) {
    // y = broadcast(b), then one GEMM with beta = 1.
    parallelRange(m, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        std::copy(b.data, b.data + n, y.data + r * n);
    });
    gemm(false, false, m, n, k, 1.0f, x.data, k, w.data, n, 1.0f, y.data, n);
    return;
  }
  gemm(false, false, m, n, k, 1.0f, x.data, k, w.data, n, 0.0f, y.data, n);
}

void linear::backward(ConstFloatView x, ConstFloatView w, ConstFloatView dy,
                      FloatView dx, FloatView dw, FloatView db) {
  int64_t k = w.dim(0), n = w.dim(1), m = x.numel() / k;
  if (dx)
    gemm(false, true, m, k, n, 1.0f, dy.data, n, w.data, n, 1.0f, dx.data, k);
  if (dw)
    gemm(true, false, k, n, m, 1.0f, x.data, k, dy.data, n, 1.0f, dw.data, n);
  if (db)
    columnSums(dy.data, m, n, db.data);
}

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

namespace {
/// The batch structure of a broadcast batched product.
struct BatchedProduct {
  int64_t m, k, n;
  Shape batch;                  // broadcast batch shape
  int64_t aBatch, bBatch;       // batch elements of each operand
  int64_t aStride[kMaxRank] = {}, bStride[kMaxRank] = {}; // matrix strides
  int64_t count;                // batch elements of the result

  BatchedProduct(const ConstFloatView &a, const ConstFloatView &b) {
    m = a.dim(a.rank() - 2);
    k = a.dim(a.rank() - 1);
    n = b.dim(b.rank() - 1);
    Shape ab = a.shape, bb = b.shape;
    ab.rank -= 2;
    bb.rank -= 2;
    bool ok = broadcastShapes(ab, bb, batch);
    assert(ok && "matmul batch axes do not broadcast");
    (void)ok;
    aBatch = ab.numel();
    bBatch = bb.numel();
    count = batch.numel();
    // Matrix-index strides of each operand over the broadcast batch shape.
    int64_t sa = 1, sb = 1;
    for (int i = batch.rank - 1; i >= 0; --i) {
      int ia = i - (batch.rank - ab.rank), ib = i - (batch.rank - bb.rank);
      int64_t da = ia >= 0 ? ab.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
      aStride[i] = da == 1 ? 0 : sa;
      bStride[i] = db == 1 ? 0 : sb;
      sa *= da;
      sb *= db;
    }
  }

  /// The matrix index of a and of b for result batch element `i`.
  void operands(int64_t i, int64_t &ai, int64_t &bi) const {
    ai = bi = 0;
    for (int d = batch.rank - 1; d >= 0; --d) {
      int64_t idx = i % batch.dims[d];
      i /= batch.dims[d];
      ai += idx * aStride[d];
      bi += idx * bStride[d];
    }
  }
};
} // namespace

void matmul::forward(ConstFloatView a, ConstFloatView b, FloatView y) {
  assert(a.isContiguous() && b.isContiguous() && y.isContiguous());
  BatchedProduct p(a, b);
  if (p.bBatch == 1 && p.aBatch == p.count) {
    // [batch * M, K] . [K, N] in one GEMM.
    gemm(false, false, p.count * p.m, p.n, p.k, 1.0f, a.data, p.k, b.data, p.n,
         0.0f, y.data, p.n);
    return;
  }
  for (int64_t i = 0; i < p.count; ++i) {
    int64_t ai, bi;
    p.operands(i, ai, bi);
    gemm(false, false, p.m, p.n, p.k, 1.0f, a.data + ai * p.m * p.k, p.k,
         b.data + bi * p.k * p.n, p.n, 0.0f, y.data + i * p.m * p.n, p.n);
  }
}

void matmul::backward(ConstFloatView a, ConstFloatView b, ConstFloatView dy,
                      FloatView da, FloatView db) {
  BatchedProduct p(a, b);
  bool foldB = p.bBatch == 1 && p.aBatch == p.count;
  if (da) {
    if (foldB) {
      gemm(false, true, p.count * p.m, p.k, p.n, 1.0f, dy.data, p.n, b.data,
           p.n, 1.0f, da.data, p.k);
    } else {
      // A broadcast a receives several products into the same slot, in order.
      for (int64_t i = 0; i < p.count; ++i) {
        int64_t ai, bi;
        p.operands(i, ai, bi);
        gemm(false, true, p.m, p.k, p.n, 1.0f, dy.data + i * p.m * p.n, p.n,
             b.data + bi * p.k * p.n, p.n, 1.0f, da.data + ai * p.m * p.k, p.k);
      }
    }
  }
  if (db) {
    if (foldB) {
      // sum_i a_i^T dy_i = [batch * M, K]^T . [batch * M, N].
      gemm(true, false, p.k, p.n, p.count * p.m, 1.0f, a.data, p.k, dy.data,
           p.n, 1.0f, db.data, p.n);
    } else {
      for (int64_t i = 0; i < p.count; ++i) {
        int64_t ai, bi;
        p.operands(i, ai, bi);
        gemm(true, false, p.k, p.n, p.m, 1.0f, a.data + ai * p.m * p.k, p.k,
             dy.data + i * p.m * p.n, p.n, 1.0f, db.data + bi * p.k * p.n, p.n);
      }
    }
  }
}

} // namespace soap::cpu
