//===- Strategy.cpp - strategy JSON read, write, validate -----------------===//
#include "soap/Strategy/Strategy.h"
#include "soap/Graph/OpGraph.h"
#include "soap/Support/JsonReader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace soap {

using nlohmann::ordered_json;

int64_t OpConfig::numDevices() const {
  int64_t n = 1;
  for (const auto &[dim, degree] : degrees)
    n *= degree;
  return n;
}

std::vector<int64_t>
OpConfig::deviceIds(const std::vector<std::string> &dimOrder) const {
  // The listed dims in the op's order, then any others (invalid ones, kept so
  // that validation can still report on the view).
  std::vector<std::string> order;
  for (const std::string &d : dimOrder)
    if (degrees.count(d))
      order.push_back(d);
  for (const auto &[d, degree] : degrees)
    if (std::find(order.begin(), order.end(), d) == order.end())
      order.push_back(d);
  // Contiguous row-major strides for dims without an explicit stride.
  std::vector<int64_t> stride(order.size(), 1);
  for (int64_t i = static_cast<int64_t>(order.size()) - 2; i >= 0; --i)
    stride[i] = stride[i + 1] * degrees.at(order[i + 1]);
  for (size_t i = 0; i < order.size(); ++i)
    if (auto it = strides.find(order[i]); it != strides.end())
      stride[i] = it->second;
  std::vector<int64_t> ids = {start};
  for (size_t i = 0; i < order.size(); ++i) {
    std::vector<int64_t> next;
    int64_t degree = degrees.at(order[i]);
    if (degree < 1)
      return {};
    for (int64_t base : ids)
      for (int64_t j = 0; j < degree; ++j)
        next.push_back(base + j * stride[i]);
    ids = std::move(next);
  }
  return ids;
}

const OpConfig *StrategyFile::find(std::string_view op) const {
  for (const OpConfig &c : ops)
    if (c.op == op)
      return &c;
  return nullptr;
}

std::vector<std::string> StrategyFile::trainingFeatures() const {
  std::vector<std::string> f;
  if (pipeline)
    f.push_back("pipeline parallelism");
  if (zeroStage > 0)
    f.push_back("ZeRO stage " + std::to_string(zeroStage));
  if (offloadOptimizer)
    f.push_back("optimizer offload");
  for (const OpConfig &c : ops)
    if (c.recompute) {
      f.push_back("activation recomputation");
      break;
    }
  return f;
}

std::string writeStrategyJson(const StrategyFile &s) {
  ordered_json j;
  j["format"] = "soap-strategy";
  j["version"] = s.trainingFeatures().empty() ? kStrategyFormatVersionPlain
                                              : kStrategyFormatVersion;
  j["model"] = {{"name", s.modelName}, {"fingerprint", s.modelFingerprint}};
  j["machine"] = {{"name", s.machineName},
                  {"nodes", s.nodes},
                  {"devices_per_node", s.devicesPerNode},
                  {"fingerprint", s.machineFingerprint}};
  ordered_json ops = ordered_json::array();
  for (const OpConfig &c : s.ops) {
    ordered_json op;
    op["name"] = c.op;
    op["kind"] = c.kind;
    op["degrees"] = ordered_json::object();
    for (const auto &[d, degree] : c.degrees)
      op["degrees"][d] = degree;
    op["view"] = {{"start", c.start}, {"strides", ordered_json::object()}};
    for (const auto &[d, stride] : c.strides)
      op["view"]["strides"][d] = stride;
    if (c.recompute)
      op["recompute"] = true;
    ops.push_back(std::move(op));
  }
  j["ops"] = std::move(ops);
  if (s.pipeline) {
    ordered_json p;
    p["schedule"] = s.pipeline->schedule;
    p["micro_batches"] = s.pipeline->microBatches;
    p["stages"] = ordered_json::array();
    for (const PipelineStageSpec &st : s.pipeline->stages)
      p["stages"].push_back(
          {{"ops", {{"first", st.firstOp}, {"last", st.lastOp}}},
           {"devices", {{"start", st.firstDevice}, {"count", st.numDevices}}}});
    j["pipeline"] = std::move(p);
  }
  if (s.zeroStage > 0)
    j["zero_stage"] = s.zeroStage;
  if (s.offloadOptimizer)
    j["offload_optimizer"] = true;
  if (s.predicted) {
    const StrategyMetrics &m = *s.predicted;
    j["predicted"] = {{"step_time_s", m.stepTimeSeconds},
                      {"peak_memory_bytes", m.peakMemoryBytes},
                      {"communication_bytes", m.communicationBytes},
                      {"mfu", m.mfu}};
  }
  j["baselines"] = ordered_json::object();
  for (const auto &[name, t] : s.baselineStepTimeSeconds)
    j["baselines"][name] = {{"step_time_s", t}};
  if (s.search) {
    const SearchInfo &i = *s.search;
    j["search"] = {{"algorithm", i.algorithm},
                   {"seed", i.seed},
                   {"budget_s", i.budgetSeconds},
                   {"iterations", i.iterations},
                   {"wall_time_s", i.wallTimeSeconds}};
  }
  return j.dump(2) + "\n";
}

