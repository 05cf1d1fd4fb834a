/* spawn: the only place that forks: a script or a function in a session of
 * its own, default signals, no descriptor of ours inherited, killed when we
 * die and answering on a pipe; kill the whole group; reap, never blocking. */
#ifndef SPAWN_H
#define SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct child {
	pid_t pid;
	int pidfd; /* readable once the child has exited; -1: no pidfd here */
	int outfd; /* read end of its stdout+stderr (a function's pipe),
		    * non-blocking */
	int errfd; /* holds an errno when the program could not be executed;
		    * -1 for a function */
};

/* Forks and executes argv[0] (looked up in PATH, then in the checks
 * directory beside our own binary) with the descriptor soft limit nofile
 * (0: as it is).  Returns 0 or an errno value when no process could be
 * made; an exec that fails shows later, through spawn_exec_error().  Never
 * waits for the child: an exec stuck on a hung file system stalls it, not
 * us. */
int spawn_start(char *const argv[], unsigned long nofile, struct child *c);
/* Forks a child that runs fn(arg, fd) and exits 0: fd is the blocking
 * write end of c->outfd, fds 0-2 are /dev/null, nothing else of ours is
 * open (a client's connection, the listeners, the lock file), and it is
 * set up as a script is.  No pidfd.  0, or an errno value. */
int spawn_call(void (*fn)(void *arg, int fd), void *arg, struct child *c);
/* Non-zero once the child has exited (not reaped yet). */
int spawn_exited(const struct child *c);
/* SIGKILL to the child's whole process group. */
void spawn_kill(const struct child *c);
/* After the child has exited: the errno of a failed exec, or 0. */
int spawn_exec_error(const struct child *c);
/* Kills what is left of the group and reaps the child if it has exited,
 * without waiting; closes pidfd and errfd.  Returns 1 and the wait status
 * in *status when reaped, 0 when the child is still there (a process in
 * uninterruptible sleep outlives SIGKILL for a while): the caller hands its
 * pid to a reaper.  outfd stays open for the caller to drain and close. */
int spawn_reap(struct child *c, int *status);
/* SIGKILL to the group of a child of ours (or to it alone before it has
 * one), then reaps it if it has exited: waitpid's result, never waiting. */
pid_t spawn_kill_reap(pid_t pid, int *status);
/* As PID 1 (a container's entrypoint) a script's orphans are our children:
 * reaps those of group pgid that have exited; 1 while some are left. */
int spawn_reap_group(pid_t pgid);
/* Where spawn_start would find the program file now (PATH, then the
 * checks directory), into out: 0, or -1 and "" when nowhere. */
int spawn_resolve(const char *file, char *out, size_t cap);

#endif
