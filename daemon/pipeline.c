/*
 * pipeline: the stage runner of SPEC 4 on any datasource (lib/dataset.h; the
 * backends' differences stay behind it: the image pass starts a prefetch,
 * which only remote backends use, and a read that fails for the transport
 * fails the run). Its outputs are written by report.c, its checkpoints by
 * checkpoint.c.
 *
 * DESIGN: the run holds one table of items (the listed images in path order)
 * and narrows it stage by stage: corrupt and unsupported files drop out in the
 * image pass, copies in the duplicate stage, identical rows in the embedding
 * stage. What is left are the candidates, in path order, and every later index
 * refers to them. The image pass reads each file once and does everything that
 * needs its bytes (check, hash, descriptor) while they are in memory; only a
 * hash collision reads a file again, to compare bytes.
 *
 * Videos (SPEC 3.1, lib/video.c): the listing counts each video's frames by
 * a demux-only pass and makes every frame an item; the image pass decodes a
 * video in one task, or a long one in ranges from its clean keyframes, one
 * task each (VIDEO_SPLIT_FRAMES), and hands each frame's pixels to the image
 * code's per-image work; with selected_sequence_length > 1 the selection's
 * candidates become chunks of frames (sequences_make).
 */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "dataset.h"
#include "embed.h"
#include "image.h"
#include "inputs.h"
#include "metadata.h"
#include "pool.h"
#include "predict.h"
#include "scorers/scorer.h"
#include "selectors/selector.h"
#include "util.h"
#include "video.h"

#define MAX_IMAGE_BYTES ((size_t)1 << 30)

static const char *const stage_names[STAGE_COUNT] = {
	"listing", "images", "duplicates", "embeddings", "scores", "selection", "results",
};
static const char *const stage_states[STAGE_COUNT] = {
	"LOADING_DATASET", "CHECKING_CORRUPTNESS", "CHECKING_CORRUPTNESS", "EMBEDDING",
	"COMPUTING_ACTIVE_LEARNING_SCORES", "SAMPLING", "SAVING_RESULTS",
};

const char *stage_name(enum stage s)
{
	return s < STAGE_COUNT ? stage_names[s] : "?";
}

const char *stage_run_state(enum stage s)
{
	return s < STAGE_COUNT ? stage_states[s] : "STARTED";
}

void run_log(struct run *run, enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	char ts[40];
	struct timespec now;
	struct tm tm;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&run->lock);
	if (run->log != NULL) {
		fprintf(run->log, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000,
			log_level_name(lvl), msg);
		fflush(run->log);
	}
	if (run->o->ev != NULL && run->o->ev->log != NULL)
		run->o->ev->log(run->o->ud, lvl, msg);
	pthread_mutex_unlock(&run->lock);
	free(msg);
}

int run_fail(struct run *run, int rc, bool permanent, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->r->error, sizeof(run->r->error), fmt, ap);
	va_end(ap);
	run->r->permanent = permanent;
	return rc;
}

static bool cancelled(const struct run *run)
{
	return cancel_requested(run->o->cancel);
}

static void stage_begin(struct run *run, enum stage s, size_t total)
{
	run->cur = s;
	run->stage_t0 = now_seconds();
	atomic_store(&run->done, 0);
	run_log(run, LOG_LVL_INFO, "stage %s started (%s)", stage_name(s), stage_run_state(s));
	if (run->o->ev != NULL && run->o->ev->stage_begin != NULL)
		run->o->ev->stage_begin(run->o->ud, s, total);
}

static void stage_end(struct run *run, enum stage s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void stage_end(struct run *run, enum stage s, const char *fmt, ...)
{
	va_list ap;
	double secs = now_seconds() - run->stage_t0;

	va_start(ap, fmt);
	vsnprintf(run->r->summary[s], sizeof(run->r->summary[s]), fmt, ap);
	va_end(ap);
	run->r->seconds[s] = secs;
	run->r->ran[s] = true;
	run_log(run, LOG_LVL_INFO, "stage %s done in %.3f s: %s", stage_name(s), secs,
		run->r->summary[s]);
	if (run->o->ev != NULL && run->o->ev->stage_end != NULL)
		run->o->ev->stage_end(run->o->ud, s, secs, run->r->summary[s]);
}

static void progress(struct run *run, size_t done, size_t total)
{
	if (run->o->ev == NULL || run->o->ev->progress == NULL)
		return;
	pthread_mutex_lock(&run->lock);
	run->o->ev->progress(run->o->ud, run->cur, done, total);
	pthread_mutex_unlock(&run->lock);
}

/* ---- listing ---------------------------------------------------------- */

static ssize_t stream_read(void *st, void *buf, size_t n)
{
	return dataset_stream_read(st, buf, n);
}

/* ---- videos (SPEC 3.1) ---------------------------------------------------- */

static void probe_one(size_t i, int tid, void *ud)
{
	struct run *run = ud;
	struct run_video *v = &run->videos[i];

	v->st = video_probe(&run->ds, v->path, run->cfg->max_pixels, run->o->cancel, &v->vi,
			    v->reason, sizeof(v->reason), &v->io_rc);
}

/* By name; a frame before a file of the same name (which is then left out). */
static int cmp_item_path(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c != 0)
		return c;
	return (y->video >= 0) - (x->video >= 0);
}

/*
 * The listing's files become items: an image is one, a video each of its
 * frames (counted by a demux-only pass, one video per task of the pool), or
 * one corrupt item under its own name when it cannot be opened. Items are
 * then sorted by name, as the later stages and outputs expect.
 */
static int list_videos(struct run *run)
{
	struct dataset *ds = &run->ds;
	size_t nv = 0, n = 0;

	for (size_t i = 0; i < ds->files.n; i++)
		nv += dataset_is_video_name(ds->files.v[i]);
	run->nvideos = nv;
	run->videos = xcalloc(nv ? nv : 1, sizeof(*run->videos));
	nv = 0;
	for (size_t i = 0; i < ds->files.n; i++)
		if (dataset_is_video_name(ds->files.v[i]))
			run->videos[nv++].path = ds->files.v[i];
	if (nv > 0) {
		int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
		if (pool_for(nv, threads, probe_one, run, run->o->cancel) < 0)
			return -ECANCELED;
	}
	for (size_t v = 0; v < nv; v++) {
		struct run_video *rv = &run->videos[v];
		if (rv->st == VID_IO)
			return run_fail(run, rv->io_rc ? rv->io_rc : -EIO, false, "reading the video %s: %s",
				    rv->path, rv->reason);
		n += rv->st == VID_OK ? rv->vi.nframes : 1;
	}
	n += ds->files.n - nv;
	run->nitems = n;
	run->items = xcalloc(n ? n : 1, sizeof(*run->items));
	n = 0;
	nv = 0;
	for (size_t i = 0; i < ds->files.n; i++) {
		const char *p = ds->files.v[i];
		if (!dataset_is_video_name(p)) {
			run->items[n].video = -1;
			run->items[n++].path = ds->files.v[i];
			continue;
		}
		struct run_video *rv = &run->videos[nv];
		if (rv->st != VID_OK) {
			struct item *it = &run->items[n++];
			it->path = ds->files.v[i];
			it->video = -1;
			it->state = rv->st == VID_UNSUPPORTED ? IT_EXCLUDED : IT_CORRUPT;
			it->reason = xstrdup(rv->reason);
			run_log(run, LOG_LVL_WARNING, "%s: %s", p, rv->reason);
			nv++;
			continue;
		}
		rv->items = xcalloc(rv->vi.nframes, sizeof(*rv->items));
		for (uint64_t f = 0; f < rv->vi.nframes; f++) {
			struct item *it = &run->items[n++];
			strvec_take(&run->frame_names, video_frame_name(p, f, rv->vi.nframes));
			it->path = run->frame_names.v[run->frame_names.n - 1];
			it->video = (int32_t)nv;
			it->frame = (uint32_t)f;
			it->width = rv->vi.width;
			it->height = rv->vi.height;
		}
		run->r->counts.frames += rv->vi.nframes;
		run->r->counts.videos++;
		run_log(run, LOG_LVL_INFO, "%s: %" PRIu64 " frames of %ux%u (%s)", p, rv->vi.nframes,
			rv->vi.width, rv->vi.height, rv->vi.codec);
		nv++;
	}
	if (nv == 0)
		return 0;
	qsort(run->items, run->nitems, sizeof(*run->items), cmp_item_path);
	for (size_t i = 0; i < run->nitems; i++) {
		struct item *it = &run->items[i];
		if (it->video >= 0)
			run->videos[it->video].items[it->frame] = i;
		/* A file named like a frame of a video: the second of the two is left out. */
		if (i > 0 && strcmp(run->items[i - 1].path, it->path) == 0 && it->state == IT_OK) {
			it->state = IT_EXCLUDED;
			it->reason = xstrdup("same name as a video's frame");
		}
	}
	return 0;
}

