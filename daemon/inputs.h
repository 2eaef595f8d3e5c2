/*
 * inputs: the inputs of a selection plan (SPEC 4.8), one file each
 * (in_embeddings.c, in_scores.c, in_metadata.c, in_predictions.c,
 * in_random.c) behind the table of inputs.c. The stage runner knows inputs
 * only through it: a new input is one new file and one table row.
 *
 * For each plan entry, in order: resolve, once the listing is known and
 * before any image is read (what the entry names exists: a task, a score, a
 * metadata key, a query tag; a wrong one fails the run at once as a config
 * error); scores, in the scores stage, with the task's predictions loaded
 * (PREDICTIONS keeps its class vectors); prepare, at the selection, with the
 * candidates, rows and score columns known: fills the engine's arrays.
 */
#ifndef WINNOW_INPUTS_H
#define WINNOW_INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata.h"
#include "plan.h"
#include "predvec.h"
#include "run.h"
#include "selectors/engine.h"

/* What one entry's input holds for the run; owned, freed by inputs_free. */
struct entry_data {
	struct engine_entry_input ein;	/* the engine's view, into the arrays below */
	char path[64];			/* "selection.strategies[2].input" */
	double *value;
	bool *has_value;
	int32_t *class_idx;
	double *class_vec;
	const char **class_names;	/* nclasses, into classes or pv.names */
	double *query;
	size_t query_named, query_outside;	/* SIMILARITY: the tag's names; not candidates */
	/* METADATA: a custom key's column over every listed item, or a computed key */
	struct meta_column meta;
	bool have_meta;
	int computed;			/* enum meta_computed, or -1 */
	/* PREDICTIONS: the class vectors of the candidates (scores stage) */
	struct predvec pv;
	bool have_pv;
	/* SCORES: its column of run->scores; EMBEDDINGS tagName: the tag's names */
	size_t score_col;
	struct strvec tag_names;
};

struct input_kind {
	enum plan_input id;
	/* After the listing: checks what entry e names. 0, or a negative errno after run_fail. */
	int (*resolve)(struct run *run, size_t e);
	/* In the scores stage, with entry e's task's predictions (NULL: none). */
	int (*scores)(struct run *run, size_t e, const struct task_preds *t);
	/* At the selection: fills run->ed[e] (ein included). */
	int (*prepare)(struct run *run, size_t e);
};

/* The row of input in; NULL out of range. */
const struct input_kind *input_kind(enum plan_input in);

/* The per-input files' rows. */
extern const struct input_kind input_embeddings, input_scores, input_metadata,
	input_predictions, input_random;

/* Every entry's resolve (allocates run->ed). */
int inputs_resolve(struct run *run);
/* Every entry's scores hook for the entries that read task t (index into run->task). */
int inputs_scores(struct run *run, size_t t, const struct task_preds *preds);
/* Every entry's prepare; *out gets the engine's per-entry array (owned by run->ed). */
int inputs_prepare(struct run *run, struct engine_entry_input **out);
void inputs_free(struct run *run);

/* Whether entry e of the plan reads task t's predictions (SCORES, PREDICTIONS). */
bool inputs_entry_task(const struct run *run, size_t e, const char **task);

/*
 * selection.csv's name of an entry's objective column (SPEC 4.8):
 * <STRATEGY>:<INPUT>[:<task>][:<score or name>][:<key>]. Caller frees.
 */
char *inputs_column_name(const struct plan_entry *pe);

/* The score column (task, score) of run->col, or -1. */
int inputs_find_col(const struct run *run, const char *task, const char *score);

/* Marks the run's config as not fitting the datasource and fails (permanent). */
int inputs_config_error(struct run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
