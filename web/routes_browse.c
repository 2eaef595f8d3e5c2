/*
 * routes_browse: a dataset's own files before any run, and renaming and
 * deleting a dataset.
 *
 * DESIGN. GET /v1/winnow/datasets/{datasetId}/files lists the images of the
 * dataset's INPUT datasource through the datasource interface (lib/dataset.h,
 * the same rules as a run's listing: SPEC 3's image extensions, names with a
 * leading dot and .lightly/ skipped, links out of the root left out,
 * unsupported names excluded), sorted bytewise, and answers one page of it.
 * A listing is bounded (BROWSE_CAP files, BROWSE_SECONDS of reading a LOCAL
 * folder): the reply then says truncated, and holds the files found so far.
 * Listings are kept BROWSE_TTL seconds in a small cache keyed by dataset id
 * and datasource root (BROWSE_SLOTS listings, BROWSE_CACHE_FILES names in
 * all), so that paging through a large folder lists it once; a datasource
 * set anew has a new root and misses the cache.
 *
 * PUT /v1/datasets/{datasetId} (Lightly's update_dataset_by_id, body exactly
 * DatasetUpdateRequest {name}) renames; DELETE /v1/datasets/{datasetId}
 * (delete_dataset_by_id, ?force ignored) removes the dataset's rows from
 * web.db and never touches its files. Both take the owner or an admin (a
 * user it is shared with: 403; one who does not see it: 404, by authz.c).
 * Both answer 204. A name another dataset of the same owner has is 409
 * DATASET_NAME_EXISTS. A dataset with a LOCKED scheduled run (a worker holds
 * it) is not deleted: 409 CONFLICT, abort the run first; OPEN scheduled runs
 * (nobody holds them) go with the dataset, and so do ended ones.
 */
#include "routes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "authz.h"
#include "dataset.h"
#include "datasource.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define BROWSE_CAP	1000000		/* files in one listing at most */
#define BROWSE_SECONDS	10.0		/* reading a LOCAL folder at most */
#define BROWSE_TTL	15.0		/* a listing is reused this long */
#define BROWSE_PAGE_MAX	1000		/* files in one reply at most */
#define BROWSE_PREFIX_MAX 1024
#define BROWSE_SLOTS	8
#define BROWSE_CACHE_FILES 2000000	/* names kept in all the cached listings */

struct listing {
	char id[25];
	char *root;		/* the datasource's root as opened, NULL: a free slot */
	struct strvec files;	/* sorted bytewise */
	size_t excluded;
	bool truncated;
	double at;		/* now_seconds() when listed */
	int64_t listed_ms;	/* the same, as db_now_ms() */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct listing cache[BROWSE_SLOTS];

/* The cap: BROWSE_CAP, or WINNOW_WEB_BROWSE_CAP (tests; a count >= 1). */
static size_t browse_cap(void)
{
	const char *s = getenv("WINNOW_WEB_BROWSE_CAP");
	char *end;
	unsigned long long v;

	if (s == NULL || s[0] == '\0')
		return BROWSE_CAP;
	v = strtoull(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= BROWSE_CAP ? (size_t)v : BROWSE_CAP;
}

static void slot_free(struct listing *l)
{
	free(l->root);
	strvec_free(&l->files);
	memset(l, 0, sizeof(*l));
}

/* Drops every listing of dataset id (it was deleted). */
static void cache_drop(const char *id)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < BROWSE_SLOTS; i++)
		if (cache[i].root != NULL && strcmp(cache[i].id, id) == 0)
			slot_free(&cache[i]);
	pthread_mutex_unlock(&cache_lock);
}

