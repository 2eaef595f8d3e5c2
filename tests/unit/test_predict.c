/*
 * Tests of lib/predict.c: the four task types parsed into structs, every
 * error class naming the file and the field, images without files, the
 * extension collision, files_ignored, symlinks leaving the root, deep
 * nesting, oversized files, tasks.json and schema.json.
 *
 * Each test builds its own datasource folder in the cwd (a fresh temp dir
 * given by tests/run.sh). JSON is written with single quotes, turned into
 * double quotes by jput(), to keep the C strings readable.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataset.h"
#include "predict.h"
#include "util.h"

#include "predict_test.h"

#define ERRLEN 1024

/* An image file: contents do not matter here, only the listing. */
static void img(const char *root, const char *rel)
{
	put_bytes(root, rel, "x", 1);
}

static void open_ds(const char *root, struct dataset *ds)
{
	char err[ERRLEN];

	assert_int_equal(dataset_open(ds, root), 0);
	assert_int_equal(dataset_list(ds, NULL, err, sizeof(err)), 0);
}

static void schema_put(const char *root, const char *task, const char *type, int ncats)
{
	struct buf b = { 0 };

	buf_printf(&b, "{'task_type': '%s', 'categories': [", type);
	for (int i = 0; i < ncats; i++)
		buf_printf(&b, "%s{'id': %d, 'name': 'c%d'}", i ? ", " : "", i, i);
	buf_puts(&b, "]}");
	char *rel = xasprintf(".lightly/predictions/%s/schema.json", task);
	jput(root, rel, b.data);
	free(rel);
	buf_free(&b);
}

static void make_schema(struct task_schema *s, const char *type, int ncats)
{
	struct buf b = { 0 };
	char err[ERRLEN];

	buf_printf(&b, "{\"task_type\": \"%s\", \"categories\": [", type);
	for (int i = 0; i < ncats; i++)
		buf_printf(&b, "%s{\"id\": %d, \"name\": \"c%d\"}", i ? ", " : "", i, i);
	buf_puts(&b, "]}");
	int rc = predict_parse_schema(b.data, b.len, "schema.json", s, err, sizeof(err));
	if (rc != 0)
		fail_msg("schema: %s", err);
	buf_free(&b);
}

/* Parses text (single quotes) as the file of image_path; returns rc, err filled. */
static int parse(const struct task_schema *s, const char *text, const char *image_path,
		 struct img_size size, struct pred_image *out, char *err)
{
	char *t = xstrdup(text);
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	err[0] = '\0';
	int rc = predict_parse_file(t, strlen(t), "p/a.json", image_path, s, size, out, err,
				    ERRLEN);
	free(t);
	return rc;
}

/* ---- the score-name table ---- */

static void test_score_table(void **state)
{
	assert_int_equal(task_score_count(TASK_CLASSIFICATION), 3);
	assert_int_equal(task_score_count(TASK_SEMANTIC_SEGMENTATION), 3);
	assert_int_equal(task_score_count(TASK_OBJECT_DETECTION), 5);
	assert_int_equal(task_score_count(TASK_KEYPOINT_DETECTION), 1);
	assert_int_equal(task_score_count(TASK_TYPE_COUNT), 0);
	const char *det[] = { "uncertainty_least_confidence", "uncertainty_margin",
			      "uncertainty_entropy", "objectness_least_confidence",
			      "object_frequency" };
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(task_score_name(TASK_OBJECT_DETECTION, i), det[i]);
		assert_int_equal(task_score_index(TASK_OBJECT_DETECTION, det[i]), (int)i);
		if (i < 3) {
			assert_string_equal(task_score_name(TASK_CLASSIFICATION, i), det[i]);
			assert_string_equal(task_score_name(TASK_SEMANTIC_SEGMENTATION, i), det[i]);
		}
	}
	assert_null(task_score_name(TASK_CLASSIFICATION, 3));
	assert_int_equal(task_score_index(TASK_CLASSIFICATION, "object_frequency"), -1);
	assert_int_equal(task_score_index(TASK_CLASSIFICATION, "nope"), -1);
	assert_string_equal(task_score_name(TASK_KEYPOINT_DETECTION, 0), "mean_uncertainty");
	assert_int_equal(task_score_index(TASK_KEYPOINT_DETECTION, "mean_uncertainty"), 0);
	assert_int_equal(task_score_index(TASK_KEYPOINT_DETECTION, "uncertainty_margin"), -1);
	for (int t = 0; t < TASK_TYPE_COUNT; t++) {
		assert_int_equal(task_type_parse(task_type_name((enum task_type)t)), t);
		/* The default score is one of the type's columns. */
		assert_true(task_score_index((enum task_type)t, task_default_score((enum task_type)t)) >= 0);
	}
	assert_string_equal(task_default_score(TASK_OBJECT_DETECTION), "uncertainty_margin");
	assert_string_equal(task_default_score(TASK_KEYPOINT_DETECTION), "mean_uncertainty");
	assert_string_equal(task_type_name(TASK_SEMANTIC_SEGMENTATION), "semantic-segmentation");
	assert_int_equal(task_type_parse("Classification"), -1);
	assert_int_equal(task_type_parse("detection"), -1);
	assert_null(task_type_name(TASK_TYPE_COUNT));
}

/* ---- schema ---- */

static void test_schema_valid(void **state)
{
	struct task_schema s;
	char err[ERRLEN];
	/* Unordered ids, extra keys (Lightly's "supercategory", a top-level extra). */
	const char *t = "{\"task_type\": \"object-detection\", \"version\": 2, \"categories\": ["
			"{\"id\": 7, \"name\": \"dog\", \"supercategory\": \"animal\"},"
			"{\"id\": 0, \"name\": \"cat\"}, {\"id\": 3, \"name\": \"\\u00e9l\\u00e9phant\"}]}";

	assert_int_equal(predict_parse_schema(t, strlen(t), "s.json", &s, err, sizeof(err)), 0);
	assert_int_equal(s.type, TASK_OBJECT_DETECTION);
	assert_int_equal(s.ncats, 3);
	assert_int_equal(s.cats[0].id, 0);
	assert_string_equal(s.cats[0].name, "cat");
	assert_int_equal(s.cats[1].id, 3);
	assert_string_equal(s.cats[1].name, "\xc3\xa9l\xc3\xa9phant");
	assert_int_equal(s.cats[2].id, 7);
	assert_string_equal(s.cats[2].name, "dog");
	task_schema_free(&s);
	assert_null(s.cats);
	task_schema_free(&s);	/* twice: a no-op */
}

