/* Tests of lib/embed.c: CSV reader errors (also across parallel chunks), exact values, writer round trip, descriptor, normalisation, PCA. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	assert_int_equal(emb_csv_write(f, names, NULL, 2, rows, 2, 1), 0);
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

/* splitmix64 with a fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* One value as some writer would print it: %.17g, shortest-ish, numpy's %.18e, fixed, subnormal. */
static void print_value(struct buf *b)
{
	double v = ((double)(rnd() >> 11) / 9007199254740992.0 - 0.5) * 4;
	char s[64];

	switch (rnd() % 8) {
	case 0: snprintf(s, sizeof(s), "%.17g", v); break;
	case 1: snprintf(s, sizeof(s), "%.16g", v); break;
	case 2: snprintf(s, sizeof(s), "%.18e", v); break;
	case 3: snprintf(s, sizeof(s), "%.6f", v); break;
	case 4: snprintf(s, sizeof(s), "%.17g", ldexp(v, -1060)); break;	/* subnormal */
	case 5: snprintf(s, sizeof(s), "%.17g", ldexp(v, (int)(rnd() % 200) - 100)); break;
	case 6: snprintf(s, sizeof(s), "%s", rnd() % 2 ? "-0" : "0.0"); break;
	default: snprintf(s, sizeof(s), "%.25g", v); break;	/* more than 19 digits */
	}
	buf_puts(b, s);
}

/* A CSV of n rows x d dims, names r<i> in shuffled order; line ends LF or CRLF. */
static void make_csv(struct buf *b, size_t n, size_t d, bool crlf)
{
	buf_puts(b, "filenames");
	for (size_t j = 0; j < d; j++)
		buf_printf(b, ",embedding_%zu", j);
	buf_puts(b, crlf ? ",labels\r\n" : ",labels\n");
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, "r%zu", (i * 7919) % n);
		for (size_t j = 0; j < d; j++) {
			buf_puts(b, ",");
			print_value(b);
		}
		buf_puts(b, crlf ? ",0\r\n" : ",0\n");
	}
}

/*
 * A CSV of several megabytes (so several chunks parsed in parallel) gives the
 * values strtod gives for each field, bit for bit, on 1 and on 4 threads.
 */
static void test_csv_large_exact(void **state)
{
	struct buf b = { 0 };
	size_t n = 40000, d = 24;
	char err[512];

	make_csv(&b, n, d, false);
	assert_true(b.len > 3 * ((size_t)1 << 20));
	struct emb_table t1, t4;
	assert_int_equal(emb_table_parse_mt(b.data, b.len, "g.csv", 1, &t1, err, sizeof(err)), 0);
	assert_int_equal(emb_table_parse_mt(b.data, b.len, "g.csv", 4, &t4, err, sizeof(err)), 0);
	assert_int_equal(t1.n, n);
	assert_int_equal(t4.n, n);
	assert_int_equal(t1.d, d);
	assert_memory_equal(t1.rows, t4.rows, n * d * sizeof(double));

	/* The reference: strtod on every field, walking the text independently. */
	const char *p = strchr(b.data, '\n') + 1;
	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(p, ',');
		assert_int_equal((size_t)(c - p), strlen(t4.names[i]));
		assert_memory_equal(p, t4.names[i], strlen(t4.names[i]));
		p = c + 1;
		for (size_t j = 0; j < d; j++) {
			char *ep;
			double want = strtod(p, &ep);
			assert_true(*ep == ',');
			if (memcmp(&want, &t4.rows[i * d + j], sizeof(double)) != 0)
				fail_msg("row %zu col %zu \"%.*s\": %a, strtod %a", i, j,
					 (int)(ep - p), p, t4.rows[i * d + j], want);
			p = ep + 1;
		}
		p = strchr(p, '\n') + 1;
	}
	assert_int_equal(emb_table_find(&t4, "r0"), 0);
	assert_int_equal(emb_table_find(&t4, "r7919"), 1);

	/* Written with the fast formatter and read again: the same bits. */
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);
	assert_int_equal(emb_csv_write(f, t4.names, NULL, t4.n, t4.rows, d, 2), 0);
	fclose(f);
	struct emb_table u;
	assert_int_equal(emb_table_parse(out, olen, "o.csv", &u, err, sizeof(err)), 0);
	assert_memory_equal(u.rows, t4.rows, n * d * sizeof(double));
	emb_table_free(&u);
	/* On 1 and 3 threads (chunks written in order whoever formats them): the same bytes. */
	for (int th = 1; th <= 3; th += 2) {
		char *o2 = NULL;
		size_t l2 = 0;
		f = open_memstream(&o2, &l2);
		assert_int_equal(emb_csv_write(f, t4.names, NULL, t4.n, t4.rows, d, th), 0);
		fclose(f);
		assert_int_equal(l2, olen);
		assert_memory_equal(o2, out, olen);
		free(o2);
	}
	free(out);
	/* A subset through idx, in its order (every third row, backwards). */
	size_t *idx = xmalloc(n * sizeof(*idx)), m = 0;
	for (size_t i = n; i-- > 0;)
		if (i % 3 == 0)
			idx[m++] = i;
	f = open_memstream(&out, &olen);
	assert_int_equal(emb_csv_write(f, t4.names, idx, m, t4.rows, d, 2), 0);
	fclose(f);
	assert_int_equal(emb_table_parse(out, olen, "s.csv", &u, err, sizeof(err)), 0);
	assert_int_equal(u.n, m);
	for (size_t i = 0; i < m; i++) {
		long r = emb_table_find(&u, t4.names[idx[i]]);
		assert_int_equal(r, (long)i);
		assert_memory_equal(u.rows + (size_t)r * d, t4.rows + idx[i] * d, d * sizeof(double));
	}
	free(idx);
	free(out);
	emb_table_free(&u);
	emb_table_free(&t1);
	emb_table_free(&t4);

	/* CRLF line ends and a final empty line are read the same. */
	rng_state = 7;
	struct buf c = { 0 };
	make_csv(&c, n, d, true);
	buf_puts(&c, "\r\n");
	assert_int_equal(emb_table_parse_mt(c.data, c.len, "c.csv", 3, &t1, err, sizeof(err)), 0);
	assert_int_equal(t1.n, n);
	emb_table_free(&t1);
	buf_free(&c);
	buf_free(&b);
}

