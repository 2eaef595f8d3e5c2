/*
 * jobs: a claimed job's life on this worker: its start on a worker thread
 * (the config, the datasource, the run folder), the thread's events (stage,
 * progress and log lines, queued as run-state and logs calls), its end
 * (results queued, a retry, FAILED), the runs the web app takes back, the
 * retention of run folders, and at start the jobs the last daemon left.
 *
 * Recovery: a job found "running" at start was interrupted by the daemon's
 * death; it goes back to "queued" with deaths + 1 (five deaths fail it as a
 * suspected poison job). A drained job (SIGTERM) goes back to "queued"
 * without a death. "reporting" jobs simply continue in the outbox.
 */
#include "winnowd.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "dsroot.h"
#include "log.h"
#include "notify.h"
#include "results.h"
#include "util.h"

#define STATE_PUT_MIN 2.0	/* seconds between progress PUTs of a run */
#define STATE_PUT_MAX 8.0	/* a run's state is PUT at least this often (SPEC: 10 s) */
#define MAX_ATTEMPTS 3
#define MAX_DEATHS 5

/* Share of the whole run's progress each stage stands for. */
static const double stage_weight[STAGE_COUNT] = { 0.03, 0.50, 0.04, 0.10, 0.10, 0.10, 0.03 };

struct active *wd_active(struct wd *d, const char *sched)
{
	for (struct active *a = d->active; a; a = a->next)
		if (strcmp(a->sched_id, sched) == 0)
			return a;
	return NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

/* Empties a run folder but for its checkpoints and log.txt. */
static int clear_outputs(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (dp == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".checkpoint") == 0 || strcmp(de->d_name, "log.txt") == 0)
			continue;
		char *p = xasprintf("%s/%s", dir, de->d_name);
		int r = rm_rf(p);
		if (r < 0 && rc == 0)
			rc = r;
		free(p);
	}
	closedir(dp);
	return rc;
}

void status_update(struct wd *d)
{
	char s[256];
	int n = 0;

	for (struct active *a = d->active; a; a = a->next)
		n++;
	if (d->active)
		snprintf(s, sizeof(s), "STATUS=%d run%s: %s %s", n, n == 1 ? "" : "s",
			 d->active->run_id, d->active->stage_known ?
			 stage_run_state(d->active->stage) : "STARTED");
	else
		snprintf(s, sizeof(s), "STATUS=idle%s", d->draining ? ", draining" : "");
	(void)notify_send(s);
}

/* ---- runs on the worker threads ------------------------------------------ */

/*
 * Queues the run's pending log lines as one logs call, in the caller's
 * transaction. The lines stay in a->logs until the caller's commit succeeded
 * (logs_committed): a rolled-back transaction (a full disk) must not lose them.
 */
static int flush_logs(struct wd *d, struct active *a)
{
	int n = cJSON_GetArraySize(a->logs);
	cJSON *e;

	if (n == 0)
		return 0;
	/*
	 * List[DockerRunLogCreateEntryData]; the outbox item's Idempotency-Key
	 * (queue_outbox_add) makes a retried call add nothing.
	 */
	struct api_log_entry *v = xcalloc((size_t)n, sizeof(*v));
	size_t k = 0;
	cJSON_ArrayForEach(e, a->logs) {
		api_log_entry_init(&v[k]);
		v[k].ts = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "ts"));
		v[k].level = api_enum_value(API_E_LOG_LEVEL, json_text(e, "level"));
		v[k].group = "winnowd";
		v[k].msg = (char *)json_text(e, "msg");
		v[k].state = api_enum_value(API_E_RUN_STATE, json_text(e, "state"));
		if (v[k].level < 0)
			v[k].level = API_LOG_INFO;
		k++;
	}
	struct api_log_list l = { v, k };
	char *body = api_build_log_list(&l);
	free(v);
	if (body == NULL)
		return -ENOMEM;
	char *path = api_path(API_RUN_LOGS, a->run_id);
	int rc = queue_outbox_add(d->q, a->sched_id, "logs", api_method(API_RUN_LOGS), path, body, NULL);
	free(path);
	free(body);
	return rc;
}

