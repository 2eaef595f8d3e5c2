/*
 * kcenter: the nearest-centre distances behind coreset and coral, exact and
 * fast.
 *
 * DESIGN. d2[i] is always the float64 squared distance geom_sqdist() gives
 * between row i and its nearest centre (the first such centre on ties,
 * asg[i]): exactly the value a plain float64 fold of every centre in turn
 * computes, so the selections equal the plain loop's. Speed comes from never
 * computing what cannot change d2, by three tests that are each rigorous:
 *
 * 1. float32 gate. Rows are also stored as float32 (Xf, half the bytes to
 *    stream). For a new centre c the bulk pass computes s = the float32 sum
 *    of squared differences, and recomputes in float64 only when s could be
 *    below d2[i]. With u = 2^-24, x' = fl32(x): |x'_j - x_j| <= u|x_j|, so
 *    ||x' - c'|| is within e = u(||x|| + ||c||) of ||x - c||; the float32
 *    sum (any order, dp terms, each a rounded difference squared) is within
 *    gamma32 = (dp + 2)u / (1 - (dp + 2)u) of S = ||x' - c'||^2; and the
 *    float64 result is within gamma64 = (dim + 2) 2^-53 of ||x - c||^2.
 *    Hence s >= T = (1 + gamma32)(sqrt(d2 / (1 - gamma64)) + e)^2 implies
 *    geom_sqdist(x, c) >= d2 (no update). The code uses 2u for u and
 *    2 gamma for gamma, bounds (r + e)^2 <= r^2 (1 + 2^-20) + e^2 (1 + 2^20)
 *    to avoid a square root per row, adds absolute terms for float32
 *    underflow, and keeps the float32 copy only while every |x| <= 2^55 and
 *    dim < 2^20 (no float32 overflow, gamma32 < 1/2); otherwise every
 *    distance is float64.
 * 2. Triangle inequality. If ||c_j - c|| >= 2 ||x - c_j|| then ||x - c|| >=
 *    ||x - c_j||: row x of cluster j (asg = j) cannot move. The test is made
 *    on computed values with a relative margin (1 + eps), eps = (dim + 8)
 *    2^-48, far above the rounding of the three float64 distances involved,
 *    so a skipped row is one whose computed new distance would not be below
 *    d2. A whole cluster is skipped when the test holds for its radius r2_j
 *    (max d2 of its members). ||c_j - c||^2 enters as a rigorous lower bound
 *    from the float32 rows (1's bound), which only makes the test stricter.
 * 3. Blocked SGEMM start (preselected rows, SPEC 4.7). d2 to m preselected
 *    centres is min_j |x|^2 - 2 x.c_j + |c_j|^2 from cblas_sgemm tiles of
 *    RB x CB, never n x m. The expansion cancels badly near its minimum, so
 *    it only ranks: with B = (dp + 4) 2^-23 (|x'|^2 + |c'|^2) bounding the
 *    error of the expanded S, each centre gets [lo, hi] bounds on the float64
 *    value geom_sqdist would give; every centre whose lo is at most the
 *    smallest hi is recomputed in float64 and the least (first on ties) is
 *    kept. A row with more than NCAND such centres (many exact ties) is
 *    recomputed against every centre.
 *
 * Two ways to make a pass, chosen as it goes (in->prune forces one for tests
 * and benchmarks): plain, a sequential sweep over row blocks with the
 * member-level triangle test; clustered, per-centre member lists visited only
 * when the cluster-level test fails. Both make the same float32 and float64
 * evaluations; the lists save reading the rows of skipped clusters but read
 * the rest in random order. Each list is sorted by d2 descending (a member's
 * d2 cannot change while it stays), so the members the row-level test rules
 * out are a suffix that is not read at all. So a clustered step that scans more than 90% of
 * the live rows switches to plain (uniform high-dimensional data), and a
 * plain step after which the lists would have scanned less than 75% switches
 * to clustered (lists rebuilt from asg in O(n)). Either
 * way each group (block or cluster) keeps its best row, so the next pick
 * scans groups, not rows. Coral's groups rank by key = d2 w |w| (monotone in
 * d w, and D is common); the finalists within 1e-9 of the best key are then
 * compared with the exact rule.
 *
 * 4. Lazy plain steps (prune <= 0). d2 only falls as centres are
 *    added, so a row block's best, computed when its rows last saw the
 *    centres, is an upper bound later. A plain step only records the new
 *    centre (and its float32 lower bounds to the earlier ones, up to TRI_MAX
 *    centres, for the triangle test); then blocks are brought up to date,
 *    highest bound first, until the best fresh block beats every stale
 *    bound (ties: the lower block, whose rows come first). A refresh folds
 *    the pending centres into each row in the order they were added, with
 *    the same tests and evaluations as the eager pass, so d2 and asg end
 *    bitwise the same; it reads the rows once for many centres and checks
 *    four centres' float32 distances together. Uniform data then costs
 *    arithmetic, not a 51 MB sweep per step. Every SYNC_EVERY steps (prune =
 *    0) all blocks are synced and the clustered pass is tried as above for
 *    the next pick; where it would not prune, the look comes less often.
 *    kcenter_d2 syncs every block first. coral (must_refresh) needs
 *    more from the blocks: D, the largest d2, exactly, and every row whose
 *    key is within 1e-9 of the best; and a key d2 w |w| is an upper bound
 *    only while w > 0 (with w <= 0 it rises towards 0 as d2 falls). So its
 *    blocks are refreshed until no stale r2 exceeds the fresh ones and no
 *    stale key bound (0 where the key is not positive) reaches the
 *    finalists' threshold.
 *
 * 5. Projected gate. Real embeddings spend most of their variance in a few
 *    directions. P (PR x dim, float64) holds PR principal directions found by
 *    subspace iteration on a sample of rows; every row also gets y_i =
 *    fl32(P x_i - P mu) (PR floats, one cache line), and pe_i, a bound on
 *    |y_i - (P x_i - m)| where m is the float64 value of P mu used for every
 *    row (it cancels in differences): (dim + 2) 2^-52 |P|_F |x_i| for the
 *    float64 dot products, 2^-23 |y_i| for the subtraction and the float32
 *    rounding, 2^-140 for float32 underflow. For any matrix, |P(x - c)| <=
 *    sigma |x - c| with sigma = |P|_2, bounded from P P^T by Gershgorin with
 *    the rounding of the product added. So |y_x - y_c| <= sigma |x - c| + pe_x
 *    + pe_c, whatever P is: the directions only decide how tight the bound
 *    is, never whether it holds. A row would move only if geom_sqdist(x, c)
 *    < v, so |x - c|^2 < (v + ABS64) r64, and the float32 sum s of the PR
 *    squared differences is below (1 + gamma32)(sqrt((v + ABS64) r64 sigma^2)
 *    + pe_x + pe_c)^2 (+ underflow). Hence s at or above that (with margins
 *    of 2^-40 for the rounding of the bound itself) rules the centre out
 *    before the row's floats are read. It runs before the float32 gate in
 *    every pass, and only while it pays: it is built when the sample's top PR
 *    directions hold at least half its variance, and turned off for a while
 *    when a pass rules out less than one pair in eight (in->project forces
 *    it on or off for tests). Where it leaves the float32 gate less than one
 *    pair in four to rule out, pairs go straight to float64 for a while. The
 *    clustered pass also tries the cluster-level triangle test first with
 *    the projected bound of |c_j - c|, the same inequality solved for it.
 *    While the adaptive gate is on, the float32 copy of the rows (1.) is not
 *    made at all; it is made mid-run (need_xf) when one float64 recompute in
 *    four finds the row staying, which the float32 gate could have spared,
 *    or when the projected gate is turned off.
 *
 * 6. Late picks (issue 18). With k a large share of n, a clustered pass
 *    costs O(m) per step however few rows move: every cluster's test, then a
 *    sweep of the m groups for the next pick; O(k^2) in all, which at 500,000
 *    picks is the whole run. Late in such a run a new centre reaches the
 *    clusters of a small neighbourhood only, so centres are grouped the way
 *    rows are grouped under centres, one level up (a two-level cover, as in
 *    cover trees and the net trees of Har-Peled and Mendel's fast
 *    farthest-first traversal; Elkan's k-means bounds are the same
 *    triangle inequality between centres). Leaders: the first L centres (L =
 *    n / 64 within [16, NSUP]), spread as far apart as the greedy spreads
 *    them. Every later centre joins the group of its nearest leader when it
 *    becomes a centre, and centres never move, so each group has a fixed
 *    radius bound rho_s >= |c_j - s| over its members. A pass for centre c
 *    computes |s - c| in float64 for the L leaders and skips every group with
 *    |s - c| - rho_s >= 2 r, r^2 = R2_s >= the largest r2 of its members'
 *    clusters: then |c_j - c| >= |s - c| - |c_j - s| >= 2 r_j for each
 *    member j, which is 2.'s cluster-level test, so no row of theirs can
 *    move. Exactness: the skip only ever spares work 2. proves useless; it
 *    uses rigorous bounds, not computed values: a float64 squared distance
 *    over dim < 2^20 terms is within (dim + 2) 2^-53 < 2^-30 relative of the
 *    true one (plus 2^-1000 for underflow), so sqrt(v (1 - 2^-30) - 2^-1000)
 *    (1 - 2^-50) is below the true distance and sqrt(v (1 + 2^-30) +
 *    2^-1000) (1 + 2^-50) above it (the 2^-50 covering the roundings of the
 *    sqrt, products and difference); the lower bound of |c_j - c|^2 then
 *    enters stays() like 2.'s, whose margin holds for any lower bound of the
 *    true squared distance. Values at or above 2^500 skip nothing. R2_s is an
 *    upper bound kept up to date cheaply: r2 only falls (a cluster only
 *    loses members, whose d2 stay put, until a new centre takes them), it is
 *    recomputed exactly for the groups a pass visits, and a new cluster
 *    raises its group's bound. The groups visited are those near c (in
 *    clustered data about one mixture component's worth of centres), so a
 *    pass visits a few thousand clusters where it visited m.
 *    The next pick: a tournament tree over the clusters' groups (a node is
 *    group_merge of its children: the largest key, lowest row on ties, and
 *    the largest r2). group_merge picks the maximum of a total order (key,
 *    then row) and the maximum r2, so the root equals the sweep's result bit
 *    for bit. A pass updates the leaves of the clusters it changed and of
 *    the new centre (O(log m) each); coral's finalists are found by
 *    descending only into nodes whose key reaches the threshold. Both are
 *    rebuilt from scratch when the clustered passes are entered.
 *    Late in a run almost every cluster a pass visits keeps all its rows (on
 *    1.28M x 128 clustered rows near k = 500,000: about 1,200 clusters
 *    tested, 5,000 members read, 5 rows moved a pass), so a cluster none of
 *    whose rows moved keeps its list, group and tree leaf untouched, and only
 *    the groups of centres with a changed cluster get their r2 bound made
 *    exact again (the others' clusters did not change, so their bounds
 *    still hold; taking a row tightens its own group's). And where the
 *    projected bound of |c_j - c| nearly equals the full one, the full one
 *    (float32 or float64 rows, a random read of the centre's row) rules out
 *    next to nothing the projected one let through: while it rules out less
 *    than one cluster in eight (skipc, checked again every PROBE_EVERY
 *    centres), the projected bound alone decides, and the member test uses
 *    it. Either is a lower bound of the true distance, which is all 2.'s
 *    test needs, so every skip stays proved.
 *
 * 7. Verify mode (select_input.verify, for tests). Every skip above is also
 *    checked against exact float64 distances: a triangle test's premise
 *    (|c_a - c|^2 >= 4 v for the row, member suffix, cluster or group it
 *    ruled out, within the float64 rounding) and a gate's conclusion (the
 *    row's distance to the centre is not below v). A contradicted skip is
 *    counted (select_stats.skips_wrong). Because premises are checked, a
 *    bound loosened by a few percent shows on the first skip it gets wrong,
 *    whether or not that skip changed a pick; test_skips_verified runs every
 *    path with it late into coreset and coral.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geometry.h"
#include "kcenter.h"
#include "pool.h"
#include "util.h"

#define BLK KCENTER_BLOCK	/* rows per block of the plain pass */
#define RB 128			/* rows per SGEMM tile */
#define CB 512			/* centres per SGEMM tile */
#define NCAND 8			/* candidate centres kept per row by the SGEMM start */
#define SGEMM_MIN 16		/* fewer preselected rows are folded one by one */
#define PR 16			/* principal directions of the projected gate (DESIGN 5) */
#define PSAMPLE 1024		/* rows they are found from */
#define PITER 2			/* subspace iterations */
#define PROBE_EVERY 64		/* centres after which a gate that did not pay is tried again */
#define PAR_MIN (1u << 20)	/* floats per pass below which one thread does it */
#define RANDOM_COST 16		/* a row read at random, in rows streamed (threads_for) */
#define NONE UINT32_MAX

/*
 * The passes are built for AVX2 and for any x86-64, picked at load time by an
 * ifunc resolver. Under ThreadSanitizer the resolver would run instrumented
 * before the runtime is up and crash, so that build has the default copy only.
 */
#if defined(__SANITIZE_THREAD__)
#define CLONES
#else
#define CLONES __attribute__((target_clones("avx2", "default")))
#endif

/* Helpers of the passes: inlined, so that each target_clones copy gets them in its own ISA. */
#define INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32), may_alias));

/* A group (row block or cluster): its best live row by key and the largest d2. */
struct group {
	double key;
	size_t arg;		/* SIZE_MAX: no row qualifies */
	double r2;		/* GEOM_TAKEN: no live row */
};

static const struct group GROUP_EMPTY = { -INFINITY, SIZE_MAX, GEOM_TAKEN };

/* A cluster's member: its row and its d2 (which cannot change while it stays a member). */
struct member {
	double d;
	uint32_t i;
};

/* Members [off, len) of v, by d2 descending, then row ascending. */
struct list {
	struct member *v;
	uint32_t off, len, cap;
};

