/*
 * test_coral: the coral and topk (active_learning) selectors of SPEC 4.6.
 * Hand-worked cases on a line (each step's d, D and objective are worked in
 * the comments), the tie rules, min_distance, the budget, the fill rule,
 * preselected rows, cancel and the edge sizes; then coral against a naive
 * recompute-everything version written here on grid rows (exact distances,
 * so ties must match exactly), and against coreset when every weight is
 * equal (the objective then orders like d, so the rules coincide).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "selectors/selector.h"
#include "util.h"

/* ---- helpers ---- */

static struct select_input input(const double *X, size_t n, size_t d, size_t k, const double *w)
{
	struct select_input in = {
		.X = X, .n = n, .d = d, .k = k, .min_distance = -1, .seed = 1, .w = w,
	};
	return in;
}

static void assert_order(const struct selection *s, const size_t *want, size_t n)
{
	if (s->n != n)
		fail_msg("%zu picks, want %zu", s->n, n);
	for (size_t i = 0; i < n; i++)
		if (s->idx[i] != want[i])
			fail_msg("pick %zu is %zu, want %zu", i, s->idx[i], want[i]);
}

static void assert_dists(const struct selection *s, const double *want, size_t n)
{
	assert_true(s->n >= n);
	for (size_t i = 0; i < n; i++) {
		if (isnan(want[i])) {
			if (!isnan(s->dist[i]))
				fail_msg("dist %zu is %g, want NaN", i, s->dist[i]);
		} else if (!(fabs(s->dist[i] - want[i]) <= 1e-12 * (1 + fabs(want[i])))) {
			fail_msg("dist %zu is %.17g, want %.17g", i, s->dist[i], want[i]);
		}
	}
}

static void assert_same(const struct selection *a, const struct selection *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->n_method, b->n_method);
	assert_int_equal(a->fill_rest, b->fill_rest);
	for (size_t i = 0; i < a->n; i++) {
		if (a->idx[i] != b->idx[i])
			fail_msg("pick %zu: %zu vs %zu", i, a->idx[i], b->idx[i]);
		if (isnan(a->dist[i]))
			assert_true(isnan(b->dist[i]));
		else
			assert_true(a->dist[i] == b->dist[i]);
	}
}

static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return *x >> 33;
}

/* Rows on a small integer grid: every squared distance is an exact integer. */
static double *grid_rows(size_t n, size_t d, unsigned levels, uint64_t seed)
{
	double *X = xmalloc((n * d > 0 ? n * d : 1) * sizeof(*X));
	uint64_t x = seed;
	for (size_t i = 0; i < n * d; i++)
		X[i] = (double)(lcg_next(&x) % levels);
	return X;
}

/* Rows in [-1, 1): distinct distances, almost surely no ties. */
static double *real_rows(size_t n, size_t d, uint64_t seed)
{
	double *X = xmalloc((n * d > 0 ? n * d : 1) * sizeof(*X));
	uint64_t x = seed;
	for (size_t i = 0; i < n * d; i++)
		X[i] = (double)lcg_next(&x) / (double)(UINT64_C(1) << 30) - 1.0;
	return X;
}

/* Weights drawn from a few values (0 included), so that many tie. */
static double *few_weights(size_t n, uint64_t seed)
{
	static const double vals[] = {0, 0.25, 0.5, 0.75, 1};
	double *w = xmalloc((n ? n : 1) * sizeof(*w));
	uint64_t x = seed;
	for (size_t i = 0; i < n; i++)
		w[i] = vals[lcg_next(&x) % 5];
	return w;
}

/* ---- coral: hand-worked cases ---- */

/*
 * x = 0 1 2 3 10, w = .5 .2 1 .1 .4.
 * First: argmax w = #2 (x=2), dist NaN.
 * d = 2 1 - 1 8, D = 8: objectives .125 .025 - .0125 .4 -> #4 (d 8).
 * d = 2 1 - 1 -, D = 2: 1*.5, .5*.2, .5*.1 -> #0 (d 2).
 * d = - 1 - 1 -, D = 1: .2, .1 -> #1 (d 1), then #3 (d 1).
 */
static const double LINE_X[] = {0, 1, 2, 3, 10};
static const double LINE_W[] = {0.5, 0.2, 1.0, 0.1, 0.4};

