//===- Calibrate.h - measure kernels into a ProfileDB -----------*- C++ -*-===//
//
// What soap-calibrate does, as a library: for a model's OpGraph, enumerate
// the shard shapes its candidate strategies need (degrees 1, 2, 4, ... of
// every dim, up to the machine's devices), time the kernels that compute
// them on a real device and write the medians into a ProfileDB keyed the way
// the CostModel looks them up.
//
//   linear, matmul  GEMMs: forward C = A.B; backward dA = dC.B^T and
//                   dB = A^T.dC (the runtime's kernels: OpenBLAS sgemm on
//                   CPU, cuBLAS on GPU)
//   conv2d          im2col + GEMM per image (backward: the filter-gradient
//                   and column-gradient GEMMs plus col2im), timed for one
//                   image and multiplied by the shard's batch
//   other ops       a streaming kernel over the bytes the shard reads and
//                   writes (twice that for the backward); attention, lstm and
//                   experts are left to the roofline fitted from the GEMM
//                   samples
//
// Every kernel is run `warmup` times, then timed `repeats` times; the
// ProfileDB keeps every sample and the median. With a ShardKernelTimer (the
// runtime's kernels) the optimizer update of each weighted shard is timed
// too, per optimizer.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_CALIBRATE_H
#define SOAP_SIMULATOR_CALIBRATE_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/MachineModel.h"
#include "soap/Simulator/ProfileDB.h"

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace soap {

/// One device's kernels, each timed once per call (seconds).
class KernelBench {
public:
  virtual ~KernelBench();
  /// "cpu" or "cuda".
  virtual std::string kind() const = 0;
  /// The device and library ("AMD EPYC, OpenBLAS 0.3.21, 1 thread").
  virtual std::string description() const = 0;
  virtual std::string library() const = 0;
  /// Whether gemm() runs this element type.
  virtual bool supports(DType dtype) const = 0;
  /// C[m,n] = A[m,k] . B[k,n].
  virtual double gemm(int64_t m, int64_t n, int64_t k, DType dtype) = 0;
  /// im2col of one image: [c, h, w] to [c*kh*kw, oh*ow].
  virtual double im2col(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                        int64_t strideH, int64_t strideW, int64_t padH,
                        int64_t padW) = 0;
  /// A streaming kernel that reads and writes `bytes` in total.
  virtual double stream(int64_t bytes) = 0;
};

/// OpenBLAS on this CPU with `threads` threads per kernel (a device is one
/// core: 1).
Expected<std::unique_ptr<KernelBench>> makeCpuBench(int threads = 1);
/// cuBLAS on CUDA device `device`. Fails with "no CUDA device: ..." where
/// there is none, and says so where Soap was built without the toolkit.
Expected<std::unique_ptr<KernelBench>> makeCudaBench(int device = 0);

/// Times one shard of an op with the kernels that really run it (the
/// runtime's), instead of calibrate()'s proxy pieces. Implemented outside
/// the simulator (soap/Runtime/ShardTimer.h) so that the simulator does not
/// depend on the runtime.
class ShardKernelTimer {
public:
  virtual ~ShardKernelTimer();
  /// Fills the per-repeat seconds of the shard's forward and backward
  /// kernels under per-dim `degree` (after `warmup` untimed runs) and what
  /// ran, the shard's kernels running on `concurrent` devices of a node at
  /// once (its other shards'); false with `error` when it cannot.
  virtual bool time(const OpNode &op, const std::vector<int64_t> &degree,
                    int concurrent, int warmup, int repeats,
                    std::vector<double> &forward,
                    std::vector<double> &backward, std::string &method,
                    std::string &error) = 0;
  /// Fills the per-repeat seconds of the optimizer update of the shard's
  /// weights (the plan's update tasks for them) under `optimizer`; true
  /// with no samples when the shard has no weight to update; false with
  /// `error` when it cannot.
  virtual bool timeUpdate(const OpNode &op, const std::vector<int64_t> &degree,
                          Optimizer optimizer, int concurrent, int warmup,
                          int repeats,
                          std::vector<double> &samples, std::string &error) = 0;
  /// Per-repeat seconds of the runtime's all-reduce of `bytes` (each
  /// member's buffer) over `ranks` ranks of one node, after `warmup`; false
  /// with `error` when it fails.
  virtual bool timeAllReduce(int ranks, int64_t bytes, int warmup, int repeats,
                             std::vector<double> &samples, std::string &error) = 0;
};

struct CalibrationOptions {
  int repeats = 5;
  int warmup = 1;
  /// Largest number of shards of one op considered (0: the machine's
  /// devices).
  int64_t maxDevices = 0;
  /// Also time a sweep of square GEMMs and stream sizes, so that the fitted
  /// efficiency curves cover sizes the model does not have.
  bool sweep = true;
  /// Progress lines go here when set.
  std::ostream *log = nullptr;
  /// When set, every shard kernel (attention, lstm and experts included) is
  /// timed by it; the bench then only runs the sweep's GEMMs and streams.
  ShardKernelTimer *timer = nullptr;
  /// With a timer: the optimizers whose update of every weighted shard is
  /// also timed (ProfileDB kind "update", CostModel::updateKey).
  std::vector<Optimizer> updateOptimizers = {Optimizer::SGD, Optimizer::Momentum,
                                             Optimizer::Adam};
  /// With a timer: also time the runtime's all-reduce over 2, 4 and 8
  /// ranks of a node (up to its devices), 4 KiB to 32 MiB
  /// (ProfileDB::allReduce).
  bool collectives = true;
  /// With a timer: a shard of a k-way split is timed while the same kernel
  /// runs on min(k, devices per node) - 1 other devices of the node (its
  /// sibling shards), not with the node idle.
  bool concurrent = true;
};

/// One kernel to measure: an op under per-dim degrees.
struct CalibrationJob {
  int op = -1;
  std::vector<int64_t> degree;
  std::string key;
};

/// The distinct shard kernels of the model's candidate configs (without
/// `allKinds`, not those of attention, lstm and experts, which the proxy
/// pieces leave to the roofline).
std::vector<CalibrationJob> planCalibration(const OpGraph &graph,
                                            const MachineModel &machine,
                                            int64_t maxDevices,
                                            bool allKinds = false);

/// Measures the plan on `bench`; the ProfileDB's device type is the
/// machine's.
Expected<ProfileDB> calibrate(const OpGraph &graph, const MachineModel &machine,
                              KernelBench &bench,
                              const CalibrationOptions &options);

/// Runs once, on `bench`, the kernels that calibrate() times for one shard
/// of `op` under per-dim `degree` (its forward, or its backward), all of
/// them (every image of a convolution, where calibrate() times one and
/// multiplies); returns the seconds spent in them. 0, running nothing, for views and for the kinds left to the
/// roofline. For harnesses that replay a simulated step.
double runShardKernel(KernelBench &bench, const OpNode &op,
                      const std::vector<int64_t> &degree, bool backward);

/// `base` with the profile's measured figures: peak f32 FLOP/s = the best
/// GEMM rate, memory bandwidth = the best streaming rate (the efficiency
/// curve then scales it by size), shared-memory links at half the rate of
/// the largest streaming kernel (a copy reads and writes each byte), GEMM
/// efficiency 1 (the peak is itself measured). Sources say so.
MachineModel machineFromProfile(const MachineModel &base, const ProfileDB &db);

} // namespace soap

#endif // SOAP_SIMULATOR_CALIBRATE_H
