/*
 * fuzz_config: the run config parser (lib/config.c) on arbitrary bytes.
 * A config that parses must hold values config.h allows, and print its effective JSON, and that JSON
 * must parse again to the same effective config (defaults filled twice
 * change nothing).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What plan.h and SPEC 4.8 promise of an accepted config's plan. */
static void check_plan(const struct plan *p, bool v4)
{
	int once[PLAN_STRATEGY_COUNT_] = { 0 };

	if (p->nentries == 0 || p->from_method == v4)
		abort();
	if (p->budget == PLAN_BUDGET_FRACTION && !(p->budget_value >= 0 && p->budget_value <= 1))
		abort();
	if (p->budget == PLAN_BUDGET_COUNT && !(p->budget_value >= 1 && p->budget_value == floor(p->budget_value)))
		abort();
	for (size_t i = 0; i < p->nentries; i++) {
		const struct plan_entry *e = &p->entries[i];
		double sum = 0;
		if (!plan_pair_allowed(e->input, e->strategy) || !(fabs(e->strength) <= 1e9))
			abort();
		if ((e->strategy == PLAN_STRATEGY_DIVERSITY || e->strategy == PLAN_STRATEGY_SIMILARITY ||
		     e->strategy == PLAN_STRATEGY_TYPICALITY) && once[e->strategy]++)
			abort();
		if ((e->input == PLAN_INPUT_SCORES && (e->task == NULL || e->score == NULL)) ||
		    (e->input == PLAN_INPUT_METADATA && e->key == NULL) ||
		    (e->input == PLAN_INPUT_PREDICTIONS && (e->task == NULL || e->pred_name == PLAN_PRED_NONE)))
			abort();
		if (!(e->min_distance == -1 || e->min_distance >= 0) || !(e->max_sum == -1 || e->max_sum >= 0) ||
		    e->num_nearest_neighbors < 2)
			abort();
		for (size_t t = 0; t < e->ntarget; t++) {
			if (!(e->target[t].fraction >= 0 && e->target[t].fraction <= 1))
				abort();
			sum += e->target[t].fraction;
		}
		if (sum > 1 + 1e-9 || (e->ntarget > 0 && e->distribution != PLAN_DIST_TARGET))
			abort();
	}
}

/* What config.h promises of an accepted config. */
static void check_values(const struct run_config *c)
{
	double n = c->n_samples;

	if (!(n == -1 || (n > 0 && n <= 1) || (n >= 2 && n == floor(n))))
		abort();
	if (!(c->min_distance == -1 || c->min_distance >= 0))
		abort();
	if (!(c->frequency_penalty >= 0 && c->frequency_penalty <= 1) ||
	    !(c->min_score >= 0 && c->min_score <= 1))
		abort();
	if (c->seed > UINT32_MAX || c->max_pixels > UINT32_MAX)
		abort();
	if (c->datapool_name != NULL) {
		size_t len = strlen(c->datapool_name);
		if (len < 1 || len > 128 || c->datapool_name[0] == '.' ||
		    strspn(c->datapool_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789._-") != len)
			abort();
	}
	if (c->scorer == NULL || c->al_task_name == NULL || c->al_score_name == NULL ||
	    c->embeddings == NULL || c->relevant_filenames_file == NULL || c->effective == NULL)
		abort();
	check_plan(&c->plan, c->v4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_config cfg;
	struct strvec errors = { 0 };

	config_methods_with_scores = true;
	/* The V4 parser is exercised in full, round trip included. */
	if (config_parse((const char *)data, size, &cfg, &errors) == 0) {
		char *eff = config_effective_json(&cfg);
		struct run_config again;
		struct strvec errors2 = { 0 };

		check_values(&cfg);
		if (eff == NULL)
			abort();
		if (config_parse(eff, strlen(eff), &again, &errors2) != 0)
			abort();
		char *eff2 = config_effective_json(&again);
		if (strcmp(eff, eff2) != 0)
			abort();
		free(eff2);
		free(eff);
		config_free(&again);
		strvec_free(&errors2);
		config_free(&cfg);
	}
	strvec_free(&errors);
	return 0;
}
