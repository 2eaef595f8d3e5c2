/*
 * image: the corruptness check of SPEC 4.1 and the 32x32 thumbnail the
 * built-in descriptor is computed from, in one pass over one in-memory copy
 * of the file.
 *
 * DESIGN. Each format is checked by its reference decoder (libjpeg-turbo,
 * libpng, libwebp, stb_image for BMP) driven with hooks that turn the
 * decoder's complaints into one reason string. The header is read first and
 * the pixel count checked against max_pixels before the decoder allocates
 * anything in proportion to the image. Decoded rows are streamed into an
 * area-averaging accumulator (struct acc), so JPEG and non-interlaced and
 * interlaced PNG never hold the full image; WebP is rescaled by libwebp while
 * decoding; only BMP (stb_image) decodes the whole image, after the header
 * check. All state lives in a per-call context: no globals, thread-safe.
 *
 * The same rows feed the computed metadata (struct grey, SPEC 4.8): grey
 * values at the decode scale, three rows kept for the Laplacian. An
 * interlaced PNG's passes are collected in one grey plane (w*h bytes) first.
 * 16-bit PNG samples reach the thumbnail rounded to 8 bits (what
 * png_set_scale_16 gives) and the grey image as their high byte.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <jerror.h>	/* after jpeglib.h: it needs jconfig.h's macros */
#include <png.h>
#include <stb_image.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "util.h"

#define T THUMB_SIZE

/* ---- format names and magic ---------------------------------------------- */

enum img_format image_format_from_name(const char *path)
{
	static const struct {
		const char *ext;
		enum img_format f;
	} exts[] = {
		{"jpg", IMG_JPEG}, {"jpeg", IMG_JPEG}, {"png", IMG_PNG},
		{"webp", IMG_WEBP}, {"bmp", IMG_BMP},
	};
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');

	if (dot == NULL)
		return IMG_UNKNOWN;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (strcasecmp(dot + 1, exts[i].ext) == 0)
			return exts[i].f;
	return IMG_UNKNOWN;
}

const char *image_format_name(enum img_format f)
{
	switch (f) {
	case IMG_JPEG: return "JPEG";
	case IMG_PNG: return "PNG";
	case IMG_WEBP: return "WebP";
	case IMG_BMP: return "BMP";
	default: return "unknown";
	}
}

/* The extension a reason names for a format ("bad magic: PNG data in .jpg"). */
static const char *format_ext(enum img_format f)
{
	switch (f) {
	case IMG_JPEG: return ".jpg";
	case IMG_PNG: return ".png";
	case IMG_WEBP: return ".webp";
	case IMG_BMP: return ".bmp";
	default: return "a file of unknown type";
	}
}

/* Magic bytes; '?' in the WebP pattern is the RIFF size, any byte. */
static const struct {
	enum img_format f;
	size_t len;
	const char *magic;
} magics[] = {
	{IMG_JPEG, 3, "\xff\xd8\xff"},
	{IMG_PNG, 8, "\x89PNG\r\n\x1a\n"},
	{IMG_WEBP, 12, "RIFF????WEBP"},
	{IMG_BMP, 2, "BM"},
};

/* True when buf[0..len) matches the first len bytes of magic m. */
static bool magic_prefix(size_t m, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len && i < magics[m].len; i++) {
		if (magics[m].f == IMG_WEBP && i >= 4 && i < 8)
			continue;
		if (buf[i] != (uint8_t)magics[m].magic[i])
			return false;
	}
	return true;
}

enum img_format image_format_sniff(const uint8_t *buf, size_t len)
{
	for (size_t m = 0; m < ARRAY_LEN(magics); m++)
		if (len >= magics[m].len && magic_prefix(m, buf, magics[m].len))
			return magics[m].f;
	return IMG_UNKNOWN;
}

/* ---- the thumbnail accumulator --------------------------------------------- */

/*
 * Exact area average onto a T x T grid, aspect ignored. Measured in units of
 * 1/T source pixel, source pixel x spans [T*x, T*x + T) and cell c spans
 * [c*w, c*w + w); a pixel adds its value weighted by the overlap, so every
 * cell's weights total w*h whatever the sizes (no cell is empty when a side
 * is smaller than T, and the 2.5-pixel cells of an 80-pixel DCT-scaled row
 * are weighed as exactly as the 20-pixel cells of a 640-pixel one). Sums are
 * integers: exact and order-independent, so the thumbnail is deterministic.
 */
struct acc {
	uint32_t w, h;
	uint8_t *xlo, *xw;		/* per source column: first cell, weight in it */
	uint64_t sum[T * T * 3];
	uint64_t cnt[T * T];
};

/* The first cell source position i (of side) overlaps, and the overlap there. */
static void cell_first(uint64_t i, uint64_t side, uint32_t *lo, uint32_t *wt)
{
	uint64_t start = i * T, c = start / side, end = (c + 1) * side;

	*lo = (uint32_t)c;
	*wt = (uint32_t)((end < start + T ? end : start + T) - start);
}

static void acc_init(struct acc *a, uint32_t w, uint32_t h)
{
	a->w = w;
	a->h = h;
	a->xlo = xmalloc(w);
	a->xw = xmalloc(w);
	for (uint32_t x = 0; x < w; x++) {
		uint32_t lo, wt;

		cell_first(x, w, &lo, &wt);
		a->xlo[x] = (uint8_t)lo;
		a->xw[x] = (uint8_t)wt;
	}
	memset(a->sum, 0, sizeof(a->sum));
	memset(a->cnt, 0, sizeof(a->cnt));
}

static void acc_close(struct acc *a)
{
	free(a->xlo);
	free(a->xw);
	a->xlo = a->xw = NULL;
}

