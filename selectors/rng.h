/*
 * rng: xoshiro256** seeded through splitmix64 (SPEC 4.6, the `random`
 * selector). Small, deterministic and the same on every platform, so a seed
 * names one selection for good.
 */
#ifndef WINNOW_RNG_H
#define WINNOW_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* One splitmix64 step: advances *x and returns the next output. */
uint64_t splitmix64_next(uint64_t *x);

/* s[0..3] = four successive splitmix64 outputs starting from x = seed. */
void rng_seed(struct rng *r, uint64_t seed);

/* The next xoshiro256** output. */
uint64_t rng_next(struct rng *r);

/*
 * A uniform value in [0, m), m > 0, without modulo bias: draws until
 * r >= (2^64 - m) mod m, then returns r % m. Returns 0 when m is 0.
 */
uint64_t rng_bounded(struct rng *r, uint64_t m);

#endif
