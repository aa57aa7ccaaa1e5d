//===- OpGraph.h - the model as a plain C++ graph (no MLIR) -----*- C++ -*-===//
//
// The search and the simulator never see MLIR (design section 2): they work on
// this graph, extracted once from soap IR (soap/Graph/Extract.h). It holds
// what they need and nothing else: ops with stable names, their SOAP
// dimensions, FLOPs, bytes and parameters, and the tensors between them.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_GRAPH_OPGRAPH_H
#define SOAP_GRAPH_OPGRAPH_H

#include "soap/Support/ParallelDim.h"

#include <cstdint>
#include <string>
#include <vector>

namespace soap {

/// Element types a soap tensor can have. I1 is a boolean, held in one byte
/// (0 or 1) in buffers and checkpoints. New types go last, so that the
/// existing values keep their numbers.
enum class DType { F32, F16, BF16, F64, I32, I64, I1 };

/// Every DType, in enum order (for parsers of the names).
inline constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16,
                                       DType::F64, DType::I32, DType::I64,
                                       DType::I1};

/// "f32", "f16", "bf16", "f64", "i32", "i64", "i1".
const char *toString(DType t);
/// Bytes of one element.
int64_t byteWidth(DType t);
/// f32, f16, bf16 or f64: the types that carry gradients.
bool isFloat(DType t);

/// A statically shaped tensor.
struct TensorInfo {
  std::vector<int64_t> shape;
  DType dtype = DType::F32;

  int64_t numElements() const;
  int64_t bytes() const { return numElements() * byteWidth(dtype); }
  bool operator==(const TensorInfo &o) const {
    return shape == o.shape && dtype == o.dtype;
  }
};

/// Where an op's operand comes from.
enum class OperandSource {
  Op,       ///< the result of another op in the graph (see Edge)
  Input,    ///< a model input (a function argument)
  Weight,   ///< a trainable weight (soap.weight)
  Constant, ///< a constant (soap.constant)
};

struct Operand {
  OperandSource source = OperandSource::Op;
  TensorInfo tensor;
  /// Producer op index and result number (source == Op).
  int producer = -1;
  int producerResult = 0;
  /// Index into OpGraph::weights (Weight) or OpGraph::inputs (Input).
  int index = -1;
  /// The op declares this operand a trainable parameter (its weight role).
  bool isParameter = false;
};

/// One compute op.
struct OpNode {
  /// Stable name: the op's `soap.name`, else its name location, else
  /// "<kind>_<ordinal>". Unique in the graph; the strategy JSON's key.
  std::string name;
  /// The op's mnemonic without the dialect: "linear", "conv2d", ...
  std::string kind;
  /// Attributes that change the kernel (strides, heads, ...), printed in a
  /// canonical form: with `kind` and the shapes, the ProfileDB key.
  std::string attributes;
  std::vector<Operand> operands;
  std::vector<TensorInfo> results;
  std::vector<ParallelDim> dims;
  int64_t forwardFlops = 0;
  int64_t backwardFlops = 0;
  int64_t bytesRead = 0;
  int64_t bytesWritten = 0;
  int64_t parameterCount = 0;

  /// The dimension with this name, or nullptr.
  const ParallelDim *findDim(const std::string &dimName) const;
};

/// A tensor flowing from one op's result to another op's operand.
struct Edge {
  int src = -1;
  int srcResult = 0;
  int dst = -1;
  int dstOperand = 0;
  TensorInfo tensor;
};

struct WeightInfo {
  std::string name;
  TensorInfo tensor;
  /// Ops that read it (a shared weight is read by several).
  std::vector<int> users;
};

struct InputInfo {
  std::string name;
  TensorInfo tensor;
};

/// The model: ops in a topological order (the function's order), edges
/// between them, weights and inputs.
class OpGraph {
public:
  std::string modelName;
  std::vector<OpNode> ops;
  std::vector<Edge> edges;
  std::vector<WeightInfo> weights;
  std::vector<InputInfo> inputs;
  /// Ops whose results the function returns (the loss, or the outputs).
  std::vector<int> outputs;

  /// Index of the op with this name, or -1.
  int findOp(const std::string &name) const;
  /// Edges into / out of an op (indices into `edges`).
  std::vector<int> inEdges(int op) const;
  std::vector<int> outEdges(int op) const;

  /// Sum over ops.
  int64_t totalForwardFlops() const;
  int64_t totalBackwardFlops() const;
  /// Element count of all weights (each shared weight once).
  int64_t totalParameters() const;

  /// A hash of everything the search depends on: op names, kinds,
  /// attributes, shapes and connectivity. Equal graphs, equal fingerprints;
  /// stable across runs and machines (FNV-1a over a canonical text).
  uint64_t fingerprint() const;
  /// The fingerprint as 16 hex digits.
  std::string fingerprintHex() const;

  /// The ops that run a backward pass (1) in a training step: those from
  /// which a gradient reaches an output. Gradients flow only along float
  /// tensors and only through ops with a float result (comparisons, masks
  /// and casts to integers or booleans stop them). With no outputs, every
  /// op.
  std::vector<char> backwardOps() const;

  /// Checks the invariants (names unique, edges in range and in topological
  /// order, operand tensors equal to the edges' tensors); returns the first
  /// violation, or an empty string.
  std::string validate() const;
};

} // namespace soap

#endif // SOAP_GRAPH_OPGRAPH_H
