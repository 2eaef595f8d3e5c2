/*
 * selector: the selection rules of SPEC 4.6. Every selector works on
 * candidates 0..n-1 in path order, with rows held in float64 (row-major, n x d).
 */
#ifndef WINNOW_SELECTOR_H
#define WINNOW_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct select_input {
	const double *X;	/* n x d rows (borrowed); NULL allowed for random/topk */
	size_t n, d;
	size_t k;		/* budget: SIZE_MAX = no limit */
	double min_distance;	/* < 0: off */
	uint64_t seed;		/* random */
	const double *w;	/* n weights (coral, active_learning); borrowed */
	const bool *preselected;	/* n flags (datapool, 4.7), or NULL */
	volatile int *cancel;	/* checked now and then; non-zero stops with -ECANCELED */
};

struct selection {
	size_t n;		/* picks */
	size_t *idx;		/* candidate index of each pick, in selection order */
	double *dist;		/* d_i at its pick (NaN where not defined, e.g. random) */
	bool fill_rest;		/* true when the "select everything" rule appended the rest */
	size_t n_method;	/* picks made by the method before any fill */
};

void selection_free(struct selection *s);

/*
 * Each returns 0 and fills *out (free with selection_free), or a negative
 * errno (-ECANCELED when cancelled). When min_distance is off and k >= n (or
 * both are off), every candidate is selected: the method's order, then the
 * candidates left at d = 0 in path order (SPEC 4.6).
 */
int random_select(const struct select_input *in, struct selection *out);
int coreset_select(const struct select_input *in, struct selection *out);

#endif
