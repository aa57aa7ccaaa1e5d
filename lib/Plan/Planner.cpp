//===- Planner.cpp - OpGraph + Strategy -> per-device plan ----------------===//
//
// One global walk over the simulator's task graph emits every rank's tasks:
// for each op in order, its operands' transfers, its forward kernels and the
// all-reduce of its partial sums; then, in reverse, its backward kernels, the
// gradient transfers of its operands, the gradient all-reduce of its weights
// and their update. A rank's list is the subsequence of this walk that it
// takes part in, so every rank meets its sends, receives and collectives in
// one global order, which is what makes the plan deadlock-free even with
// blocking communication (docs/lowering.md).
//
// With micro-batches (and pipeline stages) the walk is cut into units, the
// forward or backward of one stage for one micro-batch, emitted in one
// global order that realizes the schedule; each unit walks its stage's ops
// as above on that micro-batch's slice of the batch.
//
//===----------------------------------------------------------------------===//
#include "soap/Plan/Planner.h"
#include "soap/Simulator/Pipeline.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace soap {

//===----------------------------------------------------------------------===//
// Shard grids and tensor shardings
//===----------------------------------------------------------------------===//

Expected<ShardGrid> resolveShardGrid(const OpNode &op,
                                     const ParallelConfig &config,
                                     int64_t numRanks) {
  ResolvedConfig rc;
  std::string problem =
      resolveConfig(op, config, numRanks, rc,
                    "the plan's " + std::to_string(numRanks) + " ranks");
  if (!problem.empty())
    return Error{problem};
  ShardGrid g;
  g.degree = std::move(rc.degree);
  g.stride = std::move(rc.stride);
  g.start = rc.start;
  g.devices = std::move(rc.devices);
  const size_t nd = op.dims.size();
  for (int64_t s = 0; s < rc.shards; ++s)
    g.coords.emplace_back(rc.coords.begin() + s * nd,
                          rc.coords.begin() + (s + 1) * nd);
  return g;
}

static bool sameWindow(const AxisWindow &a, const AxisWindow &b) {
  return a.stride == b.stride && a.pad == b.pad && a.span == b.span;
}

bool TensorSharding::operator==(const TensorSharding &o) const {
  if (axisDegree != o.axisDegree || partial != o.partial ||
      replicas != o.replicas || windows.size() != o.windows.size())
    return false;
  for (size_t a = 0; a < windows.size(); ++a)
    if (!sameWindow(windows[a], o.windows[a]))
      return false;
  return true;
}

std::string TensorSharding::str() const {
  std::ostringstream os;
  os << '[';
  for (size_t a = 0; a < axisDegree.size(); ++a) {
    os << (a ? ", " : "") << axisDegree[a];
    if (a < windows.size() && windows[a].span > 0)
      os << "{halo " << windows[a].stride << '/' << windows[a].pad << '/'
         << windows[a].span << '}';
  }
  os << ']';
  if (partial > 1)
    os << " partial " << partial;
  if (replicas > 1)
    os << " replicas " << replicas;
  return os.str();
}

TensorSharding tensorSharding(const TensorRule &rule, const ShardGrid &grid) {
  TensorSharding t;
  const size_t rank = rule.shape.size();
  t.axisDegree.assign(rank, 1);
  t.windows.assign(rank, AxisWindow{});
  for (size_t d = 0; d < grid.degree.size() && d < rule.axisOfDim.size(); ++d) {
    int64_t deg = grid.degree[d];
    if (deg <= 1)
      continue;
    int a = rule.axisOfDim[d];
    if (a >= 0) {
      t.axisDegree[a] *= deg;
      if (!rule.windows.empty() && rule.windows[a].span > 0)
        t.windows[a] = rule.windows[a];
    } else if (a == kPartial) {
      t.partial *= deg;
    } else {
      t.replicas *= deg;
    }
  }
  return t;
}

std::pair<int64_t, int64_t> replicatedFlops(const OpNode &op,
                                            const ShardGrid &grid) {
  if (op.kind != "attention" || op.operands.size() < 7)
    return {0, 0};
  int64_t q = 1;
  for (size_t d = 0; d < op.dims.size(); ++d)
    if (op.dims[d].name == "seq")
      q = grid.degree[d];
  if (q <= 1)
    return {0, 0};
  const auto &k = op.operands[1].tensor.shape, &v = op.operands[2].tensor.shape;
  const auto &wk = op.operands[4].tensor.shape;
  if (k.size() != 3 || v.size() != 3 || wk.size() != 2)
    return {0, 0};
  int64_t p = wk[1];
  int64_t macs = k[0] * k[1] * (k[2] + v[2]) * p;
  int64_t bias = op.operands.size() >= 11 ? 2 * k[0] * k[1] * p : 0;
  return {(q - 1) * (2 * macs + bias), (q - 1) * (4 * macs + bias)};
}

//===----------------------------------------------------------------------===//
// The builder
//===----------------------------------------------------------------------===//

namespace {


/// A box of a tensor: [lo, hi) per axis (empty vectors for rank 0).
struct Box {
  std::vector<int64_t> lo, hi;
  int64_t volume() const {
    int64_t n = 1;
    for (size_t a = 0; a < lo.size(); ++a)
      n *= std::max<int64_t>(0, hi[a] - lo[a]);
    return n;
  }
  std::vector<int64_t> shape() const {
    std::vector<int64_t> s(lo.size());
    for (size_t a = 0; a < lo.size(); ++a)
      s[a] = hi[a] - lo[a];
    return s;
  }
  bool operator==(const Box &o) const { return lo == o.lo && hi == o.hi; }
  bool operator<(const Box &o) const {
    return lo != o.lo ? lo < o.lo : hi < o.hi;
  }
};

Box intersect(const Box &a, const Box &b) {
  Box r = a;
  for (size_t i = 0; i < a.lo.size(); ++i) {
    r.lo[i] = std::max(a.lo[i], b.lo[i]);
    r.hi[i] = std::min(a.hi[i], b.hi[i]);
    if (r.hi[i] < r.lo[i])
      r.hi[i] = r.lo[i];
  }
  return r;
}

PlanRegion regionOf(const Box &piece, const Box &within) {
  PlanRegion r;
  for (size_t a = 0; a < piece.lo.size(); ++a) {
    r.offset.push_back(piece.lo[a] - within.lo[a]);
    r.shape.push_back(piece.hi[a] - piece.lo[a]);
  }
  return r;
}

/// A shard's copy of (a box of) a tensor.
struct Holder {
  int rank;
  int buffer;
  Box box;
  /// Holders with equal keys hold the same values (replicas).
  std::vector<int64_t> key;
};

/// A shard that needs a box of a tensor in its buffer.
struct Needer {
  int rank;
  int buffer;
  Box box;
  int64_t index; ///< its shard index (spreads the choice among replicas)
};

/// Where the tasks of a transfer belong.
struct Context {
  Phase phase;
  std::string op;
  std::string stage;
  int edge = -1;
};

/// Parses the canonical attribute text of an OpNode
/// ("axis=-1,kernel=array<i64: 2, 2>,ratio=1.000000e-01") into attributes.
std::map<std::string, PlanAttr> parseAttributes(const std::string &text) {
  std::map<std::string, PlanAttr> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t eq = text.find('=', i);
    if (eq == std::string::npos)
      break;
    std::string name = text.substr(i, eq - i);
    int depth = 0;
    bool quoted = false;
    size_t j = eq + 1;
    for (; j < text.size(); ++j) {
      char c = text[j];
      if (c == '"' && (j == 0 || text[j - 1] != '\\'))
        quoted = !quoted;
      if (quoted)
        continue;
      if (c == '<' || c == '[' || c == '(' || c == '{')
        ++depth;
      else if (c == '>' || c == ']' || c == ')' || c == '}')
        --depth;
      else if (c == ',' && depth == 0)
        break;
    }
    std::string value = text.substr(eq + 1, j - eq - 1);
    i = j + 1;
    if (value == "unit" || value == "true") {
      out[name] = PlanAttr::ofBool(true);
      continue;
    }
    if (value == "false") {
      out[name] = PlanAttr::ofBool(false);
      continue;
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      out[name] = PlanAttr::ofString(value.substr(1, value.size() - 2));
      continue;
    }
    if (value.rfind("array<", 0) == 0) {
      size_t colon = value.find(':');
      bool isFloatArray = value.rfind("array<f", 0) == 0;
      std::vector<int64_t> ints;
      std::vector<double> floats;
      if (colon != std::string::npos) {
        std::string body = value.substr(colon + 1, value.size() - colon - 2);
        std::stringstream ss(body);
        std::string item;
        while (std::getline(ss, item, ',')) {
          if (isFloatArray)
            floats.push_back(std::strtod(item.c_str(), nullptr));
          else
            ints.push_back(std::strtoll(item.c_str(), nullptr, 10));
        }
      }
      out[name] = isFloatArray ? PlanAttr::ofFloats(std::move(floats))
                               : PlanAttr::ofInts(std::move(ints));
      continue;
    }
    char *end = nullptr;
    long long iv = std::strtoll(value.c_str(), &end, 10);
    if (!value.empty() && end == value.c_str() + value.size()) {
      out[name] = PlanAttr::ofInt(iv);
      continue;
    }
    double dv = std::strtod(value.c_str(), &end);
    if (!value.empty() && end == value.c_str() + value.size()) {
      out[name] = PlanAttr::ofFloat(dv);
      continue;
    }
    out[name] = PlanAttr::ofString(value);
  }
  return out;
}

/// Operands that a partial-sum result adds once: the bias of a product.
/// With the op split along a dim that makes the result partial, only the
/// shard at coordinate 0 of that dim passes them.
bool isAdditiveOperand(const std::string &kind, size_t j) {
  return ((kind == "linear" || kind == "conv2d") && j == 2) ||
         (kind == "attention" && j == 10);
}

class Builder {
public:
  Builder(const OpGraph &g, const Strategy &s, int64_t numRanks,
          const PlanOptions &o)
      : g(g), strategy(s), numRanks(numRanks), opts(o) {}

  Expected<Plan> run(int *failedOp);
  /// The checks of run() that come before any buffer or task.
  std::string refusal(int &failed) {
    std::string problem = setup(failed);
    return problem.empty() ? setupPipeline(failed) : problem;
  }

private:
  // --- setup
  std::string setup(int &failed);
  std::string checkSupported(int i);
  std::string setupPipeline(int &failed);
  int sampleAxis(int op, const TensorRule &rule) const;
  // --- buffers and tasks
  /// A per-micro-batch buffer (every one but weights, their gradients and
  /// optimizer states, and totals) gets the micro-batch in its name.
  int newBuffer(int rank, PlanBuffer b, bool perMicroBatch = true);
  void emit(int rank, PlanTask t) {
    plan.ranks[rank].tasks.push_back(std::move(t));
  }
  int commFor(std::vector<int> ranks);
  Box box(const TensorRule &rule, int op, int64_t shard) const;
  std::vector<int64_t> splitKey(const TensorRule &rule, int op,
                                int64_t shard) const;
  PlanBuffer boxBuffer(const std::string &name, BufferRole role,
                       const TensorRule &rule, const Box &b,
                       const std::string &tensor) const;
  void reshard(const std::vector<Holder> &holders,
               const std::vector<Needer> &needers, bool accumulate,
               DType dtype, const Context &ctx);
  /// The op's shards grouped by their coordinates along the dims not in
  /// `vary` (shards that differ only along `vary`), in key order; a group's
  /// members in shard order, which is its communicator's order.
  std::vector<std::vector<int64_t>>
  shardGroups(int op, const std::vector<char> &vary) const;
  /// The communicator of a group of the op's shards.
  int groupComm(int op, const std::vector<int64_t> &members);
  void allReduceGroups(int op, const std::vector<char> &vary,
                       const std::vector<int> &bufferPerShard,
                       const Context &ctx);
  std::vector<char> replicatedDims(int op, const TensorRule &rule) const;
  std::vector<char> partialDims(int op, const TensorRule &rule) const;
  std::vector<Holder> holdersOf(int op, const TensorRule &rule,
                                const std::vector<int> &buffers) const;

