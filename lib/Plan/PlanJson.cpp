//===- PlanJson.cpp - the plan as JSON (docs/plan-format.md) --------------===//
#include "soap/Plan/Plan.h"
#include "soap/Support/JsonReader.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace soap {

using nlohmann::ordered_json;

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

namespace {

std::optional<DType> parseDType(std::string_view s) {
  for (DType t : kAllDTypes)
    if (s == toString(t))
      return t;
  return std::nullopt;
}

ordered_json regionJson(const PlanRegion &r) {
  return {{"offset", r.offset}, {"shape", r.shape}};
}

ordered_json attrJson(const PlanAttr &a) {
  switch (a.kind) {
  case PlanAttr::Kind::Int:
    return a.i;
  case PlanAttr::Kind::Float:
    return a.f;
  case PlanAttr::Kind::String:
    return a.s;
  case PlanAttr::Kind::Bool:
    return a.b;
  case PlanAttr::Kind::Ints:
    return a.ints;
  case PlanAttr::Kind::Floats:
    return a.floats;
  }
  return nullptr;
}

/// Finite doubles as numbers; NaN and infinities as strings, which JSON
/// cannot hold otherwise.
ordered_json number(double v) {
  if (std::isfinite(v))
    return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

ordered_json numbers(const std::vector<double> &vs) {
  ordered_json a = ordered_json::array();
  for (double v : vs)
    a.push_back(number(v));
  return a;
}

ordered_json taskJson(const PlanTask &t) {
  ordered_json j;
  j["type"] = toString(t.type);
  j["phase"] = toString(t.phase);
  j["op"] = t.op;
  if (!t.stage.empty())
    j["stage"] = t.stage;
  if (t.edge >= 0)
    j["edge"] = t.edge;
  if (t.transfer >= 0)
    j["transfer"] = t.transfer;
  switch (t.type) {
  case TaskType::Kernel: {
    j["kind"] = t.kind;
    if (!t.part.empty())
      j["part"] = t.part;
    if (t.host)
      j["host"] = true;
    j["shard"] = t.shard;
    j["inputs"] = t.inputs;
    j["outputs"] = t.outputs;
    ordered_json attrs = ordered_json::object();
    for (const auto &[k, v] : t.attrs)
      attrs[k] = attrJson(v);
    j["attrs"] = std::move(attrs);
    j["flops"] = t.flops;
    break;
  }
  case TaskType::Copy:
    j["src"] = t.src;
    j["src_region"] = regionJson(t.srcRegion);
    j["buffer"] = t.buffer;
    j["region"] = regionJson(t.region);
    j["accumulate"] = t.accumulate;
    break;
  case TaskType::Send:
  case TaskType::Recv:
    j["peer"] = t.peer;
    j["tag"] = t.tag;
    j["buffer"] = t.buffer;
    j["region"] = regionJson(t.region);
    if (t.type == TaskType::Recv)
      j["accumulate"] = t.accumulate;
    break;
  case TaskType::Collective:
    j["collective"] = toString(t.collective);
    j["comm"] = t.comm;
    if (t.src >= 0)
      j["src"] = t.src;
    j["buffer"] = t.buffer;
    if (t.collective == CollectiveKind::Broadcast)
      j["root"] = t.root;
    break;
  case TaskType::Fill:
    j["buffer"] = t.buffer;
    j["value"] = number(t.value);
    break;
  }
  return j;
}

} // namespace

std::string writePlanJson(const Plan &p, int indent) {
  ordered_json j;
  j["format"] = "soap-plan";
  j["version"] = p.requiredVersion();
  j["model"] = {{"name", p.modelName}, {"fingerprint", p.modelFingerprint}};
  j["num_ranks"] = p.numRanks;
  if (p.forwardOnly)
    j["mode"] = "forward";
  const OptimizerSettings &o = p.optimizer;
  ordered_json opt;
  opt["kind"] = toString(o.kind);
  opt["lr"] = o.lr;
  opt["weight_decay"] = o.weightDecay;
  if (o.kind == OptimizerSettings::Kind::Sgd) {
    opt["momentum"] = o.momentum;
    opt["dampening"] = o.dampening;
    opt["nesterov"] = o.nesterov;
  } else {
    opt["beta1"] = o.beta1;
    opt["beta2"] = o.beta2;
    opt["eps"] = o.eps;
    opt["decoupled"] = o.decoupled;
  }
  j["optimizer"] = std::move(opt);

  ordered_json weights = ordered_json::array();
  for (const PlanWeight &w : p.weights) {
    ordered_json x = {{"name", w.name},
                      {"dtype", toString(w.dtype)},
                      {"shape", w.shape},
                      {"init", w.init},
                      {"scale", number(w.scale)}};
    if (!w.values.empty())
      x["values"] = numbers(w.values);
    weights.push_back(std::move(x));
  }
  j["weights"] = std::move(weights);

  ordered_json inputs = ordered_json::array();
  for (const PlanInput &in : p.inputs) {
    ordered_json x = {{"name", in.name},
                      {"dtype", toString(in.dtype)},
                      {"shape", in.shape},
                      {"role", toString(in.role)}};
    if (in.range > 0)
      x["range"] = in.range;
    inputs.push_back(std::move(x));
  }
  j["inputs"] = std::move(inputs);

  ordered_json constants = ordered_json::array();
  for (const PlanConstant &c : p.constants)
    constants.push_back({{"name", c.name},
                         {"dtype", toString(c.dtype)},
                         {"shape", c.shape},
                         {"values", numbers(c.values)}});
  j["constants"] = std::move(constants);

  ordered_json outputs = ordered_json::array();
  for (const PlanOutput &out : p.outputs) {
    ordered_json holders = ordered_json::array();
    for (auto [rank, buffer] : out.holders)
      holders.push_back({{"rank", rank}, {"buffer", buffer}});
    outputs.push_back(
        {{"op", out.op}, {"result", out.result}, {"holders", holders}});
  }
  j["outputs"] = std::move(outputs);

  ordered_json comms = ordered_json::array();
  for (const Communicator &c : p.communicators)
    comms.push_back({{"id", c.id}, {"ranks", c.ranks}});
  j["communicators"] = std::move(comms);

  ordered_json ranks = ordered_json::array();
  for (const RankPlan &r : p.ranks) {
    ordered_json buffers = ordered_json::array();
    for (const PlanBuffer &b : r.buffers) {
      ordered_json x = {{"id", b.id},
                        {"name", b.name},
                        {"role", toString(b.role)},
                        {"dtype", toString(b.dtype)},
                        {"shape", b.shape}};
      if (!b.tensor.empty())
        x["tensor"] = b.tensor;
      if (!b.tensor.empty()) {
        x["global_shape"] = b.globalShape;
        x["offset"] = b.offset;
      }
      if (b.part)
        x["part"] = {{"index", b.part->index},
                     {"count", b.part->count},
                     {"rows", b.part->rows}};
      if (b.host)
        x["host"] = true;
      buffers.push_back(std::move(x));
    }
    ordered_json tasks = ordered_json::array();
    for (const PlanTask &t : r.tasks)
      tasks.push_back(taskJson(t));
    ranks.push_back(
        {{"rank", r.rank}, {"buffers", buffers}, {"tasks", tasks}});
  }
  j["ranks"] = std::move(ranks);
  return j.dump(indent) + "\n";
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {

/// The plan's fields: the generic ones, dtypes and enumerations.
struct Reader : JsonReader {
  bool dtype(const ordered_json &obj, const std::string &path, const char *key,
             DType &out) {
    std::string s;
    if (!str(obj, path, key, s))
      return false;
    auto t = parseDType(s);
    if (!t)
      return fail(path + "." + key,
                  "unknown dtype '" + s + "' (f32, f16, bf16, f64, i32, i64)");
    out = *t;
    return true;
  }
  template <typename E>
  bool enumeration(const ordered_json &obj, const std::string &path,
                   const char *key, E &out,
                   std::optional<E> (*parse)(std::string_view),
                   const char *choices) {
    std::string s;
    if (!str(obj, path, key, s))
      return false;
    auto e = parse(s);
    if (!e)
      return fail(path + "." + key,
                  "unknown value '" + s + "' (" + choices + ")");
    out = *e;
    return true;
  }
  bool region(const ordered_json &obj, const std::string &path,
              const char *key, PlanRegion &out) {
    const ordered_json *v = field(obj, path, key);
    if (!v)
      return false;
    std::string p = path + "." + key;
    return ints(*v, p, "offset", out.offset) && ints(*v, p, "shape", out.shape);
  }
  bool attr(const ordered_json &v, const std::string &path, PlanAttr &out) {
    if (v.is_boolean()) {
      out = PlanAttr::ofBool(v.get<bool>());
      return true;
    }
    if (v.is_number_integer()) {
      out = PlanAttr::ofInt(v.get<int64_t>());
      return true;
    }
    if (v.is_number()) {
      out = PlanAttr::ofFloat(v.get<double>());
      return true;
    }
    if (v.is_string()) {
      out = PlanAttr::ofString(v.get<std::string>());
      return true;
    }
    if (v.is_array()) {
      bool allInts = true;
      for (const auto &x : v)
        allInts &= x.is_number_integer();
      if (allInts) {
        std::vector<int64_t> xs;
        for (const auto &x : v)
          xs.push_back(x.get<int64_t>());
        out = PlanAttr::ofInts(std::move(xs));
        return true;
      }
      std::vector<double> xs;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_number())
          return fail(path + "[" + std::to_string(i) + "]",
                      "must be a number");
        xs.push_back(v[i].get<double>());
      }
      out = PlanAttr::ofFloats(std::move(xs));
      return true;
    }
    return fail(path, "must be a number, string, bool or array of numbers");
  }

  bool task(const ordered_json &j, const std::string &p, PlanTask &t) {
    if (!enumeration(j, p, "type", t.type, parseTaskType,
                     "kernel, copy, send, recv, collective, fill") ||
        !enumeration(j, p, "phase", t.phase, parsePhase, "fwd, bwd, update") ||
        !str(j, p, "op", t.op) || !str(j, p, "stage", t.stage, false) ||
        !integer(j, p, "edge", t.edge, false) ||
        !integer(j, p, "transfer", t.transfer, false))
      return false;
    switch (t.type) {
    case TaskType::Kernel: {
      if (!str(j, p, "kind", t.kind) || !str(j, p, "part", t.part, false) ||
          !boolean(j, p, "host", t.host, false) ||
          !integer(j, p, "shard", t.shard, false) ||
          !ints(j, p, "inputs", t.inputs) || !ints(j, p, "outputs", t.outputs) ||
          !integer(j, p, "flops", t.flops, false))
        return false;
      if (const ordered_json *a = field(j, p, "attrs", false)) {
        if (!a->is_object())
          return fail(p + ".attrs", "must be an object");
        for (auto it = a->begin(); it != a->end(); ++it) {
          PlanAttr v;
          if (!attr(it.value(), p + ".attrs." + it.key(), v))
            return false;
          t.attrs[it.key()] = std::move(v);
        }
      }
      return error.empty();
    }
    case TaskType::Copy:
      return integer(j, p, "src", t.src) &&
             region(j, p, "src_region", t.srcRegion) &&
             integer(j, p, "buffer", t.buffer) &&
             region(j, p, "region", t.region) &&
             boolean(j, p, "accumulate", t.accumulate, false);
    case TaskType::Send:
    case TaskType::Recv:
      return integer(j, p, "peer", t.peer) && integer(j, p, "tag", t.tag) &&
             integer(j, p, "buffer", t.buffer) &&
             region(j, p, "region", t.region) &&
             boolean(j, p, "accumulate", t.accumulate, false);
    case TaskType::Collective:
      return enumeration(j, p, "collective", t.collective,
                         parseCollectiveKind,
                         "all_reduce, all_gather, reduce_scatter, broadcast, "
                         "all_to_all") &&
             integer(j, p, "comm", t.comm) &&
             integer(j, p, "src", t.src, false) &&
             integer(j, p, "buffer", t.buffer) &&
             integer(j, p, "root", t.root, false);
    case TaskType::Fill:
      return integer(j, p, "buffer", t.buffer) && real(j, p, "value", t.value);
    }
    return true;
  }
};

} // namespace

