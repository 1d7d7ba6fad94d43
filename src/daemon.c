/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start-up order (DESIGN.md): previous subnet.env, etcd client and health
 * listener, config (retried until valid), backend, lease list, own lease,
 * masquerade rules (--ip-masq: waited for as a loop event), subnet.env +
 * readiness, then the watch feeding the backend; the forward rules follow
 * in the background, never waited for. What /readyz and /metrics report
 * is daemon_health.c's.
 */
#include "daemon.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "blackhole.h"
#include "brnf.h"
#include "config.h"
#include "daemon_impl.h"
#include "etcd/etcd.h"
#include "flags.h"
#include "health.h"
#include "iface.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasecheck.h"
#include "lease/leasewatch.h"
#include "log.h"
#include "loop.h"
#include "masq.h"
#include "lease/ownlease.h"
#include "sdnotify.h"
#include "subnetenv.h"

#define CONFIG_RETRY_MS 1000
/* Repeat an unchanged config error at most this often. */
#define CONFIG_LOG_EVERY_MS 10000

char *daemon_clean_prefix(const char *prefix)
{
	size_t n = strlen(prefix);
	char *out = malloc(n + 2), *p = out;
	const char *s = prefix;

	if (!out)
		return NULL;
	/* Split on '/', drop empty and "." elements, let ".." pop one. */
	while (*s) {
		const char *e;
		size_t len;

		while (*s == '/')
			s++;
		e = strchrnul(s, '/');
		len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.')) {
			/* skip */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (p > out && *--p != '/')
				;
		} else {
			if (p > out || prefix[0] == '/')
				*p++ = '/';
			memcpy(p, s, len);
			p += len;
		}
		s = e;
	}
	*p = '\0';
	return out;
}

static void log_config_error(struct daemon *d, const char *msg)
{
	uint64_t now = loop_now_ms();

	if (strcmp(msg, d->last_config_err) == 0 && now - d->last_config_log < CONFIG_LOG_EVERY_MS)
		return;
	snprintf(d->last_config_err, sizeof(d->last_config_err), "%s", msg);
	d->last_config_log = now;
	log_warnx("Couldn't fetch network config: %s (retrying every 1s)", msg);
	sd_notify_status(NULL, "Waiting for the network config: %s", msg);
}

/* The etcd client retries by itself; say once per change why it is failing. */
static void check_etcd(void *arg)
{
	struct daemon *d = arg;
	const char *err = etcd_last_error(d->etcd);

	if (strcmp(err, d->last_etcd_err) != 0) {
		if (*err)
			log_warnx("etcd request failed: %s; retrying with backoff", err);
		else if (*d->last_etcd_err)
			log_info("etcd is answering again");
		snprintf(d->last_etcd_err, sizeof(d->last_etcd_err), "%s", err);
	}
	loop_timer_arm(d->loop, &d->etcd_check_timer, 1000);
}

static void fatal_stop(struct daemon *d, const char *msg)
{
	log_error("%s", msg);
	sd_notify_status(NULL, "Failed: %s", msg);
	d->exit_code = 1;
	loop_stop(d->loop);
}

bool daemon_is_own_key(const struct daemon *d, const struct lease *l)
{
	return d->own && ownlease_owns_key(d->own, l->key);
}

/*
 * Our subnets, as far as known: the lease we hold, else (before the first
 * acquisition) the one subnet.env had, which we are likely to get back.
 */
static const struct subnet_key *own_subnets(struct daemon *d, struct subnet_key *buf)
{
	if (d->has_own_subnet)
		return &d->own_key_subnet;
	if (!d->has_prev_subnet && !d->prev.has_ipv6_subnet)
		return NULL;
	*buf = (struct subnet_key){ 0 };
	if (d->has_prev_subnet)
		buf->v4 = d->prev.subnet;
	buf->has_v6 = d->prev.has_ipv6_subnet;
	if (buf->has_v6)
		buf->v6 = d->prev.ipv6_subnet;
	return buf;
}

