//===- CostModel.h - kernel and communication times -------------*- C++ -*-===//
//
// Pure functions of their arguments (FlexFlow's cost-key style), so callers
// cache them:
//
// - kernel time: the ProfileDB's median when it holds the key (op kind,
//   attributes, shard shapes, dtype, device type); else a roofline,
//   max(FLOPs / (peak * e_gemm(FLOPs)), bytes / (bandwidth * e_mem(bytes))),
//   whose efficiency curves are fitted to the ProfileDB's GEMM and bandwidth
//   samples of this device type, or, for hardware not measured here, the
//   machine file's kernel-level efficiencies plus a fixed kernel overhead;
// - communication: the alpha-beta model on the links each transfer crosses.
//   Collectives (ring, binomial tree, hierarchical) run over one or more
//   device groups at once; hops that share a link split its bandwidth.
//   Point-to-point transfers are priced as a set of concurrent flows: the
//   busiest link decides.
//
// Not thread-safe (scratch buffers): use one CostModel per thread.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_COSTMODEL_H
#define SOAP_SIMULATOR_COSTMODEL_H

#include "soap/Simulator/MachineModel.h"
#include "soap/Simulator/ProfileDB.h"
#include "soap/Simulator/ShardingRules.h"

#include <cstdint>
#include <vector>

namespace soap {

enum class Optimizer { SGD, Momentum, Adam };
const char *toString(Optimizer o);

struct CostOptions {
  /// f32 products run at the TF32 peak where the device has one.
  bool allowTf32 = false;
  Optimizer optimizer = Optimizer::Adam;
};

/// A point-to-point transfer.
struct Flow {
  int64_t src = 0;
  int64_t dst = 0;
  double bytes = 0;
};

/// The price of one communication task: its duration, the link resources it
/// occupies (sorted, unique) with the bytes crossing each, and the devices
/// taking part.
struct CommCost {
  double time = 0;
  std::vector<int> resources;
  std::vector<double> bytes;
  std::vector<int> devices;
  /// Bytes sent between devices (each transfer counted once, not per link).
  double payload = 0;

  double totalBytes() const;
  /// Appends another task's cost run after this one: times add, resources
  /// and devices merge.
  void append(const CommCost &other);
  void clear();
};

/// A fitted efficiency curve: efficiency as a function of log(size),
/// piecewise linear between the medians of the measured sizes, constant
/// outside them.
class EfficiencyCurve {
public:
  /// (size, efficiency) samples; sizes are FLOPs or bytes.
  void fit(std::vector<std::pair<double, double>> samples);
  bool empty() const { return points.empty(); }
  double at(double size) const;
  const std::vector<std::pair<double, double>> &knots() const { return points; }

private:
  std::vector<std::pair<double, double>> points; // (log size, efficiency)
};

/// An op's forward / backward FLOPs as a double. OpNode holds them as
/// int64, which wraps for the largest GEMMs (a GPT-1T MLP at batch 3,072 x
/// 2,048 has 3.3e19); for linear, matmul and attention the wrapped value
/// is corrected by the multiple of 2^64 that brings it nearest to the
/// FLOPs recomputed in floating point from the shapes (exact while the
/// estimate is within 2^63 of the truth: it omits only the softmax and
/// bias terms).
double opForwardFlops(const OpNode &op);
double opBackwardFlops(const OpNode &op);

class CostModel {
public:
  explicit CostModel(const MachineModel &machine, const ProfileDB *profile = nullptr,
                     CostOptions options = {});

  const MachineModel &machine() const { return m; }
  const CostOptions &options() const { return opts; }
  const ProfileDB *profile() const { return db; }
  /// The fitted curves (empty when nothing of this device type is measured).
  const EfficiencyCurve &gemmCurve() const { return gemmEff; }
  const EfficiencyCurve &memoryCurve() const { return memEff; }

  //===--- kernels ---------------------------------------------------------===//

