//===- KernelBench.cpp - GFLOP/s of the CPU kernels vs raw sgemm ----------===//
//
// Prints a markdown table: each GEMM-based kernel's rate, the rate of the raw
// cblas_sgemm call of the same shape (what the kernel would get if im2col,
// bias, softmax, ... were free) and of a 1024^3 sgemm, all measured in this
// run, and the ratios. Times are the best of several repetitions.
//
//   soap-kernel-bench [--threads N] [--quick]
//
//===----------------------------------------------------------------------===//

#include "soap/Runtime/Cpu/Kernels.h"

#include <cblas.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace soap::cpu;

namespace {

double gMinSeconds = 0.4;

/// With one thread, the thread's CPU time: on a machine shared with other
/// work, time spent descheduled does not count. With more, wall time.
bool gCpuClock = true;

double now() {
  if (gCpuClock) {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
  }
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double seconds(const std::function<void()> &fn) {
  double t0 = now();
  fn();
  return now() - t0;
}

/// Best seconds per call of fn over at least 3 calls and gMinSeconds.
double timeIt(const std::function<void()> &fn) {
  fn(); // warm up (page faults, OpenBLAS buffers)
  double best = 1e30, total = 0;
  for (int reps = 0; (reps < 3 || total < gMinSeconds) && reps < 200; ++reps) {
    double s = seconds(fn);
    best = std::min(best, s);
    total += s;
  }
  return best;
}

/// Best seconds of two functions timed alternately, so that a machine shared
/// with other work slows both alike.
std::pair<double, double> timePair(const std::function<void()> &a,
                                   const std::function<void()> &b) {
  a();
  b();
  double bestA = 1e30, bestB = 1e30, total = 0;
  for (int reps = 0; (reps < 3 || total < 2 * gMinSeconds) && reps < 200; ++reps) {
    double sa = seconds(a), sb = seconds(b);
    bestA = std::min(bestA, sa);
    bestB = std::min(bestB, sb);
    total += sa + sb;
  }
  return {bestA, bestB};
}

std::vector<float> randomData(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(gen);
  return v;
}

/// A raw cblas_sgemm C[m, n] = A[m, k] . B[k, n] with its own buffers.
struct RawGemm {
  int64_t m, n, k;
  std::vector<float> a, b, c;
  RawGemm(int64_t m, int64_t n, int64_t k)
      : m(m), n(n), k(k), a(randomData(m * k, 1)), b(randomData(k * n, 2)),
        c(m * n) {}
  void operator()() {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k),
                1.0f, a.data(), int(k), b.data(), int(n), 0.0f, c.data(), int(n));
  }
  double flops() const { return 2.0 * m * n * k; }
};

double gPeak = 0; // 1024^3 sgemm

/// Times `kernel` (doing `flops`) alternately with the raw GEMM and prints a
/// table row.
void row(const std::string &name, const std::string &shape, double flops,
         const std::function<void()> &kernel, RawGemm &raw) {
  auto [tk, tr] = timePair(kernel, [&] { raw(); });
  double rate = flops / tk * 1e-9, rawRate = raw.flops() / tr * 1e-9;
  std::printf("| %-24s | %-28s | %7.1f | %7.1f | %5.2f | %5.2f |\n", name.c_str(),
              shape.c_str(), rate, rawRate, rate / rawRate, rate / gPeak);
  std::fflush(stdout);
}

