//===- Strategy.cpp - strategy JSON read, write, validate -----------------===//
#include "soap/Strategy/Strategy.h"
#include "soap/Graph/OpGraph.h"

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

std::string writeStrategyJson(const StrategyFile &s) {
  ordered_json j;
  j["format"] = "soap-strategy";
  j["version"] = s.version;
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
    ops.push_back(std::move(op));
  }
  j["ops"] = std::move(ops);
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
/// Reads fields with messages that name the JSON path of the problem.
struct Reader {
  std::string error;

  bool fail(const std::string &path, const std::string &what) {
    if (error.empty())
      error = path + ": " + what;
    return false;
  }
  const ordered_json *field(const ordered_json &obj, const std::string &path,
                            const char *key, bool required = true) {
    if (!obj.is_object()) {
      fail(path, "must be an object");
      return nullptr;
    }
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required)
        fail(path + "." + key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  bool str(const ordered_json &obj, const std::string &path, const char *key,
           std::string &out) {
    const ordered_json *v = field(obj, path, key);
    if (!v)
      return false;
    if (!v->is_string())
      return fail(path + "." + key, "must be a string");
    out = v->get<std::string>();
    return true;
  }
  bool integer(const ordered_json &v, const std::string &path, int64_t &out) {
    if (!v.is_number_integer())
      return fail(path, "must be an integer");
    out = v.get<int64_t>();
    return true;
  }
  bool integer(const ordered_json &obj, const std::string &path,
               const char *key, int64_t &out) {
    const ordered_json *v = field(obj, path, key);
    return v && integer(*v, path + "." + key, out);
  }
  bool number(const ordered_json &obj, const std::string &path, const char *key,
              double &out) {
    const ordered_json *v = field(obj, path, key);
    if (!v)
      return false;
    if (!v->is_number())
      return fail(path + "." + key, "must be a number");
    out = v->get<double>();
    return true;
  }
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
  if (version != kStrategyFormatVersion)
    return done(r.fail("$.version",
                       "is " + std::to_string(version) +
                           "; this Soap reads version " +
                           std::to_string(kStrategyFormatVersion)));
  s.version = static_cast<int>(version);

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
    s.ops.push_back(std::move(c));
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
  return problems;
}

} // namespace soap