static int stage_listing(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	char err[1024];
	int rc;

	stage_begin(run, STAGE_LISTING, 0);
	rc = dataset_open_input(&run->ds, run->o->input_fd, run->o->input, run->o->s3, err, sizeof(err));
	if (rc < 0)
		return run_fail(run, rc, true, "%s", err);
	if (run->o->lightly != NULL) {
		/* `.lightly/` from the LIGHTLY datasource (lib/ds_overlay.c). */
		struct dataset in = run->ds, lt;
		memset(&run->ds, 0, sizeof(run->ds));
		rc = dataset_open_input(&lt, run->o->lightly_fd, run->o->lightly, run->o->lightly_s3, err,
					sizeof(err));
		if (rc < 0) {
			dataset_close(&in);
			return run_fail(run, rc, true, "LIGHTLY datasource: %s", err);
		}
		dataset_open_overlay(&run->ds, &in, &lt);
		run_log(run, LOG_LVL_INFO, "images from %s, .lightly/ from %s", run->o->input,
			run->o->lightly);
	}
	run->have_ds = true;
	rc = dataset_list(&run->ds, cfg->relevant_filenames_file, err, sizeof(err));
	/* A missing root or bucket and refused credentials are permanent, the network is not. */
	if (rc < 0)
		return run_fail(run, rc, dataset_list_permanent(&run->ds, rc), "%s", err);
	if (dataset_list_request_name(&run->ds) != NULL)
		run_log(run, LOG_LVL_INFO, "%s: %zu %s requests", run->o->input,
			dataset_list_requests(&run->ds), dataset_list_request_name(&run->ds));
	for (size_t i = 0; i < run->ds.folder_links.n; i++)
		run_log(run, LOG_LVL_INFO, "%s: symlink to a folder, not followed",
			run->ds.folder_links.v[i]);
	for (size_t i = 0; i < run->ds.nexcluded; i++)
		run_log(run, LOG_LVL_WARNING, "%s: excluded: %s", run->ds.excluded[i].path,
			run->ds.excluded[i].reason);
	if (cfg->relevant_filenames_file[0] != '\0')
		run_log(run, LOG_LVL_INFO,
			"relevant_filenames_file: %zu images not listed in it, %zu names in it not found",
			run->ds.relevant_skipped, run->ds.relevant_missing);

	if (cfg->embeddings[0] != '\0') {
		/* A path relative to the root, else a name under .lightly/embeddings/. */
		char *path = NULL;
		if (dataset_exists(&run->ds, cfg->embeddings))
			path = xstrdup(cfg->embeddings);
		else
			path = xasprintf(".lightly/embeddings/%s", cfg->embeddings);
		/* Streamed: a gigabyte of CSV is never all in memory. */
		struct ds_stream *st = NULL;
		rc = dataset_stream_open(&run->ds, path, &st);
		if (rc < 0) {
			run_fail(run, rc, rc == -ENOENT || rc == -EXDEV,
			     "embeddings %s: %s (looked for %s and .lightly/embeddings/%s)",
			     cfg->embeddings, strerror(-rc), cfg->embeddings, cfg->embeddings);
			free(path);
			return rc;
		}
		rc = emb_table_read_stream(stream_read, st,
					   dataset_stream_size(st), path, run->o->threads,
					   run->o->resume ? &run->csv_hash : NULL, &run->csv, err,
					   sizeof(err));
		dataset_stream_close(st);
		free(path);
		/* A format error (-EINVAL) is permanent; a read error may not be. */
		if (rc < 0)
			return run_fail(run, rc, rc == -EINVAL, "embeddings CSV %s", err);
		run->have_csv = true;
	}

	/*
	 * Embeddings-only run: the CSV's rows, sorted by name, are the dataset. Not
	 * when relevant_filenames_file left no image: that would drop the filter.
	 */
	if (run->ds.files.n == 0 && run->ds.relevant_skipped == 0 && run->have_csv) {
		run->emb_only = true;
		run->nitems = run->csv.n;
		run->items = xcalloc_huge(run->nitems, sizeof(*run->items));
		for (size_t i = 0; i < run->csv.n; i++) {
			run->items[i].path = run->csv.names[run->csv.order[i]];
			run->items[i].video = -1;
		}
		for (size_t i = 0; i < run->nitems; i++) {
			const char *p = run->items[i].path;
			if (!dataset_name_supported(p)) {
				run->items[i].state = IT_EXCLUDED;
				run->items[i].reason = xstrdup("unsupported file name");
			}
		}
		run_log(run, LOG_LVL_INFO, "no images: embeddings-only run on %zu rows", run->nitems);
	} else {
		if (run->ds.files.n == 0 && run->ds.relevant_skipped > 0)
			return run_fail(run, -ENOENT, true,
				    "no images found in %s: relevant_filenames_file %s matches none of its %zu",
				    run->o->input, cfg->relevant_filenames_file, run->ds.relevant_skipped);
		if (run->ds.files.n == 0)
			return run_fail(run, -ENOENT, true, "no images found in %s", run->o->input);
		if ((rc = list_videos(run)) < 0)
			return rc;
	}
	run->r->counts.listed = run->nitems + run->ds.nexcluded;
	if (run->nvideos > 0)
		stage_end(run, STAGE_LISTING, "%zu images listed (%zu frames of %zu videos), %zu excluded",
			  run->nitems, run->r->counts.frames, run->nvideos, run->ds.nexcluded);
	else
		stage_end(run, STAGE_LISTING, "%zu images listed, %zu excluded", run->nitems,
			  run->ds.nexcluded);
	return 0;
}

/* ---- image pass -------------------------------------------------------- */

static void image_one(size_t i, int tid, void *ud)
{
	struct run *run = ud;
	struct item *it = &run->items[i];
	const struct run_config *cfg = run->cfg;
	bool want_desc = !run->have_csv;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (atomic_load(&run->io_rc) != 0)
		goto done;
	int rc = dataset_read(&run->ds, it->path, MAX_IMAGE_BYTES, &buf, &len);

	if (rc < 0 && dataset_transient(&run->ds, rc)) {
		/* Not the image's fault: the run fails (and is retried), no image is judged. */
		atomic_store(&run->io_rc, rc);
		goto done;
	}
	if (rc < 0) {
		it->state = IT_CORRUPT;
		it->reason = rc == -EFBIG ? xstrdup("file too large")
			: rc == -EXDEV ? NULL : xasprintf("cannot read: %s", strerror(-rc));
		if (rc == -EXDEV) {
			it->state = IT_EXCLUDED;
			it->reason = xstrdup("symlink escapes the datasource");
		}
		goto done;
	}
	it->size = len;
	it->hash = XXH3_128bits(buf, len);
	if (cfg->enable_corruptness_check || want_desc) {
		struct img_thumb thumb;
		struct img_result res;
		enum img_status st = image_check_meta(buf, len, image_format_from_name(it->path),
						      cfg->max_pixels, want_desc ? &thumb : NULL,
						      run->want_meta, &res);
		if (st == IMG_UNSUPPORTED) {
			it->state = IT_EXCLUDED;
			it->reason = xstrdup(res.reason);
		} else if (st != IMG_OK) {
			/* With the check off, an undecodable image still has no embedding. */
			it->state = cfg->enable_corruptness_check ? IT_CORRUPT : IT_EXCLUDED;
			it->reason = cfg->enable_corruptness_check ? xstrdup(res.reason)
				: xasprintf("cannot decode: %s", res.reason);
		} else if (want_desc) {
			embed_descriptor(&thumb, run->desc + i * DESC_DIM);
		}
		if (st == IMG_OK) {
			it->width = res.width;
			it->height = res.height;
			it->meta = res.meta;
		}
	}
done:
	free(buf);
	size_t d = atomic_fetch_add(&run->done, 1) + 1;
	if (d % 32 == 0 || d == run->nitems)
		progress(run, d, run->nitems);
}

/* Per video: which frames were handed out by the decode pass. */
struct frame_ctx {
	struct run *run;
	struct run_video *rv;
	uint8_t *seen;
};

