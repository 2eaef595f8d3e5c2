/*
 * routes_worker: the calls of SPEC 7 that winnowd makes. Each one is
 * idempotent, because the daemon retries every call from its outbox until it
 * gets an answer: a repeat finds the row the first call wrote, inside the
 * same BEGIN IMMEDIATE transaction as the check, so two concurrent repeats
 * cannot both insert.
 */
#include "routes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api.h"
#include "authz.h"
#include "bitmask.h"
#include "db.h"
#include "log.h"
#include "longpoll.h"
#include "models.h"
#include "util.h"
#include "workers.h"

/* Replies 201 (created) or 200 (found) with {"id": id}. */
static void reply_id(struct resp *out, int status, const char *key, const char *id)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, key, id);
	resp_json(out, status, o);
}

/* Store lookups: 0, -ENOENT (404) or -EIO (503). */
static int worker_lookup(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM workers WHERE id = ?");

	db_bind_text(st, 1, id);
	int found = db_row(st);
	sqlite3_reset(st);
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

static int run_lookup(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM runs WHERE id = ?");

	db_bind_text(st, 1, id);
	int found = db_row(st);
	sqlite3_reset(st);
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

/*
 * The answer to a worker's call on a run the sweep took back (workers.c):
 * the worker that held it was silent past the timeout, and the run was
 * reopened for another worker or ended CRASHED and rescheduled.
 */
static void reply_released(struct resp *out, const char *run)
{
	resp_error(out, 409, "DOCKER_WORKER_SCHEDULE_UPDATE_FAILED", "run %s was taken back from its worker after missed "
		   "heartbeats (reopened or CRASHED and rescheduled); drop it", run);
}

/* Names: non-empty, at most max bytes, valid UTF-8, no control characters. */
static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

void h_worker_register(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out), *labels = NULL;
	const char *name = NULL, *type = "FULL";
	static const char *const types[] = { "FULL", NULL };
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "name", true, &name, out) < 0 ||
	    json_enum(j, "workerType", false, types, &type, out) < 0 ||
	    json_str_array(j, "labels", false, &labels, out) < 0)
		goto done;
	if (!api_name_ok(API_NAME_WORKER, name)) {
		resp_error(out, 400, "BAD_REQUEST", "name: %s", api_name_rule(API_NAME_WORKER));
		goto done;
	}
	/* A worker token registers or finds only the worker it is bound to (SPEC 8). */
	if (r->who.role == ROLE_WORKER && strcmp(name, r->who.worker) != 0) {
		resp_error(out, 403, "FORBIDDEN", "this worker token is bound to the worker %s",
			   r->who.worker);
		goto done;
	}
	char *labels_text = labels ? cJSON_PrintUnformatted(labels) : xstrdup("[]");
	int64_t now = db_now_ms();
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	sqlite3_stmt *st = db_stmt(c, "SELECT id, user_id FROM workers WHERE name = ?");
	db_bind_text(st, 1, name);
	int found = db_step(st);
	if (found != SQLITE_ROW && found != SQLITE_DONE) {
		sqlite3_reset(st);
		goto dberr;
	}
	if (found == SQLITE_ROW) {
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		/* A user changes only the workers they registered; an admin, any. */
		bool owner = r->who.role == ROLE_WORKER || r->who.admin ||
			     strcmp(db_col_text(st, 1), r->who.id) == 0;
		sqlite3_reset(st);
		if (!owner) {
			db_rollback(c);
			free(labels_text);
			resp_error(out, 403, "FORBIDDEN", "the worker %s is registered by another user",
				   name);
			goto done;
		}
		/* The same worker again (a restart): its labels may have changed. */
		st = db_stmt(c, "UPDATE workers SET labels = ?, worker_type = ?, last_seen_at = ?, "
			     "last_modified_at = ? WHERE id = ?");
		db_bind_text(st, 1, labels_text);
		db_bind_text(st, 2, type);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, now);
		db_bind_text(st, 5, id);
	} else {
		sqlite3_reset(st);
		int64_t n = 0;
		st = db_stmt(c, "SELECT count(*) FROM workers");
		if (db_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		else
			n = -1;
		sqlite3_reset(st);
		if (n < 0)
			goto dberr;
		if (n >= WORKERS_MAX) {
			db_rollback(c);
			free(labels_text);
			resp_error(out, 409, "CREATION_FAILED", "at most %d workers are registered "
				   "(delete one first)", WORKERS_MAX);
			goto done;
		}
		id_new(id);
		st = db_stmt(c, "INSERT INTO workers (id, user_id, name, worker_type, state, labels, "
			     "created_at, last_modified_at, last_seen_at) VALUES (?, ?, ?, ?, 'IDLE', ?, ?, ?, ?)");
		db_bind_text(st, 1, id);
		db_bind_text(st, 2, r->who.id);
		db_bind_text(st, 3, name);
		db_bind_text(st, 4, type);
		db_bind_text(st, 5, labels_text);
		sqlite3_bind_int64(st, 6, now);
		sqlite3_bind_int64(st, 7, now);
		sqlite3_bind_int64(st, 8, now);
	}
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	free(labels_text);
	/* 201 also for the same name again: Lightly's client maps only 201 (SPEC 7). */
	reply_id(out, 201, "id", id);
	goto done;
dberr:
	free(labels_text);
	resp_db_error(out, c);
	db_rollback(c);
done:
	cJSON_Delete(j);
}

void h_worker_state(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *state = NULL;
	struct dbconn *c = req_db(r);

	if (j == NULL)
		return;
	if (json_enum(j, "state", true, worker_states, &state, out) < 0)
		goto done;
	int64_t now = db_now_ms();
	sqlite3_stmt *st = db_stmt(c, "UPDATE workers SET state = ?, last_seen_at = ?, "
				   "last_modified_at = ? WHERE id = ?");
	db_bind_text(st, 1, state);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, now);
	db_bind_text(st, 4, r->params[0]);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		resp_db_error(out, c);
		goto done;
	}
	if (sqlite3_changes(db_handle(c)) == 0) {
		resp_error(out, 404, "NOT_FOUND", "no such worker");
		goto done;
	}
	cJSON *m;
	if ((rc = model_worker(c, r->params[0], &m)) < 0) {
		resp_lookup_error(out, c, rc, "NOT_FOUND", "no such worker");
		goto done;
	}
	resp_json(out, 200, m);
done:
	cJSON_Delete(j);
}

/* Does every label of runs_on (a JSON array text) appear in labels? */
static bool labels_cover(cJSON *labels, const char *runs_on_text)
{
	cJSON *runs_on = cJSON_Parse(runs_on_text), *want, *have;
	bool ok = true;

	cJSON_ArrayForEach(want, runs_on) {
		bool found = false;
		cJSON_ArrayForEach(have, labels)
			if (cJSON_IsString(have) && cJSON_IsString(want) &&
			    strcmp(have->valuestring, want->valuestring) == 0)
				found = true;
		if (!found)
			ok = false;
	}
	cJSON_Delete(runs_on);
	return ok;
}

/* The worker's labels (none for an unknown worker), or NULL on a database error. */
static cJSON *worker_labels(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT labels FROM workers WHERE id = ?");
	cJSON *labels = NULL;

	db_bind_text(st, 1, id);
	int found = db_row(st);
	if (found == 1)
		labels = cJSON_Parse(db_col_text(st, 0));
	sqlite3_reset(st);
	if (found < 0)
		return NULL;
	return labels ? labels : cJSON_CreateArray();
}

