/* SPDX-License-Identifier: Apache-2.0 */
/* Interface lookup by name, by address and by default route (IPv4). */
#include "iface.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flags.h"
#include "ip.h"
#include "log.h"

static bool is_link_local4(uint32_t a)
{
	return (a >> 16) == 0xa9fe; /* 169.254.0.0/16 */
}

static bool is_usable4(uint32_t a)
{
	/* Global or link-local unicast: no loopback, multicast, broadcast or 0. */
	return a != 0 && (a >> 24) != 127 && (a >> 28) != 0xe && a != 0xffffffffu;
}

/* The interface's first usable IPv4 address, global ones before link-local. */
static int first_addr(const char *name, uint32_t *ret)
{
	struct ifaddrs *ifas, *ifa;
	uint32_t global = 0, local = 0;

	if (getifaddrs(&ifas) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		uint32_t a;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET ||
		    strcmp(ifa->ifa_name, name) != 0)
			continue;
		a = ntohl(
			((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr.s_addr);
		if (!is_usable4(a))
			continue;
		if (is_link_local4(a)) {
			if (!local)
				local = a;
		} else if (!global) {
			global = a;
		}
	}
	freeifaddrs(ifas);
	if (!global && !local)
		return -EADDRNOTAVAIL;
	*ret = global ? global : local;
	return 0;
}

/* Name of the interface holding exactly addr. */
static int name_by_addr(uint32_t addr, char *name)
{
	struct ifaddrs *ifas, *ifa;
	int r = -ENODEV;

	if (getifaddrs(&ifas) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		if (ntohl(((const struct sockaddr_in *)(const void *)ifa->ifa_addr)
				  ->sin_addr.s_addr) == addr) {
			snprintf(name, IF_NAMESIZE, "%s", ifa->ifa_name);
			r = 0;
			break;
		}
	}
	freeifaddrs(ifas);
	return r;
}

/* The first IPv4 default route's interface, from the kernel's route table. */
static int default_route_name(char *name)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], dev[IF_NAMESIZE];
	unsigned long dst, gw, flags, mask;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%15s %lx %lx %lx %*d %*d %*d %lx", dev, &dst, &gw, &flags,
			   &mask) != 5)
			continue; /* header line */
		if (dst == 0 && mask == 0 && (flags & 1 /* RTF_UP */)) {
			memcpy(name, dev, IF_NAMESIZE);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static int fill_link(struct iface *ifc)
{
	struct ifreq ifr = { 0 };
	int fd, r = 0;

	ifc->index = (int)if_nametoindex(ifc->name);
	if (!ifc->index)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifc->name);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		r = -errno;
	else
		ifc->mtu = (unsigned)ifr.ifr_mtu;
	close(fd);
	if (r == 0 && ifc->mtu == 0)
		r = -EINVAL;
	return r;
}

/* One --iface value: an IP (exact address match) or an interface name. */
static int lookup_one(const char *spec, struct iface *ifc, char *err, size_t errlen)
{
	uint32_t a;
	int r;

	memset(ifc, 0, sizeof(*ifc));
	if (ip4_parse(spec, &a) == 0) {
		log_info("Searching for interface using %s", spec);
		r = name_by_addr(a, ifc->name);
		if (r < 0) {
			snprintf(err, errlen, "no interface with given IP found");
			return r;
		}
		ifc->addr = a;
	} else {
		if (strlen(spec) >= IF_NAMESIZE || !if_nametoindex(spec)) {
			snprintf(err, errlen, "no such interface");
			return -ENODEV;
		}
		snprintf(ifc->name, sizeof(ifc->name), "%s", spec);
		r = first_addr(ifc->name, &ifc->addr);
		if (r < 0) {
			snprintf(err, errlen, "failed to find IPv4 address for interface %s", spec);
			return r;
		}
	}
	r = fill_link(ifc);
	if (r < 0)
		snprintf(err, errlen, "failed to read link %s: %s", ifc->name, strerror(-r));
	return r;
}

static int lookup_default(struct iface *ifc, char *err, size_t errlen)
{
	int r;

	log_info("Determining IP address of default interface");
	memset(ifc, 0, sizeof(*ifc));
	r = default_route_name(ifc->name);
	if (r < 0) {
		snprintf(err, errlen,
			 "failed to get default interface: unable to find default route");
		return r;
	}
	r = first_addr(ifc->name, &ifc->addr);
	if (r < 0) {
		snprintf(err, errlen, "failed to find IPv4 address for interface %s", ifc->name);
		return r;
	}
	r = fill_link(ifc);
	if (r < 0)
		snprintf(err, errlen, "failed to read link %s: %s", ifc->name, strerror(-r));
	return r;
}

int iface_select(const struct options *o, struct iface *ret, uint32_t *ret_public_ip, char *err,
		 size_t errlen)
{
	struct iface ifc;
	uint32_t public_ip = 0;
	char why[160], buf[16];
	int r = -ENODEV;

	if (o->iface_regex.n || (o->iface_can_reach && *o->iface_can_reach)) {
		snprintf(err, errlen, "--iface-regex and --iface-can-reach are not supported yet");
		return -ENOTSUP;
	}
	if (o->public_ip && *o->public_ip && ip4_parse(o->public_ip, &public_ip) < 0) {
		snprintf(err, errlen, "invalid public IP address: %s", o->public_ip);
		return -EINVAL;
	}
	if (o->iface.n) {
		for (size_t i = 0; i < o->iface.n; i++) {
			r = lookup_one(o->iface.v[i], &ifc, why, sizeof(why));
			if (r == 0)
				break;
			log_warnx("Could not find valid interface matching %s: %s", o->iface.v[i],
				  why);
		}
		if (r < 0) {
			snprintf(err, errlen,
				 "Failed to find interface to use that matches the interfaces "
				 "and/or regexes provided");
			return r;
		}
	} else if (public_ip) {
		r = lookup_one(o->public_ip, &ifc, why, sizeof(why));
		if (r < 0) {
			/* A public IP on no interface (NAT): the default route decides. */
			log_info("No interface holds %s; using the default route's interface",
				 o->public_ip);
			r = lookup_default(&ifc, err, errlen);
		}
	} else {
		r = lookup_default(&ifc, err, errlen);
	}
	if (r < 0)
		return r;
	log_info("Using interface with name %s and address %s", ifc.name,
		 ip4_format(ifc.addr, buf));
	if (public_ip) {
		log_info("Using %s as external address", o->public_ip);
	} else {
		public_ip = ifc.addr;
		log_info("Defaulting external address to interface address (%s)", buf);
	}
	*ret = ifc;
	*ret_public_ip = public_ip;
	return 0;
}
