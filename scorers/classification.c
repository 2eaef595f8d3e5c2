/*
 * classification: SPEC 4.4 for classification tasks. Each image has one
 * entry whose probability vector is scored as is.
 */
#include "scorer.h"

void classification_score(const struct task_preds *t, double *out, size_t stride)
{
	for (size_t i = 0; i < t->nimg; i++) {
		const struct pred_image *im = &t->img[i];
		double *row = out + i * stride;
		/* The parser guarantees exactly one entry with probabilities;
		   anything else (no predictions) scores 0. */
		if (im->n == 0 || !im->e[0].probs) {
			row[0] = row[1] = row[2] = 0;
			continue;
		}
		score_probs(im->e[0].probs, im->e[0].nprobs, &row[0], &row[1], &row[2]);
	}
}
