//===- Simulator.cpp - task graph and event-driven simulation -------------===//
#include "SimulatorImpl.h"

#include <algorithm>
#include <cassert>
#include <functional>

namespace soap {

const char *toString(TaskKind k) {
  switch (k) {
  case TaskKind::ForwardComm:
    return "forward-comm";
  case TaskKind::Forward:
    return "forward";
  case TaskKind::PartialSum:
    return "partial-sum";
  case TaskKind::BackwardComm:
    return "backward-comm";
  case TaskKind::Backward:
    return "backward";
  case TaskKind::GradientSync:
    return "gradient-sync";
  case TaskKind::Update:
    return "update";
  case TaskKind::Transfer:
    return "transfer";
  case TaskKind::GradientTransfer:
    return "gradient-transfer";
  }
  return "?";
}

bool isComputeKind(TaskKind k) {
  return k == TaskKind::Forward || k == TaskKind::Backward ||
         k == TaskKind::Update;
}

int64_t SimResult::maxPeakMemory() const {
  int64_t m = 0;
  for (int64_t p : peakMemory)
    m = std::max(m, p);
  return m;
}

static bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 ||
         t == DType::F64;
}

static int64_t volumeBytes(const std::vector<int64_t> &shape, DType t) {
  int64_t n = 1;
  for (int64_t x : shape)
    n *= x;
  return n * byteWidth(t);
}

//===----------------------------------------------------------------------===//
// Configs, groups and resharding
//===----------------------------------------------------------------------===//

std::string resolveConfig(const OpNode &op, const ParallelConfig &config,
                          int64_t numDevices, ResolvedConfig &rc) {
  const size_t nd = op.dims.size();
  auto where = [&]() { return "op '" + op.name + "' (" + op.kind + "): "; };
  rc.degree.assign(nd, 1);
  rc.stride.assign(nd, 0);
  rc.start = config.start;
  if (!config.strides.empty() && config.strides.size() != config.degrees.size())
    return where() + "the view lists " + std::to_string(config.strides.size()) +
           " strides for " + std::to_string(config.degrees.size()) +
           " dimensions";
  std::vector<int64_t> strides = config.effectiveStrides();
  std::vector<char> seen(nd, 0);
  for (size_t j = 0; j < config.degrees.size(); ++j) {
    const auto &[name, degree] = config.degrees[j];
    int d = -1;
    for (size_t k = 0; k < nd; ++k)
      if (op.dims[k].name == name)
        d = static_cast<int>(k);
    if (d < 0) {
      std::string dims;
      for (const ParallelDim &pd : op.dims)
        dims += (dims.empty() ? "" : ", ") + pd.name;
      return where() + "has no dimension '" + name + "' (its dimensions: " +
             (dims.empty() ? "none" : dims) + ")";
    }
    if (seen[d])
      return where() + "dimension '" + name + "' is listed twice";
    seen[d] = 1;
    if (degree < 1)
      return where() + "degree " + std::to_string(degree) + " of '" + name +
             "' is not positive";
    if (op.dims[d].size % degree != 0)
      return where() + "degree " + std::to_string(degree) + " of '" + name +
             "' does not divide its size " + std::to_string(op.dims[d].size);
    rc.degree[d] = degree;
    rc.stride[d] = degree > 1 ? strides[j] : 0;
  }
  rc.shards = 1;
  for (int64_t deg : rc.degree)
    rc.shards *= deg;
  rc.devices.assign(rc.shards, 0);
  rc.coords.assign(rc.shards * nd, 0);
  std::vector<char> used(numDevices, 0);
  for (int64_t s = 0; s < rc.shards; ++s) {
    int64_t rest = s, dev = rc.start;
    for (size_t d = nd; d-- > 0;) {
      int64_t c = rest % rc.degree[d];
      rest /= rc.degree[d];
      rc.coords[s * nd + d] = c;
      dev += c * rc.stride[d];
    }
    if (dev < 0 || dev >= numDevices)
      return where() + "the view {" + config.str() + "} places a shard on device " +
             std::to_string(dev) + ", outside the machine's " +
             std::to_string(numDevices) + " devices";
    if (used[dev])
      return where() + "the view {" + config.str() + "} places two shards on device " +
             std::to_string(dev);
    used[dev] = 1;
    rc.devices[s] = dev;
  }
  return "";
}

