/*
 * fuzz_config: the run config parser (lib/config.c) on arbitrary bytes.
 * A config that parses must hold values config.h allows, and print its effective JSON, and that JSON
 * must parse again to the same effective config (defaults filled twice
 * change nothing).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_config cfg;
	struct strvec errors = { 0 };

	config_methods_with_scores = true;
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
