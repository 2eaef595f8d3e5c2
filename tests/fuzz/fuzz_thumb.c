/*
 * fuzz_thumb: thumb_make() of web/thumb.c (the thumbnails' budgeted decoders:
 * libjpeg scaled, libpng streamed, libwebp scaled, stb_image for BMP) on
 * arbitrary bytes. The first byte picks the name's extension (.jpg, .png,
 * .webp, .bmp), the rest is the file. A thumbnail made must be a JPEG of at
 * most THUMB_MAX_SIDE px a side; a refusal must give its reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "thumb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[4] = { "f.jpg", "f.png", "f.webp", "f.bmp" };
	uint8_t *jpg = NULL;
	size_t len = 0;
	char err[512] = "";

	if (size < 1)
		return 0;
	/* A copy of exactly the file's bytes, so that ASan sees any read past the end. */
	size_t n = size - 1;
	uint8_t *buf = malloc(n ? n : 1);
	memcpy(buf, data + 1, n);
	int rc = thumb_make(buf, n, names[data[0] & 3], &jpg, &len, err, sizeof(err));
	if (rc == 0) {
		if (jpg == NULL || len < 4 || jpg[0] != 0xff || jpg[1] != 0xd8)
			abort();
		/* The JPEG's size, read back. */
		struct jpeg_decompress_struct ci;
		struct jpeg_error_mgr je;
		ci.err = jpeg_std_error(&je);
		jpeg_create_decompress(&ci);
		jpeg_mem_src(&ci, jpg, (unsigned long)len);
		jpeg_read_header(&ci, TRUE);
		if (ci.image_width < 1 || ci.image_width > THUMB_MAX_SIDE ||
		    ci.image_height < 1 || ci.image_height > THUMB_MAX_SIDE)
			abort();
		jpeg_destroy_decompress(&ci);
		free(jpg);
	} else if (err[0] == '\0') {
		abort();
	}
	free(buf);
	return 0;
}
