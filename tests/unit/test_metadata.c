/*
 * Tests of lib/metadata.c: Lightly's .lightly/metadata files read for the
 * keys asked, nested key paths, schema.json's types and defaults, how
 * category values are named, every error naming its file (and field), and
 * hostile files (huge, deep, Inf, long strings). The expected values are
 * written out by hand from SPEC 3 (the class names of numbers are %.17g's
 * text, as Python's '%.17g' % x gives them).
 *
 * Each test builds its own datasource folder in the cwd (a fresh temp dir
 * given by tests/run.sh); JSON is written with ' for ".
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataset.h"
#include "metadata.h"
#include "predict.h"
#include "util.h"

#define ERRLEN 1024

/* Writes root/rel (folders created), every ' of text turned into ". */
static void put(const char *root, const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", root, rel), *t = xstrdup(text);

	for (char *p = t; *p; p++)
		*p = *p == '\'' ? '"' : *p;
	*strrchr(path, '/') = '\0';
	assert_int_equal(mkdir_p(path, 0755), 0);
	path[strlen(path)] = '/';
	assert_int_equal(write_file_replace(path, t, strlen(t)), 0);
	free(t);
	free(path);
}

/* A datasource root in the cwd holding the images names[] (their bytes do not matter). */
static char *setup(const char *name, struct dataset *ds, const char *const *images, size_t n)
{
	char cwd[2048], err[ERRLEN];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *root = xasprintf("%s/%s", cwd, name);
	for (size_t i = 0; i < n; i++)
		put(root, images[i], "x");
	assert_int_equal(dataset_open(ds, root), 0);
	assert_int_equal(dataset_list(ds, NULL, err, sizeof(err)), 0);
	assert_int_equal(ds->files.n, n);
	return root;
}

static const char *const abc[] = { "a.png", "c.png", "sub/b.jpg" };

/* Loads req over the listed images; expects rc, and err (when rc < 0). */
static void load(const struct dataset *ds, const struct meta_request *req, size_t nreq,
		 struct meta_column *out, int rc, const char *want_err)
{
	char err[ERRLEN] = "";

	assert_int_equal(metadata_load(ds, ds->files.v, ds->files.n, req, nreq, 3, out, err,
				       sizeof(err)), rc);
	if (want_err != NULL)
		assert_string_equal(err, want_err);
}

static void test_nested_and_kinds(void **state)
{
	struct dataset ds;
	char *root = setup("nested", &ds, abc, 3);
	struct meta_column col[5];
	const struct meta_request req[] = {
		{ "weather.temp", META_NUMERIC },
		{ "scene", META_CATEGORY },
		{ "flag", META_CATEGORY },
		{ "n", META_CATEGORY },
		{ "weather.temp", META_CATEGORY },
	};

	put(root, ".lightly/metadata/a.json",
	    "{'file_name': 'a.png', 'type': 'image', 'metadata': {'weather': {'temp': 10.5, "
	    "'wind': 'x'}, 'scene': 'highway', 'flag': true, 'n': 3, 'other': [1, {}]}}");
	put(root, ".lightly/metadata/sub/b.json",
	    "{'file_name': 'sub/b.jpg', 'type': 'image', 'metadata': {'weather': {'temp': -2e0}, "
	    "'scene': 'city \\u00e9', 'flag': false, 'n': 0.1}}");
	/* c.png: no file, no values. */
	load(&ds, req, 5, col, 0, NULL);
	/* Path order: a.png, c.png, sub/b.jpg. */
	assert_true(col[0].has[0] && !col[0].has[1] && col[0].has[2]);
	assert_true(col[0].num[0] == 10.5 && col[0].num[2] == -2.0);
	assert_int_equal(col[0].kind, META_NUMERIC);
	assert_string_equal(col[0].key, "weather.temp");

	assert_int_equal(col[1].classes.n, 2);
	assert_string_equal(col[1].classes.v[0], "city \xc3\xa9");
	assert_string_equal(col[1].classes.v[1], "highway");
	assert_true(col[1].has[0] && !col[1].has[1] && col[1].has[2]);
	assert_int_equal(col[1].cat[0], 1);
	assert_int_equal(col[1].cat[2], 0);

	assert_int_equal(col[2].classes.n, 2);
	assert_string_equal(col[2].classes.v[0], "false");
	assert_string_equal(col[2].classes.v[1], "true");
	assert_int_equal(col[2].cat[0], 1);
	assert_int_equal(col[2].cat[2], 0);

	/* Numbers as %.17g: 0.1 is not exactly 1/10. */
	assert_int_equal(col[3].classes.n, 2);
	assert_string_equal(col[3].classes.v[0], "0.10000000000000001");
	assert_string_equal(col[3].classes.v[1], "3");
	assert_int_equal(col[3].cat[0], 1);

	assert_int_equal(col[4].classes.n, 2);
	assert_string_equal(col[4].classes.v[0], "-2");
	assert_string_equal(col[4].classes.v[1], "10.5");
	for (size_t k = 0; k < 5; k++)
		meta_column_free(&col[k]);
	meta_column_free(NULL);
	dataset_close(&ds);
	free(root);
}

