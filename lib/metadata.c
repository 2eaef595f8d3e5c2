/*
 * metadata: reads Lightly's custom metadata files (SPEC 3) for the keys a
 * plan names, and holds the names of winnow's computed lightly.* metadata.
 *
 * DESIGN: files are read and parsed as predict.c reads prediction files, with
 * its functions (the same 64 MiB cap, depth limit, UTF-8 check and message
 * style "FILE: FIELD: what is wrong"). A load is three steps: the requests
 * are checked (key paths) and schema.json, when present, is read and matched
 * to them (its type must fit the use; its default is converted once); every
 * image's file is read and parsed in parallel, and only the requested paths
 * are looked at (other keys may hold anything); then defaults fill the gaps
 * and each category key's values become a sorted class table. When several
 * files are invalid, the first in path order is reported, so a run fails the
 * same way twice.
 *
 * Values: a numeric use takes a finite number (cJSON reads 1e999 as Inf:
 * refused); a category use takes any scalar, named by its JSON text: a string
 * as it is, true or false, a number as %.17g. null, arrays and objects are
 * errors in both, as is a key path that runs into something other than an
 * object. An absent key is no value.
 */
#include "metadata.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "pool.h"
#include "predict.h"

/* ---- computed metadata ---- */

static const char *const computed_names[META_COMPUTED_COUNT] = {
	[META_SIZE_IN_BYTES] = "lightly.sizeInBytes",
	[META_WIDTH] = "lightly.width",
	[META_HEIGHT] = "lightly.height",
	[META_LUMINANCE] = "lightly.luminance",
	[META_SNR] = "lightly.snr",
	[META_SHARPNESS] = "lightly.sharpness",
	[META_UNIFORM_ROW_RATIO] = "lightly.uniformRowRatio",
};

bool metadata_computed_from_pixels(enum meta_computed m)
{
	return m != META_SIZE_IN_BYTES && m != META_WIDTH && m != META_HEIGHT &&
		(unsigned)m < META_COMPUTED_COUNT;
}

const char *metadata_computed_name(enum meta_computed m)
{
	return (unsigned)m < META_COMPUTED_COUNT ? computed_names[m] : NULL;
}

double metadata_computed_value(enum meta_computed m, const struct img_meta *meta,
			       uint32_t width, uint32_t height)
{
	switch (m) {
	case META_SIZE_IN_BYTES: return (double)meta->size_bytes;
	case META_WIDTH: return width;
	case META_HEIGHT: return height;
	case META_LUMINANCE: return meta->luminance;
	case META_SNR: return meta->snr;
	case META_SHARPNESS: return meta->sharpness;
	case META_UNIFORM_ROW_RATIO: return meta->uniform_row_ratio;
	default: return NAN;
	}
}

int metadata_computed_parse(const char *key)
{
	for (int m = 0; key != NULL && m < META_COMPUTED_COUNT; m++)
		if (strcmp(key, computed_names[m]) == 0)
			return m;
	return -1;
}

/* ---- values ---- */

void meta_value_clear(struct meta_value *v)
{
	free(v->cat);
	memset(v, 0, sizeof(*v));
}

/* "FILE: FIELD: <v's text> is not WHAT"; returns -EINVAL. */
static int fail_value(const char *label, const char *field, const cJSON *v, const char *what,
		      char *err, size_t errlen)
{
	char *d = predict_describe(v);

	seterr(err, errlen, "%s: %s: %s is not %s", label, field, d, what);
	free(d);
	return -EINVAL;
}

