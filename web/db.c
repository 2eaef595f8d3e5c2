/*
 * db: SQLite store of winnow-web.
 *
 * DESIGN: libmicrohttpd runs one thread per connection, so requests run in
 * parallel; each borrows one connection from a fixed pool (a mutex and a
 * condition variable) for its whole life and gives it back at the end. A
 * pool rather than one connection per thread because connection threads come
 * and go with the clients. WAL lets readers run beside the one writer;
 * busy_timeout makes writers queue instead of failing; a read-then-write
 * (the claim, the idempotent creates) runs in BEGIN IMMEDIATE so that two
 * writers never both read the old state. Statements are prepared once per
 * connection, on first use, and finalized at close.
 *
 * Migrations: PRAGMA user_version is the schema version; migration N takes a
 * file from version N-1 to N, in its own transaction with the version bump,
 * so a crash leaves the file at a whole version. To change the schema, add
 * migrations[N+1] and bump DB_SCHEMA_VERSION; never edit an old one.
 * tests/py/test_web_migrate.py starts the server on a frozen file of every
 * version (tests/data/migrate/web-vN.db, each made once by the winnow-web of a
 * commit at that version, see its README) and compares the migrated schema
 * with a fresh file's, so an edited old migration, or a schema change without
 * a new one, fails there. The new version needs its own file, made by
 * tests/tools/mkolddb.sh at a commit where it is current.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define STMT_CACHE 160

struct dbconn {
	sqlite3 *h;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[STMT_CACHE];
	size_t ncache;
	struct dbconn *next_free;
};

struct db {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dbconn *conns;
	int n;
	struct dbconn *free_list;
};

static const char *const migrations[] = {
	[1] =
	"CREATE TABLE tokens (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  role TEXT NOT NULL CHECK (role IN ('worker', 'user')),\n"
	"  hash BLOB NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  revoked_at INTEGER\n"
	");\n"
	"CREATE TABLE datasets (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  last_modified_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE datasources (\n"
	"  dataset_id TEXT PRIMARY KEY REFERENCES datasets(id),\n"
	"  type TEXT NOT NULL,\n"
	"  full_path TEXT NOT NULL,\n"
	"  s3_endpoint TEXT, s3_region TEXT, s3_access_key_id TEXT, s3_secret_access_key TEXT,\n"
	"  last_modified_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE workers (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  user_id TEXT NOT NULL,\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  worker_type TEXT NOT NULL,\n"
	"  state TEXT NOT NULL,\n"
	"  labels TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  last_modified_at INTEGER NOT NULL,\n"
	"  last_seen_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE configs (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  user_id TEXT NOT NULL,\n"
	"  config TEXT NOT NULL,\n"
	"  creator TEXT,\n"
	"  created_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE scheduled (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  dataset_id TEXT NOT NULL REFERENCES datasets(id),\n"
	"  config_id TEXT NOT NULL REFERENCES configs(id),\n"
	"  user_id TEXT NOT NULL,\n"
	"  priority TEXT NOT NULL,\n"
	"  priority_rank INTEGER NOT NULL,\n"
	"  runs_on TEXT NOT NULL,\n"
	"  state TEXT NOT NULL,\n"
	"  worker_id TEXT,\n"
	"  origin_scheduled_id TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  last_modified_at INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX scheduled_poll ON scheduled (state, priority_rank DESC, created_at);\n"
	"CREATE INDEX scheduled_dataset ON scheduled (dataset_id, created_at);\n"
	"CREATE TABLE runs (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  user_id TEXT NOT NULL,\n"
	"  dataset_id TEXT NOT NULL,\n"
	"  config_id TEXT NOT NULL,\n"
	"  scheduled_id TEXT NOT NULL UNIQUE,\n"
	"  docker_version TEXT NOT NULL,\n"
	"  state TEXT NOT NULL,\n"
	"  message TEXT NOT NULL DEFAULT '',\n"
	"  progress REAL NOT NULL DEFAULT 0,\n"
	"  abort_requested INTEGER NOT NULL DEFAULT 0,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  last_modified_at INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX runs_dataset ON runs (dataset_id, created_at);\n"
	"CREATE TABLE run_logs (\n"
	"  run_id TEXT NOT NULL,\n"
	"  seq INTEGER NOT NULL,\n"
	"  ts INTEGER NOT NULL,\n"
	"  level TEXT NOT NULL,\n"
	"  msg TEXT NOT NULL,\n"
	"  state TEXT,\n"
	"  PRIMARY KEY (run_id, seq)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE samples (\n"
	"  dataset_id TEXT NOT NULL,\n"
	"  idx INTEGER NOT NULL,\n"
	"  file_name TEXT NOT NULL,\n"
	"  meta_data TEXT,\n"
	"  PRIMARY KEY (dataset_id, idx),\n"
	"  UNIQUE (dataset_id, file_name)\n"
	");\n"
	"CREATE TABLE tags (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  dataset_id TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  prev_tag_id TEXT,\n"
	"  bit_mask_data TEXT NOT NULL,\n"
	"  tot_size INTEGER NOT NULL,\n"
	"  creator TEXT NOT NULL,\n"
	"  run_id TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  UNIQUE (dataset_id, name)\n"
	");\n"
	"CREATE INDEX tags_run ON tags (run_id);\n"
	"CREATE TABLE scores (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  tag_id TEXT NOT NULL,\n"
	"  score_type TEXT NOT NULL,\n"
	"  scores BLOB NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  UNIQUE (tag_id, score_type)\n"
	");\n"
	"CREATE TABLE datapools (\n"
	"  dataset_id TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  file_name TEXT NOT NULL,\n"
	"  UNIQUE (dataset_id, name, file_name)\n"
	");\n"
	"CREATE TABLE artifacts (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  run_id TEXT NOT NULL,\n"
	"  file_name TEXT NOT NULL,\n"
	"  type TEXT NOT NULL,\n"
	"  sig TEXT NOT NULL,\n"
	"  content BLOB,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  uploaded_at INTEGER,\n"
	"  UNIQUE (run_id, file_name)\n"
	");\n",
	/* v2: login sessions of the pages (the cookie holds a session secret, stored hashed). */
	[2] =
	"CREATE TABLE sessions (\n"
	"  hash BLOB PRIMARY KEY,\n"
	"  token_id TEXT NOT NULL REFERENCES tokens(id),\n"
	"  created_at INTEGER NOT NULL,\n"
	"  expires_at INTEGER NOT NULL\n"
	");\n",
	/*
	 * v3: runs taken back from a worker that went silent (workers.c). A run
	 * that had not started is deleted and its id kept here, so the worker's
	 * later calls on it answer 409 instead of 404; a scheduled run made by
	 * rescheduling a crashed one is marked, so that it is rescheduled once.
	 */
	[3] =
	"CREATE TABLE released_runs (\n"
	"  run_id TEXT PRIMARY KEY,\n"
	"  scheduled_id TEXT NOT NULL,\n"
	"  worker_id TEXT,\n"
	"  released_at INTEGER NOT NULL\n"
	");\n"
	"ALTER TABLE scheduled ADD COLUMN crash_rescheduled INTEGER NOT NULL DEFAULT 0;\n",
	/*
	 * v4: datasources per purpose (SPEC 3, Lightly's DatasourcePurpose): at
	 * most one row per (dataset, purpose), INPUT_OUTPUT alone or INPUT and
	 * LIGHTLY beside each other (web/datasource.c keeps that). Lightly's
	 * thumbSuffix and webServerLocation are kept to answer them back;
	 * s3_endpoint NULL means AWS's regional endpoint. A datasource of before
	 * served both: it becomes INPUT_OUTPUT, its endpoint kept.
	 * Also the Idempotency-Key store of SPEC 7 (db_idem_*: a repeated call
	 * answers what the first did), and the log group of Lightly's
	 * DockerRunLogCreateEntryData (a line's seq is now the web app's own
	 * numbering).
	 */
	[4] =
	"CREATE TABLE datasources_v4 (\n"
	"  dataset_id TEXT NOT NULL REFERENCES datasets(id),\n"
	"  purpose TEXT NOT NULL CHECK (purpose IN ('INPUT_OUTPUT', 'INPUT', 'LIGHTLY')),\n"
	"  type TEXT NOT NULL,\n"
	"  full_path TEXT NOT NULL,\n"
	"  thumb_suffix TEXT, web_server_location TEXT,\n"
	"  s3_endpoint TEXT, s3_region TEXT, s3_access_key_id TEXT, s3_secret_access_key TEXT,\n"
	"  last_modified_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (dataset_id, purpose)\n"
	");\n"
	"INSERT INTO datasources_v4 (dataset_id, purpose, type, full_path, s3_endpoint, s3_region,\n"
	"  s3_access_key_id, s3_secret_access_key, last_modified_at)\n"
	"  SELECT dataset_id, 'INPUT_OUTPUT', type, full_path, nullif(s3_endpoint, ''), s3_region,\n"
	"  s3_access_key_id, s3_secret_access_key, last_modified_at FROM datasources;\n"
	"DROP TABLE datasources;\n"
	"ALTER TABLE datasources_v4 RENAME TO datasources;\n"
	"CREATE TABLE idempotency (\n"
	"  key TEXT NOT NULL,\n"
	"  route TEXT NOT NULL,\n"
	"  status INTEGER NOT NULL,\n"
	"  reply BLOB NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (key, route)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX idempotency_age ON idempotency (created_at);\n"
	"ALTER TABLE run_logs ADD COLUMN grp TEXT;\n",
	/*
	 * v5: users and sharing (SPEC 8). An admin token is a user token with
	 * admin = 1 (role stays 'user', so every user route takes it). A worker
	 * token is bound to one worker name; a worker token of before is bound
	 * to the first worker it registered (so a running deployment keeps
	 * working), else to its own name. dataset_shares: the users (token ids)
	 * an owner or admin shared a dataset with. The sessions index lets
	 * expired sessions be purged.
	 */
	[5] =
	"ALTER TABLE tokens ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE tokens ADD COLUMN worker_name TEXT;\n"
	"UPDATE tokens SET worker_name = coalesce((SELECT w.name FROM workers w\n"
	"  WHERE w.user_id = tokens.id ORDER BY w.created_at, w.id LIMIT 1), name)\n"
	"  WHERE role = 'worker';\n"
	"CREATE TABLE dataset_shares (\n"
	"  dataset_id TEXT NOT NULL REFERENCES datasets(id),\n"
	"  token_id TEXT NOT NULL REFERENCES tokens(id),\n"
	"  created_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (dataset_id, token_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX dataset_shares_token ON dataset_shares (token_id);\n"
	"CREATE INDEX datasets_user ON datasets (user_id, created_at);\n"
	"CREATE INDEX scheduled_worker ON scheduled (worker_id, state);\n"
	"CREATE INDEX sessions_expiry ON sessions (expires_at);\n",
};

