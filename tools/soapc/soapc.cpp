//===- soapc.cpp - the Soap compiler driver -------------------------------===//
//
// soapc MODEL (.onnx | .mlir) --machine NAME|FILE [--nodes N] [--batch N]
//       [-o FILE] [--strategy FILE] [--baseline NAME] [--budget S] [--seed N]
//       [--emit strategy|dot|trace|ir|shard] [--optimizer sgd|adam|adamw]
//
// A thin main over SoapDriver (docs/cli.md).
//
//===----------------------------------------------------------------------===//
#include "soap/Driver/Compile.h"
#include "soap/Driver/LoadModel.h"
#include "soap/Graph/Dot.h"
#include "soap/Graph/Extract.h"
#include "soap/InitAll.h"
#include "soap/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>

using namespace llvm;
using namespace mlir;

static cl::OptionCategory category("soapc options");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.mlir | model.onnx>"),
                                      cl::cat(category));
static cl::opt<std::string> machineName(
    "machine", cl::desc("Machine preset (dgx-a100, dgx-h100, p100, k80, "
                        "cpu-host) or machine JSON file"),
    cl::init("dgx-a100"), cl::cat(category));
static cl::opt<int64_t> nodes("nodes", cl::desc("Nodes of the machine"),
                              cl::init(0), cl::cat(category));
static cl::opt<int64_t> devicesPerNode("devices-per-node",
                                       cl::desc("Devices per node"),
                                       cl::init(0), cl::cat(category));
static cl::opt<int64_t> batch("batch",
                              cl::desc("Bind an ONNX model's dynamic batch"),
                              cl::init(0), cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(category));
static cl::opt<std::string> strategyPath(
    "strategy", cl::desc("Evaluate this strategy file (with --refine: start "
                         "the search from it)"),
    cl::cat(category));
static cl::opt<bool> refine("refine",
                            cl::desc("Search starting from --strategy"),
                            cl::cat(category));
static cl::opt<std::string> baseline(
    "baseline",
    cl::desc("Evaluate a baseline: data-parallel, owt, megatron, gnmt"),
    cl::cat(category));
