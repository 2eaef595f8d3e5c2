/*
 * test_selectors: the rng, random and coreset selectors of SPEC 4.6. The rng
 * sequence and the random selector's draws are checked against an
 * independent Python implementation run by the test itself; coreset against
 * hand-worked cases on a line and against a naive recompute-everything
 * version written here.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "selectors/rng.h"
#include "selectors/selector.h"
#include "util.h"

#define PY "/usr/bin/python3"

/* ---- helpers ---- */

static struct select_input input(const double *X, size_t n, size_t d, size_t k)
{
	struct select_input in = {
		.X = X, .n = n, .d = d, .k = k, .min_distance = -1, .seed = 1,
	};
	return in;
}

static void assert_order(const struct selection *s, const size_t *want, size_t n)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->idx[i], want[i]);
}

static void assert_prefix(const struct selection *s, const size_t *want, size_t n)
{
	assert_true(s->n >= n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->idx[i], want[i]);
}

static void assert_dists(const struct selection *s, const double *want, size_t n)
{
	assert_true(s->n >= n);
	for (size_t i = 0; i < n; i++) {
		if (isnan(want[i]))
			assert_true(isnan(s->dist[i]));
		else
			assert_true(fabs(s->dist[i] - want[i]) <= 1e-12 * (1 + fabs(want[i])));
	}
}

static void assert_no_repeats(const struct selection *s, size_t n)
{
	bool *seen = xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < s->n; i++) {
		assert_true(s->idx[i] < n);
		assert_false(seen[s->idx[i]]);
		seen[s->idx[i]] = true;
	}
	free(seen);
}

