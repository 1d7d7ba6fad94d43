/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The masquerade and forward rules: a pass of tasks that puts them in
 * place and the resync that keeps them there, and iptables mode (its
 * version, iptables-save/-restore per table and family). nftables mode is
 * masq_nft.c's.
 */
#include "masq.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "masq_impl.h"
#include "masq_rules.h"
#include "proc_run.h"

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

/* iptables-save -t table, or iptables-restore --noflush [--wait], of a task's family. */
struct ipt_cmd {
	char tool[20], table[8];
	char *argv[4];
};

static void ipt_cmd(struct ipt_cmd *c, const struct task *t, bool restore, bool wait)
{
	snprintf(c->tool, sizeof(c->tool), "%s%s", t->v6 ? "ip6tables" : "iptables",
		 restore ? "-restore" : "-save");
	snprintf(c->table, sizeof(c->table), "%s", table_name(t->table));
	c->argv[0] = c->tool;
	c->argv[1] = restore ? "--noflush" : "-t";
	/* Without a time limit, as upstream: the helper's deadline bounds it. */
	c->argv[2] = restore ? (wait ? "--wait" : NULL) : c->table;
	c->argv[3] = NULL;
}

static void task_done(void *arg, int status, char *out, const char *text);

/* Start a helper for the current task: 1 when it runs, else what its result gave. */
static int task_result(struct masq *m, int status, char *out, const char *text);

static int start(struct masq *m, char *const argv[], const char *input, bool want_out)
{
	int r = proc_start(m->loop, argv, input, TOOL_TIMEOUT_MS, want_out, task_done, m, &m->proc);

	if (r < 0) {
		m->proc = NULL;
		return task_result(m, r, NULL, "");
	}
	return 1;
}

static int ipt_start(struct masq *m, const struct task *t, bool restore, const char *input)
{
	struct ipt_cmd c;

	/* Removing (nftables mode) never waits: the version is not asked there. */
	ipt_cmd(&c, t, restore, m->ipt_wait && t->kind == T_IPT_ENSURE);
	m->restoring = restore;
	return start(m, c.argv, input, !restore);
}

/* --random-fully and iptables-restore --wait need iptables 1.6.2 or later. */
static bool ipt_is_1_6_2(const char *out)
{
	const char *v = out ? strstr(out, " v") : NULL;
	unsigned a = 0, b = 0, c = 0;

	if (!v || sscanf(v + 2, "%u.%u.%u", &a, &b, &c) < 2)
		return false;
	return a > 1 || (a == 1 && (b > 6 || (b == 6 && c >= 2)));
}

/*
 * After iptables-save of our table: nothing to do, or the restore that
 * makes it right. A restore can fail when someone changes the table
 * between our save and our restore (a jump we delete is gone): look again
 * once.
 */
static int ipt_ensure_result(struct masq *m, const struct task *t, int status, const char *out,
			     const char *text)
{
	struct ipt_cmd c;
	char *input, **jumps = NULL;
	size_t njumps = 0;
	int r;

	ipt_cmd(&c, t, m->restoring, false);
	if (status > 0 && m->tries++ == 0)
		return ipt_start(m, t, false, NULL);
	if (status != 0)
		return tool_error(status, c.tool, text, m->err, sizeof(m->err));
	if (m->restoring) {
		m->changed = true;
		return 0;
	}
	if (masq_check_dump(&m->spec, t->table, t->v6, out, &jumps, &njumps)) {
		masq_lines_free(jumps, njumps);
		return 0;
	}
	input = masq_restore_input(&m->spec, t->table, t->v6, jumps, njumps);
	masq_lines_free(jumps, njumps);
	if (!input) {
		snprintf(m->err, sizeof(m->err), "out of memory");
		return -ENOMEM;
	}
	r = ipt_start(m, t, true, input);
	free(input);
	return r;
}

/*
 * nftables mode takes over from iptables (a config switched to
 * EnableNFTables, or a Go flanneld before us): our iptables chains and
 * jumps go, so that rules of an older network do not stay live. Where
 * iptables is not installed there is nothing to remove.
 */
static int ipt_remove_result(struct masq *m, const struct task *t, int status, const char *out,
			     const char *text)
{
	struct ipt_cmd c;
	char *input;
	bool none;
	int r;

	if (m->restoring) {
		ipt_cmd(&c, t, true, false);
		if (status == 0)
			log_info("Removed our %s %s chain (nftables mode now)", c.tool,
				 table_name(t->table));
		else
			log_warnx("Cannot remove our old %s chain in %s: %s", table_name(t->table),
				  c.tool, text);
		return 0;
	}
	if (status != 0)
		return 0; /* no iptables: nothing of ours there */
	input = masq_remove_input(&m->spec, t->table, t->v6, out, &none);
	if (none || !input) {
		free(input);
		return 0;
	}
	r = ipt_start(m, t, true, input);
	free(input);
	return r;
}