/* The ids of the runs a poll answers with, in SPEC 7's order. */
static int poll_ids(struct dbconn *c, const char *worker, bool open, cJSON *labels,
		    struct strvec *ids)
{
	sqlite3_stmt *st;
	int rc;

	if (open) {
		st = db_stmt(c, "SELECT id, runs_on FROM scheduled WHERE state = 'OPEN' "
			     "ORDER BY priority_rank DESC, created_at, rowid");
	} else {
		st = db_stmt(c, "SELECT id, runs_on FROM scheduled WHERE state = 'LOCKED' AND worker_id = ? "
			     "ORDER BY priority_rank DESC, created_at, rowid");
		db_bind_text(st, 1, worker);
	}
	/* At most POLL_MAX, the first in SPEC 7's order: a poll's answer stays bounded. */
	while (ids->n < POLL_MAX && (rc = db_step(st)) == SQLITE_ROW)
		if (!open || labels_cover(labels, db_col_text(st, 1)))
			strvec_push(ids, db_col_text(st, 0));
	if (ids->n >= POLL_MAX)
		rc = SQLITE_DONE;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * ?wait=S (winnow, OPEN only): when no run qualifies, the answer waits up to
 * S seconds (at most 60) for one to be scheduled (longpoll.c).
 */
void h_worker_poll(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *state = req_query(r, "state"), *wq = req_query(r, "wait");
	struct strvec ids = { 0 };
	double wait = 0;

	if (state == NULL)
		state = "OPEN";
	if (strcmp(state, "OPEN") != 0 && strcmp(state, "LOCKED") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "state must be OPEN or LOCKED");
		return;
	}
	if (wq != NULL) {
		char *end;
		errno = 0;
		wait = strtod(wq, &end);
		if (errno != 0 || end == wq || *end != '\0' || !(wait >= 0 && wait <= 60)) {
			resp_error(out, 400, "BAD_REQUEST", "wait must be a number of seconds from 0 to 60");
			return;
		}
	}
	int lr = worker_lookup(c, r->params[0]);
	cJSON *labels = lr < 0 ? NULL : worker_labels(c, r->params[0]);
	if (labels == NULL) {
		resp_lookup_error(out, c, lr < 0 ? lr : -EIO, "NOT_FOUND", "no such worker");
		return;
	}
	bool open = strcmp(state, "OPEN") == 0, last = !open || wait <= 0;
	/* Run again after parking (server.c): the first call's deadline holds. */
	double deadline = r->wait_deadline > 0 ? r->wait_deadline : now_seconds() + wait;
	int rc;
	for (;;) {
		uint64_t g = longpoll_gen();
		rc = poll_ids(req_db(r), r->params[0], open, labels, &ids);
		if (rc < 0 || ids.n > 0 || last)
			break;
		req_db_release(r);	/* no connection held while waiting */
		double left = deadline - now_seconds();
		/* No thread held while waiting either: the request parks and runs again. */
		if (left > 0 && req_park(r, g, deadline)) {
			cJSON_Delete(labels);
			strvec_free(&ids);
			return;
		}
		/* Timed out or stopping: one last look, then the answer. */
		if (left <= 0 || !longpoll_wait(g, left))
			last = true;
	}
	cJSON_Delete(labels);
	c = req_db(r);
	if (rc < 0) {
		strvec_free(&ids);
		resp_db_error(out, c);
		return;
	}
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < ids.n; i++) {
		cJSON *m;
		if (model_scheduled(c, ids.v[i], &m) == -EIO) {
			strvec_free(&ids);
			cJSON_Delete(a);
			resp_db_error(out, c);
			return;
		}
		if (m)
			cJSON_AddItemToArray(a, m);
	}
	strvec_free(&ids);
	resp_json(out, 200, a);
}

/*
 * The claim: one BEGIN IMMEDIATE transaction reads the scheduled run and
 * writes the holder, so of two workers racing for an OPEN run exactly one
 * sees OPEN; the other then sees LOCKED by someone else and gets 409.
 */
void h_schedule_claim(struct req *r, struct resp *out)
{
	static const char *const targets[] = { "LOCKED", "DONE", NULL };
	const char *dataset = r->params[0], *worker = r->params[1], *sched = r->params[2];
	cJSON *j = req_json_object(r, out);
	const char *target = NULL;
	struct dbconn *c = req_db(r);

	if (j == NULL)
		return;
	if (json_enum(j, "state", true, targets, &target, out) < 0)
		goto done;
	int lr = worker_lookup(c, worker);
	cJSON *labels = lr < 0 ? NULL : worker_labels(c, worker);
	if (labels == NULL) {
		resp_lookup_error(out, c, lr < 0 ? lr : -EIO, "NOT_FOUND", "no such worker");
		goto done;
	}
	if (db_begin(c) != SQLITE_OK) {
		cJSON_Delete(labels);
		resp_db_error(out, c);
		goto done;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT state, worker_id, dataset_id, runs_on FROM scheduled "
				   "WHERE id = ?");
	db_bind_text(st, 1, sched);
	lr = db_row(st);
	if (lr != 1 || strcmp(db_col_text(st, 2), dataset) != 0) {
		sqlite3_reset(st);
		db_rollback(c);
		cJSON_Delete(labels);
		resp_lookup_error(out, c, lr < 0 ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such scheduled run in this dataset");
		goto done;
	}
	char state[16], holder[25];
	snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
	snprintf(holder, sizeof(holder), "%s", db_col_text(st, 1));
	bool covered = labels_cover(labels, db_col_text(st, 3));
	sqlite3_reset(st);
	cJSON_Delete(labels);
	bool mine = strcmp(holder, worker) == 0;
	const char *write = NULL;	/* the new state, or NULL: answer as it is */
	int status = 200;

	if (strcmp(target, "LOCKED") == 0) {
		if (strcmp(state, "OPEN") == 0 && covered)
			write = "LOCKED";
		else if (!(strcmp(state, "LOCKED") == 0 && mine))
			status = 409;	/* held by another, ended, or labels missing */
	} else {
		if (strcmp(state, "LOCKED") == 0 && mine)
			write = "DONE";
		else if (!(strcmp(state, "DONE") == 0 && mine))
			status = 409;
	}
	if (status == 409) {
		db_rollback(c);
		resp_error(out, 409, "CONFLICT", "scheduled run is %s%s", state,
			   strcmp(state, "OPEN") == 0 ? " but needs labels this worker lacks" :
			   holder[0] && !mine ? " by another worker" : "");
		goto done;
	}
	if (write != NULL) {
		st = db_stmt(c, "UPDATE scheduled SET state = ?, worker_id = ?, last_modified_at = ? "
			     "WHERE id = ?");
		db_bind_text(st, 1, write);
		db_bind_text(st, 2, worker);
		sqlite3_bind_int64(st, 3, db_now_ms());
		db_bind_text(st, 4, sched);
		int rc = db_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			resp_db_error(out, c);
			db_rollback(c);
			goto done;
		}
	}
	if (db_commit(c) != SQLITE_OK) {
		resp_db_error(out, c);
		goto done;
	}
	cJSON *m;
	if ((lr = model_scheduled(c, sched, &m)) < 0) {
		resp_lookup_error(out, c, lr, "NOT_FOUND", "no such scheduled run");
		goto done;
	}
	resp_json(out, 200, m);
done:
	cJSON_Delete(j);
}

