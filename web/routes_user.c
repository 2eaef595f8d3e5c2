/*
 * routes_user: the calls of the pages and of Lightly's client with a user
 * token: datasets and their datasources, prediction tasks, configs (checked
 * with lib/config.c), scheduling, runs and their logs and artifacts, tags and
 * scores, the paginated results and the thumbnails.
 */
#include "routes.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "api.h"
#include "auth.h"
#include "authz.h"
#include "workers.h"
#include "bitmask.h"
#include "config.h"
#include "dataset.h"
#include "datasource.h"
#include "db.h"
#include "longpoll.h"
#include "models.h"
#include "predict.h"
#include "readurl.h"
#include "selcsv.h"
#include "thumb.h"
#include "util.h"

static void reply_id(struct resp *out, int status, const char *id)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", id);
	resp_json(out, status, o);
}

/*
 * Replies an array of models, one per id (an id gone meanwhile is left
 * out); rc: db_collect_ids', a database error there or in a model is 503.
 */
static void reply_models(struct resp *out, struct dbconn *c, int rc, struct strvec *ids,
			 int (*model)(struct dbconn *, const char *, cJSON **))
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < ids->n && rc == 0; i++) {
		cJSON *m;
		if (model(c, ids->v[i], &m) == -EIO)
			rc = -EIO;
		if (m)
			cJSON_AddItemToArray(a, m);
	}
	strvec_free(ids);
	if (rc < 0) {
		cJSON_Delete(a);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, a);
}

void h_me(struct req *r, struct resp *out)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "userId", r->who.id);
	cJSON_AddStringToObject(o, "name", r->who.name);
	cJSON_AddStringToObject(o, "role", r->who.role == ROLE_WORKER ? "worker" :
				r->who.admin ? "admin" : "user");
	if (r->who.role == ROLE_WORKER)
		cJSON_AddStringToObject(o, "workerName", r->who.worker);
	resp_json(out, 200, o);
}

/*
 * A query boolean as Lightly's client writes it (True/False; any case, SPEC 7):
 * 1, 0, def when absent, -1 after replying 400.
 */
static int query_bool(struct req *r, struct resp *out, const char *key, int def)
{
	const char *s = req_query(r, key);

	if (s == NULL)
		return def;
	if (strcasecmp(s, "true") == 0)
		return 1;
	if (strcasecmp(s, "false") == 0)
		return 0;
	resp_error(out, 400, "BAD_REQUEST", "%s must be True or False", key);
	return -1;
}

/*
 * The datasets of GET /v1/datasets and its name query, newest first, paged.
 * Lightly's client's flags (SPEC 8): none = mine, shared=True = shared with
 * me, getAssetsOfTeam=True (or getAssetsOfTeamInclusiveSelf=True) = all I may
 * see (an admin: every dataset). name: NULL for all; exact: that name, else
 * the names that start with it.
 */
static void datasets_reply(struct req *r, struct resp *out, const char *name)
{
	struct dbconn *c = req_db(r);
	struct strvec ids = { 0 };
	int64_t limit, offset;
	int shared = query_bool(r, out, "shared", 0);
	int team = shared < 0 ? 0 : query_bool(r, out, "getAssetsOfTeam", 0);
	int self = team < 0 ? 0 : query_bool(r, out, "getAssetsOfTeamInclusiveSelf", 0);
	int exact = name && self >= 0 ? query_bool(r, out, "exact", 0) : 0;

	if (shared < 0 || team < 0 || self < 0 || exact < 0 ||
	    req_paging(r, out, &limit, &offset) < 0)
		return;
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM datasets WHERE (?1 IS NULL OR name = ?1 OR "
				   "(?2 = 0 AND substr(name, 1, length(?1)) = ?1)) AND "
				   AUTHZ_DATASETS("id") " "
				   "ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4");
	authz_bind(st, r, team || self ? "all" : shared ? "shared" : "mine");
	if (name)
		db_bind_text(st, 1, name);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int(st, 2, exact);
	sqlite3_bind_int64(st, 3, limit);
	sqlite3_bind_int64(st, 4, offset);
	reply_models(out, c, db_collect_ids(st, &ids), &ids, model_dataset);
}

void h_datasets_list(struct req *r, struct resp *out)
{
	datasets_reply(r, out, NULL);
}

/* GET /v1/datasets/query/name/{datasetName} (Lightly's get_datasets_query_by_name) */
void h_datasets_by_name(struct req *r, struct resp *out)
{
	const char *name = r->params[0];

	if (strlen(name) > 200 || !utf8_valid(name, strlen(name))) {
		resp_error(out, 400, "BAD_REQUEST", "datasetName must be 1-200 characters of UTF-8");
		return;
	}
	datasets_reply(r, out, name);
}

void h_dataset_create(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *name = NULL;
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "name", true, &name, out) < 0)
		goto done;
	if (!api_name_ok(API_NAME_DATASET, name)) {
		resp_error(out, 400, "BAD_REQUEST", "name: %s", api_name_rule(API_NAME_DATASET));
		goto done;
	}
	id_new(id);
	int64_t now = db_now_ms();
	sqlite3_stmt *st = db_stmt(c, "INSERT INTO datasets (id, name, user_id, created_at, "
				   "last_modified_at) VALUES (?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, name);
	db_bind_text(st, 3, r->who.id);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		resp_db_error(out, c);
	else
		reply_id(out, 201, id);
done:
	cJSON_Delete(j);
}

void h_dataset_get(struct req *r, struct resp *out)
{
	cJSON *d;
	int rc = model_dataset(req_db(r), r->params[0], &d);

	if (rc < 0)
		resp_lookup_error(out, req_db(r), rc, "NOT_FOUND", "no such dataset");
	else
		resp_json(out, 200, d);
}

void h_tasks(struct req *r, struct resp *out)
{
	struct dataset ds;
	struct strvec tasks = { 0 };
	char err[512];

	if (web_datasource_open(r, out, DS_USE_LIGHTLY, &ds) < 0)
		return;
	cJSON *a = cJSON_CreateArray();
	int rc = predict_list_tasks(&ds, &tasks, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		cJSON_Delete(a);
		char dserr[1024];
		/* A remote datasource: the bucket, the keys or the network, not the predictions. */
		if (dataset_last_error(&ds, dserr, sizeof(dserr))[0] != '\0')
			resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", dserr);
		else
			resp_error(out, 409, "PREDICTION_TASK_SCHEMA_UNKNOWN", "%s", err);
		goto out;
	}
	for (size_t i = 0; i < tasks.n; i++) {
		struct task_schema s;
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", tasks.v[i]);
		if (predict_load_schema(&ds, tasks.v[i], &s, err, sizeof(err)) < 0) {
			cJSON_AddNullToObject(t, "taskType");
			cJSON_AddArrayToObject(t, "scores");
			cJSON_AddNullToObject(t, "defaultScore");
			cJSON_AddStringToObject(t, "error", err);
		} else {
			cJSON_AddStringToObject(t, "taskType", task_type_name(s.type));
			cJSON *sc = cJSON_AddArrayToObject(t, "scores");
			for (size_t k = 0; k < task_score_count(s.type); k++)
				cJSON_AddItemToArray(sc, cJSON_CreateString(task_score_name(s.type, k)));
			cJSON_AddStringToObject(t, "defaultScore", task_default_score(s.type));
			task_schema_free(&s);
		}
		cJSON_AddItemToArray(a, t);
	}
	resp_json(out, 200, a);
out:
	strvec_free(&tasks);
	dataset_close(&ds);
}

/*
 * Validates body.config with config_parse. Returns the parsed body (caller
 * frees) with *errors filled ([{path, message}], empty when valid),
 * *warnings and *plan (the selection plan the config means, SPEC 4.8, as
 * Lightly's SelectionConfigV4 JSON; NULL when the config has an error), or
 * NULL after replying 400 for a malformed body. body.version, when given,
 * must be "V4" (Lightly's vX route); with it the config must hold a
 * selection (SPEC 2.1: a V4 config without one is an error). The vX route
 * requires it; the 2.2-era create route ignores it, as it always did.
 */
enum version_use { VERSION_IGNORED, VERSION_OPTIONAL, VERSION_REQUIRED };

