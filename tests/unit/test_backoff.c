/*
 * Unit tests of lib/util.c backoff_delay, with the outbox's parameters
 * (daemon/outbox.c wd_backoff: first 1 s, cap 60 s, SPEC 6): each step's
 * delay lies in [0.5, 1] x min(first * 2^step, cap), the jitter really
 * spreads the delays over that range, the mean doubles per step below the
 * cap, and no step, however large, waits past the cap.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

#define FIRST 1.0
#define CAP 60.0
#define SAMPLES 4000

/* The delay before jitter that SPEC 6 asks for: first * 2^step, at most cap. */
static double ceiling(int step)
{
	double d = FIRST * pow(2.0, step < 0 ? 0 : (step > 30 ? 30 : step));

	return d < CAP ? d : CAP;
}

struct stats {
	double min, max, mean;
};

static struct stats sample(int step)
{
	struct stats s = { INFINITY, -INFINITY, 0 };

	for (int i = 0; i < SAMPLES; i++) {
		double d = backoff_delay(step, FIRST, CAP);
		if (d < s.min)
			s.min = d;
		if (d > s.max)
			s.max = d;
		s.mean += d / SAMPLES;
	}
	return s;
}

static void test_bounds_per_step(void **state)
{
	(void)state;
	srandom(1);
	for (int step = 0; step <= 12; step++) {
		struct stats s = sample(step);
		double c = ceiling(step);
		assert_true(s.min >= 0.5 * c);
		assert_true(s.max <= c);
		/* The jitter uses its range: near both ends, not one fixed factor. */
		assert_true(s.min < 0.55 * c);
		assert_true(s.max > 0.95 * c);
		/* Uniform in [0.5c, c]: mean 0.75c. */
		assert_true(fabs(s.mean - 0.75 * c) < 0.02 * c);
	}
}

static void test_exponential_growth(void **state)
{
	(void)state;
	srandom(2);
	double prev = sample(0).mean;
	for (int step = 1; ceiling(step) < CAP; step++) {
		double m = sample(step).mean;
		double ratio = m / prev;
		assert_true(ratio > 1.9 && ratio < 2.1);
		prev = m;
	}
}

static void test_cap(void **state)
{
	(void)state;
	srandom(3);
	int steps[] = { 6, 7, 10, 50, 1000, INT_MAX };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct stats s = sample(steps[i]);
		assert_true(s.max <= CAP);
		assert_true(s.min >= 0.5 * CAP);
		assert_true(s.max > 0.95 * CAP);
	}
	/* Step 5 is the last below the cap: 32 s at most. */
	assert_true(sample(5).max <= 32.0);
}

static void test_first_step_and_negative(void **state)
{
	(void)state;
	srandom(4);
	struct stats s = sample(0);
	assert_true(s.min >= 0.5 && s.max <= 1.0);
	s = sample(-3);
	assert_true(s.min >= 0.5 && s.max <= 1.0);
	/* Other parameters scale the same way. */
	for (int i = 0; i < 100; i++) {
		double d = backoff_delay(3, 0.25, 10);
		assert_true(d >= 1.0 && d <= 2.0);
		d = backoff_delay(8, 0.25, 10);
		assert_true(d >= 5.0 && d <= 10.0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_per_step),
		cmocka_unit_test(test_exponential_growth),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_first_step_and_negative),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
