/*
 * datasource: a dataset's datasources per purpose (web/datasource.h).
 *
 * DESIGN. Rows of the datasources table (web/db.c, v4) are keyed by
 * (dataset, purpose); a dataset holds either one INPUT_OUTPUT row or INPUT
 * and LIGHTLY rows, each optional. A PUT of INPUT_OUTPUT replaces both; a PUT
 * of INPUT (LIGHTLY) beside an INPUT_OUTPUT row turns that row into the
 * LIGHTLY (INPUT) one, so that it keeps serving the other purpose. Which row
 * serves a purpose: INPUT the INPUT row, else INPUT_OUTPUT; LIGHTLY the
 * LIGHTLY row, else INPUT_OUTPUT, else INPUT (SPEC 3: `.lightly/` is read from
 * INPUT when no LIGHTLY one is set); INPUT_OUTPUT (Lightly's default when a GET
 * names no purpose) the INPUT_OUTPUT row, else INPUT, else LIGHTLY.
 *
 * Lightly's request is parsed by lib/api.c (api_parse_datasource: exactly
 * DatasourceConfigLOCAL or DatasourceConfigS3, other types answer 400 naming
 * `type`); winnow's PUT takes the same body plus `s3Endpoint`. A LOCAL
 * fullPath is stored as given and resolved under --dataset-root at every use
 * (lib/dsroot.c). Lightly's S3 model has no endpoint: a datasource set on
 * Lightly's route uses AWS's endpoint for its region (s3_endpoint NULL).
 */
#include "datasource.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "db.h"
#include "dsroot.h"
#include "models.h"
#include "util.h"

#define COLS "purpose, type, full_path, thumb_suffix, web_server_location, s3_endpoint, " \
	     "s3_region, s3_access_key_id, s3_secret_access_key, last_modified_at"

enum { C_PURPOSE, C_TYPE, C_PATH, C_THUMB, C_WEB, C_EP, C_REGION, C_KEY, C_SECRET, C_MOD, C_N };

struct row {
	char *f[C_N - 1];	/* the text columns, NULL when NULL */
	int64_t mod;
};

static void row_free(struct row *w)
{
	free_secret(w->f[C_SECRET]);
	w->f[C_SECRET] = NULL;
	for (int i = 0; i < C_N - 1; i++)
		free(w->f[i]);
	memset(w, 0, sizeof(*w));
}

static void row_take(sqlite3_stmt *st, struct row *w)
{
	for (int i = 0; i < C_N - 1; i++) {
		const unsigned char *t = sqlite3_column_text(st, i);
		w->f[i] = t ? xstrdup((const char *)t) : NULL;
	}
	w->mod = sqlite3_column_int64(st, C_MOD);
}

/* The purposes that serve purpose p, in order of preference. */
static const char *const *serving(const char *p)
{
	static const char *const input[] = { "INPUT", "INPUT_OUTPUT", NULL };
	static const char *const lightly[] = { "LIGHTLY", "INPUT_OUTPUT", "INPUT", NULL };
	static const char *const both[] = { "INPUT_OUTPUT", "INPUT", "LIGHTLY", NULL };

	if (strcmp(p, "INPUT") == 0)
		return input;
	if (strcmp(p, "LIGHTLY") == 0)
		return lightly;
	return both;
}

