/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/xfrm_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF 32768
#define ESP    50

static int xfrm_socket(void)
{
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM);

	if (fd < 0)
		return -errno;
	/* Bounded: the kernel answers at once, a stuck socket must not stall the loop. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static const char *dir_name(int dir)
{
	return dir == XFRM_POLICY_OUT ? "out" : dir == XFRM_POLICY_IN ? "in" : "fwd";
}

static void selector(struct xfrm_selector *sel, const struct ip4net *src, const struct ip4net *dst)
{
	memset(sel, 0, sizeof(*sel));
	sel->family = AF_INET;
	sel->saddr.a4 = htonl(src->addr);
	sel->daddr.a4 = htonl(dst->addr);
	sel->prefixlen_s = (uint8_t)src->len;
	sel->prefixlen_d = (uint8_t)dst->len;
}

/* Send one request and read its ack: 0 or the kernel's negative errno. */
static int request(int fd, struct nlmsghdr *nlh)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	uint32_t buf[NL_BUF / 4];
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (int i = 0; i < 16; i++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 1 || h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				return -EPROTO;
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
	return -EPROTO;
}

static int install_one(int fd, const struct ip4net *src, const struct ip4net *dst, uint32_t tsrc,
		       uint32_t tdst, int dir)
{
	struct {
		struct nlmsghdr h;
		struct xfrm_userpolicy_info p;
		struct nlattr a;
		struct xfrm_user_tmpl t;
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_type = XFRM_MSG_UPDPOLICY;
	m.h.nlmsg_len = sizeof(m);
	selector(&m.p.sel, src, dst);
	m.p.lft.soft_byte_limit = XFRM_INF;
	m.p.lft.hard_byte_limit = XFRM_INF;
	m.p.lft.soft_packet_limit = XFRM_INF;
	m.p.lft.hard_packet_limit = XFRM_INF;
	m.p.dir = (uint8_t)dir;
	m.p.action = XFRM_POLICY_ALLOW;
	m.a.nla_type = XFRMA_TMPL;
	m.a.nla_len = sizeof(m.a) + sizeof(m.t);
	m.t.id.daddr.a4 = htonl(tdst);
	m.t.id.proto = ESP;
	m.t.family = AF_INET;
	m.t.saddr.a4 = htonl(tsrc);
	m.t.reqid = IPSEC_REQID;
	m.t.mode = XFRM_MODE_TUNNEL;
	m.t.aalgos = m.t.ealgos = m.t.calgos = ~0u;
	return request(fd, &m.h);
}

static int remove_one(int fd, const struct ip4net *src, const struct ip4net *dst, int dir)
{
	struct {
		struct nlmsghdr h;
		struct xfrm_userpolicy_id id;
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_type = XFRM_MSG_DELPOLICY;
	m.h.nlmsg_len = sizeof(m);
	selector(&m.id.sel, src, dst);
	m.id.dir = (uint8_t)dir;
	r = request(fd, &m.h);
	return r == -ENOENT ? 0 : r;
}

int xfrm_pair_install(const struct xfrm_pair *p, char *err, size_t errlen)
{
	static const int dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
	int fd = xfrm_socket(), r = 0;

	if (fd < 0)
		return snprintf(err, errlen, "NETLINK_XFRM socket: %s", strerror(-fd)), fd;
	for (int i = 0; i < 3 && r == 0; i++) {
		bool out = dirs[i] == XFRM_POLICY_OUT;

		r = out ? install_one(fd, &p->local, &p->remote, p->local_ip, p->remote_ip, dirs[i])
			: install_one(fd, &p->remote, &p->local, p->remote_ip, p->local_ip,
				      dirs[i]);
		if (r < 0)
			snprintf(err, errlen, "adding the ipsec %s policy: %s", dir_name(dirs[i]),
				 strerror(-r));
	}
	close(fd);
	return r;
}

int xfrm_pair_remove(const struct xfrm_pair *p, char *err, size_t errlen)
{
	static const int dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
	int fd = xfrm_socket(), r = 0, first = 0;

	if (fd < 0)
		return snprintf(err, errlen, "NETLINK_XFRM socket: %s", strerror(-fd)), fd;
	/* All three, whatever fails: a half-removed peer is worse than an error. */
	for (int i = 0; i < 3; i++) {
		bool out = dirs[i] == XFRM_POLICY_OUT;

		r = out ? remove_one(fd, &p->local, &p->remote, dirs[i])
			: remove_one(fd, &p->remote, &p->local, dirs[i]);
		if (r < 0 && first == 0) {
			first = r;
			snprintf(err, errlen, "deleting the ipsec %s policy: %s", dir_name(dirs[i]),
				 strerror(-r));
		}
	}
	close(fd);
	return first;
}

static bool inside(const struct ip4net *net, uint32_t addr, unsigned len)
{
	uint32_t mask = net->len ? ~0u << (32 - net->len) : 0;

	return len >= net->len && (addr & mask) == (net->addr & mask);
}

static void dump_one(const struct nlmsghdr *h, uint32_t local_ip, const struct ip4net *network,
		     void (*fn)(const struct xfrm_pair *p, void *arg), void *arg)
{
	const char *data = NLMSG_DATA(h);
	struct xfrm_userpolicy_info info, *pi = &info;
	size_t off = NLMSG_ALIGN(sizeof(info));
	size_t len;

	if (h->nlmsg_type != XFRM_MSG_NEWPOLICY || h->nlmsg_len < NLMSG_LENGTH(off))
		return;
	/* It holds 64-bit fields; netlink aligns messages to 4 bytes only. */
	memcpy(&info, data, sizeof(info));
	if (pi->dir != XFRM_POLICY_OUT || pi->sel.family != AF_INET)
		return;
	len = h->nlmsg_len - NLMSG_LENGTH(off);
	for (size_t pos = 0; len - pos >= sizeof(struct nlattr);) {
		const struct nlattr *a = (const void *)(data + off + pos);
		const struct xfrm_user_tmpl *t = (const void *)(a + 1);
		size_t alen = a->nla_len;
		struct xfrm_pair p;

		if (alen < sizeof(*a) || alen > len - pos)
			return;
		pos += (alen + 3u) & ~(size_t)3u;
		if (pos > len)
			pos = len;
		if (a->nla_type != XFRMA_TMPL || alen < sizeof(*a) + sizeof(*t))
			continue;
		if (t->reqid != IPSEC_REQID || t->id.proto != ESP || t->mode != XFRM_MODE_TUNNEL ||
		    t->family != AF_INET || ntohl(t->saddr.a4) != local_ip)
			return;
		p.local.addr = ntohl(pi->sel.saddr.a4);
		p.local.len = pi->sel.prefixlen_s;
		p.remote.addr = ntohl(pi->sel.daddr.a4);
		p.remote.len = pi->sel.prefixlen_d;
		p.local_ip = local_ip;
		p.remote_ip = ntohl(t->id.daddr.a4);
		if (inside(network, p.local.addr, p.local.len) &&
		    inside(network, p.remote.addr, p.remote.len))
			fn(&p, arg);
		return;
	}
}

int xfrm_pair_dump(uint32_t local_ip, const struct ip4net *network,
		   void (*fn)(const struct xfrm_pair *p, void *arg), void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nlmsghdr req = {
		.nlmsg_len = NLMSG_LENGTH(0),
		.nlmsg_type = XFRM_MSG_GETPOLICY,
		.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		.nlmsg_seq = 2,
	};
	static uint32_t buf[NL_BUF / 4];
	int fd = xfrm_socket(), r = -EPROTO;

	if (fd < 0)
		return fd;
	if (sendto(fd, &req, req.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	/* Bounded: 100000 replies at most, each read within the socket's timeout. */
	for (int i = 0; i < 100000; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				r = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				r = h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))
					    ? ((struct nlmsgerr *)NLMSG_DATA(h))->error
					    : -EPROTO;
				goto out;
			}
			dump_one(h, local_ip, network, fn, arg);
		}
	}
out:
	close(fd);
	return r;
}
