/*
 * dconv: exact decimal <-> float64 conversion without strtod/printf on the
 * common path.
 *
 * DESIGN: parsing gathers up to 19 significant digits into a 64-bit w and a
 * power of ten q, so the text is w * 10^q exactly. Then, in order:
 *   - Clinger's fast path: w <= 2^53 and |q| <= 22 make w and 10^|q| exact
 *     doubles, and one IEEE multiplication or division is correctly rounded;
 *   - Eisel-Lemire: w times a 128-bit approximation of 5^q (lib/dconv_pow5.h)
 *     gives the leading bits of the result with a known error bound; the
 *     algorithm is the one of fast_float, with its original conservative
 *     give-up test kept;
 *   - strtod() on a NUL-terminated copy whenever the above cannot decide: more
 *     than 19 significant digits, an exponent outside the table, a result
 *     that overflows, or Eisel-Lemire giving up.
 * So every result is the correctly rounded double, which glibc's strtod also
 * returns: the unit tests compare the two bit for bit on millions of numbers.
 *
 * Formatting reproduces "%.17g": the 17 significant digits are the product of
 * the 53-bit mantissa and the same 128-bit power of five, shifted. For powers
 * 5^p with 0 <= p <= 55 the table entry is exact and so is the product; the
 * other entries are within one unit of 2^-127 relative, which moves the
 * product by less than 2^64 of its 192 bits: when the dropped part lies that
 * close to one half, and on an exact tie, snprintf() decides. The result is
 * byte-identical to snprintf's, which the unit tests check.
 */
#include "dconv.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dconv_pow5.h"
#include "util.h"

__extension__ typedef unsigned __int128 u128;

#define MANT_BITS 52

static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static double bits_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t double_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

/*
 * Eisel-Lemire: the bits of the double nearest to w * 10^q, w != 0 and q in
 * the table's range. Returns false when it cannot decide (or on overflow).
 */
static bool eisel_lemire(int64_t q, uint64_t w, uint64_t *bits)
{
	const uint64_t *t = dconv_pow5[q - DCONV_POW5_MIN];
	int lz = __builtin_clzll(w);

	w <<= lz;
	u128 first = (u128)w * t[0];
	uint64_t hi = (uint64_t)(first >> 64), lo = (uint64_t)first;
	/* The high word's bits below the 55 we keep are all ones: a carry from the rest may matter. */
	if ((hi & 0x1FF) == 0x1FF) {
		uint64_t shi = (uint64_t)(((u128)w * t[1]) >> 64);
		lo += shi;
		if (shi > lo)
			hi++;
	}
	/* Still undecided beyond what the exact range of the table covers. */
	if (lo == UINT64_MAX && (q < -27 || q > 55))
		return false;
	int upper = (int)(hi >> 63);
	int shift = upper + 64 - MANT_BITS - 3;
	uint64_t mant = hi >> shift;
	int32_t power2 = (int32_t)(((217706 * q) >> 16) + 63) + upper - lz + 1023;

	if (power2 <= 0) {
		/* Subnormal (or zero). Exact ties cannot happen this far from 1. */
		if (-power2 + 1 >= 64) {
			*bits = 0;
			return true;
		}
		mant >>= -power2 + 1;
		mant += mant & 1;
		mant >>= 1;
		/* Rounding up may have made it the smallest normal. */
		power2 = mant < (UINT64_C(1) << MANT_BITS) ? 0 : 1;
		*bits = ((uint64_t)power2 << MANT_BITS) | (mant & ((UINT64_C(1) << MANT_BITS) - 1));
		return true;
	}
	/* A tie between two doubles is only possible where 5^q fits in 64 bits. */
	if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 && (mant << shift) == hi)
		mant &= ~UINT64_C(1);
	mant += mant & 1;
	mant >>= 1;
	if (mant >= (UINT64_C(2) << MANT_BITS)) {
		mant = UINT64_C(1) << MANT_BITS;
		power2++;
	}
	mant &= ~(UINT64_C(1) << MANT_BITS);
	if (power2 >= 0x7FF)
		return false;	/* overflow: strtod says how (HUGE_VAL, ERANGE) */
	*bits = ((uint64_t)power2 << MANT_BITS) | mant;
	return true;
}

static double slow_parse(const char *s, size_t len)
{
	char small[64], *buf = len < sizeof(small) ? small : xmalloc(len + 1);
	double v;

	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtod(buf, NULL);
	if (buf != small)
		free(buf);
	return v;
}

