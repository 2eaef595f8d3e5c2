/*
 * mkolddb_queue: writes a winnowd queue database with the queue code of the
 * commit it is compiled against (tests/tools/mkolddb.sh builds it inside a
 * scratch worktree of an old commit, never against the current tree).
 *
 *   mkolddb_queue PATH        queue_open (that commit's QUEUE_VERSION), then
 *                             jobs in every state and outbox rows through that
 *                             commit's own queue functions
 *   mkolddb_queue --v1 PATH   that commit's migration 0 -> 1 only, filled with
 *                             plain INSERTs (no build ever ran at version 1, so
 *                             there are no version-1 queue functions to call)
 *
 * The rows are the same in both modes, so the tests can expect one set of
 * values from every version's file (what a version lacks is NULL or '').
 */
#include "daemon/queue.c"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                                        \
	do {                                                                            \
		if ((x) < 0) {                                                          \
			fprintf(stderr, "mkolddb_queue: %s failed (line %d)\n", #x, __LINE__); \
			exit(1);                                                        \
		}                                                                       \
	} while (0)

static const char *const DS = "{\"type\":\"LOCAL\",\"fullPath\":\"/data/old\"}";

static void fill(struct queue *q)
{
	int64_t seq, due;
	struct outbox_item it;

	CHECK(queue_meta_set(q, "worker_id", "aaaaaaaaaaaaaaaaaaaaaaa1"));
	/* claimed: only the intent row. */
	CHECK(queue_job_insert(q, "s-claimed", "d1", "c1"));
	/* queued: run created, sources read. */
	CHECK(queue_job_insert(q, "s-queued", "d1", "c1"));
	CHECK(queue_job_set_run(q, "s-queued", "r-queued"));
#if QUEUE_VERSION >= 3
	CHECK(queue_job_set_sources(q, "s-queued", "{\"docker\":{\"method\":\"coreset\"}}", DS,
				    "[\"a.jpg\",\"b.jpg\"]"));
#else
	CHECK(queue_job_set_sources(q, "s-queued", "{\"docker\":{\"method\":\"coreset\"}}", DS));
#endif
	/* running: a stage, counters, log sequence numbers taken. */
	CHECK(queue_job_insert(q, "s-running", "d2", "c2"));
	CHECK(queue_job_set_run(q, "s-running", "r-running"));
#if QUEUE_VERSION >= 3
	CHECK(queue_job_set_sources(q, "s-running", "{\"docker\":{}}", DS, NULL));
#else
	CHECK(queue_job_set_sources(q, "s-running", "{\"docker\":{}}", DS));
#endif
	CHECK(queue_job_set_state(q, "s-running", JOB_RUNNING, NULL));
	CHECK(queue_job_set_stage(q, "s-running", "EMBEDDING", 0.5));
	CHECK(queue_job_count_up(q, "s-running", 2, 1));
	CHECK(queue_job_take_seq(q, "s-running", 7, &seq));
	CHECK(queue_job_set_lease(q, "s-running", 4242));
	/* reporting: its candidates tag, and three calls waiting in the outbox. */
	CHECK(queue_job_insert(q, "s-reporting", "d2", "c2"));
	CHECK(queue_job_set_run(q, "s-reporting", "r-reporting"));
#if QUEUE_VERSION >= 3
	CHECK(queue_job_set_sources(q, "s-reporting", "{\"docker\":{}}", DS, NULL));
#else
	CHECK(queue_job_set_sources(q, "s-reporting", "{\"docker\":{}}", DS));
#endif
	CHECK(queue_job_set_tag(q, "s-reporting", "t-cand"));
	CHECK(queue_job_set_state(q, "s-reporting", JOB_REPORTING, NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "state", "PUT", "/v1/docker/runs/r-reporting",
			       "{\"state\":\"SAVING_RESULTS\"}", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "logs", "PUT", "/v1/docker/runs/r-reporting/logs",
			       "[{\"seq\":0}]", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "artifact", "POST",
			       "/v1/docker/runs/r-reporting/artifacts", "{\"fileName\":\"report.json\"}",
			       "/var/lib/winnowd/runs/r-reporting/report.json"));
#if QUEUE_VERSION == 4
	/*
	 * Version 4 is the last queue of the wire before SPEC 7's (lib/api.c's
	 * API_WIRE_TODAY): the calls such a winnowd queued, byte for byte, which
	 * version 5's migration rewrites.
	 */
	CHECK(queue_outbox_add(q, "s-reporting", "state", "PUT", "/v1/docker/runs/r-reporting",
			       "{\"state\":\"SAVING_RESULTS\",\"message\":\"saving results\","
			       "\"progress\":0.92}", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "samples", "POST", "/v1/datasets/d2/samples/batch",
			       "[{\"fileName\":\"a.jpg\",\"metaData\":{}}]", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "datapool", "PUT", "/v1/datasets/d2/datapools/pool-1",
			       "{\"fileNames\":[\"a.jpg\"]}", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "logs", "PUT", "/v1/docker/runs/r-reporting/logs",
			       "[{\"ts\":1700000000000,\"level\":\"INFO\",\"group\":\"winnowd\","
			       "\"msg\":\"embedding 1/2\",\"state\":\"EMBEDDING\",\"seq\":7},"
			       "{\"ts\":1700000000001,\"level\":\"ERROR\",\"group\":\"winnowd\","
			       "\"msg\":\"x\",\"seq\":8}]", NULL));
	CHECK(queue_outbox_add(q, "s-reporting", "artifact", "POST",
			       "/v1/docker/runs/r-reporting/artifacts",
			       "{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}",
			       "/var/lib/winnowd/runs/r-reporting/data/scores.csv"));
	CHECK(queue_outbox_add(q, "s-reporting", "artifact", "POST",
			       "/v1/docker/runs/r-reporting/artifacts",
			       "{\"fileName\":\"log.txt\",\"type\":\"LOG\"}",
			       "/var/lib/winnowd/runs/r-reporting/log.txt"));
	CHECK(queue_outbox_add(q, "s-reporting", "state", "PUT", "/v1/docker/runs/r-reporting",
			       "{\"state\":\"COMPLETED\",\"message\":\"completed\",\"progress\":1}",
			       NULL));
#endif
	/* The head was tried once and failed: attempts 1, a last error, due at 1000. */
	if (queue_outbox_next(q, queue_now_ms(), &it, &due) != 1)
		CHECK(-1);
	CHECK(queue_outbox_retry(q, it.id, 1000, "HTTP 503"));
	outbox_item_clear(&it);
	/* The three ends. */
	CHECK(queue_job_insert(q, "s-done", "d1", "c1"));
	CHECK(queue_job_set_run(q, "s-done", "r-done"));
	CHECK(queue_job_set_state(q, "s-done", JOB_DONE, NULL));
	CHECK(queue_job_insert(q, "s-failed", "d1", "c3"));
	CHECK(queue_job_set_run(q, "s-failed", "r-failed"));
	CHECK(queue_job_set_state(q, "s-failed", JOB_FAILED, "docker.method: \"fastest\" is not allowed"));
	CHECK(queue_job_insert(q, "s-aborted", "d1", "c1"));
	CHECK(queue_job_set_run(q, "s-aborted", "r-aborted"));
	CHECK(queue_job_set_state(q, "s-aborted", JOB_ABORTED, "aborted by the user"));
}

/* The same rows in version 1's columns, in version 1's own tables. */
static const char *const v1_rows =
	"INSERT INTO meta VALUES ('worker_id', 'aaaaaaaaaaaaaaaaaaaaaaa1');"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, state, created_at, updated_at) VALUES"
	" ('s-claimed', 'd1', 'c1', 'claimed', 1, 1);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, config, datasource,"
	" created_at, updated_at) VALUES ('s-queued', 'd1', 'c1', 'r-queued', 'queued',"
	" '{\"docker\":{\"method\":\"coreset\"}}', '{\"type\":\"LOCAL\",\"fullPath\":\"/data/old\"}', 2, 2);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, stage, progress, attempts,"
	" deaths, lease, log_seq, config, datasource, created_at, updated_at) VALUES ('s-running',"
	" 'd2', 'c2', 'r-running', 'running', 'EMBEDDING', 0.5, 2, 1, 4242, 7, '{\"docker\":{}}',"
	" '{\"type\":\"LOCAL\",\"fullPath\":\"/data/old\"}', 3, 3);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, config, datasource,"
	" created_at, updated_at) VALUES ('s-reporting', 'd2', 'c2', 'r-reporting', 'reporting',"
	" '{\"docker\":{}}', '{\"type\":\"LOCAL\",\"fullPath\":\"/data/old\"}', 4, 4);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, created_at, updated_at)"
	" VALUES ('s-done', 'd1', 'c1', 'r-done', 'done', 5, 5);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, error, created_at, updated_at)"
	" VALUES ('s-failed', 'd1', 'c3', 'r-failed', 'failed',"
	" 'docker.method: \"fastest\" is not allowed', 6, 6);"
	"INSERT INTO jobs (sched_id, dataset_id, config_id, run_id, state, error, created_at, updated_at)"
	" VALUES ('s-aborted', 'd1', 'c1', 'r-aborted', 'aborted', 'aborted by the user', 7, 7);"
	"INSERT INTO outbox (job, kind, method, path, body, idem_key, attempts, next_try, last_error,"
	" created_at) VALUES ('s-reporting', 'state', 'PUT', '/v1/docker/runs/r-reporting',"
	" '{\"state\":\"SAVING_RESULTS\"}', 'k1', 1, 1000, 'HTTP 503', 4);"
	"INSERT INTO outbox (job, kind, method, path, body, idem_key, created_at) VALUES"
	" ('s-reporting', 'logs', 'PUT', '/v1/docker/runs/r-reporting/logs', '[{\"seq\":0}]', 'k2', 4);";

int main(int argc, char **argv)
{
	char err[256];

	log_init("mkolddb_queue", LOG_LVL_ERR);
	if (argc == 3 && strcmp(argv[1], "--v1") == 0) {
		sqlite3 *db;
		char *sql = xasprintf("PRAGMA journal_mode=WAL; BEGIN; %s %s PRAGMA user_version = 1; COMMIT;",
				      migrations[0], v1_rows);
		char *msg = NULL;

		if (sqlite3_open(argv[2], &db) != SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "mkolddb_queue: %s: %s\n", argv[2], msg ? msg : sqlite3_errmsg(db));
			return 1;
		}
		free(sql);
		sqlite3_close(db);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: mkolddb_queue [--v1] PATH\n");
		return 2;
	}
	struct queue *q = NULL;

	if (queue_open(argv[1], &q, err, sizeof(err)) < 0) {
		fprintf(stderr, "mkolddb_queue: %s\n", err);
		return 1;
	}
	fill(q);
	queue_close(q);
	return 0;
}
