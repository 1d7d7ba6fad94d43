/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run a helper program (iptables-save, iptables-restore) from the event
 * loop, bounded in time: its pipes, its exit (a pidfd) and its deadline are
 * loop events, so the daemon keeps serving while it runs.
 */
#ifndef FLANNELD_PROC_RUN_H
#define FLANNELD_PROC_RUN_H

#include <stdbool.h>

struct loop;
struct proc;

/*
 * status: the exit status (0..255, 128 + signal), or a negative errno
 * (-ETIMEDOUT, -E2BIG for an output too long). out: its stdout
 * (NUL-terminated, the callee's to free; NULL unless asked for or on
 * failure). err: the first line of its stderr, or what went wrong.
 */
typedef void (*proc_done_cb)(void *arg, int status, char *out, const char *err);

/*
 * Start argv[0] (looked up in PATH) with input on its stdin (NULL: none,
 * copied), and return at once. done runs from the loop once it exited, or
 * after timeout_ms (it is killed then, with what it started). A negative
 * errno when nothing was started (-ENOENT: not installed); done is not
 * called then.
 */
int proc_start(struct loop *loop, char *const argv[], const char *input, int timeout_ms,
	       bool want_out, proc_done_cb done, void *arg, struct proc **ret);
/* The same with envp (NULL: the daemon's environment) as the program's environment. */
int proc_start_env(struct loop *loop, char *const argv[], char *const envp[], const char *input,
		   int timeout_ms, bool want_out, proc_done_cb done, void *arg, struct proc **ret);
/* Kill it (and what it started) and forget it: done is not called. NULL is fine. */
void proc_cancel(struct proc *p);

#endif
