/*
 * Unit tests of lib/config.c: defaults, both config forms, the presets,
 * every type and range error with its exact message, unknown and duplicate
 * keys, warnings for Lightly keys without effect, the budget rule, syntax
 * errors and the effective config. JSON and expected messages are written
 * with ' for " (see dq()) to keep them readable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "config_test.h"

/* json must fail with exactly the one error want (both with ' for "). */
static void check_error(const char *json, const char *want)
{
	struct strvec errs = parse_fail(json);
	char *w = dq(want);

	if (errs.n != 1 || strcmp(errs.v[0], w) != 0) {
		print_message("config: %s\nwant:  %s\n", json, w);
		print_errors("got", &errs);
		free(w);
		strvec_free(&errs);
		fail_msg("unexpected errors");
	}
	free(w);
	strvec_free(&errs);
}

static bool has(const struct strvec *sv, const char *want_sq)
{
	char *w = dq(want_sq);
	bool found = false;

	for (size_t i = 0; i < sv->n && !found; i++)
		found = strcmp(sv->v[i], w) == 0;
	free(w);
	return found;
}

static void assert_has(const struct strvec *sv, const char *want_sq)
{
	if (!has(sv, want_sq)) {
		print_message("missing: %s\n", want_sq);
		print_errors("have", sv);
		fail_msg("message not found");
	}
}

/* json must parse with exactly the one warning want. */
static void check_warning(const char *json, const char *want)
{
	struct run_config cfg;

	parse_ok(json, &cfg);
	if (cfg.warnings.n != 1 || !has(&cfg.warnings, want)) {
		print_message("config: %s\nwant warning: %s\n", json, want);
		print_errors("got", &cfg.warnings);
		config_free(&cfg);
		fail_msg("unexpected warnings");
	}
	config_free(&cfg);
}

static int reset_methods(void **state)
{
	config_methods_with_scores = false;
	return 0;
}

static const char *const default_effective =
	"{'enable_corruptness_check':true,'remove_exact_duplicates':true,'method':'coreset',"
	"'stopping_condition':{'n_samples':-1,'min_distance':-1},'scorer':'object-frequency',"
	"'scorer_config':{'frequency_penalty':0.25,'min_score':0.9},"
	"'active_learning':{'task_name':'','score_name':'uncertainty_margin'},'embeddings':'',"
	"'normalize_embeddings':true,'relevant_filenames_file':'','datapool':{'name':null,'keep_history':true},"
	"'corruptness_check':{'max_pixels':178956970},'seed':1}";

