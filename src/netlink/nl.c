/* SPDX-License-Identifier: Apache-2.0 */
/* The rtnetlink socket: batched requests matched to their acks by sequence, dumps, lookups. */
#include "netlink/nl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

/*
 * One sendmsg() carries at most NL_BATCH_LIMIT bytes and NL_BATCH_REQS
 * requests. The kernel runs them in order inside that sendmsg(), answers
 * a failed one with its error whatever its flags, and a successful one
 * only when it asks for an ack: only the last of a send asks, so its ack
 * says that every request before it without an error succeeded (an ack
 * each would cost a message to build and a recv() each, 20000 of them for
 * 5000 vxlan peers). The errors of a batch must fit in our receive buffer,
 * or the kernel drops them (ENOBUFS): 256 stay far below NL_RCVBUF.
 * NL_BATCH_REQS is in nl.h.
 */
#define NL_BATCH_LIMIT (32 * 1024)
/* The kernel never builds a dump part larger than 32 KiB. */
#define NL_RECV_SIZE (32 * 1024)
#define NL_RCVBUF    (1024 * 1024)
/*
 * The kernel answers while sendmsg() runs (a dump makes each next part
 * while recv() runs), so this poll never waits on a working kernel: the
 * bound is for one that never answers, and short, as the loop waits here.
 * What can make us wait is sendmsg() itself, for the RTNL lock another
 * program holds; that is not bounded here.
 */
#define NL_ACK_TIMEOUT_MS 250
#define NL_DUMP_TRIES	  5

struct nl_req {
	uint32_t seq;
	uint16_t type;
	uint8_t tolerate;
	bool done;
	uintptr_t cookie;
};

struct nl {
	struct mnl_socket *sk;
	uint32_t portid;
	uint32_t seq;
	char *sbuf; /* twice NL_BATCH_LIMIT, as mnl_nlmsg_batch wants */
	char *rbuf;
	struct mnl_nlmsg_batch *batch;
	struct nl_req reqs[NL_BATCH_REQS];
	size_t nreq;
	struct nlmsghdr *last; /* the last request queued: it asks for the ack */
	bool in_batch;
	bool dump_intr; /* a reply carried NLM_F_DUMP_INTR */
	int failures;
	nl_error_cb on_error;
	nl_data_cb on_data;
	void *arg;
};

int nl_open(struct nl **ret)
{
	struct nl *nl = calloc(1, sizeof(*nl));
	int one = 1, rcvbuf = NL_RCVBUF, r;

	if (!nl)
		return -ENOMEM;
	nl->sbuf = malloc(2 * NL_BATCH_LIMIT);
	nl->rbuf = malloc(NL_RECV_SIZE);
	if (!nl->sbuf || !nl->rbuf) {
		r = -ENOMEM;
		goto fail;
	}
	nl->batch = mnl_nlmsg_batch_start(nl->sbuf, NL_BATCH_LIMIT);
	nl->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nl->batch || !nl->sk) {
		r = nl->batch ? -errno : -ENOMEM;
		goto fail;
	}
	if (mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	/* Best effort: without them errors carry no text, or whole requests are echoed. */
	mnl_socket_setsockopt(nl->sk, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sk, NETLINK_CAP_ACK, &one, sizeof(one));
	/* RCVBUFFORCE passes rmem_max (we have CAP_NET_ADMIN); RCVBUF is the fallback. */
	if (setsockopt(mnl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));
	/* Sequence numbers start at 0: the portid alone keeps other sockets' answers apart. */
	nl->portid = mnl_socket_get_portid(nl->sk);
	*ret = nl;
	return 0;
fail:
	nl_close(nl);
	return r;
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		mnl_socket_close(nl->sk);
	if (nl->batch)
		mnl_nlmsg_batch_stop(nl->batch);
	free(nl->sbuf);
	free(nl->rbuf);
	free(nl);
}

static bool tolerated(int err, unsigned tolerate)
{
	if (err == -EEXIST)
		return tolerate & NL_OK_EEXIST;
	if (err == -ENOENT || err == -ESRCH || err == -ENODEV || err == -EADDRNOTAVAIL)
		return tolerate & NL_OK_ENOENT;
	return false;
}

static void complete(struct nl *nl, struct nl_req *req, int err, const char *extack)
{
	req->done = true;
	if (err >= 0 || tolerated(err, req->tolerate))
		return;
	nl->failures++;
	if (nl->on_error)
		nl->on_error(nl->arg, req->cookie, req->type, err, extack);
}

