/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WireGuard private key: read from, or generated once into, the key
 * file upstream uses (/run/flannel/wgkey, or $WIREGUARD_KEY_FILE), base64
 * as `wg genkey` writes it, mode 0600. The public key comes from OpenSSL's
 * X25519 (libcrypto, loaded with dlopen on first use). Neither key file
 * contents nor the private key are ever logged.
 */
#ifndef FLANNELD_WG_KEY_H
#define FLANNELD_WG_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_KEY_FILE_DEFAULT "/run/flannel/wgkey"

/* $WIREGUARD_KEY_FILE when set and non-empty, else the default. */
const char *wg_key_file(void);

/*
 * Load the private key from path, or when the file does not exist make
 * one (getrandom + X25519 clamping) and write it there (0600, atomically;
 * the directory is created). *created says which. 0 or -errno, with the
 * reason in err (never key material). An existing file that is not a
 * regular file, is owned by neither root nor our user, or grants group or
 * others any access is refused (-EPERM; a symbolic link: -ELOOP).
 */
int wg_key_load_or_create(const char *path, uint8_t priv[32], bool *created, char *err,
			  size_t errlen);
/* The X25519 public key of priv. 0 or -errno with the reason in err. */
int wg_key_public(const uint8_t priv[32], uint8_t pub[32], char *err, size_t errlen);
/* Clamp 32 random bytes into an X25519 private key (RFC 7748). */
void wg_key_clamp(uint8_t k[32]);

#endif
