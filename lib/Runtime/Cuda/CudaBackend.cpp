//===- CudaBackend.cpp - a rank's kernels on a GPU ------------------------===//
//
// The operand conventions are KernelCalls.cpp's (docs/plan-format.md):
// forward inputs = the op's operands, outputs = its results; backward inputs
// = the forward's inputs then the result gradient (last), outputs = one
// gradient per operand (-1: none); update inputs = (weight, gradient,
// optimizer states). Forward overwrites, backward accumulates.
//
// Row-major tensors on column-major cuBLAS: a row-major [R, C] matrix is a
// column-major [C, R] one with leading dimension C, so Y[M,N] = A[M,K] B[K,N]
// is the column-major product Y^T = B^T A^T: gemm(N, N, m = N, n = M, k = K,
// B, ld N, A, ld K, Y, ld N).
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Cuda/CudaBackend.h"

#include "Kernels.h"
#include "soap/Runtime/Transport.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#ifdef SOAP_HAVE_NCCL
#include <nccl.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

namespace soap::cuda {

using runtime::Backend;
using runtime::BufferRef;
using runtime::CollectiveGroup;
using runtime::KernelSettings;
using runtime::Thunk;

bool haveNccl() {
#ifdef SOAP_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

/// Control-channel tags of the NCCL bootstrap (the executor uses 1, 1 << 20
/// and 3 << 20 upwards).
constexpr int64_t kNcclIdTagBase = int64_t(5) << 20;
constexpr int64_t kNcclReadyTagBase = int64_t(7) << 20;

const char *blasName(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS:
    return "success";
  case CUBLAS_STATUS_NOT_INITIALIZED:
    return "not initialized";
  case CUBLAS_STATUS_ALLOC_FAILED:
    return "allocation failed";
  case CUBLAS_STATUS_INVALID_VALUE:
    return "invalid value";
  case CUBLAS_STATUS_ARCH_MISMATCH:
    return "architecture mismatch";
  case CUBLAS_STATUS_EXECUTION_FAILED:
    return "execution failed";
  case CUBLAS_STATUS_NOT_SUPPORTED:
    return "not supported";
  default:
    return "error";
  }
}

k::Dims dimsOf(const std::vector<int64_t> &shape) {
  k::Dims d;
  d.rank = static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size() && i < size_t(k::kMaxRank); ++i)
    d.d[i] = shape[i];
  return d;
}

int64_t product(const std::vector<int64_t> &s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to && i < s.size(); ++i)
    n *= s[i];
  return n;
}

/// What every thunk of a rank shares: the device, its stream and cuBLAS
/// handle, the first asynchronous error, the bf16 scratch.
struct Ctx {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  bool bf16 = false;
  std::string error;
  void *bf[2] = {nullptr, nullptr};
  size_t bfBytes[2] = {0, 0};

  void enter() { cudaSetDevice(device); }
  void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess && error.empty())
      error = std::string(what) + ": " + cudaGetErrorString(e);
  }
  void checkBlas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS && error.empty())
      error = std::string(what) + ": cuBLAS " + blasName(s);
  }
  /// bf16 scratch `which` of at least `elements` elements.
  void *bfScratch(int which, int64_t elements) {
    size_t bytes = static_cast<size_t>(elements) * 2;
    if (bytes > bfBytes[which]) {
      check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      cudaFree(bf[which]);
      bf[which] = nullptr;
      bfBytes[which] = 0;
      if (cudaMalloc(&bf[which], bytes) != cudaSuccess) {
        if (error.empty())
          error = "cannot allocate " + std::to_string(bytes) +
                  " bytes of bf16 scratch on the device";
        return nullptr;
      }
      bfBytes[which] = bytes;
    }
    return bf[which];
  }

  /// Column-major C = op(A) op(B) + beta C, `batch` times with the given
  /// strides (elements). f32: cublasSgemm; bf16: A and B rounded to bf16
  /// copies, f32 accumulation and output.
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t kk, const float *a,
            int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
            float beta, int64_t batch = 1, int64_t sa = 0, int64_t sb = 0,
            int64_t sc = 0, float alpha = 1.0f) {
    if (m == 0 || n == 0)
      return;
    const float one = alpha;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (kk == 0) {
      // C = beta C: nothing to add (beta is 0 only for fresh outputs, which
      // the callers zero-fill or overwrite).
      if (beta == 0.0f)
        for (int64_t i = 0; i < batch; ++i)
          for (int64_t col = 0; col < n; ++col)
            check(k::fill(c + i * sc + col * ldc, m, 0.0f, stream), "fill");
      return;
    }
    if (!bf16) {
      if (batch == 1)
        checkBlas(cublasSgemm(blas, oa, ob, int(m), int(n), int(kk), &one, a,
                              int(lda), b, int(ldb), &beta, c, int(ldc)),
                  "cublasSgemm");
      else
        checkBlas(cublasSgemmStridedBatched(blas, oa, ob, int(m), int(n),
                                            int(kk), &one, a, int(lda), sa, b,
                                            int(ldb), sb, &beta, c, int(ldc),
                                            sc, int(batch)),
                  "cublasSgemmStridedBatched");
      return;
    }
    // Elements each operand spans (column-major: up to the last row of its
    // last column, in the last batch).
    int64_t aCount = ((ta ? m : kk) - 1) * lda + (ta ? kk : m) + (batch - 1) * sa;
    int64_t bCount = ((tb ? kk : n) - 1) * ldb + (tb ? n : kk) + (batch - 1) * sb;
    void *a16 = bfScratch(0, aCount), *b16 = bfScratch(1, bCount);
    if (!a16 || !b16)
      return;
    check(k::toBf16(a, a16, aCount, stream), "bf16 copy");
    check(k::toBf16(b, b16, bCount, stream), "bf16 copy");
    if (batch == 1)
      checkBlas(cublasGemmEx(blas, oa, ob, int(m), int(n), int(kk), &one, a16,
                             CUDA_R_16BF, int(lda), b16, CUDA_R_16BF, int(ldb),
                             &beta, c, CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F,
                             CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx (bf16)");
    else
      checkBlas(cublasGemmStridedBatchedEx(
                    blas, oa, ob, int(m), int(n), int(kk), &one, a16,
                    CUDA_R_16BF, int(lda), sa, b16, CUDA_R_16BF, int(ldb), sb,
                    &beta, c, CUDA_R_32F, int(ldc), sc, int(batch),
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmStridedBatchedEx (bf16)");
  }
};

class CudaBackend final : public Backend {
public:
  CudaBackend(const CudaBackendOptions &o, std::function<BufferRef(int)> host)
      : options(o), host(std::move(host)) {}
  ~CudaBackend() override;

  std::string open();

  const char *name() const override { return "cuda"; }
  bool onHost() const override { return false; }
  std::string allocate(const std::vector<BufferRef> &host) override;
  std::string bindKernel(const PlanTask &task, const KernelSettings &settings,
                         Thunk &out) override;
  std::string bindFill(int id, double value, Thunk &out) override;
  std::string toDevice(int id) override;
  std::string toHost(int id) override;
  std::string synchronize() override;
  std::string setupCollectives(const Plan &plan, int rank,
                               runtime::Transport &transport,
                               double timeoutSeconds) override;
  bool runsCollective(const PlanTask &task) const override;
  std::string collective(const PlanTask &task,
                         const CollectiveGroup &group) override;

  /// Device scratch that lives as long as the backend.
  void *scratch(size_t bytes) {
    void *p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(bytes, 16)) != cudaSuccess)
      return nullptr;
    scratches.push_back(p);
    return p;
  }
  BufferRef dev(int id) const {
    auto it = devices.find(id);
    return it == devices.end() ? BufferRef{} : it->second;
  }

private:
  std::string bindUpdate(const PlanTask &t, const KernelSettings &s,
                         Thunk &out);

  CudaBackendOptions options;
  std::function<BufferRef(int)> host;
  Ctx ctx;
  void *arena = nullptr;
  std::map<int, BufferRef> devices;
  std::map<int, BufferRef> hosts;
  std::vector<void *> scratches;
  double timeoutSeconds = 60;
#ifdef SOAP_HAVE_NCCL
  std::map<int, ncclComm_t> comms; ///< plan communicator id -> NCCL
#endif
};

CudaBackend::~CudaBackend() {
  ctx.enter();
  if (ctx.stream)
    cudaStreamSynchronize(ctx.stream);
#ifdef SOAP_HAVE_NCCL
  for (auto &[id, c] : comms)
    ncclCommDestroy(c);
#endif
  if (ctx.blas)
    cublasDestroy(ctx.blas);
  for (void *p : scratches)
    cudaFree(p);
  cudaFree(ctx.bf[0]);
  cudaFree(ctx.bf[1]);
  cudaFree(arena);
  if (ctx.stream)
    cudaStreamDestroy(ctx.stream);
}

int localRank(int rank) {
  for (const char *v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                        "SLURM_LOCALID", "PMI_LOCAL_RANK"})
    if (const char *s = std::getenv(v))
      return std::atoi(s);
  return rank;
}

