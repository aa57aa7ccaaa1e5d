//===- Collectives.cpp - deterministic collectives over a Transport -------===//
#include "soap/Runtime/Collectives.h"

#include <algorithm>
#include <cstring>

namespace soap::runtime {

namespace {

std::string unsupported(DType t) {
  return std::string("collectives on ") + toString(t) +
         " data are not supported by the CPU runtime";
}

bool supported(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::I32 ||
         t == DType::I64;
}

/// Element range [lo, hi) of chunk k of n over `count` elements.
int64_t chunkLo(int64_t count, int n, int k) { return count * k / n; }

/// out[i] = sum over members j (in order) of parts[j][i].
/// In blocks: every part's block is read before the block of `out` (which
/// may be one of the parts) is written; the loops vectorize.
template <class T, class Acc>
void sumInOrder(const std::vector<const void *> &parts, void *out,
                int64_t count) {
  constexpr int64_t kBlock = 512;
  Acc acc[kBlock];
  T *o = static_cast<T *>(out);
  for (int64_t b = 0; b < count; b += kBlock) {
    const int64_t len = std::min(kBlock, count - b);
    const T *p0 = static_cast<const T *>(parts[0]) + b;
    for (int64_t i = 0; i < len; ++i)
      acc[i] = static_cast<Acc>(p0[i]);
    for (size_t j = 1; j < parts.size(); ++j) {
      const T *pj = static_cast<const T *>(parts[j]) + b;
      for (int64_t i = 0; i < len; ++i)
        acc[i] += static_cast<Acc>(pj[i]);
    }
    for (int64_t i = 0; i < len; ++i)
      o[b + i] = static_cast<T>(acc[i]);
  }
}

void sumParts(DType dtype, const std::vector<const void *> &parts, void *out,
              int64_t count) {
  switch (dtype) {
  case DType::F32:
    sumInOrder<float, double>(parts, out, count);
    break;
  case DType::F64:
    sumInOrder<double, double>(parts, out, count);
    break;
  case DType::I32:
    sumInOrder<int32_t, int64_t>(parts, out, count);
    break;
  case DType::I64:
    sumInOrder<int64_t, int64_t>(parts, out, count);
    break;
  default:
    break;
  }
}

/// Per-thread scratch for received chunks, kept between calls (no page
/// faults and no zeroing per collective).
char *scratch(size_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes)
    buffer.resize(bytes);
  return buffer.data();
}

struct Exchange {
  const CollectiveCall &c;
  std::vector<Request> requests;
  std::string error;

  int peer(int j) const { return (*c.ranks)[j]; }
  void send(int j, int phase, const void *data, size_t bytes) {
    if (!error.empty())
      return;
    Request r;
    error = c.transport->isend(c.channel, peer(j), c.tag * 4 + phase, data,
                               bytes, r);
    requests.push_back(r);
  }
  void recv(int j, int phase, void *data, size_t bytes) {
    if (!error.empty())
      return;
    Request r;
    error = c.transport->irecv(c.channel, peer(j), c.tag * 4 + phase, data,
                               bytes, r);
    requests.push_back(r);
  }
  std::string wait() {
    std::string e = c.transport->waitAll(requests, c.timeoutSeconds);
    requests.clear();
    if (error.empty())
      error = e;
    return error;
  }
};

} // namespace

void addInto(DType dtype, void *dst, const void *src, int64_t count) {
  switch (dtype) {
  case DType::F32: {
    float *d = static_cast<float *>(dst);
    const float *s = static_cast<const float *>(src);
    for (int64_t i = 0; i < count; ++i)
      d[i] += s[i];
    break;
  }
  case DType::F64: {
    double *d = static_cast<double *>(dst);
    const double *s = static_cast<const double *>(src);
    for (int64_t i = 0; i < count; ++i)
      d[i] += s[i];
    break;
  }
  case DType::I32: {
    int32_t *d = static_cast<int32_t *>(dst);
    const int32_t *s = static_cast<const int32_t *>(src);
    for (int64_t i = 0; i < count; ++i)
      d[i] += s[i];
    break;
  }
  case DType::I64: {
    int64_t *d = static_cast<int64_t *>(dst);
    const int64_t *s = static_cast<const int64_t *>(src);
    for (int64_t i = 0; i < count; ++i)
      d[i] += s[i];
    break;
  }
  default:
    break;
  }
}

