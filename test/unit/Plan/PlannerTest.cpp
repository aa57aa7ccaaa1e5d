//===- PlannerTest.cpp - plan invariants on every zoo model ---------------===//
//
// Every zoo model (small options) under data parallelism, under random
// strategies (random valid degrees, random views inside the machine) and in
// pipelines (2 stages, 1-4 micro-batches, GPipe and 1F1B) gives
// a plan whose invariants are checked here independently of the planner:
//
// - validatePlan: references, regions, every send matched by one receive of
//   the same size and tag, collectives agreeing across the ranks of each
//   communicator, and a deadlock-free blocking execution;
// - the JSON form round-trips;
// - every forward and backward kernel appears once per shard of its op
//   (m times with m micro-batches), on the shard's rank, and its buffers are
//   exactly the boxes the sharding rules give (shape, offset and global
//   shape; micro-batch k's slice of the batch);
// - the kernel FLOPs over all ranks equal the model's forward and backward
//   FLOPs plus the compute the strategy replicates on purpose (attention's
//   key/value projections under a `seq` split), nothing lost or duplicated;
// - received copies of a tensor are tiled exactly by what is written into
//   them (no element missing, none written twice);
// - every weight element is updated by each of its replicas, and the
//   gradients of replicated weights are all-reduced over exactly the ranks
//   holding the replicas.
//
//===----------------------------------------------------------------------===//
#include "soap/Driver/Compile.h"
#include "soap/Graph/Extract.h"
#include "soap/Import/Zoo.h"
#include "soap/Plan/Planner.h"
#include "soap/Search/Baselines.h"
#include "soap/Simulator/Pipeline.h"

#include "PlanTestUtil.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/StringMap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

using namespace soap;

namespace {

using namespace soap::test;

class PlannerTest : public ::testing::Test {
protected:
  PlannerTest()
      : handler(&context, [this](mlir::Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return mlir::success();
        }) {}

  OpGraph graphOf(const ZooCase &c) {
    llvm::StringMap<std::string> options;
    for (auto [k, v] : c.options)
      options[k] = v;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        zoo::buildModel(context, c.model, options);
    EXPECT_TRUE(module) << diagnostics;
    if (!module)
      return {};
    mlir::FailureOr<OpGraph> g = extractOpGraph(*module);
    EXPECT_TRUE(succeeded(g)) << diagnostics;
    return succeeded(g) ? *g : OpGraph{};
  }

  mlir::MLIRContext context;
  mlir::ScopedDiagnosticHandler handler;
  std::string diagnostics;
};

struct BoxKey {
  std::vector<int64_t> lo, shape;
  bool operator<(const BoxKey &o) const {
    return lo != o.lo ? lo < o.lo : shape < o.shape;
  }
};

/// The independent checks (see the file comment); `roundTrip` also writes
/// and parses the JSON form (the slowest check).
void checkInvariants(const OpGraph &g, const Strategy &strategy, int64_t ranks,
                     const Plan &plan, bool roundTrip = true) {
  // --- executable
  std::vector<std::string> problems = validatePlan(plan);
  ASSERT_TRUE(problems.empty()) << problems.size() << " problems, first: "
                                << problems.front();

  // --- JSON round trip
  if (roundTrip) {
    std::string text = writePlanJson(plan);
    Plan back;
    std::string error;
    ASSERT_TRUE(parsePlanJson(text, back, error)) << error;
    EXPECT_EQ(writePlanJson(back), text);
  }

  // --- which ops run a backward pass (the simulator's rule, recomputed)
  std::vector<char> bwd(g.ops.size(), g.outputs.empty() ? 1 : 0);
  std::vector<int> stack(g.outputs.begin(), g.outputs.end());
  for (int o : g.outputs)
    bwd[o] = 1;
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    for (int e : g.inEdges(i))
      if (!bwd[g.edges[e].src]) {
        bwd[g.edges[e].src] = 1;
        stack.push_back(g.edges[e].src);
      }
  }

