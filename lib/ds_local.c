/*
 * ds_local: the LOCAL datasource backend, a folder.
 *
 * DESIGN: every open goes through openat2(RESOLVE_BENEATH) from a descriptor
 * of the root, so the kernel itself refuses ".." and symlinks that leave the
 * root, with no race between a check and the open. RESOLVE_BENEATH also
 * refuses absolute links; for those (and only those) the path is resolved with
 * realpath() and its prefix checked, so an absolute link to a file inside the
 * root is followed as SPEC 3 says, and that place is opened beneath the
 * root again following no link (RESOLVE_NO_SYMLINKS), so a link swapped in
 * between fails the open rather than leave. Kernels without openat2 (before
 * 5.6) resolve the path with realpath(), check the prefix, open it, and check
 * the path the kernel holds for the descriptor (/proc/self/fd) after the
 * open, so a concurrent swap is caught there too. Listing never follows links to folders, so a
 * link loop cannot make it spin.
 */
#include "ds_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ds_local {
	int rootfd;		/* O_PATH|O_DIRECTORY of the root */
};

static int openat2_ok = 1;	/* cleared on the first ENOSYS */

static int rootfd(const struct dataset *ds)
{
	return ((const struct ds_local *)ds->impl)->rootfd;
}

/* The path the kernel holds for fd (no link in it), or -errno. */
static int fd_path(int fd, char *out, size_t len)
{
	char link[32];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, len - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

static bool beneath(const char *root, const char *real)
{
	size_t rl = strlen(root);

	return strcmp(root, "/") == 0 ||
		(strncmp(real, root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0'));
}

/*
 * An absolute link (which RESOLVE_BENEATH refuses), or a kernel without
 * openat2: the path is resolved only to learn where it leads. With openat2
 * that place is then opened beneath the root following no link at all, so a
 * swap in between fails the open; without it the file is opened and the
 * place the kernel holds for the descriptor is checked after the open.
 */
static int open_beneath_fallback(const struct dataset *ds, const char *relpath, int flags)
{
	char rootreal[PATH_MAX], real[PATH_MAX];
	char *full = NULL;
	int fd = -1, err = 0;

	if (fd_path(rootfd(ds), rootreal, sizeof(rootreal)) < 0 &&
	    realpath(ds->root, rootreal) == NULL) {
		err = -errno;
		goto out;
	}
	full = xasprintf("%s/%s", rootreal, relpath);
	if (realpath(full, real) == NULL) {
		err = -errno;
		goto out;
	}
	if (!beneath(rootreal, real)) {
		err = -EXDEV;
		goto out;
	}
	if (openat2_ok) {
		const char *rel = real + (strcmp(rootreal, "/") == 0 ? 1 : strlen(rootreal));
		while (*rel == '/')
			rel++;
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long lfd = syscall(SYS_openat2, rootfd(ds), rel[0] ? rel : ".", &how, sizeof(how));
		if (lfd < 0)
			err = errno == ELOOP ? -EXDEV : -errno;
		else
			fd = (int)lfd;
		goto out;
	}
	fd = open(real, flags | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fd_path(fd, real, sizeof(real)) < 0 || !beneath(rootreal, real)) {
		close(fd);
		fd = -1;
		err = -EXDEV;
	}
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
		long fd = syscall(SYS_openat2, rootfd(ds), relpath, &how, sizeof(how));
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

/* Opens relpath read-only beneath the root, handing back its stat. */
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

static int local_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
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

/* Beneath the root as every open: a link out of it is -EXDEV, not its target's stat. */
static int local_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	int fd = open_beneath(ds, relpath, O_PATH);

	if (fd < 0)
		return fd;
	int rc = fstat(fd, st) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

struct local_stream {
	struct ds_stream base;
	int fd;
};

static ssize_t local_stream_read(struct ds_stream *s, void *buf, size_t n)
{
	return read_full(((struct local_stream *)s)->fd, buf, n);
}

static int local_stream_seek(struct ds_stream *s, uint64_t off)
{
	return lseek(((struct local_stream *)s)->fd, (off_t)off, SEEK_SET) < 0 ? -errno : 0;
}

static void local_stream_close(struct ds_stream *s)
{
	close(((struct local_stream *)s)->fd);
	free(s);
}

static int local_stream_open(const struct dataset *ds, const char *relpath, struct ds_stream **out)
{
	struct stat st;
	int fd = openat_stat(ds, relpath, &st);

	if (fd < 0)
		return fd;
	struct local_stream *ls = xcalloc(1, sizeof(*ls));
	ls->base.read = local_stream_read;
	ls->base.close = local_stream_close;
	ls->base.seek = local_stream_seek;
	ls->base.size = (uint64_t)st.st_size;
	ls->fd = fd;
	*out = &ls->base;
	return 0;
}

/* Is the listing past dataset.h's list_deadline (or cut short already)? */
static bool list_cut(struct dataset *ds)
{
	if (!ds->list_truncated && ds->list_deadline > 0 && now_seconds() > ds->list_deadline)
		ds->list_truncated = true;
	return ds->list_truncated;
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

		if (list_cut(ds)) {
			errno = 0;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		rel = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
		if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (dataset_is_listed_name(de->d_name)) {
				char *r = xasprintf("cannot read: %s", strerror(errno));
				ds_add_excluded(ds, rel, r);
				free(r);
			}
			free(rel);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int err = list_dir(ds, dirfd, rel, depth + 1);
			if (err < 0) {
				char *r = xasprintf("cannot read folder: %s", strerror(-err));
				ds_add_excluded(ds, rel, r);
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
		if (!dataset_is_listed_name(de->d_name)) {
			free(rel);
			continue;
		}
		if (!dataset_name_supported(rel)) {
			ds_add_excluded(ds, rel, "unsupported file name");
			free(rel);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			int lfd = open_beneath(ds, rel, O_PATH);
			if (lfd < 0) {
				char *r = lfd == -EXDEV ? xstrdup("symlink escapes the datasource")
					: xasprintf("cannot read: %s", strerror(-lfd));
				ds_add_excluded(ds, rel, r);
				free(r);
				free(rel);
				continue;
			}
			close(lfd);
		} else if (!S_ISREG(st.st_mode)) {
			ds_add_excluded(ds, rel, "not a regular file");
			free(rel);
			continue;
		}
		if (ds->list_max > 0 && ds->files.n >= ds->list_max) {
			/* One image more than list_max: the listing is cut short. */
			ds->list_truncated = true;
			free(rel);
			errno = 0;
			break;
		}
		strvec_take(&ds->files, rel);
	}
	int err = errno ? -errno : 0;
	closedir(d);
	return err;
}

static int local_list(struct dataset *ds, char *err, size_t errlen)
{
	int rc = list_dir(ds, rootfd(ds), "", 0);

	if (rc < 0)
		snprintf(err, errlen, "cannot list %s: %s", ds->root, strerror(-rc));
	return rc;
}

/* LOCAL: every regular file under the folder rel of dirfd, for dataset_tree. */
static void local_tree(int dirfd, const char *rel, struct strvec *out, int depth)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (fd < 0)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat sb;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", rel, de->d_name);
		if (fstatat(dirfd, p, &sb, 0) == 0) {
			if (S_ISDIR(sb.st_mode) && depth < 16)
				local_tree(dirfd, p, out, depth + 1);
			else if (S_ISREG(sb.st_mode))
				strvec_pushf(out, "%s\t%lld\t%lld.%09ld", p, (long long)sb.st_size,
					     (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
		}
		free(p);
	}
	closedir(dir);
}

static void local_tree_rel(const struct dataset *ds, const char *rel, struct strvec *out)
{
	local_tree(rootfd(ds), rel, out, 0);
}

/* Opens a folder beneath the root without following a link out of it. */
static int open_dir_beneath(const struct dataset *ds, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd(ds), rel, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 5.6: follow no link at all, one component at a time. */
	char *path = xstrdup(rel), *save = NULL;
	int dfd = dup(rootfd(ds));
	for (char *comp = strtok_r(path, "/", &save); comp != NULL && dfd >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		int next = strcmp(comp, "..") == 0 ? -1
			: openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		dfd = next;
	}
	free(path);
	return dfd >= 0 ? dfd : -ENOENT;
}

#define WALK_MAX_DEPTH 256

/* dataset_walk below dirfd (prefix: its path from the root); takes dirfd. */
static void walk_dir(const struct dataset *ds, int dirfd, const char *prefix, int depth,
		     dataset_walk_cb cb, void *ud)
{
	DIR *d;
	struct dirent *de;

	if (depth > WALK_MAX_DEPTH) {
		close(dirfd);
		return;
	}
	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		/* d_type spares a stat per file; only filesystems without it need one. */
		switch (de->d_type) {
		case DT_DIR: st.st_mode = S_IFDIR; break;
		case DT_REG: st.st_mode = S_IFREG; break;
		case DT_LNK: st.st_mode = S_IFLNK; break;
		case DT_UNKNOWN:
			if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			break;
		default: continue;
		}
		char *rel = xasprintf("%s/%s", prefix, de->d_name);
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				walk_dir(ds, fd, rel, depth + 1, cb, ud);
		} else if (S_ISREG(st.st_mode)) {
			cb(ud, rel);
		} else if (S_ISLNK(st.st_mode)) {
			/* A link to a file inside the root; never one to a folder. */
			struct stat tst;
			int fd = openat_stat(ds, rel, &tst);
			if (fd >= 0) {
				close(fd);
				cb(ud, rel);
			}
		}
		free(rel);
	}
	closedir(d);
}

static void local_walk(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud)
{
	int dfd = open_dir_beneath(ds, rel);

	if (dfd >= 0)
		walk_dir(ds, dfd, rel, 0, cb, ud);
}

static void local_close(struct dataset *ds)
{
	close(rootfd(ds));
	free(ds->impl);
}

const struct ds_backend ds_local_backend = {
	.list = local_list,
	.stat = local_stat,
	.read = local_read,
	.stream_open = local_stream_open,
	.walk = local_walk,
	.tree = local_tree_rel,
	.close = local_close,
};

int dataset_open(struct dataset *ds, const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	struct ds_local *l = xcalloc(1, sizeof(*l));
	l->rootfd = fd;
	ds_init(ds, root, &ds_local_backend, l);
	return 0;
}

int dataset_open_fd(struct dataset *ds, int fd, const char *root)
{
	struct ds_local *l = xcalloc(1, sizeof(*l));

	l->rootfd = fd;
	ds_init(ds, root, &ds_local_backend, l);
	return 0;
}