static cJSON *check_config(struct req *r, struct resp *out, enum version_use vu, cJSON **errors,
			   cJSON **warnings, cJSON **plan)
{
	cJSON *j = req_json_object(r, out);

	if (j == NULL)
		return NULL;
	cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
	if (!cJSON_IsObject(cfg)) {
		resp_error(out, 400, "BAD_REQUEST", "config must be an object {workerType, docker, lightly}");
		cJSON_Delete(j);
		return NULL;
	}
	cJSON *creator = cJSON_GetObjectItemCaseSensitive(j, "creator");
	if (creator && !cJSON_IsString(creator) && !cJSON_IsNull(creator)) {
		resp_error(out, 400, "BAD_REQUEST", "creator must be a string");
		cJSON_Delete(j);
		return NULL;
	}
	cJSON *version = vu == VERSION_IGNORED ? NULL :
			 cJSON_GetObjectItemCaseSensitive(j, "version");
	bool v4 = cJSON_IsString(version) && strcmp(version->valuestring, "V4") == 0;
	if ((version || vu == VERSION_REQUIRED) && !v4) {
		resp_error(out, 400, "BAD_REQUEST", "version must be \"V4\"");
		cJSON_Delete(j);
		return NULL;
	}
	/* The wrapped form is what config_parse sees; "docker" alone would do too. */
	char *text = cJSON_PrintUnformatted(cfg);
	struct run_config rc;
	struct strvec msgs = { 0 };
	*errors = cJSON_CreateArray();
	*warnings = cJSON_CreateArray();
	*plan = NULL;
	if (version && !cJSON_GetObjectItemCaseSensitive(cfg, "selection"))
		strvec_push(&msgs, "selection: missing (a V4 config says what to select in "
			    "selection)");
	if (config_parse(text, strlen(text), &rc, &msgs) == 0) {
		for (size_t i = 0; i < rc.warnings.n; i++)
			cJSON_AddItemToArray(*warnings, cJSON_CreateString(rc.warnings.v[i]));
		if (msgs.n == 0)
			*plan = plan_to_json(config_plan(&rc));
		config_free(&rc);
	}
	for (size_t i = 0; i < msgs.n; i++) {
		/* "docker.method: \"x\" is not ..." -> path, message at the first ": ". */
		cJSON *e = cJSON_CreateObject();
		char *sep = strstr(msgs.v[i], ": ");
		if (sep) {
			*sep = '\0';
			cJSON_AddStringToObject(e, "path", msgs.v[i]);
			cJSON_AddStringToObject(e, "message", sep + 2);
		} else {
			cJSON_AddStringToObject(e, "path", "");
			cJSON_AddStringToObject(e, "message", msgs.v[i]);
		}
		cJSON_AddItemToArray(*errors, e);
	}
	strvec_free(&msgs);
	free(text);
	return j;
}

void h_config_validate(struct req *r, struct resp *out)
{
	cJSON *errors, *warnings, *plan;
	cJSON *j = check_config(r, out, VERSION_OPTIONAL, &errors, &warnings, &plan);

	if (j == NULL)
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "errors", errors);
	cJSON_AddItemToObject(o, "warnings", warnings);
	cJSON_AddItemToObject(o, "plan", plan ? plan : cJSON_CreateNull());
	resp_json(out, 200, o);
	cJSON_Delete(j);
}

static void config_create(struct req *r, struct resp *out, enum version_use vu)
{
	cJSON *errors, *warnings, *plan;
	cJSON *j = check_config(r, out, vu, &errors, &warnings, &plan);
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	cJSON_Delete(plan);
	int nerr = cJSON_GetArraySize(errors);
	if (nerr > 0) {
		/* Lightly's ApiErrorResponse has no list: the first errors, each naming
		   its field, in the message (the pages ask /v1/winnow/configs/validate
		   for the whole list). */
		struct buf msg = { 0 };
		buf_printf(&msg, "invalid config (%d error%s)", nerr, nerr == 1 ? "" : "s");
		for (int i = 0; i < nerr && i < 5; i++) {
			cJSON *e = cJSON_GetArrayItem(errors, i);
			const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
			const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
			buf_printf(&msg, "%s %s%s%s", i == 0 ? ":" : ";", path && *path ? path : "",
				    path && *path ? ": " : "", m ? m : "");
		}
		if (nerr > 5)
			buf_printf(&msg, "; and %d more", nerr - 5);
		resp_error(out, 400, "DOCKER_WORKER_CONFIG_INVALID", "%s", msg.data);
		buf_free(&msg);
		cJSON_Delete(errors);
		cJSON_Delete(warnings);
		cJSON_Delete(j);
		return;
	}
	cJSON_Delete(errors);
	cJSON_Delete(warnings);
	cJSON *creator = cJSON_GetObjectItemCaseSensitive(j, "creator");
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "config"));
	id_new(id);
	sqlite3_stmt *st = db_stmt(c, "INSERT INTO configs (id, user_id, config, creator, created_at) "
				   "VALUES (?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->who.id);
	db_bind_text(st, 3, text);
	db_bind_text(st, 4, cJSON_IsString(creator) ? creator->valuestring : NULL);
	sqlite3_bind_int64(st, 5, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	free(text);
	if (rc != SQLITE_DONE)
		resp_db_error(out, c);
	else
		reply_id(out, 201, id);
	cJSON_Delete(j);
}

void h_config_create(struct req *r, struct resp *out)
{
	config_create(r, out, VERSION_IGNORED);
}

/*
 * Lightly's vX route: {version: "V4", config, creator}. The config is
 * stored as posted, like the 2.2-era route's; it holds a selection (checked
 * above), which is what makes config_parse read it as V4 when the daemon
 * fetches it, so no column says which form it is.
 */
void h_config_create_vx(struct req *r, struct resp *out)
{
	config_create(r, out, VERSION_REQUIRED);
}

void h_schedule_create(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out), *runs_on = NULL;
	const char *config = NULL, *prio = "MID", *origin = NULL;
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	if (json_str(j, "configId", true, &config, out) < 0 ||
	    json_enum(j, "priority", false, priorities, &prio, out) < 0 ||
	    json_str_array(j, "runsOn", false, &runs_on, out) < 0 ||
	    json_str(j, "originScheduledId", false, &origin, out) < 0)
		goto done;
	if (!id_valid(config) || (origin && !id_valid(origin))) {
		resp_error(out, 400, "MALFORMED_REQUEST", "configId and originScheduledId must be ids");
		goto done;
	}
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	/* A config of mine (or one I may see: authz_config); another user's reads as absent. */
	int az = authz_config(r, config);
	if (az == -EIO) {
		resp_db_error(out, c);
		goto done;
	}
	if (az < 0) {
		resp_error(out, 400, "BAD_REQUEST", "no config with id %s", config);
		goto done;
	}
	char *runs_on_text = runs_on ? cJSON_PrintUnformatted(runs_on) : xstrdup("[]");
	int64_t now = db_now_ms();
	id_new(id);
	/* One statement, so the cap (SPEC 8) cannot be passed by two calls at once. */
	sqlite3_stmt *st = db_stmt(c, "INSERT INTO scheduled (id, dataset_id, config_id, user_id, priority, "
		     "priority_rank, runs_on, state, origin_scheduled_id, created_at, last_modified_at) "
		     "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'OPEN', ?8, ?9, ?10 WHERE (SELECT count(*) "
		     "FROM scheduled WHERE dataset_id = ?2 AND state IN ('OPEN', 'LOCKED')) < ?11");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->params[0]);
	db_bind_text(st, 3, config);
	db_bind_text(st, 4, r->who.id);
	db_bind_text(st, 5, prio);
	sqlite3_bind_int(st, 6, str_index(priorities, prio));
	db_bind_text(st, 7, runs_on_text);
	db_bind_text(st, 8, origin);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_int(st, 11, SCHEDULED_ACTIVE_MAX);
	int rc = db_step(st);
	sqlite3_reset(st);
	free(runs_on_text);
	if (rc != SQLITE_DONE) {
		resp_db_error(out, c);
	} else if (sqlite3_changes(db_handle(c)) == 0) {
		resp_error(out, 409, "DATASET_AT_MAX_CAPACITY", "a dataset has at most %d scheduled "
			   "runs OPEN or LOCKED: cancel some or wait", SCHEDULED_ACTIVE_MAX);
	} else {
		longpoll_bump();	/* after the commit (autocommit): waiting polls see it */
		reply_id(out, 201, id);
	}
