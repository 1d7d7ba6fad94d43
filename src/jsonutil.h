/* SPDX-License-Identifier: Apache-2.0 */
/* Go encoding/json decoding and encoding rules, over jansson and raw JSON text. No I/O. */
#ifndef FLANNELD_JSONUTIL_H
#define FLANNELD_JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why raw text: Go decodes a struct member by member in document order, so
 * with duplicate names the last one wins, and json.RawMessage fields and
 * custom UnmarshalJSON methods see the value's raw bytes. jansson collapses
 * exact duplicate keys (keeping the last value at the first key's position)
 * and re-serialises numbers and escapes its own way, so config.c and
 * subnet.c validate a document with jansson and then walk its raw members
 * with jsonu_iter. jsonu_get() is the convenience version over a json_t and
 * carries jansson's duplicate-key edge.
 *
 * Known gaps against Go, all in inputs Go itself never writes: jansson
 * rejects invalid UTF-8, lone surrogate escapes, "\u0000" inside keys,
 * numbers beyond double range (1e400) and nesting deeper than 2048; Go
 * accepts all of them.
 */

/* Check that buf holds exactly one JSON value (any type; trailing whitespace only). */
int jsonu_validate(const char *buf, size_t len, char *err, size_t errlen);

/*
 * Go's case-insensitive field-name match (encoding/json foldName): ASCII
 * case folding, plus U+017F (long s) matching 's', U+212A (Kelvin) 'k', and
 * U+0130/U+0131 (dotted/dotless i) 'i'. name must be ASCII.
 */
bool jsonu_name_eq(const char *key, size_t keylen, const char *name);

enum jsonu_kind {
	JSONU_INVALID,
	JSONU_NULL,
	JSONU_BOOL,
	JSONU_NUMBER,
	JSONU_STRING,
	JSONU_ARRAY,
	JSONU_OBJECT,
};

/* Kind of a raw value, from its first byte. */
enum jsonu_kind jsonu_raw_kind(const char *raw, size_t len);
/* Go's word for a kind in type errors: "string", "number", "object", ... */
const char *jsonu_kind_name(enum jsonu_kind kind);

struct jsonu_member {
	const char *key; /* decoded key, not NUL-terminated when it had no escapes */
	size_t key_len;
	const char *raw; /* the value exactly as it appears in the document */
	size_t raw_len;
};

struct jsonu_iter {
	const char *buf;
	size_t len, pos;
	char *key_buf; /* decoded key with escapes; freed on next/release */
	bool started;
};

/*
 * Walk the members of the object in buf in document order, duplicates
 * included. buf must already have passed jsonu_validate(); the walk is
 * still bounds-checked. Returns -EINVAL if buf is not an object.
 */
int jsonu_iter_init(struct jsonu_iter *it, const char *buf, size_t len);
/* 1 with *m filled, 0 at the end, -EINVAL or -ENOMEM. *m is valid until the next call. */
int jsonu_iter_next(struct jsonu_iter *it, struct jsonu_member *m);
void jsonu_iter_release(struct jsonu_iter *it);

/*
 * Strict scalars as Go decodes into plain fields: 0 = value stored, 1 = JSON
 * null (Go leaves the field alone), -EINVAL = wrong type (report it with
 * jsonu_type_error). A uint is a plain non-negative integer literal no
 * larger than max: "24", -1, 24.5, 1e2 and true are all rejected.
 */
int jsonu_raw_bool(const char *raw, size_t len, bool *ret);
int jsonu_raw_uint(const char *raw, size_t len, uint64_t max, uint64_t *ret);
/* Decoded string, malloc'd and NUL-terminated; *ret_len excludes the NUL (may hold NULs). */
int jsonu_raw_string(const char *raw, size_t len, char **ret, size_t *ret_len);

/*
 * Go's UnmarshalTypeError text, e.g. "json: cannot unmarshal string into Go
 * struct field Config.SubnetLen of type uint". field NULL gives the "into Go
 * value of type <type>" form used for a whole document.
 */
void jsonu_type_error(char *err, size_t errlen, const char *raw, size_t len, const char *field,
		      const char *type);

/*
 * Member m of a Backend object as a string (malloc'd, *len its length; NULL
 * for null): 0, -ENOMEM, or -EINVAL with Go's type error naming ".name".
 */
int jsonu_member_string(const struct jsonu_member *m, const char *name, char **ret, size_t *len,
			char *err, size_t errlen);

/*
 * Length of the valid UTF-8 sequence at s (n > 0 bytes left), its code point
 * in *cp; 0 for an overlong form, a surrogate, a value past U+10FFFF or a
 * cut sequence.
 */
size_t jsonu_utf8_len(const unsigned char *s, size_t n, unsigned *cp);

/*
 * Go's compact() as json.Marshal applies it to a json.RawMessage: drop
 * insignificant whitespace, escape <, >, & and U+2028/U+2029, keep all
 * else byte for byte. raw must be valid JSON. malloc'd, NULL on ENOMEM.
 */
char *jsonu_compact(const char *raw, size_t len);

/* A growable text buffer for building JSON; oom sticks once set. */
struct jsonu_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void jsonu_buf_add(struct jsonu_buf *b, const char *s, size_t len);
void jsonu_buf_adds(struct jsonu_buf *b, const char *s);
/* Append s as a JSON string the way json.Marshal writes it (HTML-safe escapes). */
void jsonu_buf_add_quoted(struct jsonu_buf *b, const char *s, size_t len);
/* Hand over the NUL-terminated text (NULL after ENOMEM); the buffer is reset. */
char *jsonu_buf_take(struct jsonu_buf *b);

/*
 * jansson conveniences for code that already holds a json_t. jsonu_get
 * returns the last member whose name matches case-insensitively (Go's
 * "last wins"), but see the duplicate-key note above. jsonu_dumps gives
 * compact text in key order with Go's string escapes; malloc'd or NULL.
 */
json_t *jsonu_get(json_t *obj, const char *name);
char *jsonu_dumps(const json_t *v);

#endif
