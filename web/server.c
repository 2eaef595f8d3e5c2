/*
 * server: winnow-web's HTTP front.
 *
 * DESIGN: libmicrohttpd with MHD_USE_THREAD_PER_CONNECTION (and its internal
 * polling thread for accepting): handlers may block, on SQLite's busy wait or
 * on decoding an image for a thumbnail, and a thread per connection keeps one
 * slow request from stalling the others, which a fixed pool of event threads
 * would not. MHD_OPTION_CONNECTION_LIMIT bounds the threads. A request body
 * is gathered in memory up to 16 MiB; past that the rest is read and dropped
 * and the reply is 413 (answering before the body is read would make many
 * clients see a reset instead of the status). Each request borrows a
 * database connection from db.c's pool on first use and returns it when the
 * reply is built. Every /v1 route is authenticated here, from the route
 * table, before its handler runs; the handler never sees an unauthenticated
 * call unless its route says ROLE_NONE (or ROLE_PUBLIC: no credential at all).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "authz.h"
#include "db.h"
#include "log.h"
#include "longpoll.h"
#include "routes.h"
#include "util.h"

struct server {
	struct MHD_Daemon *d;
	const struct web_settings *ws;
};

struct conn_ctx {
	struct buf body;
	bool too_large;
	double t0;
};

static bool param_is_id(const char *pattern, int index)
{
	/* The index-th {...} of the pattern: an id when its name ends in "Id". */
	const char *p = pattern;
	for (int i = 0; (p = strchr(p, '{')) != NULL; i++, p++) {
		if (i != index)
			continue;
		const char *end = strchr(p, '}');
		return end && end - p >= 3 && end[-2] == 'I' && end[-1] == 'd';
	}
	return false;
}

/* The token of a request: Bearer header, then ?token=, then none. */
static const char *bearer(struct req *r)
{
	const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		return h + 7;
	return req_query(r, "token");
}

static int authenticate(struct req *r)
{
	const char *tok = bearer(r);

	if (tok != NULL)
		return auth_check_token(req_db(r), tok, &r->who);
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, AUTH_COOKIE);
	if (cookie != NULL)
		return auth_check_session(req_db(r), cookie, &r->who);
	return -ENOENT;
}

/*
 * Idempotency-Key (SPEC 7): on the routes that create something
 * (routes_idempotent), a key seen before on the same method, path and body
 * answers what its first call answered, and the handler does not run again;
 * a 2xx answer is stored with its key. Handlers that must store the key in their
 * own transaction (the log lines) do so too; the store keeps the first.
 */
static void idem_dispatch(struct req *r, const struct route *rt, struct resp *out)
{
	const char *key = req_header(r, "Idempotency-Key");

	if (key == NULL || !routes_idempotent(rt)) {
		rt->fn(r, out);
		return;
	}
	size_t n = strlen(key);
	if (n == 0 || n > DB_IDEM_MAX_KEY || !utf8_valid(key, n) || strpbrk(key, "\r\n") != NULL) {
		resp_error(out, 400, "BAD_REQUEST", "Idempotency-Key must be 1-%d printable characters",
			   DB_IDEM_MAX_KEY);
		return;
	}
	char *route = routes_idem_route(r);
	int status;
	char *reply;
	size_t len;
	int found = db_idem_get(req_db(r), key, route, &status, &reply, &len);
	if (found < 0) {
		resp_db_error(out, req_db(r));
	} else if (found > 0) {
		free(out->body);
		out->status = status;
		out->body = reply;
		out->len = len;
		out->ctype = "application/json";
	} else {
		rt->fn(r, out);
		if (out->status >= 200 && out->status < 300 && out->fd < 0 &&
		    db_idem_put(req_db(r), key, route, out->status, out->body, out->len) < 0)
			log_warnx("idempotency key of %s: not stored", route);
	}
	free(route);
}

