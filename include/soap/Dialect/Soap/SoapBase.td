//===- SoapBase.td - the soap dialect and its enums --------*- tablegen -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPBASE_TD
#define SOAP_DIALECT_SOAP_SOAPBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Soap_Dialect : Dialect {
  let name = "soap";
  let cppNamespace = "::soap";
  let summary = "Deep-learning training models for SOAP-space parallelization";
  let description = [{
    The `soap` dialect describes one training step of a deep neural network at
    the level of its operators (linear, conv2d, attention, ...), on logical
    (unsharded) tensors. Every compute op declares its parallelizable dimensions,
    tagged `sample`, `attribute`, `parameter` or `reduction`
    (`soap::ParallelizableOpInterface`), and its FLOPs, bytes and parameters as
    functions of its shapes. A parallelization strategy attaches a
    `#soap.parallel<...>` attribute (degrees per named dimension plus a machine
    view) to each op; lowering inserts the explicit parallel ops
    (`soap.repartition`, `soap.combine`, `soap.replicate`, `soap.reduce`,
    `soap.all_reduce`).

    A model is a `func.func`: its arguments are the inputs (data and labels),
    its trainable weights are `soap.weight` ops with stable names, and it
    returns the loss (or the outputs). A compute op's stable name, the key of
    strategies and plans, is its `soap.name` attribute (for example the ONNX
    node name); ops without one are named `<kind>_<ordinal>`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  // `soap.name` also names function arguments (model inputs) and results.
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    /// Registers the attributes (in SoapAttributes.cpp, where their storage
    /// classes are complete).
    void registerAttributes();

    /// Name of the discardable attribute that carries an op's parallel config.
    static constexpr ::llvm::StringLiteral kParallelAttrName = "soap.parallel";
    /// Name of the discardable attribute that carries an op's stable name
    /// (the key of the op in strategies and plans; ONNX node names).
    static constexpr ::llvm::StringLiteral kNameAttrName = "soap.name";
  }];
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Soap_InitKind : I32EnumAttr<"InitKind", "weight initializer", [
    I32EnumAttrCase<"zeros", 0>,
    I32EnumAttrCase<"ones", 1>,
    I32EnumAttrCase<"constant", 2>,
    I32EnumAttrCase<"normal", 3>,
    I32EnumAttrCase<"uniform", 4>,
    I32EnumAttrCase<"xavier_uniform", 5>,
    I32EnumAttrCase<"kaiming_normal", 6>,
    I32EnumAttrCase<"value", 7>]> {
  let cppNamespace = "::soap";
}

def Soap_PoolKind : I32EnumAttr<"PoolKind", "pooling kind", [
    I32EnumAttrCase<"max", 0>,
    I32EnumAttrCase<"avg", 1>]> {
  let cppNamespace = "::soap";
}

def Soap_Activation : I32EnumAttr<"Activation", "expert activation", [
    I32EnumAttrCase<"relu", 0>,
    I32EnumAttrCase<"gelu", 1>]> {
  let cppNamespace = "::soap";
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Soap_Float : AnyTypeOf<[F32, F16, BF16, F64]>;
def Soap_FloatTensor : StaticShapeTensorOf<[F32, F16, BF16, F64]>;
def Soap_IndexTensor : StaticShapeTensorOf<[I32, I64]>;
/// Booleans (i1): results of comparisons and logical ops, dropout masks.
/// They carry no gradient.
def Soap_BoolTensor : StaticShapeTensorOf<[I1]>;
/// The operands of a comparison: numbers of any soap type.
def Soap_NumberTensor : StaticShapeTensorOf<[F32, F16, BF16, F64, I32, I64]>;
def Soap_AnyTensor : StaticShapeTensorOf<[F32, F16, BF16, F64, I32, I64, I1]>;

class Soap_Op<string mnemonic, list<Trait> traits = []>
    : Op<Soap_Dialect, mnemonic, traits>;

#endif // SOAP_DIALECT_SOAP_SOAPBASE_TD
