/* SPDX-License-Identifier: Apache-2.0 */
/* Command line and FLANNELD_* environment parsing, table driven, Go flag syntax. */
#include "flags.h"
#include "etcd/http_url.h"
#include "textutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum flag_type {
	FT_STRING, /* char * */
	FT_BOOL,   /* bool */
	FT_INT,	   /* int, checked against min..max */
	FT_LIST,   /* struct strlist: every occurrence appends one element */
	FT_CSV,	   /* struct strlist: the value is split on ',' */
};

struct flag_def {
	const char *name;
	enum flag_type type;
	/* Default in the text form the command line takes; NULL for none. */
	const char *def;
	int min, max;
	/* Extra syntax check for string flags and each element of a list. */
	int (*check)(const char *val, const char **why);
	size_t off;
	const char *help;
};

static int check_vmodule(const char *val, const char **why);
static int check_backtrace_at(const char *val, const char **why);
static int check_endpoint(const char *val, const char **why);

#define OFF(field) offsetof(struct options, field)

#define STR(n, f, d, h)                                                                            \
	{                                                                                          \
		.name = n, .type = FT_STRING, .def = d, .off = OFF(f), .help = h                   \
	}
#define BOOL(n, f, d, h)                                                                           \
	{                                                                                          \
		.name = n, .type = FT_BOOL, .def = d, .off = OFF(f), .help = h                     \
	}
#define INT(n, f, d, lo, hi, h)                                                                    \
	{                                                                                          \
		.name = n, .type = FT_INT, .def = d, .min = lo, .max = hi, .off = OFF(f),          \
		.help = h                                                                          \
	}
#define LIST(n, f, h)                                                                              \
	{                                                                                          \
		.name = n, .type = FT_LIST, .off = OFF(f), .help = h                               \
	}

/*
 * Sorted by name, because Go's PrintDefaults lists flags in lexical order and
 * flags_usage() walks this table. Names, defaults and help texts are
 * upstream's (flannel main.go init() plus the three klog flags it copies);
 * check-config, etcd-password-file, nexthop-objects and subnet-lease-ttl
 * are ours.
 */
