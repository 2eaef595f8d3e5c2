/*
 * bitmask: the tag bitmasks of SPEC 7. A mask is a hex string with a "0x"
 * prefix, lowercase, without leading zeros (Python's hex()); bit 0, the
 * least significant, is the dataset's first sample. The web app stores and
 * checks them, the daemon writes them.
 */
#ifndef WINNOW_BITMASK_H
#define WINNOW_BITMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A set of bits; nwords 64-bit words, bit i in w[i / 64] at i % 64. */
struct bitmask {
	uint64_t *w;
	size_t nwords;
};

/*
 * Parses the canonical form: "0x" then lowercase hex digits, no leading zero
 * except "0x0" itself. Returns 0 and fills out (free with bitmask_free), or
 * -EINVAL when text is malformed, or -ERANGE when a bit at or above max_bits
 * is set (max_bits SIZE_MAX: no limit); out is then empty. text is borrowed.
 */
int bitmask_parse(const char *text, size_t max_bits, struct bitmask *out);

/* The canonical text of a mask ("0x0" when empty); caller frees. */
char *bitmask_format(const struct bitmask *bm);

/* Sets bit i, growing the mask. */
void bitmask_set(struct bitmask *bm, size_t i);
/* Bit i (false beyond the mask). */
bool bitmask_get(const struct bitmask *bm, size_t i);
/* Number of set bits. */
size_t bitmask_count(const struct bitmask *bm);
/* Index of the highest set bit + 1 (0 when empty). */
size_t bitmask_bits(const struct bitmask *bm);

/* Frees the words and empties bm; bitmask_free of an empty mask is a no-op. */
void bitmask_free(struct bitmask *bm);

#endif
