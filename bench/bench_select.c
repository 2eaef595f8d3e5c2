/*
 * bench_select: the selection speed of issue 6, driven by bench/bench_select.py.
 *
 *   bench_select run FILE N D K METHOD OUT [REPEAT]
 *       coreset (or coral, with the weights in FILE.w) on N x D float64 rows
 *       read from FILE (raw, row-major); prints the selection's seconds (the
 *       median of REPEAT runs, default 1, each printed) and work counters;
 *       writes the picks, one index a line, to OUT.
 *   bench_select big [N D K]
 *       n = 1,000,000, d = 64, k = 10,000 clustered rows generated here (a
 *       Gaussian mixture in a 16-dimensional subspace plus small noise);
 *       prints wall time, peak RSS, the bytes the passes streamed per second
 *       and a STREAM-style copy's bandwidth measured in the same run, each
 *       beside its target.
 *   bench_select plan [N D K]
 *       issue 13's plan on the same kind of rows (default 1,000,000 x 64,
 *       k = 10,000): [EMBEDDINGS/DIVERSITY, SCORES/WEIGHTS, METADATA/BALANCE
 *       over 5 classes, UNIFORM] through the plan engine, timed against coral
 *       on the same rows and weights in the same run; prints the ratio beside
 *       its target (<= 2x of coral). Exactness, so that a fast wrong answer
 *       cannot print a good ratio: the engine's [DIVERSITY, WEIGHTS] on the
 *       same rows must pick exactly coral's picks (SPEC 4.8 makes that plan
 *       coral: the same first pick, objective and ties), and the fast path
 *       must equal the plain path on the first 20,000 rows (k = 300) for the
 *       full plan. Either failing prints MISSED and exits 1.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_plan.h"
#include "bench_rows.h"
#include "plan.h"
#include "selectors/engine.h"
#include "selectors/selector.h"
#include "util.h"

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * This process's peak RSS: VmHWM, which starts afresh at exec. getrusage's
 * ru_maxrss would not do: it keeps the high-water mark of the fork we were
 * started from (bench_select.py, holding numpy's arrays) through exec.
 */
static double peak_rss_mb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtod(line + 6, NULL);
	if (f)
		fclose(f);
	return kb / 1024.0;
}

static void print_stats(const struct select_stats *st)
{
	printf("passes: %zu plain, %zu clustered; rows scanned %zu, projected distances %zu, "
	       "float32 distances %zu, float64 distances %zu\n", st->steps_plain,
	       st->steps_clustered, st->rows_scanned, st->rows_projected, st->rows_float32,
	       st->rows_float64);
}

/* Bytes the passes read: d and the assignment of each scanned row, the rows they measured. */
static double streamed_bytes(const struct select_stats *st, size_t d)
{
	size_t dp = (d + 7) / 8 * 8;
	return (double)st->rows_scanned * 12 + (double)st->rows_projected * 68 +
	       (double)st->rows_float32 * (double)dp * 4 +
	       (double)st->rows_float64 * (double)d * 8;
}

/*
 * Reads every row once before the clock starts. fread fills X from the
 * kernel, and on this VM the first user-space access to each of those pages
 * still costs a fault (~270 ms for 100 MB); the numpy reference starts with
 * its array already touched, and so does winnowd, whose CSV reader writes the
 * rows itself.
 */
static void touch_rows(const double *X, size_t count)
{
	volatile double sink = 0;
	double s = 0;

	for (size_t i = 0; i < count; i += 512)
		s += X[i];
	sink = s;
	(void)sink;
}

