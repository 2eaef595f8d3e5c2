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
 * opts->object_frequency == 0, the object_frequency column is 0. Values are
 * in [0,1]. Returns 0.
 */
int scorer_compute(const struct task_preds *t, const struct scorer_opts *opts, double *out);

/* The three uncertainty scores of one probability vector of length c (c >= 1). */
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

#endif
