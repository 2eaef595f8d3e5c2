/*
 * routes_export: export for labelling (docs/api.md "Export"): GET
 * /v1/winnow/runs/{runId}/export?format=filenames|csv|labelstudio[&tagId=]
 * answers a tag of the run's dataset (default: the run's selection tag) as
 * an attachment:
 * - filenames: the tag's file names, one a line, in sample order (as the
 *   run's selected_filenames.txt for its selection tag);
 * - csv: every candidate of the run: filenames, selected (1 when in the
 *   run's selection), inTag (only when tagId names another tag: 1 when in
 *   it), each of the run's score lists (the results route's score types,
 *   sorted), then selection.csv's columns (empty for rows it lacks);
 * - labelstudio: Label Studio's task list, [{"data": {"image": URL},
 *   "meta": {"fileName", "selected", "scores": {...}}}] for the tag's
 *   samples, each URL absolute, signed and expiring after --read-url-ttl
 *   (sample_signed_url: the signed image route, no token needed).
 *
 * DESIGN: the data come from the database only (the tags' bitmasks, the
 * samples' names, the candidates tag's score lists and the run's newest
 * SELECTION_CSV artifact, read as hostile by selcsv.c): no datasource is
 * read, so an export of 100,000 samples costs a few queries. Scores are
 * written with %.17g, so they read back to the stored doubles. A bad
 * selection.csv drops its columns (logged) rather than failing the export.
 */
#include "routes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bitmask.h"
#include "db.h"
#include "models.h"
#include "selcsv.h"
#include "log.h"
#include "util.h"

struct growbuf {
	char *p;
	size_t n, cap;
};

