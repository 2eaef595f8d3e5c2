/*
 * thumb: thumbnails for the results page.
 *
 * DESIGN: lib/image.c checks the file first (a corrupt file or one over
 * THUMB_MAX_PIXELS is refused from its header, before any pixel buffer is
 * allocated); then stb_image decodes JPEG, PNG and BMP and libwebp decodes
 * WebP, the pixels are area-averaged down to at most 256 px a side and
 * libjpeg encodes the result. At most THUMB_PARALLEL decodes run at once
 * (a semaphore), since each may hold a large image in memory and the server
 * runs a thread per connection. The cache key is a SHA-256 of the dataset,
 * its folder, the file name, size and mtime, so a changed file gets a new
 * thumbnail; stale entries are left for an operator to clear (rm -r).
 */
#include "thumb.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <openssl/evp.h>
#include <stb_image.h>
#include <webp/decode.h>

#include "dataset.h"
#include "image.h"
#include "util.h"

#define THUMB_PARALLEL 2
#define THUMB_MAX_PIXELS ((uint64_t)100000000)
#define THUMB_MAX_FILE ((size_t)256 << 20)

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

/* Area-average src (sw x sh RGB) into dst (dw x dh RGB). */
static void downscale(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
	for (int y = 0; y < dh; y++) {
		int y0 = (int)((int64_t)y * sh / dh), y1 = (int)((int64_t)(y + 1) * sh / dh);
		if (y1 <= y0)
			y1 = y0 + 1;
		for (int x = 0; x < dw; x++) {
			int x0 = (int)((int64_t)x * sw / dw), x1 = (int)((int64_t)(x + 1) * sw / dw);
			if (x1 <= x0)
				x1 = x0 + 1;
			uint64_t acc[3] = { 0, 0, 0 };
			for (int yy = y0; yy < y1; yy++) {
				const uint8_t *p = src + ((size_t)yy * (size_t)sw + (size_t)x0) * 3;
				for (int xx = x0; xx < x1; xx++, p += 3) {
					acc[0] += p[0];
					acc[1] += p[1];
					acc[2] += p[2];
				}
			}
			uint64_t cnt = (uint64_t)(y1 - y0) * (uint64_t)(x1 - x0);
			uint8_t *d = dst + ((size_t)y * (size_t)dw + (size_t)x) * 3;
			for (int k = 0; k < 3; k++)
				d[k] = (uint8_t)((acc[k] + cnt / 2) / cnt);
		}
	}
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

int thumb_make(const uint8_t *buf, size_t n, const char *name, uint8_t **jpg, size_t *len,
	       char *err, size_t errlen)
{
	struct img_result res;
	int w = 0, h = 0, ch = 0;
	uint8_t *px = NULL;
	bool from_webp = false;

	if (image_check(buf, n, image_format_from_name(name), THUMB_MAX_PIXELS, NULL, &res) != IMG_OK) {
		snprintf(err, errlen, "%s", res.reason);
		return -EINVAL;
	}
	if (n > (size_t)INT32_MAX) {
		snprintf(err, errlen, "too large for a thumbnail");
		return -EINVAL;
	}
	if (res.format == IMG_WEBP) {
		px = WebPDecodeRGB(buf, n, &w, &h);
		from_webp = true;
	} else {
		px = stbi_load_from_memory(buf, (int)n, &w, &h, &ch, 3);
	}
	if (px == NULL || w <= 0 || h <= 0) {
		snprintf(err, errlen, "cannot decode %s for a thumbnail",
			 image_format_name(res.format));
		if (px)
			from_webp ? WebPFree(px) : stbi_image_free(px);
		return -EINVAL;
	}
	int dw = w, dh = h;
	if (w > THUMB_MAX_SIDE || h > THUMB_MAX_SIDE) {
		if (w >= h) {
			dw = THUMB_MAX_SIDE;
			dh = (int)(((int64_t)h * THUMB_MAX_SIDE + w / 2) / w);
		} else {
			dh = THUMB_MAX_SIDE;
			dw = (int)(((int64_t)w * THUMB_MAX_SIDE + h / 2) / h);
		}
		if (dw < 1)
			dw = 1;
		if (dh < 1)
			dh = 1;
	}
	uint8_t *small = xmalloc((size_t)dw * (size_t)dh * 3);
	downscale(px, w, h, small, dw, dh);
	if (from_webp)
		WebPFree(px);
	else
		stbi_image_free(px);
	int rc = encode_jpeg(small, dw, dh, jpg, len);
	free(small);
	return rc;
}

static void cache_key(const char *dataset_id, const char *root, const char *name,
		      const struct stat *st, char out[65])
{
	/* Newline separates the parts: names with control characters never get here. */
	char *s = xasprintf("%s\n%s\n%s\n%lld\n%lld.%09ld", dataset_id, root, name,
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
	rc = dataset_stat(ds, name, &st);
	/* As dataset_read would answer: a folder or a FIFO is no image. */
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (rc < 0)
		return rc;
	cache_key(dataset_id, ds->root, name, &st, key);
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
	rc = dataset_read(ds, name, THUMB_MAX_FILE, &buf, &n);
	if (rc == 0)
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
