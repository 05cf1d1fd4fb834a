#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

extern char **environ;

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int
spawn_start(char *const argv[], struct child *c)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int pipefd[2];
	int err;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		return errno;
	/* The write end blocks: a script that writes is paced by our reads,
	 * never failed with EAGAIN. */
	fcntl(pipefd[1], F_SETFL, 0);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);

	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
						POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	/* Our sockets, lock file and epoll are O_CLOEXEC already; this also
	 * covers whatever a supervisor leaked to us. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);

	err = posix_spawnp(&c->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (err != 0) {
		close(pipefd[0]);
		return err;
	}
	c->outfd = pipefd[0];
	/* Close-on-exec from birth.  Before Linux 5.3, under valgrind or a
	 * seccomp filter that does not know it: -1, and the caller polls
	 * spawn_exited() instead. */
	c->pidfd = pidfd_open(c->pid);
	return 0;
}

int
spawn_exited(const struct child *c)
{
	siginfo_t si;

	/* WNOWAIT: the zombie stays, and with it the group id, for
	 * spawn_reap to kill what is left of the group safely. */
	si.si_pid = 0;
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return errno == ECHILD;
	return si.si_pid != 0;
}

void
spawn_kill(const struct child *c)
{
	kill(-c->pid, SIGKILL);
}

int
spawn_reap(struct child *c)
{
	int status = 0;

	/* The leader is a zombie or about to be one, so its pid (the group's
	 * id) cannot be reused yet: killing the group is safe until the
	 * waitpid below, and leaves no grandchild of ours running. */
	spawn_kill(c);
	while (waitpid(c->pid, &status, 0) == -1 && errno == EINTR)
		;
	/* As PID 1 (a container's entrypoint) the script's orphans are our
	 * children: reap what is left of its group, just killed.  Otherwise
	 * this finds nobody (ECHILD) at once. */
	while (waitpid(-c->pid, NULL, 0) > 0 || errno == EINTR)
		;
	if (c->pidfd != -1)
		close(c->pidfd);
	c->pidfd = -1;
	return status;
}
