//===- OpGraph.cpp - the plain C++ model graph ----------------------------===//
#include "soap/Graph/OpGraph.h"

#include <cstdio>
#include <set>
#include <sstream>

namespace soap {

const char *toString(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::F64:
    return "f64";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::I1:
    return "i1";
  }
  return "?";
}

int64_t byteWidth(DType t) {
  switch (t) {
  case DType::I1:
    return 1;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  }
  return 0;
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 ||
         t == DType::F64;
}

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

const ParallelDim *OpNode::findDim(const std::string &dimName) const {
  for (const ParallelDim &d : dims)
    if (d.name == dimName)
      return &d;
  return nullptr;
}

int OpGraph::findOp(const std::string &name) const {
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].name == name)
      return static_cast<int>(i);
  return -1;
}

std::vector<char> OpGraph::backwardOps() const {
  std::vector<char> backward(ops.size(), outputs.empty() ? 1 : 0);
  auto floatResult = [&](int i) {
    for (const TensorInfo &r : ops[i].results)
      if (isFloat(r.dtype))
        return true;
    return false;
  };
  std::vector<int> stack;
  for (int o : outputs)
    if (o >= 0 && o < static_cast<int>(ops.size()) && floatResult(o) &&
        !backward[o]) {
      backward[o] = 1;
      stack.push_back(o);
    }
  std::vector<std::vector<int>> into(ops.size());
  for (const Edge &e : edges)
    if (e.dst >= 0 && e.dst < static_cast<int>(ops.size()))
      into[e.dst].push_back(&e - edges.data());
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    for (int e : into[i]) {
      int p = edges[e].src;
      if (p < 0 || backward[p] || !isFloat(edges[e].tensor.dtype) ||
          !floatResult(p))
        continue;
      backward[p] = 1;
      stack.push_back(p);
    }
  }
  return backward;
}

std::vector<int> OpGraph::inEdges(int op) const {
  std::vector<int> out;
  for (size_t i = 0; i < edges.size(); ++i)
    if (edges[i].dst == op)
      out.push_back(static_cast<int>(i));
  return out;
}

std::vector<int> OpGraph::outEdges(int op) const {
  std::vector<int> out;
  for (size_t i = 0; i < edges.size(); ++i)
    if (edges[i].src == op)
      out.push_back(static_cast<int>(i));
  return out;
}

int64_t OpGraph::totalForwardFlops() const {
  int64_t n = 0;
  for (const OpNode &op : ops)
    n += op.forwardFlops;
  return n;
}

int64_t OpGraph::totalBackwardFlops() const {
  int64_t n = 0;
  for (const OpNode &op : ops)
    n += op.backwardFlops;
  return n;
}

int64_t OpGraph::totalParameters() const {
  int64_t n = 0;
  for (const WeightInfo &w : weights)
    n += w.tensor.numElements();
  return n;
}

static void printTensor(std::ostream &os, const TensorInfo &t) {
  os << toString(t.dtype) << '[';
  for (size_t i = 0; i < t.shape.size(); ++i)
    os << (i ? "x" : "") << t.shape[i];
  os << ']';
}

uint64_t OpGraph::fingerprint() const {
  // A canonical text of the graph, hashed with FNV-1a (64 bit): stable across
  // compilers and runs, unlike std::hash.
  std::ostringstream os;
  for (const OpNode &op : ops) {
    os << op.name << '|' << op.kind << '|' << op.attributes << '|';
    for (const Operand &o : op.operands) {
      os << static_cast<int>(o.source) << ':' << o.producer << '.'
         << o.producerResult << ':' << o.index << ':';
      printTensor(os, o.tensor);
      os << ',';
    }
    os << "->";
    for (const TensorInfo &t : op.results) {
      printTensor(os, t);
      os << ',';
    }
    os << '\n';
  }
  for (const WeightInfo &w : weights) {
    os << "w:" << w.name << ':';
    printTensor(os, w.tensor);
    os << '\n';
  }
  for (const InputInfo &in : inputs) {
    os << "i:" << in.name << ':';
    printTensor(os, in.tensor);
    os << '\n';
  }
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : os.str()) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string OpGraph::fingerprintHex() const {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(fingerprint()));
  return buf;
}

std::string OpGraph::validate() const {
  std::set<std::string> names;
  for (size_t i = 0; i < ops.size(); ++i) {
    const OpNode &op = ops[i];
    if (op.name.empty())
      return "op #" + std::to_string(i) + " has no name";
    if (!names.insert(op.name).second)
      return "op name '" + op.name + "' is used twice";
    for (size_t j = 0; j < op.operands.size(); ++j) {
      const Operand &o = op.operands[j];
      auto where = "operand #" + std::to_string(j) + " of '" + op.name + "'";
      switch (o.source) {
      case OperandSource::Op:
        if (o.producer < 0 || o.producer >= static_cast<int>(i))
          return where + " is not produced by an earlier op";
        if (o.producerResult < 0 ||
            o.producerResult >=
                static_cast<int>(ops[o.producer].results.size()) ||
            !(ops[o.producer].results[o.producerResult] == o.tensor))
          return where + " does not match its producer's result";
        break;
      case OperandSource::Weight:
        if (o.index < 0 || o.index >= static_cast<int>(weights.size()) ||
            !(weights[o.index].tensor == o.tensor))
          return where + " refers to an invalid weight";
        break;
      case OperandSource::Input:
        if (o.index < 0 || o.index >= static_cast<int>(inputs.size()) ||
            !(inputs[o.index].tensor == o.tensor))
          return where + " refers to an invalid input";
        break;
      case OperandSource::Constant:
        break;
      }
    }
  }
  for (size_t e = 0; e < edges.size(); ++e) {
    const Edge &edge = edges[e];
    auto where = "edge #" + std::to_string(e);
    if (edge.src < 0 || edge.dst < 0 ||
        edge.src >= static_cast<int>(ops.size()) ||
        edge.dst >= static_cast<int>(ops.size()))
      return where + " has an endpoint out of range";
    if (edge.src >= edge.dst)
      return where + " goes against the topological order";
    const OpNode &dst = ops[edge.dst];
    if (edge.dstOperand < 0 ||
        edge.dstOperand >= static_cast<int>(dst.operands.size()))
      return where + " targets a missing operand";
    const Operand &o = dst.operands[edge.dstOperand];
    if (o.source != OperandSource::Op || o.producer != edge.src ||
        o.producerResult != edge.srcResult || !(o.tensor == edge.tensor))
      return where + " disagrees with the operand it feeds";
  }
  return "";
}

} // namespace soap