static void test_coral_line(void **state)
{
	struct select_input in = input(LINE_X, 5, 1, SIZE_MAX, LINE_W);
	struct selection s;
	static const size_t want[] = {2, 4, 0, 1, 3};
	static const double wd[] = {NAN, 8, 2, 1, 1};

	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, want, 5);
	assert_dists(&s, wd, 5);
	assert_int_equal(s.n_method, 5);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* Coreset on the same rows starts at x=10 (farthest from the mean 3.2): the weights matter. */
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.idx[0], 4);
	selection_free(&s);
}

static void test_coral_budget(void **state)
{
	struct select_input in = input(LINE_X, 5, 1, 2, LINE_W);
	struct selection s;
	static const size_t want[] = {2, 4};

	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, want, 2);
	assert_int_equal(s.n_method, 2);
	assert_false(s.fill_rest);
	selection_free(&s);

	in.k = 0;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	in.k = 4;	/* k < n: no "select everything" */
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2, 4, 0, 1}, 4);
	selection_free(&s);
}

static void test_coral_min_distance(void **state)
{
	struct select_input in = input(LINE_X, 5, 1, SIZE_MAX, LINE_W);
	struct selection s;

	/* After #2 #4 #0 every d left is 1 < 1.5: stop, and no fill (min_distance is on). */
	in.min_distance = 1.5;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2, 4, 0}, 3);
	assert_dists(&s, (const double[]){NAN, 8, 2}, 3);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* d = 1 qualifies for min_distance = 1 (>=). */
	in.min_distance = 1;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2, 4, 0, 1, 3}, 5);
	selection_free(&s);

	/*
	 * x = 0 .5 4, w = 1 .9 .1. First #0. d = - .5 4, D = 4: #1 has .125*.9 =
	 * .1125 > #2's 1*.1, so without min_distance #1 comes first; with
	 * min_distance 1 it is not eligible at all, #2 is picked, then #1
	 * (d .5) is still below: stop.
	 */
	static const double X2[] = {0, 0.5, 4};
	static const double W2[] = {1, 0.9, 0.1};
	in = input(X2, 3, 1, SIZE_MAX, W2);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 1, 2}, 3);
	assert_dists(&s, (const double[]){NAN, 0.5, 3.5}, 3);
	selection_free(&s);
	in.min_distance = 1;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 2}, 2);
	assert_dists(&s, (const double[]){NAN, 4}, 2);
	selection_free(&s);
	/* Nothing qualifies after the first pick. */
	in.min_distance = 5;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0}, 1);
	selection_free(&s);
	/* min_distance and a budget: the budget binds first. */
	in.min_distance = 0.1;
	in.k = 2;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 1}, 2);
	selection_free(&s);
}

static void test_coral_first_pick_ties(void **state)
{
	struct selection s;

	/*
	 * x = 0 1 2 3.5 4, mean 2.1; #1 and #3 share the top weight, #3 is
	 * farther from the mean (1.4 against 1.1) although its index is higher.
	 */
	static const double X1[] = {0, 1, 2, 3.5, 4};
	static const double W1[] = {0.3, 0.9, 0.5, 0.9, 0.2};
	struct select_input in = input(X1, 5, 1, 1, W1);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){3}, 1);
	selection_free(&s);

	/*
	 * x = 0 1 2 3 4, mean 2 (exact); #1 and #3 share the top weight and are
	 * both at 1 from the mean: the lower index. Then d = 1 - 1 2 3, D = 3:
	 * .1/3, .2/3, 2/3*.9 = .6, .1 -> #3 (d 2); d = 1 - 1 - 1, D = 1: .1 .2 .1
	 * -> #2; d = 1 - - - 1: equal objectives and d -> #0, then #4.
	 */
	static const double X2[] = {0, 1, 2, 3, 4};
	static const double W2[] = {0.1, 0.9, 0.2, 0.9, 0.1};
	in = input(X2, 5, 1, SIZE_MAX, W2);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){1, 3, 2, 0, 4}, 5);
	assert_dists(&s, (const double[]){NAN, 2, 1, 1, 1}, 5);
	selection_free(&s);

	/* A single top weight wins even when it sits on the mean. */
	static const double W3[] = {0.1, 0.2, 0.95, 0.2, 0.1};
	in = input(X2, 5, 1, 1, W3);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2}, 1);
	selection_free(&s);
}