/* Deterministic test data (a 64-bit LCG), values in [-1, 1). */
static double *lcg_rows(size_t n, size_t d, uint64_t seed)
{
	double *X = xmalloc((n * d > 0 ? n * d : 1) * sizeof(*X));
	uint64_t x = seed;
	for (size_t i = 0; i < n * d; i++) {
		x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		X[i] = (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
	}
	return X;
}

/* Runs a Python script, returns its stdout (caller frees); fails the test on error. */
static char *run_python(const char *script)
{
	char path[] = "pyXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	char *cmd = xasprintf(PY " %s", path);
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	struct buf b = {0};
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_append(&b, chunk, got);
	int st = pclose(p);
	unlink(path);
	assert_int_equal(st, 0);
	assert_non_null(b.data);
	return b.data;
}

/* The Python side: SPEC 4.6's rng and shuffle, with 64-bit masking. */
static const char PY_RNG[] =
	"M = (1 << 64) - 1\n"
	"def splitmix(x):\n"
	"    x = (x + 0x9e3779b97f4a7c15) & M\n"
	"    z = x\n"
	"    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M\n"
	"    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M\n"
	"    return x, z ^ (z >> 31)\n"
	"def rotl(v, k):\n"
	"    return ((v << k) | (v >> (64 - k))) & M\n"
	"class Rng:\n"
	"    def __init__(self, seed):\n"
	"        x = seed & M\n"
	"        self.s = []\n"
	"        for _ in range(4):\n"
	"            x, z = splitmix(x)\n"
	"            self.s.append(z)\n"
	"    def next(self):\n"
	"        s = self.s\n"
	"        r = (rotl((s[1] * 5) & M, 7) * 9) & M\n"
	"        t = (s[1] << 17) & M\n"
	"        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t\n"
	"        s[3] = rotl(s[3], 45)\n"
	"        return r\n"
	"    def bounded(self, m):\n"
	"        th = ((1 << 64) - m) % m\n"
	"        while True:\n"
	"            r = self.next()\n"
	"            if r >= th:\n"
	"                return r % m\n"
	"def shuffle(n, k, seed):\n"
	"    g = Rng(seed); a = list(range(n))\n"
	"    for i in range(min(k, n)):\n"
	"        j = i + g.bounded(n - i)\n"
	"        a[i], a[j] = a[j], a[i]\n"
	"    return a[:min(k, n)]\n";

static const uint64_t SEEDS[] = {0, 1, 42, UINT64_MAX};
static const uint64_t BOUNDS[] = {1, 2, 3, 10, 1000003, (UINT64_C(1) << 63) + 1, UINT64_MAX};
static const struct { size_t n, k; uint64_t seed; } SHUFFLES[] = {
	{10, 10, 1}, {1000, 7, 5}, {57, 56, 0}, {3, SIZE_MAX, 99},
};

/* ---- rng ---- */

static void test_splitmix_published(void **state)
{
	/* The published first outputs of splitmix64 from seed 0. */
	static const uint64_t want[] = {
		UINT64_C(0xe220a8397b1dcdaf), UINT64_C(0x6e789e6aa1b965f4),
		UINT64_C(0x06c45d188009454f), UINT64_C(0xf88bb8a8724c81ec),
	};
	uint64_t x = 0;
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_true(splitmix64_next(&x) == want[i]);
	struct rng r;
	rng_seed(&r, 0);
	for (size_t i = 0; i < 4; i++)
		assert_true(r.s[i] == want[i]);
}

static void test_xoshiro_reference_state(void **state)
{
	/* xoshiro256** from s = {1, 2, 3, 4}, as the reference C code gives. */
	static const uint64_t want[] = {
		UINT64_C(11520), UINT64_C(0), UINT64_C(1509978240),
		UINT64_C(1215971899390074240),
	};
	struct rng r = {{1, 2, 3, 4}};
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_true(rng_next(&r) == want[i]);
}

static void test_rng_matches_python(void **state)
{
	struct buf script = {0};
	buf_puts(&script, PY_RNG);
	for (size_t i = 0; i < ARRAY_LEN(SEEDS); i++)
		buf_printf(&script, "g = Rng(%" PRIu64 "); print(*[g.next() for _ in range(16)])\n",
			   SEEDS[i]);
	for (size_t i = 0; i < ARRAY_LEN(BOUNDS); i++)
		buf_printf(&script, "g = Rng(7); print(*[g.bounded(%" PRIu64 ") for _ in range(64)])\n",
			   BOUNDS[i]);
	char *outp = run_python(script.data);
	buf_free(&script);

	char *p = outp, *end;
	for (size_t i = 0; i < ARRAY_LEN(SEEDS); i++) {
		struct rng r;
		rng_seed(&r, SEEDS[i]);
		for (int j = 0; j < 16; j++) {
			uint64_t want = strtoull(p, &end, 10);
			assert_true(end != p);
			p = end;
			assert_true(rng_next(&r) == want);
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(BOUNDS); i++) {
		struct rng r;
		rng_seed(&r, 7);
		for (int j = 0; j < 64; j++) {
			uint64_t want = strtoull(p, &end, 10);
			assert_true(end != p);
			p = end;
			uint64_t got = rng_bounded(&r, BOUNDS[i]);
			assert_true(got < BOUNDS[i]);
			assert_true(got == want);
		}
	}
	free(outp);
}

static void test_bounded_rejects(void **state)
{
	/*
	 * With m = 2^63 + 1 the threshold is 2^63 - 1, so about half the draws
	 * are rejected: bounded must consume more than one output per value.
	 */
	struct rng a, b;
	rng_seed(&a, 3);
	rng_seed(&b, 3);
	uint64_t m = (UINT64_C(1) << 63) + 1;
	int extra = 0;
	for (int i = 0; i < 64; i++) {
		uint64_t v = rng_bounded(&a, m);
		uint64_t r;
		while ((r = rng_next(&b)) < m - 2)
			extra++;
		assert_true(v == r % m);
	}
	assert_true(extra > 10);
	assert_true(rng_bounded(&a, 1) == 0);
}

/* ---- random ---- */

static void test_random_matches_python(void **state)
{
	struct buf script = {0};
	buf_puts(&script, PY_RNG);
	for (size_t i = 0; i < ARRAY_LEN(SHUFFLES); i++) {
		char k[32];
		if (SHUFFLES[i].k == SIZE_MAX)
			snprintf(k, sizeof(k), "1 << 70");
		else
			snprintf(k, sizeof(k), "%zu", SHUFFLES[i].k);
		buf_printf(&script, "print(*shuffle(%zu, %s, %" PRIu64 "))\n", SHUFFLES[i].n, k,
			   SHUFFLES[i].seed);
	}
	char *outp = run_python(script.data);
	buf_free(&script);

	char *p = outp, *end;
	for (size_t i = 0; i < ARRAY_LEN(SHUFFLES); i++) {
		struct select_input in = input(NULL, SHUFFLES[i].n, 0, SHUFFLES[i].k);
		in.seed = SHUFFLES[i].seed;
		struct selection s;
		assert_int_equal(random_select(&in, &s), 0);
		size_t want_n = SHUFFLES[i].k < SHUFFLES[i].n ? SHUFFLES[i].k : SHUFFLES[i].n;
		assert_int_equal(s.n, want_n);
		assert_int_equal(s.n_method, want_n);
		assert_false(s.fill_rest);	/* never anything to append */
		for (size_t j = 0; j < s.n; j++) {
			unsigned long long want = strtoull(p, &end, 10);
			assert_true(end != p);
			p = end;
			assert_int_equal(s.idx[j], want);
			assert_true(isnan(s.dist[j]));
		}
		assert_no_repeats(&s, SHUFFLES[i].n);
		selection_free(&s);
	}
	free(outp);
}

static void test_random_prefix_and_seed(void **state)
{
	/* A partial shuffle's first k draws do not depend on k. */
	struct select_input in = input(NULL, 500, 0, 500);
	struct selection all, some, other;
	in.seed = 12345;
	assert_int_equal(random_select(&in, &all), 0);
	in.k = 20;
	assert_int_equal(random_select(&in, &some), 0);
	assert_int_equal(some.n, 20);
	assert_false(some.fill_rest);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(some.idx[i], all.idx[i]);
	in.seed = 12346;
	assert_int_equal(random_select(&in, &other), 0);
	assert_memory_not_equal(other.idx, some.idx, 20 * sizeof(size_t));
	/* min_distance is ignored: still a full permutation. */
	in.k = SIZE_MAX;
	in.min_distance = 0.5;
	in.seed = 12345;
	selection_free(&other);
	assert_int_equal(random_select(&in, &other), 0);
	assert_memory_equal(other.idx, all.idx, 500 * sizeof(size_t));
	assert_no_repeats(&other, 500);
	selection_free(&all);
	selection_free(&some);
	selection_free(&other);
}

/*
 * Preselected rows are never drawn and k counts new picks: the draws are
 * those of the plain shuffle over the other rows in path order.
 */
static void test_random_preselected(void **state)
{
	size_t n = 300, m = 0, map[300];
	bool pre[300];
	struct select_input in = input(NULL, n, 0, 40);
	struct select_input sub;
	struct selection s, t;

	for (size_t i = 0; i < n; i++) {
		pre[i] = i % 3 == 1;
		if (!pre[i])
			map[m++] = i;
	}
	in.seed = 77;
	in.preselected = pre;
	assert_int_equal(random_select(&in, &s), 0);
	sub = in;
	sub.n = m;
	sub.preselected = NULL;
	assert_int_equal(random_select(&sub, &t), 0);
	assert_int_equal(s.n, 40);
	assert_int_equal(t.n, 40);
	for (size_t i = 0; i < s.n; i++) {
		assert_false(pre[s.idx[i]]);
		assert_int_equal(s.idx[i], map[t.idx[i]]);
	}
	assert_no_repeats(&s, n);
	selection_free(&s);
	selection_free(&t);
	/* A budget beyond the rest: every non-member once. */
	in.k = SIZE_MAX;
	assert_int_equal(random_select(&in, &s), 0);
	assert_int_equal(s.n, m);
	assert_false(s.fill_rest);
	for (size_t i = 0; i < s.n; i++)
		assert_false(pre[s.idx[i]]);
	assert_no_repeats(&s, n);
	selection_free(&s);
}

static void test_random_empty_and_cancel(void **state)
{
	struct select_input in = input(NULL, 0, 0, SIZE_MAX);
	struct selection s;
	assert_int_equal(random_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	volatile int cancel = 1;
	in.n = 10;
	in.cancel = &cancel;
	assert_int_equal(random_select(&in, &s), -ECANCELED);
	assert_null(s.idx);
}

/* ---- coreset ---- */

static void test_coreset_line(void **state)
{
	/*
	 * 1-d points 0, 1, 3, 7, 15: mean 5.2, so 15 comes first (NaN), then
	 * 0 at 15, 7 at 7, 3 at 3, 1 at 1.
	 */
	static const double X[] = {0, 1, 3, 7, 15};
	static const size_t order[] = {4, 0, 3, 2, 1};
	const double dists[] = {NAN, 15, 7, 3, 1};
	struct select_input in = input(X, 5, 1, SIZE_MAX);
	struct selection s;

	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 5);
	assert_dists(&s, dists, 5);
	assert_false(s.fill_rest);	/* all by the greedy, none appended */
	assert_int_equal(s.n_method, 5);
	selection_free(&s);

	/* k respected. */
	in.k = 2;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 2);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* min_distance 3: the pick at exactly 3 is made, the one at 1 is not. */
	in.k = SIZE_MAX;
	in.min_distance = 3;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 4);
	assert_false(s.fill_rest);
	selection_free(&s);

	in.min_distance = 3.5;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 3);
	selection_free(&s);

	/* min_distance larger than every gap: only the first pick. */
	in.min_distance = 100;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 1);
	selection_free(&s);

	/* Both on: whichever comes first. */
	in.min_distance = 1;
	in.k = 3;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 3);
	selection_free(&s);
}