/* The first index in files[lo, hi) not less than key (bytewise). */
static size_t lower_bound(char *const *v, size_t lo, size_t hi, const char *key)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The reply of one page of l (under the cache lock). */
static cJSON *page_json(const struct listing *l, const char *prefix, int64_t offset, int64_t limit)
{
	size_t from = 0, to = l->files.n;
	cJSON *o = cJSON_CreateObject();

	if (prefix[0] != '\0') {
		size_t plen = strlen(prefix);
		from = lower_bound(l->files.v, 0, l->files.n, prefix);
		to = from;
		while (to < l->files.n && strncmp(l->files.v[to], prefix, plen) == 0)
			to++;
	}
	size_t total = to - from;
	cJSON_AddNumberToObject(o, "total", (double)total);
	cJSON_AddNumberToObject(o, "offset", (double)offset);
	cJSON_AddNumberToObject(o, "limit", (double)limit);
	cJSON_AddStringToObject(o, "prefix", prefix);
	cJSON *a = cJSON_AddArrayToObject(o, "fileNames");
	for (size_t i = from + (size_t)(offset < (int64_t)total ? offset : (int64_t)total), k = 0;
	     i < to && k < (size_t)limit; i++, k++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->files.v[i]));
	cJSON_AddBoolToObject(o, "truncated", l->truncated);
	cJSON_AddNumberToObject(o, "cap", (double)browse_cap());
	cJSON_AddNumberToObject(o, "capSeconds", BROWSE_SECONDS);
	cJSON_AddNumberToObject(o, "excluded", (double)l->excluded);
	cJSON_AddNumberToObject(o, "listedAt", (double)l->listed_ms);
	return o;
}

/* A prefix is a path start: UTF-8, no control character, not absolute, no "." or ".." part. */
static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (n > BROWSE_PREFIX_MAX || !utf8_valid(p, n) || p[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (e == NULL)
			break;
		s = e + 1;
	}
	return true;
}

/* GET /v1/winnow/datasets/{datasetId}/files?offset=&limit=&prefix= */
void h_browse_files(struct req *r, struct resp *out)
{
	int64_t offset = req_query_int(r, out, "offset", 0, 0, 1000000000);
	if (offset == INT64_MIN)
		return;
	int64_t limit = req_query_int(r, out, "limit", 100, 1, BROWSE_PAGE_MAX);
	if (limit == INT64_MIN)
		return;
	const char *prefix = req_query(r, "prefix");
	if (prefix == NULL)
		prefix = "";
	if (!prefix_ok(prefix)) {
		resp_error(out, 400, "BAD_REQUEST", "prefix must be a relative path start of at most "
			   "%d bytes of UTF-8, without control characters or \".\" and \"..\" parts",
			   BROWSE_PREFIX_MAX);
		return;
	}
	const char *fresh = req_query(r, "refresh");
	bool refresh = fresh != NULL && strcmp(fresh, "1") == 0;
	if (fresh != NULL && !refresh && strcmp(fresh, "0") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "refresh must be 0 or 1");
		return;
	}
	struct dataset ds;
	if (web_datasource_open(r, out, DS_USE_INPUT, &ds) < 0)
		return;

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < BROWSE_SLOTS && !refresh; i++) {
		struct listing *l = &cache[i];
		if (l->root == NULL || strcmp(l->id, r->params[0]) != 0 || strcmp(l->root, ds.root) != 0)
			continue;
		if (now_seconds() - l->at > BROWSE_TTL)
			break;
		cJSON *o = page_json(l, prefix, offset, limit);
		pthread_mutex_unlock(&cache_lock);
		dataset_close(&ds);
		resp_json(out, 200, o);
		return;
	}
	pthread_mutex_unlock(&cache_lock);

	char err[1024];
	ds.list_max = browse_cap();
	ds.list_deadline = now_seconds() + BROWSE_SECONDS;
	int rc = dataset_list(&ds, NULL, err, sizeof(err));
	if (rc < 0) {
		char dserr[1024];
		if (dataset_last_error(&ds, dserr, sizeof(dserr))[0] != '\0')
			snprintf(err, sizeof(err), "%s", dserr);
		dataset_close(&ds);
		resp_error(out, 409, "DATASET_DATASOURCE_INVALID", "%s", err);
		return;
	}
	struct listing nl = { .root = xstrdup(ds.root), .files = ds.files, .excluded = ds.nexcluded,
			      .truncated = ds.list_truncated, .at = now_seconds(),
			      .listed_ms = db_now_ms() };
	snprintf(nl.id, sizeof(nl.id), "%s", r->params[0]);
	memset(&ds.files, 0, sizeof(ds.files));
	dataset_close(&ds);
	if (nl.truncated)
		log_warnx("dataset %s: the browse listing stopped at %zu files (cap %zu, %.0f s)",
			  nl.id, nl.files.n, browse_cap(), BROWSE_SECONDS);

	pthread_mutex_lock(&cache_lock);
	/* At most BROWSE_CACHE_FILES names kept in all: the oldest listings go first. */
	for (;;) {
		size_t held = nl.files.n;
		struct listing *oldest = NULL;
		for (int i = 0; i < BROWSE_SLOTS; i++) {
			if (cache[i].root == NULL)
				continue;
			held += cache[i].files.n;
			if (oldest == NULL || cache[i].at < oldest->at)
				oldest = &cache[i];
		}
		if (held <= BROWSE_CACHE_FILES || oldest == NULL)
			break;
		slot_free(oldest);
	}
	/* The slot of the same dataset and root, else a free one, else the oldest. */
	struct listing *slot = NULL;
	for (int i = 0; i < BROWSE_SLOTS; i++) {
		struct listing *l = &cache[i];
		if (l->root != NULL && strcmp(l->id, nl.id) == 0 && strcmp(l->root, nl.root) == 0) {
			slot = l;
			break;
		}
		if (slot == NULL || (slot->root != NULL && (l->root == NULL || l->at < slot->at)))
			slot = l;
	}
	slot_free(slot);
	*slot = nl;
	cJSON *o = page_json(slot, prefix, offset, limit);
	pthread_mutex_unlock(&cache_lock);
	resp_json(out, 200, o);
}

