/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for flags.c: defaults, Go flag syntax, FLANNELD_* env, errors, usage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flags.h"

#define MAXARGS 32

/* The API takes char *const * like main(); the tests keep string literals. */
static char *unconst(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* Run flags_parse on a NULL-terminated argv (without argv[0]) and envp. */
static int parse(const char *const *args, const char *const *env, struct options *o, char *err,
		 size_t errlen)
{
	char *argv[MAXARGS + 2], *envp[MAXARGS + 1];
	int argc = 0, n = 0;

	argv[argc++] = unconst("flanneld");
	for (; args && *args; args++) {
		assert_true(argc <= MAXARGS);
		argv[argc++] = unconst(*args);
	}
	argv[argc] = NULL;
	for (; env && *env; env++) {
		assert_true(n < MAXARGS);
		envp[n++] = unconst(*env);
	}
	envp[n] = NULL;
	return flags_parse(argc, argv, env ? envp : NULL, o, err, errlen);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOARGS	  ((const char *const[]){ NULL })
#define ENV(...)  ((const char *const[]){ __VA_ARGS__, NULL })

static void parse_ok(const char *const *args, const char *const *env, struct options *o)
{
	char err[256] = "";
	int r = parse(args, env, o, err, sizeof(err));

	if (r != 0)
		fail_msg("flags_parse failed: %d %s", r, err);
	assert_string_equal(err, "");
}

/* Expect -EINVAL with exactly this message, and a zeroed result. */
static void parse_err(const char *const *args, const char *const *env, const char *msg)
{
	struct options o, zero;
	char err[256] = "";

	memset(&o, 0x5a, sizeof(o));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(parse(args, env, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	assert_memory_equal(&o, &zero, sizeof(o));
	assert_null(strchr(err, '\n'));
	flags_free(&o);
}

static void test_defaults(void **state)
{
	struct options o;

	parse_ok(NOARGS, NULL, &o);
	assert_int_equal(o.etcd_endpoints.n, 2);
	assert_string_equal(o.etcd_endpoints.v[0], "http://127.0.0.1:4001");
	assert_string_equal(o.etcd_endpoints.v[1], "http://127.0.0.1:2379");
	assert_string_equal(o.etcd_prefix, "/coreos.com/network");
	assert_string_equal(o.etcd_keyfile, "");
	assert_string_equal(o.etcd_certfile, "");
	assert_string_equal(o.etcd_cafile, "");
	assert_string_equal(o.etcd_username, "");
	assert_string_equal(o.etcd_password, "");
	assert_int_equal(o.iface.n, 0);
	assert_null(o.iface.v);
	assert_int_equal(o.iface_regex.n, 0);
	assert_string_equal(o.iface_can_reach, "");
	assert_string_equal(o.subnet_file, "/run/flannel/subnet.env");
	assert_string_equal(o.public_ip, "");
	assert_string_equal(o.public_ipv6, "");
	assert_int_equal(o.subnet_lease_renew_margin, 60);
	assert_int_equal(o.subnet_lease_ttl, 86400);
	assert_false(o.ip_masq);
	assert_false(o.ip_masq_fully_random_disable);
	assert_false(o.kube_subnet_mgr);
	assert_string_equal(o.kube_api_url, "");
	assert_string_equal(o.kube_annotation_prefix, "flannel.alpha.coreos.com");
	assert_string_equal(o.kubeconfig_file, "");
	assert_string_equal(o.net_config_path, "/etc/kube-flannel/net-conf.json");
	assert_true(o.set_node_network_unavailable);
	assert_false(o.version);
	assert_false(o.help);
	assert_string_equal(o.healthz_ip, "0.0.0.0");
	assert_int_equal(o.healthz_port, 0);
	assert_int_equal(o.iptables_resync, 5);
	assert_true(o.iptables_forward_rules);
	assert_false(o.ip_blackhole_route);
	assert_int_equal(o.v, 0);
	assert_string_equal(o.vmodule, "");
	assert_string_equal(o.log_backtrace_at, "");
	assert_false(o.check_config);
	assert_true(o.nexthop_objects);
	flags_free(&o);
}

static void test_no_argv_no_env(void **state)
{
	struct options o;
	char err[64];

	assert_int_equal(flags_parse(0, NULL, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(o.subnet_lease_renew_margin, 60);
	flags_free(&o);
	/* A NULL error buffer is allowed. */
	assert_int_equal(parse(ARGS("--bogus"), NULL, &o, NULL, 0), -EINVAL);
	flags_free(&o);
}

static void test_string_syntaxes(void **state)
{
	struct options o;

	parse_ok(ARGS("--etcd-prefix=/a", "-etcd-keyfile=/k", "--etcd-certfile", "/c",
		      "-etcd-cafile", "/ca", "--etcd-username", "u", "--etcd-password=p=w",
		      "--iface-can-reach=10.0.0.1", "--subnet-file", "/tmp/s.env",
		      "--public-ip=1.2.3.4", "--public-ipv6", "fc00::1", "--kube-api-url=https://k",
		      "--kube-annotation-prefix=x.io", "--kubeconfig-file=/kc",
		      "--net-config-path=/n.json", "--healthz-ip", "127.0.0.1", "-vmodule=foo=2",
		      "-log_backtrace_at", "main.go:10"),
		 NULL, &o);
	assert_string_equal(o.etcd_prefix, "/a");
	assert_string_equal(o.etcd_keyfile, "/k");
	assert_string_equal(o.etcd_certfile, "/c");
	assert_string_equal(o.etcd_cafile, "/ca");
	assert_string_equal(o.etcd_username, "u");
	/* Only the first '=' separates name and value. */
	assert_string_equal(o.etcd_password, "p=w");
	assert_string_equal(o.iface_can_reach, "10.0.0.1");
	assert_string_equal(o.subnet_file, "/tmp/s.env");
	assert_string_equal(o.public_ip, "1.2.3.4");
	assert_string_equal(o.public_ipv6, "fc00::1");
	assert_string_equal(o.kube_api_url, "https://k");
	assert_string_equal(o.kube_annotation_prefix, "x.io");
	assert_string_equal(o.kubeconfig_file, "/kc");
	assert_string_equal(o.net_config_path, "/n.json");
	assert_string_equal(o.healthz_ip, "127.0.0.1");
	assert_string_equal(o.vmodule, "foo=2");
	assert_string_equal(o.log_backtrace_at, "main.go:10");
	flags_free(&o);
}

static void test_string_edge_cases(void **state)
{
	struct options o;

	/* Last occurrence wins; an empty value is allowed; "--x v" takes v even if it starts with
	 * '-'. */
	parse_ok(ARGS("--etcd-prefix=/a", "--etcd-prefix=/b", "--etcd-username=", "--public-ip",
		      "--ip-masq"),
		 NULL, &o);
	assert_string_equal(o.etcd_prefix, "/b");
	assert_string_equal(o.etcd_username, "");
	assert_string_equal(o.public_ip, "--ip-masq");
	assert_false(o.ip_masq);
	flags_free(&o);
}

static void test_int_flags(void **state)
{
	struct options o;

	parse_ok(ARGS("--subnet-lease-renew-margin=1", "-healthz-port", "65535",
		      "--iptables-resync=1", "-v", "4", "--subnet-lease-ttl=10"),
		 NULL, &o);
	assert_int_equal(o.subnet_lease_renew_margin, 1);
	assert_int_equal(o.healthz_port, 65535);
	assert_int_equal(o.iptables_resync, 1);
	assert_int_equal(o.v, 4);
	assert_int_equal(o.subnet_lease_ttl, 10);
	flags_free(&o);

	parse_ok(ARGS("--subnet-lease-renew-margin=1439", "--v=0", "--healthz-port=0",
		      "--subnet-lease-ttl=315360000", "--iptables-resync=2147483647"),
		 NULL, &o);
	assert_int_equal(o.subnet_lease_renew_margin, 1439);
	assert_int_equal(o.v, 0);
	assert_int_equal(o.healthz_port, 0);
	assert_int_equal(o.subnet_lease_ttl, 315360000);
	assert_int_equal(o.iptables_resync, 2147483647);
	flags_free(&o);
}

/* Go's strconv.ParseInt(s, 0, 64) prefixes, signs and underscores. */
static void test_int_go_syntax(void **state)
{
	static const struct {
		const char *in;
		int out;
	} ok[] = {
		{ "0x10", 16 }, { "0X1f", 31 },	   { "010", 8 }, { "0o17", 15 },  { "0b101", 5 },
		{ "+30", 30 },	{ "1_000", 1000 }, { "0_7", 7 }, { "0x_1f", 31 }, { "007", 7 },
	};
	static const char *const bad[] = { "",	   "abc", "60abc", " 60", "60 ", "0x",	  "08",
					   "1__0", "_1",  "1_",	   "--5", "6.0", "0b102", "1e3" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct options o;
		char arg[64];

		snprintf(arg, sizeof(arg), "--iptables-resync=%s", ok[i].in);
		parse_ok(ARGS(arg), NULL, &o);
		assert_int_equal(o.iptables_resync, ok[i].out);
		flags_free(&o);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char arg[64], msg[128];

		snprintf(arg, sizeof(arg), "--iptables-resync=%s", bad[i]);
		snprintf(msg, sizeof(msg),
			 "invalid value \"%s\" for flag --iptables-resync: not an integer", bad[i]);
		parse_err(ARGS(arg), NULL, msg);
	}
}

static void test_int_overflow(void **state)
{
	parse_err(ARGS("--healthz-port=99999999999999999999999"), NULL,
		  "invalid value \"99999999999999999999999\" for flag --healthz-port: value out "
		  "of range");
	parse_err(ARGS("--iptables-resync=2147483648"), NULL,
		  "invalid value \"2147483648\" for flag --iptables-resync: value out of range");
	parse_err(ARGS("-v=-2147483649"), NULL,
		  "invalid value \"-2147483649\" for flag -v: value out of range");
	parse_err(ARGS("-v=-9223372036854775809"), NULL,
		  "invalid value \"-9223372036854775809\" for flag -v: value out of range");
	/* INT64_MIN itself parses, and is then out of the int range. */
	parse_err(ARGS("-v=-9223372036854775808"), NULL,
		  "invalid value \"-9223372036854775808\" for flag -v: value out of range");
}

static void test_bools(void **state)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	struct options o;
	size_t i;

	parse_ok(ARGS("--ip-masq", "-ip-masq-fully-random-disable", "--kube-subnet-mgr",
		      "--version", "--ip-blackhole-route", "--check-config"),
		 NULL, &o);
	assert_true(o.ip_masq);
	assert_true(o.ip_masq_fully_random_disable);
	assert_true(o.kube_subnet_mgr);
	assert_true(o.version);
	assert_true(o.ip_blackhole_route);
	assert_true(o.check_config);
	flags_free(&o);

	parse_ok(ARGS("--iptables-forward-rules=false", "-set-node-network-unavailable=0"), NULL,
		 &o);
	assert_false(o.iptables_forward_rules);
	assert_false(o.set_node_network_unavailable);
	flags_free(&o);

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		char a[64], b[64];

		snprintf(a, sizeof(a), "--ip-masq=%s", yes[i]);
		snprintf(b, sizeof(b), "--iptables-forward-rules=%s", no[i]);
		parse_ok(ARGS(a, b), NULL, &o);
		assert_true(o.ip_masq);
		assert_false(o.iptables_forward_rules);
		flags_free(&o);
	}
}

static void test_bool_errors(void **state)
{
	parse_err(ARGS("--ip-masq=yes"), NULL,
		  "invalid value \"yes\" for flag --ip-masq: not a boolean");
	parse_err(ARGS("--ip-masq="), NULL, "invalid value \"\" for flag --ip-masq: not a boolean");
	parse_err(ARGS("--ip-masq=tRUE"), NULL,
		  "invalid value \"tRUE\" for flag --ip-masq: not a boolean");
	/* "--x false" is a flag and then a positional argument, as in Go. */
	parse_err(ARGS("--ip-masq", "false"), NULL,
		  "unexpected argument: false (boolean flags take the form --ip-masq=false)");
	parse_err(ARGS("--ip-masq", "eth0"), NULL, "unexpected argument: eth0");
}

static void test_repeatable(void **state)
{
	struct options o;

	parse_ok(ARGS("--iface=eth0", "-iface", "10.0.0.1", "--iface-regex=^en", "--iface=lo,x",
		      "--iface-regex", "^wl"),
		 NULL, &o);
	assert_int_equal(o.iface.n, 3);
	assert_string_equal(o.iface.v[0], "eth0");
	assert_string_equal(o.iface.v[1], "10.0.0.1");
	/* Repeatable flags do not split on ','. */
	assert_string_equal(o.iface.v[2], "lo,x");
	assert_int_equal(o.iface_regex.n, 2);
	assert_string_equal(o.iface_regex.v[0], "^en");
	assert_string_equal(o.iface_regex.v[1], "^wl");
	flags_free(&o);
}

static void test_comma_list(void **state)
{
	struct options o;

	parse_ok(ARGS("--etcd-endpoints=http://a:2379"), NULL, &o);
	assert_int_equal(o.etcd_endpoints.n, 1);
	assert_string_equal(o.etcd_endpoints.v[0], "http://a:2379");
	flags_free(&o);

	/* The last occurrence replaces, it does not append. */
	parse_ok(ARGS("--etcd-endpoints", "http://x:1", "--etcd-endpoints",
		      "https://a:2379,https://b:2379,https://c:2379"),
		 NULL, &o);
	assert_int_equal(o.etcd_endpoints.n, 3);
	assert_string_equal(o.etcd_endpoints.v[0], "https://a:2379");
	assert_string_equal(o.etcd_endpoints.v[1], "https://b:2379");
	assert_string_equal(o.etcd_endpoints.v[2], "https://c:2379");
	flags_free(&o);

	parse_err(ARGS("--etcd-endpoints=a,,b"), NULL,
		  "invalid value \"a,,b\" for flag --etcd-endpoints: empty list element");
	parse_err(ARGS("--etcd-endpoints=a,"), NULL,
		  "invalid value \"a,\" for flag --etcd-endpoints: empty list element");
	parse_err(ARGS("--etcd-endpoints="), NULL,
		  "invalid value \"\" for flag --etcd-endpoints: empty list element");
	/* Each endpoint must be a URL our client can dial. */
	parse_err(ARGS("--etcd-endpoints=http://a:2379,10.0.0.1:2379"), NULL,
		  "invalid value \"http://a:2379,10.0.0.1:2379\" for flag --etcd-endpoints: "
		  "\"10.0.0.1:2379\": unsupported scheme (want http:// or https://)");
	parse_err(ARGS("--etcd-endpoints=http://a:99999"), NULL,
		  "invalid value \"http://a:99999\" for flag --etcd-endpoints: \"http://a:99999\": "
		  "bad port");
	parse_ok(ARGS("--etcd-endpoints=http://[fd00::1]:2379,https://etcd.example/"), NULL, &o);
	assert_int_equal(o.etcd_endpoints.n, 2);
	flags_free(&o);
}

static void test_env_mapping(void **state)
{
	struct options o;

	parse_ok(NOARGS,
		 ENV("PATH=/bin", "FLANNELD_ETCD_ENDPOINTS=http://e1:2379,http://e2:2379",
		     "FLANNELD_ETCD_PREFIX=/p", "FLANNELD_IP_MASQ=true", "FLANNELD_V=3",
		     "FLANNELD_IFACE=eth0,lo", "FLANNELD_IFACE_REGEX=^e",
		     "FLANNELD_HEALTHZ_PORT=8471", "FLANNELD_SUBNET_LEASE_RENEW_MARGIN=30",
		     "FLANNELD_IPTABLES_FORWARD_RULES=false", "FLANNELD_VMODULE=x=1",
		     "FLANNELD_LOG_BACKTRACE_AT=a.go:1", "FLANNELD_SUBNET_LEASE_TTL=60",
		     "FLANNELD_CHECK_CONFIG=1", "FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE=t",
		     "FLANNELD_SET_NODE_NETWORK_UNAVAILABLE=F"),
		 &o);
	assert_int_equal(o.etcd_endpoints.n, 2);
	assert_string_equal(o.etcd_endpoints.v[0], "http://e1:2379");
	assert_string_equal(o.etcd_endpoints.v[1], "http://e2:2379");
	assert_string_equal(o.etcd_prefix, "/p");
	assert_true(o.ip_masq);
	assert_int_equal(o.v, 3);
	/* Upstream: FLANNELD_IFACE=eth0,lo becomes iface:[eth0,lo], one element. */
	assert_int_equal(o.iface.n, 1);
	assert_string_equal(o.iface.v[0], "eth0,lo");
	assert_int_equal(o.iface_regex.n, 1);
	assert_string_equal(o.iface_regex.v[0], "^e");
	assert_int_equal(o.healthz_port, 8471);
	assert_int_equal(o.subnet_lease_renew_margin, 30);
	assert_false(o.iptables_forward_rules);
	assert_string_equal(o.vmodule, "x=1");
	assert_string_equal(o.log_backtrace_at, "a.go:1");
	assert_int_equal(o.subnet_lease_ttl, 60);
	assert_true(o.check_config);
	assert_true(o.ip_masq_fully_random_disable);
	assert_false(o.set_node_network_unavailable);
	flags_free(&o);
}

static void test_env_precedence(void **state)
{
	struct options o;

	/* The command line wins, even over an invalid variable (upstream never reads it). */
	parse_ok(ARGS("--etcd-prefix=/cli", "--iface=eth1", "--subnet-lease-renew-margin=10",
		      "--ip-masq=false"),
		 ENV("FLANNELD_ETCD_PREFIX=/env", "FLANNELD_IFACE=eth0",
		     "FLANNELD_SUBNET_LEASE_RENEW_MARGIN=abc", "FLANNELD_IP_MASQ=true",
		     "FLANNELD_PUBLIC_IP=1.1.1.1"),
		 &o);
	assert_string_equal(o.etcd_prefix, "/cli");
	assert_int_equal(o.iface.n, 1);
	assert_string_equal(o.iface.v[0], "eth1");
	assert_int_equal(o.subnet_lease_renew_margin, 10);
	assert_false(o.ip_masq);
	assert_string_equal(o.public_ip, "1.1.1.1");
	flags_free(&o);
}

static void test_env_misc(void **state)
{
	struct options o;

	/* Empty values are ignored, names are exact, the first duplicate is used like getenv. */
	parse_ok(NOARGS,
		 ENV("FLANNELD_ETCD_PREFIX=", "FLANNELD_V=", "FLANNELD_IFACE=",
		     "FLANNELD_ETCD_ENDPOINTS=", "flanneld_ip_masq=true", "FLANNELD_IP_MASQX=1",
		     "XFLANNELD_IP_MASQ=1", "FLANNELD_IP_MASQ", "FLANNELD_PUBLIC_IP=1.1.1.1",
		     "FLANNELD_PUBLIC_IP=2.2.2.2", "FLANNELD_VERSION=true", "FLANNELD_HELP=true",
		     "FLANNELD_H=1"),
		 &o);
	assert_string_equal(o.etcd_prefix, "/coreos.com/network");
	assert_int_equal(o.v, 0);
	assert_int_equal(o.iface.n, 0);
	assert_int_equal(o.etcd_endpoints.n, 2);
	assert_false(o.ip_masq);
	assert_string_equal(o.public_ip, "1.1.1.1");
	/* FLANNELD_VERSION has no effect: upstream checks --version before the env. */
	assert_false(o.version);
	assert_false(o.help);
	flags_free(&o);
}

static void test_env_errors(void **state)
{
	parse_err(NOARGS, ENV("FLANNELD_SUBNET_LEASE_RENEW_MARGIN=abc"),
		  "invalid value \"abc\" for FLANNELD_SUBNET_LEASE_RENEW_MARGIN: not an integer");
	parse_err(
		NOARGS, ENV("FLANNELD_SUBNET_LEASE_RENEW_MARGIN=1440"),
		"invalid value \"1440\" for FLANNELD_SUBNET_LEASE_RENEW_MARGIN: must be between 1 "
		"and 1439");
	parse_err(NOARGS, ENV("FLANNELD_IP_MASQ=yes"),
		  "invalid value \"yes\" for FLANNELD_IP_MASQ: not a boolean");
	parse_err(NOARGS, ENV("FLANNELD_V=-1"),
		  "invalid value \"-1\" for FLANNELD_V: must be at least 0");
	parse_err(NOARGS, ENV("FLANNELD_HEALTHZ_PORT=65536"),
		  "invalid value \"65536\" for FLANNELD_HEALTHZ_PORT: must be between 0 and 65535");
	parse_err(NOARGS, ENV("FLANNELD_ETCD_ENDPOINTS=a,"),
		  "invalid value \"a,\" for FLANNELD_ETCD_ENDPOINTS: empty list element");
	/* A control character in the value is escaped, keeping the message on one line. */
	parse_err(NOARGS, ENV("FLANNELD_IPTABLES_RESYNC=5\n"),
		  "invalid value \"5\\x0a\" for FLANNELD_IPTABLES_RESYNC: not an integer");
}

/* The password from a file (ours): a flag and FLANNELD_ETCD_PASSWORD_FILE; not both ways at once.
 */
static void test_password_file(void **state)
{
	struct options o;

	parse_ok(ARGS("--etcd-password-file=/etc/flannel/pw"), NULL, &o);
	assert_string_equal(o.etcd_password_file, "/etc/flannel/pw");
	assert_string_equal(o.etcd_password, "");
	flags_free(&o);
	parse_ok(NOARGS, ENV("FLANNELD_ETCD_PASSWORD_FILE=/run/pw"), &o);
	assert_string_equal(o.etcd_password_file, "/run/pw");
	flags_free(&o);
	parse_err(ARGS("--etcd-password=x", "--etcd-password-file=/run/pw"), NULL,
		  "--etcd-password and --etcd-password-file are both set: give one");
	parse_err(ARGS("--etcd-password-file=/run/pw"), ENV("FLANNELD_ETCD_PASSWORD=x"),
		  "--etcd-password and --etcd-password-file are both set: give one");
}

static void test_env_skipped_for_help_and_version(void **state)
{
	struct options o;

	parse_ok(ARGS("--version"), ENV("FLANNELD_V=abc"), &o);
	assert_true(o.version);
	flags_free(&o);
	parse_ok(ARGS("-h"), ENV("FLANNELD_V=abc"), &o);
	assert_true(o.help);
	flags_free(&o);
}

static void test_int_errors(void **state)
{
	parse_err(ARGS("--subnet-lease-renew-margin=abc"), NULL,
		  "invalid value \"abc\" for flag --subnet-lease-renew-margin: not an integer");
	parse_err(ARGS("--subnet-lease-renew-margin", "1440"), NULL,
		  "invalid value \"1440\" for flag --subnet-lease-renew-margin: must be between 1 "
		  "and 1439");
	parse_err(ARGS("-subnet-lease-renew-margin=0"), NULL,
		  "invalid value \"0\" for flag --subnet-lease-renew-margin: must be between 1 and "
		  "1439");
	parse_err(ARGS("--healthz-port=65536"), NULL,
		  "invalid value \"65536\" for flag --healthz-port: must be between 0 and 65535");
	parse_err(ARGS("--healthz-port=-1"), NULL,
		  "invalid value \"-1\" for flag --healthz-port: must be between 0 and 65535");
	parse_err(ARGS("--iptables-resync=0"), NULL,
		  "invalid value \"0\" for flag --iptables-resync: must be at least 1");
	parse_err(ARGS("-v", "-1"), NULL, "invalid value \"-1\" for flag -v: must be at least 0");
	parse_err(ARGS("--v=x"), NULL, "invalid value \"x\" for flag -v: not an integer");
	parse_err(ARGS("--subnet-lease-ttl=0"), NULL,
		  "invalid value \"0\" for flag --subnet-lease-ttl: must be between 1 and "
		  "315360000");
	parse_err(ARGS("--subnet-lease-ttl=315360001"), NULL,
		  "invalid value \"315360001\" for flag --subnet-lease-ttl: must be between 1 and "
		  "315360000");
}

static void test_syntax_errors(void **state)
{
	parse_err(ARGS("--no-such-flag"), NULL, "unknown flag: --no-such-flag");
	parse_err(ARGS("-no-such-flag=3"), NULL, "unknown flag: --no-such-flag");
	parse_err(ARGS("-x"), NULL, "unknown flag: -x");
	/* Names are case sensitive, as in Go. */
	parse_err(ARGS("--IP-MASQ"), NULL, "unknown flag: --IP-MASQ");
	parse_err(ARGS("--etcd-prefix"), NULL, "flag needs an argument: --etcd-prefix");
	parse_err(ARGS("--ip-masq", "-v"), NULL, "flag needs an argument: -v");
	parse_err(ARGS("---x"), NULL, "bad flag syntax: ---x");
	parse_err(ARGS("--=x"), NULL, "bad flag syntax: --=x");
	parse_err(ARGS("-=x"), NULL, "bad flag syntax: -=x");
	parse_err(ARGS("foo"), NULL, "unexpected argument: foo");
	parse_err(ARGS("-"), NULL, "unexpected argument: -");
	/* The first non-flag stops flag parsing, so a later flag does not hide it. */
	parse_err(ARGS("--ip-masq", "foo", "--v=1"), NULL, "unexpected argument: foo");
	parse_err(ARGS("--", "foo"), NULL, "unexpected argument: foo");
	parse_err(ARGS("--", "--ip-masq"), NULL, "unexpected argument: --ip-masq");
	parse_err(ARGS("--vmodule=foo"), NULL,
		  "invalid value \"foo\" for flag --vmodule: expect comma-separated list of "
		  "pattern=N");
	parse_err(ARGS("--vmodule=a=1,=2"), NULL,
		  "invalid value \"a=1,=2\" for flag --vmodule: expect comma-separated list of "
		  "pattern=N");
	parse_err(ARGS("--vmodule=a=-1"), NULL,
		  "invalid value \"a=-1\" for flag --vmodule: expect comma-separated list of "
		  "pattern=N");
	parse_err(ARGS("--log_backtrace_at=main:3"), NULL,
		  "invalid value \"main:3\" for flag --log_backtrace_at: expect file.go:234");
	parse_err(ARGS("--log_backtrace_at=a.go:x"), NULL,
		  "invalid value \"a.go:x\" for flag --log_backtrace_at: expect file.go:234");
	parse_err(ARGS("--log_backtrace_at=a.go:0"), NULL,
		  "invalid value \"a.go:0\" for flag --log_backtrace_at: line must be positive");
}

static void test_error_message_escaping(void **state)
{
	char longval[400];

	parse_err(ARGS("--v=\"\\\x01"), NULL,
		  "invalid value \"\\\"\\\\\\x01\" for flag -v: not an integer");
	memset(longval, '9', sizeof(longval) - 1);
	longval[0] = 'x';
	longval[sizeof(longval) - 1] = '\0';
	{
		struct options o;
		char err[512];

		assert_int_equal(parse(ARGS("--v", longval), NULL, &o, err, sizeof(err)), -EINVAL);
		/* Long values are cut with "..." but the reason is still there. */
		assert_non_null(strstr(err, "...\" for flag -v: not an integer"));
		assert_true(strlen(err) < 250);
		flags_free(&o);
	}
	{
		struct options o;
		char err[8];

		/* A short buffer truncates, it does not overflow. */
		assert_int_equal(parse(ARGS("--bogus"), NULL, &o, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, "unknown");
		flags_free(&o);
	}
}

static void test_double_dash(void **state)
{
	struct options o;

	parse_ok(ARGS("--ip-masq", "--"), NULL, &o);
	assert_true(o.ip_masq);
	flags_free(&o);
	/* The value of a non-bool flag may itself be "--". */
	parse_ok(ARGS("--etcd-prefix", "--"), NULL, &o);
	assert_string_equal(o.etcd_prefix, "--");
	flags_free(&o);
}

static void test_help(void **state)
{
	static const char *const forms[] = { "-h", "--h", "-help", "--help", "--help=false" };
	struct options o;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		parse_ok(ARGS(forms[i]), NULL, &o);
		assert_true(o.help);
		flags_free(&o);
	}
	/* Parsing stops at help, as in Go: later mistakes are not reported. */
	parse_ok(ARGS("--ip-masq", "--help", "--no-such-flag", "positional"), NULL, &o);
	assert_true(o.help);
	assert_true(o.ip_masq);
	flags_free(&o);
	/* But earlier ones are. */
	parse_err(ARGS("--no-such-flag", "--help"), NULL, "unknown flag: --no-such-flag");
}

static void test_usage(void **state)
{
	static const char *const names[] = {
		"--check-config ",
		"--etcd-cafile string",
		"--etcd-certfile string",
		"--etcd-endpoints string",
		"--etcd-keyfile string",
		"--etcd-password string",
		"--etcd-password-file string",
		"--etcd-prefix string",
		"--etcd-username string",
		"--healthz-ip string",
		"--healthz-port int",
		"--iface value",
		"--iface-can-reach string",
		"--iface-regex value",
		"--ip-blackhole-route ",
		"--ip-masq ",
		"--ip-masq-fully-random-disable ",
		"--iptables-forward-rules ",
		"--iptables-resync int",
		"--kube-annotation-prefix string",
		"--kube-api-url string",
		"--kube-subnet-mgr ",
		"--kubeconfig-file string",
		"--log_backtrace_at string",
		"--net-config-path string",
		"--nexthop-objects ",
		"--public-ip string",
		"--public-ipv6 string",
		"--set-node-network-unavailable ",
		"--subnet-file string",
		"--subnet-lease-renew-margin int",
		"--subnet-lease-ttl int",
		"-v int",
		"--version ",
		"--vmodule string",
		"-h, --help ",
	};
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, i = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	flags_usage(f);
	fclose(f);

	assert_non_null(strstr(buf, "a comma-delimited list of etcd endpoints (default "
				    "\"http://127.0.0.1:4001,http://127.0.0.1:2379\")"));
	assert_non_null(strstr(buf, "ranging from 1 to 1439 (default 60)"));
	assert_non_null(strstr(buf, "forward-rules"));
	assert_non_null(strstr(buf, "FORWARD chain in iptables (default true)"));
	assert_non_null(strstr(buf, "etcd prefix (default \"/coreos.com/network\")"));

	line = strtok_r(buf, "\n", &save);
	assert_string_equal(line, "Usage: flanneld [OPTION]...");
	while ((line = strtok_r(NULL, "\n", &save))) {
		assert_true(i < sizeof(names) / sizeof(names[0]));
		/* One line per flag, in Go's sorted order, with its default. */
		if (strncmp(line + 2, names[i], strlen(names[i])))
			fail_msg("usage line %zu: \"%s\", want \"%s\"", i, line, names[i]);
		if (i + 1 < sizeof(names) / sizeof(names[0]))
			assert_true(strstr(line, "(default ") || strstr(line, "(repeatable)"));
		i++;
	}
	assert_int_equal(i, sizeof(names) / sizeof(names[0]));
	free(buf);
}

static void test_free_zeroed(void **state)
{
	struct options o;

	memset(&o, 0, sizeof(o));
	flags_free(&o);
	flags_free(&o);
	flags_free(NULL);
	parse_ok(ARGS("--iface=a"), NULL, &o);
	flags_free(&o);
	/* flags_free leaves the struct safe to free again. */
	flags_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_no_argv_no_env),
		cmocka_unit_test(test_string_syntaxes),
		cmocka_unit_test(test_string_edge_cases),
		cmocka_unit_test(test_int_flags),
		cmocka_unit_test(test_int_go_syntax),
		cmocka_unit_test(test_int_overflow),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_bool_errors),
		cmocka_unit_test(test_repeatable),
		cmocka_unit_test(test_comma_list),
		cmocka_unit_test(test_env_mapping),
		cmocka_unit_test(test_env_precedence),
		cmocka_unit_test(test_env_misc),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_env_skipped_for_help_and_version),
		cmocka_unit_test(test_int_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_error_message_escaping),
		cmocka_unit_test(test_double_dash),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_free_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
