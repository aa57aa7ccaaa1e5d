//===- ShardTimer.h - time an op shard with the runtime's kernels -*- C++ -*-===//
//
// soap-calibrate's default on CPU: the simulator's kernel times are those of
// the kernels a plan really runs (FlexFlow measures each op config on the
// device the same way). For one op under per-dim degrees, the planner builds
// the op's plan on as many ranks as it has shards; rank 0's buffers and
// kernel tasks (with their shard attributes: head, vocabulary and expert
// offsets, batch-norm phases) become a one-rank plan without its
// communication, which a Session runs with per-kernel profiling — as many
// sessions at once as the op has shards on a node, one thread each, so that
// the kernels share the cores' caches and memory bandwidth as they do in a
// plan. Values are synthetic: only the time matters.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_SHARDTIMER_H
#define SOAP_RUNTIME_SHARDTIMER_H

#include "soap/Plan/Plan.h"
#include "soap/Simulator/Calibrate.h"

namespace soap::runtime {

/// Rank 0's part of `op` split with per-dim `degree`, as a one-rank plan
/// without transfers or collectives (the op's operands are the graph's
/// inputs and weights; its results the outputs), updating its weights with
/// `optimizer`. False with `error` when the planner refuses the config.
bool buildShardPlan(const OpNode &op, const std::vector<int64_t> &degree,
                    Plan &out, std::string &error,
                    const OptimizerSettings &optimizer = {});

class RuntimeShardTimer : public ShardKernelTimer {
public:
  /// `threads`: OpenMP/BLAS threads of the rank (a device is one core: 1).
  explicit RuntimeShardTimer(int threads = 1) : threads(threads) {}
  bool time(const OpNode &op, const std::vector<int64_t> &degree,
            int concurrent, int warmup, int repeats, std::vector<double> &forward,
            std::vector<double> &backward, std::string &method,
            std::string &error) override;
  /// The shard's update tasks alone (a plan without its other tasks),
  /// SGD and momentum (0.9) as `sgd` tasks, Adam as `adam`.
  bool timeUpdate(const OpNode &op, const std::vector<int64_t> &degree,
                  Optimizer optimizer, int concurrent, int warmup, int repeats,
                  std::vector<double> &samples, std::string &error) override;
  /// timeThreadAllReduce's samples (ranks as threads of this process).
  bool timeAllReduce(int ranks, int64_t bytes, int warmup, int repeats,
                     std::vector<double> &samples, std::string &error) override;

private:
  int threads;
};

/// Seconds of one all-reduce of `bytes` (f32) over `ranks` thread ranks of
/// this process, with the runtime's collective (the median of `repeats`
/// after `warmup`; every sample in `samples` when given): what a plan's
/// gradient sync costs on this host. Fails (a negative value, `error` set)
/// when the transport does.
double timeThreadAllReduce(int ranks, int64_t bytes, int warmup, int repeats,
                           std::string &error,
                           std::vector<double> *samples = nullptr);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_SHARDTIMER_H
