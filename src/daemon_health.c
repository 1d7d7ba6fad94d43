/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the daemon tells its health listener: /readyz (our lease held,
 * subnet.env written, etcd reachable or only briefly not) and /metrics
 * (leases, etcd and watch counters, br_netfilter, the backend's own).
 */
#include <stdio.h>

#include "backend/backend.h"
#include "brnf.h"
#include "daemon_impl.h"
#include "etcd/etcd.h"
#include "health.h"
#include "lease/leasecache.h"
#include "lease/leasewatch.h"
#include "lease/ownlease.h"
#include "loop.h"

/* /readyz turns 503 once etcd has been unreachable this long. */
#define ETCD_GRACE_MS 10000

static bool is_ready(void *arg)
{
	struct daemon *d = arg;
	uint64_t since = etcd_unreachable_since(d->etcd);

	if (!d->env_written || !d->own || !ownlease_held(d->own))
		return false;
	return since == 0 || loop_now_ms() - since < ETCD_GRACE_MS;
}

static size_t remote_lease_count(struct daemon *d)
{
	struct leasecache *c;
	struct lease *l;
	size_t pos = 0, n = 0;

	if (!d->watch)
		return 0;
	c = leasewatch_cache(d->watch);
	while ((l = leasecache_next(c, &pos)))
		if (l->has_attrs && !daemon_is_own_key(d, l))
			n++;
	return n;
}

static void metric(FILE *out, const char *name, const char *type, const char *help,
		   unsigned long long v)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

static void write_metrics(void *arg, FILE *out)
{
	struct daemon *d = arg;
	struct leasewatch_stats ws = { 0 };
	struct etcd_stats es;

	if (d->watch)
		leasewatch_get_stats(d->watch, &ws);
	etcd_get_stats(d->etcd, &es);
	metric(out, "flannel_leases_known", "gauge", "Remote subnet leases known.",
	       remote_lease_count(d));
	metric(out, "flannel_own_lease_expiry_seconds", "gauge",
	       "Unix time our etcd lease expires (0: none, or a reservation).",
	       d->own ? (unsigned long long)ownlease_expiry(d->own) : 0);
	metric(out, "flannel_lease_acquisitions_total", "counter",
	       "Times our own lease was acquired.", d->own ? ownlease_acquisitions(d->own) : 0);
	metric(out, "flannel_watch_events_total", "counter", "Lease watch events applied.",
	       ws.events);
	metric(out, "flannel_resyncs_total", "counter", "Lease re-lists after watch compaction.",
	       ws.resyncs);
	metric(out, "flannel_bad_leases_total", "counter",
	       "Malformed lease keys or values skipped.", ws.bad_leases);
	metric(out, "flannel_lease_cache_capped_total", "counter",
	       "Leases ignored, or BackendData dropped, for the lease cache's caps.", ws.capped);
	metric(out, "flannel_lease_cache_bytes", "gauge",
	       "Bytes the lease cache holds (entries, keys, BackendData).", ws.cache_bytes);
	metric(out, "flannel_etcd_requests_total", "counter", "HTTP requests sent to etcd.",
	       es.requests);
	metric(out, "flannel_etcd_request_errors_total", "counter",
	       "etcd requests that failed (transport errors and error answers).", es.errors);
	metric(out, "flannel_etcd_watch_reconnects_total", "counter", "Watch stream reconnects.",
	       es.watch_reconnects);
	metric(out, "flannel_etcd_watch_messages_total", "counter",
	       "Watch response messages received from etcd (one can carry many events).",
	       es.watch_messages);
	metric(out, "flannel_ready", "gauge", "1 when /readyz answers 200.", is_ready(d));
	if (d->have_conf && !d->conf.enable_nftables)
		metric(out, "flannel_br_netfilter", "gauge",
		       "1 when the bridge-nf-call sysctls iptables mode needs exist (br_netfilter "
		       "loaded), 0 when not.",
		       !brnf_missing(BRNF_SYSCTL_DIR, d->conf.enable_ipv4, d->conf.enable_ipv6,
				     NULL, 0));
	if (d->backend && d->bops->metrics)
		d->bops->metrics(d->backend, out);
}

const struct health_ops daemon_health_ops = {
	.ready = is_ready,
	.metrics = write_metrics,
};
