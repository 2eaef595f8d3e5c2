/*
 * engine: the greedy step of SPEC 4.8 over any plan.
 *
 * DESIGN: the engine knows strategies only through their registry rows. Each
 * step scores every unselected candidate: S(i) is the float64 product of the
 * entries' factors left to right in config order, where a static entry's
 * factor (objective fixed once the candidates are known) is computed once
 * and a dynamic one's each step. The step's argmax runs over fixed blocks of
 * candidates in parallel and the blocks' winners are reduced in block order,
 * so the result does not depend on the number of threads. Ties in S go to
 * the first entry with a tie key (DIVERSITY: larger wins), then the lowest
 * index.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "pool.h"
#include "registry.h"
#include "util.h"

#define BLOCK 512	/* candidates per block of the argmax */

static const char *const stop_names[ENGINE_STOP_COUNT_] = {
	[ENGINE_STOP_BUDGET] = "budget",
	[ENGINE_STOP_MIN_DISTANCE] = "min_distance",
	[ENGINE_STOP_MAX_SUM] = "max_sum",
	[ENGINE_STOP_MIN_TYPICALITY] = "min_typicality",
	[ENGINE_STOP_NONE_SELECTABLE] = "none_selectable",
	[ENGINE_STOP_ALL_SELECTED] = "all_selected",
};

const char *engine_stop_name(enum engine_stop s)
{
	return (unsigned)s < ENGINE_STOP_COUNT_ ? stop_names[s] : "?";
}

struct slot {				/* one plan entry at run time */
	const struct strategy *st;
	struct strat_ctx ctx;
	void *state;
	double strength;
	double *factor;			/* n: static entries' f_e(i); NULL for dynamic */
};

struct best {
	size_t i;			/* SIZE_MAX: none */
	double S, tie;
};

struct run {
	const struct engine_inputs *in;
	struct slot *slots;
	size_t nslots;
	size_t tie_slot;		/* the entry whose tie key decides ties; SIZE_MAX: none */
	size_t *cand;
	size_t ncand;
	bool *selected;
	struct best *blocks;
};

/* f_e for objective o and strength s (SPEC 4.8). */
static double factor(double o, double s)
{
	if (s == 0)
		return 1;
	if (s == 1)
		return o;
	if (s > 0)
		return pow(o, s);
	return pow(fmax(o, 1e-12), s);
}

static bool selectable(const struct run *r, size_t i)
{
	if (r->selected[i])
		return false;
	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (sl->st->selectable && !sl->st->selectable(sl->state, i))
			return false;
	}
	return true;
}

static double score(const struct run *r, size_t i)
{
	double S = 1;

	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (sl->st->keep)
			continue;
		if (sl->factor)
			S *= sl->factor[i];
		else
			S *= factor(sl->st->objective(sl->state, i), sl->strength);
	}
	return isnan(S) ? 0 : S;
}

static double tie_key(const struct run *r, size_t i)
{
	const struct slot *sl;

	if (r->tie_slot == SIZE_MAX)
		return 0;
	sl = &r->slots[r->tie_slot];
	return sl->st->tie_key(sl->state, &sl->ctx, i);
}

/* Whether a beats b: larger S, then larger tie key, then lower index. */
static bool better(const struct best *a, const struct best *b)
{
	if (b->i == SIZE_MAX)
		return a->i != SIZE_MAX;
	if (a->i == SIZE_MAX)
		return false;
	if (a->S != b->S)
		return a->S > b->S;
	if (a->tie != b->tie)
		return a->tie > b->tie;
	return a->i < b->i;
}

static void block_cb(size_t blk, int tid, void *ud)
{
	struct run *r = ud;
	size_t lo = blk * BLOCK, hi = lo + BLOCK < r->ncand ? lo + BLOCK : r->ncand;
	struct best b = { SIZE_MAX, 0, 0 };

	for (size_t j = lo; j < hi; j++) {
		size_t i = r->cand[j];
		struct best c;
		if (!selectable(r, i))
			continue;
		c.i = i;
		c.S = score(r, i);
		c.tie = tie_key(r, i);
		if (better(&c, &b))
			b = c;
	}
	r->blocks[blk] = b;
}

static struct best argmax(struct run *r)
{
	size_t nblk = (r->ncand + BLOCK - 1) / BLOCK;
	struct best b = { SIZE_MAX, 0, 0 };

	pool_for(nblk, r->in->threads, block_cb, r, NULL);
	for (size_t k = 0; k < nblk; k++)
		if (better(&r->blocks[k], &b))
			b = r->blocks[k];
	return b;
}

static void static_cb(size_t j, int tid, void *ud)
{
	struct slot *sl = ud;
	size_t i = sl->ctx.cand[j];
	sl->factor[i] = factor(sl->st->objective(sl->state, i), sl->strength);
}