/* One frame of the decode pass: the image pass's per-image work on its pixels. */
static void frame_cb(void *ud, const struct video_frame *f)
{
	struct frame_ctx *fc = ud;
	struct run *run = fc->run;
	size_t i = fc->rv->items[f->index];
	struct item *it = &run->items[i];
	const struct run_config *cfg = run->cfg;

	fc->seen[f->index] = 1;
	it->size = fc->rv->vi.size[f->index];
	if (it->state != IT_OK)
		return;
	if (f->corrupt) {
		/* With the check off, an undecodable frame still has no embedding. */
		it->state = cfg->enable_corruptness_check ? IT_CORRUPT : IT_EXCLUDED;
		it->reason = cfg->enable_corruptness_check ? xstrdup(f->reason)
			: xasprintf("cannot decode: %s", f->reason);
		return;
	}
	struct img_thumb thumb;
	bool want_desc = !run->have_csv;
	memset(&it->meta, 0, sizeof(it->meta));
	image_check_pixels(f->rgb, f->stride, f->w, f->h, want_desc ? &thumb : NULL, run->want_meta,
			   &it->meta);
	it->meta.size_bytes = it->size;
	it->width = f->width;
	it->height = f->height;
	if (want_desc)
		embed_descriptor(&thumb, run->desc + i * DESC_DIM);
}

/* Frames are decoded at most this many pixels a side for the per-image work (as WebP). */
#define FRAME_DECODE_MAX 128

/*
 * A video of at least twice this many frames is split at clean keyframes
 * (lib/video.c) into ranges of at least this many, each a task of its own,
 * so two threads can share one long video. WINNOW_VIDEO_SPLIT_FRAMES sets it
 * (the tests split a short clip small); the outputs never depend on it.
 */
#define VIDEO_SPLIT_FRAMES 250

static uint64_t split_frames(void)
{
	const char *e = getenv("WINNOW_VIDEO_SPLIT_FRAMES");
	char *end;

	if (e == NULL || *e == '\0')
		return VIDEO_SPLIT_FRAMES;
	unsigned long long v = strtoull(e, &end, 10);
	return *end == '\0' && v > 0 ? (uint64_t)v : VIDEO_SPLIT_FRAMES;
}

/* Frames [first, last) of a video: decoded, each frame's per-image work done. */
static void video_one(struct run *run, struct run_video *rv, uint64_t first, uint64_t last)
{
	const struct run_config *cfg = run->cfg;

	if (!cfg->enable_corruptness_check && run->have_csv) {
		/* Nothing needs the pixels: the demux pass's sizes are the metadata. */
		for (uint64_t f = first; f < last; f++)
			run->items[rv->items[f]].size = rv->vi.size[f];
		return;
	}
	/* seen is shared by the video's ranges, each writing only its own frames. */
	struct frame_ctx fc = { .run = run, .rv = rv, .seen = rv->seen };
	char reason[160];
	int io_rc = 0;
	enum video_status st = video_decode_range(&run->ds, rv->path, &rv->vi, first, last,
						  cfg->max_pixels, FRAME_DECODE_MAX,
						  run->o->cancel, frame_cb, &fc, reason,
						  sizeof(reason), &io_rc);
	if (st == VID_IO) {
		atomic_store(&run->io_rc, io_rc ? io_rc : -EIO);
	} else if (st != VID_OK) {
		/* The file changed since the listing, or the pass was cancelled. */
		struct video_frame f = { .corrupt = true, .reason = reason };
		for (uint64_t i = first; i < last; i++) {
			if (!fc.seen[i]) {
				f.index = i;
				frame_cb(&fc, &f);
			}
		}
	}
}

/*
 * The image pass's tasks: every video or range of a video's frames (first:
 * the longest tasks), then every image.
 */
struct unit {
	size_t idx;
	bool video;
	uint64_t first, last;	/* a video's frames */
};

static void unit_one(size_t u, int tid, void *ud)
{
	struct run *run = ud;
	const struct unit *un = &run->units[u];

	if (!un->video) {
		image_one(un->idx, tid, ud);
		return;
	}
	struct run_video *rv = &run->videos[un->idx];
	if (atomic_load(&run->io_rc) == 0)
		video_one(run, rv, un->first, un->last);
	size_t k = un->last - un->first;
	size_t d = atomic_fetch_add(&run->done, k) + k;
	progress(run, d, run->nitems);
}

/* How many of units[0, nu) are ranges of video v. */
static size_t nranges(const struct unit *units, size_t nu, size_t v)
{
	size_t k = 0;

	for (size_t u = 0; u < nu; u++)
		k += units[u].video && units[u].idx == v;
	return k;
}

static int stage_images(struct run *run)
{
	size_t corrupt = 0, excluded = 0, nu = 0, nimg = 0;

	stage_begin(run, STAGE_IMAGES, run->nitems);
	if (!run->have_csv)
		run->desc = xcalloc(run->nitems, DESC_DIM * sizeof(double));
	int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
	char **paths = xcalloc(run->nitems ? run->nitems : 1, sizeof(*paths));
	run->units = xcalloc(run->nitems + run->nvideos + 1, sizeof(*run->units));
	uint64_t split = split_frames();
	for (size_t v = 0; v < run->nvideos; v++) {
		struct run_video *rv = &run->videos[v];
		if (rv->st != VID_OK)
			continue;
		/* Ranges of at least split frames, each starting at a cut. */
		uint64_t n = rv->vi.nframes, first = 0;
		for (size_t c = 0; c < rv->vi.ncuts && n >= 2 * split; c++) {
			uint64_t at = rv->vi.cut[c].index;
			if (at - first >= split && n - at >= split) {
				run->units[nu++] = (struct unit){ .idx = v, .video = true,
								  .first = first, .last = at };
				first = at;
			}
		}
		run->units[nu++] = (struct unit){ .idx = v, .video = true, .first = first, .last = n };
		rv->seen = xcalloc(n, 1);
		if (first > 0)
			run_log(run, LOG_LVL_INFO, "%s: decoded in %zu ranges (%zu keyframes to start at)",
				rv->path, nranges(run->units, nu, v), rv->vi.ncuts);
	}
	for (size_t i = 0; i < run->nitems; i++) {
		/* A video that did not open is one item, already judged at the listing. */
		if (run->items[i].video >= 0 || run->items[i].state != IT_OK)
			continue;
		paths[nimg++] = run->items[i].path;
		run->units[nu++] = (struct unit){ .idx = i, .video = false };
	}
	if (dataset_prefetch_start(&run->ds, paths, nimg) < 0)
		run_log(run, LOG_LVL_WARNING, "cannot start the prefetch: reading one at a time");
	int prc = pool_for(nu, threads, unit_one, run, run->o->cancel);
	dataset_prefetch_stop(&run->ds);
	for (size_t v = 0; v < run->nvideos; v++) {
		free(run->videos[v].seen);
		run->videos[v].seen = NULL;
	}
	free(paths);
	free(run->units);
	run->units = NULL;
	if (prc < 0)
		return -ECANCELED;
	int io = atomic_load(&run->io_rc);
	if (io != 0) {
		char msg[1024];
		return run_fail(run, io, false, "reading the images: %s",
			    dataset_last_error(&run->ds, msg, sizeof(msg)));
	}
	for (size_t i = 0; i < run->nitems; i++) {
		if (run->items[i].state == IT_CORRUPT)
			corrupt++;
		else if (run->items[i].state == IT_EXCLUDED)
			excluded++;
	}
	stage_end(run, STAGE_IMAGES, "%zu images read, %zu corrupt, %zu excluded (%d threads)",
		  run->nitems, corrupt, excluded, threads);
	return 0;
}

/* ---- byte duplicates ---------------------------------------------------- */

static int cmp_hash(const void *a, const void *b, void *ctx)
{
	const struct item *items = ctx;
	const struct item *x = &items[*(const size_t *)a], *y = &items[*(const size_t *)b];
	int c = XXH128_cmp(&x->hash, &y->hash);

	if (c != 0)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static bool same_bytes(struct run *run, size_t a, size_t b)
{
	uint8_t *x = NULL, *y = NULL;
	size_t lx = 0, ly = 0;
	bool same = false;

	if (dataset_read(&run->ds, run->items[a].path, MAX_IMAGE_BYTES, &x, &lx) == 0 &&
	    dataset_read(&run->ds, run->items[b].path, MAX_IMAGE_BYTES, &y, &ly) == 0)
		same = lx == ly && memcmp(x, y, lx) == 0;
	free(x);
	free(y);
	return same;
}

static int stage_byte_duplicates(struct run *run)
{
	size_t *idx = xcalloc(run->nitems, sizeof(*idx)), m = 0, dups = 0;

	stage_begin(run, STAGE_DUPLICATES, run->nitems);
	/* Frames have no byte-level duplicates (SPEC 3.1). */
	for (size_t i = 0; i < run->nitems; i++)
		if (run->items[i].state == IT_OK && run->items[i].video < 0)
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_hash, run->items);
	for (size_t g = 0; g < m;) {
		size_t e = g + 1;
		while (e < m && XXH128_isEqual(run->items[idx[g]].hash, run->items[idx[e]].hash))
			e++;
		/* idx[g..e) share a hash, in path order; the first of each byte-identical set stays. */
		for (size_t j = g + 1; j < e; j++) {
			for (size_t k = g; k < j; k++) {
				if (run->items[idx[k]].state != IT_OK)
					continue;
				if (run->items[idx[k]].size == run->items[idx[j]].size &&
				    same_bytes(run, idx[k], idx[j])) {
					run->items[idx[j]].state = IT_DUPLICATE;
					run->items[idx[j]].reason = xasprintf("duplicate of %s (bytes)",
									      run->items[idx[k]].path);
					dups++;
					break;
				}
			}
		}
		g = e;
	}
	free(idx);
	stage_end(run, STAGE_DUPLICATES, "%zu byte-identical copies removed", dups);
	return 0;
}

