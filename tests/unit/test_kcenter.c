/*
 * test_kcenter: the fast coreset and coral (selectors/kcenter.c) against a
 * float64 reference of SPEC 4.6 written here literally (sequential sums,
 * sqrt, d = min over the selected, every objective recomputed each step).
 * The comparison goes step by step as SPEC 4.6 says: where the reference's
 * best and winnow's pick differ by less than 1e-6 relative either is
 * accepted and the reference continues from winnow's pick; on lattice data
 * (exact distances) ties must go exactly by the rules. Data: a Gaussian
 * mixture in a low-dimensional subspace, uniform rows, lattice rows with many
 * duplicates, rows far from the origin (float32 cannot resolve them), with
 * and without a preselected set (small: folded; large: the SGEMM start).
 * Every case also runs with each pass forced (prune -1, 0, 1), the projected
 * gate adaptive, forced on and off (project 0, 1, -1), on 1 and 2 threads,
 * and all of them must give the identical selection.
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

#include "selectors/geometry.h"
#include "selectors/kcenter.h"
#include "selectors/selector.h"
#include "util.h"

#define REL 1e-6

/* ---- data ---- */

static uint64_t rnd_state;

static uint64_t rnd_next(void)
{
	uint64_t z = (rnd_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double rnd_unit(void)
{
	return (double)(rnd_next() >> 11) / 9007199254740992.0;
}

static double rnd_normal(void)
{
	double u = rnd_unit(), v = rnd_unit();
	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* comps Gaussian blobs in an s-dimensional subspace of d dimensions, plus small noise. */
static double *gmm_rows(size_t n, size_t d, size_t comps, size_t s, double offset, uint64_t seed)
{
	double *X = xmalloc(n * d * sizeof(*X));
	double *basis = xmalloc(s * d * sizeof(*basis));
	double *means = xmalloc(comps * s * sizeof(*means));

	rnd_state = seed;
	for (size_t i = 0; i < s * d; i++)
		basis[i] = rnd_normal() / sqrt((double)s);
	for (size_t i = 0; i < comps * s; i++)
		means[i] = 4 * rnd_normal();
	for (size_t i = 0; i < n; i++) {
		size_t c = rnd_next() % comps;
		double z[64];
		for (size_t a = 0; a < s; a++)
			z[a] = means[c * s + a] + rnd_normal();
		for (size_t j = 0; j < d; j++) {
			double v = offset + 0.01 * rnd_normal();
			for (size_t a = 0; a < s; a++)
				v += z[a] * basis[a * d + j];
			X[i * d + j] = v;
		}
	}
	free(basis);
	free(means);
	return X;
}

static double *uniform_rows(size_t n, size_t d, uint64_t seed)
{
	double *X = xmalloc(n * d * sizeof(*X));
	rnd_state = seed;
	for (size_t i = 0; i < n * d; i++)
		X[i] = rnd_unit();
	return X;
}

/* Integer lattice points (levels per axis): exact distances, many ties and duplicates. */
static double *lattice_rows(size_t n, size_t d, unsigned levels, uint64_t seed)
{
	double *X = xmalloc(n * d * sizeof(*X));
	rnd_state = seed;
	for (size_t i = 0; i < n * d; i++)
		X[i] = (double)(rnd_next() % levels);
	return X;
}

/* A few weight values (ties), or continuous ones. */
static double *weights(size_t n, bool few, uint64_t seed)
{
	static const double vals[] = {0, 0.25, 0.5, 0.75, 1};
	double *w = xmalloc(n * sizeof(*w));
	rnd_state = seed;
	for (size_t i = 0; i < n; i++)
		w[i] = few ? vals[rnd_next() % 5] : rnd_unit();
	return w;
}

static bool *every(size_t n, size_t step)
{
	bool *pre = xcalloc(n, sizeof(*pre));
	for (size_t i = step / 2; i < n; i += step)
		pre[i] = true;
	return pre;
}

/* ---- the reference ---- */

static double ref_dist(const double *a, const double *b, size_t d)
{
	double s = 0;
	for (size_t j = 0; j < d; j++)
		s += (a[j] - b[j]) * (a[j] - b[j]);
	return sqrt(s);
}

struct ref {
	const double *X, *w;
	size_t n, d;
	double *dd;		/* distance to the nearest selected, INFINITY before any */
	bool *sel;
	const struct selection *got;
	size_t step;
	bool strict;
};

static void ref_fold(struct ref *r, size_t p)
{
	for (size_t i = 0; i < r->n; i++) {
		double t = ref_dist(r->X + i * r->d, r->X + p * r->d, r->d);
		if (t < r->dd[i])
			r->dd[i] = t;
	}
}

/* Accepts winnow's pick at this step given the reference's best objective. */
static size_t ref_take(struct ref *r, size_t ref_best, double best_obj, double got_obj)
{
	if (r->step >= r->got->n_method)
		fail_msg("winnow stopped after %zu picks, the reference goes on", r->step);
	size_t g = r->got->idx[r->step];
	if (r->sel[g])
		fail_msg("step %zu: %zu picked twice", r->step, g);
	if (g != ref_best) {
		if (r->strict)
			fail_msg("step %zu: winnow %zu (%.17g), reference %zu (%.17g)", r->step, g,
				 got_obj, ref_best, best_obj);
		if (!(best_obj - got_obj <= REL * fabs(best_obj)))
			fail_msg("step %zu: winnow %zu (%.17g), reference %zu (%.17g)", r->step, g,
				 got_obj, ref_best, best_obj);
	}
	r->sel[g] = true;
	r->step++;
	return g;
}

static void ref_start(struct ref *r, const double *X, size_t n, size_t d, const bool *pre,
		      const struct selection *got)
{
	*r = (struct ref){ .X = X, .n = n, .d = d, .got = got };
	r->dd = xmalloc(n * sizeof(double));
	r->sel = xcalloc(n, sizeof(bool));
	for (size_t i = 0; i < n; i++)
		r->dd[i] = INFINITY;
	for (size_t p = 0; pre && p < n; p++) {
		if (pre[p]) {
			r->sel[p] = true;
			ref_fold(r, p);
		}
	}
}

static void ref_check_dist(const struct ref *r, size_t g)
{
	double got = r->got->dist[r->step - 1], want = r->dd[g];
	if (!(fabs(got - want) <= 1e-9 * want))
		fail_msg("step %zu: distance %.17g, reference %.17g", r->step - 1, got, want);
}

/* After the method's picks: the fill of the "select everything" rule, or nothing. */
static void ref_finish(struct ref *r, bool takes_all)
{
	assert_int_equal(r->got->n_method, r->step);
	if (takes_all) {
		size_t t = r->step;
		for (size_t i = 0; i < r->n; i++) {
			if (r->sel[i])
				continue;
			assert_true(r->dd[i] == 0);
			assert_true(t < r->got->n);
			assert_int_equal(r->got->idx[t], i);
			assert_true(r->got->dist[t] == 0);
			t++;
		}
		assert_int_equal(r->got->n, t);
	} else {
		assert_int_equal(r->got->n, r->step);
	}
	free(r->dd);
	free(r->sel);
}

static size_t farthest_from_mean(const struct ref *r, const bool *among, double *bv)
{
	double *mean = xcalloc(r->d, sizeof(double));
	size_t arg = SIZE_MAX;
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j < r->d; j++)
			mean[j] += r->X[i * r->d + j];
	for (size_t j = 0; j < r->d; j++)
		mean[j] /= (double)r->n;
	for (size_t i = 0; i < r->n; i++) {
		if (among && !among[i])
			continue;
		double v = ref_dist(r->X + i * r->d, mean, r->d);
		if (arg == SIZE_MAX || v > *bv) {
			*bv = v;
			arg = i;
		}
	}
	free(mean);
	return arg;
}

static void ref_coreset(const double *X, size_t n, size_t d, const bool *pre, size_t k, double md,
			bool strict, const struct selection *got)
{
	struct ref r;
	size_t npre = 0;

	ref_start(&r, X, n, d, pre, got);
	r.strict = strict;
	for (size_t i = 0; pre && i < n; i++)
		npre += pre[i];
	if (npre == 0 && n > 0 && k > 0) {
		double bv = 0, gv = 0;
		size_t f = farthest_from_mean(&r, NULL, &bv);
		size_t g = got->idx[0];
		bool *only = xcalloc(n, sizeof(bool));
		only[g] = true;
		farthest_from_mean(&r, only, &gv);
		free(only);
		g = ref_take(&r, f, bv, gv);
		assert_true(isnan(got->dist[0]));
		ref_fold(&r, g);
	}
	while (r.step < k) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < n; i++)
			if (!r.sel[i] && (best == SIZE_MAX || r.dd[i] > r.dd[best]))
				best = i;
		if (best == SIZE_MAX || r.dd[best] == 0)
			break;
		if (md >= 0) {
			/* A stop this close to the threshold goes either way: follow winnow. */
			if (!strict && fabs(r.dd[best] - md) <= REL * md) {
				if (r.step >= got->n_method)
					break;
			} else if (r.dd[best] < md) {
				break;
			}
		}
		size_t gi = r.step < got->n_method ? got->idx[r.step] : best;
		size_t g = ref_take(&r, best, r.dd[best], r.dd[gi]);
		ref_check_dist(&r, g);
		ref_fold(&r, g);
	}
	ref_finish(&r, md < 0 && k >= n - npre);
}

