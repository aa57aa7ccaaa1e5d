//===- Data.cpp - initial weights, synthetic batches, .npy files ----------===//
#include "soap/Runtime/Data.h"

#include "soap/Runtime/Cpu/Cast.h"

#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace soap::runtime {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t streamKey(uint64_t seed, std::string_view name, uint64_t sub) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (char c : name)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return mix64(mix64(h ^ mix64(seed + 0x9E3779B97F4A7C15ull)) + sub);
}

double uniform01(uint64_t key, uint64_t index) {
  uint64_t bits = mix64(key + mix64(index * 0x9E3779B97F4A7C15ull + 1));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

double normal01(uint64_t key, uint64_t index) {
  double u1 = uniform01(key, 2 * index), u2 = uniform01(key, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) *
         std::cos(6.283185307179586 * u2);
}

std::pair<int64_t, int64_t> fans(const std::vector<int64_t> &shape) {
  switch (shape.size()) {
  case 0:
    return {1, 1};
  case 1:
    return {shape[0], shape[0]};
  case 2:
    return {shape[0], shape[1]};
  case 3:
    return {shape[1], shape[2]};
  default: {
    int64_t field = 1;
    for (size_t a = 2; a < shape.size(); ++a)
      field *= shape[a];
    return {shape[1] * field, shape[0] * field};
  }
  }
}

WeightInit::WeightInit(const PlanWeight &weight, uint64_t seed)
    : w(&weight), key(streamKey(seed, "weight:" + weight.name)) {
  const std::string &i = weight.init;
  auto [fanIn, fanOut] = fans(weight.shape);
  if (i == "zeros") {
    kind = Kind::Constant;
    scale = 0;
  } else if (i == "ones") {
    kind = Kind::Constant;
    scale = 1;
  } else if (i == "constant") {
    kind = Kind::Constant;
    scale = weight.scale;
  } else if (i == "uniform") {
    kind = Kind::Uniform;
    scale = weight.scale;
  } else if (i == "xavier_uniform") {
    kind = Kind::Uniform;
    scale = std::sqrt(6.0 / static_cast<double>(std::max<int64_t>(1, fanIn + fanOut))) *
            (weight.scale > 0 ? weight.scale : 1.0);
  } else if (i == "kaiming_normal") {
    kind = Kind::Normal;
    scale = std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(1, fanIn))) *
            (weight.scale > 0 ? weight.scale : 1.0);
  } else if (i == "value" && !weight.values.empty()) {
    kind = Kind::Values;
  } else {
    // "normal", and anything unknown: normal with the plan's scale (0.02
    // when none is given, the planner's default).
    kind = Kind::Normal;
    scale = weight.scale > 0 ? weight.scale : 0.02;
  }
}

double WeightInit::operator()(int64_t g) const {
  switch (kind) {
  case Kind::Zero:
    return 0;
  case Kind::Constant:
    return scale;
  case Kind::Normal:
    return scale * normal01(key, static_cast<uint64_t>(g));
  case Kind::Uniform:
    return scale * (2.0 * uniform01(key, static_cast<uint64_t>(g)) - 1.0);
  case Kind::Values:
    return w->values.size() == 1 ? w->values[0] : w->values[g];
  }
  return 0;
}

double loadElement(DType dtype, const void *data, int64_t i) {
  switch (dtype) {
  case DType::F64:
    return static_cast<const double *>(data)[i];
  case DType::I64:
    return static_cast<double>(static_cast<const int64_t *>(data)[i]);
  case DType::I32:
    return static_cast<const int32_t *>(data)[i];
  case DType::F16:
    return cpu::cast::fromHalf(static_cast<const uint16_t *>(data)[i]);
  case DType::BF16:
    return cpu::cast::fromBFloat16(static_cast<const uint16_t *>(data)[i]);
  case DType::I1:
    return static_cast<const uint8_t *>(data)[i] != 0 ? 1.0 : 0.0;
  case DType::F32:
    break;
  }
  return static_cast<const float *>(data)[i];
}

void storeElement(DType dtype, void *data, int64_t i, double v) {
  switch (dtype) {
  case DType::F64:
    static_cast<double *>(data)[i] = v;
    return;
  case DType::I64:
    static_cast<int64_t *>(data)[i] = static_cast<int64_t>(v);
    return;
  case DType::I32:
    static_cast<int32_t *>(data)[i] = static_cast<int32_t>(v);
    return;
  case DType::F16:
    static_cast<uint16_t *>(data)[i] = cpu::cast::toHalf(v);
    return;
  case DType::BF16:
    static_cast<uint16_t *>(data)[i] = cpu::cast::toBFloat16(v);
    return;
  case DType::I1:
    static_cast<uint8_t *>(data)[i] = v != 0.0;
    return;
  case DType::F32:
    break;
  }
  static_cast<float *>(data)[i] = static_cast<float>(v);
}

uint64_t syntheticInputKey(const PlanInput &input, uint64_t seed, int64_t step) {
  return streamKey(seed, "input:" + input.name, static_cast<uint64_t>(step));
}

double syntheticInput(const PlanInput &input, uint64_t seed, int64_t step,
                      int64_t g) {
  return syntheticInputAt(input, syntheticInputKey(input, seed, step), g);
}

double syntheticInputAt(const PlanInput &input, uint64_t key, int64_t g) {
  double u = uniform01(key, static_cast<uint64_t>(g));
  if (input.dtype == DType::I1)
    return u < 0.5 ? 0.0 : 1.0;
  if (input.dtype == DType::I32 || input.dtype == DType::I64) {
    int64_t range = input.range > 0 ? input.range : 2;
    return static_cast<double>(
        std::min<int64_t>(range - 1, static_cast<int64_t>(u * range)));
  }
  return 2.0 * u - 1.0;
}