/*
 * Whatever etcd says, we route only to subnets of our network, of its
 * SubnetLen, and never to one that overlaps ours: a lease written by
 * mistake (or malice) could otherwise point the underlay's own subnet, or
 * half of our own containers, at a peer. Upstream programs it; we skip
 * it, saying why (rate limited). Every backend gets leases through here.
 */
static bool routable(struct daemon *d, const struct lease *l, bool quiet)
{
	struct subnet_key prev;
	char why[200];

	if (lease_subnet_check(&d->conf, &l->subnet, own_subnets(d, &prev), why, sizeof(why)) == 0)
		return true;
	if (!quiet && log_limit_ok(&d->outside_limit, "leases that are not ours to route"))
		log_warnx("Ignoring lease %s: %s", l->key, why);
	return false;
}

/* Every remote lease with a usable value: what the backend converges to. */
static void backend_resync(struct daemon *d)
{
	struct leasecache *c = leasewatch_cache(d->watch);
	size_t n = leasecache_count(c), k = 0, pos = 0;
	const struct lease **all = malloc((n ? n : 1) * sizeof(*all));
	struct lease *l;

	if (!all) {
		log_error("Out of memory resyncing the backend");
		return;
	}
	while ((l = leasecache_next(c, &pos)))
		if (l->has_attrs && !daemon_is_own_key(d, l) && routable(d, l, false))
			all[k++] = l;
	d->bops->resync(d->backend, all, k);
	free(all);
}

static void lease_added(void *arg, const struct lease *l)
{
	struct daemon *d = arg;
	char buf[IP_STRLEN], pub[16];

	if (d->own && ownlease_key_changed(d->own, l))
		return;
	/* Before that, listed leases: "Listed N leases" says it, the resync programs them. */
	if (!d->backend_live)
		return;
	log_debug(1, "Lease added: %s PublicIP %s", ip4net_format(&l->subnet.v4, buf),
		  ip4_format(l->attrs.public_ip, pub));
	if (routable(d, l, false))
		d->bops->lease_added(d->backend, l);
}

static void lease_removed(void *arg, const struct lease *l)
{
	struct daemon *d = arg;
	char buf[IP_STRLEN];

	if (d->own && ownlease_key_deleted(d->own, l))
		return;
	log_debug(1, "Lease removed: %s", ip4net_format(&l->subnet.v4, buf));
	/* Backends find a peer by its subnet: a lease never routed must not remove
	 * the honest one with the same subnet (a resync already dropped any that
	 * stopped being routable when our subnet changed). */
	if (d->backend_live && l->has_attrs && routable(d, l, true))
		d->bops->lease_removed(d->backend, l);
}

/*
 * A page of the first listing, before the backend is live: remote leases
 * that cannot turn out to be ours get a head start (the resync that goes
 * live still converges to the whole list). Warnings wait for that resync.
 */
static void leases_page(void *arg, const struct lease *const *page, size_t n)
{
	struct daemon *d = arg;
	const struct lease **ok;
	size_t k = 0;

	if (d->backend_live || !d->bops->prefill || !(ok = malloc((n ? n : 1) * sizeof(*ok))))
		return;
	for (size_t i = 0; i < n; i++)
		if (!ownlease_may_own(d->own, page[i]) && routable(d, page[i], true))
			ok[k++] = page[i];
	d->bops->prefill(d->backend, ok, k);
	free(ok);
}

static void leases_listed(void *arg, int64_t revision, bool first)
{
	struct daemon *d = arg;

	if (first) {
		ownlease_acquire(d->own);
		return;
	}
	if (d->backend_live)
		backend_resync(d);
}

static const struct leasewatch_ops watch_ops = {
	.added = lease_added,
	.removed = lease_removed,
	.page = leases_page,
	.listed = leases_listed,
};

