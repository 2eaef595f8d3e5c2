/*
 * pipeline: the stage runner of SPEC 4 on a LOCAL or S3 datasource (the
 * difference stays in lib/dataset.c; here only the image pass starts S3's
 * prefetch, and an S3 read that fails for the network fails the run).
 *
 * DESIGN: the run holds one table of items (the listed images in path order)
 * and narrows it stage by stage: corrupt and unsupported files drop out in the
 * image pass, copies in the duplicate stage, identical rows in the embedding
 * stage. What is left are the candidates, in path order, and every later index
 * refers to them. The image pass reads each file once and does everything that
 * needs its bytes (check, hash, descriptor) while they are in memory; only a
 * hash collision reads a file again, to compare bytes.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
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

#include <cjson/cJSON.h>

#include "dataset.h"
#include "dconv.h"
#include "embed.h"
#include "image.h"
#include "pool.h"
#include "predict.h"
#include "scorers/scorer.h"
#include "selectors/selector.h"
#include "util.h"

#include "version.h"
#define WINNOW_VERSION_STR WINNOW_VERSION
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

enum item_state { IT_OK, IT_CORRUPT, IT_EXCLUDED, IT_DUPLICATE };

struct item {
	char *path;		/* borrowed from the dataset or the CSV table */
	enum item_state state;
	char *reason;		/* owned; for corrupt, excluded and duplicate */
	XXH128_hash_t hash;
	uint64_t size;
	uint32_t width, height;	/* from the header; 0 when unknown */
};

struct run {
	const struct pipeline_opts *o;
	const struct run_config *cfg;
	struct pipeline_result *r;
	FILE *log;
	pthread_mutex_t lock;	/* serialises log and progress from the pool */
	struct dataset ds;
	bool have_ds;
	struct emb_table csv;
	bool have_csv, emb_only;
	struct item *items;
	size_t nitems;
	double *desc;		/* nitems x DESC_DIM, built-in descriptor */
	atomic_size_t done;
	atomic_int io_rc;	/* S3: a read failed for the network; the run fails */
	enum stage cur;
	/* candidates, after the duplicate stages */
	size_t *cand;		/* item index of each candidate, path order */
	size_t ncand;
	size_t d;
	double *raw;		/* ncand x d, as read or computed */
	double *X;		/* ncand x d, normalised when configured */
	struct selection sel;
	double stage_t0;
	/* scores (SPEC 4.4, 4.5), when active_learning.task_name is set */
	struct strvec tasks;	/* tasks.json */
	enum task_type task_type;
	const char *score_name;	/* the weighting score */
	size_t nscores;		/* columns */
	double *scores;		/* ncand x nscores */
	double *w;		/* ncand weights, or NULL */
	/* checkpoints (opts.resume) */
	XXH128_hash_t cfg_hash, list_hash, csv_hash;
	uint64_t images_sum;	/* checksum of the valid images checkpoint, 0: none */
};

static void run_log(struct run *run, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void run_log(struct run *run, enum log_level lvl, const char *fmt, ...)
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

/* Records a failure; returns rc so callers can `return fail(...)`. */
static int fail(struct run *run, int rc, bool permanent, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct run *run, int rc, bool permanent, const char *fmt, ...)
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

static int stage_listing(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	char err[1024];
	int rc;

	stage_begin(run, STAGE_LISTING, 0);
	rc = dataset_open_url(&run->ds, run->o->input, run->o->s3, err, sizeof(err));
	if (rc < 0)
		return fail(run, rc, true, "%s", err);
	run->have_ds = true;
	rc = dataset_list(&run->ds, cfg->relevant_filenames_file, err, sizeof(err));
	/* A missing root or bucket and refused credentials are permanent, the network is not. */
	if (rc < 0)
		return fail(run, rc, dataset_list_permanent(&run->ds, rc), "%s", err);
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
			fail(run, rc, rc == -ENOENT || rc == -EXDEV,
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
			return fail(run, rc, rc == -EINVAL, "embeddings CSV %s", err);
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
		for (size_t i = 0; i < run->csv.n; i++)
			run->items[i].path = run->csv.names[run->csv.order[i]];
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
			return fail(run, -ENOENT, true,
				    "no images found in %s: relevant_filenames_file %s matches none of its %zu",
				    run->o->input, cfg->relevant_filenames_file, run->ds.relevant_skipped);
		if (run->ds.files.n == 0)
			return fail(run, -ENOENT, true, "no images found in %s", run->o->input);
		run->nitems = run->ds.files.n;
		run->items = xcalloc(run->nitems, sizeof(*run->items));
		for (size_t i = 0; i < run->nitems; i++)
			run->items[i].path = run->ds.files.v[i];
	}
	run->r->counts.listed = run->nitems + run->ds.nexcluded;
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
		enum img_status st = image_check(buf, len, image_format_from_name(it->path),
						 cfg->max_pixels, want_desc ? &thumb : NULL, &res);
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
		}
	}
done:
	free(buf);
	size_t d = atomic_fetch_add(&run->done, 1) + 1;
	if (d % 32 == 0 || d == run->nitems)
		progress(run, d, run->nitems);
}

