/*
 * winnowd: daemon mode. The state the loop thread shares between its
 * modules (daemon.c: start, the loop, signals, shutdown; register.c: the
 * registration, the worker state and the polls; claim.c: the claims;
 * jobs.c: the runs; outbox.c: the calls to the web app), and the
 * functions they call across files.
 */
#ifndef WINNOWD_WINNOWD_H
#define WINNOWD_WINNOWD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "dconf.h"
#include "dispatch.h"
#include "http.h"
#include "queue.h"

/* A run on a worker thread, as the loop sees it. */
struct active {
	struct exec *ex;
	char sched_id[25], run_id[25];
	enum stage stage;
	bool stage_known;
	size_t done, total;
	double last_put;	/* monotonic seconds of the last run-state call queued */
	double last_progress_put;
	char last_state[40];	/* the run state last queued ("" before the first) */
	bool dirty;		/* stage or progress changed since */
	bool abort_requested;	/* the web app said abortRequested */
	bool end_pending;	/* the stages ended but the queue could not record it (disk full): retried by the tick */
	bool released;		/* the web app took the run back (409 RUN_RELEASED): nothing more is reported */
	struct cJSON *logs;	/* log lines not yet queued: [{ts, level, msg, state}] */
	struct active *next;
};

struct ob_call;

/*
 * A config parsed at its claim, kept in memory until the job's first
 * attempt takes it (a job's config is parsed once per attempt: the claim's
 * parse serves the first one; a later attempt, or the first after a
 * restart, parses the stored text once in start_job).
 */
struct parsed_config {
	char sched_id[25];
	struct run_config cfg;
	struct parsed_config *next;
};

struct wd {
	uv_loop_t *loop;
	struct http *http;
	struct queue *q;
	struct dispatch *disp;
	struct dconf conf;
	char *conf_path;
	char worker_id[25];
	char worker_state[8];	/* the last state sent: IDLE or BUSY */
	bool registered, recovered, ready;
	bool draining, stopping;
	int sigints;
	uv_timer_t poll_timer, hb_timer, tick_timer, outbox_timer, reg_timer, stop_timer, wd_timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	bool poll_busy, claim_busy, hb_busy;
	double poll_sent;	/* monotonic seconds when the poll in flight went out */
	int reg_failures, claim_failures;
	int64_t claim_hold_until;	/* no claim step before (ms): a failed one the queue could not delay */
	/* the outbox: one call in flight at a time */
	bool ob_busy;
	int64_t ob_inflight;
	struct ob_call *ob_call;	/* the call in flight, freed by outbox_abandon at exit */
	int64_t ob_hold_until;	/* no call before (ms): a retry the queue could not record */
	int ob_hold_failures;
	int64_t last_contact_saved;
	struct active *active;
	struct parsed_config *parsed;	/* claimed jobs' configs, not yet taken by a start */
	double watchdog_interval;	/* seconds, 0: off */
	int64_t retry_ms;	/* a failed attempt waits retry_ms * attempts before the next */
	uint64_t heartbeat_ms;	/* PUT worker state every (SPEC 6: 15 s) */
	int exit_code;
};

/* outbox.c */
void outbox_kick(struct wd *d);	/* sends the next due call unless one is in flight */
/* At exit, before http_free: frees the state of a call still in flight (its row stays queued). */
void outbox_abandon(struct wd *d);
/* Called after a web app reply of any kind: records the last contact (throttled). */
void wd_contact(struct wd *d);
/* Exponential backoff with jitter: attempt 0 -> ~1 s, capped at 60 s. */
double wd_backoff(int attempt);

/* daemon.c */
int daemon_main(int argc, char **argv);
/* <state dir>/runs/<scheduled id>; caller frees. */
char *wd_run_dir(struct wd *d, const char *sched);
/* The web app's URL of a path from api_path() (lib/api.c); takes path, NULL
 * stays NULL; caller frees. */
char *wd_url(struct wd *d, char *path);
/* After a drain: once no run is on a thread and no claim is in flight,
 * says OFFLINE and closes the loop's handles (the loop then ends). */
void shutdown_maybe(struct wd *d);

/* register.c */
/* Registers the worker (retried with backoff), then asks for the runs it
 * holds LOCKED; once they are known the polls, heartbeat and claims start. */
void do_register(struct wd *d);
/* PUTs the worker's state, BUSY or IDLE, when it changed (force: always,
 * the heartbeat); nothing before the registration or while stopping. */
void worker_state_update(struct wd *d, bool force);
/* PUTs OFFLINE with a 2 s timeout; done gets the reply (ud: d). */
void worker_offline(struct wd *d, http_cb done);
/* The next poll in poll_interval +-20 %, unless draining. */
void schedule_poll(struct wd *d);

/* claim.c */
/* Advances the oldest due "claimed" job by its next step; one claim at a time. */
void claim_kick(struct wd *d);
/* Removes and returns the parsed config kept for sched, or NULL; the caller
 * owns it (parsed_free, NULL a no-op). */
struct parsed_config *parsed_take(struct wd *d, const char *sched);
void parsed_free(struct parsed_config *pc);

/* jobs.c */
/* Called by the outbox when a job's "finish" item is reached. */
void wd_job_finished(struct wd *d, const char *sched, const char *job_state);
/*
 * The web app answered 409 RUN_RELEASED on a call of this job: the run was
 * taken back from this worker after missed heartbeats. Ends the job locally
 * without reporting (why is for the log; borrowed).
 */
void wd_job_released(struct wd *d, const char *sched, const char *why);
/* The active run of a scheduled id, or NULL. */
struct active *wd_active(struct wd *d, const char *sched);
/* dispatch.c's event callback (ud: the struct wd). */
void on_exec_event(void *ud, const struct exec_event *ev);
/* Starts the due "queued" jobs while worker threads are free (not while
 * draining, nor before the recovery of held runs). */
void try_dispatch(struct wd *d);
/*
 * Ends a job that has no run on a thread (config error, bad datasource,
 * too many deaths): end_state and message queued for the web app, lines
 * (NULL: none) in the run's log. All borrowed.
 */
void end_job(struct wd *d, const char *sched, const char *end_state, const char *message,
	     const struct strvec *lines);
/* Unlinks a from d->active and frees it with its exec. */
void active_free(struct wd *d, struct active *a);
/* At start: the jobs the last daemon left running, requeued with a death
 * each (FAILED at the fifth). 0 or a negative code. */
int recover_local(struct wd *d);
/* systemd's STATUS= line: the runs, or idle. */
void status_update(struct wd *d);
/* Each second, from the tick: the runs' pending log lines and states. */
void jobs_tick(struct wd *d);
/* Text of a JSON object member (borrowed), or NULL. */
const char *json_text(struct cJSON *o, const char *key);

#endif
