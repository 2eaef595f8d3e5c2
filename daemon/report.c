/*
 * report: the run's outputs (SPEC 5): the filenames lists, selection.csv,
 * scores.csv, the embeddings CSVs and report.json, written from the run's
 * state when the runner (pipeline.c) reaches its results stage.
 */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dconv.h"
#include "inputs.h"
#include "version.h"

#define WINNOW_VERSION_STR WINNOW_VERSION

static FILE *open_out(struct run *run, const char *rel)
{
	char *path = xasprintf("%s/%s", run->o->run_dir, rel);
	FILE *f = fopen(path, "w");

	if (f == NULL)
		run_fail(run, -errno, false, "%s: %s", path, strerror(errno));
	free(path);
	return f;
}

static int close_out(struct run *run, FILE *f, const char *rel)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad)
		return run_fail(run, -EIO, false, "%s/%s: write failed", run->o->run_dir, rel);
	return 0;
}

static int write_tsv(struct run *run, const char *rel, enum item_state want, bool with_ds_excluded)
{
	FILE *f = open_out(run, rel);
	size_t i = 0, j = 0;

	if (f == NULL)
		return -EIO;
	/* Merge the listing's exclusions and the items', both in path order. */
	for (;;) {
		const char *ip = NULL, *ep = NULL;
		while (i < run->nitems && run->items[i].state != want)
			i++;
		if (i < run->nitems)
			ip = run->items[i].path;
		if (with_ds_excluded && j < run->ds.nexcluded)
			ep = run->ds.excluded[j].path;
		if (ip == NULL && ep == NULL)
			break;
		if (ep != NULL && (ip == NULL || strcmp(ep, ip) < 0)) {
			fprintf(f, "%s\t%s\n", ep, run->ds.excluded[j].reason);
			j++;
		} else {
			fprintf(f, "%s\t%s\n", ip, run->items[i].reason);
			i++;
		}
	}
	return close_out(run, f, rel);
}

static void fmt_double(char *out, size_t len, double v)
{
	if (isnan(v))
		out[0] = '\0';
	else if (len >= DCONV_BUFLEN)
		dconv_format(v, out);
	else
		snprintf(out, len, "%.17g", v);
}

/* ",<v>" as printf("%.17g") prints v, at a fraction of its cost (1,000,000-row outputs). */
static void put_number(FILE *f, double v)
{
	char s[DCONV_BUFLEN + 1];

	s[0] = ',';
	fwrite(s, 1, dconv_format(v, s + 1) + 1, f);
}

/* A CSV field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break. */
static void put_field(FILE *f, const char *v)
{
	if (strpbrk(v, ",\"\r\n") == NULL) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static cJSON *number_array(const double *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
	return a;
}

/* SPEC 4.8's additions: the plan, why it stopped, BALANCE's shares, the query tags. */
static void report_plan(struct run *run, cJSON *root)
{
	const struct plan *p = run->plan;

	cJSON_AddItemToObject(root, "plan", plan_to_json(p));
	if (run->stop_reason != NULL)
		cJSON_AddStringToObject(root, "stop_reason", run->stop_reason);
	cJSON *bal = cJSON_AddArrayToObject(root, "balance");
	for (size_t b = 0; b < run->nbalance; b++) {
		const struct engine_balance *eb = &run->balance[b];
		cJSON *o = cJSON_CreateObject(), *cl = cJSON_AddArrayToObject(o, "classes");
		cJSON_AddNumberToObject(o, "entry", (double)eb->entry);
		for (size_t j = 0; j < eb->nclasses; j++)
			cJSON_AddItemToArray(cl, cJSON_CreateString(eb->classes[j]));
		cJSON_AddItemToObject(o, "target", number_array(eb->target, eb->nclasses));
		cJSON_AddItemToObject(o, "candidate_share", number_array(eb->candidate_share, eb->nclasses));
		cJSON_AddItemToObject(o, "selection_share", number_array(eb->selection_share, eb->nclasses));
		cJSON_AddItemToArray(bal, o);
	}
	cJSON *q = NULL;
	for (size_t e = 0; run->ed != NULL && e < p->nentries; e++) {
		const struct entry_data *d = &run->ed[e];
		if (p->entries[e].tag_name == NULL)
			continue;
		if (q == NULL)
			q = cJSON_AddArrayToObject(root, "query_tags");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "entry", (double)e);
		cJSON_AddStringToObject(o, "tag", p->entries[e].tag_name);
		cJSON_AddNumberToObject(o, "images", (double)d->query_named);
		cJSON_AddNumberToObject(o, "not_candidates", (double)d->query_outside);
		cJSON_AddItemToArray(q, o);
	}
}

