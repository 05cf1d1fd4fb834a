#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

/* Older libc headers may not name them; these are the numbers of every
 * architecture but alpha and mips, whose headers are recent enough. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
/* Without /proc or close_range: how far to look for inherited descriptors. */
#define FD_SCAN_MAX 65536
/* Where the contrib checks are installed, relative to our own binary. */
#define CHECKS_DIR "/../lib/health-checker/checks/"

extern char **environ;

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

void
spawn_close_fds(int keep)
{
	DIR *d;
	struct dirent *e;
	int fd;

	if (keep < 3)
		keep = -1;
	if ((keep <= 3 ||
	     syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
	    syscall(SYS_close_range, keep < 3 ? 3u : (unsigned)keep + 1, ~0u,
		    0u) == 0)
		return;
	/* Before Linux 5.9: the descriptors /proc lists (a forked copy of a
	 * single-threaded process may allocate), else a scan. */
	d = opendir("/proc/self/fd");
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			fd = atoi(e->d_name);
			if (fd > 2 && fd != keep && fd != dirfd(d))
				close(fd);
		}
		closedir(d);
		return;
	}
	for (fd = 3; fd < FD_SCAN_MAX; fd++)
		if (fd != keep)
			close(fd);
}

static int
try_exec(const char *dir, size_t dirlen, const char *file, char *const argv[])
{
	char buf[PATH_MAX];
	size_t flen = strlen(file);

	if (dirlen + flen + 2 > sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, dir, dirlen);
	/* An empty PATH entry is the current directory, as in execvp. */
	if (dirlen > 0 && buf[dirlen - 1] != '/')
		buf[dirlen++] = '/';
	memcpy(buf + dirlen, file, flen + 1);
	return execve(buf, argv, environ);
}

/* execvp's search without its shell fallback (a file without #! fails
 * with ENOEXEC, as posix_spawnp does), then the contrib checks beside our
 * own binary, so that "zk-ruok localhost 2181" works once installed.
 * Returns only on failure, errno set. */
static void
exec_search(char *const argv[])
{
	const char *file = argv[0], *path = getenv("PATH"), *p, *end;
	char self[PATH_MAX];
	ssize_t n;
	int eacces = 0, err;

	if (strchr(file, '/') != NULL) {
		execve(file, argv, environ);
		return;
	}
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		try_exec(p, (size_t)(end - p), file, argv);
		if (errno == EACCES)
			eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR &&
			 errno != ESTALE && errno != ENODEV &&
			 errno != ETIMEDOUT && errno != ELOOP &&
			 errno != ENAMETOOLONG)
			return;
		if (*end == '\0')
			break;
	}
	err = errno;
	n = readlink("/proc/self/exe", self, sizeof(self) - sizeof(CHECKS_DIR));
	if (n > 0) {
		struct stat st;
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL)
			memcpy(slash, CHECKS_DIR, sizeof(CHECKS_DIR));
		/* Only a directory nobody else could have filled: a binary
		 * run from /tmp/x/ must not run /tmp/lib/... of anybody's. */
		if (slash != NULL && stat(self, &st) == 0 &&
		    S_ISDIR(st.st_mode) && (st.st_mode & 022) == 0 &&
		    (st.st_uid == 0 || st.st_uid == geteuid())) {
			try_exec(self, strlen(self), file, argv);
			if (errno != ENOENT)
				err = errno;
		}
	}
	errno = eacces && err == ENOENT ? EACCES : err;
}

/* The forked child, up to exec.  It is a copy of a single-threaded process,
 * so any call is safe here. */
