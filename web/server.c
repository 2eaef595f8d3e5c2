/*
 * server: winnow-web's HTTP front.
 *
 * DESIGN: event-driven accept and read, handlers on a bounded pool.
 * libmicrohttpd runs a small pool of event threads (epoll where the platform
 * has it, MHD_USE_AUTO) that accept, read headers and bodies and write
 * replies; an idle or half-open connection costs a few kilobytes of MHD's
 * connection pool and no thread. Handlers block (SQLite's busy wait, image
 * decoding for thumbnails), so they never run on an event thread: when a
 * request is complete its connection is suspended (MHD_suspend_connection),
 * the request is queued to HANDLER_THREADS handler threads, one fills the
 * reply into the connection's context and resumes it, and the access
 * handler, called again on the event thread, queues the reply. A long poll
 * with nothing to answer parks its suspended connection in longpoll.c and
 * frees its handler thread; it is queued again when a run is scheduled or
 * its wait ends.
 *
 * Limits (SPEC 8), all before a handler runs: headers within MHD's
 * connection memory (64 KiB: larger is refused by MHD); headers and body
 * together up to 64 KiB are read before the caller is known; past that the
 * connection is suspended once more while a handler thread authenticates
 * the caller (token, session cookie, or an upload's signed URL), and the
 * body is then taken up to the route's cap (routes.h: 16 MiB for data,
 * 1 MiB else). What is past a cap is read and dropped and the reply is 413
 * (answering before the body is read would make most clients see a reset
 * instead of the status), so memory per connection stays bounded. A
 * connection silent for --read-timeout seconds is closed (suspended ones,
 * waiting for a handler or a long poll, are not timed). Connections are
 * counted per client address and in all; a request on a connection over
 * either cap is answered 503 with Connection: close (MHD accepts a margin
 * past the cap so that the answer can be given). Failed token checks and
 * logins are rate limited per client address (a bucket of
 * --failed-auth-burst, 10, refilled RL_RATE a second: 429 with Retry-After
 * past it) and logged once per burst.
 *
 * Each request borrows a database connection from db.c's pool on first use
 * and returns it when the reply is built. Every /v1 route is authenticated
 * here, from the route table, before its handler runs; the handler never
 * sees an unauthenticated call unless its route says ROLE_NONE (or
 * ROLE_PUBLIC: no credential at all). State-changing calls authenticated by
 * the session cookie need a same-origin Origin (or Referer). Request lines
 * are logged with control characters escaped and credentials in the query
 * replaced by ***.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "authz.h"
#include "db.h"
#include "log.h"
#include "longpoll.h"
#include "routes.h"
#include "util.h"

#define EVENT_THREADS 2
#define HANDLER_THREADS 16
#define CONN_MEMORY ((size_t)64 << 10)	/* MHD's pool per connection: headers and read buffer */
#define BURST(s) ((double)(s)->ws->failed_auth_burst)
#define RL_RATE 1.0			/* ... and then this many a second */
#define ADDR_SLOTS 4096			/* client addresses tracked at once */

/* What one client address holds: its connections and its failed-credential bucket. */
struct addr_slot {
	char addr[INET6_ADDRSTRLEN];	/* "" when free */
	int conns;
	double tokens, last;		/* the bucket; last: when it was refilled */
	unsigned quiet;			/* failures not logged since the last logged one */
};

struct server {
	struct MHD_Daemon *d;
	const struct web_settings *ws;
	pthread_t threads[HANDLER_THREADS];
	int nthreads;
	pthread_mutex_t mu;		/* the queue, the address table, the counts */
	pthread_cond_t cv;
	struct conn_ctx *head, *tail;	/* requests waiting for a handler thread */
	int busy;			/* requests queued, running or parked */
	bool stopping;			/* new requests are refused (503) */
	bool quit;			/* the handler threads end once the queue is empty */
	int conns;			/* open connections */
	struct addr_slot *slots;
};

enum phase {
	PH_HEADERS,	/* headers read; the body (if any) not yet */
	PH_AUTH,	/* suspended: a handler thread authenticates the caller */
	PH_BODY,	/* reading the body */
	PH_RUN,		/* suspended: queued, running or parked */
	PH_REPLY,	/* the reply is ready to be queued */
};

