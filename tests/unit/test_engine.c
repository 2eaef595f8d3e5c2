/*
 * Unit tests of the plan engine (selectors/engine.c, registry.c, s_*.c;
 * SPEC 4.8's greedy step) on small cases worked out by hand in the comments:
 * every strategy, strengths 0, 1, 2, negative and their +inf and NaN
 * products, the tie rules, each stop reason, thresholds and preselected
 * members, each input/strategy pair (allowed runs, refused is -EINVAL),
 * hostile input, and thread-count independence.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "selectors/engine.h"
#include "util.h"

#define MAXE 6

/* |a - b| <= tol (this cmocka has no assert_double_equal). */
#define assert_close(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

struct tcase {
	struct plan p;
	struct engine_entry_input ei[MAXE];
	struct engine_inputs in;
	struct engine_result r;
};

static struct plan_entry *add(struct tcase *t, enum plan_input in, enum plan_strategy st,
			      const double *value)
{
	struct plan_entry *pe = plan_add_entry(&t->p, in, st);
	t->ei[t->p.nentries - 1].value = value;
	return pe;
}

static struct engine_entry_input *last(struct tcase *t)
{
	return &t->ei[t->p.nentries - 1];
}

/* Runs t on n rows of d columns; k = SIZE_MAX for no budget. */
static int run(struct tcase *t, size_t n, size_t d, const double *X, size_t k)
{
	t->in.n = n;
	t->in.d = d;
	t->in.X = X;
	t->in.k = k;
	t->in.entries = t->ei;
	if (!t->in.threads)
		t->in.threads = 1;
	return engine_run(&t->p, &t->in, &t->r);
}

static void done(struct tcase *t)
{
	engine_result_free(&t->r);
	plan_free(&t->p);
}

static void assert_picks(const struct tcase *t, const size_t *want, size_t n)
{
	assert_int_equal(t->r.npicks, n);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(t->r.idx[k], want[k]);
}

#define PICKS(t, ...) do { \
	const size_t w_[] = { __VA_ARGS__ }; \
	assert_picks((t), w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)

#define OBJ(t, k, o) ((t)->r.objective[(k) * (t)->r.nobj + (o)])

/* X = 0, 1, 3, 10 (1-D). Mean 3.5: 10 is farthest (6.5). Then d = 10, 9, 7
 * -> 0; d = 1, 3 -> 3 (index 2); then 1. Objective d/D = 1 each time. */
static void test_diversity_order(void **s)
{
	static const double X[] = { 0, 1, 3, 10 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 4, 1, X, SIZE_MAX), 0);
	PICKS(&t, 3, 0, 2, 1);
	assert_true(isinf(t.r.dist[0]));
	assert_true(t.r.dist[1] == 10 && t.r.dist[2] == 3 && t.r.dist[3] == 1);
	for (size_t k = 0; k < 4; k++)
		assert_true(t.r.score[k] == 1 && OBJ(&t, k, 0) == 1);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_ALL_SELECTED);
	assert_int_equal(t.r.ncandidates, 4);
	done(&t);

	/* min_distance 2: index 1 (d = 1) is left out. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL)->min_distance = 2;
	assert_int_equal(run(&t, 4, 1, X, SIZE_MAX), 0);
	PICKS(&t, 3, 0, 2);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_MIN_DISTANCE);
	done(&t);

	/* A budget of 2. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 4, 1, X, 2), 0);
	PICKS(&t, 3, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_BUDGET);
	done(&t);
}

/* X = 0, 0, 5: 5 first (farthest from 5/3); then 0 and 1 tie at d = 5 ->
 * lowest index 0; then index 1 is at d = 0: none selectable. */
static void test_diversity_duplicates(void **s)
{
	static const double X[] = { 0, 0, 5 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 3, 1, X, SIZE_MAX), 0);
	PICKS(&t, 2, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_NONE_SELECTABLE);
	done(&t);
}

/* Preselected 0 (X = 0): d = 1, 3, 10, no first-pick rule; picks 3, 2, 1;
 * k counts new picks only. */
static void test_preselected(void **s)
{
	static const double X[] = { 0, 1, 3, 10 };
	static const bool pre[] = { true, false, false, false };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	t.in.preselected = pre;
	assert_int_equal(run(&t, 4, 1, X, 3), 0);
	PICKS(&t, 3, 2, 1);
	assert_true(t.r.dist[0] == 10 && t.r.dist[1] == 3 && t.r.dist[2] == 1);
	assert_true(OBJ(&t, 1, 0) == 1);	/* D = 3 after 10 is picked */
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_BUDGET);
	done(&t);

	/* Everything preselected: nothing to pick. */
	static const bool all[] = { true, true, true, true };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	t.in.preselected = all;
	assert_int_equal(run(&t, 4, 1, X, SIZE_MAX), 0);
	assert_int_equal(t.r.npicks, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_ALL_SELECTED);
	done(&t);
}

/*
 * X = 0, 2, 4 with SCORES weights 1, 1, 0.5. First step S = w: 0 and 1 tie at
 * 1, the farther from the mean (2) wins: 0. Then d = 2, 4, D = 4: S = 0.5 * 1
 * and 1 * 0.5, equal: the larger d wins (index 2).
 */
