//===- PlanValidate.cpp - is a plan executable? ---------------------------===//
//
// Structural checks (references, regions, dtypes), point-to-point matching,
// and an execution of the task lists with blocking semantics (a send waits
// for its receive, a collective for all its ranks) that finds deadlocks and
// collectives met in different orders or with different sizes.
//
//===----------------------------------------------------------------------===//
#include "soap/Plan/Plan.h"

#include <map>
#include <set>
#include <tuple>

namespace soap {

namespace {


std::string shapeText(const std::vector<int64_t> &s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

struct Validator {
  const Plan &plan;
  std::vector<std::string> problems;
  /// Per rank: buffer id -> buffer.
  std::vector<std::map<int, const PlanBuffer *>> buffers;

  explicit Validator(const Plan &p) : plan(p) {}

  void problem(const std::string &path, const std::string &what) {
    if (problems.size() < 200)
      problems.push_back(path + ": " + what);
  }

  static std::string taskPath(int rank, size_t task) {
    return "$.ranks[" + std::to_string(rank) + "].tasks[" +
           std::to_string(task) + "]";
  }

  const PlanBuffer *buffer(int rank, int id, const std::string &path,
                           bool allowAbsent = false) {
    if (id < 0) {
      if (!allowAbsent)
        problem(path, "needs a buffer");
      return nullptr;
    }
    auto it = buffers[rank].find(id);
    if (it == buffers[rank].end()) {
      problem(path, "buffer " + std::to_string(id) + " does not exist on rank " +
                        std::to_string(rank));
      return nullptr;
    }
    return it->second;
  }

  bool regionInside(const PlanRegion &r, const PlanBuffer &b,
                    const std::string &path) {
    if (r.offset.size() != b.shape.size() || r.shape.size() != b.shape.size()) {
      problem(path, "region of rank " + std::to_string(r.shape.size()) +
                        " for buffer '" + b.name + "' of rank " +
                        std::to_string(b.shape.size()));
      return false;
    }
    for (size_t a = 0; a < b.shape.size(); ++a)
      if (r.offset[a] < 0 || r.shape[a] < 0 ||
          r.offset[a] + r.shape[a] > b.shape[a]) {
        problem(path, "region at " + shapeText(r.offset) + " of shape " +
                          shapeText(r.shape) + " is outside buffer '" + b.name +
                          "' of shape " + shapeText(b.shape));
        return false;
      }
    return true;
  }

  void structure() {
    if (plan.numRanks != static_cast<int>(plan.ranks.size()))
      problem("$.ranks", "lists " + std::to_string(plan.ranks.size()) +
                             " ranks, num_ranks is " +
                             std::to_string(plan.numRanks));
    for (size_t i = 0; i < plan.ranks.size(); ++i)
      if (plan.ranks[i].rank != static_cast<int>(i))
        problem("$.ranks[" + std::to_string(i) + "].rank",
                "must be " + std::to_string(i));
    std::set<int> commIds;
    for (size_t i = 0; i < plan.communicators.size(); ++i) {
      const Communicator &c = plan.communicators[i];
      std::string p = "$.communicators[" + std::to_string(i) + "]";
      if (!commIds.insert(c.id).second)
        problem(p + ".id", "duplicate communicator id " + std::to_string(c.id));
      if (c.ranks.empty())
        problem(p + ".ranks", "is empty");
      std::set<int> seen;
      for (int r : c.ranks) {
        if (r < 0 || r >= plan.numRanks)
          problem(p + ".ranks", "rank " + std::to_string(r) + " out of range");
        if (!seen.insert(r).second)
          problem(p + ".ranks", "lists rank " + std::to_string(r) + " twice");
      }
    }
    buffers.assign(plan.ranks.size(), {});
    for (size_t ri = 0; ri < plan.ranks.size(); ++ri) {
      const RankPlan &r = plan.ranks[ri];
      for (size_t k = 0; k < r.buffers.size(); ++k) {
        const PlanBuffer &b = r.buffers[k];
        std::string p = "$.ranks[" + std::to_string(ri) + "].buffers[" +
                        std::to_string(k) + "]";
        if (!buffers[ri].emplace(b.id, &b).second)
          problem(p + ".id", "duplicate buffer id " + std::to_string(b.id));
        for (int64_t s : b.shape)
          if (s < 0)
            problem(p + ".shape", "negative size");
        if (!b.globalShape.empty() || !b.offset.empty()) {
          if (b.globalShape.size() != b.shape.size() ||
              b.offset.size() != b.shape.size()) {
            problem(p, "shape, global_shape and offset must have the same rank");
          } else {
            for (size_t a = 0; a < b.shape.size(); ++a)
              if (b.offset[a] < 0 || b.offset[a] + b.shape[a] > b.globalShape[a])
                problem(p, "the box at " + shapeText(b.offset) + " of shape " +
                               shapeText(b.shape) +
                               " is outside the global shape " +
                               shapeText(b.globalShape));
          }
        }
      }
    }
    for (size_t ri = 0; ri < plan.ranks.size(); ++ri) {
      const RankPlan &r = plan.ranks[ri];
      for (size_t k = 0; k < r.tasks.size(); ++k)
        task(static_cast<int>(ri), k, r.tasks[k]);
    }
  }

  void task(int rank, size_t k, const PlanTask &t) {
    std::string p = taskPath(rank, k);
    switch (t.type) {
    case TaskType::Kernel:
      if (t.kind.empty())
        problem(p + ".kind", "is empty");
      for (size_t i = 0; i < t.inputs.size(); ++i)
        buffer(rank, t.inputs[i], p + ".inputs[" + std::to_string(i) + "]",
               true);
      for (size_t i = 0; i < t.outputs.size(); ++i)
        buffer(rank, t.outputs[i], p + ".outputs[" + std::to_string(i) + "]",
               true);
      if (t.flops < 0)
        problem(p + ".flops", "is negative");
      break;
    case TaskType::Copy: {
      const PlanBuffer *s = buffer(rank, t.src, p + ".src");
      const PlanBuffer *d = buffer(rank, t.buffer, p + ".buffer");
      if (!s || !d)
        break;
      bool ok = regionInside(t.srcRegion, *s, p + ".src_region");
      ok &= regionInside(t.region, *d, p + ".region");
      if (ok && t.srcRegion.shape != t.region.shape)
        problem(p, "copies a region of shape " + shapeText(t.srcRegion.shape) +
                       " into one of shape " + shapeText(t.region.shape));
      if (s->dtype != d->dtype)
        problem(p, std::string("copies ") + toString(s->dtype) + " into " +
                       toString(d->dtype));
      break;
    }
    case TaskType::Send:
    case TaskType::Recv: {
      if (t.peer < 0 || t.peer >= plan.numRanks || t.peer == rank)
        problem(p + ".peer", "invalid peer " + std::to_string(t.peer));
      if (t.tag < 0)
        problem(p + ".tag", "is negative");
      if (const PlanBuffer *b = buffer(rank, t.buffer, p + ".buffer"))
        regionInside(t.region, *b, p + ".region");
      break;
    }
    case TaskType::Collective: {
      const Communicator *c = plan.findCommunicator(t.comm);
      if (!c) {
        problem(p + ".comm", "communicator " + std::to_string(t.comm) +
                                 " does not exist");
        break;
      }
      bool member = false;
      for (int r : c->ranks)
        member |= r == rank;
      if (!member)
        problem(p + ".comm", "rank " + std::to_string(rank) +
                                 " is not in communicator " +
                                 std::to_string(t.comm));
      const PlanBuffer *b = buffer(rank, t.buffer, p + ".buffer");
      bool inPlace = t.collective == CollectiveKind::AllReduce ||
                     t.collective == CollectiveKind::Broadcast;
      const PlanBuffer *s =
          inPlace ? b : buffer(rank, t.src, p + ".src");
      if (!b || !s)
        break;
      int64_t n = static_cast<int64_t>(c->ranks.size());
      if (b->dtype != s->dtype)
        problem(p, "source and destination dtypes differ");
      if (t.collective == CollectiveKind::AllReduce ||
          t.collective == CollectiveKind::ReduceScatter) {
        if (!isFloat(b->dtype))
          problem(p, std::string("sums a buffer of dtype ") +
                         toString(b->dtype));
      }
      if (t.collective == CollectiveKind::AllGather &&
          b->numElements() != s->numElements() * n)
        problem(p, "all_gather of " + std::to_string(s->numElements()) +
                       " elements over " + std::to_string(n) +
                       " ranks into a buffer of " +
                       std::to_string(b->numElements()));
      if (t.collective == CollectiveKind::ReduceScatter &&
          s->numElements() != b->numElements() * n)
        problem(p, "reduce_scatter of " + std::to_string(s->numElements()) +
                       " elements over " + std::to_string(n) +
                       " ranks into a buffer of " +
                       std::to_string(b->numElements()));
      if (t.collective == CollectiveKind::AllToAll &&
          (s->numElements() != b->numElements() || s->numElements() % n != 0))
        problem(p, "all_to_all buffers must have equal sizes divisible by the "
                   "communicator size");
      if (t.collective == CollectiveKind::Broadcast &&
          (t.root < 0 || t.root >= n))
        problem(p + ".root", "out of range");
      break;
    }
    case TaskType::Fill:
      buffer(rank, t.buffer, p + ".buffer");
      break;
    }
  }

  /// Element count and dtype of a send/recv.
  std::pair<int64_t, DType> message(int rank, const PlanTask &t) {
    auto it = buffers[rank].find(t.buffer);
    DType dt = it == buffers[rank].end() ? DType::F32 : it->second->dtype;
    return {t.region.numElements(), dt};
  }

  void pointToPoint() {
    // (src, dst, tag) -> (rank, task index) of sends and receives.
    std::map<std::tuple<int, int, int64_t>, std::pair<int, size_t>> sends, recvs;
    for (size_t ri = 0; ri < plan.ranks.size(); ++ri) {
      int rank = static_cast<int>(ri);
      const RankPlan &r = plan.ranks[ri];
      for (size_t k = 0; k < r.tasks.size(); ++k) {
        const PlanTask &t = r.tasks[k];
        if (t.type == TaskType::Send &&
            !sends.emplace(std::make_tuple(rank, t.peer, t.tag),
                           std::make_pair(rank, k))
                 .second)
          problem(taskPath(rank, k), "a second send to rank " +
                                         std::to_string(t.peer) + " with tag " +
                                         std::to_string(t.tag));
        if (t.type == TaskType::Recv &&
            !recvs.emplace(std::make_tuple(t.peer, rank, t.tag),
                           std::make_pair(rank, k))
                 .second)
          problem(taskPath(rank, k), "a second receive from rank " +
                                         std::to_string(t.peer) + " with tag " +
                                         std::to_string(t.tag));
      }
    }
    for (const auto &[key, at] : sends) {
      auto it = recvs.find(key);
      const PlanTask &s = plan.ranks[at.first].tasks[at.second];
      if (it == recvs.end()) {
        problem(taskPath(at.first, at.second),
                "send to rank " + std::to_string(s.peer) + " with tag " +
                    std::to_string(s.tag) + " has no matching receive");
        continue;
      }
      const PlanTask &r = plan.ranks[it->second.first].tasks[it->second.second];
      auto ms = message(at.first, s), mr = message(it->second.first, r);
      if (ms != mr)
        problem(taskPath(at.first, at.second),
                "sends " + std::to_string(ms.first) + " " +
                    toString(ms.second) + " elements but the receive (" +
                    taskPath(it->second.first, it->second.second) +
                    ") expects " + std::to_string(mr.first) + " " +
                    toString(mr.second));
    }
    for (const auto &[key, at] : recvs)
      if (!sends.count(key)) {
        const PlanTask &r = plan.ranks[at.first].tasks[at.second];
        problem(taskPath(at.first, at.second),
                "receive from rank " + std::to_string(r.peer) + " with tag " +
                    std::to_string(r.tag) + " has no matching send");
      }
  }

  /// The size signature of a collective, equal on all its ranks.
  std::tuple<int, int64_t, int64_t, int> signature(int rank,
                                                   const PlanTask &t) {
    auto size = [&](int id) -> int64_t {
      auto it = buffers[rank].find(id);
      return it == buffers[rank].end() ? -1 : it->second->numElements();
    };
    bool inPlace = t.collective == CollectiveKind::AllReduce ||
                   t.collective == CollectiveKind::Broadcast;
    return {static_cast<int>(t.collective), size(t.buffer),
            inPlace ? size(t.buffer) : size(t.src),
            t.collective == CollectiveKind::Broadcast ? t.root : 0};
  }

  /// Runs the task lists with blocking semantics.
  void execute() {
    const int n = static_cast<int>(plan.ranks.size());
    std::vector<size_t> pc(n, 0);
    auto isLocal = [](const PlanTask &t) {
      return t.type == TaskType::Kernel || t.type == TaskType::Copy ||
             t.type == TaskType::Fill;
    };
    auto current = [&](int r) -> const PlanTask * {
      return pc[r] < plan.ranks[r].tasks.size() ? &plan.ranks[r].tasks[pc[r]]
                                                : nullptr;
    };
    bool progress = true;
    size_t reported = problems.size();
    while (progress) {
      progress = false;
      for (int r = 0; r < n; ++r) {
        while (const PlanTask *t = current(r)) {
          if (isLocal(*t)) {
            ++pc[r];
            progress = true;
            continue;
          }
          if (t->type == TaskType::Send || t->type == TaskType::Recv) {
            if (t->peer < 0 || t->peer >= n)
              return;
            const PlanTask *o = current(t->peer);
            TaskType want =
                t->type == TaskType::Send ? TaskType::Recv : TaskType::Send;
            if (o && o->type == want && o->peer == r && o->tag == t->tag) {
              ++pc[r];
              ++pc[t->peer];
              progress = true;
              continue;
            }
            break;
          }
          // Collective: every member must be at a collective on this comm.
          const Communicator *c = plan.findCommunicator(t->comm);
          if (!c)
            return;
          bool all = true;
          for (int m : c->ranks) {
            const PlanTask *o = current(m);
            if (!o || o->type != TaskType::Collective || o->comm != t->comm) {
              all = false;
              break;
            }
          }
          if (!all)
            break;
          auto sig = signature(r, *t);
          for (int m : c->ranks)
            if (signature(m, *current(m)) != sig && problems.size() < 200)
              problem(taskPath(m, pc[m]),
                      std::string("collective ") +
                          toString(current(m)->collective) +
                          " on communicator " + std::to_string(t->comm) +
                          " does not match rank " + std::to_string(r) + "'s " +
                          toString(t->collective) + " (" + taskPath(r, pc[r]) +
                          ") in kind or size");
          for (int m : c->ranks)
            ++pc[m];
          progress = true;
          if (problems.size() > reported + 20)
            return;
        }
      }
    }
    for (int r = 0; r < n; ++r)
      if (const PlanTask *t = current(r)) {
        std::string what = std::string("deadlock: rank ") + std::to_string(r) +
                           " waits forever in this " + toString(t->type);
        if (t->type == TaskType::Send || t->type == TaskType::Recv)
          what += std::string(t->type == TaskType::Send ? " to" : " from") +
                  " rank " + std::to_string(t->peer) + " (tag " +
                  std::to_string(t->tag) + ")";
        else
          what += " on communicator " + std::to_string(t->comm);
        problem(taskPath(r, pc[r]), what);
      }
  }
};

} // namespace

std::vector<std::string> validatePlan(const Plan &plan) {
  Validator v(plan);
  v.structure();
  if (!v.problems.empty())
    return v.problems;
  v.pointToPoint();
  if (!v.problems.empty())
    return v.problems;
  v.execute();
  return v.problems;
}

} // namespace soap
