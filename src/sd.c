#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sd.h"

/* How many fds from SD_LISTEN_FDS_START are ours: LISTEN_PID must be our
 * pid, or they were meant for somebody else (a parent that exec'd us). */
static int
listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	char *end;
	long p, n = 0;

	if (pid == NULL || fds == NULL)
		return 0;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno == 0 && *end == '\0' && p == (long)getpid()) {
		n = strtol(fds, &end, 10);
		if (errno != 0 || *end != '\0' || n < 0 ||
		    n > INT_MAX - SD_LISTEN_FDS_START)
			n = 0;
	}
	return (int)n;
}

void
sd_take(struct sd *sd)
{
	const char *notify = getenv("NOTIFY_SOCKET");
	const char *names = getenv("LISTEN_FDNAMES");
	int fd;

	sd->nfds = listen_fds();
	sd->names = sd->nfds > 0 && names != NULL ? strdup(names) : NULL;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + sd->nfds;
	     fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Ours alone: a script that saw it could tell systemd anything. */
	sd->notify = notify != NULL ? strdup(notify) : NULL;
	unsetenv("NOTIFY_SOCKET");
}

void
sd_notify(const struct sd *sd, const char *msg)
{
	const char *path = sd->notify;
	struct sockaddr_un sun;
	size_t len;
	socklen_t salen;
	int fd;

	/* '@' is the abstract namespace. */
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* systemd's queue full must not stall the loop. */
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&sun, salen) == -1)
		log_msg(LOGLVL_WARN, "NOTIFY_SOCKET %s: %s", path,
			strerror(errno));
	close(fd);
}

int
sd_named(const struct sd *sd, int i, const char *name)
{
	const char *p = sd->names;
	size_t len = strlen(name);

	/* Names are separated by colons, one per passed socket. */
	for (; p != NULL && i > 0; i--) {
		p = strchr(p, ':');
		if (p != NULL)
			p++;
	}
	return p != NULL && strncmp(p, name, len) == 0 &&
	       (p[len] == ':' || p[len] == '\0');
}

void
sd_close(struct sd *sd)
{
	free(sd->notify);
	sd->notify = NULL;
	free(sd->names);
	sd->names = NULL;
}
