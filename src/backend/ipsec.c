/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipsec backend: IKEv2 through strongSwan's charon, as upstream
 * (FLANNEL_COMPAT.md): our lease is BackendType "ipsec" with no
 * BackendData, the MTU is the external one minus 77 (85 with UDPEncap).
 * Per remote lease: the PSK for its PublicIP and one connection
 * "<ourIP>-<ourSubnet>-<itsSubnet>-<itsIP>" (IKE aes256-sha256-modp4096,
 * child "<ourSubnet>-<itsSubnet>" in tunnel mode, reqid 11, charon
 * installs no policies) loaded over VICI; the three XFRM policies
 * (xfrm_policy.c) are ours. A lease that goes is unloaded and its
 * policies deleted.
 *
 * charon is found where upstream looks and started, detached, when its
 * VICI socket does not answer. Unlike upstream it outlives flanneld, so a
 * restart keeps the SAs: connections charon already holds are left alone
 * (no re-initiation). Every 5 s get-conns checks charon: a missing
 * connection is loaded again; a charon that does not answer is restarted
 * and everything reloaded. VICI calls never wait on the loop (vici.c):
 * each answer comes back to on_reply, a peer's key first and then, from
 * its answer, its connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ipsec_impl.h"
#include "backend/xfrm_policy.h"
#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "lease/subnet.h"

/* ------------------------------------------------------------ names */

void ipsec_conn_name(const struct backend *b, const struct peer *p, char *out, size_t n)
{
	char a[IP_STRLEN], s1[IP_STRLEN], s2[IP_STRLEN], c[IP_STRLEN];

	snprintf(out, n, "%s-%s-%s-%s", ip4_format(b->public_ip, a), ip4net_format(&b->own, s1),
		 ip4net_format(&p->subnet, s2), ip4_format(p->public_ip, c));
}

static struct xfrm_pair pair_of(const struct backend *b, const struct peer *p)
{
	return (struct xfrm_pair){ .local = b->own,
				   .remote = p->subnet,
				   .local_ip = b->public_ip,
				   .remote_ip = p->public_ip };
}

/* ------------------------------------------------------------ peers */

static int peer_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct peer *)x)->subnet.addr;
	uint32_t c = ((const struct peer *)y)->subnet.addr;

	return a < c ? -1 : a > c;
}

struct peer *ipsec_peer_find(struct backend *b, uint32_t addr)
{
	struct peer key = { .subnet.addr = addr };

	return b->npeers ? bsearch(&key, b->peers, b->npeers, sizeof(key), peer_cmp) : NULL;
}

static struct peer *peer_insert(struct backend *b, const struct peer *p)
{
	size_t i = 0;

	if (b->npeers == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 32;
		struct peer *n = realloc(b->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		b->peers = n;
		b->cap = cap;
	}
	while (i < b->npeers && b->peers[i].subnet.addr < p->subnet.addr)
		i++;
	memmove(&b->peers[i + 1], &b->peers[i], (b->npeers - i) * sizeof(*p));
	b->peers[i] = *p;
	b->npeers++;
	return &b->peers[i];
}

/* Program one peer: policies, key and connection. A failure stays with this peer. */
static void peer_apply(struct backend *b, struct peer *p)
{
	struct xfrm_pair x = pair_of(b, p);
	char err[160];

	if (!b->have_own)
		return;
	if (xfrm_pair_install(&x, err, sizeof(err)) < 0)
		log_error("error adding ipsec policy for %s: %s",
			  ip4_format(p->public_ip, err + 100), err);
	if (b->charon_up)
		ipsec_load_peer(b, p);
}

static void peer_unapply(struct backend *b, const struct peer *p)
{
	char name[NAME_MAX_LEN], err[160];
	struct xfrm_pair x = pair_of(b, p);

	if (!b->have_own)
		return;
	ipsec_conn_name(b, p, name, sizeof(name));
	if (b->charon_up)
		ipsec_unload_conn(b, name);
	if (xfrm_pair_remove(&x, err, sizeof(err)) < 0)
		log_error("error deleting ipsec policies of %s: %s", name, err);
}

static void peer_drop(struct backend *b, struct peer *p)
{
	size_t i = (size_t)(p - b->peers);

	peer_unapply(b, p);
	memmove(p, p + 1, (b->npeers - i - 1) * sizeof(*p));
	b->npeers--;
}

/* The peer a lease stands for; false (with a warning) for one we ignore. */
static bool peer_of_lease(struct backend *b, const struct lease *l, struct peer *p)
{
	char s[IP_STRLEN];

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return false;
	if (strcmp(l->attrs.backend_type, TYPE) != 0) {
		if (log_limit_ok(&b->warn_limit, "non-ipsec leases"))
			log_warnx("Ignoring non-ipsec lease %s: type %s",
				  ip4net_format(&l->subnet.v4, s), l->attrs.backend_type);
		return false;
	}
	if (b->have_own && l->subnet.v4.addr == b->own.addr)
		return false;
	if (l->attrs.public_ip == 0)
		return false;
	*p = (struct peer){ .subnet = l->subnet.v4, .public_ip = l->attrs.public_ip };
	return true;
}

static void ipsec_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p = ipsec_peer_find(b, l->subnet.v4.addr);
	char s[IP_STRLEN];

