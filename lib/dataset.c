/*
 * dataset: the datasource interface (lib/dataset.h) over its backends
 * (lib/ds_backend.h: lib/ds_local.c, lib/ds_s3.c), and what every backend
 * shares: the rules for image names, relevant_filenames_file, the listing's
 * order.
 */
#include "ds_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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

bool dataset_is_video_name(const char *name)
{
	static const char *const exts[] = { ".mp4", ".mov", ".avi", ".mkv", ".webm" };
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash + 1 : name, '.');

	if (dot == NULL || dot == name || (slash && dot == slash + 1))
		return false;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (strcasecmp(dot, exts[i]) == 0)
			return true;
	return false;
}

bool dataset_is_listed_name(const char *name)
{
	return dataset_is_image_name(name) || dataset_is_video_name(name);
}

void ds_add_excluded(struct dataset *ds, const char *path, const char *reason)
{
	if (ds->nexcluded == ds->excluded_cap) {
		ds->excluded_cap = ds->excluded_cap ? ds->excluded_cap * 2 : 16;
		ds->excluded = xreallocarray(ds->excluded, ds->excluded_cap, sizeof(*ds->excluded));
	}
	ds->excluded[ds->nexcluded].path = escape_bytes(path);
	ds->excluded[ds->nexcluded].reason = xstrdup(reason);
	ds->nexcluded++;
}

void ds_init(struct dataset *ds, const char *root, const struct ds_backend *be, void *impl)
{
	memset(ds, 0, sizeof(*ds));
	ds->root = xstrdup(root);
	ds->be = be;
	ds->impl = impl;
}

static int open_s3_form(struct dataset *ds, const char *input, const struct s3_conf *s3conf,
			char *err, size_t errlen)
{
	static const struct s3_conf none = { .path_style = -1 };
	char msg[1024];
	int rc = dataset_open_s3(ds, input, s3conf ? s3conf : &none, msg, sizeof(msg));

	if (rc < 0)
		snprintf(err, errlen, "datasource %s: %s", input, msg);
	return rc;
}

static int open_folder_form(struct dataset *ds, const char *input, const struct s3_conf *s3conf,
			    char *err, size_t errlen)
{
	int rc = dataset_open(ds, input);

	(void)s3conf;
	if (rc < 0)
		snprintf(err, errlen, "input folder %s: %s", input, strerror(-rc));
	return rc;
}

/* The URL forms and their backends; the last row (no scheme) is a LOCAL folder. */
static const struct {
	const char *scheme;
	int (*open)(struct dataset *ds, const char *input, const struct s3_conf *s3conf,
		    char *err, size_t errlen);
} forms[] = {
	{ "s3://", open_s3_form },
	{ "", open_folder_form },
};

int dataset_open_url(struct dataset *ds, const char *input, const struct s3_conf *s3conf,
		     char *err, size_t errlen)
{
	size_t i = 0;

	while (forms[i].scheme[0] != '\0' && strncmp(input, forms[i].scheme, strlen(forms[i].scheme)) != 0)
		i++;
	return forms[i].open(ds, input, s3conf, err, errlen);
}

int dataset_open_input(struct dataset *ds, const int *dirfd, const char *input,
		       const struct s3_conf *s3conf, char *err, size_t errlen)
{
	if (dirfd == NULL)
		return dataset_open_url(ds, input, s3conf, err, errlen);
	int fd = fcntl(*dirfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		int e = -errno;
		snprintf(err, errlen, "%s: %s", input, strerror(-e));
		return e;
	}
	return dataset_open_fd(ds, fd, input);
}

void dataset_close(struct dataset *ds)
{
	if (ds == NULL || ds->root == NULL)
		return;
	ds->be->close(ds);
	free(ds->root);
	strvec_free(&ds->files);
	strvec_free(&ds->folder_links);
	for (size_t i = 0; i < ds->nexcluded; i++) {
		free(ds->excluded[i].path);
		free(ds->excluded[i].reason);
	}
	free(ds->excluded);
	memset(ds, 0, sizeof(*ds));
}

int dataset_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		 uint8_t **out, size_t *len)
{
	return ds->be->read(ds, relpath, max_bytes, out, len);
}

int dataset_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	return ds->be->stat(ds, relpath, st);
}

bool dataset_exists(const struct dataset *ds, const char *relpath)
{
	struct stat st;

	return dataset_stat(ds, relpath, &st) == 0 && S_ISREG(st.st_mode);
}

int dataset_stream_open(const struct dataset *ds, const char *relpath, struct ds_stream **out)
{
	return ds->be->stream_open(ds, relpath, out);
}

ssize_t dataset_stream_read(struct ds_stream *s, void *buf, size_t n)
{
	return s->read(s, buf, n);
}

int dataset_stream_seek(struct ds_stream *s, uint64_t off)
{
	if (off > s->size)
		return -EINVAL;
	return s->seek(s, off);
}

uint64_t dataset_stream_size(const struct ds_stream *s)
{
	return s->size;
}

void dataset_stream_close(struct ds_stream *s)
{
	if (s != NULL)
		s->close(s);
}

void dataset_walk(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud)
{
	ds->be->walk(ds, rel, cb, ud);
}

void dataset_tree(const struct dataset *ds, const char *rel, struct strvec *out)
{
	ds->be->tree(ds, rel, out);
}

int dataset_prefetch_start(const struct dataset *ds, char *const *paths, size_t n)
{
	return ds->be->prefetch_start ? ds->be->prefetch_start(ds, paths, n) : 0;
}

void dataset_prefetch_stop(const struct dataset *ds)
{
	if (ds->be->prefetch_stop)
		ds->be->prefetch_stop(ds);
}

const char *dataset_last_error(const struct dataset *ds, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ds->be->last_error)
		ds->be->last_error(ds, buf, len);
	return buf;
}

size_t dataset_list_requests(const struct dataset *ds)
{
	return ds->be->list_requests ? ds->be->list_requests(ds) : 0;
}

const char *dataset_list_request_name(const struct dataset *ds)
{
	return ds->be->list_request_name;
}

bool dataset_transient(const struct dataset *ds, int rc)
{
	return ds->be->transient != NULL && ds->be->transient(rc);
}

bool dataset_list_permanent(const struct dataset *ds, int rc)
{
	return rc == -ENOENT || rc == -EXDEV || rc == -EISDIR ||
	       (rc == -EACCES && ds->be->access_permanent);
}

bool dataset_name_supported(const char *path)
{
	return utf8_valid(path, strlen(path)) && strpbrk(path, "\t\r\n,") == NULL;
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
	int rc = ds->be->list(ds, err, errlen);

	if (rc < 0)
		return rc;
	strvec_sort(&ds->files);
	/* A bounded listing (S3's, which lists every key) keeps list_max files. */
	while (ds->list_max > 0 && ds->files.n > ds->list_max) {
		free(ds->files.v[--ds->files.n]);
		ds->list_truncated = true;
	}
	if (ds->nexcluded > 1)
		qsort(ds->excluded, ds->nexcluded, sizeof(*ds->excluded), cmp_excluded);
	if (relevant != NULL && relevant[0] != '\0')
		return apply_relevant(ds, relevant, err, errlen);
	return 0;
}
