/*
 * dataset: listing and safe opening of LOCAL datasources.
 *
 * DESIGN: every open goes through openat2(RESOLVE_BENEATH) from a descriptor
 * of the root, so the kernel itself refuses ".." and symlinks that leave the
 * root, with no race between a check and the open. RESOLVE_BENEATH also
 * refuses absolute links; for those (and only those) the path is resolved with
 * realpath() and its prefix checked, so an absolute link to a file inside the
 * root is followed as SPEC 3 says. Kernels without openat2
 * (before 5.6) fall back to resolving the path with realpath() and checking
 * the prefix, which is racy against a concurrent swap of a link but still
 * refuses every static escape. Listing never follows links to folders, so a
 * link loop cannot make it spin.
 */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_ok = 1;	/* cleared on the first ENOSYS */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort(struct strvec *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
}

bool dataset_is_image_name(const char *name)
{
	static const char *const exts[] = { ".jpg", ".jpeg", ".png", ".webp", ".bmp" };
	const char *dot = strrchr(name, '.');

	if (dot == NULL || dot == name)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (strcasecmp(dot, exts[i]) == 0)
			return true;
	return false;
}

static void add_excluded(struct dataset *ds, const char *path, const char *reason)
{
	if (ds->nexcluded == ds->excluded_cap) {
		ds->excluded_cap = ds->excluded_cap ? ds->excluded_cap * 2 : 16;
		ds->excluded = xreallocarray(ds->excluded, ds->excluded_cap, sizeof(*ds->excluded));
	}
	ds->excluded[ds->nexcluded].path = escape_bytes(path);
	ds->excluded[ds->nexcluded].reason = xstrdup(reason);
	ds->nexcluded++;
}

int dataset_open(struct dataset *ds, const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(ds, 0, sizeof(*ds));
	ds->root = xstrdup(root);
	ds->rootfd = fd;
	return 0;
}

void dataset_close(struct dataset *ds)
{
	if (ds == NULL || ds->root == NULL)
		return;
	close(ds->rootfd);
	free(ds->root);
	strvec_free(&ds->files);
	strvec_free(&ds->folder_links);
	for (size_t i = 0; i < ds->nexcluded; i++) {
		free(ds->excluded[i].path);
		free(ds->excluded[i].reason);
	}
	free(ds->excluded);
	memset(ds, 0, sizeof(*ds));
	ds->rootfd = -1;
}

static int open_beneath_fallback(const struct dataset *ds, const char *relpath, int flags)
{
	char rootreal[PATH_MAX], real[PATH_MAX];
	char *full = xasprintf("%s/%s", ds->root, relpath);
	int fd = -1, err = 0;

	if (realpath(ds->root, rootreal) == NULL || realpath(full, real) == NULL) {
		err = -errno;
		goto out;
	}
	size_t rl = strlen(rootreal);
	if (strncmp(real, rootreal, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
		err = -EXDEV;
		goto out;
	}
	fd = open(real, flags | O_CLOEXEC);
	if (fd < 0)
		err = -errno;
out:
	free(full);
	return err ? err : fd;
}

static int open_beneath(const struct dataset *ds, const char *relpath, int flags)
{
	if (relpath[0] == '/')
		return -EXDEV;
	if (openat2_ok) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, ds->rootfd, relpath, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/*
		 * RESOLVE_BENEATH refuses every absolute link, even one whose target
		 * lies inside the root; those get the path check below.
		 */
		if (errno == EXDEV)
			return open_beneath_fallback(ds, relpath, flags);
		if (errno != ENOSYS)
			return -errno;
		openat2_ok = 0;
	}
	return open_beneath_fallback(ds, relpath, flags);
}

/* dataset_openat, also handing back the file's stat. */
static int openat_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	int fd = open_beneath(ds, relpath, O_RDONLY | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return fd;
	/* A FIFO or device named like an image must not block or be read. */
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int err = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		return err;
	}
	return fd;
}

int dataset_openat(const struct dataset *ds, const char *relpath)
{
	struct stat st;

	return openat_stat(ds, relpath, &st);
}

bool dataset_exists(const struct dataset *ds, const char *relpath)
{
	int fd = dataset_openat(ds, relpath);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int dataset_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		 uint8_t **out, size_t *len)
{
	struct stat st;
	int fd = openat_stat(ds, relpath, &st);

	if (fd < 0)
		return fd;
	int err = read_fd(fd, (uint64_t)st.st_size, max_bytes, (char **)out, len);
	close(fd);
	return err;
}

bool dataset_name_supported(const char *path)
{
	return utf8_valid(path, strlen(path)) && strpbrk(path, "\t\r\n,") == NULL;
}