static void test_ties(void **s)
{
	static const double X[] = { 0, 2, 4 }, w[] = { 1, 1, 0.5 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
	assert_int_equal(run(&t, 3, 1, X, SIZE_MAX), 0);
	PICKS(&t, 0, 2, 1);
	assert_true(t.r.score[1] == 0.5 && t.r.dist[1] == 4);
	assert_true(OBJ(&t, 1, 0) == 1 && OBJ(&t, 1, 1) == 0.5);
	done(&t);

	/* Without DIVERSITY, equal S goes to the lowest index. */
	static const double eq[] = { 0.5, 0.7, 0.7, 0.5 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, eq);
	assert_int_equal(run(&t, 4, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 2, 0, 3);
	done(&t);
}

/* Weights 0.2, 0.9, 0.5 under strengths 1, 0, 2, -1. */
static void test_strengths(void **s)
{
	static const double w[] = { 0.2, 0.9, 0.5 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 2, 0);
	assert_true(t.r.score[0] == 0.9 && t.r.score[2] == 0.2);
	done(&t);

	/* s = 0: every factor 1, even for o = 0, so path order. */
	static const double w0[] = { 0, 0.9, 0.5 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w0)->strength = 0;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 0, 1, 2);
	assert_true(t.r.score[0] == 1 && OBJ(&t, 0, 0) == 0);
	done(&t);

	/* s = 2: 0.04, 0.81, 0.25. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w)->strength = 2;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 2, 0);
	assert_close(t.r.score[0], 0.81, 1e-15);
	assert_close(t.r.score[2], 0.04, 1e-15);
	done(&t);

	/* s = -1: 5, 1.11, 2: the smallest weight first. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w)->strength = -1;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 0, 2, 1);
	assert_close(t.r.score[0], 5, 1e-14);
	done(&t);

	/* s < 0 on o = 0: max(o, 1e-12)^-1 = 1e12. */
	static const double z[] = { 0, 0.5 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, z)->strength = -1;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 0, 1);
	assert_close(t.r.score[0], 1e12, 1e-3);
	done(&t);
}

/*
 * +inf kept, NaN counted as 0: entry 1 at s = -1e9 gives 0.5 -> +inf, 1 -> 1;
 * entry 2 (s = 1) gives 0, 0.3, 1. S = inf*0 = NaN -> 0, 1 * 0.3, inf * 1 = inf.
 * Picks 2 (S = +inf), 1 (0.3), 0 (0).
 */
static void test_inf_nan(void **s)
{
	static const double a[] = { 0.5, 1, 0.5 }, b[] = { 0, 0.3, 1 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, a)->strength = -1e9;
	add(&t, PLAN_INPUT_RANDOM, PLAN_STRATEGY_WEIGHTS, b);
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 2, 1, 0);
	assert_true(isinf(t.r.score[0]) && t.r.score[0] > 0);
	assert_true(t.r.score[1] == 0.3);
	assert_true(t.r.score[2] == 0);
	done(&t);
}

/* METADATA weights 10, (none), 30, 20 -> 0, 0, 1, 0.5; equal values -> 1. */
static void test_metadata_weights(void **s)
{
	static const double v[] = { 10, 99, 30, 20 };
	static const bool has[] = { true, false, true, true };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_WEIGHTS, v);
	last(&t)->has_value = has;
	assert_int_equal(run(&t, 4, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 2, 3, 0, 1);
	assert_true(OBJ(&t, 0, 0) == 1 && OBJ(&t, 1, 0) == 0.5 && OBJ(&t, 2, 0) == 0 &&
		    OBJ(&t, 3, 0) == 0);
	done(&t);

	static const double same[] = { 7, 7 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_WEIGHTS, same);
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), 0);
	assert_true(OBJ(&t, 0, 0) == 1 && OBJ(&t, 1, 0) == 1);
	done(&t);

	/* A range that overflows float64 still normalises: -1e308, 0, 1e308 -> 0, 0.5, 1. */
	static const double huge[] = { -1e308, 0, 1e308 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_WEIGHTS, huge);
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 2, 1, 0);
	assert_true(OBJ(&t, 1, 0) == 0.5);
	done(&t);
}

/* stoppingConditionMaxSum 0.8 on 0.5, 0.4, 0.3: the pick reaching 0.9 is kept. */
static void test_max_sum(void **s)
{
	static const double w[] = { 0.5, 0.4, 0.3, 0.2 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w)->max_sum = 0.8;
	assert_int_equal(run(&t, 4, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 0, 1);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_MAX_SUM);
	done(&t);

	/* Raw METADATA values count (10 + 30 >= 35), a missing value adds 0. */
	static const double v[] = { 10, 99, 30, 20 };
	static const bool has[] = { true, false, true, true };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_WEIGHTS, v)->max_sum = 35;
	last(&t)->has_value = has;
	t.ei[0].value = v;
	assert_int_equal(run(&t, 4, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 2, 3);	/* 30 + 20 = 50 >= 35 */
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_MAX_SUM);
	done(&t);
}