/* ---- rename and delete ---- */

/* The owner or an admin (else 403, after replying); 404 is authz_route's already. */
static bool owner_or_reply(struct req *r, struct resp *out)
{
	int rc = authz_dataset_owner(r, r->params[0]);

	if (rc == 0)
		return true;
	if (rc == -EACCES)
		resp_error(out, 403, "FORBIDDEN", "only the dataset's owner or an admin may do this");
	else
		authz_reply(out, req_db(r), rc);
	return false;
}

/* PUT /v1/datasets/{datasetId} (DatasetUpdateRequest {name}): 204. */
void h_dataset_update(struct req *r, struct resp *out)
{
	struct dbconn *c = req_db(r);
	const char *name = NULL;

	if (!owner_or_reply(r, out))
		return;
	cJSON *j = req_json_object(r, out);
	if (j == NULL)
		return;
	for (cJSON *k = j->child; k != NULL; k = k->next) {
		if (strcmp(k->string, "name") != 0) {
			resp_error(out, 400, "BAD_REQUEST", "%.100s: not a field of DatasetUpdateRequest "
				   "(only name)", k->string);
			goto done;
		}
	}
	if (json_str(j, "name", true, &name, out) < 0)
		goto done;
	if (!api_name_ok(API_NAME_DATASET, name)) {
		resp_error(out, 400, "BAD_REQUEST", "name: %s", api_name_rule(API_NAME_DATASET));
		goto done;
	}
	if (db_begin(c) != SQLITE_OK)
		goto dberr;
	/* Another dataset of the same owner with that name? */
	sqlite3_stmt *st = db_stmt(c, "SELECT 1 FROM datasets WHERE name = ?1 AND id != ?2 AND "
				   "user_id = (SELECT user_id FROM datasets WHERE id = ?2) LIMIT 1");
	db_bind_text(st, 1, name);
	db_bind_text(st, 2, r->params[0]);
	int rc = db_row(st);
	sqlite3_reset(st);
	if (rc < 0)
		goto rollback;
	if (rc == 1) {
		db_rollback(c);
		resp_error(out, 409, "DATASET_NAME_EXISTS", "name: the owner has another dataset "
			   "named \"%s\"", name);
		goto done;
	}
	st = db_stmt(c, "UPDATE datasets SET name = ?, last_modified_at = ? WHERE id = ?");
	db_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, db_now_ms());
	db_bind_text(st, 3, r->params[0]);
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_commit(c) != SQLITE_OK)
		goto rollback;
	resp_no_content(out);
	goto done;
