/*
 * thumb: thumbnails for the results page.
 *
 * DESIGN: every decode has a memory budget (THUMB_BUDGET, 64 MiB: the file's
 * bytes plus what the decoder allocates in proportion to the image), judged
 * from the header alone before any pixel buffer exists (probe), so a small
 * file that declares a huge image (a 280 KB 16-bit RGBA PNG of 36 Mpx) is
 * refused with its figures, or decoded in pieces, and never costs hundreds of
 * megabytes. Then lib/image.c checks the file (a corrupt file is refused with
 * its reason) and the format's own decoder makes the small image:
 * - JPEG: libjpeg, scaled down by the DCT (1/2, 1/4 or 1/8: the smallest
 *   scale that keeps at least THUMB_MAX_SIDE px on the long side), rows
 *   streamed into the area-averaging shrinker; a progressive JPEG holds
 *   every DCT coefficient (about 2 bytes a sample at any scale), which is
 *   what its budget counts, and libjpeg's own limit is set to the budget;
 * - PNG: libpng, rows of 8-bit RGB streamed into the shrinker (an
 *   interlaced PNG is gathered whole first, 4 bytes a pixel counted);
 * - WebP: libwebp scales while decoding (lossless WebP holds its ARGB
 *   image, 4 bytes a pixel counted);
 * - BMP: stb_image decodes the whole image (4 bytes a pixel counted).
 * The shrinker area-averages to at most 256 px a side and libjpeg encodes
 * the result. At most THUMB_PARALLEL decodes run at once (a semaphore, held
 * from the file's read to the encode). The cache key is a SHA-256 of the
 * dataset, its folder, the file name, size and mtime, so a changed file gets
 * a new thumbnail; stale entries are left for an operator to clear (rm -r).
 */
#include "thumb.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <openssl/evp.h>
#include <png.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <webp/decode.h>

#include "dataset.h"
#include "image.h"
#include "util.h"

#define THUMB_PARALLEL 2
#define THUMB_MAX_PIXELS ((uint64_t)100000000)

static sem_t decode_sem;
static pthread_once_t sem_once = PTHREAD_ONCE_INIT;

static void sem_setup(void)
{
	sem_init(&decode_sem, 0, THUMB_PARALLEL);
}

bool thumb_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 4096 || name[0] == '/' || !utf8_valid(name, n) ||
	    !dataset_is_image_name(name))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20)
			return false;
	/* Every segment: not empty, not "." or "..". */
	for (const char *s = name;;) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (e == NULL)
			break;
		s = e + 1;
	}
	return true;
}

/* ---- the shrinker: area-average RGB rows, streamed, onto dw x dh ---- */

/*
 * Source rows arrive in order; destination row y averages source rows
 * [y*sh/dh, (y+1)*sh/dh) and column x source columns [x*sw/dw, (x+1)*sw/dw),
 * which partition the source since dw <= sw and dh <= sh.
 */
struct shrink {
	int sw, sh, dw, dh;
	int y;			/* the destination row being summed */
	uint64_t *acc;		/* dw * 3 sums */
	uint8_t *out;		/* dw * dh * 3 */
};

static void shrink_init(struct shrink *s, int sw, int sh, int dw, int dh)
{
	s->sw = sw;
	s->sh = sh;
	s->dw = dw < sw ? dw : sw;
	s->dh = dh < sh ? dh : sh;
	s->y = 0;
	s->acc = xcalloc((size_t)s->dw * 3, sizeof(uint64_t));
	s->out = xcalloc((size_t)s->dw * (size_t)s->dh, 3);
}

