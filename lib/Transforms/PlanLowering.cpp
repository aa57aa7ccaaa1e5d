//===- PlanLowering.cpp - a model with its configs; value shardings -------===//
#include "soap/Transforms/PlanLowering.h"
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Dialect/Soap/TrainingAttrs.h"
#include "soap/Graph/Extract.h"

#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/DenseMap.h"

using namespace mlir;

namespace soap {

bool isParallelOp(Operation *op) {
  return isa<RepartitionOp, CombineOp, ReplicateOp, ReduceOp, AllReduceOp>(op);
}

TensorSharding unsharded(Type type) {
  TensorSharding t;
  int64_t rank = 0;
  if (auto tt = dyn_cast<RankedTensorType>(type))
    rank = tt.getRank();
  t.axisDegree.assign(rank, 1);
  t.windows.assign(rank, AxisWindow{});
  return t;
}

FailureOr<TensorSharding> applyParallelOp(Operation *op,
                                          const TensorSharding &in,
                                          std::string &problem) {
  TensorSharding out = in;
  auto axisOf = [&](int64_t dim) -> bool {
    if (dim < 0 || dim >= static_cast<int64_t>(out.axisDegree.size())) {
      problem = "dim " + std::to_string(dim) + " is not an axis of its operand";
      return false;
    }
    return true;
  };
  if (auto r = dyn_cast<RepartitionOp>(op)) {
    int64_t dim = static_cast<int64_t>(r.getDim()), k = r.getDegree();
    if (!axisOf(dim))
      return failure();
    if (auto halo = op->getAttrOfType<DenseI64ArrayAttr>(kHaloAttrName)) {
      // A windowed split: `pieces` overlapping windows along the axis, cut
      // from the whole axis or exchanged between its `pieces` plain pieces.
      if (halo.size() != 4 || halo[0] < 1 || halo[1] < 1 || halo[2] < 0 ||
          halo[3] < 1) {
        problem = "its halo must be [pieces, stride, pad, span] with pieces, "
                  "stride, span >= 1 and pad >= 0";
        return failure();
      }
      if (k != 1) {
        problem = "a halo repartition has degree 1 (its pieces are in the "
                  "halo)";
        return failure();
      }
      int64_t have = out.axisDegree[dim];
      if ((have != 1 && have != halo[0]) || out.windows[dim].span > 0) {
        problem = "gives axis " + std::to_string(dim) + " " +
                  std::to_string(halo[0]) +
                  " windowed pieces, but its operand has " +
                  std::to_string(have) +
                  (out.windows[dim].span > 0 ? " windowed" : "") +
                  " pieces along it (1 or as many plain ones are needed)";
        return failure();
      }
      out.axisDegree[dim] = halo[0];
      out.windows[dim] = AxisWindow{halo[1], halo[2], halo[3]};
      return out;
    }
    if (out.windows[dim].span > 0 && k > 1) {
      problem = "cuts axis " + std::to_string(dim) +
                ", whose pieces are windows (combine them first)";
      return failure();
    }
    out.axisDegree[dim] *= k;
    return out;
  }
  if (auto c = dyn_cast<CombineOp>(op)) {
    int64_t dim = static_cast<int64_t>(c.getDim()), k = c.getDegree();
    if (!axisOf(dim))
      return failure();
    if (out.axisDegree[dim] % k != 0) {
      problem = "combines " + std::to_string(k) + " shards of axis " +
                std::to_string(dim) + ", which is split in " +
                std::to_string(out.axisDegree[dim]);
      return failure();
    }
    out.axisDegree[dim] /= k;
    out.windows[dim] = AxisWindow{};
    return out;
  }
  if (auto r = dyn_cast<ReplicateOp>(op)) {
    out.replicas *= r.getDegree();
    return out;
  }
  int64_t k = 0;
  if (auto r = dyn_cast<ReduceOp>(op))
    k = r.getDegree();
  else if (auto r = dyn_cast<AllReduceOp>(op))
    k = r.getDegree();
  else {
    problem = "is not a parallel op";
    return failure();
  }
  if (out.partial % k != 0) {
    problem = "sums " + std::to_string(k) + " partial tensors, but its "
              "operand is a sum of " + std::to_string(out.partial);
    return failure();
  }
  out.partial /= k;
  if (isa<AllReduceOp>(op))
    out.replicas *= k;
  return out;
}

/// The function's `soap.pipeline` into the model's training options.
static LogicalResult readPipeline(ParallelModel &m) {
  Attribute attr = m.func->getAttr(kPipelineAttrName);
  if (!attr)
    return success();
  auto fail = [&](const Twine &why) {
    return m.func.emitError("'") << kPipelineAttrName << "': " << why;
  };
  auto dict = dyn_cast<DictionaryAttr>(attr);
  if (!dict)
    return fail("must be a dictionary");
  TrainingConfig &t = m.strategy.training;
  auto micro = dict.getAs<IntegerAttr>("micro_batches");
  auto schedule = dict.getAs<StringAttr>("schedule");
  auto stages = dict.getAs<ArrayAttr>("stages");
  if (!micro || !schedule || !stages)
    return fail("needs micro_batches (integer), schedule (string) and stages "
                "(array)");
  t.microBatches = micro.getInt();
  if (schedule.getValue() == "gpipe")
    t.schedule = PipelineSchedule::GPipe;
  else if (schedule.getValue() == "1f1b")
    t.schedule = PipelineSchedule::OneFOneB;
  else
    return fail("unknown schedule '" + schedule.getValue() + "' (gpipe, 1f1b)");
  for (Attribute a : stages) {
    auto st = dyn_cast<DictionaryAttr>(a);
    auto first = st ? st.getAs<StringAttr>("first") : StringAttr();
    auto last = st ? st.getAs<StringAttr>("last") : StringAttr();
    auto start = st ? st.getAs<IntegerAttr>("start") : IntegerAttr();
    auto count = st ? st.getAs<IntegerAttr>("count") : IntegerAttr();
    if (!first || !last || !start || !count)
      return fail("a stage needs first, last (op names), start and count "
                  "(integers)");
    PipelineStage stage{m.graph.findOp(first.str()), m.graph.findOp(last.str()),
                        start.getInt(), count.getInt()};
    if (stage.firstOp < 0 || stage.lastOp < 0)
      return fail("stage op '" +
                  (stage.firstOp < 0 ? first.getValue() : last.getValue()) +
                  "' is not an op of the model");
    t.stages.push_back(stage);
    m.minRanks = std::max(m.minRanks, stage.firstDevice + stage.numDevices);
  }
  // One stage is no pipeline (the strategy file's reading, too).
  if (t.stages.size() == 1)
    t.stages.clear();
  return success();
}

FailureOr<ParallelModel> extractParallelModel(ModuleOp module,
                                              StringRef entry) {
  FailureOr<func::FuncOp> func = modelFunction(module, entry);
  if (failed(func))
    return failure();
  ParallelModel m;
  m.func = *func;

  // The graph, looking through parallel ops (on a copy without them).
  bool hasParallelOps = false;
  m.func.walk([&](Operation *op) { hasParallelOps |= isParallelOp(op); });
  FailureOr<OpGraph> graph;
  if (hasParallelOps) {
    auto copy = cast<func::FuncOp>(m.func->clone());
    SmallVector<Operation *> parallel;
    copy.walk([&](Operation *op) {
      if (isParallelOp(op))
        parallel.push_back(op);
    });
    for (Operation *op : parallel) {
      op->getResult(0).replaceAllUsesWith(op->getOperand(0));
      op->erase();
    }
    graph = extractOpGraph(copy);
    copy->erase();
  } else {
    graph = extractOpGraph(m.func);
  }
  if (failed(graph))
    return failure();
  m.graph = std::move(*graph);

  for (Operation &op : m.func.getBody().front())
    if (isa<ParallelizableOpInterface>(op))
      m.ops.push_back(&op);
  if (m.ops.size() != m.graph.ops.size())
    return m.func.emitError("internal error: ")
           << m.ops.size() << " compute ops but " << m.graph.ops.size()
           << " graph ops";

  for (size_t i = 0; i < m.ops.size(); ++i) {
    Operation *op = m.ops[i];
    auto attr = op->getAttrOfType<ParallelAttr>(SoapDialect::kParallelAttrName);
    if (!attr)
      return op->emitOpError("has no 'soap.parallel' config (op '")
             << m.graph.ops[i].name
             << "'); run soap-apply-strategy first, or attach one";
    ParallelConfig c;
    for (auto [name, degree] : llvm::zip(attr.getDims(), attr.getDegrees()))
      c.degrees.emplace_back(name.str(), degree);
    c.start = attr.getStart();
    c.strides.assign(attr.getStrides().begin(), attr.getStrides().end());
    for (int64_t d : c.deviceIds())
      m.minRanks = std::max(m.minRanks, d + 1);
    m.strategy.configs.push_back(std::move(c));
    if (op->hasAttr(kRecomputeAttrName)) {
      m.strategy.training.recompute.resize(m.ops.size(), 0);
      m.strategy.training.recompute[i] = 1;
    }
  }
  if (auto t = m.func->getAttrOfType<DictionaryAttr>(kTrainingAttrName)) {
    if (auto z = t.getAs<IntegerAttr>(kZeroStageKey))
      m.strategy.training.zeroStage = static_cast<int>(z.getInt());
    Attribute o = t.get(kOffloadOptimizerKey);
    auto b = dyn_cast_or_null<BoolAttr>(o);
    m.strategy.training.offloadOptimizer =
        isa_and_nonnull<UnitAttr>(o) || (b && b.getValue());
  }
  if (failed(readPipeline(m)))
    return failure();
  for (size_t i = 0; i < m.ops.size(); ++i) {
    Expected<ShardGrid> grid = resolveShardGrid(
        m.graph.ops[i], m.strategy.configs[i], m.minRanks);
    if (!grid)
      return m.ops[i]->emitOpError("has an unusable 'soap.parallel': ")
             << grid.error();
    m.grids.push_back(grid.take());
    m.rules.push_back(shardingRule(m.graph.ops[i]));
  }
  return m;
}

/// An integer element as a double (a boolean, i1, is 0 or 1).
static double intValue(const APInt &v) {
  return v.getBitWidth() == 1 ? static_cast<double>(v.getZExtValue())
                              : static_cast<double>(v.getSExtValue());
}

/// Row-major values of an elements attribute, as doubles.
static std::vector<double> valuesOf(ElementsAttr attr) {
  std::vector<double> out;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense)
    return out;
  if (dense.isSplat()) {
    if (isa<FloatType>(dense.getElementType()))
      out.push_back(dense.getSplatValue<APFloat>().convertToDouble());
    else
      out.push_back(intValue(dense.getSplatValue<APInt>()));
    return out;
  }
  if (isa<FloatType>(dense.getElementType())) {
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      out.push_back(v.convertToDouble());
    }
  } else {
    for (APInt v : dense.getValues<APInt>())
      out.push_back(intValue(v));
  }
  return out;
}

