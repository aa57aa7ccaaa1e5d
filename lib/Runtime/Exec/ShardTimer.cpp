//===- ShardTimer.cpp - time an op shard with the runtime's kernels -------===//
#include "soap/Runtime/ShardTimer.h"

#include "soap/Plan/Planner.h"
#include "soap/Runtime/Collectives.h"
#include "soap/Runtime/Session.h"
#include "soap/Runtime/Transport.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

namespace soap::runtime {

namespace {

/// `op` alone. Float operands that other ops produced come from a relu on
/// rank 0 (so that the plan computes their gradients, as in the model);
/// index operands and constants become graph inputs, weights stay weights.
/// The op's results are the graph's outputs.
OpGraph singleOpGraph(const OpNode &op) {
  OpGraph g;
  g.modelName = "shard-timer";
  OpNode copy = op;
  for (size_t j = 0; j < copy.operands.size(); ++j) {
    Operand &o = copy.operands[j];
    if (o.source == OperandSource::Weight) {
      o.index = static_cast<int>(g.weights.size());
      g.weights.push_back({"w" + std::to_string(j), o.tensor, {}});
      continue;
    }
    const bool produced = o.source == OperandSource::Op &&
                          (o.tensor.dtype == DType::F32 ||
                           o.tensor.dtype == DType::F64 ||
                           o.tensor.dtype == DType::F16 ||
                           o.tensor.dtype == DType::BF16);
    int input = static_cast<int>(g.inputs.size());
    g.inputs.push_back({"in" + std::to_string(j), o.tensor});
    if (!produced) {
      o.source = OperandSource::Input;
      o.producer = -1;
      o.producerResult = 0;
      o.index = input;
      continue;
    }
    OpNode relu;
    relu.name = "producer" + std::to_string(j);
    relu.kind = "relu";
    Operand in;
    in.source = OperandSource::Input;
    in.tensor = o.tensor;
    in.index = input;
    relu.operands = {in};
    relu.results = {o.tensor};
    for (size_t a = 0; a < o.tensor.shape.size(); ++a)
      relu.dims.push_back({a == 0 ? "batch" : "d" + std::to_string(a),
                           a == 0 ? DimTag::Sample : DimTag::Attribute,
                           o.tensor.shape[a], static_cast<int64_t>(a)});
    relu.forwardFlops = relu.backwardFlops = o.tensor.numElements();
    relu.bytesRead = relu.bytesWritten = o.tensor.bytes();
    o.producer = static_cast<int>(g.ops.size());
    o.producerResult = 0;
    o.index = -1;
    Edge e;
    e.src = o.producer;
    e.dst = -1; // the op's index, set below
    e.dstOperand = static_cast<int>(j);
    e.tensor = o.tensor;
    g.edges.push_back(e);
    g.ops.push_back(std::move(relu));
  }
  const int self = static_cast<int>(g.ops.size());
  for (Edge &e : g.edges)
    e.dst = self;
  for (size_t j = 0; j < copy.operands.size(); ++j)
    if (copy.operands[j].source == OperandSource::Weight)
      g.weights[copy.operands[j].index].users = {self};
  g.ops.push_back(std::move(copy));
  g.outputs = {self};
  return g;
}

} // namespace

bool buildShardPlan(const OpNode &op, const std::vector<int64_t> &degree,
                    Plan &out, std::string &error,
                    const OptimizerSettings &optimizer) {
  OpGraph g = singleOpGraph(op);
  if (std::string problem = g.validate(); !problem.empty()) {
    error = "internal error: the op's one-op graph is invalid: " + problem;
    return false;
  }
  ParallelConfig config;
  int64_t shards = 1;
  for (size_t d = 0; d < op.dims.size() && d < degree.size(); ++d)
    if (degree[d] > 1) {
      config.degrees.emplace_back(op.dims[d].name, degree[d]);
      shards *= degree[d];
    }
  Strategy strategy;
  strategy.configs.assign(g.ops.size(), ParallelConfig{}); // producers: rank 0
  strategy.configs.back() = config;
  PlanOptions options;
  options.devicesPerNode = shards;
  options.optimizer = optimizer;
  Expected<Plan> plan = buildPlan(g, strategy, shards, options);
  if (!plan) {
    error = plan.error();
    return false;
  }
  out = plan.take();
  // Rank 0 alone, without its transfers and collectives: they are the
  // simulator's to price, not the kernel's.
  RankPlan rank = std::move(out.ranks[0]);
  rank.tasks.erase(std::remove_if(rank.tasks.begin(), rank.tasks.end(),
                                  [](const PlanTask &t) {
                                    return t.type == TaskType::Send ||
                                           t.type == TaskType::Recv ||
                                           t.type == TaskType::Collective;
                                  }),
                   rank.tasks.end());
  out.ranks.clear();
  out.ranks.push_back(std::move(rank));
  out.numRanks = 1;
  out.communicators.clear();
  for (PlanOutput &o : out.outputs)
    o.holders.erase(std::remove_if(o.holders.begin(), o.holders.end(),
                                   [](const auto &h) { return h.first != 0; }),
                    o.holders.end());
  // Routing indices spread over every expert, as a gate's would.
  if (op.kind == "experts" && op.operands.size() >= 4 &&
      !op.operands[3].tensor.shape.empty())
    for (PlanInput &in : out.inputs)
      if (in.name == "in2" && in.dtype != DType::F32)
        in.range = op.operands[3].tensor.shape[0];
  return true;
}

namespace {

/// Runs the one-rank `plan` with per-kernel profiling, `warmup` steps and
/// then `repeats` steps, as `copies` sessions stepping together (one thread
/// each: the shards of an op that run at once on a node's cores, sharing
/// its caches and memory bandwidth). After each step `tally` sums the
/// seconds of the kernels it wants (by profile label, "<phase> <op>
/// (<kind>...)") into its slots; a sample is the copies' mean, one per slot
/// and repeat.
bool sampleSteps(const Plan &plan, int threads, int copies, int warmup,
                 int repeats,
                 const std::function<void(const std::string &label, double seconds,
                                          std::vector<double> &slots)> &tally,
                 std::vector<std::vector<double>> &samples, std::string &error) {
  SessionOptions options;
  options.launch = "threads";
  options.validate = false; // the transfers are gone on purpose
  options.run.profile = true;
  options.run.threadsPerRank = threads;
  options.run.seed = 1;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int c = 0; c < std::max(1, copies); ++c) {
    sessions.push_back(Session::create(plan, options, error));
    if (!sessions.back())
      return false;
  }
  const size_t n = samples.size();
  auto totals = [&]() {
    std::vector<double> slots(n, 0.0);
    for (const auto &session : sessions)
      for (const auto &[label, seconds] : session->kernelSeconds())
        tally(label, seconds, slots);
    for (double &v : slots)
      v /= static_cast<double>(sessions.size());
    return slots;
  };
  auto stepAll = [&]() {
    std::vector<std::string> errors(sessions.size());
    std::vector<std::thread> others;
    for (size_t c = 1; c < sessions.size(); ++c)
      others.emplace_back([&, c] {
        double loss = 0;
        errors[c] = sessions[c]->step(&loss);
      });
    double loss = 0;
    errors[0] = sessions[0]->step(&loss);
    for (std::thread &t : others)
      t.join();
    for (const std::string &e : errors)
      if (!e.empty()) {
        error = e;
        return false;
      }
    return true;
  };
  for (int w = 0; w < warmup; ++w)
    if (!stepAll())
      return false;
  for (std::vector<double> &s : samples)
    s.clear();
  std::vector<double> before = totals();
  for (int r = 0; r < repeats; ++r) {
    if (!stepAll())
      return false;
    std::vector<double> after = totals();
    for (size_t k = 0; k < n; ++k)
      samples[k].push_back(after[k] - before[k]);
    before = std::move(after);
  }
  return true;
}

} // namespace

