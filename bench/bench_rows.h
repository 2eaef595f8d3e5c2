/*
 * bench_rows: the clustered rows the selection benchmarks generate (bench_select's
 * 1,000,000 x 64, bench_knn's 100,000 x 128): a Gaussian mixture of 64 unit-variance
 * components, means 4 N(0, 1), in a random 16-dimensional subspace, plus N(0, 0.01^2) in
 * every dimension, from a splitmix64 stream seeded 12345. Header-only: each benchmark is
 * one program.
 */
#ifndef WINNOW_BENCH_ROWS_H
#define WINNOW_BENCH_ROWS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

static uint64_t rnd_state = 12345;

static uint64_t rnd_next(void)
{
	uint64_t z = (rnd_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double rnd_normal(void)
{
	double u = ((double)(rnd_next() >> 11) + 0.5) / 9007199254740992.0;
	double v = (double)(rnd_next() >> 11) / 9007199254740992.0;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n x d such rows, row-major; the caller frees them. */
static double *clustered_rows(size_t n, size_t d)
{
	enum { COMPS = 64, SUB = 16 };
	double *X = xmalloc(n * d * sizeof(*X));
	double *basis = xmalloc(SUB * d * sizeof(*basis)), *means = xmalloc(COMPS * SUB * sizeof(*means));

	for (size_t i = 0; i < SUB * d; i++)
		basis[i] = rnd_normal() / sqrt((double)SUB);
	for (size_t i = 0; i < COMPS * SUB; i++)
		means[i] = 4 * rnd_normal();
	for (size_t i = 0; i < n; i++) {
		size_t c = rnd_next() % COMPS;
		double z[SUB];
		for (size_t a = 0; a < SUB; a++)
			z[a] = means[c * SUB + a] + rnd_normal();
		for (size_t j = 0; j < d; j++) {
			double v = 0.01 * rnd_normal();
			for (size_t a = 0; a < SUB; a++)
				v += z[a] * basis[a * d + j];
			X[i * d + j] = v;
		}
	}
	free(basis);
	free(means);
	return X;
}

#endif
