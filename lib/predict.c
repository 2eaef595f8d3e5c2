/*
 * predict: reads and validates Lightly prediction files (SPEC 3) into the
 * structs of predict.h, which the scorers consume, and holds the table of
 * score names per task type (SPEC 4.4).
 *
 * DESIGN: a task is loaded in four steps, each failing with one message that
 * names the file (relative to the datasource root) and the field:
 * schema.json; the mapping of every image to its prediction file (two images
 * on one file is an error, decided before any file is read); the prediction
 * files, read and parsed in parallel with pool_for; and a walk of the task
 * folder that counts the prediction files of non-candidates. When several
 * files are invalid, the one of the first image in path order is reported,
 * whatever the thread timing, so a run fails the same way twice.
 *
 * Two paths read a prediction file. The fast one streams it through yajl
 * in one pass: a small state machine (struct fast) checks each value as it
 * goes by, skips the values of keys it does not read (counting their depth),
 * builds no tree and allocates nothing per value; numbers come as yajl's raw
 * text and are converted exactly as strtod would (number_fast); an image's
 * entries and all their arrays end up in one allocation. It only ever says
 * "valid, here it is" or "not for me". Everything else, invalid files and
 * the odd valid one it leaves alone, goes to the slow path, the cJSON reader
 * that checks field by field in a fixed order and words the message, so
 * messages and their positions are the slow path's alone. For that to hold,
 * the fast path accepts a file only when the slow path would, with the same
 * values: it gives up where yajl and cJSON differ (yajl takes a lone
 * surrogate escape and text after the top-level object that is one
 * unfinished token, and keeps a string past \u0000; cJSON takes "01", any
 * byte below 0x20 as white space, a byte order mark) and on number texts
 * longer than 63 characters. Schema and tasks files use the slow path only.
 *
 * The slow path: the text must be UTF-8 without NUL bytes and nest at most
 * PREDICT_MAX_DEPTH levels. cJSON itself stops at 1000 levels and the tree's
 * depth is checked after the parse; only on a failure does a scan find the
 * position of the first NUL or too-deep bracket. Error positions come from
 * cJSON_ParseWithLengthOpts's return_parse_end, never cJSON_GetErrorPtr().
 * (cJSON 1.7 still stores into its global error struct on every parse; we
 * never read it, and the stores are plain word writes of a library built
 * without sanitizers, so concurrent parses are harmless in practice.)
 *
 * Strict and lenient: every key this module reads is checked strictly (type,
 * range, length; a known key given twice is an error). Keys it does not read
 * are ignored wherever they appear (top level of a prediction file, entries,
 * schema top level, categories), because Lightly's files carry extras such as
 * "supercategory" or a detector's own fields. "Keys it does not read" depends
 * on the task type: a "score" in a classification entry, or a "segmentation"
 * in a detection entry, is ignored like any other extra.
 */
#include "predict.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "dataset.h"
#include "pool.h"

#define PRED_DIR	".lightly/predictions"
#define TASKS_FILE	PRED_DIR "/tasks.json"
#define PROB_SUM_TOL	1e-3
/* Largest integer a double holds exactly; ids and run lengths stay below it. */
#define MAX_EXACT_INT	9007199254740992.0
/* Values quoted in messages are cut here, so one bad file gives one short line. */
#define QUOTE_MAX	120
/* Ids listed in "is not a category of the schema (...)". */
#define IDS_LISTED	10

/* ---- the score-name table (SPEC 4.4) ---- */

static const char *const type_names[TASK_TYPE_COUNT] = {
	[TASK_CLASSIFICATION] = "classification",
	[TASK_OBJECT_DETECTION] = "object-detection",
	[TASK_SEMANTIC_SEGMENTATION] = "semantic-segmentation",
	[TASK_KEYPOINT_DETECTION] = "keypoint-detection",
};

/* Classification and segmentation use the first three, detection all five. */
static const char *const uncertainty_names[] = {
	"uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy",
	"objectness_least_confidence", "object_frequency",
};
static const char *const keypoint_names[] = { "mean_uncertainty" };

const char *task_type_name(enum task_type t)
{
	return (unsigned)t < TASK_TYPE_COUNT ? type_names[t] : NULL;
}

int task_type_parse(const char *name)
{
	for (int t = 0; name != NULL && t < TASK_TYPE_COUNT; t++)
		if (strcmp(name, type_names[t]) == 0)
			return t;
	return -1;
}

size_t task_score_count(enum task_type t)
{
	switch (t) {
	case TASK_CLASSIFICATION:
	case TASK_SEMANTIC_SEGMENTATION:
		return 3;
	case TASK_OBJECT_DETECTION:
		return ARRAY_LEN(uncertainty_names);
	case TASK_KEYPOINT_DETECTION:
		return ARRAY_LEN(keypoint_names);
	default:
		return 0;
	}
}

const char *task_score_name(enum task_type t, size_t i)
{
	if (i >= task_score_count(t))
		return NULL;
	return t == TASK_KEYPOINT_DETECTION ? keypoint_names[i] : uncertainty_names[i];
}

int task_score_index(enum task_type t, const char *name)
{
	size_t n = task_score_count(t);

	for (size_t i = 0; name != NULL && i < n; i++)
		if (strcmp(task_score_name(t, i), name) == 0)
			return (int)i;
	return -1;
}

const char *task_default_score(enum task_type t)
{
	if ((unsigned)t >= TASK_TYPE_COUNT)
		return NULL;
	return t == TASK_KEYPOINT_DETECTION ? "mean_uncertainty" : "uncertainty_margin";
}

/* ---- messages ---- */

/* Where a file's errors go: "LABEL: FIELD: what is wrong". */
struct ectx {
	const char *label;
	char *err;
	size_t errlen;
};

/* Reports an error of `field` (NULL: the file as a whole); returns -EINVAL. */
static int fail(const struct ectx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct ectx *c, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (field != NULL && field[0] != '\0')
		snprintf(c->err, c->errlen, "%s: %s: %s", c->label, field, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->label, msg);
	free(msg);
	return -EINVAL;
}

/* The shortest text that reads back as v (messages show 1.0000001, not 1). */
static const char *fmt_num(double v, char out[40])
{
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(out, 40, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return out;
}

/*
 * A string in double quotes for a message: quotes, backslashes and control
 * characters escaped, UTF-8 kept when valid (else bytes as \xNN), cut at
 * QUOTE_MAX bytes. Caller frees.
 */
static char *quote(const char *s)
{
	struct buf b = { 0 };
	size_t n = strlen(s);
	bool utf8 = utf8_valid(s, n);

	buf_puts(&b, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= QUOTE_MAX && (!utf8 || (ch & 0xc0) != 0x80)) {
			buf_puts(&b, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			buf_printf(&b, "\\%c", ch);
		else if (ch == '\n')
			buf_puts(&b, "\\n");
		else if (ch == '\t')
			buf_puts(&b, "\\t");
		else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8))
			buf_printf(&b, "\\x%02x", ch);
		else
			buf_append(&b, &ch, 1);
	}
	buf_puts(&b, "\"");
	return b.data;
}

char *predict_quote(const char *s)
{
	return quote(s);
}

/* What a value is, for "X is not a number": its text when short, else its kind. */
static char *describe(const cJSON *v)
{
	char num[40];

	if (cJSON_IsString(v))
		return quote(v->valuestring);
	if (cJSON_IsNumber(v))
		return xstrdup(fmt_num(v->valuedouble, num));
	if (cJSON_IsArray(v))
		return xstrdup("an array");
	if (cJSON_IsObject(v))
		return xstrdup("an object");
	if (cJSON_IsTrue(v))
		return xstrdup("true");
	if (cJSON_IsFalse(v))
		return xstrdup("false");
	return xstrdup("null");
}

static int fail_type(const struct ectx *c, const char *field, const cJSON *v, const char *what)
{
	char *d = describe(v);
	int rc = fail(c, field, "%s is not %s", d, what);

	free(d);
	return rc;
}

/* ---- JSON text ---- */

/* 1-based line and column (in characters) of byte offset pos. */
static void line_col(const char *text, size_t len, size_t pos, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int fail_at(const struct ectx *c, const char *text, size_t len, size_t pos,
		   const char *what)
{
	size_t line, col;

	line_col(text, len, pos, &line, &col);
	return fail(c, NULL, "%s at line %zu, column %zu", what, line, col);
}

/*
 * Scans the text before cJSON does: a NUL byte (cJSON would cut a string
 * there) or nesting deeper than PREDICT_MAX_DEPTH (cJSON recurses once per
 * level) is reported here with its position.
 */
static int prescan(const struct ectx *c, const char *text, size_t len, bool *ascii)
{
	size_t depth = 0;
	bool in_str = false, esc = false;
	unsigned char hi = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		hi |= (unsigned char)ch;
		if (ch == '\0')
			return fail_at(c, text, len, i, "invalid JSON: a NUL byte");
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > PREDICT_MAX_DEPTH) {
				char what[64];
				snprintf(what, sizeof(what), "JSON nested deeper than %d levels",
					 PREDICT_MAX_DEPTH);
				return fail_at(c, text, len, i, what);
			}
		} else if ((ch == ']' || ch == '}') && depth > 0) {
			depth--;
		}
	}
	*ascii = hi < 0x80;
	return 0;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* True when text[0..len) is all ASCII; a word at a time. */
