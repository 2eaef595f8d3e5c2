/*
 * fuzz_config: the run config parser (lib/config.c) on arbitrary bytes.
 * A config that parses must also print its effective JSON, and that JSON
 * must parse again to the same effective config (defaults filled twice
 * change nothing).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_config cfg;
	struct strvec errors = { 0 };

	config_methods_with_scores = true;
	if (config_parse((const char *)data, size, &cfg, &errors) == 0) {
		char *eff = config_effective_json(&cfg);
		struct run_config again;
		struct strvec errors2 = { 0 };

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
