/*
 * coreset: SPEC 4.6's greedy farthest-first traversal (k-center). Each step
 * picks the live row with the largest distance to its nearest selected row
 * (ties to the lowest index) and folds it in as a new centre.
 *
 * DESIGN: the rules (first pick, stopping, the "select everything" fill) are
 * here; the distances live in kcenter.c, which keeps d^2 exactly as a plain
 * float64 fold would (a duplicate of a selected row is at exactly 0 and is
 * never picked by the greedy) while doing far less work. Squared values
 * order the same way as distances; the square root is taken only for the
 * recorded distance and the min_distance test.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "geometry.h"
#include "kcenter.h"
#include "selector.h"

int coreset_select(const struct select_input *in, struct selection *out)
{
	size_t n = in->n, n_pre = 0, arg = SIZE_MAX;
	double best = GEOM_TAKEN;
	struct kcenter *kc;
	int rc;

	*out = (struct selection){0};
	if (n > 0 && (!in->X || in->d == 0))
		return -EINVAL;
	rc = kcenter_new(in, false, &kc);
	if (rc < 0)
		return rc;
	selection_init(out, n);
	for (size_t i = 0; i < n; i++)
		n_pre += in->preselected && in->preselected[i];

	/*
	 * Starting point: the preselected rows when there are any (d from the
	 * nearest of them, no first-pick rule), else the row farthest from the
	 * mean, whose distance is undefined and recorded as NaN.
	 */
	if (n_pre > 0) {
		rc = kcenter_add_preselected(kc);
		if (rc < 0)
			goto fail;
		arg = kcenter_farthest(kc, &best);
	} else if (n > 0 && in->k > 0) {
		size_t f = geom_farthest_from_mean(in->X, n, in->d, NULL);
		out->idx[out->n] = f;
		out->dist[out->n++] = NAN;
		rc = kcenter_add(kc, f);
		if (rc < 0)
			goto fail;
		arg = kcenter_farthest(kc, &best);
	}

	/* Here arg is the argmax of d over the rows left (SIZE_MAX: none), best its value. */
	while (out->n < in->k && arg != SIZE_MAX && best > 0) {
		double dist = sqrt(best);
		if (dist < in->min_distance)	/* always false when it is off (< 0) */
			break;
		out->idx[out->n] = arg;
		out->dmax[out->n] = dist;
		out->dist[out->n++] = dist;
		rc = kcenter_add(kc, arg);
		if (rc < 0)
			goto fail;
		arg = kcenter_farthest(kc, &best);
	}
	out->n_method = out->n;

	/*
	 * The budget covers every pickable row, so the greedy stopped at max d =
	 * 0: what is left duplicates a selected row. Append it in path order.
	 */
	if (selection_takes_all(in, n - n_pre)) {
		const double *d2 = kcenter_d2(kc);
		for (size_t i = 0; i < n; i++) {
			if (d2[i] == GEOM_TAKEN)
				continue;
			out->idx[out->n] = i;
			out->dist[out->n++] = 0;
		}
		out->fill_rest = out->n > out->n_method;
	}
	if (in->stats)
		kcenter_stats(kc, in->stats);
	kcenter_free(kc);
	return 0;
fail:
	kcenter_free(kc);
	selection_free(out);
	return rc;
}