namespace {
/// The strategy's fields: the generic ones and per-dimension degrees.
struct Reader : JsonReader {
  bool intMap(const ordered_json &v, const std::string &path,
              std::map<std::string, int64_t> &out) {
    if (!v.is_object())
      return fail(path, "must be an object of integers by dimension name");
    for (auto it = v.begin(); it != v.end(); ++it) {
      int64_t n;
      if (!integer(it.value(), path + "." + it.key(), n))
        return false;
      out[it.key()] = n;
    }
    return true;
  }
};
} // namespace

bool parseStrategyJson(std::string_view text, StrategyFile &out,
                       std::string &error) {
  ordered_json j = ordered_json::parse(text.begin(), text.end(), nullptr,
                                       /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "not valid JSON";
    return false;
  }
  Reader r;
  StrategyFile s;
  std::string format;
  int64_t version = 0;
  auto done = [&](bool ok) {
    if (!ok) {
      error = r.error.empty() ? "invalid strategy" : r.error;
      return false;
    }
    out = std::move(s);
    return true;
  };
  if (!r.str(j, "$", "format", format))
    return done(false);
  if (format != "soap-strategy")
    return done(r.fail("$.format", "must be \"soap-strategy\", got \"" +
                                       format + "\""));
  if (!r.integer(j, "$", "version", version))
    return done(false);
  if (version != kStrategyFormatVersion &&
      version != kStrategyFormatVersionPlain)
    return done(r.fail("$.version",
                       "is " + std::to_string(version) +
                           "; this Soap reads versions " +
                           std::to_string(kStrategyFormatVersionPlain) +
                           " and " + std::to_string(kStrategyFormatVersion)));
  s.version = static_cast<int>(version);
  // Version-2 fields in a version-1 file: an older writer never made it,
  // and an older reader would have dropped them silently.
  auto needsV2 = [&](const std::string &path) {
    return r.fail(path, "needs format version " +
                            std::to_string(kStrategyFormatVersion) +
                            " (the file says version " +
                            std::to_string(version) + ")");
  };

  const ordered_json *model = r.field(j, "$", "model");
  if (!model || !r.str(*model, "$.model", "name", s.modelName) ||
      !r.str(*model, "$.model", "fingerprint", s.modelFingerprint))
    return done(false);
  const ordered_json *machine = r.field(j, "$", "machine");
  if (!machine || !r.str(*machine, "$.machine", "name", s.machineName) ||
      !r.integer(*machine, "$.machine", "nodes", s.nodes) ||
      !r.integer(*machine, "$.machine", "devices_per_node", s.devicesPerNode) ||
      !r.str(*machine, "$.machine", "fingerprint", s.machineFingerprint))
    return done(false);
  if (s.nodes < 1 || s.devicesPerNode < 1)
    return done(r.fail("$.machine", "nodes and devices_per_node must be >= 1"));

  const ordered_json *ops = r.field(j, "$", "ops");
  if (!ops)
    return done(false);
  if (!ops->is_array())
    return done(r.fail("$.ops", "must be an array"));
  for (size_t i = 0; i < ops->size(); ++i) {
    const ordered_json &op = (*ops)[i];
    std::string path = "$.ops[" + std::to_string(i) + "]";
    OpConfig c;
    if (!r.str(op, path, "name", c.op) || !r.str(op, path, "kind", c.kind))
      return done(false);
    const ordered_json *degrees = r.field(op, path, "degrees");
    if (!degrees || !r.intMap(*degrees, path + ".degrees", c.degrees))
      return done(false);
    if (const ordered_json *view = r.field(op, path, "view", false)) {
      if (!r.integer(*view, path + ".view", "start", c.start))
        return done(false);
      if (const ordered_json *strides =
              r.field(*view, path + ".view", "strides", false))
        if (!r.intMap(*strides, path + ".view.strides", c.strides))
          return done(false);
    }
    if (op.contains("recompute")) {
      if (version < kStrategyFormatVersion)
        return done(needsV2(path + ".recompute"));
      if (!r.boolean(op, path, "recompute", c.recompute))
        return done(false);
    }
    s.ops.push_back(std::move(c));
  }

  if (const ordered_json *p = r.field(j, "$", "pipeline", false)) {
    if (version < kStrategyFormatVersion)
      return done(needsV2("$.pipeline"));
    PipelineSpec spec;
    if (!r.str(*p, "$.pipeline", "schedule", spec.schedule) ||
        !r.integer(*p, "$.pipeline", "micro_batches", spec.microBatches))
      return done(false);
    if (spec.schedule != "gpipe" && spec.schedule != "1f1b")
      return done(r.fail("$.pipeline.schedule",
                         "must be \"gpipe\" or \"1f1b\", got \"" +
                             spec.schedule + "\""));
    if (spec.microBatches < 1)
      return done(r.fail("$.pipeline.micro_batches", "must be >= 1"));
    const ordered_json *stages = r.field(*p, "$.pipeline", "stages");
    if (!stages)
      return done(false);
    if (!stages->is_array() || stages->empty())
      return done(r.fail("$.pipeline.stages", "must be a non-empty array"));
    for (size_t i = 0; i < stages->size(); ++i) {
      std::string path = "$.pipeline.stages[" + std::to_string(i) + "]";
      const ordered_json &st = (*stages)[i];
      PipelineStageSpec spec2;
      const ordered_json *opsRange = r.field(st, path, "ops");
      const ordered_json *devs = opsRange ? r.field(st, path, "devices") : nullptr;
      if (!devs ||
          !r.str(*opsRange, path + ".ops", "first", spec2.firstOp) ||
          !r.str(*opsRange, path + ".ops", "last", spec2.lastOp) ||
          !r.integer(*devs, path + ".devices", "start", spec2.firstDevice) ||
          !r.integer(*devs, path + ".devices", "count", spec2.numDevices))
        return done(false);
      if (spec2.firstDevice < 0 || spec2.numDevices < 1)
        return done(r.fail(path + ".devices",
                           "start must be >= 0 and count >= 1"));
      spec.stages.push_back(std::move(spec2));
    }
    s.pipeline = std::move(spec);
  }
  if (j.contains("zero_stage")) {
    if (version < kStrategyFormatVersion)
      return done(needsV2("$.zero_stage"));
    int64_t z = 0;
    if (!r.integer(j, "$", "zero_stage", z))
      return done(false);
    if (z < 0 || z > 3)
      return done(r.fail("$.zero_stage", "must be 0, 1, 2 or 3"));
    s.zeroStage = static_cast<int>(z);
  }
  if (j.contains("offload_optimizer")) {
    if (version < kStrategyFormatVersion)
      return done(needsV2("$.offload_optimizer"));
    if (!r.boolean(j, "$", "offload_optimizer", s.offloadOptimizer))
      return done(false);
  }

  if (const ordered_json *p = r.field(j, "$", "predicted", false)) {
    StrategyMetrics m;
    if (!r.number(*p, "$.predicted", "step_time_s", m.stepTimeSeconds))
      return done(false);
    if (const ordered_json *mem = r.field(*p, "$.predicted",
                                          "peak_memory_bytes", false)) {
      if (!mem->is_array())
        return done(r.fail("$.predicted.peak_memory_bytes",
                           "must be an array of integers"));
      for (size_t i = 0; i < mem->size(); ++i) {
        int64_t b;
        if (!r.integer((*mem)[i],
                       "$.predicted.peak_memory_bytes[" + std::to_string(i) +
                           "]",
                       b))
          return done(false);
        m.peakMemoryBytes.push_back(b);
      }
    }
    if (p->contains("communication_bytes") &&
        !r.integer(*p, "$.predicted", "communication_bytes",
                   m.communicationBytes))
      return done(false);
    if (p->contains("mfu") && !r.number(*p, "$.predicted", "mfu", m.mfu))
      return done(false);
    s.predicted = std::move(m);
  }
  if (const ordered_json *b = r.field(j, "$", "baselines", false)) {
    if (!b->is_object())
      return done(r.fail("$.baselines", "must be an object"));
    for (auto it = b->begin(); it != b->end(); ++it) {
      double t;
      if (!r.number(it.value(), "$.baselines." + it.key(), "step_time_s", t))
        return done(false);
      s.baselineStepTimeSeconds[it.key()] = t;
    }
  }
  if (const ordered_json *sr = r.field(j, "$", "search", false)) {
    SearchInfo info;
    int64_t seed = 0;
    if (!r.str(*sr, "$.search", "algorithm", info.algorithm) ||
        !r.integer(*sr, "$.search", "seed", seed) ||
        !r.number(*sr, "$.search", "budget_s", info.budgetSeconds) ||
        !r.integer(*sr, "$.search", "iterations", info.iterations) ||
        !r.number(*sr, "$.search", "wall_time_s", info.wallTimeSeconds))
      return done(false);
    info.seed = static_cast<uint64_t>(seed);
    s.search = std::move(info);
  }
  return done(true);
}

