/*
 * authz: the one check of who may touch which object (SPEC 8).
 *
 * DESIGN: every object hangs off a dataset (its datasources, scheduled runs,
 * runs, tags, scores, samples, artifacts), and a dataset belongs to the user
 * token that created it (datasets.user_id) and to those it is shared with
 * (dataset_shares). So one question, "may this principal see dataset D?",
 * decides most routes: authz_route walks the route's id parameters by name,
 * finds each one's dataset and asks it. An object that is absent and one the
 * caller may not see answer the same -ENOENT, so a 404 tells nothing about
 * other users' ids. An admin (a user token with the admin flag) sees
 * everything. Workers are the other kind of principal: a worker token is
 * bound to one worker name, and it sees only what that worker holds: the
 * runs it claimed (scheduled.worker_id, or released_runs for a run the
 * sweep took back, so the handler can still answer its 409), their datasets
 * and configs, and OPEN scheduled runs (to claim them; the handler checks
 * the labels). Workers themselves are seen by every user (the wizard lists
 * them); deleting one takes its owner or an admin. Lists do not go through
 * authz_route (they name no object): their SQL carries AUTHZ_DATASETS.
 * Bodies that name objects (a schedule's configId, a run's scheduledId) are
 * checked by their handlers with the helpers here.
 */
#include "authz.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "routes.h"
#include "util.h"