struct conn_ctx {
	struct server *s;
	struct MHD_Connection *conn;
	const char *method, *url;	/* MHD's, valid until the request completes */
	char *uri;			/* the request line's target as sent, for the log */
	char addr[INET6_ADDRSTRLEN];
	enum phase phase;
	bool auth_job;			/* the queued job authenticates (PH_AUTH) */
	bool authed;			/* the caller is known: the route's cap applies */
	bool over;			/* over a connection cap: 503 */
	size_t cap;			/* the body cap now */
	struct buf body;
	bool too_large;
	bool quiet;			/* a failed credential not worth a log line */
	unsigned quieted;		/* failures left unlogged before this one */
	double t0;
	double wait_deadline;		/* a parked long poll's */
	uint64_t park_gen;
	bool parking;
	struct principal who;
	struct resp out;
	struct conn_ctx *next;		/* in the handler queue */
};

/* Connection-level context (MHD's socket context): the client address. */
struct sock_ctx {
	char addr[INET6_ADDRSTRLEN];
	bool over;			/* opened past a cap: its requests get 503 */
};

static void addr_of(const struct sockaddr *sa, char *out)
{
	out[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
	}
}

/* The slot of an address (created when create), or NULL; under s->mu. */
static struct addr_slot *slot_of(struct server *s, const char *addr, bool create)
{
	uint32_t h = 2166136261u;