/* Source row yy (sw pixels of ncomp bytes, the first three R, G, B). */
static void shrink_row(struct shrink *s, int yy, const uint8_t *row, int ncomp)
{
	if (s->y >= s->dh)
		return;
	for (int x = 0; x < s->dw; x++) {
		int x0 = (int)((int64_t)x * s->sw / s->dw), x1 = (int)((int64_t)(x + 1) * s->sw / s->dw);
		const uint8_t *p = row + (size_t)x0 * (size_t)ncomp;
		uint64_t *a = s->acc + (size_t)x * 3;
		for (int xx = x0; xx < x1; xx++, p += ncomp) {
			a[0] += p[0];
			a[1] += p[1];
			a[2] += p[2];
		}
	}
	int y0 = (int)((int64_t)s->y * s->sh / s->dh), y1 = (int)((int64_t)(s->y + 1) * s->sh / s->dh);
	if (yy + 1 < y1)
		return;
	uint8_t *d = s->out + (size_t)s->y * (size_t)s->dw * 3;
	for (int x = 0; x < s->dw; x++) {
		int x0 = (int)((int64_t)x * s->sw / s->dw), x1 = (int)((int64_t)(x + 1) * s->sw / s->dw);
		uint64_t cnt = (uint64_t)(y1 - y0) * (uint64_t)(x1 - x0);
		for (int k = 0; k < 3; k++)
			d[x * 3 + k] = (uint8_t)((s->acc[x * 3 + k] + cnt / 2) / cnt);
	}
	memset(s->acc, 0, (size_t)s->dw * 3 * sizeof(uint64_t));
	s->y++;
}

static void shrink_free(struct shrink *s)
{
	free(s->acc);
	free(s->out);
	s->acc = NULL;
	s->out = NULL;
}

/* The thumbnail's size for a w x h image: at most THUMB_MAX_SIDE a side, aspect kept. */
static void thumb_dims(uint64_t w, uint64_t h, int *dw, int *dh)
{
	if (w <= THUMB_MAX_SIDE && h <= THUMB_MAX_SIDE) {
		*dw = (int)w;
		*dh = (int)h;
		return;
	}
	if (w >= h) {
		*dw = THUMB_MAX_SIDE;
		*dh = (int)((h * THUMB_MAX_SIDE + w / 2) / w);
	} else {
		*dh = THUMB_MAX_SIDE;
		*dw = (int)((w * THUMB_MAX_SIDE + h / 2) / h);
	}
	if (*dw < 1)
		*dw = 1;
	if (*dh < 1)
		*dh = 1;
}

static int encode_jpeg(const uint8_t *rgb, int w, int h, uint8_t **jpg, size_t *len)
{
	struct jpeg_compress_struct cinfo;
	struct jpeg_error_mgr jerr;
	unsigned char *mem = NULL;
	unsigned long memlen = 0;

	/* Encoding our own well-formed buffer cannot hit libjpeg's error exit
	   except on out of memory, which is fatal anyway (its default). */
	cinfo.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&cinfo);
	jpeg_mem_dest(&cinfo, &mem, &memlen);
	cinfo.image_width = (JDIMENSION)w;
	cinfo.image_height = (JDIMENSION)h;
	cinfo.input_components = 3;
	cinfo.in_color_space = JCS_RGB;
	jpeg_set_defaults(&cinfo);
	jpeg_set_quality(&cinfo, 85, TRUE);
	jpeg_start_compress(&cinfo, TRUE);
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)w * 3);
		jpeg_write_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	*jpg = mem;
	*len = memlen;
	return 0;
}

/* ---- JPEG ---- */

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
};

static void jpeg_exit(j_common_ptr cinfo)
{
	longjmp(((struct jerr *)cinfo->err)->jb, 1);
}

static void jpeg_quiet(j_common_ptr cinfo)
{
	(void)cinfo;
}

/* The DCT scale denominator: the largest of 8, 4, 2 that keeps THUMB_MAX_SIDE on the long side. */
static unsigned jpeg_denom(uint64_t w, uint64_t h)
{
	uint64_t side = w > h ? w : h;

	for (unsigned d = 8; d > 1; d /= 2)
		if ((side + d - 1) / d >= THUMB_MAX_SIDE)
			return d;
	return 1;
}

/*
 * What libjpeg allocates in proportion to the image: a progressive JPEG's
 * coefficients (64 shorts a block of every component, at any scale), else a
 * few rows of the scaled output.
 */
static uint64_t jpeg_cost(const struct jpeg_decompress_struct *ci, unsigned denom)
{
	uint64_t cost = ((uint64_t)ci->image_width / denom + 1) * 4 * 32;
	int hmax = 1, vmax = 1;

	if (!ci->progressive_mode)
		return cost;
	for (int i = 0; i < ci->num_components; i++) {
		if (ci->comp_info[i].h_samp_factor > hmax)
			hmax = ci->comp_info[i].h_samp_factor;
		if (ci->comp_info[i].v_samp_factor > vmax)
			vmax = ci->comp_info[i].v_samp_factor;
	}
	for (int i = 0; i < ci->num_components; i++) {
		uint64_t cw = ((uint64_t)ci->image_width * ci->comp_info[i].h_samp_factor + hmax - 1) / hmax;
		uint64_t ch = ((uint64_t)ci->image_height * ci->comp_info[i].v_samp_factor + vmax - 1) / vmax;
		cost += ((cw + 7) / 8) * ((ch + 7) / 8) * 128;
	}
	return cost;
}

