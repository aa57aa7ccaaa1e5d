//===- CpuBackend.cpp - the CPU kernels over the host buffers -------------===//
#include "KernelCalls.h"
#include "soap/Runtime/Backend.h"
#include "soap/Runtime/Data.h"

#include <algorithm>

namespace soap::runtime {

namespace {

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(std::function<BufferRef(int)> buffer)
      : buffer(std::move(buffer)) {}
  const char *name() const override { return "cpu"; }
  bool onHost() const override { return true; }
  std::string allocate(const std::vector<BufferRef> &) override { return ""; }
  std::string bindKernel(const PlanTask &task, const KernelSettings &settings,
                         Thunk &out) override {
    return runtime::bindKernel(task, buffer, settings, out);
  }
  std::string bindFill(int id, double value, Thunk &out) override {
    BufferRef r = buffer(id);
    if (!r.meta)
      return "unknown buffer";
    const PlanBuffer *b = r.meta;
    void *p = r.data;
    out = [b, p, value](int64_t) {
      int64_t n = b->numElements();
      switch (b->dtype) {
      case DType::F64:
        std::fill_n(static_cast<double *>(p), n, value);
        break;
      case DType::F32:
        std::fill_n(static_cast<float *>(p), n, static_cast<float>(value));
        break;
      default:
        for (int64_t i = 0; i < n; ++i)
          storeElement(b->dtype, p, i, value);
      }
    };
    return "";
  }
  std::string toDevice(int) override { return ""; }
  std::string toHost(int) override { return ""; }
  std::string synchronize() override { return ""; }

private:
  std::function<BufferRef(int)> buffer;
};

} // namespace

std::unique_ptr<Backend> makeCpuBackend(std::function<BufferRef(int)> buffer) {
  return std::make_unique<CpuBackend>(std::move(buffer));
}

} // namespace soap::runtime
