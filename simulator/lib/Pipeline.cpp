//===- Pipeline.cpp - pipeline schedules, ZeRO, offload, recompute --------===//
//
// See soap/Simulator/Pipeline.h and docs/simulator.md ("Pipelines and
// memory").
//
//===----------------------------------------------------------------------===//
#include "soap/Simulator/Pipeline.h"
#include "SimulatorImpl.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace soap {

//===----------------------------------------------------------------------===//
// Schedules
//===----------------------------------------------------------------------===//

int64_t inFlightMicroBatches(int stage, int stages, int64_t m,
                             PipelineSchedule schedule) {
  if (schedule == PipelineSchedule::GPipe)
    return m;
  return std::min<int64_t>(m, std::max(1, stages - stage));
}

std::vector<PipelineTask> pipelineStageOrder(int s, int p, int64_t m,
                                             PipelineSchedule schedule) {
  std::vector<PipelineTask> order;
  order.reserve(2 * m);
  if (schedule == PipelineSchedule::GPipe) {
    for (int64_t j = 0; j < m; ++j)
      order.push_back({false, j});
    for (int64_t j = 0; j < m; ++j)
      order.push_back({true, j});
    return order;
  }
  int64_t warm = std::min<int64_t>(m, p - s - 1);
  int64_t f = 0, b = 0;
  for (; f < warm; ++f)
    order.push_back({false, f});
  while (f < m) {
    order.push_back({false, f++});
    order.push_back({true, b++});
  }
  while (b < m)
    order.push_back({true, b++});
  return order;
}

ScheduleResult simulateSchedule(const std::vector<StageTimes> &st, int64_t m,
                                PipelineSchedule schedule) {
  ScheduleResult r;
  const int p = static_cast<int>(st.size());
  if (p == 0 || m < 1)
    return r;
  const double unknown = -1;
  // End times of F(s, j) and B(s, j).
  std::vector<std::vector<double>> fEnd(p, std::vector<double>(m, unknown));
  std::vector<std::vector<double>> bEnd(p, std::vector<double>(m, unknown));
  std::vector<std::vector<PipelineTask>> order(p);
  for (int s = 0; s < p; ++s)
    order[s] = pipelineStageOrder(s, p, m, schedule);
  std::vector<size_t> next(p, 0);
  std::vector<double> clock(p, 0);
  size_t left = 2 * static_cast<size_t>(m) * p;
  // Every pass advances each stage as far as its next task's inputs are
  // known. The schedules are deadlock-free, so each pass makes progress.
  while (left > 0) {
    bool progress = false;
    for (int s = 0; s < p; ++s) {
      while (next[s] < order[s].size()) {
        const PipelineTask &t = order[s][next[s]];
        double readyAt;
        if (!t.backward) {
          if (s == 0)
            readyAt = 0;
          else if (fEnd[s - 1][t.micro] < 0)
            break;
          else
            readyAt = fEnd[s - 1][t.micro] + st[s - 1].sendForward;
        } else {
          if (fEnd[s][t.micro] < 0)
            break;
          readyAt = fEnd[s][t.micro];
          if (s + 1 < p) {
            if (bEnd[s + 1][t.micro] < 0)
              break;
            readyAt = std::max(readyAt,
                               bEnd[s + 1][t.micro] + st[s + 1].sendBackward);
          }
        }
        double start = std::max(clock[s], readyAt);
        double end = start + (t.backward ? st[s].backward : st[s].forward);
        (t.backward ? bEnd : fEnd)[s][t.micro] = end;
        clock[s] = end;
        ++next[s];
        --left;
        progress = true;
      }
    }
    if (!progress)
      break; // cannot happen for these orders; never loop forever
  }
  r.stageEnd = clock;
  r.time = *std::max_element(clock.begin(), clock.end());
  double busiest = 0;
  for (const StageTimes &t : st)
    busiest = std::max(busiest, t.forward + t.backward);
  double work = static_cast<double>(m) * busiest;
  r.bubbleFraction = work > 0 ? (r.time - work) / work : 0;
  return r;
}

