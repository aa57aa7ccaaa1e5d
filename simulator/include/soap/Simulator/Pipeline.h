//===- Pipeline.h - pipeline schedules and memory-saving options -*- C++ -*-===//
//
// Issue 8 ("Beyond FlexFlow"): a strategy may cut the graph into pipeline
// stages on sub-meshes and run a step as micro-batches under the GPipe or
// 1F1B schedule, shard the optimizer state / gradients / weights over the
// data-parallel group (ZeRO 1/2/3), keep the optimizer state in host memory
// (offload) and recompute activations in the backward pass. The simulator
// prices them on top of its task graph (docs/simulator.md, "Pipelines and
// memory"):
//
// - the task graph is simulated once at the full batch; per stage, the
//   forward (kernels, communication inside ops, partial sums, transfers
//   inside the stage) and backward durations are summed and divided by the
//   micro-batch count (each kernel keeps its fixed launch overhead), the
//   transfers of edges that cross stages become the stage-to-stage sends;
// - simulateSchedule() runs the stages' micro-batch tasks in the schedule's
//   order with their dependencies (a forward waits for the previous stage's
//   forward and send; a backward for the next stage's backward and send);
//   after its last backward each stage synchronizes its gradients and
//   updates (Megatron-LM's flush), the step ends when every stage is done;
// - memory per device: activations of ceil(in-flight) micro-batches
//   (GPipe: all m; 1F1B: min(m, p - s) on stage s), recomputed ops' results
//   dropped (plus the largest recomputed run's activations of one
//   micro-batch while it is recomputed), ZeRO dividing each op's optimizer
//   state (>= 1), gradients (>= 2) and weights (3) by its data-parallel
//   group, offload moving the optimizer state off the device.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_PIPELINE_H
#define SOAP_SIMULATOR_PIPELINE_H

#include "soap/Simulator/Strategy.h"

#include <cstdint>
#include <string>
#include <vector>

namespace soap {

class OpGraph;

/// Per micro-batch durations of one stage: its forward and backward, and
/// the sends of its result to the next stage (forward) and of its input
/// gradient to the previous one (backward).
struct StageTimes {
  double forward = 0;
  double backward = 0;
  double sendForward = 0;
  double sendBackward = 0;
};

struct ScheduleResult {
  /// When the last task of all stages ends.
  double time = 0;
  /// Per stage: when its last backward ends.
  std::vector<double> stageEnd;
  /// (time - m * max_s(forward_s + backward_s)) / (m * max_s(...)): the
  /// idle fraction of the busiest stage relative to its work; (p - 1) / m
  /// for p uniform stages without transfer time.
  double bubbleFraction = 0;
};

/// One micro-batch task of a pipeline stage: the forward or the backward of
/// micro-batch `micro`.
struct PipelineTask {
  bool backward = false;
  int64_t micro = 0;
};

/// The order in which stage `stage` of `stages` runs its micro-batch tasks
/// under the schedule: GPipe F0..F(m-1) then B0..B(m-1); 1F1B
/// min(m, stages - stage - 1) warm-up forwards, then one forward and one
/// backward alternately, then the remaining backwards. The simulator's
/// schedule and the plan's (soap/Plan/Planner.h) both follow it.
std::vector<PipelineTask> pipelineStageOrder(int stage, int stages,
                                             int64_t microBatches,
                                             PipelineSchedule schedule);

/// Runs `microBatches` micro-batches through the stages (stage 0 first)
/// in the schedule's per-stage order. Each stage runs one task at a time;
/// sends delay the receiver but occupy neither stage.
ScheduleResult simulateSchedule(const std::vector<StageTimes> &stages,
                                int64_t microBatches,
                                PipelineSchedule schedule);

/// Micro-batches whose activations stage `stage` of `stages` holds at once:
/// GPipe all of them, 1F1B min(m, stages - stage).
int64_t inFlightMicroBatches(int stage, int stages, int64_t microBatches,
                             PipelineSchedule schedule);

/// "" when the training config fits the graph and a machine of `devices`
/// devices (stages contiguous, covering every op in order, sub-meshes inside
/// the machine and disjoint, micro-batches >= 1, zero stage 0..3, recompute
/// one flag per op or none), else the first problem.
std::string checkTrainingConfig(const OpGraph &graph,
                                const TrainingConfig &training,
                                int64_t devices);

/// Candidate stage boundaries: op indices k (0 < k < ops) such that the ops
/// before k and those from k on exchange exactly one tensor (the residual
/// stream between transformer layers, the activation between CNN blocks).
std::vector<int> layerBoundaries(const OpGraph &graph);

/// Per-op recompute flags for "recompute every layer": every op except the
/// last before each boundary of layerBoundaries() (the layer's output, kept
/// as the checkpoint) and the ops after the last boundary.
std::vector<char> recomputeLayers(const OpGraph &graph);

} // namespace soap

#endif // SOAP_SIMULATOR_PIPELINE_H
