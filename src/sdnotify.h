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
/* The same with printf formatting; a state over 1 KiB is cut short. */
int sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
