/*
 * knn: exact K-nearest-neighbour mean distances for TYPICALITY (SPEC 4.8).
 *
 * DESIGN. Every row i keeps a max-heap of the K smallest float64 squared
 * distances v_ij = geom_sqdist(x_i, x_j) seen so far (j != i). A pair is
 * pushed when the heap holds fewer than K values or v_ij < its top; the heap
 * then ends as the K smallest values of all v_ij (as a multiset: ties are
 * equal values), whatever order the pairs came in, so the sorted sum
 * m_i = sum sqrt(v) / K is the same on any number of threads. Speed comes
 * from computing v_ij only for the pairs a float32 screen cannot rule out:
 *
 * 1. Rows. Distances do not change under a shift or a power-of-two scale, so
 *    the screen works on y_i = 2^-sc fl64(x_i - mu), mu the float64 mean and
 *    sc such that max |y_i| < 1, with entries below 2^-60 set to 0 and the
 *    rest rounded to float32: y'_i. Let z_i = 2^-sc (x_i - mu) exactly and
 *    r = |z_i - z_j| = 2^-sc |x_i - x_j|. The shift rounds by 2^-53, the
 *    float32 copy by u = 2^-24 relative, and a zeroed entry is off by less
 *    than 2^-60, so |y'_i - z_i| <= (u + 2^-52)|y_i| + sqrt(d) 2^-60 and
 *        | |y'_i - y'_j| - r | <= e_ij = 2^-23 (n_i + n_j) + d 2^-59,
 *    n_i an upper bound of |y_i| (the computed norm times 1 + (d+4) 2^-52).
 * 2. The screen. q_i = sum of y'_ik^2 in float64 (each square exact, the sum
 *    within gamma64 = d 2^-53 relative), g_ij = the cblas_sgemm dot product
 *    y'_i . y'_j, E_ij = (q_i + q_j) - 2 g_ij in float64. Any float32 dot
 *    product of d terms, in any order and with or without FMA, is within
 *    gamma32 = d u / (1 - d u) of sum |y'_ik y'_jk| <= (q_i + q_j) / 2; no
 *    nonzero product underflows (each factor is >= 2^-60 or 0) and nothing
 *    overflows (|y'| < 1 + 2^-20); a flush-to-zero of a subnormal partial sum
 *    costs under 2^-126 each. Hence with S' = |y'_i - y'_j|^2,
 *        |E_ij - S'| <= B_ij = beta (q_i + q_j) + d 2^-124,
 *    beta = (d + 4) 2^-23 covering gamma32 + gamma64 + the three float64
 *    roundings of E for d < 2^20 (below it gamma32 < 1.07 d u).
 * 3. The float64 side. geom_sqdist is within gamma = (d + 4) 2^-53 relative of
 *    R = |x_i - x_j|^2, plus (d + 4) 2^-1074 for underflow: R <= (v + va) r64
 *    with r64 = 1 + (d + 4) 2^-51 and va that absolute term. In scaled units
 *    (factor 2^-2sc, exact except for subnormals, which get 2^-1070 added),
 *    a pair with v_ij < T satisfies r^2 < (T' + va') r64, so
 *        E_ij <= S' + B_ij <= (sqrt((T' + va') r64) + e_ij)^2 + B_ij.
 *    The screen computes that bound W with the largest e and B over the
 *    tile's columns (both only enlarge it) and relative margins 2^-39 inside
 *    the root and 2^-40 outside for its own roundings, and recomputes v_ij
 *    only where E_ij <= W (T = the heap's top; W = +inf while the heap holds
 *    fewer than K values, and no pair can beat a top of 0). Every pair it
 *    skips has v_ij >= T: pushing it would change nothing.
 *
 * Tiles. Rows are cut into blocks of BS. When the heaps fit beside the rows
 * (n K <= max(n d, 2^22)), every heap lives for the whole run and each pair
 * of blocks a <= b is one SGEMM tile that feeds both a's rows and b's (the
 * Gram matrix is symmetric: half the work); a block's heaps are updated under
 * its mutex, the float64 recomputes are made outside it. Otherwise a task
 * owns TR rows (TR K doubles of heaps, at most 2^20) and sweeps every column
 * block: memory O(threads x block) whatever K is.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geometry.h"
#include "knn.h"
#include "pool.h"
#include "util.h"

#define BS 256			/* rows per block and per SGEMM tile side */
#define HEAP_BUDGET (1u << 20)	/* heap doubles a task of the one-sided sweep holds */
#define SYM_MIN (1u << 22)	/* heap doubles the symmetric sweep may always hold */
#define ZERO_BELOW 0x1p-60	/* scaled entries below this are 0 in the float32 copy */
#define VAL_MAX 0x1p250		/* larger values could overflow a squared distance */

