//===- Baselines.cpp - data-parallel, owt, megatron, gnmt -----------------===//
#include "soap/Search/Baselines.h"

#include <algorithm>
#include <numeric>

namespace soap {

std::vector<std::string> baselineNames() {
  return {"data-parallel", "owt", "megatron", "gnmt"};
}

/// The largest degree <= want that divides both `size` and `want`.
static int64_t fit(int64_t want, int64_t size) {
  return std::gcd(want, size);
}

static const ParallelDim *sampleDim(const OpNode &op) {
  for (const ParallelDim &d : op.dims)
    if (d.tag == DimTag::Sample)
      return &d;
  return nullptr;
}

/// Ops whose value passes through unchanged in layout (elementwise and the
/// like): a split along a feature dim of their input carries over.
static bool isPointwise(const std::string &kind) {
  static const char *const kinds[] = {
      "relu", "gelu", "sigmoid", "tanh", "exp",     "log",       "neg",
      "sqrt", "erf",  "add",     "sub",  "mul",     "div",       "dropout",
      "softmax", "layer_norm", "batch_norm", "equal", "less",
      "less_equal", "greater", "greater_equal", "and", "or", "xor", "not",
      "dropout_mask"};
  return std::find(std::begin(kinds), std::end(kinds), kind) != std::end(kinds);
}

/// The producer op of operand 0 (the data input), or -1.
static int dataProducer(const OpGraph &g, int op) {
  const OpNode &n = g.ops[op];
  for (const Operand &o : n.operands)
    if (o.source == OperandSource::Op && !o.isParameter)
      return o.producer;
  return -1;
}

static Strategy owt(const OpGraph &g, int64_t devices) {
  Strategy s = dataParallelStrategy(g, devices);
  // Feature-split degree of each op in the model-parallel region (0: none).
  std::vector<int64_t> featureSplit(g.ops.size(), 0);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpNode &op = g.ops[i];
    if (op.kind == "linear") {
      const ParallelDim *out = op.findDim("out");
      int64_t d = fit(devices, out->size);
      if (d > 1) {
        s.configs[i] = ParallelConfig{{{"out", d}}, 0, {}};
        featureSplit[i] = d;
      }
      continue;
    }
    int p = dataProducer(g, static_cast<int>(i));
    if (p < 0 || !featureSplit[p] || !isPointwise(op.kind) ||
        op.results.empty())
      continue;
    // Keep the producer's feature split on the last axis.
    std::string last = "d" + std::to_string(op.results[0].shape.size() - 1);
    const ParallelDim *dim = op.findDim(last);
    if (dim && dim->size % featureSplit[p] == 0) {
      s.configs[i] = ParallelConfig{{{last, featureSplit[p]}}, 0, {}};
      featureSplit[i] = featureSplit[p];
    }
  }
  return s;
}

static Expected<Strategy> megatron(const OpGraph &g, int64_t devices,
                                   int64_t tp) {
  if (tp < 1 || devices % tp != 0)
    return Error{"megatron: the tensor-parallel degree " + std::to_string(tp) +
                 " does not divide the " + std::to_string(devices) +
                 " devices"};
  const int64_t dp = devices / tp;
  // Column-parallel linears whose output reaches a row-parallel one through
  // pointwise ops only (the MLP's two linears; q/k/v and output projections).
  std::vector<int> role(g.ops.size(), 0); // 1 column, 2 row
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].kind != "linear")
      continue;
    int p = dataProducer(g, static_cast<int>(i));
    while (p >= 0 && isPointwise(g.ops[p].kind) && g.ops[p].kind != "layer_norm")
      p = dataProducer(g, p);
    if (p >= 0 && g.ops[p].kind == "linear" && role[p] == 0) {
      role[p] = 1;
      role[i] = 2;
    }
  }

  Strategy s;
  s.configs.resize(g.ops.size());
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpNode &op = g.ops[i];
    const ParallelDim *sample = sampleDim(op);
    int64_t b = sample ? fit(dp, sample->size) : 1;
    // The model-parallel dim of this op and its degree.
    std::string mpDim;
    if (op.kind == "attention")
      mpDim = "heads";
    else if (op.kind == "linear")
      mpDim = role[i] == 2 ? "in" : "out";
    else if (op.kind == "embedding")
      mpDim = "vocab";
    else if (op.kind == "matmul" && op.findDim("d1"))
      mpDim = "d1"; // the heads axis of [B, heads, S, S] products
    else if (op.findDim("d1"))
      mpDim = "d1"; // sequence parallelism
    int64_t t = 1;
    if (const ParallelDim *d = mpDim.empty() ? nullptr : op.findDim(mpDim))
      t = fit(tp, d->size);
    ParallelConfig c;
    // Data parallel across tensor-parallel groups of tp consecutive devices.
    if (b > 1)
      c.degrees.push_back({sample->name, b});
    if (t > 1)
      c.degrees.push_back({mpDim, t});
    if (b > 1 && t > 1)
      c.strides = {tp, 1};
    else if (b > 1)
      c.strides = {tp};
    s.configs[i] = std::move(c);
  }
  return s;
}

static Expected<Strategy> gnmt(const OpGraph &g, int64_t devices) {
  Strategy s;
  s.configs.resize(g.ops.size());
  int64_t layer = 0;
  bool any = false;
  std::vector<int64_t> device(g.ops.size(), 0);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].kind == "lstm") {
      device[i] = layer++ % devices;
      any = true;
    } else {
      int p = dataProducer(g, static_cast<int>(i));
      device[i] = p >= 0 ? device[p] : 0;
    }
    s.configs[i].start = device[i];
  }
  if (!any)
    return Error{"gnmt: the model has no LSTM layer to place"};
  return s;
}

Expected<Strategy> makeBaseline(const std::string &name, const OpGraph &graph,
                                const BaselineOptions &o) {
  const int64_t devices = o.nodes * o.devicesPerNode;
  if (name == "data-parallel")
    return dataParallelStrategy(graph, devices);
  if (name == "owt")
    return owt(graph, devices);
  if (name == "megatron") {
    Expected<Strategy> s = megatron(
        graph, o.numDevices > 0 ? o.numDevices : devices,
        o.tensorParallel > 0 ? o.tensorParallel : o.devicesPerNode);
    if (s && o.firstDevice != 0)
      for (ParallelConfig &c : s->configs)
        c.start += o.firstDevice;
    return s;
  }
  if (name == "gnmt")
    return gnmt(graph, devices);
  std::string known;
  for (const std::string &n : baselineNames())
    known += (known.empty() ? "" : ", ") + n;
  return Error{"unknown baseline '" + name + "' (known: " + known + ")"};
}

std::string expertBaselineFor(const OpGraph &graph) {
  bool attention = false, lstm = false, conv = false, linear = false;
  for (const OpNode &op : graph.ops) {
    attention |= op.kind == "attention" || op.kind == "embedding";
    lstm |= op.kind == "lstm";
    conv |= op.kind == "conv2d";
    linear |= op.kind == "linear";
  }
  if (lstm)
    return "gnmt";
  if (attention)
    return "megatron";
  if (conv && linear)
    return "owt";
  return "data-parallel";
}

} // namespace soap