static void assert_effective(const struct run_config *cfg, const char *want_sq)
{
	char *got = config_effective_json(cfg);
	char *want = dq(want_sq);

	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void assert_defaults(const struct run_config *cfg)
{
	assert_true(cfg->enable_corruptness_check);
	assert_true(cfg->remove_exact_duplicates);
	assert_int_equal(cfg->method, METHOD_CORESET);
	assert_true(cfg->n_samples == -1);
	assert_true(cfg->min_distance == -1);
	assert_string_equal(cfg->scorer, "object-frequency");
	assert_true(cfg->frequency_penalty == 0.25);
	assert_true(cfg->min_score == 0.9);
	assert_string_equal(cfg->al_task_name, "");
	assert_string_equal(cfg->al_score_name, "uncertainty_margin");
	assert_false(cfg->al_score_name_given);
	assert_string_equal(cfg->embeddings, "");
	assert_true(cfg->normalize_embeddings);
	assert_string_equal(cfg->relevant_filenames_file, "");
	assert_null(cfg->datapool_name);
	assert_int_equal(cfg->max_pixels, 178956970);
	assert_int_equal(cfg->seed, 1);
	assert_int_equal(cfg->warnings.n, 0);
	assert_effective(cfg, default_effective);
}

static void test_defaults_of_empty_object(void **state)
{
	struct run_config cfg;

	parse_ok("{}", &cfg);
	assert_defaults(&cfg);
	assert_null(cfg.lightly);
	config_free(&cfg);
	/* Whitespace around the object is fine. */
	parse_ok(" \n {} \n", &cfg);
	assert_defaults(&cfg);
	config_free(&cfg);
}

static void test_config_defaults(void **state)
{
	struct run_config cfg;

	config_defaults(&cfg);
	assert_defaults(&cfg);
	config_free(&cfg);
	assert_null(cfg.effective);
	config_free(&cfg);	/* twice is harmless */
}

static void test_defaults_of_bare_and_wrapped(void **state)
{
	struct run_config cfg;

	/* A bare object with only no-effect keys at their defaults. */
	parse_ok("{'enable_training': false, 'pretagging': false}", &cfg);
	assert_defaults(&cfg);
	config_free(&cfg);
	parse_ok("{'docker': {}}", &cfg);
	assert_defaults(&cfg);
	assert_null(cfg.lightly);
	config_free(&cfg);
	/* Wrapped without docker: all defaults, lightly kept. */
	parse_ok("{'lightly': {'loader': {'batch_size': 16}}}", &cfg);
	assert_defaults(&cfg);
	assert_non_null(cfg.lightly);
	config_free(&cfg);
}

static void test_wrapped_equals_bare(void **state)
{
	static const char *const docker =
		"{'method': 'random', 'stopping_condition': {'n_samples': 0.25}, 'seed': 7,"
		" 'datapool': {'name': 'pool'}}";
	struct run_config bare, wrapped;
	char *w = xasprintf("{'docker': %s, 'lightly': {'trainer': {'max_epochs': 3}, 'x': [1, 'a']}}",
			    docker);
	char *a, *b, *l;

	parse_ok(docker, &bare);
	parse_ok(w, &wrapped);
	a = config_effective_json(&bare);
	b = config_effective_json(&wrapped);
	assert_string_equal(a, b);
	assert_int_equal(wrapped.method, METHOD_RANDOM);
	assert_int_equal(wrapped.seed, 7);
	assert_string_equal(wrapped.datapool_name, "pool");
	assert_null(bare.lightly);
	assert_non_null(wrapped.lightly);
	l = cJSON_PrintUnformatted(wrapped.lightly);
	assert_string_equal(l, "{\"trainer\":{\"max_epochs\":3},\"x\":[1,\"a\"]}");
	free(l);
	free(a);
	free(b);
	free(w);
	config_free(&bare);
	config_free(&wrapped);

	/* Lightly's API form has workerType next to docker and lightly. */
	parse_ok("{'workerType': 'FULL', 'docker': {'seed': 3}, 'lightly': {}}", &bare);
	assert_int_equal(bare.seed, 3);
	config_free(&bare);
}

static void test_wrapped_errors(void **state)
{
	check_error("{'docker': 5}", "docker: 5 is not an object");
	check_error("{'docker': null, 'lightly': {}}", "docker: null is not an object");
	check_error("{'docker': {}, 'frobnicate': 1}",
		    "frobnicate: unknown key (the top level holds 'docker', 'lightly' and 'workerType')");
	check_error("{'docker': {}, 'docker': {}}", "docker: key given twice");
	check_error("{'workerType': 'HALF'}", "workerType: 'HALF' is not 'FULL'");
	/* Paths inside the wrapped form are the same as in the bare one. */
	check_error("{'docker': {'method': 'foo'}}",
		    "docker.method: 'foo' is not one of 'random', 'coreset', 'coral', 'active_learning'");
}

static void test_lightly_part_never_an_error(void **state)
{
	struct run_config cfg;

	parse_ok("{'docker': {}, 'lightly': 5}", &cfg);
	assert_true(cJSON_IsNumber(cfg.lightly));
	config_free(&cfg);
	parse_ok("{'docker': {}, 'lightly': {'a': 1, 'a': 2, 'Frobnicate': null}}", &cfg);
	assert_non_null(cfg.lightly);
	config_free(&cfg);
}

static const char *const preset_lightly =
	"{'enable_corruptness_check': true, 'remove_exact_duplicates': true, 'enable_training': false,"
	" 'pretagging': false, 'pretagging_debug': false, 'method': 'coreset',"
	" 'stopping_condition': {'n_samples': 0.1, 'min_distance': -1},"
	" 'scorer': 'object-frequency', 'scorer_config': {'frequency_penalty': 0.25, 'min_score': 0.9},"
	" 'active_learning': {'task_name': '', 'score_name': 'uncertainty_margin'}}";

static const char *const preset_al =
	"{'enable_corruptness_check': true, 'remove_exact_duplicates': true, 'enable_training': false,"
	" 'pretagging': false, 'pretagging_debug': false, 'method': 'coral',"
	" 'stopping_condition': {'n_samples': 0.1, 'min_distance': -1},"
	" 'scorer': 'object-frequency', 'scorer_config': {'frequency_penalty': 0.25, 'min_score': 0.9},"
	" 'active_learning': {'task_name': 'my-classification-task', 'score_name': 'uncertainty_margin'}}";

static void test_preset_lightly_default(void **state)
{
	struct run_config cfg;

	parse_ok(preset_lightly, &cfg);
	assert_int_equal(cfg.method, METHOD_CORESET);
	assert_true(cfg.n_samples == 0.1);
	assert_true(cfg.min_distance == -1);
	assert_int_equal(cfg.warnings.n, 0);
	assert_true(cfg.al_score_name_given);
	assert_int_equal(config_budget(&cfg, 1000), 100);
	config_free(&cfg);
}

static void test_preset_active_learning(void **state)
{
	struct run_config cfg;

	config_methods_with_scores = false;
	check_error(preset_al,
		    "docker.method: 'coral' is not available yet (needs the active-learning scores); use 'random' or 'coreset'");
	config_methods_with_scores = true;
	parse_ok(preset_al, &cfg);
	assert_int_equal(cfg.method, METHOD_CORAL);
	assert_string_equal(cfg.al_task_name, "my-classification-task");
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
	/* The wrapped form of the preset too. */
	char *w = xasprintf("{'docker': %s, 'lightly': {}}", preset_al);
	parse_ok(w, &cfg);
	assert_int_equal(cfg.method, METHOD_CORAL);
	config_free(&cfg);
	free(w);
}

struct case_ {
	const char *json;
	const char *error;
};

static void check_cases(const struct case_ *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_error(c[i].json, c[i].error);
}

static void test_wrong_types(void **state)
{
	static const struct case_ cases[] = {
		{ "{'enable_corruptness_check': 'yes'}", "docker.enable_corruptness_check: 'yes' is not a boolean" },
		{ "{'remove_exact_duplicates': 1}", "docker.remove_exact_duplicates: 1 is not a boolean" },
		{ "{'method': 3}", "docker.method: 3 is not a string" },
		{ "{'method': null}", "docker.method: null is not a string" },
		{ "{'stopping_condition': 5}", "docker.stopping_condition: 5 is not an object" },
		{ "{'stopping_condition': {'n_samples': '10'}}", "docker.stopping_condition.n_samples: '10' is not a number" },
		{ "{'stopping_condition': {'min_distance': null}}", "docker.stopping_condition.min_distance: null is not a number" },
		{ "{'scorer': false}", "docker.scorer: false is not a string" },
		{ "{'scorer_config': []}", "docker.scorer_config: [] is not an object" },
		{ "{'scorer_config': {'frequency_penalty': '0.2'}}", "docker.scorer_config.frequency_penalty: '0.2' is not a number" },
		{ "{'scorer_config': {'min_score': true}}", "docker.scorer_config.min_score: true is not a number" },
		{ "{'active_learning': 'x'}", "docker.active_learning: 'x' is not an object" },
		{ "{'active_learning': {'task_name': 1}}", "docker.active_learning.task_name: 1 is not a string" },
		{ "{'active_learning': {'score_name': null}}", "docker.active_learning.score_name: null is not a string" },
		{ "{'embeddings': 1}", "docker.embeddings: 1 is not a string" },
		{ "{'normalize_embeddings': 'true'}", "docker.normalize_embeddings: 'true' is not a boolean" },
		{ "{'relevant_filenames_file': []}", "docker.relevant_filenames_file: [] is not a string" },
		{ "{'datapool': 'pool'}", "docker.datapool: 'pool' is not an object" },
		{ "{'datapool': {'name': 5}}", "docker.datapool.name: 5 is not a string or null" },
		{ "{'corruptness_check': 1}", "docker.corruptness_check: 1 is not an object" },
		{ "{'corruptness_check': {'max_pixels': 'big'}}", "docker.corruptness_check.max_pixels: 'big' is not a number" },
		{ "{'seed': '1'}", "docker.seed: '1' is not a number" },
		/* Keys without effect are still type-checked. */
		{ "{'pretagging_debug': 'no'}", "docker.pretagging_debug: 'no' is not a boolean" },
		{ "{'checkpoint': 5}", "docker.checkpoint: 5 is not a string" },
		{ "{'enable_training': 0}", "docker.enable_training: 0 is not a boolean" },
		{ "{'output_image_size': 'big'}", "docker.output_image_size: 'big' is not a number or an array" },
		{ "{'run_directory': 5}", "docker.run_directory: 5 is not a string or null" },
		{ "{'datasource': 1}", "docker.datasource: 1 is not an object" },
		{ "{'worker': null}", "docker.worker: null is not an object" },
		{ "{'object_level': []}", "docker.object_level: [] is not an object" },
		{ "{'datapool': {'keep_history': 'yes'}}", "docker.datapool.keep_history: 'yes' is not a boolean" },
		{ "{'corruptness_check': {'corruption_threshold': '0.1'}}", "docker.corruptness_check.corruption_threshold: '0.1' is not a number" },
		/* The token's value is never printed. */
		{ "{'token': 5}", "docker.token: (hidden) is not a string" },
	};

	check_cases(cases, ARRAY_LEN(cases));
}

static void test_out_of_range(void **state)
{
	static const struct case_ cases[] = {
		{ "{'stopping_condition': {'n_samples': 0}}", "docker.stopping_condition.n_samples: 0 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': -0.5}}", "docker.stopping_condition.n_samples: -0.5 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': 2.5}}", "docker.stopping_condition.n_samples: 2.5 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': 1.5}}", "docker.stopping_condition.n_samples: 1.5 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': -3}}", "docker.stopping_condition.n_samples: -3 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': -0.0}}", "docker.stopping_condition.n_samples: -0 is not -1, a fraction in (0,1] or a count >= 2" },
		{ "{'stopping_condition': {'n_samples': 1e300}}", "docker.stopping_condition.n_samples: 1e+300 is not -1, a fraction in (0,1] or a count in [2, 2^53]" },
		{ "{'stopping_condition': {'n_samples': 1e999}}", "docker.stopping_condition.n_samples: Infinity is not a finite number" },
		{ "{'stopping_condition': {'min_distance': -0.5}}", "docker.stopping_condition.min_distance: -0.5 is not -1 or a number >= 0" },
		{ "{'stopping_condition': {'min_distance': -2}}", "docker.stopping_condition.min_distance: -2 is not -1 or a number >= 0" },
		{ "{'stopping_condition': {'min_distance': -1e999}}", "docker.stopping_condition.min_distance: -Infinity is not a finite number" },
		{ "{'scorer_config': {'frequency_penalty': 1.5}}", "docker.scorer_config.frequency_penalty: 1.5 is not a number in [0,1]" },
		{ "{'scorer_config': {'frequency_penalty': -0.1}}", "docker.scorer_config.frequency_penalty: -0.1 is not a number in [0,1]" },
		{ "{'scorer_config': {'min_score': 2}}", "docker.scorer_config.min_score: 2 is not a number in [0,1]" },
		{ "{'corruptness_check': {'max_pixels': 0}}", "docker.corruptness_check.max_pixels: 0 is not an integer in [1, 4294967295]" },
		{ "{'corruptness_check': {'max_pixels': 1.5}}", "docker.corruptness_check.max_pixels: 1.5 is not an integer in [1, 4294967295]" },
		{ "{'corruptness_check': {'max_pixels': 4294967296}}", "docker.corruptness_check.max_pixels: 4294967296 is not an integer in [1, 4294967295]" },
		{ "{'seed': -1}", "docker.seed: -1 is not an integer in [0, 4294967295]" },
		{ "{'seed': 0.5}", "docker.seed: 0.5 is not an integer in [0, 4294967295]" },
		{ "{'seed': 4294967296}", "docker.seed: 4294967296 is not an integer in [0, 4294967295]" },
		{ "{'method': 'foo'}", "docker.method: 'foo' is not one of 'random', 'coreset', 'coral', 'active_learning'" },
		{ "{'method': 'Coreset'}", "docker.method: 'Coreset' is not one of 'random', 'coreset', 'coral', 'active_learning'" },
		{ "{'scorer': 'foo'}", "docker.scorer: 'foo' is not one of 'object-frequency', ''" },
		{ "{'datapool': {'name': ''}}", "docker.datapool.name: '' is not null or a name of 1 to 128 characters from A-Z a-z 0-9 . _ - not starting with '.'" },
		{ "{'datapool': {'name': '.hidden'}}", "docker.datapool.name: '.hidden' is not null or a name of 1 to 128 characters from A-Z a-z 0-9 . _ - not starting with '.'" },
		{ "{'datapool': {'name': '..'}}", "docker.datapool.name: '..' is not null or a name of 1 to 128 characters from A-Z a-z 0-9 . _ - not starting with '.'" },
		{ "{'datapool': {'name': 'a/b'}}", "docker.datapool.name: 'a/b' is not null or a name of 1 to 128 characters from A-Z a-z 0-9 . _ - not starting with '.'" },
		{ "{'datapool': {'name': 'a b'}}", "docker.datapool.name: 'a b' is not null or a name of 1 to 128 characters from A-Z a-z 0-9 . _ - not starting with '.'" },
		{ "{'embeddings': '/data/e.csv'}", "docker.embeddings: '/data/e.csv' is not a path relative to the datasource root (no leading '/', no '..')" },
		{ "{'embeddings': '../e.csv'}", "docker.embeddings: '../e.csv' is not a path relative to the datasource root (no leading '/', no '..')" },
		{ "{'relevant_filenames_file': 'a/../../b.txt'}", "docker.relevant_filenames_file: 'a/../../b.txt' is not a path relative to the datasource root (no leading '/', no '..')" },
		{ "{'relevant_filenames_file': 'a/..'}", "docker.relevant_filenames_file: 'a/..' is not a path relative to the datasource root (no leading '/', no '..')" },
		{ "{'active_learning': {'task_name': 'a/b'}}", "docker.active_learning.task_name: 'a/b' is not a task name (a folder under .lightly/predictions/: no '/', not '.' or '..')" },
		{ "{'active_learning': {'task_name': '..'}}", "docker.active_learning.task_name: '..' is not a task name (a folder under .lightly/predictions/: no '/', not '.' or '..')" },
	};

	check_cases(cases, ARRAY_LEN(cases));

	/* A 129-character datapool name is one too many. */
	char name[130];
	memset(name, 'a', 129);
	name[129] = '\0';
	char *json = xasprintf("{'datapool': {'name': '%s'}}", name);
	struct strvec errs = parse_fail(json);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.v[0], "is not null or a name of 1 to 128"));
	strvec_free(&errs);
	free(json);
	name[128] = '\0';
	json = xasprintf("{'datapool': {'name': '%s'}}", name);
	struct run_config cfg;
	parse_ok(json, &cfg);
	assert_int_equal(strlen(cfg.datapool_name), 128);
	config_free(&cfg);
	free(json);
}

