/* SPDX-License-Identifier: Apache-2.0 */
/*
 * extension backend: user commands instead of kernel programming, as
 * upstream's. PreStartupCommand's output (stdout and stderr, trimmed)
 * becomes our BackendData (a JSON string); PostStartupCommand runs once
 * the lease is held; SubnetAddCommand and SubnetRemoveCommand run per
 * remote lease, asynchronously on the loop (a few at a time, never two
 * for one subnet), each bounded in time. A failed add or remove is logged
 * with its stderr and tried again at the next resync, and after a backoff
 * (5 s doubling to 5 min) so that a fixed cause heals without one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/ext_cmd.h"
#include "config.h"
#include "iface.h"
#include "ip.h"
#include "jsonutil.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "proc_run.h"
#include "lease/subnet.h"
#include "textutil.h"

#define TIMEOUT_DEFAULT_S 30
#define TIMEOUT_MAX_S	  3600
/* Add/remove commands running at once. */
#define RUNNING_MAX 8
/* Start-up command output kept (it becomes our lease's BackendData). */
#define STARTUP_OUT_MAX (32u << 10)
/* Failed add/remove commands run again after this, doubling up to the max (and at a resync). */
#define RETRY_MIN_MS 5000
#define RETRY_MAX_MS 300000

extern char **environ;

struct ext_conf {
	char *pre, *post, *add, *remove; /* NULL: none */
	unsigned timeout_s;		 /* ours: CommandTimeout */
};

enum have { HAVE_NONE, HAVE_ADDED };

struct peer {
	struct subnet_key subnet;
	uint32_t public_ip;
	bool has_public_ipv6;
	struct ip6 public_ipv6;
	char *data; /* the BackendData string, decoded; NULL: none */
	bool want;  /* the lease exists */
	enum have have;
	bool tried;  /* an add ran since the last successful remove: a remove is due when it goes */
	bool failed; /* the last command failed: wait for a resync */
	bool applying; /* running: what it runs for (want at start) */
	bool changed;  /* the lease changed while its add ran: run it again */
	bool seen;     /* in the lease set a resync is going through */
	struct proc *proc;
	struct backend *b;
};

struct backend {
	struct loop *loop;
	struct ext_conf cfg;
	const struct netconf *conf;
	struct iface ext;
	uint32_t public_ip; /* ours, as published */
	bool has_public_ipv6;
	struct ip6 public_ipv6;
	bool post_done;
	struct peer **peers;
	size_t npeers;
	unsigned running;
	uint64_t runs, failures;
	struct loop_timer retry;
	uint64_t retry_ms;
};

/* ------------------------------------------------------------ config */

static void conf_free(struct ext_conf *c)
{
	free(c->pre);
	free(c->post);
	free(c->add);
	free(c->remove);
	*c = (struct ext_conf){ 0 };
}

static int conf_parse(const char *json, struct ext_conf *ret, char *err, size_t errlen)
{
	static const char *const names[] = { "PreStartupCommand", "PostStartupCommand",
					     "SubnetAddCommand", "SubnetRemoveCommand" };
	struct ext_conf c = { .timeout_s = TIMEOUT_DEFAULT_S };
	char **slots[] = { &c.pre, &c.post, &c.add, &c.remove };
	struct jsonu_iter it;
	struct jsonu_member m;
	size_t len = strlen(json);
	int r;

	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "Backend must be a JSON object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		char *s = NULL;
		size_t n;
		uint64_t v;

		for (size_t i = 0; i < 4; i++) {
			if (!jsonu_name_eq(m.key, m.key_len, names[i]))
				continue;
			r = jsonu_raw_string(m.raw, m.raw_len, &s, &n);
			if (r < 0) {
				jsonu_type_error(err, errlen, m.raw, m.raw_len, names[i], "string");
				goto bad;
			}
			if (r == 0) {
				free(*slots[i]);
				*slots[i] = n && strlen(s) == n ? s : NULL;
				if (*slots[i] != s)
					free(s);
			}
		}
		if (jsonu_name_eq(m.key, m.key_len, "CommandTimeout")) {
			r = jsonu_raw_uint(m.raw, m.raw_len, TIMEOUT_MAX_S, &v);
			if (r < 0 || (r == 0 && v == 0)) {
				text_fail(err, errlen,
					  "CommandTimeout must be seconds from 1 to %d, not %.*s",
					  TIMEOUT_MAX_S, (int)(m.raw_len > 40 ? 40 : m.raw_len),
					  m.raw);
				goto bad;
			}
			if (r == 0)
				c.timeout_s = (unsigned)v;
		}
	}
	jsonu_iter_release(&it);
	if (r < 0) {
		conf_free(&c);
		return text_fail(err, errlen, "bad JSON");
	}
	*ret = c;
	return 0;