/* The row serving purpose p: 1 found, 0 none, -1 database error. */
static int row_serving(struct dbconn *c, const char *dataset, const char *p, struct row *w)
{
	const char *const *order = serving(p);
	int rc = SQLITE_DONE;

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; order[i]; i++) {
		sqlite3_stmt *st = db_stmt(c, "SELECT " COLS " FROM datasources "
					   "WHERE dataset_id = ? AND purpose = ?");
		db_bind_text(st, 1, dataset);
		db_bind_text(st, 2, order[i]);
		rc = db_step(st);
		if (rc == SQLITE_ROW)
			row_take(st, w);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/*
 * The reply for a row: Lightly's DatasourceConfigLOCAL/S3 exactly, built by
 * lib/api.c (winnow: false), or winnow's (plus s3Endpoint, null for AWS, and
 * lastModifiedAt). secret: the S3 secret to show (the mask, or the stored one).
 */
static cJSON *row_json(const struct row *w, bool winnow, const char *secret)
{
	bool s3 = w->f[C_TYPE] && strcmp(w->f[C_TYPE], "S3") == 0;
	struct api_datasource d = {
		.purpose = api_enum_value(API_E_PURPOSE, w->f[C_PURPOSE] ? w->f[C_PURPOSE] : ""),
		.type = s3 ? API_DS_S3 : API_DS_LOCAL,
		.thumb_suffix = w->f[C_THUMB],
		.full_path = w->f[C_PATH],
		.web_server_location = s3 ? NULL : w->f[C_WEB],
		.s3_region = w->f[C_REGION] ? w->f[C_REGION] : (char *)"us-east-1",
		.s3_access_key_id = w->f[C_KEY] ? w->f[C_KEY] : (char *)"",
		/* no stored credentials (the worker's own): both "" */
		.s3_secret_access_key = (char *)(w->f[C_SECRET] ? secret : ""),
	};
	char *text = api_build_datasource(&d);
	cJSON *o = text ? cJSON_Parse(text) : NULL;

	free_secret(text);
	if (o == NULL)
		o = cJSON_CreateObject();
	if (winnow && s3) {
		if (w->f[C_EP])
			cJSON_AddStringToObject(o, "s3Endpoint", w->f[C_EP]);
		else
			cJSON_AddNullToObject(o, "s3Endpoint");
	}
	if (winnow)
		json_add_i64(o, "lastModifiedAt", w->mod);
	return o;
}

/* ?purpose= of a GET: the value, def when absent, NULL after replying 400. */
static const char *query_purpose(struct req *r, struct resp *out, const char *def)
{
	const char *p = req_query(r, "purpose");

	if (p == NULL)
		return def;
	if (api_enum_value(API_E_PURPOSE, p) < 0) {
		resp_error(out, 400, "BAD_REQUEST", "purpose must be one of INPUT_OUTPUT, INPUT, LIGHTLY");
		return NULL;
	}
	return p;
}

/* The dataset exists (else 404, or 503 on a database error, after replying)? */
static bool dataset_or_404(struct dbconn *c, const char *id, struct resp *out)
{
	int rc = dataset_lookup(c, id);

	if (rc == 0)
		return true;
	resp_lookup_error(out, c, rc, "NOT_FOUND", "no such dataset");
	return false;
}

/*
 * May this caller read the stored secret? Only the worker holding a run of
 * the dataset (its scheduled run LOCKED by that worker: claimed, running);
 * every other caller, admins included, gets the mask (SPEC 8).
 */
static int secret_allowed(struct req *r, struct dbconn *c, bool *yes)
{
	*yes = false;
	if (r->who.role != ROLE_WORKER)
		return 0;
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM scheduled WHERE dataset_id = ? AND "
				   "state = 'LOCKED' AND worker_id = "
				   "(SELECT id FROM workers WHERE name = ?) LIMIT 1");
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, r->who.worker);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	*yes = rc == SQLITE_ROW;
	return 0;
}

static void get_one(struct req *r, struct resp *out, bool winnow)
{
	struct dbconn *c = req_db(r);
	const char *p = query_purpose(r, out, winnow ? "INPUT" : "INPUT_OUTPUT");
	struct row w;
	bool show = false;

	if (p == NULL || !dataset_or_404(c, r->params[0], out))
		return;
	int rc = row_serving(c, r->params[0], p, &w);
	if (rc < 0 || (winnow && secret_allowed(r, c, &show) < 0)) {
		row_free(&w);
		resp_db_error(out, c);
		return;
	}
	if (rc == 0) {
		resp_error(out, 404, "DATASET_DATASOURCE_UNKNOWN",
			   "the dataset has no datasource for %s yet", p);
		return;
	}
	cJSON *o = row_json(&w, winnow, show ? w.f[C_SECRET] : DS_SECRET_MASK);
	if (winnow && strcmp(p, "INPUT") == 0) {
		/* What winnowd needs besides: the LIGHTLY datasource, when another one serves it. */
		struct row l;
		rc = row_serving(c, r->params[0], "LIGHTLY", &l);
		if (rc < 0) {
			row_free(&w);
			cJSON_Delete(o);
			resp_db_error(out, c);
			return;
		}
		if (rc > 0 && strcmp(l.f[C_PURPOSE], w.f[C_PURPOSE]) != 0)
			cJSON_AddItemToObject(o, "lightly",
					      row_json(&l, true, show ? l.f[C_SECRET] : DS_SECRET_MASK));
		row_free(&l);
	}
	resp_json(out, 200, o);
	row_free(&w);
}

