//===- Calibrate.cpp - measure a model's shard kernels --------------------===//
#include "soap/Simulator/Calibrate.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/ShardingRules.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <tuple>

namespace soap {

namespace {

int64_t numel(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t x : s)
    n *= x;
  return n;
}

bool isView(const OpNode &op) {
  return op.forwardFlops == 0 && op.backwardFlops == 0 && op.bytesRead == 0 &&
         op.bytesWritten == 0;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// One timed piece of a kernel, run `times` times per sample (timed once and
/// multiplied: conv2d's per-image work, matmul's batch).
struct Piece {
  enum Kind { Gemm, Im2col, Stream } kind;
  int64_t a = 0, b = 0, c = 0;    // gemm m, n, k; stream bytes in a
  int64_t im[9] = {};             // im2col arguments
  DType dtype = DType::F32;
  double times = 1;
};

/// Samples of every distinct GEMM and stream size, for the efficiency fits.
struct Samples {
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, std::vector<double>> gemm;
  std::map<int64_t, std::vector<double>> stream;
};

double runPiece(KernelBench &bench, const Piece &p, Samples *record) {
  double t = 0;
  switch (p.kind) {
  case Piece::Gemm:
    t = bench.gemm(p.a, p.b, p.c, p.dtype);
    if (record)
      record->gemm[{p.a, p.b, p.c, static_cast<int>(p.dtype)}].push_back(t);
    break;
  case Piece::Im2col:
    t = bench.im2col(p.im[0], p.im[1], p.im[2], p.im[3], p.im[4], p.im[5],
                     p.im[6], p.im[7], p.im[8]);
    break;
  case Piece::Stream:
    t = bench.stream(p.a);
    if (record)
      record->stream[p.a].push_back(t);
    break;
  }
  return t * p.times;
}

/// Warm-up runs, then `repeats` samples of the pieces' summed time.
std::vector<double> measure(KernelBench &bench, const std::vector<Piece> &pieces,
                            const CalibrationOptions &o, Samples &record) {
  for (int w = 0; w < o.warmup; ++w)
    for (const Piece &p : pieces)
      runPiece(bench, p, nullptr);
  std::vector<double> samples;
  for (int r = 0; r < std::max(1, o.repeats); ++r) {
    double total = 0;
    for (const Piece &p : pieces)
      total += runPiece(bench, p, &record);
    samples.push_back(total);
  }
  return samples;
}

Piece gemm(int64_t m, int64_t n, int64_t k, DType t, double times = 1) {
  Piece p{Piece::Gemm};
  p.a = m;
  p.b = n;
  p.c = k;
  p.dtype = t;
  p.times = times;
  return p;
}

Piece stream(int64_t bytes) {
  Piece p{Piece::Stream};
  p.a = std::max<int64_t>(bytes, 8);
  return p;
}

/// The pieces that compute one op shard (forward and backward), as
/// calibrate() times them; false for views and for the kinds left to the
/// roofline.
bool planPieces(const OpNode &op, const OpShardingRule &rule,
                const std::vector<int64_t> &degree, const KernelBench &bench,
                std::vector<Piece> &fwd, std::vector<Piece> &bwd,
                std::string &method, double &flops, double &bytes) {
  std::vector<std::vector<int64_t>> in, out;
  for (const TensorRule &t : rule.operands)
    in.push_back(shardShape(t, op.dims, degree));
  for (const TensorRule &t : rule.results)
    out.push_back(shardShape(t, op.dims, degree));
  DType dt = op.results.empty() ? DType::F32 : op.results[0].dtype;
  fwd.clear();
  bwd.clear();
  flops = 0;
  bytes = 0;
  for (size_t j = 0; j < in.size(); ++j)
    bytes += static_cast<double>(numel(in[j]) * rule.operands[j].elementBytes());
  for (size_t r = 0; r < out.size(); ++r)
    bytes += static_cast<double>(numel(out[r]) * rule.results[r].elementBytes());

  if (op.kind == "linear" && in.size() >= 2 && !out.empty() &&
      bench.supports(dt)) {
    int64_t k = in[1][0], n = in[1][1], m = numel(out[0]) / std::max<int64_t>(n, 1);
    fwd = {gemm(m, n, k, dt)};
    bwd = {gemm(m, k, n, dt), gemm(k, n, m, dt)};
    flops = 2.0 * m * n * k;
    method = "gemm";
    return true;
  }
  if (op.kind == "matmul" && in.size() == 2 && !out.empty() &&
      bench.supports(dt) && in[0].size() >= 2 && in[1].size() >= 2) {
    int64_t m = in[0][in[0].size() - 2], k = in[0].back(), n = in[1].back();
    double batch = static_cast<double>(numel(out[0])) / static_cast<double>(m * n);
    fwd = {gemm(m, n, k, dt, batch)};
    bwd = {gemm(m, k, n, dt, batch), gemm(k, n, m, dt, batch)};
    flops = 2.0 * m * n * k * batch;
    method = "gemm x batch";
    return true;
  }
  if (op.kind == "conv2d" && in.size() >= 2 && !out.empty() &&
      in[0].size() == 4 && in[1].size() == 4 && bench.supports(dt)) {
    int64_t groups = attributeInt(op.attributes, "groups", 1);
    std::vector<int64_t> strides = attributeInts(op.attributes, "strides", {1, 1});
    std::vector<int64_t> pad = attributeInts(op.attributes, "padding", {0, 0, 0, 0});
    int64_t nImg = in[0][0], c = in[0][1], h = in[0][2], w = in[0][3];
    int64_t o = in[1][0], cg = in[1][1], kh = in[1][2], kw = in[1][3];
    int64_t ohow = out[0][2] * out[0][3];
    int64_t ckk = cg * kh * kw, og = o / std::max<int64_t>(groups, 1);
    // padding is [top, left, bottom, right].
    Piece im{Piece::Im2col};
    int64_t args[9] = {c, h, w, kh, kw,
                       strides.size() > 0 ? strides[0] : 1,
                       strides.size() > 1 ? strides[1] : 1,
                       pad.size() > 0 ? pad[0] : 0,
                       pad.size() > 1 ? pad[1] : 0};
    std::copy(args, args + 9, im.im);
    im.times = static_cast<double>(nImg);
    double per = static_cast<double>(nImg * groups);
    fwd = {im, gemm(og, ohow, ckk, dt, per)};
    bwd = {gemm(og, ckk, ohow, dt, per), gemm(ckk, ohow, og, dt, per), im};
    flops = 2.0 * og * ohow * ckk * per;
    method = "im2col+gemm per image";
    return true;
  }
  if (op.kind == "attention" || op.kind == "lstm" || op.kind == "experts" ||
      isView(op))
    return false;
  fwd = {stream(static_cast<int64_t>(bytes))};
  bwd = {stream(static_cast<int64_t>(2 * bytes))};
  method = "stream";
  return true;
}

} // namespace

double runShardKernel(KernelBench &bench, const OpNode &op,
                      const std::vector<int64_t> &degree, bool backward) {
  OpShardingRule rule = shardingRule(op);
  std::vector<Piece> fwd, bwd;
  std::string method;
  double flops, bytes;
  if (!planPieces(op, rule, degree, bench, fwd, bwd, method, flops, bytes))
    return 0;
  // All the work: pieces that calibrate() times once and multiplies (one
  // image of a convolution, one matrix of a batch) run that many times.
  double t = 0;
  for (const Piece &p : backward ? bwd : fwd) {
    Piece once = p;
    once.times = 1;
    int64_t n = std::max<int64_t>(1, std::llround(p.times));
    for (int64_t i = 0; i < n; ++i)
      t += runPiece(bench, once, nullptr);
  }
  return t;
}

ShardKernelTimer::~ShardKernelTimer() = default;

std::vector<CalibrationJob> planCalibration(const OpGraph &graph,
                                            const MachineModel &machine,
                                            int64_t maxDevices, bool allKinds) {
  if (maxDevices <= 0)
    maxDevices = machine.numDevices();
  CostModel cost(machine);
  std::vector<CalibrationJob> jobs;
  std::set<std::string> seen;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const OpNode &op = graph.ops[i];
    if (isView(op) || (!allKinds && (op.kind == "attention" ||
                                     op.kind == "lstm" || op.kind == "experts")))
      continue;
    OpShardingRule rule = shardingRule(op);
    std::vector<int64_t> degree(op.dims.size(), 1);
    std::function<void(size_t, int64_t)> walk = [&](size_t d, int64_t used) {
      if (d == op.dims.size()) {
        if (!unsupportedSplit(op, degree).empty())
          return; // not offered by the search: see ShardingRules.h
        std::string key = cost.kernelKey(op, rule, degree);
        if (seen.insert(key).second)
          jobs.push_back({static_cast<int>(i), degree, key});
        return;
      }
      for (int64_t g = 1; used * g <= maxDevices; g *= 2) {
        if (op.dims[d].size % g != 0)
          break;
        degree[d] = g;
        walk(d + 1, used * g);
      }
      degree[d] = 1;
    };
    walk(0, 1);
  }
  return jobs;
}

