//===- MpiTransport.cpp - one rank per MPI process ------------------------===//
//
// Each channel is a duplicate of MPI_COMM_WORLD, so that the plan's tags,
// the collectives' and the control messages never match each other. Sends
// and receives are MPI_Isend / MPI_Irecv of bytes (messages over 1 GiB in
// several pieces with the same tag, which MPI keeps in order); waitAll polls
// MPI_Testall until the deadline and, past it, prints what it waited for and
// calls MPI_Abort, which ends every rank of the job. MPI errors are returned
// (MPI_ERRORS_RETURN) and end the job the same way.
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Transport.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#ifdef SOAP_HAVE_MPI
// The C API only (OpenMPI's mpi.h would otherwise pull in its C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace soap::runtime {

bool launchedByMpiRunner() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                        "PMI_RANK", "MPI_LOCALNRANKS", "SLURM_PMIX_MAPPING_SERV"})
    if (std::getenv(v))
      return true;
  return false;
}

#ifndef SOAP_HAVE_MPI

bool haveMpi() { return false; }

std::unique_ptr<Transport> makeMpiTransport(std::string &error) {
  error = "this build of Soap has no MPI (libopenmpi-dev was not found at "
          "configure time); run the ranks as threads (--ranks-as-threads N)";
  return nullptr;
}

void finalizeMpi() {}

#else

bool haveMpi() { return true; }

namespace {

bool initializedHere = false;

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, len);
}

const char *channelName(int c) {
  return c == 0 ? "plan" : c == 1 ? "collective" : "control";
}

class MpiTransport final : public Transport {
public:
  MpiTransport() {
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    for (MPI_Comm &c : comms) {
      MPI_Comm_dup(MPI_COMM_WORLD, &c);
      MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    }
    int *ub = nullptr, found = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &found);
    tagLimit = found && ub ? static_cast<int64_t>(*ub) + 1 : 32768;
  }
  ~MpiTransport() override {
    for (MPI_Comm &c : comms)
      MPI_Comm_free(&c);
  }

  int rank() const override { return me; }
  int size() const override { return n; }
  const char *kind() const override { return "mpi"; }

  std::string isend(Channel channel, int peer, int64_t tag, const void *data,
                    size_t bytes, Request &out) override {
    return start(true, channel, peer, tag, const_cast<void *>(data), bytes, out);
  }
  std::string irecv(Channel channel, int peer, int64_t tag, void *data,
                    size_t bytes, Request &out) override {
    return start(false, channel, peer, tag, data, bytes, out);
  }

  std::string waitAll(const std::vector<Request> &requests,
                      double timeoutSeconds) override {
    std::vector<MPI_Request> mpi;
    std::vector<const Pending *> owner;
    for (const Request &r : requests) {
      auto it = pending.find(r.id);
      if (it == pending.end())
        continue;
      for (size_t k = 0; k < it->second.requests.size(); ++k) {
        mpi.push_back(it->second.requests[k]);
        owner.push_back(&it->second);
      }
    }
    std::vector<MPI_Status> statuses(mpi.size());
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(timeoutSeconds));
    int spins = 0;
    std::string error;
    while (!mpi.empty()) {
      int done = 0;
      int rc = MPI_Testall(static_cast<int>(mpi.size()), mpi.data(), &done,
                           statuses.data());
      if (rc != MPI_SUCCESS) {
        error = "rank " + std::to_string(me) + ": MPI error: " + mpiError(rc);
        break;
      }
      if (done)
        break;
      if (std::chrono::steady_clock::now() >= deadline) {
        // Name the first request that is still open.
        const Pending *p = owner.front();
        for (size_t k = 0; k < mpi.size(); ++k) {
          int flag = 0;
          MPI_Request probe = mpi[k];
          if (probe != MPI_REQUEST_NULL)
            MPI_Request_get_status(probe, &flag, MPI_STATUS_IGNORE);
          if (probe != MPI_REQUEST_NULL && !flag) {
            p = owner[k];
            break;
          }
        }
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", timeoutSeconds);
        error = "rank " + std::to_string(me) + ": timed out after " + seconds +
                " s waiting to " + (p->send ? "send to" : "receive from") +
                " rank " + std::to_string(p->peer) + " (" +
                channelName(p->channel) + " tag " + std::to_string(p->tag) +
                "); that rank died, hangs or is out of step";
        break;
      }
      // Poll, giving the core to any other runnable rank in between (ranks
      // often outnumber cores); after ~10 ms of waiting, sleep between
      // polls so that a long wait does not burn a core.
      if (++spins < 20000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    // A message longer than its receive is an MPI error (truncation) that
    // MPI_Testall reports above.
    for (const Request &r : requests)
      pending.erase(r.id);
    return error;
  }

  void fail(const std::string &message) override {
    std::fprintf(stderr, "soap-run: error: %s\n", message.c_str());
    std::fprintf(stderr, "soap-run: rank %d: aborting every rank (MPI_Abort)\n",
                 me);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }
  std::string failure() const override { return ""; }

private:
  struct Pending {
    bool send;
    int channel;
    int peer;
    int64_t tag;
    std::vector<MPI_Request> requests;
  };

  std::string start(bool send, Channel channel, int peer, int64_t tag,
                    void *data, size_t bytes, Request &out) {
    if (peer < 0 || peer >= n || peer == me)
      return "rank " + std::to_string(me) + ": " +
             (send ? "send to" : "receive from") + " invalid peer " +
             std::to_string(peer);
    Pending p{send, static_cast<int>(channel), peer, tag, {}};
    const int mpiTag = static_cast<int>(((tag % tagLimit) + tagLimit) % tagLimit);
    MPI_Comm comm = comms[static_cast<int>(channel)];
    const size_t piece = size_t(1) << 30;
    char *at = static_cast<char *>(data);
    size_t left = bytes;
    do {
      int len = static_cast<int>(left < piece ? left : piece);
      MPI_Request r;
      int rc = send ? MPI_Isend(at, len, MPI_BYTE, peer, mpiTag, comm, &r)
                    : MPI_Irecv(at, len, MPI_BYTE, peer, mpiTag, comm, &r);
      if (rc != MPI_SUCCESS)
        return "rank " + std::to_string(me) + ": MPI error: " + mpiError(rc);
      p.requests.push_back(r);
      at += len;
      left -= static_cast<size_t>(len);
    } while (left > 0);
    out.id = nextId++;
    pending.emplace(out.id, std::move(p));
    return "";
  }

  int me = 0, n = 1;
  int64_t tagLimit = 32768;
  MPI_Comm comms[3];
  std::map<int64_t, Pending> pending;
  int64_t nextId = 0;
};

} // namespace

std::unique_ptr<Transport> makeMpiTransport(std::string &error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) !=
        MPI_SUCCESS) {
      error = "MPI_Init failed";
      return nullptr;
    }
    initializedHere = true;
  }
  return std::make_unique<MpiTransport>();
}

void finalizeMpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initializedHere && !finalized)
    MPI_Finalize();
  initializedHere = false;
}

#endif

} // namespace soap::runtime
