//===- PlanText.cpp - a readable listing of a plan ------------------------===//
#include "soap/Plan/Plan.h"

#include <sstream>

namespace soap {

namespace {

void list(std::ostream &os, const std::vector<int64_t> &v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << v[i];
  os << ']';
}

struct Printer {
  const Plan &plan;
  std::ostringstream os;

  const PlanBuffer *buffer(const RankPlan &r, int id) {
    return r.findBuffer(id);
  }
  std::string name(const RankPlan &r, int id) {
    if (id < 0)
      return "-";
    const PlanBuffer *b = buffer(r, id);
    return b ? b->name : "?" + std::to_string(id);
  }
  /// "name[lo:hi, ...]" in the logical tensor's coordinates when the buffer
  /// is a box of one, else in the buffer's.
  std::string region(const RankPlan &r, int id, const PlanRegion &reg) {
    std::ostringstream s;
    s << name(r, id) << '[';
    const PlanBuffer *b = buffer(r, id);
    for (size_t a = 0; a < reg.offset.size(); ++a) {
      int64_t base = b && a < b->offset.size() ? b->offset[a] : 0;
      s << (a ? ", " : "") << base + reg.offset[a] << ':'
        << base + reg.offset[a] + reg.shape[a];
    }
    s << ']';
    return s.str();
  }
  std::string names(const RankPlan &r, const std::vector<int> &ids) {
    std::string s = "(";
    for (size_t i = 0; i < ids.size(); ++i)
      s += (i ? ", " : "") + name(r, ids[i]);
    return s + ")";
  }

  void attr(const PlanAttr &a) {
    switch (a.kind) {
    case PlanAttr::Kind::Int:
      os << a.i;
      break;
    case PlanAttr::Kind::Float:
      os << a.f;
      break;
    case PlanAttr::Kind::String:
      os << a.s;
      break;
    case PlanAttr::Kind::Bool:
      os << (a.b ? "true" : "false");
      break;
    case PlanAttr::Kind::Ints:
      list(os, a.ints);
      break;
    case PlanAttr::Kind::Floats:
      os << '[';
      for (size_t i = 0; i < a.floats.size(); ++i)
        os << (i ? ", " : "") << a.floats[i];
      os << ']';
      break;
    }
  }

  void task(const RankPlan &r, const PlanTask &t) {
    os << "  " << toString(t.phase) << ' ' << t.op << ": ";
    switch (t.type) {
    case TaskType::Kernel:
      os << t.kind;
      if (!t.part.empty())
        os << '.' << t.part;
      os << " shard " << t.shard << ' ' << names(r, t.inputs) << " -> "
         << names(r, t.outputs);
      if (!t.attrs.empty()) {
        os << " {";
        bool first = true;
        for (const auto &[k, v] : t.attrs) {
          os << (first ? "" : ", ") << k << " = ";
          attr(v);
          first = false;
        }
        os << '}';
      }
      os << " flops " << t.flops;
      if (t.host)
        os << " on host";
      break;
    case TaskType::Copy:
      os << "copy " << region(r, t.src, t.srcRegion)
         << (t.accumulate ? " +-> " : " -> ") << region(r, t.buffer, t.region);
      break;
    case TaskType::Send:
      os << "send " << region(r, t.buffer, t.region) << " to rank " << t.peer
         << " tag " << t.tag;
      break;
    case TaskType::Recv:
      os << "recv " << region(r, t.buffer, t.region)
         << (t.accumulate ? " += " : " = ") << "rank " << t.peer << " tag "
         << t.tag;
      break;
    case TaskType::Collective:
      os << toString(t.collective) << " comm " << t.comm;
      if (const Communicator *c = plan.findCommunicator(t.comm)) {
        os << ' ';
        std::vector<int64_t> ranks(c->ranks.begin(), c->ranks.end());
        list(os, ranks);
      }
      if (t.src >= 0)
        os << ' ' << name(r, t.src) << " ->";
      os << ' ' << name(r, t.buffer);
      break;
    case TaskType::Fill:
      os << "fill " << name(r, t.buffer) << " = " << t.value;
      break;
    }
    if (!t.stage.empty())
      os << "  [" << t.stage << ']';
    os << '\n';
  }

  std::string run() {
    os << "plan " << plan.modelName << " (" << plan.modelFingerprint << "): "
       << plan.numRanks << " ranks, " << toString(plan.optimizer.kind)
       << " lr " << plan.optimizer.lr << '\n';
    for (const PlanInput &in : plan.inputs) {
      os << toString(in.role) << ' ' << in.name << ' ' << toString(in.dtype)
         << ' ';
      list(os, in.shape);
      if (in.range > 0)
        os << " range " << in.range;
      os << '\n';
    }
    for (const PlanWeight &w : plan.weights) {
      os << "weight " << w.name << ' ' << toString(w.dtype) << ' ';
      list(os, w.shape);
      os << ' ' << w.init << ' ' << w.scale << '\n';
    }
    for (const Communicator &c : plan.communicators) {
      os << "comm " << c.id << ' ';
      std::vector<int64_t> ranks(c.ranks.begin(), c.ranks.end());
      list(os, ranks);
      os << '\n';
    }
    for (const RankPlan &r : plan.ranks) {
      os << "rank " << r.rank << ":\n";
      for (const PlanBuffer &b : r.buffers) {
        os << "  buffer " << b.id << ' ' << b.name << ' ' << toString(b.role)
           << ' ' << toString(b.dtype) << ' ';
        list(os, b.shape);
        if (!b.tensor.empty()) {
          os << " of " << b.tensor << ' ';
          list(os, b.globalShape);
          os << " at ";
          list(os, b.offset);
        }
        if (b.part)
          os << " part " << b.part->index << '/' << b.part->count << " rows "
             << b.part->rows;
        if (b.host)
          os << " host";
        os << '\n';
      }
      for (const PlanTask &t : r.tasks)
        task(r, t);
    }
    return os.str();
  }
};

} // namespace

std::string writePlanText(const Plan &plan) {
  Printer p{plan, {}};
  return p.run();
}

} // namespace soap