bad:
	jsonu_iter_release(&it);
	conf_free(&c);
	return -EINVAL;
}

/* ------------------------------------------------------------ start-up commands */

/* Go's strings.TrimSpace for ASCII white space, in place. */
static void trim(char *s)
{
	size_t a = strspn(s, " \t\r\n\v\f"), n = strlen(s);

	while (n > a && strchr(" \t\r\n\v\f", s[n - 1]))
		n--;
	memmove(s, s + a, n - a);
	s[n - a] = '\0';
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Run a start-up command to its end (start-up waits for it, as upstream's),
 * stdout and stderr together into out (trimmed, malloc'd). The exit status
 * (128 + signal), or -errno (-ETIMEDOUT after timeout_s: killed).
 */
static int run_sync(const char *name, const char *cmd, char *const vars[], unsigned timeout_s,
		    char **out)
{
	char **argv = NULL, **envp = NULL, *buf = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int p[2] = { -1, -1 }, status = 0, r;
	size_t len = 0;
	double end = now_s() + timeout_s;
	pid_t pid;

	*out = NULL;
	r = extcmd_argv(cmd, vars, environ, &argv);
	if (r == 0)
		r = extcmd_env(vars, environ, &envp);
	if (r == 0 && !(buf = calloc(1, STARTUP_OUT_MAX + 1)))
		r = -ENOMEM;
	if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
		r = -errno;
	if (r < 0)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	proc_spawnattr_init(&attr);
	r = -posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	p[1] = -1;
	if (r < 0)
		goto out;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		double left = end - now_s();
		ssize_t n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			log_error("%s did not finish in %us: killed", name, timeout_s);
			r = -ETIMEDOUT;
			goto out;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(p[0], buf + len, STARTUP_OUT_MAX - len);
		if (n > 0)
			len += (size_t)n;
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			break; /* EOF (or a full buffer: the rest is dropped) */
		if (len == STARTUP_OUT_MAX)
			break;
	}
	/* Everyone closed the pipe, or the output is full: the exit follows soon, still bounded. */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() >= end) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			log_error("%s did not finish in %us: killed", name, timeout_s);
			r = -ETIMEDOUT;
			goto out;
		}
		poll(NULL, 0, 10);
	}
	r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	buf[len] = '\0';
	trim(buf);
	*out = buf;
	buf = NULL;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	free(buf);
	extcmd_free(argv);
	extcmd_env_free(envp);
	return r;
}