  // --- kernels: once per shard, on its rank, with the rules' boxes
  std::vector<ShardGrid> grids;
  std::vector<OpShardingRule> rules;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    Expected<ShardGrid> grid = resolveShardGrid(g.ops[i], strategy.configs[i], ranks);
    ASSERT_TRUE(grid) << grid.error();
    grids.push_back(*grid);
    rules.push_back(shardingRule(g.ops[i]));
  }
  // With m micro-batches every kernel runs m times per shard, the k-th time
  // on micro-batch k: its sample dim's slice k of m, split as the config
  // splits the batch (ops without a sample dim whole every time).
  const int64_t micro = strategy.training.microBatches;
  std::map<std::tuple<int, int, int>, int> seen; // (op, shard, phase) -> count
  int64_t k = 0; // the micro-batch of the kernel being checked
  auto expectBox = [&](const RankPlan &r, int id, const TensorRule &rule,
                       int op, int shard, const std::string &what) {
    if (id < 0)
      return;
    const PlanBuffer *b = r.findBuffer(id);
    ASSERT_TRUE(b);
    std::vector<int64_t> degree = grids[op].degree;
    std::vector<int64_t> coord = grids[op].coords[shard];
    const auto &dims = g.ops[op].dims;
    for (size_t d = 0; d < dims.size() && micro > 1; ++d)
      if (dims[d].tag == DimTag::Sample) {
        coord[d] += k * degree[d];
        degree[d] *= micro;
        break;
      }
    std::vector<int64_t> lo, hi;
    tensorBox(rule, dims, degree, coord, lo, hi);
    std::vector<int64_t> shape(lo.size());
    for (size_t a = 0; a < lo.size(); ++a)
      shape[a] = hi[a] - lo[a];
    EXPECT_EQ(b->shape, shape) << g.ops[op].name << " shard " << shard << " "
                               << what << " (" << b->name << ")";
    EXPECT_EQ(b->offset, lo) << g.ops[op].name << " " << what;
    EXPECT_EQ(b->globalShape, rule.shape) << g.ops[op].name << " " << what;
    EXPECT_EQ(b->dtype, rule.dtype) << g.ops[op].name << " " << what;
  };
  int64_t fwdFlops = 0, bwdFlops = 0;
  for (const RankPlan &r : plan.ranks) {
    for (const PlanTask &t : r.tasks) {
      // Recomputed forwards are checked by checkTraining.
      if (t.type != TaskType::Kernel || t.phase == Phase::Update ||
          t.stage == "recompute")
        continue;
      (t.phase == Phase::Forward ? fwdFlops : bwdFlops) += t.flops;
      bool main = t.part.empty() || t.part == "normalize" || t.part == "input";
      if (!main)
        continue;
      int op = g.findOp(t.op);
      ASSERT_GE(op, 0) << t.op;
      ASSERT_GE(t.shard, 0);
      ASSERT_LT(t.shard, grids[op].numShards());
      EXPECT_EQ(grids[op].devices[t.shard], r.rank) << t.op;
      ++seen[{op, t.shard, static_cast<int>(t.phase)}];
      k = seen[{op, t.shard, static_cast<int>(t.phase)}] - 1;
      const OpNode &node = g.ops[op];
      size_t nIn = t.part == "input" ? 1 : node.operands.size();
      ASSERT_GE(t.inputs.size(), nIn);
      for (size_t j = 0; j < nIn; ++j)
        expectBox(r, t.inputs[j], rules[op].operands[j], op, t.shard,
                  "operand " + std::to_string(j));
      if (t.phase == Phase::Forward) {
        ASSERT_GE(t.outputs.size(), node.results.size());
        for (size_t k = 0; k < node.results.size(); ++k)
          expectBox(r, t.outputs[k], rules[op].results[k], op, t.shard,
                    "result " + std::to_string(k));
      } else if (t.part.empty()) {
        ASSERT_EQ(t.outputs.size(), node.operands.size());
        for (size_t j = 0; j < node.operands.size(); ++j)
          expectBox(r, t.outputs[j], rules[op].operands[j], op, t.shard,
                    "gradient of operand " + std::to_string(j));
      }
    }
  }
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (int64_t s = 0; s < grids[i].numShards(); ++s) {
      EXPECT_EQ((seen[{static_cast<int>(i), static_cast<int>(s), 0}]), micro)
          << g.ops[i].name << " forward shard " << s;
      EXPECT_EQ((seen[{static_cast<int>(i), static_cast<int>(s), 1}]),
                bwd[i] ? micro : 0)
          << g.ops[i].name << " backward shard " << s;
    }

  // --- FLOPs: the model's, plus attention's replicated key/value
  // projections under a seq split (recomputed here from the shapes).
  int64_t wantFwd = 0, wantBwd = 0;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpNode &op = g.ops[i];
    int64_t extraF = 0, extraB = 0;
    if (op.kind == "attention") {
      int64_t q = 1;
      for (size_t d = 0; d < op.dims.size(); ++d)
        if (op.dims[d].name == "seq")
          q = grids[i].degree[d];
      const auto &k = op.operands[1].tensor.shape;
      const auto &v = op.operands[2].tensor.shape;
      int64_t e = op.operands[4].tensor.shape[1];
      int64_t kvMacs = k[0] * k[1] * k[2] * e + v[0] * v[1] * v[2] * e;
      int64_t kvBias = op.operands.size() > 7 ? 2 * k[0] * k[1] * e : 0;
      extraF = (q - 1) * (2 * kvMacs + kvBias);
      extraB = (q - 1) * (4 * kvMacs + kvBias);
    }
    wantFwd += op.forwardFlops + extraF;
    if (bwd[i])
      wantBwd += op.backwardFlops + extraB;
  }
  EXPECT_EQ(fwdFlops, wantFwd);
  EXPECT_EQ(bwdFlops, wantBwd);

  // --- received copies are tiled exactly by what is written into them
  for (const RankPlan &r : plan.ranks) {
    std::set<int> kernelOutputs;
    std::map<int, std::vector<PlanRegion>> writes;
    for (const PlanTask &t : r.tasks) {
      if (t.type == TaskType::Kernel)
        kernelOutputs.insert(t.outputs.begin(), t.outputs.end());
      // ZeRO's all-gathers (and ZeRO-3's copies of their padded rows,
      // before the forward and again before the backward) fill boxes whole.
      if ((t.type == TaskType::Collective &&
           t.collective == CollectiveKind::AllGather) ||
          t.stage == "weight-gather")
        kernelOutputs.insert(t.buffer);
      if ((t.type == TaskType::Recv || t.type == TaskType::Copy) &&
          !t.accumulate)
        writes[t.buffer].push_back(t.region);
    }
    for (const PlanBuffer &b : r.buffers) {
      if (b.role != BufferRole::Activation || kernelOutputs.count(b.id))
        continue;
      const std::vector<PlanRegion> &w = writes[b.id];
      int64_t total = 0;
      for (const PlanRegion &x : w)
        total += x.numElements();
      EXPECT_EQ(total, b.numElements()) << "rank " << r.rank << " " << b.name;
      for (size_t x = 0; x < w.size(); ++x)
        for (size_t y = x + 1; y < w.size(); ++y) {
          bool overlap = true;
          for (size_t a = 0; a < b.shape.size(); ++a)
            overlap &= w[x].offset[a] < w[y].offset[a] + w[y].shape[a] &&
                       w[y].offset[a] < w[x].offset[a] + w[x].shape[a];
          EXPECT_FALSE(overlap && !b.shape.empty())
              << "rank " << r.rank << " " << b.name << " written twice";
        }
    }
  }

  // --- updates: every element of every trained weight, once per replica;
  // replicated gradients all-reduced over exactly the replicas' ranks.
  std::map<std::string, std::map<BoxKey, std::vector<std::pair<int, int>>>>
      updates; // weight -> box -> (rank, grad buffer)
  for (const RankPlan &r : plan.ranks)
    for (const PlanTask &t : r.tasks) {
      if (t.type != TaskType::Kernel || t.phase != Phase::Update)
        continue;
      const PlanBuffer *p = r.findBuffer(t.inputs[0]);
      ASSERT_TRUE(p);
      // A ZeRO part updates its tensor rows (an empty last part none).
      std::vector<int64_t> held = p->tensorShape();
      if (std::find(held.begin(), held.end(), 0) != held.end())
        continue;
      updates[p->tensor][{p->offset, held}].emplace_back(r.rank, t.inputs[1]);
    }
  std::set<std::string> trained;
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (const Operand &o : g.ops[i].operands)
      if (o.source == OperandSource::Weight && bwd[i])
        trained.insert(g.weights[o.index].name);
  EXPECT_EQ(updates.size(), trained.size());
  for (const WeightInfo &w : g.weights) {
    if (!trained.count(w.name))
      continue;
    auto it = updates.find(w.name);
    ASSERT_NE(it, updates.end()) << w.name << " is never updated";
    int64_t total = 0;
    size_t replicas = it->second.begin()->second.size();
    for (const auto &[box, holders] : it->second) {
      EXPECT_EQ(holders.size(), replicas) << w.name;
      int64_t n = 1;
      for (int64_t s : box.shape)
        n *= s;
      total += n;
      if (holders.size() < 2)
        continue;
      std::set<int> want;
      for (auto [rank, grad] : holders)
        want.insert(rank);
      for (auto [rank, grad] : holders) {
        bool found = false;
        for (const PlanTask &t : plan.ranks[rank].tasks)
          if (t.type == TaskType::Collective &&
              t.collective == CollectiveKind::AllReduce && t.buffer == grad) {
            const Communicator *c = plan.findCommunicator(t.comm);
            ASSERT_TRUE(c);
            found |= std::set<int>(c->ranks.begin(), c->ranks.end()) == want;
          }
        EXPECT_TRUE(found) << w.name << ": rank " << rank
                           << " does not all-reduce its gradient over the "
                              "replicas' ranks";
      }
    }
    EXPECT_EQ(total, w.tensor.numElements()) << w.name;
  }
}