static void dispatch_api(struct req *r, struct resp *out)
{
	char buf[4096], allow[64];
	int status;
	const struct route *rt = routes_match(r->method, r->path, buf, sizeof(buf), r->params,
					      &status, allow, sizeof(allow));

	if (rt == NULL) {
		if (status == 405) {
			resp_error(out, 405, "BAD_REQUEST", "%s is not allowed here", r->method);
			out->extra_header_name = xstrdup(MHD_HTTP_HEADER_ALLOW);
			out->extra_header_value = xstrdup(allow);
		} else {
			resp_error(out, 404, "NOT_FOUND", "no such route");
		}
		return;
	}
	if (rt->roles != ROLE_NONE && rt->roles != ROLE_PUBLIC) {
		int arc = authenticate(r);
		if (arc == -EIO) {
			resp_db_error(out, req_db(r));	/* not 401: the token may be good */
			return;
		}
		if (arc < 0) {
			resp_error(out, 401, "UNAUTHORIZED", "a valid token is required");
			return;
		}
		if (!(rt->roles & r->who.role)) {
			resp_error(out, 403, "FORBIDDEN", "this route is for %s tokens",
				   rt->roles == ROLE_WORKER ? "worker" : "user");
			return;
		}
	}
	for (int i = 0; i < HTTP_MAX_PARAMS && strchr(rt->pattern, '{'); i++) {
		if (param_is_id(rt->pattern, i) && !id_valid(r->params[i])) {
			resp_error(out, 400, "MALFORMED_REQUEST", "malformed id (24 lowercase hex characters)");
			return;
		}
	}
	/* Who may touch the objects the path names (authz.c): 404 as if absent, 403, or 503. */
	int az = authz_route(r, rt);
	if (az != 0) {
		authz_reply(out, req_db(r), az);
		return;
	}
	idem_dispatch(r, rt, out);
}

/*
 * Secure when winnow-web speaks TLS itself (--tls-cert): the browser then
 * never sends the session over plain HTTP. Without it the cookie cannot be
 * Secure, or a plain-HTTP deployment (loopback, or TLS ended in a proxy in
 * front) could not log in at all.
 */
static char *cookie_header(const struct web_settings *ws, const char *value, bool clear)
{
	const char *secure = ws->tls_cert != NULL ? "; Secure" : "";

	if (clear)
		return xasprintf("%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s", AUTH_COOKIE,
				 secure);
	return xasprintf("%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", AUTH_COOKIE,
			 value, AUTH_SESSION_SECONDS, secure);
}

static void do_login(struct req *r, struct resp *out)
{
	cJSON *j = req_json_object(r, out);
	const char *tok = NULL;
	char secret[65];

	if (j == NULL)
		return;
	if (json_str(j, "token", true, &tok, out) < 0)
		goto done;
	int arc = auth_check_token(req_db(r), tok, &r->who);
	if (arc == -EIO) {
		resp_db_error(out, req_db(r));
		goto done;
	}
	if (arc < 0) {
		resp_error(out, 401, "UNAUTHORIZED", "invalid token");
		goto done;
	}
	if (r->who.role != ROLE_USER) {
		resp_error(out, 403, "FORBIDDEN", "the pages need a user token");
		goto done;
	}
	if (auth_session_create(req_db(r), r->who.id, secret) < 0) {
		resp_db_error(out, req_db(r));
		goto done;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "userId", r->who.id);
	cJSON_AddStringToObject(o, "name", r->who.name);
	resp_json(out, 200, o);
	out->set_cookie = cookie_header(r->ws, secret, false);
done:
	cJSON_Delete(j);
}

static void do_logout(struct req *r, struct resp *out)
{
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, AUTH_COOKIE);

	if (cookie != NULL)
		auth_session_delete(req_db(r), cookie);
	resp_json(out, 200, cJSON_CreateObject());
	out->set_cookie = cookie_header(r->ws, NULL, true);
}