/*
 * Add n pixels of source row y, the i-th at column x0 + i*xstep (Adam7
 * passes use a step), each of ncomp 8-bit channels: 1 or 2 = grey (+alpha),
 * 3 or more = R,G,B (+alpha or anything else, ignored).
 */
static void acc_row(struct acc *a, uint32_t y, const uint8_t *px, uint32_t n, unsigned ncomp,
		    uint32_t x0, uint32_t xstep)
{
	uint64_t rs[T * 3] = {0}, rc[T] = {0};
	uint32_t cy, wy, rem;

	if (y >= a->h)
		return;
	for (uint32_t i = 0; i < n; i++, px += ncomp) {
		uint64_t x = x0 + (uint64_t)i * xstep;

		if (x >= a->w)
			break;

		uint32_t r = px[0], g = ncomp >= 3 ? px[1] : r, b = ncomp >= 3 ? px[2] : r;
		uint32_t c = a->xlo[x], wt = a->xw[x];

		if (wt == T) {	/* the common case: inside one cell */
			rs[c * 3] += r * T;
			rs[c * 3 + 1] += g * T;
			rs[c * 3 + 2] += b * T;
			rc[c] += T;
			continue;
		}
		/* After the first cell, whole cells (weight w) and a remainder. */
		for (rem = T; rem > 0; rem -= wt, c++, wt = rem < a->w ? rem : a->w) {
			rs[c * 3] += r * wt;
			rs[c * 3 + 1] += g * wt;
			rs[c * 3 + 2] += b * wt;
			rc[c] += wt;
		}
	}
	cell_first(y, a->h, &cy, &wy);
	for (rem = T; rem > 0; rem -= wy, cy++, wy = rem < a->h ? rem : a->h) {
		for (uint32_t c = 0; c < T; c++) {
			a->sum[(cy * T + c) * 3] += rs[c * 3] * wy;
			a->sum[(cy * T + c) * 3 + 1] += rs[c * 3 + 1] * wy;
			a->sum[(cy * T + c) * 3 + 2] += rs[c * 3 + 2] * wy;
			a->cnt[cy * T + c] += rc[c] * wy;
		}
	}
}

static void acc_finish(const struct acc *a, struct img_thumb *t)
{
	for (size_t i = 0; i < T * T; i++)
		for (size_t k = 0; k < 3; k++)
			t->rgb[i * 3 + k] = a->cnt[i] ? (float)((double)a->sum[i * 3 + k] /
								(double)a->cnt[i]) : 0.0f;
}

/* ---- computed metadata: statistics of the grey image ------------------------ */

/*
 * Rows are taken in order, each once. Every sum is an exact integer, so
 * nothing depends on the order of additions, and the variances are formed as
 * (N * sum of squares - sum^2) / N^2 in 128 bits before the one rounding.
 */
struct grey {
	uint32_t w, h, next;		/* next: rows taken so far */
	uint8_t *ring;			/* 3 rows of w values */
	uint8_t *plane;			/* interlaced PNG: all h rows */
	const uint8_t *up, *mid;	/* the two rows before the next */
	uint64_t sum, sumsq, uniform;
	int64_t lsum;
	uint64_t lsumsq, lcount;
};

static void grey_init(struct grey *g, uint32_t w, uint32_t h)
{
	memset(g, 0, sizeof(*g));
	g->w = w;
	g->h = h;
	g->ring = xmalloc((size_t)w * 3);
}

static void grey_close(struct grey *g)
{
	free(g->ring);
	free(g->plane);
	g->ring = g->plane = NULL;
}

static inline uint8_t grey_of(const uint8_t *px, unsigned ncomp)
{
	if (ncomp < 3)
		return px[0];
	return (uint8_t)((77u * px[0] + 150u * px[1] + 29u * px[2] + 128u) >> 8);
}

/* Accounts row (g->next, w grey values, kept until two more rows are taken). */
static void grey_take(struct grey *g, const uint8_t *row)
{
	uint32_t w = g->w;
	uint64_t rs = 0, sq = 0;
	uint8_t lo = 255, hi = 0;

	for (uint32_t x = 0; x < w; x++) {
		uint32_t v = row[x];

		rs += v;
		sq += v * v;
		lo = v < lo ? (uint8_t)v : lo;
		hi = v > hi ? (uint8_t)v : hi;
	}
	g->sum += rs;
	g->sumsq += sq;
	/* Every value within 2 of the mean rs / w, in integers: |v * w - rs| <= 2w. */
	if ((uint64_t)hi * w - rs <= 2ull * w && rs - (uint64_t)lo * w <= 2ull * w)
		g->uniform++;
	if (g->next >= 2 && w >= 3) {
		const uint8_t *u = g->up, *m = g->mid;
		int64_t ls = 0;
		uint64_t lq = 0;

		/* |l| <= 1020: l and l^2 fit 32 bits, which lets the loop vectorise. */
		for (uint32_t x = 1; x + 1 < w; x++) {
			int32_t l = 4 * (int32_t)m[x] - m[x - 1] - m[x + 1] - u[x] - row[x];

			ls += l;
			lq += (uint32_t)(l * l);
		}
		g->lsum += ls;
		g->lsumsq += lq;
		g->lcount += w - 2;
	}
	g->up = g->mid;
	g->mid = row;
	g->next++;
}

/*
 * n pixels of row y, the i-th at column x0 + i*xstep, ncomp 8-bit channels
 * as acc_row takes them. Rows in order go through the ring; an interlaced
 * PNG's go into the plane (grey_flush takes them later).
 */
