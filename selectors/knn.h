/*
 * knn: exact k-nearest-neighbour distances, the core of TYPICALITY (SPEC 4.8):
 * for every row, the mean Euclidean distance to its K nearest other rows.
 */
#ifndef WINNOW_KNN_H
#define WINNOW_KNN_H

#include <stddef.h>

/*
 * m_out[i] (n values, caller's array) = the mean of the K smallest float64
 * distances sqrt(geom_sqdist(x_i, x_j)) over the rows j != i of X (n x d,
 * row-major, borrowed), summed from the smallest up; exactly the value a
 * float64 brute force gives, whatever threads is. K >= n is clamped to n - 1;
 * n = 1 gives m = 0 (no other row); n = 0 does nothing. threads <= 0: all
 * cores. cancel (may be NULL) is polled between tiles.
 * Returns 0; -EINVAL for K <= 0 or a value that is not finite; -ERANGE for a
 * value beyond +-2^250 (its squared distances could overflow); -E2BIG for
 * d >= 2^20; -ECANCELED. Logs nothing: the caller estimates the O(n^2 d) cost.
 */
int knn_mean_dist(const double *X, size_t n, size_t d, int K, int threads,
		  volatile int *cancel, double *m_out);

/*
 * TYPICALITY's objective (SPEC 4.8) from m (n values, borrowed): o[i] =
 * m_min / m[i], m_min the smallest m; 1 where m[i] = 0, and 1 for every row
 * when n <= 1. o is the caller's array of n values.
 */
void knn_typicality(const double *m, size_t n, double *o);

#endif