/*
 * Per listed video (SPEC 3.1, docs/outputs.md): its frames, the indices of
 * its corrupt frames and of its selected frames (ascending), or why it could
 * not be read.
 */
static cJSON *videos_json(struct run *run)
{
	cJSON *arr = cJSON_CreateArray();
	uint8_t **sel = xcalloc(run->nvideos, sizeof(*sel));

	for (size_t v = 0; v < run->nvideos; v++)
		if (run->videos[v].st == VID_OK)
			sel[v] = xcalloc(run->videos[v].vi.nframes, 1);
	for (size_t i = 0; i < run->nsel_items; i++) {
		const struct item *it = &run->items[run->sel_items[i]];
		if (it->video >= 0)
			sel[it->video][it->frame] = 1;
	}
	for (size_t v = 0; v < run->nvideos; v++) {
		const struct run_video *rv = &run->videos[v];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", rv->path);
		if (rv->st != VID_OK) {
			cJSON_AddNumberToObject(o, "frames", 0);
			cJSON_AddStringToObject(o, "reason", rv->reason);
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		cJSON_AddNumberToObject(o, "frames", (double)rv->vi.nframes);
		cJSON_AddNumberToObject(o, "width", rv->vi.width);
		cJSON_AddNumberToObject(o, "height", rv->vi.height);
		cJSON_AddStringToObject(o, "codec", rv->vi.codec);
		cJSON *cor = cJSON_AddArrayToObject(o, "corrupt_frames");
		cJSON *pk = cJSON_AddArrayToObject(o, "selected_frames");
		for (uint64_t f = 0; f < rv->vi.nframes; f++) {
			if (run->items[rv->items[f]].state == IT_CORRUPT)
				cJSON_AddItemToArray(cor, cJSON_CreateNumber((double)f));
			if (sel[v][f])
				cJSON_AddItemToArray(pk, cJSON_CreateNumber((double)f));
		}
		cJSON_AddItemToArray(arr, o);
		free(sel[v]);
	}
	free(sel);
	return arr;
}

static cJSON *report_json(struct run *run)
{
	const struct pipeline_counts *c = &run->r->counts;
	cJSON *root = cJSON_CreateObject();
	cJSON *counts, *stages, *warn;

	cJSON_AddStringToObject(root, "version", WINNOW_VERSION_STR);
	cJSON_AddItemToObject(root, "config", cJSON_Duplicate(run->cfg->effective, 1));
	counts = cJSON_AddObjectToObject(root, "counts");
	stages = cJSON_AddArrayToObject(root, "stages");
	cJSON_AddNumberToObject(counts, "listed", (double)c->listed);
	cJSON_AddNumberToObject(counts, "excluded", (double)c->excluded);
	cJSON_AddNumberToObject(counts, "corrupt", (double)c->corrupt);
	cJSON_AddNumberToObject(counts, "duplicates", (double)c->duplicates);
	cJSON_AddNumberToObject(counts, "candidates", (double)c->candidates);
	cJSON_AddNumberToObject(counts, "selected", (double)c->selected);
	cJSON_AddNumberToObject(counts, "no_predictions", (double)c->no_predictions);
	cJSON_AddNumberToObject(counts, "zero_rows", (double)c->zero_rows);
	cJSON_AddNumberToObject(counts, "preselected", (double)c->preselected);
	if (run->cfg->datapool_name != NULL) {
		cJSON *dp = cJSON_AddObjectToObject(root, "datapool");
		cJSON_AddStringToObject(dp, "name", run->cfg->datapool_name);
		cJSON_AddNumberToObject(dp, "members", (double)c->datapool_members);
		cJSON_AddNumberToObject(dp, "preselected", (double)c->preselected);
		cJSON_AddNumberToObject(dp, "ignored", (double)c->datapool_ignored);
		cJSON_AddNumberToObject(dp, "added", (double)c->selected);
	}
	for (int s = 0; s < STAGE_COUNT; s++) {
		if (!run->r->ran[s])
			continue;
		cJSON *st = cJSON_CreateObject();
		cJSON_AddStringToObject(st, "name", stage_name((enum stage)s));
		cJSON_AddNumberToObject(st, "seconds", run->r->seconds[s]);
		cJSON_AddItemToArray(stages, st);
	}
	cJSON *scores = cJSON_AddObjectToObject(root, "scores");
	for (size_t j = 0; run->scores != NULL && j < run->nscores; j++) {
		double mn = INFINITY, mx = -INFINITY, sum = 0;
		for (size_t i = 0; i < run->ncand; i++) {
			double v = run->scores[i * run->nscores + j];
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
			sum += v;
		}
		cJSON *st = cJSON_AddObjectToObject(scores, run->col[j].label);
		if (run->ncand == 0) {
			cJSON_AddNullToObject(st, "min");
			cJSON_AddNullToObject(st, "mean");
			cJSON_AddNullToObject(st, "max");
		} else {
			cJSON_AddNumberToObject(st, "min", mn);
			cJSON_AddNumberToObject(st, "mean", sum / (double)run->ncand);
			cJSON_AddNumberToObject(st, "max", mx);
		}
	}
	if (run->tasks.n > 0) {
		cJSON *pt = cJSON_AddObjectToObject(root, "predictions");
		if (run->wcol >= 0) {	/* a 2.2 config's task and weighting score */
			cJSON_AddStringToObject(pt, "task", run->task[0].name);
			cJSON_AddStringToObject(pt, "task_type", task_type_name(run->task[0].type));
			cJSON_AddStringToObject(pt, "score_name",
						task_score_name(run->task[0].type, run->wcol));
		} else {		/* every task a plan reads */
			cJSON *rd = cJSON_AddArrayToObject(pt, "read");
			for (size_t t = 0; t < run->ntask; t++) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "task", run->task[t].name);
				cJSON_AddStringToObject(o, "task_type", task_type_name(run->task[t].type));
				cJSON_AddItemToArray(rd, o);
			}
		}
		cJSON *all = cJSON_AddArrayToObject(pt, "tasks");
		for (size_t i = 0; i < run->tasks.n; i++)
			cJSON_AddItemToArray(all, cJSON_CreateString(run->tasks.v[i]));
	}
	if (run->nvideos > 0)
		cJSON_AddItemToObject(root, "videos", videos_json(run));
	if (run->seq_len > 1) {
		cJSON *sq = cJSON_AddObjectToObject(root, "sequences");
		cJSON_AddNumberToObject(sq, "length", (double)run->seq_len);
		cJSON_AddNumberToObject(sq, "chunks", (double)run->ncand);
		cJSON_AddNumberToObject(sq, "candidate_frames", (double)run->seq_frames);
		cJSON_AddNumberToObject(sq, "dropped_short", (double)run->seq_short);
		cJSON_AddNumberToObject(sq, "dropped_not_candidates", (double)run->seq_not_cand);
		cJSON_AddNumberToObject(sq, "images_left_out", (double)run->seq_images);
		cJSON_AddNumberToObject(sq, "selected_chunks", (double)run->sel.n);
		cJSON_AddNumberToObject(sq, "selected_frames", (double)run->nsel_items);
	}
	warn = cJSON_AddArrayToObject(root, "warnings");
	for (size_t i = 0; i < run->cfg->warnings.n; i++)
		cJSON_AddItemToArray(warn, cJSON_CreateString(run->cfg->warnings.v[i]));
	if (run->plan->from_method && plan_find(run->plan, PLAN_STRATEGY_DIVERSITY) == NULL &&
	    run->cfg->min_distance >= 0) {
		char *m = xasprintf("docker.stopping_condition.min_distance is ignored by method %s",
				    method_name(run->cfg->method));
		cJSON_AddItemToArray(warn, cJSON_CreateString(m));
		free(m);
	}
	if (c->zero_rows > 0) {
		char *m = xasprintf("%zu all-zero embedding rows", c->zero_rows);
		cJSON_AddItemToArray(warn, cJSON_CreateString(m));
		free(m);
	}
	report_plan(run, root);
	return root;
}