static void test_coreset_duplicates_fill(void **state)
{
	/*
	 * 0, 5, 0, 5, 2: mean 2.4, so 5 (index 1) first; then index 0 at 5 (tie
	 * with index 2, lowest index wins); then 2 at 2; then max d = 0.
	 */
	static const double X[] = {0, 5, 0, 5, 2};
	static const size_t greedy[] = {1, 0, 4};
	static const size_t all[] = {1, 0, 4, 2, 3};
	const double dists[] = {NAN, 5, 2, 0, 0};
	struct select_input in = input(X, 5, 1, SIZE_MAX);
	struct selection s;

	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 5);
	assert_dists(&s, dists, 5);
	assert_true(s.fill_rest);
	assert_int_equal(s.n_method, 3);
	selection_free(&s);

	/* k = n is "k >= n": the fill applies. */
	in.k = 5;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 5);
	assert_true(s.fill_rest);
	selection_free(&s);

	/* k < n: no fill, and the greedy never picks a row at d = 0. */
	in.k = 4;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, greedy, 3);
	assert_false(s.fill_rest);
	assert_int_equal(s.n_method, 3);
	selection_free(&s);

	/* min_distance on (even 0): no fill. */
	in.k = SIZE_MAX;
	in.min_distance = 0;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, greedy, 3);
	assert_false(s.fill_rest);
	selection_free(&s);
}