std::string allReduce(const CollectiveCall &c, DType dtype, void *data,
                      int64_t count) {
  const int n = static_cast<int>(c.ranks->size());
  if (n == 1 || count == 0)
    return "";
  if (!supported(dtype))
    return unsupported(dtype);
  const int me = c.index;
  const size_t esz = static_cast<size_t>(byteWidth(dtype));
  char *bytes = static_cast<char *>(data);
  const int64_t lo = chunkLo(count, n, me), hi = chunkLo(count, n, me + 1);
  const int64_t mine = hi - lo;
  // Phase 0: chunk j to member j; everyone's chunk `me` to here (slot j of
  // the scratch). The sum then overwrites this member's chunk in place
  // (its own contribution is read before it is written, element by
  // element).
  const size_t chunk = static_cast<size_t>(mine) * esz;
  char *staging = scratch(chunk * n);
  Exchange x{c, {}, {}};
  // Receives first: a send that finds its receive posted copies once.
  for (int j = 0; j < n; ++j)
    if (j != me)
      x.recv(j, 0, staging + j * chunk, chunk);
  for (int j = 0; j < n; ++j) {
    if (j == me)
      continue;
    int64_t jl = chunkLo(count, n, j), jh = chunkLo(count, n, j + 1);
    x.send(j, 0, bytes + jl * esz, static_cast<size_t>(jh - jl) * esz);
  }
  if (!x.wait().empty())
    return x.error;
  std::vector<const void *> parts(n);
  for (int j = 0; j < n; ++j)
    parts[j] = j == me ? static_cast<const void *>(bytes + lo * esz)
                       : staging + j * chunk;
  sumParts(dtype, parts, bytes + lo * esz, mine);
  // Phase 1: the sums to everyone.
  for (int j = 0; j < n; ++j) {
    if (j == me)
      continue;
    int64_t jl = chunkLo(count, n, j), jh = chunkLo(count, n, j + 1);
    x.recv(j, 1, bytes + jl * esz, static_cast<size_t>(jh - jl) * esz);
  }
  for (int j = 0; j < n; ++j)
    if (j != me)
      x.send(j, 1, bytes + lo * esz, static_cast<size_t>(mine) * esz);
  return x.wait();
}

std::string allGather(const CollectiveCall &c, DType dtype, const void *src,
                      void *dst, int64_t count) {
  const int n = static_cast<int>(c.ranks->size());
  const size_t piece = static_cast<size_t>(count * byteWidth(dtype));
  char *out = static_cast<char *>(dst);
  if (piece)
    std::memmove(out + c.index * piece, src, piece);
  Exchange x{c, {}, {}};
  for (int j = 0; j < n; ++j) {
    if (j == c.index)
      continue;
    x.send(j, 0, out + c.index * piece, piece);
    x.recv(j, 0, out + j * piece, piece);
  }
  return x.wait();
}

std::string reduceScatter(const CollectiveCall &c, DType dtype,
                          const void *src, void *dst, int64_t count) {
  const int n = static_cast<int>(c.ranks->size());
  if (!supported(dtype))
    return unsupported(dtype);
  const size_t piece = static_cast<size_t>(count * byteWidth(dtype));
  const char *in = static_cast<const char *>(src);
  char *staging = scratch(piece * n);
  Exchange x{c, {}, {}};
  for (int j = 0; j < n; ++j) {
    if (j == c.index)
      continue;
    x.send(j, 0, in + j * piece, piece);
    x.recv(j, 0, staging + j * piece, piece);
  }
  if (!x.wait().empty())
    return x.error;
  std::vector<const void *> parts(n);
  for (int j = 0; j < n; ++j)
    parts[j] = j == c.index ? static_cast<const void *>(in + j * piece)
                            : staging + j * piece;
  sumParts(dtype, parts, dst, count);
  return "";
}

std::string broadcast(const CollectiveCall &c, DType dtype, void *data,
                      int64_t count, int root) {
  const int n = static_cast<int>(c.ranks->size());
  const size_t bytes = static_cast<size_t>(count * byteWidth(dtype));
  Exchange x{c, {}, {}};
  if (c.index == root) {
    for (int j = 0; j < n; ++j)
      if (j != root)
        x.send(j, 0, data, bytes);
  } else {
    x.recv(root, 0, data, bytes);
  }
  return x.wait();
}

std::string allToAll(const CollectiveCall &c, DType dtype, const void *src,
                     void *dst, int64_t count) {
  const int n = static_cast<int>(c.ranks->size());
  const size_t piece = static_cast<size_t>(count * byteWidth(dtype));
  const char *in = static_cast<const char *>(src);
  char *out = static_cast<char *>(dst);
  if (piece)
    std::memmove(out + c.index * piece, in + c.index * piece, piece);
  Exchange x{c, {}, {}};
  for (int j = 0; j < n; ++j) {
    if (j == c.index)
      continue;
    x.send(j, 0, in + j * piece, piece);
    x.recv(j, 0, out + j * piece, piece);
  }
  return x.wait();
}

std::string barrier(const CollectiveCall &c) {
  const int n = static_cast<int>(c.ranks->size());
  if (n == 1)
    return "";
  char token = 0;
  std::vector<char> tokens(n);
  Exchange x{c, {}, {}};
  if (c.index == 0) {
    for (int j = 1; j < n; ++j)
      x.recv(j, 2, &tokens[j], 1);
    if (!x.wait().empty())
      return x.error;
    for (int j = 1; j < n; ++j)
      x.send(j, 3, &token, 1);
  } else {
    x.send(0, 2, &token, 1);
    x.recv(0, 3, &tokens[0], 1);
  }
  return x.wait();
}

} // namespace soap::runtime
