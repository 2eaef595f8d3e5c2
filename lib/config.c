/*
 * config: the run config of SPEC 2. Parses the JSON text, fills Lightly's
 * defaults, validates every key and collects all errors of a config in one
 * list, so that a user fixes them in one round instead of one per run.
 *
 * DESIGN: the docker object is walked one object level at a time. For each
 * level, walk_keys() looks at every member in order (cJSON keeps duplicate
 * keys in its child list, so this is where a key given twice is found), hands
 * Lightly's keys without effect to the noeffect_keys table and reports the
 * unknown ones; winnow's own keys at that level are then read by name with
 * cJSON_GetObjectItemCaseSensitive, which returns the first of duplicates
 * (already an error). The struct is the source of truth; cfg->effective is
 * built from it at the end.
 *
 * Errors read "PATH: VALUE is not WHAT IS ALLOWED", VALUE being the JSON
 * text of the value, cut at VALUE_TEXT_MAX bytes.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool config_methods_with_scores = true;

#define CONFIG_MAX_BYTES	(16u << 20)
#define VALUE_TEXT_MAX		60
#define NEAR_TEXT_MAX		24
#define DATAPOOL_NAME_MAX	128

/*
 * seed and max_pixels are integers in [.., 2^32-1]: cJSON prints larger
 * doubles with 15 significant digits when they are "close enough" (2^53
 * comes out as 9.00719925474099e+15), and the effective config must say
 * exactly what ran. 2^32-1 is also numpy's legacy seed range, which Python
 * users know, and 65535x65535 pixels is below it.
 */
#define UINT32_LIMIT		4294967295.0
/* Counts above 2^53 are not exact doubles (and would overflow a size_t cast). */
#define COUNT_LIMIT		9007199254740992.0

/* JSON types a key accepts, as a mask. */
enum {
	T_BOOL = 1 << 0,
	T_NUM = 1 << 1,
	T_STR = 1 << 2,
	T_NULL = 1 << 3,
	T_OBJ = 1 << 4,
	T_ARR = 1 << 5,
	T_ANY = 0x3f,
};

enum {
	NE_SECRET = 1 << 0,	/* never print the value (the token) */
	NE_UNSUPPORTED = 1 << 1,	/* a non-default value is an error, not a warning */
};

/*
 * Lightly 2.x keys that winnow accepts without effect, with Lightly's
 * defaults (from the "List of Parameters" of the Lightly Worker 2.x docs). A
 * value other than the default is a warning, or for NE_UNSUPPORTED keys an
 * error, because there it would change the result. "a.b" is key b of the
 * object a; datasource and worker accept any key (SPEC 2: datasource.*,
 * worker.*), those listed here only get their default compared.
 * object_level.crop_dataset_name / padding and datapool.dataset_id are not in
 * SPEC 2's list, but Lightly's own default config has them, and a pasted
 * Lightly config must not fail on them.
 */
static const struct noeffect {
	const char *path;
	const char *lightly_default;	/* JSON text; NULL: every value is non-default */
	unsigned types;
	unsigned flags;
	const char *why;		/* NE_UNSUPPORTED: what winnow lacks */
} noeffect_keys[] = {
	{ "enable_training", "false", T_BOOL, NE_UNSUPPORTED, "it does not train a model" },
	{ "pretagging", "false", T_BOOL, NE_UNSUPPORTED, "it has no pretagging model" },
	{ "pretagging_debug", "false", T_BOOL, 0, NULL },
	{ "pretagging_config", "\"\"", T_STR | T_OBJ, 0, NULL },
	{ "pretagging_upload", "false", T_BOOL, 0, NULL },
	{ "append_weak_labels", "false", T_BOOL, 0, NULL },
	{ "checkpoint", "\"\"", T_STR, 0, NULL },
	{ "dump_dataset", "false", T_BOOL, 0, NULL },
	{ "dump_sampled_embeddings", "true", T_BOOL, 0, NULL },
	{ "output_image_size", "-1", T_NUM | T_ARR, 0, NULL },
	{ "output_image_format", "\"png\"", T_STR, 0, NULL },
	{ "upload_dataset", "false", T_BOOL, 0, NULL },
	{ "upload_report", "true", T_BOOL, 0, NULL },
	{ "n_example_images", "6", T_NUM, 0, NULL },
	{ "memory_requirement_in_GB", "2", T_NUM, 0, NULL },
	{ "show_video_sampling_timeline", "true", T_BOOL, 0, NULL },
	{ "run_directory", "null", T_STR | T_NULL, 0, NULL },
	{ "sanity_check", "false", T_BOOL, 0, NULL },
	{ "token", "\"\"", T_STR, NE_SECRET, NULL },
	{ "active_learning_score_column_name", NULL, T_ANY, NE_UNSUPPORTED, "it reads scores from prediction files, not from a column" },
	{ "corruptness_check.corruption_threshold", "0.1", T_NUM, 0, NULL },
	{ "datapool.dataset_id", "null", T_STR | T_NULL, 0, NULL },
	{ "object_level.task_name", "\"\"", T_STR, NE_UNSUPPORTED, "it has no object-level selection" },
	{ "object_level.crop_dataset_name", "\"\"", T_STR, 0, NULL },
	{ "object_level.padding", "0", T_NUM, 0, NULL },
	{ "datasource.dataset_id", "null", T_STR | T_NULL, 0, NULL },
	{ "datasource.process_all", "false", T_BOOL, 0, NULL },
	{ "datasource.enable_datapool_update", "true", T_BOOL, 0, NULL },
	{ "datasource.use_frame_count_metadata", "false", T_BOOL, 0, NULL },
	{ "datasource.bypass_verify", "false", T_BOOL, 0, NULL },
	{ "worker.worker_id", "\"\"", T_STR, 0, NULL },
	{ "worker.force_start", "true", T_BOOL, 0, NULL },
	{ "worker.shutdown_when_job_finished", "false", T_BOOL, 0, NULL },
};

/* winnow's own keys per object level; the caller of walk_keys reads them. */
static const char *const docker_keys[] = {
	"enable_corruptness_check", "remove_exact_duplicates", "method",
	"stopping_condition", "scorer", "scorer_config", "active_learning",
	"embeddings", "normalize_embeddings", "relevant_filenames_file",
	"datapool", "corruptness_check", "seed", "selected_sequence_length",
	/* objects that only hold keys without effect */
	"object_level", "datasource", "worker", NULL,
};
static const char *const stopping_keys[] = { "n_samples", "min_distance", NULL };
static const char *const scorer_config_keys[] = { "frequency_penalty", "min_score", NULL };
static const char *const al_keys[] = { "task_name", "score_name", NULL };
static const char *const datapool_keys[] = { "name", "keep_history", NULL };
static const char *const corruptness_keys[] = { "max_pixels", NULL };
static const char *const no_keys[] = { NULL };

struct parse {
	struct run_config *cfg;
	struct strvec *errors;
	size_t nerrors;		/* errors->n when parsing started */
	bool al_task_name_bad;	/* already reported: no second error from check_cross */
};

static void oom_if_null(const void *p)
{
	if (p == NULL) {
		fprintf(stderr, "<2>winnow: out of memory (cJSON)\n");
		abort();
	}
}

/* Appends s[0..n) to b, cut to at most max bytes on a UTF-8 boundary; "..." marks a cut. */
static void put_cut(struct buf *b, const char *s, size_t n, size_t max)
{
	if (n <= max) {
		buf_append(b, s, n);
		return;
	}
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	buf_append(b, s, max);
	buf_puts(b, "...");
}

/*
 * A key as it appears in a path: control characters escaped so that a
 * message stays one line, cut when long, and quoted when it holds a '.' or
 * is empty, so that {"a.b": 1} does not read as key b of a. Caller frees.
 */
static char *key_text(const char *key)
{
	struct buf b = { 0 };
	struct buf out = { 0 };
	bool quote = key[0] == '\0' || strchr(key, '.') != NULL;

	if (quote)
		buf_puts(&b, "\"");
	for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
		if (*k < 0x20 || *k == 0x7f)
			buf_printf(&b, "\\x%02x", *k);
		else
			buf_append(&b, k, 1);
	}
	if (quote)
		buf_puts(&b, "\"");
	buf_puts(&out, "");
	put_cut(&out, b.data ? b.data : "", b.len, VALUE_TEXT_MAX);
	buf_free(&b);
	return out.data;
}

/* The value as compact JSON text, cut when long. Caller frees. */
static char *value_text(const cJSON *v, bool secret)
{
	struct buf out = { 0 };
	char *s;

	buf_puts(&out, "");
	if (secret) {
		buf_puts(&out, "(hidden)");
		return out.data;
	}
	/* cJSON prints a non-finite number as null; JSON cannot hold one, but 1e999 parses to one. */
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
		buf_puts(&out, isnan(v->valuedouble) ? "NaN" : v->valuedouble > 0 ? "Infinity" : "-Infinity");
		return out.data;
	}
	s = cJSON_PrintUnformatted(v);
	oom_if_null(s);
	put_cut(&out, s, strlen(s), VALUE_TEXT_MAX);
	cJSON_free(s);
	return out.data;
}

