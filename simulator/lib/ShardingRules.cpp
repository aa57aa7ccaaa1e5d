//===- ShardingRules.cpp - operand layouts per op kind --------------------===//
#include "soap/Simulator/ShardingRules.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace soap {

//===----------------------------------------------------------------------===//
// Attribute strings
//===----------------------------------------------------------------------===//

/// Position just after "name=" at the top level of the attribute string, or
/// npos.
static size_t findValue(const std::string &attrs, const std::string &name) {
  int depth = 0;
  for (size_t i = 0; i < attrs.size(); ++i) {
    char c = attrs[i];
    if (c == '<' || c == '[' || c == '{' || c == '(')
      ++depth;
    else if (c == '>' || c == ']' || c == '}' || c == ')')
      --depth;
    bool atStart = i == 0 || (depth == 0 && attrs[i - 1] == ',');
    if (depth == 0 && atStart && attrs.compare(i, name.size(), name) == 0 &&
        i + name.size() < attrs.size() && attrs[i + name.size()] == '=')
      return i + name.size() + 1;
  }
  return std::string::npos;
}

std::string unsupportedSplit(const OpNode &op, const std::vector<int64_t> &degree) {
  for (size_t d = 0; d < op.dims.size() && d < degree.size(); ++d) {
    if (degree[d] <= 1)
      continue;
    // The simulator models this split (a per-step gather of the hidden
    // state), but the LSTM kernels run the whole sequence in one call and
    // the gate columns of a hidden slice are not contiguous in the weights.
    if (op.kind == "lstm" && op.dims[d].name == "hidden")
      return "op '" + op.name +
             "' (lstm): splitting 'hidden' needs the hidden state gathered "
             "every time step, which the plan's kernels cannot do yet (split "
             "'batch' instead)";
  }
  if (op.kind == "conv2d" && op.operands.size() >= 2) {
    int64_t groups = attributeInt(op.attributes, "groups", 1);
    int64_t o = op.operands[1].tensor.shape[0];
    for (size_t d = 0; d < op.dims.size() && d < degree.size(); ++d) {
      if (op.dims[d].name != "cout" || degree[d] <= 1 || groups <= 1)
        continue;
      int64_t perShard = o / degree[d], perGroup = o / groups;
      if (perShard % perGroup != 0 && perGroup % perShard != 0)
        return "op '" + op.name + "' (conv2d): a 'cout' split of degree " +
               std::to_string(degree[d]) + " cuts its " +
               std::to_string(groups) +
               " groups unevenly (each shard must hold whole groups or part "
               "of one)";
    }
  }
  return "";
}

int64_t attributeInt(const std::string &attrs, const std::string &name,
                     int64_t dflt) {
  size_t p = findValue(attrs, name);
  if (p == std::string::npos)
    return dflt;
  const char *s = attrs.c_str() + p;
  char *end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  return end == s ? dflt : static_cast<int64_t>(v);
}