static void test_accepted_values(void **state)
{
	struct run_config cfg;

	parse_ok("{'stopping_condition': {'n_samples': 2.0, 'min_distance': 0}}", &cfg);
	assert_true(cfg.n_samples == 2);
	assert_true(cfg.min_distance == 0);
	assert_effective(&cfg, "{'enable_corruptness_check':true,'remove_exact_duplicates':true,"
			 "'method':'coreset','stopping_condition':{'n_samples':2,'min_distance':0},"
			 "'scorer':'object-frequency','scorer_config':{'frequency_penalty':0.25,'min_score':0.9},"
			 "'active_learning':{'task_name':'','score_name':'uncertainty_margin'},'embeddings':'',"
			 "'normalize_embeddings':true,'relevant_filenames_file':'','datapool':{'name':null,'keep_history':true},"
			 "'corruptness_check':{'max_pixels':178956970},'seed':1}");
	config_free(&cfg);

	static const double fine[] = { 1, 0.5, 1e-9, 100, 9007199254740992.0, -1 };
	for (size_t i = 0; i < ARRAY_LEN(fine); i++) {
		char *j = xasprintf("{'stopping_condition': {'n_samples': %.17g}}", fine[i]);
		parse_ok(j, &cfg);
		assert_true(cfg.n_samples == fine[i]);
		config_free(&cfg);
		free(j);
	}
	parse_ok("{'stopping_condition': {'n_samples': 1.0, 'min_distance': 0.3}}", &cfg);
	assert_true(cfg.n_samples == 1);
	assert_true(cfg.min_distance == 0.3);
	config_free(&cfg);

	parse_ok("{'seed': 0, 'corruptness_check': {'max_pixels': 1}, 'scorer': '',"
		 " 'scorer_config': {'frequency_penalty': 0, 'min_score': 1},"
		 " 'datapool': {'name': 'pool-1.v2_X'}, 'embeddings': 'emb/a..b/e.csv',"
		 " 'relevant_filenames_file': 'lists/..hidden/x.txt', 'enable_corruptness_check': false,"
		 " 'remove_exact_duplicates': false, 'normalize_embeddings': false, 'method': 'random',"
		 " 'active_learning': {'task_name': 'my-task', 'score_name': 'uncertainty_entropy'}}", &cfg);
	assert_int_equal(cfg.seed, 0);
	assert_int_equal(cfg.max_pixels, 1);
	assert_string_equal(cfg.scorer, "");
	assert_true(cfg.frequency_penalty == 0);
	assert_true(cfg.min_score == 1);
	assert_string_equal(cfg.datapool_name, "pool-1.v2_X");
	assert_string_equal(cfg.embeddings, "emb/a..b/e.csv");
	assert_string_equal(cfg.relevant_filenames_file, "lists/..hidden/x.txt");
	assert_false(cfg.enable_corruptness_check);
	assert_false(cfg.remove_exact_duplicates);
	assert_false(cfg.normalize_embeddings);
	assert_int_equal(cfg.method, METHOD_RANDOM);
	assert_string_equal(cfg.al_task_name, "my-task");
	assert_string_equal(cfg.al_score_name, "uncertainty_entropy");
	assert_true(cfg.al_score_name_given);
	config_free(&cfg);

	parse_ok("{'seed': 4294967295, 'corruptness_check': {'max_pixels': 4294967295},"
		 " 'datapool': {'name': null}}", &cfg);
	assert_int_equal(cfg.seed, UINT64_C(4294967295));
	assert_int_equal(cfg.max_pixels, UINT64_C(4294967295));
	assert_null(cfg.datapool_name);
	char *e = config_effective_json(&cfg);
	assert_non_null(strstr(e, "\"seed\":4294967295}"));
	assert_non_null(strstr(e, "\"max_pixels\":4294967295}"));
	free(e);
	config_free(&cfg);
}