/* THRESHOLD on 1, 2, 3 at 2, each operation; a missing value is removed. */
static void test_threshold(void **s)
{
	static const double v[] = { 1, 2, 3, 2 }, w[] = { 0.1, 0.2, 0.3, 0.4 };
	static const bool has[] = { true, true, true, false };
	static const size_t want_n[PLAN_OP_COUNT_] = { 1, 2, 1, 2 };
	static const size_t want_first[PLAN_OP_COUNT_] = { 0, 1, 2, 2 };

	for (int op = 0; op < PLAN_OP_COUNT_; op++) {
		struct tcase t = { 0 };
		struct plan_entry *pe = add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_THRESHOLD, v);
		pe->threshold = 2;
		pe->operation = op;
		last(&t)->has_value = has;
		add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
		assert_int_equal(run(&t, 4, 0, NULL, SIZE_MAX), 0);
		assert_int_equal(t.r.ncandidates, want_n[op]);
		assert_int_equal(t.r.npicks, want_n[op]);
		assert_int_equal(t.r.idx[0], want_first[op]);
		assert_int_equal(t.r.nobj, 1);	/* THRESHOLD has no objective column */
		assert_int_equal(t.r.obj_entry[0], 1);
		done(&t);
	}
}

/*
 * X = 0, 4, 5, 100; THRESHOLD removes 100: the mean is that of 0, 4, 5 (3),
 * so 0 is farthest and goes first (with 100 in, the mean 27.25 would make it
 * 100). A preselected member failing the threshold stays a candidate.
 */
static void test_threshold_candidates(void **s)
{
	static const double X[] = { 0, 4, 5, 100 }, v[] = { 1, 1, 1, 0 };
	struct tcase t = { 0 };
	struct plan_entry *pe;

	pe = add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_THRESHOLD, v);
	pe->threshold = 0.5;
	pe->operation = PLAN_OP_BIGGER;
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 4, 1, X, 1), 0);
	PICKS(&t, 0);
	assert_int_equal(t.r.ncandidates, 3);
	done(&t);

	static const bool pre[] = { false, false, false, true };
	memset(&t, 0, sizeof(t));
	pe = add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_THRESHOLD, v);
	pe->threshold = 0.5;
	pe->operation = PLAN_OP_BIGGER;
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	t.in.preselected = pre;
	assert_int_equal(run(&t, 4, 1, X, SIZE_MAX), 0);
	assert_int_equal(t.r.ncandidates, 4);
	PICKS(&t, 0, 2, 1);	/* d from 100: 100, 96, 95; then 4 vs 5 from 0: 5 */
	done(&t);
}

/* SIMILARITY: X = 0, 2, 5, 9, query row 1: q = 1, 1, 4, 8, Q = 8. */
static void test_similarity(void **s)
{
	static const double X[] = { 0, 2, 5, 9 }, q[] = { 1 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_SIMILARITY, NULL);
	last(&t)->query = q;
	last(&t)->nquery = 1;
	assert_int_equal(run(&t, 4, 1, X, SIZE_MAX), 0);
	PICKS(&t, 0, 1, 2, 3);
	assert_true(OBJ(&t, 0, 0) == 0.875 && OBJ(&t, 2, 0) == 0.5 && OBJ(&t, 3, 0) == 0);
	done(&t);

	/* Q = 0: every candidate is a query row: objective 1. */
	static const double X1[] = { 1, 1 };
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_SIMILARITY, NULL);
	last(&t)->query = q;
	last(&t)->nquery = 1;
	assert_int_equal(run(&t, 2, 1, X1, SIZE_MAX), 0);
	assert_true(OBJ(&t, 0, 0) == 1 && OBJ(&t, 1, 0) == 1);
	done(&t);
}

/* TYPICALITY: m = 2, 1, 4 -> 0.5, 1, 0.25; min 0.4 stops before 0.25. */
static void test_typicality(void **s)
{
	static const double m[] = { 2, 1, 4 }, m0[] = { 2, 0, 4 }, one[] = { 5 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL);
	last(&t)->m = m;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 0, 2);
	assert_true(OBJ(&t, 1, 0) == 0.5 && OBJ(&t, 2, 0) == 0.25);
	done(&t);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL)->min_typicality = 0.4;
	last(&t)->m = m;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_MIN_TYPICALITY);
	done(&t);

	/* m_i = 0 gives 1 (m_min = 0 makes the others 0). */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL);
	last(&t)->m = m0;
	assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
	PICKS(&t, 1, 0, 2);
	assert_true(OBJ(&t, 0, 0) == 1 && OBJ(&t, 1, 0) == 0);
	done(&t);

	/* One candidate: 1. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL);
	last(&t)->m = one;
	assert_int_equal(run(&t, 1, 0, NULL, SIZE_MAX), 0);
	assert_true(OBJ(&t, 0, 0) == 1);
	done(&t);
}

/*
 * BALANCE TARGET {a: .5, b: .5} over categories a a a b c (METADATA).
 * Step 1: L(0) = 1 and every o = 0.5: index 0. Step 2: c = (1,0,0), L = 1;
 * a -> 0.5, b -> (1,1)/2, L = 0, o = 0.75; c -> L = 0.5, o = 0.625: index 3.
 * Step 3: L = 0; a -> (2,1)/3: L = 1/3, o = 5/12; c -> 1/3 too: index 1.
 */