static void test_schema_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "{'task_type': 'detection', 'categories': [{'id': 0, 'name': 'a'}]}",
		  "s.json: task_type: \"detection\" is not one of classification, object-detection, "
		  "semantic-segmentation, keypoint-detection" },
		{ "{'categories': [{'id': 0, 'name': 'a'}]}", "s.json: task_type: missing" },
		{ "{'task_type': 3, 'categories': [{'id': 0, 'name': 'a'}]}",
		  "s.json: task_type: 3 is not a string" },
		{ "{'task_type': 'classification'}", "s.json: categories: missing" },
		{ "{'task_type': 'classification', 'categories': []}",
		  "s.json: categories: empty; a task needs at least one category" },
		{ "{'task_type': 'classification', 'categories': {}}",
		  "s.json: categories: an object is not an array" },
		{ "{'task_type': 'classification', 'categories': [{'id': 0, 'name': 'a'}, {'id': 1, 'name': 'b'}, {'id': 0, 'name': 'c'}]}",
		  "s.json: categories[2].id: 0 is already the id of categories[0]" },
		{ "{'task_type': 'classification', 'categories': [{'id': -1, 'name': 'a'}]}",
		  "s.json: categories[0].id: -1 is negative" },
		{ "{'task_type': 'classification', 'categories': [{'id': 1.5, 'name': 'a'}]}",
		  "s.json: categories[0].id: 1.5 is not an integer" },
		{ "{'task_type': 'classification', 'categories': [{'id': '1', 'name': 'a'}]}",
		  "s.json: categories[0].id: \"1\" is not a number" },
		{ "{'task_type': 'classification', 'categories': [{'name': 'a'}]}",
		  "s.json: categories[0].id: missing" },
		{ "{'task_type': 'classification', 'categories': [{'id': 0}]}",
		  "s.json: categories[0].name: missing" },
		{ "{'task_type': 'classification', 'categories': [{'id': 0, 'name': null}]}",
		  "s.json: categories[0].name: null is not a string" },
		{ "{'task_type': 'classification', 'categories': [3]}",
		  "s.json: categories[0]: 3 is not an object" },
		{ "{'task_type': 'classification', 'task_type': 'classification', 'categories': [{'id': 0, 'name': 'a'}]}",
		  "s.json: task_type: given twice" },
		{ "[]", "s.json: the top level is not an object" },
		{ "{'task_type': 'classification',\n 'categories': [,]}",
		  "s.json: invalid JSON at line 2, column 17" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct task_schema s;
		char err[ERRLEN] = "";
		char *t = xstrdup(cases[i].text);
		for (char *p = t; *p; p++)
			if (*p == '\'')
				*p = '"';
		int rc = predict_parse_schema(t, strlen(t), "s.json", &s, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: rc %d, \"%s\", want \"%s\"", i, rc, err, cases[i].want);
		assert_null(s.cats);
		free(t);
	}
}

/* ---- valid prediction files, one per type ---- */

static void test_classification(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };

	make_schema(&s, "classification", 3);
	/* Unknown keys at the top level and in the entry are ignored, "score" too. */
	assert_int_equal(parse(&s, "{'file_name': 'sub/a.png', 'model': 'r50', 'predictions': "
			     "[{'category_id': 1, 'probabilities': [0.1, 0.7, 0.2], 'score': 9, 'extra': {}}]}",
			     "sub/a.png", nosize, &p, err), 0);
	assert_true(p.has_file);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.e[0].category_id, 1);
	assert_true(isnan(p.e[0].score));
	assert_int_equal(p.e[0].nprobs, 3);
	assert_float_equal(p.e[0].probs[0], 0.1, 0);
	assert_float_equal(p.e[0].probs[1], 0.7, 0);
	assert_float_equal(p.e[0].probs[2], 0.2, 0);
	assert_null(p.e[0].kp_conf);
	pred_image_free(&p);
	assert_int_equal(p.n, 0);
	assert_null(p.e);

	/* Within 1e-3 of 1 is accepted. */
	assert_int_equal(parse(&s, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': [0.3335, 0.3335, 0.3335]}]}",
			     "a.png", nosize, &p, err), 0);
	pred_image_free(&p);
	task_schema_free(&s);
}

