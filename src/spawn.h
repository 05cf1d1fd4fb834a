/* spawn: start a script in its own process group, stdin /dev/null, stdout and
 * stderr on one pipe, no other descriptor inherited, default signals; kill
 * the whole group; reap.  A pidfd tells when it exits, apart from its pipe. */
#ifndef SPAWN_H
#define SPAWN_H

#include <sys/types.h>

struct child {
	pid_t pid;
	int pidfd; /* readable once the child has exited; -1: no pidfd here */
	int outfd; /* read end of its stdout+stderr, non-blocking */
};

/* Returns 0, or an errno value (ENOENT, EACCES, ENOEXEC, ...) when the
 * program cannot be started; nothing is left open then. */
int spawn_start(char *const argv[], struct child *c);
/* Without a pidfd: non-zero once the child has exited (not reaped yet). */
int spawn_exited(const struct child *c);
/* SIGKILL to the child's whole process group. */
void spawn_kill(const struct child *c);
/* Kills what is left of the group, reaps the child, closes pidfd; returns
 * its wait status.  outfd stays open for the caller to drain and close. */
int spawn_reap(struct child *c);

#endif
