/*
 * dsroot: a LOCAL datasource's fullPath resolved under dataset roots
 * (lib/dsroot.h).
 *
 * DESIGN: dsroot_open never resolves a path and then opens it (a folder
 * swapped for a link between the two would be followed out of the root): it
 * opens the folder from a descriptor of the root with openat2(2) and
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so the kernel refuses, at the
 * open itself, "..", absolute links and links leaving the root. An absolute
 * link whose target lies inside the root (SPEC 3 follows those) is refused by
 * RESOLVE_BENEATH too: then the path is resolved with realpath() only to find
 * the candidate's place under the root, and that place is opened beneath the
 * root again with RESOLVE_NO_SYMLINKS, so a swap in between makes the open
 * fail rather than leave. Kernels without openat2 (before 5.6, ENOSYS) walk
 * the path one component at a time with O_NOFOLLOW: no link is followed at
 * all there.
 */
#include "dsroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Set to exercise the walk kernels without openat2 get (tests only). */
bool dsroot_no_openat2;

/* Without openat2: one component at a time, following no link at all. */
static int walk_nofollow(int rootfd, const char *rel)
{
	char path[PATH_MAX], *save = NULL;
	int dfd = dup(rootfd);

	if (dfd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s", rel);
	for (char *comp = strtok_r(path, "/", &save); comp != NULL;
	     comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		int next = strcmp(comp, "..") == 0 ? (errno = EXDEV, -1)
			: openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(dfd);
		if (next < 0)	/* a link: ELOOP or ENOTDIR with O_PATH|O_NOFOLLOW */
			return e == ELOOP || e == ENOTDIR ? -EXDEV : -e;
		dfd = next;
	}
	return dfd;
}

/* Opens the folder rel beneath rootfd (O_PATH). Returns the fd or a negative errno. */
static int open_beneath(int rootfd, const char *rel, uint64_t resolve)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve,
	};

	if (!dsroot_no_openat2) {
		long fd = syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return errno == ELOOP && (resolve & RESOLVE_NO_SYMLINKS) ? -EXDEV : -errno;
	}
	return walk_nofollow(rootfd, rel);
}

/* What follows root in path ("" for the root itself), or NULL when path is not beneath it. */
static const char *below(const char *root, const char *path)
{
	if (!beneath(root, path))
		return NULL;
	path += strcmp(root, "/") == 0 ? 0 : strlen(root);
	while (*path == '/')
		path++;
	return path;
}

/*
 * The folder rel beneath the root (rootfd; rroot its real path): opened
 * beneath it, or, for an absolute link RESOLVE_BENEATH refuses, at its
 * resolved place when that lies inside. -EXDEV when it leaves the root.
 */
static int open_in_root(int rootfd, const char *rroot, const char *rel)
{
	int fd = open_beneath(rootfd, rel, 0);
	char cand[PATH_MAX], real[PATH_MAX];

	if (fd != -EXDEV || dsroot_no_openat2)
		return fd;
	int n = snprintf(cand, sizeof(cand), "%s/%s", rroot, rel);
	if (n < 0 || (size_t)n >= sizeof(cand) || realpath(cand, real) == NULL)
		return -EXDEV;
	const char *inside = below(rroot, real);
	if (inside == NULL)
		return -EXDEV;
	return open_beneath(rootfd, inside, RESOLVE_NO_SYMLINKS);
}

int dsroot_open(char *const *roots, size_t nroots, const char *full_path, char *out,
		size_t outlen, char *err, size_t errlen)
{
	char rroot[PATH_MAX], real[PATH_MAX];
	bool escaped = false, absolute = full_path[0] == '/';

	if (has_dotdot(full_path)) {
		snprintf(err, errlen, "fullPath: \"%.200s\" has a \"..\" part", full_path);
		return -EINVAL;
	}
	if (!absolute && nroots == 0) {
		snprintf(err, errlen, "fullPath: \"%.200s\" is relative and no dataset root is set",
			 full_path);
		return -EINVAL;
	}
	for (size_t i = 0; i < nroots; i++) {
		int rootfd = open(roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			continue;
		char link[32];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", rootfd);
		ssize_t rl = readlink(link, rroot, sizeof(rroot) - 1);
		if (rl <= 0 && realpath(roots[i], rroot) == NULL) {
			close(rootfd);
			continue;
		}
		if (rl > 0)
			rroot[rl] = '\0';
		const char *rel = full_path;
		if (absolute) {
			/* Where the path lies under this root: as written, else as resolved. */
			rel = below(roots[i], full_path);
			if (rel == NULL)
				rel = below(rroot, full_path);
			if (rel == NULL && realpath(full_path, real) != NULL)
				rel = below(rroot, real);
			if (rel == NULL) {
				close(rootfd);
				continue;
			}
		}
		int fd = open_in_root(rootfd, rroot, rel);
		close(rootfd);
		if (fd == -EXDEV) {
			escaped = true;
			continue;
		}
		if (fd < 0)
			continue;
		/* The folder's path, for messages and cache keys: what the kernel holds. */
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		rl = readlink(link, real, sizeof(real) - 1);
		if (rl > 0)
			real[rl] = '\0';
		else if (snprintf(real, sizeof(real), "%s/%s", rroot, rel) >= (int)sizeof(real))
			real[0] = '\0';
		if (real[0] == '\0' || strlen(real) >= outlen) {
			close(fd);
			snprintf(err, errlen, "fullPath: %.200s: path too long", full_path);
			return -ENAMETOOLONG;
		}
		memcpy(out, real, strlen(real) + 1);
		return fd;
	}
	if (escaped) {
		snprintf(err, errlen, "fullPath: \"%.200s\" leaves its dataset root (a symbolic link)",
			 full_path);
		return -EXDEV;
	}
	if (absolute)
		snprintf(err, errlen, "fullPath: %.200s is not an existing folder beneath a dataset "
			 "root of this %s", full_path, nroots ? "server" : "server (none is set)");
	else
		snprintf(err, errlen, "fullPath: no dataset root holds a folder \"%.200s\"", full_path);
	return -ENOENT;
}
