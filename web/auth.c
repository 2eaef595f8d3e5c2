/*
 * auth: tokens and sessions.
 *
 * DESIGN: the database holds only SHA-256 hashes of the secrets, so a copy of
 * the file gives no working token. A presented token is hashed and compared
 * against every live token's hash with CRYPTO_memcmp, without stopping at a
 * match, so the time taken says nothing about which bytes matched. Session
 * secrets are looked up by hash through the index: the hash of a random
 * 256-bit secret leaks nothing worth timing.
 */
#include "auth.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "db.h"
#include "util.h"

static void sha256(const char *s, unsigned char out[32])
{
	unsigned int n = 32;

	if (EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		abort();
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == '@'))
			return false;
	}
	return true;
}

int auth_token_create(struct dbconn *c, const char *name, const char *role, const char *worker,
		      char token[65])
{
	unsigned char h[32];
	char id[25];
	bool is_worker = strcmp(role, "worker") == 0, is_admin = strcmp(role, "admin") == 0;

	if (!name_ok(name) || (!is_worker && !is_admin && strcmp(role, "user") != 0))
		return -EINVAL;
	if (!is_worker && worker != NULL)
		return -EINVAL;
	if (is_worker && worker == NULL)
		worker = name;
	if (is_worker && !name_ok(worker))
		return -EINVAL;
	random_hex(token, 32);
	sha256(token, h);
	id_new(id);
	sqlite3_stmt *st = db_stmt(c, "INSERT INTO tokens (id, name, role, hash, created_at, admin, "
				   "worker_name) VALUES (?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, name);
	db_bind_text(st, 3, is_worker ? "worker" : "user");
	sqlite3_bind_blob(st, 4, h, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, db_now_ms());
	sqlite3_bind_int(st, 6, is_admin);
	if (is_worker)
		db_bind_text(st, 7, worker);
	else
		sqlite3_bind_null(st, 7);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int auth_token_list(struct dbconn *c, FILE *f)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT name, CASE WHEN admin THEN 'admin' ELSE role END, id, "
				   "created_at, revoked_at, worker_name FROM tokens "
				   "ORDER BY created_at, name");
	int rc;

	while ((rc = db_step(st)) == SQLITE_ROW)
		fprintf(f, "%s %s %s %lld%s%s%s\n", db_col_text(st, 0), db_col_text(st, 1),
			db_col_text(st, 2), (long long)sqlite3_column_int64(st, 3),
			sqlite3_column_type(st, 5) == SQLITE_NULL ? "" : " worker=",
			db_col_text(st, 5),
			sqlite3_column_type(st, 4) == SQLITE_NULL ? "" : " revoked");
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int auth_token_revoke(struct dbconn *c, const char *name)
{
	if (db_begin(c) != SQLITE_OK)
		return -EIO;
	sqlite3_stmt *st = db_stmt(c, "UPDATE tokens SET revoked_at = ? "
				   "WHERE name = ? AND revoked_at IS NULL");
	sqlite3_bind_int64(st, 1, db_now_ms());
	db_bind_text(st, 2, name);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_rollback(c);
		return -EIO;
	}
	if (sqlite3_changes(db_handle(c)) == 0) {
		db_rollback(c);
		return -ENOENT;
	}
	st = db_stmt(c, "DELETE FROM sessions WHERE token_id = (SELECT id FROM tokens WHERE name = ?)");
	db_bind_text(st, 1, name);
	rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_rollback(c);
		return -EIO;
	}
	return db_commit(c) == SQLITE_OK ? 0 : -EIO;
}