  // --- walk
  void switchTo(int64_t j);
  std::vector<std::pair<int, PipelineTask>> unitOrder(std::string &problem) const;
  std::string forwardUnit(int stage, int &failed);
  void backwardUnit(int stage, bool flush);
  void collectOutputs(int o);
  std::string forwardOperands(int i);
  void forwardKernels(int i, bool again = false);
  void partialSums(int i, bool again = false);
  void backwardKernels(int i);
  void gradientTransfers(int i);
  void weightSyncAndUpdate(int i);
  void zeroGather(int i, Phase phase);
  PlanTask rowCopy(int rank, const PlanTask &base, int src, int64_t srcRow,
                   int dst, int64_t dstRow, int64_t rows) const;
  PlanTask collectiveTask(CollectiveKind kind, const Context &ctx, int comm,
                          int src, int buffer, int64_t transfer) const;
  struct ZeroPart;
  void gatherParts(int rank, const ZeroPart &z, int box, const Context &ctx,
                   int64_t transfer);
  void recomputeRun(int last);
  bool recomputed(int i) const {
    return static_cast<size_t>(i) < strategy.training.recompute.size() &&
           strategy.training.recompute[i];
  }
  int resultGrad(int op, int r, int64_t shard);
  int operandGrad(int op, int j, int64_t shard);
  std::map<std::string, PlanAttr> kernelAttrs(int op, int64_t shard);
  int64_t shareOf(int64_t total, int op, int64_t shard) const;
  std::vector<int> kernelInputs(int op, int64_t shard);

  const OpGraph &g;
  const Strategy &strategy;
  int64_t numRanks;
  const PlanOptions &opts;

  Plan plan;
  std::vector<OpShardingRule> rules;
  std::vector<ShardGrid> grids;
  std::vector<char> needsBackward, isOutput;
  std::vector<std::vector<int>> inEdges, outEdges;
  std::vector<int> duplicateOf;
  /// Edge feeding (op, operand), or -1.
  std::vector<std::vector<int>> edgeOf;
  /// Per weight: its home (op, operand), whether it gets a gradient.
  std::vector<std::pair<int, int>> home;
  std::vector<char> weightHasGrad;
  /// Buffers per [op][result or operand][shard]; -1 where none.
  std::vector<std::vector<std::vector<int>>> resBuf, opndBuf, resGradBuf,
      opndGradBuf;
  /// Per op: extra buffers per shard (batch-norm statistics, expert counts,
  /// saved intermediates), by name.
  std::vector<std::vector<std::map<std::string, int>>> extra;
  /// Per weight and home shard: optimizer state buffers.
  std::vector<std::vector<std::vector<int>>> stateBuf;
  /// ZeRO: per weight and home shard, its part of the shard (docs/lowering.md,
  /// "ZeRO, offload and recomputation"). count 1: not partitioned.
  struct ZeroPart {
    int comm = -1;            ///< the shard's data-parallel group
    int64_t index = 0, count = 1;
    int64_t partRows = 0;     ///< R: rows per part (the last padded)
    int64_t rows = 0;         ///< rows of the box in this part
    int64_t boxRows = 0;      ///< rows of the box
    int part = -1;            ///< weight part (persistent at stage 3)
    int gradPart = -1;        ///< its synchronized gradient
    int gathered = -1;        ///< k * R rows: gather / scatter staging, or
                              ///< -1 when k * R is the box (no padding)
    int gradStaged = -1;      ///< the same for the gradient (stage >= 2)
  };
  std::vector<std::vector<ZeroPart>> zero;
  std::vector<char> recomputeDone;
  std::map<std::vector<int>, int> comms;
  std::map<std::pair<int, int>, int64_t> tags;
  std::vector<std::set<std::string>> names;
  std::map<std::tuple<int, int, std::vector<int64_t>, std::vector<int64_t>>,
           int>
      inputBuf;
  int64_t transfers = 0;

  // --- micro-batches and pipeline stages (docs/lowering.md, "Pipelines")
  /// Micro-batches per step and the one being walked.
  int64_t micro = 1;
  int64_t mb = 0;
  /// The stages (one covering every op without a pipeline).
  std::vector<PipelineStage> stages;
  /// Per op: its sample dim (-1: none; the op then runs whole in every
  /// micro-batch).
  std::vector<int> sampleDim;
  /// Per op and result: a micro-batch's value is a partial sum of the
  /// step's (a loss: its mean divides by the whole batch's count).
  std::vector<std::vector<char>> microPartial;
  /// The per-micro-batch buffer tables of the micro-batches not being
  /// walked (switchTo swaps them with the members).
  struct MicroTables {
    std::vector<std::vector<std::vector<int>>> resBuf, opndBuf, resGradBuf,
        opndGradBuf;
    std::vector<std::vector<std::map<std::string, int>>> extra;
  };
  std::vector<MicroTables> parked;
  /// Walking a stage's last backward: the gradients of weights read away
  /// from their home, summed over the micro-batches, go home now.
  bool flushing = true;
  /// Per plan output: its (op, result); per micro-batch-partial output, the
  /// buffers its micro-batches' values add up in.
  std::vector<std::pair<int, int>> outputOf;
  std::map<std::pair<int, int>, std::vector<int>> totals;
};

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

std::string Builder::checkSupported(int i) {
  return unsupportedSplit(g.ops[i], grids[i].degree);
}

std::string Builder::setup(int &failed) {
  const int n = static_cast<int>(g.ops.size());
  if (strategy.configs.size() != g.ops.size())
    return "the strategy has " + std::to_string(strategy.configs.size()) +
           " configs for " + std::to_string(n) + " ops";
  if (numRanks < 1)
    return "a plan needs at least one rank";
  const TrainingConfig &training = strategy.training;
  if (training.zeroStage < 0 || training.zeroStage > 3)
    return "zero stage " + std::to_string(training.zeroStage) +
           " is not 0, 1, 2 or 3";
  if (!training.recompute.empty() && training.recompute.size() != g.ops.size())
    return "the strategy has " + std::to_string(training.recompute.size()) +
           " recompute flags for " + std::to_string(n) + " ops";
  for (int i = 0; i < n; ++i) {
    Expected<ShardGrid> grid =
        resolveShardGrid(g.ops[i], strategy.configs[i], numRanks);
    if (!grid) {
      failed = i;
      return grid.error();
    }
    grids.push_back(grid.take());
    rules.push_back(shardingRule(g.ops[i]));
    if (rules.back().operands.size() != g.ops[i].operands.size() ||
        rules.back().results.size() != g.ops[i].results.size()) {
      failed = i;
      return "op '" + g.ops[i].name + "': internal error: its sharding rule "
                                      "does not cover its tensors";
    }
    std::string problem = checkSupported(i);
    if (!problem.empty()) {
      failed = i;
      return problem;
    }
  }

  inEdges.assign(n, {});
  outEdges.assign(n, {});
  edgeOf.assign(n, {});
  for (int i = 0; i < n; ++i)
    edgeOf[i].assign(g.ops[i].operands.size(), -1);
  for (int e = 0; e < static_cast<int>(g.edges.size()); ++e) {
    inEdges[g.edges[e].dst].push_back(e);
    outEdges[g.edges[e].src].push_back(e);
    edgeOf[g.edges[e].dst][g.edges[e].dstOperand] = e;
  }
  // The simulator's rules: ops whose result reaches an output need a
  // backward pass; an edge repeating an earlier one into the same op with
  // the same layout (attention's key and value) moves nothing.
  // A forward-only plan has no backward at all.
  if (opts.forwardOnly)
    needsBackward.assign(n, 0);
  else
    needsBackward = g.backwardOps();
  isOutput.assign(n, 0);
  for (int o : g.outputs)
    isOutput[o] = 1;
  duplicateOf.assign(g.edges.size(), -1);
  for (int e = 0; e < static_cast<int>(g.edges.size()); ++e) {
    const Edge &x = g.edges[e];
    const TensorRule &rx = rules[x.dst].operands[x.dstOperand];
    for (int f : inEdges[x.dst]) {
      if (f >= e)
        break;
      const Edge &y = g.edges[f];
      const TensorRule &ry = rules[y.dst].operands[y.dstOperand];
      if (y.src == x.src && y.srcResult == x.srcResult &&
          rx.axisOfDim == ry.axisOfDim &&
          rx.windows.size() == ry.windows.size() &&
          std::equal(rx.windows.begin(), rx.windows.end(), ry.windows.begin(),
                     sameWindow)) {
        duplicateOf[e] = duplicateOf[f] >= 0 ? duplicateOf[f] : f;
        break;
      }
    }
  }

  // Weights: the home of each is its first use; others read copies.
  home.assign(g.weights.size(), {-1, -1});
  weightHasGrad.assign(g.weights.size(), 0);
  for (int i = 0; i < n; ++i)
    for (size_t j = 0; j < g.ops[i].operands.size(); ++j) {
      const Operand &o = g.ops[i].operands[j];
      if (o.source != OperandSource::Weight || o.index < 0 ||
          o.index >= static_cast<int>(g.weights.size()))
        continue;
      if (home[o.index].first < 0)
        home[o.index] = {i, static_cast<int>(j)};
      if (needsBackward[i] && isFloat(o.tensor.dtype))
        weightHasGrad[o.index] = 1;
    }

  // The plan's header.
  plan.modelName = g.modelName;
  plan.modelFingerprint = g.fingerprintHex();
  plan.numRanks = static_cast<int>(numRanks);
  plan.forwardOnly = opts.forwardOnly;
  plan.optimizer = opts.optimizer;
  plan.ranks.resize(numRanks);
  for (int r = 0; r < numRanks; ++r)
    plan.ranks[r].rank = r;
  names.assign(numRanks, {});
  for (const WeightInfo &w : g.weights) {
    PlanWeight pw;
    auto it = opts.weightInits.find(w.name);
    if (it != opts.weightInits.end())
      pw = it->second;
    else
      pw.scale = 0.02;
    pw.name = w.name;
    pw.dtype = w.tensor.dtype;
    pw.shape = w.tensor.shape;
    plan.weights.push_back(std::move(pw));
  }
  for (const InputInfo &in : g.inputs) {
    PlanInput pi;
    pi.name = in.name;
    pi.dtype = in.tensor.dtype;
    pi.shape = in.tensor.shape;
    plan.inputs.push_back(std::move(pi));
  }
  for (const OpNode &op : g.ops)
    for (size_t j = 0; j < op.operands.size(); ++j) {
      const Operand &o = op.operands[j];
      if (o.source != OperandSource::Input || o.index < 0 ||
          o.index >= static_cast<int>(plan.inputs.size()))
        continue;
      PlanInput &pi = plan.inputs[o.index];
      bool isLabel = j == 1 && (op.kind == "softmax_cross_entropy" ||
                                op.kind == "mse_loss");
      if (isLabel)
        pi.role = BufferRole::Label;
      if (pi.range == 0 && j == 1 && op.kind == "softmax_cross_entropy" &&
          !op.operands[0].tensor.shape.empty())
        pi.range = op.operands[0].tensor.shape.back();
      if (pi.range == 0 && j == 0 && op.kind == "embedding" &&
          op.operands.size() >= 2 && !op.operands[1].tensor.shape.empty())
        pi.range = op.operands[1].tensor.shape[0];
    }
  return "";
}

