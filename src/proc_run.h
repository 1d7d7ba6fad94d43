/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run a helper program (iptables-save, iptables-restore) from the event
 * loop, bounded in time: its start (a thread), its pipes, its exit (a
 * pidfd) and its deadline are loop events, so the daemon keeps serving
 * while it runs.
 */
#ifndef FLANNELD_PROC_RUN_H
#define FLANNELD_PROC_RUN_H

#include <spawn.h>
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
 * Start argv[0] (looked up in /usr/sbin:/usr/bin:/sbin:/bin, whatever our
 * PATH; it gets that PATH, LC_ALL=C and XTABLES_LOCKFILE if set, and no
 * other variable of ours) with input on its stdin (NULL: none, copied),
 * and return at once: even the spawn runs on a thread of its own
 * (posix_spawn waits for the child's exec, which the scheduler may delay).
 * done runs from the loop once it exited, when it could not be started
 * (-ENOENT: not installed), or after timeout_ms (it is killed then, with
 * what it started, and reaped later without being waited for). A negative
 * errno when no start was attempted (out of memory, fds or threads); done
 * is not called then.
 */
int proc_start(struct loop *loop, char *const argv[], const char *input, int timeout_ms,
	       bool want_out, proc_done_cb done, void *arg, struct proc **ret);
/*
 * The same with envp (NULL: the helpers' fixed environment above) as the
 * program's whole environment, argv[0] looked up in the daemon's PATH.
 */
int proc_start_env(struct loop *loop, char *const argv[], char *const envp[], const char *input,
		   int timeout_ms, bool want_out, proc_done_cb done, void *arg, struct proc **ret);
/*
 * Kill it (and what it started) and forget it: done is not called. Its exit
 * is not waited for (one stuck in the kernel dies when the kernel lets it);
 * the loop reaps it when it comes. NULL is fine.
 */
void proc_cancel(struct proc *p);
/*
 * The spawn attributes of every child of ours (also one run synchronously):
 * default signal mask and SIGPIPE disposition, and a process group of its
 * own. The caller destroys attr.
 */
void proc_spawnattr_init(posix_spawnattr_t *attr);

#endif
