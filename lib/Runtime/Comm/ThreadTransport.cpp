//===- ThreadTransport.cpp - ranks as threads of one process --------------===//
//
// Every rank has a mailbox: a queue of messages per (channel, source, tag).
// A send copies the bytes into the destination's mailbox and completes at
// once (buffered: a plan that is deadlock-free with blocking sends stays
// so); a receive waits on its own mailbox's condition variable until the
// message is there, another rank failed, or the deadline passed.
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Transport.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>

namespace soap::runtime {

Transport::~Transport() = default;

std::string Transport::send(Channel channel, int peer, int64_t tag,
                            const void *data, size_t bytes,
                            double timeoutSeconds) {
  Request r;
  std::string e = isend(channel, peer, tag, data, bytes, r);
  if (!e.empty())
    return e;
  return waitAll({r}, timeoutSeconds);
}

std::string Transport::recv(Channel channel, int peer, int64_t tag, void *data,
                            size_t bytes, double timeoutSeconds) {
  Request r;
  std::string e = irecv(channel, peer, tag, data, bytes, r);
  if (!e.empty())
    return e;
  return waitAll({r}, timeoutSeconds);
}

namespace {

const char *channelName(Channel c) {
  switch (c) {
  case Channel::Plan:
    return "plan";
  case Channel::Collective:
    return "collective";
  case Channel::Control:
    return "control";
  }
  return "?";
}

using Key = std::tuple<int, int, int64_t>; // channel, source, tag

struct Mailbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::map<Key, std::deque<std::vector<char>>> queues;
};

/// What the ranks of one process share.
struct World {
  explicit World(int n) : boxes(n) {}
  std::vector<Mailbox> boxes;
  std::mutex failMutex;
  std::string failMessage;
  bool failed = false; ///< guarded by failMutex; read under a box mutex too

  bool hasFailed() {
    std::lock_guard<std::mutex> lock(failMutex);
    return failed;
  }
  std::string message() {
    std::lock_guard<std::mutex> lock(failMutex);
    return failMessage;
  }
  void fail(const std::string &message) {
    {
      std::lock_guard<std::mutex> lock(failMutex);
      if (failed)
        return;
      failed = true;
      failMessage = message;
    }
    // Taking each mailbox's lock before notifying: a receiver that checked
    // the flag under its lock is now waiting, and gets the wakeup.
    for (Mailbox &b : boxes) {
      std::lock_guard<std::mutex> lock(b.mutex);
      b.arrived.notify_all();
    }
  }
};

class ThreadTransport final : public Transport {
public:
  ThreadTransport(std::shared_ptr<World> world, int rank)
      : world(std::move(world)), me(rank) {}

  int rank() const override { return me; }
  int size() const override { return static_cast<int>(world->boxes.size()); }
  const char *kind() const override { return "threads"; }

  std::string isend(Channel channel, int peer, int64_t tag, const void *data,
                    size_t bytes, Request &out) override {
    if (peer < 0 || peer >= size() || peer == me)
      return "rank " + std::to_string(me) + ": send to invalid peer " +
             std::to_string(peer);
    std::vector<char> message(bytes);
    if (bytes)
      std::memcpy(message.data(), data, bytes);
    Mailbox &box = world->boxes[peer];
    {
      std::lock_guard<std::mutex> lock(box.mutex);
      box.queues[Key(static_cast<int>(channel), me, tag)].push_back(
          std::move(message));
    }
    box.arrived.notify_all();
    out.id = -1; // complete
    return "";
  }

  std::string irecv(Channel channel, int peer, int64_t tag, void *data,
                    size_t bytes, Request &out) override {
    if (peer < 0 || peer >= size() || peer == me)
      return "rank " + std::to_string(me) + ": receive from invalid peer " +
             std::to_string(peer);
    out.id = nextId++;
    pending[out.id] = {channel, peer, tag, data, bytes};
    return "";
  }

  std::string waitAll(const std::vector<Request> &requests,
                      double timeoutSeconds) override {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(timeoutSeconds));
    std::string error;
    Mailbox &box = world->boxes[me];
    for (const Request &r : requests) {
      auto found = pending.find(r.id);
      if (found == pending.end() || !error.empty())
        continue;
      const Pending p = found->second;
      Key key(static_cast<int>(p.channel), p.peer, p.tag);
      std::unique_lock<std::mutex> lock(box.mutex);
      while (true) {
        auto it = box.queues.find(key);
        if (it != box.queues.end() && !it->second.empty()) {
          std::vector<char> message = std::move(it->second.front());
          it->second.pop_front();
          if (it->second.empty())
            box.queues.erase(it);
          lock.unlock();
          if (message.size() != p.bytes) {
            error = "rank " + std::to_string(me) + ": a message from rank " +
                    std::to_string(p.peer) + " (" + channelName(p.channel) +
                    " tag " + std::to_string(p.tag) + ") has " +
                    std::to_string(message.size()) + " bytes, expected " +
                    std::to_string(p.bytes);
          } else if (p.bytes) {
            std::memcpy(p.data, message.data(), p.bytes);
          }
          break;
        }
        if (world->hasFailed()) {
          error = "rank " + std::to_string(me) + ": stopped, another rank failed";
          break;
        }
        if (box.arrived.wait_until(lock, deadline) == std::cv_status::timeout &&
            std::chrono::steady_clock::now() >= deadline) {
          auto again = box.queues.find(key);
          if (again != box.queues.end() && !again->second.empty())
            continue;
          char seconds[32];
          std::snprintf(seconds, sizeof seconds, "%g", timeoutSeconds);
          error = "rank " + std::to_string(me) + ": timed out after " + seconds +
                  " s waiting for a message from rank " +
                  std::to_string(p.peer) + " (" + channelName(p.channel) +
                  " tag " + std::to_string(p.tag) +
                  "); that rank died, hangs or is out of step";
          break;
        }
      }
    }
    for (const Request &r : requests)
      pending.erase(r.id);
    return error;
  }

  void fail(const std::string &message) override { world->fail(message); }
  std::string failure() const override { return world->message(); }

private:
  struct Pending {
    Channel channel;
    int peer;
    int64_t tag;
    void *data;
    size_t bytes;
  };
  std::shared_ptr<World> world;
  int me;
  std::map<int64_t, Pending> pending;
  int64_t nextId = 0;
};

} // namespace

std::vector<std::unique_ptr<Transport>> makeThreadTransports(int numRanks) {
  auto world = std::make_shared<World>(numRanks);
  std::vector<std::unique_ptr<Transport>> out;
  for (int r = 0; r < numRanks; ++r)
    out.push_back(std::make_unique<ThreadTransport>(world, r));
  return out;
}

} // namespace soap::runtime