/* ---- embeddings --------------------------------------------------------- */

struct row_hash {
	uint64_t hash;
	size_t idx;
};

static int cmp_row_hash(const void *a, const void *b)
{
	const struct row_hash *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int stage_embeddings(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	size_t n = 0, dups = 0;

	stage_begin(run, STAGE_EMBEDDINGS, 0);
	run->d = run->have_csv ? run->csv.d : DESC_DIM;
	size_t *cand = xcalloc_huge(run->nitems, sizeof(*cand));
	for (size_t i = 0; i < run->nitems; i++)
		if (run->items[i].state == IT_OK)
			cand[n++] = i;
	double *raw;
	if (run->have_csv) {
		raw = xcalloc_huge(n, run->d * sizeof(double));
		struct buf missing = { 0 };
		size_t nmissing = 0;
		for (size_t c = 0; c < n; c++) {
			/* Embeddings-only items are the CSV's rows in name order: no search. */
			long row = run->emb_only ? (long)run->csv.order[cand[c]]
				: emb_table_find(&run->csv, run->items[cand[c]].path);
			if (row < 0) {
				if (nmissing++ < 5)
					buf_printf(&missing, "%s%s", nmissing > 1 ? ", " : "",
						   run->items[cand[c]].path);
				continue;
			}
			memcpy(raw + c * run->d, run->csv.rows + (size_t)row * run->d,
			       run->d * sizeof(double));
		}
		if (nmissing > 0) {
			run_fail(run, -EINVAL, true, "embeddings CSV %s: no row for %zu candidates: %s%s",
			     cfg->embeddings, nmissing, missing.data, nmissing > 5 ? ", ..." : "");
			buf_free(&missing);
			free(cand);
			free(raw);
			return -EINVAL;
		}
		size_t ignored = run->csv.n - (run->emb_only ? 0 : n);
		if (!run->emb_only && ignored > 0)
			run_log(run, LOG_LVL_INFO, "embeddings CSV: %zu rows for other files ignored",
				ignored);
		/* The candidates' rows are in raw now; the names stay (items borrow them). */
		free(run->csv.rows);
		run->csv.rows = NULL;
	} else {
		/*
		 * The candidates' descriptors become raw in place, not in a copy:
		 * at a million frames a second array would double the peak.
		 * cand is increasing, so row cand[c] >= c is never overwritten
		 * before it is moved.
		 */
		raw = run->desc;
		run->desc = NULL;
		for (size_t c = 0; c < n; c++)
			if (cand[c] != c)
				memmove(raw + c * run->d, raw + cand[c] * DESC_DIM,
					DESC_DIM * sizeof(double));
	}

	if (cfg->remove_exact_duplicates && n > 1) {
		/*
		 * Identical rows by a hash of their bytes: sorting (hash, index)
		 * pairs groups them, and only rows of one hash are compared. Each
		 * copy names the first row (in path order) with the same bytes.
		 */
		struct row_hash *rh = xcalloc_huge(n, sizeof(*rh));
		size_t rb = run->d * sizeof(double);
		for (size_t c = 0; c < n; c++) {
			rh[c].hash = XXH3_64bits(raw + c * run->d, rb);
			rh[c].idx = c;
		}
		qsort(rh, n, sizeof(*rh), cmp_row_hash);
		for (size_t g = 0; g < n;) {
			size_t e = g + 1;
			while (e < n && rh[e].hash == rh[g].hash)
				e++;
			for (size_t j = g + 1; j < e; j++) {
				for (size_t k = g; k < j; k++) {
					if (memcmp(raw + rh[k].idx * run->d, raw + rh[j].idx * run->d, rb) != 0)
						continue;
					struct item *it = &run->items[cand[rh[j].idx]];
					it->state = IT_DUPLICATE;
					it->reason = xasprintf("duplicate of %s (embedding)",
							       run->items[cand[rh[k].idx]].path);
					dups++;
					break;
				}
			}
			g = e;
		}
		free(rh);
		if (dups > 0) {
			size_t m = 0;
			for (size_t c = 0; c < n; c++) {
				if (run->items[cand[c]].state != IT_OK)
					continue;
				if (m != c)
					memmove(raw + m * run->d, raw + c * run->d, run->d * sizeof(double));
				cand[m++] = cand[c];
			}
			n = m;
		}
	}
	run->cand = cand;
	run->ncand = n;
	run->raw = raw;
	run->X = xcalloc_huge(n, run->d * sizeof(double));
	memcpy(run->X, raw, n * run->d * sizeof(double));
	if (cfg->normalize_embeddings) {
		run->r->counts.zero_rows = embed_normalize(run->X, n, run->d);
		if (run->r->counts.zero_rows > 0)
			run_log(run, LOG_LVL_WARNING, "%zu all-zero embedding rows stay zero",
				run->r->counts.zero_rows);
	}
	stage_end(run, STAGE_EMBEDDINGS, "%zu candidates x %zu dimensions (%s), %zu identical rows removed",
		  n, run->d, run->have_csv ? "CSV" : "built-in", dups);
	return 0;
}

/* ---- scores --------------------------------------------------------------- */

/* A read that failed for the disk or the network: a later attempt may succeed. */
static bool transient_io(const struct run *run, int rc)
{
	return rc == -EIO || dataset_transient(&run->ds, rc);
}

/* "docker.active_learning.task_name" or the plan entry's "selection.strategies[i].input.task". */
static const char *task_path(const struct run *run, const char *task, char *buf, size_t len)
{
	if (run->cfg->v4)
		for (size_t e = 0; e < run->plan->nentries; e++) {
			const char *t;
			if (inputs_entry_task(run, e, &t) && strcmp(t, task) == 0) {
				snprintf(buf, len, "selection.strategies[%zu].input.task", e);
				return buf;
			}
		}
	return "docker.active_learning.task_name";
}

/* Adds a task the selection reads (once), checked against tasks.json and typed by its schema. */
static int add_task(struct run *run, const char *name)
{
	struct task_schema schema;
	char err[1024], pb[64];
	const char *path = task_path(run, name, pb, sizeof(pb));
	int rc;

	for (size_t t = 0; t < run->ntask; t++)
		if (strcmp(run->task[t].name, name) == 0)
			return 0;
	if (run->tasks.n == 0) {
		rc = predict_list_tasks(&run->ds, &run->tasks, err, sizeof(err));
		if (rc == -ENOENT)
			return inputs_config_error(run, "%s: \"%s\" is not a prediction task: "
						   "the datasource has no .lightly/predictions/tasks.json",
						   path, name);
		if (rc < 0)
			return run_fail(run, rc, !transient_io(run, rc), "%s", err);
	}
	bool found = false;
	for (size_t i = 0; i < run->tasks.n; i++)
		found = found || strcmp(run->tasks.v[i], name) == 0;
	if (!found) {
		struct buf b = { 0 };
		for (size_t i = 0; i < run->tasks.n; i++)
			buf_printf(&b, "%s\"%s\"", i ? ", " : "", run->tasks.v[i]);
		inputs_config_error(run, "%s: \"%s\" is not a task of tasks.json (valid: %s)", path,
				    name, b.data ? b.data : "none");
		buf_free(&b);
		return -EINVAL;
	}
	rc = predict_load_schema(&run->ds, name, &schema, err, sizeof(err));
	if (rc < 0)
		return run_fail(run, rc, !transient_io(run, rc), "%s", err);
	run->task = xrealloc(run->task, (run->ntask + 1) * sizeof(*run->task));
	run->task[run->ntask++] = (struct run_task){ .name = name, .type = schema.type };
	task_schema_free(&schema);
	return 0;
}

/*
 * The tasks and score columns the selection reads, checked against the
 * datasource before any image is read: a 2.2 config's task (every score of
 * its type a column, the weighting score chosen), or every task a plan
 * names (the inputs' resolve adds the columns its SCORES entries name).
 */
static int resolve_tasks(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	int rc;

	run->wcol = -1;
	if (!cfg->v4 && cfg->al_task_name[0] != '\0') {
		if ((rc = add_task(run, cfg->al_task_name)) < 0)
			return rc;
		enum task_type type = run->task[0].type;
		const char *wname = cfg->al_score_name_given ? cfg->al_score_name
			: task_default_score(type);
		run->wcol = task_score_index(type, wname);
		if (run->wcol < 0) {
			struct buf b = { 0 };
			for (size_t i = 0; i < task_score_count(type); i++)
				buf_printf(&b, "%s\"%s\"", i ? ", " : "", task_score_name(type, i));
			inputs_config_error(run, "docker.active_learning.score_name: \"%s\" is not a score "
					    "of %s task \"%s\" (valid: %s)", wname, task_type_name(type),
					    cfg->al_task_name, b.data);
			buf_free(&b);
			return -EINVAL;
		}
		run->nscores = task_score_count(type);
		run->col = xcalloc(run->nscores, sizeof(*run->col));
		for (size_t j = 0; j < run->nscores; j++)
			run->col[j] = (struct score_col){ .task = 0, .score = (int)j,
							  .label = xstrdup(task_score_name(type, j)) };
		run->task[0].objfreq = type == TASK_OBJECT_DETECTION && cfg->scorer[0] != '\0';
		return 0;
	}
	for (size_t e = 0; cfg->v4 && e < run->plan->nentries; e++) {
		const char *t;
		if (inputs_entry_task(run, e, &t) && (rc = add_task(run, t)) < 0)
			return rc;
	}
	/* V4: the object-frequency scorer runs with its defaults on every detection task (2.1). */
	for (size_t t = 0; t < run->ntask; t++)
		run->task[t].objfreq = run->task[t].type == TASK_OBJECT_DETECTION;
	return 0;
}

/* The weighting score of a 2.2 config: its column of the score table. */
static void take_weights(struct run *run)
{
	free(run->w);
	run->w = NULL;
	if (run->wcol < 0 || run->scores == NULL)
		return;
	run->w = xcalloc(run->ncand ? run->ncand : 1, sizeof(double));
	for (size_t i = 0; i < run->ncand; i++)
		run->w[i] = run->scores[i * run->nscores + (size_t)run->wcol];
}

/* One task: its predictions loaded for the candidates, its score columns, its class vectors. */
static int score_task(struct run *run, size_t t, char **paths, const struct img_size *sizes,
		      int threads, size_t *nopred)
{
	const struct run_config *cfg = run->cfg;
	const struct run_task *rt = &run->task[t];
	struct task_preds preds;
	char err[2048];
	size_t n = run->ncand;
	int rc = predict_load_task(&run->ds, rt->name, paths, sizes, n, threads, &preds,
				   err, sizeof(err));

	if (rc < 0)
		return run_fail(run, rc, !transient_io(run, rc) && rc != -ENOMEM, "%s", err);
	if (!cfg->v4 && cfg->scorer[0] != '\0' && rt->type != TASK_OBJECT_DETECTION)
		run_log(run, LOG_LVL_INFO, "scorer \"%s\" is inactive on %s task \"%s\"", cfg->scorer,
			task_type_name(rt->type), rt->name);
	if (run->wcol >= 0 && rt->type == TASK_OBJECT_DETECTION && !rt->objfreq &&
	    strcmp(task_score_name(rt->type, run->wcol), "object_frequency") == 0)
		run_log(run, LOG_LVL_WARNING,
			"score object_frequency weights the selection but scorer is \"\": every weight is 0");

	/* Every score of the task's type, then the columns that come from it. */
	struct scorer_opts so = {
		.frequency_penalty = cfg->frequency_penalty,
		.min_score = cfg->min_score,
		.object_frequency = rt->objfreq,
	};
	size_t ns = task_score_count(rt->type);
	double *all = xcalloc(n ? n * ns : 1, sizeof(double));
	scorer_compute_mt(&preds, &so, all, threads);
	for (size_t c = 0; c < run->nscores; c++) {
		if (run->col[c].task != t)
			continue;
		for (size_t i = 0; i < n; i++)
			run->scores[i * run->nscores + c] = all[i * ns + (size_t)run->col[c].score];
	}
	free(all);

	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		np += preds.img[i].n == 0;
		if (preds.img[i].n == 0)
			run->nopred[i] = 1;
	}
	if (preds.files_ignored > 0)
		run_log(run, LOG_LVL_INFO, "task \"%s\": %zu prediction files of images that are not "
			"candidates ignored", rt->name, preds.files_ignored);
	if (np > 0)
		run_log(run, LOG_LVL_INFO, "task \"%s\": %zu candidates have no predictions (they score 0)",
			rt->name, np);
	*nopred = np > *nopred ? np : *nopred;
	rc = run->plan != NULL && run->cfg->v4 ? inputs_scores(run, t, &preds) : 0;
	task_preds_free_mt(&preds, threads);
	return rc;
}

