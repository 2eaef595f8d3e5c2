/*
 * thumb_video: thumbnails and full images of videos' frames (SPEC 3.1).
 *
 * DESIGN. A sample name shaped as a frame's ("clips/a-099-mp4.png") whose
 * video exists in the datasource is a frame: lib/video_seek.c probes the
 * video (its declared size checked against THUMB_VIDEO_MAX_PIXELS before a
 * decoder opens: a 30000x30000 video is refused with its figures) and
 * decodes up to the frame, numbered as winnowd numbers frames. A name that
 * is not a frame of an existing video (no such video, an index past its
 * frame count) falls back to the image path (thumb_get), which answers as
 * for any file. The cache key is thumb.c's recipe over the video's size and
 * mtime and the frame's name, so a changed video gets new thumbnails. The
 * decode holds one of thumb.c's 2 decode slots; the RGB frame is shrunk and
 * encoded by thumb.c's own shrinker and encoder, so a frame's thumbnail is
 * made as an image's is. The memory: one decoder (its reference frames, up
 * to about 12 bytes a pixel at THUMB_VIDEO_MAX_PIXELS) and one RGB frame.
 */
#include "thumb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>

#include "dataset.h"
#include "util.h"
#include "video_seek.h"

/* The video of a frame-shaped name, if it is a regular file of ds: 0, else 1. */
static int frame_video(const struct dataset *ds, const char *name, struct stat *st)
{
	char *video = NULL;
	uint64_t index;
	int digits;

	if (!video_frame_parse(name, &video, &index, &digits))
		return 1;
	int rc = dataset_stat(ds, video, st);
	free(video);
	return rc == 0 && S_ISREG(st->st_mode) ? 0 : 1;
}

int thumb_frame_get(const char *cache_dir, const char *dataset_id, const struct dataset *ds,
		    const char *name, uint8_t **jpg, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char key[65];
	int rc;

	if (frame_video(ds, name, &st) != 0)
		return 1;
	thumb_cache_key("frame\n", dataset_id, ds->root, name, &st, key);
	char *dir = xasprintf("%s/%.2s", cache_dir, key);
	char *path = xasprintf("%s/%s.jpg", dir, key);
	char *data = NULL;
	size_t dlen = 0;
	if (read_file(path, (size_t)16 << 20, &data, &dlen) == 0 && dlen > 0) {
		*jpg = (uint8_t *)data;
		*len = dlen;
		rc = 0;
		goto out;
	}
	free(data);

	struct video_seek vs;
	thumb_slot_take();
	rc = video_seek_frame(ds, name, true, THUMB_VIDEO_MAX_PIXELS, 0, &vs, err, errlen);
	if (rc == 0)
		rc = thumb_from_rgb(vs.rgb, vs.width, vs.height, jpg, len);
	thumb_slot_give();
	video_seek_free(&vs);
	if (rc == 0 && mkdir_p(dir, 0700) == 0)
		write_file_atomic(path, *jpg, *len);	/* a failed cache write only costs time */
out:
	free(dir);
	free(path);
	return rc;
}

struct membuf {
	uint8_t *p;
	size_t n;
};

static void mem_cb(void *ctx, void *data, int size)
{
	struct membuf *m = ctx;

	m->p = xrealloc(m->p, m->n + (size_t)size);
	memcpy(m->p + m->n, data, (size_t)size);
	m->n += (size_t)size;
}

int thumb_frame_full(const struct dataset *ds, const char *name, uint8_t **png, size_t *len,
		     char *err, size_t errlen)
{
	struct stat st;
	struct video_seek vs;
	struct membuf m = { NULL, 0 };

	err[0] = '\0';
	if (frame_video(ds, name, &st) != 0)
		return 1;
	thumb_slot_take();
	int rc = video_seek_frame(ds, name, true, THUMB_VIDEO_MAX_PIXELS, 0, &vs, err, errlen);
	if (rc == 0 && !stbi_write_png_to_func(mem_cb, &m, (int)vs.width, (int)vs.height, 3, vs.rgb,
					       (int)vs.width * 3)) {
		snprintf(err, errlen, "cannot encode the frame as PNG");
		rc = -EINVAL;
	}
	thumb_slot_give();
	video_seek_free(&vs);
	if (rc != 0) {
		free(m.p);
		return rc;
	}
	*png = m.p;
	*len = m.n;
	return 0;
}
