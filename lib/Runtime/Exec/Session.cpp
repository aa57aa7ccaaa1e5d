//===- Session.cpp - training with a plan ---------------------------------===//
#include "soap/Runtime/Session.h"

#include "soap/Runtime/Checkpoint.h"

#ifdef SOAP_HAVE_CUDA_RUNTIME
#include "soap/Runtime/Cuda/Device.h"
#endif

#include <cmath>
#include <condition_variable>
#include <exception>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

namespace soap::runtime {

/// The local ranks: their transports, executors and (threads) workers.
struct Session::Impl {
  std::vector<std::unique_ptr<Transport>> transports;
  std::vector<std::unique_ptr<RankExecutor>> executors;
  bool threaded = false;

  // Threads: one worker per rank runs the posted job, then waits again.
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable posted, finished;
  std::function<std::string(RankExecutor &)> job;
  int64_t generation = 0;
  int pending = 0;
  bool stopping = false;
  std::vector<std::string> results;

  void worker(int r) {
    int64_t seen = 0;
    while (true) {
      std::function<std::string(RankExecutor &)> mine;
      {
        std::unique_lock<std::mutex> lock(mutex);
        posted.wait(lock, [&] { return stopping || generation != seen; });
        if (stopping)
          return;
        seen = generation;
        mine = job;
      }
      std::string e;
      try {
        e = mine(*executors[r]);
      } catch (const std::exception &x) {
        e = "rank " + std::to_string(executors[r]->rank()) +
            ": unexpected error: " + x.what();
        transports[r]->fail(e);
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        results[r] = std::move(e);
        if (--pending == 0)
          finished.notify_all();
      }
    }
  }