//===----------------------------------------------------------------------===//
// Checks and graph helpers
//===----------------------------------------------------------------------===//

std::string checkTrainingConfig(const OpGraph &g, const TrainingConfig &t,
                                int64_t devices) {
  const int n = static_cast<int>(g.ops.size());
  if (t.microBatches < 1)
    return "micro_batches must be >= 1, got " + std::to_string(t.microBatches);
  if (t.zeroStage < 0 || t.zeroStage > 3)
    return "zero_stage must be 0..3, got " + std::to_string(t.zeroStage);
  if (!t.recompute.empty() && static_cast<int>(t.recompute.size()) != n)
    return "recompute has " + std::to_string(t.recompute.size()) +
           " flags for " + std::to_string(n) + " ops";
  int expect = 0;
  for (size_t s = 0; s < t.stages.size(); ++s) {
    const PipelineStage &st = t.stages[s];
    std::string where = "pipeline stage " + std::to_string(s);
    if (st.firstOp != expect)
      return where + " starts at op " + std::to_string(st.firstOp) +
             "; stages must cover the ops in order without gaps (expected op " +
             std::to_string(expect) + ")";
    if (st.lastOp < st.firstOp || st.lastOp >= n)
      return where + " ends at op " + std::to_string(st.lastOp) +
             ", outside " + std::to_string(st.firstOp) + ".." +
             std::to_string(n - 1);
    if (st.numDevices < 1 || st.firstDevice < 0 ||
        st.firstDevice + st.numDevices > devices)
      return where + "'s devices " + std::to_string(st.firstDevice) + ".." +
             std::to_string(st.firstDevice + st.numDevices - 1) +
             " are not inside the machine's 0.." + std::to_string(devices - 1);
    for (size_t o = 0; o < s; ++o) {
      const PipelineStage &other = t.stages[o];
      if (st.firstDevice < other.firstDevice + other.numDevices &&
          other.firstDevice < st.firstDevice + st.numDevices)
        return where + "'s devices overlap those of stage " + std::to_string(o);
    }
    expect = st.lastOp + 1;
  }
  if (!t.stages.empty() && expect != n)
    return "the pipeline stages end at op " + std::to_string(expect - 1) +
           "; the last stage must end at the last op (" +
           std::to_string(n - 1) + ")";
  return "";
}

std::vector<int> layerBoundaries(const OpGraph &g) {
  const int n = static_cast<int>(g.ops.size());
  // Last consumer of each (producer, result).
  std::map<std::pair<int, int>, int> last;
  for (const Edge &e : g.edges) {
    int &l = last[{e.src, e.srcResult}];
    l = std::max(l, e.dst);
  }
  // crossing[k]: tensors produced before k and read at or after k.
  std::vector<int> delta(n + 1, 0);
  for (const auto &[key, dst] : last) {
    delta[key.first + 1] += 1; // live from just after its producer
    delta[dst + 1] -= 1;       // up to its last consumer
  }
  std::vector<int> cuts;
  int live = 0;
  for (int k = 1; k < n; ++k) {
    live += delta[k];
    if (live == 1)
      cuts.push_back(k);
  }
  return cuts;
}

std::vector<char> recomputeLayers(const OpGraph &g) {
  const int n = static_cast<int>(g.ops.size());
  std::vector<char> flags(n, 0);
  std::vector<int> cuts = layerBoundaries(g);
  int begin = cuts.empty() ? n : cuts.front();
  for (size_t c = 1; c < cuts.size(); ++c) {
    // The ops between two boundaries form a layer; its last op's result is
    // the checkpoint.
    for (int i = begin; i < cuts[c] - 1; ++i)
      flags[i] = 1;
    begin = cuts[c];
  }
  return flags;
}

//===----------------------------------------------------------------------===//
// The simulator's part
//===----------------------------------------------------------------------===//

