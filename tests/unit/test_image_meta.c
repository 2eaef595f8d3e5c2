/*
 * test_image_meta: winnow's computed image metadata (lib/image.c, SPEC 4.8)
 * on synthetic images whose values are known in closed form: flat, ramps,
 * checkerboards (the Laplacian's variance by hand), images with a side below
 * 3, the RGB-to-grey rounding, 16-bit PNG (high byte for the metadata, the
 * thumbnail still rounded as png_set_scale_16 does), alpha, interlacing, and
 * the descriptor's decode scale: 1:1 for PNG and for JPEG and WebP below
 * their thresholds, 1/2 for a JPEG whose short side is 64..127 (DCT
 * scaling) and for a WebP above 128 a side (libwebp's rescaler, here to 128).
 *
 * Images are encoded here with libpng, libjpeg and libwebp; the expected
 * values are worked out from the pixel values written, never from the code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "config.h"
#include "daemon/pipeline.h"
#include "image.h"
#include "metadata.h"
#include "util.h"

#define MAXPX 178956970ull

/* ---- encoders ---- */

static void png_write_cb(png_structp png, png_bytep data, size_t n)
{
	buf_append(png_get_io_ptr(png), data, n);
}

static void png_flush_cb(png_structp png)
{
	(void)png;
}

/* A PNG of w x h, color type ctype, depth 8 or 16, from px (row-major samples, 16-bit native). */
static struct buf png_encode(uint32_t w, uint32_t h, int ctype, int depth, const void *px,
			     bool interlace)
{
	struct buf b = { 0 };
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	int ch = ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
		: ctype == PNG_COLOR_TYPE_RGB ? 3 : 4;
	size_t rowbytes = (size_t)w * ch * (depth / 8);
	uint8_t *row = xmalloc(rowbytes);

	assert_non_null(info);
	assert_int_equal(setjmp(png_jmpbuf(png)), 0);
	png_set_write_fn(png, &b, png_write_cb, png_flush_cb);
	png_set_IHDR(png, info, w, h, depth, ctype,
		     interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	int passes = png_set_interlace_handling(png);
	for (int pass = 0; pass < passes; pass++) {
		for (uint32_t y = 0; y < h; y++) {
			for (size_t i = 0; i < (size_t)w * ch; i++) {
				size_t k = (size_t)y * w * ch + i;
				if (depth == 16) {
					uint16_t v = ((const uint16_t *)px)[k];
					row[2 * i] = (uint8_t)(v >> 8);
					row[2 * i + 1] = (uint8_t)v;
				} else {
					row[i] = ((const uint8_t *)px)[k];
				}
			}
			png_write_row(png, row);
		}
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	return b;
}

/* An 8-bit grey PNG of w x h from g. */
static struct buf png_grey(uint32_t w, uint32_t h, const uint8_t *g)
{
	return png_encode(w, h, PNG_COLOR_TYPE_GRAY, 8, g, false);
}

static struct buf jpeg_grey(uint32_t w, uint32_t h, const uint8_t *g)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	unsigned long n = 0;
	struct buf b = { 0 };

	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &out, &n);
	ci.image_width = w;
	ci.image_height = h;
	ci.input_components = 1;
	ci.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, 100, TRUE);
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < h) {
		JSAMPROW r = (JSAMPROW)(g + (size_t)ci.next_scanline * w);
		jpeg_write_scanlines(&ci, &r, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	buf_append(&b, out, n);
	free(out);
	return b;
}

/* A lossless WebP of w x h from grey values (R = G = B). */
static struct buf webp_grey(uint32_t w, uint32_t h, const uint8_t *g)
{
	uint8_t *rgb = xmalloc((size_t)w * h * 3), *out = NULL;
	struct buf b = { 0 };

	for (size_t i = 0; i < (size_t)w * h; i++)
		rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i];
	size_t n = WebPEncodeLosslessRGB(rgb, (int)w, (int)h, (int)w * 3, &out);
	assert_true(n > 0);
	buf_append(&b, out, n);
	WebPFree(out);
	free(rgb);
	return b;
}

/* ---- patterns and checks ---- */

