/*
 * queue: the daemon's SQLite state (jobs, outbox, meta).
 *
 * DESIGN. One connection, owned by the loop thread, the only writer. WAL with
 * synchronous=FULL: a job or outbox row that was committed survives a power
 * cut, which is what the claim protocol and the outbox rest on. The schema
 * version lives in PRAGMA user_version; each version has one migration, run
 * in its own transaction, so a file of any earlier version opens. Every
 * statement is prepared once in queue_open and finalized in queue_close.
 * Changing the format: add a migration at the end of `migrations` and bump
 * QUEUE_VERSION; never edit an old one. tests/unit/test_queue.c migrates a
 * frozen file of every version (tests/data/migrate/queue-vN.db, each made once
 * by the code of a commit at that version, see its README) and compares the
 * result with a fresh file, so an edited old migration, or a schema change
 * without a new one, fails there. The new version needs its own file, made
 * by tests/tools/mkolddb.sh at a commit where it is current.
 */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "log.h"

static const char *const state_names[JOB_STATE_COUNT] = {
	"claimed", "queued", "running", "reporting", "done", "failed", "aborted",
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_STATE_COUNT ? state_names[s] : "?";
}

int job_state_parse(const char *s)
{
	for (int i = 0; i < JOB_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -EINVAL;
}

void job_clear(struct job *j)
{
	free(j->error);
	free(j->config);
	free(j->datasource);
	free(j->datapool);
	free(j->pool_name);
	free(j->tag_creator);
	free(j->query_tags);
	memset(j, 0, sizeof(*j));
}

void outbox_item_clear(struct outbox_item *it)
{
	free(it->path);
	free(it->body);
	free(it->file);
	memset(it, 0, sizeof(*it));
}

/* Migration i takes a file from version i to i + 1. */
static const char *const migrations[QUEUE_VERSION] = {
	/* 0 -> 1 */
	"CREATE TABLE jobs ("
	"  sched_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, config_id TEXT NOT NULL,"
	"  run_id TEXT, state TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '',"
	"  progress REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	"  deaths INTEGER NOT NULL DEFAULT 0, lease INTEGER NOT NULL DEFAULT 0,"
	"  log_seq INTEGER NOT NULL DEFAULT 0, error TEXT,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  config TEXT, datasource TEXT);"
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, kind TEXT NOT NULL,"
	"  method TEXT NOT NULL, path TEXT NOT NULL, body TEXT, idem_key TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, created_at INTEGER NOT NULL);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	/* 1 -> 2: artifact uploads name a file; the candidates tag id per job. */
	"ALTER TABLE outbox ADD COLUMN file TEXT;"
	"ALTER TABLE jobs ADD COLUMN cand_tag TEXT;"
	"CREATE INDEX outbox_job ON outbox (job, id);",
	/* 2 -> 3: the datapool fetched at the claim (SPEC 4.7), a JSON array of names. */
	"ALTER TABLE jobs ADD COLUMN datapool TEXT;",
	/*
	 * 3 -> 4: what the claim takes from the config, parsed once there: the
	 * datapool's name, the selection tag's creator, the plan's query tags
	 * (SPEC 4.8). Rows of older files get them from the daemon at its start.
	 */
	"ALTER TABLE jobs ADD COLUMN pool_name TEXT;"
	"ALTER TABLE jobs ADD COLUMN tag_creator TEXT;"
	"ALTER TABLE jobs ADD COLUMN query_tags TEXT;",
	/*
	 * 4 -> 5: SPEC 7's wire (no schema change; the queued calls move). A run
	 * state loses winnow's progress (DockerRunUpdateRequest: the progress has
	 * its own route now, and the web app makes a COMPLETED run's 1); log
	 * lines lose winnow's seq (the item's Idempotency-Key replaces it); a run
	 * file queued as an artifact of winnow's types moves to winnow's files
	 * route (kind "file"); sample batches and datapools move under
	 * /v1/winnow/. jobs.log_seq now numbers every item's key.
	 */
	"UPDATE outbox SET body = json_remove(body, '$.progress') WHERE kind = 'state' AND "
	"  json_valid(body) AND json_type(body) = 'object';"
	"UPDATE outbox SET body = (SELECT json_group_array(CASE"
	"    WHEN e.type = 'object' THEN json(json_remove(e.value, '$.seq'))"
	"    WHEN e.type = 'array' THEN json(e.value) ELSE e.value END)"
	"  FROM json_each(outbox.body) e) "
	"  WHERE kind = 'logs' AND json_valid(body) AND json_type(body) = 'array';"
	"UPDATE outbox SET kind = 'file', path = replace(replace(path, '/v1/docker/runs/', "
	"  '/v1/winnow/runs/'), '/artifacts', '/files') WHERE kind = 'artifact' AND "
	"  path LIKE '/v1/docker/runs/%/artifacts' AND json_valid(body) AND "
	"  json_extract(body, '$.type') IN ('SCORES_CSV', 'SELECTION_CSV', 'EMBEDDINGS_2D');"
	"UPDATE outbox SET path = '/v1/winnow' || substr(path, 4) WHERE "
	"  (kind = 'samples' AND path LIKE '/v1/datasets/%/samples/batch') OR "
	"  (kind = 'datapool' AND path LIKE '/v1/datasets/%/datapools/%');",
};

enum stmt {
	S_JOB_INSERT, S_JOB_GET, S_JOB_IDS, S_JOB_COUNT, S_JOB_RUN, S_JOB_SOURCES, S_JOB_PLAN,
	S_JOB_STATE, S_JOB_STAGE, S_JOB_TAG, S_JOB_LEASE, S_JOB_COUNT_UP, S_JOB_SEQ_GET, S_JOB_SEQ_ADD,
	S_JOB_DELETE,
	S_OB_ADD, S_OB_LAST, S_OB_SETBODY, S_OB_NEXT, S_OB_MINDUE, S_OB_DONE, S_OB_RETRY,
	S_OB_COUNT, S_OB_COUNT_ALL, S_OB_DROP_AFTER,
	S_META_GET, S_META_SET,
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_COUNT,
};

static const char *const stmt_sql[S_COUNT] = {
	[S_JOB_INSERT] = "INSERT OR IGNORE INTO jobs (sched_id, dataset_id, config_id, state, "
			 "created_at, updated_at) VALUES (?, ?, ?, 'claimed', ?, ?)",
	[S_JOB_GET] = "SELECT sched_id, dataset_id, config_id, run_id, state, stage, progress, "
		      "attempts, deaths, lease, log_seq, error, created_at, updated_at, config, "
		      "datasource, cand_tag, datapool, pool_name, tag_creator, query_tags "
		      "FROM jobs WHERE sched_id = ?",
	[S_JOB_IDS] = "SELECT sched_id FROM jobs WHERE state = ? ORDER BY created_at, rowid",
	[S_JOB_COUNT] = "SELECT count(*) FROM jobs WHERE state = ?",
	[S_JOB_RUN] = "UPDATE jobs SET run_id = ?, updated_at = ? WHERE sched_id = ?",
	[S_JOB_SOURCES] = "UPDATE jobs SET config = ?, datasource = ?, datapool = ?, state = 'queued', "
			  "updated_at = ? WHERE sched_id = ?",
	[S_JOB_PLAN] = "UPDATE jobs SET pool_name = ?, tag_creator = ?, query_tags = ?, "
		       "updated_at = ? WHERE sched_id = ?",
	[S_JOB_STATE] = "UPDATE jobs SET state = ?, error = coalesce(?, error), updated_at = ? "
			"WHERE sched_id = ?",
	[S_JOB_STAGE] = "UPDATE jobs SET stage = ?, progress = ?, updated_at = ? WHERE sched_id = ?",
	[S_JOB_TAG] = "UPDATE jobs SET cand_tag = ?, updated_at = ? WHERE sched_id = ?",
	[S_JOB_LEASE] = "UPDATE jobs SET lease = ? WHERE sched_id = ?",
	[S_JOB_COUNT_UP] = "UPDATE jobs SET attempts = attempts + ?, deaths = deaths + ?, "
			   "updated_at = ? WHERE sched_id = ?",
	[S_JOB_SEQ_GET] = "SELECT log_seq FROM jobs WHERE sched_id = ?",
	[S_JOB_SEQ_ADD] = "UPDATE jobs SET log_seq = log_seq + ? WHERE sched_id = ?",
	[S_JOB_DELETE] = "DELETE FROM jobs WHERE sched_id = ?",
	[S_OB_ADD] = "INSERT INTO outbox (job, kind, method, path, body, file, idem_key, created_at) "
		     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[S_OB_LAST] = "SELECT id, kind FROM outbox WHERE job = ? ORDER BY id DESC LIMIT 1",
	[S_OB_SETBODY] = "UPDATE outbox SET body = ? WHERE id = ?",
	/* The head of each job's list, when due; the oldest such head first. */
	[S_OB_NEXT] = "SELECT o.id, o.job, o.kind, o.method, o.path, o.body, o.file, o.idem_key, "
		      "o.attempts, o.next_try FROM outbox o "
		      "WHERE o.id = (SELECT min(id) FROM outbox WHERE job = o.job) AND o.next_try <= ? "
		      "ORDER BY o.id LIMIT 1",
	[S_OB_MINDUE] = "SELECT min(o.next_try) FROM outbox o "
			"WHERE o.id = (SELECT min(id) FROM outbox WHERE job = o.job)",
	[S_OB_DONE] = "DELETE FROM outbox WHERE id = ?",
	[S_OB_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ? "
		       "WHERE id = ?",
	[S_OB_COUNT] = "SELECT count(*) FROM outbox WHERE job = ?",
	[S_OB_COUNT_ALL] = "SELECT count(*) FROM outbox",
	[S_OB_DROP_AFTER] = "DELETE FROM outbox WHERE job = ? AND id > ?",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?",
	[S_META_SET] = "INSERT INTO meta (key, value) VALUES (?, ?) "
		       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

struct queue {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
};

int64_t queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_err(struct queue *q, const char *what)
{
	log_warnx("queue: %s: %s", what, sqlite3_errmsg(q->db));
	return -EIO;
}

/* Runs one prepared statement that returns no rows, then resets it. */
static int exec_done(struct queue *q, enum stmt s)
{
	int rc = sqlite3_step(q->st[s]);

	if (sqlite3_reset(q->st[s]) != SQLITE_OK || rc != SQLITE_DONE)
		return db_err(q, stmt_sql[s]);
	return 0;
}

/* Binds text or NULL; a failed bind shows up as a failed step. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		(void)sqlite3_bind_null(st, i);
	else
		(void)sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? xstrdup((const char *)t) : NULL;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int version = 0;
	char *msg = NULL;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "user_version: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	if (sqlite3_finalize(st) != SQLITE_OK) {
		snprintf(err, errlen, "user_version: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (version > QUEUE_VERSION) {
		snprintf(err, errlen, "the database is version %d, newer than this winnowd (%d)",
			 version, QUEUE_VERSION);
		return -EPROTO;
	}
	for (int v = version; v < QUEUE_VERSION; v++) {
		char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
				      migrations[v], v + 1);
		int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
		free(sql);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "migration to version %d: %s", v + 1, msg ? msg : "?");
			sqlite3_free(msg);
			(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		if (version > 0)
			log_info("queue: migrated the database to version %d", v + 1);
	}
	return 0;
}

int queue_open(const char *path, struct queue **out, char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	char *msg = NULL;
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_busy_timeout(q->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(q->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
			 "PRAGMA foreign_keys = ON;", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		goto fail;
	}
	if (migrate(q->db, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "prepare %s: %s", stmt_sql[i], sqlite3_errmsg(q->db));
			goto fail;
		}
	}
	*out = q;
	return 0;
fail:
	queue_close(q);
	return -EIO;
}

void queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	for (int i = 0; i < S_COUNT; i++)
		(void)sqlite3_finalize(q->st[i]);
	if (q->db != NULL && sqlite3_close(q->db) != SQLITE_OK)
		log_warnx("queue: close: %s", sqlite3_errmsg(q->db));
	free(q);
}

int queue_begin(struct queue *q)
{
	return exec_done(q, S_BEGIN);
}

int queue_commit(struct queue *q)
{
	int rc = exec_done(q, S_COMMIT);

	if (rc < 0)
		queue_rollback(q);
	return rc;
}

void queue_rollback(struct queue *q)
{
	if (!sqlite3_get_autocommit(q->db))
		(void)exec_done(q, S_ROLLBACK);
}

int queue_job_insert(struct queue *q, const char *sched, const char *dataset, const char *config)
{
	sqlite3_stmt *st = q->st[S_JOB_INSERT];
	int64_t now = queue_now_ms();

	bind_text(st, 1, sched);
	bind_text(st, 2, dataset);
	bind_text(st, 3, config);
	(void)sqlite3_bind_int64(st, 4, now);
	(void)sqlite3_bind_int64(st, 5, now);
	return exec_done(q, S_JOB_INSERT);
}

int queue_job_get(struct queue *q, const char *sched, struct job *j)
{
	sqlite3_stmt *st = q->st[S_JOB_GET];
	int rc;

	memset(j, 0, sizeof(*j));
	bind_text(st, 1, sched);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_col(j->sched_id, sizeof(j->sched_id), st, 0);
		copy_col(j->dataset_id, sizeof(j->dataset_id), st, 1);
		copy_col(j->config_id, sizeof(j->config_id), st, 2);
		copy_col(j->run_id, sizeof(j->run_id), st, 3);
		int s = job_state_parse((const char *)sqlite3_column_text(st, 4));
		j->state = s < 0 ? JOB_FAILED : (enum job_state)s;
		copy_col(j->stage, sizeof(j->stage), st, 5);
		j->progress = sqlite3_column_double(st, 6);
		j->attempts = sqlite3_column_int(st, 7);
		j->deaths = sqlite3_column_int(st, 8);
		j->lease = sqlite3_column_int64(st, 9);
		j->log_seq = sqlite3_column_int64(st, 10);
		j->error = dup_col(st, 11);
		j->created = sqlite3_column_int64(st, 12);
		j->updated = sqlite3_column_int64(st, 13);
		j->config = dup_col(st, 14);
		j->datasource = dup_col(st, 15);
		copy_col(j->cand_tag, sizeof(j->cand_tag), st, 16);
		j->datapool = dup_col(st, 17);
		j->pool_name = dup_col(st, 18);
		j->tag_creator = dup_col(st, 19);
		j->query_tags = dup_col(st, 20);
	}
	if (sqlite3_reset(st) != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
		job_clear(j);
		return db_err(q, "job get");
	}
	return rc == SQLITE_ROW ? 0 : -ENOENT;
}

int queue_job_ids(struct queue *q, enum job_state s, struct strvec *ids)
{
	sqlite3_stmt *st = q->st[S_JOB_IDS];
	int rc;

	bind_text(st, 1, job_state_name(s));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strvec_push(ids, (const char *)sqlite3_column_text(st, 0));
	if (sqlite3_reset(st) != SQLITE_OK || rc != SQLITE_DONE)
		return db_err(q, "job ids");
	return 0;
}

static int count_stmt(struct queue *q, enum stmt s, const char *arg)
{
	sqlite3_stmt *st = q->st[s];
	int n = 0, rc;

	if (arg != NULL)
		bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	if (sqlite3_reset(st) != SQLITE_OK || rc != SQLITE_ROW)
		return db_err(q, stmt_sql[s]);
	return n;
}

int queue_job_count(struct queue *q, enum job_state s)
{
	return count_stmt(q, S_JOB_COUNT, job_state_name(s));
}

/* Runs an UPDATE keyed by sched_id (the last parameter); -ENOENT when no row. */
static int update_job(struct queue *q, enum stmt s, int last, const char *sched)
{
	bind_text(q->st[s], last, sched);
	int rc = exec_done(q, s);
	if (rc < 0)
		return rc;
	return sqlite3_changes(q->db) > 0 ? 0 : -ENOENT;
}

int queue_job_set_run(struct queue *q, const char *sched, const char *run_id)
{
	bind_text(q->st[S_JOB_RUN], 1, run_id);
	(void)sqlite3_bind_int64(q->st[S_JOB_RUN], 2, queue_now_ms());
	return update_job(q, S_JOB_RUN, 3, sched);
}

int queue_job_set_sources(struct queue *q, const char *sched, const char *config,
			  const char *datasource, const char *datapool)
{
	sqlite3_stmt *st = q->st[S_JOB_SOURCES];

	bind_text(st, 1, config);
	bind_text(st, 2, datasource);
	bind_text(st, 3, datapool);
	(void)sqlite3_bind_int64(st, 4, queue_now_ms());
	return update_job(q, S_JOB_SOURCES, 5, sched);
}

int queue_job_set_plan(struct queue *q, const char *sched, const char *pool_name,
		       const char *tag_creator, const char *query_tags)
{
	sqlite3_stmt *st = q->st[S_JOB_PLAN];

	bind_text(st, 1, pool_name);
	bind_text(st, 2, tag_creator);
	bind_text(st, 3, query_tags);
	(void)sqlite3_bind_int64(st, 4, queue_now_ms());
	return update_job(q, S_JOB_PLAN, 5, sched);
}

int queue_job_set_state(struct queue *q, const char *sched, enum job_state s, const char *error)
{
	sqlite3_stmt *st = q->st[S_JOB_STATE];

	bind_text(st, 1, job_state_name(s));
	bind_text(st, 2, error);
	(void)sqlite3_bind_int64(st, 3, queue_now_ms());
	return update_job(q, S_JOB_STATE, 4, sched);
}

int queue_job_set_stage(struct queue *q, const char *sched, const char *stage, double progress)
{
	sqlite3_stmt *st = q->st[S_JOB_STAGE];

	bind_text(st, 1, stage);
	(void)sqlite3_bind_double(st, 2, progress);
	(void)sqlite3_bind_int64(st, 3, queue_now_ms());
	return update_job(q, S_JOB_STAGE, 4, sched);
}

int queue_job_set_tag(struct queue *q, const char *sched, const char *cand_tag)
{
	bind_text(q->st[S_JOB_TAG], 1, cand_tag);
	(void)sqlite3_bind_int64(q->st[S_JOB_TAG], 2, queue_now_ms());
	return update_job(q, S_JOB_TAG, 3, sched);
}

int queue_job_set_lease(struct queue *q, const char *sched, int64_t lease)
{
	(void)sqlite3_bind_int64(q->st[S_JOB_LEASE], 1, lease);
	return update_job(q, S_JOB_LEASE, 2, sched);
}

int queue_job_count_up(struct queue *q, const char *sched, int da, int dd)
{
	sqlite3_stmt *st = q->st[S_JOB_COUNT_UP];

	(void)sqlite3_bind_int(st, 1, da);
	(void)sqlite3_bind_int(st, 2, dd);
	(void)sqlite3_bind_int64(st, 3, queue_now_ms());
	return update_job(q, S_JOB_COUNT_UP, 4, sched);
}

int queue_job_take_seq(struct queue *q, const char *sched, int n, int64_t *first)
{
	sqlite3_stmt *st = q->st[S_JOB_SEQ_GET];
	int rc;

	bind_text(st, 1, sched);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*first = sqlite3_column_int64(st, 0);
	if (sqlite3_reset(st) != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE))
		return db_err(q, "job seq");
	if (rc != SQLITE_ROW)
		return -ENOENT;
	(void)sqlite3_bind_int(q->st[S_JOB_SEQ_ADD], 1, n);
	return update_job(q, S_JOB_SEQ_ADD, 2, sched);
}

int queue_job_delete(struct queue *q, const char *sched)
{
	return update_job(q, S_JOB_DELETE, 1, sched);
}

int queue_outbox_add(struct queue *q, const char *job, const char *kind, const char *method,
		     const char *path, const char *body, const char *file)
{
	sqlite3_stmt *st = q->st[S_OB_ADD];
	int64_t now = queue_now_ms(), seq;
	char *key;

	/*
	 * The Idempotency-Key of SPEC 7, "<job id>:<seq>": seq from the job's
	 * own counter, so a retry sends the key of its first attempt and no two
	 * calls of a job share one. An item of no job row (none is made so)
	 * takes the time instead.
	 */
	if (queue_job_take_seq(q, job, 1, &seq) == 0)
		key = xasprintf("%s:%lld", job, (long long)seq);
	else
		key = xasprintf("%s:t%lld", job, (long long)now);
	bind_text(st, 1, job);
	bind_text(st, 2, kind);
	bind_text(st, 3, method);
	bind_text(st, 4, path);
	bind_text(st, 5, body);
	bind_text(st, 6, file);
	bind_text(st, 7, key);
	(void)sqlite3_bind_int64(st, 8, now);
	free(key);
	return exec_done(q, S_OB_ADD);
}

int queue_outbox_coalesce(struct queue *q, const char *job, const char *kind, const char *body,
			  int64_t exclude_id)
{
	sqlite3_stmt *st = q->st[S_OB_LAST];
	int64_t id = -1;
	int rc;

	bind_text(st, 1, job);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 1), kind) == 0)
		id = sqlite3_column_int64(st, 0);
	if (sqlite3_reset(st) != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE))
		return db_err(q, "outbox last");
	if (id < 0 || id == exclude_id)
		return 0;
	bind_text(q->st[S_OB_SETBODY], 1, body);
	(void)sqlite3_bind_int64(q->st[S_OB_SETBODY], 2, id);
	rc = exec_done(q, S_OB_SETBODY);
	return rc < 0 ? rc : 1;
}