//===----------------------------------------------------------------------===//
// The zoo
//===----------------------------------------------------------------------===//

TEST_F(PlannerTest, ZooDataParallel) {
  for (const ZooCase &c : zooCases()) {
    SCOPED_TRACE(c.model);
    OpGraph g = graphOf(c);
    ASSERT_FALSE(g.ops.empty());
    for (int64_t ranks : {1, 4}) {
      SCOPED_TRACE("ranks " + std::to_string(ranks));
      Strategy s = dataParallelStrategy(g, ranks);
      Expected<Plan> plan = buildPlan(g, s, ranks);
      ASSERT_TRUE(plan) << plan.error();
      checkInvariants(g, s, ranks, *plan);
      if (ranks == 1) {
        // One device: no communication at all.
        for (const PlanTask &t : plan->ranks[0].tasks)
          EXPECT_TRUE(t.type == TaskType::Kernel || t.type == TaskType::Fill ||
                      t.type == TaskType::Copy)
              << toString(t.type);
      }
    }
  }
}

TEST_F(PlannerTest, ZooRandomStrategies) {
  int plans = 0;
  for (const ZooCase &c : zooCases()) {
    SCOPED_TRACE(c.model);
    OpGraph g = graphOf(c);
    ASSERT_FALSE(g.ops.empty());
    for (int64_t ranks : {2, 4, 8}) {
      for (unsigned seed = 1; seed <= 3; ++seed) {
        SCOPED_TRACE("ranks " + std::to_string(ranks) + " seed " +
                     std::to_string(seed));
        std::mt19937 rng(seed * 7919 + static_cast<unsigned>(ranks));
        Strategy s = randomStrategy(g, ranks, rng);
        Expected<Plan> plan = buildPlan(g, s, ranks);
        ASSERT_TRUE(plan) << plan.error();
        checkInvariants(g, s, ranks, *plan, /*roundTrip=*/seed == 1);
        ++plans;
        if (HasFatalFailure())
          return;
      }
    }
  }
  EXPECT_EQ(plans, static_cast<int>(zooCases().size()) * 9);
}

