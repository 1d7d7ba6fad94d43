/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strongSwan's VICI wire format (src/libcharon/plugins/vici/README.md):
 * a packet is a 32-bit big-endian length and a payload of one type byte,
 * a name (8-bit length) for the named types, and a message: elements
 * SECTION_START name, SECTION_END, KEY_VALUE name value(16-bit length),
 * LIST_START name, LIST_ITEM value, LIST_END. Pure: no I/O.
 */
#ifndef FLANNELD_VICI_MSG_H
#define FLANNELD_VICI_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vici_pkt {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7,
};

enum vici_elem {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

#define VICI_MAX_PACKET (512 * 1024) /* ours: a reply to what we ask stays far below */
#define VICI_MAX_DEPTH	16

/* ------------------------------------------------------------ building */

/* A growing packet; any failure (no memory, a name over 255 bytes) sticks in failed. */
struct vici_builder {
	uint8_t *buf;
	size_t len, cap;
	bool failed;
};

/* Start a named request (VICI_CMD_REQUEST, VICI_EVENT_REGISTER, ...). */
void vici_begin(struct vici_builder *b, enum vici_pkt type, const char *name);
void vici_section(struct vici_builder *b, const char *name);
void vici_end_section(struct vici_builder *b);
void vici_kv(struct vici_builder *b, const char *name, const char *value);
void vici_kv_bytes(struct vici_builder *b, const char *name, const void *value, size_t len);
void vici_list(struct vici_builder *b, const char *name);
void vici_item(struct vici_builder *b, const char *value);
void vici_end_list(struct vici_builder *b);
/*
 * Write the length prefix: 0 with the packet in b->buf/b->len (the
 * caller frees b->buf), or -EINVAL/-ENOMEM (b->buf freed).
 */
int vici_finish(struct vici_builder *b);
/* Wipe and free (for packets that carried a key). */
void vici_builder_free(struct vici_builder *b);

/* ------------------------------------------------------------ parsing */

/*
 * A received payload (after the 4-byte length): its type, the name for
 * named types, and its message, checked whole: every element complete,
 * sections and lists balanced and nested at most VICI_MAX_DEPTH deep, no
 * element inside a list but items. 0 or -EINVAL.
 */
struct vici_packet {
	enum vici_pkt type;
	const char *name; /* not NUL-terminated; NULL for unnamed types */
	size_t name_len;
	const uint8_t *msg;
	size_t msg_len;
};
int vici_parse(const uint8_t *payload, size_t len, struct vici_packet *ret);

/* One element of a checked message, in order. */
struct vici_el {
	enum vici_elem type;
	const char *name; /* SECTION_START, KEY_VALUE, LIST_START; else NULL */
	size_t name_len;
	const uint8_t *value; /* KEY_VALUE, LIST_ITEM; else NULL */
	size_t value_len;
	unsigned depth; /* sections around it (0: top level) */
};
struct vici_iter {
	const uint8_t *p;
	size_t len, pos;
	unsigned depth;
};
void vici_iter_init(struct vici_iter *it, const struct vici_packet *pkt);
/* 1 with *el filled, 0 at the end (only after vici_parse accepted the packet). */
int vici_next(struct vici_iter *it, struct vici_el *el);

/*
 * The top-level key name's value as a NUL-terminated, control-free string
 * in out (cut to fit); false when absent.
 */
bool vici_get(const struct vici_packet *pkt, const char *name, char *out, size_t outlen);

/* Each item of the top-level list named list (get-conns' "conns"), in order. */
void vici_each_item(const struct vici_packet *pkt, const char *list,
		    void (*fn)(const char *value, size_t len, void *arg), void *arg);

/*
 * A command's outcome as charon reports it: 0 when "success" is "yes" (or
 * absent, for commands that report data only), else -EIO with "errmsg"
 * in err.
 */
int vici_result(const struct vici_packet *pkt, char *err, size_t errlen);

#endif
