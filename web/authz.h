/*
 * authz: who may see and change what (SPEC 8 "Roles" and "Workers").
 * server.c calls authz_route once per request, after authentication and
 * before the handler; the list handlers filter with authz_dataset_sql.
 */
#ifndef WINNOW_WEB_AUTHZ_H
#define WINNOW_WEB_AUTHZ_H

#include <sqlite3.h>

#include "http.h"

struct route;

/*
 * May r's principal call route rt with r's path parameters? Returns 0, -ENOENT
 * (an object it may not see: answer 404 exactly as if absent), -EACCES (it
 * sees the object but may not do this: 403) or -EIO (database error: 503).
 * Routes without a credential (ROLE_NONE, ROLE_PUBLIC) answer 0.
 */
int authz_route(struct req *r, const struct route *rt);

/* Replies for a non-zero authz_route result. */
void authz_reply(struct resp *out, struct dbconn *c, int rc);

/* Is dataset visible to r's principal? 0, -ENOENT or -EIO (as authz_route). */
int authz_dataset(struct req *r, const char *dataset);
/* May r's principal use config (schedule a run with it)? 0, -ENOENT or -EIO. */
int authz_config(struct req *r, const char *config);
/* May r's principal share dataset (its owner, or an admin)? 0, -ENOENT, -EACCES or -EIO. */
int authz_dataset_owner(struct req *r, const char *dataset);

/*
 * The id of the worker r's worker token is bound to (id: 25 bytes; "" when
 * that worker is not registered yet). 0 or -EIO.
 */
int authz_my_worker(struct req *r, char id[25]);

/*
 * A condition on a dataset id column col (e.g. "d.id") that keeps the
 * datasets a user principal may see in a list, for SQL given to db_stmt
 * (statements are cached by pointer, so the SQL is a literal). Its
 * parameters are ?901-?904: the statement numbers its own (?1, ?2...), as a
 * plain ? after it would be numbered 905. authz_bind binds them.
 */
#define AUTHZ_DATASETS(col)							\
	"(?901 OR (?902 AND " col " IN (SELECT id FROM datasets "		\
	"WHERE user_id = ?904)) OR (?903 AND " col " IN "			\
	"(SELECT dataset_id FROM dataset_shares WHERE token_id = ?904)))"

/*
 * Binds AUTHZ_DATASETS's parameters for r's principal and scope: "mine"
 * (what I created), "shared" (shared with me) or "all" (all I may see: both,
 * and for an admin every dataset).
 */
void authz_bind(sqlite3_stmt *st, const struct req *r, const char *scope);

#endif
