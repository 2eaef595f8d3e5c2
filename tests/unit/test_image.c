/*
 * test_image: the corruptness check and thumbnails of lib/image.c on fixtures
 * that tests/tools/mkimages.py writes into the test's temp dir (its cwd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

#define DEFAULT_MAX_PIXELS 178956970ull

struct file {
	uint8_t *b;
	size_t n;
};

static struct file load(const char *name)
{
	struct file f;
	char *p;

	if (read_file(name, 1 << 28, &p, &f.n) != 0)
		fail_msg("cannot read fixture %s", name);
	f.b = (uint8_t *)p;
	return f;
}

static enum img_status check_as(const char *name, enum img_format fmt, uint64_t max,
				struct img_thumb *t, struct img_result *r)
{
	struct file f = load(name);
	enum img_status st = image_check(f.b, f.n, fmt, max, t, r);

	free(f.b);
	return st;
}

static enum img_status check(const char *name, struct img_thumb *t, struct img_result *r)
{
	return check_as(name, image_format_from_name(name), DEFAULT_MAX_PIXELS, t, r);
}

static int make_fixtures(void **state)
{
	const char *root = getenv("WINNOW_ROOT");
	char *cmd = xasprintf("/usr/bin/python3 '%s/tests/tools/mkimages.py' .", root ? root : ".");
	int rc = system(cmd);

	free(cmd);
	if (rc != 0)
		fprintf(stderr, "mkimages.py failed (%d)\n", rc);
	return rc == 0 ? 0 : -1;
}

/* ---- names and magic ----------------------------------------------------- */

static void test_format_from_name(void **state)
{
	assert_int_equal(image_format_from_name("A.JPG"), IMG_JPEG);
	assert_int_equal(image_format_from_name("dir/x.jpeg"), IMG_JPEG);
	assert_int_equal(image_format_from_name("x.JPeG"), IMG_JPEG);
	assert_int_equal(image_format_from_name("y.Webp"), IMG_WEBP);
	assert_int_equal(image_format_from_name("a.tar.png"), IMG_PNG);
	assert_int_equal(image_format_from_name("b.BMP"), IMG_BMP);
	assert_int_equal(image_format_from_name("a.txt"), IMG_UNKNOWN);
	assert_int_equal(image_format_from_name("jpg"), IMG_UNKNOWN);
	assert_int_equal(image_format_from_name("dir.jpg/noext"), IMG_UNKNOWN);
	assert_int_equal(image_format_from_name("a.jpg.gz"), IMG_UNKNOWN);
	assert_string_equal(image_format_name(IMG_WEBP), "WebP");
	assert_string_equal(image_format_name(IMG_UNKNOWN), "unknown");
}

static void test_sniff(void **state)
{
	assert_int_equal(image_format_sniff((const uint8_t *)"\xff\xd8\xff\xe0", 4), IMG_JPEG);
	assert_int_equal(image_format_sniff((const uint8_t *)"\x89PNG\r\n\x1a\n", 8), IMG_PNG);
	assert_int_equal(image_format_sniff((const uint8_t *)"RIFF\1\2\3\4WEBP", 12), IMG_WEBP);
	assert_int_equal(image_format_sniff((const uint8_t *)"RIFF\1\2\3\4WAVE", 12), IMG_UNKNOWN);
	assert_int_equal(image_format_sniff((const uint8_t *)"BM", 2), IMG_BMP);
	assert_int_equal(image_format_sniff((const uint8_t *)"\x89PNG", 4), IMG_UNKNOWN);
	assert_int_equal(image_format_sniff((const uint8_t *)"", 0), IMG_UNKNOWN);
}

/* ---- valid forms ----------------------------------------------------------- */

enum pattern { RED, LR, ANY };