/* out on one line (line breaks as " | "), cut to fit buf. */
static const char *one_line(const char *out, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *r = out; *r && n + 4 < len; r++) {
		if (*r == '\n') {
			memcpy(buf + n, " | ", 3);
			n += 3;
		} else if (*r != '\r') {
			buf[n++] = *r;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* "NAME=value" strings for a command's environment; NULL-terminated, up to 6. */
struct vars {
	char *v[7];
	size_t n;
	char store[6][96];
};

static void var_add(struct vars *vs, const char *name, const char *value)
{
	if (vs->n >= 6)
		return;
	snprintf(vs->store[vs->n], sizeof(vs->store[0]), "%s=%s", name, value);
	vs->v[vs->n] = vs->store[vs->n];
	vs->n++;
	vs->v[vs->n] = NULL;
}

/* SUBNET, PUBLIC_IP and, where set, IPV6SUBNET and PUBLIC_IPV6 (upstream's names). */
static void lease_vars(struct vars *vs, const struct subnet_key *sk, uint32_t public_ip,
		       bool has_v6ip, const struct ip6 *v6ip)
{
	char a[IP_STRLEN];

	if (sk->v4.len || sk->v4.addr)
		var_add(vs, "SUBNET", ip4net_format(&sk->v4, a));
	var_add(vs, "PUBLIC_IP", ip4_format(public_ip, a));
	if (sk->has_v6)
		var_add(vs, "IPV6SUBNET", ip6net_format(&sk->v6, a));
	if (has_v6ip)
		var_add(vs, "PUBLIC_IPV6", ip6_format(v6ip, a));
}

/* ------------------------------------------------------------ add and remove */

static void pump(struct backend *b);

static void arm_retry(struct backend *b)
{
	if (!b->retry.armed)
		loop_timer_arm(b->loop, &b->retry, b->retry_ms);
}

/* Failed commands once more; the next failure waits twice as long. */
static void on_retry(void *arg)
{
	struct backend *b = arg;

	for (size_t i = 0; i < b->npeers; i++)
		b->peers[i]->failed = false;
	b->retry_ms = b->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : b->retry_ms * 2;
	pump(b);
}

static void log_subnet(const struct peer *p, char *buf)
{
	ip4net_format(&p->subnet.v4, buf);
	if (!(p->subnet.v4.len || p->subnet.v4.addr) && p->subnet.has_v6)
		ip6net_format(&p->subnet.v6, buf);
}

static void cmd_done(void *arg, int status, char *out, const char *err)
{
	struct peer *p = arg;
	struct backend *b = p->b;
	const char *what = p->applying ? "SubnetAddCommand" : "SubnetRemoveCommand";
	char sn[IP_STRLEN];

	free(out);
	p->proc = NULL;
	b->running--;
	log_subnet(p, sn);
	if (status == 0) {
		p->have = p->applying && !p->changed ? HAVE_ADDED : HAVE_NONE;
		p->tried = p->applying;
		p->failed = false;
		b->retry_ms = RETRY_MIN_MS;
		log_info("Ran %s for %s%s%s", what, sn, *err ? "; its stderr: " : "", err);
	} else {
		p->failed = true;
		b->failures++;
		if (status < 0)
			log_warnx("%s for %s failed: %s; retrying in %llus", what, sn, err,
				  (unsigned long long)b->retry_ms / 1000);
		else
			log_warnx("%s for %s exited with %d%s%s; retrying in %llus", what, sn,
				  status, *err ? ": " : "", err,
				  (unsigned long long)b->retry_ms / 1000);
		arm_retry(b);
	}
	pump(b);
}

static int start_cmd(struct backend *b, struct peer *p)
{
	const char *cmd = p->want ? b->cfg.add : b->cfg.remove;
	char **argv = NULL, **envp = NULL, *input = NULL, sn[IP_STRLEN];
	struct vars vs = { 0 };
	int r;

	lease_vars(&vs, &p->subnet, p->public_ip, p->has_public_ipv6, &p->public_ipv6);
	r = extcmd_argv(cmd, vs.v, environ, &argv);
	if (r == 0)
		r = extcmd_env(vs.v, environ, &envp);
	/* Upstream writes the BackendData string, then a newline. */
	if (r == 0 && asprintf(&input, "%s\n", p->data ? p->data : "") < 0) {
		input = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		r = proc_start_env(b->loop, argv, envp, input, (int)b->cfg.timeout_s * 1000, false,
				   cmd_done, p, &p->proc);
	free(input);
	extcmd_free(argv);
	extcmd_env_free(envp);
	if (r < 0) {
		log_subnet(p, sn);
		log_warnx("%s for %s could not start: %s; retrying in %llus",
			  p->want ? "SubnetAddCommand" : "SubnetRemoveCommand", sn, strerror(-r),
			  (unsigned long long)b->retry_ms / 1000);
		p->failed = true;
		b->failures++;
		arm_retry(b);
		return r;
	}
	p->applying = p->want;
	p->changed = false;
	p->tried |= p->want;
	b->running++;
	b->runs++;
	return 0;
}

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	proc_cancel(p->proc);
	free(p->data);
	free(p);
}

/*
 * Start what is due, in lease order, up to RUNNING_MAX at once: an add for
 * a lease not added yet, a remove for a lease gone whose add ran (even if
 * it failed, as upstream runs it). Entries with nothing left are dropped.
 */
static void pump(struct backend *b)
{
	size_t keep = 0;

	for (size_t i = 0; i < b->npeers; i++) {
		struct peer *p = b->peers[i];
		bool due = !p->proc && !p->failed &&
			   (p->want ? p->have != HAVE_ADDED : p->have != HAVE_NONE || p->tried);
		const char *cmd = p->want ? b->cfg.add : b->cfg.remove;

		if (due && !cmd) { /* no command configured: done at once */
			p->have = p->want ? HAVE_ADDED : HAVE_NONE;
			p->tried = p->want;
			due = false;
		}
		if (due && b->running < RUNNING_MAX)
			start_cmd(b, p);
		if (!p->want && !p->proc && p->have == HAVE_NONE && !p->tried) {
			peer_free(p);
			continue;
		}
		b->peers[keep++] = p;
	}
	b->npeers = keep;
}

static bool same_subnet(const struct subnet_key *a, const struct subnet_key *c)
{
	return a->v4.addr == c->v4.addr && a->v4.len == c->v4.len && a->has_v6 == c->has_v6 &&
	       (!a->has_v6 || (a->v6.len == c->v6.len && ip6_equal(&a->v6.addr, &c->v6.addr)));
}

static struct peer *peer_find(struct backend *b, const struct subnet_key *sk)
{
	for (size_t i = 0; i < b->npeers; i++)
		if (same_subnet(&b->peers[i]->subnet, sk))
			return b->peers[i];
	return NULL;
}

/* The BackendData string of l, decoded; -EINVAL (logged) when it is not a JSON string. */
static int lease_data(const struct lease *l, char **ret)
{
	const char *raw = l->attrs.backend_data;
	char sn[IP_STRLEN];
	size_t n;

	*ret = NULL;
	if (!raw || strcmp(raw, "null") == 0)
		return 0;
	if (jsonu_raw_string(raw, strlen(raw), ret, &n) != 0 || strlen(*ret) != n) {
		free(*ret);
		*ret = NULL;
		log_warnx("Ignoring subnet %s: its BackendData is not a JSON string",
			  ip4net_format(&l->subnet.v4, sn));
		return -EINVAL;
	}
	return 0;
}

static void set_lease(struct backend *b, const struct lease *l)
{
	struct peer *p = peer_find(b, &l->subnet);
	char *data;
	char sn[IP_STRLEN];

	if (!l->has_attrs || strcmp(l->attrs.backend_type, "extension") != 0) {
		log_debug(1, "Ignoring non-extension subnet %s: type=%s",
			  ip4net_format(&l->subnet.v4, sn),
			  l->has_attrs ? l->attrs.backend_type : "");
		return;
	}
	if (lease_data(l, &data) < 0)
		return;
	if (!p) {
		struct peer **v = realloc(b->peers, (b->npeers + 1) * sizeof(*v));

		p = calloc(1, sizeof(*p));
		if (!v || !p) {
			if (v)
				b->peers = v;
			free(p);
			free(data);
			log_error("Out of memory tracking subnet %s",
				  ip4net_format(&l->subnet.v4, sn));
			return;
		}
		b->peers = v;
		b->peers[b->npeers++] = p;
		p->b = b;
		p->subnet = l->subnet;
	} else if (p->public_ip == l->attrs.public_ip &&
		   p->has_public_ipv6 == l->attrs.has_public_ipv6 &&
		   (!p->has_public_ipv6 || ip6_equal(&p->public_ipv6, &l->attrs.public_ipv6)) &&
		   ((!p->data && !data) || (p->data && data && strcmp(p->data, data) == 0))) {
		/* Unchanged: an add that ran stands (a remove not yet run is dropped). */
		free(data);
		p->want = true;
		p->seen = true;
		return;
	}
	/* New or changed: run the add (again), as upstream does for every Added event. */
	free(p->data);
	p->data = data;
	p->public_ip = l->attrs.public_ip;
	p->has_public_ipv6 = l->attrs.has_public_ipv6;
	p->public_ipv6 = l->attrs.public_ipv6;
	p->want = true;
	p->seen = true;
	if (p->have == HAVE_ADDED)
		p->have = HAVE_NONE;
	if (p->proc)
		p->changed = true;
	p->failed = false;
}

static void ext_lease_added(struct backend *b, const struct lease *l)
{
	set_lease(b, l);
	pump(b);
}

static void ext_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p = peer_find(b, &l->subnet);

	if (!p)
		return;
	/* An add still running: the remove follows once it ends (pump). */
	p->want = false;
	p->failed = false;
	pump(b);
}

static void ext_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	for (size_t i = 0; i < b->npeers; i++) {
		b->peers[i]->seen = false;
		b->peers[i]->failed = false; /* tried again now */
	}
	for (size_t i = 0; i < n; i++)
		set_lease(b, all[i]);
	for (size_t i = 0; i < b->npeers; i++)
		if (!b->peers[i]->seen)
			b->peers[i]->want = false;
	pump(b);
}