static cl::opt<int64_t> tensorParallel(
    "tp", cl::desc("Megatron baseline's tensor-parallel degree (default: "
                   "the fastest power of two up to a node's devices)"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> pipelineParallel(
    "pp", cl::desc("Megatron baseline's pipeline depth (default: Megatron-LM's "
                   "published choice for its GPT sizes, else none)"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> microBatches(
    "micro-batches",
    cl::desc("Megatron baseline's micro-batch count (default: the fastest "
             "power-of-two micro-batch size)"),
    cl::init(0), cl::cat(category));
static cl::opt<bool> plainSoap(
    "plain",
    cl::desc("Search FlexFlow's SOAP space only: no pipeline stages, "
             "micro-batches, ZeRO, offload or recomputation (implied by "
             "--emit shard; --emit ir and plan search only strategies the "
             "lowering takes)"),
    cl::init(false), cl::cat(category));
static cl::opt<double> budget("budget", cl::desc("Search time cap, seconds"),
                              cl::init(60), cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::desc("Search seed"), cl::init(1),
                              cl::cat(category));
static cl::opt<int64_t> iterations(
    "iterations", cl::desc("Proposals per search chain (default: by size)"),
    cl::init(0), cl::cat(category));
static cl::opt<int> chains("chains",
                           cl::desc("Search chains, one thread each "
                                    "(default: every core)"),
                           cl::init(0), cl::cat(category));
static cl::opt<std::string> profilePath(
    "profile", cl::desc("ProfileDB of measured kernels (soap-calibrate)"),
    cl::cat(category));
static cl::opt<std::string> optimizer(
    "optimizer",
    cl::desc("The training step's optimizer: sgd (with --momentum), adam or "
             "adamw. Both the prediction and --emit plan use it (default: "
             "Adam is priced and the plan gets SGD with momentum 0.9)"),
    cl::init(""), cl::cat(category));
static cl::opt<double> momentum("momentum",
                                cl::desc("SGD momentum with --optimizer sgd "
                                         "(0: plain SGD)"),
                                cl::init(0.9), cl::cat(category));
static cl::opt<std::string> entry("entry",
                                  cl::desc("Model function of a .mlir file"),
                                  cl::cat(category));
enum class Emit { Strategy, Dot, Trace, Ir, Shard, Plan, Summary };
static cl::opt<Emit> emit(
    "emit", cl::desc("What -o receives"), cl::init(Emit::Strategy),
    cl::values(
        clEnumValN(Emit::Strategy, "strategy", "The strategy JSON (default)"),
        clEnumValN(Emit::Dot, "dot", "The graph, ops coloured by config"),
        clEnumValN(Emit::Trace, "trace",
                   "The simulated step as a Chrome/Perfetto trace"),
        clEnumValN(Emit::Ir, "ir", "The model with #soap.parallel attached"),
        clEnumValN(Emit::Shard, "shard",
                   "The model annotated with the upstream shard dialect"),
        clEnumValN(Emit::Plan, "plan",
                   "The per-device training plan (docs/plan-format.md)"),
        clEnumValN(Emit::Summary, "summary", "Only the summary")),
    cl::cat(category));
static cl::opt<bool> quiet("q", cl::desc("No summary on stderr"),
                           cl::cat(category));

/// The summary goes to stdout unless stdout carries the output.
static raw_ostream &reportStream() {
  return outputPath == "-" && emit != Emit::Summary ? errs() : outs();
}

static int fail(const Twine &message) {
  WithColor::error(errs(), "soapc") << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "soapc: find how to parallelize a model's training on a machine\n");

  DialectRegistry registry;
  soap::registerSoapDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // file:line:col diagnostics with the offending source line.
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  soap::LoadModelOptions loadOptions;
  if (batch > 0)
    loadOptions.batch = batch;
  auto module = soap::loadModel(context, modelPath, loadOptions);
  if (failed(module))
    return 1;
  FailureOr<soap::OpGraph> graph = soap::extractOpGraph(**module, entry);
  if (failed(graph))
    return 1;
  if (graph->ops.empty())
    return fail("the model '" + graph->modelName + "' has no compute op");

  soap::MachineOverrides overrides;
  if (nodes > 0)
    overrides.nodes = nodes;
  if (devicesPerNode > 0)
    overrides.devicesPerNode = devicesPerNode;
  auto machine = soap::MachineModel::loadPreset(machineName, overrides);
  if (!machine)
    return fail(machine.error());
  std::optional<soap::ProfileDB> profile;
  if (!profilePath.empty()) {
    auto db = soap::ProfileDB::load(profilePath);
    if (!db)
      return fail(db.error());
    profile = db.take();
  }
  soap::CostOptions costOptions;
  if (optimizer == "sgd")
    costOptions.optimizer =
        momentum != 0 ? soap::Optimizer::Momentum : soap::Optimizer::SGD;
  else if (optimizer == "adam" || optimizer == "adamw")
    costOptions.optimizer = soap::Optimizer::Adam;
  else if (!optimizer.empty())
    return fail("--optimizer must be sgd, adam or adamw, got '" + optimizer + "'");
  soap::CostModel cost(*machine, profile ? &*profile : nullptr, costOptions);

  soap::CompileOptions options;
  options.baseline = baseline;
  options.tensorParallel = tensorParallel;
  options.pipelineParallel = pipelineParallel;
  options.microBatches = microBatches;
  const bool lowering =
      emit == Emit::Ir || emit == Emit::Shard || emit == Emit::Plan;
  // The shard dialect export has no place for pipelines or the memory
  // options; the plan lowering takes what planRefusal allows.
  options.trainingFeatures = !plainSoap && emit != Emit::Shard;
  options.forLowering = lowering;
  options.budgetSeconds = budget;
  options.seed = seed;
  options.iterationsPerChain = iterations;
  options.threads = chains;
  options.refine = refine;
  if (!strategyPath.empty()) {
    auto buffer = MemoryBuffer::getFile(strategyPath);
    if (!buffer)
      return fail("cannot read strategy file '" + strategyPath +
                  "': " + buffer.getError().message());
    soap::StrategyFile file;
    std::string error;
    if (!soap::parseStrategyJson((*buffer)->getBuffer(), file, error))
      return fail("strategy file '" + strategyPath + "': " + error);
    std::vector<std::string> problems = soap::validateStrategy(
        file, *graph, machine->nodes, machine->devicesPerNode,
        machine->fingerprintHex());
    if (!problems.empty()) {
      for (const std::string &p : problems)
        WithColor::error(errs(), "soapc")
            << "strategy file '" << strategyPath << "': " << p << "\n";
      return 1;
    }
    options.strategy = std::move(file);
  }
  // A progress line while searching, when stderr is a terminal.
  if (sys::Process::StandardErrIsDisplayed() && !quiet)
    options.progress = [](const soap::McmcProgress &p) {
      std::fprintf(stderr, "\r[soapc] %6.1f s  best %.4g s  %.0f moves/s   ",
                   p.elapsedSeconds, p.bestCost,
                   p.elapsedSeconds > 0 ? p.iterations / p.elapsedSeconds : 0.0);
      std::fflush(stderr);
    };

  auto result = soap::compile(*graph, cost, options);
  if (options.progress)
    std::fprintf(stderr, "\r%60s\r", "");
  if (!result)
    return fail(result.error());

  soap::StrategyFile file =
      soap::makeStrategyFile(*graph, *machine, *result, options);
  if (emit == Emit::Shard && file.pipeline)
    return fail("--emit shard: the export to the shard dialect does not "
                "carry pipeline stages or micro-batches (--emit plan and ir "
                "do)");
  // The IR outputs start from the model with the strategy attached.
  if (emit == Emit::Ir || emit == Emit::Shard || emit == Emit::Plan) {
    auto func = (*module)->lookupSymbol<func::FuncOp>(graph->modelName);
    if (failed(soap::applyStrategy(func, file)))
      return 1;
  }
  if (emit == Emit::Plan) {
    soap::SoapLowerToPlanOptions lower;
    lower.output = outputPath;
    lower.entry = graph->modelName;
    lower.ranks = machine->numDevices();
    lower.devicesPerNode = machine->devicesPerNode;
    if (!optimizer.empty()) {
      lower.optimizer = optimizer;
      lower.momentum = momentum;
    }
    PassManager pm(&context);
    pm.addPass(soap::createSoapLowerToPlan(lower));
    if (failed(pm.run(**module)))
      return 1;
    if (!quiet)
      errs() << soap::summarize(*graph, *machine, *result);
    return 0;
  }

  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);

  switch (emit) {
  case Emit::Strategy:
    output->os() << soap::writeStrategyJson(file);
    break;
  case Emit::Dot: {
    std::vector<soap::DotOpStyle> styles;
    for (const soap::ParallelConfig &c : result->strategy.configs)
      styles.push_back({c.str(), c.str()});
    output->os() << soap::toDot(*graph, styles);
    break;
  }
  case Emit::Trace: {
    soap::Simulator sim(*graph, cost);
    if (auto r = sim.simulate(result->strategy); !r)
      return fail(r.error());
    output->os() << sim.traceJson();
    break;
  }
  case Emit::Ir:
  case Emit::Shard: {
    if (emit == Emit::Shard) {
      PassManager pm(&context);
      pm.addPass(soap::createSoapExportShard());
      if (failed(pm.run(**module)))
        return 1;
    }
    (*module)->print(output->os());
    output->os() << "\n";
    break;
  }
  case Emit::Plan: // handled above
  case Emit::Summary:
    break;
  }
  output->keep();
  if (!quiet || emit == Emit::Summary)
    reportStream() << soap::summarize(*graph, *machine, *result);
  return 0;
}
