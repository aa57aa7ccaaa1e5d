//===- Passes.td - Soap's passes ---------------------------*- tablegen -*-===//
#ifndef SOAP_TRANSFORMS_PASSES_TD
#define SOAP_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SoapApplyStrategy : Pass<"soap-apply-strategy", "mlir::ModuleOp"> {
  let summary = "Attach #soap.parallel to every op from a strategy JSON file";
  let description = [{
    Reads a strategy file (docs/strategy-format.md), checks it against the
    model (its fingerprint, an entry for every op and none for an unknown op,
    kinds, dimension names, degrees dividing dimensions, views without
    overlaps) and attaches the `soap.parallel` attribute of each op's entry,
    with the dimensions in the op's order and the view's strides explicit.
    Problems are errors located at the offending op (or the function).

    ```
    soap-opt model.mlir --soap-apply-strategy=strategy=model.strategy.json
    ```
  }];
  let options = [
    Option<"strategyFile", "strategy", "std::string", /*default=*/"",
           "The strategy JSON file">,
    Option<"entry", "entry", "std::string", /*default=*/"",
           "The model function (default: the module's only function)">,
    Option<"checkMachine", "check-machine", "bool", /*default=*/"false",
           "Also require the machine shape given by nodes/devices-per-node">,
    Option<"nodes", "nodes", "int64_t", /*default=*/"0",
           "Nodes of the machine (with check-machine)">,
    Option<"devicesPerNode", "devices-per-node", "int64_t", /*default=*/"0",
           "Devices per node (with check-machine)">,
  ];
}

def SoapExportShard : Pass<"soap-export-shard", "mlir::ModuleOp"> {
  let summary = "Express the #soap.parallel configs with the upstream shard dialect";
  let description = [{
    For interoperation with MLIR's `shard` dialect (and the tools built on
    it), every op that carries `soap.parallel` gets its tensors annotated:

    - one `shard.grid` per distinct list of degrees, e.g.
      `shard.grid @soap_grid_4x2(shape = 4x2)`, whose axes are the op's
      listed dimensions in order;
    - each result: `shard.sharding @grid split_axes = [...]` (per tensor axis,
      the grid axes of the dimensions that split it) and a `shard.shard` of
      the result that its users then read;
    - each operand: the sharding the op's rule requires of it (a weight split
      by a parameter dimension, a replicated operand), as a `shard.shard ...
      annotate_for_users` right before the op.

    What upstream cannot express is kept, and said: the machine view
    (`shard` grids are abstract process sets, without placement) stays in the
    op's `soap.parallel`; a result that is a partial sum (a split reduction
    dimension; LLVM 22's `shard.sharding` has no partial axes) is annotated
    as split over the other axes only, and the op gets
    `shard_export.partial = [dims]` naming the dimensions whose partial sums
    the annotation leaves out.

    The output, printed in generic form, parses and verifies with upstream
    `mlir-opt --allow-unregistered-dialect`.
  }];
  let dependentDialects = ["mlir::shard::ShardDialect"];
}

def SoapMaterializeParallelOps
    : Pass<"soap-materialize-parallel-ops", "mlir::ModuleOp"> {
  let summary = "Insert the parallel ops that reshard values between configs";
  let description = [{
    Every compute op must carry `soap.parallel`. From the simulator's
    sharding rules, each value has a sharding (pieces per axis, halo windows,
    partial sums, replicas; function arguments, weights and constants are
    unsharded). Where a consumer's config needs another sharding than its
    operand has, the pass inserts, before the consumer: `soap.all_reduce` or
    `soap.reduce` (partial sums), `soap.combine` and `soap.repartition`
    (pieces per axis), `soap.repartition ... degree 1 {halo = array<i64:
    pieces, stride, pad, span>}` (the overlapping input windows of a conv
    or pool split along h or w: a halo exchange) and `soap.replicate`. A returned partial sum is all-reduced. Chains
    are shared by consumers that need the same sharding. The result passes
    soap-verify-parallel-ops; the pass is idempotent.

    ```
    soap-opt model.mlir --soap-apply-strategy=strategy=s.json \
        --soap-materialize-parallel-ops
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"",
           "The model function (default: the module's only function)">,
  ];
}

def SoapVerifyParallelOps : Pass<"soap-verify-parallel-ops", "mlir::ModuleOp"> {
  let summary = "Check that every value's sharding is explicit and consistent";
  let description = [{
    Propagates shardings through the parallel ops and checks that every
    compute op's operand has exactly the sharding its `soap.parallel` config
    needs, that each parallel op applies (a combine divides the pieces, a
    reduce divides the partial sums), and that no partial sum is returned.
    Errors are located at the offending op.
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"",
           "The model function (default: the module's only function)">,
  ];
}

def SoapLowerToPlan : Pass<"soap-lower-to-plan", "mlir::ModuleOp"> {
  let summary = "Write the per-device training plan (JSON) of the configured model";
  let description = [{
    Extracts the op graph and the `soap.parallel` config of every compute op
    (materialized parallel ops are checked, then looked through), builds the
    plan of one training step with the planner (soap/Plan/Planner.h:
    forward, resharding transfers, partial sums, backward, gradient
    synchronization and the optimizer update, per rank, in the simulator's
    order) and writes it as JSON (docs/plan-format.md). The IR is not
    changed. A config the plan cannot realize is an error located at its op.

    ```
    soap-opt model.mlir --soap-apply-strategy=strategy=s.json \
        --soap-materialize-parallel-ops \
        --soap-lower-to-plan="output=model.plan.json optimizer=adam lr=1e-3"
    ```
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"",
           "The plan file ('-': standard output)">,
    Option<"entry", "entry", "std::string", /*default=*/"",
           "The model function (default: the module's only function)">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"0",
           "Ranks of the plan (default: 1 + the largest device used)">,
    Option<"devicesPerNode", "devices-per-node", "int64_t", /*default=*/"0",
           "Ranks per node: replicas on the same node are preferred sources "
           "(default: one node)">,
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"sgd\"",
           "sgd, adam or adamw">,
    Option<"lr", "lr", "double", /*default=*/"0.01", "Learning rate">,
    Option<"momentum", "momentum", "double", /*default=*/"0.9",
           "SGD momentum (0: plain SGD)">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0",
           "Weight decay (L2 for sgd and adam, decoupled for adamw)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Adam beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "Adam epsilon">,
    Option<"indent", "indent", "int", /*default=*/"-1",
           "JSON indentation (-1: compact)">,
    Option<"format", "format", "std::string", /*default=*/"\"json\"",
           "json (the plan file), or text (a readable listing, not read "
           "back)">,
  ];
}

#endif // SOAP_TRANSFORMS_PASSES_TD