/* A checkerboard of cell x cell squares, a at (0,0). */
static uint8_t *checker(uint32_t w, uint32_t h, uint32_t cell, uint8_t a, uint8_t b)
{
	uint8_t *g = xmalloc((size_t)w * h);

	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			g[(size_t)y * w + x] = ((x / cell + y / cell) % 2) ? b : a;
	return g;
}

/* The metadata of image b (consumed), checked to be the same without a thumbnail. */
static struct img_meta meta_of(struct buf b, enum img_format fmt, struct img_result *res)
{
	struct img_thumb t;

	assert_int_equal(image_check((const uint8_t *)b.data, b.len, fmt, MAXPX, &t, res), IMG_OK);
	assert_int_equal(res->meta.size_bytes, b.len);
	/* Without a thumbnail the metadata are the same. */
	struct img_result r2;
	assert_int_equal(image_check((const uint8_t *)b.data, b.len, fmt, MAXPX, NULL, &r2), IMG_OK);
	assert_memory_equal(&r2.meta, &res->meta, sizeof(res->meta));
	buf_free(&b);
	return res->meta;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) <= 1e-12 * fmax(1.0, fabs(b)))

static void expect(const struct img_meta *m, double lum, double snr, double sharp, double uniform)
{
	NEAR(m->luminance, lum);
	NEAR(m->snr, snr);
	NEAR(m->sharpness, sharp);
	NEAR(m->uniform_row_ratio, uniform);
}

/* ---- tests ---- */

static void test_flat(void **state)
{
	uint8_t *g = checker(40, 30, 1, 77, 77);
	struct img_result r;
	struct img_meta m = meta_of(png_grey(40, 30, g), IMG_PNG, &r);

	expect(&m, 77.0 / 255, 0, 0, 1);
	assert_int_equal(m.decode_w, 40);
	assert_int_equal(m.decode_h, 30);
	assert_int_equal(r.width, 40);
	assert_int_equal(r.height, 30);
	/* Black: mean 0, snr 0 (0 / 0 is taken as 0). */
	memset(g, 0, 40 * 30);
	m = meta_of(png_grey(40, 30, g), IMG_PNG, &r);
	expect(&m, 0, 0, 0, 1);
	free(g);
}

static void test_ramps(void **state)
{
	const uint32_t w = 64, h = 10;
	uint8_t *g = xmalloc(w * h);
	struct img_result r;

	/* g = x: mean (w-1)/2, variance (w^2-1)/12; the Laplacian of a linear ramp is 0. */
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			g[y * w + x] = (uint8_t)x;
	struct img_meta m = meta_of(png_grey(w, h, g), IMG_PNG, &r);
	expect(&m, 31.5 / 255, 31.5 / sqrt((64.0 * 64 - 1) / 12), 0, 0);
	free(g);

	/* g = 3y over 20 x 50: every row flat (uniform 1); mean 73.5, std 3 sqrt((50^2-1)/12). */
	g = xmalloc(20 * 50);
	for (uint32_t y = 0; y < 50; y++)
		for (uint32_t x = 0; x < 20; x++)
			g[y * 20 + x] = (uint8_t)(3 * y);
	m = meta_of(png_grey(20, 50, g), IMG_PNG, &r);
	expect(&m, 73.5 / 255, 73.5 / (3 * sqrt((50.0 * 50 - 1) / 12)), 0, 1);
	free(g);
}

