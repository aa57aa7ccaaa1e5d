//===- ThreadTransport.cpp - ranks as threads of one process --------------===//
//
// Every rank has a mailbox with, per (channel, source, tag), the messages
// that came before their receive and the receives posted before their
// message. A send whose receive is posted copies straight into the
// receiver's buffer (one copy); otherwise it leaves a copy in the mailbox.
// Either way the send completes at once (a plan that is deadlock-free with
// blocking sends stays so). A receive spins briefly, then waits on its
// mailbox's condition variable until the data is there, another rank
// failed, or the deadline passed; a receive given up is withdrawn so that
// no late sender writes into it.
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Transport.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
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

/// A receive posted before its message arrived: the sender copies straight
/// into `data`.
struct Posted {
  void *data = nullptr;
  size_t bytes = 0;
  bool claimed = false;          ///< a sender is copying (guarded by the box)
  std::atomic<bool> done{false}; ///< the data (or `error`) is there
  std::string error;
};

struct Mailbox {
  std::mutex mutex;
  std::condition_variable arrived;
  /// Messages that came before their receive (copies).
  std::map<Key, std::deque<std::vector<char>>> queues;
  /// Receives that came before their message. For one key, at most one of
  /// the two queues is non-empty.
  std::map<Key, std::deque<std::shared_ptr<Posted>>> posted;
  /// Buffers of consumed copies, reused by later copies: a fresh
  /// multi-megabyte buffer per message costs its page faults every step.
  std::vector<std::vector<char>> spare;
};

constexpr size_t kMaxSpare = 8;

/// What the ranks of one process share.
struct World {
  explicit World(int n) : boxes(n) {}
  std::vector<Mailbox> boxes;
  std::mutex failMutex;
  std::string failMessage;
  std::atomic<bool> failed{false};

  std::string message() {
    std::lock_guard<std::mutex> lock(failMutex);
    return failMessage;
  }
  void fail(const std::string &message) {
    {
      std::lock_guard<std::mutex> lock(failMutex);
      if (failed)
        return;
      failMessage = message;
      failed = true;
    }
    // Taking each mailbox's lock before notifying: a receiver that checked
    // the flag under its lock is now waiting, and gets the wakeup.
    for (Mailbox &b : boxes) {
      std::lock_guard<std::mutex> lock(b.mutex);
      b.arrived.notify_all();
    }
  }
};

std::string sizeError(int me, int peer, Channel c, int64_t tag, size_t got,
                      size_t want) {
  return "rank " + std::to_string(me) + ": a message from rank " +
         std::to_string(peer) + " (" + channelName(c) + " tag " +
         std::to_string(tag) + ") has " + std::to_string(got) +
         " bytes, expected " + std::to_string(want);
}

class ThreadTransport final : public Transport {
public:
  ThreadTransport(std::shared_ptr<World> world, int rank)
      : world(std::move(world)), me(rank) {}

  int rank() const override { return me; }
  int size() const override { return static_cast<int>(world->boxes.size()); }
  const char *kind() const override { return "threads"; }

  std::string isend(Channel channel, int peer, int64_t tag, const void *data,
                    size_t bytes, Request &out) override {
    out.id = -1; // a send completes here
    if (peer < 0 || peer >= size() || peer == me)
      return "rank " + std::to_string(me) + ": send to invalid peer " +
             std::to_string(peer);
    Mailbox &box = world->boxes[peer];
    const Key key(static_cast<int>(channel), me, tag);
    std::vector<char> copy;
    bool copied = false;
    while (true) {
      std::unique_lock<std::mutex> lock(box.mutex);
      auto it = box.posted.find(key);
      if (it != box.posted.end() && !it->second.empty()) {
        // The receive is waiting: copy straight into it, outside the lock.
        std::shared_ptr<Posted> r = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty())
          box.posted.erase(it);
        r->claimed = true;
        lock.unlock();
        if (r->bytes != bytes)
          r->error = sizeError(peer, me, channel, tag, bytes, r->bytes);
        else if (bytes)
          std::memcpy(r->data, data, bytes);
        lock.lock();
        r->done = true;
        box.arrived.notify_all();
        return "";
      }
      if (copied) {
        box.queues[key].push_back(std::move(copy));
        box.arrived.notify_all();
        return "";
      }
      // No receive yet: copy the data (outside the lock; into a spare
      // buffer large enough when there is one), then look again.
      for (size_t i = box.spare.size(); i-- > 0;)
        if (box.spare[i].capacity() >= bytes) {
          copy = std::move(box.spare[i]);
          box.spare.erase(box.spare.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      lock.unlock();
      copy.assign(static_cast<const char *>(data),
                  static_cast<const char *>(data) + bytes);
      copied = true;
    }
  }

  std::string irecv(Channel channel, int peer, int64_t tag, void *data,
                    size_t bytes, Request &out) override {
    if (peer < 0 || peer >= size() || peer == me)
      return "rank " + std::to_string(me) + ": receive from invalid peer " +
             std::to_string(peer);
    Mailbox &box = world->boxes[me];
    const Key key(static_cast<int>(channel), peer, tag);
    auto r = std::make_shared<Posted>();
    r->data = data;
    r->bytes = bytes;
    std::vector<char> message;
    bool queued = false; // the message came first
    {
      std::lock_guard<std::mutex> lock(box.mutex);
      auto it = box.queues.find(key);
      if (it == box.queues.end() || it->second.empty()) {
        // From here on a sender may claim r at any time.
        box.posted[key].push_back(r);
      } else {
        message = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty())
          box.queues.erase(it);
        r->claimed = true;
        queued = true;
      }
    }
    if (queued) {
      if (message.size() != bytes)
        r->error = sizeError(me, peer, channel, tag, message.size(), bytes);
      else if (bytes)
        std::memcpy(data, message.data(), bytes);
      r->done = true;
      std::lock_guard<std::mutex> lock(box.mutex);
      if (box.spare.size() < kMaxSpare && message.capacity() > 0)
        box.spare.push_back(std::move(message));
    }
    out.id = nextId++;
    pending[out.id] = {channel, peer, tag, r};
    return "";
  }