static int write_subnet_env(struct daemon *d, const struct subnet_key *own)
{
	struct subnetenv env = { 0 };
	int r;

	env.has_network = env.has_subnet = d->conf.enable_ipv4;
	env.network = d->conf.network;
	env.subnet = own->v4;
	env.has_ipv6_network = env.has_ipv6_subnet = d->conf.enable_ipv6 && own->has_v6;
	env.ipv6_network = d->conf.ipv6_network;
	env.ipv6_subnet = own->v6;
	env.has_mtu = true;
	env.mtu = d->mtu;
	env.has_ipmasq = true;
	env.ipmasq = d->opts->ip_masq;
	r = subnetenv_write(d->opts->subnet_file, &env);
	if (r < 0)
		return r;
	d->env_subnet = own->v4;
	log_info("Wrote subnet file to %s", d->opts->subnet_file);
	return 0;
}

/* subnet.env for our lease, then (the first time) readiness and the backend. */
static void publish_lease(struct daemon *d)
{
	char a[IP_STRLEN];
	int r;

	r = write_subnet_env(d, &d->own_subnet);
	if (r < 0) {
		log_error("Failed to write subnet file %s: %s", d->opts->subnet_file, strerror(-r));
		d->exit_code = 1;
		loop_stop(d->loop);
		return;
	}
	if (d->env_written)
		return;
	d->env_written = true;
	log_info("flannel is ready");
	/* Only now: units ordered after us read subnet.env once we are "started". */
	r = sd_notify_status("READY=1", "Running with subnet %s, backend %s",
			     ip4net_format(&d->own_subnet.v4, a), d->bops->name);
	if (r < 0)
		log_warnx("Failed to notify systemd ($NOTIFY_SOCKET): %s", strerror(-r));
	d->backend_live = true;
	log_info("Running backend.");
	backend_resync(d);
}

static void masq_ready(void *arg, int r, const char *err)
{
	struct daemon *d = arg;

	if (r < 0) {
		log_error("Failed to set up IP masquerade: %s", err);
		d->exit_code = 1;
		loop_stop(d->loop);
		return;
	}
	publish_lease(d);
}

/*
 * Masquerade and forward rules for our subnet, from the loop. Masquerading
 * goes in before subnet.env tells containers to start, as upstream orders
 * it, and without it we stop (a negative errno here, or masq_ready()).
 * Forward rules are on by default and hold nothing up: they follow in the
 * background, and without iptables we go on without them, saying so.
 */
static int setup_rules(struct daemon *d)
{
	struct masq_config mc = {
		.masq = d->opts->ip_masq,
		.forward = d->opts->iptables_forward_rules,
		.nftables = d->conf.enable_nftables,
		.random_fully = !d->opts->ip_masq_fully_random_disable,
		.resync_s = (unsigned)d->opts->iptables_resync,
		.etcd_prefix = d->prefix,
		.default_prefix = strcmp(d->prefix, "/coreos.com/network") == 0,
	};
	struct masq_nets nets;
	int r;

	if (!mc.masq && !mc.forward)
		return 0;
	if (!d->masq) {
		r = masq_new(d->loop, &mc, &d->masq);
		if (r < 0)
			return mc.masq ? r : 0;
	}
	nets = (struct masq_nets){
		.v4 = d->conf.enable_ipv4,
		.network = d->conf.network,
		.subnet = d->own_subnet.v4,
		.v6 = d->conf.enable_ipv6 && d->own_subnet.has_v6,
		.network6 = d->conf.ipv6_network,
		.subnet6 = d->own_subnet.v6,
	};
	masq_apply(d->masq, &nets, mc.masq ? masq_ready : NULL, d);
	return 0;
}