void forEachRow(const std::vector<int64_t> &shape,
                const std::vector<int64_t> &globalShape,
                const std::vector<int64_t> &offset,
                const std::function<void(int64_t, int64_t, int64_t)> &f) {
  const size_t rank = shape.size();
  if (rank == 0) {
    f(0, 0, 1);
    return;
  }
  for (int64_t s : shape)
    if (s == 0)
      return;
  const int64_t len = shape[rank - 1];
  int64_t rows = 1;
  for (size_t a = 0; a + 1 < rank; ++a)
    rows *= shape[a];
  std::vector<int64_t> idx(rank, 0);
  for (int64_t row = 0; row < rows; ++row) {
    int64_t g = 0;
    for (size_t a = 0; a < rank; ++a)
      g = g * globalShape[a] + offset[a] + idx[a];
    f(row * len, g, len);
    for (size_t a = rank - 1; a-- > 0;) {
      if (++idx[a] < shape[a])
        break;
      idx[a] = 0;
    }
  }
}

void fillBox(const PlanBuffer &b, void *data,
             const std::function<double(int64_t)> &value) {
  std::vector<int64_t> globalShape = b.globalShape, offset = b.offset;
  if (globalShape.size() != b.shape.size()) {
    globalShape = b.shape;
    offset.assign(b.shape.size(), 0);
  }
  forEachRow(b.shape, globalShape, offset,
             [&](int64_t local, int64_t global, int64_t len) {
               for (int64_t k = 0; k < len; ++k)
                 storeElement(b.dtype, data, local + k, value(global + k));
             });
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

NpyArray::~NpyArray() {
  if (base)
    munmap(const_cast<unsigned char *>(base), mapped);
}

int64_t NpyArray::numElements() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

double NpyArray::at(int64_t i) const {
  const unsigned char *p = data;
  if (descr == "f4") {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  if (descr == "f8") {
    double v;
    std::memcpy(&v, p + 8 * i, 8);
    return v;
  }
  if (descr == "i4") {
    int32_t v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  if (descr == "i8") {
    int64_t v;
    std::memcpy(&v, p + 8 * i, 8);
    return static_cast<double>(v);
  }
  return p[i]; // u1, b1
}

std::string NpyArray::open(const std::string &file) {
  path = file;
  auto bad = [&](const std::string &why) { return file + ": " + why; };
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0)
    return bad(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 10) {
    ::close(fd);
    return bad("not a .npy file (too short)");
  }
  mapped = static_cast<size_t>(st.st_size);
  void *m = mmap(nullptr, mapped, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED)
    return bad("cannot map the file");
  base = static_cast<const unsigned char *>(m);
  if (std::memcmp(base, "\x93NUMPY", 6) != 0)
    return bad("not a .npy file (no \\x93NUMPY magic)");
  int major = base[6];
  size_t headerLen, start;
  if (major == 1) {
    headerLen = base[8] | (size_t(base[9]) << 8);
    start = 10;
  } else {
    if (mapped < 12)
      return bad("truncated header");
    headerLen = base[8] | (size_t(base[9]) << 8) | (size_t(base[10]) << 16) |
                (size_t(base[11]) << 24);
    start = 12;
  }
  if (start + headerLen > mapped)
    return bad("truncated header");
  std::string header(reinterpret_cast<const char *>(base + start), headerLen);
  auto field = [&](const std::string &key) -> std::string {
    size_t at = header.find("'" + key + "'");
    if (at == std::string::npos)
      return "";
    at = header.find(':', at);
    if (at == std::string::npos)
      return "";
    size_t b = header.find_first_not_of(' ', at + 1);
    if (b == std::string::npos)
      return "";
    if (header[b] == '\'') {
      size_t e = header.find('\'', b + 1);
      return header.substr(b + 1, e - b - 1);
    }
    if (header[b] == '(') {
      size_t e = header.find(')', b);
      return header.substr(b, e - b + 1);
    }
    size_t e = header.find_first_of(",}", b);
    return header.substr(b, e - b);
  };
  std::string d = field("descr");
  if (d.size() < 3)
    return bad("no 'descr' in the header");
  char order = d[0];
  descr = d.substr(1);
  if (descr != "f4" && descr != "f8" && descr != "i4" && descr != "i8" &&
      descr != "u1" && descr != "b1")
    return bad("unsupported dtype '" + d +
               "' (f4, f8, i4, i8, u1, b1 are read)");
  if (order == '>' && descr != "u1" && descr != "b1")
    return bad("big-endian data is not supported");
  if (field("fortran_order") == "True")
    return bad("Fortran-ordered arrays are not supported (save C order)");
  std::string s = field("shape");
  if (s.empty() || s[0] != '(')
    return bad("no 'shape' in the header");
  dims.clear();
  for (size_t i = 1; i < s.size();) {
    size_t j = s.find_first_of(",)", i);
    std::string num = s.substr(i, j - i);
    size_t k = num.find_first_not_of(' ');
    if (k != std::string::npos)
      dims.push_back(std::stoll(num.substr(k)));
    if (j == std::string::npos || s[j] == ')')
      break;
    i = j + 1;
  }
  data = base + start + headerLen;
  size_t width = descr == "u1" || descr == "b1" ? 1
                 : descr[1] == '4'                ? 4
                                                  : 8;
  if (static_cast<size_t>(numElements()) * width > mapped - (start + headerLen))
    return bad("the file is shorter than its shape says");
  return "";
}

} // namespace soap::runtime
