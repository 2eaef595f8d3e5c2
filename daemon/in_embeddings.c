/*
 * EMBEDDINGS input (SPEC 4.8): the run's rows, which DIVERSITY, TYPICALITY
 * and SIMILARITY read from the engine's X. With `tagName` it is also
 * SIMILARITY's query set: the rows of the tag's images that are candidates
 * (before thresholds). The tag's names come from the caller
 * (pipeline_opts.query_tag: the daemon asks the web app) or, without one,
 * from the datasource's .lightly/tags/<tagName>.txt, one name a line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "util.h"

#define TAG_DIR		".lightly/tags"
#define TAG_MAX_BYTES	((size_t)256 << 20)

/* One name a line; blank lines and a trailing CR are skipped. */
static void split_names(const char *text, size_t len, struct strvec *out)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		size_t e = j;
		if (e > i && text[e - 1] == '\r')
			e--;
		if (e > i) {
			strvec_pushf(out, "%.*s", (int)(e - i), text + i);
		}
		i = j + 1;
	}
}

static int read_tag_file(struct run *run, const char *name, struct strvec *out, char *err,
			 size_t errlen)
{
	char *rel = xasprintf(TAG_DIR "/%s.txt", name);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = dataset_read(&run->ds, rel, TAG_MAX_BYTES, &buf, &len);

	if (rc == 0 && memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: holds a NUL byte", rel);
		rc = -EINVAL;
	} else if (rc == 0) {
		split_names((const char *)buf, len, out);
	} else if (rc != -ENOENT) {
		snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
	}
	free(buf);
	free(rel);
	return rc;
}

static int embeddings_resolve(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];
	char err[1024] = "";
	int rc;

	if (pe->tag_name == NULL)
		return 0;
	if (pe->dataset_id != NULL && run->o->dataset_id != NULL &&
	    strcmp(pe->dataset_id, run->o->dataset_id) != 0)
		return inputs_config_error(run, "%s.datasetId: \"%s\" is another dataset than the run's "
					   "(\"%s\"); a query tag must be of the run's dataset", d->path,
					   pe->dataset_id, run->o->dataset_id);
	if (pe->dataset_id != NULL && run->o->dataset_id == NULL)
		run_log(run, LOG_LVL_NOTICE, "%s.datasetId: \"%s\" taken as this run's dataset "
			"(local mode has no dataset ids)", d->path, pe->dataset_id);
	if (run->o->query_tag != NULL)
		rc = run->o->query_tag(run->o->ud, pe->tag_name, &d->tag_names, err, sizeof(err));
	else
		rc = read_tag_file(run, pe->tag_name, &d->tag_names, err, sizeof(err));
	if (rc == -ENOENT)
		return inputs_config_error(run, "%s.tagName: there is no tag \"%s\"%s", d->path,
					   pe->tag_name, run->o->query_tag ? "" :
					   " (no " TAG_DIR "/<tagName>.txt in the datasource)");
	if (rc == -EINVAL)
		return inputs_config_error(run, "%s.tagName: %s", d->path, err);
	if (rc < 0)
		return run_fail(run, rc, !dataset_transient(&run->ds, rc) && rc != -EAGAIN,
				"%s.tagName: \"%s\": %s", d->path, pe->tag_name, err);
	if (d->tag_names.n == 0)
		return inputs_config_error(run, "%s.tagName: the tag \"%s\" is empty", d->path,
					   pe->tag_name);
	return 0;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
	char *const *names = ctx;
	return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

static int embeddings_prepare(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];
	size_t n = run->ncand, dim = run->d;

	if (pe->tag_name == NULL)
		return 0;
	/* The candidates' indexes sorted by name, for a binary search per tag name. */
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	size_t *byname = xcalloc(n ? n : 1, sizeof(*byname));
	for (size_t c = 0; c < n; c++) {
		names[c] = run->items[run->cand[c]].path;
		byname[c] = c;
	}
	qsort_r(byname, n, sizeof(*byname), cmp_name, names);
	bool *in_query = xcalloc(n ? n : 1, sizeof(bool));
	size_t nq = 0;
	d->query_named = d->tag_names.n;
	d->query_outside = 0;
	for (size_t t = 0; t < d->tag_names.n; t++) {
		const char *key = d->tag_names.v[t];
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (strcmp(names[byname[mid]], key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || strcmp(names[byname[lo]], key) != 0) {
			d->query_outside++;
		} else if (!in_query[byname[lo]]) {
			in_query[byname[lo]] = true;
			nq++;
		}
	}
	free(byname);
	if (nq == 0) {
		free(names);
		free(in_query);
		return inputs_config_error(run, "%s.tagName: none of the %zu images of tag \"%s\" is "
					   "a candidate of this run", d->path, d->tag_names.n,
					   pe->tag_name);
	}
	d->query = xcalloc_huge(nq * (dim ? dim : 1), sizeof(double));
	size_t q = 0;
	for (size_t c = 0; c < n; c++)
		if (in_query[c])
			memcpy(d->query + q++ * dim, run->X + c * dim, dim * sizeof(double));
	d->ein.query = d->query;
	d->ein.nquery = nq;
	if (d->query_outside > 0)
		run_log(run, LOG_LVL_NOTICE, "%s.tagName: %zu of the %zu images of tag \"%s\" are not "
			"candidates of this run (absent, corrupt, duplicates or excluded)", d->path,
			d->query_outside, d->tag_names.n, pe->tag_name);
	free(names);
	free(in_query);
	return 0;
}

const struct input_kind input_embeddings = {
	.id = PLAN_INPUT_EMBEDDINGS,
	.resolve = embeddings_resolve,
	.prepare = embeddings_prepare,
};
