/*
 * config: the run config of SPEC 2: parse, fill defaults, validate. Every
 * error names the JSON path, the value and what is allowed; all errors of a
 * config are reported together.
 */
#ifndef WINNOW_CONFIG_H
#define WINNOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "util.h"

struct cJSON;

/* Which methods this build accepts (coral and active_learning need the scorers). */
extern bool config_methods_with_scores;

struct run_config {
	bool enable_corruptness_check;		/* default true */
	bool remove_exact_duplicates;		/* default true */
	enum method method;			/* default coreset */
	double n_samples;			/* -1 off; (0,1] fraction; >= 2 count */
	double min_distance;			/* -1 off; >= 0 */
	char *scorer;				/* "object-frequency" or "" */
	double frequency_penalty;		/* 0.25 */
	double min_score;			/* 0.9 */
	char *al_task_name;			/* "" */
	char *al_score_name;			/* "uncertainty_margin" */
	bool al_score_name_given;		/* false when the default was filled in */
	char *embeddings;			/* "" */
	bool normalize_embeddings;		/* true */
	char *relevant_filenames_file;		/* "" */
	char *datapool_name;			/* NULL when null/absent */
	bool datapool_keep_history;		/* true; local mode keeps the previous datapool file */
	uint64_t max_pixels;			/* 178956970 */
	uint64_t seed;				/* 1 */
	uint64_t sequence_length;		/* 1: frames; L > 1: sequences of L frames (SPEC 3.1) */
	struct strvec warnings;			/* accepted keys without effect, set */
	struct cJSON *effective;		/* the docker object, defaults filled */
	struct cJSON *lightly;			/* the lightly object as given, or NULL */
	bool v4;				/* a V4 config (SPEC 2.1): the plan as written */
	struct plan plan;			/* what to select, both dialects (SPEC 4.8) */
};

/*
 * Parse a config from JSON text: either {"docker": {...}, "lightly": {...}}
 * or the bare docker object. On success returns 0 and fills cfg (free with
 * config_free). On failure returns -EINVAL and appends one message per error
 * to errors ("docker.method: \"foo\" is not one of ..."); cfg is then freed.
 * The text is the wrapped form when its top level has a key "docker",
 * "lightly" or "workerType" (none is a docker key), else the bare docker
 * object; paths in messages start with "docker." in both forms. json need
 * not be NUL-terminated; it is borrowed. Lightly keys without effect set to
 * a non-default value add a message to cfg->warnings ("docker.dump_dataset:
 * true has no effect in winnow"). seed and max_pixels are integers up to
 * 2^32-1; datapool.name is null or [A-Za-z0-9._-]{1,128} not starting
 * with '.'.
 */
int config_parse(const char *json, size_t len, struct run_config *cfg, struct strvec *errors);

/*
 * config_parse on a file's contents (at most 16 MiB); a read error is one
 * message "PATH: <strerror>" in errors and its negative errno is returned.
 * Syntax errors name the file instead of "config".
 */
int config_load_file(const char *path, struct run_config *cfg, struct strvec *errors);

/* Defaults only (the config "{}"). */
void config_defaults(struct run_config *cfg);

void config_free(struct run_config *cfg);

/* k for n candidates: SIZE_MAX when n_samples is -1, else SPEC 2's rule. */
size_t config_budget(const struct run_config *cfg, size_t n);

/* The selection plan (borrowed from cfg): later code asks it instead of cfg->method. */
const struct plan *config_plan(const struct run_config *cfg);

/* Effective config (cfg->effective) as compact JSON text; caller frees with free(). */
char *config_effective_json(const struct run_config *cfg);

/* selected_sequence_length's upper bound. */
#define SEQUENCE_LENGTH_MAX 100000

#endif