/* Columns from col_id on: id, name, role, admin, worker_name. */
static void fill(struct principal *who, sqlite3_stmt *st, int col_id)
{
	snprintf(who->id, sizeof(who->id), "%s", db_col_text(st, col_id));
	snprintf(who->name, sizeof(who->name), "%s", db_col_text(st, col_id + 1));
	who->role = strcmp(db_col_text(st, col_id + 2), "worker") == 0 ? ROLE_WORKER : ROLE_USER;
	who->admin = who->role == ROLE_USER && sqlite3_column_int(st, col_id + 3) != 0;
	snprintf(who->worker, sizeof(who->worker), "%s",
		 who->role == ROLE_WORKER ? db_col_text(st, col_id + 4) : "");
}

int auth_check_token(struct dbconn *c, const char *token, struct principal *who)
{
	unsigned char h[32];
	int found = 0, rc;

	if (token == NULL || strlen(token) > 256)
		return -ENOENT;
	sha256(token, h);
	sqlite3_stmt *st = db_stmt(c, "SELECT hash, id, name, role, admin, worker_name FROM tokens "
				   "WHERE revoked_at IS NULL");
	while ((rc = db_row(st)) == 1) {
		const void *b = sqlite3_column_blob(st, 0);
		if (b == NULL || sqlite3_column_bytes(st, 0) != 32)
			continue;
		/* No early exit: every live token is compared. */
		if (CRYPTO_memcmp(b, h, 32) == 0 && !found) {
			fill(who, st, 1);
			found = 1;
		}
	}
	sqlite3_reset(st);
	if (rc < 0)
		return -EIO;
	return found ? 0 : -ENOENT;
}

int auth_session_create(struct dbconn *c, const char *token_id, char secret[65])
{
	unsigned char h[32];
	int64_t now = db_now_ms();

	random_hex(secret, 32);
	sha256(secret, h);
	sqlite3_stmt *st = db_stmt(c, "INSERT INTO sessions (hash, token_id, created_at, expires_at) "
				   "VALUES (?, ?, ?, ?)");
	sqlite3_bind_blob(st, 1, h, 32, SQLITE_TRANSIENT);
	db_bind_text(st, 2, token_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now + (int64_t)AUTH_SESSION_SECONDS * 1000);
	int rc = db_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	/* Expired sessions go at each login: their number stays bounded by the logins of 30 days. */
	return auth_sessions_purge(c);
}

int auth_check_session(struct dbconn *c, const char *secret, struct principal *who)
{
	unsigned char h[32];
	int found;

	if (secret == NULL || strlen(secret) != 64)
		return -ENOENT;
	sha256(secret, h);
	sqlite3_stmt *st = db_stmt(c, "SELECT t.id, t.name, t.role, t.admin, t.worker_name FROM sessions s "
				   "JOIN tokens t ON t.id = s.token_id "
				   "WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL");
	sqlite3_bind_blob(st, 1, h, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, db_now_ms());
	found = db_row(st);
	if (found == 1)
		fill(who, st, 0);
	sqlite3_reset(st);
	return found == 1 ? 0 : found == 0 ? -ENOENT : -EIO;
}

void auth_session_delete(struct dbconn *c, const char *secret)
{
	unsigned char h[32];

	if (secret == NULL)
		return;
	sha256(secret, h);
	sqlite3_stmt *st = db_stmt(c, "DELETE FROM sessions WHERE hash = ?");
	sqlite3_bind_blob(st, 1, h, 32, SQLITE_TRANSIENT);
	(void)db_step(st);	/* logged; the cookie is cleared anyway */
	sqlite3_reset(st);
}

int auth_sessions_purge(struct dbconn *c)
{
	sqlite3_stmt *st = db_stmt(c, "DELETE FROM sessions WHERE expires_at <= ?");

	sqlite3_bind_int64(st, 1, db_now_ms());
	int rc = db_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int auth_user_id(struct dbconn *c, const char *name, char id[25])
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM tokens WHERE name = ? AND role = 'user' "
				   "AND revoked_at IS NULL");

	db_bind_text(st, 1, name);
	int rc = db_step(st);
	if (rc == SQLITE_ROW)
		snprintf(id, 25, "%s", db_col_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}
