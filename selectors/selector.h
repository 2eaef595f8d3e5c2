/*
 * selector: the selection rules of SPEC 4.6. Every selector works on
 * candidates 0..n-1 in path order, with rows held in float64 (row-major, n x d).
 */
#ifndef WINNOW_SELECTOR_H
#define WINNOW_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/* Work counters of coreset and coral, for benchmarks (select_input.stats). */
struct select_stats {
	size_t steps_plain;	/* passes made as a sweep over row blocks */
	size_t steps_clustered;	/* passes made over member lists */
	size_t rows_scanned;	/* live rows whose d a pass read */
	size_t rows_float32;	/* float32 distances computed */
	size_t rows_float64;	/* float64 distances computed by the passes (exact recomputes) */
	size_t rows_projected;	/* distances on the 16 principal directions (the projected gate) */
	size_t clusters_tested;	/* clustered passes: clusters given the cluster-level test */
	size_t clusters_full;	/* cluster-level tests on the centres' full rows (float32 or
				 * float64), beyond the projected bound */
	size_t skips_checked;	/* verify: skips checked against exact distances */
	size_t skips_wrong;	/* verify: of them, the ones the exact distances contradict (0
				 * unless a bound is wrong) */
};

struct select_input {
	const double *X;	/* n x d rows (borrowed); NULL allowed for random/topk */
	size_t n, d;
	size_t k;		/* budget: SIZE_MAX = no limit */
	double min_distance;	/* < 0: off */
	uint64_t seed;		/* random */
	const double *w;	/* n weights (coral, active_learning); borrowed */
	const bool *preselected;	/* n flags (datapool, 4.7), or NULL */
	volatile int *cancel;	/* checked now and then; non-zero stops with -ECANCELED */
	int threads;		/* coreset, coral: threads to use; 0 = all cores */
	int prune;		/* coreset, coral, for tests and benchmarks: 0 = adaptive (the
				 * default), 1 = always the clustered (triangle-pruned) pass,
				 * -1 = never: the plain pass without triangle tests */
	int project;		/* coreset, coral, for tests and benchmarks: 0 = adaptive (the
				 * default), 1 = the projected gate always (whenever rows have
				 * a float32 copy), -1 = never */
	int verify;		/* coreset, coral, for tests: non-zero checks every skip (triangle
				 * tests, gates, centre groups) against exact float64 distances
				 * and counts the ones they contradict in stats->skips_wrong; slow */
	struct select_stats *stats;	/* coreset, coral: NULL, or filled with the work done */
};

struct selection {
	size_t n;		/* picks */
	size_t *idx;		/* candidate index of each pick, in selection order */
	double *dist;		/* d_i at its pick (NaN where not defined, e.g. random) */
	double *dmax;		/* D = max d_j over the selectable at the pick (coral; the
				 * DIVERSITY objective is dist / dmax), NaN elsewhere */
	bool fill_rest;		/* true when the "select everything" rule appended the rest */
	size_t n_method;	/* picks made by the method before any fill */
};

/*
 * fill_rest is set only when the "select everything" rule appended at least
 * one candidate (left at d = 0); n - n_method is their number. When the rule
 * is in force and the method reached every candidate itself, fill_rest is
 * false. dist of an appended pick is 0; the first coreset pick without
 * preselection has NaN (no selected set yet).
 */

/* Empty selection with room for cap picks (the arrays are allocated). */
void selection_init(struct selection *s, size_t cap);

/* Frees idx and dist and resets *s; NULL and an already freed *s are fine. */
void selection_free(struct selection *s);

/*
 * True when the "select everything" rule applies: min_distance off and a
 * budget that covers every pickable candidate (n minus the preselected).
 */
bool selection_takes_all(const struct select_input *in, size_t n_pickable);

/*
 * Each returns 0 and fills *out (free with selection_free), or a negative
 * errno (-ECANCELED when cancelled). When min_distance is off and k >= n (or
 * both are off), every candidate is selected: the method's order, then the
 * candidates left at d = 0 in path order (SPEC 4.6).
 */
int random_select(const struct select_input *in, struct selection *out);
int coreset_select(const struct select_input *in, struct selection *out);

/*
 * Notes on the two above. random_select ignores X, w and min_distance; it
 * draws min(k, m) of the m rows not preselected, in draw order (dist NaN);
 * with nothing preselected the draws are those of the plain shuffle of all
 * n rows. coreset_select
 * needs X (n x d, d >= 1 unless n = 0); preselected rows are never picked
 * and count as already selected; k counts new picks only. On an error *out
 * holds nothing to free.
 */

/*
 * coral (SPEC 4.6): each step picks argmax (d_i / D) * w_i over unselected i
 * with d_i > 0 (and d_i >= min_distance when on), D = max d_j over the
 * unselected; the first pick (nothing preselected) is argmax w, ties to the
 * farthest from the mean embedding, then the lowest index. Needs in->w.
 * topk (method active_learning): the k largest w, ties to the lowest index;
 * min_distance ignored. dist is NaN for topk.
 */
int coral_select(const struct select_input *in, struct selection *out);
int topk_select(const struct select_input *in, struct selection *out);

/*
 * Notes on the two above. coral_select needs X (n x d, d >= 1 unless n = 0)
 * and w; topk_select needs only w (X may be NULL). A NaN weight is -EINVAL.
 * Preselected rows are never picked and k counts new picks only, for both;
 * coral starts d from them. coral's dist is the Euclidean d_i at the pick
 * (NaN for the first-pick rule, 0 for a fill pick) and it appends the fill
 * of the "select everything" rule as coreset does; topk never needs a fill
 * (it reaches every pickable candidate itself). On an error *out holds
 * nothing to free.
 */

/*
 * The 2.2-era methods (SPEC 4.6) as the fixed plans of 4.8 (methods.c): the
 * selector each runs, and whether its order is explained by its plan's
 * objectives (random's Fisher-Yates draw is not).
 */
struct method_row {
	enum method method;
	int (*select)(const struct select_input *in, struct selection *out);
	bool explains;
};

/* The row of method m, or NULL out of range. */
const struct method_row *method_row(enum method m);

/*
 * The fixed plan p's objective of each entry at each pick of s (obj: s->n x
 * p->nentries, row-major) and S (score: s->n), from the picks' d_i and D
 * and the weights w (ncand, or NULL); NaN where a row has none (the fill,
 * random).
 */
void method_objectives(const struct plan *p, const struct selection *s, const double *w,
		       double *obj, double *score);

#endif