static inline uint8_t mul255(unsigned a, unsigned b)
{
	unsigned t = a * b + 128;

	return (uint8_t)((t + (t >> 8)) >> 8);
}

/*
 * Header only (decode false): *cost. Else decodes at the scale chosen, into
 * a dw x dh RGB image (*rgb), within budget bytes.
 */
static int jpeg_thumb(const uint8_t *buf, size_t n, bool decode, uint64_t budget,
		      uint64_t *w, uint64_t *h, uint64_t *cost, bool *progressive, uint8_t **rgb,
		      int *dw, int *dh, char *err, size_t errlen)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	/* On the heap: a local changed after setjmp would be indeterminate after longjmp. */
	struct shrink *s = xcalloc(1, sizeof(*s));
	uint8_t *volatile row = NULL;
	volatile int rc = -EINVAL;

	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jpeg_exit;
	je.pub.output_message = jpeg_quiet;
	jpeg_create_decompress(&ci);
	if (setjmp(je.jb)) {
		char msg[JMSG_LENGTH_MAX];
		je.pub.format_message((j_common_ptr)&ci, msg);
		snprintf(err, errlen, "cannot decode JPEG for a thumbnail: %s", msg);
		rc = -EINVAL;
		goto out;
	}
	/* Past the budget libjpeg finds no backing store and stops (an error above). */
	ci.mem->max_memory_to_use = (long)budget;
	jpeg_mem_src(&ci, buf, (unsigned long)n);
	jpeg_read_header(&ci, TRUE);
	*w = ci.image_width;
	*h = ci.image_height;
	unsigned denom = jpeg_denom(*w, *h);
	*cost = jpeg_cost(&ci, denom);
	*progressive = ci.progressive_mode;
	if (!decode) {
		rc = 0;
		goto out;
	}
	bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
	ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	ci.scale_num = 1;
	ci.scale_denom = denom;
	jpeg_start_decompress(&ci);
	int ow = (int)ci.output_width, oh = (int)ci.output_height, nc = ci.output_components;
	thumb_dims(*w, *h, dw, dh);
	shrink_init(s, ow, oh, *dw, *dh);
	row = xmalloc((size_t)ow * (size_t)nc);
	while (ci.output_scanline < ci.output_height) {
		JSAMPROW r = row;
		int y = (int)ci.output_scanline;
		jpeg_read_scanlines(&ci, &r, 1);
		if (cmyk)	/* inverted CMYK, as lib/image.c reads it: R = C*K/255 */
			for (int x = 0; x < ow; x++) {
				uint8_t *p = row + (size_t)x * 4;
				p[0] = mul255(p[0], p[3]);
				p[1] = mul255(p[1], p[3]);
				p[2] = mul255(p[2], p[3]);
			}
		shrink_row(s, y, row, nc);
	}
	jpeg_finish_decompress(&ci);
	*dw = s->dw;
	*dh = s->dh;
	*rgb = s->out;
	s->out = NULL;
	rc = 0;
out:
	jpeg_destroy_decompress(&ci);
	shrink_free(s);
	free(s);
	free(row);
	return rc;
}

/* ---- PNG ---- */

struct png_src {
	const uint8_t *buf;
	size_t n, pos;
	char msg[160];
};

