/* SPDX-License-Identifier: Apache-2.0 */
#include "masq.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * A pass puts and keeps the rules in place: a list of tasks run one after
 * the other, each waiting for its helper program as a loop event.
 */
enum task_kind {
	T_VERSION,    /* iptables --version: --random-fully and --wait need 1.6.2 */
	T_NFT_REMOVE, /* iptables mode: our nftables tables of an earlier run go */
	T_IPT_REMOVE, /* nftables mode: our iptables chain of table/family goes */
	T_IPT_ENSURE, /* our iptables chain of table/family holds our rules: save, check, restore */
	T_NFT_APPLY,  /* our nftables tables hold our rules (libnftables, on a thread) */
	T_READY,      /* the masquerade rules are in: tell masq_apply's caller */
};

struct task {
	enum task_kind kind;
	enum masq_table table;
	bool v6;
};

struct masq {
	struct loop *loop;
	struct masq_config cfg;
	struct masq_spec spec;
	struct loop_timer resync;
	bool ipt_wait;	     /* iptables-restore takes --wait (1.6.2 and later) */
	bool version_known;  /* ipt_wait and spec.random_fully are settled */
	bool cleaned;	     /* the other mode's rules were looked for */
	struct nft_ctx *nft; /* NULL while a job has it */
	char *nft_listing;   /* our table as nft listed it right after we wrote it */
	struct nft_job *job; /* the nft transaction on its thread, if any */
	bool job_awaited;    /* the pass waits for it (it is not past its deadline) */
	struct loop_timer job_deadline;
	char last_err[256];

