//===- PlanInterpreter.h - run a plan's ranks in one thread ------*- C++ -*-===//
//
// A small, obviously sequential executor of plans, for tests of the
// lowering (not the runtime, issue 7): every rank's buffers live in this
// process, the task lists advance with blocking semantics (a send waits for
// its receive, a collective for all its ranks), kernels are the CPU kernels
// (soap/Runtime/Cpu). Weights and inputs are filled from a hash of their
// name and the element's global index, so that a plan on one rank and the
// same model's plan on many ranks start from the same numbers.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_TEST_UNIT_PLAN_PLANINTERPRETER_H
#define SOAP_TEST_UNIT_PLAN_PLANINTERPRETER_H

#include "soap/Plan/Plan.h"

#include <map>
#include <string>
#include <vector>

namespace soap::test {

struct PlanRun {
  /// "" or what went wrong (an unknown kernel, a deadlock, replicas that
  /// disagree).
  std::string error;
  /// The first output's value after each step's forward (the loss).
  std::vector<double> losses;
  /// Every weight, assembled from its shards, after the last step.
  std::map<std::string, std::vector<float>> weights;
  /// Every op result ("<op>:<r>", f32 only), assembled from the shards that
  /// computed it, after the last step's forward (partial sums summed).
  std::map<std::string, std::vector<float>> results;
};

/// Runs `steps` training steps of `plan`.
PlanRun runPlan(const Plan &plan, int steps = 1);

} // namespace soap::test

#endif // SOAP_TEST_UNIT_PLAN_PLANINTERPRETER_H
