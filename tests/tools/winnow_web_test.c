/*
 * winnow_web_test: winnow-web with its store seam (web/db.h, db_step_fn) set
 * to a fault injector, for the Python suites; never installed. It links
 * every object of winnow-web but main.o, and web/main.c compiled again with
 * its main renamed winnow_web_main (Makefile), so the server it runs is the
 * one users run. It reads, from its own environment only:
 *
 *   WINNOW_WEB_FAULTS=RULE[,RULE...]   RULE is KIND:every=N or KIND:row=N,
 *                                      KIND busy (SQLITE_BUSY), locked
 *                                      (SQLITE_LOCKED) or ioerr (SQLITE_IOERR)
 *
 * every=N: every Nth statement execution (its first step) fails with KIND
 * before SQLite runs it; a statement executed again right after itself on
 * the same thread (a loop's insert, one per sample) counts once, so that a
 * bulk request is as likely to fail as any other and a retry can pass; row=N: every Nth later step (the next row of a
 * statement already answering rows) fails, after the statement has given
 * rows, and the statement is reset as SQLite leaves one after an error.
 * The counters are process-wide and atomic (connections run on many
 * threads); with several rules the first that fires wins. Then it runs
 * winnow-web with its arguments. A value that does not parse is an error
 * (exit 2): a test that meant to inject faults must not run without them.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "web/db.h"

int winnow_web_main(int argc, char **argv);

#define MAX_RULES 8

static struct rule {
	int code;		/* the SQLite code a fault returns */
	bool rows;		/* counts later steps (row=), else first steps (every=) */
	unsigned long every;
	atomic_ulong n;
} rules[MAX_RULES];
static int nrules;

static int faulty_step(sqlite3_stmt *st)
{
	static _Thread_local sqlite3_stmt *last;	/* the thread's last statement run */
	bool later = sqlite3_stmt_busy(st) != 0, again = !later && st == last;

	if (!later)
		last = st;
	for (int i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		if (r->rows != later || again)
			continue;
		if ((atomic_fetch_add(&r->n, 1) + 1) % r->every == 0) {
			/* As SQLite leaves a statement whose step failed: reset
			   (db_step resets it again, which is harmless). */
			sqlite3_reset(st);
			return r->code;
		}
	}
	return sqlite3_step(st);
}

static int parse_rule(const char *s, size_t len)
{
	static const struct {
		const char *name;
		int code;
	} kinds[] = { { "busy", SQLITE_BUSY }, { "locked", SQLITE_LOCKED }, { "ioerr", SQLITE_IOERR } };
	char buf[64], *colon, *end;

	if (len == 0 || len >= sizeof(buf) || nrules == MAX_RULES)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((colon = strchr(buf, ':')) == NULL)
		return -1;
	*colon++ = '\0';
	struct rule *r = &rules[nrules];
	r->code = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(buf, kinds[i].name) == 0)
			r->code = kinds[i].code;
	if (r->code == 0)
		return -1;
	if (strncmp(colon, "every=", 6) == 0) {
		r->rows = false;
		colon += 6;
	} else if (strncmp(colon, "row=", 4) == 0) {
		r->rows = true;
		colon += 4;
	} else {
		return -1;
	}
	errno = 0;
	unsigned long n = strtoul(colon, &end, 10);
	if (errno != 0 || end == colon || *end != '\0' || n == 0 || colon[0] == '-')
		return -1;
	r->every = n;
	atomic_init(&r->n, 0);
	nrules++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *v = getenv("WINNOW_WEB_FAULTS");

	if (v != NULL) {
		for (const char *p = v;;) {
			size_t len = strcspn(p, ",");
			if (parse_rule(p, len) < 0) {
				fprintf(stderr, "winnow-web-test: WINNOW_WEB_FAULTS=%s: expected "
					"KIND:every=N or KIND:row=N (KIND busy, locked or ioerr; "
					"N > 0), comma-separated, at most %d\n", v, MAX_RULES);
				return 2;
			}
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
		db_step_fn = faulty_step;
		fprintf(stderr, "winnow-web-test: store faults on: %s\n", v);
	}
	return winnow_web_main(argc, argv);
}