bool RuntimeShardTimer::time(const OpNode &op, const std::vector<int64_t> &degree,
                             int concurrent, int warmup, int repeats,
                             std::vector<double> &forward,
                             std::vector<double> &backward, std::string &method,
                             std::string &error) {
  Plan plan;
  if (!buildShardPlan(op, degree, plan, error))
    return false;
  // The op's kernels only, not its producers'.
  const std::string mine = " " + op.name + " (";
  std::vector<std::vector<double>> samples(2);
  if (!sampleSteps(
          plan, threads, concurrent, warmup, repeats,
          [&](const std::string &label, double seconds, std::vector<double> &slots) {
            if (label.find(mine) == std::string::npos)
              return;
            if (label.rfind("fwd ", 0) == 0)
              slots[0] += seconds;
            else if (label.rfind("bwd ", 0) == 0)
              slots[1] += seconds;
          },
          samples, error))
    return false;
  forward = std::move(samples[0]);
  backward = std::move(samples[1]);
  method = "soap runtime kernels";
  return true;
}

bool RuntimeShardTimer::timeUpdate(const OpNode &op,
                                   const std::vector<int64_t> &degree,
                                   Optimizer optimizer, int concurrent,
                                   int warmup, int repeats,
                                   std::vector<double> &samples,
                                   std::string &error) {
  // The plan's defaults otherwise (soap-lower-to-plan's momentum 0.9).
  OptimizerSettings settings;
  settings.kind = optimizer == Optimizer::Adam ? OptimizerSettings::Kind::Adam
                                               : OptimizerSettings::Kind::Sgd;
  if (optimizer == Optimizer::SGD)
    settings.momentum = 0;
  Plan plan;
  if (!buildShardPlan(op, degree, plan, error, settings))
    return false;
  // Only the update tasks run: their time does not depend on the values.
  std::vector<PlanTask> &tasks = plan.ranks[0].tasks;
  tasks.erase(std::remove_if(tasks.begin(), tasks.end(),
                             [](const PlanTask &t) {
                               return t.type != TaskType::Kernel ||
                                      t.phase != Phase::Update;
                             }),
              tasks.end());
  samples.clear();
  if (tasks.empty())
    return true;
  const std::string mine = "update " + op.name + " (";
  std::vector<std::vector<double>> out(1);
  if (!sampleSteps(
          plan, threads, concurrent, warmup, repeats,
          [&](const std::string &label, double seconds, std::vector<double> &slots) {
            if (label.rfind(mine, 0) == 0)
              slots[0] += seconds;
          },
          out, error))
    return false;
  samples = std::move(out[0]);
  return true;
}

