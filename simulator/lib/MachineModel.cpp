//===- MachineModel.cpp - machine files, resources and routes -------------===//
#include "soap/Simulator/MachineModel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#ifndef SOAP_MACHINES_DIR
#define SOAP_MACHINES_DIR "simulator/machines"
#endif

using json = nlohmann::ordered_json;

namespace soap {

const char *toString(LinkKind k) {
  switch (k) {
  case LinkKind::NVLink:
    return "nvlink";
  case LinkKind::NVSwitch:
    return "nvswitch";
  case LinkKind::PCIe:
    return "pcie";
  case LinkKind::InfiniBand:
    return "infiniband";
  case LinkKind::Ethernet:
    return "ethernet";
  case LinkKind::SharedMemory:
    return "shared-memory";
  }
  return "?";
}

const char *toString(LinkScope s) {
  switch (s) {
  case LinkScope::Device:
    return "device";
  case LinkScope::Pair:
    return "pair";
  case LinkScope::Node:
    return "node";
  case LinkScope::NodeShared:
    return "node-shared";
  }
  return "?";
}

const char *toString(CollectiveAlgorithm a) {
  switch (a) {
  case CollectiveAlgorithm::Auto:
    return "auto";
  case CollectiveAlgorithm::Ring:
    return "ring";
  case CollectiveAlgorithm::Tree:
    return "tree";
  case CollectiveAlgorithm::Hierarchical:
    return "hierarchical";
  }
  return "?";
}

const char *toString(Collective c) {
  switch (c) {
  case Collective::AllReduce:
    return "all_reduce";
  case Collective::AllGather:
    return "all_gather";
  case Collective::ReduceScatter:
    return "reduce_scatter";
  case Collective::AllToAll:
    return "all_to_all";
  }
  return "?";
}

double DeviceSpec::peakFlops(DType dtype, bool allowTf32) const {
  double p = 0;
  switch (dtype) {
  case DType::F64:
    p = peakF64;
    break;
  case DType::F32:
    p = (allowTf32 && peakTf32 > 0) ? peakTf32 : peakF32;
    break;
  case DType::F16:
    p = peakF16;
    break;
  case DType::BF16:
    p = peakBf16;
    break;
  case DType::I32:
  case DType::I64:
  case DType::I1:
    p = peakF32;
    break;
  }
  return p > 0 ? p : peakF32;
}

//===----------------------------------------------------------------------===//
// Parsing with path-named errors
//===----------------------------------------------------------------------===//

namespace {

/// Reads fields of a JSON document; the first problem is kept, prefixed with
/// the file and the JSON path of the field.
class Reader {
public:
  explicit Reader(std::string origin) : origin(std::move(origin)) {}

  bool failed() const { return !error.empty(); }
  std::string message() const { return error; }

  void fail(const std::string &path, const std::string &what) {
    if (error.empty())
      error = origin + ": " + path + ": " + what;
  }

  const json *field(const json &obj, const std::string &path, const char *key,
                    bool required) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required)
        fail(path, std::string("missing required field '") + key + "'");
      return nullptr;
    }
    return &*it;
  }

  static std::string sub(const std::string &path, const char *key) {
    return path + "." + key;
  }

  /// A number > 0 (or >= 0 with allowZero), into `out`; absent and not
  /// required leaves `out` alone.
  void number(const json &obj, const std::string &path, const char *key,
              double &out, bool required, bool allowZero = false) {
    const json *v = field(obj, path, key, required);
    if (!v)
      return;
    if (!v->is_number()) {
      fail(sub(path, key), "must be a number, got " + v->dump());
      return;
    }
    double d = v->get<double>();
    if (!(d > 0 || (allowZero && d == 0))) {
      fail(sub(path, key), std::string("must be ") +
                               (allowZero ? "non-negative" : "positive") +
                               ", got " + v->dump());
      return;
    }
    out = d;
  }

  /// A fraction in (0, 1].
  void fraction(const json &obj, const std::string &path, const char *key,
                double &out) {
    const json *v = field(obj, path, key, false);
    if (!v)
      return;
    if (!v->is_number() || !(v->get<double>() > 0 && v->get<double>() <= 1)) {
      fail(sub(path, key), "must be a number in (0, 1], got " + v->dump());
      return;
    }
    out = v->get<double>();
  }

  /// A positive integer, or "auto" when `autoValue` is given.
  void integer(const json &obj, const std::string &path, const char *key,
               int64_t &out, bool required,
               std::optional<int64_t> autoValue = std::nullopt) {
    const json *v = field(obj, path, key, required);
    if (!v)
      return;
    if (autoValue && v->is_string() && v->get<std::string>() == "auto") {
      out = *autoValue;
      return;
    }
    if (!v->is_number_integer() || v->get<int64_t>() < 1) {
      fail(sub(path, key), std::string("must be a positive integer") +
                               (autoValue ? " or \"auto\"" : "") + ", got " +
                               v->dump());
      return;
    }
    out = v->get<int64_t>();
  }

  void string(const json &obj, const std::string &path, const char *key,
              std::string &out, bool required) {
    const json *v = field(obj, path, key, required);
    if (!v)
      return;
    if (!v->is_string()) {
      fail(sub(path, key), "must be a string, got " + v->dump());
      return;
    }
    out = v->get<std::string>();
  }

  bool object(const json &v, const std::string &path) {
    if (v.is_object())
      return true;
    fail(path, "must be an object, got " + v.dump());
    return false;
  }

