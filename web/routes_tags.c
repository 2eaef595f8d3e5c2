/*
 * routes_tags: tags users make on the pages (issue 16: the results page's
 * lasso around points of the 2-D embeddings).
 *
 * DESIGN: POST /v1/winnow/datasets/{datasetId}/tags takes file names, not a
 * bit mask: the page knows the points' names, and the server maps them to
 * the dataset's sample indexes itself (a name not of the dataset is a 400
 * naming it, never a silent drop). The tag is an ordinary row of `tags`
 * (creator USER_WEBAPP, no run), so Lightly's GET /v1/datasets/{id}/tags
 * lists it as TagData with nothing added. SPEC 7's tag name pattern, SPEC
 * 8's cap of TAGS_MAX tags a dataset; authz (the dataset visible to the
 * caller) is done by the router on {datasetId}. The body is hostile: bounded
 * by the route's cap, every element checked.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bitmask.h"
#include "db.h"
#include "models.h"
#include "util.h"
#include "workers.h"

void h_winnow_tag_create(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *name = NULL, *prev = NULL;
	struct dbconn *c = req_db(r);
	struct bitmask bm = { 0 };
	char *mask = NULL;
	char id[25];
	int64_t nsamples = 0;
	size_t nset = 0;

	if (j == NULL)
		return;
	if (json_str(j, "name", true, &name, out) < 0 || json_str(j, "prevTagId", false, &prev, out) < 0)
		goto done;
	cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "fileNames");
	if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0) {
		resp_error(out, 400, "BAD_REQUEST", "fileNames: a non-empty list of file names is required");
		goto done;
	}
	if (!api_name_ok(API_NAME_TAG, name)) {
		resp_error(out, 400, "BAD_REQUEST", "name: %s", api_name_rule(API_NAME_TAG));
		goto done;
	}
	if (prev && !id_valid(prev)) {
		resp_error(out, 400, "MALFORMED_REQUEST", "prevTagId must be an id or null");
		goto done;
	}
	int found = dataset_lookup(c, r->params[0]);
	if (found < 0) {
		resp_lookup_error(out, c, found, "NOT_FOUND", "no such dataset");
		goto done;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT count(*) FROM samples WHERE dataset_id = ?");
	db_bind_text(st, 1, r->params[0]);
	found = db_row(st);
	if (found == 1)
		nsamples = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (found < 0)
		goto dberr;
	if (prev != NULL) {
		st = db_stmt(c, "SELECT 1 FROM tags WHERE id = ? AND dataset_id = ?");
		db_bind_text(st, 1, prev);
		db_bind_text(st, 2, r->params[0]);
		found = db_row(st);
		sqlite3_reset(st);
		if (found < 0)
			goto dberr;
		if (found == 0) {
			resp_error(out, 400, "BAD_REQUEST", "prevTagId is not a tag of this dataset");
			goto done;
		}
	}

	/* Each name to its sample index: unknown names and repeats refused. */
	st = db_stmt(c, "SELECT idx FROM samples WHERE dataset_id = ? AND file_name = ?");
	int k = 0;
	for (cJSON *f = files->child; f; f = f->next, k++) {
		if (!cJSON_IsString(f) || f->valuestring[0] == '\0') {
			resp_error(out, 400, "BAD_REQUEST", "fileNames[%d]: not a file name", k);
			goto done;
		}
		db_bind_text(st, 1, r->params[0]);
		db_bind_text(st, 2, f->valuestring);
		found = db_row(st);
		int64_t idx = found == 1 ? sqlite3_column_int64(st, 0) : -1;
		sqlite3_reset(st);
		if (found < 0)
			goto dberr;
		if (idx < 0 || idx >= nsamples) {
			resp_error(out, 400, "BAD_REQUEST", "fileNames[%d]: \"%.200s\" is not a sample of this dataset",
				   k, f->valuestring);
			goto done;
		}
		if (bitmask_get(&bm, (size_t)idx)) {
			resp_error(out, 400, "BAD_REQUEST", "fileNames[%d]: \"%.200s\" is listed twice",
				   k, f->valuestring);
			goto done;
		}
		bitmask_set(&bm, (size_t)idx);
		nset++;
	}
	mask = bitmask_format(&bm);

	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	st = db_stmt(c, "SELECT (SELECT count(*) FROM tags WHERE dataset_id = ?1), "
		     "EXISTS (SELECT 1 FROM tags WHERE dataset_id = ?1 AND name = ?2)");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, name);
	if (db_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		db_rollback(c);
		goto dberr;
	}
	int64_t ntags = sqlite3_column_int64(st, 0);
	bool exists = sqlite3_column_int(st, 1) != 0;
	sqlite3_reset(st);
	if (exists || ntags >= TAGS_MAX) {
		db_rollback(c);
		if (exists)
			resp_error(out, 409, "CONFLICT", "a tag named %s exists in this dataset", name);
		else
			resp_error(out, 409, "DATASET_AT_MAX_CAPACITY", "a dataset has at most %d tags", TAGS_MAX);
		goto done;
	}
	id_new(id);
	st = db_stmt(c, "INSERT INTO tags (id, dataset_id, name, prev_tag_id, bit_mask_data, tot_size, "
		     "creator, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, 'USER_WEBAPP', NULL, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r->params[0]);
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, prev);
	db_bind_text(st, 5, mask);
	sqlite3_bind_int64(st, 6, nsamples);
	sqlite3_bind_int64(st, 7, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK) {
		db_rollback(c);
		goto dberr;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "count", (double)nset);
	resp_json(out, 201, o);
	goto done;
dberr:
	resp_db_error(out, c);
done:
	free(mask);
	bitmask_free(&bm);
	cJSON_Delete(j);
}
