/*
 * keypoints: SPEC 4.4 for keypoint-detection tasks: mean_uncertainty = 1 -
 * the mean over instances of each instance's mean keypoint confidence.
 */
#include "scorer.h"

void keypoints_score(const struct task_preds *t, double *out, size_t stride)
{
	for (size_t i = 0; i < t->nimg; i++) {
		const struct pred_image *im = &t->img[i];
		double sum = 0;
		size_t n = 0;
		for (size_t j = 0; j < im->n; j++) {
			const struct pred_entry *e = &im->e[j];
			/* The parser requires at least one triplet; an instance
			   without keypoints has no confidence to average, so it
			   is left out rather than divided by zero. */
			if (e->nkp == 0)
				continue;
			double c = 0;
			for (size_t q = 0; q < e->nkp; q++)
				c += e->kp_conf[q];
			sum += c / (double)e->nkp;
			n++;
		}
		out[i * stride] = n ? scorer_clamp01(1 - sum / (double)n) : 0;
	}
}
