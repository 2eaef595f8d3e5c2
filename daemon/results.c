/*
 * results: the calls that report a run, built from its run folder.
 *
 * DESIGN. Reporting is a chain with two replies in it that later calls need:
 * the dataset's sample order (bit k of a tag = the k-th name) and the id of
 * the candidates tag (the selection tag's prevTagId and the score lists'
 * path). So the chain is queued in two parts: results_enqueue_samples ends
 * with the GET of the sample order; its reply's handler calls
 * results_enqueue_tags, which queues the rest with RESULTS_CAND_TAG standing
 * for the candidates tag id (the outbox substitutes it once the tag's reply
 * has stored it in the job row). Each part is queued in one transaction with
 * the reply that caused it, so a kill -9 repeats a call at most (each is
 * idempotent on the web app) and never loses one.
 */
#include "results.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "bitmask.h"
#include "log.h"
#include "util.h"

#define SAMPLES_PER_CALL 10000

char *results_run_name(const struct job *j)
{
	return xasprintf("run-%s", j->run_id);
}

/* DockerRunUpdateRequest {state, message?} (the progress has its own route). */
char *results_state_body(const char *state, const char *message)
{
	struct api_run_update u;

	api_run_update_init(&u);
	u.state = api_enum_value(API_E_RUN_STATE, state);
	u.message = (char *)message;
	char *s = api_build_run_update(&u);
	if (s == NULL)
		fatalx("results: run state %s is not one of Lightly's", state);
	return s;
}

/* A path of the contract; the route table makes it, never NULL here. */
static char *path_of(char *p)
{
	if (p == NULL)
		fatalx("results: a route without its parameters");
	return p;
}

/* Adds an item, or gives its body to an unsent one of the same kind ending the job's list. */
static int add_or_coalesce(struct queue *q, const char *sched, const char *kind, enum api_call call,
			   const char *run_id, const char *body, int64_t exclude_id)
{
	int rc = queue_outbox_coalesce(q, sched, kind, body, exclude_id);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	char *path = path_of(api_path(call, run_id));
	rc = queue_outbox_add(q, sched, kind, api_method(call), path, body, NULL);
	free(path);
	return rc;
}

int results_put_state(struct queue *q, const char *sched, const char *run_id, bool with_state,
		      const char *state, const char *message, double progress, int64_t exclude_id)
{
	int rc = 0;

	if (with_state) {
		char *body = results_state_body(state, message);
		rc = add_or_coalesce(q, sched, "state", API_RUN_UPDATE, run_id, body, exclude_id);
		free(body);
	}
	if (rc == 0 && progress >= 0) {
		struct api_progress p = { progress > 1 ? 1 : progress };
		char *body = api_build_progress(&p);
		rc = add_or_coalesce(q, sched, "progress", API_RUN_PROGRESS, run_id, body, exclude_id);
		free(body);
	}
	return rc;
}

/* Splits a file into lines (without their newline); empty lines are skipped. */
static int read_lines(const char *path, struct strvec *lines)
{
	char *data = NULL;
	size_t len;
	int rc = read_file(path, (size_t)1 << 31, &data, &len);

	if (rc < 0)
		return rc;
	for (char *p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		char *end = nl ? nl : data + len;
		if (end > p && end[-1] == '\r')
			end[-1] = '\0';
		*end = '\0';
		if (*p != '\0')
			strvec_push(lines, p);
		p = end + 1;
	}
	free(data);
	return 0;
}

/*
 * The candidates in path order: the first column of data/embeddings_2d.csv
 * (file names with a comma never become candidates, SPEC 3). It lists the
 * same names in the same order as data/embeddings.csv, whose rows hold d
 * numbers each (40 MB at 10,000 images: reading it cost a quarter second
 * of the loop thread).
 */
static int read_candidates(const char *run_dir, struct strvec *cand, char *err, size_t errlen)
{
	char *p = xasprintf("%s/data/embeddings_2d.csv", run_dir), *data = NULL;
	size_t len;
	int rc = read_file(p, (size_t)1 << 40, &data, &len);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-rc));
		free(p);
		return rc;
	}
	free(p);
	char *q = memchr(data, '\n', len), *end = data + len;
	for (q = q ? q + 1 : end; q < end;) {
		char *nl = memchr(q, '\n', (size_t)(end - q));
		char *le = nl ? nl : end;
		char *comma = memchr(q, ',', (size_t)(le - q));
		char *ne = comma ? comma : le;
		if (ne > q && ne[-1] == '\r')
			ne--;
		if (ne > q) {
			char c = *ne;
			*ne = '\0';
			strvec_push(cand, q);
			*ne = c;
		}
		q = le + 1;
	}
	free(data);
	return 0;
}

