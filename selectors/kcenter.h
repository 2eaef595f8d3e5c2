/*
 * kcenter: the engine behind coreset and coral (SPEC 4.6). It holds, for every
 * candidate, the exact float64 squared distance to its nearest centre and
 * folds new centres in; the selectors keep the rules (first pick, stopping,
 * fill) and ask it for the next pick.
 */
#ifndef WINNOW_KCENTER_H
#define WINNOW_KCENTER_H

#include <stdbool.h>
#include <stddef.h>

#include "selector.h"

struct kcenter;

/* Rows per block of the plain passes (kcenter_nblocks and the calls after it). */
#define KCENTER_BLOCK 1024

/*
 * Builds the engine over in->X (borrowed; it must outlive the engine), no
 * centres yet: every row not preselected is live at d^2 = +inf. With coral
 * true the next pick is ranked by coral's objective over in->w (borrowed),
 * else by d alone. Reads in->threads, in->prune, in->min_distance and
 * in->cancel. Returns 0 and *out (free with kcenter_free), -EINVAL for
 * non-finite rows, -E2BIG for n >= 2^32.
 */
int kcenter_new(const struct select_input *in, bool coral, struct kcenter **out);

/* Frees the engine; NULL is fine. */
void kcenter_free(struct kcenter *kc);

/*
 * Makes every preselected row (in->preselected) a centre: d^2 becomes the
 * exact float64 distance to the nearest of them. Returns 0 or -ECANCELED.
 */
int kcenter_add_preselected(struct kcenter *kc);

/* Makes live row p a centre (it is taken) and folds it in. 0 or -ECANCELED. */
int kcenter_add(struct kcenter *kc, size_t p);

/*
 * coreset: the live row with the largest d^2, lowest index on ties, and its
 * d^2 in *d2; SIZE_MAX when no row is live.
 */
size_t kcenter_farthest(const struct kcenter *kc, double *d2);

/*
 * coral: the live row with the best (d_i / D) * w_i among those with d_i > 0
 * and d_i >= min_distance (when on), D = max d over the live rows; ties to
 * the larger d_i, then the lowest index. *dist gets its d_i. SIZE_MAX when
 * no row qualifies.
 */
size_t kcenter_coral_pick(const struct kcenter *kc, double *dist, double *dmax);

/* Adds the work done so far to *st. */
void kcenter_stats(const struct kcenter *kc, struct select_stats *st);

/*
 * d^2 of every row (GEOM_TAKEN for centres and preselected rows), n values,
 * borrowed; brings rows that the lazy steps left behind up to date first.
 */
const double *kcenter_d2(struct kcenter *kc);

/*
 * For the plan engine's fast path (engine.c), which ranks rows by more than
 * d and so reads the row blocks itself: block b holds rows [b * KCENTER_BLOCK,
 * (b + 1) * KCENTER_BLOCK). The engine runs kcenter with prune = 0, so it
 * moves between the lazy plain passes (stale blocks, refreshed on demand)
 * and the clustered ones (every d^2 exact after each fold) as coral does.
 */
size_t kcenter_nblocks(const struct kcenter *kc);

/*
 * The largest d^2 of block b's live rows as held: exact for a fresh block, an
 * upper bound for a stale one (d^2 only falls); GEOM_TAKEN when the block
 * has no live row; +inf while the clustered passes run (they keep no blocks).
 */
double kcenter_block_r2(const struct kcenter *kc, size_t b);

/*
 * The largest d^2 over the live rows, exactly (GEOM_TAKEN: none), in *m2;
 * refreshes the stale blocks that could hold it. 0 or -ECANCELED.
 */
int kcenter_max_d2(struct kcenter *kc, double *m2);

/*
 * Brings the nb blocks listed up to date (fresh ones are skipped; nothing to
 * do while the clustered passes run). 0 or -ECANCELED.
 */
int kcenter_refresh(struct kcenter *kc, const size_t *blocks, size_t nb);

/*
 * d^2 of every row as held, without syncing: exact for the rows of fresh
 * blocks (after kcenter_refresh of their block) and for every row while the
 * clustered passes run, an upper bound elsewhere.
 */
const double *kcenter_d2_held(const struct kcenter *kc);

#endif
