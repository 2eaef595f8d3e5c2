/*
 * test_knn: the exact k-NN mean distances of TYPICALITY (selectors/knn.c)
 * against a float64 brute force written here literally (every pair's
 * sequential sum of squared differences, sqrt, the row's distances sorted,
 * the K smallest averaged). Data: uniform rows, a Gaussian mixture, tight
 * separated blobs (whole tiles ruled out), rows with many exact duplicates
 * (distance 0), near-ties along a line (neighbour distances 1 +- 1e-7) and on
 * a sphere around one row (all its neighbours within float32's error, in
 * every block), rows of huge and of tiny magnitude; K = 1, 20, n - 1 (and
 * clamped); the symmetric sweep and the one-sided one (K > d and n K > 2^22). Each case runs on 1 and
 * 2 threads, which must agree to the bit; every m_i must be within 1e-12
 * relative of the brute force's. Then wrong input and the objective helper.
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

#include "selectors/knn.h"
#include "util.h"

#define REL 1e-12

static uint64_t rs;

static double unit(void)
{
	uint64_t z = (rs += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(unit() + 1e-300)) * cos(2 * M_PI * unit());
}

/* ---- data ---- */

static double *uniform_rows(size_t n, size_t d, double scale)
{
	double *X = xmalloc(n * d * sizeof(*X));
	for (size_t i = 0; i < n * d; i++)
		X[i] = unit() * scale;
	return X;
}

/* 12 blobs of spread 0.05 around centres in [0, 10)^d, far from the origin. */
static double *clustered_rows(size_t n, size_t d)
{
	double *C = uniform_rows(12, d, 10), *X = xmalloc(n * d * sizeof(*X));
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)(unit() * 12);
		for (size_t k = 0; k < d; k++)
			X[i * d + k] = 100 + C[c * d + k] + 0.05 * gauss();
	}
	free(C);
	return X;
}

/* comps tight blobs (spread 0.01) around centres in [0, 100)^d: whole tiles can be ruled out. */
static double *separated_rows(size_t n, size_t d, size_t comps)
{
	double *C = uniform_rows(comps, d, 100), *X = xmalloc(n * d * sizeof(*X));
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)(unit() * (double)comps);
		for (size_t k = 0; k < d; k++)
			X[i * d + k] = C[c * d + k] + 0.01 * gauss();
	}
	free(C);
	return X;
}

/* Each row a copy of one of `protos` integer prototypes: many rows at distance 0. */
static double *duplicate_rows(size_t n, size_t d, size_t protos)
{
	double *P = xmalloc(protos * d * sizeof(*P)), *X = xmalloc(n * d * sizeof(*X));
	for (size_t i = 0; i < protos * d; i++)
		P[i] = (double)(int)(unit() * 5);
	for (size_t i = 0; i < n; i++)
		memcpy(X + i * d, P + (size_t)(unit() * (double)protos) * d, d * sizeof(*X));
	free(P);
	return X;
}

/* Points j (1 + 1e-7 noise) along a random direction: neighbours at 1 +- ~1e-7. */
static double *line_rows(size_t n, size_t d)
{
	double *u = xmalloc(d * sizeof(*u)), *X = xmalloc(n * d * sizeof(*X)), s = 0;
	for (size_t k = 0; k < d; k++) {
		u[k] = gauss();
		s += u[k] * u[k];
	}
	for (size_t i = 0; i < n; i++) {
		double t = (double)i + 1e-7 * (unit() - 0.5);
		for (size_t k = 0; k < d; k++)
			X[i * d + k] = 3 + t * u[k] / sqrt(s);
	}
	free(u);
	return X;
}

/*
 * Row 0 at the centre of a unit sphere (offset 5 in every coordinate), the
 * others on it at radius 1 + 1e-6 (u - 0.5): row 0's neighbours all tie to
 * within 1e-6, below what float32 resolves of |y|^2 - 2 y.c, and lie in every block.
 */
static double *sphere_rows(size_t n, size_t d)
{
	double *X = xmalloc(n * d * sizeof(*X));
	for (size_t k = 0; k < d; k++)
		X[k] = 5;
	for (size_t i = 1; i < n; i++) {
		double s = 0, r = 1 + 1e-6 * (unit() - 0.5);
		for (size_t k = 0; k < d; k++) {
			X[i * d + k] = gauss();
			s += X[i * d + k] * X[i * d + k];
		}
		for (size_t k = 0; k < d; k++)
			X[i * d + k] = 5 + r * X[i * d + k] / sqrt(s);
	}
	return X;
}

