//===- Tensor.cpp - shapes and views ------------------------------------===//

#include "soap/Runtime/Cpu/Tensor.h"

#include <cassert>

namespace soap::cpu {

Shape::Shape(IntList d) : rank(static_cast<int>(d.size())) {
  assert(d.size() <= static_cast<size_t>(kMaxRank) && "rank above kMaxRank");
  for (int i = 0; i < rank; ++i)
    dims[i] = d[i];
}

int64_t Shape::numel() const { return product(0, rank); }

int64_t Shape::product(int begin, int end) const {
  int64_t n = 1;
  for (int i = begin; i < end; ++i)
    n *= dims[i];
  return n;
}

Shape Shape::dropBack() const {
  Shape s = *this;
  s.rank = rank - 1;
  return s;
}

Shape Shape::append(int64_t d) const {
  Shape s = *this;
  s.dims[s.rank++] = d;
  return s;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i)
      s += "x";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape &o) const {
  if (rank != o.rank)
    return false;
  for (int i = 0; i < rank; ++i)
    if (dims[i] != o.dims[i])
      return false;
  return true;
}

void contiguousStrides(const Shape &shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = shape.rank - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape.dims[i];
  }
}

bool broadcastShapes(const Shape &a, const Shape &b, Shape &result) {
  int rank = a.rank > b.rank ? a.rank : b.rank;
  Shape r;
  r.rank = rank;
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank), ib = i - (rank - b.rank);
    int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return false;
    r.dims[i] = da == 1 ? db : da;
  }
  result = r;
  return true;
}

} // namespace soap::cpu