//===----------------------------------------------------------------------===//
// Micro-batches and pipeline stages
//===----------------------------------------------------------------------===//

int Builder::sampleAxis(int op, const TensorRule &rule) const {
  const int d = sampleDim[op];
  if (d < 0 || d >= static_cast<int>(rule.axisOfDim.size()))
    return -1;
  return std::max(rule.axisOfDim[d], -1);
}

std::string Builder::setupPipeline(int &failed) {
  const TrainingConfig &t = strategy.training;
  const int n = static_cast<int>(g.ops.size());
  std::string problem = checkTrainingConfig(g, t, numRanks);
  if (!problem.empty())
    return "the strategy's training options: " + problem;
  micro = t.microBatches;
  stages = t.stages;
  if (stages.empty())
    stages.push_back({0, n - 1, 0, numRanks});
  for (size_t st = 0; st < stages.size(); ++st) {
    const PipelineStage &stage = stages[st];
    for (int i = stage.firstOp; i <= stage.lastOp; ++i)
      for (int64_t dev : grids[i].devices)
        if (dev < stage.firstDevice ||
            dev >= stage.firstDevice + stage.numDevices) {
          failed = i;
          return "op '" + g.ops[i].name + "' of pipeline stage " +
                 std::to_string(st) + " runs on device " +
                 std::to_string(dev) + ", outside the stage's devices " +
                 std::to_string(stage.firstDevice) + ".." +
                 std::to_string(stage.firstDevice + stage.numDevices - 1);
        }
  }
  sampleDim.assign(n, -1);
  microPartial.assign(n, {});
  for (int i = 0; i < n; ++i)
    microPartial[i].assign(g.ops[i].results.size(), 0);
  if (micro == 1)
    return "";

  // Micro-batch j of an op is its sample dim's slice j of m (split further
  // by the config). That is the single-device computation only where the
  // samples are independent, and where producer and consumer cut a tensor
  // along the same axis.
  for (int i = 0; i < n; ++i)
    for (size_t d = 0; d < g.ops[i].dims.size(); ++d)
      if (g.ops[i].dims[d].tag == DimTag::Sample) {
        sampleDim[i] = static_cast<int>(d);
        break;
      }
  const std::string mbs = std::to_string(micro) + " micro-batches";
  for (int i = 0; i < n; ++i) {
    const OpNode &op = g.ops[i];
    const std::string where = "op '" + op.name + "' (" + op.kind + ")";
    failed = i;
    const int d = sampleDim[i];
    if (d >= 0 && op.kind == "batch_norm")
      return where + ": with " + mbs +
             " batch norm would normalize each micro-batch by its own "
             "statistics, not the batch's (use micro_batches 1)";
    if (d >= 0 && op.kind == "experts")
      return where + ": with " + mbs +
             " the expert capacity would apply to each micro-batch's tokens, "
             "not the batch's (use micro_batches 1)";
    if (d >= 0) {
      const int64_t parts = grids[i].degree[d] * micro;
      const ParallelDim &dim = op.dims[d];
      auto indivisible = [&](int64_t size) {
        return where + ": its sample dim '" + dim.name + "' (" +
               std::to_string(size) + ") does not divide into " + mbs +
               " x degree " + std::to_string(grids[i].degree[d]);
      };
      if (dim.size % parts != 0)
        return indivisible(dim.size);
      for (const auto *list : {&rules[i].operands, &rules[i].results})
        for (const TensorRule &r : *list) {
          int a = sampleAxis(i, r);
          if (a >= 0 && r.shape[a] % parts != 0)
            return indivisible(r.shape[a]);
        }
    }
    bool partialIn = false, otherIn = false;
    std::string partialName;
    for (size_t j = 0; j < op.operands.size(); ++j) {
      const Operand &o = op.operands[j];
      if (o.source != OperandSource::Op) {
        otherIn |= isFloat(o.tensor.dtype);
        continue;
      }
      const Edge &e = g.edges[edgeOf[i][j]];
      const std::string tensor =
          g.ops[e.src].name + ":" + std::to_string(e.srcResult);
      if (microPartial[e.src][e.srcResult]) {
        partialIn = true;
        partialName = tensor;
        continue;
      }
      otherIn = true;
      int have = sampleAxis(e.src, rules[e.src].results[e.srcResult]);
      int want = sampleAxis(i, rules[i].operands[j]);
      auto cut = [](int a) {
        return a < 0 ? std::string("whole")
                     : "split along axis " + std::to_string(a);
      };
      if (have != want)
        return where + " reads '" + tensor + "' " + cut(want) + ", but its "
               "producer's micro-batches give it " + cut(have) +
               ": the two ops' sample dims do not agree, so the tensor cannot "
               "be cut into " + mbs;
    }
    if (partialIn) {
      // Sums of micro-batch parts (losses) add up like the parts: a sum of
      // losses is the one combination lowered.
      if (d >= 0 || otherIn || (op.kind != "add" && op.kind != "sub"))
        return where + " reads '" + partialName + "', which each of the " +
               mbs + " holds a part of (a sum over its samples); only add "
               "and sub of such parts are lowered";
      for (auto &p : microPartial[i])
        p = 1;
    } else if (d >= 0) {
      for (size_t r = 0; r < op.results.size(); ++r)
        microPartial[i][r] = rules[i].results[r].axisOfDim[d] == kPartial;
    }
  }
  failed = -1;
  return "";
}

void Builder::switchTo(int64_t j) {
  if (j == mb)
    return;
  auto swapAll = [&](MicroTables &t) {
    std::swap(resBuf, t.resBuf);
    std::swap(opndBuf, t.opndBuf);
    std::swap(resGradBuf, t.resGradBuf);
    std::swap(opndGradBuf, t.opndGradBuf);
    std::swap(extra, t.extra);
  };
  swapAll(parked[mb]); // park the current micro-batch's tables
  swapAll(parked[j]);  // and take j's
  mb = j;
}

