//===- Mcmc.cpp - Metropolis-Hastings refinement of a strategy ------------===//
#include "soap/Search/Mcmc.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

namespace soap {

IncrementalCost::~IncrementalCost() = default;

namespace {
using Clock = std::chrono::steady_clock;

struct ChainResult {
  Strategy best;
  double bestCost = 0;
  int64_t iterations = 0;
  int64_t accepted = 0;
  bool stoppedByBudget = false;
};

/// splitmix64: decorrelated per-chain seeds from one user seed.
uint64_t mixSeed(uint64_t seed, uint64_t chain) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (chain + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
} // namespace

McmcResult
runMcmc(const std::vector<std::vector<ParallelConfig>> &space,
        const std::vector<McmcChainStart> &starts,
        const std::function<std::unique_ptr<IncrementalCost>()> &makeCost,
        const McmcOptions &o) {
  const auto begin = Clock::now();
  const int chains =
      o.chains > 0 ? o.chains
                   : std::max(1u, std::thread::hardware_concurrency());
  const int64_t patience =
      o.patience > 0 ? o.patience : std::max<int64_t>(1, o.iterationsPerChain / 2);
  const size_t numOps = space.size();
  std::vector<int> movable; // ops with a choice to make
  for (size_t i = 0; i < numOps; ++i)
    if (space[i].size() > 1)
      movable.push_back(static_cast<int>(i));

  std::vector<ChainResult> results(chains);
  std::vector<std::string> startNames(chains);
  std::atomic<int64_t> totalIterations{0};
  std::atomic<bool> outOfTime{false};
  std::mutex progressMutex;
  std::atomic<double> bestSoFar{INFINITY};

  auto elapsed = [&] {
    return std::chrono::duration<double>(Clock::now() - begin).count();
  };

  auto runChain = [&](int chain) {
    std::mt19937_64 rng(mixSeed(o.seed, chain));
    Strategy current;
    // Chains beyond the given starts: even ones restart from a given start
    // (another seed explores another neighbourhood), odd ones from random.
    bool fromStart = !starts.empty() &&
                     (chain < static_cast<int>(starts.size()) ||
                      chain % 2 == 0 || !o.randomStarts);
    if (fromStart) {
      const McmcChainStart &s = starts[chain % starts.size()];
      current = s.strategy;
      startNames[chain] = s.name;
    } else {
      current.configs.resize(numOps);
      for (size_t i = 0; i < numOps; ++i)
        current.configs[i] = space[i][rng() % space[i].size()];
      startNames[chain] = "random";
    }
    std::unique_ptr<IncrementalCost> cost = makeCost();
    double c = cost->reset(current);
    const double scale = std::max(std::abs(c), 1e-12) * o.temperature;
    ChainResult &r = results[chain];
    r.best = current;
    r.bestCost = c;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int64_t sinceImprovement = 0;
    const double loopStart = elapsed();
    for (int64_t it = 0; it < o.iterationsPerChain && !movable.empty(); ++it) {
      // The clock is read every iteration, and a chain stops when one more
      // proposal (at its mean cost so far) would end past the budget: on a
      // thousand devices one proposal costs a fraction of a second, so
      // checking every 64 overran the budget by tens of seconds; a clock
      // read costs nanoseconds next to any proposal.
      if (o.budgetSeconds > 0) {
        const double now = elapsed();
        const double perProposal =
            it > 0 ? (now - loopStart) / static_cast<double>(it) : 0.0;
        if (outOfTime.load(std::memory_order_relaxed) ||
            now + perProposal > o.budgetSeconds) {
          outOfTime = true;
          r.stoppedByBudget = true;
          break;
        }
      }
      int op = movable[rng() % movable.size()];
      const ParallelConfig &proposal = space[op][rng() % space[op].size()];
      double u = unit(rng); // drawn every iteration: keeps chains replayable
      ++r.iterations;
      if (proposal == current.configs[op])
        continue;
      double next = cost->tryChange(op, proposal);
      if (next <= c || u < std::exp(-(next - c) / scale)) {
        cost->acceptChange();
        current.configs[op] = proposal;
        c = next;
        ++r.accepted;
      }
      if (c < r.bestCost) {
        r.bestCost = c;
        r.best = current;
        sinceImprovement = 0;
      } else if (++sinceImprovement >= patience) {
        break;
      }
      if ((it & 1023) == 1023) {
        totalIterations += 1024;
        double b = bestSoFar.load();
        while (r.bestCost < b && !bestSoFar.compare_exchange_weak(b, r.bestCost))
          ;
        if (o.progress && chain == 0) {
          std::lock_guard<std::mutex> lock(progressMutex);
          o.progress({elapsed(), bestSoFar.load(), totalIterations.load()});
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 1; i < chains; ++i)
    threads.emplace_back(runChain, i);
  runChain(0);
  for (std::thread &t : threads)
    t.join();

  McmcResult out;
  out.chains = chains;
  int bestChain = 0;
  for (int i = 0; i < chains; ++i) {
    out.iterations += results[i].iterations;
    out.accepted += results[i].accepted;
    out.stoppedByBudget |= results[i].stoppedByBudget;
    if (results[i].bestCost < results[bestChain].bestCost)
      bestChain = i;
  }
  out.best = std::move(results[bestChain].best);
  out.bestCost = results[bestChain].bestCost;
  out.bestChainStart = startNames[bestChain];
  out.wallSeconds = elapsed();
  return out;
}

} // namespace soap
