/*
 * registry: one row per selection strategy of SPEC 4.8. The engine (engine.c)
 * knows strategies only through these rows; a new strategy is one new file
 * (selectors/s_<name>.c defining its struct strategy) plus one line in
 * registry.c's table. Which inputs a strategy takes is plan.c's allowed-pairs
 * table (plan_pair_allowed), not repeated here.
 *
 * The engine calls, for each entry: check (inputs present and sane), then,
 * for a filter (THRESHOLD), keep(i) on every candidate that is not
 * preselected; for the others prepare once the candidates are known, then
 * per step selectable/objective for every unselected candidate, stop_before
 * on the chosen pick, update after it, stop_after. Every callback but
 * update, stop_after and free only reads the state, so the engine calls them
 * from several threads at once.
 */
#ifndef WINNOW_REGISTRY_H
#define WINNOW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "plan.h"

/* What the engine shares with every entry; all borrowed, read-only to the entry. */
struct strat_ctx {
	const struct engine_inputs *in;
	const struct plan_entry *pe;		/* this entry */
	const struct engine_entry_input *ein;	/* this entry's input arrays */
	const size_t *cand;			/* the candidates left after thresholds, */
	size_t ncand;				/* in path order, preselected included */
	const bool *selected;			/* n: preselected or picked so far */
	size_t nselected;			/* how many of the candidates are selected */
	int threads;
};

struct strategy {
	enum plan_strategy id;
	bool dynamic;		/* its objective changes after each pick (update re-reads it) */
	bool single;		/* at most one such entry per plan */
	bool has_stop;		/* it has a stopping condition, reported as stop */
	enum engine_stop stop;
	/* 0, or -EINVAL when the entry's input arrays are missing or bad. Needed. */
	int (*check)(const struct strat_ctx *c);
	/* A filter (THRESHOLD): whether candidate i stays. Filters have no other callback. */
	bool (*keep)(const struct strat_ctx *c, size_t i);
	/* Builds the entry's state once the candidates are known: 0 or -EINVAL. */
	int (*prepare)(void **state, const struct strat_ctx *c);
	/* o_e(i) in [0,1] for an unselected candidate i. */
	double (*objective)(const void *state, size_t i);
	/* NULL: every unselected candidate is selectable as far as this entry goes. */
	bool (*selectable)(const void *state, size_t i);
	/* After a pick (c->selected already holds it). NULL for a static objective. */
	void (*update)(void *state, const struct strat_ctx *c, size_t pick);
	/* The tie key of SPEC 4.8 (larger wins), and d_i at a pick; NULL when it has none. */
	double (*tie_key)(const void *state, const struct strat_ctx *c, size_t i);
	double (*pick_dist)(const void *state, size_t i);
	/* Stopping conditions: before a pick with objective o; after a pick; or, when
	 * nothing is selectable, whether this entry's condition is what left the
	 * unselected candidates out. NULL: none of that kind. */
	bool (*stop_before)(const void *state, double o);
	bool (*stop_after)(void *state, size_t pick);
	bool (*exhausted)(const void *state, const struct strat_ctx *c);
	/* BALANCE's figures for report.json (b->entry set by the engine). NULL: none. */
	void (*report)(const void *state, struct engine_balance *b);
	void (*free)(void *state);
};

/* The row of strategy st, or NULL out of range. */
const struct strategy *registry_get(enum plan_strategy st);

/* Whether SPEC 4.8 allows input `in` with strategy st (plan.c's table). */
bool registry_allows(enum plan_input in, enum plan_strategy st);

/* Whether the rows of the candidates c->cand (d columns of c->in->X) are all finite. */
bool registry_rows_finite(const struct strat_ctx *c);

/* Whether v[i] (when has[i], or has is NULL) is finite for every candidate listed. */
bool registry_values_finite(const double *v, const bool *has, const size_t *list, size_t nlist);

/* Euclidean distance (float64, geom_sqdist) between rows a and b of d values. */
double registry_dist(const double *a, const double *b, size_t d);

#endif
