/*
 * s3: S3-compatible object storage over libcurl.
 *
 * DESIGN: libcurl signs every request (CURLOPT_AWS_SIGV4). curl 7.88 signs
 * the URL as it is sent, so this module builds canonical URLs itself: keys
 * percent-encoded per RFC 3986 with '/' kept, query parameters sorted by name
 * and encoded, and the x-amz-content-sha256 header set (the hash of the empty
 * body: only GETs are sent), which curl then signs as the payload hash. S3's
 * XML (listings, errors) is read with expat. Every easy handle shares one
 * connection and DNS cache (a CURLSH with a mutex per data kind), so the
 * single GETs of many threads and the multi handle of s3_get_many reuse
 * connections. A failure that a retry could fix (connection reset, timeout,
 * 5xx, SlowDown, 429) is retried with exponential backoff and jitter; the
 * rest become a clear message, never holding the secret (curl never logs:
 * CURLOPT_VERBOSE stays off).
 */
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_ATTEMPTS 5
#define LIST_MAX_BYTES ((size_t)64 << 20)
#define DEFAULT_MAX_OBJECT ((size_t)1 << 30)

struct s3 {
	char *base;		/* scheme://host[:port] of the endpoint */
	char *scheme;		/* "http" or "https" */
	char *hostport;
	bool path_style;
	char *bucket;
	char *sigv4;		/* "aws:amz:<region>:s3" */
	char *userpwd;		/* "<key id>:<secret>": a secret, never logged */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	struct curl_slist *headers;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
}

static void share_lock_cb(CURL *h, curl_lock_data data, curl_lock_access acc, void *ud)
{
	struct s3 *s = ud;

	pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock_cb(CURL *h, curl_lock_data data, void *ud)
{
	struct s3 *s = ud;

	pthread_mutex_unlock(&s->locks[data]);
}

char *s3_uri_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = { 0 };

	buf_puts(&b, "");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
			buf_append(&b, &c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_append(&b, e, 3);
		}
	}
	return b.data;
}

int s3_parse_url(const char *url, char **bucket, char **prefix)
{
	if (strncmp(url, "s3://", 5) != 0 || url[5] == '\0' || url[5] == '/')
		return -EINVAL;
	const char *b = url + 5, *slash = strchr(b, '/');
	*bucket = slash ? xasprintf("%.*s", (int)(slash - b), b) : xstrdup(b);
	*prefix = xstrdup(slash ? slash + 1 : "");
	return 0;
}

int s3_new(const struct s3_conf *c, const char *bucket, struct s3 **out, char *err, size_t errlen)
{
	const char *region = c->region && c->region[0] ? c->region : "us-east-1";
	const char *ep = c->endpoint && c->endpoint[0] ? c->endpoint : NULL;

	if (bucket == NULL || bucket[0] == '\0' || strpbrk(bucket, "/?#% ") != NULL) {
		seterr(err, errlen, "S3: bad bucket name");
		return -EINVAL;
	}
	if (c->access_key_id == NULL || c->access_key_id[0] == '\0' ||
	    c->secret_access_key == NULL || c->secret_access_key[0] == '\0') {
		seterr(err, errlen, "S3 bucket %s: no credentials (access key id and secret "
		       "access key: in the datasource, or \"s3\" in winnowd's config)", bucket);
		return -EINVAL;
	}
	if (strchr(region, ':') != NULL || strchr(c->access_key_id, ':') != NULL) {
		seterr(err, errlen, "S3: a region or access key id cannot hold ':'");
		return -EINVAL;
	}
	pthread_once(&curl_once, curl_init_once);

	struct s3 *s = xcalloc(1, sizeof(*s));
	char *base = ep ? xstrdup(ep) : xasprintf("https://s3.%s.amazonaws.com", region);
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		base[--bl] = '\0';
	char *sep = strstr(base, "://");
	if (sep == NULL || sep[3] == '\0' || strchr(sep + 3, '/') != NULL ||
	    (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)) {
		seterr(err, errlen, "S3 endpoint %s: not http(s)://host[:port]", base);
		free(base);
		free(s);
		return -EINVAL;
	}
	s->base = base;
	s->scheme = xasprintf("%.*s", (int)(sep - base), base);
	s->hostport = xstrdup(sep + 3);
	s->path_style = c->path_style >= 0 ? c->path_style != 0 : ep != NULL;
	s->bucket = xstrdup(bucket);
	s->sigv4 = xasprintf("aws:amz:%s:s3", region);
	s->userpwd = xasprintf("%s:%s", c->access_key_id, c->secret_access_key);
	s->headers = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
	if (s->headers == NULL)
		fatalx("out of memory");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	s->share = curl_share_init();
	if (s->share == NULL ||
	    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock_cb) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
		fatalx("curl_share_init failed");
	*out = s;
	return 0;
}

