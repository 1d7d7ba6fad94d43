/* SPDX-License-Identifier: Apache-2.0 */
/* Run a helper program (iptables-save, iptables-restore) to completion, bounded in time. */
#ifndef FLANNELD_PROC_RUN_H
#define FLANNELD_PROC_RUN_H

#include <stddef.h>

/*
 * Run argv[0] (looked up in PATH) with input on its stdin (NULL: none)
 * and wait for it, at most timeout_ms (then it is killed). Its stdout is
 * returned in *out (NUL-terminated, caller frees; NULL to discard) and its
 * stderr's first line in err. Returns the exit status (0..255), or a
 * negative errno: -ENOENT when the program is not installed, -ETIMEDOUT.
 */
int proc_run(char *const argv[], const char *input, int timeout_ms, char **out, char *err,
	     size_t errlen);

#endif