	if (!p)
		return;
	log_info("Subnet removed: %s", ip4net_format(&p->subnet, s));
	peer_drop(b, p);
}

static void ipsec_lease_added(struct backend *b, const struct lease *l)
{
	struct peer np, *p;
	char s[IP_STRLEN];

	if (!peer_of_lease(b, l, &np)) {
		ipsec_lease_removed(b, l); /* type changed away from ipsec */
		return;
	}
	p = ipsec_peer_find(b, np.subnet.addr);
	if (p && p->subnet.len == np.subnet.len && p->public_ip == np.public_ip)
		return;
	if (p)
		peer_drop(b, p);
	log_info("Subnet added: %s", ip4net_format(&np.subnet, s));
	p = peer_insert(b, &np);
	if (!p) {
		log_error("out of memory adding peer %s", s);
		return;
	}
	peer_apply(b, p);
}

/* ------------------------------------------------------------ converging */

static void seen_add(const char *name, size_t len, void *arg)
{
	struct backend *b = arg;
	char *s;

	if (b->nseen == b->seen_cap) {
		size_t cap = b->seen_cap ? 2 * b->seen_cap : 32;
		char **n = realloc(b->seen, cap * sizeof(*n));

		if (!n)
			return;
		b->seen = n;
		b->seen_cap = cap;
	}
	s = strndup(name, len);
	if (s)
		b->seen[b->nseen++] = s;
}

static void seen_clear(struct backend *b)
{
	for (size_t i = 0; i < b->nseen; i++)
		free(b->seen[i]);
	b->nseen = 0;
}

static bool seen_has(const struct backend *b, const char *name)
{
	for (size_t i = 0; i < b->nseen; i++)
		if (strcmp(b->seen[i], name) == 0)
			return true;
	return false;
}

/*
 * Make charon hold exactly our peers' connections: load the missing ones
 * (a charon just (re)started holds none), unload ours that no lease wants.
 * Connections charon already holds are left alone: a restart of flanneld
 * re-keys nothing.
 */
static void converge(struct backend *b, bool fresh)
{
	char prefix[IP_STRLEN + 1], name[NAME_MAX_LEN];
	bool own_key = fresh;

	if (!b->have_own)
		return;
	ip4_format(b->public_ip, prefix);
	strcat(prefix, "-");
	for (size_t i = 0; i < b->nseen; i++) {
		bool want = false;

		if (strncmp(b->seen[i], prefix, strlen(prefix)) != 0)
			continue;
		for (size_t k = 0; k < b->npeers && !want; k++) {
			ipsec_conn_name(b, &b->peers[k], name, sizeof(name));
			want = strcmp(name, b->seen[i]) == 0;
		}
		if (!want)
			ipsec_unload_conn(b, b->seen[i]);
	}
	for (size_t k = 0; k < b->npeers; k++) {
		struct peer *p = &b->peers[k];

		ipsec_conn_name(b, p, name, sizeof(name));
		p->loaded = seen_has(b, name);
		if (p->loaded)
			continue;
		/* Keys live in charon's memory only: a charon without our connections lacks them
		 * too. */
		if (!own_key) {
			ipsec_load_shared(b, b->public_ip, NULL);
			own_key = true;
		}
		ipsec_load_peer(b, p);
	}
}