/* A scalar for a use of `kind`, from v (a file's value or a schema default). */
static int scalar_value(const cJSON *v, enum meta_kind kind, const char *label, const char *field,
			struct meta_value *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
		seterr(err, errlen, "%s: %s: not a finite number", label, field);
		return -EINVAL;
	}
	if (kind == META_NUMERIC) {
		if (!cJSON_IsNumber(v))
			return fail_value(label, field, v, "a number", err, errlen);
		out->type = MV_NUM;
		out->num = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v) && v->valuestring != NULL) {
		if (strlen(v->valuestring) > META_CATEGORY_MAX) {
			seterr(err, errlen, "%s: %s: a category longer than %d bytes", label, field,
			       META_CATEGORY_MAX);
			return -EINVAL;
		}
		out->cat = xstrdup(v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		out->cat = xasprintf("%.17g", v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		out->cat = xstrdup(cJSON_IsTrue(v) ? "true" : "false");
	} else {
		return fail_value(label, field, v, "a category (a string, number or boolean)",
				  err, errlen);
	}
	out->type = MV_CAT;
	return 0;
}

/*
 * The value at key path `key` under obj (the file's "metadata"), or none.
 * field receives the JSON path of the last member looked at.
 */
static int lookup(const cJSON *obj, const char *key, enum meta_kind kind, const char *label,
		  struct meta_value *out, char *err, size_t errlen)
{
	struct buf field = { 0 };
	const char *p = key;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	buf_puts(&field, "metadata");
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		char *comp = xasprintf("%.*s", (int)n, p);

		buf_puts(&field, ".");
		buf_puts(&field, comp);
		const cJSON *m = predict_member(obj, comp, label, field.data, err, errlen, &rc);
		free(comp);
		if (rc < 0 || m == NULL)
			break;
		if (dot == NULL) {
			rc = scalar_value(m, kind, label, field.data, out, err, errlen);
			break;
		}
		if (!cJSON_IsObject(m)) {
			char *d = predict_describe(m);
			seterr(err, errlen, "%s: %s: %s is not an object (key path %s)", label,
			       field.data, d, key);
			free(d);
			rc = -EINVAL;
			break;
		}
		obj = m;
		p = dot + 1;
	}
	buf_free(&field);
	return rc;
}

/*
 * Member key of a file's top level, checked by is (NULL: any value); what
 * names the wanted kind in the message. A missing member is an error when
 * required, else *out stays NULL.
 */
static int top_member(const cJSON *root, const char *key, bool required, cJSON_bool (*is)(const cJSON *),
		      const char *what, const char *label, const cJSON **out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *m = predict_member(root, key, label, key, err, errlen, &rc);

	*out = m;
	if (rc < 0)
		return rc;
	if (m == NULL && required) {
		seterr(err, errlen, "%s: %s: missing", label, key);
		return -EINVAL;
	}
	if (m != NULL && !is(m))
		return fail_value(label, key, m, what, err, errlen);
	return 0;
}

static cJSON_bool is_image(const cJSON *v)
{
	return cJSON_IsString(v) && strcmp(v->valuestring, "image") == 0;
}

int metadata_parse_file(const char *text, size_t len, const char *label, const char *image_path,
			const struct meta_request *req, size_t nreq, struct meta_value *vals,
			char *err, size_t errlen)
{
	const cJSON *v, *meta;
	int rc = 0;
	cJSON *root;

	memset(vals, 0, nreq * sizeof(*vals));
	root = predict_parse_json(text, len, label, err, errlen);
	if (root == NULL)
		return -EINVAL;
	if (!cJSON_IsObject(root)) {
		seterr(err, errlen, "%s: the top level is not an object", label);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = top_member(root, "file_name", true, cJSON_IsString, "a string", label, &v, err,
			     errlen)) < 0)
		goto out;
	if (strcmp(v->valuestring, image_path) != 0) {
		char *a = predict_quote(v->valuestring), *b = predict_quote(image_path);
		seterr(err, errlen, "%s: file_name %s is not the image's path %s", label, a, b);
		free(a);
		free(b);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = top_member(root, "type", false, is_image, "\"image\"", label, &v, err,
			     errlen)) < 0)
		goto out;
	if ((rc = top_member(root, "metadata", true, cJSON_IsObject, "an object", label, &meta, err,
			     errlen)) < 0)
		goto out;
	for (size_t k = 0; k < nreq && rc == 0; k++)
		rc = lookup(meta, req[k].key, req[k].kind, label, &vals[k], err, errlen);
out:
	if (rc < 0)
		for (size_t k = 0; k < nreq; k++)
			meta_value_clear(&vals[k]);
	cJSON_Delete(root);
	return rc;
}

/* ---- schema.json ---- */

static const struct {
	const char *name;
	enum meta_kind kind;
} value_types[] = {
	{ "NUMERIC_INT", META_NUMERIC },
	{ "NUMERIC_FLOAT", META_NUMERIC },
	{ "CATEGORICAL_INT", META_CATEGORY },
	{ "CATEGORICAL_STRING", META_CATEGORY },
	{ "CATEGORICAL_BOOLEAN", META_CATEGORY },
	{ "OTHER_STRING", META_CATEGORY },
};

/* What schema.json says of one requested key. */
struct key_schema {
	bool listed;
	struct meta_value def;	/* MV_NONE: no default */
};

