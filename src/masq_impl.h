/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the masquerade rules, shared by masq.c (the pass and its tasks,
 * iptables) and masq_nft.c (nftables through libnftables on a thread).
 * Nothing else includes it.
 */
#ifndef FLANNELD_MASQ_IMPL_H
#define FLANNELD_MASQ_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "masq.h"
#include "masq_rules.h"

struct nft_ctx;
struct nft_job;
struct proc;

/* A helper program (iptables, nft) or an nft transaction may take this long. */
#define TOOL_TIMEOUT_MS 10000

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

/* masq.c: the pass goes on after a task ended with r (0 or -errno). */
void masq_step(struct masq *m, int r);

/* masq_nft.c */
int masq_nft_new(struct masq *m, char *err, size_t errlen);
/* Drops m's nftables job (left to its thread if it still runs) and context. */
void masq_nft_free(struct masq *m);
/* The job deadline's timer callback (arg: the masq). */
void masq_nft_job_expired(void *arg);
/* A T_NFT_APPLY task: our tables' transaction, started on its thread. */
int masq_nft_start(struct masq *m);

#endif
