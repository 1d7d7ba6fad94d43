/* SPDX-License-Identifier: Apache-2.0 */
/* epoll loop with a short list of timers (the daemon has a handful). */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct loop_io {
	loop_io_cb cb;
	void *arg;
	uint32_t gen; /* bumped per registration: stale events of a reused fd are dropped */
	bool used;
};

struct loop {
	int epfd;
	bool stop;
	struct loop_io *ios; /* indexed by fd */
	int n_ios;
	struct loop_timer *timers; /* unsorted; scanned each turn */
	/* Lag: the longest turn away from epoll_wait, per window (see loop_lag_max_us). */
	uint64_t lag_window_us; /* start of the current window */
	uint64_t lag_cur_us, lag_prev_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Move the windows on to now: a window with no turn recorded counts as 0. */
static void lag_roll(struct loop *loop, uint64_t now)
{
	uint64_t w = (uint64_t)LOOP_LAG_WINDOW_MS * 1000u;

	if (now - loop->lag_window_us < w)
		return;
	loop->lag_prev_us = now - loop->lag_window_us < 2 * w ? loop->lag_cur_us : 0;
	loop->lag_cur_us = 0;
	loop->lag_window_us = now - (now - loop->lag_window_us) % w;
}

static void lag_record(struct loop *loop, uint64_t busy_since, uint64_t now)
{
	lag_roll(loop, now);
	if (now - busy_since > loop->lag_cur_us)
		loop->lag_cur_us = now - busy_since;
}

uint64_t loop_lag_max_us(struct loop *loop)
{
	lag_roll(loop, now_us());
	return loop->lag_cur_us > loop->lag_prev_us ? loop->lag_cur_us : loop->lag_prev_us;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int loop_new(struct loop **ret)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->lag_window_us = now_us();
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int r = -errno;

		free(loop);
		return r;
	}
	*ret = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop->ios);
	free(loop);
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & LOOP_READ) ? EPOLLIN : 0u) | ((events & LOOP_WRITE) ? EPOLLOUT : 0u);
}

int loop_io_add(struct loop *loop, int fd, unsigned events, loop_io_cb cb, void *arg)
{
	struct epoll_event ev = { .events = to_epoll(events) };
	uint32_t gen;

	if (fd < 0)
		return -EBADF;
	if (fd >= loop->n_ios) {
		int n = fd + 16;
		struct loop_io *ios = realloc(loop->ios, (size_t)n * sizeof(*ios));

		if (!ios)
			return -ENOMEM;
		memset(ios + loop->n_ios, 0, (size_t)(n - loop->n_ios) * sizeof(*ios));
		loop->ios = ios;
		loop->n_ios = n;
	}
	gen = loop->ios[fd].gen + 1;
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epfd, loop->ios[fd].used ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->ios[fd] = (struct loop_io){ .cb = cb, .arg = arg, .gen = gen, .used = true };
	return 0;
}

int loop_io_mod(struct loop *loop, int fd, unsigned events)
{
	struct epoll_event ev = { .events = to_epoll(events) };

	if (fd < 0 || fd >= loop->n_ios || !loop->ios[fd].used)
		return -ENOENT;
	ev.data.u64 = (uint64_t)loop->ios[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void loop_io_del(struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->n_ios || !loop->ios[fd].used)
		return;
	/* The fd may already be closed; ENOENT/EBADF are fine. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->ios[fd].used = false;
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	if (!t->armed)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
	t->armed = false;
}

void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms)
{
	loop_timer_cancel(loop, t);
	t->due_ms = loop_now_ms() + delay_ms;
	t->next = loop->timers;
	if (t->next)
		t->next->prev = t;
	loop->timers = t;
	t->armed = true;
}

/*
 * Fire every timer that was due when this pass began; return the delay
 * until the next one (-1: none). A timer re-armed by a slow callback is
 * due again at once, so only the ones due at the start run now: I/O gets
 * its turn between passes whatever the timers do.
 */
static int run_timers(struct loop *loop)
{
	uint64_t start = loop_now_ms();

	for (;;) {
		struct loop_timer *due = NULL, *t;
		uint64_t next = UINT64_MAX, now;

		for (t = loop->timers; t; t = t->next) {
			if (t->due_ms <= start) {
				due = t;
				break;
			}
			if (t->due_ms < next)
				next = t->due_ms;
		}
		if (!due) {
			if (next == UINT64_MAX)
				return -1;
			now = loop_now_ms();
			if (next <= now)
				return 0;
			return next - now > 60000 ? 60000 : (int)(next - now);
		}
		/* A callback may re-arm or cancel any timer, so rescan after each. */
		loop_timer_cancel(loop, due);
		due->cb(due->arg);
		if (loop->stop)
			return 0;
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[32];
	uint64_t busy_since = now_us();

	loop->stop = false;
	while (!loop->stop) {
		int timeout = run_timers(loop);
		int n;

		if (loop->stop)
			break;
		lag_record(loop, busy_since, now_us());
		n = epoll_wait(loop->epfd, evs, 32, timeout);
		busy_since = now_us();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			unsigned events = 0;

			/* Removed, or closed and reused, by an earlier callback in this batch. */
			if (fd >= loop->n_ios || !loop->ios[fd].used || loop->ios[fd].gen != gen)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
				events |= LOOP_READ;
			if (evs[i].events & EPOLLOUT)
				events |= LOOP_WRITE;
			if (evs[i].events & EPOLLERR)
				events |= LOOP_ERROR;
			loop->ios[fd].cb(fd, events, loop->ios[fd].arg);
		}
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}