/* Per-thread scratch of a tile. */
struct worker {
	float *G;		/* BS x BS dot products */
	double *wa, *wb;	/* screen bounds of the tile's rows and of its columns */
	uint8_t *fl;		/* one row's hit flags */
	uint32_t *hit;		/* hits: side << 30 | r << 15 | t */
	double *hv;		/* their v */
	double *lh;		/* one-sided: the task's heaps, TR x K */
	uint32_t *lc;		/* and their counts */
};

struct knn {
	const double *X;
	size_t n, d, nb, K, tr;
	bool sym;
	float *Yf;		/* n x d: y' (DESIGN 1) */
	double *q;		/* |y'_i|^2 */
	double *ny;		/* upper bounds of |y_i| */
	double *bq, *bny;	/* their maxima per block */
	int sc;			/* y = 2^-sc (x - mu) */
	double beta, babs, eabs, r64, va;	/* DESIGN 2, 1, 3 (va scaled) */
	double *H;		/* symmetric: n x K heaps */
	uint32_t *cnt;		/* and their counts */
	pthread_mutex_t *lock;	/* symmetric: one per block */
	struct worker *wk;
	double *m;
	volatile int *cancel;
};

/* ---- heaps: max-heaps of K doubles ---- */

static void heap_push(double *h, uint32_t *c, size_t K, double v)
{
	size_t i;

	if (*c < K) {
		i = (*c)++;
		while (i > 0 && h[(i - 1) / 2] < v) {
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = v;
		return;
	}
	if (!(v < h[0]))
		return;
	i = 0;
	for (;;) {
		size_t l = 2 * i + 1, b = i;
		double bv = v;
		if (l < K && h[l] > bv)
			b = l, bv = h[l];
		if (l + 1 < K && h[l + 1] > bv)
			b = l + 1;
		if (b == i)
			break;
		h[i] = h[b];
		i = b;
	}
	h[i] = v;
}

/* The mean of sqrt over the K values of a full heap, summed from the smallest (sorts h). */
static double heap_mean(double *h, size_t K)
{
	double s = 0;

	/* Heapsort: the top goes to the end, the heap shrinks. */
	for (size_t c = K; c > 1; c--) {
		double top = h[0], v = h[c - 1];
		size_t i = 0;
		for (;;) {
			size_t l = 2 * i + 1, b = i;
			double bv = v;
			if (l < c - 1 && h[l] > bv)
				b = l, bv = h[l];
			if (l + 1 < c - 1 && h[l + 1] > bv)
				b = l + 1;
			if (b == i)
				break;
			h[i] = h[b];
			i = b;
		}
		h[i] = v;
		h[c - 1] = top;
	}
	for (size_t k = 0; k < K; k++)
		s += sqrt(h[k]);
	return s / (double)K;
}

/* ---- the screen ---- */

/*
 * DESIGN 3's W for a row whose heap is (h, c), against columns whose largest
 * norm bound and q are nyc and qc; E_ij above it cannot give v_ij < top.
 */
static double screen_bound(const struct knn *kn, const double *h, uint32_t c, double nyr,
			   double qr, double nyc, double qc)
{
	if (c < kn->K)
		return INFINITY;
	if (!(h[0] > 0))
		return -INFINITY;
	double t = ldexp(h[0], -2 * kn->sc) + 0x1p-1070;
	double e = (nyr + nyc) * 0x1p-23 + kn->eabs;
	double b = kn->beta * (qr + qc) + kn->babs;
	double s = sqrt((t + kn->va) * kn->r64 * (1 + 0x1p-39)) + e;
	return (s * s + b) * (1 + 0x1p-40);
}

static double *heap_of(struct knn *kn, struct worker *w, size_t i, size_t i0, uint32_t **c)
{
	if (kn->sym) {
		*c = kn->cnt + i;
		return kn->H + i * kn->K;
	}
	*c = w->lc + (i - i0);
	return w->lh + (i - i0) * kn->K;
}

/*
 * Rows [i0, i0 + nr) against the columns of block bj. side_b: the tile also
 * feeds the columns' rows (symmetric sweep, bj's block above the rows' block).
 */
static void tile(struct knn *kn, struct worker *w, size_t i0, size_t nr, size_t bj, bool side_b)
{
	size_t d = kn->d, j0 = bj * BS, nc = j0 + BS < kn->n ? BS : kn->n - j0;
	size_t bi = i0 / BS, nh = 0;
	uint32_t *c;
	double *h;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, (int)d, 1.0f,
		    kn->Yf + i0 * d, (int)d, kn->Yf + j0 * d, (int)d, 0.0f, w->G, (int)nc);
	if (kn->sym)
		pthread_mutex_lock(&kn->lock[bi]);
	for (size_t r = 0; r < nr; r++) {
		h = heap_of(kn, w, i0 + r, i0, &c);
		w->wa[r] = screen_bound(kn, h, *c, kn->ny[i0 + r], kn->q[i0 + r], kn->bny[bj], kn->bq[bj]);
	}
	if (kn->sym)
		pthread_mutex_unlock(&kn->lock[bi]);
	if (side_b) {
		pthread_mutex_lock(&kn->lock[bj]);
		for (size_t t = 0; t < nc; t++) {
			h = heap_of(kn, w, j0 + t, i0, &c);
			w->wb[t] = screen_bound(kn, h, *c, kn->ny[j0 + t], kn->q[j0 + t],
						kn->bny[bi], kn->bq[bi]);
		}
		pthread_mutex_unlock(&kn->lock[bj]);
	} else {
		for (size_t t = 0; t < nc; t++)
			w->wb[t] = -INFINITY;
	}

	const double *qc = kn->q + j0, *wb = w->wb;
	for (size_t r = 0; r < nr; r++) {
		const float *g = w->G + r * nc;
		double a = kn->q[i0 + r], wa = w->wa[r];
		uint8_t *fl = w->fl;
		for (size_t t = 0; t < nc; t++) {
			double E = (a + qc[t]) - 2.0 * (double)g[t];
			fl[t] = (uint8_t)((E <= wa) | (E <= wb[t]) << 1);
		}
		if (i0 + r >= j0 && i0 + r < j0 + nc)
			fl[i0 + r - j0] = 0;	/* the row itself */
		for (size_t t = 0; t < nc; t++)
			if (fl[t])
				w->hit[nh++] = (uint32_t)fl[t] << 30 | (uint32_t)r << 15 | (uint32_t)t;
	}
	for (size_t k = 0; k < nh; k++) {
		size_t r = w->hit[k] >> 15 & 0x7fff, t = w->hit[k] & 0x7fff;
		w->hv[k] = geom_sqdist(kn->X + (i0 + r) * d, kn->X + (j0 + t) * d, d);
	}
	if (kn->sym)
		pthread_mutex_lock(&kn->lock[bi]);
	for (size_t k = 0; k < nh; k++) {
		if (!(w->hit[k] >> 30 & 1))
			continue;
		h = heap_of(kn, w, i0 + (w->hit[k] >> 15 & 0x7fff), i0, &c);
		heap_push(h, c, kn->K, w->hv[k]);
	}
	if (kn->sym)
		pthread_mutex_unlock(&kn->lock[bi]);
	if (side_b) {
		pthread_mutex_lock(&kn->lock[bj]);
		for (size_t k = 0; k < nh; k++) {
			if (!(w->hit[k] >> 31))
				continue;
			h = heap_of(kn, w, j0 + (w->hit[k] & 0x7fff), i0, &c);
			heap_push(h, c, kn->K, w->hv[k]);
		}
		pthread_mutex_unlock(&kn->lock[bj]);
	}
}

