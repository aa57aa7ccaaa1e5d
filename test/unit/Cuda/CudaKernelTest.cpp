//===- CudaKernelTest.cpp - each CUDA kernel against the CPU kernel -------===//
//
// Every op the CUDA backend runs, forward and backward, bound from the same
// plan task by the CPU backend (KernelCalls.cpp) and by the CUDA backend
// (CudaBackend.cpp), on the same random buffers: every buffer the task
// writes must agree. Outputs start random too, so a backward that
// overwrites instead of accumulating fails.
//
// Tolerance (f32): max |gpu - cpu| <= 1e-5 * max |cpu| + 1e-6 (summation
// orders differ: cuBLAS vs OpenBLAS, warp trees vs the CPU's lanes).
// bf16 GEMMs: 1e-2 * max |cpu| (operands rounded to 8 significant bits;
// sums of K = 64 products stay within ~4e-3 relative).
//
// Skipped (reported as skipped) without a CUDA device.
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Backend.h"
#include "soap/Runtime/Cuda/CudaBackend.h"
#include "soap/Runtime/Cuda/Device.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>

using namespace soap;
using namespace soap::runtime;

namespace {

bool haveDevice(std::string &why) {
  return !soap::cuda::listDevices(&why).empty();
}

#define SKIP_WITHOUT_DEVICE()                                                  \
  do {                                                                         \
    std::string why_;                                                          \
    if (!haveDevice(why_))                                                     \
      GTEST_SKIP() << "no CUDA device: " << why_;                              \
  } while (0)

/// The buffers of one task, twice (CPU and GPU copies of the host memory).
class Case {
public:
  explicit Case(uint32_t seed = 1) : rng(seed) {}

  /// A float buffer, uniform in [lo, hi).
  int f32(std::vector<int64_t> shape, float lo = -1, float hi = 1) {
    int id = add(shape, DType::F32);
    std::uniform_real_distribution<float> d(lo, hi);
    float *p = reinterpret_cast<float *>(cpu[id].data());
    for (int64_t i = 0; i < numel(id); ++i)
      p[i] = d(rng);
    gpu[id] = cpu[id];
    return id;
  }
  /// An index buffer, uniform in [lo, hi).
  int ids(std::vector<int64_t> shape, int64_t lo, int64_t hi,
          DType dtype = DType::I64) {
    int id = add(shape, dtype);
    std::uniform_int_distribution<int64_t> d(lo, hi - 1);
    for (int64_t i = 0; i < numel(id); ++i) {
      int64_t v = d(rng);
      if (dtype == DType::I64)
        reinterpret_cast<int64_t *>(cpu[id].data())[i] = v;
      else
        reinterpret_cast<int32_t *>(cpu[id].data())[i] = static_cast<int32_t>(v);
    }
    gpu[id] = cpu[id];
    return id;
  }

  /// A double buffer of zeros (set with setF64).
  int f64(std::vector<int64_t> shape) {
    int id = add(shape, DType::F64);
    gpu[id] = cpu[id];
    return id;
  }
  void setF64(int id, const std::function<double(int64_t)> &value) {
    double *p = reinterpret_cast<double *>(cpu[id].data());
    for (int64_t i = 0; i < numel(id); ++i)
      p[i] = value(i);
    gpu[id] = cpu[id];
  }
  /// Every double buffer agrees within tol * max|cpu|.
  void expectCloseF64(double tol) {
    for (auto &[id, b] : buffers) {
      if (b->dtype != DType::F64)
        continue;
      const double *x = reinterpret_cast<const double *>(cpu[id].data());
      const double *y = reinterpret_cast<const double *>(gpu[id].data());
      double scale = 0, err = 0;
      for (int64_t i = 0; i < numel(id); ++i) {
        scale = std::max(scale, std::abs(x[i]));
        err = std::max(err, std::abs(x[i] - y[i]));
      }
      EXPECT_LE(err, tol * scale) << "buffer " << id << " (" << b->name << ")";
    }
  }

  PlanTask task;