static void push_msg(struct parse *p, const char *obj, const char *key, const cJSON *v,
		     bool secret, const char *fmt, va_list ap)
{
	char *what = xvasprintf(fmt, ap);
	char *val = v ? value_text(v, secret) : NULL;

	strvec_pushf(p->errors, "%s%s%s: %s%s%s", obj, obj[0] && key[0] ? "." : "", key,
		     val ? val : "", val ? " " : "", what);
	free(val);
	free(what);
}

/* Error "OBJ.KEY: VALUE <what>" (VALUE left out when v is NULL). */
static void __attribute__((format(printf, 5, 6)))
errf(struct parse *p, const char *obj, const char *key, const cJSON *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	push_msg(p, obj, key, v, false, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 6, 7)))
errf_secret(struct parse *p, const char *obj, const char *key, const cJSON *v, bool secret,
	    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	push_msg(p, obj, key, v, secret, fmt, ap);
	va_end(ap);
}

static unsigned type_of(const cJSON *v)
{
	if (cJSON_IsBool(v))
		return T_BOOL;
	if (cJSON_IsNumber(v))
		return T_NUM;
	if (cJSON_IsString(v))
		return T_STR;
	if (cJSON_IsNull(v))
		return T_NULL;
	if (cJSON_IsObject(v))
		return T_OBJ;
	if (cJSON_IsArray(v))
		return T_ARR;
	return 0;
}

/* "a boolean", "a string or null", ... for the type mask. */
static void types_text(unsigned types, char *out, size_t size)
{
	static const char *const names[] = {
		"a boolean", "a number", "a string", "null", "an object", "an array",
	};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		if (!(types & (1u << i)))
			continue;
		if (len >= size)
			break;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s",
					len ? " or " : "", names[i]);
	}
}

/*
 * The member key of obj when present with one of the types; NULL when
 * absent or of another type (an error). Numbers must be finite.
 */
static const cJSON *get(struct parse *p, const cJSON *obj, const char *path, const char *key,
			unsigned types)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	char want[80];

	if (v == NULL)
		return NULL;
	if (!(type_of(v) & types)) {
		types_text(types, want, sizeof(want));
		errf(p, path, key, v, "is not %s", want);
		return NULL;
	}
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
		errf(p, path, key, v, "is not a finite number");
		return NULL;
	}
	return v;
}

static void get_bool(struct parse *p, const cJSON *obj, const char *path, const char *key, bool *out)
{
	const cJSON *v = get(p, obj, path, key, T_BOOL);

	if (v)
		*out = cJSON_IsTrue(v);
}

/* A string member; replaces *out (owned) when present and a string. */
static const cJSON *get_string(struct parse *p, const cJSON *obj, const char *path,
			       const char *key, char **out)
{
	const cJSON *v = get(p, obj, path, key, T_STR);

	if (v) {
		free(*out);
		*out = xstrdup(v->valuestring);
	}
	return v;
}

/* An integer member in [lo, hi]. */
static void get_uint(struct parse *p, const cJSON *obj, const char *path, const char *key,
		     double lo, double hi, uint64_t *out)
{
	const cJSON *v = get(p, obj, path, key, T_NUM);

	if (v == NULL)
		return;
	double d = v->valuedouble;
	if (!(d >= lo && d <= hi && d == floor(d))) {
		errf(p, path, key, v, "is not an integer in [%.0f, %.0f]", lo, hi);
		return;
	}
	*out = (uint64_t)d;
}

/*
 * selected_sequence_length / selectedSequenceLength (SPEC 3.1): an integer
 * in [1, SEQUENCE_LENGTH_MAX]; null is 1 (Lightly's model allows it).
 */
static void get_sequence_length(struct parse *p, const cJSON *d, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);

	if (v == NULL || cJSON_IsNull(v))
		return;
	get_uint(p, d, "docker", key, 1, SEQUENCE_LENGTH_MAX, &p->cfg->sequence_length);
}

static void get_unit_interval(struct parse *p, const cJSON *obj, const char *path,
			      const char *key, double *out)
{
	const cJSON *v = get(p, obj, path, key, T_NUM);

	if (v == NULL)
		return;
	if (!(v->valuedouble >= 0 && v->valuedouble <= 1)) {
		errf(p, path, key, v, "is not a number in [0,1]");
		return;
	}
	*out = v->valuedouble;
}

/* An object member, walked for its keys; NULL when absent or not an object. */
static const cJSON *get_object(struct parse *p, const cJSON *obj, const char *path, const char *key)
{
	return get(p, obj, path, key, T_OBJ);
}

/* A key given twice anywhere inside v (a value winnow does not read itself). */
static void check_dups_deep(struct parse *p, const cJSON *v, const char *path)
{
	size_t i = 0;

	for (const cJSON *c = v->child; c; c = c->next, i++) {
		char *sub;

		if (cJSON_IsObject(v)) {
			char *k = key_text(c->string);
			sub = xasprintf("%s.%s", path, k);
			free(k);
			size_t same = 0;
			for (const cJSON *d = v->child; d != c; d = d->next)
				same += strcmp(d->string, c->string) == 0;
			if (same == 1)
				errf(p, sub, "", NULL, "key given twice");
		} else {
			sub = xasprintf("%s[%zu]", path, i);
		}
		check_dups_deep(p, c, sub);
		free(sub);
	}
}

static const struct noeffect *noeffect_find(const char *rel, const char *key)
{
	char full[128];
	int n = snprintf(full, sizeof(full), "%s%s%s", rel, rel[0] ? "." : "", key);

	if (n < 0 || (size_t)n >= sizeof(full))
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(noeffect_keys); i++)
		if (strcmp(noeffect_keys[i].path, full) == 0)
			return &noeffect_keys[i];
	return NULL;
}

/* A Lightly key without effect: check its type, then warn (or fail) when set. */
static void apply_noeffect(struct parse *p, const struct noeffect *ne, const char *path,
			   const char *key, const cJSON *v)
{
	bool secret = ne->flags & NE_SECRET;
	bool is_default = false;
	char want[80];

	if (!(type_of(v) & ne->types)) {
		types_text(ne->types, want, sizeof(want));
		errf_secret(p, path, key, v, secret, "is not %s", want);
		return;
	}
	if (ne->lightly_default) {
		cJSON *d = cJSON_Parse(ne->lightly_default);
		oom_if_null(d);
		/* An empty object sets nothing (pretagging_config: {}). */
		is_default = cJSON_Compare(d, v, true) || (cJSON_IsObject(v) && v->child == NULL);
		cJSON_Delete(d);
	}
	char *full = xasprintf("%s.%s", path, key);
	check_dups_deep(p, v, full);
	free(full);
	if (is_default)
		return;
	if (ne->flags & NE_UNSUPPORTED) {
		if (ne->lightly_default)
			errf_secret(p, path, key, v, secret, "is not supported by winnow (%s); use %s",
				    ne->why, ne->lightly_default);
		else
			errf_secret(p, path, key, v, secret, "is not supported by winnow (%s); remove the key",
				    ne->why);
		return;
	}
	/* A warning is an error message pushed to the other list. */
	struct parse w = { .cfg = p->cfg, .errors = &p->cfg->warnings };
	errf_secret(&w, path, key, v, secret, "has no effect in winnow");
}

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

/* A key at this level that differs from key only in case, for the hint; or NULL. */
static const char *case_twin(const char *rel, const char *const *own, const char *key)
{
	size_t rl = strlen(rel);

	for (; *own; own++)
		if (strcasecmp(*own, key) == 0)
			return *own;
	for (size_t i = 0; i < ARRAY_LEN(noeffect_keys); i++) {
		const char *np = noeffect_keys[i].path;
		if (rl) {
			if (strncmp(np, rel, rl) != 0 || np[rl] != '.')
				continue;
			np += rl + 1;
		} else if (strchr(np, '.')) {
			continue;
		}
		if (strcasecmp(np, key) == 0)
			return np;
	}
	return NULL;
}

/*
 * Every member of obj (at path, rel being the path under docker): a key
 * given twice is an error (once per name), own keys are left to the caller,
 * Lightly's keys without effect go to apply_noeffect, and any other key is
 * unknown, or without effect when open (datasource.*, worker.*).
 */
static void walk_keys(struct parse *p, const cJSON *obj, const char *path, const char *rel,
		      const char *const *own, bool open)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		const struct noeffect *ne;
		size_t same = 0;
		char *k;

		for (const cJSON *d = obj->child; d != c; d = d->next)
			same += strcmp(d->string, c->string) == 0;
		if (same > 0) {
			if (same == 1) {
				k = key_text(c->string);
				errf(p, path, k, NULL, "key given twice");
				free(k);
			}
			continue;
		}
		if (in_list(own, c->string))
			continue;
		k = key_text(c->string);
		ne = noeffect_find(rel, c->string);
		if (ne) {
			apply_noeffect(p, ne, path, k, c);
		} else if (open) {
			struct parse w = { .cfg = p->cfg, .errors = &p->cfg->warnings };
			char *full = xasprintf("%s.%s", path, k);
			check_dups_deep(p, c, full);
			free(full);
			errf(&w, path, k, c, "has no effect in winnow");
		} else {
			const char *twin = case_twin(rel, own, c->string);
			if (strchr(c->string, '.'))
				errf(p, path, k, NULL, "unknown key (dotted keys are not expanded: nest objects, {\"a\": {\"b\": ...}})");
			else if (twin)
				errf(p, path, k, NULL, "unknown key (keys are case-sensitive: \"%s\"?)", twin);
			else
				errf(p, path, k, NULL, "unknown key");
		}
		free(k);
	}
}