/* A state of the results chain: its progress first (the state may end the run), then the state. */
static int add_state(struct queue *q, const struct job *j, const char *state, const char *msg,
		     double progress)
{
	int rc = 0;
	char *path, *body;

	if (progress >= 0) {
		struct api_progress p = { progress > 1 ? 1 : progress };
		path = path_of(api_path(API_RUN_PROGRESS, j->run_id));
		body = api_build_progress(&p);
		rc = queue_outbox_add(q, j->sched_id, "progress", api_method(API_RUN_PROGRESS), path,
				      body, NULL);
		free(path);
		free(body);
		if (rc < 0)
			return rc;
	}
	path = path_of(api_path(API_RUN_UPDATE, j->run_id));
	body = results_state_body(state, msg);
	rc = queue_outbox_add(q, j->sched_id, "state", api_method(API_RUN_UPDATE), path, body, NULL);
	free(path);
	free(body);
	return rc;
}

/*
 * With a datapool (SPEC 4.7): the run's new picks, PUT to the web app's
 * datapool (at most 10,000 names a call). A PUT adds names, so a repeated
 * call is harmless. Queued before the sample order, so a run is COMPLETED
 * only after its picks are in the datapool; a refused PUT fails the run
 * (outbox.c), as the next run would otherwise pick them again.
 */
static int enqueue_datapool(struct queue *q, const struct job *j, const char *run_dir, char *err,
			    size_t errlen)
{
	const char *name = j->pool_name;
	char *sp, *path;
	struct strvec sel = { 0 };
	int rc;

	if (name == NULL)
		return 0;
	sp = xasprintf("%s/filenames/selected_filenames.txt", run_dir);
	if ((rc = read_lines(sp, &sel)) < 0) {
		snprintf(err, errlen, "%s: %s", sp, strerror(-rc));
		free(sp);
		return rc;
	}
	free(sp);
	path = path_of(api_path(API_DATAPOOL_PUT, j->dataset_id, name));
	for (size_t i = 0; i < sel.n && rc == 0; i += SAMPLES_PER_CALL) {
		size_t n = sel.n - i < SAMPLES_PER_CALL ? sel.n - i : SAMPLES_PER_CALL;
		struct api_datapool dp = { { sel.v + i, n, true } };
		char *body = api_build_datapool(&dp);
		rc = queue_outbox_add(q, j->sched_id, "datapool", api_method(API_DATAPOOL_PUT), path,
				      body, NULL);
		free(body);
	}
	free(path);
	strvec_free(&sel);
	return rc;
}

int results_enqueue_samples(struct queue *q, const struct job *j, const char *run_dir, char *err,
			    size_t errlen)
{
	struct strvec cand = { 0 };
	char *path = NULL;
	int rc;

	if ((rc = read_candidates(run_dir, &cand, err, errlen)) < 0)
		return rc;
	if ((rc = add_state(q, j, "SAVING_RESULTS", "saving results", 0.92)) < 0)
		goto out;
	path = path_of(api_path(API_SAMPLES, j->dataset_id));
	struct api_sample *smp = xcalloc(SAMPLES_PER_CALL, sizeof(*smp));
	for (size_t i = 0; i < cand.n; i += SAMPLES_PER_CALL) {
		size_t n = cand.n - i < SAMPLES_PER_CALL ? cand.n - i : SAMPLES_PER_CALL;
		for (size_t k = 0; k < n; k++)
			smp[k] = (struct api_sample){ cand.v[i + k], "{}" };
		struct api_sample_list l = { smp, n };
		char *body = api_build_sample_list(&l);
		rc = queue_outbox_add(q, j->sched_id, "samples", api_method(API_SAMPLES), path, body,
				      NULL);
		free(body);
		if (rc < 0) {
			free(smp);
			goto out;
		}
	}
	free(smp);
	if ((rc = enqueue_datapool(q, j, run_dir, err, errlen)) < 0)
		goto out;
	free(path);
	path = path_of(api_path(API_MAPPINGS, j->dataset_id));
	rc = queue_outbox_add(q, j->sched_id, "mappings", api_method(API_MAPPINGS), path, NULL, NULL);
out:
	if (rc < 0 && err[0] == '\0')
		snprintf(err, errlen, "cannot queue the samples");
	free(path);
	strvec_free(&cand);
	return rc;
}

