//===- LowerToPlan.cpp - soap IR with configs -> per-device plan JSON -----===//
//
// A thin pass over the planner (soap/Plan/Planner.h): extract the op graph
// and the #soap.parallel configs, collect the weight initializers and
// constant values, build the plan, validate it, write it. Materialized
// parallel ops, where present, must be consistent with the configs (they
// are checked, then looked through: the plan derives every transfer from
// the same sharding rules).
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Plan/Planner.h"
#include "soap/Transforms/Passes.h"
#include "soap/Transforms/PlanLowering.h"

#include "llvm/Support/raw_ostream.h"

namespace soap {
#define GEN_PASS_DEF_SOAPLOWERTOPLAN
#include "soap/Transforms/Passes.h.inc"
} // namespace soap

using namespace mlir;

namespace soap {
namespace {

struct LowerToPlanPass : public impl::SoapLowerToPlanBase<LowerToPlanPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (output.empty()) {
      module.emitError("soap-lower-to-plan needs output=FILE ('-' for stdout)");
      return signalPassFailure();
    }
    FailureOr<ParallelModel> model = extractParallelModel(module, entry);
    if (failed(model))
      return signalPassFailure();
    ParallelModel &m = *model;
    bool materialized = false;
    m.func.walk([&](Operation *op) { materialized |= isParallelOp(op); });
    if (materialized && failed(verifyParallelOps(m)))
      return signalPassFailure();

    int64_t numRanks = ranks > 0 ? static_cast<int64_t>(ranks) : m.minRanks;
    if (numRanks < m.minRanks) {
      module.emitError("the configs use ")
          << m.minRanks << " devices, but ranks=" << numRanks;
      return signalPassFailure();
    }
    PlanOptions options;
    options.devicesPerNode = devicesPerNode;
    OptimizerSettings &o = options.optimizer;
    if (optimizer == "sgd") {
      o.kind = OptimizerSettings::Kind::Sgd;
      o.momentum = momentum;
    } else if (optimizer == "adam" || optimizer == "adamw") {
      o.kind = OptimizerSettings::Kind::Adam;
      o.momentum = 0;
      o.decoupled = optimizer == "adamw";
      o.beta1 = beta1;
      o.beta2 = beta2;
      o.eps = eps;
    } else {
      module.emitError("unknown optimizer '")
          << optimizer << "' (sgd, adam, adamw)";
      return signalPassFailure();
    }
    o.lr = lr;
    o.weightDecay = weightDecay;
    collectPlanInputs(m, options);

    int failedOp = -1;
    Expected<Plan> plan =
        buildPlan(m.graph, m.strategy, numRanks, options, &failedOp);
    if (!plan) {
      if (failedOp >= 0 && failedOp < static_cast<int>(m.ops.size()))
        m.ops[failedOp]->emitOpError("cannot be lowered to a plan: ")
            << plan.error();
      else
        m.func.emitError("cannot build the plan: ") << plan.error();
      return signalPassFailure();
    }
    std::vector<std::string> problems = validatePlan(*plan);
    if (!problems.empty()) {
      InFlightDiagnostic d = m.func.emitError("internal error: the plan is invalid: ")
                             << problems.front();
      if (problems.size() > 1)
        d << " (and " << (problems.size() - 1) << " more)";
      return signalPassFailure();
    }
    std::string error;
    if (format == "text") {
      std::string text = writePlanText(*plan);
      if (output == "-") {
        llvm::outs() << text;
      } else {
        std::error_code ec;
        llvm::raw_fd_ostream os(output, ec);
        if (ec)
          error = "cannot write plan file '" + output + "'";
        else
          os << text;
      }
    } else if (format == "json") {
      error = writePlanFile(output, *plan, indent);
    } else {
      error = "unknown plan format '" + format + "' (json, text)";
    }
    if (!error.empty()) {
      module.emitError(error);
      return signalPassFailure();
    }
    markAllAnalysesPreserved();
  }
};

} // namespace
} // namespace soap