static void grey_row(struct grey *g, uint32_t y, const uint8_t *px, uint32_t n, unsigned ncomp,
		     uint32_t x0, uint32_t xstep)
{
	if (g->plane != NULL) {
		if (y >= g->h)
			return;
		for (uint32_t i = 0; i < n; i++, px += ncomp) {
			uint64_t x = x0 + (uint64_t)i * xstep;

			if (x >= g->w)
				break;
			g->plane[(size_t)y * g->w + x] = grey_of(px, ncomp);
		}
		return;
	}
	if (g->ring == NULL || y != g->next || y >= g->h)
		return;
	uint8_t *row = g->ring + (size_t)(y % 3) * g->w;

	memset(row, 0, g->w);
	for (uint32_t i = 0; i < n && i < g->w; i++, px += ncomp)
		row[i] = grey_of(px, ncomp);
	grey_take(g, row);
}

/* Interlaced PNG: the plane replaces the ring, filled pass by pass. */
static void grey_use_plane(struct grey *g)
{
	g->plane = xcalloc(g->h ? g->h : 1, g->w ? g->w : 1);
}

static void grey_flush(struct grey *g)
{
	for (uint32_t y = 0; g->plane != NULL && y < g->h; y++)
		grey_take(g, g->plane + (size_t)y * g->w);
}

static void grey_finish(const struct grey *g, struct img_meta *m)
{
	typedef unsigned __int128 u128;
	typedef __int128 i128;
	uint64_t n = (uint64_t)g->w * g->next;

	m->decode_w = g->w;
	m->decode_h = g->next;
	if (n == 0)
		return;
	u128 vn = (u128)n * g->sumsq - (u128)g->sum * g->sum;	/* n^2 * variance */

	m->luminance = (double)g->sum / (double)n / 255.0;
	/* mean / std = (sum / n) / (sqrt(vn) / n) */
	m->snr = vn == 0 ? 0.0 : (double)g->sum / sqrt((double)vn);
	if (g->lcount > 0) {
		i128 lv = (i128)g->lcount * (i128)g->lsumsq - (i128)g->lsum * g->lsum;

		m->sharpness = (double)lv / ((double)g->lcount * (double)g->lcount) / (255.0 * 255.0);
	}
	m->uniform_row_ratio = (double)g->uniform / (double)g->next;
}

/* ---- shared helpers -------------------------------------------------------- */

struct ctx {
	const uint8_t *buf;
	size_t len;
	uint64_t max_pixels;
	struct img_result *res;
	struct img_thumb *thumb;
	struct acc acc;
	bool acc_live;
	struct grey grey;
	bool meta;		/* the grey statistics are wanted (img_meta) */
};

static enum img_status fail(struct ctx *c, enum img_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum img_status fail(struct ctx *c, enum img_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->res->reason, sizeof(c->res->reason), fmt, ap);
	va_end(ap);
	c->res->status = st;
	return st;
}

/* Zero size and the pixel limit, from header values, before any allocation. */
static enum img_status check_dims(struct ctx *c, uint64_t w, uint64_t h)
{
	c->res->width = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
	c->res->height = h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
	if (w == 0 || h == 0)
		return fail(c, IMG_CORRUPT, "bad header: zero width or height");
	if (w * h > c->max_pixels)	/* w, h < 2^32: no overflow */
		return fail(c, IMG_CORRUPT, "too many pixels: %llux%llu",
			    (unsigned long long)w, (unsigned long long)h);
	return IMG_OK;
}

/*
 * Without a thumbnail wanted the accumulator stays at 0 x 0 and acc_row
 * returns at once: the decode, which is the check, still runs in full.
 */
static void start_acc(struct ctx *c, uint32_t w, uint32_t h)
{
	grey_close(&c->grey);
	/* Without a grey ring, grey_row returns at once and the statistics stay 0. */
	if (c->meta)
		grey_init(&c->grey, w, h);
	if (c->thumb == NULL)
		return;
	acc_init(&c->acc, w, h);
	c->acc_live = true;
}

/* One decoded row to the thumbnail (px) and the grey image (grey_px: px but for 16-bit PNG). */
static void feed_row(struct ctx *c, uint32_t y, const uint8_t *px, const uint8_t *grey_px,
		     uint32_t n, unsigned ncomp, uint32_t x0, uint32_t xstep)
{
	acc_row(&c->acc, y, px, n, ncomp, x0, xstep);
	grey_row(&c->grey, y, grey_px, n, ncomp, x0, xstep);
}

/* Copy a decoder message, lower-casing its first letter to match our reasons. */
static void copy_msg(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
	if (dst[0] >= 'A' && dst[0] <= 'Z' && !(dst[1] >= 'A' && dst[1] <= 'Z'))
		dst[0] = (char)(dst[0] - 'A' + 'a');
}

/* ---- JPEG ------------------------------------------------------------------ */

/* More scans than any encoder writes; bounds the work a hostile file can cause. */
#define JPEG_MAX_SCANS 500

struct jpeg_ctx {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	struct jpeg_progress_mgr progress;
	jmp_buf jb;
	bool in_header;
	struct ctx *c;
};

static struct jpeg_ctx *jctx(j_common_ptr cinfo)
{
	return (struct jpeg_ctx *)((char *)cinfo->err - offsetof(struct jpeg_ctx, jerr));
}

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
	struct jpeg_ctx *j = jctx(cinfo);
	char msg[JMSG_LENGTH_MAX], m[JMSG_LENGTH_MAX];

	if (cinfo->err->msg_code == JERR_EMPTY_IMAGE) {
		fail(j->c, IMG_CORRUPT, "bad header: zero width or height");
	} else if (cinfo->err->msg_code == JERR_BAD_PRECISION ||
		   cinfo->err->msg_code == JERR_SOF_UNSUPPORTED) {
		/* 12-bit and lossless JPEG are valid, but this libjpeg cannot read them. */
		cinfo->err->format_message(cinfo, msg);
		fail(j->c, IMG_UNSUPPORTED, "unsupported: %s",
		     strncmp(msg, "Unsupported ", 12) == 0 ? msg + 12 : msg);
	} else {
		cinfo->err->format_message(cinfo, msg);
		copy_msg(m, sizeof(m), msg);
		fail(j->c, IMG_CORRUPT, "%s: %s", j->in_header ? "bad header" : "corrupt data", m);
	}
	longjmp(j->jb, 1);
}