done:
	cJSON_Delete(j);
}

struct state_args {
	unsigned mask;		/* bit i: scheduled_states[i] */
	const char *bad;	/* the first value that is not a state */
};

static enum MHD_Result state_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct state_args *sa = cls;

	(void)kind;
	if (strcmp(key, "state") != 0 && strcmp(key, "states") != 0)
		return MHD_YES;
	int i = value ? str_index(scheduled_states, value) : -1;
	if (i < 0) {
		if (sa->bad == NULL)
			sa->bad = value ? value : "";
	} else {
		sa->mask |= 1u << i;
	}
	return MHD_YES;
}

/*
 * The scheduled runs of a dataset, newest first, in the states that
 * ?state= (and Lightly's repeatable ?states=) name; none named: def (a mask
 * of scheduled_states). 404 for an unknown dataset, 400 for a state that is
 * not one of Lightly's.
 */
static void schedule_reply(struct req *r, struct resp *out, unsigned def,
			   int (*model)(struct dbconn *, const char *, cJSON **))
{
	struct dbconn *c = req_db(r);
	struct strvec ids = { 0 };
	struct state_args sa = { 0 };
	int64_t limit = -1, offset = 0, seen = 0;

	/* winnow's list (every state by default) is paged; Lightly's (OPEN and LOCKED) is capped. */
	if (def == 0xfu && winnow_paging(r, out, &limit, &offset) < 0)
		return;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, state_arg, &sa);
	if (sa.bad != NULL) {
		resp_error(out, 400, "BAD_REQUEST", "state must be OPEN, LOCKED, DONE or CANCELED");
		return;
	}
	if (sa.mask == 0)
		sa.mask = def;
	int ds_found = dataset_lookup(c, r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, c, ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT id, state FROM scheduled WHERE dataset_id = ? "
				   "ORDER BY created_at DESC, rowid DESC");
	db_bind_text(st, 1, r->params[0]);
	while ((limit < 0 || (int64_t)ids.n < limit) && (ds_found = db_row(st)) == 1) {
		int k = str_index(scheduled_states, db_col_text(st, 1));
		if (k >= 0 && (sa.mask & 1u << k) && seen++ >= offset)
			strvec_push(&ids, db_col_text(st, 0));
	}
	sqlite3_reset(st);
	if (ds_found == 1)
		ds_found = 0;	/* the page is full */
	reply_models(out, c, ds_found, &ids, model);
}

/*
 * GET /v1/datasets/{datasetId}/docker/worker/schedule[?state=] (Lightly's
 * get_docker_runs_scheduled_by_dataset_id): without a state, the runs not
 * finished (OPEN and LOCKED), as DockerRunScheduledData.
 */
void h_schedule_list(struct req *r, struct resp *out)
{
	schedule_reply(r, out, 1u << 0 | 1u << 1, model_scheduled);
}

/* GET /v1/winnow/datasets/{datasetId}/schedule: every state by default, winnow's view (routes_runs.c). */
void h_winnow_schedule_list(struct req *r, struct resp *out)
{
	winnow_schedule_of_dataset(r, out);	/* routes_runs.c: filters, paging, summaries */
}

/*
 * PUT /v1/datasets/{datasetId}/docker/worker/schedule/{scheduledId} (Lightly's
 * cancel_scheduled_docker_run_state_by_id, no body): an OPEN scheduled run
 * becomes CANCELED, 204; 409 once it is no longer OPEN, 404 unknown.
 */
void h_schedule_cancel(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);

	if (db_begin(c) != SQLITE_OK) {
		resp_db_error(out, c);
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT state FROM scheduled WHERE id = ? AND dataset_id = ?");
	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, r->params[0]);
	char state[16] = "";
	int found = db_row(st);
	if (found == 1)
		snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	if (state[0] == '\0') {
		db_rollback(c);
		resp_lookup_error(out, c, found < 0 ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such scheduled run in this dataset");
		return;
	}
	if (strcmp(state, "OPEN") != 0) {
		db_rollback(c);
		resp_error(out, 409, "CONFLICT", "only an OPEN scheduled run can be canceled (it is %s)", state);
		return;
	}
	st = db_stmt(c, "UPDATE scheduled SET state = 'CANCELED', last_modified_at = ? WHERE id = ?");
	sqlite3_bind_int64(st, 1, db_now_ms());
	db_bind_text(st, 2, r->params[1]);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK) {
		resp_db_error(out, c);
		db_rollback(c);
		return;
	}
	resp_no_content(out);
}

/*
 * Runs newest first, of one dataset and/or one scheduled run or all (NULL),
 * paged (Lightly's pageSize/pageOffset).
 */
static void runs_reply(struct req *r, struct resp *out, const char *ds, const char *sched,
		       int (*model)(struct dbconn *, const char *, cJSON **), bool winnow)
{
	struct dbconn *c = req_db(r);
	struct strvec ids = { 0 };
	int64_t limit, offset;

	if ((winnow ? winnow_paging(r, out, &limit, &offset) : req_paging(r, out, &limit, &offset)) < 0)
		return;
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM runs WHERE (?1 IS NULL OR dataset_id = ?1) "
				   "AND (?4 IS NULL OR scheduled_id = ?4) AND " AUTHZ_DATASETS("dataset_id")
				   " ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3");
	authz_bind(st, r, "all");
	db_bind_text(st, 1, ds);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	db_bind_text(st, 4, sched);
	reply_models(out, c, db_collect_ids(st, &ids), &ids, model);
}

int winnow_paging(struct req *r, struct resp *out, int64_t *limit, int64_t *offset)
{
	if (req_paging(r, out, limit, offset) < 0)
		return -1;
	if (*limit < 0 || *limit > WINNOW_PAGE_MAX)
		*limit = WINNOW_PAGE_MAX;
	return 0;
}

/* GET /v1/docker/runs (Lightly's get_docker_runs), paged. */
void h_runs_list(struct req *r, struct resp *out)
{
	runs_reply(r, out, NULL, NULL, model_run, false);
}

/* GET /v1/docker/runs/query/datasetId/{datasetId} (Lightly's get_docker_runs_query_by_dataset_id), paged. */
void h_runs_by_dataset(struct req *r, struct resp *out)
{
	int ds_found = dataset_lookup(req_db(r), r->params[0]);
	if (ds_found < 0) {
		resp_lookup_error(out, req_db(r), ds_found, "NOT_FOUND", "no such dataset");
		return;
	}
	runs_reply(r, out, r->params[0], NULL, model_run, false);
}

/* GET /v1/winnow/runs: winnow's view of the runs (the pages'), in routes_runs.c. */
void h_winnow_runs_list(struct req *r, struct resp *out)
{
	winnow_runs(r, out);	/* routes_runs.c: filters, paging, summaries */
}

static void run_reply(struct req *r, struct resp *out,
		      int (*model)(struct dbconn *, const char *, cJSON **))
{
	cJSON *m;
	int rc = model(req_db(r), r->params[0], &m);

	if (rc < 0)
		resp_lookup_error(out, req_db(r), rc, "NOT_FOUND", "no such run");
	else
		resp_json(out, 200, m);
}

void h_run_get(struct req *r, struct resp *out)
{
	run_reply(r, out, model_run);
}

/* GET /v1/winnow/runs/{runId}: with progress, the abort flag and every file. */
void h_winnow_run_get(struct req *r, struct resp *out)
{
	run_reply(r, out, model_run_winnow);
}

