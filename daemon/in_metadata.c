/*
 * METADATA input (SPEC 3, 4.8): `key`, a custom key path of the
 * datasource's .lightly/metadata files (numeric for WEIGHTS and THRESHOLD,
 * a category for BALANCE), or one of winnow's computed lightly.* keys, made
 * in the image pass (run->cmeta). Every custom key the plan names is read in
 * one pass over the files, for every listed image, before any image is
 * decoded: a malformed file fails the run at once, naming it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "util.h"

/* A custom key, read from the files (not one of winnow's lightly.* keys). */
static bool custom_key(const struct plan_entry *pe)
{
	return pe->input == PLAN_INPUT_METADATA && metadata_computed_parse(pe->key) < 0;
}

static enum meta_kind kind_of(const struct plan_entry *pe)
{
	return pe->strategy == PLAN_STRATEGY_BALANCE ? META_CATEGORY : META_NUMERIC;
}

/* Reads every custom key of the plan at once (the first METADATA entry's resolve). */
static int load_all(struct run *run)
{
	const struct plan *p = run->plan;
	struct meta_request *req = xcalloc(p->nentries, sizeof(*req));
	size_t *owner = xcalloc(p->nentries, sizeof(*owner)), nreq = 0;
	char **paths = xcalloc(run->nitems ? run->nitems : 1, sizeof(*paths));
	char err[2048];
	int rc = 0;

	for (size_t e = 0; e < p->nentries; e++) {
		const struct plan_entry *pe = &p->entries[e];
		if (!custom_key(pe))
			continue;
		req[nreq] = (struct meta_request){ .key = pe->key, .kind = kind_of(pe) };
		owner[nreq++] = e;
	}
	if (nreq > 0) {
		struct meta_column *cols = xcalloc(nreq, sizeof(*cols));
		int threads = run->o->threads > 0 ? run->o->threads : cpu_count();
		for (size_t i = 0; i < run->nitems; i++)
			paths[i] = run->items[i].path;
		rc = metadata_load(&run->ds, paths, run->nitems, req, nreq, threads, cols,
				   err, sizeof(err));
		if (rc == 0) {
			for (size_t r = 0; r < nreq; r++) {
				run->ed[owner[r]].meta = cols[r];
				run->ed[owner[r]].have_meta = true;
			}
		} else if (dataset_transient(&run->ds, rc)) {
			rc = run_fail(run, rc, false, "reading %s: %s", META_DIR, err);
		} else {
			/* The entry the message is about: the first whose key it names. */
			size_t who = owner[0];
			for (size_t r = nreq; r-- > 0;)
				if (strstr(err, req[r].key) != NULL)
					who = owner[r];
			run->r->config_error = rc == -EINVAL;
			rc = run_fail(run, rc, true, "%s.key \"%s\": %s", run->ed[who].path,
				      p->entries[who].key, err);
		}
		free(cols);
	}
	free(req);
	free(owner);
	free(paths);
	return rc;
}

/* A key that no listed image has (no file gives it, the schema no default) is a config error. */
static int check_present(struct run *run, size_t e)
{
	const struct entry_data *d = &run->ed[e];

	if (run->nitems == 0)	/* nothing listed: an empty run, not a missing key */
		return 0;
	for (size_t i = 0; i < d->meta.n; i++)
		if (d->meta.has[i])
			return 0;
	return inputs_config_error(run, "%s.key: \"%s\" is in none of the %zu images' %s files "
				   "and has no default in %s", d->path, run->plan->entries[e].key,
				   run->nitems, META_DIR, META_SCHEMA_FILE);
}

static int metadata_resolve(struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];
	struct entry_data *d = &run->ed[e];

	d->computed = metadata_computed_parse(pe->key);
	if (d->computed < 0 && strncmp(pe->key, "lightly.", 8) == 0) {
		struct buf b = { 0 };
		for (int m = 0; m < META_COMPUTED_COUNT; m++)
			buf_printf(&b, "%s\"%s\"", m ? ", " : "", metadata_computed_name(m));
		inputs_config_error(run, "%s.key: \"%s\" is not one of winnow's computed keys (%s)",
				    d->path, pe->key, b.data);
		buf_free(&b);
		return -EINVAL;
	}
	if (d->computed >= 0) {
		if (kind_of(pe) == META_CATEGORY)
			return inputs_config_error(run, "%s.key: \"%s\" is numeric; BALANCE needs a "
						   "category key of .lightly/metadata", d->path, pe->key);
		if (run->emb_only && d->computed != META_SIZE_IN_BYTES)
			return inputs_config_error(run, "%s.key: \"%s\" is computed from the images, "
						   "and this datasource has none", d->path, pe->key);
		return 0;
	}
	/* The first custom key's entry reads them all; the later ones find theirs. */
	for (size_t f = 0; f < e; f++)
		if (custom_key(&run->plan->entries[f]))
			return check_present(run, e);
	int rc = load_all(run);
	return rc < 0 ? rc : check_present(run, e);
}

static int metadata_prepare(struct run *run, size_t e)
{
	struct entry_data *d = &run->ed[e];
	size_t n = run->ncand;

	if (d->computed >= 0) {
		d->value = xcalloc(n ? n : 1, sizeof(double));
		for (size_t c = 0; c < n; c++)
			d->value[c] = run->cmeta[c * META_COMPUTED_COUNT + (size_t)d->computed];
		d->ein.value = d->value;
		return 0;
	}
	if (!d->have_meta)
		return run_fail(run, -EINVAL, false, "%s: the metadata was not read", d->path);
	const struct meta_column *m = &d->meta;
	if (m->kind == META_NUMERIC) {
		d->value = xcalloc(n ? n : 1, sizeof(double));
		d->has_value = xcalloc(n ? n : 1, sizeof(bool));
		for (size_t c = 0; c < n; c++) {
			size_t it = run->cand[c];
			d->has_value[c] = m->has[it];
			d->value[c] = m->has[it] ? m->num[it] : 0;
		}
		d->ein.value = d->value;
		d->ein.has_value = d->has_value;
		return 0;
	}
	d->class_idx = xcalloc(n ? n : 1, sizeof(int32_t));
	for (size_t c = 0; c < n; c++) {
		size_t it = run->cand[c];
		d->class_idx[c] = m->has[it] ? (int32_t)m->cat[it] : -1;
	}
	d->class_names = xcalloc(m->classes.n ? m->classes.n : 1, sizeof(*d->class_names));
	for (size_t c = 0; c < m->classes.n; c++)
		d->class_names[c] = m->classes.v[c];
	d->ein.class_idx = d->class_idx;
	d->ein.class_names = d->class_names;
	d->ein.nclasses = m->classes.n;
	return 0;
}

const struct input_kind input_metadata = {
	.id = PLAN_INPUT_METADATA,
	.resolve = metadata_resolve,
	.prepare = metadata_prepare,
};