/* Per-thread scratch of a pass. */
struct worker {
	uint32_t *mv;		/* rows that moved to the new centre (clustered) */
	size_t nmv, capmv;
	struct group mbest;	/* the best of them */
	int32_t *dcnt;		/* plain: members lost per centre */
	size_t scanned, f32, f64;	/* this pass */
	size_t p32, prej;	/* projected gate: pairs tested, pairs it ruled out */
	size_t g32, grej;	/* float32 gate after it: pairs tested, pairs ruled out */
	size_t same64;		/* float64 recomputes after which the row stayed */
	size_t ct;		/* clustered: full cluster tests */
	size_t ctp, crej;	/* of them after the projected one, and their skips (skipc) */
	size_t ctested;		/* clustered: cluster-level tests */
	size_t checked, wrong;	/* verify: skips checked, and those the exact distances contradict */
	uint32_t *cand;		/* clustered: members the float32 gate let through */
	size_t capcand;
	struct member *ms;	/* sort_members' scratch */
	size_t capms;
	size_t mvat;		/* where its moved rows go in the new centre's list */
	uint32_t *tch;		/* clustered: clusters whose group it redid (for the tree) */
	size_t ntch, captch;
	/* SGEMM start */
	float *G;
	double *xn2, *H;
	uint32_t *cj;		/* RB x NCAND candidate centres */
	double *clo;
	uint8_t *nc;		/* candidates per row; NCAND + 1: overflowed */
};

struct kcenter {
	const double *X;
	size_t n, dim, dp;
	float *Xf;		/* n x dp float32 rows, zero-padded; NULL: float64 only (or not yet) */
	bool xf_ok;		/* the norms allow the float32 copy (DESIGN 1) */
	float *nrm;		/* upper bounds of ||x_i|| */
	double nrm_max;		/* the largest of them */
	double *d2;
	uint32_t *asg;		/* nearest centre, NONE before the first */
	size_t live;
	const bool *pre;
	const double *w;	/* coral, else NULL */
	bool md_on;
	double md2;		/* smallest d2 with sqrt(d2) >= min_distance */
	int threads, prune;
	volatile int *cancel;
	double eps4;		/* 4 (1 + eps): the triangle test's factor */
	double r64, r32, abs32;	/* the float32 gate's bounds */

	size_t m, mcap;		/* centres */
	uint32_t *crow;
	float *ctr;		/* their float32 rows, side by side (read every step) */
	float *ctrn;		/* and their norm bounds */
	double *dc2;		/* plain: d2 between each centre and the new one */
	uint32_t *cnt;		/* plain: members per centre */
	struct list *mem;	/* clustered: members per centre */
	struct member *msort;	/* merge scratch */
	size_t msort_cap;
	struct group *cg;
	bool clustered;
	size_t nblk;
	struct group *bg;	/* plain: per row block */
	/* lazy plain steps (DESIGN 4) */
	bool lazy;
	uint32_t *bt;		/* centres folded into each block so far */
	uint8_t *bdirty;	/* the block's best may be a row taken since */
	float *cc;		/* lower bounds of d2 between centres a < b < TRI_MAX */
	size_t cccap;		/* centres cc has room for */
	uint32_t *ub;		/* the blocks being refreshed */
	struct group *ug;	/* their quarters' groups */
	size_t nub;
	size_t next_sync, sync_every;
	struct worker *wk;
	int nwk;

	/* the projected gate (DESIGN 5) */
	float *Yp;		/* n x PR projected rows; NULL: no gate */
	float *pe;		/* per row: a bound on its projected row's error */
	double *Pt;		/* dim x PR: the directions, as columns */
	double pmu[PR];		/* P mu, as computed */
	double pfro;		/* an upper bound of |P|_F */
	double psig;		/* r64 times an upper bound of |P|_2^2 */
	double pr32, pabs32;	/* the float32 sum's bounds over PR terms */
	int project;		/* in->project */
	bool verify;		/* in->verify */
	bool proj;		/* the gate is on for the coming passes */
	size_t proj_probe;	/* adaptive, off: centres at which it is tried again */
	bool skip32;		/* the float32 gate is skipped after it (it ruled out too few) */
	size_t skip_probe;	/* centres at which the float32 gate is tried again */
	bool skipc;		/* clustered: the full cluster test is skipped after the projected one */
	size_t skipc_probe;	/* centres at which it is tried again */

	/* The centre being folded in. */
	uint32_t q;
	size_t qrow;
	const double *c64;
	const float *cf;
	double cn;
	bool tri;
	size_t last_scanned;
	struct select_stats st;

	/* Groups of centres and the tournament tree of the clusters (DESIGN 6) */
	bool sup_on;		/* the centre groups are used (prune >= 0, dim < 2^20) */
	size_t nsup_max;	/* leaders: the first nsup_max centres (leader s is centre s) */
	size_t nsup;		/* leaders so far */
	double *sup_rho;	/* per leader: an upper bound of |c_j - c_leader| over its members */
	double *sup_r2;		/* per leader: an upper bound of r2 over its members' clusters */
	double *sup_d2;		/* per leader: geom_sqdist to the centre being folded in; -1: not computed */
	uint8_t *sup_vis;	/* per leader: SUP_VISITED in this pass, | SUP_CHANGED a cluster */
	uint32_t **sup_mem;	/* per leader: its member centres */
	uint32_t *sup_len, *sup_cap;
	uint32_t *sup_of;	/* per centre: its leader (centres [0, sup_done)) */
	double *sup_up;		/* per centre: an upper bound of its distance to its leader */
	size_t sup_done, sup_ccap, sup_upto;
	uint32_t *vis;		/* the clusters the pass visits */
	size_t capvis;
	struct group *tree;	/* 2 tcap nodes; leaves [tcap, 2 tcap) are cg[0..) */
	size_t tcap;

	/* SGEMM start */
	const float *Cf;
	const double *cn2;
	const double *cnrm;
	size_t m0;
};

/* Absolute slack for float64 underflow in the triangle test and the SGEMM bounds. */
#define ABS64 0x1p-1000

/*
 * Large tables come from xalloc_aligned (util): 2 MiB pages when the kernel
 * lets us (transparent huge pages in madvise mode): on a VM a 4 KiB page
 * fault costs several microseconds, and the rows of the passes are read at
 * random, so fewer TLB entries matter too.
 */

/* count floats, whole 64-byte lines of them. */
static float *xaligned_floats(size_t count)
{
	return xalloc_aligned(count * sizeof(float));
}

static bool cancelled(const struct kcenter *kc)
{
	return cancel_requested(kc->cancel);
}

INLINE void group_add(const struct kcenter *kc, struct group *g, size_t i, double v)
{
	double key;

	if (v > g->r2)
		g->r2 = v;
	if (kc->w) {
		if (!(v > 0) || (kc->md_on && v < kc->md2))
			return;
		key = v * kc->w[i] * fabs(kc->w[i]);
	} else {
		key = v;
	}
	if (g->arg == SIZE_MAX || key > g->key || (key == g->key && i < g->arg)) {
		g->key = key;
		g->arg = i;
	}
}

static void group_merge(struct group *g, const struct group *o)
{
	if (o->r2 > g->r2)
		g->r2 = o->r2;
	if (o->arg != SIZE_MAX &&
	    (g->arg == SIZE_MAX || o->key > g->key || (o->key == g->key && o->arg < g->arg))) {
		g->key = o->key;
		g->arg = o->arg;
	}
}

/* The float32 squared distance of two zero-padded rows of dp floats (dp % 8 == 0). */
INLINE float dist32(const float *a, const float *b, size_t dp)
{
	v8f s0 = {0}, s1 = {0};
	size_t j = 0;

	for (; j + 16 <= dp; j += 16) {
		v8f t0 = *(const v8f *)(a + j) - *(const v8f *)(b + j);
		v8f t1 = *(const v8f *)(a + j + 8) - *(const v8f *)(b + j + 8);
		s0 += t0 * t0;
		s1 += t1 * t1;
	}
	if (j < dp) {
		v8f t0 = *(const v8f *)(a + j) - *(const v8f *)(b + j);
		s0 += t0 * t0;
	}
	s0 += s1;
	return ((s0[0] + s0[1]) + (s0[2] + s0[3])) + ((s0[4] + s0[5]) + (s0[6] + s0[7]));
}

/*
 * dist32 of row a to four centres at once: four independent chains keep the
 * adders busy where one row and one centre would wait on each sum.
 */
INLINE void dist32x4(const float *a, const float *const b[4], size_t dp, float out[4])
{
	v8f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};

	for (size_t j = 0; j < dp; j += 8) {
		v8f x = *(const v8f *)(a + j);
		v8f t0 = x - *(const v8f *)(b[0] + j);
		v8f t1 = x - *(const v8f *)(b[1] + j);
		v8f t2 = x - *(const v8f *)(b[2] + j);
		v8f t3 = x - *(const v8f *)(b[3] + j);
		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	out[0] = ((s0[0] + s0[1]) + (s0[2] + s0[3])) + ((s0[4] + s0[5]) + (s0[6] + s0[7]));
	out[1] = ((s1[0] + s1[1]) + (s1[2] + s1[3])) + ((s1[4] + s1[5]) + (s1[6] + s1[7]));
	out[2] = ((s2[0] + s2[1]) + (s2[2] + s2[3])) + ((s2[4] + s2[5]) + (s2[6] + s2[7]));
	out[3] = ((s3[0] + s3[1]) + (s3[2] + s3[3])) + ((s3[4] + s3[5]) + (s3[6] + s3[7]));
}

typedef double v4d __attribute__((vector_size(32), aligned(8), may_alias));

/*
 * geom_sqdist, bit for bit: lane k of the vector sum is geom_sqdist's s_k
 * (the same products added in the same order, no contraction in ISO C), and
 * the lanes are combined as it combines them. Inlined into the AVX2 clones.
 */
INLINE double sqdist64(const double *a, const double *b, size_t d)
{
	v4d s = {0};
	size_t j = 0;

	for (; j + 4 <= d; j += 4) {
		v4d t = *(const v4d *)(a + j) - *(const v4d *)(b + j);
		s += t * t;
	}
	double s0 = s[0];
	for (; j < d; j++) {
		double t = a[j] - b[j];
		s0 += t * t;
	}
	return (s0 + s[1]) + (s[2] + s[3]);
}

/*
 * The gate's threshold for row i at v against any centre (DESIGN 1, with the
 * largest norm for the centre's: e and the threshold only grow with it):
 * a float32 distance at or above it cannot lower v.
 */
INLINE double gate_threshold(const struct kcenter *kc, size_t i, double v)
{
	double e = ((double)kc->nrm[i] + kc->nrm_max) * 0x1p-23 + 0x1p-120;
	double t = ((v + ABS64) * kc->r64 * (1 + 0x1p-20) + e * e * (1 + 0x1p20)) * kc->r32;
	return (t + kc->abs32) * (1 + 0x1p-40);
}

/* False only when centre cf (norm bound cn) is certainly not nearer to row i than v (DESIGN 1). */
INLINE bool gate(const struct kcenter *kc, struct worker *w, size_t i, double v, const float *cf,
		 double cn)
{
	if (!kc->Xf)
		return true;
	w->f32++;
	double s = dist32(kc->Xf + i * kc->dp, cf, kc->dp);
	double e = ((double)kc->nrm[i] + cn) * 0x1p-23 + 0x1p-120;
	double t = ((v + ABS64) * kc->r64 * (1 + 0x1p-20) + e * e * (1 + 0x1p20)) * kc->r32;
	return s < (t + kc->abs32) * (1 + 0x1p-40);
}