  /// Binds `task` on both backends and runs it at each of `steps`; "" or
  /// what failed.
  std::string run(std::vector<int64_t> steps = {1}, std::string precision = "f32") {
    auto lookup = [this](std::map<int, std::vector<char>> &mem) {
      return [this, &mem](int id) -> BufferRef {
        auto it = buffers.find(id);
        if (it == buffers.end())
          return {};
        return {it->second.get(), mem[id].data()};
      };
    };
    std::unique_ptr<Backend> c = makeCpuBackend(lookup(cpu));
    KernelSettings settings;
    settings.optimizer = optimizer;
    settings.seed = 5;
    Thunk tc, tg;
    std::string e = c->bindKernel(task, settings, tc);
    if (!e.empty())
      return "cpu: " + e;
    soap::cuda::CudaBackendOptions o;
    o.precision = precision;
    o.device = 0;
    std::unique_ptr<Backend> g = soap::cuda::makeCudaBackend(o, lookup(gpu), e);
    if (!g)
      return "cuda: " + e;
    std::vector<BufferRef> all;
    for (auto &[id, b] : buffers)
      all.push_back({b.get(), gpu[id].data()});
    if (!(e = g->allocate(all)).empty())
      return "cuda allocate: " + e;
    for (auto &[id, b] : buffers)
      if (!(e = g->toDevice(id)).empty())
        return e;
    if (!(e = g->bindKernel(task, settings, tg)).empty())
      return "cuda: " + e;
    for (int64_t s : steps) {
      tc(s);
      tg(s);
    }
    if (!(e = g->synchronize()).empty())
      return "cuda: " + e;
    for (auto &[id, b] : buffers)
      if (!(e = g->toHost(id)).empty())
        return e;
    return "";
  }

  /// Binding on the CUDA backend alone: its error ("" when it binds).
  std::string bindGpuOnly() {
    std::string e;
    soap::cuda::CudaBackendOptions o;
    o.device = 0;
    std::unique_ptr<Backend> g = soap::cuda::makeCudaBackend(
        o,
        [this](int id) -> BufferRef {
          return {buffers[id].get(), gpu[id].data()};
        },
        e);
    if (!g)
      return "no backend: " + e;
    std::vector<BufferRef> all;
    for (auto &[id, b] : buffers)
      all.push_back({b.get(), gpu[id].data()});
    if (!(e = g->allocate(all)).empty())
      return e;
    Thunk t;
    KernelSettings s;
    return g->bindKernel(task, s, t);
  }

  /// Every float buffer agrees within tol * max|cpu| + floor.
  void expectClose(double tol = 1e-5, double floor = 1e-6) {
    for (auto &[id, b] : buffers) {
      if (b->dtype != DType::F32)
        continue;
      const float *x = reinterpret_cast<const float *>(cpu[id].data());
      const float *y = reinterpret_cast<const float *>(gpu[id].data());
      double scale = 0, err = 0;
      for (int64_t i = 0; i < numel(id); ++i) {
        scale = std::max(scale, std::abs(double(x[i])));
        if (std::isnan(y[i]) != std::isnan(x[i]))
          err = INFINITY;
        else if (!std::isnan(x[i]))
          err = std::max(err, std::abs(double(x[i]) - y[i]));
      }
      EXPECT_LE(err, tol * scale + floor)
          << "buffer " << id << " (" << b->name << "): max |gpu - cpu| " << err
          << ", max |cpu| " << scale;
    }
  }

  OptimizerSettings optimizer;

private:
  int add(const std::vector<int64_t> &shape, DType dtype) {
    int id = next++;
    auto b = std::make_unique<PlanBuffer>();
    b->id = id;
    b->name = "b" + std::to_string(id);
    b->dtype = dtype;
    b->shape = shape;
    cpu[id].assign(static_cast<size_t>(std::max<int64_t>(b->bytes(), 1)), 0);
    buffers[id] = std::move(b);
    return id;
  }
  int64_t numel(int id) { return buffers[id]->numElements(); }

