//===- MachineModel.h - the machine a strategy runs on ----------*- C++ -*-===//
//
// A cluster of `nodes` identical nodes of `devicesPerNode` identical devices,
// the links between them and the collective algorithms they use. Loaded from
// simulator/machines/*.json (format: docs/machine-format.md) and checked on
// load; every error names the file and the JSON path of the bad field.
//
// The simulator schedules work on *resources*: the devices (indices
// [0, numDevices())), then one resource per link direction (or per shared
// medium). A transfer from one device to another crosses the resources
// route() returns; tasks on one resource run one at a time, which is how
// shared links are contended.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_MACHINEMODEL_H
#define SOAP_SIMULATOR_MACHINEMODEL_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Expected.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace soap {

enum class LinkKind { NVLink, NVSwitch, PCIe, InfiniBand, Ethernet, SharedMemory };

/// How many instances of a link exist and which transfers share them.
enum class LinkScope {
  /// One full-duplex port per device (an NVSwitch port, a PCIe x16 slot): a
  /// transfer uses the source's transmit side and the destination's receive
  /// side.
  Device,
  /// A dedicated full-duplex link between every pair of devices of a node
  /// (a fully connected NVLink mesh): a transfer uses its pair's link in its
  /// direction.
  Pair,
  /// `count` full-duplex ports per node (NICs); local device l uses port
  /// l * count / devicesPerNode, so devices share a port when count is
  /// smaller than devicesPerNode.
  Node,
  /// One medium per node shared by all its devices in both directions (a
  /// host memory bus).
  NodeShared,
};

enum class CollectiveAlgorithm { Auto, Ring, Tree, Hierarchical };
enum class Collective { AllReduce, AllGather, ReduceScatter, AllToAll };
inline constexpr int kNumCollectives = 4;

const char *toString(LinkKind k);
const char *toString(LinkScope s);
const char *toString(CollectiveAlgorithm a);
const char *toString(Collective c);

struct LinkSpec {
  std::string name;
  LinkKind kind = LinkKind::PCIe;
  LinkScope scope = LinkScope::Device;
  /// Ports per node (scope Node only).
  int64_t count = 1;
  /// Bytes per second in each direction (vendor figure).
  double bandwidth = 0;
  /// Seconds per message (the alpha of the alpha-beta model).
  double latency = 0;
  /// Achievable fraction of `bandwidth` (published benchmark figure).
  double efficiency = 1;
  std::string source;

  double effectiveBandwidth() const { return bandwidth * efficiency; }
};

/// One device type: every device of the machine is one.
/// PCIe 4.0 x16: 32 GB/s each way, about 25 GB/s achieved by pinned copies.
inline constexpr double kDefaultHostLinkBandwidth = 25e9;

struct DeviceSpec {
  std::string type;
  /// Peak FLOP/s per dtype (0: not supported; falls back to f32).
  double peakF64 = 0, peakF32 = 0, peakTf32 = 0, peakF16 = 0, peakBf16 = 0;
  int64_t memoryBytes = 0;
  /// Bytes per second of device memory.
  double memoryBandwidth = 0;
  /// Fixed cost of one kernel (launch and tail), seconds.
  double kernelOverhead = 0;
  /// Achieved fraction of peak by large GEMMs and of memory bandwidth by
  /// streaming kernels, when no measurement of this device type exists.
  double gemmEfficiency = 1;
  double memoryEfficiency = 1;
  /// Bytes per second each way between one device and host memory (its
  /// PCIe link), for optimizer-state offload; 0: not given, the simulator
  /// assumes PCIe 4.0 x16 (kDefaultHostLinkBandwidth).
  double hostLinkBandwidth = 0;
  /// Field name -> where the figure comes from.
  std::map<std::string, std::string> sources;

  /// Peak FLOP/s for tensors of this dtype (TF32 for f32 when allowed).
  double peakFlops(DType dtype, bool allowTf32 = false) const;
};

