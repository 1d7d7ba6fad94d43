/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/wg_key.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/tun_conf.h"

#define LIBCRYPTO   "libcrypto.so.3"
#define EVP_X25519  1034 /* NID_X25519 */
#define KEYFILE_MAX 256

void wg_key_clamp(uint8_t k[32])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

const char *wg_key_file(void)
{
	const char *p = getenv("WIREGUARD_KEY_FILE");

	return p && *p ? p : WG_KEY_FILE_DEFAULT;
}

/* The three libcrypto calls we need, resolved once. */
static struct {
	bool loaded;
	void *(*new_raw_private_key)(int type, void *engine, const unsigned char *key, size_t len);
	int (*get_raw_public_key)(const void *pkey, unsigned char *pub, size_t *len);
	void (*pkey_free)(void *pkey);
} ossl;

static int load_crypto(char *err, size_t errlen)
{
	void *h;

	if (ossl.loaded)
		return 0;
	h = dlopen(LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen,
			 "cannot load %s for WireGuard keys (Debian package libssl3): %s",
			 LIBCRYPTO, dlerror());
		return -ENOENT;
	}
	*(void **)&ossl.new_raw_private_key = dlsym(h, "EVP_PKEY_new_raw_private_key");
	*(void **)&ossl.get_raw_public_key = dlsym(h, "EVP_PKEY_get_raw_public_key");
	*(void **)&ossl.pkey_free = dlsym(h, "EVP_PKEY_free");
	if (!ossl.new_raw_private_key || !ossl.get_raw_public_key || !ossl.pkey_free) {
		snprintf(err, errlen, "%s lacks the EVP_PKEY raw key functions", LIBCRYPTO);
		dlclose(h);
		return -ENOSYS;
	}
	ossl.loaded = true; /* h stays open for the process's life */
	return 0;
}

int wg_key_public(const uint8_t priv[32], uint8_t pub[32], char *err, size_t errlen)
{
	size_t len = 32;
	void *pk;
	int r = load_crypto(err, errlen);

	if (r < 0)
		return r;
	pk = ossl.new_raw_private_key(EVP_X25519, NULL, priv, 32);
	if (!pk) {
		snprintf(err, errlen, "OpenSSL refused the X25519 private key");
		return -EINVAL;
	}
	r = ossl.get_raw_public_key(pk, pub, &len) == 1 && len == 32 ? 0 : -EINVAL;
	ossl.pkey_free(pk);
	if (r < 0)
		snprintf(err, errlen, "OpenSSL could not derive the X25519 public key");
	return r;
}

/*
 * The key file must be ours alone: a regular file (O_NONBLOCK: a FIFO
 * cannot hang start-up; O_NOFOLLOW: no symlink), owned by root or by the
 * user we run as, with no access for group or others. 0, or -EPERM with
 * the reason in err.
 */
static int check_key_file(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file, refusing it as the key file",
			 path);
		return -EPERM;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s is owned by uid %u, not by root: refusing it (chown root %s)", path,
			 (unsigned)st->st_uid, path);
		return -EPERM;
	}
	if (st->st_mode & 077) {
		snprintf(err, errlen,
			 "%s is accessible to group or others (mode %04o): refusing it (chmod 600 "
			 "%s)",
			 path, (unsigned)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* 0, -ENOENT (no file: make one) or another -errno with the reason in err. */
static int read_key(const char *path, uint8_t priv[32], char *err, size_t errlen)
{
	char buf[KEYFILE_MAX];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			snprintf(err, errlen, "%s is a symbolic link, refusing it as the key file",
				 path);
		else if (r != -ENOENT)
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-r));
	} else {
		r = check_key_file(path, &st, err, errlen);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	len = (size_t)n;
	/* `wg genkey > file` leaves a newline; upstream's file has none. */
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	r = wg_key_from_base64(buf, len, priv);
	explicit_bzero(buf, sizeof(buf));
	if (r < 0) {
		snprintf(err, errlen, "%s does not hold a base64 WireGuard private key", path);
		return -EINVAL;
	}
	return 0;
}

static int mkdir_parents(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_key(const char *path, const uint8_t priv[32], char *err, size_t errlen)
{
	char tmp[4096], b64[WG_KEY_B64LEN + 1];
	int fd, r;

	r = mkdir_parents(path);
	if (r < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path,
			 strerror(r < 0 ? -r : ENAMETOOLONG));
		return r < 0 ? r : -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-r));
		return r;
	}
	wg_key_to_base64(priv, b64);
	r = write(fd, b64, WG_KEY_B64LEN) == WG_KEY_B64LEN && fsync(fd) == 0 ? 0 : -errno;
	explicit_bzero(b64, sizeof(b64));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	/* link(2) does not replace: a key another process wrote first wins. */
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	if (r < 0 && r != -EEXIST)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
	return r;
}

int wg_key_load_or_create(const char *path, uint8_t priv[32], bool *created, char *err,
			  size_t errlen)
{
	uint8_t k[32];
	int r = read_key(path, k, err, errlen);

	if (r == 0) {
		memcpy(priv, k, 32);
		explicit_bzero(k, sizeof(k));
		*created = false;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
		r = -errno;
		snprintf(err, errlen, "getrandom: %s", strerror(-r));
		return r;
	}
	wg_key_clamp(k);
	r = write_key(path, k, err, errlen);
	if (r == -EEXIST) /* lost a race: use the winner's key */
		r = read_key(path, k, err, errlen);
	if (r == 0) {
		memcpy(priv, k, 32);
		*created = true;
	}
	explicit_bzero(k, sizeof(k));
	return r;
}