static inline bool is_digit(char c)
{
	return (unsigned)(c - '0') < 10;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight ASCII digits at once (SWAR), as fast_float does; little-endian loads. */
static inline bool eight_digits(const char *p, uint64_t *v)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	if ((((x + 0x4646464646464646ULL) | (x - 0x3030303030303030ULL)) & 0x8080808080808080ULL) != 0)
		return false;
	x -= 0x3030303030303030ULL;
	x = x * 10 + (x >> 8);
	x = (((x & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
	     (((x >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
	*v = (uint32_t)x;
	return true;
}
#else
static inline bool eight_digits(const char *p, uint64_t *v)
{
	(void)p;
	(void)v;
	return false;
}
#endif

/*
 * Reads the longest plain decimal number at [s, end) into *out, exactly, and
 * returns the first byte after it, or NULL when there is no number there. An
 * exponent marker without digits after it ("1e") is left unread.
 */
static const char *scan(const char *s, const char *end, double *out)
{
	const char *p = s;
	bool neg = false, any;
	uint64_t w = 0, eight;
	int ndig = 0;		/* significant digits, from the first non-zero one */
	int64_t q = 0;

	if (p < end && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	const char *ds = p;
	while (p < end && *p == '0')
		p++;
	while (ndig <= 11 && end - p >= 8 && eight_digits(p, &eight)) {
		w = w * 100000000 + eight;
		ndig += 8;
		p += 8;
	}
	while (p < end && is_digit(*p)) {
		if (ndig < 19)
			w = w * 10 + (uint64_t)(*p - '0');
		ndig++;
		p++;
	}
	any = p > ds;
	if (p < end && *p == '.') {
		p++;
		const char *fs = p;
		if (ndig == 0)
			while (p < end && *p == '0') {
				q--;
				p++;
			}
		while (ndig <= 11 && end - p >= 8 && eight_digits(p, &eight)) {
			w = w * 100000000 + eight;
			ndig += 8;
			q -= 8;
			p += 8;
		}
		while (p < end && is_digit(*p)) {
			if (ndig < 19) {
				w = w * 10 + (uint64_t)(*p - '0');
				q--;
			}
			ndig++;
			p++;
		}
		any = any || p > fs;
	}
	if (!any)
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *ep = p + 1;
		bool eneg = false;
		int64_t e = 0;
		if (ep < end && (*ep == '-' || *ep == '+')) {
			eneg = *ep == '-';
			ep++;
		}
		if (ep < end && is_digit(*ep)) {
			while (ep < end && is_digit(*ep)) {
				if (e < 1000000)
					e = e * 10 + (*ep - '0');
				ep++;
			}
			q += eneg ? -e : e;
			p = ep;
		}
	}

	double v;
	uint64_t bits;
	if (w == 0) {
		v = 0.0;
	} else if (ndig > 19 || q < DCONV_POW5_MIN || q > DCONV_POW5_MAX) {
		*out = slow_parse(s, (size_t)(p - s));
		return p;
	} else if (w <= (UINT64_C(1) << 53) && q >= -22 && q <= 22) {
		v = q >= 0 ? (double)w * exact_pow10[q] : (double)w / exact_pow10[-q];
	} else if (eisel_lemire(q, w, &bits)) {
		v = bits_double(bits);
	} else {
		*out = slow_parse(s, (size_t)(p - s));
		return p;
	}
	*out = neg ? -v : v;
	return p;
}

int dconv_parse(const char *s, size_t len, double *out)
{
	double v;
	const char *p = scan(s, s + len, &v);

	if (p == NULL || p != s + len)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *dconv_scan(const char *s, const char *end, double *out)
{
	return scan(s, end, out);
}

/* ---- formatting ----------------------------------------------------------- */

static size_t slow_format(double v, char *buf)
{
	int n = snprintf(buf, DCONV_BUFLEN, "%.17g", v);

	return n > 0 ? (size_t)n : 0;
}

/*
 * The 17-digit integer nearest to m * 2^e2 * 10^p, into *digits. Returns 1
 * when found, 0 when the value is not in [10^16, 10^17) before rounding (the
 * caller adjusts p), -1 when only snprintf can decide.
 */
static int scaled_digits(uint64_t m, int e2, int p, uint64_t *digits, bool *too_big)
{
	if (p < DCONV_POW5_MIN || p > DCONV_POW5_MAX)
		return -1;
	const uint64_t *t = dconv_pow5[p - DCONV_POW5_MIN];
	/* T = 5^p * 2^-tz, so m * 2^e2 * 10^p = m * T * 2^(tz + e2 + p). */
	int tz = ((152170 * p) >> 16) - 127;
	int s = -(tz + e2 + p);
	if (s < 66 || s > 190)
		return -1;
	u128 a = (u128)m * t[1], b = (u128)m * t[0];
	uint64_t p0 = (uint64_t)a;
	u128 mid = (a >> 64) + (uint64_t)b;
	uint64_t p1 = (uint64_t)mid;
	uint64_t p2 = (uint64_t)(b >> 64) + (uint64_t)(mid >> 64);
	u128 top = ((u128)p2 << 64) | p1;
	int sh = s - 64;	/* in [2, 126] */
	u128 ip = top >> sh;
	u128 frac = top & (((u128)1 << sh) - 1);
	u128 half = (u128)1 << (sh - 1);

	*too_big = false;
	if (ip >= (u128)UINT64_C(100000000000000000)) {
		*too_big = true;
		return 0;
	}
	if (ip < (u128)UINT64_C(10000000000000000))
		return 0;
	bool exact = p >= 0 && p <= 55;
	bool up;
	if (exact) {
		if (frac == half && p0 == 0)
			return -1;	/* an exact tie: the rounding rule is printf's */
		up = frac > half || (frac == half && p0 > 0);
	} else {
		if (frac == half || frac + 1 == half)
			return -1;
		up = frac > half;
	}
	*digits = (uint64_t)ip + (up ? 1 : 0);
	return 1;
}

size_t dconv_format(double v, char *buf)
{
	uint64_t bits = double_bits(v);
	bool neg = bits >> 63;
	unsigned bexp = (unsigned)(bits >> MANT_BITS) & 0x7FF;
	uint64_t frac = bits & ((UINT64_C(1) << MANT_BITS) - 1);
	char *o = buf;

	if (bexp == 0x7FF)
		return slow_format(v, buf);
	if (neg)
		*o++ = '-';
	if (bexp == 0 && frac == 0) {
		*o++ = '0';
		*o = '\0';
		return (size_t)(o - buf);
	}
	uint64_t m = bexp == 0 ? frac : frac | (UINT64_C(1) << MANT_BITS);
	int e2 = bexp == 0 ? -1074 : (int)bexp - 1075;
	int lg2 = 63 - __builtin_clzll(m) + e2;
	int x = (lg2 * 78913) >> 18;	/* floor(log10(v)) or one less */
	/* Settle which, where 10^(x+1) is an exact double: one product instead of two. */
	if (x + 1 >= 0 && x + 1 <= 22 && fabs(v) >= exact_pow10[x + 1])
		x++;
	uint64_t dg = 0;
	int rc = 0;
	for (int tries = 0; tries < 3 && rc == 0; tries++) {
		bool too_big;
		rc = scaled_digits(m, e2, 16 - x, &dg, &too_big);
		if (rc == 0)
			x += too_big ? 1 : -1;
	}
	if (rc <= 0)
		return slow_format(v, buf);
	if (dg == UINT64_C(100000000000000000)) {
		dg = UINT64_C(10000000000000000);
		x++;
	}

	/* 17 digits as 1 + 8 + 8, two at a time from a table, in 32-bit arithmetic. */
	static const char two[] =
		"0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
		"5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
	char d[17];
	uint32_t lo = (uint32_t)(dg % 100000000), mid = (uint32_t)(dg / 100000000 % 100000000);
	d[0] = (char)('0' + dg / UINT64_C(10000000000000000));
	for (int i = 3; i >= 0; i--) {
		memcpy(d + 1 + 2 * i, two + 2 * (mid % 100), 2);
		memcpy(d + 9 + 2 * i, two + 2 * (lo % 100), 2);
		mid /= 100;
		lo /= 100;
	}
	int nd = 17;
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	if (x < -4 || x >= 17) {
		*o++ = d[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, d + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		*o++ = 'e';
		*o++ = x < 0 ? '-' : '+';
		int ax = x < 0 ? -x : x;
		if (ax >= 100)
			*o++ = (char)('0' + ax / 100);
		*o++ = (char)('0' + ax / 10 % 10);
		*o++ = (char)('0' + ax % 10);
	} else if (x >= 0) {
		memcpy(o, d, (size_t)x + 1);
		o += x + 1;
		if (nd > x + 1) {
			*o++ = '.';
			memcpy(o, d + x + 1, (size_t)(nd - x - 1));
			o += nd - x - 1;
		}
	} else {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -x - 1; i++)
			*o++ = '0';
		memcpy(o, d, (size_t)nd);
		o += nd;
	}
	*o = '\0';
	return (size_t)(o - buf);
}
