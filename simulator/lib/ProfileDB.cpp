//===- ProfileDB.cpp - measured kernel times ------------------------------===//
#include "soap/Simulator/ProfileDB.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

using json = nlohmann::ordered_json;

namespace soap {

bool parseDType(const std::string &text, DType &out) {
  for (DType t : kAllDTypes)
    if (text == toString(t)) {
      out = t;
      return true;
    }
  return false;
}

std::string ProfileDB::makeKey(const std::string &kind,
                               const std::string &attributes,
                               const std::string &shapes, DType dtype,
                               const std::string &deviceType) {
  std::string k;
  k.reserve(kind.size() + attributes.size() + shapes.size() +
            deviceType.size() + 12);
  k += kind;
  k += '|';
  k += attributes;
  k += '|';
  k += shapes;
  k += '|';
  k += toString(dtype);
  k += '|';
  k += deviceType;
  return k;
}

std::string KernelMeasurement::key() const {
  return ProfileDB::makeKey(kind, attributes, shapes, dtype, deviceType);
}

static void appendShape(std::string &s, const std::vector<int64_t> &shape,
                        DType t) {
  s += toString(t);
  s += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += 'x';
    s += std::to_string(shape[i]);
  }
  s += ']';
}

std::string
ProfileDB::shapesText(const std::vector<std::vector<int64_t>> &operands,
                      const std::vector<DType> &operandTypes,
                      const std::vector<std::vector<int64_t>> &results,
                      const std::vector<DType> &resultTypes) {
  std::string s;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (i)
      s += ',';
    appendShape(s, operands[i], operandTypes[i]);
  }
  s += "->";
  for (size_t i = 0; i < results.size(); ++i) {
    if (i)
      s += ',';
    appendShape(s, results[i], resultTypes[i]);
  }
  return s;
}

const KernelMeasurement *ProfileDB::find(const std::string &key) const {
  auto it = kernels.find(key);
  return it == kernels.end() ? nullptr : &it->second;
}

