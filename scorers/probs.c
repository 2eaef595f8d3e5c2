/*
 * probs: the three uncertainty scores of one probability vector (SPEC 4.4),
 * shared by every task type, and scorer_compute, which dispatches a task to
 * its type's scorer and adds the object-frequency column (4.5).
 *
 * Numerics: every sum runs in index order and the formulas keep the shape of
 * the SPEC's (and of a plain float64 numpy implementation), so results agree
 * with such a reference to well under 1e-9 and are bit-for-bit repeatable.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "pool.h"
#include "scorer.h"

double scorer_clamp01(double x)
{
	/* Probabilities are accepted when they sum to 1 within 1e-3, so a raw
	   score can stray slightly outside [0,1]; the SPEC clamps. */
	/* Also turns -0 (an entropy of 0, negated) into +0, which %.17g
	   would print as "-0". */
	if (!(x > 0))
		return 0;
	if (x > 1)
		return 1;
	return x;
}

void score_probs(const double *p, size_t c, double *least_confidence, double *margin,
		 double *entropy)
{
	/* C = 1 (a one-category probabilities vector [1.0]) has no uncertainty
	   to measure and 1 - 1/C = log2(C) = 0 would divide by zero: define
	   every score as 0. */
	if (c < 2) {
		*least_confidence = *margin = *entropy = 0;
		return;
	}
	double m1 = p[0], m2 = -INFINITY, h = 0;
	for (size_t i = 1; i < c; i++) {
		if (p[i] > m1) {
			m2 = m1;
			m1 = p[i];
		} else if (p[i] > m2) {
			m2 = p[i];
		}
	}
	/* 0 log 0 = 0: only positive entries contribute. */
	for (size_t i = 0; i < c; i++)
		if (p[i] > 0)
			h += p[i] * log2(p[i]);
	*least_confidence = scorer_clamp01((1 - m1) / (1 - 1.0 / (double)c));
	*margin = scorer_clamp01(1 - (m1 - m2));
	*entropy = scorer_clamp01(-h / log2((double)c));
}

void score_pseudo(double score, size_t k, double *least_confidence, double *margin,
		  double *entropy)
{
	/* The pseudo vector of length K+1 holds `score` once and q = (1-score)/K
	   K times. It is scored in closed form rather than built: a category id
	   can be large, and the result is the same up to the order of the
	   entropy sum (K equal terms added as one product). */
	if (k < 1)
		k = 1;
	double c = (double)k + 1, q = (1 - score) / (double)k;
	double m1, m2, h = 0;
	if (score >= q) {
		m1 = score;
		m2 = q;
	} else {
		m1 = q;
		/* With K >= 2 the runner-up is another q; with K = 1 it is score. */
		m2 = k >= 2 ? q : score;
	}
	if (score > 0)
		h += score * log2(score);
	if (q > 0)
		h += (double)k * (q * log2(q));
	*least_confidence = scorer_clamp01((1 - m1) / (1 - 1.0 / c));
	*margin = scorer_clamp01(1 - (m1 - m2));
	*entropy = scorer_clamp01(-h / log2(c));
}

void score_entry(const struct pred_entry *e, size_t k, double s[3])
{
	if (e->probs)
		score_probs(e->probs, e->nprobs, &s[0], &s[1], &s[2]);
	else
		score_pseudo(e->score, k, &s[0], &s[1], &s[2]);
}

size_t pseudo_k(const struct pred_image *im)
{
	long k = 1;
	for (size_t j = 0; j < im->n; j++)
		if (!im->e[j].probs && im->e[j].category_id > k)
			k = im->e[j].category_id;
	return (size_t)k;
}

int scorer_compute(const struct task_preds *t, const struct scorer_opts *opts, double *out)
{
	enum task_type type = t->schema.type;
	if ((int)type < 0 || type >= TASK_TYPE_COUNT)
		return -EINVAL;
	size_t stride = task_score_count(type);
	if (t->nimg > 0)
		memset(out, 0, t->nimg * stride * sizeof *out);
	switch (type) {
	case TASK_CLASSIFICATION:
		classification_score(t, out, stride);
		break;
	case TASK_OBJECT_DETECTION:
		detection_score(t, out, stride);
		/* The column stays 0 when the scorer is off (scorer ""). */
		if (opts && opts->object_frequency) {
			int col = task_score_index(type, "object_frequency");
			if (col < 0)
				return -EINVAL;
			object_frequency_score(t, opts->frequency_penalty, opts->min_score,
					       out + col, stride);
		}
		break;
	case TASK_SEMANTIC_SEGMENTATION:
		segmentation_score(t, out, stride);
		break;
	case TASK_KEYPOINT_DETECTION:
		keypoints_score(t, out, stride);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

struct score_job {
	const struct task_preds *t;
	double *out;
	size_t stride, block;
};

static void score_block(size_t b, int tid, void *ud)
{
	const struct score_job *j = ud;
	struct task_preds view = *j->t;
	size_t start = b * j->block;

	view.img = j->t->img + start;
	view.nimg = start + j->block < j->t->nimg ? j->block : j->t->nimg - start;
	scorer_compute(&view, NULL, j->out + start * j->stride);
}

int scorer_compute_mt(const struct task_preds *t, const struct scorer_opts *opts, double *out,
		      int threads)
{
	enum task_type type = t->schema.type;

	if ((int)type < 0 || type >= TASK_TYPE_COUNT)
		return -EINVAL;
	size_t block = t->nimg / ((size_t)(threads > 0 ? threads : 1) * 8);
	block = block < 64 ? 64 : block > 4096 ? 4096 : block;
	struct score_job j = { t, out, task_score_count(type), block };
	/* Every per-image score depends on that image alone; blocks are independent. */
	pool_for((t->nimg + j.block - 1) / j.block, threads, score_block, &j, NULL);
	if (type == TASK_OBJECT_DETECTION && opts != NULL && opts->object_frequency) {
		int col = task_score_index(type, "object_frequency");
		if (col < 0)
			return -EINVAL;
		object_frequency_score(t, opts->frequency_penalty, opts->min_score, out + col,
				       j.stride);
	}
	return 0;
}
