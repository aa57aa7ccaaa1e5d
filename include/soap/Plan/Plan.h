//===- Plan.h - the per-device training plan (design section 7) -*- C++ -*-===//
//
// A plan is one training step of a model under a strategy, written as an
// explicit SPMD program: for every rank (device) its buffers and an ordered
// list of tasks (kernel calls, point-to-point transfers, collectives on named
// communicators). A runtime executes it with nothing but the plan, the
// kernels and a communication library (MPI, NCCL or threads).
//
// Plain C++ (no MLIR); errors are returned as messages, never thrown.
// Format and the runtime's obligations: docs/plan-format.md. The planner that
// builds plans from an OpGraph and a Strategy is soap/Plan/Planner.h.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_PLAN_PLAN_H
#define SOAP_PLAN_PLAN_H

#include "soap/Graph/OpGraph.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soap {

/// The current plan format version. Version 2 adds ZeRO parts
/// (PlanBuffer::part) and host placement (PlanBuffer::host,
/// PlanTask::host: optimizer offload); a plan that uses neither is written
/// as version 1, which older readers accept. Readers accept 1 and 2.
inline constexpr int kPlanFormatVersion = 2;
inline constexpr int kPlanFormatVersionPlain = 1;

/// What a buffer holds, which says who fills it and when.
enum class BufferRole {
  Input,          ///< a box of a model input, filled by the runtime's data source
  Label,          ///< a box of a model input read as labels / targets by a loss
  Constant,       ///< a box of a constant of Plan::constants
  Activation,     ///< an op's result, or a received copy of a tensor
  Weight,         ///< a shard of a trainable weight (persistent, checkpointed)
  Gradient,       ///< a gradient; zeroed by the runtime at the start of a step
  OptimizerState, ///< momentum / Adam moments of a weight shard (persistent)
  State,          ///< other persistent state: batch-norm running statistics
  Scratch,        ///< temporaries between the tasks of one op
};
const char *toString(BufferRole role);
std::optional<BufferRole> parseBufferRole(std::string_view name);

/// A ZeRO part (format version 2): the buffer holds the rows
/// [index * R, index * R + R) of its weight shard's box, R = shape[0], the
/// box being cut along its first axis into `count` parts of R rows, the last
/// padded. Only its first `rows` rows are elements of the tensor (at
/// `offset`); the others are padding, zero.
struct PlanPart {
  int64_t index = 0;
  int64_t count = 1;
  int64_t rows = 0;
  bool operator==(const PlanPart &o) const {
    return index == o.index && count == o.count && rows == o.rows;
  }
};

/// One buffer of one rank: a dense row-major array of `shape`.
struct PlanBuffer {
  int id = -1;              ///< unique within its rank; tasks refer to it
  std::string name;         ///< readable, unique within its rank
  BufferRole role = BufferRole::Activation;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// The logical tensor it holds a box of: a weight's or an input's name, a
  /// constant's name, or "<op>:<result>" for an op result (its gradient has
  /// the same tensor and role Gradient). Empty for scratch.
  std::string tensor;
  /// The logical tensor's shape and the box's first element in it (both
  /// empty when the buffer is not a box of a logical tensor).
  std::vector<int64_t> globalShape;
  std::vector<int64_t> offset;
  /// A ZeRO part of a weight shard (its weight or optimizer states).
  std::optional<PlanPart> part;
  /// Lives in host memory (optimizer offload): a device backend keeps it
  /// there (pinned) and runs the tasks that update it on the host.
  bool host = false;

  int64_t numElements() const;
  /// The shape of the tensor's elements it holds: `shape`, less a part's
  /// padding rows. They are a row-major prefix of the buffer.
  std::vector<int64_t> tensorShape() const;
  int64_t bytes() const { return numElements() * byteWidth(dtype); }
};

/// A box inside a buffer: `offset` and `shape` per axis of the buffer.
struct PlanRegion {
  std::vector<int64_t> offset;
  std::vector<int64_t> shape;
  int64_t numElements() const;
  bool operator==(const PlanRegion &o) const {
    return offset == o.offset && shape == o.shape;
  }
};

enum class TaskType {
  Kernel,     ///< a kernel call of an op (or an optimizer update)
  Copy,       ///< a local copy (or accumulation) of a region between buffers
  Send,       ///< send a region of a buffer to a peer rank
  Recv,       ///< receive into a region of a buffer (copy or accumulate)
  Collective, ///< a collective on a communicator
  Fill,       ///< set every element of a buffer to a value
};
const char *toString(TaskType t);
std::optional<TaskType> parseTaskType(std::string_view name);

