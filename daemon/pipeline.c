/*
 * pipeline: the stage runner of SPEC 4 on a LOCAL datasource.
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
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include <cjson/cJSON.h>

#include "dataset.h"
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
	return run->o->cancel != NULL && *run->o->cancel;
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

static int stage_listing(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	char err[1024];
	int rc;

	stage_begin(run, STAGE_LISTING, 0);
	rc = dataset_open(&run->ds, run->o->input);
	if (rc < 0)
		return fail(run, rc, true, "input folder %s: %s", run->o->input, strerror(-rc));
	run->have_ds = true;
	rc = dataset_list(&run->ds, cfg->relevant_filenames_file, err, sizeof(err));
	if (rc < 0)
		return fail(run, rc, rc == -ENOENT || rc == -EXDEV || rc == -EISDIR, "%s", err);
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
		uint8_t *text;
		size_t len;
		rc = dataset_read(&run->ds, path, (size_t)1 << 40, &text, &len);
		if (rc < 0) {
			fail(run, rc, rc == -ENOENT || rc == -EXDEV,
			     "embeddings %s: %s (looked for %s and .lightly/embeddings/%s)",
			     cfg->embeddings, strerror(-rc), cfg->embeddings, cfg->embeddings);
			free(path);
			return rc;
		}
		rc = emb_table_parse((char *)text, len, path, &run->csv, err, sizeof(err));
		free(text);
		free(path);
		if (rc < 0)
			return fail(run, rc, true, "embeddings CSV %s", err);
		run->have_csv = true;
	}

	if (run->ds.files.n == 0 && run->have_csv) {
		/* Embeddings-only run: the CSV's rows, sorted by name, are the dataset. */
		run->emb_only = true;
		run->nitems = run->csv.n;
		run->items = xcalloc(run->nitems, sizeof(*run->items));
		for (size_t i = 0; i < run->csv.n; i++)
			run->items[i].path = run->csv.names[run->csv.order[i]];
		for (size_t i = 0; i < run->nitems; i++) {
			const char *p = run->items[i].path;
			if (!utf8_valid(p, strlen(p)) || strpbrk(p, "\t\r\n,") != NULL) {
				run->items[i].state = IT_EXCLUDED;
				run->items[i].reason = xstrdup("unsupported file name");
			}
		}
		run_log(run, LOG_LVL_INFO, "no images: embeddings-only run on %zu rows", run->nitems);
	} else {
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
	int rc = dataset_read(&run->ds, it->path, MAX_IMAGE_BYTES, &buf, &len);

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
	if (pool_for(run->nitems, threads, image_one, run, run->o->cancel) < 0)
		return -ECANCELED;
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

struct rows_ctx {
	const double *rows;
	size_t d;
};

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct rows_ctx *rc = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = memcmp(rc->rows + i * rc->d, rc->rows + j * rc->d, rc->d * sizeof(double));

	if (c != 0)
		return c;
	return i < j ? -1 : 1;
}

