//===- Compile.cpp - baselines, search, evaluation ------------------------===//
#include "soap/Driver/Compile.h"
#include "soap/Search/Baselines.h"
#include "soap/Search/ConfigSpace.h"
#include "soap/Search/DynamicProgram.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace soap {

const BaselineResult *CompileResult::findBaseline(const std::string &name) const {
  for (const BaselineResult &b : baselines)
    if (b.name == name)
      return &b;
  return nullptr;
}

/// Configs per op the dynamic program considers (its cost grows with the
/// cube of this).
static constexpr size_t kDpConfigsPerOp = 8;

namespace {
/// The search's objective: the step time, plus a penalty that makes any
/// strategy that overflows a device's memory worse than every one that fits
/// (memory is a hard constraint), while still ranking overflows by size.
double objective(const SimResult &r, const MachineModel &m) {
  if (r.fitsMemory)
    return r.stepTime;
  double capacity = static_cast<double>(std::max<int64_t>(1, m.device.memoryBytes));
  double over = static_cast<double>(r.maxPeakMemory()) / capacity;
  return r.stepTime + 1e3 * over;
}

/// IncrementalCost over one simulator (one per chain: neither the simulator
/// nor the cost model's scratch is shared between threads).
class SimulatorCost : public IncrementalCost {
public:
  SimulatorCost(const OpGraph &graph, const CostModel &shared)
      : cost(shared.machine(), shared.profile(), shared.options()),
        sim(graph, cost) {}

  double reset(const Strategy &s) override {
    pending = false;
    auto r = sim.simulate(s);
    return r ? objective(*r, cost.machine())
             : std::numeric_limits<double>::infinity();
  }
  double tryChange(int op, const ParallelConfig &config) override {
    revert();
    previous = sim.strategy().configs[op];
    changedOp = op;
    auto r = sim.simulateDelta(op, config);
    if (!r)
      return std::numeric_limits<double>::infinity();
    pending = true;
    return objective(*r, cost.machine());
  }
  void acceptChange() override { pending = false; }

private:
  void revert() {
    if (pending)
      (void)sim.simulateDelta(changedOp, previous);
    pending = false;
  }
  CostModel cost;
  Simulator sim;
  bool pending = false;
  int changedOp = -1;
  ParallelConfig previous;
};
} // namespace

Strategy strategyFromFile(const OpGraph &graph, const StrategyFile &file) {
  Strategy s;
  s.configs.resize(graph.ops.size());
  for (size_t i = 0; i < graph.ops.size(); ++i)
    if (const OpConfig *c = file.find(graph.ops[i].name))
      s.configs[i] = makeConfig(graph.ops[i], c->degrees, c->start, c->strides);
  return s;
}