static void test_binary_probabilities(void **state)
{
	struct task_schema s2, s1, s3;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };

	make_schema(&s2, "classification", 2);
	make_schema(&s1, "classification", 1);
	make_schema(&s3, "classification", 3);
	assert_int_equal(parse(&s2, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': [0.8]}]}", "a.png", nosize, &p, err), 0);
	assert_int_equal(p.e[0].nprobs, 2);
	assert_float_equal(p.e[0].probs[0], 0.8, 0);
	assert_float_equal(p.e[0].probs[1], 1.0 - 0.8, 0);
	pred_image_free(&p);
	/* A bare number is the same single value. */
	assert_int_equal(parse(&s2, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 1, 'probabilities': 0.25}]}", "a.png", nosize, &p, err), 0);
	assert_int_equal(p.e[0].nprobs, 2);
	assert_float_equal(p.e[0].probs[0], 0.25, 0);
	assert_float_equal(p.e[0].probs[1], 0.75, 0);
	pred_image_free(&p);
	/* The full vector of two stays as is. */
	assert_int_equal(parse(&s2, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 1, 'probabilities': [0.4, 0.6]}]}", "a.png", nosize, &p, err), 0);
	assert_int_equal(p.e[0].nprobs, 2);
	assert_float_equal(p.e[0].probs[1], 0.6, 0);
	pred_image_free(&p);
	/* One category: [p] means [p, 1-p]. */
	assert_int_equal(parse(&s1, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': [0.9]}]}", "a.png", nosize, &p, err), 0);
	assert_int_equal(p.e[0].nprobs, 2);
	assert_float_equal(p.e[0].probs[1], 1.0 - 0.9, 0);
	pred_image_free(&p);
	/* Three categories: a single value is an error. */
	assert_int_equal(parse(&s3, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': [0.9]}]}", "a.png", nosize, &p, err), -EINVAL);
	assert_string_equal(err, "p/a.json: predictions[0].probabilities: length 1, the schema has 3 categories");
	assert_int_equal(parse(&s3, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': 0.9}]}", "a.png", nosize, &p, err), -EINVAL);
	assert_string_equal(err, "p/a.json: predictions[0].probabilities: a single value, the schema has 3 categories");
	/* The single value is still range-checked. */
	assert_int_equal(parse(&s2, "{'file_name': 'a.png', 'predictions': "
			     "[{'category_id': 0, 'probabilities': [1.5]}]}", "a.png", nosize, &p, err), -EINVAL);
	assert_string_equal(err, "p/a.json: predictions[0].probabilities[0]: 1.5 is not in [0, 1]");
	task_schema_free(&s1);
	task_schema_free(&s2);
	task_schema_free(&s3);
}

static void test_detection(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };

	make_schema(&s, "object-detection", 3);
	assert_int_equal(parse(&s, "{'file_name': 'a.jpg', 'predictions': ["
			     "{'category_id': 2, 'bbox': [10, 20.5, 30, 40], 'score': 0.9},"
			     "{'category_id': 0, 'bbox': [0, 0, 1, 1], 'score': 0.25, 'probabilities': [0.25, 0.5, 0.25]},"
			     "{'category_id': 1, 'bbox': [1, 2, 3, 4], 'score': 1, 'segmentation': 'ignored'}]}",
			     "a.jpg", nosize, &p, err), 0);
	assert_true(p.has_file);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.e[0].category_id, 2);
	assert_float_equal(p.e[0].score, 0.9, 0);
	assert_null(p.e[0].probs);
	assert_int_equal(p.e[0].nprobs, 0);
	assert_float_equal(p.e[0].bbox[0], 10, 0);
	assert_float_equal(p.e[0].bbox[1], 20.5, 0);
	assert_float_equal(p.e[0].bbox[2], 30, 0);
	assert_float_equal(p.e[0].bbox[3], 40, 0);
	assert_int_equal(p.e[1].nprobs, 3);
	assert_float_equal(p.e[1].probs[1], 0.5, 0);
	assert_float_equal(p.e[2].score, 1.0, 0);
	pred_image_free(&p);
	task_schema_free(&s);
}

static void test_segmentation(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size size = { 5, 2 }, nosize = { 0, 0 };
	/* 5x2 row-major: 3 zeros, 2 ones | 4 zeros, 1 one: 3 pixels set. */
	const char *t = "{'file_name': 'a.png', 'predictions': ["
			"{'category_id': 1, 'segmentation': [3, 2, 4, 1], 'score': 0.5},"
			"{'category_id': 0, 'segmentation': [0, 10], 'score': 0.75, 'probabilities': [0.75, 0.25]}]}";

	make_schema(&s, "semantic-segmentation", 2);
	assert_int_equal(parse(&s, t, "a.png", size, &p, err), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.e[0].pixels, 3);
	assert_float_equal(p.e[0].score, 0.5, 0);
	assert_null(p.e[0].probs);
	assert_int_equal(p.e[1].pixels, 10);
	assert_int_equal(p.e[1].nprobs, 2);
	pred_image_free(&p);
	/* The size is unknown: any sum is taken. */
	assert_int_equal(parse(&s, "{'file_name': 'a.png', 'predictions': ["
			     "{'category_id': 1, 'segmentation': [1, 7, 100000, 5, 3], 'score': 0.5}]}",
			     "a.png", nosize, &p, err), 0);
	assert_int_equal(p.e[0].pixels, 12);
	pred_image_free(&p);
	/* Known size, wrong sum. */
	struct img_size big = { 160, 120 };
	assert_int_equal(parse(&s, "{'file_name': 'a.png', 'predictions': ["
			     "{'category_id': 1, 'segmentation': [1000, 200], 'score': 0.5}]}",
			     "a.png", big, &p, err), -EINVAL);
	assert_string_equal(err, "p/a.json: predictions[0].segmentation: the runs sum to 1200, "
			    "the image has 160x120 = 19200 pixels");
	task_schema_free(&s);
}

static void test_keypoints(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };

	make_schema(&s, "keypoint-detection", 1);
	assert_int_equal(parse(&s, "{'file_name': 'k/a.webp', 'predictions': ["
			     "{'category_id': 0, 'keypoints': [1, 2, 0.5, 3, 4, 1, 5, 6, 0], 'score': 0.8},"
			     "{'category_id': 0, 'keypoints': [0, 0, 0.125], 'score': 0}]}",
			     "k/a.webp", nosize, &p, err), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.e[0].nkp, 3);
	assert_float_equal(p.e[0].kp_conf[0], 0.5, 0);
	assert_float_equal(p.e[0].kp_conf[1], 1.0, 0);
	assert_float_equal(p.e[0].kp_conf[2], 0.0, 0);
	assert_float_equal(p.e[0].score, 0.8, 0);
	assert_int_equal(p.e[1].nkp, 1);
	assert_float_equal(p.e[1].kp_conf[0], 0.125, 0);
	assert_null(p.e[1].probs);
	pred_image_free(&p);
	task_schema_free(&s);
}

/* ---- every error class of a prediction file names the file and the field ---- */

struct err_case {
	const char *type;
	int ncats;
	const char *text;
	const char *want;	/* the whole message */
};

static void test_file_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "classification", 4, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [0.5, 0.5, 0]}]}",
		  "p/a.json: predictions[0].probabilities: length 3, the schema has 4 categories" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [0.5, 0.3, 0.1]}]}",
		  "p/a.json: predictions[0].probabilities: the values sum to 0.9, not 1 (within 1e-3)" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [1.1, -0.1, 0]}]}",
		  "p/a.json: predictions[0].probabilities[0]: 1.1 is not in [0, 1]" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [0.6, -0.1, 0.5]}]}",
		  "p/a.json: predictions[0].probabilities[1]: -0.1 is not in [0, 1]" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [1e999, 0, 0]}]}",
		  "p/a.json: predictions[0].probabilities[0]: not a finite number" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [0.5, '0.5', 0]}]}",
		  "p/a.json: predictions[0].probabilities[1]: \"0.5\" is not a number" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0}]}",
		  "p/a.json: predictions[0].probabilities: missing" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'probabilities': [1, 0, 0]}]}",
		  "p/a.json: predictions[0].category_id: missing" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 7, 'probabilities': [1, 0, 0]}]}",
		  "p/a.json: predictions[0].category_id: 7 is not a category of the schema (0, 1, 2)" },
		{ "classification", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': -1, 'probabilities': [1, 0, 0]}]}",
		  "p/a.json: predictions[0].category_id: -1 is negative" },
		{ "classification", 12, "{'file_name': 'a.png', 'predictions': [{'category_id': 12, 'probabilities': [1,0,0,0,0,0,0,0,0,0,0,0]}]}",
		  "p/a.json: predictions[0].category_id: 12 is not a category of the schema (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... 12 in all)" },
		{ "classification", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [1, 0]}, {'category_id': 1, 'probabilities': [0, 1]}]}",
		  "p/a.json: predictions: 2 entries; classification takes exactly one" },
		{ "classification", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'category_id': 1, 'probabilities': [1, 0]}]}",
		  "p/a.json: predictions[0].category_id: given twice" },
		{ "classification", 2, "{'file_name': 'b.png', 'predictions': []}",
		  "p/a.json: file_name \"b.png\" is not the image's path \"a.png\"" },
		{ "classification", 2, "{'predictions': []}", "p/a.json: file_name: missing" },
		{ "classification", 2, "{'file_name': 1, 'predictions': []}", "p/a.json: file_name: 1 is not a string" },
		{ "classification", 2, "{'file_name': 'a.png'}", "p/a.json: predictions: missing" },
		{ "classification", 2, "{'file_name': 'a.png', 'predictions': {}}",
		  "p/a.json: predictions: an object is not an array" },
		{ "classification", 2, "{'file_name': 'a.png', 'predictions': [[]]}",
		  "p/a.json: predictions[0]: an array is not an object" },
		{ "classification", 2, "[]", "p/a.json: the top level is not an object" },
		{ "classification", 2, "{'file_name': 'a.png',\n  'predictions': [\n    {'category_id' 0}]}",
		  "p/a.json: invalid JSON at line 3, column 20" },
		{ "classification", 2, "{'file_name': 'a.png', 'predictions': []} {}",
		  "p/a.json: invalid JSON: text after the value at line 1, column 43" },
		{ "classification", 2, "  \n ", "p/a.json: empty file" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, -3, 4], 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox: width -3 is not > 0" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, 0], 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox: height 0 is not > 0" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [-1, 2, 3, 4], 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox: x -1 is negative" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3], 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox: length 3, not 4 ([x, y, w, h])" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, null], 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox[3]: null is not a number" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, 4]}]}",
		  "p/a.json: predictions[0].score: missing" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'score': 0.5}]}",
		  "p/a.json: predictions[0].bbox: missing" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, 4], 'score': 1.0000001}]}",
		  "p/a.json: predictions[0].score: 1.0000001 is not in [0, 1]" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, 4], 'score': -0.5}]}",
		  "p/a.json: predictions[0].score: -0.5 is not in [0, 1]" },
		{ "object-detection", 3, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'bbox': [1, 2, 3, 4], 'score': 0.5}, "
		  "{'category_id': 1, 'bbox': [1, 2, 3, 4], 'score': 0.5, 'probabilities': [0.5, 0.5]}]}",
		  "p/a.json: predictions[1].probabilities: length 2, the schema has 3 categories" },
		{ "semantic-segmentation", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'segmentation': [1, -2], 'score': 0.5}]}",
		  "p/a.json: predictions[0].segmentation[1]: -2 is negative" },
		{ "semantic-segmentation", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'segmentation': [1, 2.5], 'score': 0.5}]}",
		  "p/a.json: predictions[0].segmentation[1]: 2.5 is not an integer" },
		{ "semantic-segmentation", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'segmentation': {'size': [2, 5], 'counts': 'abc'}, 'score': 0.5}]}",
		  "p/a.json: predictions[0].segmentation: an object is not an array of run lengths (Lightly's row-major RLE)" },
		{ "semantic-segmentation", 2, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'segmentation': [], 'score': 0.5}]}",
		  "p/a.json: predictions[0].segmentation: no runs" },
		{ "keypoint-detection", 1, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [1, 2], 'score': 0.5}]}",
		  "p/a.json: predictions[0].keypoints: length 2 is not a positive multiple of 3" },
		{ "keypoint-detection", 1, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [], 'score': 0.5}]}",
		  "p/a.json: predictions[0].keypoints: length 0 is not a positive multiple of 3" },
		{ "keypoint-detection", 1, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [1, 2, 0.5, 3, 4, 1.5], 'score': 0.5}]}",
		  "p/a.json: predictions[0].keypoints[5]: confidence 1.5 is not in [0, 1]" },
		{ "keypoint-detection", 1, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [1, -2, 0.5], 'score': 0.5}]}",
		  "p/a.json: predictions[0].keypoints[1]: y -2 is negative" },
		{ "keypoint-detection", 1, "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'keypoints': [1, 2, 0.5]}]}",
		  "p/a.json: predictions[0].score: missing" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct task_schema s;
		struct pred_image p;
		char err[ERRLEN];
		struct img_size nosize = { 0, 0 };

		make_schema(&s, cases[i].type, cases[i].ncats);
		int rc = parse(&s, cases[i].text, "a.png", nosize, &p, err);
		if (rc != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: rc %d, \"%s\"\n  want \"%s\"", i, rc, err, cases[i].want);
		/* A failed parse leaves nothing to free. */
		assert_int_equal(p.n, 0);
		assert_null(p.e);
		assert_false(p.has_file);
		task_schema_free(&s);
	}
}

