//===- Simulator.h - task graph and event-driven simulation -----*- C++ -*-===//
//
// Predicts one training step (forward, backward, gradient synchronization,
// optimizer update) of an OpGraph under a Strategy on a MachineModel, priced
// by a CostModel (design section 5; docs/simulator.md).
//
// The task graph has a fixed shape for a given OpGraph: per op, the slots
//   forward-comm -> forward -> partial-sum
//   backward-comm -> backward -> gradient-sync -> update
// and per edge a forward transfer (producer layout to consumer layout) and a
// backward transfer (the gradient, the other way). A config decides each
// slot's duration and the resources it occupies: an op's kernels run on all
// its shards' devices at once (SPMD), a communication task on the link
// resources it crosses. A slot that has nothing to do takes no time and no
// resource. Each resource runs its tasks one at a time in the order they
// become ready (ties by slot index), or in the plan's order on machines
// whose devices run in order (CPU ranks); contention on shared links
// follows.
//
// Because the shape is fixed, changing one op's config (simulateDelta)
// recomputes only the slots it touches — its own and those of its edges —
// and re-runs the event loop over arrays that are already built; the result
// is the full simulation's, bit for bit. Per-(op, config) and per-(edge,
// producer config, consumer config) costs are cached across calls.
//
// Micro-batches and pipeline stages: a slot is keyed by (op, kind); a later
// extension keys it by (op, kind, micro-batch) and adds the pipeline edges,
// without changing the event loop.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_SIMULATOR_H
#define SOAP_SIMULATOR_SIMULATOR_H

#include "soap/Graph/OpGraph.h"
#include "soap/Simulator/CostModel.h"
#include "soap/Simulator/Expected.h"
#include "soap/Simulator/Pipeline.h"
#include "soap/Simulator/ShardingRules.h"
#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace soap {

struct CommSets; // simulator/lib: interned sets of a communication task

/// Bytes one device holds at its peak (the start of the backward pass).
struct MemoryUsage {
  int64_t weights = 0;
  int64_t gradients = 0;
  int64_t optimizerState = 0;
  /// Results of every op kept for the backward pass, the model inputs, and
  /// received copies of operands that live elsewhere.
  int64_t activations = 0;
  /// The largest single backward's gradient buffers.
  int64_t workspace = 0;

  int64_t total() const {
    return weights + gradients + optimizerState + activations + workspace;
  }
  bool operator==(const MemoryUsage &o) const {
    return weights == o.weights && gradients == o.gradients &&
           optimizerState == o.optimizerState && activations == o.activations &&
           workspace == o.workspace;
  }
};

struct SimResult {
  /// Seconds of one training step.
  double stepTime = 0;
  /// Per device: seconds running kernels, seconds taking part in
  /// communication (overlaps compute), and stepTime - compute.
  std::vector<double> computeTime;
  std::vector<double> commTime;
  std::vector<double> idleTime;
  /// Per device.
  std::vector<MemoryUsage> memory;
  std::vector<int64_t> peakMemory;
  /// Every device's peak fits its memory.
  bool fitsMemory = true;
  /// Bytes crossing each resource (MachineModel::resourceName); 0 for
  /// devices.
  std::vector<double> linkBytes;
  /// Bytes sent between devices in the step.
  double commBytes = 0;
  /// Useful FLOPs of the step (the graph's, each once) and model FLOPs
  /// utilization: their ideal time at peak over stepTime * all devices.
  double modelFlops = 0;
  double mfu = 0;
  /// Tasks that did something.
  int64_t tasks = 0;

  /// Strategy::training beyond plain SOAP (soap/Simulator/Pipeline.h):
  /// per pipeline stage (one when there is no pipeline) its per
  /// micro-batch times, its gradient synchronization and update after the
  /// flush, when it ends and the micro-batches it holds at once; the
  /// schedule's bubble fraction. Empty / 0 for plain SOAP strategies.
  struct Stage {
    StageTimes perMicroBatch;
    double gradientSync = 0;
    double update = 0;
    double end = 0;
    int64_t inFlight = 1;
  };
  std::vector<Stage> stages;
  double bubbleFraction = 0;

  /// The largest peak over devices.
  int64_t maxPeakMemory() const;
};

