/*
 * random: SPEC 4.6's `random` method. A partial Fisher-Yates shuffle of the
 * candidate indices in path order, driven by rng.c; picks come out in draw
 * order. It needs no rows, and min_distance does not apply (the caller warns).
 * Preselected rows (a datapool, SPEC 4.7) are left out of the draw: it runs
 * over the other candidates in path order, so a member is never drawn again
 * and k counts new picks, as for the other methods.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "selector.h"
#include "util.h"

int random_select(const struct select_input *in, struct selection *out)
{
	size_t n = 0;
	struct rng r;

	selection_init(out, in->n);
	rng_seed(&r, in->seed);
	/* The draws happen in idx itself: a[i] is final once step i is done. */
	size_t *a = out->idx;
	for (size_t i = 0; i < in->n; i++)
		if (!(in->preselected && in->preselected[i]))
			a[n++] = i;
	size_t k = in->k < n ? in->k : n;
	for (size_t i = 0; i < k; i++) {
		if ((i & 0xffff) == 0 && cancel_requested(in->cancel)) {
			selection_free(out);
			return -ECANCELED;
		}
		size_t j = i + (size_t)rng_bounded(&r, (uint64_t)(n - i));
		size_t t = a[i];
		a[i] = a[j];
		a[j] = t;
		out->dist[i] = NAN;
	}
	out->n = k;
	out->n_method = k;
	/* A budget covering every candidate draws them all: nothing to append. */
	out->fill_rest = false;
	return 0;
}
