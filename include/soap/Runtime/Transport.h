//===- Transport.h - how the ranks of a plan talk to each other -*- C++ -*-===//
//
// The runtime's communication layer (docs/runtime.md). A Transport is one
// rank's end of a set of ranks: non-blocking point-to-point sends and
// receives of bytes, completed by waitAll() under a deadline, and a way to
// tell every rank that this one failed. Two implementations:
//
//  - threads: N ranks as threads of one process (shared-memory mailboxes);
//  - MPI: one rank per process (OpenMPI), messages through MPI_Isend /
//    MPI_Irecv polled with MPI_Test until the deadline, MPI_Abort on failure.
//
// The collectives of a plan (all_reduce, all_gather, reduce_scatter,
// broadcast, all_to_all) are built once, in Collectives.h, over these
// primitives, with a fixed reduction order: the result of a step does not
// depend on the transport, on timing or on the number of cores.
//
// Errors are values: every call returns "" on success or a message naming
// the rank and what went wrong; no exception leaves the library.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_RUNTIME_TRANSPORT_H
#define SOAP_RUNTIME_TRANSPORT_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace soap::runtime {

/// Independent message streams between two ranks: the plan's own sends and
/// receives, the collectives, and the runtime's control messages (losses,
/// checkpoint acknowledgements, gathered weights). A message is matched by
/// (channel, source, tag); messages with equal keys arrive in order.
enum class Channel : uint8_t { Plan = 0, Collective = 1, Control = 2 };

/// A pending send or receive of one Transport (an index into its table).
struct Request {
  int64_t id = -1;
};

class Transport {
public:
  virtual ~Transport();

  /// This rank and the number of ranks.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "threads" or "mpi".
  virtual const char *kind() const = 0;

  /// Starts sending `bytes` bytes at `data` to `peer`. The data must stay
  /// valid and unchanged until the request completes in waitAll().
  virtual std::string isend(Channel channel, int peer, int64_t tag,
                            const void *data, size_t bytes, Request &out) = 0;
  /// Starts receiving exactly `bytes` bytes from `peer` into `data`.
  virtual std::string irecv(Channel channel, int peer, int64_t tag, void *data,
                            size_t bytes, Request &out) = 0;
  /// Completes every request; fails when one does not complete within
  /// `timeoutSeconds`, when a message has the wrong size, or when another
  /// rank failed. The requests are released either way.
  virtual std::string waitAll(const std::vector<Request> &requests,
                              double timeoutSeconds) = 0;

  /// Tells every rank that this one failed with `message`: the threads
  /// transport wakes every waiting rank with an error; MPI prints the message
  /// and calls MPI_Abort (and does not return).
  virtual void fail(const std::string &message) = 0;
  /// The first failure any rank reported ("" while none).
  virtual std::string failure() const = 0;

  /// Blocking helpers over isend/irecv + waitAll.
  std::string send(Channel channel, int peer, int64_t tag, const void *data,
                   size_t bytes, double timeoutSeconds);
  std::string recv(Channel channel, int peer, int64_t tag, void *data,
                   size_t bytes, double timeoutSeconds);
};

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

/// N transports, one per rank, sharing mailboxes; give one to each thread.
std::vector<std::unique_ptr<Transport>> makeThreadTransports(int numRanks);

//===----------------------------------------------------------------------===//
// MPI
//===----------------------------------------------------------------------===//

/// True when the library was built with MPI.
bool haveMpi();
/// True when this process looks started by mpirun / srun (OMPI_*, PMI_*,
/// PMIX_* environment variables), i.e. when MPI should be initialized.
bool launchedByMpiRunner();
/// This process's rank of MPI_COMM_WORLD; initializes MPI (MPI_Init) unless
/// the caller already did. Null, with `error` set, without MPI.
std::unique_ptr<Transport> makeMpiTransport(std::string &error);
/// MPI_Finalize when this library initialized MPI (a no-op otherwise).
void finalizeMpi();

} // namespace soap::runtime

#endif // SOAP_RUNTIME_TRANSPORT_H
