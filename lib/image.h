/*
 * image: the corruptness check of SPEC 4.1 and the pixels for the built-in
 * descriptor, from one in-memory copy of the file (each file is read once).
 */
#ifndef WINNOW_IMAGE_H
#define WINNOW_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum img_format { IMG_UNKNOWN = 0, IMG_JPEG, IMG_PNG, IMG_WEBP, IMG_BMP };

enum img_status {
	IMG_OK = 0,		/* a valid image */
	IMG_CORRUPT,		/* corrupt: excluded, listed in corrupt_filenames.txt */
	IMG_UNSUPPORTED,	/* valid but unreadable form (e.g. RLE BMP): excluded */
};

/* The thumbnail handed to the descriptor: THUMB_SIZE x THUMB_SIZE, RGB, 0..255. */
#define THUMB_SIZE 32

struct img_thumb {
	float rgb[THUMB_SIZE * THUMB_SIZE * 3];	/* row-major, interleaved R,G,B */
};

/*
 * winnow's computed image metadata (SPEC 4.8, docs/metadata.md), from the
 * grey image at the descriptor's decode scale (decode_w x decode_h): grey =
 * (77R + 150G + 29B + 128) >> 8 of 8-bit RGB, a 16-bit sample's high byte,
 * alpha ignored. lightly.width, lightly.height and lightly.sizeInBytes are
 * the file's: img_result's width and height, and the byte count.
 */
struct img_meta {
	uint64_t size_bytes;		/* the file's length */
	uint32_t decode_w, decode_h;	/* the grey image's size */
	double luminance;		/* mean grey / 255 */
	double snr;			/* mean / population std of grey; 0 when flat */
	double sharpness;		/* population variance of the 4-neighbour Laplacian of
					   grey / 255 over interior pixels; 0 when a side < 3 */
	double uniform_row_ratio;	/* share of rows whose values all lie within 2 of its mean */
};

struct img_result {
	enum img_status status;
	enum img_format format;	/* from the magic bytes (IMG_UNKNOWN if none match) */
	uint32_t width, height;	/* from the header, when it could be read */
	char reason[160];	/* for IMG_CORRUPT / IMG_UNSUPPORTED, e.g. "truncated" */
	struct img_meta meta;	/* for IMG_OK; size_bytes always */
};

/* Format by file extension, case-insensitive (.jpg .jpeg .png .webp .bmp). */
enum img_format image_format_from_name(const char *path);

/* Format by magic bytes. */
enum img_format image_format_sniff(const uint8_t *buf, size_t len);

/* "JPEG", "PNG", "WebP", "BMP" or "unknown". */
const char *image_format_name(enum img_format f);

/*
 * Check one image held in buf (borrowed). `expected` is the format its
 * extension names; a different magic is corrupt ("bad magic: PNG data in
 * .jpg"). Width x height above max_pixels is corrupt from the header alone,
 * before any pixel buffer is allocated. When thumb is non-NULL and the image
 * is valid, it receives an area-averaged THUMB_SIZE x THUMB_SIZE RGB thumbnail
 * (aspect ratio not kept; greyscale replicated; CMYK/YCCK converted; alpha
 * ignored). Thread-safe. Fills *res, res->meta included when the image is
 * valid (computed in the same decode); returns res->status.
 *
 * Reasons: "empty file", "truncated", "bad magic: <Format> data in .<ext>",
 * "bad header: zero width or height", "bad header: <detail>", "too many
 * pixels: <W>x<H>", "corrupt data: <detail>", and for IMG_UNSUPPORTED
 * "unsupported: <what>" (RLE-compressed BMP, 12-bit or lossless JPEG).
 */
enum img_status image_check(const uint8_t *buf, size_t len, enum img_format expected,
			    uint64_t max_pixels, struct img_thumb *thumb,
			    struct img_result *res);

/*
 * image_check, with the computed metadata's grey statistics only when meta
 * is true (they cost about 3% of a decode): without them res->meta holds the
 * byte count alone, the rest 0. image_check is image_check_meta(..., true, ...).
 */
enum img_status image_check_meta(const uint8_t *buf, size_t len, enum img_format expected,
				 uint64_t max_pixels, struct img_thumb *thumb, bool meta,
				 struct img_result *res);

/*
 * The per-image work of image_check_meta on pixels already decoded (a video
 * frame, lib/video.c): w x h RGB24 rows stride bytes apart feed the same
 * thumbnail accumulator (when thumb is non-NULL) and, when meta is true, the
 * same grey statistics into *m (decode_w x decode_h = w x h; size_bytes is
 * left to the caller).
 */
void image_check_pixels(const uint8_t *rgb, size_t stride, uint32_t w, uint32_t h,
			struct img_thumb *thumb, bool meta, struct img_meta *m);

/*
 * Writes w x h RGB24 rows (stride bytes apart) as an 8-bit RGB PNG at path
 * (through path.tmp, renamed). Returns 0 or a negative errno.
 */
int image_write_png(const char *path, const uint8_t *rgb, size_t stride, uint32_t w, uint32_t h);

#endif