static bool coral_better(double obj, double di, size_t i, double bo, double bd, size_t bi)
{
	return bi == SIZE_MAX || obj > bo || (obj == bo && (di > bd || (di == bd && i < bi)));
}

static void ref_coral(const double *X, const double *w, size_t n, size_t d, const bool *pre,
		      size_t k, double md, bool strict, const struct selection *got)
{
	struct ref r;
	size_t npre = 0;
	double *obj = xmalloc(n * sizeof(double));

	ref_start(&r, X, n, d, pre, got);
	r.strict = strict;
	for (size_t i = 0; pre && i < n; i++)
		npre += pre[i];
	if (npre == 0 && n > 0 && k > 0) {
		size_t a = 0;
		for (size_t i = 1; i < n; i++)
			if (w[i] > w[a])
				a = i;
		bool *tied = xcalloc(n, sizeof(bool));
		for (size_t i = 0; i < n; i++)
			tied[i] = w[i] == w[a];
		double bv = 0;
		size_t f = farthest_from_mean(&r, tied, &bv);
		size_t g = got->idx[0];
		assert_true(tied[g]);
		double gv = 0;
		/* winnow's pick among the tied: within the near-tie rule of the farthest. */
		for (size_t i = 0; i < n; i++)
			tied[i] = i == g;
		farthest_from_mean(&r, tied, &gv);
		free(tied);
		g = ref_take(&r, f, bv, gv);
		assert_true(isnan(got->dist[0]));
		ref_fold(&r, g);
	}
	while (r.step < k) {
		double D = -1;
		for (size_t i = 0; i < n; i++)
			if (!r.sel[i] && r.dd[i] > D)
				D = r.dd[i];
		size_t best = SIZE_MAX;
		double bo = 0, bd = 0;
		for (size_t i = 0; i < n; i++) {
			obj[i] = -INFINITY;
			if (r.sel[i] || !(r.dd[i] > 0) || (md >= 0 && r.dd[i] < md))
				continue;
			obj[i] = (r.dd[i] / D) * w[i];
			if (coral_better(obj[i], r.dd[i], i, bo, bd, best)) {
				best = i;
				bo = obj[i];
				bd = r.dd[i];
			}
		}
		if (best == SIZE_MAX)
			break;
		size_t gi = r.step < got->n_method ? got->idx[r.step] : best;
		size_t g = ref_take(&r, best, bo, obj[gi]);
		ref_check_dist(&r, g);
		ref_fold(&r, g);
	}
	free(obj);
	ref_finish(&r, md < 0 && k >= n - npre);
}

