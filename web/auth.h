/*
 * auth: API tokens (created on the command line, stored as SHA-256 hashes,
 * compared in constant time) and the pages' login sessions.
 */
#ifndef WINNOW_WEB_AUTH_H
#define WINNOW_WEB_AUTH_H

#include <stdio.h>

#include "http.h"

/* Session cookie name and lifetime. */
#define AUTH_COOKIE "winnow_session"
#define AUTH_SESSION_SECONDS (30 * 24 * 3600)

/*
 * Creates a token NAME with a role ("admin", "user" or "worker"): 32 random
 * bytes, hex, written to token (65 bytes) to be shown once. An admin token is
 * stored as a user token with the admin flag (principal.admin). A worker token
 * is bound to the worker name worker (NULL: NAME); worker must be NULL for the
 * other roles. Returns 0, -EEXIST when the name is taken, -EINVAL for a bad
 * name, role or worker name, -EIO on a database error.
 */
int auth_token_create(struct dbconn *c, const char *name, const char *role, const char *worker,
		      char token[65]);
/*
 * Prints "NAME ROLE ID CREATED[ worker=WORKERNAME][ revoked]" lines (ROLE is
 * admin, user or worker). Returns 0 or -EIO.
 */
int auth_token_list(struct dbconn *c, FILE *f);
/* Revokes NAME (its sessions end too). Returns 0, -ENOENT or -EIO. */
int auth_token_revoke(struct dbconn *c, const char *name);

/* Fills who for a valid, unrevoked token; returns 0, -ENOENT when it is not one, -EIO on a
   database error (503, never 401). */
int auth_check_token(struct dbconn *c, const char *token, struct principal *who);

/* A new session for a token id; its secret (65 bytes) goes in the cookie. Returns 0 or -EIO. */
int auth_session_create(struct dbconn *c, const char *token_id, char secret[65]);
/* Fills who for a live session secret; returns 0, -ENOENT or -EIO. */
int auth_check_session(struct dbconn *c, const char *secret, struct principal *who);
void auth_session_delete(struct dbconn *c, const char *secret);
/* Deletes the sessions past their expiry (at each login). Returns 0 or -EIO. */
int auth_sessions_purge(struct dbconn *c);
/* The id of the live user (or admin) token named name: 0, -ENOENT or -EIO. */
int auth_user_id(struct dbconn *c, const char *name, char id[25]);

#endif
