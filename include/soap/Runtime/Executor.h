//===- Executor.h - runs one rank's task list of a plan ---------*- C++ -*-===//
//
// A RankExecutor owns one rank's buffers and executes its task list, step
// after step, over a Transport (docs/runtime.md):
//
//  - init(): allocates every buffer of the rank (one aligned arena), fills
//    weights from their initializers (Data.h: the global tensor's values,
//    the shard's box), constants from the plan, batch-norm running
//    statistics (mean 0, variance 1), zeroes the rest, and compiles the task
//    list: every kernel task is bound once to a closure over the CPU kernels,
//    consecutive transfer tasks of one transfer id become one group;
//  - runStep(step): zeroes the gradients, loads the step's inputs (synthetic
//    or .npy), runs the program, and brings the loss (the plan's first
//    output) to rank 0.
//
// Transfers of one group are started together (non-blocking sends and
// receives) and waited for together; received data is then applied in task
// order, so accumulations happen in the same order whatever the timing.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_EXECUTOR_H
#define SOAP_RUNTIME_EXECUTOR_H

#include "soap/Plan/Plan.h"
#include "soap/Runtime/Backend.h"
#include "soap/Runtime/Transport.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soap::runtime {

class NpyArray;

/// A test-only fault: rank `rank` misbehaves at the start of step `step`.
struct FaultInjection {
  enum class Kind {
    None,
    Exit,  ///< the rank stops without a word (MPI: the process exits)
    Hang,  ///< the rank stops answering (until another rank gives up)
    Error, ///< the rank reports an error to the others
  };
  Kind kind = Kind::None;
  int rank = -1;
  int64_t step = -1;
};

/// What a run needs besides the plan.
struct RunOptions {
  /// Keys every made-up value: weights, synthetic batches, dropout masks.
  uint64_t seed = 0;
  /// Overrides the plan's learning rate.
  std::optional<double> lr;
  /// Deadline of every blocking operation (a receive, a collective).
  double timeoutSeconds = 60;
  /// Real data: input name -> .npy file (the global tensor of one batch, or
  /// [S, ...] batches used in turn). Other inputs are synthetic.
  std::map<std::string, std::string> inputFiles;
  /// Real data from memory: input name -> the global tensor of one batch,
  /// row-major, as doubles (converted to the input's dtype), used every
  /// step. Takes precedence over inputFiles; Session::setInput sets it.
  std::map<std::string, std::shared_ptr<const std::vector<double>>> inputValues;
  /// OpenMP threads of each rank's kernels.
  int threadsPerRank = 1;
  /// Where the kernels run: "cpu", or "cuda" (Backend.h; needs a build with
  /// the CUDA toolkit and a device).
  std::string backend = "cpu";
  /// CUDA only: "f32", or "bf16" (GEMMs on bf16 copies of their operands
  /// with f32 accumulation; weights, gradients and optimizer states stay
  /// f32).
  std::string precision = "f32";
  /// Time every task stage (stageSeconds()).
  bool profile = false;
  FaultInjection fault;
};

/// A model output (Plan::outputs) assembled from its holders' boxes.
struct OutputTensor {
  std::string op;
  int result = 0;
  DType dtype = DType::F32;
  /// The logical tensor's shape.
  std::vector<int64_t> shape;
  /// Row-major, as doubles.
  std::vector<double> values;
};

/// Status of a step of one rank.
enum class StepStatus { Ok, Failed, Killed };

class RankExecutor {
public:
  RankExecutor(const Plan &plan, int rank, Transport &transport,
               const RunOptions &options);
  ~RankExecutor();
  RankExecutor(const RankExecutor &) = delete;
  RankExecutor &operator=(const RankExecutor &) = delete;

  /// Allocates, initializes and compiles; "" on success.
  std::string init();

  /// Runs training step `step` (1-based). On rank 0, `loss` receives the
  /// plan's first output (NaN when the plan has none). On failure `error`
  /// says why; StepStatus::Killed: a test fault stopped this rank.
  StepStatus runStep(int64_t step, double *loss, std::string &error);