std::vector<std::pair<int, PipelineTask>>
Builder::unitOrder(std::string &problem) const {
  // Each stage runs its units in its schedule's order, one at a time; a
  // unit starts when its stage is free and its inputs are there (F(s, j)
  // after F(s-1, j); B(s, j) after F(s, j) and B(s+1, j)), a forward taking
  // 1 and a backward 2 time units, as simulateSchedule runs them. The
  // global order follows these times so that the stages overlap: a forward
  // at its start (its activations' sends, which it holds, then follow the
  // producer's kernels in the producer's list), a backward just before its
  // end (the gradients it sends are ready then); among forwards that start
  // together the later stage first, among backwards the earlier. These keys
  // keep each stage's order and every dependency.
  const int p = static_cast<int>(stages.size());
  std::vector<std::vector<PipelineTask>> order(p);
  for (int s = 0; s < p; ++s)
    order[s] = pipelineStageOrder(s, p, micro, strategy.training.schedule);
  const int64_t unknown = -1;
  std::vector<std::vector<int64_t>> fEnd(p, std::vector<int64_t>(micro, unknown));
  std::vector<std::vector<int64_t>> bEnd = fEnd;
  std::vector<size_t> next(p, 0);
  std::vector<int64_t> clock(p, 0);
  // (time key, tie, position) per unit.
  std::vector<std::tuple<int64_t, int, size_t>> keys;
  std::vector<std::pair<int, PipelineTask>> units;
  const size_t total = 2 * static_cast<size_t>(micro) * p;
  while (units.size() < total) {
    bool progress = false;
    for (int s = 0; s < p; ++s)
      for (; next[s] < order[s].size(); ++next[s]) {
        const PipelineTask &t = order[s][next[s]];
        int64_t ready = 0;
        if (!t.backward && s > 0) {
          if (fEnd[s - 1][t.micro] == unknown)
            break;
          ready = fEnd[s - 1][t.micro];
        } else if (t.backward) {
          if (fEnd[s][t.micro] == unknown ||
              (s + 1 < p && bEnd[s + 1][t.micro] == unknown))
            break;
          ready = std::max(fEnd[s][t.micro],
                           s + 1 < p ? bEnd[s + 1][t.micro] : 0);
        }
        int64_t begin = std::max(clock[s], ready);
        clock[s] = begin + (t.backward ? 2 : 1);
        (t.backward ? bEnd : fEnd)[s][t.micro] = clock[s];
        if (t.backward)
          keys.emplace_back(2 * clock[s] - 1, s, units.size());
        else
          keys.emplace_back(2 * begin, -s, units.size());
        units.emplace_back(s, t);
        progress = true;
      }
    if (!progress) {
      problem = "internal error: the pipeline schedule has a cycle";
      return {};
    }
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::pair<int, PipelineTask>> sorted;
  for (const auto &[key, tie, at] : keys)
    sorted.push_back(units[at]);
  return sorted;
}

std::string Builder::forwardUnit(int s, int &failed) {
  const PipelineStage &st = stages[s];
  for (int i = st.firstOp; i <= st.lastOp; ++i) {
    std::string problem = forwardOperands(i);
    if (!problem.empty()) {
      failed = i;
      return problem;
    }
    forwardKernels(i);
    partialSums(i);
  }
  for (int o = st.firstOp; o <= st.lastOp; ++o)
    if (isOutput[o])
      collectOutputs(o);
  return "";
}

void Builder::collectOutputs(int o) {
  for (size_t k = 0; k < outputOf.size(); ++k) {
    auto [op, r] = outputOf[k];
    if (op != o)
      continue;
    PlanOutput &out = plan.outputs[k];
    const int64_t shards = grids[o].numShards();
    if (micro == 1 || !microPartial[o][r]) {
      // Whole in every micro-batch (the last one's is kept), or split along
      // the batch: every micro-batch's boxes together.
      if (micro == 1 || sampleAxis(o, rules[o].results[r]) < 0)
        out.holders.clear();
      for (int64_t sh = 0; sh < shards; ++sh)
        out.holders.emplace_back(static_cast<int>(grids[o].devices[sh]),
                                 resBuf[o][r][sh]);
      continue;
    }
    // A sum over the samples: the micro-batches' values add up in one
    // buffer per shard, the first copied, the others accumulated.
    auto [it, fresh] = totals.try_emplace({o, r});
    std::vector<int> &sum = it->second;
    if (fresh) {
      const TensorRule &rule = rules[o].results[r];
      for (int64_t sh = 0; sh < shards; ++sh) {
        std::string tensor = g.ops[o].name + ":" + std::to_string(r);
        sum.push_back(newBuffer(static_cast<int>(grids[o].devices[sh]),
                                boxBuffer(tensor + ".total",
                                          BufferRole::Activation, rule,
                                          box(rule, o, sh), tensor),
                                /*perMicroBatch=*/false));
        out.holders.emplace_back(static_cast<int>(grids[o].devices[sh]),
                                 sum.back());
      }
    } else if (out.holders.empty()) {
      for (int64_t sh = 0; sh < shards; ++sh)
        out.holders.emplace_back(static_cast<int>(grids[o].devices[sh]),
                                 sum[sh]);
    }
    if (k != static_cast<size_t>(std::find(outputOf.begin(), outputOf.end(),
                                           outputOf[k]) -
                                 outputOf.begin()))
      continue; // an output listed twice adds up once
    for (int64_t sh = 0; sh < shards; ++sh) {
      const PlanBuffer &b =
          plan.ranks[grids[o].devices[sh]].buffers[resBuf[o][r][sh]];
      PlanRegion all;
      all.offset.assign(b.shape.size(), 0);
      all.shape = b.shape;
      PlanTask c;
      c.type = TaskType::Copy;
      c.phase = Phase::Forward;
      c.op = g.ops[o].name;
      c.stage = "partial-sum";
      c.transfer = transfers++;
      c.src = resBuf[o][r][sh];
      c.srcRegion = all;
      c.buffer = sum[sh];
      c.region = all;
      c.accumulate = mb > 0;
      emit(static_cast<int>(grids[o].devices[sh]), std::move(c));
    }
  }
}

void Builder::backwardUnit(int s, bool flush) {
  const PipelineStage &st = stages[s];
  flushing = flush;
  // The outputs' gradients are one (the step minimizes their sum): in every
  // micro-batch for a part of the batch, once for a value every
  // micro-batch computes whole.
  for (int o : g.outputs) {
    if (o < st.firstOp || o > st.lastOp)
      continue;
    for (size_t r = 0; r < g.ops[o].results.size(); ++r) {
      if (!isFloat(g.ops[o].results[r].dtype))
        continue;
      if (mb > 0 && !microPartial[o][r] &&
          sampleAxis(o, rules[o].results[r]) < 0)
        continue;
      for (int64_t sh = 0; sh < grids[o].numShards(); ++sh) {
        PlanTask t;
        t.type = TaskType::Fill;
        t.phase = Phase::Backward;
        t.op = g.ops[o].name;
        t.stage = "backward";
        t.buffer = resultGrad(o, static_cast<int>(r), sh);
        t.value = 1.0;
        emit(static_cast<int>(grids[o].devices[sh]), std::move(t));
      }
    }
  }
  for (int i = st.lastOp; i >= st.firstOp; --i) {
    if (needsBackward[i]) {
      backwardKernels(i);
      gradientTransfers(i);
    }
    // After the stage's last backward: its weights' gradients are complete.
    if (flush)
      weightSyncAndUpdate(i);
  }
}

//===----------------------------------------------------------------------===//
// Buffers, communicators, boxes
//===----------------------------------------------------------------------===//

int Builder::newBuffer(int rank, PlanBuffer b, bool perMicroBatch) {
  RankPlan &r = plan.ranks[rank];
  if (micro > 1 && perMicroBatch && b.role != BufferRole::Weight &&
      b.role != BufferRole::OptimizerState && b.role != BufferRole::State)
    b.name += "@" + std::to_string(mb);
  b.id = static_cast<int>(r.buffers.size());
  std::string base = b.name;
  for (int k = 2; !names[rank].insert(b.name).second; ++k)
    b.name = base + "#" + std::to_string(k);
  r.buffers.push_back(std::move(b));
  return r.buffers.back().id;
}

int Builder::commFor(std::vector<int> ranks) {
  auto it = comms.find(ranks);
  if (it != comms.end())
    return it->second;
  int id = static_cast<int>(plan.communicators.size());
  plan.communicators.push_back({id, ranks});
  comms.emplace(std::move(ranks), id);
  return id;
}

Box Builder::box(const TensorRule &rule, int op, int64_t shard) const {
  Box b;
  const int d = micro > 1 ? sampleDim[op] : -1;
  if (d < 0) {
    tensorBox(rule, g.ops[op].dims, grids[op].degree, grids[op].coords[shard],
              b.lo, b.hi);
    return b;
  }
  // Micro-batch mb of shard c along the sample dim is piece mb * degree + c
  // of degree * micro: the micro-batch's slice of the batch, split as the
  // config splits the whole batch.
  std::vector<int64_t> degree = grids[op].degree;
  std::vector<int64_t> coord = grids[op].coords[shard];
  coord[d] += mb * degree[d];
  degree[d] *= micro;
  tensorBox(rule, g.ops[op].dims, degree, coord, b.lo, b.hi);
  return b;
}

std::vector<int64_t> Builder::splitKey(const TensorRule &rule, int op,
                                       int64_t shard) const {
  std::vector<int64_t> key;
  const ShardGrid &grid = grids[op];
  for (size_t d = 0; d < grid.degree.size(); ++d)
    if (grid.degree[d] > 1 && rule.axisOfDim[d] >= 0)
      key.push_back(grid.coords[shard][d]);
  return key;
}

PlanBuffer Builder::boxBuffer(const std::string &name, BufferRole role,
                              const TensorRule &rule, const Box &b,
                              const std::string &tensor) const {
  PlanBuffer buf;
  buf.name = name;
  buf.role = role;
  buf.dtype = rule.dtype;
  buf.shape = b.shape();
  buf.tensor = tensor;
  buf.globalShape = rule.shape;
  buf.offset = b.lo;
  return buf;
}

std::vector<char> Builder::replicatedDims(int op, const TensorRule &rule) const {
  std::vector<char> vary(grids[op].degree.size(), 0);
  for (size_t d = 0; d < vary.size(); ++d)
    vary[d] = grids[op].degree[d] > 1 && rule.axisOfDim[d] == kReplicated;
  return vary;
}

std::vector<char> Builder::partialDims(int op, const TensorRule &rule) const {
  std::vector<char> vary(grids[op].degree.size(), 0);
  for (size_t d = 0; d < vary.size(); ++d)
    vary[d] = grids[op].degree[d] > 1 && rule.axisOfDim[d] == kPartial;
  return vary;
}

std::vector<Holder> Builder::holdersOf(int op, const TensorRule &rule,
                                       const std::vector<int> &buffers) const {
  std::vector<Holder> hs;
  for (int64_t s = 0; s < grids[op].numShards(); ++s)
    hs.push_back({static_cast<int>(grids[op].devices[s]), buffers[s],
                  box(rule, op, s), splitKey(rule, op, s)});
  return hs;
}

void Builder::reshard(const std::vector<Holder> &holders,
                      const std::vector<Needer> &needers, bool accumulate,
                      DType dtype, const Context &ctx) {
  // Replica groups, in the order of their first holder.
  std::vector<std::vector<int>> groups;
  std::map<std::vector<int64_t>, size_t> groupOf;
  for (size_t h = 0; h < holders.size(); ++h) {
    auto [it, inserted] = groupOf.emplace(holders[h].key, groups.size());
    if (inserted)
      groups.emplace_back();
    groups[it->second].push_back(static_cast<int>(h));
  }
  const int64_t perNode = opts.devicesPerNode > 0 ? opts.devicesPerNode
                                                  : numRanks;
  const int64_t transfer = transfers++;
  for (const Needer &t : needers) {
    const PlanBuffer &dst = plan.ranks[t.rank].buffers[t.buffer];
    Box dstBox{dst.offset, dst.offset};
    for (size_t a = 0; a < dst.offset.size(); ++a)
      dstBox.hi[a] = dst.offset[a] + dst.shape[a];
    for (const std::vector<int> &group : groups) {
      Box piece = intersect(t.box, holders[group[0]].box);
      if (piece.volume() == 0)
        continue;
      const Holder *src = nullptr;
      for (int h : group)
        if (holders[h].rank == t.rank) {
          src = &holders[h];
          break;
        }
      if (!src) {
        std::vector<const Holder *> sameNode;
        for (int h : group)
          if (holders[h].rank / perNode == t.rank / perNode)
            sameNode.push_back(&holders[h]);
        if (!sameNode.empty())
          src = sameNode[t.index % static_cast<int64_t>(sameNode.size())];
        else
          src = &holders[group[t.index % static_cast<int64_t>(group.size())]];
      }
      const PlanBuffer &from = plan.ranks[src->rank].buffers[src->buffer];
      Box srcBox{from.offset, from.offset};
      for (size_t a = 0; a < from.offset.size(); ++a)
        srcBox.hi[a] = from.offset[a] + from.shape[a];
      PlanTask base;
      base.phase = ctx.phase;
      base.op = ctx.op;
      base.stage = ctx.stage;
      base.edge = ctx.edge;
      base.transfer = transfer;
      if (src->rank == t.rank) {
        if (src->buffer == t.buffer)
          continue; // the same buffer (an alias): nothing moves
        PlanTask c = base;
        c.type = TaskType::Copy;
        c.src = src->buffer;
        c.srcRegion = regionOf(piece, srcBox);
        c.buffer = t.buffer;
        c.region = regionOf(piece, dstBox);
        c.accumulate = accumulate;
        emit(t.rank, std::move(c));
        continue;
      }
      int64_t tag = tags[{src->rank, t.rank}]++;
      PlanTask snd = base;
      snd.type = TaskType::Send;
      snd.peer = t.rank;
      snd.tag = tag;
      snd.buffer = src->buffer;
      snd.region = regionOf(piece, srcBox);
      emit(src->rank, std::move(snd));
      PlanTask rcv = base;
      rcv.type = TaskType::Recv;
      rcv.peer = src->rank;
      rcv.tag = tag;
      rcv.buffer = t.buffer;
      rcv.region = regionOf(piece, dstBox);
      rcv.accumulate = accumulate;
      emit(t.rank, std::move(rcv));
    }
  }
  (void)dtype;
}

std::vector<std::vector<int64_t>>
Builder::shardGroups(int op, const std::vector<char> &vary) const {
  const ShardGrid &grid = grids[op];
  std::map<std::vector<int64_t>, std::vector<int64_t>> groups;
  for (int64_t s = 0; s < grid.numShards(); ++s) {
    std::vector<int64_t> key;
    for (size_t d = 0; d < grid.degree.size(); ++d)
      if (!vary[d])
        key.push_back(grid.coords[s][d]);
    groups[key].push_back(s);
  }
  std::vector<std::vector<int64_t>> out;
  for (auto &[key, members] : groups)
    out.push_back(std::move(members));
  return out;
}

int Builder::groupComm(int op, const std::vector<int64_t> &members) {
  std::vector<int> ranks;
  for (int64_t s : members)
    ranks.push_back(static_cast<int>(grids[op].devices[s]));
  return commFor(std::move(ranks));
}

void Builder::allReduceGroups(int op, const std::vector<char> &vary,
                              const std::vector<int> &bufferPerShard,
                              const Context &ctx) {
  const ShardGrid &grid = grids[op];
  for (const std::vector<int64_t> &shards : shardGroups(op, vary)) {
    if (shards.size() < 2)
      continue;
    int comm = groupComm(op, shards);
    int64_t transfer = transfers++;
    for (int64_t s : shards)
      emit(static_cast<int>(grid.devices[s]),
           collectiveTask(CollectiveKind::AllReduce, ctx, comm, -1,
                          bufferPerShard[s], transfer));
  }
}

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

std::string Builder::forwardOperands(int i) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  const int64_t shards = grid.numShards();
  // ZeRO-3: the op's own weights first (another operand may copy them).
  zeroGather(i, Phase::Forward);
  for (size_t j = 0; j < op.operands.size(); ++j) {
    const Operand &o = op.operands[j];
    const TensorRule &rule = rules[i].operands[j];
    std::vector<int> &bufs = opndBuf[i][j];
    // A shard whose rank already holds its box reads that buffer; the others
    // get a new one, which reshard() fills.
    auto needersOf = [&](const std::vector<Holder> &holders,
                         const std::string &tensor) {
      std::vector<Needer> needers;
      for (int64_t s = 0; s < shards; ++s) {
        int rank = static_cast<int>(grid.devices[s]);
        Box b = box(rule, i, s);
        for (const Holder &h : holders)
          if (h.rank == rank && h.box == b)
            bufs[s] = h.buffer;
        if (bufs[s] >= 0)
          continue;
        bufs[s] = newBuffer(rank, boxBuffer(op.name + ".in" + std::to_string(j),
                                            BufferRole::Activation, rule, b,
                                            tensor));
        needers.push_back({rank, bufs[s], b, s});
      }
      return needers;
    };
    switch (o.source) {
    case OperandSource::Op: {
      int e = edgeOf[i][j];
      if (e < 0)
        return "op '" + op.name + "': operand #" + std::to_string(j) +
               " has no edge";
      if (duplicateOf[e] >= 0) {
        bufs = opndBuf[i][g.edges[duplicateOf[e]].dstOperand];
        continue;
      }
      const Edge &edge = g.edges[e];
      std::vector<Holder> holders =
          holdersOf(edge.src, rules[edge.src].results[edge.srcResult],
                    resBuf[edge.src][edge.srcResult]);
      std::vector<Needer> needers = needersOf(
          holders, g.ops[edge.src].name + ":" + std::to_string(edge.srcResult));
      reshard(holders, needers, false, rule.dtype,
              {Phase::Forward, op.name, "transfer", e});
      break;
    }
    case OperandSource::Weight: {
      auto [h, hj] = home[o.index];
      if (h == i && hj == static_cast<int>(j))
        continue; // created up front (ZeRO-3: gathered by zeroGather)
      if (mb > 0) {
        // The weights do not change during a step: micro-batch 0's copy
        // serves every micro-batch.
        bufs = parked[0].opndBuf[i][j];
        continue;
      }
      std::vector<Holder> holders =
          holdersOf(h, rules[h].operands[hj], opndBuf[h][hj]);
      std::vector<Needer> needers = needersOf(holders, g.weights[o.index].name);
      reshard(holders, needers, false, rule.dtype,
              {Phase::Forward, op.name, "weight-transfer", -1});
      break;
    }
    case OperandSource::Input: {
      const PlanInput &in = plan.inputs[o.index];
      for (int64_t s = 0; s < shards; ++s) {
        int rank = static_cast<int>(grid.devices[s]);
        Box b = box(rule, i, s);
        auto key = std::make_tuple(rank, o.index, b.lo, b.hi);
        auto it = inputBuf.find(key);
        if (it != inputBuf.end()) {
          bufs[s] = it->second;
          continue;
        }
        bufs[s] = newBuffer(rank, boxBuffer(in.name, in.role, rule, b, in.name));
        inputBuf.emplace(key, bufs[s]);
      }
      break;
    }
    case OperandSource::Constant: {
      auto it = opts.constants.find({op.name, static_cast<int>(j)});
      if (it == opts.constants.end())
        return "op '" + op.name + "': operand #" + std::to_string(j) +
               " is a constant whose value the plan was not given";
      PlanConstant c = it->second;
      c.name = op.name + ".const" + std::to_string(j);
      c.dtype = o.tensor.dtype;
      c.shape = o.tensor.shape;
      if (mb == 0) // every micro-batch reads a box of the same constant
        plan.constants.push_back(c);
      for (int64_t s = 0; s < shards; ++s)
        bufs[s] = newBuffer(
            static_cast<int>(grid.devices[s]),
            boxBuffer(c.name, BufferRole::Constant, rule, box(rule, i, s),
                      c.name));
      break;
    }
    }
  }
  return "";
}

