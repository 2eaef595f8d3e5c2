/*
 * topk: SPEC 4.6's `active_learning` method, the k candidates with the
 * largest weight, in descending weight order, ties to the lowest index (the
 * order a stable sort by descending w gives). min_distance is ignored and no
 * distance is recorded. Preselected rows (4.7) are never picked; k counts new
 * picks only.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "selector.h"
#include "util.h"

struct keyed {
	double w;
	size_t i;
};

/* Descending w, then ascending index: a total order, so qsort's lack of stability does not matter. */
static int cmp_keyed(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;

	if (a->w != b->w)
		return a->w > b->w ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

int topk_select(const struct select_input *in, struct selection *out)
{
	size_t n = in->n, m = 0;
	struct keyed *key;

	*out = (struct selection){0};
	if (n > 0 && !in->w)
		return -EINVAL;
	/* NaN has no place in the order: reject it rather than sort it anywhere. */
	for (size_t i = 0; i < n; i++)
		if (isnan(in->w[i]))
			return -EINVAL;
	if (cancel_requested(in->cancel))
		return -ECANCELED;

	key = xmalloc((n ? n : 1) * sizeof(*key));
	for (size_t i = 0; i < n; i++) {
		if (in->preselected && in->preselected[i])
			continue;
		key[m++] = (struct keyed){ .w = in->w[i], .i = i };
	}
	qsort(key, m, sizeof(*key), cmp_keyed);

	if (m > in->k)
		m = in->k;
	selection_init(out, m);
	for (size_t j = 0; j < m; j++) {
		out->idx[j] = key[j].i;
		out->dist[j] = NAN;
	}
	out->n = out->n_method = m;
	free(key);
	return 0;
}
