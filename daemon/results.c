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

#include "bitmask.h"
#include "log.h"
#include "util.h"

#define SAMPLES_PER_CALL 10000

char *results_run_name(const struct job *j)
{
	return xasprintf("run-%s", j->run_id);
}

char *results_state_body(const char *state, const char *message, double progress)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", state);
	if (message != NULL)
		cJSON_AddStringToObject(o, "message", message);
	if (progress >= 0)
		cJSON_AddNumberToObject(o, "progress", progress > 1 ? 1 : progress);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static char *json_take(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s == NULL)
		fatalx("results: out of memory printing JSON");
	return s;
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

static int add_state(struct queue *q, const struct job *j, const char *state, const char *msg,
		     double progress)
{
	char *path = xasprintf("/v1/docker/runs/%s", j->run_id);
	char *body = results_state_body(state, msg, progress);
	int rc = queue_outbox_add(q, j->sched_id, "state", "PUT", path, body, NULL);

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
	path = xasprintf("/v1/datasets/%s/datapools/%s", j->dataset_id, name);
	for (size_t i = 0; i < sel.n && rc == 0; i += SAMPLES_PER_CALL) {
		cJSON *o = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(o, "fileNames");
		for (size_t k = i; k < sel.n && k < i + SAMPLES_PER_CALL; k++)
			cJSON_AddItemToArray(a, cJSON_CreateString(sel.v[k]));
		char *body = json_take(o);
		rc = queue_outbox_add(q, j->sched_id, "datapool", "PUT", path, body, NULL);
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
	path = xasprintf("/v1/datasets/%s/samples/batch", j->dataset_id);
	for (size_t i = 0; i < cand.n; i += SAMPLES_PER_CALL) {
		cJSON *a = cJSON_CreateArray();
		for (size_t k = i; k < cand.n && k < i + SAMPLES_PER_CALL; k++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "fileName", cand.v[k]);
			cJSON_AddItemToObject(o, "metaData", cJSON_CreateObject());
			cJSON_AddItemToArray(a, o);
		}
		char *body = json_take(a);
		rc = queue_outbox_add(q, j->sched_id, "samples", "POST", path, body, NULL);
		free(body);
		if (rc < 0)
			goto out;
	}
	if ((rc = enqueue_datapool(q, j, run_dir, err, errlen)) < 0)
		goto out;
	free(path);
	path = xasprintf("/v1/datasets/%s/mappings?field=fileName", j->dataset_id);
	rc = queue_outbox_add(q, j->sched_id, "mappings", "GET", path, NULL, NULL);
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

static char *tag_body(const char *name, const char *prev, const struct bitmask *bm, size_t tot,
		      const char *creator, const char *run_id)
{
	cJSON *o = cJSON_CreateObject();
	char *mask = bitmask_format(bm);

	cJSON_AddStringToObject(o, "name", name);
	if (prev)
		cJSON_AddStringToObject(o, "prevTagId", prev);
	else
		cJSON_AddNullToObject(o, "prevTagId");
	cJSON_AddStringToObject(o, "bitMaskData", mask);
	cJSON_AddNumberToObject(o, "totSize", (double)tot);
	cJSON_AddStringToObject(o, "creator", creator);
	cJSON_AddStringToObject(o, "runId", run_id);
	free(mask);
	return json_take(o);
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
 * candidates in ascending bit order, each kept as the exact text the stage
 * printed (%.17g), so the web app stores the very doubles of the run.
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
	path = xasprintf("/v1/datasets/%s/tags/" RESULTS_CAND_TAG "/scores", j->dataset_id);
	for (size_t c = 1; c < cols.n && rc == 0; c++) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
		cJSON_AddStringToObject(o, "scoreType", cols.v[c]);
		for (size_t r = 0; r < nrows; r++) {
			const char *v = rows[r].cells[c];
			char *end;
			double dv = strtod(v, &end);
			if (*end != '\0' || !isfinite(dv)) {
				snprintf(err, errlen, "scores.csv: %s: \"%s\" is not a number",
					 cols.v[c], v);
				rc = -EINVAL;
				break;
			}
			cJSON_AddItemToArray(a, cJSON_CreateRaw(v));
		}
		cJSON_AddItemToObject(o, "scores", a);
		char *body = json_take(o);
		if (rc == 0)
			rc = queue_outbox_add(q, j->sched_id, "scores", "POST", path, body, NULL);
		free(body);
	}
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

static const struct { const char *file, *type; } artifacts[] = {
	{ "report.json", "REPORT_JSON" },
	{ "filenames/corrupt_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION" },
	{ "filenames/duplicate_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION" },
	{ "filenames/excluded_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION" },
	{ "data/scores.csv", "SCORES_CSV" },
	{ "data/selection.csv", "SELECTION_CSV" },
	{ "data/embeddings_2d.csv", "EMBEDDINGS_2D" },
	{ "log.txt", "LOG" },
};

static int enqueue_artifact(struct queue *q, const struct job *j, const char *run_dir,
			    const char *file, const char *type)
{
	char *abs = xasprintf("%s/%s", run_dir, file);
	struct stat st;
	int rc = 0;

	if (stat(abs, &st) == 0 && S_ISREG(st.st_mode)) {
		const char *base = strrchr(file, '/');
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "fileName", base ? base + 1 : file);
		cJSON_AddStringToObject(o, "type", type);
		char *body = json_take(o);
		char *path = xasprintf("/v1/docker/runs/%s/artifacts", j->run_id);
		rc = queue_outbox_add(q, j->sched_id, "artifact", "POST", path, body, abs);
		free(path);
		free(body);
	}
	free(abs);
	return rc;
}

/* The scheduled run DONE, then the local end of the job. */
static int enqueue_finish(struct queue *q, const struct job *j, const char *job_state)
{
	char *path = xasprintf("/v1/datasets/%s/docker/worker/@WORKER@/schedule/%s",
			       j->dataset_id, j->sched_id);
	int rc = queue_outbox_add(q, j->sched_id, "schedule", "PUT", path, "{\"state\":\"DONE\"}",
				  NULL);

	free(path);
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
	cJSON *arr = cJSON_ParseWithLength(mappings, len), *e;
	int rc;

	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "the sample order is not a JSON array");
		rc = -EPROTO;
		goto out;
	}
	map = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*map));
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e)) {
			snprintf(err, errlen, "the sample order holds a non-string");
			rc = -EPROTO;
			goto out;
		}
		map[nmap].name = e->valuestring;
		map[nmap].idx = nmap;
		nmap++;
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
	path = xasprintf("/v1/datasets/%s/tags", j->dataset_id);
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
		if ((rc = enqueue_artifact(q, j, run_dir, artifacts[i].file, artifacts[i].type)) < 0)
			goto out;
	char msg[160];
	snprintf(msg, sizeof(msg), "completed: %zu selected of %zu candidates", sel.n, cand.n);
	if ((rc = add_state(q, j, "COMPLETED", msg, 1.0)) < 0)
		goto out;
	rc = enqueue_finish(q, j, "done");
out:
	if (rc < 0 && err[0] == '\0')
		snprintf(err, errlen, "cannot queue the results: %s", strerror(-rc));
	cJSON_Delete(arr);
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
		if (run_dir && (rc = enqueue_artifact(q, j, run_dir, "log.txt", "LOG")) < 0)
			return rc;
	}
	return enqueue_finish(q, j, strcmp(end_state, "ABORTED") == 0 ? "aborted" : "failed");
}