void h_run_by_scheduled(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM runs WHERE scheduled_id = ?");
	char id[25] = "";

	db_bind_text(st, 1, r->params[0]);
	int rc = db_row(st);
	if (rc == 1)
		snprintf(id, sizeof(id), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	cJSON *m = NULL;
	if (rc == 1)
		rc = model_run(c, id, &m);
	if (m == NULL)
		resp_lookup_error(out, c, rc < 0 && rc != -ENOENT ? -EIO : -ENOENT, "NOT_FOUND",
				  "no run for this scheduled run");
	else
		resp_json(out, 200, m);
}

void h_run_abort(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);

	if (db_begin(c) != SQLITE_OK) {
		resp_db_error(out, c);
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT state FROM runs WHERE id = ?");
	char state[48] = "";
	db_bind_text(st, 1, r->params[0]);
	int found = db_row(st);
	if (found == 1)
		snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	if (state[0] == '\0') {
		db_rollback(c);
		resp_lookup_error(out, c, found < 0 ? -EIO : -ENOENT, "NOT_FOUND", "no such run");
		return;
	}
	if (run_state_final(state)) {
		db_rollback(c);
		resp_error(out, 409, "CONFLICT", "the run has ended (%s)", state);
		return;
	}
	/* The worker learns of it from the reply to its next run-state PUT. */
	st = db_stmt(c, "UPDATE runs SET abort_requested = 1, last_modified_at = ? WHERE id = ?");
	sqlite3_bind_int64(st, 1, db_now_ms());
	db_bind_text(st, 2, r->params[0]);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK) {
		resp_db_error(out, c);
		db_rollback(c);
		return;
	}
	cJSON *m;
	if ((rc = model_run_winnow(c, r->params[0], &m)) < 0) {
		resp_lookup_error(out, c, rc, "NOT_FOUND", "no such run");
		return;
	}
	resp_json(out, 200, m);
}

/* A store lookup: 0, -ENOENT (404) or -EIO (503). */
static int run_lookup(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM runs WHERE id = ?");

	db_bind_text(st, 1, id);
	int found = db_row(st);
	sqlite3_reset(st);
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

/*
 * GET /v1/docker/runs/{runId}/logs[?cursor=N]: DockerRunLogData {cursor,
 * logs}: the run's lines from number N (0: the first), at most 1,000; the
 * reply's cursor is the number after the last line given, so a client
 * passes it back until logs comes empty.
 */
void h_run_logs_get(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	int64_t cursor = req_query_int(r, out, "cursor", 0, 0, INT64_MAX / 2);

	if (cursor == INT64_MIN)
		return;
	int rc = run_lookup(c, r->params[0]);
	if (rc < 0) {
		resp_lookup_error(out, c, rc, "NOT_FOUND", "no such run");
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT state FROM runs WHERE id = ?");
	char run_state[48] = "STARTED";
	db_bind_text(st, 1, r->params[0]);
	if ((rc = db_row(st)) == 1)
		snprintf(run_state, sizeof(run_state), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	if (rc < 0) {
		resp_db_error(out, c);
		return;
	}
	st = db_stmt(c, "SELECT seq, ts, level, msg, state, grp FROM run_logs "
		     "WHERE run_id = ? AND seq >= ? ORDER BY seq LIMIT 1000");
	db_bind_text(st, 1, r->params[0]);
	sqlite3_bind_int64(st, 2, cursor);
	struct api_log_data ld = { cursor, { NULL, 0 } };
	size_t cap = 0;
	while ((rc = db_row(st)) == 1) {
		if (ld.logs.n == cap) {
			cap = cap ? 2 * cap : 64;
			ld.logs.v = xrealloc(ld.logs.v, cap * sizeof(*ld.logs.v));
		}
		struct api_log_entry *e = &ld.logs.v[ld.logs.n++];
		api_log_entry_init(e);
		ld.cursor = sqlite3_column_int64(st, 0) + 1;
		e->ts = sqlite3_column_int64(st, 1);
		e->level = api_enum_value(API_E_LOG_LEVEL, db_col_text(st, 2));
		if (e->level < 0)
			e->level = API_LOG_INFO;
		e->msg = xstrdup(db_col_text(st, 3));
		/* Lines stored without a state (older rows) show the run's. */
		e->state = api_enum_value(API_E_RUN_STATE, sqlite3_column_type(st, 4) == SQLITE_NULL ?
					  run_state : db_col_text(st, 4));
		if (e->state < 0)
			e->state = API_RUN_STARTED;
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			e->group = xstrdup(db_col_text(st, 5));
	}
	sqlite3_reset(st);
	if (rc < 0) {
		api_log_data_free(&ld);
		resp_db_error(out, c);
		return;
	}
	char *body = api_build_log_data(&ld);
	api_log_data_free(&ld);
	if (body == NULL) {
		resp_error(out, 500, "INTERNAL_SERVER_ERROR", "cannot print the logs");
		return;
	}
	free(out->body);
	out->status = 200;
	out->body = body;
	out->len = strlen(body);
	out->ctype = "application/json";
}

/* Sends the uploaded content of artifact art of run run (404 when there is none). */
static void send_artifact(struct req *r, struct resp *out, const char *run, const char *art)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT content, type, file_name FROM artifacts "
				   "WHERE id = ? AND run_id = ? AND uploaded_at IS NOT NULL");

	db_bind_text(st, 1, art);
	db_bind_text(st, 2, run);
	int rc = db_row(st);
	if (rc != 1) {
		sqlite3_reset(st);
		resp_lookup_error(out, c, rc < 0 ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such uploaded artifact of this run");
		return;
	}
	size_t n = (size_t)sqlite3_column_bytes(st, 0);
	const void *b = sqlite3_column_blob(st, 0);
	const char *type = db_col_text(st, 1);
	free(out->body);
	out->body = xmalloc(n + 1);
	if (n)
		memcpy(out->body, b, n);
	out->len = n;
	out->status = 200;
	out->ctype = strcmp(type, "REPORT_JSON") == 0 ? "application/json" :
		     strstr(type, "CSV") || strcmp(type, "EMBEDDINGS_2D") == 0 ? "text/csv; charset=utf-8" :
		     "text/plain; charset=utf-8";
	/* The file name, with anything that could break the header replaced. */
	char *fn = xstrdup(db_col_text(st, 2));
	for (char *p = fn; *p; p++)
		if (*p == '"' || *p == '\\' || *p == '/' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
	out->extra_header_name = xstrdup("Content-Disposition");
	out->extra_header_value = xasprintf("attachment; filename=\"%s\"", fn);
	free(fn);
	sqlite3_reset(st);
}

/*
 * GET /v1/winnow/runs/{runId}/artifacts/{artifactId}/content (the pages'
 * download of any artifact or run file that winnow's run lists) and
 * GET /v1/winnow/runs/{runId}/files/{fileId}/content.
 */
void h_artifact_download(struct req *r, struct resp *out)
{
	send_artifact(r, out, r->params[0], r->params[1]);
}

/* The path a read URL names (what its signature covers). */
static char *read_path(const char *run, const char *art)
{
	return xasprintf("/v1/winnow/runs/%s/artifacts/%s/download", run, art);
}

/*
 * GET /v1/docker/runs/{runId}/artifacts/{artifactId}/readurl (Lightly's
 * get_docker_run_artifact_read_url_by_id): the absolute URL, as a JSON
 * string (the generated client json-decodes a "str" reply), that downloads
 * the artifact without a token until it expires (readurl.h). Built on
 * --public-url; without it, on --listen (never on the request's Host header).
 */
void h_artifact_readurl(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM artifacts WHERE id = ? AND run_id = ? "
				   "AND uploaded_at IS NOT NULL");

	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, r->params[0]);
	int found = db_row(st);
	sqlite3_reset(st);
	if (found != 1) {
		resp_lookup_error(out, c, found < 0 ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such uploaded artifact of this run");
		return;
	}
	char *path = read_path(r->params[0], r->params[1]), sig[READURL_SIG_HEX + 1];
	int64_t expires = db_now_ms() / 1000 + r->ws->read_url_ttl;
	readurl_sign(r->ws->url_key, path, expires, sig);
	char *base = http_base_url(r->ws);
	char *url = xasprintf("%s%s?expires=%lld&sig=%s", base, path, (long long)expires, sig);
	resp_json(out, 200, cJSON_CreateString(url));
	free(url);
	free(base);
	free(path);
}

/*
 * GET /v1/winnow/runs/{runId}/artifacts/{artifactId}/download?expires=&sig=:
 * a read URL; its signature is the credential: 401 when it is missing, not
 * the key's, or expired (like the upload's signature; the message says which).
 */
void h_artifact_read(struct req *r, struct resp *out)
{
	char *path = read_path(r->params[0], r->params[1]);
	enum readurl_verdict v = readurl_check(r->ws->url_key, path, req_query(r, "expires"),
					       req_query(r, "sig"), db_now_ms() / 1000);

	free(path);
	if (v == READURL_BAD)
		resp_error(out, 401, "UNAUTHORIZED", "the read URL's signature is missing or wrong");
	else if (v == READURL_EXPIRED)
		resp_error(out, 401, "UNAUTHORIZED", "the read URL has expired: ask for a new one");
	else
		send_artifact(r, out, r->params[0], r->params[1]);
}

void h_workers_list(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	struct strvec ids = { 0 };

	reply_models(out, c, db_collect_ids(db_stmt(c, "SELECT id FROM workers ORDER BY name"), &ids), &ids,
		     model_worker);
}

/* GET /v1/winnow/workers: the pages' list, with each worker's last contact. */
void h_winnow_workers_list(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	struct strvec ids = { 0 };
	int64_t limit, offset;

	if (winnow_paging(r, out, &limit, &offset) < 0)
		return;
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM workers ORDER BY name LIMIT ? OFFSET ?");
	sqlite3_bind_int64(st, 1, limit);
	sqlite3_bind_int64(st, 2, offset);
	reply_models(out, c, db_collect_ids(st, &ids), &ids, model_worker_winnow);
}

/*
 * DELETE /v1/docker/worker/{workerId} (Lightly's delete_docker_worker_registry_entry_by_id):
 * 204; 404 unknown; 409 while it holds a LOCKED scheduled run (its run would
 * never be taken back: abort or let it finish first).
 */
void h_worker_delete(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);

	if (db_begin(c) != SQLITE_OK) {
		resp_db_error(out, c);
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT (SELECT count(*) FROM workers WHERE id = ?1), "
				   "(SELECT count(*) FROM scheduled WHERE worker_id = ?1 AND state = 'LOCKED')");
	db_bind_text(st, 1, r->params[0]);
	int64_t found = 0, held = 0;
	int rc = db_row(st);
	if (rc == 1) {
		found = sqlite3_column_int64(st, 0);
		held = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc < 0) {
		db_rollback(c);
		resp_db_error(out, c);
		return;
	}
	if (!found || held) {
		db_rollback(c);
		if (!found)
			resp_error(out, 404, "NOT_FOUND", "no such worker");
		else
			resp_error(out, 409, "CONFLICT", "the worker holds a scheduled run (LOCKED): "
				   "abort it or let it finish first");
		return;
	}
	st = db_stmt(c, "DELETE FROM workers WHERE id = ?");
	db_bind_text(st, 1, r->params[0]);
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK) {
		resp_db_error(out, c);
		db_rollback(c);
		return;
	}
	resp_no_content(out);
}

