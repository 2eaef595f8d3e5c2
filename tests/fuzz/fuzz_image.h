/*
 * fuzz_image.h: the body of the four image targets (fuzz_image_jpeg.c, ...):
 * image_check() on arbitrary bytes as a file of one format, with the
 * thumbnail asked for, so that a valid image is decoded too. max_pixels is
 * kept at 4 megapixels so that a header's size, not the fuzzer's RSS limit,
 * decides; the check must refuse larger images before allocating.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define FUZZ_MAX_PIXELS ((uint64_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct img_thumb thumb;
	struct img_result res;
	enum img_status st;

	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	st = image_check(buf, size, FUZZ_FORMAT, FUZZ_MAX_PIXELS, &thumb, &res);
	if (st != res.status)
		abort();
	if (st == IMG_OK) {
		if (res.width == 0 || res.height == 0 ||
		    (uint64_t)res.width * res.height > FUZZ_MAX_PIXELS)
			abort();
		for (size_t i = 0; i < sizeof(thumb.rgb) / sizeof(thumb.rgb[0]); i++)
			if (!(thumb.rgb[i] >= 0.0f && thumb.rgb[i] <= 255.0f))
				abort();
	} else if (res.reason[0] == '\0' || memchr(res.reason, '\0', sizeof(res.reason)) == NULL) {
		abort();
	}
	free(buf);
	return 0;
}
