/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/ext_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Words and their expansion are bounded by the command's own length and the values. */
struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	char *g;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		g = realloc(b->s, cap);
		if (!g) {
			b->oom = true;
			return;
		}
		b->s = g;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* The daemon's etcd credentials never reach a command, nor its expansion. */
static bool withheld(const char *name)
{
	return strncmp(name, "FLANNELD_ETCD_", 14) == 0;
}

static const char *lookup_in(char *const list[], const char *name, size_t n)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strncmp(list[i], name, n) == 0 && list[i][n] == '=')
			return list[i] + n + 1;
	return NULL;
}

static const char *lookup(char *const vars[], char *const env[], const char *name, size_t n)
{
	const char *v = lookup_in(vars, name, n);

	if (!v && !(n >= 14 && withheld(name)))
		v = lookup_in(env, name, n);
	return v ? v : "";
}

static bool is_name(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* One word (s, n) with its variables expanded, into b. */
static void expand(struct buf *b, const char *s, size_t n, char *const vars[], char *const env[])
{
	size_t i = 0;

	while (i < n) {
		size_t j, k;

		if (s[i] != '$' || i + 1 == n) {
			put(b, s + i, 1);
			i++;
			continue;
		}
		if (s[i + 1] == '{') {
			for (k = i + 2; k < n && s[k] != '}'; k++)
				;
			if (k == n) { /* no closing brace: literal */
				put(b, s + i, n - i);
				return;
			}
			j = i + 2;
		} else {
			/* As Go's os.Expand: $0..$9 are one-character names. */
			if (isdigit((unsigned char)s[i + 1]))
				k = i + 2;
			else
				for (k = i + 1; k < n && is_name(s[k]); k++)
					;
			if (k == i + 1) { /* "$" then no name: literal */
				put(b, s + i, 1);
				i++;
				continue;
			}
			j = i + 1;
		}
		{
			const char *v = lookup(vars, env, s + j, k - j);

			put(b, v, strlen(v));
		}
		i = s[i + 1] == '{' ? k + 1 : k;
	}
}

void extcmd_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void extcmd_env_free(char **v)
{
	free(v);
}

int extcmd_argv(const char *cmd, char *const vars[], char *const env[], char ***ret)
{
	size_t n = 0, cap = 4;
	char **v = calloc(cap, sizeof(*v));
	const char *s = cmd;

	if (!v)
		return -ENOMEM;
	for (;;) {
		struct buf b = { 0 };
		size_t len;

		while (*s && isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		for (len = 0; s[len] && !isspace((unsigned char)s[len]); len++)
			;
		put(&b, "", 0);
		expand(&b, s, len, vars, env);
		s += len;
		if (!b.oom && n + 2 > cap) {
			char **g = realloc(v, cap * 2 * sizeof(*v));

			if (g) {
				v = g;
				cap *= 2;
			}
		}
		if (b.oom || n + 2 > cap) {
			free(b.s);
			extcmd_free(v);
			return -ENOMEM;
		}
		v[n++] = b.s;
		v[n] = NULL;
	}
	if (n == 0) {
		free(v);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int extcmd_env(char *const vars[], char *const env[], char ***ret)
{
	size_t nv = 0, ne = 0, n = 0;
	char **v;

	while (vars && vars[nv])
		nv++;
	while (env && env[ne])
		ne++;
	v = calloc(nv + ne + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nv; i++)
		v[n++] = vars[i];
	for (size_t i = 0; i < ne; i++) {
		const char *eq = strchr(env[i], '=');

		if (withheld(env[i]) || (eq && lookup_in(vars, env[i], (size_t)(eq - env[i]))))
			continue;
		v[n++] = env[i];
	}
	*ret = v;
	return 0;
}