static const struct flag_def flag_table[] = {
	BOOL("check-config", check_config, "false",
	     "read the network config from etcd, check it as the daemon would, print the effective "
	     "network, subnet range, backend and MTU, and exit (0: valid); no lease is taken "
	     "(not in upstream)"),
	STR("etcd-cafile", etcd_cafile, "",
	    "SSL Certificate Authority file used to secure etcd communication"),
	STR("etcd-certfile", etcd_certfile, "",
	    "SSL certification file used to secure etcd communication"),
	{ .name = "etcd-endpoints",
	  .type = FT_CSV,
	  .def = "http://127.0.0.1:4001,http://127.0.0.1:2379",
	  .off = OFF(etcd_endpoints),
	  .check = check_endpoint,
	  .help = "a comma-delimited list of etcd endpoints" },
	STR("etcd-keyfile", etcd_keyfile, "", "SSL key file used to secure etcd communication"),
	STR("etcd-password", etcd_password, "", "password for BasicAuth to etcd"),
	STR("etcd-password-file", etcd_password_file, "",
	    "file holding the password for BasicAuth to etcd, read at start (a trailing newline "
	    "is dropped), so that it stays off the command line (not in upstream)"),
	STR("etcd-prefix", etcd_prefix, "/coreos.com/network", "etcd prefix"),
	STR("etcd-username", etcd_username, "", "username for BasicAuth to etcd"),
	STR("healthz-ip", healthz_ip, "0.0.0.0", "the IP address for healthz server to listen"),
	INT("healthz-port", healthz_port, "0", 0, 65535,
	    "the port for healthz server to listen(0 to disable)"),
	LIST("iface", iface,
	     "interface to use (IP or name) for inter-host communication. Can be specified "
	     "multiple times to check each option in order. Returns the first match found."),
	STR("iface-can-reach", iface_can_reach, "",
	    "detect interface to use (IP or name) for inter-host communication based on which "
	    "will be used for provided IP. This is exactly the interface to use of command 'ip "
	    "route get <ip-address>'"),
	LIST("iface-regex", iface_regex,
	     "regex expression to match the first interface to use (IP or name) for inter-host "
	     "communication. Can be specified multiple times to check each regex in order. "
	     "Returns the first match found. Regexes are checked after specific interfaces "
	     "specified by the iface option have already been checked."),
	BOOL("ip-blackhole-route", ip_blackhole_route, "false",
	     "add blackroute route ont the node for the local podCIDR"),
	BOOL("ip-masq", ip_masq, "false",
	     "setup IP masquerade rule for traffic destined outside of overlay network"),
	BOOL("ip-masq-fully-random-disable", ip_masq_fully_random_disable, "false",
	     "disable fully-random mode for MASQUERADE"),
	BOOL("iptables-forward-rules", iptables_forward_rules, "true",
	     "add default accept rules to FORWARD chain in iptables"),
	INT("iptables-resync", iptables_resync, "5", 1, INT_MAX,
	    "resync period for iptables rules, in seconds"),
	STR("kube-annotation-prefix", kube_annotation_prefix, "flannel.alpha.coreos.com",
	    "Kubernetes annotation prefix. Can contain single slash \"/\", otherwise it will be "
	    "appended at the end."),
	STR("kube-api-url", kube_api_url, "",
	    "Kubernetes API server URL. Does not need to be specified if flannel is running in a "
	    "pod."),
	BOOL("kube-subnet-mgr", kube_subnet_mgr, "false",
	     "contact the Kubernetes API for subnet assignment instead of etcd."),
	STR("kubeconfig-file", kubeconfig_file, "",
	    "kubeconfig file location. Does not need to be specified if flannel is running in a "
	    "pod."),
	{ .name = "log_backtrace_at",
	  .type = FT_STRING,
	  .def = "",
	  .check = check_backtrace_at,
	  .off = OFF(log_backtrace_at),
	  .help = "when logging hits line file:N, emit a stack trace" },
	STR("net-config-path", net_config_path, "/etc/kube-flannel/net-conf.json",
	    "path to the network configuration file"),
	BOOL("nexthop-objects", nexthop_objects, "true",
	     "route to peers through kernel nexthop objects, fast with thousands of peers; false: "
	     "routes with their own gateway, as upstream (not in upstream)"),
	STR("public-ip", public_ip, "",
	    "IP accessible by other nodes for inter-host communication"),
	STR("public-ipv6", public_ipv6, "",
	    "IPv6 accessible by other nodes for inter-host communication"),
	BOOL("set-node-network-unavailable", set_node_network_unavailable, "true",
	     "set NodeNetworkUnavailable after ready"),
	STR("subnet-file", subnet_file, "/run/flannel/subnet.env",
	    "filename where env variables (subnet, MTU, ... ) will be written to"),
	INT("subnet-lease-renew-margin", subnet_lease_renew_margin, "60", 1, 1439,
	    "subnet lease renewal margin, in minutes, ranging from 1 to 1439"),
	INT("subnet-lease-ttl", subnet_lease_ttl, "86400", 1, 315360000,
	    "TTL of a newly acquired subnet lease, in seconds (not in upstream: for tests)"),
	INT("v", v, "0", 0, INT_MAX, "number for the log level verbosity"),
	BOOL("version", version, "false", "print version and exit"),
	{ .name = "vmodule",
	  .type = FT_STRING,
	  .def = "",
	  .check = check_vmodule,
	  .off = OFF(vmodule),
	  .help = "comma-separated list of pattern=N settings for file-filtered logging" },
};

#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

static void *field(struct options *o, const struct flag_def *f)
{
	return (char *)o + f->off;
}

/* Go's flag package prints one dash; we print two except for one-letter names. */
static const char *dashes(const char *name)
{
	return name[1] ? "--" : "-";
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/*
 * Go's strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b or leading-0 octal
 * prefix, '_' only between digits. Unlike strtoll, no leading blanks and no
 * trailing text. -EINVAL for bad syntax, -ERANGE for overflow.
 */
static int parse_goint(const char *s, long long *ret)
{
	unsigned long long v = 0, limit;
	bool neg = false, prev_digit = false;
	unsigned base = 10;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s[0] == '0' && s[1]) {
		prev_digit = true;
		switch (s[1]) {
		case 'x':
		case 'X':
			base = 16;
			s += 2;
			break;
		case 'o':
		case 'O':
			base = 8;
			s += 2;
			break;
		case 'b':
		case 'B':
			base = 2;
			s += 2;
			break;
		default:
			base = 8;
			s += 1;
			break;
		}
		/* "0x" alone has no digits. */
		if (!*s && base != 8)
			return -EINVAL;
	} else if (!*s) {
		return -EINVAL;
	}

	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; *s; s++) {
		int d;

		if (*s == '_') {
			if (!prev_digit)
				return -EINVAL;
			prev_digit = false;
			continue;
		}
		d = digit_value(*s);
		if (d >= (int)base)
			return -EINVAL;
		if (v > (limit - (unsigned)d) / base)
			return -ERANGE;
		v = v * base + (unsigned)d;
		prev_digit = true;
	}
	if (!prev_digit)
		return -EINVAL;
	/* -(2^63) has no positive counterpart, so negate in the signed domain carefully. */
	if (neg)
		*ret = v ? -(long long)(v - 1) - 1 : 0;
	else
		*ret = (long long)v;
	return 0;
}

