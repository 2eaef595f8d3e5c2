/*
 * log: one line per event on stderr, with a level prefix journald understands
 * (<3> error .. <7> debug) when stderr is not a terminal, "winnowd: warning: "
 * style when it is. Never pass a token or a URL holding one.
 */
#ifndef WINNOW_LOG_H
#define WINNOW_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Program name shown in terminal mode ("winnowd"). */
void log_init(const char *progname, enum log_level max_level);
void log_set_level(enum log_level max_level);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "ERROR", "WARNING", "INFO", "DEBUG" (the web app's log levels). */
const char *log_level_name(enum log_level lvl);

#endif
