/* SPDX-License-Identifier: Apache-2.0 */
/* subnet.env: tolerant dotenv reader, upstream's exact text, atomic writer. */
#include "subnetenv.h"
#include "textutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Upstream writes six short lines. Anything much bigger is not a subnet.env
 * we wrote, so only the start is looked at and the rest reported, never
 * loaded whole (the file may be huge, or not a file we should trust).
 */
#define SUBNETENV_MAX_BYTES (64 * 1024)
#define SUBNETENV_MAX_LINE  1024
/* A binary file would otherwise produce a warning per "line". */
#define SUBNETENV_MAX_WARNINGS 16

struct reader {
	void (*warn)(void *arg, const char *msg);
	void *arg;
	unsigned nwarn;
};

static void report(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct reader *rd, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!rd->warn)
		return;
	rd->nwarn++;
	if (rd->nwarn > SUBNETENV_MAX_WARNINGS)
		return;
	if (rd->nwarn == SUBNETENV_MAX_WARNINGS) {
		rd->warn(rd->arg, "too many problems, not reporting any more");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rd->warn(rd->arg, msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

static char *skip_blanks(char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/* Plain decimal that fits in unsigned; no sign, no blanks. */
static int parse_uint(const char *s, unsigned *ret)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 0xffffffffUL)
			return -ERANGE;
	}
	*ret = (unsigned)v;
	return 0;
}

static void ip6net_mask(struct ip6net *n)
{
	unsigned __int128 mask = n->len ? ~(unsigned __int128)0 << (128 - n->len) : 0;

	n->addr = ip6_from_u128(ip6_to_u128(&n->addr) & mask);
}

/*
 * Extract the value that starts at p, godotenv style: single quotes are
 * literal; in double quotes \n and \r are escapes and a backslash before any
 * other character is dropped; an unquoted value ends at " #" and loses its
 * surrounding blanks. The value is written in place. Returns the value, or
 * NULL with the reason in *why.
 */
static char *parse_value(char *p, const char **why)
{
	char quote_char = *p, *out, *in;

	if (quote_char != '"' && quote_char != '\'') {
		char *end;

		for (end = p; *end; end++) {
			if (*end == '#' && end > p && is_blank(end[-1]))
				break;
		}
		while (end > p && is_blank(end[-1]))
			end--;
		*end = '\0';
		return p;
	}

	out = p;
	for (in = p + 1; *in && *in != quote_char; in++) {
		if (*in != '\\' || !in[1]) {
			*out++ = *in;
			continue;
		}
		in++;
		if (quote_char == '\'') {
			/* A \' does not end the value, and stays as written. */
			*out++ = '\\';
			*out++ = *in;
		} else if (*in == 'n') {
			*out++ = '\n';
		} else if (*in == 'r') {
			*out++ = '\r';
		} else {
			/* godotenv drops the backslash before any other character. */
			*out++ = *in;
		}
	}
	if (*in != quote_char) {
		*why = "unterminated quoted value";
		return NULL;
	}
	in = skip_blanks(in + 1);
	if (*in && *in != '#') {
		*why = "unexpected text after the quoted value";
		return NULL;
	}
	*out = '\0';
	return p;
}

enum key {
	KEY_NETWORK,
	KEY_SUBNET,
	KEY_IPV6_NETWORK,
	KEY_IPV6_SUBNET,
	KEY_MTU,
	KEY_IPMASQ,
};

static const char *const key_names[] = {
	[KEY_NETWORK] = "FLANNEL_NETWORK",
	[KEY_SUBNET] = "FLANNEL_SUBNET",
	[KEY_IPV6_NETWORK] = "FLANNEL_IPV6_NETWORK",
	[KEY_IPV6_SUBNET] = "FLANNEL_IPV6_SUBNET",
	[KEY_MTU] = "FLANNEL_MTU",
	[KEY_IPMASQ] = "FLANNEL_IPMASQ",
};

/*
 * Store one known variable. Like godotenv's map, the last assignment wins,
 * so the has_* flag is cleared first and set only if this value is good.
 */
static void apply(struct reader *rd, unsigned lineno, enum key key, const char *val,
		  struct subnetenv *env)
{
	const char *name = key_names[key];
	bool *has[] = {
		[KEY_NETWORK] = &env->has_network,
		[KEY_SUBNET] = &env->has_subnet,
		[KEY_IPV6_NETWORK] = &env->has_ipv6_network,
		[KEY_IPV6_SUBNET] = &env->has_ipv6_subnet,
		[KEY_MTU] = &env->has_mtu,
		[KEY_IPMASQ] = &env->has_ipmasq,
	};
	char qbuf[128];
	int r;

