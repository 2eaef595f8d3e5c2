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
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dconv.h"
#include "log.h"
#include "pool.h"
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
	t->order = xcalloc_huge(t->n, sizeof(*t->order));
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

/* Parses the header line; sets t->d. */
static int parse_header(const char *line, size_t ll, const char *label, struct emb_table *t,
			char *err, size_t errlen)
{
	if (ll < 9 || strncmp(line, "filenames", 9) != 0 || (ll > 9 && line[9] != ',')) {
		snprintf(err, errlen, "%s: line 1: the header must start with \"filenames\"", label);
		return -EINVAL;
	}
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
	return 0;
}

/*
 * The body of the CSV is cut into chunks that end just after a line break, so
 * that no line spans two. A first pass counts each chunk's lines; since every
 * line but a final empty one is a row (or an error), the prefix sums give each
 * chunk its first row and line number, and chunks are parsed in parallel
 * straight into the table. The error reported is that of the first failing
 * chunk, which is the first in the file, as a sequential parse finds it.
 */
struct csv_chunk {
	const char *start, *stop;
	size_t lines;		/* lines starting in the chunk */
	size_t line0;		/* number of its first line */
	size_t row0;		/* index of its first row */
	size_t rows;		/* rows parsed */
	char *err;		/* the chunk's first error, or NULL */
};

struct csv_parse {
	const char *end;	/* of the whole text; NULL while more follows */
	const char *label;
	size_t d, errlen;
	struct emb_table *t;
	struct csv_chunk *chunks;
	atomic_size_t first_err;	/* lowest chunk index that failed */
};

