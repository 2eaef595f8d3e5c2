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
 * Creates a token NAME with a role ("worker" or "user"): 32 random bytes,
 * hex, written to token (65 bytes) to be shown once. Returns 0, -EEXIST when
 * the name is taken, -EINVAL for a bad name or role, -EIO on a database error.
 */
int auth_token_create(struct dbconn *c, const char *name, const char *role, char token[65]);
/* Prints "NAME ROLE ID CREATED [revoked]" lines. Returns 0 or -EIO. */
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

#endif
