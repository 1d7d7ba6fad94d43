/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/vici.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"

static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t now = loop_now_ms();
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(deadline - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

static int send_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		int r;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t got = recv(fd, p, n, 0);
		int r;

		if (got > 0) {
			p += got;
			n -= (size_t)got;
			continue;
		}
		if (got == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix stream connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

		close(fd);
		return r;
	}
	return fd;
}

int vici_call(const char *path, struct vici_builder *req, uint8_t **reply, size_t *len)
{
	uint64_t deadline = loop_now_ms() + VICI_TIMEOUT_MS;
	uint8_t hdr[4], *buf = NULL;
	int fd = connect_to(path), r;

	if (fd < 0) {
		vici_builder_free(req);
		return fd;
	}
	r = send_all(fd, req->buf, req->len, deadline);
	vici_builder_free(req);
	/* Events come only after a registration (we make none); skip a few anyway. */
	for (int i = 0; r == 0 && i < 64; i++) {
		size_t n;

		r = recv_all(fd, hdr, 4, deadline);
		if (r < 0)
			break;
		n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		if (n == 0 || n > VICI_MAX_PACKET) {
			r = -EPROTO;
			break;
		}
		buf = malloc(n);
		if (!buf) {
			r = -ENOMEM;
			break;
		}
		r = recv_all(fd, buf, n, deadline);
		if (r == 0 && buf[0] != VICI_EVENT) {
			*reply = buf;
			*len = n;
			close(fd);
			return 0;
		}
		free(buf);
		buf = NULL;
	}
	close(fd);
	return r < 0 ? r : -EPROTO;
}

static int call_parsed(const char *path, struct vici_builder *req, uint8_t **buf,
		       struct vici_packet *pkt, char *err, size_t errlen)
{
	size_t n;
	int r = vici_call(path, req, buf, &n);

	if (r < 0) {
		snprintf(err, errlen, "VICI socket %s: %s", path, strerror(-r));
		return r;
	}
	if (vici_parse(*buf, n, pkt) < 0) {
		free(*buf);
		*buf = NULL;
		snprintf(err, errlen, "VICI socket %s: a malformed reply", path);
		return -EPROTO;
	}
	return 0;
}

int vici_command(const char *path, struct vici_builder *req, char *err, size_t errlen)
{
	struct vici_packet pkt;
	uint8_t *buf = NULL;
	int r = call_parsed(path, req, &buf, &pkt, err, errlen);

	if (r == 0)
		r = vici_result(&pkt, err, errlen);
	free(buf);
	return r;
}

int vici_get_conns(const char *path, void (*fn)(const char *name, size_t len, void *arg), void *arg,
		   char *err, size_t errlen)
{
	struct vici_builder req;
	struct vici_packet pkt;
	struct vici_iter it;
	struct vici_el el;
	bool in_conns = false;
	uint8_t *buf = NULL;
	int r;

	vici_begin(&req, VICI_CMD_REQUEST, "get-conns");
	r = vici_finish(&req);
	if (r < 0)
		return snprintf(err, errlen, "out of memory"), r;
	r = call_parsed(path, &req, &buf, &pkt, err, errlen);
	if (r == 0)
		r = vici_result(&pkt, err, errlen);
	if (r < 0) {
		free(buf);
		return r;
	}
	vici_iter_init(&it, &pkt);
	while (vici_next(&it, &el)) {
		if (el.type == VICI_LIST_START)
			in_conns =
				el.depth == 0 && el.name_len == 5 && !memcmp(el.name, "conns", 5);
		else if (el.type == VICI_LIST_END)
			in_conns = false;
		else if (el.type == VICI_LIST_ITEM && in_conns)
			fn((const char *)el.value, el.value_len, arg);
	}
	free(buf);
	return 0;
}