/* The float32 squared distance of two projected rows (PR = 16 floats, 64-byte aligned). */
INLINE float dist_proj(const float *a, const float *b)
{
	v8f t0 = *(const v8f *)a - *(const v8f *)b;
	v8f t1 = *(const v8f *)(a + 8) - *(const v8f *)(b + 8);
	v8f s = t0 * t0 + t1 * t1;
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* The row's part of the projected gate's threshold at v: sqrt((v + ABS64) r64 sigma^2). */
INLINE double proj_root(const struct kcenter *kc, double v)
{
	return sqrt((v + ABS64) * kc->psig);
}

/*
 * False only when the centre at row c is certainly not nearer to row i than
 * v, given sv = proj_root(v) (DESIGN 5).
 */
INLINE bool pgate(const struct kcenter *kc, struct worker *w, size_t i, double sv, size_t c)
{
	w->p32++;
	double s = dist_proj(kc->Yp + i * PR, kc->Yp + c * PR);
	double e = sv + (double)kc->pe[i] + (double)kc->pe[c];
	if (s >= (e * e * kc->pr32 + kc->pabs32) * (1 + 0x1p-40)) {
		w->prej++;
		return false;
	}
	return true;
}

/* The same for the centre being folded in: the projected gate, then the float32 one. */
INLINE bool may_be_nearer(const struct kcenter *kc, struct worker *w, size_t i, double v)
{
	if (kc->proj && !pgate(kc, w, i, proj_root(kc, v), kc->qrow))
		return false;
	return gate(kc, w, i, v, kc->cf, kc->cn);
}

/*
 * A lower bound of the squared distance between centre j and the new one:
 * the float32 distance less its error (DESIGN 1), or the float64 one. Either
 * is at most the true value within the rounding the triangle test allows for.
 */
INLINE double centre_dist_low(const struct kcenter *kc, size_t j)
{
	if (!kc->Xf)
		return geom_sqdist(kc->X + (size_t)kc->crow[j] * kc->dim, kc->c64, kc->dim);
	double s = dist32(kc->ctr + j * kc->dp, kc->cf, kc->dp);
	double e = ((double)kc->ctrn[j] + kc->cn) * 0x1p-23 + 0x1p-120;
	double r = sqrt((s > kc->abs32 ? s - kc->abs32 : 0) / kc->r32) - e;
	return r > 0 ? r * r * (1 - 0x1p-40) : 0;
}

/*
 * The same bound from the projected rows of rows a and b (DESIGN 5): |x_a -
 * x_b| >= (|y_a - y_b| - pe_a - pe_b) / sigma. Cheaper (a line per row), and
 * nearly as tight where the gate pays. centre_dist_low_proj: centre j and the
 * new one.
 */
INLINE double proj_low2(const struct kcenter *kc, size_t a, size_t b)
{
	double s = dist_proj(kc->Yp + a * PR, kc->Yp + b * PR);
	double r = sqrt((s > kc->pabs32 ? s - kc->pabs32 : 0) / kc->pr32) - (double)kc->pe[a] -
		   (double)kc->pe[b];
	r /= sqrt(kc->psig);
	return r > 0 ? r * r * (1 - 0x1p-40) : 0;
}

INLINE double centre_dist_low_proj(const struct kcenter *kc, size_t j)
{
	return proj_low2(kc, kc->crow[j], kc->qrow);
}

/* True when the triangle inequality proves a row at v from centre j (dc = d2(c_j, c)) stays. */
INLINE bool stays(const struct kcenter *kc, double v, double dc)
{
	return v * kc->eps4 + ABS64 <= dc;
}

/* Centre j's float64 row. */
INLINE const double *crow_x(const struct kcenter *kc, size_t j)
{
	return kc->X + (size_t)kc->crow[j] * kc->dim;
}

/*
 * verify (tests): a triangle test ruled out every row within sqrt(v) of
 * centre a (row a) for the centre at row c, which needs |a - c|^2 >= 4 v.
 * Counted wrong when the exact float64 distance says otherwise by more than
 * its rounding, so a bound loosened even slightly shows on the first skip it
 * gets wrong, whether or not that skip changed a pick.
 */
static void check_tri(const struct kcenter *kc, struct worker *w, const double *a,
		      const double *c, double v)
{
	w->checked++;
	if (geom_sqdist(a, c, kc->dim) * (1 + 0x1p-30) + ABS64 < 4 * v)
		w->wrong++;
}

INLINE void verify_tri(const struct kcenter *kc, struct worker *w, const double *a,
		       const double *c, double v)
{
	if (kc->verify)
		check_tri(kc, w, a, c, v);
}

/* verify: a gate ruled out that row i, live at v, moves to the centre at row c. */
static void check_gate(const struct kcenter *kc, struct worker *w, size_t i, const double *c,
		       double v)
{
	w->checked++;
	if (geom_sqdist(kc->X + i * kc->dim, c, kc->dim) < v)
		w->wrong++;
}

INLINE void verify_gate(const struct kcenter *kc, struct worker *w, size_t i, const double *c,
			double v)
{
	if (kc->verify)
		check_gate(kc, w, i, c, v);
}

/* Row i, live at v, moved to the new centre at s. */
INLINE void move_row(struct kcenter *kc, struct worker *w, size_t i, double s)
{
	uint32_t old = kc->asg[i];

	kc->d2[i] = s;
	kc->asg[i] = kc->q;
	group_add(kc, &w->mbest, i, s);
	if (kc->clustered) {
		if (w->nmv == w->capmv) {
			w->capmv = w->capmv ? 2 * w->capmv : 1024;
			w->mv = xrealloc(w->mv, w->capmv * sizeof(*w->mv));
		}
		w->mv[w->nmv++] = (uint32_t)i;
	} else {
		w->nmv++;
		if (old != NONE)
			w->dcnt[old]--;
	}
}

/* Folds the new centre into row i (live at v); returns its d2 afterwards. */
INLINE double fold_row(struct kcenter *kc, struct worker *w, size_t i, double v)
{
	if (may_be_nearer(kc, w, i, v)) {
		w->f64++;
		double s = sqdist64(kc->X + i * kc->dim, kc->c64, kc->dim);
		if (s < v) {
			move_row(kc, w, i, s);
			return s;
		}
		w->same64++;
	} else {
		verify_gate(kc, w, i, kc->c64, v);
	}
	return v;
}

/* Plain pass over row block b: fold, then the block's best, in one sweep. */
CLONES
static void scan_block(struct kcenter *kc, size_t b, struct worker *w)
{
	size_t lo = b * BLK, hi = lo + BLK < kc->n ? lo + BLK : kc->n;
	struct group g = GROUP_EMPTY;

	for (size_t i = lo; i < hi; i++) {
		double v = kc->d2[i];
		if (v < 0)
			continue;	/* taken */
		w->scanned++;
		/* A row at 0 stays at 0 whatever the centre. */
		if (v > 0 && !(kc->tri && kc->asg[i] != NONE && stays(kc, v, kc->dc2[kc->asg[i]])))
			v = fold_row(kc, w, i, v);
		else if (v > 0)
			verify_tri(kc, w, crow_x(kc, kc->asg[i]), kc->c64, v);
		group_add(kc, &g, i, v);
	}
	kc->bg[b] = g;
}

/* Cluster j's group from its list: the first member for coreset, all of them for coral. */
static void list_group(struct kcenter *kc, size_t j)
{
	struct list *L = &kc->mem[j];
	struct group g = GROUP_EMPTY;

	if (L->off == L->len) {
		L->off = L->len = 0;
	} else if (!kc->w) {
		g.key = g.r2 = L->v[L->off].d;
		g.arg = L->v[L->off].i;
	} else {
		for (uint32_t t = L->off; t < L->len; t++)
			group_add(kc, &g, L->v[t].i, L->v[t].d);
	}
	/* Give back room once most of the list is gone. */
	uint32_t live = L->len - L->off;
	if (L->cap > 64 && live < L->cap / 4) {
		memmove(L->v, L->v + L->off, live * sizeof(*L->v));
		L->off = 0;
		L->len = live;
		L->cap = live ? live : 1;
		L->v = xrealloc(L->v, L->cap * sizeof(*L->v));
	}
	kc->cg[j] = g;
}

static int member_cmp(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;

	if (a->d != b->d)
		return a->d > b->d ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

/* member_cmp(a, b) < 0, inlined. */
INLINE bool member_before(const struct member *a, const struct member *b)
{
	return a->d > b->d || (a->d == b->d && a->i < b->i);
}

#define SORT_RUN 16

static void merge_members(const struct member *a, size_t na, const struct member *b, size_t nb,
			  struct member *out)
{
	size_t x = 0, y = 0;

	while (x < na && y < nb)
		*out++ = member_before(&b[y], &a[x]) ? b[y++] : a[x++];
	while (x < na)
		*out++ = a[x++];
	while (y < nb)
		*out++ = b[y++];
}

/* Room for n members in *v (capacity *cap). */
static void reserve_members(struct member **v, size_t *cap, size_t n)
{
	if (*cap < n) {
		free(*v);
		*cap = n;
		*v = xmalloc(n * sizeof(**v));
	}
}

/*
 * Sorts n members in member_cmp's order: insertion sort on runs, then merges
 * through w's scratch (qsort's callback per comparison was a tenth of the
 * clustered passes).
 */
static void sort_members(struct worker *w, struct member *v, size_t n)
{
	for (size_t lo = 0; lo < n; lo += SORT_RUN) {
		size_t hi = lo + SORT_RUN < n ? lo + SORT_RUN : n;
		for (size_t t = lo + 1; t < hi; t++) {
			struct member m = v[t];
			size_t u = t;
			for (; u > lo && member_before(&m, &v[u - 1]); u--)
				v[u] = v[u - 1];
			v[u] = m;
		}
	}
	if (n <= SORT_RUN)
		return;
	reserve_members(&w->ms, &w->capms, n);
	struct member *src = v, *dst = w->ms;
	for (size_t run = SORT_RUN; run < n; run *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * run) {
			size_t mid = lo + run < n ? lo + run : n;
			size_t hi = lo + 2 * run < n ? lo + 2 * run : n;
			merge_members(src + lo, mid - lo, src + mid, hi - mid, dst + lo);
		}
		struct member *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

/* Rows read ahead in the clustered pass (their d2 and float32 row, or their float64 row). */
#define AHEAD 8

/* Asks for the float row of dp floats (or double row of dim values) at p ahead of its use. */
INLINE void prefetch_row(const void *p, size_t bytes)
{
	for (size_t o = 0; o < bytes; o += 64)
		__builtin_prefetch((const char *)p + o);
}

/*
 * Clustered pass over cluster j: skip it, or fold the members the triangle
 * test cannot rule out and drop those that moved. The list is sorted by d2
 * descending and a member's d2 is fixed while it stays, so the members the
 * test rules out (small d2) are a suffix that is never read. The rest are
 * spread over the table, so their rows are read ahead, and the float64
 * recomputes wait until the gate has run over them so that their rows can be
 * read ahead too. Every row sees the same tests with the same values.
 */
CLONES
static void visit_cluster(struct kcenter *kc, size_t j, struct worker *w)
{
	struct group *g = &kc->cg[j];
	struct list *L = &kc->mem[j];
	size_t dp = kc->dp, dim = kc->dim, nc = 0;
	uint32_t end = L->off;

	if (g->r2 < 0)
		return;
	w->ctested++;
	/*
	 * The projected bound of |c_j - c| first; the full one (float32 or
	 * float64 rows) only while it rules out clusters the projected one
	 * let through (skipc, collect_stats). Either is a lower bound of the
	 * true distance, which is all the member test below needs.
	 */
	double dc = 0;
	if (kc->proj) {
		dc = centre_dist_low_proj(kc, j);
		if (stays(kc, g->r2, dc)) {
			verify_tri(kc, w, crow_x(kc, j), kc->c64, g->r2);
			return;
		}
	}
	if (!kc->proj || !kc->skipc) {
		double full = centre_dist_low(kc, j);
		w->ct++;
		w->ctp += kc->proj;
		if (stays(kc, g->r2, full)) {
			w->crej += kc->proj;
			verify_tri(kc, w, crow_x(kc, j), kc->c64, g->r2);
			return;
		}
		dc = kc->proj && dc > full ? dc : full;
	}
	while (end < L->len && !stays(kc, L->v[end].d, dc))
		end++;
	if (end < L->len && L->v[end].d > 0)
		verify_tri(kc, w, crow_x(kc, j), kc->c64, L->v[end].d);
	w->scanned += end - L->off;
	if (w->capcand < end - L->off) {
		w->capcand = end - L->off;
		w->cand = xrealloc(w->cand, w->capcand * sizeof(*w->cand));
	}
	/*
	 * The gates in turn, each over what the one before let through: the
	 * projected gate (a line per row), then the float32 one (unless skipped,
	 * DESIGN 5). A row at 0 stays at 0 whatever the centre.
	 */
	for (uint32_t t = L->off; t < end; t++) {
		if (kc->proj && t + AHEAD < end) {
			uint32_t a = L->v[t + AHEAD].i;
			__builtin_prefetch(&kc->pe[a]);
			__builtin_prefetch(kc->Yp + (size_t)a * PR);
		}
		const struct member *mb = &L->v[t];
		if (mb->d > 0 && (!kc->proj || pgate(kc, w, mb->i, proj_root(kc, mb->d), kc->qrow)))
			w->cand[nc++] = t;
		else if (mb->d > 0)
			verify_gate(kc, w, mb->i, kc->c64, mb->d);
	}
	if (kc->Xf && !(kc->proj && kc->skip32)) {
		size_t kept = 0;
		for (size_t u = 0; u < nc; u++) {
			if (u + AHEAD < nc) {
				uint32_t a = L->v[w->cand[u + AHEAD]].i;
				__builtin_prefetch(&kc->nrm[a]);
				prefetch_row(kc->Xf + (size_t)a * dp, dp * sizeof(float));
			}
			const struct member *mb = &L->v[w->cand[u]];
			bool pass = gate(kc, w, mb->i, mb->d, kc->cf, kc->cn);
			/* What the float32 gate adds after the projected one (collect_stats). */
			w->g32 += kc->proj;
			w->grej += kc->proj && !pass;
			if (pass)
				w->cand[kept++] = w->cand[u];
			else
				verify_gate(kc, w, mb->i, kc->c64, mb->d);
		}
		nc = kept;
	}
	size_t nmoved = 0;
	for (size_t t = 0; t < nc; t++) {
		if (t + 2 < nc)
			prefetch_row(kc->X + (size_t)L->v[w->cand[t + 2]].i * dim, dim * sizeof(double));
		struct member *mb = &L->v[w->cand[t]];
		w->f64++;
		double s = sqdist64(kc->X + (size_t)mb->i * dim, kc->c64, dim);
		if (s < mb->d) {
			move_row(kc, w, mb->i, s);
			mb->d = -1;	/* now in the new centre's list */
			nmoved++;
		} else {
			w->same64++;
		}
	}
	/* Nothing moved: the list, its group and the tree stay as they are. */
	if (nmoved == 0)
		return;
	/* Keep the prefix's stayers, in order, against its end. */
	uint32_t at = end;
	for (uint32_t t = end; t-- > L->off;)
		if (L->v[t].d >= 0)
			L->v[--at] = L->v[t];
	L->off = at;
	list_group(kc, j);
	if (w->ntch == w->captch) {
		w->captch = w->captch ? 2 * w->captch : 256;
		w->tch = xrealloc(w->tch, w->captch * sizeof(*w->tch));
	}
	w->tch[w->ntch++] = (uint32_t)j;
}

static void scan_block_cb(size_t b, int tid, void *ud)
{
	struct kcenter *kc = ud;
	scan_block(kc, b, &kc->wk[tid]);
}

static void visit_cluster_cb(size_t u, int tid, void *ud)
{
	struct kcenter *kc = ud;
	visit_cluster(kc, kc->vis[u], &kc->wk[tid]);
}

#define DC_CHUNK 256

CLONES
static void centre_dists(struct kcenter *kc, size_t c)
{
	size_t lo = c * DC_CHUNK, hi = lo + DC_CHUNK < kc->q ? lo + DC_CHUNK : kc->q;

	for (size_t j = lo; j < hi; j++)
		kc->dc2[j] = centre_dist_low(kc, j);
}

static void centre_dist_cb(size_t c, int tid, void *ud)
{
	centre_dists(ud, c);
}

static int threads_for(const struct kcenter *kc, size_t floats)
{
	return floats >= PAR_MIN ? kc->threads : 1;
}

/* Room for one more centre. */
static void grow_centres(struct kcenter *kc, size_t want)
{
	if (want <= kc->mcap)
		return;
	size_t cap = kc->mcap ? kc->mcap : 256;
	while (cap < want)
		cap *= 2;
	kc->crow = xrealloc(kc->crow, cap * sizeof(*kc->crow));
	if (kc->Xf) {
		float *ctr = xalloc_aligned(cap * kc->dp * sizeof(*ctr));
		if (kc->m)
			memcpy(ctr, kc->ctr, kc->m * kc->dp * sizeof(*ctr));
		free(kc->ctr);
		kc->ctr = ctr;
		kc->ctrn = xrealloc(kc->ctrn, cap * sizeof(*kc->ctrn));
	}
	kc->dc2 = xrealloc(kc->dc2, cap * sizeof(*kc->dc2));
	kc->cnt = xrealloc(kc->cnt, cap * sizeof(*kc->cnt));
	kc->mem = xrealloc(kc->mem, cap * sizeof(*kc->mem));
	kc->cg = xrealloc(kc->cg, cap * sizeof(*kc->cg));
	for (int t = 0; t < kc->nwk; t++) {
		kc->wk[t].dcnt = xrealloc(kc->wk[t].dcnt, cap * sizeof(*kc->wk[t].dcnt));
		memset(kc->wk[t].dcnt + kc->mcap, 0, (cap - kc->mcap) * sizeof(*kc->wk[t].dcnt));
	}
	memset(kc->mem + kc->mcap, 0, (cap - kc->mcap) * sizeof(*kc->mem));
	kc->mcap = cap;
}

static uint32_t new_centre(struct kcenter *kc, size_t p)
{
	grow_centres(kc, kc->m + 1);
	uint32_t q = (uint32_t)kc->m++;
	kc->crow[q] = (uint32_t)p;
	if (kc->Xf) {
		memcpy(kc->ctr + q * kc->dp, kc->Xf + p * kc->dp, kc->dp * sizeof(*kc->ctr));
		kc->ctrn[q] = kc->nrm[p];
	}
	kc->cnt[q] = 0;
	kc->mem[q].off = kc->mem[q].len = 0;
	kc->cg[q] = GROUP_EMPTY;
	return q;
}

/* ---- groups of centres and the tree of the clusters (DESIGN 6) ---- */

#define NSUP 4096		/* leaders at most */
#define SUP_VISITED 1		/* sup_vis: the pass visits the group's clusters */
#define SUP_CHANGED 2		/* sup_vis: one of them lost rows (its r2 bound is redone) */
#define SUP_REL 0x1p-30		/* relative error of a float64 squared distance (dim < 2^20) */

/* An upper bound of the distance whose float64 squared distance was computed as v. */
static double dist_up(double v)
{
	return sqrt(v * (1 + SUP_REL) + ABS64) * (1 + 0x1p-50);
}

/* A lower bound of the distance whose float64 squared distance was computed as v. */
static double dist_low(double v)
{
	double a = v * (1 - SUP_REL) - ABS64;
	return a > 0 ? sqrt(a) * (1 - 0x1p-50) : 0;
}

static void tree_pull(struct kcenter *kc, size_t x)
{
	struct group g = kc->tree[2 * x];
	group_merge(&g, &kc->tree[2 * x + 1]);
	kc->tree[x] = g;
}

/* The tree from cg[0, m), room for the centres up to the next power of two. */
static void tree_build(struct kcenter *kc)
{
	size_t t = 1;
	while (t < kc->m)
		t *= 2;
	if (t != kc->tcap) {
		free(kc->tree);
		kc->tree = xmalloc(2 * t * sizeof(*kc->tree));
		kc->tcap = t;
	}
	for (size_t j = 0; j < t; j++)
		kc->tree[t + j] = j < kc->m ? kc->cg[j] : GROUP_EMPTY;
	for (size_t x = t; x-- > 1;)
		tree_pull(kc, x);
}

/* Cluster j's group changed (or is new). */
static void tree_set(struct kcenter *kc, size_t j)
{
	if (j >= kc->tcap) {
		tree_build(kc);
		return;
	}
	size_t x = kc->tcap + j;
	kc->tree[x] = kc->cg[j];
	for (x /= 2; x >= 1; x /= 2)
		tree_pull(kc, x);
}

/* Room for the leader data of centres [0, want). */
static void sup_grow(struct kcenter *kc, size_t want)
{
	if (want <= kc->sup_ccap)
		return;
	size_t cap = kc->sup_ccap ? kc->sup_ccap : 1024;
	while (cap < want)
		cap *= 2;
	kc->sup_of = xrealloc(kc->sup_of, cap * sizeof(*kc->sup_of));
	kc->sup_up = xrealloc(kc->sup_up, cap * sizeof(*kc->sup_up));
	kc->sup_ccap = cap;
}

/* Centre j joins leader s's group, at most up from the leader. */
static void sup_join(struct kcenter *kc, size_t j, uint32_t s, double up)
{
	if (kc->sup_len[s] == kc->sup_cap[s]) {
		kc->sup_cap[s] = kc->sup_cap[s] ? 2 * kc->sup_cap[s] : 16;
		kc->sup_mem[s] = xrealloc(kc->sup_mem[s], kc->sup_cap[s] * sizeof(**kc->sup_mem));
	}
	kc->sup_mem[s][kc->sup_len[s]++] = (uint32_t)j;
	kc->sup_of[j] = s;
	kc->sup_up[j] = up;
	if (up > kc->sup_rho[s])
		kc->sup_rho[s] = up;
	if (kc->cg[j].r2 > kc->sup_r2[s])
		kc->sup_r2[s] = kc->cg[j].r2;
}

/*
 * A near leader of centre j (the nearest, but for leaders the projected bound
 * passes over: any leader would do, rho_s covers it), and an upper bound of
 * the distance.
 */
CLONES
static void nearest_leader(struct kcenter *kc, size_t j)
{
	const double *x = kc->X + (size_t)kc->crow[j] * kc->dim;
	double best = INFINITY;
	uint32_t bs = 0;

	for (size_t s = 0; s < kc->nsup; s++) {
		if (kc->Yp && proj_low2(kc, kc->crow[s], kc->crow[j]) > best * 2)
			continue;
		double v = sqdist64(kc->X + (size_t)kc->crow[s] * kc->dim, x, kc->dim);
		if (v < best) {
			best = v;
			bs = (uint32_t)s;
		}
	}
	kc->sup_of[j] = bs;
	kc->sup_up[j] = dist_up(best);
}

#define SUP_CHUNK 64

static void nearest_leader_cb(size_t c, int tid, void *ud)
{
	struct kcenter *kc = ud;
	size_t lo = kc->sup_done + c * SUP_CHUNK, hi = lo + SUP_CHUNK;

	(void)tid;
	if (hi > kc->sup_upto)
		hi = kc->sup_upto;
	for (size_t j = lo; j < hi; j++)
		nearest_leader(kc, j);
}

/* Gives centres [sup_done, upto) their group: the first nsup_max lead one each. */
static void sup_sync(struct kcenter *kc, size_t upto)
{
	sup_grow(kc, upto);
	while (kc->sup_done < upto && kc->nsup < kc->nsup_max) {
		size_t s = kc->sup_done++;
		kc->nsup++;
		kc->sup_len[s] = 0;
		kc->sup_rho[s] = 0;
		kc->sup_r2[s] = GEOM_TAKEN;
		sup_join(kc, s, (uint32_t)s, 0);
	}
	if (kc->sup_done >= upto)
		return;
	size_t todo = upto - kc->sup_done;
	kc->sup_upto = upto;
	pool_for((todo + SUP_CHUNK - 1) / SUP_CHUNK, threads_for(kc, todo * kc->nsup * kc->dim),
		 nearest_leader_cb, kc, NULL);
	for (size_t j = kc->sup_done; j < upto; j++)
		sup_join(kc, j, kc->sup_of[j], kc->sup_up[j]);
	kc->sup_done = upto;
}

/* Leader s's r2 bound, exact again from its clusters' groups. */
static void sup_exact(struct kcenter *kc, size_t s)
{
	double r2 = GEOM_TAKEN;

	for (uint32_t u = 0; u < kc->sup_len[s]; u++)
		if (kc->cg[kc->sup_mem[s][u]].r2 > r2)
			r2 = kc->cg[kc->sup_mem[s][u]].r2;
	kc->sup_r2[s] = r2;
}

/* Every leader's r2 bound, exact again. */
static void sup_recount(struct kcenter *kc)
{
	for (size_t s = 0; s < kc->nsup; s++)
		sup_exact(kc, s);
}

/* geom_sqdist from leader s to the centre being folded in. */
CLONES
static double sqdist64_leader(const struct kcenter *kc, size_t s)
{
	return sqdist64(kc->X + (size_t)kc->crow[s] * kc->dim, kc->c64, kc->dim);
}

/*
 * True when no row of leader s's clusters can move to the new centre, given
 * a <= |s - c| (DESIGN 6): |c_j - c| >= a - rho_s, and the triangle test
 * holds at the group's largest r2 for that lower bound.
 */
static bool sup_skips(const struct kcenter *kc, size_t s, double a)
{
	double r2 = kc->sup_r2[s], rho = kc->sup_rho[s];

	if (r2 < 0)
		return true;	/* no live row in any of its clusters */
	if (!(a < 0x1p500) || !(rho < 0x1p500))
		return false;
	double L = (a - rho) * (1 - 0x1p-50);
	if (!(L > 0))
		return false;
	return stays(kc, r2, L * L * (1 - 0x1p-50));
}

/* verify: leader s's group was skipped, so each of its clusters must pass the triangle test. */
static void verify_group(struct kcenter *kc, size_t s)
{
	for (uint32_t u = 0; kc->verify && u < kc->sup_len[s]; u++) {
		uint32_t j = kc->sup_mem[s][u];
		if (kc->cg[j].r2 > 0)
			verify_tri(kc, &kc->wk[0], crow_x(kc, j), kc->c64, kc->cg[j].r2);
	}
}

/* The clusters a clustered pass for centre q must visit, into vis; returns how many. */
static size_t plan_visits(struct kcenter *kc)
{
	size_t q = kc->q, nv = 0;

	if (kc->capvis < q) {
		kc->capvis = 2 * q;
		kc->vis = xrealloc(kc->vis, kc->capvis * sizeof(*kc->vis));
	}
	if (!kc->sup_on) {
		for (size_t j = 0; j < q; j++)
			kc->vis[nv++] = (uint32_t)j;
		return nv;
	}
	sup_sync(kc, q);
	/*
	 * |s - c| from below: first by the projected rows (DESIGN 5's bound, a
	 * line each), then, where that does not settle it, in float64.
	 */
	for (size_t s = 0; s < kc->nsup; s++) {
		kc->sup_d2[s] = -1;
		double lo = kc->Yp ? proj_low2(kc, kc->crow[s], kc->qrow) : 0;
		if (lo > 0 && sup_skips(kc, s, sqrt(lo) * (1 - 0x1p-50))) {
			kc->sup_vis[s] = 0;
			verify_group(kc, s);
			continue;
		}
		kc->sup_d2[s] = sqdist64_leader(kc, s);
		kc->sup_vis[s] = sup_skips(kc, s, dist_low(kc->sup_d2[s])) ? 0 : SUP_VISITED;
		if (!kc->sup_vis[s]) {
			verify_group(kc, s);
			continue;
		}
		memcpy(kc->vis + nv, kc->sup_mem[s], kc->sup_len[s] * sizeof(*kc->vis));
		nv += kc->sup_len[s];
	}
	return nv;
}

/*
 * After a clustered pass for centre q: the tree, the r2 bounds of the groups
 * whose clusters lost rows (exact again; the other groups' clusters did not
 * change, so their bounds still hold), q's group.
 */
static void clusters_after(struct kcenter *kc, size_t q)
{
	for (int t = 0; t < kc->nwk; t++) {
		struct worker *w = &kc->wk[t];
		for (size_t u = 0; u < w->ntch; u++) {
			tree_set(kc, w->tch[u]);
			if (kc->sup_on)
				kc->sup_vis[kc->sup_of[w->tch[u]]] |= SUP_CHANGED;
		}
		w->ntch = 0;
	}
	tree_set(kc, q);
	if (!kc->sup_on)
		return;
	for (size_t s = 0; s < kc->nsup; s++) {
		if (!kc->sup_vis[s])
			continue;
		bool changed = kc->sup_vis[s] & SUP_CHANGED;
		kc->sup_vis[s] = 0;
		if (changed)
			sup_exact(kc, s);
	}
	if (kc->nsup < kc->nsup_max) {
		sup_sync(kc, q + 1);
		return;
	}
	/*
	 * Its nearest leader among those measured in float64 (the others are
	 * far); when none was, from all of them.
	 */
	size_t bs = SIZE_MAX;
	for (size_t s = 0; s < kc->nsup; s++)
		if (kc->sup_d2[s] >= 0 && (bs == SIZE_MAX || kc->sup_d2[s] < kc->sup_d2[bs]))
			bs = s;
	sup_grow(kc, q + 1);
	if (bs == SIZE_MAX) {
		nearest_leader(kc, q);
		sup_join(kc, q, kc->sup_of[q], kc->sup_up[q]);
	} else {
		sup_join(kc, q, (uint32_t)bs, dist_up(kc->sup_d2[bs]));
	}
	kc->sup_done = q + 1;
}

/* Plain groups from d2 (after leaving clustered mode). */
static void recompute_blocks(struct kcenter *kc)
{
	for (size_t b = 0; b < kc->nblk; b++) {
		size_t lo = b * BLK, hi = lo + BLK < kc->n ? lo + BLK : kc->n;
		struct group g = GROUP_EMPTY;
		for (size_t i = lo; i < hi; i++)
			if (kc->d2[i] >= 0)
				group_add(kc, &g, i, kc->d2[i]);
		kc->bg[b] = g;
		kc->bt[b] = (uint32_t)kc->m;
		kc->bdirty[b] = 0;
	}
	kc->next_sync = kc->m + kc->sync_every;
}

static void sort_list_cb(size_t j, int tid, void *ud)
{
	struct kcenter *kc = ud;
	struct list *L = &kc->mem[j];

	sort_members(&kc->wk[tid], L->v, L->len);
	list_group(kc, j);
}

/*
 * Clustered groups from asg: member lists in path order and exact groups.
 * False (and nothing changed) when a live row has no centre yet.
 */
static bool rebuild_clusters(struct kcenter *kc)
{
	for (size_t i = 0; i < kc->n; i++)
		if (kc->d2[i] >= 0 && kc->asg[i] == NONE)
			return false;
	memset(kc->cnt, 0, kc->m * sizeof(*kc->cnt));
	for (size_t i = 0; i < kc->n; i++)
		if (kc->d2[i] >= 0)
			kc->cnt[kc->asg[i]]++;
	for (size_t j = 0; j < kc->m; j++) {
		struct list *L = &kc->mem[j];
		L->cap = kc->cnt[j] ? kc->cnt[j] : 1;
		L->v = xrealloc(L->v, L->cap * sizeof(*L->v));
		L->off = L->len = 0;
	}
	for (size_t i = 0; i < kc->n; i++) {
		if (kc->d2[i] < 0)
			continue;
		struct list *L = &kc->mem[kc->asg[i]];
		L->v[L->len++] = (struct member){ kc->d2[i], (uint32_t)i };
	}
	pool_for(kc->m, threads_for(kc, kc->live * 16), sort_list_cb, kc, NULL);
	kc->clustered = true;
	if (kc->sup_on) {
		sup_sync(kc, kc->m);
		sup_recount(kc);
	}
	tree_build(kc);
	return true;
}

static void leave_clusters(struct kcenter *kc)
{
	for (size_t j = 0; j < kc->m; j++)
		kc->cnt[j] = kc->mem[j].len - kc->mem[j].off;
	kc->clustered = false;
	recompute_blocks(kc);
}

/* After a plain step: the rows the clustered pass would have scanned. */
static size_t clustered_estimate(const struct kcenter *kc)
{
	size_t est = 0;
	for (size_t j = 0; j < kc->q; j++)
		if (!(kc->cg[j].r2 < 0 || stays(kc, kc->cg[j].r2, kc->dc2[j])))
			est += kc->cnt[j];
	return est;
}


/* ---- lazy plain steps (coreset, DESIGN 4) ---- */

#define TRI_MAX 4096		/* centres with pairwise bounds for the lazy triangle test */
#define QUARTER (BLK / 4)	/* rows per work item of a refresh */
#define PF_PENDING 4		/* pending centres from which a refresh reads float64 rows ahead */
#define SYNC_EVERY 16		/* lazy steps between looks at the clustered passes */

static bool block_fresh(const struct kcenter *kc, size_t b)
{
	return kc->bt[b] == kc->m && !kc->bdirty[b];
}

/* Index of the bound between centres a < c in cc. */
static size_t tri_at(size_t c, size_t a)
{
	return c * (c - 1) / 2 + a;
}

/*
 * Folds the centres added since block b's last refresh into a quarter of its
 * rows, centre by centre in the order they were added, so each row ends with
 * the d2 and asg the eager passes give it: the same tests, the same
 * evaluations, made later. Rows stream once for many centres.
 */
CLONES
static void refresh_quarter(struct kcenter *kc, size_t b, size_t part, struct worker *w,
			    struct group *out)
{
	size_t lo = b * BLK + part * QUARTER;
	size_t hi = lo + QUARTER < kc->n ? lo + QUARTER : kc->n;
	size_t c0 = kc->bt[b], m = kc->m, dim = kc->dim, dp = kc->dp;
	bool tri = kc->prune >= 0;
	struct group g = GROUP_EMPTY;

	for (size_t i = lo; i < hi; i++) {
		double v = kc->d2[i];
		if (v < 0)
			continue;	/* taken */
		w->scanned++;
		/*
		 * With several centres pending, the next row's float64 values are
		 * read ahead: one of them is likely to need the float64 recompute,
		 * and the arithmetic on this row hides the wait.
		 */
		if (m - c0 >= PF_PENDING && i + 1 < hi)
			prefetch_row(kc->X + (i + 1) * dim, dim * sizeof(double));
		uint32_t a = kc->asg[i];
		const double *x = kc->X + i * dim;
		double th = kc->Xf ? gate_threshold(kc, i, v) : INFINITY;
		double sv = kc->proj ? proj_root(kc, v) : 0;
		size_t c = c0;
		/* A row at 0 stays at 0 whatever the centre. */
		while (c < m && v > 0) {
			/*
			 * The next (up to) four centres the triangle test leaves, judged
			 * with the row's current centre and d2; their float32 distances
			 * together; then each in turn. When the row moves, the rest are
			 * judged again from the centre after the one it moved to.
			 */
			size_t cs[4];
			int nc = 0;
			for (; c < m && nc < 4; c++) {
				if (tri && a != NONE && c < TRI_MAX &&
				    stays(kc, v, kc->cc[tri_at(c, a)])) {
					verify_tri(kc, w, crow_x(kc, a), crow_x(kc, c), v);
					continue;
				}
				if (kc->proj && !pgate(kc, w, i, sv, kc->crow[c])) {
					verify_gate(kc, w, i, crow_x(kc, c), v);
					continue;
				}
				cs[nc++] = c;
			}
			if (nc == 0)
				break;
			float s32[4] = {0, 0, 0, 0};
			bool g32 = kc->Xf && !(kc->proj && kc->skip32);
			if (!g32) {
				/* No float32 gate: every centre left goes to float64. */
			} else if (nc == 1) {
				/* One centre pending (the early steps): no padding to four. */
				s32[0] = dist32(kc->Xf + i * dp, kc->ctr + cs[0] * dp, dp);
				w->f32++;
			} else {
				const float *cf[4];
				for (int t = 0; t < 4; t++)
					cf[t] = kc->ctr + cs[t < nc ? t : 0] * dp;
				dist32x4(kc->Xf + i * dp, cf, dp, s32);
				w->f32 += (size_t)nc;
			}
			for (int t = 0; t < nc; t++) {
				size_t p = kc->crow[cs[t]];
				if (g32 && kc->proj)
					w->g32++;
				if (g32 && !(s32[t] < th)) {
					w->grej += kc->proj;
					verify_gate(kc, w, i, kc->X + p * dim, v);
					continue;
				}
				w->f64++;
				double s = sqdist64(x, kc->X + p * dim, dim);
				if (s < v) {
					v = s;
					a = (uint32_t)cs[t];
					th = kc->Xf ? gate_threshold(kc, i, v) : INFINITY;
					sv = kc->proj ? proj_root(kc, v) : 0;
					c = cs[t] + 1;
					break;
				}
				w->same64++;
			}
		}
		kc->d2[i] = v;
		kc->asg[i] = a;
		group_add(kc, &g, i, v);
	}
	*out = g;
}

static void refresh_cb(size_t u, int tid, void *ud)
{
	struct kcenter *kc = ud;
	refresh_quarter(kc, kc->ub[u / 4], u % 4, &kc->wk[tid], &kc->ug[u]);
}

/* Refreshes the nub blocks in ub, on the threads when the work is large. */
static int refresh_blocks(struct kcenter *kc)
{
	size_t work = 0;
	int rc;

	for (size_t t = 0; t < kc->nub; t++)
		work += (kc->m - kc->bt[kc->ub[t]] + 1) * BLK * kc->dp;
	rc = pool_for(4 * kc->nub, threads_for(kc, work), refresh_cb, kc, kc->cancel);
	if (rc < 0)
		return rc;
	for (size_t t = 0; t < kc->nub; t++) {
		size_t b = kc->ub[t];
		struct group g = kc->ug[4 * t];
		for (size_t part = 1; part < 4; part++)
			group_merge(&g, &kc->ug[4 * t + part]);
		kc->bg[b] = g;
		kc->bt[b] = (uint32_t)kc->m;
		kc->bdirty[b] = 0;
	}
	kc->nub = 0;
	return 0;
}

/*
 * The highest key block b's rows can have now (DESIGN 4). While the block is
 * stale its key is an upper bound for coreset's rows and coral's with w > 0
 * (d2 only falls); a coral row with w <= 0 has a key below 0 that rises as
 * d2 falls, so below 0 the bound is 0. A row that did not qualify (d2 at 0,
 * or under min_distance) never will.
 */
static double key_bound(const struct kcenter *kc, size_t b)
{
	const struct group *g = &kc->bg[b];

	if (g->arg == SIZE_MAX)
		return -INFINITY;
	return g->key > 0 ? g->key : 0;
}

/* Offers stale block b to the batch being refreshed; a full batch keeps the highest bounds. */
static void batch_offer(struct kcenter *kc, size_t b, size_t batch)
{
	if (kc->nub < batch) {
		kc->ub[kc->nub++] = (uint32_t)b;
		return;
	}
	size_t lo = 0;
	for (size_t t = 1; t < batch; t++)
		if (key_bound(kc, kc->ub[t]) < key_bound(kc, kc->ub[lo]))
			lo = t;
	if (key_bound(kc, b) > key_bound(kc, kc->ub[lo]))
		kc->ub[lo] = (uint32_t)b;
}

/* What the fresh blocks hold: the best (block fb) and, for coral, the largest r2 and the finalists' threshold. */
struct fresh {
	struct group f;
	size_t fb;
	double r2, thr;
};

static void fresh_summary(const struct kcenter *kc, struct fresh *s)
{
	*s = (struct fresh){ GROUP_EMPTY, SIZE_MAX, GEOM_TAKEN, -INFINITY };
	for (size_t b = 0; b < kc->nblk; b++) {
		const struct group *g = &kc->bg[b];
		if (!block_fresh(kc, b))
			continue;
		if (g->r2 > s->r2)
			s->r2 = g->r2;
		if (g->arg != SIZE_MAX && (s->fb == SIZE_MAX || g->key > s->f.key)) {
			s->f = *g;
			s->fb = b;
		}
	}
	if (kc->w && s->fb != SIZE_MAX) {
		/* As kcenter_coral_pick sets it. */
		double K = fabs(s->f.key);
		s->thr = K >= 0x1p-960 && K <= 0x1p960 ? s->f.key - 1e-9 * K : -INFINITY;
	}
}

/*
 * True when stale block b must be refreshed before the next pick can be read
 * off the groups. coreset: its bound beats the best fresh block (ties: the
 * lower block, whose rows come first). coral: kcenter_coral_pick needs D
 * (the largest d2 over the live rows) exactly and every row whose key is
 * within 1e-9 of the best, so the block may not hold a larger r2 nor reach
 * the finalists' threshold.
 */
static bool must_refresh(const struct kcenter *kc, size_t b, const struct fresh *s)
{
	const struct group *g = &kc->bg[b];

	if (!kc->w)
		return g->arg != SIZE_MAX && (s->fb == SIZE_MAX || g->key > s->f.key ||
					      (g->key == s->f.key && b < s->fb));
	return g->r2 > s->r2 ||
	       (g->arg != SIZE_MAX && (s->fb == SIZE_MAX || key_bound(kc, b) >= s->thr));
}

/*
 * Refreshes blocks until none that is stale can change the next pick; the
 * stale groups left then change neither the argmax nor coral's D and
 * finalists. The stale blocks with the highest bounds go first, a few at a
 * time, so both threads have work.
 */
static int lazy_settle(struct kcenter *kc)
{
	size_t batch = 2 * (size_t)kc->nwk;

	for (;;) {
		struct fresh s;
		fresh_summary(kc, &s);
		kc->nub = 0;
		for (size_t b = 0; b < kc->nblk; b++)
			if (!block_fresh(kc, b) && must_refresh(kc, b, &s))
				batch_offer(kc, b, batch);
		if (kc->nub == 0)
			return 0;
		int rc = refresh_blocks(kc);
		if (rc < 0)
			return rc;
	}
}

/* Brings every block up to date. */
static int lazy_sync(struct kcenter *kc)
{
	kc->nub = 0;
	for (size_t b = 0; b < kc->nblk; b++) {
		if (block_fresh(kc, b))
			continue;
		kc->ub[kc->nub++] = (uint32_t)b;
	}
	return kc->nub ? refresh_blocks(kc) : 0;
}

/* Room in cc for the bounds of centre q. */
static void grow_tri(struct kcenter *kc, size_t q)
{
	if (q < kc->cccap)
		return;
	size_t cap = kc->cccap ? kc->cccap : 256;
	while (cap <= q)
		cap *= 2;
	if (cap > TRI_MAX)
		cap = TRI_MAX;
	kc->cc = xrealloc(kc->cc, tri_at(cap, 0) * sizeof(*kc->cc));
	kc->cccap = cap;
}

/* The largest float at most x (x >= 0): the bound stays a lower bound in float32. */
static float float_down(double x)
{
	float f = (float)x;
	return (double)f > x ? nextafterf(f, 0) : f;
}

/*
 * Every few steps (prune = 0): bring all blocks up to date, and when the
 * clustered pass would scan less than 75% of the live rows for the next
 * pick, build the member lists and make the next steps clustered. Where it
 * would not (uniform data), look less and less often.
 */
static int lazy_look(struct kcenter *kc)
{
	size_t m = kc->m, est = 0;
	double best;
	int rc = lazy_sync(kc);

	if (rc < 0)
		return rc;
	size_t p = SIZE_MAX;
	struct group top = GROUP_EMPTY;
	for (size_t b = 0; b < kc->nblk; b++)
		group_merge(&top, &kc->bg[b]);
	p = top.arg;
	best = top.key;
	if (p == SIZE_MAX || !(best > 0))
		return 0;
	for (size_t j = 0; j < m; j++) {
		kc->cnt[j] = 0;
		kc->cg[j] = GROUP_EMPTY;
	}
	for (size_t i = 0; i < kc->n; i++) {
		if (kc->d2[i] < 0)
			continue;
		uint32_t a = kc->asg[i];
		if (a == NONE)
			return 0;
		kc->cnt[a]++;
		if (kc->d2[i] > kc->cg[a].r2)
			kc->cg[a].r2 = kc->d2[i];
	}
	/* Distances from every centre to the next pick, as the clustered pass would see them. */
	kc->q = (uint32_t)m;
	kc->c64 = kc->X + p * kc->dim;
	kc->cf = kc->Xf ? kc->Xf + p * kc->dp : NULL;
	kc->cn = kc->Xf ? kc->nrm[p] : 0;
	grow_centres(kc, m + 1);
	rc = pool_for((m + DC_CHUNK - 1) / DC_CHUNK, threads_for(kc, m * kc->dim), centre_dist_cb, kc,
		      kc->cancel);
	if (rc < 0)
		return rc;
	/* The rows the sorted lists would read: those the triangle test cannot rule out. */
	for (size_t i = 0; i < kc->n; i++)
		if (kc->d2[i] >= 0 && !stays(kc, kc->d2[i], kc->dc2[kc->asg[i]]))
			est++;
	if (4 * est < 3 * kc->live) {
		rebuild_clusters(kc);
		return 0;
	}
	if (10 * est > 9 * kc->live)
		kc->sync_every *= 2;
	kc->next_sync = m + kc->sync_every;
	return 0;
}

/* A lazy plain step: centre q (row p, already taken) is only recorded; then settle. */
static int lazy_fold(struct kcenter *kc, size_t p, uint32_t q)
{
	int rc;

	if (kc->prune >= 0 && q > 0 && q < TRI_MAX) {
		grow_tri(kc, q);
		rc = pool_for((q + DC_CHUNK - 1) / DC_CHUNK, threads_for(kc, q * kc->dim),
			      centre_dist_cb, kc, kc->cancel);
		if (rc < 0)
			return rc;
		float *row = kc->cc + tri_at(q, 0);
		for (size_t j = 0; j < q; j++)
			row[j] = float_down(kc->dc2[j]);
	}
	kc->bdirty[p / BLK] = 1;
	rc = lazy_settle(kc);
	if (rc < 0)
		return rc;
	if (kc->prune == 0 && kc->m >= kc->next_sync && kc->m < TRI_MAX)
		rc = lazy_look(kc);
	return rc;
}

/* Row i's float32 copy, zero-padded to dp. */
static void float_row(struct kcenter *kc, size_t i)
{
	const double *x = kc->X + i * kc->dim;
	float *y = kc->Xf + i * kc->dp;

	for (size_t j = 0; j < kc->dim; j++)
		y[j] = (float)x[j];
	for (size_t j = kc->dim; j < kc->dp; j++)
		y[j] = 0;
}

static void float_rows_cb(size_t b, int tid, void *ud)
{
	struct kcenter *kc = ud;
	size_t lo = b * BLK, hi = lo + BLK < kc->n ? lo + BLK : kc->n;

	for (size_t i = lo; i < hi; i++)
		float_row(kc, i);
}

/*
 * Makes the float32 copy of the rows, and of the centres so far, when the
 * norms allow one. With the projected gate on it is made only once the
 * float32 gate would pay (collect_stats): a million rows of 64 floats are
 * 256 MB that the projected rows mostly do without.
 */
static void need_xf(struct kcenter *kc)
{
	if (kc->Xf || !kc->xf_ok)
		return;
	kc->Xf = xaligned_floats(kc->n * kc->dp);
	pool_for(kc->nblk, threads_for(kc, kc->n * kc->dim), float_rows_cb, kc, NULL);
	if (kc->mcap) {
		kc->ctr = xalloc_aligned(kc->mcap * kc->dp * sizeof(*kc->ctr));
		kc->ctrn = xrealloc(kc->ctrn, kc->mcap * sizeof(*kc->ctrn));
		for (size_t q = 0; q < kc->m; q++) {
			memcpy(kc->ctr + q * kc->dp, kc->Xf + (size_t)kc->crow[q] * kc->dp,
			       kc->dp * sizeof(*kc->ctr));
			kc->ctrn[q] = kc->nrm[kc->crow[q]];
		}
	}
}

/*
 * Adds the workers' counters to kc->st and clears them. Adaptive (project =
 * 0 for the second rule): a projected gate that ruled out less than one pair in eight this pass
 * (after the first centre) is turned off, and tried again PROBE_EVERY
 * centres later.
 */
static void collect_stats(struct kcenter *kc)
{
	size_t tests = 0, rej = 0, tests32 = 0, rej32 = 0, f64 = 0, same64 = 0, ct = 0, crej = 0;

	for (int t = 0; t < kc->nwk; t++) {
		struct worker *w = &kc->wk[t];
		kc->st.clusters_tested += w->ctested;
		kc->st.clusters_full += w->ct;
		kc->st.skips_checked += w->checked;
		kc->st.skips_wrong += w->wrong;
		ct += w->ctp;
		crej += w->crej;
		w->ct = w->ctp = w->crej = w->ctested = w->checked = w->wrong = 0;
		kc->st.rows_scanned += w->scanned;
		kc->st.rows_float32 += w->f32;
		kc->st.rows_float64 += w->f64;
		kc->st.rows_projected += w->p32;
		tests += w->p32;
		rej += w->prej;
		tests32 += w->g32;
		rej32 += w->grej;
		f64 += w->f64;
		same64 += w->same64;
		w->scanned = w->f32 = w->f64 = w->p32 = w->prej = w->g32 = w->grej = 0;
		w->same64 = 0;
	}
	/*
	 * No float32 copy yet: make it once one float64 recompute in four finds
	 * the row staying, which the float32 gate might have ruled out.
	 */
	if (!kc->Xf && kc->xf_ok && f64 >= 256 && 4 * same64 >= f64) {
		need_xf(kc);
		kc->skip32 = false;
	}
	/*
	 * Where the full cluster test rules out less than one cluster in eight
	 * of those the projected one let through, the projected bound alone
	 * decides for a while.
	 */
	if (!kc->skipc && ct >= 64 && 8 * crej < ct) {
		kc->skipc = true;
		kc->skipc_probe = kc->m + PROBE_EVERY;
	} else if (kc->skipc && kc->m >= kc->skipc_probe) {
		kc->skipc = false;
	}
	/*
	 * Where the projected gate leaves the float32 one less than one pair in
	 * four to rule out, the pairs go straight to float64 for a while.
	 */
	if (!kc->skip32 && tests32 >= 256 && 4 * rej32 < tests32) {
		kc->skip32 = true;
		kc->skip_probe = kc->m + PROBE_EVERY;
	} else if (kc->skip32 && kc->Xf && kc->m >= kc->skip_probe) {
		kc->skip32 = false;
	}
	/* The first centre meets rows at +inf, which no gate rules out. */
	if (kc->project != 0 || !kc->Yp || kc->m < 2)
		return;
	if (kc->proj && tests >= 256 && 8 * rej < tests) {
		kc->proj = false;
		kc->proj_probe = kc->m + PROBE_EVERY;
		need_xf(kc);
	} else if (!kc->proj && kc->m >= kc->proj_probe) {
		kc->proj = true;
	}
}

/* Worker t's moved rows, as members, into their place in the new centre's list, sorted. */
static void sort_moved_cb(size_t t, int tid, void *ud)
{
	struct kcenter *kc = ud;
	const struct worker *w = &kc->wk[t];
	struct member *seg = kc->mem[kc->q].v + w->mvat;

	for (size_t u = 0; u < w->nmv; u++)
		seg[u] = (struct member){ kc->d2[w->mv[u]], w->mv[u] };
	sort_members(&kc->wk[tid], seg, w->nmv);
}

/* Folds centre p (already taken) into every live row. */
static int fold(struct kcenter *kc, size_t p)
{
	uint32_t q = new_centre(kc, p);
	struct group mb = GROUP_EMPTY;
	size_t moved = 0, scanned = 0;
	int rc;

	kc->q = q;
	kc->qrow = p;
	kc->c64 = kc->X + p * kc->dim;
	kc->cf = kc->Xf ? kc->Xf + p * kc->dp : NULL;
	kc->cn = kc->Xf ? kc->nrm[p] : 0;
	for (int t = 0; t < kc->nwk; t++) {
		kc->wk[t].nmv = 0;
		kc->wk[t].mbest = GROUP_EMPTY;
		kc->wk[t].scanned = kc->wk[t].f32 = kc->wk[t].f64 = 0;
		kc->wk[t].p32 = kc->wk[t].prej = 0;
		kc->wk[t].ntch = 0;
	}
	if (kc->clustered)
		kc->st.steps_clustered++;
	else
		kc->st.steps_plain++;
	if (kc->lazy && !kc->clustered) {
		rc = lazy_fold(kc, p, q);
		collect_stats(kc);
		return rc;
	}

	if (kc->clustered) {
		/* Its rows are read at random: weigh each as RANDOM_COST streamed ones. */
		size_t nv = plan_visits(kc);
		rc = pool_for(nv, threads_for(kc, (kc->last_scanned * RANDOM_COST + nv) * kc->dp),
			      visit_cluster_cb, kc, kc->cancel);
	} else {
		kc->tri = kc->prune >= 0 && q > 0;
		if (kc->tri) {
			rc = pool_for((q + DC_CHUNK - 1) / DC_CHUNK, threads_for(kc, q * kc->dim),
				      centre_dist_cb, kc, kc->cancel);
			if (rc < 0)
				return rc;
		}
		rc = pool_for(kc->nblk, threads_for(kc, kc->live * kc->dp), scan_block_cb, kc,
			      kc->cancel);
	}
	if (rc < 0)
		return rc;

	for (int t = 0; t < kc->nwk; t++) {
		struct worker *w = &kc->wk[t];
		group_merge(&mb, &w->mbest);
		moved += w->nmv;
		scanned += w->scanned;
	}
	collect_stats(kc);
	kc->cg[q] = mb;
	if (kc->clustered) {
		struct list *L = &kc->mem[q];
		L->cap = moved ? (uint32_t)moved : 1;
		L->v = xrealloc(L->v, L->cap * sizeof(*L->v));
		/* Each worker's rows sorted on its thread, then merged in order. */
		for (int t = 0; t < kc->nwk; t++) {
			kc->wk[t].mvat = L->len;
			L->len += (uint32_t)kc->wk[t].nmv;
		}
		pool_for((size_t)kc->nwk, threads_for(kc, moved * 64), sort_moved_cb, kc, NULL);
		size_t done = kc->wk[0].nmv;
		for (int t = 1; t < kc->nwk; t++) {
			size_t nb = kc->wk[t].nmv;
			if (nb == 0)
				continue;
			reserve_members(&kc->msort, &kc->msort_cap, done + nb);
			merge_members(L->v, done, L->v + done, nb, kc->msort);
			memcpy(L->v, kc->msort, (done + nb) * sizeof(*L->v));
			done += nb;
		}
		clusters_after(kc, q);
	} else {
		for (int t = 0; t < kc->nwk; t++) {
			int32_t *dc = kc->wk[t].dcnt;
			for (size_t j = 0; j < q; j++) {
				kc->cnt[j] += (uint32_t)dc[j];
				dc[j] = 0;
			}
		}
		kc->cnt[q] = (uint32_t)moved;
	}
	kc->last_scanned = scanned;

	/* Adapt (DESIGN): leave clusters that do not prune, enter them when they would. */
	if (kc->prune > 0) {
		if (!kc->clustered)
			rebuild_clusters(kc);
	} else if (kc->prune == 0) {
		if (kc->clustered && 10 * scanned > 9 * kc->live)
			leave_clusters(kc);
		else if (!kc->clustered && kc->tri && 4 * clustered_estimate(kc) < 3 * kc->live)
			rebuild_clusters(kc);
	}
	return 0;
}

/* Takes row p out of its cluster's list (found by its d2 and row), and redoes the group. */
static void list_remove(struct kcenter *kc, size_t p)
{
	uint32_t j = kc->asg[p];
	struct list *L = &kc->mem[j];
	struct member key = { kc->d2[p], (uint32_t)p };
	struct member *at = bsearch(&key, L->v + L->off, L->len - L->off, sizeof(*L->v), member_cmp);

	if (!at) {
		fprintf(stderr, "<2>winnow: kcenter: row %zu missing from its cluster\n", p);
		abort();
	}
	memmove(at, at + 1, (size_t)(L->v + L->len - (at + 1)) * sizeof(*at));
	L->len--;
	list_group(kc, j);
	tree_set(kc, j);
	/* Its group's r2 bound, tight again (the row taken is often the group's largest). */
	if (kc->sup_on && j < kc->sup_done)
		sup_exact(kc, kc->sup_of[j]);
}

int kcenter_add(struct kcenter *kc, size_t p)
{
	if (kc->clustered && kc->asg[p] != NONE && kc->d2[p] >= 0)
		list_remove(kc, p);
	kc->d2[p] = GEOM_TAKEN;
	kc->live--;
	if (cancelled(kc))
		return -ECANCELED;
	return fold(kc, p);
}

/* ---- the SGEMM start ---- */

struct sgemm_bounds {
	double lo, hi;
};

/* [lo, hi] around geom_sqdist(x_i, c_j) from the expansion E (DESIGN 3). */
static struct sgemm_bounds pair_bounds(const struct kcenter *kc, double E, double B, double e)
{
	double shi = sqrt(E + B > 0 ? E + B : 0) + e;
	double slo = sqrt(E - B > 0 ? E - B : 0) - e;
	struct sgemm_bounds b;

	b.hi = (shi * shi * kc->r64 + ABS64) * (1 + 0x1p-40);
	b.lo = slo > 0 ? (slo * slo / kc->r64 - ABS64) * (1 - 0x1p-40) : 0;
	return b;
}

/*
 * Only a centre whose expansion E is at most this can have lo <= H; em and Bm
 * are the largest e and B over the tile.
 */
static double window(const struct kcenter *kc, double H, double em, double Bm)
{
	double sh = sqrt((H + ABS64) * kc->r64 * (1 + 0x1p-39)) + em;
	return (sh * sh + Bm) * (1 + 0x1p-40);
}

/* Keeps row r's candidates with lo <= H; false when NCAND remain. */
static bool compact_cands(struct worker *w, size_t r)
{
	uint32_t *cj = w->cj + r * NCAND;
	double *lo = w->clo + r * NCAND;
	uint8_t k = 0;

	for (uint8_t t = 0; t < w->nc[r]; t++) {
		if (lo[t] <= w->H[r]) {
			cj[k] = cj[t];
			lo[k] = lo[t];
			k++;
		}
	}
	w->nc[r] = k;
	return k < NCAND;
}

static void sgemm_rows(size_t rb, int tid, void *ud)
{
	struct kcenter *kc = ud;
	struct worker *w = &kc->wk[tid];
	size_t lo = rb * RB, nr = lo + RB < kc->n ? RB : kc->n - lo;
	size_t dp = kc->dp, m0 = kc->m0;
	double beta = (double)(dp + 4) * 0x1p-23;

	for (size_t r = 0; r < nr; r++) {
		const float *x = kc->Xf + (lo + r) * dp;
		double s = 0;
		for (size_t j = 0; j < dp; j++)
			s += (double)x[j] * x[j];
		w->xn2[r] = s;
		w->H[r] = INFINITY;
		w->nc[r] = 0;
	}
	for (size_t c0 = 0; c0 < m0; c0 += CB) {
		size_t nb = c0 + CB < m0 ? CB : m0 - c0;
		double cmax = 0, c2max = 0;
		for (size_t j = c0; j < c0 + nb; j++) {
			if (kc->cnrm[j] > cmax)
				cmax = kc->cnrm[j];
			if (kc->cn2[j] > c2max)
				c2max = kc->cn2[j];
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nb, (int)dp, 1.0f,
			    kc->Xf + lo * dp, (int)dp, kc->Cf + c0 * dp, (int)dp, 0.0f, w->G, (int)nb);
		for (size_t r = 0; r < nr; r++) {
			size_t i = lo + r;
			if (kc->d2[i] < 0 || w->nc[r] > NCAND)
				continue;	/* taken, or overflowed: done in float64 */
			double xn = kc->nrm[i], xn2 = w->xn2[r];
			double em = (xn + cmax) * 0x1p-23 + 0x1p-120;
			double th = window(kc, w->H[r], em, beta * (xn2 + c2max) + 0x1p-120);
			const float *g = w->G + r * nb;
			for (size_t t = 0; t < nb; t++) {
				size_t j = c0 + t;
				double E = xn2 + kc->cn2[j] - 2.0 * (double)g[t];
				if (!(E <= th))
					continue;
				double e = (xn + kc->cnrm[j]) * 0x1p-23 + 0x1p-120;
				struct sgemm_bounds b = pair_bounds(kc, E, beta * (xn2 + kc->cn2[j]) + 0x1p-120, e);
				if (b.hi < w->H[r]) {
					w->H[r] = b.hi;
					compact_cands(w, r);
					th = window(kc, b.hi, em, beta * (xn2 + c2max) + 0x1p-120);
				}
				if (b.lo > w->H[r])
					continue;
				if (w->nc[r] == NCAND && !compact_cands(w, r)) {
					w->nc[r] = NCAND + 1;
					break;
				}
				w->cj[r * NCAND + w->nc[r]] = (uint32_t)j;
				w->clo[r * NCAND + w->nc[r]] = b.lo;
				w->nc[r]++;
			}
		}
	}
	for (size_t r = 0; r < nr; r++) {
		size_t i = lo + r;
		if (kc->d2[i] < 0)
			continue;
		const double *x = kc->X + i * kc->dim;
		double best = INFINITY;
		uint32_t bj = NONE;
		if (w->nc[r] > NCAND) {
			for (size_t j = 0; j < m0; j++) {
				double s = geom_sqdist(x, kc->X + (size_t)kc->crow[j] * kc->dim, kc->dim);
				if (bj == NONE || s < best) {
					best = s;
					bj = (uint32_t)j;
				}
			}
		} else {
			compact_cands(w, r);
			for (uint8_t t = 0; t < w->nc[r]; t++) {
				uint32_t j = w->cj[r * NCAND + t];
				double s = geom_sqdist(x, kc->X + (size_t)kc->crow[j] * kc->dim, kc->dim);
				if (bj == NONE || s < best) {
					best = s;
					bj = j;
				}
			}
		}
		kc->d2[i] = best;
		kc->asg[i] = bj;
	}
}

static int start_sgemm(struct kcenter *kc, const size_t *rows, size_t m0)
{
	size_t dp = kc->dp;
	float *Cf = xaligned_floats(m0 * dp);
	double *cn2 = xmalloc(m0 * sizeof(*cn2));
	double *cnrm = xmalloc(m0 * sizeof(*cnrm));
	int rc;

	for (size_t j = 0; j < m0; j++) {
		new_centre(kc, rows[j]);
		memcpy(Cf + j * dp, kc->Xf + rows[j] * dp, dp * sizeof(*Cf));
		double s = 0;
		for (size_t t = 0; t < dp; t++)
			s += (double)Cf[j * dp + t] * Cf[j * dp + t];
		cn2[j] = s;
		cnrm[j] = kc->nrm[rows[j]];
	}
	for (int t = 0; t < kc->nwk; t++) {
		struct worker *w = &kc->wk[t];
		w->G = xmalloc((size_t)RB * CB * sizeof(*w->G));
		w->xn2 = xmalloc(RB * sizeof(*w->xn2));
		w->H = xmalloc(RB * sizeof(*w->H));
		w->cj = xmalloc((size_t)RB * NCAND * sizeof(*w->cj));
		w->clo = xmalloc((size_t)RB * NCAND * sizeof(*w->clo));
		w->nc = xmalloc(RB * sizeof(*w->nc));
	}
	kc->Cf = Cf;
	kc->cn2 = cn2;
	kc->cnrm = cnrm;
	kc->m0 = m0;
	/* Our threads split the rows; OpenBLAS's own threads would only compete. */
	blas_serial();
	rc = pool_for((kc->n + RB - 1) / RB, kc->threads, sgemm_rows, kc, kc->cancel);
	for (int t = 0; t < kc->nwk; t++) {
		struct worker *w = &kc->wk[t];
		free(w->G);
		free(w->xn2);
		free(w->H);
		free(w->cj);
		free(w->clo);
		free(w->nc);
	}
	free(Cf);
	free(cn2);
	free(cnrm);
	kc->Cf = NULL;
	kc->cn2 = kc->cnrm = NULL;
	if (rc < 0)
		return rc;
	if (!rebuild_clusters(kc))
		recompute_blocks(kc);
	return 0;
}

int kcenter_add_preselected(struct kcenter *kc)
{
	size_t m0 = 0;
	size_t *rows;
	int rc = 0;

	if (!kc->pre)
		return 0;
	for (size_t i = 0; i < kc->n; i++)
		m0 += kc->pre[i];
	if (m0 == 0)
		return 0;
	rows = xmalloc(m0 * sizeof(*rows));
	m0 = 0;
	for (size_t i = 0; i < kc->n; i++)
		if (kc->pre[i])
			rows[m0++] = i;
	if (cancelled(kc)) {
		rc = -ECANCELED;
	} else if (m0 >= SGEMM_MIN && kc->xf_ok && kc->prune >= 0) {
		need_xf(kc);
		rc = start_sgemm(kc, rows, m0);
	} else {
		/* In path order, as a plain fold would (the first nearest centre is kept). */
		for (size_t t = 0; t < m0 && rc == 0; t++)
			rc = cancelled(kc) ? -ECANCELED : fold(kc, rows[t]);
	}
	free(rows);
	return rc;
}

/* ---- picks ---- */

/* All groups merged: the tree's root while clustered, else the row blocks' merge. */
static struct group top_group(const struct kcenter *kc)
{
	struct group top = GROUP_EMPTY;

	if (kc->clustered)
		return kc->tree[1];
	for (size_t b = 0; b < kc->nblk; b++)
		group_merge(&top, &kc->bg[b]);
	return top;
}

size_t kcenter_farthest(const struct kcenter *kc, double *d2)
{
	struct group best = top_group(kc);

	*d2 = best.key;
	return best.arg;
}

struct coral_best {
	size_t arg;
	double obj, dist;
};

static void coral_consider(const struct kcenter *kc, struct coral_best *b, size_t i, double thr,
			   double D)
{
	double v = kc->d2[i];

	if (!(v > 0) || (kc->md_on && v < kc->md2))
		return;
	if (!(v * kc->w[i] * fabs(kc->w[i]) >= thr))
		return;
	/* Exactly as SPEC 4.6 writes it, so that a reference rounds the same. */
	double di = sqrt(v);
	double obj = (di / D) * kc->w[i];
	if (b->arg == SIZE_MAX || obj > b->obj ||
	    (obj == b->obj && (di > b->dist || (di == b->dist && i < b->arg)))) {
		b->arg = i;
		b->obj = obj;
		b->dist = di;
	}
}

/* The finalists of the clusters under tree node x (DESIGN 6: a node's key is its subtree's best). */
static void coral_subtree(const struct kcenter *kc, struct coral_best *b, size_t x, double thr,
			  double D)
{
	const struct group *g = &kc->tree[x];

	if (g->arg == SIZE_MAX || !(g->key >= thr))
		return;
	if (x < kc->tcap) {
		coral_subtree(kc, b, 2 * x, thr, D);
		coral_subtree(kc, b, 2 * x + 1, thr, D);
		return;
	}
	const struct list *L = &kc->mem[x - kc->tcap];
	for (uint32_t u = L->off; u < L->len; u++)
		coral_consider(kc, b, L->v[u].i, thr, D);
}

size_t kcenter_coral_pick(const struct kcenter *kc, double *dist, double *dmax)
{
	struct group top = top_group(kc);
	struct coral_best b = { SIZE_MAX, 0, 0 };

	if (top.arg == SIZE_MAX)
		return SIZE_MAX;
	double D = sqrt(top.r2);
	double K = fabs(top.key);
	/* The finalists: keys within 1e-9 of the best; every row when the key is extreme. */
	double thr = K >= 0x1p-960 && K <= 0x1p960 ? top.key - 1e-9 * K : -INFINITY;
	if (kc->clustered) {
		coral_subtree(kc, &b, 1, thr, D);
	} else {
		for (size_t t = 0; t < kc->nblk; t++) {
			const struct group *g = &kc->bg[t];
			if (g->arg == SIZE_MAX || !(g->key >= thr))
				continue;
			size_t lo = t * BLK, hi = lo + BLK < kc->n ? lo + BLK : kc->n;
			for (size_t i = lo; i < hi; i++)
				coral_consider(kc, &b, i, thr, D);
		}
	}
	*dist = b.dist;
	*dmax = D;
	return b.arg;
}

void kcenter_stats(const struct kcenter *kc, struct select_stats *st)
{
	st->steps_plain += kc->st.steps_plain;
	st->steps_clustered += kc->st.steps_clustered;
	st->rows_scanned += kc->st.rows_scanned;
	st->rows_float32 += kc->st.rows_float32;
	st->rows_float64 += kc->st.rows_float64;
	st->rows_projected += kc->st.rows_projected;
	st->clusters_tested += kc->st.clusters_tested;
	st->clusters_full += kc->st.clusters_full;
	st->skips_checked += kc->st.skips_checked;
	st->skips_wrong += kc->st.skips_wrong;
}

const double *kcenter_d2(struct kcenter *kc)
{
	/* Lazy blocks are brought up to date first; without cancel it cannot fail. */
	volatile int *cancel = kc->cancel;
	kc->cancel = NULL;
	if (kc->lazy && !kc->clustered)
		lazy_sync(kc);
	kc->cancel = cancel;
	return kc->d2;
}

/* ---- row blocks, for the plan engine's fast path (engine.c) ---- */

size_t kcenter_nblocks(const struct kcenter *kc)
{
	return kc->nblk;
}

double kcenter_block_r2(const struct kcenter *kc, size_t b)
{
	/* The clustered passes keep no block groups: no bound then. */
	return kc->clustered ? INFINITY : kc->bg[b].r2;
}

int kcenter_max_d2(struct kcenter *kc, double *m2)
{
	double best = GEOM_TAKEN;
	int rc = 0;

	/* Coreset's settle: no stale block's bound then exceeds the fresh maximum. */
	if (kc->lazy && !kc->clustered)
		rc = lazy_settle(kc);
	/* The clustered passes keep every group exact, and the tree their maximum. */
	struct group top = top_group(kc);
	if (top.r2 > best)
		best = top.r2;
	*m2 = best;
	return rc;
}

int kcenter_refresh(struct kcenter *kc, const size_t *blocks, size_t nb)
{
	if (!kc->lazy || kc->clustered)
		return 0;
	kc->nub = 0;
	for (size_t t = 0; t < nb; t++)
		if (!block_fresh(kc, blocks[t]))
			kc->ub[kc->nub++] = (uint32_t)blocks[t];
	return kc->nub ? refresh_blocks(kc) : 0;
}

const double *kcenter_d2_held(const struct kcenter *kc)
{
	return kc->d2;
}

/* ---- set-up ---- */

/* The smallest t >= 0 with sqrt(t) >= md: then d >= md exactly when d2 >= t. */
static double sq_threshold(double md)
{
	double t = md * md;
	while (t > 0 && sqrt(nextafter(t, 0)) >= md)
		t = nextafter(t, 0);
	while (sqrt(t) < md)
		t = nextafter(t, INFINITY);
	return t;
}

/* ---- the projected gate's directions (DESIGN 5) ---- */

static double unit_noise(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (double)((z ^ (z >> 31)) >> 11) * 0x1p-52 - 1;
}

/*
 * Orthonormalises the PR columns of Z (dim x PR) by modified Gram-Schmidt,
 * twice (the second pass restores what rounding took from the first); a
 * column with nothing left is zero. The bounds of DESIGN 5 are taken from
 * the result as it is, so this only has to be good, not exact.
 */
static void orthonormalise(double *Z, size_t dim)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < PR; k++) {
			for (size_t l = 0; l < k; l++) {
				double dot = 0;
				for (size_t j = 0; j < dim; j++)
					dot += Z[j * PR + k] * Z[j * PR + l];
				for (size_t j = 0; j < dim; j++)
					Z[j * PR + k] -= dot * Z[j * PR + l];
			}
			double nn = 0;
			for (size_t j = 0; j < dim; j++)
				nn += Z[j * PR + k] * Z[j * PR + k];
			double sc = nn > 0 && isfinite(nn) ? 1 / sqrt(nn) : 0;
			for (size_t j = 0; j < dim; j++)
				Z[j * PR + k] *= sc;
		}
	}
}