  std::vector<std::string> runAll(std::function<std::string(RankExecutor &)> work) {
    if (!threaded) {
      std::vector<std::string> out;
      for (auto &ex : executors)
        out.push_back(work(*ex));
      return out;
    }
    std::unique_lock<std::mutex> lock(mutex);
    job = std::move(work);
    results.assign(executors.size(), "");
    pending = static_cast<int>(executors.size());
    ++generation;
    posted.notify_all();
    finished.wait(lock, [&] { return pending == 0; });
    return results;
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    posted.notify_all();
    for (std::thread &t : workers)
      t.join();
    executors.clear();
    bool mpi = !transports.empty() && std::strcmp(transports[0]->kind(), "mpi") == 0;
    transports.clear();
    if (mpi)
      finalizeMpi();
  }
};

Session::~Session() = default;

std::unique_ptr<Session> Session::open(const std::string &planPath,
                                       const SessionOptions &options,
                                       std::string &error) {
  Plan plan;
  error = readPlanFile(planPath, plan);
  if (!error.empty())
    return nullptr;
  return create(std::move(plan), options, error);
}

std::unique_ptr<Session> Session::create(Plan plan,
                                         const SessionOptions &options,
                                         std::string &error) {
  std::unique_ptr<Session> s(new Session());
  s->plan_ = std::move(plan);
  s->options_ = options;
  error = s->init();
  if (!error.empty()) {
    // Under MPI the other ranks may be waiting for this one already: end
    // the job now rather than at their timeout.
    if (s->impl && !s->impl->transports.empty() &&
        std::strcmp(s->impl->transports[0]->kind(), "mpi") == 0)
      s->impl->transports[0]->fail(error);
    return nullptr;
  }
  return s;
}

std::string Session::init() {
  const SessionOptions &o = options_;
  if (o.backend == "cuda") {
#ifdef SOAP_HAVE_CUDA_RUNTIME
    std::string why;
    std::vector<cuda::DeviceInfo> devices = cuda::listDevices(&why);
    if (devices.empty())
      return "--backend cuda: no CUDA device is usable here (" + why +
             "); use --backend cpu";
#else
    return "--backend cuda: this build has no CUDA backend (the CUDA toolkit "
           "was not found at configure time); use --backend cpu";
#endif
  }
  if (o.backend != "cpu" && o.backend != "cuda")
    return "unknown backend '" + o.backend + "' (cpu or cuda)";
  if (o.run.precision != "f32" && o.run.precision != "bf16")
    return "unknown precision '" + o.run.precision + "' (f32 or bf16)";
  if (o.run.precision != "f32" && o.backend != "cuda")
    return "--precision " + o.run.precision +
           " needs --backend cuda (the CPU kernels compute in f32)";
  if (plan_.numRanks < 1 || plan_.ranks.empty())
    return "the plan has no ranks";
  if (o.validate) {
    std::vector<std::string> problems = checkPlanForCpu(plan_);
    if (!problems.empty()) {
      std::string all = "the plan is not executable:";
      for (size_t i = 0; i < problems.size() && i < 10; ++i)
        all += "\n  " + problems[i];
      if (problems.size() > 10)
        all += "\n  ... and " + std::to_string(problems.size() - 10) + " more";
      return all;
    }
  }
  if (o.run.timeoutSeconds <= 0)
    return "the timeout must be positive";

  impl = std::make_unique<Impl>();
  std::string launch = o.launch;
  if (launch == "auto")
    launch = haveMpi() && launchedByMpiRunner() ? "mpi" : "threads";
  if (launch == "mpi") {
    if (o.ranksAsThreads > 0)
      return "--ranks-as-threads cannot be used under mpirun (one rank per "
             "process)";
    std::string e;
    std::unique_ptr<Transport> t = makeMpiTransport(e);
    if (!t)
      return e;
    if (t->size() != plan_.numRanks) {
      std::string msg = "the plan has " + std::to_string(plan_.numRanks) +
                        " ranks but MPI started " + std::to_string(t->size()) +
                        " processes (mpirun -np " +
                        std::to_string(plan_.numRanks) + ")";
      t.reset();
      finalizeMpi();
      return msg;
    }
    impl->transports.push_back(std::move(t));
  } else if (launch == "threads") {
    if (o.ranksAsThreads > 0 && o.ranksAsThreads != plan_.numRanks)
      return "the plan has " + std::to_string(plan_.numRanks) +
             " ranks; --ranks-as-threads " + std::to_string(o.ranksAsThreads) +
             " does not match";
    impl->transports = makeThreadTransports(plan_.numRanks);
    impl->threaded = true;
  } else {
    return "unknown launch mode '" + launch + "' (auto, threads or mpi)";
  }

  RunOptions run = o.run;
  run.backend = o.backend;
  for (auto &t : impl->transports)
    impl->executors.push_back(
        std::make_unique<RankExecutor>(plan_, t->rank(), *t, run));
  if (impl->threaded)
    for (size_t r = 0; r < impl->executors.size(); ++r)
      impl->workers.emplace_back([this, r] { impl->worker(static_cast<int>(r)); });

  std::string e = onEveryRank([](RankExecutor &ex) { return ex.init(); });
  if (!e.empty())
    return e;
  if (o.resume) {
    if (o.checkpointDir.empty())
      return "--resume needs --checkpoint DIR";
    std::vector<int64_t> loaded(impl->executors.size(), 0);
    std::mutex m;
    e = onEveryRank([&](RankExecutor &ex) {
      int64_t step = 0;
      std::string err = loadCheckpoint(ex, o.checkpointDir, step);
      if (err.empty())
        err = ex.syncToDevice();
      std::lock_guard<std::mutex> lock(m);
      for (size_t i = 0; i < impl->executors.size(); ++i)
        if (impl->executors[i].get() == &ex)
          loaded[i] = step;
      return err;
    });
    if (!e.empty())
      return "--resume: " + e;
    steps = loaded[0];
  }
  return "";
}

std::string Session::onEveryRank(
    const std::function<std::string(RankExecutor &)> &work) {
  std::vector<std::string> results = impl->runAll(work);
  // The root cause first: a failure some rank reported to the others.
  std::string failure = impl->transports.empty() ? "" : impl->transports[0]->failure();
  std::string first;
  for (const std::string &r : results)
    if (!r.empty() && first.empty())
      first = r;
  if (!failure.empty())
    return failure;
  return first;
}

std::string Session::step(double *loss) {
  if (broken)
    return "the session stopped after an earlier failure";
  if (loss)
    *loss = NAN;
  const int64_t next = steps + 1;
  std::vector<double> losses(impl->executors.size(), NAN);
  std::mutex m;
  std::string e = onEveryRank([&](RankExecutor &ex) {
    double value = NAN;
    std::string err;
    StepStatus s = ex.runStep(next, &value, err);
    if (ex.rank() == 0) {
      std::lock_guard<std::mutex> lock(m);
      losses[0] = value;
    }
    if (s == StepStatus::Killed) {
      std::fprintf(stderr, "soap-run: %s\n", err.c_str());
      // A stopped rank says nothing to the others (that is the point).
      return std::string();
    }
    return err;
  });
  if (e.empty() && impl->threaded) {
    // Every rank but a killed one finished; if a rank was stopped by a test
    // fault the others have failed with a timeout and said so.
    e = impl->transports[0]->failure();
  }
  if (!e.empty()) {
    broken = true;
    return e;
  }
  steps = next;
  if (loss && hostsRankZero())
    *loss = losses[0];
  if (options_.checkpointEvery > 0 && steps % options_.checkpointEvery == 0 &&
      !options_.checkpointDir.empty())
    return checkpoint();
  return "";
}

std::string Session::checkpoint() {
  if (options_.checkpointDir.empty())
    return "no checkpoint directory (--checkpoint DIR)";
  if (broken)
    return "the session stopped after an earlier failure";
  const int64_t at = steps;
  std::string e = onEveryRank([&](RankExecutor &ex) {
    std::string err = ex.syncToHost();
    if (!err.empty())
      return err;
    return saveCheckpoint(ex, options_.checkpointDir, at);
  });
  if (!e.empty())
    broken = true;
  return e;
}

std::string Session::gatherWeights(
    std::map<std::string, std::vector<float>> &out) {
  if (broken)
    return "the session stopped after an earlier failure";
  std::mutex m;
  return onEveryRank([&](RankExecutor &ex) {
    if (ex.rank() != 0)
      return ex.gatherWeights(nullptr);
    std::map<std::string, std::vector<float>> mine;
    std::string e = ex.gatherWeights(&mine);
    std::lock_guard<std::mutex> lock(m);
    out = std::move(mine);
    return e;
  });
}

std::string Session::setInput(const std::string &name,
                              std::vector<double> values) {
  if (broken)
    return "the session stopped after an earlier failure";
  auto shared = std::make_shared<const std::vector<double>>(std::move(values));
  // Between steps the rank threads are idle: set it from here.
  for (auto &ex : impl->executors) {
    std::string e = ex->setInput(name, shared);
    if (!e.empty())
      return e;
  }
  return "";
}

std::string Session::gatherOutputs(std::vector<OutputTensor> &out) {
  if (broken)
    return "the session stopped after an earlier failure";
  std::mutex m;
  return onEveryRank([&](RankExecutor &ex) {
    if (ex.rank() != 0)
      return ex.gatherOutputs(nullptr);
    std::vector<OutputTensor> mine;
    std::string e = ex.gatherOutputs(&mine);
    std::lock_guard<std::mutex> lock(m);
    out = std::move(mine);
    return e;
  });
}

bool Session::hostsRankZero() const {
  for (auto &ex : impl->executors)
    if (ex->rank() == 0)
      return true;
  return false;
}

std::string Session::transportKind() const {
  return impl->transports.empty() ? "" : impl->transports[0]->kind();
}

std::map<std::string, double> Session::stageSeconds() const {
  for (auto &ex : impl->executors)
    if (ex->rank() == 0)
      return ex->stageSeconds();
  return {};
}

std::map<std::string, double> Session::kernelSeconds() const {
  for (auto &ex : impl->executors)
    if (ex->rank() == 0)
      return ex->kernelSeconds();
  return {};
}

std::string writeNpy(const std::string &path, const std::vector<int64_t> &shape,
                     const std::vector<float> &values) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1)
    dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       dims + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return "cannot write " + path + ": " + std::strerror(errno);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           static_cast<unsigned char>(header.size() & 0xff),
                           static_cast<unsigned char>(header.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(values.data(), sizeof(float), values.size(), f) ==
                values.size();
  ok &= std::fclose(f) == 0;
  return ok ? "" : "cannot write " + path;
}

} // namespace soap::runtime