static void gb_add(struct growbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void gb_str(struct growbuf *b, const char *s)
{
	gb_add(b, s, strlen(s));
}

static void gb_num(struct growbuf *b, double v)
{
	char t[40];

	if (isnan(v))
		t[0] = '\0';
	else if (isinf(v))
		snprintf(t, sizeof(t), "%s", v > 0 ? "inf" : "-inf");
	else
		snprintf(t, sizeof(t), "%.17g", v);
	gb_str(b, t);
}

/* A CSV field: quoted (quotes doubled) when it holds a quote, comma or line break. */
static void gb_field(struct growbuf *b, const char *s)
{
	if (strpbrk(s, "\",\r\n") == NULL) {
		gb_str(b, s);
		return;
	}
	gb_str(b, "\"");
	for (const char *p = s; *p; p++)
		gb_add(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
	gb_str(b, "\"");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void h_run_export(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *format = req_query(r, "format"), *tag = req_query(r, "tagId");
	struct run_tags rt;
	char *tag_mask = NULL, *csv_err = NULL;
	struct bitmask tm = { 0 };
	struct strvec types = { 0 }, names = { 0 };
	double **vals = NULL;
	size_t *rank = NULL;
	struct selcsv csv = { 0 };
	bool have_csv = false;
	struct growbuf b = { 0 };
	sqlite3_stmt *st;
	int step, dberr = 0;

	if (format == NULL)
		format = "filenames";
	if (strcmp(format, "filenames") != 0 && strcmp(format, "csv") != 0 &&
	    strcmp(format, "labelstudio") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "format must be filenames, csv or labelstudio");
		return;
	}
	if (tag && !id_valid(tag)) {
		resp_error(out, 400, "BAD_REQUEST", "tagId must be a tag id (24 hex characters)");
		return;
	}
	if ((step = run_tags_load(c, r->params[0], &rt)) < 0) {
		resp_lookup_error(out, c, step, "NOT_FOUND", "no such run");
		goto out;
	}
	if (tag == NULL)
		tag = rt.sel_id[0] ? rt.sel_id : NULL;
	if (tag == NULL) {
		resp_error(out, 409, "DOCKER_RUN_ARTIFACT_UNAVAILABLE",
			   "the run has no selection tag yet: export when it has finished, or name a tagId");
		goto out;
	}
	st = db_stmt(c, "SELECT bit_mask_data FROM tags WHERE id = ? AND dataset_id = ?");
	db_bind_text(st, 1, tag);
	db_bind_text(st, 2, rt.dataset);
	if ((step = db_row(st)) == 1)
		tag_mask = xstrdup(db_col_text(st, 0));
	sqlite3_reset(st);
	if (tag_mask == NULL) {
		resp_lookup_error(out, c, step < 0 ? -EIO : -ENOENT, "TAG_UNKNOWN",
				  "no such tag in the run's dataset");
		goto out;
	}
	bitmask_parse(tag_mask, SIZE_MAX, &tm);
	bool other_tag = strcmp(tag, rt.sel_id) != 0;	/* a tag named that is not the selection */

	dberr |= run_scores_load(c, &rt, &types, &vals) < 0;
	if (strcmp(format, "csv") == 0) {
		dberr |= run_selcsv_load(c, r->params[0], &csv, &have_csv, &csv_err) < 0;
		if (csv_err) {
			char *e = xasprintf("selection.csv left out: %s", csv_err);
			free(csv_err);
			csv_err = e;
		}
	}
	size_t nbits = bitmask_bits(&rt.cand) > bitmask_bits(&tm) ? bitmask_bits(&rt.cand) : bitmask_bits(&tm);
	names.v = xcalloc(nbits ? nbits : 1, sizeof(char *));
	names.n = names.cap = nbits;
	st = db_stmt(c, "SELECT idx, file_name FROM samples WHERE dataset_id = ? AND idx < ? ORDER BY idx");
	db_bind_text(st, 1, rt.dataset);
	sqlite3_bind_int64(st, 2, (int64_t)nbits);
	while ((step = db_row(st)) == 1) {
		int64_t i = sqlite3_column_int64(st, 0);
		if (i >= 0 && (size_t)i < nbits && (bitmask_get(&rt.cand, (size_t)i) || bitmask_get(&tm, (size_t)i)))
			names.v[i] = xstrdup(db_col_text(st, 1));
	}
	sqlite3_reset(st);
	dberr |= step < 0;
	if (dberr) {
		resp_db_error(out, c);
		goto out;
	}
	req_db_release(r);

	/* Each sample's rank among the candidates (its place in the score lists), or SIZE_MAX. */
	rank = xmalloc((nbits ? nbits : 1) * sizeof(*rank));
	for (size_t i = 0, k = 0; i < nbits; i++)
		rank[i] = bitmask_get(&rt.cand, i) ? k++ : SIZE_MAX;

	const char *ext;
	if (strcmp(format, "filenames") == 0) {
		ext = "txt";
		for (size_t i = 0; i < nbits; i++)
			if (bitmask_get(&tm, i) && names.v[i]) {
				gb_str(&b, names.v[i]);
				gb_str(&b, "\n");
			}
		out->ctype = "text/plain; charset=utf-8";
	} else if (strcmp(format, "csv") == 0) {
		ext = "csv";
		/* selection.csv's rows by name. */
		char **sorted = NULL;
		long *rowof = NULL;
		if (have_csv && csv.nrows) {
			sorted = xmalloc(csv.nrows * sizeof(char *));
			memcpy(sorted, csv.names, csv.nrows * sizeof(char *));
			qsort(sorted, csv.nrows, sizeof(char *), cmp_str);
			rowof = xmalloc(csv.nrows * sizeof(long));
			for (size_t k = 0; k < csv.nrows; k++) {
				char **f = bsearch(&csv.names[k], sorted, csv.nrows, sizeof(char *), cmp_str);
				rowof[f - sorted] = (long)k;
			}
		}
		gb_str(&b, other_tag ? "filenames,selected,inTag" : "filenames,selected");
		for (size_t k = 0; k < types.n; k++) {
			gb_str(&b, ",");
			gb_field(&b, types.v[k]);
		}
		for (size_t k = 0; have_csv && k < csv.ncols; k++) {
			gb_str(&b, ",selection:");
			gb_str(&b, csv.cols[k]);
		}
		gb_str(&b, "\n");
		for (size_t i = 0; i < nbits; i++) {
			if (rank[i] == SIZE_MAX)
				continue;
			const char *nm = names.v[i] ? names.v[i] : "";
			gb_field(&b, nm);
			gb_str(&b, bitmask_get(&rt.sel, i) ? ",1" : ",0");
			if (other_tag)
				gb_str(&b, bitmask_get(&tm, i) ? ",1" : ",0");
			for (size_t k = 0; k < types.n; k++) {
				gb_str(&b, ",");
				gb_num(&b, vals[k][rank[i]]);
			}
			long row = -1;
			if (sorted) {
				char **f = bsearch(&nm, sorted, csv.nrows, sizeof(char *), cmp_str);
				row = f ? rowof[f - sorted] : -1;
			}
			for (size_t k = 0; have_csv && k < csv.ncols; k++) {
				gb_str(&b, ",");
				if (row >= 0)
					gb_num(&b, csv.vals[(size_t)row * csv.ncols + k]);
			}
			gb_str(&b, "\n");
		}
		free(sorted);
		free(rowof);
		out->ctype = "text/csv; charset=utf-8";
	} else {
		ext = "json";
		int64_t now = db_now_ms() / 1000;
		gb_str(&b, "[");
		bool first = true;
		for (size_t i = 0; i < nbits; i++) {
			if (!bitmask_get(&tm, i) || names.v[i] == NULL)
				continue;
			cJSON *t = cJSON_CreateObject();
			cJSON *d = cJSON_AddObjectToObject(t, "data");
			char *url = sample_signed_url(r->ws, rt.dataset, names.v[i], now);
			cJSON_AddStringToObject(d, "image", url);
			free(url);
			cJSON *m = cJSON_AddObjectToObject(t, "meta");
			cJSON_AddStringToObject(m, "fileName", names.v[i]);
			cJSON_AddBoolToObject(m, "selected", bitmask_get(&rt.sel, i));
			cJSON *sc = cJSON_AddObjectToObject(m, "scores");
			for (size_t k = 0; rank[i] != SIZE_MAX && k < types.n; k++)
				cJSON_AddItemToObject(sc, types.v[k], json_exact_number(vals[k][rank[i]]));
			char *txt = cJSON_PrintUnformatted(t);
			cJSON_Delete(t);
			gb_str(&b, first ? "\n" : ",\n");
			gb_str(&b, txt);
			free(txt);
			first = false;
		}
		gb_str(&b, "\n]\n");
		out->ctype = "application/json";
	}
	free(out->body);
	out->body = b.p ? b.p : xstrdup("");
	out->len = b.n;
	b.p = NULL;
	out->status = 200;
	out->extra_header_name = xstrdup("Content-Disposition");
	out->extra_header_value = xasprintf("attachment; filename=\"winnow-%s-%s-%s.%s\"",
					    r->params[0], tag, format, ext);
	if (csv_err)
		log_warnx("export of run %s: %s", r->params[0], csv_err);
out:
	free(b.p);
	for (size_t i = 0; i < types.n; i++)
		free(vals[i]);
	free(vals);
	free(rank);
	strvec_free(&types);
	strvec_free(&names);
	selcsv_free(&csv);
	free(csv_err);
	free(tag_mask);
	bitmask_free(&tm);
	run_tags_free(&rt);
}