void h_worker_get(struct req *r, struct resp *out)
{
	cJSON *m;
	int rc = model_worker(req_db(r), r->params[0], &m);

	if (rc < 0)
		resp_lookup_error(out, req_db(r), rc, "NOT_FOUND", "no such worker");
	else
		resp_json(out, 200, m);
}

/* The tag's mask if the tag belongs to the dataset; NULL after replying 404 (503). */
static cJSON *tag_of(struct req *r, struct resp *out, const char *dataset, const char *tag)
{
	cJSON *t;
	int rc = model_tag(req_db(r), tag, &t);

	if (t == NULL || strcmp(cJSON_GetObjectItem(t, "datasetId")->valuestring, dataset) != 0) {
		cJSON_Delete(t);
		resp_lookup_error(out, req_db(r), rc == -EIO ? -EIO : -ENOENT, "NOT_FOUND",
				  "no such tag in this dataset");
		return NULL;
	}
	return t;
}

void h_scores_list(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	cJSON *t = tag_of(r, out, r->params[0], r->params[1]);

	if (t == NULL)
		return;
	cJSON_Delete(t);
	sqlite3_stmt *st = db_stmt(c, "SELECT id, score_type, created_at FROM scores WHERE tag_id = ? "
				   "ORDER BY score_type");
	cJSON *a = cJSON_CreateArray();
	db_bind_text(st, 1, r->params[1]);
	int rc;
	while ((rc = db_row(st)) == 1) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(e, "scoreType", db_col_text(st, 1));
		cJSON_AddStringToObject(e, "tagId", r->params[1]);
		json_add_i64(e, "createdAt", sqlite3_column_int64(st, 2));
		cJSON_AddItemToArray(a, e);
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
 * One score list of a tag as Lightly's ActiveLearningScoreData, found by its
 * id (Lightly's route) or by its score type (winnow's).
 */
static void score_reply(struct req *r, struct resp *out, bool by_id, const char *key)
{
	struct dbconn *c = req_db(r);
	cJSON *t = tag_of(r, out, r->params[0], r->params[1]);

	if (t == NULL)
		return;
	cJSON_Delete(t);
	sqlite3_stmt *st = db_stmt(c, by_id ?
		"SELECT id, score_type, scores, created_at FROM scores WHERE tag_id = ? AND id = ?" :
		"SELECT id, score_type, scores, created_at FROM scores WHERE tag_id = ? AND score_type = ?");
	db_bind_text(st, 1, r->params[1]);
	db_bind_text(st, 2, key);
	int rc = db_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			resp_error(out, 404, "NOT_FOUND", "no such score list for this tag");
		else
			resp_db_error(out, c);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
	cJSON_AddStringToObject(o, "tagId", r->params[1]);
	cJSON_AddStringToObject(o, "scoreType", db_col_text(st, 1));
	size_t n = (size_t)sqlite3_column_bytes(st, 2) / sizeof(double);
	const unsigned char *b = sqlite3_column_blob(st, 2);
	cJSON *a = cJSON_AddArrayToObject(o, "scores");
	for (size_t i = 0; i < n; i++) {
		double v;
		memcpy(&v, b + i * sizeof(double), sizeof(double));
		cJSON_AddItemToArray(a, json_exact_number(v));
	}
	json_add_i64(o, "createdAt", sqlite3_column_int64(st, 3));
	sqlite3_reset(st);
	resp_json(out, 200, o);
}

/* GET /v1/datasets/{datasetId}/tags/{tagId}/scores/{scoreId}: Lightly's, by id. */
void h_score_get(struct req *r, struct resp *out)
{
	score_reply(r, out, true, r->params[2]);
}

/* GET /v1/winnow/datasets/{datasetId}/tags/{tagId}/scores/{scoreType}: the pages', by type. */
void h_winnow_score_by_type(struct req *r, struct resp *out)
{
	score_reply(r, out, false, r->params[2]);
}

/* ---- results ---- */

struct result_item {
	size_t index;		/* bit position = sample index */
	size_t rank;		/* position among the candidates (score list index) */
	bool selected;
	const char *name;
};

struct sort_ctx {
	const double *key;	/* by rank; NULL: sort by name */
	int dir;		/* 1 asc, -1 desc */
};

/* qsort has no context argument; the sort runs under one request's thread only. */
static _Thread_local struct sort_ctx sort_ctx;

static int cmp_items(const void *pa, const void *pb)
{
	const struct result_item *a = pa, *b = pb;
	int c = 0;

	if (sort_ctx.key) {
		double x = sort_ctx.key[a->rank], y = sort_ctx.key[b->rank];
		/* No value (a selection.csv column of a sample not selected): last either way. */
		if (isnan(x) || isnan(y)) {
			if (isnan(x) != isnan(y))
				return isnan(x) ? 1 : -1;
		} else {
			c = (x > y) - (x < y);
		}
	} else if (a->name && b->name) {
		c = strcmp(a->name, b->name);
		c = (c > 0) - (c < 0);
	}
	if (c != 0)
		return c * sort_ctx.dir;
	/* Ties: ascending index whatever the order, so pages are stable. */
	return (a->index > b->index) - (a->index < b->index);
}

struct name_rank {
	const char *name;
	size_t rank;
};

static int cmp_name_rank(const void *pa, const void *pb)
{
	return strcmp(((const struct name_rank *)pa)->name, ((const struct name_rank *)pb)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A query bound of the score filter: absent (def), or a finite number; else 400. */
static bool query_bound(struct req *r, struct resp *out, const char *key, double def, double *v)
{
	const char *s = req_query(r, key);
	char *end;

	*v = def;
	if (s == NULL || s[0] == '\0')
		return true;
	errno = 0;
	*v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(*v)) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be a finite number", key);
		return false;
	}
	return true;
}

/*
 * The run's NO_PREDICTIONS run file (filenames/no_predictions_filenames.txt,
 * a worker's upload, so hostile: one name a line, anything not a candidate's
 * name is ignored): sets nopred[rank] of each candidate listed and returns
 * how many were. names.v is by sample index, cm the candidates.
 */
static size_t mark_no_predictions(const char *b, size_t blen, const struct strvec *names,
				  const struct bitmask *cm, unsigned char *nopred)
{
	struct strvec lines = { 0 };
	size_t n = 0, rank = 0;

	for (size_t i = 0; i < blen;) {
		const char *nl = memchr(b + i, '\n', blen - i);
		size_t len = nl ? (size_t)(nl - (b + i)) : blen - i;
		if (len > 0 && b[i + len - 1] == '\r')
			len--;
		if (len > 0 && len < 4096) {
			char *line = xmalloc(len + 1);
			memcpy(line, b + i, len);
			line[len] = '\0';
			strvec_push(&lines, line);
			free(line);
		}
		i += (nl ? (size_t)(nl - (b + i)) + 1 : blen - i);
	}
	if (lines.n > 1)
		qsort(lines.v, lines.n, sizeof(*lines.v), cmp_str);
	for (size_t w = 0; w < cm->nwords; w++)
		for (uint64_t bits = cm->w[w]; bits; bits &= bits - 1) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
			const char *nm = names->v[i] ? names->v[i] : "";
			if (lines.n && bsearch(&nm, lines.v, lines.n, sizeof(*lines.v), cmp_str)) {
				nopred[rank] = 1;
				n++;
			}
			rank++;
		}
	strvec_free(&lines);
	return n;
}