static void test_balance_target(void **s)
{
	static const char *names[] = { "a", "b", "c" };
	static const int32_t idx[] = { 0, 0, 0, 1, 2 };
	struct tcase t = { 0 };
	struct plan_entry *pe;

	pe = add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_BALANCE, NULL);
	pe->ntarget = 3;
	pe->target = xcalloc(3, sizeof(*pe->target));
	pe->target[0] = (struct plan_target){ xstrdup("a"), 0.5 };
	pe->target[1] = (struct plan_target){ xstrdup("b"), 0.5 };
	pe->target[2] = (struct plan_target){ xstrdup("z"), 0 };	/* never seen */
	last(&t)->class_names = names;
	last(&t)->nclasses = 3;
	last(&t)->class_idx = idx;
	assert_int_equal(run(&t, 5, 0, NULL, 3), 0);
	PICKS(&t, 0, 3, 1);
	assert_true(OBJ(&t, 0, 0) == 0.5 && OBJ(&t, 1, 0) == 0.75);
	assert_close(OBJ(&t, 2, 0), 5.0 / 12, 1e-15);
	assert_int_equal(t.r.nbalance, 1);
	const struct engine_balance *b = &t.r.balance[0];
	assert_int_equal(b->nclasses, 4);
	assert_string_equal(b->classes[0], "a");
	assert_string_equal(b->classes[2], "c");
	assert_string_equal(b->classes[3], "z");
	assert_true(b->target[0] == 0.5 && isnan(b->target[2]) && b->target[3] == 0);
	assert_close(b->candidate_share[0], 0.6, 1e-15);
	assert_true(b->candidate_share[3] == 0);
	assert_close(b->selection_share[0], 2.0 / 3, 1e-15);
	assert_close(b->selection_share[1], 1.0 / 3, 1e-15);
	done(&t);
}

/*
 * PREDICTIONS vectors (1,0), (0,1), (1,1), INPUT: t = (.5,.5). Step 1: L = 1;
 * (1,1) -> L = 0, o = 0.75: index 2. Step 2: L = 0; (2,1)/3 and (1,2)/3 ->
 * 1/3 each, o = 5/12: index 0. UNIFORM gives the same target here; a class
 * that never occurs is not counted by UNIFORM (m = 2).
 */
static void test_balance_vectors(void **s)
{
	static const char *names[] = { "a", "b", "never" };
	static const double vec[] = { 1, 0, 0, 0, 1, 0, 1, 1, 0 };

	for (int dist = PLAN_DIST_UNIFORM; dist <= PLAN_DIST_INPUT; dist++) {
		struct tcase t = { 0 };
		add(&t, PLAN_INPUT_PREDICTIONS, PLAN_STRATEGY_BALANCE, NULL)->distribution = dist;
		last(&t)->class_names = names;
		last(&t)->nclasses = 3;
		last(&t)->class_vec = vec;
		assert_int_equal(run(&t, 3, 0, NULL, SIZE_MAX), 0);
		PICKS(&t, 2, 0, 1);
		assert_true(OBJ(&t, 0, 0) == 0.75);
		assert_close(OBJ(&t, 1, 0), 5.0 / 12, 1e-15);
		assert_int_equal(t.r.balance[0].nclasses, 2);
		assert_true(t.r.balance[0].target[0] == 0.5 && t.r.balance[0].target[1] == 0.5);
		done(&t);
	}
}

/* Each input x strategy: SPEC 4.8's allowed pairs run, the rest are -EINVAL. */
static void test_pairs(void **s)
{
	static const double X[] = { 0, 1, 3 }, v[] = { 0.2, 0.5, 0.9 }, m[] = { 1, 2, 3 };
	static const char *names[] = { "a", "b" };
	static const int32_t idx[] = { 0, 1, -1 };
	static const double vec[] = { 1, 0, 0, 1, 0.5, 0.5 };
	int allowed = 0;

	for (int in = 0; in < PLAN_INPUT_COUNT_; in++) {
		for (int st = 0; st < PLAN_STRATEGY_COUNT_; st++) {
			struct tcase t = { 0 };
			struct plan_entry *pe = add(&t, in, st, v);
			struct engine_entry_input *e = last(&t);
			int rc;

			e->query = X;
			e->nquery = 1;
			e->m = m;
			e->class_names = names;
			e->nclasses = 2;
			if (in == PLAN_INPUT_PREDICTIONS)
				e->class_vec = vec;
			else
				e->class_idx = idx;
			pe->distribution = PLAN_DIST_UNIFORM;
			pe->operation = PLAN_OP_BIGGER;	/* THRESHOLD keeps v > 0 */
			rc = run(&t, 3, 1, X, SIZE_MAX);
			if (plan_pair_allowed(in, st)) {
				assert_int_equal(rc, 0);
				assert_true(t.r.npicks >= 1);
				allowed++;
			} else {
				assert_int_equal(rc, -EINVAL);
			}
			done(&t);
		}
	}
	assert_int_equal(allowed, 10);
}

