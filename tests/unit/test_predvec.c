/*
 * Tests of lib/predvec.c, the PREDICTIONS input's class vectors (SPEC 4.8):
 * each task type by hand, a randomised case whose expected vectors the test
 * computes itself from the JSON it wrote (cJSON, a plain loop over the
 * literal formula), the categories filter and its order, single values p,
 * images without predictions, and the errors: keypoints, an unknown
 * category, two categories of one name, too many values. A detection file
 * of 200,000 boxes on a schema of 200,000 categories checks that the work
 * stays linear (the per-box spread over every category would be 4 * 10^10 adds).
 *
 * Each test builds its datasource in the cwd (a temp dir from tests/run.sh)
 * and loads it through predict_load_task, as a run does.
 */
#include <cjson/cJSON.h>
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

#include "dataset.h"
#include "predict.h"
#include "predvec.h"
#include "util.h"

#include "predict_test.h"

#define ERRLEN 2048
#define PATH "selection.strategies[0].input"

static const char *const DIST = "CLASS_DISTRIBUTION";

/* Loads task of root for the images paths (n); fails the test on error. */
static void load(const char *root, const char *task, char *const *paths, size_t n,
		 struct task_preds *t)
{
	struct dataset ds;
	char err[ERRLEN];

	assert_int_equal(dataset_open(&ds, root), 0);
	if (predict_load_task(&ds, task, paths, NULL, n, 2, t, err, sizeof(err)) != 0)
		fail_msg("load %s: %s", task, err);
	dataset_close(&ds);
}

/* predvec_compute with the categories given as a NULL-terminated list (NULL: all). */
static int vec(const struct task_preds *t, const char *name, const char *const *cats,
	       struct predvec *pv, char *err)
{
	struct strvec sv = { 0 };
	enum plan_pred_name pn = strcmp(name, DIST) == 0 ? PLAN_PRED_CLASS_DISTRIBUTION
							 : PLAN_PRED_CATEGORY_COUNT;

	for (size_t i = 0; cats != NULL && cats[i] != NULL; i++)
		strvec_push(&sv, cats[i]);
	err[0] = '\0';
	int rc = predvec_compute(t, pn, &sv, PATH, pv, err, ERRLEN);
	strvec_free(&sv);
	return rc;
}

static void assert_names(const struct predvec *pv, const char *const *names)
{
	size_t n = 0;

	while (names[n] != NULL)
		n++;
	assert_int_equal(pv->names.n, n);
	for (size_t j = 0; j < n; j++)
		assert_string_equal(pv->names.v[j], names[j]);
}

/* Row i of pv against want, each within tol * (1 + |want|). */
static void assert_row(const struct predvec *pv, size_t i, const double *want, double tol)
{
	size_t k = pv->names.n;

	assert_true(i < pv->nimg);
	for (size_t j = 0; j < k; j++) {
		double got = pv->v[i * k + j];
		if (!(fabs(got - want[j]) <= tol * (1 + fabs(want[j]))))
			fail_msg("image %zu, class %zu (%s): %.17g, want %.17g", i, j,
				 pv->names.v[j], got, want[j]);
	}
}

static void expect_vec(const struct task_preds *t, const char *name, const char *const *cats,
		       const char *const *names, const double *rows, double tol)
{
	struct predvec pv;
	char err[ERRLEN];

	if (vec(t, name, cats, &pv, err) != 0)
		fail_msg("%s: %s", name, err);
	assert_names(&pv, names);
	assert_int_equal(pv.nimg, t->nimg);
	for (size_t i = 0; i < t->nimg; i++)
		assert_row(&pv, i, rows + i * pv.names.n, tol);
	predvec_free(&pv);
}

static void expect_err(const struct task_preds *t, const char *name, const char *const *cats,
		       const char *msg)
{
	struct predvec pv;
	char err[ERRLEN];

	assert_int_equal(vec(t, name, cats, &pv, err), -EINVAL);
	assert_string_equal(err, msg);
	assert_null(pv.v);
	assert_int_equal(pv.names.n, 0);
}

/* ---- each task type by hand ---- */

static char *cls_paths[] = { "a.png", "b.png", "c.png", "d.png" };

