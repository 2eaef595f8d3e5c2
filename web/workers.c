/*
 * workers: the periodic sweep that marks silent workers OFFLINE and takes
 * back the scheduled runs they hold, so that a dead worker never strands a
 * run.
 *
 * DESIGN. A worker heartbeats (PUT worker state) every 15 s. One silent for
 * longer than --worker-timeout (default 60 s, SPEC 7) is marked OFFLINE, and
 * each scheduled run it holds LOCKED is taken back in the same BEGIN
 * IMMEDIATE transaction:
 *  - not started (no run yet, or the run still STARTED: no stage began):
 *    the run is deleted, its id recorded in released_runs, and the scheduled
 *    run goes back to OPEN under the same id; waiting polls are woken.
 *  - started (a stage or reporting began): the run ends CRASHED, its
 *    scheduled run DONE (SPEC 7: DONE whatever the run's end), and a new
 *    scheduled run is made with originScheduledId pointing at it, as SPEC 7
 *    says rescheduling does. That one is marked crash_rescheduled: when it
 *    crashes in turn it is not rescheduled again (one retry, not a loop of a
 *    run that kills its workers).
 *  - already ended (the worker died between its run's end and DONE): the
 *    scheduled run becomes DONE.
 * A worker that comes back finds its calls on a taken-back run refused with
 * 409 DOCKER_WORKER_SCHEDULE_UPDATE_FAILED (routes_worker.c) and drops the job; its claim of a
 * scheduled run another worker took was already refused with 409. So a run
 * is processed twice only when a worker that was silent past the timeout
 * was in fact still working (a network partition): then the old run's
 * remaining calls are refused, and its effects that came before (samples,
 * tags named by the old run's id) stay as they were.
 *
 * Silence is counted from the later of the last heartbeat and the web app's
 * start, so a web app that was down longer than the timeout does not find
 * every worker dead when it comes back.
 */
#include "workers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "longpoll.h"
#include "models.h"
#include "util.h"

struct held {
	char sched[25], worker[25], run[25], run_state[32], name[201];
	bool has_run, crash_rescheduled;
};

static int step_done(struct dbconn *c, sqlite3_stmt *st)
{
	int rc = db_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_warnx("worker sweep: %s", sqlite3_errmsg(db_handle(c)));
		return -EIO;
	}
	return 0;
}

/* The not-started run goes; the scheduled run is OPEN again. */
static int reopen(struct dbconn *c, const struct held *h, int64_t now)
{
	sqlite3_stmt *st;

	if (h->has_run) {
		st = db_stmt(c, "INSERT OR IGNORE INTO released_runs (run_id, scheduled_id, worker_id, "
			     "released_at) VALUES (?, ?, ?, ?)");
		db_bind_text(st, 1, h->run);
		db_bind_text(st, 2, h->sched);
		db_bind_text(st, 3, h->worker);
		sqlite3_bind_int64(st, 4, now);
		if (step_done(c, st) < 0)
			return -EIO;
		static const char *const del[] = {
			"DELETE FROM run_logs WHERE run_id = ?",
			"DELETE FROM artifacts WHERE run_id = ?",
			"DELETE FROM runs WHERE id = ?",
		};
		for (size_t i = 0; i < ARRAY_LEN(del); i++) {
			st = db_stmt(c, del[i]);
			db_bind_text(st, 1, h->run);
			if (step_done(c, st) < 0)
				return -EIO;
		}
	}
	st = db_stmt(c, "UPDATE scheduled SET state = 'OPEN', worker_id = NULL, last_modified_at = ? "
		     "WHERE id = ?");
	sqlite3_bind_int64(st, 1, now);
	db_bind_text(st, 2, h->sched);
	return step_done(c, st);
}