static void lease_acquired(void *arg, const struct lease *own)
{
	struct daemon *d = arg;
	char a[IP_STRLEN], b[IP_STRLEN];
	int r;

	d->own_key_subnet = own->subnet;
	d->has_own_subnet = true;
	r = d->bops->own_lease(d->backend, own);
	if (r < 0) {
		log_error("Configuring the backend for our lease failed: %s", strerror(-r));
		d->exit_code = 1;
		loop_stop(d->loop);
		return;
	}
	if (d->backend_live) {
		/* Events about our key during re-acquisition may have reached the
		 * backend as a remote lease: converge again. */
		backend_resync(d);
	}
	if (d->blackhole)
		blackhole_set(d->blackhole, &own->subnet);
	if (d->env_written && d->env_subnet.addr == own->subnet.v4.addr &&
	    d->env_subnet.len == own->subnet.v4.len)
		return; /* re-acquired the same subnet: nothing changes for containers */
	if (d->env_written) {
		log_error("Our subnet changed from %s to %s: containers on the old subnet must "
			  "be restarted",
			  ip4net_format(&d->env_subnet, a), ip4net_format(&own->subnet.v4, b));
		sd_notify_status(NULL,
				 "Running with subnet %s (changed from %s: restart containers), "
				 "backend %s",
				 b, a, d->bops->name);
	}
	d->own_subnet = own->subnet;
	if (d->opts->ip_masq) {
		/* publish_lease() once the masquerade rules are in: masq_ready(). */
		if (setup_rules(d) < 0) {
			d->exit_code = 1;
			loop_stop(d->loop);
		}
		return;
	}
	publish_lease(d);
	if (d->exit_code == 0)
		setup_rules(d); /* the forward rules, in the background */
}

static void lease_failed(void *arg, const char *msg)
{
	struct daemon *d = arg;
	char buf[300];

	snprintf(buf, sizeof(buf), "Error registering network: %s", msg);
	fatal_stop(d, buf);
}

static const struct ownlease_ops own_ops = {
	.acquired = lease_acquired,
	.failed = lease_failed,
};

static void lease_attrs_changed(void *arg)
{
	struct daemon *d = arg;

	if (d->own && ownlease_attrs_changed(d->own) < 0)
		log_error("Out of memory publishing our lease attributes");
}

/*
 * IPv6 networks: the external interface's IPv6 address, and the PublicIPv6
 * we publish (--public-ipv6, else that address).
 */
static int choose_ipv6(struct daemon *d, char *msg, size_t msglen)
{
	const char *flag = d->opts->public_ipv6;
	char a[IP_STRLEN];
	int r;

	r = iface_ipv6_addr(d->ext.name, &d->ext.addr6);
	d->ext.has_addr6 = r == 0;
	if (flag && *flag) {
		if (ip6_parse(flag, &d->attrs.public_ipv6) < 0) {
			snprintf(msg, msglen, "--public-ipv6: invalid public IPv6 address: %s",
				 flag);
			return -EINVAL;
		}
		log_info("Using %s as external IPv6 address", flag);
	} else if (d->ext.has_addr6) {
		d->attrs.public_ipv6 = d->ext.addr6;
		log_info("Defaulting external v6 address to interface address (%s)",
			 ip6_format(&d->ext.addr6, a));
	} else {
		snprintf(msg, msglen,
			 "EnableIPv6: %s has no global IPv6 address and --public-ipv6 is not set",
			 d->ext.name);
		return r < 0 ? r : -EADDRNOTAVAIL;
	}
	if (d->ext.has_addr6)
		log_info("Using interface with name %s and v6 address %s", d->ext.name,
			 ip6_format(&d->ext.addr6, a));
	d->attrs.has_public_ipv6 = true;
	return 0;
}