static bool is_ascii(const char *text, size_t len)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, text + i, 8);
		acc |= w;
	}
	for (; i < len; i++)
		acc |= (unsigned char)text[i];
	return (acc & 0x8080808080808080ULL) == 0;
}

/* True when a container nests deeper than PREDICT_MAX_DEPTH (level = v's depth). */
static bool too_deep(const cJSON *v, int level)
{
	const cJSON *ch;

	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return false;
	if (level > PREDICT_MAX_DEPTH)
		return true;
	cJSON_ArrayForEach(ch, v)
		if (too_deep(ch, level + 1))
			return true;
	return false;
}

/* Parses a whole file's text; NULL with the error set on failure. */
static cJSON *parse_json(const struct ectx *c, const char *text, size_t len)
{
	const char *end = NULL;
	size_t i = 0;

	while (i < len && is_ws(text[i]))
		i++;
	if (i == len) {
		fail(c, NULL, "empty file");
		return NULL;
	}
	/*
	 * The full scan (NUL bytes, nesting) runs only when something is wrong:
	 * cJSON itself stops at 1000 levels, and the tree's depth is checked
	 * after the parse, so a valid file is read by cJSON alone. On a failure
	 * the scan finds the position of the first NUL or too-deep bracket.
	 */
	bool ascii = false;
	if (memchr(text, '\0', len) != NULL && prescan(c, text, len, &ascii) < 0)
		return NULL;
	ascii = is_ascii(text, len);
	if (!ascii && !utf8_valid(text, len)) {
		fail(c, NULL, "the text is not valid UTF-8");
		return NULL;
	}
	/*
	 * Not require_null_terminated: cJSON then wants the NUL inside the
	 * length, and the text is borrowed with no NUL promised. Trailing text
	 * is checked below instead.
	 */
	cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (v == NULL && prescan(c, text, len, &ascii) < 0)
		return NULL;
	if (v != NULL && too_deep(v, 1)) {
		cJSON_Delete(v);
		if (prescan(c, text, len, &ascii) < 0)
			return NULL;
		fail(c, NULL, "JSON nested deeper than %d levels", PREDICT_MAX_DEPTH);
		return NULL;
	}
	if (v == NULL) {
		size_t pos = end != NULL && end >= text ? (size_t)(end - text) : 0;
		/*
		 * Where an object key should start but no string does, cJSON
		 * reports one byte past the offending character ({"a": 1,} fails
		 * after the '}'); step back onto it, as config.c does.
		 */
		if (pos > 0 && pos <= len && !is_ws(text[pos - 1])) {
			size_t k = pos - 1;
			while (k > 0 && is_ws(text[k - 1]))
				k--;
			if (k > 0 && (text[k - 1] == '{' || text[k - 1] == ','))
				pos--;
		}
		fail_at(c, text, len, pos, "invalid JSON");
		return NULL;
	}
	size_t pos = (size_t)(end - text);
	while (pos < len && is_ws(text[pos]))
		pos++;
	if (pos < len) {
		cJSON_Delete(v);
		fail_at(c, text, len, pos, "invalid JSON: text after the value");
		return NULL;
	}
	return v;
}

/*
 * Member `key` of obj, or NULL when absent. cJSON keeps duplicate keys in
 * its child list; a read key given twice is ambiguous, hence an error (*rc).
 */
static const cJSON *member(const struct ectx *c, const cJSON *obj, const char *key,
			   const char *field, int *rc)
{
	const cJSON *found = NULL;
	const cJSON *m;

	cJSON_ArrayForEach(m, obj) {
		if (m->string == NULL || strcmp(m->string, key) != 0)
			continue;
		if (found != NULL) {
			*rc = fail(c, field, "given twice");
			return NULL;
		}
		found = m;
	}
	return found;
}

/* A finite number. */
static int get_number(const struct ectx *c, const cJSON *v, const char *field, double *out)
{
	if (!cJSON_IsNumber(v))
		return fail_type(c, field, v, "a number");
	/* Strict JSON has no NaN or Inf, but cJSON reads 1e999 as Inf. */
	if (!isfinite(v->valuedouble))
		return fail(c, field, "not a finite number");
	*out = v->valuedouble;
	return 0;
}

/* A number in [0, 1]. */
static int get_unit(const struct ectx *c, const cJSON *v, const char *field, double *out)
{
	char num[40];
	int rc = get_number(c, v, field, out);

	if (rc < 0)
		return rc;
	if (!(*out >= 0.0 && *out <= 1.0))
		return fail(c, field, "%s is not in [0, 1]", fmt_num(*out, num));
	return 0;
}

/* An integer >= 0 (1.0 counts: JSON does not tell 1 from 1.0 through cJSON). */
static int get_uint(const struct ectx *c, const cJSON *v, const char *field, double *out)
{
	char num[40];
	int rc = get_number(c, v, field, out);

	if (rc < 0)
		return rc;
	if (*out < 0)
		return fail(c, field, "%s is negative", fmt_num(*out, num));
	if (floor(*out) != *out)
		return fail(c, field, "%s is not an integer", fmt_num(*out, num));
	if (*out > MAX_EXACT_INT)
		return fail(c, field, "%s is too large (at most 2^53)", fmt_num(*out, num));
	return 0;
}

static int get_string(const struct ectx *c, const cJSON *v, const char *field, const char **out)
{
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return fail_type(c, field, v, "a string");
	*out = v->valuestring;
	return 0;
}

/* ---- numbers ---- */

/* Powers of ten a double holds exactly. */
static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* 5^k for k <= 27, the largest power of five below 2^63. */
static const uint64_t pow5[] = {
	1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL,
	1953125ULL, 9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL,
	30517578125ULL, 152587890625ULL, 762939453125ULL, 3814697265625ULL,
	19073486328125ULL, 95367431640625ULL, 476837158203125ULL, 2384185791015625ULL,
	11920928955078125ULL, 59604644775390625ULL, 298023223876953125ULL,
	1490116119384765625ULL, 7450580596923828125ULL,
};

#define TWO_53	(1ULL << 53)

/*
 * m / 10^k rounded to nearest, ties to even, for 1 <= m < 2^64 and
 * 1 <= k <= 27: the value strtod gives for the same decimal. 10^k is
 * 5^k * 2^k; the 2^k goes into the exponent, and m / 5^k is computed in
 * integers: q = floor(m * 2^(lz + s) / 5^k), with m shifted to fill 64 bits
 * and s chosen so that q lands in [2^62, 2^64). q's low 10 or 11 bits and
 * the remainder r decide the rounding of the 53 kept bits exactly; no
 * floating-point operation rounds anything. Returns false (use strtod) if
 * the result would not be a normal double, which these ranges exclude.
 */
static bool div_pow10(uint64_t m, int k, double *out)
{
	uint64_t d = pow5[k];
	int lz = __builtin_clzll(m);
	int s = 63 - __builtin_clzll(d);	/* 2^s <= d < 2^(s+1) */
	__extension__ unsigned __int128 num = (unsigned __int128)(m << lz) << s;
	/* num < 2^64 * 2^s <= d * 2^64: the quotient fits in 64 bits. */
	uint64_t q = (uint64_t)(num / d);
	uint64_t r = (uint64_t)(num - (unsigned __int128)q * d);
	int shift = 64 - __builtin_clzll(q) - 53;	/* 10 or 11 */
	uint64_t keep = q >> shift;
	uint64_t rest = q & ((1ULL << shift) - 1), half = 1ULL << (shift - 1);

	if (rest > half || (rest == half && (r != 0 || (keep & 1) != 0))) {
		keep++;
		if (keep == TWO_53) {
			keep >>= 1;
			shift++;
		}
	}
	/* The value is keep * 2^(shift - lz - s - k), keep in [2^52, 2^53). */
	int biased = shift - lz - s - k + 52 + 1023;
	if (biased < 1 || biased > 2046)
		return false;
	uint64_t bits = ((uint64_t)biased << 52) | (keep - (TWO_53 >> 1));
	memcpy(out, &bits, sizeof(*out));
	return true;
}

/* The value of eight ASCII digits, in a few multiplications (little-endian SWAR). */
static uint64_t eight_digits(const char *s)
{
	uint64_t v;

	memcpy(&v, s, sizeof(v));
	v -= 0x3030303030303030ULL;
	v = v * 10 + (v >> 8);
	return (((v & 0x000000ff000000ffULL) * 0x000f424000000064ULL) +
		(((v >> 16) & 0x000000ff000000ffULL) * 0x0000271000000001ULL)) >> 32;
}

