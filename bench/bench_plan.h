/*
 * bench_plan: the plan the selection benchmarks run through the plan engine
 * (bench_select's plan figures, bench_scale's plan run): [EMBEDDINGS/DIVERSITY,
 * SCORES/WEIGHTS] plus, with classes, METADATA/BALANCE UNIFORM over 5 of them.
 * Header-only, like bench_rows.h.
 */
#ifndef WINNOW_BENCH_PLAN_H
#define WINNOW_BENCH_PLAN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "selectors/engine.h"
#include "util.h"

static const char *const bal_names[] = { "c0", "c1", "c2", "c3", "c4" };

/* [DIVERSITY, WEIGHTS(w)] plus, with cls, BALANCE UNIFORM over the 5 classes. */
static void bench_plan(struct plan *p, struct engine_entry_input *ei, const double *w,
		       const int32_t *cls)
{
	memset(p, 0, sizeof(*p));
	memset(ei, 0, 3 * sizeof(*ei));
	plan_add_entry(p, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY);
	plan_add_entry(p, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS);
	ei[1].value = w;
	if (cls) {
		plan_add_entry(p, PLAN_INPUT_METADATA, PLAN_STRATEGY_BALANCE)->distribution =
			PLAN_DIST_UNIFORM;
		ei[2].class_names = bal_names;
		ei[2].nclasses = 5;
		ei[2].class_idx = cls;
	}
}

/* That plan to k on n x d rows X through engine_run; its wall time in *secs. */
static int engine_time(const double *X, size_t n, size_t d, size_t k, const double *w,
		       const int32_t *cls, int prune, struct engine_result *res, double *secs)
{
	struct plan p;
	struct engine_entry_input ei[3];
	struct engine_inputs in = { .n = n, .d = d, .X = X, .entries = ei, .k = k, .prune = prune };

	bench_plan(&p, ei, w, cls);
	double t0 = now_seconds();
	int rc = engine_run(&p, &in, res);
	*secs = now_seconds() - t0;
	plan_free(&p);
	if (rc < 0)
		fprintf(stderr, "bench: engine_run: %s\n", strerror(-rc));
	return rc;
}

#endif