TEST_F(PlannerTest, ZooPipelines) {
  // Two stages (cut at the layer boundary nearest the middle) of 1 and of
  // 2 devices (data-parallel inside), 1, 2 and 4 micro-batches, both
  // schedules; micro-batches without stages. Models whose batch norm or
  // experts cannot be cut into micro-batches are refused by name.
  int plans = 0, refused = 0;
  std::string lastRefusal;
  for (const ZooCase &c : zooCases()) {
    SCOPED_TRACE(c.model);
    OpGraph g = graphOf(c);
    const int n = static_cast<int>(g.ops.size());
    std::vector<int> cuts = layerBoundaries(g);
    int cut = n / 2;
    for (int x : cuts)
      if (std::abs(x - n / 2) < std::abs(cut - n / 2) || cut == n / 2)
        cut = x;
    for (int64_t perStage : {1, 2})
      for (int64_t micro : {1, 2, 4})
        for (PipelineSchedule sched :
             {PipelineSchedule::GPipe, PipelineSchedule::OneFOneB})
          for (bool staged : {true, false}) {
            if (!staged && (micro == 1 || perStage == 1))
              continue;
            SCOPED_TRACE(std::string(toString(sched)) + " m" +
                         std::to_string(micro) + " x" +
                         std::to_string(perStage) + (staged ? "" : " unstaged"));
            Strategy s = dataParallelStrategy(g, perStage);
            int64_t ranks = perStage;
            if (staged) {
              for (int i = cut; i < n; ++i)
                s.configs[i].start += perStage;
              s.training.stages = {{0, cut - 1, 0, perStage},
                                   {cut, n - 1, perStage, perStage}};
              ranks = 2 * perStage;
            }
            s.training.microBatches = micro;
            s.training.schedule = sched;
            Expected<Plan> plan = buildPlan(g, s, ranks);
            if (!plan) {
              // Refusals name the op and the reason.
              EXPECT_GT(micro, 1) << plan.error();
              EXPECT_NE(plan.error().find("op '"), std::string::npos)
                  << plan.error();
              if (refused++ == 0 || plan.error() != lastRefusal)
                std::printf("[pipelines] %s: %s\n", c.model,
                            plan.error().c_str());
              lastRefusal = plan.error();
              continue;
            }
            checkInvariants(g, s, ranks, *plan, /*roundTrip=*/micro == 2);
            ++plans;
            if (HasFatalFailure())
              return;
          }
  }
  std::printf("[pipelines] %d plans, %d refused\n", plans, refused);
  EXPECT_GT(plans, 100);
}