static void test_score_name_given(void **state)
{
	struct run_config cfg;

	parse_ok("{'active_learning': {'task_name': 'kp'}}", &cfg);
	assert_false(cfg.al_score_name_given);
	assert_string_equal(cfg.al_score_name, "uncertainty_margin");
	config_free(&cfg);
	/* Given with the default value still counts as given. */
	parse_ok("{'active_learning': {'score_name': 'uncertainty_margin'}}", &cfg);
	assert_true(cfg.al_score_name_given);
	config_free(&cfg);
}

static void test_unknown_keys(void **state)
{
	check_error("{'frobnicate': 1}", "docker.frobnicate: unknown key");
	check_error("{'stopping_condition': {'foo': 1}}", "docker.stopping_condition.foo: unknown key");
	check_error("{'scorer_config': {'penalty': 1}}", "docker.scorer_config.penalty: unknown key");
	check_error("{'datapool': {'nam': 'x'}}", "docker.datapool.nam: unknown key");
	check_error("{'object_level': {'foo': 1}}", "docker.object_level.foo: unknown key");
	/* Case matters, and the message says which key was meant. */
	check_error("{'Method': 'random'}", "docker.Method: unknown key (keys are case-sensitive: 'method'?)");
	check_error("{'Pretagging': false}", "docker.Pretagging: unknown key (keys are case-sensitive: 'pretagging'?)");
	check_error("{'datapool': {'Keep_History': true}}",
		    "docker.datapool.Keep_History: unknown key (keys are case-sensitive: 'keep_history'?)");
	/* Control characters in a key are escaped so that the message stays one line. */
	check_error("{'a\\nb': 1}", "docker.a\\x0ab: unknown key");
	/* Hydra-style dotted keys (Lightly's CLI) are not expanded, and say so. */
	check_error("{'stopping_condition.n_samples': 5}",
		    "docker.'stopping_condition.n_samples': unknown key (dotted keys are not expanded: nest objects, {'a': {'b': ...}})");
	check_error("{'': 1}", "docker.'': unknown key");
	/* A docker key one level too deep is unknown there. */
	check_error("{'stopping_condition': {'method': 'random'}}", "docker.stopping_condition.method: unknown key");
}

