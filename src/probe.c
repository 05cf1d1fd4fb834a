#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

void
probe_done(struct probe *p, enum probe_status st, int err, const char *reason)
{
	if (p->ended)
		return;
	p->ended = 1;
	p->done(p->ctx, p, st, err, reason);
}

void
probe_fail(struct probe *p, int short_of, const char *reason)
{
	probe_done(p, short_of != 0 ? PROBE_SHORT : PROBE_FAILED, short_of,
		   reason);
}

void
probe_fail_errno(struct probe *p, const char *what, int err, int short_of)
{
	char reason[PROBE_REASON_MAX];

	snprintf(reason, sizeof(reason), "%s%s%s", what, *what ? ": " : "",
		 short_of != 0 ? probe_fork_reason(err) : strerror(err));
	probe_fail(p, short_of, reason);
}

int
probe_shortage(int err)
{
	if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS)
		return err;
	return 0;
}

int
probe_fork_shortage(int err)
{
	return err == EAGAIN ? err : probe_shortage(err);
}

const char *
probe_fork_reason(int err)
{
	return err == EAGAIN ? "short of processes" : strerror(err);
}