/*
 * GET /v1/winnow/runs/{runId}/results (the results page's sample list, a
 * winnow route: Lightly has none): the run's candidates sorted and paged on
 * the server, with their scores and selection.csv's columns (docs/api.md).
 * Filters: selected=1|0|all; predictions=none|some (by the run's
 * NO_PREDICTIONS file); score=TYPE with min and max, the half-open interval
 * min <= value < max (either bound may be left out), a histogram bin.
 */
int run_tags_load(struct dbconn *c, const char *run_id, struct run_tags *t)
{
	sqlite3_stmt *st;
	int step;

	memset(t, 0, sizeof(*t));
	st = db_stmt(c, "SELECT dataset_id FROM runs WHERE id = ?");
	db_bind_text(st, 1, run_id);
	if ((step = db_row(st)) == 1)
		snprintf(t->dataset, sizeof(t->dataset), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	if (step != 1)
		return step < 0 ? -EIO : -ENOENT;
	/* The run's candidates tag has no previous tag; its selection tag points at it. */
	st = db_stmt(c, "SELECT id, bit_mask_data FROM tags WHERE run_id = ? AND prev_tag_id IS NULL "
		     "ORDER BY created_at LIMIT 1");
	db_bind_text(st, 1, run_id);
	if ((step = db_row(st)) == 1) {
		snprintf(t->cand_id, sizeof(t->cand_id), "%s", db_col_text(st, 0));
		bitmask_parse(db_col_text(st, 1), SIZE_MAX, &t->cand);
	}
	sqlite3_reset(st);
	if (step < 0 || t->cand_id[0] == '\0')
		return step < 0 ? -EIO : 0;
	st = db_stmt(c, "SELECT id, bit_mask_data FROM tags WHERE run_id = ? AND prev_tag_id = ? "
		     "ORDER BY created_at LIMIT 1");
	db_bind_text(st, 1, run_id);
	db_bind_text(st, 2, t->cand_id);
	if ((step = db_row(st)) == 1) {
		snprintf(t->sel_id, sizeof(t->sel_id), "%s", db_col_text(st, 0));
		bitmask_parse(db_col_text(st, 1), SIZE_MAX, &t->sel);
	}
	sqlite3_reset(st);
	return step < 0 ? -EIO : 0;
}

void run_tags_free(struct run_tags *t)
{
	bitmask_free(&t->cand);
	bitmask_free(&t->sel);
}

int run_scores_load(struct dbconn *c, const struct run_tags *t, struct strvec *types,
		    double ***vals)
{
	size_t ncand = bitmask_count(&t->cand);
	sqlite3_stmt *st;
	int step;

	st = db_stmt(c, "SELECT score_type, scores FROM scores WHERE tag_id = ? ORDER BY score_type");
	db_bind_text(st, 1, t->cand_id);
	while ((step = db_row(st)) == 1) {
		if ((size_t)sqlite3_column_bytes(st, 1) != ncand * sizeof(double))
			continue;
		*vals = xreallocarray(*vals, types->n + 1, sizeof(**vals));
		(*vals)[types->n] = xmalloc(ncand * sizeof(double) + 1);
		if (ncand)
			memcpy((*vals)[types->n], sqlite3_column_blob(st, 1), ncand * sizeof(double));
		strvec_push(types, db_col_text(st, 0));
	}
	sqlite3_reset(st);
	return step < 0 ? -EIO : 0;
}

int run_selcsv_load(struct dbconn *c, const char *run_id, struct selcsv *csv, bool *have,
		    char **err)
{
	sqlite3_stmt *st;
	int step;

	st = db_stmt(c, "SELECT content FROM artifacts WHERE run_id = ? AND type = 'SELECTION_CSV' "
		     "AND uploaded_at IS NOT NULL ORDER BY created_at DESC LIMIT 1");
	db_bind_text(st, 1, run_id);
	if ((step = db_row(st)) == 1) {
		char e[512];
		const char *b = sqlite3_column_blob(st, 0);
		size_t blen = (size_t)sqlite3_column_bytes(st, 0);
		if (selcsv_parse(b ? b : "", blen, csv, e, sizeof(e)) == 0)
			*have = true;
		else
			*err = xstrdup(e);
	}
	sqlite3_reset(st);
	return step < 0 ? -EIO : 0;
}

void h_results(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *sort = req_query(r, "sort"), *order = req_query(r, "order"),
		   *sel = req_query(r, "selected");
	int64_t offset = req_query_int(r, out, "offset", 0, 0, INT64_MAX / 2);
	int64_t limit = req_query_int(r, out, "limit", 100, 1, 1000);
	struct run_tags rt;
	struct strvec types = { 0 }, names = { 0 };
	double **vals = NULL, *selkey = NULL;
	struct result_item *items = NULL;
	struct selcsv csv = { 0 };
	long *selrow = NULL;		/* by rank: the selection.csv row, or -1 */
	char *csv_err = NULL, *np_text = NULL;
	size_t np_len = 0;
	bool have_csv = false, have_np = false;
	unsigned char *nopred = NULL;	/* by rank: 1 when the candidate had no predictions */
	const char *pred = req_query(r, "predictions"), *fscore = req_query(r, "score");
	const char *npr = req_query(r, "noPredictionRanks");
	double fmin, fmax;

	if (offset == INT64_MIN || limit == INT64_MIN)
		return;
	if (pred != NULL && strcmp(pred, "none") != 0 && strcmp(pred, "some") != 0 &&
	    strcmp(pred, "all") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "predictions must be none, some or all");
		return;
	}
	if (!query_bound(r, out, "min", -INFINITY, &fmin) ||
	    !query_bound(r, out, "max", INFINITY, &fmax))
		return;
	if (fscore == NULL && (req_query(r, "min") || req_query(r, "max"))) {
		resp_error(out, 400, "BAD_REQUEST", "min and max filter a score: score is required");
		return;
	}
	if (order == NULL)
		order = "asc";
	if (sel == NULL)
		sel = "all";
	if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "order must be asc or desc");
		return;
	}
	if (strcmp(sel, "all") != 0 && strcmp(sel, "1") != 0 && strcmp(sel, "0") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "selected must be 1, 0 or all");
		return;
	}
	int step, dberr = 0;	/* dberr: any step failed */
	if ((step = run_tags_load(c, r->params[0], &rt)) < 0) {
		resp_lookup_error(out, c, step, "NOT_FOUND", "no such run");
		run_tags_free(&rt);
		return;
	}
	const char *cand_id = rt.cand_id, *sel_id = rt.sel_id, *dataset = rt.dataset;
	sqlite3_stmt *st;
	size_t ncand = bitmask_count(&rt.cand);

	dberr |= run_scores_load(c, &rt, &types, &vals) < 0;
	/*
	 * The run's selection.csv (SPEC 4.8's objective columns). A bad one is
	 * reported beside the results, which stay usable; only a sort by its
	 * columns needs it.
	 */
	dberr |= run_selcsv_load(c, r->params[0], &csv, &have_csv, &csv_err) < 0;

	/* The candidates without predictions: the newest uploaded NO_PREDICTIONS file. */
	st = db_stmt(c, "SELECT content FROM artifacts WHERE run_id = ? AND type = 'NO_PREDICTIONS' "
		     "AND uploaded_at IS NOT NULL ORDER BY created_at DESC, rowid DESC LIMIT 1");
	db_bind_text(st, 1, r->params[0]);
	if ((step = db_row(st)) == 1) {
		const char *b = sqlite3_column_blob(st, 0);
		np_len = (size_t)sqlite3_column_bytes(st, 0);
		np_text = xmalloc(np_len + 1);
		if (np_len)
			memcpy(np_text, b, np_len);
		have_np = true;
	}
	sqlite3_reset(st);
	dberr |= step < 0;
	if (dberr) {
		resp_db_error(out, c);
		goto out;
	}

	const double *fkey = NULL;
	if (fscore != NULL) {
		for (size_t i = 0; i < types.n; i++)
			if (strcmp(types.v[i], fscore) == 0)
				fkey = vals[i];
		if (fkey == NULL) {
			resp_error(out, 400, "BAD_REQUEST", "score must be a score type of this run");
			goto out;
		}
	}

	const double *key = NULL;
	const char *selcol = NULL;
	if (sort != NULL && strncmp(sort, "selection:", 10) == 0) {
		selcol = sort + 10;
		if (csv_err) {
			resp_error(out, 422, "DOCKER_RUN_ARTIFACT_UNAVAILABLE", "%s", csv_err);
			goto out;
		}
		if (!have_csv || selcsv_col(&csv, selcol) < 0) {
			resp_error(out, 400, "BAD_REQUEST",
				   "sort: selection:%s is not a column of this run's selection.csv", selcol);
			goto out;
		}
	} else if (sort != NULL && strcmp(sort, "fileName") != 0 && strcmp(sort, "index") != 0) {
		int k = -1;
		for (size_t i = 0; i < types.n; i++)
			if (strcmp(types.v[i], sort) == 0)
				k = (int)i;
		if (k < 0) {
			resp_error(out, 400, "BAD_REQUEST", "sort must be index, fileName or a score type of this run");
			goto out;
		}
		key = vals[k];
	}

	/* Sample names by index, for the candidates only. */
	size_t nbits = bitmask_bits(&rt.cand);
	names.v = xcalloc(nbits ? nbits : 1, sizeof(char *));
	names.n = names.cap = nbits;
	st = db_stmt(c, "SELECT idx, file_name FROM samples WHERE dataset_id = ? AND idx < ? ORDER BY idx");
	db_bind_text(st, 1, dataset);
	sqlite3_bind_int64(st, 2, (int64_t)nbits);
	while ((step = db_row(st)) == 1) {
		int64_t i = sqlite3_column_int64(st, 0);
		if (i >= 0 && (size_t)i < nbits && bitmask_get(&rt.cand, (size_t)i))
			names.v[i] = xstrdup(db_col_text(st, 1));
	}
	sqlite3_reset(st);
	if (step < 0) {
		resp_db_error(out, c);
		goto out;
	}
	req_db_release(r);

	nopred = xcalloc(ncand ? ncand : 1, 1);
	size_t nnopred = have_np ? mark_no_predictions(np_text, np_len, &names, &rt.cand, nopred) : 0;

	/* selection.csv's rows by candidate rank, through the names. */
	if (have_csv) {
		struct name_rank *nr = xcalloc(ncand ? ncand : 1, sizeof(*nr));
		size_t k = 0;
		for (size_t w = 0; w < rt.cand.nwords; w++)
			for (uint64_t bits = rt.cand.w[w]; bits; bits &= bits - 1) {
				size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
				nr[k].name = names.v[i] ? names.v[i] : "";
				nr[k].rank = k;
				k++;
			}
		qsort(nr, ncand, sizeof(*nr), cmp_name_rank);
		selrow = xmalloc((ncand ? ncand : 1) * sizeof(*selrow));
		for (size_t i = 0; i < ncand; i++)
			selrow[i] = -1;
		for (size_t row = 0; row < csv.nrows; row++) {
			struct name_rank want = { csv.names[row], 0 };
			struct name_rank *f = bsearch(&want, nr, ncand, sizeof(*nr), cmp_name_rank);
			if (f == NULL) {
				csv_err = xasprintf("selection.csv: line %zu: \"%.60s\" is not a "
						    "candidate of this run", row + 2, csv.names[row]);
				have_csv = false;
				break;
			}
			selrow[f->rank] = (long)row;
		}
		free(nr);
		if (!have_csv && selcol) {
			resp_error(out, 422, "DOCKER_RUN_ARTIFACT_UNAVAILABLE", "%s", csv_err);
			goto out;
		}
		if (have_csv && selcol) {
			int col = selcsv_col(&csv, selcol);
			selkey = xmalloc((ncand ? ncand : 1) * sizeof(double));
			for (size_t i = 0; i < ncand; i++)
				selkey[i] = selrow[i] < 0 ? NAN :
					    csv.vals[(size_t)selrow[i] * csv.ncols + (size_t)col];
			key = selkey;
		}
	}

	items = xcalloc(ncand ? ncand : 1, sizeof(*items));
	size_t n = 0, rank = 0, nsel = 0;
	for (size_t w = 0; w < rt.cand.nwords; w++) {
		uint64_t bits = rt.cand.w[w];
		while (bits) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			bool s = bitmask_get(&rt.sel, i);
			bool keep = strcmp(sel, "all") == 0 || s == (sel[0] == '1');
			nsel += s;
			if (pred != NULL && strcmp(pred, "none") == 0)
				keep = keep && nopred[rank];
			else if (pred != NULL && strcmp(pred, "some") == 0)
				keep = keep && !nopred[rank];
			if (fkey != NULL)
				keep = keep && fkey[rank] >= fmin && fkey[rank] < fmax;
			if (keep)
				items[n++] = (struct result_item){ i, rank, s, names.v[i] ? names.v[i] : "" };
			rank++;
		}
	}
	sort_ctx.key = key;
	sort_ctx.dir = strcmp(order, "desc") == 0 ? -1 : 1;
	if (key != NULL || (sort && strcmp(sort, "fileName") == 0))
		qsort(items, n, sizeof(*items), cmp_items);
	else if (sort_ctx.dir < 0)
		for (size_t i = 0; i < n / 2; i++) {
			struct result_item tmp = items[i];
			items[i] = items[n - 1 - i];
			items[n - 1 - i] = tmp;
		}

	cJSON *o = cJSON_CreateObject();
	json_add_i64(o, "total", (int64_t)n);
	json_add_i64(o, "candidates", (int64_t)ncand);
	json_add_i64(o, "selectedCount", (int64_t)nsel);
	json_add_str_or_null(o, "candidatesTagId", cand_id[0] ? cand_id : NULL);
	json_add_str_or_null(o, "selectionTagId", sel_id[0] ? sel_id : NULL);
	cJSON *ta = cJSON_AddArrayToObject(o, "scoreTypes");
	for (size_t i = 0; i < types.n; i++)
		cJSON_AddItemToArray(ta, cJSON_CreateString(types.v[i]));
	cJSON *sa = cJSON_AddArrayToObject(o, "selectionColumns");
	for (size_t i = 0; have_csv && i < csv.ncols; i++)
		cJSON_AddItemToArray(sa, cJSON_CreateString(csv.cols[i]));
	json_add_str_or_null(o, "selectionError", csv_err);
	cJSON_AddBoolToObject(o, "predictionsKnown", have_np);
	json_add_i64(o, "noPredictionsCount", (int64_t)nnopred);
	if (npr != NULL && strcmp(npr, "1") == 0) {
		/* The candidates without predictions by rank (the score lists' order). */
		cJSON *ra = cJSON_AddArrayToObject(o, "noPredictionRanks");
		for (size_t i = 0; i < ncand; i++)
			if (nopred[i])
				cJSON_AddItemToArray(ra, cJSON_CreateNumber((double)i));
	}
	cJSON *ia = cJSON_AddArrayToObject(o, "items");
	for (size_t i = (size_t)offset; i < n && i < (size_t)offset + (size_t)limit; i++) {
		cJSON *e = cJSON_CreateObject();
		json_add_i64(e, "index", (int64_t)items[i].index);
		cJSON_AddStringToObject(e, "fileName", items[i].name);
		cJSON_AddBoolToObject(e, "selected", items[i].selected);
		if (have_np)
			cJSON_AddBoolToObject(e, "predictions", !nopred[items[i].rank]);
		cJSON *sc = cJSON_AddObjectToObject(e, "scores");
		for (size_t k = 0; k < types.n; k++)
			cJSON_AddItemToObject(sc, types.v[k], json_exact_number(vals[k][items[i].rank]));
		long row = have_csv ? selrow[items[i].rank] : -1;
		if (row >= 0) {
			cJSON *so = cJSON_AddObjectToObject(e, "selection");
			const double *rv = csv.vals + (size_t)row * csv.ncols;
			/* JSON has no infinity: "inf" and "-inf", as selection.csv writes them. */
			for (size_t k = 0; k < csv.ncols; k++) {
				cJSON *v = isnan(rv[k]) ? cJSON_CreateNull() :
					   isinf(rv[k]) ? cJSON_CreateString(rv[k] > 0 ? "inf" : "-inf") :
					   json_exact_number(rv[k]);
				cJSON_AddItemToObject(so, csv.cols[k], v);
			}
		}
		cJSON_AddItemToArray(ia, e);
	}
	resp_json(out, 200, o);
