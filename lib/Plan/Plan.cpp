//===- Plan.cpp - plan values, names and FLOP sums ------------------------===//
#include "soap/Plan/Plan.h"

#include <algorithm>

namespace soap {

namespace {
template <typename E, size_t N>
std::optional<E> lookup(const char *const (&names)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i])
      return static_cast<E>(i);
  return std::nullopt;
}

const char *const kRoles[] = {"input",    "label",           "constant",
                              "activation", "weight",        "gradient",
                              "optimizer-state", "state",    "scratch"};
const char *const kTaskTypes[] = {"kernel",     "copy", "send", "recv",
                                  "collective", "fill"};
const char *const kPhases[] = {"fwd", "bwd", "update"};
const char *const kCollectives[] = {"all_reduce", "all_gather",
                                    "reduce_scatter", "broadcast",
                                    "all_to_all"};
} // namespace

const char *toString(BufferRole r) { return kRoles[static_cast<int>(r)]; }
std::optional<BufferRole> parseBufferRole(std::string_view s) {
  return lookup<BufferRole>(kRoles, s);
}
const char *toString(TaskType t) { return kTaskTypes[static_cast<int>(t)]; }
std::optional<TaskType> parseTaskType(std::string_view s) {
  return lookup<TaskType>(kTaskTypes, s);
}
const char *toString(Phase p) { return kPhases[static_cast<int>(p)]; }
std::optional<Phase> parsePhase(std::string_view s) {
  return lookup<Phase>(kPhases, s);
}
const char *toString(CollectiveKind c) {
  return kCollectives[static_cast<int>(c)];
}
std::optional<CollectiveKind> parseCollectiveKind(std::string_view s) {
  return lookup<CollectiveKind>(kCollectives, s);
}
const char *toString(OptimizerSettings::Kind k) {
  return k == OptimizerSettings::Kind::Sgd ? "sgd" : "adam";
}

int OptimizerSettings::numStates() const {
  if (kind == Kind::Adam)
    return 2;
  return momentum != 0 ? 1 : 0;
}

static int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  return n;
}

int64_t PlanBuffer::numElements() const { return product(shape); }

std::vector<int64_t> PlanBuffer::tensorShape() const {
  std::vector<int64_t> s = shape;
  if (part && !s.empty())
    s[0] = std::min(s[0], std::max<int64_t>(0, part->rows));
  return s;
}
int64_t PlanRegion::numElements() const { return product(shape); }

PlanAttr PlanAttr::ofInt(int64_t v) {
  PlanAttr a;
  a.kind = Kind::Int;
  a.i = v;
  return a;
}
PlanAttr PlanAttr::ofFloat(double v) {
  PlanAttr a;
  a.kind = Kind::Float;
  a.f = v;
  return a;
}
PlanAttr PlanAttr::ofString(std::string v) {
  PlanAttr a;
  a.kind = Kind::String;
  a.s = std::move(v);
  return a;
}
PlanAttr PlanAttr::ofBool(bool v) {
  PlanAttr a;
  a.kind = Kind::Bool;
  a.b = v;
  return a;
}
PlanAttr PlanAttr::ofInts(std::vector<int64_t> v) {
  PlanAttr a;
  a.kind = Kind::Ints;
  a.ints = std::move(v);
  return a;
}
PlanAttr PlanAttr::ofFloats(std::vector<double> v) {
  PlanAttr a;
  a.kind = Kind::Floats;
  a.floats = std::move(v);
  return a;
}
bool PlanAttr::operator==(const PlanAttr &o) const {
  if (kind != o.kind)
    return false;
  switch (kind) {
  case Kind::Int:
    return i == o.i;
  case Kind::Float:
    return f == o.f;
  case Kind::String:
    return s == o.s;
  case Kind::Bool:
    return b == o.b;
  case Kind::Ints:
    return ints == o.ints;
  case Kind::Floats:
    return floats == o.floats;
  }
  return false;
}

const PlanBuffer *RankPlan::findBuffer(int id) const {
  // Ids are dense and in order for plans the planner builds; fall back to a
  // search for hand-written ones.
  if (id >= 0 && id < static_cast<int>(buffers.size()) && buffers[id].id == id)
    return &buffers[id];
  for (const PlanBuffer &b : buffers)
    if (b.id == id)
      return &b;
  return nullptr;
}

int Plan::requiredVersion() const {
  for (const RankPlan &r : ranks) {
    for (const PlanBuffer &b : r.buffers)
      if (b.part || b.host)
        return kPlanFormatVersion;
    for (const PlanTask &t : r.tasks)
      if (t.host)
        return kPlanFormatVersion;
  }
  return kPlanFormatVersionPlain;
}

const Communicator *Plan::findCommunicator(int id) const {
  if (id >= 0 && id < static_cast<int>(communicators.size()) &&
      communicators[id].id == id)
    return &communicators[id];
  for (const Communicator &c : communicators)
    if (c.id == id)
      return &c;
  return nullptr;
}

PlanFlops totalFlops(const Plan &plan) {
  PlanFlops f;
  for (const RankPlan &r : plan.ranks)
    for (const PlanTask &t : r.tasks) {
      if (t.type != TaskType::Kernel)
        continue;
      if (t.phase == Phase::Forward)
        f.forward += t.flops;
      else if (t.phase == Phase::Backward)
        f.backward += t.flops;
      else
        f.update += t.flops;
    }
  return f;
}

} // namespace soap
