//===- Checkpoint.cpp - sharded training state on disk --------------------===//
#include "soap/Runtime/Checkpoint.h"

#include "Regions.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace soap::runtime {

namespace {

using json = nlohmann::json;

constexpr char kMagic[8] = {'S', 'O', 'A', 'P', 'C', 'K', 'P', 'T'};
constexpr int kFormatVersion = 1;
constexpr int64_t kReportTag = 2;
constexpr int kKeep = 2;

bool persistent(BufferRole r) {
  return r == BufferRole::Weight || r == BufferRole::OptimizerState ||
         r == BufferRole::State;
}

uint64_t checksum(const char *p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i)
    h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  return h;
}

std::string hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

std::string stepName(int64_t step) {
  char b[32];
  std::snprintf(b, sizeof b, "step-%08lld", static_cast<long long>(step));
  return b;
}

std::string rankFile(int rank) {
  char b[32];
  std::snprintf(b, sizeof b, "rank-%05d.bin", rank);
  return b;
}

std::string sysError(const std::string &what) {
  return what + ": " + std::strerror(errno);
}

std::string makeDirs(const std::string &path) {
  std::string at;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/')
    at = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty())
      continue;
    at += part + "/";
    if (mkdir(at.c_str(), 0777) != 0 && errno != EEXIST)
      return sysError("cannot create " + at);
  }
  return "";
}

void syncDir(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    ::close(fd);
  }
}

/// Writes `parts` to `path` through a temporary file, fsync and rename.
std::string writeAtomically(const std::string &path,
                            const std::vector<std::pair<const char *, size_t>> &parts) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0)
    return sysError("cannot write " + tmp);
  for (auto [p, n] : parts) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        std::string e = sysError("cannot write " + tmp);
        ::close(fd);
        return e;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  if (fsync(fd) != 0 || ::close(fd) != 0)
    return sysError("cannot flush " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return sysError("cannot rename " + tmp + " to " + path);
  return "";
}

std::string readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "cannot read " + path;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return "";
}

/// What a buffer holds of its tensor: a ZeRO part's padding rows are not
/// saved (they are a suffix of the buffer, after its tensor rows).
int64_t tensorBytes(const PlanBuffer &b) {
  int64_t n = byteWidth(b.dtype);
  for (int64_t d : b.tensorShape())
    n *= d;
  return n;
}

json boxJson(const PlanBuffer &b) {
  return json{{"name", b.name},
              {"role", toString(b.role)},
              {"tensor", b.tensor},
              {"dtype", toString(b.dtype)},
              {"shape", b.tensorShape()},
              {"offset", b.offset},
              {"global_shape", b.globalShape}};
}

/// Old step directories beyond the newest kKeep complete ones.
void pruneOld(const std::string &dir) {
  DIR *d = opendir(dir.c_str());
  if (!d)
    return;
  std::vector<std::string> steps;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("step-", 0) == 0 && n.find('.') == std::string::npos)
      steps.push_back(n);
  }
  closedir(d);
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + kKeep < steps.size(); ++i) {
    std::string sd = dir + "/" + steps[i];
    if (DIR *s = opendir(sd.c_str())) {
      while (dirent *e = readdir(s)) {
        std::string n = e->d_name;
        if (n != "." && n != "..")
          std::remove((sd + "/" + n).c_str());
      }
      closedir(s);
    }
    rmdir(sd.c_str());
  }
}

} // namespace

