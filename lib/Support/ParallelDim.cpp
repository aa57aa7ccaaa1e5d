//===- ParallelDim.cpp ----------------------------------------------------===//
#include "soap/Support/ParallelDim.h"

namespace soap {

const char *toString(DimTag tag) {
  switch (tag) {
  case DimTag::Sample:
    return "sample";
  case DimTag::Attribute:
    return "attribute";
  case DimTag::Parameter:
    return "parameter";
  case DimTag::Reduction:
    return "reduction";
  }
  return "unknown";
}

std::optional<DimTag> parseDimTag(std::string_view name) {
  for (DimTag t : {DimTag::Sample, DimTag::Attribute, DimTag::Parameter,
                   DimTag::Reduction})
    if (name == toString(t))
      return t;
  return std::nullopt;
}

} // namespace soap