private:
  std::string origin;
  std::string error;
};

template <class E, size_t N>
std::optional<E> parseEnum(const std::string &text,
                           const std::array<E, N> &values) {
  for (E v : values)
    if (text == toString(v))
      return v;
  return std::nullopt;
}

template <class E, size_t N>
std::string enumChoices(const std::array<E, N> &values) {
  std::string s;
  for (size_t i = 0; i < N; ++i)
    s += (i ? ", " : "") + std::string("\"") + toString(values[i]) + "\"";
  return s;
}

constexpr std::array<LinkKind, 6> kLinkKinds = {
    LinkKind::NVLink,     LinkKind::NVSwitch, LinkKind::PCIe,
    LinkKind::InfiniBand, LinkKind::Ethernet, LinkKind::SharedMemory};
constexpr std::array<LinkScope, 4> kLinkScopes = {
    LinkScope::Device, LinkScope::Pair, LinkScope::Node, LinkScope::NodeShared};
constexpr std::array<CollectiveAlgorithm, 4> kAlgorithms = {
    CollectiveAlgorithm::Auto, CollectiveAlgorithm::Ring,
    CollectiveAlgorithm::Tree, CollectiveAlgorithm::Hierarchical};
constexpr std::array<Collective, 4> kCollectives = {
    Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
    Collective::AllToAll};

int64_t hostCores() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int64_t>(n) : 1;
}

int64_t hostMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || size <= 0)
    return int64_t(1) << 30;
  return static_cast<int64_t>(pages) * size;
}

} // namespace