/* A path under the datasource root: relative and never climbing out of it. */
static bool path_stays_inside(const char *s)
{
	if (s[0] == '/')
		return false;
	for (const char *c = s; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return true;
}

/*
 * A datapool name becomes a folder (<datapool-dir>/<name>/) and a key in the
 * web app: [A-Za-z0-9._-], not starting with '.' (no hidden folder, no "..").
 */
static bool datapool_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DATAPOOL_NAME_MAX || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A task name is a folder under .lightly/predictions/. */
static bool task_name_ok(const char *s)
{
	return strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Whether a method's fixed plan (plan.c, SPEC 4.8) reads a prediction task's scores. */
static bool method_reads_scores(enum method m)
{
	struct plan fixed = { 0 };
	bool reads = false;

	plan_from_method(&fixed, m, -1, -1, "", "", 1);
	for (size_t e = 0; e < fixed.nentries; e++)
		reads = reads || fixed.entries[e].input == PLAN_INPUT_SCORES;
	plan_free(&fixed);
	return reads;
}

static void parse_method(struct parse *p, const cJSON *d)
{
	const cJSON *v = get(p, d, "docker", "method", T_STR);

	if (v == NULL)
		return;
	for (int i = METHOD_RANDOM; i <= METHOD_ACTIVE_LEARNING; i++) {
		if (strcmp(v->valuestring, method_name((enum method)i)) != 0)
			continue;
		if (method_reads_scores((enum method)i) && !config_methods_with_scores) {
			errf(p, "docker", "method", v, "is not available yet (needs the active-learning scores); use \"random\" or \"coreset\"");
			return;
		}
		p->cfg->method = (enum method)i;
		return;
	}
	errf(p, "docker", "method", v, "is not one of \"random\", \"coreset\", \"coral\", \"active_learning\"");
}

static void parse_stopping(struct parse *p, const cJSON *d)
{
	const char *path = "docker.stopping_condition";
	const cJSON *o = get_object(p, d, "docker", "stopping_condition");
	const cJSON *v;

	if (o == NULL)
		return;
	walk_keys(p, o, path, "stopping_condition", stopping_keys, false);
	v = get(p, o, path, "n_samples", T_NUM);
	if (v) {
		double x = v->valuedouble;
		/* 1 and 1.0 are the same JSON number, so 1 is the fraction "all". */
		if (x == -1 || (x > 0 && x <= 1) || (x >= 2 && x <= COUNT_LIMIT && x == floor(x)))
			p->cfg->n_samples = x;
		else if (x > COUNT_LIMIT && x == floor(x))
			errf(p, path, "n_samples", v, "is not -1, a fraction in (0,1] or a count in [2, 2^53]");
		else
			errf(p, path, "n_samples", v, "is not -1, a fraction in (0,1] or a count >= 2");
	}
	v = get(p, o, path, "min_distance", T_NUM);
	if (v) {
		if (v->valuedouble == -1 || v->valuedouble >= 0)
			p->cfg->min_distance = v->valuedouble;
		else
			errf(p, path, "min_distance", v, "is not -1 or a number >= 0");
	}
}

static void parse_active_learning(struct parse *p, const cJSON *d)
{
	const char *path = "docker.active_learning";
	const cJSON *o = get_object(p, d, "docker", "active_learning");
	const cJSON *v;

	if (o == NULL) {
		p->al_task_name_bad = cJSON_GetObjectItemCaseSensitive(d, "active_learning") != NULL;
		return;
	}
	walk_keys(p, o, path, "active_learning", al_keys, false);
	v = get_string(p, o, path, "task_name", &p->cfg->al_task_name);
	if (v == NULL && cJSON_GetObjectItemCaseSensitive(o, "task_name"))
		p->al_task_name_bad = true;
	if (v && !task_name_ok(v->valuestring)) {
		p->al_task_name_bad = true;
		errf(p, path, "task_name", v, "is not a task name (a folder under .lightly/predictions/: no \"/\", not \".\" or \"..\")");
	}
	if (get_string(p, o, path, "score_name", &p->cfg->al_score_name))
		p->cfg->al_score_name_given = true;
}

static void parse_relative_path(struct parse *p, const cJSON *d, const char *key, char **out)
{
	const cJSON *v = get_string(p, d, "docker", key, out);

	if (v && !path_stays_inside(v->valuestring))
		errf(p, "docker", key, v, "is not a path relative to the datasource root (no leading \"/\", no \"..\")");
}

static void parse_docker(struct parse *p, const cJSON *d)
{
	struct run_config *cfg = p->cfg;
	const cJSON *o, *v;

	walk_keys(p, d, "docker", "", docker_keys, false);
	get_bool(p, d, "docker", "enable_corruptness_check", &cfg->enable_corruptness_check);
	get_bool(p, d, "docker", "remove_exact_duplicates", &cfg->remove_exact_duplicates);
	parse_method(p, d);
	parse_stopping(p, d);

	v = get_string(p, d, "docker", "scorer", &cfg->scorer);
	if (v && strcmp(v->valuestring, "object-frequency") != 0 && v->valuestring[0] != '\0')
		errf(p, "docker", "scorer", v, "is not one of \"object-frequency\", \"\"");
	o = get_object(p, d, "docker", "scorer_config");
	if (o) {
		walk_keys(p, o, "docker.scorer_config", "scorer_config", scorer_config_keys, false);
		get_unit_interval(p, o, "docker.scorer_config", "frequency_penalty", &cfg->frequency_penalty);
		get_unit_interval(p, o, "docker.scorer_config", "min_score", &cfg->min_score);
	}
	parse_active_learning(p, d);

	parse_relative_path(p, d, "embeddings", &cfg->embeddings);
	get_bool(p, d, "docker", "normalize_embeddings", &cfg->normalize_embeddings);
	parse_relative_path(p, d, "relevant_filenames_file", &cfg->relevant_filenames_file);

	o = get_object(p, d, "docker", "datapool");
	if (o) {
		walk_keys(p, o, "docker.datapool", "datapool", datapool_keys, false);
		v = get(p, o, "docker.datapool", "name", T_STR | T_NULL);
		if (v && cJSON_IsString(v)) {
			if (datapool_name_ok(v->valuestring))
				cfg->datapool_name = xstrdup(v->valuestring);
			else
				errf(p, "docker.datapool", "name", v, "is not null or a name of 1 to %d characters from A-Z a-z 0-9 . _ - not starting with \".\"", DATAPOOL_NAME_MAX);
		}
		get_bool(p, o, "docker.datapool", "keep_history", &cfg->datapool_keep_history);
	}
	o = get_object(p, d, "docker", "corruptness_check");
	if (o) {
		walk_keys(p, o, "docker.corruptness_check", "corruptness_check", corruptness_keys, false);
		get_uint(p, o, "docker.corruptness_check", "max_pixels", 1, UINT32_LIMIT, &cfg->max_pixels);
	}
	get_uint(p, d, "docker", "seed", 0, UINT32_LIMIT, &cfg->seed);
	get_sequence_length(p, d, "selected_sequence_length");

	o = get_object(p, d, "docker", "object_level");
	if (o)
		walk_keys(p, o, "docker.object_level", "object_level", no_keys, false);
	o = get_object(p, d, "docker", "datasource");
	if (o)
		walk_keys(p, o, "docker.datasource", "datasource", no_keys, true);
	o = get_object(p, d, "docker", "worker");
	if (o)
		walk_keys(p, o, "docker.worker", "worker", no_keys, true);
}

/* Checks between keys, once each key is valid on its own. */
static void check_cross(struct parse *p)
{
	struct run_config *cfg = p->cfg;

	if (method_reads_scores(cfg->method) && cfg->al_task_name[0] == '\0' && !p->al_task_name_bad) {
		cJSON *empty = cJSON_CreateString(cfg->al_task_name);
		oom_if_null(empty);
		errf(p, "docker.active_learning", "task_name", empty,
		     "is not allowed with method \"%s\": it needs the name of a prediction task",
		     method_name(cfg->method));
		cJSON_Delete(empty);
	}
}

static cJSON *add_object(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_AddObjectToObject(parent, key);

	oom_if_null(o);
	return o;
}

static void add_number(cJSON *o, const char *key, double v)
{
	oom_if_null(cJSON_AddNumberToObject(o, key, v));
}

static void add_string(cJSON *o, const char *key, const char *v)
{
	/* A struct zeroed by config_free has NULL strings. */
	oom_if_null(cJSON_AddStringToObject(o, key, v ? v : ""));
}

static void add_bool(cJSON *o, const char *key, bool v)
{
	oom_if_null(cJSON_AddBoolToObject(o, key, v));
}

/* The effective docker object, in SPEC 2's order. */
static cJSON *build_effective(const struct run_config *cfg)
{
	cJSON *e = cJSON_CreateObject(), *o;

	oom_if_null(e);
	add_bool(e, "enable_corruptness_check", cfg->enable_corruptness_check);
	add_bool(e, "remove_exact_duplicates", cfg->remove_exact_duplicates);
	add_string(e, "method", method_name(cfg->method));
	o = add_object(e, "stopping_condition");
	add_number(o, "n_samples", cfg->n_samples);
	add_number(o, "min_distance", cfg->min_distance);
	add_string(e, "scorer", cfg->scorer);
	o = add_object(e, "scorer_config");
	add_number(o, "frequency_penalty", cfg->frequency_penalty);
	add_number(o, "min_score", cfg->min_score);
	o = add_object(e, "active_learning");
	add_string(o, "task_name", cfg->al_task_name);
	add_string(o, "score_name", cfg->al_score_name);
	add_string(e, "embeddings", cfg->embeddings);
	add_bool(e, "normalize_embeddings", cfg->normalize_embeddings);
	add_string(e, "relevant_filenames_file", cfg->relevant_filenames_file);
	o = add_object(e, "datapool");
	if (cfg->datapool_name)
		add_string(o, "name", cfg->datapool_name);
	else
		oom_if_null(cJSON_AddNullToObject(o, "name"));
	add_bool(o, "keep_history", cfg->datapool_keep_history);
	o = add_object(e, "corruptness_check");
	add_number(o, "max_pixels", (double)cfg->max_pixels);
	add_number(e, "seed", (double)cfg->seed);
	/* Only when set: the effective config of every other run stays as it was. */
	if (cfg->sequence_length > 1)
		add_number(e, "selected_sequence_length", (double)cfg->sequence_length);
	return e;
}

void config_defaults(struct run_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enable_corruptness_check = true;
	cfg->remove_exact_duplicates = true;
	cfg->method = METHOD_CORESET;
	cfg->n_samples = -1;
	cfg->min_distance = -1;
	cfg->scorer = xstrdup("object-frequency");
	cfg->frequency_penalty = 0.25;
	cfg->min_score = 0.9;
	cfg->al_task_name = xstrdup("");
	cfg->al_score_name = xstrdup("uncertainty_margin");
	cfg->al_score_name_given = false;
	cfg->embeddings = xstrdup("");
	cfg->normalize_embeddings = true;
	cfg->relevant_filenames_file = xstrdup("");
	cfg->datapool_name = NULL;
	cfg->datapool_keep_history = true;
	cfg->max_pixels = 178956970;
	cfg->seed = 1;
	cfg->sequence_length = 1;
	plan_from_method(&cfg->plan, cfg->method, cfg->n_samples, cfg->min_distance,
			 cfg->al_task_name, cfg->al_score_name, cfg->seed);
	cfg->effective = build_effective(cfg);
}

void config_free(struct run_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->scorer);
	free(cfg->al_task_name);
	free(cfg->al_score_name);
	free(cfg->embeddings);
	free(cfg->relevant_filenames_file);
	free(cfg->datapool_name);
	strvec_free(&cfg->warnings);
	cJSON_Delete(cfg->effective);
	cJSON_Delete(cfg->lightly);
	plan_free(&cfg->plan);
	memset(cfg, 0, sizeof(*cfg));
}

/* "line L, column C" of byte offset pos; columns count characters, not bytes. */
static void syntax_error(struct strvec *errors, const char *source, const char *json, size_t len,
			 size_t pos)
{
	size_t line = 1, col = 1;
	struct buf near = { 0 };

	/*
	 * Where an object key should start ('{' or ',' before it) but no string
	 * does, cJSON reports one byte past the offending character
	 * ({"a": 1,} fails "after" the '}'); step back onto it.
	 */
	if (pos > 0 && pos <= len && !strchr(" \t\r\n", json[pos - 1])) {
		size_t i = pos - 1;
		while (i > 0 && strchr(" \t\r\n", json[i - 1]))
			i--;
		if (i > 0 && (json[i - 1] == '{' || json[i - 1] == ','))
			pos--;
	}
	for (size_t i = 0; i < pos && i < len; i++) {
		if (json[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)json[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	if (pos >= len) {
		strvec_pushf(errors, "%s: invalid JSON at line %zu, column %zu: unexpected end of the text",
			     source, line, col);
		return;
	}
	size_t n = strcspn(json + pos, "\r\n");
	char *raw = xmalloc(n + 1);
	memcpy(raw, json + pos, n);
	raw[n] = '\0';
	char *esc = key_text(raw);
	buf_puts(&near, "");
	put_cut(&near, esc, strlen(esc), NEAR_TEXT_MAX);
	strvec_pushf(errors, "%s: invalid JSON at line %zu, column %zu, near \"%s\"",
		     source, line, col, near.data);
	buf_free(&near);
	free(esc);
	free(raw);
}

/*
 * The V4 config (SPEC 2.1): Lightly's DockerWorkerConfigV4. Every key has a
 * JSON name (the models' alias, mostly camelCase) and a snake_case field
 * name; both are accepted, both at once is a duplicate. Optional keys given
 * as null are unset, as in Lightly's models.
 */
enum v4_kind {
	V4_OWN,		/* read by the caller */
	V4_OBJ,		/* an object walked as its own level */
	V4_NOEFFECT,	/* accepted without effect (or an error when set): ne */
};

static const struct v4key {
	const char *level;	/* "docker", "docker.datasource", "selection", "input", ... */
	const char *json, *snake;
	enum v4_kind kind;
	struct noeffect ne;	/* V4_NOEFFECT */
} v4_keys[] = {
	{ "docker", "checkpoint", "checkpoint", V4_NOEFFECT, { NULL, "\"\"", T_STR, 0, NULL } },
	{ "docker", "checkpointRunId", "checkpoint_run_id", V4_NOEFFECT, { NULL, "null", T_STR, 0, NULL } },
	{ "docker", "corruptnessCheck", "corruptness_check", V4_OBJ, { 0 } },
	{ "docker", "datasource", "datasource", V4_OBJ, { 0 } },
	{ "docker", "crops", "crops", V4_NOEFFECT, { NULL, NULL, T_OBJ, NE_UNSUPPORTED, "it has no object-level selection or crops" } },
	{ "docker", "embeddings", "embeddings", V4_OWN, { 0 } },
	{ "docker", "enableTraining", "enable_training", V4_NOEFFECT, { NULL, "false", T_BOOL, NE_UNSUPPORTED, "it does not train a model" } },
	{ "docker", "training", "training", V4_OBJ, { 0 } },
	{ "docker", "normalizeEmbeddings", "normalize_embeddings", V4_OWN, { 0 } },
	{ "docker", "numProcesses", "num_processes", V4_NOEFFECT, { NULL, "-1", T_NUM, 0, NULL } },
	{ "docker", "numThreads", "num_threads", V4_NOEFFECT, { NULL, "-1", T_NUM, 0, NULL } },
	{ "docker", "outputImageFormat", "output_image_format", V4_NOEFFECT, { NULL, "\"png\"", T_STR, 0, NULL } },
	{ "docker", "pretagging", "pretagging", V4_NOEFFECT, { NULL, "false", T_BOOL, NE_UNSUPPORTED, "it has no pretagging model" } },
	{ "docker", "pretaggingUpload", "pretagging_upload", V4_NOEFFECT, { NULL, "false", T_BOOL, 0, NULL } },
	{ "docker", "relevantFilenamesFile", "relevant_filenames_file", V4_OWN, { 0 } },
	{ "docker", "selectedSequenceLength", "selected_sequence_length", V4_OWN, { 0 } },
	{ "docker", "uploadReport", "upload_report", V4_NOEFFECT, { NULL, "true", T_BOOL, 0, NULL } },
	{ "docker", "useDatapool", "use_datapool", V4_OWN, { 0 } },
	{ "docker", "shutdownWhenJobFinished", "shutdown_when_job_finished", V4_NOEFFECT, { NULL, "false", T_BOOL, 0, NULL } },
	{ "docker", "cacheSize", "cache_size", V4_NOEFFECT, { NULL, NULL, T_NUM, 0, NULL } },
	{ "docker.corruptnessCheck", "corruptionThreshold", "corruption_threshold", V4_NOEFFECT, { NULL, "0.1", T_NUM, 0, NULL } },
	{ "docker.datasource", "bypassVerify", "bypass_verify", V4_NOEFFECT, { NULL, "false", T_BOOL, 0, NULL } },
	{ "docker.datasource", "enableDatapoolUpdate", "enable_datapool_update", V4_NOEFFECT, { NULL, "true", T_BOOL, 0, NULL } },
	{ "docker.datasource", "processAll", "process_all", V4_NOEFFECT, { NULL, "false", T_BOOL, 0, NULL } },
	{ "docker.datasource", "inputExpiration", "input_expiration", V4_NOEFFECT, { NULL, NULL, T_OBJ, 0, NULL } },
	{ "docker.training", "taskName", "task_name", V4_NOEFFECT, { NULL, "\"\"", T_STR, 0, NULL } },
	{ "selection", "nSamples", "n_samples", V4_OWN, { 0 } },
	{ "selection", "proportionSamples", "proportion_samples", V4_OWN, { 0 } },
	{ "selection", "strategies", "strategies", V4_OWN, { 0 } },
	{ "selection", "lightlyPathRegex", "lightly_path_regex", V4_NOEFFECT, { NULL, NULL, T_STR, NE_UNSUPPORTED, "it does not read information from file names" } },
	{ "selection", "autoTasks", "auto_tasks", V4_NOEFFECT, { NULL, "[]", T_ARR, NE_UNSUPPORTED, "it has no auto tasks" } },
	{ "entry", "input", "input", V4_OWN, { 0 } },
	{ "entry", "strategy", "strategy", V4_OWN, { 0 } },
	{ "input", "type", "type", V4_OWN, { 0 } },
	{ "input", "task", "task", V4_OWN, { 0 } },
	{ "input", "score", "score", V4_OWN, { 0 } },
	{ "input", "key", "key", V4_OWN, { 0 } },
	{ "input", "name", "name", V4_OWN, { 0 } },
	{ "input", "datasetId", "dataset_id", V4_OWN, { 0 } },
	{ "input", "tagName", "tag_name", V4_OWN, { 0 } },
	{ "input", "randomSeed", "random_seed", V4_OWN, { 0 } },
	{ "input", "categories", "categories", V4_OWN, { 0 } },
	{ "strategy", "type", "type", V4_OWN, { 0 } },
	{ "strategy", "stopping_condition_minimum_distance", "stopping_condition_minimum_distance", V4_OWN, { 0 } },
	{ "strategy", "threshold", "threshold", V4_OWN, { 0 } },
	{ "strategy", "operation", "operation", V4_OWN, { 0 } },
	{ "strategy", "target", "target", V4_OWN, { 0 } },
	{ "strategy", "numNearestNeighbors", "num_nearest_neighbors", V4_OWN, { 0 } },
	{ "strategy", "stoppingConditionMinimumTypicality", "stopping_condition_minimum_typicality", V4_OWN, { 0 } },
	{ "strategy", "strength", "strength", V4_OWN, { 0 } },
	{ "strategy", "stoppingConditionMaxSum", "stopping_condition_max_sum", V4_OWN, { 0 } },
	{ "strategy", "targetRange", "target_range", V4_NOEFFECT, { NULL, NULL, T_OBJ, NE_UNSUPPORTED, "it has no target ranges; stoppingConditionMaxSum stops at a sum" } },
	{ "strategy", "distribution", "distribution", V4_OWN, { 0 } },
};

/* 2.2-era docker keys that V4 has not: named in the unknown-key message. */
static const char *const v22_only_keys[] = {
	"method", "stopping_condition", "scorer", "scorer_config", "active_learning", "seed",
	"remove_exact_duplicates", "enable_corruptness_check", "datapool", NULL,
};

#define V4_MAX_ENTRIES		256
#define MAX_STRENGTH		1e9

static const struct v4key *v4_find(const char *level, const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(v4_keys); i++)
		if (strcmp(v4_keys[i].level, level) == 0 &&
		    (strcmp(v4_keys[i].json, key) == 0 || strcmp(v4_keys[i].snake, key) == 0))
			return &v4_keys[i];
	return NULL;
}

static void v4_walk(struct parse *p, const cJSON *obj, const char *path, const char *level);

/*
 * Every member of a V4 object: duplicates (the same name twice, or the
 * JSON and the field name together), unknown keys, keys without effect, and
 * the objects below (V4_OBJ) walked in turn.
 */
static void v4_walk(struct parse *p, const cJSON *obj, const char *path, const char *level)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		const struct v4key *k = v4_find(level, c->string);
		size_t same = 0, twin = 0;
		char *kt = key_text(c->string);

		for (const cJSON *d = obj->child; d != c; d = d->next) {
			same += strcmp(d->string, c->string) == 0;
			twin += k && strcmp(d->string, c->string) != 0 && v4_find(level, d->string) == k;
		}
		if (same == 1)
			errf(p, path, kt, NULL, "key given twice");
		else if (same == 0 && twin == 1)
			errf(p, path, kt, NULL, "key given twice (as \"%s\" and \"%s\")", k->json, k->snake);
		if (same > 0 || twin > 0 || (k && k->kind == V4_OWN)) {
			free(kt);
			continue;
		}
		if (k == NULL) {
			if (strcmp(level, "docker") == 0 && strcmp(c->string, "method") == 0)
				errf(p, path, kt, c, "is not allowed with selection (a V4 config says what to select in selection)");
			else if (strcmp(level, "docker") == 0 && in_list(v22_only_keys, c->string))
				errf(p, path, kt, NULL, "unknown key (a 2.2-era key; a V4 config has none)");
			else
				errf(p, path, kt, NULL, "unknown key");
		} else if (cJSON_IsNull(c)) {
			/* Optional keys: null is unset. */
		} else if (k->kind == V4_OBJ) {
			if (!cJSON_IsObject(c)) {
				errf(p, path, kt, c, "is not an object");
			} else {
				char *sub = xasprintf("%s.%s", path, kt);
				char *sublevel = xasprintf("%s.%s", level, k->json);
				v4_walk(p, c, sub, sublevel);
				free(sublevel);
				free(sub);
			}
		} else {
			apply_noeffect(p, &k->ne, path, kt, c);
		}
		free(kt);
	}
}

/*
 * An own member of a V4 object under its JSON or its field name, when of
 * one of the types; NULL when absent, null, or of another type (an error).
 */
static const cJSON *v4_get(struct parse *p, const cJSON *obj, const char *path, const char *level,
			   const char *json, unsigned types)
{
	const struct v4key *k = v4_find(level, json);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, json);

	if (v == NULL && k)
		v = cJSON_GetObjectItemCaseSensitive(obj, k->snake);
	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	return get(p, obj, path, v->string, types);
}

