/*
 * Helpers shared by the config and plan tests: JSON and expected messages
 * are written with ' for " (dq), and message lists are printed on failure.
 */
#ifndef WINNOW_TEST_CONFIG_TEST_H
#define WINNOW_TEST_CONFIG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util.h"

/* s with every ' turned into "; caller frees. */
static inline char *dq(const char *s)
{
	char *out = xstrdup(s);

	for (char *c = out; *c; c++)
		if (*c == '\'')
			*c = '"';
	return out;
}

static inline void print_errors(const char *title, const struct strvec *sv)
{
	print_message("%s (%zu):\n", title, sv->n);
	for (size_t i = 0; i < sv->n; i++)
		print_message("  %s\n", sv->v[i]);
}

#endif
