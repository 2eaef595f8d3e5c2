/*
 * daemon: `winnowd [--config FILE]`, the worker daemon. Registers with the
 * web app, polls for scheduled runs, claims them, runs them on worker
 * threads and reports the results through the outbox.
 *
 * DESIGN. One libuv loop thread owns everything that is not a stage: the
 * curl multi handle (http.c), the SQLite connection (queue.c), the timers
 * and the signals. Worker threads (dispatch.c) get a struct exec and send
 * events back; the only state both sides write is the exec's cancel flag.
 *
 * Claim protocol (SPEC 6), one step at a time, each step's effect committed
 * before the next: an intent row (job "claimed"); PUT LOCKED (a repeat by the
 * same worker answers 200); POST the run (the same scheduledId gives the same
 * run; its id is stored); GET the config and the datasource, and with a
 * datapool.name the datapool (stored with them, SPEC 4.7); job "queued". A
 * kill -9 between any two steps leaves a "claimed" row that the next start
 * resumes at the first step whose result is not stored; at start the daemon
 * also asks for the runs it holds LOCKED and adds an intent row for any it
 * does not know.
 *
 * Recovery: a job found "running" at start was interrupted by the daemon's
 * death; it goes back to "queued" with deaths + 1 (five deaths fail it as a
 * suspected poison job). A drained job (SIGTERM) goes back to "queued"
 * without a death. "reporting" jobs simply continue in the outbox.
 */
#include "winnowd.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api.h"
#include "bitmask.h"
#include "dsroot.h"
#include "hooks.h"
#include "log.h"
#include "notify.h"
#include "results.h"
#include "util.h"
#include "version.h"

#define HEARTBEAT_MS 15000
#define TICK_MS 1000
#define STATE_PUT_MIN 2.0	/* seconds between progress PUTs of a run */
#define STATE_PUT_MAX 8.0	/* a run's state is PUT at least this often (SPEC: 10 s) */
#define MAX_ATTEMPTS 3
#define MAX_DEATHS 5

/* Share of the whole run's progress each stage stands for. */
static const double stage_weight[STAGE_COUNT] = { 0.03, 0.50, 0.04, 0.10, 0.10, 0.10, 0.03 };

static void claim_kick(struct wd *d);
static void try_dispatch(struct wd *d);
static void start_drain(struct wd *d, const char *why);
static void shutdown_maybe(struct wd *d);
static void worker_state_update(struct wd *d, bool force);
static const char *json_text(cJSON *o, const char *key);

char *wd_run_dir(struct wd *d, const char *sched)
{
	return xasprintf("%s/runs/%s", d->conf.state_dir, sched);
}

struct active *wd_active(struct wd *d, const char *sched)
{
	for (struct active *a = d->active; a; a = a->next)
		if (strcmp(a->sched_id, sched) == 0)
			return a;
	return NULL;
}

/*
 * The web app's URL of a path from api_path() (lib/api.c, the wire
 * contract of SPEC 7). Takes path; NULL stays NULL.
 */
static char *api_url(struct wd *d, char *path)
{
	char *url = path ? xasprintf("%s%s", d->conf.url, path) : NULL;

	free(path);
	return url;
}

/* A worker state body (UpdateDockerWorkerRegistryEntryRequest); caller frees. */
static char *worker_state_body(enum api_worker_state state)
{
	struct api_worker_update u = { .state = (int)state };

	return api_build_worker_update(&u);
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

static void status_update(struct wd *d)
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

/* ---- worker state and heartbeat ------------------------------------------ */

static void on_hb_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;

	d->hb_busy = false;
	if (d->stopping)
		return;
	if (rep->status >= 200 && rep->status < 300)
		wd_contact(d);
	else
		log_msg(LOG_LVL_WARNING, "heartbeat: %s", rep->status ? "refused" : rep->curl_error);
}

static bool busy(struct wd *d)
{
	return d->active != NULL || queue_job_count(d->q, JOB_QUEUED) > 0 ||
	       queue_job_count(d->q, JOB_REPORTING) > 0 || queue_job_count(d->q, JOB_CLAIMED) > 0;
}

static void worker_state_update(struct wd *d, bool force)
{
	enum api_worker_state st = busy(d) ? API_WORKER_BUSY : API_WORKER_IDLE;
	const char *s = api_enum_name(API_E_WORKER_STATE, (int)st);

	if (!d->registered || d->stopping || (d->hb_busy && !force))
		return;
	if (!force && strcmp(s, d->worker_state) == 0)
		return;
	snprintf(d->worker_state, sizeof(d->worker_state), "%s", s);
	char *url = api_url(d, api_path(API_WORKER_UPDATE, d->worker_id));
	char *body = worker_state_body(st);
	/* A state is a plain set: each heartbeat has a key of its own. */
	char key[64];
	snprintf(key, sizeof(key), "%s:hb%lld", d->worker_id, (long long)queue_now_ms());
	d->hb_busy = true;
	if (http_request_key(d->http, api_method(API_WORKER_UPDATE), url, d->conf.token, key, body,
			     strlen(body), 15, on_hb_reply, d) < 0)
		d->hb_busy = false;
	free(url);
	free(body);
}

