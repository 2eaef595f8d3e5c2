/*
 * pool: parallel for over an index range with pthreads.
 *
 * DESIGN. Worker threads are started once, on the first call that wants
 * them, and then park on a condition variable between calls: a selection
 * makes a few thousand parallel passes of a few milliseconds each, and on a
 * VM creating and joining threads for each one costs a noticeable part of a
 * pass. A call publishes its job under the mutex and bumps a generation
 * counter; each worker whose tid is below the job's thread count takes
 * chunks from the job's atomic counter like the caller (tid 0) does, and the
 * last one to finish signals the caller. Parked workers and the waiting
 * caller first spin briefly on the generation and the count, since the next
 * pass usually follows within microseconds, then sleep.
 *
 * One job runs on the pool at a time. A call that finds it busy (another
 * thread's job, or a call made from inside a job) runs as before, on threads
 * of its own, so any caller works from any thread. pool_stop() joins the
 * workers (it is registered with atexit); a child after fork() starts
 * without workers.
 */
#include "pool.h"

#include <cblas.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#define POOL_MAX 256		/* workers the shared pool grows to at most */
#define SPIN 1000		/* pauses (~20 us) before a parked worker or the caller sleeps */

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

struct pool_job {
	size_t n, chunk;
	atomic_size_t next;
	pool_fn fn;
	void *ud;
	volatile int *cancel;
};

static void run_chunks(struct pool_job *job, int tid)
{
	for (;;) {
		if (cancel_requested(job->cancel))
			break;
		size_t start = atomic_fetch_add(&job->next, job->chunk);
		if (start >= job->n)
			break;
		size_t end = start + job->chunk < job->n ? start + job->chunk : job->n;
		for (size_t i = start; i < end; i++)
			job->fn(i, tid, job->ud);
	}
}

static void job_init(struct pool_job *job, size_t n, int threads, pool_fn fn, void *ud,
		     volatile int *cancel)
{
	job->n = n;
	job->fn = fn;
	job->ud = ud;
	job->cancel = cancel;
	/* Small chunks keep the tail short; 1 item is fine for image-sized work. */
	job->chunk = n / ((size_t)threads * 64) + 1;
	if (job->chunk > 16)
		job->chunk = 16;
	atomic_init(&job->next, 0);
}

/* ---- the shared, persistent pool ---- */

static struct {
	pthread_mutex_t busy;	/* held by the call that owns the pool */
	pthread_mutex_t mu;	/* guards the fields below and the condition variables */
	pthread_cond_t wake, done;
	pthread_t tids[POOL_MAX];
	int nworkers;		/* started, tids 1..nworkers */
	bool stopping, registered;
	struct pool_job *job;
	int job_threads;
	atomic_uint gen;	/* bumped per job; workers wait for a change */
	atomic_int active;	/* workers still on the current job */
} P = {
	.busy = PTHREAD_MUTEX_INITIALIZER,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

/* True on the pool's workers, and on a caller while it runs a job of the pool. */
static _Thread_local bool in_pool;

static void *worker_main(void *arg)
{
	int tid = (int)(intptr_t)arg;
	unsigned seen = 0;

	in_pool = true;
	for (;;) {
		unsigned g;
		int spins = 0;
		while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen &&
		       spins < SPIN) {
			CPU_RELAX();
			spins++;
		}
		if (g == seen) {
			pthread_mutex_lock(&P.mu);
			while ((g = atomic_load(&P.gen)) == seen && !P.stopping)
				pthread_cond_wait(&P.wake, &P.mu);
			pthread_mutex_unlock(&P.mu);
		}
		/*
		 * The generation and its job are read together: a worker that was
		 * not needed for one job may wake only after the next was posted,
		 * and must join that one exactly once.
		 */
		pthread_mutex_lock(&P.mu);
		bool stop = P.stopping;
		struct pool_job *job = P.job;
		int nth = P.job_threads;
		seen = atomic_load(&P.gen);
		pthread_mutex_unlock(&P.mu);
		if (stop)
			break;
		if (job == NULL || tid >= nth)
			continue;	/* not needed for this job (and not counted in active) */
		run_chunks(job, tid);
		if (atomic_fetch_sub_explicit(&P.active, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&P.mu);
			pthread_cond_signal(&P.done);
			pthread_mutex_unlock(&P.mu);
		}
	}
	return NULL;
}

