/*
 * Unit tests of the selection plan (lib/plan.c) and of its parsing from
 * both config dialects (lib/config.c, SPEC 2, 2.1, 4.8): each 2.2-era method
 * gives its fixed plan; V4 configs in the shape of Lightly's documented
 * examples give exactly the plan written, under JSON and field names; every
 * plan error carries its JSON path, and a config's errors come together;
 * until the plan engine lands, a valid V4 config is refused in one place.
 * JSON and expected messages use ' for ".
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "config_test.h"
#include "plan.h"

/* The errors of json must be exactly want[0..n) in this order. */
static void check_errors(const char *json, const char *const *want, size_t n)
{
	struct strvec errs = parse_fail(json);
	bool same = errs.n == n;

	for (size_t i = 0; same && i < n; i++) {
		char *w = dq(want[i]);
		same = strcmp(errs.v[i], w) == 0;
		free(w);
	}
	if (!same) {
		print_message("config: %s\n", json);
		for (size_t i = 0; i < n; i++)
			print_message("want:  %s\n", want[i]);
		print_errors("got", &errs);
		strvec_free(&errs);
		fail_msg("unexpected errors");
	}
	strvec_free(&errs);
}

static void check_error(const char *json, const char *want)
{
	check_errors(json, &want, 1);
}

/* A V4 config with the one entry {input: IN, strategy: ST} and nSamples 10. */
static char *one_entry(const char *in, const char *st)
{
	return xasprintf("{'selection': {'nSamples': 10, 'strategies': [{'input': %s, 'strategy': %s}]}}", in, st);
}

static void check_entry_error(const char *in, const char *st, const char *want)
{
	char *j = one_entry(in, st);

	check_error(j, want);
	free(j);
}

static int v4_on(void **state)
{
	(void)state;
	return 0;
}

/* ---- the fixed plans of the 2.2-era methods (SPEC 4.8's table) ---- */

static void test_method_plans(void **state)
{
	struct run_config cfg;
	const struct plan *p;

	(void)state;
	/* The default config is coreset without a budget. */
	parse_ok("{}", &cfg);
	p = config_plan(&cfg);
	assert_false(cfg.v4);
	assert_true(p->from_method);
	assert_int_equal(p->method, METHOD_CORESET);
	assert_int_equal(p->budget, PLAN_BUDGET_NONE);
	assert_int_equal(plan_budget_k(p, 123), SIZE_MAX);
	assert_int_equal(p->nentries, 1);
	assert_int_equal(p->entries[0].input, PLAN_INPUT_EMBEDDINGS);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_DIVERSITY);
	assert_true(p->entries[0].min_distance == -1);
	assert_true(p->entries[0].strength == 1);
	config_free(&cfg);

	parse_ok("{'method': 'coreset', 'stopping_condition': {'n_samples': 0.1, 'min_distance': 0.25}}", &cfg);
	p = config_plan(&cfg);
	assert_int_equal(p->budget, PLAN_BUDGET_FRACTION);
	assert_true(p->budget_value == 0.1);
	assert_int_equal(plan_budget_k(p, 95), 10);	/* ceil(9.5) */
	assert_true(p->entries[0].min_distance == 0.25);
	config_free(&cfg);

	parse_ok("{'docker': {'method': 'coral', 'stopping_condition': {'n_samples': 40},"
		 " 'active_learning': {'task_name': 'det', 'score_name': 'uncertainty_entropy'}}}", &cfg);
	p = config_plan(&cfg);
	assert_int_equal(p->method, METHOD_CORAL);
	assert_int_equal(p->budget, PLAN_BUDGET_COUNT);
	assert_int_equal(plan_budget_k(p, 1000), 40);
	assert_int_equal(p->nentries, 2);
	assert_int_equal(p->entries[0].input, PLAN_INPUT_EMBEDDINGS);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_DIVERSITY);
	assert_int_equal(p->entries[1].input, PLAN_INPUT_SCORES);
	assert_int_equal(p->entries[1].strategy, PLAN_STRATEGY_WEIGHTS);
	assert_string_equal(p->entries[1].task, "det");
	assert_string_equal(p->entries[1].score, "uncertainty_entropy");
	config_free(&cfg);

	parse_ok("{'method': 'active_learning', 'active_learning': {'task_name': 'cls'}}", &cfg);
	p = config_plan(&cfg);
	assert_int_equal(p->nentries, 1);
	assert_int_equal(p->entries[0].input, PLAN_INPUT_SCORES);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_WEIGHTS);
	assert_string_equal(p->entries[0].task, "cls");
	assert_string_equal(p->entries[0].score, "uncertainty_margin");
	config_free(&cfg);

	parse_ok("{'method': 'random', 'seed': 7, 'stopping_condition': {'n_samples': 1}}", &cfg);
	p = config_plan(&cfg);
	assert_int_equal(p->method, METHOD_RANDOM);
	/* 2.2's n_samples 1 is the fraction "all" (SPEC 2). */
	assert_int_equal(p->budget, PLAN_BUDGET_FRACTION);
	assert_int_equal(plan_budget_k(p, 17), 17);
	assert_int_equal(p->nentries, 1);
	assert_int_equal(p->entries[0].input, PLAN_INPUT_RANDOM);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_WEIGHTS);
	assert_int_equal(p->entries[0].random_seed, 7);
	config_free(&cfg);

	/* config_defaults has the default's plan too. */
	config_defaults(&cfg);
	assert_int_equal(config_plan(&cfg)->nentries, 1);
	assert_int_equal(config_plan(&cfg)->entries[0].strategy, PLAN_STRATEGY_DIVERSITY);
	config_free(&cfg);
}