/* Bytes JSON forbids, passed with explicit lengths. */
static void test_bad_bytes(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };
	const char nul[] = "{\"file_name\": \"a.png\0x\", \"predictions\": []}";
	const char latin1[] = "{\"file_name\": \"caf\xe9.png\", \"predictions\": []}";

	make_schema(&s, "classification", 2);
	assert_int_equal(predict_parse_file(nul, sizeof(nul) - 1, "p/a.json", "a.png", &s, nosize,
					    &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "p/a.json: invalid JSON: a NUL byte at line 1, column 21");
	assert_int_equal(predict_parse_file(latin1, sizeof(latin1) - 1, "p/a.json", "a.png", &s,
					    nosize, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "p/a.json: the text is not valid UTF-8");
	/* The text need not be NUL-terminated: parse a prefix of a longer buffer. */
	const char *t = "{\"file_name\": \"a.png\", \"predictions\": []}GARBAGE";
	assert_int_equal(predict_parse_file(t, strlen(t) - 7, "p/a.json", "a.png", &s, nosize, &p,
					    err, sizeof(err)), 0);
	assert_true(p.has_file);
	assert_int_equal(p.n, 0);
	pred_image_free(&p);
	/* A too small err buffer is cut, not overrun. */
	char small[12];
	assert_int_equal(predict_parse_file("[]", 2, "p/a.json", "a.png", &s, nosize, &p, small,
					    sizeof(small)), -EINVAL);
	assert_string_equal(small, "p/a.json: t");
	assert_int_equal(predict_parse_file("[]", 2, "p/a.json", "a.png", &s, nosize, &p, NULL, 0),
			 -EINVAL);
	task_schema_free(&s);
}

static void test_deep_nesting(void **state)
{
	struct task_schema s;
	struct pred_image p;
	char err[ERRLEN];
	struct img_size nosize = { 0, 0 };
	size_t depth = 100000;
	char *t = xmalloc(5 * depth + 64);
	size_t n = 0;

	make_schema(&s, "classification", 2);
	for (size_t i = 0; i < depth; i++)
		t[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		t[n++] = ']';
	assert_int_equal(predict_parse_file(t, n, "p/a.json", "a.png", &s, nosize, &p, err,
					    sizeof(err)), -EINVAL);
	assert_string_equal(err, "p/a.json: JSON nested deeper than 64 levels at line 1, column 65");
	/* Unbalanced, objects: the same. */
	n = 0;
	for (size_t i = 0; i < depth; i++) {
		memcpy(t + n, "{\"a\":", 5);
		n += 5;
	}
	assert_int_equal(predict_parse_file(t, n, "p/a.json", "a.png", &s, nosize, &p, err,
					    sizeof(err)), -EINVAL);
	assert_contains(err, "nested deeper than 64 levels");
	/* Brackets inside strings do not nest; 64 real levels are fine for the scan. */
	struct buf b = { 0 };
	buf_puts(&b, "{\"file_name\": \"a.png\", \"x\": \"");
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, "[{\\\"");
	buf_puts(&b, "\", \"y\": ");
	for (int i = 0; i < 63; i++)
		buf_puts(&b, "[");
	for (int i = 0; i < 63; i++)
		buf_puts(&b, "]");
	buf_puts(&b, ", \"predictions\": []}");
	assert_int_equal(predict_parse_file(b.data, b.len, "p/a.json", "a.png", &s, nosize, &p, err,
					    sizeof(err)), 0);
	pred_image_free(&p);
	buf_free(&b);
	/* Through the schema parser too. */
	task_schema_free(&s);
	assert_int_equal(predict_parse_schema(t, n, "s.json", &s, err, sizeof(err)), -EINVAL);
	assert_contains(err, "s.json: JSON nested deeper than 64 levels");
	free(t);
}

/* ---- loading a task from a datasource ---- */

static void test_load_task(void **state)
{
	char *root = mkroot("load");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "a.png");
	img(root, "b.jpg");
	img(root, "sub/c.png");
	img(root, "sub/d.png");
	schema_put(root, "cls", "classification", 2);
	jput(root, ".lightly/predictions/cls/a.json",
	     "{'file_name': 'a.png', 'predictions': [{'category_id': 0, 'probabilities': [0.6, 0.4]}]}");
	/* b.jpg: no file. sub/c.png: empty predictions. */
	jput(root, ".lightly/predictions/cls/sub/c.json", "{'file_name': 'sub/c.png', 'predictions': []}");
	jput(root, ".lightly/predictions/cls/sub/d.json",
	     "{'file_name': 'sub/d.png', 'predictions': [{'category_id': 1, 'probabilities': 0.3}]}");
	open_ds(root, &ds);
	assert_int_equal(ds.files.n, 4);
	for (int threads = 1; threads <= 4; threads *= 2) {
		assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, ds.files.n, threads,
						   &t, err, sizeof(err)), 0);
		assert_string_equal(t.name, "cls");
		assert_int_equal(t.schema.type, TASK_CLASSIFICATION);
		assert_int_equal(t.nimg, 4);
		assert_true(t.img[0].has_file);
		assert_int_equal(t.img[0].n, 1);
		assert_float_equal(t.img[0].e[0].probs[0], 0.6, 0);
		assert_false(t.img[1].has_file);
		assert_int_equal(t.img[1].n, 0);
		assert_true(t.img[2].has_file);
		assert_int_equal(t.img[2].n, 0);
		assert_true(t.img[3].has_file);
		assert_int_equal(t.img[3].e[0].category_id, 1);
		assert_int_equal(t.img[3].e[0].nprobs, 2);
		assert_float_equal(t.img[3].e[0].probs[1], 0.7, 1e-12);
		assert_int_equal(t.files_ignored, 0);
		task_preds_free(&t);
		assert_null(t.img);
	}
	task_preds_free(&t);	/* twice: a no-op */
	/* No images at all. */
	assert_int_equal(predict_load_task(&ds, "cls", NULL, NULL, 0, 2, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nimg, 0);
	assert_int_equal(t.files_ignored, 3);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);
}

