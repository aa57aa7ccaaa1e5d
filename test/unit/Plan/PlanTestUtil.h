//===- PlanTestUtil.h - zoo models and random strategies for tests -*- C++ -*-===//
#ifndef SOAP_TEST_UNIT_PLAN_PLANTESTUTIL_H
#define SOAP_TEST_UNIT_PLAN_PLANTESTUTIL_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Strategy.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace soap::test {

struct ZooCase {
  const char *model;
  std::vector<std::pair<const char *, const char *>> options;
};

/// Every model of the registry, small.
inline const std::vector<ZooCase> &zooCases() {
  static const std::vector<ZooCase> cases = {
      {"alexnet", {{"batch", "2"}, {"classes", "10"}}},
      {"inception-v3", {{"batch", "2"}, {"image-size", "75"}, {"classes", "10"}}},
      {"resnet101", {{"batch", "4"}, {"image-size", "32"}, {"classes", "10"}}},
      {"rnntc",
       {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"}, {"embed", "8"},
        {"hidden", "8"}, {"layers", "2"}}},
      {"rnnlm",
       {{"batch", "4"}, {"seq", "3"}, {"vocab", "50"}, {"embed", "8"},
        {"hidden", "8"}, {"layers", "2"}}},
      {"nmt",
       {{"batch", "4"}, {"seq", "3"}, {"src-vocab", "50"}, {"tgt-vocab", "40"},
        {"embed", "8"}, {"hidden", "8"}, {"layers", "1"}}},
      {"resnet50", {{"batch", "4"}, {"image-size", "32"}, {"classes", "10"}}},
      {"resnet",
       {{"depth", "50"}, {"batch", "4"}, {"image-size", "32"}, {"classes", "10"},
        {"groups", "4"}, {"width-per-group", "4"}}},
      {"wide-resnet", {{"batch", "2"}, {"image-size", "32"}, {"classes", "10"}}},
      {"vgg16", {{"batch", "2"}, {"classes", "10"}}},
      {"vgg",
       {{"depth", "11"}, {"batch", "2"}, {"classes", "10"}, {"batch-norm", "true"}}},
      {"bert-base",
       {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
        {"vocab", "64"}, {"max-positions", "16"}, {"batch", "4"}}},
      {"bert-large",
       {{"layers", "1"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
        {"vocab", "64"}, {"max-positions", "16"}, {"batch", "4"},
        {"head", "classification"}}},
      {"gpt",
       {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
        {"vocab", "64"}, {"batch", "4"}}},
      {"moe-transformer",
       {{"layers", "2"}, {"hidden", "16"}, {"heads", "4"}, {"seq", "8"},
        {"vocab", "64"}, {"batch", "4"}, {"experts", "4"}}},
      {"dlrm",
       {{"batch", "8"}, {"bottom-mlp", "13-16-8"}, {"top-mlp", "16-1"},
        {"emb-dim", "8"}, {"table-sizes", "10-20-30"}}},
  };
  return cases;
}

inline std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> d;
  for (int64_t k = 1; k <= n; ++k)
    if (n % k == 0)
      d.push_back(k);
  return d;
}

/// A random valid config: degrees dividing their dims and the ranks, the
/// listed dims in a random order with contiguous strides (a random dim
/// crosses the widest stride), at a random (mostly aligned) start; a
/// quarter of the views that fit twice take every other device.
inline ParallelConfig randomConfig(const OpNode &op, int64_t ranks, std::mt19937 &rng) {
  ParallelConfig c;
  std::vector<size_t> order(op.dims.size());
  for (size_t d = 0; d < order.size(); ++d)
    order[d] = d;
  std::shuffle(order.begin(), order.end(), rng);
  int64_t left = ranks;
  std::vector<std::pair<std::string, int64_t>> listed;
  for (size_t d : order) {
    const ParallelDim &dim = op.dims[d];
    if (op.kind == "lstm" && dim.name == "hidden")
      continue; // not lowerable yet (checked by its own test)
    std::vector<int64_t> options;
    for (int64_t k : divisors(left))
      if (dim.size % k == 0)
        options.push_back(k);
    // Favour splitting: half the time the largest option.
    int64_t deg = rng() % 2 ? options.back()
                            : options[rng() % options.size()];
    if (deg > 1) {
      listed.emplace_back(dim.name, deg);
      left /= deg;
    }
  }
  c.degrees = listed;
  std::vector<int64_t> degs;
  for (auto &p : listed)
    degs.push_back(p.second);
  c.strides = contiguousStrides(degs);
  int64_t used = c.numDevices();
  if (used > 1 && 2 * used <= ranks && rng() % 4 == 0) {
    // A strided view: every other device.
    for (int64_t &st : c.strides)
      st *= 2;
    c.start = static_cast<int64_t>(rng() % (ranks - 2 * (used - 1)));
    return c;
  }
  c.start = used * static_cast<int64_t>(rng() % (ranks / used));
  if (rng() % 4 == 0 && used < ranks)
    c.start += rng() % (ranks - c.start - used + 1);
  return c;
}

inline Strategy randomStrategy(const OpGraph &g, int64_t ranks, std::mt19937 &rng) {
  Strategy s;
  for (const OpNode &op : g.ops)
    s.configs.push_back(randomConfig(op, ranks, rng));
  return s;
}

} // namespace soap::test

#endif // SOAP_TEST_UNIT_PLAN_PLANTESTUTIL_H