static int stage_embeddings(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	size_t n = 0, dups = 0;

	stage_begin(run, STAGE_EMBEDDINGS, 0);
	run->d = run->have_csv ? run->csv.d : DESC_DIM;
	size_t *cand = xcalloc(run->nitems, sizeof(*cand));
	for (size_t i = 0; i < run->nitems; i++)
		if (run->items[i].state == IT_OK)
			cand[n++] = i;
	double *raw = xcalloc(n, run->d * sizeof(double));
	if (run->have_csv) {
		struct buf missing = { 0 };
		size_t nmissing = 0;
		for (size_t c = 0; c < n; c++) {
			long row = emb_table_find(&run->csv, run->items[cand[c]].path);
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
	} else {
		for (size_t c = 0; c < n; c++)
			memcpy(raw + c * run->d, run->desc + cand[c] * DESC_DIM, DESC_DIM * sizeof(double));
		free(run->desc);
		run->desc = NULL;
	}

	if (cfg->remove_exact_duplicates && n > 1) {
		size_t *idx = xcalloc(n, sizeof(*idx));
		for (size_t c = 0; c < n; c++)
			idx[c] = c;
		struct rows_ctx rctx = { raw, run->d };
		qsort_r(idx, n, sizeof(*idx), cmp_rows, &rctx);
		for (size_t j = 1; j < n; j++) {
			size_t keep = idx[j - 1];
			/* Walk back to the first of the group: it stays (smallest index). */
			if (memcmp(raw + idx[j] * run->d, raw + keep * run->d, run->d * sizeof(double)) != 0)
				continue;
			size_t g = j - 1;
			while (g > 0 && memcmp(raw + idx[g - 1] * run->d, raw + idx[j] * run->d,
					       run->d * sizeof(double)) == 0)
				g--;
			struct item *it = &run->items[cand[idx[j]]];
			it->state = IT_DUPLICATE;
			it->reason = xasprintf("duplicate of %s (embedding)", run->items[cand[idx[g]]].path);
			dups++;
		}
		free(idx);
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
	run->X = xcalloc(n, run->d * sizeof(double));
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
		return fail(run, rc, true, "%s", err);
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
		return fail(run, rc, true, "%s", err);
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
		return fail(run, rc, rc != -EIO && rc != -ENOMEM, "%s", err);

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

static int stage_selection(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	size_t n = run->ncand, k = config_budget(cfg, n);
	struct select_input in = {
		.X = run->X, .n = n, .d = run->d, .k = k,
		.min_distance = cfg->min_distance, .seed = cfg->seed,
		.w = run->w, .cancel = run->o->cancel,
	};
	int rc;

	stage_begin(run, STAGE_SELECTION, n);
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
		return fail(run, -EINVAL, true, "unknown method");
	}
	if (rc == -ECANCELED)
		return rc;
	if (rc < 0)
		return fail(run, rc, false, "selection failed: %s", strerror(-rc));
	if (run->sel.fill_rest)
		run_log(run, LOG_LVL_INFO,
			"every candidate is selected: %zu by %s order, then %zu left at distance 0 in path order",
			run->sel.n_method, method_name(cfg->method), run->sel.n - run->sel.n_method);
	else if (cfg->min_distance < 0 && k >= n)
		run_log(run, LOG_LVL_INFO, "every candidate is selected (%zu)", n);
	run->r->counts.selected = run->sel.n;
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
	else
		snprintf(out, len, "%.17g", v);
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
				fprintf(f, ",%.17g", run->scores[i * run->nscores + j]);
			fputc('\n', f);
		}
		if ((rc = close_out(run, f, "data/scores.csv")) < 0)
			goto out;
	}

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings.csv")) == NULL)
		goto out;
	emb_csv_write(f, names, NULL, run->ncand, run->raw, run->d);
	if ((rc = close_out(run, f, "data/embeddings.csv")) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "data/selected_embeddings.csv")) == NULL)
		goto out;
	emb_csv_write(f, names, run->sel.idx, run->sel.n, run->raw, run->d);
	if ((rc = close_out(run, f, "data/selected_embeddings.csv")) < 0)
		goto out;

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings_2d.csv")) == NULL)
		goto out;
	{
		double *xy = xcalloc(run->ncand ? 2 * run->ncand : 1, sizeof(double));
		embed_pca2d(run->X, run->ncand, run->d, xy);
		fputs("filenames,x,y\n", f);
		for (size_t i = 0; i < run->ncand; i++)
			fprintf(f, "%s,%.17g,%.17g\n", names[i], xy[2 * i], xy[2 * i + 1]);
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
	pthread_mutex_init(&run.lock, NULL);
	atomic_init(&run.done, 0);
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
	if (!run.emb_only) {
		if ((rc = stage_images(&run)) < 0)
			goto out;
		if (o->cfg->remove_exact_duplicates && (rc = stage_byte_duplicates(&run)) < 0)
			goto out;
	}
	if (cancelled(&run)) {
		rc = -ECANCELED;
		goto out;
	}
	if ((rc = stage_embeddings(&run)) < 0)
		goto out;
	count_items(&run);
	if (o->cfg->al_task_name[0] != '\0' && (rc = stage_scores(&run)) < 0)
		goto out;
	if ((rc = stage_selection(&run)) < 0)
		goto out;
	if (cancelled(&run)) {
		rc = -ECANCELED;
		goto out;
	}
	r->total_seconds = now_seconds() - t0;
	rc = stage_results(&run);
out:
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