const char *db_migration_sql(int version)
{
	if (version < 1 || version > DB_SCHEMA_VERSION)
		return NULL;
	return migrations[version];
}

int64_t db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_conn(const char *path, sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		sqlite3_close(h);
		return -1;
	}
	sqlite3_busy_timeout(h, 10000);
	/*
	 * synchronous=FULL: a commit is on disk before its answer goes out. A
	 * worker deletes its outbox row once answered, so a commit that a power
	 * loss could still take back (NORMAL) would be an effect lost for good.
	 */
	rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
			  "PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
		sqlite3_close(h);
		return -1;
	}
	*out = h;
	return 0;
}

static int user_version(sqlite3 *h)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int migrate(sqlite3 *h, const char *path, char *err, size_t errlen)
{
	/* BEGIN IMMEDIATE first, so two servers started on one file migrate once. */
	for (;;) {
		if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
			return -1;
		}
		int v = user_version(h);
		if (v < 0) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
			sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (v > DB_SCHEMA_VERSION) {
			snprintf(err, errlen, "%s: schema version %d is newer than this build's %d",
				 path, v, DB_SCHEMA_VERSION);
			sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (v == DB_SCHEMA_VERSION) {
			sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
			return 0;
		}
		char *bump = xasprintf("PRAGMA user_version=%d", v + 1);
		char *msg = NULL;
		int rc = sqlite3_exec(h, migrations[v + 1], NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(h, bump, NULL, NULL, &msg);
		free(bump);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(h, "COMMIT", NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: migration to version %d: %s", path, v + 1,
				 msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		log_info("database %s: migrated to schema version %d", path, v + 1);
	}
}

/*
 * web.db holds S3 secrets and token hashes: it is created 0600 whatever the
 * umask (SQLite gives its -wal and -shm the database file's mode), and an
 * older one readable by others is narrowed, with a log line.
 */
static int secure_file(const char *path, char *err, size_t errlen)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd >= 0) {
		close(fd);
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the database: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char *p = xasprintf("%s%s", path, sfx[i]);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
			if (chmod(p, st.st_mode & 0700) == 0)
				log_info("database %s: was mode %04o, now %04o (it holds secrets)", p,
					 (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & 0700));
			else
				log_warn("database %s: mode %04o, readable by others", p,
					 (unsigned)(st.st_mode & 07777));
		}
		free(p);
	}
	return 0;
}

