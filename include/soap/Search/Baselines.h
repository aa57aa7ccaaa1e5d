//===- Baselines.h - the expert strategies Soap is compared with -*- C++ -*-===//
//
// Named strategies that `soapc --baseline NAME` evaluates and that every
// search result is compared with (issue 5 item 2):
//
//   data-parallel  every op splits its sample dimension over all devices;
//   owt            Krizhevsky's "one weird trick": data-parallel convolutions,
//                  model-parallel fully connected layers (output features
//                  over all devices, and the ops between them along the same
//                  features);
//   megatron       tensor parallelism of degree `tp` inside each node
//                  (attention heads; column- then row-parallel linear pairs;
//                  vocabulary-parallel embeddings and LM head; the ops in
//                  between split along the sequence, Megatron's sequence
//                  parallelism) and data parallelism across the groups;
//   gnmt           GNMT's placement for RNNs: the i-th LSTM layer on device
//                  i mod devices, the ops in between on their producer's
//                  device.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SEARCH_BASELINES_H
#define SOAP_SEARCH_BASELINES_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/Strategy.h"

#include <string>
#include <vector>

namespace soap {

struct BaselineOptions {
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  /// Megatron's tensor-parallel degree; 0: the devices of one node.
  int64_t tensorParallel = 0;
  /// Megatron on a sub-mesh (a pipeline stage): devices [firstDevice,
  /// firstDevice + numDevices); numDevices 0: the whole machine.
  int64_t firstDevice = 0;
  int64_t numDevices = 0;
};

/// "data-parallel", "owt", "megatron", "gnmt".
std::vector<std::string> baselineNames();

/// The named baseline for this graph and machine; an error for an unknown
/// name or a baseline that does not apply (e.g. gnmt without LSTMs, a
/// tensor-parallel degree that does not divide the machine).
Expected<Strategy> makeBaseline(const std::string &name, const OpGraph &graph,
                                const BaselineOptions &options);

/// The baseline a search result is best compared with for this model:
/// megatron for transformers (attention or embedding ops), gnmt for RNNs,
/// owt for CNNs with fully connected layers, else data-parallel.
std::string expertBaselineFor(const OpGraph &graph);

} // namespace soap

#endif // SOAP_SEARCH_BASELINES_H
