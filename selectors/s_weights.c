/*
 * WEIGHTS (SPEC 4.8): the objective is the value itself (SCORES, RANDOM's
 * u_i) or, for METADATA, the value min-max normalised over the candidates
 * that have one (1 when max = min; 0 without a value). Static: computed once.
 * stoppingConditionMaxSum: stop once the raw values of the new picks sum to
 * at least it, the pick that reaches it kept.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "registry.h"
#include "util.h"

struct weights {
	const double *value;
	const bool *has;
	double *obj;		/* n; read for candidates only */
	double max_sum;		/* < 0: off */
	double sum;		/* raw values of the new picks so far */
};

static int weights_check(const struct strat_ctx *c)
{
	if (!c->ein->value)
		return -EINVAL;
	return registry_values_finite(c->ein->value, c->ein->has_value, c->cand, c->ncand) ? 0
											   : -EINVAL;
}

static bool has_value(const struct weights *w, size_t i)
{
	return !w->has || w->has[i];
}

static int weights_prepare(void **state, const struct strat_ctx *c)
{
	struct weights *w = xcalloc(1, sizeof(*w));
	double lo = INFINITY, hi = -INFINITY;
	bool normalise = c->pe->input == PLAN_INPUT_METADATA;

	w->value = c->ein->value;
	w->has = c->ein->has_value;
	w->max_sum = c->pe->max_sum;
	w->obj = xcalloc(c->in->n ? c->in->n : 1, sizeof(*w->obj));
	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		if (!has_value(w, i))
			continue;
		lo = fmin(lo, w->value[i]);
		hi = fmax(hi, w->value[i]);
	}
	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		if (!has_value(w, i))
			w->obj[i] = 0;
		else if (!normalise)
			w->obj[i] = w->value[i];
		else if (hi == lo)
			w->obj[i] = 1;
		else if (isfinite(hi - lo))
			w->obj[i] = (w->value[i] - lo) / (hi - lo);
		else	/* the range overflows: halve both sides (hostile metadata) */
			w->obj[i] = (w->value[i] / 2 - lo / 2) / (hi / 2 - lo / 2);
	}
	*state = w;
	return 0;
}

static double weights_objective(const void *state, size_t i)
{
	const struct weights *w = state;
	return w->obj[i];
}

static bool weights_stop_after(void *state, size_t pick)
{
	struct weights *w = state;

	if (has_value(w, pick))
		w->sum += w->value[pick];
	return w->max_sum >= 0 && w->sum >= w->max_sum;
}

static void weights_free(void *state)
{
	struct weights *w = state;
	if (w)
		free(w->obj);
	free(w);
}

const struct strategy strategy_weights = {
	.id = PLAN_STRATEGY_WEIGHTS,
	.has_stop = true,
	.stop = ENGINE_STOP_MAX_SUM,
	.check = weights_check,
	.prepare = weights_prepare,
	.objective = weights_objective,
	.stop_after = weights_stop_after,
	.free = weights_free,
};
