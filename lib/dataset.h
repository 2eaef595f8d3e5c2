/*
 * dataset: a datasource (SPEC 3): list its images in bytewise path order,
 * apply relevant_filenames_file, and read files without ever leaving the
 * root. LOCAL: a folder (symlinks are resolved beneath it, never out of it).
 * S3: a bucket prefix (dataset_open_s3); the listing, reads and existence
 * checks work the same, and the image pass may prefetch objects many at a
 * time (dataset_prefetch_start).
 */
#ifndef WINNOW_DATASET_H
#define WINNOW_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3.h"
#include "util.h"

struct stat;
struct ds_s3;

struct ds_excluded {
	char *path;	/* C-escaped when the raw name is unprintable */
	char *reason;
};

struct dataset {
	char *root;		/* as given */
	int rootfd;		/* O_PATH|O_DIRECTORY of the root; -1 for S3 */
	struct ds_s3 *s3;	/* NULL: LOCAL */
	struct strvec files;	/* image paths relative to root, sorted bytewise */
	struct ds_excluded *excluded;
	size_t nexcluded, excluded_cap;
	size_t relevant_missing;	/* plain names in relevant_filenames_file not found */
	size_t relevant_skipped;	/* images listed but not matched by it */
	struct strvec folder_links;	/* symlinks to folders, not followed (escaped) */
};

/*
 * Opens the root folder. Returns 0 or a negative errno (-ENOENT, -ENOTDIR,
 * -EACCES); ds is then untouched. Free with dataset_close.
 */
int dataset_open(struct dataset *ds, const char *root);

/*
 * Opens "s3://bucket[/prefix]" with the settings in conf (borrowed). Makes
 * no request: a missing bucket or wrong credentials show at dataset_list.
 * Returns 0 or -EINVAL with a message in err; ds is then untouched.
 */
int dataset_open_s3(struct dataset *ds, const char *url, const struct s3_conf *conf,
		    char *err, size_t errlen);

/*
 * Lists the images. relevant may be NULL or "" (all images). Returns 0, or a
 * negative errno with a message in err (errlen bytes) when the listing itself
 * fails (relevant_filenames_file missing or unreadable, root unreadable).
 */
int dataset_list(struct dataset *ds, const char *relevant, char *err, size_t errlen);

/*
 * Opens root/relpath read-only beneath the root: ".." and symlinks that leave
 * the root fail with -EXDEV. Returns an fd or a negative errno.
 */
int dataset_openat(const struct dataset *ds, const char *relpath);

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
 * Size and modification time of relpath (for S3 only st_mode, st_size and
 * st_mtim: from the listing, or a HEAD request before dataset_list).
 * Returns 0 or a negative errno.
 */
int dataset_stat(const struct dataset *ds, const char *relpath, struct stat *st);

/*
 * Every file below the folder rel, as "path TAB size TAB mtime" lines,
 * appended to out (for the checkpoints' keys): S3's listed objects, or a
 * LOCAL folder's regular files (links followed, 16 levels at most).
 */
void dataset_tree(const struct dataset *ds, const char *rel, struct strvec *out);

/*
 * S3 only (a no-op returning 0 for LOCAL): starts fetching paths[0..n-1]
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

/* S3: the message of the latest failed request (copied into buf), else "". */
const char *dataset_last_error(const struct dataset *ds, char *buf, size_t len);

/* S3: ListObjectsV2 calls made by dataset_list (0 for LOCAL). */
size_t dataset_list_requests(const struct dataset *ds);

void dataset_close(struct dataset *ds);

/* False for paths that are not UTF-8 or hold TAB, CR, LF or a comma (SPEC 3). */
bool dataset_name_supported(const char *path);

/* True for .jpg .jpeg .png .webp .bmp, any case. */
bool dataset_is_image_name(const char *name);

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