static void on_hb_timer(uv_timer_t *t)
{
	worker_state_update(t->data, true);
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

static void active_free(struct wd *d, struct active *a)
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
static void end_job(struct wd *d, const char *sched, const char *end_state, const char *message,
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
		active_free(d, a);
		status_update(d);
		if (d->draining) {
			shutdown_maybe(d);
			return;
		}
		try_dispatch(d);
		worker_state_update(d, false);
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
	active_free(d, a);
	status_update(d);
	outbox_kick(d);
	if (d->draining) {
		shutdown_maybe(d);
		return;
	}
	try_dispatch(d);
	worker_state_update(d, false);
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

static void on_exec_event(void *ud, const struct exec_event *ev)
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
static const char *json_text(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct parsed_config *parsed_take(struct wd *d, const char *sched);

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
		if (dsroot_resolve(d->conf.dataset_roots.v, d->conf.dataset_roots.n, path, local,
				   sizeof(local), err, sizeof(err)) < 0) {
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
		/* A relative fullPath (Lightly's form) lies under dataset_roots (SPEC 3). */
		char err[700];
		if (dsroot_resolve(d->conf.dataset_roots.v, d->conf.dataset_roots.n, path, local,
				   sizeof(local), err, sizeof(err)) < 0) {
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

static void try_dispatch(struct wd *d)
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

/* ---- claims ------------------------------------------------------------- */

enum claim_step {
	CLAIM_LOCK, CLAIM_RUN, CLAIM_CONFIG, CLAIM_DATASOURCE, CLAIM_DATAPOOL, CLAIM_TAGS,
	CLAIM_MAPPINGS,
};

static const char *const claim_step_names[] = {
	"LOCKED", "create run", "config", "datasource", "datapool", "tags", "sample order",
};

struct claim {
	struct wd *d;
	struct job j;
	enum claim_step step;
	char *config;		/* the config reply's "config" object, JSON */
	struct run_config *cfg;	/* config, parsed: here, once, and handed on to the first attempt */
	char *datasource;	/* the datasource reply */
	char *pool_names;	/* the datapool's member names, a JSON array; NULL without one */
	int pool_members;
	struct strvec qtags;	/* the plan's query tag names (SPEC 4.8), each once */
	struct strvec qmasks;	/* their bitMaskData, from the tags reply */
	char *query_tags;	/* {tag name: [file names]}, JSON; NULL when the plan names none */
};

static void claim_free(struct claim *c)
{
	job_clear(&c->j);
	free(c->config);
	if (c->cfg != NULL) {
		config_free(c->cfg);
		free(c->cfg);
	}
	free(c->datasource);
	free(c->pool_names);
	strvec_free(&c->qtags);
	strvec_free(&c->qmasks);
	free(c->query_tags);
	free(c);
}

/* Removes and returns the parsed config kept for sched, or NULL. */
static struct parsed_config *parsed_take(struct wd *d, const char *sched)
{
	for (struct parsed_config **p = &d->parsed; *p; p = &(*p)->next) {
		if (strcmp((*p)->sched_id, sched) == 0) {
			struct parsed_config *pc = *p;
			*p = pc->next;
			return pc;
		}
	}
	return NULL;
}

static void parsed_free(struct parsed_config *pc)
{
	if (pc == NULL)
		return;
	config_free(&pc->cfg);
	free(pc);
}

/* The JSON path of the first plan entry that names query tag name. */
static char *qtag_path(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->nentries; i++)
		if (p->entries[i].tag_name && strcmp(p->entries[i].tag_name, name) == 0)
			return xasprintf("selection.strategies[%zu].input.tagName", i);
	return xstrdup("selection");
}

/*
 * The datapool's names from winnow's {fileNames} (the answer adds name and
 * added: tolerated), kept as a JSON array text for the job row.
 */
static int claim_datapool(struct claim *c, const struct http_reply *rep)
{
	struct api_datapool dp;
	char err[256];

	if (api_parse_datapool(rep->body, rep->len, API_PARSE_EXTRA_OK, &dp, err,
			       sizeof(err)) < 0) {
		log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: datapool \"%s\": the reply "
			"is no datapool: %s", c->j.sched_id, c->cfg->datapool_name, err);
		api_datapool_free(&dp);
		return -EPROTO;
	}
	c->pool_names = api_build_strs(&dp.file_names);
	c->pool_members = (int)dp.file_names.n;
	api_datapool_free(&dp);
	return 0;
}

static void claim_next(struct claim *c);

static void claim_end(struct claim *c, bool failed)
{
	struct wd *d = c->d;

	if (failed) {
		double wait = wd_backoff(d->claim_failures++);
		/* Kept in memory as well when the queue cannot take it (a full disk). */
		if (queue_job_set_lease(d->q, c->j.sched_id, queue_now_ms() + (int64_t)(wait * 1000)) < 0)
			d->claim_hold_until = queue_now_ms() + (int64_t)(wait * 1000);
	} else {
		d->claim_failures = 0;
	}
	d->claim_busy = false;
	claim_free(c);
	if (d->draining) {
		shutdown_maybe(d);
		return;
	}
	try_dispatch(d);
	claim_kick(d);
	worker_state_update(d, false);
}

/*
 * The run cannot start: its config is invalid or does not fit the dataset
 * (a query tag that is absent). A config error fails the run at once (SPEC
 * 2), with the messages in its log.
 */
static void claim_config_error(struct claim *c, const char *prefix, const struct strvec *errs)
{
	struct buf m = { 0 };

	buf_puts(&m, prefix);
	for (size_t i = 0; i < errs->n; i++)
		buf_printf(&m, "%s%s", i ? "; " : "", errs->v[i]);
	end_job(c->d, c->j.sched_id, "FAILED", m.data, errs);
	buf_free(&m);
	claim_end(c, false);
}

/*
 * Parses the config, once for the job (the parse goes on to its first
 * attempt), and takes what the claim's next steps need from it. Returns
 * false when the run ended on a config error.
 */
static bool claim_parse(struct claim *c)
{
	struct strvec errs = { 0 };

	c->cfg = xcalloc(1, sizeof(*c->cfg));
	if (config_parse(c->config, strlen(c->config), c->cfg, &errs) < 0) {
		free(c->cfg);	/* config_parse freed what it held */
		c->cfg = NULL;
		claim_config_error(c, "invalid config: ", &errs);
		strvec_free(&errs);
		return false;
	}
	const struct plan *p = config_plan(c->cfg);
	for (size_t i = 0; i < p->nentries; i++) {
		const struct plan_entry *e = &p->entries[i];
		if (e->input != PLAN_INPUT_EMBEDDINGS || e->tag_name == NULL)
			continue;
		if (e->dataset_id != NULL && strcmp(e->dataset_id, c->j.dataset_id) != 0) {
			char *m = xasprintf("selection.strategies[%zu].input.datasetId: \"%s\" is not "
					    "the run's dataset %s (a query tag must be of the run's "
					    "own dataset)", i, e->dataset_id, c->j.dataset_id);
			strvec_push(&errs, m);
			free(m);
			continue;
		}
		bool seen = false;
		for (size_t k = 0; k < c->qtags.n && !seen; k++)
			seen = strcmp(c->qtags.v[k], e->tag_name) == 0;
		if (!seen)
			strvec_push(&c->qtags, e->tag_name);
	}
	if (errs.n > 0) {
		claim_config_error(c, "invalid config: ", &errs);
		strvec_free(&errs);
		return false;
	}
	return true;
}

/*
 * The tags reply (List[TagData]): the bitMaskData of every query tag.
 * Returns 1 when all were found, 0 when the run ended (a tag is absent),
 * -1 when the reply is not a list of tags (retried).
 */
static int claim_tags(struct claim *c, cJSON *o)
{
	struct strvec errs = { 0 };
	cJSON *t;

	if (!cJSON_IsArray(o))
		return -1;
	for (size_t i = 0; i < c->qtags.n; i++) {
		const char *mask = NULL;
		cJSON_ArrayForEach(t, o) {
			const char *name = json_text(t, "name");
			if (name != NULL && strcmp(name, c->qtags.v[i]) == 0) {
				mask = json_text(t, "bitMaskData");
				break;
			}
		}
		if (mask != NULL) {
			strvec_push(&c->qmasks, mask);
			continue;
		}
		char *path = qtag_path(config_plan(c->cfg), c->qtags.v[i]);
		char *m = xasprintf("%s: the dataset has no tag named \"%s\"", path, c->qtags.v[i]);
		strvec_push(&errs, m);
		free(m);
		free(path);
	}
	if (errs.n > 0) {
		claim_config_error(c, "", &errs);
		strvec_free(&errs);
		return 0;
	}
	return 1;
}

/*
 * The sample order reply: each query tag's bits read against it (bit k =
 * the k-th name, SPEC 7) into c->query_tags. Returns 1, 0 when the run
 * ended (a mask the sample order cannot hold), -1 when the reply is not a
 * list of names (retried).
 */
static int claim_mappings(struct claim *c, cJSON *o)
{
	struct strvec errs = { 0 };
	size_t n = (size_t)cJSON_GetArraySize(o), k = 0;
	const char **names;
	cJSON *e, *out;

	if (!cJSON_IsArray(o))
		return -1;
	names = xcalloc(n + 1, sizeof(*names));
	cJSON_ArrayForEach(e, o) {
		if (!cJSON_IsString(e)) {
			free(names);
			return -1;
		}
		names[k++] = e->valuestring;
	}
	out = cJSON_CreateObject();
	for (size_t i = 0; i < c->qtags.n; i++) {
		struct bitmask bm = { 0 };
		int rc = bitmask_parse(c->qmasks.v[i], n, &bm);
		if (rc < 0) {
			char *path = qtag_path(config_plan(c->cfg), c->qtags.v[i]);
			char *m = rc == -ERANGE ?
				xasprintf("%s: tag \"%s\" (%s) names samples beyond the dataset's %zu",
					  path, c->qtags.v[i], c->qmasks.v[i], n) :
				xasprintf("%s: tag \"%s\": bitMaskData \"%.64s\" is not a bitmask",
					  path, c->qtags.v[i], c->qmasks.v[i]);
			strvec_push(&errs, m);
			free(m);
			free(path);
			continue;
		}
		cJSON *a = cJSON_CreateArray();
		for (size_t b = 0; b < n; b++)
			if (bitmask_get(&bm, b))
				cJSON_AddItemToArray(a, cJSON_CreateString(names[b]));
		cJSON_AddItemToObject(out, c->qtags.v[i], a);
		bitmask_free(&bm);
	}
	free(names);
	if (errs.n > 0) {
		cJSON_Delete(out);
		claim_config_error(c, "", &errs);
		strvec_free(&errs);
		return 0;
	}
	c->query_tags = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (c->query_tags == NULL)
		fatalx("out of memory");
	return 1;
}

/*
 * The last step: what the claim fetched and what it took from the config,
 * stored in one transaction; the job is "queued", and its parsed config
 * waits in memory for its first attempt.
 */
static void claim_finish(struct claim *c)
{
	struct wd *d = c->d;
	const char *creator = plan_tag_creator(config_plan(c->cfg));

	if (queue_begin(d->q) < 0 ||
	    queue_job_set_sources(d->q, c->j.sched_id, c->config, c->datasource, c->pool_names) < 0 ||
	    queue_job_set_plan(d->q, c->j.sched_id, c->cfg->datapool_name, creator,
			       c->query_tags) < 0 ||
	    queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		claim_end(c, true);
		return;
	}
	struct buf m = { 0 };
	if (c->pool_names != NULL)
		buf_printf(&m, "; datapool \"%s\": %d members", c->cfg->datapool_name, c->pool_members);
	for (size_t i = 0; i < c->qtags.n; i++)
		buf_printf(&m, "; query tag \"%s\"", c->qtags.v[i]);
	log_info("run %s: claimed scheduled run %s (selection tag by %s%s)", c->j.run_id,
		 c->j.sched_id, creator, m.data ? m.data : "");
	buf_free(&m);
	parsed_free(parsed_take(d, c->j.sched_id));
	struct parsed_config *pc = xcalloc(1, sizeof(*pc));
	snprintf(pc->sched_id, sizeof(pc->sched_id), "%s", c->j.sched_id);
	pc->cfg = *c->cfg;
	free(c->cfg);
	c->cfg = NULL;
	pc->next = d->parsed;
	d->parsed = pc;
	claim_end(c, false);
}

/* After step `done`: the next step the config asks for, or the end of the claim. */
static void claim_advance(struct claim *c, enum claim_step done)
{
	if (done < CLAIM_DATAPOOL && c->cfg->datapool_name != NULL) {
		c->step = CLAIM_DATAPOOL;
	} else if (done < CLAIM_TAGS && c->qtags.n > 0) {
		c->step = CLAIM_TAGS;
	} else if (done == CLAIM_TAGS) {
		c->step = CLAIM_MAPPINGS;
	} else {
		claim_finish(c);
		return;
	}
	claim_next(c);
}

static void on_claim_reply(void *ud, const struct http_reply *rep)
{
	struct claim *c = ud;
	struct wd *d = c->d;
	cJSON *o = NULL;
	int rc;

	if (d->stopping) {
		claim_free(c);
		return;
	}
	if (rep->status > 0)
		wd_contact(d);
	if (rep->status == 409 || (rep->status == 404 && c->step <= CLAIM_RUN)) {
		/* Another worker has it, or it was cancelled or deleted: forget the intent. */
		log_msg(LOG_LVL_NOTICE, "claim of scheduled run %s: not ours (HTTP %ld): %.200s",
			c->j.sched_id, rep->status, rep->body);
		(void)queue_job_delete(d->q, c->j.sched_id);
		claim_end(c, false);
		return;
	}
	if (rep->status < 200 || rep->status >= 300) {
		log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: %s: %s%.200s", c->j.sched_id,
			claim_step_names[c->step], rep->status ? "refused: " : rep->curl_error,
			rep->status ? rep->body : "");
		claim_end(c, true);
		return;
	}
	o = cJSON_ParseWithLength(rep->body, rep->len);
	switch (c->step) {
	case CLAIM_LOCK:
		c->step = CLAIM_RUN;
		break;
	case CLAIM_RUN: {
		struct api_entity e;
		char err[256];
		if (api_parse_entity(rep->body, rep->len, API_PARSE_EXTRA_OK, &e, err,
				     sizeof(err)) < 0) {
			log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: create run: the answer "
				"is no CreateEntityResponse: %s", c->j.sched_id, err);
			api_entity_free(&e);
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		if (queue_job_set_run(d->q, c->j.sched_id, e.id) < 0) {
			api_entity_free(&e);
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		snprintf(c->j.run_id, sizeof(c->j.run_id), "%s", e.id);
		api_entity_free(&e);
		c->step = CLAIM_CONFIG;
		break;
	}
	case CLAIM_CONFIG: {
		cJSON *cfg = cJSON_GetObjectItemCaseSensitive(o, "config");
		if (!cJSON_IsObject(cfg)) {
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		c->config = cJSON_PrintUnformatted(cfg);
		cJSON_Delete(o);
		if (claim_parse(c)) {
			c->step = CLAIM_DATASOURCE;
			claim_next(c);
		}
		return;
	}
	case CLAIM_DATASOURCE:
		c->datasource = xstrdup(rep->body ? rep->body : "");
		cJSON_Delete(o);
		claim_advance(c, CLAIM_DATASOURCE);
		return;
	case CLAIM_DATAPOOL:
		/*
		 * The datapool is fetched once, here, and stored with the job: every
		 * attempt of the run (after a death, a drain, a failure) preselects
		 * the same members, and this run's own picks, PUT when it reports,
		 * never count as members of itself.
		 */
		cJSON_Delete(o);
		if (claim_datapool(c, rep) < 0) {
			claim_end(c, true);
			return;
		}
		claim_advance(c, CLAIM_DATAPOOL);
		return;
	case CLAIM_TAGS:
	case CLAIM_MAPPINGS:
		/*
		 * The query tags (SPEC 4.8) are fetched once, here, like the
		 * datapool: the worker thread reads them from the job and never
		 * calls the web app, and every attempt queries the same names.
		 */
		rc = c->step == CLAIM_TAGS ? claim_tags(c, o) : claim_mappings(c, o);
		if (rc < 0)
			log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: %s: the reply is not "
				"a list of %s", c->j.sched_id, claim_step_names[c->step],
				c->step == CLAIM_TAGS ? "tags" : "file names");
		cJSON_Delete(o);
		if (rc < 0)
			claim_end(c, true);
		else if (rc > 0)
			claim_advance(c, c->step);
		return;
	}
	cJSON_Delete(o);
	claim_next(c);
}

static void claim_next(struct claim *c)
{
	struct wd *d = c->d;
	char *path = NULL, *body = NULL;
	enum api_call call = API_CONFIG_V0;

	switch (c->step) {
	case CLAIM_LOCK: {
		struct api_sched_update u = { .state = API_SCHED_LOCKED, .priority = -1 };
		call = API_SCHED_UPDATE;
		path = api_path(call, c->j.dataset_id, d->worker_id, c->j.sched_id);
		body = api_build_sched_update(&u);
		break;
	}
	case CLAIM_RUN: {
		struct api_run_create r = { .docker_version = WINNOW_VERSION,
					    .dataset_id = c->j.dataset_id,
					    .scheduled_id = c->j.sched_id,
					    .config_id = c->j.config_id, .creator = -1 };
		call = API_RUN_CREATE;
		path = api_path(call);
		body = api_build_run_create(&r);
		break;
	}
	case CLAIM_CONFIG:
		/* The 2.2-era route answers V4 configs too (SPEC 7 also has .../vX/). */
		call = API_CONFIG_V0;
		path = api_path(call, c->j.config_id);
		break;
	case CLAIM_DATASOURCE:
		/* winnow's route: the INPUT datasource with its S3 endpoint and secret (SPEC 7). */
		call = API_DATASOURCE_WINNOW;
		path = api_path(call, c->j.dataset_id);
		break;
	case CLAIM_DATAPOOL:
		/* The name is [A-Za-z0-9._-] (config.c); api_path escapes anything else. */
		call = API_DATAPOOL_GET;
		path = api_path(call, c->j.dataset_id, c->cfg->datapool_name);
		break;
	case CLAIM_TAGS:
		call = API_TAGS_LIST;
		path = api_path(call, c->j.dataset_id);
		break;
	case CLAIM_MAPPINGS:
		call = API_MAPPINGS;
		path = api_path(call, c->j.dataset_id);
		break;
	}
	const char *method = api_method(call);
	char *url = api_url(d, path);
	/*
	 * SPEC 7's Idempotency-Key: the job and the claim step ("<job>:lock",
	 * "<job>:run", "<job>:config", ...), the same for every retry of the step.
	 */
	static const char *const step_keys[] = {
		"lock", "run", "config", "datasource", "datapool", "tags", "mappings",
	};
	char key[64];
	snprintf(key, sizeof(key), "%s:%s", c->j.sched_id, step_keys[c->step]);
	if (url == NULL || http_request_key(d->http, method, url, d->conf.token, key, body,
					    body ? strlen(body) : 0, 30, on_claim_reply, c) < 0) {
		free(url);
		free(body);
		claim_end(c, true);
		return;
	}
	free(url);
	free(body);
}

/* Advances the oldest due "claimed" job by its next step; one claim at a time. */
static void claim_kick(struct wd *d)
{
	struct strvec ids = { 0 };
	int64_t now = queue_now_ms();

	if (d->claim_busy || d->draining || !d->registered || now < d->claim_hold_until)
		return;
	if (queue_job_ids(d->q, JOB_CLAIMED, &ids) < 0)
		return;
	for (size_t i = 0; i < ids.n; i++) {
		struct claim *c = xcalloc(1, sizeof(*c));
		c->d = d;
		if (queue_job_get(d->q, ids.v[i], &c->j) < 0 || c->j.lease > now) {
			job_clear(&c->j);
			free(c);
			continue;
		}
		/* With a run id stored, LOCKED and the run were both done before. */
		c->step = c->j.run_id[0] ? CLAIM_CONFIG : CLAIM_LOCK;
		d->claim_busy = true;
		claim_next(c);
		break;
	}
	strvec_free(&ids);
}

/* ---- polling ------------------------------------------------------------ */

static void schedule_poll(struct wd *d);
static void on_poll_timer(uv_timer_t *t);

static int capacity(struct wd *d)
{
	return d->conf.concurrent_runs - queue_job_count(d->q, JOB_CLAIMED) -
	       queue_job_count(d->q, JOB_QUEUED) - queue_job_count(d->q, JOB_RUNNING);
}

/*
 * Polls ask the web app to hold the answer up to poll_wait seconds while no
 * run is OPEN (?wait=, a long poll), so a run starts as soon as it is
 * scheduled. A poll that came back after waiting (or with runs) is followed by
 * the next one at once; one answered at once by a web app that does not wait
 * leaves the interval timer to pace the polls.
 */
/*
 * A poll's answer, List[DockerRunScheduledData]; the web app may still add
 * keys of its own (workerId, originScheduledId), tolerated. 0 or -EINVAL, logged.
 */
static int parse_scheduled(const struct http_reply *rep, const char *what,
			   struct api_scheduled_list *l)
{
	char err[256];
	int rc = api_parse_scheduled_list(rep->body, rep->len, API_PARSE_EXTRA_OK, l, err,
					  sizeof(err));

	if (rc < 0) {
		log_msg(LOG_LVL_WARNING, "%s: the answer is no list of scheduled runs: %s", what, err);
		api_scheduled_list_free(l);
	}
	return rc;
}

static char *poll_url(struct wd *d, const char *state)
{
	char *path = api_path(API_POLL, d->worker_id, state);

	if (path != NULL && d->conf.poll_wait > 0 && strcmp(state, "OPEN") == 0) {
		char *p = xasprintf("%s&wait=%g", path, d->conf.poll_wait);	/* winnow's long poll */
		free(path);
		path = p;
	}
	return api_url(d, path);
}

static void on_poll_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;
	struct api_scheduled_list a;
	bool waited = d->conf.poll_wait > 0 &&
		      now_seconds() - d->poll_sent >= d->conf.poll_wait * 0.5;

	d->poll_busy = false;
	if (d->stopping)
		return;
	if (rep->status > 0)
		wd_contact(d);
	if (rep->status != 200) {
		log_msg(LOG_LVL_WARNING, "poll: %s%.200s", rep->status ? "refused: " : rep->curl_error,
			rep->status ? rep->body : "");
		return;
	}
	if (d->draining)
		return;
	if (parse_scheduled(rep, "poll", &a) < 0)
		return;
	int room = capacity(d);
	for (size_t i = 0; i < a.n; i++) {
		const char *id = a.v[i].id, *ds = a.v[i].dataset_id, *cfg = a.v[i].config_id;
		struct job j;
		if (room <= 0)
			break;
		if (queue_job_get(d->q, id, &j) == 0) {
			job_clear(&j);
			continue;
		}
		/* Taken back and reopened, but its old run has not stopped here yet. */
		if (wd_active(d, id) != NULL)
			continue;
		/* The intent row comes first: after a crash the claim resumes from it. */
		if (queue_job_insert(d->q, id, ds, cfg) == 0) {
			log_info("scheduled run %s: claiming", id);
			room--;
		}
	}
	api_scheduled_list_free(&a);
	claim_kick(d);
	/* After a wait, the next poll goes out soon (10-60 ms, jittered). */
	if (waited)
		uv_timer_start(&d->poll_timer, on_poll_timer, 10 + (uint64_t)(random() % 50), 0);
}

static void on_poll_timer(uv_timer_t *t)
{
	struct wd *d = t->data;

	if (!d->draining && d->recovered && !d->poll_busy && capacity(d) > 0) {
		char *url = poll_url(d, "OPEN"), key[64];
		/* A read: each poll has a key of its own (SPEC 7: every call carries one). */
		snprintf(key, sizeof(key), "%s:poll%lld", d->worker_id, (long long)queue_now_ms());
		d->poll_busy = true;
		d->poll_sent = now_seconds();
		if (http_request_key(d->http, api_method(API_POLL), url, d->conf.token, key, NULL, 0,
				     30 + (long)d->conf.poll_wait, on_poll_reply, d) < 0)
			d->poll_busy = false;
		free(url);
	}
	schedule_poll(d);
}

static void schedule_poll(struct wd *d)
{
	/* +-20 % jitter, so that many workers do not poll in step. */
	double s = d->conf.poll_interval * (0.8 + 0.4 * ((double)random() / RAND_MAX));

	if (!d->draining)
		uv_timer_start(&d->poll_timer, on_poll_timer, (uint64_t)(s * 1000), 0);
}

/* ---- registration and recovery ------------------------------------------ */

static void do_register(struct wd *d);

static void on_reg_timer(uv_timer_t *t)
{
	do_register(t->data);
}

static void retry_register(struct wd *d, const char *what, const struct http_reply *rep)
{
	double wait = wd_backoff(d->reg_failures++);

	if (rep->retry_after > wait)
		wait = (double)rep->retry_after;
	log_msg(d->reg_failures == 1 ? LOG_LVL_WARNING : LOG_LVL_DEBUG, "%s: %s%.200s; retry in %.1f s",
		what, rep->status ? "refused: " : rep->curl_error, rep->status ? rep->body : "", wait);
	uv_timer_start(&d->reg_timer, on_reg_timer, (uint64_t)(wait * 1000), 0);
}

static void on_locked_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;
	struct api_scheduled_list a;

	if (d->stopping)
		return;
	if (rep->status != 200) {
		retry_register(d, "recovery (runs held LOCKED)", rep);
		return;
	}
	wd_contact(d);
	/* Without the list the runs this worker holds could be missed: asked again. */
	if (parse_scheduled(rep, "recovery (runs held LOCKED)", &a) < 0) {
		struct http_reply bad = { .status = rep->status, .body = "a bad answer" };
		retry_register(d, "recovery (runs held LOCKED)", &bad);
		return;
	}
	for (size_t i = 0; i < a.n; i++) {
		const char *id = a.v[i].id, *ds = a.v[i].dataset_id, *cfg = a.v[i].config_id;
		struct job j;
		if (queue_job_get(d->q, id, &j) == 0) {
			job_clear(&j);
			continue;
		}
		log_msg(LOG_LVL_NOTICE, "scheduled run %s: held LOCKED but unknown here; resuming",
			id);
		(void)queue_job_insert(d->q, id, ds, cfg);
	}
	api_scheduled_list_free(&a);
	d->recovered = true;
	d->reg_failures = 0;
	(void)notify_send("READY=1");
	log_info("ready: worker %s (%s), %d concurrent run%s, polling every %.1f s", d->worker_id,
		 d->conf.name, d->conf.concurrent_runs, d->conf.concurrent_runs == 1 ? "" : "s",
		 d->conf.poll_interval);
	status_update(d);
	worker_state_update(d, true);
	uv_timer_start(&d->hb_timer, on_hb_timer, d->heartbeat_ms, d->heartbeat_ms);
	claim_kick(d);
	try_dispatch(d);
	outbox_kick(d);
	uv_timer_start(&d->poll_timer, on_poll_timer, 10, 0);
}

static void on_register_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;
	struct api_entity e;
	char err[256];

	if (d->stopping)
		return;
	if (rep->status != 200 && rep->status != 201) {
		retry_register(d, "register", rep);
		return;
	}
	if (api_parse_entity(rep->body, rep->len, API_PARSE_EXTRA_OK, &e, err, sizeof(err)) < 0) {
		api_entity_free(&e);
		struct http_reply bad = { .status = rep->status, .body = err };
		retry_register(d, "register: the answer is no CreateEntityResponse", &bad);
		return;
	}
	const char *id = e.id;
	if (d->worker_id[0] && strcmp(d->worker_id, id) != 0)
		log_msg(LOG_LVL_NOTICE, "worker id changed from %s to %s", d->worker_id, id);
	snprintf(d->worker_id, sizeof(d->worker_id), "%s", id);
	api_entity_free(&e);
	(void)queue_meta_set(d->q, "worker_id", d->worker_id);
	(void)queue_meta_set(d->q, "worker_name", d->conf.name);	/* for winnowctl */
	d->registered = true;
	wd_contact(d);
	/* Runs this worker holds that the local queue does not know (a lost intent). */
	char *url = poll_url(d, "LOCKED"), key[64];
	snprintf(key, sizeof(key), "%s:locked%lld", d->worker_id, (long long)queue_now_ms());
	if (http_request_key(d->http, api_method(API_POLL), url, d->conf.token, key, NULL, 0, 30,
			     on_locked_reply, d) < 0) {
		struct http_reply bad = { .curl_error = "cannot start the request" };
		retry_register(d, "recovery", &bad);
	}
	free(url);
}

