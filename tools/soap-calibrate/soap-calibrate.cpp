//===- soap-calibrate.cpp - measure a model's kernels into a ProfileDB ----===//
//
//   soap-calibrate --device cpu --model FILE.mlir [-o profile.json]
//                  [--repeats N] [--warmup N] [--machine NAME] [--nodes N]
//                  [--max-devices N] [--blas-threads N] [--sweep=false]
//                  [--emit-machine FILE] [--kernels runtime|proxy]
//                  [--concurrent=false]
//   soap-calibrate --device cuda --model FILE.mlir --machine dgx-h100 ...
//
// A thin command line over soap/Simulator/Calibrate.h: extract the model's
// OpGraph, time the shard kernels its candidate strategies need on this
// device, write the ProfileDB that the simulator's cost model reads. On the
// CPU each shard is timed with the runtime's own kernels (--kernels runtime,
// soap/Runtime/ShardTimer.h); --kernels proxy times calibrate()'s GEMM and
// streaming decomposition instead.
//
//===----------------------------------------------------------------------===//
#include "soap/Graph/Extract.h"
#include "soap/InitAll.h"
#include "soap/Runtime/ShardTimer.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Calibrate.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>

namespace cl = llvm::cl;

static int fail(const std::string &message) {
  llvm::errs() << "soap-calibrate: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::OptionCategory cat("soap-calibrate options");
  cl::opt<std::string> device("device", cl::desc("cpu or cuda"), cl::init("cpu"),
                              cl::cat(cat));
  cl::opt<std::string> model("model", cl::desc("The model (soap IR, .mlir)"),
                             cl::value_desc("file"), cl::Required, cl::cat(cat));
  cl::opt<std::string> entry("entry", cl::desc("The model function (default: the only one)"),
                             cl::init(""), cl::cat(cat));
  cl::opt<std::string> output("o", cl::desc("The ProfileDB to write (default: stdout)"),
                              cl::value_desc("file"), cl::init("-"), cl::cat(cat));
  cl::opt<int> repeats("repeats", cl::desc("Timed runs per kernel (median kept)"),
                       cl::init(5), cl::cat(cat));
  cl::opt<int> warmup("warmup", cl::desc("Untimed runs before them"), cl::init(1),
                      cl::cat(cat));
  cl::opt<std::string> machineName(
      "machine",
      cl::desc("Machine preset or file whose device type the profile is for "
               "(default: cpu-host for cpu, dgx-h100 for cuda)"),
      cl::init(""), cl::cat(cat));
  cl::opt<int> nodes("nodes", cl::desc("Override the machine's node count"),
                     cl::init(0), cl::cat(cat));
  cl::opt<int> maxDevices(
      "max-devices",
      cl::desc("Largest shard count of one op considered (default: the machine's devices)"),
      cl::init(0), cl::cat(cat));
  cl::opt<int> threads("blas-threads", cl::desc("BLAS threads per CPU kernel (a device is one core)"),
                       cl::init(1), cl::cat(cat));
  cl::opt<int> cudaDevice("cuda-device", cl::desc("CUDA device index"), cl::init(0),
                          cl::cat(cat));
  cl::opt<bool> sweep("sweep",
                      cl::desc("Also time square GEMMs and streams of a range of "
                               "sizes for the efficiency fits"),
                      cl::init(true), cl::cat(cat));
  cl::opt<std::string> emitMachine(
      "emit-machine",
      cl::desc("Write the machine file with the measured figures (CPU: cpu-host)"),
      cl::value_desc("file"), cl::init(""), cl::cat(cat));
  cl::opt<std::string> kernels(
      "kernels",
      cl::desc("What times each shard: 'runtime' (the kernels soap-run runs; "
               "the CPU default) or 'proxy' (a GEMM / im2col+GEMM / stream "
               "decomposition; the CUDA default)"),
      cl::init(""), cl::cat(cat));
  cl::opt<bool> concurrent(
      "concurrent",
      cl::desc("With --kernels runtime: time a shard of a k-way split while "
               "its sibling shards run on min(k, devices per node) - 1 other "
               "cores (default), not with the node idle"),
      cl::init(true), cl::cat(cat));
  cl::opt<bool> quiet("quiet", cl::desc("No progress on stderr"), cl::cat(cat));
  cl::HideUnrelatedOptions(cat);
  cl::ParseCommandLineOptions(argc, argv,
                              "Measure a model's kernels into a ProfileDB\n");

  if (device != "cpu" && device != "cuda")
    return fail("--device must be cpu or cuda, got '" + device + "'");
  if (repeats < 1 || warmup < 0)
    return fail("--repeats must be at least 1 and --warmup at least 0");
  std::string method = kernels.empty() ? (device == "cpu" ? "runtime" : "proxy")
                                       : std::string(kernels);
  if (method != "runtime" && method != "proxy")
    return fail("--kernels must be runtime or proxy, got '" + method + "'");
  if (method == "runtime" && device != "cpu")
    return fail("--kernels runtime times the CPU runtime's kernels; use "
                "--kernels proxy with --device cuda");

  // The device first: --device cuda on a machine without one fails here.
  auto bench = device == "cpu" ? soap::makeCpuBench(threads)
                               : soap::makeCudaBench(cudaDevice);
  if (!bench)
    return fail(bench.error());

  std::string preset = machineName.empty()
                           ? (device == "cpu" ? "cpu-host" : "dgx-h100")
                           : std::string(machineName);
  soap::MachineOverrides overrides;
  if (nodes > 0)
    overrides.nodes = nodes;
  auto machine = soap::MachineModel::loadPreset(preset, overrides);
  if (!machine)
    return fail(machine.error());

  mlir::DialectRegistry registry;
  soap::registerSoapDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(model, sourceMgr, &context);
  if (!module)
    return fail("cannot read the model '" + model + "'");
  auto graph = soap::extractOpGraph(*module, entry);
  if (mlir::failed(graph))
    return 1; // the diagnostic is printed

  soap::CalibrationOptions options;
  options.repeats = repeats;
  options.warmup = warmup;
  options.maxDevices = maxDevices;
  options.sweep = sweep;
  options.concurrent = concurrent;
  if (!quiet)
    options.log = &std::cerr;
  soap::runtime::RuntimeShardTimer timer(threads);
  if (method == "runtime")
    options.timer = &timer;
  auto db = soap::calibrate(*graph, *machine, **bench, options);
  if (!db)
    return fail(db.error());

  if (output == "-") {
    std::cout << db->toJson() << "\n";
  } else if (std::string e = db->save(output); !e.empty()) {
    return fail(e);
  }
  if (!emitMachine.empty()) {
    soap::MachineModel filled = soap::machineFromProfile(*machine, *db);
    // Soap's CPU runtime: one thread per rank walks the rank's task list,
    // kernels and communication alike.
    if (device == "cpu") {
      filled.communicationOccupiesDevices = true;
      filled.inOrderExecution = true;
    }
    // With the runtime's kernels, the shared-memory link is also the
    // runtime's: its latency and bandwidth are set so that the simulator
    // prices an all-reduce over a node's devices at the time the runtime's
    // collective (ranks as threads) took here, for 64 KiB (the handoff
    // between the threads dominates) and 1 MiB (the copies do, in cache):
    // the point-to-point transfers of a plan are of these sizes. All-reduces
    // themselves take the ProfileDB's measured curve (CostModel::collective).
    if (method == "runtime" && !db->allReduce.empty()) {
      const int p = static_cast<int>(db->allReduce.back().devices);
      const int64_t small = int64_t(64) << 10, large = int64_t(1) << 20;
      const double tSmall = db->allReduceSeconds(p, small);
      const double tLarge = db->allReduceSeconds(p, large);
      std::vector<int64_t> group;
      for (int d = 0; d < p; ++d)
        group.push_back(d);
      auto model = [&](int64_t bytes) {
        soap::CostModel cost(filled);
        soap::CommCost c;
        cost.collective(soap::Collective::AllReduce, {group},
                        static_cast<double>(bytes), c);
        return c.time;
      };
      auto shared = [&](const std::function<void(soap::LinkSpec &)> &f) {
        for (soap::LinkSpec &l : filled.links)
          if (l.kind == soap::LinkKind::SharedMemory)
            f(l);
        return filled.finalize();
      };
      // The model is affine in the latency and in 1/bandwidth: alternately
      // fit the latency to the small message and the bandwidth to the large
      // one (each barely moves the other's figure).
      for (int pass = 0; pass < 4; ++pass) {
        double t0 = model(small);
        double lat = 0;
        if (std::string e = shared([&](soap::LinkSpec &l) { lat = l.latency; });
            !e.empty())
          return fail(e);
        // The small message's time per second of latency.
        double perLatency = 0;
        if (std::string e = shared([&](soap::LinkSpec &l) { l.latency = lat + 1e-6; });
            !e.empty())
          return fail(e);
        perLatency = (model(small) - t0) / 1e-6;
        double fitted = perLatency > 0 ? lat + (tSmall - t0) / perLatency : lat;
        if (std::string e = shared([&](soap::LinkSpec &l) {
              l.latency = std::max(0.0, fitted);
            });
            !e.empty())
          return fail(e);
        double tl = model(large);
        if (tl <= 0)
          break;
        if (std::string e = shared([&](soap::LinkSpec &l) {
              l.bandwidth *= tl / tLarge;
              l.efficiency = 1;
            });
            !e.empty())
          return fail(e);
      }
      if (std::string e = shared([&](soap::LinkSpec &l) {
            l.source = "set by soap-calibrate (--kernels runtime) so that all-reduces "
                       "over " + std::to_string(p) +
                       " devices of 64 KiB and 1 MiB take what the runtime's thread "
                       "collective measured here (" + std::to_string(tSmall * 1e3) +
                       " ms and " + std::to_string(tLarge * 1e3) + " ms)";
          });
          !e.empty())
        return fail(e);
    }
    std::ofstream out(emitMachine);
    if (!(out << filled.toJson() << "\n"))
      return fail("cannot write '" + emitMachine + "'");
  }
  if (!quiet)
    std::cerr << "soap-calibrate: " << db->size() << " kernels; best GEMM "
              << db->bestGemmFlops / 1e9 << " GFLOP/s, best stream "
              << db->bestBandwidth / 1e9 << " GB/s"
              << (output == "-" ? "" : "; wrote " + output) << "\n";
  return 0;
}