/* m followed by the n digits of s, as an integer (the caller keeps it below 10^19). */
static uint64_t add_digits(uint64_t m, const char *s, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; n >= 8; s += 8, n -= 8)
		m = m * 100000000 + eight_digits(s);
#endif
	for (; n > 0; s++, n--)
		m = m * 10 + (uint64_t)(*s - '0');
	return m;
}

static const char *skip_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/*
 * The value of a JSON number's text (yajl checked its syntax), exactly as
 * strtod rounds it, without strtod where that is cheap to prove: up to 19
 * significant digits m and a decimal exponent e with
 *  - m <= 2^53 and |e| <= 22: one multiplication or division of two exact
 *    doubles, which IEEE 754 rounds correctly (Clinger's fast path; it needs
 *    FLT_EVAL_METHOD 0, no extended-precision intermediates);
 *  - -27 <= e < 0 otherwise (Python's 17-digit repr of a probability):
 *    div_pow10, in integers.
 * Anything else returns false and goes to strtod.
 */
static bool number_fast(const char *s, size_t n, double *out)
{
	const char *p = s, *end = s + n;
	const char *ip, *iend, *fp = NULL, *fend = NULL;
	bool neg = false;
	uint64_t m;
	int e = 0;
	double v;

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
	return false;
#endif
	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	ip = p;
	iend = p = skip_digits(p, end);
	if (p < end && *p == '.') {
		fp = p + 1;
		fend = p = skip_digits(fp, end);
		e = -(int)(fend - fp);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		int x = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (x < 100000)
				x = x * 10 + (*p - '0');
		e += eneg ? -x : x;
	}
	if (p != end)
		return false;
	/* Leading zeros are not significant, in the integer part or, after a zero one, the fraction. */
	while (ip < iend && *ip == '0')
		ip++;
	if (ip == iend && fp != NULL)
		while (fp < fend && *fp == '0')
			fp++;
	size_t ni = (size_t)(iend - ip), nf = fp != NULL ? (size_t)(fend - fp) : 0;
	if (ni + nf > 19)
		return false;
	m = add_digits(add_digits(0, ip, ni), fp, nf);
	if (m == 0) {
		v = 0.0;
	} else if (m <= TWO_53 && e >= -22 && e <= 22) {
		v = e < 0 ? (double)m / pow10_exact[-e] : (double)m * pow10_exact[e];
	} else if (e < 0 && e >= -27) {
		if (!div_pow10(m, -e, &v))
			return false;
	} else {
		return false;
	}
	*out = neg ? -v : v;
	return true;
}

/* ---- schema.json ---- */

struct cat_idx {
	long id;
	size_t idx;	/* position in the file, for messages */
	char *name;
};

static int cmp_cat_idx(const void *a, const void *b)
{
	const struct cat_idx *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void task_schema_free(struct task_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ncats; i++)
		free(s->cats[i].name);
	free(s->cats);
	memset(s, 0, sizeof(*s));
}

int predict_parse_schema(const char *text, size_t len, const char *label,
			 struct task_schema *s, char *err, size_t errlen)
{
	struct ectx c = { label, err, errlen };
	struct cat_idx *ci = NULL;
	size_t n = 0;
	int rc = 0;
	cJSON *root;
	const cJSON *v, *cats, *m;
	const char *str = NULL;