static void test_schema_types_and_defaults(void **state)
{
	struct dataset ds;
	char *root = setup("schema", &ds, abc, 3);
	struct meta_column col[3];
	const struct meta_request req[] = {
		{ "weather.temp", META_NUMERIC },
		{ "scene", META_CATEGORY },
		{ "speed", META_NUMERIC },
	};

	put(root, ".lightly/metadata/schema.json",
	    "[{'name': 'Temperature', 'path': 'weather.temp', 'defaultValue': 20, "
	    "'valueDataType': 'NUMERIC_FLOAT'},"
	    " {'name': 'Scene', 'path': 'scene', 'defaultValue': 'unknown', "
	    "'valueDataType': 'CATEGORICAL_STRING'},"
	    " {'name': 'Speed', 'path': 'speed', 'valueDataType': 'NUMERIC_INT'},"
	    " {'name': 'Unused', 'path': 'x', 'defaultValue': [1], 'valueDataType': 'OTHER_STRING'}]");
	put(root, ".lightly/metadata/a.json",
	    "{'file_name': 'a.png', 'type': 'image', 'metadata': {'weather': {'temp': 1.5}, "
	    "'speed': 7}}");
	put(root, ".lightly/metadata/sub/b.json",
	    "{'file_name': 'sub/b.jpg', 'type': 'image', 'metadata': {'scene': 'city'}}");
	load(&ds, req, 3, col, 0, NULL);
	/* a: its own temp; c (no file) and b (no temp): the default 20. */
	for (size_t i = 0; i < 3; i++)
		assert_true(col[0].has[i]);
	assert_true(col[0].num[0] == 1.5 && col[0].num[1] == 20.0 && col[0].num[2] == 20.0);
	/* The default is a class like any value. */
	assert_int_equal(col[1].classes.n, 2);
	assert_string_equal(col[1].classes.v[0], "city");
	assert_string_equal(col[1].classes.v[1], "unknown");
	assert_int_equal(col[1].cat[0], 1);
	assert_int_equal(col[1].cat[1], 1);
	assert_int_equal(col[1].cat[2], 0);
	/* No default: no value. */
	assert_true(col[2].has[0] && !col[2].has[1] && !col[2].has[2]);
	assert_true(col[2].num[0] == 7.0);
	for (size_t k = 0; k < 3; k++)
		meta_column_free(&col[k]);

	/* schema.json is never an image's metadata file, even for schema.png. */
	const char *const imgs[] = { "schema.png" };
	struct dataset ds2;
	char *root2 = setup("schema_img", &ds2, imgs, 1);
	put(root2, ".lightly/metadata/schema.json",
	    "[{'name': 'S', 'path': 'scene', 'valueDataType': 'CATEGORICAL_STRING'}]");
	load(&ds2, &req[1], 1, col, 0, NULL);
	assert_false(col[0].has[0]);
	assert_int_equal(col[0].classes.n, 0);
	meta_column_free(&col[0]);
	dataset_close(&ds2);
	free(root2);
	dataset_close(&ds);
	free(root);
}

