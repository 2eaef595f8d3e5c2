/*
 * run: the state of one run of the stage runner, private to daemon/pipeline.c
 * (the stages), daemon/report.c (the outputs) and daemon/checkpoint.c (the
 * checkpoints).
 */
#ifndef WINNOW_RUN_H
#define WINNOW_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <xxhash.h>

#include "dataset.h"
#include "embed.h"
#include "image.h"
#include "log.h"
#include "pipeline.h"
#include "predict.h"
#include "selectors/selector.h"
#include "util.h"

enum item_state { IT_OK, IT_CORRUPT, IT_EXCLUDED, IT_DUPLICATE };

struct item {
	char *path;		/* borrowed from the dataset or the CSV table */
	enum item_state state;
	char *reason;		/* owned; for corrupt, excluded and duplicate */
	XXH128_hash_t hash;
	uint64_t size;
	uint32_t width, height;	/* from the header; 0 when unknown */
	struct img_meta meta;	/* lightly.* of a decoded image (SPEC 4.8) */
};

struct run {
	const struct pipeline_opts *o;
	const struct run_config *cfg;
	struct pipeline_result *r;
	FILE *log;
	pthread_mutex_t lock;	/* serialises log and progress from the pool */
	struct dataset ds;
	bool have_ds;
	struct emb_table csv;
	bool have_csv, emb_only;
	struct item *items;
	size_t nitems;
	double *desc;		/* nitems x DESC_DIM, built-in descriptor */
	atomic_size_t done;
	atomic_int io_rc;	/* a read failed for the transport (dataset_transient): the run fails */
	enum stage cur;
	/* candidates, after the duplicate stages */
	size_t *cand;		/* item index of each candidate, path order */
	double *cmeta;		/* ncand x META_COMPUTED_COUNT: lightly.* of each candidate */
	size_t ncand;
	size_t d;
	double *raw;		/* ncand x d, as read or computed */
	double *X;		/* ncand x d, normalised when configured */
	struct selection sel;
	double stage_t0;
	/* scores (SPEC 4.4, 4.5), when active_learning.task_name is set */
	struct strvec tasks;	/* tasks.json */
	enum task_type task_type;
	const char *score_name;	/* the weighting score */
	size_t nscores;		/* columns */
	double *scores;		/* ncand x nscores */
	double *w;		/* ncand weights, or NULL */
	/* checkpoints (opts.resume) */
	XXH128_hash_t cfg_hash, list_hash, csv_hash;
	uint64_t images_sum;	/* checksum of the valid images checkpoint, 0: none */
};

/* Logs to the run's log.txt and the caller's log callback. */
void run_log(struct run *run, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a failure; returns rc so callers can `return run_fail(...)`. */
int run_fail(struct run *run, int rc, bool permanent, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The outputs but report.json (names: each candidate's path), then
 * report.json. Each returns 0 or a negative errno after run_fail.
 */
int report_write_outputs(struct run *run, char *const *names);
int report_write_json(struct run *run);

/* Checkpoints (opts.resume): the keys, one stage's save, the load (the last
 * stage covered, or -1), and their removal. */
void ckpt_hashes(struct run *run);
void ckpt_save(struct run *run, enum stage s);
int ckpt_load(struct run *run);
void ckpt_remove_all(struct run *run);

#endif
