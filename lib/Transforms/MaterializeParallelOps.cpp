//===- MaterializeParallelOps.cpp - explicit resharding in the IR ---------===//
//
// Where a value's sharding (PlanLowering.h) differs from what a consumer's
// config needs, insert the parallel ops that convert one into the other:
//
//   1. a partial sum is summed: soap.all_reduce when the consumer holds at
//      least as many replicas (a multiple), else soap.reduce;
//   2. axes split more than needed (or in pieces that do not divide the
//      needed ones) are gathered: soap.combine;
//   3. axes split less than needed are cut: soap.repartition;
//   4. a windowed axis (conv / pool input split along h or w) gets its
//      halo: soap.repartition of degree 1 with `halo = [pieces, stride,
//      pad, span]`, exchanging halos between the pieces the axis already
//      has or cutting the windows from the whole axis;
//   5. missing replicas are made: soap.replicate.
//
// Returned partial sums are all-reduced. Chains are shared between the
// consumers of a value that need the same sharding, and inserted before the
// first of them. The pass is idempotent; soap-verify-parallel-ops checks
// its result.
//
//===----------------------------------------------------------------------===//
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Transforms/Passes.h"
#include "soap/Transforms/PlanLowering.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/DenseMap.h"

#include <map>

namespace soap {
#define GEN_PASS_DEF_SOAPMATERIALIZEPARALLELOPS
#define GEN_PASS_DEF_SOAPVERIFYPARALLELOPS
#include "soap/Transforms/Passes.h.inc"
} // namespace soap

using namespace mlir;

namespace soap {
namespace {

struct Materializer {
  OpBuilder b;
  llvm::DenseMap<Value, TensorSharding> sharding;
  /// Per source value: the converted value for each target sharding.
  llvm::DenseMap<Value, std::map<std::string, Value>> converted;

  explicit Materializer(MLIRContext *ctx) : b(ctx) {}

  TensorSharding of(Value v) {
    auto it = sharding.find(v);
    return it != sharding.end() ? it->second : unsharded(v.getType());
  }

  /// Appends one parallel op before `at` and records its sharding.
  Value step(Value v, Operation *created) {
    std::string problem;
    FailureOr<TensorSharding> s = applyParallelOp(created, of(v), problem);
    // The steps below are built to be valid; a failure is a bug.
    assert(succeeded(s) && "invalid parallel op built");
    Value out = created->getResult(0);
    if (succeeded(s))
      sharding[out] = *s;
    return out;
  }