  std::string waitAll(const std::vector<Request> &requests,
                      double timeoutSeconds) override {
    using Clock = std::chrono::steady_clock;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(timeoutSeconds));
    std::string error;
    Mailbox &box = world->boxes[me];
    for (const Request &q : requests) {
      auto found = pending.find(q.id);
      if (found == pending.end())
        continue;
      const Pending p = found->second;
      pending.erase(found);
      Posted &r = *p.posted;
      // Spin a little (the sender is usually about to arrive), then sleep.
      for (int spin = 0; spin < 200 && !r.done && error.empty(); ++spin)
        std::this_thread::yield();
      if (!r.done && error.empty()) {
        std::unique_lock<std::mutex> lock(box.mutex);
        while (!r.done) {
          if (!error.empty() || world->failed) {
            if (error.empty())
              error = "rank " + std::to_string(me) +
                      ": stopped, another rank failed";
          } else if (box.arrived.wait_until(lock, deadline) ==
                         std::cv_status::timeout &&
                     !r.done) {
            char seconds[32];
            std::snprintf(seconds, sizeof seconds, "%g", timeoutSeconds);
            error = "rank " + std::to_string(me) + ": timed out after " +
                    seconds + " s waiting for a message from rank " +
                    std::to_string(p.peer) + " (" + channelName(p.channel) +
                    " tag " + std::to_string(p.tag) +
                    "); that rank died, hangs or is out of step";
          }
          if (error.empty())
            continue;
          // Give up on this receive: withdraw it, unless a sender is
          // copying into it right now (then let the copy finish).
          if (!r.claimed) {
            auto it = box.posted.find(Key(static_cast<int>(p.channel), p.peer, p.tag));
            if (it != box.posted.end()) {
              auto &dq = it->second;
              dq.erase(std::remove(dq.begin(), dq.end(), p.posted), dq.end());
              if (dq.empty())
                box.posted.erase(it);
            }
            break;
          }
          box.arrived.wait(lock, [&] { return r.done.load(); });
          break;
        }
      }
      if (error.empty() && !r.error.empty())
        error = r.error;
    }
    // Requests not reached after an error: withdraw them too.
    for (const Request &q : requests) {
      auto found = pending.find(q.id);
      if (found == pending.end())
        continue;
      withdraw(found->second);
      pending.erase(found);
    }
    return error;
  }

  void fail(const std::string &message) override { world->fail(message); }
  std::string failure() const override { return world->message(); }

private:
  struct Pending {
    Channel channel;
    int peer;
    int64_t tag;
    std::shared_ptr<Posted> posted;
  };

  void withdraw(const Pending &p) {
    Mailbox &box = world->boxes[me];
    std::unique_lock<std::mutex> lock(box.mutex);
    if (p.posted->claimed) {
      box.arrived.wait(lock, [&] { return p.posted->done.load(); });
      return;
    }
    auto it = box.posted.find(Key(static_cast<int>(p.channel), p.peer, p.tag));
    if (it == box.posted.end())
      return;
    auto &dq = it->second;
    dq.erase(std::remove(dq.begin(), dq.end(), p.posted), dq.end());
    if (dq.empty())
      box.posted.erase(it);
  }

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