/* ---- running every path ---- */

static void assert_same(const struct selection *a, const struct selection *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->n_method, b->n_method);
	assert_int_equal(a->fill_rest, b->fill_rest);
	for (size_t i = 0; i < a->n; i++) {
		if (a->idx[i] != b->idx[i])
			fail_msg("pick %zu: %zu vs %zu", i, a->idx[i], b->idx[i]);
		if (!(a->dist[i] == b->dist[i] || (isnan(a->dist[i]) && isnan(b->dist[i]))))
			fail_msg("pick %zu: distance %.17g vs %.17g", i, a->dist[i], b->dist[i]);
	}
}

static const int PRUNES[] = {-1, 0, 1};
static const int PROJECTS[] = {0, 1, -1};
#if defined(__SANITIZE_THREAD__)
/* Under ThreadSanitizer the point is races: one thread has none, and the runs are slow. */
static const int THREADS[] = {2};
#else
static const int THREADS[] = {1, 2};
#endif

/*
 * Runs the method with every pass and thread count; all must agree. Returns
 * the first selection (the caller frees it).
 */
static struct selection run_all(struct select_input in, bool coral)
{
	struct selection first = {0};
	bool have = false;
	for (size_t p = 0; p < ARRAY_LEN(PRUNES); p++) {
		for (size_t g = 0; g < ARRAY_LEN(PROJECTS); g++) {
			for (size_t t = 0; t < ARRAY_LEN(THREADS); t++) {
				struct selection s;
				in.prune = PRUNES[p];
				in.project = PROJECTS[g];
				in.threads = THREADS[t];
				assert_int_equal(coral ? coral_select(&in, &s) : coreset_select(&in, &s),
						 0);
				if (!have) {
					first = s;
					have = true;
				} else {
					assert_same(&first, &s);
					selection_free(&s);
				}
			}
		}
	}
	return first;
}

