//===- ParallelDim.h - SOAP dimension tags (no MLIR) ------------*- C++ -*-===//
//
// Plain C++ on purpose: the graph, simulator and search include this header,
// and must not pull in MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SUPPORT_PARALLELDIM_H
#define SOAP_SUPPORT_PARALLELDIM_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace soap {

/// The SOAP tag of a parallelizable dimension (design, section 4).
enum class DimTag {
  /// A batch dimension: splitting it replicates the weights, whose gradients
  /// are then all-reduced.
  Sample,
  /// A non-batch data dimension (spatial, sequence, heads of a product):
  /// pointwise or with halos; the weights stay replicated.
  Attribute,
  /// A dimension that splits the weights (output channels, hidden columns).
  Parameter,
  /// A contraction dimension: every shard holds a partial sum of the output.
  Reduction,
};

/// "sample", "attribute", "parameter" or "reduction".
const char *toString(DimTag tag);
/// Parses the names toString produces.
std::optional<DimTag> parseDimTag(std::string_view name);

/// One parallelizable dimension of an op.
struct ParallelDim {
  /// Unique within the op ("batch", "out", "cin", "h", ...); the key used by
  /// #soap.parallel and by the strategy JSON.
  std::string name;
  DimTag tag;
  /// Its extent: how far it can be split.
  int64_t size;
  /// The result axis it splits, or -1 when it splits no result axis: a
  /// reduction dimension, and parameter dimensions whose shards each produce
  /// a partial sum of the whole result (attention heads, experts).
  int64_t resultAxis;

  bool operator==(const ParallelDim &o) const {
    return name == o.name && tag == o.tag && size == o.size &&
           resultAxis == o.resultAxis;
  }
};

} // namespace soap

#endif // SOAP_SUPPORT_PARALLELDIM_H