TEST_F(PlannerTest, ZooBaselines) {
  int plans = 0;
  for (const ZooCase &c : zooCases()) {
    SCOPED_TRACE(c.model);
    OpGraph g = graphOf(c);
    ASSERT_FALSE(g.ops.empty());
    BaselineOptions options;
    options.nodes = 2;
    options.devicesPerNode = 2;
    for (const std::string &name : baselineNames()) {
      SCOPED_TRACE(name);
      Expected<Strategy> s = makeBaseline(name, g, options);
      if (!s)
        continue; // does not apply to this model (gnmt without LSTMs)
      PlanOptions po;
      po.devicesPerNode = 2;
      Expected<Plan> plan = buildPlan(g, *s, 4, po);
      ASSERT_TRUE(plan) << plan.error();
      checkInvariants(g, *s, 4, *plan, /*roundTrip=*/false);
      ++plans;
    }
  }
  EXPECT_GE(plans, static_cast<int>(zooCases().size()) * 3);
}

TEST_F(PlannerTest, ZooSearchedStrategies) {
  // soapc's pipeline: the search (DP start + MCMC, fixed seed and iteration
  // count) on a small machine, then the plan of what it found. Batch sizes
  // are raised so that the search has a reason to parallelize.
  struct Machine {
    const char *preset;
    MachineOverrides shape;
  } machines[] = {{"p100", {1, {}}}, {"k80", {2, 2}}};
  int plans = 0, parallel = 0;
  for (const Machine &m : machines) {
    auto machine = MachineModel::loadPreset(m.preset, m.shape);
    ASSERT_TRUE(machine.ok()) << machine.error();
    CostModel cost(*machine);
    const int64_t ranks = machine->numDevices();
    for (const ZooCase &zc : zooCases()) {
      ZooCase c = zc;
      for (auto &[k, v] : c.options)
        if (k == "batch")
          v = "16";
      SCOPED_TRACE(std::string(m.preset) + " " + c.model);
      OpGraph g = graphOf(c);
      ASSERT_FALSE(g.ops.empty());
      CompileOptions o;
      o.seed = 3;
      o.threads = 1;
      o.iterationsPerChain = 400;
      o.budgetSeconds = 0;
      o.trainingFeatures = false; // plain SOAP configs (the options: own tests)
      auto r = compile(g, cost, o);
      ASSERT_TRUE(r.ok()) << r.error();
      ASSERT_EQ(r->origin.rfind("search", 0), 0u) << r->origin;
      PlanOptions po;
      po.devicesPerNode = machine->devicesPerNode;
      Expected<Plan> plan = buildPlan(g, r->strategy, ranks, po);
      ASSERT_TRUE(plan) << plan.error();
      checkInvariants(g, r->strategy, ranks, *plan, /*roundTrip=*/false);
      ++plans;
      for (const ParallelConfig &pc : r->strategy.configs)
        if (pc.numDevices() > 1) {
          ++parallel;
          break;
        }
      if (HasFatalFailure())
        return;
    }
  }
  std::printf("searched strategies: %d plans, %d split some op\n", plans,
              parallel);
  EXPECT_EQ(plans, 2 * static_cast<int>(zooCases().size()));
  // Most searched strategies split something (a test of lowering, not of
  // the search, but single-device plans would check little).
  EXPECT_GE(parallel, plans / 2) << parallel << " of " << plans;
}

