//===- Session.h - training with a plan: the runtime's C++ API --*- C++ -*-===//
//
// A Session is what a training program (soap-run, the C API, another
// runtime) holds: the plan, the ranks this process hosts and their
// executors, the step counter, checkpoints. One process hosts either
//
//  - every rank, as threads (the default outside mpirun, and
//    `--ranks-as-threads N`): one worker thread per rank, each running its
//    RankExecutor with a one-thread OpenMP team, or
//  - one rank of an MPI job (`mpirun -np N soap-run plan.json`).
//
// step() runs one training step on every local rank and returns the loss on
// the process that hosts rank 0. A failure on any rank ends the step of
// every rank with an error (threads) or ends the job (MPI_Abort).
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_SESSION_H
#define SOAP_RUNTIME_SESSION_H

#include "soap/Plan/Plan.h"
#include "soap/Runtime/Executor.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace soap::runtime {

struct SessionOptions {
  /// "cpu" (this runtime) or "cuda" (refused with a reason: no CUDA executor
  /// yet, no toolkit or no device).
  std::string backend = "cpu";
  /// "auto": MPI when started by mpirun (and built with MPI), else threads;
  /// "threads"; "mpi".
  std::string launch = "auto";
  /// Threads mode: must equal the plan's rank count when given (0: the
  /// plan's).
  int ranksAsThreads = 0;
  RunOptions run;
  /// Where checkpoints go ("" : none).
  std::string checkpointDir;
  /// Also save every this many steps (0: only when checkpoint() is called).
  int64_t checkpointEvery = 0;
  /// Load the newest checkpoint of checkpointDir before the first step.
  bool resume = false;
  /// Check the plan (validatePlan) before running it.
  bool validate = true;
};

class Session {
public:
  /// Prepares `plan` (initializes or resumes every local rank). Null, with
  /// `error` set, on failure.
  static std::unique_ptr<Session> create(Plan plan, const SessionOptions &options,
                                         std::string &error);
  /// Reads the plan from a JSON file first.
  static std::unique_ptr<Session> open(const std::string &planPath,
                                       const SessionOptions &options,
                                       std::string &error);
  ~Session();

  /// Runs the next step (stepsDone() + 1) on every local rank; `loss` gets
  /// the loss where rank 0 is hosted (NaN elsewhere). Saves a checkpoint
  /// when checkpointEvery says so. "" on success.
  std::string step(double *loss);
  /// Steps completed (including those a resumed checkpoint had done).
  int64_t stepsDone() const { return steps; }
  /// Saves a checkpoint of the current state to options.checkpointDir.
  std::string checkpoint();
  /// Every weight assembled from its shards, on the process hosting rank 0
  /// (elsewhere `out` stays empty). Every process must call it.
  std::string gatherWeights(std::map<std::string, std::vector<float>> &out);
  /// Uses `values` (the global tensor of one batch, row-major; converted to
  /// the input's dtype) for input `name` from the next step on, instead of
  /// synthetic data or a .npy file. Every process calls it with the same
  /// values (each rank reads its box).
  std::string setInput(const std::string &name, std::vector<double> values);
  /// The plan's outputs after the last step's forward pass, assembled from
  /// their shards, in the order of Plan::outputs, on the process hosting
  /// rank 0 (elsewhere `out` stays empty). Every process must call it.
  std::string gatherOutputs(std::vector<OutputTensor> &out);

  const Plan &plan() const { return plan_; }
  bool hostsRankZero() const;
  int numRanks() const { return plan_.numRanks; }
  /// "threads" or "mpi".
  std::string transportKind() const;
  /// Rank 0's seconds per task stage (RunOptions::profile), or empty.
  std::map<std::string, double> stageSeconds() const;
  /// Rank 0's seconds per kernel (see RankExecutor::kernelSeconds), when
  /// profiling.
  std::map<std::string, double> kernelSeconds() const;

private:
  Session() = default;
  struct Impl;
  std::string init();
  /// Runs `work` on every local rank (in the rank threads) and combines the
  /// errors.
  std::string onEveryRank(const std::function<std::string(RankExecutor &)> &work);

  Plan plan_;
  SessionOptions options_;
  int64_t steps = 0;
  bool broken = false;
  std::unique_ptr<Impl> impl;
};

/// Writes `values` as a little-endian f4 .npy file of `shape`.
std::string writeNpy(const std::string &path, const std::vector<int64_t> &shape,
                     const std::vector<float> &values);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_SESSION_H
