//===- Simulator.cpp - task graph and event-driven simulation -------------===//
#include "SimulatorImpl.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <iterator>

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
                          int64_t numDevices, ResolvedConfig &rc,
                          const std::string &devicesAre) {
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
             std::to_string(dev) + ", outside " +
             (devicesAre.empty() ? "the machine's " + std::to_string(numDevices) +
                                       " devices"
                                 : devicesAre);
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
      // Holder intervals are monotone in j: binary search the first one
      // that ends after lo, then walk while they start before hi.
      const int64_t dimSize = hdims[sp.dim].size, axisSize = hr.shape[sp.axis];
      const int64_t a0 = lo[sp.axis], a1 = hi[sp.axis];
      int64_t first = 0, last = sp.degree;
      while (first < last) {
        int64_t mid = (first + last) / 2, l, h;
        axisInterval(dimSize, sp.degree, mid, w, axisSize, l, h);
        if (h <= a0)
          first = mid + 1;
        else
          last = mid;
      }
      for (int64_t j = first; j < sp.degree; ++j) {
        int64_t l, h;
        axisInterval(dimSize, sp.degree, j, w, axisSize, l, h);
        if (l >= a1)
          break;
        int64_t ov = std::min(h, a1) - std::max(l, a0);
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

  // Ops from which a gradient reaches an output need a backward pass.
  std::vector<char> backward = g.backwardOps();
  needsBackward.assign(backward.begin(), backward.end());

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

  // The plan's order (lib/Plan/Planner.cpp's walk), in which an in-order
  // device runs its tasks: forward, op by op, each op's incoming transfers
  // before its kernels; then backward in reverse, each op's backward, the
  // gradients it sends its producers, its weights' synchronization and
  // update. A topological order of the task graph.
  programOrder.reserve(numSlots);
  for (int i = 0; i < numOps; ++i) {
    for (int e : inEdges[i])
      programOrder.push_back(edgeSlot(e, false));
    for (TaskKind k : {TaskKind::ForwardComm, TaskKind::Forward, TaskKind::PartialSum})
      programOrder.push_back(opSlot(i, k));
  }
  for (int i = numOps; i-- > 0;) {
    programOrder.push_back(opSlot(i, TaskKind::BackwardComm));
    programOrder.push_back(opSlot(i, TaskKind::Backward));
    for (int e : inEdges[i])
      programOrder.push_back(edgeSlot(e, true));
    programOrder.push_back(opSlot(i, TaskKind::GradientSync));
    programOrder.push_back(opSlot(i, TaskKind::Update));
  }
  assert(static_cast<int>(programOrder.size()) == numSlots);

  variants.resize(numOps);
  variantIndex.resize(numOps);
  chosen.assign(numOps, -1);
  dur.assign(numSlots, 0);
  slotRes.assign(numSlots, -1);
  slotDev.assign(numSlots, -1);
  comm.assign(numSlots, nullptr);
  edgeNow.assign(numEdges, nullptr);
  readyAt.assign(numSlots, 0);
  startAt.assign(numSlots, 0);
  endAt.assign(numSlots, 0);
  remaining.assign(numSlots, 0);
  lastWriter.assign(cost.machine().numResources(), -1);
  writerStamp.assign(cost.machine().numResources(), 0);
  heap.reserve(numSlots);
  stack.reserve(numSlots);

  for (int i = 0; i < numOps; ++i) {
    const OpNode &op = g.ops[i];
    double f = opForwardFlops(op) + (needsBackward[i] ? opBackwardFlops(op) : 0);
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
  undo.valid = false;
}

int Simulator::internSet(const std::vector<int> &sorted) {
  if (sorted.empty())
    return -1;
  uint64_t h = 1469598103934665603ULL;
  for (int r : sorted) {
    h ^= static_cast<uint64_t>(r) + 0x9e3779b97f4a7c15ULL;
    h *= 1099511628211ULL;
  }
  auto &bucket = setIndex[h];
  for (int id : bucket)
    if (setSize(id) == static_cast<int>(sorted.size()) &&
        std::equal(sorted.begin(), sorted.end(), setData(id)))
      return id;
  int id = static_cast<int>(setBegin.size()) - 1;
  setFlat.insert(setFlat.end(), sorted.begin(), sorted.end());
  setBegin.push_back(static_cast<int>(setFlat.size()));
  bucket.push_back(id);
  return id;
}

CommSets Simulator::commSets(const CommCost &c) {
  CommSets out;
  out.devices = internSet(c.devices);
  const MachineModel &machine = cost.machine();
  if (!machine.communicationOccupiesDevices && !machine.inOrderExecution) {
    out.resources = internSet(c.resources);
    return out;
  }
  // The devices move the bytes themselves: they are busy too.
  std::vector<int> all;
  std::set_union(c.resources.begin(), c.resources.end(), c.devices.begin(),
                 c.devices.end(), std::back_inserter(all));
  out.resources = internSet(all);
  return out;
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
  MemoryUsage &mem = v->shardMemory;
  for (size_t j = 0; j < op.operands.size(); ++j) {
    const TensorRule &tr = rule.operands[j];
    std::vector<int64_t> shape = shardShape(tr, op.dims, rc.degree);
    int64_t bytes = volumeBytes(shape, tr.dtype);
    v->operandShardBytes.push_back(bytes);
    const Operand &o = op.operands[j];
    if (o.source == OperandSource::Weight) {
      mem.weights += bytes;
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
    v->update = cost.opUpdateTime(op, rule, rc.degree);
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

  // Collectives inside the op (batch-norm statistics, expert counts).
  for (const OpShardingRule::InnerCollective &oc : rule.collectives) {
    std::vector<char> vary(nd, 0);
    int64_t group = 1;
    for (size_t d = 0; d < nd; ++d)
      if (oc.over[d] && rc.degree[d] > 1) {
        vary[d] = 1;
        group *= rc.degree[d];
      }
    if (group == 1)
      continue;
    double bytes = static_cast<double>(volumeBytes(
        shardShape(oc.tensor, op.dims, rc.degree), oc.tensor.dtype));
    if (oc.kind == Collective::AllGather)
      bytes *= static_cast<double>(group); // what each member ends with
    CommCost c;
    cost.collective(oc.kind, groupsVarying(rc, vary), bytes, c);
    v->forwardComm.append(c);
    if (oc.backward && needsBackward[i])
      v->backwardComm.append(c);
  }

  v->deviceSet = internSet(v->deviceRes);
  auto sets = [&](const CommCost &c, CommSets &out) { out = commSets(c); };
  sets(v->forwardComm, v->forwardCommSets);
  sets(v->backwardComm, v->backwardCommSets);
  sets(v->partialSum, v->partialSumSets);
  sets(v->gradientSync, v->gradientSyncSets);

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
  ev->forwardSets = commSets(ev->forward);
  ev->backwardSets = commSets(ev->backward);
  ev->receiverSet = internSet(ev->receivers);
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
    slotRes[s] = d > 0 ? v.deviceSet : -1;
    slotDev[s] = slotRes[s];
    comm[s] = nullptr;
  };
  auto communicate = [&](TaskKind k, const CommCost &c, const CommSets &sets) {
    int s = opSlot(i, k);
    bool any = c.time > 0;
    dur[s] = any ? c.time : 0;
    slotRes[s] = any ? sets.resources : -1;
    slotDev[s] = any ? sets.devices : -1;
    comm[s] = any ? &c : nullptr;
  };
  communicate(TaskKind::ForwardComm, v.forwardComm, v.forwardCommSets);
  compute(TaskKind::Forward, v.forward);
  communicate(TaskKind::PartialSum, v.partialSum, v.partialSumSets);
  communicate(TaskKind::BackwardComm, v.backwardComm, v.backwardCommSets);
  compute(TaskKind::Backward, v.backward);
  communicate(TaskKind::GradientSync, v.gradientSync, v.gradientSyncSets);
  compute(TaskKind::Update, v.update);
}

void Simulator::fillEdgeSlots(int e) {
  const EdgeVariant &ev = edgeVariant(e);
  edgeNow[e] = &ev;
  for (bool backward : {false, true}) {
    const CommCost &c = backward ? ev.backward : ev.forward;
    const CommSets &sets = backward ? ev.backwardSets : ev.forwardSets;
    int s = edgeSlot(e, backward);
    bool any = c.time > 0;
    dur[s] = any ? c.time : 0;
    slotRes[s] = any ? sets.resources : -1;
    slotDev[s] = any ? sets.devices : -1;
    comm[s] = any ? &c : nullptr;
  }
}

Expected<double> Simulator::opTime(int op, const ParallelConfig &config) {
  if (op < 0 || op >= numOps)
    return Error{"op index " + std::to_string(op) + " is out of range"};
  Expected<int> v = variantOf(op, config);
  if (!v)
    return Error{v.error()};
  const OpVariant &ov = *variants[op][*v];
  return ov.forward + ov.backward + ov.update + ov.forwardComm.time +
         ov.backwardComm.time + ov.partialSum.time + ov.gradientSync.time;
}

Expected<double> Simulator::edgeTime(int e, const ParallelConfig &src,
                                     const ParallelConfig &dst) {
  if (e < 0 || e >= numEdges)
    return Error{"edge index " + std::to_string(e) + " is out of range"};
  const Edge &edge = g.edges[e];
  Expected<int> vs = variantOf(edge.src, src);
  if (!vs)
    return Error{vs.error()};
  Expected<int> vd = variantOf(edge.dst, dst);
  if (!vd)
    return Error{vd.error()};
  // edgeVariant prices the edge under `chosen`: swap the two variants in,
  // and back.
  int keepSrc = chosen[edge.src], keepDst = chosen[edge.dst];
  chosen[edge.src] = *vs;
  chosen[edge.dst] = *vd;
  const EdgeVariant &ev = edgeVariant(e);
  double t = ev.forward.time + ev.backward.time;
  chosen[edge.src] = keepSrc;
  chosen[edge.dst] = keepDst;
  return t;
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
  if (strategy.training.active()) {
    std::string problem = checkTrainingConfig(
        g, strategy.training, cost.machine().numDevices());
    if (!problem.empty())
      return Error{problem};
  }
  chosen = picked;
  current = strategy;
  if (!current.training.stages.empty())
    for (int i = 0; i < numOps; ++i) {
      std::string problem = checkStagePlacement(i, picked[i]);
      if (!problem.empty()) {
        ready = false;
        return Error{problem};
      }
    }
  for (int i = 0; i < numOps; ++i)
    fillOpSlots(i);
  for (int e = 0; e < numEdges; ++e)
    fillEdgeSlots(e);
  ready = true;
  undo.valid = false;
  lastResult = run();
  return finalResult();
}

Expected<SimResult> Simulator::simulateDelta(int op, const ParallelConfig &config) {
  if (!ready)
    return Error{"simulateDelta needs a successful simulate() first"};
  if (op < 0 || op >= numOps)
    return Error{"op index " + std::to_string(op) + " is out of range"};
  Expected<int> v = variantOf(op, config);
  if (!v)
    return Error{v.error()};
  if (std::string problem = checkStagePlacement(op, *v); !problem.empty())
    return Error{problem};
  // The same config: nothing changes.
  if (*v == chosen[op]) {
    current.configs[op] = config;
    return finalResult();
  }
  // Undoing the previous delta (a search rejecting its proposal): restore
  // the state before it, which was a simulation of this very strategy.
  if (undo.valid && undo.op == op && undo.variant == *v) {
    chosen[op] = undo.variant;
    current.configs[op] = undo.config;
    for (size_t k = 0; k < undo.slots.size(); ++k) {
      int s = undo.slots[k];
      dur[s] = undo.dur[k];
      slotRes[s] = undo.res[k];
      slotDev[s] = undo.dev[k];
      comm[s] = undo.comm[k];
    }
    for (size_t k = 0; k < undo.edges.size(); ++k)
      edgeNow[undo.edges[k]] = undo.edgeNow[k];
    startAt.swap(undo.startAt);
    endAt.swap(undo.endAt);
    lastResult = std::move(undo.result);
    undo.valid = false;
    return finalResult();
  }
  // Keep what the change overwrites, for an undo.
  undo.op = op;
  undo.variant = chosen[op];
  undo.config = current.configs[op];
  undo.slots.clear();
  undo.edges.clear();
  for (int k = 0; k < kSlotsPerOp; ++k)
    undo.slots.push_back(op * kSlotsPerOp + k);
  for (const auto *list : {&inEdges[op], &outEdges[op]})
    for (int e : *list) {
      undo.edges.push_back(e);
      undo.slots.push_back(edgeSlot(e, false));
      undo.slots.push_back(edgeSlot(e, true));
    }
  undo.dur.clear();
  undo.res.clear();
  undo.dev.clear();
  undo.comm.clear();
  for (int s : undo.slots) {
    undo.dur.push_back(dur[s]);
    undo.res.push_back(slotRes[s]);
    undo.dev.push_back(slotDev[s]);
    undo.comm.push_back(comm[s]);
  }
  undo.edgeNow.clear();
  for (int e : undo.edges)
    undo.edgeNow.push_back(edgeNow[e]);
  undo.startAt.assign(startAt.begin(), startAt.end());
  undo.endAt.assign(endAt.begin(), endAt.end());
  undo.result = std::move(lastResult);
  undo.valid = true;

  chosen[op] = *v;
  current.configs[op] = config;
  fillOpSlots(op);
  for (int e : inEdges[op])
    fillEdgeSlots(e);
  for (int e : outEdges[op])
    fillEdgeSlots(e);
  lastResult = run();
  return finalResult();
}

//===----------------------------------------------------------------------===//
// The event loop and the result
//===----------------------------------------------------------------------===//

// The event loop. A task starts when it is ready (its predecessors ended)
// and every resource of its set is free, resources taking tasks in the order
// they become ready (ties by slot index), or, on a machine whose devices run
// in order, in the plan's order (programOrder). Resource sets are interned: each
// resource remembers the set that last used it, each set when its last task
// ended and whether it is still the last user of all its resources; a task
// on such a set (the common case: consecutive kernels on the same devices)
// costs O(1) however many devices it spans. Slots with nothing to do bypass
// the heap (they touch no resource, so the order of the others is the same).
SimResult Simulator::run() {
  const MachineModel &machine = cost.machine();
  if (++epoch == 0) {
    std::fill(writerStamp.begin(), writerStamp.end(), 0);
    std::fill(setStamp.begin(), setStamp.end(), 0);
    epoch = 1;
  }
  const size_t nSets = setBegin.size() - 1;
  if (setFree.size() < nSets) {
    setFree.resize(nSets);
    setOwns.resize(nSets);
    setStamp.resize(nSets, 0);
    setCompute.resize(nSets);
    setComm.resize(nSets);
    setMemory.resize(nSets);
  }
  touchedSets.clear();
  auto touch = [&](int S) {
    if (setStamp[S] == epoch)
      return;
    setStamp[S] = epoch;
    setFree[S] = 0;
    setOwns[S] = 0;
    setCompute[S] = 0;
    setComm[S] = 0;
    setMemory[S] = MemoryUsage{};
    touchedSets.push_back(S);
  };

  const bool inOrder = machine.inOrderExecution;
  std::fill(readyAt.begin(), readyAt.end(), 0.0);
  std::copy(predCount.begin(), predCount.end(), remaining.begin());
  heap.clear();
  stack.clear();
  auto later = std::greater<std::pair<double, int>>();
  auto enqueue = [&](int x) {
    if (slotRes[x] < 0) {
      stack.push_back(x);
    } else {
      heap.emplace_back(readyAt[x], x);
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  double step = 0;
  // Starts slot s (ready: its predecessors ended) once its resources are
  // free; passes its end to its successors.
  auto runSlot = [&](int s) {
    double start = readyAt[s];
    const int S = slotRes[s];
    if (S >= 0) {
      touch(S);
      const int *r = setData(S);
      const int n = setSize(S);
      if (setOwns[S]) {
        start = std::max(start, setFree[S]);
      } else {
        for (int k = 0; k < n; ++k)
          if (writerStamp[r[k]] == epoch)
            start = std::max(start, setFree[lastWriter[r[k]]]);
        for (int k = 0; k < n; ++k) {
          int res = r[k];
          if (writerStamp[res] == epoch) {
            int w = lastWriter[res];
            if (w != S)
              setOwns[w] = 0;
          } else {
            writerStamp[res] = epoch;
          }
          lastWriter[res] = S;
        }
        setOwns[S] = 1;
      }
    }
    double end = start + dur[s];
    if (S >= 0)
      setFree[S] = end;
    startAt[s] = start;
    endAt[s] = end;
    step = std::max(step, end);
    for (int k = succBegin[s]; k < succBegin[s + 1]; ++k) {
      int x = succList[k];
      readyAt[x] = std::max(readyAt[x], end);
      if (--remaining[x] == 0 && !inOrder)
        enqueue(x);
    }
  };
  if (inOrder) {
    // Every resource takes its tasks in the plan's order: walking that
    // order, each slot starts when its predecessors (earlier in it) ended
    // and its resources finished their earlier tasks.
    for (int s : programOrder) {
      assert(remaining[s] == 0 && "programOrder is not topological");
      runSlot(s);
    }
  } else {
    for (int s = 0; s < numSlots; ++s)
      if (remaining[s] == 0)
        enqueue(s);
    while (true) {
      int s;
      if (!stack.empty()) {
        s = stack.back();
        stack.pop_back();
      } else if (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        s = heap.back().second;
        heap.pop_back();
      } else {
        break;
      }
      runSlot(s);
    }
  }

  SimResult r;
  const int64_t nDev = machine.numDevices();
  r.stepTime = step;
  r.linkBytes.assign(machine.numResources(), 0);
  for (int s = 0; s < numSlots; ++s) {
    if (dur[s] <= 0)
      continue;
    ++r.tasks;
    if (!comm[s]) {
      setCompute[slotRes[s]] += dur[s];
      continue;
    }
    const CommCost &c = *comm[s];
    if (slotDev[s] >= 0) {
      touch(slotDev[s]);
      setComm[slotDev[s]] += dur[s];
    }
    for (size_t k = 0; k < c.resources.size(); ++k)
      r.linkBytes[c.resources[k]] += c.bytes[k];
    r.commBytes += c.payload;
  }

  // Memory, summed per device set.
  for (int i = 0; i < numOps; ++i) {
    const OpVariant &v = *variants[i][chosen[i]];
    touch(v.deviceSet);
    MemoryUsage &m = setMemory[v.deviceSet];
    m.weights += v.shardMemory.weights;
    m.gradients += v.shardMemory.gradients;
    m.optimizerState += v.shardMemory.optimizerState;
    m.activations += v.shardMemory.activations;
    m.workspace = std::max(m.workspace, v.shardMemory.workspace);
    for (int e : inEdges[i]) {
      int R = edgeNow[e]->receiverSet;
      if (duplicateOf[e] >= 0 || R < 0)
        continue;
      touch(R);
      setMemory[R].activations += v.operandShardBytes[g.edges[e].dstOperand];
    }
  }

  r.computeTime.assign(nDev, 0);
  r.commTime.assign(nDev, 0);
  r.memory.assign(nDev, MemoryUsage{});
  for (int S : touchedSets) {
    const MemoryUsage &sm = setMemory[S];
    bool any = setCompute[S] != 0 || setComm[S] != 0 || sm.weights != 0 ||
               sm.activations != 0 || sm.workspace != 0;
    if (!any)
      continue;
    const int *rs = setData(S);
    for (int k = 0, n = setSize(S); k < n; ++k) {
      int d = rs[k];
      if (d >= nDev)
        continue;
      r.computeTime[d] += setCompute[S];
      r.commTime[d] += setComm[S];
      MemoryUsage &m = r.memory[d];
      m.weights += sm.weights;
      m.gradients += sm.gradients;
      m.optimizerState += sm.optimizerState;
      m.activations += sm.activations;
      m.workspace = std::max(m.workspace, sm.workspace);
    }
  }
  r.idleTime.resize(nDev);
  r.peakMemory.resize(nDev);
  for (int64_t d = 0; d < nDev; ++d) {
    r.idleTime[d] = std::max(0.0, step - r.computeTime[d]);
    r.peakMemory[d] = r.memory[d].total();
    if (r.peakMemory[d] > machine.device.memoryBytes)
      r.fitsMemory = false;
  }
  r.modelFlops = modelFlops;
  r.mfu = step > 0 ? idealTime / (step * static_cast<double>(nDev)) : 0;
  return r;
}

} // namespace soap