static struct select_input input(const double *X, size_t n, size_t d, size_t k, double md)
{
	return (struct select_input){ .X = X, .n = n, .d = d, .k = k, .min_distance = md };
}

static void check_coreset(const double *X, size_t n, size_t d, const bool *pre, size_t k,
			  double md, bool strict)
{
	struct select_input in = input(X, n, d, k, md);
	in.preselected = pre;
	struct selection s = run_all(in, false);
	ref_coreset(X, n, d, pre, k, md, strict, &s);
	selection_free(&s);
}

static void check_coral(const double *X, const double *w, size_t n, size_t d, const bool *pre,
			size_t k, double md, bool strict)
{
	struct select_input in = input(X, n, d, k, md);
	in.preselected = pre;
	in.w = w;
	struct selection s = run_all(in, true);
	ref_coral(X, w, n, d, pre, k, md, strict, &s);
	selection_free(&s);
}

/* ---- coreset ---- */

static void test_coreset_clustered(void **state)
{
	size_t n = 4000, d = 24;
	double *X = gmm_rows(n, d, 12, 6, 0, 1);
	check_coreset(X, n, d, NULL, 300, -1, false);
	check_coreset(X, n, d, NULL, 150, 2.0, false);
	free(X);
}

static void test_coreset_uniform(void **state)
{
	size_t n = 3000, d = 40;
	double *X = uniform_rows(n, d, 2);
	check_coreset(X, n, d, NULL, 200, -1, false);
	free(X);
}

static void test_coreset_lattice_ties(void **state)
{
	/* 3^4 = 81 points for 2048 rows (a power of two: the mean is exact). */
	size_t n = 2048, d = 4;
	double *X = lattice_rows(n, d, 3, 3);
	check_coreset(X, n, d, NULL, SIZE_MAX, -1, true);	/* the fill appends the duplicates */
	check_coreset(X, n, d, NULL, 40, -1, true);
	check_coreset(X, n, d, NULL, SIZE_MAX, 1.5, true);
	check_coreset(X, n, d, NULL, SIZE_MAX, 0, true);
	free(X);
}

static void test_coreset_preselected(void **state)
{
	size_t n = 4000, d = 24;
	double *X = gmm_rows(n, d, 12, 6, 0, 4);
	bool *many = every(n, 37);	/* 108 rows: the SGEMM start */
	bool *few = every(n, 1000);	/* 4 rows: folded */
	check_coreset(X, n, d, many, 200, -1, false);
	check_coreset(X, n, d, few, 200, -1, false);
	free(X);
	/* Lattice: preselected rows with duplicates among the candidates (d = 0) and ties. */
	n = 2048;
	d = 4;
	X = lattice_rows(n, d, 3, 5);
	bool *pre = every(n, 41);
	check_coreset(X, n, d, pre, SIZE_MAX, -1, true);
	free(pre);
	free(X);
	free(many);
	free(few);
}