/*
 * GET /v1/docker/worker/config/{configId} and .../config/vX/{configId}:
 * Lightly's DockerWorkerConfigV0Data / DockerWorkerConfigVXData, built by
 * lib/api.c: {id, version, createdAt, config} exactly. version: "V4" for a
 * config holding a selection (the vX route's, or a 2.2-era body with one),
 * "V0" for a 2.2-era config. Who created it is not in Lightly's model.
 */
void h_config_get(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT id, config, created_at FROM configs WHERE id = ?");

	db_bind_text(st, 1, r->params[0]);
	int found = db_row(st);
	if (found != 1) {
		sqlite3_reset(st);
		resp_lookup_error(out, c, found < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such config");
		return;
	}
	cJSON *cfg = cJSON_Parse(db_col_text(st, 1));
	bool v4 = cJSON_IsObject(cfg) && cJSON_GetObjectItem(cfg, "selection") != NULL;
	struct api_config_data d = {
		.id = xstrdup(db_col_text(st, 0)),
		.version = xstrdup(v4 ? "V4" : "V0"),
		.created_at = sqlite3_column_int64(st, 2),
		.config = xstrdup(cJSON_IsObject(cfg) ? db_col_text(st, 1) : "{}"),
	};
	sqlite3_reset(st);
	cJSON_Delete(cfg);
	char *body = api_build_config_data(&d);
	api_config_data_free(&d);
	if (body == NULL)
		fatalx("out of memory building a config reply");
	free(out->body);
	out->status = 200;
	out->body = body;
	out->len = strlen(body);
	out->ctype = "application/json";
}

void h_run_create(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *ver = NULL, *dataset = NULL, *sched = NULL, *config = NULL;
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "dockerVersion", true, &ver, out) < 0 ||
	    json_str(j, "datasetId", true, &dataset, out) < 0 ||
	    json_str(j, "scheduledId", true, &sched, out) < 0 ||
	    json_str(j, "configId", true, &config, out) < 0)
		goto done;
	if (!id_valid(dataset) || !id_valid(sched) || !id_valid(config)) {
		resp_error(out, 400, "MALFORMED_REQUEST", "datasetId, scheduledId and configId must be ids");
		goto done;
	}
	char w[25];
	if (authz_my_worker(r, w) < 0)
		goto dberr_nobegin;
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	/* Only the worker holding the scheduled run creates (or finds) its run (SPEC 8). */
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM scheduled WHERE id = ? AND worker_id = ?");
	db_bind_text(st, 1, sched);
	db_bind_text(st, 2, w);
	int held = db_step(st);
	sqlite3_reset(st);
	if (held != SQLITE_ROW) {
		db_rollback(c);
		if (held != SQLITE_DONE)
			goto dberr_nobegin;
		resp_error(out, 404, "NOT_FOUND", "no scheduled run with this id held by this worker");
		goto done;
	}
	st = db_stmt(c, "SELECT id FROM runs WHERE scheduled_id = ?");
	db_bind_text(st, 1, sched);
	int found = db_row(st);
	if (found < 0)
		goto dberr;
	if (found == 1) {
		/* The same scheduled run again: its run, created once (201: SPEC 7's creates). */
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		sqlite3_reset(st);
		db_rollback(c);
		reply_id(out, 201, "id", id);
		goto done;
	}
	sqlite3_reset(st);
	st = db_stmt(c, "SELECT 1 FROM scheduled WHERE id = ? AND dataset_id = ? AND config_id = ?");
	db_bind_text(st, 1, sched);
	db_bind_text(st, 2, dataset);
	db_bind_text(st, 3, config);
	found = db_row(st);
	sqlite3_reset(st);
	if (found < 0)
		goto dberr;
	if (!found) {
		db_rollback(c);
		resp_error(out, 404, "NOT_FOUND", "no scheduled run with this id, dataset and config");
		goto done;
	}
	id_new(id);
	int64_t now = db_now_ms();
	st = db_stmt(c, "INSERT INTO runs (id, user_id, dataset_id, config_id, scheduled_id, "
		     "docker_version, state, created_at, last_modified_at) "
		     "VALUES (?, ?, ?, ?, ?, ?, 'STARTED', ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->who.id);
	db_bind_text(st, 3, dataset);
	db_bind_text(st, 4, config);
	db_bind_text(st, 5, sched);
	db_bind_text(st, 6, ver);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	reply_id(out, 201, "id", id);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
	goto done;
dberr_nobegin:
	resp_db_error(out, c);
done:
	cJSON_Delete(j);
}

/* The request body as text (NULL after replying 400 when there is none). */
static const char *body_text(struct req *r, struct resp *out)
{
	if (r->body == NULL || r->body_len == 0) {
		resp_error(out, 400, "BAD_REQUEST", "a JSON body is required");
		return NULL;
	}
	return r->body;
}

/*
 * PUT /v1/docker/runs/{runId}: exactly DockerRunUpdateRequest {state,
 * message?} (the progress and the abort flag are winnow's progress route's).
 * A COMPLETED run's progress is 1.
 */