static void test_schema_errors(void **state)
{
	static const struct {
		const char *schema, *err;
	} cases[] = {
		{ "{}", ".lightly/metadata/schema.json: the top level is not an array of keys" },
		{ "[1]", ".lightly/metadata/schema.json: [0]: 1 is not an object" },
		{ "[{'name': 'T', 'valueDataType': 'NUMERIC_INT'}]",
		  ".lightly/metadata/schema.json: [0].path: missing" },
		{ "[{'name': 'T', 'path': 'temp', 'valueDataType': 'NUMERIC'}]",
		  ".lightly/metadata/schema.json: [0].valueDataType: \"NUMERIC\" is not NUMERIC_INT, "
		  "NUMERIC_FLOAT, CATEGORICAL_INT, CATEGORICAL_STRING, CATEGORICAL_BOOLEAN or "
		  "OTHER_STRING" },
		{ "[{'name': 5, 'path': 'temp', 'valueDataType': 'NUMERIC_INT'}]",
		  ".lightly/metadata/schema.json: [0].name: 5 is not a string" },
		{ "[{'path': 'temp', 'valueDataType': 'CATEGORICAL_INT'}]",
		  ".lightly/metadata/schema.json: [0].valueDataType: the key \"temp\" is "
		  "CATEGORICAL_INT, not numeric as its use needs" },
		{ "[{'path': 'temp', 'valueDataType': 'NUMERIC_INT', 'defaultValue': 'warm'}]",
		  ".lightly/metadata/schema.json: [0].defaultValue: \"warm\" is not a number" },
		{ "[{'path': 'temp', 'valueDataType': 'NUMERIC_INT', 'defaultValue': 1e999}]",
		  ".lightly/metadata/schema.json: [0].defaultValue: not a finite number" },
		{ "[{'path': 'temp', 'valueDataType': 'NUMERIC_INT'}, "
		  "{'path': 'temp', 'valueDataType': 'NUMERIC_INT'}]",
		  ".lightly/metadata/schema.json: [1].path: \"temp\" is listed twice" },
		{ "[{'path': 'temp', 'path': 'x', 'valueDataType': 'NUMERIC_INT'}]",
		  ".lightly/metadata/schema.json: [0].path: given twice" },
		{ "[1 2]", ".lightly/metadata/schema.json: invalid JSON at line 1, column 4" },
	};
	struct dataset ds;
	char *root = setup("schema_err", &ds, abc, 3);
	struct meta_column col[1];
	const struct meta_request req[] = { { "temp", META_NUMERIC } };

	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		put(root, ".lightly/metadata/schema.json", cases[c].schema);
		load(&ds, req, 1, col, -EINVAL, cases[c].err);
		assert_null(col[0].has);
	}
	/* A numeric schema type for a category use. */
	put(root, ".lightly/metadata/schema.json",
	    "[{'path': 'temp', 'valueDataType': 'NUMERIC_FLOAT'}]");
	const struct meta_request cat[] = { { "temp", META_CATEGORY } };
	load(&ds, cat, 1, col, -EINVAL, ".lightly/metadata/schema.json: [0].valueDataType: the key "
	     "\"temp\" is NUMERIC_FLOAT, not a category as its use needs");
	dataset_close(&ds);
	free(root);
}

static void test_file_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'temp': 1}",
		  "B: invalid JSON at line 1, column 50" },
		{ "[]", "B: the top level is not an object" },
		{ "{'metadata': {}}", "B: file_name: missing" },
		{ "{'file_name': 7, 'metadata': {}}", "B: file_name: 7 is not a string" },
		{ "{'file_name': 'sub/b.png', 'metadata': {}}",
		  "B: file_name \"sub/b.png\" is not the image's path \"sub/b.jpg\"" },
		{ "{'file_name': 'sub/b.jpg', 'file_name': 'sub/b.jpg', 'metadata': {}}",
		  "B: file_name: given twice" },
		{ "{'file_name': 'sub/b.jpg', 'type': 'video', 'metadata': {}}",
		  "B: type: \"video\" is not \"image\"" },
		{ "{'file_name': 'sub/b.jpg'}", "B: metadata: missing" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': [1]}", "B: metadata: an array is not an object" },
		/* Without a schema a numeric key must hold a number in every file. */
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': '10'}}}",
		  "B: metadata.w.temp: \"10\" is not a number" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': true}}}",
		  "B: metadata.w.temp: true is not a number" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': null}}}",
		  "B: metadata.w.temp: null is not a number" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': 1e999}}}",
		  "B: metadata.w.temp: not a finite number" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': -1e999}}}",
		  "B: metadata.w.temp: not a finite number" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': 'sunny'}}",
		  "B: metadata.w: \"sunny\" is not an object (key path w.temp)" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': 1, 'temp': 2}}}",
		  "B: metadata.w.temp: given twice" },
		/* JSON has no NaN: an invalid file. */
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'w': {'temp': NaN}}}",
		  "B: invalid JSON at line 1, column 55" },
		{ "", "B: empty file" },
	};
	static const struct {
		const char *text, *err;
	} cat_cases[] = {
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'s': [1]}}",
		  "B: metadata.s: an array is not a category (a string, number or boolean)" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'s': {}}}",
		  "B: metadata.s: an object is not a category (a string, number or boolean)" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'s': null}}",
		  "B: metadata.s: null is not a category (a string, number or boolean)" },
		{ "{'file_name': 'sub/b.jpg', 'metadata': {'s': 1e400}}",
		  "B: metadata.s: not a finite number" },
	};
	struct dataset ds;
	char *root = setup("file_err", &ds, abc, 3);
	struct meta_column col[2];
	const struct meta_request req[] = { { "w.temp", META_NUMERIC } };
	const struct meta_request cat[] = { { "s", META_CATEGORY } };
	const char *label = ".lightly/metadata/sub/b.json";

	put(root, ".lightly/metadata/a.json",
	    "{'file_name': 'a.png', 'metadata': {'w': {'temp': 3}, 's': 'x'}}");
	for (size_t c = 0; c < ARRAY_LEN(cases) + ARRAY_LEN(cat_cases); c++) {
		bool is_cat = c >= ARRAY_LEN(cases);
		const char *text = is_cat ? cat_cases[c - ARRAY_LEN(cases)].text : cases[c].text;
		const char *want = is_cat ? cat_cases[c - ARRAY_LEN(cases)].err : cases[c].err;
		char *full = xasprintf("%s%s", label, want + 1);
		put(root, label, text);
		load(&ds, is_cat ? cat : req, 1, col, -EINVAL, full);
		assert_null(col[0].has);
		free(full);
	}
	dataset_close(&ds);
	free(root);
}