/* Inserts text at the start of line `line` (1 = the header) of b's text. */
static char *with_line(const struct buf *b, size_t line, const char *text)
{
	const char *p = b->data;

	for (size_t l = 1; l < line; l++)
		p = strchr(p, '\n') + 1;
	return xasprintf("%.*s%s%s", (int)(p - b->data), b->data, text, p);
}

/*
 * In a multi-chunk CSV the error reported is the first in the file, with its
 * line number, whichever chunk a thread finished first.
 */
static void test_csv_large_errors(void **state)
{
	struct buf b = { 0 };
	size_t n = 30000, d = 16;
	char err[512];
	struct emb_table t;

	rng_state = 11;
	make_csv(&b, n, d, false);
	static const struct {
		size_t line;
		const char *row, *want;
	} cases[] = {
		{ 25001, "x,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,nan,0\n",
		  "line 25001: embedding_15: nan is not finite" },
		{ 20000, "y,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,0\n", "line 20000: 17 fields, expected 18" },
		{ 17777, "\n", "line 17777: empty row" },
		{ 29999, "z,1,2,3,4,5,6,7,8,9,10,11,12,13,14,1e999,16,0\n",
		  "line 29999: embedding_14: 1e999 is not finite" },
		{ 3, "w,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,1.5.5,0\n",
		  "line 3: embedding_15: \"1.5.5\" is not a number" },
		{ 28000, "r5,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,0\n", "is named twice" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *text = with_line(&b, cases[i].line, cases[i].row);
		assert_int_equal(emb_table_parse_mt(text, strlen(text), "e.csv", 4, &t, err,
						    sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("error \"%s\" does not contain \"%s\"", err, cases[i].want);
		free(text);
	}
	/* Two errors far apart: the earlier one is named, on any number of threads. */
	char *one = with_line(&b, 29000, "a,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,0,9\n");
	char *two = with_line(&(struct buf){ .data = one, .len = strlen(one) }, 9000,
			      "b,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,inf,0\n");
	for (int th = 1; th <= 4; th++) {
		assert_int_equal(emb_table_parse_mt(two, strlen(two), "e.csv", th, &t, err,
						    sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "line 9000: embedding_15: inf is not finite"));
	}
	/*
	 * Every row from line 9000 on is bad, so the chunks after the first bad
	 * one fail at once, before it does: the first in the file is still named.
	 */
	struct buf bad = { 0 };
	const char *p = b.data;
	for (size_t l = 1; l <= n + 1; l++) {
		const char *e = strchr(p, '\n') + 1;
		if (l < 9000) {
			buf_append(&bad, p, (size_t)(e - p));
		} else {
			const char *last = e - 3;	/* ",0\n" */
			while (last[-1] != ',')
				last--;
			buf_append(&bad, p, (size_t)(last - p));
			buf_puts(&bad, "nan,0\n");
		}
		p = e;
	}
	for (int th = 2; th <= 4; th++) {
		assert_int_equal(emb_table_parse_mt(bad.data, bad.len, "e.csv", th, &t, err,
						    sizeof(err)), -EINVAL);
		if (strstr(err, "line 9000: embedding_15: nan is not finite") == NULL)
			fail_msg("error \"%s\" names another line than 9000", err);
	}
	buf_free(&bad);

	/* strtod's other spellings are still taken (and still checked). */
	char *hex = with_line(&b, 2, "h, 0x1p-2,+.5,1e-400,4,5,6,7,8,9,10,11,12,13,14,15,16,0\n");
	assert_int_equal(emb_table_parse_mt(hex, strlen(hex), "e.csv", 2, &t, err, sizeof(err)), 0);
	long h = emb_table_find(&t, "h");
	assert_true(h >= 0 && t.rows[h * d] == 0.25 && t.rows[h * d + 1] == 0.5 &&
		    t.rows[h * d + 2] == 0.0);
	emb_table_free(&t);
	free(hex);
	free(one);
	free(two);
	buf_free(&b);
}

/* Parses text from a file through emb_table_read_fd with the given block size. */
static int read_via_fd(const char *text, size_t len, size_t block, XXH128_hash_t *hash,
		       struct emb_table *t, char *err, size_t errlen)
{
	char path[] = "/tmp/test_embed_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	size_t saved = emb_read_block_bytes;
	emb_read_block_bytes = block;
	int rc = emb_table_read_fd(fd, "e.csv", 3, hash, t, err, errlen);
	emb_read_block_bytes = saved;
	close(fd);
	return rc;
}

/* Reading from a file in blocks gives what parsing the whole text gives: rows, names, errors. */
static void expect_same_streamed(const char *text, size_t block)
{
	struct emb_table a, b;
	char ea[512] = "", eb[512] = "";
	XXH128_hash_t h;
	int ra = emb_table_parse_mt(text, strlen(text), "e.csv", 2, &a, ea, sizeof(ea));
	int rb = read_via_fd(text, strlen(text), block, &h, &b, eb, sizeof(eb));

	if (ra != rb || strcmp(ea, eb) != 0)
		fail_msg("block %zu: in memory %d \"%s\", streamed %d \"%s\"", block, ra, ea, rb, eb);
	if (ra < 0)
		return;
	assert_true(XXH128_isEqual(h, XXH3_128bits(text, strlen(text))));
	assert_int_equal(a.n, b.n);
	assert_int_equal(a.d, b.d);
	assert_memory_equal(a.rows, b.rows, a.n * a.d * sizeof(double));
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.names[i], b.names[i]);
	emb_table_free(&a);
	emb_table_free(&b);
}

static void test_csv_streamed(void **state)
{
	static const char *const small[] = {
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0\nc,5,6,0\n",
		"filenames,embedding_0,embedding_1,labels\r\na,1,2,0\r\nb,3,4,0\r\nc,5,6,0\r\n\r\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0\nc,5,6,0\n\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0\nc,5,6,0",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\n\nb,3,4,0\nc,5,6,0\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0\nc,5,6,0\n\n\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0\na,5,6,0\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,nan,0\nc,5,6,0\n",
		"filenames,embedding_0,embedding_1,labels\na,1,2,0\nb,3,4,0,1\nc,5,6,0\n",
		"filenames,embedding_0,embedding_1,labels\n",
		"filenames,embedding_0,embedding_1,labels",
		"filenames,embedding_0,labels\n",
		"",
	};

	/* Every block size from 1 byte up: every boundary falls everywhere once. */
	for (size_t i = 0; i < ARRAY_LEN(small); i++)
		for (size_t block = 1; block <= strlen(small[i]) + 2; block++)
			expect_same_streamed(small[i], block);

	/* A multi-megabyte CSV in 64 KiB blocks, and with an error deep inside. */
	struct buf b = { 0 };
	rng_state = 5;
	make_csv(&b, 20000, 16, false);
	expect_same_streamed(b.data, (size_t)64 << 10);
	char *bad = with_line(&b, 15000, "q,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,-inf,0\n");
	expect_same_streamed(bad, (size_t)64 << 10);
	free(bad);
	buf_free(&b);

	/* emb_table_read on a missing file: the errno, named. */
	struct emb_table t;
	char err[512];
	assert_int_equal(emb_table_read("/nonexistent/e.csv", &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/e.csv"));
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

/*
 * Points along (1,1,0,...) with a small spread along the third axis, in d
 * dimensions: x follows t, y the spread. d = 3 and 64 take the covariance
 * path, 520 the row-pass path; 9000 rows make several covariance blocks.
 */
static void pca_case(size_t d, size_t n)
{
	double *rows = xcalloc(n * d, sizeof(double)), *xy = xcalloc(2 * n, sizeof(double));
	double smean = 0;

	/* s is symmetric in i and t antisymmetric, so they are uncorrelated. */
	for (size_t i = 0; i < n; i++)
		smean += ((i < n - 1 - i ? i : n - 1 - i) % 2 ? 0.1 : -0.1) / (double)n;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i - (double)(n - 1) / 2, s = ((i < n - 1 - i ? i : n - 1 - i) % 2 ? 0.1 : -0.1);
		rows[d * i] = 5 + t;
		rows[d * i + 1] = -2 + t;
		rows[d * i + 2] = s;
		for (size_t j = 3; j < d; j++)
			rows[d * i + j] = (double)j;	/* constant: no variance */
	}
	embed_pca2d(rows, n, d, xy);
	for (size_t i = 0; i < n; i++) {
		double t = ((double)i - (double)(n - 1) / 2) * sqrt(2.0);
		if (fabs(xy[2 * i] - t) > 1e-9 * (1 + fabs(t)))	/* largest loading positive: +t */
			fail_msg("d %zu n %zu row %zu: x %.17g, expected %.17g", d, n, i, xy[2 * i], t);
		double sc = rows[d * i + 2] - smean;
		/* The second axis is z; its sign follows its (only) loading, positive. */
		if (fabs(xy[2 * i + 1] - sc) > 1e-9)
			fail_msg("d %zu n %zu row %zu: y %.17g, expected %.17g", d, n, i, xy[2 * i + 1], sc);
	}
	free(rows);
	free(xy);
}

static void test_pca(void **state)
{
	pca_case(3, 50);
	pca_case(64, 50);
	pca_case(64, 9000);
	pca_case(520, 50);
	/* Degenerate inputs do not crash. */
	double rows[6] = { 0 }, xy[2];
	embed_pca2d(rows, 0, 3, xy);
	double one[3] = { 1, 2, 3 }, xy1[2] = { 9, 9 };
	embed_pca2d(one, 1, 3, xy1);
	assert_true(xy1[0] == 0 && xy1[1] == 0);
}

/*
 * Close eigenvalues: rows a*h1*e0 + b*h2*e1 + c*h3*e2 (+ a constant), h the
 * columns of the 8x8 Sylvester-Hadamard matrix (orthogonal, zero sums), so
 * the axes are e0, e1, e2 with variances a^2 > b^2 > c^2, uncorrelated, and
 * the exact projections are (a*h1, b*h2). With c/b = 0.999 an iteration that
 * converges as (c/b)^(2 steps) is still far off after hundreds of steps.
 */
static void test_pca_close_eigenvalues(void **state)
{
	enum { N = 64, D = 40 };
	static const double a = 2.0, b = 1.0, c = 0.999;
	double *rows = xcalloc(N * D, sizeof(double)), xy[2 * N];

	for (int i = 0; i < N; i++) {
		/* H[i][j] = (-1)^popcount(i & j); rows repeat the 8 Hadamard rows. */
		double h[4];
		for (int j = 0; j < 4; j++)
			h[j] = __builtin_popcount((unsigned)((i % 8) & j)) % 2 ? -1.0 : 1.0;
		rows[i * D + 0] = a * h[1];
		rows[i * D + 1] = b * h[2];
		rows[i * D + 2] = c * h[3];
		for (int j = 3; j < D; j++)
			rows[i * D + j] = 0.5 * j;
	}
	embed_pca2d(rows, N, D, xy);
	for (int i = 0; i < N; i++) {
		double h1 = __builtin_popcount((unsigned)((i % 8) & 1)) % 2 ? -1.0 : 1.0;
		double h2 = __builtin_popcount((unsigned)((i % 8) & 2)) % 2 ? -1.0 : 1.0;
		if (fabs(xy[2 * i] - a * h1) > 1e-9 || fabs(xy[2 * i + 1] - b * h2) > 1e-9)
			fail_msg("row %d: (%.17g, %.17g), expected (%g, %g)", i, xy[2 * i],
				 xy[2 * i + 1], a * h1, b * h2);
	}
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_ok),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_csv_large_exact),
		cmocka_unit_test(test_csv_large_errors),
		cmocka_unit_test(test_csv_streamed),
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_pca),
		cmocka_unit_test(test_pca_close_eigenvalues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