static int stage_scores(struct run *run)
{
	size_t n = run->ncand, nopred = 0;
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	struct img_size *sizes = xcalloc(n ? n : 1, sizeof(*sizes));
	int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
	int rc = 0;

	stage_begin(run, STAGE_SCORES, n);
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &run->items[run->cand[i]];
		paths[i] = it->path;
		sizes[i].w = it->width;
		sizes[i].h = it->height;
	}
	free(run->scores);
	run->scores = xcalloc(n && run->nscores ? n * run->nscores : 1, sizeof(double));
	free(run->nopred);
	run->nopred = xcalloc(n ? n : 1, 1);
	for (size_t t = 0; t < run->ntask && rc == 0; t++)
		rc = score_task(run, t, paths, sizes, threads, &nopred);
	free(paths);
	free(sizes);
	if (rc < 0)
		return rc;
	run->r->counts.no_predictions = nopred;
	take_weights(run);
	if (run->ntask == 1)
		stage_end(run, STAGE_SCORES, "%zu candidates scored on %s task \"%s\" (%zu without predictions)",
			  n, task_type_name(run->task[0].type), run->task[0].name, nopred);
	else
		stage_end(run, STAGE_SCORES, "%zu candidates scored on %zu tasks (at most %zu without predictions)",
			  n, run->ntask, nopred);
	return 0;
}

/* ---- selection ---------------------------------------------------------- */

static int cmp_cand_name(const void *a, const void *b, void *ctx)
{
	const struct run *run = ctx;

	return strcmp(run->items[run->cand[*(const size_t *)a]].path,
		      run->items[run->cand[*(const size_t *)b]].path);
}

/*
 * The datapool's members among the candidates (SPEC 4.7): *pre gets n flags
 * (NULL when the run has no datapool). A member named twice counts once.
 * The selection is recomputed on every attempt from the datapool the caller
 * passes (it is not checkpointed), so a resumed run never reuses a selection
 * made against another membership.
 */
static int datapool_preselect(struct run *run, bool **pre)
{
	const struct pipeline_opts *o = run->o;
	struct pipeline_counts *c = &run->r->counts;
	size_t n = run->ncand, *byname;

	*pre = NULL;
	if (run->cfg->datapool_name == NULL)
		return 0;
	if (o->datapool_dim != 0 && run->ncand > 0 && o->datapool_dim != run->d)
		return run_fail(run, -EINVAL, true,
			    "datapool \"%s\" (%s): its rows have %zu dimensions, this run's embeddings %zu; "
			    "a datapool keeps one kind of embeddings",
			    run->cfg->datapool_name, o->datapool_label ? o->datapool_label : "",
			    o->datapool_dim, run->d);
	*pre = xcalloc(n ? n : 1, sizeof(bool));
	byname = xcalloc(n ? n : 1, sizeof(*byname));
	for (size_t i = 0; i < n; i++)
		byname[i] = i;
	qsort_r(byname, n, sizeof(*byname), cmp_cand_name, run);
	c->datapool_members = o->ndatapool;
	for (size_t m = 0; m < o->ndatapool; m++) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int cmp = strcmp(run->items[run->cand[byname[mid]]].path, o->datapool[m]);
			if (cmp < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && strcmp(run->items[run->cand[byname[lo]]].path, o->datapool[m]) == 0) {
			if (!(*pre)[byname[lo]])
				c->preselected++;
			(*pre)[byname[lo]] = true;
		} else {
			c->datapool_ignored++;
		}
	}
	free(byname);
	run_log(run, LOG_LVL_INFO, "datapool \"%s\": %zu members, %zu preselected (candidates of this run)",
		run->cfg->datapool_name, c->datapool_members, c->preselected);
	if (c->datapool_ignored > 0)
		run_log(run, LOG_LVL_NOTICE,
			"datapool \"%s\": %zu members ignored: not candidates of this run "
			"(absent, corrupt, duplicates or outside relevant_filenames_file)",
			run->cfg->datapool_name, c->datapool_ignored);
	return 0;
}

