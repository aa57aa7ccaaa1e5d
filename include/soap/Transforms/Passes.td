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

#endif // SOAP_TRANSFORMS_PASSES_TD