void ProfileDB::add(KernelMeasurement m) {
  std::string k = m.key();
  kernels[k] = std::move(m);
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

std::string ProfileDB::toJson() const {
  json doc;
  doc["format"] = "soap-profile";
  doc["version"] = 1;
  doc["device"] = {{"type", deviceType},
                   {"kind", deviceKind},
                   {"name", deviceName},
                   {"library", library}};
  doc["method"] = {{"repeats", repeats},
                   {"warmup", warmup},
                   {"statistic", "median"}};
  doc["figures"] = {{"best_gemm_flops_per_s", bestGemmFlops},
                    {"best_bandwidth_bytes_per_s", bestBandwidth}};
  // Kernels in key order, so files diff well.
  std::vector<const KernelMeasurement *> sorted;
  for (const auto &kv : kernels)
    sorted.push_back(&kv.second);
  std::sort(sorted.begin(), sorted.end(),
            [](const KernelMeasurement *a, const KernelMeasurement *b) {
              return a->key() < b->key();
            });
  json ks = json::array();
  for (const KernelMeasurement *m : sorted) {
    json j;
    j["kind"] = m->kind;
    j["attributes"] = m->attributes;
    j["shapes"] = m->shapes;
    j["dtype"] = toString(m->dtype);
    j["device_type"] = m->deviceType;
    j["method"] = m->method;
    j["flops"] = m->flops;
    j["bytes"] = m->bytes;
    j["forward_s"] = m->forward;
    j["forward_samples_s"] = m->forwardSamples;
    if (m->backward > 0) {
      j["backward_s"] = m->backward;
      j["backward_samples_s"] = m->backwardSamples;
    }
    ks.push_back(j);
  }
  doc["kernels"] = ks;
  json gs = json::array();
  for (const GemmSample &g : gemm)
    gs.push_back({{"m", g.m},
                  {"n", g.n},
                  {"k", g.k},
                  {"dtype", toString(g.dtype)},
                  {"seconds", g.seconds},
                  {"samples_s", g.samples}});
  doc["gemm"] = gs;
  json bs = json::array();
  for (const BandwidthSample &b : bandwidth)
    bs.push_back(
        {{"bytes", b.bytes}, {"seconds", b.seconds}, {"samples_s", b.samples}});
  doc["bandwidth"] = bs;
  if (!allReduce.empty()) { // optional: files without it stay as they were
    json as = json::array();
    for (const AllReduceSample &a : allReduce)
      as.push_back({{"devices", a.devices},
                    {"bytes", a.bytes},
                    {"seconds", a.seconds},
                    {"samples_s", a.samples}});
    doc["all_reduce"] = as;
  }
  return doc.dump(1);
}

std::string ProfileDB::save(const std::string &path) const {
  std::ofstream out(path);
  if (!out)
    return "cannot write '" + path + "'";
  out << toJson() << '\n';
  return out ? "" : "cannot write '" + path + "'";
}

namespace {
struct Checker {
  std::string origin;
  std::string error;
  bool fail(const std::string &path, const std::string &what) {
    if (error.empty())
      error = origin + ": " + path + ": " + what;
    return false;
  }
  bool num(const json &o, const std::string &path, const char *key, double &out,
           bool required = true) {
    auto it = o.find(key);
    if (it == o.end())
      return required ? fail(path, std::string("missing field '") + key + "'")
                      : true;
    if (!it->is_number() || it->get<double>() < 0)
      return fail(path + "." + key, "must be a non-negative number, got " +
                                        it->dump());
    out = it->get<double>();
    return true;
  }
  bool str(const json &o, const std::string &path, const char *key,
           std::string &out, bool required = true) {
    auto it = o.find(key);
    if (it == o.end())
      return required ? fail(path, std::string("missing field '") + key + "'")
                      : true;
    if (!it->is_string())
      return fail(path + "." + key, "must be a string, got " + it->dump());
    out = it->get<std::string>();
    return true;
  }
  bool samples(const json &o, const std::string &path, const char *key,
               std::vector<double> &out) {
    auto it = o.find(key);
    if (it == o.end())
      return true;
    if (!it->is_array())
      return fail(path + "." + key, "must be an array of seconds");
    for (const json &v : *it) {
      if (!v.is_number())
        return fail(path + "." + key, "must be an array of seconds");
      out.push_back(v.get<double>());
    }
    return true;
  }
};
} // namespace

Expected<ProfileDB> ProfileDB::parse(const std::string &text,
                                     const std::string &origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error &e) {
    return Error{origin + ": not valid JSON: " + e.what()};
  }
  Checker c{origin, {}};
  ProfileDB db;
  if (!doc.is_object())
    return Error{origin + ": $: must be an object"};
  std::string format;
  if (!c.str(doc, "$", "format", format))
    return Error{c.error};
  if (format != "soap-profile")
    return Error{origin + ": $.format: must be \"soap-profile\", got \"" +
                 format + "\""};
  if (!doc.contains("version") || doc["version"] != 1)
    return Error{origin + ": $.version: must be 1"};
  if (auto it = doc.find("device"); it != doc.end() && it->is_object()) {
    c.str(*it, "$.device", "type", db.deviceType);
    c.str(*it, "$.device", "kind", db.deviceKind, false);
    c.str(*it, "$.device", "name", db.deviceName, false);
    c.str(*it, "$.device", "library", db.library, false);
  } else {
    c.fail("$", "missing object 'device'");
  }
  if (auto it = doc.find("method"); it != doc.end() && it->is_object()) {
    double r = 0, w = 0;
    c.num(*it, "$.method", "repeats", r, false);
    c.num(*it, "$.method", "warmup", w, false);
    db.repeats = static_cast<int>(r);
    db.warmup = static_cast<int>(w);
  }
  if (auto it = doc.find("figures"); it != doc.end() && it->is_object()) {
    c.num(*it, "$.figures", "best_gemm_flops_per_s", db.bestGemmFlops, false);
    c.num(*it, "$.figures", "best_bandwidth_bytes_per_s", db.bestBandwidth,
          false);
  }
  if (auto it = doc.find("kernels"); it != doc.end()) {
    if (!it->is_array())
      c.fail("$.kernels", "must be an array");
    for (size_t i = 0; c.error.empty() && it->is_array() && i < it->size(); ++i) {
      const json &k = (*it)[i];
      std::string p = "$.kernels[" + std::to_string(i) + "]";
      if (!k.is_object()) {
        c.fail(p, "must be an object");
        break;
      }
      KernelMeasurement m;
      std::string dtype;
      c.str(k, p, "kind", m.kind);
      c.str(k, p, "attributes", m.attributes);
      c.str(k, p, "shapes", m.shapes);
      c.str(k, p, "dtype", dtype);
      c.str(k, p, "device_type", m.deviceType);
      c.str(k, p, "method", m.method, false);
      c.num(k, p, "flops", m.flops, false);
      c.num(k, p, "bytes", m.bytes, false);
      c.num(k, p, "forward_s", m.forward);
      c.num(k, p, "backward_s", m.backward, false);
      c.samples(k, p, "forward_samples_s", m.forwardSamples);
      c.samples(k, p, "backward_samples_s", m.backwardSamples);
      if (c.error.empty() && !parseDType(dtype, m.dtype))
        c.fail(p + ".dtype", "unknown dtype \"" + dtype + "\"");
      if (c.error.empty())
        db.add(std::move(m));
    }
  }
  if (auto it = doc.find("gemm"); c.error.empty() && it != doc.end()) {
    for (size_t i = 0; it->is_array() && i < it->size(); ++i) {
      const json &g = (*it)[i];
      std::string p = "$.gemm[" + std::to_string(i) + "]";
      GemmSample s;
      double m = 0, n = 0, k = 0;
      c.num(g, p, "m", m);
      c.num(g, p, "n", n);
      c.num(g, p, "k", k);
      c.num(g, p, "seconds", s.seconds);
      c.samples(g, p, "samples_s", s.samples);
      std::string dtype = "f32";
      c.str(g, p, "dtype", dtype, false);
      if (c.error.empty() && !parseDType(dtype, s.dtype))
        c.fail(p + ".dtype", "unknown dtype \"" + dtype + "\"");
      s.m = static_cast<int64_t>(m);
      s.n = static_cast<int64_t>(n);
      s.k = static_cast<int64_t>(k);
      if (!c.error.empty())
        break;
      db.gemm.push_back(std::move(s));
    }
  }
  if (auto it = doc.find("bandwidth"); c.error.empty() && it != doc.end()) {
    for (size_t i = 0; it->is_array() && i < it->size(); ++i) {
      const json &b = (*it)[i];
      std::string p = "$.bandwidth[" + std::to_string(i) + "]";
      BandwidthSample s;
      double bytes = 0;
      c.num(b, p, "bytes", bytes);
      c.num(b, p, "seconds", s.seconds);
      c.samples(b, p, "samples_s", s.samples);
      s.bytes = static_cast<int64_t>(bytes);
      if (!c.error.empty())
        break;
      db.bandwidth.push_back(std::move(s));
    }
  }
  if (auto it = doc.find("all_reduce"); c.error.empty() && it != doc.end()) {
    if (!it->is_array())
      c.fail("$.all_reduce", "must be an array");
    for (size_t i = 0; c.error.empty() && it->is_array() && i < it->size(); ++i) {
      const json &a = (*it)[i];
      std::string p = "$.all_reduce[" + std::to_string(i) + "]";
      AllReduceSample s;
      double devices = 0, bytes = 0;
      c.num(a, p, "devices", devices);
      c.num(a, p, "bytes", bytes);
      c.num(a, p, "seconds", s.seconds);
      c.samples(a, p, "samples_s", s.samples);
      if (c.error.empty() && (devices < 2 || bytes <= 0))
        c.fail(p, "needs at least 2 devices and a positive byte count");
      s.devices = static_cast<int64_t>(devices);
      s.bytes = static_cast<int64_t>(bytes);
      if (c.error.empty())
        db.allReduce.push_back(std::move(s));
    }
    db.sortAllReduce();
  }
  if (!c.error.empty())
    return Error{c.error};
  return db;
}