	*has[key] = false;
	switch (key) {
	case KEY_NETWORK:
	case KEY_SUBNET:
	case KEY_IPV6_NETWORK:
	case KEY_IPV6_SUBNET:
		/*
		 * Upstream master splits on ',' and gives up on more than one
		 * CIDR; a single trailing ',' already makes two entries there.
		 */
		if (strchr(val, ',')) {
			report(rd, "line %u: %s: more than one CIDR in \"%s\"", lineno, name,
			       text_quote(val, qbuf, sizeof(qbuf)));
			return;
		}
		if (key == KEY_NETWORK || key == KEY_SUBNET) {
			struct ip4net n;

			r = ip4net_parse(val, &n);
			if (r == 0) {
				/* "10.5.72.1/24" names the subnet 10.5.72.0/24. */
				n.addr &= ip4_mask(n.len);
				*(key == KEY_NETWORK ? &env->network : &env->subnet) = n;
			}
		} else {
			struct ip6net n;

			r = ip6net_parse(val, &n);
			if (r == 0) {
				ip6net_mask(&n);
				*(key == KEY_IPV6_NETWORK ? &env->ipv6_network
							  : &env->ipv6_subnet) = n;
			}
		}
		if (r < 0) {
			report(rd, "line %u: %s: invalid CIDR \"%s\"", lineno, name,
			       text_quote(val, qbuf, sizeof(qbuf)));
			return;
		}
		break;
	case KEY_MTU:
		if (parse_uint(val, &env->mtu) < 0) {
			report(rd, "line %u: %s: invalid value \"%s\"", lineno, name,
			       text_quote(val, qbuf, sizeof(qbuf)));
			return;
		}
		break;
	case KEY_IPMASQ:
		if (text_parse_bool(val, &env->ipmasq) < 0) {
			report(rd, "line %u: %s: invalid value \"%s\"", lineno, name,
			       text_quote(val, qbuf, sizeof(qbuf)));
			return;
		}
		break;
	}
	*has[key] = true;
}

/* One line, without its '\n' (and NUL terminated: NUL bytes were rejected). */
static void parse_line(struct reader *rd, unsigned lineno, char *line, struct subnetenv *env)
{
	const char *why = NULL;
	char *p, *key, *val;
	size_t keylen, i;

	p = skip_blanks(line);
	if (!*p || *p == '#')
		return;
	if (!strncmp(p, "export", 6) && is_blank(p[6]))
		p = skip_blanks(p + 6);

	key = p;
	while (is_key_char(*p))
		p++;
	keylen = (size_t)(p - key);
	p = skip_blanks(p);
	/* godotenv also takes the YAML-ish "KEY: value". */
	if (!keylen || (*p != '=' && *p != ':')) {
		report(rd, "line %u: not a KEY=value assignment", lineno);
		return;
	}
	key[keylen] = '\0';
	val = parse_value(skip_blanks(p + 1), &why);
	if (!val) {
		report(rd, "line %u: %s: %s", lineno, key, why);
		return;
	}
	for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
		if (!strcmp(key, key_names[i])) {
			apply(rd, lineno, (enum key)i, val, env);
			return;
		}
	}
	/* Other variables are someone else's business. */
}

/* Checks that make a line unusable as text at all. */
static bool line_is_text(struct reader *rd, unsigned lineno, const char *line, size_t len)
{
	size_t i;

	if (len > SUBNETENV_MAX_LINE) {
		report(rd, "line %u: longer than %d bytes", lineno, SUBNETENV_MAX_LINE);
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0') {
			report(rd, "line %u: contains a NUL byte", lineno);
			return false;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			report(rd, "line %u: contains control character 0x%02x", lineno, c);
			return false;
		}
	}
	return true;
}

static void parse_text(struct reader *rd, const char *buf, size_t len, bool truncated,
		       struct subnetenv *env)
{
	char line[SUBNETENV_MAX_LINE + 1];
	unsigned lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;

		lineno++;
		/* The last line of a cut file is probably cut too: not worth guessing. */
		if (!nl && truncated)
			break;
		/* CRLF files: the '\r' belongs to the line ending. */
		if (n && buf[pos + n - 1] == '\r')
			n--;
		if (line_is_text(rd, lineno, buf + pos, n)) {
			memcpy(line, buf + pos, n);
			line[n] = '\0';
			parse_line(rd, lineno, line, env);
		}
		pos = end + 1;
	}
}

void subnetenv_parse(const char *buf, size_t len, bool truncated, struct subnetenv *ret,
		     void (*warn)(void *arg, const char *msg), void *arg)
{
	struct reader rd = { .warn = warn, .arg = arg };

	memset(ret, 0, sizeof(*ret));
	parse_text(&rd, buf, len, truncated, ret);
}

