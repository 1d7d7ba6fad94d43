/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark helper: put new vxlan leases into etcd one by one and time,
 * for each, etcd's answer and the route a running flanneld in this
 * network namespace installs for it.
 *
 *	route_latency ETCD_IP PORT PREFIX FIRST_SUBNET COUNT WARMUP GAP_MS TIMEOUT_MS
 *
 * Lease k (0 <= k < WARMUP + COUNT) is PREFIX/subnets/<FIRST_SUBNET + k*256>-24
 * with PublicIP 10.202.<k/256>.<k%256> and VtepMAC 0a:00:02:00:<k/256>:<k%256>,
 * written with one HTTP/1.1 POST /v3/kv/put on a kept-alive plain socket.
 * A netlink socket subscribed to the IPv4 route group sees flanneld's
 * RTM_NEWROUTE (protocol 158) for the subnet. The next lease is put GAP_MS
 * after both have come. Prints per lease (CLOCK_MONOTONIC, microseconds):
 *
 *	lease <k> <ack - send> <route - send> <route - ack>
 *
 * (route - ack is negative when the route came first), "warmup ..." lines
 * for the first WARMUP leases, and "timeout <k>" when the route did not
 * come within TIMEOUT_MS. Exit 1 on an HTTP error, 0 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nlsock.h"

#define RTPROT_FLANNEL 158
#define RCVBUF	       (4 * 1024 * 1024)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void b64(const char *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)in[i] << 16 | (uint32_t)(uint8_t)in[i + 1] << 8 |
			     (uint8_t)in[i + 2];

		*out++ = t[v >> 18];
		*out++ = t[(v >> 12) & 63];
		*out++ = t[(v >> 6) & 63];
		*out++ = t[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)(uint8_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)(uint8_t)in[i + 1] << 8;
		*out++ = t[v >> 18];
		*out++ = t[(v >> 12) & 63];
		*out++ = i + 1 < len ? t[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int tcp_connect(const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd;

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the buffer holds our route to dst/24 (host byte order). */
static bool has_route(const char *buf, size_t len, uint32_t dst)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	int left = (int)len;

	for (; NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
		const struct rtmsg *rtm = NLMSG_DATA(nlh);
		const struct rtattr *rta;
		int alen;

		if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != AF_INET ||
		    rtm->rtm_protocol != RTPROT_FLANNEL || rtm->rtm_dst_len != 24)
			continue;
		rta = (const struct rtattr *)((const char *)rtm + NLMSG_ALIGN(sizeof(*rtm)));
		alen = (int)(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*rtm)));
		for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
			uint32_t a;

			if (rta->rta_type != RTA_DST || RTA_PAYLOAD(rta) != 4)
				continue;
			memcpy(&a, RTA_DATA(rta), 4);
			if (ntohl(a) == dst)
				return true;
		}
	}
	return false;
}

/*
 * Length of the complete HTTP response at the start of buf, 0 when more is
 * needed; *status gets its status code. etcd's gateway answers a successful
 * put with Content-Length; errors come chunked.
 */
static size_t http_complete(const char *buf, size_t len, int *status)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *p;
	size_t hlen;

	if (!end)
		return 0;
	hlen = (size_t)(end - buf) + 4;
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		*status = -1;
	for (p = buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		while (p < end && (*p == '\n' || *p == '\r'))
			p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0) {
			size_t cl = strtoul(p + 15, NULL, 10);

			return len >= hlen + cl ? hlen + cl : 0;
		}
	}
	/* Chunked: complete at the last chunk and the blank line after any trailer. */
	p = memmem(buf + hlen, len - hlen, "\r\n0\r\n", 5);
	if (!p && len - hlen >= 3 && memcmp(buf + hlen, "0\r\n", 3) == 0)
		p = buf + hlen - 2;
	if (!p)
		return 0;
	end = memmem(p + 3, len - (size_t)(p + 3 - buf), "\r\n\r\n", 4);
	return end ? (size_t)(end - buf) + 4 : 0;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The HTTP request that puts lease k. */
static int format_put(char *req, size_t size, const char *ip, int port, const char *prefix,
		      uint32_t dst, int k)
{
	char sub[INET_ADDRSTRLEN], key[256], val[512], kb[400], vb[700], mac[18], body[1200];
	struct in_addr d = { htonl(dst) };
	int blen;

	inet_ntop(AF_INET, &d, sub, sizeof(sub));
	snprintf(key, sizeof(key), "%s/subnets/%s-24", prefix, sub);
	snprintf(mac, sizeof(mac), "0a:00:02:00:%02x:%02x", k / 256, k % 256);
	snprintf(val, sizeof(val),
		 "{\"PublicIP\":\"10.202.%d.%d\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
		 "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"%s\"}}",
		 k / 256, k % 256, mac);
	b64(key, strlen(key), kb);
	b64(val, strlen(val), vb);
	blen = snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
	return snprintf(req, size,
			"POST /v3/kv/put HTTP/1.1\r\nHost: %s:%d\r\n"
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			ip, port, blen, body);
}

