//===- ConfigSpace.h - the parallel configs an op may take ------*- C++ -*-===//
//
// Design section 4 / issue 5 item 1: for each op, the degrees of its tagged
// dimensions (each dividing its dimension, their product dividing the
// devices used) times the machine views (contiguous and strided blocks of
// the nodes x devices grid). Plain C++: no MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SEARCH_CONFIGSPACE_H
#define SOAP_SEARCH_CONFIGSPACE_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace soap {

struct ConfigSpaceOptions {
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  /// Largest number of devices one op may use (0: all).
  int64_t maxDevicesPerOp = 0;
  /// Also offer views that spread a block over the machine with a stride
  /// (e.g. one device per node), not only contiguous aligned blocks.
  bool stridedViews = true;
  /// Also offer, for configs that split several dims, every order of the
  /// dims in the view (which dim crosses nodes); otherwise op order only.
  bool permuteViewDims = true;
  /// Cap on the configs kept per op (the most parallel first); 0: no cap.
  size_t maxConfigsPerOp = 0;
  /// Optional filter: false drops a config (e.g. one that cannot fit in
  /// memory).
  std::function<bool(int op, const ParallelConfig &)> keep;
};

/// All configs of one op, the single-device config on device 0 first.
/// Degree-1 dims are not listed. Deterministic order.
std::vector<ParallelConfig> enumerateConfigs(const OpNode &op,
                                             const ConfigSpaceOptions &options,
                                             int opIndex = -1);

/// enumerateConfigs for every op of the graph.
std::vector<std::vector<ParallelConfig>>
enumerateConfigSpace(const OpGraph &graph, const ConfigSpaceOptions &options);

} // namespace soap

#endif // SOAP_SEARCH_CONFIGSPACE_H
