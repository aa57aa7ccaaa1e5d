//===- Executor.cpp - runs one rank's task list of a plan -----------------===//
#include "soap/Runtime/Executor.h"

#include "KernelCalls.h"
#include "Regions.h"
#include "soap/Runtime/Collectives.h"
#include "soap/Runtime/Cpu/Blas.h"
#include "soap/Runtime/Data.h"
#ifdef SOAP_HAVE_CUDA_RUNTIME
#include "soap/Runtime/Cuda/CudaBackend.h"
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <thread>
#include <tuple>

namespace soap::runtime {

namespace {

/// All-reduces of at most this many elements are packed together.
constexpr int64_t kFuseElements = 1 << 16;

/// Control-channel tags.
constexpr int64_t kLossTag = 1;
constexpr int64_t kGatherTagBase = 1 << 20;
constexpr int64_t kOutputTagBase = 3 << 20;

std::string taskWhere(int rank, size_t index, const PlanTask &t) {
  return "rank " + std::to_string(rank) + " task " + std::to_string(index) +
         " (" + toString(t.phase) + " " + t.op + ")";
}

} // namespace

/// One step of the compiled program.
struct RankExecutor::Instr {
  enum class Kind { Local, Group, Collective } kind = Kind::Local;
  Thunk run;                        ///< Local
  std::vector<size_t> tasks;        ///< Group / Collective: task indices
  /// Group: per task, packed data (when needed); fused all-reduce: the
  /// packed buffers. Scratch that running the instruction writes.
  mutable std::vector<std::vector<char>> staging;
  std::string stage;
  /// Off-host backends: buffers a host transfer or collective reads (copied
  /// to the host first) and writes (copied back after).
  std::vector<int> toHost, toDevice;
  /// Group / Collective run by the backend itself (NCCL).
  bool onBackend = false;
  /// Kernels: "<phase> <op> (<kind>)", the key of the profile's per-kernel
  /// times.
  std::string label;
};

RankExecutor::RankExecutor(const Plan &plan, int rank, Transport &transport,
                           const RunOptions &options)
    : plan_(&plan), rank_(rank), transport_(&transport), options_(options),
      optimizer(plan.optimizer) {
  if (options_.lr)
    optimizer.lr = *options_.lr;
}

RankExecutor::~RankExecutor() = default;

void *RankExecutor::data(int id) const {
  auto it = buffers.find(id);
  return it == buffers.end() ? nullptr : it->second.second;
}

const PlanBuffer *RankExecutor::buffer(int id) const {
  auto it = buffers.find(id);
  return it == buffers.end() ? nullptr : it->second.first;
}

bool RankExecutor::ownsReplica(const PlanBuffer &b) const {
  for (const RankPlan &r : plan_->ranks) {
    if (r.rank >= rank_)
      break;
    for (const PlanBuffer &o : r.buffers)
      if (o.role == b.role && o.name == b.name && o.offset == b.offset &&
          o.shape == b.shape)
        return false;
  }
  return true;
}

std::string RankExecutor::init() {
  cpu::setNumThreads(std::max(1, options_.threadsPerRank));
  for (const RankPlan &r : plan_->ranks)
    if (r.rank == rank_)
      mine = &r;
  if (!mine)
    return "rank " + std::to_string(rank_) + " is not in the plan (" +
           std::to_string(plan_->numRanks) + " ranks)";

  // One arena, every buffer 64-byte aligned.
  std::vector<size_t> at;
  size_t total = 0;
  for (const PlanBuffer &b : mine->buffers) {
    at.push_back(total);
    total += (static_cast<size_t>(std::max<int64_t>(b.bytes(), 1)) + 63) & ~size_t(63);
  }
  arenaBytes = total;
  arena.reset(new (std::nothrow) char[total + 64]);
  if (!arena)
    return "rank " + std::to_string(rank_) + ": cannot allocate " +
           std::to_string(total) + " bytes of buffers";
  char *base = reinterpret_cast<char *>(
      (reinterpret_cast<uintptr_t>(arena.get()) + 63) & ~uintptr_t(63));
  std::memset(base, 0, total);

  std::map<std::string, const PlanWeight *> weights;
  for (const PlanWeight &w : plan_->weights)
    weights[w.name] = &w;
  std::map<std::string, const PlanConstant *> constants;
  for (const PlanConstant &c : plan_->constants)
    constants[c.name] = &c;

  for (size_t i = 0; i < mine->buffers.size(); ++i) {
    const PlanBuffer &b = mine->buffers[i];
    void *p = base + at[i];
    if (!buffers.emplace(b.id, std::make_pair(&b, p)).second)
      return "rank " + std::to_string(rank_) + ": buffer id " +
             std::to_string(b.id) + " is used twice";
    switch (b.role) {
    case BufferRole::Weight: {
      auto it = weights.find(b.tensor);
      if (it == weights.end())
        return "rank " + std::to_string(rank_) + ": weight buffer '" + b.name +
               "' names no weight of the plan ('" + b.tensor + "')";
      WeightInit init(*it->second, options_.seed);
      fillBox(b, p, [&](int64_t g) { return init(g); });
      break;
    }
    case BufferRole::Constant: {
      auto it = constants.find(b.tensor);
      if (it == constants.end())
        return "rank " + std::to_string(rank_) + ": constant buffer '" +
               b.name + "' names no constant of the plan";
      const PlanConstant &c = *it->second;
      if (c.values.empty())
        return "rank " + std::to_string(rank_) + ": constant '" + c.name +
               "' has no values";
      fillBox(b, p, [&](int64_t g) {
        return c.values.size() == 1 ? c.values[0] : c.values[g];
      });
      break;
    }
    case BufferRole::State: {
      // Batch-norm running statistics: [2, C], mean 0 and variance 1.
      int64_t cols = b.globalShape.empty() ? 1 : b.globalShape.back();
      bool running = b.name.size() >= 8 &&
                     b.name.compare(b.name.size() - 8, 8, ".running") == 0;
      if (running)
        fillBox(b, p, [&](int64_t g) { return g < cols ? 0.0 : 1.0; });
      break;
    }
    case BufferRole::Gradient:
      gradients.push_back(b.id);
      break;
    case BufferRole::Input:
    case BufferRole::Label:
      inputs.push_back(b.id);
      break;
    default:
      break;
    }
  }

  for (const Communicator &c : plan_->communicators)
    for (size_t i = 0; i < c.ranks.size(); ++i)
      if (c.ranks[i] == rank_)
        commIndex[c.id] = static_cast<int>(i);

  for (const auto &[name, values] : options_.inputValues) {
    std::string e = setInput(name, values);
    if (!e.empty())
      return e;
  }
  for (const auto &[name, path] : options_.inputFiles) {
    bool known = false;
    for (const PlanInput &in : plan_->inputs)
      known |= in.name == name;
    if (!known)
      return "--input " + name + ": the plan has no input of that name";
    auto a = std::make_unique<NpyArray>();
    std::string e = a->open(path);
    if (!e.empty())
      return e;
    npy[name] = std::move(a);
  }
  std::string e = makeBackend();
  if (!e.empty())
    return e;
  return compile();
}

std::string RankExecutor::makeBackend() {
  auto lookup = [this](int id) -> BufferRef {
    auto it = buffers.find(id);
    if (it == buffers.end())
      return {};
    return {it->second.first, it->second.second};
  };
  const std::string where = "rank " + std::to_string(rank_) + ": ";
  if (options_.backend == "cpu") {
    if (options_.precision != "f32")
      return where + "precision " + options_.precision +
             ": the CPU backend computes in f32";
    backend_ = makeCpuBackend(lookup);
  } else if (options_.backend == "cuda") {
#ifdef SOAP_HAVE_CUDA_RUNTIME
    cuda::CudaBackendOptions co;
    co.rank = rank_;
    co.precision = options_.precision;
    std::string e;
    backend_ = cuda::makeCudaBackend(co, lookup, e);
    if (!backend_)
      return where + e;
#else
    return where + "this build has no CUDA backend (the CUDA toolkit was not "
                   "found at configure time); use --backend cpu";
#endif
  } else {
    return where + "unknown backend '" + options_.backend + "' (cpu or cuda)";
  }
  std::vector<BufferRef> all;
  for (const auto &[id, entry] : buffers)
    all.push_back({entry.first, entry.second});
  std::string e = backend_->allocate(all);
  if (e.empty())
    e = syncToDevice();
  if (e.empty())
    e = backend_->setupCollectives(*plan_, rank_, *transport_,
                                   options_.timeoutSeconds);
  if (!backend_->onHost())
    for (int id : gradients) {
      Thunk zero;
      if (e.empty())
        e = backend_->bindFill(id, 0.0, zero);
      zeroGradients.push_back(std::move(zero));
    }
  return e.empty() ? "" : where + e;
}

std::string RankExecutor::syncToHost() {
  if (!backend_ || backend_->onHost())
    return "";
  for (const auto &[id, entry] : buffers) {
    std::string e = backend_->toHost(id);
    if (!e.empty())
      return e;
  }
  return "";
}

std::string RankExecutor::syncToDevice() {
  if (!backend_ || backend_->onHost())
    return "";
  for (const auto &[id, entry] : buffers) {
    std::string e = backend_->toDevice(id);
    if (!e.empty())
      return e;
  }
  return backend_->synchronize();
}

std::string RankExecutor::compile() {
  KernelSettings settings;
  settings.optimizer = optimizer;
  settings.seed = options_.seed;
  // Per communicator, per collective (in order): whether it is an
  // all-reduce followed at once, on every member, by another of the same
  // dtype on the same communicator.
  std::map<int, std::vector<char>> fusable;
  {
    std::map<int, std::vector<std::vector<std::pair<size_t, DType>>>> seq;
    for (const RankPlan &r : plan_->ranks) {
      std::map<int, std::vector<std::pair<size_t, DType>>> mineSeq;
      for (size_t k = 0; k < r.tasks.size(); ++k) {
        const PlanTask &u = r.tasks[k];
        if (u.type != TaskType::Collective)
          continue;
        const PlanBuffer *b = r.findBuffer(u.buffer);
        // A non-all-reduce, or a large one (packing would only add copies),
        // gets an impossible position: never fused.
        bool ar = u.collective == CollectiveKind::AllReduce && b &&
                  b->numElements() <= kFuseElements;
        mineSeq[u.comm].push_back(
            {ar ? k : static_cast<size_t>(-2), b ? b->dtype : DType::F32});
      }
      for (auto &[comm, list] : mineSeq)
        seq[comm].push_back(std::move(list));
    }
    for (auto &[comm, lists] : seq) {
      size_t n = lists[0].size();
      std::vector<char> next(n, 0);
      for (size_t k = 0; k + 1 < n; ++k) {
        bool all = true;
        for (const auto &l : lists)
          all &= l.size() == n && l[k].first != static_cast<size_t>(-2) &&
                 l[k + 1].first == l[k].first + 1 && l[k].second == l[k + 1].second;
        next[k] = all;
      }
      fusable[comm] = std::move(next);
    }
  }
  std::map<int, int> ordinals;
  const std::vector<PlanTask> &tasks = mine->tasks;
  for (size_t i = 0; i < tasks.size();) {
    const PlanTask &t = tasks[i];
    Instr ins;
    ins.stage = t.stage.empty() ? toString(t.phase) : t.stage;
    switch (t.type) {
    case TaskType::Kernel: {
      std::string e = backend_->bindKernel(t, settings, ins.run);
      if (!e.empty())
        return taskWhere(rank_, i, t) + ": " + e;
      ins.kind = Instr::Kind::Local;
      if (options_.profile)
        ins.label = std::string(toString(t.phase)) + " " + t.op + " (" +
                    t.kind + (t.part.empty() ? "" : ":" + t.part) + ")";
      ++i;
      break;
    }
    case TaskType::Fill: {
      std::string e = backend_->bindFill(t.buffer, t.value, ins.run);
      if (!e.empty())
        return taskWhere(rank_, i, t) + ": " + e;
      ++i;
      break;
    }
    case TaskType::Collective:
      if (!plan_->findCommunicator(t.comm) || !commIndex.count(t.comm))
        return taskWhere(rank_, i, t) + ": not a member of communicator " +
               std::to_string(t.comm);
      ins.kind = Instr::Kind::Collective;
      ins.tasks = {i};
      ++i;
      if (!backend_->onHost()) {
        ins.onBackend = backend_->runsCollective(t);
        if (!ins.onBackend) {
          for (int id : {t.src, t.buffer})
            if (id >= 0 && buffer(id))
              ins.toHost.push_back(id);
          ins.toDevice.push_back(t.buffer);
        }
        // Not packed: NCCL needs no packing; staged ones stay simple.
        if (fusable.count(t.comm) && ordinals[t.comm] < static_cast<int>(fusable[t.comm].size()))
          fusable[t.comm][ordinals[t.comm]] = 0;
      }
      // Consecutive small all-reduces on one communicator (a layer's weight
      // and bias gradients) become one call on the packed buffers, where
      // they are consecutive on every member: fewer synchronizations, the same
      // sums (each element's sum is over the members in order, whatever the
      // chunking).
      {
        int ordinal = ordinals[t.comm]++;
        const std::vector<char> &next = fusable[t.comm];
        int64_t packed = buffer(t.buffer) ? buffer(t.buffer)->numElements() : 0;
        while (ordinal < static_cast<int>(next.size()) && next[ordinal]) {
          packed += buffer(tasks[i].buffer)->numElements();
          ins.tasks.push_back(i++);
          ++ordinal;
          ++ordinals[t.comm];
        }
        if (ins.tasks.size() > 1)
          ins.staging.assign(1, std::vector<char>(static_cast<size_t>(
                                    packed * byteWidth(buffer(t.buffer)->dtype))));
      }
      break;
    case TaskType::Copy:
    case TaskType::Send:
    case TaskType::Recv: {
      // A group: the consecutive transfer tasks of one transfer id.
      ins.kind = Instr::Kind::Group;
      size_t j = i;
      do {
        ins.tasks.push_back(j);
        ++j;
      } while (t.transfer >= 0 && j < tasks.size() &&
               tasks[j].transfer == t.transfer &&
               (tasks[j].type == TaskType::Copy ||
                tasks[j].type == TaskType::Send ||
                tasks[j].type == TaskType::Recv));
      ins.staging.resize(ins.tasks.size());
      for (size_t k = 0; k < ins.tasks.size(); ++k) {
        const PlanTask &u = tasks[ins.tasks[k]];
        const PlanBuffer *b = buffer(u.buffer);
        if (!b)
          return taskWhere(rank_, ins.tasks[k], u) + ": unknown buffer";
        if (u.type == TaskType::Copy && !buffer(u.src))
          return taskWhere(rank_, ins.tasks[k], u) + ": unknown source buffer";
        if (u.region.shape.size() != b->shape.size())
          return taskWhere(rank_, ins.tasks[k], u) +
                 ": region rank differs from the buffer's";
        bool direct = isContiguous(b->shape, u.region) &&
                      !(u.type == TaskType::Recv && u.accumulate);
        if (u.type != TaskType::Copy && !direct)
          ins.staging[k].resize(static_cast<size_t>(u.region.numElements() *
                                                    byteWidth(b->dtype)));
      }
      i = j;
      if (!backend_->onHost())
        for (size_t k : ins.tasks) {
          const PlanTask &u = tasks[k];
          if (u.type == TaskType::Copy)
            ins.toHost.push_back(u.src);
          // A receive into part of a buffer, or accumulating, keeps the rest.
          ins.toHost.push_back(u.buffer);
          if (u.type != TaskType::Send)
            ins.toDevice.push_back(u.buffer);
        }
      break;
    }
    }
    program.push_back(std::move(ins));
  }
  return "";
}

std::string RankExecutor::runComm(const Instr &ins) {
  const std::vector<PlanTask> &tasks = mine->tasks;
  std::vector<Request> requests;
  std::string error;
  std::vector<std::vector<char>> &staging = ins.staging;
  for (size_t k = 0; k < ins.tasks.size() && error.empty(); ++k) {
    const PlanTask &t = tasks[ins.tasks[k]];
    if (t.type == TaskType::Copy)
      continue;
    const PlanBuffer *b = buffer(t.buffer);
    char *p = static_cast<char *>(data(t.buffer));
    const size_t esz = static_cast<size_t>(byteWidth(b->dtype));
    const size_t bytes = static_cast<size_t>(t.region.numElements()) * esz;
    Request r;
    if (t.type == TaskType::Send) {
      const char *from;
      if (staging[k].empty()) {
        from = p + flatOffset(b->shape, t.region.offset) * esz;
      } else {
        moveRegion(b->dtype, p, b->shape, t.region, staging[k].data(),
                   t.region.shape, denseRegion(t.region), false);
        from = staging[k].data();
      }
      error = transport_->isend(Channel::Plan, t.peer, t.tag, from, bytes, r);
    } else {
      char *into = staging[k].empty()
                       ? p + flatOffset(b->shape, t.region.offset) * esz
                       : staging[k].data();
      error = transport_->irecv(Channel::Plan, t.peer, t.tag, into, bytes, r);
    }
    requests.push_back(r);
  }
  std::string waited = transport_->waitAll(requests, options_.timeoutSeconds);
  if (error.empty())
    error = waited;
  if (!error.empty())
    return error;
  // Apply in task order: local copies and staged receives.
  for (size_t k = 0; k < ins.tasks.size(); ++k) {
    const PlanTask &t = tasks[ins.tasks[k]];
    const PlanBuffer *b = buffer(t.buffer);
    char *p = static_cast<char *>(data(t.buffer));
    if (t.type == TaskType::Copy) {
      const PlanBuffer *s = buffer(t.src);
      moveRegion(b->dtype, static_cast<const char *>(data(t.src)), s->shape,
                 t.srcRegion, p, b->shape, t.region, t.accumulate);
    } else if (t.type == TaskType::Recv && !staging[k].empty()) {
      moveRegion(b->dtype, staging[k].data(), t.region.shape,
                 denseRegion(t.region), p, b->shape, t.region, t.accumulate);
    }
  }
  return "";
}

std::string RankExecutor::runCollective(const PlanTask &t) {
  const Communicator *c = plan_->findCommunicator(t.comm);
  CollectiveCall call;
  call.transport = transport_;
  call.ranks = &c->ranks;
  call.index = commIndex.at(t.comm);
  call.tag = t.comm;
  call.timeoutSeconds = options_.timeoutSeconds;
  const PlanBuffer *b = buffer(t.buffer);
  void *p = data(t.buffer);
  const int n = static_cast<int>(c->ranks.size());
  switch (t.collective) {
  case CollectiveKind::AllReduce:
    return allReduce(call, b->dtype, p, b->numElements());
  case CollectiveKind::Broadcast:
    return broadcast(call, b->dtype, p, b->numElements(), t.root);
  case CollectiveKind::AllGather:
    return allGather(call, b->dtype, data(t.src), p,
                     buffer(t.src)->numElements());
  case CollectiveKind::ReduceScatter:
    return reduceScatter(call, b->dtype, data(t.src), p, b->numElements());
  case CollectiveKind::AllToAll:
    return allToAll(call, b->dtype, data(t.src), p,
                    buffer(t.src)->numElements() / n);
  }
  return "unknown collective";
}

std::string RankExecutor::runFusedAllReduce(const Instr &ins) {
  const std::vector<PlanTask> &tasks = mine->tasks;
  const PlanTask &first = tasks[ins.tasks[0]];
  const Communicator *c = plan_->findCommunicator(first.comm);
  const DType dtype = buffer(first.buffer)->dtype;
  char *packed = ins.staging[0].data();
  size_t at = 0;
  for (size_t k : ins.tasks) {
    const PlanBuffer *b = buffer(tasks[k].buffer);
    std::memcpy(packed + at, data(tasks[k].buffer), static_cast<size_t>(b->bytes()));
    at += static_cast<size_t>(b->bytes());
  }
  CollectiveCall call;
  call.transport = transport_;
  call.ranks = &c->ranks;
  call.index = commIndex.at(first.comm);
  call.tag = first.comm;
  call.timeoutSeconds = options_.timeoutSeconds;
  std::string e = allReduce(call, dtype, packed,
                            static_cast<int64_t>(at / byteWidth(dtype)));
  if (!e.empty())
    return e;
  at = 0;
  for (size_t k : ins.tasks) {
    const PlanBuffer *b = buffer(tasks[k].buffer);
    std::memcpy(data(tasks[k].buffer), packed + at, static_cast<size_t>(b->bytes()));
    at += static_cast<size_t>(b->bytes());
  }
  return "";
}

std::string RankExecutor::loadInputs(int64_t step) {
  for (int id : inputs) {
    const PlanBuffer &b = *buffer(id);
    const PlanInput *in = nullptr;
    for (const PlanInput &x : plan_->inputs)
      if (x.name == b.tensor)
        in = &x;
    if (!in)
      return "rank " + std::to_string(rank_) + ": input buffer '" + b.name +
             "' names no input of the plan";
    void *p = data(id);
    auto mem = options_.inputValues.find(in->name);
    if (mem != options_.inputValues.end() && mem->second) {
      const std::vector<double> &v = *mem->second;
      fillBox(b, p, [&](int64_t g) { return v[static_cast<size_t>(g)]; });
      continue;
    }
    auto file = npy.find(in->name);
    if (file == npy.end()) {
      const uint64_t key = syntheticInputKey(*in, options_.seed, step);
      fillBox(b, p, [&](int64_t g) { return syntheticInputAt(*in, key, g); });
      continue;
    }
    const NpyArray &a = *file->second;
    int64_t per = 1;
    for (int64_t d : in->shape)
      per *= d;
    int64_t batches = 0;
    if (a.shape() == in->shape)
      batches = 1;
    else if (a.shape().size() == in->shape.size() + 1 &&
             std::equal(in->shape.begin(), in->shape.end(), a.shape().begin() + 1))
      batches = a.shape()[0];
    if (batches <= 0) {
      std::string want;
      for (int64_t d : in->shape)
        want += (want.empty() ? "" : ", ") + std::to_string(d);
      return "--input " + in->name + ": the array's shape must be [" + want +
             "] or [batches, " + want + "]";
    }
    const int64_t first = ((step - 1) % batches) * per;
    const bool isInt = in->dtype == DType::I32 || in->dtype == DType::I64;
    std::string bad;
    fillBox(b, p, [&](int64_t g) {
      double v = a.at(first + g);
      if (isInt && in->range > 0 && (v < 0 || v >= in->range) && bad.empty())
        bad = "--input " + in->name + ": value " + std::to_string(v) +
              " at element " + std::to_string(g) + " is outside [0, " +
              std::to_string(in->range) + ")";
      return v;
    });
    if (!bad.empty())
      return bad;
  }
  return "";
}

StepStatus RankExecutor::runStep(int64_t step, double *loss,
                                 std::string &error) {
  error.clear();
  if (loss)
    *loss = std::numeric_limits<double>::quiet_NaN();
  if (killed) {
    error = "rank " + std::to_string(rank_) + ": stopped by a test fault";
    return StepStatus::Killed;
  }
  cpu::setNumThreads(std::max(1, options_.threadsPerRank));
  const FaultInjection &f = options_.fault;
  if (f.kind != FaultInjection::Kind::None && f.rank == rank_ && f.step == step) {
    std::string what = "rank " + std::to_string(rank_) + ": test fault at step " +
                       std::to_string(step);
    const bool mpi = std::strcmp(transport_->kind(), "mpi") == 0;
    switch (f.kind) {
    case FaultInjection::Kind::Exit:
      if (mpi) {
        std::fprintf(stderr, "soap-run: %s: exiting\n", what.c_str());
        std::fflush(stderr);
        std::_Exit(3);
      }
      error = what + ": stopped";
      killed = true;
      return StepStatus::Killed;
    case FaultInjection::Kind::Hang:
      std::fprintf(stderr, "soap-run: %s: hanging\n", what.c_str());
      std::fflush(stderr);
      // Until another rank gives up (bounded, for plans where none waits
      // on this one).
      for (auto until = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(4 * options_.timeoutSeconds));
           transport_->failure().empty() && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      error = what + ": hung";
      killed = true;
      return StepStatus::Killed;
    case FaultInjection::Kind::Error:
      error = what + ": injected error";
      transport_->fail(error);
      return StepStatus::Failed;
    case FaultInjection::Kind::None:
      break;
    }
  }

  auto failWith = [&](std::string message) {
    error = std::move(message);
    transport_->fail(error);
    return StepStatus::Failed;
  };
  for (int id : gradients) {
    const PlanBuffer *b = buffer(id);
    std::memset(data(id), 0, static_cast<size_t>(b->bytes()));
  }
  std::string e = loadInputs(step);
  if (!e.empty())
    return failWith(e);
  if (!backend_->onHost()) {
    for (const Thunk &zero : zeroGradients)
      zero(step);
    for (int id : inputs)
      if (e.empty())
        e = backend_->toDevice(id);
    if (!e.empty())
      return failWith("rank " + std::to_string(rank_) + ": " + e);
  }

  using Clock = std::chrono::steady_clock;
  const std::vector<PlanTask> &tasks = mine->tasks;
  for (const Instr &ins : program) {
    Clock::time_point t0;
    if (options_.profile)
      t0 = Clock::now();
    switch (ins.kind) {
    case Instr::Kind::Local:
      ins.run(step);
      break;
    case Instr::Kind::Group:
    case Instr::Kind::Collective:
      for (int id : ins.toHost)
        if (e.empty())
          e = backend_->toHost(id);
      if (!e.empty())
        break;
      if (ins.onBackend) {
        const PlanTask &t = tasks[ins.tasks[0]];
        e = backend_->collective(
            t, {plan_->findCommunicator(t.comm), commIndex.at(t.comm)});
      } else if (ins.kind == Instr::Kind::Group) {
        e = runComm(ins);
      } else {
        e = ins.tasks.size() == 1 ? runCollective(tasks[ins.tasks[0]])
                                  : runFusedAllReduce(ins);
      }
      for (int id : ins.toDevice)
        if (e.empty())
          e = backend_->toDevice(id);
      break;
    }
    if (!e.empty()) {
      size_t at = ins.tasks.empty() ? 0 : ins.tasks[0];
      // A rank that stopped because another failed keeps the root cause.
      if (!transport_->failure().empty()) {
        error = e;
        return StepStatus::Failed;
      }
      // "rank r: ..." from the transport: say it once.
      std::string prefix = "rank " + std::to_string(rank_) + ": ";
      if (e.compare(0, prefix.size(), prefix) == 0)
        e = e.substr(prefix.size());
      return failWith(taskWhere(rank_, at, tasks[at]) + ": " + e);
    }
    if (options_.profile) {
      // Off-host kernels run asynchronously: wait, so that each task's time
      // is its own.
      if (!backend_->onHost() && (e = backend_->synchronize()) != "")
        return failWith("rank " + std::to_string(rank_) + ": " + e);
      double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      stages[ins.stage] += seconds;
      if (!ins.label.empty())
        kernels[ins.label] += seconds;
    }
  }

  if (!backend_->onHost()) {
    e = backend_->synchronize();
    if (!e.empty())
      return failWith("rank " + std::to_string(rank_) + ": " + e);
  }

  // The loss (the first output) to rank 0; a forward-only plan has none
  // (gatherOutputs reads its outputs).
  if (!plan_->forwardOnly && !plan_->outputs.empty() &&
      !plan_->outputs[0].holders.empty()) {
    auto [holder, id] = plan_->outputs[0].holders[0];
    double value = std::numeric_limits<double>::quiet_NaN();
    if (holder == rank_) {
      if (!backend_->onHost() && buffer(id)) {
        e = backend_->toHost(id);
        if (!e.empty())
          return failWith("rank " + std::to_string(rank_) + ": " + e);
      }
      const PlanBuffer *b = buffer(id);
      if (b && b->numElements() >= 1) {
        switch (b->dtype) {
        case DType::F64:
          value = static_cast<double *>(data(id))[0];
          break;
        case DType::F32:
          value = static_cast<float *>(data(id))[0];
          break;
        default:
          break;
        }
      }
      if (rank_ != 0) {
        e = transport_->send(Channel::Control, 0, kLossTag, &value,
                             sizeof value, options_.timeoutSeconds);
        if (!e.empty())
          return failWith(e);
      }
    } else if (rank_ == 0) {
      e = transport_->recv(Channel::Control, holder, kLossTag, &value,
                           sizeof value, options_.timeoutSeconds);
      if (!e.empty())
        return failWith(e);
    }
    if (rank_ == 0 && loss)
      *loss = value;
  }
  return StepStatus::Ok;
}

void RankExecutor::toRoot(int holder, const PlanBuffer &b, int64_t tag,
                          void *dst, std::vector<Request> &requests,
                          std::string &error) {
  const size_t bytes = static_cast<size_t>(b.bytes());
  Request q;
  std::string e;
  if (holder == rank_ && rank_ != 0) {
    e = transport_->isend(Channel::Control, 0, tag, data(b.id), bytes, q);
  } else if (rank_ == 0 && holder == 0) {
    std::memcpy(dst, data(b.id), bytes);
    return;
  } else if (rank_ == 0) {
    e = transport_->irecv(Channel::Control, holder, tag, dst, bytes, q);
  } else {
    return;
  }
  requests.push_back(q);
  if (error.empty())
    error = e;
}

std::string RankExecutor::gatherWeights(
    std::map<std::string, std::vector<float>> *out) {
  std::vector<Request> requests;
  std::string error = syncToHost();
  // Received shards, placed after the wait.
  struct Piece {
    const PlanBuffer *b;
    std::vector<float> data;
  };
  std::vector<Piece> pieces;
  std::map<std::string, const PlanWeight *> weights;
  for (const PlanWeight &w : plan_->weights)
    weights[w.name] = &w;
  std::set<std::tuple<std::string, std::vector<int64_t>, std::vector<int64_t>>>
      seen;
  // Every (weight, box) once: the lowest rank holding it sends it.
  for (const RankPlan &r : plan_->ranks)
    for (const PlanBuffer &b : r.buffers) {
      if (b.role != BufferRole::Weight || b.dtype != DType::F32)
        continue;
      if (!seen.insert({b.name, b.offset, b.shape}).second)
        continue;
      void *dst = nullptr;
      if (rank_ == 0) {
        pieces.push_back({&b, std::vector<float>(b.numElements())});
        dst = pieces.back().data.data();
      }
      toRoot(r.rank, b, kGatherTagBase + b.id, dst, requests, error);
    }
  std::string waited = transport_->waitAll(requests, options_.timeoutSeconds);
  if (error.empty())
    error = waited;
  if (!error.empty() || rank_ != 0 || !out)
    return error;
  for (const Piece &piece : pieces) {
    const PlanBuffer &b = *piece.b;
    auto w = weights.find(b.tensor);
    if (w == weights.end())
      continue;
    std::vector<float> &global = (*out)[b.tensor];
    int64_t n = 1;
    for (int64_t d : w->second->shape)
      n *= d;
    global.resize(static_cast<size_t>(n));
    forEachRow(b.shape, b.globalShape, b.offset,
               [&](int64_t local, int64_t g, int64_t len) {
                 std::memcpy(global.data() + g, piece.data.data() + local,
                             static_cast<size_t>(len) * sizeof(float));
               });
  }
  return "";
}

std::string RankExecutor::setInput(
    const std::string &name, std::shared_ptr<const std::vector<double>> values) {
  const PlanInput *in = nullptr;
  for (const PlanInput &x : plan_->inputs)
    if (x.name == name)
      in = &x;
  if (!in)
    return "input " + name + ": the plan has no input of that name";
  int64_t n = 1;
  for (int64_t d : in->shape)
    n *= d;
  if (!values || static_cast<int64_t>(values->size()) != n)
    return "input " + name + ": " +
           std::to_string(values ? values->size() : 0) +
           " values given for a tensor of " + std::to_string(n) + " elements";
  options_.inputValues[name] = std::move(values);
  return "";
}

std::string RankExecutor::gatherOutputs(std::vector<OutputTensor> *out) {
  std::vector<Request> requests;
  std::string error = syncToHost();
  struct Piece {
    size_t output;
    const PlanBuffer *b;
    std::vector<char> bytes;
  };
  std::vector<Piece> pieces;
  pieces.reserve(64);
  int64_t tag = kOutputTagBase;
  for (size_t k = 0; k < plan_->outputs.size(); ++k) {
    const PlanOutput &o = plan_->outputs[k];
    // One holder per box: rank 0's own when it has one, else the first.
    std::vector<std::pair<int, const PlanBuffer *>> chosen;
    for (auto [rank, id] : o.holders) {
      if (rank < 0 || rank >= static_cast<int>(plan_->ranks.size()))
        return "output " + o.op + ":" + std::to_string(o.result) +
               ": holder rank " + std::to_string(rank) + " is not in the plan";
      const PlanBuffer *b = plan_->ranks[rank].findBuffer(id);
      if (!b)
        return "output " + o.op + ":" + std::to_string(o.result) +
               ": rank " + std::to_string(rank) + " has no buffer " +
               std::to_string(id);
      bool same = false;
      for (auto &c : chosen)
        if (c.second->offset == b->offset && c.second->shape == b->shape) {
          same = true;
          if (rank == 0 && c.first != 0)
            c = {rank, b};
        }
      if (!same)
        chosen.push_back({rank, b});
    }
    for (auto [rank, b] : chosen) {
      const int64_t t = tag++;
      void *dst = nullptr;
      if (rank_ == 0) {
        pieces.push_back({k, b, std::vector<char>(static_cast<size_t>(b->bytes()))});
        dst = pieces.back().bytes.data();
      }
      toRoot(rank, *b, t, dst, requests, error);
    }
  }
  std::string waited = transport_->waitAll(requests, options_.timeoutSeconds);
  if (error.empty())
    error = waited;
  if (!error.empty() || rank_ != 0 || !out)
    return error;
  out->assign(plan_->outputs.size(), OutputTensor{});
  for (size_t k = 0; k < plan_->outputs.size(); ++k) {
    (*out)[k].op = plan_->outputs[k].op;
    (*out)[k].result = plan_->outputs[k].result;
  }
  for (const Piece &piece : pieces) {
    const PlanBuffer &b = *piece.b;
    OutputTensor &t = (*out)[piece.output];
    std::vector<int64_t> globalShape = b.globalShape, offset = b.offset;
    if (globalShape.size() != b.shape.size()) {
      globalShape = b.shape;
      offset.assign(b.shape.size(), 0);
    }
    if (t.values.empty()) {
      t.dtype = b.dtype;
      t.shape = globalShape;
      int64_t n = 1;
      for (int64_t d : globalShape)
        n *= d;
      t.values.assign(static_cast<size_t>(n), 0.0);
    }
    forEachRow(b.shape, globalShape, offset,
               [&](int64_t local, int64_t g, int64_t len) {
                 for (int64_t e = 0; e < len; ++e)
                   t.values[static_cast<size_t>(g + e)] =
                       loadElement(b.dtype, piece.bytes.data(), local + e);
               });
  }
  return "";
}

std::vector<std::string> checkPlanForCpu(const Plan &plan) {
  std::vector<std::string> problems = validatePlan(plan);
  if (plan.numRanks != static_cast<int>(plan.ranks.size()))
    problems.push_back("$.ranks: " + std::to_string(plan.ranks.size()) +
                       " rank plans for " + std::to_string(plan.numRanks) +
                       " ranks");
  for (size_t r = 0; r < plan.ranks.size(); ++r)
    if (plan.ranks[r].rank != static_cast<int>(r))
      problems.push_back("$.ranks[" + std::to_string(r) +
                         "].rank: rank plans must be in rank order");
  return problems;
}

} // namespace soap::runtime
