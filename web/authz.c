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

/*
 * What each route parameter names and who may touch it: one row per
 * parameter name. dataset: the dataset the object hangs off (NULL: none or
 * not by one query); worker and user: the check for a worker's or a user's
 * token (NULL: the object's dataset's access, by the dataset query). A name
 * not in the table (scoreType, a datapool name...) is the handler's to check.
 */
struct param_kind;
typedef int (*param_check_fn)(struct req *r, const struct route *rt, const struct param_kind *k,
			      const char *id, const char *w);

struct param_kind {
	const char *name;
	const char *dataset;
	param_check_fn worker, user;
};

static int via_dataset(struct req *r, const struct route *rt, const struct param_kind *k,
		       const char *id, const char *w)
{
	(void)rt;
	(void)w;
	sqlite3_stmt *st = db_stmt(req_db(r), k->dataset);
	char ds[25];

	db_bind_text(st, 1, id);
	int rc = db_step(st);
	if (rc == SQLITE_ROW)
		snprintf(ds, sizeof(ds), "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	return authz_dataset(r, ds);
}

static int dataset_param(struct req *r, const struct route *rt, const struct param_kind *k,
			 const char *id, const char *w)
{
	(void)k;
	(void)w;
	/*
	 * The claim (as its own worker) names a scheduled run it may not hold
	 * yet: the handler answers 409 for one it cannot take (another's,
	 * ended, labels missing), as SPEC 7 says.
	 */
	if (r->who.role == ROLE_WORKER && rt->fn == h_schedule_claim)
		return exists1(req_db(r), "SELECT 1 FROM datasets WHERE id = ?", id, NULL);
	return authz_dataset(r, id);
}

static int config_param(struct req *r, const struct route *rt, const struct param_kind *k,
			const char *id, const char *w)
{
	(void)rt;
	(void)k;
	(void)w;
	return authz_config(r, id);
}

/* A worker's own id; another worker: 403 when it exists (SPEC 8), 404 when not. */
static int worker_worker(struct req *r, const struct route *rt, const struct param_kind *k,
			 const char *id, const char *w)
{
	(void)rt;
	(void)k;
	if (w[0] != '\0' && strcmp(id, w) == 0)
		return 0;
	int rc = exists1(req_db(r), "SELECT 1 FROM workers WHERE id = ?", id, NULL);
	return rc == 0 ? -EACCES : rc;
}

/* Every user sees every worker; deleting one is its owner's or an admin's. */
static int user_worker(struct req *r, const struct route *rt, const struct param_kind *k,
		       const char *id, const char *w)
{
	struct dbconn *c = req_db(r);

	(void)k;
	(void)w;
	if (strcmp(rt->method, "DELETE") != 0 || r->who.admin)
		return 0;
	int rc = exists1(c, "SELECT 1 FROM workers WHERE id = ?", id, NULL);
	if (rc < 0)
		return rc;
	rc = exists1(c, "SELECT 1 FROM workers WHERE id = ? AND user_id = ?", id, r->who.id);
	return rc == -ENOENT ? -EACCES : rc;
}

/* A run the worker holds, or held and gave back. */
static int worker_run(struct req *r, const struct route *rt, const struct param_kind *k,
		      const char *id, const char *w)
{
	(void)rt;
	(void)k;
	return exists1(req_db(r), "SELECT 1 FROM runs r JOIN scheduled s ON s.id = r.scheduled_id "
		       "WHERE r.id = ?1 AND s.worker_id = ?2 UNION ALL "
		       "SELECT 1 FROM released_runs WHERE run_id = ?1 AND worker_id = ?2", id, w);
}

/* An OPEN scheduled run, or one the worker holds or held; any one for the claim (above). */
static int worker_scheduled(struct req *r, const struct route *rt, const struct param_kind *k,
			    const char *id, const char *w)
{
	(void)k;
	if (rt->fn == h_schedule_claim)
		return exists1(req_db(r), "SELECT 1 FROM scheduled WHERE id = ?", id, NULL);
	return exists1(req_db(r), "SELECT 1 FROM scheduled WHERE id = ?1 AND (state = 'OPEN' OR "
		       "worker_id = ?2) UNION ALL SELECT 1 FROM released_runs "
		       "WHERE scheduled_id = ?1 AND worker_id = ?2", id, w);
}

static const struct param_kind param_kinds[] = {
	{ "datasetId", NULL, dataset_param, dataset_param },
	{ "configId", NULL, config_param, config_param },
	{ "workerId", NULL, worker_worker, user_worker },
	{ "runId", "SELECT dataset_id FROM runs WHERE id = ?", worker_run, NULL },
	{ "scheduledId", "SELECT dataset_id FROM scheduled WHERE id = ?", worker_scheduled, NULL },
	{ "tagId", "SELECT dataset_id FROM tags WHERE id = ?", NULL, NULL },
	{ "artifactId", "SELECT r.dataset_id FROM artifacts a JOIN runs r ON r.id = a.run_id "
			"WHERE a.id = ?", NULL, NULL },
};

int authz_route(struct req *r, const struct route *rt)
{
	if (rt->roles == ROLE_NONE || rt->roles == ROLE_PUBLIC)
		return 0;
	char w[25] = "";
	if (r->who.role == ROLE_WORKER && authz_my_worker(r, w) < 0)
		return -EIO;
	char name[32];
	for (int i = 0; i < HTTP_MAX_PARAMS && routes_param_name(rt->pattern, i, name, sizeof(name));
	     i++) {
		if (r->params[i] == NULL)
			continue;
		for (size_t j = 0; j < ARRAY_LEN(param_kinds); j++) {
			const struct param_kind *k = &param_kinds[j];
			if (strcmp(k->name, name) != 0)
				continue;
			param_check_fn fn = r->who.role == ROLE_WORKER ? k->worker : k->user;
			int rc = (fn ? fn : via_dataset)(r, rt, k, r->params[i], w);
			if (rc != 0)
				return rc;
		}
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