void h_run_state(struct req *r, struct resp *out)
{
	struct api_run_update u;
	struct dbconn *c = req_db(r);
	char err[256];
	const char *text = body_text(r, out);

	if (text == NULL)
		return;
	if (api_parse_run_update(text, r->body_len, 0, &u, err, sizeof(err)) < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		api_run_update_free(&u);
		return;
	}
	const char *state = api_enum_name(API_E_RUN_STATE, u.state);
	/* A CRASHED run is one the sweep took back: its end is written once. */
	sqlite3_stmt *st = db_stmt(c, "UPDATE runs SET state = ?, message = coalesce(?, message), "
				   "progress = CASE WHEN ? = 'COMPLETED' THEN 1 ELSE progress END, "
				   "last_modified_at = ? WHERE id = ? AND state != 'CRASHED'");
	db_bind_text(st, 1, state);
	db_bind_text(st, 2, u.message);
	db_bind_text(st, 3, state);
	sqlite3_bind_int64(st, 4, db_now_ms());
	db_bind_text(st, 5, r->params[0]);
	int rc = db_step(st);
	sqlite3_reset(st);
	api_run_update_free(&u);
	if (rc != SQLITE_DONE) {
		resp_db_error(out, c);
		return;
	}
	if (sqlite3_changes(db_handle(c)) == 0) {
		rc = workers_run_released(c, r->params[0]);
		if (rc > 0)
			reply_released(out, r->params[0]);
		else
			resp_lookup_error(out, c, rc < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such run");
		return;
	}
	resp_json(out, 200, cJSON_CreateObject());
}

/* PUT /v1/winnow/runs/{runId}/progress {progress} -> {abortRequested} (SPEC 7). */
void h_run_progress(struct req *r, struct resp *out)
{
	struct api_progress p;
	struct dbconn *c = req_db(r);
	char err[256];
	const char *text = body_text(r, out);

	if (text == NULL)
		return;
	if (api_parse_progress(text, r->body_len, 0, &p, err, sizeof(err)) < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "UPDATE runs SET progress = ?, last_modified_at = ? "
				   "WHERE id = ? AND state != 'CRASHED'");
	sqlite3_bind_double(st, 1, p.progress);
	sqlite3_bind_int64(st, 2, db_now_ms());
	db_bind_text(st, 3, r->params[0]);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		resp_db_error(out, c);
		return;
	}
	if (sqlite3_changes(db_handle(c)) == 0) {
		rc = workers_run_released(c, r->params[0]);
		if (rc > 0)
			reply_released(out, r->params[0]);
		else
			resp_lookup_error(out, c, rc < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such run");
		return;
	}
	st = db_stmt(c, "SELECT abort_requested FROM runs WHERE id = ?");
	db_bind_text(st, 1, r->params[0]);
	rc = db_row(st);
	struct api_abort_reply ar = { rc == 1 && sqlite3_column_int(st, 0) };
	sqlite3_reset(st);
	if (rc < 0) {
		resp_db_error(out, c);
		return;
	}
	char *body = api_build_abort_reply(&ar);
	free(out->body);
	out->status = 200;
	out->body = body;
	out->len = strlen(body);
	out->ctype = "application/json";
}

#define MAX_LOG_LINES 10000

/*
 * PUT /v1/docker/runs/{runId}/logs: exactly List[DockerRunLogCreateEntryData].
 * The lines take the run's next numbers in order (the cursor of the GET).
 * A repeat is known by its Idempotency-Key, stored in the same transaction
 * as the lines, so a retried call adds nothing and answers as the first did.
 */
void h_run_logs_put(struct req *r, struct resp *out)
{
	struct api_log_list l;
	struct dbconn *c = req_db(r);
	const char *key = req_header(r, "Idempotency-Key");
	char err[256], *route = NULL, *reply = NULL;
	int64_t next = 0;
	const char *text = body_text(r, out);

	if (text == NULL)
		return;
	if (api_parse_log_list(text, r->body_len, 0, &l, err, sizeof(err)) < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		goto done;
	}
	if (l.n > MAX_LOG_LINES) {
		resp_error(out, 400, "BAD_REQUEST", "at most %d log lines a call", MAX_LOG_LINES);
		goto done;
	}
	if (key != NULL && (strlen(key) == 0 || strlen(key) > DB_IDEM_MAX_KEY)) {
		resp_error(out, 400, "BAD_REQUEST", "Idempotency-Key must be 1-%d characters",
			   DB_IDEM_MAX_KEY);
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	if (key != NULL) {
		int status;
		size_t len;
		route = routes_idem_route(r);
		int f = db_idem_get(c, key, route, &status, &reply, &len);
		if (f < 0)
			goto dberr;
		if (f > 0) {
			db_rollback(c);
			free(out->body);
			out->status = status;
			out->body = reply;
			out->len = len;
			out->ctype = "application/json";
			reply = NULL;
			goto done;
		}
	}
	int rel = workers_run_released(c, r->params[0]);
	if (rel < 0)
		goto dberr;
	if (rel) {
		db_rollback(c);
		reply_released(out, r->params[0]);
		goto done;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT state FROM runs WHERE id = ?");
	db_bind_text(st, 1, r->params[0]);
	if ((rel = db_row(st)) != 1) {
		sqlite3_reset(st);
		db_rollback(c);
		resp_lookup_error(out, c, rel < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such run");
		goto done;
	}
	/* A line without a state is of the run's state when it arrived (the read model needs one). */
	char run_state[48];
	snprintf(run_state, sizeof(run_state), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	st = db_stmt(c, "SELECT coalesce(max(seq) + 1, 0) FROM run_logs WHERE run_id = ?");
	db_bind_text(st, 1, r->params[0]);
	if ((rel = db_row(st)) == 1)
		next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rel < 0)
		goto dberr;
	for (size_t i = 0; i < l.n; i++) {
		const struct api_log_entry *e = &l.v[i];
		st = db_stmt(c, "INSERT INTO run_logs (run_id, seq, ts, level, msg, state, grp) "
			     "VALUES (?, ?, ?, ?, ?, ?, ?)");
		db_bind_text(st, 1, r->params[0]);
		sqlite3_bind_int64(st, 2, next++);
		sqlite3_bind_int64(st, 3, e->ts);
		db_bind_text(st, 4, api_enum_name(API_E_LOG_LEVEL, e->level));
		db_bind_text(st, 5, e->msg);
		db_bind_text(st, 6, e->state >= 0 ? api_enum_name(API_E_RUN_STATE, e->state) :
			     run_state);
		db_bind_text(st, 7, e->group);
		int rc = db_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto dberr;
	}
	cJSON *o = cJSON_CreateObject();
	json_add_i64(o, "received", (int64_t)l.n);
	json_add_i64(o, "inserted", (int64_t)l.n);
	resp_json(out, 200, o);
	if (key != NULL && db_idem_put(c, key, route, out->status, out->body, out->len) < 0)
		goto dberr;
	if (db_commit(c) != SQLITE_OK)
		goto dberr;
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	free(route);
	free(reply);
	api_log_list_free(&l);
}

#define MAX_BATCH 10000

void h_samples_batch(struct req *r, struct resp *out)
{
	cJSON *j = req_json(r, out), *e;
	struct dbconn *c = req_db(r);
	int64_t added = 0, next = 0;

	if (j == NULL)
		return;
	if (!cJSON_IsArray(j)) {
		resp_error(out, 400, "BAD_REQUEST", "the body must be an array of samples");
		goto done;
	}
	if (cJSON_GetArraySize(j) > MAX_BATCH) {
		resp_error(out, 400, "BAD_REQUEST", "at most %d samples a call", MAX_BATCH);
		goto done;
	}
	cJSON_ArrayForEach(e, j) {
		const char *fn = NULL;
		if (!cJSON_IsObject(e)) {
			resp_error(out, 400, "BAD_REQUEST", "each sample must be an object");
			goto done;
		}
		if (json_str(e, "fileName", true, &fn, out) < 0)
			goto done;
		if (!name_ok(fn, 4096)) {
			resp_error(out, 400, "BAD_REQUEST", "fileName must be 1-4096 printable characters");
			goto done;
		}
	}
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	sqlite3_stmt *st = db_stmt(c, "SELECT coalesce(max(idx) + 1, 0) FROM samples WHERE dataset_id = ?");
	db_bind_text(st, 1, r->params[0]);
	if ((ds_found = db_row(st)) == 1)
		next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (ds_found < 0)
		goto dberr;
	cJSON_ArrayForEach(e, j) {
		/* Insertion order is bit order; a name seen before keeps its index. */
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "metaData");
		char *meta_text = meta && !cJSON_IsNull(meta) ? cJSON_PrintUnformatted(meta) : NULL;
		st = db_stmt(c, "INSERT OR IGNORE INTO samples (dataset_id, idx, file_name, meta_data) "
			     "VALUES (?, ?, ?, ?)");
		db_bind_text(st, 1, r->params[0]);
		sqlite3_bind_int64(st, 2, next);
		db_bind_text(st, 3, cJSON_GetObjectItemCaseSensitive(e, "fileName")->valuestring);
		db_bind_text(st, 4, meta_text);
		int rc = db_step(st);
		sqlite3_reset(st);
		free(meta_text);
		if (rc != SQLITE_DONE)
			goto dberr;
		if (sqlite3_changes(db_handle(c)) > 0) {
			next++;
			added++;
		}
	}
	st = db_stmt(c, "UPDATE datasets SET last_modified_at = ? WHERE id = ?");
	sqlite3_bind_int64(st, 1, db_now_ms());
	db_bind_text(st, 2, r->params[0]);
	int mod = db_step(st);
	sqlite3_reset(st);
	if (mod != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	cJSON *o = cJSON_CreateObject();
	json_add_i64(o, "added", added);
	json_add_i64(o, "nSamples", next);
	resp_json(out, 200, o);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	cJSON_Delete(j);
}

void h_mappings(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *field = req_query(r, "field");
	int64_t limit, offset;

	if (field == NULL || strcmp(field, "fileName") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "field must be fileName");
		return;
	}
	if (req_paging(r, out, &limit, &offset) < 0)
		return;
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT file_name FROM samples WHERE dataset_id = ? "
				   "ORDER BY idx LIMIT ? OFFSET ?");
	cJSON *a = cJSON_CreateArray();
	db_bind_text(st, 1, r->params[0]);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	while ((ds_found = db_row(st)) == 1)
		cJSON_AddItemToArray(a, cJSON_CreateString(db_col_text(st, 0)));
	sqlite3_reset(st);
	if (ds_found < 0) {
		cJSON_Delete(a);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, a);
}

/*
 * GET /v1/datasets/{datasetId}/tags/{tagId}/export/basic/filenames: the
 * tag's file names in sample order, one a line (no newline after the last),
 * text/plain; Lightly's paging counts file names (a page past the end is "").
 */
void h_tag_export_filenames(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	int64_t limit, offset;
	char *mask = NULL;

	if (req_paging(r, out, &limit, &offset) < 0)
		return;
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT bit_mask_data FROM tags WHERE id = ? AND dataset_id = ?");
	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, r->params[0]);
	if ((ds_found = db_row(st)) == 1)
		mask = xstrdup(db_col_text(st, 0));
	sqlite3_reset(st);
	if (mask == NULL) {
		resp_lookup_error(out, c, ds_found < 0 ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such tag in this dataset");
		return;
	}
	struct bitmask bm = { 0 };
	bitmask_parse(mask, SIZE_MAX, &bm);	/* stored masks were checked when created */
	free(mask);
	size_t nbits = bitmask_bits(&bm);
	struct buf b = { 0 };
	int64_t seen = 0, put = 0;
	st = db_stmt(c, "SELECT idx, file_name FROM samples WHERE dataset_id = ? ORDER BY idx");
	db_bind_text(st, 1, r->params[0]);
	while ((limit < 0 || put < limit) && (ds_found = db_row(st)) == 1) {
		int64_t i = sqlite3_column_int64(st, 0);
		if (i < 0 || (uint64_t)i >= nbits || !bitmask_get(&bm, (size_t)i))
			continue;
		if (seen++ < offset)
			continue;
		buf_printf(&b, "%s%s", put++ ? "\n" : "", db_col_text(st, 1));
	}
	sqlite3_reset(st);
	bitmask_free(&bm);
	if (ds_found < 0) {
		free(b.data);
		resp_db_error(out, c);
		return;
	}
	free(out->body);
	out->status = 200;
	out->body = b.data ? b.data : xstrdup("");
	out->len = b.data ? b.len : 0;
	out->ctype = "text/plain; charset=utf-8";
}

/*
 * The tags of the query, as models: its parameters are p, then the page's
 * limit and offset (LIMIT ?2 OFFSET ?3; a limit of -1 is every row).
 */
static void tags_reply(struct resp *out, struct dbconn *c, const char *sql, const char *p,
		       int64_t limit, int64_t offset,
		       int (*model)(struct dbconn *, const char *, cJSON **))
{
	struct strvec ids = { 0 };
	sqlite3_stmt *st = db_stmt(c, sql);
	int rc;

	db_bind_text(st, 1, p);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	while ((rc = db_row(st)) == 1)
		strvec_push(&ids, db_col_text(st, 0));
	sqlite3_reset(st);
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < ids.n && rc == 0; i++) {
		cJSON *t;
		if (model(c, ids.v[i], &t) == -EIO)
			rc = -EIO;
		if (t)
			cJSON_AddItemToArray(a, t);
	}
	strvec_free(&ids);
	if (rc < 0) {
		cJSON_Delete(a);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, a);
}

/* A dataset's tags, oldest first, each as model makes it, one page (limit -1: all). */
static void dataset_tags(struct req *r, struct resp *out,
			 int (*model)(struct dbconn *, const char *, cJSON **), int64_t limit,
			 int64_t offset)
{
	struct dbconn *c = req_db(r);

	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	tags_reply(out, c, "SELECT id FROM tags WHERE dataset_id = ?1 ORDER BY created_at, rowid "
		   "LIMIT ?2 OFFSET ?3", r->params[0], limit, offset, model);
}

/* GET /v1/datasets/{datasetId}/tags: Lightly's TagData. */
void h_tags_list(struct req *r, struct resp *out)
{
	dataset_tags(r, out, model_tag, -1, 0);
}

/* GET /v1/winnow/datasets/{datasetId}/tags: the pages' list, with each tag's creator, paged. */
void h_winnow_tags_list(struct req *r, struct resp *out)
{
	int64_t limit, offset;

	if (winnow_paging(r, out, &limit, &offset) < 0)
		return;
	dataset_tags(r, out, model_tag_winnow, limit, offset);
}

/* GET /v1/docker/runs/{runId}/tags: the run's tags, newest first (the selection first). */
void h_run_tags(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM runs WHERE id = ?");

	db_bind_text(st, 1, r->params[0]);
	int found = db_row(st);
	sqlite3_reset(st);
	if (found != 1) {
		resp_lookup_error(out, c, found < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such run");
		return;
	}
	tags_reply(out, c, "SELECT id FROM tags WHERE run_id = ?1 ORDER BY created_at DESC, rowid DESC "
		   "LIMIT ?2 OFFSET ?3",
		   r->params[0], -1, 0, model_tag);
}

/* The dataset's sample count, or -EIO on a database error. */
static int64_t dataset_nsamples(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT count(*) FROM samples WHERE dataset_id = ?");
	int64_t n = 0;

	db_bind_text(st, 1, id);
	int found = db_row(st);
	if (found == 1)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return found < 0 ? -EIO : n;
}

void h_tag_create(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *name = NULL, *prev = NULL, *mask = NULL, *creator = "USER_WORKER", *run = NULL;
	int64_t tot = 0;
	struct dbconn *c = req_db(r);
	struct bitmask bm = { 0 };
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "name", true, &name, out) < 0 || json_str(j, "prevTagId", false, &prev, out) < 0 ||
	    json_str(j, "bitMaskData", true, &mask, out) < 0 || json_int(j, "totSize", true, &tot, out) < 0 ||
	    json_enum(j, "creator", false, tag_creators, &creator, out) < 0 ||
	    json_str(j, "runId", false, &run, out) < 0)
		goto done;
	if (!api_name_ok(API_NAME_TAG, name)) {
		resp_error(out, 400, "BAD_REQUEST", "name: %s", api_name_rule(API_NAME_TAG));
		goto done;
	}
	if ((prev && !id_valid(prev)) || (run && !id_valid(run))) {
		resp_error(out, 400, "MALFORMED_REQUEST", "prevTagId and runId must be ids or null");
		goto done;
	}
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	int64_t n = dataset_nsamples(c, r->params[0]);
	if (n < 0)
		goto dberr;
	if (tot < 0 || tot > n) {
		resp_error(out, 400, "BAD_REQUEST", "totSize %lld is not within the dataset's %lld samples",
			   (long long)tot, (long long)n);
		goto done;
	}
	int rc = bitmask_parse(mask, (size_t)tot, &bm);
	if (rc == -EINVAL) {
		resp_error(out, 400, "BAD_REQUEST", "bitMaskData is not a lowercase 0x hex mask without leading zeros");
		goto done;
	}
	if (rc == -ERANGE) {
		resp_error(out, 400, "BAD_REQUEST", "bitMaskData sets a bit at or above totSize");
		goto done;
	}
	if (prev != NULL) {
		cJSON *p;
		if (model_tag(c, prev, &p) == -EIO)
			goto dberr;
		bool ok = p && strcmp(cJSON_GetObjectItem(p, "datasetId")->valuestring, r->params[0]) == 0;
		cJSON_Delete(p);
		if (!ok) {
			resp_error(out, 400, "BAD_REQUEST", "prevTagId is not a tag of this dataset");
			goto done;
		}
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	if (run != NULL && (ds_found = workers_run_released(c, run)) != 0) {
		if (ds_found < 0)
			goto dberr;
		db_rollback(c);
		reply_released(out, run);
		goto done;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT id, bit_mask_data, tot_size FROM tags "
				   "WHERE dataset_id = ? AND name = ?");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, name);
	if ((ds_found = db_row(st)) < 0)
		goto dberr;
	if (ds_found == 1) {
		/* Same name: the same tag when the mask agrees (a retry), else a conflict. */
		bool same = strcmp(db_col_text(st, 1), mask) == 0 && sqlite3_column_int64(st, 2) == tot;
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		sqlite3_reset(st);
		db_rollback(c);
		if (same)	/* 201 again: Lightly's client maps only 201 (SPEC 7) */
			reply_id(out, 201, "id", id);
		else
			resp_error(out, 409, "CONFLICT", "a tag named %s exists with another mask", name);
		goto done;
	}
	sqlite3_reset(st);
	/* The cap (SPEC 8), and a runId must be a run of this dataset the worker holds. */
	st = db_stmt(c, "SELECT (SELECT count(*) FROM tags WHERE dataset_id = ?1), "
		     "?2 IS NULL OR EXISTS (SELECT 1 FROM runs r JOIN scheduled s ON s.id = r.scheduled_id "
		     "WHERE r.id = ?2 AND r.dataset_id = ?1 AND s.worker_id = "
		     "(SELECT id FROM workers WHERE name = ?3))");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, run);
	db_bind_text(st, 3, r->who.worker);
	if (db_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		goto dberr;
	}
	int64_t ntags = sqlite3_column_int64(st, 0);
	bool run_ok = sqlite3_column_int(st, 1) != 0;
	sqlite3_reset(st);
	if (ntags >= TAGS_MAX || !run_ok) {
		db_rollback(c);
		if (!run_ok)
			resp_error(out, 404, "NOT_FOUND", "runId: no such run of this dataset held by this worker");
		else
			resp_error(out, 409, "DATASET_AT_MAX_CAPACITY", "a dataset has at most %d tags",
				   TAGS_MAX);
		goto done;
	}
	id_new(id);
	st = db_stmt(c, "INSERT INTO tags (id, dataset_id, name, prev_tag_id, bit_mask_data, tot_size, "
		     "creator, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->params[0]);
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, prev);
	db_bind_text(st, 5, mask);
	sqlite3_bind_int64(st, 6, tot);
	db_bind_text(st, 7, creator);
	db_bind_text(st, 8, run);
	sqlite3_bind_int64(st, 9, db_now_ms());
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	reply_id(out, 201, "id", id);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	bitmask_free(&bm);
	cJSON_Delete(j);
}

