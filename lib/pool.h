/*
 * pool: a parallel for-loop over indices on a fixed number of threads. Work is
 * handed out in small chunks from an atomic counter, so uneven items (a large
 * PNG beside a small JPEG) balance themselves. The threads are kept parked
 * between calls, so a call costs a wake-up, not a thread start.
 */
#ifndef WINNOW_POOL_H
#define WINNOW_POOL_H

#include <stddef.h>

/* fn(i, tid, ud) for every i in [0, n); tid in [0, threads). */
typedef void (*pool_fn)(size_t i, int tid, void *ud);

/*
 * Runs fn over [0, n) on `threads` threads (the caller's thread is one of
 * them). Stops handing out work once *cancel is non-zero (cancel may be NULL).
 * Returns 0, or -ECANCELED when cancelled.
 */
int pool_for(size_t n, int threads, pool_fn fn, void *ud, volatile int *cancel);

/*
 * Joins the shared pool's parked workers (pool_for starts them again when
 * needed). Registered with atexit by the first pool_for that starts one;
 * not to be called from inside pool_for's fn.
 */
void pool_stop(void);

/*
 * OpenBLAS on one thread, once per process, before any BLAS or LAPACK call:
 * our pools are the parallelism (ARCHITECTURE), and OpenBLAS's own threads
 * would only compete with them (and, woken from two run threads at once,
 * write the same buffers).
 */
void blas_serial(void);

#endif
