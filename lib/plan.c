/*
 * plan: the selection plan of SPEC 4.8 as data. config.c fills it from
 * either dialect; this file holds what both need: the fixed plans of the
 * 2.2-era methods, the allowed input x strategy pairs, the budget rule,
 * Lightly's enum spellings and the plan as Lightly's JSON.
 */
#include "plan.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {
	[METHOD_RANDOM] = "random",
	[METHOD_CORESET] = "coreset",
	[METHOD_CORAL] = "coral",
	[METHOD_ACTIVE_LEARNING] = "active_learning",
};

static const char *const input_names[] = {
	[PLAN_INPUT_EMBEDDINGS] = "EMBEDDINGS",
	[PLAN_INPUT_SCORES] = "SCORES",
	[PLAN_INPUT_METADATA] = "METADATA",
	[PLAN_INPUT_PREDICTIONS] = "PREDICTIONS",
	[PLAN_INPUT_RANDOM] = "RANDOM",
};

static const char *const strategy_names[] = {
	[PLAN_STRATEGY_DIVERSITY] = "DIVERSITY",
	[PLAN_STRATEGY_WEIGHTS] = "WEIGHTS",
	[PLAN_STRATEGY_THRESHOLD] = "THRESHOLD",
	[PLAN_STRATEGY_BALANCE] = "BALANCE",
	[PLAN_STRATEGY_SIMILARITY] = "SIMILARITY",
	[PLAN_STRATEGY_TYPICALITY] = "TYPICALITY",
};

static const char *const operation_names[] = {
	[PLAN_OP_SMALLER] = "SMALLER",
	[PLAN_OP_SMALLER_EQUAL] = "SMALLER_EQUAL",
	[PLAN_OP_BIGGER] = "BIGGER",
	[PLAN_OP_BIGGER_EQUAL] = "BIGGER_EQUAL",
};

static const char *const pred_names[] = {
	[PLAN_PRED_NONE] = "",
	[PLAN_PRED_CLASS_DISTRIBUTION] = "CLASS_DISTRIBUTION",
	[PLAN_PRED_CATEGORY_COUNT] = "CATEGORY_COUNT",
};

static const char *const distribution_names[] = {
	[PLAN_DIST_TARGET] = "TARGET",
	[PLAN_DIST_UNIFORM] = "UNIFORM",
	[PLAN_DIST_INPUT] = "INPUT",
};

/* SPEC 4.8's allowed pairs, one bit per strategy for each input. */
#define BIT(st) (1u << (st))
static const unsigned allowed_pairs[] = {
	[PLAN_INPUT_EMBEDDINGS] = BIT(PLAN_STRATEGY_DIVERSITY) | BIT(PLAN_STRATEGY_SIMILARITY) |
				  BIT(PLAN_STRATEGY_TYPICALITY),
	[PLAN_INPUT_SCORES] = BIT(PLAN_STRATEGY_WEIGHTS) | BIT(PLAN_STRATEGY_THRESHOLD),
	[PLAN_INPUT_METADATA] = BIT(PLAN_STRATEGY_WEIGHTS) | BIT(PLAN_STRATEGY_THRESHOLD) |
				BIT(PLAN_STRATEGY_BALANCE),
	[PLAN_INPUT_PREDICTIONS] = BIT(PLAN_STRATEGY_BALANCE),
	[PLAN_INPUT_RANDOM] = BIT(PLAN_STRATEGY_WEIGHTS),
};

#define NAME_OF(table, i) ((size_t)(i) < ARRAY_LEN(table) ? (table)[i] : "?")

const char *method_name(enum method m)
{
	return (size_t)m < ARRAY_LEN(method_names) ? method_names[m] : "unknown";
}

const char *plan_input_name(enum plan_input in)
{
	return NAME_OF(input_names, in);
}

const char *plan_strategy_name(enum plan_strategy st)
{
	return NAME_OF(strategy_names, st);
}

const char *plan_operation_name(enum plan_operation op)
{
	return NAME_OF(operation_names, op);
}

const char *plan_pred_name_name(enum plan_pred_name n)
{
	return NAME_OF(pred_names, n);
}

const char *plan_distribution_name(enum plan_distribution d)
{
	return NAME_OF(distribution_names, d);
}

bool plan_pair_allowed(enum plan_input in, enum plan_strategy st)
{
	if ((size_t)in >= ARRAY_LEN(allowed_pairs) || (unsigned)st >= PLAN_STRATEGY_COUNT_)
		return false;
	return (allowed_pairs[in] & BIT(st)) != 0;
}