std::vector<std::vector<int64_t>> groupsVarying(const ResolvedConfig &rc,
                                                const std::vector<char> &vary) {
  const size_t nd = rc.degree.size();
  int64_t count = 1;
  for (size_t d = 0; d < nd; ++d)
    if (!vary[d])
      count *= rc.degree[d];
  std::vector<std::vector<int64_t>> groups(count);
  for (int64_t s = 0; s < rc.shards; ++s) {
    int64_t key = 0;
    for (size_t d = 0; d < nd; ++d)
      if (!vary[d])
        key = key * rc.degree[d] + rc.coords[s * nd + d];
    groups[key].push_back(rc.devices[s]);
  }
  return groups;
}

void reshardFlows(const MachineModel &machine, const TensorRule &hr,
                  const std::vector<ParallelDim> &hdims,
                  const ResolvedConfig &hc, const TensorRule &nr,
                  const std::vector<ParallelDim> &ndims,
                  const ResolvedConfig &nc, std::vector<Flow> &flows) {
  flows.clear();
  struct Split {
    int dim, axis;
    int64_t degree, stride;
  };
  std::vector<Split> split;
  std::vector<int64_t> repOffsets{0};
  const size_t rank = hr.shape.size();
  std::vector<char> splitAxis(rank, 0);
  for (size_t d = 0; d < hdims.size(); ++d) {
    if (hc.degree[d] <= 1)
      continue;
    int a = hr.axisOfDim[d];
    if (a >= 0) {
      split.push_back({static_cast<int>(d), a, hc.degree[d], hc.stride[d]});
      splitAxis[a] = 1;
    } else {
      std::vector<int64_t> next;
      for (int64_t off : repOffsets)
        for (int64_t i = 0; i < hc.degree[d]; ++i)
          next.push_back(off + i * hc.stride[d]);
      repOffsets.swap(next);
    }
  }
  static const AxisWindow kNone;
  const size_t nnd = ndims.size();
  const int64_t eb = nr.elementBytes();
  std::vector<int64_t> lo, hi, coord(nnd), idx(split.size());
  std::vector<std::vector<std::pair<int64_t, int64_t>>> lists(split.size());
  std::vector<int64_t> candidates;
  for (int64_t t = 0; t < nc.shards; ++t) {
    for (size_t d = 0; d < nnd; ++d)
      coord[d] = nc.coords[t * nnd + d];
    tensorBox(nr, ndims, nc.degree, coord, lo, hi);
    double base = 1;
    for (size_t a = 0; a < rank; ++a)
      if (!splitAxis[a])
        base *= static_cast<double>(hi[a] - lo[a]);
    if (base <= 0)
      continue;
    const int64_t dn = nc.devices[t];
    bool empty = false;
    for (size_t k = 0; k < split.size(); ++k) {
      const Split &sp = split[k];
      lists[k].clear();
      const AxisWindow &w = hr.windows.empty() ? kNone : hr.windows[sp.axis];
      for (int64_t j = 0; j < sp.degree; ++j) {
        int64_t l, h;
        axisInterval(hdims[sp.dim].size, sp.degree, j, w, hr.shape[sp.axis], l, h);
        int64_t ov = std::min(h, hi[sp.axis]) - std::max(l, lo[sp.axis]);
        if (ov > 0)
          lists[k].emplace_back(j * sp.stride, ov);
      }
      empty |= lists[k].empty();
    }
    if (empty)
      continue;
    std::fill(idx.begin(), idx.end(), 0);
    int64_t nodeN = machine.nodeOf(dn);
    while (true) {
      double vol = base;
      int64_t off = hc.start;
      for (size_t k = 0; k < split.size(); ++k) {
        vol *= static_cast<double>(lists[k][idx[k]].second);
        off += lists[k][idx[k]].first;
      }
      bool local = false;
      candidates.clear();
      int64_t sameNode = 0;
      for (int64_t ro : repOffsets) {
        int64_t dev = off + ro;
        if (dev == dn) {
          local = true;
          break;
        }
        candidates.push_back(dev);
        sameNode += machine.nodeOf(dev) == nodeN;
      }
      if (!local) {
        int64_t src;
        if (sameNode > 0) {
          int64_t pick = t % sameNode;
          src = -1;
          for (int64_t dev : candidates)
            if (machine.nodeOf(dev) == nodeN && pick-- == 0) {
              src = dev;
              break;
            }
        } else {
          src = candidates[t % candidates.size()];
        }
        flows.push_back({src, dn, vol * static_cast<double>(eb)});
      }
      // Next combination.
      size_t k = 0;
      for (; k < split.size(); ++k) {
        if (++idx[k] < static_cast<int64_t>(lists[k].size()))
          break;
        idx[k] = 0;
      }
      if (k == split.size())
        break;
    }
  }
  // Merge per (src, dst).
  std::sort(flows.begin(), flows.end(), [](const Flow &a, const Flow &b) {
    return a.src != b.src ? a.src < b.src : a.dst < b.dst;
  });
  size_t out = 0;
  for (size_t i = 0; i < flows.size(); ++i) {
    if (out > 0 && flows[out - 1].src == flows[i].src &&
        flows[out - 1].dst == flows[i].dst)
      flows[out - 1].bytes += flows[i].bytes;
    else
      flows[out++] = flows[i];
  }
  flows.resize(out);
}