	for (const char *p = addr; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	struct addr_slot *reuse = NULL;
	double now = now_seconds();
	for (int i = 0; i < 64; i++) {
		struct addr_slot *sl = &s->slots[(h + (uint32_t)i) % ADDR_SLOTS];
		if (strcmp(sl->addr, addr) == 0)
			return sl;
		/* Free, or idle with a full bucket again: may be taken. */
		if (reuse == NULL && (sl->addr[0] == '\0' ||
				      (sl->conns == 0 && sl->tokens + (now - sl->last) * RL_RATE >= BURST(s))))
			reuse = sl;
	}
	if (!create || reuse == NULL)
		return NULL;
	snprintf(reuse->addr, sizeof(reuse->addr), "%s", addr);
	reuse->conns = 0;
	reuse->tokens = BURST(s);
	reuse->last = now;
	reuse->quiet = 0;
	return reuse;
}

static void refill(struct server *s, struct addr_slot *sl)
{
	double now = now_seconds();

	sl->tokens += (now - sl->last) * RL_RATE;
	if (sl->tokens > BURST(s))
		sl->tokens = BURST(s);
	sl->last = now;
}

/* Seconds until addr may try a credential again; 0: now. */
static int rl_retry_after(struct server *s, const char *addr)
{
	int wait = 0;

	pthread_mutex_lock(&s->mu);
	struct addr_slot *sl = slot_of(s, addr, false);
	if (sl != NULL) {
		refill(s, sl);
		if (sl->tokens < 1)
			wait = (int)ceil((1 - sl->tokens) / RL_RATE);
	}
	pthread_mutex_unlock(&s->mu);
	return wait;
}

/*
 * A failed credential from ctx's address: takes one from its bucket. The
 * first failure of a burst (a full bucket) is logged, with the count of those
 * left unlogged since; the others are quiet.
 */
static void rl_fail(struct conn_ctx *ctx)
{
	struct server *s = ctx->s;

	pthread_mutex_lock(&s->mu);
	struct addr_slot *sl = slot_of(s, ctx->addr, true);
	if (sl != NULL) {
		refill(s, sl);
		ctx->quiet = sl->tokens < BURST(s) - 0.5;
		if (ctx->quiet) {
			sl->quiet++;
		} else {
			ctx->quieted = sl->quiet;
			sl->quiet = 0;
		}
		sl->tokens = sl->tokens >= 1 ? sl->tokens - 1 : 0;
	}
	pthread_mutex_unlock(&s->mu);
}

static bool param_is_id(const char *pattern, int index)
{
	/* The index-th {...} of the pattern: an id when its name ends in "Id". */
	char name[64];
	if (!routes_param_name(pattern, index, name, sizeof(name)))
		return false;
	size_t n = strlen(name);
	return n >= 2 && strcmp(name + n - 2, "Id") == 0;
}

/* The token of a request: Bearer header, then ?token=, then none. */
static const char *bearer(struct req *r)
{
	const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		return h + 7;
	return req_query(r, "token");
}

static bool stopping(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	bool st = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* Replies 429: too many failed credentials from this address (quiet in the log). */
static bool rate_limited(struct req *r, struct resp *out)
{
	struct conn_ctx *ctx = r->srv;

	if (ctx == NULL)
		return false;
	int wait = rl_retry_after(ctx->s, ctx->addr);
	if (wait <= 0)
		return false;
	pthread_mutex_lock(&ctx->s->mu);
	struct addr_slot *sl = slot_of(ctx->s, ctx->addr, false);
	if (sl != NULL)
		sl->quiet++;
	pthread_mutex_unlock(&ctx->s->mu);
	ctx->quiet = true;
	/* lib/api.c's ApiErrorCode has no "too many requests": the credential is what failed. */
	resp_error(out, 429, "UNAUTHORIZED", "too many failed credentials from %s; retry in %d s",
		   ctx->addr, wait);
	free(out->extra_header_name);
	free(out->extra_header_value);
	out->extra_header_name = xstrdup(MHD_HTTP_HEADER_RETRY_AFTER);
	out->extra_header_value = xasprintf("%d", wait);
	return true;
}

/* A wrong token or login: counted against the caller's address. */
static void credential_failed(struct req *r)
{
	if (r->srv != NULL)
		rl_fail(r->srv);
}

/* "scheme://host[:port]" of a URL, in out. */
static void origin_of(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);

	snprintf(out, len, "%.*s", (int)n, url);
}

static bool origin_is(const char *v, const char *want, bool referer)
{
	size_t n = strlen(want);

	if (!referer)
		return strcasecmp(v, want) == 0;
	return strncasecmp(v, want, n) == 0 && (v[n] == '/' || v[n] == '\0');
}

/*
 * A state-changing call carried by the session cookie must come from the
 * pages themselves: its Origin (else its Referer) is --public-url's origin or
 * this server's own (scheme and Host). A token is never sent by a browser on
 * its own, so token calls are not checked.
 */
static bool same_origin(struct req *r)
{
	const char *o = req_header(r, "Origin"), *ref = req_header(r, "Referer");
	const char *v = o != NULL ? o : ref, *host = req_header(r, MHD_HTTP_HEADER_HOST);
	char want[600];

	if (v == NULL || strcmp(v, "null") == 0)
		return false;
	if (r->ws->public_url != NULL) {
		origin_of(r->ws->public_url, want, sizeof(want));
		if (origin_is(v, want, o == NULL))
			return true;
	}
	if (host == NULL || strlen(host) > 512)
		return false;
	snprintf(want, sizeof(want), "%s://%s", r->ws->tls_cert ? "https" : "http", host);
	return origin_is(v, want, o == NULL);
}

static bool state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

/* 0: r->who is the caller; -1 after replying 401, 403 or 429. */
static int authenticate(struct req *r, struct resp *out)
{
	const char *tok = bearer(r);
	int rc;

	if (tok != NULL) {
		if (rate_limited(r, out))
			return -1;
		rc = auth_check_token(req_db(r), tok, &r->who);
		if (rc == 0)
			return 0;
		if (rc == -EIO) {
			resp_db_error(out, req_db(r));	/* not 401: the token may be good */
			return -1;
		}
		credential_failed(r);
		resp_error(out, 401, "UNAUTHORIZED", "a valid token is required");
		return -1;
	}
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, AUTH_COOKIE);
	rc = cookie != NULL ? auth_check_session(req_db(r), cookie, &r->who) : -ENOENT;
	if (rc == -EIO) {
		resp_db_error(out, req_db(r));
		return -1;
	}
	if (rc == 0) {
		if (state_changing(r->method) && !same_origin(r)) {
			resp_error(out, 403, "FORBIDDEN", "a call from the pages must come from their origin "
				   "(Origin or Referer)");
			return -1;
		}
		return 0;
	}
	resp_error(out, 401, "UNAUTHORIZED", "a valid token is required");
	return -1;
}