//===----------------------------------------------------------------------===//
// ZeRO, optimizer offload and activation recomputation
//===----------------------------------------------------------------------===//

/// What the training options add, against `plain`: the plan of the same
/// configs without them.
void checkTraining(const OpGraph &g, const TrainingConfig &t, const Plan &plan,
                   const Plan &plain) {
  const bool v2 = std::string(writePlanJson(plan)).find("\"version\":2") !=
                  std::string::npos;
  // Replicas of each plain buffer (name, offset, shape) over the ranks.
  std::map<std::tuple<std::string, std::vector<int64_t>, std::vector<int64_t>>,
           int>
      replicas;
  for (const RankPlan &r : plain.ranks)
    for (const PlanBuffer &b : r.buffers)
      ++replicas[{b.name, b.offset, b.shape}];
  bool anyPart = false, anyHost = false;
  for (const RankPlan &r : plan.ranks) {
    int64_t stateBytes = 0, plainStateBytes = 0;
    for (const PlanBuffer &b : plain.ranks[r.rank].buffers)
      if (b.role == BufferRole::OptimizerState)
        plainStateBytes += b.bytes();
    for (const PlanBuffer &b : r.buffers) {
      anyPart |= b.part.has_value();
      anyHost |= b.host;
      if (b.role == BufferRole::OptimizerState) {
        stateBytes += b.bytes();
        EXPECT_EQ(b.host, t.offloadOptimizer) << b.name;
        // The plain box this rank held, and its replicas: ZeRO divides the
        // state by their count k (rows rounded up), the parts tile it.
        const PlanBuffer *whole = nullptr;
        for (const PlanBuffer &o : plain.ranks[r.rank].buffers)
          if (o.name == b.name)
            whole = &o;
        ASSERT_TRUE(whole) << b.name;
        int k = replicas[{whole->name, whole->offset, whole->shape}];
        if (t.zeroStage == 0 || k == 1) {
          EXPECT_FALSE(b.part) << b.name;
          EXPECT_EQ(b.shape, whole->shape) << b.name;
          continue;
        }
        ASSERT_TRUE(b.part) << b.name << " is not partitioned over " << k;
        EXPECT_EQ(b.part->count, k) << b.name;
        std::vector<int64_t> want = whole->shape;
        want[0] = (want[0] + k - 1) / k;
        EXPECT_EQ(b.shape, want) << b.name;
        EXPECT_EQ(b.part->rows,
                  std::clamp<int64_t>(whole->shape[0] - b.part->index * want[0],
                                      0, want[0]))
            << b.name;
      }
      if (t.zeroStage >= 3 && b.role == BufferRole::Weight) {
        // The weight itself persists only as its part.
        int k = replicas[{b.name, b.offset, b.shape}];
        EXPECT_TRUE(b.part || k == 1) << b.name;
      }
    }
    if (t.zeroStage > 0)
      EXPECT_LE(stateBytes, plainStateBytes) << "rank " << r.rank;
    else
      EXPECT_EQ(stateBytes, plainStateBytes) << "rank " << r.rank;
  }
  EXPECT_EQ(v2, anyPart || anyHost);

  for (const RankPlan &r : plan.ranks) {
    std::map<std::string, int> firstRecompute, firstBackward;
    for (size_t k = 0; k < r.tasks.size(); ++k) {
      const PlanTask &x = r.tasks[k];
      if (x.type == TaskType::Kernel && x.phase == Phase::Update)
        EXPECT_EQ(x.host, t.offloadOptimizer) << x.op;
      if (x.type == TaskType::Kernel && x.stage == "recompute") {
        EXPECT_EQ(x.phase, Phase::Forward) << x.op;
        firstRecompute.emplace(x.op, static_cast<int>(k));
        if (x.kind == "batch_norm" && x.part == "normalize")
          EXPECT_EQ(x.outputs.at(2), -1) << x.op << ": running statistics "
                                                   "updated twice";
      }
      if (x.type == TaskType::Kernel && x.stage == "backward")
        firstBackward.emplace(x.op, static_cast<int>(k));
      // Stage >= 2 reduce-scatters the gradients of partitioned weights.
      if (t.zeroStage >= 2 && x.type == TaskType::Collective &&
          x.collective == CollectiveKind::AllReduce) {
        const PlanBuffer *b = r.findBuffer(x.buffer);
        ASSERT_TRUE(b);
        if (b->role == BufferRole::Gradient)
          for (const PlanBuffer &o : r.buffers)
            EXPECT_FALSE(o.part && o.role == BufferRole::Gradient &&
                         o.tensor == b->tensor && b->name == "grad:" + b->tensor)
                << b->name << " is all-reduced under ZeRO stage 2";
      }
    }
    // Every recomputed op with a backward on this rank re-runs its forward
    // before its backward.
    for (const auto &[op, k] : firstBackward) {
      int i = g.findOp(op);
      ASSERT_GE(i, 0);
      bool flagged = !t.recompute.empty() && t.recompute[i];
      auto it = firstRecompute.find(op);
      EXPECT_EQ(it != firstRecompute.end(), flagged) << op;
      if (it != firstRecompute.end())
        EXPECT_LT(it->second, k) << op << " recomputed after its backward";
    }
  }
}

