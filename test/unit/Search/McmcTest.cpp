//===- McmcTest.cpp - Metropolis-Hastings over an additive cost -----------===//
#include "soap/Search/DynamicProgram.h"
#include "soap/Search/Mcmc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

using namespace soap;

namespace {
/// A chain of n ops with k single-device configs each (start = config
/// number), random node costs and random edge costs.
struct Problem {
  OpGraph graph;
  std::vector<std::vector<ParallelConfig>> space;
  std::vector<std::vector<double>> node;
  std::vector<std::vector<std::vector<double>>> edge;

  Problem(int n, int k, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(1, 10);
    for (int i = 0; i < n; ++i) {
      OpNode op;
      op.name = "op" + std::to_string(i);
      graph.ops.push_back(op);
      space.emplace_back();
      node.emplace_back();
      for (int c = 0; c < k; ++c) {
        space.back().push_back(ParallelConfig{{}, c, {}});
        node.back().push_back(u(rng));
      }
      if (i > 0) {
        graph.edges.push_back({i - 1, 0, i, 0, {}});
        edge.emplace_back(k, std::vector<double>(k));
        for (auto &row : edge.back())
          for (double &x : row)
            x = u(rng);
      }
    }
  }
  int index(const ParallelConfig &c) const { return static_cast<int>(c.start); }
  AdditiveCost additive() const {
    return {[this](int v, int c) { return node[v][c]; },
            [this](int e, int a, int b) { return edge[e][a][b]; }};
  }
};

/// Recomputes the whole additive cost on every change (the oracle), so the
/// test checks the chain logic, not a delta computation.
class Cost : public IncrementalCost {
public:
  explicit Cost(const Problem &p) : p(p) {}
  double reset(const Strategy &s) override {
    choice.clear();
    for (const ParallelConfig &c : s.configs)
      choice.push_back(p.index(c));
    return additiveCost(p.graph, p.additive(), choice);
  }
  double tryChange(int op, const ParallelConfig &c) override {
    pending = choice;
    pending[op] = p.index(c);
    return additiveCost(p.graph, p.additive(), pending);
  }
  void acceptChange() override { choice = pending; }

private:
  const Problem &p;
  std::vector<int> choice, pending;
};

McmcResult run(const Problem &p, uint64_t seed, int chains) {
  McmcOptions o;
  o.seed = seed;
  o.chains = chains;
  o.iterationsPerChain = 20000;
  Strategy start;
  start.configs.assign(p.graph.ops.size(), ParallelConfig{});
  return runMcmc(p.space, {{"zero", start}},
                 [&] { return std::make_unique<Cost>(p); }, o);
}
} // namespace

TEST(Mcmc, FindsTheOptimumOfASmallProblem) {
  Problem p(8, 4, 3);
  std::vector<int> k(8, 4);
  double optimum = solveAdditive(p.graph, k, p.additive()).cost;
  McmcResult r = run(p, 1, 4);
  EXPECT_NEAR(r.bestCost, optimum, 1e-9);
  EXPECT_EQ(r.chains, 4);
  EXPECT_GT(r.accepted, 0);
  EXPECT_FALSE(r.stoppedByBudget);
  std::vector<int> choice;
  for (const ParallelConfig &c : r.best.configs)
    choice.push_back(p.index(c));
  EXPECT_NEAR(additiveCost(p.graph, p.additive(), choice), r.bestCost, 1e-9);
}

TEST(Mcmc, SameSeedSameResult) {
  Problem p(30, 6, 11);
  McmcResult a = run(p, 7, 3), b = run(p, 7, 3);
  EXPECT_EQ(a.bestCost, b.bestCost);
  EXPECT_EQ(a.iterations, b.iterations);
  ASSERT_EQ(a.best.configs.size(), b.best.configs.size());
  for (size_t i = 0; i < a.best.configs.size(); ++i)
    EXPECT_EQ(a.best.configs[i], b.best.configs[i]);
}

TEST(Mcmc, NeverWorseThanItsStart) {
  Problem p(20, 5, 5);
  Strategy start;
  start.configs.assign(20, ParallelConfig{});
  std::vector<int> zeros(20, 0);
  double startCost = additiveCost(p.graph, p.additive(), zeros);
  McmcOptions o;
  o.chains = 1;
  o.iterationsPerChain = 50;
  McmcResult r = runMcmc(p.space, {{"zero", start}},
                         [&] { return std::make_unique<Cost>(p); }, o);
  EXPECT_LE(r.bestCost, startCost);
  EXPECT_EQ(r.bestChainStart, "zero");
}

namespace {
/// Counts the chains whose first (cold) strategy is not the given start.
class StartRecorder : public Cost {
public:
  StartRecorder(const Problem &p, std::atomic<int> &notGiven)
      : Cost(p), notGiven(notGiven) {}
  double reset(const Strategy &s) override {
    for (const ParallelConfig &c : s.configs)
      if (c.start != 0) {
        ++notGiven;
        break;
      }
    return Cost::reset(s);
  }

private:
  std::atomic<int> &notGiven;
};

int chainsNotFromTheStart(bool randomStarts) {
  Problem p(30, 6, 2);
  Strategy start;
  start.configs.assign(30, ParallelConfig{});
  McmcOptions o;
  o.chains = 4;
  o.iterationsPerChain = 10;
  o.randomStarts = randomStarts;
  std::atomic<int> notGiven{0};
  runMcmc(p.space, {{"zero", start}},
          [&] { return std::make_unique<StartRecorder>(p, notGiven); }, o);
  return notGiven.load();
}
} // namespace

// Where a cold simulation is expensive, soapc starts every chain from a
// given start: chains 1 and 3 would otherwise start from random strategies.
TEST(Mcmc, RandomStartsCanBeTurnedOff) {
  EXPECT_EQ(chainsNotFromTheStart(true), 2);
  EXPECT_EQ(chainsNotFromTheStart(false), 0);
}