void h_datasource_get(struct req *r, struct resp *out)
{
	get_one(r, out, false);
}

void h_winnow_datasource_get(struct req *r, struct resp *out)
{
	get_one(r, out, true);
}

void h_datasource_all(struct req *r, struct resp *out)
{
	static const char *const order[] = { "INPUT_OUTPUT", "INPUT", "LIGHTLY" };
	struct dbconn *c = req_db(r);
	cJSON *a;

	if (!dataset_or_404(c, r->params[0], out))
		return;
	a = cJSON_CreateArray();
	for (size_t i = 0; i < ARRAY_LEN(order); i++) {
		sqlite3_stmt *st = db_stmt(c, "SELECT " COLS " FROM datasources "
					   "WHERE dataset_id = ? AND purpose = ?");
		struct row w;
		db_bind_text(st, 1, r->params[0]);
		db_bind_text(st, 2, order[i]);
		int rc = db_step(st);
		if (rc == SQLITE_ROW) {
			row_take(st, &w);
			cJSON_AddItemToArray(a, row_json(&w, false, DS_SECRET_MASK));
			row_free(&w);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			cJSON_Delete(a);
			resp_db_error(out, c);
			return;
		}
	}
	resp_json(out, 200, a);
}

/* The bucket of "s3://bucket[/prefix]" (n bytes at *b), or false. */
static bool s3_bucket(const char *path, const char **b, size_t *n)
{
	if (strncmp(path, "s3://", 5) != 0)
		return false;
	*b = path + 5;
	*n = strcspn(*b, "/");
	return *n > 0;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL || a[0] == '\0') ? (b == NULL || b[0] == '\0') : (b != NULL && strcmp(a, b) == 0);
}

/*
 * Is endpoint ep on the --s3-endpoint-allow list (SPEC 8: winnow has no admin
 * role yet, so the list is the only way to a non-AWS endpoint)? An entry
 * without a port allows every port of its scheme and host.
 */
static bool endpoint_allowed(const struct web_settings *ws, const char *ep)
{
	size_t n = strlen(ep);

	while (n > 0 && ep[n - 1] == '/')
		n--;
	for (size_t i = 0; i < ws->ns3_allow; i++) {
		const char *a = ws->s3_allow[i];
		size_t an = strlen(a);
		while (an > 0 && a[an - 1] == '/')
			an--;
		if (an > n || strncmp(ep, a, an) != 0)
			continue;
		const char *host = strstr(a, "://");
		bool port = host != NULL && memchr(host + 3, ':', an - (size_t)(host + 3 - a)) != NULL;
		if (n == an || (!port && ep[an] == ':'))
			return true;
	}
	return false;
}

/*
 * Stores the datasource d (parsed) for dataset id with endpoint ep (S3;
 * NULL: AWS). Replies 400/404/503 itself; 0 when stored.
 */