int localSize(int numRanks) {
  for (const char *v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                        "SLURM_NTASKS_PER_NODE", "PMI_LOCAL_SIZE"})
    if (const char *s = std::getenv(v))
      return std::atoi(s);
  return numRanks;
}

std::string CudaBackend::open() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return std::string("--backend cuda: no CUDA device is usable here (") +
           (e != cudaSuccess ? cudaGetErrorString(e) : "no device") +
           "); use --backend cpu";
  ctx.device = options.device >= 0 ? options.device
                                   : localRank(options.rank) % count;
  if (ctx.device >= count)
    return "--backend cuda: device " + std::to_string(ctx.device) +
           " does not exist (" + std::to_string(count) + " devices)";
  ctx.bf16 = options.precision == "bf16";
  if (!ctx.bf16 && options.precision != "f32")
    return "unknown precision '" + options.precision + "' (f32 or bf16)";
  ctx.enter();
  if ((e = cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking)) !=
      cudaSuccess)
    return std::string("cudaStreamCreate: ") + cudaGetErrorString(e);
  cublasStatus_t s = cublasCreate(&ctx.blas);
  if (s != CUBLAS_STATUS_SUCCESS)
    return std::string("cublasCreate: ") + blasName(s);
  cublasSetStream(ctx.blas, ctx.stream);
  // No TF32: f32 GEMMs stay f32 (the tests compare with the CPU at 1e-5).
  cublasSetMathMode(ctx.blas, CUBLAS_DEFAULT_MATH);
  return "";
}

std::string CudaBackend::allocate(const std::vector<BufferRef> &all) {
  ctx.enter();
  size_t total = 0;
  std::vector<size_t> at;
  for (const BufferRef &b : all) {
    at.push_back(total);
    total += (static_cast<size_t>(std::max<int64_t>(b.meta->bytes(), 1)) + 255) &
             ~size_t(255);
  }
  cudaError_t e = cudaMalloc(&arena, std::max<size_t>(total, 256));
  if (e != cudaSuccess)
    return "cannot allocate " + std::to_string(total) +
           " bytes of buffers on device " + std::to_string(ctx.device) + ": " +
           cudaGetErrorString(e);
  for (size_t i = 0; i < all.size(); ++i) {
    devices[all[i].meta->id] = {all[i].meta, static_cast<char *>(arena) + at[i]};
    hosts[all[i].meta->id] = all[i];
  }
  return "";
}

std::string CudaBackend::toDevice(int id) {
  auto d = devices.find(id), h = hosts.find(id);
  if (d == devices.end() || h == hosts.end())
    return "unknown buffer " + std::to_string(id);
  ctx.enter();
  cudaError_t e = cudaMemcpyAsync(d->second.data, h->second.data,
                                  static_cast<size_t>(h->second.meta->bytes()),
                                  cudaMemcpyHostToDevice, ctx.stream);
  if (e != cudaSuccess)
    return std::string("copy of '") + h->second.meta->name +
           "' to the device: " + cudaGetErrorString(e);
  return "";
}

std::string CudaBackend::toHost(int id) {
  auto d = devices.find(id), h = hosts.find(id);
  if (d == devices.end() || h == hosts.end())
    return "unknown buffer " + std::to_string(id);
  ctx.enter();
  cudaError_t e = cudaMemcpyAsync(h->second.data, d->second.data,
                                  static_cast<size_t>(h->second.meta->bytes()),
                                  cudaMemcpyDeviceToHost, ctx.stream);
  if (e != cudaSuccess)
    return std::string("copy of '") + h->second.meta->name +
           "' to the host: " + cudaGetErrorString(e);
  return synchronize();
}

std::string CudaBackend::synchronize() {
  ctx.enter();
  // Poll, so that a collective whose peer died ends within the deadline.
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(timeoutSeconds));
  cudaError_t e;
  while ((e = cudaStreamQuery(ctx.stream)) == cudaErrorNotReady) {
    if (std::chrono::steady_clock::now() > until) {
#ifdef SOAP_HAVE_NCCL
      for (auto &[id, c] : comms)
        ncclCommAbort(c);
      comms.clear();
#endif
      return "timed out after " + std::to_string(timeoutSeconds) +
             " s waiting for device " + std::to_string(ctx.device) +
             " (a collective whose peer died, hangs or is out of step)";
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  ctx.check(e, "device");
  return ctx.error;
}

/// Reads a task's buffers and attributes (KernelCalls.cpp's Binder, over
/// device memory).
struct Binder : TaskReader {
  CudaBackend &be;
  std::string problem;

  BufferRef ref(int id) {
    if (id < 0)
      return {};
    BufferRef r = be.dev(id);
    if (!r.meta && problem.empty())
      problem = "unknown buffer " + std::to_string(id);
    return r;
  }
  float *f(int id) {
    BufferRef r = ref(id);
    if (!r.meta)
      return nullptr;
    if (r.meta->dtype != DType::F32) {
      if (problem.empty())
        problem = "buffer '" + r.meta->name + "' is " +
                  toString(r.meta->dtype) + ": the CUDA kernels take f32";
      return nullptr;
    }
    return static_cast<float *>(r.data);
  }
  double *f64(int id) {
    BufferRef r = ref(id);
    if (!r.meta)
      return nullptr;
    if (r.meta->dtype != DType::F64) {
      if (problem.empty())
        problem = "buffer '" + r.meta->name + "' is " +
                  toString(r.meta->dtype) + ", not the f64 statistics expected";
      return nullptr;
    }
    return static_cast<double *>(r.data);
  }
  /// Index tensors: int64 or int32.
  const void *idx(int id, bool &is64) {
    BufferRef r = ref(id);
    if (!r.meta)
      return nullptr;
    is64 = r.meta->dtype == DType::I64;
    if (!is64 && r.meta->dtype != DType::I32 && problem.empty())
      problem = "buffer '" + r.meta->name + "' is not an index tensor";
    return r.data;
  }
  std::vector<int64_t> shape(int id) {
    BufferRef r = ref(id);
    return r.meta ? r.meta->shape : std::vector<int64_t>{};
  }
  int64_t numel(int id) { return product(shape(id), 0, 64); }
  bool need(std::initializer_list<const void *> ps, const char *what) {
    for (const void *p : ps)
      if (!p) {
        if (problem.empty())
          problem = std::string(what) + ": a required operand is missing";
        return false;
      }
    return true;
  }

};

/// Row-major strides of a shape.
std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * shape[i + 1];
  return st;
}

/// The box `shape` of a contiguous `src` at `srcAt` (per axis) into a
/// contiguous `dst` at `dstAt`.
k::Box boxOf(const std::vector<int64_t> &shape,
             const std::vector<int64_t> &srcShape,
             const std::vector<int64_t> &srcAt,
             const std::vector<int64_t> &dstShape,
             const std::vector<int64_t> &dstAt) {
  k::Box b;
  b.rank = static_cast<int>(shape.size());
  std::vector<int64_t> ss = stridesOf(srcShape), ds = stridesOf(dstShape);
  for (int d = 0; d < b.rank; ++d) {
    b.shape[d] = shape[d];
    b.srcStride[d] = ss[d];
    b.dstStride[d] = ds[d];
    b.srcBase += srcAt[d] * ss[d];
    b.dstBase += dstAt[d] * ds[d];
  }
  return b;
}