/*
 * x = 0 1 -2 4, w = 1 .5 .25 .01. First #0. d = - 1 2 4, D = 4: #1 has
 * (1/4)*.5 = .125, #2 (2/4)*.25 = .125 exactly, #3 .01. Equal objectives:
 * the larger d, #2, although #1 has the lower index. Then d = - 1 - 4:
 * .125 vs .01 -> #1 (d 1); then #3 (d 3).
 */
static void test_coral_later_tie_larger_d(void **state)
{
	static const double X[] = {0, 1, -2, 4};
	static const double W[] = {1, 0.5, 0.25, 0.01};
	struct select_input in = input(X, 4, 1, SIZE_MAX, W);
	struct selection s;

	assert_true((1.0 / 4.0) * 0.5 == (2.0 / 4.0) * 0.25);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 2, 1, 3}, 4);
	assert_dists(&s, (const double[]){NAN, 2, 1, 3}, 4);
	selection_free(&s);

	/*
	 * The objective is (d / D) * w, in that order: x = 0 .1 .5 3, w = 1 .45
	 * .09 .001. After #0, D = 3 and (.1/3)*.45 == (.5/3)*.09 in float64 (a
	 * tie: the larger d, #2), while .1*.45/3 would round above .5*.09/3 and
	 * pick #1. Then D = 2.5: #1 (.018) before #3 (.001).
	 */
	static const double X2[] = {0, 0.1, 0.5, 3};
	static const double W2[] = {1, 0.45, 0.09, 0.001};
	volatile double d1 = 0.1, d2 = 0.5, D = 3;	/* volatile: no constant folding */
	assert_true((d1 / D) * W2[1] == (d2 / D) * W2[2]);
	assert_true(d1 * W2[1] / D > d2 * W2[2] / D);
	in = input(X2, 4, 1, SIZE_MAX, W2);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 2, 1, 3}, 4);
	assert_dists(&s, (const double[]){NAN, 0.5, 0.1, 2.5}, 4);
	selection_free(&s);
}

/*
 * All weights 0 (no predictions at all): every objective is 0, so each step
 * goes to the larger d, then the lowest index, and the first pick (all tie
 * on w) to the farthest from the mean: coreset's order.
 * x = 0 1 2 3 10, mean 3.2: #4 (NaN); d = 10 9 8 7 -> #0 (10); d = - 1 2 3
 * -> #3 (3); d = - 1 1 - -> #1 then #2 (both 1).
 */
static void test_coral_zero_weights(void **state)
{
	static const double W0[] = {0, 0, 0, 0, 0};
	struct select_input in = input(LINE_X, 5, 1, SIZE_MAX, W0);
	struct selection s, c;

	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){4, 0, 3, 1, 2}, 5);
	assert_dists(&s, (const double[]){NAN, 10, 3, 1, 1}, 5);
	assert_int_equal(coreset_select(&in, &c), 0);
	assert_same(&s, &c);
	selection_free(&s);
	selection_free(&c);

	/* Zero weights still stop at d = 0: duplicates come as the fill. */
	static const double XD[] = {1, 1, 4, 4, 0};
	in = input(XD, 5, 1, SIZE_MAX, W0);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(coreset_select(&in, &c), 0);
	assert_same(&s, &c);
	assert_true(s.fill_rest);
	assert_int_equal(s.n_method, 3);
	selection_free(&s);
	selection_free(&c);
}

/*
 * Candidates at d = 0 (duplicates of a pick) are never picked by the method;
 * with the budget covering everything they come last, in path order, at d 0.
 * x = 0 0 1 1 5, w = .9 .9 .5 .2 .1. First: #0 and #1 tie on w and on the
 * distance from the mean -> #0. d = - 0 1 1 5, D = 5: #2 .2*.5 = .1, #3 .04,
 * #4 1*.1 = .1, a tie with #2 -> the larger d, #4. d = - 0 1 1 -, D = 1: .5
 * vs .2 -> #2; then #3 is at 0: the method stops. Fill: #1 #3.
 */