/* One row for a statement with one text parameter: 0 (a row), -ENOENT or -EIO. */
static int exists1(struct dbconn *c, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st = db_stmt(c, sql);

	db_bind_text(st, 1, a);
	if (b != NULL)
		db_bind_text(st, 2, b);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int authz_my_worker(struct req *r, char id[25])
{
	struct dbconn *c = req_db(r);
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM workers WHERE name = ?");

	id[0] = '\0';
	db_bind_text(st, 1, r->who.worker);
	int rc = db_step(st);
	if (rc == SQLITE_ROW)
		snprintf(id, 25, "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int authz_dataset(struct req *r, const char *dataset)
{
	struct dbconn *c = req_db(r);

	if (r->who.role == ROLE_WORKER) {
		char w[25];
		if (authz_my_worker(r, w) < 0)
			return -EIO;
		return exists1(c, "SELECT 1 FROM scheduled WHERE dataset_id = ?1 AND worker_id = ?2 "
			       "UNION ALL SELECT 1 FROM released_runs rr JOIN scheduled s "
			       "ON s.id = rr.scheduled_id WHERE s.dataset_id = ?1 AND rr.worker_id = ?2 "
			       "LIMIT 1", dataset, w);
	}
	if (r->who.admin)
		return exists1(c, "SELECT 1 FROM datasets WHERE id = ?", dataset, NULL);
	return exists1(c, "SELECT 1 FROM datasets WHERE id = ?1 AND (user_id = ?2 OR EXISTS "
		       "(SELECT 1 FROM dataset_shares WHERE dataset_id = ?1 AND token_id = ?2))",
		       dataset, r->who.id);
}

int authz_dataset_owner(struct req *r, const char *dataset)
{
	int rc = authz_dataset(r, dataset);

	if (rc < 0 || r->who.admin)
		return rc;
	rc = exists1(req_db(r), "SELECT 1 FROM datasets WHERE id = ? AND user_id = ?", dataset,
		     r->who.id);
	return rc == -ENOENT ? -EACCES : rc;
}

int authz_config(struct req *r, const char *config)
{
	struct dbconn *c = req_db(r);

	if (r->who.role == ROLE_WORKER) {
		char w[25];
		if (authz_my_worker(r, w) < 0)
			return -EIO;
		return exists1(c, "SELECT 1 FROM scheduled WHERE config_id = ?1 AND (worker_id = ?2 "
			       "OR state = 'OPEN') LIMIT 1", config, w);
	}
	if (r->who.admin)
		return exists1(c, "SELECT 1 FROM configs WHERE id = ?", config, NULL);
	/* Its creator's, or one a run of a dataset I see was scheduled with. */
	int rc = exists1(c, "SELECT 1 FROM configs WHERE id = ? AND user_id = ?", config, r->who.id);
	if (rc != -ENOENT)
		return rc;
	sqlite3_stmt *st = db_stmt(c, "SELECT DISTINCT dataset_id FROM scheduled WHERE config_id = ? "
				   "LIMIT 100");
	struct strvec ds = { 0 };
	db_bind_text(st, 1, config);
	while ((rc = db_step(st)) == SQLITE_ROW)
		strvec_push(&ds, db_col_text(st, 0));
	sqlite3_reset(st);
	int ret = rc == SQLITE_DONE ? -ENOENT : -EIO;
	for (size_t i = 0; ret == -ENOENT && i < ds.n; i++)
		ret = authz_dataset(r, ds.v[i]);
	strvec_free(&ds);
	return ret;
}

/* The dataset an object of kind param (a route parameter's name) hangs off. */
static int dataset_of(struct dbconn *c, const char *param, const char *id, char ds[25])
{
	static const struct {
		const char *param, *sql;
	} of[] = {
		{ "runId", "SELECT dataset_id FROM runs WHERE id = ?" },
		{ "scheduledId", "SELECT dataset_id FROM scheduled WHERE id = ?" },
		{ "tagId", "SELECT dataset_id FROM tags WHERE id = ?" },
		{ "artifactId", "SELECT r.dataset_id FROM artifacts a JOIN runs r ON r.id = a.run_id "
				"WHERE a.id = ?" },
	};

	for (size_t i = 0; i < ARRAY_LEN(of); i++) {
		if (strcmp(of[i].param, param) != 0)
			continue;
		sqlite3_stmt *st = db_stmt(c, of[i].sql);
		db_bind_text(st, 1, id);
		int rc = db_step(st);
		if (rc == SQLITE_ROW)
			snprintf(ds, 25, "%s", db_col_text(st, 0));
		sqlite3_reset(st);
		return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	return -EINVAL;
}

/* A worker principal on one parameter. */
static int worker_param(struct req *r, const struct route *rt, const char *name, const char *id,
			const char *w)
{
	struct dbconn *c = req_db(r);

	if (strcmp(name, "workerId") == 0) {
		if (w[0] != '\0' && strcmp(id, w) == 0)
			return 0;
		/* Another worker: 403 when it exists (SPEC 8), 404 when not. */
		int rc = exists1(c, "SELECT 1 FROM workers WHERE id = ?", id, NULL);
		return rc == 0 ? -EACCES : rc;
	}
	/*
	 * The claim (as its own worker, checked above) names a scheduled run it
	 * may not hold yet: the handler answers 409 for one it cannot take
	 * (another's, ended, labels missing), as SPEC 7 says.
	 */
	if (rt->fn == h_schedule_claim) {
		if (strcmp(name, "datasetId") == 0)
			return exists1(c, "SELECT 1 FROM datasets WHERE id = ?", id, NULL);
		if (strcmp(name, "scheduledId") == 0)
			return exists1(c, "SELECT 1 FROM scheduled WHERE id = ?", id, NULL);
	}
	if (strcmp(name, "datasetId") == 0)
		return authz_dataset(r, id);
	if (strcmp(name, "runId") == 0)
		return exists1(c, "SELECT 1 FROM runs r JOIN scheduled s ON s.id = r.scheduled_id "
			       "WHERE r.id = ?1 AND s.worker_id = ?2 UNION ALL "
			       "SELECT 1 FROM released_runs WHERE run_id = ?1 AND worker_id = ?2", id, w);
	if (strcmp(name, "scheduledId") == 0)
		return exists1(c, "SELECT 1 FROM scheduled WHERE id = ?1 AND (state = 'OPEN' OR "
			       "worker_id = ?2) UNION ALL SELECT 1 FROM released_runs "
			       "WHERE scheduled_id = ?1 AND worker_id = ?2", id, w);
	if (strcmp(name, "configId") == 0)
		return authz_config(r, id);
	if (strcmp(name, "tagId") == 0 || strcmp(name, "artifactId") == 0) {
		char ds[25];
		int rc = dataset_of(c, name, id, ds);
		return rc < 0 ? rc : authz_dataset(r, ds);
	}
	return 0;	/* names (scoreType, datapool name...) and ids checked by the handler */
}

/* A user principal (admin or not) on one parameter. */
static int user_param(struct req *r, const struct route *rt, const char *name, const char *id)
{
	struct dbconn *c = req_db(r);

	if (strcmp(name, "workerId") == 0) {
		/* Every user sees every worker; deleting one is its owner's or an admin's. */
		if (strcmp(rt->method, "DELETE") != 0 || r->who.admin)
			return 0;
		int rc = exists1(c, "SELECT 1 FROM workers WHERE id = ?", id, NULL);
		if (rc < 0)
			return rc;
		rc = exists1(c, "SELECT 1 FROM workers WHERE id = ? AND user_id = ?", id, r->who.id);
		return rc == -ENOENT ? -EACCES : rc;
	}
	if (strcmp(name, "datasetId") == 0)
		return authz_dataset(r, id);
	if (strcmp(name, "configId") == 0)
		return authz_config(r, id);
	char ds[25];
	int rc = dataset_of(c, name, id, ds);
	if (rc == -EINVAL)
		return 0;
	return rc < 0 ? rc : authz_dataset(r, ds);
}

int authz_route(struct req *r, const struct route *rt)
{
	if (rt->roles == ROLE_NONE || rt->roles == ROLE_PUBLIC)
		return 0;
	char w[25] = "";
	if (r->who.role == ROLE_WORKER && authz_my_worker(r, w) < 0)
		return -EIO;
	const char *p = rt->pattern;
	for (int i = 0; i < HTTP_MAX_PARAMS && (p = strchr(p, '{')) != NULL; i++) {
		const char *end = strchr(p, '}');
		char name[32];
		if (end == NULL || end - p - 1 >= (long)sizeof(name))
			break;
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
		p = end;
		if (r->params[i] == NULL)
			continue;
		int rc = r->who.role == ROLE_WORKER ? worker_param(r, rt, name, r->params[i], w) :
			 user_param(r, rt, name, r->params[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void authz_reply(struct resp *out, struct dbconn *c, int rc)
{
	if (rc == -EACCES)
		resp_error(out, 403, "FORBIDDEN", "not allowed for this token");
	else if (rc == -EIO)
		resp_db_error(out, c);
	else
		resp_error(out, 404, "NOT_FOUND", "not found");
}

void authz_bind(sqlite3_stmt *st, const struct req *r, const char *scope)
{
	bool all = strcmp(scope, "all") == 0;
	bool mine = all || strcmp(scope, "mine") == 0;
	bool shared = all || strcmp(scope, "shared") == 0;
	bool user = r->who.role == ROLE_USER;

	sqlite3_bind_int(st, 901, user && r->who.admin && all);
	sqlite3_bind_int(st, 902, user && mine);
	sqlite3_bind_int(st, 903, user && shared);
	sqlite3_bind_text(st, 904, r->who.id, -1, SQLITE_TRANSIENT);
}
