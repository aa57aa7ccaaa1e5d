//===- SoapOps.h - soap dialect ops and interface ---------------*- C++ -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPOPS_H
#define SOAP_DIALECT_SOAP_SOAPOPS_H

#include "soap/Dialect/Soap/SoapAttributes.h"
#include "soap/Dialect/Soap/SoapDialect.h"
#include "soap/Support/ParallelDim.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace soap {
namespace detail {
/// Element count of a statically shaped tensor type (0 for anything else).
int64_t numElements(mlir::Type type);
/// Bytes of one element of a tensor's element type.
int64_t elementBytes(mlir::Type type);
/// Total bytes of the tensors among the values.
int64_t sumTensorBytes(mlir::ValueRange values);
/// Checks an op's `soap.parallel` config, if any, against its dimensions.
llvm::LogicalResult verifyParallelConfig(mlir::Operation *op);
} // namespace detail
} // namespace soap

#include "soap/Dialect/Soap/SoapEnums.h.inc"
#include "soap/Dialect/Soap/SoapInterfaces.h.inc"

#define GET_OP_CLASSES
#include "soap/Dialect/Soap/SoapOps.h.inc"

#endif // SOAP_DIALECT_SOAP_SOAPOPS_H