static void test_coral_fill(void **state)
{
	static const double X[] = {0, 0, 1, 1, 5};
	static const double W[] = {0.9, 0.9, 0.5, 0.2, 0.1};
	struct select_input in = input(X, 5, 1, SIZE_MAX, W);
	struct selection s;

	assert_true((1.0 / 5.0) * 0.5 == (5.0 / 5.0) * 0.1);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 4, 2, 1, 3}, 5);
	assert_dists(&s, (const double[]){NAN, 5, 1, 0, 0}, 5);
	assert_int_equal(s.n_method, 3);
	assert_true(s.fill_rest);
	selection_free(&s);

	/* k = n is "everything" too. */
	in.k = 5;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 5);
	assert_true(s.fill_rest);
	selection_free(&s);

	/* k < n: no fill; the method ran out at 3. */
	in.k = 4;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 4, 2}, 3);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* min_distance on (even 0): no fill. */
	in.k = SIZE_MAX;
	in.min_distance = 0;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 4, 2}, 3);
	assert_false(s.fill_rest);
	assert_int_equal(s.n_method, 3);
	selection_free(&s);
}

/*
 * Preselected rows: d starts from them, they are never picked, no first-pick
 * rule. With #2 (x=2) preselected the line case continues as after its
 * first pick: #4 #0 #1 #3 at d 8 2 1 1.
 */
static void test_coral_preselected(void **state)
{
	bool pre[5] = {false, false, true, false, false};
	struct select_input in = input(LINE_X, 5, 1, SIZE_MAX, LINE_W);
	struct selection s;

	in.preselected = pre;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){4, 0, 1, 3}, 4);
	assert_dists(&s, (const double[]){8, 2, 1, 1}, 4);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* k counts new picks only. */
	in.k = 2;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){4, 0}, 2);
	selection_free(&s);

	/*
	 * #4 preselected, w = 1 on #4 (the top weight, which would be the first
	 * pick without preselection): d = 10 9 8 7 from x=10, D = 10; objectives
	 * .5, .18, .8, .07 -> #2 (d 8), not the first-pick rule.
	 */
	static const double W2[] = {0.5, 0.2, 1.0, 0.1, 1.0};
	bool pre2[5] = {false, false, false, false, true};
	in = input(LINE_X, 5, 1, 1, W2);
	in.preselected = pre2;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2}, 1);
	assert_dists(&s, (const double[]){8}, 1);
	selection_free(&s);

	/* Two preselected: d from the nearest of them. */
	bool pre3[5] = {false, false, true, false, true};
	in = input(LINE_X, 5, 1, SIZE_MAX, LINE_W);
	in.preselected = pre3;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 1, 3}, 3);
	assert_dists(&s, (const double[]){2, 1, 1}, 3);
	selection_free(&s);

	/* A duplicate of a preselected row is left at d = 0: it comes as the fill. */
	static const double XD[] = {0, 0, 5};
	static const double WD[] = {1, 1, 0.5};
	bool pred[3] = {true, false, false};
	in = input(XD, 3, 1, SIZE_MAX, WD);
	in.preselected = pred;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2, 1}, 2);
	assert_dists(&s, (const double[]){5, 0}, 2);
	assert_int_equal(s.n_method, 1);
	assert_true(s.fill_rest);
	selection_free(&s);

	/* Everything preselected: nothing to pick. */
	bool all[3] = {true, true, true};
	in.preselected = all;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	assert_false(s.fill_rest);
	selection_free(&s);
}

static void test_coral_cancel(void **state)
{
	double *X = real_rows(100, 4, 9);
	double *w = few_weights(100, 9);
	volatile int cancel = 1;
	bool pre[100] = {false};
	struct select_input in = input(X, 100, 4, SIZE_MAX, w);
	struct selection s;

	in.cancel = &cancel;
	assert_int_equal(coral_select(&in, &s), -ECANCELED);
	assert_null(s.idx);
	assert_null(s.dist);
	assert_int_equal(s.n, 0);
	pre[50] = true;
	in.preselected = pre;
	assert_int_equal(coral_select(&in, &s), -ECANCELED);
	assert_null(s.idx);
	cancel = 0;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 99);
	selection_free(&s);
	free(X);
	free(w);
}

