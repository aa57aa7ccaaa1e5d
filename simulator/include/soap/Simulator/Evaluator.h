//===- Evaluator.h - an independent check of a strategy ---------*- C++ -*-===//
//
// STYLE.md habit 8 (XLA's auto-sharding `Evaluate`): a small function,
// written apart from the simulator's task graph and event loop, that
// recomputes what a strategy costs and lists what is wrong with it. Tests use
// it as an oracle for the fast paths (delta simulation, and later the
// search's DP and MCMC):
//
// - violations: config names and degrees against the op, views against the
//   machine, memory against capacity;
// - bounds: no schedule can beat the busiest device's kernel time
//   (computeLowerBound), and the simulator's schedule never idles while
//   work is pending, so it cannot exceed running every task one after
//   another (serialUpperBound);
// - memory per device and the bytes the resharding transfers move,
//   recomputed by brute force over shards.
//
// It shares only the cost functions (CostModel) and the sharding rules with
// the simulator: those are specifications, the rest is recomputed.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_EVALUATOR_H
#define SOAP_SIMULATOR_EVALUATOR_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Simulator.h"
#include "soap/Simulator/Strategy.h"

#include <string>
#include <vector>

namespace soap {

struct Violation {
  enum class Kind {
    StrategySize,      ///< not one config per op
    UnknownDim,        ///< a degree for a dim the op does not have
    DuplicateDim,      ///< a dim listed twice
    BadDegree,         ///< a degree below 1
    DegreeNotDividing, ///< a degree that does not divide the dim's size
    BadStrides,        ///< strides given, but not one per listed dim
    DeviceOutOfRange,  ///< a shard placed outside the machine
    DeviceReused,      ///< two shards of one op on one device
    MemoryOverCapacity ///< a device's peak exceeds its memory
  };
  Kind kind;
  int op = -1;     ///< the op, or -1
  int device = -1; ///< the device, or -1
  std::string message;
};
const char *toString(Violation::Kind k);

struct Evaluation {
  std::vector<Violation> violations;
  /// The busiest device's kernel time (forward + backward + update).
  double computeLowerBound = 0;
  /// Every task's duration, summed.
  double serialUpperBound = 0;
  /// Per device, recomputed (valid strategies only).
  std::vector<MemoryUsage> memory;
  /// Bytes the forward resharding transfers move, and what the gradient
  /// transfers move (the sum of a consumer's replicated-operand gradients
  /// plus the resharding back to the producer's layout).
  double forwardTransferBytes = 0;
  double gradientTransferBytes = 0;

  bool valid() const { return violations.empty(); }
  bool has(Violation::Kind k) const;
};

/// Evaluates `strategy`. Config violations stop before the costs (which
/// need valid configs); memory violations do not.
Evaluation evaluateStrategy(const OpGraph &graph, const Strategy &strategy,
                            const CostModel &cost);

} // namespace soap

#endif // SOAP_SIMULATOR_EVALUATOR_H
