/*
 * dconv: decimal text <-> float64, fast and exact. dconv_parse gives the
 * correctly rounded double that strtod gives; dconv_format prints the text
 * that printf("%.17g") prints. Both are pure functions, safe from any thread.
 */
#ifndef WINNOW_DCONV_H
#define WINNOW_DCONV_H

#include <stddef.h>

/* Enough for any dconv_format output and its NUL ("-2.2250738585072014e-308"). */
#define DCONV_BUFLEN 32

/*
 * Parses s[0, len) (borrowed; no NUL needed) when all of it is a plain decimal
 * number: [+-] digits [. digits] [(e|E) [+-] digits], with at least one mantissa
 * digit. Sets *out to exactly what strtod() returns for that text (also when
 * it overflows to infinity) and returns 0. Anything else (spaces, "inf", "nan",
 * hex floats, trailing text) returns -EINVAL and leaves *out alone: the caller
 * then decides with strtod() itself.
 */
int dconv_parse(const char *s, size_t len, double *out);

/*
 * Reads the longest plain decimal number (the grammar above) that starts at s,
 * not past end, into *out (as strtod would read that text) and returns the
 * first byte after it; NULL when none starts there. An 'e' with no exponent
 * digits after it is not part of the number.
 */
const char *dconv_scan(const char *s, const char *end, double *out);

/*
 * Writes v into buf (at least DCONV_BUFLEN bytes) exactly as
 * snprintf(buf, DCONV_BUFLEN, "%.17g", v) does, and returns the length.
 */
size_t dconv_format(double v, char *buf);

#endif