/* A required string member of a schema entry, or NULL with the error set. */
static const char *schema_string(const cJSON *e, const char *key, const char *field, bool required,
				 char *err, size_t errlen, int *rc)
{
	const cJSON *m = predict_member(e, key, META_SCHEMA_FILE, field, err, errlen, rc);

	if (*rc < 0)
		return NULL;
	if (m == NULL) {
		if (required) {
			seterr(err, errlen, "%s: %s: missing", META_SCHEMA_FILE, field);
			*rc = -EINVAL;
		}
		return NULL;
	}
	if (!cJSON_IsString(m) || m->valuestring == NULL) {
		*rc = fail_value(META_SCHEMA_FILE, field, m, "a string", err, errlen);
		return NULL;
	}
	return m->valuestring;
}

/* Checks one entry, and when it types a requested key, fills that key's ks. */
static int schema_entry(const cJSON *e, size_t i, const struct meta_request *req, size_t nreq,
			struct key_schema *ks, char *err, size_t errlen)
{
	char field[64];
	int rc = 0;

	snprintf(field, sizeof(field), "[%zu]", i);
	if (!cJSON_IsObject(e))
		return fail_value(META_SCHEMA_FILE, field, e, "an object", err, errlen);
	snprintf(field, sizeof(field), "[%zu].name", i);
	(void)schema_string(e, "name", field, false, err, errlen, &rc);
	snprintf(field, sizeof(field), "[%zu].path", i);
	const char *path = rc < 0 ? NULL : schema_string(e, "path", field, true, err, errlen, &rc);
	snprintf(field, sizeof(field), "[%zu].valueDataType", i);
	const char *type = rc < 0 ? NULL : schema_string(e, "valueDataType", field, true, err,
							   errlen, &rc);
	if (rc < 0)
		return rc;
	size_t t = 0;
	while (t < ARRAY_LEN(value_types) && strcmp(type, value_types[t].name) != 0)
		t++;
	if (t == ARRAY_LEN(value_types)) {
		char *q = predict_quote(type);
		seterr(err, errlen, "%s: %s: %s is not NUMERIC_INT, NUMERIC_FLOAT, CATEGORICAL_INT, "
		       "CATEGORICAL_STRING, CATEGORICAL_BOOLEAN or OTHER_STRING", META_SCHEMA_FILE,
		       field, q);
		free(q);
		return -EINVAL;
	}
	for (size_t k = 0; k < nreq; k++) {
		if (strcmp(req[k].key, path) != 0)
			continue;
		if (ks[k].listed) {
			char *q = predict_quote(path);
			seterr(err, errlen, "%s: [%zu].path: %s is listed twice", META_SCHEMA_FILE,
			       i, q);
			free(q);
			return -EINVAL;
		}
		ks[k].listed = true;
		if (value_types[t].kind != req[k].kind) {
			char *q = predict_quote(path);
			seterr(err, errlen, "%s: %s: the key %s is %s, not %s as its use needs",
			       META_SCHEMA_FILE, field, q, type,
			       req[k].kind == META_NUMERIC ? "numeric" : "a category");
			free(q);
			return -EINVAL;
		}
		snprintf(field, sizeof(field), "[%zu].defaultValue", i);
		const cJSON *d = predict_member(e, "defaultValue", META_SCHEMA_FILE, field, err,
						errlen, &rc);
		if (rc < 0)
			return rc;
		if (d != NULL && !cJSON_IsNull(d) &&
		    (rc = scalar_value(d, req[k].kind, META_SCHEMA_FILE, field, &ks[k].def, err,
				       errlen)) < 0)
			return rc;
	}
	return 0;
}

/* Reads schema.json (absent: nothing typed) and matches it to the requests. */
static int load_schema(const struct dataset *ds, const struct meta_request *req, size_t nreq,
		       struct key_schema *ks, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len, i = 0;
	const cJSON *e;
	int rc = predict_read_file(ds, META_SCHEMA_FILE, &text, &len, err, errlen);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	cJSON *root = predict_parse_json((const char *)text, len, META_SCHEMA_FILE, err, errlen);
	free(text);
	if (root == NULL)
		return -EINVAL;
	if (!cJSON_IsArray(root)) {
		seterr(err, errlen, "%s: the top level is not an array of keys", META_SCHEMA_FILE);
		rc = -EINVAL;
	}
	if (rc == 0) {
		cJSON_ArrayForEach(e, root) {
			if ((rc = schema_entry(e, i++, req, nreq, ks, err, errlen)) < 0)
				break;
		}
	}
	cJSON_Delete(root);
	return rc;
}