static void test_checkerboard(void **state)
{
	struct img_result r;
	/*
	 * 1-pixel cells of a and b over 10 x 8: mean (a+b)/2, std |a-b|/2; at
	 * each of the 8 x 6 interior pixels the Laplacian is +-4(a-b), 24 of
	 * each sign: variance 16(a-b)^2, over 255^2.
	 */
	uint8_t *g = checker(10, 8, 1, 40, 200);
	struct img_meta m = meta_of(png_grey(10, 8, g), IMG_PNG, &r);
	expect(&m, 120.0 / 255, 120.0 / 80, 16.0 * 160 * 160 / 65025, 0);
	/* The same, interlaced: the passes come out of order, the values do not change. */
	m = meta_of(png_encode(10, 8, PNG_COLOR_TYPE_GRAY, 8, g, true), IMG_PNG, &r);
	expect(&m, 120.0 / 255, 120.0 / 80, 16.0 * 160 * 160 / 65025, 0);
	assert_int_equal(m.decode_h, 8);
	free(g);
	/* Any image: interlaced or not, the same grey image and so the same values. */
	uint64_t seed = 12345;
	g = xmalloc(13 * 11);
	for (size_t i = 0; i < 13 * 11; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		g[i] = (uint8_t)(seed >> 56);
	}
	struct img_meta flat = meta_of(png_encode(13, 11, PNG_COLOR_TYPE_GRAY, 8, g, false), IMG_PNG, &r);
	m = meta_of(png_encode(13, 11, PNG_COLOR_TYPE_GRAY, 8, g, true), IMG_PNG, &r);
	flat.size_bytes = m.size_bytes;	/* the files differ, of course */
	assert_memory_equal(&m, &flat, sizeof(m));
	assert_true(m.sharpness > 0 && m.snr > 0);
	free(g);

	/* Rows within 2 of their mean (a+b)/2: |a-b| = 4 is uniform (the bound), 6 is not. */
	g = checker(8, 7, 1, 100, 104);
	m = meta_of(png_grey(8, 7, g), IMG_PNG, &r);
	assert_true(m.uniform_row_ratio == 1.0);
	free(g);
	g = checker(8, 7, 1, 100, 106);
	m = meta_of(png_grey(8, 7, g), IMG_PNG, &r);
	assert_true(m.uniform_row_ratio == 0.0);
	free(g);

	/* Four rows of 10s, one of them ending in 20, 20 (mean 14): 3 of 4 rows uniform. */
	uint8_t step[] = { 10, 10, 10, 10, 10, 10, 10, 10, 20, 20, 10, 10, 10, 10, 10,
			   10, 10, 10, 10, 10 };
	m = meta_of(png_grey(5, 4, step), IMG_PNG, &r);
	assert_true(m.uniform_row_ratio == 0.75);
}

static void test_thin(void **state)
{
	struct img_result r;

	/* W or H below 3: no interior pixel, sharpness 0 whatever the content. */
	uint32_t dims[][2] = { { 2, 9 }, { 9, 2 }, { 1, 1 }, { 2, 2 } };
	for (size_t i = 0; i < ARRAY_LEN(dims); i++) {
		uint8_t *g = checker(dims[i][0], dims[i][1], 1, 0, 255);
		struct img_meta m = meta_of(png_grey(dims[i][0], dims[i][1], g), IMG_PNG, &r);
		assert_true(m.sharpness == 0.0);
		assert_int_equal(m.decode_w, dims[i][0]);
		free(g);
	}
	/* 3 x 3: exactly one interior pixel, so one Laplacian value and variance 0. */
	uint8_t *g = checker(3, 3, 1, 0, 255);
	struct img_meta m = meta_of(png_grey(3, 3, g), IMG_PNG, &r);
	assert_true(m.sharpness == 0.0);
	free(g);
}