static const char *mime_type(const char *path)
{
	static const char *const map[][2] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
		{ ".jpg", "image/jpeg" }, { ".ico", "image/x-icon" }, { ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" }, { ".map", "application/json" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < ARRAY_LEN(map); i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return "application/octet-stream";
}

/*
 * Static files: only beneath the static folder. A path with a segment
 * starting with '.' ("..", hidden files) is refused outright; what is left is
 * resolved and must still lie inside the folder (a link out is refused).
 */
static void do_static(struct req *r, struct resp *out)
{
	const char *p = r->path;

	if (strcmp(p, "/") == 0)
		p = "/index.html";
	if (strstr(p, "/.") != NULL || strlen(p) > 1024 || r->ws->static_dir == NULL) {
		resp_error(out, 404, "NOT_FOUND", "not found");
		return;
	}
	char *full = xasprintf("%s%s", r->ws->static_dir, p);
	char real[PATH_MAX];
	size_t rootlen = strlen(r->ws->static_dir);
	int fd = -1;
	struct stat st;

	if (realpath(full, real) == NULL || strncmp(real, r->ws->static_dir, rootlen) != 0 ||
	    real[rootlen] != '/')
		goto notfound;
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto notfound;
	free(full);
	out->status = 200;
	out->fd = fd;
	out->fd_size = (uint64_t)st.st_size;
	out->ctype = mime_type(real);
	return;
notfound:
	if (fd >= 0)
		close(fd);
	free(full);
	resp_error(out, 404, "NOT_FOUND", "not found");
}

static void dispatch(struct req *r, struct resp *out)
{
	if (strcmp(r->path, "/v1") == 0 || strncmp(r->path, "/v1/", 4) == 0) {
		dispatch_api(r, out);
	} else if (strcmp(r->path, "/login") == 0 || strcmp(r->path, "/logout") == 0) {
		if (strcmp(r->method, "POST") != 0) {
			resp_error(out, 405, "BAD_REQUEST", "%s is not allowed here", r->method);
			out->extra_header_name = xstrdup(MHD_HTTP_HEADER_ALLOW);
			out->extra_header_value = xstrdup("POST");
		} else if (strcmp(r->path, "/login") == 0) {
			do_login(r, out);
		} else {
			do_logout(r, out);
		}
	} else if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		do_static(r, out);
	} else {
		resp_error(out, 405, "BAD_REQUEST", "%s is not allowed here", r->method);
		out->extra_header_name = xstrdup(MHD_HTTP_HEADER_ALLOW);
		out->extra_header_value = xstrdup("GET, HEAD");
	}
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct resp *out, bool api)
{
	struct MHD_Response *mr;

	if (out->fd >= 0) {
		mr = MHD_create_response_from_fd64(out->fd_size, out->fd);
		out->fd = -1;	/* MHD closes it */
	} else {
		mr = MHD_create_response_from_buffer(out->len, out->body, MHD_RESPMEM_MUST_FREE);
		out->body = NULL;
	}
	if (mr == NULL)
		return MHD_NO;
	if (out->ctype)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, out->ctype);
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	if (api)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (out->set_cookie)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, out->set_cookie);
	if (out->extra_header_name)
		MHD_add_response_header(mr, out->extra_header_name, out->extra_header_value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)out->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct conn_ctx *ctx = *con_cls;

	if (ctx == NULL) {
		ctx = xcalloc(1, sizeof(*ctx));
		ctx->t0 = now_seconds();
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!ctx->too_large && ctx->body.len + *upload_data_size > HTTP_MAX_BODY) {
			ctx->too_large = true;
			buf_free(&ctx->body);
		}
		if (!ctx->too_large)
			buf_append(&ctx->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	struct req r = {
		.conn = conn, .method = method, .path = url, .ws = s->ws,
		.body = ctx->body.data ? ctx->body.data : "", .body_len = ctx->body.len,
	};
	struct resp out = { .status = 500, .fd = -1 };

	if (ctx->too_large)
		resp_error(&out, 413, "PAYLOAD_TOO_LARGE", "request body over 16 MiB");
	else
		dispatch(&r, &out);
	req_db_release(&r);
	if (out.body == NULL && out.fd < 0)
		resp_error(&out, 500, "MALFORMED_RESPONSE", "no reply");
	int status = out.status;
	enum MHD_Result ret = send_reply(conn, &out, strncmp(url, "/v1", 3) == 0);
	/* The path only: a query string may hold a token. */
	log_msg(status >= 500 ? LOG_LVL_ERR : LOG_LVL_INFO, "%s %s %d %.1fms%s%s", method, url,
		status, (now_seconds() - ctx->t0) * 1000, r.who.name[0] ? " by " : "", r.who.name);
	free(out.body);
	free(out.set_cookie);
	free(out.extra_header_name);
	free(out.extra_header_value);
	if (out.fd >= 0)
		close(out.fd);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;

	if (ctx == NULL)
		return;
	buf_free(&ctx->body);
	free(ctx);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_msg(LOG_LVL_WARNING, "http: %s", msg);
	free(msg);
}

int server_start(const char *listen, const struct web_settings *ws, struct server **out)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;

	if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
		log_warnx("--listen %s: expected HOST:PORT", listen);
		return -1;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	/* "[::1]:8080" */
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	int rc = getaddrinfo(h, colon + 1, &hints, &ai);
	if (rc != 0) {
		log_warnx("--listen %s: %s", listen, gai_strerror(rc));
		return -1;
	}
	struct server *s = xcalloc(1, sizeof(*s));
	s->ws = ws;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* TLS (GnuTLS inside libmicrohttpd): the PEM texts must outlive the daemon. */
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, ws->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, ws->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (ws->tls_cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_warnx("--tls-cert: this libmicrohttpd was built without TLS");
			freeaddrinfo(ai);
			free(s);
			return -1;
		}
		flags |= MHD_USE_TLS;
	} else {
		tls[0].option = MHD_OPTION_END;
	}
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_ARRAY, tls,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->d == NULL) {
		log_warnx("cannot listen on %s (address in use%s?)", listen,
			  ws->tls_cert ? ", or a certificate and key that do not load or match" : "");
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void server_stop(struct server *s)
{
	if (s == NULL)
		return;
	longpoll_close();	/* waiting polls answer now, so their threads join at once */
	MHD_stop_daemon(s->d);
	free(s);
}