/* The budget rule against its closed form, and plan_find. */
static void test_budget_and_find(void **state)
{
	struct plan p = { 0 };

	(void)state;
	/* 0.07 of 100 is 7 although 0.07*100 is 7.000000000000001 in float64. */
	assert_int_equal(plan_fraction_k(0.07, 100), 7);
	assert_int_equal(plan_fraction_k(0.5, 3), 2);
	assert_int_equal(plan_fraction_k(0, 50), 0);
	assert_int_equal(plan_fraction_k(1, 50), 50);
	plan_from_method(&p, METHOD_CORAL, -1, 0.5, "t", "s", 1);
	assert_non_null(plan_find(&p, PLAN_STRATEGY_WEIGHTS));
	assert_ptr_equal(plan_find(&p, PLAN_STRATEGY_DIVERSITY), &p.entries[0]);
	assert_null(plan_find(&p, PLAN_STRATEGY_BALANCE));
	plan_free(&p);
	plan_free(&p);	/* twice is harmless */
	plan_free(NULL);
}

/* ---- V4 configs shaped like Lightly's documented examples ---- */

static void test_v4_diversity_only(void **state)
{
	struct run_config cfg;
	const struct plan *p;

	(void)state;
	parse_ok("{'workerType': 'FULL', 'docker': {}, 'selection': {'nSamples': 50, 'strategies': ["
		 "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY',"
		 " 'stopping_condition_minimum_distance': 0.2, 'strength': 0.6}}]}}", &cfg);
	p = config_plan(&cfg);
	assert_true(cfg.v4);
	assert_false(p->from_method);
	assert_int_equal(p->budget, PLAN_BUDGET_COUNT);
	assert_true(p->budget_value == 50);
	assert_int_equal(plan_budget_k(p, 1000), 50);
	assert_int_equal(p->nentries, 1);
	assert_int_equal(p->entries[0].input, PLAN_INPUT_EMBEDDINGS);
	assert_null(p->entries[0].tag_name);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_DIVERSITY);
	assert_true(p->entries[0].min_distance == 0.2);
	assert_true(p->entries[0].strength == 0.6);
	/* V4: the corruptness check and duplicate removal are always on. */
	assert_true(cfg.enable_corruptness_check && cfg.remove_exact_duplicates);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
}

static void test_v4_diversity_weights_scores(void **state)
{
	struct run_config cfg;
	const struct plan *p;

	(void)state;
	parse_ok("{'workerType': 'FULL', 'selection': {'proportionSamples': 0.1, 'strategies': ["
		 "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}},"
		 "{'input': {'type': 'SCORES', 'task': 'my_object_detection_task', 'score': 'uncertainty_entropy'},"
		 " 'strategy': {'type': 'WEIGHTS', 'strength': -2, 'stoppingConditionMaxSum': 12.5}}]}}", &cfg);
	p = config_plan(&cfg);
	assert_int_equal(p->budget, PLAN_BUDGET_FRACTION);
	assert_true(p->budget_value == 0.1);
	assert_int_equal(plan_budget_k(p, 95), 10);
	assert_int_equal(p->nentries, 2);
	assert_int_equal(p->entries[0].strategy, PLAN_STRATEGY_DIVERSITY);
	assert_true(p->entries[0].min_distance == -1);
	assert_int_equal(p->entries[1].input, PLAN_INPUT_SCORES);
	assert_string_equal(p->entries[1].task, "my_object_detection_task");
	assert_string_equal(p->entries[1].score, "uncertainty_entropy");
	assert_int_equal(p->entries[1].strategy, PLAN_STRATEGY_WEIGHTS);
	assert_true(p->entries[1].strength == -2);
	assert_true(p->entries[1].max_sum == 12.5);
	config_free(&cfg);
}

static void test_v4_balance_metadata_target(void **state)
{
	struct run_config cfg;
	const struct plan_entry *e;

	(void)state;
	parse_ok("{'selection': {'nSamples': 100, 'strategies': ["
		 "{'input': {'type': 'METADATA', 'key': 'weather.condition'},"
		 " 'strategy': {'type': 'BALANCE', 'target': {'sunny': 0.5, 'cloudy': 0.3, 'rainy': 0.2}}}]}}", &cfg);
	assert_int_equal(cfg.plan.nentries, 1);
	e = &cfg.plan.entries[0];
	assert_int_equal(e->input, PLAN_INPUT_METADATA);
	assert_string_equal(e->key, "weather.condition");
	assert_int_equal(e->strategy, PLAN_STRATEGY_BALANCE);
	assert_int_equal(e->distribution, PLAN_DIST_TARGET);
	assert_int_equal(e->ntarget, 3);
	/* The target's order is the config's (SPEC 4.8 sums L in it). */
	assert_string_equal(e->target[0].name, "sunny");
	assert_true(e->target[0].fraction == 0.5);
	assert_string_equal(e->target[1].name, "cloudy");
	assert_true(e->target[1].fraction == 0.3);
	assert_string_equal(e->target[2].name, "rainy");
	assert_true(e->target[2].fraction == 0.2);
	config_free(&cfg);
}

