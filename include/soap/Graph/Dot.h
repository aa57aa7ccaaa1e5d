//===- Dot.h - Graphviz drawing of an op graph ------------------*- C++ -*-===//
#ifndef SOAP_GRAPH_DOT_H
#define SOAP_GRAPH_DOT_H

#include "soap/Graph/OpGraph.h"

#include <map>
#include <string>
#include <vector>

namespace soap {

/// What to print on and how to colour one op (e.g. its parallel config).
struct DotOpStyle {
  /// Extra label line, e.g. "batch=4 out=2 @0".
  std::string label;
  /// Ops with equal keys get the same fill colour.
  std::string colorKey;
};

/// The graph in Graphviz DOT: one box per op (name, kind, output shape, and
/// the style's label), edges labelled with tensor shapes, weights and inputs
/// left out. `styles`, when not empty, has one entry per op.
std::string toDot(const OpGraph &graph,
                  const std::vector<DotOpStyle> &styles = {});

} // namespace soap

#endif // SOAP_GRAPH_DOT_H
