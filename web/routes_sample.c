/*
 * routes_sample: the sample view's routes (docs/api.md "Sample view"): one
 * image of a dataset in full, its predictions for drawing, its custom
 * metadata, and the signed, expiring image URL the Label Studio export hands
 * out (routes_export.c).
 *
 * DESIGN: every file is read through the datasource interface (lib/dataset.h:
 * a LOCAL folder opened beneath its root, or S3), never opened by path here.
 * A file name is hostile: a relative image path with no empty, ".", ".." or
 * hidden (dot) segment, no control character, valid UTF-8 (thumb_name_ok and
 * the dot rule, which keeps .lightly/ out of reach as the listing does); a
 * path that leaves the root through a link answers 403, an absent one 404.
 * JPEG, PNG and WebP are sent as stored (at most SAMPLE_MAX_BYTES, the type
 * from the magic bytes, never the name); a BMP is converted to PNG within
 * the thumbnails' memory budget (thumb_full). An image reply carries an ETag
 * of the file's size and mtime and "Cache-Control: private, max-age=300", so
 * prev/next in the page is served from the browser's cache or by a 304.
 * Predictions are validated by lib/predict.c's own parser
 * (predict_parse_file: its message names the file and the field in a 422);
 * only then are the entries' drawing fields (bbox, segmentation,
 * keypoints), which that parser checked, copied from the same JSON tree.
 * A video's frame (SPEC 3.1, "clips/a-099-mp4.png" of clips/a.mp4) is no
 * file: the image routes decode it and send it as PNG (web/thumb_video.c,
 * within the thumbnails' budget), and predictions and metadata take its size
 * from the video's declared size (a demux pass, no decoder).
 * The signed route checks the HMAC and expiry (web/readurl.c, over the path
 * and the file name) before it reads the database or the datasource.
 */
#include "routes.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "authz.h"
#include "dataset.h"
#include "datasource.h"
#include "db.h"
#include "metadata.h"
#include "models.h"
#include "predict.h"
#include "readurl.h"
#include "thumb.h"
#include "util.h"
#include "video_seek.h"

/* The largest image sent (413 beyond). */
#define SAMPLE_MAX_BYTES ((size_t)32 << 20)
/* Read from an image's start to learn its size for the predictions' RLE check. */
#define SAMPLE_HEADER_BYTES ((size_t)256 << 10)

/* The fileName argument, checked; NULL after replying 400. */
static const char *sample_name(struct req *r, struct resp *out)
{
	const char *fn = req_query(r, "fileName");

	if (fn == NULL || fn[0] == '\0') {
		resp_error(out, 400, "BAD_REQUEST", "fileName is required");
		return NULL;
	}
	bool ok = thumb_name_ok(fn);
	/* Hidden files and folders (.lightly/) are not in the datasource's listing. */
	for (const char *s = fn; ok && s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if (*s == '.')
			ok = false;
	}
	if (!ok) {
		resp_error(out, 400, "SAMPLE_UNKNOWN", "fileName must be a relative image path "
			   "(.jpg .jpeg .png .webp .bmp) without '..', '.', hidden or empty segments "
			   "or control characters");
		return NULL;
	}
	return fn;
}

/* Replies for a datasource error rc of name (thumbnails' wording). */
static void ds_error(struct resp *out, const struct dataset *ds, int rc)
{
	char dserr[1024];

	if (rc == -EXDEV)
		resp_error(out, 403, "FORBIDDEN", "fileName leads outside the dataset's folder");
	else if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP || rc == -EISDIR)
		resp_error(out, 404, "NOT_FOUND", "no such image in the datasource");
	else if (rc == -EFBIG)
		resp_error(out, 413, "DATASET_DATASOURCE_FILE_TOO_LARGE",
			   "the image is larger than %d MiB: too large to show", (int)(SAMPLE_MAX_BYTES >> 20));
	else if (dataset_last_error(ds, dserr, sizeof(dserr))[0] != '\0')
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", dserr);
	else
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", strerror(-rc));
}