static void fail_pending(struct nl *nl, int err)
{
	for (size_t i = 0; i < nl->nreq; i++)
		if (!nl->reqs[i].done)
			complete(nl, &nl->reqs[i], err, NULL);
}

/* The last request is answered: the ones before it without an error succeeded. */
static size_t ack_earlier(struct nl *nl)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < nl->nreq; i++) {
		if (!nl->reqs[i].done) {
			complete(nl, &nl->reqs[i], 0, NULL);
			n++;
		}
	}
	return n;
}

/* Handle one received buffer; returns how many requests it completed. */
static size_t handle_replies(struct nl *nl, const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	int left = (int)len;
	size_t done = 0;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		uint32_t idx = nlh->nlmsg_seq - nl->reqs[0].seq;
		struct nl_req *req;
		int err = 0;

		/* Anything not an answer to this batch is a leftover of an abandoned one. */
		if (nlh->nlmsg_pid != nl->portid || idx >= nl->nreq)
			continue;
		req = &nl->reqs[idx];
		if (req->done)
			continue;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			nl->dump_intr = true;
		switch (nlh->nlmsg_type) {
		case NLMSG_NOOP:
		case NLMSG_OVERRUN:
			break;
		case NLMSG_ERROR:
		case NLMSG_DONE:
			if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int))
				memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(int));
			else if (nlh->nlmsg_type == NLMSG_ERROR)
				err = -EBADMSG;
			complete(nl, req, err > 0 ? -err : err, err ? nl_parse_extack(nlh) : NULL);
			done++;
			if (idx == nl->nreq - 1)
				done += ack_earlier(nl);
			break;
		default:
			if (nl->on_data)
				nl->on_data(nl->arg, req->cookie, nlh);
		}
	}
	return done;
}

static void collect_acks(struct nl *nl)
{
	int fd = mnl_socket_get_fd(nl->sk);
	size_t pending = nl->nreq;
	bool lost = false;

	while (pending > 0) {
		ssize_t n = recv(fd, nl->rbuf, NL_RECV_SIZE, 0);

		if (n < 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Some answers were dropped: read what is queued, then give up. */
				lost = true;
				continue;
			}
			if (errno != EAGAIN) {
				fail_pending(nl, -errno);
				return;
			}
			if (lost) {
				fail_pending(nl, -ENOBUFS);
				return;
			}
			if (poll(&p, 1, NL_ACK_TIMEOUT_MS) <= 0) {
				fail_pending(nl, -ETIMEDOUT);
				return;
			}
			continue;
		}
		pending -= handle_replies(nl, nl->rbuf, (size_t)n);
	}
}

static void flush(struct nl *nl)
{
	if (nl->nreq == 0)
		return;
	nl->last->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sk, mnl_nlmsg_batch_head(nl->batch),
			      mnl_nlmsg_batch_size(nl->batch)) < 0)
		fail_pending(nl, -errno);
	else
		collect_acks(nl);
	mnl_nlmsg_batch_reset(nl->batch);
	nl->nreq = 0;
}

void nl_batch_begin(struct nl *nl, nl_error_cb on_error, nl_data_cb on_data, void *arg)
{
	nl->in_batch = true;
	nl->failures = 0;
	nl->on_error = on_error;
	nl->on_data = on_data;
	nl->arg = arg;
	nl->nreq = 0;
	mnl_nlmsg_batch_reset(nl->batch);
}

void *nl_batch_slot(struct nl *nl)
{
	if (nl->nreq == NL_BATCH_REQS ||
	    mnl_nlmsg_batch_size(nl->batch) + NL_MSG_MAX > NL_BATCH_LIMIT)
		flush(nl);
	/* The buffer is twice the limit, so NL_MSG_MAX always fits here. */
	memset(mnl_nlmsg_batch_current(nl->batch), 0, NL_MSG_MAX);
	return mnl_nlmsg_batch_current(nl->batch);
}

void nl_batch_add(struct nl *nl, unsigned tolerate, uintptr_t cookie)
{
	struct nlmsghdr *nlh = mnl_nlmsg_batch_current(nl->batch);
	struct nl_req *req = &nl->reqs[nl->nreq];

	if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > NL_MSG_MAX)
		return; /* nothing built in the slot */
	/* Consecutive (mod 2^32) within a send: the ack lookup relies on it. */
	nl->seq++;
	nlh->nlmsg_flags |= NLM_F_REQUEST;
	nlh->nlmsg_seq = nl->seq;
	nlh->nlmsg_pid = 0;
	*req = (struct nl_req){ nl->seq, nlh->nlmsg_type, (uint8_t)tolerate, false, cookie };
	nl->nreq++;
	nl->last = nlh;
	mnl_nlmsg_batch_next(nl->batch);
}