std::vector<int64_t> attributeInts(const std::string &attrs,
                                   const std::string &name,
                                   std::vector<int64_t> dflt) {
  size_t p = findValue(attrs, name);
  if (p == std::string::npos)
    return dflt;
  // array<i64: 1, 2> or [1, 2]
  size_t open = attrs.find_first_of(":[", p);
  size_t close = attrs.find_first_of(">]", p);
  if (open == std::string::npos || close == std::string::npos || close < open)
    return dflt;
  std::vector<int64_t> out;
  const char *s = attrs.c_str() + open + 1;
  const char *e = attrs.c_str() + close;
  while (s < e) {
    while (s < e && !(std::isdigit(static_cast<unsigned char>(*s)) || *s == '-'))
      ++s;
    if (s >= e)
      break;
    char *end = nullptr;
    out.push_back(std::strtoll(s, &end, 10));
    if (end == s)
      break;
    s = end;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Boxes
//===----------------------------------------------------------------------===//

void axisInterval(int64_t dimSize, int64_t degree, int64_t i,
                  const AxisWindow &w, int64_t axisSize, int64_t &lo,
                  int64_t &hi) {
  if (w.span == 0) {
    lo = i * axisSize / degree;
    hi = (i + 1) * axisSize / degree;
    return;
  }
  int64_t olo = i * dimSize / degree, ohi = (i + 1) * dimSize / degree;
  if (ohi <= olo) {
    lo = hi = 0;
    return;
  }
  lo = std::max<int64_t>(0, olo * w.stride - w.pad);
  hi = std::min<int64_t>(axisSize, (ohi - 1) * w.stride - w.pad + w.span);
  if (hi < lo)
    hi = lo;
}

void tensorBox(const TensorRule &rule, const std::vector<ParallelDim> &dims,
               const std::vector<int64_t> &degree,
               const std::vector<int64_t> &coord, std::vector<int64_t> &lo,
               std::vector<int64_t> &hi) {
  size_t rank = rule.shape.size();
  lo.assign(rank, 0);
  hi.assign(rule.shape.begin(), rule.shape.end());
  static const AxisWindow kNone;
  for (size_t d = 0; d < rule.axisOfDim.size(); ++d) {
    int a = rule.axisOfDim[d];
    if (a < 0 || degree[d] <= 1)
      continue;
    const AxisWindow &w = rule.windows.empty() ? kNone : rule.windows[a];
    axisInterval(dims[d].size, degree[d], coord[d], w, rule.shape[a], lo[a],
                 hi[a]);
  }
}

std::vector<int64_t> shardShape(const TensorRule &rule,
                                const std::vector<ParallelDim> &dims,
                                const std::vector<int64_t> &degree) {
  std::vector<int64_t> shape = rule.shape;
  static const AxisWindow kNone;
  for (size_t d = 0; d < rule.axisOfDim.size(); ++d) {
    int a = rule.axisOfDim[d];
    if (a < 0 || degree[d] <= 1)
      continue;
    const AxisWindow &w = rule.windows.empty() ? kNone : rule.windows[a];
    int64_t best = 0;
    for (int64_t i = 0; i < degree[d]; ++i) {
      int64_t lo, hi;
      axisInterval(dims[d].size, degree[d], i, w, rule.shape[a], lo, hi);
      best = std::max(best, hi - lo);
    }
    shape[a] = best;
  }
  return shape;
}

//===----------------------------------------------------------------------===//
// Rules
//===----------------------------------------------------------------------===//

namespace {

bool isOneOf(const std::string &kind, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (kind == n)
      return true;
  return false;
}

/// Ops whose operands relate to the result through axis 0 only.
bool isBatchOnlyKind(const std::string &kind) {
  return isOneOf(kind, {"reshape", "flatten", "transpose", "concat", "split",
                        "slice", "reduce_sum", "reduce_mean", "reduce_max",
                        "topk_gate", "softmax_cross_entropy", "mse_loss",
                        "embedding", "experts"});
}

int dimIndex(const OpNode &op, const std::string &name) {
  for (size_t d = 0; d < op.dims.size(); ++d)
    if (op.dims[d].name == name)
      return static_cast<int>(d);
  return -1;
}

/// Sets the axis of the named dim, when the op has it and the axis exists.
void setAxis(const OpNode &op, TensorRule &t, const std::string &dim, int axis) {
  int d = dimIndex(op, dim);
  if (d >= 0 && axis >= 0 && axis < static_cast<int>(t.shape.size()))
    t.axisOfDim[d] = axis;
}

/// The generic operand layout (see the header).
TensorRule genericOperand(const OpNode &op, const TensorInfo &t) {
  TensorRule r{t.shape, t.dtype, std::vector<int>(op.dims.size(), kReplicated), {}};
  if (op.results.empty())
    return r;
  const std::vector<int64_t> &res = op.results[0].shape;
  int R = static_cast<int>(res.size()), Ro = static_cast<int>(t.shape.size());
  bool batchOnly = isBatchOnlyKind(op.kind);
  for (size_t d = 0; d < op.dims.size(); ++d) {
    const ParallelDim &dim = op.dims[d];
    int64_t ra = dim.resultAxis;
    if (ra < 0 || batchOnly) {
      // Only a sample dim maps, onto a leading axis of the same size.
      if (dim.tag == DimTag::Sample && (ra <= 0) && Ro > 0 &&
          t.shape[0] == dim.size)
        r.axisOfDim[d] = 0;
      continue;
    }
    int cand = static_cast<int>(ra) - (R - Ro);
    if (cand >= 0 && cand < Ro && ra < R && t.shape[cand] == res[ra])
      r.axisOfDim[d] = cand;
  }
  return r;
}

TensorRule blank(const OpNode &op, const TensorInfo &t) {
  return TensorRule{t.shape, t.dtype,
                    std::vector<int>(op.dims.size(), kReplicated), {}};
}

} // namespace

OpShardingRule shardingRule(const OpNode &op) {
  OpShardingRule rule;
  const size_t nd = op.dims.size();
  const std::string &k = op.kind;
  rule.isGemm = isOneOf(k, {"linear", "matmul", "conv2d", "attention", "lstm",
                            "experts"});

  // Results: dims with a result axis split it; dims without make partial
  // sums (reduction dims, the loss's batch, the experts' expert dim).
  for (size_t r = 0; r < op.results.size(); ++r) {
    const TensorInfo &t = op.results[r];
    TensorRule tr{t.shape, t.dtype, std::vector<int>(nd, kReplicated), {}};
    for (size_t d = 0; d < nd; ++d) {
      int64_t ra = op.dims[d].resultAxis;
      if (ra < 0)
        tr.axisOfDim[d] = kPartial;
      else if (ra < static_cast<int64_t>(t.shape.size()))
        tr.axisOfDim[d] = static_cast<int>(ra);
    }
    rule.results.push_back(std::move(tr));
  }

  for (size_t j = 0; j < op.operands.size(); ++j)
    rule.operands.push_back(genericOperand(op, op.operands[j].tensor));
  auto rank = [&](size_t j) {
    return static_cast<int>(op.operands[j].tensor.shape.size());
  };
  auto operand = [&](size_t j) -> TensorRule & { return rule.operands[j]; };
  const size_t n = op.operands.size();

  if (k == "linear" && n >= 2) {
    // input [..., K]: data dims as the result, `in` on K, whole along `out`.
    TensorRule &x = operand(0);
    x = blank(op, op.operands[0].tensor);
    for (size_t d = 0; d < nd; ++d) {
      const ParallelDim &dim = op.dims[d];
      if (dim.name == "in")
        x.axisOfDim[d] = rank(0) - 1;
      else if (dim.name != "out" && dim.resultAxis >= 0)
        x.axisOfDim[d] = static_cast<int>(dim.resultAxis);
    }
    operand(1) = blank(op, op.operands[1].tensor); // W [K, N]
    setAxis(op, operand(1), "in", 0);
    setAxis(op, operand(1), "out", 1);
    if (n >= 3) {
      operand(2) = blank(op, op.operands[2].tensor); // bias [N]
      setAxis(op, operand(2), "out", 0);
    }
  } else if (k == "matmul" && n == 2) {
    // Batch dims right-aligned (broadcast-aware, from the generic rule);
    // m and k on the lhs, k and n on the rhs.
    for (size_t j = 0; j < 2; ++j)
      for (size_t d = 0; d < nd; ++d) {
        const std::string &name = op.dims[d].name;
        if (name == "m" || name == "n" || name == "k")
          operand(j).axisOfDim[d] = kReplicated;
      }
    setAxis(op, operand(0), "m", rank(0) - 2);
    setAxis(op, operand(0), "k", rank(0) - 1);
    setAxis(op, operand(1), "k", rank(1) - 2);
    setAxis(op, operand(1), "n", rank(1) - 1);
  } else if ((k == "conv2d" || k == "pool2d") && n >= 1 && rank(0) == 4) {
    TensorRule &x = operand(0);
    x = blank(op, op.operands[0].tensor);
    setAxis(op, x, "batch", 0);
    setAxis(op, x, k == "conv2d" ? "cin" : "c", 1);
    setAxis(op, x, "h", 2);
    setAxis(op, x, "w", 3);
    std::vector<int64_t> kernel, strides, dil;
    if (k == "conv2d") {
      const auto &ws = n >= 2 ? op.operands[1].tensor.shape
                              : std::vector<int64_t>{1, 1, 1, 1};
      kernel = {ws.size() == 4 ? ws[2] : 1, ws.size() == 4 ? ws[3] : 1};
      strides = attributeInts(op.attributes, "strides", {1, 1});
      dil = attributeInts(op.attributes, "dilations", {1, 1});
    } else {
      kernel = attributeInts(op.attributes, "kernel", {1, 1});
      strides = attributeInts(op.attributes, "strides", kernel);
      dil = attributeInts(op.attributes, "dilations", {1, 1});
    }
    std::vector<int64_t> pad = attributeInts(op.attributes, "padding", {0, 0, 0, 0});
    if (kernel.size() == 2 && strides.size() == 2 && dil.size() == 2 &&
        pad.size() == 4) {
      x.windows.assign(4, AxisWindow{});
      for (int a = 0; a < 2; ++a)
        x.windows[2 + a] = AxisWindow{strides[a], pad[a],
                                      dil[a] * (kernel[a] - 1) + 1};
    }
    if (k == "conv2d" && n >= 2) {
      operand(1) = blank(op, op.operands[1].tensor); // [O, C/g, KH, KW]
      setAxis(op, operand(1), "cout", 0);
      setAxis(op, operand(1), "cin", 1);
      if (n >= 3) {
        operand(2) = blank(op, op.operands[2].tensor);
        setAxis(op, operand(2), "cout", 0);
      }
    }
  } else if (k == "batch_norm" && n == 3) {
    for (size_t j = 1; j < 3; ++j) {
      operand(j) = blank(op, op.operands[j].tensor);
      setAxis(op, operand(j), "c", 0);
    }
    const std::vector<int64_t> &scale = op.operands[1].tensor.shape;
    if (scale.size() == 1) {
      OpShardingRule::InnerCollective stats{
          Collective::AllReduce,
          TensorRule{{2, scale[0]}, DType::F64,
                     std::vector<int>(nd, kReplicated), {}},
          std::vector<char>(nd, 1), true};
      setAxis(op, stats.tensor, "c", 1);
      if (int c = dimIndex(op, "c"); c >= 0)
        stats.over[c] = 0;
      rule.collectives.push_back(std::move(stats));
    }
  } else if (k == "embedding" && n == 2) {
    // indices [...]: batch and d<i> on the same axes; table [V, D].
    TensorRule &ids = operand(0);
    ids = blank(op, op.operands[0].tensor);
    for (size_t d = 0; d < nd; ++d)
      if (op.dims[d].name != "dim" && op.dims[d].name != "vocab" &&
          op.dims[d].resultAxis >= 0 && op.dims[d].resultAxis < rank(0))
        ids.axisOfDim[d] = static_cast<int>(op.dims[d].resultAxis);
    operand(1) = blank(op, op.operands[1].tensor);
    setAxis(op, operand(1), "vocab", 0);
    setAxis(op, operand(1), "dim", 1);
  } else if (k == "attention" && n >= 7) {
    // query [B, S, E] split by batch and seq; key and value whole along seq
    // (every query attends to every key); projections split by heads:
    // columns of wq, wk, wv (and their biases), rows of wo.
    for (size_t j = 0; j < n; ++j)
      operand(j) = blank(op, op.operands[j].tensor);
    setAxis(op, operand(0), "batch", 0);
    setAxis(op, operand(0), "seq", 1);
    setAxis(op, operand(1), "batch", 0);
    setAxis(op, operand(2), "batch", 0);
    for (size_t j = 3; j < 6; ++j)
      setAxis(op, operand(j), "heads", 1);
    setAxis(op, operand(6), "heads", 0);
    for (size_t j = 7; j < std::min<size_t>(n, 10); ++j)
      setAxis(op, operand(j), "heads", 0);
  } else if (k == "lstm" && n >= 3) {
    for (size_t j = 0; j < n; ++j)
      operand(j) = blank(op, op.operands[j].tensor);
    setAxis(op, operand(0), "batch", 0);
    setAxis(op, operand(1), "hidden", 1);
    setAxis(op, operand(2), "hidden", 1);
    if (n >= 4)
      setAxis(op, operand(3), "hidden", 0);
    rule.recurrentDim = dimIndex(op, "hidden");
    rule.recurrentSteps = rank(0) >= 2 ? op.operands[0].tensor.shape[1] : 0;
  } else if (k == "softmax_cross_entropy" && n >= 3) {
    // The class weights [C] are whole on every shard (the generic rule
    // would split them along a batch of the same size).
    operand(2) = blank(op, op.operands[2].tensor);
  } else if (k == "experts" && n >= 5) {
    // Tokens split by batch and whole along `expert`; the expert weights
    // split by expert; the output is a partial sum over the expert shards.
    for (size_t j = 0; j < n; ++j)
      operand(j) = blank(op, op.operands[j].tensor);
    for (size_t j = 0; j < 3; ++j)
      setAxis(op, operand(j), "batch", 0);
    setAxis(op, operand(3), "expert", 0);
    setAxis(op, operand(4), "expert", 0);
    // Token shards apply the capacity as one device would: each gathers
    // every token shard's count of tokens per expert.
    const std::vector<int64_t> &w = op.operands[3].tensor.shape;
    if (int b = dimIndex(op, "batch"); b >= 0 && !w.empty()) {
      OpShardingRule::InnerCollective counts{
          Collective::AllGather,
          TensorRule{{w[0]}, DType::I64, std::vector<int>(nd, kReplicated),
                     {}},
          std::vector<char>(nd, 0), false};
      counts.over[b] = 1;
      rule.collectives.push_back(std::move(counts));
    }
  }
  return rule;
}

} // namespace soap
