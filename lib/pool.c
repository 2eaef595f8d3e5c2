/*
 * pool: parallel for over an index range with pthreads.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

struct pool_job {
	size_t n, chunk;
	atomic_size_t next;
	pool_fn fn;
	void *ud;
	volatile int *cancel;
};

struct pool_worker {
	struct pool_job *job;
	int tid;
};

static void *pool_run(void *arg)
{
	struct pool_worker *w = arg;
	struct pool_job *job = w->job;

	for (;;) {
		if (job->cancel != NULL && *job->cancel)
			break;
		size_t start = atomic_fetch_add(&job->next, job->chunk);
		if (start >= job->n)
			break;
		size_t end = start + job->chunk < job->n ? start + job->chunk : job->n;
		for (size_t i = start; i < end; i++)
			job->fn(i, w->tid, job->ud);
	}
	return NULL;
}

int pool_for(size_t n, int threads, pool_fn fn, void *ud, volatile int *cancel)
{
	struct pool_job job = { .n = n, .fn = fn, .ud = ud, .cancel = cancel };

	if (threads < 1)
		threads = 1;
	if ((size_t)threads > n)
		threads = n > 0 ? (int)n : 1;
	/* Small chunks keep the tail short; 1 item is fine for image-sized work. */
	job.chunk = n / ((size_t)threads * 64) + 1;
	if (job.chunk > 16)
		job.chunk = 16;
	atomic_init(&job.next, 0);

	struct pool_worker *ws = xcalloc((size_t)threads, sizeof(*ws));
	pthread_t *tids = xcalloc((size_t)threads, sizeof(*tids));
	int started = 1;
	for (int t = 0; t < threads; t++) {
		ws[t].job = &job;
		ws[t].tid = t;
	}
	for (int t = 1; t < threads; t++) {
		if (pthread_create(&tids[t], NULL, pool_run, &ws[t]) != 0)
			break;	/* run with fewer threads; the work still gets done */
		started++;
	}
	pool_run(&ws[0]);
	for (int t = 1; t < started; t++)
		pthread_join(tids[t], NULL);
	free(ws);
	free(tids);
	return cancel != NULL && *cancel ? -ECANCELED : 0;
}
