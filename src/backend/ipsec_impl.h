/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipsec backend's shared state: ipsec.c (peers, converging, lifecycle),
 * ipsec_vici.c (the requests to charon and their answers) and
 * ipsec_charon.c (finding, starting and waiting for charon).
 */
#ifndef FLANNELD_BACKEND_IPSEC_IMPL_H
#define FLANNELD_BACKEND_IPSEC_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/ipsec_conf.h"
#include "backend/vici.h"
#include "ip.h"
#include "log.h"
#include "loop.h"

#define TYPE		 "ipsec"
#define IKE_PROPOSAL	 "aes256-sha256-modp4096"
#define SOCKET_ENV	 "FLANNELD_IPSEC_VICI_SOCKET"
#define CHECK_MS	 5000
#define WAIT_MS		 500
#define START_TIMEOUT_MS 30000
#define NAME_MAX_LEN	 128

struct peer {
	struct ip4net subnet;
	uint32_t public_ip;
	bool loaded; /* charon holds its connection (as far as we know) */
};

struct backend {
	struct loop *loop;
	struct ipsec_conf cfg;
	char charon[PATH_MAX]; /* "" when none was found */
	struct ip4net network;
	uint32_t public_ip;
	bool have_own;
	struct ip4net own;
	struct peer *peers;
	size_t npeers, cap;
	bool charon_up;
	struct vici_client *vici;
	bool asking;	     /* a get-conns is on its way */
	uint64_t vici_epoch; /* requests other than get-conns queued so far */
	uint64_t asked_epoch;
	uint64_t started_ms; /* when we last started charon; 0: not waiting for one */
	struct log_limit warn_limit;
	struct log_limit load_limit; /* charon refusing a connection repeats every 5 s */
	struct loop_timer tick;
	/* get-conns scratch: the names charon holds */
	char **seen;
	size_t nseen, seen_cap;
};

/* ipsec.c */
void ipsec_conn_name(const struct backend *b, const struct peer *p, char *out, size_t n);
struct peer *ipsec_peer_find(struct backend *b, uint32_t addr);
void ipsec_got_conns(struct backend *b, int r, const struct vici_packet *reply, const char *err);

/* ipsec_vici.c: each call queues a request; its answer is handled there. */
int ipsec_load_shared(struct backend *b, uint32_t ip, const struct peer *p);
void ipsec_load_peer(struct backend *b, const struct peer *p);
int ipsec_unload_conn(struct backend *b, const char *name);
int ipsec_ask_conns(struct backend *b, char *err, size_t errlen);

/* ipsec_charon.c */
bool ipsec_find_charon(char *out, size_t n);
void ipsec_charon_down(struct backend *b, int r, const char *err);

#endif