int db_open(const char *path, int pool, struct db **out, char *err, size_t errlen)
{
	if (strcmp(path, ":memory:") != 0 && secure_file(path, err, errlen) < 0)
		return -1;

	struct db *db = xcalloc(1, sizeof(*db));

	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->cv, NULL);
	db->conns = xcalloc((size_t)pool, sizeof(struct dbconn));
	for (int i = 0; i < pool; i++) {
		if (open_conn(path, &db->conns[i].h, err, errlen) < 0)
			goto fail;
		db->n = i + 1;
		if (i == 0 && migrate(db->conns[0].h, path, err, errlen) < 0)
			goto fail;
		db->conns[i].next_free = db->free_list;
		db->free_list = &db->conns[i];
	}
	*out = db;
	return 0;
fail:
	db_close(db);
	return -1;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < db->n; i++) {
		for (size_t k = 0; k < db->conns[i].ncache; k++)
			sqlite3_finalize(db->conns[i].cache[k].st);
		sqlite3_close(db->conns[i].h);
	}
	free(db->conns);
	pthread_mutex_destroy(&db->mu);
	pthread_cond_destroy(&db->cv);
	free(db);
}

struct dbconn *db_acquire(struct db *db)
{
	pthread_mutex_lock(&db->mu);
	while (db->free_list == NULL)
		pthread_cond_wait(&db->cv, &db->mu);
	struct dbconn *c = db->free_list;
	db->free_list = c->next_free;
	pthread_mutex_unlock(&db->mu);
	return c;
}

