/* kind_script: the script check: the program run in a group of its own,
 * passed on exit 0, killed at the deadline; the end of its output kept. */
#ifndef KIND_SCRIPT_H
#define KIND_SCRIPT_H

#include "probe.h"

extern const struct probe_kind kind_script;

#endif