out:
	for (size_t i = 0; i < types.n; i++)
		free(vals[i]);
	free(vals);
	strvec_free(&types);
	strvec_free(&names);
	free(items);
	free(selkey);
	free(selrow);
	free(csv_err);
	free(np_text);
	free(nopred);
	selcsv_free(&csv);
	run_tags_free(&rt);
}

/* ---- thumbnails ---- */

void h_thumbnail(struct req *r, struct resp *out)
{
	const char *fn = req_query(r, "fileName");

	if (fn == NULL || fn[0] == '\0') {
		resp_error(out, 400, "BAD_REQUEST", "fileName is required");
		return;
	}
	if (!thumb_name_ok(fn)) {
		resp_error(out, 400, "SAMPLE_UNKNOWN", "fileName must be a relative image path without '..'");
		return;
	}
	struct dataset ds;
	if (web_datasource_open(r, out, DS_USE_INPUT, &ds) < 0)
		return;
	uint8_t *jpg = NULL;
	size_t len = 0;
	char err[1024];
	int rc = thumb_get(r->ws->thumbs_dir, r->params[0], &ds, fn, &jpg, &len, err, sizeof(err));
	char dserr[1024];
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL &&
	    dataset_last_error(&ds, dserr, sizeof(dserr))[0] != '\0')
		snprintf(err, sizeof(err), "%s", dserr);
	else if (rc < 0 && rc != -EINVAL)
		snprintf(err, sizeof(err), "%s", strerror(-rc));
	dataset_close(&ds);
	if (rc == -EXDEV) {
		resp_error(out, 403, "FORBIDDEN", "fileName leads outside the dataset's folder");
	} else if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP) {
		resp_error(out, 404, "NOT_FOUND", "no such image in the datasource");
	} else if (rc == -EINVAL) {
		resp_error(out, 422, "SAMPLE_THUMBNAME_UNKNOWN", "%s", err);
	} else if (rc < 0) {
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", err);
	} else {
		free(out->body);
		out->body = (char *)jpg;
		out->len = len;
		out->status = 200;
		out->ctype = "image/jpeg";
	}
}

