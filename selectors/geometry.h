/*
 * geometry: the distance helpers the diversity selectors (coreset, coral)
 * share, so that both see the same float64 distances on the same rows.
 */
#ifndef WINNOW_GEOMETRY_H
#define WINNOW_GEOMETRY_H

#include <stdbool.h>
#include <stddef.h>

/* Marks d[i] of a row that can no longer be picked (selected or preselected). */
#define GEOM_TAKEN (-1.0)

/* Squared Euclidean distance between a and b (d values each), summed from the differences. */
double geom_sqdist(const double *a, const double *b, size_t d);

/*
 * The row farthest from the float64 mean of ALL n rows of X, among the rows
 * with among[i] true (every row when among is NULL); lowest index on ties.
 * Returns SIZE_MAX when no row qualifies (n = 0).
 */
size_t geom_farthest_from_mean(const double *X, size_t n, size_t dim, const bool *among);

#endif