void collectPlanInputs(const ParallelModel &m, PlanOptions &options) {
  func::FuncOp func = m.func;
  func.walk([&](WeightOp w) {
    PlanWeight pw;
    pw.name = w.getName().str();
    pw.init = stringifyInitKind(w.getInit()).str();
    if (auto scale = w.getScale())
      pw.scale = scale->convertToDouble();
    if (auto value = w.getValue())
      pw.values = valuesOf(*value);
    options.weightInits[pw.name] = std::move(pw);
  });
  for (size_t i = 0; i < m.ops.size(); ++i)
    for (auto [j, v] : llvm::enumerate(m.ops[i]->getOperands())) {
      // Look through parallel ops to the definition.
      while (Operation *def = v.getDefiningOp()) {
        if (!isParallelOp(def))
          break;
        v = def->getOperand(0);
      }
      auto c = v.getDefiningOp<ConstantOp>();
      if (!c)
        continue;
      PlanConstant pc;
      pc.values = valuesOf(c.getValue());
      options.constants[{m.graph.ops[i].name, static_cast<int>(j)}] =
          std::move(pc);
    }
}

LogicalResult verifyParallelOps(const ParallelModel &m) {
  llvm::DenseMap<Value, TensorSharding> sharding;
  auto of = [&](Value v) {
    auto it = sharding.find(v);
    return it != sharding.end() ? it->second : unsharded(v.getType());
  };
  size_t index = 0;
  bool ok = true;
  func::FuncOp func = m.func;
  for (Operation &op : func.getBody().front()) {
    if (isa<ParallelizableOpInterface>(op)) {
      size_t i = index++;
      for (auto [j, v] : llvm::enumerate(op.getOperands())) {
        TensorSharding want = tensorSharding(m.rules[i].operands[j], m.grids[i]);
        TensorSharding have = of(v);
        if (have != want) {
          op.emitOpError("operand #")
              << j << " is sharded " << have.str() << " but the op's config "
              << op.getAttr(SoapDialect::kParallelAttrName) << " needs "
              << want.str()
              << "; soap-materialize-parallel-ops inserts the parallel ops "
                 "that convert it";
          ok = false;
        }
      }
      for (auto [r, v] : llvm::enumerate(op.getResults()))
        sharding[v] = tensorSharding(m.rules[i].results[r], m.grids[i]);
      continue;
    }
    if (isParallelOp(&op)) {
      std::string problem;
      FailureOr<TensorSharding> out =
          applyParallelOp(&op, of(op.getOperand(0)), problem);
      if (failed(out)) {
        op.emitOpError() << problem;
        ok = false;
        continue;
      }
      sharding[op.getResult(0)] = *out;
      continue;
    }
    if (isa<func::ReturnOp>(op)) {
      for (auto [j, v] : llvm::enumerate(op.getOperands()))
        if (of(v).partial > 1) {
          op.emitOpError("returns a partial sum (operand #")
              << j << ", sharded " << of(v).str()
              << "); reduce it first (soap.all_reduce)";
          ok = false;
        }
    }
  }
  return success(ok);
}

} // namespace soap
