/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --ip-blackhole-route: a blackhole route for our own subnet (and IPv6
 * subnet), so packets for addresses no container holds are dropped here
 * instead of leaving by the default route. Kept in place by watching
 * rtnetlink; left in place on exit.
 */
#ifndef FLANNELD_BLACKHOLE_H
#define FLANNELD_BLACKHOLE_H

#include <stdint.h>

struct loop;
struct blackhole;
struct subnet_key;

/*
 * The metric of our blackhole routes: the largest, so any other route
 * for the same subnet (a bridge's kernel route has metric 0, an IPv6
 * prefix route 256) wins, and ours never collides with it (EEXIST).
 */
#define BLACKHOLE_METRIC UINT32_MAX

int blackhole_new(struct loop *loop, struct blackhole **ret);
/* Put the routes for own (the IPv4 one unless own->v4 is 0.0.0.0/0); a moved subnet's old routes
 * go. */
void blackhole_set(struct blackhole *b, const struct subnet_key *own);
/* Stops watching; the routes stay. NULL-safe. */
void blackhole_free(struct blackhole *b);

#endif