  /// Sends every weight shard (one replica of each box) to rank 0, which
  /// assembles the global tensors into `out` (other ranks: `out` untouched).
  /// Every rank calls it.
  std::string gatherWeights(std::map<std::string, std::vector<float>> *out);

  /// Sends one holder of every box of every plan output (after the last
  /// step's forward pass) to rank 0, which assembles the logical tensors
  /// into `out`, in the order of Plan::outputs (other ranks: `out`
  /// untouched). Every rank calls it.
  std::string gatherOutputs(std::vector<OutputTensor> *out);

  /// Uses `values` (the global tensor, row-major) for input `name` from the
  /// next step on (RunOptions::inputValues). Not during a step.
  std::string setInput(const std::string &name,
                       std::shared_ptr<const std::vector<double>> values);

  const Plan &plan() const { return *plan_; }
  const RankPlan &rankPlan() const { return *mine; }
  int rank() const { return rank_; }
  Transport &transport() const { return *transport_; }
  const RunOptions &options() const { return options_; }
  /// The memory of buffer `id` of this rank (nullptr when unknown).
  void *data(int id) const;
  const PlanBuffer *buffer(int id) const;
  /// The backend the kernels run on (after init()).
  Backend *backend() const { return backend_.get(); }
  /// Brings every buffer's backend copy to the host buffer (before reading
  /// data(), e.g. a checkpoint), and back (after writing data(), e.g.
  /// loading one). No-ops on the CPU backend.
  std::string syncToHost();
  std::string syncToDevice();
  /// True for the one rank that saves (and gathers) each persistent box:
  /// the lowest rank holding a buffer with this name, offset and shape.
  bool ownsReplica(const PlanBuffer &b) const;

  /// Seconds per task stage ("forward", "gradient-sync", ...) summed over
  /// the steps run, when RunOptions::profile.
  const std::map<std::string, double> &stageSeconds() const { return stages; }
  /// Seconds per kernel ("fwd conv1 (conv2d)", ...) summed over the
  /// steps run, when RunOptions::profile.
  const std::map<std::string, double> &kernelSeconds() const { return kernels; }

private:
  struct Instr;
  std::string compile();
  std::string loadInputs(int64_t step);
  std::string runComm(const Instr &ins);
  std::string runCollective(const PlanTask &t);
  std::string runFusedAllReduce(const Instr &ins);
  /// Buffer `b` of rank `holder` to rank 0, into `dst` there (gathers): a
  /// send on the holder, a copy or a receive on rank 0, nothing elsewhere.
  /// The first failure goes to `error`.
  void toRoot(int holder, const PlanBuffer &b, int64_t tag, void *dst,
              std::vector<Request> &requests, std::string &error);
  std::string makeBackend();

  const Plan *plan_;
  const RankPlan *mine = nullptr;
  int rank_;
  Transport *transport_;
  RunOptions options_;
  OptimizerSettings optimizer;

  std::unique_ptr<char[]> arena;
  size_t arenaBytes = 0;
  std::map<int, std::pair<const PlanBuffer *, void *>> buffers;
  std::vector<int> gradients; ///< zeroed every step
  std::vector<int> inputs;    ///< Input / Label buffers, loaded every step
  std::vector<Instr> program;
  std::unique_ptr<Backend> backend_;
  /// Off-host backends: zero the gradients' device copies (every step).
  std::vector<Thunk> zeroGradients;
  std::map<std::string, std::unique_ptr<NpyArray>> npy;
  std::map<int, int> commIndex; ///< communicator id -> this rank's index
  std::map<std::string, double> stages;
  std::map<std::string, double> kernels;
  bool killed = false;
};

/// Problems that make a plan unusable by this runtime before anything runs:
/// validatePlan()'s, plus what the CPU runtime does not do. Empty: fine.
std::vector<std::string> checkPlanForCpu(const Plan &plan);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_EXECUTOR_H
