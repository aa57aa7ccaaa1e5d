//===- Pipeline.cpp - inter-op search: stages, micro-batches, memory ------===//
#include "soap/Search/Pipeline.h"
#include "soap/Search/Baselines.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Pipeline.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>

namespace soap {

std::string PipelineChoice::str() const {
  std::string s = "tp " + std::to_string(tensorParallel) + ", pp " +
                  std::to_string(pipelineParallel) + ", " +
                  std::to_string(microBatches) + " micro-batch" +
                  (microBatches == 1 ? "" : "es") + " (" + toString(schedule) +
                  ")";
  if (recompute)
    s += ", recompute";
  if (zeroStage)
    s += ", ZeRO " + std::to_string(zeroStage);
  if (offloadOptimizer)
    s += ", offload";
  return s;
}

std::vector<std::pair<int, int>>
balancedStages(const OpGraph &graph, const std::vector<double> &weight,
               int stages) {
  const int n = static_cast<int>(graph.ops.size());
  std::vector<int> pos = {0};
  for (int c : layerBoundaries(graph))
    pos.push_back(c);
  pos.push_back(n);
  const int P = static_cast<int>(pos.size()); // cut positions incl. ends
  if (stages < 1 || stages > P - 1)
    return {};
  std::vector<double> prefix(n + 1, 0);
  for (int i = 0; i < n; ++i)
    prefix[i + 1] = prefix[i] + weight[i];
  auto load = [&](int a, int b) { return prefix[pos[b]] - prefix[pos[a]]; };
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][j]: the smallest largest load of k stages covering pos[0..j].
  std::vector<std::vector<double>> best(stages + 1,
                                        std::vector<double>(P, inf));
  std::vector<std::vector<int>> from(stages + 1, std::vector<int>(P, -1));
  best[0][0] = 0;
  for (int k = 1; k <= stages; ++k)
    for (int j = k; j < P; ++j)
      for (int i = k - 1; i < j; ++i) {
        if (best[k - 1][i] == inf)
          continue;
        double v = std::max(best[k - 1][i], load(i, j));
        if (v < best[k][j]) {
          best[k][j] = v;
          from[k][j] = i;
        }
      }
  if (best[stages][P - 1] == inf)
    return {};
  std::vector<std::pair<int, int>> out(stages);
  for (int k = stages, j = P - 1; k >= 1; --k) {
    int i = from[k][j];
    out[k - 1] = {pos[i], pos[j] - 1};
    j = i;
  }
  return out;
}

/// Stages with equal numbers of attention ops (Megatron-LM's layers per
/// stage; the remainder goes to the first stages), cut at the last layer
/// boundary before each stage's first attention.
static std::vector<std::pair<int, int>> equalLayerStages(const OpGraph &g,
                                                          int stages) {
  std::vector<int> attention;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].kind == "attention")
      attention.push_back(static_cast<int>(i));
  const int L = static_cast<int>(attention.size());
  if (stages < 1 || L < stages)
    return {};
  std::vector<int> cuts = layerBoundaries(g);
  std::vector<int> starts = {0};
  int layer = 0;
  for (int s = 1; s < stages; ++s) {
    layer += L / stages + (s - 1 < L % stages ? 1 : 0);
    int at = attention[layer];
    auto it = std::upper_bound(cuts.begin(), cuts.end(), at);
    if (it == cuts.begin())
      return {};
    int cut = *(it - 1);
    if (cut <= starts.back())
      return {};
    starts.push_back(cut);
  }
  std::vector<std::pair<int, int>> out;
  for (int s = 0; s < stages; ++s)
    out.push_back({starts[s], s + 1 < stages ? starts[s + 1] - 1
                                             : static_cast<int>(g.ops.size()) - 1});
  return out;
}

int64_t replicaBatch(const OpGraph &g, const Strategy &s) {
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (const ParallelDim &d : g.ops[i].dims)
      if (d.tag == DimTag::Sample)
        return d.size / std::max<int64_t>(1, s.configs[i].degree(d.name));
  return 0;
}

