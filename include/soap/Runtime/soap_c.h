/*===- soap_c.h - the runtime's C API -----------------------------*- C -*-===*\
|*                                                                            *|
|* A small C interface for another training runtime: load a plan (the JSON   *|
|* soapc --emit plan writes), run training steps, read the loss and the      *|
|* weights, save checkpoints. Every function returns SOAP_OK (0) or an error  *|
|* code; soap_last_error() gives the message of the last failure of the       *|
|* calling thread. No exception or abort crosses this interface (under MPI a *|
|* failed rank still ends the job: that is how every rank learns of it).      *|
|*                                                                            *|
|* Link SoapRuntime (C++; link with a C++ linker or add -lstdc++). Manual:    *|
|* docs/runtime.md.                                                           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/
#ifndef SOAP_RUNTIME_SOAP_C_H
#define SOAP_RUNTIME_SOAP_C_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. */
#define SOAP_OK 0
#define SOAP_ERROR_ARGUMENT 1 /* a null pointer, an unknown name, a size */
#define SOAP_ERROR_PLAN 2     /* the plan cannot be read or run */
#define SOAP_ERROR_RUNTIME 3  /* a step, a checkpoint or a transfer failed */

typedef struct soap_session soap_session;

/* Options of a session; soap_options_init() sets the defaults. */
typedef struct soap_options {
  const char *backend;    /* "cpu" (default) or "cuda" */
  const char *launch;     /* "auto" (default), "threads" or "mpi" */
  int ranks_as_threads;   /* threads: 0 = the plan's rank count */
  int threads_per_rank;   /* OpenMP threads per rank (default 1) */
  uint64_t seed;          /* weights, synthetic data, dropout (default 0) */
  double lr;              /* > 0: overrides the plan's learning rate */
  double timeout_seconds; /* deadline of every blocking operation (60) */
  const char *checkpoint_dir; /* NULL: no checkpoints */
  int64_t checkpoint_every;   /* save every this many steps (0: never) */
  int resume;                 /* load the newest checkpoint first */
  /* Real data: num_inputs pairs (input name, .npy path). */
  int num_inputs;
  const char *const *input_names;
  const char *const *input_files;
} soap_options;

void soap_options_init(soap_options *options);

/* Loads the plan at plan_path and prepares every local rank. */
int soap_session_create(const char *plan_path, const soap_options *options,
                        soap_session **out);
/* Runs one training step; *loss (may be NULL) gets the loss on the process
 * that hosts rank 0 (NaN elsewhere). */
int soap_session_step(soap_session *session, double *loss);
/* Steps done so far (a resumed session starts at the checkpoint's step). */
int64_t soap_session_steps_done(const soap_session *session);
/* The plan's rank count. */
int soap_session_num_ranks(const soap_session *session);
/* Saves a checkpoint to options.checkpoint_dir. */
int soap_session_checkpoint(soap_session *session);
/* Number of elements of weight `name` (0 if none). */
int64_t soap_session_weight_size(const soap_session *session, const char *name);
/* Gathers weight `name` from its shards into out[0 .. count) on the process
 * that hosts rank 0 (every process must call it; count must be its size). */
int soap_session_get_weight(soap_session *session, const char *name,
                            float *out, int64_t count);
/* Uses values[0 .. count) (the global tensor of one batch, row-major;
 * count must be its size) for input `name` from the next step on, instead
 * of synthetic data. Every process calls it with the same values. */
int soap_session_set_input(soap_session *session, const char *name,
                           const double *values, int64_t count);
/* The plan's outputs (outputs[0] is a training plan's loss). */
int soap_session_num_outputs(const soap_session *session);
/* Number of elements of output `index` (0 if none). */
int64_t soap_session_output_size(const soap_session *session, int index);
/* Gathers output `index` of the last step's forward pass from its shards
 * into out[0 .. count) on the process that hosts rank 0 (every process
 * must call it; count must be its size). A forward-only plan (plan "mode":
 * "forward") is inference: set the inputs, step, read the outputs. */
int soap_session_get_output(soap_session *session, int index, double *out,
                            int64_t count);
void soap_session_destroy(soap_session *session);

/* The message of the calling thread's last failed call ("" if none). */
const char *soap_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SOAP_RUNTIME_SOAP_C_H */
