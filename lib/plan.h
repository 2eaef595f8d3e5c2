/*
 * plan: the selection plan of SPEC 4.8. Every selection is a plan: a budget
 * and a list of entries, each an input and a strategy. A V4 config
 * (selection_config) gives the plan as written; a 2.2-era `method` becomes
 * its fixed plan in plan_from_method() and nowhere else.
 *
 * Names, enums and JSON spellings are those of Lightly's generated models
 * (lightly v1.5.20: SelectionConfigV4, SelectionConfigV4Entry{Input,Strategy}).
 * A struct plan owns all its strings; plan_free() releases them.
 */
#ifndef WINNOW_PLAN_H
#define WINNOW_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct cJSON;

/* The 2.2-era `method` (SPEC 2). */
enum method {
	METHOD_RANDOM,
	METHOD_CORESET,
	METHOD_CORAL,
	METHOD_ACTIVE_LEARNING,
};

/* "random", "coreset", ...; "unknown" out of range. */
const char *method_name(enum method m);

enum plan_budget {
	PLAN_BUDGET_NONE,
	PLAN_BUDGET_COUNT,	/* k = count */
	PLAN_BUDGET_FRACTION,	/* k = ceil(f*n - 1e-6) */
};

/* SelectionInputType */
enum plan_input {
	PLAN_INPUT_EMBEDDINGS,
	PLAN_INPUT_SCORES,
	PLAN_INPUT_METADATA,
	PLAN_INPUT_PREDICTIONS,
	PLAN_INPUT_RANDOM,
	PLAN_INPUT_COUNT_
};

/* SelectionStrategyTypeV3 */
enum plan_strategy {
	PLAN_STRATEGY_DIVERSITY,
	PLAN_STRATEGY_WEIGHTS,
	PLAN_STRATEGY_THRESHOLD,
	PLAN_STRATEGY_BALANCE,
	PLAN_STRATEGY_SIMILARITY,
	PLAN_STRATEGY_TYPICALITY,
	PLAN_STRATEGY_COUNT_
};

/* SelectionStrategyThresholdOperation */
enum plan_operation {
	PLAN_OP_SMALLER,
	PLAN_OP_SMALLER_EQUAL,
	PLAN_OP_BIGGER,
	PLAN_OP_BIGGER_EQUAL,
	PLAN_OP_COUNT_
};

/* SelectionInputPredictionsName; NONE when the input has no name. */
enum plan_pred_name {
	PLAN_PRED_NONE,
	PLAN_PRED_CLASS_DISTRIBUTION,
	PLAN_PRED_CATEGORY_COUNT,
	PLAN_PRED_COUNT_
};

/* BALANCE's distribution */
enum plan_distribution {
	PLAN_DIST_TARGET,
	PLAN_DIST_UNIFORM,
	PLAN_DIST_INPUT,
	PLAN_DIST_COUNT_
};

struct plan_target {
	char *name;
	double fraction;		/* in [0,1] */
};

struct plan_entry {
	/* input */
	enum plan_input input;
	char *task;			/* SCORES, PREDICTIONS; else NULL */
	char *score;			/* SCORES */
	char *key;			/* METADATA */
	enum plan_pred_name pred_name;	/* PREDICTIONS */
	struct strvec categories;	/* PREDICTIONS; empty: all of the schema's */
	char *tag_name;			/* EMBEDDINGS: the query tag, or NULL */
	char *dataset_id;		/* EMBEDDINGS: or NULL (the run's dataset) */
	uint64_t random_seed;		/* RANDOM: default 1, modulo 2^64 */
	/* strategy */
	enum plan_strategy strategy;
	bool strength_given;
	double strength;		/* default 1; |s| <= 1e9; THRESHOLD has none */
	double min_distance;		/* DIVERSITY: -1 off, else >= 0 */
	double threshold;		/* THRESHOLD */
	enum plan_operation operation;	/* THRESHOLD */
	double max_sum;			/* WEIGHTS: -1 off, else >= 0 */
	enum plan_distribution distribution;	/* BALANCE, default TARGET */
	struct plan_target *target;	/* BALANCE with TARGET, in the config's order */
	size_t ntarget;
	uint32_t num_nearest_neighbors;	/* TYPICALITY: default 20, >= 2 */
	double min_typicality;		/* TYPICALITY: -1 off, else > 0 */
};

struct plan {
	enum plan_budget budget;
	double budget_value;		/* the count or the fraction */
	struct plan_entry *entries;
	size_t nentries;
	/*
	 * Made from a 2.2-era method: keeps 4.6's special rules (Fisher-Yates
	 * for random, the "all selected" fill for coreset and coral).
	 */
	bool from_method;
	enum method method;		/* when from_method */
};

/* Default field values of an entry of the given input and strategy. */
void plan_entry_init(struct plan_entry *e, enum plan_input in, enum plan_strategy st);

/* Appends a new entry with plan_entry_init's defaults; returns it (owned by p). */
struct plan_entry *plan_add_entry(struct plan *p, enum plan_input in, enum plan_strategy st);

/*
 * The fixed plan of a 2.2-era method (SPEC 4.8's table). n_samples and
 * min_distance as in SPEC 2 (-1: off); task and score are copied (used by
 * coral and active_learning); seed is random's. Replaces what p held.
 */
void plan_from_method(struct plan *p, enum method m, double n_samples, double min_distance,
		      const char *task, const char *score, uint64_t seed);

/* Releases what p owns and zeroes it; plan_free(NULL) is a no-op. */
void plan_free(struct plan *p);

/* k for n candidates: SIZE_MAX without a budget. */
size_t plan_budget_k(const struct plan *p, size_t n);

/* ceil(f*n - 1e-6), clamped to [0, n]: the fraction rule of SPEC 2 and 4.8. */
size_t plan_fraction_k(double f, size_t n);

/* The first entry with strategy st, or NULL: "does the plan have a DIVERSITY entry". */
const struct plan_entry *plan_find(const struct plan *p, enum plan_strategy st);

/*
 * The plan as Lightly's SelectionConfigV4 JSON (JSON names; every field
 * that the entry's input and strategy use, defaults filled), plus, for a
 * fixed plan, "method". Caller frees with cJSON_Delete.
 */
struct cJSON *plan_to_json(const struct plan *p);

/* Lightly's spellings ("EMBEDDINGS", "DIVERSITY", "SMALLER_EQUAL", ...); "?" out of range. */
const char *plan_input_name(enum plan_input in);
const char *plan_strategy_name(enum plan_strategy st);
const char *plan_operation_name(enum plan_operation op);
const char *plan_pred_name_name(enum plan_pred_name n);
const char *plan_distribution_name(enum plan_distribution d);

/* Whether SPEC 4.8 allows this input with this strategy (METADATA: numeric or category). */
bool plan_pair_allowed(enum plan_input in, enum plan_strategy st);

/*
 * The creator of the run's selection tag, a value of Lightly's TagCreator:
 * SAMPLER_RANDOM, _CORESET, _CORAL or _ACTIVE_LEARNING for the plan of a
 * 2.2-era method, USER_WORKER for a V4 plan. A static string.
 */
const char *plan_tag_creator(const struct plan *p);

#endif
