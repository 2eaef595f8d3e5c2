/*
 * dsroot: a LOCAL datasource's fullPath resolved under dataset roots
 * (lib/dsroot.h).
 */
#include "dsroot.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Is real (a resolved path) the resolved root or beneath it? */
static bool beneath(const char *root, const char *real)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return true;
	return strncmp(real, root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s += n;
		while (*s == '/')
			s++;
	}
	return false;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int dsroot_resolve(char *const *roots, size_t nroots, const char *full_path, char *out,
		   size_t outlen, char *err, size_t errlen)
{
	char real[PATH_MAX], rroot[PATH_MAX];
	bool escaped = false;

	if (has_dotdot(full_path)) {
		snprintf(err, errlen, "fullPath: \"%.200s\" has a \"..\" part", full_path);
		return -EINVAL;
	}
	if (full_path[0] == '/') {
		if (realpath(full_path, real) == NULL || !is_dir(real)) {
			snprintf(err, errlen, "fullPath: %.200s is not an existing folder", full_path);
			return -ENOENT;
		}
		for (size_t i = 0; i < nroots; i++)
			if (realpath(roots[i], rroot) != NULL && beneath(rroot, real))
				goto found;
		snprintf(err, errlen, "fullPath: %.200s is not beneath a dataset root of this %s",
			 full_path, nroots ? "server" : "server (none is set)");
		return -EXDEV;
	}
	if (nroots == 0) {
		snprintf(err, errlen, "fullPath: \"%.200s\" is relative and no dataset root is set",
			 full_path);
		return -EINVAL;
	}
	for (size_t i = 0; i < nroots; i++) {
		char cand[PATH_MAX];
		if (realpath(roots[i], rroot) == NULL)
			continue;
		int n = snprintf(cand, sizeof(cand), "%s/%s", rroot, full_path);
		if (n < 0 || (size_t)n >= sizeof(cand) || realpath(cand, real) == NULL || !is_dir(real))
			continue;
		if (beneath(rroot, real))
			goto found;
		escaped = true;	/* a symbolic link out of this root */
	}
	if (escaped) {
		snprintf(err, errlen, "fullPath: \"%.200s\" leaves its dataset root (a symbolic link)",
			 full_path);
		return -EXDEV;
	}
	snprintf(err, errlen, "fullPath: no dataset root holds a folder \"%.200s\"", full_path);
	return -ENOENT;
found:
	if (strlen(real) >= outlen) {
		snprintf(err, errlen, "fullPath: %.200s: path too long", full_path);
		return -ENAMETOOLONG;
	}
	memcpy(out, real, strlen(real) + 1);
	return 0;
}