void benchLinear(int64_t m, int64_t k, int64_t n) {
  auto x = randomData(m * k, 3), w = randomData(k * n, 4), b = randomData(n, 5);
  std::vector<float> y(m * n), dx(m * k), dw(k * n), db(n);
  ConstFloatView xv(x.data(), {m, k}), wv(w.data(), {k, n}), bv(b.data(), {n});
  std::string shape = "[" + std::to_string(m) + "x" + std::to_string(k) + "]x[" +
                      std::to_string(k) + "x" + std::to_string(n) + "]";
  RawGemm raw(m, n, k);
  row("linear fwd", shape, 2.0 * m * n * k,
      [&] { linear::forward(xv, wv, bv, FloatView(y.data(), {m, n})); }, raw);
  row("linear bwd (dx, dw, db)", shape, 4.0 * m * n * k, [&] {
        linear::backward(xv, wv, ConstFloatView(y.data(), {m, n}),
                         FloatView(dx.data(), {m, k}), FloatView(dw.data(), {k, n}),
                         FloatView(db.data(), {n}));
      },
      raw);
}

void benchConv(const char *name, int64_t n, int64_t c, int64_t h, int64_t o,
               int64_t kh, int64_t stride, int64_t pad, int64_t groups = 1) {
  conv2d::Params p;
  p.strides[0] = p.strides[1] = stride;
  for (int64_t &v : p.padding)
    v = pad;
  p.groups = groups;
  int64_t oh = conv2d::outputSize(h, pad, pad, kh, stride, 1);
  Shape xs{n, c, h, h}, ws{o, c / groups, kh, kh}, ys{n, o, oh, oh};
  auto x = randomData(xs.numel(), 6), w = randomData(ws.numel(), 7),
       b = randomData(o, 8);
  std::vector<float> y(ys.numel()), dx(xs.numel()), dw(ws.numel()), db(o);
  int64_t gm = o / groups, gk = c / groups * kh * kh, gn = oh * oh;
  double flops = 2.0 * n * groups * gm * gn * gk;
  std::string shape = std::to_string(n) + "x" + std::to_string(c) + "x" +
                      std::to_string(h) + "^2 -> " + std::to_string(o) + " k" +
                      std::to_string(kh) + " s" + std::to_string(stride);
  // The equivalent GEMM: [O, C*KH*KW] . [C*KH*KW, N*OH*OW].
  RawGemm raw(gm, n * gn, gk);
  row(std::string(name) + " fwd", shape, flops, [&] {
        conv2d::forward(ConstFloatView(x.data(), xs), ConstFloatView(w.data(), ws),
                        ConstFloatView(b.data(), {o}), FloatView(y.data(), ys), p);
      },
      raw);
  row(std::string(name) + " bwd", shape, 2.0 * flops, [&] {
        conv2d::backward(ConstFloatView(x.data(), xs), ConstFloatView(w.data(), ws),
                         ConstFloatView(y.data(), ys), FloatView(dx.data(), xs),
                         FloatView(dw.data(), ws), FloatView(db.data(), {o}), p);
      },
      raw);
}

void benchAttention(int64_t b, int64_t s, int64_t e, int64_t heads) {
  auto q = randomData(b * s * e, 9), w = randomData(e * e, 10);
  std::vector<float> y(b * s * e), saved(attention::savedSize(b, s, s, e));
  std::vector<float> dq(q.size()), dwq(w.size()), dwk(w.size()), dwv(w.size()),
      dwo(w.size());
  ConstFloatView qv(q.data(), {b, s, e}), wv(w.data(), {e, e});
  attention::Params p;
  p.numHeads = heads;
  p.causal = true;
  double flops = 2.0 * b * s * e * e * 4 + 2.0 * 2 * b * s * s * e;
  std::string shape = "B" + std::to_string(b) + " S" + std::to_string(s) + " E" +
                      std::to_string(e) + " H" + std::to_string(heads);
  RawGemm raw(b * s, e, e);
  row("attention fwd", shape, flops, [&] {
        attention::forward(qv, qv, qv, wv, wv, wv, wv, {}, {}, {}, {},
                           FloatView(y.data(), {b, s, e}), p, saved.data());
      },
      raw);
  attention::Grads g;
  g.dq = g.dk = g.dv = FloatView(dq.data(), {b, s, e});
  g.dwq = FloatView(dwq.data(), {e, e});
  g.dwk = FloatView(dwk.data(), {e, e});
  g.dwv = FloatView(dwv.data(), {e, e});
  g.dwo = FloatView(dwo.data(), {e, e});
  row("attention bwd (saved)", shape, 2.0 * flops, [&] {
        attention::backward(qv, qv, qv, wv, wv, wv, wv, {}, {}, {},
                            ConstFloatView(y.data(), {b, s, e}), g, p,
                            saved.data());
      },
      raw);
}

