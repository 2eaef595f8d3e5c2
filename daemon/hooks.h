/*
 * hooks: winnowd's test seams. The production binary leaves every field zero
 * (NULL) and reads nothing for them. The test driver tests/tools/winnowd_test.c
 * ($(BUILD)/tests/tools/winnowd-test, built for `make check` only, linking
 * the same objects as winnowd but for main.c) fills them from its own
 * environment and then runs daemon_main, so a test can hold a stage, slow
 * every image, shorten the waits between attempts and heartbeats, or cap the
 * HTTP timeouts, without a switch in the binary users run.
 */
#ifndef WINNOWD_HOOKS_H
#define WINNOWD_HOOKS_H

#include <stdbool.h>

struct wd_hooks {
	long retry_ms;		/* the wait between a run's attempts; 0: 10 s */
	long heartbeat_ms;	/* the heartbeat interval; 0: HEARTBEAT_MS */
	long http_timeout_cap_s;	/* a cap on every request's timeout; 0: none */
	/*
	 * On a run's thread, at each progress report (every 32 images and the
	 * last of a stage).
	 */
	void (*progress)(int stage);
	/*
	 * On a run's thread as a stage begins, after its state is posted: may
	 * hold the stage, and must return soon once cancelled(arg) is true (a
	 * drain or an abort).
	 */
	void (*stage_begin)(int stage, bool (*cancelled)(void *arg), void *arg);
};

extern struct wd_hooks wd_hooks;

#endif
