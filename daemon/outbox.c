/*
 * outbox: sends the queued calls to the web app.
 *
 * DESIGN. Every call that reports something is a row in the outbox table
 * before it is sent (queue.c), and is deleted only after the web app has
 * answered it, in the same transaction as whatever the answer causes (the
 * next part of the results chain, the candidates tag id, the end of the
 * job). So a kill -9 or a web app outage repeats calls and never loses one;
 * SPEC 7 makes each call idempotent. One call is in flight at a time; the
 * items of one job go in order, those of different jobs by age. Transient
 * failures (no answer, 408, 429, 5xx) are retried with exponential backoff
 * and jitter, capped at 60 s, or after Retry-After when that is longer; other
 * 4xx answers are permanent: the call is dropped with an error in the log,
 * and a dropped link of the results chain fails the run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "api.h"
#include "log.h"
#include "results.h"
#include "util.h"
#include "winnowd.h"

struct ob_call {
	struct wd *d;
	struct outbox_item it;
	bool upload;		/* an artifact's or file's second step: PUT of its signedWriteUrl */
	bool confirm;		/* an artifact's third step: PUT .../confirmUpload */
	char artifact_id[25];
};

double wd_backoff(int attempt)
{
	return backoff_delay(attempt, 1.0, 60);
}

void wd_contact(struct wd *d)
{
	int64_t now = queue_now_ms();

	if (now - d->last_contact_saved < 5000)
		return;
	char v[32];
	snprintf(v, sizeof(v), "%lld", (long long)now);
	if (queue_meta_set(d->q, "last_contact", v) == 0)
		d->last_contact_saved = now;
}

