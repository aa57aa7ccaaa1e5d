//===- SoapDialect.h - the soap dialect -------------------------*- C++ -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPDIALECT_H
#define SOAP_DIALECT_SOAP_SOAPDIALECT_H

#include "mlir/IR/Dialect.h"

#include "soap/Dialect/Soap/SoapDialect.h.inc"

#endif // SOAP_DIALECT_SOAP_SOAPDIALECT_H