/* Hostile or inconsistent input is -EINVAL, never a crash or a pick. */
static void test_errors(void **s)
{
	static const double X[] = { 0, 1 }, Xnan[] = { 0, NAN }, v[] = { 0.5, 0.5 };
	static const double vnan[] = { 0.5, NAN }, mneg[] = { 1, -1 }, vneg[] = { 1, -1 };
	static const int32_t bad_idx[] = { 0, 2 };
	static const char *names[] = { "a", "b" };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 2, 1, X, SIZE_MAX), -EINVAL);	/* two DIVERSITY */
	done(&t);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 2, 1, Xnan, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 2, 1, NULL, SIZE_MAX), -EINVAL);	/* no rows */
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, NULL);
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);	/* no values */
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, vnan);
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_THRESHOLD, vnan);
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, v)->strength = 2e9;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL);
	last(&t)->m = mneg;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_METADATA, PLAN_STRATEGY_BALANCE, NULL)->distribution = PLAN_DIST_UNIFORM;
	last(&t)->class_names = names;
	last(&t)->nclasses = 2;
	last(&t)->class_idx = bad_idx;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_PREDICTIONS, PLAN_STRATEGY_BALANCE, NULL)->distribution = PLAN_DIST_UNIFORM;
	last(&t)->class_names = names;
	last(&t)->nclasses = 1;
	last(&t)->class_vec = vneg;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	/* TARGET without a target. */
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_PREDICTIONS, PLAN_STRATEGY_BALANCE, NULL);
	last(&t)->class_names = names;
	last(&t)->nclasses = 1;
	last(&t)->class_vec = v;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -EINVAL);
	plan_free(&t.p);

	/* Cancelled before the first step. */
	volatile int cancel = 1;
	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, v);
	t.in.cancel = &cancel;
	assert_int_equal(run(&t, 2, 0, NULL, SIZE_MAX), -ECANCELED);
	plan_free(&t.p);
}

/* No candidates; a budget of 0. */
static void test_empty(void **s)
{
	static const double v[] = { 0.5 };
	struct tcase t = { 0 };

	add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, v);
	assert_int_equal(run(&t, 0, 0, NULL, SIZE_MAX), 0);
	assert_int_equal(t.r.npicks, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_ALL_SELECTED);
	engine_result_free(&t.r);
	assert_int_equal(run(&t, 1, 0, NULL, 0), 0);
	assert_int_equal(t.r.npicks, 0);
	assert_int_equal(t.r.stop_reason, ENGINE_STOP_BUDGET);
	done(&t);
	assert_string_equal(engine_stop_name(ENGINE_STOP_MIN_TYPICALITY), "min_typicality");
	assert_string_equal(engine_stop_name(ENGINE_STOP_COUNT_), "?");
}