/* Ids written out of order: the classes are c2, c5, c7. */
static char *cls_root(void)
{
	char *root = mkroot("cls");

	jput(root, ".lightly/predictions/cls/schema.json",
	     "{'task_type': 'classification', 'categories': [{'id': 7, 'name': 'c7'}, "
	     "{'id': 2, 'name': 'c2'}, {'id': 5, 'name': 'c5'}]}");
	jput(root, ".lightly/predictions/cls/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 5, 'probabilities': [0.2, 0.5, 0.3]}]}");
	jput(root, ".lightly/predictions/cls/b.json",
	     "{'file_name': 'b.png', 'predictions': [{'category_id': 7, 'probabilities': [0.1, 0.1, 0.8]}]}");
	/* c.png: no file; d.png: no predictions. */
	jput(root, ".lightly/predictions/cls/d.json", "{'file_name': 'd.png', 'predictions': []}");
	return root;
}

static void test_classification(void **state)
{
	char *root = cls_root();
	struct task_preds t;
	static const char *const names[] = { "c2", "c5", "c7", NULL };
	static const double dist[] = { 0.2, 0.5, 0.3, 0.1, 0.1, 0.8, 0, 0, 0, 0, 0, 0 };
	static const double count[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };

	(void)state;
	load(root, "cls", cls_paths, 4, &t);
	expect_vec(&t, DIST, NULL, names, dist, 0);
	expect_vec(&t, "CATEGORY_COUNT", NULL, names, count, 0);
	task_preds_free(&t);
	free(root);
}

/* Boxes: x has four, one with probabilities; y one; z none. */
static void test_detection(void **state)
{
	char *root = mkroot("det");
	char *paths[] = { "x.png", "y.png", "z.png" };
	struct task_preds t;
	static const char *const names[] = { "a", "b", "c", NULL };
	/*
	 * x: b 0.8 -> [0.1, 0.8, 0.1]; a with [0.6, 0.3, 0.1]; c 0.5 -> [0.25,
	 * 0.25, 0.5]; b 1 -> [0, 1, 0]. y: c 0.2 -> [0.4, 0.4, 0.2].
	 */
	static const double dist[] = { 0.95, 2.35, 0.7, 0.4, 0.4, 0.2, 0, 0, 0 };
	static const double count[] = { 1, 2, 1, 0, 0, 1, 0, 0, 0 };

	(void)state;
	jput(root, ".lightly/predictions/det/schema.json",
	     "{'task_type': 'object-detection', 'categories': [{'id': 0, 'name': 'a'}, "
	     "{'id': 1, 'name': 'b'}, {'id': 2, 'name': 'c'}]}");
	jput(root, ".lightly/predictions/det/x.json",
	     "{'file_name': 'x.png', 'predictions': ["
	     "{'category_id': 1, 'bbox': [0, 0, 5, 5], 'score': 0.8},"
	     "{'category_id': 0, 'bbox': [1, 1, 2, 2], 'score': 0.6, 'probabilities': [0.6, 0.3, 0.1]},"
	     "{'category_id': 2, 'bbox': [2, 2, 3, 3], 'score': 0.5},"
	     "{'category_id': 1, 'bbox': [3, 3, 4, 4], 'score': 1}]}");
	jput(root, ".lightly/predictions/det/y.json",
	     "{'file_name': 'y.png', 'predictions': [{'category_id': 2, 'bbox': [0, 0, 1, 1], 'score': 0.2}]}");
	load(root, "det", paths, 3, &t);
	expect_vec(&t, DIST, NULL, names, dist, 1e-15);
	expect_vec(&t, "CATEGORY_COUNT", NULL, names, count, 0);
	/* Kept classes keep the schema's C = 3 in the spread: a alone. */
	static const char *const only_a[] = { "a", NULL };
	static const double dist_a[] = { 0.95, 0.4, 0 };
	expect_vec(&t, DIST, only_a, only_a, dist_a, 1e-15);
	task_preds_free(&t);
	free(root);
}

