/*===- CApiSmoke.c - the C API used from C --------------------------------===*\
|* Compiled as C: the header is valid C and the library links from C.        *|
\*===----------------------------------------------------------------------===*/
#include "soap/Runtime/soap_c.h"

#include <stdio.h>
#include <string.h>

int soapCApiSmoke(const char *planPath, int steps, double *lastLoss,
                  char *error, int errorSize) {
  soap_options options;
  soap_session *session = NULL;
  int i, rc;
  soap_options_init(&options);
  options.timeout_seconds = 30;
  rc = soap_session_create(planPath, &options, &session);
  if (rc != SOAP_OK) {
    snprintf(error, (size_t)errorSize, "create: %s", soap_last_error());
    return rc;
  }
  for (i = 0; i < steps; ++i) {
    rc = soap_session_step(session, lastLoss);
    if (rc != SOAP_OK) {
      snprintf(error, (size_t)errorSize, "step: %s", soap_last_error());
      soap_session_destroy(session);
      return rc;
    }
  }
  if (soap_session_steps_done(session) != steps ||
      soap_session_num_ranks(session) < 1) {
    snprintf(error, (size_t)errorSize, "wrong step or rank count");
    soap_session_destroy(session);
    return -1;
  }
  soap_session_destroy(session);
  return SOAP_OK;
}