const std::map<std::string, k::Unary> &unaries() {
  static const std::map<std::string, k::Unary> m = {
      {"relu", k::Unary::Relu},       {"gelu", k::Unary::Gelu},
      {"sigmoid", k::Unary::Sigmoid}, {"tanh", k::Unary::Tanh},
      {"exp", k::Unary::Exp},         {"log", k::Unary::Log},
      {"neg", k::Unary::Neg},         {"sqrt", k::Unary::Sqrt},
      {"erf", k::Unary::Erf}};
  return m;
}
const std::map<std::string, k::Binary> &binaries() {
  static const std::map<std::string, k::Binary> m = {{"add", k::Binary::Add},
                                                     {"sub", k::Binary::Sub},
                                                     {"mul", k::Binary::Mul},
                                                     {"div", k::Binary::Div}};
  return m;
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string CudaBackend::bindUpdate(const PlanTask &t, const KernelSettings &s,
                                    Thunk &out) {
  Binder b{{t}, *this, {}};
  float *p = b.f(b.in(0));
  const float *g = b.f(b.in(1));
  if (!p || !g)
    return b.problem.empty() ? "an update needs a weight and its gradient"
                             : b.problem;
  int64_t n = b.numel(b.in(0));
  const OptimizerSettings &o = s.optimizer;
  Ctx *c = &ctx;
  if (o.kind == OptimizerSettings::Kind::Sgd) {
    float *m = o.momentum != 0 ? b.f(b.in(2)) : nullptr;
    if (o.momentum != 0 && !m)
      return "SGD with momentum needs a momentum buffer";
    float lr = static_cast<float>(o.lr), wd = static_cast<float>(o.weightDecay),
          mom = static_cast<float>(o.momentum),
          damp = static_cast<float>(1.0 - o.dampening);
    bool nesterov = o.nesterov;
    out = [=](int64_t step) {
      c->enter();
      c->check(k::sgd(p, g, m, n, lr, wd, mom, damp, nesterov, step == 1,
                      c->stream),
               "sgd");
    };
    return b.problem;
  }
  float *m = b.f(b.in(2)), *v = b.f(b.in(3));
  if (!m || !v)
    return "Adam needs two state buffers";
  out = [=](int64_t step) {
    double bc1 = 1.0 - std::pow(o.beta1, double(step));
    double bc2 = 1.0 - std::pow(o.beta2, double(step));
    c->enter();
    c->check(k::adam(p, g, m, v, n, static_cast<float>(o.lr / bc1),
                     static_cast<float>(std::sqrt(bc2)),
                     static_cast<float>(o.beta2),
                     static_cast<float>(1.0 - o.beta1),
                     static_cast<float>(1.0 - o.beta2),
                     static_cast<float>(o.eps),
                     static_cast<float>(o.weightDecay), o.weightDecay != 0.0,
                     o.decoupled, static_cast<float>(1.0 - o.lr * o.weightDecay),
                     c->stream),
             "adam");
  };
  return b.problem;
}

std::string CudaBackend::bindFill(int id, double value, Thunk &out) {
  BufferRef r = dev(id);
  if (!r.meta)
    return "unknown buffer";
  Ctx *c = &ctx;
  int64_t n = r.meta->numElements();
  DType dt = r.meta->dtype;
  void *p = r.data;
  out = [=](int64_t) {
    c->enter();
    switch (dt) {
    case DType::F64:
      c->check(k::fillF64(static_cast<double *>(p), n, value, c->stream), "fill");
      break;
    case DType::I64:
      c->check(k::fillI64(static_cast<int64_t *>(p), n,
                          static_cast<int64_t>(value), c->stream),
               "fill");
      break;
    case DType::I32:
      c->check(k::fillI32(static_cast<int32_t *>(p), n,
                          static_cast<int32_t>(value), c->stream),
               "fill");
      break;
    case DType::I1: // one byte per boolean
      c->check(cudaMemsetAsync(p, value != 0.0 ? 1 : 0,
                               static_cast<size_t>(n), c->stream),
               "fill");
      break;
    default:
      c->check(k::fill(static_cast<float *>(p), n, static_cast<float>(value),
                       c->stream),
               "fill");
    }
  };
  return "";
}

std::string CudaBackend::bindKernel(const PlanTask &t,
                                    const KernelSettings &settings,
                                    Thunk &out) {
  Ctx *c = &ctx;
  if (t.phase == Phase::Update)
    return bindUpdate(t, settings, out);
  if (t.phase == Phase::Backward &&
      std::all_of(t.outputs.begin(), t.outputs.end(),
                  [](int id) { return id < 0; })) {
    out = [](int64_t) {};
    return "";
  }
  Binder b{{t}, *this, {}};
  const bool fwd = t.phase == Phase::Forward;
  const std::string &kind = t.kind;
  auto done = [&]() { return b.problem; };
  // Every thunk: on the rank's device, then the work.
  auto bind = [&](std::function<void()> work) {
    out = [c, work = std::move(work)](int64_t) {
      c->enter();
      work();
    };
  };
  // Ops of one operand: forward y = f(x) (inputs x; outputs y), backward
  // dx += g(x, dy) (inputs x, dy; outputs dx).
  using Fwd = std::function<cudaError_t(const float *, float *)>;
  using Bwd = std::function<cudaError_t(const float *, const float *, float *)>;
  auto bindOneOperand = [&](const std::string &what, Fwd f, Bwd g) {
    const float *x = b.f(b.in(0));
    if (fwd) {
      float *y = b.f(b.out(0));
      if (b.need({x, y}, what.c_str()))
        bind([=] { c->check(f(x, y), what.c_str()); });
    } else {
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0));
      if (b.need({x, dy}, what.c_str()))
        bind([=] {
          if (dx)
            c->check(g(x, dy, dx), what.c_str());
        });
    }
    return done();
  };

  if (kind == "linear") {
    // y[M, N] = x[M, K] w[K, N] + b[N].
    std::vector<int64_t> ws = b.shape(b.in(1));
    if (ws.size() != 2)
      return "linear: the weight must be [K, N]";
    int64_t K = ws[0], N = ws[1], M = K ? b.numel(b.in(0)) / K : 0;
    const float *x = b.f(b.in(0)), *w = b.f(b.in(1));
    if (fwd) {
      const float *bias = b.f(b.in(2));
      float *y = b.f(b.out(0));
      if (!b.need({x, w, y}, "linear"))
        return done();
      bind([=] {
        if (bias)
          c->check(k::broadcastRows(bias, y, M, N, c->stream), "linear bias");
        c->gemm(false, false, N, M, K, w, N, x, K, y, N, bias ? 1.f : 0.f);
      });
    } else {
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0)), *dw = b.f(b.out(1)), *db = b.f(b.out(2));
      if (!b.need({x, w, dy}, "linear"))
        return done();
      bind([=] {
        if (dx)
          c->gemm(true, false, K, M, N, w, N, dy, N, dx, K, 1.f);
        if (dw)
          c->gemm(false, true, N, K, M, dy, N, x, K, dw, N, 1.f);
        if (db)
          c->check(k::columnSums(dy, db, M, N, c->stream), "linear db");
      });
    }
    return done();
  }

  if (kind == "matmul") {
    // a[..., M, K] . b[..., K, N] = y[..., M, N], batch axes broadcast.
    std::vector<int64_t> as = b.shape(b.in(0)), bs = b.shape(b.in(1));
    std::vector<int64_t> ys = fwd ? b.shape(b.out(0)) : b.shape(b.dy());
    if (as.size() < 2 || bs.size() < 2 || ys.size() < 2)
      return "matmul: operands of rank >= 2";
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    const float *a = b.f(b.in(0)), *bm = b.f(b.in(1));
    // Per batch element of y: the matrices of a and b it multiplies.
    const size_t yr = ys.size() - 2;
    int64_t batch = product(ys, 0, yr);
    std::vector<int64_t> aIdx(batch), bIdx(batch);
    bool regular = true, bFolds = product(bs, 0, bs.size() - 2) == 1;
    for (int64_t e = 0; e < batch; ++e) {
      int64_t rest = e, ai = 0, bi = 0, astr = 1, bstr = 1;
      for (int d = static_cast<int>(yr) - 1; d >= 0; --d) {
        int64_t x = rest % ys[d];
        rest /= ys[d];
        int da = d - static_cast<int>(yr - (as.size() - 2));
        int dbb = d - static_cast<int>(yr - (bs.size() - 2));
        int64_t ea = da >= 0 ? as[da] : 1, eb = dbb >= 0 ? bs[dbb] : 1;
        ai += (ea == 1 ? 0 : x) * astr;
        bi += (eb == 1 ? 0 : x) * bstr;
        astr *= ea;
        bstr *= eb;
      }
      aIdx[e] = ai;
      bIdx[e] = bi;
      regular &= ai == e && bi == e;
    }
    bool aWhole = true;
    for (int64_t e = 0; e < batch; ++e)
      aWhole &= aIdx[e] == e;
    const bool fold = bFolds && aWhole; // one GEMM with the batch in M
    const int64_t MK = M * K, KN = K * N, MN = M * N;
    if (fwd) {
      float *y = b.f(b.out(0));
      if (!b.need({a, bm, y}, "matmul"))
        return done();
      bind([=] {
        if (fold)
          c->gemm(false, false, N, M * batch, K, bm, N, a, K, y, N, 0.f);
        else if (regular)
          c->gemm(false, false, N, M, K, bm, N, a, K, y, N, 0.f, batch, KN, MK,
                  MN);
        else
          for (int64_t e = 0; e < batch; ++e)
            c->gemm(false, false, N, M, K, bm + bIdx[e] * KN, N,
                    a + aIdx[e] * MK, K, y + e * MN, N, 0.f);
      });
    } else {
      const float *dy = b.f(b.dy());
      float *da = b.f(b.out(0)), *db = b.f(b.out(1));
      if (!b.need({a, bm, dy}, "matmul"))
        return done();
      bind([=] {
        if (fold) {
          if (da)
            c->gemm(true, false, K, M * batch, N, bm, N, dy, N, da, K, 1.f);
          if (db)
            c->gemm(false, true, N, K, M * batch, dy, N, a, K, db, N, 1.f);
        } else if (regular) {
          if (da)
            c->gemm(true, false, K, M, N, bm, N, dy, N, da, K, 1.f, batch, KN,
                    MN, MK);
          if (db)
            c->gemm(false, true, N, K, M, dy, N, a, K, db, N, 1.f, batch, MN,
                    MK, KN);
        } else {
          for (int64_t e = 0; e < batch; ++e) {
            if (da)
              c->gemm(true, false, K, M, N, bm + bIdx[e] * KN, N, dy + e * MN,
                      N, da + aIdx[e] * MK, K, 1.f);
            if (db)
              c->gemm(false, true, N, K, M, dy + e * MN, N, a + aIdx[e] * MK, K,
                      db + bIdx[e] * KN, N, 1.f);
          }
        }
      });
    }
    return done();
  }

  if (kind == "attention") {
    // q [B, S, E], k [B, T, Ek], v [B, T, Ev]; wq [E, P], wk, wv [., P],
    // wo [P, Eo]; the CPU kernel's algorithm (Sequence.cpp) with its `saved`
    // layout: projected Q [B, S, P], K, V [B, T, P], heads' output [B, S, P].
    const size_t nOps = fwd ? t.inputs.size()
                            : (t.inputs.size() >= 2 ? t.inputs.size() - 2 : 0);
    auto op = [&](size_t j) { return j < nOps ? b.in(j) : -1; };
    std::vector<int64_t> qs = b.shape(op(0)), ks = b.shape(op(1)),
                         wqs = b.shape(op(3)), wos = b.shape(op(6));
    if (qs.size() != 3 || ks.size() != 3 || wqs.size() != 2 || wos.size() != 2)
      return "attention: q, k, v [B, L, E] and 2-D weights expected";
    const int64_t B = qs[0], S = qs[1], T = ks[1], P = wqs[1], Eo = wos[1];
    const int64_t H = b.ai("num_heads", 1), hd = H > 0 ? P / H : 0;
    if (H <= 0 || hd * H != P)
      return "attention: num_heads does not divide the projection width";
    const bool causal = b.ab("causal");
    const int64_t qoff = b.ai("query_offset", 0);
    const float scale = static_cast<float>(1.0 / std::sqrt(double(hd)));
    const float *x[11];
    for (size_t j = 0; j < 11; ++j)
      x[j] = b.f(op(j));
    if (!b.need({x[0], x[1], x[2], x[3], x[4], x[5], x[6]}, "attention"))
      return done();
    const int64_t Eq = qs[2], Ek = ks[2], Ev = b.shape(op(2)).back();
    const int64_t BS = B * S, BT = B * T, ST = S * T;
    float *saved = fwd ? b.f(b.out(1)) : b.f(b.in(nOps));
    const bool haveSaved = saved != nullptr;
    if (!saved &&
        !(saved = static_cast<float *>(scratch(sizeof(float) * (2 * BS + 2 * BT) * P))))
      return "attention: cannot allocate its intermediates on the device";
    float *pq = saved, *pk = pq + BS * P, *pv = pk + BT * P, *po = pv + BT * P;
    float *probs = static_cast<float *>(scratch(sizeof(float) * B * H * ST));
    if (!probs)
      return "attention: cannot allocate its probabilities on the device";
    // out [rows, P] = in [rows, E] w [E, P] + bias.
    auto project = [c, P](const float *in, int64_t rows, int64_t e,
                          const float *w, const float *bias, float *out) {
      if (bias)
        c->check(k::broadcastRows(bias, out, rows, P, c->stream), "attention");
      c->gemm(false, false, P, rows, e, w, P, in, e, out, P, bias ? 1.f : 0.f);
    };
    // probs[b, h] = masked softmax(scale Q_bh K_bh^T), per batch element a
    // strided batch over the heads.
    auto probabilities = [=]() {
      for (int64_t bb = 0; bb < B; ++bb)
        c->gemm(true, false, T, S, hd, pk + bb * T * P, P, pq + bb * S * P, P,
                probs + bb * H * ST, T, 0.f, H, hd, hd, ST, scale);
      c->check(k::maskedSoftmaxRows(probs, B * H * S, S, T, causal, qoff,
                                    c->stream),
               "attention softmax");
    };
    // po[b, :, h] = probs[b, h] V_bh.
    auto attend = [=]() {
      for (int64_t bb = 0; bb < B; ++bb)
        c->gemm(false, false, hd, S, T, pv + bb * T * P, P,
                probs + bb * H * ST, T, po + bb * S * P, P, 0.f, H, hd, ST, hd);
    };
    if (fwd) {
      float *y = b.f(b.out(0));
      if (!b.need({y}, "attention"))
        return done();
      bind([=] {
        project(x[0], BS, Eq, x[3], x[7], pq);
        project(x[1], BT, Ek, x[4], x[8], pk);
        project(x[2], BT, Ev, x[5], x[9], pv);
        probabilities();
        attend();
        if (x[10])
          c->check(k::broadcastRows(x[10], y, BS, Eo, c->stream), "attention");
        c->gemm(false, false, Eo, BS, P, x[6], Eo, po, P, y, Eo,
                x[10] ? 1.f : 0.f);
      });
      return done();
    }
    const float *dy = b.f(b.dy());
    float *g[11];
    for (size_t j = 0; j < 11; ++j)
      g[j] = b.f(b.out(j));
    float *dO = static_cast<float *>(scratch(sizeof(float) * BS * P)),
          *dQ = static_cast<float *>(scratch(sizeof(float) * BS * P)),
          *dK = static_cast<float *>(scratch(sizeof(float) * BT * P)),
          *dV = static_cast<float *>(scratch(sizeof(float) * BT * P)),
          *dS = static_cast<float *>(scratch(sizeof(float) * B * H * ST));
    if (!dO || !dQ || !dK || !dV || !dS)
      return "attention: cannot allocate its gradients' scratch on the device";
    if (!b.need({dy}, "attention"))
      return done();
    // dx += dproj w^T, dw += x^T dproj, db += column sums (linear backward).
    auto projectBack = [c, P](const float *in, int64_t rows, int64_t e,
                              const float *w, const float *dproj, float *dx,
                              float *dw, float *db) {
      if (dx)
        c->gemm(true, false, e, rows, P, w, P, dproj, P, dx, e, 1.f);
      if (dw)
        c->gemm(false, true, P, e, rows, dproj, P, in, e, dw, P, 1.f);
      if (db)
        c->check(k::columnSums(dproj, db, rows, P, c->stream), "attention");
    };
    bind([=] {
      if (!haveSaved) {
        project(x[0], BS, Eq, x[3], x[7], pq);
        project(x[1], BT, Ek, x[4], x[8], pk);
        project(x[2], BT, Ev, x[5], x[9], pv);
      }
      probabilities();
      if (!haveSaved)
        attend();
      // dO = dy wo^T.
      c->gemm(true, false, P, BS, Eo, x[6], Eo, dy, Eo, dO, P, 0.f);
      for (int64_t bb = 0; bb < B; ++bb) {
        const int64_t qo = bb * S * P, ko = bb * T * P, zo = bb * H * ST;
        // dP = dO_bh V_bh^T; dV_bh = P^T dO_bh.
        c->gemm(true, false, T, S, hd, pv + ko, P, dO + qo, P, dS + zo, T, 0.f,
                H, hd, hd, ST);
        c->gemm(false, true, hd, T, S, dO + qo, P, probs + zo, T, dV + ko, P,
                0.f, H, hd, ST, hd);
      }
      // dZ = P * (dP - rowsum(dP * P)).
      c->check(k::softmaxRowsBackward(probs, dS, B * H * S, T, c->stream),
               "attention softmax");
      for (int64_t bb = 0; bb < B; ++bb) {
        const int64_t qo = bb * S * P, ko = bb * T * P, zo = bb * H * ST;
        // dQ_bh = scale dZ K_bh; dK_bh = scale dZ^T Q_bh.
        c->gemm(false, false, hd, S, T, pk + ko, P, dS + zo, T, dQ + qo, P,
                0.f, H, hd, ST, hd, scale);
        c->gemm(false, true, hd, T, S, pq + qo, P, dS + zo, T, dK + ko, P,
                0.f, H, hd, ST, hd, scale);
      }
      if (g[6])
        c->gemm(false, true, Eo, P, BS, dy, Eo, po, P, g[6], Eo, 1.f);
      if (g[10])
        c->check(k::columnSums(dy, g[10], BS, Eo, c->stream), "attention");
      // One after the other: dq, dk and dv may be the same buffer.
      projectBack(x[0], BS, Eq, x[3], dQ, g[0], g[3], g[7]);
      projectBack(x[1], BT, Ek, x[4], dK, g[1], g[4], g[8]);
      projectBack(x[2], BT, Ev, x[5], dV, g[2], g[5], g[9]);
    });
    return done();
  }

  if (unaries().count(kind)) {
    k::Unary u = unaries().at(kind);
    int64_t n = b.numel(b.in(0));
    return bindOneOperand(
        kind,
        [=](const float *x, float *y) {
          return k::unaryForward(u, x, y, n, c->stream);
        },
        [=](const float *x, const float *dy, float *dx) {
          return k::unaryBackward(u, x, dy, dx, n, c->stream);
        });
  }

  if (binaries().count(kind)) {
    k::Binary op = binaries().at(kind);
    const float *x = b.f(b.in(0)), *y2 = b.f(b.in(1));
    k::Dims as = dimsOf(b.shape(b.in(0))), bs = dimsOf(b.shape(b.in(1)));
    if (fwd) {
      float *y = b.f(b.out(0));
      k::Dims ys = dimsOf(b.shape(b.out(0)));
      if (!b.need({x, y2, y}, kind.c_str()))
        return done();
      bind([=] {
        c->check(k::binaryForward(op, x, as, y2, bs, y, ys, c->stream),
                 "binary");
      });
    } else {
      const float *dy = b.f(b.dy());
      k::Dims ys = dimsOf(b.shape(b.dy()));
      float *da = b.f(b.out(0)), *db = b.f(b.out(1));
      if (!b.need({x, y2, dy}, kind.c_str()))
        return done();
      bind([=] {
        c->check(k::binaryBackward(op, x, as, y2, bs, dy, ys, da, db, c->stream),
                 "binary");
      });
    }
    return done();
  }

  if (kind == "softmax") {
    std::vector<int64_t> s = b.shape(b.in(0));
    int64_t axis = b.ai("axis", -1);
    if (axis < 0)
      axis += static_cast<int64_t>(s.size());
    if (axis < 0 || axis >= static_cast<int64_t>(s.size()))
      return "softmax: axis out of range";
    int64_t outer = product(s, 0, axis), len = s[axis],
            inner = product(s, axis + 1, s.size());
    return bindOneOperand(
        kind,
        [=](const float *x, float *y) {
          return k::softmaxForward(x, y, outer, len, inner, c->stream);
        },
        [=](const float *x, const float *dy, float *dx) {
          return k::softmaxBackward(x, dy, dx, outer, len, inner, c->stream);
        });
  }

  if (kind == "layer_norm") {
    std::vector<int64_t> s = b.shape(b.in(0));
    int64_t axis = b.ai("axis", -1);
    if (axis < 0)
      axis += static_cast<int64_t>(s.size());
    if (axis < 0 || axis >= static_cast<int64_t>(s.size()))
      return "layer_norm: axis out of range";
    int64_t rows = product(s, 0, axis), cols = product(s, axis, s.size());
    double eps = b.af("epsilon", 1e-5);
    const float *x = b.f(b.in(0)), *scale = b.f(b.in(1)), *bias = b.f(b.in(2));
    float *stats = static_cast<float *>(scratch(sizeof(float) * 2 * rows));
    if (!stats)
      return "layer_norm: cannot allocate its statistics on the device";
    if (fwd) {
      float *y = b.f(b.out(0));
      if (!b.need({x, y}, "layer_norm"))
        return done();
      bind([=] {
        c->check(k::layerNormForward(x, scale, bias, y, stats, rows, cols, eps,
                                     c->stream),
                 "layer_norm");
      });
    } else {
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0)), *ds = b.f(b.out(1)), *db = b.f(b.out(2));
      if (!b.need({x, dy}, "layer_norm"))
        return done();
      bind([=] {
        c->check(k::layerNormBackward(x, scale, dy, dx, ds, db, stats, rows,
                                      cols, eps, c->stream),
                 "layer_norm");
      });
    }
    return done();
  }

  if (kind == "embedding") {
    int64_t off = b.ai("row_offset", 0);
    bool ids64 = true;
    const void *ids = b.idx(b.in(0), ids64);
    int64_t n = b.numel(b.in(0));
    std::vector<int64_t> ts = b.shape(b.in(1));
    if (ts.size() != 2)
      return "embedding: the table must be [V, D]";
    int64_t vocab = ts[0], dim = ts[1];
    if (fwd) {
      const float *table = b.f(b.in(1));
      float *y = b.f(b.out(0));
      if (!b.need({ids, table, y}, "embedding"))
        return done();
      bind([=] {
        c->check(k::embeddingForward(ids, ids64, n, table, vocab, dim, off, y,
                                     c->stream),
                 "embedding");
      });
    } else {
      const float *dy = b.f(b.dy());
      float *dt = b.f(b.out(1));
      if (!b.need({ids, dy}, "embedding"))
        return done();
      bind([=] {
        if (dt)
          c->check(k::embeddingBackward(ids, ids64, n, dy, vocab, dim, off, dt,
                                        c->stream),
                   "embedding");
      });
    }
    return done();
  }

  if (kind == "softmax_cross_entropy") {
    std::vector<int64_t> s = b.shape(b.in(0));
    if (s.empty())
      return "softmax_cross_entropy: logits of rank >= 1";
    int64_t classes = s.back(), rows = classes ? b.numel(b.in(0)) / classes : 0;
    int64_t count = b.ai("global_count", 0);
    double divisor = double(count > 0 ? count : rows);
    const float *logits = b.f(b.in(0));
    bool labels64 = true;
    const void *labels = b.idx(b.in(1), labels64);
    if (fwd) {
      float *loss = b.f(b.out(0));
      double *sc = static_cast<double *>(scratch(sizeof(double) * rows));
      if (!sc)
        return "softmax_cross_entropy: cannot allocate scratch on the device";
      if (!b.need({logits, labels, loss}, "softmax_cross_entropy"))
        return done();
      bind([=] {
        c->check(k::crossEntropyForward(logits, labels, labels64, rows, classes,
                                        divisor, sc, loss, c->stream),
                 "softmax_cross_entropy");
      });
    } else {
      const float *dl = b.f(b.dy());
      float *dx = b.f(b.out(0));
      if (!b.need({logits, labels, dl}, "softmax_cross_entropy"))
        return done();
      bind([=] {
        if (dx)
          c->check(k::crossEntropyBackward(logits, labels, labels64, rows,
                                           classes, divisor, dl, dx, c->stream),
                   "softmax_cross_entropy");
      });
    }
    return done();
  }

  if (kind == "mse_loss") {
    int64_t n = b.numel(b.in(0)), count = b.ai("global_count", 0);
    double divisor = double(count > 0 ? count : n);
    const float *p = b.f(b.in(0)), *tg = b.f(b.in(1));
    if (fwd) {
      float *loss = b.f(b.out(0));
      double *sc = static_cast<double *>(scratch(sizeof(double)));
      if (!sc)
        return "mse_loss: cannot allocate scratch on the device";
      if (!b.need({p, tg, loss}, "mse_loss"))
        return done();
      bind([=] {
        c->check(k::mseForward(p, tg, n, divisor, sc, loss, c->stream),
                 "mse_loss");
      });
    } else {
      const float *dl = b.f(b.dy());
      float *dp = b.f(b.out(0)), *dt = b.f(b.out(1));
      if (!b.need({p, tg, dl}, "mse_loss"))
        return done();
      bind([=] {
        c->check(k::mseBackward(p, tg, n, divisor, dl, dp, dt, c->stream),
                 "mse_loss");
      });
    }
    return done();
  }

  if (kind == "reshape" || kind == "flatten") {
    if (fwd) {
      const float *x = b.f(b.in(0));
      float *y = b.f(b.out(0));
      int64_t n = b.numel(b.out(0));
      if (!b.need({x, y}, kind.c_str()))
        return done();
      bind([=] { c->check(k::copy(x, y, n, false, c->stream), "reshape"); });
    } else {
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0));
      int64_t n = b.numel(b.out(0));
      if (!b.need({dy}, kind.c_str()))
        return done();
      bind([=] {
        if (dx)
          c->check(k::copy(dy, dx, n, true, c->stream), "reshape");
      });
    }
    return done();
  }

  if (kind == "transpose") {
    std::vector<int64_t> perm = b.ais("permutation");
    std::vector<int64_t> xs = fwd ? b.shape(b.in(0)) : b.shape(b.dy());
    if (perm.size() != xs.size() || perm.size() > size_t(k::kMaxRank))
      return "transpose: the permutation does not match the operand";
    std::vector<int> p(perm.size()), inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      p[i] = static_cast<int>(perm[i]);
      inv[perm[i]] = static_cast<int>(i);
    }
    k::Dims d = dimsOf(xs);
    if (fwd) {
      const float *x = b.f(b.in(0));
      float *y = b.f(b.out(0));
      if (!b.need({x, y}, "transpose"))
        return done();
      bind([=] {
        c->check(k::permute(x, d, p.data(), y, false, c->stream), "transpose");
      });
    } else {
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0));
      if (!b.need({dy}, "transpose"))
        return done();
      bind([=] {
        if (dx)
          c->check(k::permute(dy, d, inv.data(), dx, true, c->stream),
                   "transpose");
      });
    }
    return done();
  }

  if (kind == "concat" || kind == "split") {
    // concat: pieces = the inputs, whole = y; split: pieces = the results,
    // whole = x. Forward copies, backward accumulates the other way.
    const bool isConcat = kind == "concat";
    std::vector<int> pieces;
    int whole;
    if (isConcat) {
      size_t n = fwd ? t.inputs.size() : t.outputs.size();
      for (size_t j = 0; j < n; ++j)
        pieces.push_back(b.in(j));
      whole = fwd ? b.out(0) : b.dy();
    } else {
      whole = b.in(0);
      if (fwd)
        pieces = t.outputs;
      else
        for (size_t j = 1; j < t.inputs.size(); ++j)
          pieces.push_back(t.inputs[j]);
    }
    std::vector<int64_t> ws = b.shape(whole);
    int64_t axis = b.ai("axis", 0);
    if (axis < 0)
      axis += static_cast<int64_t>(ws.size());
    if (axis < 0 || axis >= static_cast<int64_t>(ws.size()))
      return kind + ": axis out of range";
    // Per piece: its buffer (forward operand / result; backward gradient)
    // and its box in the whole.
    struct Piece {
      const float *from;
      float *to;
      k::Box box;
    };
    std::vector<Piece> moves;
    int64_t at = 0;
    const float *wholeIn = b.f(whole);
    float *wholeOut = b.f(whole);
    for (size_t j = 0; j < pieces.size(); ++j) {
      if (pieces[j] < 0)
        return kind + ": a missing piece (its size along the axis is not "
                      "known to the CUDA backend)";
      std::vector<int64_t> ps = b.shape(pieces[j]);
      std::vector<int64_t> zero(ps.size(), 0), off(ps.size(), 0);
      off[axis] = at;
      at += ps[axis];
      // The gradient buffer of piece j (backward): concat's outputs[j],
      // split's dy_j (pieces already are the dy's).
      int grad = isConcat && !fwd ? b.out(j) : -1;
      bool intoWhole = isConcat == fwd; // concat fwd, split bwd
      if (isConcat && !fwd) {
        if (grad < 0)
          continue;
        moves.push_back({wholeIn, b.f(grad), boxOf(ps, ws, off, ps, zero)});
      } else if (intoWhole) {
        moves.push_back({b.f(pieces[j]), nullptr, boxOf(ps, ps, zero, ws, off)});
      } else {
        moves.push_back({wholeIn, b.f(pieces[j]), boxOf(ps, ws, off, ps, zero)});
      }
    }
    if (isConcat && fwd)
      for (Piece &m : moves)
        m.to = wholeOut;
    float *splitDx = !isConcat && !fwd ? b.f(b.out(0)) : nullptr;
    if (!isConcat && !fwd)
      for (Piece &m : moves)
        m.to = splitDx;
    const bool acc = !fwd;
    bind([=] {
      for (const Piece &m : moves)
        if (m.from && m.to)
          c->check(k::boxCopy(m.from, m.to, m.box, acc, c->stream), "copy");
    });
    return done();
  }

  if (kind == "slice") {
    std::vector<int64_t> starts = b.ais("starts"), ends = b.ais("ends"),
                         steps = b.ais("steps");
    std::vector<int64_t> xs = fwd ? b.shape(b.in(0)) : b.shape(b.out(0));
    std::vector<int64_t> ys = fwd ? b.shape(b.out(0)) : b.shape(b.dy());
    if (xs.empty() && !fwd && b.out(0) < 0) {
      out = [](int64_t) {};
      return done();
    }
    if (starts.size() != xs.size() || ends.size() != xs.size() ||
        ys.size() != xs.size() || (!steps.empty() && steps.size() != xs.size()))
      return "slice: starts, ends and steps must name every axis";
    // The strided view x[starts:ends:steps] (soap::cpu TensorView::slice).
    k::Box box;
    box.rank = static_cast<int>(xs.size());
    std::vector<int64_t> xst = stridesOf(xs), yst = stridesOf(ys);
    for (int d = 0; d < box.rank; ++d) {
      int64_t step = steps.empty() ? 1 : steps[d];
      box.shape[d] = ys[d];
      box.srcBase += starts[d] * xst[d];
      box.srcStride[d] = xst[d] * step;
      box.dstStride[d] = yst[d];
    }
    if (fwd) {
      const float *x = b.f(b.in(0));
      float *y = b.f(b.out(0));
      if (!b.need({x, y}, "slice"))
        return done();
      bind([=] { c->check(k::boxCopy(x, y, box, false, c->stream), "slice"); });
    } else {
      // dx[view] += dy: the same box with the roles swapped.
      k::Box back = box;
      std::swap(back.srcBase, back.dstBase);
      for (int d = 0; d < back.rank; ++d)
        std::swap(back.srcStride[d], back.dstStride[d]);
      const float *dy = b.f(b.dy());
      float *dx = b.f(b.out(0));
      if (!b.need({dy}, "slice"))
        return done();
      bind([=] {
        if (dx)
          c->check(k::boxCopy(dy, dx, back, true, c->stream), "slice");
      });
    }
    return done();
  }

  if (kind == "reduce_sum" || kind == "reduce_mean" || kind == "reduce_max") {
    k::Reduce rk = kind == "reduce_sum"    ? k::Reduce::Sum
                   : kind == "reduce_mean" ? k::Reduce::Mean
                                           : k::Reduce::Max;
    std::vector<int64_t> xs = b.shape(b.in(0)), axes = b.ais("axes");
    std::vector<bool> red(xs.size(), false);
    for (int64_t a : axes) {
      int64_t n = a < 0 ? a + static_cast<int64_t>(xs.size()) : a;
      if (n < 0 || n >= static_cast<int64_t>(xs.size()))
        return kind + ": axis out of range";
      red[n] = true;
    }
    std::vector<int64_t> st = stridesOf(xs);
    k::Reduction r;
    for (size_t d = 0; d < xs.size(); ++d) {
      if (red[d]) {
        r.redShape[r.reduced] = xs[d];
        r.redStride[r.reduced++] = st[d];
        r.group *= xs[d];
      } else {
        r.keptShape[r.kept] = xs[d];
        r.keptStride[r.kept++] = st[d];
        r.outputs *= xs[d];
      }
    }
    r.divisor = double(r.group);
    return bindOneOperand(
        kind,
        [=](const float *x, float *y) {
          return k::reduceForward(rk, x, y, r, c->stream);
        },
        [=](const float *x, const float *dy, float *dx) {
          return k::reduceBackward(rk, x, dy, dx, r, c->stream);
        });
  }

  if (kind == "conv2d") {
    if (b.ais("input_channels").size() == 2)
      return "no CUDA kernel for a grouped conv2d's output-channel shard "
             "(input_channels) (op '" + t.op + "'); run this plan with "
             "--backend cpu";
    std::vector<int64_t> st = b.ais("strides"), pad = b.ais("padding"),
                         dil = b.ais("dilations");
    std::vector<int64_t> xs = b.shape(b.in(0)), ws = b.shape(b.in(1)),
                         ys = fwd ? b.shape(b.out(0)) : b.shape(b.dy());
    if (xs.size() != 4 || ws.size() != 4 || ys.size() != 4)
      return "conv2d: NCHW operands expected";
    const int64_t groups = b.ai("groups", 1);
    k::Window g;
    g.h = xs[2], g.w = xs[3], g.oh = ys[2], g.ow = ys[3];
    g.kh = ws[2], g.kw = ws[3];
    g.sh = st.size() == 2 ? st[0] : 1, g.sw = st.size() == 2 ? st[1] : 1;
    g.dh = dil.size() == 2 ? dil[0] : 1, g.dw = dil.size() == 2 ? dil[1] : 1;
    g.padTop = pad.size() == 4 ? pad[0] : 0;
    g.padLeft = pad.size() == 4 ? pad[1] : 0;
    const int64_t N = xs[0], Cin = xs[1], Cout = ws[0], cg = ws[1];
    if (groups <= 0 || Cout % groups != 0 || cg * groups != Cin)
      return "conv2d: channels do not match the groups";
    const int64_t cog = Cout / groups, ckk = cg * g.kh * g.kw,
                  ohw = g.oh * g.ow;
    const float *x = b.f(b.in(0)), *w = b.f(b.in(1));
    float *cols = static_cast<float *>(scratch(sizeof(float) * N * ckk * ohw));
    if (!cols)
      return "conv2d: cannot allocate its columns on the device";
    if (fwd) {
      const float *bias = b.f(b.in(2));
      float *y = b.f(b.out(0));
      if (!b.need({x, w, y}, "conv2d"))
        return done();
      bind([=] {
        if (bias)
          c->check(k::channelBroadcast(bias, y, N, Cout, ohw, c->stream),
                   "conv2d bias");
        for (int64_t gi = 0; gi < groups; ++gi) {
          c->check(k::im2col(x, cols, N, Cin, cg, gi, g, c->stream), "im2col");
          c->gemm(false, false, ohw, cog, ckk, cols, ohw, w + gi * cog * ckk,
                  ckk, y + gi * cog * ohw, ohw, bias ? 1.f : 0.f, N, ckk * ohw,
                  0, Cout * ohw);
        }
      });
      return done();
    }
    const float *dy = b.f(b.dy());
    float *dx = b.f(b.out(0)), *dw = b.f(b.out(1)), *db = b.f(b.out(2));
    float *dcols =
        dx ? static_cast<float *>(scratch(sizeof(float) * N * ckk * ohw))
           : nullptr;
    if (dx && !dcols)
      return "conv2d: cannot allocate its column gradients on the device";
    if (!b.need({x, w, dy}, "conv2d"))
      return done();
    bind([=] {
      if (db)
        c->check(k::channelSums(dy, db, N, Cout, ohw, c->stream), "conv2d db");
      for (int64_t gi = 0; gi < groups; ++gi) {
        const float *wg = w + gi * cog * ckk, *dyg = dy + gi * cog * ohw;
        if (dw) {
          c->check(k::im2col(x, cols, N, Cin, cg, gi, g, c->stream), "im2col");
          // dw_g += dy_g,n cols_n^T, image after image.
          for (int64_t n = 0; n < N; ++n)
            c->gemm(true, false, ckk, cog, ohw, cols + n * ckk * ohw, ohw,
                    dyg + n * Cout * ohw, ohw, dw + gi * cog * ckk, ckk, 1.f);
        }
        if (dx) {
          // dcols_n = w_g^T dy_g,n, then scattered back into dx.
          c->gemm(false, true, ohw, ckk, cog, dyg, ohw, wg, ckk, dcols, ohw,
                  0.f, N, Cout * ohw, 0, ckk * ohw);
          c->check(k::col2im(dcols, dx, N, Cin, cg, gi, g, c->stream),
                   "col2im");
        }
      }
    });
    return done();
  }

  if (kind == "pool2d") {
    std::vector<int64_t> ker = b.ais("kernel"), st = b.ais("strides"),
                         pad = b.ais("padding"), dil = b.ais("dilations");
    if (ker.size() != 2 || st.size() != 2 || pad.size() != 4)
      return "pool2d needs kernel, strides and padding attributes";
    std::vector<int64_t> xs = b.shape(b.in(0)),
                         ys = fwd ? b.shape(b.out(0)) : b.shape(b.dy());
    if (xs.size() != 4 || ys.size() != 4)
      return "pool2d: NCHW operands expected";
    k::Window g;
    g.h = xs[2], g.w = xs[3], g.oh = ys[2], g.ow = ys[3];
    g.kh = ker[0], g.kw = ker[1], g.sh = st[0], g.sw = st[1];
    g.dh = dil.size() == 2 ? dil[0] : 1, g.dw = dil.size() == 2 ? dil[1] : 1;
    g.padTop = pad[0], g.padLeft = pad[1];
    const bool isMax = b.as("kind") != "avg";
    const bool inclPad = b.ab("count_include_pad");
    const int64_t planes = xs[0] * xs[1];
    return bindOneOperand(
        kind,
        [=](const float *x, float *y) {
          return k::pool2dForward(isMax, x, y, planes, g, inclPad, c->stream);
        },
        [=](const float *x, const float *dy, float *dx) {
          return k::pool2dBackward(isMax, x, dy, dx, planes, g, inclPad,
                                   c->stream);
        });
  }

  if (kind == "batch_norm") {
    const int64_t count = b.ai("count", 1);
    const double eps = b.af("epsilon", 1e-5), momentum = b.af("momentum", 0.1);
    std::vector<int64_t> xs = b.shape(b.in(0));
    if (xs.size() < 2)
      return "batch_norm: x [N, C, ...] expected";
    const int64_t N = xs[0], C = xs[1], plane = product(xs, 2, xs.size());
    const float *x = b.f(b.in(0));
    if (fwd && t.part == "stats") {
      double *sums = b.f64(b.out(0));
      if (!b.need({x, sums}, "batch_norm"))
        return done();
      bind([=] {
        c->check(k::bnLocalSums(x, sums, sums + C, N, C, plane, c->stream),
                 "batch_norm");
      });
    } else if (fwd && t.part == "normalize") {
      const float *scale = b.f(b.in(1)), *bias = b.f(b.in(2));
      const double *sums = b.f64(b.in(3));
      float *y = b.f(b.out(0)), *saved = b.f(b.out(1)), *run = b.f(b.out(2));
      float *var = static_cast<float *>(scratch(sizeof(float) * C));
      if (!var)
        return "batch_norm: cannot allocate scratch on the device";
      if (!b.need({x, scale, bias, sums, y, saved}, "batch_norm"))
        return done();
      bind([=] {
        c->check(k::bnFinalize(sums, sums + C, count, C, eps, saved, var,
                               saved + C, momentum, run,
                               run ? run + C : nullptr, c->stream),
                 "batch_norm");
        c->check(k::bnNormalize(x, saved, saved + C, scale, bias, y, N, C,
                                plane, c->stream),
                 "batch_norm");
      });
    } else if (!fwd && t.part == "stats") {
      const float *dy = b.f(b.in(1)), *saved = b.f(b.in(2));
      double *sums = b.f64(b.out(0));
      if (!b.need({x, dy, saved, sums}, "batch_norm"))
        return done();
      bind([=] {
        c->check(k::bnBackwardSums(x, dy, saved, saved + C, sums, sums + C, N,
                                   C, plane, c->stream),
                 "batch_norm");
      });
    } else if (!fwd && t.part == "params") {
      const double *sums = b.f64(b.in(0));
      const int64_t ch = b.shape(b.in(0)).empty() ? 0 : b.shape(b.in(0)).back();
      float *ds = b.f(b.out(0)), *db = b.f(b.out(1));
      if (!b.need({sums}, "batch_norm"))
        return done();
      bind([=] {
        c->check(k::bnBackwardParams(sums, sums + ch, ch, ds, db, c->stream),
                 "batch_norm");
      });
    } else if (!fwd && t.part == "input") {
      const float *dy = b.f(b.in(1)), *scale = b.f(b.in(2)),
                  *saved = b.f(b.in(3));
      const double *sums = b.f64(b.in(4));
      float *dx = b.f(b.out(0));
      if (!b.need({x, dy, scale, saved, sums}, "batch_norm"))
        return done();
      bind([=] {
        if (dx)
          c->check(k::bnBackwardInput(x, dy, saved, saved + C, scale, sums,
                                      sums + C, count, dx, N, C, plane,
                                      c->stream),
                   "batch_norm");
      });
    } else {
      return "batch_norm has no part '" + t.part + "'";
    }
    return done();
  }

  if (kind == "dropout") {
    std::vector<int64_t> gs = b.ais("global_shape"), off = b.ais("offset");
    std::vector<int64_t> s = fwd ? b.shape(b.in(0)) : b.shape(b.dy());
    if (gs.size() != s.size()) {
      gs = s;
      off.assign(s.size(), 0);
    }
    off.resize(s.size(), 0);
    int64_t seed = static_cast<int64_t>(
        static_cast<uint64_t>(b.ai("seed", 0)) ^
        (static_cast<uint64_t>(b.ai("salt", 0)) * 0x9E3779B97F4A7C15ull) ^
        (settings.seed * 0xD1B54A32D192ED03ull));
    double ratio = b.af("ratio", 0);
    k::Dims shard = dimsOf(s), global = dimsOf(gs);
    const float *src = fwd ? b.f(b.in(0)) : b.f(b.dy());
    float *dst = b.f(b.out(0));
    if (!b.need({src}, "dropout"))
      return done();
    out = [=](int64_t step) {
      if (!dst)
        return;
      uint64_t stream = mix64(mix64(static_cast<uint64_t>(seed) +
                                    0x9E3779B97F4A7C15ull) ^
                              static_cast<uint64_t>(step));
      c->enter();
      c->check(k::dropout(src, dst, shard, global, off.data(), stream, ratio,
                          !fwd, c->stream),
               "dropout");
    };
    return done();
  }

  std::string what = "no CUDA kernel for '" + kind + "'" +
                     (t.part.empty() ? "" : " (part '" + t.part + "')") +
                     " (op '" + t.op + "')";
  return what + "; run this plan with --backend cpu";
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