void s3_free(struct s3 *s)
{
	if (s == NULL)
		return;
	curl_share_cleanup(s->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->locks[i]);
	curl_slist_free_all(s->headers);
	free_secret(s->userpwd);
	free(s->base);
	free(s->scheme);
	free(s->hostport);
	free(s->bucket);
	free(s->sigv4);
	free(s);
}

/* The URL of a key (key NULL: the bucket) with an encoded, sorted query (or NULL). */
static char *make_url(const struct s3 *s, const char *key, const char *query)
{
	char *ek = s3_uri_encode(key ? key : "", true);
	char *url;

	if (s->path_style)
		url = xasprintf("%s/%s%s%s%s%s", s->base, s->bucket, key ? "/" : "", ek,
				query ? "?" : "", query ? query : "");
	else
		url = xasprintf("%s://%s.%s/%s%s%s", s->scheme, s->bucket, s->hostport, ek,
				query ? "?" : "", query ? query : "");
	free(ek);
	return url;
}

/* ---- one request --------------------------------------------------------- */

struct req {
	CURL *e;
	struct buf body;
	size_t max;
	const char *range;	/* "first-last" of a ranged GET, or NULL */
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t n = size * nmemb;

	if (r->body.len + n > r->max) {
		r->too_big = true;
		return 0;	/* aborts the transfer with CURLE_WRITE_ERROR */
	}
	buf_append(&r->body, p, n);
	return n;
}

static void req_setup(struct s3 *s, struct req *r, const char *url, size_t max)
{
	buf_free(&r->body);
	r->max = max;
	r->too_big = false;
	r->errbuf[0] = '\0';
	if (r->e == NULL && (r->e = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	else
		curl_easy_reset(r->e);
	CURL *e = r->e;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s->sigv4) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERPWD, s->userpwd) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    /* A transfer slower than 1 byte/s for 60 s is stuck. */
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SHARE, s->share) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    (r->range != NULL && curl_easy_setopt(e, CURLOPT_RANGE, r->range) != CURLE_OK))
		fatalx("curl_easy_setopt failed");
}

/* S3's <Error><Code>..</Code><Message>..</Message></Error>. */
struct xml_err {
	int depth;
	int field;	/* 1 Code, 2 Message */
	struct buf code, msg;
};

static void XMLCALL err_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_err *x = ud;

	x->depth++;
	x->field = x->depth == 2 ? (strcmp(name, "Code") == 0 ? 1 : strcmp(name, "Message") == 0 ? 2 : 0) : 0;
}

static void XMLCALL err_end(void *ud, const XML_Char *name)
{
	struct xml_err *x = ud;

	x->depth--;
	x->field = 0;
}

static void XMLCALL err_text(void *ud, const XML_Char *s, int len)
{
	struct xml_err *x = ud;

	if (x->field == 1 && x->code.len < 128)
		buf_append(&x->code, s, (size_t)len);
	else if (x->field == 2 && x->msg.len < 512)
		buf_append(&x->msg, s, (size_t)len);
}