/* Replaces every occurrence of from in s (owned) with to; returns the new string. */
static char *subst(char *s, const char *from, const char *to)
{
	char *p;

	if (s == NULL)
		return NULL;
	while ((p = strstr(s, from)) != NULL) {
		char *n = xasprintf("%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
		free(s);
		s = n;
	}
	return s;
}

/* The path without its query, for the log (a signedWriteUrl holds a signature). */
static void log_path(char *dst, size_t len, const char *path)
{
	size_t n = strcspn(path, "?");

	snprintf(dst, len, "%.*s", (int)n, path);
}

static void on_timer(uv_timer_t *t)
{
	outbox_kick(t->data);
}

/*
 * Records when an item is due again. When the queue cannot take even that (a
 * full disk), the wait is kept in memory instead: without it the item would be
 * due at once and sent again and again as fast as the web app answers.
 */
static void retry_later(struct wd *d, int64_t id, double wait, const char *why)
{
	if (queue_outbox_retry(d->q, id, queue_now_ms() + (int64_t)(wait * 1000), why) == 0) {
		d->ob_hold_failures = 0;
		return;
	}
	double hold = wd_backoff(d->ob_hold_failures++);
	if (hold < wait)
		hold = wait;
	if (d->ob_hold_failures == 1)
		log_msg(LOG_LVL_ERR, "outbox: cannot record a retry in the queue (disk full?); "
			"all calls wait %.1f s", hold);
	d->ob_hold_until = queue_now_ms() + (int64_t)(hold * 1000);
}

static bool transient(long status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

static void finish_call(struct ob_call *c)
{
	struct wd *d = c->d;

	d->ob_busy = false;
	d->ob_inflight = 0;
	d->ob_call = NULL;
	outbox_item_clear(&c->it);
	free(c);
	outbox_kick(d);
}

void outbox_abandon(struct wd *d)
{
	struct ob_call *c = d->ob_call;

	/* http_free drops transfers without their callbacks; the row is sent again on restart. */
	if (c == NULL)
		return;
	d->ob_call = NULL;
	d->ob_busy = false;
	d->ob_inflight = 0;
	outbox_item_clear(&c->it);
	free(c);
}

static void send_call(struct ob_call *c, const char *method, const char *url, const char *token,
		      const char *key, const char *body, size_t len);

/*
 * The run id of an artifact item's path, /v1/docker/runs/{runId}/artifacts
 * (a static buffer: used at once).
 */
static const char *run_of(const char *path)
{
	static char id[25];
	const char *p = strstr(path, "/runs/");

	id[0] = '\0';
	if (p != NULL)
		snprintf(id, sizeof(id), "%.*s", (int)strcspn(p + 6, "/?"), p + 6);
	return id;
}

/* Deletes the item, and lets the job's end follow when a broken chain ends it. */
static void drop_item(struct wd *d, const struct outbox_item *it, const char *why)
{
	struct job j;
	bool pool = strcmp(it->kind, "datapool") == 0;
	bool chain = pool || strcmp(it->kind, "mappings") == 0 || strcmp(it->kind, "tag_cand") == 0;

	if (queue_begin(d->q) < 0)
		return;
	if (queue_outbox_done(d->q, it->id) < 0)
		goto fail;
	/*
	 * A refused datapool PUT ends the run FAILED: its picks are not in the
	 * datapool, so the rest of the chain (the sample order, tags, COMPLETED)
	 * must not follow.
	 */
	if (pool && queue_outbox_drop_after(d->q, it->job, it->id) < 0)
		goto fail;
	if (chain && queue_job_get(d->q, it->job, &j) == 0) {
		char *msg = pool ? xasprintf("the datapool could not be updated: %s", why)
			: xasprintf("reporting the results failed: %s", why);
		char *dir = wd_run_dir(d, it->job);
		int rc = results_enqueue_end(d->q, &j, dir, "FAILED", msg);
		free(dir);
		free(msg);
		job_clear(&j);
		if (rc < 0)
			goto fail;
	}
	if (queue_commit(d->q) < 0)
		log_warnx("outbox: cannot drop item %lld", (long long)it->id);
	return;
fail:
	queue_rollback(d->q);
}

/* A 2xx answer: what it causes, and the item's deletion, in one transaction. */
static int handle_ok(struct wd *d, struct ob_call *c, const struct http_reply *rep)
{
	struct outbox_item *it = &c->it;
	char err[256];
	int rc = 0;

	if (strcmp(it->kind, "progress") == 0) {
		/* winnow's progress route answers {abortRequested} (SPEC 7); anything else is no abort. */
		struct api_abort_reply ar = { 0 };
		struct active *a = wd_active(d, it->job);
		if (api_parse_abort_reply(rep->body, rep->len, 0, &ar, err, sizeof(err)) == 0 &&
		    ar.abort_requested && a && !a->abort_requested) {
			log_msg(LOG_LVL_NOTICE, "run %s: abort requested; stopping at the next image",
				a->run_id);
			a->abort_requested = true;
			cancel_request(&a->ex->cancel);
		}
		return queue_outbox_done(d->q, it->id);
	}
	bool artifact = strcmp(it->kind, "artifact") == 0;
	if ((artifact || strcmp(it->kind, "file") == 0) && !c->upload) {
		/*
		 * Step two, the upload (and for Lightly's artifacts step three, the
		 * confirmation), is part of the same item: a restart repeats them all.
		 */
		struct api_artifact_created ac;
		char *data = NULL;
		size_t len = 0;
		if (api_parse_artifact_created(rep->body, rep->len, 0, &ac, err, sizeof(err)) < 0) {
			log_debug("outbox: artifact: %s", err);
			api_artifact_created_free(&ac);
			return -EPROTO;
		}
		rc = read_file(it->file, (size_t)1 << 31, &data, &len);
		if (rc < 0) {
			log_warnx("outbox: artifact %s: %s; not uploaded", it->file, strerror(-rc));
			api_artifact_created_free(&ac);
			return queue_outbox_done(d->q, it->id);
		}
		snprintf(c->artifact_id, sizeof(c->artifact_id), "%s", ac.artifact_id);
		c->upload = true;
		send_call(c, "PUT", ac.signed_write_url, NULL, NULL, data, len);
		free(data);
		api_artifact_created_free(&ac);
		return 1;	/* still in flight */
	}
	if (artifact && !c->confirm) {
		char *path = api_path(API_ARTIFACT_CONFIRM, run_of(it->path), c->artifact_id);
		char *url = path ? xasprintf("%s%s", d->conf.url, path) : NULL;
		free(path);
		if (url == NULL)
			return queue_outbox_done(d->q, it->id);
		c->confirm = true;
		send_call(c, api_method(API_ARTIFACT_CONFIRM), url, d->conf.token, it->idem_key,
			  NULL, 0);
		free(url);
		return 1;
	}
	if (strcmp(it->kind, "state") == 0 || artifact || strcmp(it->kind, "file") == 0)
		return queue_outbox_done(d->q, it->id);
	if (queue_begin(d->q) < 0)
		return -EIO;
	if (strcmp(it->kind, "mappings") == 0) {
		struct job j;
		char terr[512] = "";
		if ((rc = queue_job_get(d->q, it->job, &j)) == 0) {
			char *dir = wd_run_dir(d, it->job);
			rc = results_enqueue_tags(d->q, &j, dir, rep->body, rep->len, terr,
						  sizeof(terr));
			if (rc < 0) {
				log_msg(LOG_LVL_ERR, "run %s: %s", j.run_id, terr);
				char *msg = xasprintf("reporting the results failed: %s", terr);
				rc = results_enqueue_end(d->q, &j, dir, "FAILED", msg);
				free(msg);
			}
			free(dir);
			job_clear(&j);
		}
	} else if (strcmp(it->kind, "tag_cand") == 0) {
		struct api_entity e;
		rc = api_parse_entity(rep->body, rep->len, API_PARSE_EXTRA_OK, &e, err, sizeof(err));
		rc = rc == 0 ? queue_job_set_tag(d->q, it->job, e.id) : -EPROTO;
		api_entity_free(&e);
	}
	if (rc == 0 || rc == -ENOENT)
		rc = queue_outbox_done(d->q, it->id);
	if (rc < 0) {
		queue_rollback(d->q);
		return rc;
	}
	return queue_commit(d->q);
}

static void on_reply(void *ud, const struct http_reply *rep)
{
	struct ob_call *c = ud;
	struct wd *d = c->d;
	char lp[256];

	if (d->stopping) {
		if (d->ob_call == c)
			d->ob_call = NULL;
		outbox_item_clear(&c->it);
		free(c);
		return;
	}
	log_path(lp, sizeof(lp), c->confirm ? "artifact confirmUpload" :
		 c->upload ? "artifact upload" : c->it.path);
	if (rep->status > 0)
		wd_contact(d);
	if (rep->status >= 200 && rep->status < 300) {
		int rc = handle_ok(d, c, rep);
		if (rc == 1)
			return;		/* a second request went out for this item */
		if (rc == 0)
			d->ob_hold_failures = 0;
		if (rc < 0) {
			if (d->ob_hold_failures == 0)
				log_warnx("outbox: %s %s: cannot handle the answer (%s); retrying",
					  c->it.method, lp, strerror(-rc));
			retry_later(d, c->it.id, wd_backoff(c->it.attempts), "bad answer");
		}
		finish_call(c);
		return;
	}
	if (transient(rep->status)) {
		double wait = wd_backoff(c->it.attempts);
		if (rep->retry_after > wait)
			wait = (double)rep->retry_after;
		char why[160];
		if (rep->status == 0)
			snprintf(why, sizeof(why), "%s", rep->curl_error ? rep->curl_error : "no answer");
		else
			snprintf(why, sizeof(why), "HTTP %ld", rep->status);
		log_msg(c->it.attempts == 0 ? LOG_LVL_WARNING : LOG_LVL_DEBUG,
			"outbox: %s %s (job %s): %s; retry %d in %.1f s", c->upload ? "PUT" : c->it.method,
			lp, c->it.job, why, c->it.attempts + 1, wait);
		retry_later(d, c->it.id, wait, why);
		finish_call(c);
		return;
	}
	char why[400];
	snprintf(why, sizeof(why), "HTTP %ld: %.300s", rep->status, rep->body ? rep->body : "");
	if (rep->status == 409 && rep->body && strstr(rep->body, "\"DOCKER_WORKER_SCHEDULE_UPDATE_FAILED\"")) {
		/* The run is another worker's now, or CRASHED: the whole job goes, not this call only. */
		wd_job_released(d, c->it.job, why);
		finish_call(c);
		return;
	}
	if (strcmp(c->it.kind, "schedule") == 0 && rep->status == 409)
		log_msg(LOG_LVL_NOTICE, "outbox: %s %s: %s (dropped)", c->it.method, lp, why);
	else
		log_msg(LOG_LVL_ERR, "outbox: %s %s (job %s): %s; the call is dropped",
			c->upload ? "PUT" : c->it.method, lp, c->it.job, why);
	drop_item(d, &c->it, why);
	finish_call(c);
}

static void send_call(struct ob_call *c, const char *method, const char *url, const char *token,
		      const char *key, const char *body, size_t len)
{
	struct wd *d = c->d;
	int rc = http_request_key(d->http, method, url, token, key, body, len, 120, on_reply, c);

	if (rc < 0) {
		struct http_reply rep = { .status = 0, .body = "", .retry_after = -1,
					  .curl_error = "cannot start the request" };
		on_reply(c, &rep);
	}
}

/* The local end of a job: its final state, after every call before it went out. */
static int finish_local(struct wd *d, const struct outbox_item *it)
{
	int s = job_state_parse(it->body ? it->body : "");

	if (s < 0)
		s = JOB_FAILED;
	if (queue_begin(d->q) < 0)
		return -EIO;
	int rc = queue_job_set_state(d->q, it->job, (enum job_state)s, NULL);
	if (rc == 0 || rc == -ENOENT)
		rc = queue_outbox_done(d->q, it->id);
	if (rc < 0 || queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		return -EIO;
	}
	wd_job_finished(d, it->job, job_state_name((enum job_state)s));
	return 0;
}

void outbox_kick(struct wd *d)
{
	if (d->ob_busy || d->stopping || !d->registered)
		return;
	d->outbox_timer.data = d;
	if (queue_now_ms() < d->ob_hold_until) {
		uv_timer_start(&d->outbox_timer, on_timer,
			       (uint64_t)(d->ob_hold_until - queue_now_ms()), 0);
		return;
	}
	for (;;) {
		int64_t now = queue_now_ms(), due;
		struct outbox_item it;
		int r = queue_outbox_next(d->q, now, &it, &due);

		if (r < 0) {
			uv_timer_start(&d->outbox_timer, on_timer, 1000, 0);
			return;
		}
		if (r == 0) {
			if (due >= 0)
				uv_timer_start(&d->outbox_timer, on_timer,
					       (uint64_t)(due > now ? due - now : 1), 0);
			else
				uv_timer_stop(&d->outbox_timer);
			return;
		}
		if (strcmp(it.method, "LOCAL") == 0) {
			if (finish_local(d, &it) < 0) {
				outbox_item_clear(&it);
				uv_timer_start(&d->outbox_timer, on_timer, 1000, 0);
				return;
			}
			outbox_item_clear(&it);
			continue;
		}
		if (strstr(it.path, RESULTS_CAND_TAG) || (it.body && strstr(it.body, RESULTS_CAND_TAG))) {
			struct job j;
			if (queue_job_get(d->q, it.job, &j) < 0 || j.cand_tag[0] == '\0') {
				/* Cannot happen: the tag's call precedes in the same job's order. */
				log_warnx("outbox: item %lld needs the candidates tag, not known yet",
					  (long long)it.id);
				(void)queue_outbox_retry(d->q, it.id, now + 5000, "no candidates tag");
				outbox_item_clear(&it);
				if (j.sched_id[0])
					job_clear(&j);
				continue;
			}
			it.path = subst(it.path, RESULTS_CAND_TAG, j.cand_tag);
			it.body = subst(it.body, RESULTS_CAND_TAG, j.cand_tag);
			job_clear(&j);
		}
		it.path = subst(it.path, "@WORKER@", d->worker_id);
		struct ob_call *c = xcalloc(1, sizeof(*c));
		c->d = d;
		c->it = it;
		d->ob_busy = true;
		d->ob_inflight = it.id;
		d->ob_call = c;
		char *url = xasprintf("%s%s", d->conf.url, it.path);
		log_debug("outbox: %s %s (job %s, %s)", it.method, it.path, it.job, it.kind);
		send_call(c, it.method, url, d->conf.token, it.idem_key[0] ? it.idem_key : NULL, it.body,
			  it.body ? strlen(it.body) : 0);
		free(url);
		return;
	}
}