std::string saveCheckpoint(RankExecutor &ex, const std::string &dir,
                           int64_t step) {
  const Plan &plan = ex.plan();
  const int rank = ex.rank();
  Transport &tr = ex.transport();
  const double timeout = ex.options().timeoutSeconds;
  const std::string stepDir = dir + "/" + stepName(step);
  std::string e = makeDirs(stepDir);

  // This rank's file: header, then each owned persistent buffer at a
  // 64-byte aligned offset.
  json entries = json::array();
  std::vector<const PlanBuffer *> saved;
  uint64_t at = 0;
  for (const PlanBuffer &b : ex.rankPlan().buffers) {
    if (!persistent(b.role) || !ex.ownsReplica(b))
      continue;
    json j = boxJson(b);
    j["at"] = at;
    j["bytes"] = tensorBytes(b);
    entries.push_back(std::move(j));
    saved.push_back(&b);
    at += (static_cast<uint64_t>(tensorBytes(b)) + 63) & ~uint64_t(63);
  }
  std::string header =
      json{{"format", "soap-checkpoint-shard"},
           {"version", kFormatVersion},
           {"rank", rank},
           {"step", step},
           {"entries", entries}}
          .dump();
  uint64_t headerBytes = header.size();
  uint64_t dataStart = (16 + headerBytes + 63) & ~uint64_t(63);
  std::vector<char> prefix(dataStart, 0);
  std::memcpy(prefix.data(), kMagic, 8);
  std::memcpy(prefix.data() + 8, &headerBytes, 8);
  std::memcpy(prefix.data() + 16, header.data(), header.size());
  static const char zeros[64] = {};
  std::vector<std::pair<const char *, size_t>> parts = {
      {prefix.data(), prefix.size()}};
  uint64_t sum = checksum(prefix.data(), prefix.size());
  uint64_t total = prefix.size();
  for (const PlanBuffer *b : saved) {
    const char *p = static_cast<const char *>(ex.data(b->id));
    size_t n = static_cast<size_t>(tensorBytes(*b));
    size_t pad = ((n + 63) & ~size_t(63)) - n;
    parts.push_back({p, n});
    sum = checksum(p, n, sum);
    if (pad) {
      parts.push_back({zeros, pad});
      sum = checksum(zeros, pad, sum);
    }
    total += n + pad;
  }
  if (e.empty())
    e = writeAtomically(stepDir + "/" + rankFile(rank), parts);
  if (!e.empty()) {
    e = "rank " + std::to_string(rank) + ": checkpoint: " + e;
    tr.fail(e);
    return e;
  }

  // Report to rank 0: (checksum, bytes).
  uint64_t report[2] = {sum, total};
  if (rank != 0) {
    e = tr.send(Channel::Control, 0, kReportTag, report, sizeof report, timeout);
    if (!e.empty())
      tr.fail(e);
    return e;
  }
  json files = json::array();
  for (int r = 0; r < plan.numRanks; ++r) {
    uint64_t got[2] = {report[0], report[1]};
    if (r != 0) {
      e = tr.recv(Channel::Control, r, kReportTag, got, sizeof got, timeout);
      if (!e.empty()) {
        tr.fail(e);
        return e;
      }
    }
    files.push_back(json{{"rank", r},
                         {"file", rankFile(r)},
                         {"bytes", got[1]},
                         {"checksum", hex(got[0])}});
  }
  json manifest{{"format", "soap-checkpoint"},
                {"version", kFormatVersion},
                {"step", step},
                {"model", plan.modelName},
                {"fingerprint", plan.modelFingerprint},
                {"num_ranks", plan.numRanks},
                {"seed", ex.options().seed},
                {"optimizer", toString(plan.optimizer.kind)},
                {"files", files}};
  std::string text = manifest.dump(2) + "\n";
  e = writeAtomically(stepDir + "/manifest.json", {{text.data(), text.size()}});
  if (e.empty()) {
    syncDir(stepDir);
    std::string latest = stepName(step) + "\n";
    e = writeAtomically(dir + "/latest", {{latest.data(), latest.size()}});
  }
  if (!e.empty()) {
    e = "rank 0: checkpoint: " + e;
    tr.fail(e);
    return e;
  }
  syncDir(dir);
  pruneOld(dir);
  return "";
}

namespace {

std::string readManifest(const std::string &dir, json &manifest,
                         std::string &stepDir) {
  std::string latest;
  if (!readFile(dir + "/latest", latest).empty())
    return "no checkpoint in " + dir + " (no 'latest' file)";
  while (!latest.empty() && (latest.back() == '\n' || latest.back() == ' '))
    latest.pop_back();
  stepDir = dir + "/" + latest;
  std::string text;
  if (!readFile(stepDir + "/manifest.json", text).empty())
    return "checkpoint " + stepDir + " has no manifest (incomplete)";
  manifest = json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() ||
      manifest.value("format", "") != "soap-checkpoint")
    return stepDir + "/manifest.json: not a Soap checkpoint manifest";
  if (manifest.value("version", 0) != kFormatVersion)
    return stepDir + "/manifest.json: format version " +
           std::to_string(manifest.value("version", 0)) + ", expected " +
           std::to_string(kFormatVersion);
  return "";
}

struct Shard {
  std::string data; ///< the whole file
  json entries;
  uint64_t dataStart = 0;
};

} // namespace

std::string latestCheckpointStep(const std::string &dir, int64_t &step) {
  json manifest;
  std::string stepDir;
  std::string e = readManifest(dir, manifest, stepDir);
  if (!e.empty())
    return e;
  step = manifest.value("step", int64_t(0));
  return "";
}

