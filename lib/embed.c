/*
 * embed: embeddings CSV, the built-in descriptor, normalisation and PCA.
 *
 * DESIGN: the built-in descriptor is built from the 32x32 RGB thumbnail of the
 * image pass, in three L2-normalised parts:
 *   - grey layout (64): the 8x8 area-averaged luma, minus its mean, divided by
 *     its standard deviation (so brightness and contrast do not matter);
 *   - gradient orientation (128): on the 32x32 luma, central-difference
 *     gradients binned by unsigned orientation into 8 bins (linear
 *     interpolation between bins, magnitude weighted) over a 4x4 grid of 8x8
 *     cells; the whole block is L2-normalised, clipped at 0.2 and normalised
 *     again, as HOG does;
 *   - colour (12): mean R, G, B of each quadrant, scaled to [0,1], times 0.5
 *     so colour alone does not dominate content.
 * It separates content (shape and layout) first and colour second.
 */
#include "embed.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/*
 * Orientation of (gx, gy) folded into [0, pi), from a minimax polynomial for
 * atan on [0, 1] (error below 1e-5 rad): a fifth of the cost of atan2(), and
 * as deterministic, which is what the descriptor needs.
 */
static double orientation(double gx, double gy)
{
	if (gy < 0 || (gy == 0 && gx < 0)) {
		gx = -gx;
		gy = -gy;
	}
	double ax = fabs(gx), ay = gy;
	double t = ax >= ay ? ay / ax : ax / ay;
	double t2 = t * t;
	double a = t * (0.99997726 + t2 * (-0.33262347 + t2 * (0.19354346 +
		   t2 * (-0.11643287 + t2 * (0.05265332 - t2 * 0.01172120)))));
	if (ay > ax)
		a = M_PI_2 - a;
	if (gx < 0)
		a = M_PI - a;
	return a >= M_PI ? 0 : a;
}

static void normalize_part(double *v, size_t n, double weight)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += v[i] * v[i];
	if (s <= 0)
		return;
	s = weight / sqrt(s);
	for (size_t i = 0; i < n; i++)
		v[i] *= s;
}

void embed_descriptor(const struct img_thumb *t, double *out)
{
	enum { S = THUMB_SIZE, C = 8 };
	double grey[S * S];
	double *g8 = out, *hog = out + DESC_GREY, *col = out + DESC_GREY + DESC_HOG;

	memset(out, 0, DESC_DIM * sizeof(*out));
	for (int i = 0; i < S * S; i++)
		grey[i] = 0.299 * t->rgb[3 * i] + 0.587 * t->rgb[3 * i + 1] + 0.114 * t->rgb[3 * i + 2];

	/* Grey layout: 8x8 blocks of 4x4 pixels, standardised. */
	double mean = 0, var = 0;
	for (int by = 0; by < 8; by++)
		for (int bx = 0; bx < 8; bx++) {
			double s = 0;
			for (int y = 0; y < 4; y++)
				for (int x = 0; x < 4; x++)
					s += grey[(by * 4 + y) * S + bx * 4 + x];
			g8[by * 8 + bx] = s / 16.0;
			mean += s / 16.0;
		}
	mean /= 64.0;
	for (int i = 0; i < 64; i++) {
		g8[i] -= mean;
		var += g8[i] * g8[i];
	}
	if (var > 1e-9)
		normalize_part(g8, DESC_GREY, 1.0);
	else
		memset(g8, 0, DESC_GREY * sizeof(*g8));

	/* Gradient orientation histograms, 4x4 cells of 8x8 pixels, 8 bins over [0, pi). */
	for (int y = 0; y < S; y++)
		for (int x = 0; x < S; x++) {
			double gx = grey[y * S + (x + 1 < S ? x + 1 : x)] - grey[y * S + (x > 0 ? x - 1 : x)];
			double gy = grey[(y + 1 < S ? y + 1 : y) * S + x] - grey[(y > 0 ? y - 1 : y) * S + x];
			double mag = sqrt(gx * gx + gy * gy);
			if (mag <= 0)
				continue;
			double pos = orientation(gx, gy) / M_PI * C - 0.5;
			int b0 = (int)floor(pos);
			double f = pos - b0;
			int cell = (y / 8) * 4 + x / 8;
			hog[cell * C + ((b0 % C) + C) % C] += mag * (1 - f);
			hog[cell * C + ((b0 + 1) % C + C) % C] += mag * f;
		}
	normalize_part(hog, DESC_HOG, 1.0);
	for (int i = 0; i < DESC_HOG; i++)
		if (hog[i] > 0.2)
			hog[i] = 0.2;
	normalize_part(hog, DESC_HOG, 1.0);

	/* Colour: mean RGB of each quadrant. */
	for (int q = 0; q < 4; q++) {
		int qy = q / 2, qx = q % 2;
		for (int c = 0; c < 3; c++) {
			double s = 0;
			for (int y = 0; y < S / 2; y++)
				for (int x = 0; x < S / 2; x++)
					s += t->rgb[3 * ((qy * S / 2 + y) * S + qx * S / 2 + x) + c];
			col[q * 3 + c] = 0.5 * s / (S * S / 4) / 255.0;
		}
	}
}