/* ---- loading ---- */

/* Why a key path is refused (in buf when it needs a number), or NULL. */
static const char *key_problem(const char *key, char *buf, size_t buflen)
{
	size_t len = strlen(key), parts = 1;

	for (size_t i = 0; i < len; i++)
		parts += key[i] == '.';
	if (len == 0)
		return "empty";
	if (len > META_KEY_MAX) {
		snprintf(buf, buflen, "longer than %d bytes", META_KEY_MAX);
		return buf;
	}
	if (parts > META_KEY_PARTS) {
		snprintf(buf, buflen, "more than %d components", META_KEY_PARTS);
		return buf;
	}
	if (key[0] == '.' || key[len - 1] == '.' || strstr(key, "..") != NULL)
		return "an empty component";
	if (!utf8_valid(key, len))
		return "not valid UTF-8";
	if (metadata_computed_parse(key) >= 0)
		return "computed by winnow, not read from files";
	return NULL;
}

static int check_key(const char *key, char *err, size_t errlen)
{
	char buf[64];
	const char *why = key_problem(key != NULL ? key : "", buf, sizeof(buf));

	if (why == NULL)
		return 0;
	char *q = predict_quote(key != NULL ? key : "");
	seterr(err, errlen, "metadata key %s: %s", q, why);
	free(q);
	return -EINVAL;
}

struct load_job {
	const struct dataset *ds;
	char *const *paths;
	char **rel;		/* NULL: the image has no metadata file */
	const struct meta_request *req;
	size_t nreq;
	struct meta_column *out;
	char **cats;		/* nreq x n category strings, NULL where none */
	size_t n;
	char *tbuf;		/* one message buffer per thread */
	size_t tlen;
	/*
	 * Failures are kept per image and the lowest index wins after the pool,
	 * so the message does not depend on the timing; first_bad (an atomic
	 * minimum) only spares the work on images after a known failure.
	 */
	int *rc;
	char **msg;
	atomic_size_t first_bad;
};

static void lower_to(atomic_size_t *a, size_t i)
{
	size_t cur = atomic_load(a);

	while (i < cur && !atomic_compare_exchange_weak(a, &cur, i))
		;
}

