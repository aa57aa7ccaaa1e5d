//===- CApi.cpp - the runtime's C API over Session ------------------------===//
#include "soap/Runtime/soap_c.h"

#include "soap/Runtime/Session.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace soap;
using namespace soap::runtime;

struct soap_session {
  std::unique_ptr<Session> session;
};

namespace {

thread_local std::string lastError;

int failWith(int code, std::string message) {
  lastError = std::move(message);
  return code;
}

int ok() {
  lastError.clear();
  return SOAP_OK;
}

} // namespace

extern "C" {

void soap_options_init(soap_options *o) {
  if (!o)
    return;
  std::memset(o, 0, sizeof *o);
  o->backend = "cpu";
  o->launch = "auto";
  o->threads_per_rank = 1;
  o->timeout_seconds = 60;
}

int soap_session_create(const char *planPath, const soap_options *options,
                        soap_session **out) {
  if (!planPath || !out)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_create: null argument");
  *out = nullptr;
  soap_options defaults;
  soap_options_init(&defaults);
  const soap_options &o = options ? *options : defaults;
  SessionOptions so;
  so.backend = o.backend ? o.backend : "cpu";
  so.launch = o.launch ? o.launch : "auto";
  so.ranksAsThreads = o.ranks_as_threads;
  so.run.threadsPerRank = o.threads_per_rank > 0 ? o.threads_per_rank : 1;
  so.run.seed = o.seed;
  if (o.lr > 0)
    so.run.lr = o.lr;
  so.run.timeoutSeconds = o.timeout_seconds > 0 ? o.timeout_seconds : 60;
  so.checkpointDir = o.checkpoint_dir ? o.checkpoint_dir : "";
  so.checkpointEvery = o.checkpoint_every;
  so.resume = o.resume != 0;
  for (int i = 0; i < o.num_inputs; ++i) {
    if (!o.input_names || !o.input_files || !o.input_names[i] ||
        !o.input_files[i])
      return failWith(SOAP_ERROR_ARGUMENT, "soap_session_create: input " +
                                               std::to_string(i) + " is null");
    so.run.inputFiles[o.input_names[i]] = o.input_files[i];
  }
  try {
    std::string error;
    std::unique_ptr<Session> s = Session::open(planPath, so, error);
    if (!s)
      return failWith(SOAP_ERROR_PLAN, error);
    *out = new soap_session{std::move(s)};
    return ok();
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

int soap_session_step(soap_session *s, double *loss) {
  if (!s)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_step: null session");
  try {
    double value = NAN;
    std::string e = s->session->step(&value);
    if (loss)
      *loss = value;
    return e.empty() ? ok() : failWith(SOAP_ERROR_RUNTIME, e);
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

int64_t soap_session_steps_done(const soap_session *s) {
  return s ? s->session->stepsDone() : 0;
}

int soap_session_num_ranks(const soap_session *s) {
  return s ? s->session->numRanks() : 0;
}

int soap_session_checkpoint(soap_session *s) {
  if (!s)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_checkpoint: null session");
  try {
    std::string e = s->session->checkpoint();
    return e.empty() ? ok() : failWith(SOAP_ERROR_RUNTIME, e);
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

int64_t soap_session_weight_size(const soap_session *s, const char *name) {
  if (!s || !name)
    return 0;
  for (const PlanWeight &w : s->session->plan().weights)
    if (w.name == name) {
      int64_t n = 1;
      for (int64_t d : w.shape)
        n *= d;
      return n;
    }
  return 0;
}

int soap_session_get_weight(soap_session *s, const char *name, float *out,
                            int64_t count) {
  if (!s || !name)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_get_weight: null argument");
  int64_t size = soap_session_weight_size(s, name);
  if (size == 0)
    return failWith(SOAP_ERROR_ARGUMENT,
                    std::string("soap_session_get_weight: no weight '") + name +
                        "'");
  if (count != size)
    return failWith(SOAP_ERROR_ARGUMENT,
                    std::string("soap_session_get_weight: '") + name + "' has " +
                        std::to_string(size) + " elements, not " +
                        std::to_string(count));
  try {
    std::map<std::string, std::vector<float>> all;
    std::string e = s->session->gatherWeights(all);
    if (!e.empty())
      return failWith(SOAP_ERROR_RUNTIME, e);
    auto it = all.find(name);
    if (it != all.end() && out)
      std::memcpy(out, it->second.data(), sizeof(float) * it->second.size());
    return ok();
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

int soap_session_set_input(soap_session *s, const char *name,
                           const double *values, int64_t count) {
  if (!s || !name || (!values && count > 0) || count < 0)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_set_input: null argument");
  try {
    std::string e = s->session->setInput(
        name, std::vector<double>(values, values + count));
    if (!e.empty())
      return failWith(SOAP_ERROR_ARGUMENT, "soap_session_set_input: " + e);
    return ok();
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

int soap_session_num_outputs(const soap_session *s) {
  return s ? static_cast<int>(s->session->plan().outputs.size()) : 0;
}

int64_t soap_session_output_size(const soap_session *s, int index) {
  if (!s || index < 0 ||
      index >= static_cast<int>(s->session->plan().outputs.size()))
    return 0;
  const Plan &plan = s->session->plan();
  const PlanOutput &o = plan.outputs[static_cast<size_t>(index)];
  if (o.holders.empty())
    return 0;
  auto [rank, id] = o.holders[0];
  if (rank < 0 || rank >= static_cast<int>(plan.ranks.size()))
    return 0;
  const PlanBuffer *b = plan.ranks[static_cast<size_t>(rank)].findBuffer(id);
  if (!b)
    return 0;
  int64_t n = 1;
  for (int64_t d : b->globalShape.size() == b->shape.size() ? b->globalShape
                                                            : b->shape)
    n *= d;
  return n;
}

int soap_session_get_output(soap_session *s, int index, double *out,
                            int64_t count) {
  if (!s)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_get_output: null argument");
  int64_t size = soap_session_output_size(s, index);
  if (size == 0)
    return failWith(SOAP_ERROR_ARGUMENT, "soap_session_get_output: no output " +
                                             std::to_string(index));
  if (count != size)
    return failWith(SOAP_ERROR_ARGUMENT,
                    "soap_session_get_output: output " + std::to_string(index) +
                        " has " + std::to_string(size) + " elements, not " +
                        std::to_string(count));
  try {
    std::vector<OutputTensor> all;
    std::string e = s->session->gatherOutputs(all);
    if (!e.empty())
      return failWith(SOAP_ERROR_RUNTIME, e);
    if (static_cast<size_t>(index) < all.size() && out &&
        static_cast<int64_t>(all[static_cast<size_t>(index)].values.size()) ==
            count)
      std::memcpy(out, all[static_cast<size_t>(index)].values.data(),
                  sizeof(double) * static_cast<size_t>(count));
    return ok();
  } catch (const std::exception &e) {
    return failWith(SOAP_ERROR_RUNTIME, e.what());
  }
}

void soap_session_destroy(soap_session *s) { delete s; }

const char *soap_last_error(void) { return lastError.c_str(); }

} // extern "C"
