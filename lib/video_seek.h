/*
 * video_seek: one frame of a datasource's video by its sample name (SPEC
 * 3.1), for the web app's thumbnails and sample view.
 */
#ifndef WINNOW_VIDEO_SEEK_H
#define WINNOW_VIDEO_SEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "video.h"

struct dataset;

/*
 * Splits a frame's sample name ("clips/a-099-mp4.png") into the video's path
 * ("clips/a.mp4", malloc'd into *video) and the index (99) and the digits
 * written (3). Returns false when name is not shaped as a frame name (no
 * ".png", no "-<digits>-<video extension>" before it). Says nothing of
 * whether the video exists.
 */
bool video_frame_parse(const char *name, char **video, uint64_t *index, int *digits);

/* One frame found by name. */
struct video_seek {
	char *video;		/* the video's path in the datasource (malloc'd) */
	uint64_t index, nframes;
	bool timed;		/* time holds the frame's presentation time */
	double time;		/* seconds: the frame's pts times the stream's time base */
	uint32_t width, height;	/* the frame's decoded size (after max_side); probed: declared */
	uint8_t *rgb;		/* RGB24, width * 3 bytes a row (malloc'd); NULL when only probed */
};

void video_seek_free(struct video_seek *vs);

/*
 * Finds the frame named name in ds: parsed by video_frame_parse, then the
 * video must exist, be a regular file, probe within max_pixels, and name must
 * equal video_frame_name(video, index, its frame count) (so an index past the
 * count, or padded with other digits, is no frame). With decode, the frame is
 * decoded (video_decode, the index as winnowd numbers frames: the pass stops
 * once the frame is out) at most max_side px a side (0: full size).
 * Returns 0 (*vs filled), 1 when name is no frame of a video in ds (the
 * caller treats it as a file name), -ENOENT never, -EINVAL with the reason in
 * err (the video is corrupt, too large, the frame does not decode), or
 * another negative errno of the datasource.
 */
int video_seek_frame(const struct dataset *ds, const char *name, bool decode,
		     uint64_t max_pixels, uint32_t max_side, struct video_seek *vs,
		     char *err, size_t errlen);

#endif
