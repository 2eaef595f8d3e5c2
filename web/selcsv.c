/*
 * selcsv: selection.csv read as hostile input (selcsv.h).
 */
#include "selcsv.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct rd {
	const char *s;
	size_t len, pos;
	size_t line;		/* 1-based line of the record being read */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3))) fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->errlen, "selection.csv: line %zu: ", r->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->errlen)
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A shown value: at most 60 bytes, control bytes as '?', so a message stays one short line. */
static void shown(const char *v, char *out, size_t outlen)
{
	size_t i = 0;

	for (; v[i] && i + 1 < outlen && i < 60; i++)
		out[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
	out[i] = '\0';
}

/*
 * Reads one record into fields (each NUL-terminated, owned by fields).
 * Returns the field count, 0 at the end of the text, -1 on an error.
 */
static int read_record(struct rd *r, struct strvec *fields)
{
	struct buf f = { 0 };
	int n = 0;

	strvec_free(fields);
	if (r->pos >= r->len)
		return 0;
	for (;;) {
		bool quoted = r->pos < r->len && r->s[r->pos] == '"';
		f.len = 0;
		buf_puts(&f, "");
		if (quoted) {
			r->pos++;
			for (;;) {
				if (r->pos >= r->len) {
					buf_free(&f);
					return fail(r, "a quoted field is not closed");
				}
				char c = r->s[r->pos++];
				if (c == '"') {
					if (r->pos < r->len && r->s[r->pos] == '"') {
						r->pos++;
					} else {
						break;
					}
				} else if (c == '\n') {
					r->line++;
				}
				if (c == '\0') {
					buf_free(&f);
					return fail(r, "a NUL byte");
				}
				buf_append(&f, &c, 1);
				if (f.len > SELCSV_MAX_FIELD) {
					buf_free(&f);
					return fail(r, "a field longer than %d bytes", SELCSV_MAX_FIELD);
				}
			}
		} else {
			while (r->pos < r->len && r->s[r->pos] != ',' && r->s[r->pos] != '\n' &&
			       r->s[r->pos] != '\r') {
				char c = r->s[r->pos++];
				if (c == '"' || c == '\0') {
					buf_free(&f);
					return fail(r, "%s inside an unquoted field", c ? "a quote" : "a NUL byte");
				}
				buf_append(&f, &c, 1);
				if (f.len > SELCSV_MAX_FIELD) {
					buf_free(&f);
					return fail(r, "a field longer than %d bytes", SELCSV_MAX_FIELD);
				}
			}
		}
		if (n == SELCSV_MAX_COLS + 1) {
			buf_free(&f);
			return fail(r, "more than %d fields", SELCSV_MAX_COLS + 1);
		}
		strvec_push(fields, f.data);
		n++;
		if (r->pos >= r->len)
			break;
		char c = r->s[r->pos];
		if (c == ',') {
			r->pos++;
			continue;
		}
		if (c == '\r' && r->pos + 1 < r->len && r->s[r->pos + 1] == '\n')
			r->pos++;
		else if (c == '\r') {
			buf_free(&f);
			return fail(r, "a CR not followed by LF");
		}
		if (r->s[r->pos] != '\n') {
			buf_free(&f);
			return fail(r, "text after a closing quote");
		}
		r->pos++;
		break;
	}
	buf_free(&f);
	return n;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int selcsv_parse(const char *text, size_t len, struct selcsv *out, char *err, size_t errlen)
{
	struct rd r = { .s = text, .len = len, .line = 1, .err = err, .errlen = errlen };
	struct strvec fields = { 0 };
	int fcol = -1, n;
	size_t nhead, cap = 0;

	memset(out, 0, sizeof(*out));
	if (len > SELCSV_MAX_BYTES) {
		snprintf(err, errlen, "selection.csv: %zu bytes, more than the %u allowed", len,
			 SELCSV_MAX_BYTES);
		return -1;
	}
	if ((n = read_record(&r, &fields)) <= 0) {
		if (n == 0)
			snprintf(err, errlen, "selection.csv: empty (no header line)");
		goto bad;
	}
	nhead = (size_t)n;
	if (nhead < 2 || strcmp(fields.v[0], "rank") != 0 || strcmp(fields.v[1], "filenames") != 0) {
		fail(&r, "the header does not start with rank,filenames");
		goto bad;
	}
	fcol = 1;
	out->cols = xcalloc(nhead, sizeof(char *));
	for (size_t i = 0; i < nhead; i++) {
		char v[64];
		if (fields.v[i][0] == '\0' || !printable(fields.v[i])) {
			shown(fields.v[i], v, sizeof(v));
			fail(&r, "column %zu: \"%s\" is not a column name (printable ASCII, not empty)", i + 1, v);
			goto bad;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(fields.v[k], fields.v[i]) == 0) {
				shown(fields.v[i], v, sizeof(v));
				fail(&r, "column \"%s\" given twice", v);
				goto bad;
			}
		if ((int)i != fcol)
			out->cols[out->ncols++] = xstrdup(fields.v[i]);
	}
	r.line++;
	while ((n = read_record(&r, &fields)) > 0) {
		if (n == 1 && fields.v[0][0] == '\0' && r.pos >= r.len)
			break;	/* a last empty line */
		if ((size_t)n != nhead) {
			fail(&r, "%d fields, the header has %zu", n, nhead);
			goto bad;
		}
		if (out->nrows == cap) {
			cap = cap ? cap * 2 : 64;
			out->names = xreallocarray(out->names, cap, sizeof(char *));
			out->vals = xreallocarray(out->vals, cap * out->ncols + 1, sizeof(double));
		}
		double *row = out->vals + out->nrows * out->ncols;
		size_t k = 0;
		for (size_t i = 0; i < nhead; i++) {
			const char *f = fields.v[i];
			char v[64];
			if ((int)i == fcol)
				continue;
			double x = NAN;
			if (f[0] != '\0') {
				char *end;
				x = strtod(f, &end);
				/* inf: d_i at the first pick, before anything is selected (SPEC 4.8) */
				if (*end != '\0' || isnan(x) || f[0] == ' ') {
					shown(f, v, sizeof(v));
					fail(&r, "field %zu (%s): \"%s\" is not a number", i + 1, out->cols[k], v);
					goto bad;
				}
			}
			if (i == 0 && !(isfinite(x) && x >= 1 && x == floor(x))) {
				shown(f, v, sizeof(v));
				fail(&r, "field 1 (rank): \"%s\" is not an integer >= 1", v);
				goto bad;
			}
			row[k++] = x;
		}
		if (fields.v[fcol][0] == '\0') {
			fail(&r, "field 2 (filenames) is empty");
			goto bad;
		}
		out->names[out->nrows++] = xstrdup(fields.v[fcol]);
		r.line++;
	}
	if (n < 0)
		goto bad;
	/* A name twice would make a sample's objective ambiguous. */
	if (out->nrows > 1) {
		char **sorted = xmalloc(out->nrows * sizeof(char *));
		memcpy(sorted, out->names, out->nrows * sizeof(char *));
		qsort(sorted, out->nrows, sizeof(char *), cmp_str);
		for (size_t i = 1; i < out->nrows; i++)
			if (strcmp(sorted[i - 1], sorted[i]) == 0) {
				char v[64];
				shown(sorted[i], v, sizeof(v));
				snprintf(err, errlen, "selection.csv: \"%s\" is listed twice", v);
				free(sorted);
				goto bad;
			}
		free(sorted);
	}
	strvec_free(&fields);
	return 0;
bad:
	strvec_free(&fields);
	selcsv_free(out);
	return -1;
}

int selcsv_col(const struct selcsv *s, const char *name)
{
	for (size_t i = 0; i < s->ncols; i++)
		if (strcmp(s->cols[i], name) == 0)
			return (int)i;
	return -1;
}

void selcsv_free(struct selcsv *s)
{
	for (size_t i = 0; i < s->ncols; i++)
		free(s->cols[i]);
	free(s->cols);
	for (size_t i = 0; i < s->nrows; i++)
		free(s->names[i]);
	free(s->names);
	free(s->vals);
	memset(s, 0, sizeof(*s));
}
