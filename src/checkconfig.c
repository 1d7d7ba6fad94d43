/* SPDX-License-Identifier: Apache-2.0 */
/* --check-config: one etcd read under a deadline, then the daemon's own checks, read-only. */
#include "checkconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "brnf.h"
#include "config.h"
#include "daemon.h"
#include "etcd/etcd.h"
#include "flags.h"
#include "iface.h"
#include "ip.h"
#include "loop.h"
#include "textutil.h"

/* etcd retries transport errors forever by itself; we give up after this. */
#define CHECK_DEADLINE_MS 5000
#define CHECK_REQUEST_MS  2000

struct check {
	struct loop *loop;
	struct etcd *etcd;
	struct loop_timer deadline;
	const char *key;
	int code;
	bool found;
	char *value;
	size_t value_len;
	char err[512];
};

static void config_reply(void *arg, const struct etcd_reply *r)
{
	struct check *c = arg;

	loop_timer_cancel(c->loop, &c->deadline);
	loop_stop(c->loop);
	if (r->err) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "reading %s from etcd failed: %s", c->key,
			 r->message ? r->message : strerror(-r->err));
		return;
	}
	if (r->n_kvs == 0) {
		c->code = CHECK_INVALID;
		snprintf(c->err, sizeof(c->err),
			 "no network config: %s not found in etcd (create it with the etcd v3 API, "
			 "e.g. etcdctl put %s '{\"Network\":\"10.5.0.0/16\"}')",
			 c->key, c->key);
		return;
	}
	c->value = malloc(r->kvs[0].value_len + 1);
	if (!c->value) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "out of memory");
		return;
	}
	memcpy(c->value, r->kvs[0].value, r->kvs[0].value_len);
	c->value[r->kvs[0].value_len] = '\0';
	c->value_len = r->kvs[0].value_len;
	c->found = true;
}

static void deadline_hit(void *arg)
{
	struct check *c = arg;
	const char *why = etcd_last_error(c->etcd);

	c->code = CHECK_ETCD_ERROR;
	snprintf(c->err, sizeof(c->err), "etcd did not answer within %d s: %s",
		 CHECK_DEADLINE_MS / 1000, *why ? why : "no reply");
	loop_stop(c->loop);
}

/* Read the config value into c (found, or code and err set). */
static void read_config(const struct options *opts, struct check *c)
{
	struct etcd_opts eo;
	int r;

	r = loop_new(&c->loop);
	if (r < 0) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "cannot create the event loop: %s", strerror(-r));
		return;
	}
	daemon_etcd_opts(opts, &eo);
	eo.request_timeout_ms = CHECK_REQUEST_MS;
	r = etcd_new(c->loop, &eo, &c->etcd);
	if (r < 0) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "cannot create the etcd client: %s", strerror(-r));
		goto out;
	}
	r = etcd_range(c->etcd, c->key, strlen(c->key), NULL, 0, 0, 0, config_reply, c);
	if (r < 0) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "cannot query etcd: %s", strerror(-r));
		goto out;
	}
	loop_timer_init(&c->deadline, deadline_hit, c);
	loop_timer_arm(c->loop, &c->deadline, CHECK_DEADLINE_MS);
	r = loop_run(c->loop);
	if (r < 0 && !c->err[0]) {
		c->code = CHECK_ETCD_ERROR;
		snprintf(c->err, sizeof(c->err), "event loop failed: %s", strerror(-r));
	}
	loop_timer_cancel(c->loop, &c->deadline);
out:
	etcd_free(c->etcd);
	c->etcd = NULL;
	loop_free(c->loop);
	c->loop = NULL;
}