void plan_entry_init(struct plan_entry *e, enum plan_input in, enum plan_strategy st)
{
	memset(e, 0, sizeof(*e));
	e->input = in;
	e->strategy = st;
	e->random_seed = 1;
	e->strength = 1;
	e->min_distance = -1;
	e->max_sum = -1;
	e->distribution = PLAN_DIST_TARGET;
	e->num_nearest_neighbors = 20;
	e->min_typicality = -1;
}

struct plan_entry *plan_add_entry(struct plan *p, enum plan_input in, enum plan_strategy st)
{
	p->entries = xreallocarray(p->entries, p->nentries + 1, sizeof(*p->entries));
	plan_entry_init(&p->entries[p->nentries], in, st);
	return &p->entries[p->nentries++];
}

static void entry_free(struct plan_entry *e)
{
	free(e->task);
	free(e->score);
	free(e->key);
	free(e->tag_name);
	free(e->dataset_id);
	strvec_free(&e->categories);
	for (size_t i = 0; i < e->ntarget; i++)
		free(e->target[i].name);
	free(e->target);
}

void plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nentries; i++)
		entry_free(&p->entries[i]);
	free(p->entries);
	memset(p, 0, sizeof(*p));
}

void plan_from_method(struct plan *p, enum method m, double n_samples, double min_distance,
		      const char *task, const char *score, uint64_t seed)
{
	struct plan_entry *e;

	plan_free(p);
	p->from_method = true;
	p->method = m;
	/* SPEC 2: -1 off, (0,1] a fraction (1 means all), an integral >= 2 a count. */
	if (n_samples > 0 && n_samples <= 1) {
		p->budget = PLAN_BUDGET_FRACTION;
		p->budget_value = n_samples;
	} else if (n_samples >= 2) {
		p->budget = PLAN_BUDGET_COUNT;
		p->budget_value = n_samples;
	}
	switch (m) {
	case METHOD_CORESET:
	case METHOD_CORAL:
		e = plan_add_entry(p, PLAN_INPUT_EMBEDDINGS, PLAN_STRATEGY_DIVERSITY);
		e->min_distance = min_distance;
		if (m == METHOD_CORESET)
			break;
		/* FALLTHROUGH */
	case METHOD_ACTIVE_LEARNING:
		e = plan_add_entry(p, PLAN_INPUT_SCORES, PLAN_STRATEGY_WEIGHTS);
		e->task = xstrdup(task ? task : "");
		e->score = xstrdup(score ? score : "");
		break;
	case METHOD_RANDOM:
		e = plan_add_entry(p, PLAN_INPUT_RANDOM, PLAN_STRATEGY_WEIGHTS);
		e->random_seed = seed;
		break;
	}
}

size_t plan_fraction_k(double f, size_t n)
{
	/* The 1e-6 keeps 0.07 of 100 at 7 although 0.07*100 is 7.000000000000001. */
	double k = ceil(f * (double)n - 1e-6);

	if (!(k > 0))
		return 0;
	return k >= (double)n ? n : (size_t)k;
}

size_t plan_budget_k(const struct plan *p, size_t n)
{
	switch (p->budget) {
	case PLAN_BUDGET_NONE:
		break;
	case PLAN_BUDGET_FRACTION:
		return plan_fraction_k(p->budget_value, n);
	case PLAN_BUDGET_COUNT:
		if (p->budget_value >= (double)SIZE_MAX)
			return SIZE_MAX;
		return (size_t)p->budget_value;
	}
	return SIZE_MAX;
}

const struct plan_entry *plan_find(const struct plan *p, enum plan_strategy st)
{
	for (size_t i = 0; i < p->nentries; i++)
		if (p->entries[i].strategy == st)
			return &p->entries[i];
	return NULL;
}

static void oom_if_null(const void *v)
{
	if (v == NULL) {
		fprintf(stderr, "<2>winnow: out of memory (cJSON)\n");
		abort();
	}
}

static void put_str(cJSON *o, const char *key, const char *s)
{
	oom_if_null(cJSON_AddStringToObject(o, key, s));
}

static void put_num(cJSON *o, const char *key, double v)
{
	oom_if_null(cJSON_AddNumberToObject(o, key, v));
}