bool req_park(struct req *r, uint64_t seen, double deadline)
{
	struct conn_ctx *ctx = r->srv;

	if (ctx == NULL || stopping(ctx->s))
		return false;
	ctx->parking = true;
	ctx->park_gen = seen;
	ctx->wait_deadline = deadline;
	return true;
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
		if (authenticate(r, out) < 0)
			return;
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

/*
 * The pages log in from their own origin: a login posted by another site
 * (login CSRF: the victim's browser logged in as the attacker) is refused.
 */
static void do_login(struct req *r, struct resp *out)
{
	const char *tok = NULL;
	char secret[65];

	if (req_header(r, "Origin") != NULL && !same_origin(r)) {
		resp_error(out, 403, "FORBIDDEN", "a login must come from the pages' origin");
		return;
	}
	cJSON *j = req_json_object(r, out);
	if (j == NULL)
		return;
	if (json_str(j, "token", true, &tok, out) < 0 || rate_limited(r, out))
		goto done;
	int arc = auth_check_token(req_db(r), tok, &r->who);
	if (arc == -EIO) {
		resp_db_error(out, req_db(r));
		goto done;
	}
	if (arc < 0) {
		credential_failed(r);
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

	if (req_header(r, "Origin") != NULL && !same_origin(r)) {
		resp_error(out, 403, "FORBIDDEN", "a logout must come from the pages' origin");
		return;
	}
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

/*
 * The pages may load only their own scripts and styles (no inline script,
 * nothing from elsewhere), be framed by no one, and send no Referer away.
 * Images: thumbnails (same origin) and the favicon's data: URL.
 */
#define PAGE_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
		 "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; " \
		 "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct resp *out, bool api,
				  bool close)
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
	MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	if (api) {
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL,
					out->cache_control ? out->cache_control : "no-store");
		MHD_add_response_header(mr, "Content-Security-Policy",
					"default-src 'none'; frame-ancestors 'none'");
	} else {
		MHD_add_response_header(mr, "Content-Security-Policy", PAGE_CSP);
	}
	if (close)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	if (out->set_cookie)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, out->set_cookie);
	if (out->extra_header_name)
		MHD_add_response_header(mr, out->extra_header_name, out->extra_header_value);
	if (out->etag)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ETAG, out->etag);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)out->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static void resp_free(struct resp *out)
{
	free(out->body);
	free(out->set_cookie);
	free(out->extra_header_name);
	free(out->extra_header_value);
	free(out->etag);
	if (out->fd >= 0)
		close(out->fd);
	memset(out, 0, sizeof(*out));
	out->fd = -1;
}

/*
 * The request line's target for the log: control characters and backslashes
 * escaped (\xNN), so that nothing a client sends can start a log line of its
 * own, and the values of credentials in the query replaced by ***.
 */
static char *log_target(const char *uri)
{
	static const char *const secret_keys[] = { "token", "publicToken", "secret", "sig", NULL };
	struct buf b = { 0 };
	const char *q = strchr(uri, '?');
	size_t pathlen = q ? (size_t)(q - uri) : strlen(uri);

	for (size_t i = 0; i < pathlen && b.len < 2048; i++) {
		unsigned char ch = (unsigned char)uri[i];
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			buf_printf(&b, "\\x%02x", ch);
		else
			buf_append(&b, &uri[i], 1);
	}
	for (const char *p = q; p != NULL && *p && b.len < 2048;) {
		/* p at '?' or '&': one key=value */
		size_t n = strcspn(p + 1, "&");
		const char *eq = memchr(p + 1, '=', n);
		size_t klen = eq ? (size_t)(eq - p - 1) : n;
		bool secret = false;
		for (int k = 0; secret_keys[k]; k++)
			secret |= klen == strlen(secret_keys[k]) && strncmp(p + 1, secret_keys[k], klen) == 0;
		size_t shown = secret && eq ? klen + 2 : n + 1;
		for (size_t i = 0; i < shown; i++) {
			unsigned char ch = (unsigned char)p[i];
			if (ch < 0x20 || ch == 0x7f || ch == '\\')
				buf_printf(&b, "\\x%02x", ch);
			else
				buf_append(&b, &p[i], 1);
		}
		if (secret && eq)
			buf_puts(&b, "***");
		p += n + 1;
	}
	if (b.len >= 2048)
		buf_puts(&b, "...");
	if (b.data == NULL)
		buf_puts(&b, "");
	return b.data;
}

