/*
 * longpoll: the wait behind GET /v1/docker/worker/{id}/schedule?wait=S.
 */
#ifndef WINNOW_WEB_LONGPOLL_H
#define WINNOW_WEB_LONGPOLL_H

#include <stdbool.h>
#include <stdint.h>

/* The generation now; read it before querying for OPEN runs. */
uint64_t longpoll_gen(void);

/* A scheduled run became OPEN (call after its row is committed): wakes every waiter. */
void longpoll_bump(void);

/*
 * Sleeps until the generation moves past seen (true), or secs pass or the
 * server stops (false).
 */
bool longpoll_wait(uint64_t seen, double secs);

/*
 * Parks a waiter without a thread: wake(arg) is called once, from the
 * long-poll timer thread, when the generation moves past seen, at deadline
 * (now_seconds() clock) or when the server stops. Returns false (and never
 * calls wake) when any of these is already so: the caller goes on at once.
 */
bool longpoll_park(uint64_t seen, double deadline, void (*wake)(void *), void *arg);

/* The server stops: wakes every waiter, and later waits return at once. */
void longpoll_close(void);

#endif
