//===- SoapFunctionAttrs.h - soap attributes of a model function -*- C++ -*-===//
//
// The discardable soap attributes a model function (func.func) may carry,
// besides the ops' `soap.name` and `soap.parallel` (SoapBase.td). The soap
// dialect verifies them; the lowering reads them.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_DIALECT_SOAP_SOAPFUNCTIONATTRS_H
#define SOAP_DIALECT_SOAP_SOAPFUNCTIONATTRS_H

#include "llvm/ADT/StringRef.h"

namespace soap {

/// The model's pipeline (soap-apply-strategy sets it from the strategy
/// file's `pipeline`): `{micro_batches = 4 : i64, schedule = "1f1b", stages =
/// [{first = "op", last = "op", start = 0 : i64, count = 2 : i64}, ...]}`.
/// Absent: no micro-batches, one stage. docs/lowering.md, "Pipelines and
/// micro-batches".
inline constexpr llvm::StringLiteral kPipelineAttrName = "soap.pipeline";

} // namespace soap

#endif // SOAP_DIALECT_SOAP_SOAPFUNCTIONATTRS_H
