//===- Collectives.h - deterministic collectives over a Transport -*- C++ -*-===//
//
// The plan's collectives (Plan.h CollectiveKind) over point-to-point
// messages of any Transport. A group is a list of ranks (a plan
// communicator: member i is ranks[i]); every member calls the same function
// with the same sizes and the same `tag`.
//
// Reductions are computed in a fixed order: member k owns chunk k of the
// data, receives that chunk from every member and sums the contributions in
// member order 0, 1, ..., n-1 (in double for f32), then sends the sum to
// everyone (a direct reduce-scatter + all-gather: each rank sends and
// receives 2 (n-1)/n of the data, as a ring does). The result is the same
// bits on every member, for any transport and any timing.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_COLLECTIVES_H
#define SOAP_RUNTIME_COLLECTIVES_H

#include "soap/Graph/OpGraph.h"
#include "soap/Runtime/Transport.h"

#include <cstdint>
#include <string>
#include <vector>

namespace soap::runtime {

/// One collective call: the group, this rank's place in it, a tag unique to
/// the call among the calls that may be in flight between the same ranks,
/// and the deadline of each wait.
struct CollectiveCall {
  Transport *transport = nullptr;
  const std::vector<int> *ranks = nullptr;
  int index = 0; ///< this rank is (*ranks)[index]
  /// Messages of the call use tags 4 * tag + 0..3 on `channel`. Calls on
  /// one group meet in the same order on every member, and messages with
  /// equal keys arrive in order, so a communicator's id is tag enough.
  int64_t tag = 0;
  Channel channel = Channel::Collective;
  double timeoutSeconds = 60;
};

/// Sums `count` elements at `data` over the group, in place.
std::string allReduce(const CollectiveCall &c, DType dtype, void *data,
                      int64_t count);
/// Concatenates every member's `count` elements of `src` in member order
/// into `dst` (n * count elements).
std::string allGather(const CollectiveCall &c, DType dtype, const void *src,
                      void *dst, int64_t count);
/// `src` holds n pieces of `count` elements; member k receives the sum of
/// every member's piece k in `dst` (count elements).
std::string reduceScatter(const CollectiveCall &c, DType dtype,
                          const void *src, void *dst, int64_t count);
/// Copies the `count` elements of member `root` to every member, in place.
std::string broadcast(const CollectiveCall &c, DType dtype, void *data,
                      int64_t count, int root);
/// `src` holds n pieces of `count` elements; piece k goes to member k, and
/// `dst` receives member j's piece (this member's) at position j.
std::string allToAll(const CollectiveCall &c, DType dtype, const void *src,
                     void *dst, int64_t count);
/// Returns when every member has called it (a gather to member 0 and a
/// release).
std::string barrier(const CollectiveCall &c);

/// dst[i] += src[i] for `count` elements of `dtype` (f32, f64, i32, i64).
/// The runtime's accumulating copies and receives use it.
void addInto(DType dtype, void *dst, const void *src, int64_t count);

} // namespace soap::runtime

#endif // SOAP_RUNTIME_COLLECTIVES_H
