/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small VICI client: one request and its reply over charon's unix
 * socket, synchronous but bounded by a deadline. charon answers our
 * commands from memory in milliseconds, so a short bounded wait on the
 * daemon's loop costs less than the state a non-blocking client would
 * need; a charon that does not answer in time counts as gone.
 */
#ifndef FLANNELD_VICI_H
#define FLANNELD_VICI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/vici_msg.h"

/*
 * charon answers from the worker pool that also computes IKE's Diffie-Hellman
 * (modp4096: milliseconds here, seconds on an emulated CPU), so a busy charon
 * is slow rather than gone. The call is synchronous: see ipsec.c's tick for
 * how a charon that stops answering is kept from holding the loop.
 */
#define VICI_TIMEOUT_MS 5000

/*
 * Send the finished packet in req (freed, wiped) to the socket at path and
 * return the reply's payload in *reply (malloc'd; free it) and its length.
 * Event packets before the reply are skipped. 0, or a negative errno:
 * -ENOENT/-ECONNREFUSED when no charon listens, -ETIMEDOUT, -EPROTO for a
 * malformed reply.
 */
int vici_call(const char *path, struct vici_builder *req, uint8_t **reply, size_t *len);

/*
 * vici_call, then the outcome as charon reports it: 0, or a negative errno
 * with a one-line reason in err (charon's errmsg for -EIO).
 */
int vici_command(const char *path, struct vici_builder *req, char *err, size_t errlen);

/*
 * get-conns: call fn for the name of every connection charon holds.
 * 0 or a negative errno with the reason in err.
 */
int vici_get_conns(const char *path, void (*fn)(const char *name, size_t len, void *arg), void *arg,
		   char *err, size_t errlen);

#endif
