/*
 * predvec: the class vectors of the PREDICTIONS input (SPEC 4.8), made from
 * a task that predict.c has loaded once for the run (the scorers read the
 * same struct task_preds), so no prediction file is read twice.
 *
 * DESIGN: one pass over each image's entries costs O(entries + classes),
 * whatever the sizes. An entry without probabilities spreads
 * r = (1 - score) / (C - 1) over every category but its own; adding r to
 * C - 1 values per box would make a file of a million boxes on a schema of
 * a million categories 10^12 steps. Instead the pass sums r over the image's
 * entries (R) and, per class j, over the entries at j (R_j), and adds
 * R - R_j once at the end. The result equals the literal per-box sum up to
 * rounding, and is exactly 0 where every such entry lies at j (R_j and R are
 * then the same sums in the same order). An entry with probabilities is
 * added value by value: its vector is in memory already, so that work is
 * bounded by what predict.c read.
 */
#include "predvec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Category names listed in "is not a category" messages. */
#define NAMES_LISTED	10

void predvec_free(struct predvec *pv)
{
	if (pv == NULL)
		return;
	strvec_free(&pv->names);
	free(pv->v);
	memset(pv, 0, sizeof(*pv));
}

/* The first position in by_name (n long) whose name is >= name. */
static size_t lower_bound(const struct predict_name_idx *by_name, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(by_name[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int fail_unknown(const struct task_preds *t, const char *path, size_t k,
			const char *name, char *err, size_t errlen)
{
	const struct task_schema *s = &t->schema;
	struct buf names = { 0 };
	char *qn = predict_quote(name), *qt = predict_quote(t->name);

	for (size_t i = 0; i < s->ncats && i < NAMES_LISTED; i++) {
		char *q = predict_quote(s->cats[i].name);
		buf_printf(&names, "%s%s", i ? ", " : "", q);
		free(q);
	}
	if (s->ncats > NAMES_LISTED)
		buf_printf(&names, ", ... %zu in all", s->ncats);
	seterr(err, errlen, "%s.categories[%zu]: %s is not a category of task %s (its schema has %s)",
	       path, k, qn, qt, names.data);
	buf_free(&names);
	free(qn);
	free(qt);
	return -EINVAL;
}

static int fail_twice(const struct task_preds *t, const char *path, size_t a, size_t b,
		      char *err, size_t errlen)
{
	const struct task_schema *s = &t->schema;
	char *qn = predict_quote(s->cats[a].name);

	seterr(err, errlen, "%s.task: .lightly/predictions/%s/schema.json names categories %ld and "
	       "%ld both %s; the PREDICTIONS input needs distinct class names", path, t->name,
	       s->cats[a].id, s->cats[b].id, qn);
	free(qn);
	return -EINVAL;
}

/*
 * The schema indices kept, ascending, into keep (ncats long; returns their
 * number), or a negative errno with a message.
 */
static long kept_classes(const struct task_preds *t, const struct strvec *categories,
			 const char *path, size_t *keep, char *err, size_t errlen)
{
	const struct task_schema *s = &t->schema;
	size_t n = s->ncats, nkeep = 0;
	struct predict_name_idx *by_name = xcalloc(n ? n : 1, sizeof(*by_name));
	bool *want = xcalloc(n ? n : 1, sizeof(*want));
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		by_name[i] = (struct predict_name_idx){ s->cats[i].name, i };
	qsort(by_name, n, sizeof(*by_name), predict_name_idx_cmp);
	if (categories == NULL || categories->n == 0) {
		for (size_t i = 1; i < n && rc == 0; i++)
			if (strcmp(by_name[i - 1].name, by_name[i].name) == 0)
				rc = fail_twice(t, path, by_name[i - 1].idx, by_name[i].idx, err,
						errlen);
		for (size_t i = 0; i < n; i++)
			want[i] = true;
	} else {
		for (size_t k = 0; k < categories->n && rc == 0; k++) {
			const char *name = categories->v[k];
			size_t at = lower_bound(by_name, n, name);
			if (at == n || strcmp(by_name[at].name, name) != 0)
				rc = fail_unknown(t, path, k, name, err, errlen);
			else if (at + 1 < n && strcmp(by_name[at + 1].name, name) == 0)
				rc = fail_twice(t, path, by_name[at].idx, by_name[at + 1].idx, err,
						errlen);
			else
				want[by_name[at].idx] = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (want[i])
			keep[nkeep++] = i;
	free(want);
	free(by_name);
	return rc < 0 ? rc : (long)nkeep;
}

/*
 * Row of one image: col maps a schema index to its class or -1; keep the
 * other way; rest is scratch of nkeep values (R_j).
 */
static void image_row(const struct pred_image *im, enum plan_pred_name name,
		      const struct task_schema *s, const long *col, const size_t *keep,
		      size_t nkeep, double *rest, double *row)
{
	double r_all = 0;
	bool spread = false;

	for (size_t i = 0; i < im->n; i++) {
		const struct pred_entry *e = &im->e[i];
		long ci = task_schema_index(s, e->category_id);
		long c = ci >= 0 ? col[ci] : -1;

		if (name == PLAN_PRED_CATEGORY_COUNT) {
			if (c >= 0)
				row[c] += 1;
		} else if (e->probs != NULL) {
			/* nprobs >= ncats: a single p was expanded to [p, 1 - p]. */
			for (size_t j = 0; j < nkeep; j++)
				row[j] += e->probs[keep[j]];
		} else if (s->ncats == 1) {
			if (c >= 0)
				row[c] += e->score;
		} else {
			double r = (1.0 - e->score) / (double)(s->ncats - 1);
			if (!spread)
				memset(rest, 0, nkeep * sizeof(*rest));
			spread = true;
			r_all += r;
			if (c >= 0) {
				row[c] += e->score;
				rest[c] += r;
			}
		}
	}
	if (spread)
		for (size_t j = 0; j < nkeep; j++)
			row[j] += r_all - rest[j];
}

int predvec_compute(const struct task_preds *t, enum plan_pred_name name,
		    const struct strvec *categories, const char *path, struct predvec *out,
		    char *err, size_t errlen)
{
	const struct task_schema *s = &t->schema;
	size_t n = s->ncats, *keep, nkeep, values;
	long *col, got;
	double *rest;
	char *qt;

	memset(out, 0, sizeof(*out));
	if (name != PLAN_PRED_CLASS_DISTRIBUTION && name != PLAN_PRED_CATEGORY_COUNT) {
		seterr(err, errlen, "%s.name: missing (CLASS_DISTRIBUTION or CATEGORY_COUNT)", path);
		return -EINVAL;
	}
	if (s->type == TASK_KEYPOINT_DETECTION) {
		qt = predict_quote(t->name);
		seterr(err, errlen, "%s.task: %s is a keypoint-detection task; the PREDICTIONS input "
		       "needs a classification, object-detection or semantic-segmentation task",
		       path, qt);
		free(qt);
		return -EINVAL;
	}
	keep = xcalloc(n ? n : 1, sizeof(*keep));
	if ((got = kept_classes(t, categories, path, keep, err, errlen)) < 0) {
		free(keep);
		return (int)got;
	}
	nkeep = (size_t)got;
	if (__builtin_mul_overflow(t->nimg, nkeep, &values) || values > PREDVEC_MAX_VALUES) {
		qt = predict_quote(t->name);
		seterr(err, errlen, "%s: %zu candidates x %zu classes of task %s are more than 2^27 "
		       "values; keep fewer classes with categories", path, t->nimg, nkeep, qt);
		free(qt);
		free(keep);
		return -EINVAL;
	}

	col = xcalloc(n ? n : 1, sizeof(*col));
	for (size_t i = 0; i < n; i++)
		col[i] = -1;
	for (size_t j = 0; j < nkeep; j++) {
		col[keep[j]] = (long)j;
		strvec_push(&out->names, s->cats[keep[j]].name);
	}
	rest = xcalloc(nkeep ? nkeep : 1, sizeof(*rest));
	out->nimg = t->nimg;
	out->v = xcalloc_huge(values ? values : 1, sizeof(double));
	for (size_t i = 0; i < t->nimg; i++)
		image_row(&t->img[i], name, s, col, keep, nkeep, rest, out->v + i * nkeep);
	free(rest);
	free(col);
	free(keep);
	return 0;
}
