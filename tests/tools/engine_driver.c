/*
 * engine_driver: runs selectors/engine.c on one case read as JSON, for
 * tests/py/test_engine_ref.py. Usage: engine_driver CASE.json; prints one JSON
 * object: {"rc", "stop", "ncand", "picks": [[i, S, d_i, [objectives]], ...],
 * "balance": [{"entry", "classes", "target", "candidate", "selection"}]}.
 *
 * The case: {"n", "d", "X": [n*d], "preselected": [0/1 * n] (optional), "k"
 * (-1: none), "threads", "entries": [{"input", "strategy" (Lightly's names),
 * "strength", "min_distance", "threshold", "operation", "max_sum",
 * "distribution", "target": [[name, fraction], ...], "min_typicality",
 * "value", "has_value", "class_names", "class_idx", "class_vec" (flat),
 * "query" (flat), "m"}]}. A test tool: bad input aborts it.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "selectors/engine.h"
#include "util.h"

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = get(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static double *doubles(const cJSON *o, const char *k)
{
	const cJSON *a = get(o, k), *v;
	double *out;
	size_t i = 0;

	if (!cJSON_IsArray(a))
		return NULL;
	out = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*out));
	cJSON_ArrayForEach(v, a)
		out[i++] = v->valuedouble;
	return out;
}

static bool *flags(const cJSON *o, const char *k)
{
	const cJSON *a = get(o, k);
	double *v = doubles(o, k);
	bool *out;

	if (!v)
		return NULL;
	out = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*out));
	for (int i = 0; i < cJSON_GetArraySize(a); i++)
		out[i] = v[i] != 0;
	free(v);
	return out;
}

static int lookup(const char *s, const char *(*name)(int), int count)
{
	for (int i = 0; i < count; i++)
		if (s && strcmp(name(i), s) == 0)
			return i;
	fprintf(stderr, "engine_driver: unknown name %s\n", s ? s : "(none)");
	exit(2);
}

#define NAMEFN(fn, type) \
	static const char *fn##_int(int v) { return fn((type)v); }
NAMEFN(plan_input_name, enum plan_input)
NAMEFN(plan_strategy_name, enum plan_strategy)
NAMEFN(plan_operation_name, enum plan_operation)
NAMEFN(plan_distribution_name, enum plan_distribution)

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void print_num(double x)
{
	if (isnan(x))
		printf("NaN");
	else if (isinf(x))
		printf(x > 0 ? "Infinity" : "-Infinity");
	else
		printf("%.17g", x);
}

static void read_entry(const cJSON *je, struct plan *p, struct engine_entry_input *ei)
{
	enum plan_input in = lookup(str(je, "input"), plan_input_name_int, PLAN_INPUT_COUNT_);
	enum plan_strategy st = lookup(str(je, "strategy"), plan_strategy_name_int,
				       PLAN_STRATEGY_COUNT_);
	struct plan_entry *pe = plan_add_entry(p, in, st);
	const cJSON *a, *v;

	pe->strength = num(je, "strength", 1);
	pe->min_distance = num(je, "min_distance", -1);
	pe->threshold = num(je, "threshold", 0);
	if (str(je, "operation"))
		pe->operation = lookup(str(je, "operation"), plan_operation_name_int, PLAN_OP_COUNT_);
	pe->max_sum = num(je, "max_sum", -1);
	if (str(je, "distribution"))
		pe->distribution = lookup(str(je, "distribution"), plan_distribution_name_int,
					  PLAN_DIST_COUNT_);
	pe->min_typicality = num(je, "min_typicality", -1);
	if (cJSON_IsArray(a = get(je, "target"))) {
		pe->ntarget = (size_t)cJSON_GetArraySize(a);
		pe->target = xcalloc(pe->ntarget + 1, sizeof(*pe->target));
		size_t t = 0;
		cJSON_ArrayForEach(v, a) {
			pe->target[t].name = xstrdup(cJSON_GetArrayItem(v, 0)->valuestring);
			pe->target[t++].fraction = cJSON_GetArrayItem(v, 1)->valuedouble;
		}
	}
	ei->value = doubles(je, "value");
	ei->has_value = flags(je, "has_value");
	ei->query = doubles(je, "query");
	ei->m = doubles(je, "m");
	ei->class_vec = doubles(je, "class_vec");
	if (cJSON_IsArray(a = get(je, "query")))
		ei->nquery = (size_t)cJSON_GetArraySize(a) / (size_t)num(je, "d", 1);
	if (cJSON_IsArray(a = get(je, "class_names"))) {
		const char **names = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*names));
		cJSON_ArrayForEach(v, a)
			names[ei->nclasses++] = v->valuestring;
		ei->class_names = names;
	}
	if (cJSON_IsArray(a = get(je, "class_idx"))) {
		int32_t *idx = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*idx));
		size_t i = 0;
		cJSON_ArrayForEach(v, a)
			idx[i++] = (int32_t)v->valuedouble;
		ei->class_idx = idx;
	}
}

int main(int argc, char **argv)
{
	char *text;
	size_t len;
	cJSON *root;
	const cJSON *je;
	struct plan p = { 0 };
	struct engine_inputs in = { 0 };
	struct engine_entry_input *eis;
	struct engine_result r;
	size_t ne;
	int rc;

	if (argc != 2 || read_file(argv[1], (size_t)1 << 30, &text, &len) < 0) {
		fprintf(stderr, "usage: engine_driver CASE.json\n");
		return 2;
	}
	if (!(root = cJSON_ParseWithLength(text, len))) {
		fprintf(stderr, "engine_driver: bad JSON\n");
		return 2;
	}
	ne = (size_t)cJSON_GetArraySize(get(root, "entries"));
	eis = xcalloc(ne + 1, sizeof(*eis));
	p.budget = PLAN_BUDGET_NONE;
	ne = 0;
	cJSON_ArrayForEach(je, get(root, "entries")) {
		cJSON_AddNumberToObject((cJSON *)je, "d", num(root, "d", 1));
		read_entry(je, &p, &eis[ne++]);
	}
	in.n = (size_t)num(root, "n", 0);
	in.d = (size_t)num(root, "d", 0);
	in.X = doubles(root, "X");
	in.preselected = flags(root, "preselected");
	in.entries = eis;
	in.k = num(root, "k", -1) < 0 ? SIZE_MAX : (size_t)num(root, "k", 0);
	in.threads = (int)num(root, "threads", 1);
	rc = engine_run(&p, &in, &r);
	printf("{\"rc\": %d", rc);
	if (rc == 0) {
		printf(", \"stop\": \"%s\", \"ncand\": %zu, \"picks\": [", engine_stop_name(r.stop_reason),
		       r.ncandidates);
		for (size_t k = 0; k < r.npicks; k++) {
			printf("%s[%zu, ", k ? ", " : "", r.idx[k]);
			print_num(r.score[k]);
			printf(", ");
			print_num(r.dist[k]);
			printf(", [");
			for (size_t o = 0; o < r.nobj; o++) {
				printf("%s", o ? ", " : "");
				print_num(r.objective[k * r.nobj + o]);
			}
			printf("]]");
		}
		printf("], \"balance\": [");
		for (size_t b = 0; b < r.nbalance; b++) {
			const struct engine_balance *eb = &r.balance[b];
			const double *arrs[3] = { eb->target, eb->candidate_share, eb->selection_share };
			const char *keys[3] = { "target", "candidate", "selection" };
			printf("%s{\"entry\": %zu, \"classes\": [", b ? ", " : "", eb->entry);
			for (size_t c = 0; c < eb->nclasses; c++)
				printf("%s\"%s\"", c ? ", " : "", eb->classes[c]);
			printf("]");
			for (int a = 0; a < 3; a++) {
				printf(", \"%s\": [", keys[a]);
				for (size_t c = 0; c < eb->nclasses; c++) {
					printf("%s", c ? ", " : "");
					print_num(arrs[a][c]);
				}
				printf("]");
			}
			printf("}");
		}
		printf("]");
		engine_result_free(&r);
	}
	printf("}\n");
	/* Everything freed, so the driver runs clean under LeakSanitizer too. */
	for (size_t e = 0; e < ne; e++) {
		free((void *)eis[e].value);
		free((void *)eis[e].has_value);
		free((void *)eis[e].query);
		free((void *)eis[e].m);
		free((void *)eis[e].class_vec);
		free((void *)eis[e].class_names);
		free((void *)eis[e].class_idx);
	}
	free(eis);
	free((void *)in.X);
	free((void *)in.preselected);
	plan_free(&p);
	cJSON_Delete(root);
	free(text);
	return 0;
}