static void test_coreset_first_pick_tie(void **state)
{
	/*
	 * 1, 5, 3, 5, 1 in 2-d (second column constant): mean 3, four rows tie
	 * for farthest and the lowest index wins; then 5 at 4, then 3 at 2.
	 */
	static const double X[] = {1, 7, 5, 7, 3, 7, 5, 7, 1, 7};
	static const size_t all[] = {0, 1, 2, 3, 4};
	const double dists[] = {NAN, 4, 2, 0, 0};
	struct select_input in = input(X, 5, 2, SIZE_MAX);
	struct selection s;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 5);
	assert_dists(&s, dists, 5);
	assert_int_equal(s.n_method, 3);
	selection_free(&s);
}

static void test_coreset_all_identical(void **state)
{
	/* Every row the same: the first pick, then the rest as fill. */
	static const double X[] = {1, 2, 1, 2, 1, 2};
	static const size_t all[] = {0, 1, 2};
	struct select_input in = input(X, 3, 2, SIZE_MAX);
	struct selection s;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 3);
	assert_int_equal(s.n_method, 1);
	assert_true(isnan(s.dist[0]));
	assert_true(s.dist[1] == 0 && s.dist[2] == 0);
	selection_free(&s);
}

static void test_coreset_preselected(void **state)
{
	/*
	 * 0, 10, 4, 6, 9 with 10 preselected: d = 10, -, 6, 4, 1. Picks 0 (10),
	 * then 4 and 6 tie at 4 (index 2 wins), then 6 at 2, then 9 at 1.
	 */
	static const double X[] = {0, 10, 4, 6, 9};
	static const size_t order[] = {0, 2, 3, 4};
	static const double dists[] = {10, 4, 2, 1};
	bool pre[5] = {false, true, false, false, false};
	struct select_input in = input(X, 5, 1, SIZE_MAX);
	struct selection s;

	in.preselected = pre;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 4);
	assert_dists(&s, dists, 4);
	assert_false(s.fill_rest);
	assert_int_equal(s.n_method, 4);
	selection_free(&s);

	/* k counts new picks only. */
	in.k = 2;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 2);
	assert_false(s.fill_rest);
	selection_free(&s);

	/* min_distance applies from the first pick on: 10 >= 5, 4 < 5. */
	in.k = SIZE_MAX;
	in.min_distance = 5;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, order, 1);
	selection_free(&s);

	/* No flag set: as without preselection (first pick is 10, farthest from 5.8). */
	memset(pre, 0, sizeof(pre));
	in.min_distance = -1;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.idx[0], 0);	/* |0 - 5.8| = 5.8 > |10 - 5.8| = 4.2 */
	assert_true(isnan(s.dist[0]));
	selection_free(&s);

	/* Everything preselected: nothing to pick. */
	for (int i = 0; i < 5; i++)
		pre[i] = true;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);
}