static const struct valid {
	const char *name;
	unsigned w, h;
	enum pattern pat;
} valid[] = {
	{"ok_red.jpg", 64, 64, RED},
	{"ok_lr.jpg", 640, 480, LR},
	{"ok_lr_prog.jpg", 640, 480, LR},
	{"ok_lr_grey.jpg", 640, 480, LR},
	{"ok_red_cmyk.jpg", 64, 64, RED},
	{"ok_red_cmyk_noadobe.jpg", 64, 64, RED},	/* read as inverted, like Pillow */
	{"ok_lr_cmyk.jpg", 640, 480, LR},
	{"ok_lr_small.jpg", 37, 29, LR},
	{"ok_photo.jpg", 640, 480, ANY},
	{"ok_photo_prog.jpg", 640, 480, ANY},
	{"ok_trailing.jpg", 64, 64, RED},
	{"ok_photo_ycck.jpg", 640, 480, ANY},	/* Adobe YCCK */
	{"ok_photo_icc.jpg", 640, 480, ANY},	/* an sRGB ICC profile in APP2 */
	{"ok_photo_icc_big.jpg", 640, 480, ANY},	/* an ICC profile over several APP2 */
	{"ok_red.png", 64, 64, RED},
	{"ok_lr.png", 640, 480, LR},
	{"ok_lr_palette.png", 640, 480, LR},
	{"ok_lr_grey16.png", 640, 480, LR},
	{"ok_red_rgba.png", 64, 64, RED},
	{"ok_lr_la.png", 640, 480, LR},
	{"ok_lr_interlaced.png", 640, 480, LR},
	{"ok_lr_small_interlaced.png", 37, 29, LR},
	{"ok_lr_tiny_interlaced.png", 4, 2, LR},
	{"ok_lr_1bit.png", 640, 480, LR},
	{"ok_trailing.png", 64, 64, RED},
	{"ok_bad_text_crc.png", 64, 64, RED},
	{"ok_photo.png", 640, 480, ANY},
	{"ok_photo_odd.png", 97, 40, ANY},
	{"ok_photo_interlaced.png", 640, 480, ANY},
	{"ok_photo_odd_interlaced.png", 97, 40, ANY},
	{"ok_red_lossy.webp", 64, 64, RED},
	{"ok_lr_lossless.webp", 640, 480, LR},
	{"ok_lr_lossy.webp", 200, 100, LR},
	{"ok_red_alpha.webp", 64, 64, RED},
	{"ok_anim.webp", 64, 64, RED},	/* frame 1 red, frame 2 blue */
	{"ok_photo.webp", 640, 480, ANY},
	{"ok_lr24.bmp", 640, 480, LR},
	{"ok_red8.bmp", 64, 64, RED},
	{"ok_lr_small.bmp", 37, 29, LR},
};

static void assert_pattern(const char *name, const struct img_thumb *t, enum pattern pat)
{
	for (int y = 0; y < THUMB_SIZE; y++) {
		for (int x = 0; x < THUMB_SIZE; x++) {
			const float *p = &t->rgb[(y * THUMB_SIZE + x) * 3];
			bool ok = true;

			for (int k = 0; k < 3; k++)
				ok = ok && isfinite(p[k]) && p[k] >= 0.0f && p[k] <= 255.0f;
			if (pat == RED)
				ok = ok && p[0] > 245 && p[1] < 10 && p[2] < 10;
			/* Columns away from the middle edge: JPEG rings a little there. */
			if (pat == LR && x < THUMB_SIZE / 2 - 2)
				ok = ok && p[0] < 12 && p[1] < 12 && p[2] < 12;
			if (pat == LR && x >= THUMB_SIZE / 2 + 2)
				ok = ok && p[0] > 243 && p[1] > 243 && p[2] > 243;
			if (!ok)
				fail_msg("%s: thumbnail cell (%d,%d) = (%.1f,%.1f,%.1f)", name, x, y,
					 p[0], p[1], p[2]);
		}
	}
}

static void test_valid_forms(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		struct img_result r;
		struct img_thumb t;
		enum img_status st = check(valid[i].name, &t, &r);

		if (st != IMG_OK)
			fail_msg("%s: status %d, reason \"%s\"", valid[i].name, st, r.reason);
		assert_string_equal(r.reason, "");
		assert_int_equal(r.format, image_format_from_name(valid[i].name));
		assert_int_equal(r.width, valid[i].w);
		assert_int_equal(r.height, valid[i].h);
		assert_pattern(valid[i].name, &t, valid[i].pat);
	}
}

/* Validity does not depend on asking for a thumbnail. */
static void test_valid_without_thumb(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		struct img_result r;

		assert_int_equal(check(valid[i].name, NULL, &r), IMG_OK);
	}
}

static float mean_abs_diff(const struct img_thumb *a, const struct img_thumb *b)
{
	double d = 0;

	for (size_t i = 0; i < ARRAY_LEN(a->rgb); i++)
		d += fabs((double)a->rgb[i] - (double)b->rgb[i]);
	return (float)(d / (double)ARRAY_LEN(a->rgb));
}

/*
 * The PNG thumbnail equals the area average numpy computes (mkimages.py), and
 * the DCT-scaled JPEG and the rescaled WebP thumbnails of the same picture
 * stay close to it.
 */