static int stage_images(struct run *run)
{
	size_t corrupt = 0, excluded = 0;

	stage_begin(run, STAGE_IMAGES, run->nitems);
	if (!run->have_csv)
		run->desc = xcalloc(run->nitems, DESC_DIM * sizeof(double));
	int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
	char **paths = xcalloc(run->nitems ? run->nitems : 1, sizeof(*paths));
	for (size_t i = 0; i < run->nitems; i++)
		paths[i] = run->items[i].path;
	if (dataset_prefetch_start(&run->ds, paths, run->nitems) < 0)
		run_log(run, LOG_LVL_WARNING, "cannot start the prefetch: reading one at a time");
	int prc = pool_for(run->nitems, threads, image_one, run, run->o->cancel);
	dataset_prefetch_stop(&run->ds);
	free(paths);
	if (prc < 0)
		return -ECANCELED;
	int io = atomic_load(&run->io_rc);
	if (io != 0) {
		char msg[1024];
		return fail(run, io, false, "reading the images: %s",
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
	for (size_t i = 0; i < run->nitems; i++)
		if (run->items[i].state == IT_OK)
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
	double *raw = xcalloc_huge(n, run->d * sizeof(double));
	if (run->have_csv) {
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
			fail(run, -EINVAL, true, "embeddings CSV %s: no row for %zu candidates: %s%s",
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
		for (size_t c = 0; c < n; c++)
			memcpy(raw + c * run->d, run->desc + cand[c] * DESC_DIM, DESC_DIM * sizeof(double));
		free(run->desc);
		run->desc = NULL;
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

/* Checks the task and score names against tasks.json and the task's type. */
static int resolve_task(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	struct task_schema schema;
	char err[1024];
	int rc = predict_list_tasks(&run->ds, &run->tasks, err, sizeof(err));

	run->r->config_error = rc == -ENOENT;
	if (rc == -ENOENT)
		return fail(run, rc, true,
			    "docker.active_learning.task_name: \"%s\" is not a prediction task: "
			    "the datasource has no .lightly/predictions/tasks.json", cfg->al_task_name);
	if (rc < 0)
		return fail(run, rc, !transient_io(run, rc), "%s", err);
	bool found = false;
	for (size_t i = 0; i < run->tasks.n; i++)
		found = found || strcmp(run->tasks.v[i], cfg->al_task_name) == 0;
	if (!found) {
		struct buf b = { 0 };
		run->r->config_error = true;
		for (size_t i = 0; i < run->tasks.n; i++)
			buf_printf(&b, "%s\"%s\"", i ? ", " : "", run->tasks.v[i]);
		fail(run, -EINVAL, true,
		     "docker.active_learning.task_name: \"%s\" is not a task of tasks.json (valid: %s)",
		     cfg->al_task_name, b.data ? b.data : "none");
		buf_free(&b);
		return -EINVAL;
	}
	rc = predict_load_schema(&run->ds, cfg->al_task_name, &schema, err, sizeof(err));
	if (rc < 0)
		return fail(run, rc, !transient_io(run, rc), "%s", err);
	run->task_type = schema.type;
	task_schema_free(&schema);
	run->nscores = task_score_count(run->task_type);
	run->score_name = cfg->al_score_name_given ? cfg->al_score_name
		: task_default_score(run->task_type);
	if (task_score_index(run->task_type, run->score_name) < 0) {
		struct buf b = { 0 };
		run->r->config_error = true;
		for (size_t i = 0; i < run->nscores; i++)
			buf_printf(&b, "%s\"%s\"", i ? ", " : "", task_score_name(run->task_type, i));
		fail(run, -EINVAL, true,
		     "docker.active_learning.score_name: \"%s\" is not a score of %s task \"%s\" (valid: %s)",
		     run->score_name, task_type_name(run->task_type), cfg->al_task_name, b.data);
		buf_free(&b);
		return -EINVAL;
	}
	return 0;
}

static int stage_scores(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	struct task_preds preds;
	char err[2048];
	size_t n = run->ncand;
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	struct img_size *sizes = xcalloc(n ? n : 1, sizeof(*sizes));
	int rc;

	stage_begin(run, STAGE_SCORES, n);
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &run->items[run->cand[i]];
		paths[i] = it->path;
		sizes[i].w = it->width;
		sizes[i].h = it->height;
	}
	int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
	rc = predict_load_task(&run->ds, cfg->al_task_name, paths, sizes, n, threads, &preds,
			       err, sizeof(err));
	free(paths);
	free(sizes);
	if (rc < 0)
		return fail(run, rc, !transient_io(run, rc) && rc != -ENOMEM, "%s", err);

	bool objfreq = run->task_type == TASK_OBJECT_DETECTION && cfg->scorer[0] != '\0';
	if (cfg->scorer[0] != '\0' && run->task_type != TASK_OBJECT_DETECTION)
		run_log(run, LOG_LVL_INFO, "scorer \"%s\" is inactive on %s task \"%s\"", cfg->scorer,
			task_type_name(run->task_type), cfg->al_task_name);
	if (run->task_type == TASK_OBJECT_DETECTION && !objfreq &&
	    strcmp(run->score_name, "object_frequency") == 0)
		run_log(run, LOG_LVL_WARNING,
			"score object_frequency weights the selection but scorer is \"\": every weight is 0");
	struct scorer_opts so = {
		.frequency_penalty = cfg->frequency_penalty,
		.min_score = cfg->min_score,
		.object_frequency = objfreq,
	};
	run->scores = xcalloc(n ? n * run->nscores : 1, sizeof(double));
	scorer_compute_mt(&preds, &so, run->scores, threads);

	size_t nopred = 0;
	for (size_t i = 0; i < n; i++)
		if (preds.img[i].n == 0)
			nopred++;
	run->r->counts.no_predictions = nopred;
	if (preds.files_ignored > 0)
		run_log(run, LOG_LVL_INFO, "%zu prediction files of images that are not candidates ignored",
			preds.files_ignored);
	if (nopred > 0)
		run_log(run, LOG_LVL_INFO, "%zu candidates have no predictions (they score 0)", nopred);
	task_preds_free_mt(&preds, threads);

	int col = task_score_index(run->task_type, run->score_name);
	run->w = xcalloc(n ? n : 1, sizeof(double));
	for (size_t i = 0; i < n; i++)
		run->w[i] = run->scores[i * run->nscores + (size_t)col];
	stage_end(run, STAGE_SCORES, "%zu candidates scored on %s task \"%s\" (%zu without predictions)",
		  n, task_type_name(run->task_type), cfg->al_task_name, nopred);
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
		return fail(run, -EINVAL, true,
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

static int stage_selection(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	size_t n = run->ncand, k = config_budget(cfg, n);
	struct select_input in = {
		.X = run->X, .n = n, .d = run->d, .k = k,
		.min_distance = cfg->min_distance, .seed = cfg->seed,
		.w = run->w, .cancel = run->o->cancel,
	};
	bool *pre = NULL;
	int rc;

	stage_begin(run, STAGE_SELECTION, n);
	if ((rc = datapool_preselect(run, &pre)) < 0)
		return rc;
	in.preselected = pre;
	if ((cfg->method == METHOD_RANDOM || cfg->method == METHOD_ACTIVE_LEARNING) &&
	    cfg->min_distance >= 0)
		run_log(run, LOG_LVL_WARNING, "stopping_condition.min_distance is ignored by method %s",
			method_name(cfg->method));
	switch (cfg->method) {
	case METHOD_RANDOM:
		rc = random_select(&in, &run->sel);
		break;
	case METHOD_CORESET:
		rc = coreset_select(&in, &run->sel);
		break;
	case METHOD_CORAL:
		rc = coral_select(&in, &run->sel);
		break;
	case METHOD_ACTIVE_LEARNING:
		rc = topk_select(&in, &run->sel);
		break;
	default:
		free(pre);
		return fail(run, -EINVAL, true, "unknown method");
	}
	free(pre);
	if (rc == -ECANCELED)
		return rc;
	if (rc < 0)
		return fail(run, rc, false, "selection failed: %s", strerror(-rc));
	if (run->sel.fill_rest)
		run_log(run, LOG_LVL_INFO,
			"every candidate is selected: %zu by %s order, then %zu left at distance 0 in path order",
			run->sel.n_method, method_name(cfg->method), run->sel.n - run->sel.n_method);
	else if (cfg->min_distance < 0 && k >= n - run->r->counts.preselected)
		run_log(run, LOG_LVL_INFO, "every candidate is selected (%zu)",
			n - run->r->counts.preselected);
	run->r->counts.selected = run->sel.n;
	if (cfg->datapool_name != NULL)
		stage_end(run, STAGE_SELECTION, "%zu of %zu candidates selected, %zu preselected from datapool \"%s\" (%s%s)",
			  run->sel.n, n, run->r->counts.preselected, cfg->datapool_name,
			  method_name(cfg->method), k == SIZE_MAX ? ", no budget" : "");
	else
		stage_end(run, STAGE_SELECTION, "%zu of %zu candidates selected (%s%s)", run->sel.n, n,
			  method_name(cfg->method),
			  k == SIZE_MAX ? ", no budget" : "");
	return 0;
}

/* ---- results ------------------------------------------------------------ */

static FILE *open_out(struct run *run, const char *rel)
{
	char *path = xasprintf("%s/%s", run->o->run_dir, rel);
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fail(run, -errno, false, "%s: %s", path, strerror(errno));
	free(path);
	return f;
}

static int close_out(struct run *run, FILE *f, const char *rel)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad)
		return fail(run, -EIO, false, "%s/%s: write failed", run->o->run_dir, rel);
	return 0;
}

static int write_tsv(struct run *run, const char *rel, enum item_state want, bool with_ds_excluded)
{
	FILE *f = open_out(run, rel);
	size_t i = 0, j = 0;

	if (f == NULL)
		return -EIO;
	/* Merge the listing's exclusions and the items', both in path order. */
	for (;;) {
		const char *ip = NULL, *ep = NULL;
		while (i < run->nitems && run->items[i].state != want)
			i++;
		if (i < run->nitems)
			ip = run->items[i].path;
		if (with_ds_excluded && j < run->ds.nexcluded)
			ep = run->ds.excluded[j].path;
		if (ip == NULL && ep == NULL)
			break;
		if (ep != NULL && (ip == NULL || strcmp(ep, ip) < 0)) {
			fprintf(f, "%s\t%s\n", ep, run->ds.excluded[j].reason);
			j++;
		} else {
			fprintf(f, "%s\t%s\n", ip, run->items[i].reason);
			i++;
		}
	}
	return close_out(run, f, rel);
}

static void fmt_double(char *out, size_t len, double v)
{
	if (isnan(v))
		out[0] = '\0';
	else if (len >= DCONV_BUFLEN)
		dconv_format(v, out);
	else
		snprintf(out, len, "%.17g", v);
}

/* ",<v>" as printf("%.17g") prints v, at a fraction of its cost (1,000,000-row outputs). */
static void put_number(FILE *f, double v)
{
	char s[DCONV_BUFLEN + 1];

	s[0] = ',';
	fwrite(s, 1, dconv_format(v, s + 1) + 1, f);
}

static cJSON *report_json(struct run *run)
{
	const struct pipeline_counts *c = &run->r->counts;
	cJSON *root = cJSON_CreateObject();
	cJSON *counts, *stages, *warn;

	cJSON_AddStringToObject(root, "version", WINNOW_VERSION_STR);
	cJSON_AddItemToObject(root, "config", cJSON_Duplicate(run->cfg->effective, 1));
	counts = cJSON_AddObjectToObject(root, "counts");
	stages = cJSON_AddArrayToObject(root, "stages");
	cJSON_AddNumberToObject(counts, "listed", (double)c->listed);
	cJSON_AddNumberToObject(counts, "excluded", (double)c->excluded);
	cJSON_AddNumberToObject(counts, "corrupt", (double)c->corrupt);
	cJSON_AddNumberToObject(counts, "duplicates", (double)c->duplicates);
	cJSON_AddNumberToObject(counts, "candidates", (double)c->candidates);
	cJSON_AddNumberToObject(counts, "selected", (double)c->selected);
	cJSON_AddNumberToObject(counts, "no_predictions", (double)c->no_predictions);
	cJSON_AddNumberToObject(counts, "zero_rows", (double)c->zero_rows);
	cJSON_AddNumberToObject(counts, "preselected", (double)c->preselected);
	if (run->cfg->datapool_name != NULL) {
		cJSON *dp = cJSON_AddObjectToObject(root, "datapool");
		cJSON_AddStringToObject(dp, "name", run->cfg->datapool_name);
		cJSON_AddNumberToObject(dp, "members", (double)c->datapool_members);
		cJSON_AddNumberToObject(dp, "preselected", (double)c->preselected);
		cJSON_AddNumberToObject(dp, "ignored", (double)c->datapool_ignored);
		cJSON_AddNumberToObject(dp, "added", (double)c->selected);
	}
	for (int s = 0; s < STAGE_COUNT; s++) {
		if (!run->r->ran[s])
			continue;
		cJSON *st = cJSON_CreateObject();
		cJSON_AddStringToObject(st, "name", stage_name((enum stage)s));
		cJSON_AddNumberToObject(st, "seconds", run->r->seconds[s]);
		cJSON_AddItemToArray(stages, st);
	}
	cJSON *scores = cJSON_AddObjectToObject(root, "scores");
	for (size_t j = 0; run->scores != NULL && j < run->nscores; j++) {
		double mn = INFINITY, mx = -INFINITY, sum = 0;
		for (size_t i = 0; i < run->ncand; i++) {
			double v = run->scores[i * run->nscores + j];
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
			sum += v;
		}
		cJSON *st = cJSON_AddObjectToObject(scores, task_score_name(run->task_type, j));
		if (run->ncand == 0) {
			cJSON_AddNullToObject(st, "min");
			cJSON_AddNullToObject(st, "mean");
			cJSON_AddNullToObject(st, "max");
		} else {
			cJSON_AddNumberToObject(st, "min", mn);
			cJSON_AddNumberToObject(st, "mean", sum / (double)run->ncand);
			cJSON_AddNumberToObject(st, "max", mx);
		}
	}
	if (run->tasks.n > 0) {
		cJSON *pt = cJSON_AddObjectToObject(root, "predictions");
		cJSON_AddStringToObject(pt, "task", run->cfg->al_task_name);
		cJSON_AddStringToObject(pt, "task_type", task_type_name(run->task_type));
		cJSON_AddStringToObject(pt, "score_name", run->score_name);
		cJSON *all = cJSON_AddArrayToObject(pt, "tasks");
		for (size_t i = 0; i < run->tasks.n; i++)
			cJSON_AddItemToArray(all, cJSON_CreateString(run->tasks.v[i]));
	}
	warn = cJSON_AddArrayToObject(root, "warnings");
	for (size_t i = 0; i < run->cfg->warnings.n; i++)
		cJSON_AddItemToArray(warn, cJSON_CreateString(run->cfg->warnings.v[i]));
	if ((run->cfg->method == METHOD_RANDOM || run->cfg->method == METHOD_ACTIVE_LEARNING) &&
	    run->cfg->min_distance >= 0) {
		char *m = xasprintf("docker.stopping_condition.min_distance is ignored by method %s",
				    method_name(run->cfg->method));
		cJSON_AddItemToArray(warn, cJSON_CreateString(m));
		free(m);
	}
	if (c->zero_rows > 0) {
		char *m = xasprintf("%zu all-zero embedding rows", c->zero_rows);
		cJSON_AddItemToArray(warn, cJSON_CreateString(m));
		free(m);
	}
	return root;
}

static int stage_results(struct run *run)
{
	struct pipeline_counts *c = &run->r->counts;
	char **names;
	FILE *f;
	int rc;

	stage_begin(run, STAGE_RESULTS, 0);
	names = xcalloc(run->ncand ? run->ncand : 1, sizeof(*names));
	for (size_t i = 0; i < run->ncand; i++)
		names[i] = run->items[run->cand[i]].path;

	if ((rc = write_tsv(run, "filenames/corrupt_filenames.txt", IT_CORRUPT, false)) < 0 ||
	    (rc = write_tsv(run, "filenames/duplicate_filenames.txt", IT_DUPLICATE, false)) < 0 ||
	    (rc = write_tsv(run, "filenames/excluded_filenames.txt", IT_EXCLUDED, true)) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "filenames/selected_filenames.txt")) == NULL)
		goto out;
	for (size_t i = 0; i < run->sel.n; i++)
		fprintf(f, "%s\n", names[run->sel.idx[i]]);
	if ((rc = close_out(run, f, "filenames/selected_filenames.txt")) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "data/selection.csv")) == NULL)
		goto out;
	fputs("rank,filenames,weight,distance\n", f);
	for (size_t i = 0; i < run->sel.n; i++) {
		char dist[40], weight[40];
		bool weighted = run->cfg->method == METHOD_CORAL ||
			run->cfg->method == METHOD_ACTIVE_LEARNING;
		fmt_double(dist, sizeof(dist), run->sel.dist ? run->sel.dist[i] : NAN);
		fmt_double(weight, sizeof(weight), weighted ? run->w[run->sel.idx[i]] : NAN);
		fprintf(f, "%zu,%s,%s,%s\n", i + 1, names[run->sel.idx[i]], weight, dist);
	}
	if ((rc = close_out(run, f, "data/selection.csv")) < 0)
		goto out;

	if (run->scores != NULL) {
		rc = -EIO;
		if ((f = open_out(run, "data/scores.csv")) == NULL)
			goto out;
		fputs("filenames", f);
		for (size_t j = 0; j < run->nscores; j++)
			fprintf(f, ",%s", task_score_name(run->task_type, j));
		fputc('\n', f);
		for (size_t i = 0; i < run->ncand; i++) {
			fputs(names[i], f);
			for (size_t j = 0; j < run->nscores; j++)
				put_number(f, run->scores[i * run->nscores + j]);
			fputc('\n', f);
		}
		if ((rc = close_out(run, f, "data/scores.csv")) < 0)
			goto out;
	}

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings.csv")) == NULL)
		goto out;
	emb_csv_write(f, names, NULL, run->ncand, run->raw, run->d, run->o->threads);
	if ((rc = close_out(run, f, "data/embeddings.csv")) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "data/selected_embeddings.csv")) == NULL)
		goto out;
	emb_csv_write(f, names, run->sel.idx, run->sel.n, run->raw, run->d, run->o->threads);
	if ((rc = close_out(run, f, "data/selected_embeddings.csv")) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings_2d.csv")) == NULL)
		goto out;
	{
		double *xy = xcalloc_huge(run->ncand ? 2 * run->ncand : 1, sizeof(double));
		embed_pca2d(run->X, run->ncand, run->d, xy);
		fputs("filenames,x,y\n", f);
		for (size_t i = 0; i < run->ncand; i++) {
			fputs(names[i], f);
			put_number(f, xy[2 * i]);
			put_number(f, xy[2 * i + 1]);
			fputc('\n', f);
		}
		free(xy);
	}
	if ((rc = close_out(run, f, "data/embeddings_2d.csv")) < 0)
		goto out;

	stage_end(run, STAGE_RESULTS, "written to %s", run->o->run_dir);
	{
		cJSON *rep = report_json(run);
		char *text = cJSON_Print(rep);
		char *path = xasprintf("%s/report.json", run->o->run_dir);
		size_t tl = strlen(text);
		text = xrealloc(text, tl + 2);
		text[tl] = '\n';
		text[tl + 1] = '\0';
		rc = write_file_atomic(path, text, tl + 1);
		if (rc < 0)
			fail(run, rc, false, "%s: %s", path, strerror(-rc));
		free(path);
		free(text);
		cJSON_Delete(rep);
	}
	(void)c;
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

/* ---- checkpoints (SPEC 6) ------------------------------------------------ */

/*
 * A checkpoint holds the state of the run after its stage (item table,
 * descriptors or candidate rows, scores, stage timings). The built-in
 * descriptors (nitems x 204 doubles, 16 MB at 10,000 images) are written
 * once, in images.bin; the later checkpoints refer to that file by its
 * checksum for them and for the candidate rows, which are descriptor rows,
 * instead of writing them again (four copies cost more than the stages they
 * follow). A later checkpoint whose images.bin is gone or changed is invalid.
 * Native byte order (the file never leaves the machine). Layout:
 *   magic[8] u32 version u32 stage  cfg_hash[16] list_hash[16]
 *   u64 nitems, per item: u8 state, u32 reason length (~0: none), reason,
 *       u64 hash.low64, u64 hash.high64, u64 size, u32 width, u32 height
 *   u8 desc: 0 none | 1 [nitems x DESC_DIM f64] | 2 [u64 checksum of images.bin]
 *   u8 has_emb   [u64 ncand, u64 d, u64 zero_rows, ncand u64 item indexes,
 *                 u8 rows: 1 [ncand x d f64 raw] | 2 [u64 checksum of images.bin]]
 *   u8 has_scores [u64 nscores, u64 no_predictions, ncand x nscores f64, ncand f64 weights]
 *   u32 STAGE_COUNT, per stage: u8 ran, f64 seconds, summary[192]
 *   u64 XXH3-64 of everything before it
 * The normalised rows (X) are recomputed from raw: embed_normalize is deterministic.
 */
#define CKPT_MAGIC "WNWCKPT\n"
#define CKPT_VERSION 2u
#define CKPT_INLINE 1
#define CKPT_IN_IMAGES 2
#define CKPT_DIR ".checkpoint"

static const enum stage ckpt_stages[] = {
	STAGE_IMAGES, STAGE_DUPLICATES, STAGE_EMBEDDINGS, STAGE_SCORES,
};

static char *ckpt_path(const struct run *run, enum stage s)
{
	return xasprintf("%s/" CKPT_DIR "/%s.bin", run->o->run_dir, stage_name(s));
}

static void put_u8(struct buf *b, uint8_t v) { buf_append(b, &v, 1); }
static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, sizeof(v)); }
static void put_u64(struct buf *b, uint64_t v) { buf_append(b, &v, sizeof(v)); }
static void put_f64s(struct buf *b, const double *v, size_t n)
{
	if (n > 0)
		buf_append(b, v, n * sizeof(double));
}
static void put_hash(struct buf *b, XXH128_hash_t h)
{
	put_u64(b, h.low64);
	put_u64(b, h.high64);
}

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static void get(struct rd *r, void *out, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		if (out != NULL)
			memset(out, 0, n);
		return;
	}
	if (out != NULL)
		memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
}
static uint8_t get_u8(struct rd *r) { uint8_t v; get(r, &v, 1); return v; }
static uint32_t get_u32(struct rd *r) { uint32_t v; get(r, &v, sizeof(v)); return v; }
static uint64_t get_u64(struct rd *r) { uint64_t v; get(r, &v, sizeof(v)); return v; }
static XXH128_hash_t get_hash(struct rd *r)
{
	XXH128_hash_t h;

	h.low64 = get_u64(r);
	h.high64 = get_u64(r);
	return h;
}