	/* The pass under way. */
	bool running;
	bool restart;  /* masq_apply during the pass: start over with the new spec */
	bool announce; /* a pass of masq_apply (not of the resync): say what is in place */
	bool changed;  /* something was rewritten */
	struct task tasks[12];
	size_t ntasks, next;
	bool restoring; /* the task's iptables-save is done, its restore runs */
	int tries;	/* iptables-save + restore rounds of this task */
	struct proc *proc;
	masq_ready_cb ready;
	void *ready_arg;
	char err[256];
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

/* ------------------------------------------------------------ nftables */

/*
 * libnftables talks to the kernel synchronously and can wait on others
 * (the nfnetlink commit lock, a huge ruleset being loaded), so it runs on
 * a thread of its own, one transaction at a time, and the loop only sees
 * the end of it: the thread closes its end of a pipe. A thread cannot be
 * killed, so past the deadline the pass fails and the job is left to
 * finish; no other starts meanwhile, and the context comes back with it.
 */
enum job_state { JOB_RUNNING, JOB_DONE, JOB_ORPHANED };

struct nft_job {
	_Atomic int state; /* enum job_state: who frees the job (see nft_job_main) */
	int rfd, wfd;	   /* the pipe: the thread closes wfd when it is done */
	struct nft_ctx *ctx;
	/* In: "list table ..." per family (NULL: none), the script, the listing we know. */
	char *list_cmd[2], *script, *known;
	/* Out: 0 or a negative errno, whether the script was run, our tables as listed. */
	int r;
	bool changed;
	char *listing;
	char err[256];
	uint64_t started_ms;
};

static void nft_job_free(struct nft_job *j)
{
	if (j->ctx)
		nft.nft_ctx_free(j->ctx);
	for (int i = 0; i < 2; i++)
		free(j->list_cmd[i]);
	free(j->script);
	free(j->known);
	free(j->listing);
	free(j);
}

static int nft_run(struct nft_job *j, const char *cmd, char **listing)
{
	int r = nft.nft_run_cmd_from_buffer(j->ctx, cmd);
	const char *e;

	if (r != 0) {
		e = nft.nft_ctx_get_error_buffer(j->ctx);
		snprintf(j->err, sizeof(j->err), "nft: %.*s", (int)strcspn(e ? e : "", "\n"),
			 e && *e ? e : "command failed");
		return -EIO;
	}
	if (listing) {
		const char *o = nft.nft_ctx_get_output_buffer(j->ctx);

		*listing = strdup(o ? o : "");
		if (!*listing)
			return -ENOMEM;
	} else {
		nft.nft_ctx_get_output_buffer(j->ctx); /* reset it */
	}
	return 0;
}

/* Our tables as nft lists them (both families, one after the other). */
static int nft_list(struct nft_job *j, char **listing)
{
	char *part[2] = { NULL, NULL };
	int r = 0;

	for (int v6 = 0; v6 < 2 && r == 0; v6++)
		if (j->list_cmd[v6])
			r = nft_run(j, j->list_cmd[v6], &part[v6]);
	if (r == 0 && asprintf(listing, "%s%s", part[0] ? part[0] : "", part[1] ? part[1] : "") < 0)
		r = -ENOMEM;
	free(part[0]);
	free(part[1]);
	return r;
}

/* On the thread: unchanged since we wrote it, or written and listed again. */
static int nft_apply(struct nft_job *j)
{
	char *now = NULL;
	int r;

	if (j->known && nft_list(j, &now) == 0 && strcmp(now, j->known) == 0) {
		free(now);
		return 0;
	}
	free(now);
	r = nft_run(j, j->script, NULL);
	if (r < 0)
		return r;
	r = nft_list(j, &j->listing);
	if (r < 0)
		return r;
	j->changed = true;
	return 0;
}

static void *nft_job_main(void *arg)
{
	struct nft_job *j = arg;
	int wfd = j->wfd;

	j->r = nft_apply(j);
	if (j->r == -ENOMEM)
		snprintf(j->err, sizeof(j->err), "out of memory");
	/* Forgotten by a masq_free meanwhile: ours to free. Else the loop's, once wfd closes. */
	if (atomic_exchange(&j->state, JOB_DONE) == JOB_ORPHANED)
		nft_job_free(j);
	close(wfd);
	return NULL;
}

static void step(struct masq *m, int r);

/* The thread is done (its pipe end closed): take the context back, report unless abandoned. */
static void nft_job_ended(int fd, unsigned events, void *arg)
{
	struct masq *m = arg;
	struct nft_job *j = m->job;
	bool awaited = m->job_awaited;
	int r = j->r;

	loop_io_del(m->loop, j->rfd);
	close(j->rfd);
	loop_timer_cancel(m->loop, &m->job_deadline);
	m->job = NULL;
	m->job_awaited = false;
	if (!m->nft) {
		m->nft = j->ctx;
		j->ctx = NULL;
	}
	if (!awaited) {
		log_info("nft finished after %llu ms, past its deadline",
			 (unsigned long long)(loop_now_ms() - j->started_ms));
		nft_job_free(j);
		return;
	}
	if (!m->restart) {
		if (r < 0)
			snprintf(m->err, sizeof(m->err), "%s", j->err);
		if (r == 0 && j->changed) {
			free(m->nft_listing);
			m->nft_listing = j->listing;
			j->listing = NULL;
			m->changed = true;
		}
	}
	nft_job_free(j);
	step(m, m->restart ? 0 : r);
}

static void nft_job_expired(void *arg)
{
	struct masq *m = arg;

	/* The job finishes on its own; its result no longer counts. */
	m->job_awaited = false;
	snprintf(m->err, sizeof(m->err), "nft did not finish in %d ms", TOOL_TIMEOUT_MS);
	step(m, m->restart ? 0 : -ETIMEDOUT);
}

/* Start the transaction on its thread: 1 when it runs, < 0 when it could not (m->err). */
static int nft_start(struct masq *m)
{
	struct nft_job *j;
	int p[2], r = -ENOMEM;
	pthread_attr_t attr;
	pthread_t tid;

	if (m->job) {
		snprintf(m->err, sizeof(m->err),
			 "nft has not returned from a transaction started %llu s ago",
			 (unsigned long long)(loop_now_ms() - m->job->started_ms) / 1000);
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		goto oom;
	atomic_init(&j->state, JOB_RUNNING);
	j->rfd = j->wfd = -1;
	for (int v6 = 0; v6 < 2; v6++)
		if ((v6 ? m->spec.v6 : m->spec.v4) &&
		    asprintf(&j->list_cmd[v6], "list table %s %s", v6 ? "ip6" : "ip",
			     v6 ? m->spec.nft_table6 : m->spec.nft_table) < 0) {
			j->list_cmd[v6] = NULL;
			goto oom;
		}
	j->script = masq_nft_script(&m->spec);
	if (!j->script || (m->nft_listing && !(j->known = strdup(m->nft_listing))))
		goto oom;
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(m->err, sizeof(m->err), "nft: pipe: %s", strerror(errno));
		goto fail;
	}
	j->rfd = p[0];
	j->wfd = p[1];
	r = loop_io_add(m->loop, j->rfd, LOOP_READ, nft_job_ended, m);
	if (r < 0) {
		snprintf(m->err, sizeof(m->err), "nft: %s", strerror(-r));
		goto fail;
	}
	j->ctx = m->nft;
	j->started_ms = loop_now_ms();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&tid, &attr, nft_job_main, j);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		j->ctx = NULL;
		loop_io_del(m->loop, j->rfd);
		snprintf(m->err, sizeof(m->err), "nft: cannot start a thread: %s", strerror(-r));
		goto fail;
	}
	m->nft = NULL; /* the thread's until it ends */
	m->job = j;
	m->job_awaited = true;
	loop_timer_arm(m->loop, &m->job_deadline, TOOL_TIMEOUT_MS);
	return 1;
oom:
	snprintf(m->err, sizeof(m->err), "out of memory");
fail:
	if (j) {
		if (j->rfd >= 0)
			close(j->rfd);
		if (j->wfd >= 0)
			close(j->wfd);
		nft_job_free(j);
	}
	return r;
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
		return nft_start(m);
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
static void step(struct masq *m, int r)
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
	step(m, r);
}

static void start_pass(struct masq *m)
{
	m->running = true;
	plan(m);
	step(m, task_begin(m, &m->tasks[0]));
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
	loop_timer_init(&m->job_deadline, nft_job_expired, m);
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
	loop_timer_cancel(m->loop, &m->job_deadline);
	if (m->job) {
		/* Still on its thread: whoever of us comes last frees it. */
		loop_io_del(m->loop, m->job->rfd);
		close(m->job->rfd);
		if (atomic_exchange(&m->job->state, JOB_ORPHANED) == JOB_DONE)
			nft_job_free(m->job);
	}
	if (m->nft)
		nft.nft_ctx_free(m->nft);
	free(m->nft_listing);
	free(m);
}