static void test_v4_balance_predictions(void **state)
{
	struct run_config cfg;
	const struct plan_entry *e;

	(void)state;
	parse_ok("{'selection': {'nSamples': 100, 'strategies': ["
		 "{'input': {'type': 'PREDICTIONS', 'task': 'my_classification_task', 'name': 'CATEGORY_COUNT',"
		 " 'categories': ['bus', 'car']}, 'strategy': {'type': 'BALANCE', 'distribution': 'UNIFORM', 'strength': 0.5}}]}}", &cfg);
	e = &cfg.plan.entries[0];
	assert_int_equal(e->input, PLAN_INPUT_PREDICTIONS);
	assert_string_equal(e->task, "my_classification_task");
	assert_int_equal(e->pred_name, PLAN_PRED_CATEGORY_COUNT);
	assert_int_equal(e->categories.n, 2);
	assert_string_equal(e->categories.v[0], "bus");
	assert_string_equal(e->categories.v[1], "car");
	assert_int_equal(e->distribution, PLAN_DIST_UNIFORM);
	assert_int_equal(e->ntarget, 0);
	assert_true(e->strength == 0.5);
	config_free(&cfg);
}

static void test_v4_similarity_query_tag(void **state)
{
	struct run_config cfg;
	const struct plan_entry *e;

	(void)state;
	/* Lightly's docs write the field names (dataset_id, tag_name). */
	parse_ok("{'selection': {'nSamples': 20, 'strategies': ["
		 "{'input': {'type': 'EMBEDDINGS', 'dataset_id': '0123456789abcdef01234567', 'tag_name': 'initial-tag'},"
		 " 'strategy': {'type': 'SIMILARITY'}},"
		 "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY', 'strength': 0.1}}]}}", &cfg);
	e = &cfg.plan.entries[0];
	assert_int_equal(e->strategy, PLAN_STRATEGY_SIMILARITY);
	assert_string_equal(e->tag_name, "initial-tag");
	assert_string_equal(e->dataset_id, "0123456789abcdef01234567");
	assert_true(e->strength == 1);
	assert_false(e->strength_given);
	assert_int_equal(cfg.plan.entries[1].strategy, PLAN_STRATEGY_DIVERSITY);
	config_free(&cfg);
}

static void test_v4_typicality(void **state)
{
	struct run_config cfg;
	const struct plan_entry *e;

	(void)state;
	/* A stopping condition alone is enough of a budget. */
	parse_ok("{'selection': {'strategies': [{'input': {'type': 'EMBEDDINGS'},"
		 " 'strategy': {'type': 'TYPICALITY', 'numNearestNeighbors': 30, 'stoppingConditionMinimumTypicality': 0.5}}]}}", &cfg);
	assert_int_equal(cfg.plan.budget, PLAN_BUDGET_NONE);
	e = &cfg.plan.entries[0];
	assert_int_equal(e->strategy, PLAN_STRATEGY_TYPICALITY);
	assert_int_equal(e->num_nearest_neighbors, 30);
	assert_true(e->min_typicality == 0.5);
	config_free(&cfg);

	parse_ok("{'selection': {'nSamples': 5, 'strategies': [{'input': {'type': 'EMBEDDINGS'},"
		 " 'strategy': {'type': 'TYPICALITY'}}]}}", &cfg);
	assert_int_equal(cfg.plan.entries[0].num_nearest_neighbors, 20);
	assert_true(cfg.plan.entries[0].min_typicality == -1);
	config_free(&cfg);
}

static void test_v4_threshold_metadata(void **state)
{
	static const char *const ops[] = { "SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL" };
	static const enum plan_operation want[] = { PLAN_OP_SMALLER, PLAN_OP_SMALLER_EQUAL, PLAN_OP_BIGGER, PLAN_OP_BIGGER_EQUAL };
	struct run_config cfg;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		char *j = xasprintf("{'selection': {'nSamples': 10, 'strategies': ["
				    "{'input': {'type': 'METADATA', 'key': 'lightly.sharpness'},"
				    " 'strategy': {'type': 'THRESHOLD', 'threshold': -20.5, 'operation': '%s'}},"
				    "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}", ops[i]);
		parse_ok(j, &cfg);
		free(j);
		const struct plan_entry *e = &cfg.plan.entries[0];
		assert_int_equal(e->strategy, PLAN_STRATEGY_THRESHOLD);
		assert_string_equal(e->key, "lightly.sharpness");
		assert_true(e->threshold == -20.5);
		assert_int_equal(e->operation, want[i]);
		assert_int_equal(cfg.warnings.n, 0);
		config_free(&cfg);
	}
}

