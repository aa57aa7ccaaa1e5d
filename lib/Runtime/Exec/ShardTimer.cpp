//===- ShardTimer.cpp - time an op shard with the runtime's kernels -------===//
#include "soap/Runtime/ShardTimer.h"

#include "soap/Plan/Planner.h"
#include "soap/Runtime/Collectives.h"
#include "soap/Runtime/Session.h"
#include "soap/Runtime/Transport.h"

#include <algorithm>
#include <chrono>
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
                    Plan &out, std::string &error) {
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

bool RuntimeShardTimer::time(const OpNode &op, const std::vector<int64_t> &degree,
                             int warmup, int repeats,
                             std::vector<double> &forward,
                             std::vector<double> &backward, std::string &method,
                             std::string &error) {
  Plan plan;
  if (!buildShardPlan(op, degree, plan, error))
    return false;
  SessionOptions options;
  options.launch = "threads";
  options.validate = false; // the transfers are gone on purpose
  options.run.profile = true;
  options.run.threadsPerRank = threads;
  options.run.seed = 1;
  std::unique_ptr<Session> session = Session::create(std::move(plan), options, error);
  if (!session)
    return false;
  // The op's kernels only (labels "<phase> <op> (<kind>...)"), not its
  // producers'.
  const std::string mine = " " + op.name + " (";
  auto phaseSums = [&](double &fwd, double &bwd) {
    fwd = bwd = 0;
    for (const auto &[label, seconds] : session->kernelSeconds()) {
      if (label.find(mine) == std::string::npos)
        continue;
      if (label.rfind("fwd ", 0) == 0)
        fwd += seconds;
      else if (label.rfind("bwd ", 0) == 0)
        bwd += seconds;
    }
  };
  double loss = 0;
  for (int w = 0; w < warmup; ++w)
    if (!(error = session->step(&loss)).empty())
      return false;
  forward.clear();
  backward.clear();
  double f0, b0, f1, b1;
  phaseSums(f0, b0);
  for (int r = 0; r < repeats; ++r) {
    if (!(error = session->step(&loss)).empty())
      return false;
    phaseSums(f1, b1);
    forward.push_back(f1 - f0);
    backward.push_back(b1 - b0);
    f0 = f1;
    b0 = b1;
  }
  method = "soap runtime kernels";
  return true;
}

double timeThreadAllReduce(int ranks, int64_t bytes, int warmup, int repeats,
                           std::string &error) {
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
  std::sort(samples.begin(), samples.end());
  return samples.empty() ? -1 : samples[samples.size() / 2];
}

} // namespace soap::runtime