static void parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
			size_t msglen)
{
	struct xml_err x = { 0 };
	XML_Parser p = XML_ParserCreate(NULL);

	code[0] = msg[0] = '\0';
	if (p == NULL)
		fatalx("out of memory");
	XML_SetUserData(p, &x);
	XML_SetElementHandler(p, err_start, err_end);
	XML_SetCharacterDataHandler(p, err_text);
	if (len > 0)
		(void)XML_Parse(p, body, (int)(len > 65536 ? 65536 : len), 1);
	XML_ParserFree(p);
	snprintf(code, codelen, "%s", x.code.data ? x.code.data : "");
	snprintf(msg, msglen, "%s", x.msg.data ? x.msg.data : "");
	/* Keep messages on one printable line. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	for (char *c = code; *c; c++)
		if ((unsigned char)*c <= 0x20)
			*c = '?';
	buf_free(&x.code);
	buf_free(&x.msg);
}

enum outcome { OK, RETRY, FAIL };

/*
 * Judges a finished request: OK; RETRY (transient, with the would-be error
 * filled in, for when the attempts run out); FAIL with rc and err.
 */
static enum outcome judge(const struct s3 *s, struct req *r, CURLcode cc, const char *what,
			  int *rc, char *err, size_t errlen)
{
	long status = 0;

	if (cc == CURLE_WRITE_ERROR && r->too_big) {
		*rc = -EFBIG;
		seterr(err, errlen, "%s: larger than %zu bytes", what, r->max);
		return FAIL;
	}
	if (cc != CURLE_OK) {
		const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
		switch (cc) {
		case CURLE_COULDNT_CONNECT: {
			long oserr = 0;
			if (curl_easy_getinfo(r->e, CURLINFO_OS_ERRNO, &oserr) != CURLE_OK)
				oserr = 0;
			*rc = oserr == ECONNREFUSED ? -ECONNREFUSED : -EHOSTUNREACH;
			if (oserr != 0)
				why = strerror((int)oserr);
			seterr(err, errlen, "cannot connect to the S3 endpoint %s: %s", s->base, why);
			return RETRY;
		}
		case CURLE_COULDNT_RESOLVE_HOST:
			*rc = -EHOSTUNREACH;
			seterr(err, errlen, "cannot reach the S3 endpoint %s: %s", s->base, why);
			return FAIL;
		case CURLE_OPERATION_TIMEDOUT:
			*rc = -ETIMEDOUT;
			seterr(err, errlen, "S3 endpoint %s: %s: %s", s->base, what, why);
			return RETRY;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
			*rc = -EHOSTUNREACH;
			seterr(err, errlen, "S3 endpoint %s: TLS: %s", s->base, why);
			return FAIL;
		default:
			*rc = -EIO;
			seterr(err, errlen, "S3 endpoint %s: %s: %s", s->base, what, why);
			return RETRY;
		}
	}
	if (curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status >= 200 && status < 300)
		return OK;

	char code[160], msg[520];
	parse_error(r->body.data, r->body.len, code, sizeof(code), msg, sizeof(msg));
	if (code[0] == '\0')
		snprintf(code, sizeof(code), "HTTP %ld", status);
	if (strcmp(code, "NoSuchBucket") == 0) {
		*rc = -ENOENT;
		seterr(err, errlen, "S3 bucket \"%s\" does not exist at %s (NoSuchBucket)",
		       s->bucket, s->base);
		return FAIL;
	}
	if (strcmp(code, "NoSuchKey") == 0 || status == 404) {
		*rc = -ENOENT;
		seterr(err, errlen, "%s: no such object (%s)", what, code);
		return FAIL;
	}
	if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "InvalidAccessKeyId") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0 || status == 401 || status == 403) {
		*rc = -EACCES;
		seterr(err, errlen, "S3 bucket \"%s\" at %s: access denied (%s%s%s): check the "
		       "access key id, the secret access key and the region", s->bucket, s->base,
		       code, msg[0] ? ": " : "", msg);
		return FAIL;
	}
	*rc = -EIO;
	seterr(err, errlen, "S3 bucket \"%s\" at %s: %s: %s%s%s", s->bucket, s->base, what, code,
	       msg[0] ? ": " : "", msg);
	if (status >= 500 || status == 429 || strcmp(code, "SlowDown") == 0 ||
	    strcmp(code, "Throttling") == 0 || strcmp(code, "RequestTimeout") == 0)
		return RETRY;
	return FAIL;
}

