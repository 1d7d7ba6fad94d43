/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: levels gated by -v, one line per event, errno text on demand. */
#ifndef FLANNELD_LOG_H
#define FLANNELD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Verbosity set by -v; log_debug(level, ...) prints when level <= verbosity. */
extern int log_verbosity;

void log_init(const char *progname);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug_(int level, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* A macro, so that the arguments of a line not printed are not even formatted. */
#define log_debug(level, ...)                                                                      \
	do {                                                                                       \
		if ((level) <= log_verbosity)                                                      \
			log_debug_(level, __VA_ARGS__);                                            \
	} while (0)
/*
 * A rate limit for one kind of message that remote input can repeat:
 * at most burst of them per window_ms. Zero-initialise the counters.
 */
struct log_limit {
	unsigned burst;
	uint64_t window_ms;
	uint64_t start_ms;
	unsigned count;
	unsigned long long suppressed;
};
#define LOG_LIMIT(burst_, window_ms_)                                                              \
	((struct log_limit){ .burst = (burst_), .window_ms = (window_ms_) })
/*
 * Whether to log one more now. When a new window opens after some were
 * dropped, first logs how many ("N more <what> were ignored without a message").
 */
bool log_limit_ok(struct log_limit *l, const char *what);

/* Log an error and exit(1): start-up errors and broken invariants only. */
void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));

#endif
