/*
 * detection: SPEC 4.4 for object-detection tasks. Each box is scored from its
 * probabilities or its pseudo vector; the image takes the maximum over its
 * boxes of each uncertainty score, and objectness_least_confidence = 1 - the
 * mean box score. Columns 0..3; object_frequency (column 4) is 4.5's, filled
 * by object_frequency.c.
 */
#include "scorer.h"

void detection_score(const struct task_preds *t, double *out, size_t stride)
{
	for (size_t i = 0; i < t->nimg; i++) {
		const struct pred_image *im = &t->img[i];
		double *row = out + i * stride;
		row[0] = row[1] = row[2] = row[3] = 0;
		if (im->n == 0)
			continue;
		size_t k = pseudo_k(im);
		double mx[3] = {0, 0, 0}, sum = 0;
		for (size_t j = 0; j < im->n; j++) {
			double s[3];
			score_entry(&im->e[j], k, s);
			for (int c = 0; c < 3; c++)
				if (s[c] > mx[c])
					mx[c] = s[c];
			sum += im->e[j].score;
		}
		row[0] = mx[0];
		row[1] = mx[1];
		row[2] = mx[2];
		row[3] = scorer_clamp01(1 - sum / (double)im->n);
	}
}
