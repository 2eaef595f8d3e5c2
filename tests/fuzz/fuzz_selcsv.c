/*
 * fuzz_selcsv: the web app's reader of a run's selection.csv (web/selcsv.c),
 * a worker's upload read as hostile input. What an accepted file promises:
 * the header starts rank,filenames; every row has a non-empty name, each name
 * once; every value is a number or NaN (an empty field), never a NaN typed in;
 * rank an integer >= 1; selcsv_col finds each column by its name. A refused
 * file leaves out empty and says which line.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "selcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct selcsv s;
	char err[512] = "";

	if (size > SELCSV_MAX_BYTES)
		return 0;
	if (selcsv_parse((const char *)data, size, &s, err, sizeof(err)) != 0) {
		if (strncmp(err, "selection.csv", 13) != 0 || s.nrows != 0 || s.ncols != 0 ||
		    s.names != NULL || s.vals != NULL || s.cols != NULL)
			abort();
		return 0;
	}
	int rank = selcsv_col(&s, "rank");
	if (rank < 0 || s.ncols > SELCSV_MAX_COLS)
		abort();
	for (size_t c = 0; c < s.ncols; c++)
		if (selcsv_col(&s, s.cols[c]) != (int)c || s.cols[c][0] == '\0')
			abort();
	for (size_t i = 0; i < s.nrows; i++) {
		if (s.names[i] == NULL || s.names[i][0] == '\0')
			abort();
		for (size_t j = 0; j < i && s.nrows <= 64; j++)
			if (strcmp(s.names[i], s.names[j]) == 0)
				abort();
		double r = s.vals[i * s.ncols + (size_t)rank];
		if (!isnan(r) && (r < 1 || r != floor(r)))
			abort();
	}
	selcsv_free(&s);
	return 0;
}
