/*
 * TYPICALITY (SPEC 4.8): objective m_min / m_i, m_i the mean distance from i
 * to its K nearest other candidates left after thresholds (given by the
 * caller in ein->m, or, when that is NULL, computed here by knn.c's exact
 * k-NN on the candidates' rows), m_min the least over the candidates;
 * 1 when m_i = 0 or when there is at most one candidate. Static.
 * stoppingConditionMinimumTypicality: stop before a pick whose objective is
 * below it.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"
#include "registry.h"
#include "util.h"

struct typicality {
	const double *m;
	double *own;		/* m computed here (n values), or NULL */
	double m_min;
	size_t ncand;
	double min_typicality;	/* < 0: off */
};

static int typicality_check(const struct strat_ctx *c)
{
	return c->ein->m || (c->in->X && c->in->d > 0) || c->in->n == 0 ? 0 : -EINVAL;
}

/* m_i over the candidates' rows (SPEC 4.8: K at most n - 1), indexed by candidate. */
static int typicality_knn(const struct strat_ctx *c, double **out)
{
	size_t d = c->in->d, n = c->ncand;
	double *rows = xcalloc_huge(n ? n * d : 1, sizeof(double));
	double *m = xcalloc(n ? n : 1, sizeof(double));
	double *own = xcalloc(c->in->n ? c->in->n : 1, sizeof(double));
	uint32_t K = c->pe->num_nearest_neighbors;
	int rc = 0;

	for (size_t j = 0; j < n; j++)
		memcpy(rows + j * d, c->in->X + c->cand[j] * d, d * sizeof(double));
	if (n > 1)
		rc = knn_mean_dist(rows, n, d, K > n - 1 ? (int)(n - 1) : (int)K, c->threads,
				   c->in->cancel, m);
	for (size_t j = 0; j < n && rc == 0; j++)
		own[c->cand[j]] = m[j];
	free(rows);
	free(m);
	if (rc < 0) {
		free(own);
		return rc;
	}
	*out = own;
	return 0;
}

static int typicality_prepare(void **state, const struct strat_ctx *c)
{
	struct typicality *t;
	double lo = INFINITY, *own = NULL;
	const double *mv = c->ein->m;
	int rc;

	if (mv == NULL) {
		if ((rc = typicality_knn(c, &own)) < 0)
			return rc;
		mv = own;
	}
	/* m_i is read only for the candidates left, so it is checked only there. */
	for (size_t j = 0; j < c->ncand; j++) {
		double m = mv[c->cand[j]];
		if (!isfinite(m) || m < 0) {
			free(own);
			return -EINVAL;
		}
		lo = fmin(lo, m);
	}
	t = xcalloc(1, sizeof(*t));
	t->m = mv;
	t->own = own;
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

static void typicality_free(void *state)
{
	struct typicality *t = state;

	if (t != NULL)
		free(t->own);
	free(t);
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
	.free = typicality_free,
};
