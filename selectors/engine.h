/*
 * engine: runs any selection plan (SPEC 4.8) greedily on inputs the caller has
 * prepared: thresholds first, then one pick per step, the candidate with the
 * largest S = f_1 * f_2 * ... (one factor per non-THRESHOLD entry, in config
 * order), until the budget, an entry's stopping condition, or nothing
 * selectable is left.
 *
 * A straightforward exact float64 implementation: O(n) per pick per entry,
 * spread over the pool's threads. A plan with a DIVERSITY entry of strength
 * > 0 takes a fast path with the same results (kcenter's lazy distances and
 * per-block bounds of S; docs/selection.md), chosen by engine_inputs.prune. A plan made from a 2.2-era method runs here
 * by 4.8's rules alone (4.6's Fisher-Yates and "all selected" fill are the
 * old selectors' business).
 */
#ifndef WINNOW_ENGINE_H
#define WINNOW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

enum engine_stop {
	ENGINE_STOP_BUDGET,
	ENGINE_STOP_MIN_DISTANCE,
	ENGINE_STOP_MAX_SUM,
	ENGINE_STOP_MIN_TYPICALITY,
	ENGINE_STOP_NONE_SELECTABLE,
	ENGINE_STOP_ALL_SELECTED,
	ENGINE_STOP_COUNT_
};

/* "budget", "min_distance", ... (report.json's stop_reason); "?" out of range. */
const char *engine_stop_name(enum engine_stop s);

/*
 * What one plan entry reads, every array indexed by candidate (0..n-1, path
 * order, before thresholds) and borrowed. Which fields an entry needs:
 * - SCORES, METADATA (numeric), RANDOM with WEIGHTS or THRESHOLD: value, and
 *   has_value (NULL: every candidate has one). RANDOM's u_i, SCORES' score.
 * - BALANCE: class_names (nclasses, distinct) and either class_idx (METADATA
 *   category: the class of each candidate, -1 for none) or class_vec
 *   (PREDICTIONS: n x nclasses, row-major, each >= 0).
 * - SIMILARITY: query (nquery x d rows, nquery >= 1).
 * - TYPICALITY: m (m_i, the mean distance to the K nearest other candidates
 *   among those left after thresholds; read only for those).
 * - DIVERSITY: nothing here (the rows X of struct engine_inputs).
 */
struct engine_entry_input {
	const double *value;
	const bool *has_value;
	const char *const *class_names;
	size_t nclasses;
	const int32_t *class_idx;
	const double *class_vec;
	const double *query;
	size_t nquery;
	const double *m;
};

struct engine_inputs {
	size_t n, d;
	const double *X;		/* n x d float64 rows; needed by DIVERSITY, SIMILARITY */
	const bool *preselected;	/* n flags (datapool members, 4.7), or NULL */
	const struct engine_entry_input *entries;	/* one per plan entry, same order */
	size_t k;			/* new picks at most; SIZE_MAX: no budget. A plan
					 * with proportionSamples takes the smaller of this
					 * and its fraction of the candidates left after
					 * thresholds (preselected included). */
	int threads;			/* 0: all cores */
	volatile int *cancel;		/* non-zero stops with -ECANCELED; may be NULL */
	int prune;			/* for tests and benchmarks: 0 (the default) = adaptive,
					 * 1 = the fast path whenever the plan has it (a DIVERSITY
					 * entry with strength > 0 and at least one candidate),
					 * -1 = the plain path always. Same selection either way. */
};

/* One BALANCE entry's figures, for report.json. Shares and target are per class. */
struct engine_balance {
	size_t entry;			/* index of the entry in the plan */
	size_t nclasses;
	const char **classes;		/* borrowed from the inputs / the plan's target */
	double *target;			/* t_j; NaN for a class the target leaves out */
	double *candidate_share;	/* the candidates' shares (preselected included) */
	double *selection_share;	/* shares of everything selected at the end,
					 * preselected members included */
};

struct engine_result {
	size_t npicks;
	size_t *idx;		/* candidate index of each pick, in selection order */
	double *score;		/* S at the pick */
	size_t nobj;		/* the plan's non-THRESHOLD entries */
	size_t *obj_entry;	/* their plan entry indices, config order */
	double *objective;	/* npicks x nobj: each one's objective o_e at the pick's step */
	double *dist;		/* d_i at the pick (+inf for a first pick); NaN without DIVERSITY */
	enum engine_stop stop_reason;
	size_t ncandidates;	/* left after thresholds, preselected included */
	bool fast_path;		/* the run took the fast path (engine_inputs.prune) */
	size_t nbalance;
	struct engine_balance *balance;
};

/*
 * Runs plan p (borrowed) on in (borrowed). Returns 0 and fills *out (free
 * with engine_result_free), or -EINVAL (an entry whose input/strategy pair
 * SPEC 4.8 refuses, more than one DIVERSITY/SIMILARITY/TYPICALITY entry, a
 * missing input array, a NaN or infinite value, row, m_i or class weight, a
 * negative class weight or m_i, an index out of range), or -ECANCELED. On an
 * error *out holds nothing to free.
 */
int engine_run(const struct plan *p, const struct engine_inputs *in, struct engine_result *out);

/* Frees what *r owns and zeroes it; NULL is fine. */
void engine_result_free(struct engine_result *r);

#endif