static void test_coreset_preselected_duplicates(void **state)
{
	/*
	 * 3 preselected; index 0 and 2 duplicate it, so they start at d = 0:
	 * the greedy takes 7 only, and the fill appends 0 and 2 (never 1).
	 */
	static const double X[] = {3, 3, 3, 7};
	static const size_t all[] = {3, 0, 2};
	bool pre[4] = {false, true, false, false};
	struct select_input in = input(X, 4, 1, SIZE_MAX);
	struct selection s;
	in.preselected = pre;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 3);
	assert_int_equal(s.n_method, 1);
	assert_true(s.dist[0] == 4);
	assert_true(s.fill_rest);
	selection_free(&s);

	/* A budget covering the three new candidates is "k >= n" for the fill rule. */
	in.k = 3;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_order(&s, all, 3);
	selection_free(&s);
	in.k = 2;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 1);
	selection_free(&s);
}

static void test_coreset_small(void **state)
{
	struct selection s;
	struct select_input in = input(NULL, 0, 0, SIZE_MAX);

	/* n = 0 */
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	/* n = 1 */
	static const double one[] = {0.5, -0.25, 3};
	in = input(one, 1, 3, SIZE_MAX);
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.idx[0], 0);
	assert_true(isnan(s.dist[0]));
	selection_free(&s);

	/* k = 0 */
	in = input(one, 1, 3, 0);
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 0);
	selection_free(&s);

	/* Rows without columns cannot be selected on. */
	in = input(one, 1, 0, SIZE_MAX);
	assert_int_equal(coreset_select(&in, &s), -EINVAL);

	/* selection_free is NULL-safe and idempotent. */
	selection_free(NULL);
	selection_free(&s);
}

static void test_coreset_cancel(void **state)
{
	double *X = lcg_rows(100, 4, 9);
	volatile int cancel = 1;
	bool pre[100] = {false};
	struct select_input in = input(X, 100, 4, SIZE_MAX);
	struct selection s;

	in.cancel = &cancel;
	assert_int_equal(coreset_select(&in, &s), -ECANCELED);
	assert_null(s.idx);
	assert_null(s.dist);
	pre[50] = true;
	in.preselected = pre;
	assert_int_equal(coreset_select(&in, &s), -ECANCELED);
	cancel = 0;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n, 99);
	selection_free(&s);
	free(X);
}

/*
 * The naive reading of SPEC 4.6: recompute every d from scratch at each
 * step, plain sequential sums, sqrt everywhere.
 */
static size_t naive_coreset(const double *X, size_t n, size_t dim, size_t k, double md,
			    size_t *out)
{
	bool *sel = xcalloc(n, 1);
	size_t m = 0;
	double *mean = xcalloc(dim, sizeof(double));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			mean[j] += X[i * dim + j] / (double)n;
	size_t f = 0;
	double fb = -1;
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (size_t j = 0; j < dim; j++)
			s += (X[i * dim + j] - mean[j]) * (X[i * dim + j] - mean[j]);
		if (sqrt(s) > fb) {
			fb = sqrt(s);
			f = i;
		}
	}
	out[m++] = f;
	sel[f] = true;
	while (m < k && m < n) {
		size_t arg = 0;
		double best = -1;
		for (size_t i = 0; i < n; i++) {
			if (sel[i])
				continue;
			double di = INFINITY;
			for (size_t q = 0; q < m; q++) {
				double s = 0;
				for (size_t j = 0; j < dim; j++) {
					double t = X[i * dim + j] - X[out[q] * dim + j];
					s += t * t;
				}
				if (sqrt(s) < di)
					di = sqrt(s);
			}
			if (di > best) {
				best = di;
				arg = i;
			}
		}
		if (best == 0 || (md >= 0 && best < md))
			break;
		out[m++] = arg;
		sel[arg] = true;
	}
	free(sel);
	free(mean);
	return m;
}

