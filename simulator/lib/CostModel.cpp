//===- CostModel.cpp - kernel and communication times ---------------------===//
#include "soap/Simulator/CostModel.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace soap {

const char *toString(Optimizer o) {
  switch (o) {
  case Optimizer::SGD:
    return "sgd";
  case Optimizer::Momentum:
    return "momentum";
  case Optimizer::Adam:
    return "adam";
  }
  return "?";
}

double CommCost::totalBytes() const {
  double s = 0;
  for (double b : bytes)
    s += b;
  return s;
}

void CommCost::clear() {
  time = 0;
  payload = 0;
  resources.clear();
  bytes.clear();
  devices.clear();
}

void CommCost::append(const CommCost &o) {
  time += o.time;
  payload += o.payload;
  if (o.resources.empty() && o.devices.empty())
    return;
  std::vector<int> res;
  std::vector<double> by;
  size_t i = 0, j = 0;
  while (i < resources.size() || j < o.resources.size()) {
    if (j == o.resources.size() ||
        (i < resources.size() && resources[i] < o.resources[j])) {
      res.push_back(resources[i]);
      by.push_back(bytes[i++]);
    } else if (i == resources.size() || o.resources[j] < resources[i]) {
      res.push_back(o.resources[j]);
      by.push_back(o.bytes[j++]);
    } else {
      res.push_back(resources[i]);
      by.push_back(bytes[i++] + o.bytes[j++]);
    }
  }
  resources.swap(res);
  bytes.swap(by);
  std::vector<int> dev;
  std::set_union(devices.begin(), devices.end(), o.devices.begin(),
                 o.devices.end(), std::back_inserter(dev));
  devices.swap(dev);
}

//===----------------------------------------------------------------------===//
// Efficiency curves
//===----------------------------------------------------------------------===//

void EfficiencyCurve::fit(std::vector<std::pair<double, double>> samples) {
  points.clear();
  // Median efficiency per size bucket (a quarter of an octave), then
  // piecewise linear in log(size).
  std::map<long, std::vector<double>> buckets;
  std::map<long, std::vector<double>> sizes;
  for (auto [size, eff] : samples) {
    if (!(size > 0) || !(eff > 0) || !std::isfinite(eff))
      continue;
    long b = std::lround(std::log2(size) * 4);
    buckets[b].push_back(eff);
    sizes[b].push_back(std::log(size));
  }
  for (auto &[b, effs] : buckets) {
    std::sort(effs.begin(), effs.end());
    std::vector<double> &ls = sizes[b];
    std::sort(ls.begin(), ls.end());
    double med = effs.size() % 2 ? effs[effs.size() / 2]
                                 : 0.5 * (effs[effs.size() / 2 - 1] +
                                          effs[effs.size() / 2]);
    double lmed = ls[ls.size() / 2];
    points.emplace_back(lmed, std::min(med, 1.0));
  }
}