/* A newly allocated copy of n doubles from r, or NULL (r->bad set) when short. */
static double *get_f64s(struct rd *r, uint64_t n)
{
	if (r->bad || n > r->left / sizeof(double)) {
		r->bad = true;
		return NULL;
	}
	double *v = xcalloc(n ? (size_t)n : 1, sizeof(double));
	get(r, v, (size_t)n * sizeof(double));
	return v;
}

static void hash_str(XXH3_state_t *st, const char *s)
{
	XXH3_128bits_update(st, s, strlen(s) + 1);
}

static void hash_stat(XXH3_state_t *st, int rc, const struct stat *sb)
{
	int64_t v[3] = { -1, -1, -1 };

	if (rc == 0) {
		v[0] = (int64_t)sb->st_size;
		v[1] = (int64_t)sb->st_mtim.tv_sec;
		v[2] = (int64_t)sb->st_mtim.tv_nsec;
	}
	XXH3_128bits_update(st, v, sizeof(v));
}

/*
 * The checkpoints' keys: the effective config (and the program's version),
 * and the listing: the root, each listed path with its size and mtime, the
 * listing's exclusions, every file under .lightly (predictions, embeddings)
 * and the embeddings CSV's bytes.
 */
static void ckpt_hashes(struct run *run)
{
	XXH3_state_t *st = XXH3_createState();
	char *cfg = config_effective_json(run->cfg);
	struct strvec tree = { 0 };
	struct stat sb;
	uint32_t v = CKPT_VERSION;

	if (st == NULL)
		fatalx("out of memory");
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, &v, sizeof(v));
	hash_str(st, WINNOW_VERSION_STR);
	hash_str(st, cfg ? cfg : "");
	run->cfg_hash = XXH3_128bits_digest(st);
	free(cfg);

	XXH3_128bits_reset(st);
	hash_str(st, run->o->input);
	for (size_t i = 0; i < run->nitems; i++) {
		const char *p = run->items[i].path;
		hash_str(st, p);
		hash_stat(st, run->emb_only ? -1 : dataset_stat(&run->ds, p, &sb), &sb);
	}
	for (size_t i = 0; i < run->ds.nexcluded; i++) {
		hash_str(st, run->ds.excluded[i].path);
		hash_str(st, run->ds.excluded[i].reason);
	}
	dataset_tree(&run->ds, ".lightly", &tree);
	strvec_sort(&tree);
	for (size_t i = 0; i < tree.n; i++)
		hash_str(st, tree.v[i]);
	strvec_free(&tree);
	XXH3_128bits_update(st, &run->csv_hash, sizeof(run->csv_hash));
	run->list_hash = XXH3_128bits_digest(st);
	XXH3_freeState(st);
}

