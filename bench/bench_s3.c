/*
 * bench_s3: lists a bucket prefix and reads every object through lib/s3.c,
 * with 1 and with N requests in flight (s3_get_many), and prints objects per
 * second for each and their ratio. bench/bench_s3.py starts the server and
 * uploads the objects.
 * usage: bench_s3 ENDPOINT BUCKET PREFIX INFLIGHT   ($AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "util.h"

static size_t ok, failed, bytes;

static void got(void *ud, size_t i, int rc, uint8_t *buf, size_t len, const char *err)
{
	if (rc == 0) {
		ok++;
		bytes += len;
	} else if (failed++ == 0) {
		fprintf(stderr, "bench_s3: %s\n", err);
	}
	free(buf);
}

static double read_all(struct s3 *s, char **keys, size_t n, int inflight)
{
	struct s3_many_opts o = { .max_inflight = inflight };
	double t0 = now_seconds();

	ok = failed = bytes = 0;
	if (s3_get_many(s, keys, n, &o, got, NULL) < 0 || failed > 0 || ok != n) {
		fprintf(stderr, "bench_s3: %zu of %zu objects failed\n", failed, n);
		exit(1);
	}
	return now_seconds() - t0;
}

int main(int argc, char **argv)
{
	char err[1024];
	struct s3 *s;
	struct s3_object *objs;
	size_t n, requests;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_s3 ENDPOINT BUCKET PREFIX INFLIGHT\n");
		return 2;
	}
	struct s3_conf c = {
		.endpoint = argv[1], .access_key_id = getenv("AWS_ACCESS_KEY_ID"),
		.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"), .path_style = -1,
	};
	int inflight = atoi(argv[4]);
	if (s3_new(&c, argv[2], &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_s3: %s\n", err);
		return 1;
	}
	double t0 = now_seconds();
	if (s3_list(s, argv[3], &objs, &n, &requests, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_s3: %s\n", err);
		return 1;
	}
	double tl = now_seconds() - t0;
	printf("listing:   %zu objects in %zu ListObjectsV2 requests, %.2f s (%.0f objects/s)\n",
	       n, requests, tl, (double)n / tl);
	char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		keys[i] = objs[i].key;
	double t1 = read_all(s, keys, n, 1);
	printf("GET, 1 in flight:   %zu objects (%zu bytes) in %.2f s: %.0f objects/s\n", n, bytes,
	       t1, (double)n / t1);
	double tn = read_all(s, keys, n, inflight);
	printf("GET, %d in flight:  %zu objects (%zu bytes) in %.2f s: %.0f objects/s\n", inflight, n,
	       bytes, tn, (double)n / tn);
	printf("ratio (%d in flight / 1 in flight): %.2fx\n", inflight, t1 / tn);
	free(keys);
	s3_objects_free(objs, n);
	s3_free(s);
	return 0;
}