/* Recursive listing below dirfd; prefix is the relative path of that folder. */
static int list_dir(struct dataset *ds, int dirfd, const char *prefix, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd;

	if (depth > 256)
		return -ELOOP;
	fd = openat(dirfd, prefix[0] ? prefix : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		int err = -errno;
		close(fd);
		return err;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		char *rel;

		if (de->d_name[0] == '.')
			continue;
		rel = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
		if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (dataset_is_image_name(de->d_name)) {
				char *r = xasprintf("cannot read: %s", strerror(errno));
				add_excluded(ds, rel, r);
				free(r);
			}
			free(rel);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int err = list_dir(ds, dirfd, rel, depth + 1);
			if (err < 0) {
				char *r = xasprintf("cannot read folder: %s", strerror(-err));
				add_excluded(ds, rel, r);
				free(r);
			}
			free(rel);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			struct stat tst;
			if (fstatat(dirfd, rel, &tst, 0) == 0 && S_ISDIR(tst.st_mode)) {
				strvec_take(&ds->folder_links, escape_bytes(rel));
				free(rel);
				continue;
			}
		}
		if (!dataset_is_image_name(de->d_name)) {
			free(rel);
			continue;
		}
		if (!dataset_name_supported(rel)) {
			add_excluded(ds, rel, "unsupported file name");
			free(rel);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			int lfd = open_beneath(ds, rel, O_PATH);
			if (lfd < 0) {
				char *r = lfd == -EXDEV ? xstrdup("symlink escapes the datasource")
					: xasprintf("cannot read: %s", strerror(-lfd));
				add_excluded(ds, rel, r);
				free(r);
				free(rel);
				continue;
			}
			close(lfd);
		} else if (!S_ISREG(st.st_mode)) {
			add_excluded(ds, rel, "not a regular file");
			free(rel);
			continue;
		}
		strvec_take(&ds->files, rel);
	}
	int err = errno ? -errno : 0;
	closedir(d);
	return err;
}

/* Glob match of a whole string: '*' and '?' never match '/', '**' does. */
static bool glob_match(const char *p, const char *s)
{
	for (;;) {
		if (*p == '\0')
			return *s == '\0';
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			/* "**\/" also matches zero folders. */
			if (*p == '/' && glob_match(p + 1, s))
				return true;
			for (;; s++) {
				if (glob_match(p, s))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*p == '*') {
			p++;
			for (;; s++) {
				if (glob_match(p, s))
					return true;
				if (*s == '\0' || *s == '/')
					return false;
			}
		}
		if (*s == '\0')
			return false;
		if (*p == '?') {
			if (*s == '/')
				return false;
		} else if (*p == '[') {
			const char *end = strchr(p + 1 + (p[1] == ']'), ']');
			if (end == NULL) {
				if (*s != '[')
					return false;
			} else {
				char *cls = xasprintf("%.*s", (int)(end - p + 1), p);
				char ch[2] = { *s, 0 };
				bool m = *s != '/' && fnmatch(cls, ch, 0) == 0;
				free(cls);
				if (!m)
					return false;
				p = end;
			}
		} else if (*p == '\\' && p[1] != '\0') {
			p++;
			if (*p != *s)
				return false;
		} else if (*p != *s) {
			return false;
		}
		p++;
		s++;
	}
}

bool dataset_pattern_match(const char *pattern, const char *path)
{
	if (glob_match(pattern, path))
		return true;
	/* A pattern naming a folder covers everything under it. */
	char *tmp = xstrdup(path);
	bool m = false;
	for (char *slash = strrchr(tmp, '/'); slash != NULL && !m; slash = strrchr(tmp, '/')) {
		*slash = '\0';
		m = glob_match(pattern, tmp);
	}
	free(tmp);
	return m;
}

static bool has_wildcard(const char *p)
{
	return strpbrk(p, "*?[\\") != NULL;
}

static int apply_relevant(struct dataset *ds, const char *relevant, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	struct strvec pats = { 0 };
	int rc = dataset_read(ds, relevant, 64u << 20, &text, &len);

	if (rc < 0) {
		snprintf(err, errlen, "relevant_filenames_file %s: %s", relevant,
			 rc == -EXDEV ? "outside the datasource" : strerror(-rc));
		return rc;
	}
	for (char *line = (char *)text, *next; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		size_t l = strlen(line);
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		/* "./a.jpg" and "a.jpg" name the same file. */
		if (line[0] == '.' && line[1] == '/')
			line += 2;
		else if (line[0] == '!' && line[1] == '.' && line[2] == '/') {
			line += 2;
			line[0] = '!';
		}
		strvec_push(&pats, line);
	}
	free(text);

	/* The last pattern that matches decides, as in .gitignore. */
	struct strvec kept = { 0 };
	for (size_t i = 0; i < ds->files.n; i++) {
		bool in = false;
		for (size_t j = 0; j < pats.n; j++) {
			const char *p = pats.v[j];
			bool neg = p[0] == '!';
			if (dataset_pattern_match(neg ? p + 1 : p, ds->files.v[i]))
				in = !neg;
		}
		if (in)
			strvec_push(&kept, ds->files.v[i]);
		else
			ds->relevant_skipped++;
	}
	for (size_t j = 0; j < pats.n; j++) {
		const char *p = pats.v[j];
		if (p[0] == '!' || has_wildcard(p))
			continue;
		bool found = false;
		for (size_t i = 0; i < ds->files.n && !found; i++)
			found = dataset_pattern_match(p, ds->files.v[i]);
		if (!found)
			ds->relevant_missing++;
	}
	strvec_free(&ds->files);
	ds->files = kept;
	strvec_free(&pats);
	return 0;
}

static int cmp_excluded(const void *a, const void *b)
{
	return strcmp(((const struct ds_excluded *)a)->path, ((const struct ds_excluded *)b)->path);
}

int dataset_list(struct dataset *ds, const char *relevant, char *err, size_t errlen)
{
	int rc = list_dir(ds, ds->rootfd, "", 0);

	if (rc < 0) {
		snprintf(err, errlen, "cannot list %s: %s", ds->root, strerror(-rc));
		return rc;
	}
	strvec_sort(&ds->files);
	if (ds->nexcluded > 1)
		qsort(ds->excluded, ds->nexcluded, sizeof(*ds->excluded), cmp_excluded);
	if (relevant != NULL && relevant[0] != '\0')
		return apply_relevant(ds, relevant, err, errlen);
	return 0;
}
