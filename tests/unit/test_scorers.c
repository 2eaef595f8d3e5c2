/*
 * test_scorers: the scores of SPEC 4.4 and the object-frequency scorer of
 * 4.5, as golden tables (input, options, expected). Expected values are the
 * SPEC's worked examples (to 1e-5 where it gives 5 digits, exact where it is
 * exact) and hand-computed cases; the comments show the arithmetic. The
 * Python cross-check (tests/py/test_scores_crosscheck.py) covers random
 * inputs end to end.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "predict.h"
#include "scorers/scorer.h"

/* ---- building task_preds from tables ---- */

#define MAXP 8
#define MAXE 6
#define MAXI 6

/* One entry: np = 0 means no probabilities. */
struct gentry {
	long cat;
	double score;
	int np;
	double p[MAXP];
	uint64_t px;
	int nkp;
	double kp[MAXP];
};

struct gimage {
	int nofile;	/* no prediction file (else "predictions" as listed) */
	int n;
	struct gentry e[MAXE];
};

/* Holds a task_preds whose arrays point into the golden table. */
struct built {
	struct task_preds t;
	struct pred_image img[MAXI];
	struct pred_entry e[MAXI][MAXE];
};

static void build(struct built *b, enum task_type type, const struct gimage *g, size_t n)
{
	memset(b, 0, sizeof *b);
	assert_true(n <= MAXI);
	b->t.name = "t";
	b->t.schema.type = type;
	b->t.img = b->img;
	b->t.nimg = n;
	for (size_t i = 0; i < n; i++) {
		b->img[i].has_file = !g[i].nofile;
		b->img[i].n = (size_t)g[i].n;
		b->img[i].e = g[i].n ? b->e[i] : NULL;
		for (int j = 0; j < g[i].n; j++) {
			const struct gentry *ge = &g[i].e[j];
			struct pred_entry *e = &b->e[i][j];
			e->category_id = ge->cat;
			e->score = ge->score;
			e->probs = ge->np ? (double *)ge->p : NULL;
			e->nprobs = (size_t)ge->np;
			e->pixels = ge->px;
			e->kp_conf = ge->nkp ? (double *)ge->kp : NULL;
			e->nkp = (size_t)ge->nkp;
		}
	}
}

static void assert_near(double got, double want, double tol, const char *what, size_t i)
{
	/* -0 would print as "-0" in scores.csv. */
	if (!(fabs(got - want) <= tol) || got < 0 || got > 1 || signbit(got)) {
		print_error("%s [%zu]: got %.17g, want %.17g (tol %g)\n", what, i, got, want, tol);
		fail();
	}
}

/* ---- score_probs ---- */

struct probs_case {
	const char *what;
	size_t c;
	double p[MAXP];
	double lc, m, e;
	double tol;
};

