/*
 * workers: the sweep of silent workers (SPEC 7) and the runs it takes back.
 */
#ifndef WINNOW_WEB_WORKERS_H
#define WINNOW_WEB_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"

/* Caps of SPEC 8: registered workers, and per dataset OPEN+LOCKED scheduled runs and tags. */
#define WORKERS_MAX 1000
#define SCHEDULED_ACTIVE_MAX 1000
#define TAGS_MAX 10000
/* The most scheduled runs a worker's poll answers with (the highest priority first). */
#define POLL_MAX 100

/*
 * Marks OFFLINE every worker silent for longer than timeout_s and takes back
 * the scheduled runs such workers hold LOCKED (workers.c's DESIGN). Nothing
 * is swept before the web app itself has been up for timeout_s (up_since_ms
 * is its start): a worker cannot heartbeat to a web app that is down. Logs
 * what it did; returns 0 or -EIO.
 */
int workers_sweep(struct db *db, int timeout_s, int64_t up_since_ms);

/*
 * Was run_id taken back from its worker (reopened, or CRASHED by the sweep)?
 * Worker calls on such a run answer 409 RUN_RELEASED. Call inside the
 * caller's transaction when the answer guards a write. 1 yes, 0 no, -EIO on a
 * database error (503: never guess).
 */
int workers_run_released(struct dbconn *c, const char *run_id);

#endif
