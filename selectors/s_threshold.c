/*
 * THRESHOLD (SPEC 4.8): a filter applied before any pick, on the raw value,
 * to every candidate that is not preselected; one without a value is removed.
 */
#include <errno.h>
#include <math.h>

#include "registry.h"

static int threshold_check(const struct strat_ctx *c)
{
	if (!c->ein->value)
		return -EINVAL;
	if ((unsigned)c->pe->operation >= PLAN_OP_COUNT_ || !isfinite(c->pe->threshold))
		return -EINVAL;
	return registry_values_finite(c->ein->value, c->ein->has_value, c->cand, c->ncand) ? 0
											   : -EINVAL;
}

static bool threshold_keep(const struct strat_ctx *c, size_t i)
{
	double v = c->ein->value[i], t = c->pe->threshold;

	if (c->ein->has_value && !c->ein->has_value[i])
		return false;
	switch (c->pe->operation) {
	case PLAN_OP_SMALLER:
		return v < t;
	case PLAN_OP_SMALLER_EQUAL:
		return v <= t;
	case PLAN_OP_BIGGER:
		return v > t;
	case PLAN_OP_BIGGER_EQUAL:
		return v >= t;
	default:
		return false;
	}
}

const struct strategy strategy_threshold = {
	.id = PLAN_STRATEGY_THRESHOLD,
	.check = threshold_check,
	.keep = threshold_keep,
};