/*
 * POST /v1/datasets/{datasetId}/tags/initial (InitialTagCreateRequest, parsed
 * by lib/api.c): the dataset's tag of every sample, without a previous tag;
 * name "initial-tag" unless given. 201 {id}, also when the dataset already
 * has a tag of that name (that tag). imgType: winnow keeps full images only.
 */
void h_tag_initial(struct req *r, struct resp *out)
{
	struct api_initial_tag t;
	struct bitmask bm = { 0 };
	struct dbconn *c = req_db(r);
	char err[512], id[25];
	char *mask = NULL;

	if (api_parse_initial_tag(r->body, r->body_len, 0, &t, err, sizeof(err)) < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		goto done;
	}
	if (t.img_type != API_IMG_FULL) {
		resp_error(out, 400, "BAD_REQUEST", "imgType: winnow supports full only");
		goto done;
	}
	const char *name = t.name ? t.name : "initial-tag";
	const char *creator = t.creator >= 0 ? api_enum_name(API_E_TAG_CREATOR, t.creator) :
			      r->who.role == ROLE_WORKER ? "USER_WORKER" : "USER_PIP";
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	if (t.run_id != NULL) {
		sqlite3_stmt *q = db_stmt(c, "SELECT 1 FROM runs WHERE id = ? AND dataset_id = ?");
		db_bind_text(q, 1, t.run_id);
		db_bind_text(q, 2, r->params[0]);
		int ok = db_row(q);
		sqlite3_reset(q);
		if (ok < 0)
			goto dberr;
		if (!ok) {
			db_rollback(c);
			resp_error(out, 400, "BAD_REQUEST", "runId: not a run of this dataset");
			goto done;
		}
		if ((ok = workers_run_released(c, t.run_id)) != 0) {
			if (ok < 0)
				goto dberr;
			db_rollback(c);
			reply_released(out, t.run_id);
			goto done;
		}
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM tags WHERE dataset_id = ? AND name = ?");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, name);
	if ((ds_found = db_row(st)) < 0)
		goto dberr;
	if (ds_found == 1) {
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		sqlite3_reset(st);
		db_rollback(c);
		reply_id(out, 201, "id", id);
		goto done;
	}
	sqlite3_reset(st);
	int64_t n = dataset_nsamples(c, r->params[0]);
	if (n < 0)
		goto dberr;
	for (int64_t i = 0; i < n; i++)
		bitmask_set(&bm, (size_t)i);
	mask = bitmask_format(&bm);
	id_new(id);
	st = db_stmt(c, "INSERT INTO tags (id, dataset_id, name, prev_tag_id, bit_mask_data, tot_size, "
		     "creator, run_id, created_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->params[0]);
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, mask);
	sqlite3_bind_int64(st, 5, n);
	db_bind_text(st, 6, creator);
	db_bind_text(st, 7, t.run_id);
	sqlite3_bind_int64(st, 8, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	reply_id(out, 201, "id", id);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	free(mask);
	bitmask_free(&bm);
	api_initial_tag_free(&t);
}

void h_tag_get(struct req *r, struct resp *out)
{
	cJSON *t;
	int rc = model_tag(req_db(r), r->params[1], &t);

	if (t == NULL || strcmp(cJSON_GetObjectItem(t, "datasetId")->valuestring, r->params[0]) != 0) {
		cJSON_Delete(t);
		resp_lookup_error(out, req_db(r), rc == -EIO ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such tag in this dataset");
		return;
	}
	resp_json(out, 200, t);
}

/*
 * Lightly's scoreType pattern, ^[a-zA-Z0-9_+=,.@:/-]*$, without '/' (the
 * type is a path segment of GET .../scores/{scoreType}) and at most 128
 * characters: a V4 plan's score lists are named "<task>:<score>".
 */
static bool score_type_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_+=,.@:-", s[i]) != NULL))
			return false;
	return true;
}

void h_scores_post(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out), *scores, *e;
	const char *type = NULL;
	struct dbconn *c = req_db(r);
	double *vals = NULL;
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "scoreType", true, &type, out) < 0)
		goto done;
	if (!score_type_ok(type)) {
		resp_error(out, 400, "BAD_REQUEST", "scoreType must be 1-128 of [A-Za-z0-9_+=,.@:-]");
		goto done;
	}
	scores = cJSON_GetObjectItemCaseSensitive(j, "scores");
	if (!cJSON_IsArray(scores)) {
		resp_error(out, 400, "BAD_REQUEST", "scores must be an array of numbers");
		goto done;
	}
	size_t n = (size_t)cJSON_GetArraySize(scores), k = 0;
	vals = xcalloc(n ? n : 1, sizeof(double));
	cJSON_ArrayForEach(e, scores) {
		if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
			resp_error(out, 400, "BAD_REQUEST", "scores[%zu] is not a finite number", k);
			goto done;
		}
		vals[k++] = e->valuedouble;
	}
	cJSON *tag;
	int lr = model_tag(c, r->params[1], &tag);
	if (tag == NULL || strcmp(cJSON_GetObjectItem(tag, "datasetId")->valuestring, r->params[0]) != 0) {
		cJSON_Delete(tag);
		resp_lookup_error(out, c, lr == -EIO ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such tag in this dataset");
		goto done;
	}
	struct bitmask bm = { 0 };
	bitmask_parse(cJSON_GetObjectItem(tag, "bitMaskData")->valuestring, SIZE_MAX, &bm);
	size_t want = bitmask_count(&bm);
	bitmask_free(&bm);
	cJSON_Delete(tag);
	if (want != n) {
		resp_error(out, 400, "BAD_REQUEST", "%zu scores for a tag of %zu samples", n, want);
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	sqlite3_stmt *st = db_stmt(c, "SELECT id, scores FROM scores WHERE tag_id = ? AND score_type = ?");
	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, type);
	if ((lr = db_row(st)) < 0)
		goto dberr;
	if (lr == 1) {
		const void *b = sqlite3_column_blob(st, 1);
		size_t blen = (size_t)sqlite3_column_bytes(st, 1);
		bool same = blen == n * sizeof(double) && (n == 0 || memcmp(b, vals, blen) == 0);
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		sqlite3_reset(st);
		db_rollback(c);
		if (same)	/* 201 again: Lightly's client maps only 201 (SPEC 7) */
			reply_id(out, 201, "id", id);
		else
			resp_error(out, 409, "CONFLICT", "scores %s of this tag exist with other values", type);
		goto done;
	}
	sqlite3_reset(st);
	id_new(id);
	st = db_stmt(c, "INSERT INTO scores (id, tag_id, score_type, scores, created_at) "
		     "VALUES (?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->params[1]);
	db_bind_text(st, 3, type);
	sqlite3_bind_blob(st, 4, vals, (int)(n * sizeof(double)), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	reply_id(out, 201, "id", id);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	free(vals);
	cJSON_Delete(j);
}

/* Datapool names: SPEC 2's datapool.name rule. */
static bool pool_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static void datapool_reply(struct dbconn *c, const char *dataset, const char *name, int64_t added,
			   struct resp *out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT file_name FROM datapools WHERE dataset_id = ? AND name = ? "
				   "ORDER BY rowid");
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "fileNames");

	cJSON_AddStringToObject(o, "name", name);
	db_bind_text(st, 1, dataset);
	db_bind_text(st, 2, name);
	int rc;
	while ((rc = db_row(st)) == 1)
		cJSON_AddItemToArray(a, cJSON_CreateString(db_col_text(st, 0)));
	sqlite3_reset(st);
	if (rc < 0) {
		cJSON_Delete(o);
		resp_db_error(out, c);
		return;
	}
	if (added >= 0)
		json_add_i64(o, "added", added);
	resp_json(out, 200, o);
}