static void log_request(struct conn_ctx *ctx, int status)
{
	if (ctx->quiet)
		return;
	char *target = log_target(ctx->uri ? ctx->uri : ctx->url);
	char more[160] = "";
	if (ctx->quieted > 0)
		snprintf(more, sizeof(more), " (%u more failed credentials from %s not logged)",
			 ctx->quieted, ctx->addr);
	log_msg(status >= 500 ? LOG_LVL_ERR : LOG_LVL_INFO, "%s %s %d %.1fms%s%s%s", ctx->method,
		target, status, (now_seconds() - ctx->t0) * 1000, ctx->who.name[0] ? " by " : "",
		ctx->who.name, more);
	free(target);
}

/* Queues a job for the handler threads; false when the server stops. */
static bool enqueue(struct conn_ctx *ctx, bool fresh)
{
	struct server *s = ctx->s;

	pthread_mutex_lock(&s->mu);
	if (s->stopping && fresh) {
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	if (fresh)
		s->busy++;
	ctx->next = NULL;
	if (s->tail)
		s->tail->next = ctx;
	else
		s->head = ctx;
	s->tail = ctx;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return true;
}

static void requeue(void *arg)
{
	(void)enqueue(arg, false);
}

/* Hands the connection back to its event thread; ctx is not ours afterwards. */
static void give_back(struct conn_ctx *ctx)
{
	struct server *s = ctx->s;
	struct MHD_Connection *conn = ctx->conn;

	pthread_mutex_lock(&s->mu);
	s->busy--;
	pthread_mutex_unlock(&s->mu);
	MHD_resume_connection(conn);
}

/*
 * The body outgrew what is read before authentication: who is calling?
 * (token, session cookie, or for an upload its signed URL). Known callers get
 * their route's cap; others keep HTTP_PREAUTH_BODY.
 */
static void run_auth(struct conn_ctx *ctx)
{
	struct req r = {
		.conn = ctx->conn, .method = ctx->method, .path = ctx->url, .ws = ctx->s->ws,
		.body = "", .srv = ctx,
	};
	struct resp out = { .status = 500, .fd = -1 };
	char buf[4096], allow[64];
	int status;
	const struct route *rt = NULL;

	if (strncmp(ctx->url, "/v1/", 4) == 0)
		rt = routes_match(ctx->method, ctx->url, buf, sizeof(buf), r.params, &status, allow,
				  sizeof(allow));
	if (rt != NULL && rt->roles != ROLE_NONE && rt->roles != ROLE_PUBLIC) {
		ctx->authed = authenticate(&r, &out) == 0 && (rt->roles & r.who.role);
	} else if (rt != NULL && rt->fn == h_artifact_upload) {
		/* The signed URL: the same check h_artifact_upload makes. */
		const char *sig = req_query(&r, "sig");
		sqlite3_stmt *st = db_stmt(req_db(&r), "SELECT sig FROM artifacts WHERE id = ?");
		db_bind_text(st, 1, r.params[0]);
		if (sig != NULL && strlen(sig) == 64 && id_valid(r.params[0]) &&
		    sqlite3_step(st) == SQLITE_ROW) {
			const char *want = db_col_text(st, 0);
			ctx->authed = strlen(want) == 64 && CRYPTO_memcmp(want, sig, 64) == 0;
		}
		sqlite3_reset(st);
	}
	if (ctx->authed)
		ctx->cap = routes_max_body(rt);
	req_db_release(&r);
	resp_free(&out);
	ctx->phase = PH_BODY;
	give_back(ctx);
}

static void run_request(struct conn_ctx *ctx)
{
	struct req r = {
		.conn = ctx->conn, .method = ctx->method, .path = ctx->url, .ws = ctx->s->ws,
		.body = ctx->body.data ? ctx->body.data : "", .body_len = ctx->body.len,
		.wait_deadline = ctx->wait_deadline, .srv = ctx,
	};
	struct resp out = { .status = 500, .fd = -1 };

	if (ctx->too_large) {
		if (ctx->authed)
			resp_error(&out, 413, "PAYLOAD_TOO_LARGE", "request body over %zu MiB on this route",
				   ctx->cap >> 20);
		else
			resp_error(&out, 413, "PAYLOAD_TOO_LARGE", "over %zu KiB of headers and body "
				   "before the caller is authenticated", HTTP_PREAUTH_BODY >> 10);
	} else {
		dispatch(&r, &out);
	}
	req_db_release(&r);
	if (ctx->parking) {
		/* A long poll with nothing yet: no thread held until it runs again. */
		ctx->parking = false;
		resp_free(&out);
		if (!longpoll_park(ctx->park_gen, ctx->wait_deadline, requeue, ctx))
			requeue(ctx);
		return;
	}
	if (out.body == NULL && out.fd < 0)
		resp_error(&out, 500, "MALFORMED_RESPONSE", "no reply");
	/* A route checked the route table's roles (or a login): keep who for the log. */
	ctx->who = r.who;
	ctx->out = out;
	ctx->phase = PH_REPLY;
	give_back(ctx);
}

static void *handler_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		struct conn_ctx *ctx = s->head;
		if (ctx == NULL) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		s->head = ctx->next;
		if (s->head == NULL)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		if (ctx->phase == PH_AUTH)
			run_auth(ctx);
		else
			run_request(ctx);
	}
}

