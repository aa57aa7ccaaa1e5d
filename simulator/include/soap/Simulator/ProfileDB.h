//===- ProfileDB.h - measured kernel times ----------------------*- C++ -*-===//
//
// What soap-calibrate measured on a real device: kernel times keyed by
// (op kind, kernel attributes, shard shapes, dtype, device type), each the
// median of repeated runs after warm-up, plus raw GEMM and bandwidth samples
// from which the cost model fits its efficiency curves. JSON on disk
// (docs/simulator.md, "ProfileDB").
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_PROFILEDB_H
#define SOAP_SIMULATOR_PROFILEDB_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/Expected.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace soap {

/// One measured kernel: an op's forward (and backward) on one shard shape.
struct KernelMeasurement {
  std::string kind;
  std::string attributes;
  /// "f32[32x784],f32[784x256]->f32[32x256]": the shard shapes.
  std::string shapes;
  DType dtype = DType::F32;
  std::string deviceType;
  /// Median seconds (0: not measured).
  double forward = 0;
  double backward = 0;
  /// Every timed repeat, seconds.
  std::vector<double> forwardSamples;
  std::vector<double> backwardSamples;
  /// Forward FLOPs and bytes of the shard kernel (for the efficiency fit).
  double flops = 0;
  double bytes = 0;
  /// What ran: "cblas_sgemm", "im2col+cblas_sgemm", "stream", ...
  std::string method;

  std::string key() const;
};

/// A GEMM C[m,n] = A[m,k] . B[k,n], timed.
struct GemmSample {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::F32;
  double seconds = 0; ///< median
  std::vector<double> samples;
  double flops() const { return 2.0 * m * n * k; }
};

/// A streaming kernel over `bytes` (read + written), timed.
struct BandwidthSample {
  int64_t bytes = 0;
  double seconds = 0; ///< median
  std::vector<double> samples;
};

/// The runtime's all-reduce of `bytes` over `devices` ranks of one node
/// (soap-calibrate --kernels runtime: ranks as threads), timed.
struct AllReduceSample {
  int64_t devices = 0;
  int64_t bytes = 0;
  double seconds = 0; ///< median
  std::vector<double> samples;
};

class ProfileDB {
public:
  /// The device type the measurements are of (the machine file's
  /// device.type), and what it is ("cpu", "cuda") and its name.
  std::string deviceType;
  std::string deviceKind;
  std::string deviceName;
  std::string library;
  int repeats = 0;
  int warmup = 0;
  /// Largest measured GEMM rate (FLOP/s) and streaming bandwidth (bytes/s).
  double bestGemmFlops = 0;
  double bestBandwidth = 0;

  std::vector<GemmSample> gemm;
  std::vector<BandwidthSample> bandwidth;
  /// Sorted by devices, then bytes.
  std::vector<AllReduceSample> allReduce;

  /// The measured all-reduce time of `bytes` over `devices` ranks of a
  /// node, interpolated linearly in bytes between the samples of that rank
  /// count (the smallest sample's below them, the last segment's slope
  /// above); 0 when none has that rank count.
  double allReduceSeconds(int64_t devices, double bytes) const;
  /// Restores the order of `allReduce` after adding to it.
  void sortAllReduce();

  /// The key of a kernel: kind|attributes|shapes|dtype|device type.
  static std::string makeKey(const std::string &kind,
                             const std::string &attributes,
                             const std::string &shapes, DType dtype,
                             const std::string &deviceType);
  /// "f32[2x3],f32[3]->f32[2x3]".
  static std::string shapesText(const std::vector<std::vector<int64_t>> &operands,
                                const std::vector<DType> &operandTypes,
                                const std::vector<std::vector<int64_t>> &results,
                                const std::vector<DType> &resultTypes);

  const KernelMeasurement *find(const std::string &key) const;
  /// Adds or replaces (same key) a measurement.
  void add(KernelMeasurement m);
  size_t size() const { return kernels.size(); }
  const std::unordered_map<std::string, KernelMeasurement> &all() const {
    return kernels;
  }

  static Expected<ProfileDB> parse(const std::string &text,
                                   const std::string &origin);
  static Expected<ProfileDB> load(const std::string &path);
  std::string toJson() const;
  /// Writes toJson(); returns an error message or "".
  std::string save(const std::string &path) const;

private:
  std::unordered_map<std::string, KernelMeasurement> kernels;
};

/// Parses "f32", "bf16", ...
bool parseDType(const std::string &text, DType &out);

} // namespace soap

#endif // SOAP_SIMULATOR_PROFILEDB_H