//===----------------------------------------------------------------------===//
// Construction: rules and the static task graph
//===----------------------------------------------------------------------===//

Simulator::Simulator(const OpGraph &graph, const CostModel &costModel)
    : g(graph), cost(costModel) {
  numOps = static_cast<int>(g.ops.size());
  numEdges = static_cast<int>(g.edges.size());
  numSlots = numOps * kSlotsPerOp + numEdges * kSlotsPerEdge;
  rules.reserve(numOps);
  for (const OpNode &op : g.ops)
    rules.push_back(shardingRule(op));
  inEdges.assign(numOps, {});
  outEdges.assign(numOps, {});
  for (int e = 0; e < numEdges; ++e) {
    inEdges[g.edges[e].dst].push_back(e);
    outEdges[g.edges[e].src].push_back(e);
  }

  // Ops whose result reaches an output need a backward pass.
  needsBackward.assign(numOps, g.outputs.empty() ? 1 : 0);
  std::vector<int> stack(g.outputs.begin(), g.outputs.end());
  for (int o : g.outputs)
    needsBackward[o] = 1;
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    for (int e : inEdges[i]) {
      int p = g.edges[e].src;
      if (!needsBackward[p]) {
        needsBackward[p] = 1;
        stack.push_back(p);
      }
    }
  }

  // An edge that repeats an earlier one (the same tensor into the same op
  // with the same layout, e.g. attention's key and value) moves nothing.
  duplicateOf.assign(numEdges, -1);
  for (int e = 0; e < numEdges; ++e) {
    const Edge &x = g.edges[e];
    const TensorRule &rx = rules[x.dst].operands[x.dstOperand];
    for (int f : inEdges[x.dst]) {
      if (f >= e)
        break;
      const Edge &y = g.edges[f];
      const TensorRule &ry = rules[y.dst].operands[y.dstOperand];
      if (y.src == x.src && y.srcResult == x.srcResult &&
          rx.axisOfDim == ry.axisOfDim && rx.windows.size() == ry.windows.size() &&
          std::equal(rx.windows.begin(), rx.windows.end(), ry.windows.begin(),
                     [](const AxisWindow &a, const AxisWindow &b) {
                       return a.stride == b.stride && a.pad == b.pad &&
                              a.span == b.span;
                     })) {
        duplicateOf[e] = duplicateOf[f] >= 0 ? duplicateOf[f] : f;
        break;
      }
    }
  }

  // The static task graph.
  std::vector<std::vector<int>> preds(numSlots);
  for (int i = 0; i < numOps; ++i) {
    for (int e : inEdges[i])
      preds[opSlot(i, TaskKind::ForwardComm)].push_back(edgeSlot(e, false));
    preds[opSlot(i, TaskKind::Forward)].push_back(opSlot(i, TaskKind::ForwardComm));
    preds[opSlot(i, TaskKind::PartialSum)].push_back(opSlot(i, TaskKind::Forward));
    preds[opSlot(i, TaskKind::BackwardComm)].push_back(opSlot(i, TaskKind::Forward));
    for (int e : outEdges[i])
      preds[opSlot(i, TaskKind::BackwardComm)].push_back(edgeSlot(e, true));
    preds[opSlot(i, TaskKind::Backward)].push_back(opSlot(i, TaskKind::BackwardComm));
    preds[opSlot(i, TaskKind::GradientSync)].push_back(opSlot(i, TaskKind::Backward));
    preds[opSlot(i, TaskKind::Update)].push_back(opSlot(i, TaskKind::GradientSync));
  }
  for (int e = 0; e < numEdges; ++e) {
    preds[edgeSlot(e, false)].push_back(opSlot(g.edges[e].src, TaskKind::PartialSum));
    preds[edgeSlot(e, true)].push_back(opSlot(g.edges[e].dst, TaskKind::Backward));
  }
  std::vector<std::vector<int>> succs(numSlots);
  predCount.assign(numSlots, 0);
  for (int s = 0; s < numSlots; ++s) {
    predCount[s] = static_cast<int>(preds[s].size());
    for (int p : preds[s])
      succs[p].push_back(s);
  }
  succBegin.assign(numSlots + 1, 0);
  for (int s = 0; s < numSlots; ++s)
    succBegin[s + 1] = succBegin[s] + static_cast<int>(succs[s].size());
  succList.reserve(succBegin[numSlots]);
  for (int s = 0; s < numSlots; ++s)
    succList.insert(succList.end(), succs[s].begin(), succs[s].end());

  variants.resize(numOps);
  variantIndex.resize(numOps);
  chosen.assign(numOps, -1);
  dur.assign(numSlots, 0);
  resPtr.assign(numSlots, nullptr);
  resCount.assign(numSlots, 0);
  comm.assign(numSlots, nullptr);
  edgeNow.assign(numEdges, nullptr);
  readyAt.assign(numSlots, 0);
  startAt.assign(numSlots, 0);
  endAt.assign(numSlots, 0);
  remaining.assign(numSlots, 0);
  freeAt.assign(cost.machine().numResources(), 0);
  heap.reserve(numSlots);

  for (int i = 0; i < numOps; ++i) {
    const OpNode &op = g.ops[i];
    double f = static_cast<double>(op.forwardFlops) +
               (needsBackward[i] ? static_cast<double>(op.backwardFlops) : 0);
    modelFlops += f;
    DType dt = op.results.empty() ? DType::F32 : op.results[0].dtype;
    idealTime += f / cost.machine().device.peakFlops(dt, cost.options().allowTf32);
  }
}