Expected<Strategy> pipelineStrategy(Simulator &sim, const PipelineChoice &c,
                                    int64_t nodes, int64_t devicesPerNode) {
  const OpGraph &g = sim.graph();
  const int64_t devices = nodes * devicesPerNode;
  const int64_t pp = c.pipelineParallel, tp = c.tensorParallel;
  if (pp < 1 || tp < 1 || devices % (pp * tp) != 0)
    return Error{"tp " + std::to_string(tp) + " x pp " + std::to_string(pp) +
                 " does not divide the " + std::to_string(devices) +
                 " devices"};
  const int64_t mesh = devices / pp;
  std::vector<std::pair<int, int>> ranges;
  if (c.equalLayers) {
    ranges = equalLayerStages(g, static_cast<int>(pp));
  } else {
    std::vector<double> w(g.ops.size());
    for (size_t i = 0; i < g.ops.size(); ++i)
      w[i] = opForwardFlops(g.ops[i]) + opBackwardFlops(g.ops[i]);
    ranges = balancedStages(g, w, static_cast<int>(pp));
  }
  if (ranges.empty())
    return Error{"the model has fewer layer boundaries than " +
                 std::to_string(pp - 1) + " stage cuts"};
  Strategy s;
  s.configs.resize(g.ops.size());
  for (int64_t st = 0; st < pp; ++st) {
    BaselineOptions o;
    o.nodes = nodes;
    o.devicesPerNode = devicesPerNode;
    o.tensorParallel = tp;
    o.firstDevice = st * mesh;
    o.numDevices = mesh;
    Expected<Strategy> m = makeBaseline("megatron", g, o);
    if (!m)
      return Error{m.error()};
    for (int i = ranges[st].first; i <= ranges[st].second; ++i)
      s.configs[i] = m->configs[i];
    s.training.stages.push_back(
        {ranges[st].first, ranges[st].second, st * mesh, mesh});
  }
  if (pp == 1)
    s.training.stages.clear();
  s.training.microBatches = c.microBatches;
  s.training.schedule = c.schedule;
  s.training.zeroStage = c.zeroStage;
  s.training.offloadOptimizer = c.offloadOptimizer;
  if (c.recompute)
    s.training.recompute = recomputeLayers(g);
  (void)sim;
  return s;
}

/// Powers of two up to `limit` that divide `n`.
static std::vector<int64_t> powersDividing(int64_t n, int64_t limit) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= limit; d *= 2)
    if (n % d == 0)
      out.push_back(d);
  return out;
}

