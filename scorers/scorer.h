/*
 * scorer: the active-learning scores of SPEC 4.4 and the object-frequency
 * scorer of 4.5, one file per task type behind this one interface.
 */
#ifndef WINNOW_SCORER_H
#define WINNOW_SCORER_H

#include <stddef.h>

#include "predict.h"

struct scorer_opts {
	double frequency_penalty;	/* scorer_config.frequency_penalty */
	double min_score;		/* scorer_config.min_score */
	int object_frequency;		/* non-zero: compute object_frequency (detection) */
};

/*
 * Scores every image of t: out is nimg x task_score_count(type), row-major,
 * columns in task_score_name order. For object detection with
 * opts->object_frequency == 0 (scorer "") or opts NULL, the object_frequency
 * column is 0. Values are in [0,1]; an image without predictions scores 0
 * on every score but object frequency (n = 0 there). opts is only read for
 * object detection. Returns 0, or -EINVAL for an unknown task type.
 */
int scorer_compute(const struct task_preds *t, const struct scorer_opts *opts, double *out);

/*
 * The three uncertainty scores of one probability vector of length c, each
 * clamped to [0,1] (probabilities may sum to 1 +- 1e-3). c = 1 (only a
 * one-category vector [1.0]) and c = 0 give 0 on all three: there is no
 * uncertainty, and the normalisers 1 - 1/C and log2(C) are 0.
 */
void score_probs(const double *p, size_t c, double *least_confidence, double *margin,
		 double *entropy);

/* Per task type; each fills its columns of out for all images. */
void classification_score(const struct task_preds *t, double *out, size_t stride);
void detection_score(const struct task_preds *t, double *out, size_t stride);
void segmentation_score(const struct task_preds *t, double *out, size_t stride);
void keypoints_score(const struct task_preds *t, double *out, size_t stride);
/* object_frequency of every image into out[i * stride]. */
void object_frequency_score(const struct task_preds *t, double penalty, double min_score,
			    double *out, size_t stride);

/*
 * Helpers shared by the type scorers (public only so that the files of this
 * folder can share them; the tests use them too).
 */

/* x clamped to [0,1]. */
double scorer_clamp01(double x);

/*
 * The three scores of the pseudo vector of length k+1 (SPEC 4.4): `score` at
 * the box's category id and (1-score)/k at every other index. k < 1 counts
 * as 1.
 */
void score_pseudo(double score, size_t k, double *least_confidence, double *margin,
		  double *entropy);

/*
 * K of the pseudo vectors of an image: the largest category id among its
 * entries without probabilities, at least 1.
 */
size_t pseudo_k(const struct pred_image *im);

/*
 * s[0..2] = least confidence, margin, entropy of entry e: from its
 * probabilities, else from the pseudo vector with the image's k.
 */
void score_entry(const struct pred_entry *e, size_t k, double s[3]);

/*
 * scorer_compute on `threads` threads: images are scored in blocks in
 * parallel; object frequency, which needs every image's count, runs after.
 * Same results as scorer_compute, bit for bit.
 */
int scorer_compute_mt(const struct task_preds *t, const struct scorer_opts *opts, double *out,
		      int threads);

#endif