/*
 * The gate's bounds from P as stored: |P|_2^2 <= max_k sum_l |G_kl| for the
 * exact G = P P^T (Gershgorin), and the computed G is within (dim + 2)
 * 2^-52 |c_k| |c_l| <= (dim + 2) 2^-50 of it (columns of norm <= 2 checked
 * here). False when P is not usable (non-finite, or a column too long).
 */
static bool proj_bounds(struct kcenter *kc, const double *mu)
{
	size_t dim = kc->dim;
	double G[PR][PR], fro = 0, sig = 0, slack = (double)(dim + 2) * 0x1p-50;

	for (size_t k = 0; k < PR; k++)
		for (size_t l = 0; l < PR; l++) {
			double g = 0;
			for (size_t j = 0; j < dim; j++)
				g += kc->Pt[j * PR + k] * kc->Pt[j * PR + l];
			G[k][l] = g;
		}
	for (size_t k = 0; k < PR; k++) {
		double row = 0;
		if (!(G[k][k] <= 4))
			return false;
		for (size_t l = 0; l < PR; l++)
			row += fabs(G[k][l]) + slack;
		if (row > sig)
			sig = row;
		fro += G[k][k] + slack;
		double m = 0;
		for (size_t j = 0; j < dim; j++)
			m += kc->Pt[j * PR + k] * mu[j];
		kc->pmu[k] = m;
		if (!isfinite(m))
			return false;
	}
	kc->psig = kc->r64 * sig * (1 + 0x1p-40);
	kc->pfro = sqrt(fro * (1 + 0x1p-40)) * (1 + 0x1p-40);
	kc->pr32 = 1 + (double)(PR + 2) * 0x1p-23;
	kc->pabs32 = (double)PR * 0x1p-140;
	return true;
}

