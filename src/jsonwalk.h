/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A one-pass JSON checker that can decode as it goes: no tree is built
 * and nothing is read twice, for the documents read on every watch event
 * (lease values, vxlan and wireguard BackendData). No I/O.
 *
 * What counts as valid JSON is what jansson 2.14 accepted with
 * jsonu_validate()'s flags: strict UTF-8, no lone surrogate escape, no
 * "\u0000" in a key, no number beyond double range, values nested at most
 * JW_DEPTH_MAX deep, and no raw NUL anywhere. Go accepts the first four;
 * no Go writer produces them.
 */
#ifndef FLANNELD_JSONWALK_H
#define FLANNELD_JSONWALK_H

#include <stdbool.h>
#include <stddef.h>

#define JW_DEPTH_MAX 2048 /* the document is at depth 1, each nesting adds one */

struct jw {
	const char *b;
	size_t len, pos;
	const char *bad; /* first syntax error, a static text */
	size_t bad_at;
};

/*
 * Where a decoded string goes: the first cap bytes are kept, len counts
 * them all, nul says a \u0000 was among them. A NULL buf only counts (a
 * string that is checked, not kept).
 */
struct jw_sink {
	char *buf;
	size_t cap, len;
	bool nul;
};

/*
 * The steps. Each takes the text at w->pos and moves past it; on a syntax
 * error it returns -EINVAL with w->bad and w->bad_at set (-ENOMEM is
 * possible from a number too long to check on the stack). *plain is
 * cleared when the text is not already in Go's compact form (whitespace,
 * or a character json.Marshal would escape).
 */
void jw_ws(struct jw *w, bool *plain);
bool jw_at(const struct jw *w, char c);
/* Fail at w->pos: the end of input and a NUL byte get words of their own. */
int jw_fail_here(struct jw *w, const char *what);
/* A string (w->pos at its quote), decoded into out. */
int jw_string(struct jw *w, struct jw_sink *out, bool *plain);
/* A member's key into out, then the colon and the whitespace after it. */
int jw_key(struct jw *w, struct jw_sink *out, bool *plain);
/* One value of any kind, at the given depth (nesting is not recursion). */
int jw_value(struct jw *w, unsigned depth, bool *plain);
/* "invalid JSON at offset N: what" (or "...: a NUL byte at offset N") in err; -EINVAL. */
int jw_fail_text(const struct jw *w, char *err, size_t errlen);

/*
 * The members of a flat object, one by one, as small decoders want them:
 * each value is checked in full and handed over as its raw text; its key
 * decoded, the first JW_KEY_MAX bytes kept (a longer key matches no field
 * name of ours).
 */
#define JW_KEY_MAX 40

struct jw_member {
	char key[JW_KEY_MAX];
	size_t key_len; /* the whole key's; above JW_KEY_MAX only the start is in key */
	const char *raw;
	size_t raw_len;
};

struct jw_obj {
	struct jw w;
	bool started;
};

/*
 * 1: buf holds a JSON object, walk it with jw_obj_next(); 0: valid JSON of
 * another kind; -EINVAL: not valid JSON (jw_fail_text(&o->w) says why).
 */
int jw_obj_init(struct jw_obj *o, const char *buf, size_t len);
/*
 * 1 with the next member in *m; 0 at the end, once nothing but whitespace
 * follows the object; -EINVAL (o->w says why) or -ENOMEM.
 */
int jw_obj_next(struct jw_obj *o, struct jw_member *m);
/*
 * A raw value that jw_obj_next() handed over, if it is a string, decoded
 * into out (nothing else is checked again). -EINVAL for another kind.
 */
int jw_raw_string(const char *raw, size_t len, struct jw_sink *out);

#endif
