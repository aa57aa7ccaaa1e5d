//===- ConfigSpace.cpp - the parallel configs an op may take --------------===//
#include "soap/Search/ConfigSpace.h"
#include "soap/Simulator/ShardingRules.h"

#include <algorithm>
#include <map>
#include <set>

namespace soap {

/// Divisors of n that are at most `limit`, ascending.
static std::vector<int64_t> divisors(int64_t n, int64_t limit) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= n && d <= limit; ++d)
    if (n % d == 0)
      out.push_back(d);
  return out;
}

std::vector<ParallelConfig> enumerateConfigs(const OpNode &op,
                                             const ConfigSpaceOptions &o,
                                             int opIndex) {
  const int64_t devices = o.nodes * o.devicesPerNode;
  const int64_t maxUse =
      o.maxDevicesPerOp > 0 ? std::min(o.maxDevicesPerOp, devices) : devices;

  // Degree vectors over the op's dims whose product divides the device count.
  std::vector<std::vector<int64_t>> degreeVectors;
  std::vector<int64_t> current(op.dims.size(), 1);
  std::function<void(size_t, int64_t)> walk = [&](size_t i, int64_t product) {
    if (i == op.dims.size()) {
      if (devices % product == 0)
        degreeVectors.push_back(current);
      return;
    }
    for (int64_t d : divisors(op.dims[i].size, maxUse / product)) {
      if (devices % (product * d) != 0)
        continue;
      current[i] = d;
      walk(i + 1, product * d);
    }
    current[i] = 1;
  };
  walk(0, 1);

  std::vector<ParallelConfig> configs;
  // (degrees, start, strides): with every listed degree above 1 the device
  // sequence of the shards determines start and strides and back, so this
  // is the placement without listing every device.
  std::set<std::vector<int64_t>> seenPlacements;
  auto add = [&](ParallelConfig c) {
    std::vector<int64_t> key;
    for (auto &[name, degree] : c.degrees)
      key.push_back(degree);
    key.push_back(-1);
    key.push_back(c.start);
    for (int64_t st : c.effectiveStrides())
      key.push_back(st);
    if (!seenPlacements.insert(key).second)
      return;
    // Only configs the plan's kernels can run: a searched strategy lowers.
    std::vector<int64_t> perDim;
    for (const ParallelDim &d : op.dims)
      perDim.push_back(c.degree(d.name));
    if (!unsupportedSplit(op, perDim).empty())
      return;
    if (o.keep && !o.keep(opIndex, c))
      return;
    configs.push_back(std::move(c));
  };

  // The result keeps the home config, then the most parallel configs (see
  // the ranking below), so the degree vectors are visited by product,
  // largest first, and the walk stops after the product group in which the
  // cap is reached: the kept list is the same as a full enumeration's, at a
  // fraction of its cost on large machines.
  std::vector<size_t> byProduct(degreeVectors.size());
  std::vector<int64_t> product(degreeVectors.size(), 1);
  for (size_t v = 0; v < degreeVectors.size(); ++v) {
    byProduct[v] = v;
    for (int64_t d : degreeVectors[v])
      product[v] *= d;
  }
  std::stable_sort(byProduct.begin(), byProduct.end(),
                   [&](size_t a, size_t b) { return product[a] > product[b]; });
  bool haveHome = false;
  for (size_t k = 0; k < byProduct.size(); ++k) {
    const std::vector<int64_t> &degrees = degreeVectors[byProduct[k]];
    if (o.maxConfigsPerOp && k > 0 &&
        product[byProduct[k]] != product[byProduct[k - 1]] &&
        configs.size() >= o.maxConfigsPerOp) {
      // Only the home config may still be missing: it ranks first.
      if (!haveHome) {
        ParallelConfig home;
        add(std::move(home));
      }
      break;
    }
    if (product[byProduct[k]] == 1)
      haveHome = true;
    std::vector<size_t> listed;
    int64_t p = 1;
    for (size_t i = 0; i < degrees.size(); ++i)
      if (degrees[i] > 1) {
        listed.push_back(i);
        p *= degrees[i];
      }
    // Orders of the listed dims in the view: which one varies slowest.
    std::vector<std::vector<size_t>> orders = {listed};
    if (o.permuteViewDims && listed.size() > 1) {
      std::vector<size_t> perm = listed;
      while (std::next_permutation(perm.begin(), perm.end()))
        orders.push_back(perm);
    }
    for (const std::vector<size_t> &order : orders) {
      ParallelConfig base;
      std::vector<int64_t> ds;
      for (size_t i : order) {
        base.degrees.push_back({op.dims[i].name, degrees[i]});
        ds.push_back(degrees[i]);
      }
      std::vector<int64_t> contiguous = contiguousStrides(ds);
      // Aligned contiguous blocks of p devices.
      for (int64_t start = 0; start + p <= devices; start += p) {
        ParallelConfig c = base;
        c.start = start;
        c.strides = contiguous;
        add(std::move(c));
      }
      // The block spread evenly over the machine: stride devices / p.
      if (o.stridedViews && p > 1 && p < devices) {
        int64_t spread = devices / p;
        for (int64_t start = 0; start < spread; ++start) {
          ParallelConfig c = base;
          c.start = start;
          for (int64_t s : contiguous)
            c.strides.push_back(s * spread);
          add(std::move(c));
        }
      }
    }
  }

  // The single-device config on device 0 first (always kept), then the most
  // parallel (the search's interesting end); ties keep enumeration order.
  auto rank = [](const ParallelConfig &c) {
    bool home = c.numDevices() == 1 && c.start == 0;
    return std::make_pair(home ? 0 : 1, -c.numDevices());
  };
  std::stable_sort(configs.begin(), configs.end(),
                   [&](const ParallelConfig &a, const ParallelConfig &b) {
                     return rank(a) < rank(b);
                   });
  if (o.maxConfigsPerOp && configs.size() > o.maxConfigsPerOp)
    configs.resize(o.maxConfigsPerOp);
  return configs;
}

std::vector<std::vector<ParallelConfig>>
enumerateConfigSpace(const OpGraph &graph, const ConfigSpaceOptions &options) {
  std::vector<std::vector<ParallelConfig>> space;
  space.reserve(graph.ops.size());
  // Ops alike (a transformer's layers) have the same configs: what
  // enumerateConfigs reads of an op is its kind, attributes, dims and
  // shapes. (Not with a `keep` filter, which sees the op index.)
  std::map<std::string, size_t> alike;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const OpNode &op = graph.ops[i];
    std::string key;
    if (!options.keep) {
      key = op.kind + "|" + op.attributes + "|";
      for (const ParallelDim &d : op.dims)
        key += d.name + ":" + std::to_string(d.size) + ":" +
               toString(d.tag) + ":" + std::to_string(d.resultAxis) + ",";
      auto shape = [&](const TensorInfo &t) {
        key += std::string(toString(t.dtype)) + "[";
        for (int64_t x : t.shape)
          key += std::to_string(x) + ",";
        key += "]";
      };
      for (const Operand &o : op.operands) {
        key += std::to_string(static_cast<int>(o.source)) +
               (o.isParameter ? "p" : "");
        shape(o.tensor);
      }
      key += "->";
      for (const TensorInfo &t : op.results)
        shape(t);
      if (auto it = alike.find(key); it != alike.end()) {
        space.push_back(space[it->second]);
        continue;
      }
    }
    space.push_back(enumerateConfigs(op, options, static_cast<int>(i)));
    if (!options.keep)
      alike.emplace(std::move(key), i);
  }
  return space;
}

} // namespace soap