static int start_backend(struct daemon *d)
{
	struct backend_env env = {
		.loop = d->loop,
		.conf = &d->conf,
		.ext = &d->ext,
		.public_ip = d->attrs.public_ip,
		.nexthop_objects = d->opts->nexthop_objects,
		.lease_attrs_changed = lease_attrs_changed,
		.arg = d,
	};
	const char *type = d->conf.backend_type;
	struct ownlease_params p;
	char msg[160];
	int r;

	if (!d->conf.enable_ipv4 && !d->conf.enable_ipv6) {
		fatal_stop(d, "none defined stack");
		return -EINVAL;
	}
	d->bops = backend_find(type);
	if (!d->bops) {
		snprintf(msg, sizeof(msg), "%s backend type: %s",
			 backend_known_but_missing(type) ? "not supported yet:" : "unknown", type);
		fatal_stop(d, msg);
		return -ENOTSUP;
	}
	if (d->conf.enable_ipv6 && !d->bops->ipv6) {
		snprintf(msg, sizeof(msg), "not supported yet: IPv6 (EnableIPv6) with backend %s",
			 d->bops->name);
		fatal_stop(d, msg);
		return -ENOTSUP;
	}
	if (d->conf.enable_ipv6) {
		r = choose_ipv6(d, msg, sizeof(msg));
		if (r < 0) {
			fatal_stop(d, msg);
			return r;
		}
		env.has_public_ipv6 = true;
		env.public_ipv6 = d->attrs.public_ipv6;
	}
	if (!d->conf.enable_ipv4) {
		/* IPv6-only: our lease says 0.0.0.0, as upstream's does. */
		d->attrs.public_ip = 0;
		env.public_ip = 0;
	}
	r = d->bops->init(&env, &d->attrs, &d->mtu, &d->backend);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "Error initializing %s backend: %s", d->bops->name,
			 strerror(-r));
		fatal_stop(d, msg);
		return r;
	}
	if (d->opts->ip_blackhole_route) {
		r = blackhole_new(d->loop, &d->blackhole);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "--ip-blackhole-route: %s", strerror(-r));
			fatal_stop(d, msg);
			return r;
		}
	}
	r = leasewatch_new(d->loop, d->etcd, d->prefix, &watch_ops, d, &d->watch);
	if (r < 0)
		return r;
	/* Other hosts' BackendData matters only when our backend reads it, as in ours. */
	r = leasewatch_keep_backend_data(d->watch, d->attrs.backend_type);
	if (r < 0)
		return r;
	p = (struct ownlease_params){
		.prefix = d->prefix,
		.conf = &d->conf,
		.attrs = &d->attrs,
		.has_prev_subnet = d->has_prev_subnet,
		.prev_subnet = d->prev.subnet,
		.has_prev_ipv6_subnet = d->prev.has_ipv6_subnet,
		.prev_ipv6_subnet = d->prev.ipv6_subnet,
		.ttl_s = d->opts->subnet_lease_ttl,
		.renew_margin_s = (int64_t)d->opts->subnet_lease_renew_margin * 60,
	};
	r = ownlease_new(d->loop, d->etcd, d->watch, &p, &own_ops, d, &d->own);
	if (r < 0)
		return r;
	/* The watch starts right after the first listing, so acquisition decides
	 * on a cache that follows etcd; the backend sees nothing until it is live. */
	leasewatch_start_watch(d->watch);
	leasewatch_list(d->watch);
	ownlease_prepare(d->own);
	return 0;
}

/* iptables mode only: nftables rules see bridged traffic without br_netfilter. */
static void warn_brnf(const struct daemon *d)
{
	char missing[80], msg[400];

	if (d->conf.enable_nftables || !brnf_missing(BRNF_SYSCTL_DIR, d->conf.enable_ipv4,
						     d->conf.enable_ipv6, missing, sizeof(missing)))
		return;
	brnf_describe(missing, msg, sizeof(msg));
	log_warnx("br_netfilter is not loaded: %s; continuing without it", msg);
}

static void config_reply(void *arg, const struct etcd_reply *r)
{
	struct daemon *d = arg;
	char err[256], msg[300];

	if (r->err) {
		log_config_error(d, r->message ? r->message : strerror(-r->err));
		goto retry;
	}
	if (r->n_kvs == 0) {
		snprintf(msg, sizeof(msg),
			 "%s not found in etcd store. Did you create your config using etcdv3 API?",
			 d->config_key);
		log_config_error(d, msg);
		goto retry;
	}
	if (netconf_parse(r->kvs[0].value, r->kvs[0].value_len, &d->conf, err, sizeof(err)) < 0) {
		log_config_error(d, err);
		goto retry;
	}
	d->have_conf = true;
	log_info("Found network config - Backend type: %s", d->conf.backend_type);
	warn_brnf(d);
	sd_notify_status(NULL, "Acquiring a subnet lease (backend %s)", d->conf.backend_type);
	if (start_backend(d) < 0 && d->exit_code == 0)
		fatal_stop(d, "Failed to start the lease manager: out of memory");
	return;
retry:
	loop_timer_arm(d->loop, &d->config_timer, CONFIG_RETRY_MS);
}

