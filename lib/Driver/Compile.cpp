//===- Compile.cpp - baselines, search, evaluation ------------------------===//
#include "soap/Driver/Compile.h"
#include "soap/Plan/Planner.h"
#include "soap/Search/Baselines.h"
#include "soap/Search/ConfigSpace.h"
#include "soap/Search/DynamicProgram.h"
#include "soap/Search/Pipeline.h"
#include "soap/Simulator/Pipeline.h"

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
  bool recompute = false;
  for (size_t i = 0; i < graph.ops.size(); ++i)
    if (const OpConfig *c = file.find(graph.ops[i].name)) {
      s.configs[i] = makeConfig(graph.ops[i], c->degrees, c->start, c->strides);
      recompute |= c->recompute;
    }
  TrainingConfig &t = s.training;
  if (file.pipeline) {
    t.microBatches = file.pipeline->microBatches;
    t.schedule = file.pipeline->schedule == "gpipe" ? PipelineSchedule::GPipe
                                                    : PipelineSchedule::OneFOneB;
    if (file.pipeline->stages.size() > 1)
      for (const PipelineStageSpec &st : file.pipeline->stages)
        t.stages.push_back({graph.findOp(st.firstOp), graph.findOp(st.lastOp),
                            st.firstDevice, st.numDevices});
  }
  t.zeroStage = file.zeroStage;
  t.offloadOptimizer = file.offloadOptimizer;
  if (recompute) {
    t.recompute.assign(graph.ops.size(), 0);
    for (size_t i = 0; i < graph.ops.size(); ++i)
      if (const OpConfig *c = file.find(graph.ops[i].name))
        t.recompute[i] = c->recompute;
  }
  return s;
}

/// "4 micro-batches, recompute, ZeRO 1, offload" (the memory options of a
/// strategy without stages).
static std::string describeTraining(const TrainingConfig &t) {
  std::string out = std::to_string(t.microBatches) +
                    (t.microBatches == 1 ? " micro-batch" : " micro-batches");
  if (t.anyRecompute())
    out += ", recompute";
  if (t.zeroStage)
    out += ", ZeRO " + std::to_string(t.zeroStage);
  if (t.offloadOptimizer)
    out += ", offload";
  return out;
}

/// Megatron-LM's pipelined configuration (see compile()).
static Expected<BaselineResult> megatronPipeline(const OpGraph &graph,
                                                 Simulator &sim,
                                                 const MachineModel &machine,
                                                 int64_t tp, int64_t pp,
                                                 int64_t microBatches,
                                                 bool allowRecompute,
                                                 const std::function<std::string(const Strategy &)> &refusal) {
  PipelineChoice c;
  c.tensorParallel = tp;
  c.pipelineParallel = pp;
  c.equalLayers = true;
  Expected<Strategy> s =
      pipelineStrategy(sim, c, machine.nodes, machine.devicesPerNode);
  if (!s)
    return Error{s.error()};
  Strategy plain = *s;
  plain.training = TrainingConfig{};
  plain.training.stages = s->training.stages;
  Expected<SimResult> r = sim.simulate(plain);
  if (!r)
    return Error{r.error()};
  const int64_t perReplica = replicaBatch(graph, plain);
  std::vector<int64_t> micro;
  if (microBatches > 0)
    micro.push_back(microBatches);
  else
    for (int64_t mbs = 1; mbs <= perReplica; mbs *= 2)
      if (perReplica % mbs == 0)
        micro.push_back(perReplica / mbs);
  if (micro.empty())
    micro.push_back(1);
  std::optional<BaselineResult> best;
  std::string lastRefusal;
  for (int64_t m : micro)
    for (bool rc : {true, false}) {
      // Without the memory options (a strategy to lower): no recomputation.
      if (rc && !allowRecompute)
        continue;
      TrainingConfig t;
      t.stages = plain.training.stages;
      t.microBatches = m;
      if (rc)
        t.recompute = recomputeLayers(graph);
      if (refusal) {
        // A strategy to lower: only what the planner takes.
        Strategy st = plain;
        st.training = t;
        lastRefusal = refusal(st);
        if (!lastRefusal.empty())
          continue;
      }
      Expected<SimResult> tr = sim.simulateTraining(t);
      if (!tr)
        return Error{tr.error()};
      if (!best || objective(*tr, machine) < objective(best->sim, machine)) {
        PipelineChoice choice = c;
        choice.microBatches = m;
        choice.recompute = rc;
        Strategy st = plain;
        st.training = t;
        best = BaselineResult{"megatron", std::move(st), tr.take(),
                              choice.str()};
      }
    }
  if (!best)
    return Error{"its pipeline (tp " + std::to_string(tp) + ", pp " +
                 std::to_string(pp) + ") does not lower with any micro-batch "
                 "count: " + lastRefusal};
  return std::move(*best);
}

