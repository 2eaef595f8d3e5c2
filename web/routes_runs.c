/*
 * routes_runs: winnow's own run lists, the pages' Runs page and a dataset's
 * runs (SPEC 7: winnow's routes live under /v1/winnow/; Lightly's replies
 * are left as they are).
 *
 * DESIGN
 * GET /v1/winnow/schedule (every dataset the caller may see) and
 * GET /v1/winnow/datasets/{datasetId}/schedule list scheduled runs, newest
 * first; GET /v1/winnow/runs lists runs. All three are paged (pageSize,
 * pageOffset) and filtered in SQL, so a page is one query whatever the
 * filters: state= (scheduled states; on /v1/winnow/runs the run states),
 * runState= (the run's state, on the scheduled lists), datasetId=,
 * scheduledId=, q= (text: a substring of the dataset's name, an id, the
 * worker's name, the runsOn labels or the config's text; at most 200
 * bytes, no control characters). A repeated state or runState ORs. Every value is checked:
 * an unknown state, a malformed id or a bad q is 400.
 *
 * Each item is the route's model plus one object, "summary", that tells
 * runs apart: the dataset's name, owner and source folder, the worker's
 * name, the method (2.2-era) or the plan's entries (V4, "INPUT/STRATEGY"),
 * k (kCount or kFraction), the counts of the run's candidates and selected
 * tags, the duration of a finished run, and on the scheduled lists the run
 * itself (winnow's view without its artifacts). The summary is read per item
 * (a page holds at most WINNOW_PAGE_MAX); the stored config is parsed by
 * config_parse, a config that no longer parses gives nulls.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "authz.h"
#include "bitmask.h"
#include "config.h"
#include "db.h"
#include "models.h"
#include "util.h"

#define Q_MAX 200

struct list_arg {
	const char *key;
	const char *const *allowed;
	char *set;		/* ",A,B," or NULL */
	const char *bad;	/* the first value not allowed */
};

static enum MHD_Result list_arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct list_arg *la = cls;

	(void)kind;
	if (strcmp(key, la->key) != 0)
		return MHD_YES;
	if (value == NULL || str_index(la->allowed, value) < 0) {
		if (la->bad == NULL)
			la->bad = value ? value : "";
		return MHD_YES;
	}
	/* a repeat adds nothing (the set stays as short as the list of states) */
	char *item = xasprintf(",%s,", value);
	if (la->set == NULL || strstr(la->set, item) == NULL) {
		char *prev = la->set;
		la->set = xasprintf("%s%s,", prev ? prev : ",", value);
		free(prev);
	}
	free(item);
	return MHD_YES;
}

/* The values of a repeatable enum argument as ",A,B,": 0, or -1 after replying 400. */
static int list_arg(struct req *r, struct resp *out, struct list_arg *la)
{
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, list_arg_cb, la);
	if (la->bad != NULL) {
		free(la->set);
		la->set = NULL;
		resp_error(out, 400, "BAD_REQUEST", "%s must be one of Lightly's states (got \"%.40s\")",
			   la->key, la->bad);
		return -1;
	}
	return 0;
}

static int id_arg(struct req *r, struct resp *out, const char *key, const char **v)
{
	*v = req_query(r, key);
	if (*v != NULL && !id_valid(*v)) {
		resp_error(out, 400, "MALFORMED_REQUEST", "%s must be an id (24 lowercase hex characters)", key);
		return -1;
	}
	return 0;
}

/* q= as a LIKE pattern ("%text%", \ escapes), *like NULL when absent or empty: 0, or -1 after 400. */
static int text_arg(struct req *r, struct resp *out, char **like)
{
	const char *q = req_query(r, "q");

	*like = NULL;
	if (q == NULL || q[0] == '\0')
		return 0;
	size_t n = strlen(q);
	if (n > Q_MAX) {
		resp_error(out, 400, "BAD_REQUEST", "q must be at most %d bytes", Q_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)q[i];
		if (ch < 0x20 || ch == 0x7f) {
			resp_error(out, 400, "BAD_REQUEST", "q must not hold control characters");
			return -1;
		}
	}
	char *p = xmalloc(2 * n + 3), *o = p;
	*o++ = '%';
	for (size_t i = 0; i < n; i++) {
		if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
			*o++ = '\\';
		*o++ = q[i];
	}
	*o++ = '%';
	*o = '\0';
	*like = p;
	return 0;
}

/* Number of set bits of a tag's mask text; -1 when it does not parse. */
static int64_t mask_count(const char *text)
{
	struct bitmask bm = { 0 };

	if (bitmask_parse(text, SIZE_MAX, &bm) < 0)
		return -1;
	int64_t n = (int64_t)bitmask_count(&bm);
	bitmask_free(&bm);
	return n;
}

