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
 * the waiter compares against, so no wake-up is lost.
 *
 * A waiting poll holds no thread: the server parks its suspended connection
 * here (longpoll_park) and one timer thread, started on the first park, hands
 * it back (the wake callback re-queues the request to a handler thread) when
 * the generation moves, its deadline passes or the server stops. The timer
 * sleeps on the same condition variable until the earliest deadline. So a
 * thousand waiting workers cost a thousand small records, no handler thread
 * and no database connection. longpoll_wait, the blocking form, is kept for
 * callers without a server (it holds its caller's thread). longpoll_close,
 * called before the server stops, ends every wait and park at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "longpoll.h"
#include "util.h"

struct parked {
	uint64_t seen;
	double deadline;
	void (*wake)(void *);
	void *arg;
	struct parked *next;
};
static struct parked *parked;
static pthread_t timer;
static bool timer_started;

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

static void *timer_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&mu);
	for (;;) {
		struct parked *ready = NULL, **pp = &parked;
		double now = now_seconds(), first = now + 3600;
		while (*pp != NULL) {
			struct parked *p = *pp;
			if (gen != p->seen || closing || p->deadline <= now) {
				*pp = p->next;
				p->next = ready;
				ready = p;
			} else {
				if (p->deadline < first)
					first = p->deadline;
				pp = &p->next;
			}
		}
		if (ready != NULL) {
			pthread_mutex_unlock(&mu);
			while (ready != NULL) {
				struct parked *p = ready;
				ready = p->next;
				p->wake(p->arg);
				free(p);
			}
			pthread_mutex_lock(&mu);
			continue;
		}
		/* Sleep until the earliest deadline (monotonic, like now_seconds). */
		struct timespec dl = { .tv_sec = (time_t)first,
				       .tv_nsec = (long)((first - (double)(time_t)first) * 1e9) };
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &dl);
	}
	return NULL;
}

bool longpoll_park(uint64_t seen, double deadline, void (*wake)(void *), void *arg)
{
	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	if (gen != seen || closing || deadline <= now_seconds()) {
		pthread_mutex_unlock(&mu);
		return false;
	}
	if (!timer_started) {
		if (pthread_create(&timer, NULL, timer_main, NULL) != 0) {
			pthread_mutex_unlock(&mu);
			return false;
		}
		pthread_detach(timer);
		timer_started = true;
	}
	struct parked *p = xcalloc(1, sizeof(*p));
	p->seen = seen;
	p->deadline = deadline;
	p->wake = wake;
	p->arg = arg;
	p->next = parked;
	parked = p;
	pthread_cond_broadcast(&cv);	/* the timer looks at the new deadline */
	pthread_mutex_unlock(&mu);
	return true;
}