/* Saves the state after stage s. A failure is logged only: the run goes on. */
static void ckpt_save(struct run *run, enum stage s)
{
	struct buf b = { 0 };
	char *dir, *path;
	int rc;

	if (!run->o->resume)
		return;
	buf_append(&b, CKPT_MAGIC, 8);
	put_u32(&b, CKPT_VERSION);
	put_u32(&b, (uint32_t)s);
	put_hash(&b, run->cfg_hash);
	put_hash(&b, run->list_hash);
	put_u64(&b, run->nitems);
	for (size_t i = 0; i < run->nitems; i++) {
		const struct item *it = &run->items[i];
		put_u8(&b, (uint8_t)it->state);
		if (it->reason == NULL) {
			put_u32(&b, UINT32_MAX);
		} else {
			size_t n = strlen(it->reason);
			put_u32(&b, (uint32_t)n);
			buf_append(&b, it->reason, n);
		}
		put_hash(&b, it->hash);
		put_u64(&b, it->size);
		put_u32(&b, it->width);
		put_u32(&b, it->height);
	}
	/* Descriptor data lives in images.bin when that one was saved. */
	bool ref = s != STAGE_IMAGES && run->images_sum != 0 && !run->have_csv;
	if (run->desc == NULL) {
		put_u8(&b, 0);
	} else if (ref) {
		put_u8(&b, CKPT_IN_IMAGES);
		put_u64(&b, run->images_sum);
	} else {
		put_u8(&b, CKPT_INLINE);
		put_f64s(&b, run->desc, run->nitems * DESC_DIM);
	}
	bool emb = s >= STAGE_EMBEDDINGS;
	put_u8(&b, emb);
	if (emb) {
		put_u64(&b, run->ncand);
		put_u64(&b, run->d);
		put_u64(&b, run->r->counts.zero_rows);
		for (size_t c = 0; c < run->ncand; c++)
			put_u64(&b, run->cand[c]);
		if (ref) {
			put_u8(&b, CKPT_IN_IMAGES);
			put_u64(&b, run->images_sum);
		} else {
			put_u8(&b, CKPT_INLINE);
			put_f64s(&b, run->raw, run->ncand * run->d);
		}
	}
	bool sc = s >= STAGE_SCORES && run->scores != NULL;
	put_u8(&b, sc);
	if (sc) {
		put_u64(&b, run->nscores);
		put_u64(&b, run->r->counts.no_predictions);
		put_f64s(&b, run->scores, run->ncand * run->nscores);
		put_f64s(&b, run->w, run->ncand);
	}
	put_u32(&b, STAGE_COUNT);
	for (int k = 0; k < STAGE_COUNT; k++) {
		put_u8(&b, run->r->ran[k]);
		put_f64s(&b, &run->r->seconds[k], 1);
		buf_append(&b, run->r->summary[k], sizeof(run->r->summary[k]));
	}
	uint64_t sum = XXH3_64bits(b.data, b.len);
	put_u64(&b, sum);

	dir = xasprintf("%s/" CKPT_DIR, run->o->run_dir);
	path = ckpt_path(run, s);
	rc = mkdir_p(dir, 0755);
	/*
	 * No fsync: a checkpoint ends with its own checksum, so one torn by a
	 * power loss is found and ignored (the stage reruns). Syncing ~50 MB
	 * per run at 10,000 images cost more than the daemon's whole overhead.
	 */
	if (rc == 0)
		rc = write_file_replace(path, b.data, b.len);
	if (s == STAGE_IMAGES)
		run->images_sum = rc == 0 ? sum | 1 : 0;	/* | 1: never 0, which means none */
	if (rc < 0)
		run_log(run, LOG_LVL_WARNING, "checkpoint after stage %s not saved: %s: %s",
			stage_name(s), path, strerror(-rc));
	else
		run_log(run, LOG_LVL_DEBUG, "checkpoint after stage %s saved (%zu bytes)",
			stage_name(s), b.len);
	free(path);
	free(dir);
	buf_free(&b);
}

