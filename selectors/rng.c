/*
 * rng: xoshiro256** (Blackman and Vigna, 2018) with splitmix64 seeding. The
 * exact sequence is part of the contract: a test recomputes it in Python.
 */
#include "rng.h"

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t splitmix64_next(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;

	/* splitmix64 never yields four zeros in a row, so the state is valid. */
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64_next(&x);
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t rng_bounded(struct rng *r, uint64_t m)
{
	if (m == 0)
		return 0;
	/* The lowest (2^64 mod m) values would make r % m uneven; skip them. */
	uint64_t threshold = -m % m;
	uint64_t x;

	do
		x = rng_next(r);
	while (x < threshold);
	return x % m;
}
