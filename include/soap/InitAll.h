//===- InitAll.h - register what Soap's tools need --------------*- C++ -*-===//
//
// The one registration entry point: every tool registers exactly these
// dialects and passes (not all of upstream MLIR, which would cost minutes of
// compile time and a huge binary).
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_INITALL_H
#define SOAP_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace soap {

/// soap plus the upstream dialects a model file uses or interoperates with:
/// func, arith, tensor and shard.
void registerSoapDialects(mlir::DialectRegistry &registry);

/// Soap's passes and the generic upstream ones a user of mlir-opt expects
/// (canonicalize, cse, inline, symbol-dce, ...).
void registerSoapPasses();

} // namespace soap

#endif // SOAP_INITALL_H