static int run_file(int argc, char **argv)
{
	if (argc != 8 && argc != 9) {
		fprintf(stderr, "usage: bench_select run FILE N D K METHOD OUT [REPEAT]\n");
		return 2;
	}
	int repeat = argc == 9 ? atoi(argv[8]) : 1;
	if (repeat < 1 || repeat > 99) {
		fprintf(stderr, "bench_select: REPEAT must be 1..99\n");
		return 2;
	}
	size_t n = strtoull(argv[3], NULL, 10), d = strtoull(argv[4], NULL, 10);
	size_t k = strtoull(argv[5], NULL, 10);
	bool coral = strcmp(argv[6], "coral") == 0;
	double *X = xmalloc(n * d * sizeof(*X)), *w = NULL;
	FILE *f = fopen(argv[2], "rb");
	if (!f || fread(X, sizeof(*X), n * d, f) != n * d) {
		fprintf(stderr, "bench_select: cannot read %s\n", argv[2]);
		return 1;
	}
	fclose(f);
	if (coral) {
		char *wp = xasprintf("%s.w", argv[2]);
		w = xmalloc(n * sizeof(*w));
		f = fopen(wp, "rb");
		if (!f || fread(w, sizeof(*w), n, f) != n) {
			fprintf(stderr, "bench_select: cannot read %s\n", wp);
			return 1;
		}
		fclose(f);
		free(wp);
	}
	touch_rows(X, n * d);
	struct select_stats st = {0};
	struct select_input in = {
		.X = X, .n = n, .d = d, .k = k, .min_distance = -1, .w = w, .stats = &st,
	};
	struct selection s = {0};
	double secs[99], cpu[99];
	for (int r = 0; r < repeat; r++) {
		selection_free(&s);
		st = (struct select_stats){0};
		double t0 = now_seconds(), c0 = cpu_seconds();
		int rc = coral ? coral_select(&in, &s) : coreset_select(&in, &s);
		secs[r] = now_seconds() - t0;
		cpu[r] = cpu_seconds() - c0;
		if (rc < 0) {
			fprintf(stderr, "bench_select: %s\n", strerror(-rc));
			return 1;
		}
	}
	/* The median run (by wall time), with its CPU time. */
	int order[99];
	for (int r = 0; r < repeat; r++)
		order[r] = r;
	for (int a = 1; a < repeat; a++)
		for (int b = a; b > 0 && secs[order[b]] < secs[order[b - 1]]; b--) {
			int t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	int med = order[repeat / 2];
	if (repeat > 1) {
		printf("runs:");
		for (int r = 0; r < repeat; r++)
			printf(" %.3f", secs[r]);
		printf(" s; the median is reported\n");
	}
	printf("winnow_seconds %.6f\n", secs[med]);
	printf("cpu %.3f s (user + sys, all threads; the machine is shared)\n", cpu[med]);
	print_stats(&st);
	f = fopen(argv[7], "w");
	if (!f)
		return 1;
	for (size_t i = 0; i < s.n; i++)
		fprintf(f, "%zu\n", s.idx[i]);
	fclose(f);
	selection_free(&s);
	free(X);
	free(w);
	return 0;
}

/* Best of a few memcpy passes over two 128 MiB buffers; bytes read + written per second. */
static double stream_copy_bandwidth(void)
{
	size_t bytes = (size_t)128 << 20;
	char *a = xmalloc(bytes), *b = xmalloc(bytes);
	double best = 0;
	memset(a, 1, bytes);
	memset(b, 2, bytes);
	for (int r = 0; r < 5; r++) {
		double t0 = now_seconds();
		memcpy(b, a, bytes);
		double t = now_seconds() - t0;
		if (2.0 * (double)bytes / t > best)
			best = 2.0 * (double)bytes / t;
		a[r] = b[bytes - 1 - (size_t)r];	/* keep the copies observable */
	}
	free(a);
	free(b);
	return best;
}

static int run_big(int argc, char **argv)
{
	size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	size_t d = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
	size_t k = argc > 4 ? strtoull(argv[4], NULL, 10) : 10000;
	size_t s = 16, comps = 64;

	/* The peak RSS target is for the whole process: measure the memory bandwidth first. */
	double bw = stream_copy_bandwidth();
	double *X = clustered_rows(n, d);
	printf("data: n=%zu d=%zu k=%zu, %zu Gaussian components in a %zu-dim subspace, "
	       "noise 0.01 per dim, float64 input %.0f MB\n", n, d, k, comps, s,
	       (double)(n * d * sizeof(double)) / 1e6);

	struct select_stats st = {0};
	struct select_input in = {
		.X = X, .n = n, .d = d, .k = k, .min_distance = -1, .stats = &st,
	};
	struct selection sel;
	double t0 = now_seconds();
	int rc = coreset_select(&in, &sel);
	double secs = now_seconds() - t0;
	if (rc < 0) {
		fprintf(stderr, "bench_select: %s\n", strerror(-rc));
		return 1;
	}
	double rss = peak_rss_mb();
	double bytes = streamed_bytes(&st, d);
	print_stats(&st);
	printf("coreset 1M: picks %zu\n", sel.n);
	printf("coreset 1M: wall %.2f s (target <= 90 s) %s\n", secs, secs <= 90 ? "ok" : "MISSED");
	printf("coreset 1M: peak RSS %.0f MB (target <= 1024 MB) %s\n", rss,
	       rss <= 1024 ? "ok" : "MISSED");
	printf("coreset 1M: streamed %.2f GB/s over %.1f GB; STREAM-style copy %.2f GB/s "
	       "(%.0f%% of it)\n", bytes / secs / 1e9, bytes / 1e9, bw / 1e9,
	       100 * bytes / secs / bw);
	selection_free(&sel);
	free(X);
	return 0;
}

static bool same_results(const struct engine_result *a, const struct engine_result *b)
{
	return a->npicks == b->npicks && a->stop_reason == b->stop_reason &&
	       memcmp(a->idx, b->idx, a->npicks * sizeof(*a->idx)) == 0 &&
	       memcmp(a->score, b->score, a->npicks * sizeof(*a->score)) == 0 &&
	       memcmp(a->dist, b->dist, a->npicks * sizeof(*a->dist)) == 0 &&
	       memcmp(a->objective, b->objective,
		      a->npicks * a->nobj * sizeof(*a->objective)) == 0;
}

static int run_plan(int argc, char **argv)
{
	size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	size_t d = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
	size_t k = argc > 4 ? strtoull(argv[4], NULL, 10) : 10000;
	size_t nsub = n < 20000 ? n : 20000, ksub = 300;
	double *X = clustered_rows(n, d), *w = xmalloc(n * sizeof(*w));
	int32_t *cls = xmalloc(n * sizeof(*cls));
	struct engine_result rp, rw, fa, pa;
	struct selection sel;
	double tp, tw, tc, tf, tpl;
	int rc;

	for (size_t i = 0; i < n; i++) {
		w[i] = (double)(rnd_next() >> 11) * 0x1p-53;
		cls[i] = (int32_t)(rnd_next() % 5);
	}
	touch_rows(X, n * d);
	printf("data: n=%zu d=%zu k=%zu clustered (as big), weights uniform in [0, 1), "
	       "5 metadata classes uniform; %d cores\n", n, d, k, cpu_count());
	fflush(stdout);

	struct select_input in = { .X = X, .n = n, .d = d, .k = k, .min_distance = -1, .w = w };
	double t0 = now_seconds();
	rc = coral_select(&in, &sel);
	tc = now_seconds() - t0;
	if (rc < 0) {
		fprintf(stderr, "bench_select: coral: %s\n", strerror(-rc));
		return 1;
	}
	if ((rc = engine_time(X, n, d, k, w, cls, 0, &rp, &tp)) < 0 ||
	    (rc = engine_time(X, n, d, k, w, NULL, 0, &rw, &tw)) < 0 ||
	    (rc = engine_time(X, nsub, d, ksub, w, cls, 1, &fa, &tf)) < 0 ||
	    (rc = engine_time(X, nsub, d, ksub, w, cls, -1, &pa, &tpl)) < 0)
		return 1;

	bool coral_same = rw.fast_path && rw.npicks == sel.n;
	for (size_t t = 0; coral_same && t < sel.n; t++)
		coral_same = rw.idx[t] == sel.idx[t];
	bool sub_same = fa.fast_path && !pa.fast_path && same_results(&fa, &pa);
	bool ok = coral_same && sub_same && rp.fast_path && rp.npicks == k;
	double ratio = tp / tc;

	printf("coral: %.2f s (%zu picks)\n", tc, sel.n);
	printf("plan [DIVERSITY, WEIGHTS, BALANCE(5 classes)]: %.2f s (%zu picks, stop %s, "
	       "fast path %s)\n", tp, rp.npicks, engine_stop_name(rp.stop_reason),
	       rp.fast_path ? "yes" : "no");
	printf("plan [DIVERSITY, WEIGHTS]: %.2f s; picks equal coral's: %s\n", tw,
	       coral_same ? "yes" : "NO");
	printf("fast path equals the plain path on %zu rows, k = %zu, full plan: %s "
	       "(fast %.2f s, plain %.2f s)\n", nsub, ksub, sub_same ? "yes" : "NO", tf, tpl);
	printf("plan 1M ratio %.2fx of coral (target <= 2x of coral) %s\n", ratio,
	       ok && ratio <= 2 ? "ok" : "MISSED");
	engine_result_free(&rp);
	engine_result_free(&rw);
	engine_result_free(&fa);
	engine_result_free(&pa);
	selection_free(&sel);
	free(X);
	free(w);
	free(cls);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return run_file(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "big") == 0)
		return run_big(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "plan") == 0)
		return run_plan(argc, argv);
	fprintf(stderr, "usage: bench_select run FILE N D K METHOD OUT | big [N D K] | plan [N D K]\n");
	return 2;
}
