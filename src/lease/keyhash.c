/* SPDX-License-Identifier: Apache-2.0 */
/* SipHash-1-3 (Aumasson and Bernstein's SipHash, one compression round, three final). */
#include "lease/keyhash.h"

#include <endian.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

/* One load, not eight: a lease key is hashed twice per watch event. */
static uint64_t load64_le(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static void sip_block(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	s->v0 ^= m;
}

uint64_t keyhash(const uint8_t seed[KEYHASH_SEED_LEN], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load64_le(seed), k1 = load64_le(seed + 8), last;
	struct sip s = {
		.v0 = k0 ^ 0x736f6d6570736575ull,
		.v1 = k1 ^ 0x646f72616e646f6dull,
		.v2 = k0 ^ 0x6c7967656e657261ull,
		.v3 = k1 ^ 0x7465646279746573ull,
	};
	size_t left = len;

	for (; left >= 8; p += 8, left -= 8)
		sip_block(&s, load64_le(p));
	/* The last block: the remaining bytes, the length's low byte on top. */
	last = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < left; i++)
		last |= (uint64_t)p[i] << (8 * i);
	sip_block(&s, last);
	s.v2 ^= 0xff;
	for (int i = 0; i < 3; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void keyhash_seed(uint8_t seed[KEYHASH_SEED_LEN])
{
	struct timespec a, b;
	uint64_t mix[2];
	size_t got = 0;

	while (got < KEYHASH_SEED_LEN) {
		ssize_t n = getrandom(seed + got, KEYHASH_SEED_LEN - got, GRND_NONBLOCK);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == KEYHASH_SEED_LEN)
		return;
	clock_gettime(CLOCK_REALTIME, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	mix[0] = (uint64_t)a.tv_nsec ^ (uint64_t)a.tv_sec << 30 ^ (uint64_t)getpid() << 48;
	mix[1] = (uint64_t)b.tv_nsec ^ (uint64_t)b.tv_sec << 30 ^ (uint64_t)(uintptr_t)seed;
	/* Spread the mix over every byte of the seed. */
	mix[0] = keyhash((const uint8_t *)mix, &mix[1], sizeof(mix[1]));
	mix[1] = keyhash((const uint8_t *)mix, &b, sizeof(b));
	memcpy(seed, mix, KEYHASH_SEED_LEN);
}