static int ckpt_parse(struct run *run, enum stage s, const uint8_t *data, size_t len,
		      char *why, size_t whylen, double **desc_out);

/*
 * The descriptors of images.bin, whose checksum a later checkpoint gives as
 * sum. Returns them (the caller frees), or NULL with why in why.
 */
static double *ckpt_images_desc(struct run *run, uint64_t sum, char *why, size_t whylen)
{
	char *path = ckpt_path(run, STAGE_IMAGES), *data = NULL, sub[192];
	double *desc = NULL;
	size_t len = 0;
	uint64_t have;
	int rc = read_file(path, (size_t)1 << 36, &data, &len);

	free(path);
	if (rc < 0) {
		snprintf(why, whylen, "its images checkpoint: %s", strerror(-rc));
		return NULL;
	}
	if (len < 8 || (memcpy(&have, data + len - 8, 8), (have | 1) != sum))
		snprintf(why, whylen, "its images checkpoint is not the one it was saved with");
	else if (ckpt_parse(run, STAGE_IMAGES, (const uint8_t *)data, len, sub, sizeof(sub), &desc) < 0)
		snprintf(why, whylen, "its images checkpoint: %s", sub);
	free(data);
	return desc;
}

/*
 * Parses a checkpoint of stage s into the run. Returns 0, or -1 with why in
 * why (the run is then untouched). With desc_out, the run is left alone in
 * any case and a valid checkpoint's descriptors go to *desc_out.
 */
