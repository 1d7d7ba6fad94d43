/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the daemon, shared by daemon.c (start-up order and wiring) and
 * daemon_health.c (what /readyz and /metrics report). Nothing else
 * includes it.
 */
#ifndef FLANNELD_DAEMON_IMPL_H
#define FLANNELD_DAEMON_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "subnetenv.h"

struct daemon {
	const struct options *opts;
	struct loop *loop;
	struct etcd *etcd;
	struct health *health;
	struct leasewatch *watch;
	struct ownlease *own;
	const struct backend_ops *bops;
	struct backend *backend;
	struct masq *masq;	     /* --ip-masq, --iptables-forward-rules */
	struct blackhole *blackhole; /* --ip-blackhole-route */
	struct log_limit outside_limit;

	char *prefix;
	char *config_key;
	struct iface ext;
	struct netconf conf;
	bool have_conf;
	struct lease_attrs attrs;
	unsigned mtu;

	struct subnetenv prev;
	bool has_prev_subnet;
	bool env_written;
	bool backend_live;
	struct subnet_key own_subnet; /* our lease, for subnet.env once the rules are in */
	struct subnet_key
		own_key_subnet; /* the lease we hold now: no remote lease may overlap it */
	bool has_own_subnet;
	struct ip4net env_subnet;

	char last_etcd_err[256];
	struct loop_timer etcd_check_timer;
	char last_config_err[256];
	uint64_t last_config_log;
	struct loop_timer config_timer;
	int exit_code;
};

/* daemon.c: l is the lease we hold (its key is ours). */
bool daemon_is_own_key(const struct daemon *d, const struct lease *l);

/* daemon_health.c: readiness and metrics for the health listener. */
extern const struct health_ops daemon_health_ops;

#endif
