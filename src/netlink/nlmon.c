/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink notifications read on the loop; ENOBUFS is reported, never swallowed. */
#include "netlink/nlmon.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"

/*
 * Programming thousands of peers echoes thousands of notifications back
 * to us; a large buffer keeps the common case free of overruns (which
 * are harmless but cost a full re-read).
 */
#define NLMON_RCVBUF	(8 * 1024 * 1024)
#define NLMON_RECV_SIZE (32 * 1024)
/* Reads per wakeup before yielding to the rest of the loop (epoll is level-triggered). */
#define NLMON_READS_PER_WAKEUP 64

struct nlmon {
	struct loop *loop;
	struct mnl_socket *sk;
	int fd;
	const struct nlmon_ops *ops;
	void *arg;
	char *buf;
};

static void deliver(struct nlmon *m, const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	int left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		/* nlmsg_pid names whoever made the change (us too): not a filter. */
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		m->ops->event(m->arg, nlh);
	}
}

static void on_readable(int fd, unsigned events, void *arg)
{
	struct nlmon *m = arg;
	bool overrun = false;

	(void)events;
	for (int i = 0; i < NLMON_READS_PER_WAKEUP; i++) {
		ssize_t n = recv(fd, m->buf, NLMON_RECV_SIZE, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overrun = true;
				continue;
			}
			if (errno != EAGAIN)
				log_warnx("Reading netlink notifications failed: %s",
					  strerror(errno));
			break;
		}
		deliver(m, m->buf, (size_t)n);
	}
	if (overrun)
		m->ops->overrun(m->arg);
}

int nlmon_open(struct loop *loop, const unsigned *groups, size_t ngroups,
	       const struct nlmon_ops *ops, void *arg, struct nlmon **ret)
{
	struct nlmon *m = calloc(1, sizeof(*m));
	int rcvbuf = NLMON_RCVBUF, r;

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->ops = ops;
	m->arg = arg;
	m->fd = -1;
	m->buf = malloc(NLMON_RECV_SIZE);
	m->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->buf || !m->sk) {
		r = m->buf ? -errno : -ENOMEM;
		goto fail;
	}
	if (mnl_socket_bind(m->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	r = nlmon_membership(m, groups, ngroups, true);
	if (r < 0)
		goto fail;
	m->fd = mnl_socket_get_fd(m->sk);
	/* RCVBUFFORCE passes rmem_max (we have CAP_NET_ADMIN); RCVBUF is the fallback. */
	if (setsockopt(m->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	r = loop_io_add(loop, m->fd, LOOP_READ, on_readable, m);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	m->fd = -1;
	nlmon_close(m);
	return r;
}

int nlmon_membership(struct nlmon *m, const unsigned *groups, size_t ngroups, bool join)
{
	for (size_t i = 0; i < ngroups; i++) {
		int group = (int)groups[i];

		if (mnl_socket_setsockopt(m->sk,
					  join ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP,
					  &group, sizeof(group)) < 0)
			return -errno;
	}
	return 0;
}

void nlmon_close(struct nlmon *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		loop_io_del(m->loop, m->fd);
	if (m->sk)
		mnl_socket_close(m->sk);
	free(m->buf);
	free(m);
}