/* After the commit of a flush_logs: the lines are in the outbox now. */
static void logs_committed(struct active *a)
{
	cJSON_Delete(a->logs);
	a->logs = cJSON_CreateArray();
}

static void add_log(struct active *a, enum log_level lvl, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "ts", (double)queue_now_ms());
	cJSON_AddStringToObject(o, "level", log_level_name(lvl));
	cJSON_AddStringToObject(o, "msg", msg);
	cJSON_AddStringToObject(o, "state", a->stage_known ? stage_run_state(a->stage) : "STARTED");
	cJSON_AddItemToArray(a->logs, o);
}

static double progress_of(const struct active *a)
{
	double p = 0;

	if (!a->stage_known)
		return 0;
	for (int s = 0; s < (int)a->stage; s++)
		p += stage_weight[s];
	if (a->total > 0)
		p += stage_weight[a->stage] * (double)a->done / (double)a->total;
	return p * 0.9;
}

static void put_state(struct wd *d, struct active *a)
{
	char msg[128];
	const char *state = a->stage_known ? stage_run_state(a->stage) : "STARTED";

	if (a->released)
		return;
	if (a->stage_known && a->total > 0)
		snprintf(msg, sizeof(msg), "%s %zu/%zu", stage_name(a->stage), a->done, a->total);
	else
		snprintf(msg, sizeof(msg), "%s", a->stage_known ? stage_name(a->stage) : "started");
	/* The stage is also kept in the job row, for winnowctl. */
	(void)queue_job_set_stage(d->q, a->sched_id, a->stage_known ? stage_name(a->stage) : "",
				  progress_of(a));
	/*
	 * The run state on Lightly's route when it changed, the progress on
	 * winnow's each time (its answer carries the abort flag, outbox.c).
	 */
	bool changed = strcmp(a->last_state, state) != 0;
	int rc = results_put_state(d->q, a->sched_id, a->run_id, changed, state, msg,
				   progress_of(a), d->ob_inflight);
	if (rc >= 0)
		snprintf(a->last_state, sizeof(a->last_state), "%s", state);
	if (rc >= 0) {
		a->last_put = now_seconds();
		a->dirty = false;
	}
	outbox_kick(d);
}