static void test_thumb_matches_reference(void **state)
{
	static const char *const pairs[][2] = {
		{"ok_photo.png", "photo_thumb.f32"},
		{"ok_photo_odd.png", "photo_odd_thumb.f32"},
		{"ok_photo_interlaced.png", "photo_thumb.f32"},
		{"ok_photo_odd_interlaced.png", "photo_odd_thumb.f32"},
	};
	struct img_result r;
	struct img_thumb t, ref, other;

	for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
		struct file f = load(pairs[i][1]);

		assert_int_equal(f.n, sizeof(ref.rgb));
		memcpy(ref.rgb, f.b, f.n);	/* little-endian float32, like the host */
		free(f.b);
		assert_int_equal(check(pairs[i][0], &t, &r), IMG_OK);
		for (size_t k = 0; k < ARRAY_LEN(t.rgb); k++)
			if (fabsf(t.rgb[k] - ref.rgb[k]) > 1e-3f)
				fail_msg("%s: value %zu is %f, numpy says %f", pairs[i][0], k,
					 t.rgb[k], ref.rgb[k]);
	}
	assert_int_equal(check("ok_photo.png", &ref, &r), IMG_OK);
	assert_int_equal(check("ok_photo.jpg", &other, &r), IMG_OK);
	assert_true(mean_abs_diff(&ref, &other) < 2.0f);
	assert_int_equal(check("ok_photo_prog.jpg", &other, &r), IMG_OK);
	assert_true(mean_abs_diff(&ref, &other) < 2.0f);
	assert_int_equal(check("ok_photo.webp", &other, &r), IMG_OK);
	assert_true(mean_abs_diff(&ref, &other) < 1.5f);
}

static void load_thumb(const char *name, struct img_thumb *t)
{
	struct file f = load(name);

	assert_int_equal(f.n, sizeof(t->rgb));
	memcpy(t->rgb, f.b, f.n);	/* little-endian float32, like the host */
	free(f.b);
}

static float max_abs_diff(const struct img_thumb *a, const struct img_thumb *b)
{
	float m = 0;

	for (size_t i = 0; i < ARRAY_LEN(a->rgb); i++)
		m = fmaxf(m, fabsf(a->rgb[i] - b->rgb[i]));
	return m;
}

/*
 * YCCK and ICC-profile JPEGs (SPEC 4.1, 4.3) decode to the pixels Pillow
 * decodes (converted to RGB, area-averaged by numpy in mkimages.py). The
 * tolerances cover winnow's DCT-scaled, IFAST, non-fancy decode against
 * Pillow's full one (measured: mean 0.73 / max 3.1 for YCCK, 0.94 / 3.4 for
 * the ICC file, which is ok_photo.jpg's pixels; reading YCCK as CMYK is ~46).
 * The YCCK file is also held to the picture it was made from (inverted CMYK
 * samples times a K ramp), a reference no JPEG decoder computed.
 */
static void test_ycck_and_icc_match_pillow(void **state)
{
	struct img_result r;
	struct img_thumb t, ref, plain;
	float mean, max;

	assert_int_equal(check("ok_photo_ycck.jpg", &t, &r), IMG_OK);
	load_thumb("photo_ycck_pillow_thumb.f32", &ref);
	mean = mean_abs_diff(&t, &ref);
	max = max_abs_diff(&t, &ref);
	if (mean > 1.25f || max > 6.0f)
		fail_msg("YCCK vs Pillow: mean |diff| %.3f (<= 1.25), max %.3f (<= 6)", mean, max);
	load_thumb("photo_ycck_thumb.f32", &ref);
	mean = mean_abs_diff(&t, &ref);
	max = max_abs_diff(&t, &ref);
	if (mean > 1.5f || max > 8.0f)
		fail_msg("YCCK vs its source picture: mean |diff| %.3f (<= 1.5), max %.3f (<= 8)",
			 mean, max);

	/* An ICC profile is metadata: the same thumbnail as without it, bit for bit. */
	assert_int_equal(check("ok_photo.jpg", &plain, &r), IMG_OK);
	assert_int_equal(check("ok_photo_icc.jpg", &t, &r), IMG_OK);
	assert_memory_equal(t.rgb, plain.rgb, sizeof(t.rgb));
	assert_int_equal(check("ok_photo_icc_big.jpg", &t, &r), IMG_OK);
	assert_memory_equal(t.rgb, plain.rgb, sizeof(t.rgb));
	load_thumb("photo_icc_pillow_thumb.f32", &ref);
	mean = mean_abs_diff(&t, &ref);
	max = max_abs_diff(&t, &ref);
	if (mean > 1.5f || max > 6.0f)
		fail_msg("ICC vs Pillow: mean |diff| %.3f (<= 1.5), max %.3f (<= 6)", mean, max);
}

