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

/* In a forked child: closes every descriptor from 3 up but keep (-1: none),
 * at once.  A copy held in a child would keep a client's connection open
 * after we close it, and keep its epoll registration alive. */
static void
close_fds(int keep)
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

/* dir[0..dlen) "/" file into out; 0, or -1 when it does not fit.  An empty
 * PATH entry is the current directory, as in execvp. */
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

/* The checks directory beside our own binary into out, when nobody else
 * could have filled it: a binary run from /tmp/x/ must not run
 * /tmp/lib/... of anybody's.  0, or -1. */
static int
checks_dir(char *out, size_t cap)
{
	struct stat st;
	ssize_t n;
	char *slash;

	if (cap <= sizeof(CHECKS_DIR))
		return -1;
	n = readlink("/proc/self/exe", out, cap - sizeof(CHECKS_DIR));
	if (n <= 0)
		return -1;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (slash == NULL)
		return -1;
	memcpy(slash, CHECKS_DIR, sizeof(CHECKS_DIR));
	if (stat(out, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    (st.st_mode & 022) != 0 ||
	    (st.st_uid != 0 && st.st_uid != geteuid()))
		return -1;
	return 0;
}

/* The one search for a bare program name, for exec_search (which runs each
 * candidate) and spawn_resolve (which looks at it): visit() gets every
 * candidate path in order, PATH's entries and then the checks directory
 * (last set), NULL for one too long, and returns non-zero to stop there.
 * Returns what visit() stopped with, or 0. */
static int
search(const char *file, int (*visit)(const char *path, int last, void *ctx),
       void *ctx)
{
	const char *path = getenv("PATH"), *p, *end;
	char dir[PATH_MAX], buf[PATH_MAX];
	int r;

	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		r = join_path(buf, sizeof(buf), p, (size_t)(end - p), file);
		if ((r = visit(r == 0 ? buf : NULL, 0, ctx)) != 0)
			return r;
		if (*end == '\0')
			break;
	}
	if (checks_dir(dir, sizeof(dir)) == -1)
		return 0;
	r = join_path(buf, sizeof(buf), dir, strlen(dir), file);
	return visit(r == 0 ? buf : NULL, 1, ctx);
}

struct exec_try {
	char *const *argv;
	int eacces; /* some candidate was there, but not ours to run */
	int err;    /* the errno to report when none ran */
};

/* execvp's rules: a candidate that is not there (or not reachable) lets the
 * search go on, any other failure ends it (-1, errno set). */
static int
exec_one(const char *path, int last, void *ctx)
{
	struct exec_try *t = ctx;

	if (path != NULL)
		execve(path, t->argv, environ);
	else
		errno = ENAMETOOLONG;
	if (last) {
		if (errno != ENOENT)
			t->err = errno;
		return 1;
	}
	t->err = errno;
	if (errno == EACCES)
		t->eacces = 1;
	else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE &&
		 errno != ENODEV && errno != ETIMEDOUT && errno != ELOOP &&
		 errno != ENAMETOOLONG)
		return -1;
	return 0;
}

/* execvp's search without its shell fallback (a file without #! fails
 * with ENOEXEC, as posix_spawnp does), then the contrib checks beside our
 * own binary, so that "zk-ruok localhost 2181" works once installed.
 * Returns only on failure, errno set. */
static void
exec_search(char *const argv[])
{
	struct exec_try t = {argv, 0, ENOENT};

	if (strchr(argv[0], '/') != NULL) {
		execve(argv[0], argv, environ);
		return;
	}
	if (search(argv[0], exec_one, &t) == -1)
		return;
	errno = t.eacces && t.err == ENOENT ? EACCES : t.err;
}

/* The forked child's first steps, a script's or a function's: it is a copy
 * of a single-threaded process, so any call is safe here.  0, or -1. */
static int
child_begin(pid_t parent)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	/* Dies with us, even by SIGKILL: a killed one-shot under inetd or
	 * xinetd must not leave its children running.  The check closes the
	 * race with a parent that died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		return -1;
	/* A session of its own, and with it a process group: under the
	 * scheduler's autogroups (the default on Debian) a script that forks
	 * without end shares one session's CPU, never starves us of ours and
	 * so never delays the kill at its deadline. */
	if (setsid() == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	return 0;
}

/* What the forked child runs: the program argv, or fn. */
struct body {
	char *const *argv;
	unsigned long nofile;
	void (*fn)(void *arg, int fd);
	void *arg;
};