static void test_rgb_alpha_16bit(void **state)
{
	struct img_result r;
	struct img_meta m;
	struct buf b;

	/*
	 * (10, 200, 33): 77*10 + 150*200 + 29*33 = 31727; +128 then >> 8 gives
	 * 124 (truncating alone would give 123).
	 */
	uint8_t rgb[4 * 4 * 3];
	for (size_t i = 0; i < 16; i++) {
		rgb[3 * i] = 10;
		rgb[3 * i + 1] = 200;
		rgb[3 * i + 2] = 33;
	}
	m = meta_of(png_encode(4, 4, PNG_COLOR_TYPE_RGB, 8, rgb, false), IMG_PNG, &r);
	expect(&m, 124.0 / 255, 0, 0, 1);

	/* RGBA and grey+alpha: alpha varies, colour does not; alpha is ignored. */
	uint8_t rgba[6 * 5 * 4], ga[6 * 5 * 2];
	for (size_t i = 0; i < 30; i++) {
		rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = 50;
		rgba[4 * i + 3] = (uint8_t)(i * 37);
		ga[2 * i] = 50;
		ga[2 * i + 1] = (uint8_t)(i * 91);
	}
	m = meta_of(png_encode(6, 5, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba, false), IMG_PNG, &r);
	expect(&m, 50.0 / 255, 0, 0, 1);
	m = meta_of(png_encode(6, 5, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, false), IMG_PNG, &r);
	expect(&m, 50.0 / 255, 0, 0, 1);

	/* 16-bit flat 0x10f0: the high byte 16 (rounding to 8 bits would give 17). */
	uint16_t flat16[5 * 5];
	for (size_t i = 0; i < 25; i++)
		flat16[i] = 0x10f0;
	m = meta_of(png_encode(5, 5, PNG_COLOR_TYPE_GRAY, 16, flat16, false), IMG_PNG, &r);
	expect(&m, 16.0 / 255, 0, 0, 1);
	/* 16-bit RGBA, interlaced: R = G = B = 0x10f0, alpha anything. */
	uint16_t rgba16[7 * 3 * 4];
	for (size_t i = 0; i < 21; i++) {
		rgba16[4 * i] = rgba16[4 * i + 1] = rgba16[4 * i + 2] = 0x10f0;
		rgba16[4 * i + 3] = (uint16_t)(i * 3001);
	}
	m = meta_of(png_encode(7, 3, PNG_COLOR_TYPE_RGB_ALPHA, 16, rgba16, true), IMG_PNG, &r);
	expect(&m, 16.0 / 255, 0, 0, 1);

	/*
	 * Every 16-bit value once (v = 256y + x over 256 x 256): the high byte is
	 * y, mean 127.5. The thumbnail still takes round(v * 255 / 65535) = round(v
	 * / 257) per sample, each 32 x 32 cell the mean of an 8 x 8 block.
	 */
	uint16_t *all = xmalloc(65536 * sizeof(*all));
	for (uint32_t v = 0; v < 65536; v++)
		all[v] = (uint16_t)v;
	b = png_encode(256, 256, PNG_COLOR_TYPE_GRAY, 16, all, false);
	struct img_thumb t;
	assert_int_equal(image_check((const uint8_t *)b.data, b.len, IMG_PNG, MAXPX, &t, &r), IMG_OK);
	m = meta_of(b, IMG_PNG, &r);
	NEAR(m.luminance, 0.5);
	for (uint32_t cy = 0; cy < 32; cy++) {
		for (uint32_t cx = 0; cx < 32; cx++) {
			double s = 0;
			for (uint32_t y = cy * 8; y < cy * 8 + 8; y++)
				for (uint32_t x = cx * 8; x < cx * 8 + 8; x++)
					s += round((y * 256.0 + x) / 257.0);
			assert_true(t.rgb[(cy * 32 + cx) * 3] == (float)(s / 64));
		}
	}
	free(all);
}