static void test_duplicate_keys(void **state)
{
	check_error("{'method': 'random', 'method': 'coreset'}", "docker.method: key given twice");
	/* Three times is one error. */
	check_error("{'seed': 1, 'seed': 2, 'seed': 3}", "docker.seed: key given twice");
	check_error("{'stopping_condition': {'n_samples': 5, 'n_samples': 0.5}}",
		    "docker.stopping_condition.n_samples: key given twice");
	check_error("{'stopping_condition': {}, 'stopping_condition': {}}",
		    "docker.stopping_condition: key given twice");
	check_error("{'docker': {'datapool': {'name': 'a', 'name': 'b'}}}", "docker.datapool.name: key given twice");
	/* Also inside values winnow does not read. */
	check_error("{'datasource': {'x': {'y': 1, 'y': 1}}}", "docker.datasource.x.y: key given twice");
	check_error("{'output_image_size': [{'a': 1, 'a': 1}]}", "docker.output_image_size[0].a: key given twice");
	/* Keys differing in case are different keys. */
	struct strvec errs = parse_fail("{'seed': 1, 'Seed': 2}");
	assert_int_equal(errs.n, 1);
	assert_has(&errs, "docker.Seed: unknown key (keys are case-sensitive: 'seed'?)");
	strvec_free(&errs);
}

static void test_errors_reported_together(void **state)
{
	struct strvec errs = { 0 };
	struct run_config cfg;
	char *j = dq("{'docker': {'method': 'foo', 'frobnicate': 1,"
		     " 'stopping_condition': {'n_samples': 0, 'min_distance': -0.5, 'foo': 2},"
		     " 'seed': -1, 'seed': 2, 'enable_training': true, 'token': 'secret-xyz'},"
		     " 'lightly': {'whatever': 1}, 'extra': true}");

	/* Errors are appended to what the list already holds. */
	strvec_push(&errs, "earlier");
	assert_int_equal(config_parse(j, strlen(j), &cfg, &errs), -EINVAL);
	free(j);
	assert_string_equal(errs.v[0], "earlier");
	assert_int_equal(errs.n, 1 + 9);
	assert_has(&errs, "extra: unknown key (the top level holds 'docker', 'lightly' and 'workerType')");
	assert_has(&errs, "docker.method: 'foo' is not one of 'random', 'coreset', 'coral', 'active_learning'");
	assert_has(&errs, "docker.frobnicate: unknown key");
	assert_has(&errs, "docker.stopping_condition.n_samples: 0 is not -1, a fraction in (0,1] or a count >= 2");
	assert_has(&errs, "docker.stopping_condition.min_distance: -0.5 is not -1 or a number >= 0");
	assert_has(&errs, "docker.stopping_condition.foo: unknown key");
	assert_has(&errs, "docker.seed: key given twice");
	assert_has(&errs, "docker.seed: -1 is not an integer in [0, 4294967295]");
	/* The first of the two seeds is the one validated. */
	assert_has(&errs, "docker.enable_training: true is not supported by winnow (it does not train a model); use false");
	for (size_t i = 0; i < errs.n; i++)
		assert_null(strstr(errs.v[i], "secret-xyz"));
	strvec_free(&errs);
}

static void test_warnings_for_noeffect_keys(void **state)
{
	check_warning("{'pretagging_debug': true}", "docker.pretagging_debug: true has no effect in winnow");
	check_warning("{'checkpoint': 'ckpt.pth'}", "docker.checkpoint: 'ckpt.pth' has no effect in winnow");
	check_warning("{'dump_dataset': true}", "docker.dump_dataset: true has no effect in winnow");
	check_warning("{'dump_sampled_embeddings': false}", "docker.dump_sampled_embeddings: false has no effect in winnow");
	check_warning("{'output_image_size': [64, 48]}", "docker.output_image_size: [64,48] has no effect in winnow");
	check_warning("{'upload_report': false}", "docker.upload_report: false has no effect in winnow");
	check_warning("{'n_example_images': 3}", "docker.n_example_images: 3 has no effect in winnow");
	check_warning("{'run_directory': 'runs/1'}", "docker.run_directory: 'runs/1' has no effect in winnow");
	check_warning("{'pretagging_config': {'x': 1}}", "docker.pretagging_config: {'x':1} has no effect in winnow");
	check_warning("{'corruptness_check': {'corruption_threshold': 0.2}}",
		      "docker.corruptness_check.corruption_threshold: 0.2 has no effect in winnow");
	check_warning("{'datasource': {'process_all': true}}", "docker.datasource.process_all: true has no effect in winnow");
	check_warning("{'datasource': {'anything': 1}}", "docker.datasource.anything: 1 has no effect in winnow");
	check_warning("{'worker': {'worker_id': 'abc'}}", "docker.worker.worker_id: 'abc' has no effect in winnow");
	check_warning("{'object_level': {'padding': 0.1}}", "docker.object_level.padding: 0.1 has no effect in winnow");
	check_warning("{'sanity_check': true}", "docker.sanity_check: true has no effect in winnow");
	/* Never the token itself. */
	check_warning("{'token': 'abc123'}", "docker.token: (hidden) has no effect in winnow");

	struct run_config cfg;
	parse_ok("{'docker': {'pretagging_debug': true, 'upload_dataset': true, 'memory_requirement_in_GB': 8}}", &cfg);
	assert_int_equal(cfg.warnings.n, 3);
	assert_has(&cfg.warnings, "docker.upload_dataset: true has no effect in winnow");
	assert_has(&cfg.warnings, "docker.memory_requirement_in_GB: 8 has no effect in winnow");
	config_free(&cfg);
}

