//===- DynamicProgram.cpp - node and edge elimination ---------------------===//
#include "soap/Search/DynamicProgram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace soap {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// A cost table between nodes a < b: t[ca * cols + cb].
struct Table {
  int rows = 0, cols = 0;
  std::vector<double> t;
  Table() = default;
  Table(int r, int c) : rows(r), cols(c), t(size_t(r) * c, 0.0) {}
  double &at(int a, int b) { return t[size_t(a) * cols + b]; }
  double at(int a, int b) const { return t[size_t(a) * cols + b]; }
};

/// One elimination step, replayed backwards to recover the choices.
struct Step {
  enum Kind { Series, Leaf, Isolated } kind;
  int v, a = -1, b = -1;
  std::vector<int> best; // best config of v per (ca, cb), per ca, or [0]
};

class Eliminator {
public:
  Eliminator(const std::vector<int> &k) : k(k), nbrs(k.size()) {}

  std::vector<int> k;                // configs per node
  std::vector<std::vector<double>> node;
  std::map<std::pair<int, int>, Table> edges;
  std::vector<std::set<int>> nbrs;
  std::vector<Step> steps;
  std::vector<bool> alive;

  /// E(x, y)[cx][cy] whatever the orientation.
  double edge(int x, int cx, int y, int cy) const {
    if (x < y)
      return edges.at({x, y}).at(cx, cy);
    return edges.at({y, x}).at(cy, cx);
  }

  void addTable(int x, int y, Table table) {
    auto key = std::make_pair(x, y);
    auto it = edges.find(key);
    if (it == edges.end()) {
      edges.emplace(key, std::move(table));
      nbrs[x].insert(y);
      nbrs[y].insert(x);
      return;
    }
    for (size_t i = 0; i < table.t.size(); ++i)
      it->second.t[i] += table.t[i];
  }

  void removeNode(int v) {
    for (int u : nbrs[v]) {
      nbrs[u].erase(v);
      edges.erase({std::min(u, v), std::max(u, v)});
    }
    nbrs[v].clear();
    alive[v] = false;
  }

  bool eliminate(int v) {
    if (!alive[v] || nbrs[v].size() > 2)
      return false;
    Step step;
    step.v = v;
    if (nbrs[v].empty()) {
      step.kind = Step::Isolated;
      step.best = {int(std::min_element(node[v].begin(), node[v].end()) -
                       node[v].begin())};
    } else if (nbrs[v].size() == 1) {
      int u = *nbrs[v].begin();
      step.kind = Step::Leaf;
      step.a = u;
      step.best.assign(k[u], 0);
      for (int cu = 0; cu < k[u]; ++cu) {
        double best = kInf;
        for (int cv = 0; cv < k[v]; ++cv) {
          double c = edge(u, cu, v, cv) + node[v][cv];
          if (c < best) {
            best = c;
            step.best[cu] = cv;
          }
        }
        node[u][cu] += best;
      }
    } else {
      int a = *nbrs[v].begin(), b = *nbrs[v].rbegin();
      step.kind = Step::Series;
      step.a = a;
      step.b = b;
      step.best.assign(size_t(k[a]) * k[b], 0);
      Table merged(k[a], k[b]);
      for (int ca = 0; ca < k[a]; ++ca)
        for (int cb = 0; cb < k[b]; ++cb) {
          double best = kInf;
          for (int cv = 0; cv < k[v]; ++cv) {
            double c = edge(a, ca, v, cv) + node[v][cv] + edge(v, cv, b, cb);
            if (c < best) {
              best = c;
              step.best[size_t(ca) * k[b] + cb] = cv;
            }
          }
          merged.at(ca, cb) = best;
        }
      removeNode(v);
      steps.push_back(std::move(step));
      addTable(a, b, std::move(merged));
      return true;
    }
    removeNode(v);
    steps.push_back(std::move(step));
    return true;
  }
};
} // namespace