/* out = x P for a row x of dim values and P of dim x PR (recursive sums, in j order). */
INLINE void times_p(const double *x, const double *P, size_t dim, double out[PR])
{
	v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};

	for (size_t j = 0; j < dim; j++, P += PR) {
		v4d xj = { x[j], x[j], x[j], x[j] };
		a0 += xj * *(const v4d *)P;
		a1 += xj * *(const v4d *)(P + 4);
		a2 += xj * *(const v4d *)(P + 8);
		a3 += xj * *(const v4d *)(P + 12);
	}
	*(v4d *)out = a0;
	*(v4d *)(out + 4) = a1;
	*(v4d *)(out + 8) = a2;
	*(v4d *)(out + 12) = a3;
}

/*
 * One step of the subspace iteration on the sample A (s x dim): Om =
 * A^T (A Om), Y = A Om on the way. Written out rather than BLAS: the
 * products are small, and a BLAS call wakes OpenBLAS's threads, which then
 * spin on the cores the passes are about to use.
 */
CLONES
static void subspace_step(const double *A, double *Om, double *Y, size_t s, size_t dim)
{
	for (size_t t = 0; t < s; t++)
		times_p(A + t * dim, Om, dim, Y + t * PR);
	memset(Om, 0, dim * PR * sizeof(*Om));
	for (size_t t = 0; t < s; t++) {
		const double *a = A + t * dim, *y = Y + t * PR;
		v4d y0 = *(const v4d *)y, y1 = *(const v4d *)(y + 4);
		v4d y2 = *(const v4d *)(y + 8), y3 = *(const v4d *)(y + 12);
		double *o = Om;
		for (size_t j = 0; j < dim; j++, o += PR) {
			v4d aj = { a[j], a[j], a[j], a[j] };
			*(v4d *)o += aj * y0;
			*(v4d *)(o + 4) += aj * y1;
			*(v4d *)(o + 8) += aj * y2;
			*(v4d *)(o + 12) += aj * y3;
		}
	}
}