static void test_segmentation(void **state)
{
	char *root = mkroot("seg");
	char *paths[] = { "m/s.png", "n.png" };
	struct task_preds t;
	static const char *const names[] = { "road", "car", "sky", "tree", NULL };
	/*
	 * tree 0.7 -> (1 - 0.7) / 3 = 0.1 elsewhere; road with [0.4, 0.2, 0.2,
	 * 0.2]; n.png: predictions [].
	 */
	static const double dist[] = { 0.5, 0.3, 0.3, 0.9, 0, 0, 0, 0 };
	static const double count[] = { 1, 0, 0, 1, 0, 0, 0, 0 };

	(void)state;
	jput(root, ".lightly/predictions/seg/schema.json",
	     "{'task_type': 'semantic-segmentation', 'categories': [{'id': 40, 'name': 'tree'}, "
	     "{'id': 10, 'name': 'road'}, {'id': 30, 'name': 'sky'}, {'id': 20, 'name': 'car'}]}");
	jput(root, ".lightly/predictions/seg/m/s.json",
	     "{'file_name': 'm/s.png', 'predictions': ["
	     "{'category_id': 40, 'segmentation': [0, 4], 'score': 0.7},"
	     "{'category_id': 10, 'segmentation': [2, 1, 1], 'score': 0.4, 'probabilities': [0.4, 0.2, 0.2, 0.2]}]}");
	jput(root, ".lightly/predictions/seg/n.json", "{'file_name': 'n.png', 'predictions': []}");
	load(root, "seg", paths, 2, &t);
	expect_vec(&t, DIST, NULL, names, dist, 1e-15);
	expect_vec(&t, "CATEGORY_COUNT", NULL, names, count, 0);
	task_preds_free(&t);
	free(root);
}

/* A single p: [p] with one category, [p, 1 - p] with two; bare or as [p]. */
static void test_single_p(void **state)
{
	char *root = mkroot("single");
	char *paths[] = { "a.png", "b.png" };
	struct task_preds t;
	static const char *const one[] = { "only", NULL }, *const two[] = { "no", "yes", NULL };

	(void)state;
	jput(root, ".lightly/predictions/c1/schema.json",
	     "{'task_type': 'classification', 'categories': [{'id': 3, 'name': 'only'}]}");
	jput(root, ".lightly/predictions/c1/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 3, 'probabilities': 0.3}]}");
	jput(root, ".lightly/predictions/c1/b.json",
	     "{'file_name': 'b.png', 'predictions': [{'category_id': 3, 'probabilities': [0.25]}]}");
	load(root, "c1", paths, 2, &t);
	expect_vec(&t, DIST, NULL, one, (const double[]){ 0.3, 0.25 }, 0);
	expect_vec(&t, "CATEGORY_COUNT", NULL, one, (const double[]){ 1, 1 }, 0);
	task_preds_free(&t);

	jput(root, ".lightly/predictions/c2/schema.json",
	     "{'task_type': 'classification', 'categories': [{'id': 0, 'name': 'no'}, {'id': 1, 'name': 'yes'}]}");
	jput(root, ".lightly/predictions/c2/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 1, 'probabilities': 0.3}]}");
	jput(root, ".lightly/predictions/c2/b.json",
	     "{'file_name': 'b.png', 'predictions': [{'category_id': 0, 'probabilities': [0.25]}]}");
	load(root, "c2", paths, 2, &t);
	expect_vec(&t, DIST, NULL, two, (const double[]){ 0.3, 1 - 0.3, 0.25, 0.75 }, 0);
	expect_vec(&t, "CATEGORY_COUNT", NULL, two, (const double[]){ 0, 1, 1, 0 }, 0);
	task_preds_free(&t);

	/* Detection, one category: a box without probabilities gives its score (C - 1 = 0). */
	jput(root, ".lightly/predictions/d1/schema.json",
	     "{'task_type': 'object-detection', 'categories': [{'id': 9, 'name': 'only'}]}");
	jput(root, ".lightly/predictions/d1/a.json",
	     "{'file_name': 'a.png', 'predictions': ["
	     "{'category_id': 9, 'bbox': [0, 0, 1, 1], 'score': 0.4},"
	     "{'category_id': 9, 'bbox': [0, 0, 1, 1], 'score': 0.5, 'probabilities': 0.875}]}");
	load(root, "d1", paths, 2, &t);
	expect_vec(&t, DIST, NULL, one, (const double[]){ 0.4 + 0.875, 0 }, 0);
	expect_vec(&t, "CATEGORY_COUNT", NULL, one, (const double[]){ 2, 0 }, 0);
	task_preds_free(&t);
	free(root);
}