/* ---- corruption ------------------------------------------------------------ */

static const struct bad {
	const char *name;
	enum img_format as;	/* IMG_UNKNOWN: by the extension */
	enum img_status st;
	const char *reason;
	bool prefix;		/* reason is a prefix */
} bad[] = {
	{"bad_empty.jpg", 0, IMG_CORRUPT, "empty file", false},
	{"bad_truncated.jpg", 0, IMG_CORRUPT, "truncated", false},
	{"bad_truncated_ycck.jpg", 0, IMG_CORRUPT, "truncated", false},
	{"bad_entropy.jpg", 0, IMG_CORRUPT, "corrupt data: ", true},
	{"ok_red.png", IMG_JPEG, IMG_CORRUPT, "bad magic: PNG data in .jpg", false},
	{"ok_red.jpg", IMG_WEBP, IMG_CORRUPT, "bad magic: JPEG data in .webp", false},
	{"ok_lr24.bmp", IMG_PNG, IMG_CORRUPT, "bad magic: BMP data in .png", false},
	{"bad_huge.jpg", 0, IMG_CORRUPT, "too many pixels: 50000x50000", false},
	{"bad_idat_crc.png", 0, IMG_CORRUPT, "corrupt data: CRC error in IDAT", false},
	{"bad_ihdr_crc.png", 0, IMG_CORRUPT, "corrupt data: CRC error in IHDR", false},
	{"bad_truncated.png", 0, IMG_CORRUPT, "truncated", false},
	{"bad_extra_data.png", 0, IMG_CORRUPT, "corrupt data: too much image data", true},
	{"bad_short_data.png", 0, IMG_CORRUPT, "corrupt data: not enough image data", true},
	{"bad_zero.png", 0, IMG_CORRUPT, "bad header: zero width or height", false},
	{"bad_huge.png", 0, IMG_CORRUPT, "too many pixels: 50000x50000", false},
	{"bad_truncated.webp", 0, IMG_CORRUPT, "truncated", false},
	{"bad_truncated_anim.webp", 0, IMG_CORRUPT, "truncated", false},
	{"bad_garbage.webp", 0, IMG_CORRUPT, "bad header: ", true},
	{"bad_huge.webp", 0, IMG_CORRUPT, "too many pixels: 50000x50000", false},
	{"bad_truncated.bmp", 0, IMG_CORRUPT, "truncated", false},
	{"bad_huge.bmp", 0, IMG_CORRUPT, "too many pixels: 50000x50000", false},
	{"unsup_rle8.bmp", 0, IMG_UNSUPPORTED, "unsupported: RLE-compressed BMP", false},
	{"unsup_12bit.jpg", 0, IMG_UNSUPPORTED, "unsupported: JPEG data precision 12", false},
	{"unsup_lossless.jpg", 0, IMG_UNSUPPORTED, "unsupported: JPEG process: SOF type 0xc3",
	 false},
};

static void test_corrupt_reasons(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const struct bad *b = &bad[i];
		enum img_format as = b->as ? b->as : image_format_from_name(b->name);
		struct img_result r;
		struct img_thumb t;
		enum img_status st = check_as(b->name, as, DEFAULT_MAX_PIXELS, &t, &r);

		if (st != b->st || r.status != b->st)
			fail_msg("%s: status %d, want %d (reason \"%s\")", b->name, st, b->st,
				 r.reason);
		if (b->prefix ? strncmp(r.reason, b->reason, strlen(b->reason)) != 0
			      : strcmp(r.reason, b->reason) != 0)
			fail_msg("%s: reason \"%s\", want %s\"%s\"", b->name, r.reason,
				 b->prefix ? "a prefix " : "", b->reason);
	}
}

