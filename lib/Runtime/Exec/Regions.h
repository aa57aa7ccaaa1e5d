//===- Regions.h - boxes of row-major buffers -------------------*- C++ -*-===//
//
// Private to SoapRuntime: moving a region (an offset and a shape per axis)
// of one dense row-major buffer into a region of another, row by row.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_LIB_RUNTIME_EXEC_REGIONS_H
#define SOAP_LIB_RUNTIME_EXEC_REGIONS_H

#include "soap/Plan/Plan.h"
#include "soap/Runtime/Collectives.h"

#include <cstring>
#include <vector>

namespace soap::runtime {

inline bool isContiguous(const std::vector<int64_t> &shape, const PlanRegion &r) {
  // Contiguous iff after the first axis where the region is longer than 1,
  // every axis is whole.
  size_t a = 0;
  while (a < shape.size() && r.shape[a] == 1)
    ++a;
  for (size_t b = a + 1; b < shape.size(); ++b)
    if (r.offset[b] != 0 || r.shape[b] != shape[b])
      return false;
  return true;
}

inline int64_t flatOffset(const std::vector<int64_t> &shape,
                   const std::vector<int64_t> &at) {
  int64_t g = 0;
  for (size_t a = 0; a < shape.size(); ++a)
    g = g * shape[a] + at[a];
  return g;
}

/// Calls f(offset in a, offset in b, length) for the rows of a region of
/// shape `region` at `offA` in a buffer of `shapeA` and at `offB` in one of
/// `shapeB` (element offsets).
template <class F>
void regionRows(const std::vector<int64_t> &region,
                const std::vector<int64_t> &shapeA,
                const std::vector<int64_t> &offA,
                const std::vector<int64_t> &shapeB,
                const std::vector<int64_t> &offB, F &&f) {
  const size_t rank = region.size();
  if (rank == 0) {
    f(0, 0, 1);
    return;
  }
  for (int64_t s : region)
    if (s == 0)
      return;
  const int64_t len = region[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  while (true) {
    int64_t a = 0, b = 0;
    for (size_t k = 0; k < rank; ++k) {
      a = a * shapeA[k] + offA[k] + idx[k];
      b = b * shapeB[k] + offB[k] + idx[k];
    }
    f(a, b, len);
    size_t k = rank - 1;
    while (k-- > 0) {
      if (++idx[k] < region[k])
        break;
      idx[k] = 0;
    }
    if (k == static_cast<size_t>(-1))
      return;
  }
}

/// Moves a region of `src` into a region of `dst` (same region shape):
/// copies, or adds when `accumulate`.
inline void moveRegion(DType dtype, const char *src, const std::vector<int64_t> &srcShape,
                const PlanRegion &srcRegion, char *dst,
                const std::vector<int64_t> &dstShape, const PlanRegion &dstRegion,
                bool accumulate) {
  const size_t esz = static_cast<size_t>(byteWidth(dtype));
  regionRows(srcRegion.shape, srcShape, srcRegion.offset, dstShape,
             dstRegion.offset, [&](int64_t a, int64_t b, int64_t len) {
               if (accumulate)
                 addInto(dtype, dst + b * esz, src + a * esz, len);
               else
                 std::memmove(dst + b * esz, src + a * esz, len * esz);
             });
}

/// The region as a dense array of its own shape.
inline PlanRegion denseRegion(const PlanRegion &r) {
  PlanRegion d;
  d.shape = r.shape;
  d.offset.assign(r.shape.size(), 0);
  return d;
}

} // namespace soap::runtime

#endif // SOAP_LIB_RUNTIME_EXEC_REGIONS_H