void ipsec_got_conns(struct backend *b, int r, const struct vici_packet *reply, const char *err)
{
	char msg[256];
	bool fresh;

	b->asking = false;
	if (r == 0)
		r = vici_result(reply, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", err);
	if (r < 0) {
		ipsec_charon_down(b, r, msg);
		return;
	}
	seen_clear(b);
	vici_each_item(reply, "conns", seen_add, b);
	fresh = !b->charon_up;
	if (fresh)
		log_info("charon answers on %s", b->cfg.vici_socket);
	b->charon_up = true;
	b->started_ms = 0;
	if (fresh && b->have_own)
		ipsec_load_shared(b, b->public_ip, NULL);
	/*
	 * charon answers in order, so the list reflects every request sent
	 * before get-conns; one sent after it (a lease event) may not show yet:
	 * converge on a newer list instead of loading or unloading twice.
	 */
	if (b->asked_epoch != b->vici_epoch && !fresh) {
		loop_timer_arm(b->loop, &b->tick, WAIT_MS);
		return;
	}
	converge(b, fresh);
	loop_timer_arm(b->loop, &b->tick, CHECK_MS);
}

static void tick(void *arg)
{
	struct backend *b = arg;
	char err[256];
	int r;

	/* The answer on its way re-arms the tick (its deadline bounds the wait). */
	if (b->asking)
		return;
	vici_client_reset(b->vici);
	b->asked_epoch = b->vici_epoch;
	r = ipsec_ask_conns(b, err, sizeof(err));
	if (r < 0) {
		ipsec_charon_down(b, r, err);
		return;
	}
	b->asking = true;
}

/* Kernel policies of ours that no lease wants (a peer that left while we were down). */
static void stale_policy(const struct xfrm_pair *x, void *arg)
{
	struct backend *b = arg;
	struct peer *p = ipsec_peer_find(b, x->remote.addr);
	char err[160], s[IP_STRLEN];

	if (p && p->subnet.len == x->remote.len && p->public_ip == x->remote_ip &&
	    x->local.addr == b->own.addr && x->local.len == b->own.len)
		return;
	log_info("Deleting stale ipsec policies for %s", ip4net_format(&x->remote, s));
	if (xfrm_pair_remove(x, err, sizeof(err)) < 0)
		log_error("error deleting stale ipsec policies: %s", err);
}

static void ipsec_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *want = calloc(n ? n : 1, sizeof(*want));
	size_t nw = 0;
	int r;

	if (!want) {
		log_error("out of memory in the ipsec resync");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (peer_of_lease(b, all[i], &want[nw]))
			nw++;
	qsort(want, nw, sizeof(*want), peer_cmp);
	for (size_t i = b->npeers; i-- > 0;) {
		struct peer *p = &b->peers[i];
		struct peer *w = nw ? bsearch(p, want, nw, sizeof(*p), peer_cmp) : NULL;

		if (!w || w->subnet.len != p->subnet.len || w->public_ip != p->public_ip)
			peer_drop(b, p);
	}
	for (size_t i = 0; i < nw; i++) {
		struct peer *p = ipsec_peer_find(b, want[i].subnet.addr);

		if (p)
			continue;
		p = peer_insert(b, &want[i]);
		if (!p)
			break;
		/* Policies now (idempotent); charon's part in converge, which keeps what it holds.
		 */
		if (b->have_own) {
			struct xfrm_pair x = pair_of(b, p);
			char err[160];

			if (xfrm_pair_install(&x, err, sizeof(err)) < 0)
				log_error("error adding ipsec policy: %s", err);
		}
	}
	free(want);
	if (b->have_own) {
		r = xfrm_pair_dump(b->public_ip, &b->network, stale_policy, b);
		if (r < 0)
			log_error("Cannot list the XFRM policies: %s", strerror(-r));
	}
	/* A converge soon, from the loop; it also (re)loads the peers added above. */
	if (b->charon_up && !b->asking)
		loop_timer_arm(b->loop, &b->tick, 0);
}

static int ipsec_own_lease(struct backend *b, const struct lease *own)
{
	bool changed = !b->have_own || b->own.addr != own->subnet.v4.addr ||
		       b->own.len != own->subnet.v4.len;

	if (!changed)
		return 0;
	/* Another subnet: what we set up for the old one goes first. */
	for (size_t k = 0; b->have_own && k < b->npeers; k++)
		peer_unapply(b, &b->peers[k]);
	b->own = own->subnet.v4;
	b->have_own = true;
	for (size_t k = 0; k < b->npeers; k++)
		peer_apply(b, &b->peers[k]);
	if (b->charon_up)
		ipsec_load_shared(b, b->public_ip, NULL);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

static int prepare(const struct backend_env *env, struct ipsec_conf *cfg, unsigned *mtu, char *msg,
		   size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	const char *sock = getenv(SOCKET_ENV);
	unsigned over = IPSEC_OVERHEAD;

	if (ipsec_conf_parse(json, strlen(json), cfg, msg, msglen) < 0)
		return -EINVAL;
	if (sock && *sock &&
	    ipsec_socket_path(sock, cfg->vici_socket, sizeof(cfg->vici_socket)) < 0) {
		snprintf(msg, msglen, "%s must be an absolute path or unix:///path", SOCKET_ENV);
		return -EINVAL;
	}
	if (env->conf->enable_ipv6) {
		snprintf(msg, msglen, "the ipsec backend has no IPv6 (EnableIPv6)");
		return -EINVAL;
	}
	if (env->ext->addr == 0)
		return backend_no_address(env, false, "ipsec", msg, msglen);
	if (cfg->udp_encap)
		over += IPSEC_UDPENCAP_OVERHEAD;
	if (env->ext->mtu < 68 + over) {
		snprintf(msg, msglen, "the MTU of %s (%u) is too small for ipsec", env->ext->name,
			 env->ext->mtu);
		return -EINVAL;
	}
	*mtu = env->ext->mtu - over;
	snprintf(msg, msglen, "the MTU of %s (%u) minus %u for IPsec%s", env->ext->name,
		 env->ext->mtu, over, cfg->udp_encap ? " with UDP encapsulation" : "");
	return 0;
}

static int ipsec_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct ipsec_conf *cfg = malloc(sizeof(*cfg));
	int r;

	if (!cfg)
		return -ENOMEM;
	r = prepare(env, cfg, mtu, msg, msglen);
	explicit_bzero(cfg, sizeof(*cfg));
	free(cfg);
	return r;
}

static void ipsec_close(struct backend *b)
{
	if (!b)
		return;
	/* charon, its connections and the policies stay: a restart disturbs nothing. */
	loop_timer_cancel(b->loop, &b->tick);
	vici_client_free(b->vici); /* pending answers are dropped (-ECANCELED) */
	seen_clear(b);
	free(b->seen);
	free(b->peers);
	explicit_bzero(&b->cfg, sizeof(b->cfg));
	free(b);
}

static int ipsec_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		      struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	char msg[256];
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->public_ip = env->public_ip ? env->public_ip : env->ext->addr;
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->load_limit = LOG_LIMIT(20, 60000);
	loop_timer_init(&b->tick, tick, b);
	r = prepare(env, &b->cfg, mtu, msg, sizeof(msg));
	if (r < 0) {
		log_error("Invalid ipsec backend config: %s", msg);
		goto fail;
	}
	log_info("IPSec config: UDPEncap=%s ESPProposal=%s VICISocket=%s",
		 b->cfg.udp_encap ? "true" : "false", b->cfg.esp_proposal, b->cfg.vici_socket);
	r = vici_client_new(b->loop, b->cfg.vici_socket, VICI_TIMEOUT_MS, &b->vici);
	if (r < 0)
		goto fail;
	if (!ipsec_find_charon(b->charon, sizeof(b->charon))) {
		/* A charon already serving the socket will do; without one we cannot work. */
		if (!vici_socket_listens(b->cfg.vici_socket)) {
			log_error("No valid charon executable found at paths [charon "
				  "/usr/lib/strongswan/charon /usr/lib/ipsec/charon "
				  "/usr/libexec/strongswan/charon /usr/libexec/ipsec/charon], and "
				  "none answers on %s",
				  b->cfg.vici_socket);
			r = -ENOENT;
			goto fail;
		}
		log_warnx("No charon executable found: a killed charon cannot be restarted");
	}
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	tick(b);
	*ret = b;
	return 0;
fail:
	ipsec_close(b);
	return r;
}

const struct backend_ops backend_ipsec_ops = {
	.name = TYPE,
	BACKEND_OPS_COMMON(ipsec),
};