/* Backoff before attempt n (1, 2, ...): 100 ms doubling, with jitter, at most 5 s. */
static double backoff(int attempt)
{
	return backoff_delay(attempt - 1, 0.1, 5);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One GET with retries; the body stays in r->body. */
static int request(struct s3 *s, struct req *r, const char *url, size_t max, const char *what,
		   char *err, size_t errlen)
{
	int rc = 0;

	for (int attempt = 1;; attempt++) {
		req_setup(s, r, url, max);
		CURLcode cc = curl_easy_perform(r->e);
		enum outcome o = judge(s, r, cc, what, &rc, err, errlen);
		if (o == OK)
			return 0;
		if (o == FAIL || attempt >= MAX_ATTEMPTS)
			return rc;
		sleep_s(backoff(attempt));
	}
}

int s3_get(struct s3 *s, const char *key, size_t max_bytes, uint8_t **out, size_t *len,
	   char *err, size_t errlen)
{
	struct req r = { 0 };
	char *url = make_url(s, key, NULL);
	char *what = xasprintf("GET %s", key);
	int rc = request(s, &r, url, max_bytes, what, err, errlen);

	free(url);
	free(what);
	curl_easy_cleanup(r.e);
	if (rc < 0) {
		buf_free(&r.body);
		return rc;
	}
	if (r.body.data == NULL)
		buf_puts(&r.body, "");
	*out = (uint8_t *)r.body.data;
	*len = r.body.len;
	return 0;
}

int s3_get_range(struct s3 *s, const char *key, uint64_t off, size_t n, uint8_t *dst, size_t *got,
		 char *err, size_t errlen)
{
	char range[64];
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + (n ? n : 1) - 1));
	struct req r = { .range = range };
	char *url = make_url(s, key, NULL);
	char *what = xasprintf("GET %s (bytes %s)", key, range);
	/* A server that ignores Range sends more than n bytes: -EFBIG, never an overrun. */
	int rc = request(s, &r, url, n, what, err, errlen);

	free(url);
	free(what);
	curl_easy_cleanup(r.e);
	if (rc == 0) {
		memcpy(dst, r.body.data, r.body.len);
		*got = r.body.len;
	}
	buf_free(&r.body);
	return rc;
}

