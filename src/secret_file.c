/* SPDX-License-Identifier: Apache-2.0 */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole file, at most SECRET_FILE_MAX bytes, into buf: its length or -errno. */
static ssize_t read_all(int fd, char *buf)
{
	size_t len = 0;

	/* One byte more than allowed tells an oversized file even if it grew. */
	while (len <= SECRET_FILE_MAX) {
		ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return len > SECRET_FILE_MAX ? -EFBIG : (ssize_t)len;
}

int secret_file_read(const char *path, char **ret, bool *others_read, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 r == -ELOOP ? "it is a symbolic link" : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s is not a regular file", path);
	} else if (!(buf = malloc(SECRET_FILE_MAX + 2))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory reading %s", path);
	} else if ((n = read_all(fd, buf)) < 0) {
		r = (int)n;
		if (r == -EFBIG)
			snprintf(err, errlen, "%s is over %d bytes", path, SECRET_FILE_MAX);
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
	}
	close(fd);
	if (r == 0) {
		size_t len = (size_t)n;

		if (len && buf[len - 1] == '\n')
			len--;
		if (len && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0';
		if (memchr(buf, '\0', len)) {
			r = -EINVAL;
			snprintf(err, errlen, "%s holds a NUL byte", path);
		}
	}
	if (r < 0) {
		if (buf)
			explicit_bzero(buf, SECRET_FILE_MAX + 2);
		free(buf);
		return r;
	}
	*others_read = (st.st_mode & S_IROTH) != 0;
	*ret = buf;
	return 0;
}