static void count_lines_cb(size_t i, int tid, void *ud)
{
	struct csv_parse *cp = ud;
	struct csv_chunk *ch = &cp->chunks[i];
	const char *p = ch->start;
	size_t n = 0;

	while (p < ch->stop) {
		const char *nl = memchr(p, '\n', (size_t)(ch->stop - p));
		n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	ch->lines = n;
}

/* Parses one value; the old strtod path decides whatever the fast parser does not take. */
static int parse_value(const char *q, size_t nl, const char *label, size_t lineno, size_t j,
		       double *out, char *err, size_t errlen)
{
	char num[64];
	double v;

	if (nl == 0 || nl >= sizeof(num)) {
		snprintf(err, errlen, "%s: line %zu: embedding_%zu: %s", label, lineno, j,
			 nl == 0 ? "empty value" : "value too long");
		return -EINVAL;
	}
	if (dconv_parse(q, nl, &v) < 0) {
		char *ep;
		memcpy(num, q, nl);
		num[nl] = '\0';
		v = strtod(num, &ep);
		if (*ep != '\0') {
			snprintf(err, errlen, "%s: line %zu: embedding_%zu: \"%s\" is not a number",
				 label, lineno, j, num);
			return -EINVAL;
		}
	}
	if (!isfinite(v)) {
		snprintf(err, errlen, "%s: line %zu: embedding_%zu: %.*s is not finite",
			 label, lineno, j, (int)nl, q);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_row(const struct csv_parse *cp, const char *line, size_t ll, size_t lineno,
		     double *row, char **name, char *err, size_t errlen)
{
	const char *le = line + ll, *label = cp->label;
	const char *c = memchr(line, ',', ll);
	size_t d = cp->d;

	if (c == NULL || c == line) {
		snprintf(err, errlen, "%s: line %zu: %s", label, lineno,
			 c == NULL ? "no fields" : "empty file name");
		return -EINVAL;
	}
	const char *q = c + 1;
	for (size_t j = 0; j < d; j++) {
		/* The common case: a plain number ending at a comma, read in one pass. */
		const char *ne = dconv_scan(q, le, &row[j]);
		if (ne != NULL && ne < le && *ne == ',' && ne - q < 64 && isfinite(row[j])) {
			q = ne + 1;
			continue;
		}
		const char *ce = memchr(q, ',', (size_t)(le - q));
		if (ce == NULL) {
			snprintf(err, errlen, "%s: line %zu: %zu fields, expected %zu",
				 label, lineno, j + 2, d + 2);
			return -EINVAL;
		}
		if (parse_value(q, (size_t)(ce - q), label, lineno, j, &row[j], err, errlen) < 0)
			return -EINVAL;
		q = ce + 1;
	}
	if (memchr(q, ',', (size_t)(le - q)) != NULL) {
		snprintf(err, errlen, "%s: line %zu: more than %zu fields", label, lineno, d + 2);
		return -EINVAL;
	}
	size_t nlen = (size_t)(c - line);
	*name = xmalloc(nlen + 1);
	memcpy(*name, line, nlen);
	(*name)[nlen] = '\0';
	return 0;
}

/*
 * The common row, in one pass over its bytes: a name, d plain numbers that
 * are finite, a label without a comma. Returns the start of the next line, or
 * NULL for anything else, which parse_row then reads (and words the error of)
 * as a whole line. What this accepts, parse_row accepts with the same result.
 */
static const char *fast_row(const struct csv_parse *cp, const char *p, const char *stop,
			    double *row, char **name)
{
	const char *c = p, *q;

	while (c < stop && *c != ',' && *c != '\n')
		c++;
	if (c == p || c == stop || *c != ',')
		return NULL;
	q = c + 1;
	for (size_t j = 0; j < cp->d; j++) {
		const char *ne = dconv_scan(q, stop, &row[j]);
		if (ne == NULL || ne == stop || *ne != ',' || ne - q >= 64 || !isfinite(row[j]))
			return NULL;
		q = ne + 1;
	}
	while (q < stop && *q != '\n' && *q != ',')
		q++;
	if (q < stop && *q == ',')
		return NULL;
	size_t nlen = (size_t)(c - p);
	*name = xmalloc(nlen + 1);
	memcpy(*name, p, nlen);
	(*name)[nlen] = '\0';
	return q < stop ? q + 1 : stop;
}

static void parse_chunk_cb(size_t i, int tid, void *ud)
{
	struct csv_parse *cp = ud;
	struct csv_chunk *ch = &cp->chunks[i];
	struct emb_table *t = cp->t;
	const char *p = ch->start, *next, *line;
	size_t ll, lineno = ch->line0 - 1, r = ch->row0;
	char *err;

	/* A chunk after one that failed cannot change the error reported. */
	if (i > atomic_load(&cp->first_err))
		return;
	err = xmalloc(cp->errlen);
	while (p < ch->stop) {
		lineno++;
		next = fast_row(cp, p, ch->stop, t->rows + r * cp->d, &t->names[r]);
		if (next != NULL) {
			p = next;
			r++;
			continue;
		}
		line = next_line(p, ch->stop, &next, &ll);
		p = next;
		if (ll == 0) {
			if (cp->end != NULL && p >= cp->end)
				break;	/* the final line break */
			snprintf(err, cp->errlen, "%s: line %zu: empty row", cp->label, lineno);
			goto fail;
		}
		if (parse_row(cp, line, ll, lineno, t->rows + r * cp->d, &t->names[r], err,
			      cp->errlen) < 0)
			goto fail;
		r++;
	}
	ch->rows = r - ch->row0;
	free(err);
	return;
fail:
	ch->rows = r - ch->row0;
	ch->err = err;
	size_t cur = atomic_load(&cp->first_err);
	while (i < cur && !atomic_compare_exchange_weak(&cp->first_err, &cur, i))
		;
}

/* Chunks of about this many bytes: big enough to amortise, small enough to balance. */
#define CSV_CHUNK_BYTES ((size_t)1 << 20)

/* Rows and names read so far, and room for more. */
struct csv_reader {
	struct emb_table *t;
	const char *label;
	int threads;
	size_t cap;		/* rows allocated */
	size_t lines;		/* body lines read so far */
	uint64_t size_hint;	/* bytes of the whole text, when known (else 0) */
	char *err;
	size_t errlen;
};

static void reserve_rows(struct csv_reader *r, size_t want)
{
	struct emb_table *t = r->t;

	if (want <= r->cap)
		return;
	size_t cap = r->cap * 2 > want ? r->cap * 2 : want;
	if (r->cap == 0) {
		t->rows = xcalloc_huge(cap, t->d * sizeof(double));
	} else {
		/* A large block grows in place or by remapping: no copy of the rows. */
		t->rows = xreallocarray(t->rows, cap, t->d * sizeof(double));
		huge_hint(t->rows, cap * t->d * sizeof(double));
	}
	t->names = xreallocarray(t->names, cap, sizeof(*t->names));
	huge_hint(t->names, cap * sizeof(*t->names));
	memset(t->names + r->cap, 0, (cap - r->cap) * sizeof(*t->names));
	r->cap = cap;
}

/*
 * Parses the whole lines [s, e) of the body into the table, after the rows
 * already there. at_eof: the text ends at e (an empty last line is then the
 * final line break). Returns 0, or -EINVAL with the first error in r->err.
 */
static int parse_segment(struct csv_reader *r, const char *s, const char *e, bool at_eof)
{
	struct emb_table *t = r->t;
	struct csv_parse cp = { .end = at_eof ? e : NULL, .label = r->label, .d = t->d, .t = t,
				.errlen = r->errlen > 0 ? r->errlen : 1 };
	size_t nch = (size_t)(e - s) / CSV_CHUNK_BYTES + 1, m = 0;
	const char *seg = s;
	int rc = 0;

	cp.chunks = xcalloc(nch, sizeof(*cp.chunks));
	while (s < e) {
		const char *stop = s + CSV_CHUNK_BYTES < e && m + 1 < nch ? s + CSV_CHUNK_BYTES : e;
		if (stop < e) {
			const char *nl = memchr(stop, '\n', (size_t)(e - stop));
			stop = nl ? nl + 1 : e;
		}
		cp.chunks[m].start = s;
		cp.chunks[m].stop = stop;
		m++;
		s = stop;
	}
	atomic_init(&cp.first_err, SIZE_MAX);
	pool_for(m, r->threads, count_lines_cb, &cp, NULL);
	size_t lines = 0;
	for (size_t i = 0; i < m; i++) {
		cp.chunks[i].line0 = 2 + r->lines + lines;
		cp.chunks[i].row0 = t->n + lines;
		lines += cp.chunks[i].lines;
	}
	size_t want = t->n + lines;
	if (r->cap == 0 && r->size_hint > 0 && e > seg) {
		/*
		 * Room for the whole file at once, from the first block's bytes per
		 * line (and 5% more): growing a gigabyte table by doubling costs
		 * seconds of copying and page faults.
		 */
		double est = (double)lines * ((double)r->size_hint / (double)(e - seg));
		if (est * 1.05 + 64 > (double)want && est < 1e12)
			want = (size_t)(est * 1.05) + 64;
	}
	reserve_rows(r, want);
	pool_for(m, r->threads, parse_chunk_cb, &cp, NULL);
	for (size_t i = 0; i < m; i++) {
		if (cp.chunks[i].err != NULL && rc == 0) {
			snprintf(r->err, r->errlen, "%s", cp.chunks[i].err);
			rc = -EINVAL;
		}
		free(cp.chunks[i].err);
	}
	if (rc == 0) {
		for (size_t i = 0; i < m; i++)
			t->n += cp.chunks[i].rows;
		r->lines += lines;
	} else {
		/* Rows of the chunks after a failure are not contiguous: free by slot. */
		for (size_t i = t->n; i < t->n + lines; i++) {
			free(t->names[i]);
			t->names[i] = NULL;
		}
	}
	free(cp.chunks);
	return rc;
}

/* Sorts the name index and checks that no name comes twice. */
static int finish_table(struct emb_table *t, const char *label, char *err, size_t errlen)
{
	sort_index(t);
	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->names[t->order[i - 1]], t->names[t->order[i]]) == 0) {
			size_t a = t->order[i - 1], b = t->order[i];
			snprintf(err, errlen, "%s: line %zu: %s is named twice (also line %zu)", label,
				 (a > b ? a : b) + 2, t->names[a], (a < b ? a : b) + 2);
			return -EINVAL;
		}
	}
	return 0;
}

