//===- Strategy.cpp - parallel configs as plain values --------------------===//
#include "soap/Simulator/Strategy.h"
#include "soap/Graph/OpGraph.h"

#include <algorithm>
#include <sstream>

namespace soap {

int64_t ParallelConfig::numDevices() const {
  int64_t n = 1;
  for (const auto &[name, d] : degrees)
    n *= d;
  return n;
}

int64_t ParallelConfig::degree(std::string_view dim) const {
  for (const auto &[name, d] : degrees)
    if (name == dim)
      return d;
  return 1;
}

const char *toString(PipelineSchedule s) {
  return s == PipelineSchedule::GPipe ? "gpipe" : "1f1b";
}

bool TrainingConfig::anyRecompute() const {
  for (char c : recompute)
    if (c)
      return true;
  return false;
}

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &degrees) {
  std::vector<int64_t> strides(degrees.size(), 1);
  int64_t s = 1;
  for (size_t i = degrees.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(degrees[i], 1);
  }
  return strides;
}

std::vector<int64_t> ParallelConfig::effectiveStrides() const {
  if (!strides.empty())
    return strides;
  std::vector<int64_t> d;
  d.reserve(degrees.size());
  for (const auto &p : degrees)
    d.push_back(p.second);
  return contiguousStrides(d);
}

std::vector<int64_t> ParallelConfig::deviceIds() const {
  std::vector<int64_t> s = effectiveStrides();
  std::vector<int64_t> ids{start};
  for (size_t j = 0; j < degrees.size(); ++j) {
    int64_t deg = std::max<int64_t>(degrees[j].second, 1);
    int64_t stride = j < s.size() ? s[j] : 0;
    std::vector<int64_t> next;
    next.reserve(ids.size() * deg);
    for (int64_t base : ids)
      for (int64_t i = 0; i < deg; ++i)
        next.push_back(base + i * stride);
    ids.swap(next);
  }
  return ids;
}

std::string ParallelConfig::str() const {
  std::ostringstream os;
  os << '{';
  for (size_t i = 0; i < degrees.size(); ++i)
    os << (i ? ", " : "") << degrees[i].first << " = " << degrees[i].second;
  os << '}';
  if (start != 0)
    os << ", start = " << start;
  if (!strides.empty()) {
    os << ", strides = [";
    for (size_t i = 0; i < strides.size(); ++i)
      os << (i ? ", " : "") << strides[i];
    os << ']';
  }
  return os.str();
}

ParallelConfig makeConfig(const OpNode &op,
                          const std::map<std::string, int64_t> &degrees,
                          int64_t start,
                          const std::map<std::string, int64_t> &strides) {
  ParallelConfig c;
  c.start = start;
  for (const ParallelDim &d : op.dims) {
    auto it = degrees.find(d.name);
    if (it != degrees.end())
      c.degrees.emplace_back(d.name, it->second);
  }
  for (const auto &[name, deg] : degrees)
    if (!op.findDim(name))
      c.degrees.emplace_back(name, deg);
  if (!strides.empty()) {
    std::vector<int64_t> d;
    for (const auto &p : c.degrees)
      d.push_back(p.second);
    std::vector<int64_t> contiguous = contiguousStrides(d);
    for (size_t j = 0; j < c.degrees.size(); ++j) {
      auto it = strides.find(c.degrees[j].first);
      c.strides.push_back(it != strides.end() ? it->second : contiguous[j]);
    }
  }
  return c;
}

Strategy singleDeviceStrategy(const OpGraph &graph, int64_t device) {
  Strategy s;
  s.configs.resize(graph.ops.size());
  for (ParallelConfig &c : s.configs)
    c.start = device;
  return s;
}

Strategy dataParallelStrategy(const OpGraph &graph, int64_t numDevices) {
  Strategy s;
  s.configs.resize(graph.ops.size());
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    for (const ParallelDim &d : graph.ops[i].dims) {
      if (d.tag != DimTag::Sample)
        continue;
      int64_t deg = std::max<int64_t>(1, std::min(numDevices, d.size));
      while (deg > 1 && d.size % deg != 0)
        --deg;
      if (deg > 1)
        s.configs[i].degrees.emplace_back(d.name, deg);
      break;
    }
  }
  return s;
}

} // namespace soap