/* Whether obj holds a non-null value for the key under either name. */
static bool v4_present(const cJSON *obj, const char *level, const char *json)
{
	const struct v4key *k = v4_find(level, json);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, json);

	if (v == NULL && k)
		v = cJSON_GetObjectItemCaseSensitive(obj, k->snake);
	return v != NULL && !cJSON_IsNull(v);
}

/* An enum member: its index in names[0..n), or -1 (absent, or an error). */
static int v4_enum(struct parse *p, const cJSON *obj, const char *path, const char *level,
		   const char *json, const char *(*name)(int), int n)
{
	const cJSON *v = v4_get(p, obj, path, level, json, T_STR);
	struct buf list = { 0 };

	if (v == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(v->valuestring, name(i)) == 0)
			return i;
	for (int i = 0; i < n; i++)
		buf_printf(&list, "%s\"%s\"", i ? ", " : "", name(i));
	errf(p, path, v->string, v, "is not one of %s", list.data);
	buf_free(&list);
	return -2;
}

static const char *input_name_i(int i) { return plan_input_name((enum plan_input)i); }
static const char *strategy_name_i(int i) { return plan_strategy_name((enum plan_strategy)i); }
static const char *operation_name_i(int i) { return plan_operation_name((enum plan_operation)i); }
static const char *distribution_name_i(int i) { return plan_distribution_name((enum plan_distribution)i); }
/* PLAN_PRED_NONE is no JSON value. */
static const char *pred_name_i(int i) { return plan_pred_name_name((enum plan_pred_name)(i + 1)); }

