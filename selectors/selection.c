/*
 * selection: the result record every selector fills (selector.h), and the
 * small helpers they share to build it.
 */
#include <math.h>
#include <stdlib.h>

#include "selector.h"
#include "util.h"

void selection_init(struct selection *s, size_t cap)
{
	/* One slot at least, so that an empty selection still owns its arrays. */
	size_t c = cap ? cap : 1;

	s->n = 0;
	s->idx = xmalloc(c * sizeof(*s->idx));
	s->dist = xmalloc(c * sizeof(*s->dist));
	s->dmax = xmalloc(c * sizeof(*s->dmax));
	for (size_t i = 0; i < c; i++)
		s->dmax[i] = NAN;
	s->fill_rest = false;
	s->n_method = 0;
}

void selection_free(struct selection *s)
{
	if (!s)
		return;
	free(s->idx);
	free(s->dist);
	free(s->dmax);
	s->idx = NULL;
	s->dist = NULL;
	s->dmax = NULL;
	s->n = 0;
	s->n_method = 0;
	s->fill_rest = false;
}

bool selection_takes_all(const struct select_input *in, size_t n_pickable)
{
	return in->min_distance < 0 && in->k >= n_pickable;
}
