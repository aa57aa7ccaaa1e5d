//===- KernelCalls.cpp - a plan's kernel task as a CPU kernel call --------===//
//
// Operand conventions of the planner's kernel tasks:
//  - forward: inputs = the op's operands (-1 for an absent optional one),
//    outputs = its results, then extras (attention/lstm `saved`, batch-norm
//    phase buffers);
//  - backward: inputs = the forward's inputs (and extras), then one result
//    gradient per result (the last input for single-result ops); outputs =
//    one gradient per operand, -1 where none is wanted;
//  - update: inputs = (weight, gradient, optimizer states...).
//
//===----------------------------------------------------------------------===//
#include "KernelCalls.h"

#include "soap/Runtime/Cpu/Kernels.h"

#include <algorithm>
#include <map>
#include <memory>

namespace soap::runtime {

using namespace soap::cpu;

namespace {

struct Binder : TaskReader {
  const std::function<BufferRef(int)> &buffer;
  std::string problem;

  BufferRef ref(int id) {
    if (id < 0)
      return {};
    BufferRef r = buffer(id);
    if (!r.meta && problem.empty())
      problem = "unknown buffer " + std::to_string(id);
    return r;
  }
  FloatView fv(int id) {
    BufferRef r = ref(id);
    if (!r.meta)
      return {};
    if (r.meta->dtype != DType::F32) {
      if (problem.empty())
        problem = "buffer '" + r.meta->name + "' is " + toString(r.meta->dtype) +
                  ": the CPU kernels compute in f32";
      return {};
    }
    return FloatView(static_cast<float *>(r.data), Shape(r.meta->shape));
  }
  ConstFloatView cv(int id) { return fv(id); }
  IndexView iv(int id) {
    BufferRef r = ref(id);
    if (!r.meta)
      return {};
    if (r.meta->dtype == DType::I32)
      return IndexView(static_cast<const int32_t *>(r.data), Shape(r.meta->shape));
    if (r.meta->dtype != DType::I64 && problem.empty())
      problem = "buffer '" + r.meta->name + "' is not an index tensor";
    return IndexView(static_cast<const int64_t *>(r.data), Shape(r.meta->shape));
  }
  /// A contiguous view of a buffer that must hold `dtype` (T its C type).
  template <class T> TensorView<T> typed(int id, DType dtype) {
    BufferRef r = ref(id);
    if (!r.meta)
      return {};
    if (r.meta->dtype != dtype) {
      if (problem.empty())
        problem = "buffer '" + r.meta->name + "' is " +
                  toString(r.meta->dtype) + ", expected " + toString(dtype);
      return {};
    }
    return TensorView<T>(static_cast<T *>(r.data), Shape(r.meta->shape));
  }
  template <class T> T *ptr(int id) {
    BufferRef r = ref(id);
    return r.meta ? static_cast<T *>(r.data) : nullptr;
  }
  const std::vector<int64_t> &shape(int id) {
    static const std::vector<int64_t> none;
    BufferRef r = ref(id);
    return r.meta ? r.meta->shape : none;
  }

};

const std::map<std::string, unary::Kind> &unaries() {
  static const std::map<std::string, unary::Kind> m = {
      {"relu", unary::Kind::Relu},       {"gelu", unary::Kind::Gelu},
      {"sigmoid", unary::Kind::Sigmoid}, {"tanh", unary::Kind::Tanh},
      {"exp", unary::Kind::Exp},         {"log", unary::Kind::Log},
      {"neg", unary::Kind::Neg},         {"sqrt", unary::Kind::Sqrt},
      {"erf", unary::Kind::Erf}};
  return m;
}
const std::map<std::string, binary::Kind> &binaries() {
  static const std::map<std::string, binary::Kind> m = {
      {"add", binary::Kind::Add},
      {"sub", binary::Kind::Sub},
      {"mul", binary::Kind::Mul},
      {"div", binary::Kind::Div},
      {"pow", binary::Kind::Pow}};
  return m;
}
const std::map<std::string, predicate::Kind> &predicates() {
  static const std::map<std::string, predicate::Kind> m = {
      {"equal", predicate::Kind::Equal},
      {"less", predicate::Kind::Less},
      {"less_equal", predicate::Kind::LessEqual},
      {"greater", predicate::Kind::Greater},
      {"greater_equal", predicate::Kind::GreaterEqual},
      {"and", predicate::Kind::And},
      {"or", predicate::Kind::Or},
      {"xor", predicate::Kind::Xor}};
  return m;
}

/// A comparison or logical op: operands of one element type (f32, i32, i64
/// or i1), a boolean result. Forward only (no gradient).
std::string bindPredicate(Binder &b, predicate::Kind kind, Thunk &out) {
  BufferRef a = b.ref(b.in(0));
  if (!a.meta)
    return b.problem.empty() ? "a comparison needs two operands" : b.problem;
  DType t = a.meta->dtype;
  auto y = b.typed<uint8_t>(b.out(0), DType::I1);
  auto bind = [&](auto tag) {
    using T = decltype(tag);
    auto va = b.typed<const T>(b.in(0), t), vb = b.typed<const T>(b.in(1), t);
    out = [=](int64_t) { predicate::forward(kind, va, vb, y); };
  };
  switch (t) {
  case DType::F32:
    bind(float());
    break;
  case DType::I32:
    bind(int32_t());
    break;
  case DType::I64:
    bind(int64_t());
    break;
  case DType::I1:
    bind(uint8_t());
    break;
  default:
    return "operand '" + a.meta->name + "' is " + toString(t) +
           ": the CPU comparisons take f32, i32, i64 or i1";
  }
  return b.problem;
}

/// The dropout mask's place in the logical tensor and its seed (the op's
/// seed, its salt and the run's seed mixed; soap.dropout and
/// soap.dropout_mask draw alike).
void dropoutStream(const Binder &b, const KernelSettings &settings,
                   dropout::GlobalIndex &where, int64_t &seed) {
  std::vector<int64_t> gs = b.ais("global_shape"), off = b.ais("offset");
  where.global = Shape(gs);
  for (size_t a = 0; a < off.size() && a < size_t(kMaxRank); ++a)
    where.offsets[a] = off[a];
  seed = static_cast<int64_t>(
      static_cast<uint64_t>(b.ai("seed", 0)) ^
      (static_cast<uint64_t>(b.ai("salt", 0)) * 0x9E3779B97F4A7C15ull) ^
      (settings.seed * 0xD1B54A32D192ED03ull));
}

const std::map<std::string, reduce::Kind> &reductions() {
  static const std::map<std::string, reduce::Kind> m = {
      {"reduce_sum", reduce::Kind::Sum},
      {"reduce_mean", reduce::Kind::Mean},
      {"reduce_max", reduce::Kind::Max}};
  return m;
}

std::string bindUpdate(Binder &b, const KernelSettings &s, Thunk &out) {
  float *p = b.ptr<float>(b.in(0));
  const float *g = b.ptr<float>(b.in(1));
  BufferRef pr = b.ref(b.in(0));
  if (!p || !g)
    return "an update needs a weight and its gradient";
  int64_t n = pr.meta->numElements();
  const OptimizerSettings &o = s.optimizer;
  if (o.kind == OptimizerSettings::Kind::Sgd) {
    SgdOptions so{o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov};
    float *m = b.ptr<float>(b.in(2));
    if (so.momentum != 0 && !m)
      return "SGD with momentum needs a momentum buffer";
    out = [=](int64_t step) { sgdStep(p, g, m, n, so, step == 1); };
    return "";
  }
  AdamOptions ao{o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.decoupled};
  float *m = b.ptr<float>(b.in(2)), *v = b.ptr<float>(b.in(3));
  if (!m || !v)
    return "Adam needs two state buffers";
  out = [=](int64_t step) { adamStep(p, g, m, v, n, step, ao); };
  return "";
}

} // namespace

std::string bindKernel(const PlanTask &t,
                       const std::function<BufferRef(int)> &buffer,
                       const KernelSettings &settings, Thunk &out) {
  Binder b{{t}, buffer, {}};
  auto done = [&]() -> std::string { return b.problem; };
  const bool fwd = t.phase == Phase::Forward;
  const std::string &k = t.kind;

  if (t.phase == Phase::Update) {
    std::string e = bindUpdate(b, settings, out);
    return e.empty() ? done() : e;
  }
  // A backward with no gradient to compute (an op on model inputs only).
  if (t.phase == Phase::Backward &&
      std::all_of(t.outputs.begin(), t.outputs.end(),
                  [](int id) { return id < 0; })) {
    out = [](int64_t) {};
    return "";
  }

  if (k == "linear") {
    if (fwd) {
      auto x = b.cv(b.in(0)), w = b.cv(b.in(1)), bias = b.cv(b.in(2));
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { linear::forward(x, w, bias, y); };
    } else {
      auto x = b.cv(b.in(0)), w = b.cv(b.in(1)), dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0)), dw = b.fv(b.out(1)), db = b.fv(b.out(2));
      out = [=](int64_t) { linear::backward(x, w, dy, dx, dw, db); };
    }
    return done();
  }
  if (k == "matmul") {
    auto x = b.cv(b.in(0)), w = b.cv(b.in(1));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { matmul::forward(x, w, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto da = b.fv(b.out(0)), db = b.fv(b.out(1));
      out = [=](int64_t) { matmul::backward(x, w, dy, da, db); };
    }
    return done();
  }
  if (k == "conv2d") {
    conv2d::Params p;
    std::vector<int64_t> s = b.ais("strides"), pad = b.ais("padding"),
                         dil = b.ais("dilations");
    for (int a = 0; a < 2; ++a) {
      p.strides[a] = s.size() == 2 ? s[a] : 1;
      p.dilations[a] = dil.size() == 2 ? dil[a] : 1;
    }
    for (int a = 0; a < 4; ++a)
      p.padding[a] = pad.size() == 4 ? pad[a] : 0;
    p.groups = b.ai("groups", 1);
    FloatView whole = b.fv(b.in(0));
    auto w = b.cv(b.in(1)), bias = b.cv(b.in(2));
    std::vector<int64_t> chans = b.ais("input_channels");
    if (chans.size() == 2) {
      // A grouped conv's cout shard reads only its groups' channels: a
      // dense copy of them (the kernels want contiguous inputs).
      FloatView part = whole.narrow(1, chans[0], chans[1]);
      auto scratch = std::make_shared<std::vector<float>>(part.numel());
      FloatView dense(scratch->data(), part.shape);
      if (fwd) {
        auto y = b.fv(b.out(0));
        // The closure owns the scratch (`dense` only points into it).
        out = [=](int64_t) {
          copy(part, dense);
          conv2d::forward(dense, w, bias, y, p);
          (void)scratch;
        };
      } else {
        auto dy = b.cv(b.dy());
        FloatView dx = b.fv(b.out(0));
        auto dw = b.fv(b.out(1)), db = b.fv(b.out(2));
        auto dscratch = std::make_shared<std::vector<float>>(dx ? part.numel() : 0);
        FloatView ddense = dx ? FloatView(dscratch->data(), part.shape) : FloatView();
        FloatView dxPart = dx ? dx.narrow(1, chans[0], chans[1]) : FloatView();
        out = [=](int64_t) {
          copy(part, dense);
          if (ddense)
            zero(ddense);
          conv2d::backward(dense, w, dy, ddense, dw, db, p);
          if (ddense)
            accumulate(ddense, dxPart);
          (void)scratch;
          (void)dscratch;
        };
      }
      return done();
    }
    ConstFloatView x = whole;
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { conv2d::forward(x, w, bias, y, p); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0)), dw = b.fv(b.out(1)), db = b.fv(b.out(2));
      out = [=](int64_t) { conv2d::backward(x, w, dy, dx, dw, db, p); };
    }
    return done();
  }
  if (k == "pool2d") {
    pool2d::Params p;
    p.kind = b.as("kind") == "avg" ? pool2d::Kind::Avg : pool2d::Kind::Max;
    std::vector<int64_t> ker = b.ais("kernel"), s = b.ais("strides"),
                         pad = b.ais("padding");
    if (ker.size() != 2 || s.size() != 2 || pad.size() != 4)
      return "pool2d needs kernel, strides and padding attributes";
    for (int a = 0; a < 2; ++a) {
      p.kernel[a] = ker[a];
      p.strides[a] = s[a];
    }
    for (int a = 0; a < 4; ++a)
      p.padding[a] = pad[a];
    std::vector<int64_t> dil = b.ais("dilations");
    if (!dil.empty() && dil.size() != 2)
      return "pool2d dilations must have two values";
    for (size_t a = 0; a < dil.size(); ++a)
      p.dilations[a] = dil[a];
    p.countIncludePad = b.ab("count_include_pad");
    auto x = b.cv(b.in(0));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { pool2d::forward(x, y, p); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { pool2d::backward(x, dy, dx, p); };
    }
    return done();
  }
  if (k == "batch_norm") {
    int64_t count = b.ai("count", 1);
    double eps = b.af("epsilon", 1e-5);
    double momentum = b.af("momentum", 0.1);
    if (fwd && t.part == "stats") {
      auto x = b.cv(b.in(0));
      double *st = b.ptr<double>(b.out(0));
      int64_t c = b.shape(b.out(0)).back();
      out = [=](int64_t) { batch_norm::localSums(x, st, st + c); };
    } else if (fwd && t.part == "normalize") {
      auto x = b.cv(b.in(0)), scale = b.cv(b.in(1)), bias = b.cv(b.in(2));
      const double *st = b.ptr<double>(b.in(3));
      int64_t c = b.shape(b.in(3)).back();
      auto y = b.fv(b.out(0));
      float *saved = b.ptr<float>(b.out(1));
      float *run = b.ptr<float>(b.out(2));
      auto var = std::make_shared<std::vector<float>>(c);
      out = [=](int64_t) {
        batch_norm::finalizeStats(st, st + c, count, c, eps, saved, var->data(),
                                  saved + c);
        batch_norm::normalize(x, saved, saved + c, scale, bias, y);
        if (run)
          batch_norm::updateRunningStats(saved, var->data(), count, c, momentum,
                                         run, run + c);
      };
    } else if (!fwd && t.part == "stats") {
      auto x = b.cv(b.in(0)), dy = b.cv(b.in(1));
      const float *saved = b.ptr<float>(b.in(2));
      double *bs = b.ptr<double>(b.out(0));
      int64_t c = b.shape(b.out(0)).back();
      out = [=](int64_t) {
        batch_norm::backwardLocalSums(x, dy, saved, saved + c, bs, bs + c);
      };
    } else if (!fwd && t.part == "params") {
      const double *bs = b.ptr<double>(b.in(0));
      int64_t c = b.shape(b.in(0)).back();
      auto ds = b.fv(b.out(0)), db = b.fv(b.out(1));
      out = [=](int64_t) { batch_norm::backwardParams(bs, bs + c, c, ds, db); };
    } else if (!fwd && t.part == "input") {
      auto x = b.cv(b.in(0)), dy = b.cv(b.in(1)), scale = b.cv(b.in(2));
      const float *saved = b.ptr<float>(b.in(3));
      const double *bs = b.ptr<double>(b.in(4));
      int64_t c = b.shape(b.in(4)).back();
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) {
        if (dx)
          batch_norm::backwardInput(x, dy, saved, saved + c, scale, bs, bs + c,
                                    count, dx);
      };
    } else {
      return "batch_norm has no part '" + t.part + "'";
    }
    return done();
  }
  if (k == "layer_norm") {
    int64_t axis = b.ai("axis", -1);
    double eps = b.af("epsilon", 1e-5);
    auto x = b.cv(b.in(0)), scale = b.cv(b.in(1)), bias = b.cv(b.in(2));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { layer_norm::forward(x, scale, bias, axis, eps, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0)), ds = b.fv(b.out(1)), db = b.fv(b.out(2));
      out = [=](int64_t) {
        layer_norm::backward(x, scale, dy, axis, eps, dx, ds, db);
      };
    }
    return done();
  }
  if (k == "embedding") {
    int64_t off = b.ai("row_offset", 0);
    auto ids = b.iv(b.in(0));
    if (fwd) {
      auto table = b.cv(b.in(1));
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { embedding::forward(ids, table, y, off); };
    } else {
      auto dy = b.cv(b.dy());
      auto dt = b.fv(b.out(1));
      out = [=](int64_t) {
        if (dt)
          embedding::backward(ids, dy, dt, off);
      };
    }
    return done();
  }
  if (k == "attention" || k == "lstm") {
    size_t nOps = fwd ? t.inputs.size()
                      : (t.inputs.size() >= 2 ? t.inputs.size() - 2 : 0);
    std::vector<ConstFloatView> o(11);
    for (size_t j = 0; j < o.size(); ++j)
      o[j] = j < nOps ? b.cv(b.in(j)) : ConstFloatView();
    if (k == "attention") {
      attention::Params p;
      p.numHeads = b.ai("num_heads", 1);
      p.causal = b.ab("causal");
      p.queryOffset = b.ai("query_offset", 0);
      if (fwd) {
        float *saved = b.ptr<float>(b.out(1));
        auto y = b.fv(b.out(0));
        out = [=](int64_t) {
          attention::forward(o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7],
                             o[8], o[9], o[10], y, p, saved);
        };
      } else {
        const float *saved = b.ptr<float>(b.in(nOps));
        auto dy = b.cv(b.dy());
        attention::Grads g{b.fv(b.out(0)), b.fv(b.out(1)), b.fv(b.out(2)),
                           b.fv(b.out(3)), b.fv(b.out(4)), b.fv(b.out(5)),
                           b.fv(b.out(6)), b.fv(b.out(7)), b.fv(b.out(8)),
                           b.fv(b.out(9)), b.fv(b.out(10))};
        out = [=](int64_t) {
          attention::backward(o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7],
                              o[8], o[9], dy, g, p, saved);
        };
      }
    } else {
      if (fwd) {
        float *saved = b.ptr<float>(b.out(1));
        auto y = b.fv(b.out(0));
        out = [=](int64_t) { lstm::forward(o[0], o[1], o[2], o[3], y, saved); };
      } else {
        const float *saved = b.ptr<float>(b.in(nOps));
        auto dy = b.cv(b.dy());
        auto d0 = b.fv(b.out(0)), d1 = b.fv(b.out(1)), d2 = b.fv(b.out(2)),
             d3 = b.fv(b.out(3));
        out = [=](int64_t) {
          lstm::backward(o[0], o[1], o[2], o[3], dy, d0, d1, d2, d3, saved);
        };
      }
    }
    return done();
  }
  if (unaries().count(k)) {
    unary::Kind kind = unaries().at(k);
    auto x = b.cv(b.in(0));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { unary::forward(kind, x, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { unary::backward(kind, x, dy, dx); };
    }
    return done();
  }
  if (binaries().count(k)) {
    binary::Kind kind = binaries().at(k);
    auto x = b.cv(b.in(0)), y = b.cv(b.in(1));
    if (fwd) {
      auto r = b.fv(b.out(0));
      out = [=](int64_t) { binary::forward(kind, x, y, r); };
    } else {
      auto dy = b.cv(b.dy());
      auto da = b.fv(b.out(0)), db = b.fv(b.out(1));
      out = [=](int64_t) { binary::backward(kind, x, y, dy, da, db); };
    }
    return done();
  }
  if (k == "softmax") {
    int64_t axis = b.ai("axis", -1);
    auto x = b.cv(b.in(0));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { softmax::forward(x, axis, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { softmax::backward(x, dy, axis, dx); };
    }
    return done();
  }
  if (k == "dropout_mask") {
    dropout::GlobalIndex where;
    int64_t seed = 0;
    dropoutStream(b, settings, where, seed);
    double ratio = b.af("ratio", 0);
    auto mask = b.typed<uint8_t>(b.out(0), DType::I1);
    out = [=](int64_t step) { dropout::mask(mask, ratio, seed, step, where); };
    return done();
  }
  if (auto it = predicates().find(k); it != predicates().end() && fwd)
    return bindPredicate(b, it->second, out);
  if (k == "not" && fwd) {
    auto x = b.typed<const uint8_t>(b.in(0), DType::I1);
    auto y = b.typed<uint8_t>(b.out(0), DType::I1);
    out = [=](int64_t) { predicate::logicalNot(x, y); };
    return done();
  }
  if (k == "dropout") {
    dropout::GlobalIndex where;
    int64_t seed = 0;
    dropoutStream(b, settings, where, seed);
    double ratio = b.af("ratio", 0);
    if (fwd) {
      auto x = b.cv(b.in(0));
      auto y = b.fv(b.out(0));
      out = [=](int64_t step) {
        dropout::forward(x, y, ratio, seed, step, where);
      };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t step) {
        dropout::backward(dy, dx, ratio, seed, step, where);
      };
    }
    return done();
  }
  if (k == "reshape" || k == "flatten") {
    if (fwd) {
      auto y = b.fv(b.out(0));
      ConstFloatView x = b.cv(b.in(0));
      if (x && y)
        x = x.reshape(y.shape);
      out = [=](int64_t) { reshape::forward(x, y); };
    } else {
      auto dx = b.fv(b.out(0));
      ConstFloatView dy = b.cv(b.dy());
      if (dy && dx)
        dy = dy.reshape(dx.shape);
      out = [=](int64_t) { reshape::backward(dy, dx); };
    }
    return done();
  }
  if (k == "transpose") {
    std::vector<int64_t> perm = b.ais("permutation");
    if (fwd) {
      auto x = b.cv(b.in(0));
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { transpose::forward(x, perm, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { transpose::backward(dy, perm, dx); };
    }
    return done();
  }
  if (k == "concat") {
    int64_t axis = b.ai("axis", 0);
    if (fwd) {
      std::vector<ConstFloatView> xs;
      for (int id : t.inputs)
        xs.push_back(b.cv(id));
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { concat::forward(xs, axis, y); };
    } else {
      std::vector<FloatView> dxs;
      for (int id : t.outputs)
        dxs.push_back(b.fv(id));
      auto dy = b.cv(b.dy());
      out = [=](int64_t) { concat::backward(dy, axis, dxs); };
    }
    return done();
  }
  if (k == "split") {
    int64_t axis = b.ai("axis", 0);
    if (fwd) {
      std::vector<FloatView> ys;
      for (int id : t.outputs)
        ys.push_back(b.fv(id));
      auto x = b.cv(b.in(0));
      out = [=](int64_t) { split::forward(x, axis, ys); };
    } else {
      std::vector<ConstFloatView> dys;
      for (size_t j = 1; j < t.inputs.size(); ++j)
        dys.push_back(b.cv(t.inputs[j]));
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { split::backward(dys, axis, dx); };
    }
    return done();
  }
  if (k == "slice") {
    std::vector<int64_t> starts = b.ais("starts"), ends = b.ais("ends"),
                         steps = b.ais("steps");
    if (fwd) {
      auto x = b.cv(b.in(0));
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { slice::forward(x, starts, ends, steps, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { slice::backward(dy, starts, ends, steps, dx); };
    }
    return done();
  }
  if (reductions().count(k)) {
    reduce::Kind kind = reductions().at(k);
    std::vector<int64_t> axes = b.ais("axes");
    auto x = b.cv(b.in(0));
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) { reduce::forward(kind, x, axes, y); };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) { reduce::backward(kind, x, axes, dy, dx); };
    }
    return done();
  }
  if (k == "cast") {
    // Raw buffers of any soap element type (the one op not on f32 views).
    auto type = [](DType t) {
      switch (t) {
      case DType::F16:
        return cast::Type::F16;
      case DType::BF16:
        return cast::Type::BF16;
      case DType::F64:
        return cast::Type::F64;
      case DType::I32:
        return cast::Type::I32;
      case DType::I64:
        return cast::Type::I64;
      case DType::I1:
        return cast::Type::I1;
      default:
        return cast::Type::F32;
      }
    };
    BufferRef x = b.ref(b.in(0)), y = b.ref(fwd ? b.out(0) : b.dy());
    BufferRef dx = fwd ? BufferRef() : b.ref(b.out(0));
    if (!fwd && (!y.meta || !dx.meta)) {
      out = [](int64_t) {}; // no gradient crosses an integer side
      return done();
    }
    if (!x.meta || !y.meta)
      return b.problem.empty() ? "cast needs its input and result" : b.problem;
    cast::Type xt = type(x.meta->dtype), yt = type(y.meta->dtype);
    int64_t n = 1;
    for (int64_t d : x.meta->shape)
      n *= d;
    if (fwd)
      out = [=](int64_t) { cast::forward(x.data, xt, y.data, yt, n); };
    else
      out = [=](int64_t) { cast::backward(y.data, yt, dx.data, xt, n); };
    return done();
  }
  if (k == "softmax_cross_entropy") {
    // Operands: logits, labels and the optional class weights (backward:
    // then the loss gradient).
    softmax_cross_entropy::Options o;
    o.globalCount = b.ai("global_count", 0);
    std::string red = b.as("reduction");
    o.reduction = red == "sum"    ? softmax_cross_entropy::Reduction::Sum
                  : red == "none" ? softmax_cross_entropy::Reduction::None
                                  : softmax_cross_entropy::Reduction::Mean;
    if (red != "" && red != "mean" && red != "sum" && red != "none")
      return "unknown softmax_cross_entropy reduction '" + red + "'";
    o.hasIgnoreIndex = b.attr("ignore_index") != nullptr;
    o.ignoreIndex = b.ai("ignore_index", 0);
    bool hasWeight = t.inputs.size() >= (fwd ? 3u : 4u);
    auto logits = b.cv(b.in(0));
    auto labels = b.iv(b.in(1));
    ConstFloatView weight = hasWeight ? b.cv(b.in(2)) : ConstFloatView();
    if (fwd) {
      auto loss = b.fv(b.out(0));
      out = [=](int64_t) {
        softmax_cross_entropy::forward(logits, labels, weight, o, loss);
      };
    } else {
      auto dl = b.cv(b.dy());
      auto dx = b.fv(b.out(0));
      auto dw = hasWeight ? b.fv(b.out(2)) : FloatView();
      out = [=](int64_t) {
        softmax_cross_entropy::backward(logits, labels, weight, o, dl, dx, dw);
      };
    }
    return done();
  }
  if (k == "mse_loss") {
    int64_t count = b.ai("global_count", 0);
    auto pred = b.cv(b.in(0)), target = b.cv(b.in(1));
    if (fwd) {
      float *loss = b.ptr<float>(b.out(0));
      out = [=](int64_t) { loss[0] = mse_loss::forward(pred, target, count); };
    } else {
      const float *dl = b.ptr<float>(b.dy());
      auto dp = b.fv(b.out(0)), dt = b.fv(b.out(1));
      out = [=](int64_t) {
        mse_loss::backward(pred, target, dl[0], dp, dt, count);
      };
    }
    return done();
  }
  if (k == "topk_gate") {
    int64_t topk = b.ai("k", 1);
    auto logits = b.cv(b.in(0));
    if (fwd) {
      auto w = b.fv(b.out(0));
      int64_t *idx = b.ptr<int64_t>(b.out(1));
      out = [=](int64_t) { topk_gate::forward(logits, topk, w, idx); };
    } else {
      const int64_t *idx = b.ptr<int64_t>(b.in(1));
      auto dw = b.cv(b.in(2));
      auto dx = b.fv(b.out(0));
      out = [=](int64_t) {
        if (dx)
          topk_gate::backward(logits, idx, dw, dx);
      };
    }
    return done();
  }
  if (k == "experts") {
    int64_t numExperts = b.ai("num_experts", 1);
    if (t.part == "count") {
      auto idx = b.iv(b.in(0));
      int64_t *counts = b.ptr<int64_t>(b.out(0));
      out = [=](int64_t) { experts::countAssignments(idx, numExperts, counts); };
      return done();
    }
    experts::Params p;
    p.capacity = b.ai("capacity", 0);
    p.activation = b.as("activation") == "gelu" ? experts::Activation::Gelu
                                                 : experts::Activation::Relu;
    p.expertOffset = b.ai("expert_offset", 0);
    int64_t localExperts = b.shape(b.in(3)).empty() ? 0 : b.shape(b.in(3))[0];
    const int64_t *counts = b.ptr<int64_t>(b.in(5));
    int64_t countCols = b.in(5) >= 0 && b.shape(b.in(5)).size() == 2
                            ? b.shape(b.in(5))[1]
                            : 0;
    int64_t shard = b.ai("token_shard", 0);
    auto prior = std::make_shared<std::vector<int64_t>>(localExperts, 0);
    auto x = b.cv(b.in(0)), gw = b.cv(b.in(1));
    auto gi = b.iv(b.in(2));
    auto w1 = b.cv(b.in(3)), w2 = b.cv(b.in(4));
    auto withPrior = [=](experts::Params q) {
      if (counts) {
        std::fill(prior->begin(), prior->end(), 0);
        for (int64_t i = 0; i < shard; ++i)
          for (int64_t e = 0; e < localExperts; ++e)
            (*prior)[e] += counts[i * countCols + q.expertOffset + e];
        q.priorCounts = prior->data();
      }
      return q;
    };
    if (fwd) {
      auto y = b.fv(b.out(0));
      out = [=](int64_t) {
        experts::forward(x, gw, gi, w1, w2, y, withPrior(p));
      };
    } else {
      auto dy = b.cv(b.dy());
      auto dx = b.fv(b.out(0)), dgw = b.fv(b.out(1)), dw1 = b.fv(b.out(3)),
           dw2 = b.fv(b.out(4));
      out = [=](int64_t) {
        experts::backward(x, gw, gi, w1, w2, dy, dx, dgw, dw1, dw2,
                          withPrior(p));
      };
    }
    return done();
  }
  return "no CPU kernel for '" + k + "'" +
         (t.part.empty() ? "" : " (part '" + t.part + "')");
}

} // namespace soap::runtime
