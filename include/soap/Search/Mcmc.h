//===- Mcmc.h - Metropolis-Hastings refinement of a strategy ----*- C++ -*-===//
//
// FlexFlow's search (Jia et al., "Beyond Data and Model Parallelism for Deep
// Neural Networks", SysML 2019): a Markov chain over strategies whose moves
// replace one op's config with a random one from its config space, accepted
// with probability min(1, exp(-(c' - c) / (T * c0))). Costs come from an
// IncrementalCost, which the simulator implements with delta simulation.
//
// Several chains run on all cores. Each chain is a pure function of its seed
// and its iteration count, and the result is the best over chains (ties: the
// lowest chain), so the same seed gives the same result on any machine as
// long as the iteration count, not the time budget, ends the search.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SEARCH_MCMC_H
#define SOAP_SEARCH_MCMC_H

#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace soap {

/// A cost with cheap single-op changes. One instance per thread.
class IncrementalCost {
public:
  virtual ~IncrementalCost();
  /// Makes `s` the current strategy; returns its cost.
  virtual double reset(const Strategy &s) = 0;
  /// The cost of the current strategy with op `op` under `config`; the
  /// current strategy does not change.
  virtual double tryChange(int op, const ParallelConfig &config) = 0;
  /// Makes the change of the last tryChange current.
  virtual void acceptChange() = 0;
};

struct McmcChainStart {
  std::string name; ///< "dp", "data-parallel", "random", ...
  Strategy strategy;
};

struct McmcProgress {
  double elapsedSeconds = 0;
  double bestCost = 0;
  int64_t iterations = 0; ///< over all chains
};

struct McmcOptions {
  uint64_t seed = 1;
  /// Proposals per chain.
  int64_t iterationsPerChain = 10000;
  /// Chains (threads); 0: the hardware's concurrency.
  int chains = 0;
  /// Wall-clock cap in seconds (0: none). Hitting it makes the result depend
  /// on the machine's speed; McmcResult says so.
  double budgetSeconds = 0;
  /// A chain stops after this many proposals without improving its best
  /// (0: iterationsPerChain / 2, the "half of the budget").
  int64_t patience = 0;
  /// Relative temperature: a move that is worse by a fraction f of the
  /// starting cost is accepted with probability exp(-f / temperature).
  double temperature = 0.02;
  /// Chains beyond the given starts may start from random strategies (odd
  /// ones); false: every chain starts from a given start (with its own
  /// seed). A random strategy's first, cold simulation can cost tens of
  /// times a baseline's on a thousand devices, and cannot be interrupted.
  bool randomStarts = true;
  /// Called now and then (from one thread) while searching.
  std::function<void(const McmcProgress &)> progress;
};

struct McmcResult {
  Strategy best;
  double bestCost = 0;
  /// Name of the start of the chain that found the best.
  std::string bestChainStart;
  int64_t iterations = 0;
  int64_t accepted = 0;
  int chains = 0;
  bool stoppedByBudget = false;
  double wallSeconds = 0;
};

/// Runs chains from `starts` (chain i starts from starts[i % starts.size()];
/// chains beyond the starts given begin from a random strategy drawn from
/// `space`). `space[op]` lists the configs op may take.
McmcResult
runMcmc(const std::vector<std::vector<ParallelConfig>> &space,
        const std::vector<McmcChainStart> &starts,
        const std::function<std::unique_ptr<IncrementalCost>()> &makeCost,
        const McmcOptions &options);

} // namespace soap

#endif // SOAP_SEARCH_MCMC_H