static void do_register(struct wd *d)
{
	struct api_worker_register r;

	api_worker_register_init(&r);
	r.name = d->conf.name;
	r.worker_type = 0;	/* FULL, Lightly's only type */
	r.labels = (struct api_strs){ d->conf.labels.v, d->conf.labels.n, true };
	char *body = api_build_worker_register(&r);
	char *url = api_url(d, api_path(API_WORKER_REGISTER));
	char *key = xasprintf("%s:register", d->conf.name);	/* a repeat finds the same worker */
	int rc = http_request_key(d->http, api_method(API_WORKER_REGISTER), url, d->conf.token, key,
				  body, strlen(body), 30, on_register_reply, d);
	free(key);
	if (rc < 0) {
		struct http_reply bad = { .curl_error = "cannot start the request" };
		retry_register(d, "register", &bad);
	}
	free(url);
	free(body);
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
static int recover_local(struct wd *d)
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

/* ---- signals and shutdown ----------------------------------------------- */

static void on_close_noop(uv_handle_t *h)
{
	(void)h;
}

static void close_all(struct wd *d)
{
	uv_handle_t *hs[] = {
		(uv_handle_t *)&d->poll_timer, (uv_handle_t *)&d->hb_timer,
		(uv_handle_t *)&d->tick_timer, (uv_handle_t *)&d->outbox_timer,
		(uv_handle_t *)&d->reg_timer, (uv_handle_t *)&d->stop_timer, (uv_handle_t *)&d->wd_timer,
		(uv_handle_t *)&d->sig_term, (uv_handle_t *)&d->sig_int, (uv_handle_t *)&d->sig_hup,
	};

	d->stopping = true;
	outbox_abandon(d);
	http_free(d->http);
	d->http = NULL;
	dispatch_free(d->disp);
	d->disp = NULL;
	for (size_t i = 0; i < ARRAY_LEN(hs); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], on_close_noop);
}