/* klog's moduleSpec.Set: comma-separated pattern=N, N a non-negative decimal. */
static int check_vmodule(const char *val, const char **why)
{
	const char *p = val;

	while (*p) {
		const char *end = strchrnul(p, ',');
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *q;

		if (end != p) {
			if (!eq || eq == p || eq + 1 == end)
				goto syntax;
			for (q = eq + 1; q < end; q++) {
				if (!isdigit((unsigned char)*q))
					goto syntax;
			}
			if (end - (eq + 1) > 9)
				goto syntax;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
syntax:
	*why = "expect comma-separated list of pattern=N";
	return -EINVAL;
}

/* klog's traceLocation.Set: "" or file.go:N with N a positive decimal. */
static int check_backtrace_at(const char *val, const char **why)
{
	const char *colon = strchr(val, ':'), *p;
	bool nonzero = false;

	if (!*val)
		return 0;
	if (!colon || strchr(colon + 1, ':') || !memchr(val, '.', (size_t)(colon - val)))
		goto syntax;
	if (!colon[1] || strlen(colon + 1) > 9)
		goto syntax;
	for (p = colon + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto syntax;
		nonzero |= *p != '0';
	}
	if (!nonzero) {
		*why = "line must be positive";
		return -EINVAL;
	}
	return 0;
syntax:
	*why = "expect file.go:234";
	return -EINVAL;
}

/* An etcd endpoint our client can dial: http:// or https://, host, optional port. */
static int check_endpoint(const char *val, const char **why)
{
	struct http_url u;

	return http_url_parse(val, &u, why);
}

static void strlist_clear(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strlist_append(struct strlist *l, const char *s, size_t len)
{
	char **v;
	char *dup;

	dup = strndup(s, len);
	if (!dup)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(dup);
		return -ENOMEM;
	}
	v[l->n++] = dup;
	l->v = v;
	return 0;
}

/*
 * Store val into the option f describes. On a bad value returns -EINVAL with
 * the reason in why (why points at a static string or into whybuf).
 */
static int flag_set(struct options *o, const struct flag_def *f, const char *val, const char **why,
		    char *whybuf, size_t whylen)
{
	long long n;
	char *dup;
	int r;

	switch (f->type) {
	case FT_STRING:
		if (f->check && f->check(val, why) < 0)
			return -EINVAL;
		dup = strdup(val);
		if (!dup)
			return -ENOMEM;
		free(*(char **)field(o, f));
		*(char **)field(o, f) = dup;
		return 0;
	case FT_BOOL:
		if (text_parse_bool(val, (bool *)field(o, f)) < 0) {
			*why = "not a boolean";
			return -EINVAL;
		}
		return 0;
	case FT_INT:
		r = parse_goint(val, &n);
		if (r == -ERANGE || (r == 0 && (n < INT_MIN || n > INT_MAX))) {
			*why = "value out of range";
			return -EINVAL;
		}
		if (r < 0) {
			*why = "not an integer";
			return -EINVAL;
		}
		if (n < f->min || n > f->max) {
			if (f->max == INT_MAX)
				snprintf(whybuf, whylen, "must be at least %d", f->min);
			else
				snprintf(whybuf, whylen, "must be between %d and %d", f->min,
					 f->max);
			*why = whybuf;
			return -EINVAL;
		}
		*(int *)field(o, f) = (int)n;
		return 0;
	case FT_LIST:
		return strlist_append(field(o, f), val, strlen(val));
	case FT_CSV: {
		struct strlist l = { 0 };
		const char *p = val;

		/*
		 * Upstream keeps empty elements ("a,,b", a trailing ',') and then
		 * fails to dial ""; refusing them here gives a clear message.
		 */
		for (;;) {
			const char *end = strchrnul(p, ',');

			if (end == p) {
				strlist_clear(&l);
				*why = "empty list element";
				return -EINVAL;
			}
			r = strlist_append(&l, p, (size_t)(end - p));
			if (r < 0) {
				strlist_clear(&l);
				return r;
			}
			if (!*end)
				break;
			p = end + 1;
		}
		for (size_t i = 0; f->check && i < l.n; i++) {
			if (f->check(l.v[i], why) < 0) {
				snprintf(whybuf, whylen, "\"%s\": %s", l.v[i], *why);
				*why = whybuf;
				strlist_clear(&l);
				return -EINVAL;
			}
		}
		strlist_clear(field(o, f));
		*(struct strlist *)field(o, f) = l;
		return 0;
	}
	}
	return -EINVAL;
}

static const struct flag_def *flag_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++) {
		if (strlen(flag_table[i].name) == len && !memcmp(flag_table[i].name, name, len))
			return &flag_table[i];
	}
	return NULL;
}