int emb_table_parse_mt(const char *text, size_t len, const char *label, int threads,
		       struct emb_table *t, char *err, size_t errlen)
{
	const char *end = text + len, *next, *line;
	size_t ll;
	int rc;

	memset(t, 0, sizeof(*t));
	/* Header: filenames,embedding_0,...,embedding_{d-1},labels */
	line = next_line(text, end, &next, &ll);
	if ((rc = parse_header(line, ll, label, t, err, errlen)) < 0)
		return rc;
	struct csv_reader r = { .t = t, .label = label, .err = err, .errlen = errlen,
				.threads = threads > 0 ? threads : cpu_count() };
	if ((rc = parse_segment(&r, next, end, true)) < 0 ||
	    (rc = finish_table(t, label, err, errlen)) < 0)
		emb_table_free(t);
	return rc;
}

int emb_table_parse(const char *text, size_t len, const char *label, struct emb_table *t,
		    char *err, size_t errlen)
{
	return emb_table_parse_mt(text, len, label, 0, t, err, errlen);
}

size_t emb_read_block_bytes = (size_t)32 << 20;

static ssize_t fd_read(void *ud, void *buf, size_t n)
{
	return read_full(*(int *)ud, buf, n);
}

int emb_table_read_fd(int fd, const char *label, int threads, XXH128_hash_t *hash,
		      struct emb_table *t, char *err, size_t errlen)
{
	struct stat sb;
	uint64_t size_hint = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;