static int store(struct req *r, struct resp *out, struct api_datasource *d, const char *ep)
{
	struct dbconn *c = req_db(r);
	const char *purpose = api_enum_name(API_E_PURPOSE, d->purpose);
	char real[PATH_MAX], err[600];
	struct row old = { 0 };
	const char *secret = d->s3_secret_access_key;
	int rc;

	if (!dataset_or_404(c, r->params[0], out))
		return -1;
	if (d->type == API_DS_LOCAL) {
		if (d->full_path[0] == '\0' && r->ws->nroots == 0) {
			resp_error(out, 400, "BAD_REQUEST", "fullPath: empty, and no --dataset-root is set");
			return -1;
		}
		/* Checked as every access opens it (web_datasource_open), so the two agree. */
		int fd = dsroot_open(r->ws->dataset_roots, r->ws->nroots, d->full_path, real,
				     sizeof(real), err, sizeof(err));
		if (fd < 0) {
			resp_error(out, 400, "BAD_REQUEST", "%s", err);
			return -1;
		}
		close(fd);
		ep = NULL;
	} else {
		const char *b;
		size_t bn;
		if (!s3_bucket(d->full_path, &b, &bn)) {
			resp_error(out, 400, "BAD_REQUEST", "fullPath: must read s3://bucket[/prefix]");
			return -1;
		}
		if (d->s3_kms_key != NULL) {
			resp_error(out, 400, "BAD_REQUEST", "s3ServerSideEncryptionKMSKey: not supported "
				   "(winnow writes nothing to the bucket)");
			return -1;
		}
		if (ep != NULL && strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
			resp_error(out, 400, "BAD_REQUEST", "s3Endpoint: must be http(s)://host[:port]");
			return -1;
		}
		/* An admin may set any endpoint (SPEC 8); a user, one on the allow-list. */
		if (ep != NULL && !r->who.admin && !endpoint_allowed(r->ws, ep)) {
			resp_error(out, 403, "FORBIDDEN", "s3Endpoint: %.200s is not on this server's "
				   "--s3-endpoint-allow list", ep);
			return -1;
		}
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	if (d->type == API_DS_S3 && secret != NULL && strcmp(secret, DS_SECRET_MASK) == 0) {
		/*
		 * The pages never see the secret; the mask keeps the stored one,
		 * but only for the same endpoint, bucket and key id (SPEC 8): a
		 * masked secret never travels to another server or bucket.
		 */
		const char *b, *ob;
		size_t bn, obn;
		rc = row_serving(c, r->params[0], purpose, &old);
		if (rc < 0)
			goto dberr;
		if (rc == 0 || old.f[C_TYPE] == NULL || strcmp(old.f[C_TYPE], "S3") != 0 ||
		    !s3_bucket(old.f[C_PATH], &ob, &obn) || !s3_bucket(d->full_path, &b, &bn) ||
		    bn != obn || memcmp(b, ob, bn) != 0 || !same_str(ep, old.f[C_EP]) ||
		    !same_str(d->s3_access_key_id, old.f[C_KEY])) {
			db_rollback(c);
			row_free(&old);
			resp_error(out, 400, "BAD_REQUEST", "s3SecretAccessKey: the masked secret stands for "
				   "the stored one only while endpoint, bucket and key id stay the same; "
				   "give the secret");
			return -1;
		}
		secret = old.f[C_SECRET];
	}
	sqlite3_stmt *st;
	if (strcmp(purpose, "INPUT_OUTPUT") == 0) {
		st = db_stmt(c, "DELETE FROM datasources WHERE dataset_id = ?");
		db_bind_text(st, 1, r->params[0]);
	} else {
		/* An INPUT_OUTPUT row keeps serving the other purpose. */
		st = db_stmt(c, "UPDATE datasources SET purpose = ? WHERE dataset_id = ? AND "
			     "purpose = 'INPUT_OUTPUT'");
		db_bind_text(st, 1, strcmp(purpose, "INPUT") == 0 ? "LIGHTLY" : "INPUT");
		db_bind_text(st, 2, r->params[0]);
	}
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto dberr;
	st = db_stmt(c, "INSERT OR REPLACE INTO datasources (dataset_id, " COLS ") "
		     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	bool s3 = d->type == API_DS_S3;
	db_bind_text(st, 1, r->params[0]);
	db_bind_text(st, 2, purpose);
	db_bind_text(st, 3, s3 ? "S3" : "LOCAL");
	db_bind_text(st, 4, d->full_path);
	db_bind_text(st, 5, d->thumb_suffix);
	db_bind_text(st, 6, s3 ? NULL : d->web_server_location);
	db_bind_text(st, 7, s3 && ep && ep[0] ? ep : NULL);
	db_bind_text(st, 8, s3 ? d->s3_region : NULL);
	db_bind_text(st, 9, s3 ? d->s3_access_key_id : NULL);
	db_bind_text(st, 10, s3 ? secret : NULL);
	sqlite3_bind_int64(st, 11, db_now_ms());
	rc = db_step(st);
	sqlite3_reset(st);
	row_free(&old);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto dberr;
	return 0;
dberr:
	row_free(&old);
	resp_db_error(out, c);
	db_rollback(c);
	return -1;
}

/*
 * Parses the body as Lightly's DatasourceConfig; winnow: first takes out
 * winnow's `s3Endpoint` (string or null) into *ep (owned). 0 or -1 after
 * replying 400.
 */
static int parse_body(struct req *r, struct resp *out, bool winnow, struct api_datasource *d,
		      char **ep)
{
	cJSON *j = req_json_object(r, out);
	char err[512];
	bool no_creds = false;

	memset(d, 0, sizeof(*d));
	*ep = NULL;
	if (j == NULL)
		return -1;
	if (winnow) {
		cJSON *e = cJSON_DetachItemFromObjectCaseSensitive(j, "s3Endpoint");
		if (e != NULL && !cJSON_IsNull(e) && !cJSON_IsString(e)) {
			cJSON_Delete(e);
			cJSON_Delete(j);
			resp_error(out, 400, "BAD_REQUEST", "s3Endpoint: must be a string or null");
			return -1;
		}
		if (cJSON_IsString(e) && e->valuestring[0] != '\0')
			*ep = xstrdup(e->valuestring);
		cJSON_Delete(e);
		/*
		 * winnow's: an S3 datasource without credentials (both keys "")
		 * leaves them to the worker's own config ("s3" in winnowd.json).
		 * Lightly's model wants both non-empty: a stand-in passes its check.
		 */
		cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "s3AccessKeyId");
		cJSON *sk = cJSON_GetObjectItemCaseSensitive(j, "s3SecretAccessKey");
		if (cJSON_IsString(k) && cJSON_IsString(sk) && k->valuestring[0] == '\0' &&
		    sk->valuestring[0] == '\0') {
			cJSON_SetValuestring(k, "-");
			cJSON_SetValuestring(sk, "-");
			no_creds = true;
		}
	}
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	int rc = api_parse_datasource(text, strlen(text), 0, d, err, sizeof(err));
	free_secret(text);
	if (rc == 0 && no_creds) {
		free(d->s3_access_key_id);
		free(d->s3_secret_access_key);
		d->s3_access_key_id = NULL;
		d->s3_secret_access_key = NULL;
	}
	if (rc < 0) {
		resp_error(out, 400, "BAD_REQUEST", "%s", err);
		free(*ep);
		*ep = NULL;
		return -1;
	}
	if (*ep != NULL && d->type != API_DS_S3) {
		resp_error(out, 400, "BAD_REQUEST", "s3Endpoint: only for an S3 datasource");
		free(*ep);
		*ep = NULL;
		return -1;
	}
	return 0;
}

static void put_one(struct req *r, struct resp *out, bool winnow)
{
	struct api_datasource d;
	char *ep = NULL;

	if (parse_body(r, out, winnow, &d, &ep) == 0 && store(r, out, &d, ep) == 0) {
		/* The reply: what a GET of that purpose answers now. */
		char q[64];
		snprintf(q, sizeof(q), "%s", api_enum_name(API_E_PURPOSE, d.purpose));
		struct row w;
		struct dbconn *c = req_db(r);
		int rc = row_serving(c, r->params[0], q, &w);
		if (rc <= 0)
			resp_db_error(out, c);
		else
			resp_json(out, 200, row_json(&w, winnow, DS_SECRET_MASK));
		row_free(&w);
	}
	free(ep);
	api_datasource_free(&d);
}

void h_datasource_put(struct req *r, struct resp *out)
{
	put_one(r, out, false);
}

void h_winnow_datasource_put(struct req *r, struct resp *out)
{
	put_one(r, out, true);
}

int web_datasource_open(struct req *r, struct resp *out, enum ds_use use, struct dataset *ds)
{
	struct dbconn *c = req_db(r);
	struct row w;
	char err[1024], real[PATH_MAX];
	int rc = -1;

	if (!dataset_or_404(c, r->params[0], out))
		return -1;
	int found = row_serving(c, r->params[0], use == DS_USE_INPUT ? "INPUT" : "LIGHTLY", &w);
	if (found < 0) {
		resp_db_error(out, c);
		return -1;
	}
	if (found == 0) {
		resp_error(out, 404, "NOT_FOUND", "the dataset has no datasource yet");
		return -1;
	}
	req_db_release(r);
	if (strcmp(w.f[C_TYPE], "S3") == 0) {
		struct s3_conf conf = {
			.endpoint = w.f[C_EP], .region = w.f[C_REGION], .access_key_id = w.f[C_KEY],
			.secret_access_key = w.f[C_SECRET], .path_style = -1,
		};
		if (dataset_open_s3(ds, w.f[C_PATH], &conf, err, sizeof(err)) < 0)
			resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", err);
		else
			rc = 0;
	} else if ((found = dsroot_open(r->ws->dataset_roots, r->ws->nroots, w.f[C_PATH], real,
				      sizeof(real), err, sizeof(err))) < 0) {
		/* Opened beneath the root at every access: a folder swapped for a link out fails here. */
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", err);
	} else {
		dataset_open_fd(ds, found, real);
		rc = 0;
	}
	row_free(&w);
	return rc;
}
