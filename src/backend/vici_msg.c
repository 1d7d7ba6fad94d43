/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/vici_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ building */

static void put(struct vici_builder *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > VICI_MAX_PACKET) {
		b->failed = true;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256, len = b->len;
		uint8_t *nb;

		while (cap < b->len + n)
			cap *= 2;
		nb = malloc(cap);
		if (!nb) {
			b->failed = true;
			return;
		}
		/* No realloc: a PSK must not stay behind in a freed block. */
		if (len)
			memcpy(nb, b->buf, len);
		vici_builder_free(b);
		b->buf = nb;
		b->len = len;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put_u8(struct vici_builder *b, unsigned v)
{
	uint8_t c = (uint8_t)v;

	put(b, &c, 1);
}

static void put_name(struct vici_builder *b, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255) {
		b->failed = true;
		return;
	}
	put_u8(b, (unsigned)n);
	put(b, name, n);
}

static void put_value(struct vici_builder *b, const void *v, size_t n)
{
	if (n > 0xffff) {
		b->failed = true;
		return;
	}
	put_u8(b, (unsigned)(n >> 8));
	put_u8(b, (unsigned)(n & 0xff));
	put(b, v, n);
}

void vici_begin(struct vici_builder *b, enum vici_pkt type, const char *name)
{
	static const uint8_t zero[4];

	*b = (struct vici_builder){ 0 };
	put(b, zero, 4);
	put_u8(b, type);
	put_name(b, name);
}

void vici_section(struct vici_builder *b, const char *name)
{
	put_u8(b, VICI_SECTION_START);
	put_name(b, name);
}

void vici_end_section(struct vici_builder *b)
{
	put_u8(b, VICI_SECTION_END);
}

void vici_kv_bytes(struct vici_builder *b, const char *name, const void *value, size_t len)
{
	put_u8(b, VICI_KEY_VALUE);
	put_name(b, name);
	put_value(b, value, len);
}

void vici_kv(struct vici_builder *b, const char *name, const char *value)
{
	vici_kv_bytes(b, name, value, strlen(value));
}

void vici_list(struct vici_builder *b, const char *name)
{
	put_u8(b, VICI_LIST_START);
	put_name(b, name);
}

void vici_item(struct vici_builder *b, const char *value)
{
	put_u8(b, VICI_LIST_ITEM);
	put_value(b, value, strlen(value));
}

void vici_end_list(struct vici_builder *b)
{
	put_u8(b, VICI_LIST_END);
}