/* The error of a file read from the datasource names it by its path from the root. */
static void test_load_errors(void **state)
{
	char *root = mkroot("loaderr");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "sub/img_1.png");
	img(root, "seg.png");
	schema_put(root, "cls", "classification", 4);
	jput(root, ".lightly/predictions/cls/sub/img_1.json",
	     "{'file_name': 'sub/img_1.png', 'predictions': [{'category_id': 0, 'probabilities': [0.5, 0.5, 0]}]}");
	schema_put(root, "fn", "classification", 2);
	jput(root, ".lightly/predictions/fn/sub/img_1.json", "{'file_name': 'img_1.png', 'predictions': []}");
	schema_put(root, "seg", "semantic-segmentation", 2);
	jput(root, ".lightly/predictions/seg/seg.json",
	     "{'file_name': 'seg.png', 'predictions': [{'category_id': 0, 'segmentation': [1000, 200], 'score': 0.5}]}");
	open_ds(root, &ds);

	char *paths1[] = { "sub/img_1.png" };
	assert_int_equal(predict_load_task(&ds, "cls", paths1, NULL, 1, 2, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/cls/sub/img_1.json: predictions[0].probabilities: "
			    "length 3, the schema has 4 categories");
	assert_null(t.img);
	assert_null(t.name);
	assert_int_equal(predict_load_task(&ds, "fn", paths1, NULL, 1, 1, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/fn/sub/img_1.json: file_name \"img_1.png\" is not "
			    "the image's path \"sub/img_1.png\"");

	/* The sizes given decide the RLE check: 160x120 fails, unknown passes. */
	char *paths2[] = { "seg.png" };
	struct img_size sz = { 160, 120 }, unknown = { 0, 0 };
	assert_int_equal(predict_load_task(&ds, "seg", paths2, &sz, 1, 1, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/seg/seg.json: predictions[0].segmentation: the runs "
			    "sum to 1200, the image has 160x120 = 19200 pixels");
	assert_int_equal(predict_load_task(&ds, "seg", paths2, &unknown, 1, 1, &t, err, sizeof(err)), 0);
	assert_int_equal(t.img[0].e[0].pixels, 200);
	task_preds_free(&t);

	/* Task names that are not one folder. */
	const char *bad[] = { "", ".", "..", "../x", "a/b", "x\ny" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		assert_int_equal(predict_load_task(&ds, bad[i], paths1, NULL, 1, 1, &t, err, sizeof(err)),
				 -EINVAL);
		assert_contains(err, "not a folder name of .lightly/predictions");
	}
	dataset_close(&ds);
	free(root);
}

/* With several bad files, the first in path order is reported, whatever the threads do. */
static void test_first_error_in_path_order(void **state)
{
	char *root = mkroot("order");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];
	const size_t n = 300;

	schema_put(root, "det", "object-detection", 2);
	for (size_t i = 0; i < n; i++) {
		char name[64], rel[128], *text;
		snprintf(name, sizeof(name), "i%04zu.png", i);
		img(root, name);
		snprintf(rel, sizeof(rel), ".lightly/predictions/det/i%04zu.json", i);
		/* Bad from 137 on, every third. */
		double w = i >= 137 && i % 3 == 2 ? -1.0 : 2.0;
		text = xasprintf("{'file_name': '%s', 'predictions': [{'category_id': %zu, "
				 "'bbox': [0, 0, %g, 3], 'score': 0.5}]}", name, i % 2, w);
		jput(root, rel, text);
		free(text);
	}
	open_ds(root, &ds);
	assert_int_equal(ds.files.n, n);
	for (int round = 0; round < 5; round++) {
		assert_int_equal(predict_load_task(&ds, "det", ds.files.v, NULL, n, 4, &t, err,
						   sizeof(err)), -EINVAL);
		assert_string_equal(err, ".lightly/predictions/det/i0137.json: predictions[0].bbox: "
				    "width -1 is not > 0");
	}
	/* The first 137 alone load, all of them. */
	assert_int_equal(predict_load_task(&ds, "det", ds.files.v, NULL, 137, 4, &t, err, sizeof(err)), 0);
	for (size_t i = 0; i < 137; i++) {
		assert_true(t.img[i].has_file);
		assert_int_equal(t.img[i].n, 1);
		assert_int_equal(t.img[i].e[0].category_id, (long)(i % 2));
	}
	/* The other 163 files belong to no image given. */
	assert_int_equal(t.files_ignored, n - 137);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);
}

