/*
 * dataset: a datasource (SPEC 3): list its images in bytewise path order,
 * apply relevant_filenames_file, and read files without ever leaving the
 * root. One interface (list, stat, read a whole file under a size cap, open
 * a stream, prefetch) over its backends, each in its own file behind a table
 * of operations (lib/ds_backend.h): LOCAL, a folder (lib/ds_local.c: symlinks
 * are resolved beneath it, never out of it), and S3, a bucket prefix
 * (lib/ds_s3.c). Callers never learn which backend they have: the same
 * calls give the same answers on both.
 */
#ifndef WINNOW_DATASET_H
#define WINNOW_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3.h"
#include "util.h"

struct stat;
struct ds_backend;
struct ds_stream;

struct ds_excluded {
	char *path;	/* C-escaped when the raw name is unprintable */
	char *reason;
};

struct dataset {
	char *root;		/* as given */
	const struct ds_backend *be;	/* the backend's operations (lib/ds_backend.h) */
	void *impl;		/* the backend's state */
	struct strvec files;	/* image paths relative to root, sorted bytewise */
	struct ds_excluded *excluded;
	size_t nexcluded, excluded_cap;
	size_t relevant_missing;	/* plain names in relevant_filenames_file not found */
	size_t relevant_skipped;	/* images listed but not matched by it */
	struct strvec folder_links;	/* symlinks to folders, not followed (escaped) */
	/*
	 * Bounds of dataset_list for callers that must answer in time (the web
	 * app's browsing): at most list_max files (0: no bound) and, for LOCAL,
	 * no folder entry read after list_deadline (now_seconds(); 0: none).
	 * A listing cut short keeps the files found so far, sorted, and sets
	 * list_truncated. S3 lists every key first and keeps list_max of them.
	 */
	size_t list_max;
	double list_deadline;
	bool list_truncated;
};

/*
 * Opens the root folder. Returns 0 or a negative errno (-ENOENT, -ENOTDIR,
 * -EACCES); ds is then untouched. Free with dataset_close.
 */
int dataset_open(struct dataset *ds, const char *root);

/*
 * Opens the root folder already opened as fd (O_PATH|O_DIRECTORY, e.g. by
 * dsroot_open; taken: dataset_close closes it); root names it in messages.
 * Returns 0.
 */
int dataset_open_fd(struct dataset *ds, int fd, const char *root);

/*
 * Opens input by its form: "s3://bucket[/prefix]" (with s3conf, borrowed; NULL:
 * defaults and no credentials) or a folder. Returns 0 or a negative errno with
 * a message naming input in err; ds is then untouched.
 */
int dataset_open_url(struct dataset *ds, const char *input, const struct s3_conf *s3conf,
		     char *err, size_t errlen);

/*
 * As dataset_open_url, but when dirfd is not NULL the folder already opened
 * as *dirfd (by dsroot_open beneath its root; borrowed: duplicated here) is
 * used instead of opening input by path, which then only names it.
 */
int dataset_open_input(struct dataset *ds, const int *dirfd, const char *input,
		       const struct s3_conf *s3conf, char *err, size_t errlen);

/*
 * Opens "s3://bucket[/prefix]" with the settings in conf (borrowed). Makes
 * no request: a missing bucket or wrong credentials show at dataset_list.
 * Returns 0 or -EINVAL with a message in err; ds is then untouched.
 */
int dataset_open_s3(struct dataset *ds, const char *url, const struct s3_conf *conf,
		    char *err, size_t errlen);

/*
 * Makes ds one dataset of two open ones (SPEC 3's purposes): its images and
 * every path outside `.lightly/` from input, `.lightly/` from lightly
 * (lib/ds_overlay.c). Takes both (they are zeroed); returns 0.
 */
int dataset_open_overlay(struct dataset *ds, struct dataset *input, struct dataset *lightly);

/*
 * Lists the images. relevant may be NULL or "" (all images). Returns 0, or a
 * negative errno with a message in err (errlen bytes) when the listing itself
 * fails (relevant_filenames_file missing or unreadable, root unreadable).
 */
int dataset_list(struct dataset *ds, const char *relevant, char *err, size_t errlen);

/*
 * Reads root/relpath into a buffer the caller frees (NUL-terminated; *len
 * excludes the NUL). Refuses files larger than max_bytes with -EFBIG.
 * Returns 0 or a negative errno.
 */
int dataset_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		 uint8_t **buf, size_t *len);

/* True when relpath exists beneath the root as a regular file. */
bool dataset_exists(const struct dataset *ds, const char *relpath);

/*
 * Size and modification time of relpath, beneath the root as dataset_read
 * (-EXDEV when it leaves it); for S3 only st_mode, st_size and st_mtim: from
 * the listing, or a HEAD request before dataset_list. Returns 0 or a negative
 * errno.
 */
