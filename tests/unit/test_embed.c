/* Tests of lib/embed.c: CSV reader errors, writer round trip, descriptor, normalisation, PCA. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "embed.h"
#include "util.h"

static int parse(const char *text, struct emb_table *t, char *err)
{
	return emb_table_parse(text, strlen(text), "e.csv", t, err, 512);
}

static void test_csv_ok(void **state)
{
	struct emb_table t;
	char err[512];
	const char *csv = "filenames,embedding_0,embedding_1,labels\r\n"
			  "b.jpg,1.5,-2,0\r\n"
			  "a.jpg,0.1,1e-3,7\n";

	assert_int_equal(parse(csv, &t, err), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.d, 2);
	assert_int_equal(emb_table_find(&t, "a.jpg"), 1);
	assert_int_equal(emb_table_find(&t, "b.jpg"), 0);
	assert_int_equal(emb_table_find(&t, "c.jpg"), -1);
	assert_true(t.rows[0] == 1.5 && t.rows[1] == -2.0);
	assert_true(t.rows[2] == 0.1 && t.rows[3] == 1e-3);

	/* The writer round-trips every double exactly. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	double rows[] = { 0.1, 1.0 / 3.0, -1e-300, 123456789.123456789 };
	char *names[] = { "x.png", "y.png" };
	assert_int_equal(emb_csv_write(f, names, NULL, 2, rows, 2), 0);
	fclose(f);
	struct emb_table u;
	assert_int_equal(parse(buf, &u, err), 0);
	assert_memory_equal(u.rows, rows, sizeof(rows));
	assert_string_equal(u.names[1], "y.png");
	free(buf);
	emb_table_free(&u);
	emb_table_free(&t);
}

static void expect_error(const char *csv, const char *needle)
{
	struct emb_table t;
	char err[512];

	assert_int_equal(parse(csv, &t, err), -EINVAL);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_csv_errors(void **state)
{
	expect_error("name,embedding_0,labels\na,1,0\n", "must start with \"filenames\"");
	expect_error("filenames,embedding_0\na,1\n", "\"labels\"");
	expect_error("filenames,embedding_1,labels\na,1,0\n", "expected \"embedding_0\"");
	expect_error("filenames,labels\n", "no embedding_N columns");
	expect_error("filenames,embedding_0,labels\na,nan,0\n", "line 2: embedding_0: nan is not finite");
	expect_error("filenames,embedding_0,labels\na,1,0\nb,inf,0\n", "line 3: embedding_0: inf is not finite");
	expect_error("filenames,embedding_0,labels\na,x1,0\n", "\"x1\" is not a number");
	expect_error("filenames,embedding_0,labels\na,,0\n", "empty value");
	expect_error("filenames,embedding_0,embedding_1,labels\na,1,0\n", "3 fields, expected 4");
	expect_error("filenames,embedding_0,labels\na,1,0,5\n", "more than 3 fields");
	expect_error("filenames,embedding_0,labels\na,1,0\n\nb,2,0\n", "line 3: empty row");
	expect_error("filenames,embedding_0,labels\na,1,0\nb,2,0\na,3,0\n", "a is named twice");
	expect_error("filenames,embedding_0,labels\n,1,0\n", "empty file name");
}

static void fill_thumb(struct img_thumb *t, int kind)
{
	for (int y = 0; y < THUMB_SIZE; y++)
		for (int x = 0; x < THUMB_SIZE; x++) {
			float v;
			switch (kind) {
			case 0: v = x < THUMB_SIZE / 2 ? 20.0f : 230.0f; break;	/* vertical edge */
			case 1: v = y < THUMB_SIZE / 2 ? 20.0f : 230.0f; break;	/* horizontal edge */
			default: v = x < THUMB_SIZE / 2 ? 60.0f : 170.0f; break;	/* weaker vertical */
			}
			for (int c = 0; c < 3; c++)
				t->rgb[3 * (y * THUMB_SIZE + x) + c] = v;
		}
}

static double dist(const double *a, const double *b)
{
	double s = 0;
	for (int i = 0; i < DESC_DIM; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return sqrt(s);
}

static void test_descriptor(void **state)
{
	static struct img_thumb a, b, c;
	double da[DESC_DIM], da2[DESC_DIM], db[DESC_DIM], dc[DESC_DIM];

	fill_thumb(&a, 0);
	fill_thumb(&b, 1);
	fill_thumb(&c, 2);
	embed_descriptor(&a, da);
	embed_descriptor(&a, da2);
	embed_descriptor(&b, db);
	embed_descriptor(&c, dc);
	assert_memory_equal(da, da2, sizeof(da));	/* deterministic */
	for (int i = 0; i < DESC_DIM; i++)
		assert_true(isfinite(da[i]));
	/* Same layout at another contrast is closer than another layout. */
	assert_true(dist(da, dc) < dist(da, db));
	/* A flat image has no layout or gradient part, only colour. */
	static struct img_thumb flat;
	double df[DESC_DIM];
	for (size_t i = 0; i < ARRAY_LEN(flat.rgb); i++)
		flat.rgb[i] = 128.0f;
	embed_descriptor(&flat, df);
	for (int i = 0; i < DESC_GREY + DESC_HOG; i++)
		assert_true(df[i] == 0.0);
	assert_true(df[DESC_GREY + DESC_HOG] > 0.0);
}

static void test_normalize(void **state)
{
	double rows[] = { 3, 4, 0, 0, -1, 0 };

	assert_int_equal(embed_normalize(rows, 3, 2), 1);
	assert_true(fabs(rows[0] - 0.6) < 1e-15 && fabs(rows[1] - 0.8) < 1e-15);
	assert_true(rows[2] == 0 && rows[3] == 0);
	assert_true(rows[4] == -1 && rows[5] == 0);
}

static void test_pca(void **state)
{
	/* Points along (1,1,0) with small spread along (0,0,1): x follows t, y the spread. */
	enum { N = 50 };
	double rows[N * 3], xy[N * 2], smean = 0;
	/* s is symmetric in i and t antisymmetric, so they are uncorrelated. */
	for (int i = 0; i < N; i++)
		smean += ((i < N - 1 - i ? i : N - 1 - i) % 2 ? 0.1 : -0.1) / N;
	for (int i = 0; i < N; i++) {
		double t = i - 24.5, s = ((i < N - 1 - i ? i : N - 1 - i) % 2 ? 0.1 : -0.1);
		rows[3 * i] = 5 + t;
		rows[3 * i + 1] = -2 + t;
		rows[3 * i + 2] = s;
	}
	embed_pca2d(rows, N, 3, xy);
	for (int i = 0; i < N; i++) {
		double t = (i - 24.5) * sqrt(2.0);
		assert_true(fabs(xy[2 * i] - t) < 1e-9);	/* largest loading positive: +t */
		double sc = rows[3 * i + 2] - smean;
		/* The second axis is z; its sign follows its (only) loading, positive. */
		assert_true(fabs(xy[2 * i + 1] - sc) < 1e-9);
	}
	/* Degenerate inputs do not crash. */
	embed_pca2d(rows, 0, 3, xy);
	double one[3] = { 1, 2, 3 }, xy1[2] = { 9, 9 };
	embed_pca2d(one, 1, 3, xy1);
	assert_true(xy1[0] == 0 && xy1[1] == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_ok),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_pca),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
