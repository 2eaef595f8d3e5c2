/*
 * RANDOM input (SPEC 4.8): u_i = (x >> 11) * 2^-53 for the i-th output x of
 * xoshiro256** seeded through splitmix64 from `randomSeed`, i the candidate's
 * index among all candidates (path order, before thresholds).
 */
#include "inputs.h"
#include "selectors/rng.h"
#include "util.h"

static int random_prepare(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];
	struct rng r;

	rng_seed(&r, pe->random_seed);
	d->value = xcalloc(run->ncand ? run->ncand : 1, sizeof(double));
	for (size_t i = 0; i < run->ncand; i++)
		d->value[i] = (double)(rng_next(&r) >> 11) * 0x1p-53;
	d->ein.value = d->value;
	return 0;
}

const struct input_kind input_random = {
	.id = PLAN_INPUT_RANDOM,
	.prepare = random_prepare,
};