	return emb_table_read_stream(fd_read, &fd, size_hint, label, threads, hash, t, err, errlen);
}

int emb_table_read_stream(emb_read_fn rd, void *ud, uint64_t size_hint, const char *label,
			  int threads, XXH128_hash_t *hash, struct emb_table *t, char *err,
			  size_t errlen)
{
	size_t cap = emb_read_block_bytes > 0 ? emb_read_block_bytes : 1, len = 0;
	char *buf = xmalloc(cap);

	huge_hint(buf, cap);
	XXH3_state_t *st = NULL;
	bool eof = false, header = false;
	struct csv_reader r = { .t = t, .label = label, .err = err, .errlen = errlen,
				.threads = threads > 0 ? threads : cpu_count() };
	int rc = 0;

	memset(t, 0, sizeof(*t));
	r.size_hint = size_hint;
	if (hash != NULL) {
		if ((st = XXH3_createState()) == NULL)
			fatalx("out of memory");
		XXH3_128bits_reset(st);
	}
	/*
	 * Each round parses the whole lines in the buffer and keeps the
	 * unfinished last one for the next: the text is never all in memory.
	 */
	while (!eof) {
		if (len == cap) {
			cap *= 2;	/* a header longer than a block */
			buf = xrealloc(buf, cap);
		}
		ssize_t k = rd(ud, buf + len, cap - len);
		if (k < 0) {
			rc = (int)k;
			snprintf(err, errlen, "%s: %s", label, strerror(-rc));
			goto out;
		}
		if (st != NULL)
			XXH3_128bits_update(st, buf + len, (size_t)k);
		eof = len + (size_t)k < cap;
		len += (size_t)k;
		const char *p = buf, *end = buf + len;
		if (!header) {
			const char *nl = memchr(buf, '\n', len);
			if (nl == NULL && !eof)
				continue;
			const char *next, *line;
			size_t ll;
			line = next_line(buf, end, &next, &ll);
			if ((rc = parse_header(line, ll, label, t, err, errlen)) < 0)
				goto out;
			header = true;
			p = next;
		}
		/*
		 * Before EOF, the last whole line waits for the next round too:
		 * only then is it known whether an empty one is the final line
		 * break or an empty row.
		 */
		const char *last = end;
		if (!eof) {
			const char *nl = memrchr(p, '\n', (size_t)(end - p));
			last = nl != NULL ? memrchr(p, '\n', (size_t)(nl - p)) : NULL;
			if (last == NULL) {
				memmove(buf, p, (size_t)(end - p));
				len = (size_t)(end - p);
				continue;
			}
			last++;
		}
		if ((rc = parse_segment(&r, p, last, eof)) < 0)
			goto out;
		memmove(buf, last, (size_t)(end - last));
		len = (size_t)(end - last);
	}
	rc = finish_table(t, label, err, errlen);
out:
	if (rc < 0)
		emb_table_free(t);
	if (st != NULL) {
		if (rc == 0)
			*hash = XXH3_128bits_digest(st);
		XXH3_freeState(st);
	}
	free(buf);
	return rc;
}