/* The sum of squares of A Om: the sample's variance the directions hold (times s). */
CLONES
static double held_variance(const double *A, const double *Om, size_t s, size_t dim)
{
	double held = 0, y[PR];

	for (size_t t = 0; t < s; t++) {
		times_p(A + t * dim, Om, dim, y);
		for (size_t k = 0; k < PR; k++)
			held += y[k] * y[k];
	}
	return held;
}

/*
 * PR principal directions of a sample of rows, by subspace iteration. With force false they are kept only when they hold at least half of
 * the sample's variance (the gate would rarely rule anything out otherwise).
 */
static bool principal_directions(struct kcenter *kc, bool force)
{
	size_t n = kc->n, dim = kc->dim, s = n < PSAMPLE ? n : PSAMPLE;
	double *A = xmalloc(s * dim * sizeof(*A)), *mu = xcalloc(dim, sizeof(*mu));
	double *Om = xmalloc(dim * PR * sizeof(*Om)), *Y = xmalloc(s * PR * sizeof(*Y));
	double total = 0, held = 0;
	uint64_t seed = 2024;
	bool ok;

	for (size_t t = 0; t < s; t++) {
		const double *x = kc->X + (t * n / s) * dim;
		memcpy(A + t * dim, x, dim * sizeof(*A));
		for (size_t j = 0; j < dim; j++)
			mu[j] += x[j];
	}
	for (size_t j = 0; j < dim; j++)
		mu[j] /= (double)s;
	for (size_t t = 0; t < s; t++)
		for (size_t j = 0; j < dim; j++) {
			A[t * dim + j] -= mu[j];
			total += A[t * dim + j] * A[t * dim + j];
		}
	for (size_t j = 0; j < dim * PR; j++)
		Om[j] = unit_noise(&seed);
	orthonormalise(Om, dim);
	for (int it = 0; it < PITER; it++) {
		subspace_step(A, Om, Y, s, dim);
		orthonormalise(Om, dim);
	}
	held = held_variance(A, Om, s, dim);
	kc->Pt = Om;
	ok = (force || (total > 0 && held >= 0.5 * total)) && proj_bounds(kc, mu);
	if (!ok) {
		free(kc->Pt);
		kc->Pt = NULL;
	}
	free(A);
	free(mu);
	free(Y);
	return ok;
}