Expected<CompileResult> compile(const OpGraph &graph, const CostModel &cost,
                                const CompileOptions &o) {
  const auto begin = std::chrono::steady_clock::now();
  const MachineModel &machine = cost.machine();
  CompileResult result;
  Simulator sim(graph, cost);
  auto simulate = [&](const Strategy &s) { return sim.simulate(s); };

  // The baselines that apply to this model, on the same machine.
  BaselineOptions bo{machine.nodes, machine.devicesPerNode, o.tensorParallel};
  if (!o.baseline.empty()) {
    // An unknown name or a baseline that does not apply: its own message.
    Expected<Strategy> s = makeBaseline(o.baseline, graph, bo);
    if (!s)
      return Error{s.error()};
  }
  result.expertBaseline = expertBaselineFor(graph);
  for (const std::string &name : baselineNames()) {
    if (name != "data-parallel" && name != result.expertBaseline &&
        name != o.baseline)
      continue;
    // Megatron without a given degree: its best tensor-parallel degree
    // within a node (1, 2, 4, ...), as a tuned expert plan would use.
    std::vector<int64_t> degrees = {o.tensorParallel};
    if (name == "megatron" && o.tensorParallel == 0) {
      degrees.clear();
      for (int64_t tp = 1; tp <= machine.devicesPerNode; tp *= 2)
        if (machine.devicesPerNode % tp == 0)
          degrees.push_back(tp);
    }
    std::optional<BaselineResult> best;
    std::string lastError;
    for (int64_t tp : degrees) {
      BaselineOptions options = bo;
      options.tensorParallel = tp;
      Expected<Strategy> s = makeBaseline(name, graph, options);
      if (!s) {
        lastError = s.error();
        continue;
      }
      Expected<SimResult> r = simulate(*s);
      if (!r)
        return Error{"baseline " + name + ": " + r.error()};
      if (!best || objective(*r, machine) < objective(best->sim, machine))
        best = BaselineResult{name, s.take(), r.take()};
    }
    if (!best) {
      if (name == o.baseline)
        return Error{lastError};
      continue;
    }
    result.baselines.push_back(std::move(*best));
  }

  auto finish = [&](Strategy s, std::string origin) -> Expected<CompileResult> {
    Expected<SimResult> r = simulate(s);
    if (!r)
      return Error{r.error()};
    result.strategy = std::move(s);
    result.sim = r.take();
    result.origin = std::move(origin);
    result.wallSeconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - begin)
                             .count();
    return std::move(result);
  };

  if (!o.baseline.empty()) {
    const BaselineResult *b = result.findBaseline(o.baseline);
    if (!b)
      return Error{"baseline '" + o.baseline + "' does not apply to this model"};
    return finish(b->strategy, "baseline:" + o.baseline);
  }
  Strategy fromFile;
  if (o.strategy) {
    fromFile = strategyFromFile(graph, *o.strategy);
    if (!o.refine)
      return finish(fromFile, "file");
  }

  // The search: chains from the given strategy, the baselines and random
  // strategies, refined by Metropolis-Hastings on the full simulator.
  ConfigSpaceOptions so;
  so.nodes = machine.nodes;
  so.devicesPerNode = machine.devicesPerNode;
  so.maxConfigsPerOp = 256;
  std::vector<std::vector<ParallelConfig>> space =
      enumerateConfigSpace(graph, so);
  std::vector<McmcChainStart> starts;
  if (o.strategy)
    starts.push_back({"file", fromFile});

  // The exact DP under the simulator's additive costs (serial time: no
  // overlap, no contention), over every op's configs that use all devices
  // or one, as the first start.
  {
    const int64_t all = machine.numDevices();
    std::vector<std::vector<int>> pick(space.size());
    std::vector<int> counts(space.size());
    for (size_t i = 0; i < space.size(); ++i) {
      for (size_t k = 0; k < space[i].size() && pick[i].size() < kDpConfigsPerOp;
           ++k) {
        const ParallelConfig &c = space[i][k];
        if (c.start == 0 && (c.numDevices() == all || c.numDevices() == 1))
          pick[i].push_back(static_cast<int>(k));
      }
      counts[i] = static_cast<int>(pick[i].size());
    }
    const double inf = std::numeric_limits<double>::infinity();
    // The DP's tables cost one resharding price per pair of configs of every
    // edge; on large machines that alone could exceed the budget. It gets a
    // fifth of the budget; past it, the tables fill with zeros and the DP's
    // result is dropped.
    const auto dpStart = std::chrono::steady_clock::now();
    bool dpOutOfTime = false;
    int64_t dpCalls = 0;
    auto dpTimeUp = [&] {
      if (dpOutOfTime)
        return true;
      if ((++dpCalls & 255) == 0 && o.budgetSeconds > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        dpStart)
                  .count() > 0.2 * o.budgetSeconds)
        dpOutOfTime = true;
      return dpOutOfTime;
    };
    AdditiveCost additive;
    additive.node = [&](int op, int c) {
      if (dpTimeUp())
        return 0.0;
      auto t = sim.opTime(op, space[op][pick[op][c]]);
      return t ? *t : inf;
    };
    additive.edge = [&](int e, int a, int b) {
      if (dpTimeUp())
        return 0.0;
      const Edge &edge = graph.edges[e];
      auto t = sim.edgeTime(e, space[edge.src][pick[edge.src][a]],
                            space[edge.dst][pick[edge.dst][b]]);
      return t ? *t : inf;
    };
    DpResult dp = solveAdditive(graph, counts, additive);
    Strategy dpStrategy;
    if (dpOutOfTime)
      counts.clear(); // dropped: see above
    for (size_t i = 0; i < space.size() && !counts.empty(); ++i)
      dpStrategy.configs.push_back(space[i][pick[i][dp.choice[i]]]);
    if (dpOutOfTime)
      result.dpSkipped = true;
    else if (Expected<SimResult> r = simulate(dpStrategy)) {
      result.dpStepTime = r->stepTime;
      result.dpExact = dp.exact;
      starts.insert(starts.begin(), {"dp", std::move(dpStrategy)});
    }
  }
  for (const BaselineResult &b : result.baselines)
    starts.push_back({b.name, b.strategy});

  int64_t movable = 0;
  for (const auto &configs : space)
    movable += configs.size() > 1;
  McmcOptions mo;
  mo.seed = o.seed;
  mo.chains = o.threads;
  mo.budgetSeconds = o.budgetSeconds;
  mo.iterationsPerChain =
      o.iterationsPerChain > 0
          ? o.iterationsPerChain
          : std::clamp<int64_t>(40 * movable, 2000, 20000);
  mo.progress = o.progress;
  McmcResult mcmc = runMcmc(
      space, starts,
      [&] { return std::make_unique<SimulatorCost>(graph, cost); }, mo);
  Strategy best = mcmc.best;
  // Never return worse than a start (a chain may have been cut by the
  // budget before it improved on a baseline).
  double bestObjective = mcmc.bestCost;
  for (const McmcChainStart &s : starts) {
    Expected<SimResult> r = simulate(s.strategy);
    if (r && objective(*r, machine) < bestObjective) {
      bestObjective = objective(*r, machine);
      best = s.strategy;
    }
  }
  result.search = std::move(mcmc);
  return finish(std::move(best), "search");
}

