/*
 * fuzz_metadata: Lightly metadata files (lib/metadata.c), parsed for the
 * image "img/a.jpg" and four requests: "w.temp" as a number and as a
 * category, "s" as a category, "n" as a number. What an accepted file
 * promises: each value of the kind asked, numbers finite, categories
 * strings of at most META_CATEGORY_MAX bytes (or the shorter texts of
 * numbers and booleans), and the two readings of "w.temp" agreeing (a number
 * as a category is its %.17g text). A refused file names itself first.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct meta_request req[] = {
		{ "w.temp", META_NUMERIC }, { "w.temp", META_CATEGORY },
		{ "s", META_CATEGORY }, { "n", META_NUMERIC },
	};
	struct meta_value v[4];
	char err[512] = "";
	int rc = metadata_parse_file((const char *)data, size, "m/a.json", "img/a.jpg", req, 4, v,
				     err, sizeof(err));

	if (rc != 0) {
		if (strncmp(err, "m/a.json: ", 10) != 0)
			abort();
		for (size_t k = 0; k < 4; k++)
			if (v[k].type != MV_NONE || v[k].cat != NULL)
				abort();
		return 0;
	}
	for (size_t k = 0; k < 4; k++) {
		if (v[k].type == MV_NUM && (req[k].kind != META_NUMERIC || !isfinite(v[k].num)))
			abort();
		if (v[k].type == MV_CAT && (req[k].kind != META_CATEGORY || v[k].cat == NULL ||
					    strlen(v[k].cat) > META_CATEGORY_MAX))
			abort();
		if (v[k].type == MV_NONE && v[k].cat != NULL)
			abort();
	}
	/* Accepted as a number, so present as a category too, named by %.17g. */
	if (v[0].type == MV_NUM) {
		char t[40];
		snprintf(t, sizeof(t), "%.17g", v[0].num);
		if (v[1].type != MV_CAT || strcmp(v[1].cat, t) != 0)
			abort();
	}
	for (size_t k = 0; k < 4; k++)
		meta_value_clear(&v[k]);
	return 0;
}