static void test_extension_collision(void **state)
{
	char *root = mkroot("collide");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "x/a.jpg");
	img(root, "x/a.png");
	img(root, "z.png");
	schema_put(root, "cls", "classification", 2);
	open_ds(root, &ds);
	/* Even with no prediction file at all. */
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, ds.files.n, 2, &t, err,
					   sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/cls/x/a.json: the images \"x/a.jpg\" and "
			    "\"x/a.png\" both map to this prediction file (their paths differ only in extension)");
	/* Only one of them a candidate: fine. */
	char *one[] = { "x/a.png", "z.png" };
	assert_int_equal(predict_load_task(&ds, "cls", one, NULL, 2, 2, &t, err, sizeof(err)), 0);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);

	/* An image at the top named schema.*: its file would be the schema. */
	root = mkroot("schemaimg");
	img(root, "schema.png");
	img(root, "sub/schema.png");
	schema_put(root, "cls", "classification", 2);
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, ds.files.n, 1, &t, err,
					   sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/cls/schema.json: the image \"schema.png\" would "
			    "have the task's schema as its prediction file");
	char *sub[] = { "sub/schema.png" };
	assert_int_equal(predict_load_task(&ds, "cls", sub, NULL, 1, 1, &t, err, sizeof(err)), 0);
	assert_false(t.img[0].has_file);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);
}

static void test_files_ignored(void **state)
{
	char *root = mkroot("ignored");
	char outside[4096];
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "a.png");
	img(root, "deep/b.png");
	schema_put(root, "cls", "classification", 2);
	jput(root, ".lightly/predictions/cls/a.json", "{'file_name': 'a.png', 'predictions': []}");
	jput(root, ".lightly/predictions/cls/deep/b.json", "{'file_name': 'deep/b.png', 'predictions': []}");
	/* Counted: files of images that are not candidates, at any depth. */
	jput(root, ".lightly/predictions/cls/gone.json", "{}");
	jput(root, ".lightly/predictions/cls/deep/gone.json", "{}");
	jput(root, ".lightly/predictions/cls/deep/er/gone.json", "not even JSON");
	/* Not counted: the schema, other files, dot files, other tasks. */
	jput(root, ".lightly/predictions/cls/README.md", "x");
	jput(root, ".lightly/predictions/cls/.hidden.json", "{}");
	jput(root, ".lightly/predictions/cls/.dir/x.json", "{}");
	jput(root, ".lightly/predictions/other/z.json", "{}");
	/* Not counted: a link to a file outside; a link to a folder (not followed). */
	snprintf(outside, sizeof(outside), "%s/../outside_ignored.json", root);
	put_bytes(root, "../outside_ignored.json", "{}", 2);
	char *lp = xasprintf("%s/.lightly/predictions/cls/escape.json", root);
	assert_int_equal(symlink(outside, lp), 0);
	free(lp);
	lp = xasprintf("%s/.lightly/predictions/cls/linkdir", root);
	assert_int_equal(symlink(".", lp), 0);
	free(lp);
	/* Counted: a link to a file inside the root. */
	lp = xasprintf("%s/.lightly/predictions/cls/inside.json", root);
	assert_int_equal(symlink("a.json", lp), 0);
	free(lp);

	open_ds(root, &ds);
	assert_int_equal(ds.files.n, 2);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), 0);
	assert_int_equal(t.files_ignored, 4);
	task_preds_free(&t);
	/* Only a.png a candidate: deep/b.json counts too. */
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 1, 2, &t, err, sizeof(err)), 0);
	assert_int_equal(t.files_ignored, 5);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);
}

/* A link named like a file, in the task folder. */
static void link_at(const char *root, const char *target, const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(symlink(target, p), 0);
	free(dir);
	free(p);
}