Expected<ProfileDB> calibrate(const OpGraph &graph, const MachineModel &machine,
                              KernelBench &bench,
                              const CalibrationOptions &o) {
  ProfileDB db;
  db.deviceType = machine.device.type;
  db.deviceKind = bench.kind();
  db.deviceName = bench.description();
  db.library = bench.library();
  db.repeats = std::max(1, o.repeats);
  db.warmup = std::max(0, o.warmup);
  Samples record;

  std::vector<CalibrationJob> jobs =
      planCalibration(graph, machine, o.maxDevices, o.timer != nullptr);
  if (o.log)
    *o.log << "soap-calibrate: " << jobs.size() << " shard kernels of "
           << graph.ops.size() << " ops on " << bench.description() << "\n";
  for (const CalibrationJob &job : jobs) {
    const OpNode &op = graph.ops[job.op];
    OpShardingRule rule = shardingRule(op);
    std::vector<std::vector<int64_t>> in, out;
    for (const TensorRule &t : rule.operands)
      in.push_back(shardShape(t, op.dims, job.degree));
    for (const TensorRule &t : rule.results)
      out.push_back(shardShape(t, op.dims, job.degree));
    DType dt = op.results.empty() ? DType::F32 : op.results[0].dtype;
    std::vector<Piece> fwd, bwd;
    std::string method;
    double flops = 0, bytes = 0;
    bool proxy =
        planPieces(op, rule, job.degree, bench, fwd, bwd, method, flops, bytes);
    // The op's shards on one node run at once (SPMD): time each with its
    // siblings running, so that they share the node's caches and memory
    // bandwidth as in a plan.
    const int concurrent =
        o.concurrent ? static_cast<int>(std::min<int64_t>(
                           numel(job.degree), machine.devicesPerNode))
                     : 1;
    if (!proxy && !o.timer)
      continue;

    KernelMeasurement km;
    km.kind = op.kind;
    km.attributes = op.attributes;
    std::vector<DType> it, ot;
    for (const TensorRule &t : rule.operands)
      it.push_back(t.dtype);
    for (const TensorRule &t : rule.results)
      ot.push_back(t.dtype);
    km.shapes = ProfileDB::shapesText(in, it, out, ot);
    km.dtype = dt;
    km.deviceType = machine.device.type;
    km.method = method;
    km.flops = flops;
    km.bytes = bytes;
    if (o.timer) {
      std::string error;
      if (!o.timer->time(op, job.degree, concurrent, std::max(0, o.warmup),
                         std::max(1, o.repeats), km.forwardSamples,
                         km.backwardSamples, km.method, error))
        return Error{"op '" + op.name + "' (" + op.kind + "), shard " +
                     km.shapes + ": " + error};
      if (!proxy) { // attention, lstm, experts: FLOPs from the op
        int64_t shards = 1;
        for (int64_t d : job.degree)
          shards *= d;
        km.flops = static_cast<double>(op.forwardFlops) / static_cast<double>(shards);
      }
    } else {
      km.forwardSamples = measure(bench, fwd, o, record);
      km.backwardSamples = measure(bench, bwd, o, record);
    }
    km.forward = median(km.forwardSamples);
    km.backward = median(km.backwardSamples);
    if (km.key() != job.key)
      return Error{"internal error: calibration key mismatch: " + km.key() +
                   " vs " + job.key};
    if (o.log)
      *o.log << "  " << op.name << " " << km.shapes << ": forward "
             << km.forward * 1e6 << " us, backward " << km.backward * 1e6
             << " us (" << km.method << ")\n";
    db.add(std::move(km));
    if (!o.timer)
      continue;
    // The update of the shard's weights, per optimizer: a streaming kernel
    // whose rate the bandwidth curve does not give (it depends on the
    // optimizer's arithmetic and on the weight's size in the caches).
    for (Optimizer opt : o.updateOptimizers) {
      CostModel priced(machine, nullptr, CostOptions{false, opt});
      std::string key = priced.updateKey(op, rule, job.degree);
      if (key.empty() || db.find(key))
        continue;
      KernelMeasurement um;
      um.kind = "update";
      um.attributes = CostModel::updateAttributes(opt, job.degree, machine);
      std::vector<std::vector<int64_t>> ws;
      std::vector<DType> wt;
      for (size_t j = 0; j < op.operands.size(); ++j)
        if (op.operands[j].source == OperandSource::Weight) {
          ws.push_back(in[j]);
          wt.push_back(rule.operands[j].dtype);
        }
      um.shapes = ProfileDB::shapesText(ws, wt, ws, wt);
      um.dtype = wt.front();
      um.deviceType = machine.device.type;
      um.method = "soap runtime kernels";
      for (size_t j = 0; j < ws.size(); ++j)
        um.bytes += static_cast<double>(numel(ws[j]) * byteWidth(wt[j]));
      std::string error;
      if (!o.timer->timeUpdate(op, job.degree, opt, concurrent,
                               std::max(0, o.warmup),
                               std::max(1, o.repeats), um.forwardSamples, error))
        return Error{"op '" + op.name + "' (" + op.kind + "), update of shard " +
                     um.shapes + " (" + toString(opt) + "): " + error};
      if (um.forwardSamples.empty())
        continue; // no weight needs a gradient
      um.forward = median(um.forwardSamples);
      if (um.key() != key)
        return Error{"internal error: update key mismatch: " + um.key() +
                     " vs " + key};
      if (o.log)
        *o.log << "  " << op.name << " update (" << um.attributes << ") "
               << um.shapes << ": " << um.forward * 1e6 << " us\n";
      db.add(std::move(um));
    }
  }

  if (o.timer && o.collectives) {
    // Messages of every size a plan sends, up to past the caches: the
    // runtime's collective is not one bandwidth (a 64 KiB all-reduce is
    // mostly the handoff between the ranks, one of 8 MiB leaves the cache).
    for (int64_t p = 2; p <= std::min<int64_t>(machine.devicesPerNode, 8); p *= 2)
      for (int64_t b = int64_t(4) << 10; b <= (int64_t(32) << 20); b *= 2) {
        AllReduceSample a;
        a.devices = p;
        a.bytes = b;
        std::string error;
        if (!o.timer->timeAllReduce(static_cast<int>(p), b, std::max(1, o.warmup),
                                    std::max(1, o.repeats), a.samples, error))
          return Error{"the runtime's all-reduce of " + std::to_string(b) +
                       " bytes over " + std::to_string(p) + " ranks: " + error};
        a.seconds = median(a.samples);
        db.allReduce.push_back(std::move(a));
      }
    db.sortAllReduce();
    if (o.log && !db.allReduce.empty())
      *o.log << "  all-reduce over 2 ranks: 64 KiB "
             << db.allReduceSeconds(2, 65536) * 1e6 << " us, 1 MiB "
             << db.allReduceSeconds(2, 1 << 20) * 1e6 << " us, 16 MiB "
             << db.allReduceSeconds(2, 16 << 20) * 1e6 << " us\n";
  }

  if (o.sweep) {
    for (int64_t s : {32, 64, 128, 256, 512, 1024})
      measure(bench, {gemm(s, s, s, DType::F32)}, o, record);
    for (int64_t b = int64_t(1) << 14; b <= (int64_t(1) << 26); b *= 4)
      measure(bench, {stream(b)}, o, record);
  }

  for (auto &[key, samples] : record.gemm) {
    GemmSample g;
    g.m = std::get<0>(key);
    g.n = std::get<1>(key);
    g.k = std::get<2>(key);
    g.dtype = static_cast<DType>(std::get<3>(key));
    g.samples = samples;
    g.seconds = median(samples);
    if (g.seconds > 0)
      db.bestGemmFlops = std::max(db.bestGemmFlops, g.flops() / g.seconds);
    db.gemm.push_back(std::move(g));
  }
  for (auto &[b, samples] : record.stream) {
    BandwidthSample s;
    s.bytes = b;
    s.samples = samples;
    s.seconds = median(samples);
    if (s.seconds > 0)
      db.bestBandwidth = std::max(db.bestBandwidth, static_cast<double>(b) / s.seconds);
    db.bandwidth.push_back(std::move(s));
  }
  return db;
}