void vici_builder_free(struct vici_builder *b)
{
	if (b->buf)
		explicit_bzero(b->buf, b->cap);
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

int vici_finish(struct vici_builder *b)
{
	size_t n;

	if (b->failed || !b->buf) {
		int r = b->buf || b->len ? -EINVAL : -ENOMEM;

		vici_builder_free(b);
		return r;
	}
	n = b->len - 4;
	b->buf[0] = (uint8_t)(n >> 24);
	b->buf[1] = (uint8_t)(n >> 16);
	b->buf[2] = (uint8_t)(n >> 8);
	b->buf[3] = (uint8_t)n;
	return 0;
}

/* ------------------------------------------------------------ parsing */

static bool named(enum vici_pkt t)
{
	return t == VICI_CMD_REQUEST || t == VICI_EVENT_REGISTER || t == VICI_EVENT_UNREGISTER ||
	       t == VICI_EVENT;
}

/* One element at it->pos, bounds-checked; 1, 0 at the end, -EINVAL. */
static int step(struct vici_iter *it, struct vici_el *el)
{
	const uint8_t *p = it->p;
	size_t pos = it->pos, len = it->len;

	if (pos == len)
		return 0;
	*el = (struct vici_el){ .type = p[pos++] };
	switch (el->type) {
	case VICI_SECTION_START:
	case VICI_KEY_VALUE:
	case VICI_LIST_START:
		if (pos >= len || p[pos] == 0 || len - pos - 1 < p[pos])
			return -EINVAL;
		el->name = (const char *)p + pos + 1;
		el->name_len = p[pos];
		pos += 1 + el->name_len;
		break;
	case VICI_SECTION_END:
	case VICI_LIST_ITEM:
	case VICI_LIST_END:
		break;
	default:
		return -EINVAL;
	}
	if (el->type == VICI_KEY_VALUE || el->type == VICI_LIST_ITEM) {
		if (len - pos < 2)
			return -EINVAL;
		el->value_len = (size_t)p[pos] << 8 | p[pos + 1];
		pos += 2;
		if (len - pos < el->value_len)
			return -EINVAL;
		el->value = p + pos;
		pos += el->value_len;
	}
	it->pos = pos;
	return 1;
}

int vici_parse(const uint8_t *payload, size_t len, struct vici_packet *ret)
{
	struct vici_packet pkt = { 0 };
	struct vici_iter it;
	struct vici_el el;
	unsigned depth = 0;
	bool in_list = false;
	size_t pos = 1;
	int r;

	if (len < 1 || len > VICI_MAX_PACKET || payload[0] > VICI_EVENT)
		return -EINVAL;
	pkt.type = payload[0];
	if (named(pkt.type)) {
		if (len < 2 || payload[1] == 0 || len - 2 < payload[1])
			return -EINVAL;
		pkt.name = (const char *)payload + 2;
		pkt.name_len = payload[1];
		pos = 2 + pkt.name_len;
	}
	pkt.msg = payload + pos;
	pkt.msg_len = len - pos;
	it = (struct vici_iter){ .p = pkt.msg, .len = pkt.msg_len };
	while ((r = step(&it, &el)) > 0) {
		if (in_list != (el.type == VICI_LIST_ITEM || el.type == VICI_LIST_END))
			return -EINVAL;
		switch (el.type) {
		case VICI_SECTION_START:
			if (++depth > VICI_MAX_DEPTH)
				return -EINVAL;
			break;
		case VICI_SECTION_END:
			if (depth-- == 0)
				return -EINVAL;
			break;
		case VICI_LIST_START:
			in_list = true;
			break;
		case VICI_LIST_END:
			in_list = false;
			break;
		default:
			break;
		}
	}
	if (r < 0 || depth || in_list)
		return -EINVAL;
	*ret = pkt;
	return 0;
}

void vici_iter_init(struct vici_iter *it, const struct vici_packet *pkt)
{
	*it = (struct vici_iter){ .p = pkt->msg, .len = pkt->msg_len };
}

int vici_next(struct vici_iter *it, struct vici_el *el)
{
	int r = step(it, el);

	if (r <= 0)
		return 0;
	if (el->type == VICI_SECTION_END && it->depth)
		it->depth--;
	el->depth = it->depth;
	if (el->type == VICI_SECTION_START)
		it->depth++;
	return 1;
}

bool vici_get(const struct vici_packet *pkt, const char *name, char *out, size_t outlen)
{
	struct vici_iter it;
	struct vici_el el;
	size_t n = strlen(name);

	vici_iter_init(&it, pkt);
	while (vici_next(&it, &el)) {
		size_t k = 0;

		if (el.type != VICI_KEY_VALUE || el.depth != 0 || el.name_len != n ||
		    memcmp(el.name, name, n) != 0)
			continue;
		if (outlen == 0)
			return true;
		/* Text from charon goes to our log: one line, no escapes. */
		for (size_t i = 0; i < el.value_len && k + 1 < outlen; i++) {
			uint8_t c = el.value[i];

			out[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		out[k] = '\0';
		return true;
	}
	return false;
}

int vici_result(const struct vici_packet *pkt, char *err, size_t errlen)
{
	char v[8];

	if (pkt->type == VICI_CMD_UNKNOWN)
		return snprintf(err, errlen, "charon does not know the command"), -EIO;
	if (pkt->type != VICI_CMD_RESPONSE)
		return snprintf(err, errlen, "charon sent packet type %d", pkt->type), -EIO;
	if (!vici_get(pkt, "success", v, sizeof(v)) || strcmp(v, "yes") == 0)
		return 0;
	if (!vici_get(pkt, "errmsg", err, errlen))
		snprintf(err, errlen, "charon reported failure without a message");
	return -EIO;
}

void vici_each_item(const struct vici_packet *pkt, const char *list,
		    void (*fn)(const char *value, size_t len, void *arg), void *arg)
{
	size_t n = strlen(list);
	struct vici_iter it;
	struct vici_el el;
	bool in_list = false;

	vici_iter_init(&it, pkt);
	while (vici_next(&it, &el)) {
		if (el.type == VICI_LIST_START)
			in_list = el.depth == 0 && el.name_len == n && !memcmp(el.name, list, n);
		else if (el.type == VICI_LIST_END)
			in_list = false;
		else if (el.type == VICI_LIST_ITEM && in_list)
			fn((const char *)el.value, el.value_len, arg);
	}
}