/* 3 threads pick exactly what 1 thread picks (blocks reduced in order). */
static void test_threads(void **s)
{
	enum { N = 3000, D = 5 };
	double *X = xcalloc(N * D, sizeof(*X)), *w = xcalloc(N, sizeof(*w));
	struct tcase a = { 0 }, b = { 0 };
	uint64_t x = 12345;

	for (size_t i = 0; i < N * D; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		X[i] = (double)(x >> 11) * 0x1p-53;
		if (i < N)
			w[i] = (double)((x >> 20) % 4) / 4;	/* many equal weights */
	}
	add(&a, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	add(&a, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
	add(&b, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	add(&b, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
	b.in.threads = 3;
	assert_int_equal(run(&a, N, D, X, 300), 0);
	assert_int_equal(run(&b, N, D, X, 300), 0);
	assert_int_equal(a.r.npicks, 300);
	assert_memory_equal(a.r.idx, b.r.idx, 300 * sizeof(size_t));
	done(&a);
	done(&b);
	free(X);
	free(w);
}

/* ---- the fast path (engine.c) against the plain path ---- */

/*
 * Rows for the comparisons: FN candidates (several kcenter blocks of 1024) in
 * FD dimensions, either on a coarse grid (many exact duplicates and equal
 * distances: ties everywhere) or clustered (8 tight Gaussian-ish clusters),
 * with quantised weights (equal S), 5 metadata classes and none, prediction
 * vectors, m_i and a threshold value.
 */
enum { FN = 5000, FD = 3 };

struct fx {
	double X[FN * FD], w[FN], v[FN], m[FN], vec[FN * 3], q[2 * FD];
	int32_t cls[FN];
	bool pre[FN];
};

static uint64_t lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

static double unit(uint64_t *x)
{
	return (double)lcg(x) * 0x1p-53;
}

static void fx_make(struct fx *f, bool grid, uint64_t seed)
{
	uint64_t x = seed;
	double ctr[8][FD];

	for (size_t c = 0; c < 8; c++)
		for (size_t t = 0; t < FD; t++)
			ctr[c][t] = 10 * unit(&x);
	for (size_t i = 0; i < FN; i++) {
		size_t c = lcg(&x) % 8;
		for (size_t t = 0; t < FD; t++)
			f->X[i * FD + t] = grid ? (double)(lcg(&x) % 9) :
				ctr[c][t] + 0.3 * (unit(&x) + unit(&x) - 1);
		/* 0, .25, .5, .75, 1, lower in later blocks (their bounds differ) */
		f->w[i] = (double)(lcg(&x) % 5) / 4 * (i < 2048 ? 1 : 0.75);
		f->v[i] = unit(&x);
		f->m[i] = 0.5 + (double)(lcg(&x) % 7);
		f->cls[i] = (int32_t)(lcg(&x) % 6) - 1;	/* -1: no category */
		/* Classes clumped by block too, so that some blocks lack some. */
		if (i / 1024 == 1 && f->cls[i] == 4)
			f->cls[i] = 0;
		/* From row 2048 on, only class x: those blocks' BALANCE bound falls as x fills. */
		for (size_t t = 0; t < 3; t++)
			f->vec[i * 3 + t] = i >= 2048 && t > 0 ? 0 : (double)(lcg(&x) % 3) / 2;
		f->pre[i] = false;
	}
	for (size_t t = 0; t < 2 * FD; t++)
		f->q[t] = 10 * unit(&x);
}

enum {
	P_W = 1, P_BM = 2, P_BV = 4, P_SIM = 8, P_TYP = 16, P_THR = 32,
	P_DIV_LAST = 64, P_PRE = 128,
};

struct pspec {
	unsigned parts;
	double sdiv, sother;	/* DIVERSITY's strength; every other entry's */
	double min_distance, max_sum;
	size_t k;
	enum plan_distribution dist;
};

static const char *cls_names[] = { "a", "b", "c", "d", "e" };
static const char *vec_names[] = { "x", "y", "z" };

static void fx_build(struct tcase *t, const struct fx *f, const struct pspec *p)
{
	struct plan_entry *pe;

	if (!(p->parts & P_DIV_LAST)) {
		pe = add(t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
		pe->strength = p->sdiv;
		pe->min_distance = p->min_distance;
	}
	if (p->parts & P_THR) {
		pe = add(t, PLAN_INPUT_SCORES, PLAN_STRATEGY_THRESHOLD, f->v);
		pe->threshold = 0.3;
		pe->operation = PLAN_OP_BIGGER_EQUAL;
	}
	if (p->parts & P_W) {
		pe = add(t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, f->w);
		pe->strength = p->sother;
		pe->max_sum = p->max_sum;
	}
	if (p->parts & P_BM) {
		pe = add(t, PLAN_INPUT_METADATA, PLAN_STRATEGY_BALANCE, NULL);
		pe->strength = p->sother;
		pe->distribution = p->dist;
		if (p->dist == PLAN_DIST_TARGET) {
			pe->ntarget = 3;
			pe->target = xcalloc(3, sizeof(*pe->target));
			pe->target[0] = (struct plan_target){ xstrdup("b"), 0.5 };
			pe->target[1] = (struct plan_target){ xstrdup("e"), 0.3 };
			pe->target[2] = (struct plan_target){ xstrdup("zz"), 0.1 };
		}
		last(t)->class_names = cls_names;
		last(t)->nclasses = 5;
		last(t)->class_idx = f->cls;
	}
	if (p->parts & P_BV) {
		pe = add(t, PLAN_INPUT_PREDICTIONS, PLAN_STRATEGY_BALANCE, NULL);
		pe->strength = p->sother;
		pe->distribution = PLAN_DIST_UNIFORM;
		last(t)->class_names = vec_names;
		last(t)->nclasses = 3;
		last(t)->class_vec = f->vec;
	}
	if (p->parts & P_SIM) {
		pe = add(t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_SIMILARITY, NULL);
		pe->strength = p->sother;
		last(t)->query = f->q;
		last(t)->nquery = 2;
	}
	if (p->parts & P_TYP) {
		pe = add(t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_TYPICALITY, NULL);
		pe->strength = p->sother;
		last(t)->m = f->m;
	}
	if (p->parts & P_DIV_LAST) {
		pe = add(t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
		pe->strength = p->sdiv;
		pe->min_distance = p->min_distance;
	}
	if (p->parts & P_PRE)
		t->in.preselected = f->pre;
}

/* One thread: the fast path scans blocks one at a time, so a bound too low shows. */
static int fx_threads = 1;

/*
 * Runs plan p on the plain path (1 thread) and on the forced fast path
 * (fx_threads threads): every pick, S, objective, d_i and the stop reason must be the
 * same, bitwise (the fast path scores with the plain path's own functions).
 * Returns the stop reason; *npicks gets the picks.
 */
static enum engine_stop fx_compare(const struct fx *f, const struct pspec *p, size_t *npicks)
{
	struct tcase a = { 0 }, b = { 0 };
	enum engine_stop why;

	fx_build(&a, f, p);
	fx_build(&b, f, p);
	a.in.prune = -1;
	b.in.prune = 1;
	b.in.threads = fx_threads;
	assert_int_equal(run(&a, FN, FD, f->X, p->k), 0);
	assert_int_equal(run(&b, FN, FD, f->X, p->k), 0);
	assert_false(a.r.fast_path);
	assert_true(b.r.fast_path);
	assert_int_equal(a.r.npicks, b.r.npicks);
	assert_int_equal(a.r.stop_reason, b.r.stop_reason);
	assert_int_equal(a.r.ncandidates, b.r.ncandidates);
	assert_int_equal(a.r.nobj, b.r.nobj);
	assert_memory_equal(a.r.idx, b.r.idx, a.r.npicks * sizeof(size_t));
	assert_memory_equal(a.r.score, b.r.score, a.r.npicks * sizeof(double));
	assert_memory_equal(a.r.dist, b.r.dist, a.r.npicks * sizeof(double));
	assert_memory_equal(a.r.objective, b.r.objective,
			    a.r.npicks * a.r.nobj * sizeof(double));
	assert_int_equal(a.r.nbalance, b.r.nbalance);
	for (size_t k = 0; k < a.r.nbalance; k++)
		assert_memory_equal(a.r.balance[k].selection_share, b.r.balance[k].selection_share,
				    a.r.balance[k].nclasses * sizeof(double));
	why = a.r.stop_reason;
	*npicks = a.r.npicks;
	done(&a);
	done(&b);
	return why;
}

static const struct pspec SPEC0 = { 0, 1, 1, -1, -1, 150, PLAN_DIST_TARGET };

/* DIVERSITY with each other strategy, and all at once, on both kinds of rows. */
static void test_fast_combinations(void **s)
{
	static const unsigned parts[] = {
		0, P_W, P_BM, P_BV, P_SIM, P_TYP, P_THR, P_W | P_THR,
		P_W | P_BM | P_SIM | P_TYP | P_THR, P_BM | P_DIV_LAST, P_W | P_BV | P_DIV_LAST,
	};
	struct fx *f = xcalloc(1, sizeof(*f));
	size_t np;

	for (int grid = 0; grid <= 2; grid++) {
		fx_make(f, grid == 1, 7 + (uint64_t)grid);
		fx_threads = grid == 2 ? 3 : 1;	/* and the same picks on 3 threads */
		for (size_t c = 0; c < sizeof(parts) / sizeof(parts[0]); c++) {
			struct pspec p = SPEC0;
			p.parts = parts[c];
			assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_BUDGET);
			assert_int_equal(np, p.k);
		}
	}
	fx_threads = 1;
	free(f);
}

/* Strengths other than 1: DIVERSITY 2 and 0.5; the others 3, -1, -0.5, 0. */
static void test_fast_strengths(void **s)
{
	static const double sdiv[] = { 2, 0.5, 1, 1, 1, 1e-3 };
	static const double soth[] = { 1, 1, 3, -1, -0.5, 0 };
	struct fx *f = xcalloc(1, sizeof(*f));
	size_t np;

	fx_make(f, false, 11);
	for (size_t c = 0; c < sizeof(sdiv) / sizeof(sdiv[0]); c++) {
		struct pspec p = SPEC0;
		p.parts = P_W | P_BM | P_TYP;
		p.sdiv = sdiv[c];
		p.sother = soth[c];
		assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_BUDGET);
		p.parts = P_BV | P_SIM | P_DIV_LAST;
		assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_BUDGET);
	}
	free(f);
}

/*
 * Late picks (issue 18): budgets of 60% of the candidates, where kcenter's
 * clustered passes visit only the centre groups a new centre can reach and
 * take the next cluster from a tree; with and without preselected rows and
 * min_distance, on 1 and 2 threads, the fast path must still equal the plain
 * one bitwise.
 */
static void test_fast_late(void **s)
{
	static const unsigned parts[] = { 0, P_W | P_BM | P_THR, P_PRE | P_W | P_BV };
	struct fx *f = xcalloc(1, sizeof(*f));
	size_t np;

	for (int grid = 0; grid <= 1; grid++) {
		fx_make(f, grid == 1, 41 + (uint64_t)grid);
		for (size_t i = 0; i < FN; i += 53)
			f->pre[i] = true;
		for (size_t c = 0; c < sizeof(parts) / sizeof(parts[0]); c++) {
			struct pspec p = SPEC0;
			p.parts = parts[c];
			p.k = FN * 6 / 10;
			fx_threads = c == 1 ? 2 : 1;
			fx_compare(f, &p, &np);
			if (!grid && c == 0)
				assert_int_equal(np, p.k);
			p.min_distance = grid ? 1.5 : 0.05;
			fx_compare(f, &p, &np);
		}
	}
	fx_threads = 1;
	free(f);
}

/* Preselected rows (no first-pick rule), BALANCE counting them; UNIFORM and INPUT. */
static void test_fast_preselected(void **s)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	size_t np;

	fx_make(f, false, 3);
	for (size_t i = 0; i < FN; i += 97)
		f->pre[i] = true;
	for (int d = PLAN_DIST_TARGET; d <= PLAN_DIST_INPUT; d++) {
		struct pspec p = SPEC0;
		p.parts = P_PRE | P_W | P_BM | P_THR;
		p.dist = d;
		assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_BUDGET);
	}
	free(f);
}

/* The stops: min_distance, max_sum, none_selectable (duplicates), all_selected. */
static void test_fast_stops(void **s)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct pspec p = SPEC0;
	size_t np;

	fx_make(f, false, 5);
	p.parts = P_W | P_BM;
	p.min_distance = 0.2;
	p.k = SIZE_MAX;
	assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_MIN_DISTANCE);
	assert_true(np > 20);

	p = SPEC0;
	p.parts = P_W;
	p.max_sum = 40;
	assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_MAX_SUM);
	assert_true(np > 40 && np < p.k);

	/* 9^3 grid points < FN rows: every distinct point, then d = 0 for the rest. */
	fx_make(f, true, 9);
	p = SPEC0;
	p.parts = P_BM;
	p.k = SIZE_MAX;
	assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_NONE_SELECTABLE);
	assert_true(np > 700 && np <= 729);

	/* Thresholds leave 715 candidates, all distinct: every one is picked. */
	fx_make(f, false, 13);
	for (size_t i = 0; i < FN; i++)
		f->v[i] = i % 7 == 0 ? 1 : 0;
	p = SPEC0;
	p.parts = P_THR | P_W | P_PRE;
	f->pre[14] = f->pre[700] = true;
	p.k = SIZE_MAX;
	assert_int_equal(fx_compare(f, &p, &np), ENGINE_STOP_ALL_SELECTED);
	assert_int_equal(np, (FN + 6) / 7 - 2);	/* 14 and 700 pass too, preselected */
	free(f);
}