StrategyFile makeStrategyFile(const OpGraph &graph, const MachineModel &machine,
                              const CompileResult &r, const CompileOptions &o) {
  StrategyFile f;
  f.modelName = graph.modelName;
  f.modelFingerprint = graph.fingerprintHex();
  f.machineName = machine.name;
  f.nodes = machine.nodes;
  f.devicesPerNode = machine.devicesPerNode;
  f.machineFingerprint = machine.fingerprintHex();
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const ParallelConfig &c = r.strategy.configs[i];
    OpConfig entry;
    entry.op = graph.ops[i].name;
    entry.kind = graph.ops[i].kind;
    entry.start = c.start;
    std::vector<int64_t> strides = c.effectiveStrides();
    for (size_t d = 0; d < c.degrees.size(); ++d) {
      entry.degrees[c.degrees[d].first] = c.degrees[d].second;
      entry.strides[c.degrees[d].first] = strides[d];
    }
    f.ops.push_back(std::move(entry));
  }
  StrategyMetrics m;
  m.stepTimeSeconds = r.sim.stepTime;
  m.peakMemoryBytes = r.sim.peakMemory;
  m.communicationBytes = static_cast<int64_t>(r.sim.commBytes);
  m.mfu = std::clamp(r.sim.mfu, 0.0, 1.0);
  f.predicted = m;
  for (const BaselineResult &b : r.baselines)
    f.baselineStepTimeSeconds[b.name] = b.sim.stepTime;
  if (r.search) {
    SearchInfo info;
    info.algorithm = "mcmc";
    info.seed = o.seed;
    info.budgetSeconds = o.budgetSeconds;
    info.iterations = r.search->iterations;
    info.wallTimeSeconds = r.wallSeconds;
    f.search = info;
  }
  return f;
}

static std::string human(double seconds) {
  char buf[64];
  if (seconds >= 1)
    std::snprintf(buf, sizeof buf, "%.3f s", seconds);
  else if (seconds >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.3f ms", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f us", seconds * 1e6);
  return buf;
}

static std::string bytes(double b) {
  char buf[64];
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

std::string summarize(const OpGraph &graph, const MachineModel &machine,
                      const CompileResult &r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "model      %s: %zu ops, %.3g parameters\n",
                graph.modelName.c_str(), graph.ops.size(),
                double(graph.totalParameters()));
  out += line;
  std::snprintf(line, sizeof line, "machine    %s: %lld x %lld devices\n",
                machine.name.c_str(), (long long)machine.nodes,
                (long long)machine.devicesPerNode);
  out += line;
  out += "strategy   " + r.origin + "\n";
  out += "step time  " + human(r.sim.stepTime) + "\n";
  for (const BaselineResult &b : r.baselines) {
    std::snprintf(line, sizeof line, "vs %-14s %s  (%.2fx)%s\n",
                  b.name.c_str(), human(b.sim.stepTime).c_str(),
                  b.sim.stepTime / std::max(r.sim.stepTime, 1e-30),
                  b.sim.fitsMemory ? "" : "  does not fit in memory");
    out += line;
  }
  std::snprintf(line, sizeof line, "memory     peak %s per device (capacity %s)%s\n",
                bytes(double(r.sim.maxPeakMemory())).c_str(),
                bytes(double(machine.device.memoryBytes)).c_str(),
                r.sim.fitsMemory ? "" : "  DOES NOT FIT");
  out += line;
  std::snprintf(line, sizeof line, "MFU        %.1f %%\n", 100 * r.sim.mfu);
  out += line;
  if (r.dpSkipped)
    out += "dp         skipped (its cost tables outgrew a fifth of the budget)\n";
  if (r.dpStepTime) {
    std::snprintf(line, sizeof line, "dp         %s (%s under the additive model)\n",
                  human(*r.dpStepTime).c_str(), r.dpExact ? "exact" : "approximate");
    out += line;
  }
  if (r.search) {
    std::snprintf(line, sizeof line,
                  "search     %.2f s, %lld moves on %d chains (best from %s)%s\n",
                  r.wallSeconds, (long long)r.search->iterations,
                  r.search->chains, r.search->bestChainStart.c_str(),
                  r.search->stoppedByBudget
                      ? ", stopped by the time budget (result depends on "
                        "machine speed)"
                      : "");
    out += line;
  }
  return out;
}

} // namespace soap
