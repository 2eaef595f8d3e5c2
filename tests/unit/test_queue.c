/*
 * Unit tests of daemon/queue.c: job states and counters, the claim steps'
 * writes, outbox order (per job, by age, backoff, coalesced run states),
 * meta, and the migrations from the frozen old-version files of
 * tests/data/migrate (one per version, made by the old code). The queue is compiled in
 * from its source: it lives in winnowd, not in libwinnow.a.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/queue.c"

/* The newest version with a frozen file in tests/data/migrate. */
#define FROZEN_LAST 4

static char *tmp_db(void)
{
	char tmpl[] = "/tmp/test_queue_XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	return xasprintf("%s/q.db", dir);
}

static struct queue *open_new(char **path)
{
	struct queue *q = NULL;
	char err[256];

	*path = tmp_db();
	assert_int_equal(queue_open(*path, &q, err, sizeof(err)), 0);
	return q;
}

static void test_job_states(void **state)
{
	char *path;
	struct queue *q = open_new(&path);
	struct job j;
	int64_t seq;
	struct strvec ids = { 0 };

	(void)state;
	assert_int_equal(queue_job_insert(q, "s1", "d1", "c1"), 0);
	/* The intent row is written once: a second insert (a repeated poll) changes nothing. */
	assert_int_equal(queue_job_insert(q, "s1", "dX", "cX"), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_int_equal(j.state, JOB_CLAIMED);
	assert_string_equal(j.dataset_id, "d1");
	assert_string_equal(j.run_id, "");
	job_clear(&j);
	assert_int_equal(queue_job_set_run(q, "s1", "r1"), 0);
	assert_int_equal(queue_job_set_sources(q, "s1", "{\"docker\":{}}", "{\"type\":\"LOCAL\"}", NULL), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_string_equal(j.run_id, "r1");
	assert_string_equal(j.config, "{\"docker\":{}}");
	assert_null(j.datapool);
	job_clear(&j);
	assert_int_equal(queue_job_set_sources(q, "s1", "{\"docker\":{}}", "{\"type\":\"LOCAL\"}",
						"[\"a.jpg\"]"), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_string_equal(j.datapool, "[\"a.jpg\"]");
	/* Nothing taken from the config yet. */
	assert_null(j.pool_name);
	assert_null(j.tag_creator);
	assert_null(j.query_tags);
	job_clear(&j);
	assert_int_equal(queue_job_set_plan(q, "s1", "pool-1", "SAMPLER_CORAL",
					    "{\"q\":[\"a.jpg\"]}"), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_string_equal(j.pool_name, "pool-1");
	assert_string_equal(j.tag_creator, "SAMPLER_CORAL");
	assert_string_equal(j.query_tags, "{\"q\":[\"a.jpg\"]}");
	/* The sources stay as they were. */
	assert_string_equal(j.datapool, "[\"a.jpg\"]");
	assert_int_equal(j.state, JOB_QUEUED);
	job_clear(&j);
	assert_int_equal(queue_job_set_plan(q, "s1", NULL, "USER_WORKER", NULL), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_null(j.pool_name);
	assert_string_equal(j.tag_creator, "USER_WORKER");
	assert_null(j.query_tags);
	job_clear(&j);
	assert_int_equal(queue_job_set_plan(q, "nope", NULL, "USER_WORKER", NULL), -ENOENT);
	assert_int_equal(queue_job_count_up(q, "s1", 1, 2), 0);
	assert_int_equal(queue_job_set_state(q, "s1", JOB_RUNNING, "oops"), 0);
	assert_int_equal(queue_job_take_seq(q, "s1", 5, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(queue_job_take_seq(q, "s1", 3, &seq), 0);
	assert_int_equal(seq, 5);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.deaths, 2);
	assert_int_equal(j.log_seq, 8);
	assert_string_equal(j.error, "oops");
	job_clear(&j);
	assert_int_equal(queue_job_count(q, JOB_RUNNING), 1);
	assert_int_equal(queue_job_ids(q, JOB_RUNNING, &ids), 0);
	assert_int_equal(ids.n, 1);
	strvec_free(&ids);
	assert_int_equal(queue_job_set_state(q, "nope", JOB_DONE, NULL), -ENOENT);
	assert_int_equal(queue_job_get(q, "nope", &j), -ENOENT);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		assert_int_equal(job_state_parse(job_state_name((enum job_state)s)), s);
	assert_int_equal(job_state_parse("bogus"), -EINVAL);
	/* A rolled-back transaction leaves nothing behind. */
	assert_int_equal(queue_begin(q), 0);
	assert_int_equal(queue_job_delete(q, "s1"), 0);
	queue_rollback(q);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	job_clear(&j);
	queue_close(q);
	free(path);
}

static void test_outbox_order(void **state)
{
	char *path;
	struct queue *q = open_new(&path);
	struct outbox_item it;
	int64_t due, now = queue_now_ms();

	(void)state;
	assert_int_equal(queue_outbox_add(q, "a", "state", "PUT", "/a1", "{1}", NULL), 0);
	assert_int_equal(queue_outbox_add(q, "b", "samples", "POST", "/b1", "[]", NULL), 0);
	assert_int_equal(queue_outbox_add(q, "a", "logs", "PUT", "/a2", "[]", NULL), 0);
	assert_int_equal(queue_outbox_add(q, "a", "artifact", "POST", "/a3", "{}", "/f"), 0);
	assert_int_equal(queue_outbox_count(q, NULL), 4);
	assert_int_equal(queue_outbox_count(q, "a"), 3);

	/* Oldest first. */
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
	assert_string_equal(it.path, "/a1");
	int64_t a1 = it.id;
	/* a1 backs off: job a waits behind it, job b goes. */
	assert_int_equal(queue_outbox_retry(q, a1, now + 60000, "HTTP 503"), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
	assert_string_equal(it.path, "/b1");
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 0);
	assert_int_equal(due, now + 60000);
	/* Due again: a1, with its attempt counted, then a2, then a3 with its file. */
	assert_int_equal(queue_outbox_next(q, now + 60000, &it, &due), 1);
	assert_int_equal(it.id, a1);
	assert_int_equal(it.attempts, 1);
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now + 60000, &it, &due), 1);
	assert_string_equal(it.path, "/a2");
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now + 60000, &it, &due), 1);
	assert_string_equal(it.path, "/a3");
	assert_string_equal(it.file, "/f");
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 0);
	assert_int_equal(due, -1);
	queue_close(q);
	free(path);
}

static void test_outbox_coalesce(void **state)
{
	char *path;
	struct queue *q = open_new(&path);
	struct outbox_item it;
	int64_t due;

	(void)state;
	/* Nothing to coalesce with: the caller adds an item. */
	assert_int_equal(queue_outbox_coalesce(q, "a", "state", "{s1}", 0), 0);
	assert_int_equal(queue_outbox_add(q, "a", "state", "PUT", "/r", "{s1}", NULL), 0);
	assert_int_equal(queue_outbox_coalesce(q, "a", "state", "{s2}", 0), 1);
	assert_int_equal(queue_outbox_count(q, "a"), 1);
	assert_int_equal(queue_outbox_next(q, queue_now_ms(), &it, &due), 1);
	assert_string_equal(it.body, "{s2}");
	/* The item in flight is never rewritten: its answer would delete the newer state. */
	assert_int_equal(queue_outbox_coalesce(q, "a", "state", "{s3}", it.id), 0);
	outbox_item_clear(&it);
	/* A state behind a log line is not merged with an older one (order matters). */
	assert_int_equal(queue_outbox_add(q, "a", "logs", "PUT", "/l", "[]", NULL), 0);
	assert_int_equal(queue_outbox_coalesce(q, "a", "state", "{s4}", 0), 0);
	queue_close(q);
	free(path);
}

static void test_meta_and_reopen(void **state)
{
	char *path;
	struct queue *q = open_new(&path);
	char v[64], err[256];

	(void)state;
	assert_int_equal(queue_meta_get(q, "worker_id", v, sizeof(v)), -ENOENT);
	assert_int_equal(queue_meta_set(q, "worker_id", "w1"), 0);
	assert_int_equal(queue_meta_set(q, "worker_id", "w2"), 0);
	assert_int_equal(queue_job_insert(q, "s1", "d", "c"), 0);
	queue_close(q);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_meta_get(q, "worker_id", v, sizeof(v)), 0);
	assert_string_equal(v, "w2");
	assert_int_equal(queue_job_count(q, JOB_CLAIMED), 1);
	queue_close(q);
	free(path);
}