int subnetenv_read(const char *path, struct subnetenv *ret,
		   void (*warn)(void *arg, const char *msg), void *arg)
{
	struct reader rd = { .warn = warn, .arg = arg };
	struct subnetenv env = { 0 };
	struct stat st;
	bool truncated = false;
	size_t len = 0;
	char *buf = NULL;
	int fd, r;

	memset(ret, 0, sizeof(*ret));
	/* O_NONBLOCK: a FIFO planted at the path must not hang start-up. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}

	/* One byte more than the cap tells "exactly the cap" from "bigger". */
	buf = malloc(SUBNETENV_MAX_BYTES + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (len < SUBNETENV_MAX_BYTES + 1) {
		ssize_t n = read(fd, buf + len, SUBNETENV_MAX_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SUBNETENV_MAX_BYTES) {
		truncated = true;
		report(&rd, "file is larger than %d bytes, reading only the start",
		       SUBNETENV_MAX_BYTES);
		len = SUBNETENV_MAX_BYTES;
	}
	parse_text(&rd, buf, len, truncated, &env);
	*ret = env;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *pos)
		return -ENOSPC;
	*pos += (size_t)n;
	return 0;
}

int subnetenv_format(const struct subnetenv *env, char *buf, size_t size)
{
	char a[IP_STRLEN];
	size_t pos = 0;
	int r = 0;

	if (!size)
		return -ENOSPC;
	buf[0] = '\0';
	if (env->has_network)
		r = append(buf, size, &pos, "FLANNEL_NETWORK=%s\n",
			   ip4net_format(&env->network, a));
	/*
	 * Upstream publishes the subnet's first address (the bridge's), not the
	 * subnet itself: 10.5.71.0/24 is written as 10.5.71.1/24. Like Go's
	 * uint32 arithmetic, this wraps and is not checked against the length.
	 */
	if (!r && env->has_subnet)
		r = append(buf, size, &pos, "FLANNEL_SUBNET=%s/%u\n",
			   ip4_format(env->subnet.addr + 1, a), env->subnet.len);
	if (!r && env->has_ipv6_network)
		r = append(buf, size, &pos, "FLANNEL_IPV6_NETWORK=%s\n",
			   ip6net_format(&env->ipv6_network, a));
	if (!r && env->has_ipv6_subnet) {
		struct ip6 first = ip6_from_u128(ip6_to_u128(&env->ipv6_subnet.addr) + 1);

		r = append(buf, size, &pos, "FLANNEL_IPV6_SUBNET=%s/%u\n", ip6_format(&first, a),
			   env->ipv6_subnet.len);
	}
	if (!r && env->has_mtu)
		r = append(buf, size, &pos, "FLANNEL_MTU=%u\n", env->mtu);
	if (!r && env->has_ipmasq)
		r = append(buf, size, &pos, "FLANNEL_IPMASQ=%s\n", env->ipmasq ? "true" : "false");
	if (r < 0) {
		buf[0] = '\0';
		return r;
	}
	return (int)pos;
}

/* mkdir -p: try the directory first so existing ancestors are never touched. */
static int mkdir_p(char *dir)
{
	char *slash;
	int r;

	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return -ENOENT;
	*slash = '\0';
	r = mkdir_p(dir);
	*slash = '/';
	if (r < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int subnetenv_write(const char *path, const struct subnetenv *env)
{
	const char *base = strrchr(path, '/');
	char text[1024], *dir = NULL, *tmp = NULL;
	bool tmp_exists = false;
	int n, r, fd = -1, dfd;

	n = subnetenv_format(env, text, sizeof(text));
	if (n < 0)
		return n;

	base = base ? base + 1 : path;
	if (!*base)
		return -EISDIR;
	if (base == path)
		dir = strdup(".");
	else if (base - 1 == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(base - 1 - path));
	/* The temp file sits next to the target so rename() stays atomic. */
	if (!dir || asprintf(&tmp, "%.*s.%s.XXXXXX", (int)(base - path), path, base) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}

	r = mkdir_p(dir);
	if (r < 0)
		goto out;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	tmp_exists = true;
	/* mkostemp creates 0600; upstream master writes 0644 whatever the umask. */
	if (fchmod(fd, 0644) < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, text, (size_t)n);
	if (r < 0)
		goto out;
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	tmp_exists = false;

	/*
	 * Make the rename itself durable. The new file is already in place,
	 * so a failure here (some filesystems refuse fsync on directories)
	 * is not reported as a failed write.
	 */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		unlink(tmp);
	free(tmp);
	free(dir);
	return r;
}