static void test_v4_random_weights(void **state)
{
	struct run_config cfg;

	(void)state;
	parse_ok("{'selection': {'nSamples': 3, 'strategies': [{'input': {'type': 'RANDOM', 'randomSeed': 42},"
		 " 'strategy': {'type': 'WEIGHTS'}}]}}", &cfg);
	assert_int_equal(cfg.plan.entries[0].input, PLAN_INPUT_RANDOM);
	assert_int_equal(cfg.plan.entries[0].random_seed, 42);
	/* A V4 RANDOM is a plan entry, not 2.2's Fisher-Yates method. */
	assert_false(cfg.plan.from_method);
	config_free(&cfg);
	/* Default seed 1; a negative seed is taken modulo 2^64. */
	parse_ok("{'selection': {'nSamples': 3, 'strategies': [{'input': {'type': 'RANDOM'}, 'strategy': {'type': 'WEIGHTS'}}]}}", &cfg);
	assert_int_equal(cfg.plan.entries[0].random_seed, 1);
	config_free(&cfg);
	parse_ok("{'selection': {'nSamples': 3, 'strategies': [{'input': {'type': 'RANDOM', 'random_seed': -1}, 'strategy': {'type': 'WEIGHTS'}}]}}", &cfg);
	assert_true(cfg.plan.entries[0].random_seed == UINT64_MAX);
	/* The effective config says -1 again (2^64 - 1 is no exact JSON number). */
	char *eff = config_effective_json(&cfg);
	assert_non_null(strstr(eff, "\"randomSeed\":-1}"));
	free(eff);
	config_free(&cfg);
}