static void test_symlink_escape(void **state)
{
	char *root = mkroot("escape"), *out = mkroot("escape_outside");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];
	char *target;

	img(root, "a.png");
	img(root, "b.png");
	schema_put(root, "cls", "classification", 2);
	/* A valid file outside the root: it must not be read. */
	jput(out, "a.json", "{'file_name': 'a.png', 'predictions': []}");
	target = xasprintf("%s/a.json", out);
	link_at(root, target, ".lightly/predictions/cls/a.json");
	free(target);
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), -EXDEV);
	assert_string_equal(err, ".lightly/predictions/cls/a.json: leaves the datasource (a symbolic "
			    "link or \"..\" pointing outside the root)");
	assert_null(t.img);
	/* A relative link that climbs out: the same. */
	char *lp = xasprintf("%s/.lightly/predictions/cls/a.json", root);
	assert_int_equal(unlink(lp), 0);
	free(lp);
	link_at(root, "../../../../escape_outside/a.json", ".lightly/predictions/cls/a.json");
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 1, &t, err, sizeof(err)), -EXDEV);
	assert_contains(err, ".lightly/predictions/cls/a.json: leaves the datasource");
	dataset_close(&ds);
	free(root);

	/* The schema through a link that leaves. */
	root = mkroot("escape2");
	img(root, "a.png");
	schema_put(out, "cls", "classification", 2);
	target = xasprintf("%s/.lightly/predictions/cls/schema.json", out);
	link_at(root, target, ".lightly/predictions/cls/schema.json");
	free(target);
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 1, 1, &t, err, sizeof(err)), -EXDEV);
	assert_string_equal(err, ".lightly/predictions/cls/schema.json: leaves the datasource (a symbolic "
			    "link or \"..\" pointing outside the root)");
	dataset_close(&ds);
	free(root);

	/* A whole task folder linked out of the root: nothing in it is read or counted. */
	root = mkroot("escape3");
	img(root, "a.png");
	jput(out, ".lightly/predictions/cls/a.json", "{'file_name': 'a.png', 'predictions': []}");
	jput(out, ".lightly/predictions/cls/other.json", "{}");
	target = xasprintf("%s/.lightly/predictions/cls", out);
	link_at(root, target, ".lightly/predictions/cls");
	free(target);
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 1, 1, &t, err, sizeof(err)), -EXDEV);
	assert_contains(err, ".lightly/predictions/cls/schema.json: leaves the datasource");
	dataset_close(&ds);
	free(root);
	free(out);
}

/* A task folder linked elsewhere inside the root is followed, for reads and the count alike. */
static void test_task_folder_link_inside(void **state)
{
	char *root = mkroot("dirlink");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "a.png");
	schema_put(root, "real", "keypoint-detection", 1);
	jput(root, ".lightly/predictions/real/a.json", "{'file_name': 'a.png', 'predictions': "
	     "[{'category_id': 0, 'keypoints': [1, 1, 0.5], 'score': 0.5}]}");
	jput(root, ".lightly/predictions/real/other.json", "{}");
	link_at(root, "real", ".lightly/predictions/kp");
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "kp", ds.files.v, NULL, 1, 1, &t, err, sizeof(err)), 0);
	assert_int_equal(t.img[0].e[0].nkp, 1);
	assert_int_equal(t.files_ignored, 1);
	task_preds_free(&t);
	dataset_close(&ds);
	free(root);
}

static void test_large_file(void **state)
{
	char *root = mkroot("large");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "a.png");
	img(root, "b.png");
	schema_put(root, "cls", "classification", 2);
	jput(root, ".lightly/predictions/cls/a.json", "{'file_name': 'a.png', 'predictions': []}");
	jput(root, ".lightly/predictions/cls/b.json", "");
	/* Sparse: 64 MiB + 1 byte of nothing, no disk used. */
	char *p = xasprintf("%s/.lightly/predictions/cls/b.json", root);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)PREDICT_MAX_FILE_BYTES + 1), 0);
	close(fd);
	open_ds(root, &ds);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, ".lightly/predictions/cls/b.json: larger than 64 MiB, refused");
	/*
	 * Just below is read (and then fails as JSON: all NUL bytes). Exactly
	 * 64 MiB is refused too: dataset_read cannot tell EOF at max_bytes.
	 */
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)PREDICT_MAX_FILE_BYTES - 1), 0);
	close(fd);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/cls/b.json: invalid JSON: a NUL byte at line 1, column 1");
	assert_int_equal(unlink(p), 0);
	/* A folder where a file should be. */
	assert_int_equal(mkdir_p(p, 0755), 0);
	free(p);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, ".lightly/predictions/cls/b.json: a folder, not a file");
	/* A FIFO where a file should be: refused at once, never read (it would block). */
	p = xasprintf("%s/.lightly/predictions/cls/b.json", root);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	assert_int_equal(predict_load_task(&ds, "cls", ds.files.v, NULL, 2, 2, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/cls/b.json: not a regular file");
	/* tasks.json too big. */
	jput(root, ".lightly/predictions/tasks.json", "");
	p = xasprintf("%s/.lightly/predictions/tasks.json", root);
	assert_int_equal(truncate(p, (off_t)PREDICT_MAX_FILE_BYTES + 1), 0);
	free(p);
	struct strvec tasks = { 0 };
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, ".lightly/predictions/tasks.json: larger than 64 MiB, refused");
	assert_int_equal(tasks.n, 0);
	dataset_close(&ds);
	free(root);
}

static void test_tasks_json(void **state)
{
	char *root = mkroot("tasks");
	struct dataset ds;
	struct strvec tasks = { 0 };
	char err[ERRLEN];

	img(root, "a.png");
	open_ds(root, &ds);
	/* Absent: no predictions, no message needed. */
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), -ENOENT);
	assert_int_equal(tasks.n, 0);

	jput(root, ".lightly/predictions/tasks.json", "['zeta', 'alpha', 'caf\xc3\xa9', 'with space', '.x']");
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), 0);
	assert_int_equal(tasks.n, 5);
	assert_string_equal(tasks.v[0], "zeta");	/* file order */
	assert_string_equal(tasks.v[1], "alpha");
	assert_string_equal(tasks.v[2], "caf\xc3\xa9");
	assert_string_equal(tasks.v[4], ".x");
	strvec_free(&tasks);

	jput(root, ".lightly/predictions/tasks.json", "[]");
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), 0);
	assert_int_equal(tasks.n, 0);

	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "['a', 'b'", ".lightly/predictions/tasks.json: invalid JSON at line 1, column 9" },
		{ "{'tasks': ['a']}", ".lightly/predictions/tasks.json: the top level is not an array of task names" },
		{ "['a', 3]", ".lightly/predictions/tasks.json: [1]: 3 is not a string" },
		{ "['a', '']", ".lightly/predictions/tasks.json: [1]: \"\" is not a task folder name "
		  "(empty, \".\", \"..\", a \"/\" or a control character)" },
		{ "['.']", ".lightly/predictions/tasks.json: [0]: \".\" is not a task folder name" },
		{ "['..']", ".lightly/predictions/tasks.json: [0]: \"..\" is not a task folder name" },
		{ "['a/b']", ".lightly/predictions/tasks.json: [0]: \"a/b\" is not a task folder name" },
		{ "['/abs']", ".lightly/predictions/tasks.json: [0]: \"/abs\" is not a task folder name" },
		{ "['a\\nb']", ".lightly/predictions/tasks.json: [0]: \"a\\nb\" is not a task folder name" },
		{ "['a', 'b', 'a']", ".lightly/predictions/tasks.json: [2]: \"a\" is listed twice" },
		{ "['b', 'z', 'y', 'z', 'b']", ".lightly/predictions/tasks.json: [3]: \"z\" is listed twice" },
		{ "", ".lightly/predictions/tasks.json: empty file" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		jput(root, ".lightly/predictions/tasks.json", cases[i].text);
		err[0] = '\0';
		int rc = predict_list_tasks(&ds, &tasks, err, sizeof(err));
		if (rc != -EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: rc %d, \"%s\"\n  want \"%s\"", i, rc, err, cases[i].want);
		assert_int_equal(tasks.n, 0);	/* untouched on error */
	}
	/* Deep nesting, without a crash. */
	char *deep = xmalloc(100001);
	memset(deep, '[', 100000);
	deep[100000] = '\0';
	put_bytes(root, ".lightly/predictions/tasks.json", deep, 100000);
	free(deep);
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/tasks.json: JSON nested deeper than 64 levels "
			    "at line 1, column 65");
	/* A link out of the root. */
	char *out = mkroot("tasks_outside");
	jput(out, "tasks.json", "['a']");
	char *p = xasprintf("%s/.lightly/predictions/tasks.json", root), *target = xasprintf("%s/tasks.json", out);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(target, p), 0);
	free(p);
	free(target);
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), -EXDEV);
	assert_contains(err, ".lightly/predictions/tasks.json: leaves the datasource");
	dataset_close(&ds);
	free(out);
	free(root);
}