static int cmp_names(const void *a, const void *b, void *ctx)
{
	char *const *names = ctx;

	return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

static void sort_index(struct emb_table *t)
{
	t->order = xcalloc(t->n, sizeof(*t->order));
	for (size_t i = 0; i < t->n; i++)
		t->order[i] = i;
	qsort_r(t->order, t->n, sizeof(*t->order), cmp_names, t->names);
}

long emb_table_find(const struct emb_table *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->names[t->order[mid]], name);
		if (c == 0)
			return (long)t->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void emb_table_free(struct emb_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->names[i]);
	free(t->names);
	free(t->rows);
	free(t->order);
	memset(t, 0, sizeof(*t));
}

/* One line: [s, end) without the line break; *next is after it. */
static const char *next_line(const char *s, const char *end, const char **next, size_t *len)
{
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;

	*next = nl ? nl + 1 : end;
	if (e > s && e[-1] == '\r')
		e--;
	*len = (size_t)(e - s);
	return s;
}

int emb_table_parse(const char *text, size_t len, const char *label, struct emb_table *t,
		    char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *next, *line;
	size_t ll, lineno = 1, cap = 0;
	int rc = -EINVAL;

	memset(t, 0, sizeof(*t));
	/* Header: filenames,embedding_0,...,embedding_{d-1},labels */
	line = next_line(p, end, &next, &ll);
	if (ll < 9 || strncmp(line, "filenames", 9) != 0 || (ll > 9 && line[9] != ',')) {
		snprintf(err, errlen, "%s: line 1: the header must start with \"filenames\"", label);
		return -EINVAL;
	}
	{
		const char *q = line + 9, *le = line + ll;
		size_t col = 0;
		bool labels = false;
		while (q < le) {
			q++;	/* the comma */
			const char *c = memchr(q, ',', (size_t)(le - q));
			const char *ce = c ? c : le;
			char want[32];
			snprintf(want, sizeof(want), "embedding_%zu", col);
			if (c == NULL && (size_t)(ce - q) == 6 && memcmp(q, "labels", 6) == 0) {
				labels = true;
			} else if ((size_t)(ce - q) != strlen(want) || memcmp(q, want, strlen(want)) != 0) {
				snprintf(err, errlen, "%s: line 1: column %zu is \"%.*s\", expected \"%s\"%s",
					 label, col + 2, (int)(ce - q > 40 ? 40 : ce - q), q, want,
					 c == NULL ? " or \"labels\"" : "");
				return -EINVAL;
			} else {
				col++;
			}
			q = ce;
		}
		if (!labels) {
			snprintf(err, errlen, "%s: line 1: the header must end with \"labels\"", label);
			return -EINVAL;
		}
		if (col == 0) {
			snprintf(err, errlen, "%s: line 1: no embedding_N columns", label);
			return -EINVAL;
		}
		t->d = col;
	}
	p = next;
	while (p < end) {
		lineno++;
		line = next_line(p, end, &next, &ll);
		p = next;
		if (ll == 0) {
			if (p >= end)
				break;	/* the final line break */
			snprintf(err, errlen, "%s: line %zu: empty row", label, lineno);
			goto fail;
		}
		const char *le = line + ll;
		const char *c = memchr(line, ',', ll);
		if (c == NULL || c == line) {
			snprintf(err, errlen, "%s: line %zu: %s", label, lineno,
				 c == NULL ? "no fields" : "empty file name");
			goto fail;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 1024;
			t->names = xreallocarray(t->names, cap, sizeof(*t->names));
			t->rows = xreallocarray(t->rows, cap, t->d * sizeof(double));
		}
		double *row = t->rows + t->n * t->d;
		const char *q = c + 1;
		for (size_t j = 0; j < t->d; j++) {
			char num[64];
			const char *ce = memchr(q, ',', (size_t)(le - q));
			if (ce == NULL) {
				snprintf(err, errlen, "%s: line %zu: %zu fields, expected %zu",
					 label, lineno, j + 2, t->d + 2);
				goto fail;
			}
			size_t nl = (size_t)(ce - q);
			if (nl == 0 || nl >= sizeof(num)) {
				snprintf(err, errlen, "%s: line %zu: embedding_%zu: %s", label, lineno, j,
					 nl == 0 ? "empty value" : "value too long");
				goto fail;
			}
			memcpy(num, q, nl);
			num[nl] = '\0';
			char *ep;
			double v = strtod(num, &ep);
			if (*ep != '\0') {
				snprintf(err, errlen, "%s: line %zu: embedding_%zu: \"%s\" is not a number",
					 label, lineno, j, num);
				goto fail;
			}
			if (!isfinite(v)) {
				snprintf(err, errlen, "%s: line %zu: embedding_%zu: %s is not finite",
					 label, lineno, j, num);
				goto fail;
			}
			row[j] = v;
			q = ce + 1;
		}
		if (memchr(q, ',', (size_t)(le - q)) != NULL) {
			snprintf(err, errlen, "%s: line %zu: more than %zu fields", label, lineno, t->d + 2);
			goto fail;
		}
		t->names[t->n] = xasprintf("%.*s", (int)(c - line), line);
		t->n++;
	}
	sort_index(t);
	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->names[t->order[i - 1]], t->names[t->order[i]]) == 0) {
			size_t a = t->order[i - 1], b = t->order[i];
			snprintf(err, errlen, "%s: line %zu: %s is named twice (also line %zu)", label,
				 (a > b ? a : b) + 2, t->names[a], (a < b ? a : b) + 2);
			goto fail;
		}
	}
	return 0;
