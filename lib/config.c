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
	{ "selected_sequence_length", "1", T_NUM, NE_UNSUPPORTED, "it selects single frames, not video sequences" },
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
	"datapool", "corruptness_check", "seed",
	/* objects that only hold keys without effect */
	"object_level", "datasource", "worker", NULL,
};
static const char *const stopping_keys[] = { "n_samples", "min_distance", NULL };
static const char *const scorer_config_keys[] = { "frequency_penalty", "min_score", NULL };
static const char *const al_keys[] = { "task_name", "score_name", NULL };
static const char *const datapool_keys[] = { "name", "keep_history", NULL };
static const char *const corruptness_keys[] = { "max_pixels", NULL };
static const char *const no_keys[] = { NULL };

static const char *const method_names[] = {
	[METHOD_RANDOM] = "random",
	[METHOD_CORESET] = "coreset",
	[METHOD_CORAL] = "coral",
	[METHOD_ACTIVE_LEARNING] = "active_learning",
};

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

static void parse_method(struct parse *p, const cJSON *d)
{
	const cJSON *v = get(p, d, "docker", "method", T_STR);

	if (v == NULL)
		return;
	for (size_t i = 0; i < ARRAY_LEN(method_names); i++) {
		if (strcmp(v->valuestring, method_names[i]) != 0)
			continue;
		if ((i == METHOD_CORAL || i == METHOD_ACTIVE_LEARNING) && !config_methods_with_scores) {
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

	if ((cfg->method == METHOD_CORAL || cfg->method == METHOD_ACTIVE_LEARNING) &&
	    cfg->al_task_name[0] == '\0' && !p->al_task_name_bad) {
		cJSON *empty = cJSON_CreateString(cfg->al_task_name);
		oom_if_null(empty);
		errf(p, "docker.active_learning", "task_name", empty,
		     "is not allowed with method \"%s\": it needs the name of a prediction task",
		     method_names[cfg->method]);
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
	       cJSON_GetObjectItemCaseSensitive(top, "workerType");
}

static const char *const top_keys[] = { "docker", "lightly", "workerType", NULL };

static void parse_top(struct parse *p, const cJSON *top)
{
	const cJSON *d = top, *v;

	if (is_wrapped(top)) {
		for (const cJSON *c = top->child; c; c = c->next) {
			size_t same = 0;
			for (const cJSON *e = top->child; e != c; e = e->next)
				same += strcmp(e->string, c->string) == 0;
			char *k = key_text(c->string);
			if (same == 1)
				errf(p, "", k, NULL, "key given twice");
			else if (same == 0 && !in_list(top_keys, c->string))
				errf(p, "", k, NULL, "unknown key (the top level holds \"docker\", \"lightly\" and \"workerType\")");
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
	if (d)
		parse_docker(p, d);
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
	check_cross(&p);
	if (errors->n != p.nerrors)
		goto fail;
	cJSON_Delete(top);
	cJSON_Delete(cfg->effective);
	cfg->effective = build_effective(cfg);
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
	if (f <= 1) {
		/* The 1e-6 keeps 0.07 of 100 at 7 although 0.07*100 is 7.000000000000001. */
		double k = ceil(f * (double)n - 1e-6);
		if (k <= 0)
			return 0;
		return k >= (double)n ? n : (size_t)k;
	}
	if (f >= (double)SIZE_MAX)
		return SIZE_MAX;
	return (size_t)f;
}

const char *method_name(enum method m)
{
	if ((size_t)m < ARRAY_LEN(method_names))
		return method_names[m];
	return "unknown";
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