int64_t Builder::shareOf(int64_t total, int op, int64_t shard) const {
  // Split exactly: the shares of every shard and micro-batch add up to the
  // total.
  __int128 n = grids[op].numShards() * micro;
  __int128 k = mb * grids[op].numShards() + shard;
  __int128 lo = static_cast<__int128>(total) * k / n;
  __int128 hi = static_cast<__int128>(total) * (k + 1) / n;
  return static_cast<int64_t>(hi - lo);
}

std::vector<int> Builder::kernelInputs(int i, int64_t s) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  std::vector<int> in;
  for (size_t j = 0; j < op.operands.size(); ++j) {
    int b = opndBuf[i][j][s];
    if (isAdditiveOperand(op.kind, j) && !rules[i].results.empty()) {
      const TensorRule &res = rules[i].results[0];
      const TensorRule &opnd = rules[i].operands[j];
      for (size_t d = 0; d < grid.degree.size(); ++d)
        if (grid.degree[d] > 1 && res.axisOfDim[d] == kPartial &&
            opnd.axisOfDim[d] == kReplicated && grid.coords[s][d] != 0)
          b = -1;
    }
    in.push_back(b);
  }
  return in;
}

std::map<std::string, PlanAttr> Builder::kernelAttrs(int i, int64_t s) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  const OpShardingRule &rule = rules[i];
  std::map<std::string, PlanAttr> a = parseAttributes(op.attributes);
  auto dimDegree = [&](const std::string &name) -> int64_t {
    for (size_t d = 0; d < op.dims.size(); ++d)
      if (op.dims[d].name == name)
        return grid.degree[d];
    return 1;
  };
  auto dimCoord = [&](const std::string &name) -> int64_t {
    for (size_t d = 0; d < op.dims.size(); ++d)
      if (op.dims[d].name == name)
        return grid.coords[s][d];
    return 0;
  };
  const std::string &k = op.kind;
  if ((k == "conv2d" || k == "pool2d") && !op.results.empty() &&
      op.results[0].shape.size() == 4) {
    // Local padding: the window of the shard's output rows, clipped to the
    // input; what falls outside the input is padding, what a neighbour
    // holds arrived as a halo.
    const TensorRule &x = rule.operands[0];
    Box in = box(x, i, s), out = box(rule.results[0], i, s);
    std::vector<int64_t> pad = attributeInts(op.attributes, "padding",
                                             {0, 0, 0, 0});
    if (x.windows.size() == 4 && pad.size() == 4) {
      std::vector<int64_t> local = pad;
      for (int ax = 0; ax < 2; ++ax) {
        const AxisWindow &w = x.windows[2 + ax];
        int64_t olo = out.lo[2 + ax], ohi = out.hi[2 + ax];
        int64_t wantLo = olo * w.stride - w.pad;
        int64_t wantHi = (ohi - 1) * w.stride - w.pad + w.span;
        local[ax] = in.lo[2 + ax] - wantLo;
        local[2 + ax] = wantHi - in.hi[2 + ax];
      }
      a["padding"] = PlanAttr::ofInts(local);
    }
    if (k == "pool2d") {
      int64_t kind = attributeInt(op.attributes, "kind", 0);
      a["kind"] = PlanAttr::ofString(kind == 1 ? "avg" : "max");
      std::vector<int64_t> kernel = attributeInts(op.attributes, "kernel", {1, 1});
      a["strides"] =
          PlanAttr::ofInts(attributeInts(op.attributes, "strides", kernel));
      a["count_include_pad"] = PlanAttr::ofBool(a.count("count_include_pad") > 0);
    }
    if (k == "conv2d") {
      int64_t groups = attributeInt(op.attributes, "groups", 1);
      int64_t cout = dimDegree("cout");
      if (groups > 1 && cout > 1 && op.operands.size() >= 2) {
        // The shard's output channels lie in whole groups or in one group:
        // it reads only those groups' input channels.
        int64_t o = op.operands[1].tensor.shape[0];
        int64_t c = op.operands[0].tensor.shape[1];
        int64_t perShard = o / cout, perGroup = o / groups;
        int64_t first = dimCoord("cout") * perShard / perGroup;
        int64_t localGroups = std::max<int64_t>(1, perShard / perGroup);
        a["groups"] = PlanAttr::ofInt(localGroups);
        a["input_channels"] = PlanAttr::ofInts(
            {first * (c / groups), (first + localGroups) * (c / groups)});
      }
    }
  } else if (k == "attention") {
    int64_t heads = attributeInt(op.attributes, "num_heads", 1);
    a["num_heads"] = PlanAttr::ofInt(heads / dimDegree("heads"));
    a["causal"] = PlanAttr::ofBool(a.count("causal") > 0);
    a["query_offset"] = PlanAttr::ofInt(box(rule.operands[0], i, s).lo[1]);
  } else if (k == "embedding" && rule.operands.size() >= 2) {
    a["row_offset"] = PlanAttr::ofInt(box(rule.operands[1], i, s).lo[0]);
  } else if (k == "experts" && op.operands.size() >= 5) {
    int64_t t = op.operands[0].tensor.shape[0];
    int64_t topk = op.operands[1].tensor.shape[1];
    int64_t e = op.operands[3].tensor.shape[0];
    double factor = a.count("capacity_factor") &&
                            a["capacity_factor"].kind == PlanAttr::Kind::Float
                        ? a["capacity_factor"].f
                        : 1.0;
    // soap.experts' capacity (ExpertsOp::getCapacity), with the global T.
    double cap = factor * static_cast<double>(t * topk) / static_cast<double>(e);
    a["capacity"] = PlanAttr::ofInt(
        cap < static_cast<double>(t) ? static_cast<int64_t>(std::ceil(cap)) : t);
    a["num_experts"] = PlanAttr::ofInt(e);
    a["expert_offset"] = PlanAttr::ofInt(box(rule.operands[3], i, s).lo[0]);
    a["token_shard"] = PlanAttr::ofInt(dimCoord("batch"));
    int64_t act = attributeInt(op.attributes, "activation", 0);
    a["activation"] = PlanAttr::ofString(act == 1 ? "gelu" : "relu");
  } else if (k == "max_pool_indices" && !rule.results.empty() &&
             !op.operands.empty()) {
    // Global input indices: the shard's first (batch, channel) plane.
    a["channels"] = PlanAttr::ofInt(op.operands[0].tensor.shape[1]);
    a["offset"] = PlanAttr::ofInts(box(rule.results[0], i, s).lo);
  } else if ((k == "dropout" || k == "dropout_mask") && !rule.results.empty()) {
    Box out = box(rule.results[0], i, s);
    a["global_shape"] = PlanAttr::ofInts(rule.results[0].shape);
    a["offset"] = PlanAttr::ofInts(out.lo);
    a["salt"] = PlanAttr::ofInt(i);
  } else if (k == "softmax_cross_entropy" && op.operands.size() >= 2) {
    int64_t n = 1;
    for (int64_t x : op.operands[1].tensor.shape)
      n *= x;
    a["global_count"] = PlanAttr::ofInt(n);
  } else if (k == "mse_loss" && !op.operands.empty()) {
    a["global_count"] = PlanAttr::ofInt(op.operands[0].tensor.numElements());
  } else if (k == "batch_norm" && !op.operands.empty()) {
    const auto &shape = op.operands[0].tensor.shape;
    int64_t count = shape.size() >= 2 ? op.operands[0].tensor.numElements() /
                                            shape[1]
                                      : 1;
    a["count"] = PlanAttr::ofInt(count);
    if (!a.count("epsilon"))
      a["epsilon"] = PlanAttr::ofFloat(1e-5);
    if (!a.count("momentum"))
      a["momentum"] = PlanAttr::ofFloat(0.1);
  } else if (k == "slice" && !rule.operands.empty()) {
    // Only whole axes are split (the batch): their bounds become the
    // shard's.
    Box in = box(rule.operands[0], i, s);
    std::vector<int64_t> starts = attributeInts(op.attributes, "starts", {});
    std::vector<int64_t> ends = attributeInts(op.attributes, "ends", {});
    const auto &shape = rule.operands[0].shape;
    if (starts.size() == shape.size() && ends.size() == shape.size()) {
      for (size_t ax = 0; ax < shape.size(); ++ax)
        if (in.hi[ax] - in.lo[ax] != shape[ax]) {
          starts[ax] = 0;
          ends[ax] = in.hi[ax] - in.lo[ax];
        }
      a["starts"] = PlanAttr::ofInts(starts);
      a["ends"] = PlanAttr::ofInts(ends);
    }
  }
  return a;
}