Expected<MachineModel> MachineModel::parse(const std::string &text,
                                           const std::string &origin,
                                           const MachineOverrides &overrides) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error &e) {
    return Error{origin + ": not valid JSON: " + e.what()};
  }
  Reader r(origin);
  MachineModel m;
  if (!r.object(doc, "$"))
    return Error{r.message()};

  std::string format;
  r.string(doc, "$", "format", format, true);
  if (!r.failed() && format != "soap-machine")
    r.fail("$.format", "must be \"soap-machine\", got \"" + format + "\"");
  int64_t version = 0;
  r.integer(doc, "$", "version", version, true);
  if (!r.failed() && version != 1)
    r.fail("$.version", "unsupported version " + std::to_string(version) +
                            " (this reader knows version 1)");
  r.string(doc, "$", "name", m.name, true);
  r.string(doc, "$", "description", m.description, false);
  r.integer(doc, "$", "nodes", m.nodes, true);
  r.integer(doc, "$", "devices_per_node", m.devicesPerNode, true, hostCores());

  // Device type.
  if (const json *dev = r.field(doc, "$", "device", true);
      dev && r.object(*dev, "$.device")) {
    const std::string p = "$.device";
    DeviceSpec &d = m.device;
    r.string(*dev, p, "type", d.type, true);
    if (const json *pf = r.field(*dev, p, "peak_flops", true);
        pf && r.object(*pf, p + ".peak_flops")) {
      const std::string pp = p + ".peak_flops";
      r.number(*pf, pp, "f32", d.peakF32, true);
      r.number(*pf, pp, "f64", d.peakF64, false, true);
      r.number(*pf, pp, "tf32", d.peakTf32, false, true);
      r.number(*pf, pp, "f16", d.peakF16, false, true);
      r.number(*pf, pp, "bf16", d.peakBf16, false, true);
      for (auto it = pf->begin(); it != pf->end() && !r.failed(); ++it) {
        static const char *known[] = {"f32", "f64", "tf32", "f16", "bf16"};
        if (std::find_if(std::begin(known), std::end(known), [&](const char *k) {
              return it.key() == k;
            }) == std::end(known))
          r.fail(pp + "." + it.key(),
                 "unknown dtype (known: f64, f32, tf32, f16, bf16)");
      }
    }
    int64_t autoMemory = hostMemoryBytes() / std::max<int64_t>(m.devicesPerNode, 1);
    r.integer(*dev, p, "memory_bytes", d.memoryBytes, true, autoMemory);
    r.number(*dev, p, "memory_bandwidth_bytes_per_s", d.memoryBandwidth, true);
    r.number(*dev, p, "kernel_overhead_s", d.kernelOverhead, false, true);
    r.fraction(*dev, p, "gemm_efficiency", d.gemmEfficiency);
    r.fraction(*dev, p, "memory_efficiency", d.memoryEfficiency);
    r.number(*dev, p, "host_link_bytes_per_s", d.hostLinkBandwidth, false);
    if (const json *src = r.field(*dev, p, "sources", false);
        src && r.object(*src, p + ".sources")) {
      for (auto it = src->begin(); it != src->end(); ++it) {
        if (!it.value().is_string()) {
          r.fail(p + ".sources." + it.key(), "must be a string");
          break;
        }
        d.sources[it.key()] = it.value().get<std::string>();
      }
    }
  }

  // Links.
  std::map<std::string, int> linkIndex;
  if (const json *ls = r.field(doc, "$", "links", true); ls && !r.failed()) {
    if (!ls->is_array()) {
      r.fail("$.links", "must be an array, got " + ls->dump());
    } else {
      for (size_t i = 0; i < ls->size() && !r.failed(); ++i) {
        const json &l = (*ls)[i];
        const std::string p = "$.links[" + std::to_string(i) + "]";
        if (!r.object(l, p))
          break;
        LinkSpec spec;
        r.string(l, p, "name", spec.name, true);
        std::string kind, scope;
        r.string(l, p, "kind", kind, true);
        if (!r.failed()) {
          if (auto k = parseEnum(kind, kLinkKinds))
            spec.kind = *k;
          else
            r.fail(p + ".kind", "unknown link kind \"" + kind +
                                    "\" (known: " + enumChoices(kLinkKinds) + ")");
        }
        r.string(l, p, "scope", scope, true);
        if (!r.failed()) {
          if (auto s = parseEnum(scope, kLinkScopes))
            spec.scope = *s;
          else
            r.fail(p + ".scope", "unknown scope \"" + scope + "\" (known: " +
                                     enumChoices(kLinkScopes) + ")");
        }
        r.integer(l, p, "count", spec.count, spec.scope == LinkScope::Node);
        r.number(l, p, "bandwidth_bytes_per_s", spec.bandwidth, true);
        r.number(l, p, "latency_s", spec.latency, true, true);
        r.fraction(l, p, "efficiency", spec.efficiency);
        r.string(l, p, "source", spec.source, false);
        if (!r.failed() && !linkIndex.emplace(spec.name, i).second)
          r.fail(p + ".name", "duplicate link name \"" + spec.name + "\"");
        m.links.push_back(std::move(spec));
      }
    }
  }

  // Routes.
  if (const json *rt = r.field(doc, "$", "routes", true);
      rt && !r.failed() && r.object(*rt, "$.routes")) {
    auto readRoute = [&](const char *key, std::vector<int> &out) {
      const std::string p = std::string("$.routes.") + key;
      const json *v = r.field(*rt, "$.routes", key, false);
      if (!v)
        return;
      if (!v->is_array()) {
        r.fail(p, "must be an array of link names, got " + v->dump());
        return;
      }
      for (size_t i = 0; i < v->size(); ++i) {
        const json &n = (*v)[i];
        auto it = n.is_string() ? linkIndex.find(n.get<std::string>())
                                : linkIndex.end();
        if (it == linkIndex.end()) {
          r.fail(p + "[" + std::to_string(i) + "]",
                 "names no link in $.links: " + n.dump());
          return;
        }
        out.push_back(it->second);
      }
    };
    readRoute("intra_node", m.intraNodeRoute);
    readRoute("inter_node", m.interNodeRoute);
  }

  if (const json *v = r.field(doc, "$", "communication_occupies_devices", false)) {
    if (!v->is_boolean())
      r.fail("$.communication_occupies_devices", "must be true or false, got " + v->dump());
    else
      m.communicationOccupiesDevices = v->get<bool>();
  }
  if (const json *v = r.field(doc, "$", "in_order_execution", false)) {
    if (!v->is_boolean())
      r.fail("$.in_order_execution", "must be true or false, got " + v->dump());
    else
      m.inOrderExecution = v->get<bool>();
  }

  // Collective algorithms.
  m.algorithms.fill(CollectiveAlgorithm::Auto);
  if (const json *c = r.field(doc, "$", "collectives", false);
      c && !r.failed() && r.object(*c, "$.collectives")) {
    for (auto it = c->begin(); it != c->end() && !r.failed(); ++it) {
      const std::string p = "$.collectives." + it.key();
      auto which = parseEnum(it.key(), kCollectives);
      if (!which) {
        r.fail(p, "unknown collective (known: " + enumChoices(kCollectives) + ")");
        break;
      }
      auto alg = it.value().is_string()
                     ? parseEnum(it.value().get<std::string>(), kAlgorithms)
                     : std::nullopt;
      if (!alg) {
        r.fail(p, "unknown algorithm " + it.value().dump() +
                      " (known: " + enumChoices(kAlgorithms) + ")");
        break;
      }
      m.algorithms[static_cast<int>(*which)] = *alg;
    }
  }
  if (r.failed())
    return Error{r.message()};

  if (overrides.nodes)
    m.nodes = *overrides.nodes;
  if (overrides.devicesPerNode)
    m.devicesPerNode = *overrides.devicesPerNode;
  if (m.nodes < 1 || m.devicesPerNode < 1)
    return Error{origin + ": nodes and devices_per_node must be positive"};
  // A node cut down to fewer devices keeps one NIC per device at most (a
  // DGX with 4 of its 8 GPUs uses the 4 NICs next to them).
  if (overrides.devicesPerNode)
    for (LinkSpec &l : m.links)
      if (l.scope == LinkScope::Node && l.count > m.devicesPerNode)
        l.count = m.devicesPerNode;
  std::string problem = m.finalize();
  if (!problem.empty())
    return Error{origin + ": " + problem};
  return m;
}

