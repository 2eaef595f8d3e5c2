/*
 * winnowd_test: winnowd's daemon with its test seams set (daemon/hooks.h),
 * for the Python and browser suites; never installed. It links every object
 * of winnowd but main.c and reads, from its environment:
 *
 *   WINNOWD_TEST_DELAY_MS=<ms>            a sleep at each progress report of
 *                                         every stage (every 32 images)
 *   WINNOWD_TEST_STAGE_DELAY=<stage>:<ms> a hold at the start of that stage
 *                                         (images, selection, ...), which a
 *                                         drain or an abort ends early
 *   WINNOWD_TEST_RETRY_MS=<ms>            the wait between a run's attempts
 *   WINNOWD_TEST_HEARTBEAT_MS=<ms>        the heartbeat interval
 *   WINNOWD_TEST_HTTP_TIMEOUT_S=<s>       a cap on every request's timeout
 *
 * then runs the daemon as `winnowd [--config FILE]` would. A value that does
 * not parse is an error (exit 2): a test that meant to set a seam must not
 * run without it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hooks.h"
#include "log.h"
#include "pipeline.h"
#include "winnowd.h"

static long delay_ms;
static int hold_stage = -1;
static long hold_ms;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_progress(int stage)
{
	(void)stage;
	sleep_ms(delay_ms);
}

static void on_stage_begin(int stage, bool (*cancelled)(void *arg), void *arg)
{
	if (stage != hold_stage)
		return;
	for (long left = hold_ms; left > 0 && !cancelled(arg); left -= 50)
		sleep_ms(50);
}

/* A positive number from the environment; 0 when unset; -1 when malformed. */
static long env_ms(const char *name)
{
	const char *v = getenv(name);
	char *end;

	if (v == NULL)
		return 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n <= 0) {
		fprintf(stderr, "winnowd-test: %s=%s: not a positive number\n", name, v);
		return -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *hold = getenv("WINNOWD_TEST_STAGE_DELAY");

	log_init("winnowd", LOG_LVL_INFO);
	if ((delay_ms = env_ms("WINNOWD_TEST_DELAY_MS")) < 0 ||
	    (wd_hooks.retry_ms = env_ms("WINNOWD_TEST_RETRY_MS")) < 0 ||
	    (wd_hooks.heartbeat_ms = env_ms("WINNOWD_TEST_HEARTBEAT_MS")) < 0 ||
	    (wd_hooks.http_timeout_cap_s = env_ms("WINNOWD_TEST_HTTP_TIMEOUT_S")) < 0)
		return 2;
	if (delay_ms > 0)
		wd_hooks.progress = on_progress;
	if (hold != NULL) {
		const char *colon = strchr(hold, ':');
		for (int s = 0; colon != NULL && s < STAGE_COUNT; s++)
			if (strlen(stage_name((enum stage)s)) == (size_t)(colon - hold) &&
			    strncmp(hold, stage_name((enum stage)s), (size_t)(colon - hold)) == 0)
				hold_stage = s;
		char *end;
		hold_ms = colon ? strtol(colon + 1, &end, 10) : 0;
		if (hold_stage < 0 || hold_ms <= 0 || *end != '\0') {
			fprintf(stderr, "winnowd-test: WINNOWD_TEST_STAGE_DELAY=%s: want <stage>:<ms>\n", hold);
			return 2;
		}
		wd_hooks.stage_begin = on_stage_begin;
	}
	return daemon_main(argc, argv);
}