MachineModel machineFromProfile(const MachineModel &base, const ProfileDB &db) {
  MachineModel m = base;
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::gmtime(&now));
  std::string by = "measured by soap-calibrate on " + db.deviceName + ", " + date;
  if (db.bestGemmFlops > 0) {
    double ratio = m.device.peakF32 > 0 ? m.device.peakF64 / m.device.peakF32 : 0.5;
    m.device.peakF32 = db.bestGemmFlops;
    m.device.peakF64 = db.bestGemmFlops * ratio;
    m.device.gemmEfficiency = 1;
    m.device.sources["peak_flops"] =
        by + ": f32 = the best single-core SGEMM rate (so GEMM efficiency is 1); "
             "f64 keeps the file's f64/f32 ratio";
    m.device.sources["gemm_efficiency"] = "1: the peak is itself a measured GEMM rate";
  }
  if (db.bestBandwidth > 0) {
    m.device.memoryBandwidth = db.bestBandwidth;
    m.device.memoryEfficiency = 1;
    m.device.sources["memory_bandwidth_bytes_per_s"] =
        by + ": the best rate of a single-core streaming kernel (bytes read and written)";
    m.device.sources["memory_efficiency"] = "1: the bandwidth is itself measured";
    // Transfers between cores are large copies through memory: the rate of
    // the largest streaming kernel measured, halved (a copy reads and
    // writes each byte).
    const BandwidthSample *largest = nullptr;
    for (const BandwidthSample &b : db.bandwidth)
      if (b.seconds > 0 && (!largest || b.bytes > largest->bytes))
        largest = &b;
    for (LinkSpec &l : m.links)
      if (l.kind == LinkKind::SharedMemory && largest) {
        l.bandwidth = static_cast<double>(largest->bytes) / largest->seconds / 2;
        l.efficiency = 1;
        l.source = by + ": half the rate of a " +
                   std::to_string(largest->bytes >> 20) +
                   " MiB single-core streaming kernel (a copy reads and writes)";
      }
  }
  m.finalize();
  return m;
}

} // namespace soap