	memset(s, 0, sizeof(*s));
	root = parse_json(&c, text, len);
	if (root == NULL)
		return -EINVAL;
	if (!cJSON_IsObject(root)) {
		rc = fail(&c, NULL, "the top level is not an object");
		goto out;
	}
	v = member(&c, root, "task_type", "task_type", &rc);
	if (rc < 0)
		goto out;
	if (v == NULL) {
		rc = fail(&c, "task_type", "missing");
		goto out;
	}
	if ((rc = get_string(&c, v, "task_type", &str)) < 0)
		goto out;
	int t = task_type_parse(str);
	if (t < 0) {
		char *q = quote(str);
		rc = fail(&c, "task_type", "%s is not one of classification, object-detection, "
			  "semantic-segmentation, keypoint-detection", q);
		free(q);
		goto out;
	}
	cats = member(&c, root, "categories", "categories", &rc);
	if (rc < 0)
		goto out;
	if (cats == NULL) {
		rc = fail(&c, "categories", "missing");
		goto out;
	}
	if (!cJSON_IsArray(cats)) {
		rc = fail_type(&c, "categories", cats, "an array");
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(cats);
	if (n == 0) {
		rc = fail(&c, "categories", "empty; a task needs at least one category");
		goto out;
	}
	ci = xcalloc(n, sizeof(*ci));
	size_t i = 0;
	cJSON_ArrayForEach(m, cats) {
		char field[64];
		double id;

		snprintf(field, sizeof(field), "categories[%zu]", i);
		if (!cJSON_IsObject(m)) {
			rc = fail_type(&c, field, m, "an object");
			goto out;
		}
		snprintf(field, sizeof(field), "categories[%zu].id", i);
		v = member(&c, m, "id", field, &rc);
		if (rc < 0)
			goto out;
		if (v == NULL) {
			rc = fail(&c, field, "missing");
			goto out;
		}
		if ((rc = get_uint(&c, v, field, &id)) < 0)
			goto out;
		snprintf(field, sizeof(field), "categories[%zu].name", i);
		v = member(&c, m, "name", field, &rc);
		if (rc < 0)
			goto out;
		if (v == NULL) {
			rc = fail(&c, field, "missing");
			goto out;
		}
		if ((rc = get_string(&c, v, field, &str)) < 0)
			goto out;
		ci[i].id = (long)id;
		ci[i].idx = i;
		ci[i].name = xstrdup(str);
		i++;
	}
	qsort(ci, n, sizeof(*ci), cmp_cat_idx);
	for (i = 1; i < n; i++) {
		if (ci[i].id == ci[i - 1].id) {
			char field[64];
			snprintf(field, sizeof(field), "categories[%zu].id", ci[i].idx);
			rc = fail(&c, field, "%ld is already the id of categories[%zu]", ci[i].id,
				  ci[i - 1].idx);
			goto out;
		}
	}
	s->type = (enum task_type)t;
	s->cats = xcalloc(n, sizeof(*s->cats));
	s->ncats = n;
	for (i = 0; i < n; i++) {
		s->cats[i].id = ci[i].id;
		s->cats[i].name = ci[i].name;
		ci[i].name = NULL;
	}
out:
	if (ci != NULL)
		for (size_t k = 0; k < n; k++)
			free(ci[k].name);
	free(ci);
	cJSON_Delete(root);
	return rc;
}

/* ---- prediction files ---- */

long task_schema_index(const struct task_schema *s, long id)
{
	size_t lo = 0, hi = s->ncats;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->cats[mid].id == id)
			return (long)mid;
		if (s->cats[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static bool schema_has(const struct task_schema *s, long id)
{
	return task_schema_index(s, id) >= 0;
}

static int fail_unknown_id(const struct ectx *c, const char *field, long id,
			   const struct task_schema *s)
{
	struct buf ids = { 0 };
	int rc;

	for (size_t i = 0; i < s->ncats && i < IDS_LISTED; i++)
		buf_printf(&ids, "%s%ld", i ? ", " : "", s->cats[i].id);
	if (s->ncats > IDS_LISTED)
		buf_printf(&ids, ", ... %zu in all", s->ncats);
	rc = fail(c, field, "%ld is not a category of the schema (%s)", id, ids.data);
	buf_free(&ids);
	return rc;
}

/* Appends the decimal digits of v at p; returns the end. */
static char *put_index(char *p, size_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * "predictions[3].bbox" into out (64 bytes are plenty: keys are short). Built
 * by hand, not with snprintf: it runs for every field of every valid file,
 * and formatting was a tenth of the time spent on a prediction file.
 */
static const char *fld(char out[64], size_t i, const char *key)
{
	char *p = out;

	memcpy(p, "predictions[", 12);
	p = put_index(p + 12, i);
	*p++ = ']';
	*p++ = '.';
	size_t kl = strlen(key);
	if (kl > 32)
		kl = 32;
	memcpy(p, key, kl);
	p[kl] = '\0';
	return out;
}

/* "predictions[3].bbox[2]" into out. */
static const char *fld2(char out[64], size_t i, const char *key, size_t k)
{
	char *p = out + strlen(fld(out, i, key));

	*p++ = '[';
	p = put_index(p, k);
	*p++ = ']';
	*p = '\0';
	return out;
}

/* An optional or required member of entry i; *v NULL when absent and optional. */
static int entry_member(const struct ectx *c, const cJSON *e, size_t i, const char *key,
			bool required, const cJSON **v)
{
	char field[64];
	int rc = 0;

	fld(field, i, key);
	*v = member(c, e, key, field, &rc);
	if (rc < 0)
		return rc;
	if (*v == NULL && required)
		return fail(c, field, "missing");
	return 0;
}

static int parse_probs(const struct ectx *c, const cJSON *v, size_t i,
		       const struct task_schema *s, struct pred_entry *e)
{
	char field[64], num[40];
	size_t len;
	double p;
	int rc;

	fld(field, i, "probabilities");
	/* A single value p, bare or as [p], means [p, 1-p] for one or two categories. */
	if (cJSON_IsNumber(v)) {
		if (s->ncats > 2)
			return fail(c, field, "a single value, the schema has %zu categories",
				    s->ncats);
		if ((rc = get_unit(c, v, field, &p)) < 0)
			return rc;
		goto binary;
	}
	if (!cJSON_IsArray(v))
		return fail_type(c, field, v, "an array of numbers");
	len = (size_t)cJSON_GetArraySize(v);
	if (len == 1 && s->ncats <= 2) {
		fld2(field, i, "probabilities", 0);
		if ((rc = get_unit(c, v->child, field, &p)) < 0)
			return rc;
		goto binary;
	}
	if (len != s->ncats)
		return fail(c, field, "length %zu, the schema has %zu categor%s", len, s->ncats,
			    s->ncats == 1 ? "y" : "ies");
	e->probs = xcalloc(len, sizeof(double));
	e->nprobs = len;
	double sum = 0;
	size_t k = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, v) {
		char xf[64];
		fld2(xf, i, "probabilities", k);
		if ((rc = get_unit(c, x, xf, &e->probs[k])) < 0)
			return rc;
		sum += e->probs[k++];
	}
	if (fabs(sum - 1.0) > PROB_SUM_TOL)
		return fail(c, field, "the values sum to %s, not 1 (within 1e-3)",
			    fmt_num(sum, num));
	return 0;
binary:
	e->probs = xcalloc(2, sizeof(double));
	e->probs[0] = p;
	e->probs[1] = 1.0 - p;
	e->nprobs = 2;
	return 0;
}

static int parse_bbox(const struct ectx *c, const cJSON *v, size_t i, struct pred_entry *e)
{
	char field[64], num[40];
	size_t k = 0;
	const cJSON *x;
	int rc;

	fld(field, i, "bbox");
	if (!cJSON_IsArray(v))
		return fail_type(c, field, v, "an array [x, y, w, h]");
	if (cJSON_GetArraySize(v) != 4)
		return fail(c, field, "length %d, not 4 ([x, y, w, h])", cJSON_GetArraySize(v));
	cJSON_ArrayForEach(x, v) {
		char xf[64];
		fld2(xf, i, "bbox", k);
		if ((rc = get_number(c, x, xf, &e->bbox[k])) < 0)
			return rc;
		k++;
	}
	if (e->bbox[0] < 0)
		return fail(c, field, "x %s is negative", fmt_num(e->bbox[0], num));
	if (e->bbox[1] < 0)
		return fail(c, field, "y %s is negative", fmt_num(e->bbox[1], num));
	if (!(e->bbox[2] > 0))
		return fail(c, field, "width %s is not > 0", fmt_num(e->bbox[2], num));
	if (!(e->bbox[3] > 0))
		return fail(c, field, "height %s is not > 0", fmt_num(e->bbox[3], num));
	return 0;
}

/* Lightly's row-major RLE: 0-run, 1-run, 0-run, ...; pixels = sum of the 1-runs. */
static int parse_rle(const struct ectx *c, const cJSON *v, size_t i, struct img_size size,
		     struct pred_entry *e)
{
	char field[64];
	uint64_t sum = 0, ones = 0;
	size_t k = 0;
	const cJSON *x;
	int rc;

	fld(field, i, "segmentation");
	if (!cJSON_IsArray(v))
		return fail_type(c, field, v, "an array of run lengths (Lightly's row-major RLE)");
	if (cJSON_GetArraySize(v) == 0)
		return fail(c, field, "no runs");
	cJSON_ArrayForEach(x, v) {
		char xf[64];
		double d = 0;
		fld2(xf, i, "segmentation", k);
		if ((rc = get_uint(c, x, xf, &d)) < 0)
			return rc;
		uint64_t r = (uint64_t)d;
		if (r > UINT64_MAX - sum)
			return fail(c, field, "the runs sum to more than 2^64");
		sum += r;
		if (k % 2 == 1)
			ones += r;
		k++;
	}
	if (size.w != 0 && size.h != 0) {
		uint64_t px = (uint64_t)size.w * size.h;
		if (sum != px)
			return fail(c, field, "the runs sum to %llu, the image has %ux%u = %llu pixels",
				    (unsigned long long)sum, (unsigned)size.w, (unsigned)size.h,
				    (unsigned long long)px);
	}
	e->pixels = ones;
	return 0;
}

static int parse_keypoints(const struct ectx *c, const cJSON *v, size_t i, struct pred_entry *e)
{
	char field[64], num[40];
	size_t len, k = 0;
	const cJSON *x;
	int rc;

	fld(field, i, "keypoints");
	if (!cJSON_IsArray(v))
		return fail_type(c, field, v, "an array [x0, y0, c0, ...]");
	len = (size_t)cJSON_GetArraySize(v);
	if (len == 0 || len % 3 != 0)
		return fail(c, field, "length %zu is not a positive multiple of 3", len);
	e->nkp = len / 3;
	e->kp_conf = xcalloc(e->nkp, sizeof(double));
	cJSON_ArrayForEach(x, v) {
		char xf[64];
		double d = 0;
		fld2(xf, i, "keypoints", k);
		if (k % 3 == 2) {
			if ((rc = get_number(c, x, xf, &d)) < 0)
				return rc;
			if (!(d >= 0 && d <= 1))
				return fail(c, xf, "confidence %s is not in [0, 1]", fmt_num(d, num));
			e->kp_conf[k / 3] = d;
		} else {
			if ((rc = get_number(c, x, xf, &d)) < 0)
				return rc;
			if (d < 0)
				return fail(c, xf, "%s %s is negative", k % 3 ? "y" : "x",
					    fmt_num(d, num));
		}
		k++;
	}
	return 0;
}

static void entry_free(struct pred_entry *e)
{
	free(e->probs);
	free(e->kp_conf);
}

static int parse_entry(const struct ectx *c, const cJSON *item, size_t i,
		       const struct task_schema *s, struct img_size size, struct pred_entry *e)
{
	char field[64];
	const cJSON *v;
	double d = 0;
	int rc;
	enum task_type t = s->type;

	e->score = NAN;
	if (!cJSON_IsObject(item)) {
		snprintf(field, sizeof(field), "predictions[%zu]", i);
		return fail_type(c, field, item, "an object");
	}
	if ((rc = entry_member(c, item, i, "category_id", true, &v)) < 0)
		return rc;
	if ((rc = get_uint(c, v, fld(field, i, "category_id"), &d)) < 0)
		return rc;
	e->category_id = (long)d;
	if (!schema_has(s, e->category_id))
		return fail_unknown_id(c, field, e->category_id, s);

	if (t != TASK_CLASSIFICATION) {
		if ((rc = entry_member(c, item, i, "score", true, &v)) < 0)
			return rc;
		if ((rc = get_unit(c, v, fld(field, i, "score"), &e->score)) < 0)
			return rc;
	}
	if (t != TASK_KEYPOINT_DETECTION) {
		if ((rc = entry_member(c, item, i, "probabilities", t == TASK_CLASSIFICATION, &v)) < 0)
			return rc;
		if (v != NULL && (rc = parse_probs(c, v, i, s, e)) < 0)
			return rc;
	}
	switch (t) {
	case TASK_OBJECT_DETECTION:
		if ((rc = entry_member(c, item, i, "bbox", true, &v)) < 0)
			return rc;
		return parse_bbox(c, v, i, e);
	case TASK_SEMANTIC_SEGMENTATION:
		if ((rc = entry_member(c, item, i, "segmentation", true, &v)) < 0)
			return rc;
		return parse_rle(c, v, i, size, e);
	case TASK_KEYPOINT_DETECTION:
		if ((rc = entry_member(c, item, i, "keypoints", true, &v)) < 0)
			return rc;
		return parse_keypoints(c, v, i, e);
	default:
		return 0;
	}
}

/* Frees the entries of a parse that failed, each array allocated on its own. */
static void entries_free(struct pred_image *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->e[i]);
	free(p->e);
	memset(p, 0, sizeof(*p));
}

/* Moves the entries and their arrays into one allocation, as the fast path makes them. */
static void entries_pack(struct pred_image *p)
{
	size_t nv = 0;

	for (size_t i = 0; i < p->n; i++)
		nv += p->e[i].nprobs + p->e[i].nkp;
	struct pred_entry *b = xmalloc(p->n * sizeof(*b) + nv * sizeof(double));
	double *v = (double *)(b + p->n);
	for (size_t i = 0; i < p->n; i++) {
		b[i] = p->e[i];
		if (p->e[i].probs != NULL) {
			memcpy(v, p->e[i].probs, p->e[i].nprobs * sizeof(double));
			b[i].probs = v;
			v += p->e[i].nprobs;
		}
		if (p->e[i].kp_conf != NULL) {
			memcpy(v, p->e[i].kp_conf, p->e[i].nkp * sizeof(double));
			b[i].kp_conf = v;
			v += p->e[i].nkp;
		}
		entry_free(&p->e[i]);
	}
	free(p->e);
	p->e = b;
}

void pred_image_free(struct pred_image *p)
{
	if (p == NULL)
		return;
	free(p->e);
	memset(p, 0, sizeof(*p));
}

/*
 * The slow path: the file read with cJSON into a tree and checked field by
 * field in a fixed order, so that the first error in that order is the one
 * reported.
 */
static int parse_file_slow(const char *text, size_t len, const char *label,
			   const char *image_path, const struct task_schema *schema,
			   struct img_size size, struct pred_image *out, char *err, size_t errlen)
{
	struct ectx c = { label, err, errlen };
	const cJSON *v, *preds, *item;
	const char *name = NULL;
	int rc = 0;
	cJSON *root;

	memset(out, 0, sizeof(*out));
	root = parse_json(&c, text, len);
	if (root == NULL)
		return -EINVAL;
	if (!cJSON_IsObject(root)) {
		rc = fail(&c, NULL, "the top level is not an object");
		goto out;
	}
	v = member(&c, root, "file_name", "file_name", &rc);
	if (rc < 0)
		goto out;
	if (v == NULL) {
		rc = fail(&c, "file_name", "missing");
		goto out;
	}
	if ((rc = get_string(&c, v, "file_name", &name)) < 0)
		goto out;
	if (strcmp(name, image_path) != 0) {
		char *a = quote(name), *b = quote(image_path);
		rc = fail(&c, NULL, "file_name %s is not the image's path %s", a, b);
		free(a);
		free(b);
		goto out;
	}
	preds = member(&c, root, "predictions", "predictions", &rc);
	if (rc < 0)
		goto out;
	if (preds == NULL) {
		rc = fail(&c, "predictions", "missing");
		goto out;
	}
	if (!cJSON_IsArray(preds)) {
		rc = fail_type(&c, "predictions", preds, "an array");
		goto out;
	}
	size_t n = (size_t)cJSON_GetArraySize(preds);
	if (schema->type == TASK_CLASSIFICATION && n > 1) {
		rc = fail(&c, "predictions", "%zu entries; classification takes exactly one", n);
		goto out;
	}
	out->has_file = true;
	if (n == 0)
		goto out;
	out->e = xcalloc(n, sizeof(*out->e));
	cJSON_ArrayForEach(item, preds) {
		/* Count the entry first, so that a failure frees what it allocated. */
		out->n++;
		if ((rc = parse_entry(&c, item, out->n - 1, schema, size, &out->e[out->n - 1])) < 0)
			goto out;
	}
out:
	if (rc < 0)
		entries_free(out);
	else if (out->n > 0)
		entries_pack(out);
	cJSON_Delete(root);
	return rc;
}

/* ---- prediction files: the fast path, streamed through yajl ---- */

/*
 * What the next value is: the top level; in an object, what its key says; in
 * the predictions array an entry; in an entry's array one of its elements.
 * Also the bits of struct fast's seen masks.
 */
enum want {
	W_ROOT,
	W_IGNORE,		/* the value of a key this module does not read */
	W_FILE_NAME,
	W_PREDICTIONS,
	W_ENTRY,
	W_CATEGORY_ID,
	W_SCORE,
	W_PROBS,
	W_BBOX,
	W_SEG,
	W_KP,
	W_ELEM,			/* an element of the array of fast.arr */
};

/* The container being read; ignored ones are counted in fast.skip instead. */
enum where { IN_TOP, IN_ROOT, IN_PREDS, IN_ENTRY, IN_ARRAY, IN_DONE };

/* An entry while its file is read; its arrays are offsets into fast.vals. */
struct fentry {
	struct pred_entry e;
	size_t probs_at, kp_at;	/* SIZE_MAX: none */
};

#define FAST_ENTRIES	16
#define FAST_VALS	256
/*
 * Longer number texts go to the slow path: cJSON 1.7.15 upstream reads at
 * most 63 characters of a number, Debian's patched build all of them.
 */
#define FAST_NUMBER_MAX	63

struct fast {
	yajl_handle h;
	const char *text;
	size_t len;
	const char *image_path;
	const struct task_schema *s;
	struct img_size size;
	int depth;		/* open containers, ignored ones included */
	int skip;		/* > 0: inside an ignored value, its open containers */
	enum where in;
	enum want want;
	enum want arr;		/* the entry's array being read */
	bool escapes_checked, escapes_ok;
	unsigned root_seen, seen;	/* keys read at the top level, in the entry */
	size_t nel;		/* elements of the array so far */
	double sum;		/* probabilities: their sum so far */
	uint64_t runs, ones;	/* segmentation: all runs, the 1-runs */
	struct fentry *ent;	/* ent0 until it grows */
	size_t nent, capent;
	double *vals;		/* vals0 until it grows: probabilities, keypoint confidences */
	size_t nvals, capvals;
	struct fentry ent0[FAST_ENTRIES];
	double vals0[FAST_VALS];
};

/* The number text's value, exactly as strtod (and so cJSON) reads it. */
static bool number_value(const char *s, size_t n, double *v)
{
	char buf[FAST_NUMBER_MAX + 1];
	char *end;

	if (number_fast(s, n, v))
		return true;
	if (n > FAST_NUMBER_MAX)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*v = strtod(buf, &end);
	/* A locale whose decimal point is not '.' stops strtod early. */
	return end == buf + n;
}

static bool unit_ok(double v)
{
	return v >= 0.0 && v <= 1.0;
}

/* get_uint's test, for a finite v. */
static bool uint_ok(double v)
{
	return !(v < 0) && floor(v) == v && !(v > MAX_EXACT_INT);
}

static void fast_push(struct fast *f, double v)
{
	if (f->nvals == f->capvals) {
		size_t cap = f->capvals * 2;
		if (f->vals == f->vals0) {
			f->vals = xreallocarray(NULL, cap, sizeof(double));
			memcpy(f->vals, f->vals0, sizeof(f->vals0));
		} else {
			f->vals = xreallocarray(f->vals, cap, sizeof(double));
		}
		f->capvals = cap;
	}
	f->vals[f->nvals++] = v;
}

static struct fentry *fast_entry(struct fast *f)
{
	return &f->ent[f->nent - 1];
}

static void fast_new_entry(struct fast *f)
{
	if (f->nent == f->capent) {
		size_t cap = f->capent * 2;
		if (f->ent == f->ent0) {
			f->ent = xreallocarray(NULL, cap, sizeof(*f->ent));
			memcpy(f->ent, f->ent0, sizeof(f->ent0));
		} else {
			f->ent = xreallocarray(f->ent, cap, sizeof(*f->ent));
		}
		f->capent = cap;
	}
	struct fentry *fe = &f->ent[f->nent++];
	memset(fe, 0, sizeof(*fe));
	fe->e.score = NAN;
	fe->probs_at = SIZE_MAX;
	fe->kp_at = SIZE_MAX;
}

static bool is_hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char ch = p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

/*
 * True when every \u escape of the (syntactically valid) text reads the same
 * in yajl and cJSON: yajl turns a lone surrogate into "?" where cJSON fails,
 * and cJSON cuts a string at \u0000 where yajl keeps the rest.
 */
static bool u_escapes_ok(const char *t, size_t n)
{
	const char *end = t + n;
	bool in_str = false;
	unsigned c1, c2;

	for (const char *p = t; p < end; p++) {
		if (!in_str) {
			in_str = *p == '"';
			continue;
		}
		if (*p == '"') {
			in_str = false;
			continue;
		}
		if (*p != '\\')
			continue;
		if (++p == end)
			return false;
		if (*p != 'u')
			continue;
		if (!is_hex4(p + 1, end, &c1))
			return false;
		p += 4;
		if (c1 == 0 || (c1 >= 0xdc00 && c1 <= 0xdfff))
			return false;
		if (c1 >= 0xd800 && c1 <= 0xdbff) {
			if (end - p < 3 || p[1] != '\\' || p[2] != 'u' || !is_hex4(p + 3, end, &c2) ||
			    c2 < 0xdc00 || c2 > 0xdfff)
				return false;
			p += 6;
		}
	}
	return true;
}

/*
 * yajl hands over a string that had no escapes as a pointer into the text,
 * and one that had as its own decoded copy; only those need the check.
 */
static bool fast_string_ok(struct fast *f, const unsigned char *s)
{
	const char *p = (const char *)s;

	if (p >= f->text && p < f->text + f->len)
		return true;
	if (!f->escapes_checked) {
		f->escapes_checked = true;
		f->escapes_ok = u_escapes_ok(f->text, f->len);
	}
	return f->escapes_ok;
}

static bool key_is(const unsigned char *k, size_t n, const char *name, size_t nl)
{
	return n == nl && memcmp(k, name, nl) == 0;
}
#define KEY_IS(k, n, lit)	key_is(k, n, lit, sizeof(lit) - 1)

/* What a key of an entry means for the task type; W_IGNORE when not read. */
static enum want entry_key(enum task_type t, const unsigned char *k, size_t n)
{
	if (KEY_IS(k, n, "category_id"))
		return W_CATEGORY_ID;
	if (KEY_IS(k, n, "score"))
		return t != TASK_CLASSIFICATION ? W_SCORE : W_IGNORE;
	if (KEY_IS(k, n, "probabilities"))
		return t != TASK_KEYPOINT_DETECTION ? W_PROBS : W_IGNORE;
	if (KEY_IS(k, n, "bbox"))
		return t == TASK_OBJECT_DETECTION ? W_BBOX : W_IGNORE;
	if (KEY_IS(k, n, "segmentation"))
		return t == TASK_SEMANTIC_SEGMENTATION ? W_SEG : W_IGNORE;
	if (KEY_IS(k, n, "keypoints"))
		return t == TASK_KEYPOINT_DETECTION ? W_KP : W_IGNORE;
	return W_IGNORE;
}

/* The keys an entry of the type must have, as bits of enum want. */
static unsigned entry_required(enum task_type t)
{
	switch (t) {
	case TASK_CLASSIFICATION:
		return 1u << W_CATEGORY_ID | 1u << W_PROBS;
	case TASK_OBJECT_DETECTION:
		return 1u << W_CATEGORY_ID | 1u << W_SCORE | 1u << W_BBOX;
	case TASK_SEMANTIC_SEGMENTATION:
		return 1u << W_CATEGORY_ID | 1u << W_SCORE | 1u << W_SEG;
	default:
		return 1u << W_CATEGORY_ID | 1u << W_SCORE | 1u << W_KP;
	}
}

/*
 * The yajl callbacks. Each returns 1 to go on, 0 to stop the parse: at the
 * first thing that makes the file invalid, or that the fast path leaves to
 * the slow one.
 */
static int fast_null(void *ctx)
{
	struct fast *f = ctx;

	return f->skip > 0 || f->want == W_IGNORE;
}

static int fast_bool(void *ctx, int b)
{
	return fast_null(ctx);
}

static int fast_elem(struct fast *f, struct fentry *fe, double v)
{
	size_t k = f->nel++;

	switch (f->arr) {
	case W_PROBS:
		/* More values than categories fail at the end anyway: stop now. */
		if ((k >= f->s->ncats && k >= 1) || !unit_ok(v))
			return 0;
		fast_push(f, v);
		f->sum += v;
		return 1;
	case W_BBOX:
		if (k >= 4)
			return 0;
		fe->e.bbox[k] = v;
		return 1;
	case W_SEG: {
		if (!uint_ok(v))
			return 0;
		uint64_t r = (uint64_t)v;
		if (r > UINT64_MAX - f->runs)
			return 0;
		f->runs += r;
		if (k % 2 == 1)
			f->ones += r;
		return 1;
	}
	case W_KP:
		if (k % 3 == 2) {
			if (!unit_ok(v))
				return 0;
			fast_push(f, v);
		} else if (v < 0) {
			return 0;
		}
		return 1;
	default:
		return 0;
	}
}

static int fast_number_cb(void *ctx, const char *s, size_t n)
{
	struct fast *f = ctx;
	double v;

	if (n > FAST_NUMBER_MAX)
		return 0;
	if (f->skip > 0 || f->want == W_IGNORE)
		return 1;
	if (f->nent == 0 || !number_value(s, n, &v) || !isfinite(v))
		return 0;
	struct fentry *fe = fast_entry(f);
	switch (f->want) {
	case W_CATEGORY_ID:
		if (!uint_ok(v) || !schema_has(f->s, (long)v))
			return 0;
		fe->e.category_id = (long)v;
		return 1;
	case W_SCORE:
		if (!unit_ok(v))
			return 0;
		fe->e.score = v;
		return 1;
	case W_PROBS:
		/* A bare p, for one or two categories: [p, 1-p]. */
		if (f->s->ncats > 2 || !unit_ok(v))
			return 0;
		fe->probs_at = f->nvals;
		fast_push(f, v);
		fast_push(f, 1.0 - v);
		fe->e.nprobs = 2;
		return 1;
	case W_ELEM:
		return fast_elem(f, fe, v);
	default:
		return 0;
	}
}

static int fast_string(void *ctx, const unsigned char *s, size_t n)
{
	struct fast *f = ctx;

	if (!fast_string_ok(f, s))
		return 0;
	if (f->skip > 0 || f->want == W_IGNORE)
		return 1;
	return f->want == W_FILE_NAME && n == strlen(f->image_path) &&
	       memcmp(s, f->image_path, n) == 0;
}

static int fast_key(void *ctx, const unsigned char *k, size_t n)
{
	struct fast *f = ctx;
	unsigned *seen = &f->seen;
	enum want w;

	if (!fast_string_ok(f, k))
		return 0;
	if (f->skip > 0)
		return 1;
	if (f->in == IN_ROOT) {
		seen = &f->root_seen;
		w = KEY_IS(k, n, "file_name") ? W_FILE_NAME
			: KEY_IS(k, n, "predictions") ? W_PREDICTIONS : W_IGNORE;
	} else {
		w = entry_key(f->s->type, k, n);
	}
	if (w != W_IGNORE) {
		/* A key this module reads, given twice. */
		if (*seen & 1u << w)
			return 0;
		*seen |= 1u << w;
	}
	f->want = w;
	return 1;
}

static int fast_start_map(void *ctx)
{
	struct fast *f = ctx;

	if (++f->depth > PREDICT_MAX_DEPTH)
		return 0;
	if (f->skip > 0) {
		f->skip++;
		return 1;
	}
	switch (f->want) {
	case W_IGNORE:
		f->skip = 1;
		return 1;
	case W_ROOT:
		f->in = IN_ROOT;
		return 1;
	case W_ENTRY:
		if (f->s->type == TASK_CLASSIFICATION && f->nent == 1)
			return 0;
		fast_new_entry(f);
		f->seen = 0;
		f->in = IN_ENTRY;
		return 1;
	default:
		return 0;
	}
}

static int fast_end_map(void *ctx)
{
	struct fast *f = ctx;
	unsigned need;

	f->depth--;
	if (f->skip > 0) {
		f->skip--;
		return 1;
	}
	switch (f->in) {
	case IN_ENTRY:
		need = entry_required(f->s->type);
		if ((f->seen & need) != need)
			return 0;
		f->in = IN_PREDS;
		f->want = W_ENTRY;
		return 1;
	case IN_ROOT:
		need = 1u << W_FILE_NAME | 1u << W_PREDICTIONS;
		if ((f->root_seen & need) != need)
			return 0;
		/*
		 * The object must end the text: yajl takes trailing text that
		 * is one unfinished token (' "{}'), cJSON does not.
		 */
		if (yajl_get_bytes_consumed(f->h) != f->len)
			return 0;
		f->in = IN_DONE;
		return 1;
	default:
		return 0;
	}
}

static int fast_start_array(void *ctx)
{
	struct fast *f = ctx;

	if (++f->depth > PREDICT_MAX_DEPTH)
		return 0;
	if (f->skip > 0) {
		f->skip++;
		return 1;
	}
	switch (f->want) {
	case W_IGNORE:
		f->skip = 1;
		return 1;
	case W_PREDICTIONS:
		f->in = IN_PREDS;
		f->want = W_ENTRY;
		return 1;
	case W_PROBS:
	case W_BBOX:
	case W_SEG:
	case W_KP:
		if (f->want == W_PROBS)
			fast_entry(f)->probs_at = f->nvals;
		else if (f->want == W_KP)
			fast_entry(f)->kp_at = f->nvals;
		f->in = IN_ARRAY;
		f->arr = f->want;
		f->want = W_ELEM;
		f->nel = 0;
		f->sum = 0;
		f->runs = 0;
		f->ones = 0;
		return 1;
	default:
		return 0;
	}
}

static int fast_end_array(void *ctx)
{
	struct fast *f = ctx;
	size_t k = f->nel;

	f->depth--;
	if (f->skip > 0) {
		f->skip--;
		return 1;
	}
	if (f->in == IN_PREDS) {
		f->in = IN_ROOT;
		return 1;
	}
	if (f->in != IN_ARRAY)
		return 0;
	f->in = IN_ENTRY;
	struct fentry *fe = fast_entry(f);
	const double *b = fe->e.bbox;
	switch (f->arr) {
	case W_PROBS:
		if (k == 1 && f->s->ncats <= 2) {
			fast_push(f, 1.0 - f->vals[fe->probs_at]);
			fe->e.nprobs = 2;
			return 1;
		}
		if (k != f->s->ncats || fabs(f->sum - 1.0) > PROB_SUM_TOL)
			return 0;
		fe->e.nprobs = k;
		return 1;
	case W_BBOX:
		return k == 4 && !(b[0] < 0) && !(b[1] < 0) && b[2] > 0 && b[3] > 0;
	case W_SEG:
		if (k == 0)
			return 0;
		if (f->size.w != 0 && f->size.h != 0 && f->runs != (uint64_t)f->size.w * f->size.h)
			return 0;
		fe->e.pixels = f->ones;
		return 1;
	case W_KP:
		if (k == 0 || k % 3 != 0)
			return 0;
		fe->e.nkp = k / 3;
		return 1;
	default:
		return 0;
	}
}

static const yajl_callbacks fast_callbacks = {
	.yajl_null = fast_null,
	.yajl_boolean = fast_bool,
	.yajl_number = fast_number_cb,
	.yajl_string = fast_string,
	.yajl_start_map = fast_start_map,
	.yajl_map_key = fast_key,
	.yajl_end_map = fast_end_map,
	.yajl_start_array = fast_start_array,
	.yajl_end_array = fast_end_array,
};

/*
 * Reads a prediction file in one pass. Returns true with out filled when the
 * file is valid; false when it is not, or when it holds something whose
 * reading only the slow path decides (see the DESIGN comment).
 */
static bool parse_file_fast(const char *text, size_t len, const char *image_path,
			    const struct task_schema *schema, struct img_size size,
			    struct pred_image *out)
{
	struct fast f;
	size_t end = len;
	bool ok;

	/*
	 * After the top-level object only is_ws() may follow: yajl would also
	 * take \v and \f there. Cut those four, and require the '}' before.
	 */
	while (end > 0 && is_ws(text[end - 1]))
		end--;
	if (end == 0 || text[end - 1] != '}')
		return false;
	if (memchr(text, '\0', end) != NULL || (!is_ascii(text, end) && !utf8_valid(text, end)))
		return false;

	f.text = text;
	f.len = end;
	f.image_path = image_path;
	f.s = schema;
	f.size = size;
	f.depth = 0;
	f.skip = 0;
	f.in = IN_TOP;
	f.want = W_ROOT;
	f.arr = W_IGNORE;
	f.escapes_checked = false;
	f.escapes_ok = false;
	f.root_seen = 0;
	f.seen = 0;
	f.ent = f.ent0;
	f.nent = 0;
	f.capent = FAST_ENTRIES;
	f.vals = f.vals0;
	f.nvals = 0;
	f.capvals = FAST_VALS;

	f.h = yajl_alloc(&fast_callbacks, NULL, &f);
	if (f.h == NULL)
		return false;
	/* utf8_valid() checked the whole text; strings need no second look. */
	yajl_config(f.h, yajl_dont_validate_strings, 1);
	ok = yajl_parse(f.h, (const unsigned char *)text, end) == yajl_status_ok &&
	     yajl_complete_parse(f.h) == yajl_status_ok && f.in == IN_DONE;
	yajl_free(f.h);

	if (ok) {
		out->has_file = true;
		if (f.nent > 0) {
			struct pred_entry *e = xmalloc(f.nent * sizeof(*e) + f.nvals * sizeof(double));
			double *v = (double *)(e + f.nent);
			memcpy(v, f.vals, f.nvals * sizeof(double));
			for (size_t i = 0; i < f.nent; i++) {
				e[i] = f.ent[i].e;
				if (f.ent[i].probs_at != SIZE_MAX)
					e[i].probs = v + f.ent[i].probs_at;
				if (f.ent[i].kp_at != SIZE_MAX)
					e[i].kp_conf = v + f.ent[i].kp_at;
			}
			out->e = e;
			out->n = f.nent;
		}
	}
	if (f.ent != f.ent0)
		free(f.ent);
	if (f.vals != f.vals0)
		free(f.vals);
	return ok;
}

int predict_parse_file(const char *text, size_t len, const char *label, const char *image_path,
		       const struct task_schema *schema, struct img_size size,
		       struct pred_image *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (parse_file_fast(text, len, image_path, schema, size, out))
		return 0;
	/* Invalid, or beyond the fast path: the slow path decides and words the error. */
	return parse_file_slow(text, len, label, image_path, schema, size, out, err, errlen);
}

/* ---- reading from the datasource ---- */

/* A name usable as one folder of .lightly/predictions. */
static bool task_name_ok(const char *name)
{
	if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	return utf8_valid(name, strlen(name));
}

/* Message for a dataset_read failure of a file that had to be there or be valid. */
static const char *read_error(int rc, char *sb, size_t sblen)
{
	switch (-rc) {
	case EFBIG:
		return "larger than 64 MiB, refused";
	case EXDEV:
		return "leaves the datasource (a symbolic link or \"..\" pointing outside the root)";
	case EISDIR:
		return "a folder, not a file";
	case EINVAL:
		return "not a regular file";
	default:
		/* The GNU strerror_r (the Makefile defines _GNU_SOURCE): thread-safe. */
		return strerror_r(-rc, sb, sblen);
	}
}

/* Reads a file that decides the run: 0, -ENOENT when absent, or an error in err. */
static int read_pred_file(const struct dataset *ds, const char *rel, uint8_t **text, size_t *len,
			  char *err, size_t errlen)
{
	char sb[128];
	int rc = dataset_read(ds, rel, PREDICT_MAX_FILE_BYTES, text, len);

	/* ENOTDIR: a folder on the way is a file, so this file cannot exist. */
	if (rc == -ENOENT || rc == -ENOTDIR)
		return -ENOENT;
	char dserr[1024];
	/* A remote datasource: the bucket's or the network's reason, not a bare errno. */
	if (rc < 0 && dataset_transient(ds, rc) &&
	    dataset_last_error(ds, dserr, sizeof(dserr))[0] != '\0')
		seterr(err, errlen, "%s: %s", rel, dserr);
	else if (rc < 0)
		seterr(err, errlen, "%s: %s", rel, read_error(rc, sb, sizeof(sb)));
	return rc;
}

int predict_name_idx_cmp(const void *a, const void *b)
{
	const struct predict_name_idx *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * A task listed twice is an error at its second mention, the first such in
 * file order. Sorted rather than compared pairwise: tasks.json may be large.
 */
static int check_task_dups(const struct ectx *c, const struct strvec *names)
{
	struct predict_name_idx *ni = xcalloc(names->n ? names->n : 1, sizeof(*ni));
	size_t bad = names->n;
	int rc = 0;

	for (size_t i = 0; i < names->n; i++) {
		ni[i].name = names->v[i];
		ni[i].idx = i;
	}
	qsort(ni, names->n, sizeof(*ni), predict_name_idx_cmp);
	for (size_t i = 1; i < names->n; i++)
		if (strcmp(ni[i].name, ni[i - 1].name) == 0 && ni[i].idx < bad)
			bad = ni[i].idx;
	if (bad < names->n) {
		char field[32], *q = quote(names->v[bad]);
		snprintf(field, sizeof(field), "[%zu]", bad);
		rc = fail(c, field, "%s is listed twice", q);
		free(q);
	}
	free(ni);
	return rc;
}

int predict_list_tasks(const struct dataset *ds, struct strvec *tasks, char *err, size_t errlen)
{
	struct ectx c = { TASKS_FILE, err, errlen };
	struct strvec names = { 0 };
	uint8_t *text;
	size_t len, i = 0;
	const cJSON *m;
	int rc = read_pred_file(ds, TASKS_FILE, &text, &len, err, errlen);

	if (rc < 0)
		return rc;
	cJSON *root = parse_json(&c, (const char *)text, len);
	free(text);
	if (root == NULL)
		return -EINVAL;
	if (!cJSON_IsArray(root)) {
		rc = fail(&c, NULL, "the top level is not an array of task names");
		goto out;
	}
	cJSON_ArrayForEach(m, root) {
		char field[32];
		const char *name = NULL;
		snprintf(field, sizeof(field), "[%zu]", i);
		if ((rc = get_string(&c, m, field, &name)) < 0)
			goto out;
		if (!task_name_ok(name)) {
			char *q = quote(name);
			rc = fail(&c, field, "%s is not a task folder name (empty, \".\", \"..\", "
				  "a \"/\" or a control character)", q);
			free(q);
			goto out;
		}
		strvec_push(&names, name);
		i++;
	}
	if ((rc = check_task_dups(&c, &names)) < 0)
		goto out;
	for (i = 0; i < names.n; i++)
		strvec_push(tasks, names.v[i]);
out:
	strvec_free(&names);
	cJSON_Delete(root);
	return rc;
}

static int check_task_name(const char *task, char *err, size_t errlen)
{
	if (task != NULL && task_name_ok(task))
		return 0;
	char *q = quote(task != NULL ? task : "");
	seterr(err, errlen, "task name %s: not a folder name of " PRED_DIR, q);
	free(q);
	return -EINVAL;
}

int predict_load_schema(const struct dataset *ds, const char *task, struct task_schema *s,
			char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = check_task_name(task, err, errlen)) < 0)
		return rc;
	char *rel = xasprintf(PRED_DIR "/%s/schema.json", task);
	rc = read_pred_file(ds, rel, &text, &len, err, errlen);
	if (rc == -ENOENT)
		seterr(err, errlen, PRED_DIR "/%s: missing schema.json", task);
	if (rc == 0) {
		rc = predict_parse_schema((const char *)text, len, rel, s, err, errlen);
		free(text);
	}
	free(rel);
	return rc;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct walk {
	const struct dataset *ds;
	const char *schema_rel;		/* the task's schema.json: not a prediction file */
	char **known;			/* prediction paths of the images, sorted */
	size_t nknown;
	size_t ignored;
};

static bool ends_with_json(const char *name)
{
	size_t l = strlen(name);

	return l > 5 && strcmp(name + l - 5, ".json") == 0;
}

/*
 * Counts a prediction file that belongs to no given image (dataset_walk's
 * callback). The count is for the report and decides nothing.
 */
static void walk_one(void *ud, const char *rel)
{
	struct walk *w = ud;

	if (ends_with_json(rel) && strcmp(rel, w->schema_rel) != 0 &&
	    bsearch(&rel, w->known, w->nknown, sizeof(*w->known), cmp_strp) == NULL)
		w->ignored++;
}

struct walk_job {
	struct walk w;
	const char *dir_rel;
	char **sorted;
	pthread_t tid;
};

static void *walk_main(void *arg)
{
	struct walk_job *wj = arg;

	dataset_walk(wj->w.ds, wj->dir_rel, walk_one, &wj->w);
	return NULL;
}

struct load_job {
	const struct dataset *ds;
	char *const *paths;
	const struct img_size *sizes;
	char **rel;			/* prediction file of each image */
	const struct task_schema *schema;
	struct pred_image *img;
	char *tbuf;			/* per-thread message buffers */
	size_t tlen;
	pthread_mutex_t mu;
	atomic_size_t first_bad;	/* index of the first failed image; n: none */
	int bad_rc;
	char *err;
	size_t errlen;
};

static void load_one(size_t i, int tid, void *ud)
{
	struct load_job *j = ud;
	char *msg = j->tbuf + (size_t)tid * j->tlen;
	struct img_size size = { 0, 0 };
	uint8_t *text;
	size_t len;

	/* Only the first failure in path order is reported; later ones need no work. */
	if (i > atomic_load_explicit(&j->first_bad, memory_order_relaxed))
		return;
	int rc = read_pred_file(j->ds, j->rel[i], &text, &len, msg, j->tlen);
	if (rc == -ENOENT)
		return;	/* has_file stays false: no predictions */
	if (rc == 0) {
		if (j->sizes != NULL)
			size = j->sizes[i];
		rc = predict_parse_file((const char *)text, len, j->rel[i], j->paths[i], j->schema,
					size, &j->img[i], msg, j->tlen);
		free(text);
	}
	if (rc == 0)
		return;
	pthread_mutex_lock(&j->mu);
	if (i < atomic_load(&j->first_bad)) {
		atomic_store(&j->first_bad, i);
		j->bad_rc = rc;
		seterr(j->err, j->errlen, "%s", msg);
	}
	pthread_mutex_unlock(&j->mu);
}

/* Byte length of path without its extension (the dot of the last component). */
static size_t stem_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash != NULL ? slash + 1 : path, '.');