/*
 * iptables mode takes over from nftables: our tables go. Through the nft
 * tool, so that iptables mode never loads libnftables; without the tool
 * there is nothing to remove.
 */
static int nft_remove_start(struct masq *m)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	char script[256];
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
	return len ? start(m, argv, script, false) : 0;
}

/* ------------------------------------------------------------ both */

static const char *mode(const struct masq *m)
{
	return m->cfg.nftables ? "nftables" : "iptables";
}

static void add_task(struct masq *m, enum task_kind kind, enum masq_table table, bool v6)
{
	m->tasks[m->ntasks++] = (struct task){ .kind = kind, .table = table, .v6 = v6 };
}

/* The tasks of a pass: the masquerade rules first, READY, then the forward rules. */
static void plan(struct masq *m)
{
	m->ntasks = m->next = 0;
	m->restoring = false;
	m->tries = 0;
	m->changed = false;
	if (!m->cfg.nftables && !m->version_known)
		add_task(m, T_VERSION, MASQ_NAT, false);
	if (!m->cleaned && !m->cfg.nftables)
		add_task(m, T_NFT_REMOVE, MASQ_NAT, false);
	for (int v6 = 0; v6 < 2; v6++) {
		if (m->cleaned || !m->cfg.nftables || !(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		add_task(m, T_IPT_REMOVE, MASQ_NAT, v6);
		add_task(m, T_IPT_REMOVE, MASQ_FILTER, v6);
	}
	if (m->cfg.nftables)
		add_task(m, T_NFT_APPLY, MASQ_NAT, false);
	for (int v6 = 0; v6 < 2; v6++)
		if (!m->cfg.nftables && m->cfg.masq && (v6 ? m->spec.v6 : m->spec.v4))
			add_task(m, T_IPT_ENSURE, MASQ_NAT, v6);
	add_task(m, T_READY, MASQ_NAT, false);
	for (int v6 = 0; v6 < 2; v6++)
		if (!m->cfg.nftables && m->cfg.forward && (v6 ? m->spec.v6 : m->spec.v4))
			add_task(m, T_IPT_ENSURE, MASQ_FILTER, v6);
}

/* "... rules for network N[, subnet S] in place (mode chain), checked every Ns" */
static void log_in_place(struct masq *m, bool masq)
{
	char net[IP_STRLEN], pod[IP_STRLEN];

	for (int v6 = 0; v6 < 2; v6++) {
		if (!(v6 ? m->spec.v6 : m->spec.v4))
			continue;
		if (v6) {
			ip6net_format(&m->spec.network6, net);
			ip6net_format(&m->spec.subnet6, pod);
		} else {
			ip4net_format(&m->spec.network, net);
			ip4net_format(&m->spec.subnet, pod);
		}
		if (masq)
			log_info("%sMasquerade rules for network %s, subnet %s in place (%s %s), "
				 "checked every %us",
				 v6 ? "IPv6 " : "", net, pod, mode(m),
				 m->cfg.nftables ? (v6 ? m->spec.nft_table6 : m->spec.nft_table)
						 : m->spec.nat_chain,
				 m->cfg.resync_s);
		else
			log_info("%sForward rules for network %s in place (%s %s), checked every "
				 "%us",
				 v6 ? "IPv6 " : "", net, mode(m),
				 m->cfg.nftables ? (v6 ? m->spec.nft_table6 : m->spec.nft_table)
						 : m->spec.fwd_chain,
				 m->cfg.resync_s);
	}
}

static void pass_end(struct masq *m, int r)
{
	masq_ready_cb ready = m->ready;
	bool give_up = r == -ENOENT && m->announce && !m->cfg.masq;

	m->running = false;
	m->cleaned = true;
	m->ready = NULL;
	/* From the end of this pass: a slow iptables never makes passes back to back. */
	if (!give_up)
		loop_timer_arm(m->loop, &m->resync, (uint64_t)m->cfg.resync_s * 1000);
	if (r == 0) {
		if (m->announce && m->cfg.forward)
			log_in_place(m, false);
		else if (!m->announce && m->last_err[0])
			log_info("The %s rules are in place again", mode(m));
		else if (!m->announce && m->changed)
			log_warnx("Some %s rules were missing or changed; deleted and recreated "
				  "them",
				  mode(m));
		m->last_err[0] = '\0';
		return;
	}
	if (ready) {
		/* Masquerading failed: the caller stops. */
		snprintf(m->last_err, sizeof(m->last_err), "%s", m->err);
		ready(m->ready_arg, r, m->err);
		return;
	}
	if (give_up)
		log_error("No forward rules: %s (pass --iptables-forward-rules=false if none are "
			  "wanted)",
			  m->err);
	else if (m->announce)
		log_warnx("Failed to set up the forward rules: %s; retrying every %us", m->err,
			  m->cfg.resync_s);
	else if (strcmp(m->err, m->last_err) != 0) /* the same failure every few seconds: once */
		log_warnx("Cannot check the %s rules: %s; retrying every %us", mode(m), m->err,
			  m->cfg.resync_s);
	snprintf(m->last_err, sizeof(m->last_err), "%s", m->err);
}

/* Begin the current task: 1 when a helper runs, 0 when done, < 0 failed (m->err). */
static int task_begin(struct masq *m, const struct task *t)
{
	char *argv[] = { "iptables", "--version", NULL };
	masq_ready_cb ready = m->ready;

	switch (t->kind) {
	case T_VERSION:
		return start(m, argv, NULL, true);
	case T_NFT_REMOVE:
		return nft_remove_start(m);
	case T_IPT_REMOVE:
	case T_IPT_ENSURE:
		return ipt_start(m, t, false, NULL);
	case T_NFT_APPLY:
		return masq_nft_start(m);
	case T_READY:
		if (m->announce && m->cfg.masq)
			log_in_place(m, true);
		m->ready = NULL;
		if (ready)
			ready(m->ready_arg, 0, "");
		return 0;
	}
	return 0;
}

/* The current task's helper finished: 1 when another runs, 0 when done, < 0 failed. */
static int task_result(struct masq *m, int status, char *out, const char *text)
{
	const struct task *t = &m->tasks[m->next];

	switch (t->kind) {
	case T_VERSION:
		m->ipt_wait = status == 0 && ipt_is_1_6_2(out);
		m->spec.random_fully = m->cfg.random_fully && m->ipt_wait;
		m->version_known = true;
		return 0;
	case T_NFT_REMOVE:
		if (status != 0)
			log_debug(1, "Cannot remove our old nftables tables: %s", text);
		return 0;
	case T_IPT_REMOVE:
		return ipt_remove_result(m, t, status, out, text);
	case T_IPT_ENSURE:
		return ipt_ensure_result(m, t, status, out, text);
	default:
		return 0;
	}
}

/* Go on from r (the current task's state) until a helper runs or the pass ends. */
void masq_step(struct masq *m, int r)
{
	for (;;) {
		if (m->restart) {
			/* masq_apply during the pass: a new one, nothing of the old one counts. */
			m->restart = false;
			plan(m);
			r = task_begin(m, &m->tasks[0]);
			continue;
		}
		if (r > 0)
			return;
		if (r < 0) {
			pass_end(m, r);
			return;
		}
		if (++m->next == m->ntasks) {
			pass_end(m, 0);
			return;
		}
		m->restoring = false;
		m->tries = 0;
		r = task_begin(m, &m->tasks[m->next]);
	}
}

static void task_done(void *arg, int status, char *out, const char *text)
{
	struct masq *m = arg;
	int r = 0;

	m->proc = NULL;
	if (!m->restart)
		r = task_result(m, status, out, text);
	free(out);
	masq_step(m, r);
}

static void start_pass(struct masq *m)
{
	m->running = true;
	plan(m);
	masq_step(m, task_begin(m, &m->tasks[0]));
}

static void on_resync(void *arg)
{
	struct masq *m = arg;

	m->announce = false;
	start_pass(m);
}

void masq_apply(struct masq *m, const struct masq_nets *n, masq_ready_cb ready, void *arg)
{
	m->spec.v4 = n->v4;
	m->spec.network = n->network;
	m->spec.subnet = n->subnet;
	m->spec.v6 = n->v6;
	m->spec.network6 = n->network6;
	m->spec.subnet6 = n->subnet6;
	/* A new subnet: our chains are rewritten whatever they hold. */
	free(m->nft_listing);
	m->nft_listing = NULL;
	m->ready = ready;
	m->ready_arg = arg;
	m->announce = true;
	loop_timer_cancel(m->loop, &m->resync);
	if (m->running)
		m->restart = true; /* when its helper is done */
	else
		start_pass(m);
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
	loop_timer_init(&m->job_deadline, masq_nft_job_expired, m);
	if (c->nftables) {
		r = masq_nft_new(m, err, sizeof(err));
		if (r < 0) {
			log_error("nftables mode: %s", r == -ENOMEM ? "out of memory" : err);
			free(m);
			return r;
		}
		m->spec.random_fully = c->random_fully;
	}
	*ret = m;
	return 0;
}

void masq_free(struct masq *m)
{
	if (!m)
		return;
	proc_cancel(m->proc);
	loop_timer_cancel(m->loop, &m->resync);
	masq_nft_free(m);
	free(m->nft_listing);
	free(m);
}