void db_release(struct db *db, struct dbconn *c)
{
	if (c == NULL)
		return;
	for (size_t k = 0; k < c->ncache; k++)
		sqlite3_reset(c->cache[k].st);
	/* A handler that returned early inside a transaction must not leak it. */
	if (!sqlite3_get_autocommit(c->h))
		sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&db->mu);
	c->next_free = db->free_list;
	db->free_list = c;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

sqlite3 *db_handle(struct dbconn *c)
{
	return c->h;
}

sqlite3_stmt *db_stmt(struct dbconn *c, const char *sql)
{
	for (size_t k = 0; k < c->ncache; k++) {
		if (c->cache[k].sql == sql) {
			sqlite3_reset(c->cache[k].st);
			sqlite3_clear_bindings(c->cache[k].st);
			return c->cache[k].st;
		}
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		fatalx("sqlite prepare: %s: %s", sqlite3_errmsg(c->h), sql);
	if (c->ncache == STMT_CACHE)
		fatalx("db: more than %d distinct statements", STMT_CACHE);
	c->cache[c->ncache].sql = sql;
	c->cache[c->ncache].st = st;
	c->ncache++;
	return st;
}

int (*db_step_fn)(sqlite3_stmt *st) = sqlite3_step;

int db_step(sqlite3_stmt *st)
{
	int rc = db_step_fn(st);

	/* A constraint is an answer about the data (a name taken), the caller's
	   to give; anything else is a failure of the store. */
	if (rc != SQLITE_ROW && rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT) {
		/* The code returned, not the handle's: an injected fault leaves no
		   error on the handle. */
		sqlite3 *h = sqlite3_db_handle(st);
		log_warnx("database error: %s (%s) in: %s", sqlite3_errstr(rc),
			  sqlite3_errcode(h) == rc ? sqlite3_errmsg(h) : "no detail",
			  sqlite3_sql(st));
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sqlite3_reset(st);
	return rc;
}

int db_row(sqlite3_stmt *st)
{
	int rc = db_step(st);

	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

int db_collect_ids(sqlite3_stmt *st, struct strvec *ids)
{
	int rc;

	while ((rc = db_row(st)) == 1)
		strvec_push(ids, db_col_text(st, 0));
	sqlite3_reset(st);
	return rc;
}

int db_exec(struct dbconn *c, const char *sql)
{
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		log_warnx("database error: %s (%s) in: %s", sqlite3_errstr(rc),
			  sqlite3_errmsg(c->h), sql);
	return rc;
}

int db_begin(struct dbconn *c)
{
	return db_exec(c, "BEGIN IMMEDIATE");
}

int db_commit(struct dbconn *c)
{
	int rc = db_exec(c, "COMMIT");

	if (rc != SQLITE_OK)
		db_exec(c, "ROLLBACK");
	return rc;
}

void db_rollback(struct dbconn *c)
{
	if (!sqlite3_get_autocommit(c->h))
		db_exec(c, "ROLLBACK");
}

void db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

const char *db_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

int db_idem_get(struct dbconn *c, const char *key, const char *route, int *status, char **reply,
		size_t *len)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT status, reply FROM idempotency "
				   "WHERE key = ? AND route = ?");
	int rc;

	db_bind_text(st, 1, key);
	db_bind_text(st, 2, route);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		const void *b = sqlite3_column_blob(st, 1);
		*status = sqlite3_column_int(st, 0);
		*reply = xmalloc(n + 1);
		if (n > 0)
			memcpy(*reply, b, n);
		(*reply)[n] = '\0';
		*len = n;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int db_idem_put(struct dbconn *c, const char *key, const char *route, int status,
		const char *reply, size_t len)
{
	int64_t now = db_now_ms();
	sqlite3_stmt *st = db_stmt(c, "DELETE FROM idempotency WHERE created_at < ?");

	sqlite3_bind_int64(st, 1, now - DB_IDEM_TTL_MS);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	st = db_stmt(c, "INSERT OR IGNORE INTO idempotency (key, route, status, reply, created_at) "
		     "VALUES (?, ?, ?, ?, ?)");
	db_bind_text(st, 1, key);
	db_bind_text(st, 2, route);
	sqlite3_bind_int(st, 3, status);
	sqlite3_bind_blob(st, 4, reply ? reply : "", (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	rc = db_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