rollback:
	resp_db_error(out, c);
	db_rollback(c);
	goto done;
dberr:
	resp_db_error(out, c);
done:
	cJSON_Delete(j);
}

/*
 * DELETE /v1/datasets/{datasetId}: 204; 409 while a scheduled run of it is
 * LOCKED. Everything hanging off the dataset goes in one transaction; the
 * configs stay (other datasets' runs may use them), the files are never
 * touched. The thumbnail cache (<db>.thumbs, files named by a hash of
 * dataset, root, name and stat) keeps the deleted dataset's thumbnails: they
 * are never served again (every thumbnail request needs the dataset), and
 * finding them would take a walk of the whole cache.
 */
void h_dataset_delete(struct req *r, struct resp *out)
{
	static const char *const del[] = {
		"DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE dataset_id = ?1)",
		"DELETE FROM artifacts WHERE run_id IN (SELECT id FROM runs WHERE dataset_id = ?1)",
		"DELETE FROM scores WHERE tag_id IN (SELECT id FROM tags WHERE dataset_id = ?1)",
		"DELETE FROM tags WHERE dataset_id = ?1",
		"DELETE FROM samples WHERE dataset_id = ?1",
		"DELETE FROM datapools WHERE dataset_id = ?1",
		("DELETE FROM released_runs WHERE scheduled_id IN "
		 "(SELECT id FROM scheduled WHERE dataset_id = ?1)"),
		"DELETE FROM runs WHERE dataset_id = ?1",
		"DELETE FROM scheduled WHERE dataset_id = ?1",
		"DELETE FROM datasources WHERE dataset_id = ?1",
		"DELETE FROM dataset_shares WHERE dataset_id = ?1",
		"DELETE FROM datasets WHERE id = ?1",
	};
	struct dbconn *c = req_db(r);
	const char *force = req_query(r, "force");

	if (force != NULL && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
		resp_error(out, 400, "BAD_REQUEST", "force must be true or false");
		return;
	}
	if (!owner_or_reply(r, out))
		return;
	if (db_begin(c) != SQLITE_OK) {
		resp_db_error(out, c);
		return;
	}
	sqlite3_stmt *st = db_stmt(c, "SELECT count(*) FROM scheduled WHERE dataset_id = ? AND "
				   "state = 'LOCKED'");
	db_bind_text(st, 1, r->params[0]);
	int64_t held = 0;
	int rc = db_row(st);
	if (rc == 1)
		held = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc < 0)
		goto dberr;
	if (held > 0) {
		db_rollback(c);
		resp_error(out, 409, "CONFLICT", "a run of this dataset is running (%lld scheduled run%s "
			   "LOCKED by a worker): abort it or let it finish, then delete",
			   (long long)held, held == 1 ? "" : "s");
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(del); i++) {
		st = db_stmt(c, del[i]);
		db_bind_text(st, 1, r->params[0]);
		rc = db_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto dberr;
	}
	if (db_commit(c) != SQLITE_OK)
		goto dberr;
	cache_drop(r->params[0]);
	resp_no_content(out);
	return;
dberr:
	resp_db_error(out, c);
	db_rollback(c);
}