static int problem(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message may quote etcd's text: its control bytes are escaped, as in the log. */
static int problem(int code, const char *fmt, ...)
{
	char msg[1024], safe[4 * sizeof(msg) + 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "flanneld: --check-config: %s\n", text_escape_ctl(msg, safe, sizeof(safe)));
	return code;
}

static void print_network(const struct netconf *conf)
{
	char net[IP_STRLEN], lo[16], hi[16];
	uint32_t size = (uint32_t)1 << (32 - conf->subnet_len);

	printf("Network:     %s\n", ip4net_format(&conf->network, net));
	printf("SubnetLen:   %u\n", conf->subnet_len);
	printf("SubnetMin:   %s\n", ip4_format(conf->subnet_min, lo));
	printf("SubnetMax:   %s\n", ip4_format(conf->subnet_max, hi));
	if (conf->subnet_min <= conf->subnet_max)
		printf("Subnets:     %llu (%s/%u to %s/%u)\n",
		       (unsigned long long)((conf->subnet_max - conf->subnet_min) / size) + 1, lo,
		       conf->subnet_len, hi, conf->subnet_len);
}

static void print_ipv6(const struct netconf *conf)
{
	char net[IP_STRLEN], lo[IP_STRLEN], hi[IP_STRLEN];

	printf("IPv6Network:     %s\n", ip6net_format(&conf->ipv6_network, net));
	printf("IPv6SubnetLen:   %u\n", conf->ipv6_subnet_len);
	printf("IPv6SubnetMin:   %s\n", ip6_format(&conf->ipv6_subnet_min, lo));
	printf("IPv6SubnetMax:   %s\n", ip6_format(&conf->ipv6_subnet_max, hi));
}

/* iptables mode: whether br_netfilter's sysctls are there (a warning, not a problem). */
static void print_brnf(const struct netconf *conf)
{
	char missing[80], msg[400];

	if (conf->enable_nftables)
		return;
	if (!brnf_missing(BRNF_SYSCTL_DIR, conf->enable_ipv4, conf->enable_ipv6, missing,
			  sizeof(missing))) {
		printf("br_netfilter: loaded\n");
		return;
	}
	brnf_describe(missing, msg, sizeof(msg));
	printf("br_netfilter: not loaded: %s\n", msg);
}

/* Everything after the config parsed: stacks, backend, interface, MTU. */
static int check_parsed(const struct options *opts, const struct netconf *conf)
{
	struct backend_env env = { .conf = conf };
	const struct backend_ops *bops;
	struct iface ext;
	uint32_t public_ip;
	char msg[512], a[16], b[16], safe[4 * sizeof(conf->backend_type) + 8];
	unsigned mtu = 0;
	int r;

	if (!conf->enable_ipv4 && !conf->enable_ipv6)
		return problem(CHECK_INVALID, "EnableIPv4 and EnableIPv6 are both false: none "
					      "defined stack");
	if (conf->enable_ipv4)
		print_network(conf);
	if (conf->enable_ipv6)
		print_ipv6(conf);
	if (conf->enable_ipv4 && conf->subnet_min > conf->subnet_max)
		return problem(CHECK_INVALID,
			       "SubnetMin %s is above SubnetMax %s: no subnet to lease",
			       ip4_format(conf->subnet_min, a), ip4_format(conf->subnet_max, b));
	printf("Backend:     %s\n", text_escape_ctl(conf->backend_type, safe, sizeof(safe)));
	print_brnf(conf);
	bops = backend_find(conf->backend_type);
	if (!bops)
		return problem(CHECK_INVALID, "%s backend type: \"%s\"",
			       backend_known_but_missing(conf->backend_type) ? "not supported yet:"
									     : "unknown",
			       conf->backend_type);
	if (conf->enable_ipv6 && !bops->ipv6)
		return problem(CHECK_INVALID,
			       "not supported yet: IPv6 (EnableIPv6) with backend %s", bops->name);
	r = iface_select(opts, &ext, &public_ip, msg, sizeof(msg));
	if (r < 0)
		return problem(CHECK_INVALID, "no interface to use: %s", msg);
	printf("Interface:   %s (address %s, MTU %u)\n", ext.name, ip4_format(ext.addr, a),
	       ext.mtu);
	printf("PublicIP:    %s\n", ip4_format(public_ip, b));
	env.ext = &ext;
	env.public_ip = public_ip;
	if (conf->enable_ipv6) {
		/* As the daemon picks it: --public-ipv6, else the interface's global address. */
		const char *flag = opts->public_ipv6;
		char v6[IP_STRLEN];

		if (flag && *flag) {
			if (ip6_parse(flag, &env.public_ipv6) < 0)
				return problem(CHECK_INVALID,
					       "--public-ipv6: invalid public IPv6 address: %s",
					       flag);
		} else if (iface_ipv6_addr(ext.name, &env.public_ipv6) < 0) {
			return problem(
				CHECK_INVALID,
				"EnableIPv6: %s has no global IPv6 address and --public-ipv6 "
				"is not set",
				ext.name);
		}
		env.has_public_ipv6 = true;
		printf("PublicIPv6:  %s\n", ip6_format(&env.public_ipv6, v6));
	}
	if (!conf->enable_ipv4)
		env.public_ip = 0;
	if (!bops->check) {
		printf("MTU:         (known once the %s backend starts)\n", bops->name);
		return CHECK_OK;
	}
	r = bops->check(&env, &mtu, msg, sizeof(msg));
	if (r < 0)
		return problem(CHECK_INVALID, "invalid %s backend config: %s", bops->name, msg);
	printf("MTU:         %u (%s)\n", mtu, msg);
	return CHECK_OK;
}

int checkconfig_run(const struct options *opts)
{
	struct check c = { .code = CHECK_OK };
	struct netconf conf;
	char *prefix, *key = NULL, err[512];
	int code;

	prefix = daemon_clean_prefix(opts->etcd_prefix);
	if (!prefix || asprintf(&key, "%s/config", prefix) < 0) {
		free(prefix);
		return problem(CHECK_ETCD_ERROR, "out of memory");
	}
	c.key = key;
	read_config(opts, &c);
	if (!c.found) {
		code = problem(c.code, "%s", c.err);
		goto out;
	}
	printf("Config key:  %s\n", key);
	if (netconf_parse(c.value, c.value_len, &conf, err, sizeof(err)) < 0) {
		code = problem(CHECK_INVALID, "invalid network config in %s: %s", key, err);
		goto out;
	}
	code = check_parsed(opts, &conf);
	netconf_free(&conf);
	if (code == CHECK_OK)
		printf("The network config is valid.\n");
out:
	fflush(stdout);
	free(c.value);
	free(key);
	free(prefix);
	return code;
}