/* Lightly's whole default docker config (its docs' "List of Parameters"). */
static void test_lightly_defaults_no_warning(void **state)
{
	struct run_config cfg;

	parse_ok("{'token': '', 'worker': {'worker_id': '', 'force_start': true}, 'sanity_check': false,"
		 " 'relevant_filenames_file': '', 'enable_corruptness_check': true,"
		 " 'corruptness_check': {'corruption_threshold': 0.1}, 'remove_exact_duplicates': true,"
		 " 'checkpoint': '', 'embeddings': '', 'enable_training': false, 'dump_dataset': false,"
		 " 'dump_sampled_embeddings': true, 'output_image_size': -1, 'output_image_format': 'png',"
		 " 'upload_dataset': false, 'pretagging': false, 'pretagging_debug': false,"
		 " 'pretagging_config': '', 'pretagging_upload': false, 'append_weak_labels': false,"
		 " 'normalize_embeddings': true, 'scorer': 'object-frequency',"
		 " 'scorer_config': {'frequency_penalty': 0.25, 'min_score': 0.9}, 'method': 'coreset',"
		 " 'stopping_condition': {'n_samples': -1, 'min_distance': -1.0}, 'selected_sequence_length': 1,"
		 " 'datapool': {'name': null, 'keep_history': true, 'dataset_id': null},"
		 " 'datasource': {'dataset_id': null, 'process_all': false, 'enable_datapool_update': true,"
		 "  'use_frame_count_metadata': false, 'bypass_verify': false},"
		 " 'active_learning': {'task_name': '', 'score_name': 'uncertainty_margin'},"
		 " 'object_level': {'task_name': '', 'crop_dataset_name': '', 'padding': 0.0},"
		 " 'upload_report': true, 'n_example_images': 6, 'memory_requirement_in_GB': 2,"
		 " 'show_video_sampling_timeline': true, 'run_directory': null}", &cfg);
	if (cfg.warnings.n)
		print_errors("warnings", &cfg.warnings);
	assert_int_equal(cfg.warnings.n, 0);
	assert_effective(&cfg, default_effective);
	config_free(&cfg);

	/* Empty objects set nothing. */
	parse_ok("{'pretagging_config': {}, 'datasource': {}, 'worker': {}, 'object_level': {}}", &cfg);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
}

/* datapool.keep_history has an effect in local mode (SPEC 4.7): read, no warning. */
static void test_keep_history(void **state)
{
	struct run_config cfg;

	parse_ok("{'datapool': {'name': 'p', 'keep_history': false}}", &cfg);
	assert_int_equal(cfg.warnings.n, 0);
	assert_false(cfg.datapool_keep_history);
	config_free(&cfg);
	parse_ok("{'datapool': {'name': 'p'}}", &cfg);
	assert_true(cfg.datapool_keep_history);
	config_free(&cfg);
}

/* selected_sequence_length / selectedSequenceLength (SPEC 3.1). */
static void test_sequence_length(void **state)
{
	static const struct case_ cases[] = {
		{ "{'selected_sequence_length': 0}", "docker.selected_sequence_length: 0 is not an integer in [1, 100000]" },
		{ "{'selected_sequence_length': 2.5}", "docker.selected_sequence_length: 2.5 is not an integer in [1, 100000]" },
		{ "{'selected_sequence_length': '4'}", "docker.selected_sequence_length: '4' is not a number" },
		{ "{'workerType': 'FULL', 'docker': {'selectedSequenceLength': 100001}, 'selection': {'nSamples': 3,"
		  " 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}",
		  "docker.selectedSequenceLength: 100001 is not an integer in [1, 100000]" },
	};
	struct run_config cfg;

	check_cases(cases, ARRAY_LEN(cases));
	parse_ok("{'selected_sequence_length': 4}", &cfg);
	assert_int_equal(cfg.sequence_length, 4);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
	parse_ok("{'selected_sequence_length': null}", &cfg);
	assert_int_equal(cfg.sequence_length, 1);
	config_free(&cfg);
	parse_ok("{'workerType': 'FULL', 'docker': {'selectedSequenceLength': 8}, 'selection': {'nSamples': 3,"
		 " 'strategies': [{'input': {'type': 'EMBEDDINGS'}, 'strategy': {'type': 'DIVERSITY'}}]}}", &cfg);
	assert_int_equal(cfg.sequence_length, 8);
	config_free(&cfg);
}

static void test_unsupported_keys(void **state)
{
	static const struct case_ cases[] = {
		{ "{'enable_training': true}", "docker.enable_training: true is not supported by winnow (it does not train a model); use false" },
		{ "{'pretagging': true}", "docker.pretagging: true is not supported by winnow (it has no pretagging model); use false" },
		{ "{'object_level': {'task_name': 'cars'}}", "docker.object_level.task_name: 'cars' is not supported by winnow (it has no object-level selection); use ''" },
		{ "{'active_learning_score_column_name': 'score'}", "docker.active_learning_score_column_name: 'score' is not supported by winnow (it reads scores from prediction files, not from a column); remove the key" },
		{ "{'active_learning_score_column_name': ''}", "docker.active_learning_score_column_name: '' is not supported by winnow (it reads scores from prediction files, not from a column); remove the key" },
	};
	struct run_config cfg;

	check_cases(cases, ARRAY_LEN(cases));
	/* At their defaults they are fine, and silent. */
	parse_ok("{'enable_training': false, 'pretagging': false, 'selected_sequence_length': 1,"
		 " 'object_level': {'task_name': ''}}", &cfg);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
}