int nl_batch_end(struct nl *nl)
{
	flush(nl);
	nl->in_batch = false;
	nl->on_error = NULL;
	nl->on_data = NULL;
	nl->arg = NULL;
	return nl->failures;
}

struct req_ctx {
	int err;
	char *buf;
	size_t len;
	nl_data_cb on_data;
	void *arg;
};

static void req_error(void *arg, uintptr_t cookie, uint16_t type, int err, const char *extack)
{
	struct req_ctx *c = arg;

	c->err = err;
	if (c->buf && c->len)
		snprintf(c->buf, c->len, "%s", extack && *extack ? extack : strerror(-err));
}

static void req_data(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh)
{
	struct req_ctx *c = arg;

	if (c->on_data)
		c->on_data(c->arg, cookie, nlh);
}

int nl_request(struct nl *nl, const struct nlmsghdr *req, unsigned tolerate, nl_data_cb on_data,
	       void *arg, char *err, size_t errlen)
{
	struct req_ctx c = { 0, err, errlen, on_data, arg };

	if (nl->in_batch)
		return -EBUSY;
	if (req->nlmsg_len > NL_MSG_MAX)
		return -EMSGSIZE;
	if (err && errlen)
		err[0] = '\0';
	nl_batch_begin(nl, req_error, req_data, &c);
	memcpy(nl_batch_slot(nl), req, req->nlmsg_len);
	nl_batch_add(nl, tolerate, 0);
	nl_batch_end(nl);
	return c.err;
}

struct dump_ctx {
	nl_dump_cb cb;
	void *arg;
	int err;
};

static void dump_data(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh)
{
	struct dump_ctx *c = arg;

	/* After a callback error the rest is read and dropped, so the socket stays clean. */
	if (c->err == 0)
		c->err = c->cb(c->arg, nlh);
}

int nl_dump(struct nl *nl, const struct nlmsghdr *req, nl_dump_cb cb, void (*reset)(void *arg),
	    void *arg)
{
	for (int i = 0; i < NL_DUMP_TRIES; i++) {
		struct dump_ctx c = { cb, arg, 0 };
		int r;

		if (i > 0 && reset)
			reset(arg);
		nl->dump_intr = false;
		r = nl_request(nl, req, 0, dump_data, &c, NULL, 0);
		if (r < 0)
			return r;
		if (c.err < 0)
			return c.err;
		/*
		 * The kernel flags a dump whose table changed between two
		 * parts: entries may be missing or doubled, so start over.
		 */
		if (!nl->dump_intr)
			return 0;
		log_debug(2, "netlink dump interrupted by a change, restarting");
	}
	return -EINTR;
}

struct get_ctx {
	int found;
	void *ret;
};

static void link_data(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh)
{
	struct get_ctx *c = arg;

	if (!c->found && nl_parse_link(nlh, c->ret) == 0)
		c->found = 1;
}

int nl_link_get(struct nl *nl, const char *name, int ifindex, struct nl_link *ret)
{
	NL_MSG_BUF(buf);
	struct nl_link l;
	struct get_ctx c = { 0, &l };
	const struct nlmsghdr *req = nl_msg_link_get(buf, name, ifindex);
	int r;

	if (!req)
		return -EINVAL;
	r = nl_request(nl, req, 0, link_data, &c, NULL, 0);
	if (r < 0)
		return r;
	if (!c.found)
		return -ENODEV;
	*ret = l;
	return 0;
}

static void route_data(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh)
{
	struct get_ctx *c = arg;

	if (!c->found && nl_parse_route(nlh, c->ret) == 0)
		c->found = 1;
}

static int route_lookup(struct nl *nl, const struct nlmsghdr *req, struct nl_route *ret)
{
	struct nl_route rt;
	struct get_ctx c = { 0, &rt };
	int r;

	if (!req)
		return -EINVAL;
	r = nl_request(nl, req, 0, route_data, &c, NULL, 0);
	if (r < 0)
		return r;
	if (!c.found)
		return -ENETUNREACH;
	*ret = rt;
	return 0;
}

int nl_route_lookup(struct nl *nl, uint32_t dst, struct nl_route *ret)
{
	NL_MSG_BUF(buf);

	return route_lookup(nl, nl_msg_route_get(buf, dst), ret);
}

int nl_route_lookup6(struct nl *nl, const struct ip6 *dst, struct nl_route *ret)
{
	NL_MSG_BUF(buf);

	return route_lookup(nl, nl_msg_route_get6(buf, dst), ret);
}