/* Why a fixed plan stopped (report.json's stop_reason). */
static const char *fixed_stop_reason(const struct run *run, size_t k, size_t pickable)
{
	const struct plan_entry *div = plan_find(run->plan, PLAN_STRATEGY_DIVERSITY);

	if (run->sel.n_method >= k && k < pickable)
		return engine_stop_name(ENGINE_STOP_BUDGET);
	if (run->sel.n >= pickable)
		return engine_stop_name(ENGINE_STOP_ALL_SELECTED);
	if (div != NULL && div->min_distance >= 0)
		return engine_stop_name(ENGINE_STOP_MIN_DISTANCE);
	return engine_stop_name(ENGINE_STOP_NONE_SELECTABLE);
}

/* A 2.2-era method: its fixed plan, by SPEC 4.6's own selector. */
static int select_fixed(struct run *run, const bool *pre, size_t k)
{
	const struct run_config *cfg = run->cfg;
	const struct method_row *row = method_row(cfg->method);
	size_t n = run->ncand;
	struct select_input in = {
		.X = run->X, .n = n, .d = run->d, .k = k,
		.min_distance = cfg->min_distance, .seed = cfg->seed,
		.w = run->w, .cancel = run->o->cancel, .preselected = pre,
	};
	int rc;

	if (row == NULL)
		return run_fail(run, -EINVAL, true, "unknown method");
	if (plan_find(run->plan, PLAN_STRATEGY_DIVERSITY) == NULL && cfg->min_distance >= 0)
		run_log(run, LOG_LVL_WARNING, "stopping_condition.min_distance is ignored by method %s",
			method_name(cfg->method));
	if ((rc = row->select(&in, &run->sel)) < 0)
		return rc;
	if (run->sel.fill_rest)
		run_log(run, LOG_LVL_INFO,
			"every candidate is selected: %zu by %s order, then %zu left at distance 0 in path order",
			run->sel.n_method, method_name(cfg->method), run->sel.n - run->sel.n_method);
	else if (cfg->min_distance < 0 && k >= n - run->r->counts.preselected)
		run_log(run, LOG_LVL_INFO, "every candidate is selected (%zu)",
			n - run->r->counts.preselected);
	size_t ne = run->plan->nentries;
	run->obj = xcalloc(run->sel.n && ne ? run->sel.n * ne : 1, sizeof(double));
	run->S = xcalloc(run->sel.n ? run->sel.n : 1, sizeof(double));
	method_objectives(run->plan, &run->sel, run->w, run->obj, run->S);
	run->stop_reason = fixed_stop_reason(run, k, n - run->r->counts.preselected);
	return 0;
}

/* ---- sequences (SPEC 3.1) ---------------------------------------------------- */

/* rows (n x d) -> out (m x d): each chunk's mean of its members' rows (member candidate indices). */
static double *chunk_means(const double *v, size_t d, const size_t *mem, size_t m, size_t L)
{
	double *out = xcalloc_huge(m ? m * d : 1, sizeof(double));

	for (size_t c = 0; c < m; c++) {
		double *o = out + c * d;
		for (size_t j = 0; j < L; j++)
			for (size_t t = 0; t < d; t++)
				o[t] += v[mem[c * L + j] * d + t];
		for (size_t t = 0; t < d; t++)
			o[t] /= (double)L;
	}
	return out;
}

/*
 * The candidates become chunks of L consecutive frame indices of a video
 * (0..L-1, L..2L-1, ...): a shorter last chunk and a chunk with a frame
 * that is not a candidate are dropped, images take no part. A chunk's row
 * is the mean of its frames' rows as the selection sees them (normalised
 * when normalize_embeddings), normalised again then; run->raw gets the mean
 * before that. Scores, computed metadata, weights and each plan entry's
 * values are the means of its frames' values (over the frames that have
 * one; none: no value), BALANCE's classes the sum of their vectors.
 */
static void sequences_make(struct run *run, struct engine_entry_input *eis)
{
	const size_t L = (size_t)run->cfg->sequence_length;
	size_t *item2cand = xcalloc(run->nitems ? run->nitems : 1, sizeof(*item2cand));
	size_t m = 0, cap = 0, *mem = NULL;

	run->seq_len = L;
	run->seq_frames = 0;
	for (size_t i = 0; i < run->nitems; i++)
		item2cand[i] = SIZE_MAX;
	for (size_t c = 0; c < run->ncand; c++) {
		item2cand[run->cand[c]] = c;
		if (run->items[run->cand[c]].video < 0)
			run->seq_images++;
	}
	for (size_t v = 0; v < run->nvideos; v++) {
		const struct run_video *rv = &run->videos[v];
		if (rv->st != VID_OK)
			continue;
		run->seq_short += rv->vi.nframes % L != 0;
		for (uint64_t s = 0; s + L <= rv->vi.nframes; s += L) {
			bool ok = true;
			for (size_t j = 0; j < L && ok; j++)
				ok = item2cand[rv->items[s + j]] != SIZE_MAX;
			if (!ok) {
				run->seq_not_cand++;
				continue;
			}
			if (m == cap) {
				cap = cap ? cap * 2 : 64;
				mem = xrealloc(mem, cap * L * sizeof(*mem));
			}
			for (size_t j = 0; j < L; j++)
				mem[m * L + j] = item2cand[rv->items[s + j]];
			m++;
		}
	}
	/* Chunks in the order of their first frame's name, as candidates are in path order. */
	size_t *order = xcalloc(m ? m : 1, sizeof(*order));
	for (size_t c = 0; c < m; c++)
		order[c] = c;
	for (size_t a = 1; a < m; a++) {	/* insertion sort on first-frame candidate index */
		size_t x = order[a], b = a;
		while (b > 0 && mem[order[b - 1] * L] > mem[x * L]) {
			order[b] = order[b - 1];
			b--;
		}
		order[b] = x;
	}
	size_t *sorted = xcalloc(m ? m * L : 1, sizeof(*sorted));
	for (size_t c = 0; c < m; c++)
		memcpy(sorted + c * L, mem + order[c] * L, L * sizeof(*mem));
	free(mem);
	free(order);
	mem = sorted;

	/* Rows. */
	double *X = chunk_means(run->X, run->d, mem, m, L);
	free(run->raw);
	run->raw = xcalloc_huge(m ? m * run->d : 1, sizeof(double));
	memcpy(run->raw, X, m * run->d * sizeof(double));
	if (run->cfg->normalize_embeddings)
		embed_normalize(X, m, run->d);
	free(run->X);
	run->X = X;
	/* Per-candidate tables. */
	if (run->scores != NULL && run->nscores > 0) {
		double *s = chunk_means(run->scores, run->nscores, mem, m, L);
		free(run->scores);
		run->scores = s;
	}
	if (run->w != NULL) {
		double *w = chunk_means(run->w, 1, mem, m, L);
		free(run->w);
		run->w = w;
	}
	if (run->cmeta != NULL) {
		double *cm = chunk_means(run->cmeta, META_COMPUTED_COUNT, mem, m, L);
		free(run->cmeta);
		run->cmeta = cm;
	}
	/* The plan's entries (inputs.h's arrays, replaced in place). */
	for (size_t e = 0; eis != NULL && e < run->plan->nentries; e++) {
		struct entry_data *ed = &run->ed[e];
		struct engine_entry_input *ei = &ed->ein;
		if (ei->value != NULL) {
			double *val = xcalloc(m ? m : 1, sizeof(double));
			bool *has = ei->has_value ? xcalloc(m ? m : 1, sizeof(bool)) : NULL;
			for (size_t c = 0; c < m; c++) {
				size_t k = 0;
				for (size_t j = 0; j < L; j++) {
					size_t f = mem[c * L + j];
					if (ei->has_value && !ei->has_value[f])
						continue;
					val[c] += ei->value[f];
					k++;
				}
				val[c] = k ? val[c] / (double)k : 0;
				if (has)
					has[c] = k > 0;
			}
			free(ed->value);
			free(ed->has_value);
			ed->value = val;
			ed->has_value = has;
			ei->value = val;
			ei->has_value = has;
		}
		if (ei->class_idx != NULL || ei->class_vec != NULL) {
			size_t nc = ei->nclasses;
			double *cv = xcalloc(m && nc ? m * nc : 1, sizeof(double));
			for (size_t c = 0; c < m; c++) {
				for (size_t j = 0; j < L; j++) {
					size_t f = mem[c * L + j];
					if (ei->class_idx != NULL) {
						if (ei->class_idx[f] >= 0)
							cv[c * nc + (size_t)ei->class_idx[f]] += 1;
					} else {
						for (size_t t = 0; t < nc; t++)
							cv[c * nc + t] += ei->class_vec[f * nc + t];
					}
				}
			}
			free(ed->class_idx);
			free(ed->class_vec);
			ed->class_idx = NULL;
			ed->class_vec = cv;
			ei->class_idx = NULL;
			ei->class_vec = cv;
		}
		ei->m = NULL;	/* TYPICALITY's m_i: on the chunks' rows, by the strategy */
		eis[e] = *ei;
	}
	/* The chunks are the candidates now, each named by its first frame. */
	run->chunk_items = xcalloc(m ? m * L : 1, sizeof(*run->chunk_items));
	for (size_t c = 0; c < m * L; c++)
		run->chunk_items[c] = run->cand[mem[c]];
	run->seq_frames = run->ncand;
	for (size_t c = 0; c < m; c++)
		run->cand[c] = run->chunk_items[c * L];
	run->ncand = m;
	free(mem);
	free(item2cand);
	run_log(run, LOG_LVL_INFO,
		"sequences of %zu frames: %zu chunks of %zu candidate frames; dropped: %zu shorter last chunks, "
		"%zu holding a frame that is not a candidate; %zu images take no part",
		L, m, run->seq_frames, run->seq_short, run->seq_not_cand, run->seq_images);
}

