/* SPDX-License-Identifier: Apache-2.0 */
/* The single event loop: fd events over epoll and monotonic timers. */
#ifndef FLANNELD_LOOP_H
#define FLANNELD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* events is a mask of LOOP_READ / LOOP_WRITE (and LOOP_ERROR on delivery). */
#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u

typedef void (*loop_io_cb)(int fd, unsigned events, void *arg);
typedef void (*loop_timer_cb)(void *arg);

/* Embedded by its owner; the loop only links it into its timer list. */
struct loop_timer {
	uint64_t due_ms;
	loop_timer_cb cb;
	void *arg;
	struct loop_timer *next, *prev;
	bool armed;
};

int loop_new(struct loop **ret);
void loop_free(struct loop *loop);

/* One registration per fd; add replaces an existing one. */
int loop_io_add(struct loop *loop, int fd, unsigned events, loop_io_cb cb, void *arg);
int loop_io_mod(struct loop *loop, int fd, unsigned events);
void loop_io_del(struct loop *loop, int fd);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg);
/* (Re)arm to fire once after delay_ms. */
void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);

/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);

/*
 * The longest time, in microseconds, the loop spent away from epoll_wait
 * (callbacks and timers) in the current LOOP_LAG_WINDOW_MS window and the
 * one before it: a figure for /metrics that covers the last 10 to 20 s.
 */
#define LOOP_LAG_WINDOW_MS 10000
uint64_t loop_lag_max_us(struct loop *loop);

/* Runs until loop_stop(); returns 0, or a negative errno on failure. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
