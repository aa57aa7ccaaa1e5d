//===- soap-translate.cpp - model files to and from soap IR ---------------===//
//
// MLIR's translate driver with Soap's translations: --import-onnx FILE.onnx
// [--batch N] [-o out.mlir].
//
//===----------------------------------------------------------------------===//
#include "soap/Import/Onnx.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  soap::registerOnnxTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "Soap translation driver"));
}
