/* SPDX-License-Identifier: Apache-2.0 */
/*
 * br_netfilter: without it (the bridge-nf-call-iptables sysctls missing),
 * traffic between containers on one bridge skips iptables, so the
 * masquerade and forward rules never see it. Upstream (>= v0.26) refuses
 * to start in iptables mode then; we warn and go on.
 */
#ifndef FLANNELD_BRNF_H
#define FLANNELD_BRNF_H

#include <stdbool.h>
#include <stddef.h>

#define BRNF_SYSCTL_DIR "/proc/sys/net/bridge"

/*
 * Which of the sysctls the enabled families need are missing under dir
 * (BRNF_SYSCTL_DIR): 0 if none, else their names ("bridge-nf-call-iptables",
 * "... and bridge-nf-call-ip6tables") in missing.
 */
int brnf_missing(const char *dir, bool v4, bool v6, char *missing, size_t len);

/* What is missing, what will not work, and how to fix it (after "br_netfilter is not loaded: "). */
void brnf_describe(const char *missing, char *buf, size_t len);

#endif
