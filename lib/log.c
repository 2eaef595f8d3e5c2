/*
 * log: the one small log API of winnow. Lines are written with a single
 * write(2) so that lines from several threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *prog = "winnow";
static enum log_level max_lvl = LOG_LVL_INFO;
static int tty = -1;

void log_init(const char *progname, enum log_level max_level)
{
	prog = progname;
	max_lvl = max_level;
	/* Under systemd (JOURNAL_STREAM set) or when piped, use journald prefixes. */
	tty = isatty(STDERR_FILENO) && getenv("JOURNAL_STREAM") == NULL;
}

void log_set_level(enum log_level max_level)
{
	max_lvl = max_level;
}

const char *log_level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR: return "ERROR";
	case LOG_LVL_WARNING: return "WARNING";
	case LOG_LVL_NOTICE:
	case LOG_LVL_INFO: return "INFO";
	case LOG_LVL_DEBUG: return "DEBUG";
	}
	return "INFO";
}

static void emit(enum log_level lvl, const char *msg, const char *suffix)
{
	struct buf b = { 0 };

	if (lvl > max_lvl)
		return;
	if (tty < 0)
		tty = isatty(STDERR_FILENO) && getenv("JOURNAL_STREAM") == NULL;
	if (tty) {
		buf_printf(&b, "%s: ", prog);
		if (lvl <= LOG_LVL_ERR)
			buf_puts(&b, "error: ");
		else if (lvl == LOG_LVL_WARNING)
			buf_puts(&b, "warning: ");
	} else {
		buf_printf(&b, "<%d>", (int)lvl);
	}
	buf_puts(&b, msg);
	if (suffix)
		buf_printf(&b, ": %s", suffix);
	buf_puts(&b, "\n");
	ssize_t r = write(STDERR_FILENO, b.data, b.len);
	(void)r;
	buf_free(&b);
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char *m = xvasprintf(fmt, ap);

	emit(lvl, m, NULL);
	free(m);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	emit(LOG_LVL_WARNING, m, strerror(saved));
	free(m);
}

#define LOG_FN(name, lvl) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_vmsg(lvl, fmt, ap); \
		va_end(ap); \
	}
LOG_FN(log_warnx, LOG_LVL_WARNING)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