/* The image fn of ds (open) into out, as the DESIGN says. */
static void serve_image(struct req *r, struct resp *out, struct dataset *ds, const char *fn)
{
	struct stat st;
	int rc;
	uint8_t *fpng = NULL;
	size_t flen = 0;
	char ferr[512];

	/* A video's frame (web/thumb_video.c): decoded and sent as PNG. */
	rc = thumb_frame_full(ds, fn, &fpng, &flen, ferr, sizeof(ferr));
	if (rc == -EINVAL) {
		resp_error(out, 422, "SAMPLE_THUMBNAME_UNKNOWN", "%s: %s", fn, ferr);
		return;
	} else if (rc < 0) {
		ds_error(out, ds, rc);
		return;
	} else if (rc == 0) {
		free(out->body);
		out->body = (char *)fpng;
		out->len = flen;
		out->status = 200;
		out->ctype = "image/png";
		out->cache_control = "private, max-age=300";
		return;
	}
	rc = dataset_stat(ds, fn, &st);

	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = -ENOENT;
	if (rc == 0 && (uint64_t)st.st_size > SAMPLE_MAX_BYTES)
		rc = -EFBIG;
	if (rc < 0) {
		ds_error(out, ds, rc);
		return;
	}
	char *etag = xasprintf("\"%" PRIx64 "-%" PRIx64 ".%lx\"", (uint64_t)st.st_size,
			       (uint64_t)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	const char *inm = req_header(r, "If-None-Match");
	if (inm && strcmp(inm, etag) == 0) {
		free(out->body);
		out->body = xstrdup("");	/* an empty reply, not none */
		out->len = 0;
		out->status = 304;
		out->ctype = NULL;
		out->etag = etag;
		out->cache_control = "private, max-age=300";
		return;
	}
	uint8_t *buf = NULL, *png = NULL;
	size_t n = 0, plen = 0;
	rc = dataset_read(ds, fn, SAMPLE_MAX_BYTES, &buf, &n);
	if (rc < 0) {
		free(etag);
		ds_error(out, ds, rc);
		return;
	}
	const char *ctype = NULL;
	uint64_t w, h;
	char err[256];
	if (thumb_full(buf, n, fn, &png, &plen, &ctype, &w, &h, err, sizeof(err)) < 0) {
		free(buf);
		free(etag);
		resp_error(out, 422, "SAMPLE_THUMBNAME_UNKNOWN", "%s: %s", fn, err);
		return;
	}
	free(out->body);
	if (png) {
		free(buf);
		out->body = (char *)png;
		out->len = plen;
	} else {
		out->body = (char *)buf;
		out->len = n;
	}
	out->status = 200;
	out->ctype = ctype;
	out->etag = etag;
	out->cache_control = "private, max-age=300";
}

/* GET /v1/winnow/datasets/{datasetId}/samples/image?fileName=: the full image. */
void h_sample_image(struct req *r, struct resp *out)
{
	const char *fn = sample_name(r, out);
	struct dataset ds;

	if (fn == NULL)
		return;
	if (web_datasource_open(r, out, DS_USE_INPUT, &ds) < 0)
		return;
	serve_image(r, out, &ds, fn);
	dataset_close(&ds);
}

/* The path the image's signed URLs sign: the route's path and the file name. */
static char *signed_msg(const char *dataset, const char *fn)
{
	return xasprintf("/v1/winnow/datasets/%s/samples/image/signed?fileName=%s", dataset, fn);
}

char *sample_signed_url(const struct web_settings *ws, const char *dataset, const char *fn,
			int64_t now)
{
	char sig[READURL_SIG_HEX + 1];
	int64_t exp = now + ws->read_url_ttl;
	char *msg = signed_msg(dataset, fn);
	char *base = http_base_url(ws);

	readurl_sign(ws->url_key, msg, exp, sig);
	free(msg);
	/* The name percent-encoded: anything but unreserved characters and '/'. */
	size_t n = strlen(fn);
	char *enc = xmalloc(3 * n + 1), *p = enc;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)fn[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~/", ch)) {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = "0123456789ABCDEF"[ch >> 4];
			*p++ = "0123456789ABCDEF"[ch & 15];
		}
	}
	*p = '\0';
	char *url = xasprintf("%s/v1/winnow/datasets/%s/samples/image/signed?fileName=%s"
			      "&expires=%lld&sig=%s", base, dataset, enc, (long long)exp, sig);
	free(enc);
	free(base);
	return url;
}