std::string MachineModel::finalize() {
  auto check = [&](const std::vector<int> &route, const char *which,
                   LinkScope forbidden) -> std::string {
    for (int li : route) {
      if (li < 0 || li >= static_cast<int>(links.size()))
        return std::string("$.routes.") + which + ": link index out of range";
      if (links[li].scope == forbidden)
        return std::string("$.routes.") + which + ": link \"" + links[li].name +
               "\" has scope \"" + toString(forbidden) +
               "\", which cannot carry " +
               (forbidden == LinkScope::Pair ? "transfers between nodes"
                                             : "transfers within a node");
    }
    return "";
  };
  if (std::string e = check(intraNodeRoute, "intra_node", LinkScope::Node);
      !e.empty())
    return e;
  if (std::string e = check(interNodeRoute, "inter_node", LinkScope::Pair);
      !e.empty())
    return e;
  if (devicesPerNode > 1 && intraNodeRoute.empty())
    return "$.routes.intra_node: needed: a node has " +
           std::to_string(devicesPerNode) + " devices";
  if (nodes > 1 && interNodeRoute.empty())
    return "$.routes.inter_node: needed: the machine has " +
           std::to_string(nodes) + " nodes";
  for (const LinkSpec &l : links)
    if (l.scope == LinkScope::Node && (l.count < 1 || l.count > devicesPerNode))
      return "$.links: link \"" + l.name + "\": count " +
             std::to_string(l.count) + " must be in [1, devices_per_node]";

  int64_t d = numDevices();
  linkBase.clear();
  resourceBw.assign(d, 0.0);
  resourceSpec.assign(d, -1);
  for (size_t li = 0; li < links.size(); ++li) {
    const LinkSpec &l = links[li];
    int64_t n = 0;
    switch (l.scope) {
    case LinkScope::Device:
      n = 2 * d;
      break;
    case LinkScope::Pair:
      n = nodes * devicesPerNode * devicesPerNode;
      break;
    case LinkScope::Node:
      n = 2 * nodes * l.count;
      break;
    case LinkScope::NodeShared:
      n = nodes;
      break;
    }
    linkBase.push_back(static_cast<int>(resourceBw.size()));
    resourceBw.insert(resourceBw.end(), n, l.effectiveBandwidth());
    resourceSpec.insert(resourceSpec.end(), n, static_cast<int>(li));
  }
  return "";
}

