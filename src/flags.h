/* SPDX-License-Identifier: Apache-2.0 */
/* Command line and FLANNELD_* environment, compatible with upstream's etcd mode. */
#ifndef FLANNELD_FLAGS_H
#define FLANNELD_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct strlist {
	char **v;
	size_t n;
};

struct options {
	struct strlist etcd_endpoints; /* split on ',' */
	char *etcd_prefix;
	char *etcd_keyfile, *etcd_certfile, *etcd_cafile;
	char *etcd_username, *etcd_password;
	char *etcd_password_file;   /* not upstream: the password, read from this file */
	struct strlist iface;	    /* repeatable */
	struct strlist iface_regex; /* repeatable */
	char *iface_can_reach;
	char *subnet_file;
	char *public_ip, *public_ipv6;
	int subnet_lease_renew_margin; /* minutes, 1..1439 */
	int subnet_lease_ttl;	       /* seconds; not upstream: for tests of expiry */
	bool ip_masq;
	bool ip_masq_fully_random_disable;
	bool kube_subnet_mgr;
	char *kube_api_url, *kube_annotation_prefix, *kubeconfig_file;
	char *net_config_path;
	bool set_node_network_unavailable;
	bool version;
	bool help;
	char *healthz_ip;
	int healthz_port;
	int iptables_resync;
	bool iptables_forward_rules;
	bool ip_blackhole_route;
	int v;
	char *vmodule;
	char *log_backtrace_at;
	bool check_config;    /* --check-config: print the effective config and exit */
	bool nexthop_objects; /* not upstream: routes through nexthop objects */
};

/*
 * Parse argv then FLANNELD_* from envp (the command line wins; empty values
 * are ignored). On a bad flag or value returns -EINVAL with a one-line message
 * naming the flag in err. Defaults are upstream's.
 */
int flags_parse(int argc, char *const *argv, char *const *envp, struct options *ret, char *err,
		size_t errlen);
void flags_free(struct options *o);
/* Usage text listing every flag with its default. */
void flags_usage(FILE *out);

#endif