PipelineSearchResult searchPipelines(Simulator &sim,
                                     const PipelineSearchOptions &o,
                                     const StrategyObjective &objective) {
  const auto begin = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         begin)
        .count();
  };
  PipelineSearchResult result;
  const OpGraph &g = sim.graph();
  const int64_t devices = o.nodes * o.devicesPerNode;
  const int64_t maxStages =
      static_cast<int64_t>(layerBoundaries(g).size()) + 1;
  std::vector<int64_t> tps = o.tensorParallel;
  if (tps.empty())
    tps = powersDividing(devices, o.devicesPerNode);
  double bestObjective = std::numeric_limits<double>::infinity();

  std::vector<std::pair<int64_t, int64_t>> grid; // (pp, tp)
  for (int64_t tp : tps) {
    if (devices % tp != 0)
      continue;
    std::vector<int64_t> pps = o.pipelineParallel;
    if (pps.empty())
      for (int64_t pp = 1; pp <= std::min(devices / tp, maxStages); ++pp)
        if ((devices / tp) % pp == 0)
          pps.push_back(pp);
    for (int64_t pp : pps)
      grid.push_back({pp, tp});
  }
  // Layouts whose weights, gradients and optimizer state (ZeRO aside) fit
  // in a device first, shallow pipelines first among them: the budget, if
  // it bites, cuts the deepest and those unlikely to fit.
  double stateBytes = 0;
  for (const WeightInfo &w : g.weights)
    stateBytes += static_cast<double>(w.tensor.bytes());
  stateBytes *= 2 + sim.costModel().optimizerStateFactor();
  const double capacity =
      static_cast<double>(sim.costModel().machine().device.memoryBytes);
  auto likelyFits = [&](std::pair<int64_t, int64_t> x) {
    return stateBytes / static_cast<double>(x.first * x.second) <= capacity;
  };
  std::sort(grid.begin(), grid.end(), [&](auto a, auto b) {
    if (likelyFits(a) != likelyFits(b))
      return likelyFits(a);
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  // A layout's simulations cost about its shards per op, devices / pp (one
  // stage's ops see only its sub-mesh): a layout is skipped when, at the
  // cost per shard of those done, it would end past the budget (a
  // one-stage layout of thousands of devices costs many times a deep one).
  double unitsDone = 0;
  for (auto [pp, tp] : grid) {
    const double units = static_cast<double>(devices / pp);
    if (o.budgetSeconds > 0) {
      const double now = elapsed();
      const double predicted = unitsDone > 0 ? now / unitsDone * units : 0.0;
      if (now + predicted > o.budgetSeconds) {
        result.stoppedByBudget = true;
        continue; // a cheaper (deeper) layout may still fit in what is left
      }
    }
    unitsDone += units;
    PipelineChoice c;
    c.tensorParallel = tp;
    c.pipelineParallel = pp;
    Expected<Strategy> s = pipelineStrategy(sim, c, o.nodes, o.devicesPerNode);
    if (!s)
      continue;
    Strategy plain = *s;
    plain.training = TrainingConfig{};
    plain.training.stages = s->training.stages;
    ++result.simulations;
    if (!sim.simulate(plain))
      continue;
    const int64_t perReplica = replicaBatch(g, plain);
    std::vector<int64_t> micro;
    for (int64_t mbs : o.microBatchSizes)
      if (perReplica > 0 && perReplica % mbs == 0)
        micro.push_back(perReplica / mbs);
    if (pp == 1 && std::find(micro.begin(), micro.end(), 1) == micro.end())
      micro.push_back(1);
    std::vector<char> layers = recomputeLayers(g);
    for (int64_t m : micro)
      for (int rc = 0; rc <= (o.allowRecompute ? 1 : 0); ++rc)
        for (int zero : o.zeroStages)
          for (int off = 0; off <= (o.allowOffload ? 1 : 0); ++off) {
            TrainingConfig t;
            t.stages = plain.training.stages;
            t.microBatches = m;
            t.zeroStage = zero;
            t.offloadOptimizer = off;
            if (rc)
              t.recompute = layers;
            Expected<SimResult> r = sim.simulateTraining(t);
            ++result.evaluated;
            if (!r)
              continue;
            double v = objective(*r);
            if (v < bestObjective) {
              bestObjective = v;
              PipelineCandidate cand;
              cand.choice = c;
              cand.choice.microBatches = m;
              cand.choice.recompute = rc;
              cand.choice.zeroStage = zero;
              cand.choice.offloadOptimizer = off;
              cand.strategy = plain;
              cand.strategy.training = t;
              cand.sim = r.take();
              result.best = std::move(cand);
            }
          }
  }
  result.wallSeconds = elapsed();
  return result;
}

std::optional<std::pair<int64_t, int64_t>>
megatronPublishedDegrees(const OpGraph &g) {
  int64_t layers = 0, hidden = 0;
  for (const OpNode &op : g.ops) {
    layers += op.kind == "attention";
    if (op.kind == "embedding" && !hidden && !op.results.empty() &&
        !op.results[0].shape.empty())
      hidden = op.results[0].shape.back();
  }
  // Narayanan et al., "Efficient Large-Scale Language Model Training on GPU
  // Clusters Using Megatron-LM", SC'21, Table 1: (layers, hidden) ->
  // (tensor, pipeline) model-parallel sizes.
  struct Row {
    int64_t layers, hidden, tp, pp;
  };
  static const Row table[] = {
      {24, 2304, 1, 1},   {30, 3072, 2, 1},    {36, 4096, 4, 1},
      {40, 6144, 8, 1},   {48, 8192, 8, 2},    {60, 10240, 8, 4},
      {80, 12288, 8, 8},  {96, 16384, 8, 16},  {105, 20480, 8, 35},
      {128, 25600, 8, 64}};
  for (const Row &r : table)
    if (r.layers == layers && r.hidden == hidden)
      return std::make_pair(r.tp, r.pp);
  return std::nullopt;
}

} // namespace soap
