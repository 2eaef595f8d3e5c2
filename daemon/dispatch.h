/*
 * dispatch: the fixed pool of worker threads that run the stages. The loop
 * hands a thread a self-contained struct exec; events come back to the loop
 * through uv_async_send.
 */
#ifndef WINNOWD_DISPATCH_H
#define WINNOWD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "util.h"

/* A query tag of the plan (SPEC 4.8) as the claim fetched it: its file names. */
struct exec_query_tag {
	char *name;
	struct strvec names;
};

/*
 * One run handed to a worker thread. The loop fills the inputs, then only
 * reads the outputs after the EXEC_FINISHED event; cancel is the one field
 * both sides touch while it runs.
 */
struct exec {
	/* inputs, owned by the exec */
	char sched_id[25], run_id[25], dataset_id[25];
	struct run_config cfg;	/* parsed once for this attempt (claim.c, jobs.c) */
	char *input;
	int input_fd;		/* input opened beneath dataset_roots (dsroot_open), or -1 */
	char *run_dir;
	int threads;
	bool resume;		/* checkpoint the stages, resume after the latest valid one */
	struct strvec datapool;	/* the datapool's members, as fetched at the claim (SPEC 4.7) */
	/*
	 * The plan's query tags, fetched from the web app at the claim and
	 * stored with the job: the worker thread answers the pipeline's
	 * query_tag from them and never calls the web app itself (the HTTP
	 * client belongs to the loop thread).
	 */
	struct exec_query_tag *qtags;
	size_t nqtags;
	/* S3 datasources: endpoint, region, key id, secret (never logged); NULL: none */
	char *s3_endpoint, *s3_region, *s3_key_id, *s3_secret;
	int s3_path_style;
	/* A LIGHTLY datasource apart from input (SPEC 3), and its S3 settings; NULL: none */
	char *lightly;
	int lightly_fd;		/* as input_fd, for lightly */
	char *lt_s3_endpoint, *lt_s3_region, *lt_s3_key_id, *lt_s3_secret;
	volatile int cancel;
	/* outputs */
	int rc;
	struct pipeline_result *res;
	void *ud;		/* the loop's own data */
	struct exec_event *pending_progress;	/* dispatcher-private, under its lock */
};

enum exec_event_type {
	EXEC_STAGE_BEGIN,
	EXEC_STAGE_END,
	EXEC_PROGRESS,		/* coalesced: only the latest counts are kept */
	EXEC_LOG,
	EXEC_FINISHED,
};

struct exec_event {
	enum exec_event_type type;
	struct exec *ex;
	enum stage stage;
	size_t done, total;
	enum log_level level;
	char *msg;		/* EXEC_LOG and EXEC_STAGE_END; freed by the dispatcher after the callback */
	struct exec_event *next;
};

/* Called on the loop thread for each event, in the order the run made them. */
typedef void (*dispatch_event_cb)(void *ud, const struct exec_event *ev);

struct dispatch;

/* Starts nthreads threads; the async handle lives on loop. NULL on failure. */
struct dispatch *dispatch_new(uv_loop_t *loop, int nthreads, dispatch_event_cb cb, void *ud);

/* Hands ex (consumed until EXEC_FINISHED) to a free thread; -EBUSY when none is free. */
int dispatch_submit(struct dispatch *d, struct exec *ex);

/* Threads without a run. */
int dispatch_free_threads(const struct dispatch *d);

/*
 * Stops the threads (they finish the run they have: cancel those first) and
 * closes the async handle; the memory goes in its close callback.
 */
void dispatch_free(struct dispatch *d);

/* Frees an exec's inputs and outputs. */
void exec_free(struct exec *ex);

#endif