  std::mt19937 rng;
  int next = 0;
  std::map<int, std::unique_ptr<PlanBuffer>> buffers;
  std::map<int, std::vector<char>> cpu, gpu;
};

PlanTask kernel(const std::string &kind, Phase phase, std::vector<int> inputs,
                std::vector<int> outputs) {
  PlanTask t;
  t.type = TaskType::Kernel;
  t.phase = phase;
  t.op = "op";
  t.kind = kind;
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  return t;
}

constexpr Phase F = Phase::Forward, B = Phase::Backward;

//===----------------------------------------------------------------------===//

TEST(CudaKernels, Linear) {
  SKIP_WITHOUT_DEVICE();
  for (bool bias : {true, false}) {
    Case c;
    int x = c.f32({3, 5, 16}), w = c.f32({16, 24}), b = bias ? c.f32({24}) : -1,
        y = c.f32({3, 5, 24});
    c.task = kernel("linear", F, {x, w, b}, {y});
    ASSERT_EQ(c.run(), "");
    c.expectClose();
  }
  Case c;
  int x = c.f32({3, 5, 16}), w = c.f32({16, 24}), b = c.f32({24}),
      dy = c.f32({3, 5, 24}), dx = c.f32({3, 5, 16}), dw = c.f32({16, 24}),
      db = c.f32({24});
  c.task = kernel("linear", B, {x, w, b, dy}, {dx, dw, db});
  ASSERT_EQ(c.run(), "");
  c.expectClose();
}

TEST(CudaKernels, LinearBf16) {
  SKIP_WITHOUT_DEVICE();
  Case c;
  int x = c.f32({32, 64}), w = c.f32({64, 48}), b = c.f32({48}),
      y = c.f32({32, 48});
  c.task = kernel("linear", F, {x, w, b}, {y});
  ASSERT_EQ(c.run({1}, "bf16"), "");
  c.expectClose(1e-2, 1e-3);
  Case d;
  x = d.f32({32, 64}), w = d.f32({64, 48}), b = d.f32({48});
  int dy = d.f32({32, 48}), dx = d.f32({32, 64}), dw = d.f32({64, 48}),
      db = d.f32({48});
  d.task = kernel("linear", B, {x, w, b, dy}, {dx, dw, db});
  ASSERT_EQ(d.run({1}, "bf16"), "");
  d.expectClose(1e-2, 1e-3);
}

TEST(CudaKernels, MatmulFoldedRegularAndBroadcast) {
  SKIP_WITHOUT_DEVICE();
  struct Shapes {
    std::vector<int64_t> a, b, y;
  };
  for (const Shapes &s : std::vector<Shapes>{
           {{2, 3, 8, 16}, {16, 12}, {2, 3, 8, 12}},    // rhs folds
           {{4, 8, 16}, {4, 16, 12}, {4, 8, 12}},       // strided batched
           {{2, 1, 8, 16}, {3, 16, 12}, {2, 3, 8, 12}}, // broadcast batch
           {{8, 16}, {2, 16, 12}, {2, 8, 12}}}) {        // lhs broadcast
    SCOPED_TRACE(testing::PrintToString(s.y));
    Case f;
    int a = f.f32(s.a), bb = f.f32(s.b), y = f.f32(s.y);
    f.task = kernel("matmul", F, {a, bb}, {y});
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case g;
    a = g.f32(s.a), bb = g.f32(s.b);
    int dy = g.f32(s.y), da = g.f32(s.a), db = g.f32(s.b);
    g.task = kernel("matmul", B, {a, bb, dy}, {da, db});
    ASSERT_EQ(g.run(), "");
    g.expectClose();
  }
}

TEST(CudaKernels, Unary) {
  SKIP_WITHOUT_DEVICE();
  for (const char *k : {"relu", "gelu", "sigmoid", "tanh", "exp", "log", "neg",
                        "sqrt", "erf"}) {
    SCOPED_TRACE(k);
    bool positive = std::strcmp(k, "log") == 0 || std::strcmp(k, "sqrt") == 0;
    float lo = positive ? 0.5f : -2.f, hi = 2.f;
    Case f;
    int x = f.f32({7, 33}, lo, hi), y = f.f32({7, 33});
    f.task = kernel(k, F, {x}, {y});
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case b;
    x = b.f32({7, 33}, lo, hi);
    int dy = b.f32({7, 33}), dx = b.f32({7, 33});
    b.task = kernel(k, B, {x, dy}, {dx});
    ASSERT_EQ(b.run(), "");
    b.expectClose();
  }
}

TEST(CudaKernels, BinaryBroadcast) {
  SKIP_WITHOUT_DEVICE();
  struct Shapes {
    std::vector<int64_t> a, b, y;
  };
  for (const char *k : {"add", "sub", "mul", "div"})
    for (const Shapes &s : std::vector<Shapes>{{{4, 6}, {4, 6}, {4, 6}},
                                               {{4, 1, 6}, {5, 1}, {4, 5, 6}},
                                               {{3, 8}, {8}, {3, 8}},
                                               {{2, 3, 4}, {1}, {2, 3, 4}}}) {
      SCOPED_TRACE(std::string(k) + " " + testing::PrintToString(s.y));
      Case f;
      int a = f.f32(s.a), b = f.f32(s.b, 0.5f, 2.f), y = f.f32(s.y);
      f.task = kernel(k, F, {a, b}, {y});
      ASSERT_EQ(f.run(), "");
      f.expectClose();
      Case g;
      a = g.f32(s.a), b = g.f32(s.b, 0.5f, 2.f);
      int dy = g.f32(s.y), da = g.f32(s.a), db = g.f32(s.b);
      g.task = kernel(k, B, {a, b, dy}, {da, db});
      ASSERT_EQ(g.run(), "");
      g.expectClose();
    }
}

TEST(CudaKernels, Softmax) {
  SKIP_WITHOUT_DEVICE();
  for (int64_t axis : {-1, 1, 0}) {
    SCOPED_TRACE(axis);
    Case f;
    int x = f.f32({3, 70, 5}, -4, 4), y = f.f32({3, 70, 5});
    f.task = kernel("softmax", F, {x}, {y});
    f.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case b;
    x = b.f32({3, 70, 5}, -4, 4);
    int dy = b.f32({3, 70, 5}), dx = b.f32({3, 70, 5});
    b.task = kernel("softmax", B, {x, dy}, {dx});
    b.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(b.run(), "");
    b.expectClose();
  }
}

TEST(CudaKernels, LayerNorm) {
  SKIP_WITHOUT_DEVICE();
  struct Case2 {
    std::vector<int64_t> x, p;
    int64_t axis;
  };
  for (const Case2 &s : std::vector<Case2>{{{6, 40}, {40}, -1},
                                           {{2, 3, 8}, {3, 8}, 1},
                                           {{4, 300}, {300}, -1}}) {
    SCOPED_TRACE(testing::PrintToString(s.x));
    Case f;
    int x = f.f32(s.x, -3, 3), g = f.f32(s.p), b = f.f32(s.p), y = f.f32(s.x);
    f.task = kernel("layer_norm", F, {x, g, b}, {y});
    f.task.attrs["axis"] = PlanAttr::ofInt(s.axis);
    f.task.attrs["epsilon"] = PlanAttr::ofFloat(1e-5);
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case c;
    x = c.f32(s.x, -3, 3), g = c.f32(s.p), b = c.f32(s.p);
    int dy = c.f32(s.x), dx = c.f32(s.x), dg = c.f32(s.p), db = c.f32(s.p);
    c.task = kernel("layer_norm", B, {x, g, b, dy}, {dx, dg, db});
    c.task.attrs["axis"] = PlanAttr::ofInt(s.axis);
    c.task.attrs["epsilon"] = PlanAttr::ofFloat(1e-5);
    ASSERT_EQ(c.run(), "");
    c.expectClose();
  }
}

TEST(CudaKernels, EmbeddingWithRowOffset) {
  SKIP_WITHOUT_DEVICE();
  for (DType dt : {DType::I64, DType::I32}) {
    // Rows [10, 30) of a 40-row vocabulary: ids outside give zero rows.
    Case f;
    int ids = f.ids({4, 9}, 0, 40, dt), table = f.f32({20, 12}),
        y = f.f32({4, 9, 12});
    f.task = kernel("embedding", F, {ids, table}, {y});
    f.task.attrs["row_offset"] = PlanAttr::ofInt(10);
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case b;
    ids = b.ids({4, 9}, 0, 40, dt), table = b.f32({20, 12});
    int dy = b.f32({4, 9, 12}), dt2 = b.f32({20, 12});
    b.task = kernel("embedding", B, {ids, table, dy}, {-1, dt2});
    b.task.attrs["row_offset"] = PlanAttr::ofInt(10);
    ASSERT_EQ(b.run(), "");
    b.expectClose();
  }
}

TEST(CudaKernels, SoftmaxCrossEntropy) {
  SKIP_WITHOUT_DEVICE();
  for (int64_t count : {0, 100}) {
    SCOPED_TRACE(count);
    Case f;
    // Labels in [-1, 50): -1 (outside [0, C)) contributes nothing.
    int z = f.f32({6, 7, 50}, -3, 3), l = f.ids({6, 7}, -1, 50),
        loss = f.f32({});
    f.task = kernel("softmax_cross_entropy", F, {z, l}, {loss});
    f.task.attrs["global_count"] = PlanAttr::ofInt(count);
    ASSERT_EQ(f.run(), "");
    f.expectClose();
    Case b;
    z = b.f32({6, 7, 50}, -3, 3), l = b.ids({6, 7}, -1, 50);
    int dl = b.f32({}, 0.5f, 2.f), dz = b.f32({6, 7, 50});
    b.task = kernel("softmax_cross_entropy", B, {z, l, dl}, {dz, -1});
    b.task.attrs["global_count"] = PlanAttr::ofInt(count);
    ASSERT_EQ(b.run(), "");
    b.expectClose();
  }
}

TEST(CudaKernels, MseLoss) {
  SKIP_WITHOUT_DEVICE();
  Case f;
  int p = f.f32({9, 31}), t = f.f32({9, 31}), loss = f.f32({});
  f.task = kernel("mse_loss", F, {p, t}, {loss});
  ASSERT_EQ(f.run(), "");
  f.expectClose();
  Case b;
  p = b.f32({9, 31}), t = b.f32({9, 31});
  int dl = b.f32({}), dp = b.f32({9, 31}), dt = b.f32({9, 31});
  b.task = kernel("mse_loss", B, {p, t, dl}, {dp, dt});
  b.task.attrs["global_count"] = PlanAttr::ofInt(500);
  ASSERT_EQ(b.run(), "");
  b.expectClose();
}

TEST(CudaKernels, Attention) {
  SKIP_WITHOUT_DEVICE();
  // Self-attention (q = k = v, one gradient buffer for all three) and cross
  // attention; causal with a query offset (a query shard); with and without
  // the saved intermediates; biases present or not.
  struct Setup {
    bool self, causal, saved, biases;
    int64_t queryOffset;
  };
  const int64_t Bn = 2, S = 5, T = 7, E = 12, P = 8, Eo = 6, H = 2;
  for (const Setup &u : std::vector<Setup>{{true, true, true, true, 0},
                                           {true, false, false, false, 0},
                                           {false, true, true, true, 3},
                                           {false, false, false, true, 0}}) {
    SCOPED_TRACE(testing::Message() << "self " << u.self << " causal "
                                    << u.causal << " saved " << u.saved);
    const int64_t t = u.self ? S : T;
    for (Phase ph : {F, B}) {
      Case c(ph == F ? 11 : 12);
      int q = c.f32({Bn, S, E}), k = u.self ? q : c.f32({Bn, t, E}),
          v = u.self ? q : c.f32({Bn, t, E});
      int wq = c.f32({E, P}), wk = c.f32({E, P}), wv = c.f32({E, P}),
          wo = c.f32({P, Eo});
      int bq = u.biases ? c.f32({P}) : -1, bk = u.biases ? c.f32({P}) : -1,
          bv = u.biases ? c.f32({P}) : -1, bo = u.biases ? c.f32({Eo}) : -1;
      std::vector<int> ops = {q, k, v, wq, wk, wv, wo, bq, bk, bv, bo};
      int saved = u.saved ? c.f32({Bn * (2 * S + 2 * t) * P}) : -1;
      if (ph == F) {
        int y = c.f32({Bn, S, Eo});
        c.task = kernel("attention", F, ops, {y, saved});
      } else {
        // The saved buffer must hold the forward's values: run it first on
        // both sides through a forward task of the same case.
        int dy = c.f32({Bn, S, Eo});
        std::vector<int> in = ops;
        in.push_back(saved);
        in.push_back(dy);
        int dq = c.f32({Bn, S, E});
        int dk = u.self ? dq : c.f32({Bn, t, E}), dv = u.self ? dq : c.f32({Bn, t, E});
        std::vector<int> outs = {dq, dk, dv, c.f32({E, P}), c.f32({E, P}),
                                 c.f32({E, P}), c.f32({P, Eo}),
                                 u.biases ? c.f32({P}) : -1,
                                 u.biases ? c.f32({P}) : -1,
                                 u.biases ? c.f32({P}) : -1,
                                 u.biases ? c.f32({Eo}) : -1};
        if (u.saved) {
          int y = c.f32({Bn, S, Eo});
          c.task = kernel("attention", F, ops, {y, saved});
          c.task.attrs["num_heads"] = PlanAttr::ofInt(H);
          c.task.attrs["causal"] = PlanAttr::ofBool(u.causal);
          c.task.attrs["query_offset"] = PlanAttr::ofInt(u.queryOffset);
          ASSERT_EQ(c.run(), "");
          c.expectClose();
        }
        c.task = kernel("attention", B, in, outs);
      }
      c.task.attrs["num_heads"] = PlanAttr::ofInt(H);
      c.task.attrs["causal"] = PlanAttr::ofBool(u.causal);
      c.task.attrs["query_offset"] = PlanAttr::ofInt(u.queryOffset);
      ASSERT_EQ(c.run(), "");
      c.expectClose();
    }
  }
}

TEST(CudaKernels, ReshapeAndTranspose) {
  SKIP_WITHOUT_DEVICE();
  Case f;
  int x = f.f32({4, 6, 5}), y = f.f32({24, 5});
  f.task = kernel("reshape", F, {x}, {y});
  ASSERT_EQ(f.run(), "");
  f.expectClose(0, 0);
  Case b;
  int dy = b.f32({24, 5}), dx = b.f32({4, 6, 5});
  b.task = kernel("flatten", B, {b.f32({4, 6, 5}), dy}, {dx});
  ASSERT_EQ(b.run(), "");
  b.expectClose(0, 0);
  Case t;
  x = t.f32({4, 6, 5}), y = t.f32({5, 4, 6});
  t.task = kernel("transpose", F, {x}, {y});
  t.task.attrs["permutation"] = PlanAttr::ofInts({2, 0, 1});
  ASSERT_EQ(t.run(), "");
  t.expectClose(0, 0);
  Case u;
  x = u.f32({4, 6, 5}), dy = u.f32({5, 4, 6}), dx = u.f32({4, 6, 5});
  u.task = kernel("transpose", B, {x, dy}, {dx});
  u.task.attrs["permutation"] = PlanAttr::ofInts({2, 0, 1});
  ASSERT_EQ(u.run(), "");
  u.expectClose(0, 0);
}

TEST(CudaKernels, ConcatSplitSlice) {
  SKIP_WITHOUT_DEVICE();
  for (int64_t axis : {1, -1}) {
    SCOPED_TRACE(axis);
    std::vector<int64_t> a = {3, 2, 4}, b = {3, 5, 4}, w = {3, 7, 4};
    if (axis == -1)
      a = {3, 7, 1}, b = {3, 7, 3}, w = {3, 7, 4};
    Case f;
    int x0 = f.f32(a), x1 = f.f32(b), y = f.f32(w);
    f.task = kernel("concat", F, {x0, x1}, {y});
    f.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(f.run(), "");
    f.expectClose(0, 0);
    Case g;
    x0 = g.f32(a), x1 = g.f32(b);
    int dy = g.f32(w), d0 = g.f32(a), d1 = g.f32(b);
    g.task = kernel("concat", B, {x0, x1, dy}, {d0, d1});
    g.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(g.run(), "");
    g.expectClose(0, 0);
    Case h;
    int x = h.f32(w), y0 = h.f32(a), y1 = h.f32(b);
    h.task = kernel("split", F, {x}, {y0, y1});
    h.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(h.run(), "");
    h.expectClose(0, 0);
    Case k;
    x = k.f32(w);
    int dy0 = k.f32(a), dy1 = k.f32(b), dx = k.f32(w);
    k.task = kernel("split", B, {x, dy0, dy1}, {dx});
    k.task.attrs["axis"] = PlanAttr::ofInt(axis);
    ASSERT_EQ(k.run(), "");
    k.expectClose(0, 0);
  }
  // x[1:5:2, 6:0:-3, :] of a [6, 8, 3] tensor: [2, 2, 3].
  for (Phase ph : {F, B}) {
    Case c;
    int x = c.f32({6, 8, 3}), y = c.f32({2, 2, 3});
    c.task = ph == F ? kernel("slice", F, {x}, {y})
                     : kernel("slice", B, {c.f32({6, 8, 3}), y}, {x});
    c.task.attrs["starts"] = PlanAttr::ofInts({1, 6, 0});
    c.task.attrs["ends"] = PlanAttr::ofInts({5, 0, 3});
    c.task.attrs["steps"] = PlanAttr::ofInts({2, -3, 1});
    ASSERT_EQ(c.run(), "");
    c.expectClose(0, 0);
  }
}

TEST(CudaKernels, Reductions) {
  SKIP_WITHOUT_DEVICE();
  struct Case2 {
    std::vector<int64_t> axes, y;
  };
  for (const char *k : {"reduce_sum", "reduce_mean", "reduce_max"})
    for (const Case2 &r : std::vector<Case2>{{{1}, {4, 6}},
                                             {{0, 2}, {5}},
                                             {{-1}, {4, 5}},
                                             {{0, 1, 2}, {}}}) {
      SCOPED_TRACE(std::string(k) + " " + testing::PrintToString(r.axes));
      Case f;
      int x = f.f32({4, 5, 6}), y = f.f32(r.y);
      f.task = kernel(k, F, {x}, {y});
      f.task.attrs["axes"] = PlanAttr::ofInts(r.axes);
      ASSERT_EQ(f.run(), "");
      f.expectClose();
      Case b;
      x = b.f32({4, 5, 6});
      int dy = b.f32(r.y), dx = b.f32({4, 5, 6});
      b.task = kernel(k, B, {x, dy}, {dx});
      b.task.attrs["axes"] = PlanAttr::ofInts(r.axes);
      ASSERT_EQ(b.run(), "");
      b.expectClose();
    }
}

TEST(CudaKernels, Conv2d) {
  SKIP_WITHOUT_DEVICE();
  struct Conv {
    int64_t cin, cout, groups, k, stride, dilation;
    std::vector<int64_t> padding;
    bool bias;
  };
  const int64_t N = 2, H = 9, W = 8;
  for (const Conv &v : std::vector<Conv>{{3, 4, 1, 3, 1, 1, {1, 1, 1, 1}, true},
                                         {4, 6, 2, 3, 2, 1, {0, 1, 2, 0}, true},
                                         {4, 4, 4, 3, 1, 2, {2, 2, 2, 2}, false},
                                         {5, 3, 1, 1, 1, 1, {0, 0, 0, 0}, true}}) {
    SCOPED_TRACE(testing::Message() << "cin " << v.cin << " groups " << v.groups
                                    << " k " << v.k << " stride " << v.stride);
    const int64_t ek = (v.k - 1) * v.dilation + 1;
    const int64_t OH = (H + v.padding[0] + v.padding[2] - ek) / v.stride + 1,
                  OW = (W + v.padding[1] + v.padding[3] - ek) / v.stride + 1;
    for (Phase ph : {F, B}) {
      Case c;
      int x = c.f32({N, v.cin, H, W}),
          w = c.f32({v.cout, v.cin / v.groups, v.k, v.k}),
          b = v.bias ? c.f32({v.cout}) : -1;
      if (ph == F) {
        c.task = kernel("conv2d", F, {x, w, b}, {c.f32({N, v.cout, OH, OW})});
      } else {
        int dy = c.f32({N, v.cout, OH, OW});
        c.task = kernel("conv2d", B, {x, w, b, dy},
                        {c.f32({N, v.cin, H, W}),
                         c.f32({v.cout, v.cin / v.groups, v.k, v.k}),
                         v.bias ? c.f32({v.cout}) : -1});
      }
      c.task.attrs["strides"] = PlanAttr::ofInts({v.stride, v.stride});
      c.task.attrs["dilations"] = PlanAttr::ofInts({v.dilation, v.dilation});
      c.task.attrs["padding"] = PlanAttr::ofInts(v.padding);
      c.task.attrs["groups"] = PlanAttr::ofInt(v.groups);
      ASSERT_EQ(c.run(), "");
      c.expectClose();
    }
  }
}

TEST(CudaKernels, Pool2d) {
  SKIP_WITHOUT_DEVICE();
  for (const char *kind : {"max", "avg"})
    for (bool includePad : {false, true}) {
      SCOPED_TRACE(std::string(kind) + (includePad ? " include pad" : ""));
      // 3x3 windows, stride 2, padding (1, 0, 1, 1) over 9x8 planes: 5x4.
      for (Phase ph : {F, B}) {
        Case c;
        int x = c.f32({2, 3, 9, 8}), y = c.f32({2, 3, 5, 4});
        c.task = ph == F ? kernel("pool2d", F, {x}, {y})
                         : kernel("pool2d", B, {x, y}, {c.f32({2, 3, 9, 8})});
        c.task.attrs["kind"] = PlanAttr::ofString(kind);
        c.task.attrs["kernel"] = PlanAttr::ofInts({3, 3});
        c.task.attrs["strides"] = PlanAttr::ofInts({2, 2});
        c.task.attrs["padding"] = PlanAttr::ofInts({1, 0, 1, 1});
        if (includePad)
          c.task.attrs["count_include_pad"] = PlanAttr::ofBool(true);
        ASSERT_EQ(c.run(), "");
        c.expectClose();
      }
    }
}

TEST(CudaKernels, BatchNormPhases) {
  SKIP_WITHOUT_DEVICE();
  const int64_t N = 3, C = 4, H = 5, W = 6, count = 2 * N * H * W;
  auto phase = [&](Case &c, Phase ph, const char *part, std::vector<int> in,
                   std::vector<int> out) {
    c.task = kernel("batch_norm", ph, std::move(in), std::move(out));
    c.task.part = part;
    c.task.attrs["count"] = PlanAttr::ofInt(count);
    c.task.attrs["epsilon"] = PlanAttr::ofFloat(1e-5);
    c.task.attrs["momentum"] = PlanAttr::ofFloat(0.1);
  };
  // Forward: local sums; normalize with given global sums (count is twice
  // the shard's, as after an all-reduce over two shards).
  Case s;
  int x = s.f32({N, C, H, W}, -2, 3);
  int st = s.f64({2, C});
  phase(s, F, "stats", {x}, {st});
  ASSERT_EQ(s.run(), "");
  s.expectCloseF64(1e-12);
  Case n;
  x = n.f32({N, C, H, W}, -2, 3);
  int scale = n.f32({C}), bias = n.f32({C});
  st = n.f64({2, C});
  int y = n.f32({N, C, H, W}), saved = n.f32({2, C}), run = n.f32({2, C}, 0, 1);
  // Plausible sums: sum in [-1, 1) * count, sum of squares large enough.
  n.setF64(st, [&](int64_t i) { return i < C ? 0.1 * count * (i - 1.5)
                                             : 2.0 * count; });
  phase(n, F, "normalize", {x, scale, bias, st}, {y, saved, run});
  ASSERT_EQ(n.run(), "");
  n.expectClose();
  // Backward: local sums, parameters, input.
  Case bs;
  x = bs.f32({N, C, H, W}, -2, 3);
  int dy = bs.f32({N, C, H, W}), sv = bs.f32({2, C}, 0.5, 1.5);
  int bsum = bs.f64({2, C});
  phase(bs, B, "stats", {x, dy, sv}, {bsum});
  ASSERT_EQ(bs.run(), "");
  bs.expectCloseF64(1e-9);
  Case bp;
  bsum = bp.f64({2, C});
  bp.setF64(bsum, [&](int64_t i) { return 0.37 * (i + 1) - 1.0; });
  int ds = bp.f32({C}), db = bp.f32({C});
  phase(bp, B, "params", {bsum}, {ds, db});
  ASSERT_EQ(bp.run(), "");
  bp.expectClose();
  Case bi;
  x = bi.f32({N, C, H, W}, -2, 3), dy = bi.f32({N, C, H, W});
  scale = bi.f32({C}), sv = bi.f32({2, C}, 0.5, 1.5);
  bsum = bi.f64({2, C});
  bi.setF64(bsum, [&](int64_t i) { return 0.37 * (i + 1) - 1.0; });
  int dx = bi.f32({N, C, H, W});
  phase(bi, B, "input", {x, dy, scale, sv, bsum}, {dx});
  ASSERT_EQ(bi.run(), "");
  bi.expectClose();
}

TEST(CudaKernels, DropoutMaskIsTheCpuMask) {
  SKIP_WITHOUT_DEVICE();
  for (Phase ph : {F, B}) {
    Case c;
    // A [3, 8] shard at (2, 4) of a [6, 16] tensor; steps 1 and 2.
    int x = c.f32({3, 8}), dy = c.f32({3, 8}), y = c.f32({3, 8});
    c.task = ph == F ? kernel("dropout", F, {x}, {y})
                     : kernel("dropout", B, {x, dy}, {y});
    c.task.attrs["ratio"] = PlanAttr::ofFloat(0.3);
    c.task.attrs["seed"] = PlanAttr::ofInt(42);
    c.task.attrs["salt"] = PlanAttr::ofInt(3);
    c.task.attrs["global_shape"] = PlanAttr::ofInts({6, 16});
    c.task.attrs["offset"] = PlanAttr::ofInts({2, 4});
    ASSERT_EQ(c.run({1, 2}), "");
    c.expectClose(1e-7, 0);
  }
}

TEST(CudaKernels, SgdAndAdamUpdates) {
  SKIP_WITHOUT_DEVICE();
  for (double wd : {0.0, 0.01}) {
    for (bool nesterov : {false, true}) {
      Case c;
      c.optimizer.kind = OptimizerSettings::Kind::Sgd;
      c.optimizer.lr = 0.1;
      c.optimizer.momentum = 0.9;
      c.optimizer.nesterov = nesterov;
      c.optimizer.weightDecay = wd;
      int p = c.f32({1000}), g = c.f32({1000}), m = c.f32({1000});
      c.task = kernel("sgd", Phase::Update, {p, g, m}, {});
      ASSERT_EQ(c.run({1, 2, 3}), "");
      c.expectClose();
    }
    for (bool decoupled : {false, true}) {
      Case c;
      c.optimizer.kind = OptimizerSettings::Kind::Adam;
      c.optimizer.lr = 1e-3;
      c.optimizer.weightDecay = wd;
      c.optimizer.decoupled = decoupled;
      int p = c.f32({1000}), g = c.f32({1000}), m = c.f32({1000}),
          v = c.f32({1000}, 0.f, 1.f);
      c.task = kernel("adam", Phase::Update, {p, g, m, v}, {});
      ASSERT_EQ(c.run({1, 2, 3}), "");
      c.expectClose();
    }
  }
}

TEST(CudaKernels, OpsWithoutCudaKernelAreRefusedAtBindTime) {
  SKIP_WITHOUT_DEVICE();
  Case c;
  int x = c.f32({2, 3, 8}), w = c.f32({8, 16}), u = c.f32({4, 16}),
      y = c.f32({2, 3, 4});
  c.task = kernel("lstm", F, {x, w, u, -1}, {y, -1});
  c.task.op = "rnn1";
  std::string e = c.bindGpuOnly();
  EXPECT_NE(e.find("no CUDA kernel for 'lstm'"), std::string::npos) << e;
  EXPECT_NE(e.find("rnn1"), std::string::npos) << e;
  c.task.kind = "topk_gate";
  e = c.bindGpuOnly();
  EXPECT_NE(e.find("no CUDA kernel for 'topk_gate'"), std::string::npos) << e;
  // A grouped convolution's output-channel shard (input_channels).
  Case d;
  int xi = d.f32({2, 4, 8, 8}), wi = d.f32({2, 2, 3, 3}), yi = d.f32({2, 2, 6, 6});
  d.task = kernel("conv2d", F, {xi, wi, -1}, {yi});
  d.task.attrs["groups"] = PlanAttr::ofInt(1);
  d.task.attrs["input_channels"] = PlanAttr::ofInts({0, 2});
  e = d.bindGpuOnly();
  EXPECT_NE(e.find("input_channels"), std::string::npos) << e;
}

} // namespace
