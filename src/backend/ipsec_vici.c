/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipsec backend's requests to charon over VICI (vici.c, never waiting
 * on the loop) and what their answers do: a peer's key, then its
 * connection; unloading one ends its SAs too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ipsec_impl.h"

/*
 * What a request's answer is for. Peers live in a vector that moves, so an
 * answer finds its peer again by subnet and PublicIP (gone: nothing to do).
 */
enum op_kind { OP_OWN_KEY, OP_PEER_KEY, OP_LOAD_CONN, OP_UNLOAD_CONN, OP_TERMINATE, OP_GET_CONNS };

struct op {
	struct backend *b;
	enum op_kind kind;
	struct ip4net subnet;
	uint32_t ip;
	char name[NAME_MAX_LEN];
};

static void on_reply(int r, const struct vici_packet *reply, const char *err, void *arg);
static int load_conn(struct backend *b, const struct peer *p);

/*
 * Finish m and queue it; on_reply gets the answer. A transport failure
 * leaves the client broken: no further call touches a charon that stopped
 * answering until the tick, which checks it first, resets it.
 */
static int vici_send(struct backend *b, struct vici_builder *m, const struct op *o, char *err,
		     size_t errlen)
{
	struct op *ctx;
	int r = vici_finish(m);

	if (r < 0) {
		snprintf(err, errlen, "cannot build the request");
		return r;
	}
	ctx = malloc(sizeof(*ctx));
	if (!ctx) {
		vici_builder_free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*ctx = *o;
	ctx->b = b;
	r = vici_client_call(b->vici, m,
			     o->kind == OP_LOAD_CONN ? VICI_LOAD_CONN_TIMEOUT_MS : VICI_TIMEOUT_MS,
			     on_reply, ctx, err, errlen);
	if (r < 0) {
		free(ctx);
		return r;
	}
	/* A get-conns answer that crosses a later request says nothing sure about it. */
	if (o->kind != OP_GET_CONNS)
		b->vici_epoch++;
	return 0;
}

static struct peer *peer_of_op(struct backend *b, const struct op *o)
{
	struct peer *p = ipsec_peer_find(b, o->subnet.addr);

	return p && p->subnet.len == o->subnet.len && p->public_ip == o->ip ? p : NULL;
}

/* charon refused a connection: say so, naming the ESP proposal when that is what it refused. */
static void log_load_refused(struct backend *b, const char *name, const char *err)
{
	if (!log_limit_ok(&b->load_limit, "charon load failures"))
		return;
	if (strstr(err, "esp_proposals"))
		log_error("charon refused connection %s: ESPProposal \"%s\" (%s)", name,
			  b->cfg.esp_proposal, err);
	else
		log_error("Failed to load connection %s into charon: %s", name, err);
}

static void on_reply(int r, const struct vici_packet *reply, const char *err, void *arg)
{
	struct op *o = arg;
	struct backend *b = o->b;
	char msg[256], a[IP_STRLEN];
	struct peer *p;

	if (r == -ECANCELED) /* the backend is closing */
		goto out;
	if (o->kind == OP_GET_CONNS) {
		ipsec_got_conns(b, r, reply, err);
		goto out;
	}
	if (r == 0)
		r = vici_result(reply, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", err);
	/* After a transport failure only the first answer speaks; the tick says the rest. */
	if (r == -ENOTCONN)
		goto out;
	ip4_format(o->ip, a);
	switch (o->kind) {
	case OP_OWN_KEY:
	case OP_PEER_KEY:
		if (r < 0) {
			log_error("Failed to load the shared key for %s: %s", a, msg);
			break;
		}
		log_info("Loaded shared key for: %s", a);
		p = o->kind == OP_PEER_KEY ? peer_of_op(b, o) : NULL;
		if (p)
			load_conn(b, p);
		break;
	case OP_LOAD_CONN:
		if (r < 0) {
			if (r == -EIO)
				log_load_refused(b, o->name, msg);
			else if (log_limit_ok(&b->load_limit, "charon load failures"))
				log_error("Failed to load connection %s into charon: %s", o->name,
					  msg);
			break;
		}
		p = peer_of_op(b, o);
		if (p)
			p->loaded = true;
		log_info("Loaded connection: %s", o->name);
		break;
	case OP_UNLOAD_CONN:
		if (r < 0)
			log_error("Failed to unload connection %s: %s", o->name, msg);
		else
			log_info("Unloaded connection: %s", o->name);
		break;
	case OP_TERMINATE:
		/* No SA up with that peer is the usual case, not a failure. */
		if (r < 0 && !strstr(msg, "no matching SAs"))
			log_error("Failed to end the SAs of connection %s: %s", o->name, msg);
		break;
	case OP_GET_CONNS:
		break;
	}
out:
	free(o);
}

int ipsec_load_shared(struct backend *b, uint32_t ip, const struct peer *p)
{
	struct op o = { .kind = p ? OP_PEER_KEY : OP_OWN_KEY, .ip = ip };
	struct vici_builder m;
	char a[IP_STRLEN], err[256];
	int r;

	if (p)
		o.subnet = p->subnet;
	ip4_format(ip, a);
	vici_begin(&m, VICI_CMD_REQUEST, "load-shared");
	vici_kv(&m, "type", "IKE");
	vici_kv(&m, "data", b->cfg.psk);
	vici_list(&m, "owners");
	vici_item(&m, a);
	vici_end_list(&m);
	r = vici_send(b, &m, &o, err, sizeof(err));
	if (r < 0 && r != -ENOTCONN)
		log_error("Failed to load the shared key for %s: %s", a, err);
	return r;
}

/* A peer's key, then (from the key's answer) its connection. */
void ipsec_load_peer(struct backend *b, const struct peer *p)
{
	ipsec_load_shared(b, p->public_ip, p);
}

static int load_conn(struct backend *b, const struct peer *p)
{
	struct op o = { .kind = OP_LOAD_CONN, .subnet = p->subnet, .ip = p->public_ip };
	char child[NAME_MAX_LEN], err[256];
	char l[IP_STRLEN], rm[IP_STRLEN], ls[IP_STRLEN], rs[IP_STRLEN];
	struct vici_builder m;
	int r;

	ipsec_conn_name(b, p, o.name, sizeof(o.name));
	ip4net_format(&b->own, ls);
	ip4net_format(&p->subnet, rs);
	snprintf(child, sizeof(child), "%s-%s", ls, rs);
	vici_begin(&m, VICI_CMD_REQUEST, "load-conn");
	vici_section(&m, o.name);
	vici_list(&m, "local_addrs");
	vici_item(&m, ip4_format(b->public_ip, l));
	vici_end_list(&m);
	vici_list(&m, "remote_addrs");
	vici_item(&m, ip4_format(p->public_ip, rm));
	vici_end_list(&m);
	vici_list(&m, "proposals");
	vici_item(&m, IKE_PROPOSAL);
	vici_end_list(&m);
	vici_kv(&m, "version", "2");
	vici_kv(&m, "keyingtries", "0"); /* retry for ever */
	vici_kv(&m, "encap", b->cfg.udp_encap ? "true" : "false");
	vici_section(&m, "local");
	vici_kv(&m, "auth", "psk");
	vici_end_section(&m);
	vici_section(&m, "remote");
	vici_kv(&m, "auth", "psk");
	vici_end_section(&m);
	vici_section(&m, "children");
	vici_section(&m, child);
	vici_list(&m, "local_ts");
	vici_item(&m, ls);
	vici_end_list(&m);
	vici_list(&m, "remote_ts");
	vici_item(&m, rs);
	vici_end_list(&m);
	vici_list(&m, "esp_proposals");
	vici_item(&m, b->cfg.esp_proposal);
	vici_end_list(&m);
	vici_kv(&m, "start_action", "start");
	vici_kv(&m, "close_action", "trap");
	vici_kv(&m, "dpd_action", "restart");
	vici_kv(&m, "mode", "tunnel");
	vici_kv(&m, "reqid", "11");
	vici_kv(&m, "rekey_time", "1h");
	vici_kv(&m, "policies", "no"); /* upstream's InstallPolicy: the XFRM policies are ours */
	vici_end_section(&m);
	vici_end_section(&m);
	vici_end_section(&m);
	r = vici_send(b, &m, &o, err, sizeof(err));
	if (r < 0 && r != -ENOTCONN && log_limit_ok(&b->load_limit, "charon load failures"))
		log_error("Failed to load connection %s into charon: %s", o.name, err);
	return r;
}

int ipsec_unload_conn(struct backend *b, const char *name)
{
	struct op o = { .kind = OP_TERMINATE };
	struct vici_builder m;
	char err[256];
	int r;

	/*
	 * End the SAs first, forced, while the connection still names them:
	 * unloading alone only has charon send a DELETE, which a host that left
	 * never answers, and keep the SAs (and their kernel states) for minutes
	 * of retransmissions.
	 */
	snprintf(o.name, sizeof(o.name), "%s", name);
	vici_begin(&m, VICI_CMD_REQUEST, "terminate");
	vici_kv(&m, "ike", name);
	vici_kv(&m, "force", "yes");
	vici_kv(&m, "timeout", "-1"); /* answer at once, not when done */
	r = vici_send(b, &m, &o, err, sizeof(err));
	if (r < 0) {
		if (r != -ENOTCONN)
			log_error("Failed to end the SAs of connection %s: %s", name, err);
		return r;
	}
	o.kind = OP_UNLOAD_CONN;
	vici_begin(&m, VICI_CMD_REQUEST, "unload-conn");
	vici_kv(&m, "name", name);
	r = vici_send(b, &m, &o, err, sizeof(err));
	if (r < 0 && r != -ENOTCONN)
		log_error("Failed to unload connection %s: %s", name, err);
	return r;
}

/* get-conns: what charon holds; the answer goes to ipsec_got_conns. */
int ipsec_ask_conns(struct backend *b, char *err, size_t errlen)
{
	struct op o = { .kind = OP_GET_CONNS };
	struct vici_builder m;

	vici_begin(&m, VICI_CMD_REQUEST, "get-conns");
	return vici_send(b, &m, &o, err, errlen);
}