/* The started run is CRASHED; its scheduled run DONE and, once, made again. */
static int crash(struct dbconn *c, const struct held *h, int timeout_s, int64_t now,
		 char new_id[25])
{
	sqlite3_stmt *st = db_stmt(c, "UPDATE runs SET state = 'CRASHED', message = ?, "
				   "last_modified_at = ? WHERE id = ?");
	char *msg = xasprintf("worker %s went OFFLINE (no heartbeat for %d s) while the run was %s%s",
			      h->name, timeout_s, h->run_state,
			      h->crash_rescheduled ? "; not rescheduled again (it was the "
			      "reschedule of a crashed run)" : "; rescheduled");

	db_bind_text(st, 1, msg);
	sqlite3_bind_int64(st, 2, now);
	db_bind_text(st, 3, h->run);
	free(msg);
	if (step_done(c, st) < 0)
		return -EIO;
	st = db_stmt(c, "UPDATE scheduled SET state = 'DONE', last_modified_at = ? WHERE id = ?");
	sqlite3_bind_int64(st, 1, now);
	db_bind_text(st, 2, h->sched);
	if (step_done(c, st) < 0)
		return -EIO;
	new_id[0] = '\0';
	if (h->crash_rescheduled)
		return 0;
	id_new(new_id);
	st = db_stmt(c, "INSERT INTO scheduled (id, dataset_id, config_id, user_id, priority, "
		     "priority_rank, runs_on, state, origin_scheduled_id, crash_rescheduled, created_at, "
		     "last_modified_at) SELECT ?, dataset_id, config_id, user_id, priority, priority_rank, "
		     "runs_on, 'OPEN', id, 1, ?, ? FROM scheduled WHERE id = ?");
	db_bind_text(st, 1, new_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, now);
	db_bind_text(st, 4, h->sched);
	return step_done(c, st);
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

int workers_sweep(struct db *db, int timeout_s, int64_t up_since_ms)
{
	struct dbconn *c = db_acquire(db);
	int64_t now = db_now_ms(), cutoff = now - (int64_t)timeout_s * 1000;
	struct held *hv = NULL;
	size_t n = 0;
	int offline = 0, reopened = 0, rescheduled = 0, rc = -EIO;

	if (up_since_ms > cutoff) {
		db_release(db, c);
		return 0;
	}
	if (db_begin(c) != SQLITE_OK) {
		log_warnx("worker sweep: %s", sqlite3_errmsg(db_handle(c)));
		db_release(db, c);
		return -EIO;
	}
	sqlite3_stmt *st = db_stmt(c, "UPDATE workers SET state = 'OFFLINE', last_modified_at = ? "
				   "WHERE state != 'OFFLINE' AND last_seen_at < ?");
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, cutoff);
	if (step_done(c, st) < 0)
		goto out;
	offline = sqlite3_changes(db_handle(c));
	/* Every LOCKED run of a silent worker, whether it went OFFLINE now or earlier. */
	st = db_stmt(c, "SELECT s.id, s.worker_id, s.crash_rescheduled, r.id, r.state, w.name "
		     "FROM scheduled s JOIN workers w ON w.id = s.worker_id "
		     "LEFT JOIN runs r ON r.scheduled_id = s.id "
		     "WHERE s.state = 'LOCKED' AND w.last_seen_at < ?");
	sqlite3_bind_int64(st, 1, cutoff);
	int step;
	while ((step = db_step(st)) == SQLITE_ROW) {
		hv = xreallocarray(hv, n + 1, sizeof(*hv));
		struct held *h = &hv[n++];
		memset(h, 0, sizeof(*h));
		copy_text(h->sched, sizeof(h->sched), st, 0);
		copy_text(h->worker, sizeof(h->worker), st, 1);
		h->crash_rescheduled = sqlite3_column_int(st, 2) != 0;
		h->has_run = sqlite3_column_type(st, 3) != SQLITE_NULL;
		copy_text(h->run, sizeof(h->run), st, 3);
		copy_text(h->run_state, sizeof(h->run_state), st, 4);
		copy_text(h->name, sizeof(h->name), st, 5);
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		log_warnx("worker sweep: %s", sqlite3_errmsg(db_handle(c)));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct held *h = &hv[i];
		char new_id[25] = "";
		if (!h->has_run || strcmp(h->run_state, "STARTED") == 0) {
			if (reopen(c, h, now) < 0)
				goto out;
			log_info("scheduled run %s: back to OPEN: worker %s went OFFLINE before "
				 "its run began", h->sched, h->name);
			reopened++;
		} else if (run_state_final(h->run_state)) {
			st = db_stmt(c, "UPDATE scheduled SET state = 'DONE', last_modified_at = ? "
				     "WHERE id = ?");
			sqlite3_bind_int64(st, 1, now);
			db_bind_text(st, 2, h->sched);
			if (step_done(c, st) < 0)
				goto out;
			log_info("scheduled run %s: DONE (its run ended %s; worker %s went OFFLINE "
				 "before saying so)", h->sched, h->run_state, h->name);
		} else {
			if (crash(c, h, timeout_s, now, new_id) < 0)
				goto out;
			if (new_id[0]) {
				rescheduled++;
				log_info("run %s: CRASHED: worker %s went OFFLINE during %s; "
					 "rescheduled as %s", h->run, h->name, h->run_state, new_id);
			} else {
				log_info("run %s: CRASHED: worker %s went OFFLINE during %s; not "
					 "rescheduled again (it was the reschedule of a crashed run)",
					 h->run, h->name, h->run_state);
			}
		}
	}
	if (db_commit(c) != SQLITE_OK) {
		log_warnx("worker sweep: commit: %s", sqlite3_errmsg(db_handle(c)));
		goto out;
	}
	rc = 0;
	if (offline > 0)
		log_info("%d worker(s) marked OFFLINE after %d s without a heartbeat", offline,
			 timeout_s);
	/* After the commit: woken polls must find the runs OPEN. */
	if (reopened > 0 || rescheduled > 0)
		longpoll_bump();
out:
	if (rc < 0)
		db_rollback(c);
	free(hv);
	db_release(db, c);
	return rc;
}

int workers_run_released(struct dbconn *c, const char *run_id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM released_runs WHERE run_id = ? "
				   "UNION ALL SELECT 1 FROM runs WHERE id = ? AND state = 'CRASHED'");
	int found;

	db_bind_text(st, 1, run_id);
	db_bind_text(st, 2, run_id);
	found = db_row(st);
	sqlite3_reset(st);
	return found;
}