/* A number member checked by ok(x); *out unchanged when absent or wrong. Returns the value or NULL. */
static const cJSON *v4_number(struct parse *p, const cJSON *obj, const char *path, const char *level,
			      const char *json, bool (*ok)(double), const char *allowed, double *out)
{
	const cJSON *v = v4_get(p, obj, path, level, json, T_NUM);

	if (v == NULL)
		return NULL;
	if (ok && !ok(v->valuedouble)) {
		errf(p, path, v->string, v, "is not %s", allowed);
		return NULL;
	}
	*out = v->valuedouble;
	return v;
}

static bool nonneg(double x) { return x >= 0; }
static bool positive(double x) { return x > 0; }
static bool unit(double x) { return x >= 0 && x <= 1; }
static bool strength_ok(double x) { return fabs(x) <= MAX_STRENGTH; }
static bool knn_ok(double x) { return x >= 2 && x <= UINT32_LIMIT && x == floor(x); }
static bool n_samples_ok(double x) { return x == -1 || (x >= 1 && x <= COUNT_LIMIT && x == floor(x)); }

/* s holds only characters of set (and is not empty when nonempty). */
static bool chars_in(const char *s, const char *set, bool nonempty)
{
	return (!nonempty || s[0] != '\0') && strspn(s, set) == strlen(s);
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* A string member checked by ok; a copy in *out. */
static const cJSON *v4_string(struct parse *p, const cJSON *obj, const char *path, const char *level,
			      const char *json, bool (*ok)(const char *), const char *allowed, char **out)
{
	const cJSON *v = v4_get(p, obj, path, level, json, T_STR);

	if (v == NULL)
		return NULL;
	if (ok && !ok(v->valuestring)) {
		errf(p, path, v->string, v, "is not %s", allowed);
		return NULL;
	}
	free(*out);
	*out = xstrdup(v->valuestring);
	return v;
}

/* Lightly's pattern for task and score names, without "/" (a task is a folder). */
static bool task_ok(const char *s)
{
	return chars_in(s, ALNUM "_+=,.@:-", true) && task_name_ok(s);
}

static bool score_ok(const char *s)
{
	return chars_in(s, ALNUM "_+=,.@:/-", true);
}

static bool key_ok(const char *s)
{
	return s[0] != '\0';
}

static bool dataset_id_ok(const char *s)
{
	return strlen(s) == 24 && chars_in(s, "0123456789abcdef", true);
}

/* ^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$, at least 3 characters. */
static bool tag_name_ok(const char *s)
{
	return strlen(s) >= 3 && strspn(s, ALNUM) >= 1 && chars_in(s + 1, ALNUM " .:;=@_-", true);
}

/* What an input type reads, and what a strategy type reads, as JSON names. */
static const char *const input_fields[PLAN_INPUT_COUNT_][4] = {
	[PLAN_INPUT_EMBEDDINGS] = { "tagName", "datasetId" },
	[PLAN_INPUT_SCORES] = { "task", "score" },
	[PLAN_INPUT_METADATA] = { "key" },
	[PLAN_INPUT_PREDICTIONS] = { "task", "name", "categories" },
	[PLAN_INPUT_RANDOM] = { "randomSeed" },
};
static const char *const strategy_fields[PLAN_STRATEGY_COUNT_][4] = {
	[PLAN_STRATEGY_DIVERSITY] = { "stopping_condition_minimum_distance", "strength" },
	[PLAN_STRATEGY_WEIGHTS] = { "stoppingConditionMaxSum", "strength" },
	[PLAN_STRATEGY_THRESHOLD] = { "threshold", "operation" },
	[PLAN_STRATEGY_BALANCE] = { "distribution", "target", "strength" },
	[PLAN_STRATEGY_SIMILARITY] = { "strength" },
	[PLAN_STRATEGY_TYPICALITY] = { "numNearestNeighbors", "stoppingConditionMinimumTypicality", "strength" },
};

/*
 * A field another type reads: a warning (Lightly's models carry every field
 * on every entry); THRESHOLD's strength is an error (SPEC 4.8).
 */
static void v4_unused_fields(struct parse *p, const cJSON *obj, const char *path, const char *level,
			     const char *const fields[4], const char *type)
{
	struct parse w = { .cfg = p->cfg, .errors = &p->cfg->warnings };

	for (const cJSON *c = obj->child; c; c = c->next) {
		const struct v4key *k = v4_find(level, c->string);
		bool used = k == NULL || strcmp(k->json, "type") == 0 || k->kind != V4_OWN;

		for (size_t i = 0; i < 4 && fields[i] && !used; i++)
			used = strcmp(fields[i], k->json) == 0;
		if (used || cJSON_IsNull(c))
			continue;
		char *kt = key_text(c->string);
		if (strcmp(type, "THRESHOLD") == 0 && strcmp(k->json, "strength") == 0)
			errf(p, path, kt, c, "is not allowed with THRESHOLD (it filters, it has no strength)");
		else
			errf(&w, path, kt, c, "has no effect on %s", type);
		free(kt);
	}
}

static void v4_seed(struct parse *p, const cJSON *in, const char *path, struct plan_entry *e)
{
	const cJSON *v = v4_get(p, in, path, "input", "randomSeed", T_NUM);

	if (v == NULL)
		return;
	double x = v->valuedouble;
	/*
	 * |x| < 2^63 keeps the seed a signed 64-bit integer, so that the
	 * effective config prints it back as given (plan_to_json).
	 */
	if (x != floor(x) || fabs(x) >= 9223372036854775808.0) {
		errf(p, path, v->string, v, "is not an integer in (-2^63, 2^63)");
		return;
	}
	e->random_seed = x >= 0 ? (uint64_t)x : (uint64_t)0 - (uint64_t)(-x);
}

static void v4_categories(struct parse *p, const cJSON *in, const char *path, struct plan_entry *e)
{
	const cJSON *v = v4_get(p, in, path, "input", "categories", T_ARR), *c;

	if (v == NULL)
		return;
	if (v->child == NULL)
		errf(p, path, v->string, v, "is not a list of at least one category name");
	cJSON_ArrayForEach(c, v) {
		bool ok = cJSON_IsString(c) && c->valuestring[0] != '\0';
		for (size_t i = 0; ok && i < e->categories.n; i++)
			ok = strcmp(e->categories.v[i], c->valuestring) != 0;
		if (!ok) {
			errf(p, path, v->string, c, "is not a category name given once (a non-empty string)");
			return;
		}
		strvec_push(&e->categories, c->valuestring);
	}
}

static void v4_input(struct parse *p, const cJSON *in, const char *path, struct plan_entry *e)
{
	static const char *const task_rule = "a task name (a folder under .lightly/predictions/: characters A-Z a-z 0-9 _+=,.@:-, not \".\" or \"..\")";

	v4_string(p, in, path, "input", "task", task_ok, task_rule, &e->task);
	v4_string(p, in, path, "input", "score", score_ok, "a score name (characters A-Z a-z 0-9 _+=,.@:/-)", &e->score);
	v4_string(p, in, path, "input", "key", key_ok, "a metadata key path", &e->key);
	v4_string(p, in, path, "input", "datasetId", dataset_id_ok, "a dataset id (24 characters 0-9 a-f)", &e->dataset_id);
	v4_string(p, in, path, "input", "tagName", tag_name_ok, "a tag name (3 or more characters A-Z a-z 0-9 and \" .:;=@_-\", starting with a letter or digit)", &e->tag_name);
	int name = v4_enum(p, in, path, "input", "name", pred_name_i, PLAN_PRED_COUNT_ - 1);
	if (name >= 0)
		e->pred_name = (enum plan_pred_name)(name + 1);
	v4_seed(p, in, path, e);
	v4_categories(p, in, path, e);

	/* Required per type; a field that was given but wrong is reported already. */
	struct { enum plan_input in; const char *json; bool missing; } need[] = {
		{ PLAN_INPUT_SCORES, "task", e->task == NULL },
		{ PLAN_INPUT_SCORES, "score", e->score == NULL },
		{ PLAN_INPUT_METADATA, "key", e->key == NULL },
		{ PLAN_INPUT_PREDICTIONS, "task", e->task == NULL },
		{ PLAN_INPUT_PREDICTIONS, "name", e->pred_name == PLAN_PRED_NONE },
	};
	for (size_t i = 0; i < ARRAY_LEN(need); i++) {
		if (need[i].in != e->input || !need[i].missing || v4_present(in, "input", need[i].json))
			continue;
		errf(p, path, need[i].json, NULL, "missing (%s needs it)", plan_input_name(e->input));
	}
	v4_unused_fields(p, in, path, "input", input_fields[e->input], plan_input_name(e->input));
}

static void v4_target(struct parse *p, const cJSON *st, const char *path, struct plan_entry *e)
{
	const cJSON *t = v4_get(p, st, path, "strategy", "target", T_OBJ);
	double sum = 0;
	bool ok = true;

	if (t == NULL)
		return;
	char *tpath = xasprintf("%s.target", path);
	for (const cJSON *c = t->child; c; c = c->next) {
		char *kt = key_text(c->string);
		size_t same = 0;
		for (const cJSON *d = t->child; d != c; d = d->next)
			same += strcmp(d->string, c->string) == 0;
		if (same > 0) {
			if (same == 1)
				errf(p, tpath, kt, NULL, "key given twice");
			ok = false;
		} else if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0 && c->valuedouble <= 1)) {
			errf(p, tpath, kt, c, "is not a fraction in [0,1]");
			ok = false;
		} else {
			e->target = xreallocarray(e->target, e->ntarget + 1, sizeof(*e->target));
			e->target[e->ntarget].name = xstrdup(c->string);
			e->target[e->ntarget++].fraction = c->valuedouble;
			sum += c->valuedouble;
		}
		free(kt);
	}
	/* 1e-9: fractions written in decimal (0.1 + 0.2 + 0.7) may sum a hair above 1. */
	if (ok && sum > 1 + 1e-9)
		errf(p, path, "target", t, "has fractions summing to %.17g, more than 1", sum);
	free(tpath);
	if (e->distribution != PLAN_DIST_TARGET)
		errf(p, path, "target", t, "is not allowed with distribution \"%s\" (only with \"TARGET\")",
		     plan_distribution_name(e->distribution));
}

