/*
 * predvec: the PREDICTIONS input of a selection plan (SPEC 4.8), a class
 * vector per candidate made from a task's loaded predictions (predict.h),
 * for the BALANCE strategy.
 */
#ifndef WINNOW_PREDVEC_H
#define WINNOW_PREDVEC_H

#include <stddef.h>

#include "plan.h"
#include "predict.h"
#include "util.h"

/*
 * At most this many values (candidates x classes) in one PREDICTIONS input:
 * 1 GiB of doubles. A schema.json of 64 MiB can name millions of
 * categories, and every candidate gets a value for each.
 */
#define PREDVEC_MAX_VALUES	((size_t)1 << 27)

struct predvec {
	struct strvec names;	/* the classes, in the schema's ascending id order */
	double *v;		/* nimg x names.n, row-major; row i is image i of the task */
	size_t nimg;
};

/*
 * The class vector of every image of t (t->nimg, in t's order) for the
 * PREDICTIONS input `name` (CLASS_DISTRIBUTION or CATEGORY_COUNT), over the
 * schema's categories in ascending id order, or only those named in
 * `categories` (borrowed; NULL or empty: all) in that same order:
 * - CLASS_DISTRIBUTION: the sum over the image's entries of their
 *   probability vectors; an entry without probabilities (a box or segment)
 *   contributes its score at its category and (1 - score) / (C - 1) at each
 *   other of the schema's C categories (C = 1: the score). A classification
 *   entry is its probability vector; with a 1-category schema a single p is
 *   [p], with 2 categories [p, 1 - p].
 * - CATEGORY_COUNT: the number of entries at each category (classification:
 *   one-hot of its category).
 * An image without predictions gets the zero vector.
 *
 * `path` is the JSON path of the plan entry's input
 * ("selection.strategies[2].input"); messages start with it. Returns 0, or
 * -EINVAL with a message in err: a keypoint-detection task, a category name
 * the schema lacks, two kept categories of one name, more than
 * PREDVEC_MAX_VALUES values. out is zeroed on error; free with predvec_free.
 */
int predvec_compute(const struct task_preds *t, enum plan_pred_name name,
		    const struct strvec *categories, const char *path, struct predvec *out,
		    char *err, size_t errlen);

/* Releases what pv owns and zeroes it; predvec_free(NULL) is a no-op. */
void predvec_free(struct predvec *pv);

#endif