static void png_read_cb(png_structp png, png_bytep out, size_t len)
{
	struct png_src *s = png_get_io_ptr(png);

	if (len > s->n - s->pos)
		png_error(png, "truncated");
	memcpy(out, s->buf + s->pos, len);
	s->pos += len;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
	struct png_src *s = png_get_error_ptr(png);

	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* From the IHDR chunk: size, bytes a pixel as stored, interlace. */
static int png_header(const uint8_t *b, size_t n, uint64_t *w, uint64_t *h, unsigned *bpp,
		      bool *interlaced)
{
	static const unsigned chans[7] = { 1, 0, 3, 1, 2, 0, 4 };

	if (n < 33 || memcmp(b + 12, "IHDR", 4) != 0 || b[25] > 6 || chans[b[25]] == 0)
		return -EINVAL;
	*w = (uint64_t)b[16] << 24 | (uint64_t)b[17] << 16 | (uint64_t)b[18] << 8 | b[19];
	*h = (uint64_t)b[20] << 24 | (uint64_t)b[21] << 16 | (uint64_t)b[22] << 8 | b[23];
	*bpp = (chans[b[25]] * b[24] + 7) / 8;
	*interlaced = b[28] != 0;
	return 0;
}

/*
 * What the decode below allocates in proportion to the image: two rows as
 * stored and one as 8-bit RGBA; an interlaced PNG the whole image at 4
 * bytes a pixel.
 */
static uint64_t png_cost(uint64_t w, uint64_t h, unsigned bpp, bool interlaced)
{
	return interlaced ? w * h * 4 + w * 8 : w * (2 * (uint64_t)bpp + 4);
}

static int png_thumb(const uint8_t *buf, size_t n, uint64_t w, uint64_t h, uint8_t **rgb,
		     int *dw, int *dh, char *err, size_t errlen)
{
	struct png_src src = { .buf = buf, .n = n };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warn_cb);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	struct shrink *s = xcalloc(1, sizeof(*s));	/* not changed after setjmp */
	uint8_t *volatile img = NULL;
	png_bytep *volatile rows = NULL;
	volatile int rc = -EINVAL;

	if (info == NULL) {
		png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		snprintf(err, errlen, "cannot decode PNG for a thumbnail: %s", src.msg);
		rc = -EINVAL;
		goto out;
	}
	png_set_read_fn(png, &src, png_read_cb);
	png_read_info(png, info);
	png_set_scale_16(png);
	png_set_expand(png);
	png_set_gray_to_rgb(png);
	int passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);
	int nc = png_get_channels(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	if (png_get_bit_depth(png, info) != 8 || nc < 3 || rowbytes < (size_t)w * (size_t)nc) {
		snprintf(err, errlen, "cannot decode PNG for a thumbnail: unexpected layout");
		goto out;
	}
	thumb_dims(w, h, dw, dh);
	shrink_init(s, (int)w, (int)h, *dw, *dh);
	if (passes > 1) {
		img = xmalloc(rowbytes * (size_t)h);
		rows = xmalloc(sizeof(png_bytep) * (size_t)h);
		for (uint64_t y = 0; y < h; y++)
			rows[y] = img + rowbytes * y;
		png_read_image(png, rows);
		for (uint64_t y = 0; y < h; y++)
			shrink_row(s, (int)y, rows[y], nc);
	} else {
		img = xmalloc(rowbytes);
		for (uint64_t y = 0; y < h; y++) {
			png_read_row(png, img, NULL);
			shrink_row(s, (int)y, img, nc);
		}
	}
	*dw = s->dw;
	*dh = s->dh;
	*rgb = s->out;
	s->out = NULL;
	rc = 0;
out:
	png_destroy_read_struct(&png, &info, NULL);
	shrink_free(s);
	free(s);
	free(img);
	free(rows);
	return rc;
}

/* ---- WebP and BMP ---- */

static int webp_thumb(const uint8_t *buf, size_t n, uint64_t w, uint64_t h, uint8_t **rgb,
		      int *dw, int *dh, char *err, size_t errlen)
{
	WebPDecoderConfig cfg;

	if (!WebPInitDecoderConfig(&cfg)) {
		snprintf(err, errlen, "cannot decode WebP for a thumbnail");
		return -EINVAL;
	}
	thumb_dims(w, h, dw, dh);
	cfg.options.use_scaling = 1;
	cfg.options.scaled_width = *dw;
	cfg.options.scaled_height = *dh;
	cfg.output.colorspace = MODE_RGB;
	if (WebPDecode(buf, n, &cfg) != VP8_STATUS_OK) {
		WebPFreeDecBuffer(&cfg.output);
		snprintf(err, errlen, "cannot decode WebP for a thumbnail");
		return -EINVAL;
	}
	uint8_t *out = xmalloc((size_t)*dw * (size_t)*dh * 3);
	for (int y = 0; y < *dh; y++)
		memcpy(out + (size_t)y * (size_t)*dw * 3,
		       cfg.output.u.RGBA.rgba + (size_t)y * (size_t)cfg.output.u.RGBA.stride,
		       (size_t)*dw * 3);
	WebPFreeDecBuffer(&cfg.output);
	*rgb = out;
	return 0;
}