static void v4_strategy(struct parse *p, const cJSON *st, const char *path, struct plan_entry *e)
{
	int op, dist;
	double knn = 20;

	v4_number(p, st, path, "strategy", "stopping_condition_minimum_distance", nonneg, "a number >= 0", &e->min_distance);
	v4_number(p, st, path, "strategy", "threshold", NULL, NULL, &e->threshold);
	op = v4_enum(p, st, path, "strategy", "operation", operation_name_i, PLAN_OP_COUNT_);
	if (op >= 0)
		e->operation = (enum plan_operation)op;
	if (v4_number(p, st, path, "strategy", "numNearestNeighbors", knn_ok, "an integer >= 2", &knn))
		e->num_nearest_neighbors = (uint32_t)knn;
	v4_number(p, st, path, "strategy", "stoppingConditionMinimumTypicality", positive, "a number > 0", &e->min_typicality);
	if (v4_number(p, st, path, "strategy", "strength", strength_ok, "a number in [-1e9, 1e9]", &e->strength))
		e->strength_given = true;
	v4_number(p, st, path, "strategy", "stoppingConditionMaxSum", nonneg, "a number >= 0", &e->max_sum);
	dist = v4_enum(p, st, path, "strategy", "distribution", distribution_name_i, PLAN_DIST_COUNT_);
	if (dist >= 0)
		e->distribution = (enum plan_distribution)dist;
	v4_target(p, st, path, e);

	if (e->strategy == PLAN_STRATEGY_THRESHOLD) {
		if (!v4_present(st, "strategy", "threshold"))
			errf(p, path, "threshold", NULL, "missing (THRESHOLD needs it)");
		if (op == -1)
			errf(p, path, "operation", NULL, "missing (THRESHOLD needs one of \"SMALLER\", \"SMALLER_EQUAL\", \"BIGGER\", \"BIGGER_EQUAL\")");
	}
	if (e->strategy == PLAN_STRATEGY_BALANCE && e->distribution == PLAN_DIST_TARGET &&
	    !v4_present(st, "strategy", "target"))
		errf(p, path, "target", NULL, "missing (distribution \"TARGET\" needs {class name: fraction})");
	v4_unused_fields(p, st, path, "strategy", strategy_fields[e->strategy], plan_strategy_name(e->strategy));
}

