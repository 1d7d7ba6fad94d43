/* SPDX-License-Identifier: Apache-2.0 */
/* A secret (the etcd password) read from a file, so that it stays off the command line. */
#ifndef FLANNELD_SECRET_FILE_H
#define FLANNELD_SECRET_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* The most a secret file may hold. */
#define SECRET_FILE_MAX 4096

/*
 * Read path (O_NOFOLLOW|O_NONBLOCK: no symbolic link, and a FIFO cannot
 * hang start-up; a regular file of at most SECRET_FILE_MAX bytes) into a
 * malloc'd string, one trailing newline (or CRLF) dropped. *others_read
 * says whether others may read the file (the caller warns). 0, or -errno
 * with the reason, naming the file, in err.
 */
int secret_file_read(const char *path, char **ret, bool *others_read, char *err, size_t errlen);

#endif