/// `again`: the recomputation of the op's forward in the backward pass
/// (activation recomputation): the same kernels and intra-op communication
/// on the buffers of the first run, in stage "recompute" (phase fwd: the
/// kernels run forward), without updating batch-norm running statistics a
/// second time.
void Builder::forwardKernels(int i, bool again) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  const OpShardingRule &rule = rules[i];
  const int64_t shards = grid.numShards();
  auto [extraFwd, extraBwd] = replicatedFlops(op, grid);
  (void)extraBwd;
  const int64_t fwdFlops = op.forwardFlops + extraFwd;

  if (!again) {
    // Results.
    for (size_t r = 0; r < op.results.size(); ++r)
      for (int64_t s = 0; s < shards; ++s)
        resBuf[i][r][s] = newBuffer(
            static_cast<int>(grid.devices[s]),
            boxBuffer(op.name + ":" + std::to_string(r), BufferRole::Activation,
                      rule.results[r], box(rule.results[r], i, s),
                      op.name + ":" + std::to_string(r)));
  }

  auto kernel = [&](int64_t s, const std::string &part, std::vector<int> in,
                    std::vector<int> out, int64_t flops, const char *stage) {
    PlanTask t;
    t.type = TaskType::Kernel;
    t.phase = Phase::Forward;
    t.op = op.name;
    t.stage = again ? "recompute" : stage;
    t.kind = op.kind;
    t.part = part;
    t.shard = static_cast<int>(s);
    t.inputs = std::move(in);
    t.outputs = std::move(out);
    t.attrs = kernelAttrs(i, s);
    t.flops = flops;
    emit(static_cast<int>(grid.devices[s]), std::move(t));
  };
  auto scratch = [&](int64_t s, const std::string &name, DType dt,
                     std::vector<int64_t> shape, BufferRole role =
                                                     BufferRole::Scratch) {
    if (again)
      return extra[i][s].at(name);
    PlanBuffer b;
    b.name = op.name + "." + name;
    b.role = role;
    b.dtype = dt;
    b.shape = std::move(shape);
    int id = newBuffer(static_cast<int>(grid.devices[s]), std::move(b));
    extra[i][s][name] = id;
    return id;
  };

  if (op.kind == "batch_norm" && op.operands.size() == 3) {
    // Statistics in phases, all-reduced over the shards that split the
    // data (every dim but the channels).
    std::vector<int> stats(shards);
    for (int64_t s = 0; s < shards; ++s) {
      int64_t c = box(rule.operands[1], i, s).shape()[0];
      stats[s] = scratch(s, "stats", DType::F64, {2, c});
      scratch(s, "saved", DType::F32, {2, c});
      if (!again) {
        Box cb = box(rule.operands[1], i, s);
        PlanBuffer run;
        run.name = op.name + ".running";
        run.role = BufferRole::State;
        run.dtype = DType::F32;
        run.shape = {2, c};
        run.tensor = op.name + ".running";
        run.globalShape = {2, rule.operands[1].shape[0]};
        run.offset = {0, cb.lo[0]};
        extra[i][s]["running"] =
            newBuffer(static_cast<int>(grid.devices[s]), std::move(run));
      }
      kernel(s, "stats", {opndBuf[i][0][s]}, {stats[s]}, 0, "forward");
    }
    std::vector<char> vary(op.dims.size(), 0);
    for (size_t d = 0; d < op.dims.size(); ++d)
      vary[d] = grid.degree[d] > 1 && op.dims[d].name != "c";
    allReduceGroups(i, vary, stats,
                    {Phase::Forward, op.name, again ? "recompute" : "forward-comm"});
    for (int64_t s = 0; s < shards; ++s)
      kernel(s, "normalize", {opndBuf[i][0][s], opndBuf[i][1][s],
                              opndBuf[i][2][s], stats[s]},
             {resBuf[i][0][s], extra[i][s]["saved"],
              again ? -1 : extra[i][s]["running"]},
             shareOf(fwdFlops, i, s), "forward");
    return;
  }

  if (op.kind == "experts" && op.operands.size() >= 5) {
    int64_t b = 1, e = op.operands[3].tensor.shape[0];
    for (size_t d = 0; d < op.dims.size(); ++d)
      if (op.dims[d].name == "batch")
        b = grid.degree[d];
    std::vector<int> gathered(shards, -1);
    if (b > 1) {
      // Token shards apply the capacity as one device would: each needs
      // how many slots earlier token shards routed to every expert.
      std::vector<int> counts(shards);
      for (int64_t s = 0; s < shards; ++s) {
        counts[s] = scratch(s, "counts", DType::I64, {e});
        gathered[s] = scratch(s, "gathered_counts", DType::I64, {b, e});
        kernel(s, "count", {opndBuf[i][2][s]}, {counts[s]}, 0, "forward");
      }
      std::vector<char> batchDims(op.dims.size(), 0);
      for (size_t d = 0; d < op.dims.size(); ++d)
        batchDims[d] = op.dims[d].name == "batch";
      for (const std::vector<int64_t> &members : shardGroups(i, batchDims)) {
        int comm = groupComm(i, members);
        int64_t transfer = transfers++;
        for (int64_t s : members) {
          PlanTask t;
          t.type = TaskType::Collective;
          t.collective = CollectiveKind::AllGather;
          t.phase = Phase::Forward;
          t.op = op.name;
          t.stage = again ? "recompute" : "forward-comm";
          t.comm = comm;
          t.src = counts[s];
          t.buffer = gathered[s];
          t.transfer = transfer;
          emit(static_cast<int>(grid.devices[s]), std::move(t));
        }
      }
    }
    for (int64_t s = 0; s < shards; ++s) {
      std::vector<int> in = kernelInputs(i, s);
      in.push_back(gathered[s]);
      std::vector<int> out;
      for (size_t r = 0; r < op.results.size(); ++r)
        out.push_back(resBuf[i][r][s]);
      kernel(s, "", in, out, shareOf(fwdFlops, i, s), "forward");
    }
    return;
  }

  for (int64_t s = 0; s < shards; ++s) {
    std::vector<int> out;
    for (size_t r = 0; r < op.results.size(); ++r)
      out.push_back(resBuf[i][r][s]);
    // Saved intermediates that spare the backward a recomputation.
    if (op.kind == "attention" && op.operands.size() >= 7) {
      Box q = box(rule.operands[0], i, s), kb = box(rule.operands[1], i, s);
      Box wq = box(rule.operands[3], i, s);
      int64_t bb = q.hi[0] - q.lo[0], sq = q.hi[1] - q.lo[1];
      int64_t t = kb.hi[1] - kb.lo[1], p = wq.hi[1] - wq.lo[1];
      out.push_back(scratch(s, "saved", DType::F32,
                            {2 * bb * sq * p + 2 * bb * t * p}));
    } else if (op.kind == "lstm" && !op.results.empty()) {
      Box y = box(rule.results[0], i, s);
      int64_t bb = y.hi[0] - y.lo[0], t = y.hi[1] - y.lo[1],
              h = y.hi[2] - y.lo[2];
      out.push_back(scratch(s, "saved", DType::F32, {6 * bb * t * h}));
    }
    kernel(s, "", kernelInputs(i, s), out, shareOf(fwdFlops, i, s), "forward");
  }
}

void Builder::partialSums(int i, bool again) {
  const OpNode &op = g.ops[i];
  for (size_t r = 0; r < op.results.size(); ++r) {
    const TensorRule &rule = rules[i].results[r];
    std::vector<char> vary = partialDims(i, rule);
    if (std::find(vary.begin(), vary.end(), 1) == vary.end())
      continue;
    if (outEdges[i].empty() && !isOutput[i])
      continue;
    allReduceGroups(i, vary, resBuf[i][r],
                    {Phase::Forward, op.name, again ? "recompute" : "partial-sum"});
  }
}

/// A copy of `rows` whole rows (first axis) from `src` at `srcRow` to `dst`
/// at `dstRow` on `rank`, with the context of `base`.
PlanTask Builder::rowCopy(int rank, const PlanTask &base, int src,
                          int64_t srcRow, int dst, int64_t dstRow,
                          int64_t rows) const {
  PlanTask c;
  c.type = TaskType::Copy;
  c.phase = base.phase;
  c.op = base.op;
  c.stage = base.stage;
  c.transfer = base.transfer;
  c.src = src;
  c.buffer = dst;
  const RankPlan &r = plan.ranks[rank];
  auto region = [&](int id, int64_t row) {
    PlanRegion g;
    g.shape = r.buffers[id].shape;
    g.offset.assign(g.shape.size(), 0);
    g.shape[0] = rows;
    g.offset[0] = row;
    return g;
  };
  c.srcRegion = region(src, srcRow);
  c.region = region(dst, dstRow);
  return c;
}

void Builder::recomputeRun(int last) {
  // Megatron's checkpointed segment: consecutive recomputed ops are re-run
  // together, in forward order, before the first backward that needs them.
  // Their operands' received copies are kept (what the simulator prices:
  // each op's forward-comm, forward and partial-sum slots again).
  int first = last;
  while (first > 0 && recomputed(first - 1))
    --first;
  for (int k = first; k <= last; ++k) {
    if (!needsBackward[k] || recomputeDone[k])
      continue;
    recomputeDone[k] = 1;
    forwardKernels(k, /*again=*/true);
    partialSums(k, /*again=*/true);
  }
}

/// ZeRO-3: all-gathers the parts of the weights homed at op i into their
/// boxes, before the op's forward and again before its backward (stage
/// "weight-gather"; the simulator prices each as half an all-reduce).
void Builder::zeroGather(int i, Phase phase) {
  if (strategy.training.zeroStage < 3)
    return;
  for (size_t w = 0; w < g.weights.size(); ++w) {
    if (home[w].first != i || zero[w].empty())
      continue;
    const int j = home[w].second;
    const int64_t transfer = transfers++;
    for (int64_t s = 0; s < grids[i].numShards(); ++s) {
      const ZeroPart &z = zero[w][s];
      if (z.count < 2)
        continue;
      gatherParts(static_cast<int>(grids[i].devices[s]), z, opndBuf[i][j][s],
                  {phase, g.ops[i].name, "weight-gather"}, transfer);
    }
  }
}