static int ckpt_parse(struct run *run, enum stage s, const uint8_t *data, size_t len,
		      char *why, size_t whylen, double **desc_out)
{
	struct rd r = { data, len, false };
	char magic[8];
	uint64_t sum;
	struct item *items = NULL;
	double *desc = NULL, *raw = NULL, *scores = NULL, *w = NULL;
	size_t *cand = NULL;
	uint64_t nitems, ncand = 0, d = 0, zero_rows = 0, nscores = 0, nopred = 0;
	uint64_t images_sum = 0;
	uint8_t desc_mode, rows_mode;
	bool has_emb, has_sc;
	char sub[224];
	struct pipeline_result meta;

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); goto bad; } while (0)
	if (len < 8 + 8 + 32 + 8)
		BAD("truncated (%zu bytes)", len);
	memcpy(&sum, data + len - 8, 8);
	if (sum != XXH3_64bits(data, len - 8))
		BAD("corrupt (checksum mismatch)");
	r.left = len - 8;
	get(&r, magic, 8);
	if (memcmp(magic, CKPT_MAGIC, 8) != 0)
		BAD("not a checkpoint (bad magic)");
	uint32_t version = get_u32(&r), stage = get_u32(&r);
	if (version != CKPT_VERSION)
		BAD("format version %u, not %u", version, CKPT_VERSION);
	if (stage != (uint32_t)s)
		BAD("holds stage %u", stage);
	XXH128_hash_t ch = get_hash(&r), lh = get_hash(&r);
	if (!XXH128_isEqual(ch, run->cfg_hash))
		BAD("the config changed");
	if (!XXH128_isEqual(lh, run->list_hash))
		BAD("the dataset changed (listing, sizes, mtimes or .lightly files)");
	nitems = get_u64(&r);
	if (nitems != run->nitems)
		BAD("%llu items, the listing has %zu", (unsigned long long)nitems, run->nitems);
	items = xcalloc(run->nitems ? run->nitems : 1, sizeof(*items));
	for (size_t i = 0; i < run->nitems && !r.bad; i++) {
		struct item *it = &items[i];
		uint8_t st = get_u8(&r);
		uint32_t rl = get_u32(&r);
		if (st > IT_DUPLICATE)
			BAD("bad item state");
		it->state = (enum item_state)st;
		if (rl != UINT32_MAX) {
			if (rl > r.left)
				BAD("truncated");
			it->reason = xcalloc(1, (size_t)rl + 1);
			get(&r, it->reason, rl);
		}
		it->hash = get_hash(&r);
		it->size = get_u64(&r);
		it->width = get_u32(&r);
		it->height = get_u32(&r);
		it->path = run->items[i].path;
	}
	desc_mode = get_u8(&r);
	if ((desc_mode != 0) != (s < STAGE_EMBEDDINGS && !run->have_csv))
		BAD("descriptors %s", desc_mode ? "not expected" : "missing");
	if (desc_mode == CKPT_INLINE) {
		if ((desc = get_f64s(&r, (uint64_t)run->nitems * DESC_DIM)) == NULL)
			BAD("truncated");
	} else if (desc_mode == CKPT_IN_IMAGES && s != STAGE_IMAGES) {
		images_sum = get_u64(&r);
		if (r.bad)
			BAD("truncated");
		if ((desc = ckpt_images_desc(run, images_sum, sub, sizeof(sub))) == NULL)
			BAD("%s", sub);
	} else if (desc_mode != 0) {
		BAD("bad descriptor mode");
	}
	has_emb = get_u8(&r);
	if (has_emb != (s >= STAGE_EMBEDDINGS))
		BAD("candidate rows %s", has_emb ? "not expected" : "missing");
	if (has_emb) {
		ncand = get_u64(&r);
		d = get_u64(&r);
		zero_rows = get_u64(&r);
		if (ncand > run->nitems || d != (run->have_csv ? run->csv.d : DESC_DIM))
			BAD("bad candidate table");
		cand = xcalloc(ncand ? ncand : 1, sizeof(*cand));
		for (size_t c = 0; c < ncand; c++) {
			cand[c] = (size_t)get_u64(&r);
			if (cand[c] >= run->nitems || items[cand[c]].state != IT_OK)
				BAD("bad candidate index");
		}
		if (d != 0 && ncand > SIZE_MAX / d)
			BAD("bad candidate table");
		rows_mode = get_u8(&r);
		if (rows_mode == CKPT_INLINE) {
			if ((raw = get_f64s(&r, ncand * d)) == NULL)
				BAD("truncated");
		} else if (rows_mode == CKPT_IN_IMAGES && !run->have_csv) {
			/* The built-in descriptor: candidate rows are descriptor rows. */
			images_sum = get_u64(&r);
			if (r.bad)
				BAD("truncated");
			double *all = ckpt_images_desc(run, images_sum, sub, sizeof(sub));
			if (all == NULL)
				BAD("%s", sub);
			raw = xcalloc(ncand ? ncand : 1, d * sizeof(double));
			for (size_t c = 0; c < ncand; c++)
				memcpy(raw + c * d, all + cand[c] * DESC_DIM, DESC_DIM * sizeof(double));
			free(all);
		} else {
			BAD("bad candidate rows mode");
		}
	}
	has_sc = get_u8(&r);
	if (has_sc != (s >= STAGE_SCORES))
		BAD("scores %s", has_sc ? "not expected" : "missing");
	if (has_sc) {
		nscores = get_u64(&r);
		nopred = get_u64(&r);
		if (nscores != run->nscores || nopred > ncand)
			BAD("bad score table");
		if ((scores = get_f64s(&r, ncand * nscores)) == NULL || (w = get_f64s(&r, ncand)) == NULL)
			BAD("truncated");
	}
	if (get_u32(&r) != STAGE_COUNT)
		BAD("bad stage table");
	for (int k = 0; k < STAGE_COUNT; k++) {
		meta.ran[k] = get_u8(&r) != 0;
		get(&r, &meta.seconds[k], sizeof(double));
		get(&r, meta.summary[k], sizeof(meta.summary[k]));
		meta.summary[k][sizeof(meta.summary[k]) - 1] = '\0';
	}
	if (r.bad || r.left != 0)
		BAD(r.bad ? "truncated" : "trailing bytes");
