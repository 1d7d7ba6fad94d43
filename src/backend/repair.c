/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/repair.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define SOON_MS	     20

void repair_init(struct repair *r, struct loop *loop, void (*run)(void *arg), void *arg,
		 const char *what)
{
	r->loop = loop;
	r->retry_ms = RETRY_MIN_MS;
	r->what = what;
	loop_timer_init(&r->timer, run, arg);
}

bool repair_soon(struct repair *r)
{
	if (r->timer.armed && r->timer.due_ms <= loop_now_ms() + SOON_MS)
		return false;
	loop_timer_arm(r->loop, &r->timer, SOON_MS);
	return true;
}

void repair_soon_why(struct repair *r, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (repair_soon(r))
		log_warnx("%s; restoring", why);
	else
		log_debug(1, "%s (a repair is already due)", why);
}

void repair_later(struct repair *r)
{
	if (r->timer.armed)
		return;
	log_warnx("Will converge %s again in %llus", r->what,
		  (unsigned long long)(r->retry_ms / 1000));
	loop_timer_arm(r->loop, &r->timer, r->retry_ms);
	r->retry_ms = r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
}

void repair_done(struct repair *r)
{
	r->retry_ms = RETRY_MIN_MS;
}

void repair_cancel(struct repair *r)
{
	loop_timer_cancel(r->loop, &r->timer);
}
