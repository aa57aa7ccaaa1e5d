//===- Checkpoint.h - sharded training state on disk ------------*- C++ -*-===//
//
// A checkpoint is the persistent state of every rank (weight shards,
// optimizer states, batch-norm running statistics) and the step
// (docs/runtime.md):
//
//   DIR/latest                      "step-00000012": the newest complete one
//   DIR/step-00000012/rank-00000.bin  one file per rank: a JSON header (each
//   DIR/step-00000012/rank-00001.bin  buffer's name, role, dtype, box in its
//   ...                               logical tensor) and the raw data
//   DIR/step-00000012/manifest.json   written last, by rank 0, once every
//                                     rank reported its file
//
// Every file is written to a temporary name, flushed (fsync) and renamed, so
// a checkpoint either is complete (its manifest exists, `latest` names it)
// or is ignored; a crash while saving leaves the previous one usable. Each
// replicated box is written once (by the lowest rank holding it). The last
// two checkpoints are kept.
//
// Loading reads, for every persistent buffer of the rank, the parts of the
// saved boxes of the same name that overlap it, so a checkpoint also loads
// into a plan of another strategy or rank count (same model and optimizer).
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_CHECKPOINT_H
#define SOAP_RUNTIME_CHECKPOINT_H

#include "soap/Runtime/Executor.h"

#include <cstdint>
#include <string>

namespace soap::runtime {

/// Saves the state after step `step`; every rank calls it (rank 0 writes the
/// manifest and `latest` once all ranks' files are written). "" on success.
std::string saveCheckpoint(RankExecutor &executor, const std::string &dir,
                           int64_t step);

/// The step of the newest complete checkpoint in `dir`; "" on success.
std::string latestCheckpointStep(const std::string &dir, int64_t &step);

/// Loads the newest complete checkpoint of `dir` into the executor's
/// persistent buffers and sets `step` to its step. "" on success.
std::string loadCheckpoint(RankExecutor &executor, const std::string &dir,
                           int64_t &step);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_CHECKPOINT_H