#undef BAD
	if (desc_out != NULL) {
		for (size_t i = 0; i < run->nitems; i++)
			free(items[i].reason);
		free(items);
		free(cand);
		free(raw);
		free(scores);
		free(w);
		*desc_out = desc;
		return 0;
	}
	run->images_sum = s == STAGE_IMAGES ? sum | 1 : images_sum;

	/* Valid: it replaces the run's state. */
	for (size_t i = 0; i < run->nitems; i++)
		free(run->items[i].reason);
	free(run->items);
	run->items = items;
	free(run->desc);
	run->desc = desc;
	if (has_emb) {
		run->cand = cand;
		run->ncand = ncand;
		run->d = d;
		run->raw = raw;
		run->X = xcalloc(ncand ? ncand : 1, d * sizeof(double));
		memcpy(run->X, raw, ncand * d * sizeof(double));
		if (run->cfg->normalize_embeddings)
			(void)embed_normalize(run->X, ncand, d);
		run->r->counts.zero_rows = zero_rows;
	}
	if (has_sc) {
		run->scores = scores;
		run->w = w;
		run->r->counts.no_predictions = nopred;
	}
	/* The stages the checkpoint covers keep their timings for report.json. */
	for (int k = STAGE_IMAGES; k <= (int)s; k++) {
		run->r->ran[k] = meta.ran[k];
		run->r->seconds[k] = meta.seconds[k];
		memcpy(run->r->summary[k], meta.summary[k], sizeof(meta.summary[k]));
	}
	return 0;