/// Load-time overrides of the file's values (`--nodes 4`).
struct MachineOverrides {
  std::optional<int64_t> nodes;
  std::optional<int64_t> devicesPerNode;
};

class MachineModel {
public:
  std::string name;
  std::string description;
  int64_t nodes = 1;
  int64_t devicesPerNode = 1;
  DeviceSpec device;
  std::vector<LinkSpec> links;
  /// Links a transfer crosses between two devices of one node, and between
  /// devices of different nodes (indices into `links`).
  std::vector<int> intraNodeRoute;
  std::vector<int> interNodeRoute;
  /// Algorithm per Collective (Auto: the cheapest that applies).
  std::array<CollectiveAlgorithm, kNumCollectives> algorithms{};
  /// Communication runs on the devices themselves (CPU cores copying
  /// memory), so it cannot overlap their kernels; GPUs have copy engines
  /// and NCCL streams, so it can (false).
  bool communicationOccupiesDevices = false;
  /// Each device runs its tasks (kernels and its part of every
  /// communication) one at a time in the plan's order, as Soap's CPU ranks
  /// do (one thread per rank walking its task list): a task waits for the
  /// device's previous task even when a later one is ready, and
  /// communication never overlaps the device's kernels. False: a resource
  /// takes whichever task is ready first (GPU streams).
  bool inOrderExecution = false;

  /// Parses and validates a machine file's text. `origin` (the file name)
  /// prefixes error messages.
  static Expected<MachineModel> parse(const std::string &text,
                                      const std::string &origin,
                                      const MachineOverrides &overrides = {});
  /// Reads and parses a machine file.
  static Expected<MachineModel> load(const std::string &path,
                                     const MachineOverrides &overrides = {});
  /// A preset by name ("dgx-a100") from presetDirectory(), or a path when
  /// `nameOrPath` ends in ".json".
  static Expected<MachineModel> loadPreset(const std::string &nameOrPath,
                                           const MachineOverrides &overrides = {});
  /// $SOAP_MACHINES_DIR, else the source tree's simulator/machines.
  static std::string presetDirectory();
  /// Names of the presets found there.
  static std::vector<std::string> presetNames();

  /// The model as machine-file JSON (sources and description included when
  /// `withSources`); parse(toJson()) gives the same model.
  std::string toJson(bool withSources = true) const;
  /// FNV-1a of the canonical JSON without sources and description: equal
  /// models, equal fingerprints.
  uint64_t fingerprint() const;
  std::string fingerprintHex() const;

  /// Recomputes the resource tables; call after editing fields by hand.
  /// Returns a message when the model is inconsistent (empty: fine).
  std::string finalize();

  int64_t numDevices() const { return nodes * devicesPerNode; }
  int64_t nodeOf(int64_t device) const { return device / devicesPerNode; }
  int64_t localIndex(int64_t device) const { return device % devicesPerNode; }

  /// Devices, then link resources.
  int numResources() const { return static_cast<int>(resourceBw.size()); }
  bool isDevice(int resource) const { return resource < numDevices(); }
  /// Effective bytes/s of a link resource (0 for devices).
  double resourceBandwidth(int resource) const { return resourceBw[resource]; }
  /// "gpu3", "node1.hdr-ib0.tx", "node0.nvlink3.gpu2>gpu5", ...
  std::string resourceName(int resource) const;
  /// The index into `links` of a link resource (-1 for devices).
  int resourceLink(int resource) const { return resourceSpec[resource]; }

  /// Appends the link resources a transfer from `src` to `dst` crosses and
  /// returns the sum of their latencies (nothing and 0 when src == dst).
  double route(int64_t src, int64_t dst, std::vector<int> &resources) const;
  /// Bottleneck effective bandwidth and latency of the route, uncontended.
  double routeBandwidth(int64_t src, int64_t dst) const;

private:
  std::vector<int> linkBase;  // first resource of each link
  std::vector<double> resourceBw;
  std::vector<int> resourceSpec;
};

} // namespace soap

#endif // SOAP_SIMULATOR_MACHINEMODEL_H