/* tol 0: the value is exact. 1e-12: a rational value (rounding only). */
static const struct probs_case probs_cases[] = {
	/* SPEC 4.4 worked examples. */
	{"spec [0.8,0.1,0.1] lc,m", 3, {0.8, 0.1, 0.1}, 0.3, 0.3, 0.58167, 1e-5},
	{"spec [0.5,0.41,0.09]", 3, {0.5, 0.41, 0.09}, 0.75, 0.91, 0.84547, 1e-5},
	{"spec [0.5,0.5]", 2, {0.5, 0.5}, 1, 1, 1, 0},
	{"spec [1,0,0]", 3, {1, 0, 0}, 0, 0, 0, 0},
	/* The binary rule: 0.8 expanded to [0.8, 0.2]: lc = 0.2/0.5, margin
	   1 - 0.6, H2 = -(0.8 log2 0.8 + 0.2 log2 0.2) = 0.72193. */
	{"binary 0.8", 2, {0.8, 0.2}, 0.4, 0.4, 0.72193, 1e-5},
	/* The pseudo vector of a box with score 0.7, category 2, K = 2:
	   [0.15, 0.15, 0.7]: lc = 0.3 / (2/3) = 0.45, margin = 1 - 0.55,
	   H2 = 2 * 0.15 * 2.7369656 + 0.7 * 0.5145732 = 1.1812908 bits,
	   / log2 3 = 0.7453116. */
	{"pseudo written out", 3, {0.15, 0.15, 0.7}, 0.45, 0.45, 0.7453116, 1e-7},
	/* Ties for the maximum: the two largest are both 0.4. */
	{"tie", 3, {0.4, 0.2, 0.4}, 0.9, 1, 0.9602297, 1e-7},
	/* C = 1, only from a one-category vector [1.0]: defined as 0. */
	{"C = 1", 1, {1.0}, 0, 0, 0, 0},
	/* Sum 1.0005, within the parser's 1e-3: raw entropy is
	   1.0005 * log2(1/0.3335) / log2 3 = 1.00004 > 1, clamped to 1;
	   lc = 0.6665 / (2/3) = 0.99975. */
	{"clamp high", 3, {0.3335, 0.3335, 0.3335}, 0.99975, 1, 1, 1e-12},
	/* Raw values below 0 (an entry above 1): lc = -0.0005/(2/3),
	   margin = 1 - 1.0005, entropy = -1.0005 log2 1.0005 / log2 3, all
	   slightly negative, clamped to 0 exactly. */
	{"clamp low", 3, {1.0005, 0, 0}, 0, 0, 0, 0},
	/* Uniform over 5: every score is 1 (up to rounding). */
	{"uniform 5", 5, {0.2, 0.2, 0.2, 0.2, 0.2}, 1, 1, 1, 1e-12},
};

static void test_probs_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof probs_cases / sizeof probs_cases[0]; i++) {
		const struct probs_case *c = &probs_cases[i];
		double lc = -1, m = -1, e = -1;
		score_probs(c->p, c->c, &lc, &m, &e);
		print_message("%-26s %.17g %.17g %.17g\n", c->what, lc, m, e);
		assert_near(lc, c->lc, c->tol, c->what, i);
		assert_near(m, c->m, c->tol, c->what, i);
		assert_near(e, c->e, c->tol, c->what, i);
	}
}

/* score_pseudo must equal score_probs on the vector written out. */
static void test_pseudo_matches_vector(void **state)
{
	(void)state;
	static const double scores[] = {0, 0.05, 0.3, 0.5, 0.7, 0.999, 1};
	for (size_t k = 1; k <= 12; k++) {
		for (size_t si = 0; si < sizeof scores / sizeof scores[0]; si++) {
			double v[13], s = scores[si], a[3], b[3];
			for (size_t cat = 0; cat <= k; cat++) {
				for (size_t j = 0; j <= k; j++)
					v[j] = j == cat ? s : (1 - s) / (double)k;
				score_probs(v, k + 1, &a[0], &a[1], &a[2]);
				score_pseudo(s, k, &b[0], &b[1], &b[2]);
				for (int c = 0; c < 3; c++)
					assert_near(b[c], a[c], 1e-13, "pseudo vs vector", k);
			}
		}
	}
}

/* ---- whole tasks ---- */

struct task_case {
	const char *what;
	enum task_type type;
	struct scorer_opts opts;
	size_t n;
	struct gimage img[MAXI];
	double want[MAXI][5];
	double tol;
};

#define BOX(c, s) {.cat = (c), .score = (s)}
#define BOXP(c, s, ...) {.cat = (c), .score = (s), .np = (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), .p = {__VA_ARGS__}}
#define SEG(c, s, n, ...) {.cat = (c), .score = (s), .px = (n), .np = (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), .p = {__VA_ARGS__}}
#define SEGX(c, s, n) {.cat = (c), .score = (s), .px = (n)}
#define KP(...) {.nkp = (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), .kp = {__VA_ARGS__}}
#define CLS(c, ...) BOXP(c, NAN, __VA_ARGS__)