/* ------------------------------------------------------------ lifecycle */

static int ext_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		    struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	char err[256], line[512], *out = NULL;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->conf = env->conf;
	b->retry_ms = RETRY_MIN_MS;
	loop_timer_init(&b->retry, on_retry, b);
	b->ext = *env->ext;
	b->public_ip = env->public_ip;
	b->has_public_ipv6 = env->has_public_ipv6;
	b->public_ipv6 = env->public_ipv6;
	r = conf_parse(json, &b->cfg, err, sizeof(err));
	if (r < 0) {
		log_error("Invalid extension backend config: %s", err);
		goto fail;
	}
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	if (b->cfg.pre) {
		json_t *s;

		r = run_sync("PreStartupCommand", b->cfg.pre, NULL, b->cfg.timeout_s, &out);
		if (r != 0) {
			log_error("PreStartupCommand failed (%s%d): %s", r > 0 ? "exit " : "errno ",
				  r > 0 ? r : -r,
				  out ? one_line(out, line, sizeof(line)) : strerror(-r));
			r = r > 0 ? -ECHILD : r;
			goto fail;
		}
		log_info("Ran PreStartupCommand: %s, output: %s", b->cfg.pre,
			 one_line(out, line, sizeof(line)));
		/* Our BackendData: the output as a JSON string, as json.Marshal writes it. */
		s = json_string(out);
		if (s) {
			char *raw = json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY);

			attrs->backend_data = raw ? jsonu_compact(raw, strlen(raw)) : NULL;
			free(raw);
			json_decref(s);
		}
		if (!attrs->backend_data) {
			log_error("PreStartupCommand's output is not valid UTF-8 text");
			r = -EINVAL;
			goto fail;
		}
	} else {
		log_info("No pre startup command configured - skipping");
	}
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), "extension");
	free(out);
	*mtu = b->ext.mtu;
	*ret = b;
	return 0;