/// Stages name ops of the model, follow each other in its op order without
/// gaps, sit on disjoint sub-meshes inside the machine, and hold the views
/// of their ops.
static void validatePipeline(const StrategyFile &s, const OpGraph &graph,
                             int64_t devices,
                             std::vector<std::string> &problems) {
  const PipelineSpec &p = *s.pipeline;
  int expect = 0;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const PipelineStageSpec &st = p.stages[i];
    std::string where = "pipeline stage " + std::to_string(i);
    int first = graph.findOp(st.firstOp), last = graph.findOp(st.lastOp);
    if (first < 0 || last < 0) {
      problems.push_back(where + " names op '" +
                         (first < 0 ? st.firstOp : st.lastOp) +
                         "', which is not in the model");
      return;
    }
    if (first != expect) {
      problems.push_back(
          where + " starts at op '" + st.firstOp + "'; stages must cover the "
          "ops in the model's order without gaps (expected '" +
          (expect < static_cast<int>(graph.ops.size())
               ? graph.ops[expect].name
               : std::string("<none>")) +
          "')");
      return;
    }
    if (last < first) {
      problems.push_back(where + " ends at op '" + st.lastOp +
                         "', before its first op '" + st.firstOp + "'");
      return;
    }
    if (st.firstDevice + st.numDevices > devices)
      problems.push_back(where + "'s devices " + std::to_string(st.firstDevice) +
                         ".." + std::to_string(st.firstDevice + st.numDevices - 1) +
                         " are not inside the machine's 0.." +
                         std::to_string(devices - 1));
    for (size_t o = 0; o < i; ++o) {
      const PipelineStageSpec &other = p.stages[o];
      if (st.firstDevice < other.firstDevice + other.numDevices &&
          other.firstDevice < st.firstDevice + st.numDevices)
        problems.push_back(where + "'s devices overlap those of stage " +
                           std::to_string(o));
    }
    for (int k = first; k <= last; ++k) {
      const OpConfig *c = s.find(graph.ops[k].name);
      if (!c)
        continue;
      std::vector<std::string> order;
      for (const ParallelDim &d : graph.ops[k].dims)
        order.push_back(d.name);
      for (int64_t id : c->deviceIds(order))
        if (id < st.firstDevice || id >= st.firstDevice + st.numDevices) {
          problems.push_back("op '" + c->op + "' of " + where +
                             " runs on device " + std::to_string(id) +
                             ", outside the stage's devices " +
                             std::to_string(st.firstDevice) + ".." +
                             std::to_string(st.firstDevice + st.numDevices - 1));
          break;
        }
    }
    expect = last + 1;
  }
  if (expect != static_cast<int>(graph.ops.size()))
    problems.push_back("the pipeline stages end at op '" +
                       graph.ops[expect - 1].name +
                       "'; the last stage must end at the model's last op '" +
                       graph.ops.back().name + "'");
}

