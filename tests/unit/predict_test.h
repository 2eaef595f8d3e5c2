/*
 * Helpers shared by the prediction tests (test_predict, test_predvec): a
 * datasource folder in the cwd and files in it, JSON written with ' for ".
 */
#ifndef WINNOW_TEST_PREDICT_TEST_H
#define WINNOW_TEST_PREDICT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

/* root/rel, with the folders on the way created. */
static inline void put_bytes(const char *root, const char *rel, const char *data, size_t len)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	free(dir);
	free(p);
}

/* Writes text with every ' turned into ". */
static inline void jput(const char *root, const char *rel, const char *text)
{
	char *t = xstrdup(text);
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	put_bytes(root, rel, t, strlen(t));
	free(t);
}

/* A fresh datasource folder named name in the cwd; returns its path (caller frees). */
static inline char *mkroot(const char *name)
{
	char cwd[2048];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *root = xasprintf("%s/%s", cwd, name);
	assert_int_equal(mkdir_p(root, 0755), 0);
	return root;
}

static inline void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

#endif