struct name_idx {
	const char *name;
	size_t idx;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

/* Index of name in the sorted map, or -1. */
static long lookup(const struct name_idx *map, size_t n, const char *name)
{
	struct name_idx key = { name, 0 };
	const struct name_idx *f = bsearch(&key, map, n, sizeof(*map), cmp_name);

	return f ? (long)f->idx : -1;
}

/*
 * TagCreateRequest. prev NULL (the candidates tag, until winnowd makes the
 * initial tag of SPEC 7) builds "prevTagId": null, which the web app takes;
 * prev may be RESULTS_CAND_TAG, substituted when sent.
 */
static char *tag_body(const char *name, const char *prev, const struct bitmask *bm, size_t tot,
		      const char *creator, const char *run_id)
{
	struct api_tag_create t;
	char *mask = bitmask_format(bm);

	api_tag_create_init(&t);
	t.name = (char *)name;
	t.prev_tag_id = (char *)prev;
	t.bit_mask_data = mask;
	t.tot_size = (int64_t)tot;
	t.creator = api_enum_value(API_E_TAG_CREATOR, creator);
	if (t.creator < 0)
		t.creator = API_TAG_UNKNOWN;
	t.run_id = (char *)run_id;
	char *s = api_build_tag_create(&t);
	free(mask);
	if (s == NULL)
		fatalx("results: out of memory");
	return s;
}

/* A row of scores.csv: its cells (pointing into the read lines) and its bit. */
struct score_row {
	char **cells;
	size_t idx;
};

static int cmp_row(const void *a, const void *b)
{
	size_t x = ((const struct score_row *)a)->idx, y = ((const struct score_row *)b)->idx;

	return x < y ? -1 : x > y;
}

/*
 * The score lists: one per column of data/scores.csv, the values of the
 * candidates in ascending bit order, each the very double the stage
 * printed (%.17g), written exactly again by lib/api.c.
 */
static int enqueue_scores(struct queue *q, const struct job *j, const char *run_dir,
			  const struct name_idx *map, size_t nmap, char *err, size_t errlen)
{
	struct strvec lines = { 0 }, cols = { 0 };
	char *p = xasprintf("%s/data/scores.csv", run_dir), *path = NULL;
	struct stat st;
	struct score_row *rows = NULL;
	size_t nrows = 0;
	int rc = 0;

	if (stat(p, &st) < 0) {
		free(p);
		return 0;	/* no scores computed in this run */
	}
	if ((rc = read_lines(p, &lines)) < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-rc));
		goto out;
	}
	if (lines.n <= 1)
		goto out;	/* zero candidates: no score list */
	for (char *save = NULL, *tok = strtok_r(lines.v[0], ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		strvec_push(&cols, tok);
	rows = xcalloc(lines.n - 1, sizeof(*rows));
	for (; nrows < lines.n - 1; nrows++) {
		struct score_row *r = &rows[nrows];
		char *save = NULL;
		size_t c = 0;
		r->cells = xcalloc(cols.n, sizeof(char *));
		for (char *tok = strtok_r(lines.v[nrows + 1], ",", &save); tok && c < cols.n;
		     tok = strtok_r(NULL, ",", &save))
			r->cells[c++] = tok;
		long idx = c == cols.n ? lookup(map, nmap, r->cells[0]) : -1;
		if (idx < 0) {
			snprintf(err, errlen, "scores.csv row %zu: %s", nrows + 2,
				 c != cols.n ? "wrong number of fields" : "not a sample of the dataset");
			nrows++;
			rc = -EINVAL;
			goto out;
		}
		r->idx = (size_t)idx;
	}
	qsort(rows, nrows, sizeof(*rows), cmp_row);
	path = path_of(api_path(API_SCORES, j->dataset_id, RESULTS_CAND_TAG));
	double *vals = xcalloc(nrows + 1, sizeof(double));
	for (size_t c = 1; c < cols.n && rc == 0; c++) {
		for (size_t r = 0; r < nrows; r++) {
			const char *v = rows[r].cells[c];
			char *end;
			vals[r] = strtod(v, &end);
			if (*end != '\0' || !isfinite(vals[r])) {
				snprintf(err, errlen, "scores.csv: %s: \"%s\" is not a number",
					 cols.v[c], v);
				rc = -EINVAL;
				break;
			}
		}
		if (rc < 0)
			break;
		/* ActiveLearningScoreCreateRequest: each double written exactly (lib/api.c). */
		struct api_scores sc = { cols.v[c], { vals, nrows } };
		char *body = api_build_scores(&sc);
		rc = queue_outbox_add(q, j->sched_id, "scores", api_method(API_SCORES), path, body,
				      NULL);
		free(body);
	}
	free(vals);
out:
	for (size_t r = 0; r < nrows; r++)
		free(rows[r].cells);
	free(rows);
	free(path);
	strvec_free(&cols);
	strvec_free(&lines);
	free(p);
	return rc;
}

/*
 * Lightly's artifacts (API_ARTIFACT_CREATE, DockerRunArtifactType: kind
 * "artifact", uploaded then confirmed) and winnow's own run files
 * (API_RUN_FILE_CREATE, SPEC 7's /v1/winnow/runs/{runId}/files: kind "file",
 * uploaded).
 */
static const struct {
	const char *file;
	enum api_call call;
	int type;
} artifacts[] = {
	{ "report.json", API_ARTIFACT_CREATE, API_ART_REPORT_JSON },
	{ "filenames/corrupt_filenames.txt", API_ARTIFACT_CREATE,
	  API_ART_CORRUPTNESS_CHECK_INFORMATION },
	{ "filenames/duplicate_filenames.txt", API_ARTIFACT_CREATE,
	  API_ART_CORRUPTNESS_CHECK_INFORMATION },
	{ "filenames/excluded_filenames.txt", API_ARTIFACT_CREATE,
	  API_ART_CORRUPTNESS_CHECK_INFORMATION },
	{ "data/scores.csv", API_RUN_FILE_CREATE, API_FILE_SCORES_CSV },
	{ "data/selection.csv", API_RUN_FILE_CREATE, API_FILE_SELECTION_CSV },
	{ "data/embeddings_2d.csv", API_RUN_FILE_CREATE, API_FILE_EMBEDDINGS_2D },
	{ "filenames/no_predictions_filenames.txt", API_RUN_FILE_CREATE, API_FILE_NO_PREDICTIONS },
	{ "log.txt", API_ARTIFACT_CREATE, API_ART_LOG },
};

static int enqueue_artifact(struct queue *q, const struct job *j, const char *run_dir,
			    const char *file, enum api_call call, int type)
{
	char *abs = xasprintf("%s/%s", run_dir, file);
	struct stat st;
	int rc = 0;

	if (stat(abs, &st) == 0 && S_ISREG(st.st_mode)) {
		const char *base = strrchr(file, '/');
		struct api_artifact_create a;
		api_artifact_create_init(&a);
		a.file_name = (char *)(base ? base + 1 : file);
		a.type = type;
		char *body = call == API_RUN_FILE_CREATE ? api_build_run_file_create(&a) :
			     api_build_artifact_create(&a);
		char *path = path_of(api_path(call, j->run_id));
		if (body == NULL)
			fatalx("results: artifact %s: type %d out of range", file, type);
		rc = queue_outbox_add(q, j->sched_id, call == API_RUN_FILE_CREATE ? "file" : "artifact",
				      api_method(call), path, body, abs);
		free(path);
		free(body);
	}
	free(abs);
	return rc;
}

/* The scheduled run DONE, then the local end of the job. */
static int enqueue_finish(struct queue *q, const struct job *j, const char *job_state)
{
	struct api_sched_update u = { .state = API_SCHED_DONE, .priority = -1 };
	/* @WORKER@: the outbox puts the worker id in when it sends (api_path keeps '@'). */
	char *path = path_of(api_path(API_SCHED_UPDATE, j->dataset_id, "@WORKER@",
				      j->sched_id));
	char *body = api_build_sched_update(&u);
	int rc = queue_outbox_add(q, j->sched_id, "schedule", api_method(API_SCHED_UPDATE), path,
				  body, NULL);

	free(path);
	free(body);
	if (rc == 0)
		rc = queue_outbox_add(q, j->sched_id, "finish", "LOCAL", "", job_state, NULL);
	return rc;
}

int results_enqueue_tags(struct queue *q, const struct job *j, const char *run_dir,
			 const char *mappings, size_t len, char *err, size_t errlen)
{
	struct strvec cand = { 0 }, sel = { 0 };
	struct bitmask cm = { 0 }, sm = { 0 };
	struct name_idx *map = NULL;
	size_t nmap = 0;
	char *name = NULL, *cname = NULL, *body = NULL, *path = NULL, *sp = NULL;
	struct api_strs order;
	char perr[256];
	int rc;

	/* List[str], the answer of API_MAPPINGS. */
	if (api_parse_strs(mappings, len, 0, &order, perr, sizeof(perr)) < 0) {
		snprintf(err, errlen, "the sample order is not a list of file names: %s", perr);
		rc = -EPROTO;
		goto out;
	}
	map = xcalloc(order.n + 1, sizeof(*map));
	for (; nmap < order.n; nmap++) {
		map[nmap].name = order.v[nmap];
		map[nmap].idx = nmap;
	}
	qsort(map, nmap, sizeof(*map), cmp_name);
	if ((rc = read_candidates(run_dir, &cand, err, errlen)) < 0)
		goto out;
	sp = xasprintf("%s/filenames/selected_filenames.txt", run_dir);
	if ((rc = read_lines(sp, &sel)) < 0) {
		snprintf(err, errlen, "%s: %s", sp, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < cand.n; i++) {
		long k = lookup(map, nmap, cand.v[i]);
		if (k < 0) {
			snprintf(err, errlen, "candidate %s is not a sample of the dataset", cand.v[i]);
			rc = -EPROTO;
			goto out;
		}
		bitmask_set(&cm, (size_t)k);
	}
	for (size_t i = 0; i < sel.n; i++) {
		long k = lookup(map, nmap, sel.v[i]);
		if (k < 0) {
			snprintf(err, errlen, "selected %s is not a sample of the dataset", sel.v[i]);
			rc = -EPROTO;
			goto out;
		}
		bitmask_set(&sm, (size_t)k);
	}
	/*
	 * The selection tag's creator was taken from the config at the claim
	 * (plan_tag_creator); a row without one is of an older winnowd whose
	 * config this one cannot parse: Lightly's UNKNOWN says so.
	 */
	const char *creator = j->tag_creator ? j->tag_creator : "UNKNOWN";

	name = results_run_name(j);
	cname = xasprintf("%s-candidates", name);
	path = path_of(api_path(API_TAG_CREATE, j->dataset_id));
	body = tag_body(cname, NULL, &cm, nmap, "USER_WORKER", j->run_id);
	if ((rc = queue_outbox_add(q, j->sched_id, "tag_cand", "POST", path, body, NULL)) < 0)
		goto out;
	free(body);
	body = tag_body(name, RESULTS_CAND_TAG, &sm, nmap, creator, j->run_id);
	if ((rc = queue_outbox_add(q, j->sched_id, "tag_sel", "POST", path, body, NULL)) < 0)
		goto out;
	if ((rc = enqueue_scores(q, j, run_dir, map, nmap, err, errlen)) < 0)
		goto out;
	if ((rc = add_state(q, j, "UPLOADING_ARTIFACTS", "uploading artifacts", 0.96)) < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_LEN(artifacts); i++)
		if ((rc = enqueue_artifact(q, j, run_dir, artifacts[i].file, artifacts[i].call,
					   artifacts[i].type)) < 0)
			goto out;
	char msg[160];
	snprintf(msg, sizeof(msg), "completed: %zu selected of %zu candidates", sel.n, cand.n);
	if ((rc = add_state(q, j, "COMPLETED", msg, 1.0)) < 0)
		goto out;
	rc = enqueue_finish(q, j, "done");
out:
	if (rc < 0 && err[0] == '\0')
		snprintf(err, errlen, "cannot queue the results: %s", strerror(-rc));
	api_strs_free(&order);
	free(map);
	free(name);
	free(cname);
	free(body);
	free(path);
	free(sp);
	bitmask_free(&cm);
	bitmask_free(&sm);
	strvec_free(&cand);
	strvec_free(&sel);
	return rc;
}

int results_enqueue_end(struct queue *q, const struct job *j, const char *run_dir,
			const char *end_state, const char *message)
{
	int rc = 0;

	if (j->run_id[0] != '\0') {
		if ((rc = add_state(q, j, end_state, message, -1)) < 0)
			return rc;
		if (run_dir && (rc = enqueue_artifact(q, j, run_dir, "log.txt", API_ARTIFACT_CREATE,
						      API_ART_LOG)) < 0)
			return rc;
	}
	return enqueue_finish(q, j, strcmp(end_state, "ABORTED") == 0 ? "aborted" : "failed");
}