bool parsePlanJson(std::string_view text, Plan &out, std::string &error) {
  ordered_json j;
  try {
    j = ordered_json::parse(text.begin(), text.end());
  } catch (const ordered_json::parse_error &e) {
    error = std::string("not valid JSON: ") + e.what();
    return false;
  }
  Reader r;
  Plan p;
  const std::string root = "$";
  auto done = [&]() {
    error = r.error;
    if (!error.empty())
      return false;
    out = std::move(p);
    return true;
  };
  std::string format;
  if (!r.str(j, root, "format", format))
    return done();
  if (format != "soap-plan") {
    r.fail("$.format", "must be \"soap-plan\", got \"" + format + "\"");
    return done();
  }
  if (!r.integer(j, root, "version", p.version))
    return done();
  if (p.version != kPlanFormatVersion && p.version != kPlanFormatVersionPlain) {
    r.fail("$.version", "unsupported plan format version " +
                            std::to_string(p.version) + " (this reader reads " +
                            std::to_string(kPlanFormatVersionPlain) + " and " +
                            std::to_string(kPlanFormatVersion) + ")");
    return done();
  }
  if (const ordered_json *m = r.field(j, root, "model")) {
    r.str(*m, "$.model", "name", p.modelName) &&
        r.str(*m, "$.model", "fingerprint", p.modelFingerprint);
  }
  if (!r.error.empty() || !r.integer(j, root, "num_ranks", p.numRanks))
    return done();
  if (p.numRanks < 1) {
    r.fail("$.num_ranks", "must be at least 1");
    return done();
  }
  {
    std::string mode = "train";
    if (!r.str(j, root, "mode", mode, false))
      return done();
    if (mode != "train" && mode != "forward") {
      r.fail("$.mode", "unknown mode '" + mode + "' (train, forward)");
      return done();
    }
    p.forwardOnly = mode == "forward";
  }

  if (const ordered_json *o = r.field(j, root, "optimizer")) {
    OptimizerSettings &s = p.optimizer;
    std::string kind;
    const std::string op = "$.optimizer";
    if (!r.str(*o, op, "kind", kind))
      return done();
    if (kind == "sgd")
      s.kind = OptimizerSettings::Kind::Sgd;
    else if (kind == "adam")
      s.kind = OptimizerSettings::Kind::Adam;
    else {
      r.fail(op + ".kind", "unknown optimizer '" + kind + "' (sgd, adam)");
      return done();
    }
    r.real(*o, op, "lr", s.lr) &&
        r.real(*o, op, "weight_decay", s.weightDecay, false) &&
        r.real(*o, op, "momentum", s.momentum, false) &&
        r.real(*o, op, "dampening", s.dampening, false) &&
        r.boolean(*o, op, "nesterov", s.nesterov, false) &&
        r.real(*o, op, "beta1", s.beta1, false) &&
        r.real(*o, op, "beta2", s.beta2, false) &&
        r.real(*o, op, "eps", s.eps, false) &&
        r.boolean(*o, op, "decoupled", s.decoupled, false);
    if (s.kind == OptimizerSettings::Kind::Adam && !o->contains("momentum"))
      s.momentum = 0;
  }
  if (!r.error.empty())
    return done();

  if (const ordered_json *ws = r.array(j, root, "weights")) {
    for (size_t i = 0; i < ws->size() && r.error.empty(); ++i) {
      std::string pp = "$.weights[" + std::to_string(i) + "]";
      PlanWeight w;
      if (r.str((*ws)[i], pp, "name", w.name) &&
          r.dtype((*ws)[i], pp, "dtype", w.dtype) &&
          r.ints((*ws)[i], pp, "shape", w.shape) &&
          r.str((*ws)[i], pp, "init", w.init) &&
          r.real((*ws)[i], pp, "scale", w.scale, false) &&
          r.reals((*ws)[i], pp, "values", w.values, false))
        p.weights.push_back(std::move(w));
    }
  }
  if (!r.error.empty())
    return done();
  if (const ordered_json *is = r.array(j, root, "inputs")) {
    for (size_t i = 0; i < is->size() && r.error.empty(); ++i) {
      std::string pp = "$.inputs[" + std::to_string(i) + "]";
      PlanInput in;
      if (r.str((*is)[i], pp, "name", in.name) &&
          r.dtype((*is)[i], pp, "dtype", in.dtype) &&
          r.ints((*is)[i], pp, "shape", in.shape) &&
          r.enumeration((*is)[i], pp, "role", in.role, parseBufferRole,
                        "input, label") &&
          r.integer((*is)[i], pp, "range", in.range, false))
        p.inputs.push_back(std::move(in));
    }
  }
  if (!r.error.empty())
    return done();
  if (const ordered_json *cs = r.array(j, root, "constants", false)) {
    for (size_t i = 0; i < cs->size() && r.error.empty(); ++i) {
      std::string pp = "$.constants[" + std::to_string(i) + "]";
      PlanConstant c;
      if (r.str((*cs)[i], pp, "name", c.name) &&
          r.dtype((*cs)[i], pp, "dtype", c.dtype) &&
          r.ints((*cs)[i], pp, "shape", c.shape) &&
          r.reals((*cs)[i], pp, "values", c.values))
        p.constants.push_back(std::move(c));
    }
  }
  if (!r.error.empty())
    return done();
  if (const ordered_json *os = r.array(j, root, "outputs", false)) {
    for (size_t i = 0; i < os->size() && r.error.empty(); ++i) {
      std::string pp = "$.outputs[" + std::to_string(i) + "]";
      PlanOutput o;
      if (!r.str((*os)[i], pp, "op", o.op) ||
          !r.integer((*os)[i], pp, "result", o.result))
        break;
      if (const ordered_json *hs = r.array((*os)[i], pp, "holders")) {
        for (size_t k = 0; k < hs->size() && r.error.empty(); ++k) {
          std::string hp = pp + ".holders[" + std::to_string(k) + "]";
          int rank = 0, buffer = 0;
          if (r.integer((*hs)[k], hp, "rank", rank) &&
              r.integer((*hs)[k], hp, "buffer", buffer))
            o.holders.emplace_back(rank, buffer);
        }
      }
      p.outputs.push_back(std::move(o));
    }
  }
  if (!r.error.empty())
    return done();
  if (const ordered_json *cs = r.array(j, root, "communicators")) {
    for (size_t i = 0; i < cs->size() && r.error.empty(); ++i) {
      std::string pp = "$.communicators[" + std::to_string(i) + "]";
      Communicator c;
      if (r.integer((*cs)[i], pp, "id", c.id) &&
          r.ints((*cs)[i], pp, "ranks", c.ranks))
        p.communicators.push_back(std::move(c));
    }
  }
  if (!r.error.empty())
    return done();
  if (const ordered_json *rs = r.array(j, root, "ranks")) {
    for (size_t i = 0; i < rs->size() && r.error.empty(); ++i) {
      std::string rp = "$.ranks[" + std::to_string(i) + "]";
      const ordered_json &rj = (*rs)[i];
      RankPlan rank;
      if (!r.integer(rj, rp, "rank", rank.rank))
        break;
      if (const ordered_json *bs = r.array(rj, rp, "buffers")) {
        for (size_t k = 0; k < bs->size() && r.error.empty(); ++k) {
          std::string bp = rp + ".buffers[" + std::to_string(k) + "]";
          const ordered_json &bj = (*bs)[k];
          PlanBuffer b;
          if (r.integer(bj, bp, "id", b.id) && r.str(bj, bp, "name", b.name) &&
              r.enumeration(bj, bp, "role", b.role, parseBufferRole,
                            "input, label, constant, activation, weight, "
                            "gradient, optimizer-state, state, scratch") &&
              r.dtype(bj, bp, "dtype", b.dtype) &&
              r.ints(bj, bp, "shape", b.shape) &&
              r.str(bj, bp, "tensor", b.tensor, false) &&
              r.ints(bj, bp, "global_shape", b.globalShape, false) &&
              r.ints(bj, bp, "offset", b.offset, false) &&
              r.boolean(bj, bp, "host", b.host, false)) {
            if (const ordered_json *pj = r.field(bj, bp, "part", false)) {
              PlanPart part;
              if (r.integer(*pj, bp + ".part", "index", part.index) &&
                  r.integer(*pj, bp + ".part", "count", part.count) &&
                  r.integer(*pj, bp + ".part", "rows", part.rows))
                b.part = part;
            }
            if ((b.part || b.host) && p.version < kPlanFormatVersion)
              r.fail(bp + (b.part ? ".part" : ".host"),
                     "is a version-2 field in a version-1 plan");
            rank.buffers.push_back(std::move(b));
          }
        }
      }
      if (const ordered_json *ts = r.array(rj, rp, "tasks")) {
        rank.tasks.reserve(ts->size());
        for (size_t k = 0; k < ts->size() && r.error.empty(); ++k) {
          PlanTask t;
          std::string tp = rp + ".tasks[" + std::to_string(k) + "]";
          if (r.task((*ts)[k], tp, t)) {
            if (t.host && p.version < kPlanFormatVersion)
              r.fail(tp + ".host", "is a version-2 field in a version-1 plan");
            rank.tasks.push_back(std::move(t));
          }
        }
      }
      p.ranks.push_back(std::move(rank));
    }
  }
  return done();
}

std::string readPlanFile(const std::string &path, Plan &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "cannot read plan file '" + path + "'";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string error;
  if (!parsePlanJson(ss.str(), out, error))
    return "plan '" + path + "': " + error;
  return "";
}

std::string writePlanFile(const std::string &path, const Plan &plan,
                          int indent) {
  std::string text = writePlanJson(plan, indent);
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return "";
  }
  std::ofstream out(path, std::ios::binary);
  if (!out)
    return "cannot write plan file '" + path + "'";
  out << text;
  if (!out)
    return "cannot write plan file '" + path + "'";
  return "";
}

} // namespace soap
