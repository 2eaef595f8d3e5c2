/*
 * ds_overlay: a dataset whose images come from one datasource (INPUT) and
 * whose `.lightly/` folder comes from another (LIGHTLY), SPEC 3. Every call
 * on a path at or under `.lightly/` goes to the LIGHTLY datasource, every
 * other one (the listing, the images, relevant_filenames_file elsewhere) to
 * the INPUT one; each keeps its own root rules (lib/ds_local.c, lib/ds_s3.c).
 */
#include "ds_backend.h"

#include <stdlib.h>
#include <string.h>

struct overlay {
	struct ds_backend be;	/* this instance's table: transient and access from the parts */
	struct dataset in, lt;
};

static bool is_lightly(const char *rel)
{
	return strncmp(rel, ".lightly", 8) == 0 && (rel[8] == '\0' || rel[8] == '/');
}

static const struct dataset *part(const struct dataset *ds, const char *rel)
{
	struct overlay *o = ds->impl;

	return is_lightly(rel) ? &o->lt : &o->in;
}

static int ov_list(struct dataset *ds, char *err, size_t errlen)
{
	struct overlay *o = ds->impl;

	o->in.list_max = ds->list_max;
	o->in.list_deadline = ds->list_deadline;
	int rc = o->in.be->list(&o->in, err, errlen);

	/* The listing is INPUT's: its results move to the overlay. */
	ds->list_truncated = o->in.list_truncated;
	ds->files = o->in.files;
	ds->excluded = o->in.excluded;
	ds->nexcluded = o->in.nexcluded;
	ds->excluded_cap = o->in.excluded_cap;
	ds->folder_links = o->in.folder_links;
	memset(&o->in.files, 0, sizeof(o->in.files));
	memset(&o->in.folder_links, 0, sizeof(o->in.folder_links));
	o->in.excluded = NULL;
	o->in.nexcluded = o->in.excluded_cap = 0;
	return rc;
}

static int ov_stat(const struct dataset *ds, const char *rel, struct stat *st)
{
	const struct dataset *p = part(ds, rel);

	return p->be->stat(p, rel, st);
}

static int ov_read(const struct dataset *ds, const char *rel, size_t max, uint8_t **out, size_t *len)
{
	const struct dataset *p = part(ds, rel);

	return p->be->read(p, rel, max, out, len);
}

static int ov_stream_open(const struct dataset *ds, const char *rel, struct ds_stream **out)
{
	const struct dataset *p = part(ds, rel);

	return p->be->stream_open(p, rel, out);
}

static void ov_walk(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud)
{
	const struct dataset *p = part(ds, rel);

	p->be->walk(p, rel, cb, ud);
}

static void ov_tree(const struct dataset *ds, const char *rel, struct strvec *out)
{
	const struct dataset *p = part(ds, rel);

	p->be->tree(p, rel, out);
}

static int ov_prefetch_start(const struct dataset *ds, char *const *paths, size_t n)
{
	struct overlay *o = ds->impl;

	return o->in.be->prefetch_start ? o->in.be->prefetch_start(&o->in, paths, n) : 0;
}

static void ov_prefetch_stop(const struct dataset *ds)
{
	struct overlay *o = ds->impl;

	if (o->in.be->prefetch_stop)
		o->in.be->prefetch_stop(&o->in);
}

static void ov_last_error(const struct dataset *ds, char *buf, size_t len)
{
	struct overlay *o = ds->impl;

	dataset_last_error(&o->in, buf, len);
	if (buf[0] == '\0')
		dataset_last_error(&o->lt, buf, len);
}

static size_t ov_list_requests(const struct dataset *ds)
{
	struct overlay *o = ds->impl;

	return dataset_list_requests(&o->in);
}

static void ov_close(struct dataset *ds)
{
	struct overlay *o = ds->impl;

	dataset_close(&o->in);
	dataset_close(&o->lt);
	free(o);
}

int dataset_open_overlay(struct dataset *ds, struct dataset *input, struct dataset *lightly)
{
	struct overlay *o = xcalloc(1, sizeof(*o));

	o->in = *input;
	o->lt = *lightly;
	memset(input, 0, sizeof(*input));
	memset(lightly, 0, sizeof(*lightly));
	o->be = (struct ds_backend){
		.list = ov_list, .stat = ov_stat, .read = ov_read, .stream_open = ov_stream_open,
		.walk = ov_walk, .tree = ov_tree, .prefetch_start = ov_prefetch_start,
		.prefetch_stop = ov_prefetch_stop, .last_error = ov_last_error,
		.list_requests = ov_list_requests,
		.list_request_name = o->in.be->list_request_name,
		.transient = o->in.be->transient ? o->in.be->transient : o->lt.be->transient,
		.access_permanent = o->in.be->access_permanent,
		.close = ov_close,
	};
	ds_init(ds, o->in.root, &o->be, o);
	return 0;
}
