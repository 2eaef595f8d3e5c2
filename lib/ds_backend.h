/*
 * ds_backend: what one datasource backend implements (lib/dataset.h is the
 * interface callers see). Private to lib/dataset.c and the backends
 * (lib/ds_local.c, lib/ds_s3.c): a new backend is one new file, one table of
 * these operations, and one row in dataset.c's table of URL forms.
 */
#ifndef WINNOW_DS_BACKEND_H
#define WINNOW_DS_BACKEND_H

#include "dataset.h"

struct ds_backend {
	/*
	 * Lists every file of the datasource into ds->files (unsorted; images
	 * only, hidden and unsupported names left out), ds->excluded and
	 * ds->folder_links. Returns 0 or a negative errno with a message in err.
	 */
	int (*list)(struct dataset *ds, char *err, size_t errlen);
	int (*stat)(const struct dataset *ds, const char *rel, struct stat *st);
	int (*read)(const struct dataset *ds, const char *rel, size_t max_bytes, uint8_t **out,
		    size_t *len);
	int (*stream_open)(const struct dataset *ds, const char *rel, struct ds_stream **out);
	void (*walk)(const struct dataset *ds, const char *rel, dataset_walk_cb cb, void *ud);
	void (*tree)(const struct dataset *ds, const char *rel, struct strvec *out);
	/* NULL: reads cost nothing to start, nothing to prefetch. */
	int (*prefetch_start)(const struct dataset *ds, char *const *paths, size_t n);
	void (*prefetch_stop)(const struct dataset *ds);
	/* NULL: no remote errors, no list requests, nothing transient. */
	void (*last_error)(const struct dataset *ds, char *buf, size_t len);
	size_t (*list_requests)(const struct dataset *ds);
	const char *list_request_name;
	bool (*transient)(int rc);
	bool access_permanent;		/* dataset_list's -EACCES cannot be fixed by a retry */
	void (*close)(struct dataset *ds);
};

/* A stream: each backend's own struct starts with this. */
struct ds_stream {
	ssize_t (*read)(struct ds_stream *s, void *buf, size_t n);
	void (*close)(struct ds_stream *s);
	int (*seek)(struct ds_stream *s, uint64_t off);	/* to off <= size; 0 or -errno */
	uint64_t size;
};

extern const struct ds_backend ds_local_backend;
extern const struct ds_backend ds_s3_backend;

/* Sets up ds (zeroed) around a backend's state. */
void ds_init(struct dataset *ds, const char *root, const struct ds_backend *be, void *impl);

/* Adds an excluded path (escaped when unprintable) with its reason. */
void ds_add_excluded(struct dataset *ds, const char *path, const char *reason);

#endif
