//===- soap-run.cpp - train with a plan -----------------------------------===//
//
// soap-run PLAN [--steps N] [--backend cpu|cuda] [--ranks-as-threads N]
//          [--checkpoint DIR [--checkpoint-every K] [--resume]] [--seed S]
//          [--lr X] [--print-loss] [--timeout SECONDS] [--input NAME=FILE]
//
//   mpirun -np 4 soap-run plan.json --steps 20 --print-loss
//
// A thin main over soap::runtime::Session (docs/runtime.md).
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Session.h"

#include "llvm/Support/CommandLine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sys/stat.h>

using namespace llvm;
using namespace soap;
using namespace soap::runtime;

static cl::OptionCategory category("soap-run options");
static cl::opt<std::string> planPath(cl::Positional, cl::Required,
                                     cl::desc("<plan.json>"), cl::cat(category));
static cl::opt<int64_t> steps(
    "steps",
    cl::desc("Train until this step (a resumed run continues from its "
             "checkpoint's step)"),
    cl::init(1), cl::cat(category));
static cl::opt<std::string> backend("backend", cl::desc("cpu or cuda"),
                                    cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> precision(
    "precision",
    cl::desc("f32, or bf16 (--backend cuda: GEMMs on bf16 copies, f32 master "
             "weights and optimizer states)"),
    cl::init("f32"), cl::cat(category));
static cl::opt<int> ranksAsThreads(
    "ranks-as-threads",
    cl::desc("Run the plan's N ranks as threads of this process (the default "
             "outside mpirun)"),
    cl::init(0), cl::cat(category));
static cl::opt<std::string> launch(
    "launch", cl::desc("auto (MPI under mpirun, else threads), threads, mpi"),
    cl::init("auto"), cl::cat(category));
static cl::opt<int> threadsPerRank("threads-per-rank",
                                   cl::desc("OpenMP threads of each rank"),
                                   cl::init(1), cl::cat(category));
static cl::opt<std::string> checkpointDir(
    "checkpoint", cl::desc("Save the training state here at the end"),
    cl::value_desc("dir"), cl::init(""), cl::cat(category));
static cl::opt<int64_t> checkpointEvery(
    "checkpoint-every", cl::desc("Also save every K steps"), cl::init(0),
    cl::cat(category));
static cl::opt<bool> resume("resume",
                            cl::desc("Continue from the newest checkpoint"),
                            cl::cat(category));
static cl::opt<uint64_t> seed(
    "seed", cl::desc("Seed of the initial weights, synthetic data, dropout"),
    cl::init(0), cl::cat(category));
static cl::opt<double> lr("lr", cl::desc("Learning rate (default: the plan's)"),
                          cl::init(0), cl::cat(category));
static cl::opt<bool> printLoss("print-loss", cl::desc("Print each step's loss"),
                               cl::cat(category));
static cl::opt<double> timeout(
    "timeout",
    cl::desc("Seconds any rank waits for a message or collective before the "
             "run is ended"),
    cl::init(60), cl::cat(category));
static cl::list<std::string> inputs(
    "input", cl::desc("Real data: NAME=FILE.npy (the global batch, or "
                      "[batches, ...])"),
    cl::cat(category));
static cl::opt<std::string> dumpWeights(
    "dump-weights",
    cl::desc("Write every weight, gathered from its shards, as DIR/<name>.npy"),
    cl::value_desc("dir"), cl::init(""), cl::cat(category));
static cl::opt<bool> timeSteps(
    "time", cl::desc("Print the mean step time (steps after the first)"),
    cl::cat(category));
static cl::opt<bool> profile("profile",
                            cl::desc("Print rank 0's time per task stage"),
                            cl::cat(category));
static cl::opt<bool> noValidate("no-validate",
                                cl::desc("Skip the plan check (large plans)"),
                                cl::cat(category));
static cl::opt<std::string> testFault(
    "test-fault", cl::desc("Tests only: RANK:STEP:exit|hang|error"),
    cl::init(""), cl::Hidden, cl::cat(category));

static int fail(const std::string &message) {
  std::fprintf(stderr, "soap-run: error: %s\n", message.c_str());
  return 1;
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "Soap runtime: train with a plan\n");

  SessionOptions o;
  o.backend = backend;
  o.run.precision = precision;
  o.launch = launch;
  o.ranksAsThreads = ranksAsThreads;
  o.run.threadsPerRank = threadsPerRank;
  o.run.seed = seed;
  if (lr > 0)
    o.run.lr = lr.getValue();
  o.run.timeoutSeconds = timeout;
  o.run.profile = profile;
  o.checkpointDir = checkpointDir;
  o.checkpointEvery = checkpointEvery;
  o.resume = resume;
  o.validate = !noValidate;
  for (const std::string &i : inputs) {
    size_t eq = i.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail("--input " + i + ": expected NAME=FILE.npy");
    o.run.inputFiles[i.substr(0, eq)] = i.substr(eq + 1);
  }
  if (!testFault.empty()) {
    int r = -1;
    long long s = -1;
    char kind[16] = {};
    if (std::sscanf(testFault.c_str(), "%d:%lld:%15s", &r, &s, kind) != 3)
      return fail("--test-fault: expected RANK:STEP:exit|hang|error");
    std::string k = kind;
    o.run.fault.rank = r;
    o.run.fault.step = s;
    o.run.fault.kind = k == "exit"   ? FaultInjection::Kind::Exit
                       : k == "hang" ? FaultInjection::Kind::Hang
                       : k == "error" ? FaultInjection::Kind::Error
                                      : FaultInjection::Kind::None;
    if (o.run.fault.kind == FaultInjection::Kind::None)
      return fail("--test-fault: unknown kind '" + k + "'");
  }

  std::string error;
  std::unique_ptr<Session> session = Session::open(planPath, o, error);
  if (!session)
    return fail(error);
  const bool root = session->hostsRankZero();
  if (root && session->stepsDone() > 0)
    std::printf("resumed at step %lld\n",
                static_cast<long long>(session->stepsDone()));

  using Clock = std::chrono::steady_clock;
  double timed = 0;
  int64_t timedSteps = 0;
  const int64_t first = session->stepsDone();
  while (session->stepsDone() < steps) {
    auto t0 = Clock::now();
    double loss = NAN;
    error = session->step(&loss);
    if (!error.empty())
      return fail(error);
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (session->stepsDone() > first + 1) {
      timed += seconds;
      ++timedSteps;
    }
    if (root && printLoss) {
      std::printf("step %lld loss %.9g\n",
                  static_cast<long long>(session->stepsDone()), loss);
      std::fflush(stdout);
    }
  }
  // At the end, unless --checkpoint-every just saved this step.
  if (!checkpointDir.empty() && session->stepsDone() > first &&
      (checkpointEvery <= 0 || session->stepsDone() % checkpointEvery != 0)) {
    error = session->checkpoint();
    if (!error.empty())
      return fail(error);
  }
  if (!dumpWeights.empty()) {
    std::map<std::string, std::vector<float>> weights;
    error = session->gatherWeights(weights);
    if (!error.empty())
      return fail(error);
    if (root) {
      mkdir(dumpWeights.c_str(), 0777);
      for (const PlanWeight &w : session->plan().weights) {
        auto it = weights.find(w.name);
        if (it == weights.end())
          continue;
        error = writeNpy(dumpWeights + "/" + w.name + ".npy", w.shape, it->second);
        if (!error.empty())
          return fail(error);
      }
    }
  }
  if (root && timeSteps && timedSteps > 0)
    std::printf("mean step time %.6f s over %lld steps (%s, %d ranks)\n",
                timed / static_cast<double>(timedSteps),
                static_cast<long long>(timedSteps),
                session->transportKind().c_str(), session->numRanks());
  if (root && profile) {
    for (const auto &[stage, seconds] : session->stageSeconds())
      std::printf("stage %-28s %.6f s\n", stage.c_str(), seconds);
    // Rank 0's kernels, slowest first.
    std::vector<std::pair<double, std::string>> kernels;
    for (const auto &[label, seconds] : session->kernelSeconds())
      kernels.emplace_back(seconds, label);
    std::sort(kernels.rbegin(), kernels.rend());
    for (const auto &[seconds, label] : kernels)
      std::printf("kernel %-40s %.6f s\n", label.c_str(), seconds);
  }
  return 0;
}
