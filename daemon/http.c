/*
 * http: libcurl multi on the libuv loop, the way curl's docs/examples/multi-uv.c
 * does it.
 *
 * DESIGN. One CURLM per daemon. CURLMOPT_SOCKETFUNCTION gives us each socket
 * curl wants watched: we keep one uv_poll_t per socket (its context hangs on
 * the socket through curl_multi_assign) and feed readiness back with
 * curl_multi_socket_action. CURLMOPT_TIMERFUNCTION sets the one uv_timer_t.
 * After every socket action we drain curl_multi_info_read and call the
 * finished requests' callbacks, so nothing on the loop thread ever blocks on
 * the network. Handles are freed in their close callbacks only; the struct
 * http itself goes with its timer's close callback.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "hooks.h"
#include "log.h"
#include "util.h"

struct http_req {
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct buf resp;
	long retry_after;
	http_cb cb;
	void *ud;
	char errbuf[CURL_ERROR_SIZE];
	char errmsg[CURL_ERROR_SIZE + 200];
	struct http_req *prev, *next;
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct http_req *reqs;	/* in flight, a doubly linked list */
	int pending;
	long max_timeout_s;	/* the test driver's cap (hooks.h), 0: none */
	const char *ca_file;	/* CURLOPT_CAINFO, borrowed; NULL: the system's bundle */
};

struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
};

static void req_free(struct http_req *r)
{
	struct http *h = r->h;

	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->pending--;
	if (r->easy) {
		CURLMcode mc = curl_multi_remove_handle(h->multi, r->easy);
		if (mc != CURLM_OK)
			log_warnx("http: curl_multi_remove_handle: %s", curl_multi_strerror(mc));
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->body);
	buf_free(&r->resp);
	free(r);
}

/* Drains finished transfers; called after every socket action. */
static void check_info(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct http_req *r = NULL;
		CURLcode pc = curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (pc != CURLE_OK || r == NULL)
			fatalx("http: a finished transfer without its request");
		struct http_reply rep = { .retry_after = r->retry_after };
		if (msg->data.result == CURLE_OK) {
			CURLcode gc = curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &rep.status);
			if (gc != CURLE_OK) {
				rep.status = 0;
				rep.curl_error = curl_easy_strerror(gc);
			}
		} else if (msg->data.result == CURLE_PEER_FAILED_VERIFICATION) {
			snprintf(r->errmsg, sizeof(r->errmsg), "%s (%s)", HTTP_TLS_HINT,
				 r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result));
			rep.curl_error = r->errmsg;
		} else {
			rep.curl_error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
		}
		buf_puts(&r->resp, "");	/* a NUL-terminated body even when empty */
		rep.body = r->resp.data;
		rep.len = r->resp.len;
		/* The callback may start new requests; this one is finished with first. */
		CURLMcode mc = curl_multi_remove_handle(h->multi, r->easy);
		if (mc != CURLM_OK)
			log_warnx("http: curl_multi_remove_handle: %s", curl_multi_strerror(mc));
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		r->cb(r->ud, &rep);
		req_free(r);
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;
	CURLMcode mc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);

	if (mc != CURLM_OK)
		log_warnx("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	check_info(h);
}

static int start_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	if (timeout_ms < 0) {
		uv_timer_stop(&h->timer);
	} else {
		/* 0 means "now"; a 1 ms timer lets the loop breathe in between. */
		if (timeout_ms == 0)
			timeout_ms = 1;
		uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
	}
	return 0;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *c = p->data;
	struct http *h = c->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	CURLMcode mc = curl_multi_socket_action(h->multi, c->fd, flags, &running);
	if (mc != CURLM_OK)
		log_warnx("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	check_info(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
	free(hd->data);
}

static int handle_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sock_ctx *c = socketp;
	int events = 0;

	(void)easy;
	switch (action) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		if (c == NULL) {
			c = xcalloc(1, sizeof(*c));
			c->fd = s;
			c->h = h;
			if (uv_poll_init_socket(h->loop, &c->poll, s) < 0) {
				free(c);
				return -1;
			}
			c->poll.data = c;
			CURLMcode mc = curl_multi_assign(h->multi, s, c);
			if (mc != CURLM_OK)
				log_warnx("http: curl_multi_assign: %s", curl_multi_strerror(mc));
		}
		if (action != CURL_POLL_IN)
			events |= UV_WRITABLE;
		if (action != CURL_POLL_OUT)
			events |= UV_READABLE;
		uv_poll_start(&c->poll, events, on_poll);
		break;
	case CURL_POLL_REMOVE:
		if (c != NULL) {
			uv_poll_stop(&c->poll);
			uv_close((uv_handle_t *)&c->poll, on_sock_closed);
			CURLMcode mc = curl_multi_assign(h->multi, s, NULL);
			if (mc != CURLM_OK)
				log_warnx("http: curl_multi_assign: %s", curl_multi_strerror(mc));
		}
		break;
	default:
		break;
	}
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct http_req *r = ud;

	buf_append(&r->resp, p, size * n);
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct http_req *r = ud;
	size_t len = size * n;
	static const char key[] = "retry-after:";

	/* Only the delta-seconds form; an HTTP date falls back to our own backoff. */
	if (len > sizeof(key) - 1 && strncasecmp(p, key, sizeof(key) - 1) == 0) {
		size_t i = sizeof(key) - 1;
		long v = 0;
		bool digits = false;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && isdigit((unsigned char)p[i]) && v < 100000) {
			v = v * 10 + (p[i++] - '0');
			digits = true;
		}
		if (digits)
			r->retry_after = v;
	}
	return len;
}

