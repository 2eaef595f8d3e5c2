/*
 * s3: a small client for S3-compatible object storage (AWS S3, MinIO, Ceph,
 * s3rver) on libcurl: SigV4 signing, ListObjectsV2 with continuation
 * tokens, GETs of whole objects, one at a time or many in flight on a multi
 * handle, retries on 5xx and throttling.
 *
 * Functions return 0 or a negative errno; the ones that talk to the server
 * also write a message for people in err (never a secret):
 *   -ENOENT        NoSuchBucket, NoSuchKey (and 404)
 *   -EACCES        AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch (and 403)
 *   -ECONNREFUSED  the endpoint refused the connection
 *   -EHOSTUNREACH  the endpoint's name does not resolve or its host is unreachable
 *   -ETIMEDOUT     no answer in time
 *   -EFBIG         an object larger than the caller's limit
 *   -EIO           any other failure, after the retries
 * s3_transient() tells which of them a later retry could fix.
 */
#ifndef WINNOW_S3_H
#define WINNOW_S3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settings; every string is borrowed by s3_new, which copies them. */
struct s3_conf {
	const char *endpoint;	/* "http://host:port" or "https://..."; NULL or "": AWS */
	const char *region;	/* NULL or "": us-east-1 */
	const char *access_key_id;
	const char *secret_access_key;
	int path_style;		/* 1: http://host/bucket/key, 0: http://bucket.host/key,
				   -1: path style with a custom endpoint, else virtual host */
};

struct s3;

/* A client for one bucket. Returns 0 or -EINVAL (err says why). Free with s3_free. */
int s3_new(const struct s3_conf *c, const char *bucket, struct s3 **out, char *err, size_t errlen);
void s3_free(struct s3 *s);

/* Splits "s3://bucket/prefix" into bucket and prefix (both malloc'd; prefix may be ""). */
int s3_parse_url(const char *url, char **bucket, char **prefix);

struct s3_object {
	char *key;
	uint64_t size;
	int64_t mtime;		/* LastModified, unix seconds; 0 when absent */
	char *etag;		/* may be NULL */
};

/*
 * Lists every object whose key starts with prefix, following continuation
 * tokens. *objs (free with s3_objects_free) are in the server's order
 * (bytewise by key on S3). *requests, when not NULL, gets the number of
 * ListObjectsV2 calls made.
 */
int s3_list(struct s3 *s, const char *prefix, struct s3_object **objs, size_t *n,
	    size_t *requests, char *err, size_t errlen);
void s3_objects_free(struct s3_object *objs, size_t n);

/*
 * GETs one object into a buffer the caller frees (NUL-terminated; *len
 * excludes the NUL); -EFBIG when it is larger than max_bytes. Thread-safe:
 * any number of threads may call it on one client.
 */
int s3_get(struct s3 *s, const char *key, size_t max_bytes, uint8_t **buf, size_t *len,
	   char *err, size_t errlen);

/*
 * GETs bytes [off, off + n) of one object into dst (n bytes): *got is how
 * many came (fewer when the object is shorter). -EFBIG when the server sends
 * more than n (it ignored the range). Thread-safe as s3_get.
 */
int s3_get_range(struct s3 *s, const char *key, uint64_t off, size_t n, uint8_t *dst, size_t *got,
		 char *err, size_t errlen);

/* HEAD of one object: its size and Last-Modified (unix seconds, 0 when absent). */
int s3_head(struct s3 *s, const char *key, uint64_t *size, int64_t *mtime, char *err,
	    size_t errlen);

/*
 * Called once per key of s3_get_many, from the thread that called it, in
 * completion order. buf is handed over (the callee frees it; NULL on error,
 * with rc < 0 and a message in err).
 */
typedef void (*s3_got_cb)(void *ud, size_t i, int rc, uint8_t *buf, size_t len, const char *err);

struct s3_many_opts {
	int max_inflight;		/* requests at once; <= 0: 16 */
	size_t max_buffered;		/* bytes; 0: 64 MiB */
	size_t max_object;		/* larger objects get -EFBIG; 0: 1 GiB */
	const uint64_t *sizes;		/* expected sizes (from the listing), or NULL */
	/*
	 * Bytes delivered and not yet released by the consumer (it subtracts
	 * what it frees), or NULL. No request starts while this plus the bytes
	 * in flight would pass max_buffered, unless nothing is in flight or held.
	 */
	atomic_size_t *held;
	volatile int *cancel;		/* non-zero: stop starting requests and return */
};

/*
 * GETs keys[0..n-1] with up to max_inflight requests at once on one multi
 * handle, starting them in index order; calls got for each. Returns 0 when
 * every key was delivered (each with its own rc), -ECANCELED when cancelled.
 */
int s3_get_many(struct s3 *s, char *const *keys, size_t n, const struct s3_many_opts *o,
		s3_got_cb got, void *ud);

/* True for errors a later retry could fix (connection, timeout, 5xx). */
bool s3_transient(int rc);

/* RFC 3986 percent-encoding; '/' is kept when keep_slash. Caller frees. */
char *s3_uri_encode(const char *s, bool keep_slash);

#endif