/* A V4 plan: its inputs prepared (eis, taken), then the engine (SPEC 4.8). */
static int select_plan(struct run *run, const bool *pre, struct engine_entry_input *eis)
{
	const struct plan *p = run->plan;
	const struct plan_entry *typ = plan_find(p, PLAN_STRATEGY_TYPICALITY);
	struct engine_result *er = &run->er;
	size_t n = run->ncand, ne = p->nentries;
	int rc;

	if (typ != NULL)
		run_log(run, LOG_LVL_INFO, "typicality: exact %u-nearest neighbours of up to %zu candidates "
			"x %zu dimensions, about %.3g distance terms", typ->num_nearest_neighbors, n,
			run->d, (double)n * (double)n * (double)run->d);
	struct engine_inputs in = {
		.n = n, .d = run->d, .X = run->X, .preselected = pre, .entries = eis,
		.k = p->budget == PLAN_BUDGET_COUNT ? plan_budget_k(p, n) : SIZE_MAX,
		.threads = run->o->threads, .cancel = run->o->cancel,
	};
	rc = engine_run(p, &in, er);
	free(eis);
	if (rc < 0)
		return rc;
	selection_init(&run->sel, er->npicks);
	run->obj = xcalloc(er->npicks && ne ? er->npicks * ne : 1, sizeof(double));
	run->S = xcalloc(er->npicks ? er->npicks : 1, sizeof(double));
	for (size_t i = 0; i < er->npicks; i++) {
		run->sel.idx[i] = er->idx[i];
		run->sel.dist[i] = er->dist[i];
		run->S[i] = er->score[i];
		for (size_t e = 0; e < ne; e++)
			run->obj[i * ne + e] = NAN;
		for (size_t j = 0; j < er->nobj; j++)
			run->obj[i * ne + er->obj_entry[j]] = er->objective[i * er->nobj + j];
	}
	run->sel.n = run->sel.n_method = er->npicks;
	run->stop_reason = engine_stop_name(er->stop_reason);
	run->balance = er->balance;
	run->nbalance = er->nbalance;
	if (er->ncandidates < n)
		run_log(run, LOG_LVL_INFO, "thresholds: %zu of %zu candidates left", er->ncandidates, n);
	return 0;
}

static int stage_selection(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	const struct plan *p = run->plan;
	struct engine_entry_input *eis = NULL;
	bool *pre = NULL;
	int rc;

	stage_begin(run, STAGE_SELECTION, run->ncand);
	/* A plan's inputs are read per frame, then (sequences) made per chunk. */
	if (!p->from_method && (rc = inputs_prepare(run, &eis)) < 0)
		return rc;
	if (cfg->sequence_length > 1)
		sequences_make(run, eis);
	size_t n = run->ncand, k = p->from_method ? config_budget(cfg, n) : plan_budget_k(p, n);
	if ((rc = datapool_preselect(run, &pre)) < 0) {
		free(eis);
		return rc;
	}
	rc = p->from_method ? select_fixed(run, pre, k) : select_plan(run, pre, eis);
	free(pre);
	if (rc == -ECANCELED || run->r->error[0] != '\0')
		return rc;
	if (rc < 0)
		return run_fail(run, rc, false, "selection failed: %s", strerror(-rc));
	run->r->counts.selected = run->sel.n;
	const char *what = p->from_method ? method_name(cfg->method) : "selection plan";
	bool nobudget = p->from_method ? k == SIZE_MAX : p->budget == PLAN_BUDGET_NONE;
	if (cfg->datapool_name != NULL)
		stage_end(run, STAGE_SELECTION, "%zu of %zu candidates selected, %zu preselected from datapool \"%s\" (%s%s, stop: %s)",
			  run->sel.n, n, run->r->counts.preselected, cfg->datapool_name,
			  what, nobudget ? ", no budget" : "", run->stop_reason);
	else
		stage_end(run, STAGE_SELECTION, "%zu of %zu candidates selected (%s%s, stop: %s)", run->sel.n, n,
			  what, nobudget ? ", no budget" : "", run->stop_reason);
	return 0;
}

/* ---- results ------------------------------------------------------------ */

/* The selected frames as PNG under <run dir>/frames/ (SPEC 3.1): one more decode per video. */
struct png_ctx {
	struct run *run;
	struct run_video *rv;
	const uint8_t *want;	/* per frame */
	int rc;
};

static void png_frame_cb(void *ud, const struct video_frame *f)
{
	struct png_ctx *pc = ud;

	if (f->corrupt || !pc->want[f->index] || pc->rc < 0)
		return;
	const char *name = pc->run->items[pc->rv->items[f->index]].path;
	char *path = xasprintf("%s/frames/%s", pc->run->o->run_dir, name);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	int rc = mkdir_p(path, 0755);
	*slash = '/';
	if (rc == 0)
		rc = image_write_png(path, f->rgb, f->stride, f->w, f->h);
	if (rc < 0)
		pc->rc = rc;
	free(path);
}

static void png_one(size_t v, int tid, void *ud)
{
	struct run *run = ud;
	struct run_video *rv = &run->videos[v];
	struct png_ctx pc = { .run = run, .rv = rv };
	char reason[160];
	int io_rc = 0;

	if (rv->st != VID_OK || rv->selected == 0)
		return;
	uint8_t *want = xcalloc(rv->vi.nframes, 1);
	for (size_t i = 0; i < run->nsel_items; i++) {
		const struct item *it = &run->items[run->sel_items[i]];
		if (it->video == (int32_t)v)
			want[it->frame] = 1;
	}
	pc.want = want;
	enum video_status st = video_decode(&run->ds, rv->path, &rv->vi, run->cfg->max_pixels, 0,
					    run->o->cancel, png_frame_cb, &pc, reason, sizeof(reason),
					    &io_rc);
	if (st != VID_OK || pc.rc < 0)
		rv->io_rc = pc.rc < 0 ? pc.rc : io_rc ? io_rc : -EIO;
	free(want);
}

static int write_frames(struct run *run)
{
	size_t nsel = 0;

	for (size_t i = 0; i < run->nsel_items; i++) {
		const struct item *it = &run->items[run->sel_items[i]];
		if (it->video >= 0) {
			run->videos[it->video].selected++;
			nsel++;
		}
	}
	if (nsel == 0)
		return 0;
	int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
	if (pool_for(run->nvideos, threads, png_one, run, run->o->cancel) < 0)
		return -ECANCELED;
	for (size_t v = 0; v < run->nvideos; v++) {
		if (run->videos[v].st == VID_OK && run->videos[v].io_rc != 0)
			return run_fail(run, run->videos[v].io_rc, false, "writing the frames of %s: %s",
				    run->videos[v].path, strerror(-run->videos[v].io_rc));
	}
	run_log(run, LOG_LVL_INFO, "%zu selected frames written to %s/frames/", nsel, run->o->run_dir);
	return 0;
}