static void test_coral_small(void **state)
{
	struct selection s;
	struct select_input in = input(NULL, 0, 0, SIZE_MAX, NULL);

	/* n = 0: an empty selection, X and w may be NULL. */
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* n = 1: the first-pick rule, dist NaN. */
	static const double one[] = {0.5, -0.25, 3};
	static const double w1[] = {0};
	in = input(one, 1, 3, SIZE_MAX, w1);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0}, 1);
	assert_true(isnan(s.dist[0]));
	assert_int_equal(s.n_method, 1);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* n = 1 with min_distance on: the first pick needs no distance. */
	in.min_distance = 100;
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 1);
	selection_free(&s);

	/* k = 0 */
	in = input(one, 1, 3, 0, w1);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	/* Bad input: no weights, no columns, a NaN weight. */
	in = input(one, 1, 3, SIZE_MAX, NULL);
	assert_int_equal(coral_select(&in, &s), -EINVAL);
	assert_null(s.idx);
	in = input(one, 1, 0, SIZE_MAX, w1);
	assert_int_equal(coral_select(&in, &s), -EINVAL);
	static const double wnan[] = {NAN};
	in = input(one, 1, 3, SIZE_MAX, wnan);
	assert_int_equal(coral_select(&in, &s), -EINVAL);
	selection_free(&s);
}

/* ---- coral: against other readings of the rules ---- */

/*
 * The naive reading of SPEC 4.6's coral: recompute every d and D from
 * scratch at each step, sequential sums, the objective as written. Returns
 * the picks (method part only) in out, their distances in dist.
 */
static size_t naive_coral(const double *X, size_t n, size_t dim, const double *w,
			  const bool *pre, size_t k, double md, size_t *out, double *dist)
{
	bool *sel = xcalloc(n ? n : 1, 1);
	double *d = xmalloc((n ? n : 1) * sizeof(*d));
	size_t m = 0;
	bool any_pre = false;

	for (size_t i = 0; i < n; i++)
		if (pre && pre[i])
			sel[i] = any_pre = true;
	if (!any_pre && n > 0 && k > 0) {
		double *mean = xcalloc(dim, sizeof(*mean));
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < dim; j++)
				mean[j] += X[i * dim + j];
		for (size_t j = 0; j < dim; j++)
			mean[j] /= (double)n;
		size_t f = SIZE_MAX;
		double fw = 0, fm = 0;
		for (size_t i = 0; i < n; i++) {
			double s = 0;
			for (size_t j = 0; j < dim; j++)
				s += (X[i * dim + j] - mean[j]) * (X[i * dim + j] - mean[j]);
			s = sqrt(s);
			if (f == SIZE_MAX || w[i] > fw || (w[i] == fw && s > fm)) {
				f = i;
				fw = w[i];
				fm = s;
			}
		}
		free(mean);
		sel[f] = true;
		dist[m] = NAN;
		out[m++] = f;
	}
	while (m < k) {
		double D = 0;
		for (size_t i = 0; i < n; i++) {
			if (sel[i])
				continue;
			d[i] = INFINITY;
			for (size_t c = 0; c < n; c++) {
				if (!sel[c])
					continue;
				double s = 0;
				for (size_t j = 0; j < dim; j++)
					s += (X[i * dim + j] - X[c * dim + j]) * (X[i * dim + j] - X[c * dim + j]);
				if (sqrt(s) < d[i])
					d[i] = sqrt(s);
			}
			if (d[i] > D)
				D = d[i];
		}
		size_t b = SIZE_MAX;
		double bo = 0, bd = 0;
		for (size_t i = 0; i < n; i++) {
			if (sel[i] || !(d[i] > 0) || (md >= 0 && d[i] < md))
				continue;
			double o = (d[i] / D) * w[i];
			if (b == SIZE_MAX || o > bo || (o == bo && d[i] > bd)) {
				b = i;
				bo = o;
				bd = d[i];
			}
		}
		if (b == SIZE_MAX)
			break;
		sel[b] = true;
		dist[m] = bd;
		out[m++] = b;
	}
	free(sel);
	free(d);
	return m;
}

static void check_naive(const double *X, size_t n, size_t dim, const double *w,
			const bool *pre, size_t k, double md)
{
	struct select_input in = input(X, n, dim, k, w);
	struct selection s;
	size_t *want = xmalloc((n ? n : 1) * sizeof(*want));
	double *wd = xmalloc((n ? n : 1) * sizeof(*wd));
	size_t m, n_pre = 0;

	in.preselected = pre;
	in.min_distance = md;
	m = naive_coral(X, n, dim, w, pre, k, md, want, wd);
	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n_method, m);
	for (size_t i = 0; i < m; i++) {
		if (s.idx[i] != want[i])
			fail_msg("n %zu k %zu md %g: pick %zu is %zu, naive %zu", n, k, md, i,
				 s.idx[i], want[i]);
		assert_true(isnan(wd[i]) ? isnan(s.dist[i]) : s.dist[i] == wd[i]);
	}
	for (size_t i = 0; i < n; i++)
		n_pre += pre && pre[i];
	if (md < 0 && k >= n - n_pre) {
		/* The fill: the rest in path order, each a duplicate of a pick. */
		assert_int_equal(s.n, n - n_pre);
		for (size_t i = m + 1; i < s.n; i++)
			assert_true(s.idx[i] > s.idx[i - 1]);
		for (size_t i = m; i < s.n; i++)
			assert_true(s.dist[i] == 0);
	} else {
		assert_int_equal(s.n, m);
	}
	selection_free(&s);
	free(want);
	free(wd);
}