int queue_outbox_next(struct queue *q, int64_t now_ms, struct outbox_item *it, int64_t *next_due)
{
	sqlite3_stmt *st = q->st[S_OB_NEXT];
	int rc;

	memset(it, 0, sizeof(*it));
	*next_due = -1;
	(void)sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		it->id = sqlite3_column_int64(st, 0);
		copy_col(it->job, sizeof(it->job), st, 1);
		copy_col(it->kind, sizeof(it->kind), st, 2);
		copy_col(it->method, sizeof(it->method), st, 3);
		it->path = dup_col(st, 4);
		it->body = dup_col(st, 5);
		it->file = dup_col(st, 6);
		copy_col(it->idem_key, sizeof(it->idem_key), st, 7);
		it->attempts = sqlite3_column_int(st, 8);
		it->next_try = sqlite3_column_int64(st, 9);
	}
	if (sqlite3_reset(st) != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
		outbox_item_clear(it);
		return db_err(q, "outbox next");
	}
	if (rc == SQLITE_ROW)
		return 1;
	st = q->st[S_OB_MINDUE];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*next_due = sqlite3_column_int64(st, 0);
	if (sqlite3_reset(st) != SQLITE_OK || rc != SQLITE_ROW)
		return db_err(q, "outbox due");
	return 0;
}

