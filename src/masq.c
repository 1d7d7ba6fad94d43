/* SPDX-License-Identifier: Apache-2.0 */
#include "masq.h"

#include <dlfcn.h>
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "masq_rules.h"
#include "proc_run.h"

#define TOOL_TIMEOUT_MS 10000
#define LIBNFTABLES	"libnftables.so.1"

/* libnftables, loaded on first use: only nftables mode needs it. */
#define NFT_SYMBOLS(X)                                                                             \
	X(nft_ctx_new)                                                                             \
	X(nft_ctx_free)                                                                            \
	X(nft_ctx_buffer_output)                                                                   \
	X(nft_ctx_get_output_buffer)                                                               \
	X(nft_ctx_buffer_error)                                                                    \
	X(nft_ctx_get_error_buffer)                                                                \
	X(nft_run_cmd_from_buffer)

static struct {
	void *handle;
#define X(name) __typeof__(&name) name;
	NFT_SYMBOLS(X)
#undef X
} nft;

struct masq {
	struct loop *loop;
	struct masq_config cfg;
	struct masq_spec spec;
	bool have_spec;
	struct loop_timer resync;
	bool ipt_wait; /* iptables-restore takes --wait (1.6.2 and later) */
	struct nft_ctx *nft;
	char *nft_listing; /* our table as nft listed it right after we wrote it */
	char last_err[256];
};

static int nft_load(char *err, size_t errlen)
{
	void *h;

	if (nft.handle)
		return 0;
	h = dlopen(LIBNFTABLES, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s (Debian package libnftables1): %s",
			 LIBNFTABLES, dlerror());
		return -ENOENT;
	}
