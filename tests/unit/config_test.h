/*
 * Helpers shared by the config and plan tests: JSON and expected messages
 * are written with ' for " (dq), and message lists are printed on failure.
 */
#ifndef WINNOW_TEST_CONFIG_TEST_H
#define WINNOW_TEST_CONFIG_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
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

/* Parses json (with ' for "), which must be valid; cfg is the caller's to free. */
static inline void parse_ok(const char *json, struct run_config *cfg)
{
	struct strvec errs = { 0 };
	char *j = dq(json);
	int rc = config_parse(j, strlen(j), cfg, &errs);

	if (rc != 0) {
		print_message("config: %s\n", j);
		print_errors("unexpected errors", &errs);
	}
	free(j);
	strvec_free(&errs);
	assert_int_equal(rc, 0);
	assert_non_null(cfg->effective);
}

/* Parses json, which must fail; returns its errors (caller frees). */
static inline struct strvec parse_fail(const char *json)
{
	struct strvec errs = { 0 };
	struct run_config cfg;
	char *j = dq(json);
	int rc = config_parse(j, strlen(j), &cfg, &errs);

	if (rc != -EINVAL)
		print_message("config should fail: %s\n", j);
	free(j);
	assert_int_equal(rc, -EINVAL);
	assert_true(errs.n > 0);
	/* A failed parse leaves nothing to free. */
	assert_null(cfg.effective);
	assert_null(cfg.scorer);
	assert_null(cfg.warnings.v);
	assert_int_equal(cfg.plan.nentries, 0);
	assert_null(cfg.plan.entries);
	return errs;
}

#endif