bool RuntimeShardTimer::timeAllReduce(int ranks, int64_t bytes, int warmup,
                                      int repeats, std::vector<double> &samples,
                                      std::string &error) {
  return timeThreadAllReduce(ranks, bytes, warmup, repeats, error, &samples) > 0;
}

double timeThreadAllReduce(int ranks, int64_t bytes, int warmup, int repeats,
                           std::string &error, std::vector<double> *out) {
  const int64_t count = std::max<int64_t>(1, bytes / 4);
  std::vector<std::unique_ptr<Transport>> transports = makeThreadTransports(ranks);
  std::vector<int> members(ranks);
  for (int r = 0; r < ranks; ++r)
    members[r] = r;
  std::vector<double> samples; // rank 0's
  std::vector<std::string> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      std::vector<float> data(static_cast<size_t>(count), 1.0f + r);
      CollectiveCall call;
      call.transport = transports[r].get();
      call.ranks = &members;
      call.index = r;
      for (int i = 0; i < warmup + repeats; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        call.tag = i;
        std::string e = allReduce(call, DType::F32, data.data(), count);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!e.empty()) {
          errors[r] = e;
          transports[r]->fail(e);
          return;
        }
        if (r == 0 && i >= warmup)
          samples.push_back(s);
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (const std::string &e : errors)
    if (!e.empty()) {
      error = e;
      return -1;
    }
  if (out)
    *out = samples;
  std::sort(samples.begin(), samples.end());
  return samples.empty() ? -1 : samples[samples.size() / 2];
}

} // namespace soap::runtime
