/*
 * sanity: `winnowd sanity-check [--config FILE]` (SPEC 6), Lightly's "sanity
 * check": can this host run winnowd as configured? The state dir, the web
 * app and the token, each checked and reported on a line of its own.
 */
#ifndef WINNOWD_SANITY_H
#define WINNOWD_SANITY_H

#include <stddef.h>

/*
 * Asks the web app at url (borrowed) who the token (borrowed, never printed)
 * belongs to: GET /v1/winnow/me, a read-only route every role may call. Returns 0
 * when the app answers and the token is a worker token; -ECONNREFUSED (or
 * another negative errno) when the app cannot be reached; -EACCES when the
 * token is refused or is not a worker token, or the web app's certificate is
 * not trusted. ca_file (borrowed, may be NULL) is the PEM CA bundle that
 * verifies an https:// web app instead of the system's. msg gets one line
 * either way.
 */
int sanity_web(const char *url, const char *token, const char *ca_file, char *msg, size_t len);

/*
 * Checks that dir exists or can be created, is a folder and is writable (a
 * file is created and removed in it). Returns 0 or a negative errno, with a
 * line in msg.
 */
int sanity_state_dir(const char *dir, char *msg, size_t len);

/* The sanity-check command: argv[0] is "sanity-check". Returns the exit status. */
int sanity_main(int argc, char **argv);

#endif