/*
 * Exact ties across blocks: x = 0 preselected (row 2100; the rest of block 2
 * at 0 too); block 0 at x = -1 with w = 1, block 1 at x = 2 with w = 0.5,
 * rows 2048..2059 at x = -2 with w = 0.5. Step 1: D = 2, every S = 0.5; the
 * larger d (2) wins, lowest index: 1024. Step 2: D = 2 still, S = 0.5 at
 * x = -1 (d = 1) and at x = -2 (d = 2): 2048, from the block scanned after
 * block 0 or before it, whichever the bounds say; a bound a hair too low
 * loses it. Step 3: x = -2 and 2 are at d = 0 now, D = 1: row 0.
 */
static void test_fast_tie_blocks(void **s)
{
	enum { N = 3072 };
	double *X = xcalloc(N, sizeof(*X)), *w = xcalloc(N, sizeof(*w));
	bool *pre = xcalloc(N, sizeof(*pre));

	for (size_t i = 0; i < N; i++) {
		X[i] = i < 1024 ? -1 : i < 2048 ? 2 : i < 2060 ? -2 : 0;
		w[i] = i < 1024 ? 1 : 0.5;
	}
	pre[2100] = true;
	for (int prune = -1; prune <= 1; prune += 2) {
		struct tcase t = { 0 };
		add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
		add(&t, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS, w);
		t.in.preselected = pre;
		t.in.prune = prune;
		assert_int_equal(run(&t, N, 1, X, 3), 0);
		assert_int_equal(t.r.fast_path, prune > 0);
		PICKS(&t, 1024, 2048, 0);
		assert_true(t.r.score[0] == 0.5 && t.r.score[1] == 0.5 && t.r.dist[1] == 2);
		done(&t);
	}
	free(X);
	free(w);
	free(pre);
}