static void test_coreset_vs_naive(void **state)
{
	static const struct { size_t n, d, k; double md; } cases[] = {
		{300, 7, 60, -1}, {200, 1, 50, -1}, {150, 33, SIZE_MAX, -1}, {250, 3, SIZE_MAX, 0.2},
	};
	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		size_t n = cases[c].n, d = cases[c].d;
		double *X = lcg_rows(n, d, 100 + c);
		size_t *want = xmalloc(n * sizeof(size_t));
		size_t m = naive_coreset(X, n, d, cases[c].k, cases[c].md, want);
		struct select_input in = input(X, n, d, cases[c].k);
		in.min_distance = cases[c].md;
		struct selection s;
		assert_int_equal(coreset_select(&in, &s), 0);
		assert_int_equal(s.n_method, m);
		assert_prefix(&s, want, m);
		assert_int_equal(s.n, cases[c].k == SIZE_MAX && cases[c].md < 0 ? n : m);
		assert_no_repeats(&s, n);
		if (cases[c].md > 0) {
			assert_true(m > 1 && m < n);
			for (size_t i = 1; i < s.n; i++)
				assert_true(s.dist[i] >= cases[c].md);
		}
		/* Recorded distances never grow along the greedy order. */
		for (size_t i = 2; i < s.n_method; i++)
			assert_true(s.dist[i] <= s.dist[i - 1]);
		selection_free(&s);
		free(want);
		free(X);
	}
}

static void test_coreset_grid_ties(void **state)
{
	/*
	 * Points on a 3x3x3 integer grid, each twice, n = 64 (a power of two so
	 * the mean is exact): every distance is exact, so ties are real ties
	 * and must go to the lowest index, exactly like the naive version.
	 */
	size_t n = 64, d = 3;
	double *X = xmalloc(n * d * sizeof(double));
	uint64_t x = 77;
	for (size_t i = 0; i < n * d; i++) {
		x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		X[i] = (double)((x >> 33) % 3);
	}
	size_t *want = xmalloc(n * sizeof(size_t));
	size_t m = naive_coreset(X, n, d, SIZE_MAX, -1, want);
	struct select_input in = input(X, n, d, SIZE_MAX);
	struct selection s;
	assert_int_equal(coreset_select(&in, &s), 0);
	assert_int_equal(s.n_method, m);
	assert_prefix(&s, want, m);
	assert_true(m <= 27);
	assert_int_equal(s.n, n);
	assert_no_repeats(&s, n);
	/* The fill is in path order. */
	for (size_t i = m + 1; i < n; i++)
		assert_true(s.idx[i] > s.idx[i - 1]);
	selection_free(&s);
	free(want);
	free(X);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splitmix_published),
		cmocka_unit_test(test_xoshiro_reference_state),
		cmocka_unit_test(test_rng_matches_python),
		cmocka_unit_test(test_bounded_rejects),
		cmocka_unit_test(test_random_matches_python),
		cmocka_unit_test(test_random_prefix_and_seed),
		cmocka_unit_test(test_random_preselected),
		cmocka_unit_test(test_random_empty_and_cancel),
		cmocka_unit_test(test_coreset_line),
		cmocka_unit_test(test_coreset_duplicates_fill),
		cmocka_unit_test(test_coreset_first_pick_tie),
		cmocka_unit_test(test_coreset_all_identical),
		cmocka_unit_test(test_coreset_preselected),
		cmocka_unit_test(test_coreset_preselected_duplicates),
		cmocka_unit_test(test_coreset_small),
		cmocka_unit_test(test_coreset_cancel),
		cmocka_unit_test(test_coreset_vs_naive),
		cmocka_unit_test(test_coreset_grid_ties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