/* Symmetric sweep: block bi against the blocks bj >= bi. */
static void sym_task(size_t bi, int tid, void *ud)
{
	struct knn *kn = ud;
	size_t i0 = bi * BS, nr = i0 + BS < kn->n ? BS : kn->n - i0;

	for (size_t bj = bi; bj < kn->nb && !cancel_requested(kn->cancel); bj++)
		tile(kn, &kn->wk[tid], i0, nr, bj, bj != bi);
}

static void sym_finish(size_t bi, int tid, void *ud)
{
	struct knn *kn = ud;

	for (size_t i = bi * BS; i < (bi + 1) * BS && i < kn->n; i++)
		kn->m[i] = heap_mean(kn->H + i * kn->K, kn->K);
}

/* One-sided sweep: rows [u TR, (u + 1) TR) against every block, heaps in the worker. */
static void row_task(size_t u, int tid, void *ud)
{
	struct knn *kn = ud;
	struct worker *w = &kn->wk[tid];
	size_t i0 = u * kn->tr, nr = i0 + kn->tr < kn->n ? kn->tr : kn->n - i0;

	memset(w->lc, 0, kn->tr * sizeof(*w->lc));
	/* The row's own block first: near rows in path order make an early top. */
	for (size_t s = 0; s < kn->nb; s++) {
		if (cancel_requested(kn->cancel))
			return;
		tile(kn, w, i0, nr, (i0 / BS + s) % kn->nb, false);
	}
	for (size_t r = 0; r < nr; r++)
		kn->m[i0 + r] = heap_mean(w->lh + r * kn->K, kn->K);
}

