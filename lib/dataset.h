/*
 * dataset: a LOCAL datasource (SPEC 3): list its images in bytewise path
 * order, apply relevant_filenames_file, and open files without ever leaving
 * the root (symlinks are resolved beneath it, never out of it).
 */
#ifndef WINNOW_DATASET_H
#define WINNOW_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct ds_excluded {
	char *path;	/* C-escaped when the raw name is unprintable */
	char *reason;
};

struct dataset {
	char *root;		/* as given */
	int rootfd;		/* O_PATH|O_DIRECTORY of the root */
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