/* The V4 docker keys with effect, under both names. */
static void test_v4_docker(void **state)
{
	struct run_config cfg;
	static const char *const forms[] = {
		"{'workerType': 'FULL', 'docker': {'embeddings': 'e.csv', 'normalizeEmbeddings': false,"
		" 'relevantFilenamesFile': 'r.txt', 'useDatapool': true}, 'lightly': {'loader': {'batch_size': 16}},"
		" 'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		"{'workerType': 'FULL', 'docker': {'embeddings': 'e.csv', 'normalize_embeddings': false,"
		" 'relevant_filenames_file': 'r.txt', 'use_datapool': true}, 'lightly': {'loader': {'batch_size': 16}},"
		" 'selection': {'n_samples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		parse_ok(forms[i], &cfg);
		assert_true(cfg.v4);
		assert_string_equal(cfg.embeddings, "e.csv");
		assert_false(cfg.normalize_embeddings);
		assert_string_equal(cfg.relevant_filenames_file, "r.txt");
		assert_string_equal(cfg.datapool_name, "default");
		assert_int_equal(plan_budget_k(&cfg.plan, 9), 2);
		assert_non_null(cfg.lightly);
		config_free(&cfg);
	}
	/* Keys without effect: silent at Lightly's default, a warning otherwise. */
	parse_ok("{'docker': {'numThreads': -1, 'uploadReport': true, 'corruptnessCheck': {'corruptionThreshold': 0.1},"
		 " 'enableTraining': false, 'pretagging': false, 'crops': null, 'checkpointRunId': null},"
		 " 'selection': {'nSamples': 2, 'autoTasks': [], 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}", &cfg);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
	parse_ok("{'docker': {'num_threads': 8, 'datasource': {'processAll': true}, 'training': {'taskName': 'x'}},"
		 " 'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS', 'task': 'det'}, 'strategy': {'type': 'DIVERSITY', 'threshold': 3}}]}}", &cfg);
	assert_int_equal(cfg.warnings.n, 5);
	assert_string_equal(cfg.warnings.v[0], "docker.num_threads: 8 has no effect in winnow");
	assert_string_equal(cfg.warnings.v[1], "docker.datasource.processAll: true has no effect in winnow");
	assert_string_equal(cfg.warnings.v[2], "docker.training.taskName: \"x\" has no effect in winnow");
	assert_string_equal(cfg.warnings.v[3], "selection.strategies[0].input.task: \"det\" has no effect on EMBEDDINGS");
	assert_string_equal(cfg.warnings.v[4], "selection.strategies[0].strategy.threshold: 3 has no effect on DIVERSITY");
	config_free(&cfg);
}

/* JSON names and field names give the same plan; the effective config parses back to itself. */
static void test_v4_spellings_and_effective(void **state)
{
	struct run_config a, b, c;
	char *ea, *eb, *ec;

	(void)state;
	parse_ok("{'selection': {'proportionSamples': 0.25, 'strategies': ["
		 "{'input': {'type': 'EMBEDDINGS', 'tagName': 'query-tag', 'datasetId': 'aaaaaaaaaaaaaaaaaaaaaaaa'}, 'strategy': {'type': 'SIMILARITY'}},"
		 "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'TYPICALITY', 'numNearestNeighbors': 5, 'stoppingConditionMinimumTypicality': 0.1}},"
		 "{'input': {'type': 'SCORES', 'task': 't', 'score': 's'}, 'strategy': {'type': 'WEIGHTS', 'stoppingConditionMaxSum': 4}},"
		 "{'input': {'type': 'RANDOM', 'randomSeed': 9}, 'strategy': {'type': 'WEIGHTS'}}]}}", &a);
	parse_ok("{'selection': {'proportion_samples': 0.25, 'strategies': ["
		 "{'input': {'type': 'EMBEDDINGS', 'tag_name': 'query-tag', 'dataset_id': 'aaaaaaaaaaaaaaaaaaaaaaaa'}, 'strategy': {'type': 'SIMILARITY'}},"
		 "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'TYPICALITY', 'num_nearest_neighbors': 5, 'stopping_condition_minimum_typicality': 0.1}},"
		 "{'input': {'type': 'SCORES', 'task': 't', 'score': 's'}, 'strategy': {'type': 'WEIGHTS', 'stopping_condition_max_sum': 4}},"
		 "{'input': {'type': 'RANDOM', 'random_seed': 9}, 'strategy': {'type': 'WEIGHTS'}}]}}", &b);
	assert_int_equal(b.plan.entries[1].num_nearest_neighbors, 5);
	assert_true(b.plan.entries[1].min_typicality == 0.1);
	assert_true(b.plan.entries[2].max_sum == 4);
	assert_int_equal(b.plan.entries[3].random_seed, 9);
	assert_string_equal(b.plan.entries[0].tag_name, "query-tag");
	ea = config_effective_json(&a);
	eb = config_effective_json(&b);
	assert_string_equal(ea, eb);
	/* Stored and answered under the JSON names. */
	assert_non_null(strstr(ea, "\"numNearestNeighbors\":5"));
	assert_non_null(strstr(ea, "\"proportionSamples\":0.25"));
	assert_null(strstr(ea, "num_nearest_neighbors"));
	parse_ok(ea, &c);
	ec = config_effective_json(&c);
	assert_string_equal(ea, ec);
	free(ea);
	free(eb);
	free(ec);
	config_free(&a);
	config_free(&b);
	config_free(&c);
}

/* ---- errors ---- */

static void test_v4_form_errors(void **state)
{
	(void)state;
	/* workerType with a key only V4 has makes a config V4; it needs a selection. */
	check_error("{'workerType': 'FULL', 'docker': {'useDatapool': true}}",
		    "selection: missing (a V4 config says what to select in selection)");
	check_error("{'docker': {'method': 'coral'}, 'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		    "docker.method: 'coral' is not allowed with selection (a V4 config says what to select in selection)");
	check_error("{'docker': {'stopping_condition': {}}, 'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		    "docker.stopping_condition: unknown key (a 2.2-era key; a V4 config has none)");
	check_error("{'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}, 'extra': 1}",
		    "extra: unknown key (the top level holds 'workerType', 'docker', 'lightly' and 'selection')");
	check_error("{'selection': []}", "selection: [] is not an object");
	check_error("{'selection': {'nSamples': 2}}", "selection.strategies: missing (a list of at least one {input, strategy})");
	check_error("{'selection': {'nSamples': 2, 'strategies': []}}", "selection.strategies: [] is not a list of at least one {input, strategy}");
	check_error("{'selection': {'nSamples': 2, 'strategies': [7]}}", "selection.strategies[0]: 7 is not an object {input, strategy}");
	check_error("{'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}}]}}",
		    "selection.strategies[0].strategy: missing (each entry has an input and a strategy)");
	/* workerType alone keeps a 2.2 config: the web app stores every config wrapped so. */
	struct run_config cfg;
	parse_ok("{'workerType': 'FULL', 'docker': {'method': 'random'}}", &cfg);
	assert_false(cfg.v4);
	config_free(&cfg);
}

static void test_v4_docker_errors(void **state)
{
	static const char *const sel = "'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}";
	static const struct { const char *docker, *want; } cases[] = {
		{ "{'crops': {'enableUpload': false}}", "docker.crops: {'enableUpload':false} is not supported by winnow (it has no object-level selection or crops); remove the key" },
		{ "{'enableTraining': true, 'training': {'taskName': 't'}}", "docker.enableTraining: true is not supported by winnow (it does not train a model); use false" },
		{ "{'pretagging': true}", "docker.pretagging: true is not supported by winnow (it has no pretagging model); use false" },
		{ "{'normalizeEmbeddings': true, 'normalize_embeddings': true}", "docker.normalize_embeddings: key given twice (as 'normalizeEmbeddings' and 'normalize_embeddings')" },
		{ "{'useDatapool': 1}", "docker.useDatapool: 1 is not a boolean" },
		{ "{'embeddings': '../x.csv'}", "docker.embeddings: '../x.csv' is not a path relative to the datasource root (no leading '/', no '..')" },
		{ "{'corruptnessCheck': {'maxPixels': 4}}", "docker.corruptnessCheck.maxPixels: unknown key" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *j = xasprintf("{'docker': %s, %s}", cases[i].docker, sel);
		check_error(j, cases[i].want);
		free(j);
	}
	check_error("{'selection': {'nSamples': 2, 'autoTasks': [{'name': 'x'}], 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		    "selection.autoTasks: [{'name':'x'}] is not supported by winnow (it has no auto tasks); use []");
	check_error("{'selection': {'nSamples': 2, 'lightlyPathRegex': '.*', 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		    "selection.lightlyPathRegex: '.*' is not supported by winnow (it does not read information from file names); remove the key");
}

static void test_v4_budget_errors(void **state)
{
	static const char *const entry = "'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]";
	static const struct { const char *budget, *want; } cases[] = {
		{ "'nSamples': 0,", "selection.nSamples: 0 is not -1 or a count >= 1" },
		{ "'nSamples': 2.5,", "selection.nSamples: 2.5 is not -1 or a count >= 1" },
		{ "'n_samples': -2,", "selection.n_samples: -2 is not -1 or a count >= 1" },
		{ "'proportionSamples': 1.5,", "selection.proportionSamples: 1.5 is not a fraction in [0,1]" },
		{ "'nSamples': 5, 'proportionSamples': 0.5,", "selection.proportionSamples: 0.5 is not allowed with nSamples (give one budget)" },
		{ "'nSamples': 5, 'n_samples': 5,", "selection.n_samples: key given twice (as 'nSamples' and 'n_samples')" },
		{ "", "selection: no budget (nSamples or proportionSamples) and no stopping condition (stopping_condition_minimum_distance, stoppingConditionMaxSum, stoppingConditionMinimumTypicality): it would select every candidate" },
		{ "'nSamples': -1,", "selection: no budget (nSamples or proportionSamples) and no stopping condition (stopping_condition_minimum_distance, stoppingConditionMaxSum, stoppingConditionMinimumTypicality): it would select every candidate" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *j = xasprintf("{'selection': {%s %s}}", cases[i].budget, entry);
		check_error(j, cases[i].want);
		free(j);
	}
}

static void test_v4_entry_errors(void **state)
{
	static const struct { const char *in, *st, *want; } cases[] = {
		{ "{'type': 'IMAGES'}", "{'type': 'DIVERSITY'}",
		  "selection.strategies[0].input.type: 'IMAGES' is not one of 'EMBEDDINGS', 'SCORES', 'METADATA', 'PREDICTIONS', 'RANDOM'" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'CLUSTER'}",
		  "selection.strategies[0].strategy.type: 'CLUSTER' is not one of 'DIVERSITY', 'WEIGHTS', 'THRESHOLD', 'BALANCE', 'SIMILARITY', 'TYPICALITY'" },
		{ "{}", "{'type': 'DIVERSITY'}",
		  "selection.strategies[0].input.type: missing (one of 'EMBEDDINGS', 'SCORES', 'METADATA', 'PREDICTIONS', 'RANDOM')" },
		{ "{'type': 'SCORES', 'task': 't', 'score': 's'}", "{'type': 'DIVERSITY'}",
		  "selection.strategies[0]: input SCORES with strategy DIVERSITY is not allowed (SCORES goes with WEIGHTS, THRESHOLD)" },
		{ "{'type': 'PREDICTIONS', 'task': 't', 'name': 'CLASS_DISTRIBUTION'}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0]: input PREDICTIONS with strategy WEIGHTS is not allowed (PREDICTIONS goes with BALANCE)" },
		{ "{'type': 'RANDOM'}", "{'type': 'THRESHOLD', 'threshold': 0.5, 'operation': 'BIGGER'}",
		  "selection.strategies[0]: input RANDOM with strategy THRESHOLD is not allowed (RANDOM goes with WEIGHTS)" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'BALANCE', 'distribution': 'UNIFORM'}",
		  "selection.strategies[0]: input EMBEDDINGS with strategy BALANCE is not allowed (EMBEDDINGS goes with DIVERSITY, SIMILARITY, TYPICALITY)" },
		{ "{'type': 'SCORES', 'score': 's'}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.task: missing (SCORES needs it)" },
		{ "{'type': 'SCORES', 'task': 't'}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.score: missing (SCORES needs it)" },
		{ "{'type': 'METADATA'}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.key: missing (METADATA needs it)" },
		{ "{'type': 'PREDICTIONS', 'task': 't'}", "{'type': 'BALANCE', 'distribution': 'INPUT'}",
		  "selection.strategies[0].input.name: missing (PREDICTIONS needs it)" },
		{ "{'type': 'PREDICTIONS', 'task': 't', 'name': 'HISTOGRAM'}", "{'type': 'BALANCE', 'distribution': 'INPUT'}",
		  "selection.strategies[0].input.name: 'HISTOGRAM' is not one of 'CLASS_DISTRIBUTION', 'CATEGORY_COUNT'" },
		{ "{'type': 'PREDICTIONS', 'task': 't', 'name': 'CATEGORY_COUNT', 'categories': ['a', 'a']}", "{'type': 'BALANCE', 'distribution': 'INPUT'}",
		  "selection.strategies[0].input.categories: 'a' is not a category name given once (a non-empty string)" },
		{ "{'type': 'SCORES', 'task': '../etc', 'score': 's'}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.task: '../etc' is not a task name (a folder under .lightly/predictions/: characters A-Z a-z 0-9 _+=,.@:-, not '.' or '..')" },
		{ "{'type': 'EMBEDDINGS', 'tagName': 'ab'}", "{'type': 'SIMILARITY'}",
		  "selection.strategies[0].input.tagName: 'ab' is not a tag name (3 or more characters A-Z a-z 0-9 and ' .:;=@_-', starting with a letter or digit)" },
		{ "{'type': 'EMBEDDINGS', 'datasetId': 'XYZ'}", "{'type': 'SIMILARITY'}",
		  "selection.strategies[0].input.datasetId: 'XYZ' is not a dataset id (24 characters 0-9 a-f)" },
		{ "{'type': 'RANDOM', 'randomSeed': 1.5}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.randomSeed: 1.5 is not an integer in (-2^63, 2^63)" },
		{ "{'type': 'RANDOM', 'randomSeed': 9223372036854775808}", "{'type': 'WEIGHTS'}",
		  "selection.strategies[0].input.randomSeed: 9.2233720368547758e+18 is not an integer in (-2^63, 2^63)" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'THRESHOLD', 'threshold': 1, 'operation': 'BIGGER', 'strength': 2}",
		  "selection.strategies[0].strategy.strength: 2 is not allowed with THRESHOLD (it filters, it has no strength)" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'THRESHOLD', 'operation': 'BIGGER'}",
		  "selection.strategies[0].strategy.threshold: missing (THRESHOLD needs it)" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'THRESHOLD', 'threshold': 1, 'operation': 'EQUAL'}",
		  "selection.strategies[0].strategy.operation: 'EQUAL' is not one of 'SMALLER', 'SMALLER_EQUAL', 'BIGGER', 'BIGGER_EQUAL'" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'target': {'a': 0.6, 'b': 0.5}}",
		  "selection.strategies[0].strategy.target: {'a':0.6,'b':0.5} has fractions summing to 1.1000000000000001, more than 1" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'target': {'a': 1.5}}",
		  "selection.strategies[0].strategy.target.a: 1.5 is not a fraction in [0,1]" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'target': {'a': -0.1}}",
		  "selection.strategies[0].strategy.target.a: -0.1 is not a fraction in [0,1]" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'target': {'a': 'x'}}",
		  "selection.strategies[0].strategy.target.a: 'x' is not a fraction in [0,1]" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'distribution': 'UNIFORM', 'target': {'a': 0.5}}",
		  "selection.strategies[0].strategy.target: {'a':0.5} is not allowed with distribution 'UNIFORM' (only with 'TARGET')" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'distribution': 'INPUT', 'target': {}}",
		  "selection.strategies[0].strategy.target: {} is not allowed with distribution 'INPUT' (only with 'TARGET')" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE'}",
		  "selection.strategies[0].strategy.target: missing (distribution 'TARGET' needs {class name: fraction})" },
		{ "{'type': 'METADATA', 'key': 'k'}", "{'type': 'BALANCE', 'distribution': 'ZIPF', 'target': {'a': 1}}",
		  "selection.strategies[0].strategy.distribution: 'ZIPF' is not one of 'TARGET', 'UNIFORM', 'INPUT'" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'DIVERSITY', 'stopping_condition_minimum_distance': -0.5}",
		  "selection.strategies[0].strategy.stopping_condition_minimum_distance: -0.5 is not a number >= 0" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'DIVERSITY', 'strength': 1e10}",
		  "selection.strategies[0].strategy.strength: 10000000000 is not a number in [-1e9, 1e9]" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'DIVERSITY', 'strength': -1000000001}",
		  "selection.strategies[0].strategy.strength: -1000000001 is not a number in [-1e9, 1e9]" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'TYPICALITY', 'numNearestNeighbors': 1}",
		  "selection.strategies[0].strategy.numNearestNeighbors: 1 is not an integer >= 2" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'TYPICALITY', 'stoppingConditionMinimumTypicality': 0}",
		  "selection.strategies[0].strategy.stoppingConditionMinimumTypicality: 0 is not a number > 0" },
		{ "{'type': 'SCORES', 'task': 't', 'score': 's'}", "{'type': 'WEIGHTS', 'stoppingConditionMaxSum': -1}",
		  "selection.strategies[0].strategy.stoppingConditionMaxSum: -1 is not a number >= 0" },
		{ "{'type': 'SCORES', 'task': 't', 'score': 's'}", "{'type': 'WEIGHTS', 'targetRange': {'minSum': 1, 'maxSum': 2}}",
		  "selection.strategies[0].strategy.targetRange: {'minSum':1,'maxSum':2} is not supported by winnow (it has no target ranges; stoppingConditionMaxSum stops at a sum); remove the key" },
		{ "{'type': 'EMBEDDINGS', 'tagname': 'abc'}", "{'type': 'SIMILARITY'}",
		  "selection.strategies[0].input.tagname: unknown key" },
		{ "{'type': 'EMBEDDINGS'}", "{'type': 'DIVERSITY', 'strength': 'high'}",
		  "selection.strategies[0].strategy.strength: 'high' is not a number" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_entry_error(cases[i].in, cases[i].st, cases[i].want);
}