int s3_head(struct s3 *s, const char *key, uint64_t *size, int64_t *mtime, char *err,
	    size_t errlen)
{
	struct req r = { 0 };
	char *url = make_url(s, key, NULL);
	char *what = xasprintf("HEAD %s", key);
	int rc = 0;

	for (int attempt = 1;; attempt++) {
		req_setup(s, &r, url, 1 << 20);
		if (curl_easy_setopt(r.e, CURLOPT_NOBODY, 1L) != CURLE_OK ||
		    curl_easy_setopt(r.e, CURLOPT_FILETIME, 1L) != CURLE_OK)
			fatalx("curl_easy_setopt failed");
		CURLcode cc = curl_easy_perform(r.e);
		enum outcome o = judge(s, &r, cc, what, &rc, err, errlen);
		if (o == OK) {
			curl_off_t cl = -1, ft = -1;
			if (curl_easy_getinfo(r.e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
				cl = -1;
			if (curl_easy_getinfo(r.e, CURLINFO_FILETIME_T, &ft) != CURLE_OK)
				ft = -1;
			*size = cl > 0 ? (uint64_t)cl : 0;
			*mtime = ft > 0 ? (int64_t)ft : 0;
			rc = 0;
			break;
		}
		if (o == FAIL || attempt >= MAX_ATTEMPTS)
			break;
		sleep_s(backoff(attempt));
	}
	free(url);
	free(what);
	buf_free(&r.body);
	curl_easy_cleanup(r.e);
	return rc;
}

/* ---- listing ------------------------------------------------------------- */

struct xml_list {
	int depth;
	bool in_contents;
	int field;	/* 1 Key, 2 Size, 3 LastModified, 4 ETag, 5 IsTruncated, 6 NextContinuationToken */
	struct buf text;
	struct buf key, etag;
	uint64_t size;
	int64_t mtime;
	bool truncated;
	char *next_token;
	struct s3_object *objs;
	size_t n, cap;
	bool bad;
};

static void XMLCALL list_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_list *x = ud;

	x->depth++;
	x->field = 0;
	buf_free(&x->text);
	if (x->depth == 2 && strcmp(name, "Contents") == 0) {
		x->in_contents = true;
		buf_free(&x->key);
		buf_free(&x->etag);
		x->size = 0;
		x->mtime = 0;
	} else if (x->depth == 3 && x->in_contents) {
		x->field = strcmp(name, "Key") == 0 ? 1 : strcmp(name, "Size") == 0 ? 2
			: strcmp(name, "LastModified") == 0 ? 3 : strcmp(name, "ETag") == 0 ? 4 : 0;
	} else if (x->depth == 2) {
		x->field = strcmp(name, "IsTruncated") == 0 ? 5
			: strcmp(name, "NextContinuationToken") == 0 ? 6 : 0;
	}
}

static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };

	if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				&tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void XMLCALL list_end(void *ud, const XML_Char *name)
{
	struct xml_list *x = ud;
	const char *t = x->text.data ? x->text.data : "";

	switch (x->field) {
	case 1: buf_puts(&x->key, t); break;
	case 2: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(t, &end, 10);
		if (errno != 0 || end == t || *end != '\0')
			x->bad = true;
		x->size = v;
		break;
	}
	case 3: x->mtime = parse_time(t); break;
	case 4: buf_puts(&x->etag, t); break;
	case 5: x->truncated = strcmp(t, "true") == 0; break;
	case 6: free(x->next_token); x->next_token = xstrdup(t); break;
	default: break;
	}
	x->field = 0;
	buf_free(&x->text);
	if (x->depth == 2 && x->in_contents) {
		x->in_contents = false;
		if (x->key.data == NULL) {
			x->bad = true;
		} else {
			if (x->n == x->cap) {
				x->cap = x->cap ? x->cap * 2 : 1024;
				x->objs = xreallocarray(x->objs, x->cap, sizeof(*x->objs));
			}
			struct s3_object *o = &x->objs[x->n++];
			o->key = xstrdup(x->key.data);
			o->size = x->size;
			o->mtime = x->mtime;
			o->etag = x->etag.data ? xstrdup(x->etag.data) : NULL;
		}
	}
	x->depth--;
}

static void XMLCALL list_text(void *ud, const XML_Char *s, int len)
{
	struct xml_list *x = ud;

	if (x->field != 0)
		buf_append(&x->text, s, (size_t)len);
}

void s3_objects_free(struct s3_object *objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(objs[i].key);
		free(objs[i].etag);
	}
	free(objs);
}