static void test_schema_missing(void **state)
{
	char *root = mkroot("noschema");
	struct dataset ds;
	struct strvec tasks = { 0 };
	struct task_schema s;
	struct task_preds t;
	char err[ERRLEN];

	img(root, "a.png");
	jput(root, ".lightly/predictions/tasks.json", "['det', 'empty']");
	/* det has prediction files but no schema; empty has no folder at all. */
	jput(root, ".lightly/predictions/det/a.json", "{'file_name': 'a.png', 'predictions': []}");
	open_ds(root, &ds);
	assert_int_equal(predict_list_tasks(&ds, &tasks, err, sizeof(err)), 0);
	assert_int_equal(tasks.n, 2);
	assert_int_equal(predict_load_schema(&ds, "det", &s, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, ".lightly/predictions/det: missing schema.json");
	assert_null(s.cats);
	assert_int_equal(predict_load_task(&ds, "empty", ds.files.v, NULL, 1, 1, &t, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, ".lightly/predictions/empty: missing schema.json");
	/* A schema that is there but invalid names itself. */
	jput(root, ".lightly/predictions/det/schema.json", "{'task_type': 'object-detection', 'categories': []}");
	assert_int_equal(predict_load_task(&ds, "det", ds.files.v, NULL, 1, 1, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ".lightly/predictions/det/schema.json: categories: empty; a task needs "
			    "at least one category");
	jput(root, ".lightly/predictions/det/schema.json",
	     "{'task_type': 'object-detection', 'categories': [{'id': 5, 'name': 'car'}]}");
	assert_int_equal(predict_load_schema(&ds, "det", &s, err, sizeof(err)), 0);
	assert_int_equal(s.type, TASK_OBJECT_DETECTION);
	assert_int_equal(s.cats[0].id, 5);
	task_schema_free(&s);
	strvec_free(&tasks);
	dataset_close(&ds);
	free(root);
}

/* Many files on many threads: every image gets its own predictions (ASan/TSan fodder). */
static void test_parallel_load(void **state)
{
	char *root = mkroot("parallel");
	struct dataset ds;
	struct task_preds t;
	char err[ERRLEN];
	const size_t n = 500;

	schema_put(root, "seg", "semantic-segmentation", 3);
	for (size_t i = 0; i < n; i++) {
		char name[64], rel[128];
		snprintf(name, sizeof(name), "d%zu/s%04zu.bmp", i % 7, i);
		img(root, name);
		if (i % 5 == 4)
			continue;	/* no file */
		snprintf(rel, sizeof(rel), ".lightly/predictions/seg/d%zu/s%04zu.json", i % 7, i);
		/* 4x(i+1) pixels, i % 4 + 1 of them set per segment, i % 3 segments. */
		struct buf b = { 0 };
		buf_printf(&b, "{'file_name': '%s', 'predictions': [", name);
		for (size_t k = 0; k < i % 3; k++)
			buf_printf(&b, "%s{'category_id': %zu, 'segmentation': [1, %zu, %zu], 'score': 0.5}",
				   k ? ", " : "", k, i % 4 + 1, 4 * (i + 1) - 1 - (i % 4 + 1));
		buf_puts(&b, "]}");
		jput(root, rel, b.data);
		buf_free(&b);
	}
	open_ds(root, &ds);
	assert_int_equal(ds.files.n, n);
	struct img_size *sizes = xcalloc(n, sizeof(*sizes));
	for (size_t j = 0; j < n; j++) {
		size_t i = (size_t)strtoul(strrchr(ds.files.v[j], 's') + 1, NULL, 10);
		sizes[j].w = 4;
		sizes[j].h = (uint32_t)(i + 1);
	}
	assert_int_equal(predict_load_task(&ds, "seg", ds.files.v, sizes, n, 8, &t, err, sizeof(err)), 0);
	for (size_t j = 0; j < n; j++) {
		size_t i = (size_t)strtoul(strrchr(ds.files.v[j], 's') + 1, NULL, 10);
		assert_int_equal(t.img[j].has_file, i % 5 != 4);
		assert_int_equal(t.img[j].n, i % 5 == 4 ? 0 : i % 3);
		for (size_t k = 0; k < t.img[j].n; k++) {
			assert_int_equal(t.img[j].e[k].category_id, (long)k);
			assert_int_equal(t.img[j].e[k].pixels, i % 4 + 1);
		}
	}
	assert_int_equal(t.files_ignored, 0);
	task_preds_free(&t);
	free(sizes);
	dataset_close(&ds);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_score_table),
		cmocka_unit_test(test_schema_valid),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_classification),
		cmocka_unit_test(test_binary_probabilities),
		cmocka_unit_test(test_detection),
		cmocka_unit_test(test_segmentation),
		cmocka_unit_test(test_keypoints),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_load_task),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_first_error_in_path_order),
		cmocka_unit_test(test_extension_collision),
		cmocka_unit_test(test_files_ignored),
		cmocka_unit_test(test_symlink_escape),
		cmocka_unit_test(test_task_folder_link_inside),
		cmocka_unit_test(test_large_file),
		cmocka_unit_test(test_tasks_json),
		cmocka_unit_test(test_schema_missing),
		cmocka_unit_test(test_parallel_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