/* Validates the plan against the registry and the inputs; fills r->slots' rows. */
static int check_plan(const struct plan *p, const struct engine_inputs *in, struct run *r,
		      const size_t *all)
{
	size_t count[PLAN_STRATEGY_COUNT_] = { 0 };

	if (in->n > 0 && (!in->entries && p->nentries > 0))
		return -EINVAL;
	for (size_t e = 0; e < p->nentries; e++) {
		const struct plan_entry *pe = &p->entries[e];
		const struct strategy *st = registry_get(pe->strategy);
		struct slot *sl = &r->slots[e];
		int rc;

		if (!st || !registry_allows(pe->input, pe->strategy))
			return -EINVAL;
		if (st->single && count[pe->strategy]++ > 0)
			return -EINVAL;
		if (!st->keep && (!isfinite(pe->strength) || fabs(pe->strength) > 1e9))
			return -EINVAL;
		sl->st = st;
		sl->strength = pe->strength;
		sl->ctx = (struct strat_ctx){ .in = in, .pe = pe, .ein = &in->entries[e],
					      .cand = all, .ncand = in->n, .selected = r->selected,
					      .threads = in->threads };
		if ((rc = st->check(&sl->ctx)) < 0)
			return rc;
	}
	return 0;
}

/* THRESHOLD first: the candidates left, preselected ones always among them. */
static void apply_filters(struct run *r)
{
	const struct engine_inputs *in = r->in;

	r->ncand = 0;
	for (size_t i = 0; i < in->n; i++) {
		bool keep = true;
		for (size_t e = 0; keep && e < r->nslots && !r->selected[i]; e++) {
			const struct slot *sl = &r->slots[e];
			if (sl->st->keep && !sl->st->keep(&sl->ctx, i))
				keep = false;
		}
		if (keep)
			r->cand[r->ncand++] = i;
	}
}

static int prepare(struct run *r)
{
	size_t nsel = 0;

	for (size_t j = 0; j < r->ncand; j++)
		nsel += r->selected[r->cand[j]];
	r->tie_slot = SIZE_MAX;
	for (size_t e = 0; e < r->nslots; e++) {
		struct slot *sl = &r->slots[e];
		int rc;

		sl->ctx.cand = r->cand;
		sl->ctx.ncand = r->ncand;
		sl->ctx.nselected = nsel;
		if (sl->st->keep)
			continue;
		if ((rc = sl->st->prepare(&sl->state, &sl->ctx)) < 0)
			return rc;
		if (sl->st->tie_key && r->tie_slot == SIZE_MAX)
			r->tie_slot = e;
		if (!sl->st->dynamic) {
			sl->factor = xcalloc(r->in->n + 1, sizeof(*sl->factor));
			pool_for(r->ncand, r->in->threads, static_cb, sl, NULL);
		}
	}
	return 0;
}

/* Why nothing is selectable: all taken, an entry's condition, or none_selectable. */
static enum engine_stop exhausted(const struct run *r)
{
	bool left = false;

	for (size_t j = 0; j < r->ncand && !left; j++)
		left = !r->selected[r->cand[j]];
	if (!left)
		return ENGINE_STOP_ALL_SELECTED;
	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (sl->st->exhausted && sl->st->exhausted(sl->state, &sl->ctx))
			return sl->st->stop;
	}
	return ENGINE_STOP_NONE_SELECTABLE;
}

static void result_init(struct engine_result *out, const struct plan *p, size_t cap)
{
	memset(out, 0, sizeof(*out));
	for (size_t e = 0; e < p->nentries; e++)
		if (!registry_get(p->entries[e].strategy)->keep)
			out->nobj++;
	out->obj_entry = xcalloc(out->nobj + 1, sizeof(*out->obj_entry));
	for (size_t e = 0, o = 0; e < p->nentries; e++)
		if (!registry_get(p->entries[e].strategy)->keep)
			out->obj_entry[o++] = e;
	out->idx = xcalloc(cap + 1, sizeof(*out->idx));
	out->score = xcalloc(cap + 1, sizeof(*out->score));
	out->dist = xcalloc(cap + 1, sizeof(*out->dist));
	out->objective = xcalloc((cap + 1) * (out->nobj + 1), sizeof(*out->objective));
}

/* Records pick b: its S, every objective at this step, d_i. */
static void record(const struct run *r, struct engine_result *out, const struct best *b)
{
	size_t k = out->npicks++, o = 0;

	out->idx[k] = b->i;
	out->score[k] = b->S;
	out->dist[k] = NAN;
	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (sl->st->keep)
			continue;
		out->objective[k * out->nobj + o++] = sl->st->objective(sl->state, b->i);
		if (sl->st->pick_dist && e == r->tie_slot)
			out->dist[k] = sl->st->pick_dist(sl->state, b->i);
	}
}