/*
 * GET /v1/versions/pip/minimum and /latest (no token, as Lightly's client
 * asks): the Lightly client version winnow's wire follows, as a JSON string.
 */
void h_version(struct req *r, struct resp *out)
{
	(void)r;
	resp_json(out, 200, cJSON_CreateString(API_LIGHTLY_VERSION));
}

/*
 * Sharing (SPEC 8): GET /v1/winnow/datasets/{datasetId}/shares answers
 * {ownerId, ownerName, users: [{userId, name, createdAt}]} to anyone who sees
 * the dataset; PUT or POST {"user": NAME} adds the user token NAME, DELETE
 * .../shares/{userName} removes it, both for the owner or an admin only
 * (403 for a user it is shared with). Each answers the list.
 */
static void shares_reply(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT d.user_id, coalesce(t.name, '') FROM datasets d "
				   "LEFT JOIN tokens t ON t.id = d.user_id WHERE d.id = ?");
	cJSON *o = cJSON_CreateObject();

	db_bind_text(st, 1, r->params[0]);
	int rc = db_step(st);
	if (rc == SQLITE_ROW) {
		cJSON_AddStringToObject(o, "ownerId", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "ownerName", db_col_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		cJSON_Delete(o);
		if (rc == SQLITE_DONE)
			resp_error(out, 404, "NOT_FOUND", "no such dataset");
		else
			resp_db_error(out, c);
		return;
	}
	cJSON *a = cJSON_AddArrayToObject(o, "users");
	st = db_stmt(c, "SELECT s.token_id, t.name, s.created_at FROM dataset_shares s "
		     "JOIN tokens t ON t.id = s.token_id WHERE s.dataset_id = ? ORDER BY t.name");
	db_bind_text(st, 1, r->params[0]);
	while ((rc = db_step(st)) == SQLITE_ROW) {
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "userId", db_col_text(st, 0));
		cJSON_AddStringToObject(u, "name", db_col_text(st, 1));
		cJSON_AddNumberToObject(u, "createdAt", (double)sqlite3_column_int64(st, 2));
		cJSON_AddItemToArray(a, u);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(o);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, o);
}

void h_shares_list(struct req *r, struct resp *out)
{
	shares_reply(r, out);
}

/* The owner or an admin (else 403/404 replied)? */
static bool share_allowed(struct req *r, struct resp *out)
{
	int rc = authz_dataset_owner(r, r->params[0]);

	if (rc == 0)
		return true;
	if (rc == -EACCES)
		resp_error(out, 403, "FORBIDDEN", "only the dataset's owner or an admin shares it");
	else
		authz_reply(out, req_db(r), rc);
	return false;
}

/* The user token named name: 0 (id filled), or -1 after replying. */
static int share_user(struct req *r, struct resp *out, const char *name, char id[25])
{
	int rc = strlen(name) > 100 ? -ENOENT : auth_user_id(req_db(r), name, id);

	if (rc == -EIO) {
		resp_db_error(out, req_db(r));
		return -1;
	}
	if (rc < 0) {
		resp_error(out, 404, "USER_NOT_KNOWN", "no user token named %.100s", name);
		return -1;
	}
	return 0;
}

void h_share_add(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *name = NULL;
	struct dbconn *c = req_db(r);
	char id[25];

	if (j == NULL)
		return;
	/* Who may share first: a user it is only shared with learns nothing more from a 400. */
	if (!share_allowed(r, out) || json_str(j, "user", true, &name, out) < 0 ||
	    share_user(r, out, name, id) < 0)
		goto done;
	sqlite3_stmt *st = db_stmt(c, "INSERT OR IGNORE INTO dataset_shares (dataset_id, token_id, "
				   "created_at) SELECT id, ?2, ?3 FROM datasets WHERE id = ?1 "
				   "AND user_id != ?2");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, id);
	sqlite3_bind_int64(st, 3, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		resp_db_error(out, c);
	else
		shares_reply(r, out);
done:
	cJSON_Delete(j);
}

void h_share_delete(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	char id[25];

	if (!share_allowed(r, out) || share_user(r, out, r->params[1], id) < 0)
		return;
	sqlite3_stmt *st = db_stmt(c, "DELETE FROM dataset_shares WHERE dataset_id = ? AND token_id = ?");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, id);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		resp_db_error(out, c);
	else
		shares_reply(r, out);
}