/* ---- migrations, from the frozen files of tests/data/migrate ------------
 *
 * Each queue-vN.db there was written once by the winnowd code of a commit at
 * version N (tests/data/migrate/README.md), never by this tree's SQL, so an
 * in-place edit of an old migration shows as a schema that differs from a
 * fresh file's. The rows are the same in every version's file
 * (tests/tools/mkolddb_queue.c); what a version lacks reads as NULL or "".
 */

/* A copy of tests/data/migrate/NAME in a fresh temp dir; the caller frees. */
static char *frozen_copy(const char *name)
{
	const char *root = getenv("WINNOW_ROOT");
	char *src = xasprintf("%s/tests/data/migrate/%s", root ? root : ".", name);
	char *dst = tmp_db(), *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (read_file(src, 1 << 24, &buf, &len) < 0)
		fail_msg("cannot read %s (run from the source tree or set WINNOW_ROOT)", src);
	f = fopen(dst, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(buf);
	free(src);
	return dst;
}

static int user_version_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/*
 * sqlite_master of the file at path, one "type name sql" line per object in
 * name order, runs of white space in the SQL made one space. The caller frees.
 */
static char *schema_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t cap = 4096, n = 0;
	char *out = xcalloc(1, cap);

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name, sql FROM sqlite_master WHERE sql "
					    "IS NOT NULL ORDER BY type, name", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *line = xasprintf("%s %s %s\n", sqlite3_column_text(st, 0),
				       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
		size_t k = strlen(line);

		while (n + k + 1 > cap)
			out = xrealloc(out, cap *= 2);
		for (size_t i = 0; i < k; i++) {
			int sp = line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
				 (line[i] == '\n' && i + 1 < k);
			if (sp && n > 0 && out[n - 1] == ' ')
				continue;
			out[n++] = sp ? ' ' : line[i];
		}
		out[n] = '\0';
		free(line);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void check_job(struct queue *q, const char *sched, enum job_state s, const char *run,
		      const char *error)
{
	struct job j;

	assert_int_equal(queue_job_get(q, sched, &j), 0);
	assert_string_equal(job_state_name(j.state), job_state_name(s));
	assert_string_equal(j.run_id, run);
	if (error)
		assert_string_equal(j.error ? j.error : "(null)", error);
	else
		assert_null(j.error);
	job_clear(&j);
}

/* The next item: its kind, method, path and body (NULL: not checked); then done. */
static void next_is(struct queue *q, int64_t now, const char *kind, const char *method,
		    const char *path, const char *body, const char *file)
{
	struct outbox_item it;
	int64_t due;

	assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
	assert_string_equal(it.kind, kind);
	assert_string_equal(it.method, method);
	assert_string_equal(it.path, path);
	if (body)
		assert_string_equal(it.body, body);
	if (file)
		assert_string_equal(it.file, file);
	else
		assert_null(it.file);
	/* Every item keeps a key (what it was queued with). */
	assert_true(strncmp(it.idem_key, "s-reporting:", 12) == 0);
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
}

/*
 * queue-v4.db holds the calls of the wire before SPEC 7's, as a version-4
 * winnowd queued them; version 5 moves each to SPEC 7's path and body, and
 * loses none: the web app of SPEC 7 takes every one.
 */
static void check_v4_wire(struct queue *q, int64_t now)
{
	next_is(q, now, "state", "PUT", "/v1/docker/runs/r-reporting",
		"{\"state\":\"SAVING_RESULTS\",\"message\":\"saving results\"}", NULL);
	next_is(q, now, "samples", "POST", "/v1/winnow/datasets/d2/samples/batch",
		"[{\"fileName\":\"a.jpg\",\"metaData\":{}}]", NULL);
	next_is(q, now, "datapool", "PUT", "/v1/winnow/datasets/d2/datapools/pool-1",
		"{\"fileNames\":[\"a.jpg\"]}", NULL);
	next_is(q, now, "logs", "PUT", "/v1/docker/runs/r-reporting/logs",
		"[{\"ts\":1700000000000,\"level\":\"INFO\",\"group\":\"winnowd\","
		"\"msg\":\"embedding 1/2\",\"state\":\"EMBEDDING\"},"
		"{\"ts\":1700000000001,\"level\":\"ERROR\",\"group\":\"winnowd\",\"msg\":\"x\"}]",
		NULL);
	next_is(q, now, "file", "POST", "/v1/winnow/runs/r-reporting/files",
		"{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}",
		"/var/lib/winnowd/runs/r-reporting/data/scores.csv");
	next_is(q, now, "artifact", "POST", "/v1/docker/runs/r-reporting/artifacts",
		"{\"fileName\":\"log.txt\",\"type\":\"LOG\"}",
		"/var/lib/winnowd/runs/r-reporting/log.txt");
	next_is(q, now, "state", "PUT", "/v1/docker/runs/r-reporting",
		"{\"state\":\"COMPLETED\",\"message\":\"completed\"}", NULL);
}

/* queue-vN.db opens, reaches QUEUE_VERSION with every row of the old file, and works. */
static void check_frozen_file(int from)
{
	char name[32], err[256], *path, *fresh_path;
	struct queue *q = NULL, *fresh;
	struct job j;
	struct outbox_item it;
	int64_t due, now = queue_now_ms();
	char v[64];

	snprintf(name, sizeof(name), "queue-v%d.db", from);
	print_message("%s\n", name);
	path = frozen_copy(name);
	/* The file is what its name says, as made by the old code. */
	assert_int_equal(user_version_of(path), from);
	if (queue_open(path, &q, err, sizeof(err)) < 0)
		fail_msg("%s: %s", name, err);
	assert_int_equal(user_version_of(path), QUEUE_VERSION);

	assert_int_equal(queue_meta_get(q, "worker_id", v, sizeof(v)), 0);
	assert_string_equal(v, "aaaaaaaaaaaaaaaaaaaaaaa1");
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		assert_int_equal(queue_job_count(q, (enum job_state)s), 1);
	check_job(q, "s-claimed", JOB_CLAIMED, "", NULL);
	check_job(q, "s-done", JOB_DONE, "r-done", NULL);
	check_job(q, "s-failed", JOB_FAILED, "r-failed", "docker.method: \"fastest\" is not allowed");
	check_job(q, "s-aborted", JOB_ABORTED, "r-aborted", "aborted by the user");

	assert_int_equal(queue_job_get(q, "s-queued", &j), 0);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_string_equal(j.run_id, "r-queued");
	assert_string_equal(j.dataset_id, "d1");
	assert_string_equal(j.config_id, "c1");
	assert_string_equal(j.config, "{\"docker\":{\"method\":\"coreset\"}}");
	assert_string_equal(j.datasource, "{\"type\":\"LOCAL\",\"fullPath\":\"/data/old\"}");
	/* The datapool column came with version 3. */
	if (from >= 3)
		assert_string_equal(j.datapool, "[\"a.jpg\",\"b.jpg\"]");
	else
		assert_null(j.datapool);
	/*
	 * Version 4's columns: no older file has them; winnowd fills them from
	 * the stored config at its start (jobs.c), not the migration.
	 */
	assert_null(j.pool_name);
	assert_null(j.tag_creator);
	assert_null(j.query_tags);
	job_clear(&j);

	assert_int_equal(queue_job_get(q, "s-running", &j), 0);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_string_equal(j.dataset_id, "d2");
	assert_string_equal(j.stage, "EMBEDDING");
	assert_true(j.progress == 0.5);
	assert_int_equal(j.attempts, 2);
	assert_int_equal(j.deaths, 1);
	assert_int_equal(j.lease, 4242);
	assert_int_equal(j.log_seq, 7);
	assert_string_equal(j.cand_tag, "");
	assert_null(j.datapool);
	job_clear(&j);

	/* The candidates tag column came with version 2. */
	assert_int_equal(queue_job_get(q, "s-reporting", &j), 0);
	assert_int_equal(j.state, JOB_REPORTING);
	assert_string_equal(j.cand_tag, from >= 2 ? "t-cand" : "");
	job_clear(&j);

	/* The outbox keeps its order, its failed attempt and (version 2 on) its file. */
	assert_int_equal(queue_outbox_count(q, NULL), from >= 4 ? 10 : from >= 2 ? 3 : 2);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
	assert_string_equal(it.path, "/v1/docker/runs/r-reporting");
	assert_string_equal(it.body, "{\"state\":\"SAVING_RESULTS\"}");
	assert_int_equal(it.attempts, 1);
	assert_int_equal(it.next_try, 1000);
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
	assert_string_equal(it.path, "/v1/docker/runs/r-reporting/logs");
	/* Version 5: log lines lose winnow's seq (the Idempotency-Key replaced it). */
	assert_string_equal(it.body, "[{}]");
	assert_int_equal(it.attempts, 0);
	assert_null(it.file);
	assert_int_equal(queue_outbox_done(q, it.id), 0);
	outbox_item_clear(&it);
	if (from >= 2) {
		assert_int_equal(queue_outbox_next(q, now, &it, &due), 1);
		assert_string_equal(it.path, "/v1/docker/runs/r-reporting/artifacts");
		assert_string_equal(it.file, "/var/lib/winnowd/runs/r-reporting/report.json");
		assert_string_equal(it.kind, "artifact");
		assert_int_equal(queue_outbox_done(q, it.id), 0);
		outbox_item_clear(&it);
	}
	if (from >= 4)
		check_v4_wire(q, now);
	assert_int_equal(queue_outbox_next(q, now, &it, &due), 0);

	/* Today's writes work on the migrated file: every column of today's job row. */
	assert_int_equal(queue_job_set_tag(q, "s-running", "t2"), 0);
	assert_int_equal(queue_job_set_sources(q, "s-claimed", "{}", "{}", "[\"x.png\"]"), 0);
	assert_int_equal(queue_outbox_add(q, "s-claimed", "artifact", "POST", "/p", "{}", "/f"), 0);
	assert_int_equal(queue_job_set_plan(q, "s-queued", "p", "SAMPLER_CORESET", "{}"), 0);
	assert_int_equal(queue_job_get(q, "s-claimed", &j), 0);
	assert_string_equal(j.datapool, "[\"x.png\"]");
	job_clear(&j);
	assert_int_equal(queue_job_get(q, "s-queued", &j), 0);
	assert_string_equal(j.pool_name, "p");
	assert_string_equal(j.tag_creator, "SAMPLER_CORESET");
	assert_string_equal(j.query_tags, "{}");
	assert_string_equal(j.config, "{\"docker\":{\"method\":\"coreset\"}}");
	job_clear(&j);
	queue_close(q);

	/* The migrated schema is a fresh file's, text for text; a second open changes nothing. */
	fresh = open_new(&fresh_path);
	queue_close(fresh);
	char *want = schema_of(fresh_path), *got = schema_of(path);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	queue_close(q);
	got = schema_of(path);
	assert_string_equal(got, want);
	assert_int_equal(user_version_of(path), QUEUE_VERSION);
	free(got);
	free(want);
	free(fresh_path);
	free(path);
}

/* A file of a newer winnowd is refused, and left as it was. */
static void test_newer_file_refused(void **state)
{
	char name[32], err[256] = "", *path;
	sqlite3 *db;
	struct queue *q = NULL;

	(void)state;
	snprintf(name, sizeof(name), "queue-v%d.db", FROZEN_LAST);
	path = frozen_copy(name);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *sql = xasprintf("PRAGMA user_version = %d", QUEUE_VERSION + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);
	char *before = schema_of(path);

	assert_int_equal(queue_open(path, &q, err, sizeof(err)), -EIO);
	assert_null(q);
	char *want = xasprintf("the database is version %d, newer than this winnowd (%d)",
			       QUEUE_VERSION + 1, QUEUE_VERSION);
	assert_string_equal(err, want);
	free(want);
	assert_int_equal(user_version_of(path), QUEUE_VERSION + 1);
	char *after = schema_of(path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	free(path);
}

/*
 * Every version from 1 up to FROZEN_LAST has its frozen file; the current
 * version may lack its own until a later commit makes it (a file is made by
 * the code of a commit where its version is current, never by the tree that
 * introduces it), but no older one may. A schema change without a new
 * migration shows as a migrated file that differs from a fresh one.
 */
static void test_frozen_files_migrate(void **state)
{
	(void)state;
	assert_true(FROZEN_LAST == QUEUE_VERSION || FROZEN_LAST == QUEUE_VERSION - 1);
	for (int v = 1; v <= FROZEN_LAST; v++)
		check_frozen_file(v);
}

/*
 * A fresh file is at version 5 with version 4's columns, takes and returns
 * them, and a second open changes nothing.
 */
static void test_fresh_v4(void **state)
{
	char *path, err[256];
	struct queue *q = open_new(&path);
	struct job j;

	(void)state;
	assert_int_equal(QUEUE_VERSION, 5);
	assert_int_equal(user_version_of(path), 5);
	char *schema = schema_of(path);
	assert_non_null(strstr(schema, "pool_name TEXT"));
	assert_non_null(strstr(schema, "tag_creator TEXT"));
	assert_non_null(strstr(schema, "query_tags TEXT"));
	assert_int_equal(queue_job_insert(q, "s4", "d4", "c4"), 0);
	assert_int_equal(queue_job_set_run(q, "s4", "r4"), 0);
	assert_int_equal(queue_begin(q), 0);
	assert_int_equal(queue_job_set_sources(q, "s4", "{\"docker\":{}}", "{}", NULL), 0);
	assert_int_equal(queue_job_set_plan(q, "s4", NULL, "USER_WORKER",
					    "{\"query\":[\"a.png\",\"b/c.png\"]}"), 0);
	assert_int_equal(queue_commit(q), 0);
	queue_close(q);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	char *again = schema_of(path);
	assert_string_equal(again, schema);
	assert_int_equal(queue_job_get(q, "s4", &j), 0);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_null(j.pool_name);
	assert_string_equal(j.tag_creator, "USER_WORKER");
	assert_string_equal(j.query_tags, "{\"query\":[\"a.png\",\"b/c.png\"]}");
	job_clear(&j);
	queue_close(q);
	free(again);
	free(schema);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_states),
		cmocka_unit_test(test_outbox_order),
		cmocka_unit_test(test_outbox_coalesce),
		cmocka_unit_test(test_meta_and_reopen),
		cmocka_unit_test(test_frozen_files_migrate),
		cmocka_unit_test(test_fresh_v4),
		cmocka_unit_test(test_newer_file_refused),
	};

	log_init("test_queue", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
