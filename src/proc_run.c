/* SPDX-License-Identifier: Apache-2.0 */
#include "proc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/*
 * Helpers get a fixed PATH and an environment of their own: nothing of the
 * daemon's (FLANNELD_ETCD_PASSWORD, a PATH that a unit file or a caller
 * chose). XTABLES_LOCKFILE is iptables' own setting and passes through.
 */
#define CHILD_PATH    "/usr/sbin:/usr/bin:/sbin:/bin"
#define CHILD_ENV_MAX 4
static const char *const child_env_kept[] = { "XTABLES_LOCKFILE" };

struct sink {
	char *buf;
	size_t len, cap, max;
	bool overflow; /* something did not fit: the text has a hole */
};

struct proc {
	struct loop *loop;
	pid_t pid;
	int pidfd, in, out, err; /* -1 when closed (pidfd: none) */
	/*
	 * posix_spawn() returns once the child has exec'd (vfork), which under
	 * load takes the scheduler tens to hundreds of ms: it runs on a thread
	 * of its own, which closes spawn_wfd when done. Until then the child's
	 * ends of the pipes stay open here and the proc is never freed.
	 */
	bool spawning;
	int spawn_r; /* the thread's result: 0 or a negative errno */
	int spawn_fd, spawn_wfd;
	int child_fd[3];
	char **argv; /* a copy, for the thread */
	char **envp; /* a copy, or NULL: the helpers' fixed environment */
	char *input;
	size_t inlen, inoff;
	struct sink so, se;
	bool want_out;
	int timeout_ms;
	char name[64];
	struct loop_timer deadline, reap;
	proc_done_cb done; /* NULL: killed and forgotten, reaped when it exits */
	void *arg;
	struct proc *next_orphan, **prev_orphan; /* on the orphans list while forgotten */
};

/* Killed and forgotten, not reaped yet: held here, still reachable until they are. */
static struct proc *orphans;

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
	if (p->prev_orphan) {
		*p->prev_orphan = p->next_orphan;
		if (p->next_orphan)
			p->next_orphan->prev_orphan = p->prev_orphan;
	}
	close_fd(p, &p->pidfd);
	close_fd(p, &p->in);
	close_fd(p, &p->out);
	close_fd(p, &p->err);
	close_fd(p, &p->spawn_fd);
	if (p->spawn_wfd >= 0)
		close(p->spawn_wfd);
	for (int i = 0; i < 3; i++)
		if (p->child_fd[i] >= 0)
			close(p->child_fd[i]);
	loop_timer_cancel(p->loop, &p->deadline);
	loop_timer_cancel(p->loop, &p->reap);
	for (char **a = p->argv; a && *a; a++)
		free(*a);
	free(p->argv);
	for (char **a = p->envp; a && *a; a++)
		free(*a);
	free(p->envp);
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
		if (!p->done)
			release(p);
		else
			finish(p, -ECHILD, "its exit status was taken by someone else");
		return;
	}
	if (w != p->pid) {
		if (p->pidfd < 0)
			loop_timer_arm(p->loop, &p->reap, REAP_POLL_MS);
		return;
	}
	if (!p->done) {
		release(p); /* killed and forgotten: only the reaping was left */
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

/*
 * Kill it (and what it started) and forget it without waiting: one stuck
 * in the kernel (uninterruptible sleep) dies only when the kernel lets it,
 * so its exit is reaped from the loop whenever it comes. done is not called.
 */
static void kill_forget(struct proc *p)
{
	p->done = NULL;
	p->next_orphan = orphans;
	if (orphans)
		orphans->prev_orphan = &p->next_orphan;
	orphans = p;
	p->prev_orphan = &orphans;
	close_fd(p, &p->in);
	close_fd(p, &p->out);
	close_fd(p, &p->err);
	loop_timer_cancel(p->loop, &p->deadline);
	if (p->spawning)
		return; /* on_spawned kills it, if it started at all */
	kill(-p->pid, SIGKILL);
	check_exit(p);
}

static void on_deadline(void *arg)
{
	struct proc *p = arg;
	proc_done_cb done = p->done;
	void *done_arg = p->arg;
	char msg[128];

	snprintf(msg, sizeof(msg), "%s did not finish in %d ms", p->name, p->timeout_ms);
	kill_forget(p);
	done(done_arg, -ETIMEDOUT, NULL, msg);
}

/* argv[0] as given when it holds a '/', else found in CHILD_PATH: 0 or -ENOENT. */
static int find_program(const char *name, char *buf, size_t len)
{
	const char *dir = CHILD_PATH;

	if (strchr(name, '/'))
		return snprintf(buf, len, "%s", name) < (int)len ? 0 : -ENAMETOOLONG;
	while (*dir) {
		size_t n = strcspn(dir, ":");

		if (snprintf(buf, len, "%.*s/%s", (int)n, dir, name) < (int)len &&
		    access(buf, X_OK) == 0)
			return 0;
		dir += n + (dir[n] == ':');
	}
	return -ENOENT;
}

/* PATH, LC_ALL=C (messages we may quote stay in English) and the kept ones. */
static void child_env(char *env[CHILD_ENV_MAX + 1], char kept[][256])
{
	size_t n = 0;

	env[n++] = (char *)"PATH=" CHILD_PATH;
	env[n++] = (char *)"LC_ALL=C";
	for (size_t i = 0; i < sizeof(child_env_kept) / sizeof(child_env_kept[0]); i++) {
		const char *v = getenv(child_env_kept[i]);

		if (v && snprintf(kept[i], 256, "%s=%s", child_env_kept[i], v) < 256)
			env[n++] = kept[i];
	}
	env[n] = NULL;
}

void proc_spawnattr_init(posix_spawnattr_t *attr)
{
	sigset_t none, pipe_only;

	/* The daemon blocks SIGTERM (signalfd) and ignores SIGPIPE: not so the child. */
	sigemptyset(&none);
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	posix_spawnattr_init(attr);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &pipe_only);
	/* A group of its own: a timeout kills what it started too. */
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETPGROUP);
}