std::string Simulator::checkStagePlacement(int op, int v) const {
  const auto &stages = current.training.stages;
  if (stages.empty())
    return "";
  for (size_t s = 0; s < stages.size(); ++s) {
    const PipelineStage &st = stages[s];
    if (op < st.firstOp || op > st.lastOp)
      continue;
    const auto &devs = variants[op][v]->deviceRes;
    if (!devs.empty() &&
        (devs.front() < st.firstDevice ||
         devs.back() >= st.firstDevice + st.numDevices))
      return "op '" + g.ops[op].name + "' of pipeline stage " +
             std::to_string(s) + " runs on devices outside the stage's " +
             std::to_string(st.firstDevice) + ".." +
             std::to_string(st.firstDevice + st.numDevices - 1);
    return "";
  }
  return "";
}

Expected<SimResult> Simulator::simulateTraining(const TrainingConfig &t) {
  if (!ready)
    return Error{"simulateTraining needs a successful simulate() first"};
  if (t.active()) {
    std::string problem = checkTrainingConfig(g, t, cost.machine().numDevices());
    if (!problem.empty())
      return Error{problem};
  }
  TrainingConfig before = std::move(current.training);
  current.training = t;
  if (!t.stages.empty())
    for (int i = 0; i < numOps; ++i)
      if (std::string problem = checkStagePlacement(i, chosen[i]);
          !problem.empty()) {
        current.training = std::move(before);
        return Error{problem};
      }
  return finalResult();
}

SimResult Simulator::finalResult() const {
  if (!current.training.active())
    return lastResult;
  return applyTraining(lastResult);
}