static void on_stop_timer(uv_timer_t *t)
{
	struct wd *d = t->data;

	log_info("stopped");
	close_all(d);
}

static void on_offline_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;

	(void)rep;
	/* Not from inside the HTTP client's callback: the timer closes the client. */
	if (!d->stopping)
		uv_timer_start(&d->stop_timer, on_stop_timer, 0, 0);
}

/* After a drain: once no run is on a thread and no claim is in flight, exit. */
static void shutdown_maybe(struct wd *d)
{
	if (!d->draining || d->active != NULL || d->claim_busy || d->stopping ||
	    uv_is_active((uv_handle_t *)&d->stop_timer))
		return;
	uv_timer_stop(&d->poll_timer);
	uv_timer_stop(&d->hb_timer);
	uv_timer_stop(&d->tick_timer);
	uv_timer_stop(&d->wd_timer);
	uv_timer_stop(&d->outbox_timer);
	uv_timer_stop(&d->reg_timer);
	/* Tell the web app, briefly; the outbox keeps everything else for the next start. */
	uv_timer_start(&d->stop_timer, on_stop_timer, 2000, 0);
	if (d->registered) {
		char *url = api_url(d, api_path(API_WORKER_UPDATE, d->worker_id));
		char *body = worker_state_body(API_WORKER_OFFLINE), key[64];
		snprintf(key, sizeof(key), "%s:offline%lld", d->worker_id, (long long)queue_now_ms());
		if (http_request_key(d->http, api_method(API_WORKER_UPDATE), url, d->conf.token, key,
				     body, strlen(body), 2, on_offline_reply, d) < 0)
			log_debug("cannot send OFFLINE");
		free(url);
		free(body);
	}
}