/*
 * GET /v1/winnow/datasets/{datasetId}/samples/image/signed?fileName=&expires=&sig=
 * (no token: ROLE_NONE): the signature and expiry first (none: 401; wrong or
 * expired: 403), then as the image route.
 */
void h_sample_image_signed(struct req *r, struct resp *out)
{
	const char *fn = req_query(r, "fileName");
	char *msg = signed_msg(r->params[0], fn ? fn : "");
	enum readurl_verdict v = readurl_check(r->ws->url_key, msg, req_query(r, "expires"),
					       req_query(r, "sig"), db_now_ms() / 1000);

	free(msg);
	if (req_query(r, "sig") == NULL || req_query(r, "expires") == NULL) {
		/* No credential at all, as every token-less route answers it. */
		resp_error(out, 401, "UNAUTHORIZED", "the image URL needs its expires and sig");
		return;
	}
	if (fn == NULL || v == READURL_BAD) {
		resp_error(out, 403, "FORBIDDEN", "the image URL's signature is missing or wrong");
		return;
	}
	if (v == READURL_EXPIRED) {
		resp_error(out, 403, "FORBIDDEN", "the image URL has expired: export again for new ones");
		return;
	}
	h_sample_image(r, out);
}

/*
 * The size of image fn from its first bytes (0 x 0 when its header is not
 * there). 0, or -1 after replying (the image is not in the datasource).
 */
static int image_size(struct req *r, struct resp *out, const char *fn, struct img_size *sz)
{
	struct dataset ds;
	struct ds_stream *s = NULL;

	sz->w = sz->h = 0;
	if (web_datasource_open(r, out, DS_USE_INPUT, &ds) < 0)
		return -1;
	int rc = dataset_stream_open(&ds, fn, &s);
	if (rc == -ENOENT) {
		/* A video's frame (SPEC 3.1): its declared size, no decoder opened. */
		struct video_seek vs;
		char verr[256];
		int vrc = video_seek_frame(&ds, fn, false, THUMB_VIDEO_MAX_PIXELS, 0, &vs, verr,
					   sizeof(verr));
		if (vrc == 0) {
			sz->w = vs.width;
			sz->h = vs.height;
			video_seek_free(&vs);
			dataset_close(&ds);
			return 0;
		}
	}
	if (rc < 0) {
		ds_error(out, &ds, rc);
		dataset_close(&ds);
		return -1;
	}
	uint8_t *buf = xmalloc(SAMPLE_HEADER_BYTES);
	ssize_t n = dataset_stream_read(s, buf, SAMPLE_HEADER_BYTES);
	uint64_t w = 0, h = 0;
	if (n > 0 && thumb_probe(buf, (size_t)n, &w, &h) == 0 && w <= UINT32_MAX && h <= UINT32_MAX) {
		sz->w = (uint32_t)w;
		sz->h = (uint32_t)h;
	}
	free(buf);
	dataset_stream_close(s);
	dataset_close(&ds);
	return 0;
}

/* The JSON rel of the LIGHTLY datasource for image fn: .lightly/<dir>/<fn without ext>.json. */
static char *lightly_rel(const char *dir, const char *fn)
{
	return xasprintf(".lightly/%s/%.*s.json", dir, (int)predict_stem_len(fn), fn);
}

/* A checked array of numbers, each printed so it reads back to the same double. */
static cJSON *copy_numbers(const cJSON *a)
{
	cJSON *o = cJSON_CreateArray();
	const cJSON *x;

	cJSON_ArrayForEach(x, a)
		cJSON_AddItemToArray(o, json_exact_number(x->valuedouble));
	return o;
}

/*
 * GET /v1/winnow/datasets/{datasetId}/samples/predictions?fileName=[&task=]:
 * the image's predictions of task (default: the first of tasks.json) for
 * drawing (docs/api.md).
 */