SimResult Simulator::applyTraining(const SimResult &raw) const {
  const TrainingConfig &t = current.training;
  const MachineModel &machine = cost.machine();
  const int64_t nDev = machine.numDevices();
  const int64_t m = t.microBatches;
  const double md = static_cast<double>(m);

  std::vector<PipelineStage> stages = t.stages;
  if (stages.empty())
    stages.push_back({0, numOps - 1, 0, nDev});
  const int p = static_cast<int>(stages.size());
  std::vector<int> stageOf(numOps, 0);
  for (int s = 0; s < p; ++s)
    for (int i = stages[s].firstOp; i <= stages[s].lastOp; ++i)
      stageOf[i] = s;
  std::vector<int> stageOfDevice(nDev, -1);
  for (int s = 0; s < p; ++s)
    for (int64_t d = stages[s].firstDevice;
         d < stages[s].firstDevice + stages[s].numDevices && d < nDev; ++d)
      stageOfDevice[d] = s;
  auto recomputed = [&](int i) {
    return !t.recompute.empty() && t.recompute[i];
  };

  // Full-batch sums per stage.
  struct Sums {
    double forward = 0, backward = 0, sendF = 0, sendB = 0;
    double sync = 0, update = 0, recompute = 0, gather = 0, updateSaved = 0;
    int fKernels = 0, bKernels = 0;
  };
  std::vector<Sums> sum(p);
  // Per op: replicas of its weight shards (its data-parallel group).
  std::vector<int64_t> replicas(numOps, 1);
  for (int i = 0; i < numOps; ++i) {
    const OpVariant &v = *variants[i][chosen[i]];
    const OpShardingRule &rule = rules[i];
    int64_t r = 1;
    for (size_t j = 0; j < g.ops[i].operands.size(); ++j) {
      if (g.ops[i].operands[j].source != OperandSource::Weight)
        continue;
      int64_t rj = 1;
      for (size_t d = 0; d < v.rc.degree.size(); ++d)
        if (rule.operands[j].axisOfDim[d] < 0)
          rj *= v.rc.degree[d];
      r = std::max(r, rj);
    }
    replicas[i] = r;
    Sums &S = sum[stageOf[i]];
    auto d = [&](TaskKind k) { return dur[opSlot(i, k)]; };
    double fwd = d(TaskKind::ForwardComm) + d(TaskKind::Forward) +
                 d(TaskKind::PartialSum);
    S.forward += fwd;
    S.backward += d(TaskKind::BackwardComm) + d(TaskKind::Backward);
    S.fKernels += d(TaskKind::Forward) > 0;
    S.bKernels += d(TaskKind::Backward) > 0;
    S.sync += d(TaskKind::GradientSync);
    double upd = d(TaskKind::Update);
    if (t.zeroStage >= 1 && r > 1) {
      S.updateSaved += upd - upd / static_cast<double>(r);
      upd /= static_cast<double>(r);
    }
    S.update += upd;
    if (recomputed(i))
      S.recompute += fwd;
    // ZeRO-3: each weight shard is all-gathered before its forward and its
    // backward (a ring all-gather moves half an all-reduce's bytes).
    if (t.zeroStage == 3)
      S.gather += d(TaskKind::GradientSync) / 2;
  }
  for (int e = 0; e < numEdges; ++e) {
    const Edge &edge = g.edges[e];
    int a = stageOf[edge.src], b = stageOf[edge.dst];
    double f = dur[edgeSlot(e, false)], bw = dur[edgeSlot(e, true)];
    if (a == b) {
      sum[a].forward += f;
      sum[a].backward += bw;
    } else {
      sum[b - 1].sendF += f;
      sum[b].sendB += bw;
    }
  }

  // Memory per device.
  std::vector<MemoryUsage> mem = raw.memory;
  std::vector<int64_t> hostState(nDev, 0), updated(nDev, 0);
  {
    struct Change {
      int64_t weights = 0, gradients = 0, optimizer = 0, activations = 0;
      int64_t gatherWorkspace = 0;
      /// Offload: the optimizer state on the host and the weight bytes
      /// this device updates (its ZeRO shard).
      int64_t hostState = 0, updated = 0;
    };
    std::map<int, Change> perSet;
    for (int i = 0; i < numOps; ++i) {
      const OpVariant &v = *variants[i][chosen[i]];
      const MemoryUsage &sm = v.shardMemory;
      Change &c = perSet[v.deviceSet];
      const int64_t r = replicas[i];
      auto shard = [&](int64_t bytes) { return (bytes + r - 1) / r; };
      const bool zero = t.zeroStage >= 1;
      c.hostState += zero ? shard(sm.optimizerState) : sm.optimizerState;
      c.updated += sm.gradients ? (zero ? shard(sm.weights) : sm.weights) : 0;
      if (t.offloadOptimizer)
        c.optimizer += sm.optimizerState;
      else if (t.zeroStage >= 1)
        c.optimizer += sm.optimizerState - shard(sm.optimizerState);
      if (t.zeroStage >= 2)
        c.gradients += sm.gradients - shard(sm.gradients);
      if (t.zeroStage >= 3) {
        c.weights += sm.weights - shard(sm.weights);
        c.gatherWorkspace = std::max(c.gatherWorkspace, sm.weights);
      }
      if (recomputed(i))
        c.activations += sm.activations;
    }
    for (const auto &[set, c] : perSet) {
      const int *rs = setData(set);
      for (int k = 0, n = setSize(set); k < n; ++k) {
        int d = rs[k];
        if (d >= nDev)
          continue;
        MemoryUsage &u = mem[d];
        u.weights -= c.weights;
        u.gradients -= c.gradients;
        u.optimizerState -= c.optimizer;
        u.activations -= c.activations;
        u.workspace = std::max(u.workspace, c.gatherWorkspace);
        hostState[d] += c.hostState;
        updated[d] += c.updated;
      }
    }
    // While a run of recomputed ops is recomputed, one micro-batch's
    // activations of that run live again: the largest run per device.
    std::vector<int64_t> runBytes(nDev, 0), largestRun(nDev, 0);
    for (int i = 0; i < numOps; ++i) {
      const OpVariant &v = *variants[i][chosen[i]];
      if (!recomputed(i)) {
        // The run ends on the op's devices.
        for (int d : v.deviceRes)
          if (d < nDev)
            runBytes[d] = 0;
        continue;
      }
      for (int d : v.deviceRes)
        if (d < nDev) {
          runBytes[d] += v.shardMemory.activations;
          largestRun[d] = std::max(largestRun[d], runBytes[d]);
        }
    }
    for (int64_t d = 0; d < nDev; ++d) {
      MemoryUsage &u = mem[d];
      int s = stageOfDevice[d];
      int64_t inFlight =
          s < 0 ? m : inFlightMicroBatches(s, p, m, t.schedule);
      // Activations of `inFlight` micro-batches of 1/m of the batch each.
      u.activations = u.activations / m * inFlight +
                      (u.activations % m) * inFlight / m;
      u.workspace = (u.workspace + m - 1) / m + (largestRun[d] + m - 1) / m;
    }
  }

  // Time.
  SimResult r = raw;
  const double ovh = machine.device.kernelOverhead;
  const double hostBw = machine.device.hostLinkBandwidth > 0
                            ? machine.device.hostLinkBandwidth
                            : kDefaultHostLinkBandwidth;
  // Offload: per stage, the busiest device's gradients go to the host and
  // its updated weights come back over its host link; the host streams the
  // optimizer state (assumed at the host link's rate, per device).
  std::vector<double> offload(p, 0);
  if (t.offloadOptimizer)
    for (int64_t d = 0; d < nDev; ++d) {
      int s = std::max(0, stageOfDevice[d]);
      double bytes = 2.0 * static_cast<double>(updated[d]) +
                     static_cast<double>(hostState[d]);
      offload[s] = std::max(offload[s], bytes / hostBw);
    }
  r.stages.assign(p, SimResult::Stage{});
  double step = 0;
  if (!t.pipelined()) {
    // One stage, one micro-batch: the event loop's step, plus what the
    // options add on its critical path.
    const Sums &S = sum[0];
    step = raw.stepTime + S.recompute + 2 * S.gather - S.updateSaved;
    if (t.offloadOptimizer)
      step += offload[0] - S.update;
    SimResult::Stage &st = r.stages[0];
    st.perMicroBatch = {S.forward + S.gather, S.backward + S.recompute + S.gather,
                        0, 0};
    st.gradientSync = S.sync;
    st.update = t.offloadOptimizer ? offload[0] : S.update;
    st.end = step;
    st.inFlight = 1;
  } else {
    std::vector<StageTimes> st(p);
    for (int s = 0; s < p; ++s) {
      const Sums &S = sum[s];
      // Each kernel keeps its launch overhead per micro-batch.
      auto perMicro = [&](double total, int kernels) {
        double fixed = std::min(total, kernels * ovh);
        return (total - fixed) / md + fixed;
      };
      st[s].forward = perMicro(S.forward, S.fKernels) + S.gather;
      st[s].backward = perMicro(S.backward + S.recompute, 2 * S.bKernels) +
                       S.gather;
      st[s].sendForward = S.sendF / md;
      st[s].sendBackward = S.sendB / md;
    }
    ScheduleResult sr = simulateSchedule(st, m, t.schedule);
    r.bubbleFraction = sr.bubbleFraction;
    for (int s = 0; s < p; ++s) {
      SimResult::Stage &out = r.stages[s];
      out.perMicroBatch = st[s];
      out.gradientSync = sum[s].sync;
      out.update = t.offloadOptimizer ? offload[s] : sum[s].update;
      out.end = sr.stageEnd[s] + out.gradientSync + out.update;
      out.inFlight = inFlightMicroBatches(s, p, m, t.schedule);
      step = std::max(step, out.end);
    }
  }
  r.stepTime = step;
  r.memory = std::move(mem);
  r.fitsMemory = true;
  for (int64_t d = 0; d < nDev; ++d) {
    r.peakMemory[d] = r.memory[d].total();
    if (r.peakMemory[d] > machine.device.memoryBytes)
      r.fitsMemory = false;
    r.idleTime[d] = std::max(0.0, step - r.computeTime[d]);
  }
  r.mfu = step > 0 ? raw.mfu * raw.stepTime / step : 0;
  return r;
}

} // namespace soap