fail:
	emb_table_free(t);
	return rc;
}

int emb_table_read(const char *path, struct emb_table *t, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = read_file(path, (size_t)1 << 40, &text, &len);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = emb_table_parse(text, len, path, t, err, errlen);
	free(text);
	return rc;
}

int emb_csv_write(FILE *f, char *const *names, const size_t *idx, size_t n,
		  const double *rows, size_t d)
{
	fputs("filenames", f);
	for (size_t j = 0; j < d; j++)
		fprintf(f, ",embedding_%zu", j);
	fputs(",labels\n", f);
	for (size_t i = 0; i < n; i++) {
		size_t r = idx ? idx[i] : i;
		fputs(names[r], f);
		for (size_t j = 0; j < d; j++)
			fprintf(f, ",%.17g", rows[r * d + j]);
		fputs(",0\n", f);
	}
	return ferror(f) ? -EIO : 0;
}

size_t embed_normalize(double *rows, size_t n, size_t d)
{
	size_t zero = 0;

	for (size_t i = 0; i < n; i++) {
		double *r = rows + i * d, s = 0;
		for (size_t j = 0; j < d; j++)
			s += r[j] * r[j];
		if (s == 0) {
			zero++;
			continue;
		}
		s = 1.0 / sqrt(s);
		for (size_t j = 0; j < d; j++)
			r[j] *= s;
	}
	return zero;
}