PlanTask Builder::collectiveTask(CollectiveKind kind, const Context &ctx,
                                 int comm, int src, int buffer,
                                 int64_t transfer) const {
  PlanTask t;
  t.type = TaskType::Collective;
  t.collective = kind;
  t.phase = ctx.phase;
  t.op = ctx.op;
  t.stage = ctx.stage;
  t.edge = ctx.edge;
  t.comm = comm;
  t.src = src;
  t.buffer = buffer;
  t.transfer = transfer;
  return t;
}

void Builder::gatherParts(int rank, const ZeroPart &z, int box,
                          const Context &ctx, int64_t transfer) {
  PlanTask t =
      collectiveTask(CollectiveKind::AllGather, ctx, z.comm, z.part,
                     z.gathered >= 0 ? z.gathered : box, transfer);
  emit(rank, t);
  if (z.gathered >= 0) // the padded rows to the box
    emit(rank, rowCopy(rank, t, z.gathered, 0, box, 0, z.boxRows));
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

int Builder::resultGrad(int op, int r, int64_t shard) {
  int &b = resGradBuf[op][r][shard];
  if (b >= 0)
    return b;
  const TensorRule &rule = rules[op].results[r];
  std::string tensor = g.ops[op].name + ":" + std::to_string(r);
  b = newBuffer(static_cast<int>(grids[op].devices[shard]),
                boxBuffer("grad:" + tensor, BufferRole::Gradient, rule,
                          box(rule, op, shard), tensor));
  return b;
}

int Builder::operandGrad(int i, int j, int64_t s) {
  const OpNode &op = g.ops[i];
  const Operand &o = op.operands[j];
  const TensorRule &rule = rules[i].operands[j];
  if (!isFloat(o.tensor.dtype) ||
      (o.source != OperandSource::Op && o.source != OperandSource::Weight))
    return -1;
  int &b = opndGradBuf[i][j][s];
  if (b >= 0)
    return b;
  const int rank = static_cast<int>(grids[i].devices[s]);
  const Box mine = box(rule, i, s);
  std::vector<char> rep = replicatedDims(i, rule);
  const bool replicated = std::find(rep.begin(), rep.end(), 1) != rep.end();
  if (o.source == OperandSource::Weight) {
    auto [h, hj] = home[o.index];
    if (h == i && hj == j)
      return b; // created up front
    if (mb > 0) // every micro-batch adds into micro-batch 0's buffer
      return b = parked[0].opndGradBuf[i][j][s];
    // Accumulate straight into the home gradient when it is the same box on
    // this rank and no replicas must be summed first.
    if (!replicated) {
      const TensorRule &hr = rules[h].operands[hj];
      std::vector<char> hrep = replicatedDims(h, hr);
      for (int64_t hs = 0; hs < grids[h].numShards(); ++hs) {
        bool coordZero = true;
        for (size_t d = 0; d < hrep.size(); ++d)
          coordZero &= !hrep[d] || grids[h].coords[hs][d] == 0;
        if (coordZero && grids[h].devices[hs] == rank && box(hr, h, hs) == mine)
          return b = opndGradBuf[h][hj][hs];
      }
    }
    return b = newBuffer(rank,
                         boxBuffer("grad:" + op.name + ".in" +
                                       std::to_string(j),
                                   BufferRole::Gradient, rule, mine,
                                   g.weights[o.index].name),
                         /*perMicroBatch=*/false);
  }
  int e = edgeOf[i][j];
  if (duplicateOf[e] >= 0)
    return b = operandGrad(i, g.edges[duplicateOf[e]].dstOperand, s);
  const Edge &edge = g.edges[e];
  const TensorRule &pr = rules[edge.src].results[edge.srcResult];
  std::vector<char> part = partialDims(edge.src, pr);
  const bool partial = std::find(part.begin(), part.end(), 1) != part.end();
  if (!replicated && !partial) {
    for (int64_t ps = 0; ps < grids[edge.src].numShards(); ++ps)
      if (grids[edge.src].devices[ps] == rank && box(pr, edge.src, ps) == mine)
        return b = resultGrad(edge.src, edge.srcResult, ps);
  }
  std::string tensor =
      g.ops[edge.src].name + ":" + std::to_string(edge.srcResult);
  return b = newBuffer(rank, boxBuffer("grad:" + op.name + ".in" +
                                           std::to_string(j),
                                       BufferRole::Gradient, rule, mine,
                                       tensor));
}

void Builder::backwardKernels(int i) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  const OpShardingRule &rule = rules[i];
  const int64_t shards = grid.numShards();
  auto [extraFwd, extraBwd] = replicatedFlops(op, grid);
  (void)extraFwd;
  const int64_t bwdFlops = op.backwardFlops + extraBwd;

  if (recomputed(i) && !recomputeDone[i])
    recomputeRun(i);
  zeroGather(i, Phase::Backward);

  auto kernel = [&](int64_t s, const std::string &part, std::vector<int> in,
                    std::vector<int> out, int64_t flops) {
    PlanTask t;
    t.type = TaskType::Kernel;
    t.phase = Phase::Backward;
    t.op = op.name;
    t.stage = "backward";
    t.kind = op.kind;
    t.part = part;
    t.shard = static_cast<int>(s);
    t.inputs = std::move(in);
    t.outputs = std::move(out);
    t.attrs = kernelAttrs(i, s);
    t.flops = flops;
    emit(static_cast<int>(grid.devices[s]), std::move(t));
  };
  auto dys = [&](int64_t s) {
    std::vector<int> d;
    for (size_t r = 0; r < op.results.size(); ++r)
      d.push_back(isFloat(op.results[r].dtype)
                      ? resultGrad(i, static_cast<int>(r), s)
                      : -1);
    return d;
  };
  auto dxs = [&](int64_t s, const std::vector<int> &in) {
    std::vector<int> d;
    for (size_t j = 0; j < op.operands.size(); ++j)
      d.push_back(in[j] < 0 ? -1 : operandGrad(i, static_cast<int>(j), s));
    return d;
  };

  if (op.kind == "batch_norm" && op.operands.size() == 3) {
    std::vector<int> bstats(shards);
    for (int64_t s = 0; s < shards; ++s) {
      int64_t c = box(rule.operands[1], i, s).shape()[0];
      PlanBuffer b;
      b.name = op.name + ".grad_stats";
      b.role = BufferRole::Scratch;
      b.dtype = DType::F64;
      b.shape = {2, c};
      bstats[s] = newBuffer(static_cast<int>(grid.devices[s]), std::move(b));
      int dy = dys(s)[0];
      kernel(s, "stats", {opndBuf[i][0][s], dy, extra[i][s]["saved"]},
             {bstats[s]}, 0);
      kernel(s, "params", {bstats[s]},
             {operandGrad(i, 1, s), operandGrad(i, 2, s)}, 0);
    }
    std::vector<char> vary(op.dims.size(), 0);
    for (size_t d = 0; d < op.dims.size(); ++d)
      vary[d] = grid.degree[d] > 1 && op.dims[d].name != "c";
    allReduceGroups(i, vary, bstats,
                    {Phase::Backward, op.name, "backward-comm"});
    for (int64_t s = 0; s < shards; ++s)
      kernel(s, "input",
             {opndBuf[i][0][s], dys(s)[0], opndBuf[i][1][s],
              extra[i][s]["saved"], bstats[s]},
             {operandGrad(i, 0, s)}, shareOf(bwdFlops, i, s));
    return;
  }

  for (int64_t s = 0; s < shards; ++s) {
    std::vector<int> in = kernelInputs(i, s);
    std::vector<int> out = dxs(s, in);
    if (op.kind == "experts" && op.operands.size() >= 5) {
      auto it = extra[i][s].find("gathered_counts");
      in.push_back(it == extra[i][s].end() ? -1 : it->second);
    } else if (op.kind == "attention" || op.kind == "lstm") {
      auto it = extra[i][s].find("saved");
      in.push_back(it == extra[i][s].end() ? -1 : it->second);
    } else if (op.kind == "topk_gate" && op.results.size() == 2) {
      in.push_back(resBuf[i][1][s]); // the forward's selection
    }
    std::vector<int> d = dys(s);
    in.insert(in.end(), d.begin(), d.end());
    kernel(s, "", in, out, shareOf(bwdFlops, i, s));
  }
}

void Builder::gradientTransfers(int i) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  for (size_t j = 0; j < op.operands.size(); ++j) {
    const Operand &o = op.operands[j];
    const TensorRule &rule = rules[i].operands[j];
    if (!isFloat(o.tensor.dtype))
      continue;
    std::vector<int> grads(grid.numShards(), -1);
    for (int64_t s = 0; s < grid.numShards(); ++s)
      grads[s] = operandGrad(i, static_cast<int>(j), s);
    if (std::find(grads.begin(), grads.end(), -1) != grads.end())
      continue; // not a gradient operand
    if (o.source == OperandSource::Op) {
      int e = edgeOf[i][j];
      if (duplicateOf[e] >= 0)
        continue;
      const Edge &edge = g.edges[e];
      Context ctx{Phase::Backward, op.name, "gradient-transfer", e};
      // Replicas of the operand computed partial gradients: sum them, then
      // send the producer layout its boxes (overlapping halos add up).
      allReduceGroups(i, replicatedDims(i, rule), grads, ctx);
      const TensorRule &pr = rules[edge.src].results[edge.srcResult];
      std::vector<Needer> needers;
      for (int64_t ps = 0; ps < grids[edge.src].numShards(); ++ps)
        needers.push_back({static_cast<int>(grids[edge.src].devices[ps]),
                           resultGrad(edge.src, edge.srcResult, ps),
                           box(pr, edge.src, ps), ps});
      reshard(holdersOf(i, rule, grads), needers, true, rule.dtype, ctx);
    } else if (o.source == OperandSource::Weight) {
      auto [h, hj] = home[o.index];
      if (h == i && hj == static_cast<int>(j))
        continue; // the home's own gradient: synchronized below
      if (!flushing)
        continue; // the micro-batches add up first (operandGrad)
      Context ctx{Phase::Backward, op.name, "gradient-sync", -1};
      allReduceGroups(i, replicatedDims(i, rule), grads, ctx);
      // Into one replica of each home box: the home's own all-reduce then
      // spreads it, without counting it twice.
      const TensorRule &hr = rules[h].operands[hj];
      std::vector<char> hrep = replicatedDims(h, hr);
      std::vector<Needer> needers;
      for (int64_t hs = 0; hs < grids[h].numShards(); ++hs) {
        bool coordZero = true;
        for (size_t d = 0; d < hrep.size(); ++d)
          coordZero &= !hrep[d] || grids[h].coords[hs][d] == 0;
        if (coordZero)
          needers.push_back({static_cast<int>(grids[h].devices[hs]),
                             opndGradBuf[h][hj][hs], box(hr, h, hs), hs});
      }
      ctx.stage = "weight-gradient-transfer";
      reshard(holdersOf(i, rule, grads), needers, true, rule.dtype, ctx);
    }
  }
}