void active_free(struct wd *d, struct active *a)
{
	for (struct active **p = &d->active; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	cJSON_Delete(a->logs);
	exec_free(a->ex);
	free(a);
}

/* A job that ends without a run on a thread (config error, bad datasource, too many deaths). */
void end_job(struct wd *d, const char *sched, const char *end_state, const char *message,
		    const struct strvec *lines)
{
	struct job j;
	char *dir = wd_run_dir(d, sched);

	if (queue_begin(d->q) < 0)
		goto out;
	if (queue_job_get(d->q, sched, &j) < 0) {
		queue_rollback(d->q);
		goto out;
	}
	int rc = 0;
	if (lines != NULL && lines->n > 0 && j.run_id[0]) {
		struct active tmp = { .logs = cJSON_CreateArray() };
		snprintf(tmp.sched_id, sizeof(tmp.sched_id), "%s", j.sched_id);
		snprintf(tmp.run_id, sizeof(tmp.run_id), "%s", j.run_id);
		for (size_t i = 0; i < lines->n; i++)
			add_log(&tmp, LOG_LVL_ERR, lines->v[i]);
		rc = flush_logs(d, &tmp);
		cJSON_Delete(tmp.logs);
	}
	if (rc == 0)
		rc = results_enqueue_end(d->q, &j, dir, end_state, message);
	if (rc == 0)
		rc = queue_job_set_state(d->q, sched, JOB_REPORTING, message);
	if (rc < 0 || queue_commit(d->q) < 0)
		queue_rollback(d->q);
	log_msg(LOG_LVL_ERR, "run %s: %s: %s", j.run_id, end_state, message);
	job_clear(&j);
	outbox_kick(d);
out:
	free(dir);
}

/*
 * A run's slot is free (its stages ended and what they left is recorded, or
 * nothing is to be): forget it, then shut down when draining, else claim the
 * next run and tell the web app the worker's new state.
 */
static void slot_freed(struct wd *d, struct active *a)
{
	active_free(d, a);
	status_update(d);
	if (d->draining) {
		shutdown_maybe(d);
		return;
	}
	try_dispatch(d);
	worker_state_update(d, false);
}

static void on_finished(struct wd *d, struct active *a)
{
	struct exec *ex = a->ex;
	struct pipeline_result *r = ex->res;
	char *dir;
	struct job j;
	char err[512] = "";
	int rc;

	if (a->released) {
		/* Its job row and outbox went when the web app took it back. */
		log_msg(LOG_LVL_NOTICE, "run %s: stages stopped; the run was taken back by the web "
			"app, nothing reported", a->run_id);
		slot_freed(d, a);
		return;
	}
	dir = wd_run_dir(d, a->sched_id);
	if (queue_begin(d->q) < 0)
		goto pending;
	if ((rc = flush_logs(d, a)) < 0 || (rc = queue_job_get(d->q, a->sched_id, &j)) < 0) {
		queue_rollback(d->q);
		goto pending;
	}
	if (ex->rc == 0) {
		rc = results_enqueue_samples(d->q, &j, dir, err, sizeof(err));
		if (rc < 0)
			rc = results_enqueue_end(d->q, &j, dir, "FAILED", err);
		if (rc == 0)
			rc = queue_job_set_state(d->q, a->sched_id, JOB_REPORTING, NULL);
		if (!a->end_pending)
			log_info("run %s: stages done in %.2f s: %zu selected of %zu candidates; "
				 "reporting", a->run_id, r->total_seconds, r->counts.selected,
				 r->counts.candidates);
	} else if (ex->rc == -ECANCELED && a->abort_requested) {
		rc = results_enqueue_end(d->q, &j, dir, "ABORTED", "aborted on request");
		if (rc == 0)
			rc = queue_job_set_state(d->q, a->sched_id, JOB_REPORTING, "aborted");
		if (!a->end_pending)
			log_msg(LOG_LVL_NOTICE, "run %s: aborted on request", a->run_id);
	} else if (ex->rc == -ECANCELED) {
		/* Drained: after the restart it resumes after its last checkpoint. */
		rc = queue_job_set_state(d->q, a->sched_id, JOB_QUEUED, NULL);
		if (!a->end_pending)
			log_msg(LOG_LVL_NOTICE, "run %s: stopped for shutdown; requeued", a->run_id);
	} else if (r->permanent || r->config_error || j.attempts + 1 >= MAX_ATTEMPTS) {
		char *msg = r->permanent || r->config_error ? xstrdup(r->error) :
			xasprintf("failed %d times, the last: %s", j.attempts + 1, r->error);
		rc = queue_job_count_up(d->q, a->sched_id, 1, 0);
		if (rc == 0)
			rc = results_enqueue_end(d->q, &j, dir, "FAILED", msg);
		if (rc == 0)
			rc = queue_job_set_state(d->q, a->sched_id, JOB_REPORTING, msg);
		if (!a->end_pending)
			log_msg(LOG_LVL_ERR, "run %s: FAILED: %s", a->run_id, msg);
		free(msg);
	} else {
		rc = queue_job_count_up(d->q, a->sched_id, 1, 0);
		if (rc == 0)
			rc = queue_job_set_state(d->q, a->sched_id, JOB_QUEUED, r->error);
		if (rc == 0)
			rc = queue_job_set_lease(d->q, a->sched_id,
						 queue_now_ms() + d->retry_ms * (j.attempts + 1));
		if (!a->end_pending)
			log_msg(LOG_LVL_WARNING, "run %s: attempt %d failed: %s; retrying",
				a->run_id, j.attempts + 1, r->error);
	}
	job_clear(&j);
	if (rc < 0 || queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		goto pending;
	}
	if (a->end_pending)
		log_info("run %s: the end of the stages is recorded now", a->run_id);
	free(dir);
	outbox_kick(d);
	slot_freed(d, a);
	return;
pending:
	/*
	 * The queue cannot take the end of the stages (a full disk, most
	 * likely). Left "running", the job would wait for the next start and be
	 * counted as a daemon death; instead the run stays active here and the
	 * tick tries again each second, until the disk has room.
	 */
	if (!a->end_pending)
		log_msg(LOG_LVL_ERR, "run %s: cannot record the end of the stages; "
			"trying again each second", a->run_id);
	a->end_pending = true;
	free(dir);
}

void on_exec_event(void *ud, const struct exec_event *ev)
{
	struct wd *d = ud;
	struct active *a = ev->ex->ud;

	switch (ev->type) {
	case EXEC_STAGE_BEGIN:
		a->stage = ev->stage;
		a->stage_known = true;
		a->done = 0;
		a->total = ev->total;
		put_state(d, a);
		status_update(d);
		break;
	case EXEC_PROGRESS:
		if (a->stage_known && ev->stage == a->stage) {
			a->done = ev->done;
			a->total = ev->total;
			a->dirty = true;
		}
		break;
	case EXEC_STAGE_END:
		break;
	case EXEC_LOG:
		log_msg(ev->level, "run %s: %s", a->run_id, ev->msg);
		if (!a->released)
			add_log(a, ev->level, ev->msg);
		break;
	case EXEC_FINISHED:
		on_finished(d, a);
		break;
	}
}

/* Text of a JSON object member (borrowed), or NULL. */
const char *json_text(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The query tags the claim stored ({name: [file names]}) into the exec. */
static int exec_set_query_tags(struct exec *ex, const char *json)
{
	cJSON *o = cJSON_Parse(json), *t, *e;
	int rc = cJSON_IsObject(o) ? 0 : -EINVAL;

	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	cJSON_ArrayForEach(t, o) {
		if (!cJSON_IsArray(t)) {
			rc = -EINVAL;
			break;
		}
		ex->qtags = xreallocarray(ex->qtags, ex->nqtags + 1, sizeof(*ex->qtags));
		struct exec_query_tag *q = &ex->qtags[ex->nqtags++];
		memset(q, 0, sizeof(*q));
		q->name = xstrdup(t->string);
		cJSON_ArrayForEach(e, t)
			if (cJSON_IsString(e))
				strvec_push(&q->names, e->valuestring);
	}
	cJSON_Delete(o);
	return rc;
}

/*
 * An S3 datasource's settings (the web app's JSON): its own values first,
 * the worker's config for what they leave out. The key id and secret go
 * together: a datasource without a key id takes both from the worker.
 */
static void s3_settings(const struct wd *d, cJSON *src, char **endpoint, char **region,
			char **key_id, char **secret)
{
	const char *ep = json_text(src, "s3Endpoint"), *rg = json_text(src, "s3Region");
	const char *key = json_text(src, "s3AccessKeyId"), *sec = json_text(src, "s3SecretAccessKey");
	bool ds_key = key != NULL && key[0] != '\0';

	*endpoint = xstrdup(ep && ep[0] ? ep : d->conf.s3_endpoint ? d->conf.s3_endpoint : "");
	*region = xstrdup(rg && rg[0] ? rg : d->conf.s3_region ? d->conf.s3_region : "");
	*key_id = xstrdup(ds_key ? key : d->conf.s3_access_key_id ? d->conf.s3_access_key_id : "");
	*secret = xstrdup(ds_key ? (sec ? sec : "")
			  : d->conf.s3_secret_access_key ? d->conf.s3_secret_access_key : "");
}

/*
 * The LIGHTLY datasource lt (winnow's datasource reply's "lightly") into ex:
 * a LOCAL folder resolved under dataset_roots as INPUT's, or an S3 prefix
 * with its settings (the worker's own "s3" config for what they leave out).
 * Returns 0, or -1 after failing the job.
 */
static int lightly_source(struct wd *d, cJSON *lt, struct exec *ex, const char *sched)
{
	const char *type = json_text(lt, "type"), *path = json_text(lt, "fullPath");
	bool s3 = type != NULL && strcmp(type, "S3") == 0;
	char local[PATH_MAX], err[700];

	if (type == NULL || path == NULL || (!s3 && strcmp(type, "LOCAL") != 0) ||
	    s3 != (strncmp(path, "s3://", 5) == 0)) {
		end_job(d, sched, "FAILED", "datasource: the LIGHTLY datasource is neither a LOCAL "
			"folder nor an S3 s3://bucket/prefix", NULL);
		return -1;
	}
	if (!s3 && (path[0] != '/' || d->conf.dataset_roots.n > 0)) {
		/* Opened beneath its root, not resolved and opened later by path (lib/dsroot.c). */
		ex->lightly_fd = dsroot_open(d->conf.dataset_roots.v, d->conf.dataset_roots.n, path,
					     local, sizeof(local), err, sizeof(err));
		if (ex->lightly_fd < 0) {
			ex->lightly_fd = -1;
			char *msg = xasprintf("LIGHTLY datasource: %s (winnowd's dataset_roots)", err);
			end_job(d, sched, "FAILED", msg, NULL);
			free(msg);
			return -1;
		}
		path = local;
	}
	ex->lightly = xstrdup(path);
	if (s3)
		s3_settings(d, lt, &ex->lt_s3_endpoint, &ex->lt_s3_region, &ex->lt_s3_key_id,
			    &ex->lt_s3_secret);
	return 0;
}

static void start_job(struct wd *d, const char *sched)
{
	struct job j;
	struct strvec errs = { 0 };
	struct exec *ex = NULL;
	cJSON *ds = NULL;

	if (queue_job_get(d->q, sched, &j) < 0)
		return;
	ex = xcalloc(1, sizeof(*ex));
	ex->input_fd = ex->lightly_fd = -1;
	if (j.deaths > 0 || j.attempts > 0)
		log_info("run %s: starting again (%d earlier failures, %d daemon deaths)", j.run_id,
			 j.attempts, j.deaths);
	/*
	 * One parse per attempt: the first attempt takes the claim's parse; a
	 * later one (a retry, a drain, a restart) parses the stored text here.
	 */
	struct parsed_config *pc = parsed_take(d, sched);
	log_debug("run %s: config %s", j.run_id, pc ? "as parsed at the claim" :
		  "parsed for this attempt");
	if (pc != NULL) {
		ex->cfg = pc->cfg;
		free(pc);
	} else if (config_parse(j.config ? j.config : "{}", j.config ? strlen(j.config) : 2,
				&ex->cfg, &errs) < 0) {
		struct buf m = { 0 };
		buf_puts(&m, "invalid config: ");
		for (size_t i = 0; i < errs.n; i++)
			buf_printf(&m, "%s%s", i ? "; " : "", errs.v[i]);
		end_job(d, sched, "FAILED", m.data, &errs);
		buf_free(&m);
		free(ex);	/* config_parse freed the config on failure */
		ex = NULL;
		goto out;
	}
	const struct plan *plan = config_plan(&ex->cfg);
	bool wants_tags = false;
	for (size_t i = 0; i < plan->nentries; i++)
		wants_tags |= plan->entries[i].input == PLAN_INPUT_EMBEDDINGS &&
			      plan->entries[i].tag_name != NULL;
	if ((ex->cfg.datapool_name != NULL && j.datapool == NULL) ||
	    (wants_tags && j.query_tags == NULL)) {
		/*
		 * Claimed by a winnowd that did not fetch datapools or query tags:
		 * claim it again from the config step (the stored run stays), which
		 * fetches them.
		 */
		log_info("run %s: %s not fetched yet; fetching", j.run_id,
			 j.datapool == NULL && ex->cfg.datapool_name ? "the datapool" : "the query tags");
		(void)queue_job_set_state(d->q, sched, JOB_CLAIMED, NULL);
		claim_kick(d);
		goto out;
	}
	/* A row of a winnowd before queue version 4: what the claim now stores. */
	if (j.tag_creator == NULL &&
	    queue_job_set_plan(d->q, sched, ex->cfg.datapool_name, plan_tag_creator(plan),
			       j.query_tags) < 0)
		goto out;
	if (j.query_tags != NULL && exec_set_query_tags(ex, j.query_tags) < 0) {
		end_job(d, sched, "FAILED", "the stored query tags are not {name: [file names]}",
			NULL);
		goto out;
	}
	if (j.datapool != NULL) {
		cJSON *a = cJSON_Parse(j.datapool), *e;
		cJSON_ArrayForEach(e, a)
			if (cJSON_IsString(e))
				strvec_push(&ex->datapool, e->valuestring);
		cJSON_Delete(a);
	}
	ds = j.datasource ? cJSON_Parse(j.datasource) : NULL;
	const char *type = json_text(ds, "type"), *path = json_text(ds, "fullPath");
	bool s3 = type != NULL && strcmp(type, "S3") == 0;
	if (type == NULL || (strcmp(type, "LOCAL") != 0 && !s3) || path == NULL ||
	    (s3 && strncmp(path, "s3://", 5) != 0) || (!s3 && strncmp(path, "s3://", 5) == 0)) {
		char *msg = xasprintf("datasource: type %s%s%s is not supported by this winnowd "
				      "(LOCAL folders and S3 s3://bucket/prefix)", type ? type : "(none)",
				      path ? " at " : "", path ? path : "");
		end_job(d, sched, "FAILED", msg, NULL);
		free(msg);
		goto out;
	}
	if (s3) {
		s3_settings(d, ds, &ex->s3_endpoint, &ex->s3_region, &ex->s3_key_id, &ex->s3_secret);
		ex->s3_path_style = d->conf.s3_path_style;
	}
	char local[PATH_MAX];
	if (!s3 && (path[0] != '/' || d->conf.dataset_roots.n > 0)) {
		/*
		 * A relative fullPath (Lightly's form) lies under dataset_roots (SPEC
		 * 3): opened beneath its root here, and read through that descriptor.
		 */
		char err[700];
		ex->input_fd = dsroot_open(d->conf.dataset_roots.v, d->conf.dataset_roots.n, path,
					   local, sizeof(local), err, sizeof(err));
		if (ex->input_fd < 0) {
			ex->input_fd = -1;
			char *msg = xasprintf("datasource: %s (winnowd's dataset_roots)", err);
			end_job(d, sched, "FAILED", msg, NULL);
			free(msg);
			goto out;
		}
		path = local;
	}
	/* A LIGHTLY datasource apart from INPUT (winnow's route adds it): `.lightly/` from there. */
	cJSON *lt = cJSON_GetObjectItemCaseSensitive(ds, "lightly");
	if (cJSON_IsObject(lt) && lightly_source(d, lt, ex, sched) < 0)
		goto out;
	snprintf(ex->sched_id, sizeof(ex->sched_id), "%s", j.sched_id);
	snprintf(ex->run_id, sizeof(ex->run_id), "%s", j.run_id);
	snprintf(ex->dataset_id, sizeof(ex->dataset_id), "%s", j.dataset_id);
	ex->input = xstrdup(path);
	ex->run_dir = wd_run_dir(d, sched);
	ex->threads = d->conf.threads_per_run;
	/*
	 * The stages are checkpointed (SPEC 6). A run that had started already
	 * (a daemon death, a drain, a failed attempt) keeps its checkpoints and
	 * log.txt and resumes after the latest valid checkpoint; its other
	 * outputs go. A new run starts in an empty run folder.
	 */
	struct stat sb;
	bool started = j.deaths > 0 || j.attempts > 0 || stat(ex->run_dir, &sb) == 0;
	int rc = started ? clear_outputs(ex->run_dir) : rm_rf(ex->run_dir);
	if (rc < 0)
		log_warnx("run %s: cannot clear %s: %s", j.run_id, ex->run_dir, strerror(-rc));
	ex->resume = true;

	struct active *a = xcalloc(1, sizeof(*a));
	a->ex = ex;
	a->logs = cJSON_CreateArray();
	snprintf(a->sched_id, sizeof(a->sched_id), "%s", j.sched_id);
	snprintf(a->run_id, sizeof(a->run_id), "%s", j.run_id);
	ex->ud = a;
	if (queue_begin(d->q) < 0 ||
	    queue_job_set_state(d->q, sched, JOB_RUNNING, NULL) < 0 ||
	    queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		cJSON_Delete(a->logs);
		free(a);
		goto out;
	}
	if (dispatch_submit(d->disp, ex) < 0) {
		(void)queue_job_set_state(d->q, sched, JOB_QUEUED, NULL);
		cJSON_Delete(a->logs);
		free(a);
		goto out;
	}
	ex = NULL;
	a->next = d->active;
	d->active = a;
	log_info("run %s: started (scheduled run %s, dataset %s, %s)", a->run_id, sched,
		 j.dataset_id, path);
	put_state(d, a);
	status_update(d);
	worker_state_update(d, false);
out:
	exec_free(ex);
	cJSON_Delete(ds);
	strvec_free(&errs);
	job_clear(&j);
}

void try_dispatch(struct wd *d)
{
	struct strvec ids = { 0 };
	int64_t now = queue_now_ms();

	if (d->draining || !d->recovered)
		return;
	if (queue_job_ids(d->q, JOB_QUEUED, &ids) < 0)
		return;
	for (size_t i = 0; i < ids.n && dispatch_free_threads(d->disp) > 0; i++) {
		struct job j;
		if (queue_job_get(d->q, ids.v[i], &j) < 0)
			continue;
		bool due = j.lease <= now;
		job_clear(&j);
		if (due)
			start_job(d, ids.v[i]);
	}
	strvec_free(&ids);
}


/*
 * Jobs a winnowd before queue version 4 left reporting have no selection tag
 * creator stored yet: it is taken from their config, parsed once here (the
 * jobs that will run again get theirs at their start).
 */
static void recover_v3_rows(struct wd *d)
{
	struct strvec ids = { 0 };

	if (queue_job_ids(d->q, JOB_REPORTING, &ids) < 0)
		return;
	for (size_t i = 0; i < ids.n; i++) {
		struct job j;
		struct run_config cfg;
		struct strvec errs = { 0 };
		if (queue_job_get(d->q, ids.v[i], &j) < 0)
			continue;
		if (j.tag_creator == NULL && j.config != NULL &&
		    config_parse(j.config, strlen(j.config), &cfg, &errs) == 0) {
			(void)queue_job_set_plan(d->q, ids.v[i], cfg.datapool_name,
						 plan_tag_creator(config_plan(&cfg)), j.query_tags);
			config_free(&cfg);
		}
		strvec_free(&errs);
		job_clear(&j);
	}
	strvec_free(&ids);
}

/* Jobs the last daemon left "running" died with it. */
int recover_local(struct wd *d)
{
	struct strvec ids = { 0 };
	int rc;

	recover_v3_rows(d);
	rc = queue_job_ids(d->q, JOB_RUNNING, &ids);

	for (size_t i = 0; rc == 0 && i < ids.n; i++) {
		struct job j;
		if (queue_job_get(d->q, ids.v[i], &j) < 0)
			continue;
		if (j.deaths + 1 >= MAX_DEATHS) {
			(void)queue_job_count_up(d->q, ids.v[i], 0, 1);
			end_job(d, ids.v[i], "FAILED", "the daemon died 5 times while running this run "
				"(a suspected poison job)", NULL);
		} else {
			log_msg(LOG_LVL_NOTICE, "run %s: interrupted by the daemon's end; requeued "
				"(death %d)", j.run_id, j.deaths + 1);
			if (queue_begin(d->q) == 0 && queue_job_count_up(d->q, ids.v[i], 0, 1) == 0 &&
			    queue_job_set_state(d->q, ids.v[i], JOB_QUEUED, NULL) == 0)
				rc = queue_commit(d->q);
			else
				queue_rollback(d->q);
		}
		job_clear(&j);
	}
	strvec_free(&ids);
	return rc;
}

/* ---- runs taken back by the web app ---------------------------------------- */

/*
 * This worker was silent past the web app's worker timeout (a network
 * partition, a restart after kill -9 that took too long): the web app
 * reopened the run for another worker, or ended it CRASHED and rescheduled
 * it (web/workers.c). Reporting anything more would process it twice, so the
 * job ends here: its outbox rows and its row go in one transaction, and a
 * run still on a thread is cancelled and forgotten when it stops. The
 * scheduled run, when OPEN again, may be claimed afresh like any other.
 */
void wd_job_released(struct wd *d, const char *sched, const char *why)
{
	struct active *a = wd_active(d, sched);
	struct job j;
	char run[25] = "";

	if (queue_job_get(d->q, sched, &j) == 0) {
		snprintf(run, sizeof(run), "%s", j.run_id);
		job_clear(&j);
	} else if (a != NULL) {
		snprintf(run, sizeof(run), "%s", a->run_id);
	}
	log_msg(LOG_LVL_WARNING, "run %s: taken back by the web app after missed heartbeats "
		"(scheduled run %s: %.200s); dropping the job without reporting",
		run[0] ? run : "(none)", sched, why);
	if (queue_begin(d->q) < 0 || queue_outbox_drop_after(d->q, sched, 0) < 0 ||
	    queue_job_delete(d->q, sched) < 0 || queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		/* Left as it is, the next call of the job gets 409 again and brings us back here. */
		log_warnx("run %s: cannot drop the job from the queue", run);
	}
	if (a != NULL && !a->released) {
		a->released = true;
		cancel_request(&a->ex->cancel);
	}
	parsed_free(parsed_take(d, sched));
	status_update(d);
	worker_state_update(d, false);
}

/* ---- retention ---------------------------------------------------------- */

struct rdir {
	char *name;
	time_t mtime;
};

static int cmp_rdir(const void *a, const void *b)
{
	const struct rdir *x = a, *y = b;

	return x->mtime > y->mtime ? -1 : x->mtime < y->mtime;
}

/* Keeps the newest keep_runs folders of ended jobs. */
static void retention(struct wd *d)
{
	char *root = xasprintf("%s/runs", d->conf.state_dir);
	DIR *dir = opendir(root);
	struct rdir *v = NULL;
	size_t n = 0;
	struct dirent *de;

	if (dir == NULL) {
		free(root);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct job j;
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (queue_job_get(d->q, de->d_name, &j) == 0) {
			bool ended = j.state == JOB_DONE || j.state == JOB_FAILED || j.state == JOB_ABORTED;
			job_clear(&j);
			if (!ended)
				continue;
		}
		char *p = xasprintf("%s/%s", root, de->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n].name = xstrdup(de->d_name);
			v[n++].mtime = st.st_mtime;
		}
		free(p);
	}
	closedir(dir);
	if (n > 1)	/* v is NULL when no folder is left: qsort's pointer must not be */
		qsort(v, n, sizeof(*v), cmp_rdir);
	for (size_t i = 0; i < n; i++) {
		if (i >= (size_t)d->conf.keep_runs) {
			char *p = xasprintf("%s/%s", root, v[i].name);
			if (rm_rf(p) == 0)
				log_debug("retention: removed %s", p);
			free(p);
		}
		free(v[i].name);
	}
	free(v);
	free(root);
}

void wd_job_finished(struct wd *d, const char *sched, const char *job_state)
{
	struct job j;

	if (queue_job_get(d->q, sched, &j) == 0) {
		log_info("run %s: reported; job %s", j.run_id, job_state);
		job_clear(&j);
	}
	retention(d);
	status_update(d);
	worker_state_update(d, false);
	/*
	 * Give memory back once the job is reported: the worker thread's run
	 * tables and the bodies reporting built here (samples, score lists,
	 * artifacts) stay in glibc's arenas otherwise. Not earlier: trimming
	 * while reporting still allocates only makes it fault the pages back.
	 */
	malloc_trim(0);
}

/* ---- the tick ----------------------------------------------------------- */

/*
 * Each second (daemon.c's tick): a run whose end the queue could not record
 * tries again; each run's pending log lines and, when due, its state are
 * queued.
 */
void jobs_tick(struct wd *d)
{
	double now = now_seconds();

	for (struct active *a = d->active, *next; a; a = next) {
		next = a->next;
		if (a->end_pending) {
			/* May free a. */
			on_finished(d, a);
			continue;
		}
		if (a->released)
			continue;
		if (cJSON_GetArraySize(a->logs) > 0) {
			if (queue_begin(d->q) == 0 && flush_logs(d, a) == 0 && queue_commit(d->q) == 0)
				logs_committed(a);
			else
				queue_rollback(d->q);
		}
		if ((a->dirty && now - a->last_put >= STATE_PUT_MIN) || now - a->last_put >= STATE_PUT_MAX)
			put_state(d, a);
	}
}