/* A reply made on the event thread (503, 413 at once): logged like the others. */
static enum MHD_Result reply_now(struct conn_ctx *ctx, int status, const char *code,
				 const char *msg, bool close)
{
	struct resp out = { .status = 500, .fd = -1 };

	resp_error(&out, status, code, "%s", msg);
	enum MHD_Result ret = send_reply(ctx->conn, &out, strncmp(ctx->url, "/v1", 3) == 0, close);
	log_request(ctx, status);
	resp_free(&out);
	return ret;
}

/* Adds a header line's bytes ("Key: value\r\n") to *cls. */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct conn_ctx *ctx = xcalloc(1, sizeof(*ctx));
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
								      MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	ctx->s = cls;
	ctx->conn = conn;
	ctx->t0 = now_seconds();
	ctx->uri = xstrdup(uri);
	ctx->out.fd = -1;
	ctx->cap = HTTP_PREAUTH_BODY;
	ctx->phase = PH_HEADERS;
	if (ci != NULL && ci->socket_context != NULL) {
		struct sock_ctx *sc = ci->socket_context;
		snprintf(ctx->addr, sizeof(ctx->addr), "%s", sc->addr);
		ctx->over = sc->over;
	}
	return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct conn_ctx *ctx = *con_cls;

	(void)version;
	if (ctx == NULL)
		*con_cls = ctx = on_uri(s, url, conn);
	switch (ctx->phase) {
	case PH_HEADERS:
		ctx->method = method;
		ctx->url = url;
		if (ctx->over)
			return reply_now(ctx, 503, "ILLEGAL_ACTION_RESOURCE_IN_USE",
					 "too many connections; try again later", true);
		if (stopping(s))
			return reply_now(ctx, 503, "ILLEGAL_ACTION_RESOURCE_IN_USE", "the server is stopping", true);
		/* Headers and body together: HTTP_PREAUTH_BODY before the caller is known. */
		size_t hdr = strlen(ctx->uri) + strlen(method) + 12;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &hdr);
		ctx->cap = hdr < HTTP_PREAUTH_BODY ? HTTP_PREAUTH_BODY - hdr : 0;
		ctx->phase = PH_BODY;
		return MHD_YES;
	case PH_AUTH:
	case PH_RUN:
		return MHD_YES;	/* not called while suspended */
	case PH_REPLY: {
		int status = ctx->out.status;
		enum MHD_Result ret = send_reply(conn, &ctx->out, strncmp(url, "/v1", 3) == 0, false);
		log_request(ctx, status);
		resp_free(&ctx->out);
		return ret;
	}
	case PH_BODY:
		break;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		if (!ctx->authed && !ctx->auth_job && !ctx->too_large && ctx->body.len + n > ctx->cap) {
			/* Who is it? Asked on a handler thread; the data waits in MHD's buffer. */
			ctx->auth_job = true;
			ctx->phase = PH_AUTH;
			MHD_suspend_connection(conn);
			if (!enqueue(ctx, true)) {
				MHD_resume_connection(conn);
				return MHD_NO;
			}
			return MHD_YES;
		}
		if (!ctx->too_large && ctx->body.len + n > ctx->cap) {
			ctx->too_large = true;	/* the rest is read and dropped */
			buf_free(&ctx->body);
		}
		if (!ctx->too_large)
			buf_append(&ctx->body, upload_data, n);
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The request is complete: to a handler thread. */
	ctx->phase = PH_RUN;
	MHD_suspend_connection(conn);
	if (!enqueue(ctx, true)) {
		MHD_resume_connection(conn);
		ctx->phase = PH_REPLY;
		resp_error(&ctx->out, 503, "ILLEGAL_ACTION_RESOURCE_IN_USE", "the server is stopping");
	}
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (ctx == NULL)
		return;
	buf_free(&ctx->body);
	resp_free(&ctx->out);
	free(ctx->uri);
	free(ctx);
	*con_cls = NULL;
}

