/*
 * coreset: SPEC 4.6's greedy farthest-first traversal (k-center). d[i] holds
 * the squared distance from candidate i to its nearest selected row; each
 * step picks the argmax (ties to the lowest index) and folds the new centre
 * into d in the same pass that finds the next argmax.
 *
 * DESIGN: this is the plain O(n*k*d) form, kept exact: distances are summed
 * from the differences (never from |x|^2 - 2x.c + |c|^2), so a duplicate of a
 * selected row is at exactly 0 and is never picked by the greedy. Squared
 * values order the same way as distances; the square root is taken only for
 * the recorded distance and the min_distance test. The distance helpers and
 * the pass over the rows (geom_fold_centre) live in geometry.c, shared with
 * coral.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "geometry.h"
#include "selector.h"
#include "util.h"

static bool cancelled(const struct select_input *in)
{
	return in->cancel && *in->cancel;
}

int coreset_select(const struct select_input *in, struct selection *out)
{
	const double *X = in->X;
	size_t n = in->n, dim = in->d;
	size_t n_pre = 0, arg = SIZE_MAX;
	double best = GEOM_TAKEN;
	double *d;

	if (n > 0 && (!X || dim == 0)) {
		*out = (struct selection){0};
		return -EINVAL;
	}
	selection_init(out, n);
	d = xmalloc((n ? n : 1) * sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		bool pre = in->preselected && in->preselected[i];
		d[i] = pre ? GEOM_TAKEN : INFINITY;
		n_pre += pre;
	}

	/*
	 * Starting point: the preselected rows when there are any (d from the
	 * nearest of them, no first-pick rule), else the row farthest from the
	 * mean, whose distance is undefined and recorded as NaN.
	 */
	if (n_pre > 0) {
		bool first = true;
		for (size_t p = 0; p < n; p++) {
			if (!in->preselected[p])
				continue;
			if (cancelled(in))
				goto cancel;
			arg = geom_fold_centre(X, n, dim, X + p * dim, d, first, &best);
			first = false;
		}
	} else if (n > 0 && in->k > 0) {
		size_t f = geom_farthest_from_mean(X, n, dim, NULL);
		out->idx[out->n] = f;
		out->dist[out->n++] = NAN;
		d[f] = GEOM_TAKEN;
		arg = geom_fold_centre(X, n, dim, X + f * dim, d, true, &best);
	}

	/* Here arg is the argmax of d over the rows left (SIZE_MAX: none), best its value. */
	while (out->n < in->k && arg != SIZE_MAX && best > 0) {
		double dist = sqrt(best);
		if (dist < in->min_distance)	/* always false when it is off (< 0) */
			break;
		if (cancelled(in))
			goto cancel;
		out->idx[out->n] = arg;
		out->dist[out->n++] = dist;
		d[arg] = GEOM_TAKEN;
		arg = geom_fold_centre(X, n, dim, X + arg * dim, d, false, &best);
	}
	out->n_method = out->n;

	/*
	 * The budget covers every pickable row, so the greedy stopped at max d =
	 * 0: what is left duplicates a selected row. Append it in path order.
	 */
	if (selection_takes_all(in, n - n_pre)) {
		for (size_t i = 0; i < n; i++) {
			if (d[i] == GEOM_TAKEN)
				continue;
			out->idx[out->n] = i;
			out->dist[out->n++] = 0;
		}
		out->fill_rest = out->n > out->n_method;
	}
	free(d);
	return 0;
cancel:
	free(d);
	selection_free(out);
	return -ECANCELED;
}
