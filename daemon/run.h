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
#include "selectors/engine.h"
#include "selectors/selector.h"
#include "util.h"
#include "video.h"

enum item_state { IT_OK, IT_CORRUPT, IT_EXCLUDED, IT_DUPLICATE };

struct item {
	char *path;		/* borrowed from the dataset or the CSV table */
	enum item_state state;
	char *reason;		/* owned; for corrupt, excluded and duplicate */
	XXH128_hash_t hash;
	uint64_t size;
	uint32_t width, height;	/* from the header; 0 when unknown */
	struct img_meta meta;	/* lightly.* of a decoded image (SPEC 4.8) */
	int32_t video;		/* a frame: its video in run->videos; -1: an image */
	uint32_t frame;		/* a frame: its index in the video */
};

/* A listed video (SPEC 3.1): its frames are items, named by video_frame_name. */
struct run_video {
	const char *path;	/* borrowed from the dataset */
	enum video_status st;	/* of the demux pass (listing) */
	struct video_info vi;
	size_t *items;		/* per frame: its item */
	uint8_t *seen;		/* per frame, during the image pass: handed out by the decode */
	size_t corrupt, selected;	/* frames, for report.json */
	int io_rc;
	char reason[160];
};

/* A prediction task the selection reads. */
struct run_task {
	const char *name;	/* borrowed from the config */
	enum task_type type;
	bool objfreq;		/* the object-frequency scorer runs on it */
};

/* A column of run->scores. */
struct score_col {
	size_t task;		/* index into run->task */
	int score;		/* task_score_index of its task's type */
	char *label;		/* its name in scores.csv and report.json (owned) */
};

struct entry_data;
struct unit;

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
	struct run_video *videos;	/* the listed videos, path order */
	size_t nvideos;
	struct strvec frame_names;	/* the frames' names (items borrow them) */
	struct unit *units;		/* the image pass's tasks */
	/*
	 * Sequences (SPEC 3.1, selected_sequence_length = seq_len > 1): from the
	 * selection on, the candidates are chunks of seq_len frames; chunk c's
	 * frames are the items chunk_items[c * seq_len ..], its name its first.
	 */
	size_t seq_len;
	size_t *chunk_items;
	size_t seq_frames, seq_short, seq_not_cand, seq_images;	/* report.json's counts */
	/* Every selected item in selection order (a chunk: its frames in order). */
	size_t *sel_items;
	size_t nsel_items;
	bool want_meta;		/* the plan reads a lightly.* key made from the pixels */
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
	/*
	 * scores (SPEC 4.4, 4.5): the tasks the selection reads, a 2.2 config's
	 * active_learning.task_name or every task a plan's SCORES and
	 * PREDICTIONS entries name, and the score columns: a 2.2 config's task's
	 * every score (named as the score), or each (task, score) a plan names
	 * ("<task>:<score>").
	 */
	struct strvec tasks;	/* tasks.json */
	struct run_task *task;
	size_t ntask;
	struct score_col *col;
	size_t nscores;		/* columns */
	double *scores;		/* ncand x nscores */
	unsigned char *nopred;	/* ncand: 1 when a task had no predictions for it, or NULL */
	int wcol;		/* 2.2: the weighting score's column; -1: none */
	double *w;		/* ncand weights of column wcol, or NULL */
	/* the plan (SPEC 4.8) and what its inputs hold, one per entry (inputs.h) */
	const struct plan *plan;
	struct entry_data *ed;
	/* the selection explained (SPEC 4.8's outputs): per pick, each entry's
	 * objective (sel.n x plan->nentries, NaN where none) and S */
	double *obj, *S;
	const char *stop_reason;
	struct engine_balance *balance;	/* the engine's BALANCE figures */
	size_t nbalance;
	struct engine_result er;	/* the V4 engine's result (owns balance) */
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
