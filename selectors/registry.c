/*
 * registry: the table of selection strategies (SPEC 4.8) and the small
 * helpers their files share. One line per strategy; see registry.h.
 */
#include <math.h>

#include "geometry.h"
#include "registry.h"

extern const struct strategy strategy_diversity, strategy_weights, strategy_threshold,
	strategy_balance, strategy_similarity, strategy_typicality;

static const struct strategy *const table[PLAN_STRATEGY_COUNT_] = {
	[PLAN_STRATEGY_DIVERSITY] = &strategy_diversity,
	[PLAN_STRATEGY_WEIGHTS] = &strategy_weights,
	[PLAN_STRATEGY_THRESHOLD] = &strategy_threshold,
	[PLAN_STRATEGY_BALANCE] = &strategy_balance,
	[PLAN_STRATEGY_SIMILARITY] = &strategy_similarity,
	[PLAN_STRATEGY_TYPICALITY] = &strategy_typicality,
};

const struct strategy *registry_get(enum plan_strategy st)
{
	if ((unsigned)st >= PLAN_STRATEGY_COUNT_)
		return NULL;
	return table[st];
}

bool registry_allows(enum plan_input in, enum plan_strategy st)
{
	return plan_pair_allowed(in, st);
}

bool registry_rows_finite(const struct strat_ctx *c)
{
	size_t d = c->in->d;

	for (size_t j = 0; j < c->ncand; j++) {
		const double *row = c->in->X + c->cand[j] * d;
		for (size_t t = 0; t < d; t++)
			if (!isfinite(row[t]))
				return false;
	}
	return true;
}

bool registry_values_finite(const double *v, const bool *has, const size_t *list, size_t nlist)
{
	for (size_t j = 0; j < nlist; j++) {
		size_t i = list[j];
		if ((!has || has[i]) && !isfinite(v[i]))
			return false;
	}
	return true;
}

double registry_dist(const double *a, const double *b, size_t d)
{
	return sqrt(geom_sqdist(a, b, d));
}