double EfficiencyCurve::at(double size) const {
  if (points.empty())
    return 1;
  if (!(size > 0))
    return points.front().second;
  double l = std::log(size);
  if (l <= points.front().first)
    return points.front().second;
  if (l >= points.back().first)
    return points.back().second;
  auto it = std::lower_bound(
      points.begin(), points.end(), l,
      [](const std::pair<double, double> &p, double v) { return p.first < v; });
  const auto &hi = *it;
  const auto &lo = *(it - 1);
  double t = (l - lo.first) / (hi.first - lo.first);
  return lo.second + t * (hi.second - lo.second);
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

CostModel::CostModel(const MachineModel &machine, const ProfileDB *profile,
                     CostOptions options)
    : m(machine), db(profile), opts(options) {
  if (db && db->deviceType == m.device.type) {
    std::vector<std::pair<double, double>> g, b;
    for (const GemmSample &gs : db->gemm)
      if (gs.seconds > 0)
        g.emplace_back(gs.flops(),
                       gs.flops() / (gs.seconds * m.device.peakFlops(
                                                     gs.dtype, opts.allowTf32)));
    for (const BandwidthSample &bs : db->bandwidth)
      if (bs.seconds > 0)
        b.emplace_back(static_cast<double>(bs.bytes),
                       bs.bytes / (bs.seconds * m.device.memoryBandwidth));
    gemmEff.fit(std::move(g));
    memEff.fit(std::move(b));
  }
  s.load.assign(m.numResources(), 0.0);
  s.acc.assign(m.numResources(), 0.0);
  s.accFlag.assign(m.numResources(), 0);
  s.devSeen.assign(m.numDevices(), 0);
}

double CostModel::gemmEfficiency(double flops) const {
  return gemmEff.empty() ? m.device.gemmEfficiency : gemmEff.at(flops);
}

double CostModel::memoryEfficiency(double bytes) const {
  return memEff.empty() ? m.device.memoryEfficiency : memEff.at(bytes);
}

double CostModel::roofline(double flops, double bytes, DType dtype,
                           bool gemm) const {
  if (flops <= 0 && bytes <= 0)
    return 0;
  double peak = m.device.peakFlops(dtype, opts.allowTf32);
  double compute = 0;
  if (flops > 0)
    compute = flops / (peak * (gemm ? gemmEfficiency(flops) : 1.0));
  double memory = 0;
  if (bytes > 0)
    memory = bytes / (m.device.memoryBandwidth * memoryEfficiency(bytes));
  double t = std::max(compute, memory);
  // A fitted curve already holds the fixed costs of small kernels; the
  // default model adds the machine's kernel overhead.
  bool fitted = gemm ? !gemmEff.empty() : !memEff.empty();
  if (!fitted)
    t += m.device.kernelOverhead;
  return std::max(t, fitted ? 0.0 : m.device.kernelOverhead);
}

int CostModel::optimizerStateFactor() const {
  switch (opts.optimizer) {
  case Optimizer::SGD:
    return 0;
  case Optimizer::Momentum:
    return 1;
  case Optimizer::Adam:
    return 2;
  }
  return 0;
}

double CostModel::updateTime(int64_t elements, DType dtype) const {
  if (elements <= 0)
    return 0;
  // Bytes moved per parameter, in units of the parameter: SGD reads p, g and
  // writes p (3); momentum also reads and writes the buffer (5); Adam reads
  // p, g, m, v and writes p, m, v (7).
  static const int kTraffic[] = {3, 5, 7};
  static const int kFlops[] = {2, 4, 12};
  int o = static_cast<int>(opts.optimizer);
  double bytes = static_cast<double>(elements) * byteWidth(dtype) * kTraffic[o];
  return roofline(static_cast<double>(elements) * kFlops[o], bytes, dtype,
                  /*gemm=*/false);
}

std::string CostModel::updateAttributes(Optimizer optimizer,
                                        const std::vector<int64_t> &degree,
                                        const MachineModel &machine) {
  int64_t shards = 1;
  for (int64_t d : degree)
    shards *= std::max<int64_t>(d, 1);
  std::string a = std::string("optimizer=") + toString(optimizer);
  if (int64_t n = std::min(shards, machine.devicesPerNode); n > 1)
    a += ",concurrent=" + std::to_string(n);
  return a;
}

std::string CostModel::updateKey(const OpNode &op, const OpShardingRule &rule,
                                 const std::vector<int64_t> &degree) const {
  std::vector<std::vector<int64_t>> ws;
  std::vector<DType> wt;
  for (size_t j = 0; j < op.operands.size() && j < rule.operands.size(); ++j)
    if (op.operands[j].source == OperandSource::Weight) {
      ws.push_back(shardShape(rule.operands[j], op.dims, degree));
      wt.push_back(rule.operands[j].dtype);
    }
  if (ws.empty())
    return "";
  return ProfileDB::makeKey("update", updateAttributes(opts.optimizer, degree, m),
                            ProfileDB::shapesText(ws, wt, ws, wt), wt.front(),
                            m.device.type);
}

double CostModel::opUpdateTime(const OpNode &op, const OpShardingRule &rule,
                               const std::vector<int64_t> &degree) const {
  if (db && db->size() > 0)
    if (std::string key = updateKey(op, rule, degree); !key.empty())
      if (const KernelMeasurement *km = db->find(key))
        return km->forward;
  int64_t elements = 0;
  DType dtype = DType::F32;
  for (size_t j = 0; j < op.operands.size() && j < rule.operands.size(); ++j)
    if (op.operands[j].source == OperandSource::Weight) {
      int64_t n = 1;
      for (int64_t x : shardShape(rule.operands[j], op.dims, degree))
        n *= x;
      elements += n;
      dtype = rule.operands[j].dtype;
    }
  return updateTime(elements, dtype);
}

static DType opDType(const OpNode &op) {
  if (!op.results.empty())
    return op.results[0].dtype;
  if (!op.operands.empty())
    return op.operands[0].tensor.dtype;
  return DType::F32;
}

std::string CostModel::kernelKey(const OpNode &op, const OpShardingRule &rule,
                                 const std::vector<int64_t> &degree) const {
  std::vector<std::vector<int64_t>> os, rs;
  std::vector<DType> ot, rt;
  for (const TensorRule &t : rule.operands) {
    os.push_back(shardShape(t, op.dims, degree));
    ot.push_back(t.dtype);
  }
  for (const TensorRule &t : rule.results) {
    rs.push_back(shardShape(t, op.dims, degree));
    rt.push_back(t.dtype);
  }
  return ProfileDB::makeKey(op.kind, op.attributes,
                            ProfileDB::shapesText(os, ot, rs, rt), opDType(op),
                            m.device.type);
}

/// The GEMM FLOPs of a forward, in floating point (0: not a GEMM-class
/// kind this knows).
static double gemmFlopsEstimate(const OpNode &op) {
  auto numel = [](const std::vector<int64_t> &s) {
    double n = 1;
    for (int64_t x : s)
      n *= static_cast<double>(x);
    return n;
  };
  const auto &ops = op.operands;
  if (op.kind == "linear" && ops.size() >= 2 && !ops[0].tensor.shape.empty() &&
      ops[1].tensor.shape.size() == 2) {
    // rows x k x n, the input being rows x k.
    double n = static_cast<double>(ops[1].tensor.shape[1]);
    return 2 * numel(ops[0].tensor.shape) * n;
  }
  if (op.kind == "matmul" && ops.size() >= 2 && !op.results.empty() &&
      !ops[0].tensor.shape.empty())
    return 2 * numel(op.results[0].shape) *
           static_cast<double>(ops[0].tensor.shape.back());
  if (op.kind == "attention" && ops.size() >= 3 &&
      ops[0].tensor.shape.size() == 3 && ops[1].tensor.shape.size() == 3 &&
      ops[2].tensor.shape.size() == 3) {
    const auto &q = ops[0].tensor.shape, &k = ops[1].tensor.shape,
               &v = ops[2].tensor.shape;
    double b = q[0], s = q[1], e = q[2], t = k[1];
    double projection = 2 * b * s * e * e + b * t * k[2] * e + b * t * v[2] * e;
    double score = 2 * b * s * t * e;
    return 2 * (projection + score);
  }
  return 0;
}

/// `stored` (an int64 that may have wrapped) corrected towards `estimate`.
static double unwrap(int64_t stored, double estimate) {
  const double two64 = 18446744073709551616.0;
  double w = static_cast<double>(stored);
  if (estimate < 4e18 && stored >= 0)
    return w;
  return w + std::round((estimate - w) / two64) * two64;
}

double opForwardFlops(const OpNode &op) {
  return unwrap(op.forwardFlops, gemmFlopsEstimate(op));
}

double opBackwardFlops(const OpNode &op) {
  return unwrap(op.backwardFlops, 2 * gemmFlopsEstimate(op));
}

CostModel::KernelTime
CostModel::kernelTime(const OpNode &op, const OpShardingRule &rule,
                      const std::vector<int64_t> &degree) const {
  KernelTime t;
  if (db && db->size() > 0) {
    if (const KernelMeasurement *km = db->find(kernelKey(op, rule, degree))) {
      t.measured = true;
      t.forward = km->forward;
      if (km->backward > 0)
        t.backward = km->backward;
      else
        t.backward = op.forwardFlops != 0
                         ? km->forward * opBackwardFlops(op) /
                               opForwardFlops(op)
                         : km->forward;
      return t;
    }
  }
  // Views move nothing and compute nothing.
  if (op.forwardFlops == 0 && op.backwardFlops == 0 && op.bytesRead == 0 &&
      op.bytesWritten == 0)
    return t;
  double shards = 1;
  for (int64_t d : degree)
    shards *= static_cast<double>(std::max<int64_t>(d, 1));
  double bytes = 0;
  for (const TensorRule &r : rule.operands) {
    std::vector<int64_t> s = shardShape(r, op.dims, degree);
    double n = 1;
    for (int64_t x : s)
      n *= static_cast<double>(x);
    bytes += n * r.elementBytes();
  }
  for (const TensorRule &r : rule.results) {
    std::vector<int64_t> s = shardShape(r, op.dims, degree);
    double n = 1;
    for (int64_t x : s)
      n *= static_cast<double>(x);
    bytes += n * r.elementBytes();
  }
  DType dt = opDType(op);
  t.forward = roofline(opForwardFlops(op) / shards, bytes, dt,
                       rule.isGemm);
  // The backward reads the output gradient and the saved inputs and writes
  // the input gradients: about twice the forward's traffic.
  t.backward = roofline(opBackwardFlops(op) / shards,
                        2 * bytes, dt, rule.isGemm);
  return t;
}

//===----------------------------------------------------------------------===//
// Communication
//===----------------------------------------------------------------------===//

void CostModel::beginCost() const {
  for (int r : s.accTouched) {
    s.acc[r] = 0;
    s.accFlag[r] = 0;
  }
  s.accTouched.clear();
  for (int d : s.devList)
    s.devSeen[d] = 0;
  s.devList.clear();
  s.payload = 0;
}

void CostModel::endCost(CommCost &out, double time) const {
  out.clear();
  out.time = time;
  std::sort(s.accTouched.begin(), s.accTouched.end());
  out.resources = s.accTouched;
  out.bytes.reserve(s.accTouched.size());
  for (int r : s.accTouched)
    out.bytes.push_back(s.acc[r]);
  out.devices = s.devList;
  std::sort(out.devices.begin(), out.devices.end());
  out.payload = s.payload;
}

/// One phase: all hops at once; hops that share a link resource split its
/// bandwidth. Returns the max over groups of latSteps * alpha + steps *
/// bytesPerStep / B, with alpha the group's largest hop latency and B its
/// smallest contended hop bandwidth, and accumulates bytes per resource.
double CostModel::runPhase(const std::vector<PhaseHop> &hops,
                           const std::vector<GroupParams> &params) const {
  if (hops.empty())
    return 0;
  std::vector<int> &buf = s.route;
  buf.clear();
  std::vector<int> offsets(hops.size() + 1, 0);
  std::vector<double> lat(hops.size());
  for (size_t h = 0; h < hops.size(); ++h) {
    lat[h] = m.route(hops[h].src, hops[h].dst, buf);
    offsets[h + 1] = static_cast<int>(buf.size());
  }
  for (int r : buf)
    s.load[r] += 1;
  std::vector<double> maxLat(params.size(), 0), minBw(params.size(), 0);
  for (size_t h = 0; h < hops.size(); ++h) {
    double bw = 0;
    for (int i = offsets[h]; i < offsets[h + 1]; ++i) {
      double b = m.resourceBandwidth(buf[i]) / s.load[buf[i]];
      bw = (bw == 0) ? b : std::min(bw, b);
    }
    int g = hops[h].group;
    maxLat[g] = std::max(maxLat[g], lat[h]);
    if (bw > 0)
      minBw[g] = minBw[g] == 0 ? bw : std::min(minBw[g], bw);
    const GroupParams &p = params[g];
    double bytes = p.steps * p.bytesPerStep;
    s.payload += bytes;
    for (int i = offsets[h]; i < offsets[h + 1]; ++i)
      s.addBytes(buf[i], bytes);
    s.addDevice(hops[h].src);
    s.addDevice(hops[h].dst);
  }
  for (int r : buf)
    s.load[r] = 0;
  double t = 0;
  for (size_t g = 0; g < params.size(); ++g) {
    const GroupParams &p = params[g];
    double tg = p.latSteps * maxLat[g];
    if (minBw[g] > 0)
      tg += p.steps * p.bytesPerStep / minBw[g];
    t = std::max(t, tg);
  }
  return t;
}

void CostModel::ringOrder(const std::vector<int64_t> &group,
                          std::vector<int64_t> &sorted) {
  sorted = group;
  std::sort(sorted.begin(), sorted.end());
}

bool CostModel::hierarchical(const std::vector<std::vector<int64_t>> &groups,
                             double bytes, double &time) const {
  // Every group: >= 2 nodes, the same number (>= 2) of members on each.
  std::vector<std::vector<std::vector<int64_t>>> byNode; // group, node, member
  for (const auto &g : groups) {
    if (g.size() < 2)
      continue;
    std::map<int64_t, std::vector<int64_t>> nodes;
    for (int64_t d : g)
      nodes[m.nodeOf(d)].push_back(d);
    if (nodes.size() < 2)
      return false;
    size_t local = nodes.begin()->second.size();
    if (local < 2)
      return false;
    std::vector<std::vector<int64_t>> split;
    for (auto &[n, members] : nodes) {
      if (members.size() != local)
        return false;
      std::sort(members.begin(), members.end());
      split.push_back(members);
    }
    byNode.push_back(std::move(split));
  }
  if (byNode.empty())
    return false;
  std::vector<PhaseHop> hops;
  std::vector<GroupParams> params;
  auto intraRings = [&]() {
    hops.clear();
    params.clear();
    for (const auto &split : byNode)
      for (const auto &members : split) {
        double l = static_cast<double>(members.size());
        int gi = static_cast<int>(params.size());
        params.push_back({l - 1, bytes / l, l - 1});
        for (size_t i = 0; i < members.size(); ++i)
          hops.push_back({members[i], members[(i + 1) % members.size()], gi});
      }
  };
  // Phase 1: reduce-scatter rings inside each node.
  intraRings();
  double t1 = runPhase(hops, params);
  // Phase 2: all-reduce rings across nodes, one per local index, over the
  // 1/local slice that each member holds.
  hops.clear();
  params.clear();
  for (const auto &split : byNode) {
    size_t local = split[0].size();
    double nodesN = static_cast<double>(split.size());
    double slice = bytes / static_cast<double>(local);
    for (size_t j = 0; j < local; ++j) {
      int gi = static_cast<int>(params.size());
      params.push_back({2 * (nodesN - 1), slice / nodesN, 2 * (nodesN - 1)});
      for (size_t n = 0; n < split.size(); ++n)
        hops.push_back({split[n][j], split[(n + 1) % split.size()][j], gi});
    }
  }
  double t2 = runPhase(hops, params);
  // Phase 3: all-gather rings inside each node (phase 1's traffic again).
  intraRings();
  double t3 = runPhase(hops, params);
  time = t1 + t2 + t3;
  return true;
}

bool CostModel::collectiveWith(Collective c, CollectiveAlgorithm a,
                               const std::vector<std::vector<int64_t>> &groups,
                               double bytes, CommCost &out) const {
  double time = 0;
  std::vector<PhaseHop> hops;
  std::vector<GroupParams> params;
  std::vector<int64_t> sorted;
  switch (a) {
  case CollectiveAlgorithm::Auto:
    return false;
  case CollectiveAlgorithm::Ring: {
    if (c == Collective::AllToAll) {
      // Pairwise exchange: every member sends bytes/p to each other member
      // in p - 1 steps; the busiest link decides the bandwidth term.
      std::vector<Flow> flows;
      double alphaSteps = 0;
      for (const auto &g : groups) {
        double p = static_cast<double>(g.size());
        alphaSteps = std::max(alphaSteps, p - 1);
        for (int64_t src : g)
          for (int64_t dst : g)
            if (src != dst)
              flows.push_back({src, dst, bytes / p});
      }
      transfers(flows, out);
      if (!flows.empty()) {
        double maxLat = 0;
        for (const Flow &f : flows) {
          s.route.clear();
          maxLat = std::max(maxLat, m.route(f.src, f.dst, s.route));
        }
        out.time += (alphaSteps - 1) * maxLat;
      }
      return true;
    }
    beginCost();
    for (const auto &g : groups) {
      if (g.size() < 2)
        continue;
      double p = static_cast<double>(g.size());
      int gi = static_cast<int>(params.size());
      double steps = c == Collective::AllReduce ? 2 * (p - 1) : p - 1;
      params.push_back({steps, bytes / p, steps});
      ringOrder(g, sorted);
      for (size_t i = 0; i < sorted.size(); ++i)
        hops.push_back({sorted[i], sorted[(i + 1) % sorted.size()], gi});
    }
    time = runPhase(hops, params);
    break;
  }
  case CollectiveAlgorithm::Tree: {
    if (c != Collective::AllReduce)
      return false;
    // Binomial tree: reduce to the first member, then broadcast back;
    // ceil(log2 p) levels each way, a full-size message per pair per level.
    beginCost();
    size_t maxP = 0;
    for (const auto &g : groups)
      maxP = std::max(maxP, g.size());
    std::vector<std::vector<int64_t>> sortedGroups;
    for (const auto &g : groups) {
      ringOrder(g, sorted);
      sortedGroups.push_back(sorted);
    }
    for (int pass = 0; pass < 2; ++pass)
      for (size_t dist = 1; dist < maxP; dist *= 2) {
        hops.clear();
        params.clear();
        for (const auto &g : sortedGroups) {
          if (g.size() <= dist)
            continue;
          int gi = static_cast<int>(params.size());
          params.push_back({1, bytes, 1});
          for (size_t i = 0; i + dist < g.size(); i += 2 * dist) {
            if (pass == 0)
              hops.push_back({g[i + dist], g[i], gi});
            else
              hops.push_back({g[i], g[i + dist], gi});
          }
        }
        time += runPhase(hops, params);
      }
    break;
  }
  case CollectiveAlgorithm::Hierarchical:
    if (c != Collective::AllReduce)
      return false;
    beginCost();
    if (!hierarchical(groups, bytes, time))
      return false;
    break;
  }
  endCost(out, time);
  return true;
}

void CostModel::collective(Collective c,
                           const std::vector<std::vector<int64_t>> &groups,
                           double bytes, CommCost &out) const {
  out.clear();
  bool any = false;
  for (const auto &g : groups)
    any |= g.size() > 1;
  if (!any || bytes <= 0)
    return;
  CollectiveAlgorithm chosen = m.algorithms[static_cast<int>(c)];
  if (chosen != CollectiveAlgorithm::Auto &&
      collectiveWith(c, chosen, groups, bytes, out))
    return;
  // Auto (or a fixed choice that does not apply here): the cheapest.
  bool have = false;
  CommCost trial;
  for (CollectiveAlgorithm a :
       {CollectiveAlgorithm::Ring, CollectiveAlgorithm::Tree,
        CollectiveAlgorithm::Hierarchical}) {
    if (!collectiveWith(c, a, groups, bytes, trial))
      continue;
    if (!have || trial.time < out.time) {
      out = trial;
      have = true;
    }
  }
  if (have && c == Collective::AllReduce)
    if (double t = measuredAllReduce(groups, bytes); t > 0)
      out.time = t; // same links and devices, the measured duration
}

double CostModel::measuredAllReduce(const std::vector<std::vector<int64_t>> &groups,
                                    double bytes) const {
  if (!db || db->allReduce.empty() || db->deviceType != m.device.type)
    return 0;
  // Groups of one size, each within a node and alone on it: what was
  // measured (several groups on a node would share its memory).
  int64_t size = 0;
  std::vector<char> nodeUsed(static_cast<size_t>(m.nodes), 0);
  for (const auto &g : groups) {
    if (g.size() < 2)
      continue;
    if (size != 0 && static_cast<int64_t>(g.size()) != size)
      return 0;
    size = static_cast<int64_t>(g.size());
    int64_t node = m.nodeOf(g.front());
    for (int64_t d : g)
      if (m.nodeOf(d) != node)
        return 0;
    if (nodeUsed[node]++)
      return 0;
  }
  return size ? db->allReduceSeconds(size, bytes) : 0;
}

void CostModel::transfers(const std::vector<Flow> &flows, CommCost &out) const {
  beginCost();
  double maxLat = 0;
  std::vector<int> &buf = s.route;
  for (const Flow &f : flows) {
    if (f.src == f.dst || f.bytes <= 0)
      continue;
    buf.clear();
    maxLat = std::max(maxLat, m.route(f.src, f.dst, buf));
    s.payload += f.bytes;
    for (int r : buf)
      s.addBytes(r, f.bytes);
    s.addDevice(f.src);
    s.addDevice(f.dst);
  }
  double busiest = 0;
  for (int r : s.accTouched)
    busiest = std::max(busiest, s.acc[r] / m.resourceBandwidth(r));
  endCost(out, s.accTouched.empty() ? 0 : maxLat + busiest);
}

} // namespace soap