static void add_count_or_null(cJSON *o, const char *key, int64_t v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, key);
	else
		json_add_i64(o, key, v);
}

/* method or plan, and k, from the stored config (nulls when it does not parse). */
static int summary_config(struct dbconn *c, cJSON *s, const char *config_id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT config FROM configs WHERE id = ?");
	char *text = NULL;

	db_bind_text(st, 1, config_id);
	int rc = db_row(st);
	if (rc == 1)
		text = xstrdup(db_col_text(st, 0));
	sqlite3_reset(st);
	if (rc < 0)
		return -EIO;
	struct run_config cfg;
	struct strvec errs = { 0 };
	bool ok = text != NULL && config_parse(text, strlen(text), &cfg, &errs) == 0;
	free(text);
	strvec_free(&errs);
	if (!ok) {
		cJSON_AddNullToObject(s, "method");
		cJSON_AddNullToObject(s, "plan");
		cJSON_AddNullToObject(s, "kCount");
		cJSON_AddNullToObject(s, "kFraction");
		return 0;
	}
	const struct plan *p = config_plan(&cfg);
	if (cfg.v4) {
		cJSON_AddNullToObject(s, "method");
		cJSON *a = cJSON_AddArrayToObject(s, "plan");
		for (size_t i = 0; i < p->nentries; i++) {
			char *e = xasprintf("%s/%s", plan_input_name(p->entries[i].input),
					    plan_strategy_name(p->entries[i].strategy));
			cJSON_AddItemToArray(a, cJSON_CreateString(e));
			free(e);
		}
	} else {
		cJSON_AddStringToObject(s, "method", method_name(cfg.method));
		cJSON_AddNullToObject(s, "plan");
	}
	if (p->budget == PLAN_BUDGET_COUNT)
		cJSON_AddItemToObject(s, "kCount", json_exact_number(p->budget_value));
	else
		cJSON_AddNullToObject(s, "kCount");
	if (p->budget == PLAN_BUDGET_FRACTION)
		cJSON_AddItemToObject(s, "kFraction", json_exact_number(p->budget_value));
	else
		cJSON_AddNullToObject(s, "kFraction");
	config_free(&cfg);
	return 0;
}

/* The run's candidates and selected counts (its two tags), nulls before it has them. */
static int summary_counts(struct dbconn *c, cJSON *s, const char *run_id)
{
	int64_t cand = -1, sel = -1;
	char cand_id[25] = "";
	int rc = 0;

	if (run_id != NULL) {
		sqlite3_stmt *st = db_stmt(c, "SELECT id, bit_mask_data FROM tags WHERE run_id = ? "
					   "AND prev_tag_id IS NULL ORDER BY created_at LIMIT 1");
		db_bind_text(st, 1, run_id);
		if ((rc = db_row(st)) == 1) {
			snprintf(cand_id, sizeof(cand_id), "%s", db_col_text(st, 0));
			cand = mask_count(db_col_text(st, 1));
		}
		sqlite3_reset(st);
		if (rc >= 0 && cand_id[0]) {
			st = db_stmt(c, "SELECT bit_mask_data FROM tags WHERE run_id = ? AND prev_tag_id = ? "
				     "ORDER BY created_at LIMIT 1");
			db_bind_text(st, 1, run_id);
			db_bind_text(st, 2, cand_id);
			if ((rc = db_row(st)) == 1)
				sel = mask_count(db_col_text(st, 0));
			sqlite3_reset(st);
		}
	}
	add_count_or_null(s, "candidates", cand);
	add_count_or_null(s, "selected", sel);
	return rc < 0 ? -EIO : 0;
}

