/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/sorted_vec.h"

#include <stdlib.h>
#include <string.h>

void *svec_find(const struct svec *s, const void *v, size_t n, const void *key)
{
	return n ? bsearch(key, v, n, s->size, s->cmp) : NULL;
}

void *svec_insert(const struct svec *s, void **v, size_t *n, size_t *cap, const void *elem)
{
	size_t lo = 0, hi = *n;
	char *a;

	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		void *grown = realloc(*v, c * s->size);

		if (!grown)
			return NULL;
		*v = grown;
		*cap = c;
	}
	a = *v;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->cmp(a + mid * s->size, elem) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(a + (lo + 1) * s->size, a + lo * s->size, (*n - lo) * s->size);
	memcpy(a + lo * s->size, elem, s->size);
	++*n;
	return a + lo * s->size;
}

void svec_remove(const struct svec *s, void *v, size_t *n, void *elem)
{
	size_t i = (size_t)((char *)elem - (char *)v) / s->size;

	memmove(elem, (char *)elem + s->size, (*n - i - 1) * s->size);
	--*n;
}

size_t svec_sort_unique(const struct svec *s, void *v, size_t n, void (*dropped)(const void *elem))
{
	char *a = v;
	size_t k = 0;

	qsort(v, n, s->size, s->cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && s->cmp(a + (k - 1) * s->size, a + i * s->size) == 0) {
			dropped(a + i * s->size);
			continue;
		}
		if (k != i)
			memcpy(a + k * s->size, a + i * s->size, s->size);
		k++;
	}
	return k;
}