/* Orthonormalises the columns of V (d x 2, column-major) in place. */
static void gram_schmidt2(double *v, size_t d)
{
	double *a = v, *b = v + d, s = 0, dot = 0;

	for (size_t j = 0; j < d; j++)
		s += a[j] * a[j];
	s = s > 0 ? 1.0 / sqrt(s) : 0;
	for (size_t j = 0; j < d; j++) {
		a[j] *= s;
		dot += a[j] * b[j];
	}
	s = 0;
	for (size_t j = 0; j < d; j++) {
		b[j] -= dot * a[j];
		s += b[j] * b[j];
	}
	s = s > 0 ? 1.0 / sqrt(s) : 0;
	for (size_t j = 0; j < d; j++)
		b[j] *= s;
}

void embed_pca2d(const double *rows, size_t n, size_t d, double *xy)
{
	double *mean = xcalloc(d, sizeof(double));
	double *v = xcalloc(2 * d, sizeof(double)), *w = xcalloc(2 * d, sizeof(double));
	double *proj = xcalloc(2 * n, sizeof(double));

	if (n == 0 || d == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			mean[j] += rows[i * d + j];
	for (size_t j = 0; j < d; j++)
		mean[j] /= (double)n;
	/* A fixed, generic start: not aligned with any axis. */
	for (size_t j = 0; j < d; j++) {
		v[j] = 1.0 + 0.1 * (double)(j % 7);
		v[d + j] = (j % 2 ? -1.0 : 1.0) * (1.0 + 0.05 * (double)(j % 5));
	}
	gram_schmidt2(v, d);
	/* Subspace iteration on the covariance, applied as X^T (X v) without forming it. */
	for (int it = 0; it < 200; it++) {
		memset(w, 0, 2 * d * sizeof(double));
		for (size_t i = 0; i < n; i++) {
			const double *r = rows + i * d;
			double p0 = 0, p1 = 0;
			for (size_t j = 0; j < d; j++) {
				double c = r[j] - mean[j];
				p0 += c * v[j];
				p1 += c * v[d + j];
			}
			for (size_t j = 0; j < d; j++) {
				double c = r[j] - mean[j];
				w[j] += c * p0;
				w[d + j] += c * p1;
			}
		}
		/*
		 * Orthonormalising in order keeps the first column a plain power
		 * iteration (the top axis) and the second the top axis of what is
		 * left (simultaneous iteration).
		 */
		double change = 0;
		gram_schmidt2(w, d);
		for (size_t j = 0; j < 2 * d; j++) {
			double diff = fabs(w[j]) - fabs(v[j]);
			change += diff * diff;
		}
		memcpy(v, w, 2 * d * sizeof(double));
		if (change < 1e-24)
			break;
	}
	for (int c = 0; c < 2; c++) {
		double *ax = v + (size_t)c * d, best = 0;
		for (size_t j = 0; j < d; j++)
			if (fabs(ax[j]) > fabs(best))
				best = ax[j];
		if (best < 0)
			for (size_t j = 0; j < d; j++)
				ax[j] = -ax[j];
	}
	for (size_t i = 0; i < n; i++) {
		const double *r = rows + i * d;
		double p0 = 0, p1 = 0;
		for (size_t j = 0; j < d; j++) {
			double c = r[j] - mean[j];
			p0 += c * v[j];
			p1 += c * v[d + j];
		}
		proj[2 * i] = p0;
		proj[2 * i + 1] = p1;
	}
	memcpy(xy, proj, 2 * n * sizeof(double));
out:
	if (n > 0 && d == 0)
		memset(xy, 0, 2 * n * sizeof(double));
	free(mean);
	free(v);
	free(w);
	free(proj);
}
