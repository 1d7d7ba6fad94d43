/* SPDX-License-Identifier: Apache-2.0 */
/* Text helpers shared by the parsers: error messages and quoting. */
#include "textutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int text_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *text_quote(const char *s, char *buf, size_t len)
{
	return text_quote_n(s, strlen(s), buf, len);
}

const char *text_quote_n(const char *s, size_t n, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, k = 0;

	for (; k < n && i + 8 < len; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '"' || c == '\\') {
			buf[i++] = '\\';
			buf[i++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			buf[i++] = '\\';
			buf[i++] = 'x';
			buf[i++] = hex[c >> 4];
			buf[i++] = hex[c & 15];
		} else {
			buf[i++] = (char)c;
		}
	}
	if (k < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

const char *text_escape_ctl(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	if (len < 8) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	/* Room for one escape and "..." with the NUL. */
	for (; *s && i + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f) {
			buf[i++] = '\\';
			buf[i++] = 'x';
			buf[i++] = hex[c >> 4];
			buf[i++] = hex[c & 15];
		} else {
			buf[i++] = (char)c;
		}
	}
	if (*s) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

int text_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int text_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
