//===- TestGraphs.h - hand-built OpGraphs and machines for the tests ------===//
//
// Builds OpGraphs the way extraction would (dims, FLOPs, bytes as the
// dialect's interface defines them) without MLIR, and small machine models
// with round numbers for hand-computed answers.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_TEST_UNIT_SIMULATOR_TESTGRAPHS_H
#define SOAP_TEST_UNIT_SIMULATOR_TESTGRAPHS_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/MachineModel.h"
#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace soap::test {

/// A value in the graph being built: an op result, an input or a weight.
struct Value {
  OperandSource source = OperandSource::Op;
  int index = -1; ///< op, input or weight index
  int result = 0;
  TensorInfo tensor;
};

class GraphBuilder {
public:
  OpGraph g;

  explicit GraphBuilder(std::string name = "model") { g.modelName = std::move(name); }

  Value input(const std::string &name, std::vector<int64_t> shape,
              DType t = DType::F32) {
    g.inputs.push_back({name, {shape, t}});
    return {OperandSource::Input, static_cast<int>(g.inputs.size()) - 1, 0,
            {shape, t}};
  }
  Value weight(const std::string &name, std::vector<int64_t> shape) {
    g.weights.push_back({name, {shape, DType::F32}, {}});
    return {OperandSource::Weight, static_cast<int>(g.weights.size()) - 1, 0,
            {shape, DType::F32}};
  }

  /// x . W (+ b) over the last axis, as soap.linear.
  Value linear(const std::string &name, Value x, Value w, const Value *b = nullptr) {
    OpNode op = start(name, "linear");
    std::vector<int64_t> out = x.tensor.shape;
    int64_t k = w.tensor.shape[0], n = w.tensor.shape[1];
    out.back() = n;
    int64_t rank = static_cast<int64_t>(out.size());
    dataDims(op, out, rank - 1);
    op.dims.push_back({"out", DimTag::Parameter, n, rank - 1});
    op.dims.push_back({"in", DimTag::Reduction, k, -1});
    int64_t m = numel(out) / n;
    op.forwardFlops = 2 * m * k * n + (b ? m * n : 0);
    op.backwardFlops = 4 * m * k * n + (b ? m * n : 0);
    std::vector<Value> ops = {x, w};
    if (b)
      ops.push_back(*b);
    return finish(op, ops, {{out, DType::F32}}, {1, 2});
  }

  /// An elementwise unary op ("relu", "gelu", ...).
  Value unary(const std::string &name, const std::string &kind, Value x,
              int64_t flopsPerElement = 1) {
    OpNode op = start(name, kind);
    dataDims(op, x.tensor.shape, x.tensor.shape.size());
    op.forwardFlops = flopsPerElement * x.tensor.numElements();
    op.backwardFlops = 2 * op.forwardFlops;
    return finish(op, {x}, {x.tensor}, {});
  }

  /// An elementwise binary op of equal shapes ("add", "mul").
  Value binary(const std::string &name, const std::string &kind, Value a, Value b) {
    OpNode op = start(name, kind);
    dataDims(op, a.tensor.shape, a.tensor.shape.size());
    op.forwardFlops = a.tensor.numElements();
    op.backwardFlops = 2 * op.forwardFlops;
    return finish(op, {a, b}, {a.tensor}, {});
  }

  /// Mean squared error: a rank-0 result, batch split into partial sums.
  Value mseLoss(const std::string &name, Value p, Value t) {
    OpNode op = start(name, "mse_loss");
    op.dims.push_back({"batch", DimTag::Sample, p.tensor.shape[0], -1});
    op.forwardFlops = 3 * p.tensor.numElements();
    op.backwardFlops = 2 * p.tensor.numElements();
    return finish(op, {p, t}, {{{}, DType::F32}}, {});
  }

  /// NCHW convolution with a square kernel, stride and padding.
  Value conv2d(const std::string &name, Value x, Value w, int64_t stride,
               int64_t pad) {
    OpNode op = start(name, "conv2d");
    const auto &xs = x.tensor.shape, &ws = w.tensor.shape;
    int64_t oh = (xs[2] + 2 * pad - ws[2]) / stride + 1;
    int64_t ow = (xs[3] + 2 * pad - ws[3]) / stride + 1;
    std::vector<int64_t> out = {xs[0], ws[0], oh, ow};
    op.dims = {{"batch", DimTag::Sample, out[0], 0},
               {"cout", DimTag::Parameter, out[1], 1},
               {"h", DimTag::Attribute, out[2], 2},
               {"w", DimTag::Attribute, out[3], 3},
               {"cin", DimTag::Reduction, xs[1], -1}};
    op.attributes = "padding=array<i64: " + std::to_string(pad) + ", " +
                    std::to_string(pad) + ", " + std::to_string(pad) + ", " +
                    std::to_string(pad) + ">,strides=array<i64: " +
                    std::to_string(stride) + ", " + std::to_string(stride) + ">";
    int64_t macs = numel(out) * ws[1] * ws[2] * ws[3];
    op.forwardFlops = 2 * macs;
    op.backwardFlops = 4 * macs;
    return finish(op, {x, w}, {{out, DType::F32}}, {1});
  }

