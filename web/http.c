/*
 * http: helpers shared by the route handlers. Every error reply is JSON with
 * a message and a short code, so that bad input is always a 4xx with a body.
 */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <microhttpd.h>

#include "api.h"
#include "db.h"
#include "log.h"
#include "util.h"

struct dbconn *req_db(struct req *r)
{
	if (r->c == NULL)
		r->c = db_acquire(r->ws->db);
	return r->c;
}

void req_db_release(struct req *r)
{
	if (r->c != NULL) {
		db_release(r->ws->db, r->c);
		r->c = NULL;
	}
}

const char *req_query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void resp_json(struct resp *out, int status, cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	cJSON_Delete(j);
	if (s == NULL)
		fatalx("out of memory printing JSON");
	free(out->body);
	out->status = status;
	out->body = s;
	out->len = strlen(s);
	out->ctype = "application/json";
}

/* The general code of a status, for a code outside Lightly's enum (a bug). */
static const char *status_code(int status)
{
	switch (status) {
	case 401: return "UNAUTHORIZED";
	case 403: return "FORBIDDEN";
	case 404: return "NOT_FOUND";
	case 409: return "CONFLICT";
	case 413: return "PAYLOAD_TOO_LARGE";
	default: return status >= 500 ? "MALFORMED_RESPONSE" : "BAD_REQUEST";
	}
}

void resp_no_content(struct resp *out)
{
	free(out->body);
	out->body = xstrdup("");
	out->len = 0;
	out->ctype = "application/json";
	out->status = 204;
}

void resp_error(struct resp *out, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	cJSON *j = cJSON_CreateObject();

	if (api_enum_value(API_E_ERROR_CODE, code) < 0) {	/* Lightly's ApiErrorCode: lib/api.c */
		log_warnx("bug: error code %s is not one of Lightly's ApiErrorCode", code);
		code = status_code(status);
	}
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(j, "code", code);
	cJSON_AddStringToObject(j, "error", msg);
	free(msg);
	resp_json(out, status, j);
}

void resp_db_error(struct resp *out, struct dbconn *c)
{
	/* SPEC 8: a database error is never an answer about the data. Whether
	   busy, locked or an I/O error, it is 503 with Retry-After, which
	   winnowd's outbox and Lightly's client retry; ApiErrorCode has no code
	   of a server's own failure, so it is a resource in use. The error was
	   logged where it happened (db_step, db_exec), with its SQL. */
	sqlite3 *h = db_handle(c);
	if ((sqlite3_errcode(h) & 0xff) == SQLITE_CONSTRAINT)	/* not logged by db_step */
		log_warnx("database error: %s", sqlite3_errmsg(h));
	resp_error(out, 503, "ILLEGAL_ACTION_RESOURCE_IN_USE", "database unavailable, retry");
	if (out->extra_header_name == NULL) {
		out->extra_header_name = xstrdup("Retry-After");
		out->extra_header_value = xstrdup("1");
	}
}

void resp_lookup_error(struct resp *out, struct dbconn *c, int rc, const char *code,
		       const char *msg)
{
	if (rc == -EIO)
		resp_db_error(out, c);
	else
		resp_error(out, 404, code, "%s", msg);
}

cJSON *req_json(struct req *r, struct resp *out)
{
	const char *end = NULL;

	if (r->body_len == 0) {
		resp_error(out, 400, "MALFORMED_REQUEST", "a JSON body is required");
		return NULL;
	}
	/* A \u0000 in a string would silently cut it short in every C string after. */
	for (size_t i = 0; i + 1 < r->body_len; i++) {
		if (r->body[i] != '\\')
			continue;
		if (r->body[i + 1] == 'u' && i + 5 < r->body_len && memcmp(r->body + i + 2, "0000", 4) == 0) {
			resp_error(out, 400, "MALFORMED_REQUEST", "a JSON string holds NUL (\\u0000) at "
				   "byte %zu", i);
			return NULL;
		}
		i++;	/* the escaped character */
	}
	/* The body is NUL-terminated: parsing len + 1 bytes lets cJSON's
	   "nothing after the value" check see the terminator; a NUL inside the
	   body ends the parse early and is caught by the end position. */
	cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->body_len + 1, &end, true);
	if (j != NULL && end != r->body + r->body_len) {
		cJSON_Delete(j);
		j = NULL;
	}
	if (j == NULL) {
		size_t at = end ? (size_t)(end - r->body) : 0;
		if (at > r->body_len)
			at = r->body_len;
		resp_error(out, 400, "MALFORMED_REQUEST", "invalid JSON at byte %zu", at);
		return NULL;
	}
	return j;
}

