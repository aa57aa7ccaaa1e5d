//===- DynamicProgram.h - exact search under an additive cost ---*- C++ -*-===//
//
// The search's starting point (issue 5 item 3): with a cost that is a sum of
// per-op terms (compute, gradient synchronization) and per-edge terms
// (resharding between a producer's and a consumer's configs), the best
// strategy of a series-parallel graph is found exactly by node and edge
// elimination (Jia et al., "Exploring Hidden Dimensions in Parallelizing
// Convolutional Neural Networks", ICML 2018): a node with one predecessor
// and one successor folds into an edge between them, parallel edges merge,
// a leaf folds into its neighbour. What remains is solved by enumeration
// when small, else by coordinate descent (and the result says it is not
// exact). Plain C++; the costs come from callbacks.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SEARCH_DYNAMICPROGRAM_H
#define SOAP_SEARCH_DYNAMICPROGRAM_H

#include "soap/Graph/OpGraph.h"

#include <functional>
#include <vector>

namespace soap {

struct AdditiveCost {
  /// Cost of op `op` under its config number `config`.
  std::function<double(int op, int config)> node;
  /// Cost of graph edge `edge` (OpGraph::edges index) between the
  /// producer's config `srcConfig` and the consumer's `dstConfig`.
  std::function<double(int edge, int srcConfig, int dstConfig)> edge;
};

struct DpResult {
  /// Config number per op.
  std::vector<int> choice;
  /// The additive cost of `choice`.
  double cost = 0;
  /// True when the elimination reduced the graph completely or the rest was
  /// enumerated: `choice` is optimal under the additive cost.
  bool exact = true;
  /// Ops left after elimination (0 or 1 for series-parallel graphs).
  int residualOps = 0;
};

/// Minimizes the additive cost over `numConfigs[op]` choices per op.
/// `maxEnumeration` bounds the brute force over the residual graph.
DpResult solveAdditive(const OpGraph &graph, const std::vector<int> &numConfigs,
                       const AdditiveCost &cost,
                       double maxEnumeration = 2e6);

/// The additive cost of one assignment (the oracle the tests compare with).
double additiveCost(const OpGraph &graph, const AdditiveCost &cost,
                    const std::vector<int> &choice);

} // namespace soap

#endif // SOAP_SEARCH_DYNAMICPROGRAM_H