double MachineModel::route(int64_t src, int64_t dst,
                           std::vector<int> &resources) const {
  if (src == dst)
    return 0;
  int64_t ns = nodeOf(src), nd = nodeOf(dst);
  int64_t ls = localIndex(src), ld = localIndex(dst);
  bool sameNode = ns == nd;
  double latency = 0;
  for (int li : sameNode ? intraNodeRoute : interNodeRoute) {
    const LinkSpec &l = links[li];
    int base = linkBase[li];
    latency += l.latency;
    switch (l.scope) {
    case LinkScope::Device:
      resources.push_back(base + static_cast<int>(2 * src));
      resources.push_back(base + static_cast<int>(2 * dst + 1));
      break;
    case LinkScope::Pair:
      resources.push_back(base + static_cast<int>(
                                     (ns * devicesPerNode + ls) * devicesPerNode + ld));
      break;
    case LinkScope::Node: {
      int64_t ps = ls * l.count / devicesPerNode;
      int64_t pd = ld * l.count / devicesPerNode;
      resources.push_back(base + static_cast<int>(2 * (ns * l.count + ps)));
      resources.push_back(base + static_cast<int>(2 * (nd * l.count + pd) + 1));
      break;
    }
    case LinkScope::NodeShared:
      resources.push_back(base + static_cast<int>(ns));
      if (!sameNode)
        resources.push_back(base + static_cast<int>(nd));
      break;
    }
  }
  return latency;
}

double MachineModel::routeBandwidth(int64_t src, int64_t dst) const {
  if (src == dst)
    return 0;
  double bw = 0;
  for (int li : nodeOf(src) == nodeOf(dst) ? intraNodeRoute : interNodeRoute) {
    double b = links[li].effectiveBandwidth();
    bw = bw == 0 ? b : std::min(bw, b);
  }
  return bw;
}

