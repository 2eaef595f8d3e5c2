/*
 * results: turns a finished run folder into the outbox calls of SPEC 7
 * (samples, tags, score lists, artifacts, final states). Each function adds
 * rows inside the caller's transaction and reads only the run folder, so it
 * can be repeated after a restart.
 */
#ifndef WINNOWD_RESULTS_H
#define WINNOWD_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* Stands for the candidates tag id in queued paths and bodies until it is known. */
#define RESULTS_CAND_TAG "@CANDTAG@"

/* DockerRunUpdateRequest {state, message?} of a run-state PUT; caller frees. */
char *results_state_body(const char *state, const char *message);

/*
 * Queues a run's state and progress (SPEC 7: the state on Lightly's run
 * route, kind "state"; the progress on winnow's progress route, kind
 * "progress", whose answer carries abortRequested). with_state false: the
 * progress alone; progress < 0: the state alone. An unsent item of the same
 * kind at the end of the job's list takes the new body instead (not
 * exclude_id, the item in flight). 0 or a negative errno.
 */
int results_put_state(struct queue *q, const char *sched, const char *run_id, bool with_state,
		      const char *state, const char *message, double progress, int64_t exclude_id);

/*
 * After the stages: SAVING_RESULTS, every candidate as a sample (path order,
 * at most 10,000 a call), with a datapool (j->pool_name, taken from the
 * config at the claim) the new picks PUT to it (kind "datapool"), then the
 * GET of the dataset's sample order (kind "mappings"). Returns 0 or a
 * negative errno with err set.
 */
int results_enqueue_samples(struct queue *q, const struct job *j, const char *run_dir, char *err,
			    size_t errlen);

/*
 * With the sample order (the "mappings" reply, a JSON array of names): the
 * candidates tag, the selection tag (its creator: j->tag_creator), the score
 * lists, UPLOADING_ARTIFACTS, the artifacts, COMPLETED, the scheduled run DONE
 * and the local "finish".
 */
int results_enqueue_tags(struct queue *q, const struct job *j, const char *run_dir,
			 const char *mappings, size_t len, char *err, size_t errlen);

/*
 * A run that ends without results: end_state FAILED or ABORTED with message,
 * its log as an artifact (when there is one), DONE, "finish".
 */
int results_enqueue_end(struct queue *q, const struct job *j, const char *run_dir,
			const char *end_state, const char *message);

/* Names the tags: "run-<run id>" and "run-<run id>-candidates". */
char *results_run_name(const struct job *j);

#endif