fail:
	free(out);
	conf_free(&b->cfg);
	free(b);
	return r;
}

static int ext_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	struct ext_conf c;
	int r = conf_parse(json, &c, msg, msglen);

	if (r < 0)
		return r;
	conf_free(&c);
	*mtu = env->ext->mtu;
	snprintf(msg, msglen, "the MTU of %s", env->ext->name);
	return 0;
}

/* PostStartupCommand, once: start-up waits for it and stops if it fails, as upstream. */
static int ext_own_lease(struct backend *b, const struct lease *own)
{
	struct vars vs = { 0 };
	char a[IP_STRLEN], line[512], *out = NULL;
	int r;

	if (b->post_done)
		return 0;
	b->post_done = true;
	if (!b->cfg.post) {
		log_info("No post startup command configured - skipping");
		return 0;
	}
	if (b->conf->enable_ipv4)
		var_add(&vs, "NETWORK", ip4net_format(&b->conf->network, a));
	if (b->conf->enable_ipv6)
		var_add(&vs, "IPV6NETWORK", ip6net_format(&b->conf->ipv6_network, a));
	lease_vars(&vs, &own->subnet, b->public_ip, b->has_public_ipv6, &b->public_ipv6);
	r = run_sync("PostStartupCommand", b->cfg.post, vs.v, b->cfg.timeout_s, &out);
	if (r != 0) {
		log_error("PostStartupCommand failed (%s%d): %s: %s", r > 0 ? "exit " : "errno ",
			  r > 0 ? r : -r, b->cfg.post,
			  out && *out ? one_line(out, line, sizeof(line))
				      : (r > 0 ? "no output" : strerror(-r)));
		free(out);
		return r > 0 ? -ECHILD : r;
	}
	log_info("Ran PostStartupCommand: %s, output: %s", b->cfg.post,
		 one_line(out, line, sizeof(line)));
	free(out);
	return 0;
}

static void ext_metrics(struct backend *b, FILE *out)
{
	fprintf(out,
		"# HELP flannel_extension_commands_total Subnet add and remove commands started.\n"
		"# TYPE flannel_extension_commands_total counter\n"
		"flannel_extension_commands_total %llu\n"
		"# HELP flannel_extension_command_failures_total Subnet add and remove commands "
		"that failed (retried at the next resync).\n"
		"# TYPE flannel_extension_command_failures_total counter\n"
		"flannel_extension_command_failures_total %llu\n",
		(unsigned long long)b->runs, (unsigned long long)b->failures);
}

static void ext_close(struct backend *b)
{
	if (!b)
		return;
	loop_timer_cancel(b->loop, &b->retry);
	for (size_t i = 0; i < b->npeers; i++)
		peer_free(b->peers[i]);
	free(b->peers);
	conf_free(&b->cfg);
	free(b);
}

const struct backend_ops backend_extension_ops = {
	.name = "extension",
	BACKEND_OPS_COMMON(ext),
	.ipv6 = true,
	.metrics = ext_metrics,
};