static int stage_results(struct run *run)
{
	char **names;
	int rc;

	stage_begin(run, STAGE_RESULTS, 0);
	size_t L = run->seq_len > 1 ? run->seq_len : 1;
	run->sel_items = xcalloc(run->sel.n ? run->sel.n * L : 1, sizeof(*run->sel_items));
	for (size_t i = 0; i < run->sel.n; i++)
		for (size_t j = 0; j < L; j++)
			run->sel_items[run->nsel_items++] = L > 1 ? run->chunk_items[run->sel.idx[i] * L + j]
				: run->cand[run->sel.idx[i]];
	names = xcalloc(run->ncand ? run->ncand : 1, sizeof(*names));
	for (size_t i = 0; i < run->ncand; i++)
		names[i] = run->items[run->cand[i]].path;

	if ((rc = report_write_outputs(run, names)) < 0)
		goto out;
	if (run->nvideos > 0 && (rc = write_frames(run)) < 0)
		goto out;
	stage_end(run, STAGE_RESULTS, "written to %s", run->o->run_dir);
	rc = report_write_json(run);
	if (rc == 0 && run->o->ev != NULL && run->o->ev->selected != NULL) {
		char **picks = xcalloc(run->sel.n ? run->sel.n : 1, sizeof(*picks));
		double *rows = xcalloc(run->sel.n ? run->sel.n * run->d : 1, sizeof(double));
		for (size_t i = 0; i < run->sel.n; i++) {
			picks[i] = names[run->sel.idx[i]];
			memcpy(rows + i * run->d, run->raw + run->sel.idx[i] * run->d,
			       run->d * sizeof(double));
		}
		run->o->ev->selected(run->o->ud, picks, rows, run->sel.n, run->d);
		free(picks);
		free(rows);
	}
out:
	free(names);
	return rc;
}

/* ---- the runner ---------------------------------------------------------- */

static int prepare_dir(struct run *run)
{
	static const char *const subdirs[] = { "filenames", "data" };
	int rc = mkdir_p(run->o->run_dir, 0755);

	if (rc < 0)
		return run_fail(run, rc, false, "output folder %s: %s", run->o->run_dir, strerror(-rc));
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		char *p = xasprintf("%s/%s", run->o->run_dir, subdirs[i]);
		rc = mkdir_p(p, 0755);
		free(p);
		if (rc < 0)
			return run_fail(run, rc, false, "output folder %s: %s", run->o->run_dir, strerror(-rc));
	}
	char *lp = xasprintf("%s/log.txt", run->o->run_dir);
	run->log = fopen(lp, "a");
	free(lp);
	if (run->log == NULL)
		return run_fail(run, -errno, false, "%s/log.txt: %s", run->o->run_dir, strerror(errno));
	return 0;
}

static void count_items(struct run *run)
{
	struct pipeline_counts *c = &run->r->counts;

	c->excluded = run->ds.nexcluded;
	c->corrupt = c->duplicates = 0;
	for (size_t i = 0; i < run->nitems; i++) {
		switch (run->items[i].state) {
		case IT_CORRUPT: c->corrupt++; break;
		case IT_EXCLUDED: c->excluded++; break;
		case IT_DUPLICATE: c->duplicates++; break;
		case IT_OK: break;
		}
	}
	c->candidates = run->ncand;
}

/*
 * The candidates' computed metadata, ncand x META_COMPUTED_COUNT, for the
 * selection (SPEC 4.8 METADATA inputs on lightly.* keys).
 */
static void keep_computed_meta(struct run *run)
{
	run->cmeta = xcalloc(run->ncand ? run->ncand * META_COMPUTED_COUNT : 1, sizeof(double));
	for (size_t c = 0; c < run->ncand; c++) {
		const struct item *it = &run->items[run->cand[c]];
		struct img_meta m = it->meta;

		m.size_bytes = it->size;
		for (int k = 0; k < META_COMPUTED_COUNT; k++)
			run->cmeta[c * META_COMPUTED_COUNT + k] =
				metadata_computed_value(k, &m, it->width, it->height);
	}
	const struct pipeline_events *ev = run->o->ev;
	if (ev == NULL || ev->computed_meta == NULL)
		return;
	char **names = xcalloc(run->ncand ? run->ncand : 1, sizeof(*names));
	for (size_t c = 0; c < run->ncand; c++)
		names[c] = run->items[run->cand[c]].path;
	ev->computed_meta(run->o->ud, names, run->cmeta, run->ncand);
	free(names);
}

int pipeline_run(const struct pipeline_opts *o, struct pipeline_result *r)
{
	struct run run = { .o = o, .cfg = o->cfg, .r = r };
	double t0 = now_seconds();
	int rc;

	memset(r, 0, sizeof(*r));
	r->resumed_after = -1;
	pthread_mutex_init(&run.lock, NULL);
	atomic_init(&run.done, 0);
	atomic_init(&run.io_rc, 0);
	if ((rc = prepare_dir(&run)) < 0)
		goto out;
	run.plan = config_plan(o->cfg);
	for (size_t e = 0; e < run.plan->nentries; e++) {
		const struct plan_entry *pe = &run.plan->entries[e];
		int m = pe->input == PLAN_INPUT_METADATA ? metadata_computed_parse(pe->key) : -1;
		run.want_meta = run.want_meta || (m >= 0 && metadata_computed_from_pixels(m));
	}
	run_log(&run, LOG_LVL_INFO, "run started: %s%s, input %s", run.plan->from_method ? "method " : "",
		run.plan->from_method ? method_name(o->cfg->method) : "selection plan (V4)", o->input);
	for (size_t i = 0; i < o->cfg->warnings.n; i++)
		run_log(&run, LOG_LVL_WARNING, "%s", o->cfg->warnings.v[i]);

	if ((rc = stage_listing(&run)) < 0)
		goto out;
	/* A wrong task, score, metadata key or query tag fails before any image is read. */
	if ((rc = resolve_tasks(&run)) < 0)
		goto out;
	if (o->cfg->v4 && (rc = inputs_resolve(&run)) < 0)
		goto out;
	int done = -1;	/* the last stage a checkpoint covers */
	if (o->resume) {
		ckpt_hashes(&run);
		done = ckpt_load(&run);
	}
	r->resumed_after = done;
	if (!run.emb_only) {
		if (done < STAGE_IMAGES) {
			if ((rc = stage_images(&run)) < 0)
				goto out;
			ckpt_save(&run, STAGE_IMAGES);
		}
		if (o->cfg->remove_exact_duplicates && done < STAGE_DUPLICATES) {
			if ((rc = stage_byte_duplicates(&run)) < 0)
				goto out;
			ckpt_save(&run, STAGE_DUPLICATES);
		}
	}
	if (cancelled(&run)) {
		rc = -ECANCELED;
		goto out;
	}
	if (done < STAGE_EMBEDDINGS) {
		if ((rc = stage_embeddings(&run)) < 0)
			goto out;
		ckpt_save(&run, STAGE_EMBEDDINGS);
	}
	count_items(&run);
	keep_computed_meta(&run);
	if (run.ntask > 0 && done < STAGE_SCORES) {
		if ((rc = stage_scores(&run)) < 0)
			goto out;
		ckpt_save(&run, STAGE_SCORES);
	} else if (run.ntask > 0) {
		take_weights(&run);
	}
	if ((rc = stage_selection(&run)) < 0)
		goto out;
	if (cancelled(&run)) {
		rc = -ECANCELED;
		goto out;
	}
	r->total_seconds = now_seconds() - t0;
	rc = stage_results(&run);
out:
	/* Checkpoints only serve a retry: a finished or hopeless run drops them. */
	if (o->resume && (rc == 0 || (rc < 0 && rc != -ECANCELED && r->permanent)))
		ckpt_remove_all(&run);
	r->total_seconds = now_seconds() - t0;
	if (rc == -ECANCELED) {
		snprintf(r->error, sizeof(r->error), "cancelled");
		run_log(&run, LOG_LVL_WARNING, "run cancelled");
	} else if (rc < 0) {
		run_log(&run, LOG_LVL_ERR, "run failed: %s", r->error);
	} else {
		run_log(&run, LOG_LVL_INFO, "run completed in %.3f s: %zu selected of %zu candidates",
			r->total_seconds, r->counts.selected, r->counts.candidates);
	}
	if (run.log != NULL)
		fclose(run.log);
	for (size_t i = 0; i < run.nitems; i++)
		free(run.items[i].reason);
	free(run.items);
	for (size_t v = 0; v < run.nvideos; v++) {
		video_info_free(&run.videos[v].vi);
		free(run.videos[v].items);
	}
	free(run.videos);
	strvec_free(&run.frame_names);
	free(run.chunk_items);
	free(run.sel_items);
	free(run.desc);
	free(run.cand);
	free(run.cmeta);
	free(run.raw);
	free(run.X);
	free(run.scores);
	free(run.nopred);
	free(run.w);
	for (size_t c = 0; c < run.nscores; c++)
		free(run.col[c].label);
	free(run.col);
	free(run.task);
	inputs_free(&run);
	free(run.obj);
	free(run.S);
	engine_result_free(&run.er);
	strvec_free(&run.tasks);
	selection_free(&run.sel);
	if (run.have_csv)
		emb_table_free(&run.csv);
	if (run.have_ds)
		dataset_close(&run.ds);
	pthread_mutex_destroy(&run.lock);
	return rc;
}
