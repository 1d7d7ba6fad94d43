/* SPDX-License-Identifier: Apache-2.0 */
#include "brnf.h"

#include <stdio.h>
#include <unistd.h>

static bool has(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int brnf_missing(const char *dir, bool v4, bool v6, char *missing, size_t len)
{
	bool m4 = v4 && !has(dir, "bridge-nf-call-iptables");
	bool m6 = v6 && !has(dir, "bridge-nf-call-ip6tables");

	if (len)
		missing[0] = '\0';
	if (!m4 && !m6)
		return 0;
	snprintf(missing, len, "%s%s%s", m4 ? "bridge-nf-call-iptables" : "",
		 m4 && m6 ? " and " : "", m6 ? "bridge-nf-call-ip6tables" : "");
	return 1;
}

void brnf_describe(const char *missing, char *buf, size_t len)
{
	snprintf(buf, len,
		 "no %s in " BRNF_SYSCTL_DIR
		 ": traffic between containers on a bridge bypasses the masquerade and "
		 "forward rules; load it with `modprobe br_netfilter`",
		 missing);
}