/* One entry {input, strategy} of selection.strategies, at index i. */
static void v4_entry(struct parse *p, const cJSON *o, size_t i, int first[PLAN_STRATEGY_COUNT_])
{
	char *path = xasprintf("selection.strategies[%zu]", i);
	char *ipath = xasprintf("%s.input", path), *spath = xasprintf("%s.strategy", path);
	const cJSON *in, *st;
	int it = -1, stt = -1;

	if (!cJSON_IsObject(o)) {
		errf(p, path, "", o, "is not an object {input, strategy}");
		goto out;
	}
	v4_walk(p, o, path, "entry");
	in = v4_get(p, o, path, "entry", "input", T_OBJ);
	st = v4_get(p, o, path, "entry", "strategy", T_OBJ);
	if (!v4_present(o, "entry", "input"))
		errf(p, path, "input", NULL, "missing (each entry has an input and a strategy)");
	if (!v4_present(o, "entry", "strategy"))
		errf(p, path, "strategy", NULL, "missing (each entry has an input and a strategy)");
	if (in) {
		v4_walk(p, in, ipath, "input");
		it = v4_enum(p, in, ipath, "input", "type", input_name_i, PLAN_INPUT_COUNT_);
		if (it == -1 && !v4_present(in, "input", "type"))
			errf(p, ipath, "type", NULL, "missing (one of \"EMBEDDINGS\", \"SCORES\", \"METADATA\", \"PREDICTIONS\", \"RANDOM\")");
	}
	if (st) {
		v4_walk(p, st, spath, "strategy");
		stt = v4_enum(p, st, spath, "strategy", "type", strategy_name_i, PLAN_STRATEGY_COUNT_);
		if (stt == -1 && !v4_present(st, "strategy", "type"))
			errf(p, spath, "type", NULL, "missing (one of \"DIVERSITY\", \"WEIGHTS\", \"THRESHOLD\", \"BALANCE\", \"SIMILARITY\", \"TYPICALITY\")");
	}
	if (it < 0 || stt < 0)
		goto out;
	struct plan_entry *e = plan_add_entry(&p->cfg->plan, (enum plan_input)it, (enum plan_strategy)stt);
	if (!plan_pair_allowed(e->input, e->strategy)) {
		struct buf ok = { 0 };
		for (int s = 0; s < PLAN_STRATEGY_COUNT_; s++)
			if (plan_pair_allowed(e->input, (enum plan_strategy)s))
				buf_printf(&ok, "%s%s", ok.len ? ", " : "", plan_strategy_name((enum plan_strategy)s));
		errf(p, path, "", NULL, "input %s with strategy %s is not allowed (%s goes with %s)",
		     plan_input_name(e->input), plan_strategy_name(e->strategy),
		     plan_input_name(e->input), ok.data);
		buf_free(&ok);
	}
	if (e->strategy == PLAN_STRATEGY_DIVERSITY || e->strategy == PLAN_STRATEGY_SIMILARITY ||
	    e->strategy == PLAN_STRATEGY_TYPICALITY) {
		if (first[e->strategy] >= 0)
			errf(p, spath, "type", v4_get(p, st, spath, "strategy", "type", T_STR),
			     "is not allowed twice (selection.strategies[%d] has one)", first[e->strategy]);
		else
			first[e->strategy] = (int)i;
	}
	v4_input(p, in, ipath, e);
	v4_strategy(p, st, spath, e);
out:
	free(spath);
	free(ipath);
	free(path);
}

static void v4_selection(struct parse *p, const cJSON *sel)
{
	struct plan *plan = &p->cfg->plan;
	const cJSON *ns, *ps, *arr, *c;
	double n = -1, f = -1;
	int first[PLAN_STRATEGY_COUNT_];
	size_t i = 0;

	for (size_t s = 0; s < ARRAY_LEN(first); s++)
		first[s] = -1;
	v4_walk(p, sel, "selection", "selection");
	ns = v4_number(p, sel, "selection", "selection", "nSamples", n_samples_ok, "-1 or a count >= 1", &n);
	ps = v4_number(p, sel, "selection", "selection", "proportionSamples", unit, "a fraction in [0,1]", &f);
	if (ns && ps)
		errf(p, "selection", ps->string, ps, "is not allowed with %s (give one budget)", ns->string);
	else if (ns && n >= 1)
		plan->budget = PLAN_BUDGET_COUNT, plan->budget_value = n;
	else if (ps)
		plan->budget = PLAN_BUDGET_FRACTION, plan->budget_value = f;

	arr = v4_get(p, sel, "selection", "selection", "strategies", T_ARR);
	if (arr == NULL) {
		if (!v4_present(sel, "selection", "strategies"))
			errf(p, "selection", "strategies", NULL, "missing (a list of at least one {input, strategy})");
		return;
	}
	if (arr->child == NULL) {
		errf(p, "selection", "strategies", arr, "is not a list of at least one {input, strategy}");
		return;
	}
	cJSON_ArrayForEach(c, arr) {
		if (i == V4_MAX_ENTRIES) {
			errf(p, "selection", "strategies", NULL, "has more than %d entries", V4_MAX_ENTRIES);
			return;
		}
		v4_entry(p, c, i++, first);
	}
	/* A budget given but wrong is reported already; no second error for it. */
	bool stops = plan->budget != PLAN_BUDGET_NONE || (ns && ps) ||
		     (ns == NULL && v4_present(sel, "selection", "nSamples")) ||
		     (ps == NULL && v4_present(sel, "selection", "proportionSamples"));
	for (size_t k = 0; k < plan->nentries; k++) {
		const struct plan_entry *e = &plan->entries[k];
		stops |= (e->strategy == PLAN_STRATEGY_DIVERSITY && e->min_distance >= 0) ||
			 (e->strategy == PLAN_STRATEGY_WEIGHTS && e->max_sum >= 0) ||
			 (e->strategy == PLAN_STRATEGY_TYPICALITY && e->min_typicality > 0);
	}
	/* An entry that failed to parse may have held a stopping condition. */
	if (!stops && plan->nentries == i)
		errf(p, "selection", "", NULL, "no budget (nSamples or proportionSamples) and no stopping condition (stopping_condition_minimum_distance, stoppingConditionMaxSum, stoppingConditionMinimumTypicality): it would select every candidate");
}

static void v4_docker(struct parse *p, const cJSON *d)
{
	struct run_config *cfg = p->cfg;
	const cJSON *v;
	bool pool = false;

	v4_walk(p, d, "docker", "docker");
	if ((v = v4_get(p, d, "docker", "docker", "embeddings", T_STR)))
		parse_relative_path(p, d, v->string, &cfg->embeddings);
	if ((v = v4_get(p, d, "docker", "docker", "normalizeEmbeddings", T_BOOL)))
		cfg->normalize_embeddings = cJSON_IsTrue(v);
	if ((v = v4_get(p, d, "docker", "docker", "relevantFilenamesFile", T_STR)))
		parse_relative_path(p, d, v->string, &cfg->relevant_filenames_file);
	if ((v = v4_get(p, d, "docker", "docker", "useDatapool", T_BOOL)))
		pool = cJSON_IsTrue(v);
	if ((v = v4_get(p, d, "docker", "docker", "selectedSequenceLength", T_NUM)))
		get_sequence_length(p, d, v->string);
	/* SPEC 2.1: useDatapool means the datapool named "default". */
	if (pool)
		cfg->datapool_name = xstrdup("default");
}