enum class TaskKind : uint8_t {
  ForwardComm,  ///< communication inside an op's forward (LSTM state gather)
  Forward,      ///< the op's forward kernels
  PartialSum,   ///< all-reduce of a result split along a reduction dim
  BackwardComm, ///< communication inside an op's backward
  Backward,     ///< data and weight gradient kernels
  GradientSync, ///< all-reduce of the gradients of replicated weights
  Update,       ///< optimizer step on the op's weight shards
  Transfer,     ///< resharding of an edge's tensor, producer to consumer
  GradientTransfer, ///< the edge's gradient back, with the reduction of the
                    ///< consumer's replicated-operand contributions
};
const char *toString(TaskKind k);
/// Compute kinds occupy devices; the others occupy links.
bool isComputeKind(TaskKind k);

/// One task of the last simulation, for tests, tools and traces.
struct TaskInfo {
  TaskKind kind;
  int op = -1;   ///< its op (or the edge's consumer)
  int edge = -1; ///< for transfers
  double start = 0, end = 0;
  /// Devices (compute) or link resources (communication) it occupied.
  std::vector<int> resources;
  /// Devices taking part (communication).
  std::vector<int> devices;
  double bytes = 0;
  std::string name;
};

class Simulator {
public:
  /// Keeps references to both: they must outlive the simulator.
  Simulator(const OpGraph &graph, const CostModel &cost);
  ~Simulator();

  /// "" when `config` is a valid config of op `op` on the machine, else why
  /// not (unknown dim, degree not dividing, bad view, ...).
  std::string checkConfig(int op, const ParallelConfig &config) const;

  /// Simulates a whole strategy from scratch (caches of pure costs aside).
  Expected<SimResult> simulate(const Strategy &strategy);
  /// After a successful simulate(): changes one op's config and re-simulates
  /// only what it touches. Equal to simulate() of the changed strategy. A
  /// delta that undoes the previous one (a search rejecting its proposal)
  /// restores the earlier state without simulating; one that changes nothing
  /// returns the last result. On error nothing changes.
  Expected<SimResult> simulateDelta(int op, const ParallelConfig &config);

  /// After a successful simulate(): the current strategy's configs under
  /// other training options (pipeline stages, micro-batches, ZeRO, offload,
  /// recompute). The task graph is not re-run: the options are priced on
  /// top of the last timeline (soap/Simulator/Pipeline.h), so trying many of
  /// them for one set of configs is cheap. Equal to simulate() of the
  /// strategy with them; on success they become current.
  Expected<SimResult> simulateTraining(const TrainingConfig &training);

  /// The additive pieces of the search's dynamic program: the summed
  /// durations of op `op`'s own tasks under `config` (its kernels, the
  /// communication inside it, its gradient synchronization and update), and
  /// of edge `edge`'s forward and gradient transfers between a producer
  /// config and a consumer config. Overlap and contention are ignored: a
  /// strategy's sum of them is its serial time. They use (and fill) the
  /// simulator's cost caches and leave its current state as it is.
  Expected<double> opTime(int op, const ParallelConfig &config);
  Expected<double> edgeTime(int edge, const ParallelConfig &src,
                            const ParallelConfig &dst);

  /// The strategy of the last successful simulation.
  const Strategy &strategy() const { return current; }
  bool hasState() const { return ready; }

  /// Tasks of the last simulation that did something, in slot order.
  std::vector<TaskInfo> tasks() const;
  /// Chrome/Perfetto trace JSON of the last simulation (docs/simulator.md).
  std::string traceJson() const;
  /// Writes traceJson(); returns "" or an error message.
  std::string writeTrace(const std::string &path) const;

  const OpShardingRule &rule(int op) const { return rules[op]; }
  const OpGraph &graph() const { return g; }
  const CostModel &costModel() const { return cost; }
  /// Drops the cost caches (they grow with the configs seen).
  void clearCaches();

  struct OpVariant;
  struct EdgeVariant;

private:
  enum : int { kSlotsPerOp = 7, kSlotsPerEdge = 2 };
  int opSlot(int op, TaskKind k) const {
    return op * kSlotsPerOp + static_cast<int>(k);
  }
  int edgeSlot(int edge, bool backward) const {
    return numOps * kSlotsPerOp + edge * kSlotsPerEdge + (backward ? 1 : 0);
  }
  TaskKind slotKind(int slot) const;

