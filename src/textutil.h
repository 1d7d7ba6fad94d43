/* SPDX-License-Identifier: Apache-2.0 */
/* Text helpers shared by the parsers: error messages and quoting. */
#ifndef FLANNELD_TEXTUTIL_H
#define FLANNELD_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Format a message into err (if any) and return -EINVAL. */
int text_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Quote a user-supplied value for a message: '"' and '\' escaped, control and
 * non-ASCII bytes as \xNN, cut with "..." so the message stays one line. */
const char *text_quote(const char *s, char *buf, size_t len);

/* The same for n bytes that may hold NULs (an etcd key): a NUL shows as \x00. */
const char *text_quote_n(const char *s, size_t n, char *buf, size_t len);

/*
 * Copy s into buf with every control byte (below 0x20, and 0x7f) as \xNN,
 * so that text from another host can neither end a line nor start a
 * terminal escape; cut with "..." when it does not fit. Other bytes
 * (UTF-8 included) pass unchanged. Returns buf.
 */
const char *text_escape_ctl(const char *s, char *buf, size_t len);

/* The value of a hexadecimal digit, or -1. */
int text_hex_digit(char c);

/* Go's strconv.ParseBool spellings (1 t T TRUE true True, and the false ones). */
int text_parse_bool(const char *s, bool *ret);

#endif
