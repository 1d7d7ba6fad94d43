/* SPDX-License-Identifier: Apache-2.0 */
/* The sd_notify protocol: one datagram to the AF_UNIX socket in $NOTIFY_SOCKET. */
#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "textutil.h"

int sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len;
	socklen_t slen;
	int fd, r = 1;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if (len >= sizeof(sun.sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace: the length ends the name */
	slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A receiver whose queue is full (a stalled systemd) gets EAGAIN, never our loop. */
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun,
		   slen) < 0)
		r = -errno;
	close(fd);
	return r;
}

int sd_notify_status(const char *state, const char *fmt, ...)
{
	char text[1024], safe[1024], msg[1100];
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	text_escape_ctl(text, safe, sizeof(safe));
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", state ? state : "", state ? "\n" : "", safe);
	return sd_notify_send(msg);
}