/* Row i's projected row and its error bound (DESIGN 5); nrm[i] is set. */
CLONES
static void project_row(struct kcenter *kc, size_t i)
{
	double a[PR], ny = 0;
	float *y = kc->Yp + i * PR;

	times_p(kc->X + i * kc->dim, kc->Pt, kc->dim, a);
	for (size_t k = 0; k < PR; k++) {
		double v = a[k] - kc->pmu[k];
		y[k] = (float)v;
		ny += v * v;
	}
	double e = ((double)(kc->dim + 2) * 0x1p-52 * kc->pfro * (double)kc->nrm[i] +
		    0x1p-23 * sqrt(ny)) * (1 + 0x1p-20) + 0x1p-140;
	kc->pe[i] = nextafterf((float)e, INFINITY);
}

struct conv {
	struct kcenter *kc;
	double *maxn;		/* per thread */
	bool *bad;		/* per thread: a non-finite value */
};

/*
 * Norms, the finiteness check and the float32 copy in one pass over the rows
 * (the copy is only kept when the norms allow it, DESIGN 1).
 */
static void prepare_cb(size_t b, int tid, void *ud)
{
	struct conv *cv = ud;
	struct kcenter *kc = cv->kc;
	size_t lo = b * BLK, hi = lo + BLK < kc->n ? lo + BLK : kc->n;

	for (size_t i = lo; i < hi; i++) {
		const double *x = kc->X + i * kc->dim;
		double s = 0;
		for (size_t j = 0; j < kc->dim; j++)
			s += x[j] * x[j];
		if (kc->Xf)
			float_row(kc, i);
		/* s is finite unless a value is not, or the squares overflow. */
		if (!isfinite(s))
			for (size_t j = 0; j < kc->dim; j++)
				if (!isfinite(x[j]))
					cv->bad[tid] = true;
		double nx = sqrt(s);
		kc->nrm[i] = nextafterf((float)nx, INFINITY);
		if (!(nx <= cv->maxn[tid]))
			cv->maxn[tid] = nx;
		if (kc->Yp)
			project_row(kc, i);
	}
}

