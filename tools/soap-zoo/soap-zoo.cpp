//===- soap-zoo.cpp - emit a model of the zoo as soap IR ------------------===//
//
//   soap-zoo NAME [--option value ...] [-o FILE.mlir]
//   soap-zoo --list
//   soap-zoo NAME --summary          (parameters and FLOPs, no IR)
//
// A thin command line over soap::zoo (include/soap/Import/Zoo.h): the model
// options are generated from the registry, one llvm::cl option per key.
//
//===----------------------------------------------------------------------===//
#include "soap/Import/Zoo.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>

namespace cl = llvm::cl;

static void printList(llvm::raw_ostream &os) {
  for (const soap::zoo::ModelInfo &m : soap::zoo::listModels()) {
    os << m.name;
    if (!m.aliases.empty())
      os << " (also: " << llvm::join(m.aliases, ", ") << ")";
    os << "\n    " << m.summary << "\n";
    for (const soap::zoo::ModelOption &o : m.options) {
      std::string flag = "--" + o.key + " " + o.defaultValue;
      os << "      " << flag;
      os.indent(flag.size() < 28 ? 28 - flag.size() : 1) << o.help << "\n";
    }
  }
}

static void printSummary(llvm::raw_ostream &os, llvm::StringRef name,
                         mlir::ModuleOp module) {
  soap::zoo::ModelStats s = soap::zoo::computeStats(module);
  os << "model: " << name << "\n"
     << "parameters: " << s.parameters << "\n"
     << "forward-flops: " << s.forwardFlops << "\n"
     << "macs: " << s.macs << "\n"
     << "weights: " << s.numWeights << "\n"
     << "compute-ops: " << s.numComputeOps << "\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::OptionCategory toolCategory("soap-zoo options");
  cl::OptionCategory modelCategory(
      "Model options (each model takes some; --list shows which, with their "
      "defaults)");
  cl::opt<std::string> modelName(cl::Positional, cl::desc("<model>"),
                                 cl::cat(toolCategory));
  cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"),
                                  cl::value_desc("file"), cl::init("-"),
                                  cl::cat(toolCategory));
  cl::opt<bool> list("list",
                     cl::desc("List the models, their options and defaults"),
                     cl::cat(toolCategory));
  cl::opt<bool> summary(
      "summary",
      cl::desc("Print the parameter count and forward FLOPs, not the IR"),
      cl::cat(toolCategory));

  // One option per key of the registry; a flag (boolean default) may be
  // given without a value.
  std::vector<std::unique_ptr<cl::opt<std::string>>> modelOptions;
  llvm::StringSet<> seen;
  for (const soap::zoo::ModelInfo &m : soap::zoo::listModels()) {
    for (const soap::zoo::ModelOption &o : m.options) {
      if (!seen.insert(o.key).second)
        continue;
      bool flag = o.defaultValue == "true" || o.defaultValue == "false";
      modelOptions.push_back(std::make_unique<cl::opt<std::string>>(
          llvm::StringRef(o.key), cl::desc(o.help), cl::value_desc(flag ? "bool" : "value"),
          flag ? cl::ValueOptional : cl::ValueRequired,
          cl::cat(modelCategory)));
    }
  }
  cl::HideUnrelatedOptions({&toolCategory, &modelCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "Soap model zoo: emits a benchmark model as soap IR (one training "
      "step's forward pass and loss)\n");

  if (list) {
    printList(llvm::outs());
    return 0;
  }
  if (modelName.empty()) {
    llvm::errs() << "soap-zoo: error: no model given (soap-zoo --list shows "
                    "the models)\n";
    return 1;
  }

  llvm::StringMap<std::string> options;
  for (const auto &opt : modelOptions)
    if (opt->getNumOccurrences() > 0)
      options[opt->ArgStr] = opt->getValue();

  mlir::MLIRContext context;
  context.getDiagEngine().registerHandler([](mlir::Diagnostic &diag) {
    llvm::raw_ostream &os = llvm::errs();
    os << "soap-zoo: ";
    switch (diag.getSeverity()) {
    case mlir::DiagnosticSeverity::Error:
      os << "error: ";
      break;
    case mlir::DiagnosticSeverity::Warning:
      os << "warning: ";
      break;
    case mlir::DiagnosticSeverity::Note:
      os << "note: ";
      break;
    case mlir::DiagnosticSeverity::Remark:
      os << "remark: ";
      break;
    }
    if (auto name = llvm::dyn_cast<mlir::NameLoc>(diag.getLocation()))
      os << "at '" << name.getName().getValue() << "': ";
    os << diag << "\n";
    return mlir::success();
  });

  mlir::OwningOpRef<mlir::ModuleOp> module =
      soap::zoo::buildModel(context, modelName, options);
  if (!module)
    return 1;

  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "soap-zoo: error: " << error << "\n";
    return 1;
  }
  if (summary)
    printSummary(output->os(), modelName, *module);
  else
    module->print(output->os());
  output->keep();
  return 0;
}
