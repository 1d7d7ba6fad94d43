/* SPDX-License-Identifier: Apache-2.0 */
#include "proc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"

/* More than any iptables-save of our tables; the rest is drained and dropped. */
#define OUT_MAX (16u << 20)
/* Kernels before 5.3 have no pidfd: look for the exit this often. */
#define REAP_POLL_MS 10

extern char **environ;

struct sink {
	char *buf;
	size_t len, cap, max;
	bool overflow; /* something did not fit: the text has a hole */
};

struct proc {
	struct loop *loop;
	pid_t pid;
	int pidfd, in, out, err; /* -1 when closed (pidfd: none) */
	char *input;
	size_t inlen, inoff;
	struct sink so, se;
	bool want_out;
	int timeout_ms;
	char name[64];
	struct loop_timer deadline, reap;
	proc_done_cb done;
	void *arg;
};

/* Read what is there: > 0 bytes read, 0 at EOF, < 0 nothing now (or an error). */
static ssize_t drain(int fd, struct sink *s)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0)
		return n < 0 && errno != EINTR && errno != EAGAIN ? 0 : n;
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
	return n;
}

static void close_fd(struct proc *p, int *fd)
{
	if (*fd < 0)
		return;
	loop_io_del(p->loop, *fd);
	close(*fd);
	*fd = -1;
}

static void release(struct proc *p)
{
	close_fd(p, &p->pidfd);
	close_fd(p, &p->in);
	close_fd(p, &p->out);
	close_fd(p, &p->err);
	loop_timer_cancel(p->loop, &p->deadline);
	loop_timer_cancel(p->loop, &p->reap);
	free(p->input);
	free(p->so.buf);
	free(p->se.buf);
	free(p);
}

/* Report and forget: done may start the next program. */
static void finish(struct proc *p, int r, const char *msg)
{
	proc_done_cb done = p->done;
	void *arg = p->arg;
	char err[256], *out = NULL;

	if (msg)
		snprintf(err, sizeof(err), "%s", msg);
	else
		snprintf(err, sizeof(err), "%.*s", p->se.buf ? (int)strcspn(p->se.buf, "\n") : 0,
			 p->se.buf ? p->se.buf : "");
	if (p->so.overflow && p->want_out && r >= 0) {
		snprintf(err, sizeof(err), "%s printed more than %u MiB", p->name, OUT_MAX >> 20);
		r = -E2BIG;
	}
	if (p->want_out && r >= 0) {
		out = p->so.buf ? p->so.buf : strdup("");
		p->so.buf = NULL;
	}
	release(p);
	done(arg, r, out, err);
}

static void on_output(int fd, unsigned events, void *arg)
{
	struct proc *p = arg;

	if (drain(fd, fd == p->out ? &p->so : &p->se) == 0)
		close_fd(p, fd == p->out ? &p->out : &p->err);
}

static void on_input(int fd, unsigned events, void *arg)
{
	struct proc *p = arg;
	ssize_t n =
		(events & LOOP_WRITE) ? write(fd, p->input + p->inoff, p->inlen - p->inoff) : -1;

	if (n > 0)
		p->inoff += (size_t)n;
	/* All written, closed by the child (EPOLLERR) or failed. */
	if (p->inoff == p->inlen || !(events & LOOP_WRITE) ||
	    (n < 0 && errno != EAGAIN && errno != EINTR))
		close_fd(p, &p->in);
}

/* Reaped: what it wrote before exiting is in the pipes; a child of its own may hold them. */
static void check_exit(struct proc *p)
{
	int status;
	pid_t w = waitpid(p->pid, &status, WNOHANG);

	if (w < 0 && errno == ECHILD) {
		finish(p, -ECHILD, "its exit status was taken by someone else");
		return;
	}
	if (w != p->pid) {
		if (p->pidfd < 0)
			loop_timer_arm(p->loop, &p->reap, REAP_POLL_MS);
		return;
	}
	while (p->out >= 0 && drain(p->out, &p->so) > 0)
		;
	while (p->err >= 0 && drain(p->err, &p->se) > 0)
		;
	if (WIFEXITED(status))
		finish(p, WEXITSTATUS(status), NULL);
	else
		finish(p, 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0), NULL);
}

static void on_pidfd(int fd, unsigned events, void *arg)
{
	check_exit(arg);
}

static void on_reap(void *arg)
{
	check_exit(arg);
}

static void kill_wait(struct proc *p)
{
	kill(-p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
}

static void on_deadline(void *arg)
{
	struct proc *p = arg;
	char msg[128];

	kill_wait(p);
	snprintf(msg, sizeof(msg), "%s did not finish in %d ms", p->name, p->timeout_ms);
	finish(p, -ETIMEDOUT, msg);
}

static int spawn(struct proc *p, char *const argv[], char *const envp[], int fds[3])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, pipe_only;
	int r;

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
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
	r = posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

int proc_start(struct loop *loop, char *const argv[], const char *input, int timeout_ms,
	       bool want_out, proc_done_cb done, void *arg, struct proc **ret)
{
	return proc_start_env(loop, argv, NULL, input, timeout_ms, want_out, done, arg, ret);
}

int proc_start_env(struct loop *loop, char *const argv[], char *const envp[], const char *input,
		   int timeout_ms, bool want_out, proc_done_cb done, void *arg, struct proc **ret)
{
	struct proc *p = calloc(1, sizeof(*p));
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 }, r;

	if (!p)
		return -ENOMEM;
	*p = (struct proc){ .loop = loop,
			    .pidfd = -1,
			    .in = -1,
			    .out = -1,
			    .err = -1,
			    .so.max = OUT_MAX,
			    .se.max = 4096,
			    .want_out = want_out,
			    .timeout_ms = timeout_ms,
			    .done = done,
			    .arg = arg };
	snprintf(p->name, sizeof(p->name), "%s", argv[0]);
	loop_timer_init(&p->deadline, on_deadline, p);
	loop_timer_init(&p->reap, on_reap, p);
	p->inlen = input ? strlen(input) : 0;
	if (p->inlen && !(p->input = strdup(input))) {
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	r = spawn(p, argv, envp, (int[3]){ in[0], o[1], e[1] });
	close(in[0]);
	close(o[1]);
	close(e[1]);
	p->in = in[1];
	p->out = o[0];
	p->err = e[0];
	in[0] = in[1] = o[0] = o[1] = e[0] = e[1] = -1;
	if (r < 0)
		goto fail;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	if (!p->inlen)
		close_fd(p, &p->in);
	if ((p->in >= 0 && (r = loop_io_add(loop, p->in, LOOP_WRITE, on_input, p)) < 0) ||
	    (r = loop_io_add(loop, p->out, LOOP_READ, on_output, p)) < 0 ||
	    (r = loop_io_add(loop, p->err, LOOP_READ, on_output, p)) < 0 ||
	    (p->pidfd >= 0 && (r = loop_io_add(loop, p->pidfd, LOOP_READ, on_pidfd, p)) < 0)) {
		kill_wait(p);
		goto fail;
	}
	if (p->pidfd < 0)
		loop_timer_arm(loop, &p->reap, REAP_POLL_MS);
	loop_timer_arm(loop, &p->deadline, (uint64_t)timeout_ms);
	*ret = p;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	release(p);
	return r;
}

void proc_cancel(struct proc *p)
{
	if (!p)
		return;
	kill_wait(p);
	release(p);
}