struct conn {
	int tcp, nl;
	char rbuf[65536]; /* etcd's answers received and not used yet */
	size_t have;
	char nbuf[65536];
};

/*
 * Wait until etcd answered and the route to dst/24 appeared, or until
 * deadline; sets *t_ack and *t_route (0: not seen). -1 on an HTTP error.
 */
static int wait_both(struct conn *c, uint32_t dst, int64_t deadline, int64_t *t_ack,
		     int64_t *t_route)
{
	while (!*t_ack || !*t_route) {
		struct pollfd p[2] = { { .fd = c->tcp, .events = POLLIN },
				       { .fd = c->nl, .events = POLLIN } };
		int64_t now = now_ns();
		size_t full;
		ssize_t n;
		int status;

		if (now >= deadline)
			return 0;
		if (poll(p, 2, (int)((deadline - now) / 1000000) + 1) <= 0)
			continue;
		if (p[1].revents) {
			n = recv(c->nl, c->nbuf, sizeof(c->nbuf), MSG_DONTWAIT);
			now = now_ns();
			if (n > 0 && !*t_route && has_route(c->nbuf, (size_t)n, dst))
				*t_route = now;
		}
		if (!p[0].revents)
			continue;
		n = recv(c->tcp, c->rbuf + c->have, sizeof(c->rbuf) - c->have, MSG_DONTWAIT);
		now = now_ns();
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			fprintf(stderr, "route_latency: etcd closed the connection\n");
			return -1;
		}
		if (n < 0)
			continue;
		c->have += (size_t)n;
		full = http_complete(c->rbuf, c->have, &status);
		if (!full)
			continue;
		if (status != 200) {
			fprintf(stderr, "route_latency: HTTP %d: %.*s\n", status, (int)c->have,
				c->rbuf);
			return -1;
		}
		*t_ack = now;
		memmove(c->rbuf, c->rbuf + full, c->have - full);
		c->have -= full;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct conn c;
	char req[2048];
	struct in_addr first;
	int port, count, warmup, gap_ms, timeout_ms, k, timeouts = 0;

	if (argc != 9 || inet_pton(AF_INET, argv[4], &first) != 1) {
		fprintf(stderr, "usage: route_latency ETCD_IP PORT PREFIX FIRST_SUBNET COUNT "
				"WARMUP GAP_MS TIMEOUT_MS\n");
		return 2;
	}
	port = atoi(argv[2]);
	count = atoi(argv[5]);
	warmup = atoi(argv[6]);
	gap_ms = atoi(argv[7]);
	timeout_ms = atoi(argv[8]);
	if (count < 1 || count + warmup > 65536 || warmup < 0 || timeout_ms < 1 || gap_ms < 0) {
		fprintf(stderr, "route_latency: bad numbers\n");
		return 2;
	}
	c.nl = nlsock_open(RTMGRP_IPV4_ROUTE, RCVBUF);
	c.tcp = tcp_connect(argv[1], port);
	if (c.nl < 0 || c.tcp < 0) {
		perror("route_latency: socket");
		return 2;
	}
	for (k = 0; k < warmup + count; k++) {
		uint32_t dst = ntohl(first.s_addr) + (uint32_t)k * 256;
		struct timespec gap = { gap_ms / 1000, (long)(gap_ms % 1000) * 1000000 };
		int64_t t_send, t_ack = 0, t_route = 0;
		int len = format_put(req, sizeof(req), argv[1], port, argv[3], dst, k);

		if (len < 0 || (size_t)len >= sizeof(req)) {
			fprintf(stderr, "route_latency: request too long\n");
			return 2;
		}
		t_send = now_ns();
		if (send_all(c.tcp, req, (size_t)len) < 0) {
			perror("route_latency: send");
			return 1;
		}
		if (wait_both(&c, dst, t_send + (int64_t)timeout_ms * 1000000, &t_ack, &t_route) <
		    0)
			return 1;
		if (!t_ack) {
			fprintf(stderr, "route_latency: no answer from etcd for lease %d\n", k);
			return 1;
		}
		if (!t_route) {
			printf("timeout %d\n", k);
			timeouts++;
		} else {
			printf("%s %d %.1f %.1f %.1f\n", k < warmup ? "warmup" : "lease", k,
			       (double)(t_ack - t_send) / 1e3, (double)(t_route - t_send) / 1e3,
			       (double)(t_route - t_ack) / 1e3);
		}
		fflush(stdout);
		nanosleep(&gap, NULL);
	}
	printf("done timeouts=%d\n", timeouts);
	return 0;
}