static void load_one(size_t i, int tid, void *ud)
{
	struct load_job *j = ud;
	char *msg = j->tbuf + (size_t)tid * j->tlen;
	uint8_t *text;
	size_t len;

	if (j->rel[i] == NULL || i > atomic_load_explicit(&j->first_bad, memory_order_relaxed))
		return;
	int rc = predict_read_file(j->ds, j->rel[i], &text, &len, msg, j->tlen);
	if (rc == -ENOENT)
		return;
	if (rc == 0) {
		struct meta_value *vals = xcalloc(j->nreq ? j->nreq : 1, sizeof(*vals));
		rc = metadata_parse_file((const char *)text, len, j->rel[i], j->paths[i], j->req,
					 j->nreq, vals, msg, j->tlen);
		free(text);
		for (size_t k = 0; rc == 0 && k < j->nreq; k++) {
			j->out[k].has[i] = vals[k].type != MV_NONE;
			if (vals[k].type == MV_NUM)
				j->out[k].num[i] = vals[k].num;
			j->cats[k * j->n + i] = vals[k].cat;	/* taken */
		}
		free(vals);
	}
	if (rc == 0)
		return;
	j->rc[i] = rc;
	j->msg[i] = xstrdup(msg);
	lower_to(&j->first_bad, i);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Category strings (consumed) to a sorted class table and indexes. */
static void build_classes(struct meta_column *c, char **cats)
{
	char **sorted = xcalloc(c->n ? c->n : 1, sizeof(*sorted));
	size_t m = 0;

	for (size_t i = 0; i < c->n; i++)
		if (cats[i] != NULL)
			sorted[m++] = cats[i];
	qsort(sorted, m, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < m; i++)
		if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
			strvec_push(&c->classes, sorted[i]);
	for (size_t i = 0; i < c->n; i++) {
		if (cats[i] == NULL)
			continue;
		char **hit = bsearch(&cats[i], c->classes.v, c->classes.n, sizeof(char *), cmp_str);
		c->cat[i] = (uint32_t)(hit - c->classes.v);
		free(cats[i]);
	}
	free(sorted);
}

void meta_column_free(struct meta_column *c)
{
	if (c == NULL)
		return;
	free(c->key);
	free(c->has);
	free(c->num);
	free(c->cat);
	strvec_free(&c->classes);
	memset(c, 0, sizeof(*c));
}

int metadata_load(const struct dataset *ds, char *const *paths, size_t n,
		  const struct meta_request *req, size_t nreq, int threads,
		  struct meta_column *out, char *err, size_t errlen)
{
	struct key_schema *ks = xcalloc(nreq ? nreq : 1, sizeof(*ks));
	struct load_job j = { 0 };
	int rc = 0;

	memset(out, 0, nreq * sizeof(*out));
	for (size_t k = 0; k < nreq && rc == 0; k++)
		rc = check_key(req[k].key, err, errlen);
	if (rc == 0)
		rc = load_schema(ds, req, nreq, ks, err, errlen);
	if (rc < 0)
		goto out;

	for (size_t k = 0; k < nreq; k++) {
		out[k].key = xstrdup(req[k].key);
		out[k].kind = req[k].kind;
		out[k].n = n;
		out[k].has = xcalloc(n ? n : 1, sizeof(bool));
		out[k].num = xcalloc(n ? n : 1, sizeof(double));
		out[k].cat = xcalloc(n ? n : 1, sizeof(uint32_t));
	}
	j.ds = ds;
	j.paths = paths;
	j.req = req;
	j.nreq = nreq;
	j.out = out;
	j.n = n;
	j.cats = xcalloc(nreq > 0 && n > 0 ? nreq * n : 1, sizeof(char *));
	j.rel = xcalloc(n ? n : 1, sizeof(char *));
	/* schema.json is never an image's file: an image named schema.* has none. */
	for (size_t i = 0; i < n; i++) {
		char *rel = xasprintf(META_DIR "/%.*s.json", (int)predict_stem_len(paths[i]),
				      paths[i]);
		if (strcmp(rel, META_SCHEMA_FILE) == 0) {
			free(rel);
			rel = NULL;
		}
		j.rel[i] = rel;
	}
	if (threads < 1)
		threads = 1;
	j.tlen = errlen > 0 ? errlen : 1;
	j.tbuf = xcalloc((size_t)threads, j.tlen);
	j.rc = xcalloc(n ? n : 1, sizeof(int));
	j.msg = xcalloc(n ? n : 1, sizeof(char *));
	atomic_init(&j.first_bad, n);
	/* S3: the files come many at a time; those absent from the listing cost nothing. */
	char **fetch = xcalloc(n ? n : 1, sizeof(char *));
	size_t nfetch = 0;
	for (size_t i = 0; i < n; i++)
		if (j.rel[i] != NULL)
			fetch[nfetch++] = j.rel[i];
	bool prefetching = nreq > 0 && dataset_prefetch_start(ds, fetch, nfetch) == 0;
	if (nreq > 0)
		pool_for(n, threads, load_one, &j, NULL);
	if (prefetching)
		dataset_prefetch_stop(ds);
	free(fetch);
	free(j.tbuf);
	for (size_t i = 0; i < n; i++) {
		if (j.msg[i] != NULL && rc == 0) {
			rc = j.rc[i];
			seterr(err, errlen, "%s", j.msg[i]);
		}
		free(j.msg[i]);
	}
	free(j.msg);
	free(j.rc);

	for (size_t k = 0; k < nreq; k++) {
		const struct meta_value *d = &ks[k].def;
		for (size_t i = 0; rc == 0 && d->type != MV_NONE && i < n; i++) {
			if (out[k].has[i])
				continue;
			out[k].has[i] = true;
			out[k].num[i] = d->num;
			if (d->type == MV_CAT)
				j.cats[k * n + i] = xstrdup(d->cat);
		}
		if (rc == 0 && req[k].kind == META_CATEGORY)
			build_classes(&out[k], j.cats + k * n);
		else
			for (size_t i = 0; i < n; i++)
				free(j.cats[k * n + i]);
	}
	free(j.cats);
	for (size_t i = 0; i < n; i++)
		free(j.rel[i]);
	free(j.rel);
out:
	for (size_t k = 0; k < nreq; k++)
		meta_value_clear(&ks[k].def);
	free(ks);
	if (rc < 0)
		for (size_t k = 0; k < nreq; k++)
			meta_column_free(&out[k]);
	return rc;
}