void pool_stop(void)
{
	pthread_mutex_lock(&P.busy);
	pthread_mutex_lock(&P.mu);
	P.stopping = true;
	pthread_cond_broadcast(&P.wake);
	pthread_mutex_unlock(&P.mu);
	for (int t = 1; t <= P.nworkers; t++)
		pthread_join(P.tids[t - 1], NULL);
	pthread_mutex_lock(&P.mu);
	P.nworkers = 0;
	P.stopping = false;
	pthread_mutex_unlock(&P.mu);
	pthread_mutex_unlock(&P.busy);
}

static void after_fork_child(void)
{
	/* The workers did not survive the fork; the locks are re-made free. */
	pthread_mutex_init(&P.busy, NULL);
	pthread_mutex_init(&P.mu, NULL);
	pthread_cond_init(&P.wake, NULL);
	pthread_cond_init(&P.done, NULL);
	P.nworkers = 0;
	P.stopping = false;
	P.job = NULL;
	atomic_store(&P.active, 0);
}

/* Starts workers up to tids [1, want); returns how many threads can run a job (>= 1). Holds busy. */
static int grow(int want)
{
	if (!P.registered) {
		P.registered = true;
		atexit(pool_stop);
		pthread_atfork(NULL, NULL, after_fork_child);
	}
	if (want > POOL_MAX)
		want = POOL_MAX;
	while (P.nworkers + 1 < want) {
		int tid = P.nworkers + 1;
		if (pthread_create(&P.tids[tid - 1], NULL, worker_main, (void *)(intptr_t)tid) != 0)
			break;	/* run with fewer threads; the work still gets done */
		P.nworkers++;
	}
	return P.nworkers + 1;
}

static void run_shared(size_t n, int threads, pool_fn fn, void *ud, volatile int *cancel)
{
	struct pool_job job;

	int avail = grow(threads);
	if (avail < threads)
		threads = avail;
	job_init(&job, n, threads, fn, ud, cancel);
	pthread_mutex_lock(&P.mu);
	P.job = &job;
	P.job_threads = threads;
	atomic_store(&P.active, threads - 1);
	atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
	pthread_cond_broadcast(&P.wake);
	pthread_mutex_unlock(&P.mu);

	in_pool = true;
	run_chunks(&job, 0);
	in_pool = false;

	for (int spins = 0; atomic_load_explicit(&P.active, memory_order_acquire) > 0 && spins < SPIN;
	     spins++)
		CPU_RELAX();
	pthread_mutex_lock(&P.mu);
	while (atomic_load(&P.active) > 0)
		pthread_cond_wait(&P.done, &P.mu);
	P.job = NULL;
	P.job_threads = 0;
	pthread_mutex_unlock(&P.mu);
}

/* ---- threads of a call's own, when the shared pool is busy ---- */

struct own_worker {
	struct pool_job *job;
	int tid;
};

static void *own_main(void *arg)
{
	struct own_worker *w = arg;
	run_chunks(w->job, w->tid);
	return NULL;
}

static void run_own(size_t n, int threads, pool_fn fn, void *ud, volatile int *cancel)
{
	struct pool_job job;
	struct own_worker *ws = xcalloc((size_t)threads, sizeof(*ws));
	pthread_t *tids = xcalloc((size_t)threads, sizeof(*tids));
	int started = 1;

	job_init(&job, n, threads, fn, ud, cancel);
	for (int t = 0; t < threads; t++) {
		ws[t].job = &job;
		ws[t].tid = t;
	}
	for (int t = 1; t < threads; t++) {
		if (pthread_create(&tids[t], NULL, own_main, &ws[t]) != 0)
			break;	/* run with fewer threads; the work still gets done */
		started++;
	}
	run_chunks(&job, 0);
	for (int t = 1; t < started; t++)
		pthread_join(tids[t], NULL);
	free(ws);
	free(tids);
}

int pool_for(size_t n, int threads, pool_fn fn, void *ud, volatile int *cancel)
{
	if (threads < 1)
		threads = 1;
	if ((size_t)threads > n)
		threads = n > 0 ? (int)n : 1;
	if (threads == 1) {
		struct pool_job job;
		job_init(&job, n, 1, fn, ud, cancel);
		run_chunks(&job, 0);
	} else if (!in_pool && pthread_mutex_trylock(&P.busy) == 0) {
		run_shared(n, threads, fn, ud, cancel);
		pthread_mutex_unlock(&P.busy);
	} else {
		run_own(n, threads, fn, ud, cancel);
	}
	return cancel_requested(cancel) ? -ECANCELED : 0;
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_serial_once(void)
{
	openblas_set_num_threads(1);
}

void blas_serial(void)
{
	pthread_once(&blas_once, blas_serial_once);
}
