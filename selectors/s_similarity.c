/*
 * SIMILARITY (SPEC 4.8): objective 1 - q_i / Q, q_i the distance from
 * candidate i to the nearest query row, Q = max q_j over the candidates (1
 * when Q = 0). Static: computed once, O(n * nquery * d).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "pool.h"
#include "registry.h"
#include "util.h"

struct similarity {
	const struct strat_ctx *c;
	double *q;		/* n: q_i; read for candidates only */
	double Q;
};

static int similarity_check(const struct strat_ctx *c)
{
	const struct engine_entry_input *e = c->ein;
	size_t d = c->in->d;

	if (!c->in->X || !e->query || e->nquery == 0 || d == 0)
		return -EINVAL;
	for (size_t t = 0; t < e->nquery * d; t++)
		if (!isfinite(e->query[t]))
			return -EINVAL;
	return registry_rows_finite(c) ? 0 : -EINVAL;
}

static void nearest_cb(size_t j, int tid, void *ud)
{
	struct similarity *s = ud;
	const struct strat_ctx *c = s->c;
	size_t i = c->cand[j], d = c->in->d;
	double best = INFINITY;

	for (size_t t = 0; t < c->ein->nquery && best > 0; t++)
		best = fmin(best, registry_dist(c->in->X + i * d, c->ein->query + t * d, d));
	s->q[i] = best;
}

static int similarity_prepare(void **state, const struct strat_ctx *c)
{
	struct similarity *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->q = xcalloc(c->in->n ? c->in->n : 1, sizeof(*s->q));
	pool_for(c->ncand, c->threads, nearest_cb, s, NULL);
	s->Q = 0;
	for (size_t j = 0; j < c->ncand; j++)
		s->Q = fmax(s->Q, s->q[c->cand[j]]);
	*state = s;
	return 0;
}

static double similarity_objective(const void *state, size_t i)
{
	const struct similarity *s = state;
	return s->Q == 0 ? 1 : 1 - s->q[i] / s->Q;
}

static void similarity_free(void *state)
{
	struct similarity *s = state;
	if (s)
		free(s->q);
	free(s);
}

const struct strategy strategy_similarity = {
	.id = PLAN_STRATEGY_SIMILARITY,
	.single = true,
	.check = similarity_check,
	.prepare = similarity_prepare,
	.objective = similarity_objective,
	.free = similarity_free,
};
