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

#endif