Simulator::~Simulator() = default;

void Simulator::clearCaches() {
  // Keep the variants in use; drop the rest would renumber them, so drop
  // everything and mark the state stale.
  for (auto &v : variants)
    v.clear();
  for (auto &m : variantIndex)
    m.clear();
  edgeCache.clear();
  ready = false;
}

TaskKind Simulator::slotKind(int slot) const {
  if (slot < numOps * kSlotsPerOp)
    return static_cast<TaskKind>(slot % kSlotsPerOp);
  return (slot - numOps * kSlotsPerOp) % kSlotsPerEdge ? TaskKind::GradientTransfer
                                                       : TaskKind::Transfer;
}

std::string Simulator::checkConfig(int op, const ParallelConfig &config) const {
  if (op < 0 || op >= numOps)
    return "op index " + std::to_string(op) + " is out of range";
  ResolvedConfig rc;
  return resolveConfig(g.ops[op], config, cost.machine().numDevices(), rc);
}

//===----------------------------------------------------------------------===//
// Costs of one op under one config
//===----------------------------------------------------------------------===//

static uint64_t hashConfig(const ParallelConfig &c) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](uint64_t v) {
    h ^= v;
    h *= 1099511628211ULL;
  };
  for (const auto &[name, d] : c.degrees) {
    for (char ch : name)
      mix(static_cast<unsigned char>(ch));
    mix(static_cast<uint64_t>(d) * 31 + 7);
  }
  mix(static_cast<uint64_t>(c.start) + 0x9e37);
  for (int64_t s : c.strides)
    mix(static_cast<uint64_t>(s) + 0x51);
  return h;
}

