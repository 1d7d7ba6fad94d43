/* SPDX-License-Identifier: Apache-2.0 */
/* /healthz, /readyz and /metrics over a tiny HTTP/1.0 responder on the loop. */
#ifndef FLANNELD_HEALTH_H
#define FLANNELD_HEALTH_H

#include <stdbool.h>
#include <stdio.h>

struct loop;
struct health;

struct health_ops {
	bool (*ready)(void *arg);
	/* Write Prometheus text exposition to out. */
	void (*metrics)(void *arg, FILE *out);
};

/* Listen on ip:port; returns a negative errno (bind failure, bad address). */
int health_start(struct loop *loop, const char *ip, int port, const struct health_ops *ops,
		 void *arg, struct health **ret);
void health_free(struct health *h);

#endif