/* One text column (NULL: "") of a one-row query on one id: 1 found, 0 not, -EIO. */
static int text1(struct dbconn *c, const char *sql, const char *id, char *buf, size_t len)
{
	sqlite3_stmt *st = db_stmt(c, sql);

	buf[0] = '\0';
	db_bind_text(st, 1, id);
	int rc = db_row(st);
	if (rc == 1)
		snprintf(buf, len, "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	return rc < 0 ? -EIO : rc;
}

/*
 * The summary of the item m (a scheduled run's or a run's winnow model);
 * with_run: the run's winnow view (without artifacts) as "run".
 */
static int summary(struct dbconn *c, cJSON *m, bool with_run)
{
	const char *ds = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "datasetId"));
	const char *config_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "configId"));
	const char *sid, *rid;
	char other[25];

	if (with_run) {
		sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "id"));
		if (text1(c, "SELECT id FROM runs WHERE scheduled_id = ?", sid, other, sizeof(other)) < 0)
			return -EIO;
		rid = other[0] ? other : NULL;
	} else {
		rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "id"));
		sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "scheduledId"));
	}
	if (ds == NULL || config_id == NULL || sid == NULL)
		return 0;
	sqlite3_stmt *st = db_stmt(c,
		"SELECT d.name, coalesce(t.name, d.user_id), "
		"(SELECT full_path FROM datasources WHERE dataset_id = d.id ORDER BY purpose = 'LIGHTLY', purpose LIMIT 1), "
		"(SELECT w.name FROM scheduled s JOIN workers w ON w.id = s.worker_id WHERE s.id = ?2) "
		"FROM datasets d LEFT JOIN tokens t ON t.id = d.user_id WHERE d.id = ?1");
	cJSON *s = cJSON_CreateObject();

	db_bind_text(st, 1, ds);
	db_bind_text(st, 2, sid);
	int rc = db_row(st);
	if (rc == 1) {
		cJSON_AddStringToObject(s, "datasetName", db_col_text(st, 0));
		cJSON_AddStringToObject(s, "datasetOwner", db_col_text(st, 1));
		json_add_str_or_null(s, "datasetSource",
				     sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : db_col_text(st, 2));
		json_add_str_or_null(s, "workerName",
				     sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : db_col_text(st, 3));
	}
	sqlite3_reset(st);
	if (rc != 1) {
		cJSON_Delete(s);
		/* gone meanwhile: the item stays without a summary */
		return rc < 0 ? -EIO : 0;
	}
	cJSON *run = NULL;
	if (rid != NULL && model_run_winnow(c, rid, &run) == -EIO)
		goto fail;
	const char *state = run ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "state")) : NULL;
	if (state != NULL && run_state_final(state))
		json_add_i64(s, "durationMs",
			     (int64_t)(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(run, "lastModifiedAt")) -
				       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(run, "createdAt"))));
	else
		cJSON_AddNullToObject(s, "durationMs");
	if (summary_config(c, s, config_id) < 0 || summary_counts(c, s, run ? rid : NULL) < 0)
		goto fail;
	if (with_run) {
		if (run != NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(run, "artifacts");
		cJSON_AddItemToObject(s, "run", run ? run : cJSON_CreateNull());
		run = NULL;
	}
	cJSON_Delete(run);
	cJSON_AddItemToObject(m, "summary", s);
	return 0;
fail:
	cJSON_Delete(run);
	cJSON_Delete(s);
	return -EIO;
}

static void reply_items(struct resp *out, struct dbconn *c, int rc, struct strvec *ids, bool sched)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < ids->n && rc == 0; i++) {
		cJSON *m = NULL;
		int mrc = sched ? model_scheduled_winnow(c, ids->v[i], &m) : model_run_winnow(c, ids->v[i], &m);
		if (mrc == -EIO)
			rc = -EIO;
		if (m == NULL)
			continue;
		cJSON_AddItemToArray(a, m);
		if (rc == 0 && summary(c, m, sched) < 0)
			rc = -EIO;
	}
	strvec_free(ids);
	if (rc < 0) {
		cJSON_Delete(a);
		resp_db_error(out, c);
		return;
	}
	resp_json(out, 200, a);
}

/*
 * Binds the run lists' parameters, numbered alike in both queries: ?1 the
 * dataset, ?2 limit, ?3 offset, ?4 the scheduled run, ?5 and ?6 the state
 * sets (?6 unused by the runs list: NULL), ?8 the text pattern; and the
 * caller's dataset access (authz_bind).
 */
static void list_bind(sqlite3_stmt *st, struct req *r, const char *ds, int64_t limit,
		      int64_t offset, const char *sched, const char *set5, const char *set6,
		      const char *like)
{
	authz_bind(st, r, "all");
	db_bind_text(st, 1, ds);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	db_bind_text(st, 4, sched);
	db_bind_text(st, 5, set5);
	db_bind_text(st, 6, set6);
	db_bind_text(st, 8, like);
}

#define TEXT_MATCH(col) "(" col " LIKE ?8 ESCAPE '\\')"