  struct KernelTime {
    double forward = 0;
    double backward = 0;
    /// From the ProfileDB (else the roofline).
    bool measured = false;
  };
  /// One shard's forward and backward time under per-dim degrees.
  KernelTime kernelTime(const OpNode &op, const OpShardingRule &rule,
                        const std::vector<int64_t> &degree) const;
  /// The ProfileDB key of that shard kernel.
  std::string kernelKey(const OpNode &op, const OpShardingRule &rule,
                        const std::vector<int64_t> &degree) const;
  /// The roofline: time of a kernel of `flops` and `bytes`.
  double roofline(double flops, double bytes, DType dtype, bool gemm) const;
  /// Efficiency of a GEMM-class kernel of `flops` / a streaming kernel of
  /// `bytes` on this device (fitted, else the machine's default).
  double gemmEfficiency(double flops) const;
  double memoryEfficiency(double bytes) const;
  /// The optimizer step over `elements` parameters of `dtype` on one device,
  /// priced as a streaming kernel.
  double updateTime(int64_t elements, DType dtype) const;
  /// The optimizer step over one shard's weights of `op` under per-dim
  /// `degree` (the plan's update tasks of that shard): the ProfileDB's
  /// measurement when it holds updateKey(), else updateTime() of their
  /// elements. 0 for an op without weights.
  double opUpdateTime(const OpNode &op, const OpShardingRule &rule,
                      const std::vector<int64_t> &degree) const;
  /// The ProfileDB key of that update: kind "update", updateAttributes(),
  /// the weight shards' shapes (read and written in place); "" for an op
  /// without weights.
  std::string updateKey(const OpNode &op, const OpShardingRule &rule,
                        const std::vector<int64_t> &degree) const;
  /// "optimizer=<sgd|momentum|adam>", plus ",concurrent=N" when the op's
  /// shards update N > 1 weight shards of a node at once (they share its
  /// memory bandwidth: a data-parallel update is not a single device's).
  static std::string updateAttributes(Optimizer optimizer,
                                      const std::vector<int64_t> &degree,
                                      const MachineModel &machine);
  /// Bytes the optimizer keeps per parameter byte (Adam 2, momentum 1).
  int optimizerStateFactor() const;

  //===--- communication ---------------------------------------------------===//

  /// A collective run over every group at once (groups are disjoint device
  /// lists). `bytes` is the size of the tensor being reduced or gathered
  /// (all-reduce, reduce-scatter: each member's full input; all-gather: the
  /// full output; all-to-all: what each member holds). The algorithm is the
  /// machine's choice for `c` (Auto: the cheapest that applies). An
  /// all-reduce whose groups each lie alone within a node takes the
  /// ProfileDB's measured time for that group size where it has one
  /// (measuredAllReduce); the links and devices it occupies stay the
  /// algorithm's.
  void collective(Collective c, const std::vector<std::vector<int64_t>> &groups,
                  double bytes, CommCost &out) const;
  /// The same with a fixed algorithm; returns false when it does not apply
  /// (tree for gathers, hierarchical within one node or with uneven nodes).
  bool collectiveWith(Collective c, CollectiveAlgorithm a,
                      const std::vector<std::vector<int64_t>> &groups,
                      double bytes, CommCost &out) const;
  /// The ProfileDB's all-reduce time of `bytes` over each of `groups`, when
  /// it measured that group size on this device type and each group lies
  /// alone within one node; else 0.
  double measuredAllReduce(const std::vector<std::vector<int64_t>> &groups,
                           double bytes) const;
  /// Concurrent point-to-point flows: max route latency plus the busiest
  /// link's bytes over its bandwidth.
  void transfers(const std::vector<Flow> &flows, CommCost &out) const;

private:
  /// Dense per-resource accumulators with touched lists, reused by every
  /// call (no allocation once warm).
  struct Scratch {
    std::vector<double> load;   // hops per resource within one phase
    std::vector<double> acc;    // bytes per resource within one task
    std::vector<char> accFlag;
    std::vector<int> accTouched;
    std::vector<char> devSeen;
    std::vector<int> devList;
    std::vector<int> route;
    double payload = 0;
    void addBytes(int r, double bytes) {
      if (!accFlag[r]) {
        accFlag[r] = 1;
        accTouched.push_back(r);
      }
      acc[r] += bytes;
    }
    void addDevice(int64_t d) {
      if (!devSeen[d]) {
        devSeen[d] = 1;
        devList.push_back(static_cast<int>(d));
      }
    }
  };
  struct PhaseHop {
    int64_t src, dst;
    int group;
  };
  struct GroupParams {
    double steps;        // bandwidth steps
    double bytesPerStep; // bytes per hop per step
    double latSteps;     // latency terms
  };
  double runPhase(const std::vector<PhaseHop> &hops,
                  const std::vector<GroupParams> &params) const;
  static void ringOrder(const std::vector<int64_t> &group,
                        std::vector<int64_t> &sorted);
  void beginCost() const;
  void endCost(CommCost &out, double time) const;
  bool hierarchical(const std::vector<std::vector<int64_t>> &groups,
                    double bytes, double &time) const;

  const MachineModel &m;
  const ProfileDB *db;
  CostOptions opts;
  EfficiencyCurve gemmEff, memEff;
  mutable Scratch s;
};

} // namespace soap

#endif // SOAP_SIMULATOR_COSTMODEL_H
