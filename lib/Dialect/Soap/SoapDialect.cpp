//===- SoapDialect.cpp - the soap dialect ---------------------------------===//
#include "soap/Dialect/Soap/SoapDialect.h"
#include "soap/Dialect/Soap/SoapAttributes.h"
#include "soap/Dialect/Soap/SoapFunctionAttrs.h"
#include "soap/Dialect/Soap/SoapOps.h"
#include "soap/Dialect/Soap/TrainingAttrs.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace soap;

#include "soap/Dialect/Soap/SoapDialect.cpp.inc"

void SoapDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "soap/Dialect/Soap/SoapOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *SoapDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}

/// Checks a `soap.name` attribute; fails on any other soap attribute when
/// `parallelAllowed` is false (arguments and results have no parallel config).
static LogicalResult verifyNameOrUnknown(Operation *op, NamedAttribute attr,
                                         bool parallelAllowed) {
  StringRef known = SoapDialect::kNameAttrName;
  if (attr.getName() == known) {
    auto name = dyn_cast<StringAttr>(attr.getValue());
    if (!name || name.getValue().empty())
      return op->emitError("'") << known << "' must be a non-empty string";
    return success();
  }
  if ((attr.getName() == SoapDialect::kParallelAttrName ||
       attr.getName() == kPipelineAttrName) &&
      parallelAllowed)
    return success();
  InFlightDiagnostic diag = op->emitError("unknown soap attribute '")
                            << attr.getName().getValue() << "' (known: '"
                            << known << "'";
  if (parallelAllowed)
    diag << ", '" << SoapDialect::kParallelAttrName << "', '"
         << kRecomputeAttrName << "', '" << kTrainingAttrName << "', '"
         << kPipelineAttrName << "'";
  return diag << ")";
}

LogicalResult SoapDialect::verifyRegionArgAttribute(Operation *op, unsigned,
                                                    unsigned,
                                                    NamedAttribute attr) {
  return verifyNameOrUnknown(op, attr, /*parallelAllowed=*/false);
}

LogicalResult SoapDialect::verifyRegionResultAttribute(Operation *op, unsigned,
                                                       unsigned,
                                                       NamedAttribute attr) {
  return verifyNameOrUnknown(op, attr, /*parallelAllowed=*/false);
}

/// The training options (TrainingAttrs.h): `soap.recompute` on a compute
/// op, `soap.training` on a function.
static LogicalResult verifyTrainingAttr(Operation *op, NamedAttribute attr) {
  if (attr.getName() == kRecomputeAttrName) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError("'") << kRecomputeAttrName << "' must be a unit attribute";
    if (!isa<ParallelizableOpInterface>(op))
      return op->emitError("'")
             << kRecomputeAttrName << "' is only allowed on soap compute ops";
    return success();
  }
  auto dict = dyn_cast<DictionaryAttr>(attr.getValue());
  if (!dict)
    return op->emitError("'") << kTrainingAttrName << "' must be a dictionary";
  for (NamedAttribute e : dict) {
    if (e.getName() == kZeroStageKey) {
      auto z = dyn_cast<IntegerAttr>(e.getValue());
      if (!z || z.getInt() < 0 || z.getInt() > 3)
        return op->emitError("'")
               << kTrainingAttrName << "': zero_stage must be 0, 1, 2 or 3";
    } else if (e.getName() == kOffloadOptimizerKey) {
      if (!isa<UnitAttr, BoolAttr>(e.getValue()))
        return op->emitError("'")
               << kTrainingAttrName << "': offload_optimizer must be a unit";
    } else {
      return op->emitError("'") << kTrainingAttrName << "': unknown entry '"
                                << e.getName().getValue()
                                << "' (zero_stage, offload_optimizer)";
    }
  }
  return success();
}

LogicalResult SoapDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  if (attr.getName() == kRecomputeAttrName ||
      attr.getName() == kTrainingAttrName)
    return verifyTrainingAttr(op, attr);
  if (failed(verifyNameOrUnknown(op, attr, /*parallelAllowed=*/true)))
    return failure();
  if (attr.getName() == kNameAttrName)
    return success();
  if (attr.getName() == kPipelineAttrName) {
    // Its fields are checked where it is read (soap-lower-to-plan), against
    // the model's ops.
    if (!isa<DictionaryAttr>(attr.getValue()))
      return op->emitError("'") << kPipelineAttrName
                                << "' must be a dictionary, got "
                                << attr.getValue();
    if (op->getParentOp() && !isa<ModuleOp>(op->getParentOp()))
      return op->emitError("'") << kPipelineAttrName
                                << "' belongs on a model function";
    return success();
  }
  if (!isa<ParallelAttr>(attr.getValue()))
    return op->emitError("'") << kParallelAttrName
                              << "' must be a #soap.parallel attribute, got "
                              << attr.getValue();
  // The check against the op's dimensions is in verifyParallelConfig, which
  // runs after the op's own verification (this hook runs before it).
  if (!isa<ParallelizableOpInterface>(op))
    return op->emitError("'")
           << kParallelAttrName << "' is only allowed on soap compute ops";
  return success();
}

LogicalResult soap::detail::verifyParallelConfig(Operation *op) {
  auto config = op->getAttrOfType<ParallelAttr>(SoapDialect::kParallelAttrName);
  if (!config)
    return success();
  llvm::StringMap<ParallelDim> byName;
  SmallVector<ParallelDim> dims = cast<ParallelizableOpInterface>(op)
                                      .getParallelDims();
  for (const ParallelDim &d : dims)
    byName[d.name] = d;
  for (auto [name, degree] : llvm::zip(config.getDims(), config.getDegrees())) {
    auto it = byName.find(name.getValue());
    if (it == byName.end()) {
      std::string known;
      for (const ParallelDim &d : dims)
        known += (known.empty() ? "" : ", ") + d.name;
      return op->emitOpError("has no parallelizable dimension '")
             << name.getValue() << "' (it has: "
             << (known.empty() ? "none" : known) << ")";
    }
    if (it->second.size % degree != 0)
      return op->emitOpError("degree ")
             << degree << " of dimension '" << name.getValue()
             << "' does not divide its size " << it->second.size;
  }
  return success();
}
