/*
 * BALANCE (SPEC 4.8): v_i = the candidate's class vector (PREDICTIONS) or
 * the one-hot of its category (METADATA; none: the zero vector); c = the sum
 * of v over the selected (preselected included); L(c) = sum over the
 * target's classes j of |share_j(c) - t_j|; o(i) = (L(c) - L(c + v_i) + 2) / 4,
 * recomputed after every pick. The target: TARGET's fractions, UNIFORM's 1/m
 * over the m classes that occur among the candidates, or INPUT's candidate
 * shares. The sum of c is kept as a running sum in selection order.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

struct balance {
	const struct engine_entry_input *e;
	size_t nin;		/* the input's classes; then the target's unknown names */
	size_t C;
	const char **names;	/* C */
	double *vsum;		/* n: sum of v_i (candidates only) */
	double *c;		/* C */
	double ctot;
	double *cand;		/* C: the sum of v over the candidates */
	double cand_tot;
	bool *occurs;		/* C */
	bool *in_target;	/* C */
	size_t T;
	size_t *tcls;		/* T: class of each target term, in the target's order */
	double *t;		/* T */
	double L;		/* L(c) */
};

static int balance_check(const struct strat_ctx *c)
{
	const struct engine_entry_input *e = c->ein;
	const struct plan_entry *pe = c->pe;

	if ((e->class_idx != NULL) == (e->class_vec != NULL))
		return -EINVAL;
	if (e->nclasses > 0 && !e->class_names)
		return -EINVAL;
	if ((unsigned)pe->distribution >= PLAN_DIST_COUNT_)
		return -EINVAL;
	if (pe->distribution == PLAN_DIST_TARGET && (pe->ntarget == 0 || !pe->target))
		return -EINVAL;
	for (size_t j = 0; pe->distribution == PLAN_DIST_TARGET && j < pe->ntarget; j++)
		if (!pe->target[j].name || !(pe->target[j].fraction >= 0) ||
		    !(pe->target[j].fraction <= 1))
			return -EINVAL;
	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		if (e->class_idx && (e->class_idx[i] < -1 || e->class_idx[i] >= (int64_t)e->nclasses))
			return -EINVAL;
		for (size_t t = 0; e->class_vec && t < e->nclasses; t++) {
			double v = e->class_vec[i * e->nclasses + t];
			if (!isfinite(v) || v < 0)
				return -EINVAL;
		}
	}
	return 0;
}

/* v_i's component at class j. */
static double vcomp(const struct balance *b, size_t i, size_t j)
{
	if (j >= b->nin)
		return 0;
	if (b->e->class_idx)
		return b->e->class_idx[i] == (int32_t)j ? 1 : 0;
	return b->e->class_vec[i * b->nin + j];
}

/* L(c + v_i), or L(c) when i is SIZE_MAX. */
static double loss(const struct balance *b, size_t i)
{
	double tot = b->ctot + (i == SIZE_MAX ? 0 : b->vsum[i]);
	double L = 0;

	for (size_t j = 0; j < b->T; j++) {
		size_t k = b->tcls[j];
		double cj = b->c[k] + (i == SIZE_MAX ? 0 : vcomp(b, i, k));
		double share = tot > 0 ? cj / tot : 0;
		L += fabs(share - b->t[j]);
	}
	return L;
}

static void add(struct balance *b, size_t i)
{
	for (size_t j = 0; j < b->nin; j++)
		b->c[j] += vcomp(b, i, j);
	b->ctot += b->vsum[i];
}

static size_t class_of(const struct balance *b, const char *name, size_t upto)
{
	for (size_t j = 0; j < upto; j++)
		if (strcmp(b->names[j], name) == 0)
			return j;
	return SIZE_MAX;
}

static void set_target(struct balance *b, const struct plan_entry *pe)
{
	if (pe->distribution == PLAN_DIST_TARGET) {
		b->T = pe->ntarget;
		b->tcls = xcalloc(b->T, sizeof(*b->tcls));
		b->t = xcalloc(b->T, sizeof(*b->t));
		for (size_t j = 0; j < b->T; j++) {
			b->tcls[j] = class_of(b, pe->target[j].name, b->C);
			b->t[j] = pe->target[j].fraction;
		}
		return;
	}
	b->tcls = xcalloc(b->C ? b->C : 1, sizeof(*b->tcls));
	b->t = xcalloc(b->C ? b->C : 1, sizeof(*b->t));
	for (size_t k = 0; k < b->C; k++)
		if (b->occurs[k])
			b->tcls[b->T++] = k;
	for (size_t j = 0; j < b->T; j++)
		b->t[j] = pe->distribution == PLAN_DIST_UNIFORM ? 1.0 / (double)b->T
							       : b->cand[b->tcls[j]] / b->cand_tot;
}

