//===- OnnxTestUtils.cpp - building ONNX models in tests ------------------===//
#include "OnnxTestUtils.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace soap::test;

OnnxModelBuilder::OnnxModelBuilder(int64_t opset, const std::string &name) {
  model.set_ir_version(8);
  model.set_producer_name("soap-tests");
  auto *entry = model.add_opset_import();
  entry->set_domain("");
  entry->set_version(opset);
  graph = model.mutable_graph();
  graph->set_name(name);
}

void OnnxModelBuilder::input(const std::string &name, std::vector<Dim> dims,
                             int32_t dtype) {
  auto *vi = graph->add_input();
  vi->set_name(name);
  auto *tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype);
  auto *shape = tt->mutable_shape();
  for (const Dim &d : dims) {
    auto *dim = shape->add_dim();
    if (d.symbol.empty())
      dim->set_dim_value(d.size);
    else
      dim->set_dim_param(d.symbol);
  }
}

void OnnxModelBuilder::output(const std::string &name, int32_t dtype) {
  auto *vi = graph->add_output();
  vi->set_name(name);
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(dtype);
}

void OnnxModelBuilder::initializer(const std::string &name,
                                   std::vector<int64_t> dims,
                                   std::vector<float> values) {
  auto *t = graph->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  if (values.empty())
    for (int64_t i = 0; i < n; ++i)
      values.push_back(0.01f * static_cast<float>(i));
  for (float v : values)
    t->add_float_data(v);
}

void OnnxModelBuilder::intInitializer(const std::string &name,
                                      std::vector<int64_t> dims,
                                      std::vector<int64_t> values) {
  auto *t = graph->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims)
    t->add_dims(d);
  for (int64_t v : values)
    t->add_int64_data(v);
}

void OnnxModelBuilder::scalarConstant(const std::string &name, float value) {
  auto &n = node("Constant", {}, {name}, name + "_const");
  auto *a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_float_data(value);
}

onnx::NodeProto &OnnxModelBuilder::node(const std::string &opType,
                                        std::vector<std::string> inputs,
                                        std::vector<std::string> outputs,
                                        const std::string &name) {
  auto *n = graph->add_node();
  n->set_op_type(opType);
  n->set_name(name);
  for (const auto &in : inputs)
    n->add_input(in);
  for (const auto &out : outputs)
    n->add_output(out);
  return *n;
}

void OnnxModelBuilder::setInt(onnx::NodeProto &node, const std::string &name,
                              int64_t v) {
  auto *a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void OnnxModelBuilder::setFloat(onnx::NodeProto &node, const std::string &name,
                                float v) {
  auto *a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void OnnxModelBuilder::setInts(onnx::NodeProto &node, const std::string &name,
                               std::vector<int64_t> v) {
  auto *a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}

void OnnxModelBuilder::setString(onnx::NodeProto &node, const std::string &name,
                                 const std::string &v) {
  auto *a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

std::string OnnxModelBuilder::bytes() const {
  std::string out;
  model.SerializeToString(&out);
  return out;
}

ImportResult soap::test::importWithDiagnostics(mlir::MLIRContext &context,
                                               const std::string &bytes,
                                               const OnnxImportOptions &options,
                                               const std::string &name) {
  ImportResult result;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    result.diagnostics += diag.str() + "\n";
    return mlir::success();
  });
  auto module = importOnnx(bytes, &context, options, name);
  if (mlir::succeeded(module))
    result.module = std::move(*module);
  return result;
}

std::string soap::test::printModule(mlir::ModuleOp module) {
  std::string out;
  llvm::raw_string_ostream os(out);
  module.print(os);
  return out;
}

std::vector<std::string> soap::test::sortedDirEntries(const std::string &dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    entries.push_back(it->path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string soap::test::readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

void soap::test::collectOpTypes(const onnx::GraphProto &graph,
                                std::set<std::string> &out) {
  for (const auto &node : graph.node()) {
    bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
    out.insert(defaultDomain ? node.op_type()
                             : node.domain() + ":" + node.op_type());
    for (const auto &attr : node.attribute()) {
      if (attr.has_g())
        collectOpTypes(attr.g(), out);
      for (const auto &g : attr.graphs())
        collectOpTypes(g, out);
    }
  }
}

std::vector<std::string>
soap::test::backendGraphInputs(const onnx::ModelProto &model) {
  std::set<std::string> initializers;
  for (const auto &init : model.graph().initializer())
    initializers.insert(init.name());
  std::vector<std::string> inputs;
  for (const auto &in : model.graph().input())
    if (!initializers.count(in.name()))
      inputs.push_back(in.name());
  return inputs;
}

void soap::test::bindBackendInputs(const onnx::ModelProto &model,
                                   const std::string &caseDir,
                                   OnnxImportOptions &options) {
  std::vector<std::string> inputs = backendGraphInputs(model);
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::string bytes = readFile(caseDir + "/test_data_set_0/input_" +
                                 std::to_string(k) + ".pb");
    onnx::TensorProto tensor;
    if (bytes.empty() || !tensor.ParseFromString(bytes))
      continue;
    int32_t dtype = tensor.data_type();
    bool isFloat = dtype == onnx::TensorProto::FLOAT ||
                   dtype == onnx::TensorProto::DOUBLE ||
                   dtype == onnx::TensorProto::FLOAT16 ||
                   dtype == onnx::TensorProto::BFLOAT16;
    if (isFloat && tensor.dims_size() > 0)
      continue;
    std::string name = inputs[k];
    if (!tensor.name().empty() &&
        std::find(inputs.begin(), inputs.end(), tensor.name()) != inputs.end())
      name = tensor.name();
    // Some cases store BFLOAT16 data as UINT16: leave those unbound.
    for (const auto &in : model.graph().input())
      if (in.name() == name && in.type().has_tensor_type() &&
          in.type().tensor_type().elem_type() == dtype)
        options.boundInputs[name] = bytes;
  }
}