TEST_F(PlannerTest, ZooZeroOffloadRecompute) {
  int plans = 0;
  for (const ZooCase &c : zooCases()) {
    SCOPED_TRACE(c.model);
    OpGraph g = graphOf(c);
    ASSERT_FALSE(g.ops.empty());
    const int64_t ranks = 4;
    std::vector<std::pair<std::string, Strategy>> configs;
    configs.emplace_back("data-parallel", dataParallelStrategy(g, ranks));
    BaselineOptions bo;
    bo.devicesPerNode = ranks;
    if (Expected<Strategy> m = makeBaseline("megatron", g, bo))
      configs.emplace_back("megatron", *m);
    std::mt19937 rng(4242);
    configs.emplace_back("random", randomStrategy(g, ranks, rng));
    std::vector<char> every(g.ops.size(), 1);
    struct Variant {
      const char *name;
      int zero;
      bool offload;
      bool recompute;
    } variants[] = {{"zero 1", 1, false, false}, {"zero 2", 2, false, false},
                    {"zero 3", 3, false, false}, {"offload", 0, true, false},
                    {"recompute", 0, false, true},
                    {"zero 3 + offload + recompute", 3, true, true}};
    PlanOptions po;
    po.optimizer.kind = OptimizerSettings::Kind::Adam; // two states per weight
    for (const auto &[what, base] : configs) {
      Expected<Plan> plain = buildPlan(g, base, ranks, po);
      ASSERT_TRUE(plain) << plain.error();
      for (const Variant &v : variants) {
        // Random strategies' plans are the slowest to check: three
        // variants (stage 1's copies and gathers, recomputation, stage 3
        // with everything).
        if (what == "random" && v.zero != 1 && !v.recompute)
          continue;
        SCOPED_TRACE(what + " " + v.name);
        Strategy s = base;
        s.training.zeroStage = v.zero;
        s.training.offloadOptimizer = v.offload;
        if (v.recompute)
          s.training.recompute = every;
        Expected<Plan> plan = buildPlan(g, s, ranks, po);
        ASSERT_TRUE(plan) << plan.error();
        checkInvariants(g, s, ranks, *plan, /*roundTrip=*/what == "random");
        checkTraining(g, s.training, *plan, *plain);
        ++plans;
        if (HasFatalFailure())
          return;
      }
    }
  }
  EXPECT_GE(plans, static_cast<int>(zooCases().size()) * 9);
}

//===----------------------------------------------------------------------===//
// Refusals
//===----------------------------------------------------------------------===//