static void test_only_asked_keys(void **state)
{
	struct dataset ds;
	char *root = setup("only", &ds, abc, 3);
	struct meta_column col[1];
	const struct meta_request req[] = { { "ok", META_NUMERIC } };

	/* Keys not asked for may hold anything, Inf included. */
	put(root, ".lightly/metadata/a.json",
	    "{'file_name': 'a.png', 'extra': 1, 'metadata': {'ok': 0.25, 'bad': 1e999, "
	    "'deep': {'x': [null, {'y': 'z'}]}, 'temp': 'warm'}}");
	load(&ds, req, 1, col, 0, NULL);
	assert_true(col[0].has[0] && col[0].num[0] == 0.25);
	assert_false(col[0].has[1]);
	meta_column_free(&col[0]);
	/* No keys: no file is read, so even a broken one does not matter. */
	put(root, ".lightly/metadata/c.json", "{");
	load(&ds, req, 0, col, 0, NULL);
	dataset_close(&ds);
	free(root);
}

static void test_bad_keys(void **state)
{
	static const struct {
		const char *key, *err;
	} cases[] = {
		{ "", "metadata key \"\": empty" },
		{ "a..b", "metadata key \"a..b\": an empty component" },
		{ ".a", "metadata key \".a\": an empty component" },
		{ "a.", "metadata key \"a.\": an empty component" },
		{ "lightly.sharpness", "metadata key \"lightly.sharpness\": computed by winnow, "
		  "not read from files" },
		{ "a\xff", "metadata key \"a\\xff\": not valid UTF-8" },
	};
	struct dataset ds;
	char *root = setup("keys", &ds, abc, 3);
	struct meta_column col[1];

	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		const struct meta_request req[] = { { cases[c].key, META_NUMERIC } };
		load(&ds, req, 1, col, -EINVAL, cases[c].err);
	}
	struct buf b = { 0 };
	for (int i = 0; i < META_KEY_PARTS + 1; i++)
		buf_puts(&b, i ? ".k" : "k");
	const struct meta_request many[] = { { b.data, META_NUMERIC } };
	char err[ERRLEN];
	assert_int_equal(metadata_load(&ds, ds.files.v, 3, many, 1, 1, col, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ": more than 32 components"));
	buf_free(&b);
	char longkey[META_KEY_MAX + 2];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	const struct meta_request lng[] = { { longkey, META_NUMERIC } };
	assert_int_equal(metadata_load(&ds, ds.files.v, 3, lng, 1, 1, col, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ": longer than 256 bytes"));
	/* Exactly at the limits is fine. */
	longkey[META_KEY_MAX] = '\0';
	assert_int_equal(metadata_load(&ds, ds.files.v, 3, lng, 1, 1, col, err, sizeof(err)), 0);
	meta_column_free(&col[0]);
	/* The computed names round-trip. */
	for (int m = 0; m < META_COMPUTED_COUNT; m++)
		assert_int_equal(metadata_computed_parse(metadata_computed_name(m)), m);
	assert_string_equal(metadata_computed_name(META_UNIFORM_ROW_RATIO), "lightly.uniformRowRatio");
	assert_int_equal(metadata_computed_parse("lightly.foo"), -1);
	assert_null(metadata_computed_name(META_COMPUTED_COUNT));
	dataset_close(&ds);
	free(root);
}

