/* Tests of lib/s3.c that need no server: URL parsing, encoding, settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "dataset.h"
#include "s3.h"

static void test_parse_url(void **state)
{
	char *b, *p;

	assert_int_equal(s3_parse_url("s3://bucket/a/b/", &b, &p), 0);
	assert_string_equal(b, "bucket");
	assert_string_equal(p, "a/b/");
	free(b);
	free(p);
	assert_int_equal(s3_parse_url("s3://bucket", &b, &p), 0);
	assert_string_equal(b, "bucket");
	assert_string_equal(p, "");
	free(b);
	free(p);
	assert_int_equal(s3_parse_url("s3:///x", &b, &p), -EINVAL);
	assert_int_equal(s3_parse_url("s3://", &b, &p), -EINVAL);
	assert_int_equal(s3_parse_url("/data", &b, &p), -EINVAL);
}

static void test_uri_encode(void **state)
{
	/* RFC 3986: only unreserved characters stay; SigV4 wants uppercase hex. */
	char *e = s3_uri_encode("a b/c+d~e_f.g-h%é", true);
	assert_string_equal(e, "a%20b/c%2Bd~e_f.g-h%25%C3%A9");
	free(e);
	e = s3_uri_encode("x/y=z&", false);
	assert_string_equal(e, "x%2Fy%3Dz%26");
	free(e);
}

static void test_settings(void **state)
{
	struct s3 *s = NULL;
	char err[256];
	struct s3_conf c = { .endpoint = "http://127.0.0.1:9000", .access_key_id = "k",
			     .secret_access_key = "s", .path_style = -1 };

	assert_int_equal(s3_new(&c, "b", &s, err, sizeof(err)), 0);
	s3_free(s);
	c.secret_access_key = NULL;
	assert_int_equal(s3_new(&c, "b", &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no credentials"));
	c.secret_access_key = "s";
	c.endpoint = "ftp://x";
	assert_int_equal(s3_new(&c, "b", &s, err, sizeof(err)), -EINVAL);
	c.endpoint = "http://host/path";
	assert_int_equal(s3_new(&c, "b", &s, err, sizeof(err)), -EINVAL);
	c.endpoint = NULL;
	assert_int_equal(s3_new(&c, "bad/bucket", &s, err, sizeof(err)), -EINVAL);
	assert_true(s3_transient(-ECONNREFUSED));
	assert_false(s3_transient(-EACCES));
	assert_false(s3_transient(-ENOENT));
}

static void test_dataset_open_s3(void **state)
{
	struct dataset ds;
	char err[256];
	struct s3_conf c = { .endpoint = "http://127.0.0.1:1", .access_key_id = "k",
			     .secret_access_key = "s", .path_style = -1 };

	assert_int_equal(dataset_open_s3(&ds, "s3://b/pre", &c, err, sizeof(err)), 0);
	uint8_t *buf;
	size_t len;
	struct stat st;
	struct ds_stream *s;
	/* ".." never leaves the prefix, and needs no request to say so. */
	assert_int_equal(dataset_read(&ds, "../other/a.jpg", 10, &buf, &len), -EXDEV);
	assert_int_equal(dataset_read(&ds, "/a.jpg", 10, &buf, &len), -EXDEV);
	assert_int_equal(dataset_stat(&ds, "a/../../b.jpg", &st), -EXDEV);
	assert_int_equal(dataset_stream_open(&ds, "../x.csv", &s), -EXDEV);
	/* Nothing listens on port 1. */
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "cannot connect to the S3 endpoint http://127.0.0.1:1"));
	dataset_close(&ds);
	assert_int_equal(dataset_open_s3(&ds, "/data", &c, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_dataset_open_s3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