/* ---- the brute force ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * S (n x (n-1)): row i's distances to every other row, sorted ascending;
 * the reference m_i for K is the mean of its first K.
 */
static double *brute_sorted(const double *X, size_t n, size_t d)
{
	double *S = xmalloc(n * (n - 1) * sizeof(*S));
	for (size_t i = 0; i < n; i++) {
		double *row = S + i * (n - 1);
		size_t c = 0;
		for (size_t j = 0; j < n; j++) {
			if (j == i)
				continue;
			double s = 0;
			for (size_t k = 0; k < d; k++)
				s += (X[i * d + k] - X[j * d + k]) * (X[i * d + k] - X[j * d + k]);
			row[c++] = sqrt(s);
		}
		qsort(row, n - 1, sizeof(*row), cmp_double);
	}
	return S;
}

static double brute_m(const double *S, size_t n, size_t i, size_t K)
{
	double s = 0;
	for (size_t k = 0; k < K; k++)
		s += S[i * (n - 1) + k];
	return s / (double)K;
}

/* knn on 1 and 2 threads: equal to the bit, each m_i within REL of the brute force's. */
static void check_case(const double *X, const double *S, size_t n, size_t d, int K)
{
	double *m1 = xmalloc(n * sizeof(*m1)), *m2 = xmalloc(n * sizeof(*m2));
	size_t Kc = (size_t)K < n ? (size_t)K : n - 1;

	assert_int_equal(knn_mean_dist(X, n, d, K, 1, NULL, m1), 0);
	assert_int_equal(knn_mean_dist(X, n, d, K, 2, NULL, m2), 0);
	assert_memory_equal(m1, m2, n * sizeof(*m1));
	for (size_t i = 0; i < n; i++) {
		double ref = brute_m(S, n, i, Kc);
		if (!(fabs(m1[i] - ref) <= REL * ref)) {
			fprintf(stderr, "n %zu d %zu K %d: m[%zu] = %.17g, brute force %.17g\n", n, d,
				K, i, m1[i], ref);
			fail();
		}
	}
	free(m1);
	free(m2);
}

static void check_rows(double *X, size_t n, size_t d, const int *Ks, size_t nK)
{
	double *S = brute_sorted(X, n, d);
	for (size_t k = 0; k < nK; k++)
		check_case(X, S, n, d, Ks[k]);
	free(S);
	free(X);
}

/* ---- cases ---- */

static void test_uniform(void **state)
{
	(void)state;
	rs = 1;
	/* n - 1 = 2999 > d and n K > 2^22: the one-sided sweep; 1 and 20: the symmetric one. */
	check_rows(uniform_rows(3000, 32, 1), 3000, 32, (const int[]){1, 20, 2999}, 3);
	check_rows(uniform_rows(700, 5, 1), 700, 5, (const int[]){1, 7, 20, 699}, 4);
}

static void test_clustered(void **state)
{
	(void)state;
	rs = 2;
	check_rows(clustered_rows(3000, 40), 3000, 40, (const int[]){1, 20, 300}, 3);
}

static void test_separated(void **state)
{
	(void)state;
	rs = 8;
	check_rows(separated_rows(5000, 6, 5), 5000, 6, (const int[]){1, 20}, 2);
}

static void test_duplicates(void **state)
{
	(void)state;
	rs = 3;
	/* About 25 copies of each prototype: m = 0 for K up to the copies, then a jump. */
	check_rows(duplicate_rows(1500, 16, 60), 1500, 16, (const int[]){1, 20, 40, 1499}, 4);
	/* Every row the same. */
	check_rows(duplicate_rows(600, 8, 1), 600, 8, (const int[]){1, 20, 599}, 3);
}

static void test_near_ties(void **state)
{
	(void)state;
	rs = 4;
	check_rows(line_rows(2000, 24), 2000, 24, (const int[]){1, 2, 3, 20}, 4);
}

static void test_sphere(void **state)
{
	(void)state;
	rs = 9;
	check_rows(sphere_rows(3001, 16), 3001, 16, (const int[]){1, 20}, 2);
}