std::string CudaBackend::setupCollectives(const Plan &plan, int rank,
                                          runtime::Transport &transport,
                                          double timeout) {
  timeoutSeconds = timeout;
#ifdef SOAP_HAVE_NCCL
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess)
    count = 0;
  const char *env = std::getenv("SOAP_CUDA_NCCL");
  // NCCL needs a device per rank: ranks that share a GPU (more ranks on the
  // node than GPUs, e.g. ranks as threads on one GPU) stay on the host
  // transport. Every rank decides the same way (homogeneous nodes).
  bool threads = std::strcmp(transport.kind(), "threads") == 0;
  int local = threads ? plan.numRanks : localSize(plan.numRanks);
  if (!options.nccl || (env && std::strcmp(env, "0") == 0) || local > count)
    return "";
  ctx.enter();
  // In plan order, so that every member creates its communicators in the
  // same order (ncclCommInitRank blocks until all members joined).
  for (const Communicator &cm : plan.communicators) {
    int index = -1;
    for (size_t i = 0; i < cm.ranks.size(); ++i)
      if (cm.ranks[i] == rank)
        index = static_cast<int>(i);
    if (index < 0)
      continue;
    // Every member tells member 0 it got this far (so that a rank that
    // failed to start makes the others stop at the deadline instead of
    // blocking in ncclCommInitRank), member 0 then sends the id to all.
    ncclUniqueId id;
    const int64_t tag = kNcclIdTagBase + cm.id,
                  readyTag = kNcclReadyTagBase + cm.id;
    std::vector<runtime::Request> reqs;
    std::vector<char> ready(cm.ranks.size(), 1);
    std::string e;
    auto post = [&](bool send, int peer, int64_t tg, void *p, size_t n) {
      runtime::Request q;
      if (e.empty())
        e = send ? transport.isend(runtime::Channel::Control, peer, tg, p, n, q)
                 : transport.irecv(runtime::Channel::Control, peer, tg, p, n, q);
      if (e.empty())
        reqs.push_back(q);
    };
    auto wait = [&]() {
      if (e.empty())
        e = transport.waitAll(reqs, timeout);
      reqs.clear();
      return e;
    };
    if (index == 0) {
      for (size_t i = 1; i < cm.ranks.size(); ++i)
        post(false, cm.ranks[i], readyTag, &ready[i], 1);
      if (wait().empty()) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess)
          return std::string("ncclGetUniqueId: ") + ncclGetErrorString(r);
        for (size_t i = 1; i < cm.ranks.size(); ++i)
          post(true, cm.ranks[i], tag, &id, sizeof id);
        wait();
      }
    } else {
      post(true, cm.ranks[0], readyTag, &ready[0], 1);
      post(false, cm.ranks[0], tag, &id, sizeof id);
      wait();
    }
    if (!e.empty())
      return "NCCL bootstrap of communicator " + std::to_string(cm.id) + ": " + e;
    ncclComm_t comm;
    ncclResult_t r = ncclCommInitRank(&comm, static_cast<int>(cm.ranks.size()),
                                      id, index);
    if (r != ncclSuccess)
      return "ncclCommInitRank (communicator " + std::to_string(cm.id) +
             "): " + ncclGetErrorString(r);
    comms[cm.id] = comm;
  }