/*
 * Warnings are where libjpeg reports damaged entropy-coded data (it then
 * carries on with grey or repeated blocks), so the ones about the data make
 * the image corrupt and stop the decode at once. Warnings about metadata
 * (JFIF revision, Adobe transform code, a bad ICC marker) do not.
 *
 * Judgement calls: JWRN_BOGUS_PROGRESSION (a progressive scan refining
 * coefficients that were never sent) is corrupt: no encoder writes it, and
 * the decoded image silently lacks detail. JWRN_NOT_SEQUENTIAL (odd Ss/Se/
 * Ah/Al in a baseline SOS) is not: libjpeg's own comment says a few real
 * encoders write such values, and the data decodes completely.
 */
static void jpeg_emit_message_cb(j_common_ptr cinfo, int level)
{
	struct jpeg_ctx *j = jctx(cinfo);
	char msg[JMSG_LENGTH_MAX];
	const char *p;

	if (level >= 0)
		return;		/* trace messages */
	cinfo->err->num_warnings++;
	switch (cinfo->err->msg_code) {
	case JWRN_JPEG_EOF:
		fail(j->c, IMG_CORRUPT, "truncated");
		longjmp(j->jb, 1);
	case JWRN_EXTRANEOUS_DATA:
	case JWRN_HIT_MARKER:
	case JWRN_HUFF_BAD_CODE:
	case JWRN_MUST_RESYNC:
	case JWRN_BOGUS_PROGRESSION:
#if defined(D_ARITH_CODING_SUPPORTED) || defined(C_ARITH_CODING_SUPPORTED)
	case JWRN_ARITH_BAD_CODE:
#endif
		cinfo->err->format_message(cinfo, msg);
		p = strncmp(msg, "Corrupt JPEG data: ", 19) == 0 ? msg + 19 : msg;
		fail(j->c, IMG_CORRUPT, "corrupt data: %s", p);
		longjmp(j->jb, 1);
	default:
		return;
	}
}

static void jpeg_output_message_cb(j_common_ptr cinfo)
{
	(void)cinfo;	/* never print: messages become reasons */
}

static void jpeg_progress_cb(j_common_ptr cinfo)
{
	struct jpeg_ctx *j = jctx(cinfo);

	if (cinfo->is_decompressor &&
	    ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
		fail(j->c, IMG_CORRUPT, "corrupt data: more than %d scans", JPEG_MAX_SCANS);
		longjmp(j->jb, 1);
	}
}

/* libjpeg's 8-bit multiply-and-divide-by-255, rounded. */
static inline uint8_t mul255(unsigned a, unsigned b)
{
	unsigned t = a * b + 128;

	return (uint8_t)((t + (t >> 8)) >> 8);
}

/*
 * CMYK (and YCCK, which libjpeg turns into CMYK) to RGB. Photoshop, Pillow
 * and nearly every other writer store inverted CMYK (sample = 255 - ink,
 * flagged by an Adobe marker), so R = C*K/255. Judgement call: a CMYK file
 * without the marker is read the same way, as Pillow reads it, so that
 * thumbnails agree with the Python tools users compare against.
 */
static void cmyk_to_rgb(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++, src += 4, dst += 3) {
		dst[0] = mul255(src[0], src[3]);
		dst[1] = mul255(src[1], src[3]);
		dst[2] = mul255(src[2], src[3]);
	}
}

/* Runs with setjmp; everything it changes lives in *j, owned by the caller. */
static enum img_status jpeg_run(struct jpeg_ctx *j)
{
	struct ctx *c = j->c;
	j_decompress_ptr ci = &j->cinfo;

	if (setjmp(j->jb))
		return c->res->status;

	jpeg_create_decompress(ci);
	ci->progress = &j->progress;
	jpeg_mem_src(ci, c->buf, (unsigned long)c->len);
	j->in_header = true;
	if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
		return fail(c, IMG_CORRUPT, "bad header: no image");
	if (check_dims(c, ci->image_width, ci->image_height) != IMG_OK)
		return c->res->status;
	j->in_header = false;

	/*
	 * DCT scaling: the largest 1/denom that keeps the short side >= T, so
	 * most photos decode at 1/8 (DC only). The entropy decode is still
	 * complete, so damage anywhere in the data is found.
	 */
	uint32_t shortside = ci->image_width < ci->image_height ? ci->image_width
								  : ci->image_height;
	unsigned denom = 8;

	while (denom > 1 && (shortside + denom - 1) / denom < T)
		denom /= 2;
	ci->scale_num = 1;
	ci->scale_denom = denom;
	ci->dct_method = JDCT_IFAST;
	ci->do_fancy_upsampling = FALSE;
	ci->do_block_smoothing = FALSE;
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		ci->out_color_space = JCS_GRAYSCALE;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		ci->out_color_space = JCS_CMYK;
		break;
	case JCS_UNKNOWN:
		ci->out_color_space = JCS_UNKNOWN;	/* raw components, taken as is */
		break;
	default:
		ci->out_color_space = JCS_RGB;
		break;
	}
	jpeg_start_decompress(ci);

	uint32_t ow = ci->output_width, nc = (uint32_t)ci->out_color_components;
	bool cmyk = ci->out_color_space == JCS_CMYK;
	JSAMPARRAY rows = ci->mem->alloc_sarray((j_common_ptr)ci, JPOOL_IMAGE,
						ow * nc, (JDIMENSION)ci->rec_outbuf_height);
	JSAMPARRAY rgb = cmyk ? ci->mem->alloc_sarray((j_common_ptr)ci, JPOOL_IMAGE, ow * 3, 1)
			      : NULL;

	start_acc(c, ow, ci->output_height);
	while (ci->output_scanline < ci->output_height) {
		JDIMENSION y0 = ci->output_scanline;
		JDIMENSION got = jpeg_read_scanlines(ci, rows, (JDIMENSION)ci->rec_outbuf_height);

		for (JDIMENSION r = 0; r < got; r++) {
			if (cmyk) {
				cmyk_to_rgb(rgb[0], rows[r], ow);
				feed_row(c, y0 + r, rgb[0], rgb[0], ow, 3, 0, 1);
			} else {
				feed_row(c, y0 + r, rows[r], rows[r], ow, nc, 0, 1);
			}
		}
	}
	/* Reads on to EOI, so damage in later scans or markers is seen too. */
	jpeg_finish_decompress(ci);
	c->res->status = IMG_OK;
	return IMG_OK;
}