void h_sample_predictions(struct req *r, struct resp *out)
{
	const char *fn = sample_name(r, out), *task = req_query(r, "task");
	struct strvec tasks = { 0 };
	struct task_schema schema = { 0 };
	struct pred_image pi = { 0 };
	uint8_t *text = NULL;
	size_t len = 0;
	cJSON *tree = NULL, *o = NULL;
	char err[1024], *rel = NULL;
	struct dataset ds;
	int rc;

	if (fn == NULL)
		return;
	/* The image (404 when absent) and its size first: INPUT may be another datasource. */
	struct img_size sz;
	if (image_size(r, out, fn, &sz) < 0)
		return;
	if (web_datasource_open(r, out, DS_USE_LIGHTLY, &ds) < 0)
		return;
	rc = predict_list_tasks(&ds, &tasks, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		resp_error(out, 422, "PREDICTION_TASK_SCHEMA_UNKNOWN", "%s", err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "fileName", fn);
	cJSON *ta = cJSON_AddArrayToObject(o, "tasks");
	for (size_t i = 0; i < tasks.n; i++)
		cJSON_AddItemToArray(ta, cJSON_CreateString(tasks.v[i]));
	if (sz.w && sz.h) {
		cJSON *is = cJSON_AddObjectToObject(o, "imageSize");
		cJSON_AddNumberToObject(is, "width", sz.w);
		cJSON_AddNumberToObject(is, "height", sz.h);
	} else {
		cJSON_AddNullToObject(o, "imageSize");
	}
	if (task == NULL && tasks.n > 0)
		task = tasks.v[0];
	if (task == NULL) {
		/* No tasks.json: no predictions at all. */
		cJSON_AddNullToObject(o, "task");
		cJSON_AddNullToObject(o, "taskType");
		cJSON_AddArrayToObject(o, "categories");
		cJSON_AddBoolToObject(o, "hasFile", false);
		cJSON_AddBoolToObject(o, "noPredictions", true);
		cJSON_AddArrayToObject(o, "predictions");
		resp_json(out, 200, o);
		o = NULL;
		goto out;
	}
	bool listed = false;
	for (size_t i = 0; i < tasks.n; i++)
		listed |= strcmp(tasks.v[i], task) == 0;
	if (!listed) {
		resp_error(out, 404, "PREDICTION_TASK_SCHEMA_UNKNOWN",
			   "no task of that name in .lightly/predictions/tasks.json");
		goto out;
	}
	if ((rc = predict_load_schema(&ds, task, &schema, err, sizeof(err))) < 0) {
		resp_error(out, 422, "PREDICTION_TASK_SCHEMA_UNKNOWN", "%s", err);
		goto out;
	}
	cJSON_AddStringToObject(o, "task", task);
	cJSON_AddStringToObject(o, "taskType", task_type_name(schema.type));
	cJSON *ca = cJSON_AddArrayToObject(o, "categories");
	for (size_t i = 0; i < schema.ncats; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddNumberToObject(c, "id", (double)schema.cats[i].id);
		cJSON_AddStringToObject(c, "name", schema.cats[i].name);
		cJSON_AddItemToArray(ca, c);
	}
	char *dir = xasprintf("predictions/%s", task);
	rel = lightly_rel(dir, fn);
	free(dir);
	rc = predict_read_file(&ds, rel, &text, &len, err, sizeof(err));
	if (rc == -ENOENT) {
		cJSON_AddBoolToObject(o, "hasFile", false);
		cJSON_AddBoolToObject(o, "noPredictions", true);
		cJSON_AddArrayToObject(o, "predictions");
		resp_json(out, 200, o);
		o = NULL;
		goto out;
	}
	if (rc < 0) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s", err);
		goto out;
	}
	if (predict_parse_file((const char *)text, len, rel, fn, &schema, sz, &pi, err,
			       sizeof(err)) < 0) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s", err);
		goto out;
	}
	/* Valid: the drawing fields from the same text, as the parser checked them. */
	tree = predict_parse_json((const char *)text, len, rel, err, sizeof(err));
	const cJSON *preds = tree ? cJSON_GetObjectItemCaseSensitive(tree, "predictions") : NULL;
	if (!cJSON_IsArray(preds) || (size_t)cJSON_GetArraySize(preds) != pi.n) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s: predictions: unreadable", rel);
		goto out;
	}
	cJSON_AddBoolToObject(o, "hasFile", true);
	cJSON_AddBoolToObject(o, "noPredictions", pi.n == 0);
	cJSON *pa = cJSON_AddArrayToObject(o, "predictions");
	const cJSON *item;
	size_t i = 0;
	cJSON_ArrayForEach(item, preds) {
		const struct pred_entry *e = &pi.e[i++];
		cJSON *p = cJSON_CreateObject();
		long ci = task_schema_index(&schema, e->category_id);
		cJSON_AddNumberToObject(p, "categoryId", (double)e->category_id);
		cJSON_AddStringToObject(p, "categoryName", ci >= 0 ? schema.cats[ci].name : "");
		if (isnan(e->score))
			cJSON_AddNullToObject(p, "score");
		else
			cJSON_AddItemToObject(p, "score", json_exact_number(e->score));
		if (e->probs) {
			cJSON *pr = cJSON_AddArrayToObject(p, "probabilities");
			for (size_t k = 0; k < e->nprobs; k++)
				cJSON_AddItemToArray(pr, json_exact_number(e->probs[k]));
		}
		if (schema.type == TASK_OBJECT_DETECTION) {
			cJSON *b = cJSON_AddArrayToObject(p, "bbox");
			for (int k = 0; k < 4; k++)
				cJSON_AddItemToArray(b, json_exact_number(e->bbox[k]));
		} else if (schema.type == TASK_SEMANTIC_SEGMENTATION) {
			cJSON_AddItemToObject(p, "segmentation",
					      copy_numbers(cJSON_GetObjectItemCaseSensitive(item, "segmentation")));
			cJSON_AddNumberToObject(p, "pixels", (double)e->pixels);
		} else if (schema.type == TASK_KEYPOINT_DETECTION) {
			cJSON_AddItemToObject(p, "keypoints",
					      copy_numbers(cJSON_GetObjectItemCaseSensitive(item, "keypoints")));
		}
		cJSON_AddItemToArray(pa, p);
	}
	resp_json(out, 200, o);
	o = NULL;
