/*
 * fuzz_video: lib/video.c's demux pass and decode pass (video_decode_buffer)
 * on arbitrary bytes: the whitelisted demuxers (mp4/mov, avi, matroska/webm)
 * and decoders, through the same AVIOContext code as a datasource's files.
 * max_pixels is kept at 1 megapixel so that a declared size, not the
 * fuzzer's RSS limit, decides. Every index of the probed video must reach
 * the callback exactly once, decoded frames within their limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "video.h"

#define FUZZ_MAX_PIXELS ((uint64_t)1 << 20)
#define FUZZ_SIDE 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t frames, max_index;
};

static void frame_cb(void *ud, const struct video_frame *f)
{
	struct seen *s = ud;
	struct img_thumb thumb;
	struct img_meta m;

	s->frames++;
	if (f->index > s->max_index)
		s->max_index = f->index;
	if (f->corrupt) {
		if (f->reason == NULL || f->reason[0] == '\0')
			abort();
		return;
	}
	if (f->w == 0 || f->h == 0 || f->w > FUZZ_SIDE || f->h > FUZZ_SIDE ||
	    (uint64_t)f->width * f->height > FUZZ_MAX_PIXELS)
		abort();
	memset(&m, 0, sizeof(m));
	image_check_pixels(f->rgb, f->stride, f->w, f->h, &thumb, true, &m);
	if (!(m.uniform_row_ratio >= 0 && m.uniform_row_ratio <= 1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0 };
	char reason[160];

	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	enum video_status st = video_decode_buffer(buf, size, FUZZ_MAX_PIXELS, FUZZ_SIDE, frame_cb,
						   &s, reason, sizeof(reason));
	if (st != VID_OK && (reason[0] == '\0' || memchr(reason, '\0', sizeof(reason)) == NULL))
		abort();
	if (st == VID_OK && s.frames > 0 && s.max_index + 1 != s.frames)
		abort();
	free(buf);
	return 0;
}