	return dot != NULL ? (size_t)(dot - path) : strlen(path);
}

struct rel_idx {
	const char *rel;
	size_t idx;
};

static int cmp_rel_idx(const void *a, const void *b)
{
	const struct rel_idx *x = a, *y = b;
	int c = strcmp(x->rel, y->rel);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Two images on one prediction file, or an image on schema.json: an error. */
static int check_mapping(char *const *paths, char **rel, size_t n, const char *schema_rel,
			 char *err, size_t errlen)
{
	struct rel_idx *ri = xcalloc(n ? n : 1, sizeof(*ri));
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		ri[i].rel = rel[i];
		ri[i].idx = i;
	}
	qsort(ri, n, sizeof(*ri), cmp_rel_idx);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strcmp(ri[i].rel, schema_rel) == 0) {
			char *q = quote(paths[ri[i].idx]);
			seterr(err, errlen, "%s: the image %s would have the task's schema as its "
			       "prediction file", schema_rel, q);
			free(q);
			rc = -EINVAL;
		} else if (i > 0 && strcmp(ri[i].rel, ri[i - 1].rel) == 0) {
			char *a = quote(paths[ri[i - 1].idx]), *b = quote(paths[ri[i].idx]);
			seterr(err, errlen, "%s: the images %s and %s both map to this prediction "
			       "file (their paths differ only in extension)", ri[i].rel, a, b);
			free(a);
			free(b);
			rc = -EINVAL;
		}
	}
	free(ri);
	return rc;
}