static void test_methods_with_scores(void **state)
{
	struct run_config cfg;

	config_methods_with_scores = false;
	check_error("{'method': 'coral', 'active_learning': {'task_name': 't'}}",
		    "docker.method: 'coral' is not available yet (needs the active-learning scores); use 'random' or 'coreset'");
	check_error("{'method': 'active_learning', 'active_learning': {'task_name': 't'}}",
		    "docker.method: 'active_learning' is not available yet (needs the active-learning scores); use 'random' or 'coreset'");
	parse_ok("{'method': 'random'}", &cfg);
	assert_int_equal(cfg.method, METHOD_RANDOM);
	config_free(&cfg);

	config_methods_with_scores = true;
	parse_ok("{'method': 'coral', 'active_learning': {'task_name': 't'}}", &cfg);
	assert_int_equal(cfg.method, METHOD_CORAL);
	config_free(&cfg);
	parse_ok("{'method': 'active_learning', 'active_learning': {'task_name': 't'}}", &cfg);
	assert_int_equal(cfg.method, METHOD_ACTIVE_LEARNING);
	config_free(&cfg);
	check_error("{'method': 'coral'}",
		    "docker.active_learning.task_name: '' is not allowed with method 'coral': it needs the name of a prediction task");
	check_error("{'method': 'active_learning', 'active_learning': {'task_name': ''}}",
		    "docker.active_learning.task_name: '' is not allowed with method 'active_learning': it needs the name of a prediction task");
	/* A task_name already reported is not reported twice. */
	check_error("{'method': 'coral', 'active_learning': {'task_name': 5}}",
		    "docker.active_learning.task_name: 5 is not a string");
	check_error("{'method': 'coral', 'active_learning': 5}", "docker.active_learning: 5 is not an object");
	check_error("{'method': 'foo'}",
		    "docker.method: 'foo' is not one of 'random', 'coreset', 'coral', 'active_learning'");
	/* coreset needs no task. */
	parse_ok("{'method': 'coreset'}", &cfg);
	config_free(&cfg);
}

static struct run_config with_n_samples(double n)
{
	struct run_config cfg;

	config_defaults(&cfg);
	cfg.n_samples = n;
	return cfg;
}

static void test_budget(void **state)
{
	struct run_config cfg;

	cfg = with_n_samples(-1);
	assert_int_equal(config_budget(&cfg, 10), SIZE_MAX);
	assert_int_equal(config_budget(&cfg, 0), SIZE_MAX);
	config_free(&cfg);

	cfg = with_n_samples(0.1);
	assert_int_equal(config_budget(&cfg, 10), 1);
	assert_int_equal(config_budget(&cfg, 25), 3);
	assert_int_equal(config_budget(&cfg, 0), 0);
	assert_int_equal(config_budget(&cfg, 1), 1);
	config_free(&cfg);

	cfg = with_n_samples(0.3);
	assert_int_equal(config_budget(&cfg, 10), 3);
	assert_int_equal(config_budget(&cfg, 100), 30);
	config_free(&cfg);
	/*
	 * 0.3*10 happens to be exactly 3.0 in float64; these products are not:
	 * 0.07*100 is 7.000000000000001 and 0.55*100 is 55.00000000000001, and
	 * a plain ceil would take one more. The 1e-6 of SPEC 2 keeps them exact.
	 */
	assert_true(0.07 * 100.0 > 7.0);
	cfg = with_n_samples(0.07);
	assert_int_equal(config_budget(&cfg, 100), 7);
	config_free(&cfg);
	cfg = with_n_samples(0.55);
	assert_int_equal(config_budget(&cfg, 100), 55);
	config_free(&cfg);
	cfg = with_n_samples(0.28);
	assert_int_equal(config_budget(&cfg, 25), 7);
	config_free(&cfg);
	/* Below an integer by float error, ceil still gives that integer. */
	cfg = with_n_samples(0.57);
	assert_int_equal(config_budget(&cfg, 100), 57);
	config_free(&cfg);

	cfg = with_n_samples(1);
	assert_int_equal(config_budget(&cfg, 10), 10);
	assert_int_equal(config_budget(&cfg, 12345), 12345);
	assert_int_equal(config_budget(&cfg, 0), 0);
	config_free(&cfg);

	/* Counts are returned as they are; the caller clamps to n. */
	cfg = with_n_samples(2);
	assert_int_equal(config_budget(&cfg, 10), 2);
	config_free(&cfg);
	cfg = with_n_samples(50);
	assert_int_equal(config_budget(&cfg, 10), 50);
	assert_int_equal(config_budget(&cfg, 1000), 50);
	config_free(&cfg);

	/* Through the parser: 2.0 is the count 2, 1.0 the fraction "all". */
	parse_ok("{'stopping_condition': {'n_samples': 2.0}}", &cfg);
	assert_int_equal(config_budget(&cfg, 100), 2);
	config_free(&cfg);
	parse_ok("{'stopping_condition': {'n_samples': 1.0}}", &cfg);
	assert_int_equal(config_budget(&cfg, 100), 100);
	config_free(&cfg);
}

static void test_malformed_json(void **state)
{
	check_error("{'method': }", "config: invalid JSON at line 1, column 12, near '}'");
	check_error("{\n  'seed': 1,\n  'method': tru\n}", "config: invalid JSON at line 3, column 13, near 'tru'");
	check_error("{} x", "config: invalid JSON at line 1, column 4, near 'x'");
	check_error("{'seed': 1", "config: invalid JSON at line 1, column 11: unexpected end of the text");
	check_error("", "config: invalid JSON at line 1, column 1: unexpected end of the text");
	check_error("{'seed': 1,}", "config: invalid JSON at line 1, column 12, near '}'");
	/* A key that is not a string: cJSON says one past it, the message does not. */
	check_error("{seed: 1}", "config: invalid JSON at line 1, column 2, near 'seed: 1}'");
	check_error("{'a': {,}}", "config: invalid JSON at line 1, column 8, near ',}}'");
	check_error("{'a': [1,x]}", "config: invalid JSON at line 1, column 10, near 'x]}'");
	/* Columns count characters: the é is one. */
	check_error("{'é': x}", "config: invalid JSON at line 1, column 7, near 'x}'");
	check_error("[1, 2]", "config: [1,2] is not an object");
	check_error("null", "config: null is not an object");
	check_error("'docker'", "config: 'docker' is not an object");
	check_error("{'seed': 1, 'embeddings': '\xff'}", "config: the text is not valid UTF-8");

	/* A NUL byte inside the given length. */
	struct strvec errs = { 0 };
	struct run_config cfg;
	assert_int_equal(config_parse("{}\0{}", 5, &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0], "config: the text holds a NUL byte at offset 2");
	strvec_free(&errs);

	/* NULL with length 0 is the empty text. */
	assert_int_equal(config_parse(NULL, 0, &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0], "config: invalid JSON at line 1, column 1: unexpected end of the text");
	strvec_free(&errs);

	/* The text need not be NUL-terminated: only len bytes are read. */
	const char text[] = "{\"seed\": 5}garbage";
	assert_int_equal(config_parse(text, 11, &cfg, &errs), 0);
	assert_int_equal(cfg.seed, 5);
	config_free(&cfg);
}

