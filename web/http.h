/*
 * http: what a route handler sees of a request and fills in of a reply, and
 * the helpers every handler uses (JSON replies, errors, typed JSON fields,
 * ids, query arguments).
 */
#ifndef WINNOW_WEB_HTTP_H
#define WINNOW_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct MHD_Connection;
struct db;
struct dbconn;

/* Request bodies larger than this are refused with 413 (SPEC 7, 8): the most a
   route may take (routes.h's max_body), the default of the others, and what is
   read before the caller is authenticated. */
#define HTTP_MAX_BODY ((size_t)16 << 20)
#define HTTP_DEFAULT_BODY ((size_t)1 << 20)
#define HTTP_PREAUTH_BODY ((size_t)64 << 10)
#define HTTP_MAX_PARAMS 4

enum role {
	ROLE_NONE = 0,		/* no token: the route checks its own credential */
	ROLE_WORKER = 1,
	ROLE_USER = 2,
	ROLE_ANY = 3,
	ROLE_PUBLIC = 4,	/* no credential: anyone may call (Lightly's version route) */
};

/* Who is calling: the token's id (the userId of what it creates), name and role. */
struct principal {
	char id[25];
	char name[128];
	enum role role;
	bool admin;		/* ROLE_USER with the admin flag: sees and may do everything (authz.c) */
	char worker[128];	/* ROLE_WORKER: the one worker name the token is bound to */
};

/* Server-wide settings, read-only once the server runs. */
struct web_settings {
	struct db *db;
	char **dataset_roots;	/* realpath'd --dataset-root folders */
	size_t nroots;
	char **s3_allow;	/* --s3-endpoint-allow: http(s)://host[:port] (no port: any) */
	size_t ns3_allow;
	char *static_dir;	/* realpath'd */
	char *thumbs_dir;	/* <db>.thumbs */
	const char *listen;	/* host:port, for absolute URLs when Host is absent */
	char *tls_cert, *tls_key;	/* PEM text of --tls-cert/--tls-key, or NULL: plain HTTP */
	const char *public_url;	/* --public-url without a trailing '/', or NULL */
	int64_t read_url_ttl;	/* seconds a read URL works (--read-url-ttl) */
	uint8_t url_key[32];	/* the read URLs' HMAC key (readurl.h) */
	int read_timeout;	/* seconds a connection may stay silent (--read-timeout) */
	int max_conns;		/* connections in all (--max-connections) */
	int max_conns_per_addr;	/* connections from one client address */
	int failed_auth_burst;	/* wrong credentials from one address before 429 */
};

struct req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	const char *params[HTTP_MAX_PARAMS];	/* path parameters, in pattern order */
	const char *body;			/* NUL-terminated; len excludes the NUL */
	size_t body_len;
	struct principal who;
	const struct web_settings *ws;
	struct dbconn *c;			/* borrowed lazily through req_db() */
	double wait_deadline;			/* a parked long poll run again: its deadline */
	void *srv;				/* the server's context of the request (req_park) */
};

struct resp {
	int status;
	char *body;		/* owned */
	size_t len;
	const char *ctype;	/* static string */
	char *set_cookie;	/* owned, or NULL */
	int fd;			/* >= 0: send this file (size fd_size) instead of body */
	uint64_t fd_size;
	char *extra_header_name, *extra_header_value;	/* owned, or NULL */
	const char *cache_control;	/* static string; NULL: "no-store" (an API reply) */
	char *etag;		/* owned, or NULL: sent as ETag */
};

/* The request's database connection (acquired on first use, released by the server). */
struct dbconn *req_db(struct req *r);
/* Gives the connection back early (before slow work that needs no database). */
void req_db_release(struct req *r);

/*
 * A long poll with nothing to answer yet parks instead of sleeping on its
 * thread (server.c): returns true when the request is parked, and the handler
 * then returns without a reply; it runs again, r->wait_deadline set to
 * deadline, once the long-poll generation moves past seen or at deadline
 * (now_seconds() clock). False: park not possible here, wait in place.
 */
bool req_park(struct req *r, uint64_t seen, double deadline);

/*
 * The base of the links the server builds (signed write and read URLs):
 * --public-url, else scheme://--listen; never the request's Host header,
 * which the caller chooses. Caller frees.
 */
char *http_base_url(const struct web_settings *ws);

/* A query argument, or NULL. */
const char *req_query(struct req *r, const char *key);
/* An integer query argument in [min, max] (absent: def); INT64_MIN after replying 400. */
int64_t req_query_int(struct req *r, struct resp *out, const char *key, int64_t def, int64_t min,
		      int64_t max);
/*
 * Lightly's paging (SPEC 7): pageSize items (>= 1; absent: *limit -1, all of
 * them) from item pageOffset (>= 0; absent: 0). A page past the end is empty.
 * Returns 0, or -1 after replying 400 naming the argument.
 */
int req_paging(struct req *r, struct resp *out, int64_t *limit, int64_t *offset);
/* A request header, or NULL. */
const char *req_header(struct req *r, const char *key);

/* Replies with the JSON of j (consumed), status code given. */
void resp_json(struct resp *out, int status, cJSON *j);
/* Replies 204 without a body. */
void resp_no_content(struct resp *out);
/* Replies Lightly's ApiErrorResponse {"code": code, "error": msg}; code is one of
   Lightly's ApiErrorCode (another is a bug: logged, and the status's general code sent). */
void resp_error(struct resp *out, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replies 503 "retry" (Retry-After: 1) for any database error: busy, locked or
   I/O alike (SPEC 8); db_step logged it. Lookups answer -EIO for these. */
void resp_db_error(struct resp *out, struct dbconn *c);
/* A store lookup's failure (rc -ENOENT or -EIO): 404 with code and msg, or
   resp_db_error for -EIO. A database error is never answered as absent. */
void resp_lookup_error(struct resp *out, struct dbconn *c, int rc, const char *code,
		       const char *msg);

/*
 * Parses the body as JSON (strict: nothing after the value). Returns the tree
 * (caller frees) or NULL after replying 400.
 */
cJSON *req_json(struct req *r, struct resp *out);
/* Like req_json, and the top level must be an object (else 400). */
cJSON *req_json_object(struct req *r, struct resp *out);

/*
 * Typed fields of an object. Each returns 0 when the field is valid (or absent
 * and optional, leaving *v as it was), or -1 after replying 400 naming it.
 */
int json_str(cJSON *o, const char *key, bool required, const char **v, struct resp *out);
int json_num(cJSON *o, const char *key, bool required, double *v, struct resp *out);
int json_int(cJSON *o, const char *key, bool required, int64_t *v, struct resp *out);
/* An enum: the string must be one of the NULL-terminated list. */
int json_enum(cJSON *o, const char *key, bool required, const char *const *allowed,
	      const char **v, struct resp *out);
/* An array of strings (absent: *v untouched). */
int json_str_array(cJSON *o, const char *key, bool required, cJSON **v, struct resp *out);

/* True when s is 24 lowercase hex characters. */
bool id_valid(const char *s);
/* Writes a new random id (24 hex + NUL). */
void id_new(char out[25]);
/* n random bytes as 2n hex characters + NUL. */
void random_hex(char *out, size_t nbytes);

/* Index of s in a NULL-terminated list, or -1. */
int str_index(const char *const *list, const char *s);

#endif
