/*
 * http: a small asynchronous HTTP client on the daemon's libuv loop (libcurl
 * multi, driven like curl's docs/examples/multi-uv.c). Only the loop thread
 * calls it.
 */
#ifndef WINNOWD_HTTP_H
#define WINNOWD_HTTP_H

#include <stddef.h>

#include <uv.h>

struct http;

/*
 * The answer to one request. status is the HTTP status, or 0 when no answer
 * came (then curl_error says why). retry_after is the Retry-After header in
 * seconds (-1 when absent). body is NUL-terminated and borrowed for the
 * duration of the callback.
 */
struct http_reply {
	long status;
	const char *body;
	size_t len;
	long retry_after;
	const char *curl_error;
};

typedef void (*http_cb)(void *ud, const struct http_reply *rep);

/* Creates the client on loop. Returns NULL when libcurl cannot start. */
struct http *http_new(uv_loop_t *loop);

/*
 * Every later request verifies the server's certificate against the PEM CA
 * bundle at path (borrowed; it must outlive the client) instead of the
 * system's. Verification itself is never turned off.
 */
void http_set_ca_file(struct http *h, const char *path);

/* The wording of a certificate the peer presented and we do not trust. */
#define HTTP_TLS_HINT "the web app's TLS certificate is not trusted; set \"ca_file\" in the config " \
	"to the CA (or self-signed certificate) that signed it"

/*
 * Starts a request. url is absolute; token (may be NULL) goes into an
 * Authorization header and is never logged; body (may be NULL) is copied and
 * sent as application/json (or as given for PUT uploads). cb is called once
 * on the loop, unless http_free comes first. Returns 0 or a negative errno.
 */
int http_request(struct http *h, const char *method, const char *url, const char *token,
		 const char *body, size_t body_len, long timeout_s, http_cb cb, void *ud);
/* The same with an Idempotency-Key header (SPEC 7) when idem_key is not NULL. */
int http_request_key(struct http *h, const char *method, const char *url, const char *token,
		     const char *idem_key, const char *body, size_t body_len, long timeout_s,
		     http_cb cb, void *ud);

/* Number of requests in flight. */
int http_pending(const struct http *h);

/*
 * Abandons every request in flight (their callbacks are never called) and
 * closes the client's handles; the memory goes in the last close callback,
 * so run the loop afterwards. http_free(NULL) is a no-op.
 */
void http_free(struct http *h);

#endif