Expected<int> Simulator::variantOf(int i, const ParallelConfig &config) {
  uint64_t h = hashConfig(config);
  auto &bucket = variantIndex[i][h];
  for (int idx : bucket)
    if (variants[i][idx]->config == config)
      return idx;

  const OpNode &op = g.ops[i];
  const OpShardingRule &rule = rules[i];
  const MachineModel &machine = cost.machine();
  auto v = std::make_unique<OpVariant>();
  v->config = config;
  std::string problem = resolveConfig(op, config, machine.numDevices(), v->rc);
  if (!problem.empty()) {
    if (bucket.empty())
      variantIndex[i].erase(h);
    return Error{problem};
  }
  const ResolvedConfig &rc = v->rc;
  const size_t nd = op.dims.size();
  v->deviceRes.assign(rc.devices.begin(), rc.devices.end());
  std::sort(v->deviceRes.begin(), v->deviceRes.end());

  CostModel::KernelTime kt = cost.kernelTime(op, rule, rc.degree);
  v->forward = kt.forward;
  v->backward = needsBackward[i] ? kt.backward : 0;
  v->measured = kt.measured;

  // Operands: shard sizes, weights and their gradient synchronization.
  int64_t weightElems = 0;
  DType weightType = DType::F32;
  MemoryUsage &mem = v->shardMemory;
  for (size_t j = 0; j < op.operands.size(); ++j) {
    const TensorRule &tr = rule.operands[j];
    std::vector<int64_t> shape = shardShape(tr, op.dims, rc.degree);
    int64_t bytes = volumeBytes(shape, tr.dtype);
    v->operandShardBytes.push_back(bytes);
    const Operand &o = op.operands[j];
    if (o.source == OperandSource::Weight) {
      mem.weights += bytes;
      weightElems += bytes / byteWidth(tr.dtype);
      weightType = tr.dtype;
      if (!needsBackward[i])
        continue;
      std::vector<char> vary(nd, 0);
      bool any = false;
      for (size_t d = 0; d < nd; ++d)
        if (tr.axisOfDim[d] < 0 && rc.degree[d] > 1)
          vary[d] = any = true;
      if (any) {
        CommCost c;
        cost.collective(Collective::AllReduce, groupsVarying(rc, vary),
                        static_cast<double>(bytes), c);
        v->gradientSync.append(c);
      }
    } else {
      if (o.source != OperandSource::Op)
        mem.activations += bytes; // model inputs and constants
      if (needsBackward[i])
        mem.workspace += bytes;
    }
  }
  if (needsBackward[i]) {
    mem.gradients = mem.weights;
    mem.optimizerState = mem.weights * cost.optimizerStateFactor();
    v->update = cost.updateTime(weightElems, weightType);
  }

  // Results: kept for the backward pass; partial sums all-reduced when used.
  for (size_t r = 0; r < rule.results.size(); ++r) {
    const TensorRule &tr = rule.results[r];
    int64_t bytes = volumeBytes(shardShape(tr, op.dims, rc.degree), tr.dtype);
    mem.activations += bytes;
    if (needsBackward[i])
      mem.workspace += bytes;
    if (outEdges[i].empty())
      continue;
    std::vector<char> vary(nd, 0);
    bool any = false;
    for (size_t d = 0; d < nd; ++d)
      if (tr.axisOfDim[d] == kPartial && rc.degree[d] > 1)
        vary[d] = any = true;
    if (any) {
      CommCost c;
      cost.collective(Collective::AllReduce, groupsVarying(rc, vary),
                      static_cast<double>(bytes), c);
      v->partialSum.append(c);
    }
  }

  // Recurrent state gather (LSTM split along hidden): every time step.
  if (rule.recurrentDim >= 0 && rc.degree[rule.recurrentDim] > 1 &&
      rule.recurrentSteps > 0 && !rule.results.empty()) {
    std::vector<char> vary(nd, 0);
    vary[rule.recurrentDim] = 1;
    const TensorRule &tr = rule.results[0];
    double resultBytes = static_cast<double>(
        volumeBytes(shardShape(tr, op.dims, rc.degree), tr.dtype));
    double steps = static_cast<double>(rule.recurrentSteps);
    double gathered = resultBytes / steps * rc.degree[rule.recurrentDim];
    CommCost c;
    cost.collective(Collective::AllGather, groupsVarying(rc, vary), gathered, c);
    c.time *= steps;
    c.payload *= steps;
    for (double &b : c.bytes)
      b *= steps;
    v->forwardComm = c;
    if (needsBackward[i])
      v->backwardComm = c;
  }

  variants[i].push_back(std::move(v));
  int idx = static_cast<int>(variants[i].size()) - 1;
  bucket.push_back(idx);
  return idx;
}