  /// NCHW batch norm with scale and shift [C], as soap.batch_norm.
  Value batchNorm(const std::string &name, Value x, Value scale, Value shift) {
    OpNode op = start(name, "batch_norm");
    const auto &xs = x.tensor.shape;
    op.dims = {{"batch", DimTag::Sample, xs[0], 0},
               {"c", DimTag::Parameter, xs[1], 1},
               {"h", DimTag::Attribute, xs[2], 2},
               {"w", DimTag::Attribute, xs[3], 3}};
    op.forwardFlops = 8 * numel(xs);
    op.backwardFlops = 12 * numel(xs);
    return finish(op, {x, scale, shift}, {x.tensor}, {1, 2});
  }

  void output(Value v) { g.outputs.push_back(v.index); }

  static int64_t numel(const std::vector<int64_t> &s) {
    int64_t n = 1;
    for (int64_t x : s)
      n *= x;
    return n;
  }

private:
  OpNode start(const std::string &name, const std::string &kind) {
    OpNode op;
    op.name = name;
    op.kind = kind;
    return op;
  }
  static void dataDims(OpNode &op, const std::vector<int64_t> &shape,
                       size_t count) {
    for (size_t i = 0; i < count; ++i)
      op.dims.push_back({i == 0 ? "batch" : "d" + std::to_string(i),
                         i == 0 ? DimTag::Sample : DimTag::Attribute, shape[i],
                         static_cast<int64_t>(i)});
  }
  Value finish(OpNode &op, const std::vector<Value> &operands,
               const std::vector<TensorInfo> &results,
               const std::vector<int> &params) {
    int self = static_cast<int>(g.ops.size());
    for (size_t j = 0; j < operands.size(); ++j) {
      const Value &v = operands[j];
      Operand o;
      o.source = v.source;
      o.tensor = v.tensor;
      o.isParameter = v.source == OperandSource::Weight;
      if (v.source == OperandSource::Op) {
        o.producer = v.index;
        o.producerResult = v.result;
        g.edges.push_back({v.index, v.result, self, static_cast<int>(j), v.tensor});
      } else {
        o.index = v.index;
        if (v.source == OperandSource::Weight) {
          g.weights[v.index].users.push_back(self);
          op.parameterCount += v.tensor.numElements();
        }
      }
      op.bytesRead += v.tensor.bytes();
      op.operands.push_back(o);
    }
    (void)params;
    for (const TensorInfo &t : results)
      op.bytesWritten += t.bytes();
    op.results = results;
    g.ops.push_back(op);
    return {OperandSource::Op, self, 0, results[0]};
  }
};

/// A machine with round numbers: `nodes` x `perNode` devices of peak
/// 1 TFLOP/s (all dtypes), 1 GB/s memory, no kernel overhead, efficiency 1;
/// links of 1 GB/s and 1 us (intra: per-device ports; inter: `nics` NICs
/// per node).
inline std::string roundMachineJson(int nodes, int perNode, int nics = 1,
                                    const std::string &intraScope = "device",
                                    double memoryBytes = 1e12) {
  return R"({"format": "soap-machine", "version": 1, "name": "round",
    "nodes": )" + std::to_string(nodes) + R"(, "devices_per_node": )" +
         std::to_string(perNode) + R"(,
    "device": {"type": "round", "peak_flops": {"f32": 1e12},
               "memory_bytes": )" + std::to_string(static_cast<int64_t>(memoryBytes)) + R"(,
               "memory_bandwidth_bytes_per_s": 1e9,
               "kernel_overhead_s": 0, "gemm_efficiency": 1, "memory_efficiency": 1},
    "links": [
      {"name": "fabric", "kind": "nvswitch", "scope": ")" + intraScope + R"(",
       "bandwidth_bytes_per_s": 1e9, "latency_s": 1e-6},
      {"name": "nic", "kind": "infiniband", "scope": "node", "count": )" +
         std::to_string(nics) + R"(,
       "bandwidth_bytes_per_s": 1e9, "latency_s": 1e-6}],
    "routes": {"intra_node": ["fabric"], "inter_node": ["nic"]}})";
}

inline MachineModel roundMachine(int nodes, int perNode, int nics = 1,
                                 const std::string &intraScope = "device",
                                 double memoryBytes = 1e12) {
  auto m = MachineModel::parse(
      roundMachineJson(nodes, perNode, nics, intraScope, memoryBytes), "round");
  if (!m)
    throw std::runtime_error(m.error());
  return m.take();
}

/// x[batch, width] through `layers` linear+relu pairs (fc<l>, relu<l>),
/// mean squared error ("loss"): a layer boundary between every two ops.
inline OpGraph mlpChain(int layers, int64_t batch, int64_t width) {
  GraphBuilder b("mlp");
  Value x = b.input("x", {batch, width});
  Value t = b.input("t", {batch, width});
  for (int l = 0; l < layers; ++l) {
    Value w = b.weight("w" + std::to_string(l), {width, width});
    x = b.linear("fc" + std::to_string(l), x, w);
    x = b.unary("relu" + std::to_string(l), "relu", x);
  }
  b.output(b.mseLoss("loss", x, t));
  return b.g;
}

/// A config from degrees in listing order, a start and strides.
inline ParallelConfig cfg(std::vector<std::pair<std::string, int64_t>> degrees,
                          int64_t start = 0, std::vector<int64_t> strides = {}) {
  return ParallelConfig{std::move(degrees), start, std::move(strides)};
}

} // namespace soap::test

#endif // SOAP_TEST_UNIT_SIMULATOR_TESTGRAPHS_H
