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
 *        | |y'_i - y'_j| - r | <= e = 2^-22 N + d 2^-59,
 *    N an upper bound of every |y_i| (the largest computed norm times
 *    1 + (d + 4) 2^-52).
 * 2. The screen. q_i = sum of y'_ik^2 in float64 (each square exact, the sum
 *    within gamma64 = d 2^-53 relative), g_ij = the cblas_sgemm dot product
 *    y'_i . y'_j. Any float32 dot product of d terms, in any order and with or
 *    without FMA, is within gamma32 = d u / (1 - d u) of sum |y'_ik y'_jk| <=
 *    (q_i + q_j) / 2; no nonzero product underflows (each factor is >= 2^-60
 *    or 0) and nothing overflows (|y'| < 1 + 2^-20); a flush-to-zero of a
 *    subnormal partial sum costs under 2^-126 each. Hence with S' =
 *    |y'_i - y'_j|^2 and E_ij = (q_i + q_j) - 2 g_ij (exact or in float64),
 *        |E_ij - S'| <= B = 2 beta qmax + d 2^-124,
 *    qmax the largest q, beta = (d + 4) 2^-23 covering gamma32 + gamma64 + the
 *    float64 roundings of E for d < 2^20 (there gamma32 < 1.07 d u).
 * 3. The test. geom_sqdist is within gamma = (d + 4) 2^-53 relative of R =
 *    |x_i - x_j|^2, plus (d + 4) 2^-1074 for underflow: R <= (v + va) r64
 *    with r64 = 1 + (d + 4) 2^-51 and va that absolute term. In scaled units
 *    (factor 2^-2sc, exact except for subnormals, which get 2^-1070 added),
 *    a pair with v_ij <= T satisfies r^2 <= (T' + va') r64, so
 *        E_ij <= S' + B <= W = (sqrt((T' + va') r64) + e)^2 + B,
 *    computed with relative margins 2^-39 inside the root and 2^-40 outside
 *    for its own roundings. T is the heap's top once it holds K values (no
 *    pair can beat a top of 0: W = -inf), before that the seed (4.). The test
 *    itself runs in float32, eight pairs at a time: 2 g_ij - q_j >= q_i - W_i
 *    follows from E_ij <= W_i, and the float32 value fl(fl(2 g_ij) - fl(q_j))
 *    is within 2^-21 of 2 g_ij - q_j (every term below 2 + 2^-19), so a pair
 *    is recomputed when that value is >= thr_i = q_i - W_i - 2^-20 rounded
 *    down to float32 (and for the column's row, the same with i and j
 *    swapped). Every pair it skips has v_ij > T: pushing it changes nothing.
 * 4. Seeds. While a heap holds fewer than K values, its row's T is the seed:
 *    the least, over the tiles it met with at least K other columns, of
 *    U(E_K) with E_K the K-th smallest of its E there and U(E) = ((sqrt(E + B)
 *    + e)^2 r64 + va')(1 + 2^-40), an upper bound of a pair's scaled v (S' <=
 *    E + B, r <= sqrt(S') + e, v <= R (1 + gamma) + va). K rows lie at v <=
 *    seed, so the K nearest do too, and the screen keeps all of them.
 * 5. Order. Any order of the rows gives the same heaps; a good one makes the
 *    tops fall early. The rows are sorted by the nearest (float32 SGEMM) of
 *    C = (blocks) pivots, the rows c n / C, chained greedily so that
 *    consecutive cells are near; the symmetric sweep then takes its tiles in
 *    rounds of b - a = 0, 1, 2, ... and the one-sided sweep goes outwards from
 *    the row's own block, so that every row meets its likely neighbours first.
 * 6. Whole tiles. c_a, the float64 mean of block a's rows, and rho_a >= max
 *    |x_i - c_a| (from geom_sqdist with 3.'s bounds): every pair of blocks a
 *    and b has |x_i - x_j| >= L = |c_a - c_b| - rho_a - rho_b, so v_ij >=
 *    L^2 / r64 - 2^-1000. When that is at least every heap top of both blocks
 *    (all full), the tile would change nothing and is not computed.
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

#define BS 512			/* rows per block and per SGEMM tile side */
#define HEAP_BUDGET (1u << 20)	/* heap doubles a task of the one-sided sweep holds */
#define SYM_MIN (1u << 22)	/* heap doubles the symmetric sweep may always hold */
#define ZERO_BELOW 0x1p-60	/* scaled entries below this are 0 in the float32 copy */
#define VAL_MAX 0x1p250		/* larger values could overflow a squared distance */
#define ABS64 0x1p-1000		/* absolute slack for float64 underflow (DESIGN 6) */
#define GROUP 64		/* columns the flag pass tests before looking for hits */

/*
 * The flag pass is built for AVX2 and for any x86-64, picked at load time
 * (as in kcenter.c); ThreadSanitizer's build has the default copy only.
 */
#if defined(__SANITIZE_THREAD__) || !defined(__x86_64__)
#define CLONES
#else
#define CLONES __attribute__((target_clones("avx2", "default")))
#endif

/* Per-thread scratch of a tile. */
struct worker {
	float *G;		/* BS x BS dot products */
	float *ta, *tb;		/* thresholds of the tile's rows and of its columns */
	uint32_t *hit;		/* hits: side << 30 | r << 15 | t */
	double *hv;		/* their v */
	double *ev;		/* one row's E values, for its seed */
	double *lh;		/* one-sided: the task's heaps, TR x K */
	uint32_t *lc;		/* and their counts */
	double *ls;		/* seeds */
	float *lt;		/* thresholds */
};

struct knn {
	const double *X;
	size_t n, d, nb, K, tr;
	bool sym;
	size_t *perm;		/* row p of the sweep is row perm[p] of X (DESIGN 5) */
	float *Yf;		/* n x d: y' (DESIGN 1), in sweep order */
	double *q;		/* |y'_i|^2 */
	float *qf;		/* the same in float32 */
	int sc;			/* y = 2^-sc (x - mu) */
	double e, b, r64, va;	/* e of DESIGN 1, B of 2, r64 and va' of 3 */
	double *H;		/* symmetric: n x K heaps */
	uint32_t *cnt;		/* and their counts */
	double *seed;		/* seeds (DESIGN 4) */
	float *thr;		/* thresholds (DESIGN 3) */
	pthread_mutex_t *lock;	/* symmetric: one per block */
	double *cent, *rad;	/* symmetric: each block's centre and radius (DESIGN 6) */
	struct worker *wk;
	double *m;
	volatile int *cancel;
};

/* ---- heaps: max-heaps of K doubles ---- */

/* Puts v in the place of the top of the heap h[0, c) and sifts it down. */
static void sift_down(double *h, size_t c, double v)
{
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, b = i;
		double bv = v;
		if (l < c && h[l] > bv)
			b = l, bv = h[l];
		if (l + 1 < c && h[l + 1] > bv)
			b = l + 1;
		if (b == i)
			break;
		h[i] = h[b];
		i = b;
	}
	h[i] = v;
}

/* Adds v to the heap (h, *c) of at most K values: while it is full, only below the top. */
static void heap_push(double *h, uint32_t *c, size_t K, double v)
{
	if (*c < K) {
		size_t i = (*c)++;
		while (i > 0 && h[(i - 1) / 2] < v) {
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = v;
	} else if (v < h[0]) {
		sift_down(h, K, v);
	}
}

/* The mean of sqrt over the K values of a full heap, summed from the smallest (sorts h). */
static double heap_mean(double *h, size_t K)
{
	double s = 0;

	/* Heapsort: the top goes to the end, the heap shrinks. */
	for (size_t c = K; c > 1; c--) {
		double top = h[0];
		sift_down(h, c - 1, h[c - 1]);
		h[c - 1] = top;
	}
	for (size_t k = 0; k < K; k++)
		s += sqrt(h[k]);
	return s / (double)K;
}

/* ---- the screen ---- */

/* A row's state: its heap, the heap's count, its seed and its threshold (DESIGN 3, 4). */
struct rowref {
	double *h;
	uint32_t *c;
	double *seed;
	float *thr;
};

static struct rowref row_of(struct knn *kn, struct worker *w, size_t i, size_t i0)
{
	if (kn->sym)
		return (struct rowref){ kn->H + i * kn->K, kn->cnt + i, kn->seed + i, kn->thr + i };
	i -= i0;
	return (struct rowref){ w->lh + i * kn->K, w->lc + i, w->ls + i, w->lt + i };
}

/* DESIGN 3's W for a scaled threshold t: no pair with E above it has v' <= t. */
static double window(const struct knn *kn, double t)
{
	double s = sqrt((t + kn->va) * kn->r64 * (1 + 0x1p-39)) + kn->e;
	return (s * s + kn->b) * (1 + 0x1p-40);
}

/* DESIGN 4: an upper bound of v' for a pair at E. */
static double upper(const struct knn *kn, double E)
{
	double s = sqrt(E + kn->b > 0 ? E + kn->b : 0) + kn->e;
	return (s * s * kn->r64 + kn->va) * (1 + 0x1p-40);
}

/* Row i's float threshold (DESIGN 3) from its heap and seed. */
static void row_update(const struct knn *kn, struct rowref rr, size_t i)
{
	double W, t;
	float f;

	if (*rr.c < kn->K)
		W = window(kn, *rr.seed);
	else if (!(rr.h[0] > 0))
		W = -INFINITY;	/* nothing is below 0 */
	else
		W = window(kn, ldexp(rr.h[0], -2 * kn->sc) + 0x1p-1070);
	t = kn->q[i] - W - 0x1p-20;
	f = (float)t;
	*rr.thr = (double)f > t ? nextafterf(f, -INFINITY) : f;
}

/* The k-th smallest (from 0) of v[0, n), k < n; v is reordered (Hoare's selection). */
static double select_kth(double *v, size_t n, size_t k)
{
	ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;

	while (lo < hi) {
		double p = v[lo + (hi - lo) / 2];
		ptrdiff_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				double t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (kk <= j)
			hi = j;
		else if (kk >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/*
 * Row i's threshold for a tile, whose E values against the other side are
 * ev[0, ne) (self excluded): a row with fewer than K values in its heap
 * first takes a seed from them (DESIGN 4).
 */
static float row_thr(const struct knn *kn, struct rowref rr, size_t i, double *ev, size_t ne)
{
	if (*rr.c < kn->K && ne >= kn->K) {
		double u = upper(kn, select_kth(ev, ne, kn->K - 1));
		if (u < *rr.seed) {
			*rr.seed = u;
			row_update(kn, rr, i);
		}
	}
	return *rr.thr;
}

/* E_ij of DESIGN 2, as the seeds compute it. */
static inline double screen_e(double qi, double qj, float g)
{
	return (qi + qj) - 2.0 * (double)g;
}

/*
 * Row i's threshold for a tile in which its dot products with the other
 * side's rows (q values qo) are g[0], g[stride], ... (len of them), entry
 * self being the row itself (-1: none).
 */
static float tile_thr(struct knn *kn, struct worker *w, size_t i, size_t i0, const float *g,
		      size_t stride, const double *qo, size_t len, ptrdiff_t self)
{
	struct rowref rr = row_of(kn, w, i, i0);
	size_t ne = 0;

	if (*rr.c < kn->K)
		for (size_t t = 0; t < len; t++)
			if ((ptrdiff_t)t != self)
				w->ev[ne++] = screen_e(kn->q[i], qo[t], g[t * stride]);
	return row_thr(kn, rr, i, w->ev, ne);
}

/* Pushes v into row i's heap and brings its threshold up to date. */
static void row_push(const struct knn *kn, struct rowref rr, size_t i, double v)
{
	if (*rr.c == kn->K && !(v < rr.h[0]))
		return;
	heap_push(rr.h, rr.c, kn->K, v);
	if (*rr.c == kn->K)
		row_update(kn, rr, i);
}

typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef int v8i __attribute__((vector_size(32)));

/*
 * The flags of eight columns as a vector (lanes as flag_pairs's scalar test;
 * nonzero: may hit), and whether any lane is set. Macros, so that each clone
 * of flag_pairs builds them in its own ISA.
 */
#define FLAG8(g, qc, tb) \
	((2.0f * *(const v8f *)(g) - *(const v8f *)(qc) >= wv) | \
	 (2.0f * *(const v8f *)(g) - av >= *(const v8f *)(tb)))
#define ANY8(m) ((((m)[0] | (m)[1]) | ((m)[2] | (m)[3])) | (((m)[4] | (m)[5]) | ((m)[6] | (m)[7])))

/*
 * The pairs (r, t) of the tile with 2g - qc[t] >= ta[r] (flag 1) or
 * 2g - qa[r] >= tb[t] (flag 2), in float32 (DESIGN 3), the row itself
 * (t = r + self) left out, into hit; returns their number. Eight columns are
 * tested at once, GROUP before one check; only groups with a hit are looked
 * at one by one, with the same float operations.
 */
CLONES static size_t flag_pairs(const float *G, size_t nr, size_t nc, const float *qa,
				const float *ta, const float *qc, const float *tb,
				ptrdiff_t self, uint32_t *hit)
{
	size_t nh = 0;

	for (size_t r = 0; r < nr; r++) {
		const float *g = G + r * nc;
		float a = qa[r], w = ta[r];
		v8f av = {a, a, a, a, a, a, a, a}, wv = {w, w, w, w, w, w, w, w};
		size_t t = 0, t1;
		ptrdiff_t me = self + (ptrdiff_t)r;
		for (; t < nc; t = t1) {
			t1 = t + GROUP <= nc ? t + GROUP : nc;
			if (t1 == t + GROUP) {
				v8i m = {0};
				for (size_t u = t; u < t1; u += 8)
					m |= FLAG8(g + u, qc + u, tb + u);
				if (!ANY8(m))
					continue;
			}
			for (size_t u = t; u < t1; u += 8) {
				size_t u1 = u + 8 <= t1 ? u + 8 : t1;
				if (u1 == u + 8) {
					v8i m = FLAG8(g + u, qc + u, tb + u);
					if (!ANY8(m))
						continue;
				}
				for (size_t x = u; x < u1; x++) {
					float g2 = 2.0f * g[x];
					uint32_t f = (uint32_t)(g2 - qc[x] >= w) |
						     (uint32_t)(g2 - a >= tb[x]) << 1;
					if (f && (ptrdiff_t)x != me)
						hit[nh++] = f << 30 | (uint32_t)r << 15 | (uint32_t)x;
				}
			}
		}
	}
	return nh;
}

/*
 * Rows [i0, i0 + nr) against the columns of block bj. side_b: the tile also
 * feeds the columns' rows (symmetric sweep, bj's block above the rows' block).
 */
static void tile(struct knn *kn, struct worker *w, size_t i0, size_t nr, size_t bj, bool side_b)
{
	size_t d = kn->d, j0 = bj * BS, nc = j0 + BS < kn->n ? BS : kn->n - j0;
	size_t bi = i0 / BS, nh;
	const double *qr = kn->q + i0, *qc = kn->q + j0;
	ptrdiff_t self = (ptrdiff_t)i0 - (ptrdiff_t)j0;	/* row r is column r + self */

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, (int)d, 1.0f,
		    kn->Yf + i0 * d, (int)d, kn->Yf + j0 * d, (int)d, 0.0f, w->G, (int)nc);
	if (kn->sym)
		pthread_mutex_lock(&kn->lock[bi]);
	for (size_t r = 0; r < nr; r++)
		w->ta[r] = tile_thr(kn, w, i0 + r, i0, w->G + r * nc, 1, qc, nc, self + (ptrdiff_t)r);
	if (kn->sym)
		pthread_mutex_unlock(&kn->lock[bi]);
	if (side_b) {
		pthread_mutex_lock(&kn->lock[bj]);
		for (size_t t = 0; t < nc; t++)
			w->tb[t] = tile_thr(kn, w, j0 + t, i0, w->G + t, nc, qr, nr, -1);
		pthread_mutex_unlock(&kn->lock[bj]);
	} else {
		for (size_t t = 0; t < nc; t++)
			w->tb[t] = INFINITY;
	}

	nh = flag_pairs(w->G, nr, nc, kn->qf + i0, w->ta, kn->qf + j0, w->tb, self, w->hit);
	for (size_t k = 0; k < nh; k++) {
		size_t r = w->hit[k] >> 15 & 0x7fff, t = w->hit[k] & 0x7fff;
		w->hv[k] = geom_sqdist(kn->X + kn->perm[i0 + r] * d, kn->X + kn->perm[j0 + t] * d, d);
	}
	if (kn->sym)
		pthread_mutex_lock(&kn->lock[bi]);
	for (size_t k = 0; k < nh; k++) {
		if (!(w->hit[k] >> 30 & 1))
			continue;
		size_t i = i0 + (w->hit[k] >> 15 & 0x7fff);
		row_push(kn, row_of(kn, w, i, i0), i, w->hv[k]);
	}
	if (kn->sym)
		pthread_mutex_unlock(&kn->lock[bi]);
	if (side_b) {
		pthread_mutex_lock(&kn->lock[bj]);
		for (size_t k = 0; k < nh; k++) {
			if (!(w->hit[k] >> 31))
				continue;
			size_t j = j0 + (w->hit[k] & 0x7fff);
			row_push(kn, row_of(kn, w, j, i0), j, w->hv[k]);
		}
		pthread_mutex_unlock(&kn->lock[bj]);
	}
}

/*
 * Symmetric sweep: tile u of the pairs of blocks bi <= bj, in rounds of
 * bj - bi = 0, 1, 2, ...: with rows in cell order, every row meets its
 * likely neighbours first, and its heap's top falls early.
 */
/*
 * The largest heap top over block b's rows (under its lock); +inf while one
 * of them holds fewer than K values.
 */
static double block_top(struct knn *kn, size_t b)
{
	double t = 0;

	pthread_mutex_lock(&kn->lock[b]);
	for (size_t i = b * BS; i < (b + 1) * BS && i < kn->n; i++) {
		double v = kn->cnt[i] < kn->K ? INFINITY : kn->H[i * kn->K];
		if (!(v <= t))
			t = v;
	}
	pthread_mutex_unlock(&kn->lock[b]);
	return t;
}

/*
 * DESIGN 6: true when no pair of blocks a and b can have v below its rows'
 * heap tops, so that the tile would change nothing.
 */
static bool tile_ruled_out(struct knn *kn, size_t a, size_t b)
{
	size_t d = kn->d;
	double s = geom_sqdist(kn->cent + a * d, kn->cent + b * d, d);
	double D = sqrt(s > ABS64 ? (s - ABS64) / kn->r64 : 0) * (1 - 0x1p-50);
	double L = D - (kn->rad[a] + kn->rad[b]) * (1 + 0x1p-50);

	if (!(L > 0))
		return false;
	double lv = L * L * (1 - 0x1p-48) / kn->r64 - ABS64;
	return lv >= block_top(kn, a) && lv >= block_top(kn, b);
}

static void sym_tile(size_t u, int tid, void *ud)
{
	struct knn *kn = ud;
	size_t nb = kn->nb, lo = 0, hi = nb - 1;

	/* The round: the largest dl with dl nb - dl (dl - 1) / 2 tiles before it at most u. */
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;
		if (mid * nb - mid * (mid - 1) / 2 <= u)
			lo = mid;
		else
			hi = mid - 1;
	}
	size_t bi = u - (lo * nb - lo * (lo - 1) / 2), i0 = bi * BS;
	if (lo > 0 && tile_ruled_out(kn, bi, bi + lo))
		return;
	tile(kn, &kn->wk[tid], i0, i0 + BS < kn->n ? BS : kn->n - i0, bi + lo, lo > 0);
}

static void sym_finish(size_t bi, int tid, void *ud)
{
	struct knn *kn = ud;

	for (size_t i = bi * BS; i < (bi + 1) * BS && i < kn->n; i++)
		kn->m[kn->perm[i]] = heap_mean(kn->H + i * kn->K, kn->K);
}

/* One-sided sweep: rows [u TR, (u + 1) TR) against every block, heaps in the worker. */
static void row_task(size_t u, int tid, void *ud)
{
	struct knn *kn = ud;
	struct worker *w = &kn->wk[tid];
	size_t i0 = u * kn->tr, nr = i0 + kn->tr < kn->n ? kn->tr : kn->n - i0;

	memset(w->lc, 0, kn->tr * sizeof(*w->lc));
	for (size_t r = 0; r < kn->tr; r++) {
		w->ls[r] = INFINITY;
		w->lt[r] = -INFINITY;
	}
	/* The row's own block first, then outwards: in cell order, the near rows. */
	for (size_t s = 0; s < kn->nb; s++) {
		size_t o = s % 2 ? (s + 1) / 2 : kn->nb - s / 2;
		if (cancel_requested(kn->cancel))
			return;
		tile(kn, w, i0, nr, (i0 / BS + o) % kn->nb, false);
	}
	for (size_t r = 0; r < nr; r++)
		kn->m[kn->perm[i0 + r]] = heap_mean(w->lh + r * kn->K, kn->K);
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
		if (s > maxn)
			maxn = s;
	}
	if (maxn > 0)
		frexp(sqrt(maxn) * (1 + 0x1p-30), &kn->sc);
	double nymax = 0, qmax = 0;
	for (size_t i = 0; i < n; i++) {
		double s = 0, q = 0;
		for (size_t k = 0; k < d; k++) {
			double y = ldexp(kn->X[i * d + k] - mu[k], -kn->sc);
			float f = fabs(y) < ZERO_BELOW ? 0.0f : (float)y;
			s += y * y;
			q += (double)f * f;
			kn->Yf[i * d + k] = f;
		}
		if (s > nymax)
			nymax = s;
		if (q > qmax)
			qmax = q;
		kn->q[i] = q;
		kn->qf[i] = (float)q;
	}
	nymax = sqrt(nymax) * (1 + (double)(d + 4) * 0x1p-52);
	kn->e = 2 * nymax * 0x1p-23 + (double)d * 0x1p-59;
	kn->b = 2 * qmax * (double)(d + 4) * 0x1p-23 + (double)d * 0x1p-124;
	kn->r64 = 1 + (double)(d + 4) * 0x1p-51;
	kn->va = ldexp((double)(d + 4), -1074 - 2 * kn->sc) + 0x1p-1070;
	free(mu);
}

/* DESIGN 6: block b's centre (the float64 mean of its rows) and a bound of its radius. */
static void centre_cb(size_t b, int tid, void *ud)
{
	struct knn *kn = ud;
	size_t d = kn->d, i1 = (b + 1) * BS < kn->n ? (b + 1) * BS : kn->n;
	double *c = kn->cent + b * d, r = 0;

	memset(c, 0, d * sizeof(*c));
	for (size_t i = b * BS; i < i1; i++)
		for (size_t k = 0; k < d; k++)
			c[k] += kn->X[kn->perm[i] * d + k];
	for (size_t k = 0; k < d; k++)
		c[k] /= (double)(i1 - b * BS);
	for (size_t i = b * BS; i < i1; i++) {
		double s = geom_sqdist(kn->X + kn->perm[i] * d, c, d);
		if (s > r)
			r = s;
	}
	kn->rad[b] = sqrt((r + ABS64) * kn->r64) * (1 + 0x1p-50);
}

/* DESIGN 5: rows to cells. */
struct cells {
	struct knn *kn;
	const float *P;		/* the C pivots' rows */
	const double *pq;	/* and their q */
	size_t C;
	uint32_t *cell;		/* per row */
	float **G;		/* per thread: BS x C */
};

static void cell_cb(size_t b, int tid, void *ud)
{
	struct cells *cs = ud;
	struct knn *kn = cs->kn;
	size_t i0 = b * BS, nr = i0 + BS < kn->n ? BS : kn->n - i0, C = cs->C;
	float *G = cs->G[tid];

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)C, (int)kn->d, 1.0f,
		    kn->Yf + i0 * kn->d, (int)kn->d, cs->P, (int)kn->d, 0.0f, G, (int)C);
	for (size_t r = 0; r < nr; r++) {
		double best = INFINITY;
		for (size_t c = 0; c < C; c++) {
			double v = cs->pq[c] - 2.0 * (double)G[r * C + c];
			if (v < best) {
				best = v;
				cs->cell[i0 + r] = (uint32_t)c;
			}
		}
	}
}

/*
 * The pivots: rows c n / C, in the order of a greedy path (each the nearest
 * unvisited one to the last, in float32), so that neighbouring cells are near.
 */
static void chain_pivots(const struct knn *kn, size_t C, size_t *pv)
{
	size_t d = kn->d;

	for (size_t c = 0; c < C; c++)
		pv[c] = c * kn->n / C;
	for (size_t c = 1; c < C; c++) {
		const float *a = kn->Yf + pv[c - 1] * d;
		size_t best = c;
		float bv = INFINITY;
		for (size_t u = c; u < C; u++) {
			const float *b = kn->Yf + pv[u] * d;
			float s = 0;
			for (size_t k = 0; k < d; k++)
				s += (a[k] - b[k]) * (a[k] - b[k]);
			if (s < bv) {
				bv = s;
				best = u;
			}
		}
		size_t t = pv[c];
		pv[c] = pv[best];
		pv[best] = t;
	}
}

/*
 * DESIGN 5: perm = the rows by their nearest of nb evenly spaced pivots
 * (path order within a cell), and Yf, q, qf put in that order.
 */
static void order_rows(struct knn *kn, int nt)
{
	size_t n = kn->n, d = kn->d, C = kn->nb;
	struct cells cs = { .kn = kn, .C = C };
	float *P, *Y2;
	double *pq, *q2;
	size_t *start, *pv;

	for (size_t i = 0; i < n; i++)
		kn->perm[i] = i;
	if (C < 2)
		return;
	pv = xmalloc(C * sizeof(*pv));
	P = xmalloc(C * d * sizeof(*P));
	pq = xmalloc(C * sizeof(*pq));
	chain_pivots(kn, C, pv);
	for (size_t c = 0; c < C; c++) {
		memcpy(P + c * d, kn->Yf + pv[c] * d, d * sizeof(*P));
		pq[c] = kn->q[pv[c]];
	}
	cs.P = P;
	cs.pq = pq;
	cs.cell = xmalloc(n * sizeof(*cs.cell));
	cs.G = xmalloc((size_t)nt * sizeof(*cs.G));
	for (int t = 0; t < nt; t++)
		cs.G[t] = xmalloc(BS * C * sizeof(**cs.G));
	pool_for(kn->nb, nt, cell_cb, &cs, NULL);
	start = xcalloc(C + 1, sizeof(*start));
	for (size_t i = 0; i < n; i++)
		start[cs.cell[i] + 1]++;
	for (size_t c = 0; c < C; c++)
		start[c + 1] += start[c];
	for (size_t i = 0; i < n; i++)
		kn->perm[start[cs.cell[i]]++] = i;
	Y2 = xalloc_aligned(n * d * sizeof(*Y2));
	q2 = xmalloc(n * sizeof(*q2));
	for (size_t p = 0; p < n; p++) {
		memcpy(Y2 + p * d, kn->Yf + kn->perm[p] * d, d * sizeof(*Y2));
		q2[p] = kn->q[kn->perm[p]];
		kn->qf[p] = (float)q2[p];
	}
	free(kn->Yf);
	free(kn->q);
	kn->Yf = Y2;
	kn->q = q2;
	for (int t = 0; t < nt; t++)
		free(cs.G[t]);
	free(cs.G);
	free(cs.cell);
	free(start);
	free(P);
	free(pq);
	free(pv);
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
	kn.qf = xmalloc(n * sizeof(*kn.qf));
	prepare(&kn);
	/* Our threads split the tiles; OpenBLAS's own would only compete. */
	blas_serial();
	kn.perm = xmalloc(n * sizeof(*kn.perm));
	order_rows(&kn, nt);
	kn.sym = kn.K <= d || kn.K * n <= SYM_MIN;
	kn.tr = HEAP_BUDGET / kn.K;
	kn.tr = kn.tr < 1 ? 1 : kn.tr > BS ? BS : kn.tr;
	kn.wk = xcalloc((size_t)nt, sizeof(*kn.wk));
	for (int t = 0; t < nt; t++) {
		struct worker *w = &kn.wk[t];
		w->G = xmalloc((size_t)BS * BS * sizeof(*w->G));
		w->ta = xmalloc(BS * sizeof(*w->ta));
		w->tb = xmalloc(BS * sizeof(*w->tb));
		w->ev = xmalloc(BS * sizeof(*w->ev));
		w->hit = xmalloc((size_t)BS * BS * sizeof(*w->hit));
		w->hv = xmalloc((size_t)BS * BS * sizeof(*w->hv));
		if (!kn.sym) {
			w->lh = xmalloc(kn.tr * kn.K * sizeof(*w->lh));
			w->lc = xmalloc(kn.tr * sizeof(*w->lc));
			w->ls = xmalloc(kn.tr * sizeof(*w->ls));
			w->lt = xmalloc(kn.tr * sizeof(*w->lt));
		}
	}
	if (kn.sym) {
		kn.H = xmalloc(n * kn.K * sizeof(*kn.H));
		kn.cnt = xcalloc(n, sizeof(*kn.cnt));
		kn.seed = xmalloc(n * sizeof(*kn.seed));
		kn.thr = xmalloc(n * sizeof(*kn.thr));
		for (size_t i = 0; i < n; i++) {
			kn.seed[i] = INFINITY;
			kn.thr[i] = -INFINITY;
		}
		kn.cent = xmalloc(kn.nb * d * sizeof(*kn.cent));
		kn.rad = xmalloc(kn.nb * sizeof(*kn.rad));
		pool_for(kn.nb, nt, centre_cb, &kn, NULL);
		kn.lock = xmalloc(kn.nb * sizeof(*kn.lock));
		for (size_t b = 0; b < kn.nb; b++)
			pthread_mutex_init(&kn.lock[b], NULL);
		rc = pool_for(kn.nb * (kn.nb + 1) / 2, nt, sym_tile, &kn, cancel);
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
		free(w->ta);
		free(w->tb);
		free(w->ev);
		free(w->ls);
		free(w->lt);
		free(w->hit);
		free(w->hv);
		free(w->lh);
		free(w->lc);
	}
	free(kn.wk);
	free(kn.H);
	free(kn.cnt);
	free(kn.seed);
	free(kn.thr);
	free(kn.lock);
	free(kn.Yf);
	free(kn.q);
	free(kn.qf);
	free(kn.perm);
	free(kn.cent);
	free(kn.rad);
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
