/*
 * coral: SPEC 4.6's diversity x weight selection. d[i] is the distance from
 * candidate i to its nearest selected row; each step picks the argmax of
 * (d_i / D) * w_i over the unselected rows with d_i > 0 (and d_i >=
 * min_distance when on), D = max d_j over the unselected, ties to the larger
 * d_i, then the lowest index.
 *
 * DESIGN: the rules (first pick, eligibility, stopping, fill) are here; the
 * distances and the ranking live in kcenter.c, which keeps d^2 exactly as a
 * plain float64 fold would and ranks groups of rows by d^2 w |w| (D is
 * common to every row), then compares the few finalists with the objective
 * computed exactly as SPEC 4.6 writes it: sqrt(d^2) / D, then times w.
 * sqrt is correctly rounded and monotone, so D = sqrt(max d^2) is max
 * sqrt(d^2), and a float64 reference that works on distances makes the same
 * comparisons.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "geometry.h"
#include "kcenter.h"
#include "selector.h"
#include "util.h"

static bool cancelled(const struct select_input *in)
{
	return cancel_requested(in->cancel);
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

int coral_select(const struct select_input *in, struct selection *out)
{
	size_t n = in->n, n_pre = 0;
	struct kcenter *kc;
	int rc;

	*out = (struct selection){0};
	if (n > 0 && (!in->X || in->d == 0 || !in->w))
		return -EINVAL;
	/* A NaN weight would make every comparison with it false: reject it. */
	for (size_t i = 0; i < n; i++)
		if (isnan(in->w[i]))
			return -EINVAL;
	rc = kcenter_new(in, true, &kc);
	if (rc < 0)
		return rc;
	selection_init(out, n);
	for (size_t i = 0; i < n; i++)
		n_pre += in->preselected && in->preselected[i];

	/*
	 * Starting point: the preselected rows when there are any (d from the
	 * nearest of them, no first-pick rule), else the first-pick rule, whose
	 * distance is undefined and recorded as NaN.
	 */
	if (n_pre > 0) {
		rc = kcenter_add_preselected(kc);
		if (rc < 0)
			goto fail;
	} else if (n > 0 && in->k > 0) {
		if (cancelled(in)) {
			rc = -ECANCELED;
			goto fail;
		}
		size_t f = first_pick(in);
		out->idx[out->n] = f;
		out->dist[out->n++] = NAN;
		rc = kcenter_add(kc, f);
		if (rc < 0)
			goto fail;
	}

	/* Nothing selected yet (k = 0 or n = 0) means nothing to pick. */
	while (out->n < in->k && (n_pre > 0 || out->n > 0)) {
		double dist, dmax;
		size_t arg = kcenter_coral_pick(kc, &dist, &dmax);
		if (arg == SIZE_MAX)	/* no row left with d > 0 (and >= min_distance) */
			break;
		out->idx[out->n] = arg;
		out->dmax[out->n] = dmax;
		out->dist[out->n++] = dist;
		rc = kcenter_add(kc, arg);
		if (rc < 0)
			goto fail;
	}
	out->n_method = out->n;

	/*
	 * The budget covers every pickable row and min_distance is off, so the
	 * loop stopped with every row left at d = 0: append them in path order.
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
