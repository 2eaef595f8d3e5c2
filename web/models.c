/*
 * models: one function per reply model, so that every route answering a
 * worker, a run or a tag gives the same fields. Field names and enum values
 * are Lightly's (SPEC 7).
 */
#include "models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "util.h"

const char *const worker_states[] = { "OFFLINE", "CRASHED", "IDLE", "BUSY", NULL };
const char *const run_states[] = {
	"STARTED", "LOADING_DATASET", "CHECKING_CORRUPTNESS", "EMBEDDING",
	"COMPUTING_ACTIVE_LEARNING_SCORES", "SAMPLING", "SAVING_RESULTS", "UPLOADING_ARTIFACTS",
	"COMPLETED", "FAILED", "CRASHED", "ABORTED", NULL,
};
const char *const scheduled_states[] = { "OPEN", "LOCKED", "DONE", "CANCELED", NULL };
const char *const priorities[] = { "LOW", "MID", "HIGH", "CRITICAL", NULL };
const char *const tag_creators[] = {
	"USER_WORKER", "SAMPLER_CORESET", "SAMPLER_CORAL", "SAMPLER_RANDOM",
	"SAMPLER_ACTIVE_LEARNING", "UNKNOWN", "USER_PIP", "USER_WEBAPP", NULL,
};
const char *const artifact_types[] = {
	"LOG", "REPORT_JSON", "CORRUPTNESS_CHECK_INFORMATION", "SCORES_CSV", "SELECTION_CSV",
	"EMBEDDINGS_2D", "NO_PREDICTIONS", NULL,
};
const char *const log_levels[] = { "DEBUG", "INFO", "WARNING", "ERROR", NULL };

int worker_timeout_seconds = 60;

bool run_state_final(const char *s)
{
	return strcmp(s, "COMPLETED") == 0 || strcmp(s, "FAILED") == 0 ||
	       strcmp(s, "CRASHED") == 0 || strcmp(s, "ABORTED") == 0;
}

void json_add_i64(cJSON *o, const char *key, int64_t v)
{
	cJSON_AddNumberToObject(o, key, (double)v);
}

cJSON *json_exact_number(double v)
{
	char buf[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	/* The shortest of %.15g, %.16g, %.17g that reads back exactly. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(buf);
}

void json_add_str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s == NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, s);
}

static const char *col_or_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : db_col_text(st, i);
}

/* A JSON array text from the database, or an empty array when it does not parse. */
static cJSON *json_col(sqlite3_stmt *st, int i)
{
	cJSON *j = cJSON_Parse(db_col_text(st, i));

	return j ? j : cJSON_CreateArray();
}

static int worker_model(struct dbconn *c, const char *id, bool winnow, cJSON **out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, user_id, name, worker_type, state, labels, "
				   "created_at, last_modified_at, last_seen_at FROM workers WHERE id = ?");
	cJSON *o = NULL;
	int found;

	db_bind_text(st, 1, id);
	if ((found = db_row(st)) == 1) {
		o = cJSON_CreateObject();
		const char *state = db_col_text(st, 4);
		int64_t seen = sqlite3_column_int64(st, 8);
		/* The periodic sweep writes OFFLINE; between sweeps the reply already says so. */
		if (db_now_ms() - seen > (int64_t)worker_timeout_seconds * 1000)
			state = "OFFLINE";
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "userId", db_col_text(st, 1));
		cJSON_AddStringToObject(o, "name", db_col_text(st, 2));
		cJSON_AddStringToObject(o, "workerType", db_col_text(st, 3));
		cJSON_AddStringToObject(o, "state", state);
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 6));
		json_add_i64(o, "lastModifiedAt", sqlite3_column_int64(st, 7));
		if (winnow)
			json_add_i64(o, "lastSeenAt", seen);
		cJSON_AddItemToObject(o, "labels", json_col(st, 5));
	}
	sqlite3_reset(st);
	*out = o;
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

