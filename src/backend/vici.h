/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small asynchronous VICI client on the daemon's loop: one non-blocking
 * connection to charon's unix socket, requests written as they come and
 * their callbacks queued in order (charon answers in order on a
 * connection). The request at the head of the queue must be answered
 * within the client's timeout; a timeout, a transport error or a reply
 * that breaks the protocol fails every pending request, closes the socket
 * and leaves the client broken: further calls fail at once, without
 * touching the socket, until vici_client_reset(). So a charon that stops
 * answering costs one timeout, never the loop's time.
 */
#ifndef FLANNELD_VICI_H
#define FLANNELD_VICI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/vici_msg.h"

struct loop;
struct vici_client;

/*
 * charon answers from the worker pool that also computes IKE's Diffie-Hellman
 * (modp4096: milliseconds here, seconds on an emulated CPU), so a busy charon
 * is slow rather than gone. load-conn with start_action=start answers only
 * once charon has started the connection, its Diffie-Hellman key made (5 s
 * measured in the emulated guest), so it gets longer. Waiting costs the
 * loop nothing.
 */
#define VICI_TIMEOUT_MS		  5000
#define VICI_LOAD_CONN_TIMEOUT_MS 30000

/*
 * A request's outcome, called once, from the loop (never from within
 * vici_client_call): r is 0 with the checked reply (valid during the call
 * only), or a negative errno with a one-line reason naming the socket:
 * -ETIMEDOUT, -ECONNRESET (charon closed the connection), -EPROTO (a
 * malformed or unexpected packet), -ENOTCONN (dropped after an earlier
 * request's failure on the connection), -ECANCELED (the client is freed).
 * charon's own verdict (success/errmsg) is in the reply: see vici_result().
 */
typedef void (*vici_reply_cb)(int r, const struct vici_packet *reply, const char *err, void *arg);

/* A client for the socket at path (not connected yet); 0 or -ENOMEM. */
int vici_client_new(struct loop *loop, const char *path, uint64_t timeout_ms,
		    struct vici_client **ret);
/* Closes the connection; pending callbacks get -ECANCELED. NULL is fine. */
void vici_client_free(struct vici_client *c);

/*
 * Queue the finished packet in req (taken: wiped and freed on every path),
 * connecting first when not connected; its answer is due within
 * timeout_ms (0: the client's) of the one before it. 0: cb will be called. A negative
 * errno, with the reason in err and no callback: -ENOTCONN while broken;
 * failing to connect (-ENOENT/-ECONNREFUSED when nothing listens on the
 * socket, -ETIMEDOUT when its backlog is full) breaks the client.
 */
int vici_client_call(struct vici_client *c, struct vici_builder *req, uint64_t timeout_ms,
		     vici_reply_cb cb, void *arg, char *err, size_t errlen);

/* Broken since the last failure; reset allows a new connection. */
bool vici_client_broken(const struct vici_client *c);
void vici_client_reset(struct vici_client *c);
/* Requests waiting for their answer. */
size_t vici_client_pending(const struct vici_client *c);

/* Whether something accepts connections on the socket at path (connect only, never waits). */
bool vici_socket_listens(const char *path);

#endif
