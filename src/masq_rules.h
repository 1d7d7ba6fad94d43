/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The masquerade and forward rules upstream installs (FLANNEL_COMPAT.md
 * §10), as text: iptables-save lines, the iptables-restore transaction
 * that puts them in place, the check of an iptables-save dump against
 * them, and the nft script of nftables mode. Pure functions, no I/O.
 */
#ifndef FLANNELD_MASQ_RULES_H
#define FLANNELD_MASQ_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

#define MASQ_CHAIN_MAX 29 /* iptables chain names: 28 characters */

struct masq_spec {
	bool v4, v6;	       /* the families the network has */
	struct ip4net network; /* the flannel Network */
	struct ip4net subnet;  /* our lease */
	struct ip6net network6, subnet6;
	bool masq;    /* --ip-masq: nat rules */
	bool forward; /* --iptables-forward-rules: filter rules */
	bool random_fully;
	/* Our chains (iptables) or table (nftables), per etcd prefix: see masq_names(). */
	char nat_chain[MASQ_CHAIN_MAX];
	char fwd_chain[MASQ_CHAIN_MAX];
	char nft_table[MASQ_CHAIN_MAX];	 /* ip family */
	char nft_table6[MASQ_CHAIN_MAX]; /* ip6 family */
};

/*
 * Upstream's names (FLANNEL-POSTRTG, FLANNEL-FWD, flannel-ipv4) for the
 * default prefix, so that we take over a Go flanneld's rules in place;
 * with another --etcd-prefix a suffix from a hash of it, so that two
 * networks on one host don't flush each other's chains.
 */
void masq_names(struct masq_spec *s, const char *etcd_prefix, bool default_prefix);

enum masq_table { MASQ_NAT, MASQ_FILTER };

/*
 * The iptables-save lines ("-A ...") our chain of table t must hold, in
 * order, for IPv4 (iptables) or IPv6 (ip6tables: the v6 network and
 * subnet, ff00::/8 for multicast); NULL: ENOMEM.
 */
char **masq_chain_rules(const struct masq_spec *s, enum masq_table t, bool v6, size_t *n);
/* The jump into our chain from POSTROUTING or FORWARD, as iptables-save prints it. */
char *masq_jump_rule(const struct masq_spec *s, enum masq_table t);
void masq_lines_free(char **v, size_t n);

/*
 * What an iptables-save dump of table t says about our rules: true when
 * the chain holds exactly our rules and the builtin chain exactly one jump
 * to it. *jumps gets every line jumping to our chain (to delete), *njumps
 * their count (the caller frees them with masq_lines_free).
 */
bool masq_check_dump(const struct masq_spec *s, enum masq_table t, bool v6, const char *dump,
		     char ***jumps, size_t *njumps);

/*
 * The iptables-restore --noflush input that makes table t right: our
 * chain declared (created, or flushed), old jumps deleted, our jump and
 * rules appended. NULL: ENOMEM.
 */
char *masq_restore_input(const struct masq_spec *s, enum masq_table t, bool v6,
			 char *const *old_jumps, size_t nold);

/*
 * The iptables-restore --noflush input that removes our chain of table t
 * and the jumps to it (when nftables mode takes over), or NULL when the
 * dump holds neither (*ret_none) or on ENOMEM.
 */
char *masq_remove_input(const struct masq_spec *s, enum masq_table t, bool v6, const char *dump,
			bool *ret_none);

/* The nft script (one atomic transaction, both families' tables) for nftables mode. NULL: ENOMEM.
 */
char *masq_nft_script(const struct masq_spec *s);

#endif
