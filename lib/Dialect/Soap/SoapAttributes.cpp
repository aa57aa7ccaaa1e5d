//===- SoapAttributes.cpp - #soap.parallel --------------------------------===//
#include "soap/Dialect/Soap/SoapAttributes.h"
#include "soap/Dialect/Soap/SoapDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace soap;

#define GET_ATTRDEF_CLASSES
#include "soap/Dialect/Soap/SoapAttributes.cpp.inc"

void SoapDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "soap/Dialect/Soap/SoapAttributes.cpp.inc"
      >();
}

/// Views over more devices than this, or reaching a device id at or beyond it,
/// are refused: no machine has them, and verification enumerates the devices.
static constexpr int64_t kMaxDevices = int64_t(1) << 22;

SmallVector<int64_t> ParallelAttr::contiguousStrides(ArrayRef<int64_t> degrees) {
  SmallVector<int64_t> strides(degrees.size(), 1);
  for (int64_t i = static_cast<int64_t>(degrees.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * degrees[i + 1];
  return strides;
}

int64_t ParallelAttr::getNumDevices() const {
  int64_t n = 1;
  for (int64_t d : getDegrees())
    n *= d;
  return n;
}

int64_t ParallelAttr::getDegree(StringRef dim) const {
  for (auto [name, degree] : llvm::zip(getDims(), getDegrees()))
    if (name.getValue() == dim)
      return degree;
  return 1;
}

static SmallVector<int64_t> deviceIds(ArrayRef<int64_t> degrees, int64_t start,
                                      ArrayRef<int64_t> strides) {
  SmallVector<int64_t> ids = {start};
  for (auto [degree, stride] : llvm::zip(degrees, strides)) {
    SmallVector<int64_t> next;
    next.reserve(ids.size() * degree);
    for (int64_t base : ids)
      for (int64_t i = 0; i < degree; ++i)
        next.push_back(base + i * stride);
    ids = std::move(next);
  }
  return ids;
}

SmallVector<int64_t> ParallelAttr::getDeviceIds() const {
  return deviceIds(getDegrees(), getStart(), getStrides());
}

LogicalResult ParallelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   ArrayRef<StringAttr> dims,
                                   ArrayRef<int64_t> degrees, int64_t start,
                                   ArrayRef<int64_t> strides) {
  if (dims.size() != degrees.size() || dims.size() != strides.size())
    return emitError() << "#soap.parallel needs one degree and one stride per "
                          "dimension";
  llvm::DenseSet<StringAttr> seen;
  int64_t devices = 1;
  for (auto [name, degree, stride] : llvm::zip(dims, degrees, strides)) {
    if (!name || name.getValue().empty())
      return emitError() << "#soap.parallel has an empty dimension name";
    if (!seen.insert(name).second)
      return emitError() << "#soap.parallel lists dimension '"
                         << name.getValue() << "' twice";
    if (degree < 1)
      return emitError() << "#soap.parallel degree of '" << name.getValue()
                         << "' must be positive, got " << degree;
    if (stride < 1)
      return emitError() << "#soap.parallel stride of '" << name.getValue()
                         << "' must be positive, got " << stride;
    // Checked before multiplying, so that the product cannot overflow.
    if (degree > kMaxDevices / devices)
      return emitError() << "#soap.parallel uses more than " << kMaxDevices
                         << " devices";
    devices *= degree;
  }
  if (start < 0)
    return emitError() << "#soap.parallel start device must be >= 0, got "
                       << start;
  // The last device of the view, start + sum((degree - 1) * stride), computed
  // with overflow checks before any device id is enumerated.
  int64_t last = start;
  bool overflow = false;
  for (auto [degree, stride] : llvm::zip(degrees, strides)) {
    int64_t span = 0;
    overflow |= llvm::MulOverflow(degree - 1, stride, span);
    overflow |= llvm::AddOverflow(last, span, last);
  }
  if (overflow || last >= kMaxDevices)
    return emitError() << "#soap.parallel view reaches beyond device "
                       << kMaxDevices - 1 << " (start " << start
                       << ", strides [" << strides << "], degrees ["
                       << degrees << "])";
  SmallVector<int64_t> ids = deviceIds(degrees, start, strides);
  llvm::DenseSet<int64_t> used;
  for (int64_t id : ids)
    if (!used.insert(id).second)
      return emitError() << "#soap.parallel view places two shards on device "
                         << id << " (strides [" << strides
                         << "] overlap for degrees [" << degrees << "])";
  return success();
}

/// #soap.parallel<{name = degree, ...}[, start = N][, strides = [s, ...]]>
Attribute ParallelAttr::parse(AsmParser &parser, Type) {
  SmallVector<StringAttr> dims;
  SmallVector<int64_t> degrees;
  int64_t start = 0;
  std::optional<SmallVector<int64_t>> strides;
  if (parser.parseLess())
    return {};
  auto parseEntry = [&]() -> ParseResult {
    std::string name;
    int64_t degree;
    if (parser.parseKeywordOrString(&name) || parser.parseEqual() ||
        parser.parseInteger(degree))
      return failure();
    dims.push_back(StringAttr::get(parser.getContext(), name));
    degrees.push_back(degree);
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Braces, parseEntry))
    return {};
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc keyLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return {};
    if (key == "start") {
      if (parser.parseInteger(start))
        return {};
    } else if (key == "strides") {
      strides.emplace();
      if (parser.parseCommaSeparatedList(
              AsmParser::Delimiter::Square, [&]() -> ParseResult {
                return parser.parseInteger(strides->emplace_back());
              }))
        return {};
    } else {
      parser.emitError(keyLoc, "expected 'start' or 'strides', got '")
          << key << "'";
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  SmallVector<int64_t> s = strides ? *strides : contiguousStrides(degrees);
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), dims, degrees, start, s);
}

void ParallelAttr::print(AsmPrinter &printer) const {
  printer << "<{";
  llvm::interleaveComma(llvm::zip(getDims(), getDegrees()), printer,
                        [&](auto entry) {
                          printer.printKeywordOrString(
                              std::get<0>(entry).getValue());
                          printer << " = " << std::get<1>(entry);
                        });
  printer << "}";
  if (getStart() != 0)
    printer << ", start = " << getStart();
  if (getStrides() != ArrayRef<int64_t>(contiguousStrides(getDegrees())))
    printer << ", strides = [" << getStrides() << "]";
  printer << ">";
}