static void test_hostile(void **state)
{
	struct dataset ds;
	char *root = setup("hostile", &ds, abc, 3);
	struct meta_column col[1];
	const struct meta_request req[] = { { "s", META_CATEGORY } };
	const char *label = ".lightly/metadata/c.json";
	char *path = xasprintf("%s/%s", root, label);

	/* Sparse: 64 MiB + 1 byte, refused before it is read. */
	put(root, label, "");
	assert_int_equal(truncate(path, (off_t)PREDICT_MAX_FILE_BYTES + 1), 0);
	load(&ds, req, 1, col, -EFBIG, ".lightly/metadata/c.json: larger than 64 MiB, refused");
	/* Deep nesting is refused before it is parsed. */
	struct buf b = { 0 };
	buf_puts(&b, "{\"file_name\": \"c.png\", \"metadata\": {\"s\": ");
	for (int i = 0; i < 100000; i++)
		buf_puts(&b, "[");
	assert_int_equal(write_file_replace(path, b.data, b.len), 0);
	load(&ds, req, 1, col, -EINVAL,
	     ".lightly/metadata/c.json: JSON nested deeper than 64 levels at line 1, column 104");
	buf_free(&b);
	/* A category longer than the cap; one at the cap is fine. */
	for (int over = 1; over >= 0; over--) {
		buf_puts(&b, "{\"file_name\": \"c.png\", \"metadata\": {\"s\": \"");
		for (int i = 0; i < META_CATEGORY_MAX + over; i++)
			buf_puts(&b, "x");
		buf_puts(&b, "\"}}");
		assert_int_equal(write_file_replace(path, b.data, b.len), 0);
		buf_free(&b);
		load(&ds, req, 1, col, over ? -EINVAL : 0,
		     over ? ".lightly/metadata/c.json: metadata.s: a category longer than 1024 bytes"
			  : NULL);
		if (!over) {
			assert_int_equal(strlen(col[0].classes.v[0]), META_CATEGORY_MAX);
			meta_column_free(&col[0]);
		}
	}
	/* Invalid UTF-8 and NUL bytes. */
	assert_int_equal(write_file_replace(path, "{\"file_name\": \"c\xff\"}", 19), 0);
	load(&ds, req, 1, col, -EINVAL, ".lightly/metadata/c.json: the text is not valid UTF-8");
	/* A folder where the file should be. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir_p(path, 0755), 0);
	load(&ds, req, 1, col, -EISDIR, ".lightly/metadata/c.json: a folder, not a file");
	assert_int_equal(rmdir(path), 0);
	/* A link out of the root. */
	assert_int_equal(symlink("/etc/hostname", path), 0);
	load(&ds, req, 1, col, -EXDEV, ".lightly/metadata/c.json: leaves the datasource "
	     "(a symbolic link or \"..\" pointing outside the root)");
	free(path);
	dataset_close(&ds);
	free(root);
}

/* Many images, several invalid: the first in path order is reported, whatever the threads. */
static void test_first_error_in_path_order(void **state)
{
	const size_t n = 200;
	char **names = xcalloc(n, sizeof(*names));
	struct dataset ds;
	struct meta_column col[1];
	const struct meta_request req[] = { { "v", META_NUMERIC } };

	for (size_t i = 0; i < n; i++)
		names[i] = xasprintf("i%03zu.png", i);
	char *root = setup("order", &ds, (const char *const *)names, n);
	for (size_t i = 0; i < n; i++) {
		char *rel = xasprintf(".lightly/metadata/i%03zu.json", i);
		char *text = xasprintf("{'file_name': '%s', 'metadata': {'v': %s}}", names[i],
				       i == 57 || i == 130 || i == 199 ? "'bad'" : "1.5");
		put(root, rel, text);
		free(rel);
		free(text);
	}
	for (int rep = 0; rep < 5; rep++)
		load(&ds, req, 1, col, -EINVAL,
		     ".lightly/metadata/i057.json: metadata.v: \"bad\" is not a number");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	dataset_close(&ds);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_and_kinds),
		cmocka_unit_test(test_schema_types_and_defaults),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_only_asked_keys),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_first_error_in_path_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