static void test_coreset_far_from_origin(void **state)
{
	/* Rows at 1e4 with unit spreads: float32 rounds by ~1e-3, so the gate's bound does the work. */
	size_t n = 3000, d = 16;
	double *X = gmm_rows(n, d, 6, 4, 1e4, 6);
	bool *pre = every(n, 29);
	check_coreset(X, n, d, NULL, 200, -1, false);
	check_coreset(X, n, d, pre, 100, -1, false);
	free(pre);
	free(X);
}

static void test_coreset_odd_dims(void **state)
{
	/* d not a multiple of 8 (float32 rows are zero-padded), and d = 1. */
	static const size_t dims[] = {1, 3, 13, 67};
	for (size_t t = 0; t < ARRAY_LEN(dims); t++) {
		size_t n = 1500, d = dims[t];
		double *X = uniform_rows(n, d, 7 + t);
		check_coreset(X, n, d, NULL, 100, -1, false);
		free(X);
	}
}

/* ---- coral ---- */

static void test_coral_clustered(void **state)
{
	size_t n = 3000, d = 24;
	double *X = gmm_rows(n, d, 10, 6, 0, 8);
	double *wf = weights(n, true, 9), *wc = weights(n, false, 10);
	check_coral(X, wf, n, d, NULL, 200, -1, false);
	check_coral(X, wc, n, d, NULL, 200, 1.0, false);
	bool *pre = every(n, 31);
	check_coral(X, wc, n, d, pre, 150, -1, false);
	free(pre);
	free(X);
	free(wf);
	free(wc);
}

static void test_coral_uniform(void **state)
{
	size_t n = 2500, d = 40;
	double *X = uniform_rows(n, d, 11);
	double *w = weights(n, false, 12);
	check_coral(X, w, n, d, NULL, 150, -1, false);
	/*
	 * Negative weights: a row's key d2 w |w| rises as its d2 falls, so the
	 * lazy sweeps must not take a stale block's key for a bound.
	 */
	for (size_t i = 0; i < n; i++)
		w[i] = 2 * w[i] - 1;
	check_coral(X, w, n, d, NULL, 150, -1, false);
	free(X);
	free(w);
	/* All negative, over many row blocks. */
	n = 20000;
	d = 6;
	X = uniform_rows(n, d, 30);
	w = weights(n, false, 31);
	for (size_t i = 0; i < n; i++)
		w[i] = -w[i] - 0.01;
	check_coral(X, w, n, d, NULL, 100, -1, false);
	free(X);
	free(w);
}

static void test_coral_lattice_ties(void **state)
{
	size_t n = 2048, d = 4;
	double *X = lattice_rows(n, d, 3, 13);
	double *w = weights(n, true, 14);
	check_coral(X, w, n, d, NULL, SIZE_MAX, -1, true);
	check_coral(X, w, n, d, NULL, SIZE_MAX, 1.2, true);
	bool *pre = every(n, 37);
	check_coral(X, w, n, d, pre, SIZE_MAX, -1, true);
	free(pre);
	free(X);
	free(w);
}

/* ---- the engine directly ---- */

/* The SGEMM start's d^2 must be bitwise the plain minimum of geom_sqdist. */
static size_t check_start(const double *X, size_t n, size_t d, const bool *pre)
{
	struct select_input in = input(X, n, d, SIZE_MAX, -1);
	struct kcenter *kc;
	in.preselected = pre;
	assert_int_equal(kcenter_new(&in, false, &kc), 0);
	assert_int_equal(kcenter_add_preselected(kc), 0);
	const double *d2 = kcenter_d2(kc);
	size_t zeros = 0;
	for (size_t i = 0; i < n; i++) {
		if (pre[i]) {
			assert_true(d2[i] == GEOM_TAKEN);
			continue;
		}
		double best = INFINITY;
		for (size_t p = 0; p < n; p++)
			if (pre[p]) {
				double s = geom_sqdist(X + i * d, X + p * d, d);
				if (s < best)
					best = s;
			}
		if (d2[i] != best)
			fail_msg("row %zu: %.17g, want %.17g", i, d2[i], best);
		zeros += best == 0;
	}
	kcenter_free(kc);
	return zeros;
}

