/*
 * register: this worker in the web app's registry (SPEC 6, 7): the
 * registration (retried until it succeeds), then the runs it holds LOCKED
 * (an intent row for any the local queue lost), its state (BUSY or IDLE
 * when it changes, the heartbeat, OFFLINE at shutdown), and the polls for
 * OPEN runs, which add the intent rows claim.c advances.
 */
#include "winnowd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "notify.h"
#include "util.h"

/* A worker state body (UpdateDockerWorkerRegistryEntryRequest); caller frees. */
static char *worker_state_body(enum api_worker_state state)
{
	struct api_worker_update u = { .state = (int)state };

	return api_build_worker_update(&u);
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

void worker_state_update(struct wd *d, bool force)
{
	enum api_worker_state st = busy(d) ? API_WORKER_BUSY : API_WORKER_IDLE;
	const char *s = api_enum_name(API_E_WORKER_STATE, (int)st);

	if (!d->registered || d->stopping || (d->hb_busy && !force))
		return;
	if (!force && strcmp(s, d->worker_state) == 0)
		return;
	snprintf(d->worker_state, sizeof(d->worker_state), "%s", s);
	char *url = wd_url(d, api_path(API_WORKER_UPDATE, d->worker_id));
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

void worker_offline(struct wd *d, http_cb done)
{
	char *url = wd_url(d, api_path(API_WORKER_UPDATE, d->worker_id));
	char *body = worker_state_body(API_WORKER_OFFLINE), key[64];

	snprintf(key, sizeof(key), "%s:offline%lld", d->worker_id, (long long)queue_now_ms());
	if (http_request_key(d->http, api_method(API_WORKER_UPDATE), url, d->conf.token, key,
			     body, strlen(body), 2, done, d) < 0)
		log_debug("cannot send OFFLINE");
	free(url);
	free(body);
}

/* ---- polling ------------------------------------------------------------ */

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
	return wd_url(d, path);
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

void schedule_poll(struct wd *d)
{
	/* +-20 % jitter, so that many workers do not poll in step. */
	double s = d->conf.poll_interval * (0.8 + 0.4 * ((double)random() / RAND_MAX));

	if (!d->draining)
		uv_timer_start(&d->poll_timer, on_poll_timer, (uint64_t)(s * 1000), 0);
}

/* ---- registration and recovery ------------------------------------------ */


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

void do_register(struct wd *d)
{
	struct api_worker_register r;

	api_worker_register_init(&r);
	r.name = d->conf.name;
	r.worker_type = 0;	/* FULL, Lightly's only type */
	r.labels = (struct api_strs){ d->conf.labels.v, d->conf.labels.n, true };
	char *body = api_build_worker_register(&r);
	char *url = wd_url(d, api_path(API_WORKER_REGISTER));
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