static cJSON *input_json(const struct plan_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	oom_if_null(o);
	put_str(o, "type", plan_input_name(e->input));
	switch (e->input) {
	case PLAN_INPUT_EMBEDDINGS:
		if (e->tag_name)
			put_str(o, "tagName", e->tag_name);
		if (e->dataset_id)
			put_str(o, "datasetId", e->dataset_id);
		break;
	case PLAN_INPUT_SCORES:
		put_str(o, "task", e->task ? e->task : "");
		put_str(o, "score", e->score ? e->score : "");
		break;
	case PLAN_INPUT_METADATA:
		put_str(o, "key", e->key ? e->key : "");
		break;
	case PLAN_INPUT_PREDICTIONS:
		put_str(o, "task", e->task ? e->task : "");
		put_str(o, "name", plan_pred_name_name(e->pred_name));
		if (e->categories.n > 0) {
			cJSON *a = cJSON_AddArrayToObject(o, "categories");
			oom_if_null(a);
			for (size_t i = 0; i < e->categories.n; i++) {
				cJSON *s = cJSON_CreateString(e->categories.v[i]);
				oom_if_null(s);
				cJSON_AddItemToArray(a, s);
			}
		}
		break;
	case PLAN_INPUT_RANDOM:
		/*
		 * config.c takes seeds in (-2^63, 2^63) modulo 2^64; print the
		 * signed value it came from, which parses back to the same seed.
		 */
		if (e->random_seed >= (UINT64_C(1) << 63))
			put_num(o, "randomSeed", -(double)(UINT64_C(0) - e->random_seed));
		else
			put_num(o, "randomSeed", (double)e->random_seed);
		break;
	case PLAN_INPUT_COUNT_:
		break;
	}
	return o;
}

static cJSON *strategy_json(const struct plan_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	oom_if_null(o);
	put_str(o, "type", plan_strategy_name(e->strategy));
	switch (e->strategy) {
	case PLAN_STRATEGY_DIVERSITY:
		if (e->min_distance >= 0)
			put_num(o, "stopping_condition_minimum_distance", e->min_distance);
		break;
	case PLAN_STRATEGY_WEIGHTS:
		if (e->max_sum >= 0)
			put_num(o, "stoppingConditionMaxSum", e->max_sum);
		break;
	case PLAN_STRATEGY_THRESHOLD:
		put_num(o, "threshold", e->threshold);
		put_str(o, "operation", plan_operation_name(e->operation));
		break;
	case PLAN_STRATEGY_BALANCE:
		put_str(o, "distribution", plan_distribution_name(e->distribution));
		if (e->distribution == PLAN_DIST_TARGET) {
			cJSON *t = cJSON_AddObjectToObject(o, "target");
			oom_if_null(t);
			for (size_t i = 0; i < e->ntarget; i++)
				put_num(t, e->target[i].name, e->target[i].fraction);
		}
		break;
	case PLAN_STRATEGY_SIMILARITY:
		break;
	case PLAN_STRATEGY_TYPICALITY:
		put_num(o, "numNearestNeighbors", e->num_nearest_neighbors);
		if (e->min_typicality > 0)
			put_num(o, "stoppingConditionMinimumTypicality", e->min_typicality);
		break;
	case PLAN_STRATEGY_COUNT_:
		break;
	}
	if (e->strategy != PLAN_STRATEGY_THRESHOLD)
		put_num(o, "strength", e->strength);
	return o;
}

cJSON *plan_to_json(const struct plan *p)
{
	cJSON *o = cJSON_CreateObject(), *a;

	oom_if_null(o);
	if (p->from_method)
		put_str(o, "method", method_name(p->method));
	if (p->budget == PLAN_BUDGET_COUNT)
		put_num(o, "nSamples", p->budget_value);
	else if (p->budget == PLAN_BUDGET_FRACTION)
		put_num(o, "proportionSamples", p->budget_value);
	a = cJSON_AddArrayToObject(o, "strategies");
	oom_if_null(a);
	for (size_t i = 0; i < p->nentries; i++) {
		cJSON *e = cJSON_CreateObject();
		oom_if_null(e);
		cJSON_AddItemToObject(e, "input", input_json(&p->entries[i]));
		cJSON_AddItemToObject(e, "strategy", strategy_json(&p->entries[i]));
		cJSON_AddItemToArray(a, e);
	}
	return o;
}

/*
 * The creator of a run's selection tag (SPEC 7), a value of Lightly's
 * TagCreator enum (lightly v1.5.20). A 2.2-era method keeps the sampler
 * Lightly's own worker named for it; a V4 plan has no sampler of its own,
 * and Lightly's worker tags its selections USER_WORKER (docs/differences.md).
 */
static const char *const method_creators[] = {
	[METHOD_RANDOM] = "SAMPLER_RANDOM",
	[METHOD_CORESET] = "SAMPLER_CORESET",
	[METHOD_CORAL] = "SAMPLER_CORAL",
	[METHOD_ACTIVE_LEARNING] = "SAMPLER_ACTIVE_LEARNING",
};

const char *plan_tag_creator(const struct plan *p)
{
	if (p->from_method && (size_t)p->method < ARRAY_LEN(method_creators))
		return method_creators[p->method];
	return "USER_WORKER";
}