static int spawn(struct proc *p, char *const argv[], int fds[3])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char path[4096], kept[sizeof(child_env_kept) / sizeof(child_env_kept[0])][256];
	char *env[CHILD_ENV_MAX + 1];
	int r;

	if (!p->envp) {
		r = find_program(argv[0], path, sizeof(path));
		if (r < 0)
			return r;
		child_env(env, kept);
	}

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	proc_spawnattr_init(&attr);
	if (p->envp) /* an extension command: looked up and run as upstream does */
		r = posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, p->envp);
	else
		r = posix_spawn(&p->pid, path, &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* The spawn thread: touches p only until it closes spawn_wfd (the loop owns p after). */
static void *spawn_main(void *arg)
{
	struct proc *p = arg;
	int wfd = p->spawn_wfd;

	p->spawn_r = spawn(p, p->argv, p->child_fd);
	close(wfd);
	return NULL;
}

/* The spawn is done: watch the running program, or report why it did not start. */
static void on_spawned(int fd, unsigned events, void *arg)
{
	struct proc *p = arg;
	int r = p->spawn_r;

	p->spawning = false;
	p->spawn_wfd = -1; /* closed by the thread */
	close_fd(p, &p->spawn_fd);
	for (int i = 0; i < 3; i++) {
		close(p->child_fd[i]);
		p->child_fd[i] = -1;
	}
	if (r < 0) {
		if (p->done)
			finish(p, r, strerror(-r));
		else
			release(p);
		return;
	}
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd >= 0 && loop_io_add(p->loop, p->pidfd, LOOP_READ, on_pidfd, p) < 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (!p->done) {
		/* Cancelled or past its deadline while it was being started. */
		kill(-p->pid, SIGKILL);
		check_exit(p);
		return;
	}
	if ((p->in >= 0 && (r = loop_io_add(p->loop, p->in, LOOP_WRITE, on_input, p)) < 0) ||
	    (r = loop_io_add(p->loop, p->out, LOOP_READ, on_output, p)) < 0 ||
	    (r = loop_io_add(p->loop, p->err, LOOP_READ, on_output, p)) < 0) {
		proc_done_cb done = p->done;
		void *done_arg = p->arg;

		kill_forget(p);
		done(done_arg, r, NULL, strerror(-r));
		return;
	}
	if (p->pidfd < 0)
		loop_timer_arm(p->loop, &p->reap, REAP_POLL_MS);
}

static char **copy_argv(char *const argv[])
{
	size_t n = 0;
	char **a;

	while (argv[n])
		n++;
	a = calloc(n + 1, sizeof(*a));
	for (size_t i = 0; a && i < n; i++) {
		a[i] = strdup(argv[i]);
		if (!a[i]) {
			for (size_t j = 0; j < i; j++)
				free(a[j]);
			free(a);
			return NULL;
		}
	}
	return a;
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
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 }, sp[2] = { -1, -1 }, r;
	pthread_attr_t attr;
	pthread_t tid;

	if (!p)
		return -ENOMEM;
	*p = (struct proc){ .loop = loop,
			    .pidfd = -1,
			    .in = -1,
			    .out = -1,
			    .err = -1,
			    .spawn_fd = -1,
			    .spawn_wfd = -1,
			    .child_fd = { -1, -1, -1 },
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
	p->argv = copy_argv(argv);
	if (envp)
		p->envp = copy_argv(envp);
	if (!p->argv || (envp && !p->envp) || (p->inlen && !(p->input = strdup(input)))) {
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 ||
	    pipe2(sp, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	p->in = in[1];
	p->out = o[0];
	p->err = e[0];
	p->child_fd[0] = in[0];
	p->child_fd[1] = o[1];
	p->child_fd[2] = e[1];
	p->spawn_fd = sp[0];
	p->spawn_wfd = sp[1];
	in[0] = in[1] = o[0] = o[1] = e[0] = e[1] = sp[0] = sp[1] = -1;
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	if (!p->inlen) {
		close(p->in);
		p->in = -1;
	}
	r = loop_io_add(loop, p->spawn_fd, LOOP_READ, on_spawned, p);
	if (r < 0)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&tid, &attr, spawn_main, p);
	pthread_attr_destroy(&attr);
	if (r < 0)
		goto fail;
	p->spawning = true;
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
		if (sp[i] >= 0)
			close(sp[i]);
	}
	release(p);
	return r;
}

void proc_cancel(struct proc *p)
{
	if (p)
		kill_forget(p);
}
