/*
 * db: winnow-web's SQLite store: a small pool of connections in WAL mode,
 * statements prepared once per connection, and the schema migrations.
 */
#ifndef WINNOW_WEB_DB_H
#define WINNOW_WEB_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct db;
struct dbconn;

/* The schema version this build writes (PRAGMA user_version). */
#define DB_SCHEMA_VERSION 5

/*
 * Opens (creating it when absent) the database at path with `pool` connections,
 * and applies the migrations the file lacks, in order, each in its own
 * transaction. Returns 0 and *out (free with db_close), or -1 with a message
 * in err. A file from a newer build is refused.
 */
int db_open(const char *path, int pool, struct db **out, char *err, size_t errlen);
void db_close(struct db *db);

/* The SQL that migration `version` runs (1 = the whole first schema), or NULL. */
const char *db_migration_sql(int version);

/*
 * Borrows a connection for one request (blocks while all are in use);
 * db_release gives it back, resetting every statement so that no read
 * transaction outlives the request.
 */
struct dbconn *db_acquire(struct db *db);
void db_release(struct db *db, struct dbconn *c);

/*
 * The prepared statement for sql on this connection, reset and with its
 * bindings cleared. sql must be a string literal (cached by address); the
 * statement stays owned by the connection. Preparing a bad statement is a
 * bug: fatal.
 */
sqlite3_stmt *db_stmt(struct dbconn *c, const char *sql);
sqlite3 *db_handle(struct dbconn *c);

/*
 * The store seam (SPEC 8: a database error is never answered as absent).
 * Every statement of web/ is stepped by db_step, which calls sqlite3_step
 * through db_step_fn. The production binary never changes it; the test
 * driver tests/tools/winnow_web_test.c points it at a fault injector (SQLITE_BUSY,
 * SQLITE_IOERR) before it runs the server. db_step returns the SQLite code;
 * an error (neither SQLITE_ROW nor SQLITE_DONE) is logged there, once, with
 * the statement's SQL, and the statement is reset.
 */
extern int (*db_step_fn)(sqlite3_stmt *st);
int db_step(sqlite3_stmt *st);
/*
 * A store lookup's step: 1 a row, 0 no (more) rows, -EIO a database error.
 * Lookups built on it return 0, -ENOENT (absent: 404) or -EIO (503, retry).
 */
int db_row(sqlite3_stmt *st);
/*
 * Steps a one-column query to its end, pushing each row's text onto ids (the
 * caller's), and resets it: 0, or -EIO on a database error.
 */
struct strvec;
int db_collect_ids(sqlite3_stmt *st, struct strvec *ids);

/* Runs SQL text without results; returns an SQLite code (an error is logged). */
int db_exec(struct dbconn *c, const char *sql);
/* BEGIN IMMEDIATE / COMMIT (ROLLBACK after a failed COMMIT) / ROLLBACK. */
int db_begin(struct dbconn *c);
int db_commit(struct dbconn *c);
void db_rollback(struct dbconn *c);

/* Binds text (copied) or NULL when s is NULL. */
void db_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column text as a C string ("" for NULL when nullable is 0). */
const char *db_col_text(sqlite3_stmt *st, int i);

/* Unix milliseconds. */
int64_t db_now_ms(void);

/*
 * Idempotency keys (SPEC 7): what a call with `Idempotency-Key: key` on
 * route ("METHOD /path sha256(body)", routes_idem_route) answered, so that a repeat answers the same and
 * creates nothing. db_idem_get: 1 and the stored status and reply (caller
 * frees), 0 when none, -1 on a database error. db_idem_put stores a 2xx
 * answer (a key already stored keeps its first answer) and forgets keys
 * older than DB_IDEM_TTL_MS; 0 or -1. Both run inside the caller's
 * transaction when there is one.
 */
#define DB_IDEM_TTL_MS (7LL * 24 * 3600 * 1000)
#define DB_IDEM_MAX_KEY 200
int db_idem_get(struct dbconn *c, const char *key, const char *route, int *status, char **reply,
		size_t *len);
int db_idem_put(struct dbconn *c, const char *key, const char *route, int status,
		const char *reply, size_t len);

#endif
