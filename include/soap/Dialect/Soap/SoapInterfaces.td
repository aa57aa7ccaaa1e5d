//===- SoapInterfaces.td - SOAP op interface ---------------*- tablegen -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPINTERFACES_TD
#define SOAP_DIALECT_SOAP_SOAPINTERFACES_TD

include "mlir/IR/OpBase.td"

def Soap_ParallelizableOpInterface : OpInterface<"ParallelizableOpInterface"> {
  let cppNamespace = "::soap";
  let description = [{
    Every soap compute op implements this interface. It is the op's sharding
    rule and cost summary, declared once and used by graph extraction, the
    simulator, the search and the lowering:

    - its parallelizable dimensions, each with a name unique within the op, a
      SOAP tag (sample, attribute, parameter, reduction) and a size;
    - its forward and backward FLOPs (a multiply-add counts as 2 FLOPs);
    - the bytes it reads and writes in the forward pass;
    - its parameter (weight) operands and their element count.

    All of them are pure functions of the op's (static) shapes and attributes.
  }];
  let methods = [
    InterfaceMethod<"The op's parallelizable dimensions, in a stable order.",
      "::llvm::SmallVector<::soap::ParallelDim>", "getParallelDims">,
    InterfaceMethod<"Forward FLOPs of one execution (multiply-add = 2).",
      "int64_t", "getForwardFlops">,
    InterfaceMethod<[{Backward FLOPs: gradients of the inputs and the
      parameters. By default twice the forward FLOPs (one product for the
      input gradient and one for the weight gradient).}],
      "int64_t", "getBackwardFlops", (ins), [{}], [{
        return 2 * $_op.getForwardFlops();
      }]>,
    InterfaceMethod<"Bytes of the operands read by the forward pass.",
      "int64_t", "getBytesRead", (ins), [{}], [{
        return ::soap::detail::sumTensorBytes($_op->getOperands());
      }]>,
    InterfaceMethod<"Bytes of the results written by the forward pass.",
      "int64_t", "getBytesWritten", (ins), [{}], [{
        return ::soap::detail::sumTensorBytes($_op->getResults());
      }]>,
    InterfaceMethod<"Indices of the operands that are trainable parameters.",
      "::llvm::SmallVector<unsigned>", "getParameterOperandIndices", (ins),
      [{}], [{ return {}; }]>,
    InterfaceMethod<"Element count of the op's parameter operands.",
      "int64_t", "getParameterCount", (ins), [{}], [{
        int64_t n = 0;
        for (unsigned i : $_op.getParameterOperandIndices())
          n += ::soap::detail::numElements($_op->getOperand(i).getType());
        return n;
      }]>,
  ];
  // Runs after the op's own invariants and shape inference (listed before
  // this interface), so the shapes it reads are valid.
  let verify = [{ return ::soap::detail::verifyParallelConfig($_op); }];
}

#endif // SOAP_DIALECT_SOAP_SOAPINTERFACES_TD
