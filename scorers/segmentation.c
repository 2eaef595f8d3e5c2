/*
 * segmentation: SPEC 4.4 for semantic-segmentation tasks. Each segment is
 * scored like a box; the image's score is the mean over its segments weighted
 * by their pixel counts (overlapping segments each count their own pixels),
 * and 0 when no pixel is covered.
 */
#include "scorer.h"

void segmentation_score(const struct task_preds *t, double *out, size_t stride)
{
	for (size_t i = 0; i < t->nimg; i++) {
		const struct pred_image *im = &t->img[i];
		double *row = out + i * stride;
		double acc[3] = {0, 0, 0}, wsum = 0;
		row[0] = row[1] = row[2] = 0;
		if (im->n == 0)
			continue;
		size_t k = pseudo_k(im);
		for (size_t j = 0; j < im->n; j++) {
			const struct pred_entry *e = &im->e[j];
			/* A segment without pixels weighs nothing; skipping it
			   also saves its logarithms. */
			if (e->pixels == 0)
				continue;
			double s[3], w = (double)e->pixels;
			score_entry(e, k, s);
			for (int c = 0; c < 3; c++)
				acc[c] += w * s[c];
			wsum += w;
		}
		if (wsum == 0)
			continue;
		for (int c = 0; c < 3; c++)
			row[c] = scorer_clamp01(acc[c] / wsum);
	}
}