Expected<CompileResult> compile(const OpGraph &graph, const CostModel &cost,
                                const CompileOptions &o) {
  const auto begin = std::chrono::steady_clock::now();
  const MachineModel &machine = cost.machine();
  CompileResult result;
  Simulator sim(graph, cost);
  // For a strategy to lower: the planner's refusal of a candidate ("" when
  // it lowers), and a check that records why a faster candidate was dropped.
  std::function<std::string(const Strategy &)> refusal;
  if (o.forLowering)
    refusal = [&](const Strategy &s) {
      return planRefusal(graph, s, machine.numDevices());
    };
  auto lowers = [&](const Strategy &s, const std::string &what) {
    if (!refusal)
      return true;
    std::string why = refusal(s);
    if (!why.empty())
      result.notLowerable.push_back(what + ": " + why);
    return why.empty();
  };
  // The longest simulation so far: the baselines' are cold (every cost
  // computed), what each search chain pays for its start.
  double coldSeconds = 0;
  auto simulate = [&](const Strategy &s) {
    const auto t0 = std::chrono::steady_clock::now();
    Expected<SimResult> r = sim.simulate(s);
    coldSeconds = std::max(coldSeconds,
                           std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - t0)
                               .count());
    return r;
  };

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
    // Megatron-LM's own pipelined choice (below) replaces the sweep.
    const bool pipelinedMegatron =
        name == "megatron" &&
        ((o.trainingFeatures && megatronPublishedDegrees(graph)) ||
         o.pipelineParallel > 0);
    if (pipelinedMegatron)
      degrees.clear();
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
        best = BaselineResult{name, s.take(), r.take(),
                              name == "megatron" ? "tp " + std::to_string(tp)
                                                 : ""};
    }
    // Megatron-LM with pipeline parallelism: its published (tp, pp) for
    // a GPT of its table, or the given --tp/--pp, 1F1B over equal numbers
    // of layers per stage, the fastest micro-batch size that fits, with
    // or without recomputing every layer.
    if (pipelinedMegatron) {
      std::optional<std::pair<int64_t, int64_t>> degrees =
          megatronPublishedDegrees(graph);
      if (o.pipelineParallel > 0) {
        // Without --tp: tensor parallelism within a node, as wide as the
        // stages' share of the devices allows (a power of two).
        int64_t tp = o.tensorParallel;
        const int64_t perStage =
            std::max<int64_t>(1, machine.numDevices() / o.pipelineParallel);
        if (tp <= 0)
          for (tp = 1; 2 * tp <= machine.devicesPerNode &&
                       perStage % (2 * tp) == 0;)
            tp *= 2;
        degrees = {tp, o.pipelineParallel};
      }
      if (degrees) {
        Expected<BaselineResult> b =
            megatronPipeline(graph, sim, machine, degrees->first,
                             degrees->second, o.microBatches,
                             o.trainingFeatures, refusal);
        if (!b && o.forLowering && name != o.baseline)
          result.notLowerable.push_back("baseline megatron: " + b.error());
        else if (!b)
          return Error{"baseline megatron: " + b.error()};
        else
          best = b.take(); // Megatron-LM's own choice replaces the tp sweep
      }
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
    if (!result.sim.fitsMemory && o.explainFit && o.trainingFeatures)
      result.fitAdvice = smallestFittingMachine(graph, machine,
                                                std::max(10.0, o.budgetSeconds));
    result.wallSeconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - begin)
                             .count();
    return std::move(result);
  };

  if (!o.baseline.empty()) {
    const BaselineResult *b = result.findBaseline(o.baseline);
    if (!b)
      return Error{"baseline '" + o.baseline + "' does not apply to this model"};
    result.pipelineChoice = b->choice;
    return finish(b->strategy, "baseline:" + o.baseline);
  }
  Strategy fromFile;
  if (o.strategy) {
    fromFile = strategyFromFile(graph, *o.strategy);
    if (!o.refine)
      return finish(fromFile, "file");
  }

  // The inter-op search (pipeline stages x sub-meshes x micro-batches x
  // memory options over Megatron-style stages) for models with layer
  // boundaries, within 40 % of the budget.
  if (o.trainingFeatures && machine.numDevices() > 1 &&
      !layerBoundaries(graph).empty()) {
    PipelineSearchOptions po;
    po.nodes = machine.nodes;
    po.devicesPerNode = machine.devicesPerNode;
    // The budget counts from the start (the baselines' cold simulations
    // are part of it).
    // When cold simulations are so slow that the plain chains will be
    // skipped (below), the inter-op search gets most of the budget.
    const double used =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
            .count();
    const double chainCost =
        coldSeconds * static_cast<double>(result.baselines.size() + 3);
    const bool chainsLikely = chainCost < 0.3 * (o.budgetSeconds - used);
    po.budgetSeconds = std::max(0.05 * o.budgetSeconds,
                                (chainsLikely ? 0.4 : 0.85) * o.budgetSeconds -
                                    used);
    result.pipelineSearch = searchPipelines(
        sim, po, [&](const SimResult &r) { return objective(r, machine); });
  }
  // The search: chains from the given strategy, the baselines and random
  // strategies, refined by Metropolis-Hastings on the full simulator.
  // Skipped when the chains' cold simulations of their starts (one per
  // baseline and the DP's, in each chain's own simulator) would take more
  // than half of what is left of the budget (hundreds of devices and up):
  // every chain would spend its time simulating its starts.
  const double left =
      o.budgetSeconds -
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  bool plainSearch =
      o.budgetSeconds <= 0 ||
      coldSeconds * static_cast<double>(result.baselines.size() + 3) <
          0.5 * left;
  if (!plainSearch) {
    char why[160];
    std::snprintf(why, sizeof why,
                  "a cold simulation takes %.1f s, %.0f s of the budget are "
                  "left",
                  coldSeconds, std::max(0.0, left));
    result.plainSearchSkipped = why;
  }
  std::vector<McmcChainStart> starts;
  if (o.strategy && !fromFile.training.active())
    starts.push_back({"file", fromFile});
  std::vector<std::vector<ParallelConfig>> space;
  if (plainSearch) {
    ConfigSpaceOptions so;
    so.nodes = machine.nodes;
    so.devicesPerNode = machine.devicesPerNode;
    so.maxConfigsPerOp = 256;
    space = enumerateConfigSpace(graph, so);
  }

  // What is left of the whole budget (it counts from the start), at least
  // a twentieth of it; 0 without a budget.
  auto budgetLeft = [&] {
    return o.budgetSeconds > 0
               ? std::max(0.05 * o.budgetSeconds,
                          o.budgetSeconds -
                              std::chrono::duration<double>(
                                  std::chrono::steady_clock::now() - begin)
                                  .count())
               : 0.0;
  };
  const double dpBudget = 0.2 * budgetLeft();

  // The exact DP under the simulator's additive costs (serial time: no
  // overlap, no contention), over every op's configs that use all devices
  // or one, as the first start.
  if (plainSearch) {
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
    auto dpTimeUp = [&] {
      if (dpOutOfTime)
        return true;
      // Every call reads the clock: on a thousand devices one pricing call
      // can take milliseconds, so sparser checks overran the share.
      if (dpBudget > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        dpStart)
                  .count() > dpBudget)
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
    if (!b.strategy.training.active()) // chains move plain configs only
      starts.push_back({b.name, b.strategy});

  Strategy best;
  double bestObjective = std::numeric_limits<double>::infinity();
  // The chains get what the DP above left, less 4 % of the budget kept for
  // the final comparisons below (re-simulating the starts, the memory
  // options), so that the whole search ends within its budget.
  auto chainsBudget = [&] {
    return budgetLeft() - 0.04 * o.budgetSeconds;
  };
  // Each chain starts with a cold simulation of its start; when what is left
  // cannot pay for that twice, the chains could not move at all.
  if (plainSearch && o.budgetSeconds > 0 &&
      chainsBudget() < 2 * coldSeconds) {
    char why[160];
    std::snprintf(why, sizeof why,
                  "a cold simulation takes %.1f s, %.0f s of the budget were "
                  "left after the DP",
                  coldSeconds, budgetLeft());
    result.plainSearchSkipped = why;
    plainSearch = false;
  }
  if (plainSearch) {
  int64_t movable = 0;
  for (const auto &configs : space)
    movable += configs.size() > 1;
  McmcOptions mo;
  mo.seed = o.seed;
  mo.chains = o.threads;
  mo.budgetSeconds = o.budgetSeconds > 0
                         ? std::max(0.05 * o.budgetSeconds, chainsBudget())
                         : 0;
  // A random start's cold simulation costs about 25 baseline ones on 1,536
  // GPUs (GPT-145.6B: 58.7 s against 2 s under load): only where 30 of
  // them fit in the chains' budget.
  mo.randomStarts = o.budgetSeconds <= 0 || 30 * coldSeconds < mo.budgetSeconds;
  mo.iterationsPerChain =
      o.iterationsPerChain > 0
          ? o.iterationsPerChain
          : std::clamp<int64_t>(40 * movable, 2000, 20000);
  mo.progress = o.progress;
  McmcResult mcmc = runMcmc(
      space, starts,
      [&] { return std::make_unique<SimulatorCost>(graph, cost); }, mo);
  best = mcmc.best;
  bestObjective = mcmc.bestCost;
  result.search = std::move(mcmc);
  }
  // Never return worse than a start (a chain may have been cut by the
  // budget before it improved on a baseline).
  for (const McmcChainStart &s : starts) {
    Expected<SimResult> r = simulate(s.strategy);
    if (r && objective(*r, machine) < bestObjective) {
      bestObjective = objective(*r, machine);
      best = s.strategy;
    }
  }
  // The memory options on the chains' best: gradient accumulation,
  // recomputation, ZeRO and offload, priced on its timeline. Its first
  // simulation is about a cold one: skipped when two of those no longer fit
  // in the budget.
  const double secondsLeft =
      o.budgetSeconds -
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  if (o.trainingFeatures && !best.configs.empty() &&
      !best.training.active() &&
      (o.budgetSeconds <= 0 || secondsLeft > 2 * coldSeconds)) {
    if (Expected<SimResult> r = simulate(best)) {
      std::vector<char> layers = recomputeLayers(graph);
      bool anyLayer = false;
      for (char c : layers)
        anyLayer |= c != 0;
      TrainingConfig bestTraining;
      // Within the budget: stop when one more pricing, at the mean cost of
      // those done (a tenth of a second each on a thousand devices), would
      // end past it.
      const auto sweepStart = std::chrono::steady_clock::now();
      int priced = 0;
      auto sweepTimeUp = [&] {
        if (o.budgetSeconds <= 0 || priced == 0)
          return false;
        const auto now = std::chrono::steady_clock::now();
        const double spent =
            std::chrono::duration<double>(now - sweepStart).count();
        return std::chrono::duration<double>(now - begin).count() +
                   spent / priced >
               o.budgetSeconds;
      };
      for (int64_t m : {1, 2, 4, 8, 16})
        for (int rc = 0; rc <= (anyLayer ? 1 : 0); ++rc)
          for (int zero = 0; zero <= 3; ++zero)
            for (int off = 0; off <= 1; ++off) {
              TrainingConfig t;
              t.microBatches = m;
              t.zeroStage = zero;
              t.offloadOptimizer = off;
              if (rc)
                t.recompute = layers;
              if (sweepTimeUp())
                continue;
              ++priced;
              Expected<SimResult> tr = sim.simulateTraining(t);
              if (tr && objective(*tr, machine) < bestObjective) {
                Strategy candidate = best;
                candidate.training = t;
                if (!lowers(candidate, "the search's best with " +
                                           describeTraining(t)))
                  continue;
                bestObjective = objective(*tr, machine);
                bestTraining = t;
              }
            }
      best.training = bestTraining;
    }
  }
  // The inter-op search's best and the pipelined baselines compete too.
  std::string origin = "search";
  if (result.pipelineSearch && result.pipelineSearch->best &&
      objective(result.pipelineSearch->best->sim, machine) < bestObjective &&
      lowers(result.pipelineSearch->best->strategy,
             "the inter-op search's " +
                 result.pipelineSearch->best->choice.str())) {
    bestObjective = objective(result.pipelineSearch->best->sim, machine);
    best = result.pipelineSearch->best->strategy;
    result.pipelineChoice = result.pipelineSearch->best->choice.str();
    origin = "search (pipeline)";
  }
  for (const BaselineResult &b : result.baselines)
    if (b.strategy.training.active() &&
        objective(b.sim, machine) < bestObjective &&
        lowers(b.strategy, "baseline " + b.name)) {
      bestObjective = objective(b.sim, machine);
      best = b.strategy;
      result.pipelineChoice = b.choice;
      origin = "search (baseline " + b.name + ")";
    }
  return finish(std::move(best), origin);
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
    const TrainingConfig &t = r.strategy.training;
    entry.recompute = !t.recompute.empty() && t.recompute[i];
    f.ops.push_back(std::move(entry));
  }
  const TrainingConfig &t = r.strategy.training;
  if (t.pipelined()) {
    PipelineSpec p;
    p.schedule = toString(t.schedule);
    p.microBatches = t.microBatches;
    std::vector<PipelineStage> stages = t.stages;
    if (stages.empty()) // gradient accumulation: one stage of everything
      stages.push_back({0, static_cast<int>(graph.ops.size()) - 1, 0,
                        machine.numDevices()});
    for (const PipelineStage &st : stages)
      p.stages.push_back({graph.ops[st.firstOp].name, graph.ops[st.lastOp].name,
                          st.firstDevice, st.numDevices});
    f.pipeline = std::move(p);
  }
  f.zeroStage = t.zeroStage;
  f.offloadOptimizer = t.offloadOptimizer;
  StrategyMetrics m;
  m.stepTimeSeconds = r.sim.stepTime;
  m.peakMemoryBytes = r.sim.peakMemory;
  m.communicationBytes = static_cast<int64_t>(r.sim.commBytes);
  m.mfu = std::clamp(r.sim.mfu, 0.0, 1.0);
  f.predicted = m;
  for (const BaselineResult &b : r.baselines)
    f.baselineStepTimeSeconds[b.name] = b.sim.stepTime;
  if (r.search || r.pipelineSearch) {
    SearchInfo info;
    info.algorithm = r.search ? (r.pipelineSearch ? "mcmc+inter-op" : "mcmc")
                              : "inter-op";
    info.seed = o.seed;
    info.budgetSeconds = o.budgetSeconds;
    info.iterations = (r.search ? r.search->iterations : 0) +
                      (r.pipelineSearch ? r.pipelineSearch->evaluated : 0);
    info.wallTimeSeconds = r.wallSeconds;
    f.search = info;
  }
  return f;
}