#define X(name)                                                                                    \
	nft.name = (__typeof__(&name))dlsym(h, #name);                                             \
	if (!nft.name) {                                                                           \
		snprintf(err, errlen, "%s lacks %s", LIBNFTABLES, #name);                          \
		dlclose(h);                                                                        \
		return -ENOENT;                                                                    \
	}
	NFT_SYMBOLS(X)
#undef X
	nft.handle = h;
	return 0;
}

/* ------------------------------------------------------------ iptables */

static const char *table_name(enum masq_table t)
{
	return t == MASQ_NAT ? "nat" : "filter";
}

static int tool_error(int r, const char *tool, const char *text, char *err, size_t errlen)
{
	if (r == -ENOENT)
		snprintf(err, errlen, "%s not found (Debian package iptables)", tool);
	else if (r < 0)
		snprintf(err, errlen, "%s: %s", tool, *text ? text : strerror(-r));
	else
		snprintf(err, errlen, "%s exited with %d: %s", tool, r,
			 *text ? text : "no message");
	return r < 0 ? r : -EIO;
}

/* One save, check and (if needed) restore of table t; *changed says whether it wrote. */
static int ipt_table_once(struct masq *m, enum masq_table t, bool v6, bool *changed, char *err,
			  size_t errlen)
{
	char table[8], save[16], restore[20];
	char *save_argv[] = { save, "-t", table, NULL };
	/* Without a time limit, as upstream: proc_run's deadline bounds it. */
	char *restore_argv[] = { restore, "--noflush", m->ipt_wait ? "--wait" : NULL, NULL };
	char text[256], *dump = NULL, *input, **jumps = NULL;
	size_t njumps = 0;
	int r;

	*changed = false;
	snprintf(table, sizeof(table), "%s", table_name(t));
	snprintf(save, sizeof(save), "%s", v6 ? "ip6tables-save" : "iptables-save");
	snprintf(restore, sizeof(restore), "%s", v6 ? "ip6tables-restore" : "iptables-restore");
	r = proc_run(save_argv, NULL, TOOL_TIMEOUT_MS, &dump, text, sizeof(text));
	if (r != 0)
		return tool_error(r, save, text, err, errlen);
	if (masq_check_dump(&m->spec, t, v6, dump, &jumps, &njumps)) {
		free(dump);
		masq_lines_free(jumps, njumps);
		return 0;
	}
	free(dump);
	input = masq_restore_input(&m->spec, t, v6, jumps, njumps);
	masq_lines_free(jumps, njumps);
	if (!input) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = proc_run(restore_argv, input, TOOL_TIMEOUT_MS, NULL, text, sizeof(text));
	free(input);
	if (r != 0)
		return tool_error(r, restore, text, err, errlen);
	*changed = true;
	return 0;
}

/*
 * Make table t hold our chain and jump. A restore can fail when someone
 * changes the table between our save and our restore (a jump we delete is
 * gone): look again once.
 */
static int ipt_table(struct masq *m, enum masq_table t, bool v6, bool *changed, char *err,
		     size_t errlen)
{
	int r = ipt_table_once(m, t, v6, changed, err, errlen);

	if (r == -EIO)
		r = ipt_table_once(m, t, v6, changed, err, errlen);
	return r;
}

static int ipt_apply(struct masq *m, bool *changed, char *err, size_t errlen)
{
	bool c = false;
	int r = 0;

	*changed = false;
	for (int v6 = 0; v6 < 2 && r == 0; v6++) {
		if (!(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		if (m->cfg.masq) {
			r = ipt_table(m, MASQ_NAT, v6, &c, err, errlen);
			*changed |= c;
		}
		if (r == 0 && m->cfg.forward) {
			r = ipt_table(m, MASQ_FILTER, v6, &c, err, errlen);
			*changed |= c;
		}
	}
	return r;
}

/*
 * nftables mode takes over from iptables (a config switched to
 * EnableNFTables, or a Go flanneld before us): our iptables chains and
 * jumps go, so that rules of an older network do not stay live. Where
 * iptables is not installed there is nothing to remove.
 */
static void ipt_remove(struct masq *m)
{
	char *restore_argv[] = { "iptables-restore", "--noflush", NULL, NULL };
	char table[8], save[16], restore[20], text[256], *dump, *input;
	char *save_argv[] = { save, "-t", table, NULL };
	bool none;

	restore_argv[0] = restore;
	for (int v6 = 0; v6 < 2; v6++) {
		if (!(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		snprintf(save, sizeof(save), "%s", v6 ? "ip6tables-save" : "iptables-save");
		snprintf(restore, sizeof(restore), "%s",
			 v6 ? "ip6tables-restore" : "iptables-restore");
		for (int t = MASQ_NAT; t <= MASQ_FILTER; t++) {
			snprintf(table, sizeof(table), "%s", table_name((enum masq_table)t));
			dump = NULL;
			if (proc_run(save_argv, NULL, TOOL_TIMEOUT_MS, &dump, text, sizeof(text)) !=
			    0) {
				free(dump);
				return; /* no iptables: nothing of ours there */
			}
			input = masq_remove_input(&m->spec, (enum masq_table)t, v6, dump, &none);
			free(dump);
			if (none || !input)
				continue;
			if (proc_run(restore_argv, input, TOOL_TIMEOUT_MS, NULL, text,
				     sizeof(text)) == 0)
				log_info("Removed our %s %s chain (nftables mode now)", save,
					 table_name((enum masq_table)t));
			else
				log_warnx("Cannot remove our old %s chain in %s: %s", table,
					  restore, text);
			free(input);
		}
	}
}

/*
 * iptables mode takes over from nftables: our tables go. Through the nft
 * tool, so that iptables mode never loads libnftables; without the tool
 * there is nothing to remove.
 */
static void nft_remove(struct masq *m)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	char script[256], text[256];
	size_t len = 0;

	for (int v6 = 0; v6 < 2; v6++) {
		const char *fam = v6 ? "ip6" : "ip",
			   *tb = v6 ? m->spec.nft_table6 : m->spec.nft_table;

		if (!(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		/* "add" first, so that the delete cannot fail for a missing table. */
		len += (size_t)snprintf(script + len, sizeof(script) - len,
					"add table %s %s\ndelete table %s %s\n", fam, tb, fam, tb);
	}
	if (len && proc_run(argv, script, TOOL_TIMEOUT_MS, NULL, text, sizeof(text)) > 0)
		log_debug(1, "Cannot remove our old nftables tables: %s", text);
}

/* --random-fully and iptables-restore --wait need iptables 1.6.2 or later. */
static bool ipt_is_1_6_2(void)
{
	char *argv[] = { "iptables", "--version", NULL };
	char text[128], *out = NULL;
	unsigned a = 0, b = 0, c = 0;
	bool ok = false;

	if (proc_run(argv, NULL, TOOL_TIMEOUT_MS, &out, text, sizeof(text)) == 0 && out) {
		const char *v = strstr(out, " v");

		if (v && sscanf(v + 2, "%u.%u.%u", &a, &b, &c) >= 2)
			ok = a > 1 || (a == 1 && (b > 6 || (b == 6 && c >= 2)));
	}
	free(out);
	return ok;
}

/* ------------------------------------------------------------ nftables */

static int nft_run(struct masq *m, const char *cmd, char **listing, char *err, size_t errlen)
{
	int r = m->nft ? nft.nft_run_cmd_from_buffer(m->nft, cmd) : -1;
	const char *e;

	if (r != 0) {
		e = m->nft ? nft.nft_ctx_get_error_buffer(m->nft) : "";
		snprintf(err, errlen, "nft: %.*s", (int)strcspn(e ? e : "", "\n"),
			 e && *e ? e : "command failed");
		return -EIO;
	}
	if (listing) {
		const char *o = nft.nft_ctx_get_output_buffer(m->nft);

		*listing = strdup(o ? o : "");
		if (!*listing)
			return -ENOMEM;
	} else {
		nft.nft_ctx_get_output_buffer(m->nft); /* reset it */
	}
	return 0;
}

/* Our tables as nft lists them (both families, one after the other). */
static int nft_list(struct masq *m, char **listing, char *err, size_t errlen)
{
	char cmd[64], *part[2] = { NULL, NULL };
	int r = 0;

	for (int v6 = 0; v6 < 2 && r == 0; v6++) {
		if (!(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		snprintf(cmd, sizeof(cmd), "list table %s %s", v6 ? "ip6" : "ip",
			 v6 ? m->spec.nft_table6 : m->spec.nft_table);
		r = nft_run(m, cmd, &part[v6], err, errlen);
	}
	if (r == 0 && asprintf(listing, "%s%s", part[0] ? part[0] : "", part[1] ? part[1] : "") < 0)
		r = -ENOMEM;
	free(part[0]);
	free(part[1]);
	return r;
}

static int nft_apply(struct masq *m, bool *changed, char *err, size_t errlen)
{
	char *now = NULL, *script;
	int r;

	*changed = false;
	if (m->nft_listing && nft_list(m, &now, err, errlen) == 0 &&
	    strcmp(now, m->nft_listing) == 0) {
		free(now);
		return 0;
	}
	free(now);
	script = masq_nft_script(&m->spec);
	if (!script) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = nft_run(m, script, NULL, err, errlen);
	free(script);
	if (r < 0)
		return r;
	free(m->nft_listing);
	m->nft_listing = NULL;
	r = nft_list(m, &m->nft_listing, err, errlen);
	if (r < 0)
		return r;
	*changed = true;
	return 0;
}

/* ------------------------------------------------------------ both */

static const char *mode(const struct masq *m)
{
	return m->cfg.nftables ? "nftables" : "iptables";
}

static int apply(struct masq *m, bool *changed, char *err, size_t errlen)
{
	return m->cfg.nftables ? nft_apply(m, changed, err, errlen)
			       : ipt_apply(m, changed, err, errlen);
}

static void on_resync(void *arg)
{
	struct masq *m = arg;
	char err[256];
	bool changed;
	int r;

	r = apply(m, &changed, err, sizeof(err));
	/* From the end of this pass: a slow iptables never makes passes back to back. */
	loop_timer_arm(m->loop, &m->resync, (uint64_t)m->cfg.resync_s * 1000);
	if (r < 0) {
		/* The same failure every few seconds is said once. */
		if (strcmp(err, m->last_err) != 0)
			log_warnx("Cannot check the %s rules: %s; retrying every %us", mode(m), err,
				  m->cfg.resync_s);
		snprintf(m->last_err, sizeof(m->last_err), "%s", err);
		return;
	}
	if (m->last_err[0])
		log_info("The %s rules are in place again", mode(m));
	else if (changed)
		log_warnx("Some %s rules were missing or changed; deleted and recreated them",
			  mode(m));
	m->last_err[0] = '\0';
}

int masq_apply(struct masq *m, const struct masq_nets *n, char *err, size_t errlen)
{
	char net[IP_STRLEN], pod[IP_STRLEN];
	bool changed;
	int r;

	m->spec.v4 = n->v4;
	m->spec.network = n->network;
	m->spec.subnet = n->subnet;
	m->spec.v6 = n->v6;
	m->spec.network6 = n->network6;
	m->spec.subnet6 = n->subnet6;
	if (!m->have_spec) {
		if (m->cfg.nftables)
			ipt_remove(m);
		else
			nft_remove(m);
	}
	m->have_spec = true;
	/* A new subnet: our chains are rewritten whatever they hold. */
	free(m->nft_listing);
	m->nft_listing = NULL;
	r = apply(m, &changed, err, errlen);
	loop_timer_arm(m->loop, &m->resync, (uint64_t)m->cfg.resync_s * 1000);
	if (r < 0) {
		snprintf(m->last_err, sizeof(m->last_err), "%s", err);
		return r;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		const char *fam = v6 ? "IPv6 " : "";

		if (!(v6 ? n->v6 : n->v4))
			continue;
		if (v6) {
			ip6net_format(&n->network6, net);
			ip6net_format(&n->subnet6, pod);
		} else {
			ip4net_format(&n->network, net);
			ip4net_format(&n->subnet, pod);
		}
		if (m->cfg.masq)
			log_info("%sMasquerade rules for network %s, subnet %s in place (%s %s), "
				 "checked every %us",
				 fam, net, pod, mode(m),
				 m->cfg.nftables ? (v6 ? m->spec.nft_table6 : m->spec.nft_table)
						 : m->spec.nat_chain,
				 m->cfg.resync_s);
		if (m->cfg.forward)
			log_info("%sForward rules for network %s in place (%s %s), checked every "
				 "%us",
				 fam, net, mode(m),
				 m->cfg.nftables ? (v6 ? m->spec.nft_table6 : m->spec.nft_table)
						 : m->spec.fwd_chain,
				 m->cfg.resync_s);
	}
	return 0;
}

int masq_new(struct loop *loop, const struct masq_config *c, struct masq **ret)
{
	struct masq *m = calloc(1, sizeof(*m));
	char err[256];
	int r;

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->cfg = *c;
	m->spec.masq = c->masq;
	m->spec.forward = c->forward;
	masq_names(&m->spec, c->etcd_prefix, c->default_prefix);
	loop_timer_init(&m->resync, on_resync, m);
	if (c->nftables) {
		r = nft_load(err, sizeof(err));
		if (r == 0) {
			m->nft = nft.nft_ctx_new(NFT_CTX_DEFAULT);
			if (!m->nft)
				r = -ENOMEM;
		}
		if (r < 0) {
			log_error("nftables mode: %s", r == -ENOMEM ? "out of memory" : err);
			free(m);
			return r;
		}
		nft.nft_ctx_buffer_output(m->nft);
		nft.nft_ctx_buffer_error(m->nft);
		m->spec.random_fully = c->random_fully;
	} else {
		m->ipt_wait = ipt_is_1_6_2();
		m->spec.random_fully = c->random_fully && m->ipt_wait;
	}
	*ret = m;
	return 0;
}

void masq_free(struct masq *m)
{
	if (!m)
		return;
	loop_timer_cancel(m->loop, &m->resync);
	if (m->nft)
		nft.nft_ctx_free(m->nft);
	free(m->nft_listing);
	free(m);
}