static void test_coral_vs_naive(void **state)
{
	/* Grid rows: exact distances, many exact ties in d and in the objective. */
	for (uint64_t seed = 1; seed <= 6; seed++) {
		size_t n = 40 + 13 * seed, dim = 1 + seed % 4;
		double *X = grid_rows(n, dim, 3 + seed % 3, seed);
		double *w = few_weights(n, seed * 7);
		bool *pre = xcalloc(n, 1);

		check_naive(X, n, dim, w, NULL, SIZE_MAX, -1);
		check_naive(X, n, dim, w, NULL, n / 4, -1);
		check_naive(X, n, dim, w, NULL, SIZE_MAX, 1.5);
		check_naive(X, n, dim, w, NULL, SIZE_MAX, 0);
		for (size_t i = 0; i < n; i += 9)
			pre[i] = true;
		check_naive(X, n, dim, w, pre, SIZE_MAX, -1);
		check_naive(X, n, dim, w, pre, 7, 1);
		free(X);
		free(w);
		free(pre);
	}
}

/*
 * With one weight for every candidate the objective (d_i / D) * c never
 * orders two candidates against their d (rounding is monotone, and ties go
 * to the larger d), and the first pick falls to the farthest from the mean:
 * coral is coreset. With every weight 0, the same.
 */
static void test_coral_equal_weights_is_coreset(void **state)
{
	static const double consts[] = {0, 0.3, 1};
	for (uint64_t seed = 1; seed <= 3; seed++) {
		size_t n = 300, dim = 5;
		double *X = real_rows(n, dim, seed);
		double *w = xmalloc(n * sizeof(*w));
		bool *pre = xcalloc(n, 1);
		/* Duplicates, so that the fill is exercised too. */
		memcpy(X + 10 * dim, X + 3 * dim, dim * sizeof(*X));
		memcpy(X + 200 * dim, X + 150 * dim, dim * sizeof(*X));
		for (size_t c = 0; c < 3; c++) {
			for (size_t i = 0; i < n; i++)
				w[i] = consts[c];
			for (int variant = 0; variant < 4; variant++) {
				struct select_input in = input(X, n, dim, SIZE_MAX, w);
				struct selection a, b;
				if (variant == 1)
					in.k = 37;
				if (variant == 2)
					in.min_distance = 0.6;
				if (variant == 3) {
					pre[5] = pre[77] = true;
					in.preselected = pre;
				}
				assert_int_equal(coral_select(&in, &a), 0);
				assert_int_equal(coreset_select(&in, &b), 0);
				assert_same(&a, &b);
				if (variant == 0)
					assert_true(a.fill_rest);
				selection_free(&a);
				selection_free(&b);
			}
		}
		free(X);
		free(w);
		free(pre);
	}
}

/* Rows away from the weights' favourites still get picked for diversity. */
static void test_coral_picks_distinct(void **state)
{
	size_t n = 500, dim = 8;
	double *X = real_rows(n, dim, 42);
	double *w = few_weights(n, 43);
	struct select_input in = input(X, n, dim, 100, w);
	struct selection s;
	bool *seen = xcalloc(n, 1);

	assert_int_equal(coral_select(&in, &s), 0);
	assert_int_equal(s.n, 100);
	assert_true(isnan(s.dist[0]));
	assert_true(w[s.idx[0]] == 1);
	for (size_t i = 0; i < s.n; i++) {
		assert_true(s.idx[i] < n);
		assert_false(seen[s.idx[i]]);
		seen[s.idx[i]] = true;
		/* Objective 0 can only win when no positive one is left. */
		if (i > 0)
			assert_true(s.dist[i] > 0);
	}
	free(seen);
	selection_free(&s);
	free(X);
	free(w);
}

