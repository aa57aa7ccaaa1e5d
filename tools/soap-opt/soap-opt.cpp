//===- soap-opt.cpp - the soap dialect's mlir-opt -------------------------===//
#include "soap/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  soap::registerSoapDialects(registry);
  soap::registerSoapPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Soap optimizer driver\n", registry));
}