enum class Phase { Forward, Backward, Update };
/// "fwd", "bwd", "update".
const char *toString(Phase p);
std::optional<Phase> parsePhase(std::string_view name);

enum class CollectiveKind { AllReduce, AllGather, ReduceScatter, Broadcast, AllToAll };
/// "all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all".
const char *toString(CollectiveKind c);
std::optional<CollectiveKind> parseCollectiveKind(std::string_view name);

/// A kernel attribute: an integer, a float, a string, a bool or a list of
/// integers or floats.
struct PlanAttr {
  enum class Kind { Int, Float, String, Bool, Ints, Floats } kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  bool b = false;
  std::vector<int64_t> ints;
  std::vector<double> floats;

  static PlanAttr ofInt(int64_t v);
  static PlanAttr ofFloat(double v);
  static PlanAttr ofString(std::string v);
  static PlanAttr ofBool(bool v);
  static PlanAttr ofInts(std::vector<int64_t> v);
  static PlanAttr ofFloats(std::vector<double> v);
  bool operator==(const PlanAttr &o) const;
};

/// One task. Which fields matter depends on `type` (docs/plan-format.md).
struct PlanTask {
  TaskType type = TaskType::Kernel;
  Phase phase = Phase::Forward;
  /// The op the task belongs to (its stable name): the kernel's op, the
  /// consumer of a transfer's edge, the producer of a partial sum.
  std::string op;
  /// The simulator's slot the task realizes ("forward", "partial-sum",
  /// "transfer", "backward", "gradient-transfer", "gradient-sync",
  /// "update", ...): what a runtime reports its time under, to compare with
  /// the prediction.
  std::string stage;
  /// Edge index of OpGraph::edges for transfers of an edge, else -1.
  int edge = -1;

  // Kernel.
  std::string kind;  ///< op kind ("linear", ...), or "sgd" / "adam" (update)
  std::string part;  ///< "" or a sub-step of a phased kernel ("stats", ...)
  int shard = -1;    ///< the op's shard index (row-major over its dims)
  std::vector<int> inputs;  ///< buffer ids; -1 = absent (null view)
  std::vector<int> outputs; ///< buffer ids; -1 = not wanted (null view)
  std::map<std::string, PlanAttr> attrs;
  int64_t flops = 0; ///< FLOPs of this call (a multiply-add is 2)

  // Copy: src region -> dst region; Send: buffer/region to peer;
  // Recv: from peer into buffer/region; Fill: buffer.
  int buffer = -1;
  PlanRegion region;
  int src = -1;
  PlanRegion srcRegion;
  int peer = -1;
  int64_t tag = -1;
  /// Copy and Recv: add into the destination instead of overwriting it.
  bool accumulate = false;
  double value = 0; ///< Fill

  // Collective.
  CollectiveKind collective = CollectiveKind::AllReduce;
  int comm = -1;
  /// all_reduce / broadcast: in place on `buffer`. all_gather,
  /// reduce_scatter, all_to_all: `src` -> `buffer`, concatenated / split
  /// along axis 0 in communicator order.
  int root = 0; ///< broadcast: index of the root in the communicator
  /// A label shared by the tasks of one transfer (an edge's resharding,
  /// one collective): tasks with the same transfer id on a rank may run
  /// concurrently (non-blocking send/recv, then wait for all).
  int64_t transfer = -1;
  /// Update kernels: runs on the host, on host buffers (optimizer offload;
  /// format version 2).
  bool host = false;
};

/// Typed reads of a task's operands and attributes, for the backends' kernel
/// binders: an absent operand is -1; an absent attribute, or one of another
/// kind, gives the default.
struct TaskReader {
  const PlanTask &t;

  int in(size_t k) const { return k < t.inputs.size() ? t.inputs[k] : -1; }
  int out(size_t k) const { return k < t.outputs.size() ? t.outputs[k] : -1; }
  /// The result gradient of a single-result op's backward (its last input).
  int dy() const { return t.inputs.empty() ? -1 : t.inputs.back(); }

  const PlanAttr *attr(const char *name) const {
    auto it = t.attrs.find(name);
    return it == t.attrs.end() ? nullptr : &it->second;
  }
  int64_t ai(const char *name, int64_t dflt) const {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Int ? a->i : dflt;
  }
  double af(const char *name, double dflt) const {
    const PlanAttr *a = attr(name);
    if (!a)
      return dflt;
    return a->kind == PlanAttr::Kind::Float ? a->f : static_cast<double>(a->i);
  }
  bool ab(const char *name) const {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Bool && a->b;
  }
  std::string as(const char *name) const {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::String ? a->s : "";
  }
  std::vector<int64_t> ais(const char *name) const {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Ints ? a->ints : std::vector<int64_t>{};
  }
};

