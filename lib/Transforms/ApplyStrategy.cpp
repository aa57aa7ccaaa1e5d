//===- ApplyStrategy.cpp - #soap.parallel from a strategy file ------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Dialect/Soap/TrainingAttrs.h"
#include "soap/Graph/Extract.h"
#include "soap/Strategy/Strategy.h"
#include "soap/Transforms/Passes.h"
#include "soap/Transforms/PlanLowering.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/MemoryBuffer.h"

namespace soap {
#define GEN_PASS_DEF_SOAPAPPLYSTRATEGY
#include "soap/Transforms/Passes.h.inc"
} // namespace soap

using namespace mlir;

namespace soap {

LogicalResult applyStrategy(func::FuncOp func, const StrategyFile &strategy) {
  MLIRContext *ctx = func.getContext();
  unsigned ordinal = 0;
  for (Operation &op : func.getBody().front()) {
    auto iface = dyn_cast<ParallelizableOpInterface>(op);
    if (!iface)
      continue;
    std::string name = stableOpName(&op, ordinal++);
    const OpConfig *config = strategy.find(name);
    if (!config)
      return op.emitOpError("has no entry '") << name << "' in the strategy";
    // The listed dims in the op's order; contiguous strides where the file
    // gives none (the file format's default).
    SmallVector<StringAttr> dims;
    SmallVector<int64_t> degrees;
    for (const ParallelDim &d : iface.getParallelDims()) {
      auto it = config->degrees.find(d.name);
      if (it == config->degrees.end() || it->second == 1)
        continue;
      dims.push_back(StringAttr::get(ctx, d.name));
      degrees.push_back(it->second);
    }
    if (dims.size() != llvm::count_if(config->degrees, [](const auto &kv) {
          return kv.second != 1;
        }))
      return op.emitOpError("the strategy splits a dimension that '")
             << name << "' does not have";
    SmallVector<int64_t> strides = ParallelAttr::contiguousStrides(degrees);
    for (auto [i, dim] : llvm::enumerate(dims))
      if (auto it = config->strides.find(dim.str()); it != config->strides.end())
        strides[i] = it->second;
    auto attr = ParallelAttr::getChecked(
        [&] { return op.emitOpError("invalid parallel config: "); }, ctx,
        ArrayRef<StringAttr>(dims), ArrayRef<int64_t>(degrees), config->start,
        ArrayRef<int64_t>(strides));
    if (!attr)
      return failure();
    op.setAttr(SoapDialect::kParallelAttrName, attr);
    if (config->recompute)
      op.setAttr(kRecomputeAttrName, UnitAttr::get(ctx));
    else
      op.removeAttr(kRecomputeAttrName);
  }
  // ZeRO and offload, for soap-lower-to-plan (TrainingAttrs.h).
  SmallVector<NamedAttribute> training;
  if (strategy.zeroStage > 0)
    training.emplace_back(StringAttr::get(ctx, kZeroStageKey),
                          IntegerAttr::get(IntegerType::get(ctx, 64),
                                           strategy.zeroStage));
  if (strategy.offloadOptimizer)
    training.emplace_back(StringAttr::get(ctx, kOffloadOptimizerKey),
                          UnitAttr::get(ctx));
  if (training.empty())
    func->removeAttr(kTrainingAttrName);
  else
    func->setAttr(kTrainingAttrName, DictionaryAttr::get(ctx, training));
  // The pipeline (stages, micro-batches, schedule) is the function's: the
  // plan lowering executes it (docs/lowering.md, "Pipelines").
  func->removeAttr(kPipelineAttrName);
  if (strategy.pipeline) {
    Builder b(ctx);
    const PipelineSpec &p = *strategy.pipeline;
    SmallVector<Attribute> stages;
    for (const PipelineStageSpec &st : p.stages)
      stages.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("first", b.getStringAttr(st.firstOp)),
           b.getNamedAttr("last", b.getStringAttr(st.lastOp)),
           b.getNamedAttr("start", b.getI64IntegerAttr(st.firstDevice)),
           b.getNamedAttr("count", b.getI64IntegerAttr(st.numDevices))}));
    func->setAttr(kPipelineAttrName,
                  b.getDictionaryAttr(
                      {b.getNamedAttr("micro_batches",
                                      b.getI64IntegerAttr(p.microBatches)),
                       b.getNamedAttr("schedule", b.getStringAttr(p.schedule)),
                       b.getNamedAttr("stages", b.getArrayAttr(stages))}));
  }
  return success();
}

namespace {
struct ApplyStrategyPass
    : public impl::SoapApplyStrategyBase<ApplyStrategyPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (strategyFile.empty()) {
      module.emitError("soap-apply-strategy needs strategy=FILE");
      return signalPassFailure();
    }
    auto buffer = llvm::MemoryBuffer::getFile(strategyFile);
    if (!buffer) {
      module.emitError("cannot read strategy file '")
          << strategyFile << "': " << buffer.getError().message();
      return signalPassFailure();
    }
    StrategyFile strategy;
    std::string error;
    if (!parseStrategyJson((*buffer)->getBuffer(), strategy, error)) {
      module.emitError("strategy file '") << strategyFile << "': " << error;
      return signalPassFailure();
    }
    FailureOr<OpGraph> graph = extractOpGraph(module, entry);
    if (failed(graph))
      return signalPassFailure();
    int64_t n = checkMachine ? int64_t(nodes) : strategy.nodes;
    int64_t d = checkMachine ? int64_t(devicesPerNode) : strategy.devicesPerNode;
    std::vector<std::string> problems =
        validateStrategy(strategy, *graph, n, d, /*machineFingerprint=*/"");
    func::FuncOp func = module.lookupSymbol<func::FuncOp>(graph->modelName);
    if (!problems.empty()) {
      // Locate each problem at its op when the message names one (graph op
      // i is the function's i-th compute op).
      SmallVector<Operation *> computeOps;
      for (Operation &op : func.getBody().front())
        if (isa<ParallelizableOpInterface>(op))
          computeOps.push_back(&op);
      for (const std::string &p : problems) {
        Operation *at = func;
        for (size_t i = 0; i < graph->ops.size(); ++i)
          if (p.find("op '" + graph->ops[i].name + "'") != std::string::npos) {
            at = computeOps[i];
            break;
          }
        at->emitError("strategy '") << strategyFile << "': " << p;
      }
      return signalPassFailure();
    }
    if (failed(applyStrategy(func, strategy)))
      return signalPassFailure();
  }
};
} // namespace

} // namespace soap