  Expected<int> variantOf(int op, const ParallelConfig &config);
  const EdgeVariant &edgeVariant(int edge);
  void fillOpSlots(int op);
  void fillEdgeSlots(int edge);
  SimResult run();
  /// lastResult under current.training (Pipeline.cpp); lastResult itself
  /// when the strategy is plain SOAP.
  SimResult finalResult() const;
  SimResult applyTraining(const SimResult &raw) const;
  /// "" when op `op` under variant `v` lies inside its pipeline stage's
  /// sub-mesh (always, without stages).
  std::string checkStagePlacement(int op, int v) const;

  const OpGraph &g;
  const CostModel &cost;
  int numOps = 0;
  int numEdges = 0;
  int numSlots = 0;
  std::vector<OpShardingRule> rules;
  std::vector<char> needsBackward;
  /// Edge duplicating an earlier one (same tensor, same consumer layout),
  /// or -1.
  std::vector<int> duplicateOf;
  std::vector<std::vector<int>> inEdges, outEdges;

  // Static task graph (CSR).
  std::vector<int> succBegin, succList, predCount;
  /// Every slot in the order the plan lists its tasks (the order in which a
  /// machine with in-order devices runs them).
  std::vector<int> programOrder;

  // Caches.
  std::vector<std::vector<std::unique_ptr<OpVariant>>> variants;
  std::vector<std::unordered_map<uint64_t, std::vector<int>>> variantIndex;
  std::unordered_map<uint64_t, std::unique_ptr<EdgeVariant>> edgeCache;

  /// Interns a sorted list of resources; tasks on one set share its
  /// bookkeeping in the event loop (see run()).
  int internSet(const std::vector<int> &sorted);
  /// The sets of a communication task (its links, plus its devices where
  /// the machine's communication occupies them).
  CommSets commSets(const CommCost &c);
  const int *setData(int set) const { return setFlat.data() + setBegin[set]; }
  int setSize(int set) const { return setBegin[set + 1] - setBegin[set]; }

  // Interned resource sets (CSR).
  std::vector<int> setBegin{0}, setFlat;
  std::unordered_map<uint64_t, std::vector<int>> setIndex;

  // Current state: per slot its duration, its resource set (-1: none), the
  // devices taking part (communication) and its communication record.
  bool ready = false;
  Strategy current;
  std::vector<int> chosen; // variant per op
  std::vector<double> dur;
  std::vector<int> slotRes;
  std::vector<int> slotDev;
  std::vector<const CommCost *> comm;
  std::vector<const EdgeVariant *> edgeNow;
  double idealTime = 0; // the graph's FLOPs at peak, on one device
  double modelFlops = 0;

  // Event loop scratch (epoch-stamped, so nothing is cleared per run) and
  // the last timeline.
  uint32_t epoch = 0;
  std::vector<double> readyAt, startAt, endAt;
  std::vector<int> remaining;
  std::vector<std::pair<double, int>> heap;
  std::vector<int> stack;
  std::vector<int> lastWriter;        // per resource: the set that last used it
  std::vector<uint32_t> writerStamp;  // per resource
  std::vector<double> setFree;        // per set: when its last task ended
  std::vector<char> setOwns;          // per set: last writer of all its resources
  std::vector<uint32_t> setStamp;     // per set
  std::vector<double> setCompute, setComm;
  std::vector<MemoryUsage> setMemory;
  std::vector<int> touchedSets;

  /// The last result, and what the last delta overwrote: a delta back to
  /// the previous config (a rejected proposal) restores it without running.
  SimResult lastResult;
  struct Undo {
    bool valid = false;
    int op = -1;
    int variant = -1;
    ParallelConfig config;
    std::vector<int> slots, res, dev, edges;
    std::vector<double> dur;
    std::vector<const CommCost *> comm;
    std::vector<const EdgeVariant *> edgeNow;
    std::vector<double> startAt, endAt;
    SimResult result;
  } undo;
};

} // namespace soap

#endif // SOAP_SIMULATOR_SIMULATOR_H