int s3_list(struct s3 *s, const char *prefix, struct s3_object **objs, size_t *n,
	    size_t *requests, char *err, size_t errlen)
{
	struct xml_list x = { 0 };
	struct req r = { 0 };
	char *token = NULL;
	size_t calls = 0;
	int rc = 0;

	for (;;) {
		/* Sorted by name, values encoded: curl 7.88 signs the query as sent. */
		struct buf q = { 0 };
		if (token != NULL) {
			char *et = s3_uri_encode(token, false);
			buf_printf(&q, "continuation-token=%s&", et);
			free(et);
		}
		buf_puts(&q, "list-type=2");
		if (prefix != NULL && prefix[0] != '\0') {
			char *ep = s3_uri_encode(prefix, false);
			buf_printf(&q, "&prefix=%s", ep);
			free(ep);
		}
		char *url = make_url(s, NULL, q.data);
		buf_free(&q);
		rc = request(s, &r, url, LIST_MAX_BYTES, "ListObjectsV2", err, errlen);
		free(url);
		calls++;
		if (rc < 0)
			break;

		XML_Parser p = XML_ParserCreate(NULL);
		if (p == NULL)
			fatalx("out of memory");
		x.truncated = false;
		x.depth = 0;
		free(x.next_token);
		x.next_token = NULL;
		XML_SetUserData(p, &x);
		XML_SetElementHandler(p, list_start, list_end);
		XML_SetCharacterDataHandler(p, list_text);
		enum XML_Status xs = XML_Parse(p, r.body.data ? r.body.data : "", (int)r.body.len, 1);
		if (xs != XML_STATUS_OK || x.bad) {
			seterr(err, errlen, "S3 bucket \"%s\" at %s: ListObjectsV2: unreadable reply (%s)",
			       s->bucket, s->base, xs != XML_STATUS_OK
			       ? XML_ErrorString(XML_GetErrorCode(p)) : "bad Contents");
			XML_ParserFree(p);
			rc = -EIO;
			break;
		}
		XML_ParserFree(p);
		if (!x.truncated)
			break;
		if (x.next_token == NULL || x.next_token[0] == '\0' ||
		    (token != NULL && strcmp(token, x.next_token) == 0)) {
			seterr(err, errlen, "S3 bucket \"%s\" at %s: ListObjectsV2: truncated listing "
			       "without a new continuation token", s->bucket, s->base);
			rc = -EIO;
			break;
		}
		free(token);
		token = x.next_token;
		x.next_token = NULL;
	}
	free(token);
	free(x.next_token);
	buf_free(&x.text);
	buf_free(&x.key);
	buf_free(&x.etag);
	buf_free(&r.body);
	curl_easy_cleanup(r.e);
	if (requests != NULL)
		*requests = calls;
	if (rc < 0) {
		s3_objects_free(x.objs, x.n);
		return rc;
	}
	*objs = x.objs;
	*n = x.n;
	return 0;
}

/* ---- many GETs at once --------------------------------------------------- */

struct slot {
	struct req r;
	size_t idx;
	int attempt;
	bool busy;
	size_t expect;	/* expected size, counted against the buffer bound */
};

struct retry {
	size_t idx;
	int attempt;
	double due;
};

static size_t expected(const struct s3_many_opts *o, size_t i)
{
	return o->sizes != NULL ? (size_t)o->sizes[i] : 0;
}