std::vector<std::string> validateStrategy(const StrategyFile &s,
                                          const OpGraph &graph, int64_t nodes,
                                          int64_t devicesPerNode,
                                          const std::string &machineFp) {
  std::vector<std::string> problems;
  if (s.modelFingerprint != graph.fingerprintHex())
    problems.push_back("the strategy is for model '" + s.modelName +
                       "' with fingerprint " + s.modelFingerprint +
                       ", but this model ('" + graph.modelName +
                       "') has fingerprint " + graph.fingerprintHex() +
                       ": it was made for a different model or shapes");
  if (s.nodes != nodes || s.devicesPerNode != devicesPerNode)
    problems.push_back("the strategy is for a machine of " +
                       std::to_string(s.nodes) + " x " +
                       std::to_string(s.devicesPerNode) +
                       " devices, but this machine has " +
                       std::to_string(nodes) + " x " +
                       std::to_string(devicesPerNode));
  if (!machineFp.empty() && s.machineFingerprint != machineFp)
    problems.push_back("the strategy's machine fingerprint " +
                       s.machineFingerprint + " ('" + s.machineName +
                       "') does not match this machine's " + machineFp);

  int64_t devices = nodes * devicesPerNode;
  std::set<std::string> seen;
  for (const OpConfig &c : s.ops) {
    std::string where = "op '" + c.op + "'";
    if (!seen.insert(c.op).second) {
      problems.push_back(where + " has two entries");
      continue;
    }
    int index = graph.findOp(c.op);
    if (index < 0) {
      problems.push_back(where + " is not in the model");
      continue;
    }
    const OpNode &node = graph.ops[index];
    if (c.kind != node.kind)
      problems.push_back(where + " is a " + node.kind +
                         " in the model, but the strategy says " + c.kind);
    std::vector<std::string> order;
    for (const ParallelDim &d : node.dims)
      order.push_back(d.name);
    bool ok = true;
    for (const auto &[dim, degree] : c.degrees) {
      const ParallelDim *d = node.findDim(dim);
      if (!d) {
        std::string known;
        for (const std::string &n : order)
          known += (known.empty() ? "" : ", ") + n;
        problems.push_back(where + " (" + node.kind + ") has no dimension '" +
                           dim + "' (it has: " +
                           (known.empty() ? "none" : known) + ")");
        ok = false;
      } else if (degree < 1 || d->size % degree != 0) {
        problems.push_back(where + ": degree " + std::to_string(degree) +
                           " of '" + dim + "' does not divide its size " +
                           std::to_string(d->size));
        ok = false;
      }
    }
    for (const auto &[dim, stride] : c.strides) {
      if (!c.degrees.count(dim)) {
        problems.push_back(where + ": a stride for '" + dim +
                           "', which has no degree");
        ok = false;
      } else if (stride < 1) {
        problems.push_back(where + ": stride of '" + dim +
                           "' must be >= 1, got " + std::to_string(stride));
        ok = false;
      }
    }
    if (!ok)
      continue;
    if (c.numDevices() > devices) {
      problems.push_back(where + " uses " + std::to_string(c.numDevices()) +
                         " devices; the machine has " +
                         std::to_string(devices));
      continue;
    }
    std::vector<int64_t> ids = c.deviceIds(order);
    std::set<int64_t> used;
    for (int64_t id : ids) {
      if (id < 0 || id >= devices) {
        problems.push_back(where + ": its view reaches device " +
                           std::to_string(id) + ", outside the machine's 0.." +
                           std::to_string(devices - 1));
        break;
      }
      if (!used.insert(id).second) {
        problems.push_back(where + ": its view places two shards on device " +
                           std::to_string(id));
        break;
      }
    }
  }
  for (const OpNode &node : graph.ops)
    if (!seen.count(node.name))
      problems.push_back("op '" + node.name + "' (" + node.kind +
                         ") has no entry in the strategy");
  if (s.pipeline)
    validatePipeline(s, graph, devices, problems);
  return problems;
}

} // namespace soap
