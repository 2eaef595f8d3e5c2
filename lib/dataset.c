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
 *
 * S3: dataset_list lists every object below the prefix once (ListObjectsV2)
 * and keeps them sorted, so existence checks and the absent prediction files
 * of most images cost no request; reads are GETs. Object keys have no links
 * and no "..": a relpath with a ".." component is refused as leaving the
 * root, as for LOCAL. The image pass's prefetch runs s3_get_many on its own
 * thread and hands each object to the dataset_read that asks for it.
 */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_ok = 1;	/* cleared on the first ENOSYS */

static void s3_close(struct ds_s3 *s);
static int s3_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		   uint8_t **out, size_t *len);
static bool s3_exists(const struct dataset *ds, const char *relpath);
static int s3_list_all(struct dataset *ds, char *err, size_t errlen);
static int s3_stat(const struct dataset *ds, const char *relpath, struct stat *st);

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
	if (ds->s3 != NULL) {
		dataset_prefetch_stop(ds);
		s3_close(ds->s3);
	} else {
		close(ds->rootfd);
	}
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

	if (ds->s3 != NULL)
		return -ENOTSUP;
	return openat_stat(ds, relpath, &st);
}

bool dataset_exists(const struct dataset *ds, const char *relpath)
{
	if (ds->s3 != NULL)
		return s3_exists(ds, relpath);
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

	if (ds->s3 != NULL)
		return s3_read(ds, relpath, max_bytes, out, len);
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
	int rc = ds->s3 != NULL ? s3_list_all(ds, err, errlen) : list_dir(ds, ds->rootfd, "", 0);

	if (rc < 0 && ds->s3 != NULL)
		return rc;
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

int dataset_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	if (ds->s3 == NULL)
		return fstatat(ds->rootfd, relpath, st, 0) < 0 ? -errno : 0;
	return s3_stat(ds, relpath, st);
}

/* ---- S3 ------------------------------------------------------------------ */

struct ds_object {
	char *rel;		/* key without the prefix */
	uint64_t size;
	int64_t mtime;
};

struct pf_slot {
	uint8_t *buf;
	size_t len;
	int rc;
	bool ready, taken;
};

struct ds_prefetch {
	struct ds_s3 *s;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n;
	size_t nkeys;		/* the paths present in the listing: the ones fetched */
	char **keys;		/* their full keys, owned */
	size_t *map;		/* fetch index -> path index */
	char *const *rels;	/* borrowed */
	size_t *order;		/* indices sorted by rel, for lookups */
	uint64_t *sizes;
	struct pf_slot *slots;
	atomic_size_t held;
	volatile int stop;
	bool finished;
};

struct ds_s3 {
	struct s3 *client;
	char *prefix;		/* "" or ending in '/' */
	struct ds_object *objects;	/* sorted by rel */
	size_t nobjects;
	bool listed;
	size_t list_requests;
	struct ds_prefetch *pf;
	pthread_mutex_t mu;	/* guards last_error */
	char last_error[1024];
};

int dataset_open_s3(struct dataset *ds, const char *url, const struct s3_conf *conf,
		    char *err, size_t errlen)
{
	char *bucket, *prefix;
	struct s3 *client;

	if (s3_parse_url(url, &bucket, &prefix) < 0) {
		snprintf(err, errlen, "%s: not s3://bucket[/prefix]", url);
		return -EINVAL;
	}
	int rc = s3_new(conf, bucket, &client, err, errlen);
	free(bucket);
	if (rc < 0) {
		free(prefix);
		return rc;
	}
	memset(ds, 0, sizeof(*ds));
	ds->root = xstrdup(url);
	ds->rootfd = -1;
	ds->s3 = xcalloc(1, sizeof(*ds->s3));
	ds->s3->client = client;
	size_t pl = strlen(prefix);
	ds->s3->prefix = pl > 0 && prefix[pl - 1] != '/' ? xasprintf("%s/", prefix) : xstrdup(prefix);
	free(prefix);
	pthread_mutex_init(&ds->s3->mu, NULL);
	return 0;
}

