/*
 * geometry: distances for the diversity selectors (coreset, coral).
 *
 * DESIGN: distances are summed from the differences (never from |x|^2 -
 * 2x.c + |c|^2), so a duplicate of a selected row is at exactly 0 and two
 * identical rows always get identical distances. geom_sqdist is the one
 * float64 distance of the diversity selectors: kcenter.c's fast passes keep
 * exactly its values.
 */
#include <stdint.h>
#include <stdlib.h>

#include "geometry.h"
#include "util.h"

double geom_sqdist(const double *a, const double *b, size_t d)
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

size_t geom_farthest_from_mean(const double *X, size_t n, size_t dim, const bool *among)
{
	double *mean = xcalloc(dim ? dim : 1, sizeof(*mean));
	size_t arg = SIZE_MAX;
	double bv = -1;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			mean[j] += X[i * dim + j];
	for (size_t j = 0; j < dim; j++)
		mean[j] /= (double)n;
	for (size_t i = 0; i < n; i++) {
		if (among && !among[i])
			continue;
		double v = geom_sqdist(X + i * dim, mean, dim);
		/* The first qualifying row stands even if its distance is NaN. */
		if (arg == SIZE_MAX || v > bv) {
			bv = v;
			arg = i;
		}
	}
	free(mean);
	return arg;
}
