/*
 * pipeline: the stage runner. One plain function of (config, datasource, run
 * dir, events, cancel flag): `winnowd select`, the daemon's worker threads and
 * the tests all call pipeline_run.
 */
#ifndef WINNOW_PIPELINE_H
#define WINNOW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "s3.h"
#include "log.h"

enum stage {
	STAGE_LISTING,
	STAGE_IMAGES,
	STAGE_DUPLICATES,
	STAGE_EMBEDDINGS,
	STAGE_SCORES,
	STAGE_SELECTION,
	STAGE_RESULTS,
	STAGE_COUNT,
};

/* "listing", "images", ... */
const char *stage_name(enum stage s);
/* The web app's run state for a stage (SPEC 4): LOADING_DATASET, ... */
const char *stage_run_state(enum stage s);

/*
 * Callbacks; any may be NULL. They are called from the thread running
 * pipeline_run, except progress, which may come from any of the run's threads
 * (never two at once).
 */
struct pipeline_events {
	void (*stage_begin)(void *ud, enum stage s, size_t total);
	void (*progress)(void *ud, enum stage s, size_t done, size_t total);
	void (*stage_end)(void *ud, enum stage s, double seconds, const char *summary);
	void (*log)(void *ud, enum log_level lvl, const char *msg);
	/*
	 * Once, after a successful run has written its outputs: the new picks in
	 * selection order (names[i] with its raw row rows[i * d .. i * d + d - 1],
	 * as read or computed, before normalisation). Everything is borrowed for
	 * the call only. The datapool's caller adds them to the datapool (4.7).
	 */
	void (*selected)(void *ud, char *const *names, const double *rows, size_t n, size_t d);
	/*
	 * Once, before the selection: the candidates' names in path order and
	 * winnow's computed image metadata (SPEC 4.8), n x META_COMPUTED_COUNT
	 * values in lib/metadata.h's order (0 but the size when the image was not
	 * decoded: corruptness check off with a CSV; the values made from the
	 * pixels are 0 unless the plan reads one of them, as they cost about 3%
	 * of the image pass). Borrowed for the call only.
	 */
	void (*computed_meta)(void *ud, char *const *names, const double *values, size_t n);
};

struct pipeline_opts {
	const struct run_config *cfg;	/* borrowed */
	const char *input;		/* the LOCAL datasource root, or s3://bucket[/prefix] */
	const struct s3_conf *s3;	/* endpoint and credentials for s3:// (borrowed), or NULL */
	/* A LIGHTLY datasource apart from input (SPEC 3): `.lightly/` is read there; NULL: input's */
	const char *lightly;
	const struct s3_conf *lightly_s3;	/* as s3, for lightly */
	/*
	 * LOCAL input and lightly folders the caller opened beneath their root
	 * (dsroot_open; borrowed), read through these descriptors instead of
	 * their paths, so that a folder swapped for a link after the check
	 * cannot lead out of the root; NULL: opened by path.
	 */
	const int *input_fd, *lightly_fd;
	const char *run_dir;		/* created if absent; must be empty unless resume */
	int threads;			/* <= 0: all cores */
	const struct pipeline_events *ev;
	void *ud;
	volatile int *cancel;		/* non-zero: stop at the next image */
	/*
	 * Checkpoints (SPEC 6; the daemon sets it, `winnowd select` does not):
	 * each finished stage among images, duplicates, embeddings and scores is
	 * saved to run_dir/.checkpoint/<stage>.bin (atomically) with a hash of
	 * the effective config and of the listing; at start the latest checkpoint
	 * whose hashes match is loaded and the stages it covers are skipped. A
	 * corrupt or mismatching checkpoint is logged and ignored. The
	 * selection is never checkpointed: it is made again on every attempt,
	 * from the datapool given then, so no stale selection can be reused.
	 */
	bool resume;
	/*
	 * The datapool (SPEC 4.7), used when cfg->datapool_name is set: the file
	 * names of its members (borrowed; ndatapool 0 for an empty or new one).
	 * Members that are candidates are preselected; the others (gone,
	 * corrupt, duplicates, not listed) are ignored, with their count in the
	 * log and report.json. datapool_dim is the width of the rows the caller
	 * keeps for the members (local mode's CSV), 0 when it keeps none: a run
	 * whose embeddings have another width fails, as its rows could not join
	 * them. datapool_label names the datapool's source in messages.
	 */
	char *const *datapool;
	size_t ndatapool;
	size_t datapool_dim;
	const char *datapool_label;
	/*
	 * The query tags of SPEC 4.8 (EMBEDDINGS with tagName): the file names
	 * of tag `name`, in any order, appended to *names. NULL: the pipeline
	 * reads .lightly/tags/<name>.txt (one file name a line) from the
	 * datasource (local mode). The daemon answers from the web app's tag of
	 * that name on the run's dataset. Returns 0, -ENOENT when there is no
	 * such tag (a config error of the run), or another negative errno with
	 * err filled (-EAGAIN and the like: a retry may help).
	 */
	int (*query_tag)(void *ud, const char *name, struct strvec *names, char *err, size_t errlen);
	/*
	 * The run's dataset in the web app (the daemon), or NULL (local mode):
	 * a query tag's datasetId must be it (SPEC 4.8). Local mode has no
	 * dataset ids: a datasetId there is taken as the run's own, with a
	 * notice in the log.
	 */
	const char *dataset_id;
};

struct pipeline_counts {
	size_t listed, excluded, corrupt, duplicates, candidates, selected;
	size_t videos, frames;	/* listed videos that open, and their frames (SPEC 3.1) */
	size_t no_predictions, zero_rows;
	/* with a datapool: its members, those preselected, those not candidates */
	size_t datapool_members, preselected, datapool_ignored;
};

struct pipeline_result {
	struct pipeline_counts counts;
	double seconds[STAGE_COUNT];
	bool ran[STAGE_COUNT];
	char summary[STAGE_COUNT][192];
	double total_seconds;
	bool permanent;		/* a failure no retry can fix (config, data) */
	bool config_error;	/* the config does not fit the datasource (task, score names) */
	int resumed_after;	/* with resume: the stage the run resumed after, or -1 */
	char error[2048];	/* why the run failed */
};

/*
 * Runs every stage. Returns 0 on success, -ECANCELED when cancelled, or
 * another negative errno with r->error set (r->permanent tells whether a
 * retry could help). The run dir then holds the outputs of SPEC 5 (on
 * success) and log.txt (always).
 */
int pipeline_run(const struct pipeline_opts *o, struct pipeline_result *r);

#endif
