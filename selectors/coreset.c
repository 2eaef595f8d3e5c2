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
 * the recorded distance and the min_distance test. The pass over the rows is
 * one function (fold_centre) so that a blocked or threaded version can
 * replace it without touching the stopping rules.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "selector.h"
#include "util.h"

/* d[i] of a row that can no longer be picked (selected or preselected). */
#define TAKEN (-1.0)

static double sqdist(const double *a, const double *b, size_t d)
{
	/* Four partial sums let the compiler vectorise without -ffast-math. */
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t j = 0;

	for (; j + 4 <= d; j += 4) {
		double t0 = a[j] - b[j], t1 = a[j + 1] - b[j + 1];
		double t2 = a[j + 2] - b[j + 2], t3 = a[j + 3] - b[j + 3];
		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	for (; j < d; j++) {
		double t = a[j] - b[j];
		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

/*
 * Fold centre c into d (d[i] = min(d[i], |x_i - c|^2), or just d[i] when
 * first) and return the argmax of d over the rows not taken, lowest index on
 * ties; *best gets its value (-1 when every row is taken). Rows already at
 * 0 stay at 0 whatever the centre, so they are skipped.
 */
static size_t fold_centre(const double *X, size_t n, size_t dim, const double *c,
			  double *d, bool first, double *best)
{
	size_t arg = SIZE_MAX;
	double bv = TAKEN;

	for (size_t i = 0; i < n; i++) {
		double v = d[i];
		if (v == TAKEN)
			continue;
		if (first || v > 0) {
			double t = sqdist(X + i * dim, c, dim);
			if (first || t < v) {
				v = t;
				d[i] = v;
			}
		}
		if (v > bv) {
			bv = v;
			arg = i;
		}
	}
	*best = bv;
	return arg;
}

/* The row farthest from the float64 mean of all rows, lowest index on ties. */
static size_t farthest_from_mean(const double *X, size_t n, size_t dim)
{
	double *mean = xcalloc(dim, sizeof(*mean));
	size_t arg = 0;
	double bv = -1;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			mean[j] += X[i * dim + j];
	for (size_t j = 0; j < dim; j++)
		mean[j] /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double v = sqdist(X + i * dim, mean, dim);
		if (v > bv) {
			bv = v;
			arg = i;
		}
	}
	free(mean);
	return arg;
}

static bool cancelled(const struct select_input *in)
{
	return in->cancel && *in->cancel;
}

int coreset_select(const struct select_input *in, struct selection *out)
{
	const double *X = in->X;
	size_t n = in->n, dim = in->d;
	size_t n_pre = 0, arg = SIZE_MAX;
	double best = TAKEN;
	double *d;

	if (n > 0 && (!X || dim == 0)) {
		*out = (struct selection){0};
		return -EINVAL;
	}
	selection_init(out, n);
	d = xmalloc((n ? n : 1) * sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		bool pre = in->preselected && in->preselected[i];
		d[i] = pre ? TAKEN : INFINITY;
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
			arg = fold_centre(X, n, dim, X + p * dim, d, first, &best);
			first = false;
		}
	} else if (n > 0 && in->k > 0) {
		size_t f = farthest_from_mean(X, n, dim);
		out->idx[out->n] = f;
		out->dist[out->n++] = NAN;
		d[f] = TAKEN;
		arg = fold_centre(X, n, dim, X + f * dim, d, true, &best);
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
		d[arg] = TAKEN;
		arg = fold_centre(X, n, dim, X + arg * dim, d, false, &best);
	}
	out->n_method = out->n;

	/*
	 * The budget covers every pickable row, so the greedy stopped at max d =
	 * 0: what is left duplicates a selected row. Append it in path order.
	 */
	if (selection_takes_all(in, n - n_pre)) {
		for (size_t i = 0; i < n; i++) {
			if (d[i] == TAKEN)
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