int dataset_stat(const struct dataset *ds, const char *relpath, struct stat *st);

/*
 * Opens relpath (a regular file beneath the root, as dataset_read) for
 * reading from the start in pieces, so a file of any size is never all in
 * memory: LOCAL reads the file, S3 makes ranged GETs of at most 8 MiB as the
 * reader asks. Returns 0 or a negative errno (-ENOENT, -EXDEV, -EISDIR, ...).
 */
int dataset_stream_open(const struct dataset *ds, const char *relpath, struct ds_stream **out);

/*
 * Reads up to n bytes into buf, fewer only at the end of the file. Returns
 * the count (0 at the end) or a negative errno; an S3 object that changed
 * size under the reader is -EIO.
 */
ssize_t dataset_stream_read(struct ds_stream *s, void *buf, size_t n);

/*
 * Moves the stream to byte off (<= its size): the next read starts there
 * (videos: a demuxer seeks). Returns 0 or a negative errno.
 */
int dataset_stream_seek(struct ds_stream *s, uint64_t off);

/* The file's size when it was opened. */
uint64_t dataset_stream_size(const struct ds_stream *s);

void dataset_stream_close(struct ds_stream *s);

/*
 * Calls cb with the path (from the root) of every file below the folder rel
 * whose name, at every level below rel, does not start with a dot: links to
 * folders are not followed, a link to a file counts only when it stays inside
 * the root, 256 levels at most; unreadable folders are skipped. The order is
 * the backend's. For counts that decide nothing.
 */
typedef void (*dataset_walk_cb)(void *ud, const char *rel);
void dataset_walk(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud);

/*
 * Every file below the folder rel, as "path TAB size TAB mtime" lines,
 * appended to out (for the checkpoints' keys): S3's listed objects, or a
 * LOCAL folder's regular files (links followed, 16 levels at most).
 */
void dataset_tree(const struct dataset *ds, const char *rel, struct strvec *out);

/*
 * Where reads cost a request each (S3; a no-op returning 0 for LOCAL): starts fetching paths[0..n-1]
 * (borrowed until dataset_prefetch_stop) in that order on a background
 * thread, up to 16 requests and 64 MiB in flight or unread; dataset_read of
 * one of them then takes its bytes (waiting for them when they are on the
 * way). Paths absent from the listing cost no request. Each is handed out
 * once: a second read fetches it again. Readers should ask roughly in order
 * (pool_for's order), so the window moves on. One prefetch at a time per
 * dataset (-EBUSY); the const is the callers' (the prefetch is S3 state).
 */
int dataset_prefetch_start(const struct dataset *ds, char *const *paths, size_t n);
void dataset_prefetch_stop(const struct dataset *ds);

/*
 * The message of the latest failed request to a remote datasource (copied
 * into buf), else "" (always "" for LOCAL).
 */
const char *dataset_last_error(const struct dataset *ds, char *buf, size_t len);

/*
 * Requests made by dataset_list (S3's ListObjectsV2 calls; 0 for LOCAL), and
 * their name for the log ("ListObjectsV2"; NULL for LOCAL).
 */
size_t dataset_list_requests(const struct dataset *ds);
const char *dataset_list_request_name(const struct dataset *ds);

/*
 * True when the error rc of a read is the transport's (network, endpoint),
 * not the file's, so that a later attempt may succeed (never for LOCAL).
 */
bool dataset_transient(const struct dataset *ds, int rc);

/*
 * True when dataset_list's error rc is one no retry can fix: a missing root
 * or relevant_filenames_file (-ENOENT, -EXDEV, -EISDIR), and for S3 refused
 * credentials (-EACCES).
 */
bool dataset_list_permanent(const struct dataset *ds, int rc);

void dataset_close(struct dataset *ds);

/* False for paths that are not UTF-8 or hold TAB, CR, LF or a comma (SPEC 3). */
bool dataset_name_supported(const char *path);

/* True for .jpg .jpeg .png .webp .bmp, any case. */
bool dataset_is_image_name(const char *name);

/* True for .mp4 .mov .avi .mkv .webm, any case (SPEC 3.1). */
bool dataset_is_video_name(const char *name);

/* What the listing keeps: an image or a video name. */
bool dataset_is_listed_name(const char *name);

/*
 * relevant_filenames_file matching, exposed for tests: does `path` match
 * pattern (fnmatch-like: '*' and '?' stay within a folder, '**' spans
 * folders, [..] classes; a pattern that matches a folder of path matches
 * everything under it)?
 */
bool dataset_pattern_match(const char *pattern, const char *path);

/* Sorts a string vector bytewise (strcmp). */
void strvec_sort(struct strvec *sv);

#endif