static void test_decode_scale(void **state)
{
	struct img_result r;
	struct img_meta m;

	/*
	 * WebP up to 128 a side decodes 1:1; above, libwebp rescales to 128. A
	 * checkerboard of 2 x 2 cells over 256 x 256 becomes one of 1-pixel
	 * cells at 128 x 128 (each 2 x 2 area is one value): Laplacian +-4(a-b),
	 * where at 1:1 it would be +-2(a-b) (two of four neighbours differ).
	 */
	uint8_t *g = checker(256, 256, 2, 40, 200);
	m = meta_of(webp_grey(256, 256, g), IMG_WEBP, &r);
	assert_int_equal(r.width, 256);
	assert_int_equal(r.height, 256);
	assert_int_equal(m.decode_w, 128);
	assert_int_equal(m.decode_h, 128);
	expect(&m, 120.0 / 255, 1.5, 16.0 * 160 * 160 / 65025, 0);
	free(g);
	/*
	 * 1:1 at 100 x 100: the 2 x 2 cells stay; two of each pixel's four
	 * neighbours differ, so the Laplacian is +-2(a-b), 49 x 49 interior
	 * pixels of each sign: variance 4(a-b)^2.
	 */
	g = checker(100, 100, 2, 40, 200);
	m = meta_of(webp_grey(100, 100, g), IMG_WEBP, &r);
	assert_int_equal(m.decode_w, 100);
	expect(&m, 120.0 / 255, 1.5, 4.0 * 160 * 160 / 65025, 0);
	free(g);

	/*
	 * JPEG: the largest 1/8, 1/4, 1/2 that keeps the short side >= 32. 40 x 40
	 * decodes 1:1; 128 x 96 at 1/2, 64 x 48. A flat grey JPEG decodes flat.
	 */
	g = checker(128, 96, 1, 128, 128);
	m = meta_of(jpeg_grey(40, 40, g), IMG_JPEG, &r);
	assert_int_equal(m.decode_w, 40);
	assert_int_equal(m.decode_h, 40);
	expect(&m, 128.0 / 255, 0, 0, 1);
	m = meta_of(jpeg_grey(128, 96, g), IMG_JPEG, &r);
	assert_int_equal(r.width, 128);
	assert_int_equal(r.height, 96);
	assert_int_equal(m.decode_w, 64);
	assert_int_equal(m.decode_h, 48);
	expect(&m, 128.0 / 255, 0, 0, 1);
	free(g);
}

static void test_invalid(void **state)
{
	struct img_result r;
	uint8_t *g = checker(8, 8, 1, 0, 255);
	struct buf b = png_grey(8, 8, g);

	/* Cut short: corrupt, no metadata but the byte count. */
	assert_int_equal(image_check((const uint8_t *)b.data, b.len - 20, IMG_PNG, MAXPX, NULL, &r),
			 IMG_CORRUPT);
	assert_int_equal(r.meta.size_bytes, b.len - 20);
	assert_true(r.meta.luminance == 0 && r.meta.decode_w == 0 && r.meta.uniform_row_ratio == 0);
	assert_int_equal(image_check((const uint8_t *)b.data, 0, IMG_PNG, MAXPX, NULL, &r),
			 IMG_CORRUPT);
	assert_int_equal(r.meta.size_bytes, 0);
	buf_free(&b);
	free(g);
}

/* ---- the pipeline keeps them per candidate, across a resume ---- */

struct seen {
	size_t n;
	char names[4][32];
	double v[4 * META_COMPUTED_COUNT];
	volatile int cancel;
	bool cancel_after_images;
};

static void seen_cb(void *ud, char *const *names, const double *values, size_t n)
{
	struct seen *s = ud;

	assert_true(n <= 4);
	s->n = n;
	for (size_t i = 0; i < n; i++)
		snprintf(s->names[i], sizeof(s->names[i]), "%s", names[i]);
	memcpy(s->v, values, n * META_COMPUTED_COUNT * sizeof(double));
}

static void stage_end_cb(void *ud, enum stage st, double secs, const char *summary)
{
	struct seen *s = ud;

	if (st == STAGE_IMAGES && s->cancel_after_images)
		cancel_request(&s->cancel);
}

static int run_once(const struct run_config *cfg, const char *input, const char *dir, bool resume,
		    struct seen *s, struct pipeline_result *r)
{
	struct pipeline_events ev = { .computed_meta = seen_cb, .stage_end = stage_end_cb };
	struct pipeline_opts o = {
		.cfg = cfg, .input = input, .run_dir = dir, .threads = 2, .ev = &ev, .ud = s,
		.cancel = &s->cancel, .resume = resume,
	};

	return pipeline_run(&o, r);
}

/* Writes image b (consumed) to path. */
static void put_file(const char *path, struct buf b)
{
	assert_int_equal(write_file_replace(path, b.data, b.len), 0);
	buf_free(&b);
}