static int balance_prepare(void **state, const struct strat_ctx *c)
{
	const struct plan_entry *pe = c->pe;
	struct balance *b = xcalloc(1, sizeof(*b));
	size_t extra = pe->distribution == PLAN_DIST_TARGET ? pe->ntarget : 0;

	b->e = c->ein;
	b->nin = c->ein->nclasses;
	b->names = xcalloc(b->nin + extra + 1, sizeof(*b->names));
	for (size_t j = 0; j < b->nin; j++)
		b->names[j] = c->ein->class_names[j];
	b->C = b->nin;
	for (size_t j = 0; j < extra; j++)
		if (class_of(b, pe->target[j].name, b->C) == SIZE_MAX)
			b->names[b->C++] = pe->target[j].name;
	b->c = xcalloc(b->C + 1, sizeof(*b->c));
	b->cand = xcalloc(b->C + 1, sizeof(*b->cand));
	b->occurs = xcalloc(b->C + 1, sizeof(*b->occurs));
	b->in_target = xcalloc(b->C + 1, sizeof(*b->in_target));
	b->vsum = xcalloc(c->in->n + 1, sizeof(*b->vsum));
	for (size_t j = 0; j < c->ncand; j++) {
		size_t i = c->cand[j];
		for (size_t k = 0; k < b->nin; k++) {
			double v = vcomp(b, i, k);
			b->vsum[i] += v;
			b->cand[k] += v;
			if (v > 0)
				b->occurs[k] = true;
		}
		b->cand_tot += b->vsum[i];
	}
	*state = b;
	if (!isfinite(b->cand_tot))
		return -EINVAL;	/* class weights so large that their sum overflows */
	set_target(b, pe);
	for (size_t j = 0; j < b->T; j++)
		b->in_target[b->tcls[j]] = true;
	for (size_t j = 0; j < c->ncand; j++)
		if (c->selected[c->cand[j]])
			add(b, c->cand[j]);
	b->L = loss(b, SIZE_MAX);
	return 0;
}

static double balance_objective(const void *state, size_t i)
{
	const struct balance *b = state;
	return (b->L - loss(b, i) + 2) / 4;
}

static void balance_update(void *state, const struct strat_ctx *c, size_t pick)
{
	struct balance *b = state;

	add(b, pick);
	b->L = loss(b, SIZE_MAX);
}

static double share(double x, double tot)
{
	return tot > 0 ? x / tot : 0;
}

static void balance_report(const void *state, struct engine_balance *r)
{
	const struct balance *b = state;
	size_t m = 0;

	r->classes = xcalloc(b->C + 1, sizeof(*r->classes));
	r->target = xcalloc(b->C + 1, sizeof(*r->target));
	r->candidate_share = xcalloc(b->C + 1, sizeof(*r->candidate_share));
	r->selection_share = xcalloc(b->C + 1, sizeof(*r->selection_share));
	for (size_t k = 0; k < b->C; k++) {
		if (!b->occurs[k] && !b->in_target[k])
			continue;
		r->classes[m] = b->names[k];
		r->target[m] = NAN;
		for (size_t j = 0; j < b->T; j++)
			if (b->tcls[j] == k)
				r->target[m] = b->t[j];
		r->candidate_share[m] = share(b->cand[k], b->cand_tot);
		r->selection_share[m] = share(b->c[k], b->ctot);
		m++;
	}
	r->nclasses = m;
}

static void balance_free(void *state)
{
	struct balance *b = state;
	if (b) {
		free(b->names);
		free(b->vsum);
		free(b->c);
		free(b->cand);
		free(b->occurs);
		free(b->in_target);
		free(b->tcls);
		free(b->t);
	}
	free(b);
}

const struct strategy strategy_balance = {
	.id = PLAN_STRATEGY_BALANCE,
	.dynamic = true,
	.check = balance_check,
	.prepare = balance_prepare,
	.objective = balance_objective,
	.update = balance_update,
	.report = balance_report,
	.free = balance_free,
};
