/*
 * bench_knn: TYPICALITY's exact k-NN (selectors/knn.c) against scikit-learn's
 * exact brute-force NearestNeighbors, both on every core (issue 13's Speed).
 *
 *   bench_knn SCRIPT [N D K]
 *       N x D clustered rows generated here (bench_rows.h; default 100,000 x
 *       128), K = 20 by default. Times knn_mean_dist on all cores, writes
 *       the rows to a temp file, runs SCRIPT (bench/bench_knn.py) under
 *       /usr/bin/python3 on them, and prints the core count, the load, both
 *       times, the ratio beside its target (>= 3x), winnow's time beside its
 *       target (<= 60 s) and whether every m_i agrees within 1e-6 relative
 *       (sklearn is float64). Exits 1 when they do not agree.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_rows.h"
#include "selectors/knn.h"
#include "util.h"

static int write_rows(const char *path, const double *v, size_t count)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(v, sizeof(*v), count, f) == count;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 5) {
		fprintf(stderr, "usage: bench_knn SCRIPT [N D K]\n");
		return 2;
	}
	size_t n = argc == 5 ? strtoull(argv[2], NULL, 10) : 100000;
	size_t d = argc == 5 ? strtoull(argv[3], NULL, 10) : 128;
	int K = argc == 5 ? atoi(argv[4]) : 20;
	char dir[] = "/tmp/bench_knn.XXXXXX";
	double load[3] = {0};

	if (n < 2 || d < 1 || K < 1 || !mkdtemp(dir)) {
		fprintf(stderr, "bench_knn: bad sizes or no temp dir\n");
		return 2;
	}
	getloadavg(load, 3);
	printf("cores: %d (both sides use every one); load average %.2f %.2f %.2f\n", cpu_count(),
	       load[0], load[1], load[2]);
	printf("rows: %zu x %zu clustered, K = %d\n", n, d, K);
	fflush(stdout);

	double *X = clustered_rows(n, d), *m = xmalloc(n * sizeof(*m)), *ref = xmalloc(n * sizeof(*ref));
	double t0 = now_seconds();
	int rc = knn_mean_dist(X, n, d, K, 0, NULL, m);
	double tw = now_seconds() - t0;
	if (rc < 0) {
		fprintf(stderr, "bench_knn: knn_mean_dist: %s\n", strerror(-rc));
		return 1;
	}
	printf("winnow:  %8.2f s   (target <= 60 s: %s)\n", tw, tw <= 60 ? "met" : "MISSED");
	fflush(stdout);

	char *rows = xasprintf("%s/rows.f64", dir), *out = xasprintf("%s/m.f64", dir);
	char *cmd = xasprintf("/usr/bin/python3 '%s' '%s' %zu %zu %d '%s'", argv[1], rows, n, d, K, out);
	double ts = -1;
	if (write_rows(rows, X, n * d) < 0) {
		fprintf(stderr, "bench_knn: cannot write %s\n", rows);
		return 1;
	}
	FILE *p = popen(cmd, "r");
	char line[256];
	while (p && fgets(line, sizeof(line), p))
		if (sscanf(line, "sklearn_seconds %lf", &ts) != 1)
			fputs(line, stdout);
	FILE *f = NULL;
	if (!p || pclose(p) != 0 || ts < 0 || !(f = fopen(out, "rb")) ||
	    fread(ref, sizeof(*ref), n, f) != n) {
		fprintf(stderr, "bench_knn: the sklearn side failed (%s)\n", cmd);
		return 1;
	}
	fclose(f);
	unlink(rows);
	unlink(out);
	rmdir(dir);

	double worst = 0;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		double r = fabs(m[i] - ref[i]) / (ref[i] > 0 ? ref[i] : 1);
		if (!(r <= 1e-6))
			bad++;
		if (!(r <= worst))
			worst = r;
	}
	printf("sklearn: %8.2f s   (NearestNeighbors brute, n_jobs=-1, float64)\n", ts);
	printf("ratio:   %8.2fx   (target >= 3x: %s)\n", ts / tw, ts / tw >= 3 ? "met" : "MISSED");
	printf("agree:   %s (largest relative difference of m_i %.2g; %zu rows beyond 1e-6)\n",
	       bad ? "NO" : "yes", worst, bad);
	free(rows);
	free(out);
	free(cmd);
	free(X);
	free(m);
	free(ref);
	return bad ? 1 : 0;
}