static void test_sgemm_start_exact(void **state)
{
	size_t n = 3000, d = 32;
	/* Far from the origin: |x|^2 - 2x.c + |c|^2 cancels to nothing in float32. */
	double *X = gmm_rows(n, d, 8, 5, 300, 15);
	bool *pre = every(n, 7);
	/* Exact duplicates of preselected rows must come out at exactly 0. */
	for (size_t i = 1; i < n; i += 50)
		memcpy(X + i * d, X + 3 * d, d * sizeof(double));
	assert_true(check_start(X, n, d, pre) >= 50);
	free(X);
	/* Lattice: many centres tie for nearest, some rows overflow the candidate list. */
	X = lattice_rows(n, 6, 2, 16);
	assert_true(check_start(X, n, 6, pre) > 0);
	free(X);
	free(pre);
}

static void test_bad_rows(void **state)
{
	double X[] = {0, 1, 2, NAN, 4, 5};
	struct select_input in = input(X, 3, 2, SIZE_MAX, -1);
	struct selection s;
	assert_int_equal(coreset_select(&in, &s), -EINVAL);
	assert_null(s.idx);
	X[3] = INFINITY;
	assert_int_equal(coreset_select(&in, &s), -EINVAL);
	/* Huge values (no float32 copy): still exact, all in float64. */
	double Y[] = {1e20, 0, -1e20, 0, 0, 1e19, 5, 5};
	in = input(Y, 4, 2, SIZE_MAX, -1);
	struct selection a = run_all(in, false);
	ref_coreset(Y, 4, 2, NULL, SIZE_MAX, -1, false, &a);
	selection_free(&a);
}

static void test_cancel_mid_run(void **state)
{
	size_t n = 5000, d = 16;
	double *X = uniform_rows(n, d, 17);
	volatile int cancel = 0;
	struct select_input in = input(X, n, d, SIZE_MAX, -1);
	struct selection s;
	in.cancel = &cancel;
	in.k = 50;
	assert_int_equal(coreset_select(&in, &s), 0);
	selection_free(&s);
	cancel = 1;
	assert_int_equal(coreset_select(&in, &s), -ECANCELED);
	assert_null(s.idx);
	free(X);
}

/* Larger: the threaded, clustered and adaptive passes on real work; they must agree. */
static void test_paths_identical_large(void **state)
{
	size_t n = 40000, d = 32;
	double *X = gmm_rows(n, d, 20, 8, 0, 18);
	struct select_input in = input(X, n, d, 400, -1);
	struct selection s = run_all(in, false);
	assert_int_equal(s.n, 400);
	selection_free(&s);
	double *w = weights(n, false, 19);
	in.w = w;
	s = run_all(in, true);
	assert_int_equal(s.n, 400);
	selection_free(&s);
	free(w);
	free(X);
}

/*
 * The lazy plain steps on many row blocks: blocks left behind for many
 * steps, refreshed in batches, ties across blocks (lattice rows), and more
 * centres than the lazy triangle test keeps bounds for (4096).
 */
static void test_lazy_blocks(void **state)
{
	size_t n = 24000, d = 8;
	double *X = uniform_rows(n, d, 21);
	check_coreset(X, n, d, NULL, 4300, -1, false);
	free(X);
	n = 20000;
	X = lattice_rows(n, 3, 4, 22);
	check_coreset(X, n, 3, NULL, 50, -1, true);
	check_coreset(X, n, 3, NULL, SIZE_MAX, -1, true);
	free(X);
	n = 30000;
	X = gmm_rows(n, 16, 30, 4, 0, 23);
	bool *pre = every(n, 997);
	check_coreset(X, n, 16, NULL, 700, -1, false);
	check_coreset(X, n, 16, pre, 300, -1, false);
	free(pre);
	free(X);
}

