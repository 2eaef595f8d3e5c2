/*
 * Tests of lib/dconv.c: dconv_parse gives the same bits as glibc's strtod and
 * dconv_format the same bytes as snprintf("%.17g"), on fixed hard cases and on
 * millions of random numbers in many spellings.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dconv.h"

/* splitmix64: a fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int rnd_int(int lo, int hi)	/* [lo, hi] */
{
	return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

static double from_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static size_t checked;

/* Both parsers on s: the same verdict, and bit-identical values. */
static void check_parse(const char *s)
{
	char *ep;
	double want = strtod(s, &ep), got = -12345.0;
	int rc = dconv_parse(s, strlen(s), &got);

	if (*ep != '\0' || ep == s) {
		/* strtod does not take all of it: the fast parser must refuse it too. */
		if (rc == 0)
			fail_msg("dconv_parse took \"%s\", which strtod does not", s);
		return;
	}
	if (rc < 0) {
		/* Only spellings outside the plain decimal grammar may be refused. */
		if (strspn(s, "+-0123456789.eE") == strlen(s))
			fail_msg("dconv_parse refused \"%s\" (strtod: %.17g)", s, want);
		return;
	}
	if (to_bits(got) != to_bits(want))
		fail_msg("\"%s\": dconv_parse %a, strtod %a", s, got, want);
	checked++;
}

static void check_format(double v)
{
	char want[64], got[DCONV_BUFLEN];
	int wl = snprintf(want, sizeof(want), "%.17g", v);
	size_t gl = dconv_format(v, got);

	if (strcmp(want, got) != 0 || (size_t)wl != gl)
		fail_msg("%a: dconv_format \"%s\", printf \"%s\"", v, got, want);
	/* And it reads back to the same bits, through the fast parser. */
	if (isfinite(v)) {
		double back;
		assert_int_equal(dconv_parse(got, gl, &back), 0);
		if (to_bits(back) != to_bits(v))
			fail_msg("%a printed as %s reads back as %a", v, got, back);
	}
	checked++;
}

static void test_fixed_cases(void **state)
{
	static const char *const cases[] = {
		"0", "-0", "+0", "0.0", "-0.0", "0e0", "-0e-999", "0e99999999999", "00000.00000",
		"1", "-1", "+1", "1.", ".5", "-.5", "1e0", "1E+2", "1e-2", "1.5e300", "9.5e-5",
		"0.1", "0.2", "0.3", "0.7", "1.1", "123456789012345678", "1234567890123456789",
		"12345678901234567890", "123456789012345678901234567890", "0.000000000000000000001",
		"9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995",
		"1e22", "1e23", "1e-22", "1e-23", "8.589973e9", "4.35e-06", "1.7976931348623157e308",
		"1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "-1e400",
		"2.2250738585072011e-308", "2.2250738585072012e-308", "2.2250738585072014e-308",
		"2.225073858507201136057409796709131975934819546351645648e-308",
		"4.9406564584124654e-324", "4.9e-324", "5e-324", "2.4703282292062327e-324",
		"2.4703282292062328e-324", "2.47032822920623272e-324", "1e-324", "1e-400",
		"7.2057594037927933e16", "9223372036854775807", "9223372036854775808",
		"18446744073709551615", "18446744073709551616", "0.30000000000000004",
		"0.1000000000000000055511151231257827021181583404541015625",
		"3.0517578125e-05", "1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"9.007199254740993e15", "5e-1", "5E-1", "1e", "1e+", "e5", ".", "-", "+", "",
		"1..2", "1.2.3", "--1", "1e5x", " 1", "1 ", "inf", "-inf", "nan", "0x1p3", "1,5",
		"1e-2147483649", "1e2147483648", "0.000001e6",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_parse(cases[i]);
	double v;
	assert_int_equal(dconv_parse("1e", 2, &v), -EINVAL);
	assert_int_equal(dconv_parse("inf", 3, &v), -EINVAL);
	/* len bounds the text: no NUL needed. */
	assert_int_equal(dconv_parse("1.25,7", 4, &v), 0);
	assert_true(v == 1.25);
	assert_int_equal(dconv_parse("-0", 2, &v), 0);
	assert_true(v == 0 && signbit(v));

	static const double fmt_cases[] = {
		0.0, -0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, 100.0, 1e16, 1e17, 1e-4, 1e-5, 9.9999e-5,
		123456789012345678.0, 1e300, 1e-300, DBL_MAX, DBL_MIN, DBL_TRUE_MIN, 5e-324,
		0.30000000000000004, 9007199254740993.0, 1e15 + 0.25, 1e15 + 0.75, 562949953421312.25,
		99999999999999999.0, 9999999999999998.0, 0.5, 2.5, 1e23, INFINITY, -INFINITY, NAN,
	};
	for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++)
		check_format(fmt_cases[i]);
}

/* A random finite double from random bits (every exponent, subnormals included). */
static double rnd_double(void)
{
	for (;;) {
		double v = from_bits(rnd());
		if (isfinite(v))
			return v;
	}
}

/* Random doubles printed in the ways CSV writers print them, and read back. */
static void test_parse_printed(void **state)
{
	char s[512];

	(void)state;
	checked = 0;
	for (int i = 0; i < 600000; i++) {
		double v;
		switch (i % 4) {
		case 0: v = rnd_double(); break;
		case 1: v = (double)(rnd() >> 11) / 9007199254740992.0 * 2 - 1; break;	/* [-1, 1) */
		case 2: v = ldexp((double)(rnd() >> 11), rnd_int(-1130, -1000)); break;	/* subnormal */
		default: v = ldexp((double)(rnd() >> 11), rnd_int(-120, 40)); break;
		}
		int prec = (int)(rnd() % 21);
		switch (i % 3) {
		case 0: snprintf(s, sizeof(s), "%.*g", prec ? prec : 17, v); break;
		case 1: snprintf(s, sizeof(s), "%.*e", prec, v); break;	/* numpy's %.18e */
		default: snprintf(s, sizeof(s), "%.*f", prec, v); break;
		}
		check_parse(s);
	}
	print_message("%zu printed numbers compared with strtod\n", checked);
}

/* Random digit strings: 1..25 digits, any point position, exponents -360..340. */
static void test_parse_random_digits(void **state)
{
	char s[128];

	(void)state;
	checked = 0;
	for (int i = 0; i < 1000000; i++) {
		char *o = s;
		int nd = rnd_int(1, i % 3 == 0 ? 25 : 19), point = rnd_int(-1, nd);
		int lead = rnd() % 4 == 0 ? rnd_int(1, 3) : 0;
		if (rnd() % 2)
			*o++ = rnd() % 4 ? '-' : '+';
		for (int k = 0; k < lead; k++)
			*o++ = '0';
		for (int k = 0; k < nd; k++) {
			if (k == point)
				*o++ = '.';
			/* Runs of 9s and 0s make carries and ties. */
			uint64_t r = rnd() % 10;
			*o++ = (char)('0' + (r < 3 ? 9 : r < 5 ? 0 : (int)(rnd() % 10)));
		}
		if (point == nd)
			*o++ = '.';
		if (rnd() % 3) {
			int e = i % 5 == 0 ? rnd_int(-360, 340) : rnd_int(-30, 30);
			o += sprintf(o, "%c%d", rnd() % 2 ? 'e' : 'E', e);
		}
		*o = '\0';
		check_parse(s);
	}
	print_message("%zu random digit strings compared with strtod\n", checked);
}

/*
 * Decimals at and next to the midpoint between two adjacent doubles, to 17,
 * 18 and 19 significant digits, and with the last digit moved by one: the cases
 * where a parser that is only nearly right rounds the wrong way.
 */
static void test_parse_near_halfway(void **state)
{
	char s[128];

	(void)state;
	checked = 0;
	for (int i = 0; i < 300000; i++) {
		double v = i % 3 == 0 ? rnd_double()
			: ldexp((double)(rnd() >> 11), rnd_int(-1100, 970));
		v = fabs(v);
		double nx = nextafter(v, INFINITY);
		if (!isfinite(nx))
			continue;
		long double mid = ((long double)v + (long double)nx) / 2;	/* exact in 64 bits */
		int digits = 16 + i % 4;	/* 17..20 significant */
		int n = snprintf(s, sizeof(s), "%.*Le", digits, mid);
		check_parse(s);
		/* Move the last mantissa digit by one each way. */
		char *e = strchr(s, 'e');
		if (e == NULL || n <= 0)
			continue;
		for (int dir = -1; dir <= 1; dir += 2) {
			char t[128];
			strcpy(t, s);
			char *last = t + (e - s) - 1;
			if (dir < 0 && *last > '0')
				(*last)--;
			else if (dir > 0 && *last < '9')
				(*last)++;
			check_parse(t);
		}
	}
	print_message("%zu near-halfway numbers compared with strtod\n", checked);
}

static void test_format_random(void **state)
{
	(void)state;
	checked = 0;
	for (int i = 0; i < 1500000; i++) {
		double v;
		switch (i % 5) {
		case 0: v = rnd_double(); break;
		case 1: v = (double)(rnd() >> 11) / 9007199254740992.0 * 2 - 1; break;
		case 2: v = ldexp((double)(rnd() >> 11), rnd_int(-1130, -1000)); break;
		case 3: v = ldexp((double)(rnd() >> 11), rnd_int(-60, 10)); break;
		/* Integers and binary fractions with few bits: exact ties at 17 digits. */
		default: v = ldexp((double)(rnd() >> rnd_int(11, 60)), rnd_int(-8, 8)); break;
		}
		check_format(rnd() % 2 ? v : -v);
	}
	print_message("%zu doubles formatted as printf does\n", checked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_cases),
		cmocka_unit_test(test_parse_printed),
		cmocka_unit_test(test_parse_random_digits),
		cmocka_unit_test(test_parse_near_halfway),
		cmocka_unit_test(test_format_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