/* The entry whose objective is selection.csv's weight: a 2.2 plan's SCORES entry, a V4 plan's only WEIGHTS. */
static long weight_entry(const struct plan *p)
{
	long found = -1;

	for (size_t e = 0; e < p->nentries; e++) {
		const struct plan_entry *pe = &p->entries[e];
		bool w = p->from_method ? pe->input == PLAN_INPUT_SCORES
			: pe->strategy == PLAN_STRATEGY_WEIGHTS;
		if (w && found >= 0)
			return -1;
		if (w)
			found = (long)e;
	}
	return found;
}

/*
 * An entry's objective column. A 2.2 config's SCORES entry is named after
 * the weighting score the run used: its type's default when score_name was
 * left out (keypoints: mean_uncertainty), which the parsed plan cannot know.
 */
static char *entry_column_name(const struct run *run, size_t e)
{
	const struct plan_entry *pe = &run->plan->entries[e];

	if (run->plan->from_method && pe->input == PLAN_INPUT_SCORES && run->wcol >= 0)
		return xasprintf("%s:%s:%s:%s", plan_strategy_name(pe->strategy),
				 plan_input_name(pe->input), run->task[0].name,
				 run->col[run->wcol].label);
	return inputs_column_name(pe);
}

/* The header of selection.csv: the existing columns, score, one per non-THRESHOLD entry. */
static void selection_header(struct run *run, FILE *f, bool *objcol)
{
	const struct plan *p = run->plan;
	char **names = xcalloc(p->nentries + 1, sizeof(*names));

	fputs("rank,filenames,weight,distance,score", f);
	for (size_t e = 0; e < p->nentries; e++) {
		objcol[e] = p->entries[e].strategy != PLAN_STRATEGY_THRESHOLD;
		if (objcol[e])
			names[e] = entry_column_name(run, e);
	}
	for (size_t e = 0; e < p->nentries; e++) {
		if (!objcol[e])
			continue;
		bool clash = false;
		for (size_t o = 0; o < p->nentries; o++)
			clash = clash || (o != e && objcol[o] && strcmp(names[o], names[e]) == 0);
		fputc(',', f);
		if (clash) {
			char *s = xasprintf("%s#%zu", names[e], e);
			put_field(f, s);
			free(s);
		} else {
			put_field(f, names[e]);
		}
	}
	fputc('\n', f);
	for (size_t e = 0; e < p->nentries; e++)
		free(names[e]);
	free(names);
}