/*
 * Late picks (issue 18): budgets up to 60% of n, where the clustered passes
 * visit only the centre groups a new centre can reach (DESIGN 6 of
 * kcenter.c) and the next pick comes from the tree of the clusters' groups.
 * With and without preselected rows and min_distance, coreset and coral,
 * against the reference step by step. n / 64 = 37 leaders, so most centres
 * sit in a leader's group.
 */
static void test_late_picks(void **state)
{
	size_t n = 2400, d = 12;
	double *X = gmm_rows(n, d, 10, 5, 0, 31);
	bool *pre = every(n, 37);
	double *w = weights(n, false, 32);

	check_coreset(X, n, d, NULL, 1440, -1, false);
	check_coreset(X, n, d, pre, 1400, -1, false);
	check_coral(X, w, n, d, NULL, 1440, -1, false);
	check_coral(X, w, n, d, pre, 1400, -1, false);
	/* min_distance at the distance of the 1000th pick: it stops the run near 42%. */
	struct select_input in = input(X, n, d, 1440, -1);
	struct selection s;
	assert_int_equal(coreset_select(&in, &s), 0);
	double md = s.dist[1000];
	selection_free(&s);
	check_coreset(X, n, d, NULL, SIZE_MAX, md, false);
	check_coreset(X, n, d, pre, SIZE_MAX, md, false);
	check_coral(X, w, n, d, pre, 1440, md, false);
	free(w);
	free(pre);
	free(X);
	/* Larger, on both threads: 60% of n, every path must agree. */
	n = 12000;
	d = 8;
	X = gmm_rows(n, d, 16, 6, 0, 33);
	in = input(X, n, d, 7200, -1);
	s = run_all(in, false);
	assert_int_equal(s.n, 7200);
	selection_free(&s);
	free(X);
}

/*
 * Every skip of every path checked against exact distances (select_input's
 * verify): the triangle tests of rows, members, clusters and centre groups,
 * and the projected and float32 gates, late into coreset and coral runs with
 * and without preselected rows and min_distance. None may be contradicted,
 * and the checks must have run (a premise loosened by a few percent shows
 * here even where no pick changes). On rows the projected bound nearly
 * equals the true distance, the full cluster test is soon left out
 * (clusters_full well below clusters_tested); on rows with noise in every
 * dimension it is kept.
 */
static void test_skips_verified(void **state)
{
	size_t n = 8000, d = 40;
	double *X = gmm_rows(n, d, 16, 6, 0, 34);
	double *w = weights(n, false, 35);
	bool *pre = every(n, 41);
	size_t checked = 0;

	for (size_t p = 0; p < ARRAY_LEN(PRUNES); p++) {
		for (size_t g = 0; g < ARRAY_LEN(PROJECTS); g++) {
			for (int v = 0; v < 4; v++) {
				struct select_stats st = {0};
				struct select_input in = input(X, n, d, 4800, v == 3 ? 4.0 : -1);
				struct selection s;
				in.prune = PRUNES[p];
				in.project = PROJECTS[g];
				in.threads = 2;
				in.verify = 1;
				in.stats = &st;
				in.preselected = v == 2 ? pre : NULL;
				in.w = v == 1 || v == 3 ? w : NULL;
				assert_int_equal(in.w ? coral_select(&in, &s) : coreset_select(&in, &s), 0);
				assert_int_equal(st.skips_wrong, 0);
				checked += st.skips_checked;
				if (PRUNES[p] == 1 && PROJECTS[g] == 1 && v == 0)
					assert_true(4 * st.clusters_full < st.clusters_tested);
				selection_free(&s);
			}
		}
	}
	assert_true(checked > 1000000);
	free(pre);
	free(w);
	free(X);
}

/* Runs coreset with one setting of the projected gate; returns its work counters. */
static struct select_stats gate_run(const double *X, size_t n, size_t d, size_t k, int project,
				    struct selection *s)
{
	struct select_stats st = {0};
	struct select_input in = input(X, n, d, k, -1);
	in.project = project;
	in.stats = &st;
	assert_int_equal(coreset_select(&in, s), 0);
	return st;
}

