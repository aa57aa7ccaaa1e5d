//===- soap-sim-bench.cpp - how fast the simulator is, and what it says ---===//
//
//   soap-sim-bench MODEL.mlir --machine dgx-a100 --nodes 8
//                  [--repeats 20] [--moves 2000] [--seed 1] [--trace FILE]
//
// Prints the graph's size, the predicted step of one device and of data
// parallelism over the whole machine, then the wall time of a full
// simulation (cold: every cost computed; warm: costs cached, as in a search)
// and of delta updates after random single-op moves, checking every delta
// against a full simulation of the same strategy on another simulator.
// Timings belong in bench/ notes, not in tests (STYLE.md habit 11).
//
//===----------------------------------------------------------------------===//
#include "soap/Graph/Extract.h"
#include "soap/InitAll.h"
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
#include <cstdio>
#include <random>

namespace cl = llvm::cl;
using Clock = std::chrono::steady_clock;

static double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// A random valid config: powers of two on a random subset of dims, placed
/// at a random aligned start.
static soap::ParallelConfig randomConfig(std::mt19937 &rng, const soap::OpNode &op,
                                         const soap::Simulator &sim, int64_t devices,
                                         int index) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    soap::ParallelConfig c;
    int64_t used = 1;
    for (const soap::ParallelDim &d : op.dims) {
      std::vector<int64_t> choices{1};
      for (int64_t g = 2; used * g <= devices && d.size % g == 0; g *= 2)
        choices.push_back(g);
      int64_t g = choices[rng() % choices.size()];
      if (g > 1) {
        c.degrees.emplace_back(d.name, g);
        used *= g;
      }
    }
    int64_t slots = devices / used;
    c.start = static_cast<int64_t>(rng() % slots) * used;
    if (sim.checkConfig(index, c).empty())
      return c;
  }
  return soap::ParallelConfig{};
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::opt<std::string> model(cl::Positional, cl::desc("<model.mlir>"), cl::Required);
  cl::opt<std::string> machineName("machine", cl::init("dgx-a100"),
                                   cl::desc("Machine preset or file"));
  cl::opt<int> nodes("nodes", cl::init(0), cl::desc("Override the node count"));
  cl::opt<int> repeats("repeats", cl::init(20), cl::desc("Timed full simulations"));
  cl::opt<int> moves("moves", cl::init(2000), cl::desc("Delta moves"));
  cl::opt<unsigned> seed("seed", cl::init(1), cl::desc("Random seed of the moves"));
  cl::opt<int> check("check", cl::init(50),
                     cl::desc("Check this many deltas against full simulations"));
  cl::opt<std::string> trace("trace", cl::init(""),
                             cl::desc("Write the data-parallel step's trace"));
  cl::ParseCommandLineOptions(argc, argv, "Simulator speed\n");

  soap::MachineOverrides overrides;
  if (nodes > 0)
    overrides.nodes = nodes;
  auto machine = soap::MachineModel::loadPreset(machineName, overrides);
  if (!machine) {
    llvm::errs() << "error: " << machine.error() << "\n";
    return 1;
  }
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
  const soap::OpGraph &g = *graph;
  const int64_t devices = machine->numDevices();

  soap::CostModel cost(*machine);
  soap::Strategy dp = soap::dataParallelStrategy(g, devices);
  soap::Strategy one = soap::singleDeviceStrategy(g);

  soap::Simulator sim(g, cost);
  auto t0 = Clock::now();
  auto first = sim.simulate(dp);
  double cold = seconds(t0);
  if (!first) {
    llvm::errs() << "error: " << first.error() << "\n";
    return 1;
  }
  if (!trace.empty())
    if (std::string e = sim.writeTrace(trace); !e.empty())
      llvm::errs() << "error: " << e << "\n";
  soap::Simulator sim1(g, cost);
  auto single = sim1.simulate(one);

  std::printf("model %s: %zu ops, %zu edges, %.3g GFLOP per step (fwd+bwd)\n",
              g.modelName.c_str(), g.ops.size(), g.edges.size(),
              first->modelFlops / 1e9);
  std::printf("machine %s: %lld nodes x %lld devices (%s)\n", machine->name.c_str(),
              static_cast<long long>(machine->nodes),
              static_cast<long long>(machine->devicesPerNode),
              machine->device.type.c_str());
  if (single)
    std::printf("single device:      step %.4f s, peak memory %.2f GB%s\n",
                single->stepTime, single->maxPeakMemory() / 1e9,
                single->fitsMemory ? "" : " (does not fit)");
  std::printf("data parallel x%-4lld step %.4f s, peak memory %.2f GB%s, MFU %.3f, "
              "%lld tasks, %.3g GB communicated\n",
              static_cast<long long>(devices), first->stepTime,
              first->maxPeakMemory() / 1e9, first->fitsMemory ? "" : " (does not fit)",
              first->mfu, static_cast<long long>(first->tasks), first->commBytes / 1e9);

  // Full simulations with warm caches.
  t0 = Clock::now();
  for (int i = 0; i < repeats; ++i)
    (void)sim.simulate(dp);
  double warm = seconds(t0) / std::max(1, static_cast<int>(repeats));

  // Random moves: delta, checked against a full simulation elsewhere.
  std::mt19937 rng(seed);
  std::vector<std::pair<int, soap::ParallelConfig>> plan;
  for (int i = 0; i < moves; ++i) {
    int op = static_cast<int>(rng() % g.ops.size());
    plan.emplace_back(op, randomConfig(rng, g.ops[op], sim, devices, op));
  }
  // Pass 1: the moves as deltas (new configs: their costs are computed
  // here), every few checked against a full simulation on another
  // simulator.
  (void)sim.simulate(dp);
  soap::Strategy s = dp;
  soap::Simulator ref(g, cost);
  int mismatches = 0, checked = 0;
  double firstDelta = 0;
  for (int i = 0; i < moves; ++i) {
    auto t1 = Clock::now();
    auto r = sim.simulateDelta(plan[i].first, plan[i].second);
    firstDelta += seconds(t1);
    if (!r) {
      llvm::errs() << "error: " << r.error() << "\n";
      return 1;
    }
    s.configs[plan[i].first] = plan[i].second;
    if (i % std::max(1, moves / std::max(1, static_cast<int>(check))) == 0) {
      auto full = ref.simulate(s);
      ++checked;
      if (!full || full->stepTime != r->stepTime ||
          full->peakMemory != r->peakMemory)
        ++mismatches;
    }
  }
  // Pass 2 and 3: the same moves again with every cost cached, as deltas
  // and as full simulations of the moved strategies.
  (void)sim.simulate(dp);
  double warmDelta = 0;
  for (int i = 0; i < moves; ++i) {
    auto t1 = Clock::now();
    (void)sim.simulateDelta(plan[i].first, plan[i].second);
    warmDelta += seconds(t1);
  }
  s = dp;
  double warmFull = 0;
  for (int i = 0; i < moves; ++i) {
    s.configs[plan[i].first] = plan[i].second;
    auto t1 = Clock::now();
    (void)sim.simulate(s);
    warmFull += seconds(t1);
  }
  // Pass 4: a search's rejected proposals: each move, then its undo.
  (void)sim.simulate(dp);
  double proposeTime = 0, undoTime = 0;
  for (int i = 0; i < moves; ++i) {
    soap::ParallelConfig old = sim.strategy().configs[plan[i].first];
    auto t1 = Clock::now();
    (void)sim.simulateDelta(plan[i].first, plan[i].second);
    auto t2 = Clock::now();
    (void)sim.simulateDelta(plan[i].first, old);
    proposeTime += std::chrono::duration<double>(t2 - t1).count();
    undoTime += seconds(t2);
  }
  int n = std::max(1, static_cast<int>(moves));
  std::printf("full simulation of data parallelism: cold %.3f ms (every cost "
              "computed), warm %.3f ms (costs cached)\n",
              cold * 1e3, warm * 1e3);
  std::printf("%d random single-op moves: delta %.3f ms with new configs' costs, "
              "%.3f ms cached; full %.3f ms cached (delta %.2fx faster); "
              "%d deltas checked against full: %d mismatches\n",
              static_cast<int>(moves), firstDelta / n * 1e3, warmDelta / n * 1e3,
              warmFull / n * 1e3, warmFull / warmDelta, checked, mismatches);
  std::printf("rejected proposals: propose %.3f ms, undo %.4f ms (%.0fx faster "
              "than a full simulation)\n",
              proposeTime / n * 1e3, undoTime / n * 1e3, warmFull / undoTime);
  return mismatches ? 2 : 0;
}