void task_preds_free(struct task_preds *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nimg; i++)
		pred_image_free(&t->img[i]);
	free(t->img);
	free(t->name);
	task_schema_free(&t->schema);
	memset(t, 0, sizeof(*t));
}

int predict_load_task(const struct dataset *ds, const char *task, char *const *paths,
		      const struct img_size *sizes, size_t n, int threads,
		      struct task_preds *out, char *err, size_t errlen)
{
	struct load_job j = { 0 };
	char **rel = NULL;
	char *schema_rel = NULL, *dir_rel = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = predict_load_schema(ds, task, &out->schema, err, errlen)) < 0)
		return rc;
	out->name = xstrdup(task);
	out->img = xcalloc(n ? n : 1, sizeof(*out->img));
	out->nimg = n;
	dir_rel = xasprintf(PRED_DIR "/%s", task);
	schema_rel = xasprintf("%s/schema.json", dir_rel);
	rel = xcalloc(n ? n : 1, sizeof(*rel));
	for (size_t i = 0; i < n; i++)
		rel[i] = xasprintf("%s/%.*s.json", dir_rel, (int)stem_len(paths[i]), paths[i]);
	if ((rc = check_mapping(paths, rel, n, schema_rel, err, errlen)) < 0)
		goto out;

	if (threads < 1)
		threads = 1;
	j.ds = ds;
	j.paths = paths;
	j.sizes = sizes;
	j.rel = rel;
	j.schema = &out->schema;
	j.img = out->img;
	j.tlen = errlen > 0 ? errlen : 1;
	j.tbuf = xcalloc((size_t)threads, j.tlen);
	j.err = err;
	j.errlen = errlen;
	atomic_init(&j.first_bad, n);
	pthread_mutex_init(&j.mu, NULL);

	/*
	 * The walk that counts ignored files needs only the sorted names: it
	 * runs beside the parsing, on its own thread, instead of after it.
	 */
	struct walk_job wj = { .w = { ds, schema_rel, NULL, n, 0 }, .dir_rel = dir_rel };
	wj.sorted = xcalloc(n ? n : 1, sizeof(*wj.sorted));
	memcpy(wj.sorted, rel, n * sizeof(*rel));
	qsort(wj.sorted, n, sizeof(*wj.sorted), cmp_strp);
	wj.w.known = wj.sorted;
	bool walking = pthread_create(&wj.tid, NULL, walk_main, &wj) == 0;
	if (!walking)
		walk_main(&wj);

	/* Remote datasources fetch the prediction files many at a time (a no-op for LOCAL). */
	bool prefetching = dataset_prefetch_start(ds, rel, n) == 0;
	pool_for(n, threads, load_one, &j, NULL);
	if (prefetching)
		dataset_prefetch_stop(ds);
	if (walking)
		pthread_join(wj.tid, NULL);
	free(wj.sorted);
	pthread_mutex_destroy(&j.mu);
	free(j.tbuf);
	if (atomic_load(&j.first_bad) < n) {
		rc = j.bad_rc;
		goto out;
	}
	out->files_ignored = wj.w.ignored;
