/* kind_http: the http check: a connect as the tcp check makes it, then one
 * GET and its response head, passed on a 2xx or 3xx status. */
#ifndef KIND_HTTP_H
#define KIND_HTTP_H

#include "probe.h"

extern const struct probe_kind kind_http;

#endif