void Builder::weightSyncAndUpdate(int i) {
  const OpNode &op = g.ops[i];
  const ShardGrid &grid = grids[i];
  const int zeroStage = strategy.training.zeroStage;
  auto parted = [&](size_t w) {
    return !zero[w].empty() && zero[w][0].count > 1;
  };
  // Gradient synchronization: an all-reduce over the replicas, or with ZeRO
  // stage >= 2 a reduce-scatter that leaves each member its part.
  for (size_t w = 0; w < g.weights.size(); ++w) {
    if (home[w].first != i || !weightHasGrad[w])
      continue;
    int j = home[w].second;
    const TensorRule &rule = rules[i].operands[j];
    if (!parted(w) || zeroStage < 2) {
      allReduceGroups(i, replicatedDims(i, rule), opndGradBuf[i][j],
                      {Phase::Backward, op.name, "gradient-sync"});
      continue;
    }
    const int64_t transfer = transfers++;
    for (int64_t s = 0; s < grid.numShards(); ++s) {
      const ZeroPart &z = zero[w][s];
      const int rank = static_cast<int>(grid.devices[s]);
      PlanTask t = collectiveTask(
          CollectiveKind::ReduceScatter,
          {Phase::Backward, op.name, "gradient-sync"}, z.comm,
          z.gradStaged >= 0 ? z.gradStaged : opndGradBuf[i][j][s], z.gradPart,
          transfer);
      if (z.gradStaged >= 0) // the box into the padded rows
        emit(rank, rowCopy(rank, t, opndGradBuf[i][j][s], 0, z.gradStaged, 0,
                           z.boxRows));
      emit(rank, std::move(t));
    }
  }
  // The update: of the whole shard, or with ZeRO of the member's part, whose
  // updated parts are then all-gathered into the box (stages 1 and 2; stage
  // 3 gathers before the next use). Offload runs it on the host.
  for (size_t w = 0; w < g.weights.size(); ++w) {
    if (home[w].first != i || !weightHasGrad[w])
      continue;
    int j = home[w].second;
    const int64_t transfer = parted(w) ? transfers++ : -1;
    for (int64_t s = 0; s < grid.numShards(); ++s) {
      const ZeroPart &z = zero[w][s];
      const int rank = static_cast<int>(grid.devices[s]);
      PlanTask t;
      t.type = TaskType::Kernel;
      t.phase = Phase::Update;
      t.op = op.name;
      t.stage = "update";
      t.kind = toString(opts.optimizer.kind);
      t.shard = static_cast<int>(s);
      t.host = strategy.training.offloadOptimizer;
      int weight = opndBuf[i][j][s], grad = opndGradBuf[i][j][s];
      if (z.count > 1) {
        weight = z.part;
        grad = z.gradPart;
        const int64_t first = z.index * z.partRows;
        if (zeroStage < 2 && z.rows > 0)
          emit(rank, rowCopy(rank, t, opndGradBuf[i][j][s], first, z.gradPart,
                             0, z.rows));
        if (zeroStage < 3 && z.rows > 0)
          emit(rank, rowCopy(rank, t, opndBuf[i][j][s], first, z.part, 0,
                             z.rows));
      }
      t.inputs = {weight, grad};
      t.outputs = {weight};
      for (int st : stateBuf[w][s]) {
        t.inputs.push_back(st);
        t.outputs.push_back(st);
      }
      t.attrs["weight"] = PlanAttr::ofString(g.weights[w].name);
      emit(rank, t);
      if (z.count > 1 && zeroStage < 3)
        gatherParts(rank, z, opndBuf[i][j][s],
                    {Phase::Update, op.name, "gradient-sync"}, transfer);
    }
  }
}

//===----------------------------------------------------------------------===//
// The walk
//===----------------------------------------------------------------------===//

Expected<Plan> Builder::run(int *failedOp) {
  int failed = -1;
  auto fail = [&](const std::string &message) -> Expected<Plan> {
    if (failedOp)
      *failedOp = failed;
    return Error{message};
  };
  std::string problem = refusal(failed);
  if (!problem.empty())
    return fail(problem);
  const int n = static_cast<int>(g.ops.size());
  resBuf.assign(n, {});
  opndBuf.assign(n, {});
  resGradBuf.assign(n, {});
  opndGradBuf.assign(n, {});
  extra.assign(n, {});
  for (int i = 0; i < n; ++i) {
    const int64_t shards = grids[i].numShards();
    resBuf[i].assign(g.ops[i].results.size(), std::vector<int>(shards, -1));
    resGradBuf[i] = resBuf[i];
    opndBuf[i].assign(g.ops[i].operands.size(), std::vector<int>(shards, -1));
    opndGradBuf[i] = opndBuf[i];
    extra[i].assign(shards, {});
  }

  // Weights at home, with their gradients and optimizer states. ZeRO
  // partitions a home shard over its data-parallel group (the shards that
  // differ only along dims that leave the weight whole); offload puts the
  // optimizer states in host memory.
  const int zeroStage = strategy.training.zeroStage;
  const bool offload = strategy.training.offloadOptimizer;
  stateBuf.assign(g.weights.size(), {});
  zero.assign(g.weights.size(), {});
  recomputeDone.assign(n, 0);
  for (size_t w = 0; w < g.weights.size(); ++w) {
    auto [h, j] = home[w];
    if (h < 0)
      continue;
    const TensorRule &rule = rules[h].operands[j];
    const std::string &name = g.weights[w].name;
    const int64_t shards = grids[h].numShards();
    stateBuf[w].assign(shards, {});
    zero[w].assign(shards, {});
    if (zeroStage > 0 && weightHasGrad[w] && !opts.forwardOnly &&
        !rule.shape.empty()) {
      // Groups as allReduceGroups forms them: member index = position in
      // shard order = communicator order = part index.
      for (const std::vector<int64_t> &members :
           shardGroups(h, replicatedDims(h, rule))) {
        if (members.size() < 2)
          continue;
        int comm = groupComm(h, members);
        const int64_t k = static_cast<int64_t>(members.size());
        for (int64_t m = 0; m < k; ++m) {
          ZeroPart &z = zero[w][members[m]];
          z.comm = comm;
          z.index = m;
          z.count = k;
          z.boxRows = box(rule, h, members[m]).shape()[0];
          z.partRows = (z.boxRows + k - 1) / k;
          z.rows = std::clamp<int64_t>(z.boxRows - m * z.partRows, 0,
                                       z.partRows);
        }
      }
    }
    for (int64_t s = 0; s < shards; ++s) {
      int rank = static_cast<int>(grids[h].devices[s]);
      Box b = box(rule, h, s);
      ZeroPart &z = zero[w][s];
      const bool parted = z.count > 1;
      // A part: rows [index * R, index * R + R) of the box, the last padded.
      auto partBuffer = [&](const std::string &bufName, BufferRole role) {
        Box pb = b;
        pb.lo[0] = b.lo[0] + std::min(z.index * z.partRows, z.boxRows);
        pb.hi[0] = pb.lo[0] + z.partRows;
        PlanBuffer buf = boxBuffer(bufName, role, rule, pb, name);
        buf.part = PlanPart{z.index, z.count, z.rows};
        return buf;
      };
      auto staged = [&](const std::string &bufName, BufferRole role) {
        if (z.count * z.partRows == z.boxRows)
          return -1; // the box itself: no padding
        Box sb = b;
        sb.hi[0] = sb.lo[0] + z.count * z.partRows;
        PlanBuffer buf = boxBuffer(bufName, role, rule, sb, name);
        buf.tensor.clear(); // padded past the box: scratch
        buf.globalShape.clear();
        buf.offset.clear();
        return newBuffer(rank, std::move(buf));
      };
      if (parted && zeroStage >= 3) {
        // The weight persists as this part; the box is gathered before
        // each use.
        z.part = newBuffer(rank, partBuffer(name, BufferRole::Weight));
        opndBuf[h][j][s] = newBuffer(
            rank, boxBuffer(name + ".gathered", BufferRole::Activation, rule,
                            b, name));
      } else {
        opndBuf[h][j][s] = newBuffer(
            rank, boxBuffer(name, BufferRole::Weight, rule, b, name), false);
        if (parted)
          z.part = newBuffer(rank, partBuffer("part:" + name,
                                              BufferRole::Scratch));
      }
      if (!weightHasGrad[w])
        continue;
      opndGradBuf[h][j][s] = newBuffer(
          rank, boxBuffer("grad:" + name, BufferRole::Gradient, rule, b, name),
          false);
      if (parted) {
        z.gradPart = newBuffer(rank, partBuffer("grad-part:" + name,
                                                BufferRole::Gradient));
        z.gathered = staged("gather:" + name, BufferRole::Activation);
        if (zeroStage >= 2)
          z.gradStaged = staged("grad-scatter:" + name, BufferRole::Gradient);
      }
      static const char *const kStates[2][2] = {{"momentum", ""},
                                                {"adam_m", "adam_v"}};
      int kind = opts.optimizer.kind == OptimizerSettings::Kind::Adam ? 1 : 0;
      for (int k = 0; k < opts.optimizer.numStates(); ++k) {
        std::string stateName = std::string(kStates[kind][k]) + ":" + name;
        PlanBuffer st =
            parted ? partBuffer(stateName, BufferRole::OptimizerState)
                   : boxBuffer(stateName, BufferRole::OptimizerState, rule, b,
                               name);
        st.host = offload;
        stateBuf[w][s].push_back(newBuffer(rank, std::move(st)));
      }
    }
  }
  // Every micro-batch has its own activations and gradients, and shares
  // the weights, their gradients (which sum over the micro-batches) and
  // optimizer states.
  parked.assign(micro, MicroTables{resBuf, opndBuf, resGradBuf, opndGradBuf,
                                   extra});

  // The outputs, in the order the model returns them.
  std::set<int> listed;
  for (int o : g.outputs) {
    // An op returned twice (two of its results) lists its results once.
    if (opts.forwardOnly && !listed.insert(o).second)
      continue;
    for (size_t r = 0; r < g.ops[o].results.size(); ++r) {
      PlanOutput out;
      out.op = g.ops[o].name;
      out.result = static_cast<int>(r);
      plan.outputs.push_back(std::move(out));
      outputOf.emplace_back(o, static_cast<int>(r));
    }
  }

  // The units (a stage's forward or backward of one micro-batch) in one
  // global order; without a pipeline and micro-batches: the forward of
  // every op, then the backward of every op in reverse.
  std::vector<std::pair<int, PipelineTask>> units = unitOrder(problem);
  if (!problem.empty())
    return fail(problem);
  std::vector<int64_t> backwardsLeft(stages.size(), micro);
  for (const auto &[s, unit] : units) {
    switchTo(unit.micro);
    if (!unit.backward) {
      problem = forwardUnit(s, failed);
      if (!problem.empty())
        return fail(problem);
    } else if (!opts.forwardOnly) {
      backwardUnit(s, --backwardsLeft[s] == 0);
    }
  }
  return std::move(plan);
}

} // namespace

Expected<Plan> buildPlan(const OpGraph &graph, const Strategy &strategy,
                         int64_t numRanks, const PlanOptions &options,
                         int *failedOp) {
  if (failedOp)
    *failedOp = -1;
  std::string problem = graph.validate();
  if (!problem.empty())
    return Error{"the op graph is invalid: " + problem};
  Builder b(graph, strategy, numRanks, options);
  return b.run(failedOp);
}

std::string planRefusal(const OpGraph &graph, const Strategy &strategy,
                        int64_t numRanks, int *failedOp) {
  int failed = -1;
  std::string problem = graph.validate();
  if (problem.empty())
    problem = Builder(graph, strategy, numRanks, {}).refusal(failed);
  else
    problem = "the op graph is invalid: " + problem;
  if (failedOp)
    *failedOp = failed;
  return problem;
}

} // namespace soap
