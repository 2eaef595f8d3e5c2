/*
 * PREDICTIONS input (SPEC 4.8): `task` + `name`, a class vector per
 * candidate (lib/predvec.c: CLASS_DISTRIBUTION or CATEGORY_COUNT over the
 * schema's categories, or the `categories` kept), made in the scores stage
 * from the task's loaded predictions, for BALANCE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "util.h"

static int predictions_resolve(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];

	for (size_t t = 0; t < run->ntask; t++)
		if (strcmp(run->task[t].name, pe->task) == 0 && run->task[t].type == TASK_KEYPOINT_DETECTION)
			return inputs_config_error(run, "%s.task: \"%s\" is a keypoint-detection task, "
						   "which has no class vectors", run->ed[e].path, pe->task);
	return 0;
}

static int predictions_scores(struct run *run, size_t e, const struct task_preds *t)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];
	char err[1024];

	if (d->have_pv)
		predvec_free(&d->pv);
	d->have_pv = false;
	if (predvec_compute(t, pe->pred_name, &pe->categories, d->path, &d->pv, err, sizeof(err)) < 0)
		return inputs_config_error(run, "%s", err);
	d->have_pv = true;
	return 0;
}

static int predictions_prepare(struct run *run, size_t e)
{
	struct entry_data *d = &run->ed[e];

	if (!d->have_pv || d->pv.nimg != run->ncand)
		return run_fail(run, -EINVAL, false, "%s: the class vectors were not made", d->path);
	d->class_names = xcalloc(d->pv.names.n ? d->pv.names.n : 1, sizeof(*d->class_names));
	for (size_t c = 0; c < d->pv.names.n; c++)
		d->class_names[c] = d->pv.names.v[c];
	d->ein.class_names = d->class_names;
	d->ein.nclasses = d->pv.names.n;
	d->ein.class_vec = d->pv.v;
	return 0;
}

const struct input_kind input_predictions = {
	.id = PLAN_INPUT_PREDICTIONS,
	.resolve = predictions_resolve,
	.scores = predictions_scores,
	.prepare = predictions_prepare,
};
