/*
 * longpoll: a worker's poll may wait for work instead of coming back empty,
 * so that a run starts as soon as it is scheduled whatever the worker's poll
 * interval.
 *
 * DESIGN: one generation counter, bumped after a scheduled run's OPEN row is
 * committed, under a mutex with a condition variable on CLOCK_MONOTONIC. A
 * waiter reads the generation before it queries; when the query finds
 * nothing it sleeps until the generation moves. A run committed before the
 * query is seen by the query; one committed after it bumps the generation
 * the waiter compares against, so no wake-up is lost. Each waiting poll holds
 * one of libmicrohttpd's connection threads (thread per connection) and no
 * database connection. longpoll_close, called before the server stops, ends
 * the waits so that the server's threads can be joined at once.
 */
#include <pthread.h>
#include <time.h>

#include "longpoll.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t gen;
static bool closing;

static void init_cv(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &a);
	pthread_condattr_destroy(&a);
}

uint64_t longpoll_gen(void)
{
	pthread_mutex_lock(&mu);
	uint64_t g = gen;
	pthread_mutex_unlock(&mu);
	return g;
}

void longpoll_bump(void)
{
	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	gen++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

bool longpoll_wait(uint64_t seen, double secs)
{
	struct timespec dl;
	bool moved;

	pthread_once(&once, init_cv);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)secs;
	dl.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (gen == seen && !closing)
		if (pthread_cond_timedwait(&cv, &mu, &dl) != 0)
			break;	/* ETIMEDOUT */
	moved = gen != seen;
	pthread_mutex_unlock(&mu);
	return moved;
}

void longpoll_close(void)
{
	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	closing = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}
