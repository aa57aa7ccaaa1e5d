//===- OnnxTestUtils.h - building ONNX models in tests ----------*- C++ -*-===//
#ifndef SOAP_TEST_UNIT_IMPORT_ONNXTESTUTILS_H
#define SOAP_TEST_UNIT_IMPORT_ONNXTESTUTILS_H

#include "soap/Import/Onnx.h"

#include "onnx/onnx_pb.h"

#include "mlir/IR/MLIRContext.h"

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace soap::test {

/// A dimension of a graph input: a size, or a symbol (dim_param).
struct Dim {
  Dim(int64_t size) : size(size) {}
  Dim(const char *symbol) : symbol(symbol) {}
  int64_t size = -1;
  std::string symbol;
};

/// Builds an ONNX model with the protobuf API.
class OnnxModelBuilder {
public:
  explicit OnnxModelBuilder(int64_t opset = 17, const std::string &name = "test");

  void input(const std::string &name, std::vector<Dim> dims,
             int32_t dtype = onnx::TensorProto::FLOAT);
  /// An output of unknown shape (shape inference fills it in).
  void output(const std::string &name, int32_t dtype = onnx::TensorProto::FLOAT);
  /// A float initializer; values default to 0.01 * index.
  void initializer(const std::string &name, std::vector<int64_t> dims,
                   std::vector<float> values = {});
  void intInitializer(const std::string &name, std::vector<int64_t> dims,
                      std::vector<int64_t> values);
  /// A float scalar Constant node producing `name`.
  void scalarConstant(const std::string &name, float value);
  onnx::NodeProto &node(const std::string &opType,
                        std::vector<std::string> inputs,
                        std::vector<std::string> outputs,
                        const std::string &name = "");

  static void setInt(onnx::NodeProto &node, const std::string &name, int64_t v);
  static void setFloat(onnx::NodeProto &node, const std::string &name, float v);
  static void setInts(onnx::NodeProto &node, const std::string &name,
                      std::vector<int64_t> v);
  static void setString(onnx::NodeProto &node, const std::string &name,
                        const std::string &v);

  onnx::ModelProto &proto() { return model; }
  std::string bytes() const;

private:
  onnx::ModelProto model;
  onnx::GraphProto *graph;
};

/// The result of an import with its diagnostics captured.
struct ImportResult {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string diagnostics;
  bool ok() const { return static_cast<bool>(module); }
};

ImportResult importWithDiagnostics(mlir::MLIRContext &context,
                                   const std::string &bytes,
                                   const OnnxImportOptions &options = {},
                                   const std::string &name = "test.onnx");

/// The bytes of a file ("" when it cannot be read).
std::string readFile(const std::string &path);

/// The paths of the entries of a directory (a suite's cases, a case's data
/// sets), sorted.
std::vector<std::string> sortedDirEntries(const std::string &dir);

/// Every op type of `graph` and its subgraphs ("domain:Type" outside the
/// default domain).
void collectOpTypes(const onnx::GraphProto &graph, std::set<std::string> &out);

/// The graph inputs that are not initializers, in order: the k-th is
/// what a backend test's input_<k>.pb holds.
std::vector<std::string> backendGraphInputs(const onnx::ModelProto &model);

/// For a case of ONNX's backend tests (caseDir/test_data_set_0/input_<k>.pb
/// is the k-th graph input that is not an initializer): binds every input
/// that is not a float tensor of rank >= 1 (shape operands, indices,
/// labels, ratios) to its value, as `soap-translate --bind-input` would.
void bindBackendInputs(const onnx::ModelProto &model,
                       const std::string &caseDir, OnnxImportOptions &options);

/// The module printed (generic op names included, for FileCheck-like
/// assertions).
std::string printModule(mlir::ModuleOp module);

} // namespace soap::test

#endif // SOAP_TEST_UNIT_IMPORT_ONNXTESTUTILS_H
