//===- OnnxBackendTest.cpp - ONNX's backend test models, imported ---------===//
//
// Sweeps the backend test models of Debian's libonnx-testdata
// (/usr/share/libonnx-testdata/data/<suite>/<case>/model.onnx): every case
// whose op types soap supports must either import (and verify) or stop at a
// documented limitation (a "[limitation: ID]" diagnostic whose ID is in
// getOnnxLimitations() and in docs/onnx.md). Any other failure fails the
// test. The summary (cases imported, op types, the suite's unsupported op
// types) is printed.
//
// The cases feed shape operands (Reshape's shape, Slice's starts, ...) from
// test_data_set_0 as graph inputs; the sweep binds every input that is not a
// float tensor of rank >= 1 (integers, booleans, scalars) to those values,
// as `soap-translate --bind-input` would.
//
//===----------------------------------------------------------------------===//
#include "OnnxTestUtils.h"

#include "soap/Import/Onnx.h"

#include "onnx/onnx_pb.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <vector>

using namespace soap;
using namespace soap::test;

namespace {

struct SweepResult {
  int cases = 0;
  int inScope = 0;
  int imported = 0;
  /// Limitation id -> the cases that stopped at it.
  std::map<std::string, std::vector<std::string>> limitations;
  std::set<std::string> importedOpTypes;
  /// Unsupported op type -> number of cases using it.
  std::map<std::string, int> unsupportedOpTypes;
  /// Cases of supported op types that failed without a known limitation.
  std::vector<std::string> failures;
};

SweepResult sweep(const std::string &suiteDir) {
  SweepResult result;
  std::set<std::string> supported;
  for (llvm::StringRef op : getSupportedOnnxOpTypes())
    supported.insert(op.str());
  std::set<std::string> knownLimitations;
  for (const OnnxLimitation &l : getOnnxLimitations())
    knownLimitations.insert(l.id.str());

  std::vector<std::string> caseDirs = sortedDirEntries(suiteDir);

  for (const std::string &caseDir : caseDirs) {
    std::string path = caseDir + "/model.onnx";
    if (!llvm::sys::fs::exists(path))
      continue;
    std::string name = llvm::sys::path::filename(caseDir).str();
    ++result.cases;
    std::string bytes = readFile(path);
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes)) {
      result.failures.push_back(name + ": the suite's model does not parse");
      continue;
    }
    std::set<std::string> opTypes;
    collectOpTypes(model.graph(), opTypes);
    bool inScope = true;
    for (const std::string &op : opTypes)
      if (!supported.count(op)) {
        ++result.unsupportedOpTypes[op];
        inScope = false;
      }
    if (!inScope)
      continue;
    ++result.inScope;

    OnnxImportOptions options;
    bindBackendInputs(model, caseDir, options);
    mlir::MLIRContext context;
    ImportResult imported = importWithDiagnostics(context, bytes, options, path);
    if (imported.ok()) {
      ++result.imported;
      result.importedOpTypes.insert(opTypes.begin(), opTypes.end());
      continue;
    }
    const std::string &diags = imported.diagnostics;
    size_t pos = diags.find("[limitation: ");
    std::string id;
    if (pos != std::string::npos) {
      size_t begin = pos + 13, close = diags.find(']', begin);
      id = diags.substr(begin, close - begin);
    }
    if (!id.empty() && knownLimitations.count(id)) {
      result.limitations[id].push_back(name);
      // SOAP_SWEEP_VERBOSE=1 prints each limitation's diagnostic.
      if (std::getenv("SOAP_SWEEP_VERBOSE"))
        std::cout << "  " << name << ": " << diags << "\n";
    }
    else
      result.failures.push_back(name + ":\n" + diags);
  }
  return result;
}

void printSummary(const std::string &suite, const SweepResult &r) {
  std::cout << "ONNX backend suite '" << suite << "': " << r.cases
            << " cases; " << r.inScope
            << " use only supported op types; imported " << r.imported
            << " cases covering " << r.importedOpTypes.size()
            << " op types; " << (r.inScope - r.imported - int(r.failures.size()))
            << " stop at documented limitations; " << r.failures.size()
            << " unexpected failures\n";
  std::cout << "  imported op types: "
            << llvm::join(r.importedOpTypes.begin(), r.importedOpTypes.end(),
                          ", ")
            << "\n";
  for (const auto &[id, cases] : r.limitations)
    std::cout << "  limitation " << id << " (" << cases.size()
              << "): " << llvm::join(cases.begin(), cases.end(), ", ") << "\n";
  std::vector<std::string> unsupported;
  for (const auto &[op, count] : r.unsupportedOpTypes)
    unsupported.push_back(op + " (" + std::to_string(count) + ")");
  std::cout << "  op types of the suite soap does not support ("
            << unsupported.size() << "): "
            << llvm::join(unsupported.begin(), unsupported.end(), ", ")
            << "\n";
}

/// Every limitation the sweep met is documented in docs/onnx.md.
void expectDocumented(const SweepResult &r) {
  std::string doc = readFile(std::string(SOAP_SOURCE_DIR) + "/docs/onnx.md");
  ASSERT_FALSE(doc.empty()) << "docs/onnx.md is missing";
  for (const auto &entry : r.limitations)
    EXPECT_NE(doc.find("`" + entry.first + "`"), std::string::npos)
        << "limitation '" << entry.first << "' is not in docs/onnx.md";
}

void runSuite(const std::string &suite, int minImported) {
  std::string dir = std::string(SOAP_ONNX_TESTDATA_DIR) + "/" + suite;
  if (!llvm::sys::fs::is_directory(dir))
    GTEST_SKIP() << dir << " is missing (install libonnx-testdata)";
  SweepResult r = sweep(dir);
  printSummary(suite, r);
  for (const std::string &failure : r.failures)
    ADD_FAILURE() << "case of supported op types failed without a documented "
                     "limitation: "
                  << failure;
  // A floor, so that a regression that turns imports into limitations shows.
  EXPECT_GE(r.imported, minImported);
  expectDocumented(r);
}

} // namespace

// The floors are the counts with libonnx 1.12's data (docs/onnx.md).
TEST(OnnxBackendSweep, NodeTests) { runSuite("node", 278); }
TEST(OnnxBackendSweep, PyTorchConverted) { runSuite("pytorch-converted", 49); }
TEST(OnnxBackendSweep, PyTorchOperator) { runSuite("pytorch-operator", 25); }
TEST(OnnxBackendSweep, Simple) { runSuite("simple", 5); }

TEST(OnnxBackendSweep, EveryLimitationIsDocumented) {
  std::string doc = readFile(std::string(SOAP_SOURCE_DIR) + "/docs/onnx.md");
  ASSERT_FALSE(doc.empty()) << "docs/onnx.md is missing";
  for (const OnnxLimitation &l : getOnnxLimitations())
    EXPECT_NE(doc.find("`" + l.id.str() + "`"), std::string::npos)
        << "limitation '" << l.id.str() << "' is not in docs/onnx.md";
  for (llvm::StringRef op : getSupportedOnnxOpTypes())
    EXPECT_NE(doc.find("`" + op.str() + "`"), std::string::npos)
        << "op type '" << op.str() << "' is not in docs/onnx.md";
}
