/*
 * Tests of lib/dataset.c on LOCAL (lib/ds_local.c): listing order, skipped names,
 * symlinks, safe opens, patterns, and the rest of the interface: stat, streams,
 * walks, opening by URL, the backend-neutral error questions.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "util.h"

static char root[4096], outside[4096];

static void put(const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(dir);
	free(p);
}

static void link_at(const char *target, const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
	free(p);
}

static int setup(void **state)
{
	char cwd[2048];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(root, sizeof(root), "%s/ds", cwd);
	snprintf(outside, sizeof(outside), "%s/outside.jpg", cwd);
	FILE *f = fopen(outside, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	put("b.jpg", "b");
	put("big.jpg", "0123456789");
	put("a.PNG", "a");
	put("sub/c.webp", "c");
	put("sub/deeper/d.bmp", "d");
	put("sub/notes.txt", "n");
	put(".hidden.jpg", "h");
	put("._mac.jpg", "m");
	put(".lightly/embeddings/x.csv", "filenames,embedding_0,labels\n");
	put("with space.jpg", "s");
	put("comma,name.jpg", "c");
	put("tab\tname.jpg", "t");
	put("bad\xff\xfe.jpg", "u");
	link_at(outside, "escape.jpg");
	link_at("b.jpg", "inside_link.jpg");
	link_at("..", "sub/loop");
	link_at("nowhere.jpg", "dangling.jpg");
	return 0;
}

static void test_listing(void **state)
{
	struct dataset ds;
	char err[256];

	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	const char *want[] = { "a.PNG", "b.jpg", "big.jpg", "inside_link.jpg", "sub/c.webp", "sub/deeper/d.bmp",
			       "with space.jpg" };
	assert_int_equal(ds.files.n, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_string_equal(ds.files.v[i], want[i]);
	/* Excluded, in path order, each with its reason. */
	int seen_escape = 0, seen_comma = 0, seen_tab = 0, seen_utf8 = 0, seen_dangling = 0;
	for (size_t i = 0; i < ds.nexcluded; i++) {
		const char *p = ds.excluded[i].path, *r = ds.excluded[i].reason;
		if (strcmp(p, "escape.jpg") == 0) {
			assert_string_equal(r, "symlink escapes the datasource");
			seen_escape++;
		} else if (strcmp(p, "comma,name.jpg") == 0) {
			assert_string_equal(r, "unsupported file name");
			seen_comma++;
		} else if (strcmp(p, "tab\\tname.jpg") == 0) {
			assert_string_equal(r, "unsupported file name");
			seen_tab++;
		} else if (strcmp(p, "bad\\xff\\xfe.jpg") == 0) {
			assert_string_equal(r, "unsupported file name");
			seen_utf8++;
		} else if (strcmp(p, "dangling.jpg") == 0) {
			assert_non_null(strstr(r, "cannot read"));
			seen_dangling++;
		}
		if (i > 0)
			assert_true(strcmp(ds.excluded[i - 1].path, p) < 0);
	}
	assert_int_equal(seen_escape + seen_comma + seen_tab + seen_utf8 + seen_dangling, 5);
	assert_int_equal(ds.nexcluded, 5);
	assert_int_equal(ds.folder_links.n, 1);
	assert_string_equal(ds.folder_links.v[0], "sub/loop");
	dataset_close(&ds);
}

/* A bounded listing (the web app's browsing): list_max files, or nothing read past the deadline. */
static void test_listing_bounded(void **state)
{
	struct dataset ds;
	char err[256];

	(void)state;
	assert_int_equal(dataset_open(&ds, root), 0);
	ds.list_max = 3;
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	assert_int_equal(ds.files.n, 3);
	assert_true(ds.list_truncated);
	for (size_t i = 1; i < ds.files.n; i++)
		assert_true(strcmp(ds.files.v[i - 1], ds.files.v[i]) < 0);
	dataset_close(&ds);

	/* The bound not reached: not truncated. */
	assert_int_equal(dataset_open(&ds, root), 0);
	ds.list_max = 7;
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	assert_int_equal(ds.files.n, 7);
	assert_false(ds.list_truncated);
	dataset_close(&ds);

	/* A deadline already past: nothing read, truncated. */
	assert_int_equal(dataset_open(&ds, root), 0);
	ds.list_deadline = now_seconds() - 1;
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	assert_int_equal(ds.files.n, 0);
	assert_true(ds.list_truncated);
	dataset_close(&ds);
}

