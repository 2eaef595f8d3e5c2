/*
 * dconf: winnowd.json. Every key is checked; an unknown key, a key given
 * twice or a value of the wrong type is an error naming the key, so a typo
 * never silently falls back to a default.
 */
#include "dconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api.h"

static const char *const known[] = {
	"url", "allow_http", "worker_name", "labels", "token", "token_file", "state_dir",
	"poll_interval", "poll_wait", "concurrent_runs", "threads_per_run", "keep_runs", "log_level",
	"ca_file", "dataset_roots",
	"s3",
};

void dconf_free(struct dconf *c)
{
	free(c->url);
	free(c->name);
	strvec_free(&c->labels);
	strvec_free(&c->dataset_roots);
	free_secret(c->token);
	free(c->token_source);
	free(c->state_dir);
	free(c->ca_file);
	free(c->s3_endpoint);
	free(c->s3_region);
	free(c->s3_access_key_id);
	free_secret(c->s3_secret_access_key);
	memset(c, 0, sizeof(*c));
}

/* Trims trailing whitespace (a token file usually ends with a newline). */
static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static int read_token_file(const char *path, char **out)
{
	char *data = NULL;
	size_t len;
	int rc = read_file(path, 4096, &data, &len);

	if (rc < 0)
		return rc;
	rtrim(data);
	*out = data;
	return 0;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); rc = -EINVAL; goto out; } while (0)

static int get_string(cJSON *root, const char *key, char **dst, char *err, size_t errlen,
		      const char *path)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
		snprintf(err, errlen, "%s: %s must be a non-empty string", path, key);
		return -EINVAL;
	}
	free(*dst);
	*dst = xstrdup(v->valuestring);
	return 0;
}

static int get_number(cJSON *root, const char *key, double *dst, double min, double max,
		      bool integral, char *err, size_t errlen, const char *path)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (v == NULL)
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max || (integral && v->valuedouble != floor(v->valuedouble))) {
		snprintf(err, errlen, "%s: %s must be %s from %g to %g", path, key,
			 integral ? "an integer" : "a number", min, max);
		return -EINVAL;
	}
	*dst = v->valuedouble;
	return 0;
}