std::string MachineModel::resourceName(int r) const {
  if (r < numDevices())
    return "node" + std::to_string(nodeOf(r)) + ".dev" +
           std::to_string(localIndex(r));
  int li = resourceSpec[r];
  const LinkSpec &l = links[li];
  int64_t k = r - linkBase[li];
  switch (l.scope) {
  case LinkScope::Device: {
    int64_t dev = k / 2;
    return "node" + std::to_string(nodeOf(dev)) + "." + l.name + ".dev" +
           std::to_string(localIndex(dev)) + (k % 2 ? ".rx" : ".tx");
  }
  case LinkScope::Pair: {
    int64_t node = k / (devicesPerNode * devicesPerNode);
    int64_t rest = k % (devicesPerNode * devicesPerNode);
    return "node" + std::to_string(node) + "." + l.name + ".dev" +
           std::to_string(rest / devicesPerNode) + ">dev" +
           std::to_string(rest % devicesPerNode);
  }
  case LinkScope::Node: {
    int64_t port = k / 2;
    return "node" + std::to_string(port / l.count) + "." + l.name +
           std::to_string(port % l.count) + (k % 2 ? ".rx" : ".tx");
  }
  case LinkScope::NodeShared:
    return "node" + std::to_string(k) + "." + l.name;
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Files, presets, JSON and fingerprint
//===----------------------------------------------------------------------===//

Expected<MachineModel> MachineModel::load(const std::string &path,
                                          const MachineOverrides &overrides) {
  std::ifstream in(path);
  if (!in)
    return Error{path + ": cannot open the machine file"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path, overrides);
}

std::string MachineModel::presetDirectory() {
  if (const char *dir = std::getenv("SOAP_MACHINES_DIR"))
    return dir;
  return SOAP_MACHINES_DIR;
}

std::vector<std::string> MachineModel::presetNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto &e :
       std::filesystem::directory_iterator(presetDirectory(), ec))
    if (e.path().extension() == ".json")
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Expected<MachineModel> MachineModel::loadPreset(const std::string &nameOrPath,
                                                const MachineOverrides &overrides) {
  if (nameOrPath.size() > 5 &&
      nameOrPath.compare(nameOrPath.size() - 5, 5, ".json") == 0)
    return load(nameOrPath, overrides);
  std::string path = presetDirectory() + "/" + nameOrPath + ".json";
  if (!std::filesystem::exists(path)) {
    std::string known;
    for (const std::string &n : presetNames())
      known += (known.empty() ? "" : ", ") + n;
    return Error{"unknown machine preset '" + nameOrPath + "' (presets in " +
                 presetDirectory() + ": " + known + ")"};
  }
  return load(path, overrides);
}

std::string MachineModel::toJson(bool withSources) const {
  json doc;
  doc["format"] = "soap-machine";
  doc["version"] = 1;
  doc["name"] = name;
  if (withSources && !description.empty())
    doc["description"] = description;
  doc["nodes"] = nodes;
  doc["devices_per_node"] = devicesPerNode;
  json dev;
  dev["type"] = device.type;
  json pf;
  pf["f32"] = device.peakF32;
  if (device.peakF64 > 0)
    pf["f64"] = device.peakF64;
  if (device.peakTf32 > 0)
    pf["tf32"] = device.peakTf32;
  if (device.peakF16 > 0)
    pf["f16"] = device.peakF16;
  if (device.peakBf16 > 0)
    pf["bf16"] = device.peakBf16;
  dev["peak_flops"] = pf;
  dev["memory_bytes"] = device.memoryBytes;
  dev["memory_bandwidth_bytes_per_s"] = device.memoryBandwidth;
  dev["kernel_overhead_s"] = device.kernelOverhead;
  dev["gemm_efficiency"] = device.gemmEfficiency;
  dev["memory_efficiency"] = device.memoryEfficiency;
  if (device.hostLinkBandwidth > 0) // optional: older fingerprints unchanged
    dev["host_link_bytes_per_s"] = device.hostLinkBandwidth;
  if (withSources && !device.sources.empty())
    dev["sources"] = device.sources;
  doc["device"] = dev;
  json ls = json::array();
  for (const LinkSpec &l : links) {
    json j;
    j["name"] = l.name;
    j["kind"] = toString(l.kind);
    j["scope"] = toString(l.scope);
    if (l.scope == LinkScope::Node)
      j["count"] = l.count;
    j["bandwidth_bytes_per_s"] = l.bandwidth;
    j["latency_s"] = l.latency;
    j["efficiency"] = l.efficiency;
    if (withSources && !l.source.empty())
      j["source"] = l.source;
    ls.push_back(j);
  }
  doc["links"] = ls;
  json routes;
  auto names = [&](const std::vector<int> &r) {
    json a = json::array();
    for (int li : r)
      a.push_back(links[li].name);
    return a;
  };
  routes["intra_node"] = names(intraNodeRoute);
  routes["inter_node"] = names(interNodeRoute);
  doc["routes"] = routes;
  json coll;
  for (Collective c : kCollectives)
    coll[toString(c)] = toString(algorithms[static_cast<int>(c)]);
  doc["collectives"] = coll;
  doc["communication_occupies_devices"] = communicationOccupiesDevices;
  if (inOrderExecution) // optional: the other machines' fingerprints unchanged
    doc["in_order_execution"] = true;
  return doc.dump(2);
}

uint64_t MachineModel::fingerprint() const {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : toJson(/*withSources=*/false)) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string MachineModel::fingerprintHex() const {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(fingerprint()));
  return buf;
}

} // namespace soap