/* A script, up to exec. */
static void
exec_child(const struct body *b, int outfd, int errfd, pid_t parent)
{
	struct rlimit rl;
	int null, err;

	if (child_begin(parent) == -1)
		_exit(127);
	/* The write end blocks: a script that writes is paced by our
	 * reads, never failed with EAGAIN. */
	fcntl(outfd, F_SETFL, 0);
	if (dup2(outfd, 1) == -1 || dup2(outfd, 2) == -1)
		goto fail;
	/* Nothing of ours, nor what a supervisor leaked to us; errfd is
	 * close-on-exec.  Closed first, so /dev/null finds a descriptor even
	 * at the limit. */
	close_fds(errfd);
	null = open("/dev/null", O_RDONLY);
	if (null == -1 || dup2(null, 0) == -1)
		goto fail;
	if (null != 0)
		close(null);
	/* Our raised descriptor limit stays ours: a script gets the one we
	 * were given (select() and close-all loops depend on it). */
	if (b->nofile > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = b->nofile < rl.rlim_max ? b->nofile : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	exec_search(b->argv);
fail:
	err = errno;
	if (write(errfd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		_exit(126);
	_exit(127);
}

/* A function, to its end: fds 0-2 on /dev/null, fd its pipe. */
static void
func_child(const struct body *b, int fd, int errfd, pid_t parent)
{
	int null;

	(void)errfd;
	if (child_begin(parent) == -1)
		_exit(1);
	fcntl(fd, F_SETFL, 0);
	close_fds(fd);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null == -1 || dup2(null, 0) == -1 || dup2(null, 1) == -1 ||
	    dup2(null, 2) == -1)
		_exit(1);
	close(null);
	b->fn(b->arg, fd);
	_exit(0);
}

/* The one fork: pipes (errfd's for a program only), run() in the child,
 * the parent's half.  Returns 0 or an errno value. */
static int
start(void (*run)(const struct body *b, int outfd, int errfd, pid_t parent),
      const struct body *b, struct child *c)
{
	pid_t parent = getpid();
	int out[2], err[2] = {-1, -1}, e;

	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) == -1)
		return errno;
	/* Only a program has an exec error to tell. */
	if (run == exec_child && pipe2(err, O_CLOEXEC | O_NONBLOCK) == -1) {
		e = errno;
		close(out[0]);
		close(out[1]);
		return e;
	}
	/* fork, not vfork or posix_spawn: the parent must not wait for an
	 * exec that a hung file system holds in uninterruptible sleep. */
	c->pid = fork();
	if (c->pid == 0)
		run(b, out[1], err[1], parent);
	e = errno;
	close(out[1]);
	if (err[1] != -1)
		close(err[1]);
	if (c->pid == -1) {
		close(out[0]);
		if (err[0] != -1)
			close(err[0]);
		return e;
	}
	c->outfd = out[0];
	c->errfd = err[0];
	c->pidfd = -1;
	return 0;
}

int
spawn_start(char *const argv[], unsigned long nofile, struct child *c)
{
	struct body b = {argv, nofile, NULL, NULL};
	int e = start(exec_child, &b, c);

	/* Before Linux 5.3, under valgrind or a seccomp filter that does not
	 * know it: -1, and the caller polls spawn_exited() instead. */
	if (e == 0)
		c->pidfd = pidfd_open(c->pid);
	return e;
}

int
spawn_call(void (*fn)(void *arg, int fd), void *arg, struct child *c)
{
	struct body b = {NULL, 0, fn, arg};

	return start(func_child, &b, c);
}

/* Before its setsid() the child has no group of its own, nor any child:
 * the process alone is all there is to kill. */
static void
kill_group(pid_t pid)
{
	if (kill(-pid, SIGKILL) == -1 && errno == ESRCH)
		kill(pid, SIGKILL);
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
	kill_group(c->pid);
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

pid_t
spawn_kill_reap(pid_t pid, int *status)
{
	pid_t r;

	/* The leader is alive or a zombie, so its pid (the group's id)
	 * cannot be reused yet: killing the group is safe until it is
	 * reaped, and leaves no grandchild of ours running. */
	kill_group(pid);
	while ((r = waitpid(pid, status, WNOHANG)) == -1 && errno == EINTR)
		;
	return r;
}

int
spawn_reap(struct child *c, int *status)
{
	pid_t r;

	*status = 0;
	r = spawn_kill_reap(c->pid, status);
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

/* spawn_resolve's test of a candidate: a regular file we may execute in
 * PATH; in the checks directory, there at all (exec then says why not). */
struct resolve_try {
	char *out;
	size_t cap;
};

static int
resolve_one(const char *path, int last, void *ctx)
{
	struct resolve_try *t = ctx;
	struct stat st;

	if (path == NULL || strlen(path) >= t->cap)
		return 0;
	if (last ? access(path, F_OK) != 0
		 : stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
			    faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0)
		return 0;
	memcpy(t->out, path, strlen(path) + 1);
	return 1;
}

int
spawn_resolve(const char *file, char *out, size_t cap)
{
	struct resolve_try t = {out, cap};

	/* The same search as exec_search, by stat instead of execve. */
	if (strchr(file, '/') != NULL && join_path(out, cap, "", 0, file) == 0)
		return 0;
	if (strchr(file, '/') == NULL && search(file, resolve_one, &t) == 1)
		return 0;
	if (cap > 0)
		out[0] = '\0';
	return -1;
}