int model_worker(struct dbconn *c, const char *id, cJSON **out)
{
	return worker_model(c, id, false, out);
}

int model_worker_winnow(struct dbconn *c, const char *id, cJSON **out)
{
	return worker_model(c, id, true, out);
}

/*
 * DockerRunScheduledData; winnow's view (winnow) adds who holds it (workerId)
 * and the run it reschedules (originScheduledId).
 */
static int scheduled_model(struct dbconn *c, const char *id, bool winnow, cJSON **out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, dataset_id, config_id, priority, runs_on, state, "
				   "worker_id, origin_scheduled_id, created_at, last_modified_at, user_id "
				   "FROM scheduled WHERE id = ?");
	cJSON *o = NULL;
	int found;

	db_bind_text(st, 1, id);
	if ((found = db_row(st)) == 1) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "datasetId", db_col_text(st, 1));
		cJSON_AddStringToObject(o, "configId", db_col_text(st, 2));
		cJSON_AddStringToObject(o, "priority", db_col_text(st, 3));
		cJSON_AddItemToObject(o, "runsOn", json_col(st, 4));
		cJSON_AddStringToObject(o, "state", db_col_text(st, 5));
		if (winnow) {
			json_add_str_or_null(o, "workerId", col_or_null(st, 6));
			json_add_str_or_null(o, "originScheduledId", col_or_null(st, 7));
		}
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 8));
		json_add_i64(o, "lastModifiedAt", sqlite3_column_int64(st, 9));
		cJSON_AddStringToObject(o, "userId", db_col_text(st, 10));
	}
	sqlite3_reset(st);
	*out = o;
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

int model_scheduled(struct dbconn *c, const char *id, cJSON **out)
{
	return scheduled_model(c, id, false, out);
}

int model_scheduled_winnow(struct dbconn *c, const char *id, cJSON **out)
{
	return scheduled_model(c, id, true, out);
}

bool artifact_type_lightly(const char *type)
{
	return api_enum_value(API_E_ARTIFACT_TYPE, type) >= 0;
}

/*
 * DockerRunData. Lightly's view lists the artifacts of Lightly's types that
 * were uploaded (what its client can download through a read URL), as
 * DockerRunArtifactData; winnow's view (winnow) adds progress and the abort
 * flag, and lists every artifact and run file with its size and whether it
 * was uploaded.
 */
static int run_model(struct dbconn *c, const char *id, bool winnow, cJSON **out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, user_id, docker_version, state, created_at, "
				   "last_modified_at, dataset_id, config_id, scheduled_id, message, "
				   "progress, abort_requested FROM runs WHERE id = ?");
	cJSON *o = NULL;
	int found;

	db_bind_text(st, 1, id);
	if ((found = db_row(st)) == 1) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "userId", db_col_text(st, 1));
		cJSON_AddStringToObject(o, "dockerVersion", db_col_text(st, 2));
		cJSON_AddStringToObject(o, "state", db_col_text(st, 3));
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 4));
		json_add_i64(o, "lastModifiedAt", sqlite3_column_int64(st, 5));
		cJSON_AddStringToObject(o, "datasetId", db_col_text(st, 6));
		cJSON_AddStringToObject(o, "configId", db_col_text(st, 7));
		cJSON_AddStringToObject(o, "scheduledId", db_col_text(st, 8));
		cJSON_AddStringToObject(o, "message", db_col_text(st, 9));
		if (winnow) {
			cJSON_AddNumberToObject(o, "progress", sqlite3_column_double(st, 10));
			cJSON_AddBoolToObject(o, "abortRequested", sqlite3_column_int(st, 11) != 0);
		}
	}
	sqlite3_reset(st);
	*out = NULL;
	if (o == NULL)
		return found == 0 ? -ENOENT : -EIO;
	cJSON *arts = cJSON_AddArrayToObject(o, "artifacts");
	st = db_stmt(c, "SELECT id, file_name, type, uploaded_at IS NOT NULL, length(content), created_at "
		     "FROM artifacts WHERE run_id = ? ORDER BY created_at, file_name");
	db_bind_text(st, 1, id);
	while ((found = db_row(st)) == 1) {
		bool uploaded = sqlite3_column_int(st, 3) != 0;
		const char *type = db_col_text(st, 2);
		if (!winnow && (!uploaded || !artifact_type_lightly(type)))
			continue;
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(a, "fileName", db_col_text(st, 1));
		cJSON_AddStringToObject(a, "type", type);
		json_add_i64(a, "createdAt", sqlite3_column_int64(st, 5));
		if (winnow) {
			cJSON_AddBoolToObject(a, "uploaded", uploaded);
			json_add_i64(a, "size", sqlite3_column_int64(st, 4));
		}
		cJSON_AddItemToArray(arts, a);
	}
	sqlite3_reset(st);
	if (found < 0) {
		cJSON_Delete(o);
		return -EIO;
	}
	*out = o;
	return 0;
}

