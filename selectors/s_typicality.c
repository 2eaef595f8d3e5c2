/*
 * TYPICALITY (SPEC 4.8): objective m_min / m_i, m_i the mean distance from i
 * to its K nearest other candidates (computed by the caller over the
 * candidates left after thresholds), m_min the least over the candidates;
 * 1 when m_i = 0 or when there is at most one candidate. Static.
 * stoppingConditionMinimumTypicality: stop before a pick whose objective is
 * below it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "registry.h"
#include "util.h"

struct typicality {
	const double *m;
	double m_min;
	size_t ncand;
	double min_typicality;	/* < 0: off */
};

static int typicality_check(const struct strat_ctx *c)
{
	return c->ein->m ? 0 : -EINVAL;
}

static int typicality_prepare(void **state, const struct strat_ctx *c)
{
	struct typicality *t;
	double lo = INFINITY;

	/* m_i is read only for the candidates left, so it is checked only there. */
	for (size_t j = 0; j < c->ncand; j++) {
		double m = c->ein->m[c->cand[j]];
		if (!isfinite(m) || m < 0)
			return -EINVAL;
		lo = fmin(lo, m);
	}
	t = xcalloc(1, sizeof(*t));
	t->m = c->ein->m;
	t->m_min = lo;
	t->ncand = c->ncand;
	t->min_typicality = c->pe->min_typicality;
	*state = t;
	return 0;
}

static double typicality_objective(const void *state, size_t i)
{
	const struct typicality *t = state;

	if (t->ncand <= 1 || t->m[i] == 0)
		return 1;
	return t->m_min / t->m[i];
}

static bool typicality_stop_before(const void *state, double o)
{
	const struct typicality *t = state;
	return t->min_typicality >= 0 && o < t->min_typicality;
}

const struct strategy strategy_typicality = {
	.id = PLAN_STRATEGY_TYPICALITY,
	.single = true,
	.has_stop = true,
	.stop = ENGINE_STOP_MIN_TYPICALITY,
	.check = typicality_check,
	.prepare = typicality_prepare,
	.objective = typicality_objective,
	.stop_before = typicality_stop_before,
	.free = free,
};
