/*
 * coral: SPEC 4.6's diversity x weight selection. d[i] is the distance from
 * candidate i to its nearest selected row; each step picks the argmax of
 * (d_i / D) * w_i over the unselected rows with d_i > 0 (and d_i >=
 * min_distance when on), D = max d_j over the unselected, ties to the larger
 * d_i, then the lowest index.
 *
 * DESIGN: d is kept squared, folded by geometry.c's geom_fold_centre (the
 * pass coreset uses), which also yields max d^2 and so D. The objective is
 * then computed in a second, O(n) pass exactly as the rule is written:
 * sqrt(d^2) / D, then times w. sqrt is correctly rounded and monotone, so
 * sqrt(max d^2) is max sqrt(d^2), and a float64 reference that works on
 * distances makes the same comparisons. The second pass costs a sqrt per row
 * per step, small next to the fold's d subtractions per row.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "geometry.h"
#include "selector.h"
#include "util.h"

static bool cancelled(const struct select_input *in)
{
	return in->cancel && *in->cancel;
}

/*
 * The first pick without preselection: argmax w, ties (equal w) to the row
 * farthest from the mean of all rows, then the lowest index.
 */
static size_t first_pick(const struct select_input *in)
{
	size_t n = in->n, arg = 0, n_tied = 0;
	bool *tied;

	for (size_t i = 1; i < n; i++)
		if (in->w[i] > in->w[arg])
			arg = i;
	for (size_t i = 0; i < n; i++)
		n_tied += in->w[i] == in->w[arg];
	if (n_tied == 1)
		return arg;	/* the mean is not needed */
	tied = xmalloc(n * sizeof(*tied));
	for (size_t i = 0; i < n; i++)
		tied[i] = in->w[i] == in->w[arg];
	arg = geom_farthest_from_mean(in->X, n, in->d, tied);
	free(tied);
	return arg;
}

/*
 * The next pick given d (squared, GEOM_TAKEN for the rows that cannot be
 * picked) and dmax2 = max d^2 over the rows left; SIZE_MAX when no row
 * qualifies. *dist gets the pick's distance.
 */
static size_t best_objective(const struct select_input *in, const double *d2,
			     double dmax2, double *dist)
{
	double D = sqrt(dmax2);
	double bo = 0, bd = 0;
	size_t arg = SIZE_MAX;

	for (size_t i = 0; i < in->n; i++) {
		if (!(d2[i] > 0))	/* taken (-1) or at distance 0 */
			continue;
		double di = sqrt(d2[i]);
		if (di < in->min_distance)	/* always false when it is off (< 0) */
			continue;
		/* Exactly as SPEC 4.6 writes it, so that a reference rounds the same. */
		double obj = (di / D) * in->w[i];
		if (arg == SIZE_MAX || obj > bo || (obj == bo && di > bd)) {
			arg = i;
			bo = obj;
			bd = di;
		}
	}
	*dist = bd;
	return arg;
}

int coral_select(const struct select_input *in, struct selection *out)
{
	const double *X = in->X;
	size_t n = in->n, dim = in->d;
	size_t n_pre = 0;
	double best = GEOM_TAKEN;
	double *d2;

	*out = (struct selection){0};
	if (n > 0 && (!X || dim == 0 || !in->w))
		return -EINVAL;
	/* A NaN weight would make every comparison with it false: reject it. */
	for (size_t i = 0; i < n; i++)
		if (isnan(in->w[i]))
			return -EINVAL;

	selection_init(out, n);
	d2 = xmalloc((n ? n : 1) * sizeof(*d2));
	for (size_t i = 0; i < n; i++) {
		bool pre = in->preselected && in->preselected[i];
		d2[i] = pre ? GEOM_TAKEN : INFINITY;
		n_pre += pre;
	}

	/*
	 * Starting point: the preselected rows when there are any (d from the
	 * nearest of them, no first-pick rule), else the first-pick rule, whose
	 * distance is undefined and recorded as NaN.
	 */
	if (n_pre > 0) {
		bool first = true;
		for (size_t p = 0; p < n; p++) {
			if (!in->preselected[p])
				continue;
			if (cancelled(in))
				goto cancel;
			geom_fold_centre(X, n, dim, X + p * dim, d2, first, &best);
			first = false;
		}
	} else if (n > 0 && in->k > 0) {
		if (cancelled(in))
			goto cancel;
		size_t f = first_pick(in);
		out->idx[out->n] = f;
		out->dist[out->n++] = NAN;
		d2[f] = GEOM_TAKEN;
		geom_fold_centre(X, n, dim, X + f * dim, d2, true, &best);
	}

	/* Here best is max d^2 over the rows left (GEOM_TAKEN: none left). */
	while (out->n < in->k && best > 0) {
		double dist;
		size_t arg = best_objective(in, d2, best, &dist);
		if (arg == SIZE_MAX)	/* every row left is below min_distance */
			break;
		if (cancelled(in))
			goto cancel;
		out->idx[out->n] = arg;
		out->dist[out->n++] = dist;
		d2[arg] = GEOM_TAKEN;
		geom_fold_centre(X, n, dim, X + arg * dim, d2, false, &best);
	}
	out->n_method = out->n;

	/*
	 * The budget covers every pickable row and min_distance is off, so the
	 * loop stopped with every row left at d = 0: append them in path order.
	 */
	if (selection_takes_all(in, n - n_pre)) {
		for (size_t i = 0; i < n; i++) {
			if (d2[i] == GEOM_TAKEN)
				continue;
			out->idx[out->n] = i;
			out->dist[out->n++] = 0;
		}
		out->fill_rest = out->n > out->n_method;
	}
	free(d2);
	return 0;
cancel:
	free(d2);
	selection_free(out);
	return -ECANCELED;
}