int emb_table_read(const char *path, struct emb_table *t, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int rc = -errno;
		memset(t, 0, sizeof(*t));
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	int rc = emb_table_read_fd(fd, path, 0, NULL, t, err, errlen);
	close(fd);
	return rc;
}

/* Rows a thread formats before its turn to write them (a few MB of text at d = 64). */
#define WCHUNK 2048

struct csv_out {
	FILE *f;
	char *const *names;
	const size_t *idx;
	const double *rows;
	size_t n, d;
	struct buf *bufs;	/* per thread */
	size_t chunks;
	atomic_size_t claim;	/* the next chunk to format */
	pthread_mutex_t mu;
	pthread_cond_t turn;
	size_t next;		/* the chunk whose turn it is to be written */
};

/* Row i (of idx, else of rows) as a line of the CSV, appended to b. */
static void csv_row(const struct csv_out *o, size_t i, struct buf *b)
{
	size_t r = o->idx ? o->idx[i] : i, nl = strlen(o->names[r]);
	size_t need = nl + o->d * (DCONV_BUFLEN + 1) + 4;

	if (b->cap - b->len < need) {
		b->cap = 2 * b->cap > b->len + need ? 2 * b->cap : b->len + need;
		b->data = xrealloc(b->data, b->cap);
	}
	char *p = b->data + b->len;
	memcpy(p, o->names[r], nl);
	p += nl;
	for (size_t j = 0; j < o->d; j++) {
		*p++ = ',';
		p += dconv_format(o->rows[r * o->d + j], p);
	}
	memcpy(p, ",0\n", 3);
	b->len = (size_t)(p + 3 - b->data);
}

/*
 * One thread of the writer: it takes chunks one at a time, in increasing
 * order, formats each, and writes it when every chunk before it has been
 * written. The chunk waited for is always held by a thread that is
 * formatting or writing it, so one thread writes while the others format.
 * (Chunks are claimed here, one by one, rather than as pool items: pool_for
 * hands out runs of items, and a thread holding chunks 4-7 would wait for
 * all of 0-3 to be written.)
 */
static void csv_thread_cb(size_t item, int tid, void *ud)
{
	struct csv_out *o = ud;
	struct buf *b = &o->bufs[tid];
	size_t c;

	(void)item;
	while ((c = atomic_fetch_add(&o->claim, 1)) < o->chunks) {
		size_t lo = c * WCHUNK, hi = lo + WCHUNK < o->n ? lo + WCHUNK : o->n;
		b->len = 0;
		for (size_t i = lo; i < hi; i++)
			csv_row(o, i, b);
		pthread_mutex_lock(&o->mu);
		while (o->next != c)
			pthread_cond_wait(&o->turn, &o->mu);
		pthread_mutex_unlock(&o->mu);
		fwrite(b->data, 1, b->len, o->f);	/* large: past stdio's buffer */
		pthread_mutex_lock(&o->mu);
		o->next++;
		pthread_cond_broadcast(&o->turn);
		pthread_mutex_unlock(&o->mu);
	}
}

