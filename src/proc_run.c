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
	bool overflow; /* something did not fit: the text has a hole */
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
	if (s->len + (size_t)n + 1 <= s->cap && !s->overflow) {
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	} else {
		s->overflow = true;
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
	bool open_o = true, open_e = true, exited = false;
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
	/* A group of its own: a timeout kills what it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
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
	while (!exited || open_o || open_e) {
		struct pollfd p[3] = { { .fd = open_o ? o[0] : -1, .events = POLLIN },
				       { .fd = open_e ? e[0] : -1, .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT } };
		uint64_t now = loop_now_ms();
		int wait_ms;

		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			exited = w == pid || (w < 0 && errno != EINTR);
		}
		if (now >= deadline) {
			kill(-pid, SIGKILL);
			if (!exited)
				waitpid(pid, NULL, 0);
			snprintf(err, errlen, "%s did not finish in %d ms", argv[0], timeout_ms);
			r = -ETIMEDOUT;
			goto close;
		}
		/* Exited: read what is left, but a child of its own may hold the pipes. */
		wait_ms = exited ? 0 : (int)(deadline - now < 50 ? deadline - now : 50);
		if (poll(p, 3, wait_ms) < 0 && errno != EINTR) {
			kill(-pid, SIGKILL);
			if (!exited)
				waitpid(pid, &status, 0);
			exited = true;
			break;
		}
		if (p[0].revents && !drain(o[0], &so))
			open_o = false;
		if (p[1].revents && !drain(e[0], &se))
			open_e = false;
		if (p[2].revents) {
			ssize_t n = -1;

			if (p[2].revents & POLLOUT)
				n = write(in[1], input + inoff, inlen - inoff);
			if (n > 0)
				inoff += (size_t)n;
			/* Closed by the child (POLLERR/POLLHUP), failed, or all written. */
			if (!(p[2].revents & POLLOUT) ||
			    (n < 0 && errno != EAGAIN && errno != EINTR) || inoff == inlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (exited && !p[0].revents && !p[1].revents)
			break;
	}
	if (se.buf)
		snprintf(err, errlen, "%.*s", (int)strcspn(se.buf, "\n"), se.buf);
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		r = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	if (so.overflow && out) {
		snprintf(err, errlen, "%s printed more than %u MiB", argv[0], OUT_MAX >> 20);
		r = -E2BIG;
	}
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