out:
	cJSON_Delete(o);
	cJSON_Delete(tree);
	free(text);
	free(rel);
	pred_image_free(&pi);
	task_schema_free(&schema);
	strvec_free(&tasks);
	dataset_close(&ds);
}

/*
 * GET /v1/winnow/datasets/{datasetId}/samples/metadata?fileName=: the
 * image's custom metadata (.lightly/metadata/<name>.json's "metadata"
 * object), checked as lib/metadata.c checks it; {hasFile: false, metadata:
 * null} when it has none.
 */
void h_sample_metadata(struct req *r, struct resp *out)
{
	const char *fn = sample_name(r, out);
	uint8_t *text = NULL;
	size_t len = 0;
	char err[1024];
	struct dataset ds;

	struct img_size sz;	/* unused: the image must exist, as for the other routes */
	if (fn == NULL)
		return;
	if (image_size(r, out, fn, &sz) < 0)
		return;
	if (web_datasource_open(r, out, DS_USE_LIGHTLY, &ds) < 0)
		return;
	char *rel = lightly_rel("metadata", fn);
	int rc = predict_read_file(&ds, rel, &text, &len, err, sizeof(err));
	cJSON *o = NULL, *tree = NULL;
	if (rc < 0 && rc != -ENOENT) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s", err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "fileName", fn);
	cJSON_AddBoolToObject(o, "hasFile", rc == 0);
	if (rc == -ENOENT) {
		cJSON_AddNullToObject(o, "metadata");
		resp_json(out, 200, o);
		o = NULL;
		goto out;
	}
	/* lib/metadata.c's checks of the file as a whole (no key asked), then its values. */
	struct meta_value none;
	if (metadata_parse_file((const char *)text, len, rel, fn, NULL, 0, &none, err, sizeof(err)) < 0) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s", err);
		goto out;
	}
	tree = predict_parse_json((const char *)text, len, rel, err, sizeof(err));
	if (tree == NULL) {
		resp_error(out, 422, "SAMPLE_UNKNOWN", "%s", err);
		goto out;
	}
	cJSON_AddItemToObject(o, "metadata",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tree, "metadata"), 1));
	resp_json(out, 200, o);
	o = NULL;
out:
	cJSON_Delete(o);
	cJSON_Delete(tree);
	free(text);
	free(rel);
	dataset_close(&ds);
}