std::string smallestFittingMachine(const OpGraph &graph,
                                   const MachineModel &current,
                                   double budgetSeconds) {
  const auto begin = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         begin)
        .count();
  };
  struct Fit {
    std::string machine;
    int64_t devices = 0;
    std::string choice;
  };
  std::optional<Fit> best;
  bool outOfTime = false;
  std::vector<std::string> presets = MachineModel::presetNames();
  // The current machine's own type first, then the other GPU presets.
  std::stable_partition(presets.begin(), presets.end(),
                        [&](const std::string &n) { return n == current.name; });
  for (const std::string &name : presets) {
    auto probe = MachineModel::loadPreset(name, {});
    if (!probe || probe->device.type.find("cpu") != std::string::npos ||
        name == "cpu-host")
      continue;
    for (int64_t nodes = 1; nodes * probe->devicesPerNode <= 4096; nodes *= 2) {
      const int64_t devices = nodes * probe->devicesPerNode;
      if (best && devices >= best->devices)
        break;
      if (elapsed() > budgetSeconds) {
        outOfTime = true;
        break;
      }
      auto m = MachineModel::loadPreset(name, MachineOverrides{nodes, {}});
      if (!m)
        break;
      CostModel cost(*m);
      Simulator sim(graph, cost);
      // The most memory-saving choices: every ZeRO stage and offload,
      // recomputation, the smallest micro-batches, tensor parallelism over
      // a node.
      PipelineSearchOptions po;
      po.nodes = nodes;
      po.devicesPerNode = m->devicesPerNode;
      po.tensorParallel = {m->devicesPerNode};
      po.microBatchSizes = {1};
      po.zeroStages = {3};
      po.budgetSeconds = std::max(1.0, budgetSeconds - elapsed());
      PipelineSearchResult r = searchPipelines(
          sim, po, [&](const SimResult &s) {
            return static_cast<double>(s.maxPeakMemory());
          });
      if (r.best && r.best->sim.fitsMemory) {
        best = Fit{name + " x " + std::to_string(nodes) + " node" +
                       (nodes == 1 ? "" : "s"),
                   devices, r.best->choice.str()};
        break;
      }
      if (r.stoppedByBudget) {
        outOfTime = true;
        break;
      }
    }
    if (outOfTime)
      break;
  }
  if (best)
    return "it fits on " + best->machine + " (" +
           std::to_string(best->devices) + " devices) with " + best->choice +
           (outOfTime ? " (the look-up ran out of time: a smaller machine of "
                        "another preset may fit)"
                      : "");
  return outOfTime ? "no machine of the presets tried fits within the look-up's "
                     "time"
                   : "it fits on no preset machine of up to 4,096 devices, "
                     "even with pipeline stages, ZeRO 3, offload and "
                     "recomputation";
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
    std::snprintf(line, sizeof line, "vs %-14s %s  (%.2fx)%s%s%s%s\n",
                  b.name.c_str(), human(b.sim.stepTime).c_str(),
                  b.sim.stepTime / std::max(r.sim.stepTime, 1e-30),
                  b.sim.fitsMemory ? "" : "  does not fit in memory",
                  b.choice.empty() ? "" : "  [", b.choice.c_str(),
                  b.choice.empty() ? "" : "]");
    out += line;
  }
  std::snprintf(line, sizeof line, "memory     peak %s per device (capacity %s)%s\n",
                bytes(double(r.sim.maxPeakMemory())).c_str(),
                bytes(double(machine.device.memoryBytes)).c_str(),
                r.sim.fitsMemory ? "" : "  DOES NOT FIT");
  out += line;
  if (!r.sim.peakMemory.empty()) {
    size_t worst = std::max_element(r.sim.peakMemory.begin(),
                                    r.sim.peakMemory.end()) -
                   r.sim.peakMemory.begin();
    const MemoryUsage &u = r.sim.memory[worst];
    std::snprintf(line, sizeof line,
                  "           weights %s, gradients %s, optimizer %s, "
                  "activations %s, workspace %s\n",
                  bytes(double(u.weights)).c_str(),
                  bytes(double(u.gradients)).c_str(),
                  bytes(double(u.optimizerState)).c_str(),
                  bytes(double(u.activations)).c_str(),
                  bytes(double(u.workspace)).c_str());
    out += line;
  }
  if (!r.fitAdvice.empty())
    out += "fits       nowhere here: " + r.fitAdvice + "\n";
  if (!r.pipelineChoice.empty()) {
    std::snprintf(line, sizeof line, "pipeline   %s, bubble %.1f %%\n",
                  r.pipelineChoice.c_str(), 100 * r.sim.bubbleFraction);
    out += line;
  } else if (r.strategy.training.active()) {
    const TrainingConfig &t = r.strategy.training;
    std::string opts;
    if (t.microBatches > 1)
      opts += std::to_string(t.microBatches) + " micro-batches, ";
    if (t.anyRecompute())
      opts += "recompute, ";
    if (t.zeroStage)
      opts += "ZeRO " + std::to_string(t.zeroStage) + ", ";
    if (t.offloadOptimizer)
      opts += "offload, ";
    out += "options    " + opts.substr(0, opts.size() - 2) + "\n";
  }
  std::snprintf(line, sizeof line, "MFU        %.1f %%\n", 100 * r.sim.mfu);
  out += line;
  if (!r.plainSearchSkipped.empty())
    out += "search     plain SOAP chains skipped: " + r.plainSearchSkipped + "\n";
  if (r.dpSkipped)
    out += "dp         skipped (its cost tables outgrew a fifth of the budget)\n";
  for (const std::string &n : r.notLowerable)
    out += "not lowered " + n + "\n";
  if (r.dpStepTime) {
    std::snprintf(line, sizeof line, "dp         %s (%s under the additive model)\n",
                  human(*r.dpStepTime).c_str(), r.dpExact ? "exact" : "approximate");
    out += line;
  }
  if (r.pipelineSearch) {
    std::snprintf(line, sizeof line,
                  "inter-op   %.2f s, %lld candidates over %lld stage "
                  "layouts%s\n",
                  r.pipelineSearch->wallSeconds,
                  (long long)r.pipelineSearch->evaluated,
                  (long long)r.pipelineSearch->simulations,
                  r.pipelineSearch->stoppedByBudget ? ", cut by the budget" : "");
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
