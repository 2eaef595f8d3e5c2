/*
 * dsroot: where a LOCAL datasource's fullPath lies (SPEC 3). The web app
 * resolves it under its --dataset-root folders, winnowd under its own
 * dataset_roots (daemon config): a relative fullPath (Lightly's form,
 * relative to where its local server serves) under the first root that
 * holds it as a folder, an absolute one as it is; either way the folder's
 * real path (symbolic links resolved) must lie beneath that root, so `..`
 * and links cannot leave it.
 */
#ifndef WINNOW_DSROOT_H
#define WINNOW_DSROOT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Resolves full_path against roots[0..nroots-1] (any form; each is
 * realpath'd here). On success writes the folder's real path to out and
 * returns 0. Else returns -ENOENT (no root holds such a folder), -EXDEV (it
 * leaves its root, or an absolute path lies under no root), -EINVAL (a `..`
 * part, an empty root list for a relative path) with a message in err that
 * names fullPath.
 */
int dsroot_resolve(char *const *roots, size_t nroots, const char *full_path, char *out,
		   size_t outlen, char *err, size_t errlen);

/*
 * As dsroot_resolve, but opens the folder beneath its root instead of
 * resolving it (never resolve-then-open: see lib/dsroot.c), so a folder
 * swapped for a link out of the root after any check is refused at the open.
 * Returns an O_PATH|O_DIRECTORY descriptor of the folder (the caller closes
 * it) and writes its path to out; else a negative errno as dsroot_resolve.
 */
int dsroot_open(char *const *roots, size_t nroots, const char *full_path, char *out,
		size_t outlen, char *err, size_t errlen);

/* Tests only: behave as on a kernel without openat2 (the O_NOFOLLOW walk). */
extern bool dsroot_no_openat2;

#endif