void h_datapool_get(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);

	if (!pool_name_ok(r->params[1])) {
		resp_error(out, 400, "BAD_REQUEST", "datapool names are [A-Za-z0-9._-]{1,128}, not starting with '.'");
		return;
	}
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	datapool_reply(c, r->params[0], r->params[1], -1, out);
}

void h_datapool_put(struct req *r, struct resp *out)
{
	cJSON *j, *names = NULL, *e;
	struct dbconn *c = req_db(r);
	int64_t added = 0;

	if (!pool_name_ok(r->params[1])) {
		resp_error(out, 400, "BAD_REQUEST", "datapool names are [A-Za-z0-9._-]{1,128}, not starting with '.'");
		return;
	}
	j = req_json_object(r, out);
	if (j == NULL)
		return;
	if (json_str_array(j, "fileNames", true, &names, out) < 0)
		goto done;
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	cJSON_ArrayForEach(e, names) {
		sqlite3_stmt *st = db_stmt(c, "INSERT OR IGNORE INTO datapools (dataset_id, name, file_name) "
					   "VALUES (?, ?, ?)");
		db_bind_text(st, 1, r->params[0]);
		db_bind_text(st, 2, r->params[1]);
		db_bind_text(st, 3, e->valuestring);
		int rc = db_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto dberr;
		added += sqlite3_changes(db_handle(c));
	}
	if (db_commit(c) != SQLITE_OK)
		goto dberr;
	datapool_reply(c, r->params[0], r->params[1], added, out);
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	cJSON_Delete(j);
}