/* ---- setup ---- */

/* -EINVAL when a value is not finite, -ERANGE when one is beyond VAL_MAX, else 0. */
static int check_values(const double *X, size_t count)
{
	int rc = 0;

	for (size_t i = 0; i < count; i++) {
		if (!isfinite(X[i]))
			return -EINVAL;
		if (fabs(X[i]) > VAL_MAX)
			rc = -ERANGE;
	}
	return rc;
}

/* DESIGN 1: y', q, the norm bounds, sc and the screen's constants. */
static void prepare(struct knn *kn)
{
	size_t n = kn->n, d = kn->d;
	double *mu = xcalloc(d, sizeof(*mu));
	double maxn = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d; k++)
			mu[k] += kn->X[i * d + k];
	for (size_t k = 0; k < d; k++)
		mu[k] /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (size_t k = 0; k < d; k++) {
			double t = kn->X[i * d + k] - mu[k];
			s += t * t;
		}
		kn->ny[i] = sqrt(s);
		if (kn->ny[i] > maxn)
			maxn = kn->ny[i];
	}
	if (maxn > 0)
		frexp(maxn * (1 + 0x1p-30), &kn->sc);
	double grow = 1 + (double)(d + 4) * 0x1p-52;
	for (size_t i = 0; i < n; i++) {
		double s = 0, q = 0;
		for (size_t k = 0; k < d; k++) {
			double y = ldexp(kn->X[i * d + k] - mu[k], -kn->sc);
			float f = fabs(y) < ZERO_BELOW ? 0.0f : (float)y;
			s += y * y;
			q += (double)f * f;
			kn->Yf[i * d + k] = f;
		}
		kn->ny[i] = sqrt(s) * grow;
		kn->q[i] = q;
	}
	for (size_t b = 0; b < kn->nb; b++) {
		kn->bq[b] = kn->bny[b] = 0;
		for (size_t i = b * BS; i < (b + 1) * BS && i < n; i++) {
			if (kn->q[i] > kn->bq[b])
				kn->bq[b] = kn->q[i];
			if (kn->ny[i] > kn->bny[b])
				kn->bny[b] = kn->ny[i];
		}
	}
	kn->beta = (double)(d + 4) * 0x1p-23;
	kn->babs = (double)d * 0x1p-124;
	kn->eabs = (double)d * 0x1p-59;
	kn->r64 = 1 + (double)(d + 4) * 0x1p-51;
	kn->va = ldexp((double)(d + 4), -1074 - 2 * kn->sc) + 0x1p-1070;
	free(mu);
}

