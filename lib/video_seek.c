/*
 * video_seek: one frame of a video by its sample name, for the web app.
 *
 * DESIGN. Only lib/video.c's public functions are used, so a frame is
 * numbered exactly as winnowd numbers it (SPEC 3.1: presentation order over
 * every packet of the first video stream): the name is parsed, the video
 * probed (video_probe: the demux pass, the declared size checked against
 * max_pixels before any decoder opens), the name compared with
 * video_frame_name of the probed count (an index past the count, or other
 * zero-padding, is no frame), and then the keyframe range holding the frame
 * is decoded (video_decode_range from the last clean cut at or before it, to
 * the next: lib/video.c hands out every frame of a range exactly as the whole
 * decode numbers it, so a frame is winnowd's frame) and the pass is cancelled
 * (its interrupt callback) as soon as the wanted index has been handed out.
 * A video with no clean cuts (H.265, AV1, MPEG-4, packets without times) is
 * one range: the frames before the wanted one are decoded too (the web app
 * caches the result). Memory stays that of one decoder and one RGB frame.
 */
#include "video_seek.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "util.h"

bool video_frame_parse(const char *name, char **video, uint64_t *index, int *digits)
{
	size_t n = strlen(name);

	if (n < 4 + 4 || strcmp(name + n - 4, ".png") != 0)
		return false;
	const char *end = name + n - 4;		/* the ".png" */
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	/* "<stem>-<digits>-<ext>": ext after the last '-', digits before it. */
	const char *d2 = NULL;
	for (const char *p = end - 1; p >= base; p--)
		if (*p == '-') {
			d2 = p;
			break;
		}
	if (d2 == NULL || d2 + 1 == end)
		return false;
	const char *d1 = NULL;
	for (const char *p = d2 - 1; p >= base; p--) {
		if (*p == '-') {
			d1 = p;
			break;
		}
		if (*p < '0' || *p > '9')
			return false;
	}
	if (d1 == NULL || d1 + 1 == d2 || d1 == base || d2 - d1 - 1 > 19)
		return false;
	uint64_t idx = 0;
	for (const char *p = d1 + 1; p < d2; p++)
		idx = idx * 10 + (uint64_t)(*p - '0');
	char *v = xasprintf("%.*s.%.*s", (int)(d1 - name), name, (int)(end - d2 - 1), d2 + 1);
	if (!dataset_is_video_name(v)) {
		free(v);
		return false;
	}
	*video = v;
	*index = idx;
	*digits = (int)(d2 - d1 - 1);
	return true;
}

void video_seek_free(struct video_seek *vs)
{
	free(vs->video);
	free(vs->rgb);
	memset(vs, 0, sizeof(*vs));
}

struct grab {
	uint64_t want;
	volatile int cancel;
	bool got, corrupt;
	char reason[200];
	struct video_seek *vs;
};

static void grab_cb(void *ud, const struct video_frame *f)
{
	struct grab *g = ud;

	if (f->index != g->want || g->got)
		return;
	g->got = true;
	g->cancel = 1;		/* the pass stops at its next read */
	if (f->corrupt) {
		g->corrupt = true;
		snprintf(g->reason, sizeof(g->reason), "%s", f->reason ? f->reason : "corrupt");
		return;
	}
	struct video_seek *vs = g->vs;
	vs->width = f->w;
	vs->height = f->h;
	vs->rgb = xmalloc((size_t)f->w * f->h * 3);
	for (uint32_t y = 0; y < f->h; y++)
		memcpy(vs->rgb + (size_t)y * f->w * 3, f->rgb + (size_t)y * f->stride,
		       (size_t)f->w * 3);
}

int video_seek_frame(const struct dataset *ds, const char *name, bool decode,
		     uint64_t max_pixels, uint32_t max_side, struct video_seek *vs,
		     char *err, size_t errlen)
{
	char *video = NULL;
	uint64_t index;
	int digits, io_rc = 0;
	struct stat st;
	struct video_info vi;

	err[0] = '\0';
	memset(vs, 0, sizeof(*vs));
	if (!video_frame_parse(name, &video, &index, &digits))
		return 1;
	if (dataset_stat(ds, video, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(video);
		return 1;
	}
	memset(&vi, 0, sizeof(vi));
	enum video_status s = video_probe(ds, video, max_pixels, NULL, &vi, err, errlen, &io_rc);
	if (s != VID_OK) {
		free(video);
		if (s == VID_IO)
			return io_rc < 0 ? io_rc : -EIO;
		return -EINVAL;
	}
	char *want = video_frame_name(video, index, vi.nframes);
	bool same = index < vi.nframes && strcmp(want, name) == 0;
	free(want);
	if (!same) {
		video_info_free(&vi);
		free(video);
		return 1;
	}
	vs->video = video;
	vs->index = index;
	vs->nframes = vi.nframes;
	vs->width = vi.width;		/* declared; the decoded size replaces it */
	vs->height = vi.height;
	vs->timed = vi.key[vi.nframes - 1] != INT64_MIN && vi.tb_den > 0;
	if (vs->timed)
		vs->time = (double)vi.key[index] * vi.tb_num / vi.tb_den;
	if (!decode) {
		video_info_free(&vi);
		return 0;
	}
	/*
	 * Decode only the keyframe range holding the frame (lib/video.c's clean
	 * cuts): video_decode_range hands out each frame of [first, last) as
	 * the whole decode would, so the index is winnowd's.
	 */
	uint64_t first = 0, last = vi.nframes;
	for (size_t i = 0; i < vi.ncuts; i++) {
		if (vi.cut[i].index <= index)
			first = vi.cut[i].index;
		else {
			last = vi.cut[i].index;
			break;
		}
	}
	struct grab g = { .want = index, .vs = vs };
	char why[256];
	s = video_decode_range(ds, video, &vi, first, last, max_pixels, max_side, &g.cancel,
			       grab_cb, &g, why, sizeof(why), &io_rc);
	video_info_free(&vi);
	if (g.got && !g.corrupt)
		return 0;
	if (g.corrupt)
		snprintf(err, errlen, "frame %llu of %s: %s", (unsigned long long)index, video,
			 g.reason);
	else if (s == VID_IO) {
		video_seek_free(vs);
		return io_rc < 0 ? io_rc : -EIO;
	} else
		snprintf(err, errlen, "frame %llu of %s: %s", (unsigned long long)index, video,
			 why[0] ? why : "not decoded");
	video_seek_free(vs);
	return -EINVAL;
}
