//===- ExportShard.cpp - #soap.parallel as upstream shard annotations -----===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Graph/Extract.h"
#include "soap/Simulator/ShardingRules.h"
#include "soap/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/StringExtras.h"

namespace soap {
#define GEN_PASS_DEF_SOAPEXPORTSHARD
#include "soap/Transforms/Passes.h.inc"
} // namespace soap

using namespace mlir;

namespace soap {
namespace {

struct ExportShardPass : public impl::SoapExportShardBase<ExportShardPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (!func.isExternal() && failed(exportFunc(module, func)))
        return signalPassFailure();
  }

  /// The grid for a list of degrees, created at the module's start once.
  FlatSymbolRefAttr gridFor(ModuleOp module, ArrayRef<int64_t> degrees) {
    std::string name = "soap_grid";
    for (int64_t d : degrees)
      name += "_" + std::to_string(d);
    if (degrees.empty())
      name += "_1";
    if (!module.lookupSymbol(name)) {
      OpBuilder b(module.getBodyRegion());
      b.setInsertionPointToStart(module.getBody());
      SmallVector<int64_t> shape(degrees);
      if (shape.empty())
        shape.push_back(1);
      shard::GridOp::create(b, module.getLoc(), name, shape);
    }
    return FlatSymbolRefAttr::get(module.getContext(), name);
  }

  /// shard.sharding for a tensor of rank `rank` whose axis `axisOfDim[i]`
  /// is split by listed dim i (grid axis i).
  Value sharding(OpBuilder &b, Location loc, FlatSymbolRefAttr grid,
                 int64_t rank, ArrayRef<int> axisOfListedDim) {
    SmallVector<SmallVector<int16_t>> axes(std::max<int64_t>(rank, 1));
    for (auto [gridAxis, tensorAxis] : llvm::enumerate(axisOfListedDim))
      if (tensorAxis >= 0)
        axes[tensorAxis].push_back(static_cast<int16_t>(gridAxis));
    SmallVector<shard::GridAxesAttr> split;
    for (auto &a : axes)
      split.push_back(shard::GridAxesAttr::get(b.getContext(), a));
    return shard::ShardingOp::create(b, loc, grid, split).getResult();
  }

  LogicalResult exportFunc(ModuleOp module, func::FuncOp func) {
    FailureOr<OpGraph> graph = extractOpGraph(func);
    if (failed(graph))
      return failure();
    unsigned index = 0;
    for (Operation &op : llvm::make_early_inc_range(func.getBody().front())) {
      if (!isa<ParallelizableOpInterface>(op))
        continue;
      const OpNode &node = graph->ops[index++];
      auto config = op.getAttrOfType<ParallelAttr>(SoapDialect::kParallelAttrName);
      if (!config)
        continue;
      OpShardingRule rule = shardingRule(node);
      // Map the config's listed dims to the op's dim indices.
      SmallVector<int> dimIndex;
      for (StringAttr name : config.getDims()) {
        const ParallelDim *d = node.findDim(name.str());
        if (!d)
          return op.emitOpError("soap.parallel names unknown dimension '")
                 << name.getValue() << "'";
        dimIndex.push_back(static_cast<int>(d - node.dims.data()));
      }
      FlatSymbolRefAttr grid = gridFor(module, config.getDegrees());
      auto axesOf = [&](const TensorRule &t) {
        SmallVector<int> axes;
        for (int di : dimIndex)
          axes.push_back(t.axisOfDim[di]);
        return axes;
      };

      OpBuilder b(&op);
      for (auto [i, operand] : llvm::enumerate(op.getOperands())) {
        if (i >= rule.operands.size())
          break;
        auto type = dyn_cast<RankedTensorType>(operand.getType());
        if (!type)
          continue;
        Value s = sharding(b, op.getLoc(), grid, type.getRank(),
                           axesOf(rule.operands[i]));
        Value annotated = shard::ShardOp::create(b, op.getLoc(), operand, s,
                                                 /*annotate_for_users=*/true);
        op.setOperand(i, annotated);
      }
      b.setInsertionPointAfter(&op);
      SmallVector<Attribute> partial;
      for (auto [r, result] : llvm::enumerate(op.getResults())) {
        if (r >= rule.results.size())
          break;
        auto type = cast<RankedTensorType>(result.getType());
        SmallVector<int> axes = axesOf(rule.results[r]);
        for (auto [k, axis] : llvm::enumerate(axes))
          if (axis == kPartial && r == 0)
            partial.push_back(config.getDims()[k]);
        Value s = sharding(b, op.getLoc(), grid, type.getRank(), axes);
        auto annotated = shard::ShardOp::create(b, op.getLoc(), result, s,
                                                /*annotate_for_users=*/false);
        result.replaceAllUsesExcept(annotated.getResult(), annotated);
      }
      if (!partial.empty())
        op.setAttr("shard_export.partial", ArrayAttr::get(op.getContext(), partial));
    }
    return success();
  }
};
} // namespace
} // namespace soap
