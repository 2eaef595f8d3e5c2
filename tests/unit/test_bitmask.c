/*
 * Unit tests of lib/bitmask.c: SPEC 7's example, the empty mask, a mask of
 * 100,000 bits, round trips against a reference built bit by bit, and every
 * kind of malformed text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bitmask.h"
#include "util.h"

static void test_spec_example(void **state)
{
	struct bitmask bm = { 0 };
	const size_t sel[] = { 0, 3, 4, 6 };

	for (size_t i = 0; i < ARRAY_LEN(sel); i++)
		bitmask_set(&bm, sel[i]);
	char *s = bitmask_format(&bm);
	assert_string_equal(s, "0x59");
	free(s);
	bitmask_free(&bm);

	assert_int_equal(bitmask_parse("0x59", 10, &bm), 0);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(bitmask_get(&bm, i), i == 0 || i == 3 || i == 4 || i == 6);
	assert_int_equal(bitmask_count(&bm), 4);
	assert_int_equal(bitmask_bits(&bm), 7);
	bitmask_free(&bm);
}

static void test_zero(void **state)
{
	struct bitmask bm = { 0 };
	char *s = bitmask_format(&bm);

	assert_string_equal(s, "0x0");
	free(s);
	assert_int_equal(bitmask_parse("0x0", 0, &bm), 0);
	assert_int_equal(bitmask_count(&bm), 0);
	assert_int_equal(bitmask_bits(&bm), 0);
	assert_false(bitmask_get(&bm, 0));
	assert_false(bitmask_get(&bm, 1000));
	s = bitmask_format(&bm);
	assert_string_equal(s, "0x0");
	free(s);
	bitmask_free(&bm);
	bitmask_free(&bm);	/* twice: a no-op */
}

static void test_single_bits(void **state)
{
	/* Bits at word edges: 63, 64, 127, 128. */
	const size_t bits[] = { 1, 2, 3, 4, 63, 64, 65, 127, 128 };

	for (size_t k = 0; k < ARRAY_LEN(bits); k++) {
		struct bitmask bm = { 0 }, back = { 0 };
		bitmask_set(&bm, bits[k]);
		char *s = bitmask_format(&bm);
		/* 1 << b in hex: the digit 1,2,4,8 then b/4 zeros. */
		assert_int_equal(strlen(s), 2 + 1 + bits[k] / 4);
		assert_int_equal(s[2], "1248"[bits[k] % 4]);
		assert_int_equal(bitmask_parse(s, bits[k] + 1, &back), 0);
		assert_int_equal(bitmask_count(&back), 1);
		assert_true(bitmask_get(&back, bits[k]));
		bitmask_free(&back);
		assert_int_equal(bitmask_parse(s, bits[k], &back), -ERANGE);
		assert_null(back.w);
		free(s);
		bitmask_free(&bm);
	}
}

static void test_large_round_trip(void **state)
{
	const size_t n = 100000;
	struct bitmask bm = { 0 }, back = { 0 };
	uint64_t x = 88172645463325252ull;	/* xorshift64 */
	char *ref = xcalloc(n, 1);
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 3 == 0 || i == n - 1) {
			bitmask_set(&bm, i);
			ref[i] = 1;
			count++;
		}
	}
	char *s = bitmask_format(&bm);
	assert_int_equal(strlen(s), 2 + n / 4);
	assert_int_equal(bitmask_parse(s, n, &back), 0);
	assert_int_equal(bitmask_count(&back), count);
	assert_int_equal(bitmask_bits(&back), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bitmask_get(&back, i), ref[i]);
	char *s2 = bitmask_format(&back);
	assert_string_equal(s, s2);
	/* Every bit set, 100,000 of them: 25,000 'f' digits. */
	struct bitmask all = { 0 };
	for (size_t i = 0; i < n; i++)
		bitmask_set(&all, i);
	char *sa = bitmask_format(&all);
	assert_int_equal(strlen(sa), 2 + n / 4);
	assert_int_equal(strspn(sa + 2, "f"), n / 4);
	free(sa);
	bitmask_free(&all);
	free(s);
	free(s2);
	free(ref);
	bitmask_free(&bm);
	bitmask_free(&back);
}

static void test_malformed(void **state)
{
	const char *bad[] = { "", "0", "x59", "59", "0X59", "0x", "0x059", "0x00", "0x5G",
			      "0x59 ", " 0x59", "0xAB", "-0x1", "0x1.0", "0x+1" };
	struct bitmask bm = { 0 };

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		assert_int_equal(bitmask_parse(bad[i], SIZE_MAX, &bm), -EINVAL);
		assert_null(bm.w);
	}
	assert_int_equal(bitmask_parse(NULL, SIZE_MAX, &bm), -EINVAL);
	/* A mask wider than the dataset. */
	assert_int_equal(bitmask_parse("0x400", 10, &bm), -ERANGE);
	assert_int_equal(bitmask_parse("0x3ff", 10, &bm), 0);
	bitmask_free(&bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_single_bits),
		cmocka_unit_test(test_large_round_trip),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
