/* SPDX-License-Identifier: Apache-2.0 */
/* The WireGuard generic netlink socket: synchronous acked requests and dumps. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "netlink/nl.h"
#include "backend/wg_nl.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

struct wg_nl {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	uint16_t fam;
};

uint16_t wg_nl_family(const struct wg_nl *w)
{
	return w->fam;
}

void wg_nl_close(struct wg_nl *w)
{
	if (!w)
		return;
	if (w->sock)
		mnl_socket_close(w->sock);
	free(w);
}

struct run {
	int (*data)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	int err;
	char *errbuf;
	size_t errlen;
};

static int data_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct run *r = arg;

	if (!r->data)
		return MNL_CB_OK;
	r->err = r->data(nlh, r->arg);
	return r->err < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* NLMSG_ERROR: keep the kernel's text; mnl_cb_run turns the code into errno. */
static int error_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct run *r = arg;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *txt;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_ERROR;
	if (e->error == 0)
		return MNL_CB_STOP;
	r->err = e->error;
	txt = nl_parse_extack(nlh);
	if (r->errbuf)
		snprintf(r->errbuf, r->errlen, "%s", txt && *txt ? txt : strerror(-e->error));
	return MNL_CB_ERROR;
}

/* The end of a dump; a failed dump carries its error here. */
static int done_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct run *r = arg;
	int err;

	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(int))) {
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
		if (err < 0) {
			r->err = err;
			if (r->errbuf)
				snprintf(r->errbuf, r->errlen, "%s", strerror(-err));
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_STOP;
}

static int transact(struct wg_nl *w, struct nlmsghdr *req, struct run *run)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = error_cb, [NLMSG_DONE] = done_cb };
	static uint8_t buf[32768]; /* single-threaded: the control loop only */
	uint32_t seq = ++w->seq;
	ssize_t n;
	int r;

	req->nlmsg_flags |= NLM_F_ACK;
	req->nlmsg_seq = seq;
	run->err = 0;
	if (mnl_socket_sendto(w->sock, req, req->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(w->sock, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		r = mnl_cb_run2(buf, (size_t)n, seq, w->portid, data_cb, run, ctl, NLMSG_MIN_TYPE);
	} while (r == MNL_CB_OK);
	if (r < 0)
		return run->err < 0 ? run->err : -errno;
	return 0;
}

int wg_nl_request(struct wg_nl *w, struct nlmsghdr *req, char *err, size_t errlen)
{
	struct run run = { .errbuf = err, .errlen = errlen };
	int r;

	if (!req) {
		snprintf(err, errlen, "request too large");
		return -EMSGSIZE;
	}
	r = transact(w, req, &run);
	if (r < 0 && run.err == 0)
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static int family_cb(const struct nlmsghdr *nlh, void *arg)
{
	return wg_parse_family(nlh, arg);
}

int wg_nl_open(struct wg_nl **ret)
{
	struct wg_nl *w = calloc(1, sizeof(*w));
	struct timeval tv = { .tv_usec = 250000 };
	uint8_t buf[WG_MSG_MAX];
	struct run run = { .data = family_cb };
	int one = 1, r;

	if (!w)
		return -ENOMEM;
	w->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!w->sock || mnl_socket_bind(w->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	w->portid = mnl_socket_get_portid(w->sock);
	/*
	 * Synchronous use: the kernel answers while sendmsg runs (the module
	 * loads inside it too), so the timeout only bounds one that never
	 * answers, and is short: the loop waits here.
	 */
	setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	mnl_socket_setsockopt(w->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	run.arg = &w->fam;
	/* Asking for the family loads the wireguard module on demand. */
	r = transact(w, wg_msg_get_family(buf), &run);
	if (r == 0 && !w->fam)
		r = -ENOENT;
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	wg_nl_close(w);
	return r;
}

static int device_cb(const struct nlmsghdr *nlh, void *arg)
{
	return wg_parse_device(nlh, arg);
}

int wg_nl_get_device(struct wg_nl *w, const char *ifname, struct wg_device *ret)
{
	uint8_t buf[WG_MSG_MAX];
	struct wg_device d = { 0 };
	struct run run = { .data = device_cb, .arg = &d };
	struct nlmsghdr *req = wg_msg_get_device(buf, w->fam, ifname);
	int r;

	if (!req)
		return -EINVAL;
	/* A dump ends with NLMSG_DONE, not an ack: no NLM_F_ACK needed, but harmless. */
	r = transact(w, req, &run);
	if (r < 0) {
		wg_device_free(&d);
		return r;
	}
	*ret = d;
	return 0;
}