/* ---- topk ---- */

static void test_topk_order_and_ties(void **state)
{
	static const double W[] = {0.3, 0.9, 0.3, 0.9, 0.1, 0.5};
	struct select_input in = input(NULL, 6, 0, SIZE_MAX, W);
	struct selection s;

	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){1, 3, 5, 0, 2, 4}, 6);
	for (size_t i = 0; i < s.n; i++)
		assert_true(isnan(s.dist[i]));
	assert_false(s.fill_rest);
	assert_int_equal(s.n_method, 6);
	selection_free(&s);

	in.k = 3;
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){1, 3, 5}, 3);
	selection_free(&s);

	/* min_distance is ignored, and X too. */
	static const double X[] = {0, 0, 0, 0, 0, 0};
	in = input(X, 6, 1, 4, W);
	in.min_distance = 100;
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){1, 3, 5, 0}, 4);
	assert_int_equal(s.n_method, 4);
	selection_free(&s);

	/* All equal (e.g. all 0): path order. */
	static const double Z[] = {0, 0, 0, 0};
	in = input(NULL, 4, 0, SIZE_MAX, Z);
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0, 1, 2, 3}, 4);
	selection_free(&s);
}

static void test_topk_stable_large(void **state)
{
	size_t n = 2000;
	double *w = few_weights(n, 5);
	struct select_input in = input(NULL, n, 0, 700, w);
	struct selection s;
	size_t m = 0;
	static const double vals[] = {1, 0.75, 0.5, 0.25, 0};

	assert_int_equal(topk_select(&in, &s), 0);
	assert_int_equal(s.n, 700);
	/* The stable descending order: by value, each value's rows in path order. */
	for (size_t v = 0; v < 5 && m < 700; v++)
		for (size_t i = 0; i < n && m < 700; i++)
			if (w[i] == vals[v]) {
				if (s.idx[m] != i)
					fail_msg("pick %zu is %zu, want %zu", m, s.idx[m], i);
				m++;
			}
	selection_free(&s);
	free(w);
}

static void test_topk_small_and_preselected(void **state)
{
	struct selection s;
	struct select_input in = input(NULL, 0, 0, SIZE_MAX, NULL);

	assert_int_equal(topk_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	static const double W[] = {0.2, 0.8, 0.5};
	bool pre[3] = {false, true, false};
	in = input(NULL, 3, 0, SIZE_MAX, W);
	in.preselected = pre;
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2, 0}, 2);
	selection_free(&s);
	in.k = 1;
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){2}, 1);
	selection_free(&s);

	in = input(NULL, 3, 0, 0, W);
	assert_int_equal(topk_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	static const double one[] = {0.4};
	in = input(NULL, 1, 0, SIZE_MAX, one);
	assert_int_equal(topk_select(&in, &s), 0);
	assert_order(&s, (const size_t[]){0}, 1);
	selection_free(&s);

	volatile int cancel = 1;
	in.cancel = &cancel;
	assert_int_equal(topk_select(&in, &s), -ECANCELED);
	assert_null(s.idx);

	in = input(NULL, 3, 0, SIZE_MAX, NULL);
	assert_int_equal(topk_select(&in, &s), -EINVAL);
	static const double wnan[] = {0.1, NAN, 0.3};
	in = input(NULL, 3, 0, SIZE_MAX, wnan);
	assert_int_equal(topk_select(&in, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coral_line),
		cmocka_unit_test(test_coral_budget),
		cmocka_unit_test(test_coral_min_distance),
		cmocka_unit_test(test_coral_first_pick_ties),
		cmocka_unit_test(test_coral_later_tie_larger_d),
		cmocka_unit_test(test_coral_zero_weights),
		cmocka_unit_test(test_coral_fill),
		cmocka_unit_test(test_coral_preselected),
		cmocka_unit_test(test_coral_cancel),
		cmocka_unit_test(test_coral_small),
		cmocka_unit_test(test_coral_vs_naive),
		cmocka_unit_test(test_coral_equal_weights_is_coreset),
		cmocka_unit_test(test_coral_picks_distinct),
		cmocka_unit_test(test_topk_order_and_ties),
		cmocka_unit_test(test_topk_stable_large),
		cmocka_unit_test(test_topk_small_and_preselected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
