//===- Dot.cpp - Graphviz drawing of an op graph --------------------------===//
#include "soap/Graph/Dot.h"

#include <sstream>

namespace soap {

/// A light, distinguishable palette (ColorBrewer Set3).
static const char *const kPalette[] = {
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"};

static std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

static std::string shapeText(const TensorInfo &t) {
  std::string s;
  for (size_t i = 0; i < t.shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(t.shape[i]);
  return s + (s.empty() ? "" : "x") + toString(t.dtype);
}

std::string toDot(const OpGraph &graph, const std::vector<DotOpStyle> &styles) {
  std::ostringstream os;
  os << "digraph \"" << escape(graph.modelName) << "\" {\n"
     << "  rankdir=TB;\n"
     << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", "
        "fillcolor=\"#ffffff\"];\n"
     << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  std::map<std::string, size_t> colors;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const OpNode &op = graph.ops[i];
    std::string label = escape(op.name) + "\\n" + escape(op.kind);
    if (!op.results.empty())
      label += " " + shapeText(op.results[0]);
    std::string fill;
    if (i < styles.size()) {
      if (!styles[i].label.empty())
        label += "\\n" + escape(styles[i].label);
      auto [it, inserted] =
          colors.try_emplace(styles[i].colorKey, colors.size());
      fill = kPalette[it->second % (sizeof(kPalette) / sizeof(*kPalette))];
    }
    os << "  op" << i << " [label=\"" << label << "\"";
    if (!fill.empty())
      os << ", fillcolor=\"" << fill << "\"";
    os << "];\n";
  }
  for (const Edge &e : graph.edges)
    os << "  op" << e.src << " -> op" << e.dst << " [label=\""
       << shapeText(e.tensor) << "\"];\n";
  os << "}\n";
  return os.str();
}

} // namespace soap