/* At most one DIVERSITY, SIMILARITY and TYPICALITY; every error of a config together. */
static void test_v4_errors_together(void **state)
{
	static const char *const want[] = {
		"docker.crops: {'enableUpload':true} is not supported by winnow (it has no object-level selection or crops); remove the key",
		"selection.proportionSamples: 2 is not a fraction in [0,1]",
		"selection.strategies[1].strategy.type: 'DIVERSITY' is not allowed twice (selection.strategies[0] has one)",
		"selection.strategies[2]: input METADATA with strategy SIMILARITY is not allowed (METADATA goes with WEIGHTS, THRESHOLD, BALANCE)",
		"selection.strategies[2].input.key: missing (METADATA needs it)",
		"selection.strategies[3].strategy.type: 'SIMILARITY' is not allowed twice (selection.strategies[2] has one)",
	};

	(void)state;
	check_errors("{'docker': {'crops': {'enableUpload': true}}, 'selection': {'proportionSamples': 2, 'strategies': ["
		     "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}},"
		     "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}},"
		     "{'input': {'type': 'METADATA'}, 'strategy': {'type': 'SIMILARITY'}},"
		     "{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'SIMILARITY'}}]}}", want, ARRAY_LEN(want));
}

/* A valid V4 config parses; 2.2 configs alongside it are untouched. */
static void test_v4_accepted(void **state)
{
	static const char *const ok = "{'selection': {'nSamples': 2, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}";
	struct run_config cfg;

	(void)state;
	check_error("{'selection': {'nSamples': 0, 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		    "selection.nSamples: 0 is not -1 or a count >= 1");
	parse_ok("{'workerType': 'FULL', 'docker': {'method': 'coral', 'active_learning': {'task_name': 't'}}, 'lightly': {}}", &cfg);
	assert_false(cfg.v4);
	config_free(&cfg);
	parse_ok(ok, &cfg);
	assert_true(cfg.v4);
	assert_false(config_plan(&cfg)->from_method);
	assert_int_equal(config_plan(&cfg)->nentries, 1);
	config_free(&cfg);
}

/* Lightly's spellings and the allowed pairs, as tables. */
static void test_names_and_pairs(void **state)
{
	(void)state;
	assert_string_equal(plan_input_name(PLAN_INPUT_PREDICTIONS), "PREDICTIONS");
	assert_string_equal(plan_strategy_name(PLAN_STRATEGY_TYPICALITY), "TYPICALITY");
	assert_string_equal(plan_operation_name(PLAN_OP_BIGGER_EQUAL), "BIGGER_EQUAL");
	assert_string_equal(plan_pred_name_name(PLAN_PRED_CLASS_DISTRIBUTION), "CLASS_DISTRIBUTION");
	assert_string_equal(plan_distribution_name(PLAN_DIST_INPUT), "INPUT");
	assert_string_equal(plan_strategy_name((enum plan_strategy)99), "?");
	assert_string_equal(method_name(METHOD_ACTIVE_LEARNING), "active_learning");
	/* SPEC 4.8's list, all 30 pairs. */
	static const char *const allowed[PLAN_INPUT_COUNT_] = {
		[PLAN_INPUT_EMBEDDINGS] = "D...ST",
		[PLAN_INPUT_SCORES] = ".WT...",
		[PLAN_INPUT_METADATA] = ".WTB..",
		[PLAN_INPUT_PREDICTIONS] = "...B..",
		[PLAN_INPUT_RANDOM] = ".W....",
	};
	for (int in = 0; in < PLAN_INPUT_COUNT_; in++)
		for (int st = 0; st < PLAN_STRATEGY_COUNT_; st++)
			assert_int_equal(plan_pair_allowed((enum plan_input)in, (enum plan_strategy)st),
					 allowed[in][st] != '.');
	assert_false(plan_pair_allowed(PLAN_INPUT_COUNT_, PLAN_STRATEGY_WEIGHTS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_method_plans, v4_on),
		cmocka_unit_test(test_budget_and_find),
		cmocka_unit_test_setup(test_v4_diversity_only, v4_on),
		cmocka_unit_test_setup(test_v4_diversity_weights_scores, v4_on),
		cmocka_unit_test_setup(test_v4_balance_metadata_target, v4_on),
		cmocka_unit_test_setup(test_v4_balance_predictions, v4_on),
		cmocka_unit_test_setup(test_v4_similarity_query_tag, v4_on),
		cmocka_unit_test_setup(test_v4_typicality, v4_on),
		cmocka_unit_test_setup(test_v4_threshold_metadata, v4_on),
		cmocka_unit_test_setup(test_v4_random_weights, v4_on),
		cmocka_unit_test_setup(test_v4_docker, v4_on),
		cmocka_unit_test_setup(test_v4_spellings_and_effective, v4_on),
		cmocka_unit_test_setup(test_v4_form_errors, v4_on),
		cmocka_unit_test_setup(test_v4_docker_errors, v4_on),
		cmocka_unit_test_setup(test_v4_budget_errors, v4_on),
		cmocka_unit_test_setup(test_v4_entry_errors, v4_on),
		cmocka_unit_test_setup(test_v4_errors_together, v4_on),
		cmocka_unit_test(test_v4_accepted),
		cmocka_unit_test(test_names_and_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