int emb_csv_write(FILE *f, char *const *names, const size_t *idx, size_t n,
		  const double *rows, size_t d, int threads)
{
	struct csv_out o = {
		.f = f, .names = names, .idx = idx, .rows = rows, .n = n, .d = d,
		.mu = PTHREAD_MUTEX_INITIALIZER, .turn = PTHREAD_COND_INITIALIZER,
	};
	if (threads <= 0)
		threads = cpu_count();
	o.chunks = (n + WCHUNK - 1) / WCHUNK;
	atomic_init(&o.claim, 0);
	fputs("filenames", f);
	for (size_t j = 0; j < d; j++)
		fprintf(f, ",embedding_%zu", j);
	fputs(",labels\n", f);
	fflush(f);
	o.bufs = xcalloc((size_t)threads, sizeof(*o.bufs));
	pool_for((size_t)threads, o.chunks > 1 ? threads : 1, csv_thread_cb, &o, NULL);
	for (int t = 0; t < threads; t++)
		buf_free(&o.bufs[t]);
	free(o.bufs);
	pthread_mutex_destroy(&o.mu);
	pthread_cond_destroy(&o.turn);
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

/* Covariance products of the rows beyond this width go through the rows each step. */
#define PCA_COV_MAX_DIM 512

/* w = X^T (X v) for the centred rows, both columns of v (d x 2). */
static void pca_step(const double *rows, size_t n, size_t d, const double *mean,
		     const double *v, double *w)
{
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
}

struct cov_ctx {
	const double *rows, *mean;
	size_t n, d, nblocks;
	double *part;		/* nblocks x d x d, upper triangles */
};

/* Rows a covariance block folds into its sums at once. */
#define COV_ROWS 4

/*
 * Block blk's sums: the centred rows, COV_ROWS at a time, as a rank-4 update
 * of the upper triangle, so each sum is loaded and stored once per four rows
 * (one row at a time, the loads and stores of the sums were the cost).
 */
static void cov_block_cb(size_t blk, int tid, void *ud)
{
	struct cov_ctx *cc = ud;
	size_t d = cc->d, lo = cc->n * blk / cc->nblocks, hi = cc->n * (blk + 1) / cc->nblocks;
	double *c = cc->part + blk * d * d, *x = xcalloc(COV_ROWS * d, sizeof(double));

	(void)tid;
	for (size_t i = lo; i < hi; i += COV_ROWS) {
		size_t nr = hi - i < COV_ROWS ? hi - i : COV_ROWS;
		for (size_t r = 0; r < COV_ROWS; r++)
			for (size_t j = 0; j < d; j++)
				x[r * d + j] = r < nr ? cc->rows[(i + r) * d + j] - cc->mean[j] : 0;
		const double *x0 = x, *x1 = x + d, *x2 = x + 2 * d, *x3 = x + 3 * d;
		for (size_t a = 0; a < d; a++) {
			double a0 = x0[a], a1 = x1[a], a2 = x2[a], a3 = x3[a];
			double *ca = c + a * d;
			for (size_t b = a; b < d; b++)
				ca[b] += (a0 * x0[b] + a1 * x1[b]) + (a2 * x2[b] + a3 * x3[b]);
		}
	}
	free(x);
}

/*
 * The d x d matrix sum_i (r_i - mean)(r_i - mean)^T (not divided by n, as the
 * iteration does not need it). Rows are cut into a fixed number of blocks
 * whatever the threads, and the blocks' sums added in order, so the result
 * does not depend on scheduling.
 */
static double *covariance(const double *rows, size_t n, size_t d, const double *mean)
{
	struct cov_ctx cc = { .rows = rows, .mean = mean, .n = n, .d = d };

	cc.nblocks = n / 4096 + 1 < 16 ? n / 4096 + 1 : 16;
	cc.part = xcalloc(cc.nblocks * d * d, sizeof(double));
	pool_for(cc.nblocks, cpu_count(), cov_block_cb, &cc, NULL);
	double *c = cc.part;
	for (size_t blk = 1; blk < cc.nblocks; blk++)
		for (size_t k = 0; k < d * d; k++)
			c[k] += cc.part[blk * d * d + k];
	for (size_t a = 0; a < d; a++)
		for (size_t b = 0; b < a; b++)
			c[a * d + b] = c[b * d + a];
	return xrealloc(c, d * d * sizeof(double));
}

/* LAPACK's symmetric eigensolver, from OpenBLAS (LP64; no LAPACK header is installed). */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n,
		    double *a, const int *lda, const double *vl, const double *vu, const int *il,
		    const int *iu, const double *abstol, int *m, double *w, double *z,
		    const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
		    const int *liwork, int *info, size_t ljobz, size_t lrange, size_t luplo);

