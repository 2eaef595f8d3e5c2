/*
 * routes_video: what the sample view shows of a video's frame (docs/api.md
 * "Video frames"): GET /v1/winnow/datasets/{datasetId}/samples/frame?fileName=
 * answers {video, index, frames, time} for a frame's sample name (SPEC 3.1).
 *
 * DESIGN: the name is checked as the sample view's routes check it
 * (thumb_name_ok: relative, no "..", no control characters), the video is
 * read through the datasource interface only (lib/video_seek.c, demux pass
 * only: no decoder opens here, the declared size checked against the
 * thumbnails' THUMB_VIDEO_MAX_PIXELS). time is the frame's presentation
 * time in seconds (its pts times the stream's time base), null when the
 * container gives its packets no distinct times. A name that is no frame of
 * a video in the datasource (no such video, an index past its frame count)
 * answers 404; a video that cannot be opened 422 with its reason.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dataset.h"
#include "datasource.h"
#include "thumb.h"
#include "video_seek.h"

/* GET /v1/winnow/datasets/{datasetId}/samples/frame?fileName= */
void h_sample_frame(struct req *r, struct resp *out)
{
	const char *fn = req_query(r, "fileName");

	if (fn == NULL || fn[0] == '\0') {
		resp_error(out, 400, "BAD_REQUEST", "fileName is required");
		return;
	}
	if (!thumb_name_ok(fn)) {
		resp_error(out, 400, "SAMPLE_UNKNOWN", "fileName must be a relative image path without '..'");
		return;
	}
	struct dataset ds;
	if (web_datasource_open(r, out, DS_USE_INPUT, &ds) < 0)
		return;
	struct video_seek vs;
	char err[512], dserr[512];
	int rc = video_seek_frame(&ds, fn, false, THUMB_VIDEO_MAX_PIXELS, 0, &vs, err, sizeof(err));
	if (rc < 0 && rc != -EINVAL) {
		if (dataset_last_error(&ds, dserr, sizeof(dserr))[0] != '\0')
			snprintf(err, sizeof(err), "%s", dserr);
		else
			snprintf(err, sizeof(err), "%s", strerror(-rc));
	}
	dataset_close(&ds);
	if (rc == 1) {
		resp_error(out, 404, "NOT_FOUND", "no frame of a video in the datasource by that name");
	} else if (rc == -EINVAL) {
		resp_error(out, 422, "SAMPLE_THUMBNAME_UNKNOWN", "%s", err);
	} else if (rc < 0) {
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", err);
	} else {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "video", vs.video);
		cJSON_AddNumberToObject(o, "index", (double)vs.index);
		cJSON_AddNumberToObject(o, "frames", (double)vs.nframes);
		if (vs.timed)
			cJSON_AddNumberToObject(o, "time", vs.time);
		else
			cJSON_AddNullToObject(o, "time");
		resp_json(out, 200, o);
	}
	video_seek_free(&vs);
}
