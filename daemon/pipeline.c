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
 */
#include "run.h"

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
#include <unistd.h>
#include <xxhash.h>

#include "dataset.h"
#include "embed.h"
#include "image.h"
#include "metadata.h"
#include "pool.h"
#include "predict.h"
#include "scorers/scorer.h"
#include "selectors/selector.h"
#include "util.h"

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

static int stage_listing(struct run *run)
{
	const struct run_config *cfg = run->cfg;
	char err[1024];
	int rc;

	stage_begin(run, STAGE_LISTING, 0);
	rc = dataset_open_url(&run->ds, run->o->input, run->o->s3, err, sizeof(err));
	if (rc < 0)
		return run_fail(run, rc, true, "%s", err);
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
			return run_fail(run, -ENOENT, true,
				    "no images found in %s: relevant_filenames_file %s matches none of its %zu",
				    run->o->input, cfg->relevant_filenames_file, run->ds.relevant_skipped);
		if (run->ds.files.n == 0)
			return run_fail(run, -ENOENT, true, "no images found in %s", run->o->input);
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
			it->meta = res.meta;
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
		return run_fail(run, rc, true,
			    "docker.active_learning.task_name: \"%s\" is not a prediction task: "
			    "the datasource has no .lightly/predictions/tasks.json", cfg->al_task_name);
	if (rc < 0)
		return run_fail(run, rc, !transient_io(run, rc), "%s", err);
	bool found = false;
	for (size_t i = 0; i < run->tasks.n; i++)
		found = found || strcmp(run->tasks.v[i], cfg->al_task_name) == 0;
	if (!found) {
		struct buf b = { 0 };
		run->r->config_error = true;
		for (size_t i = 0; i < run->tasks.n; i++)
			buf_printf(&b, "%s\"%s\"", i ? ", " : "", run->tasks.v[i]);
		run_fail(run, -EINVAL, true,
		     "docker.active_learning.task_name: \"%s\" is not a task of tasks.json (valid: %s)",
		     cfg->al_task_name, b.data ? b.data : "none");
		buf_free(&b);
		return -EINVAL;
	}
	rc = predict_load_schema(&run->ds, cfg->al_task_name, &schema, err, sizeof(err));
	if (rc < 0)
		return run_fail(run, rc, !transient_io(run, rc), "%s", err);
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
		run_fail(run, -EINVAL, true,
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
		return run_fail(run, rc, !transient_io(run, rc) && rc != -ENOMEM, "%s", err);

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
		return run_fail(run, -EINVAL, true, "unknown method");
	}
	free(pre);
	if (rc == -ECANCELED)
		return rc;
	if (rc < 0)
		return run_fail(run, rc, false, "selection failed: %s", strerror(-rc));
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

static int stage_results(struct run *run)
{
	char **names;
	int rc;

	stage_begin(run, STAGE_RESULTS, 0);
	names = xcalloc(run->ncand ? run->ncand : 1, sizeof(*names));
	for (size_t i = 0; i < run->ncand; i++)
		names[i] = run->items[run->cand[i]].path;

	if ((rc = report_write_outputs(run, names)) < 0)
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
	keep_computed_meta(&run);
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
	free(run.cmeta);
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
