/*
 * server: the HTTP server of winnow-web (libmicrohttpd): request bodies,
 * routing, authentication, the login cookie, static files, request logs.
 */
#ifndef WINNOW_WEB_SERVER_H
#define WINNOW_WEB_SERVER_H

#include "http.h"

struct server;

/*
 * Starts listening on "host:port" with the settings (borrowed; they must
 * outlive the server). Returns 0 and *out, or -1 after logging why.
 */
int server_start(const char *listen, const struct web_settings *ws, struct server **out);
void server_stop(struct server *s);

#endif
