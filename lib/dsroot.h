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

#endif