static void test_open_beneath(void **state)
{
	struct dataset ds;
	uint8_t *buf;
	size_t len;

	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_read(&ds, "sub/c.webp", 100, &buf, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(buf[0], 'c');
	free(buf);
	assert_int_equal(dataset_read(&ds, "inside_link.jpg", 100, &buf, &len), 0);
	free(buf);
	assert_int_equal(dataset_read(&ds, "escape.jpg", 100, &buf, &len), -EXDEV);
	assert_int_equal(dataset_read(&ds, "../outside.jpg", 100, &buf, &len), -EXDEV);
	assert_int_equal(dataset_read(&ds, "sub/../../outside.jpg", 100, &buf, &len), -EXDEV);
	assert_int_equal(dataset_read(&ds, outside, 100, &buf, &len), -EXDEV);
	/* Through a folder link that stays inside: allowed; one that leaves: refused. */
	assert_int_equal(dataset_read(&ds, "sub/loop/b.jpg", 100, &buf, &len), 0);
	free(buf);
	link_at("../..", "sub/out");
	assert_int_equal(dataset_read(&ds, "sub/out/outside.jpg", 100, &buf, &len), -EXDEV);
	assert_int_equal(dataset_read(&ds, "missing.jpg", 100, &buf, &len), -ENOENT);
	assert_int_equal(dataset_read(&ds, "sub", 100, &buf, &len), -EISDIR);
	assert_int_equal(dataset_read(&ds, "big.jpg", 5, &buf, &len), -EFBIG);
	assert_int_equal(dataset_read(&ds, "big.jpg", 9, &buf, &len), -EFBIG);
	assert_int_equal(dataset_read(&ds, "big.jpg", 10, &buf, &len), 0);	/* exactly the limit */
	assert_int_equal(len, 10);
	free(buf);
	dataset_close(&ds);
	assert_int_equal(dataset_open(&ds, "/nonexistent/winnow/dir"), -ENOENT);
}

static void test_patterns(void **state)
{
	assert_true(dataset_pattern_match("a.jpg", "a.jpg"));
	assert_false(dataset_pattern_match("a.jpg", "b/a.jpg"));
	assert_true(dataset_pattern_match("*.jpg", "a.jpg"));
	assert_false(dataset_pattern_match("*.jpg", "sub/a.jpg"));
	assert_true(dataset_pattern_match("**/*.jpg", "sub/x/a.jpg"));
	assert_true(dataset_pattern_match("**/*.jpg", "a.jpg"));
	assert_true(dataset_pattern_match("sub/*", "sub/a.jpg"));
	assert_true(dataset_pattern_match("sub/*", "sub/deeper/d.bmp"));
	assert_true(dataset_pattern_match("sub", "sub/deeper/d.bmp"));
	assert_false(dataset_pattern_match("su", "sub/a.jpg"));
	assert_true(dataset_pattern_match("img_?.png", "img_1.png"));
	assert_false(dataset_pattern_match("img_?.png", "img_12.png"));
	assert_true(dataset_pattern_match("img_[0-4].png", "img_3.png"));
	assert_false(dataset_pattern_match("img_[0-4].png", "img_7.png"));
	assert_true(dataset_pattern_match("a/**/z.jpg", "a/z.jpg"));
	assert_true(dataset_pattern_match("a/**/z.jpg", "a/b/c/z.jpg"));
}

static void test_relevant(void **state)
{
	struct dataset ds;
	char err[256];

	put("relevant.txt", "# comment\nsub/*\n!sub/deeper/*\nb.jpg\n./with space.jpg\nmissing.jpg\n\n");
	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_list(&ds, "relevant.txt", err, sizeof(err)), 0);
	const char *want[] = { "b.jpg", "sub/c.webp", "with space.jpg" };
	assert_int_equal(ds.files.n, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_string_equal(ds.files.v[i], want[i]);
	assert_int_equal(ds.relevant_missing, 1);
	assert_int_equal(ds.relevant_skipped, 4);
	dataset_close(&ds);

	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_list(&ds, "nope.txt", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nope.txt"));
	dataset_close(&ds);
}

static void test_stat_beneath(void **state)
{
	struct dataset ds;
	struct stat st;

	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_stat(&ds, "big.jpg", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 10);
	assert_int_equal(dataset_stat(&ds, "./sub/c.webp", &st), 0);
	assert_int_equal(st.st_size, 1);
	assert_int_equal(dataset_stat(&ds, "sub", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* A link out of the root tells nothing of its target. */
	assert_int_equal(dataset_stat(&ds, "escape.jpg", &st), -EXDEV);
	assert_int_equal(dataset_stat(&ds, "../outside.jpg", &st), -EXDEV);
	assert_int_equal(dataset_stat(&ds, outside, &st), -EXDEV);
	assert_int_equal(dataset_stat(&ds, "missing.jpg", &st), -ENOENT);
	assert_true(dataset_exists(&ds, "inside_link.jpg"));
	assert_false(dataset_exists(&ds, "escape.jpg"));
	assert_false(dataset_exists(&ds, "sub"));
	assert_false(dataset_exists(&ds, "dangling.jpg"));
	dataset_close(&ds);
}

static void test_stream(void **state)
{
	struct dataset ds;
	struct ds_stream *s = NULL;
	char buf[16];

	put("stream/seq.txt", "0123456789abcdefghij");	/* 20 bytes */
	assert_int_equal(dataset_open(&ds, root), 0);
	assert_int_equal(dataset_stream_open(&ds, "stream/seq.txt", &s), 0);
	assert_int_equal(dataset_stream_size(s), 20);
	/* Full pieces until the end, a short one there, then 0. */
	assert_int_equal(dataset_stream_read(s, buf, 8), 8);
	assert_memory_equal(buf, "01234567", 8);
	assert_int_equal(dataset_stream_read(s, buf, 8), 8);
	assert_memory_equal(buf, "89abcdef", 8);
	assert_int_equal(dataset_stream_read(s, buf, 8), 4);
	assert_memory_equal(buf, "ghij", 4);
	assert_int_equal(dataset_stream_read(s, buf, 8), 0);
	dataset_stream_close(s);
	s = NULL;
	assert_int_equal(dataset_stream_open(&ds, "escape.jpg", &s), -EXDEV);
	assert_int_equal(dataset_stream_open(&ds, "sub/../../outside.jpg", &s), -EXDEV);
	assert_int_equal(dataset_stream_open(&ds, "sub", &s), -EISDIR);
	assert_int_equal(dataset_stream_open(&ds, "none.csv", &s), -ENOENT);
	assert_null(s);
	dataset_stream_close(NULL);
	dataset_close(&ds);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_cb(void *ud, const char *rel)
{
	strvec_push(ud, rel);
}

static void test_walk(void **state)
{
	struct dataset ds;
	struct strvec got = { 0 };

	put("w/a.json", "{}");
	put("w/deep/b.json", "{}");
	put("w/.hidden.json", "{}");
	put("w/.dot/c.json", "{}");
	put("w/deep/notes.txt", "n");
	link_at("../b.jpg", "w/in_link.json");
	link_at(outside, "w/out_link.json");
	link_at("..", "w/folder_link");
	assert_int_equal(dataset_open(&ds, root), 0);
	dataset_walk(&ds, "w", walk_cb, &got);
	qsort(got.v, got.n, sizeof(*got.v), cmp_strp);
	const char *want[] = { "w/a.json", "w/deep/b.json", "w/deep/notes.txt", "w/in_link.json" };
	assert_int_equal(got.n, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_string_equal(got.v[i], want[i]);
	strvec_free(&got);
	/* A folder that is not there, or a link leaving the root: nothing. */
	dataset_walk(&ds, "nope", walk_cb, &got);
	link_at("..", "w_out");
	dataset_walk(&ds, "w_out", walk_cb, &got);
	assert_int_equal(got.n, 0);
	dataset_close(&ds);
}

static void test_open_url_and_errors(void **state)
{
	struct dataset ds;
	char err[512], buf[8];

	assert_int_equal(dataset_open_url(&ds, root, NULL, err, sizeof(err)), 0);
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	assert_int_equal(ds.files.n, 7);
	/* LOCAL: no remote errors, no list requests, nothing transient. */
	assert_string_equal(dataset_last_error(&ds, buf, sizeof(buf)), "");
	assert_int_equal(dataset_list_requests(&ds), 0);
	assert_null(dataset_list_request_name(&ds));
	assert_false(dataset_transient(&ds, -EIO));
	assert_false(dataset_transient(&ds, -ECONNREFUSED));
	assert_true(dataset_list_permanent(&ds, -ENOENT));
	assert_true(dataset_list_permanent(&ds, -EXDEV));
	assert_false(dataset_list_permanent(&ds, -EACCES));	/* permissions can be fixed */
	assert_false(dataset_list_permanent(&ds, -EIO));
	assert_int_equal(dataset_prefetch_start(&ds, ds.files.v, ds.files.n), 0);
	dataset_prefetch_stop(&ds);
	dataset_close(&ds);
	assert_int_equal(dataset_open_url(&ds, "/nonexistent/winnow", NULL, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "input folder /nonexistent/winnow: No such file or directory");
	/* The s3:// form goes to the S3 backend: no request yet, its rules at once. */
	assert_int_equal(dataset_open_url(&ds, "s3://", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "datasource s3://"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_listing_bounded),
		cmocka_unit_test(test_open_beneath),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_relevant),
		cmocka_unit_test(test_stat_beneath),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_open_url_and_errors),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