struct RankPlan {
  int rank = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanTask> tasks;

  /// The buffer with this id, or nullptr.
  const PlanBuffer *findBuffer(int id) const;
};

struct Communicator {
  int id = 0;
  std::vector<int> ranks; ///< communicator rank i is ranks[i]
};

struct OptimizerSettings {
  enum class Kind { Sgd, Adam } kind = Kind::Sgd;
  double lr = 0.01;
  // SGD
  double momentum = 0.9;
  double dampening = 0;
  bool nesterov = false;
  // Adam
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  /// AdamW (decoupled decay) instead of L2 decay.
  bool decoupled = false;
  double weightDecay = 0;

  /// States per weight element: 1 (SGD with momentum), 0 (plain SGD), 2 (Adam).
  int numStates() const;
};
const char *toString(OptimizerSettings::Kind k);

/// A trainable weight: how to initialize it (the runtime builds the logical
/// tensor from this and a seed, and slices its shards).
struct PlanWeight {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// soap.weight's initializer: zeros, ones, constant, normal, uniform,
  /// xavier_uniform, kaiming_normal, value.
  std::string init = "normal";
  double scale = 0;
  /// init == "value": the values, row-major.
  std::vector<double> values;
};

/// A model input (function argument).
struct PlanInput {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  BufferRole role = BufferRole::Input; ///< Input or Label
  /// Integer inputs (labels, token ids): their values lie in [0, range),
  /// the classes of a loss or the rows of an embedding table (0: unknown).
  int64_t range = 0;
};

/// A constant operand (soap.constant), by the name its buffers use.
struct PlanConstant {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Row-major values; a single value is a splat.
  std::vector<double> values;
};

/// Where a model output (a returned op result) is after the forward pass.
struct PlanOutput {
  std::string op;
  int result = 0;
  /// (rank, buffer) of every shard's box; a partial output is all-reduced
  /// first, so each holds the value of its box.
  std::vector<std::pair<int, int>> holders;
};

struct Plan {
  /// As read; writePlanJson writes the lowest version that holds the plan.
  int version = kPlanFormatVersionPlain;
  std::string modelName;
  std::string modelFingerprint;
  int numRanks = 0;
  /// A forward-only plan (JSON `"mode": "forward"`): the forward pass of
  /// the model and nothing else (no gradient or optimizer-state buffers, no
  /// backward or update tasks), for inference and for checking outputs.
  /// Absent or `"train"`: one training step.
  bool forwardOnly = false;
  OptimizerSettings optimizer;
  std::vector<PlanWeight> weights;
  std::vector<PlanInput> inputs;
  std::vector<PlanConstant> constants;
  std::vector<PlanOutput> outputs;
  std::vector<Communicator> communicators;
  std::vector<RankPlan> ranks;

  /// The communicator with this id, or nullptr.
  const Communicator *findCommunicator(int id) const;
  /// 2 when a buffer or task uses a version-2 field, else 1.
  int requiredVersion() const;
};

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

/// Serializes to the JSON text of the format (compact unless `indent` >= 0).
std::string writePlanJson(const Plan &plan, int indent = -1);

/// Parses and checks the structure (fields, types, version). On failure
/// returns false and sets `error` to a message naming the JSON path of the
/// problem (`$.ranks[1].tasks[7].peer: must be an integer`).
bool parsePlanJson(std::string_view text, Plan &out, std::string &error);

/// A readable listing: one line per buffer and per task, regions in the
/// logical tensors' coordinates (for tests and for reading; not parsed
/// back).
std::string writePlanText(const Plan &plan);

/// Reads / writes a file ("-": standard output); "" on success, else the
/// problem.
std::string readPlanFile(const std::string &path, Plan &out);
std::string writePlanFile(const std::string &path, const Plan &plan,
                          int indent = -1);

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

/// Checks that the plan is executable: ids unique and references resolved,
/// regions inside their buffers and of matching sizes, kernel and
/// collective buffers of the right dtypes, every send matched by exactly one
/// receive (same peer pair and tag, same element count and dtype), every
/// collective on a communicator the rank belongs to, and that the ranks'
/// task lists, run with blocking sends, receives and collectives, finish
/// without a deadlock (collectives of one communicator met in the same order
/// and with the same sizes by all its ranks). Returns every problem, each
/// prefixed with the JSON path it is about (empty: valid).
std::vector<std::string> validatePlan(const Plan &plan);

/// Sum of Kernel-task FLOPs over all ranks, per phase.
struct PlanFlops {
  int64_t forward = 0, backward = 0, update = 0;
};
PlanFlops totalFlops(const Plan &plan);

} // namespace soap

#endif // SOAP_PLAN_PLAN_H
