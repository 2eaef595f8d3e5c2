/*
 * ds_s3: the S3 datasource backend, a bucket prefix (lib/s3.c is the client).
 *
 * dataset_list lists every object below the prefix once (ListObjectsV2)
 * and keeps them sorted, so existence checks and the absent prediction files
 * of most images cost no request; reads are GETs, streams ranged GETs. Object
 * keys have no links and no "..": a relpath with a ".." component is refused
 * as leaving the root, as for LOCAL. The image pass's prefetch runs
 * s3_get_many on its own thread and hands each object to the dataset_read
 * that asks for it.
 */
#include "ds_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static struct ds_s3 *s3of(const struct dataset *ds)
{
	return ds->impl;
}

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
	struct ds_s3 *s = xcalloc(1, sizeof(*s));
	s->client = client;
	size_t pl = strlen(prefix);
	s->prefix = pl > 0 && prefix[pl - 1] != '/' ? xasprintf("%s/", prefix) : xstrdup(prefix);
	free(prefix);
	pthread_mutex_init(&s->mu, NULL);
	ds_init(ds, url, &ds_s3_backend, s);
	return 0;
}

static void ds3_prefetch_stop(const struct dataset *ds);

static void ds3_close(struct dataset *ds)
{
	struct ds_s3 *s = s3of(ds);

	ds3_prefetch_stop(ds);
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

static void ds3_last_error(const struct dataset *ds, char *buf, size_t len)
{
	pthread_mutex_lock(&s3of(ds)->mu);
	snprintf(buf, len, "%s", s3of(ds)->last_error);
	pthread_mutex_unlock(&s3of(ds)->mu);
}

static size_t ds3_list_requests(const struct dataset *ds)
{
	return s3of(ds)->list_requests;
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

static int ds3_list(struct dataset *ds, char *err, size_t errlen)
{
	struct ds_s3 *s = s3of(ds);
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
		if (hidden || !dataset_is_listed_name(base))
			continue;
		if (!dataset_name_supported(rel) || strstr(rel, "//") != NULL || leaves_root(rel)) {
			ds_add_excluded(ds, rel, "unsupported file name");
			continue;
		}
		strvec_push(&ds->files, rel);
	}
	return 0;
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

static int ds3_read(const struct dataset *ds, const char *relpath, size_t max_bytes,
		   uint8_t **out, size_t *len)
{
	struct ds_s3 *s = s3of(ds);
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

static int ds3_stat(const struct dataset *ds, const char *relpath, struct stat *st)
{
	uint64_t size;
	int64_t mtime;

	if (leaves_root(relpath))
		return -EXDEV;
	relpath = plain_rel(relpath);
	const struct ds_object *o = s3of(ds)->listed ? find_object(s3of(ds), relpath) : NULL;
	if (o != NULL) {
		size = o->size;
		mtime = o->mtime;
	} else if (s3of(ds)->listed) {
		return -ENOENT;
	} else {
		/* Not listed (the web app's thumbnails): ask the server. */
		char err[1024], *key = key_of(s3of(ds), relpath);
		int rc = s3_head(s3of(ds)->client, key, &size, &mtime, err, sizeof(err));
		free(key);
		if (rc < 0) {
			if (rc != -ENOENT)
				s3_set_error(s3of(ds), err);
			return rc;
		}
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)size;
	st->st_mtim.tv_sec = (time_t)mtime;
	return 0;
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

static int ds3_prefetch_start(const struct dataset *ds, char *const *paths, size_t n)
{
	if (n == 0)
		return 0;
	if (s3of(ds)->pf != NULL)
		return -EBUSY;
	struct ds_prefetch *pf = xcalloc(1, sizeof(*pf));
	pf->s = s3of(ds);
	pf->n = n;
	pf->rels = paths;
	pf->keys = xcalloc(n, sizeof(*pf->keys));
	pf->map = xcalloc(n, sizeof(*pf->map));
	pf->order = xcalloc(n, sizeof(*pf->order));
	pf->sizes = xcalloc(n, sizeof(*pf->sizes));
	pf->slots = xcalloc(n, sizeof(*pf->slots));
	for (size_t i = 0; i < n; i++) {
		const struct ds_object *o = s3of(ds)->listed ? find_object(s3of(ds), paths[i]) : NULL;
		pf->order[i] = i;
		/* Absent from the listing (an image without a prediction file): no request. */
		if (s3of(ds)->listed && o == NULL) {
			pf->slots[i].ready = true;
			pf->slots[i].rc = -ENOENT;
			continue;
		}
		pf->keys[pf->nkeys] = key_of(s3of(ds), paths[i]);
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
	s3of(ds)->pf = pf;
	return 0;
}

static void ds3_prefetch_stop(const struct dataset *ds)
{
	if (s3of(ds)->pf == NULL)
		return;
	struct ds_prefetch *pf = s3of(ds)->pf;
	pf->stop = 1;
	pthread_join(pf->th, NULL);
	s3of(ds)->pf = NULL;
	pf_free(pf);
}

/* A stream's ranged GETs: each at most this many bytes. */
#define STREAM_RANGE ((size_t)8 << 20)

struct ds3_stream {
	struct ds_stream base;
	struct ds_s3 *s;
	char *key;
	uint64_t off;
};

static ssize_t ds3_stream_read(struct ds_stream *st, void *buf, size_t n)
{
	struct ds3_stream *ss = (struct ds3_stream *)st;
	size_t done = 0;
	char err[1024];

	while (done < n && ss->off < ss->base.size) {
		uint64_t left = ss->base.size - ss->off;
		size_t want = n - done < STREAM_RANGE ? n - done : STREAM_RANGE;
		if (want > left)
			want = (size_t)left;
		size_t got = 0;
		int rc = s3_get_range(ss->s->client, ss->key, ss->off, want, (uint8_t *)buf + done,
				      &got, err, sizeof(err));
		/* Shorter than the listing said: the object changed under the reader. */
		if (rc == 0 && got != want) {
			rc = -EIO;
			snprintf(err, sizeof(err), "%s: changed while it was read", ss->key);
		}
		if (rc < 0) {
			s3_set_error(ss->s, err);
			return rc;
		}
		ss->off += got;
		done += got;
	}
	return (ssize_t)done;
}

/* The next ranged GET starts at off: nothing is fetched ahead. */
static int ds3_stream_seek(struct ds_stream *st, uint64_t off)
{
	((struct ds3_stream *)st)->off = off;
	return 0;
}

static void ds3_stream_close(struct ds_stream *st)
{
	free(((struct ds3_stream *)st)->key);
	free(st);
}

static int ds3_stream_open(const struct dataset *ds, const char *relpath, struct ds_stream **out)
{
	struct stat sb;
	int rc = ds3_stat(ds, relpath, &sb);

	if (rc < 0)
		return rc;
	struct ds3_stream *ss = xcalloc(1, sizeof(*ss));
	ss->base.read = ds3_stream_read;
	ss->base.close = ds3_stream_close;
	ss->base.seek = ds3_stream_seek;
	ss->base.size = (uint64_t)sb.st_size;
	ss->s = s3of(ds);
	ss->key = key_of(s3of(ds), relpath);
	*out = &ss->base;
	return 0;
}

/* The listed objects below the folder rel, for dataset_tree and dataset_walk. */
static void below(const struct ds_s3 *s, const char *rel, void (*f)(void *ud, const struct ds_object *o),
		  void *ud)
{
	size_t rl = strlen(rel);

	for (size_t i = 0; i < s->nobjects; i++) {
		const struct ds_object *o = &s->objects[i];
		if (strncmp(o->rel, rel, rl) == 0 && o->rel[rl] == '/')
			f(ud, o);
	}
}

static void tree_one(void *ud, const struct ds_object *o)
{
	strvec_pushf(ud, "%s\t%llu\t%lld", o->rel, (unsigned long long)o->size, (long long)o->mtime);
}

static void ds3_tree(const struct dataset *ds, const char *rel, struct strvec *out)
{
	below(s3of(ds), rel, tree_one, out);
}

struct walk_ctx {
	size_t rl;
	dataset_walk_cb cb;
	void *ud;
};

static void walk_one(void *ud, const struct ds_object *o)
{
	struct walk_ctx *w = ud;

	/* Hidden names below the folder are skipped, as LOCAL skips them; no links here. */
	if (strstr(o->rel + w->rl, "/.") == NULL)
		w->cb(w->ud, o->rel);
}

static void ds3_walk(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud)
{
	struct walk_ctx w = { strlen(rel), cb, ud };

	below(s3of(ds), rel, walk_one, &w);
}

const struct ds_backend ds_s3_backend = {
	.list = ds3_list,
	.stat = ds3_stat,
	.read = ds3_read,
	.stream_open = ds3_stream_open,
	.walk = ds3_walk,
	.tree = ds3_tree,
	.prefetch_start = ds3_prefetch_start,
	.prefetch_stop = ds3_prefetch_stop,
	.last_error = ds3_last_error,
	.list_requests = ds3_list_requests,
	.list_request_name = "ListObjectsV2",
	.transient = s3_transient,
	.access_permanent = true,
	.close = ds3_close,
};
