//===- DynamicProgramTest.cpp - elimination DP vs brute force -------------===//
#include "soap/Search/DynamicProgram.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

using namespace soap;

namespace {
/// A graph of `n` ops with the given edges (src < dst); shapes do not matter
/// to the DP.
OpGraph makeGraph(int n, const std::vector<std::pair<int, int>> &edges) {
  OpGraph g;
  for (int i = 0; i < n; ++i) {
    OpNode op;
    op.name = "op" + std::to_string(i);
    op.kind = "relu";
    g.ops.push_back(op);
  }
  for (auto [s, d] : edges)
    g.edges.push_back({s, 0, d, 0, {}});
  return g;
}

/// Random node and edge cost tables.
struct RandomCost {
  std::vector<std::vector<double>> node;
  std::vector<std::vector<std::vector<double>>> edge;
  RandomCost(const OpGraph &g, const std::vector<int> &k, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 10);
    for (size_t v = 0; v < g.ops.size(); ++v) {
      node.emplace_back();
      for (int c = 0; c < k[v]; ++c)
        node.back().push_back(u(rng));
    }
    for (const Edge &e : g.edges) {
      edge.emplace_back(k[e.src], std::vector<double>(k[e.dst]));
      for (auto &row : edge.back())
        for (double &x : row)
          x = u(rng);
    }
  }
  AdditiveCost cost() const {
    return {[this](int v, int c) { return node[v][c]; },
            [this](int e, int a, int b) { return edge[e][a][b]; }};
  }
};

double bruteForce(const OpGraph &g, const std::vector<int> &k,
                  const AdditiveCost &cost) {
  std::vector<int> c(g.ops.size(), 0);
  double best = std::numeric_limits<double>::infinity();
  while (true) {
    best = std::min(best, additiveCost(g, cost, c));
    size_t i = 0;
    for (; i < c.size(); ++i) {
      if (++c[i] < k[i])
        break;
      c[i] = 0;
    }
    if (i == c.size())
      return best;
  }
}

void expectOptimal(const OpGraph &g, const std::vector<int> &k, unsigned seed,
                   bool expectFullyEliminated) {
  RandomCost rc(g, k, seed);
  DpResult r = solveAdditive(g, k, rc.cost());
  EXPECT_TRUE(r.exact);
  if (expectFullyEliminated)
    EXPECT_EQ(r.residualOps, 0);
  EXPECT_NEAR(r.cost, bruteForce(g, k, rc.cost()), 1e-9) << "seed " << seed;
  EXPECT_NEAR(r.cost, additiveCost(g, rc.cost(), r.choice), 1e-9);
}
} // namespace

TEST(DynamicProgram, ChainIsExact) {
  OpGraph g = makeGraph(6, {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}});
  for (unsigned seed = 0; seed < 20; ++seed)
    expectOptimal(g, {3, 4, 2, 5, 3, 2}, seed, true);
}

TEST(DynamicProgram, ResidualBlocksAreExact) {
  // Two residual blocks: x -> f -> add <- x, as in ResNet / transformers.
  OpGraph g = makeGraph(
      7, {{0, 1}, {1, 2}, {0, 2}, {2, 3}, {3, 4}, {4, 5}, {2, 5}, {5, 6}});
  for (unsigned seed = 0; seed < 20; ++seed)
    expectOptimal(g, {3, 3, 4, 2, 3, 3, 2}, seed, true);
}

TEST(DynamicProgram, InceptionBranchesAreExact) {
  // A fork into three branches (one of two ops) joined by a concat.
  OpGraph g = makeGraph(7, {{0, 1}, {0, 2}, {2, 3}, {0, 4}, {4, 5},
                            {1, 6}, {3, 6}, {5, 6}});
  for (unsigned seed = 0; seed < 20; ++seed)
    expectOptimal(g, {3, 2, 3, 2, 3, 2, 3}, seed, true);
}

TEST(DynamicProgram, NonSeriesParallelResidueIsEnumerated) {
  // K4 is not series-parallel: nothing eliminates, the rest is enumerated.
  OpGraph g = makeGraph(4, {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}});
  RandomCost rc(g, {3, 3, 3, 3}, 5);
  DpResult r = solveAdditive(g, {3, 3, 3, 3}, rc.cost());
  EXPECT_EQ(r.residualOps, 4);
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.cost, bruteForce(g, {3, 3, 3, 3}, rc.cost()), 1e-9);
}

TEST(DynamicProgram, LargeResidueFallsBackToDescent) {
  OpGraph g = makeGraph(4, {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}});
  RandomCost rc(g, {3, 3, 3, 3}, 9);
  DpResult r = solveAdditive(g, {3, 3, 3, 3}, rc.cost(), /*maxEnumeration=*/10);
  EXPECT_FALSE(r.exact);
  EXPECT_GE(r.cost, bruteForce(g, {3, 3, 3, 3}, rc.cost()) - 1e-9);
  EXPECT_NEAR(r.cost, additiveCost(g, rc.cost(), r.choice), 1e-9);
}

TEST(DynamicProgram, RandomDagsMatchBruteForce) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 40; ++trial) {
    int n = 3 + trial % 5;
    std::vector<std::pair<int, int>> edges;
    for (int d = 1; d < n; ++d) {
      edges.push_back({int(rng() % d), d}); // connected
      if (rng() % 2 && d > 1)
        edges.push_back({int(rng() % (d - 1)), d});
    }
    std::vector<int> k;
    for (int i = 0; i < n; ++i)
      k.push_back(1 + int(rng() % 3));
    expectOptimal(makeGraph(n, edges), k, trial, false);
  }
}