  /// `v` converted to `want`, inserted before `at`.
  Value convert(Operation *at, Value v, const TensorSharding &want) {
    TensorSharding have = of(v);
    if (have == want)
      return v;
    auto &memo = converted[v];
    std::string key = want.str();
    if (auto it = memo.find(key); it != memo.end())
      return it->second;
    b.setInsertionPoint(at);
    Location loc = at->getLoc();
    Value cur = v;
    // 1. Partial sums.
    if (have.partial > 1) {
      int64_t p = have.partial;
      uint64_t deg = static_cast<uint64_t>(p);
      if (want.replicas % (have.replicas * p) == 0)
        cur = step(cur, AllReduceOp::create(b, loc, cur, deg));
      else
        cur = step(cur, ReduceOp::create(b, loc, cur, deg));
    }
    // 2. Gather what is split more (or otherwise) than needed. A windowed
    //    (halo) axis keeps its plain pieces when they are the ones the
    //    windows extend, else it is gathered whole.
    const size_t rank = want.axisDegree.size();
    auto axisSize = [&](size_t a) {
      return cast<RankedTensorType>(v.getType()).getDimSize(a);
    };
    for (size_t a = 0; a < rank; ++a) {
      TensorSharding now = of(cur);
      int64_t h = now.axisDegree[a], w = want.axisDegree[a];
      bool halo = now.windows[a].span > 0;
      if (h == 1)
        continue;
      if (want.windows[a].span > 0) {
        if (!halo && h == w && axisSize(a) % w == 0)
          continue;
        cur = step(cur, CombineOp::create(b, loc, cur, a,
                                          static_cast<uint64_t>(h)));
        continue;
      }
      if (h <= w && w % h == 0 && !halo)
        continue;
      uint64_t k = static_cast<uint64_t>(
          (!halo && h > w && h % w == 0) ? h / w : h);
      cur = step(cur, CombineOp::create(b, loc, cur, a, k));
    }
    // 3. Cut what is split less than needed (windowed axes: step 4).
    for (size_t a = 0; a < rank; ++a) {
      int64_t h = of(cur).axisDegree[a], w = want.axisDegree[a];
      if (w > h && want.windows[a].span == 0)
        cur = step(cur,
                   RepartitionOp::create(b, loc, cur, a,
                                         static_cast<uint64_t>(w / h)));
    }
    // 4. Windowed (conv / pool input) axes: a halo exchange between the
    //    pieces, or windows cut from the whole axis.
    for (size_t a = 0; a < rank; ++a) {
      const AxisWindow &w = want.windows[a];
      const AxisWindow &now = of(cur).windows[a];
      if (w.span == 0 || (now.stride == w.stride && now.pad == w.pad &&
                          now.span == w.span))
        continue;
      auto r = RepartitionOp::create(b, loc, cur, a, 1);
      r->setAttr(kHaloAttrName, b.getDenseI64ArrayAttr(
                                    {want.axisDegree[a], w.stride, w.pad,
                                     w.span}));
      cur = step(cur, r);
    }
    // 5. Replicas.
    int64_t have_r = of(cur).replicas;
    if (want.replicas > have_r)
      cur = step(cur,
                 ReplicateOp::create(
                     b, loc, cur,
                     static_cast<uint64_t>(want.replicas / have_r)));
    memo[key] = cur;
    return cur;
  }
};

struct MaterializeParallelOpsPass
    : public impl::SoapMaterializeParallelOpsBase<MaterializeParallelOpsPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<ParallelModel> model = extractParallelModel(getOperation(), entry);
    if (failed(model))
      return signalPassFailure();
    ParallelModel &m = *model;
    Materializer mat(&getContext());
    size_t index = 0;
    for (Operation &op : llvm::make_early_inc_range(m.func.getBody().front())) {
      if (isa<ParallelizableOpInterface>(op)) {
        size_t i = index++;
        for (unsigned j = 0; j < op.getNumOperands(); ++j) {
          TensorSharding want =
              tensorSharding(m.rules[i].operands[j], m.grids[i]);
          Value v = mat.convert(&op, op.getOperand(j), want);
          if (v != op.getOperand(j))
            op.setOperand(j, v);
        }
        for (auto [r, v] : llvm::enumerate(op.getResults()))
          mat.sharding[v] = tensorSharding(m.rules[i].results[r], m.grids[i]);
        continue;
      }
      if (isParallelOp(&op)) {
        std::string problem;
        FailureOr<TensorSharding> s =
            applyParallelOp(&op, mat.of(op.getOperand(0)), problem);
        if (failed(s)) {
          op.emitOpError() << problem;
          return signalPassFailure();
        }
        mat.sharding[op.getResult(0)] = *s;
        continue;
      }
      if (isa<func::ReturnOp>(op)) {
        for (unsigned j = 0; j < op.getNumOperands(); ++j) {
          TensorSharding have = mat.of(op.getOperand(j));
          if (have.partial <= 1)
            continue;
          TensorSharding want = have;
          want.replicas *= have.partial;
          want.partial = 1;
          op.setOperand(j, mat.convert(&op, op.getOperand(j), want));
        }
      }
    }
    // Check the result (a failure here is a bug of this pass).
    FailureOr<ParallelModel> after = extractParallelModel(getOperation(), entry);
    if (failed(after) || failed(verifyParallelOps(*after)))
      return signalPassFailure();
  }
};

struct VerifyParallelOpsPass
    : public impl::SoapVerifyParallelOpsBase<VerifyParallelOpsPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<ParallelModel> model = extractParallelModel(getOperation(), entry);
    if (failed(model) || failed(verifyParallelOps(*model)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
} // namespace soap
