/*
 * methods: the 2.2-era methods as the fixed plans of SPEC 4.8, run by 4.6's
 * own selectors so they keep their selections (Fisher-Yates for random,
 * the "all selected" fill for coreset and coral) and their speed. The one
 * table of what each method runs; plan.c's table names them.
 */
#include <math.h>

#include "selector.h"

static const struct method_row rows[] = {
	[METHOD_RANDOM] = { METHOD_RANDOM, random_select, false },
	[METHOD_CORESET] = { METHOD_CORESET, coreset_select, true },
	[METHOD_CORAL] = { METHOD_CORAL, coral_select, true },
	[METHOD_ACTIVE_LEARNING] = { METHOD_ACTIVE_LEARNING, topk_select, true },
};

const struct method_row *method_row(enum method m)
{
	return (unsigned)m < sizeof(rows) / sizeof(rows[0]) ? &rows[m] : NULL;
}

/*
 * The objective of each entry at each pick of a fixed plan (SPEC 4.8): its
 * DIVERSITY entry's d_i / D (1 while nothing was selected, or when D is 0
 * or +inf), its SCORES / WEIGHTS entry's weight; S their product (every
 * strength is 1). The rows of the fill, and every row of a plan that does
 * not explain its order (random's draw), are NaN.
 */
void method_objectives(const struct plan *p, const struct selection *s, const double *w,
		       double *obj, double *score)
{
	const struct method_row *row = method_row(p->method);

	for (size_t i = 0; i < s->n; i++) {
		bool known = row && row->explains && i < s->n_method;
		double S = 1;
		for (size_t e = 0; e < p->nentries; e++) {
			const struct plan_entry *pe = &p->entries[e];
			double o = NAN;
			if (known && pe->strategy == PLAN_STRATEGY_DIVERSITY) {
				double D = s->dmax[i];
				o = isnan(s->dist[i]) || !(D > 0) || isinf(D) ? 1 : s->dist[i] / D;
			} else if (known && pe->input == PLAN_INPUT_SCORES && w != NULL) {
				o = w[s->idx[i]];
			}
			obj[i * p->nentries + e] = o;
			S *= o;
		}
		score[i] = known ? S : NAN;
	}
}