/* The adaptive choice: small runs plain, large ones fast; DIVERSITY s <= 0 always plain. */
static void test_fast_choice(void **s)
{
	enum { N = 5000 };
	double *X = xcalloc(N, sizeof(*X));
	struct tcase t = { 0 };

	for (size_t i = 0; i < N; i++)
		X[i] = (double)((i * 7919) % N);
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, N, 1, X, 3), 0);
	assert_true(t.r.fast_path);
	done(&t);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL);
	assert_int_equal(run(&t, 100, 1, X, 3), 0);
	assert_false(t.r.fast_path);
	done(&t);

	memset(&t, 0, sizeof(t));
	add(&t, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY, NULL)->strength = -1;
	t.in.prune = 1;
	assert_int_equal(run(&t, N, 1, X, 3), 0);
	assert_false(t.r.fast_path);
	done(&t);
	free(X);
}

/* A cancel flag already set stops the fast path too. */
static void test_fast_cancel(void **s)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct tcase t = { 0 };
	struct pspec p = SPEC0;
	volatile int cancel = 1;

	fx_make(f, false, 17);
	p.parts = P_W | P_BM;
	fx_build(&t, f, &p);
	t.in.prune = 1;
	t.in.cancel = &cancel;
	assert_int_equal(run(&t, FN, FD, f->X, p.k), -ECANCELED);
	assert_int_equal(t.r.npicks, 0);
	plan_free(&t.p);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diversity_order),
		cmocka_unit_test(test_diversity_duplicates),
		cmocka_unit_test(test_preselected),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_strengths),
		cmocka_unit_test(test_inf_nan),
		cmocka_unit_test(test_metadata_weights),
		cmocka_unit_test(test_max_sum),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_threshold_candidates),
		cmocka_unit_test(test_similarity),
		cmocka_unit_test(test_typicality),
		cmocka_unit_test(test_balance_target),
		cmocka_unit_test(test_balance_vectors),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fast_combinations),
		cmocka_unit_test(test_fast_strengths),
		cmocka_unit_test(test_fast_preselected),
		cmocka_unit_test(test_fast_late),
		cmocka_unit_test(test_fast_stops),
		cmocka_unit_test(test_fast_tie_blocks),
		cmocka_unit_test(test_fast_choice),
		cmocka_unit_test(test_fast_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