cJSON *req_json_object(struct req *r, struct resp *out)
{
	cJSON *j = req_json(r, out);

	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		resp_error(out, 400, "BAD_REQUEST", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static cJSON *field(cJSON *o, const char *key, bool required, struct resp *out, bool *absent)
{
	cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);

	*absent = f == NULL || cJSON_IsNull(f);
	if (*absent && required)
		resp_error(out, 400, "BAD_REQUEST", "%s is required", key);
	return f;
}

int json_str(cJSON *o, const char *key, bool required, const char **v, struct resp *out)
{
	bool absent;
	cJSON *f = field(o, key, required, out, &absent);

	if (absent)
		return required ? -1 : 0;
	if (!cJSON_IsString(f)) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be a string", key);
		return -1;
	}
	*v = f->valuestring;
	return 0;
}

int json_num(cJSON *o, const char *key, bool required, double *v, struct resp *out)
{
	bool absent;
	cJSON *f = field(o, key, required, out, &absent);

	if (absent)
		return required ? -1 : 0;
	if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be a number", key);
		return -1;
	}
	*v = f->valuedouble;
	return 0;
}

int json_int(cJSON *o, const char *key, bool required, int64_t *v, struct resp *out)
{
	double d = 0;
	bool absent;
	cJSON *f = field(o, key, required, out, &absent);

	if (absent)
		return required ? -1 : 0;
	if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be an integer", key);
		return -1;
	}
	d = f->valuedouble;
	/* 2^53: beyond it a double no longer holds every integer. */
	if (d != floor(d) || fabs(d) > 9007199254740992.0) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be an integer", key);
		return -1;
	}
	*v = (int64_t)d;
	return 0;
}

int json_enum(cJSON *o, const char *key, bool required, const char *const *allowed,
	      const char **v, struct resp *out)
{
	const char *s = NULL;

	if (json_str(o, key, required, &s, out) < 0)
		return -1;
	if (s == NULL)
		return 0;
	if (str_index(allowed, s) < 0) {
		struct buf b = { 0 };
		for (size_t i = 0; allowed[i]; i++)
			buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
		resp_error(out, 400, "BAD_REQUEST", "%s must be one of %s", key, b.data);
		buf_free(&b);
		return -1;
	}
	*v = s;
	return 0;
}

int json_str_array(cJSON *o, const char *key, bool required, cJSON **v, struct resp *out)
{
	bool absent;
	cJSON *f = field(o, key, required, out, &absent);
	cJSON *e;

	if (absent)
		return required ? -1 : 0;
	if (!cJSON_IsArray(f))
		goto bad;
	cJSON_ArrayForEach(e, f)
		if (!cJSON_IsString(e))
			goto bad;
	*v = f;
	return 0;
bad:
	resp_error(out, 400, "BAD_REQUEST", "%s must be an array of strings", key);
	return -1;
}

bool id_valid(const char *s)
{
	if (s == NULL)
		return false;
	for (int i = 0; i < 24; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[24] == '\0';
}

void random_hex(char *out, size_t nbytes)
{
	uint8_t b[64];
	size_t got = 0;

	if (nbytes > sizeof(b))
		fatalx("random_hex: %zu bytes", nbytes);
	while (got < nbytes) {
		ssize_t n = getrandom(b + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatalx("getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = "0123456789abcdef"[b[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

void id_new(char out[25])
{
	random_hex(out, 12);
}

int str_index(const char *const *list, const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return i;
	return -1;
}

int64_t req_query_int(struct req *r, struct resp *out, const char *key, int64_t def, int64_t min,
		      int64_t max)
{
	const char *s = req_query(r, key);
	char *end;

	if (s == NULL)
		return def;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		resp_error(out, 400, "BAD_REQUEST", "%s must be an integer in [%lld, %lld]", key,
			   (long long)min, (long long)max);
		return INT64_MIN;
	}
	return v;
}

int req_paging(struct req *r, struct resp *out, int64_t *limit, int64_t *offset)
{
	*limit = req_query_int(r, out, "pageSize", -1, 1, INT64_MAX / 2);
	if (*limit == INT64_MIN)
		return -1;
	*offset = req_query_int(r, out, "pageOffset", 0, 0, INT64_MAX / 2);
	if (*offset == INT64_MIN)
		return -1;
	return 0;
}

char *http_base_url(const struct web_settings *ws)
{
	if (ws->public_url != NULL)
		return xstrdup(ws->public_url);
	return xasprintf("%s://%s", ws->tls_cert ? "https" : "http", ws->listen);
}
