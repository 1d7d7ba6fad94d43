/* SPDX-License-Identifier: Apache-2.0 */
/* flanneld: flags, interface choice, signals and the loop; or --check-config and exit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "checkconfig.h"
#include "daemon.h"
#include "flags.h"
#include "iface.h"
#include "log.h"
#include "loop.h"
#include "sdnotify.h"
#include "secret_file.h"

extern char **environ;

struct signals {
	struct loop *loop;
	int fd;
};

static void signal_ready(int fd, unsigned events, void *arg)
{
	struct signals *s = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("Received SIGHUP, ignoring");
			continue;
		}
		log_info("Received %s, shutting down (the lease and kernel state stay)",
			 strsignal((int)si.ssi_signo));
		sd_notify_send("STOPPING=1\nSTATUS=Shutting down");
		loop_stop(s->loop);
	}
}

static int signals_setup(struct signals *s)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	return loop_io_add(s->loop, s->fd, LOOP_READ, signal_ready, s);
}

/* Flags whose feature is not in this build: refuse rather than ignore. */
static int check_unsupported(const struct options *o)
{
	if (o->kube_subnet_mgr) {
		fprintf(stderr, "flanneld: --kube-subnet-mgr is not supported (etcd mode only)\n");
		return -ENOTSUP;
	}
	return 0;
}

/* --etcd-password-file: the password replaces the (empty) --etcd-password. */
static int load_password_file(struct options *o)
{
	char err[512], *pw = NULL;
	bool others;

	if (!o->etcd_password_file || !*o->etcd_password_file)
		return 0;
	if (secret_file_read(o->etcd_password_file, &pw, &others, err, sizeof(err)) < 0) {
		log_error("--etcd-password-file: %s", err);
		return -EINVAL;
	}
	if (others)
		log_warnx("The etcd password file %s is readable by others; chmod o-r %s",
			  o->etcd_password_file, o->etcd_password_file);
	free(o->etcd_password);
	o->etcd_password = pw;
	return 0;
}

/* Said once: etcd's Authenticate call carries the password as it is. */
static void warn_plain_credentials(const struct options *o)
{
	if (!o->etcd_username || !*o->etcd_username)
		return;
	for (size_t i = 0; i < o->etcd_endpoints.n; i++) {
		if (strncasecmp(o->etcd_endpoints.v[i], "http://", 7) != 0)
			continue;
		log_warnx("etcd credentials (user %s) go to %s unencrypted: use https:// "
			  "endpoints",
			  o->etcd_username, o->etcd_endpoints.v[i]);
		return;
	}
}

int main(int argc, char **argv)
{
	struct options opts;
	struct signals sigs = { 0 };
	struct daemon *d = NULL;
	struct iface ext;
	uint32_t public_ip;
	char err[4096];
	int r, code;

	log_init(argv[0]);
	if (flags_parse(argc, argv, environ, &opts, err, sizeof(err)) < 0) {
		fprintf(stderr, "flanneld: %s\n", err);
		return 1;
	}
	if (opts.help) {
		flags_usage(stderr);
		flags_free(&opts);
		return 0;
	}
	if (opts.version) {
		fprintf(stderr, "%s\n", FLANNELD_VERSION);
		flags_free(&opts);
		return 0;
	}
	log_verbosity = opts.v;
	if (check_unsupported(&opts) < 0 || load_password_file(&opts) < 0) {
		flags_free(&opts);
		return 1;
	}
	warn_plain_credentials(&opts);
	if (opts.check_config) {
		code = checkconfig_run(&opts);
		flags_free(&opts);
		return code;
	}
	r = iface_select(&opts, &ext, &public_ip, err, sizeof(err));
	if (r < 0) {
		log_error("Failed to find any valid interface to use: %s", err);
		flags_free(&opts);
		return 1;
	}
	r = loop_new(&sigs.loop);
	if (r < 0)
		fatal("Cannot create the event loop: %s", strerror(-r));
	r = signals_setup(&sigs);
	if (r < 0)
		fatal("Cannot set up signal handling: %s", strerror(-r));
	r = daemon_start(sigs.loop, &opts, &ext, public_ip, &d);
	if (r < 0) {
		code = 1;
		goto out;
	}
	r = loop_run(sigs.loop);
	if (r < 0)
		log_error("Event loop failed: %s", strerror(-r));
	code = r < 0 ? 1 : daemon_exit_code(d);
	if (code == 0)
		log_info("Exiting cleanly...");
out:
	daemon_free(d);
	loop_io_del(sigs.loop, sigs.fd);
	close(sigs.fd);
	loop_free(sigs.loop);
	flags_free(&opts);
	return code;
}
