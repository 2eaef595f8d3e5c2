/*
 * bitmask: parse and print tag bitmasks in the one canonical hex form, so
 * that two equal masks are always equal strings (the web app compares a
 * repeated tag's mask as text).
 */
#include "bitmask.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int bitmask_parse(const char *text, size_t max_bits, struct bitmask *out)
{
	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] != '0' || text[1] != 'x')
		return -EINVAL;
	const char *d = text + 2;
	size_t n = strlen(d);

	if (n == 0 || (n > 1 && d[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (hexval(d[i]) < 0)
			return -EINVAL;
	if (n == 1 && d[0] == '0')
		return 0;
	/* The highest set bit lies in the first digit, which is not zero. */
	int top = hexval(d[0]);
	size_t nbits = (n - 1) * 4;

	while (top) {
		nbits++;
		top >>= 1;
	}
	if (max_bits != SIZE_MAX && nbits > max_bits)
		return -ERANGE;
	out->nwords = (nbits + 63) / 64;
	out->w = xcalloc(out->nwords, sizeof(uint64_t));
	/* Digit k from the right holds bits 4k..4k+3. */
	for (size_t k = 0; k < n; k++) {
		uint64_t v = (uint64_t)hexval(d[n - 1 - k]);
		out->w[(k * 4) / 64] |= v << ((k * 4) % 64);
	}
	return 0;
}

size_t bitmask_bits(const struct bitmask *bm)
{
	for (size_t i = bm->nwords; i > 0; i--) {
		uint64_t v = bm->w[i - 1];
		if (v)
			return (i - 1) * 64 + 64 - (size_t)__builtin_clzll(v);
	}
	return 0;
}

char *bitmask_format(const struct bitmask *bm)
{
	size_t nbits = bitmask_bits(bm);

	if (nbits == 0)
		return xstrdup("0x0");
	size_t ndig = (nbits + 3) / 4;
	char *s = xmalloc(ndig + 3);

	s[0] = '0';
	s[1] = 'x';
	for (size_t k = 0; k < ndig; k++) {
		unsigned v = (unsigned)(bm->w[(k * 4) / 64] >> ((k * 4) % 64)) & 0xf;
		s[2 + ndig - 1 - k] = "0123456789abcdef"[v];
	}
	s[ndig + 2] = '\0';
	return s;
}

void bitmask_set(struct bitmask *bm, size_t i)
{
	size_t need = i / 64 + 1;

	if (need > bm->nwords) {
		bm->w = xreallocarray(bm->w, need, sizeof(uint64_t));
		memset(bm->w + bm->nwords, 0, (need - bm->nwords) * sizeof(uint64_t));
		bm->nwords = need;
	}
	bm->w[i / 64] |= (uint64_t)1 << (i % 64);
}

bool bitmask_get(const struct bitmask *bm, size_t i)
{
	if (i / 64 >= bm->nwords)
		return false;
	return (bm->w[i / 64] >> (i % 64)) & 1;
}

size_t bitmask_count(const struct bitmask *bm)
{
	size_t c = 0;

	for (size_t i = 0; i < bm->nwords; i++)
		c += (size_t)__builtin_popcountll(bm->w[i]);
	return c;
}

void bitmask_free(struct bitmask *bm)
{
	free(bm->w);
	bm->w = NULL;
	bm->nwords = 0;
}
