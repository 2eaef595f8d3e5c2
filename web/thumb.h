/*
 * thumb: JPEG thumbnails (at most THUMB_MAX_SIDE px a side) of a LOCAL or S3
 * datasource's images, cached on disk beside the database.
 */
#ifndef WINNOW_WEB_THUMB_H
#define WINNOW_WEB_THUMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THUMB_MAX_SIDE 256

/*
 * The memory one decode may take: the file's bytes plus what its decoder
 * allocates in proportion to the image, judged from the header before any
 * pixel buffer exists. At most 2 decodes run at once.
 */
#define THUMB_BUDGET ((uint64_t)64 << 20)

struct dataset;

/* A relative image path without "..", "." or empty segments or control characters. */
bool thumb_name_ok(const char *name);

/*
 * The thumbnail of name in the datasource ds (borrowed: a LOCAL folder, where
 * it is opened beneath the root only, see dataset.h, or an S3 prefix), from
 * the cache in cache_dir when the file's size and mtime are unchanged, else
 * made and cached. dataset_id keys the cache. Returns 0 and a malloc'd JPEG
 * (*jpg, *len; caller frees), or a negative errno: -EXDEV (leaves the root),
 * -ENOENT, -EINVAL (not a readable image, or one over THUMB_BUDGET; reason
 * in err), other I/O errors.
 */
int thumb_get(const char *cache_dir, const char *dataset_id, const struct dataset *ds,
	      const char *name, uint8_t **jpg, size_t *len, char *err, size_t errlen);

/* Makes the thumbnail of an image held in buf (borrowed); see thumb_get. Exposed for tests. */
int thumb_make(const uint8_t *buf, size_t n, const char *name, uint8_t **jpg, size_t *len,
	       char *err, size_t errlen);

/* The size of the image in buf from its header alone (any format winnow reads). 0 or -EINVAL. */
int thumb_probe(const uint8_t *buf, size_t n, uint64_t *w, uint64_t *h);

/*
 * The full image in buf (borrowed; the file name, whose extension must match
 * its magic bytes) for display: JPEG, PNG and WebP as stored (0, *png NULL),
 * a BMP decoded and encoded as PNG within THUMB_BUDGET (0, *png malloc'd,
 * *len bytes). *ctype names the type sent; *w, *h the image's size from its
 * header. -EINVAL with the reason in err otherwise.
 */
int thumb_full(const uint8_t *buf, size_t n, const char *name, uint8_t **png, size_t *len,
	       const char **ctype, uint64_t *w, uint64_t *h, char *err, size_t errlen);

/*
 * Videos' frames (web/thumb_video.c, SPEC 3.1). A frame's name
 * ("clips/a-099-mp4.png") when clips/a.mp4 is a video of ds with more than 99
 * frames: its thumbnail, cached keyed by the video's size and mtime, made by
 * decoding the frame (lib/video_seek.c) within THUMB_VIDEO_MAX_PIXELS in one
 * of the 2 decode slots. Returns 1 when name is no frame of a video in ds
 * (then it is an image name as before), else as thumb_get.
 */
#define THUMB_VIDEO_MAX_PIXELS (THUMB_BUDGET / 16)
int thumb_frame_get(const char *cache_dir, const char *dataset_id, const struct dataset *ds,
		    const char *name, uint8_t **jpg, size_t *len, char *err, size_t errlen);

/*
 * The frame name names decoded at full size and encoded as PNG (*png, *len
 * malloc'd). Returns 1 when name is no frame of a video in ds, else 0 or
 * as thumb_get (-EINVAL with the reason in err).
 */
int thumb_frame_full(const struct dataset *ds, const char *name, uint8_t **png, size_t *len,
		     char *err, size_t errlen);

/* The decode slots (at most 2 decodes at once), the shrinker and encoder of thumbnails. */
void thumb_slot_take(void);
void thumb_slot_give(void);
int thumb_from_rgb(const uint8_t *rgb, uint32_t w, uint32_t h, uint8_t **jpg, size_t *len);

/*
 * The cache file name of a thumbnail: SHA-256 of kind ("" for an image,
 * "frame\n" for a video frame), dataset, root, name, size and mtime of st.
 */
struct stat;
void thumb_cache_key(const char *kind, const char *dataset_id, const char *root,
		     const char *name, const struct stat *st, char out[65]);

#endif