TEST_F(PlannerTest, RefusesWhatItCannotRun) {
  OpGraph g = graphOf(zooCases()[3]); // rnntc
  ASSERT_FALSE(g.ops.empty());
  Strategy s = singleDeviceStrategy(g);
  int lstm = -1;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].kind == "lstm")
      lstm = static_cast<int>(i);
  ASSERT_GE(lstm, 0);
  int failed = -2;
  s.configs[lstm] = makeConfig(g.ops[lstm], {{"hidden", 2}});
  Expected<Plan> plan = buildPlan(g, s, 2, {}, &failed);
  ASSERT_FALSE(plan);
  EXPECT_EQ(failed, lstm);
  EXPECT_NE(plan.error().find("splitting 'hidden'"), std::string::npos)
      << plan.error();

  s.configs[lstm] = makeConfig(g.ops[lstm], {{"batch", 3}});
  plan = buildPlan(g, s, 4, {}, &failed);
  ASSERT_FALSE(plan);
  EXPECT_EQ(failed, lstm);
  EXPECT_NE(plan.error().find("degree 3 of 'batch' does not divide its size 4"),
            std::string::npos)
      << plan.error();

  s.configs[lstm] = makeConfig(g.ops[lstm], {{"batch", 2}}, 3);
  plan = buildPlan(g, s, 4, {}, &failed);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("places a shard on device 4, outside the plan's 4 "
                              "ranks"),
            std::string::npos)
      << plan.error();

  s = singleDeviceStrategy(g);
  s.configs.pop_back();
  plan = buildPlan(g, s, 1, {}, &failed);
  ASSERT_FALSE(plan);
  EXPECT_EQ(failed, -1);

  s = singleDeviceStrategy(g);
  s.training.zeroStage = 4;
  plan = buildPlan(g, s, 1, {}, &failed);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("zero stage 4"), std::string::npos)
      << plan.error();
}

TEST_F(PlannerTest, RefusesPipelinesItCannotRun) {
  OpGraph g = graphOf(zooCases()[13]); // gpt, batch 4
  ASSERT_EQ(g.modelName, "gpt");
  const int n = static_cast<int>(g.ops.size());
  Strategy s = singleDeviceStrategy(g);
  for (int i = n / 2; i < n; ++i)
    s.configs[i].start = 1;
  s.training.stages = {{0, n / 2 - 1, 0, 1}, {n / 2, n - 1, 1, 1}};
  s.training.microBatches = 2;
  ASSERT_TRUE(buildPlan(g, s, 2));
  EXPECT_EQ(planRefusal(g, s, 2), "");
  int failed = -2;
  // planRefusal (what the search asks before offering a strategy to
  // lower) gives buildPlan's message and op for each of these.
  auto refused = [&](const Strategy &x, const std::string &what) {
    Expected<Plan> plan = buildPlan(g, x, 2, {}, &failed);
    ASSERT_FALSE(plan) << what;
    EXPECT_NE(plan.error().find(what), std::string::npos) << plan.error();
    int cheapFailed = -2;
    EXPECT_EQ(planRefusal(g, x, 2, &cheapFailed), plan.error());
    EXPECT_EQ(cheapFailed, failed);
  };

  // The memory options combine with pipelines (ExecSemanticsTest
  // .PipelineWithMemoryOptions trains them).
  for (int option = 0; option < 3; ++option) {
    Strategy x = s;
    if (option == 0)
      x.training.zeroStage = 1;
    if (option == 1)
      x.training.offloadOptimizer = true;
    if (option == 2)
      x.training.recompute.assign(n, 1);
    Expected<Plan> plan = buildPlan(g, x, 2);
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_TRUE(validatePlan(*plan).empty());
    EXPECT_EQ(planRefusal(g, x, 2), "");
  }
  // An op outside its stage's devices, named.
  Strategy x = s;
  x.configs[n - 1].start = 0;
  refused(x, "op '" + g.ops[n - 1].name + "' of pipeline stage 1 runs on "
             "device 0, outside the stage's devices 1..1");
  EXPECT_EQ(failed, n - 1);
  // 4 samples in 8 micro-batches.
  x = s;
  x.training.microBatches = 8;
  refused(x, "does not divide into 8 micro-batches x degree 1");
  EXPECT_GE(failed, 0);
  // Stages that do not cover the ops (the simulator's own check).
  x = s;
  x.training.stages.pop_back();
  refused(x, "the strategy's training options: the pipeline stages end at op");
}

} // namespace