int report_write_outputs(struct run *run, char *const *names)
{
	FILE *f;
	int rc;

	if ((rc = write_tsv(run, "filenames/corrupt_filenames.txt", IT_CORRUPT, false)) < 0 ||
	    (rc = write_tsv(run, "filenames/duplicate_filenames.txt", IT_DUPLICATE, false)) < 0 ||
	    (rc = write_tsv(run, "filenames/excluded_filenames.txt", IT_EXCLUDED, true)) < 0)
		return rc;

	/* The candidates a task had no predictions for (SPEC 3's counts.no_predictions). */
	rc = -EIO;
	if ((f = open_out(run, "filenames/no_predictions_filenames.txt")) == NULL)
		return rc;
	for (size_t i = 0; run->nopred != NULL && i < run->ncand; i++)
		if (run->nopred[i])
			fprintf(f, "%s\n", names[i]);
	if ((rc = close_out(run, f, "filenames/no_predictions_filenames.txt")) < 0)
		return rc;

	rc = -EIO;
	if ((f = open_out(run, "filenames/selected_filenames.txt")) == NULL)
		return rc;
	/* Sequences: every frame of every chosen chunk (SPEC 3.1). */
	for (size_t i = 0; i < run->nsel_items; i++)
		fprintf(f, "%s\n", run->items[run->sel_items[i]].path);
	if ((rc = close_out(run, f, "filenames/selected_filenames.txt")) < 0)
		return rc;

	rc = -EIO;
	if ((f = open_out(run, "data/selection.csv")) == NULL)
		return rc;
	{
		const struct plan *p = run->plan;
		size_t ne = p->nentries;
		bool *objcol = xcalloc(ne + 1, sizeof(bool));
		long we = weight_entry(p);
		selection_header(run, f, objcol);
		for (size_t i = 0; i < run->sel.n; i++) {
			char num[40];
			/* A 2.2 plan's weight is its weighting score, also in the fill's rows. */
			double wv = we < 0 ? NAN : p->from_method ? run->w[run->sel.idx[i]]
				: run->obj[i * ne + (size_t)we];
			fprintf(f, "%zu,%s,", i + 1, names[run->sel.idx[i]]);
			fmt_double(num, sizeof(num), wv);
			fputs(num, f);
			fmt_double(num, sizeof(num), run->sel.dist ? run->sel.dist[i] : NAN);
			fprintf(f, ",%s,", num);
			fmt_double(num, sizeof(num), run->S ? run->S[i] : NAN);
			fputs(num, f);
			for (size_t e = 0; e < ne; e++) {
				if (!objcol[e])
					continue;
				fmt_double(num, sizeof(num), run->obj ? run->obj[i * ne + e] : NAN);
				fprintf(f, ",%s", num);
			}
			fputc('\n', f);
		}
		free(objcol);
	}
	if ((rc = close_out(run, f, "data/selection.csv")) < 0)
		return rc;

	if (run->scores != NULL && run->nscores > 0) {
		rc = -EIO;
		if ((f = open_out(run, "data/scores.csv")) == NULL)
			return rc;
		fputs("filenames", f);
		for (size_t j = 0; j < run->nscores; j++) {
			fputc(',', f);
			put_field(f, run->col[j].label);
		}
		fputc('\n', f);
		for (size_t i = 0; i < run->ncand; i++) {
			fputs(names[i], f);
			for (size_t j = 0; j < run->nscores; j++)
				put_number(f, run->scores[i * run->nscores + j]);
			fputc('\n', f);
		}
		if ((rc = close_out(run, f, "data/scores.csv")) < 0)
			return rc;
	}

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings.csv")) == NULL)
		return rc;
	emb_csv_write(f, names, NULL, run->ncand, run->raw, run->d, run->o->threads);
	if ((rc = close_out(run, f, "data/embeddings.csv")) < 0)
		return rc;

	rc = -EIO;
	if ((f = open_out(run, "data/selected_embeddings.csv")) == NULL)
		return rc;
	emb_csv_write(f, names, run->sel.idx, run->sel.n, run->raw, run->d, run->o->threads);
	if ((rc = close_out(run, f, "data/selected_embeddings.csv")) < 0)
		return rc;

	rc = -EIO;
	if ((f = open_out(run, "data/embeddings_2d.csv")) == NULL)
		return rc;
	{
		double *xy = xcalloc_huge(run->ncand ? 2 * run->ncand : 1, sizeof(double));
		embed_pca2d(run->X, run->ncand, run->d, xy);
		fputs("filenames,x,y\n", f);
		for (size_t i = 0; i < run->ncand; i++) {
			fputs(names[i], f);
			put_number(f, xy[2 * i]);
			put_number(f, xy[2 * i + 1]);
			fputc('\n', f);
		}
		free(xy);
	}
	if ((rc = close_out(run, f, "data/embeddings_2d.csv")) < 0)
		return rc;
	return 0;
}

int report_write_json(struct run *run)
{
	cJSON *rep = report_json(run);
	char *text = cJSON_Print(rep);
	char *path = xasprintf("%s/report.json", run->o->run_dir);
	size_t tl = strlen(text);
	text = xrealloc(text, tl + 2);
	text[tl] = '\n';
	text[tl + 1] = '\0';
	int rc = write_file_atomic(path, text, tl + 1);
	if (rc < 0)
		run_fail(run, rc, false, "%s: %s", path, strerror(-rc));
	free(path);
	free(text);
	cJSON_Delete(rep);
	return rc;
}