/*
 * Connections counted per client address and in all. One past a cap is
 * marked here, when it opens; its requests are answered 503 (and it is
 * closed), so the connections already open go on being served.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct sock_ctx *sc = xcalloc(1, sizeof(*sc));
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
									      MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		addr_of(ci ? ci->client_addr : NULL, sc->addr);
		pthread_mutex_lock(&s->mu);
		struct addr_slot *sl = slot_of(s, sc->addr, true);
		s->conns++;
		if (sl != NULL)
			sl->conns++;
		sc->over = s->conns > s->ws->max_conns ||
			   (sl != NULL && sl->conns > s->ws->max_conns_per_addr);
		pthread_mutex_unlock(&s->mu);
		*socket_context = sc;
	} else if (*socket_context != NULL) {
		struct sock_ctx *sc = *socket_context;
		pthread_mutex_lock(&s->mu);
		struct addr_slot *sl = slot_of(s, sc->addr, false);
		s->conns--;
		if (sl != NULL && sl->conns > 0)
			sl->conns--;
		pthread_mutex_unlock(&s->mu);
		free(sc);
		*socket_context = NULL;
	}
}

/*
 * libmicrohttpd's own messages (a header too large, a client gone): at most
 * MHD_LOG_PER_SECOND a second, so that a client cannot fill the log with them;
 * the next message logged counts those left out.
 */
#define MHD_LOG_PER_SECOND 20

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static double window;
	static unsigned in_window, dropped;
	double now = now_seconds();
	unsigned left_out = 0;

	(void)cls;
	pthread_mutex_lock(&mu);
	if (now - window >= 1) {
		window = now;
		in_window = 0;
	}
	bool drop = ++in_window > MHD_LOG_PER_SECOND;
	if (drop) {
		dropped++;
	} else {
		left_out = dropped;
		dropped = 0;
	}
	pthread_mutex_unlock(&mu);
	if (drop)
		return;
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (left_out > 0)
		log_msg(LOG_LVL_WARNING, "http: %s (%u more such messages not logged)", msg, left_out);
	else
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
	s->slots = xcalloc(ADDR_SLOTS, sizeof(*s->slots));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (; s->nthreads < HANDLER_THREADS; s->nthreads++)
		if (pthread_create(&s->threads[s->nthreads], NULL, handler_main, s) != 0)
			break;
	/* epoll where there is one (MHD_USE_AUTO), a few event threads, no thread per connection. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* Accepted past the cap, so that those over it can be answered 503. */
	unsigned limit = (unsigned)ws->max_conns + (unsigned)ws->max_conns / 8 + 16;
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
			server_stop(s);
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
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)EVENT_THREADS,
				MHD_OPTION_CONNECTION_LIMIT, limit,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ws->read_timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->d == NULL) {
		log_warnx("cannot listen on %s (address in use%s?)", listen,
			  ws->tls_cert ? ", or a certificate and key that do not load or match" : "");
		server_stop(s);
		return -1;
	}
	*out = s;
	return 0;
}

/*
 * New requests are refused (503), waiting polls answer at once (longpoll_close
 * hands them back to the handler threads), the requests in hand finish, the
 * handler threads end, and then libmicrohttpd closes what is left.
 */
void server_stop(struct server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;	/* enqueue refuses new requests from here */
	pthread_mutex_unlock(&s->mu);
	longpoll_close();
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&s->mu);
		int busy = s->busy;
		pthread_mutex_unlock(&s->mu);
		if (busy == 0)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->slots);
	free(s);
}