/* The filter keeps the schema's id order, whatever the order it names them in. */
static void test_categories_order(void **state)
{
	char *root = cls_root();
	struct task_preds t;
	static const char *const cats[] = { "c7", "c2", NULL }, *const names[] = { "c2", "c7", NULL };
	static const double dist[] = { 0.2, 0.3, 0.1, 0.8, 0, 0, 0, 0 };
	static const double count[] = { 0, 0, 0, 1, 0, 0, 0, 0 };

	(void)state;
	load(root, "cls", cls_paths, 4, &t);
	expect_vec(&t, DIST, cats, names, dist, 0);
	expect_vec(&t, "CATEGORY_COUNT", cats, names, count, 0);
	task_preds_free(&t);
	free(root);
}

/* ---- errors ---- */

static void test_unknown_category(void **state)
{
	char *root = cls_root();
	struct task_preds t;
	static const char *const cats[] = { "c5", "dog", NULL };

	(void)state;
	load(root, "cls", cls_paths, 4, &t);
	expect_err(&t, DIST, cats, PATH ".categories[1]: \"dog\" is not a category of task \"cls\" "
		   "(its schema has \"c2\", \"c5\", \"c7\")");
	/* Names are quoted as predict.c quotes them. */
	static const char *const odd[] = { "a\"b\n", NULL };
	expect_err(&t, "CATEGORY_COUNT", odd, PATH ".categories[0]: \"a\\\"b\\n\" is not a category "
		   "of task \"cls\" (its schema has \"c2\", \"c5\", \"c7\")");
	task_preds_free(&t);

	/* A long schema is listed up to ten names. */
	struct buf b = { 0 };
	buf_puts(&b, "{'task_type': 'object-detection', 'categories': [");
	for (int i = 0; i < 12; i++)
		buf_printf(&b, "%s{'id': %d, 'name': 'n%d'}", i ? ", " : "", i, i);
	buf_puts(&b, "]}");
	jput(root, ".lightly/predictions/many/schema.json", b.data);
	buf_free(&b);
	load(root, "many", cls_paths, 1, &t);
	static const char *const x[] = { "x", NULL };
	expect_err(&t, DIST, x, PATH ".categories[0]: \"x\" is not a category of task \"many\" "
		   "(its schema has \"n0\", \"n1\", \"n2\", \"n3\", \"n4\", \"n5\", \"n6\", \"n7\", "
		   "\"n8\", \"n9\", ... 12 in all)");
	task_preds_free(&t);
	free(root);
}

static void test_keypoints_refused(void **state)
{
	char *root = mkroot("kp");
	struct task_preds t;

	(void)state;
	jput(root, ".lightly/predictions/pose/schema.json",
	     "{'task_type': 'keypoint-detection', 'categories': [{'id': 0, 'name': 'person'}]}");
	jput(root, ".lightly/predictions/pose/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [1, 2, 0.5], 'score': 0.9}]}");
	load(root, "pose", cls_paths, 1, &t);
	static const char *const msg = PATH ".task: \"pose\" is a keypoint-detection task; the "
		"PREDICTIONS input needs a classification, object-detection or semantic-segmentation task";
	expect_err(&t, DIST, NULL, msg);
	expect_err(&t, "CATEGORY_COUNT", NULL, msg);
	task_preds_free(&t);
	free(root);
}

/* Classes are names (BALANCE's target names them): two kept categories of one name are an error. */
static void test_duplicate_names(void **state)
{
	char *root = mkroot("dup");
	struct task_preds t;
	static const char *const msg = PATH ".task: .lightly/predictions/dup/schema.json names "
		"categories 0 and 2 both \"cat\"; the PREDICTIONS input needs distinct class names";

	(void)state;
	jput(root, ".lightly/predictions/dup/schema.json",
	     "{'task_type': 'object-detection', 'categories': [{'id': 2, 'name': 'cat'}, "
	     "{'id': 1, 'name': 'dog'}, {'id': 0, 'name': 'cat'}]}");
	jput(root, ".lightly/predictions/dup/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 1, 'bbox': [0, 0, 1, 1], 'score': 0.5}]}");
	load(root, "dup", cls_paths, 1, &t);
	expect_err(&t, DIST, NULL, msg);
	expect_err(&t, DIST, (const char *const[]){ "dog", "cat", NULL }, msg);
	/* Without "cat" kept there is nothing to confuse; C is still 3. */
	static const char *const dog[] = { "dog", NULL };
	expect_vec(&t, DIST, dog, dog, (const double[]){ 0.5 }, 0);
	task_preds_free(&t);
	free(root);
}