//===----------------------------------------------------------------------===//
// Costs of one edge under its endpoints' configs
//===----------------------------------------------------------------------===//

const Simulator::EdgeVariant &Simulator::edgeVariant(int e) {
  const Edge &edge = g.edges[e];
  uint64_t key = (static_cast<uint64_t>(e) << 40) |
                 (static_cast<uint64_t>(chosen[edge.src]) << 20) |
                 static_cast<uint64_t>(chosen[edge.dst]);
  auto it = edgeCache.find(key);
  if (it != edgeCache.end())
    return *it->second;
  auto ev = std::make_unique<EdgeVariant>();
  if (duplicateOf[e] < 0) {
    const OpVariant &pv = *variants[edge.src][chosen[edge.src]];
    const OpVariant &cv = *variants[edge.dst][chosen[edge.dst]];
    const OpNode &p = g.ops[edge.src], &c = g.ops[edge.dst];
    const TensorRule &pr = rules[edge.src].results[edge.srcResult];
    const TensorRule &cr = rules[edge.dst].operands[edge.dstOperand];
    const MachineModel &machine = cost.machine();
    std::vector<Flow> flows;
    reshardFlows(machine, pr, p.dims, pv.rc, cr, c.dims, cv.rc, flows);
    cost.transfers(flows, ev->forward);
    for (const Flow &f : flows)
      ev->receivers.push_back(static_cast<int>(f.dst));
    std::sort(ev->receivers.begin(), ev->receivers.end());
    ev->receivers.erase(std::unique(ev->receivers.begin(), ev->receivers.end()),
                        ev->receivers.end());

    if (needsBackward[edge.dst] && isFloat(edge.tensor.dtype)) {
      // The consumer's shards that hold the operand whole along a split dim
      // each computed a partial gradient: sum them, then send the producer
      // layout its boxes.
      const size_t nd = c.dims.size();
      std::vector<char> vary(nd, 0);
      bool any = false;
      for (size_t d = 0; d < nd; ++d)
        if (cr.axisOfDim[d] < 0 && cv.rc.degree[d] > 1)
          vary[d] = any = true;
      if (any) {
        CommCost ar;
        cost.collective(Collective::AllReduce, groupsVarying(cv.rc, vary),
                        static_cast<double>(cv.operandShardBytes[edge.dstOperand]),
                        ar);
        ev->backward.append(ar);
      }
      reshardFlows(machine, cr, c.dims, cv.rc, pr, p.dims, pv.rc, flows);
      CommCost back;
      cost.transfers(flows, back);
      ev->backward.append(back);
    }
  }
  const EdgeVariant &ref = *ev;
  edgeCache.emplace(key, std::move(ev));
  return ref;
}

