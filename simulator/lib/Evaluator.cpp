//===- Evaluator.cpp - an independent check of a strategy -----------------===//
//
// Deliberately simple and separate from Simulator.cpp: shards are enumerated
// in the config's listing order with nested loops, boxes are recomputed here,
// and transfer volumes are found by brute force over pairs of shards.
//
//===----------------------------------------------------------------------===//
#include "soap/Simulator/Evaluator.h"
#include "soap/Simulator/ShardingRules.h"

#include <algorithm>
#include <map>
#include <set>

namespace soap {

const char *toString(Violation::Kind k) {
  switch (k) {
  case Violation::Kind::StrategySize:
    return "strategy-size";
  case Violation::Kind::UnknownDim:
    return "unknown-dim";
  case Violation::Kind::DuplicateDim:
    return "duplicate-dim";
  case Violation::Kind::BadDegree:
    return "bad-degree";
  case Violation::Kind::DegreeNotDividing:
    return "degree-not-dividing";
  case Violation::Kind::BadStrides:
    return "bad-strides";
  case Violation::Kind::DeviceOutOfRange:
    return "device-out-of-range";
  case Violation::Kind::DeviceReused:
    return "device-reused";
  case Violation::Kind::MemoryOverCapacity:
    return "memory-over-capacity";
  }
  return "?";
}

bool Evaluation::has(Violation::Kind k) const {
  for (const Violation &v : violations)
    if (v.kind == k)
      return true;
  return false;
}

namespace {

struct Shard {
  int64_t device;
  std::vector<int64_t> coord; // per op dim
};

struct Layout {
  std::vector<int64_t> degree; // per op dim
  std::vector<Shard> shards;
};

using Box = std::vector<std::pair<int64_t, int64_t>>;

/// The interval of an axis that coordinate i of a dim split `degree` ways
/// holds: equal parts of the axis, or, through a window, the input rows
/// that the output part reads.
std::pair<int64_t, int64_t> part(int64_t dimSize, int64_t degree, int64_t i,
                                 const AxisWindow *w, int64_t axisSize) {
  if (!w || w->span == 0)
    return {i * axisSize / degree, (i + 1) * axisSize / degree};
  int64_t first = i * dimSize / degree, last = (i + 1) * dimSize / degree - 1;
  int64_t lo = std::max<int64_t>(0, first * w->stride - w->pad);
  int64_t hi = std::min<int64_t>(axisSize, last * w->stride - w->pad + w->span);
  return {lo, std::max(lo, hi)};
}

Box boxOf(const TensorRule &t, const OpNode &op, const Layout &l,
          const Shard &s) {
  Box b;
  for (int64_t n : t.shape)
    b.push_back({0, n});
  for (size_t d = 0; d < op.dims.size(); ++d) {
    int a = t.axisOfDim[d];
    if (a < 0 || l.degree[d] == 1)
      continue;
    const AxisWindow *w = t.windows.empty() ? nullptr : &t.windows[a];
    b[a] = part(op.dims[d].size, l.degree[d], s.coord[d], w, t.shape[a]);
  }
  return b;
}

double volume(const Box &b) {
  double v = 1;
  for (auto [lo, hi] : b)
    v *= static_cast<double>(std::max<int64_t>(0, hi - lo));
  return v;
}

Box intersect(const Box &a, const Box &b) {
  Box c(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    c[i] = {std::max(a[i].first, b[i].first), std::min(a[i].second, b[i].second)};
  return c;
}

/// Bytes of the largest shard along each axis (the simulator's accounting
/// unit).
int64_t shardBytes(const TensorRule &t, const OpNode &op, const Layout &l) {
  std::vector<int64_t> longest(t.shape.size(), 0);
  for (const Shard &s : l.shards) {
    Box b = boxOf(t, op, l, s);
    for (size_t a = 0; a < b.size(); ++a)
      longest[a] = std::max(longest[a], b[a].second - b[a].first);
  }
  int64_t n = 1;
  for (int64_t x : longest)
    n *= x;
  return n * t.elementBytes();
}

/// Device groups of the shards that agree on every dim outside `vary`.
std::vector<std::vector<int64_t>> groups(const Layout &l,
                                         const std::set<size_t> &vary) {
  std::map<std::vector<int64_t>, std::vector<int64_t>> byKey;
  for (const Shard &s : l.shards) {
    std::vector<int64_t> key;
    for (size_t d = 0; d < s.coord.size(); ++d)
      if (!vary.count(d))
        key.push_back(s.coord[d]);
    byKey[key].push_back(s.device);
  }
  std::vector<std::vector<int64_t>> out;
  for (auto &kv : byKey)
    out.push_back(kv.second);
  return out;
}

bool sameLayoutRule(const TensorRule &a, const TensorRule &b) {
  if (a.axisOfDim != b.axisOfDim || a.windows.size() != b.windows.size())
    return false;
  for (size_t i = 0; i < a.windows.size(); ++i)
    if (a.windows[i].stride != b.windows[i].stride ||
        a.windows[i].pad != b.windows[i].pad ||
        a.windows[i].span != b.windows[i].span)
      return false;
  return true;
}

} // namespace

Evaluation evaluateStrategy(const OpGraph &graph, const Strategy &strategy,
                            const CostModel &cost) {
  Evaluation ev;
  const MachineModel &m = cost.machine();
  const int64_t nDev = m.numDevices();
  const size_t nOps = graph.ops.size();
  if (strategy.configs.size() != nOps) {
    ev.violations.push_back(
        {Violation::Kind::StrategySize, -1, -1,
         "the strategy has " + std::to_string(strategy.configs.size()) +
             " configs for " + std::to_string(nOps) + " ops"});
    return ev;
  }

  // Layouts, and the config violations.
  std::vector<Layout> layouts(nOps);
  for (size_t i = 0; i < nOps; ++i) {
    const OpNode &op = graph.ops[i];
    const ParallelConfig &c = strategy.configs[i];
    const int oi = static_cast<int>(i);
    auto add = [&](Violation::Kind k, int device, const std::string &what) {
      ev.violations.push_back({k, oi, device, "op '" + op.name + "': " + what});
    };
    Layout &l = layouts[i];
    l.degree.assign(op.dims.size(), 1);
    std::vector<int> dimOf;
    bool ok = true;
    std::set<std::string> seen;
    for (const auto &[name, degree] : c.degrees) {
      int d = -1;
      for (size_t k = 0; k < op.dims.size(); ++k)
        if (op.dims[k].name == name)
          d = static_cast<int>(k);
      dimOf.push_back(d);
      if (d < 0) {
        add(Violation::Kind::UnknownDim, -1, "no dimension '" + name + "'");
        ok = false;
        continue;
      }
      if (!seen.insert(name).second) {
        add(Violation::Kind::DuplicateDim, -1, "'" + name + "' listed twice");
        ok = false;
        continue;
      }
      if (degree < 1) {
        add(Violation::Kind::BadDegree, -1,
            "degree " + std::to_string(degree) + " of '" + name + "'");
        ok = false;
        continue;
      }
      if (op.dims[d].size % degree != 0) {
        add(Violation::Kind::DegreeNotDividing, -1,
            "degree " + std::to_string(degree) + " of '" + name +
                "' does not divide " + std::to_string(op.dims[d].size));
        ok = false;
      }
      l.degree[d] = degree;
    }
    if (!c.strides.empty() && c.strides.size() != c.degrees.size()) {
      add(Violation::Kind::BadStrides, -1,
          std::to_string(c.strides.size()) + " strides for " +
              std::to_string(c.degrees.size()) + " dims");
      ok = false;
    }
    if (!ok)
      continue;
    // Nested loops over the listed dims, first listed outermost.
    std::vector<int64_t> strides = c.strides;
    if (strides.empty()) {
      int64_t s = 1;
      strides.assign(c.degrees.size(), 0);
      for (size_t j = c.degrees.size(); j-- > 0;) {
        strides[j] = s;
        s *= c.degrees[j].second;
      }
    }
    l.shards.push_back({c.start, std::vector<int64_t>(op.dims.size(), 0)});
    for (size_t j = 0; j < c.degrees.size(); ++j) {
      std::vector<Shard> next;
      for (const Shard &s : l.shards)
        for (int64_t k = 0; k < c.degrees[j].second; ++k) {
          Shard t = s;
          t.device += k * strides[j];
          t.coord[dimOf[j]] = k;
          next.push_back(t);
        }
      l.shards.swap(next);
    }
    std::set<int64_t> used;
    for (const Shard &s : l.shards) {
      if (s.device < 0 || s.device >= nDev)
        add(Violation::Kind::DeviceOutOfRange, static_cast<int>(s.device),
            "a shard on device " + std::to_string(s.device) + " (the machine has " +
                std::to_string(nDev) + ")");
      else if (!used.insert(s.device).second)
        add(Violation::Kind::DeviceReused, static_cast<int>(s.device),
            "two shards on device " + std::to_string(s.device));
    }
  }
  if (!ev.violations.empty())
    return ev;

  // Which ops run a backward pass: those from which a gradient reaches an
  // output, along float tensors through ops with a float result.
  auto floatResult = [&](int i) {
    return std::any_of(graph.ops[i].results.begin(), graph.ops[i].results.end(),
                       [](const TensorInfo &t) { return isFloat(t.dtype); });
  };
  std::vector<bool> backward(nOps, graph.outputs.empty());
  for (int o : graph.outputs)
    backward[o] = floatResult(o);
  for (bool changed = true; changed;) {
    changed = false;
    for (const Edge &e : graph.edges)
      if (backward[e.dst] && !backward[e.src] && isFloat(e.tensor.dtype) &&
          floatResult(e.src))
        backward[e.src] = changed = true;
  }

  std::vector<OpShardingRule> rules;
  for (const OpNode &op : graph.ops)
    rules.push_back(shardingRule(op));

  // Edges that repeat an earlier edge's tensor and layout move nothing.
  std::vector<bool> repeated(graph.edges.size(), false);
  for (size_t e = 0; e < graph.edges.size(); ++e)
    for (size_t f = 0; f < e; ++f) {
      const Edge &x = graph.edges[e], &y = graph.edges[f];
      if (x.dst == y.dst && x.src == y.src && x.srcResult == y.srcResult &&
          sameLayoutRule(rules[x.dst].operands[x.dstOperand],
                         rules[y.dst].operands[y.dstOperand])) {
        repeated[e] = true;
        break;
      }
    }

  // Memory.
  ev.memory.assign(nDev, MemoryUsage{});
  const int64_t stateFactor = cost.optimizerStateFactor();
  for (size_t i = 0; i < nOps; ++i) {
    const OpNode &op = graph.ops[i];
    const Layout &l = layouts[i];
    const OpShardingRule &r = rules[i];
    int64_t weights = 0, activations = 0, transient = 0;
    for (size_t j = 0; j < op.operands.size(); ++j) {
      int64_t b = shardBytes(r.operands[j], op, l);
      if (op.operands[j].source == OperandSource::Weight)
        weights += b;
      else {
        if (op.operands[j].source != OperandSource::Op)
          activations += b;
        transient += b;
      }
    }
    for (const TensorRule &t : r.results) {
      int64_t b = shardBytes(t, op, l);
      activations += b;
      transient += b;
    }
    for (const Shard &s : l.shards) {
      MemoryUsage &mu = ev.memory[s.device];
      mu.weights += weights;
      mu.activations += activations;
      if (backward[i]) {
        mu.gradients += weights;
        mu.optimizerState += stateFactor * weights;
        mu.workspace = std::max(mu.workspace, transient);
      }
    }
  }
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    if (repeated[e])
      continue;
    const Edge &x = graph.edges[e];
    const OpNode &p = graph.ops[x.src], &c = graph.ops[x.dst];
    const TensorRule &pr = rules[x.src].results[x.srcResult];
    const TensorRule &cr = rules[x.dst].operands[x.dstOperand];
    int64_t operandBytes = shardBytes(cr, c, layouts[x.dst]);
    for (const Shard &q : layouts[x.dst].shards) {
      Box need = boxOf(cr, c, layouts[x.dst], q);
      double have = 0;
      for (const Shard &s : layouts[x.src].shards)
        if (s.device == q.device)
          have = volume(intersect(need, boxOf(pr, p, layouts[x.src], s)));
      double missing = volume(need) - have;
      if (missing > 0) {
        ev.memory[q.device].activations += operandBytes;
        ev.forwardTransferBytes += missing * pr.elementBytes();
      }
    }
    // The gradient back: every producer shard needs its box, summed over
    // the consumer's distinct boxes (one representative per set of
    // replicas); what the same device holds is local.
    bool isFloat = x.tensor.dtype == DType::F32 || x.tensor.dtype == DType::F16 ||
                   x.tensor.dtype == DType::BF16 || x.tensor.dtype == DType::F64;
    if (!backward[x.dst] || !isFloat)
      continue;
    for (const Shard &s : layouts[x.src].shards) {
      Box need = boxOf(pr, p, layouts[x.src], s);
      for (const Shard &q : layouts[x.dst].shards) {
        bool representative = true;
        for (size_t d = 0; d < c.dims.size(); ++d)
          if (cr.axisOfDim[d] < 0 && q.coord[d] != 0)
            representative = false;
        if (!representative)
          continue;
        double ov = volume(intersect(need, boxOf(cr, c, layouts[x.dst], q)));
        if (ov <= 0)
          continue;
        bool local = false;
        for (const Shard &o : layouts[x.dst].shards) {
          bool sameBox = true;
          for (size_t d = 0; d < c.dims.size(); ++d)
            if (cr.axisOfDim[d] >= 0 && o.coord[d] != q.coord[d])
              sameBox = false;
          if (sameBox && o.device == s.device)
            local = true;
        }
        if (!local)
          ev.gradientTransferBytes += ov * pr.elementBytes();
      }
    }
  }
  for (int64_t d = 0; d < nDev; ++d)
    if (ev.memory[d].total() > m.device.memoryBytes)
      ev.violations.push_back(
          {Violation::Kind::MemoryOverCapacity, -1, static_cast<int>(d),
           "device " + std::to_string(d) + " needs " +
               std::to_string(ev.memory[d].total()) + " bytes, has " +
               std::to_string(m.device.memoryBytes)});

