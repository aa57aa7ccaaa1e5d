//===- InitAll.cpp --------------------------------------------------------===//
#include "soap/InitAll.h"
#include "soap/Dialect/Soap/SoapDialect.h"
#include "soap/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void soap::registerSoapDialects(mlir::DialectRegistry &registry) {
  registry.insert<soap::SoapDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect,
                  mlir::shard::ShardDialect>();
}

void soap::registerSoapPasses() {
  mlir::registerTransformsPasses();
  soap::registerSoapTransformsPasses();
}