/* Byte-level cases built here: junk as PNG, a JPEG SOF with zero width. */
static void test_corrupt_crafted(void **state)
{
	struct img_result r;
	uint8_t junk[64];
	struct file f = load("ok_red.jpg");

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(image_check(junk, sizeof(junk), IMG_PNG, DEFAULT_MAX_PIXELS, NULL, &r),
			 IMG_CORRUPT);
	assert_string_equal(r.reason, "bad magic: unknown data in .png");
	assert_int_equal(r.format, IMG_UNKNOWN);

	/* Shorter than the magic, but the start of it: cut short, not foreign. */
	assert_int_equal(image_check(f.b, 2, IMG_JPEG, DEFAULT_MAX_PIXELS, NULL, &r), IMG_CORRUPT);
	assert_string_equal(r.reason, "truncated");

	for (size_t i = 0; i + 9 < f.n; i++) {
		if (f.b[i] == 0xff && f.b[i + 1] == 0xc0) {
			f.b[i + 7] = 0;	/* width, big-endian, at SOF + 7 */
			f.b[i + 8] = 0;
			break;
		}
	}
	assert_int_equal(image_check(f.b, f.n, IMG_JPEG, DEFAULT_MAX_PIXELS, NULL, &r),
			 IMG_CORRUPT);
	assert_string_equal(r.reason, "bad header: zero width or height");
	free(f.b);
}

/* An image of exactly max_pixels passes; one pixel fewer allowed fails it. */
static void test_max_pixels_boundary(void **state)
{
	static const char *const names[] = {
		"ok_red.jpg", "ok_red.png", "ok_red_lossy.webp", "ok_red8.bmp", "ok_anim.webp",
		"ok_lr_interlaced.png",
	};

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		struct img_result r;
		enum img_format fmt = image_format_from_name(names[i]);
		uint64_t px;
		char want[64];

		assert_int_equal(check(names[i], NULL, &r), IMG_OK);
		px = (uint64_t)r.width * r.height;
		assert_int_equal(check_as(names[i], fmt, px, NULL, &r), IMG_OK);
		assert_int_equal(check_as(names[i], fmt, px - 1, NULL, &r), IMG_CORRUPT);
		snprintf(want, sizeof(want), "too many pixels: %ux%u", r.width, r.height);
		assert_string_equal(r.reason, want);
	}
}

/*
 * The 50000x50000 headers are refused without allocating: a child process
 * checks them all and its peak RSS stays under 64 MB (a 7.5 GB pixel
 * buffer, or even one row per pixel of the thumbnail mapping, would not).
 */
static void test_huge_header_memory(void **state)
{
	static const char *const names[] = {
		"bad_huge.jpg", "bad_huge.png", "bad_huge.webp", "bad_huge.bmp",
	};
	struct file f[ARRAY_LEN(names)];
	struct rusage ru;
	int status, fds[2];
	long start_kb = 0;
	pid_t pid;

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		f[i] = load(names[i]);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rusage self;
		int nbad = 0;

		getrusage(RUSAGE_SELF, &self);
		if (write(fds[1], &self.ru_maxrss, sizeof(self.ru_maxrss)) < 0)
			_exit(3);
		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			struct img_result r;
			struct img_thumb t;

			if (image_check(f[i].b, f[i].n, image_format_from_name(names[i]),
					UINT64_MAX / 2, &t, &r) == IMG_OK)
				nbad++;	/* with no limit, each is still corrupt */
			if (image_check(f[i].b, f[i].n, image_format_from_name(names[i]),
					DEFAULT_MAX_PIXELS, &t, &r) != IMG_CORRUPT ||
			    strcmp(r.reason, "too many pixels: 50000x50000") != 0)
				nbad++;
		}
		_exit(nbad ? 1 : 0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &start_kb, sizeof(start_kb)), (ssize_t)sizeof(start_kb));
	close(fds[0]);
	assert_int_equal(wait4(pid, &status, 0, &ru), pid);
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		free(f[i].b);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* ru_maxrss is in KiB. Sanitizer runtimes inflate the baseline, not the growth. */
	if (ru.ru_maxrss - start_kb >= 64 * 1024)
		fail_msg("peak RSS grew by %ld KiB", ru.ru_maxrss - start_kb);
#if !defined(__SANITIZE_ADDRESS__)
	if (ru.ru_maxrss >= 64 * 1024)
		fail_msg("peak RSS %ld KiB", ru.ru_maxrss);
#endif
}