out:
	for (size_t i = 0; i < n; i++)
		free(rel[i]);
	free(rel);
	free(schema_rel);
	free(dir_rel);
	if (rc < 0)
		task_preds_free(out);
	return rc;
}

static void free_one(size_t i, int tid, void *ud)
{
	pred_image_free(&((struct task_preds *)ud)->img[i]);
}

void task_preds_free_mt(struct task_preds *t, int threads)
{
	if (t == NULL)
		return;
	pool_for(t->nimg, threads, free_one, t, NULL);
	task_preds_free(t);
}

/* ---- the strict JSON reading, shared with metadata.c ---- */

int predict_read_file(const struct dataset *ds, const char *rel, uint8_t **text, size_t *len,
		      char *err, size_t errlen)
{
	return read_pred_file(ds, rel, text, len, err, errlen);
}

struct cJSON *predict_parse_json(const char *text, size_t len, const char *label, char *err,
				 size_t errlen)
{
	struct ectx c = { label, err, errlen };

	return parse_json(&c, text, len);
}

const struct cJSON *predict_member(const struct cJSON *obj, const char *key, const char *label,
				   const char *field, char *err, size_t errlen, int *rc)
{
	struct ectx c = { label, err, errlen };

	return member(&c, obj, key, field, rc);
}

char *predict_describe(const struct cJSON *v)
{
	return describe(v);
}

size_t predict_stem_len(const char *path)
{
	return stem_len(path);
}