//===----------------------------------------------------------------------===//
// Slots
//===----------------------------------------------------------------------===//

void Simulator::fillOpSlots(int i) {
  const OpVariant &v = *variants[i][chosen[i]];
  auto compute = [&](TaskKind k, double d) {
    int s = opSlot(i, k);
    dur[s] = d;
    resPtr[s] = d > 0 ? v.deviceRes.data() : nullptr;
    resCount[s] = d > 0 ? static_cast<int>(v.deviceRes.size()) : 0;
    comm[s] = nullptr;
  };
  auto communicate = [&](TaskKind k, const CommCost &c) {
    int s = opSlot(i, k);
    dur[s] = c.time;
    bool any = c.time > 0;
    resPtr[s] = any ? c.resources.data() : nullptr;
    resCount[s] = any ? static_cast<int>(c.resources.size()) : 0;
    comm[s] = any ? &c : nullptr;
  };
  communicate(TaskKind::ForwardComm, v.forwardComm);
  compute(TaskKind::Forward, v.forward);
  communicate(TaskKind::PartialSum, v.partialSum);
  communicate(TaskKind::BackwardComm, v.backwardComm);
  compute(TaskKind::Backward, v.backward);
  communicate(TaskKind::GradientSync, v.gradientSync);
  compute(TaskKind::Update, v.update);
}

void Simulator::fillEdgeSlots(int e) {
  const EdgeVariant &ev = edgeVariant(e);
  edgeNow[e] = &ev;
  for (bool backward : {false, true}) {
    const CommCost &c = backward ? ev.backward : ev.forward;
    int s = edgeSlot(e, backward);
    dur[s] = c.time;
    bool any = c.time > 0;
    resPtr[s] = any ? c.resources.data() : nullptr;
    resCount[s] = any ? static_cast<int>(c.resources.size()) : 0;
    comm[s] = any ? &c : nullptr;
  }
}

Expected<SimResult> Simulator::simulate(const Strategy &strategy) {
  if (static_cast<int>(strategy.configs.size()) != numOps)
    return Error{"the strategy has " + std::to_string(strategy.configs.size()) +
                 " configs for " + std::to_string(numOps) + " ops"};
  std::vector<int> picked(numOps);
  for (int i = 0; i < numOps; ++i) {
    Expected<int> v = variantOf(i, strategy.configs[i]);
    if (!v)
      return Error{v.error()};
    picked[i] = *v;
  }
  chosen = picked;
  current = strategy;
  for (int i = 0; i < numOps; ++i)
    fillOpSlots(i);
  for (int e = 0; e < numEdges; ++e)
    fillEdgeSlots(e);
  ready = true;
  return run();
}

Expected<SimResult> Simulator::simulateDelta(int op, const ParallelConfig &config) {
  if (!ready)
    return Error{"simulateDelta needs a successful simulate() first"};
  if (op < 0 || op >= numOps)
    return Error{"op index " + std::to_string(op) + " is out of range"};
  Expected<int> v = variantOf(op, config);
  if (!v)
    return Error{v.error()};
  chosen[op] = *v;
  current.configs[op] = config;
  fillOpSlots(op);
  for (int e : inEdges[op])
    fillEdgeSlots(e);
  for (int e : outEdges[op])
    fillEdgeSlots(e);
  return run();
}

