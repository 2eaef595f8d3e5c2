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
#include "geometry.h"
#include "kcenter.h"
#include "pool.h"
#include "registry.h"
#include "util.h"

#define BLOCK 512	/* candidates per block of the argmax */
#define FAST_MIN 4096	/* candidates from which the adaptive choice takes the fast path */
#define KEY_CLASSES_MAX 256	/* BALANCE classes the per-class keys are kept for */

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

struct fastpath;

struct run {
	const struct engine_inputs *in;
	struct fastpath *fp;		/* NULL: the plain path */
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

/* The best selectable candidate among r->cand[lo..hi). */
static struct best scan(struct run *r, size_t lo, size_t hi)
{
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
	return b;
}

static void block_cb(size_t blk, int tid, void *ud)
{
	struct run *r = ud;
	size_t lo = blk * BLOCK, hi = lo + BLOCK < r->ncand ? lo + BLOCK : r->ncand;

	r->blocks[blk] = scan(r, lo, hi);
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

/*
 * ---- The fast path: plans with a DIVERSITY entry of strength > 0 ----
 *
 * The plain step reads every candidate's d_i, and keeping d exact costs
 * O(n d) per pick. Here d comes from kcenter (kcenter.c), which keeps the
 * same float64 d^2 as the plain fold but lazily, per block of KCENTER_BLOCK
 * candidates: a stale block's largest d^2 is an upper bound of its rows'.
 * Each step bounds every block's best S by the product, in config order, of
 * each entry's largest factor over the block: DIVERSITY's from the block's
 * d^2 bound, static entries' from their factors' block maxima (computed
 * once), BALANCE on categories from the largest of its per-class factors
 * over the classes present in the block (C + 1 objectives per pick), any
 * other dynamic entry from all its candidates' factors (one pass per pick).
 * Blocks are then brought up to date and scanned exactly, highest bound
 * first, until no block left can hold an S at or above the best found (a
 * tie could still win on d_i or the index). Every factor is >= 0 and
 * rounding is monotone, so the bound computed like S is at least S; a
 * relative 2^-40 (and 2^-1000) on top covers pow's last-place error. The
 * candidates scanned are scored by the plain path's own functions on the
 * same d, D and factors, so the pick is the plain path's pick, bitwise. See
 * docs/selection.md.
 */

/* The DIVERSITY entry on kcenter: same objective, tie key and d_i as s_diversity.c. */
struct fdiv {
	struct kcenter *kc;
	const double *d2;	/* by candidate position; exact in fresh blocks */
	size_t *pos;		/* n: candidate -> its position in the candidates */
	double *dmean;		/* n: distance to the candidates' mean (no preselection) */
	double *Xc;		/* the candidates' rows when thresholds removed some */
	bool *pre;		/* by position */
	double min_distance, D;
	bool any;
	int rc;			/* kcenter's error in an update (-ECANCELED) */
};

static int fdiv_settle(struct fdiv *v)
{
	double m2;
	int rc = kcenter_max_d2(v->kc, &m2);

	/* The largest d over the unselected; if it is not selectable, nothing is. */
	v->D = m2 > 0 ? sqrt(m2) : 0;
	return rc;
}

static int fdiv_prepare(void **state, const struct strat_ctx *c)
{
	struct fdiv *v = xcalloc(1, sizeof(*v));
	size_t n = c->in->n, d = c->in->d, npre = 0;
	struct select_input si = { 0 };
	const double *X = c->in->X;
	int rc;

	*state = v;
	v->min_distance = c->pe->min_distance;
	v->pos = xcalloc(n + 1, sizeof(*v->pos));
	v->dmean = xcalloc(n + 1, sizeof(*v->dmean));
	v->pre = xcalloc(c->ncand + 1, sizeof(*v->pre));
	for (size_t j = 0; j < c->ncand; j++) {
		v->pos[c->cand[j]] = j;
		v->pre[j] = c->selected[c->cand[j]];
		npre += v->pre[j];
	}
	if (c->ncand != n) {
		v->Xc = xmalloc(c->ncand * d * sizeof(*v->Xc) + 1);
		for (size_t j = 0; j < c->ncand; j++)
			memcpy(v->Xc + j * d, X + c->cand[j] * d, d * sizeof(*X));
		X = v->Xc;
	}
	si.X = X;
	si.n = c->ncand;
	si.d = d;
	si.k = SIZE_MAX;
	si.min_distance = -1;
	si.preselected = v->pre;
	si.cancel = c->in->cancel;
	si.threads = c->threads;
	if ((rc = kcenter_new(&si, false, &v->kc)) < 0)
		return rc;
	v->d2 = kcenter_d2_held(v->kc);
	v->any = npre > 0;
	if (v->any) {
		if ((rc = kcenter_add_preselected(v->kc)) < 0)
			return rc;
	} else {
		/* As s_diversity.c: the sequential float64 sum in path order, / n. */
		double *mean = xcalloc(d + 1, sizeof(*mean));
		for (size_t j = 0; j < c->ncand; j++)
			for (size_t t = 0; t < d; t++)
				mean[t] += c->in->X[c->cand[j] * d + t];
		for (size_t t = 0; t < d; t++)
			mean[t] /= (double)c->ncand;
		for (size_t j = 0; j < c->ncand; j++)
			v->dmean[c->cand[j]] = registry_dist(c->in->X + c->cand[j] * d, mean, d);
		free(mean);
	}
	return fdiv_settle(v);
}

static double fdiv_dist(const struct fdiv *v, size_t i)
{
	return sqrt(v->d2[v->pos[i]]);
}

static bool fdiv_selectable(const void *state, size_t i)
{
	const struct fdiv *v = state;
	double d = fdiv_dist(v, i);
	return d > 0 && !(v->min_distance >= 0 && d < v->min_distance);
}

static double fdiv_objective(const void *state, size_t i)
{
	const struct fdiv *v = state;

	if (!v->any || v->D == 0 || isinf(v->D))
		return 1;
	return fdiv_dist(v, i) / v->D;
}

static void fdiv_update(void *state, const struct strat_ctx *c, size_t pick)
{
	struct fdiv *v = state;

	v->any = true;
	if (v->rc == 0)
		v->rc = kcenter_add(v->kc, v->pos[pick]);
	if (v->rc == 0)
		v->rc = fdiv_settle(v);
}

static double fdiv_tie_key(const void *state, const struct strat_ctx *c, size_t i)
{
	const struct fdiv *v = state;
	return v->any ? fdiv_dist(v, i) : v->dmean[i];
}

static double fdiv_pick_dist(const void *state, size_t i)
{
	return fdiv_dist(state, i);
}

static bool fdiv_exhausted(const void *state, const struct strat_ctx *c)
{
	const struct fdiv *v = state;
	const double *d2;

	if (v->min_distance < 0)
		return false;
	d2 = kcenter_d2(v->kc);	/* every block brought up to date */
	for (size_t j = 0; j < c->ncand; j++) {
		double d = d2[j] >= 0 ? sqrt(d2[j]) : 0;
		if (!c->selected[c->cand[j]] && d > 0 && d < v->min_distance)
			return true;
	}
	return false;
}

static void fdiv_free(void *state)
{
	struct fdiv *v = state;
	if (v) {
		kcenter_free(v->kc);
		free(v->pos);
		free(v->dmean);
		free(v->Xc);
		free(v->pre);
	}
	free(v);
}

static const struct strategy strategy_fast_diversity = {
	.id = PLAN_STRATEGY_DIVERSITY,
	.dynamic = true,
	.single = true,
	.has_stop = true,
	.stop = ENGINE_STOP_MIN_DISTANCE,
	.prepare = fdiv_prepare,
	.objective = fdiv_objective,
	.selectable = fdiv_selectable,
	.update = fdiv_update,
	.tie_key = fdiv_tie_key,
	.pick_dist = fdiv_pick_dist,
	.exhausted = fdiv_exhausted,
	.free = fdiv_free,
};

enum fkind { FK_NONE, FK_DIV, FK_STATIC, FK_CLASS, FK_DYN };

struct fastpath {
	size_t div;		/* the DIVERSITY slot */
	size_t nblk;
	enum fkind *kind;	/* per slot */
	double **bmax;		/* per slot: per block, the largest factor (a bound) */
	/* FK_CLASS (BALANCE on categories): classes are class_idx + 1 (0: none) */
	size_t **rep;		/* per class: a candidate of it, SIZE_MAX: none */
	double **fc;		/* per class: its factor this step */
	size_t **boff;		/* per block: [boff[b], boff[b+1]) in bcls */
	uint32_t **bcls;	/* the classes present in each block */
	double *ub;		/* per block: the bound of S this step */
	uint8_t *done;
	size_t *list;
	struct best *lb;
	size_t nlist;
	size_t dyn_slot;	/* the FK_DYN slot dyn_cb works on */
	/*
	 * Keys (docs/selection.md): key_j = s log d_j + lp_j for candidate
	 * position j, lp_j = the sum of log f_e over the static entries. K
	 * holds, per block and key class (the classes of one BALANCE entry on
	 * categories, kslot; else one), the largest key of its selectable rows
	 * when it was last scanned: an upper bound ever after, as d only falls.
	 */
	double sdiv;
	double *lp;		/* ncand */
	double lmag;		/* the largest sum of |log f_e| over the static entries */
	double sglob;		/* the static entries' product of max(1, largest factor) */
	size_t kslot;		/* SIZE_MAX: no key classes */
	size_t nk;
	uint32_t *kcls;		/* ncand: key class */
	double *K;		/* nblk x nk */
	double *logfc;		/* nk: log of kslot's class factors this step */
	double slack;		/* this step's absolute slack */
};

static size_t blk_hi(const struct run *r, size_t b)
{
	size_t hi = (b + 1) * KCENTER_BLOCK;
	return hi < r->ncand ? hi : r->ncand;
}

/* A factor for a maximum: NaN (an objective out of range) could be anything. */
static double fmax_nan(double m, double f)
{
	return isnan(f) ? INFINITY : (f > m ? f : m);
}

static void static_max_cb(size_t b, int tid, void *ud)
{
	struct run *r = ud;
	struct fastpath *fp = r->fp;

	for (size_t e = 0; e < r->nslots; e++) {
		double m = 0;
		if (fp->kind[e] != FK_STATIC)
			continue;
		for (size_t j = b * KCENTER_BLOCK; j < blk_hi(r, b); j++)
			m = fmax_nan(m, r->slots[e].factor[r->cand[j]]);
		fp->bmax[e][b] = m;
	}
}

static void dyn_cb(size_t b, int tid, void *ud)
{
	struct run *r = ud;
	struct fastpath *fp = r->fp;
	const struct slot *sl = &r->slots[fp->dyn_slot];
	double m = 0;

	for (size_t j = b * KCENTER_BLOCK; j < blk_hi(r, b); j++) {
		size_t i = r->cand[j];
		if (!r->selected[i])
			m = fmax_nan(m, factor(sl->st->objective(sl->state, i), sl->strength));
	}
	fp->bmax[fp->dyn_slot][b] = m;
}

static void fast_block_cb(size_t t, int tid, void *ud)
{
	struct run *r = ud;
	struct fastpath *fp = r->fp;
	size_t blk = fp->list[t];
	const struct fdiv *v = r->slots[fp->div].state;

	fp->lb[t] = scan(r, blk * KCENTER_BLOCK, blk_hi(r, blk));
	if (!v->any)
		return;
	/* The block is fresh: its keys now (rows that are not selectable never will be). */
	double *K = fp->K + blk * fp->nk;
	for (size_t c = 0; c < fp->nk; c++)
		K[c] = -INFINITY;
	for (size_t j = blk * KCENTER_BLOCK; j < blk_hi(r, blk); j++) {
		size_t i = r->cand[j];
		if (r->selected[i] || !fdiv_selectable(v, i))
			continue;
		double key = fp->sdiv * log(fdiv_dist(v, i)) + fp->lp[j];
		if (isnan(key))
			key = INFINITY;
		if (key > K[fp->kcls[j]])
			K[fp->kcls[j]] = key;
	}
}

/* The per-block bounds of the dynamic entries other than DIVERSITY, for this step. */
static void dynamic_bounds(struct run *r)
{
	struct fastpath *fp = r->fp;

	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (fp->kind[e] == FK_DYN) {
			fp->dyn_slot = e;
			pool_for(fp->nblk, r->in->threads, dyn_cb, r, NULL);
		} else if (fp->kind[e] == FK_CLASS) {
			size_t nc = sl->ctx.ein->nclasses + 1;
			for (size_t k = 0; k < nc; k++)
				fp->fc[e][k] = fp->rep[e][k] == SIZE_MAX ? 0 :
					factor(sl->st->objective(sl->state, fp->rep[e][k]),
					       sl->strength);
			for (size_t b = 0; b < fp->nblk; b++) {
				double m = 0;
				for (size_t u = fp->boff[e][b]; u < fp->boff[e][b + 1]; u++)
					m = fmax_nan(m, fp->fc[e][fp->bcls[e][u]]);
				fp->bmax[e][b] = m;
			}
		}
	}
}

#define KEPS 0x1p-40	/* relative slack for the rounding of logs, sums, exp and S itself */

/*
 * The key bound of block b's best S: exp of its largest key, minus s log D,
 * plus the logs of the dynamic entries' factors (per key class for kslot,
 * the block maxima for the others), with KEPS on every magnitude involved,
 * then fp->slack for products whose rounding is absolute (subnormal).
 */
static double key_bound(const struct run *r, size_t b, const struct fdiv *v)
{
	const struct fastpath *fp = r->fp;
	const double *K = fp->K + b * fp->nk;
	double best = -INFINITY, sD = fp->sdiv * log(v->D), rest = -sD, mag = fabs(sD) + 1;

	if (fp->kslot == SIZE_MAX) {
		best = K[0] + KEPS * fabs(K[0]);
	} else {
		for (size_t u = fp->boff[fp->kslot][b]; u < fp->boff[fp->kslot][b + 1]; u++) {
			size_t c = fp->bcls[fp->kslot][u];
			double t = K[c] + fp->logfc[c];
			t += KEPS * (fabs(K[c]) + fabs(fp->logfc[c]));
			if (isnan(t))
				return INFINITY;
			if (t > best)
				best = t;
		}
	}
	for (size_t e = 0; e < r->nslots; e++) {
		if (e == fp->kslot || (fp->kind[e] != FK_CLASS && fp->kind[e] != FK_DYN))
			continue;
		double l = log(fp->bmax[e][b]);
		rest += l;
		mag += fabs(l);
	}
	double x = best + rest + KEPS * (mag + 3 * fp->lmag);
	if (isnan(x) || x > 700)
		return INFINITY;
	return exp(x) * (1 + KEPS) + fp->slack;
}

static double block_bound(const struct run *r, size_t b, const struct fdiv *v)
{
	const struct fastpath *fp = r->fp;
	double r2 = kcenter_block_r2(v->kc, b), ub = 1;

	if (r2 < 0)
		return -INFINITY;	/* no live row */
	for (size_t e = 0; e < r->nslots; e++) {
		switch (fp->kind[e]) {
		case FK_NONE:
			break;
		case FK_DIV:
			if (v->any && v->D != 0 && !isinf(v->D))
				ub *= factor(sqrt(r2) / v->D, r->slots[e].strength);
			break;
		default:
			ub *= fp->bmax[e][b];
		}
	}
	if (isnan(ub))
		ub = INFINITY;
	else
		ub = ub * (1 + 0x1p-40) + 0x1p-1000;
	if (v->any && v->D != 0 && !isinf(v->D))
		ub = fmin(ub, key_bound(r, b, v));
	return ub;
}

/*
 * This step's logs of the key classes' factors, and the absolute slack: a
 * product rounded in the subnormal range is off by up to 2^-1075, and the
 * factors after it scale that by at most the product of max(1, largest
 * factor) over the entries (DIVERSITY's d_i / D <= 1 gives <= 1).
 */
static void step_slack(struct run *r)
{
	struct fastpath *fp = r->fp;
	double g = fp->sglob;

	if (fp->kslot != SIZE_MAX)
		for (size_t c = 0; c < fp->nk; c++)
			fp->logfc[c] = log(fp->fc[fp->kslot][c]);
	for (size_t e = 0; e < r->nslots; e++) {
		if (fp->kind[e] != FK_CLASS && fp->kind[e] != FK_DYN)
			continue;
		double m = 1;
		for (size_t b = 0; b < fp->nblk; b++)
			if (fp->bmax[e][b] > m)
				m = fp->bmax[e][b];
		g *= m;
	}
	fp->slack = (double)(r->nslots + 2) * 0x1p-1073 * g + 0x1p-1000;
	if (isnan(fp->slack))
		fp->slack = INFINITY;
}

static int fast_argmax(struct run *r, struct best *out)
{
	struct fastpath *fp = r->fp;
	const struct fdiv *v = r->slots[fp->div].state;
	size_t batch = (size_t)r->in->threads;
	struct best best = { SIZE_MAX, 0, 0 };
	int rc;

	*out = best;
	if (v->rc < 0)
		return v->rc;
	dynamic_bounds(r);
	step_slack(r);
	for (size_t b = 0; b < fp->nblk; b++) {
		fp->ub[b] = block_bound(r, b, v);
		fp->done[b] = 0;
	}
	for (;;) {
		/* The (up to) batch blocks with the highest bounds that could still win. */
		fp->nlist = 0;
		for (size_t b = 0; b < fp->nblk; b++) {
			double u = fp->ub[b];
			size_t t;
			if (fp->done[b] || u == -INFINITY || (best.i != SIZE_MAX && !(u >= best.S)))
				continue;
			if (fp->nlist == batch && !(u > fp->ub[fp->list[batch - 1]]))
				continue;
			t = fp->nlist < batch ? fp->nlist++ : batch - 1;
			for (; t > 0 && fp->ub[fp->list[t - 1]] < u; t--)
				fp->list[t] = fp->list[t - 1];
			fp->list[t] = b;
		}
		if (fp->nlist == 0)
			break;
		if ((rc = kcenter_refresh(v->kc, fp->list, fp->nlist)) < 0)
			return rc;
		rc = pool_for(fp->nlist, fp->nlist > 1 ? r->in->threads : 1, fast_block_cb, r,
			      r->in->cancel);
		if (rc < 0)
			return rc;
		for (size_t t = 0; t < fp->nlist; t++) {
			fp->done[fp->list[t]] = 1;
			if (better(&fp->lb[t], &best))
				best = fp->lb[t];
		}
	}
	*out = best;
	return 0;
}

/* Whether the run takes the fast path; swaps in the kcenter DIVERSITY if so. */
static bool fast_choose(struct run *r)
{
	int prune = r->in->prune;
	size_t div = SIZE_MAX;

	if (prune < 0 || r->ncand == 0 || r->ncand >= UINT32_MAX)
		return false;
	if (prune == 0 && r->ncand < FAST_MIN)
		return false;
	for (size_t e = 0; e < r->nslots; e++)
		if (r->slots[e].st->id == PLAN_STRATEGY_DIVERSITY)
			div = e;
	if (div == SIZE_MAX || !(r->slots[div].strength > 0))
		return false;
	r->slots[div].st = &strategy_fast_diversity;
	r->fp = xcalloc(1, sizeof(*r->fp));
	r->fp->div = div;
	return true;
}

/* After prepare: the block tables and the static entries' block maxima. */
static void fast_setup(struct run *r)
{
	struct fastpath *fp = r->fp;
	size_t nblk = (r->ncand + KCENTER_BLOCK - 1) / KCENTER_BLOCK;

	fp->nblk = nblk;
	fp->kind = xcalloc(r->nslots + 1, sizeof(*fp->kind));
	fp->bmax = xcalloc(r->nslots + 1, sizeof(*fp->bmax));
	fp->rep = xcalloc(r->nslots + 1, sizeof(*fp->rep));
	fp->fc = xcalloc(r->nslots + 1, sizeof(*fp->fc));
	fp->boff = xcalloc(r->nslots + 1, sizeof(*fp->boff));
	fp->bcls = xcalloc(r->nslots + 1, sizeof(*fp->bcls));
	fp->ub = xcalloc(nblk + 1, sizeof(*fp->ub));
	fp->done = xcalloc(nblk + 1, sizeof(*fp->done));
	fp->list = xcalloc(nblk + 1, sizeof(*fp->list));
	fp->lb = xcalloc(nblk + 1, sizeof(*fp->lb));
	for (size_t e = 0; e < r->nslots; e++) {
		const struct slot *sl = &r->slots[e];
		if (sl->st->keep)
			fp->kind[e] = FK_NONE;
		else if (e == fp->div)
			fp->kind[e] = FK_DIV;
		else if (!sl->st->dynamic)
			fp->kind[e] = FK_STATIC;
		else if (sl->st->id == PLAN_STRATEGY_BALANCE && sl->ctx.ein->class_idx)
			fp->kind[e] = FK_CLASS;
		else
			fp->kind[e] = FK_DYN;
		if (fp->kind[e] != FK_NONE && fp->kind[e] != FK_DIV)
			fp->bmax[e] = xcalloc(nblk + 1, sizeof(**fp->bmax));
		if (fp->kind[e] != FK_CLASS)
			continue;
		/* BALANCE's objective on categories depends on the class alone (s_balance.c). */
		size_t nc = sl->ctx.ein->nclasses + 1, *seen, nl = 0;
		const int32_t *cls = sl->ctx.ein->class_idx;
		fp->rep[e] = xmalloc(nc * sizeof(**fp->rep));
		fp->fc[e] = xcalloc(nc, sizeof(**fp->fc));
		fp->boff[e] = xcalloc(nblk + 1, sizeof(**fp->boff));
		fp->bcls[e] = xmalloc((r->ncand < nblk * nc ? r->ncand : nblk * nc) *
				      sizeof(**fp->bcls) + 1);
		seen = xmalloc(nc * sizeof(*seen));
		for (size_t k = 0; k < nc; k++) {
			fp->rep[e][k] = SIZE_MAX;
			seen[k] = SIZE_MAX;
		}
		for (size_t b = 0; b < nblk; b++) {
			fp->boff[e][b] = nl;
			for (size_t j = b * KCENTER_BLOCK; j < blk_hi(r, b); j++) {
				size_t k = (size_t)(cls[r->cand[j]] + 1);
				if (fp->rep[e][k] == SIZE_MAX)
					fp->rep[e][k] = r->cand[j];
				if (seen[k] != b) {
					seen[k] = b;
					fp->bcls[e][nl++] = (uint32_t)k;
				}
			}
		}
		fp->boff[e][nblk] = nl;
		free(seen);
	}
	pool_for(nblk, r->in->threads, static_max_cb, r, NULL);

	fp->sdiv = r->slots[fp->div].strength;
	fp->kslot = SIZE_MAX;
	fp->nk = 1;
	for (size_t e = 0; e < r->nslots && fp->kslot == SIZE_MAX; e++)
		if (fp->kind[e] == FK_CLASS && r->slots[e].ctx.ein->nclasses < KEY_CLASSES_MAX) {
			fp->kslot = e;
			fp->nk = r->slots[e].ctx.ein->nclasses + 1;
		}
	fp->lp = xcalloc(r->ncand + 1, sizeof(*fp->lp));
	fp->kcls = xcalloc(r->ncand + 1, sizeof(*fp->kcls));
	fp->K = xmalloc(nblk * fp->nk * sizeof(*fp->K) + 1);
	fp->logfc = xcalloc(fp->nk, sizeof(*fp->logfc));
	for (size_t u = 0; u < nblk * fp->nk; u++)
		fp->K[u] = INFINITY;	/* never scanned */
	fp->sglob = 1;
	for (size_t e = 0; e < r->nslots; e++) {
		double m = 1;
		if (fp->kind[e] != FK_STATIC)
			continue;
		for (size_t b = 0; b < nblk; b++)
			m = fp->bmax[e][b] > m ? fp->bmax[e][b] : m;
		fp->sglob *= m;
	}
	for (size_t j = 0; j < r->ncand; j++) {
		size_t i = r->cand[j];
		double l = 0, mag = 0;
		for (size_t e = 0; e < r->nslots; e++) {
			if (fp->kind[e] != FK_STATIC)
				continue;
			double f = r->slots[e].factor[i], t = log(isnan(f) ? INFINITY : f);
			l += t;
			mag += fabs(t);
		}
		fp->lp[j] = isnan(l) ? INFINITY : l;
		if (isfinite(mag) && mag > fp->lmag)
			fp->lmag = mag;
		if (fp->kslot != SIZE_MAX)
			fp->kcls[j] = (uint32_t)(r->slots[fp->kslot].ctx.ein->class_idx[i] + 1);
	}
}

static void fast_free(struct run *r)
{
	struct fastpath *fp = r->fp;

	if (!fp)
		return;
	for (size_t e = 0; fp->kind && e < r->nslots; e++) {
		free(fp->bmax[e]);
		free(fp->rep[e]);
		free(fp->fc[e]);
		free(fp->boff[e]);
		free(fp->bcls[e]);
	}
	free(fp->kind);
	free(fp->bmax);
	free(fp->rep);
	free(fp->fc);
	free(fp->boff);
	free(fp->bcls);
	free(fp->ub);
	free(fp->done);
	free(fp->list);
	free(fp->lb);
	free(fp->lp);
	free(fp->kcls);
	free(fp->K);
	free(fp->logfc);
	free(fp);
	r->fp = NULL;
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
		if (r->fp) {
			int arc = fast_argmax(r, &b);
			if (arc < 0) {
				*rc = arc;
				return ENGINE_STOP_COUNT_;
			}
		} else {
			b = argmax(r);
		}
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
		fast_choose(&r);
		rc = prepare(&r);
		if (rc == 0 && r.fp)
			fast_setup(&r);
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
		out->fast_path = r.fp != NULL;
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
	fast_free(&r);
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