std::string loadCheckpoint(RankExecutor &ex, const std::string &dir,
                           int64_t &step) {
  const Plan &plan = ex.plan();
  json manifest;
  std::string stepDir;
  std::string e = readManifest(dir, manifest, stepDir);
  if (!e.empty())
    return e;
  if (manifest.value("fingerprint", "") != plan.modelFingerprint)
    return "checkpoint " + stepDir + " is of model '" +
           manifest.value("model", "") + "' (fingerprint " +
           manifest.value("fingerprint", "") + "), the plan's is '" +
           plan.modelName + "' (" + plan.modelFingerprint + ")";
  if (manifest.value("optimizer", "") != toString(plan.optimizer.kind))
    return "checkpoint " + stepDir + " holds " +
           manifest.value("optimizer", "") + " state, the plan uses " +
           toString(plan.optimizer.kind);
  step = manifest.value("step", int64_t(0));

  // Which saved boxes each persistent buffer of this rank needs.
  std::vector<std::unique_ptr<Shard>> shards;
  auto shardAt = [&](size_t i) -> std::string {
    if (shards[i])
      return "";
    const json &f = manifest["files"][i];
    auto s = std::make_unique<Shard>();
    std::string path = stepDir + "/" + f.value("file", "");
    if (!readFile(path, s->data).empty())
      return "checkpoint file " + path + " is missing";
    if (s->data.size() != f.value("bytes", uint64_t(0)) ||
        hex(checksum(s->data.data(), s->data.size())) != f.value("checksum", ""))
      return "checkpoint file " + path + " is damaged (size or checksum differs "
             "from the manifest)";
    if (s->data.size() < 16 || std::memcmp(s->data.data(), kMagic, 8) != 0)
      return path + ": not a Soap checkpoint shard";
    uint64_t headerBytes;
    std::memcpy(&headerBytes, s->data.data() + 8, 8);
    json h = json::parse(s->data.substr(16, headerBytes), nullptr, false);
    if (h.is_discarded() || !h.contains("entries"))
      return path + ": unreadable header";
    s->entries = h["entries"];
    s->dataStart = (16 + headerBytes + 63) & ~uint64_t(63);
    shards[i] = std::move(s);
    return "";
  };
  // The headers of every file (small), to find the overlapping boxes.
  const json &files = manifest["files"];
  if (!files.is_array())
    return stepDir + "/manifest.json: no files";
  shards.resize(files.size());
  std::vector<json> headers(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    std::string path = stepDir + "/" + files[i].value("file", "");
    std::ifstream in(path, std::ios::binary);
    char head[16];
    if (!in.read(head, 16) || std::memcmp(head, kMagic, 8) != 0)
      return "checkpoint file " + path + " is missing or not a Soap shard";
    uint64_t headerBytes;
    std::memcpy(&headerBytes, head + 8, 8);
    std::string text(headerBytes, '\0');
    if (!in.read(&text[0], static_cast<std::streamsize>(headerBytes)))
      return path + ": truncated header";
    headers[i] = json::parse(text, nullptr, false);
    if (headers[i].is_discarded() || !headers[i].contains("entries"))
      return path + ": unreadable header";
  }

  for (const PlanBuffer &b : ex.rankPlan().buffers) {
    if (!persistent(b.role))
      continue;
    const size_t rank = b.shape.size();
    // A ZeRO part restores its tensor rows only (a row-major prefix).
    const std::vector<int64_t> held = b.tensorShape();
    int64_t left = 1;
    for (int64_t d : held)
      left *= d;
    std::vector<char> covered(static_cast<size_t>(b.numElements()), 0);
    std::vector<int64_t> mo = b.offset;
    if (mo.size() != rank)
      mo.assign(rank, 0);
    for (size_t i = 0; i < headers.size() && left > 0; ++i)
      for (const json &en : headers[i]["entries"]) {
        if (left == 0)
          break;
        if (en.value("name", "") != b.name ||
            en.value("role", "") != toString(b.role))
          continue;
        if (en.value("dtype", "") != toString(b.dtype))
          return "checkpoint: '" + b.name + "' is saved as " +
                 en.value("dtype", "") + ", the plan has " + toString(b.dtype);
        std::vector<int64_t> es = en["shape"].get<std::vector<int64_t>>();
        std::vector<int64_t> eo = en["offset"].get<std::vector<int64_t>>();
        if (eo.size() != rank)
          eo.assign(rank, 0);
        if (es.size() != rank)
          return "checkpoint: '" + b.name + "' is saved with another rank";
        PlanRegion src, dst;
        bool empty = false;
        for (size_t a = 0; a < rank; ++a) {
          int64_t lo = std::max(eo[a], mo[a]);
          int64_t hi = std::min(eo[a] + es[a], mo[a] + held[a]);
          if (hi <= lo)
            empty = true;
          src.offset.push_back(lo - eo[a]);
          dst.offset.push_back(lo - mo[a]);
          src.shape.push_back(std::max<int64_t>(0, hi - lo));
          dst.shape.push_back(std::max<int64_t>(0, hi - lo));
        }
        if (empty)
          continue;
        e = shardAt(i);
        if (!e.empty())
          return e;
        const Shard &s = *shards[i];
        const char *from = s.data.data() + s.dataStart + en.value("at", uint64_t(0));
        moveRegion(b.dtype, from, es, src, static_cast<char *>(ex.data(b.id)),
                   b.shape, dst, false);
        // Count newly covered elements.
        regionRows(dst.shape, b.shape, dst.offset, b.shape, dst.offset,
                   [&](int64_t a, int64_t, int64_t len) {
                     for (int64_t k = 0; k < len; ++k)
                       if (!covered[a + k]) {
                         covered[a + k] = 1;
                         --left;
                       }
                   });
      }
    if (left > 0)
      return "checkpoint " + stepDir + " does not hold all of '" + b.name +
             "' (" + toString(b.role) + ", " + std::to_string(left) +
             " elements of rank " + std::to_string(ex.rank()) +
             "'s box are missing)";
  }
  return "";
}

} // namespace soap::runtime
