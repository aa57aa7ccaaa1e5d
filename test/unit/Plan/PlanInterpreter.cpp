//===- PlanInterpreter.cpp - run a plan's ranks in one thread -------------===//
#include "PlanInterpreter.h"

#include "soap/Runtime/Cpu/Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

namespace soap::test {

namespace {

using namespace soap::cpu;

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hashName(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

/// Uniform in [-1, 1) from (hash of a name, index).
double unit(uint64_t nameHash, int64_t index) {
  uint64_t bits =
      mix(nameHash + static_cast<uint64_t>(index + 1) * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/// Calls f(local flat index, global flat index) for every element of a box.
void forBox(const std::vector<int64_t> &shape,
            const std::vector<int64_t> &globalShape,
            const std::vector<int64_t> &offset,
            const std::function<void(int64_t, int64_t)> &f) {
  const size_t rank = shape.size();
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t g = 0;
    for (size_t a = 0; a < rank; ++a)
      g = g * globalShape[a] + offset[a] + idx[a];
    f(k, g);
    for (size_t a = rank; a-- > 0;) {
      if (++idx[a] < shape[a])
        break;
      idx[a] = 0;
    }
  }
}

/// Flat indices (in a buffer of `shape`) of the elements of a region.
std::vector<int64_t> regionIndices(const std::vector<int64_t> &shape,
                                   const PlanRegion &r) {
  std::vector<int64_t> out;
  forBox(r.shape, shape, r.offset, [&](int64_t, int64_t g) { out.push_back(g); });
  return out;
}

struct Store {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
  float *f() { return reinterpret_cast<float *>(bytes.data()); }
  double *d() { return reinterpret_cast<double *>(bytes.data()); }
  int64_t *i64() { return reinterpret_cast<int64_t *>(bytes.data()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    return n;
  }
  double get(int64_t i) const {
    const unsigned char *p = bytes.data();
    switch (dtype) {
    case DType::F64:
      return reinterpret_cast<const double *>(p)[i];
    case DType::I64:
      return static_cast<double>(reinterpret_cast<const int64_t *>(p)[i]);
    case DType::I32:
      return reinterpret_cast<const int32_t *>(p)[i];
    default:
      return reinterpret_cast<const float *>(p)[i];
    }
  }
  void set(int64_t i, double v, bool add) {
    unsigned char *p = bytes.data();
    switch (dtype) {
    case DType::F64: {
      double &x = reinterpret_cast<double *>(p)[i];
      x = add ? x + v : v;
      break;
    }
    case DType::I64: {
      int64_t &x = reinterpret_cast<int64_t *>(p)[i];
      x = add ? x + static_cast<int64_t>(v) : static_cast<int64_t>(v);
      break;
    }
    case DType::I32: {
      int32_t &x = reinterpret_cast<int32_t *>(p)[i];
      x = add ? x + static_cast<int32_t>(v) : static_cast<int32_t>(v);
      break;
    }
    default: {
      float &x = reinterpret_cast<float *>(p)[i];
      x = add ? x + static_cast<float>(v) : static_cast<float>(v);
    }
    }
  }
};

class Interpreter {
public:
  explicit Interpreter(const Plan &p) : plan(p) {}
  PlanRun run(int steps);

private:
  void init();
  std::string execute(int rank, const PlanTask &t, int step);
  std::string kernel(int rank, const PlanTask &t, int step);

  Store &buf(int rank, int id) { return stores[rank].at(id); }
  FloatView fv(int rank, int id) {
    if (id < 0)
      return {};
    Store &s = buf(rank, id);
    return FloatView(s.f(), Shape(s.shape));
  }
  ConstFloatView cv(int rank, int id) { return fv(rank, id); }
  IndexView iv(int rank, int id) {
    Store &s = buf(rank, id);
    if (s.dtype == DType::I32)
      return IndexView(reinterpret_cast<const int32_t *>(s.bytes.data()),
                       Shape(s.shape));
    return IndexView(s.i64(), Shape(s.shape));
  }

  const Plan &plan;
  std::vector<std::map<int, Store>> stores;
};

void Interpreter::init() {
  stores.assign(plan.ranks.size(), {});
  std::map<std::string, const PlanWeight *> weights;
  for (const PlanWeight &w : plan.weights)
    weights[w.name] = &w;
  std::map<std::string, const PlanInput *> inputs;
  for (const PlanInput &in : plan.inputs)
    inputs[in.name] = &in;
  std::map<std::string, const PlanConstant *> constants;
  for (const PlanConstant &c : plan.constants)
    constants[c.name] = &c;
  for (const RankPlan &r : plan.ranks)
    for (const PlanBuffer &b : r.buffers) {
      Store s;
      s.dtype = b.dtype;
      s.shape = b.shape;
      s.bytes.assign(static_cast<size_t>(b.bytes()), 0);
      auto fill = [&](const std::function<double(int64_t)> &value) {
        forBox(b.shape, b.globalShape, b.offset,
               [&](int64_t k, int64_t g) { s.set(k, value(g), false); });
      };
      if (b.role == BufferRole::Weight && weights.count(b.tensor)) {
        const PlanWeight &w = *weights[b.tensor];
        // Uniform with the variance of 1 / fan-in (the rows a product sums
        // over), so that deep models keep moderate activations and
        // gradients.
        int64_t fanIn = 0;
        if (w.shape.size() == 2)
          fanIn = w.shape[0];
        else if (w.shape.size() == 3)
          fanIn = w.shape[1];
        else if (w.shape.size() == 4)
          fanIn = w.shape[1] * w.shape[2] * w.shape[3];
        double bound = fanIn > 0 ? std::sqrt(3.0 / static_cast<double>(fanIn))
                                 : 0.1;
        const uint64_t h = hashName(w.name);
        if (w.init == "zeros" || w.init == "ones" || w.init == "constant") {
          double v = w.init == "zeros" ? 0.0 : w.init == "ones" ? 1.0 : w.scale;
          fill([&](int64_t) { return v; });
        } else if (w.init == "value" && !w.values.empty()) {
          fill([&](int64_t g) { return w.values[w.values.size() == 1 ? 0 : g]; });
        } else {
          fill([&](int64_t g) { return bound * unit(h, g); });
        }
      } else if ((b.role == BufferRole::Input || b.role == BufferRole::Label) &&
                 inputs.count(b.tensor)) {
        const PlanInput &in = *inputs[b.tensor];
        bool isInt = in.dtype == DType::I64 || in.dtype == DType::I32;
        const uint64_t h = hashName(in.name);
        const int64_t range = in.range > 0 ? in.range : 2;
        fill([&](int64_t g) -> double {
          if (!isInt)
            return unit(h, g);
          return static_cast<double>(mix(h + static_cast<uint64_t>(g)) %
                                     static_cast<uint64_t>(range));
        });
      } else if (b.role == BufferRole::Constant && constants.count(b.tensor)) {
        const PlanConstant &c = *constants[b.tensor];
        fill([&](int64_t g) {
          return c.values.size() == 1 ? c.values[0] : c.values[g];
        });
      } else if (b.role == BufferRole::State) {
        // Running mean 0, running variance 1.
        fill([&](int64_t g) -> double {
          return g < b.globalShape.back() ? 0.0 : 1.0;
        });
      }
      stores[r.rank].emplace(b.id, std::move(s));
    }
}

std::string Interpreter::execute(int rank, const PlanTask &t, int step) {
  switch (t.type) {
  case TaskType::Fill: {
    Store &s = buf(rank, t.buffer);
    for (int64_t i = 0; i < s.numel(); ++i)
      s.set(i, t.value, false);
    return "";
  }
  case TaskType::Copy: {
    Store &src = buf(rank, t.src);
    Store &dst = buf(rank, t.buffer);
    std::vector<int64_t> from = regionIndices(src.shape, t.srcRegion);
    std::vector<int64_t> to = regionIndices(dst.shape, t.region);
    std::vector<double> values;
    for (int64_t i : from)
      values.push_back(src.get(i));
    for (size_t k = 0; k < to.size(); ++k)
      dst.set(to[k], values[k], t.accumulate);
    return "";
  }
  case TaskType::Kernel:
    return kernel(rank, t, step);
  default:
    return "not a local task";
  }
}

std::string Interpreter::kernel(int rank, const PlanTask &t, int step) {
  auto in = [&](size_t k) { return k < t.inputs.size() ? t.inputs[k] : -1; };
  auto out = [&](size_t k) { return k < t.outputs.size() ? t.outputs[k] : -1; };
  auto attr = [&](const char *name) -> const PlanAttr * {
    auto it = t.attrs.find(name);
    return it == t.attrs.end() ? nullptr : &it->second;
  };
  auto ai = [&](const char *name, int64_t dflt) {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Int ? a->i : dflt;
  };
  auto af = [&](const char *name, double dflt) {
    const PlanAttr *a = attr(name);
    if (!a)
      return dflt;
    return a->kind == PlanAttr::Kind::Float ? a->f
                                            : static_cast<double>(a->i);
  };
  auto ab = [&](const char *name) {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Bool && a->b;
  };
  auto ais = [&](const char *name) {
    const PlanAttr *a = attr(name);
    return a && a->kind == PlanAttr::Kind::Ints ? a->ints
                                                : std::vector<int64_t>{};
  };
  const bool fwd = t.phase == Phase::Forward;
  const std::string &k = t.kind;
  // Backward: the forward's inputs (and extras), then one dy per result.
  auto dy = [&]() { return t.inputs.back(); };

  static const std::map<std::string, unary::Kind> unaries = {
      {"relu", unary::Kind::Relu},     {"gelu", unary::Kind::Gelu},
      {"sigmoid", unary::Kind::Sigmoid}, {"tanh", unary::Kind::Tanh},
      {"exp", unary::Kind::Exp},       {"log", unary::Kind::Log},
      {"neg", unary::Kind::Neg},       {"sqrt", unary::Kind::Sqrt},
      {"erf", unary::Kind::Erf}};
  static const std::map<std::string, binary::Kind> binaries = {
      {"add", binary::Kind::Add},
      {"sub", binary::Kind::Sub},
      {"mul", binary::Kind::Mul},
      {"div", binary::Kind::Div}};
  static const std::map<std::string, reduce::Kind> reductions = {
      {"reduce_sum", reduce::Kind::Sum},
      {"reduce_mean", reduce::Kind::Mean},
      {"reduce_max", reduce::Kind::Max}};

  // A backward with no gradient to compute (an op on model inputs only).
  if (t.phase == Phase::Backward &&
      std::all_of(t.outputs.begin(), t.outputs.end(),
                  [](int id) { return id < 0; }))
    return "";

  if (t.phase == Phase::Update) {
    Store &p = buf(rank, in(0));
    const float *g = buf(rank, in(1)).f();
    const OptimizerSettings &o = plan.optimizer;
    if (o.kind == OptimizerSettings::Kind::Sgd) {
      SgdOptions so{o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov};
      float *m = in(2) >= 0 ? buf(rank, in(2)).f() : nullptr;
      sgdStep(p.f(), g, m, p.numel(), so, step == 1);
    } else {
      AdamOptions ao{o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.decoupled};
      adamStep(p.f(), g, buf(rank, in(2)).f(), buf(rank, in(3)).f(), p.numel(),
               step, ao);
    }
    return "";
  }

  if (k == "linear") {
    if (fwd) {
      linear::forward(cv(rank, in(0)), cv(rank, in(1)), cv(rank, in(2)),
                      fv(rank, out(0)));
    } else {
      linear::backward(cv(rank, in(0)), cv(rank, in(1)), cv(rank, dy()),
                       fv(rank, out(0)), fv(rank, out(1)), fv(rank, out(2)));
    }
  } else if (k == "matmul") {
    if (fwd)
      matmul::forward(cv(rank, in(0)), cv(rank, in(1)), fv(rank, out(0)));
    else
      matmul::backward(cv(rank, in(0)), cv(rank, in(1)), cv(rank, dy()),
                       fv(rank, out(0)), fv(rank, out(1)));
  } else if (k == "conv2d") {
    conv2d::Params p;
    std::vector<int64_t> s = ais("strides"), pad = ais("padding"),
                         dil = ais("dilations");
    for (int a = 0; a < 2; ++a) {
      p.strides[a] = s.size() == 2 ? s[a] : 1;
      p.dilations[a] = dil.size() == 2 ? dil[a] : 1;
    }
    for (int a = 0; a < 4; ++a)
      p.padding[a] = pad.size() == 4 ? pad[a] : 0;
    p.groups = ai("groups", 1);
    ConstFloatView x = cv(rank, in(0));
    std::vector<float> narrowed;
    std::vector<int64_t> chans = ais("input_channels");
    if (chans.size() == 2) {
      // A grouped conv's cout shard reads only its groups' channels.
      FloatView whole = fv(rank, in(0));
      FloatView part = whole.narrow(1, chans[0], chans[1]);
      narrowed.resize(part.numel());
      FloatView dense(narrowed.data(), part.shape);
      copy(part, dense);
      x = dense;
    }
    if (fwd) {
      conv2d::forward(x, cv(rank, in(1)), cv(rank, in(2)), fv(rank, out(0)), p);
    } else {
      FloatView dx = fv(rank, out(0));
      std::vector<float> dnarrow;
      FloatView dxUse = dx;
      if (chans.size() == 2 && dx) {
        dnarrow.assign(x.numel(), 0.0f);
        dxUse = FloatView(dnarrow.data(), x.shape);
      }
      conv2d::backward(x, cv(rank, in(1)), cv(rank, dy()), dxUse,
                       fv(rank, out(1)), fv(rank, out(2)), p);
      if (chans.size() == 2 && dx)
        accumulate(dxUse, dx.narrow(1, chans[0], chans[1]));
    }
  } else if (k == "pool2d") {
    pool2d::Params p;
    p.kind = attr("kind") && attr("kind")->s == "avg" ? pool2d::Kind::Avg
                                                      : pool2d::Kind::Max;
    std::vector<int64_t> ker = ais("kernel"), s = ais("strides"),
                         pad = ais("padding");
    for (int a = 0; a < 2; ++a) {
      p.kernel[a] = ker[a];
      p.strides[a] = s[a];
    }
    for (int a = 0; a < 4; ++a)
      p.padding[a] = pad[a];
    p.countIncludePad = ab("count_include_pad");
    if (fwd)
      pool2d::forward(cv(rank, in(0)), fv(rank, out(0)), p);
    else
      pool2d::backward(cv(rank, in(0)), cv(rank, dy()), fv(rank, out(0)), p);
  } else if (k == "batch_norm") {
    int64_t count = ai("count", 1);
    double eps = af("epsilon", 1e-5);
    if (fwd && t.part == "stats") {
      Store &st = buf(rank, out(0));
      int64_t c = st.shape[1];
      batch_norm::localSums(cv(rank, in(0)), st.d(), st.d() + c);
    } else if (fwd && t.part == "normalize") {
      Store &st = buf(rank, in(3));
      int64_t c = st.shape[1];
      Store &saved = buf(rank, out(1));
      std::vector<float> var(c);
      batch_norm::finalizeStats(st.d(), st.d() + c, count, c, eps, saved.f(),
                                var.data(), saved.f() + c);
      batch_norm::normalize(cv(rank, in(0)), saved.f(), saved.f() + c,
                            cv(rank, in(1)), cv(rank, in(2)), fv(rank, out(0)));
      if (out(2) >= 0) {
        Store &run = buf(rank, out(2));
        batch_norm::updateRunningStats(saved.f(), var.data(), count, c,
                                       af("momentum", 0.1), run.f(),
                                       run.f() + c);
      }
    } else if (!fwd && t.part == "stats") {
      Store &saved = buf(rank, in(2));
      Store &bs = buf(rank, out(0));
      int64_t c = bs.shape[1];
      batch_norm::backwardLocalSums(cv(rank, in(0)), cv(rank, in(1)), saved.f(),
                                    saved.f() + c, bs.d(), bs.d() + c);
    } else if (!fwd && t.part == "params") {
      Store &bs = buf(rank, in(0));
      int64_t c = bs.shape[1];
      batch_norm::backwardParams(bs.d(), bs.d() + c, c, fv(rank, out(0)),
                                 fv(rank, out(1)));
    } else if (!fwd && t.part == "input") {
      Store &saved = buf(rank, in(3));
      Store &bs = buf(rank, in(4));
      int64_t c = bs.shape[1];
      if (out(0) >= 0)
        batch_norm::backwardInput(cv(rank, in(0)), cv(rank, in(1)), saved.f(),
                                  saved.f() + c, cv(rank, in(2)), bs.d(),
                                  bs.d() + c, count, fv(rank, out(0)));
    } else {
      return "batch_norm part '" + t.part + "'";
    }
  } else if (k == "layer_norm") {
    int64_t axis = ai("axis", -1);
    double eps = af("epsilon", 1e-5);
    if (fwd)
      layer_norm::forward(cv(rank, in(0)), cv(rank, in(1)), cv(rank, in(2)),
                          axis, eps, fv(rank, out(0)));
    else
      layer_norm::backward(cv(rank, in(0)), cv(rank, in(1)), cv(rank, dy()),
                           axis, eps, fv(rank, out(0)), fv(rank, out(1)),
                           fv(rank, out(2)));
  } else if (k == "embedding") {
    int64_t off = ai("row_offset", 0);
    if (fwd)
      embedding::forward(iv(rank, in(0)), cv(rank, in(1)), fv(rank, out(0)), off);
    else if (out(1) >= 0)
      embedding::backward(iv(rank, in(0)), cv(rank, dy()), fv(rank, out(1)), off);
  } else if (k == "attention") {
    attention::Params p;
    p.numHeads = ai("num_heads", 1);
    p.causal = ab("causal");
    p.queryOffset = ai("query_offset", 0);
    size_t nOps = fwd ? t.inputs.size() : t.inputs.size() - 2;
    auto opnd = [&](size_t j) { return j < nOps ? cv(rank, in(j)) : ConstFloatView(); };
    if (fwd) {
      float *saved = out(1) >= 0 ? buf(rank, out(1)).f() : nullptr;
      attention::forward(opnd(0), opnd(1), opnd(2), opnd(3), opnd(4), opnd(5),
                         opnd(6), opnd(7), opnd(8), opnd(9), opnd(10),
                         fv(rank, out(0)), p, saved);
    } else {
      int savedId = in(nOps);
      const float *saved = savedId >= 0 ? buf(rank, savedId).f() : nullptr;
      attention::Grads g{fv(rank, out(0)),  fv(rank, out(1)), fv(rank, out(2)),
                         fv(rank, out(3)),  fv(rank, out(4)), fv(rank, out(5)),
                         fv(rank, out(6)),  fv(rank, out(7)), fv(rank, out(8)),
                         fv(rank, out(9)),  fv(rank, out(10))};
      attention::backward(opnd(0), opnd(1), opnd(2), opnd(3), opnd(4), opnd(5),
                          opnd(6), opnd(7), opnd(8), opnd(9), cv(rank, dy()), g,
                          p, saved);
    }
  } else if (k == "lstm") {
    size_t nOps = fwd ? t.inputs.size() : t.inputs.size() - 2;
    auto opnd = [&](size_t j) { return j < nOps ? cv(rank, in(j)) : ConstFloatView(); };
    if (fwd) {
      float *saved = out(1) >= 0 ? buf(rank, out(1)).f() : nullptr;
      lstm::forward(opnd(0), opnd(1), opnd(2), opnd(3), fv(rank, out(0)), saved);
    } else {
      int savedId = in(nOps);
      const float *saved = savedId >= 0 ? buf(rank, savedId).f() : nullptr;
      lstm::backward(opnd(0), opnd(1), opnd(2), opnd(3), cv(rank, dy()),
                     fv(rank, out(0)), fv(rank, out(1)), fv(rank, out(2)),
                     fv(rank, out(3)), saved);
    }
  } else if (unaries.count(k)) {
    if (fwd)
      unary::forward(unaries.at(k), cv(rank, in(0)), fv(rank, out(0)));
    else if (out(0) >= 0)
      unary::backward(unaries.at(k), cv(rank, in(0)), cv(rank, dy()),
                      fv(rank, out(0)));
  } else if (binaries.count(k)) {
    if (fwd)
      binary::forward(binaries.at(k), cv(rank, in(0)), cv(rank, in(1)),
                      fv(rank, out(0)));
    else
      binary::backward(binaries.at(k), cv(rank, in(0)), cv(rank, in(1)),
                       cv(rank, dy()), fv(rank, out(0)), fv(rank, out(1)));
  } else if (k == "softmax") {
    if (fwd)
      softmax::forward(cv(rank, in(0)), ai("axis", -1), fv(rank, out(0)));
    else if (out(0) >= 0)
      softmax::backward(cv(rank, in(0)), cv(rank, dy()), ai("axis", -1),
                        fv(rank, out(0)));
  } else if (k == "dropout") {
    dropout::GlobalIndex where;
    std::vector<int64_t> gs = ais("global_shape"), off = ais("offset");
    where.global = Shape(gs);
    for (size_t a = 0; a < off.size(); ++a)
      where.offsets[a] = off[a];
    int64_t seed = static_cast<int64_t>(
        static_cast<uint64_t>(ai("seed", 0)) ^
        (static_cast<uint64_t>(ai("salt", 0)) * 0x9E3779B97F4A7C15ull));
    double ratio = af("ratio", 0);
    if (fwd)
      dropout::forward(cv(rank, in(0)), fv(rank, out(0)), ratio, seed, step,
                       where);
    else if (out(0) >= 0)
      dropout::backward(cv(rank, dy()), fv(rank, out(0)), ratio, seed, step,
                        where);
  } else if (k == "reshape" || k == "flatten") {
    if (fwd) {
      FloatView y = fv(rank, out(0));
      reshape::forward(cv(rank, in(0)).reshape(y.shape), y);
    } else if (out(0) >= 0) {
      FloatView dx = fv(rank, out(0));
      reshape::backward(cv(rank, dy()).reshape(dx.shape), dx);
    }
  } else if (k == "transpose") {
    std::vector<int64_t> perm = ais("permutation");
    if (fwd)
      transpose::forward(cv(rank, in(0)), perm, fv(rank, out(0)));
    else if (out(0) >= 0)
      transpose::backward(cv(rank, dy()), perm, fv(rank, out(0)));
  } else if (k == "concat") {
    int64_t axis = ai("axis", 0);
    if (fwd) {
      std::vector<ConstFloatView> xs;
      for (int id : t.inputs)
        xs.push_back(cv(rank, id));
      concat::forward(xs, axis, fv(rank, out(0)));
    } else {
      std::vector<FloatView> dxs;
      for (int id : t.outputs)
        dxs.push_back(fv(rank, id));
      concat::backward(cv(rank, dy()), axis, dxs);
    }
  } else if (k == "split") {
    int64_t axis = ai("axis", 0);
    if (fwd) {
      std::vector<FloatView> ys;
      for (int id : t.outputs)
        ys.push_back(fv(rank, id));
      split::forward(cv(rank, in(0)), axis, ys);
    } else if (out(0) >= 0) {
      std::vector<ConstFloatView> dys;
      for (size_t j = 1; j < t.inputs.size(); ++j)
        dys.push_back(cv(rank, t.inputs[j]));
      split::backward(dys, axis, fv(rank, out(0)));
    }
  } else if (k == "slice") {
    std::vector<int64_t> starts = ais("starts"), ends = ais("ends"),
                         steps = ais("steps");
    if (fwd)
      slice::forward(cv(rank, in(0)), starts, ends, steps, fv(rank, out(0)));
    else if (out(0) >= 0)
      slice::backward(cv(rank, dy()), starts, ends, steps, fv(rank, out(0)));
  } else if (reductions.count(k)) {
    std::vector<int64_t> axes = ais("axes");
    if (fwd)
      reduce::forward(reductions.at(k), cv(rank, in(0)), axes, fv(rank, out(0)));
    else if (out(0) >= 0)
      reduce::backward(reductions.at(k), cv(rank, in(0)), axes, cv(rank, dy()),
                       fv(rank, out(0)));
  } else if (k == "softmax_cross_entropy") {
    int64_t count = ai("global_count", 0);
    if (fwd)
      buf(rank, out(0)).f()[0] = softmax_cross_entropy::forward(
          cv(rank, in(0)), iv(rank, in(1)), count);
    else
      softmax_cross_entropy::backward(cv(rank, in(0)), iv(rank, in(1)),
                                      buf(rank, dy()).f()[0], fv(rank, out(0)),
                                      count);
  } else if (k == "mse_loss") {
    int64_t count = ai("global_count", 0);
    if (fwd)
      buf(rank, out(0)).f()[0] =
          mse_loss::forward(cv(rank, in(0)), cv(rank, in(1)), count);
    else
      mse_loss::backward(cv(rank, in(0)), cv(rank, in(1)),
                         buf(rank, dy()).f()[0], fv(rank, out(0)),
                         fv(rank, out(1)), count);
  } else if (k == "topk_gate") {
    if (fwd)
      topk_gate::forward(cv(rank, in(0)), ai("k", 1), fv(rank, out(0)),
                         buf(rank, out(1)).i64());
    else if (out(0) >= 0)
      topk_gate::backward(cv(rank, in(0)), buf(rank, in(1)).i64(),
                          cv(rank, in(2)), fv(rank, out(0)));
  } else if (k == "experts") {
    if (t.part == "count") {
      experts::countAssignments(iv(rank, in(0)), ai("num_experts", 1),
                                buf(rank, out(0)).i64());
      return "";
    }
    experts::Params p;
    p.capacity = ai("capacity", 0);
    p.activation = attr("activation") && attr("activation")->s == "gelu"
                       ? experts::Activation::Gelu
                       : experts::Activation::Relu;
    p.expertOffset = ai("expert_offset", 0);
    int64_t localExperts = buf(rank, in(3)).shape[0];
    std::vector<int64_t> prior(localExperts, 0);
    if (in(5) >= 0) {
      Store &g = buf(rank, in(5));
      int64_t e = g.shape[1], shard = ai("token_shard", 0);
      for (int64_t i = 0; i < shard; ++i)
        for (int64_t x = 0; x < localExperts; ++x)
          prior[x] += g.i64()[i * e + p.expertOffset + x];
      p.priorCounts = prior.data();
    }
    if (fwd)
      experts::forward(cv(rank, in(0)), cv(rank, in(1)), iv(rank, in(2)),
                       cv(rank, in(3)), cv(rank, in(4)), fv(rank, out(0)), p);
    else
      experts::backward(cv(rank, in(0)), cv(rank, in(1)), iv(rank, in(2)),
                        cv(rank, in(3)), cv(rank, in(4)), cv(rank, dy()),
                        fv(rank, out(0)), fv(rank, out(1)), fv(rank, out(3)),
                        fv(rank, out(4)), p);
  } else {
    return "no kernel for '" + k + "'";
  }
  return "";
}

PlanRun Interpreter::run(int steps) {
  PlanRun result;
  init();
  const int n = static_cast<int>(plan.ranks.size());
  for (int step = 1; step <= steps; ++step) {
    for (const RankPlan &r : plan.ranks)
      for (const PlanBuffer &b : r.buffers)
        if (b.role == BufferRole::Gradient) {
          Store &s = buf(r.rank, b.id);
          std::fill(s.bytes.begin(), s.bytes.end(), 0);
        }
    std::vector<size_t> pc(n, 0);
    auto current = [&](int r) -> const PlanTask * {
      return pc[r] < plan.ranks[r].tasks.size() ? &plan.ranks[r].tasks[pc[r]]
                                                : nullptr;
    };
    bool progress = true;
    while (progress) {
      progress = false;
      for (int r = 0; r < n; ++r) {
        while (const PlanTask *t = current(r)) {
          if (t->type == TaskType::Kernel || t->type == TaskType::Copy ||
              t->type == TaskType::Fill) {
            std::string e = execute(r, *t, step);
            if (!e.empty()) {
              result.error = "rank " + std::to_string(r) + " task " +
                             std::to_string(pc[r]) + " (" + t->op + "): " + e;
              return result;
            }
            ++pc[r];
            progress = true;
            continue;
          }
          if (t->type == TaskType::Send || t->type == TaskType::Recv) {
            const PlanTask *o = current(t->peer);
            TaskType want =
                t->type == TaskType::Send ? TaskType::Recv : TaskType::Send;
            if (!(o && o->type == want && o->peer == r && o->tag == t->tag))
              break;
            const PlanTask &snd = t->type == TaskType::Send ? *t : *o;
            const PlanTask &rcv = t->type == TaskType::Send ? *o : *t;
            int from = t->type == TaskType::Send ? r : t->peer;
            int to = t->type == TaskType::Send ? t->peer : r;
            Store &src = buf(from, snd.buffer);
            Store &dst = buf(to, rcv.buffer);
            std::vector<int64_t> a = regionIndices(src.shape, snd.region);
            std::vector<int64_t> b = regionIndices(dst.shape, rcv.region);
            for (size_t k = 0; k < a.size(); ++k)
              dst.set(b[k], src.get(a[k]), rcv.accumulate);
            ++pc[r];
            ++pc[t->peer];
            progress = true;
            continue;
          }
          const Communicator *c = plan.findCommunicator(t->comm);
          bool all = true;
          for (int m : c->ranks) {
            const PlanTask *o = current(m);
            all &= o && o->type == TaskType::Collective && o->comm == t->comm;
          }
          if (!all)
            break;
          if (t->collective == CollectiveKind::AllReduce) {
            Store &first = buf(c->ranks[0], current(c->ranks[0])->buffer);
            std::vector<double> sum(first.numel(), 0.0);
            for (int m : c->ranks) {
              Store &s = buf(m, current(m)->buffer);
              for (int64_t i = 0; i < s.numel(); ++i)
                sum[i] += s.get(i);
            }
            for (int m : c->ranks) {
              Store &s = buf(m, current(m)->buffer);
              for (int64_t i = 0; i < s.numel(); ++i)
                s.set(i, sum[i], false);
            }
          } else if (t->collective == CollectiveKind::AllGather) {
            std::vector<double> all;
            for (int m : c->ranks) {
              Store &s = buf(m, current(m)->src);
              for (int64_t i = 0; i < s.numel(); ++i)
                all.push_back(s.get(i));
            }
            for (int m : c->ranks) {
              Store &s = buf(m, current(m)->buffer);
              for (int64_t i = 0; i < s.numel(); ++i)
                s.set(i, all[i], false);
            }
          } else {
            result.error = std::string("collective ") +
                           toString(t->collective) + " is not interpreted";
            return result;
          }
          for (int m : c->ranks)
            ++pc[m];
          progress = true;
        }
      }
    }
    for (int r = 0; r < n; ++r)
      if (current(r)) {
        result.error = "deadlock at rank " + std::to_string(r) + " task " +
                       std::to_string(pc[r]);
        return result;
      }
    if (!plan.outputs.empty() && !plan.outputs[0].holders.empty()) {
      auto [rank, id] = plan.outputs[0].holders[0];
      result.losses.push_back(buf(rank, id).get(0));
    }
  }
  // Op results, assembled.
  for (const RankPlan &r : plan.ranks)
    for (const PlanBuffer &b : r.buffers) {
      if (b.role != BufferRole::Activation || b.name != b.tensor ||
          b.dtype != DType::F32)
        continue;
      int64_t n = 1;
      for (int64_t s : b.globalShape)
        n *= s;
      std::vector<float> &global = result.results[b.tensor];
      global.resize(n, 0);
      Store &s = buf(r.rank, b.id);
      forBox(b.shape, b.globalShape, b.offset,
             [&](int64_t k, int64_t g) { global[g] = s.f()[k]; });
    }
  // Weights, assembled; replicas must agree.
  std::map<std::string, const PlanWeight *> weights;
  for (const PlanWeight &w : plan.weights)
    weights[w.name] = &w;
  std::map<std::string, std::vector<char>> written;
  for (const RankPlan &r : plan.ranks)
    for (const PlanBuffer &b : r.buffers) {
      if (b.role != BufferRole::Weight || !weights.count(b.tensor))
        continue;
      const PlanWeight &w = *weights[b.tensor];
      int64_t n = 1;
      for (int64_t s : w.shape)
        n *= s;
      std::vector<float> &global = result.weights[w.name];
      std::vector<char> &seen = written[w.name];
      global.resize(n, 0);
      seen.resize(n, 0);
      Store &s = buf(r.rank, b.id);
      forBox(b.shape, b.globalShape, b.offset, [&](int64_t k, int64_t g) {
        float v = s.f()[k];
        if (seen[g] && global[g] != v && result.error.empty())
          result.error = "replicas of '" + w.name + "' disagree at element " +
                         std::to_string(g);
        global[g] = v;
        seen[g] = 1;
      });
    }
  return result;
}

} // namespace

PlanRun runPlan(const Plan &plan, int steps) {
  Interpreter i(plan);
  return i.run(steps);
}

} // namespace soap::test