void benchLstm(int64_t b, int64_t t, int64_t hsz) {
  auto x = randomData(b * t * hsz, 11), wi = randomData(hsz * 4 * hsz, 12),
       wh = randomData(hsz * 4 * hsz, 13);
  for (float &v : wi)
    v *= 0.05f;
  for (float &v : wh)
    v *= 0.05f;
  std::vector<float> y(b * t * hsz), saved(lstm::savedSize(b, t, hsz));
  Shape xs{b, t, hsz}, ws{hsz, 4 * hsz};
  double flops = 2.0 * b * t * 2 * hsz * 4 * hsz;
  std::string shape = "B" + std::to_string(b) + " T" + std::to_string(t) + " H" +
                      std::to_string(hsz);
  RawGemm raw(b, 4 * hsz, hsz); // the per-step recurrence GEMM
  row("lstm fwd", shape, flops, [&] {
        lstm::forward(ConstFloatView(x.data(), xs), ConstFloatView(wi.data(), ws),
                      ConstFloatView(wh.data(), ws), {}, FloatView(y.data(), xs),
                      saved.data());
      },
      raw);
}

} // namespace

int main(int argc, char **argv) {
  int threads = 1;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--quick]\n", argv[0]);
      return 2;
    }
  }
  if (quick)
    gMinSeconds = 0.1;
  setNumThreads(threads);
  gCpuClock = numThreads() == 1;
  {
    RawGemm peak(1024, 1024, 1024);
    gPeak = peak.flops() / timeIt([&] { peak(); }) * 1e-9;
  }
  std::printf("kernel threads: %d; raw cblas_sgemm (OpenBLAS threads: %d) "
              "1024^3: %.1f GFLOP/s; clock: %s\n\n",
              numThreads(), blasNumThreads(), gPeak,
              gCpuClock ? "thread CPU time" : "wall");
  std::printf("| %-24s | %-28s | %7s | %7s | %5s | %5s |\n", "kernel", "shape",
              "GFLOP/s", "sgemm", "ratio", "/peak");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(26, '-').c_str(),
              std::string(30, '-').c_str(), std::string(9, '-').c_str(),
              std::string(9, '-').c_str(), std::string(7, '-').c_str(),
              std::string(7, '-').c_str());
  benchLinear(2048, 1024, 1024);
  benchConv("conv 7x7/2 (stem)", 2, 3, 224, 64, 7, 2, 3);
  benchConv("conv 3x3 (res2)", 4, 64, 56, 64, 3, 1, 1);
  benchConv("conv 3x3 (res3)", 4, 128, 28, 128, 3, 1, 1);
  benchConv("conv 3x3 (res4)", 4, 256, 14, 256, 3, 1, 1);
  benchConv("conv 3x3 (res5)", 4, 512, 7, 512, 3, 1, 1);
  benchConv("conv 1x1 (direct)", 4, 256, 56, 64, 1, 1, 0);
  if (!quick) {
    benchConv("conv 3x3 dw (groups)", 4, 128, 28, 128, 3, 1, 1, 128);
    benchAttention(4, 128, 256, 4);
    benchLstm(32, 32, 256);
  }
  std::printf("\nsgemm: the raw cblas_sgemm of the kernel's GEMM shape (conv: "
              "[O, C*KH*KW] x [C*KH*KW, N*OH*OW]); ratio = kernel / sgemm; "
              "/peak = kernel / sgemm 1024^3.\n");
  return 0;
}