static enum img_status check_jpeg(struct ctx *c)
{
	struct jpeg_ctx *j = xcalloc(1, sizeof(*j));
	enum img_status st;

	j->c = c;
	j->cinfo.err = jpeg_std_error(&j->jerr);
	j->jerr.error_exit = jpeg_error_exit_cb;
	j->jerr.emit_message = jpeg_emit_message_cb;
	j->jerr.output_message = jpeg_output_message_cb;
	j->progress.progress_monitor = jpeg_progress_cb;
	st = jpeg_run(j);
	jpeg_destroy_decompress(&j->cinfo);
	free(j);
	return st;
}

/* ---- PNG ------------------------------------------------------------------- */

struct png_ctx {
	struct ctx *c;
	png_structp png;
	png_infop info;
	size_t pos;
	bool truncated, in_header;
	uint8_t *row;		/* one decoded row (16-bit samples for a 16-bit PNG) */
	uint8_t *row8, *hi8;	/* 16-bit PNG: the row rounded to 8 bits, its high bytes */
};

/*
 * A 16-bit row (big-endian samples) to 8 bits for the thumbnail, exactly as
 * png_set_scale_16 rounds (round(v * 255 / 65535), libpng's own integer
 * form), and to the high bytes the computed metadata take (SPEC 4.8).
 */
static void split16(const uint8_t *src, size_t nsamples, uint8_t *scaled, uint8_t *hi)
{
	for (size_t i = 0; i < nsamples; i++) {
		uint32_t v = (uint32_t)src[2 * i] << 8 | src[2 * i + 1];

		scaled[i] = (uint8_t)((v * 255u + 32895u) >> 16);
		hi[i] = src[2 * i];
	}
}

/* Feeds one row read into p->row; 16-bit rows are split first. */
static void png_feed(struct png_ctx *p, bool sixteen, uint32_t y, uint32_t n, unsigned nc,
		     uint32_t x0, uint32_t xstep)
{
	if (sixteen) {
		split16(p->row, (size_t)n * nc, p->row8, p->hi8);
		feed_row(p->c, y, p->row8, p->hi8, n, nc, x0, xstep);
	} else {
		feed_row(p->c, y, p->row, p->row, n, nc, x0, xstep);
	}
}

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
	struct png_ctx *p = png_get_io_ptr(png);

	if (n > p->c->len - p->pos) {
		p->truncated = true;
		png_error(png, "truncated");
	}
	memcpy(out, p->c->buf + p->pos, n);
	p->pos += n;
}

static void png_chunk_name(png_structp png, char name[5])
{
	png_uint_32 t = png_get_io_chunk_type(png);

	for (int i = 0; i < 4; i++) {
		char ch = (char)((t >> (24 - 8 * i)) & 0xff);

		name[i] = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ? ch : '?';
	}
	name[4] = '\0';
}

/* libpng's "IDAT: Too much image data" becomes "too much image data in IDAT". */
static void png_msg(char *dst, size_t n, const char *msg)
{
	char name[5];

	if (strlen(msg) > 6 && msg[4] == ':' && msg[5] == ' ') {
		memcpy(name, msg, 4);
		name[4] = '\0';
		copy_msg(dst, n, msg + 6);
		snprintf(dst + strlen(dst), n - strlen(dst), " in %s", name);
	} else {
		copy_msg(dst, n, msg);
	}
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
	struct png_ctx *p = png_get_error_ptr(png);
	char m[128], name[5];

	if (p->truncated) {
		fail(p->c, IMG_CORRUPT, "truncated");
	} else if (strstr(msg, "CRC error") != NULL) {
		png_chunk_name(png, name);
		fail(p->c, IMG_CORRUPT, "corrupt data: CRC error in %s", name);
	} else {
		png_msg(m, sizeof(m), msg);
		fail(p->c, IMG_CORRUPT, "%s: %s", p->in_header ? "bad header" : "corrupt data", m);
	}
	png_longjmp(png, 1);
}

/*
 * libpng reports most damage to the image data as "benign errors", which a
 * release build turns into warnings: extra or missing compressed data, zlib
 * trouble while checking the end of the stream, IDATs out of sequence. Those
 * are corrupt. Every other warning is about an ancillary chunk (iCCP, sRGB,
 * tEXt, gAMA, ...) and is not.
 */
