/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark helper: wait until COUNT flanneld daemons, with health servers
 * on 127.0.0.1 ports BASE .. BASE+COUNT-1, all report METRIC == VALUE in
 * /metrics. Every round asks every daemon not there yet, all at once
 * (non-blocking sockets), then waits INTERVAL_MS.
 *
 *	metrics_wait BASE COUNT METRIC VALUE TIMEOUT_MS [INTERVAL_MS]
 *
 * Prints "progress <ms> <done>/<count>" about once a second and, at the
 * end, "all <ms>" (exit 0) or "timeout <ms> <done>/<count> first-missing=
 * <port>" (exit 1); <ms> counts from the start of this program.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DAEMONS 4096
#define RESP_MAX    (64 * 1024)
#define ROUND_MS    3000 /* a daemon that does not answer within this is asked again */

struct probe {
	int fd;
	bool sent, done;
	size_t len;
	char *buf;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int start(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The metric's value in a Prometheus text body: "name value" at a line start. */
static bool metric_is(const char *body, const char *name, const char *want)
{
	size_t n = strlen(name);
	const char *p = body;

	while ((p = strstr(p, name))) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ') {
			char val[64];

			if (sscanf(p + n + 1, "%63s", val) == 1)
				return strtod(val, NULL) == strtod(want, NULL);
			return false;
		}
		p += n;
	}
	return false;
}

int main(int argc, char **argv)
{
	static struct probe pr[MAX_DAEMONS];
	static struct pollfd pfd[MAX_DAEMONS];
	static int idx[MAX_DAEMONS];
	int base, count, timeout_ms, interval_ms, done = 0;
	int64_t t0 = now_ms(), last_progress = t0;
	const char *metric, *value;
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";

	if (argc < 6) {
		fprintf(stderr, "usage: metrics_wait BASE COUNT METRIC VALUE TIMEOUT_MS "
				"[INTERVAL_MS]\n");
		return 2;
	}
	base = atoi(argv[1]);
	count = atoi(argv[2]);
	metric = argv[3];
	value = argv[4];
	timeout_ms = atoi(argv[5]);
	interval_ms = argc > 6 ? atoi(argv[6]) : 50;
	if (count < 1 || count > MAX_DAEMONS || base < 1 || base + count > 65536) {
		fprintf(stderr, "metrics_wait: bad numbers\n");
		return 2;
	}
	for (int i = 0; i < count; i++) {
		pr[i].buf = malloc(RESP_MAX);
		if (!pr[i].buf)
			return 2;
	}
	for (;;) {
		int64_t round_start = now_ms();
		int n = 0;

		/* One request to every daemon not there yet. */
		for (int i = 0; i < count; i++) {
			if (pr[i].done)
				continue;
			pr[i].fd = start(base + i);
			pr[i].sent = false;
			pr[i].len = 0;
			if (pr[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = pr[i].fd, .events = POLLOUT };
			idx[n++] = i;
		}
		while (n > 0 && now_ms() - round_start < ROUND_MS) {
			int k = 0;

			if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR)
				return 2;
			for (int j = 0; j < n; j++) {
				struct probe *p = &pr[idx[j]];
				bool closed = false;

				if (!pfd[j].revents) {
					pfd[k] = pfd[j];
					idx[k++] = idx[j];
					continue;
				}
				if (!p->sent) {
					if (send(p->fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
					    (ssize_t)(sizeof(req) - 1)) {
						closed = true;
					} else {
						p->sent = true;
						pfd[j].events = POLLIN;
					}
				} else {
					ssize_t got = recv(p->fd, p->buf + p->len,
							   RESP_MAX - 1 - p->len, 0);

					if (got <= 0 || p->len + (size_t)got >= RESP_MAX - 1) {
						closed = true;
						if (got > 0)
							p->len += (size_t)got;
					} else {
						p->len += (size_t)got;
					}
				}
				if (!closed) {
					pfd[k] = pfd[j];
					idx[k++] = idx[j];
					continue;
				}
				p->buf[p->len] = '\0';
				if (metric_is(p->buf, metric, value) && !p->done) {
					p->done = true;
					done++;
				}
				close(p->fd);
				p->fd = -1;
			}
			n = k;
		}
		for (int j = 0; j < n; j++) { /* no answer this round */
			close(pr[idx[j]].fd);
			pr[idx[j]].fd = -1;
		}
		if (done == count) {
			printf("all %lld\n", (long long)(now_ms() - t0));
			return 0;
		}
		if (now_ms() - t0 >= timeout_ms) {
			int first = 0;

			while (first < count && pr[first].done)
				first++;
			printf("timeout %lld %d/%d first-missing=%d\n", (long long)(now_ms() - t0),
			       done, count, base + first);
			return 1;
		}
		if (now_ms() - last_progress >= 1000) {
			last_progress = now_ms();
			printf("progress %lld %d/%d\n", (long long)(last_progress - t0), done,
			       count);
			fflush(stdout);
		}
		usleep((useconds_t)interval_ms * 1000);
	}
}
