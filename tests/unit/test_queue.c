/*
 * Unit tests of daemon/queue.c: job states and counters, the claim steps'
 * writes, outbox order (per job, by age, backoff, coalesced run states),
 * meta, and the migration from a version-1 file. The queue is compiled in
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
	job_clear(&j);
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
	assert_int_equal(queue_outbox_coalesce_state(q, "a", "{s1}", 0), 0);
	assert_int_equal(queue_outbox_add(q, "a", "state", "PUT", "/r", "{s1}", NULL), 0);
	assert_int_equal(queue_outbox_coalesce_state(q, "a", "{s2}", 0), 1);
	assert_int_equal(queue_outbox_count(q, "a"), 1);
	assert_int_equal(queue_outbox_next(q, queue_now_ms(), &it, &due), 1);
	assert_string_equal(it.body, "{s2}");
	/* The item in flight is never rewritten: its answer would delete the newer state. */
	assert_int_equal(queue_outbox_coalesce_state(q, "a", "{s3}", it.id), 0);
	outbox_item_clear(&it);
	/* A state behind a log line is not merged with an older one (order matters). */
	assert_int_equal(queue_outbox_add(q, "a", "logs", "PUT", "/l", "[]", NULL), 0);
	assert_int_equal(queue_outbox_coalesce_state(q, "a", "{s4}", 0), 0);
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

/* A file as version 1 of winnowd wrote it, with a job and an outbox row in it. */
static void test_migration_from_v1(void **state)
{
	char *path = tmp_db(), err[256];
	sqlite3 *db;
	struct queue *q;
	struct job j;
	struct outbox_item it;
	int64_t due;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *sql = xasprintf("%s INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, "
			      "created_at, updated_at) VALUES ('s1', 'd1', 'c1', 'r1', 'running', 1, 1);"
			      "INSERT INTO outbox (job, kind, method, path, body, idem_key, created_at) "
			      "VALUES ('s1', 'state', 'PUT', '/v1/docker/runs/r1', '{}', 'k', 1);"
			      "PRAGMA user_version = 1;", migrations[0]);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);

	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_string_equal(j.run_id, "r1");
	assert_string_equal(j.cand_tag, "");
	job_clear(&j);
	assert_int_equal(queue_job_set_tag(q, "s1", "t1"), 0);
	assert_int_equal(queue_outbox_next(q, queue_now_ms(), &it, &due), 1);
	assert_string_equal(it.path, "/v1/docker/runs/r1");
	assert_null(it.file);
	outbox_item_clear(&it);
	queue_close(q);

	/* The version is recorded; a file from a newer winnowd is refused. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), QUEUE_VERSION);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(queue_open(path, &q, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "newer"));
	free(path);
}

/* A file as version 2 wrote it: the job keeps its row, with no datapool. */
static void test_migration_from_v2(void **state)
{
	char *path = tmp_db(), err[256];
	sqlite3 *db;
	struct queue *q;
	struct job j;
	struct outbox_item it;
	int64_t due;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *sql = xasprintf("%s %s INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, "
			      "created_at, updated_at, config, cand_tag) VALUES ('s1', 'd1', 'c1', 'r1', "
			      "'queued', 1, 1, '{}', 't1');"
			      "INSERT INTO outbox (job, kind, method, path, body, idem_key, created_at) "
			      "VALUES ('s1', 'state', 'PUT', '/v1/docker/runs/r1', '{}', 'k', 1);"
			      "INSERT INTO outbox (job, kind, method, path, body, idem_key, created_at) "
			      "VALUES ('s1', 'mappings', 'GET', '/m', NULL, 'k2', 1);"
			      "PRAGMA user_version = 2;", migrations[0], migrations[1]);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);

	assert_int_equal(queue_open(path, &q, err, sizeof(err)), 0);
	assert_int_equal(queue_job_get(q, "s1", &j), 0);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_string_equal(j.cand_tag, "t1");
	assert_null(j.datapool);
	job_clear(&j);
	assert_int_equal(queue_outbox_next(q, queue_now_ms(), &it, &due), 1);
	/* Dropping the rest of a chain leaves the item itself. */
	assert_int_equal(queue_outbox_drop_after(q, "s1", it.id), 0);
	assert_int_equal(queue_outbox_count(q, "s1"), 1);
	outbox_item_clear(&it);
	queue_close(q);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_states),
		cmocka_unit_test(test_outbox_order),
		cmocka_unit_test(test_outbox_coalesce),
		cmocka_unit_test(test_meta_and_reopen),
		cmocka_unit_test(test_migration_from_v1),
		cmocka_unit_test(test_migration_from_v2),
	};

	log_init("test_queue", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
