/*
 * queue: the daemon's local state in SQLite: one job row per scheduled run,
 * the outbox of calls to the web app, and a little meta (worker id, last
 * contact). Only the loop thread uses it.
 */
#ifndef WINNOWD_QUEUE_H
#define WINNOWD_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* The schema version this build writes (PRAGMA user_version). */
#define QUEUE_VERSION 5

enum job_state {
	JOB_CLAIMED,	/* intent written; LOCKED, run, config, datasource on the way */
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_REPORTING,	/* the stages are done; the results are in the outbox */
	JOB_DONE,
	JOB_FAILED,
	JOB_ABORTED,
	JOB_STATE_COUNT,
};

/* "claimed", "queued", ...; job_state_parse returns -EINVAL for other text. */
const char *job_state_name(enum job_state s);
int job_state_parse(const char *s);

struct job {
	char sched_id[25], dataset_id[25], config_id[25], run_id[25], cand_tag[25];
	enum job_state state;
	char stage[40];
	double progress;
	int attempts;		/* the run's own failures */
	int deaths;		/* daemon deaths while it ran (a poison-job cap) */
	int64_t lease;		/* unix ms: the claim step is retried after this */
	int64_t log_seq;	/* the next seq of the job's Idempotency-Keys (outbox items) */
	int64_t created, updated;
	char *error;		/* owned, may be NULL */
	char *config;		/* the stored config reply's "config" object, JSON; may be NULL */
	char *datasource;	/* the datasource reply, JSON; may be NULL */
	char *datapool;		/* the datapool's names fetched at the claim, a JSON array; NULL without one */
	/*
	 * What the claim took from the config, parsed once there (version 4),
	 * so that later steps need not parse it again: the datapool's name
	 * (NULL: none), the selection tag's creator (NULL: not taken yet, a row
	 * of an older winnowd or an invalid config) and the plan's query tags
	 * as fetched from the web app, a JSON object {tag name: [file names]}
	 * (NULL: the plan names none).
	 */
	char *pool_name;
	char *tag_creator;
	char *query_tags;
};

void job_clear(struct job *j);	/* frees the owned strings */

struct outbox_item {
	int64_t id;
	char job[25];
	char kind[24];
	char method[8];
	char *path;		/* owned; relative to the web app URL, or absolute for uploads */
	char *body;		/* owned, may be NULL */
	char *file;		/* owned, may be NULL: upload this file after the call */
	char idem_key[80];	/* Idempotency-Key: "<job id>:<seq>" */
	int attempts;
	int64_t next_try;	/* unix ms */
};

void outbox_item_clear(struct outbox_item *it);

struct queue;

/*
 * Opens (creating or migrating) the database at path. Returns 0 and sets *out,
 * or a negative errno with a message in err (size errlen).
 */
int queue_open(const char *path, struct queue **out, char *err, size_t errlen);
void queue_close(struct queue *q);	/* queue_close(NULL) is a no-op */

/* BEGIN IMMEDIATE / COMMIT (ROLLBACK after a failed COMMIT) / ROLLBACK. */
int queue_begin(struct queue *q);
int queue_commit(struct queue *q);
void queue_rollback(struct queue *q);

/* Jobs. Each returns 0 or a negative errno (-ENOENT: no such job). */
int queue_job_insert(struct queue *q, const char *sched, const char *dataset, const char *config);
int queue_job_get(struct queue *q, const char *sched, struct job *out);
/* Scheduled ids of the jobs in state s, oldest first, appended to ids. */
int queue_job_ids(struct queue *q, enum job_state s, struct strvec *ids);
int queue_job_count(struct queue *q, enum job_state s);
int queue_job_set_run(struct queue *q, const char *sched, const char *run_id);
/* Stores what the claim fetched (datapool may be NULL) and makes the job "queued". */
int queue_job_set_sources(struct queue *q, const char *sched, const char *config,
			  const char *datasource, const char *datapool);
/* Stores what the claim took from the parsed config: pool_name, tag_creator, query_tags. */
int queue_job_set_plan(struct queue *q, const char *sched, const char *pool_name,
		       const char *tag_creator, const char *query_tags);
int queue_job_set_state(struct queue *q, const char *sched, enum job_state s, const char *error);
int queue_job_set_stage(struct queue *q, const char *sched, const char *stage, double progress);
int queue_job_set_tag(struct queue *q, const char *sched, const char *cand_tag);
int queue_job_set_lease(struct queue *q, const char *sched, int64_t lease);
/* attempts += da, deaths += dd. */
int queue_job_count_up(struct queue *q, const char *sched, int da, int dd);
/* Reserves n seqs of the job's keys: *first = the first one. */
int queue_job_take_seq(struct queue *q, const char *sched, int n, int64_t *first);
int queue_job_delete(struct queue *q, const char *sched);

/* Outbox. Items of one job go out in id order. */
int queue_outbox_add(struct queue *q, const char *job, const char *kind, const char *method,
		     const char *path, const char *body, const char *file);
/*
 * Replaces the body of the job's last item when that is an unsent item of
 * kind (not exclude_id, the one in flight): a run state or progress
 * superseded before it was sent needs no call of its own. Returns 1 when it
 * did, 0 when not.
 */
int queue_outbox_coalesce(struct queue *q, const char *job, const char *kind, const char *body,
			  int64_t exclude_id);
/*
 * The next item due at now_ms: the oldest item of some job whose oldest item
 * is due. Returns 1 and fills it, 0 when none is due (*next_due = the
 * earliest next try, or -1 when the outbox is empty).
 */
int queue_outbox_next(struct queue *q, int64_t now_ms, struct outbox_item *it, int64_t *next_due);
int queue_outbox_done(struct queue *q, int64_t id);
int queue_outbox_retry(struct queue *q, int64_t id, int64_t next_try, const char *error);
int queue_outbox_count(struct queue *q, const char *job);	/* job NULL: all */
/* Deletes the job's items after item id (the rest of a chain that cannot go on). */
int queue_outbox_drop_after(struct queue *q, const char *job, int64_t id);

/* Meta: small key/value strings. get copies into val; -ENOENT when absent. */
int queue_meta_get(struct queue *q, const char *key, char *val, size_t len);
int queue_meta_set(struct queue *q, const char *key, const char *val);

/* Unix milliseconds. */
int64_t queue_now_ms(void);

#endif