static void fetch_config(void *arg)
{
	struct daemon *d = arg;

	if (etcd_range(d->etcd, d->config_key, strlen(d->config_key), NULL, 0, 0, 0, config_reply,
		       d) < 0)
		loop_timer_arm(d->loop, &d->config_timer, CONFIG_RETRY_MS);
}

static void warn_prev(void *arg, const char *msg)
{
	struct daemon *d = arg;

	log_warnx("Ignoring part of previous subnet file %s: %s", d->opts->subnet_file, msg);
}

static void read_previous(struct daemon *d)
{
	char buf[IP_STRLEN];
	int r = subnetenv_read(d->opts->subnet_file, &d->prev, warn_prev, d);

	if (r < 0 && r != -ENOENT)
		log_warnx("Cannot read previous subnet file %s: %s, ignoring it",
			  d->opts->subnet_file, strerror(-r));
	d->has_prev_subnet = r == 0 && d->prev.has_subnet;
	log_info("Created subnet manager: Etcd Local Manager with Previous Subnet: %s",
		 d->has_prev_subnet ? ip4net_format(&d->prev.subnet, buf) : "None");
}

void daemon_etcd_opts(const struct options *opts, struct etcd_opts *ret)
{
	*ret = (struct etcd_opts){ 0 };
	ret->endpoints = (const char *const *)opts->etcd_endpoints.v;
	ret->n_endpoints = opts->etcd_endpoints.n;
	ret->cafile = opts->etcd_cafile && *opts->etcd_cafile ? opts->etcd_cafile : NULL;
	ret->certfile = opts->etcd_certfile && *opts->etcd_certfile ? opts->etcd_certfile : NULL;
	ret->keyfile = opts->etcd_keyfile && *opts->etcd_keyfile ? opts->etcd_keyfile : NULL;
	ret->username = opts->etcd_username && *opts->etcd_username ? opts->etcd_username : NULL;
	ret->password = opts->etcd_password ? opts->etcd_password : "";
}

int daemon_start(struct loop *loop, const struct options *opts, const struct iface *ext,
		 uint32_t public_ip, struct daemon **ret)
{
	struct etcd_opts eo = { 0 };
	struct daemon *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->opts = opts;
	d->loop = loop;
	d->ext = *ext;
	d->attrs.public_ip = public_ip;
	d->outside_limit = LOG_LIMIT(20, 10000);
	loop_timer_init(&d->config_timer, fetch_config, d);
	d->prefix = daemon_clean_prefix(opts->etcd_prefix);
	if (!d->prefix || asprintf(&d->config_key, "%s/config", d->prefix) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	read_previous(d);

	daemon_etcd_opts(opts, &eo);
	r = etcd_new(loop, &eo, &d->etcd);
	if (r < 0) {
		log_error("Failed to create the etcd client: %s", strerror(-r));
		goto fail;
	}
	if (opts->healthz_port > 0) {
		r = health_start(loop, opts->healthz_ip, opts->healthz_port, &daemon_health_ops, d,
				 &d->health);
		if (r < 0) {
			log_error("Failed to start the health server on %s:%d: %s",
				  opts->healthz_ip, opts->healthz_port, strerror(-r));
			goto fail;
		}
	}
	sd_notify_status(NULL, "Fetching the network config %s from etcd", d->config_key);
	loop_timer_arm(loop, &d->config_timer, 0);
	loop_timer_init(&d->etcd_check_timer, check_etcd, d);
	loop_timer_arm(loop, &d->etcd_check_timer, 1000);
	*ret = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

int daemon_exit_code(const struct daemon *d)
{
	return d->exit_code;
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	loop_timer_cancel(d->loop, &d->config_timer);
	loop_timer_cancel(d->loop, &d->etcd_check_timer);
	ownlease_free(d->own);
	leasewatch_free(d->watch);
	masq_free(d->masq);
	blackhole_free(d->blackhole);
	if (d->bops)
		d->bops->close(d->backend);
	health_free(d->health);
	etcd_free(d->etcd);
	if (d->have_conf)
		netconf_free(&d->conf);
	lease_attrs_free(&d->attrs);
	free(d->config_key);
	free(d->prefix);
	free(d);
}
