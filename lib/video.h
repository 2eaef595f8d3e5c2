/*
 * video: the videos of a datasource (SPEC 3.1) read with FFmpeg's libraries
 * through the datasource interface (lib/dataset.h): a demux-only pass that
 * counts a video's frames (the listing), and a decode pass that hands each
 * frame, in any order but with its index, to a callback as RGB pixels (the
 * image pass, the frame PNGs).
 */
#ifndef WINNOW_VIDEO_H
#define WINNOW_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dataset;

enum video_status {
	VID_OK = 0,
	VID_CORRUPT,		/* cannot be opened, no video stream, too large: corrupt as a whole */
	VID_UNSUPPORTED,	/* a codec winnow does not decode: excluded */
	VID_IO,			/* the datasource's transport failed (io_rc): not the video's fault */
};

/* Hard limits on hostile files (docs/differences.md). */
#define VIDEO_MAX_FRAMES	1000000u	/* frames of one video */
#define VIDEO_PROBE_BYTES	(5u << 20)	/* what the demuxer may read to open a file */
#define VIDEO_MAX_ALLOC		((size_t)512 << 20)	/* FFmpeg's largest single allocation */

/*
 * A video's frames from the demux pass, in index order (SPEC 3.1: presentation
 * order): key[i] the packet's presentation time (its decode time, or its
 * position among the packets, when it has none), size[i] the packet's bytes.
 */
struct video_info {
	uint32_t width, height;		/* declared by the container */
	char codec[32];			/* the decoder's name */
	uint64_t nframes;
	int tb_num, tb_den;		/* the stream's time base: key * tb_num / tb_den seconds */
	int64_t *key;
	uint32_t *size;
	/*
	 * Clean keyframes (lib/video.c's DESIGN): frame cut[i].index and every
	 * later frame decode alike from cut[i]'s packet on, so a range of frames
	 * may start there. Increasing indices, none 0; ncuts may be 0.
	 */
	struct video_cut *cut;
	size_t ncuts;
};

struct video_cut {
	uint64_t index;		/* the frame, also the packet's position in demux order */
	int64_t key, dts;	/* the keyframe packet's time (as video_info.key) and dts: found again after a seek */
	uint32_t size;
};

void video_info_free(struct video_info *vi);

/* The frame's name (SPEC 3.1): "clips/a.mp4", 99 of 200 -> "clips/a-099-mp4.png". Caller frees. */
char *video_frame_name(const char *path, uint64_t index, uint64_t nframes);

/*
 * The demux pass: opens path through ds, takes the first video stream, checks
 * its declared size against max_pixels (before any decoder is opened), and
 * counts its packets (no decoding). Returns VID_OK with *vi filled, or another
 * status with reason set (VID_IO: *io_rc the datasource's error). cancel may
 * be NULL.
 */
enum video_status video_probe(const struct dataset *ds, const char *path, uint64_t max_pixels,
			      volatile int *cancel, struct video_info *vi, char *reason,
			      size_t rlen, int *io_rc);

/* One frame handed to video_decode's callback. */
struct video_frame {
	uint64_t index;
	bool corrupt;
	const char *reason;		/* when corrupt: "corrupt data: <the decoder's words>" */
	uint32_t width, height;		/* the decoded frame's size (0 when corrupt) */
	const uint8_t *rgb;		/* not corrupt: RGB24 rows of w x h, stride bytes apart */
	size_t stride;
	uint32_t w, h;
};

typedef void (*video_frame_cb)(void *ud, const struct video_frame *f);

/*
 * The decode pass over a probed video (vi from video_probe of the same file):
 * every frame at full quality, single-threaded (one video per pool task), in
 * the decoder's output order. cb gets each index of [0, vi->nframes) exactly
 * once: a decoded frame as RGB at most max_side pixels a side (area average;
 * 0: full size), or corrupt with its reason. Returns VID_OK, or VID_CORRUPT /
 * VID_IO with reason (then some frames may not have been handed out), or
 * VID_CORRUPT "cancelled" when *cancel became non-zero.
 */
enum video_status video_decode(const struct dataset *ds, const char *path,
			       const struct video_info *vi, uint64_t max_pixels, uint32_t max_side,
			       volatile int *cancel, video_frame_cb cb, void *ud, char *reason,
			       size_t rlen, int *io_rc);

/*
 * The same over frames [first, last) only: first 0 or some cut[i].index, last
 * nframes or some cut[i].index. The demuxer seeks to first's keyframe (or
 * reads up to it when it cannot seek), decodes packets [first, last) and
 * flushes; cb gets each index of [first, last) exactly once, as the whole
 * decode would have made it. video_decode is the range [0, nframes).
 */
enum video_status video_decode_range(const struct dataset *ds, const char *path,
				     const struct video_info *vi, uint64_t first, uint64_t last,
				     uint64_t max_pixels, uint32_t max_side,
				     volatile int *cancel, video_frame_cb cb, void *ud,
				     char *reason, size_t rlen, int *io_rc);

/*
 * The same over bytes in memory (the fuzz target): probe then decode, frames
 * to cb. Returns the status of the first pass that failed.
 */
enum video_status video_decode_buffer(const uint8_t *buf, size_t len, uint64_t max_pixels,
				      uint32_t max_side, video_frame_cb cb, void *ud,
				      char *reason, size_t rlen);

#endif