static void s3_close(struct ds_s3 *s)
{
	for (size_t i = 0; i < s->nobjects; i++)
		free(s->objects[i].rel);
	free(s->objects);
	free(s->prefix);
	s3_free(s->client);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void s3_set_error(struct ds_s3 *s, const char *msg)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	pthread_mutex_unlock(&s->mu);
}

const char *dataset_last_error(const struct dataset *ds, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ds->s3 != NULL) {
		pthread_mutex_lock(&ds->s3->mu);
		snprintf(buf, len, "%s", ds->s3->last_error);
		pthread_mutex_unlock(&ds->s3->mu);
	}
	return buf;
}

size_t dataset_list_requests(const struct dataset *ds)
{
	return ds->s3 != NULL ? ds->s3->list_requests : 0;
}

static int cmp_object(const void *a, const void *b)
{
	return strcmp(((const struct ds_object *)a)->rel, ((const struct ds_object *)b)->rel);
}

static const struct ds_object *find_object(const struct ds_s3 *s, const char *rel)
{
	struct ds_object key = { .rel = (char *)rel };

	return bsearch(&key, s->objects, s->nobjects, sizeof(key), cmp_object);
}

/* A path with a ".." component, or an absolute one, would leave the root. */
static bool leaves_root(const char *rel)
{
	if (rel[0] == '/')
		return true;
	for (const char *p = rel; p != NULL; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

/* rel without its leading "./" components, as a LOCAL open reads it. */
static const char *plain_rel(const char *rel)
{
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	return rel;
}

/* The key of rel. */
static char *key_of(const struct ds_s3 *s, const char *rel)
{
	return xasprintf("%s%s", s->prefix, plain_rel(rel));
}

static int s3_list_all(struct dataset *ds, char *err, size_t errlen)
{
	struct ds_s3 *s = ds->s3;
	struct s3_object *objs;
	size_t n, plen = strlen(s->prefix);
	int rc = s3_list(s->client, s->prefix, &objs, &n, &s->list_requests, err, errlen);

	if (rc < 0) {
		s3_set_error(s, err);
		return rc;
	}
	s->objects = xcalloc(n ? n : 1, sizeof(*s->objects));
	for (size_t i = 0; i < n; i++) {
		const char *rel = objs[i].key + plen;
		size_t rl = strlen(rel);
		/* Folder markers ("a/") are no files. */
		if (strncmp(objs[i].key, s->prefix, plen) != 0 || rl == 0 || rel[rl - 1] == '/')
			continue;
		struct ds_object *o = &s->objects[s->nobjects++];
		o->rel = xstrdup(rel);
		o->size = objs[i].size;
		o->mtime = objs[i].mtime;
	}
	s3_objects_free(objs, n);
	qsort(s->objects, s->nobjects, sizeof(*s->objects), cmp_object);
	s->listed = true;

	for (size_t i = 0; i < s->nobjects; i++) {
		const char *rel = s->objects[i].rel;
		const char *base = strrchr(rel, '/');
		base = base ? base + 1 : rel;
		/* Names starting with a dot are skipped at any depth, as for LOCAL. */
		bool hidden = rel[0] == '.' || strstr(rel, "/.") != NULL;
		if (hidden || !dataset_is_image_name(base))
			continue;
		if (!dataset_name_supported(rel) || strstr(rel, "//") != NULL || leaves_root(rel)) {
			add_excluded(ds, rel, "unsupported file name");
			continue;
		}
		strvec_push(&ds->files, rel);
	}
	return 0;
}

static bool s3_exists(const struct dataset *ds, const char *relpath)
{
	const struct ds_s3 *s = ds->s3;

	if (leaves_root(relpath))
		return false;
	relpath = plain_rel(relpath);
	if (s->listed)
		return find_object(s, relpath) != NULL;
	uint8_t *buf;
	size_t len;
	if (s3_read(ds, relpath, (size_t)1 << 40, &buf, &len) < 0)
		return false;
	free(buf);
	return true;
}

/* Takes rel's bytes from the prefetch: true when it was (or is) on the way. */
static bool pf_take(struct ds_prefetch *pf, const char *rel, uint8_t **out, size_t *len, int *rc)
{
	size_t lo = 0, hi = pf->n, idx = SIZE_MAX;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(pf->rels[pf->order[mid]], rel);
		if (c == 0) {
			idx = pf->order[mid];
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (idx == SIZE_MAX)
		return false;
	struct pf_slot *sl = &pf->slots[idx];
	bool took = false;
	pthread_mutex_lock(&pf->mu);
	while (!sl->ready && !sl->taken && !pf->finished)
		pthread_cond_wait(&pf->cv, &pf->mu);
	if (sl->ready && !sl->taken) {
		sl->taken = true;
		*out = sl->buf;
		*len = sl->len;
		*rc = sl->rc;
		sl->buf = NULL;
		atomic_fetch_sub(&pf->held, sl->len);
		took = true;
	}
	pthread_mutex_unlock(&pf->mu);
	return took;
}

static int s3_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		   uint8_t **out, size_t *len)
{
	struct ds_s3 *s = ds->s3;
	char err[1024];
	int rc;

	if (leaves_root(relpath))
		return -EXDEV;
	relpath = plain_rel(relpath);
	if (s->listed) {
		const struct ds_object *o = find_object(s, relpath);
		if (o == NULL)
			return -ENOENT;
		if (o->size > max_bytes)
			return -EFBIG;
	}
	if (s->pf != NULL && pf_take(s->pf, relpath, out, len, &rc)) {
		if (rc == 0 && *len > max_bytes) {
			free(*out);
			return -EFBIG;
		}
		return rc;
	}
	char *key = key_of(s, relpath);
	rc = s3_get(s->client, key, max_bytes, out, len, err, sizeof(err));
	free(key);
	if (rc < 0 && rc != -ENOENT && rc != -EFBIG)
		s3_set_error(s, err);
	return rc;
}

static int s3_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	const struct ds_object *o = ds->s3->listed ? find_object(ds->s3, relpath) : NULL;
	uint64_t size;
	int64_t mtime;

	if (leaves_root(relpath))
		return -EXDEV;
	if (o != NULL) {
		size = o->size;
		mtime = o->mtime;
	} else if (ds->s3->listed) {
		return -ENOENT;
	} else {
		/* Not listed (the web app's thumbnails): ask the server. */
		char err[1024], *key = key_of(ds->s3, relpath);
		int rc = s3_head(ds->s3->client, key, &size, &mtime, err, sizeof(err));
		free(key);
		if (rc < 0) {
			if (rc != -ENOENT)
				s3_set_error(ds->s3, err);
			return rc;
		}
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)size;
	st->st_mtim.tv_sec = (time_t)mtime;
	return 0;
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

void dataset_tree(const struct dataset *ds, const char *rel, struct strvec *out)
{
	if (ds->s3 == NULL) {
		local_tree(ds->rootfd, rel, out, 0);
		return;
	}
	size_t rl = strlen(rel);
	for (size_t i = 0; i < ds->s3->nobjects; i++) {
		const struct ds_object *o = &ds->s3->objects[i];
		if (strncmp(o->rel, rel, rl) == 0 && o->rel[rl] == '/')
			strvec_pushf(out, "%s\t%llu\t%lld", o->rel, (unsigned long long)o->size,
				     (long long)o->mtime);
	}
}

static void pf_got(void *ud, size_t i, int rc, uint8_t *buf, size_t len, const char *err)
{
	struct ds_prefetch *pf = ud;

	if (rc < 0 && rc != -ENOENT && rc != -EFBIG && err != NULL)
		s3_set_error(pf->s, err);
	pthread_mutex_lock(&pf->mu);
	i = pf->map[i];
	pf->slots[i].buf = buf;
	pf->slots[i].len = len;
	pf->slots[i].rc = rc;
	pf->slots[i].ready = true;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	/* After a failure the endpoint is likely gone: the readers go on alone. */
	if (rc < 0 && s3_transient(rc))
		pf->stop = 1;
}

static void *pf_main(void *arg)
{
	struct ds_prefetch *pf = arg;
	struct s3_many_opts o = {
		.max_inflight = 16,
		.max_buffered = (size_t)64 << 20,
		.sizes = pf->sizes,
		.held = &pf->held,
		.cancel = &pf->stop,
	};

	(void)s3_get_many(pf->s->client, pf->keys, pf->nkeys, &o, pf_got, pf);
	pthread_mutex_lock(&pf->mu);
	pf->finished = true;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

static int cmp_rel_order(const void *a, const void *b, void *ctx)
{
	char *const *rels = ctx;

	return strcmp(rels[*(const size_t *)a], rels[*(const size_t *)b]);
}

static void pf_free(struct ds_prefetch *pf)
{
	for (size_t i = 0; i < pf->nkeys; i++)
		free(pf->keys[i]);
	for (size_t i = 0; i < pf->n; i++)
		free(pf->slots[i].buf);
	free(pf->keys);
	free(pf->map);
	free(pf->order);
	free(pf->sizes);
	free(pf->slots);
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	free(pf);
}

int dataset_prefetch_start(const struct dataset *ds, char *const *paths, size_t n)
{
	if (ds->s3 == NULL || n == 0)
		return 0;
	if (ds->s3->pf != NULL)
		return -EBUSY;
	struct ds_prefetch *pf = xcalloc(1, sizeof(*pf));
	pf->s = ds->s3;
	pf->n = n;
	pf->rels = paths;
	pf->keys = xcalloc(n, sizeof(*pf->keys));
	pf->map = xcalloc(n, sizeof(*pf->map));
	pf->order = xcalloc(n, sizeof(*pf->order));
	pf->sizes = xcalloc(n, sizeof(*pf->sizes));
	pf->slots = xcalloc(n, sizeof(*pf->slots));
	for (size_t i = 0; i < n; i++) {
		const struct ds_object *o = ds->s3->listed ? find_object(ds->s3, paths[i]) : NULL;
		pf->order[i] = i;
		/* Absent from the listing (an image without a prediction file): no request. */
		if (ds->s3->listed && o == NULL) {
			pf->slots[i].ready = true;
			pf->slots[i].rc = -ENOENT;
			continue;
		}
		pf->keys[pf->nkeys] = key_of(ds->s3, paths[i]);
		pf->sizes[pf->nkeys] = o ? o->size : 0;
		pf->map[pf->nkeys++] = i;
	}
	/* Several runs may start prefetches at once: the GNU qsort_r, no global. */
	qsort_r(pf->order, n, sizeof(*pf->order), cmp_rel_order, (void *)paths);
	atomic_init(&pf->held, 0);
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	if (pf->nkeys == 0) {
		pf_free(pf);	/* nothing to fetch: every read answers from the listing */
		return 0;
	}
	if (pthread_create(&pf->th, NULL, pf_main, pf) != 0) {
		pf_free(pf);
		return -EAGAIN;
	}
	ds->s3->pf = pf;
	return 0;
}

void dataset_prefetch_stop(const struct dataset *ds)
{
	if (ds->s3 == NULL || ds->s3->pf == NULL)
		return;
	struct ds_prefetch *pf = ds->s3->pf;
	pf->stop = 1;
	pthread_join(pf->th, NULL);
	ds->s3->pf = NULL;
	pf_free(pf);
}
