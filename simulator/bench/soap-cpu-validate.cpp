//===- soap-cpu-validate.cpp - predicted vs measured steps on this CPU ----===//
//
//   soap-cpu-validate MODEL.mlir [--devices 2] [--repeats 5] [--steps 7]
//
// Calibrates the model's kernels on this CPU (soap-calibrate's library),
// predicts a training step on the calibrated cpu-host machine for one device
// and for data parallelism over `devices` cores, then runs each step for real
// and reports predicted vs measured. The step is replayed, not trained: one
// thread per device runs the same kernels the calibration timed (OpenBLAS
// GEMMs, im2col, streaming kernels, the optimizer's traffic) in the order of
// the simulated timeline, and the gradient all-reduces as shared-memory
// reduce-scatter plus all-gather between the threads (the runtime's CPU path
// does not exist yet). Supports strategies whose communication is
// all-reduces (data parallelism).
//
//===----------------------------------------------------------------------===//
#include "soap/Graph/Extract.h"
#include "soap/InitAll.h"
#include "soap/Simulator/Calibrate.h"
#include "soap/Simulator/Simulator.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

namespace cl = llvm::cl;
using Clock = std::chrono::steady_clock;

namespace {

/// A spinning barrier (a condition variable's wake-up costs tens of
/// microseconds, more than the small all-reduces it separates).
class Barrier {
public:
  explicit Barrier(int n) : n(n) {}
  void wait() {
    int gen = generation.load(std::memory_order_acquire);
    if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
      count.store(0, std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    for (int spins = 0; generation.load(std::memory_order_acquire) == gen; ++spins)
      if (spins > 1000)
        std::this_thread::yield();
  }

private:
  const int n;
  std::atomic<int> count{0};
  std::atomic<int> generation{0};
};

std::vector<int64_t> degreesOf(const soap::OpNode &op, const soap::ParallelConfig &c) {
  std::vector<int64_t> d;
  for (const soap::ParallelDim &pd : op.dims)
    d.push_back(c.degree(pd.name));
  return d;
}

/// Replays the simulated step on real threads; returns the wall seconds.
double replay(const soap::OpGraph &g, const soap::Strategy &s,
              const std::vector<soap::TaskInfo> &tasks, int devices,
              const soap::CostModel &cost, std::string &error,
              std::map<std::string, std::pair<double, double>> *breakdown = nullptr) {
  // Each device's tasks in the simulated order.
  std::vector<std::vector<const soap::TaskInfo *>> lists(devices);
  std::vector<const soap::TaskInfo *> sorted;
  for (const soap::TaskInfo &t : tasks)
    sorted.push_back(&t);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const soap::TaskInfo *a, const soap::TaskInfo *b) {
                     return a->start < b->start;
                   });
  for (const soap::TaskInfo *t : sorted) {
    bool collective = t->kind == soap::TaskKind::GradientSync ||
                      t->kind == soap::TaskKind::PartialSum;
    if (!soap::isComputeKind(t->kind) && !collective) {
      error = "the replay supports all-reduces only, not '" + t->name + "'";
      return 0;
    }
    for (int d : t->devices)
      if (d < devices)
        lists[d].push_back(t);
  }
  // One bench per device, kept across replays (their buffers are warm).
  static std::vector<std::unique_ptr<soap::KernelBench>> benches;
  while (static_cast<int>(benches.size()) < devices) {
    auto b = soap::makeCpuBench(1);
    if (!b) {
      error = b.error();
      return 0;
    }
    benches.push_back(b.take());
  }
  // All-reduce buffers: one per device, large enough for any collective.
  size_t maxFloats = 1;
  for (const soap::TaskInfo &t : tasks)
    if (!soap::isComputeKind(t.kind) && t.devices.size() > 1)
      maxFloats = std::max(maxFloats, static_cast<size_t>(
                                          t.bytes / (2.0 * (t.devices.size() - 1)) / 4 + 1));
  std::vector<std::vector<float>> buf(devices, std::vector<float>(maxFloats, 1.0f));
  Barrier barrier(devices);
  auto work = [&](int d) {
    soap::KernelBench &bench = *benches[d];
    for (const soap::TaskInfo *t : lists[d]) {
      const soap::OpNode &op = g.ops[t->op];
      auto began = Clock::now();
      switch (t->kind) {
      case soap::TaskKind::Forward:
      case soap::TaskKind::Backward:
        soap::runShardKernel(bench, op, degreesOf(op, s.configs[t->op]),
                             t->kind == soap::TaskKind::Backward);
        break;
      case soap::TaskKind::Update: {
        // The optimizer's traffic (Adam: 7 bytes per parameter byte).
        soap::OpShardingRule rule = soap::shardingRule(op);
        std::vector<int64_t> deg = degreesOf(op, s.configs[t->op]);
        int64_t bytes = 0;
        for (size_t j = 0; j < op.operands.size(); ++j)
          if (op.operands[j].source == soap::OperandSource::Weight) {
            int64_t n = rule.operands[j].elementBytes();
            for (int64_t x : soap::shardShape(rule.operands[j], op.dims, deg))
              n *= x;
            bytes += n;
          }
        bench.stream(bytes * 7);
        break;
      }
      default: {
        // Ring-free shared-memory all-reduce among the task's devices:
        // each sums its slice from everyone, then copies the others' slices.
        const std::vector<int> &grp = t->devices;
        size_t p = grp.size();
        size_t floats = static_cast<size_t>(t->bytes / (2.0 * (p - 1)) / 4);
        size_t me = std::find(grp.begin(), grp.end(), d) - grp.begin();
        size_t lo = floats * me / p, hi = floats * (me + 1) / p;
        barrier.wait();
        for (size_t q = 0; q < p; ++q)
          if (q != me)
            for (size_t i = lo; i < hi; ++i)
              buf[d][i] += buf[grp[q]][i];
        barrier.wait();
        for (size_t q = 0; q < p; ++q)
          if (q != me) {
            size_t qlo = floats * q / p, qhi = floats * (q + 1) / p;
            std::copy(buf[grp[q]].begin() + qlo, buf[grp[q]].begin() + qhi,
                      buf[d].begin() + qlo);
          }
        barrier.wait();
        break;
      }
      }
      if (breakdown && d == 0) {
        auto &e = (*breakdown)[t->name];
        e.first += t->end - t->start;
        e.second += std::chrono::duration<double>(Clock::now() - began).count();
      }
    }
  };
  (void)cost;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int d = 1; d < devices; ++d)
    threads.emplace_back(work, d);
  work(0);
  for (std::thread &t : threads)
    t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::opt<std::string> model(cl::Positional, cl::desc("<model.mlir>"), cl::Required);
  cl::opt<int> devices("devices", cl::init(2), cl::desc("Cores for data parallelism"));
  cl::opt<int> repeats("repeats", cl::init(5), cl::desc("Calibration repeats"));
  cl::opt<int> steps("steps", cl::init(7), cl::desc("Measured steps (median kept)"));
  cl::opt<bool> showBreakdown("breakdown", cl::desc("Predicted vs measured per task of device 0"));
  cl::ParseCommandLineOptions(argc, argv, "Predicted vs measured on this CPU\n");

  mlir::DialectRegistry registry;
  soap::registerSoapDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sm;
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(model, sm, &context);
  if (!module)
    return 1;
  auto graph = soap::extractOpGraph(*module);
  if (mlir::failed(graph))
    return 1;

  auto base = soap::MachineModel::loadPreset(
      "cpu-host", soap::MachineOverrides{1, static_cast<int64_t>(devices)});
  if (!base) {
    llvm::errs() << "error: " << base.error() << "\n";
    return 1;
  }
  auto bench = soap::makeCpuBench(1);
  soap::CalibrationOptions o;
  o.repeats = repeats;
  o.warmup = 2;
  o.maxDevices = devices;
  auto db = soap::calibrate(*graph, *base, **bench, o);
  if (!db) {
    llvm::errs() << "error: " << db.error() << "\n";
    return 1;
  }
  soap::MachineModel machine = soap::machineFromProfile(*base, *db);
  soap::CostModel cost(machine, &*db);
  std::printf("model %s, %zu ops; calibrated %zu kernels on %s\n",
              graph->modelName.c_str(), graph->ops.size(), db->size(),
              db->deviceName.c_str());
  std::printf("best single-core SGEMM %.1f GFLOP/s, streaming %.1f GB/s\n",
              db->bestGemmFlops / 1e9, db->bestBandwidth / 1e9);

  struct Case {
    const char *name;
    soap::Strategy strategy;
    int devices;
  };
  std::vector<Case> cases = {{"1 core", soap::singleDeviceStrategy(*graph), 1},
                             {"data parallel", soap::dataParallelStrategy(*graph, devices),
                              static_cast<int>(devices)}};
  for (Case &c : cases) {
    soap::Simulator sim(*graph, cost);
    auto r = sim.simulate(c.strategy);
    if (!r) {
      llvm::errs() << "error: " << r.error() << "\n";
      return 1;
    }
    std::vector<double> measured;
    std::string error;
    for (int i = 0; i < steps + 1; ++i) {
      double t = replay(*graph, c.strategy, sim.tasks(), c.devices, cost, error);
      if (!error.empty()) {
        llvm::errs() << "error: " << error << "\n";
        return 1;
      }
      if (i > 0) // the first is a warm-up
        measured.push_back(t);
    }
    std::sort(measured.begin(), measured.end());
    if (showBreakdown) {
      std::map<std::string, std::pair<double, double>> per;
      replay(*graph, c.strategy, sim.tasks(), c.devices, cost, error, &per);
      for (const auto &[name, pm] : per)
        std::printf("    %-36s predicted %8.3f ms  measured %8.3f ms\n", name.c_str(),
                    pm.first * 1e3, pm.second * 1e3);
    }
    double med = measured[measured.size() / 2];
    std::printf("%-14s x%d: predicted %.3f ms, measured %.3f ms (median of %d; "
                "min %.3f, max %.3f), error %+.1f%%\n",
                c.name, c.devices, r->stepTime * 1e3, med * 1e3, static_cast<int>(steps),
                measured.front() * 1e3, measured.back() * 1e3,
                (r->stepTime - med) / med * 100);
  }
  return 0;
}
