/* SPDX-License-Identifier: Apache-2.0 */
#include "masq_rules.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASQ_COMMENT "-m comment --comment \"flanneld masq\""
#define FWD_COMMENT  "-m comment --comment \"flanneld forward\""

void masq_names(struct masq_spec *s, const char *etcd_prefix, bool default_prefix)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (default_prefix) {
		snprintf(s->nat_chain, sizeof(s->nat_chain), "FLANNEL-POSTRTG");
		snprintf(s->fwd_chain, sizeof(s->fwd_chain), "FLANNEL-FWD");
		snprintf(s->nft_table, sizeof(s->nft_table), "flannel-ipv4");
		return;
	}
	for (const char *p = etcd_prefix; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(s->nat_chain, sizeof(s->nat_chain), "FLANNEL-POSTRTG-%08x", h);
	snprintf(s->fwd_chain, sizeof(s->fwd_chain), "FLANNEL-FWD-%08x", h);
	snprintf(s->nft_table, sizeof(s->nft_table), "flannel-ipv4-%08x", h);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, f);
	r = vasprintf(&s, f, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

void masq_lines_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

char **masq_chain_rules(const struct masq_spec *s, enum masq_table t, size_t *n)
{
	char net[IP_STRLEN], pod[IP_STRLEN];
	const char *rf = s->random_fully ? " --random-fully" : "";
	char **v = calloc(6, sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	ip4net_format(&s->network, net);
	ip4net_format(&s->subnet, pod);
	if (t == MASQ_NAT) {
		const char *c = s->nat_chain;

		/* Upstream master's order (v0.21.3+). */
		v[k++] = fmt("-A %s -m mark --mark 0x4000/0x4000 " MASQ_COMMENT " -j RETURN", c);
		v[k++] = fmt("-A %s -s %s -d %s " MASQ_COMMENT " -j RETURN", c, pod, net);
		v[k++] = fmt("-A %s -s %s -d %s " MASQ_COMMENT " -j RETURN", c, net, pod);
		v[k++] = fmt("-A %s ! -s %s -d %s " MASQ_COMMENT " -j RETURN", c, net, pod);
		v[k++] = fmt("-A %s -s %s ! -d 224.0.0.0/4 " MASQ_COMMENT " -j MASQUERADE%s", c,
			     net, rf);
		v[k++] = fmt("-A %s ! -s %s -d %s " MASQ_COMMENT " -j MASQUERADE%s", c, net, net,
			     rf);
	} else {
		v[k++] = fmt("-A %s -s %s " FWD_COMMENT " -j ACCEPT", s->fwd_chain, net);
		v[k++] = fmt("-A %s -d %s " FWD_COMMENT " -j ACCEPT", s->fwd_chain, net);
	}
	for (size_t i = 0; i < k; i++) {
		if (!v[i]) {
			masq_lines_free(v, k);
			return NULL;
		}
	}
	*n = k;
	return v;
}

char *masq_jump_rule(const struct masq_spec *s, enum masq_table t)
{
	if (t == MASQ_NAT)
		return fmt("-A POSTROUTING " MASQ_COMMENT " -j %s", s->nat_chain);
	return fmt("-A FORWARD " FWD_COMMENT " -j %s", s->fwd_chain);
}

static const char *chain_of(const struct masq_spec *s, enum masq_table t)
{
	return t == MASQ_NAT ? s->nat_chain : s->fwd_chain;
}

static const char *builtin_of(enum masq_table t)
{
	return t == MASQ_NAT ? "POSTROUTING" : "FORWARD";
}

/* Whether line is "-A <chain> ..." for exactly that chain. */
static bool in_chain(const char *line, size_t len, const char *chain)
{
	size_t c = strlen(chain);

	return len > 3 + c && memcmp(line, "-A ", 3) == 0 && memcmp(line + 3, chain, c) == 0 &&
	       line[3 + c] == ' ';
}

/* Whether line ends in "-j <chain>" (a jump to it, whatever else it says). */
static bool jumps_to(const char *line, size_t len, const char *chain)
{
	size_t c = strlen(chain);

	return len >= c + 4 && memcmp(line + len - c - 4, " -j ", 4) == 0 &&
	       memcmp(line + len - c, chain, c) == 0;
}

static int push(char ***v, size_t *n, const char *line, size_t len)
{
	char **g = realloc(*v, (*n + 1) * sizeof(**v));

	if (!g)
		return -1;
	*v = g;
	g[*n] = strndup(line, len);
	if (!g[*n])
		return -1;
	(*n)++;
	return 0;
}

bool masq_check_dump(const struct masq_spec *s, enum masq_table t, const char *dump, char ***jumps,
		     size_t *njumps)
{
	const char *chain = chain_of(s, t), *builtin = builtin_of(t);
	char **want = NULL, *jump = NULL;
	size_t nwant = 0, seen = 0;
	bool ok = true, chain_exists = false, our_jump = false;
	char decl[MASQ_CHAIN_MAX + 2];

	*jumps = NULL;
	*njumps = 0;
	want = masq_chain_rules(s, t, &nwant);
	jump = masq_jump_rule(s, t);
	if (!want || !jump) {
		ok = false;
		goto out;
	}
	snprintf(decl, sizeof(decl), ":%s", chain);
	for (const char *p = dump; *p;) {
		const char *e = strchrnul(p, '\n');
		size_t len = (size_t)(e - p);

		if (len > strlen(decl) && memcmp(p, decl, strlen(decl)) == 0 &&
		    p[strlen(decl)] == ' ')
			chain_exists = true;
		if (in_chain(p, len, chain)) {
			if (seen >= nwant || strlen(want[seen]) != len ||
			    memcmp(want[seen], p, len) != 0)
				ok = false;
			seen++;
		} else if (in_chain(p, len, builtin) && jumps_to(p, len, chain)) {
			if (strlen(jump) == len && memcmp(jump, p, len) == 0 && !our_jump)
				our_jump = true;
			else
				ok = false;
			if (push(jumps, njumps, p, len) < 0)
				ok = false;
		}
		p = *e ? e + 1 : e;
	}
	if (!chain_exists || seen != nwant || !our_jump)
		ok = false;
out:
	masq_lines_free(want, nwant);
	free(jump);
	return ok;
}

/* Append to a growing string; false on ENOMEM (then *buf is freed). */
static bool cat(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *g = realloc(*buf, *len + n + 2);

	if (!g) {
		free(*buf);
		*buf = NULL;
		return false;
	}
	memcpy(g + *len, s, n);
	g[*len + n] = '\n';
	g[*len + n + 1] = '\0';
	*buf = g;
	*len += n + 1;
	return true;
}

char *masq_restore_input(const struct masq_spec *s, enum masq_table t, char *const *old_jumps,
			 size_t nold)
{
	char line[64], **rules = NULL, *jump = masq_jump_rule(s, t), *buf = NULL;
	size_t n = 0, len = 0;
	bool ok;

	rules = masq_chain_rules(s, t, &n);
	ok = rules && jump && cat(&buf, &len, t == MASQ_NAT ? "*nat" : "*filter");
	/* With --noflush, declaring a user chain creates it or flushes it. */
	snprintf(line, sizeof(line), ":%s - [0:0]", chain_of(s, t));
	ok = ok && cat(&buf, &len, line);
	for (size_t i = 0; ok && i < nold; i++) {
		/* "-A X spec" becomes "-D X spec". */
		char *d = strdup(old_jumps[i]);

		ok = d != NULL;
		if (ok) {
			d[1] = 'D';
			ok = cat(&buf, &len, d);
		}
		free(d);
	}
	ok = ok && cat(&buf, &len, jump);
	for (size_t i = 0; ok && i < n; i++)
		ok = cat(&buf, &len, rules[i]);
	ok = ok && cat(&buf, &len, "COMMIT");
	masq_lines_free(rules, n);
	free(jump);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *masq_nft_script(const struct masq_spec *s)
{
	char net[IP_STRLEN], pod[IP_STRLEN];
	const char *tb = s->nft_table, *rf = s->random_fully ? " fully-random" : "";
	char *r;

	ip4net_format(&s->network, net);
	ip4net_format(&s->subnet, pod);
	/*
	 * Upstream's rule 4 is "ip saddr != <pod> ip daddr <net> return",
	 * which returns before rule 6 can ever match; ours is its iptables
	 * rule 4, so traffic from outside into the network is masqueraded as
	 * with iptables.
	 */
	if (asprintf(&r,
		     "add table ip %s\n"
		     "add chain ip %s postrtg { type nat hook postrouting priority srcnat ; }\n"
		     "add chain ip %s forward { type filter hook forward priority filter ; }\n"
		     "flush chain ip %s postrtg\n"
		     "flush chain ip %s forward\n",
		     tb, tb, tb, tb, tb) < 0)
		return NULL;
	if (s->masq) {
		char *m;

		if (asprintf(&m,
			     "%s"
			     "add rule ip %s postrtg meta mark 0x4000 return\n"
			     "add rule ip %s postrtg ip saddr %s ip daddr %s return\n"
			     "add rule ip %s postrtg ip saddr %s ip daddr %s return\n"
			     "add rule ip %s postrtg ip saddr != %s ip daddr %s return\n"
			     "add rule ip %s postrtg ip saddr %s ip daddr != 224.0.0.0/4 "
			     "masquerade%s\n"
			     "add rule ip %s postrtg ip saddr != %s ip daddr %s masquerade%s\n",
			     r, tb, tb, pod, net, tb, net, pod, tb, net, pod, tb, net, rf, tb, net,
			     net, rf) < 0)
			m = NULL;
		free(r);
		r = m;
	}
	if (r && s->forward) {
		char *f;

		if (asprintf(&f,
			     "%s"
			     "add rule ip %s forward ip saddr %s accept\n"
			     "add rule ip %s forward ip daddr %s accept\n",
			     r, tb, net, tb, net) < 0)
			f = NULL;
		free(r);
		r = f;
	}
	return r;
}