int queue_outbox_done(struct queue *q, int64_t id)
{
	(void)sqlite3_bind_int64(q->st[S_OB_DONE], 1, id);
	return exec_done(q, S_OB_DONE);
}

int queue_outbox_retry(struct queue *q, int64_t id, int64_t next_try, const char *error)
{
	sqlite3_stmt *st = q->st[S_OB_RETRY];

	(void)sqlite3_bind_int64(st, 1, next_try);
	bind_text(st, 2, error);
	(void)sqlite3_bind_int64(st, 3, id);
	return exec_done(q, S_OB_RETRY);
}

int queue_outbox_count(struct queue *q, const char *job)
{
	return job ? count_stmt(q, S_OB_COUNT, job) : count_stmt(q, S_OB_COUNT_ALL, NULL);
}

int queue_outbox_drop_after(struct queue *q, const char *job, int64_t id)
{
	sqlite3_stmt *st = q->st[S_OB_DROP_AFTER];

	bind_text(st, 1, job);
	(void)sqlite3_bind_int64(st, 2, id);
	return exec_done(q, S_OB_DROP_AFTER);
}

int queue_meta_get(struct queue *q, const char *key, char *val, size_t len)
{
	sqlite3_stmt *st = q->st[S_META_GET];
	int rc;

	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		copy_col(val, len, st, 0);
	if (sqlite3_reset(st) != SQLITE_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE))
		return db_err(q, "meta get");
	return rc == SQLITE_ROW ? 0 : -ENOENT;
}

int queue_meta_set(struct queue *q, const char *key, const char *val)
{
	bind_text(q->st[S_META_SET], 1, key);
	bind_text(q->st[S_META_SET], 2, val);
	return exec_done(q, S_META_SET);
}