int model_run(struct dbconn *c, const char *id, cJSON **out)
{
	return run_model(c, id, false, out);
}

int model_run_winnow(struct dbconn *c, const char *id, cJSON **out)
{
	return run_model(c, id, true, out);
}

static int tag_model(struct dbconn *c, const char *id, bool winnow, cJSON **out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, dataset_id, prev_tag_id, name, bit_mask_data, "
				   "tot_size, created_at, creator, run_id FROM tags WHERE id = ?");
	cJSON *o = NULL;
	int found;

	db_bind_text(st, 1, id);
	if ((found = db_row(st)) == 1) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "datasetId", db_col_text(st, 1));
		json_add_str_or_null(o, "prevTagId", col_or_null(st, 2));
		cJSON_AddStringToObject(o, "name", db_col_text(st, 3));
		cJSON_AddStringToObject(o, "bitMaskData", db_col_text(st, 4));
		json_add_i64(o, "totSize", sqlite3_column_int64(st, 5));
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 6));
		if (winnow)
			cJSON_AddStringToObject(o, "creator", db_col_text(st, 7));
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			cJSON_AddStringToObject(o, "runId", db_col_text(st, 8));
	}
	sqlite3_reset(st);
	*out = o;
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

int model_tag(struct dbconn *c, const char *id, cJSON **out)
{
	return tag_model(c, id, false, out);
}

int model_tag_winnow(struct dbconn *c, const char *id, cJSON **out)
{
	return tag_model(c, id, true, out);
}

int model_dataset(struct dbconn *c, const char *id, cJSON **out)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT d.id, d.name, d.user_id, d.created_at, d.last_modified_at, "
				   "(SELECT count(*) FROM samples s WHERE s.dataset_id = d.id) "
				   "FROM datasets d WHERE d.id = ?");
	cJSON *o = NULL;
	int found;

	db_bind_text(st, 1, id);
	if ((found = db_row(st)) == 1) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", db_col_text(st, 0));
		cJSON_AddStringToObject(o, "name", db_col_text(st, 1));
		cJSON_AddStringToObject(o, "userId", db_col_text(st, 2));
		cJSON_AddStringToObject(o, "type", "Images");
		json_add_i64(o, "nSamples", sqlite3_column_int64(st, 5));
		/* winnow does not keep file sizes; Lightly's model requires the field. */
		json_add_i64(o, "sizeInBytes", 0);
		json_add_i64(o, "createdAt", sqlite3_column_int64(st, 3));
		json_add_i64(o, "lastModifiedAt", sqlite3_column_int64(st, 4));
	}
	sqlite3_reset(st);
	*out = o;
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

int dataset_lookup(struct dbconn *c, const char *id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM datasets WHERE id = ?");

	db_bind_text(st, 1, id);
	int found = db_row(st);
	sqlite3_reset(st);
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}