/* More than 2^27 values is refused before anything is allocated; categories fix it. */
static void test_too_many_values(void **state)
{
	char *root = mkroot("big");
	struct task_preds t;
	struct buf b = { 0 };
	size_t n = ((size_t)1 << 13) + 1;	/* x 2^14 classes: just over 2^27 */
	char **paths = xcalloc(n, sizeof(*paths));
	struct predvec pv;
	char err[ERRLEN];

	(void)state;
	buf_puts(&b, "{'task_type': 'classification', 'categories': [");
	for (int i = 0; i < 1 << 14; i++)
		buf_printf(&b, "%s{'id': %d, 'name': 'n%d'}", i ? ", " : "", i, i);
	buf_puts(&b, "]}");
	jput(root, ".lightly/predictions/big/schema.json", b.data);
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		paths[i] = xasprintf("i%05zu.png", i);
	load(root, "big", paths, n, &t);
	expect_err(&t, DIST, NULL, PATH ": 8193 candidates x 16384 classes of task \"big\" are "
		   "more than 2^27 values; keep fewer classes with categories");
	static const char *const one[] = { "n5", NULL };
	assert_int_equal(vec(&t, DIST, one, &pv, err), 0);
	assert_names(&pv, one);
	assert_int_equal(pv.nimg, n);
	for (size_t i = 0; i < n; i++)
		assert_true(pv.v[i] == 0);
	predvec_free(&pv);
	task_preds_free(&t);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(root);
}

/* No images: no rows, the classes all the same; a missing name is refused. */
static void test_no_images_and_no_name(void **state)
{
	char *root = cls_root();
	struct task_preds t;
	struct predvec pv;
	char err[ERRLEN];

	(void)state;
	load(root, "cls", NULL, 0, &t);
	assert_int_equal(vec(&t, DIST, NULL, &pv, err), 0);
	assert_int_equal(pv.nimg, 0);
	assert_names(&pv, (const char *const[]){ "c2", "c5", "c7", NULL });
	predvec_free(&pv);
	predvec_free(NULL);
	assert_int_equal(predvec_compute(&t, PLAN_PRED_NONE, NULL, PATH, &pv, err, ERRLEN), -EINVAL);
	assert_string_equal(err, PATH ".name: missing (CLASS_DISTRIBUTION or CATEGORY_COUNT)");
	task_preds_free(&t);
	free(root);
}

/* ---- hostile: many boxes on a large schema ---- */

static void test_many_boxes(void **state)
{
	enum { NCAT = 200000, NBOX = 200000 };
	char *root = mkroot("many");
	char *paths[] = { "a.png" };
	struct task_preds t;
	struct predvec pv;
	struct buf b = { 0 };
	char err[ERRLEN];

	(void)state;
	buf_puts(&b, "{'task_type': 'object-detection', 'categories': [");
	for (int i = 0; i < NCAT; i++)
		buf_printf(&b, "%s{'id': %d, 'name': 'n%d'}", i ? ", " : "", i, i);
	buf_puts(&b, "]}");
	jput(root, ".lightly/predictions/many/schema.json", b.data);
	buf_free(&b);
	/* Every box at category i % 3, score 0.5. */
	buf_puts(&b, "{'file_name': 'a.png', 'predictions': [");
	for (int i = 0; i < NBOX; i++)
		buf_printf(&b, "%s{'category_id': %d, 'bbox': [0, 0, 1, 1], 'score': 0.5}",
			   i ? "," : "", i % 3);
	buf_puts(&b, "]}");
	assert_true(b.len < PREDICT_MAX_FILE_BYTES);
	jput(root, ".lightly/predictions/many/a.json", b.data);
	buf_free(&b);
	load(root, "many", paths, 1, &t);

	assert_int_equal(vec(&t, "CATEGORY_COUNT", NULL, &pv, err), 0);
	assert_int_equal(pv.names.n, NCAT);
	assert_true(pv.v[0] == 66667 && pv.v[1] == 66667 && pv.v[2] == 66666);
	for (size_t j = 3; j < NCAT; j++)
		assert_true(pv.v[j] == 0);
	predvec_free(&pv);

	assert_int_equal(vec(&t, DIST, NULL, &pv, err), 0);
	double r = 0.5 / (NCAT - 1), sum = 0;
	double want[3] = { 66667 * 0.5 + (NBOX - 66667) * r, 66667 * 0.5 + (NBOX - 66667) * r,
			   66666 * 0.5 + (NBOX - 66666) * r };
	for (size_t j = 0; j < NCAT; j++) {
		double w = j < 3 ? want[j] : NBOX * r;
		if (!(fabs(pv.v[j] - w) <= 1e-9 * w))
			fail_msg("class %zu: %.17g, want %.17g", j, pv.v[j], w);
		sum += pv.v[j];
	}
	/* Each box spreads exactly 1 over the categories. */
	assert_true(fabs(sum - NBOX) <= 1e-9 * NBOX);
	predvec_free(&pv);
	task_preds_free(&t);
	free(root);
}