static void test_long_values_cut(void **state)
{
	char big[201];

	memset(big, 'x', 200);
	big[200] = '\0';
	char *j = xasprintf("{'method': '%s'}", big);
	struct strvec errs = parse_fail(j);
	assert_int_equal(errs.n, 1);
	/* 'docker.method: "' + 59 x + '...' */
	assert_true(strlen(errs.v[0]) < 150);
	assert_non_null(strstr(errs.v[0], "xxx... is not one of"));
	strvec_free(&errs);
	free(j);

	/* A cut never splits a UTF-8 character. */
	char *u = xstrdup("");
	for (int i = 0; i < 40; i++) {
		char *n = xasprintf("%s\xc3\xa9", u);
		free(u);
		u = n;
	}
	j = xasprintf("{'scorer': '%s'}", u);
	errs = parse_fail(j);
	assert_int_equal(errs.n, 1);
	assert_true(utf8_valid(errs.v[0], strlen(errs.v[0])));
	assert_non_null(strstr(errs.v[0], "... is not one of"));
	strvec_free(&errs);
	free(j);
	free(u);
}

static void test_effective_json(void **state)
{
	struct run_config cfg;
	char *e;

	parse_ok("{}", &cfg);
	e = config_effective_json(&cfg);
	char *want = dq(default_effective);
	assert_string_equal(e, want);
	free(want);
	free(e);
	config_free(&cfg);

	/* Given values replace the defaults; the rest stay filled. */
	parse_ok("{'method': 'random', 'seed': 42, 'stopping_condition': {'n_samples': 0.1},"
		 " 'datapool': {'name': 'p'}, 'pretagging_debug': true}", &cfg);
	assert_effective(&cfg, "{'enable_corruptness_check':true,'remove_exact_duplicates':true,"
			 "'method':'random','stopping_condition':{'n_samples':0.1,'min_distance':-1},"
			 "'scorer':'object-frequency','scorer_config':{'frequency_penalty':0.25,'min_score':0.9},"
			 "'active_learning':{'task_name':'','score_name':'uncertainty_margin'},'embeddings':'',"
			 "'normalize_embeddings':true,'relevant_filenames_file':'','datapool':{'name':'p','keep_history':true},"
			 "'corruptness_check':{'max_pixels':178956970},'seed':42}");
	/* The tree itself is there for callers that embed it (report.json). */
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(cfg.effective, "seed");
	assert_non_null(seed);
	assert_true(seed->valuedouble == 42);
	config_free(&cfg);

	/* A struct that config_free emptied still prints (defaults of an empty struct). */
	e = config_effective_json(&cfg);
	assert_non_null(strstr(e, "\"method\":\"random\""));
	free(e);
}

static void test_load_file(void **state)
{
	struct strvec errs = { 0 };
	struct run_config cfg;
	char dir[] = "test_config.XXXXXX";	/* the runner's temp dir is the cwd */
	char *path;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/missing.json", dir);
	assert_int_equal(config_load_file(path, &cfg, &errs), -ENOENT);
	assert_int_equal(errs.n, 1);
	char *want = xasprintf("%s: No such file or directory", path);
	assert_string_equal(errs.v[0], want);
	free(want);
	strvec_free(&errs);
	free(path);

	assert_true(config_load_file(dir, &cfg, &errs) < 0);
	assert_int_equal(errs.n, 1);
	want = xasprintf("%s: not a regular file", dir);
	assert_string_equal(errs.v[0], want);
	free(want);
	strvec_free(&errs);

	path = xasprintf("%s/good.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"docker\": {\"seed\": 9}, \"lightly\": {\"loader\": {}}}\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg.seed, 9);
	assert_non_null(cfg.lightly);
	config_free(&cfg);
	unlink(path);
	free(path);

	/* A syntax error names the file. */
	path = xasprintf("%s/bad.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\n\"seed\": 9,,\n}\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	want = xasprintf("%s: invalid JSON at line 2, column 11, near \",\"", path);
	assert_string_equal(errs.v[0], want);
	free(want);
	strvec_free(&errs);
	unlink(path);
	free(path);
	rmdir(dir);
}

static void test_method_name(void **state)
{
	assert_string_equal(method_name(METHOD_RANDOM), "random");
	assert_string_equal(method_name(METHOD_CORESET), "coreset");
	assert_string_equal(method_name(METHOD_CORAL), "coral");
	assert_string_equal(method_name(METHOD_ACTIVE_LEARNING), "active_learning");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_of_empty_object),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_defaults_of_bare_and_wrapped),
		cmocka_unit_test(test_wrapped_equals_bare),
		cmocka_unit_test(test_wrapped_errors),
		cmocka_unit_test(test_lightly_part_never_an_error),
		cmocka_unit_test(test_preset_lightly_default),
		cmocka_unit_test_teardown(test_preset_active_learning, reset_methods),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_accepted_values),
		cmocka_unit_test(test_score_name_given),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_errors_reported_together),
		cmocka_unit_test(test_warnings_for_noeffect_keys),
		cmocka_unit_test(test_lightly_defaults_no_warning),
		cmocka_unit_test(test_keep_history),
		cmocka_unit_test(test_sequence_length),
		cmocka_unit_test(test_unsupported_keys),
		cmocka_unit_test_teardown(test_methods_with_scores, reset_methods),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_long_values_cut),
		cmocka_unit_test(test_effective_json),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_method_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
