/* SPDX-License-Identifier: Apache-2.0 */
/*
 * charon for the ipsec backend: found where upstream looks, started
 * detached when nothing listens on its VICI socket, and waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/ipsec_impl.h"

/* Upstream's places, in its order: PATH, Alpine/Arch, Debian, RHEL, SUSE. */
bool ipsec_find_charon(char *out, size_t n)
{
	static const char *const paths[] = { "/usr/lib/strongswan/charon", "/usr/lib/ipsec/charon",
					     "/usr/libexec/strongswan/charon",
					     "/usr/libexec/ipsec/charon" };
	const char *path = getenv("PATH");

	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		if (len && (size_t)snprintf(out, n, "%.*s/charon", (int)len, path) < n &&
		    access(out, X_OK) == 0)
			return true;
		path = end ? end + 1 : NULL;
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0) {
			snprintf(out, n, "%s", paths[i]);
			return true;
		}
	out[0] = '\0';
	return false;
}

/*
 * Start charon detached (its own session, not our child): it outlives us
 * and keeps the SAs across a restart of flanneld. It inherits our
 * environment (STRONGSWAN_CONF) and our stdout/stderr, as upstream.
 */
static int start_charon(struct backend *b)
{
	pid_t pid, child;
	int st;

	if (!b->charon[0])
		return -ENOENT;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		sigset_t none;

		if (fd >= 0)
			dup2(fd, 0);
		/* Our blocked signals (signalfd) and ignored SIGPIPE are not charon's. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		signal(SIGPIPE, SIG_DFL);
		child = fork();
		if (child != 0)
			_exit(child < 0 ? 1 : 0);
		for (int i = 3; i < 1024; i++)
			close(i);
		execl(b->charon, b->charon, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	b->started_ms = loop_now_ms();
	log_info("Charon daemon started (%s), waiting for its VICI socket %s", b->charon,
		 b->cfg.vici_socket);
	return 0;
}

/* Nothing listens on the socket, or what accepted the connection closed it. */
static bool nothing_listens(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED || r == -ECONNRESET;
}

/*
 * charon did not answer get-conns: (re)start it when nothing listens on
 * its socket, or wait for the one started. One that listens but is silent
 * or slow (or answers nonsense) is left alone: a second charon binds the
 * socket anew before it finds the first one's PID file and exits, which
 * leaves the socket to nobody.
 */
void ipsec_charon_down(struct backend *b, int r, const char *err)
{
	if (b->charon_up) {
		if (nothing_listens(r))
			log_error("charon does not answer (%s): restarting it", err);
		else
			log_error("charon does not answer (%s): asking again every %d s", err,
				  CHECK_MS / 1000);
		b->charon_up = false;
		for (size_t k = 0; k < b->npeers; k++)
			b->peers[k].loaded = false;
	}
	if (!nothing_listens(r)) {
		loop_timer_arm(b->loop, &b->tick, CHECK_MS);
		return;
	}
	if (b->started_ms && loop_now_ms() - b->started_ms > START_TIMEOUT_MS) {
		log_error("The VICI socket %s did not appear within %d s of starting %s (%s)",
			  b->cfg.vici_socket, START_TIMEOUT_MS / 1000, b->charon, err);
		b->started_ms = 0;
	}
	if (!b->started_ms) {
		int e = start_charon(b);

		if (e < 0 && log_limit_ok(&b->warn_limit, "charon start failures"))
			log_error("Cannot start charon (%s): %s",
				  b->charon[0] ? b->charon : "no charon executable found",
				  strerror(-e));
	}
	/* Waiting for a starting charon's socket is quick to ask. */
	loop_timer_arm(b->loop, &b->tick, WAIT_MS);
}
