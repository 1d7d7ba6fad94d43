/* SPDX-License-Identifier: Apache-2.0 */
/* systemd readiness notification without libsystemd. */
#ifndef FLANNELD_SDNOTIFY_H
#define FLANNELD_SDNOTIFY_H

/*
 * Send state ("READY=1", "STATUS=...", several joined by '\n') to
 * $NOTIFY_SOCKET (a path, or '@' for an abstract name); 0 when it is
 * unset, else 1 or -errno.
 */
int sd_notify_send(const char *state);
/*
 * Send state (fixed lines such as "READY=1"; NULL for none) and then
 * "STATUS=" with the printf text, whose control bytes are escaped: a
 * status quoting what another host wrote can never add a line of its own
 * (a "READY=1" in a backend type). A status over 1 KiB is cut short.
 */
int sd_notify_status(const char *state, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