static void png_warning_cb(png_structp png, png_const_charp msg)
{
	static const char *const data_damage[] = {
		"compressed data", "image data", "IDAT", "incorrect data check",
		"invalid distance", "invalid code", "invalid block", "invalid stored",
		"ADLER32", "too far back",
	};
	struct png_ctx *p = png_get_error_ptr(png);
	bool damage = png_get_io_chunk_type(png) == 0x49444154u /* IDAT */ &&
		      strstr(msg, "CRC error") == NULL;
	char m[128];

	for (size_t i = 0; !damage && i < ARRAY_LEN(data_damage); i++)
		damage = strstr(msg, data_damage[i]) != NULL;
	if (!damage)
		return;
	png_msg(m, sizeof(m), msg);
	fail(p->c, IMG_CORRUPT, "corrupt data: %s", m);
	png_longjmp(png, 1);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static uint16_t le16(const uint8_t *b)
{
	return (uint16_t)(b[1] << 8 | b[0]);
}

static enum img_status png_run(struct png_ctx *p)
{
	struct ctx *c = p->c;
	png_structp png = p->png;
	png_infop info = p->info;

	if (setjmp(png_jmpbuf(png)))
		return c->res->status;

	png_set_read_fn(png, p, png_read_cb);
	/*
	 * Judgement call: a bad CRC in an ancillary chunk discards that chunk
	 * (with a warning) instead of failing the image. Such chunks hold
	 * metadata, which SPEC 4.1 says never makes an image corrupt, and the
	 * pixels are still guarded by the IDAT CRCs and zlib's Adler-32.
	 * Critical chunks (IHDR, PLTE, IDAT, IEND) keep the default: an error.
	 */
	png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
	p->in_header = true;
	png_read_info(png, info);

	png_uint_32 w, h;
	int depth, ctype, interlace;

	png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if (check_dims(c, w, h) != IMG_OK)
		return c->res->status;
	p->in_header = false;

	/*
	 * Everything to grey, grey+alpha, RGB or RGBA of 8 bits, or of 16 that
	 * png_feed splits; acc_row and grey_row drop alpha.
	 */
	if (ctype == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	png_read_update_info(png, info);

	unsigned nc = png_get_channels(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	bool sixteen = png_get_bit_depth(png, info) == 16;

	p->row = xmalloc(rowbytes);
	if (sixteen) {
		p->row8 = xmalloc((size_t)w * nc);
		p->hi8 = xmalloc((size_t)w * nc);
	}
	start_acc(c, w, h);
	if (interlace == PNG_INTERLACE_NONE) {
		for (png_uint_32 y = 0; y < h; y++) {
			png_read_row(png, p->row, NULL);
			png_feed(p, sixteen, y, w, nc, 0, 1);
		}
	} else {
		/*
		 * Without png_set_interlace_handling libpng hands out each Adam7
		 * pass's rows as they are stored; every pixel of the image comes
		 * exactly once, so they are accumulated in place; only the grey
		 * image is held whole, as the Laplacian needs rows in order.
		 */
		if (c->meta)
			grey_use_plane(&c->grey);
		for (int pass = 0; pass < 7; pass++) {
			png_uint_32 pw = PNG_PASS_COLS(w, pass), ph = PNG_PASS_ROWS(h, pass);

			if (pw == 0 || ph == 0)
				continue;
			for (png_uint_32 r = 0; r < ph; r++) {
				png_read_row(png, p->row, NULL);
				png_feed(p, sixteen, (uint32_t)PNG_ROW_FROM_PASS_ROW(r, pass), pw, nc,
					 PNG_PASS_START_COL(pass), 1u << PNG_PASS_COL_SHIFT(pass));
			}
		}
		grey_flush(&c->grey);
	}
	/* Checks the end of the zlib stream and reads on to IEND (not past it). */
	png_read_end(png, NULL);
	c->res->status = IMG_OK;
	return IMG_OK;
}

/* libpng returns NULL only when out of memory; util.h makes that fatal too. */
static void png_oom(void)
{
	fprintf(stderr, "<2>winnow: out of memory (libpng)\n");
	abort();
}

static enum img_status check_png(struct ctx *c)
{
	const uint8_t *b = c->buf;
	enum img_status st;

	/*
	 * Zero and oversized dimensions are judged from the raw IHDR, before
	 * libpng, whose own limits (1e6 a side) would otherwise give a vaguer
	 * reason. libpng then checks the chunk's CRC and the other fields.
	 */
	if (c->len >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
		uint32_t w = be32(b + 16), h = be32(b + 20);

		if (w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX)
			return fail(c, IMG_CORRUPT, "bad header: width or height above 2^31");
		if (check_dims(c, w, h) != IMG_OK)
			return c->res->status;
	}

	struct png_ctx *p = xcalloc(1, sizeof(*p));

	p->c = c;
	p->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, p, png_error_cb, png_warning_cb);
	if (p->png == NULL)
		png_oom();
	p->info = png_create_info_struct(p->png);
	if (p->info == NULL)
		png_oom();
	st = png_run(p);
	png_destroy_read_struct(&p->png, &p->info, NULL);
	free(p->row);
	free(p->row8);
	free(p->hi8);
	free(p);
	return st;
}

/* ---- WebP ------------------------------------------------------------------ */

/* libwebp rescales to at most this per side while decoding (area average). */
#define WEBP_DECODE_MAX 128

static const char *webp_status_name(VP8StatusCode s)
{
	switch (s) {
	case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
	case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
	case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
	case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
	case VP8_STATUS_SUSPENDED: return "suspended";
	case VP8_STATUS_USER_ABORT: return "aborted";
	case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
	default: return "unknown error";
	}
}

/* Decode one VP8/VP8L bitstream (a still image, or an animation's frame). */
static enum img_status webp_decode(struct ctx *c, const uint8_t *data, size_t n)
{
	WebPDecoderConfig cfg;
	VP8StatusCode st;

	if (!WebPInitDecoderConfig(&cfg))
		return fail(c, IMG_CORRUPT, "corrupt data: libwebp version mismatch");
	st = WebPGetFeatures(data, n, &cfg.input);
	if (st == VP8_STATUS_NOT_ENOUGH_DATA)
		return fail(c, IMG_CORRUPT, "truncated");
	if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
		return fail(c, IMG_UNSUPPORTED, "unsupported: WebP feature unknown to libwebp");
	if (st != VP8_STATUS_OK)
		return fail(c, IMG_CORRUPT, "bad header: %s", webp_status_name(st));
	if (check_dims(c, (uint64_t)cfg.input.width, (uint64_t)cfg.input.height) != IMG_OK)
		return c->res->status;

	int w = cfg.input.width, h = cfg.input.height;

	/*
	 * libwebp's rescaler averages areas when shrinking, and scaling bounds
	 * the output buffer; the whole bitstream is still decoded.
	 */
	if (w > WEBP_DECODE_MAX || h > WEBP_DECODE_MAX) {
		cfg.options.use_scaling = 1;
		cfg.options.scaled_width = w > WEBP_DECODE_MAX ? WEBP_DECODE_MAX : w;
		cfg.options.scaled_height = h > WEBP_DECODE_MAX ? WEBP_DECODE_MAX : h;
	}
	cfg.output.colorspace = MODE_RGB;
	st = WebPDecode(data, n, &cfg);
	if (st == VP8_STATUS_NOT_ENOUGH_DATA) {
		WebPFreeDecBuffer(&cfg.output);
		return fail(c, IMG_CORRUPT, "truncated");
	}
	if (st != VP8_STATUS_OK) {
		WebPFreeDecBuffer(&cfg.output);
		return fail(c, IMG_CORRUPT, "corrupt data: %s", webp_status_name(st));
	}

	const WebPRGBABuffer *rgb = &cfg.output.u.RGBA;

	start_acc(c, (uint32_t)cfg.output.width, (uint32_t)cfg.output.height);
	for (int y = 0; y < cfg.output.height; y++) {
		const uint8_t *row = rgb->rgba + (size_t)y * (size_t)rgb->stride;

		feed_row(c, (uint32_t)y, row, row, (uint32_t)cfg.output.width, 3, 0, 1);
	}
	WebPFreeDecBuffer(&cfg.output);
	c->res->status = IMG_OK;
	return IMG_OK;
}

static enum img_status check_webp(struct ctx *c)
{
	WebPBitstreamFeatures f;
	VP8StatusCode st;
	uint64_t riff = (uint64_t)le32(c->buf + 4) + 8;
	size_t n = c->len;

	st = WebPGetFeatures(c->buf, n, &f);
	if (st == VP8_STATUS_NOT_ENOUGH_DATA)
		return fail(c, IMG_CORRUPT, "truncated");
	if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
		return fail(c, IMG_UNSUPPORTED, "unsupported: WebP feature unknown to libwebp");
	if (st != VP8_STATUS_OK)
		return fail(c, IMG_CORRUPT, "bad header: %s", webp_status_name(st));
	/* For an animation these are the canvas's: the frames lie inside it. */
	if (check_dims(c, (uint64_t)f.width, (uint64_t)f.height) != IMG_OK)
		return c->res->status;
	if (riff > n)
		return fail(c, IMG_CORRUPT, "truncated");
	n = (size_t)riff;	/* bytes after the RIFF chunk are not the image's */

	if (!f.has_animation)
		return webp_decode(c, c->buf, n);

	WebPData data = {c->buf, n};
	WebPDemuxState ds;
	WebPDemuxer *dmx = WebPDemuxPartial(&data, &ds);
	WebPIterator it;
	enum img_status ret;
	uint32_t cw, ch;

	if (dmx == NULL || ds != WEBP_DEMUX_DONE) {
		WebPDemuxDelete(dmx);
		if (ds == WEBP_DEMUX_PARSING_HEADER || ds == WEBP_DEMUX_PARSED_HEADER)
			return fail(c, IMG_CORRUPT, "truncated");
		return fail(c, IMG_CORRUPT, "corrupt data: bad animation structure");
	}
	if (!WebPDemuxGetFrame(dmx, 1, &it)) {
		WebPDemuxDelete(dmx);
		return fail(c, IMG_CORRUPT, "corrupt data: animation without frames");
	}
	cw = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
	ch = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
	/* Judgement call: the first frame alone is decoded and thumbnailed. */
	ret = webp_decode(c, it.fragment.bytes, it.fragment.size);
	c->res->width = cw;
	c->res->height = ch;
	WebPDemuxReleaseIterator(&it);
	WebPDemuxDelete(dmx);
	return ret;
}

/* ---- BMP ------------------------------------------------------------------- */

static enum img_status check_bmp(struct ctx *c)
{
	const uint8_t *b = c->buf;
	size_t len = c->len;

	if (len < 18)
		return fail(c, IMG_CORRUPT, "truncated");

	uint32_t file_size = le32(b + 2), off = le32(b + 10), dib = le32(b + 14);
	int64_t w, h;
	unsigned planes, bpp;
	uint32_t comp = 0;

	if (dib != 12 && dib != 40 && dib != 52 && dib != 56 && dib != 64 && dib != 108 &&
	    dib != 124)
		return fail(c, IMG_CORRUPT, "bad header: unknown DIB header size %u", dib);
	if (len < 14 + (size_t)dib)
		return fail(c, IMG_CORRUPT, "truncated");
	if (dib == 12) {
		w = le16(b + 18);
		h = le16(b + 20);
		planes = le16(b + 22);
		bpp = le16(b + 24);
	} else {
		w = (int32_t)le32(b + 18);
		h = (int32_t)le32(b + 22);
		planes = le16(b + 26);
		bpp = le16(b + 28);
		comp = le32(b + 30);
	}
	if (planes != 1)
		return fail(c, IMG_CORRUPT, "bad header: %u planes", planes);
	if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
		return fail(c, IMG_CORRUPT, "bad header: %u bits per pixel", bpp);
	if (w < 0)
		return fail(c, IMG_CORRUPT, "bad header: negative width");
	if (h < 0)
		h = -h;		/* top-down rows */
	if (check_dims(c, (uint64_t)w, (uint64_t)h) != IMG_OK)
		return c->res->status;
	switch (comp) {
	case 0:		/* BI_RGB */
		break;
	case 3:		/* BI_BITFIELDS */
	case 6:		/* BI_ALPHABITFIELDS */
		if (bpp != 16 && bpp != 32)
			return fail(c, IMG_CORRUPT, "bad header: bit fields with %u bits per pixel",
				    bpp);
		break;
	case 1:
	case 2:
		return fail(c, IMG_UNSUPPORTED, "unsupported: RLE-compressed BMP");
	case 4:
		return fail(c, IMG_UNSUPPORTED, "unsupported: JPEG-compressed BMP");
	case 5:
		return fail(c, IMG_UNSUPPORTED, "unsupported: PNG-compressed BMP");
	default:
		return fail(c, IMG_CORRUPT, "bad header: unknown compression %u", comp);
	}
	if (off < 14 + dib)
		return fail(c, IMG_CORRUPT, "bad header: pixel data inside the header");

	uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4;

	if (file_size > len || off > len || (uint64_t)off + row * (uint64_t)h > len)
		return fail(c, IMG_CORRUPT, "truncated");
	if (len > INT32_MAX)
		return fail(c, IMG_UNSUPPORTED, "unsupported: BMP larger than 2 GiB");

	/* stb_image keeps its failure reason per thread; nothing else is global. */
	int sw, sh, sc;
	uint8_t *px = stbi_load_from_memory(b, (int)len, &sw, &sh, &sc, 3);

	if (px == NULL)
		return fail(c, IMG_CORRUPT, "corrupt data: %s", stbi_failure_reason());
	if ((int64_t)sw != w || (int64_t)sh != h) {
		stbi_image_free(px);
		return fail(c, IMG_CORRUPT, "corrupt data: decoded size differs from header");
	}
	start_acc(c, (uint32_t)sw, (uint32_t)sh);
	for (int y = 0; y < sh; y++) {
		const uint8_t *line = px + (size_t)y * (size_t)sw * 3;

		feed_row(c, (uint32_t)y, line, line, (uint32_t)sw, 3, 0, 1);
	}
	stbi_image_free(px);
	c->res->status = IMG_OK;
	return IMG_OK;
}

/* ---- decoded pixels (video frames) ---------------------------------------- */

void image_check_pixels(const uint8_t *rgb, size_t stride, uint32_t w, uint32_t h,
			struct img_thumb *thumb, bool meta, struct img_meta *m)
{
	struct ctx *c = xcalloc(1, sizeof(*c));

	c->thumb = thumb;
	c->meta = meta;
	start_acc(c, w, h);
	for (uint32_t y = 0; y < h; y++)
		feed_row(c, y, rgb + (size_t)y * stride, rgb + (size_t)y * stride, w, 3, 0, 1);
	if (c->acc_live) {
		acc_finish(&c->acc, thumb);
		acc_close(&c->acc);
	}
	grey_finish(&c->grey, m);
	grey_close(&c->grey);
	free(c);
}

int image_write_png(const char *path, const uint8_t *rgb, size_t stride, uint32_t w, uint32_t h)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	png_structp png = NULL;
	png_infop info = NULL;
	int rc = -EIO;

	if (f == NULL) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (png == NULL || (info = png_create_info_struct(png)) == NULL)
		goto out;
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 3);
	png_write_info(png, info);
	for (uint32_t y = 0; y < h; y++)
		png_write_row(png, rgb + (size_t)y * stride);
	png_write_end(png, info);
	rc = 0;
out:
	png_destroy_write_struct(&png, &info);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* ---- entry point ----------------------------------------------------------- */

enum img_status image_check(const uint8_t *buf, size_t len, enum img_format expected,
			    uint64_t max_pixels, struct img_thumb *thumb,
			    struct img_result *res)
{
	return image_check_meta(buf, len, expected, max_pixels, thumb, true, res);
}

enum img_status image_check_meta(const uint8_t *buf, size_t len, enum img_format expected,
				 uint64_t max_pixels, struct img_thumb *thumb, bool meta,
				 struct img_result *res)
{
	struct ctx *c;
	enum img_status st;

	memset(res, 0, sizeof(*res));
	res->meta.size_bytes = len;
	if (len == 0) {
		res->status = IMG_CORRUPT;
		snprintf(res->reason, sizeof(res->reason), "empty file");
		return res->status;
	}
	res->format = image_format_sniff(buf, len);
	if (res->format == IMG_UNKNOWN || (expected != IMG_UNKNOWN && res->format != expected)) {
		enum img_format want = expected != IMG_UNKNOWN ? expected : res->format;

		res->status = IMG_CORRUPT;
		/* A file shorter than its magic that starts like it was cut short. */
		for (size_t m = 0; m < ARRAY_LEN(magics); m++) {
			if (magics[m].f == want && len < magics[m].len && magic_prefix(m, buf, len)) {
				snprintf(res->reason, sizeof(res->reason), "truncated");
				return res->status;
			}
		}
		snprintf(res->reason, sizeof(res->reason), "bad magic: %s data in %s",
			 image_format_name(res->format), format_ext(expected));
		return res->status;
	}

	c = xcalloc(1, sizeof(*c));
	c->buf = buf;
	c->len = len;
	c->max_pixels = max_pixels;
	c->res = res;
	c->thumb = thumb;
	c->meta = meta;
	switch (res->format) {
	case IMG_JPEG: st = check_jpeg(c); break;
	case IMG_PNG: st = check_png(c); break;
	case IMG_WEBP: st = check_webp(c); break;
	default: st = check_bmp(c); break;
	}
	if (st == IMG_OK) {
		res->reason[0] = '\0';
		if (c->acc_live)
			acc_finish(&c->acc, thumb);
		grey_finish(&c->grey, &res->meta);
	}
	if (c->acc_live)
		acc_close(&c->acc);
	grey_close(&c->grey);
	free(c);
	res->status = st;
	return st;
}
