//===- SoapAttributes.h - #soap.parallel ------------------------*- C++ -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPATTRIBUTES_H
#define SOAP_DIALECT_SOAP_SOAPATTRIBUTES_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"

#define GET_ATTRDEF_CLASSES
#include "soap/Dialect/Soap/SoapAttributes.h.inc"

#endif // SOAP_DIALECT_SOAP_SOAPATTRIBUTES_H
