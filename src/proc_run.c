/* SPDX-License-Identifier: Apache-2.0 */
#include "proc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* More than any iptables-save of our tables; the rest is drained and dropped. */
#define OUT_MAX (16u << 20)

extern char **environ;

struct sink {
	char *buf;
	size_t len, cap, max;
};

/* Read what is there; false at EOF or error. */
static bool drain(int fd, struct sink *s)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (s->len + (size_t)n + 1 > s->cap && s->len + (size_t)n + 1 <= s->max) {
		size_t cap = s->cap ? s->cap : 16384;
		char *g;

		while (cap < s->len + (size_t)n + 1)
			cap *= 2;
		g = realloc(s->buf, cap);
		if (g) {
			s->buf = g;
			s->cap = cap;
		}
	}
	if (s->len + (size_t)n + 1 <= s->cap) {
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
	return true;
}

int proc_run(char *const argv[], const char *input, int timeout_ms, char **out, char *err,
	     size_t errlen)
{
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 };
	struct sink so = { .max = OUT_MAX }, se = { .max = 4096 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, pipe_only;
	uint64_t deadline = loop_now_ms() + (uint64_t)timeout_ms;
	size_t inlen = input ? strlen(input) : 0, inoff = 0;
	bool open_o = true, open_e = true;
	int r, status = 0;
	pid_t pid;

	*err = '\0';
	if (out)
		*out = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
		r = -errno;
		goto close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	/* The daemon blocks SIGTERM (signalfd) and ignores SIGPIPE: not so the child. */
	sigemptyset(&none);
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &pipe_only);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		r = -r;
		goto close;
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (!inlen) {
		close(in[1]);
		in[1] = -1;
	}
	while (open_o || open_e || in[1] >= 0) {
		struct pollfd p[3] = { { .fd = open_o ? o[0] : -1, .events = POLLIN },
				       { .fd = open_e ? e[0] : -1, .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT } };
		uint64_t now = loop_now_ms();

		if (now >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			snprintf(err, errlen, "%s did not finish in %d ms", argv[0], timeout_ms);
			r = -ETIMEDOUT;
			goto close;
		}
		if (poll(p, 3, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		if (p[0].revents && !drain(o[0], &so))
			open_o = false;
		if (p[1].revents && !drain(e[0], &se))
			open_e = false;
		if (p[2].revents) {
			ssize_t n = (p[2].revents & POLLOUT)
					    ? write(in[1], input + inoff, inlen - inoff)
					    : -1;

			if (n > 0)
				inoff += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || inoff == inlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (se.buf)
		snprintf(err, errlen, "%.*s", (int)strcspn(se.buf, "\n"), se.buf);
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		r = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	/* posix_spawnp reports a missing program as exit 127 from the child. */
	if (r == 127 && !*err)
		r = -ENOENT;
	if (out && r >= 0) {
		*out = so.buf ? so.buf : strdup("");
		so.buf = NULL;
	}
close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	free(so.buf);
	free(se.buf);
	return r;
}