/*
 * The top two eigenvectors of the symmetric d x d matrix c (destroyed) into v
 * (first, then second; the second stays zero when d = 1). w is d long:
 * dsyevr uses all of it. Returns 0, or -1
 * when LAPACK fails (v untouched).
 */
static int top2_eigen(double *c, size_t d, double *v)
{
	int n = (int)d, il = d > 1 ? n - 1 : 1, iu = n, m = 0, info = 0;
	int lwork = -1, liwork = -1, iq = 0;
	double vl = 0, vu = 0, abstol = 0, wq = 0;
	double *w = xcalloc(d, sizeof(double)), *z = xcalloc(2 * d, sizeof(double)), *work;
	int *iwork, isuppz[4];

	blas_serial();
	/* A workspace query first, as LAPACK advises. */
	dsyevr_("V", "I", "U", &n, c, &n, &vl, &vu, &il, &iu, &abstol, &m, w, z, &n, isuppz, &wq,
		&lwork, &iq, &liwork, &info, 1, 1, 1);
	lwork = (int)wq > 26 * n ? (int)wq : 26 * n;
	liwork = iq > 10 * n ? iq : 10 * n;
	work = xcalloc((size_t)lwork, sizeof(double));
	iwork = xcalloc((size_t)liwork, sizeof(int));
	if (info == 0)
		dsyevr_("V", "I", "U", &n, c, &n, &vl, &vu, &il, &iu, &abstol, &m, w, z, &n, isuppz,
			work, &lwork, iwork, &liwork, &info, 1, 1, 1);
	if (info == 0 && m == iu - il + 1) {
		/* Ascending eigenvalues: the last column found is the top axis. */
		memcpy(v, z + (size_t)(m - 1) * d, d * sizeof(double));
		memset(v + d, 0, d * sizeof(double));
		if (m == 2)
			memcpy(v + d, z, d * sizeof(double));
	}
	free(w);
	free(z);
	free(work);
	free(iwork);
	return info == 0 && m == iu - il + 1 ? 0 : -1;
}

void embed_pca2d(const double *rows, size_t n, size_t d, double *xy)
{
	double *mean = xcalloc(d, sizeof(double));
	double *v = xcalloc(2 * d, sizeof(double)), *w = xcalloc(2 * d, sizeof(double));
	double *proj = xcalloc_huge(2 * n, sizeof(double)), *cov = NULL;

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
	/*
	 * Subspace iteration on the covariance. For d <= PCA_COV_MAX_DIM the d x d
	 * covariance is formed once (one pass over the rows, in parallel) and each
	 * step is C v; beyond, a d x d matrix costs more than the steps, which
	 * apply it as X^T (X v), a pass over the rows each.
	 */
	cov = d <= PCA_COV_MAX_DIM ? covariance(rows, n, d, mean) : NULL;
	/*
	 * With the covariance at hand, its exact eigenvectors: subspace iteration
	 * converges as (l3/l2)^steps, so close eigenvalues (common in real
	 * embeddings) would leave the second axis far off after any fixed count.
	 */
	bool exact = cov != NULL && top2_eigen(cov, d, v) == 0;
	for (int it = 0; !exact && it < 200; it++) {
		memset(w, 0, 2 * d * sizeof(double));
		if (cov != NULL) {
			for (size_t a = 0; a < d; a++) {
				const double *ca = cov + a * d;
				double s0 = 0, s1 = 0;
				for (size_t b = 0; b < d; b++) {
					s0 += ca[b] * v[b];
					s1 += ca[b] * v[d + b];
				}
				w[a] = s0;
				w[d + a] = s1;
			}
		} else {
			pca_step(rows, n, d, mean, v, w);
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
	free(cov);
	free(mean);
	free(v);
	free(w);
	free(proj);
}