static enum engine_stop greedy(struct run *r, struct engine_result *out, int *rc)
{
	const struct engine_inputs *in = r->in;

	for (;;) {
		struct best b;
		enum engine_stop why = ENGINE_STOP_COUNT_;

		if (out->npicks >= in->k)
			return ENGINE_STOP_BUDGET;
		if (in->cancel && *in->cancel) {
			*rc = -ECANCELED;
			return ENGINE_STOP_COUNT_;
		}
		b = argmax(r);
		if (b.i == SIZE_MAX)
			return exhausted(r);
		for (size_t e = 0; e < r->nslots; e++) {
			const struct slot *sl = &r->slots[e];
			if (sl->st->stop_before &&
			    sl->st->stop_before(sl->state, sl->st->objective(sl->state, b.i)))
				return sl->st->stop;
		}
		record(r, out, &b);
		r->selected[b.i] = true;
		for (size_t e = 0; e < r->nslots; e++) {
			struct slot *sl = &r->slots[e];
			sl->ctx.nselected++;
			if (sl->st->update)
				sl->st->update(sl->state, &sl->ctx, b.i);
		}
		/* Every entry sees the pick (WEIGHTS sums its raw value) before any stops;
		 * reaching a max_sum and the budget with the same pick reports max_sum. */
		for (size_t e = 0; e < r->nslots; e++) {
			struct slot *sl = &r->slots[e];
			if (sl->st->stop_after && sl->st->stop_after(sl->state, b.i) &&
			    why == ENGINE_STOP_COUNT_)
				why = sl->st->stop;
		}
		if (why != ENGINE_STOP_COUNT_)
			return why;
	}
}

static void report(const struct run *r, struct engine_result *out)
{
	for (size_t e = 0; e < r->nslots; e++)
		if (r->slots[e].st->report)
			out->nbalance++;
	out->balance = xcalloc(out->nbalance + 1, sizeof(*out->balance));
	for (size_t e = 0, b = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (!sl->st->report)
			continue;
		out->balance[b].entry = e;
		sl->st->report(sl->state, &out->balance[b++]);
	}
}

int engine_run(const struct plan *p, const struct engine_inputs *in, struct engine_result *out)
{
	struct engine_inputs local = *in;
	struct run r = { .in = &local, .nslots = p->nentries };
	size_t n = in->n, *all;
	int rc;

	if (local.threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		local.threads = nc > 0 ? (int)nc : 1;
	}
	r.slots = xcalloc(r.nslots + 1, sizeof(*r.slots));
	r.selected = xcalloc(n + 1, sizeof(*r.selected));
	r.cand = xcalloc(n + 1, sizeof(*r.cand));
	r.blocks = xcalloc(n / BLOCK + 1, sizeof(*r.blocks));
	all = xcalloc(n + 1, sizeof(*all));
	for (size_t i = 0; i < n; i++) {
		all[i] = i;
		r.selected[i] = in->preselected && in->preselected[i];
	}
	memset(out, 0, sizeof(*out));
	rc = check_plan(p, &local, &r, all);
	if (rc == 0) {
		apply_filters(&r);
		rc = prepare(&r);
	}
	/* proportionSamples: a fraction of the candidates left after thresholds (SPEC 4.8). */
	if (rc == 0 && p->budget == PLAN_BUDGET_FRACTION) {
		size_t kf = plan_fraction_k(p->budget_value, r.ncand);
		local.k = kf < local.k ? kf : local.k;
	}
	if (rc == 0) {
		size_t cap = local.k < r.ncand ? local.k : r.ncand;
		result_init(out, p, cap);
		out->ncandidates = r.ncand;
		out->stop_reason = greedy(&r, out, &rc);
		if (rc == 0)
			report(&r, out);
		else
			engine_result_free(out);
	}
	for (size_t e = 0; e < r.nslots; e++) {
		if (r.slots[e].st && r.slots[e].st->free)
			r.slots[e].st->free(r.slots[e].state);
		free(r.slots[e].factor);
	}
	free(r.slots);
	free(r.selected);
	free(r.cand);
	free(r.blocks);
	free(all);
	return rc;
}

void engine_result_free(struct engine_result *r)
{
	if (!r)
		return;
	free(r->idx);
	free(r->score);
	free(r->obj_entry);
	free(r->objective);
	free(r->dist);
	for (size_t b = 0; b < r->nbalance; b++) {
		free(r->balance[b].classes);
		free(r->balance[b].target);
		free(r->balance[b].candidate_share);
		free(r->balance[b].selection_share);
	}
	free(r->balance);
	memset(r, 0, sizeof(*r));
}
