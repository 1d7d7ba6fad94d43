/* SPDX-License-Identifier: Apache-2.0 */
/* TLS client sessions over OpenSSL 3, resolved with dlopen() on first use. */
#include "etcd/tls.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define LIBSSL "libssl.so.3"

/* Every OpenSSL function we call; libcrypto's come in as libssl's dependency. */
#define TLS_SYMBOLS(X)                                                                             \
	X(TLS_client_method)                                                                       \
	X(SSL_CTX_new)                                                                             \
	X(SSL_CTX_free)                                                                            \
	X(SSL_CTX_ctrl)                                                                            \
	X(SSL_CTX_set_verify)                                                                      \
	X(SSL_CTX_set_default_passwd_cb)                                                           \
	X(SSL_CTX_load_verify_locations)                                                           \
	X(SSL_CTX_set_default_verify_paths)                                                        \
	X(SSL_CTX_use_certificate_chain_file)                                                      \
	X(SSL_CTX_use_PrivateKey_file)                                                             \
	X(SSL_CTX_check_private_key)                                                               \
	X(SSL_new)                                                                                 \
	X(SSL_free)                                                                                \
	X(SSL_set_fd)                                                                              \
	X(SSL_ctrl)                                                                                \
	X(SSL_set1_host)                                                                           \
	X(SSL_get0_param)                                                                          \
	X(SSL_connect)                                                                             \
	X(SSL_read)                                                                                \
	X(SSL_write)                                                                               \
	X(SSL_get_error)                                                                           \
	X(SSL_get_verify_result)                                                                   \
	X(SSL_set_alpn_protos)                                                                     \
	X(SSL_get0_alpn_selected)                                                                  \
	X(X509_VERIFY_PARAM_set1_ip_asc)                                                           \
	X(X509_verify_cert_error_string)                                                           \
	X(ERR_get_error)                                                                           \
	X(ERR_clear_error)                                                                         \
	X(ERR_reason_error_string)                                                                 \
	X(ERR_error_string_n)

static struct {
	void *handle;
#define X(name) __typeof__(&name) name;
	TLS_SYMBOLS(X)
#undef X
} ossl;

struct tls_ctx {
	SSL_CTX *ctx;
};

struct tls_conn {
	SSL *ssl;
	char host[256];
};

static int load(char *err, size_t errlen)
{
	void *h;

	if (ossl.handle)
		return 0;
	h = dlopen(LIBSSL, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s for TLS (Debian package libssl3): %s", LIBSSL,
			 dlerror());
		return -ENOENT;
	}
#define X(name)                                                                                    \
	ossl.name = (__typeof__(&name))dlsym(h, #name);                                            \
	if (!ossl.name) {                                                                          \
		snprintf(err, errlen, "%s lacks %s: not OpenSSL 3", LIBSSL, #name);                \
		dlclose(h);                                                                        \
		return -ENOENT;                                                                    \
	}
	TLS_SYMBOLS(X)
#undef X
	ossl.handle = h;
	return 0;
}

/* The reason of the oldest queued OpenSSL error ("certificate verify failed"), or fallback. */
static const char *queued_error(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ossl.ERR_get_error();
	const char *reason;

	if (!e)
		return fallback;
	reason = ossl.ERR_reason_error_string(e);
	if (reason)
		snprintf(buf, len, "%s", reason);
	else
		ossl.ERR_error_string_n(e, buf, len);
	ossl.ERR_clear_error();
	return buf;
}

/* A file we cannot open gets errno's words, not OpenSSL's "system library" code. */
static bool unreadable(const char *what, const char *path, char *err, size_t errlen)
{
	if (!path || access(path, R_OK) == 0)
		return false;
	snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(errno));
	return true;
}

/*
 * A client key others can read is anyone's key; a group (Debian's
 * root:ssl-cert 0640) is the admin's choice and stays quiet.
 */
