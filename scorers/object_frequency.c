/*
 * object_frequency: the object-frequency scorer of SPEC 4.5. Per image,
 * n = sum over the classes present of (1 + penalty * (count - 1)); then the
 * n are mapped linearly onto [min_score, 1] across all images of the task
 * (all equal: 1.0). Images without boxes have n = 0 and take part.
 */
#include <stdlib.h>

#include "scorer.h"
#include "util.h"

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* n of one image; ids is scratch of at least im->n longs. */
static double image_n(const struct pred_image *im, double penalty, long *ids)
{
	for (size_t j = 0; j < im->n; j++)
		ids[j] = im->e[j].category_id;
	/* Sorting groups equal classes and fixes the order of the sum
	   (ascending class id), so the result does not depend on box order. */
	if (im->n <= 16) {
		for (size_t j = 1; j < im->n; j++) {
			long v = ids[j];
			size_t q = j;
			for (; q > 0 && ids[q - 1] > v; q--)
				ids[q] = ids[q - 1];
			ids[q] = v;
		}
	} else {
		qsort(ids, im->n, sizeof *ids, cmp_long);
	}
	double n = 0;
	for (size_t j = 0; j < im->n;) {
		size_t r = j;
		while (r < im->n && ids[r] == ids[j])
			r++;
		n += 1 + penalty * (double)(r - j - 1);
		j = r;
	}
	return n;
}

void object_frequency_score(const struct task_preds *t, double penalty, double min_score,
			    double *out, size_t stride)
{
	size_t maxn = 0;
	for (size_t i = 0; i < t->nimg; i++)
		if (t->img[i].n > maxn)
			maxn = t->img[i].n;
	long *ids = xmalloc((maxn ? maxn : 1) * sizeof *ids);
	double nmin = 0, nmax = 0;
	/* The per-image n go into out first, then are mapped in place. */
	for (size_t i = 0; i < t->nimg; i++) {
		double n = image_n(&t->img[i], penalty, ids);
		out[i * stride] = n;
		if (i == 0 || n < nmin)
			nmin = n;
		if (i == 0 || n > nmax)
			nmax = n;
	}
	free(ids);
	for (size_t i = 0; i < t->nimg; i++) {
		double n = out[i * stride];
		out[i * stride] = nmax == nmin ? 1.0 :
			scorer_clamp01(min_score + (n - nmin) * (1 - min_score) / (nmax - nmin));
	}
}
