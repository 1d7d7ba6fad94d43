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
		snprintf(s->nft_table6, sizeof(s->nft_table6), "flannel-ipv6");
		return;
	}
	for (const char *p = etcd_prefix; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(s->nat_chain, sizeof(s->nat_chain), "FLANNEL-POSTRTG-%08x", h);
	snprintf(s->fwd_chain, sizeof(s->fwd_chain), "FLANNEL-FWD-%08x", h);
	snprintf(s->nft_table, sizeof(s->nft_table), "flannel-ipv4-%08x", h);
	snprintf(s->nft_table6, sizeof(s->nft_table6), "flannel-ipv6-%08x", h);
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

/* The network and our subnet of one family as text, and its multicast range. */
static const char *texts(const struct masq_spec *s, bool v6, char *net, char *pod)
{
	if (v6) {
		ip6net_format(&s->network6, net);
		ip6net_format(&s->subnet6, pod);
		return "ff00::/8";
	}
	ip4net_format(&s->network, net);
	ip4net_format(&s->subnet, pod);
	return "224.0.0.0/4";
}

char **masq_chain_rules(const struct masq_spec *s, enum masq_table t, bool v6, size_t *n)
{
	char net[IP_STRLEN], pod[IP_STRLEN];
	const char *rf = s->random_fully ? " --random-fully" : "", *mc;
	char **v = calloc(6, sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	mc = texts(s, v6, net, pod);
	if (t == MASQ_NAT) {
		const char *c = s->nat_chain;

		/* Upstream master's order (v0.21.3+). */
		v[k++] = fmt("-A %s -m mark --mark 0x4000/0x4000 " MASQ_COMMENT " -j RETURN", c);
		v[k++] = fmt("-A %s -s %s -d %s " MASQ_COMMENT " -j RETURN", c, pod, net);
		v[k++] = fmt("-A %s -s %s -d %s " MASQ_COMMENT " -j RETURN", c, net, pod);
		v[k++] = fmt("-A %s ! -s %s -d %s " MASQ_COMMENT " -j RETURN", c, net, pod);
		v[k++] =
			fmt("-A %s -s %s ! -d %s " MASQ_COMMENT " -j MASQUERADE%s", c, net, mc, rf);
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

bool masq_check_dump(const struct masq_spec *s, enum masq_table t, bool v6, const char *dump,
		     char ***jumps, size_t *njumps)
{
	const char *chain = chain_of(s, t), *builtin = builtin_of(t);
	char **want = NULL, *jump = NULL;
	size_t nwant = 0, seen = 0;
	bool ok = true, chain_exists = false, our_jump = false;
	char decl[MASQ_CHAIN_MAX + 2];

	*jumps = NULL;
	*njumps = 0;
	want = masq_chain_rules(s, t, v6, &nwant);
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

char *masq_restore_input(const struct masq_spec *s, enum masq_table t, bool v6,
			 char *const *old_jumps, size_t nold)
{
	char line[64], **rules = NULL, *jump = masq_jump_rule(s, t), *buf = NULL;
	size_t n = 0, len = 0;
	bool ok;

	rules = masq_chain_rules(s, t, v6, &n);
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

char *masq_remove_input(const struct masq_spec *s, enum masq_table t, bool v6, const char *dump,
			bool *ret_none)
{
	const char *chain = chain_of(s, t);
	char decl[MASQ_CHAIN_MAX + 2], line[64], **jumps = NULL, *buf = NULL;
	size_t njumps = 0, len = 0;
	bool exists = false, ok;

	*ret_none = false;
	snprintf(decl, sizeof(decl), ":%s ", chain);
	for (const char *p = dump; *p;) {
		const char *e = strchrnul(p, '\n');

		if ((size_t)(e - p) > strlen(decl) && memcmp(p, decl, strlen(decl)) == 0)
			exists = true;
		p = *e ? e + 1 : e;
	}
	masq_check_dump(s, t, v6, dump, &jumps, &njumps);
	if (!exists && !njumps) {
		masq_lines_free(jumps, njumps);
		*ret_none = true;
		return NULL;
	}
	ok = cat(&buf, &len, t == MASQ_NAT ? "*nat" : "*filter");
	for (size_t i = 0; ok && i < njumps; i++) {
		jumps[i][1] = 'D'; /* "-A X spec" becomes "-D X spec" */
		ok = cat(&buf, &len, jumps[i]);
	}
	if (ok && exists) {
		snprintf(line, sizeof(line), "-F %s", chain);
		ok = cat(&buf, &len, line);
		snprintf(line, sizeof(line), "-X %s", chain);
		ok = ok && cat(&buf, &len, line);
	}
	ok = ok && cat(&buf, &len, "COMMIT");
	masq_lines_free(jumps, njumps);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Append to *r (freed and NULL on ENOMEM, or if it already was NULL). */
static void append(char **r, const char *f, ...) __attribute__((format(printf, 2, 3)));

static void append(char **r, const char *f, ...)
{
	char *add = NULL, *out = NULL;
	va_list ap;
	int n;

	va_start(ap, f);
	n = vasprintf(&add, f, ap);
	va_end(ap);
	if (*r && n >= 0 && asprintf(&out, "%s%s", *r, add) < 0)
		out = NULL;
	if (n >= 0)
		free(add);
	free(*r);
	*r = out;
}

/*
 * One family's table, replaced whole in the transaction ("add" makes the
 * "delete" safe when it does not exist yet), so a chain someone changed
 * (another hook or priority) cannot make it fail; chains only for what was
 * asked, so forward rules alone hook no NAT.
 */
static void nft_family(char **r, const struct masq_spec *s, bool v6)
{
	char net[IP_STRLEN], pod[IP_STRLEN];
	const char *fam = v6 ? "ip6" : "ip", *tb = v6 ? s->nft_table6 : s->nft_table;
	const char *rf = s->random_fully ? " fully-random" : "";
	const char *a = v6 ? "ip6 saddr" : "ip saddr", *d = v6 ? "ip6 daddr" : "ip daddr";
	const char *mc = texts(s, v6, net, pod);

	append(r, "add table %s %s\ndelete table %s %s\nadd table %s %s\n", fam, tb, fam, tb, fam,
	       tb);
	if (s->masq) {
		append(r,
		       "add chain %s %s postrtg { type nat hook postrouting priority srcnat ; }\n",
		       fam, tb);
		append(r, "add rule %s %s postrtg meta mark 0x4000 return\n", fam, tb);
		append(r, "add rule %s %s postrtg %s %s %s %s return\n", fam, tb, a, pod, d, net);
		append(r, "add rule %s %s postrtg %s %s %s %s return\n", fam, tb, a, net, d, pod);
		/*
		 * Upstream's rule 4 is "saddr != <pod> daddr <net> return",
		 * which returns before rule 6 can ever match; ours is its
		 * iptables rule 4, so traffic from outside into the network is
		 * masqueraded as with iptables.
		 */
		append(r, "add rule %s %s postrtg %s != %s %s %s return\n", fam, tb, a, net, d,
		       pod);
		append(r, "add rule %s %s postrtg %s %s %s != %s masquerade%s\n", fam, tb, a, net,
		       d, mc, rf);
		append(r, "add rule %s %s postrtg %s != %s %s %s masquerade%s\n", fam, tb, a, net,
		       d, net, rf);
	}
	if (s->forward) {
		append(r,
		       "add chain %s %s forward { type filter hook forward priority filter ; }\n",
		       fam, tb);
		append(r, "add rule %s %s forward %s %s accept\n", fam, tb, a, net);
		append(r, "add rule %s %s forward %s %s accept\n", fam, tb, d, net);
	}
}

char *masq_nft_script(const struct masq_spec *s)
{
	char *r = strdup("");

	if (s->v4)
		nft_family(&r, s, false);
	if (s->v6)
		nft_family(&r, s, true);
	return r;
}