//===----------------------------------------------------------------------===//
// The event loop and the result
//===----------------------------------------------------------------------===//

SimResult Simulator::run() {
  const MachineModel &machine = cost.machine();
  std::fill(readyAt.begin(), readyAt.end(), 0.0);
  std::fill(freeAt.begin(), freeAt.end(), 0.0);
  std::copy(predCount.begin(), predCount.end(), remaining.begin());
  heap.clear();
  auto later = std::greater<std::pair<double, int>>();
  for (int s = 0; s < numSlots; ++s)
    if (remaining[s] == 0)
      heap.emplace_back(0.0, s);
  std::make_heap(heap.begin(), heap.end(), later);
  double step = 0;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    auto [t, s] = heap.back();
    heap.pop_back();
    double start = t;
    const int *rp = resPtr[s];
    const int n = resCount[s];
    for (int k = 0; k < n; ++k)
      start = std::max(start, freeAt[rp[k]]);
    double end = start + dur[s];
    for (int k = 0; k < n; ++k)
      freeAt[rp[k]] = end;
    startAt[s] = start;
    endAt[s] = end;
    step = std::max(step, end);
    for (int k = succBegin[s]; k < succBegin[s + 1]; ++k) {
      int x = succList[k];
      readyAt[x] = std::max(readyAt[x], end);
      if (--remaining[x] == 0) {
        heap.emplace_back(readyAt[x], x);
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }

  SimResult r;
  const int64_t nDev = machine.numDevices();
  r.stepTime = step;
  r.computeTime.assign(nDev, 0);
  r.commTime.assign(nDev, 0);
  r.linkBytes.assign(machine.numResources(), 0);
  for (int s = 0; s < numSlots; ++s) {
    if (dur[s] <= 0)
      continue;
    ++r.tasks;
    if (!comm[s]) {
      for (int k = 0; k < resCount[s]; ++k)
        r.computeTime[resPtr[s][k]] += dur[s];
      continue;
    }
    const CommCost &c = *comm[s];
    for (int d : c.devices)
      r.commTime[d] += dur[s];
    for (size_t k = 0; k < c.resources.size(); ++k)
      r.linkBytes[c.resources[k]] += c.bytes[k];
    r.commBytes += c.payload;
  }
  r.idleTime.resize(nDev);
  for (int64_t d = 0; d < nDev; ++d)
    r.idleTime[d] = std::max(0.0, step - r.computeTime[d]);

  // Memory.
  r.memory.assign(nDev, MemoryUsage{});
  for (int i = 0; i < numOps; ++i) {
    const OpVariant &v = *variants[i][chosen[i]];
    for (int64_t d : v.rc.devices) {
      MemoryUsage &m = r.memory[d];
      m.weights += v.shardMemory.weights;
      m.gradients += v.shardMemory.gradients;
      m.optimizerState += v.shardMemory.optimizerState;
      m.activations += v.shardMemory.activations;
      m.workspace = std::max(m.workspace, v.shardMemory.workspace);
    }
    for (int e : inEdges[i]) {
      if (duplicateOf[e] >= 0)
        continue;
      for (int d : edgeNow[e]->receivers)
        r.memory[d].activations += v.operandShardBytes[g.edges[e].dstOperand];
    }
  }
  r.peakMemory.resize(nDev);
  for (int64_t d = 0; d < nDev; ++d) {
    r.peakMemory[d] = r.memory[d].total();
    if (r.peakMemory[d] > machine.device.memoryBytes)
      r.fitsMemory = false;
  }
  r.modelFlops = modelFlops;
  r.mfu = step > 0 ? idealTime / (step * static_cast<double>(nDev)) : 0;
  return r;
}

} // namespace soap