static void warn_if_others_read(const char *keyfile)
{
	struct stat st;

	if (keyfile && stat(keyfile, &st) == 0 && (st.st_mode & S_IROTH))
		log_warnx("The etcd client key %s is readable by others (mode %04o); chmod o-r %s",
			  keyfile, (unsigned)(st.st_mode & 07777), keyfile);
}

/* An encrypted key would make OpenSSL ask for its passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return 0;
}

int tls_ctx_new(const char *cafile, const char *certfile, const char *keyfile, struct tls_ctx **ret,
		char *err, size_t errlen)
{
	struct tls_ctx *c;
	char why[256];
	int r = load(err, errlen);

	if (r < 0)
		return r;
	if (keyfile && !certfile) {
		snprintf(err, errlen, "a client key (%s) without a certificate", keyfile);
		return -EINVAL;
	}
	if (certfile && !keyfile)
		keyfile = certfile; /* one PEM holding both */
	if (unreadable("CA file", cafile, err, errlen) ||
	    unreadable("client certificate", certfile, err, errlen) ||
	    unreadable("client key", keyfile, err, errlen))
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ossl.ERR_clear_error();
	c->ctx = ossl.SSL_CTX_new(ossl.TLS_client_method());
	if (!c->ctx) {
		snprintf(err, errlen, "TLS: %s", queued_error(why, sizeof(why), "out of memory"));
		free(c);
		return -ENOMEM;
	}
	/*
	 * etcd speaks TLS 1.2 and 1.3. An end of stream without close_notify
	 * stays an error (a cut-off answer must not pass as complete).
	 */
	ossl.SSL_CTX_ctrl(c->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	ossl.SSL_CTX_ctrl(c->ctx, SSL_CTRL_MODE,
			  SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
			  NULL);
	ossl.SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	ossl.SSL_CTX_set_default_passwd_cb(c->ctx, no_passphrase);
	if (cafile ? ossl.SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1
		   : ossl.SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		snprintf(err, errlen, "cannot read the CA file %s: %s",
			 cafile ? cafile : "(system)",
			 queued_error(why, sizeof(why), "unknown error"));
		r = -EINVAL;
		goto fail;
	}
	if (certfile && ossl.SSL_CTX_use_certificate_chain_file(c->ctx, certfile) != 1) {
		snprintf(err, errlen, "cannot use the client certificate %s: %s", certfile,
			 queued_error(why, sizeof(why), "unknown error"));
		r = -EINVAL;
		goto fail;
	}
	if (keyfile && (ossl.SSL_CTX_use_PrivateKey_file(c->ctx, keyfile, SSL_FILETYPE_PEM) != 1 ||
			ossl.SSL_CTX_check_private_key(c->ctx) != 1)) {
		snprintf(err, errlen,
			 "cannot use the client key %s (unencrypted PEM matching the certificate): "
			 "%s",
			 keyfile, queued_error(why, sizeof(why), "unknown error"));
		r = -EINVAL;
		goto fail;
	}
	/* Here, so that it is said once: a context that loaded is kept. */
	warn_if_others_read(keyfile);
	*ret = c;
	return 0;
fail:
	tls_ctx_free(c);
	return r;
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (!c)
		return;
	if (c->ctx)
		ossl.SSL_CTX_free(c->ctx);
	free(c);
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int tls_conn_new(struct tls_ctx *c, int fd, const char *host, struct tls_conn **ret, char *err,
		 size_t errlen)
{
	struct tls_conn *t = calloc(1, sizeof(*t));
	char why[256];

	if (!t) {
		snprintf(err, errlen, "TLS: out of memory");
		return -ENOMEM;
	}
	snprintf(t->host, sizeof(t->host), "%s", host);
	ossl.ERR_clear_error();
	t->ssl = ossl.SSL_new(c->ctx);
	if (!t->ssl || ossl.SSL_set_fd(t->ssl, fd) != 1)
		goto fail;
	/* The certificate must name what we dialled: an IP SAN for an address, else the name. */
	if (is_ip_literal(t->host)) {
		if (ossl.X509_VERIFY_PARAM_set1_ip_asc(ossl.SSL_get0_param(t->ssl), t->host) != 1)
			goto fail;
	} else if (ossl.SSL_set1_host(t->ssl, t->host) != 1 ||
		   ossl.SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
				 t->host) != 1) {
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	snprintf(err, errlen, "TLS: cannot set up a session for %s: %s", t->host,
		 queued_error(why, sizeof(why), "out of memory"));
	tls_conn_free(t);
	return -EINVAL;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	if (t->ssl)
		ossl.SSL_free(t->ssl);
	free(t);
}

int tls_conn_offer_h2(struct tls_conn *t, char *err, size_t errlen)
{
	static const unsigned char h2[] = { 2, 'h', '2' };

	/* Unlike everything else in OpenSSL, this one returns 0 on success. */
	if (ossl.SSL_set_alpn_protos(t->ssl, h2, sizeof(h2)) != 0) {
		snprintf(err, errlen, "TLS: cannot offer ALPN h2");
		return -ENOMEM;
	}
	return 0;
}

bool tls_conn_is_h2(const struct tls_conn *t)
{
	const unsigned char *p = NULL;
	unsigned len = 0;

	ossl.SSL_get0_alpn_selected(t->ssl, &p, &len);
	return len == 2 && p && p[0] == 'h' && p[1] == '2';
}

/* The server's alert about our certificate, or the lack of one. */
static bool about_our_cert(const char *reason)
{
	return strstr(reason, "alert bad certificate") ||
	       strstr(reason, "alert certificate required") || strstr(reason, "alert unknown ca");
}

/* Map the outcome of an SSL call that returned n <= 0 (sys_errno: errno right after it). */
static int outcome(struct tls_conn *t, int n, int sys_errno, bool *want_write, char *err,
		   size_t errlen)
{
	int e = ossl.SSL_get_error(t->ssl, n);
	char why[256];
	long v;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want_write = false;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (sys_errno == EINTR) {
			*want_write = false;
			return -EAGAIN;
		}
		if (sys_errno == 0 || sys_errno == EAGAIN) {
			snprintf(err, errlen, "TLS: %s",
				 queued_error(why, sizeof(why), "connection closed"));
			return -ECONNRESET;
		}
		snprintf(err, errlen, "TLS: %s", strerror(sys_errno));
		return -sys_errno;
	default:
		v = ossl.SSL_get_verify_result(t->ssl);
		if (v != X509_V_OK) {
			ossl.ERR_clear_error();
			snprintf(err, errlen, "TLS: certificate verify failed: %s (for %s)",
				 ossl.X509_verify_cert_error_string(v), t->host);
		} else {
			const char *text = queued_error(why, sizeof(why), "error");

			snprintf(err, errlen, "TLS: %s%s", text,
				 about_our_cert(text) ? " (the server refused our client "
							"certificate, or wants one)"
						      : "");
		}
		return -EPROTO;
	}
}

int tls_handshake(struct tls_conn *t, bool *want_write, char *err, size_t errlen)
{
	int n;

	ossl.ERR_clear_error();
	errno = 0;
	n = ossl.SSL_connect(t->ssl);
	if (n == 1)
		return 0;
	n = outcome(t, n, errno, want_write, err, errlen);
	if (n == 0) {
		snprintf(err, errlen, "TLS: the server closed the connection during the handshake");
		return -ECONNRESET;
	}
	return n;
}

ssize_t tls_read(struct tls_conn *t, void *buf, size_t len, bool *want_write, char *err,
		 size_t errlen)
{
	int n;

	ossl.ERR_clear_error();
	errno = 0;
	n = ossl.SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return n > 0 ? n : outcome(t, n, errno, want_write, err, errlen);
}

ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len, bool *want_write, char *err,
		  size_t errlen)
{
	int n;

	ossl.ERR_clear_error();
	errno = 0;
	n = ossl.SSL_write(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	n = outcome(t, n, errno, want_write, err, errlen);
	if (n == 0) {
		snprintf(err, errlen, "TLS: the server closed the connection");
		return -ECONNRESET;
	}
	return n;
}
