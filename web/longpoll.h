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

/* The server stops: wakes every waiter, and later waits return at once. */
void longpoll_close(void);

#endif
