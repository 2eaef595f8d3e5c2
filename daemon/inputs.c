/*
 * inputs: the table of a plan's inputs (inputs.h) and what every input
 * shares: the per-entry state's lifetime, the objective column names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "util.h"

static const struct input_kind *const kinds[PLAN_INPUT_COUNT_] = {
	[PLAN_INPUT_EMBEDDINGS] = &input_embeddings,
	[PLAN_INPUT_SCORES] = &input_scores,
	[PLAN_INPUT_METADATA] = &input_metadata,
	[PLAN_INPUT_PREDICTIONS] = &input_predictions,
	[PLAN_INPUT_RANDOM] = &input_random,
};

const struct input_kind *input_kind(enum plan_input in)
{
	return (unsigned)in < PLAN_INPUT_COUNT_ ? kinds[in] : NULL;
}

int inputs_config_error(struct run *run, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	run->r->config_error = true;
	return run_fail(run, -EINVAL, true, "%s", msg);
}

int inputs_resolve(struct run *run)
{
	const struct plan *p = run->plan;
	int rc;

	run->ed = xcalloc(p->nentries ? p->nentries : 1, sizeof(*run->ed));
	for (size_t e = 0; e < p->nentries; e++) {
		run->ed[e].computed = -1;
		snprintf(run->ed[e].path, sizeof(run->ed[e].path), "selection.strategies[%zu].input", e);
	}
	for (size_t e = 0; e < p->nentries; e++) {
		const struct input_kind *k = input_kind(p->entries[e].input);
		if (k == NULL)
			return inputs_config_error(run, "%s: unknown input", run->ed[e].path);
		if (k->resolve && (rc = k->resolve(run, e)) < 0)
			return rc;
	}
	return 0;
}

bool inputs_entry_task(const struct run *run, size_t e, const char **task)
{
	/* plan.c sets a task only on the inputs that read one (SCORES, PREDICTIONS). */
	*task = run->plan->entries[e].task;
	return *task != NULL;
}

int inputs_scores(struct run *run, size_t t, const struct task_preds *preds)
{
	const struct plan *p = run->plan;
	int rc;

	for (size_t e = 0; e < p->nentries; e++) {
		const struct input_kind *k = input_kind(p->entries[e].input);
		const char *task;
		if (!k->scores || !inputs_entry_task(run, e, &task) ||
		    strcmp(task, run->task[t].name) != 0)
			continue;
		if ((rc = k->scores(run, e, preds)) < 0)
			return rc;
	}
	return 0;
}

int inputs_prepare(struct run *run, struct engine_entry_input **out)
{
	const struct plan *p = run->plan;
	struct engine_entry_input *eis = xcalloc(p->nentries ? p->nentries : 1, sizeof(*eis));
	int rc;

	*out = NULL;
	for (size_t e = 0; e < p->nentries; e++) {
		const struct input_kind *k = input_kind(p->entries[e].input);
		if (k->prepare && (rc = k->prepare(run, e)) < 0) {
			free(eis);
			return rc;
		}
		eis[e] = run->ed[e].ein;
	}
	*out = eis;
	return 0;
}

void inputs_free(struct run *run)
{
	if (run->ed == NULL)
		return;
	for (size_t e = 0; e < run->plan->nentries; e++) {
		struct entry_data *d = &run->ed[e];
		free(d->value);
		free(d->has_value);
		free(d->class_idx);
		free(d->class_vec);
		free(d->class_names);
		free(d->query);
		if (d->have_meta)
			meta_column_free(&d->meta);
		if (d->have_pv)
			predvec_free(&d->pv);
		strvec_free(&d->tag_names);
	}
	free(run->ed);
	run->ed = NULL;
}

char *inputs_column_name(const struct plan_entry *pe)
{
	struct buf b = { 0 };

	buf_printf(&b, "%s:%s", plan_strategy_name(pe->strategy), plan_input_name(pe->input));
	if (pe->task)
		buf_printf(&b, ":%s", pe->task);
	if (pe->score)
		buf_printf(&b, ":%s", pe->score);
	else if (pe->pred_name != PLAN_PRED_NONE)
		buf_printf(&b, ":%s", plan_pred_name_name(pe->pred_name));
	if (pe->key)
		buf_printf(&b, ":%s", pe->key);
	return b.data ? b.data : xstrdup("");
}

int inputs_find_col(const struct run *run, const char *task, const char *score)
{
	for (size_t c = 0; c < run->nscores; c++) {
		const struct score_col *sc = &run->col[c];
		if (strcmp(run->task[sc->task].name, task) == 0 &&
		    strcmp(task_score_name(run->task[sc->task].type, sc->score), score) == 0)
			return (int)c;
	}
	return -1;
}
