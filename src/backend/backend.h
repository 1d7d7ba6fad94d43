/* SPDX-License-Identifier: Apache-2.0 */
/* The backend interface: what the lease manager drives to program the data path. */
#ifndef FLANNELD_BACKEND_H
#define FLANNELD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ip.h"

struct backend;
struct lease;
struct lease_attrs;
struct loop;
struct netconf;
struct iface;

/* What every backend gets at init. */
struct backend_env {
	struct loop *loop;
	const struct netconf *conf;
	const struct iface *ext; /* the external interface, its address and MTU */
	uint32_t public_ip;	 /* host byte order; 0 in IPv6-only mode */
	bool has_public_ipv6;	 /* IPv6 networks (conf->enable_ipv6) */
	struct ip6 public_ipv6;
	bool nexthop_objects; /* route through nexthop objects where the kernel has them */
	/* The backend changed our lease's attributes (a new VTEP MAC): publish them. */
	void (*lease_attrs_changed)(void *arg);
	void *arg;
};

struct backend_ops {
	const char *name; /* as in Backend.Type, lower case */
	bool ipv6;	  /* handles IPv6 subnets (EnableIPv6) */
	/*
	 * Create devices; fill our lease's BackendType/BackendData; report the
	 * MTU. attrs stays valid while the backend lives (it may update it).
	 */
	int (*init)(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		    struct backend **ret);
	/*
	 * --check-config: check the Backend options and compute the MTU init
	 * would report, touching nothing (env->loop is NULL). msg says how the
	 * MTU follows ("the MTU of eth0 (1500) minus 50 for VXLAN"), or on
	 * failure (negative errno) what is wrong, naming the field. NULL: the
	 * backend has nothing to check and the MTU is known only at init.
	 */
	int (*check)(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen);
	/* Our own lease is held (again): configure the device for it. */
	int (*own_lease)(struct backend *b, const struct lease *own);
	/* A remote lease appeared or changed (idempotent). */
	void (*lease_added)(struct backend *b, const struct lease *l);
	void (*lease_removed)(struct backend *b, const struct lease *l);
	/*
	 * Optional: remote leases read by the first listing so far, before our
	 * own lease is held: a head start on programming them where the kernel
	 * holds nothing they could clash with. resync() still decides.
	 */
	void (*prefill)(struct backend *b, const struct lease *const *l, size_t n);
	/* The full set of remote leases after a (re)list: converge to exactly it. */
	void (*resync)(struct backend *b, const struct lease *const *all, size_t n);
	/* Prometheus text for the backend's own metrics (optional: NULL). */
	void (*metrics)(struct backend *b, FILE *out);
	/* Release user-space resources; kernel state stays (NULL-safe). */
	void (*close)(struct backend *b);
};

/* Case-insensitive lookup by Backend.Type; NULL when unknown. */
const struct backend_ops *backend_find(const char *type);
/* True for types upstream knows that this build does not implement yet. */
bool backend_known_but_missing(const char *type);
/*
 * The members every backend's ops table has, for a backend whose functions
 * are named <prefix>_init, _check, _own_lease, _lease_added,
 * _lease_removed, _resync and _close.
 */
#define BACKEND_OPS_COMMON(prefix)                                                                 \
	.init = prefix##_init, .check = prefix##_check, .own_lease = prefix##_own_lease,           \
	.lease_added = prefix##_lease_added, .lease_removed = prefix##_lease_removed,              \
	.resync = prefix##_resync, .close = prefix##_close

/* Where the device MTU comes from (Backend.MTU, else the external interface's) into msg. */
void backend_mtu_explain(const struct backend_env *env, unsigned conf_mtu, unsigned overhead,
			 const char *what, char *msg, size_t msglen);
/* "The external interface has no IPv4 (v6: IPv6) address for <what>" into msg; -EADDRNOTAVAIL. */
int backend_no_address(const struct backend_env *env, bool v6, const char *what, char *msg,
		       size_t msglen);
/*
 * The device MTU: Backend.MTU (conf_mtu; 0: none), else the external
 * interface's, minus overhead, explained in msg as above. -EINVAL (why in
 * msg) when that leaves less than IPv4's least MTU (68).
 */
int backend_mtu(const struct backend_env *env, unsigned conf_mtu, unsigned overhead,
		const char *what, unsigned *mtu, char *msg, size_t msglen);

extern const struct backend_ops backend_alloc_ops;
extern const struct backend_ops backend_hostgw_ops;
extern const struct backend_ops backend_vxlan_ops;
extern const struct backend_ops backend_udp_ops;
extern const struct backend_ops backend_ipip_ops;
extern const struct backend_ops backend_wireguard_ops;
extern const struct backend_ops backend_extension_ops;
extern const struct backend_ops backend_ipsec_ops;

#endif