int kcenter_new(const struct select_input *in, bool coral, struct kcenter **out)
{
	struct kcenter *kc;
	size_t n = in->n, dim = in->d;
	int rc = 0;

	*out = NULL;
	if (n >= NONE)
		return -E2BIG;
	kc = xcalloc(1, sizeof(*kc));
	kc->X = in->X;
	kc->n = n;
	kc->dim = dim;
	kc->dp = (dim + 7) / 8 * 8;
	kc->pre = in->preselected;
	kc->w = coral ? in->w : NULL;
	kc->md_on = in->min_distance >= 0;
	kc->md2 = kc->md_on ? sq_threshold(in->min_distance) : 0;
	kc->threads = in->threads > 0 ? in->threads : cpu_count();
	kc->prune = in->prune;
	kc->cancel = in->cancel;
	kc->eps4 = 4 * (1 + (double)(dim + 8) * 0x1p-48);
	kc->r64 = 1 + (double)(dim + 4) * 0x1p-52;
	kc->r32 = 1 + (double)(kc->dp + 2) * 0x1p-23;
	kc->abs32 = (double)kc->dp * 0x1p-140;
	kc->nblk = (n + BLK - 1) / BLK;
	kc->bg = xmalloc((kc->nblk ? kc->nblk : 1) * sizeof(*kc->bg));
	kc->bt = xcalloc(kc->nblk ? kc->nblk : 1, sizeof(*kc->bt));
	kc->bdirty = xcalloc(kc->nblk ? kc->nblk : 1, sizeof(*kc->bdirty));
	kc->ub = xmalloc((kc->nblk ? kc->nblk : 1) * sizeof(*kc->ub));
	kc->ug = xmalloc(4 * (kc->nblk ? kc->nblk : 1) * sizeof(*kc->ug));
	kc->lazy = in->prune <= 0;
	kc->sync_every = SYNC_EVERY;
	kc->nwk = kc->threads;
	kc->wk = xcalloc((size_t)kc->nwk, sizeof(*kc->wk));
	/* DESIGN 6: about 64 centres a group at the start, up to NSUP leaders. */
	kc->sup_on = in->prune >= 0 && dim < (1u << 20);
	kc->nsup_max = n / 64 < 16 ? 16 : n / 64 > NSUP ? NSUP : n / 64;
	if (kc->sup_on) {
		size_t ns = kc->nsup_max;
		kc->sup_rho = xmalloc(ns * sizeof(*kc->sup_rho));
		kc->sup_r2 = xmalloc(ns * sizeof(*kc->sup_r2));
		kc->sup_d2 = xmalloc(ns * sizeof(*kc->sup_d2));
		kc->sup_vis = xcalloc(ns, sizeof(*kc->sup_vis));
		kc->sup_mem = xcalloc(ns, sizeof(*kc->sup_mem));
		kc->sup_len = xcalloc(ns, sizeof(*kc->sup_len));
		kc->sup_cap = xcalloc(ns, sizeof(*kc->sup_cap));
	}
	kc->d2 = xalloc_aligned(n * sizeof(*kc->d2));
	kc->asg = xalloc_aligned(n * sizeof(*kc->asg));
	kc->nrm = xalloc_aligned(n * sizeof(*kc->nrm));

	struct conv cv = {
		.kc = kc,
		.maxn = xcalloc((size_t)kc->nwk, sizeof(double)),
		.bad = xcalloc((size_t)kc->nwk, sizeof(bool)),
	};
	/*
	 * The projected gate (DESIGN 5): adaptive from 32 dimensions and 8192
	 * rows, and then the float32 copy waits until it pays (need_xf); forced
	 * on (tests), both are made at once.
	 */
	kc->project = in->project;
	kc->verify = in->verify != 0;
	if (n > 0 && (in->project > 0 || (in->project == 0 && dim >= 2 * PR && n >= 8192)) &&
	    principal_directions(kc, in->project > 0)) {
		kc->Yp = xaligned_floats(n * PR);
		kc->pe = xaligned_floats(n);
		kc->proj = true;
	}
	if (!kc->proj || in->project > 0)
		kc->Xf = xaligned_floats(n * kc->dp);
	kc->skip32 = !kc->Xf;
	pool_for(kc->nblk, threads_for(kc, n * dim), prepare_cb, &cv, NULL);
	double maxn = 0;
	for (int t = 0; t < kc->nwk; t++) {
		if (cv.bad[t])
			rc = -EINVAL;
		if (cv.maxn[t] > maxn)
			maxn = cv.maxn[t];
	}
	free(cv.maxn);
	free(cv.bad);
	if (rc < 0) {
		kcenter_free(kc);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		if (kc->nrm[i] > kc->nrm_max)
			kc->nrm_max = kc->nrm[i];
	kc->xf_ok = maxn <= 0x1p55 && dim < (1u << 20);
	if (!kc->xf_ok) {
		free(kc->Xf);
		kc->Xf = NULL;
		/* The gate's bounds assume the same: no float32 copy, no gate. */
		free(kc->Yp);
		free(kc->pe);
		kc->Yp = kc->pe = NULL;
		kc->proj = false;
	}
	for (size_t i = 0; i < n; i++) {
		bool pre = in->preselected && in->preselected[i];
		kc->d2[i] = pre ? GEOM_TAKEN : INFINITY;
		kc->asg[i] = NONE;
		kc->live += !pre;
	}
	recompute_blocks(kc);
	*out = kc;
	return 0;
}

void kcenter_free(struct kcenter *kc)
{
	if (!kc)
		return;
	for (size_t j = 0; j < kc->mcap; j++)
		free(kc->mem[j].v);
	for (int t = 0; t < kc->nwk; t++) {
		free(kc->wk[t].mv);
		free(kc->wk[t].cand);
		free(kc->wk[t].ms);
		free(kc->wk[t].dcnt);
		free(kc->wk[t].tch);
	}
	free(kc->wk);
	for (size_t s = 0; s < kc->nsup; s++)
		free(kc->sup_mem[s]);
	free(kc->sup_mem);
	free(kc->sup_rho);
	free(kc->sup_r2);
	free(kc->sup_d2);
	free(kc->sup_vis);
	free(kc->sup_len);
	free(kc->sup_cap);
	free(kc->sup_of);
	free(kc->sup_up);
	free(kc->vis);
	free(kc->tree);
	free(kc->mem);
	free(kc->msort);
	free(kc->crow);
	free(kc->ctr);
	free(kc->ctrn);
	free(kc->dc2);
	free(kc->cnt);
	free(kc->cg);
	free(kc->bg);
	free(kc->bt);
	free(kc->bdirty);
	free(kc->ub);
	free(kc->ug);
	free(kc->cc);
	free(kc->Xf);
	free(kc->Yp);
	free(kc->pe);
	free(kc->Pt);
	free(kc->nrm);
	free(kc->d2);
	free(kc->asg);
	free(kc);
}