/* A docker key that only V4 has: with workerType, it makes the config V4. */
static bool v4_only_key(const char *key)
{
	const struct v4key *k = v4_find("docker", key);

	return k && !in_list(docker_keys, key) && noeffect_find("", key) == NULL;
}

/*
 * Which form (SPEC 2.1): "selection" makes a config V4; so does
 * "workerType" with a docker key only V4 has. The web app stores every
 * 2.2-era config wrapped with "workerType": "FULL", so workerType alone
 * keeps a config 2.2 (docs/differences.md).
 */
static bool is_v4(const cJSON *top)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(top, "docker"), *c;

	if (cJSON_GetObjectItemCaseSensitive(top, "selection"))
		return true;
	if (!cJSON_GetObjectItemCaseSensitive(top, "workerType") || !cJSON_IsObject(d))
		return false;
	for (c = d->child; c; c = c->next)
		if (v4_only_key(c->string))
			return true;
	return false;
}

/* The effective V4 config: {workerType, docker (the keys with effect), selection}. */
static cJSON *build_effective_v4(const struct run_config *cfg)
{
	cJSON *e = cJSON_CreateObject(), *d;

	oom_if_null(e);
	add_string(e, "workerType", "FULL");
	d = add_object(e, "docker");
	add_string(d, "embeddings", cfg->embeddings);
	add_bool(d, "normalizeEmbeddings", cfg->normalize_embeddings);
	add_string(d, "relevantFilenamesFile", cfg->relevant_filenames_file);
	add_bool(d, "useDatapool", cfg->datapool_name != NULL);
	cJSON_AddItemToObject(e, "selection", plan_to_json(&cfg->plan));
	return e;
}

/*
 * The two forms: the top level is the wrapped form {"docker", "lightly"} when
 * it has a key "docker", "lightly" or "workerType" (Lightly's API wraps the
 * config as {workerType, docker, lightly}); none of these is a key of the
 * docker object, so the forms cannot be mistaken for each other and a
 * wrong "docker" value is reported as such instead of as an unknown key.
 * Otherwise the whole text is the bare docker object. In the wrapped form a
 * missing docker means all defaults, and any other top-level key is unknown.
 */
static bool is_wrapped(const cJSON *top)
{
	return cJSON_GetObjectItemCaseSensitive(top, "docker") ||
	       cJSON_GetObjectItemCaseSensitive(top, "lightly") ||
	       cJSON_GetObjectItemCaseSensitive(top, "workerType") ||
	       cJSON_GetObjectItemCaseSensitive(top, "selection");
}

static const char *const top_keys[] = { "docker", "lightly", "workerType", NULL };
static const char *const top_keys_v4[] = { "workerType", "docker", "lightly", "selection", NULL };

static void parse_top(struct parse *p, const cJSON *top)
{
	const cJSON *d = top, *v;
	bool v4 = is_v4(top);

	p->cfg->v4 = v4;
	/* config_defaults gave the default method's plan; a V4 config writes its own. */
	if (v4)
		plan_free(&p->cfg->plan);
	if (is_wrapped(top)) {
		for (const cJSON *c = top->child; c; c = c->next) {
			size_t same = 0;
			for (const cJSON *e = top->child; e != c; e = e->next)
				same += strcmp(e->string, c->string) == 0;
			char *k = key_text(c->string);
			if (same == 1)
				errf(p, "", k, NULL, "key given twice");
			else if (same == 0 && !v4 && !in_list(top_keys, c->string))
				errf(p, "", k, NULL, "unknown key (the top level holds \"docker\", \"lightly\" and \"workerType\")");
			else if (same == 0 && v4 && !in_list(top_keys_v4, c->string))
				errf(p, "", k, NULL, "unknown key (the top level holds \"workerType\", \"docker\", \"lightly\" and \"selection\")");
			free(k);
		}
		v = get(p, top, "", "workerType", T_STR);
		if (v && strcmp(v->valuestring, "FULL") != 0)
			errf(p, "", "workerType", v, "is not \"FULL\"");
		/* The lightly part is stored as given and never an error, whatever it holds. */
		v = cJSON_GetObjectItemCaseSensitive(top, "lightly");
		if (v) {
			p->cfg->lightly = cJSON_Duplicate(v, true);
			oom_if_null(p->cfg->lightly);
		}
		d = get_object(p, top, "", "docker");
	}
	if (!v4) {
		if (d)
			parse_docker(p, d);
		return;
	}
	if (d)
		v4_docker(p, d);
	v = get_object(p, top, "", "selection");
	if (v)
		v4_selection(p, v);
	else if (!cJSON_GetObjectItemCaseSensitive(top, "selection"))
		errf(p, "", "selection", NULL, "missing (a V4 config says what to select in selection)");
}

static int parse_text(const char *source, const char *json, size_t len, struct run_config *cfg,
		      struct strvec *errors)
{
	struct parse p = { .cfg = cfg, .errors = errors, .nerrors = errors->n };
	const char *nul;
	const char *end = NULL;
	cJSON *top = NULL;
	char *text;

	config_defaults(cfg);
	if (json == NULL && len == 0)
		json = "";
	nul = memchr(json, '\0', len);
	if (nul) {
		strvec_pushf(errors, "%s: the text holds a NUL byte at offset %zu", source,
			     (size_t)(nul - json));
		goto fail;
	}
	if (!utf8_valid(json, len)) {
		strvec_pushf(errors, "%s: the text is not valid UTF-8", source);
		goto fail;
	}
	/*
	 * cJSON wants the terminating NUL inside the length to reject trailing
	 * text; json need not be terminated, so parse a terminated copy. The
	 * error position comes back in end, not from the global
	 * cJSON_GetErrorPtr(), which other threads may overwrite.
	 */
	text = xmalloc(len + 1);
	memcpy(text, json, len);
	text[len] = '\0';
	top = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
	if (top == NULL) {
		syntax_error(errors, source, text, len, end ? (size_t)(end - text) : 0);
		free(text);
		goto fail;
	}
	free(text);
	if (!cJSON_IsObject(top)) {
		char *val = value_text(top, false);
		strvec_pushf(errors, "%s: %s is not an object", source, val);
		free(val);
		goto fail;
	}
	parse_top(&p, top);
	if (!cfg->v4)
		check_cross(&p);
	if (errors->n != p.nerrors)
		goto fail;
	cJSON_Delete(top);
	cJSON_Delete(cfg->effective);
	if (cfg->v4) {
		cfg->effective = build_effective_v4(cfg);
	} else {
		plan_from_method(&cfg->plan, cfg->method, cfg->n_samples, cfg->min_distance,
				 cfg->al_task_name, cfg->al_score_name, cfg->seed);
		cfg->effective = build_effective(cfg);
	}
	return 0;
fail:
	cJSON_Delete(top);
	config_free(cfg);
	return -EINVAL;
}

int config_parse(const char *json, size_t len, struct run_config *cfg, struct strvec *errors)
{
	return parse_text("config", json, len, cfg, errors);
}

int config_load_file(const char *path, struct run_config *cfg, struct strvec *errors)
{
	char *data;
	size_t len;
	int err = read_file(path, CONFIG_MAX_BYTES, &data, &len);

	if (err < 0) {
		memset(cfg, 0, sizeof(*cfg));
		/* read_file says EINVAL for a directory or device. */
		if (err == -EINVAL)
			strvec_pushf(errors, "%s: not a regular file", path);
		else
			strvec_pushf(errors, "%s: %s", path, strerror(-err));
		return err;
	}
	err = parse_text(path, data, len, cfg, errors);
	free(data);
	return err;
}

size_t config_budget(const struct run_config *cfg, size_t n)
{
	double f = cfg->n_samples;

	if (!(f > 0))
		return SIZE_MAX;
	if (f <= 1)
		return plan_fraction_k(f, n);
	if (f >= (double)SIZE_MAX)
		return SIZE_MAX;
	return (size_t)f;
}

const struct plan *config_plan(const struct run_config *cfg)
{
	return &cfg->plan;
}

char *config_effective_json(const struct run_config *cfg)
{
	cJSON *tmp = NULL;
	const cJSON *e = cfg->effective;
	char *s, *out;

	if (e == NULL) {
		tmp = build_effective(cfg);
		e = tmp;
	}
	s = cJSON_PrintUnformatted(e);
	oom_if_null(s);
	cJSON_Delete(tmp);
	/* Copied so that the caller frees with free() whatever cJSON's hooks are. */
	out = xstrdup(s);
	cJSON_free(s);
	return out;
}