/*
 * The projected gate (DESIGN 5) on data it suits and data it does not: on
 * clustered rows the adaptive engine turns it on and it rules out most pairs
 * before their float32 rows are read, with the same selection as without
 * it; on uniform rows the directions hold too little variance and it stays
 * off.
 */
static void test_projected_gate(void **state)
{
	size_t n = 12000, d = 48, k = 300;
	double *X = gmm_rows(n, d, 16, 8, 0, 24);
	struct selection on, off, forced;
	struct select_stats a = gate_run(X, n, d, k, 0, &on);
	struct select_stats b = gate_run(X, n, d, k, -1, &off);
	struct select_stats c = gate_run(X, n, d, k, 1, &forced);
	assert_same(&on, &off);
	assert_same(&on, &forced);
	assert_int_equal(on.n, k);
	assert_true(a.rows_projected > 0);
	assert_int_equal(b.rows_projected, 0);
	assert_true(c.rows_projected >= a.rows_projected);
	/*
	 * Ruled out by the gate: at least half the float32 distances are never
	 * computed, and fewer full rows are read in all (where it leaves the
	 * float32 gate little to do, pairs go straight to float64).
	 */
	assert_true(2 * a.rows_float32 < b.rows_float32);
	assert_true(a.rows_float32 + a.rows_float64 < b.rows_float32 + b.rows_float64);
	selection_free(&on);
	selection_free(&off);
	selection_free(&forced);
	free(X);

	X = uniform_rows(n, d, 25);
	a = gate_run(X, n, d, k, 0, &on);
	c = gate_run(X, n, d, k, 1, &forced);
	assert_same(&on, &forced);
	assert_int_equal(a.rows_projected, 0);
	assert_true(c.rows_projected > 0);
	selection_free(&on);
	selection_free(&forced);
	free(X);
}

/* Adds uniform noise in [-amp, amp) to every value. */
static void add_noise(double *X, size_t count, double amp, uint64_t seed)
{
	rnd_state = seed;
	for (size_t i = 0; i < count; i++)
		X[i] += amp * (2 * rnd_unit() - 1);
}

/*
 * Noise in every dimension loosens the projected gate: with little, the
 * float32 copy is never made; with more, it is made mid-run once the float32
 * gate would pay; with much, the projected gate stops paying. The selection
 * equals the one without the projected gate each time.
 */
static void test_projected_gate_noisy(void **state)
{
	static const double amps[] = {0.3, 1.0, 2.5};
	size_t n = 12000, d = 48, k = 300;
	for (size_t t = 0; t < ARRAY_LEN(amps); t++) {
		double *X = gmm_rows(n, d, 16, 8, 0, 26);
		add_noise(X, n * d, amps[t], 27);
		struct selection on, off;
		struct select_stats a = gate_run(X, n, d, k, 0, &on);
		gate_run(X, n, d, k, -1, &off);
		assert_same(&on, &off);
		assert_true(a.rows_projected > 0);
		if (t == 0)
			assert_int_equal(a.rows_float32, 0);
		else
			assert_true(a.rows_float32 > 0);
		selection_free(&on);
		selection_free(&off);
		free(X);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coreset_clustered),
		cmocka_unit_test(test_coreset_uniform),
		cmocka_unit_test(test_coreset_lattice_ties),
		cmocka_unit_test(test_coreset_preselected),
		cmocka_unit_test(test_coreset_far_from_origin),
		cmocka_unit_test(test_coreset_odd_dims),
		cmocka_unit_test(test_coral_clustered),
		cmocka_unit_test(test_coral_uniform),
		cmocka_unit_test(test_coral_lattice_ties),
		cmocka_unit_test(test_sgemm_start_exact),
		cmocka_unit_test(test_bad_rows),
		cmocka_unit_test(test_cancel_mid_run),
		cmocka_unit_test(test_paths_identical_large),
		cmocka_unit_test(test_lazy_blocks),
		cmocka_unit_test(test_late_picks),
		cmocka_unit_test(test_skips_verified),
		cmocka_unit_test(test_projected_gate),
		cmocka_unit_test(test_projected_gate_noisy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