/* True when the host of "host[:port][/...]" is a loopback address or localhost. */
static bool url_is_loopback(const char *hp)
{
	char host[256];
	size_t n;

	if (hp[0] == '[') {
		n = strcspn(hp + 1, "]");
		if (hp[1 + n] != ']' || n >= sizeof(host))
			return false;
		memcpy(host, hp + 1, n);
	} else {
		n = strcspn(hp, ":/");
		if (n >= sizeof(host))
			return false;
		memcpy(host, hp, n);
	}
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return true;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

int dconf_load(const char *path, struct dconf *c, char *err, size_t errlen)
{
	char *text = NULL, host[256] = "winnowd";
	size_t len;
	cJSON *root = NULL, *it;
	int rc;
	double num;

	memset(c, 0, sizeof(*c));
	c->state_dir = xstrdup("/var/lib/winnow");
	c->poll_interval = 5;
	c->poll_wait = 25;
	c->concurrent_runs = 1;
	c->keep_runs = 20;
	c->log_level = LOG_LVL_INFO;
	c->s3_path_style = -1;
	rc = read_file(path, 1 << 20, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL || !cJSON_IsObject(root))
		BAD("%s: not a JSON object", path);
	cJSON_ArrayForEach(it, root) {
		bool ok = false;
		for (size_t i = 0; i < ARRAY_LEN(known); i++)
			ok |= strcmp(it->string, known[i]) == 0;
		if (!ok)
			BAD("%s: unknown key \"%s\"", path, it->string);
		for (cJSON *o = it->next; o != NULL; o = o->next)
			if (strcmp(o->string, it->string) == 0)
				BAD("%s: key \"%s\" given twice", path, it->string);
	}
	if ((rc = get_string(root, "url", &c->url, err, errlen, path)) < 0 ||
	    (rc = get_string(root, "worker_name", &c->name, err, errlen, path)) < 0 ||
	    (rc = get_string(root, "token", &c->token, err, errlen, path)) < 0 ||
	    (rc = get_string(root, "state_dir", &c->state_dir, err, errlen, path)) < 0)
		goto out;
	if ((rc = get_string(root, "ca_file", &c->ca_file, err, errlen, path)) < 0)
		goto out;
	/* Checked here so that a typo is a config error, not a TLS error at every call. */
	if (c->ca_file != NULL && access(c->ca_file, R_OK) < 0)
		BAD("%s: ca_file %s: %s", path, c->ca_file, strerror(errno));
	if (c->url == NULL)
		BAD("%s: url (the web app, e.g. \"http://127.0.0.1:8080\") is required", path);
	if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
		BAD("%s: url must start with http:// or https://", path);
	if (strchr(c->url, '?') != NULL)
		BAD("%s: url must not hold a query (put the token in \"token\")", path);
	for (size_t n = strlen(c->url); n > 0 && c->url[n - 1] == '/'; n--)
		c->url[n - 1] = '\0';
	it = cJSON_GetObjectItemCaseSensitive(root, "allow_http");
	if (it != NULL && !cJSON_IsBool(it))
		BAD("%s: allow_http must be true or false", path);
	c->allow_http = cJSON_IsTrue(it);
	/* The token travels in every request: in the clear only on this machine. */
	if (strncmp(c->url, "http://", 7) == 0 && !url_is_loopback(c->url + 7) && !c->allow_http)
		BAD("%s: url: plain http:// is accepted only to this machine (127.0.0.0/8, ::1, "
		    "localhost); use https://, or set \"allow_http\": true to send the token "
		    "unencrypted over the network", path);
	if (c->name == NULL) {
		/* The host's name, made a worker name (SPEC 7): "gpu-1.lab" -> "gpu-1-lab". */
		if (gethostname(host, sizeof(host) - 1) < 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		for (char *p = host; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
				*p = '-';
		c->name = api_name_ok(API_NAME_WORKER, host) ? xstrdup(host) : xasprintf("winnowd-%.64s", host);
		if (!api_name_ok(API_NAME_WORKER, c->name)) {
			free(c->name);
			c->name = xstrdup("winnowd");
		}
	} else if (!api_name_ok(API_NAME_WORKER, c->name)) {
		BAD("%s: worker_name: %s", path, api_name_rule(API_NAME_WORKER));
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "labels");
	if (it != NULL) {
		cJSON *l;
		if (!cJSON_IsArray(it))
			BAD("%s: labels must be an array of strings", path);
		cJSON_ArrayForEach(l, it) {
			if (!cJSON_IsString(l) || l->valuestring[0] == '\0')
				BAD("%s: labels must be an array of non-empty strings", path);
			strvec_push(&c->labels, l->valuestring);
		}
	}
	/* Where relative LOCAL datasources resolve (SPEC 3, lib/dsroot.c); each an existing folder. */
	it = cJSON_GetObjectItemCaseSensitive(root, "dataset_roots");
	if (it != NULL) {
		cJSON *l;
		struct stat sb;
		if (!cJSON_IsArray(it))
			BAD("%s: dataset_roots must be an array of folders", path);
		cJSON_ArrayForEach(l, it) {
			if (!cJSON_IsString(l) || l->valuestring[0] != '/')
				BAD("%s: dataset_roots must be an array of absolute folder paths", path);
			if (stat(l->valuestring, &sb) < 0 || !S_ISDIR(sb.st_mode))
				BAD("%s: dataset_roots: %s is not a folder", path, l->valuestring);
			strvec_push(&c->dataset_roots, l->valuestring);
		}
	}
	num = c->poll_interval;
	if ((rc = get_number(root, "poll_interval", &num, 0.1, 3600, false, err, errlen, path)) < 0)
		goto out;
	c->poll_interval = num;
	num = c->poll_wait;
	if ((rc = get_number(root, "poll_wait", &num, 0, 60, false, err, errlen, path)) < 0)
		goto out;
	c->poll_wait = num;
	num = c->concurrent_runs;
	if ((rc = get_number(root, "concurrent_runs", &num, 1, 64, true, err, errlen, path)) < 0)
		goto out;
	c->concurrent_runs = (int)num;
	num = c->threads_per_run;
	if ((rc = get_number(root, "threads_per_run", &num, 0, 1024, true, err, errlen, path)) < 0)
		goto out;
	c->threads_per_run = (int)num;
	num = c->keep_runs;
	if ((rc = get_number(root, "keep_runs", &num, 0, 1000000, true, err, errlen, path)) < 0)
		goto out;
	c->keep_runs = (int)num;
	it = cJSON_GetObjectItemCaseSensitive(root, "log_level");
	if (it != NULL) {
		static const struct { const char *name; enum log_level lvl; } lv[] = {
			{ "error", LOG_LVL_ERR }, { "warning", LOG_LVL_WARNING },
			{ "notice", LOG_LVL_NOTICE }, { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
		};
		bool ok = false;
		for (size_t i = 0; cJSON_IsString(it) && i < ARRAY_LEN(lv); i++) {
			if (strcmp(it->valuestring, lv[i].name) == 0) {
				c->log_level = lv[i].lvl;
				ok = true;
			}
		}
		if (!ok)
			BAD("%s: log_level must be one of error, warning, notice, info, debug", path);
	}

	it = cJSON_GetObjectItemCaseSensitive(root, "s3");
	if (it != NULL) {
		static const char *const s3keys[] = {
			"endpoint", "region", "access_key_id", "secret_access_key", "path_style",
		};
		cJSON *k;
		if (!cJSON_IsObject(it))
			BAD("%s: s3 must be an object", path);
		cJSON_ArrayForEach(k, it) {
			bool ok = false;
			for (size_t i = 0; i < ARRAY_LEN(s3keys); i++)
				ok |= strcmp(k->string, s3keys[i]) == 0;
			if (!ok)
				BAD("%s: unknown key \"s3.%s\"", path, k->string);
		}
		if ((rc = get_string(it, "endpoint", &c->s3_endpoint, err, errlen, path)) < 0 ||
		    (rc = get_string(it, "region", &c->s3_region, err, errlen, path)) < 0 ||
		    (rc = get_string(it, "access_key_id", &c->s3_access_key_id, err, errlen, path)) < 0 ||
		    (rc = get_string(it, "secret_access_key", &c->s3_secret_access_key, err, errlen,
				     path)) < 0)
			goto out;
		k = cJSON_GetObjectItemCaseSensitive(it, "path_style");
		if (k != NULL && !cJSON_IsBool(k))
			BAD("%s: s3.path_style must be true or false", path);
		if (k != NULL)
			c->s3_path_style = cJSON_IsTrue(k);
	}

	/* The token: inline, a file, the environment, a systemd credential. */
	if (c->token != NULL) {
		c->token_source = xstrdup("token");
	} else {
		cJSON *tf = cJSON_GetObjectItemCaseSensitive(root, "token_file");
		const char *env = getenv("WINNOW_TOKEN"), *cred = getenv("CREDENTIALS_DIRECTORY");
		if (tf != NULL) {
			if (!cJSON_IsString(tf) || tf->valuestring[0] == '\0')
				BAD("%s: token_file must be a non-empty string", path);
			rc = read_token_file(tf->valuestring, &c->token);
			if (rc < 0)
				BAD("%s: token_file %s: %s", path, tf->valuestring, strerror(-rc));
			c->token_source = xasprintf("token_file %s", tf->valuestring);
		} else if (env != NULL && env[0] != '\0') {
			c->token = xstrdup(env);
			c->token_source = xstrdup("$WINNOW_TOKEN");
		} else if (cred != NULL && cred[0] != '\0') {
			char *p = xasprintf("%s/winnow-token", cred);
			rc = read_token_file(p, &c->token);
			if (rc < 0) {
				snprintf(err, errlen, "%s: no token: credential %s: %s", path, p, strerror(-rc));
				free(p);
				rc = -EINVAL;
				goto out;
			}
			free(p);
			c->token_source = xstrdup("credential winnow-token");
		}
	}
	if (c->token == NULL || c->token[0] == '\0')
		BAD("%s: token: none given (set \"token\" or \"token_file\", $WINNOW_TOKEN, "
		    "or a systemd credential winnow-token)", path);
	for (const char *p = c->token; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			BAD("%s: token: holds a space or control character", path);
	rc = 0;
out:
	cJSON_Delete(root);
	free(text);
	if (rc < 0)
		dconf_free(c);
	return rc;
}
