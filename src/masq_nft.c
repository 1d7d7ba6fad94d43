/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftables mode of the masquerade rules: libnftables, loaded on first
 * use, applies our tables in one transaction on a thread of its own and
 * lists them back; the loop sees the end of it through a pipe.
 */
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
#include "masq_impl.h"
#include "masq_rules.h"

#define LIBNFTABLES "libnftables.so.1"

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
	masq_step(m, m->restart ? 0 : r);
}

void masq_nft_job_expired(void *arg)
{
	struct masq *m = arg;

	/* The job finishes on its own; its result no longer counts. */
	m->job_awaited = false;
	snprintf(m->err, sizeof(m->err), "nft did not finish in %d ms", TOOL_TIMEOUT_MS);
	masq_step(m, m->restart ? 0 : -ETIMEDOUT);
}

/* Start the transaction on its thread: 1 when it runs, < 0 when it could not (m->err). */
int masq_nft_start(struct masq *m)
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

/* m's nftables context, libnftables loaded on first use; err says why not. */
int masq_nft_new(struct masq *m, char *err, size_t errlen)
{
	int r = nft_load(err, errlen);

	if (r < 0)
		return r;
	m->nft = nft.nft_ctx_new(NFT_CTX_DEFAULT);
	if (!m->nft)
		return -ENOMEM;
	nft.nft_ctx_buffer_output(m->nft);
	nft.nft_ctx_buffer_error(m->nft);
	return 0;
}

void masq_nft_free(struct masq *m)
{
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
}
