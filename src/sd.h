/* sd: systemd's two protocols without libsystemd: the sockets it passes
 * (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) and readiness (NOTIFY_SOCKET). */
#ifndef SD_H
#define SD_H

#define SD_LISTEN_FDS_START 3

struct sd {
	int nfds;     /* sockets passed to us, from SD_LISTEN_FDS_START */
	char *notify; /* NOTIFY_SOCKET as we got it; NULL: none */
	char *names;  /* LISTEN_FDNAMES as we got it; NULL: none */
};

/* sd_listen_fds(3) and the notify socket, taken once at startup.  The
 * variables are consumed whatever they say, so no script ever sees them;
 * the passed sockets are made close-on-exec. */
void sd_take(struct sd *sd);
/* sd_notify(3): one datagram, never waited for ("READY=1", "STOPPING=1");
 * a failure is logged at warning. */
void sd_notify(const struct sd *sd, const char *msg);
/* Whether passed socket i (from 0) is named name in LISTEN_FDNAMES
 * (FileDescriptorName= of its socket unit). */
int sd_named(const struct sd *sd, int i, const char *name);
void sd_close(struct sd *sd);

#endif