/* ---- robustness ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void assert_sane(const char *name, const char *what, size_t arg, enum img_status st,
			const struct img_result *r, const struct img_thumb *t)
{
	if (st != r->status || (st != IMG_OK && st != IMG_CORRUPT && st != IMG_UNSUPPORTED))
		fail_msg("%s %s %zu: status %d / %d", name, what, arg, st, r->status);
	if (memchr(r->reason, '\0', sizeof(r->reason)) == NULL)
		fail_msg("%s %s %zu: reason not terminated", name, what, arg);
	if ((st == IMG_OK) != (r->reason[0] == '\0'))
		fail_msg("%s %s %zu: status %d with reason \"%s\"", name, what, arg, st, r->reason);
	if (st == IMG_OK)
		for (size_t k = 0; k < ARRAY_LEN(t->rgb); k++)
			if (!(t->rgb[k] >= 0.0f && t->rgb[k] <= 255.0f))
				fail_msg("%s %s %zu: thumbnail value %f", name, what, arg,
					 t->rgb[k]);
}

/*
 * Every valid fixture cut at many lengths and with random bytes changed:
 * image_check returns a sane result, never crashes or leaks (the sanitizer
 * build checks the latter). A cut file is always corrupt, except where the
 * cut only removes bytes after the image's end.
 */
static void test_fuzz_truncate_and_flip(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		const char *name = valid[i].name;
		struct file f = load(name);
		enum img_format fmt = image_format_from_name(name);
		bool trailing = strstr(name, "trailing") != NULL;
		size_t stride = f.n / 150 + 1;
		uint8_t *copy = xmalloc(f.n);
		struct img_result r;
		struct img_thumb t;

		for (size_t len = 0; len < f.n; len += (len < 64 ? 1 : stride)) {
			/* A private copy of exactly len bytes: ASan sees any overread. */
			uint8_t *cut = xmalloc(len ? len : 1);
			enum img_status st;

			memcpy(cut, f.b, len);
			st = image_check(cut, len, fmt, DEFAULT_MAX_PIXELS, &t, &r);
			free(cut);
			assert_sane(name, "cut at", len, st, &r, &t);
			if (!trailing && st != IMG_CORRUPT)
				fail_msg("%s cut at %zu of %zu: status %d", name, len, f.n, st);
		}
		for (size_t k = 0; k < 200; k++) {
			unsigned nflip = 1 + (unsigned)(rng_next(&seed) % 4);

			memcpy(copy, f.b, f.n);
			for (unsigned j = 0; j < nflip; j++)
				copy[rng_next(&seed) % f.n] ^= (uint8_t)(1 + rng_next(&seed) % 255);
			assert_sane(name, "flip", k,
				    image_check(copy, f.n, fmt, DEFAULT_MAX_PIXELS, &t, &r), &r, &t);
		}
		free(copy);
		free(f.b);
	}
}

/* ---- threads --------------------------------------------------------------- */

struct thread_arg {
	struct file *files;
	struct img_thumb *ref;
	int mismatches;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
			struct img_result r;
			struct img_thumb t;

			if (image_check(a->files[i].b, a->files[i].n,
					image_format_from_name(valid[i].name), DEFAULT_MAX_PIXELS,
					&t, &r) != IMG_OK ||
			    memcmp(&t, &a->ref[i], sizeof(t)) != 0)
				a->mismatches++;
		}
	}
	return NULL;
}

/* Concurrent checks give the same thumbnails, bit for bit, as a lone one. */
static void test_threads(void **state)
{
	struct file files[ARRAY_LEN(valid)];
	struct img_thumb *ref = xcalloc(ARRAY_LEN(valid), sizeof(*ref));
	struct thread_arg args[4];
	pthread_t th[4];

	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		struct img_result r;

		files[i] = load(valid[i].name);
		assert_int_equal(image_check(files[i].b, files[i].n,
					     image_format_from_name(valid[i].name),
					     DEFAULT_MAX_PIXELS, &ref[i], &r), IMG_OK);
	}
	for (int k = 0; k < 4; k++) {
		args[k] = (struct thread_arg){files, ref, 0};
		assert_int_equal(pthread_create(&th[k], NULL, thread_main, &args[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		assert_int_equal(pthread_join(th[k], NULL), 0);
		assert_int_equal(args[k].mismatches, 0);
	}
	for (size_t i = 0; i < ARRAY_LEN(valid); i++)
		free(files[i].b);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_from_name),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_valid_forms),
		cmocka_unit_test(test_valid_without_thumb),
		cmocka_unit_test(test_thumb_matches_reference),
		cmocka_unit_test(test_ycck_and_icc_match_pillow),
		cmocka_unit_test(test_corrupt_reasons),
		cmocka_unit_test(test_corrupt_crafted),
		cmocka_unit_test(test_max_pixels_boundary),
		cmocka_unit_test(test_huge_header_memory),
		cmocka_unit_test(test_fuzz_truncate_and_flip),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, make_fixtures, NULL);
}
