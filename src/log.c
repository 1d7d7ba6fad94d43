/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr: "<L><mmdd hh:mm:ss.uuuuuu> <pid>] message". */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "textutil.h"

int log_verbosity;

void log_init(const char *progname)
{
	(void)progname;
	/* Line buffering keeps lines whole when several daemons share a file. */
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/*
 * klog-like prefix so the output reads like upstream's. Messages quote
 * keys, values and errors that other hosts wrote: every control byte is
 * escaped here, in one place, so that none can end the line early and forge
 * another (or reach a terminal as an escape sequence).
 */
static void log_vline(char level, const char *fmt, va_list ap, const char *suffix)
{
	struct timeval tv;
	struct tm tm;
	char msg[1024], safe[4 * sizeof(msg) + 8];

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	text_escape_ctl(msg, safe, sizeof(safe));
	fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %d] %s%s%s\n", level, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec, (int)getpid(), safe,
		suffix ? ": " : "", suffix ? suffix : "");
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline('I', fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline('W', fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline('W', fmt, ap, NULL);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline('E', fmt, ap, NULL);
	va_end(ap);
}

void log_debug_(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_verbosity)
		return;
	va_start(ap, fmt);
	log_vline('I', fmt, ap, NULL);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline('F', fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

bool log_limit_ok(struct log_limit *l, const char *what)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (!l->start_ms || now - l->start_ms > l->window_ms) {
		if (l->suppressed)
			log_warnx("%llu more %s were ignored without a message", l->suppressed,
				  what);
		l->start_ms = now ? now : 1;
		l->count = 0;
		l->suppressed = 0;
	}
	if (l->count++ < l->burst)
		return true;
	l->suppressed++;
	return false;
}
