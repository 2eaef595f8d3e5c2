/*
 * DIVERSITY (SPEC 4.8): objective d_i / D, d_i the distance to the nearest
 * selected sample (+inf while nothing is selected), D = max d_j over the
 * selectable j (objective 1 while nothing is selected, or D = 0 or +inf). A
 * candidate at d_i = 0, or below stopping_condition_minimum_distance, is not
 * selectable. Ties: the farthest from the candidates' mean embedding while
 * nothing is selected, else the larger d_i.
 *
 * d is kept incrementally: each pick updates it with that pick's distances
 * only (O(n d) per pick), preselected members first, before any pick.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "geometry.h"
#include "pool.h"
#include "registry.h"
#include "util.h"

struct diversity {
	const struct strat_ctx *c;	/* for the pool callbacks only */
	double *dist;		/* n: d_i; read for candidates only */
	double *dmean;		/* n: distance to the candidates' mean */
	double D;		/* max d over the selectable */
	double min_distance;	/* < 0: off */
	bool any;		/* something is selected */
	size_t pick;		/* the pick being applied (update_cb) */
	const size_t *pre;	/* the preselected candidates (init_cb) */
	size_t npre;
};

static int diversity_check(const struct strat_ctx *c)
{
	if (!c->in->X || (c->in->d == 0 && c->in->n > 0))
		return -EINVAL;
	return registry_rows_finite(c) ? 0 : -EINVAL;
}

static bool diversity_selectable(const void *state, size_t i)
{
	const struct diversity *v = state;
	double d = v->dist[i];
	return d > 0 && !(v->min_distance >= 0 && d < v->min_distance);
}

static void max_selectable(struct diversity *v, const struct strat_ctx *c)
{
	double D = 0;

	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		if (!c->selected[i] && diversity_selectable(v, i) && v->dist[i] > D)
			D = v->dist[i];
	}
	v->D = D;
}

static void init_cb(size_t j, int tid, void *ud)
{
	struct diversity *v = ud;
	const struct strat_ctx *c = v->c;
	size_t i = c->cand[j], d = c->in->d;
	const double *row = c->in->X + i * d;
	double best = c->selected[i] ? 0 : INFINITY;

	for (size_t t = 0; t < v->npre && best > 0; t++)
		best = fmin(best, registry_dist(row, c->in->X + v->pre[t] * d, d));
	v->dist[i] = best;
	v->dmean[i] = 0;
}

static void update_cb(size_t j, int tid, void *ud)
{
	struct diversity *v = ud;
	const struct strat_ctx *c = v->c;
	size_t i = c->cand[j], d = c->in->d;

	if (c->selected[i]) {
		v->dist[i] = 0;
		return;
	}
	if (v->dist[i] > 0)
		v->dist[i] = fmin(v->dist[i], registry_dist(c->in->X + i * d,
							    c->in->X + v->pick * d, d));
}

static int diversity_prepare(void **state, const struct strat_ctx *c)
{
	struct diversity *v = xcalloc(1, sizeof(*v));
	size_t n = c->in->n, d = c->in->d, npre = 0;
	size_t *pre = xcalloc(c->ncand ? c->ncand : 1, sizeof(*pre));

	v->c = c;
	v->min_distance = c->pe->min_distance;
	v->dist = xcalloc(n ? n : 1, sizeof(*v->dist));
	v->dmean = xcalloc(n ? n : 1, sizeof(*v->dmean));
	for (size_t j = 0; j < c->ncand; j++)
		if (c->selected[c->cand[j]])
			pre[npre++] = c->cand[j];
	v->pre = pre;
	v->npre = npre;
	v->any = npre > 0;
	pool_for(c->ncand, c->threads, init_cb, v, NULL);
	free(pre);
	v->pre = NULL;
	if (!v->any && c->ncand > 0) {
		/* The mean embedding: the sequential float64 sum in path order, / n. */
		double *mean = xcalloc(d ? d : 1, sizeof(*mean));
		for (size_t j = 0; j < c->ncand; j++)
			for (size_t t = 0; t < d; t++)
				mean[t] += c->in->X[c->cand[j] * d + t];
		for (size_t t = 0; t < d; t++)
			mean[t] /= (double)c->ncand;
		for (size_t j = 0; j < c->ncand; j++)
			v->dmean[c->cand[j]] = registry_dist(c->in->X + c->cand[j] * d, mean, d);
		free(mean);
	}
	max_selectable(v, c);
	*state = v;
	return 0;
}

static double diversity_objective(const void *state, size_t i)
{
	const struct diversity *v = state;

	if (!v->any || v->D == 0 || isinf(v->D))
		return 1;
	return v->dist[i] / v->D;
}

static void diversity_update(void *state, const struct strat_ctx *c, size_t pick)
{
	struct diversity *v = state;

	v->c = c;
	v->pick = pick;
	v->any = true;
	pool_for(c->ncand, c->threads, update_cb, v, NULL);
	max_selectable(v, c);
}

static double diversity_tie_key(const void *state, const struct strat_ctx *c, size_t i)
{
	const struct diversity *v = state;
	return v->any ? v->dist[i] : v->dmean[i];
}

static double diversity_pick_dist(const void *state, size_t i)
{
	const struct diversity *v = state;
	return v->dist[i];
}

static bool diversity_exhausted(const void *state, const struct strat_ctx *c)
{
	const struct diversity *v = state;

	if (v->min_distance < 0)
		return false;
	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		if (!c->selected[i] && v->dist[i] > 0 && v->dist[i] < v->min_distance)
			return true;
	}
	return false;
}

static void diversity_free(void *state)
{
	struct diversity *v = state;
	if (v) {
		free(v->dist);
		free(v->dmean);
	}
	free(v);
}

const struct strategy strategy_diversity = {
	.id = PLAN_STRATEGY_DIVERSITY,
	.dynamic = true,
	.single = true,
	.has_stop = true,
	.stop = ENGINE_STOP_MIN_DISTANCE,
	.check = diversity_check,
	.prepare = diversity_prepare,
	.objective = diversity_objective,
	.selectable = diversity_selectable,
	.update = diversity_update,
	.tie_key = diversity_tie_key,
	.pick_dist = diversity_pick_dist,
	.exhausted = diversity_exhausted,
	.free = diversity_free,
};
