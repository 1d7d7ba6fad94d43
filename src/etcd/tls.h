/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS client connections on non-blocking sockets, over OpenSSL loaded with
 * dlopen() the first time a context is made: a daemon that talks plain HTTP
 * to etcd never maps libssl and libcrypto (1.8 MB of RSS).
 */
#ifndef FLANNELD_TLS_H
#define FLANNELD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;

/*
 * Peers are verified against cafile (NULL: the system's CAs); certfile and
 * keyfile are our client certificate (keyfile NULL: the key is in
 * certfile too). 0, or a negative
 * errno with what went wrong in err (a missing library, an unreadable or
 * mismatched file), naming the file.
 */
int tls_ctx_new(const char *cafile, const char *certfile, const char *keyfile, struct tls_ctx **ret,
		char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *c);

/*
 * A client session on the connected socket fd; host is checked against the
 * certificate. OpenSSL writes with write(): SIGPIPE must be ignored.
 */
int tls_conn_new(struct tls_ctx *c, int fd, const char *host, struct tls_conn **ret, char *err,
		 size_t errlen);
void tls_conn_free(struct tls_conn *t);
/* Offer HTTP/2 in ALPN (before the handshake); after it, did the server pick it? */
int tls_conn_offer_h2(struct tls_conn *t, char *err, size_t errlen);
bool tls_conn_is_h2(const struct tls_conn *t);

/*
 * The three calls below return -EAGAIN when the socket must become
 * readable (*want_write false) or writable (*want_write true) first, and
 * -EPROTO (or -ECONNRESET) with a text in err on failure.
 */
int tls_handshake(struct tls_conn *t, bool *want_write, char *err, size_t errlen);
/* Bytes read, 0 at a clean end of the stream. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len, bool *want_write, char *err,
		 size_t errlen);
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len, bool *want_write, char *err,
		  size_t errlen);

#endif