bad:
	for (size_t i = 0; items != NULL && i < run->nitems; i++)
		free(items[i].reason);
	free(items);
	free(desc);
	free(cand);
	free(raw);
	free(scores);
	free(w);
	return -1;
}

/* Removes the checkpoints of the stages after s (stale: from other inputs). */
static void ckpt_remove_after(struct run *run, int s)
{
	for (size_t i = 0; i < ARRAY_LEN(ckpt_stages); i++) {
		if ((int)ckpt_stages[i] <= s)
			continue;
		char *p = ckpt_path(run, ckpt_stages[i]);
		(void)unlink(p);
		free(p);
	}
}

static void ckpt_remove_all(struct run *run)
{
	char *dir = xasprintf("%s/" CKPT_DIR, run->o->run_dir);

	ckpt_remove_after(run, -1);
	(void)rmdir(dir);
	free(dir);
}

/*
 * Loads the latest valid checkpoint that fits this run. Returns the stage it
 * covers, or -1 (start from the image pass).
 */
static int ckpt_load(struct run *run)
{
	int found = -1;

	for (size_t i = ARRAY_LEN(ckpt_stages); i-- > 0 && found < 0;) {
		enum stage s = ckpt_stages[i];
		char *path = ckpt_path(run, s), *data = NULL, why[256];
		size_t len = 0;
		int rc = read_file(path, (size_t)1 << 36, &data, &len);

		if (rc == -ENOENT) {
			free(path);
			continue;
		}
		if (rc < 0)
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		else if ((s == STAGE_DUPLICATES && !run->cfg->remove_exact_duplicates) ||
			 ((s == STAGE_IMAGES || s == STAGE_DUPLICATES) && run->emb_only) ||
			 (s == STAGE_SCORES && run->cfg->al_task_name[0] == '\0'))
			snprintf(why, sizeof(why), "the config has no such stage");
		else if (ckpt_parse(run, s, (const uint8_t *)data, len, why, sizeof(why), NULL) == 0)
			found = (int)s;
		if (found < 0)
			run_log(run, LOG_LVL_WARNING, "checkpoint after stage %s ignored: %s",
				stage_name(s), why);
		free(data);
		free(path);
	}
	if (found >= 0)
		run_log(run, LOG_LVL_NOTICE, "resuming after stage %s (checkpoint %s/%s/%s.bin)",
			stage_name((enum stage)found), run->o->run_dir, CKPT_DIR,
			stage_name((enum stage)found));
	ckpt_remove_after(run, found);
	return found;
}

/* ---- the runner ---------------------------------------------------------- */

static int prepare_dir(struct run *run)
{
	static const char *const subdirs[] = { "filenames", "data" };
	int rc = mkdir_p(run->o->run_dir, 0755);

	if (rc < 0)
		return fail(run, rc, false, "output folder %s: %s", run->o->run_dir, strerror(-rc));
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		char *p = xasprintf("%s/%s", run->o->run_dir, subdirs[i]);
		rc = mkdir_p(p, 0755);
		free(p);
		if (rc < 0)
			return fail(run, rc, false, "output folder %s: %s", run->o->run_dir, strerror(-rc));
	}
	char *lp = xasprintf("%s/log.txt", run->o->run_dir);
	run->log = fopen(lp, "a");
	free(lp);
	if (run->log == NULL)
		return fail(run, -errno, false, "%s/log.txt: %s", run->o->run_dir, strerror(errno));
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
	run_log(&run, LOG_LVL_INFO, "run started: method %s, input %s", method_name(o->cfg->method),
		o->input);
	for (size_t i = 0; i < o->cfg->warnings.n; i++)
		run_log(&run, LOG_LVL_WARNING, "%s", o->cfg->warnings.v[i]);

	if ((rc = stage_listing(&run)) < 0)
		goto out;
	/* A wrong task or score name fails before any image is read. */
	if (o->cfg->al_task_name[0] != '\0' && (rc = resolve_task(&run)) < 0)
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
	if (o->cfg->al_task_name[0] != '\0' && done < STAGE_SCORES) {
		if ((rc = stage_scores(&run)) < 0)
			goto out;
		ckpt_save(&run, STAGE_SCORES);
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
	free(run.desc);
	free(run.cand);
	free(run.raw);
	free(run.X);
	free(run.scores);
	free(run.w);
	strvec_free(&run.tasks);
	selection_free(&run.sel);
	if (run.have_csv)
		emb_table_free(&run.csv);
	if (run.have_ds)
		dataset_close(&run.ds);
	pthread_mutex_destroy(&run.lock);
	return rc;
}