struct http *http_new(uv_loop_t *loop)
{
	struct http *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		return NULL;
	}
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, handle_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, start_timeout) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK) {
		curl_multi_cleanup(h->multi);
		free(h);
		return NULL;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	/* The test driver's cap on every request's timeout (hooks.h), so that a
	   test of a web app that never answers sees the timeout fire in seconds. */
	h->max_timeout_s = wd_hooks.http_timeout_cap_s;
	return h;
}

#define SETOPT(opt, val) do { \
	if (curl_easy_setopt(r->easy, opt, val) != CURLE_OK) \
		goto fail; \
} while (0)

void http_set_ca_file(struct http *h, const char *path)
{
	h->ca_file = path;
}

int http_request(struct http *h, const char *method, const char *url, const char *token,
		 const char *body, size_t body_len, long timeout_s, http_cb cb, void *ud)
{
	return http_request_key(h, method, url, token, NULL, body, body_len, timeout_s, cb, ud);
}

int http_request_key(struct http *h, const char *method, const char *url, const char *token,
		     const char *idem_key, const char *body, size_t body_len, long timeout_s,
		     http_cb cb, void *ud)
{
	struct http_req *r = xcalloc(1, sizeof(*r));

	r->h = h;
	r->cb = cb;
	r->ud = ud;
	r->retry_after = -1;
	r->easy = curl_easy_init();
	/* Linked in first so that req_free can unlink it on any failure below. */
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->pending++;
	if (r->easy == NULL)
		goto fail;
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_PRIVATE, (char *)r);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_CONNECTTIMEOUT, 10L);
	if (timeout_s <= 0)
		timeout_s = 60;
	if (h->max_timeout_s > 0 && timeout_s > h->max_timeout_s)
		timeout_s = h->max_timeout_s;
	SETOPT(CURLOPT_TIMEOUT, timeout_s);
	SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_data);
	SETOPT(CURLOPT_WRITEDATA, r);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, r);
	SETOPT(CURLOPT_USERAGENT, "winnowd");
	if (h->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, h->ca_file);
	if (token != NULL) {
		/* The token lives only in this header; nothing logs request headers. */
		char *auth = xasprintf("Authorization: Bearer %s", token);
		r->headers = curl_slist_append(r->headers, auth);
		free(auth);
	}
	if (idem_key != NULL) {
		char *k = xasprintf("Idempotency-Key: %s", idem_key);
		r->headers = curl_slist_append(r->headers, k);
		free(k);
	}
	if (body != NULL) {
		r->headers = curl_slist_append(r->headers, token != NULL ?
					       "Content-Type: application/json" :
					       "Content-Type: application/octet-stream");
		r->body = xmalloc(body_len + 1);
		memcpy(r->body, body, body_len);
		r->body[body_len] = '\0';
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		SETOPT(CURLOPT_POSTFIELDS, r->body);
	}
	/* No "Expect: 100-continue" round trip for uploads. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	SETOPT(CURLOPT_HTTPHEADER, r->headers);
	if (strcmp(method, "GET") == 0)
		SETOPT(CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0 || body == NULL)
		SETOPT(CURLOPT_CUSTOMREQUEST, method);
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		goto fail;
	return 0;
fail:
	req_free(r);
	return -EIO;
}

int http_pending(const struct http *h)
{
	return h->pending;
}

static void on_timer_closed(uv_handle_t *hd)
{
	struct http *h = hd->data;

	free(h);
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->reqs)
		req_free(h->reqs);
	/* Removing the transfers made curl drop their sockets (CURL_POLL_REMOVE). */
	CURLMcode mc = curl_multi_cleanup(h->multi);
	if (mc != CURLM_OK)
		log_warnx("http: curl_multi_cleanup: %s", curl_multi_strerror(mc));
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