static int apply_defaults(struct options *o, char *err, size_t errlen)
{
	char whybuf[256];
	const char *why = "";
	size_t i;
	int r;

	for (i = 0; i < NFLAGS; i++) {
		if (!flag_table[i].def)
			continue;
		r = flag_set(o, &flag_table[i], flag_table[i].def, &why, whybuf, sizeof(whybuf));
		if (r < 0) {
			/* Only reachable on ENOMEM, or if someone breaks the table. */
			seterr(err, errlen, "default of flag %s%s: %s", dashes(flag_table[i].name),
			       flag_table[i].name, r == -ENOMEM ? strerror(ENOMEM) : why);
			return r;
		}
	}
	return 0;
}

/* Set from the command line, reporting errors the way Go's flag package words them. */
static int set_from_arg(struct options *o, const struct flag_def *f, const char *val, char *err,
			size_t errlen)
{
	char whybuf[256], qbuf[160];
	const char *why = "";
	int r;

	r = flag_set(o, f, val, &why, whybuf, sizeof(whybuf));
	if (r == -EINVAL)
		seterr(err, errlen, "invalid value \"%s\" for flag %s%s: %s",
		       text_quote(val, qbuf, sizeof(qbuf)), dashes(f->name), f->name, why);
	else if (r < 0)
		seterr(err, errlen, "flag %s%s: %s", dashes(f->name), f->name, strerror(-r));
	return r;
}

/*
 * Go flag syntax: -x and --x alike, -x=v or "-x v" for non-bools, "-x" or
 * "-x=bool" for bools, a lone "--" ends the flags, and so does the first
 * argument that is not a flag. Any positional argument is an error for us.
 */
static int parse_argv(int argc, char *const *argv, struct options *o, bool *given, char *err,
		      size_t errlen)
{
	const char *bare_bool = NULL; /* previous argument was "--<bool>" without a value */
	int i = 1, r;

	while (i < argc) {
		const char *arg = argv[i], *name, *eq, *val = NULL;
		const struct flag_def *f;
		char qbuf[160];
		size_t len;
		bool b;

		if (arg[0] != '-' || !arg[1]) {
			if (bare_bool && text_parse_bool(arg, &b) == 0) {
				seterr(err, errlen,
				       "unexpected argument: %s (boolean flags take the form "
				       "--%s=%s)",
				       text_quote(arg, qbuf, sizeof(qbuf)), bare_bool, arg);
			} else {
				seterr(err, errlen, "unexpected argument: %s",
				       text_quote(arg, qbuf, sizeof(qbuf)));
			}
			return -EINVAL;
		}
		i++;
		name = arg + 1;
		if (*name == '-') {
			name++;
			if (!*name)
				break; /* "--" */
		}
		if (!*name || *name == '-' || *name == '=') {
			seterr(err, errlen, "bad flag syntax: %s",
			       text_quote(arg, qbuf, sizeof(qbuf)));
			return -EINVAL;
		}
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if (eq)
			val = eq + 1;

		f = flag_find(name, len);
		if (!f) {
			/* Go treats -h and -help specially and stops parsing there. */
			if ((len == 1 && name[0] == 'h') ||
			    (len == 4 && !memcmp(name, "help", 4))) {
				o->help = true;
				return 0;
			}
			char nbuf[128];

			snprintf(nbuf, sizeof(nbuf), "%.*s", (int)len, name);
			seterr(err, errlen, "unknown flag: %s%s", dashes(nbuf),
			       text_quote(nbuf, qbuf, sizeof(qbuf)));
			return -EINVAL;
		}
		given[f - flag_table] = true;
		bare_bool = NULL;

		if (f->type == FT_BOOL && !val) {
			*(bool *)field(o, f) = true;
			bare_bool = f->name;
			continue;
		}
		if (!val) {
			if (i >= argc) {
				seterr(err, errlen, "flag needs an argument: %s%s", dashes(f->name),
				       f->name);
				return -EINVAL;
			}
			/* Like Go, the next argument is the value even if it starts with '-'. */
			val = argv[i++];
		}
		r = set_from_arg(o, f, val, err, errlen);
		if (r < 0)
			return r;
	}

	if (i < argc) {
		char qbuf[160];

		seterr(err, errlen, "unexpected argument: %s",
		       text_quote(argv[i], qbuf, sizeof(qbuf)));
		return -EINVAL;
	}
	return 0;
}