static void test_pipeline_resume(void **state)
{
	struct run_config cfg;
	struct strvec errs = { 0 };
	/* A plan that reads lightly.luminance: the image pass makes the grey statistics. */
	const char *json = "{\"selection\": {\"nSamples\": 2, \"strategies\": ["
		"{\"input\": {\"type\": \"EMBEDDINGS\"}, \"strategy\": {\"type\": \"DIVERSITY\"}},"
		"{\"input\": {\"type\": \"METADATA\", \"key\": \"lightly.luminance\"},"
		" \"strategy\": {\"type\": \"THRESHOLD\", \"threshold\": -1, \"operation\": \"BIGGER\"}}]}}";
	const char *plain = "{\"method\": \"coreset\", \"stopping_condition\": {\"n_samples\": 2}}";
	struct pipeline_result r;
	struct stat st;

	assert_int_equal(config_parse(json, strlen(json), &cfg, &errs), 0);
	assert_int_equal(mkdir_p("ds", 0755), 0);
	uint8_t *g = checker(20, 20, 1, 77, 77);
	put_file("ds/a.png", png_grey(20, 20, g));
	free(g);
	g = checker(10, 8, 1, 40, 200);
	put_file("ds/b.png", png_grey(10, 8, g));
	free(g);
	assert_int_equal(write_file_replace("ds/c.png", "not a png", 9), 0);

	/* A whole run: two candidates (c.png is corrupt), the values of each. */
	struct seen a = { 0 };
	assert_int_equal(run_once(&cfg, "ds", "run_a", false, &a, &r), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.names[0], "a.png");
	assert_string_equal(a.names[1], "b.png");
	const double *va = a.v, *vb = a.v + META_COMPUTED_COUNT;
	assert_int_equal(stat("ds/a.png", &st), 0);
	assert_true(va[META_SIZE_IN_BYTES] == (double)st.st_size);
	assert_true(va[META_WIDTH] == 20 && va[META_HEIGHT] == 20);
	NEAR(va[META_LUMINANCE], 77.0 / 255);
	assert_true(va[META_SNR] == 0 && va[META_SHARPNESS] == 0 && va[META_UNIFORM_ROW_RATIO] == 1);
	assert_int_equal(stat("ds/b.png", &st), 0);
	assert_true(vb[META_SIZE_IN_BYTES] == (double)st.st_size);
	assert_true(vb[META_WIDTH] == 10 && vb[META_HEIGHT] == 8);
	NEAR(vb[META_LUMINANCE], 120.0 / 255);
	NEAR(vb[META_SNR], 1.5);
	NEAR(vb[META_SHARPNESS], 16.0 * 160 * 160 / 65025);
	assert_true(vb[META_UNIFORM_ROW_RATIO] == 0);

	/* Cancelled after the image pass, then resumed from its checkpoint: the same values. */
	struct seen b = { .cancel_after_images = true };
	assert_int_equal(run_once(&cfg, "ds", "run_b", true, &b, &r), -ECANCELED);
	assert_int_equal(b.n, 0);
	assert_int_equal(access("run_b/.checkpoint/images.bin", F_OK), 0);
	struct seen c = { 0 };
	assert_int_equal(run_once(&cfg, "ds", "run_b", true, &c, &r), 0);
	assert_true(r.resumed_after >= STAGE_IMAGES);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.v, a.v, 2 * META_COMPUTED_COUNT * sizeof(double));
	config_free(&cfg);

	/* A plan that reads none of them: the file's values only, the grey ones 0 (not computed). */
	assert_int_equal(config_parse(plain, strlen(plain), &cfg, &errs), 0);
	struct seen d = { 0 };
	assert_int_equal(run_once(&cfg, "ds", "run_c", false, &d, &r), 0);
	assert_int_equal(d.n, 2);
	const double *vd = d.v + META_COMPUTED_COUNT;
	assert_true(vd[META_SIZE_IN_BYTES] == vb[META_SIZE_IN_BYTES]);
	assert_true(vd[META_WIDTH] == 10 && vd[META_HEIGHT] == 8);
	assert_true(vd[META_LUMINANCE] == 0 && vd[META_SNR] == 0 && vd[META_SHARPNESS] == 0);
	config_free(&cfg);
	strvec_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_ramps),
		cmocka_unit_test(test_checkerboard),
		cmocka_unit_test(test_thin),
		cmocka_unit_test(test_rgb_alpha_16bit),
		cmocka_unit_test(test_decode_scale),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_pipeline_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
