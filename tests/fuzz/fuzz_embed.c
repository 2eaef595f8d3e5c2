/*
 * fuzz_embed: the embeddings CSV parser, through lib/embed.h only
 * (emb_table_parse, emb_table_find, emb_table_free), so that it keeps
 * working whatever the parser's internals become. A table that parses must
 * hold finite values, unique names, and find each of its rows by name.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emb_table t;
	char err[512];
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);

	memcpy(text, data, size);
	memset(&t, 0, sizeof(t));
	if (emb_table_parse(text, size, "fuzz.csv", &t, err, sizeof(err)) == 0) {
		if (t.n > 0 && t.d == 0)
			abort();
		for (size_t i = 0; i < t.n * t.d; i++)
			if (!isfinite(t.rows[i]))
				abort();
		for (size_t i = 0; i < t.n; i++)
			if (emb_table_find(&t, t.names[i]) != (long)i)
				abort();
	} else if (err[0] == '\0') {
		abort();
	}
	emb_table_free(&t);
	free(text);
	return 0;
}