void ProfileDB::sortAllReduce() {
  std::sort(allReduce.begin(), allReduce.end(),
            [](const AllReduceSample &a, const AllReduceSample &b) {
              return a.devices != b.devices ? a.devices < b.devices
                                            : a.bytes < b.bytes;
            });
}

double ProfileDB::allReduceSeconds(int64_t devices, double bytes) const {
  auto first = std::find_if(allReduce.begin(), allReduce.end(),
                            [&](const AllReduceSample &a) { return a.devices == devices; });
  auto last = std::find_if(first, allReduce.end(),
                           [&](const AllReduceSample &a) { return a.devices != devices; });
  if (first == last)
    return 0;
  if (bytes <= static_cast<double>(first->bytes) || last - first == 1)
    return first->seconds;
  // The segment that holds `bytes`, or the last one (extrapolated).
  auto hi = first + 1;
  while (hi + 1 != last && static_cast<double>(hi->bytes) < bytes)
    ++hi;
  auto lo = hi - 1;
  double slope = (hi->seconds - lo->seconds) /
                 static_cast<double>(hi->bytes - lo->bytes);
  return std::max(lo->seconds + slope * (bytes - static_cast<double>(lo->bytes)),
                  first->seconds);
}

Expected<ProfileDB> ProfileDB::load(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return Error{path + ": cannot open the profile"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

} // namespace soap
