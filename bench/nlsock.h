/* SPDX-License-Identifier: Apache-2.0 */
/* For the benchmark helpers: an rtnetlink socket subscribed to some groups. */
#ifndef FLANNELD_BENCH_NLSOCK_H
#define FLANNELD_BENCH_NLSOCK_H

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

/* groups: RTMGRP_* bits (0: none); a big receive buffer; -1 on failure. */
static inline int nlsock_open(unsigned groups, int rcvbuf)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	/* RCVBUFFORCE passes rmem_max (we run as root); RCVBUF is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
