/*
 * SCORES input (SPEC 4.8): `task` + `score`, one of the active-learning
 * scores of 4.4 / 4.5 of that task, in [0,1]. Its values are a column of
 * the run's score table, which the scores stage fills for every (task,
 * score) a plan names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "util.h"

static int scores_resolve(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];
	size_t t = 0;

	while (t < run->ntask && strcmp(run->task[t].name, pe->task) != 0)
		t++;
	if (t == run->ntask)	/* the stage runner resolved every task the plan names */
		return inputs_config_error(run, "%s.task: \"%s\" is not resolved", d->path, pe->task);
	enum task_type type = run->task[t].type;
	int s = task_score_index(type, pe->score);
	if (s < 0) {
		struct buf b = { 0 };
		for (size_t j = 0; j < task_score_count(type); j++)
			buf_printf(&b, "%s\"%s\"", j ? ", " : "", task_score_name(type, j));
		inputs_config_error(run, "%s.score: \"%s\" is not a score of %s task \"%s\" (valid: %s)",
				    d->path, pe->score, task_type_name(type), pe->task, b.data);
		buf_free(&b);
		return -EINVAL;
	}
	int c = inputs_find_col(run, pe->task, pe->score);
	if (c < 0) {
		run->col = xrealloc(run->col, (run->nscores + 1) * sizeof(*run->col));
		run->col[run->nscores] = (struct score_col){
			.task = t, .score = s, .label = xasprintf("%s:%s", pe->task, pe->score),
		};
		c = (int)run->nscores++;
	}
	d->score_col = (size_t)c;
	return 0;
}

static int scores_prepare(struct run *run, size_t e)
{
	struct entry_data *d = &run->ed[e];
	size_t n = run->ncand;

	d->value = xcalloc(n ? n : 1, sizeof(double));
	for (size_t i = 0; i < n; i++)
		d->value[i] = run->scores[i * run->nscores + d->score_col];
	d->ein.value = d->value;
	return 0;
}

const struct input_kind input_scores = {
	.id = PLAN_INPUT_SCORES,
	.resolve = scores_resolve,
	.prepare = scores_prepare,
};