  // Cost bounds.
  double maxLatency = 0, minBandwidth = 0;
  for (const auto *route : {&m.intraNodeRoute, &m.interNodeRoute}) {
    double lat = 0;
    for (int li : *route) {
      lat += m.links[li].latency;
      double bw = m.links[li].effectiveBandwidth();
      minBandwidth = minBandwidth == 0 ? bw : std::min(minBandwidth, bw);
    }
    maxLatency = std::max(maxLatency, lat);
  }
  auto transferBound = [&](double bytes) {
    return bytes > 0 && minBandwidth > 0 ? maxLatency + bytes / minBandwidth : 0.0;
  };
  std::vector<double> busy(nDev, 0);
  double serial = 0;
  CommCost cc;
  for (size_t i = 0; i < nOps; ++i) {
    const OpNode &op = graph.ops[i];
    const Layout &l = layouts[i];
    const OpShardingRule &r = rules[i];
    CostModel::KernelTime kt = cost.kernelTime(op, r, l.degree);
    double work = kt.forward;
    if (backward[i]) {
      work += kt.backward + cost.opUpdateTime(op, r, l.degree);
      // Gradient synchronization of replicated weights.
      for (size_t j = 0; j < op.operands.size(); ++j) {
        if (op.operands[j].source != OperandSource::Weight)
          continue;
        std::set<size_t> vary;
        for (size_t d = 0; d < op.dims.size(); ++d)
          if (r.operands[j].axisOfDim[d] < 0 && l.degree[d] > 1)
            vary.insert(d);
        if (vary.empty())
          continue;
        cost.collective(Collective::AllReduce, groups(l, vary),
                        static_cast<double>(shardBytes(r.operands[j], op, l)), cc);
        serial += cc.time;
      }
    }
    for (const Shard &s : l.shards)
      busy[s.device] += work;
    serial += work;
    // Partial sums of results that are used.
    bool used = false;
    for (const Edge &e : graph.edges)
      used |= e.src == static_cast<int>(i);
    for (const TensorRule &t : r.results) {
      std::set<size_t> vary;
      for (size_t d = 0; d < op.dims.size(); ++d)
        if (t.axisOfDim[d] == kPartial && l.degree[d] > 1)
          vary.insert(d);
      if (!used || vary.empty())
        continue;
      cost.collective(Collective::AllReduce, groups(l, vary),
                      static_cast<double>(shardBytes(t, op, l)), cc);
      serial += cc.time;
    }
    // LSTM state gathers, forward and backward.
    if (r.recurrentDim >= 0 && l.degree[r.recurrentDim] > 1 &&
        r.recurrentSteps > 0 && !r.results.empty()) {
      double steps = static_cast<double>(r.recurrentSteps);
      double gathered = static_cast<double>(shardBytes(r.results[0], op, l)) /
                        steps * static_cast<double>(l.degree[r.recurrentDim]);
      cost.collective(Collective::AllGather,
                      groups(l, {static_cast<size_t>(r.recurrentDim)}), gathered, cc);
      serial += cc.time * steps * (backward[i] ? 2 : 1);
    }
    // Collectives inside the op, forward (and backward).
    for (const OpShardingRule::InnerCollective &oc : r.collectives) {
      std::set<size_t> vary;
      double group = 1;
      for (size_t d = 0; d < op.dims.size(); ++d)
        if (oc.over[d] && l.degree[d] > 1) {
          vary.insert(d);
          group *= static_cast<double>(l.degree[d]);
        }
      if (vary.empty())
        continue;
      double bytes = static_cast<double>(shardBytes(oc.tensor, op, l));
      if (oc.kind == Collective::AllGather)
        bytes *= group;
      cost.collective(oc.kind, groups(l, vary), bytes, cc);
      serial += cc.time * (oc.backward && backward[i] ? 2 : 1);
    }
  }
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    if (repeated[e])
      continue;
    const Edge &x = graph.edges[e];
    const OpNode &c = graph.ops[x.dst];
    const TensorRule &cr = rules[x.dst].operands[x.dstOperand];
    std::set<size_t> vary;
    for (size_t d = 0; d < c.dims.size(); ++d)
      if (cr.axisOfDim[d] < 0 && layouts[x.dst].degree[d] > 1)
        vary.insert(d);
    bool isFloat = x.tensor.dtype == DType::F32 || x.tensor.dtype == DType::F16 ||
                   x.tensor.dtype == DType::BF16 || x.tensor.dtype == DType::F64;
    if (backward[x.dst] && isFloat && !vary.empty()) {
      cost.collective(Collective::AllReduce, groups(layouts[x.dst], vary),
                      static_cast<double>(shardBytes(cr, c, layouts[x.dst])), cc);
      serial += cc.time;
      ev.gradientTransferBytes += cc.payload;
    }
  }
  // Transfers are bounded per edge (each edge is one task).
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    if (repeated[e])
      continue;
    // Recompute the edge's own volumes for its bound.
    const Edge &x = graph.edges[e];
    const OpNode &p = graph.ops[x.src], &c = graph.ops[x.dst];
    const TensorRule &pr = rules[x.src].results[x.srcResult];
    const TensorRule &cr = rules[x.dst].operands[x.dstOperand];
    double fwd = 0, bwd = 0;
    for (const Shard &q : layouts[x.dst].shards) {
      Box need = boxOf(cr, c, layouts[x.dst], q);
      double have = 0;
      for (const Shard &s : layouts[x.src].shards)
        if (s.device == q.device)
          have = volume(intersect(need, boxOf(pr, p, layouts[x.src], s)));
      fwd += (volume(need) - have) * pr.elementBytes();
    }
    // The backward moves at most every consumer box to every producer shard
    // on another device.
    for (const Shard &s : layouts[x.src].shards)
      for (const Shard &q : layouts[x.dst].shards)
        if (s.device != q.device)
          bwd += volume(intersect(boxOf(pr, p, layouts[x.src], s),
                                boxOf(cr, c, layouts[x.dst], q))) *
               pr.elementBytes();
    serial += transferBound(fwd) + transferBound(bwd);
  }
  ev.serialUpperBound = serial;
  ev.computeLowerBound = *std::max_element(busy.begin(), busy.end());
  return ev;
}

} // namespace soap