static const char *env_lookup(char *const *envp, const char *key)
{
	size_t klen = strlen(key);

	for (; envp && *envp; envp++) {
		if (!strncmp(*envp, key, klen) && (*envp)[klen] == '=')
			return *envp + klen + 1;
	}
	return NULL;
}

/*
 * FLANNELD_<NAME> for every flag the command line did not set. A repeatable
 * flag gets the whole value as one element, as upstream's fs.Set() does.
 */
static int parse_env(char *const *envp, struct options *o, const bool *given, char *err,
		     size_t errlen)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++) {
		const struct flag_def *f = &flag_table[i];
		char key[64], whybuf[256], qbuf[160];
		const char *val, *why = "", *n;
		size_t k;
		int r;

		/* Upstream handles --version before reading the environment. */
		if (given[i] || !strcmp(f->name, "version"))
			continue;
		k = (size_t)snprintf(key, sizeof(key), "FLANNELD_");
		for (n = f->name; *n && k + 1 < sizeof(key); n++)
			key[k++] = *n == '-' ? '_' : (char)toupper((unsigned char)*n);
		key[k] = '\0';

		val = env_lookup(envp, key);
		if (!val || !*val)
			continue;
		r = flag_set(o, f, val, &why, whybuf, sizeof(whybuf));
		if (r == -EINVAL) {
			seterr(err, errlen, "invalid value \"%s\" for %s: %s",
			       text_quote(val, qbuf, sizeof(qbuf)), key, why);
			return r;
		}
		if (r < 0) {
			seterr(err, errlen, "%s: %s", key, strerror(-r));
			return r;
		}
	}
	return 0;
}

int flags_parse(int argc, char *const *argv, char *const *envp, struct options *ret, char *err,
		size_t errlen)
{
	struct options o = { 0 };
	bool given[NFLAGS] = { false };
	int r;

	seterr(err, errlen, "%s", "");
	r = apply_defaults(&o, err, errlen);
	if (r < 0)
		goto fail;
	r = parse_argv(argc, argv, &o, given, err, errlen);
	if (r < 0)
		goto fail;
	/* Help and version exit right away, so a bad environment must not stop them. */
	if (!o.help && !o.version) {
		r = parse_env(envp, &o, given, err, errlen);
		if (r < 0)
			goto fail;
		if (*o.etcd_password && *o.etcd_password_file) {
			seterr(err, errlen,
			       "--etcd-password and --etcd-password-file are both set: give one");
			r = -EINVAL;
			goto fail;
		}
	}
	*ret = o;
	return 0;

fail:
	flags_free(&o);
	/* Zeroed, so a caller that calls flags_free() anyway is safe. */
	memset(ret, 0, sizeof(*ret));
	return r;
}

void flags_free(struct options *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < NFLAGS; i++) {
		const struct flag_def *f = &flag_table[i];

		if (f->type == FT_STRING) {
			free(*(char **)field(o, f));
			*(char **)field(o, f) = NULL;
		} else if (f->type == FT_LIST || f->type == FT_CSV) {
			strlist_clear(field(o, f));
		}
	}
}

void flags_usage(FILE *out)
{
	static const char *const type_names[] = {
		[FT_STRING] = "string", [FT_BOOL] = "",	     [FT_INT] = "int",
		[FT_LIST] = "value",	[FT_CSV] = "string",
	};
	size_t i;

	fprintf(out, "Usage: flanneld [OPTION]...\n");
	for (i = 0; i < NFLAGS; i++) {
		const struct flag_def *f = &flag_table[i];
		char head[64];

		snprintf(head, sizeof(head), "%s%s%s%s", dashes(f->name), f->name,
			 *type_names[f->type] ? " " : "", type_names[f->type]);
		fprintf(out, "  %-36s %s", head, f->help);
		if (f->type == FT_LIST)
			fprintf(out, " (repeatable)\n");
		else if (f->type == FT_STRING || f->type == FT_CSV)
			fprintf(out, " (default \"%s\")\n", f->def);
		else
			fprintf(out, " (default %s)\n", f->def);
	}
	fprintf(out, "  %-36s %s\n", "-h, --help", "print this message");
}