static void
child(char *const argv[], unsigned long nofile, int outfd, int errfd,
      pid_t parent)
{
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	int sig, null, err;

	/* Dies with us, even by SIGKILL: a killed one-shot under inetd or
	 * xinetd must not leave its scripts running.  The check closes the
	 * race with a parent that died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	/* A session of its own, and with it a process group: under the
	 * scheduler's autogroups (the default on Debian) a script that forks
	 * without end shares one session's CPU, never starves us of ours and
	 * so never delays the kill at its deadline. */
	if (setsid() == -1)
		_exit(127);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The write end blocks: a script that writes is paced by our
	 * reads, never failed with EAGAIN. */
	fcntl(outfd, F_SETFL, 0);
	if (dup2(outfd, 1) == -1 || dup2(outfd, 2) == -1)
		goto fail;
	/* Nothing of ours, nor what a supervisor leaked to us; errfd is
	 * close-on-exec.  Closed first, so /dev/null finds a descriptor even
	 * at the limit. */
	spawn_close_fds(errfd);
	null = open("/dev/null", O_RDONLY);
	if (null == -1 || dup2(null, 0) == -1)
		goto fail;
	if (null != 0)
		close(null);
	/* Our raised descriptor limit stays ours: a script gets the one we
	 * were given (select() and close-all loops depend on it). */
	if (nofile > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = nofile < rl.rlim_max ? nofile : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	exec_search(argv);
fail:
	err = errno;
	if (write(errfd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		_exit(126);
	_exit(127);
}

int
spawn_start(char *const argv[], unsigned long nofile, struct child *c)
{
	pid_t parent = getpid();
	int out[2], err[2], e;

	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) == -1)
		return errno;
	if (pipe2(err, O_CLOEXEC | O_NONBLOCK) == -1) {
		e = errno;
		close(out[0]);
		close(out[1]);
		return e;
	}
	/* fork, not vfork or posix_spawn: the parent must not wait for an
	 * exec that a hung file system holds in uninterruptible sleep. */
	c->pid = fork();
	if (c->pid == 0)
		child(argv, nofile, out[1], err[1], parent);
	e = errno;
	close(out[1]);
	close(err[1]);
	if (c->pid == -1) {
		close(out[0]);
		close(err[0]);
		return e;
	}
	c->outfd = out[0];
	c->errfd = err[0];
	/* Before Linux 5.3, under valgrind or a seccomp filter that does not
	 * know it: -1, and the caller polls spawn_exited() instead. */
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
	/* Before its setsid() the child has no group of its own, nor any
	 * child: the process alone is all there is to kill. */
	if (kill(-c->pid, SIGKILL) == -1 && errno == ESRCH)
		kill(c->pid, SIGKILL);
}

int
spawn_exec_error(const struct child *c)
{
	int err = 0;

	if (c->errfd == -1 ||
	    read(c->errfd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		return 0;
	return err;
}

int
spawn_reap(struct child *c, int *status)
{
	pid_t r;

	/* The leader is alive or a zombie, so its pid (the group's id)
	 * cannot be reused yet: killing the group is safe until it is
	 * reaped, and leaves no grandchild of ours running. */
	spawn_kill(c);
	*status = 0;
	while ((r = waitpid(c->pid, status, WNOHANG)) == -1 && errno == EINTR)
		;
	if (c->pidfd != -1)
		close(c->pidfd);
	if (c->errfd != -1)
		close(c->errfd);
	c->pidfd = c->errfd = -1;
	if (r == -1)
		*status = -1; /* not ours to reap: nothing to report */
	return r != 0;
}

int
spawn_reap_group(pid_t pgid)
{
	pid_t r;

	while ((r = waitpid(-pgid, NULL, WNOHANG)) > 0 ||
	       (r == -1 && errno == EINTR))
		;
	return r == 0;
}

/* dir[0..dlen) "/" file into out; 0, or -1 when it does not fit. */
static int
join_path(char *out, size_t cap, const char *dir, size_t dlen, const char *file)
{
	size_t flen = strlen(file);
	int sep = dlen > 0 && dir[dlen - 1] != '/';

	if (dlen + (size_t)sep + flen + 1 > cap)
		return -1;
	memcpy(out, dir, dlen);
	if (sep)
		out[dlen] = '/';
	memcpy(out + dlen + (size_t)sep, file, flen + 1);
	return 0;
}

int
spawn_resolve(const char *file, char *out, size_t cap)
{
	const char *path = getenv("PATH"), *p, *end;
	char self[PATH_MAX];
	struct stat st;
	ssize_t n;
	char *slash;

	/* The same search as exec_search, by stat instead of execve: a
	 * regular file we may execute, in PATH order, then the checks
	 * directory beside our own binary under the same conditions. */
	if (strchr(file, '/') != NULL)
		return join_path(out, cap, "", 0, file);
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		if (join_path(out, cap, p, (size_t)(end - p), file) == 0 &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    faccessat(AT_FDCWD, out, X_OK, AT_EACCESS) == 0)
			return 0;
		if (*end == '\0')
			break;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - sizeof(CHECKS_DIR));
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			memcpy(slash, CHECKS_DIR, sizeof(CHECKS_DIR));
			if (stat(self, &st) == 0 && S_ISDIR(st.st_mode) &&
			    (st.st_mode & 022) == 0 &&
			    (st.st_uid == 0 || st.st_uid == geteuid()) &&
			    join_path(out, cap, self, strlen(self), file) ==
				    0 &&
			    access(out, F_OK) == 0)
				return 0;
		}
	}
	if (cap > 0)
		out[0] = '\0';
	return -1;
}