#endif
  return "";
}

bool CudaBackend::runsCollective(const PlanTask &t) const {
#ifdef SOAP_HAVE_NCCL
  return comms.count(t.comm) > 0;
#else
  return false;
#endif
}

std::string CudaBackend::collective(const PlanTask &t,
                                    const CollectiveGroup &group) {
#ifdef SOAP_HAVE_NCCL
  auto it = comms.find(t.comm);
  if (it == comms.end() || !group.comm)
    return "no NCCL communicator " + std::to_string(t.comm);
  ncclComm_t comm = it->second;
  BufferRef dst = dev(t.buffer), src = dev(t.src);
  if (!dst.meta)
    return "unknown buffer " + std::to_string(t.buffer);
  ncclDataType_t type;
  switch (dst.meta->dtype) {
  case DType::F32:
    type = ncclFloat32;
    break;
  case DType::F64:
    type = ncclFloat64;
    break;
  case DType::I64:
    type = ncclInt64;
    break;
  case DType::I32:
    type = ncclInt32;
    break;
  case DType::I1: // moved, never summed (the plan validator refuses sums)
    type = ncclUint8;
    break;
  default:
    return std::string("NCCL collectives of ") + toString(dst.meta->dtype) +
           " are not supported";
  }
  const int n = static_cast<int>(group.comm->ranks.size());
  const size_t count = static_cast<size_t>(dst.meta->numElements());
  ctx.enter();
  ncclResult_t r = ncclSuccess;
  switch (t.collective) {
  case CollectiveKind::AllReduce:
    r = ncclAllReduce(dst.data, dst.data, count, type, ncclSum, comm,
                      ctx.stream);
    break;
  case CollectiveKind::Broadcast:
    r = ncclBroadcast(dst.data, dst.data, count, type, t.root, comm,
                      ctx.stream);
    break;
  case CollectiveKind::AllGather:
    if (!src.meta)
      return "all-gather without a source buffer";
    r = ncclAllGather(src.data, dst.data,
                      static_cast<size_t>(src.meta->numElements()), type, comm,
                      ctx.stream);
    break;
  case CollectiveKind::ReduceScatter:
    if (!src.meta)
      return "reduce-scatter without a source buffer";
    r = ncclReduceScatter(src.data, dst.data, count, type, ncclSum, comm,
                          ctx.stream);
    break;
  case CollectiveKind::AllToAll: {
    if (!src.meta)
      return "all-to-all without a source buffer";
    size_t chunk = static_cast<size_t>(src.meta->numElements()) / n;
    size_t bytes = chunk * static_cast<size_t>(byteWidth(dst.meta->dtype));
    ncclGroupStart();
    for (int p = 0; p < n && r == ncclSuccess; ++p) {
      r = ncclSend(static_cast<char *>(src.data) + p * bytes, chunk, type, p,
                   comm, ctx.stream);
      if (r == ncclSuccess)
        r = ncclRecv(static_cast<char *>(dst.data) + p * bytes, chunk, type, p,
                     comm, ctx.stream);
    }
    ncclResult_t g = ncclGroupEnd();
    if (r == ncclSuccess)
      r = g;
    break;
  }
  }
  if (r != ncclSuccess)
    return std::string("NCCL ") + toString(t.collective) + ": " +
           ncclGetErrorString(r);
  return "";
#else
  return "this build has no NCCL";
#endif
}

} // namespace

std::unique_ptr<Backend> makeCudaBackend(const CudaBackendOptions &options,
                                         std::function<BufferRef(int)> host,
                                         std::string &error) {
  auto b = std::make_unique<CudaBackend>(options, std::move(host));
  error = b->open();
  if (!error.empty())
    return nullptr;
  return b;
}

} // namespace soap::cuda
