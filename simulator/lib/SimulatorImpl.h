//===- SimulatorImpl.h - the simulator's cached cost records ----*- C++ -*-===//
//
// Private to simulator/lib: what Simulator caches per (op, config) and per
// (edge, producer config, consumer config), and the tiling helpers the
// simulator and the trace writer share.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_LIB_SIMULATORIMPL_H
#define SOAP_SIMULATOR_LIB_SIMULATORIMPL_H

#include "soap/Simulator/Simulator.h"

namespace soap {

/// Device groups of the shards that differ only along the dims in `vary`
/// (one group per combination of the other dims' coordinates).
std::vector<std::vector<int64_t>> groupsVarying(const ResolvedConfig &rc,
                                                const std::vector<char> &vary);

/// The transfers that give every shard of the `needer` layout its box of a
/// tensor held in the `holder` layout: each needed piece comes from the
/// holder shard on the same device when there is one, else from a replica
/// on the same node, else from any replica (spread by shard index). Holder
/// boxes that overlap (windowed layouts) each contribute their overlap
/// (gradient sums). Flows are merged per (src, dst).
void reshardFlows(const MachineModel &machine, const TensorRule &holder,
                  const std::vector<ParallelDim> &holderDims,
                  const ResolvedConfig &holderConfig, const TensorRule &needer,
                  const std::vector<ParallelDim> &neederDims,
                  const ResolvedConfig &neederConfig, std::vector<Flow> &flows);

/// Interned resource sets of one communication task: the links it occupies
/// and the devices taking part (-1: none).
struct CommSets {
  int resources = -1;
  int devices = -1;
};

struct Simulator::OpVariant {
  ParallelConfig config;
  ResolvedConfig rc;
  /// The op's devices, sorted: the resources of its kernels.
  std::vector<int> deviceRes;
  int deviceSet = -1;
  CommSets forwardCommSets, backwardCommSets, partialSumSets, gradientSyncSets;
  double forward = 0, backward = 0, update = 0;
  bool measured = false;
  CommCost forwardComm, backwardComm, partialSum, gradientSync;
  /// What each of the op's devices holds for it (workspace: its transient).
  MemoryUsage shardMemory;
  /// Bytes of each operand's largest shard.
  std::vector<int64_t> operandShardBytes;
};

struct Simulator::EdgeVariant {
  CommCost forward, backward;
  CommSets forwardSets, backwardSets;
  /// Devices that receive part of the consumer's operand (they hold a copy).
  std::vector<int> receivers;
  int receiverSet = -1;
};

} // namespace soap

#endif // SOAP_SIMULATOR_LIB_SIMULATORIMPL_H
