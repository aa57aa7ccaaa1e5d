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

#endif // SOAP_TRANSFORMS_PASSES_TD