static void test_magnitudes(void **state)
{
	(void)state;
	double *X;
	rs = 5;
	/* Beyond float32's range and near its underflow: the screen works on scaled rows. */
	X = uniform_rows(900, 12, 1e60);
	check_rows(X, 900, 12, (const int[]){1, 20}, 2);
	X = uniform_rows(900, 12, 1e-60);
	check_rows(X, 900, 12, (const int[]){1, 20}, 2);
	/* Entries spanning 2^-70 .. 1 in the same rows (some are zeroed in the screen's copy). */
	X = uniform_rows(900, 12, 1);
	for (size_t i = 0; i < 900 * 12; i += 3)
		X[i] *= 0x1p-70;
	check_rows(X, 900, 12, (const int[]){1, 20}, 2);
}

static void test_small_and_clamped(void **state)
{
	(void)state;
	rs = 6;
	for (size_t n = 2; n <= 9; n++)
		check_rows(uniform_rows(n, 3, 1), n, 3, (const int[]){1, 2, (int)n - 1, (int)n,
								    1000000}, 5);
}

/* K > 4096 and n K > 2^22: one-sided tasks of fewer rows than a block. */
static void test_large_k(void **state)
{
	(void)state;
	rs = 7;
	check_rows(uniform_rows(4300, 3, 1), 4300, 3, (const int[]){4299}, 1);
}

static void test_wrong_input(void **state)
{
	(void)state;
	double X[6] = {0, 1, 2, 3, 4, 5}, m[3] = {-1, -1, -1};
	int flag = 1;

	assert_int_equal(knn_mean_dist(X, 3, 2, 0, 1, NULL, m), -EINVAL);
	assert_int_equal(knn_mean_dist(X, 3, 2, -5, 1, NULL, m), -EINVAL);
	assert_int_equal(knn_mean_dist(NULL, 0, 2, 0, 1, NULL, m), -EINVAL);
	X[3] = NAN;
	assert_int_equal(knn_mean_dist(X, 3, 2, 1, 1, NULL, m), -EINVAL);
	X[3] = INFINITY;
	assert_int_equal(knn_mean_dist(X, 3, 2, 1, 1, NULL, m), -EINVAL);
	X[3] = -1e80;
	assert_int_equal(knn_mean_dist(X, 3, 2, 1, 1, NULL, m), -ERANGE);
	X[3] = 3;
	assert_int_equal(knn_mean_dist(NULL, 0, (size_t)1 << 20, 1, 1, NULL, m), -E2BIG);
	/* NaN in the only row is still refused. */
	double one[2] = {NAN, 0};
	assert_int_equal(knn_mean_dist(one, 1, 2, 1, 1, NULL, m), -EINVAL);
	/* n = 0: nothing written; n = 1: m = 0 (no other row); d = 0: all distances 0. */
	assert_int_equal(knn_mean_dist(NULL, 0, 2, 20, 1, NULL, m), 0);
	assert_true(m[0] == -1);
	assert_int_equal(knn_mean_dist(X, 1, 2, 20, 1, NULL, m), 0);
	assert_true(m[0] == 0 && m[1] == -1);
	assert_int_equal(knn_mean_dist(X, 3, 0, 1, 1, NULL, m), 0);
	assert_true(m[0] == 0 && m[1] == 0 && m[2] == 0);
	/* Cancelled before it starts. */
	double *U = uniform_rows(600, 4, 1), *mu = xmalloc(600 * sizeof(*mu));
	assert_int_equal(knn_mean_dist(U, 600, 4, 5, 2, &flag, mu), -ECANCELED);
	free(U);
	free(mu);
}

static void test_typicality(void **state)
{
	(void)state;
	double o[4];

	knn_typicality((const double[]){2, 4, 1, 8}, 4, o);
	assert_true(o[0] == 0.5 && o[1] == 0.25 && o[2] == 1 && o[3] == 0.125);
	/* m_min = 0: every other row 0, m = 0 itself 1. */
	knn_typicality((const double[]){2, 0, 4}, 3, o);
	assert_true(o[0] == 0 && o[1] == 1 && o[2] == 0);
	knn_typicality((const double[]){5}, 1, o);
	assert_true(o[0] == 1);
	o[0] = -1;
	knn_typicality(NULL, 0, o);
	assert_true(o[0] == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_clustered),
		cmocka_unit_test(test_separated),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_near_ties),
		cmocka_unit_test(test_sphere),
		cmocka_unit_test(test_magnitudes),
		cmocka_unit_test(test_small_and_clamped),
		cmocka_unit_test(test_large_k),
		cmocka_unit_test(test_wrong_input),
		cmocka_unit_test(test_typicality),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