/* The absolute upload URL: on --public-url, else --listen (never the request's Host). */
static char *write_url(struct req *r, const char *id, const char *sig)
{
	char *base = http_base_url(r->ws);
	char *url = xasprintf("%s/v1/winnow/artifacts/%s/content?sig=%s", base, id, sig);

	free(base);
	return url;
}

/*
 * Lightly's artifacts (DockerRunArtifactType only) and winnow's own run
 * files (SPEC 7: scores, selection, 2-D CSVs) share one table and one upload
 * mechanism; each route takes only its own types, so no winnow type ever
 * reaches a Lightly reply. A create answers 201 {signedWriteUrl, artifactId},
 * also when it finds the run's file of that name and type again.
 */
static void file_create(struct req *r, struct resp *out, bool winnow)
{
	struct api_artifact_create a;
	struct dbconn *c = req_db(r);
	char id[25], sig[65], err[256];
	const char *text = body_text(r, out);

	if (text == NULL)
		return;
	int rc = winnow ? api_parse_run_file_create(text, r->body_len, 0, &a, err, sizeof(err))
			: api_parse_artifact_create(text, r->body_len, 0, &a, err, sizeof(err));
	if (rc < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		goto done;
	}
	const char *fn = a.file_name;
	const char *type = api_enum_name(winnow ? API_E_RUN_FILE_TYPE : API_E_ARTIFACT_TYPE, a.type);
	if (!name_ok(fn, 255)) {
		resp_error(out, 400, "BAD_REQUEST", "fileName must be 1-255 printable characters");
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	if ((rc = workers_run_released(c, r->params[0])) != 0) {
		if (rc < 0)
			goto dberr;
		db_rollback(c);
		reply_released(out, r->params[0]);
		goto done;
	}
	if ((rc = run_lookup(c, r->params[0])) < 0) {
		db_rollback(c);
		resp_lookup_error(out, c, rc, "NOT_FOUND", "no such run");
		goto done;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT id, type, sig FROM artifacts WHERE run_id = ? AND file_name = ?");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, fn);
	if ((rc = db_row(st)) < 0)
		goto dberr;
	if (rc == 1) {
		bool same = strcmp(db_col_text(st, 1), type) == 0;
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
		snprintf(sig, sizeof(sig), "%s", db_col_text(st, 2));
		sqlite3_reset(st);
		db_rollback(c);
		if (!same) {
			resp_error(out, 409, "CONFLICT", "%s %s exists with another type",
				   winnow ? "run file" : "artifact", fn);
			goto done;
		}
	} else {
		sqlite3_reset(st);
		id_new(id);
		random_hex(sig, 32);
		st = db_stmt(c, "INSERT INTO artifacts (id, run_id, file_name, type, sig, created_at) "
			     "VALUES (?, ?, ?, ?, ?, ?)");
		db_bind_text(st, 1, id);
		db_bind_text(st, 2, r->params[0]);
		db_bind_text(st, 3, fn);
		db_bind_text(st, 4, type);
		db_bind_text(st, 5, sig);
		sqlite3_bind_int64(st, 6, db_now_ms());
		rc = db_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
			goto dberr;
	}
	char *url = write_url(r, id, sig);
	struct api_artifact_created ac = { url, id };
	char *body = api_build_artifact_created(&ac);
	free(url);
	free(out->body);
	out->status = 201;
	out->body = body;
	out->len = strlen(body);
	out->ctype = "application/json";
	goto done;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
done:
	api_artifact_create_free(&a);
}

void h_artifact_create(struct req *r, struct resp *out)
{
	file_create(r, out, false);
}

void h_run_file_create(struct req *r, struct resp *out)
{
	file_create(r, out, true);
}

/* Is type one of winnow's own run file types? */
static bool winnow_file_type(const char *type)
{
	return api_enum_value(API_E_RUN_FILE_TYPE, type) >= 0;
}

/*
 * PUT .../artifacts/{artifactId}/confirmUpload: Lightly's end of an upload.
 * The bytes are the artifact's once its signedWriteUrl took them; the
 * confirmation is accepted for any Lightly artifact of the run.
 */
void h_artifact_confirm(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT type FROM artifacts WHERE id = ? AND run_id = ?");

	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, r->params[0]);
	int rc = db_row(st);
	bool found = rc == 1 && !winnow_file_type(db_col_text(st, 0));
	sqlite3_reset(st);
	if (!found) {
		if (rc >= 0)
			rc = workers_run_released(c, r->params[0]);
		if (rc > 0)
			reply_released(out, r->params[0]);
		else
			resp_lookup_error(out, c, rc < 0 ? -EIO : -ENOENT, "NOT_FOUND",
					  "no such artifact of this run");
		return;
	}
	resp_json(out, 200, cJSON_CreateObject());
}

/*
 * GET /v1/winnow/runs/{runId}/files: winnow's own files of a run, for the
 * pages: [{id, fileName, type, uploaded, size, createdAt}], oldest first;
 * each downloads at .../files/{id}/content.
 */
void h_run_files_list(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);

	int rc = run_lookup(c, r->params[0]);
	if (rc < 0) {
		resp_lookup_error(out, c, rc, "NOT_FOUND", "no such run");
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT id, file_name, type, uploaded_at IS NOT NULL, "
				   "coalesce(length(content), 0), created_at FROM artifacts "
				   "WHERE run_id = ? ORDER BY created_at, id");
	cJSON *a = cJSON_CreateArray();
	db_bind_text(st, 1, r->params[0]);
	while ((rc = db_row(st)) == 1) {
		if (!winnow_file_type(db_col_text(st, 2)))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "fileName", db_col_text(st, 1));
		cJSON_AddStringToObject(o, "type", db_col_text(st, 2));
		cJSON_AddBoolToObject(o, "uploaded", sqlite3_column_int(st, 3) != 0);
		json_add_i64(o, "size", sqlite3_column_int64(st, 4));
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 5));
		cJSON_AddItemToArray(a, o);
	}
	sqlite3_reset(st);
	if (rc < 0) {
		cJSON_Delete(a);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, a);
}