static int bmp_thumb(const uint8_t *buf, size_t n, uint8_t **rgb, int *dw, int *dh,
		     char *err, size_t errlen)
{
	int w = 0, h = 0, ch = 0;
	uint8_t *px = stbi_load_from_memory(buf, (int)n, &w, &h, &ch, 3);
	struct shrink s;

	if (px == NULL || w <= 0 || h <= 0) {
		stbi_image_free(px);
		snprintf(err, errlen, "cannot decode BMP for a thumbnail");
		return -EINVAL;
	}
	thumb_dims((uint64_t)w, (uint64_t)h, dw, dh);
	shrink_init(&s, w, h, *dw, *dh);
	for (int y = 0; y < h; y++)
		shrink_row(&s, y, px + (size_t)y * (size_t)w * 3, 3);
	stbi_image_free(px);
	*dw = s.dw;
	*dh = s.dh;
	*rgb = s.out;
	s.out = NULL;
	shrink_free(&s);
	return 0;
}

/* ---- the budget ---- */

/*
 * The image's size and what decoding it costs, from its header alone.
 * Returns 0, or -EINVAL when the header cannot be read (image_check then
 * names the reason).
 */
static int probe(const uint8_t *buf, size_t n, enum img_format f, uint64_t *w, uint64_t *h,
		 uint64_t *cost, char *what, size_t whatlen)
{
	char err[256];
	unsigned bpp;
	bool il, prog = false;

	switch (f) {
	case IMG_JPEG:
		if (jpeg_thumb(buf, n, false, THUMB_BUDGET, w, h, cost, &prog, NULL, NULL, NULL,
			       err, sizeof(err)) < 0)
			return -EINVAL;
		snprintf(what, whatlen, "%sJPEG", prog ? "progressive " : "");
		return 0;
	case IMG_PNG:
		if (png_header(buf, n, w, h, &bpp, &il) < 0)
			return -EINVAL;
		*cost = png_cost(*w, *h, bpp, il);
		snprintf(what, whatlen, "%sPNG of %u bytes a pixel", il ? "interlaced " : "", bpp);
		return 0;
	case IMG_WEBP: {
		WebPBitstreamFeatures ft;
		if (WebPGetFeatures(buf, n, &ft) != VP8_STATUS_OK || ft.width <= 0 || ft.height <= 0)
			return -EINVAL;
		*w = (uint64_t)ft.width;
		*h = (uint64_t)ft.height;
		/* Lossless (or unknown): the whole ARGB image; lossy: its alpha plane. */
		*cost = *w * *h * (ft.format == 1 ? (ft.has_alpha ? 1 : 0) : 4) + *w * 64;
		snprintf(what, whatlen, "%s WebP", ft.format == 1 ? "lossy" : "lossless");
		return 0;
	}
	case IMG_BMP: {
		int iw, ih, ic;
		if (n > (size_t)INT32_MAX || !stbi_info_from_memory(buf, (int)n, &iw, &ih, &ic) ||
		    iw <= 0 || ih <= 0)
			return -EINVAL;
		*w = (uint64_t)iw;
		*h = (uint64_t)ih;
		*cost = *w * *h * 4;
		snprintf(what, whatlen, "BMP");
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int thumb_make(const uint8_t *buf, size_t n, const char *name, uint8_t **jpg, size_t *len,
	       char *err, size_t errlen)
{
	struct img_result res;
	enum img_format f = image_format_sniff(buf, n);
	uint64_t w = 0, h = 0, cost = 0, ignore;
	bool prog;
	uint8_t *rgb = NULL;
	int dw = 0, dh = 0, rc;
	char what[64];

	if (n > THUMB_BUDGET) {
		snprintf(err, errlen, "too large for a thumbnail: the file is %zu MiB (limit %d MiB)",
			 n >> 20, (int)(THUMB_BUDGET >> 20));
		return -EINVAL;
	}
	if (f == image_format_from_name(name) && probe(buf, n, f, &w, &h, &cost, what,
						       sizeof(what)) == 0) {
		if (w * h > THUMB_MAX_PIXELS) {
			snprintf(err, errlen, "too many pixels for a thumbnail: %llux%llu",
				 (unsigned long long)w, (unsigned long long)h);
			return -EINVAL;
		}
		if (cost + n > THUMB_BUDGET) {
			snprintf(err, errlen, "too large to decode for a thumbnail: a %llux%llu %s "
				 "needs %llu MiB with its file (limit %d MiB)",
				 (unsigned long long)w, (unsigned long long)h, what,
				 (unsigned long long)((cost + n + (1 << 20) - 1) >> 20),
				 (int)(THUMB_BUDGET >> 20));
			return -EINVAL;
		}
	}
	/* Every header the probe could not read is named by the check. */
	if (image_check_meta(buf, n, image_format_from_name(name), THUMB_MAX_PIXELS, NULL, false,
			     &res) != IMG_OK) {
		snprintf(err, errlen, "%s", res.reason);
		return -EINVAL;
	}
	if (w == 0 || h == 0) {	/* a valid image whose header the probe missed: a bug */
		snprintf(err, errlen, "cannot read the %s header for a thumbnail",
			 image_format_name(res.format));
		return -EINVAL;
	}
	switch (res.format) {
	case IMG_JPEG:
		rc = jpeg_thumb(buf, n, true, THUMB_BUDGET - n, &w, &h, &ignore, &prog, &rgb, &dw,
				&dh, err, errlen);
		break;
	case IMG_PNG:
		rc = png_thumb(buf, n, w, h, &rgb, &dw, &dh, err, errlen);
		break;
	case IMG_WEBP:
		rc = webp_thumb(buf, n, w, h, &rgb, &dw, &dh, err, errlen);
		break;
	default:
		rc = bmp_thumb(buf, n, &rgb, &dw, &dh, err, errlen);
		break;
	}
	if (rc < 0)
		return rc;
	rc = encode_jpeg(rgb, dw, dh, jpg, len);
	free(rgb);
	return rc;
}

void thumb_cache_key(const char *kind, const char *dataset_id, const char *root,
		     const char *name, const struct stat *st, char out[65])
{
	/* Newline separates the parts: names with control characters never get here. */
	char *s = xasprintf("%s%s\n%s\n%s\n%lld\n%lld.%09ld", kind, dataset_id, root, name,
			    (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			    st->st_mtim.tv_nsec);
	unsigned char h[32];
	unsigned int hl = 32;

	if (EVP_Digest(s, strlen(s), h, &hl, EVP_sha256(), NULL) != 1)
		abort();
	free(s);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int thumb_get(const char *cache_dir, const char *dataset_id, const struct dataset *ds,
	      const char *name, uint8_t **jpg, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char key[65];
	int rc;

	err[0] = '\0';
	/* A video's frame (SPEC 3.1): web/thumb_video.c; 1 when name is none. */
	rc = thumb_frame_get(cache_dir, dataset_id, ds, name, jpg, len, err, errlen);
	if (rc != 1)
		return rc;
	rc = dataset_stat(ds, name, &st);
	/* As dataset_read would answer: a folder or a FIFO is no image. */
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (rc < 0)
		return rc;
	thumb_cache_key("", dataset_id, ds->root, name, &st, key);
	char *dir = xasprintf("%s/%.2s", cache_dir, key);
	char *path = xasprintf("%s/%s.jpg", dir, key);
	char *data = NULL;
	size_t dlen = 0;
	if (read_file(path, (size_t)16 << 20, &data, &dlen) == 0 && dlen > 0) {
		*jpg = (uint8_t *)data;
		*len = dlen;
		goto out;
	}
	free(data);

	pthread_once(&sem_once, sem_setup);
	while (sem_wait(&decode_sem) < 0 && errno == EINTR)
		;
	uint8_t *buf = NULL;
	size_t n = 0;
	rc = dataset_read(ds, name, THUMB_BUDGET, &buf, &n);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "too large for a thumbnail: the file is over %d MiB",
			 (int)(THUMB_BUDGET >> 20));
		rc = -EINVAL;
	} else if (rc == 0)
		rc = thumb_make(buf, n, name, jpg, len, err, errlen);
	sem_post(&decode_sem);
	free(buf);
	if (rc == 0 && mkdir_p(dir, 0700) == 0)
		write_file_atomic(path, *jpg, *len);	/* a failed cache write only costs time */
out:
	free(dir);
	free(path);
	return rc;
}

/* ---- for web/thumb_video.c: the decode slots, the shrinker, the encoder ---- */

void thumb_slot_take(void)
{
	pthread_once(&sem_once, sem_setup);
	while (sem_wait(&decode_sem) < 0 && errno == EINTR)
		;
}

void thumb_slot_give(void)
{
	sem_post(&decode_sem);
}

int thumb_from_rgb(const uint8_t *rgb, uint32_t w, uint32_t h, uint8_t **jpg, size_t *len)
{
	struct shrink s;
	int dw, dh;

	thumb_dims(w, h, &dw, &dh);
	shrink_init(&s, (int)w, (int)h, dw, dh);
	for (uint32_t y = 0; y < h; y++)
		shrink_row(&s, (int)y, rgb + (size_t)y * w * 3, 3);
	int rc = encode_jpeg(s.out, s.dw, s.dh, jpg, len);
	shrink_free(&s);
	return rc;
}

/* ---- the full image, for the sample view ---- */

int thumb_probe(const uint8_t *buf, size_t n, uint64_t *w, uint64_t *h)
{
	uint64_t cost;
	char what[64];

	return probe(buf, n, image_format_sniff(buf, n), w, h, &cost, what, sizeof(what));
}

struct membuf {
	uint8_t *p;
	size_t n;
};

static void png_mem_cb(void *ctx, void *data, int size)
{
	struct membuf *m = ctx;

	m->p = xrealloc(m->p, m->n + (size_t)size);
	memcpy(m->p + m->n, data, (size_t)size);
	m->n += (size_t)size;
}

int thumb_full(const uint8_t *buf, size_t n, const char *name, uint8_t **png, size_t *len,
	       const char **ctype, uint64_t *w, uint64_t *h, char *err, size_t errlen)
{
	enum img_format f = image_format_sniff(buf, n), want = image_format_from_name(name);
	uint64_t cost = 0;
	char what[64];

	*png = NULL;
	*len = 0;
	*w = *h = 0;
	if (f == IMG_UNKNOWN) {
		snprintf(err, errlen, "not an image: no JPEG, PNG, WebP or BMP signature");
		return -EINVAL;
	}
	if (f != want) {
		snprintf(err, errlen, "bad magic: %s data in a file named as %s", image_format_name(f),
			 image_format_name(want));
		return -EINVAL;
	}
	if (probe(buf, n, f, w, h, &cost, what, sizeof(what)) < 0) {
		snprintf(err, errlen, "cannot read the %s header", image_format_name(f));
		return -EINVAL;
	}
	if (f != IMG_BMP) {
		/* Browsers draw these as stored: sent unchanged. */
		*ctype = f == IMG_JPEG ? "image/jpeg" : f == IMG_PNG ? "image/png" : "image/webp";
		return 0;
	}
	/* BMP: decoded whole (4 bytes a pixel), then PNG rows and their deflate (about 7). */
	if (*w * *h > THUMB_MAX_PIXELS || *w * *h * 11 + n > THUMB_BUDGET) {
		snprintf(err, errlen, "too large to convert for display: a %llux%llu BMP needs over "
			 "%d MiB (limit %d MiB)", (unsigned long long)*w, (unsigned long long)*h,
			 (int)((*w * *h * 11 + n) >> 20), (int)(THUMB_BUDGET >> 20));
		return -EINVAL;
	}
	pthread_once(&sem_once, sem_setup);
	while (sem_wait(&decode_sem) < 0 && errno == EINTR)
		;
	int iw = 0, ih = 0, ch = 0;
	uint8_t *px = stbi_load_from_memory(buf, (int)n, &iw, &ih, &ch, 3);
	struct membuf m = { NULL, 0 };
	int rc = 0;
	if (px == NULL || iw <= 0 || ih <= 0) {
		snprintf(err, errlen, "cannot decode BMP: %s", stbi_failure_reason());
		rc = -EINVAL;
	} else if (!stbi_write_png_to_func(png_mem_cb, &m, iw, ih, 3, px, iw * 3)) {
		snprintf(err, errlen, "cannot encode the BMP as PNG");
		rc = -EINVAL;
	}
	stbi_image_free(px);
	sem_post(&decode_sem);
	if (rc < 0) {
		free(m.p);
		return rc;
	}
	*png = m.p;
	*len = m.n;
	*ctype = "image/png";
	return 0;
}
