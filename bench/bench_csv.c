/*
 * bench_csv: the embeddings CSV reader's throughput, for bench/bench_csv.py.
 *
 *   bench_csv gen PATH ROWS DIMS     writes a Lightly embeddings CSV: ROWS rows of
 *                                    clustered values (a Gaussian mixture in a
 *                                    16-dimensional subspace), printed as %.17g,
 *                                    names in shuffled order; deterministic
 *   bench_csv parse PATH REPEATS     reads PATH, parses it REPEATS times on all
 *                                    cores and once on one, then reads it as the
 *                                    pipeline does (emb_table_read, streamed), and
 *                                    prints one JSON line of measured seconds
 *
 * DESIGN: the file is read once (read_file) and parsed from memory, so the
 * MB/s figure is of CSV text parsed, apart from the disk; the read time is
 * printed beside it. Nothing is asserted: the caller prints the figures.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dconv.h"
#include "embed.h"
#include "util.h"

static uint64_t rng_state = 0x5DEECE66DULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double uniform(void)
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

static int gen(const char *path, size_t n, size_t d)
{
	enum { SUB = 16, CLUSTERS = 64 };
	double *basis = xcalloc(SUB * d, sizeof(double));
	double *centre = xcalloc(CLUSTERS * SUB, sizeof(double));
	double *row = xcalloc(d, sizeof(double));
	FILE *f = fopen(path, "w");
	char num[DCONV_BUFLEN];

	if (f == NULL) {
		fprintf(stderr, "bench_csv: %s: %s\n", path, strerror(errno));
		return 1;
	}
	setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
	for (size_t i = 0; i < SUB * d; i++)
		basis[i] = gauss() / sqrt((double)SUB);
	for (size_t i = 0; i < CLUSTERS * SUB; i++)
		centre[i] = 3 * gauss();
	fputs("filenames", f);
	for (size_t j = 0; j < d; j++)
		fprintf(f, ",embedding_%zu", j);
	fputs(",labels\n", f);
	/* n is not a multiple of this prime, so i -> i * P mod n shuffles the names. */
	const size_t P = 1000003;
	for (size_t i = 0; i < n; i++) {
		const double *c = centre + (rnd() % CLUSTERS) * SUB;
		double z[SUB];
		for (int s = 0; s < SUB; s++)
			z[s] = c[s] + 0.5 * gauss();
		for (size_t j = 0; j < d; j++) {
			row[j] = 0.05 * gauss();
			for (int s = 0; s < SUB; s++)
				row[j] += z[s] * basis[s * d + j];
		}
		fprintf(f, "img_%08zu.jpg", n % P != 0 ? (i * P) % n : i);
		for (size_t j = 0; j < d; j++) {
			fputc(',', f);
			fwrite(num, 1, dconv_format(row[j], num), f);
		}
		fputs(",0\n", f);
	}
	free(basis);
	free(centre);
	free(row);
	if (fclose(f) != 0) {
		fprintf(stderr, "bench_csv: %s: write failed\n", path);
		return 1;
	}
	return 0;
}

/* CPU seconds of the whole process: on a busy machine they vary less than wall time. */
static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int parse(const char *path, int repeats)
{
	char *text, err[1024];
	size_t len;
	double t0 = now_seconds();
	int rc = read_file(path, (size_t)1 << 40, &text, &len);

	if (rc < 0) {
		fprintf(stderr, "bench_csv: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	double read_s = now_seconds() - t0;
	struct emb_table t;
	printf("{\"bytes\": %zu, \"threads\": %d, \"read_s\": %.6f, \"parse_s\": [", len,
	       cpu_count(), read_s);
	for (int r = 0; r < repeats; r++) {
		t0 = now_seconds();
		rc = emb_table_parse_mt(text, len, path, 0, &t, err, sizeof(err));
		double s = now_seconds() - t0;
		if (rc < 0) {
			fprintf(stderr, "bench_csv: %s\n", err);
			return 1;
		}
		printf("%s%.6f", r ? ", " : "", s);
		if (r + 1 < repeats)
			emb_table_free(&t);
	}
	printf("], \"rows\": %zu, \"dims\": %zu", t.n, t.d);
	emb_table_free(&t);
	t0 = now_seconds();
	double c0 = cpu_seconds();
	rc = emb_table_parse_mt(text, len, path, 1, &t, err, sizeof(err));
	printf(", \"parse_1thread_s\": %.6f, \"parse_1thread_cpu_s\": %.6f",
	       now_seconds() - t0, cpu_seconds() - c0);
	if (rc == 0)
		emb_table_free(&t);
	free(text);
	if (rc < 0)
		return 1;
	/* As the pipeline reads it: streamed from the file (page cache), in blocks. */
	t0 = now_seconds();
	rc = emb_table_read(path, &t, err, sizeof(err));
	printf(", \"read_streamed_s\": %.6f}\n", now_seconds() - t0);
	if (rc == 0)
		emb_table_free(&t);
	return rc < 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "parse") == 0)
		return parse(argv[2], atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
	fputs("usage: bench_csv gen PATH ROWS DIMS | bench_csv parse PATH REPEATS\n", stderr);
	return 2;
}