int s3_get_many(struct s3 *s, char *const *keys, size_t n, const struct s3_many_opts *opts,
		s3_got_cb got, void *ud)
{
	struct s3_many_opts o = *opts;
	if (o.max_inflight <= 0)
		o.max_inflight = 16;
	if (o.max_buffered == 0)
		o.max_buffered = (size_t)64 << 20;
	if (o.max_object == 0)
		o.max_object = DEFAULT_MAX_OBJECT;

	CURLM *m = curl_multi_init();
	if (m == NULL)
		fatalx("curl_multi_init failed");
	struct slot *slots = xcalloc((size_t)o.max_inflight, sizeof(*slots));
	struct retry *retries = xcalloc(n ? n : 1, sizeof(*retries));
	size_t nretries = 0, next = 0, delivered = 0, inflight_bytes = 0;
	int running = 0, busy = 0, rc = 0;
	char err[1024];

	while (delivered < n) {
		if (o.cancel != NULL && *o.cancel) {
			rc = -ECANCELED;
			break;
		}
		double now = now_seconds(), wait = 0.05;
		/* Start what may start: due retries first, then the next keys in order. */
		for (int k = 0; k < o.max_inflight && busy < o.max_inflight; k++) {
			if (slots[k].busy)
				continue;
			size_t idx = SIZE_MAX;
			int attempt = 1;
			for (size_t j = 0; j < nretries; j++) {
				if (retries[j].due <= now) {
					idx = retries[j].idx;
					attempt = retries[j].attempt;
					retries[j] = retries[--nretries];
					break;
				}
				if (retries[j].due - now < wait)
					wait = retries[j].due - now;
			}
			if (idx == SIZE_MAX && next < n) {
				size_t held = o.held != NULL ? atomic_load(o.held) : 0;
				size_t want = expected(&o, next);
				if ((held > 0 || busy > 0) && held + inflight_bytes + want > o.max_buffered) {
					/* The consumer frees room first; its frees wake no poll. */
					wait = 0.005;
					break;
				}
				idx = next++;
			}
			if (idx == SIZE_MAX)
				break;
			struct slot *sl = &slots[k];
			char *url = make_url(s, keys[idx], NULL);
			req_setup(s, &sl->r, url, o.max_object);
			free(url);
			sl->idx = idx;
			sl->attempt = attempt;
			sl->busy = true;
			sl->expect = expected(&o, idx);
			inflight_bytes += sl->expect;
			if (curl_easy_setopt(sl->r.e, CURLOPT_PRIVATE, sl) != CURLE_OK ||
			    curl_multi_add_handle(m, sl->r.e) != CURLM_OK)
				fatalx("curl_multi_add_handle failed");
			busy++;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK)
			fatalx("curl_multi_perform failed");
		CURLMsg *msg;
		int left;
		bool freed = false;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *sl = NULL;
			CURLcode cc = msg->data.result;
			if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl) != CURLE_OK ||
			    sl == NULL)
				fatalx("curl_easy_getinfo failed");
			if (curl_multi_remove_handle(m, sl->r.e) != CURLM_OK)
				fatalx("curl_multi_remove_handle failed");
			sl->busy = false;
			freed = true;
			busy--;
			inflight_bytes -= sl->expect;
			int rrc = 0;
			char *what = xasprintf("GET %s", keys[sl->idx]);
			enum outcome oc = judge(s, &sl->r, cc, what, &rrc, err, sizeof(err));
			free(what);
			if (oc == RETRY && sl->attempt < MAX_ATTEMPTS) {
				retries[nretries].idx = sl->idx;
				retries[nretries].attempt = sl->attempt + 1;
				retries[nretries].due = now_seconds() + backoff(sl->attempt);
				nretries++;
				buf_free(&sl->r.body);
				continue;
			}
			delivered++;
			if (oc == OK) {
				struct buf *b = &sl->r.body;
				if (b->data == NULL)
					buf_puts(b, "");
				if (o.held != NULL)
					atomic_fetch_add(o.held, b->len);
				got(ud, sl->idx, 0, (uint8_t *)b->data, b->len, NULL);
				memset(b, 0, sizeof(*b));
			} else {
				buf_free(&sl->r.body);
				got(ud, sl->idx, rrc, NULL, 0, err);
			}
		}
		/* A freed slot starts its next request now, not after a poll timeout. */
		if (delivered < n && !freed) {
			int ms = (int)(wait * 1000);
			if (curl_multi_poll(m, NULL, 0, ms < 1 ? 1 : ms, NULL) != CURLM_OK)
				fatalx("curl_multi_poll failed");
		}
	}
	for (int k = 0; k < o.max_inflight; k++) {
		if (slots[k].busy)
			(void)curl_multi_remove_handle(m, slots[k].r.e);
		curl_easy_cleanup(slots[k].r.e);
		buf_free(&slots[k].r.body);
	}
	free(slots);
	free(retries);
	curl_multi_cleanup(m);
	return rc;
}

bool s3_transient(int rc)
{
	return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -EIO;
}