/*
 * The route an Idempotency-Key is stored under: "METHOD /path sha256(body)".
 * The body is part of it, so a key repeated with another body (a client
 * that reuses keys, e.g. a winnowd whose queue was lost and counts again
 * from 0) is another call, never answered with what another body created.
 * Caller frees.
 */
char *routes_idem_route(struct req *r)
{
	unsigned char h[32];
	unsigned int n = 0;
	char hex[65];

	if (EVP_Digest(r->body ? r->body : "", r->body ? r->body_len : 0, h, &n, EVP_sha256(),
		       NULL) != 1 || n != 32)
		fatalx("sha256 failed");
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	/*
	 * And who: a key is the caller's own (SPEC 8), so another principal
	 * repeating it gets no stored answer of someone else's. A worker is
	 * named by its worker, so a new token of the same worker finds its keys.
	 */
	return xasprintf("%s %s %s %s:%s", r->method, r->path, hex,
			 r->who.role == ROLE_WORKER ? "worker" : "user",
			 r->who.role == ROLE_WORKER ? r->who.worker : r->who.id);
}

/* The creates of winnowd's calls store their Idempotency-Key answers (server.c). */
bool routes_idempotent(const struct route *rt)
{
	static void (*const creates[])(struct req *, struct resp *) = {
		h_run_create, h_samples_batch, h_tag_create, h_tag_initial, h_scores_post,
		h_artifact_create, h_run_file_create,
	};

	for (size_t i = 0; i < ARRAY_LEN(creates); i++)
		if (rt->fn == creates[i])
			return true;
	return false;
}

/*
 * PUT /v1/winnow/artifacts/{artifactId}/content?sig=: a signedWriteUrl (and
 * its path of before, routes.c); the signature in the URL is the credential.
 */
void h_artifact_upload(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *sig = req_query(r, "sig");
	sqlite3_stmt *st = db_stmt(c, "SELECT sig FROM artifacts WHERE id = ?");
	bool ok = false;
	int found = 0;

	db_bind_text(st, 1, r->params[0]);
	if (sig != NULL && strlen(sig) == 64 && (found = db_row(st)) == 1) {
		const char *want = db_col_text(st, 0);
		ok = strlen(want) == 64 && CRYPTO_memcmp(want, sig, 64) == 0;
	}
	sqlite3_reset(st);
	if (found < 0) {
		resp_db_error(out, c);	/* not 401: the signature may be good */
		return;
	}
	if (!ok) {
		resp_error(out, 401, "UNAUTHORIZED", "missing or wrong signature");
		return;
	}
	st = db_stmt(c, "UPDATE artifacts SET content = ?, uploaded_at = ? WHERE id = ?");
	sqlite3_bind_blob(st, 1, r->body, (int)r->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, db_now_ms());
	db_bind_text(st, 3, r->params[0]);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		resp_db_error(out, c);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "artifactId", r->params[0]);
	json_add_i64(o, "size", (int64_t)r->body_len);
	resp_json(out, 200, o);
}
