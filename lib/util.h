/*
 * util: allocation that cannot fail (out of memory is fatal), growable string
 * vectors and buffers, small file helpers, a monotonic clock.
 */
#ifndef WINNOW_UTIL_H
#define WINNOW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation: abort with a message on out-of-memory; never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/*
 * xcalloc(n, size) for a large array written soon after: blocks of 4 MiB and
 * more are asked to use transparent huge pages (a hint), so touching them
 * costs hundreds of page faults, not hundreds of thousands. Freed with free().
 */
void *xcalloc_huge(size_t n, size_t size);
/* The same hint for bytes at p (from malloc or realloc); small blocks are left alone. */
void huge_hint(void *p, size_t bytes);
/*
 * bytes from aligned_alloc (free with free): 64-byte aligned, or 2 MiB
 * aligned with a huge-page hint from 2 MiB up. Aborts when out of memory.
 */
void *xalloc_aligned(size_t bytes);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into err (errlen bytes, truncating); err NULL or errlen 0: nothing. */
void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Wipes a secret string before its memory goes back to the allocator, then frees it; NULL is fine. */
void free_secret(char *s);
char *xvasprintf(const char *fmt, va_list ap);

/* A vector of owned strings. strvec_free(NULL) is a no-op. */
struct strvec {
	char **v;
	size_t n, cap;
};
void strvec_push(struct strvec *sv, const char *s);	/* copies s */
void strvec_pushf(struct strvec *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void strvec_take(struct strvec *sv, char *s);	/* takes ownership of s */
void strvec_free(struct strvec *sv);		/* frees the strings, resets sv */

/* A growable byte buffer, always NUL-terminated. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* Reads up to n bytes from fd (fewer only at EOF); the count or a negative errno. */
ssize_t read_full(int fd, void *buf, size_t n);

/*
 * Reads an open regular file of st_size bytes (from fstat) to its end into a
 * NUL-terminated buffer the caller frees; more than max_bytes is -EFBIG. The
 * fd is borrowed. Returns 0 or a negative errno.
 */
int read_fd(int fd, uint64_t st_size, size_t max_bytes, char **out, size_t *len);

/*
 * Read a whole file into a NUL-terminated buffer the caller frees. Refuses
 * files larger than max_bytes with -EFBIG. Returns 0 or a negative errno.
 */
int read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* Write a file atomically (temp file + fsync + rename). Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const void *data, size_t len);

/*
 * The same without fsync: readers never see a partial file, but after a power
 * loss the file may be empty or short. For files that carry their own
 * checksum and can be rebuilt (checkpoints).
 */
int write_file_replace(const char *path, const void *data, size_t len);

/* mkdir -p. Returns 0 or a negative errno. */
int mkdir_p(const char *path, unsigned mode);

/* Seconds on the monotonic clock. */
double now_seconds(void);
/*
 * Exponential backoff with jitter: first * 2^step, at most cap, times a
 * random factor in [0.5, 1] so that retries from many clients spread out.
 */
double backoff_delay(int step, double first, double cap);

/* C-style escape of a byte string (non-printables as \n, \t, \xNN); caller frees. */
char *escape_bytes(const char *s);

/* True when s is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);

/* Number of online CPUs (at least 1). */
int cpu_count(void);

/*
 * A cancel flag: set by one thread (or a signal handler), polled by others.
 * Relaxed atomics: no ordering is needed, only a read that is not a data race.
 * NULL flags are never set.
 */
static inline bool cancel_requested(volatile int *flag)
{
	return flag != NULL && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}

static inline void cancel_request(volatile int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELAXED);
}

#endif