/* ---- randomised: the test's own loop over the JSON it wrote ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) * 0x1p-53;
}

/* Appends the probabilities of one entry: sometimes a single p when c <= 2. */
static void put_probs(struct buf *b, size_t c)
{
	if (c <= 2 && rnd() % 2) {
		if (rnd() % 2)
			buf_printf(b, ", 'probabilities': %.17g", rnd01());
		else
			buf_printf(b, ", 'probabilities': [%.17g]", rnd01());
		return;
	}
	double p[6], s = 0;
	for (size_t j = 0; j < c; j++)
		s += (p[j] = 0.05 + rnd01());
	buf_puts(b, ", 'probabilities': [");
	for (size_t j = 0; j < c; j++)
		buf_printf(b, "%s%.17g", j ? ", " : "", p[j] / s);
	buf_puts(b, "]");
}

/*
 * The vector over all c categories (ids ascending in ids) of one written
 * file, by the formula of SPEC 4.8 read literally, entry by entry.
 */
static void expected_full(const char *json, const long *ids, size_t c, bool count, double *full)
{
	cJSON *root = cJSON_Parse(json), *e;

	assert_non_null(root);
	memset(full, 0, c * sizeof(*full));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "predictions")) {
		long id = (long)cJSON_GetObjectItem(e, "category_id")->valuedouble;
		cJSON *sc = cJSON_GetObjectItem(e, "score"), *pr = cJSON_GetObjectItem(e, "probabilities");
		size_t at = 0;
		while (ids[at] != id)
			at++;
		for (size_t j = 0; j < c; j++) {
			double x;
			if (count)
				x = j == at;
			else if (pr != NULL && (cJSON_IsNumber(pr) || cJSON_GetArraySize(pr) == 1)) {
				double p = cJSON_IsNumber(pr) ? pr->valuedouble : pr->child->valuedouble;
				x = j == 0 ? p : 1 - p;
			} else if (pr != NULL)
				x = cJSON_GetArrayItem(pr, (int)j)->valuedouble;
			else if (j == at)
				x = sc->valuedouble;
			else
				x = (1 - sc->valuedouble) / (double)(c - 1);
			full[j] += x;
		}
	}
	cJSON_Delete(root);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static void random_case(const char *type, int trial)
{
	enum { NIMG = 25 };
	char task[32], *paths[NIMG], *texts[NIMG] = { 0 };
	size_t c = 1 + rnd() % 6;
	long ids[6], sorted[6];
	bool keep[6];
	const char *cats[7], *names[7];
	char name_buf[6][16];
	struct buf b = { 0 };
	bool cls = strcmp(type, "classification") == 0;
	char *root;

	snprintf(task, sizeof(task), "r%d", trial);
	root = mkroot(task);
	/* Distinct ids in random order. */
	for (size_t j = 0; j < c; j++) {
		bool dup;
		do {
			ids[j] = (long)(rnd() % 1000);
			dup = false;
			for (size_t k = 0; k < j; k++)
				dup |= ids[k] == ids[j];
		} while (dup);
	}
	buf_printf(&b, "{'task_type': '%s', 'categories': [", type);
	for (size_t j = 0; j < c; j++)
		buf_printf(&b, "%s{'id': %ld, 'name': 'k%ld'}", j ? ", " : "", ids[j], ids[j]);
	buf_puts(&b, "]}");
	char *rel = xasprintf(".lightly/predictions/%s/schema.json", task);
	jput(root, rel, b.data);
	free(rel);
	buf_free(&b);

	for (size_t i = 0; i < NIMG; i++) {
		paths[i] = xasprintf("d%zu/im%02zu.png", i / 9, i);	/* in path order */
		uint64_t kind = rnd() % 10;
		if (kind == 0)
			continue;	/* no file */
		size_t ne = kind == 1 ? 0 : cls ? 1 : 1 + rnd() % 6;
		buf_printf(&b, "{'file_name': '%s', 'predictions': [", paths[i]);
		for (size_t k = 0; k < ne; k++) {
			buf_printf(&b, "%s{'category_id': %ld", k ? ", " : "", ids[rnd() % c]);
			if (strcmp(type, "object-detection") == 0)
				buf_puts(&b, ", 'bbox': [1, 2, 3, 4]");
			if (strcmp(type, "semantic-segmentation") == 0)
				buf_puts(&b, ", 'segmentation': [3, 2, 1]");
			if (!cls)
				buf_printf(&b, ", 'score': %.17g", rnd01());
			if (cls || rnd() % 2)
				put_probs(&b, c);
			buf_puts(&b, "}");
		}
		buf_puts(&b, "]}");
		for (char *p = b.data; *p; p++)
			if (*p == '\'')
				*p = '"';
		texts[i] = xstrdup(b.data);
		rel = xasprintf(".lightly/predictions/%s/d%zu/im%02zu.json", task, i / 9, i);
		put_bytes(root, rel, b.data, b.len);
		free(rel);
		buf_free(&b);
	}

	/* Odd trials keep a random non-empty subset, named in descending id order. */
	memcpy(sorted, ids, sizeof(ids));
	qsort(sorted, c, sizeof(*sorted), cmp_long);
	size_t ncats = 0, nkeep = 0;
	for (size_t j = 0; j < c; j++)
		keep[j] = trial % 2 == 0 || rnd() % 2;
	if (trial % 2 == 1)
		keep[rnd() % c] = true;
	for (size_t j = c; j-- > 0;) {	/* named from the highest id down */
		snprintf(name_buf[j], sizeof(name_buf[j]), "k%ld", sorted[j]);
		if (keep[j] && trial % 2 == 1)
			cats[ncats++] = name_buf[j];
	}
	cats[ncats] = NULL;
	for (size_t j = 0; j < c; j++)
		if (keep[j])
			names[nkeep++] = name_buf[j];
	names[nkeep] = NULL;

	struct task_preds t;
	load(root, task, paths, NIMG, &t);
	for (int count = 0; count < 2; count++) {
		double *rows = xcalloc(NIMG * nkeep, sizeof(double)), full[6];
		for (size_t i = 0; i < NIMG; i++) {
			if (texts[i] == NULL)
				continue;
			expected_full(texts[i], sorted, c, count, full);
			for (size_t j = 0, q = 0; j < c; j++)
				if (keep[j])
					rows[i * nkeep + q++] = full[j];
		}
		expect_vec(&t, count ? "CATEGORY_COUNT" : DIST, ncats ? cats : NULL, names, rows,
			   1e-13);
		free(rows);
	}
	task_preds_free(&t);
	for (size_t i = 0; i < NIMG; i++) {
		free(paths[i]);
		free(texts[i]);
	}
	free(root);
}

static void test_random(void **state)
{
	static const char *const types[] = { "classification", "object-detection",
					     "semantic-segmentation" };

	(void)state;
	for (int trial = 0; trial < 36; trial++)
		random_case(types[trial % 3], trial);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classification),
		cmocka_unit_test(test_detection),
		cmocka_unit_test(test_segmentation),
		cmocka_unit_test(test_single_p),
		cmocka_unit_test(test_categories_order),
		cmocka_unit_test(test_unknown_category),
		cmocka_unit_test(test_keypoints_refused),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_too_many_values),
		cmocka_unit_test(test_no_images_and_no_name),
		cmocka_unit_test(test_many_boxes),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