int knn_mean_dist(const double *X, size_t n, size_t d, int K, int threads,
		  volatile int *cancel, double *m_out)
{
	struct knn kn = { .X = X, .n = n, .d = d, .m = m_out, .cancel = cancel };
	int rc, nt = threads > 0 ? threads : cpu_count();

	if (K <= 0)
		return -EINVAL;
	if (d >= (1u << 20))
		return -E2BIG;
	if ((rc = check_values(X, n * d)) < 0)
		return rc;
	if (n <= 1 || d == 0) {
		/* No other row, or every distance is 0. */
		for (size_t i = 0; i < n; i++)
			m_out[i] = 0;
		return 0;
	}
	kn.K = (size_t)K < n ? (size_t)K : n - 1;
	kn.nb = (n + BS - 1) / BS;
	kn.Yf = xalloc_aligned(n * d * sizeof(*kn.Yf));
	kn.q = xmalloc(n * sizeof(*kn.q));
	kn.ny = xmalloc(n * sizeof(*kn.ny));
	kn.bq = xmalloc(kn.nb * sizeof(*kn.bq));
	kn.bny = xmalloc(kn.nb * sizeof(*kn.bny));
	prepare(&kn);
	kn.sym = kn.K <= d || kn.K * n <= SYM_MIN;
	kn.tr = HEAP_BUDGET / kn.K;
	kn.tr = kn.tr < 1 ? 1 : kn.tr > BS ? BS : kn.tr;
	kn.wk = xcalloc((size_t)nt, sizeof(*kn.wk));
	for (int t = 0; t < nt; t++) {
		struct worker *w = &kn.wk[t];
		w->G = xmalloc((size_t)BS * BS * sizeof(*w->G));
		w->wa = xmalloc(BS * sizeof(*w->wa));
		w->wb = xmalloc(BS * sizeof(*w->wb));
		w->fl = xmalloc(BS);
		w->hit = xmalloc((size_t)BS * BS * sizeof(*w->hit));
		w->hv = xmalloc((size_t)BS * BS * sizeof(*w->hv));
		if (!kn.sym) {
			w->lh = xmalloc(kn.tr * kn.K * sizeof(*w->lh));
			w->lc = xmalloc(kn.tr * sizeof(*w->lc));
		}
	}
	/* Our threads split the tiles; OpenBLAS's own would only compete. */
	blas_serial();
	if (kn.sym) {
		kn.H = xmalloc(n * kn.K * sizeof(*kn.H));
		kn.cnt = xcalloc(n, sizeof(*kn.cnt));
		kn.lock = xmalloc(kn.nb * sizeof(*kn.lock));
		for (size_t b = 0; b < kn.nb; b++)
			pthread_mutex_init(&kn.lock[b], NULL);
		rc = pool_for(kn.nb, nt, sym_task, &kn, cancel);
		if (rc == 0 && cancel_requested(cancel))
			rc = -ECANCELED;
		if (rc == 0)
			rc = pool_for(kn.nb, nt, sym_finish, &kn, cancel);
		for (size_t b = 0; b < kn.nb; b++)
			pthread_mutex_destroy(&kn.lock[b]);
	} else {
		rc = pool_for((n + kn.tr - 1) / kn.tr, nt, row_task, &kn, cancel);
	}
	if (rc == 0 && cancel_requested(cancel))
		rc = -ECANCELED;
	for (int t = 0; t < nt; t++) {
		struct worker *w = &kn.wk[t];
		free(w->G);
		free(w->wa);
		free(w->wb);
		free(w->fl);
		free(w->hit);
		free(w->hv);
		free(w->lh);
		free(w->lc);
	}
	free(kn.wk);
	free(kn.H);
	free(kn.cnt);
	free(kn.lock);
	free(kn.Yf);
	free(kn.q);
	free(kn.ny);
	free(kn.bq);
	free(kn.bny);
	return rc;
}

void knn_typicality(const double *m, size_t n, double *o)
{
	double mmin = INFINITY;

	for (size_t i = 0; i < n; i++)
		if (m[i] < mmin)
			mmin = m[i];
	for (size_t i = 0; i < n; i++)
		o[i] = m[i] == 0 ? 1 : mmin / m[i];
}