/* The scheduled runs of dataset (NULL: every dataset the caller sees), filtered and paged. */
static void sched_list(struct req *r, struct resp *out, const char *dataset)
{
	struct dbconn *c = req_db(r);
	struct list_arg st_arg = { "state", scheduled_states, NULL, NULL };
	struct list_arg run_arg = { "runState", run_states, NULL, NULL };
	const char *ds = dataset, *sched = NULL;
	char *like = NULL;
	int64_t limit, offset;
	struct strvec ids = { 0 };

	if (winnow_paging(r, out, &limit, &offset) < 0 || (dataset == NULL && id_arg(r, out, "datasetId", &ds) < 0) ||
	    id_arg(r, out, "scheduledId", &sched) < 0 || text_arg(r, out, &like) < 0)
		return;
	if (list_arg(r, out, &st_arg) < 0 || list_arg(r, out, &run_arg) < 0)
		goto done;
	if (dataset != NULL) {
		int found = dataset_lookup(c, dataset);
		if (found < 0) {
			resp_lookup_error(out, c, found, "NOT_FOUND", "no such dataset");
			goto done;
		}
	}
	sqlite3_stmt *st = db_stmt(c,
		"SELECT s.id FROM scheduled s JOIN datasets d ON d.id = s.dataset_id "
		"LEFT JOIN runs r ON r.scheduled_id = s.id LEFT JOIN workers w ON w.id = s.worker_id "
		"LEFT JOIN configs c ON c.id = s.config_id "
		"WHERE (?1 IS NULL OR s.dataset_id = ?1) AND (?4 IS NULL OR s.id = ?4) "
		"AND (?5 IS NULL OR instr(?5, ',' || s.state || ',') > 0) "
		"AND (?6 IS NULL OR instr(?6, ',' || r.state || ',') > 0) "
		"AND (?8 IS NULL OR " TEXT_MATCH("d.name") " OR " TEXT_MATCH("s.id") " OR " TEXT_MATCH("r.id")
		" OR " TEXT_MATCH("w.name") " OR " TEXT_MATCH("c.config") " OR " TEXT_MATCH("s.dataset_id")
		" OR " TEXT_MATCH("s.runs_on") ") "
		"AND " AUTHZ_DATASETS("s.dataset_id")
		" ORDER BY s.created_at DESC, s.rowid DESC LIMIT ?2 OFFSET ?3");
	list_bind(st, r, ds, limit, offset, sched, st_arg.set, run_arg.set, like);
	reply_items(out, c, db_collect_ids(st, &ids), &ids, true);
done:
	free(st_arg.set);
	free(run_arg.set);
	free(like);
}

/* GET /v1/winnow/datasets/{datasetId}/schedule: a dataset's scheduled runs, every state by default. */
void winnow_schedule_of_dataset(struct req *r, struct resp *out)
{
	sched_list(r, out, r->params[0]);
}

/* GET /v1/winnow/schedule: the scheduled runs of every dataset the caller may see. */
void h_winnow_schedule_all(struct req *r, struct resp *out)
{
	sched_list(r, out, NULL);
}

/* GET /v1/winnow/runs: runs newest first, filtered (datasetId, scheduledId, state, q) and paged. */
void winnow_runs(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	struct list_arg st_arg = { "state", run_states, NULL, NULL };
	const char *ds, *sched;
	char *like = NULL;
	int64_t limit, offset;
	struct strvec ids = { 0 };

	if (winnow_paging(r, out, &limit, &offset) < 0 || id_arg(r, out, "datasetId", &ds) < 0 ||
	    id_arg(r, out, "scheduledId", &sched) < 0 || text_arg(r, out, &like) < 0)
		return;
	if (list_arg(r, out, &st_arg) < 0)
		goto done;
	sqlite3_stmt *st = db_stmt(c,
		"SELECT r.id FROM runs r JOIN datasets d ON d.id = r.dataset_id "
		"LEFT JOIN scheduled s ON s.id = r.scheduled_id LEFT JOIN workers w ON w.id = s.worker_id "
		"LEFT JOIN configs c ON c.id = r.config_id "
		"WHERE (?1 IS NULL OR r.dataset_id = ?1) AND (?4 IS NULL OR r.scheduled_id = ?4) "
		"AND (?5 IS NULL OR instr(?5, ',' || r.state || ',') > 0) "
		"AND (?8 IS NULL OR " TEXT_MATCH("d.name") " OR " TEXT_MATCH("r.scheduled_id") " OR " TEXT_MATCH("r.id")
		" OR " TEXT_MATCH("w.name") " OR " TEXT_MATCH("c.config") " OR " TEXT_MATCH("r.dataset_id")
		" OR " TEXT_MATCH("s.runs_on") ") "
		"AND " AUTHZ_DATASETS("r.dataset_id")
		" ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?2 OFFSET ?3");
	list_bind(st, r, ds, limit, offset, sched, st_arg.set, NULL, like);
	reply_items(out, c, db_collect_ids(st, &ids), &ids, false);
done:
	free(st_arg.set);
	free(like);
}