static const struct scorer_opts OF_ON = {.frequency_penalty = 0.25, .min_score = 0.9,
					 .object_frequency = 1};
static const struct scorer_opts OF_OFF = {.frequency_penalty = 0.25, .min_score = 0.9,
					  .object_frequency = 0};

static const struct task_case task_cases[] = {
	{"classification", TASK_CLASSIFICATION, OF_ON, 4,
	 {{.n = 1, .e = {CLS(0, 0.8, 0.1, 0.1)}},
	  {.n = 1, .e = {CLS(1, 0.5, 0.41, 0.09)}},
	  {.nofile = 1},
	  {.n = 0}},
	 {{0.3, 0.3, 0.58167}, {0.75, 0.91, 0.84547}, {0, 0, 0}, {0, 0, 0}}, 1e-5},

	{"classification binary", TASK_CLASSIFICATION, OF_ON, 1,
	 {{.n = 1, .e = {CLS(0, 0.8, 0.2)}}},
	 {{0.4, 0.4, 0.72193}}, 1e-5},

	/* Image 0: one box without probabilities, score 0.7, category 2:
	   K = 2, [0.15, 0.15, 0.7] (see probs_cases); objectness 1 - 0.7.
	   Image 1: the maximum is taken per score, not per box: box A
	   [0.4,0.35,0.25] has lc 0.9, margin 0.95, entropy 0.98354; box B
	   [0.5,0.5,0] has lc 0.75, margin 1, entropy 1/log2 3 = 0.63093;
	   objectness 1 - (0.9 + 0.5)/2 = 0.3.
	   Image 2: K from the boxes without probabilities only (cats 0 and 3;
	   the box with probabilities has cat 5): K = 3. Box 0.6@0 ->
	   [0.6, 0.4/3 x3]: lc 0.4/0.75 = 0.53333, margin 1 - (0.6 - 0.4/3) =
	   0.53333, H2 = 1.60492 bits / 2 = 0.80247. Box 0.9@3 -> lc 0.13333.
	   Box with probs [0.9, 0.02 x5]: lc 0.1/(5/6) = 0.12. Max: 0.53333,
	   0.53333, 0.80247; objectness 1 - (0.6+0.9+0.9)/3 = 0.2.
	   Image 3: K = max(0, 1) = 1: 0.3@0 -> [0.3, 0.7]: lc 0.3/0.5 = 0.6,
	   margin 1 - 0.4 = 0.6, H2(0.3) = 0.88129; objectness 0.7.
	   Images 4, 5: no file, "predictions": []: 0 on every score but
	   object frequency.
	   Object frequency: n = 1, 2, 3, 1, 0, 0 -> 0.9 + n * 0.1 / 3. */
	{"detection", TASK_OBJECT_DETECTION, OF_ON, 6,
	 {{.n = 1, .e = {BOX(2, 0.7)}},
	  {.n = 2, .e = {BOXP(0, 0.9, 0.4, 0.35, 0.25), BOXP(1, 0.5, 0.5, 0.5, 0)}},
	  {.n = 3, .e = {BOX(0, 0.6), BOX(3, 0.9),
			 BOXP(5, 0.9, 0.9, 0.02, 0.02, 0.02, 0.02, 0.02)}},
	  {.n = 1, .e = {BOX(0, 0.3)}},
	  {.nofile = 1},
	  {.n = 0}},
	 {{0.45, 0.45, 0.7453116, 0.3, 0.9 + 1 * 0.1 / 3},
	  {0.9, 1, 0.9835386, 0.3, 0.9 + 2 * 0.1 / 3},
	  {0.5333333, 0.5333333, 0.8024678, 0.2, 1},
	  {0.6, 0.6, 0.8812909, 0.7, 0.9 + 1 * 0.1 / 3},
	  {0, 0, 0, 0, 0.9},
	  {0, 0, 0, 0, 0.9}}, 1e-7},

	/* A single box with a binary probability expanded to [0.8, 0.2]. */
	{"detection binary", TASK_OBJECT_DETECTION, OF_ON, 1,
	 {{.n = 1, .e = {BOXP(1, 0.8, 0.8, 0.2)}}},
	 {{0.4, 0.4, 0.72193, 0.2, 1}}, 1e-5},

	/* SPEC 4.5 worked example: labels [0,0,0,1], [1], [], [2,2] (penalty
	   0.25, min 0.9) -> n = 2.5, 1, 0, 1.25 -> 1.0, 0.94, 0.9, 0.95. Box
	   scores 1.0 make every other score 0 (K = 2: [1, 0, 0] or [0, 1, 0]). */
	{"object frequency spec", TASK_OBJECT_DETECTION, OF_ON, 4,
	 {{.n = 4, .e = {BOX(0, 1), BOX(0, 1), BOX(0, 1), BOX(1, 1)}},
	  {.n = 1, .e = {BOX(1, 1)}},
	  {.n = 0},
	  {.n = 2, .e = {BOX(2, 1), BOX(2, 1)}}},
	 {{0, 0, 0, 0, 1.0}, {0, 0, 0, 0, 0.94}, {0, 0, 0, 0, 0.9}, {0, 0, 0, 0, 0.95}}, 1e-12},

	/* The same with penalty 0, min 0.5: n = 2, 1, 0, 1 -> 1, 0.75, 0.5,
	   0.75; box order does not matter (class 0 split around class 1). */
	{"object frequency config", TASK_OBJECT_DETECTION,
	 {.frequency_penalty = 0, .min_score = 0.5, .object_frequency = 1}, 4,
	 {{.n = 4, .e = {BOX(0, 1), BOX(1, 1), BOX(0, 1), BOX(0, 1)}},
	  {.n = 1, .e = {BOX(1, 1)}},
	  {.n = 0},
	  {.n = 2, .e = {BOX(2, 1), BOX(2, 1)}}},
	 {{0, 0, 0, 0, 1.0}, {0, 0, 0, 0, 0.75}, {0, 0, 0, 0, 0.5}, {0, 0, 0, 0, 0.75}}, 1e-12},

	/* All n equal (1 + 0.25 each): every score is 1.0 exactly. */
	{"object frequency all equal", TASK_OBJECT_DETECTION, OF_ON, 3,
	 {{.n = 2, .e = {BOX(3, 1), BOX(3, 1)}},
	  {.n = 2, .e = {BOX(0, 1), BOX(0, 1)}},
	  {.n = 2, .e = {BOX(1, 1), BOX(1, 1)}}},
	 {{0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 0},

	/* All images empty: all n = 0, equal: 1.0. */
	{"object frequency all empty", TASK_OBJECT_DETECTION, OF_ON, 2,
	 {{.nofile = 1}, {.n = 0}},
	 {{0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 0},

	/* scorer "": the object_frequency column is 0. */
	{"object frequency off", TASK_OBJECT_DETECTION, OF_OFF, 2,
	 {{.n = 4, .e = {BOX(0, 1), BOX(0, 1), BOX(0, 1), BOX(1, 1)}},
	  {.n = 0}},
	 {{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}, 0},

	/* Image 0: 100 px with [0.9, 0.1] (lc = margin = 0.2, H2 = 0.46900)
	   and 300 px with [0.7, 0.3] (lc = margin = 0.6, H2 = 0.88129):
	   (100 * 0.2 + 300 * 0.6) / 400 = 0.5; entropy (46.900 + 264.387) /
	   400 = 0.77822.
	   Image 1: no covered pixel: 0. Image 2: no segments: 0.
	   Image 3: pseudo vectors over the image's segments: 0.7@2 (K = 2,
	   scores 0.45, 0.45, 0.74531) with 1 px and an empty 0.1@0 segment
	   that weighs nothing. Image 4: one covered segment with pseudo
	   vector K = max(0, 1) = 1, 0.3@0 -> 0.6, 0.6, 0.88129. */
	{"segmentation", TASK_SEMANTIC_SEGMENTATION, OF_ON, 5,
	 {{.n = 2, .e = {SEG(0, 0.9, 100, 0.9, 0.1), SEG(1, 0.7, 300, 0.7, 0.3)}},
	  {.n = 2, .e = {SEG(0, 0.9, 0, 0.9, 0.1), SEGX(1, 0.7, 0)}},
	  {.nofile = 1},
	  {.n = 2, .e = {SEGX(2, 0.7, 1), SEGX(0, 0.1, 0)}},
	  {.n = 1, .e = {SEGX(0, 0.3, 5)}}},
	 {{0.5, 0.5, 0.7782171, 0, 0},
	  {0, 0, 0, 0, 0},
	  {0, 0, 0, 0, 0},
	  {0.45, 0.45, 0.7453116, 0, 0},
	  {0.6, 0.6, 0.8812909, 0, 0}}, 1e-7},

	/* 1 - mean(mean(1, 0.5), mean(0.2, 0.2, 0.2)) = 1 - 0.475 = 0.525;
	   no instances: 0; a perfectly confident instance: 0. */
	{"keypoints", TASK_KEYPOINT_DETECTION, OF_ON, 4,
	 {{.n = 2, .e = {KP(1, 0.5), KP(0.2, 0.2, 0.2)}},
	  {.nofile = 1},
	  {.n = 0},
	  {.n = 1, .e = {KP(1, 1, 1, 1)}}},
	 {{0.525}, {0}, {0}, {0}}, 1e-12},
};

static void test_tasks_golden(void **state)
{
	(void)state;
	for (size_t ci = 0; ci < sizeof task_cases / sizeof task_cases[0]; ci++) {
		const struct task_case *c = &task_cases[ci];
		struct built b;
		build(&b, c->type, c->img, c->n);
		size_t ncol = task_score_count(c->type);
		double out[MAXI * 5 + 1];
		for (size_t i = 0; i < MAXI * 5 + 1; i++)
			out[i] = -7;	/* every cell must be written */
		assert_int_equal(scorer_compute(&b.t, &c->opts, out), 0);
		for (size_t i = 0; i < c->n; i++) {
			print_message("%-28s img %zu:", c->what, i);
			for (size_t col = 0; col < ncol; col++)
				print_message(" %.10g", out[i * ncol + col]);
			print_message("\n");
			for (size_t col = 0; col < ncol; col++) {
				char what[96];
				snprintf(what, sizeof what, "%s img %zu %s", c->what, i,
					 task_score_name(c->type, col));
				assert_near(out[i * ncol + col], c->want[i][col], c->tol, what, ci);
			}
		}
		/* Nothing beyond the last row is written. */
		assert_true(out[c->n * ncol] == -7);
	}
}

/* The type scorers write the columns the name table says. */
static void test_column_order(void **state)
{
	(void)state;
	static const char *const det[] = {"uncertainty_least_confidence", "uncertainty_margin",
					  "uncertainty_entropy", "objectness_least_confidence",
					  "object_frequency"};
	assert_int_equal(task_score_count(TASK_OBJECT_DETECTION), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(task_score_name(TASK_OBJECT_DETECTION, i), det[i]);
	assert_int_equal(task_score_count(TASK_CLASSIFICATION), 3);
	assert_int_equal(task_score_count(TASK_SEMANTIC_SEGMENTATION), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(task_score_name(TASK_CLASSIFICATION, i), det[i]);
		assert_string_equal(task_score_name(TASK_SEMANTIC_SEGMENTATION, i), det[i]);
	}
	assert_int_equal(task_score_count(TASK_KEYPOINT_DETECTION), 1);
	assert_string_equal(task_score_name(TASK_KEYPOINT_DETECTION, 0), "mean_uncertainty");
}

/* ---- properties on random input ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Random probability vector of length c, occasionally with zeros and with
   a sum off by up to 1e-3 as the parser allows. */
static void rand_probs(double *p, size_t c)
{
	double s = 0;
	for (size_t j = 0; j < c; j++) {
		p[j] = urand() < 0.2 ? 0 : urand();
		s += p[j];
	}
	if (s == 0) {
		p[0] = s = 1;
	}
	double f = 1 + (urand() - 0.5) * 2e-3;
	for (size_t j = 0; j < c; j++)
		p[j] = fmin(1, p[j] / s * f);
}

/* Every score of every type lies in [0,1]; scoring twice gives the same bits. */
static void test_random_range_and_determinism(void **state)
{
	(void)state;
	enum { NIMG = 200, NE = 12, NC = 7 };
	static struct pred_image img[NIMG];
	static struct pred_entry ent[NIMG][NE];
	static double probs[NIMG][NE][NC], kp[NIMG][NE][5];
	static double out1[NIMG * 5], out2[NIMG * 5];
	for (int type = 0; type < TASK_TYPE_COUNT; type++) {
		struct task_preds t = {.name = "r", .img = img, .nimg = NIMG};
		t.schema.type = (enum task_type)type;
		for (size_t i = 0; i < NIMG; i++) {
			size_t n = type == TASK_CLASSIFICATION ? (urand() < 0.9)
							       : (size_t)(urand() * NE);
			img[i] = (struct pred_image){.has_file = urand() < 0.95, .e = ent[i], .n = n};
			size_t c = urand() < 0.3 ? 2 : NC;
			for (size_t j = 0; j < n; j++) {
				struct pred_entry *e = &ent[i][j];
				memset(e, 0, sizeof *e);
				e->category_id = (long)(urand() * (double)c);
				e->score = urand() < 0.1 ? 1 : urand();
				if (type == TASK_CLASSIFICATION || urand() < 0.5) {
					rand_probs(probs[i][j], c);
					e->probs = probs[i][j];
					e->nprobs = c;
				}
				e->pixels = urand() < 0.1 ? 0 : (uint64_t)(urand() * 1e6);
				e->nkp = 1 + (size_t)(urand() * 5);
				for (size_t q = 0; q < e->nkp; q++)
					kp[i][j][q] = urand();
				e->kp_conf = kp[i][j];
			}
		}
		struct scorer_opts o = {.frequency_penalty = urand(), .min_score = urand(),
					.object_frequency = 1};
		assert_int_equal(scorer_compute(&t, &o, out1), 0);
		assert_int_equal(scorer_compute(&t, &o, out2), 0);
		size_t ncol = task_score_count(t.schema.type);
		assert_memory_equal(out1, out2, NIMG * ncol * sizeof(double));
		/* In parallel blocks (64 images each here): the same, bit for bit. */
		memset(out2, 0xff, sizeof(out2));
		assert_int_equal(scorer_compute_mt(&t, &o, out2, 3), 0);
		assert_memory_equal(out1, out2, NIMG * ncol * sizeof(double));
		for (size_t i = 0; i < NIMG * ncol; i++)
			assert_true(out1[i] >= 0 && out1[i] <= 1);
	}
}

/* An unknown task type is refused. */
static void test_bad_type(void **state)
{
	(void)state;
	struct task_preds t = {.name = "x", .nimg = 0};
	t.schema.type = TASK_TYPE_COUNT;
	double out[1];
	assert_int_equal(scorer_compute(&t, NULL, out), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probs_golden),
		cmocka_unit_test(test_pseudo_matches_vector),
		cmocka_unit_test(test_tasks_golden),
		cmocka_unit_test(test_column_order),
		cmocka_unit_test(test_random_range_and_determinism),
		cmocka_unit_test(test_bad_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