static void start_drain(struct wd *d, const char *why)
{
	if (d->draining)
		return;
	d->draining = true;
	(void)notify_send("STOPPING=1");
	log_info("%s: draining (no new claims; running stages stop at the next image)", why);
	uv_timer_stop(&d->poll_timer);
	for (struct active *a = d->active; a; a = a->next)
		cancel_request(&a->ex->cancel);
	status_update(d);
	shutdown_maybe(d);
}

static void reload(struct wd *d)
{
	struct dconf n;
	char err[512];

	if (dconf_load(d->conf_path, &n, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "SIGHUP: %s; keeping the running config", err);
		return;
	}
	if (strcmp(n.url, d->conf.url) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: url changed: needs a restart");
	if (strcmp(n.name, d->conf.name) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: worker_name changed: needs a restart");
	if ((n.ca_file == NULL) != (d->conf.ca_file == NULL) ||
	    (n.ca_file != NULL && strcmp(n.ca_file, d->conf.ca_file) != 0))
		log_msg(LOG_LVL_NOTICE, "SIGHUP: ca_file changed: needs a restart");
	if (strcmp(n.state_dir, d->conf.state_dir) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: state_dir changed: needs a restart");
	if (n.concurrent_runs != d->conf.concurrent_runs)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: concurrent_runs changed: needs a restart");
	if (n.threads_per_run != d->conf.threads_per_run)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: threads_per_run changed: needs a restart");
	bool labels_same = n.labels.n == d->conf.labels.n;
	for (size_t i = 0; labels_same && i < n.labels.n; i++)
		labels_same = strcmp(n.labels.v[i], d->conf.labels.v[i]) == 0;
	if (!labels_same)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: labels changed: needs a restart");
	/* The live ones: swap them in. */
	char *t = d->conf.token;
	d->conf.token = n.token;
	n.token = t;
	char *ts = d->conf.token_source;
	d->conf.token_source = n.token_source;
	n.token_source = ts;
	d->conf.poll_interval = n.poll_interval;
	d->conf.poll_wait = n.poll_wait;
	d->conf.keep_runs = n.keep_runs;
	d->conf.log_level = n.log_level;
	log_set_level(n.log_level);
	log_info("SIGHUP: config re-read (poll_interval %.1f s, keep_runs %d, token from %s)",
		 d->conf.poll_interval, d->conf.keep_runs, d->conf.token_source);
	dconf_free(&n);
	if (!d->draining && d->recovered) {
		uv_timer_stop(&d->poll_timer);
		schedule_poll(d);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct wd *d = s->data;

	if (signum == SIGHUP) {
		reload(d);
	} else if (signum == SIGINT && d->sigints++ > 0) {
		log_msg(LOG_LVL_WARNING, "second SIGINT: exiting at once");
		_exit(130);
	} else {
		start_drain(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

/* ---- the tick ----------------------------------------------------------- */

/* WATCHDOG=1 at half of WatchdogSec (SPEC 6): the loop is alive. */
static void on_wd_timer(uv_timer_t *t)
{
	(void)t;
	(void)notify_send("WATCHDOG=1");
}

static void on_tick(uv_timer_t *t)
{
	struct wd *d = t->data;
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
	outbox_kick(d);
	claim_kick(d);
	try_dispatch(d);
}

/* ---- main --------------------------------------------------------------- */

/*
 * <state dir>/winnowd.pid holds this process's id under a POSIX write lock
 * for as long as it runs: a second winnowd on the same state dir refuses to
 * start, and winnowctl tells a live daemon from a stale file with F_GETLK,
 * which tests the lock without taking it (so a winnowctl never makes a
 * starting winnowd fail). The kernel drops the lock when the process dies,
 * kill -9 included. Nothing else in winnowd may open this file: closing any
 * descriptor of it would drop a POSIX lock. Returns the descriptor (kept open
 * until exit) or a negative errno (-EAGAIN: another winnowd holds it).
 */
static int pidfile_lock(const char *state_dir)
{
	char *path = xasprintf("%s/winnowd.pid", state_dir);
	char buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc;

	free(path);
	if (fd < 0)
		return -errno;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &lk) < 0) {
		rc = errno == EACCES ? -EAGAIN : -errno;
		close(fd);
		return rc;
	}
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void usage(FILE *f)
{
	fputs("usage: winnowd [--config FILE]     the daemon (default " DCONF_DEFAULT_PATH ")\n"
	      "       winnowd select ...          local mode (winnowd select --help)\n"
	      "       winnowd sanity-check [--config FILE]\n"
	      "       winnowd --version\n", f);
}

int daemon_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wd *d = xcalloc(1, sizeof(*d));
	char err[1024];
	int ch, rc = 1, pidfd = -1;

	d->conf_path = xstrdup(DCONF_DEFAULT_PATH);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			free(d->conf_path);
			d->conf_path = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			free(d->conf_path);
			free(d);
			return 0;
		default:
			usage(stderr);
			free(d->conf_path);
			free(d);
			return 2;
		}
	}
	if (optind < argc) {
		log_msg(LOG_LVL_ERR, "unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		free(d->conf_path);
		free(d);
		return 2;
	}
	if (dconf_load(d->conf_path, &d->conf, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "config: %s", err);
		free(d->conf_path);
		free(d);
		return 2;
	}
	log_set_level(d->conf.log_level);
	/* The test driver may shorten both waits (hooks.h); winnowd leaves them 0. */
	d->retry_ms = wd_hooks.retry_ms > 0 ? wd_hooks.retry_ms : 10000;
	d->heartbeat_ms = wd_hooks.heartbeat_ms > 0 ? wd_hooks.heartbeat_ms : HEARTBEAT_MS;
	/*
	 * Fixed malloc thresholds: glibc otherwise raises its mmap threshold to
	 * the size of the largest block freed (up to 32 MB) and its trim
	 * threshold to twice that, so a run's 16 MB tables leave tens of MB in a
	 * worker thread's arena that neither free() nor malloc_trim() return
	 * (malloc_trim does not trim the top of a thread arena). Blocks of 1 MB
	 * and more are mapped and unmapped on their own.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	srandom((unsigned)(time(NULL) ^ getpid()));

	char *runs = xasprintf("%s/runs", d->conf.state_dir);
	int mr = mkdir_p(runs, 0750);
	free(runs);
	if (mr < 0) {
		log_msg(LOG_LVL_ERR, "state_dir %s: %s", d->conf.state_dir, strerror(-mr));
		goto out_conf;
	}
	pidfd = pidfile_lock(d->conf.state_dir);
	if (pidfd < 0) {
		log_msg(LOG_LVL_ERR, "%s/winnowd.pid: %s", d->conf.state_dir, pidfd == -EAGAIN ?
			"another winnowd runs on this state dir" : strerror(-pidfd));
		goto out_conf;
	}
	char *dbp = xasprintf("%s/winnowd.db", d->conf.state_dir);
	int qr = queue_open(dbp, &d->q, err, sizeof(err));
	free(dbp);
	if (qr < 0) {
		log_msg(LOG_LVL_ERR, "queue: %s", err);
		goto out_conf;
	}
	(void)queue_meta_get(d->q, "worker_id", d->worker_id, sizeof(d->worker_id));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(LOG_LVL_ERR, "curl_global_init failed");
		goto out_queue;
	}
	d->loop = uv_default_loop();
	d->http = http_new(d->loop);
	if (d->http != NULL && d->conf.ca_file != NULL)
		http_set_ca_file(d->http, d->conf.ca_file);
	d->disp = dispatch_new(d->loop, d->conf.concurrent_runs, on_exec_event, d);
	if (d->http == NULL || d->disp == NULL) {
		log_msg(LOG_LVL_ERR, "cannot start the HTTP client or the worker threads");
		goto out_curl;
	}
	uv_timer_t *timers[] = { &d->poll_timer, &d->hb_timer, &d->tick_timer, &d->outbox_timer,
				 &d->reg_timer, &d->stop_timer, &d->wd_timer };
	for (size_t i = 0; i < ARRAY_LEN(timers); i++) {
		uv_timer_init(d->loop, timers[i]);
		timers[i]->data = d;
	}
	uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
	int signums[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		uv_signal_init(d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	d->watchdog_interval = notify_watchdog_seconds();

	log_info("winnowd %s starting: web app %s, worker %s, state %s, token from %s",
		 WINNOW_VERSION, d->conf.url, d->conf.name, d->conf.state_dir, d->conf.token_source);
	if (recover_local(d) < 0)
		log_msg(LOG_LVL_WARNING, "recovery of interrupted runs failed; continuing");
	uv_timer_start(&d->tick_timer, on_tick, TICK_MS, TICK_MS);
	if (d->watchdog_interval > 0) {
		/* Its own timer, not the 1 s tick: at half of WatchdogSec whatever WatchdogSec is. */
		uint64_t half_ms = (uint64_t)(d->watchdog_interval * 500);
		uv_timer_start(&d->wd_timer, on_wd_timer, half_ms ? half_ms : 1, half_ms ? half_ms : 1);
	}
	do_register(d);
	uv_run(d->loop, UV_RUN_DEFAULT);
	rc = 0;
	if (uv_loop_close(d->loop) != 0)
		log_msg(LOG_LVL_WARNING, "the loop had handles left at exit");
	goto out_curl_only;
out_curl:
	outbox_abandon(d);
	http_free(d->http);
	dispatch_free(d->disp);
	uv_run(d->loop, UV_RUN_NOWAIT);
out_curl_only:
	curl_global_cleanup();
out_queue:
	while (d->active)
		active_free(d, d->active);
	while (d->parsed)
		parsed_free(parsed_take(d, d->parsed->sched_id));
	queue_close(d->q);
out_conf:
	if (pidfd >= 0)
		close(pidfd);
	dconf_free(&d->conf);
	free(d->conf_path);
	free(d);
	return rc;
}
