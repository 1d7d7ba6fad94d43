/* SPDX-License-Identifier: Apache-2.0 */
/* systemd readiness notification without libsystemd. */
#ifndef FLANNELD_SDNOTIFY_H
#define FLANNELD_SDNOTIFY_H

/* Send state (e.g. "READY=1") to $NOTIFY_SOCKET; 0 when unset, else 1 or -errno. */
int sd_notify_send(const char *state);

#endif