double additiveCost(const OpGraph &graph, const AdditiveCost &cost,
                    const std::vector<int> &choice) {
  double total = 0;
  for (size_t v = 0; v < graph.ops.size(); ++v)
    total += cost.node(int(v), choice[v]);
  for (size_t e = 0; e < graph.edges.size(); ++e)
    total += cost.edge(int(e), choice[graph.edges[e].src],
                       choice[graph.edges[e].dst]);
  return total;
}

DpResult solveAdditive(const OpGraph &graph, const std::vector<int> &numConfigs,
                       const AdditiveCost &cost, double maxEnumeration) {
  const int n = static_cast<int>(graph.ops.size());
  DpResult result;
  result.choice.assign(n, 0);
  if (n == 0)
    return result;

  Eliminator el(numConfigs);
  el.alive.assign(n, true);
  el.node.resize(n);
  for (int v = 0; v < n; ++v) {
    el.node[v].resize(numConfigs[v]);
    for (int c = 0; c < numConfigs[v]; ++c)
      el.node[v][c] = cost.node(v, c);
  }
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    const Edge &edge = graph.edges[e];
    int a = std::min(edge.src, edge.dst), b = std::max(edge.src, edge.dst);
    Table t(numConfigs[a], numConfigs[b]);
    for (int ca = 0; ca < numConfigs[a]; ++ca)
      for (int cb = 0; cb < numConfigs[b]; ++cb)
        t.at(ca, cb) = a == edge.src ? cost.edge(int(e), ca, cb)
                                     : cost.edge(int(e), cb, ca);
    el.addTable(a, b, std::move(t));
  }

  // Eliminate until nothing has degree <= 2, always taking the lowest
  // index first so that the result is deterministic.
  for (bool changed = true; changed;) {
    changed = false;
    for (int v = 0; v < n; ++v)
      if (el.eliminate(v))
        changed = true;
  }

  std::vector<int> residual;
  for (int v = 0; v < n; ++v)
    if (el.alive[v])
      residual.push_back(v);
  result.residualOps = static_cast<int>(residual.size());

  auto residualCost = [&](const std::vector<int> &c) {
    double total = 0;
    for (int v : residual)
      total += el.node[v][c[v]];
    for (const auto &[key, table] : el.edges)
      total += table.at(c[key.first], c[key.second]);
    return total;
  };

  double space = 1;
  for (int v : residual)
    space *= numConfigs[v];
  std::vector<int> &choice = result.choice;
  if (!residual.empty() && space <= maxEnumeration) {
    // Odometer over the residual nodes' configs.
    std::vector<int> best = choice, cur = choice;
    double bestCost = kInf;
    while (true) {
      double c = residualCost(cur);
      if (c < bestCost) {
        bestCost = c;
        best = cur;
      }
      size_t i = 0;
      for (; i < residual.size(); ++i) {
        int v = residual[i];
        if (++cur[v] < numConfigs[v])
          break;
        cur[v] = 0;
      }
      if (i == residual.size())
        break;
    }
    choice = best;
  } else if (!residual.empty()) {
    // Coordinate descent from each node's cheapest config.
    result.exact = false;
    for (int v : residual)
      choice[v] = int(std::min_element(el.node[v].begin(), el.node[v].end()) -
                      el.node[v].begin());
    for (bool improved = true; improved;) {
      improved = false;
      for (int v : residual) {
        int keep = choice[v];
        double bestCost = residualCost(choice);
        for (int c = 0; c < numConfigs[v]; ++c) {
          choice[v] = c;
          double cc = residualCost(choice);
          if (cc < bestCost - 1e-15 * std::abs(bestCost)) {
            bestCost = cc;
            keep = c;
            improved = true;
          }
        }
        choice[v] = keep;
      }
    }
  }

  for (auto it = el.steps.rbegin(); it != el.steps.rend(); ++it) {
    const Step &s = *it;
    switch (s.kind) {
    case Step::Isolated:
      choice[s.v] = s.best[0];
      break;
    case Step::Leaf:
      choice[s.v] = s.best[choice[s.a]];
      break;
    case Step::Series:
      choice[s.v] = s.best[size_t(choice[s.a]) * numConfigs[s.b] + choice[s.b]];
      break;
    }
  }
  result.cost = additiveCost(graph, cost, choice);
  return result;
}

} // namespace soap
